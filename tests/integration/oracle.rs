//! Codelength oracle: our map equation on given partitions equals the reference Infomap's.
//!
//! The networks, partitions and reference values in `tests/data/oracle/` were produced once by
//! `bench/compare/codelength_oracle.py` with PyPI infomap 2.16.0 (`--two-level --no-infomap`
//! with the partition as the initial one); rerun that script to re-derive them.

use std::path::Path;

use face_cluster::infomap::{FlowModel, Infomap, InfomapConfig};
use face_cluster::io::network::{read_clu, read_link_list};

#[test]
fn codelengths_of_given_partitions_match_the_reference() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/oracle");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let cases = expected["cases"].as_array().unwrap();
    assert!(cases.len() >= 30, "the oracle covers at least 30 cases");
    let mut worst = 0f64;
    for case in cases {
        let net = read_link_list(&dir.join(case["network"].as_str().unwrap())).unwrap();
        let partition = read_clu(&dir.join(case["partition"].as_str().unwrap()), &net.ids).unwrap();
        let model = match case["model"].as_str().unwrap() {
            "directed" => FlowModel::Directed,
            _ => FlowModel::Undirected,
        };
        let ours = Infomap::new(InfomapConfig { flow_model: model, ..Default::default() })
            .codelength_of(&net.network, &partition);
        for (key, got) in [
            ("codelength", ours.codelength),
            ("index", ours.index_codelength),
            ("module", ours.module_codelength),
            ("one_level", ours.one_level_codelength),
        ] {
            let want = case[key].as_f64().unwrap();
            // Parts that are zero in theory (the index codelength of one module) come out as
            // rounding noise on either side: compare those absolutely.
            let rel = if want.abs() > 1e-9 { (got - want).abs() / want.abs() } else { (got - want).abs() };
            worst = worst.max(rel);
            assert!(
                rel <= 1e-6,
                "{} {} {:?} {key}: ours {got}, reference {want}",
                case["network"],
                case["partition"],
                model
            );
        }
    }
    eprintln!("worst relative difference over {} cases: {worst:.2e}", cases.len());
}
