//! Putting levels together (spec §6.5-§6.8): repeated aggregation, fine- and coarse-tune
//! rounds, and one trial of the two-level search as the reference's `partition()` runs it.

use rayon::prelude::*;

use super::codelength::{node_entropy, plogp};
use super::flow::FlowNetwork;
use super::optimize::{Level, Objective, AGGREGATED_LOOP_LIMIT, MOVE_EPS};
use super::InfomapConfig;
use crate::buckets::group_by_key;
use crate::rng::Rng;

/// A two-level partition: the module of every leaf, and the network of those modules.
pub(crate) struct Solution {
    /// Module (index into `modules`) of each leaf.
    pub leaf_module: Vec<u32>,
    /// The modules as super-nodes.
    pub modules: FlowNetwork,
    /// Codelength of this partition, as tracked by the optimiser.
    pub codelength: f64,
}

impl Solution {
    pub(super) fn from_level(level: &Level<'_>, leaf_module: Option<&[u32]>) -> Self {
        let (modules, item_new) = level.consolidate();
        let leaf_module = match leaf_module {
            None => item_new,
            Some(lm) => lm.iter().map(|&i| item_new[i as usize]).collect(),
        };
        Solution { leaf_module, modules, codelength: level.codelength }
    }
}

/// Repeated aggregation (§6.5): optimise, aggregate, optimise the modules as super-nodes,
/// and so on until nothing merges. Starts from the leaves when `start` is `None`.
fn repeated_aggregation(
    leaves: &FlowNetwork,
    start: Option<Solution>,
    cfg: &InfomapConfig,
    objective: Objective,
    freeze: bool,
    rng: &mut Rng,
) -> Solution {
    let (mut solution, mut aggregation_level) = match start {
        Some(s) => (s, 0),
        None => {
            let mut level = Level::new(leaves, cfg, objective, None);
            level.core_loop(cfg.core_loop_limit, freeze, rng);
            (Solution::from_level(&level, None), 1)
        }
    };
    while solution.modules.n() > 1 {
        let limit = if aggregation_level == 0 { cfg.core_loop_limit } else { AGGREGATED_LOOP_LIMIT };
        let mut level = Level::new(&solution.modules, cfg, objective, None);
        level.core_loop(limit, false, rng);
        if level.codelength >= solution.codelength - MOVE_EPS {
            break;
        }
        solution = Solution::from_level(&level, Some(&solution.leaf_module));
        aggregation_level += 1;
    }
    solution
}

/// Fine-tune (§6.6): re-optimise the leaves starting from the current modules.
fn fine_tune(
    leaves: &FlowNetwork,
    solution: &mut Solution,
    cfg: &InfomapConfig,
    objective: Objective,
    rng: &mut Rng,
) -> usize {
    let mut level = Level::new(leaves, cfg, objective, Some(&solution.leaf_module));
    let effective = level.core_loop(cfg.core_loop_limit, false, rng);
    if effective > 0 {
        *solution = Solution::from_level(&level, None);
    }
    effective
}

/// Coarse-tune (§6.7): split every module into submodules by a sub-problem run, then move the
/// submodules between modules.
fn coarse_tune(
    leaves: &FlowNetwork,
    solution: &mut Solution,
    cfg: &InfomapConfig,
    objective: Objective,
    seed: u64,
    rng: &mut Rng,
) -> usize {
    let num_modules = solution.modules.n();
    // Leaves of each module, and each leaf's index within its module.
    let (offsets, module_leaves) = group_by_key(&solution.leaf_module, num_modules);
    let mut local = vec![0u32; leaves.n()];
    for m in 0..num_modules {
        for (j, &leaf) in module_leaves[offsets[m]..offsets[m + 1]].iter().enumerate() {
            local[leaf as usize] = j as u32;
        }
    }

    let submodules: Vec<Vec<u32>> = (0..num_modules)
        .into_par_iter()
        .map(|p| {
            let members = &module_leaves[offsets[p]..offsets[p + 1]];
            if members.len() < 2 {
                return vec![0; members.len()];
            }
            let sub = sub_network(leaves, members, &solution.leaf_module, &local, p as u32);
            let q_parent = solution.modules.exit[p];
            let entropy = node_entropy(&sub.flow);
            let sub_objective = Objective { q_parent, node_entropy: entropy };
            let mut sub_rng = Rng::derive(seed, p as u64);
            let found = repeated_aggregation(&sub, None, cfg, sub_objective, false, &mut sub_rng);
            // §6.9 against the module's own codebook: keep it whole unless splitting pays.
            let flow_p = solution.modules.flow[p];
            let one_level = plogp(flow_p + q_parent) - entropy - plogp(q_parent);
            if found.codelength > one_level && found.modules.n() < members.len() {
                vec![0; members.len()]
            } else {
                found.leaf_module
            }
        })
        .collect();

    // Express the current partition over submodules.
    let mut sub_offset = vec![0u32; num_modules + 1];
    for p in 0..num_modules {
        let count = submodules[p].iter().map(|&s| s + 1).max().unwrap_or(0);
        sub_offset[p + 1] = sub_offset[p] + count;
    }
    let sub_of_leaf: Vec<u32> = (0..leaves.n())
        .map(|leaf| {
            let p = solution.leaf_module[leaf] as usize;
            sub_offset[p] + submodules[p][local[leaf] as usize]
        })
        .collect();
    let leaf_level = Level::new(leaves, cfg, objective, Some(&sub_of_leaf));
    let (sub_net, leaf_sub) = leaf_level.consolidate();
    drop(leaf_level);
    let mut parent = vec![0u32; sub_net.n()];
    for (leaf, &s) in leaf_sub.iter().enumerate() {
        parent[s as usize] = solution.leaf_module[leaf];
    }
    let mut level = Level::new(&sub_net, cfg, objective, Some(&parent));
    let effective = level.core_loop(cfg.core_loop_limit, false, rng);
    *solution = Solution::from_level(&level, Some(&leaf_sub));
    effective
}

