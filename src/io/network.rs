//! Network files for the `infomap` subcommand: link lists in, `.clu` partitions in and out,
//! in the reference Infomap's formats so either tool can read the other's files.
//!
//! Link list: one link per line, `source target [weight]` (weight 1 when absent), ids are
//! non-negative integers, `#` starts a comment line, blank lines are skipped. Pajek-style
//! section lines starting with `*` are accepted: lines under `*Vertices` (`id "name"`) declare
//! nodes, lines under `*Edges`, `*Arcs` or `*Links` are links. Nodes are numbered internally by
//! ascending id, as the reference does.
//!
//! `.clu`: `node_id module_id [flow]` per line, `#` and `*` lines ignored, a repeated node's
//! last line wins.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use super::{is_std_stream, quote};
use crate::error::{Error, Result};
use crate::infomap::{Network, Partition};

/// A link list read from a file: the network over internal indices `0..n` and the external id
/// of each index (ascending).
#[derive(Debug, Clone)]
pub struct LinkList {
    /// External node ids, ascending; index i is internal node i.
    pub ids: Vec<u64>,
    /// The links over internal indices.
    pub network: Network,
}

/// A buffered reader of `path` (`-` = stdin), through [`super::open`]'s checks.
fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    if is_std_stream(path) {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let (file, _) = super::open(path)?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
}

fn parse_id(token: &str, path: &Path, line: usize, what: &str) -> Result<u64> {
    token.parse::<u64>().map_err(|_| {
        Error::format(path, format!("line {line}: {what} {} is not a non-negative integer", quote(token.as_bytes())))
    })
}

/// Reads a link list (see the module docs). `-` reads stdin.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read, [`Error::Format`] naming the line for a
/// malformed line, a negative or non-finite weight, or a file without any node.
pub fn read_link_list(path: &Path) -> Result<LinkList> {
    let reader = open(path)?;
    let mut raw: Vec<(u64, u64, f64)> = Vec::new();
    let mut declared: Vec<u64> = Vec::new();
    let mut in_vertices = false;
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| Error::io(path, e))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(section) = line.strip_prefix('*') {
            in_vertices = section.to_ascii_lowercase().starts_with("vertices");
            continue;
        }
        let mut tokens = line.split_whitespace();
        let first = tokens.next().expect("a trimmed non-empty line has a token");
        if in_vertices {
            declared.push(parse_id(first, path, number, "node id")?);
            continue;
        }
        let source = parse_id(first, path, number, "source")?;
        let target = match tokens.next() {
            Some(t) => parse_id(t, path, number, "target")?,
            None => return Err(Error::format(path, format!("line {number}: expected 'source target [weight]'"))),
        };
        let weight = match tokens.next() {
            None => 1.0,
            Some(w) => match w.parse::<f64>() {
                Ok(w) if w.is_finite() && w >= 0.0 => w,
                _ => {
                    return Err(Error::format(
                        path,
                        format!("line {number}: weight {} is not a finite non-negative number", quote(w.as_bytes())),
                    ))
                }
            },
        };
        raw.push((source, target, weight));
    }
    let mut ids: Vec<u64> = raw.iter().flat_map(|&(s, t, _)| [s, t]).chain(declared).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(Error::format(path, "no links (empty network)"));
    }
    if ids.len() > u32::MAX as usize {
        return Err(Error::format(path, "more than 2^32 - 1 nodes"));
    }
    let index: HashMap<u64, u32> = ids.iter().enumerate().map(|(i, &id)| (id, i as u32)).collect();
    let links: Vec<(u32, u32, f64)> = raw.iter().map(|&(s, t, w)| (index[&s], index[&t], w)).collect();
    let network = Network::from_links(ids.len(), &links);
    Ok(LinkList { ids, network })
}

/// Reads a `.clu` partition of the nodes `ids` (external ids, as [`LinkList::ids`]). Nodes the
/// file does not mention get a module of their own; ids not in `ids` are ignored.
///
/// Returns one module label per node (labels are arbitrary; only equality matters).
///
/// # Errors
///
/// [`Error::Io`] or [`Error::Format`] naming the line.
pub fn read_clu(path: &Path, ids: &[u64]) -> Result<Vec<u32>> {
    let reader = open(path)?;
    let index: HashMap<u64, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let mut module_of: Vec<Option<u64>> = vec![None; ids.len()];
    for (i, line) in reader.lines().enumerate() {
        let number = i + 1;
        let line = line.map_err(|e| Error::io(path, e))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('*') {
            continue;
        }
        let mut tokens = line.split_whitespace();
        let node = parse_id(tokens.next().expect("non-empty line"), path, number, "node id")?;
        let module = match tokens.next() {
            Some(t) => parse_id(t, path, number, "module id")?,
            None => return Err(Error::format(path, format!("line {number}: expected 'node_id module_id [flow]'"))),
        };
        if let Some(&i) = index.get(&node) {
            module_of[i] = Some(module);
        }
    }
    // Dense labels: given modules first, then one fresh module per unmentioned node.
    let mut dense: HashMap<u64, u32> = HashMap::new();
    let mut labels: Vec<u32> = module_of
        .iter()
        .map(|m| match m {
            Some(m) => {
                let next = dense.len() as u32;
                *dense.entry(*m).or_insert(next)
            }
            None => u32::MAX,
        })
        .collect();
    let fresh = dense.len() as u32..;
    for (label, l) in fresh.zip(labels.iter_mut().filter(|l| **l == u32::MAX)) {
        *l = label;
    }
    Ok(labels)
}

