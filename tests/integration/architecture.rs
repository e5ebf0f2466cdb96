//! The crate's layers, written down once, and a check that the code keeps to them.
//!
//! Data flows one way, `io -> knn -> graph -> infomap -> labels/report`, and so do the imports:
//! every module of `src/` may use only modules of *lower* layers (never its own layer's other
//! modules, so no two modules can reach each other), and `src/infomap/` may use nothing of the
//! crate but itself and the small utilities in [`INFOMAP_MAY_USE`]: it knows networks, not faces,
//! and must serve any link list. The check reads every `crate::...` path in the non-test code of
//! `src/` (`use` lines, grouped imports and inline paths alike; comments and test modules aside)
//! and fails on any path that goes up or sideways, or names a module missing from [`LAYERS`].

use std::collections::BTreeMap;
use std::path::Path;

/// The library's modules, layer by layer, bottom first. The binary (`main.rs`, `cli.rs`,
/// `convert.rs`, `commands.rs`, `term.rs`) sits above them all and uses the library by name.
const LAYERS: &[&[&str]] = &[
    &["error", "rng", "buckets", "progress", "blas"],
    &["infomap", "gpu"],
    &["config"],
    &["features", "metrics", "measure"],
    &["io"],
    &["knn", "synth"],
    &["graph", "threshold"],
    &["edges"],
    &["labels", "state"],
    &["cluster"],
    &["report"],
    &["pipeline", "update"],
    &["sweep"],
];

/// What `src/infomap/` may use besides itself.
const INFOMAP_MAY_USE: &[&str] = &["rng", "buckets"];

/// What `src/gpu/` may use besides itself: nothing. Like Infomap, the GPU search knows rows of
/// numbers, not faces, files or faiss.
const GPU_MAY_USE: &[&str] = &[];

/// Files of the binary crate: they use the library through `face_cluster::`, and their
/// `crate::` paths name each other.
const BINARY: &[&str] = &["main", "cli", "convert", "commands", "term"];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The code of a source file that the layers govern: comments blanked out, and the inline test
/// module (`#[cfg(test)]`, maybe more attributes, then `mod tests {`, at the end of the file as
/// is the custom here) cut off.
fn governed_code(source: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut code = String::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed == "#[cfg(test)]" {
            // Attributes may stand between the `cfg` and the module.
            let item = lines[i + 1..].iter().map(|l| l.trim_start()).find(|l| !l.starts_with("#["));
            if item.is_some_and(|l| l.starts_with("mod tests {") || l.starts_with("pub(crate) mod tests {")) {
                break;
            }
        }
        let without_comment = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(without_comment);
        code.push('\n');
    }
    code
}

/// The top-level modules that the `crate::` paths of `code` name.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        // `face_cluster::` is not `crate::`; `$crate::` in macros would be.
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // A grouped import: the first segment of each item at depth 1.
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    names.push(first_segment(&item));
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
        } else {
            names.push(first_segment(rest));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

fn first_segment(path: &str) -> String {
    path.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The layer violations of one file of module `module` (its top-level module) whose source is
/// `source`: one line per offending path.
fn violations(module: &str, file: &str, source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Some(own) = layer_of(module) else {
        return vec![format!("{file}: module `{module}` is in no layer of LAYERS")];
    };
    for name in crate_paths(&governed_code(source)) {
        if name == module || name == "self" {
            continue;
        }
        if module == "infomap" && !INFOMAP_MAY_USE.contains(&name.as_str()) {
            found.push(format!("{file}: infomap uses crate::{name} (it may use only {INFOMAP_MAY_USE:?})"));
            continue;
        }
        if module == "gpu" && !GPU_MAY_USE.contains(&name.as_str()) {
            found.push(format!("{file}: gpu uses crate::{name} (it may use only {GPU_MAY_USE:?})"));
            continue;
        }
        match layer_of(&name) {
            None => found.push(format!("{file}: uses crate::{name}, which is in no layer of LAYERS")),
            Some(layer) if layer >= own => found.push(format!(
                "{file}: `{module}` (layer {own}) uses crate::{name} (layer {layer}): imports must go down"
            )),
            Some(_) => {}
        }
    }
    found
}

/// Every `.rs` file under `dir`, with its path.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_module_imports_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut checked = BTreeMap::new();
    let mut found = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(&src).unwrap();
        let module = relative.components().next().unwrap().as_os_str().to_str().unwrap().trim_end_matches(".rs");
        let name = relative.file_stem().unwrap().to_str().unwrap();
        if module == "lib" || BINARY.contains(&module) || name == "tests" || name == "testing" {
            continue;
        }
        let source = std::fs::read_to_string(path).unwrap();
        found.extend(violations(module, &relative.display().to_string(), &source));
        *checked.entry(module.to_string()).or_insert(0) += 1;
    }
    assert!(found.is_empty(), "layer violations:\n{}", found.join("\n"));
    // Every module of LAYERS exists, so the table stays true.
    for module in LAYERS.iter().flat_map(|layer| layer.iter()) {
        assert!(checked.contains_key(*module), "LAYERS names `{module}`, which src/ does not have");
    }
}

#[test]
fn the_check_catches_imports_that_go_up_or_sideways() {
    // Up: knn (layer 4) using pipeline (layer 10), in each way a path can be written.
    for source in [
        "use crate::pipeline::run;",
        "use crate::{config::K, pipeline::RunOutput};",
        "fn f() { crate::pipeline::run(todo!(), todo!()); }",
        "use crate::{error::{Error, Result}, pipeline};",
    ] {
        let v = violations("knn", "knn/x.rs", source);
        assert_eq!(v.len(), 1, "{source}: {v:?}");
        assert!(v[0].contains("crate::pipeline"), "{v:?}");
    }
    // Sideways: two modules of one layer.
    assert_eq!(violations("graph", "graph.rs", "use crate::threshold::auto_min_sim;").len(), 1);
    // Infomap may use only its utilities, even those below every other layer.
    assert_eq!(violations("infomap", "infomap/flow.rs", "use crate::error::Error;").len(), 1);
    assert!(violations("infomap", "infomap/flow.rs", "use crate::rng::Rng;\nuse crate::infomap::Network;").is_empty());
    // Down is fine; comments, other crates and test modules are not code that counts.
    let fine = "use crate::{error::Result, config::K};\n// see crate::pipeline::run\n\
                use face_cluster::pipeline::run;\n#[cfg(test)]\nmod tests {\n    use crate::pipeline::run;\n}\n";
    assert!(violations("knn", "knn/x.rs", fine).is_empty(), "{:?}", violations("knn", "knn/x.rs", fine));
    // A module the table does not know is an error, so new modules get a layer.
    assert_eq!(violations("cache", "cache/mod.rs", "").len(), 1);
    assert_eq!(violations("knn", "knn/x.rs", "use crate::cache::Store;").len(), 1);
}
