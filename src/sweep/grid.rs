//! The command line's grids: comma-separated items, each a single value or an inclusive
//! range `START:STOP:STEP`.

use crate::config::not_a_similarity;
use crate::config::{Similarity, K};
use crate::error::{Error, Param, Result};

/// The most values one grid axis may hold: a typo such as `0:1:0.0001` fails instead of
/// running for hours.
pub const MAX_GRID_VALUES: usize = 10_000;

/// Reads a `--min-sim` grid that may also hold the item `auto`: the fixed values (as
/// [`parse_min_sims`]) and whether `auto` was among the items.
///
/// # Errors
///
/// As [`parse_min_sims`]; a list of `auto` alone is fine.
pub fn parse_min_sim_grid(spec: &str) -> Result<(Vec<Similarity>, bool)> {
    let items = items(spec, Param::MinSim)?;
    let auto = items.iter().any(|item| item.eq_ignore_ascii_case("auto"));
    let fixed: Vec<&str> = items.into_iter().filter(|item| !item.eq_ignore_ascii_case("auto")).collect();
    if fixed.is_empty() {
        return Ok((Vec::new(), auto));
    }
    Ok((parse_min_sims(&fixed.join(","))?, auto))
}

/// Reads a list of `k` values: comma-separated items, each an integer or an inclusive range
/// `START:STOP:STEP`, e.g. `50,80` or `10:100:10`. Sorted ascending, repeats dropped.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `--k` for an empty list or item, a value that is not a
/// positive integer, a range that is not `START:STOP:STEP` with `START <= STOP` and
/// `STEP >= 1`, and more than [`MAX_GRID_VALUES`] values.
pub fn parse_ks(spec: &str) -> Result<Vec<K>> {
    const NAME: Param = Param::K;
    let number = |text: &str| -> Result<usize> {
        match text.trim().parse::<usize>() {
            Ok(k) if k >= 1 => Ok(k),
            _ => Err(Error::invalid(NAME, format!("'{}' is not a positive integer", text.trim()))),
        }
    };
    let mut values = Vec::new();
    for item in items(spec, NAME)? {
        match range_parts(item, NAME)? {
            None => values.push(number(item)?),
            Some([start, stop, step]) => {
                let (start, stop, step) = (number(start)?, number(stop)?, number(step)?);
                if start > stop {
                    return Err(Error::invalid(NAME, format!("range '{item}' runs backwards (START > STOP)")));
                }
                let count = (stop - start) / step + 1;
                check_count(values.len() + count, NAME)?;
                values.extend((0..count).map(|i| start + i * step));
            }
        }
        check_count(values.len(), NAME)?;
    }
    values.sort_unstable();
    values.dedup();
    Ok(values.into_iter().map(|k| K::new(k).expect("items are at least 1")).collect())
}

/// Reads a list of similarity thresholds: comma-separated items, each a number or an
/// inclusive range `START:STOP:STEP`, e.g. `0.58` or `0.50:0.70:0.02`. The stop value is
/// included when it is on the grid within a millionth of a step; values are rounded to 9
/// decimals, so `0.50:0.70:0.02` gives exactly `0.5, 0.52, ..., 0.7`. Sorted ascending,
/// repeats dropped.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `--min-sim` for an empty list or item, a value that is
/// not a number in `[-1, 1]`, a range that is not `START:STOP:STEP` with `START <= STOP` and
/// `STEP > 0`, and more than [`MAX_GRID_VALUES`] values.
pub fn parse_min_sims(spec: &str) -> Result<Vec<Similarity>> {
    const NAME: Param = Param::MinSim;
    let number = |text: &str| -> Result<f64> {
        match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(Error::invalid(NAME, format!("'{}' is not a number", text.trim()))),
        }
    };
    let mut values: Vec<f64> = Vec::new();
    for item in items(spec, NAME)? {
        match range_parts(item, NAME)? {
            None => values.push(number(item)?),
            Some([start, stop, step]) => {
                let (start, stop, step) = (number(start)?, number(stop)?, number(step)?);
                if step <= 0.0 {
                    return Err(Error::invalid(NAME, format!("range '{item}' has a step that is not positive")));
                }
                if start > stop {
                    return Err(Error::invalid(NAME, format!("range '{item}' runs backwards (START > STOP)")));
                }
                let steps = ((stop - start) / step + 1e-6).floor();
                if steps + 1.0 > MAX_GRID_VALUES as f64 {
                    return Err(too_many(NAME));
                }
                let count = steps as usize + 1;
                check_count(values.len() + count, NAME)?;
                values.extend((0..count).map(|i| ((start + i as f64 * step) * 1e9).round() / 1e9));
            }
        }
        check_count(values.len(), NAME)?;
    }
    if let Some(bad) = values.iter().find(|v| !(-1.0..=1.0).contains(*v)) {
        return Err(not_a_similarity(NAME, bad));
    }
    let mut values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
    values.sort_unstable_by(f32::total_cmp);
    values.dedup();
    // Each value is in [-1, 1] (checked above, and the cast keeps it there).
    Ok(values.into_iter().map(Similarity::clamped).collect())
}

