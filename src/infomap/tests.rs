//! Tests that pin the algorithm to the reference's numbers (spec §9.1) and to known answers.

use super::*;
use crate::rng::Rng;

/// A clustered random graph like a k-NN graph: 6 draws per node, 9 in 10 inside its group of
/// 10; a draw is dropped when it is a self-link or one in `drop_one_in` at random.
pub(super) fn clustered_links(rng: &mut Rng, n: usize, drop_one_in: u64) -> Vec<(u32, u32, f64)> {
    let mut links = Vec::new();
    for u in 0..n as u32 {
        for _ in 0..6 {
            let v = if rng.below(10) < 9 {
                (u / 10 * 10 + rng.below(10) as u32).min(n as u32 - 1)
            } else {
                rng.below(n as u64) as u32
            };
            if v != u && rng.below(drop_one_in) != 0 {
                links.push((u, v, 0.5 + rng.unit_f64()));
            }
        }
    }
    links
}

/// Network G1 of spec §9.1: two directed triangles joined by two weak links.
fn g1() -> Network {
    Network::from_links(
        6,
        &[(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0), (3, 4, 1.0), (4, 5, 1.0), (5, 3, 1.0), (2, 3, 0.2), (5, 0, 0.2)],
    )
}

fn infomap(model: FlowModel) -> Infomap {
    Infomap::new(InfomapConfig { flow_model: model, ..InfomapConfig::default() })
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn g1_directed_flow_and_codelength_match_the_reference() {
    let p = infomap(FlowModel::Directed).codelength_of(&g1(), &[0, 0, 0, 1, 1, 1]);
    let expected = [0.168397716229, 0.166575558795, 0.165026724976];
    for i in 0..6 {
        assert!(close(p.node_flow[i], expected[i % 3], 1e-12), "node {i}: {}", p.node_flow[i]);
    }
    assert!(close(p.codelength, 1.957491323683, 1e-11), "{}", p.codelength);
    assert!(close(p.index_codelength, 0.056132572076, 1e-11), "{}", p.index_codelength);
    assert!(close(p.one_level_codelength, 2.584913222985, 1e-11));
    // The reference stops after 195 iterations; summation order moves the last digits of the
    // error, so the count may differ by a few.
    assert!((190..=200).contains(&p.flow_iterations), "{} iterations", p.flow_iterations);
}

#[test]
fn g1_undirected_codelength_matches_the_reference() {
    let p = infomap(FlowModel::Undirected).codelength_of(&g1(), &[0, 0, 0, 1, 1, 1]);
    assert!(close(p.codelength, 1.988967501363, 1e-11), "{}", p.codelength);
    assert!(close(p.index_codelength, 0.0625, 1e-12));
    assert!(close(p.one_level_codelength, 2.583538232535, 1e-11));
}

#[test]
fn worked_move_example() {
    // Spec §5.2: moving node 2 into the other module raises L to 3.06095885810.
    let p = infomap(FlowModel::Directed).codelength_of(&g1(), &[0, 0, 1, 1, 1, 1]);
    assert!(close(p.codelength, 3.06095885810, 1e-10), "{}", p.codelength);
}

#[test]
fn g1_optimum_is_the_two_triangles() {
    for model in [FlowModel::Directed, FlowModel::Undirected] {
        let p = infomap(model).run(&g1());
        assert_eq!(p.num_modules, 2, "{model:?}");
        assert_eq!(&p.modules[..3], &[p.modules[0]; 3]);
        assert_eq!(&p.modules[3..], &[p.modules[3]; 3]);
        let expected = if model == FlowModel::Directed { 1.957491323683 } else { 1.988967501363 };
        assert!(close(p.codelength, expected, 1e-11), "{model:?}: {}", p.codelength);
    }
}

#[test]
fn one_module_and_singletons_codelengths_by_hand() {
    // Undirected ring of 4 nodes, unit weights: every node has flow 1/4.
    let ring = Network::from_links(4, &[(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 0, 1.0)]);
    let im = infomap(FlowModel::Undirected);
    // One module: L = H(1/4,1/4,1/4,1/4) = 2 bits.
    let one = im.codelength_of(&ring, &[0, 0, 0, 0]);
    assert!(close(one.codelength, 2.0, 1e-12), "{}", one.codelength);
    assert!(close(one.one_level_codelength, 2.0, 1e-12));
    // Singletons: each module has flow 1/4 and exit = enter = 1/4 (both links, half each).
    // Index: 4 x 1/4 enter -> H = 2 bits weighted by q = 1: 1 * 2 = 2.
    // Module codebooks: each module uses exit 1/4 and flow 1/4 over total 1/2: 1/2 * 1 bit each.
    // L = 2 + 4 * 0.5 = 4.
    let singles = im.codelength_of(&ring, &[0, 1, 2, 3]);
    assert!(close(singles.codelength, 4.0, 1e-12), "{}", singles.codelength);
    assert!(close(singles.index_codelength, 2.0, 1e-12));
}

/// `cliques` cliques of `size` nodes, consecutive cliques joined by one undirected link.
fn ring_of_cliques(cliques: usize, size: usize) -> Network {
    let mut links = Vec::new();
    for c in 0..cliques {
        let base = (c * size) as u32;
        for i in 0..size as u32 {
            for j in 0..size as u32 {
                if i != j {
                    links.push((base + i, base + j, 1.0));
                }
            }
        }
        let next = (((c + 1) % cliques) * size) as u32;
        links.push((base + size as u32 - 1, next, 1.0));
        links.push((next, base + size as u32 - 1, 1.0));
    }
    Network::from_links(cliques * size, &links)
}

#[test]
fn ring_of_cliques_gives_one_module_per_clique() {
    for model in [FlowModel::Directed, FlowModel::Undirected] {
        for seed in [1, 2, 3] {
            let cfg = InfomapConfig { flow_model: model, seed, ..InfomapConfig::default() };
            let p = Infomap::new(cfg).run(&ring_of_cliques(12, 5));
            assert_eq!(p.num_modules, 12, "{model:?} seed {seed}");
            for c in 0..12 {
                let m = p.modules[c * 5];
                assert!(p.modules[c * 5..c * 5 + 5].iter().all(|&x| x == m));
            }
        }
    }
}

#[test]
fn two_cliques_joined_by_one_link() {
    let mut links = Vec::new();
    for base in [0u32, 6] {
        for i in 0..6 {
            for j in 0..6 {
                if i != j {
                    links.push((base + i, base + j, 1.0));
                }
            }
        }
    }
    links.push((5, 6, 1.0));
    let p = infomap(FlowModel::Directed).run(&Network::from_links(12, &links));
    assert_eq!(p.num_modules, 2);
    assert!(p.modules[..6].iter().all(|&m| m == p.modules[0]));
    assert!(p.modules[6..].iter().all(|&m| m == p.modules[6]));
}

#[test]
fn isolated_nodes_stay_alone_and_flows_sum_to_one() {
    // Nodes 6 and 7 have no links at all.
    let mut links: Vec<(u32, u32, f64)> = Vec::new();
    for &(a, b) in &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 5), (5, 3)] {
        links.push((a, b, 1.0));
    }
    links.push((2, 3, 0.1));
    let net = Network::from_links(8, &links);
    for model in [FlowModel::Directed, FlowModel::Undirected] {
        let p = infomap(model).run(&net);
        let total: f64 = p.node_flow.iter().sum();
        assert!(close(total, 1.0, 1e-12), "{model:?}: {total}");
        assert_eq!(p.node_flow[6], 0.0);
        let m6 = p.modules[6];
        let m7 = p.modules[7];
        assert_ne!(m6, m7);
        assert_eq!(p.modules.iter().filter(|&&m| m == m6).count(), 1);
        assert!(p.codelength <= p.one_level_codelength + 1e-12);
    }
}