/// The network inside module `p`: its leaves (full-network flow, enter and exit) and the links
/// between them, with leaves renumbered by `local`.
fn sub_network(leaves: &FlowNetwork, members: &[u32], leaf_module: &[u32], local: &[u32], p: u32) -> FlowNetwork {
    let mut sub = FlowNetwork {
        flow: Vec::with_capacity(members.len()),
        enter: Vec::with_capacity(members.len()),
        exit: Vec::with_capacity(members.len()),
        offsets: Vec::with_capacity(members.len() + 1),
        ..Default::default()
    };
    sub.offsets.push(0);
    for &leaf in members {
        let leaf = leaf as usize;
        sub.flow.push(leaves.flow[leaf]);
        sub.enter.push(leaves.enter[leaf]);
        sub.exit.push(leaves.exit[leaf]);
        for e in leaves.edges(leaf) {
            let x = leaves.neighbour[e] as usize;
            if leaf_module[x] == p {
                sub.neighbour.push(local[x]);
                sub.out_flow.push(leaves.out_flow[e]);
                sub.in_flow.push(leaves.in_flow[e]);
            }
        }
        sub.offsets.push(sub.neighbour.len());
    }
    sub
}

/// One trial of the two-level search (§6.8) with its own seed. Returns the module of every
/// leaf (dense ids) and the number of modules.
pub(crate) fn run_trial(leaves: &FlowNetwork, cfg: &InfomapConfig, seed: u64) -> (Vec<u32>, usize) {
    let n = leaves.n();
    if n == 0 {
        return (Vec::new(), 0);
    }
    let objective = Objective { q_parent: 0.0, node_entropy: node_entropy(&leaves.flow) };
    let one_level = -objective.node_entropy;
    let mut rng = Rng::new(seed);
    let freeze = cfg.tune_iteration_limit != 1;
    let mut solution = repeated_aggregation(leaves, None, cfg, objective, freeze, &mut rng);

    let mut previous = solution.codelength;
    let mut iteration = 0usize;
    let mut fine = true;
    let mut coarse_tried = false;
    while solution.modules.n() > 1 && iteration + 1 != cfg.tune_iteration_limit {
        iteration += 1;
        let effective = if fine {
            fine_tune(leaves, &mut solution, cfg, objective, &mut rng)
        } else {
            coarse_tried = true;
            coarse_tune(leaves, &mut solution, cfg, objective, seed, &mut rng)
        };
        if effective > 0 {
            solution = repeated_aggregation(leaves, Some(solution), cfg, objective, false, &mut rng);
        }
        let improved = solution.codelength <= previous - cfg.core_loop_codelength_threshold
            && solution.codelength < previous - one_level * cfg.tune_iteration_relative_threshold;
        if !improved && coarse_tried {
            break;
        }
        if improved {
            previous = solution.codelength;
        }
        fine = !fine;
    }

    let count = solution.modules.n();
    // §6.9: one module beats a worse non-trivial partition.
    if count < n && solution.codelength > one_level {
        return (vec![0; n], 1);
    }
    (solution.leaf_module, count)
}
