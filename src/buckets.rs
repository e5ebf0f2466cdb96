//! Grouping items by a small integer key, in linear time.

/// Items `0..keys.len()` grouped by key (a counting sort): the members of group `g` are
/// `items[offsets[g]..offsets[g + 1]]`, ascending.
///
/// # Panics
///
/// If a key is `>= groups`.
pub(crate) fn group_by_key(keys: &[u32], groups: usize) -> (Vec<usize>, Vec<u32>) {
    let mut offsets = vec![0usize; groups + 1];
    for &g in keys {
        offsets[g as usize + 1] += 1;
    }
    for g in 0..groups {
        offsets[g + 1] += offsets[g];
    }
    let mut fill = offsets.clone();
    let mut items = vec![0u32; keys.len()];
    for (i, &g) in keys.iter().enumerate() {
        items[fill[g as usize]] = i as u32;
        fill[g as usize] += 1;
    }
    (offsets, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_hold_their_items_in_order() {
        let (offsets, items) = group_by_key(&[2, 0, 2, 1, 0], 4);
        assert_eq!(offsets, [0, 2, 3, 5, 5]);
        assert_eq!(items, [1, 4, 3, 0, 2]);
        assert_eq!(group_by_key(&[], 2), (vec![0, 0, 0], vec![]));
    }
}