/// Writes `partition` of the nodes `ids` in the `.clu` layout of the reference: a comment
/// header with the codelength, then `node_id module flow` rows, modules numbered from 1 by
/// decreasing flow, rows grouped by module and by decreasing flow within a module.
///
/// # Errors
///
/// The writer's error.
pub fn write_clu(out: &mut dyn Write, ids: &[u64], partition: &Partition, header: &str) -> std::io::Result<()> {
    let mut rows: Vec<usize> = (0..ids.len()).collect();
    rows.sort_by(|&a, &b| {
        partition.modules[a]
            .cmp(&partition.modules[b])
            .then(partition.node_flow[b].total_cmp(&partition.node_flow[a]))
            .then(a.cmp(&b))
    });
    for line in header.lines() {
        writeln!(out, "# {line}")?;
    }
    writeln!(out, "# codelength {} bits", partition.codelength)?;
    writeln!(out, "# module level 1")?;
    writeln!(out, "# node_id module flow")?;
    for &i in &rows {
        writeln!(out, "{} {} {}", ids[i], partition.modules[i] + 1, partition.node_flow[i])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infomap::{Infomap, LinkSource};
    use crate::io::AtomicFile;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_links_comments_and_default_weight() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "n.txt", "# comment\n10 20 0.5\n\n20 30\n30 10 2\n");
        let l = read_link_list(&p).unwrap();
        assert_eq!(l.ids, vec![10, 20, 30]);
        let mut links = Vec::new();
        for u in 0..3 {
            l.network.for_each_out_link(u, |v, w| links.push((u, v, w)));
        }
        assert_eq!(links, vec![(0, 1, 0.5), (1, 2, 1.0), (2, 0, 2.0)]);
    }

    #[test]
    fn pajek_vertices_declare_isolated_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "n.net", "*Vertices 3\n1 \"a\"\n2 \"b\"\n3 \"c\"\n*Arcs\n1 2 1\n");
        let l = read_link_list(&p).unwrap();
        assert_eq!(l.ids, vec![1, 2, 3]);
    }

    #[test]
    fn bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "n.txt", "1 2\n3 x\n");
        let e = read_link_list(&p).unwrap_err().to_string();
        assert!(e.contains("n.txt") && e.contains("line 2") && e.contains("target \"x\""), "{e}");
        let p = write(dir.path(), "w.txt", "1 2 -1\n");
        assert!(read_link_list(&p).unwrap_err().to_string().contains("weight \"-1\""));
        let p = write(dir.path(), "e.txt", "# nothing\n");
        assert!(read_link_list(&p).unwrap_err().to_string().contains("empty network"));
        let p = write(dir.path(), "s.txt", "5\n");
        assert!(read_link_list(&p).unwrap_err().to_string().contains("line 1"));
    }

    #[test]
    fn a_directory_is_named_as_such_and_control_characters_are_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_link_list(dir.path()).unwrap_err().to_string();
        assert!(e.ends_with("is a directory, not a file"), "{e}");
        let p = write(dir.path(), "c.txt", "1 2\x1b[31m\n");
        let e = read_link_list(&p).unwrap_err().to_string();
        assert!(e.contains("target \"2\\u{1b}[31m\"") && !e.contains('\x1b'), "{e}");
    }

    #[test]
    fn clu_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "n.txt", "0 1\n1 2\n2 0\n3 4\n4 5\n5 3\n2 3 0.2\n5 0 0.2\n");
        let l = read_link_list(&p).unwrap();
        let partition = Infomap::default().run(&l.network);
        let clu = dir.path().join("out.clu");
        let mut file = AtomicFile::create(&clu).unwrap();
        write_clu(&mut file, &l.ids, &partition, "test").unwrap();
        file.commit().unwrap();
        let text = std::fs::read_to_string(&clu).unwrap();
        assert!(text.contains(&format!("# codelength {} bits", partition.codelength)));
        let labels = read_clu(&clu, &l.ids).unwrap();
        let again = Infomap::default().codelength_of(&l.network, &labels);
        assert!((again.codelength - partition.codelength).abs() < 1e-12);
        assert_eq!(again.modules, partition.modules);
    }

    #[test]
    fn clu_missing_nodes_become_singletons() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "p.clu", "# x\n*Vertices\n10 7\n20 7\n99 1\n");
        let labels = read_clu(&p, &[10, 20, 30, 40]).unwrap();
        assert_eq!(labels[0], labels[1]);
        assert_ne!(labels[2], labels[3]);
        assert_ne!(labels[2], labels[0]);
    }
}