#[test]
fn dangling_nodes_keep_their_in_flow() {
    // Node 3 has in-links only (dangling in the flow calculation).
    let net = Network::from_links(4, &[(0, 1, 1.0), (1, 0, 1.0), (1, 2, 1.0), (2, 3, 1.0)]);
    let p = infomap(FlowModel::Directed).codelength_of(&net, &[0, 1, 2, 3]);
    assert!(p.node_flow[3] > 0.0);
    assert!(close(p.node_flow.iter().sum::<f64>(), 1.0, 1e-12));
}

#[test]
fn empty_and_linkless_networks() {
    let p = Infomap::default().run(&Network::from_links(0, &[]));
    assert_eq!(p.num_modules, 0);
    let p = Infomap::default().run(&Network::from_links(3, &[]));
    assert_eq!(p.num_modules, 3);
    assert_eq!(p.codelength, 0.0);
}

#[test]
fn trials_keep_the_best_and_results_do_not_depend_on_threads() {
    let net = ring_of_cliques(30, 4);
    let cfg = InfomapConfig { trials: 4, seed: 7, ..InfomapConfig::default() };
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| Infomap::new(cfg.clone()).run(&net))
    };
    let one = run(1);
    let two = run(2);
    assert_eq!(one.modules, two.modules);
    assert_eq!(one.codelength.to_bits(), two.codelength.to_bits());
    assert_eq!(one.node_flow, two.node_flow);
    assert_eq!(one.trial_codelengths, two.trial_codelengths);
    let best = one.trial_codelengths.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(close(one.codelength, best, 1e-10));
}