/// The non-empty comma-separated items of `spec`.
fn items(spec: &str, name: Param) -> Result<Vec<&str>> {
    let items: Vec<&str> = spec.split(',').map(str::trim).collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(Error::invalid(name, format!("'{spec}' has an empty item (expected a list such as 1,2 or 1:9:2)")));
    }
    Ok(items)
}

/// `Some([start, stop, step])` for a range item, `None` for a single value.
fn range_parts(item: &str, name: Param) -> Result<Option<[&str; 3]>> {
    if !item.contains(':') {
        return Ok(None);
    }
    match item.split(':').collect::<Vec<_>>()[..] {
        [start, stop, step] => Ok(Some([start, stop, step])),
        _ => Err(Error::invalid(name, format!("range '{item}' is not START:STOP:STEP"))),
    }
}

fn check_count(count: usize, name: Param) -> Result<()> {
    if count > MAX_GRID_VALUES {
        Err(too_many(name))
    } else {
        Ok(())
    }
}

fn too_many(name: Param) -> Error {
    Error::invalid(name, format!("more than {MAX_GRID_VALUES} values"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(spec: &str) -> Vec<usize> {
        parse_ks(spec).unwrap().into_iter().map(K::get).collect()
    }

    fn sims(spec: &str) -> Vec<f32> {
        parse_min_sims(spec).unwrap().into_iter().map(Similarity::get).collect()
    }

    fn invalid_param(e: Error) -> Param {
        match e {
            Error::InvalidParameter { param, .. } => param,
            e => panic!("not an invalid parameter: {e}"),
        }
    }

    #[test]
    fn ks_lists_and_ranges() {
        assert_eq!(ks("50"), [50]);
        assert_eq!(ks("80,50"), [50, 80]);
        assert_eq!(ks(" 10:40:10 , 25"), [10, 20, 25, 30, 40]);
        assert_eq!(ks("10:45:10"), [10, 20, 30, 40]);
        assert_eq!(ks("5:5:1,5"), [5]);
    }

    #[test]
    fn min_sim_ranges_include_the_stop() {
        let v = sims("0.50:0.70:0.02");
        assert_eq!(v.len(), 11);
        assert_eq!(v[0], 0.5);
        assert_eq!(v[4], 0.58);
        assert_eq!(v[10], 0.7);
        let v = sims("0.90:0.97:0.01");
        assert_eq!(v, [0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97]);
        assert_eq!(sims("0.1:0.35:0.1"), [0.1, 0.2, 0.3]);
        assert_eq!(sims("0.6,-0.2,0.6"), [-0.2, 0.6]);
        assert_eq!(sims("0.5:0.5:0.1"), [0.5]);
    }

    #[test]
    fn bad_syntax_names_the_option() {
        for spec in ["", "50,", "a", "0", "-5", "1.5", "10:5:1", "10:20", "1:2:3:4", "10:20:0", "1:100000:1"] {
            assert_eq!(invalid_param(parse_ks(spec).unwrap_err()), Param::K, "{spec:?}");
        }
        for spec in
            ["", ",0.5", "x", "nan", "inf", "0.7:0.5:0.01", "0.5:0.7", "0.5:0.7:0", "0.5:0.7:-0.1", "1.5", "0:1:1e-9"]
        {
            assert_eq!(invalid_param(parse_min_sims(spec).unwrap_err()), Param::MinSim, "{spec:?}");
        }
        let e = parse_min_sims("0.5:0.7").unwrap_err();
        assert_eq!(e.to_string(), "invalid --min-sim: range '0.5:0.7' is not START:STOP:STEP");
        let e = parse_ks("5,x").unwrap_err();
        assert_eq!(e.to_string(), "invalid --k: 'x' is not a positive integer");
        assert_eq!(
            parse_min_sims("2").unwrap_err().to_string(),
            "invalid --min-sim: 2 is not a cosine similarity in [-1, 1]"
        );
    }

    #[test]
    fn min_sim_grids_may_hold_auto() {
        let grid = |spec| {
            parse_min_sim_grid(spec).map(|(v, auto)| (v.into_iter().map(Similarity::get).collect::<Vec<_>>(), auto))
        };
        assert_eq!(grid("0.5,auto").unwrap(), (vec![0.5], true));
        assert_eq!(grid("auto").unwrap(), (vec![], true));
        assert_eq!(grid("0.5:0.6:0.1").unwrap(), (vec![0.5, 0.6], false));
        assert!(grid("auto,").is_err());
        assert!(grid("autox").is_err());
    }
}
