//! Warm starts: re-optimising the part of a partition that a change of the network touched.
//!
//! When a few nodes join a network, or a few nodes' links change, the partition found before is
//! still good almost everywhere. [`Infomap::refine`] starts from it and lets only the *active*
//! nodes move: the affected nodes the caller names and every member of their modules. Every
//! other node keeps its module, though active nodes may join it. The moves are those of the
//! core loop (§6.2, §6.3), the same delta and the same acceptance rules, followed by module
//! moves on the aggregated network (§6.4, §6.5) and fine-tune rounds (§6.6) until the
//! codelength stops improving. Coarse-tune (§6.7) is not run.
//!
//! # The local problem
//!
//! The optimiser works on a network of the active nodes plus one *pinned* super-node per
//! module that an active node links to (or from) but that holds no active node. A pinned
//! super-node carries its module's flow, enter and exit flow, and its links to the active
//! nodes; it never moves, and a module holding one never moves as a whole at the aggregated
//! levels, but active nodes and modules may join it. Modules that are neither active nor
//! neighbours stay out of the local network: their enter flow goes into the index codebook as
//! the objective's constant `q_parent` (as a coarse-tune sub-problem's parent exit flow does,
//! §5.5), and their terms are constants. So every move's delta is the change of the whole
//! network's codelength (`tests` check it against a full evaluation).
//!
//! The flow comes from a [`Rates`] kept up to date with the network, so nothing global is
//! solved again: the cost is one pass over the links (module flows, and the in-links of active
//! nodes) plus the search on the local network.

use std::time::Instant;

use rayon::prelude::*;

use super::codelength::{node_entropy, Codelength, ModuleFlows};
use super::flow::FlowNetwork;
use super::optimize::{Level, Objective, AGGREGATED_LOOP_LIMIT, MOVE_EPS};
use super::rates::{FlowView, Rates};
use super::tune::Solution;
use super::{Infomap, LinkSource, Partition};
use crate::buckets::group_by_key;
use crate::rng::Rng;

/// In a starting partition given to [`Infomap::refine`]: a node in a module of its own (a new
/// node, say).
pub const NO_MODULE: u32 = u32::MAX;

/// Nodes per parallel work unit of the pass over the links.
const CHUNK: usize = 4096;

/// Fine-tune rounds of a warm start at most (each stops early when it improves nothing).
const WARM_ROUNDS: usize = 10;

/// What [`Infomap::refine`] found.
#[derive(Debug, Clone)]
pub struct Refinement {
    /// The partition of the whole network, modules numbered by decreasing flow (ties by
    /// smallest member), with its codelength.
    pub partition: Partition,
    /// Codelength of the starting partition on the network as it is now (new nodes in modules
    /// of their own).
    pub start_codelength: f64,
    /// Nodes allowed to move, ascending.
    pub active: Vec<u32>,
    /// Starting modules re-optimised (those of the affected nodes).
    pub active_modules: usize,
    /// Neighbouring modules, pinned.
    pub pinned_modules: usize,
}

/// Flow, enter and exit flow of every starting module, and what else the pass over the links
/// found.
struct Scan<W> {
    flow: Vec<f64>,
    enter: Vec<f64>,
    exit: Vec<f64>,
    /// In-links of the active node with local index `i`: `in_links[in_start[i]..in_start[i + 1]]`
    /// as `(source, weight)`, sources ascending.
    in_start: Vec<usize>,
    in_links: Vec<(u32, W)>,
    /// Node flow of every node.
    node_flow: Vec<f64>,
}

impl Infomap {
    /// Re-optimises the partition `start` of `network` (`start[v]`: node v's module, labels
    /// below `network.num_nodes()`, or [`NO_MODULE`]) after a change that affected the nodes
    /// `affected`: those nodes and all members of their modules may move, every other node
    /// keeps its module. `rates` is the network's flow as it is now ([`Rates::settle`]d), so no
    /// flow is computed here. See the module docs of `infomap/warm.rs`.
    ///
    /// With every node affected this re-optimises the whole partition from `start`.
    /// Deterministic for a given seed, whatever the number of threads.
    ///
    /// # Panics
    ///
    /// When `rates` or `start` do not have one entry per node, or an affected node is out of
    /// range.
    ///
    /// # Complexity
    ///
    /// One pass over the links, `O(n)` for the module flows and the numbering, and the search
    /// on the active nodes and their neighbouring modules.
    pub fn refine<L: LinkSource>(&self, network: &L, rates: &Rates, start: &[u32], affected: &[u32]) -> Refinement {
        let started = Instant::now();
        let cfg = self.config();
        let n = network.num_nodes();
        assert_eq!(rates.num_nodes(), n, "one rate per node");
        assert_eq!(start.len(), n, "one starting module per node");
        let view = rates.view();
        let (dense, count) = dense_modules(start);

        // Active nodes: the affected ones and every member of their modules.
        let (offsets, members) = group_by_key(&dense, count);
        let mut touched = vec![false; count];
        for &v in affected {
            touched[dense[v as usize] as usize] = true;
        }
        let mut active = vec![false; n];
        for m in (0..count).filter(|&m| touched[m]) {
            for &v in &members[offsets[m]..offsets[m + 1]] {
                active[v as usize] = true;
            }
        }
        let nodes: Vec<u32> = (0..n as u32).filter(|&v| active[v as usize]).collect();
        let mut local_of = vec![u32::MAX; n];
        for (i, &v) in nodes.iter().enumerate() {
            local_of[v as usize] = i as u32;
        }
        let scan = scan(network, &view, &dense, count, &local_of, nodes.len());
        let entropy = node_entropy(&scan.node_flow);
        let start_codelength =
            ModuleFlows { flow: scan.flow.clone(), enter: scan.enter.clone(), exit: scan.exit.clone() }
                .codelength(0.0, entropy)
                .total();
        let flow_secs = started.elapsed().as_secs_f64();
        let started = Instant::now();

        let local = LocalNetwork::new(network, &view, &dense, count, nodes, &local_of, &scan);
        let a = local.active.len();
        // Starting modules of the local items: an active node's module is named by its first
        // active member, a pinned super-node is a module of its own.
        let mut first = vec![u32::MAX; count];
        let init: Vec<u32> = (0..local.net.n())
            .map(|i| {
                if i >= a {
                    return i as u32;
                }
                let m = dense[local.active[i] as usize] as usize;
                if first[m] == u32::MAX {
                    first[m] = i as u32;
                }
                first[m]
            })
            .collect();
        // Modules that are neither re-optimised nor neighbours only add their enter flow to the
        // index codebook.
        let mut represented = touched.clone();
        for &m in &local.pinned_module {
            represented[m as usize] = true;
        }
        let q_rest: f64 = (0..count).filter(|&m| !represented[m]).map(|m| scan.enter[m]).sum();
        let objective = Objective { q_parent: q_rest, node_entropy: 0.0 };
        let pinned: Vec<bool> = (0..local.net.n()).map(|i| i >= a).collect();
        let one_level = -entropy;
        let solution = if a == 0 {
            None
        } else {
            Some(warm_search(&local.net, &init, &pinned, cfg, objective, one_level, &mut Rng::new(cfg.seed)))
        };

        // Back to the whole network: a module holding a pinned super-node keeps that module's
        // id, the others get new ids.
        let mut global = dense.clone();
        let mut final_flows = ModuleFlows::default();
        for m in (0..count).filter(|&m| !represented[m]) {
            final_flows.flow.push(scan.flow[m]);
            final_flows.enter.push(scan.enter[m]);
            final_flows.exit.push(scan.exit[m]);
        }
        if let Some(solution) = &solution {
            let modules = &solution.modules;
            let mut id_of_local = vec![u32::MAX; modules.n()];
            for (j, &m) in local.pinned_module.iter().enumerate() {
                id_of_local[solution.leaf_module[a + j] as usize] = m;
            }
            let mut next = count as u32;
            for i in 0..a {
                let l = solution.leaf_module[i] as usize;
                if id_of_local[l] == u32::MAX {
                    id_of_local[l] = next;
                    next += 1;
                }
                global[local.active[i] as usize] = id_of_local[l];
            }
            final_flows.flow.extend_from_slice(&modules.flow);
            final_flows.enter.extend_from_slice(&modules.enter);
            final_flows.exit.extend_from_slice(&modules.exit);
        } else {
            for m in (0..count).filter(|&m| represented[m]) {
                final_flows.flow.push(scan.flow[m]);
                final_flows.enter.push(scan.enter[m]);
                final_flows.exit.push(scan.exit[m]);
            }
        }
        let codelength = final_flows.codelength(0.0, entropy);
        let (modules, num_modules) = number_by_flow(&global, &scan.node_flow);
        let partition = Partition {
            modules,
            num_modules,
            codelength: codelength.total(),
            index_codelength: codelength.index,
            module_codelength: codelength.module,
            one_level_codelength: one_level,
            node_flow: scan.node_flow,
            flow_iterations: 0,
            flow_error: 0.0,
            trial_codelengths: vec![codelength.total()],
            best_trial: 0,
            flow_secs,
            search_secs: started.elapsed().as_secs_f64(),
        };
        Refinement {
            partition,
            start_codelength,
            active: local.active,
            active_modules: touched.iter().filter(|&&t| t).count(),
            pinned_modules: local.pinned_module.len(),
        }
    }

    /// The codelength of `modules` (labels below the number of nodes) on `network` with the
    /// flow `rates` holds: what [`Infomap::codelength_of`] computes, without solving the flow.
    ///
    /// # Panics
    ///
    /// When `rates` or `modules` do not have one entry per node, or a label is not below it.
    pub fn codelength_with<L: LinkSource>(network: &L, rates: &Rates, modules: &[u32]) -> Codelength {
        let n = network.num_nodes();
        assert_eq!(rates.num_nodes(), n, "one rate per node");
        let view = rates.view();
        let (dense, count) = dense_modules(modules);
        let scan = scan(network, &view, &dense, count, &vec![u32::MAX; n], 0);
        ModuleFlows { flow: scan.flow, enter: scan.enter, exit: scan.exit }
            .codelength(0.0, node_entropy(&scan.node_flow))
    }
}

/// Dense module ids `0..count` by first appearance; each [`NO_MODULE`] node gets one of its own.
fn dense_modules(start: &[u32]) -> (Vec<u32>, usize) {
    let n = start.len();
    let mut id = vec![u32::MAX; n];
    let mut next = 0u32;
    let dense = start
        .iter()
        .map(|&m| {
            if m == NO_MODULE {
                next += 1;
                return next - 1;
            }
            assert!((m as usize) < n, "module label {m} is not below the number of nodes ({n})");
            if id[m as usize] == u32::MAX {
                id[m as usize] = next;
                next += 1;
            }
            id[m as usize]
        })
        .collect();
    (dense, next as usize)
}

/// One pass over the links: module flows of `dense`, node flows, and the in-links of the
/// active nodes (`local_of[v]`: node v's index among the `active` active nodes, or
/// `u32::MAX`). Per-node sums in parallel over fixed chunks, combined in node order.
fn scan<L: LinkSource>(
    network: &L,
    view: &FlowView<'_>,
    dense: &[u32],
    count: usize,
    local_of: &[u32],
    active: usize,
) -> Scan<L::Weight> {
    let n = network.num_nodes();
    type Chunk<W> = (Vec<f64>, Vec<(u32, u32, W)>);
    let chunks: Vec<Chunk<L::Weight>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let nodes = c * CHUNK..((c + 1) * CHUNK).min(n);
            let mut internal = Vec::with_capacity(nodes.len());
            let mut in_links = Vec::new();
            for u in nodes {
                let m = dense[u];
                let mut sum = 0.0;
                network.for_each_out_link(u, |v, w| {
                    let w64: f64 = w.into();
                    if !(w64.is_finite() && w64 > 0.0) || v as usize == u {
                        return;
                    }
                    if dense[v as usize] == m {
                        sum += w64;
                    }
                    let target = local_of[v as usize];
                    if target != u32::MAX {
                        in_links.push((target, u as u32, w));
                    }
                });
                internal.push(sum * view.link_scale(u));
            }
            (internal, in_links)
        })
        .collect();
    let mut scan = Scan {
        flow: vec![0.0; count],
        enter: vec![0.0; count],
        exit: vec![0.0; count],
        in_start: vec![0; active + 1],
        in_links: Vec::new(),
        node_flow: (0..n).map(|v| view.node_flow(v)).collect(),
    };
    let mut internal = vec![0.0; count];
    let mut u = 0;
    for (chunk_internal, chunk_links) in &chunks {
        for &x in chunk_internal {
            let m = dense[u] as usize;
            scan.flow[m] += scan.node_flow[u];
            scan.exit[m] += view.node_exit(u);
            scan.enter[m] += view.node_enter(u);
            internal[m] += x;
            u += 1;
        }
        for l in chunk_links {
            scan.in_start[l.0 as usize + 1] += 1;
        }
    }
    // Each internal link leaves its source and enters its target inside the module; an
    // undirected link's flow counts as exit and enter at both ends (§3.3).
    let internal_share = match view.model() {
        super::FlowModel::Directed => 1.0,
        super::FlowModel::Undirected => 2.0,
    };
    for ((exit, enter), &internal) in scan.exit.iter_mut().zip(scan.enter.iter_mut()).zip(&internal).take(count) {
        *exit = (*exit - internal_share * internal).max(0.0);
        *enter = (*enter - internal_share * internal).max(0.0);
    }
    // In-links by target (a counting sort; sources stay ascending).
    for i in 0..active {
        scan.in_start[i + 1] += scan.in_start[i];
    }
    let mut fill = scan.in_start.clone();
    scan.in_links = vec![(0, L::Weight::default()); scan.in_start[active]];
    for (_, chunk_links) in chunks {
        for (target, source, w) in chunk_links {
            let slot = &mut fill[target as usize];
            scan.in_links[*slot] = (source, w);
            *slot += 1;
        }
    }
    scan
}

/// The network the warm start optimises: the active nodes, then one pinned super-node per
/// neighbouring module.
struct LocalNetwork {
    net: FlowNetwork,
    /// Node of each active item, ascending.
    active: Vec<u32>,
    /// Starting module (dense) of each pinned super-node, ascending.
    pinned_module: Vec<u32>,
}

impl LocalNetwork {
    /// `nodes`: the active nodes, ascending; `local_of`: each node's index among them.
    fn new<L: LinkSource>(
        network: &L,
        view: &FlowView<'_>,
        dense: &[u32],
        count: usize,
        nodes: Vec<u32>,
        local_of: &[u32],
        scan: &Scan<L::Weight>,
    ) -> Self {
        let a = nodes.len();
        let in_links = |i: usize| &scan.in_links[scan.in_start[i]..scan.in_start[i + 1]];
        // Pinned super-nodes: the modules of inactive neighbours, ascending.
        let mut neighbouring = vec![false; count];
        for (i, &v) in nodes.iter().enumerate() {
            let mut mark = |x: u32| {
                if local_of[x as usize] == u32::MAX {
                    neighbouring[dense[x as usize] as usize] = true;
                }
            };
            network.for_each_out_link(v as usize, |x, _| mark(x));
            for &(u, _) in in_links(i) {
                mark(u);
            }
        }
        let pinned_module: Vec<u32> = (0..count as u32).filter(|&m| neighbouring[m as usize]).collect();
        let mut super_of = vec![u32::MAX; count];
        for (j, &m) in pinned_module.iter().enumerate() {
            super_of[m as usize] = (a + j) as u32;
        }
        let item = |x: u32| -> u32 {
            match local_of[x as usize] {
                u32::MAX => super_of[dense[x as usize] as usize],
                i => i,
            }
        };
        let items = a + pinned_module.len();
        let undirected = view.model() == super::FlowModel::Undirected;
        // Each active node's merged entries (item, out flow, in flow), in parallel over fixed
        // chunks, with a generation-stamped slot per item: no sorting, no allocation per node.
        type Chunk = (Vec<usize>, Vec<(u32, f64, f64)>);
        let chunks: Vec<Chunk> = (0..a.div_ceil(CHUNK))
            .into_par_iter()
            .map_init(
                || (vec![(u32::MAX, 0u32); items], 0u32),
                |(slots, stamp), c| {
                    let range = c * CHUNK..((c + 1) * CHUNK).min(a);
                    let mut degrees = Vec::with_capacity(range.len());
                    let mut entries: Vec<(u32, f64, f64)> = Vec::new();
                    for i in range {
                        let v = nodes[i] as usize;
                        *stamp += 1;
                        let start = entries.len();
                        let mut add = |x: u32, o: f64, f: f64| {
                            let it = item(x);
                            let slot = &mut slots[it as usize];
                            if slot.0 == *stamp {
                                let e = &mut entries[start + slot.1 as usize];
                                e.1 += o;
                                e.2 += f;
                            } else {
                                *slot = (*stamp, (entries.len() - start) as u32);
                                entries.push((it, o, f));
                            }
                        };
                        let scale = view.link_scale(v);
                        network.for_each_out_link(v, |x, w| {
                            let w: f64 = w.into();
                            if w.is_finite() && w > 0.0 && x as usize != v {
                                add(x, w * scale, 0.0);
                            }
                        });
                        for &(u, w) in in_links(i) {
                            let w: f64 = w.into();
                            add(u, 0.0, w * view.link_scale(u as usize));
                        }
                        if undirected {
                            for e in &mut entries[start..] {
                                let both = e.1 + e.2;
                                (e.1, e.2) = (both, both);
                            }
                        }
                        degrees.push(entries.len() - start);
                    }
                    (degrees, entries)
                },
            )
            .collect();
        // Super-nodes' entries: the reverse of the active nodes' entries to them.
        let mut super_degree = vec![0usize; pinned_module.len()];
        for (_, entries) in &chunks {
            for e in entries.iter().filter(|e| e.0 as usize >= a) {
                super_degree[e.0 as usize - a] += 1;
            }
        }
        let mut net = FlowNetwork::default();
        let total: usize = chunks.iter().map(|c| c.1.len()).sum::<usize>() * 2;
        net.neighbour.reserve(total);
        net.out_flow.reserve(total);
        net.in_flow.reserve(total);
        net.offsets.push(0);
        for (degrees, entries) in &chunks {
            let mut at = 0;
            for &d in degrees {
                for &(x, o, f) in &entries[at..at + d] {
                    net.neighbour.push(x);
                    net.out_flow.push(o);
                    net.in_flow.push(f);
                }
                at += d;
                net.offsets.push(net.neighbour.len());
            }
        }
        let super_start = net.neighbour.len();
        let mut fill: Vec<usize> = Vec::with_capacity(pinned_module.len());
        let mut next = super_start;
        for &d in &super_degree {
            fill.push(next);
            next += d;
            net.offsets.push(next);
        }
        net.neighbour.resize(next, 0);
        net.out_flow.resize(next, 0.0);
        net.in_flow.resize(next, 0.0);
        let mut i = 0u32;
        for (degrees, entries) in &chunks {
            let mut at = 0;
            for &d in degrees {
                for &(x, o, f) in &entries[at..at + d] {
                    if x as usize >= a {
                        let slot = &mut fill[x as usize - a];
                        net.neighbour[*slot] = i;
                        net.out_flow[*slot] = f;
                        net.in_flow[*slot] = o;
                        *slot += 1;
                    }
                }
                at += d;
                i += 1;
            }
        }
        for &v in &nodes {
            let v = v as usize;
            net.flow.push(view.node_flow(v));
            net.enter.push(view.node_enter(v));
            net.exit.push(view.node_exit(v));
        }
        for &m in &pinned_module {
            let m = m as usize;
            net.flow.push(scan.flow[m]);
            net.enter.push(scan.enter[m]);
            net.exit.push(scan.exit[m]);
        }
        LocalNetwork { net, active: nodes, pinned_module }
    }
}

/// The search of a warm start: the core loop from `init` with `pinned` items fixed, module
/// moves on the aggregated levels, then fine-tune rounds while they improve.
fn warm_search(
    leaves: &FlowNetwork,
    init: &[u32],
    pinned: &[bool],
    cfg: &super::InfomapConfig,
    objective: Objective,
    one_level: f64,
    rng: &mut Rng,
) -> Solution {
    let mut level = Level::new(leaves, cfg, objective, Some(init));
    level.pin(pinned.to_vec());
    level.core_loop(cfg.core_loop_limit, false, rng);
    let mut solution = aggregate(leaves, Solution::from_level(&level, None), pinned, cfg, objective, rng);
    let mut previous = solution.codelength;
    let rounds = if cfg.tune_iteration_limit > 0 { cfg.tune_iteration_limit.min(WARM_ROUNDS) } else { WARM_ROUNDS };
    for _ in 1..rounds {
        let mut level = Level::new(leaves, cfg, objective, Some(&solution.leaf_module));
        level.pin(pinned.to_vec());
        if level.core_loop(cfg.core_loop_limit, false, rng) == 0 {
            break;
        }
        solution = aggregate(leaves, Solution::from_level(&level, None), pinned, cfg, objective, rng);
        let improved = solution.codelength <= previous - cfg.core_loop_codelength_threshold
            && solution.codelength < previous - one_level * cfg.tune_iteration_relative_threshold;
        if !improved {
            break;
        }
        previous = solution.codelength;
    }
    solution
}

/// Repeated aggregation (§6.5) with pins: a module holding a pinned item does not move.
fn aggregate(
    leaves: &FlowNetwork,
    mut solution: Solution,
    pinned: &[bool],
    cfg: &super::InfomapConfig,
    objective: Objective,
    rng: &mut Rng,
) -> Solution {
    debug_assert_eq!(leaves.n(), pinned.len());
    while solution.modules.n() > 1 {
        let mut module_pinned = vec![false; solution.modules.n()];
        for (leaf, &m) in solution.leaf_module.iter().enumerate() {
            module_pinned[m as usize] |= pinned[leaf];
        }
        if module_pinned.iter().all(|&p| p) {
            break;
        }
        let mut level = Level::new(&solution.modules, cfg, objective, None);
        level.pin(module_pinned);
        level.core_loop(AGGREGATED_LOOP_LIMIT, false, rng);
        if level.codelength >= solution.codelength - MOVE_EPS {
            break;
        }
        solution = Solution::from_level(&level, Some(&solution.leaf_module));
    }
    solution
}

/// Renumbers module labels (any, below `2^32 - 1`) `0..` by decreasing module flow, ties by
/// smallest member; returns the labels and their count.
fn number_by_flow(labels: &[u32], node_flow: &[f64]) -> (Vec<u32>, usize) {
    let top = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut dense_of = vec![u32::MAX; top];
    let mut count = 0u32;
    let dense: Vec<u32> = labels
        .iter()
        .map(|&l| {
            if dense_of[l as usize] == u32::MAX {
                dense_of[l as usize] = count;
                count += 1;
            }
            dense_of[l as usize]
        })
        .collect();
    let count = count as usize;
    let mut flow = vec![0f64; count];
    for (v, &m) in dense.iter().enumerate() {
        flow[m as usize] += node_flow[v];
    }
    let mut order: Vec<u32> = (0..count as u32).collect();
    order.sort_by(|&a, &b| flow[b as usize].total_cmp(&flow[a as usize]).then(a.cmp(&b)));
    let mut rank = vec![0u32; count];
    for (r, &m) in order.iter().enumerate() {
        rank[m as usize] = r as u32;
    }
    (dense.iter().map(|&m| rank[m as usize]).collect(), count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infomap::{FlowModel, InfomapConfig, Network};

    /// Groups of 12 nodes, most links inside a group, some across; `extra` more nodes linking
    /// into random groups.
    fn grouped(rng: &mut Rng, n: usize) -> Vec<(u32, u32, f64)> {
        let mut links = Vec::new();
        for u in 0..n as u32 {
            for _ in 0..5 {
                let v = if rng.below(10) < 8 {
                    (u / 12 * 12 + rng.below(12) as u32).min(n as u32 - 1)
                } else {
                    rng.below(n as u64) as u32
                };
                if v != u {
                    links.push((u, v, 0.5 + rng.unit_f64()));
                }
            }
        }
        links
    }

    fn out_links(links: &[(u32, u32, f64)], u: u32) -> Vec<(u32, f64)> {
        links.iter().filter(|l| l.0 == u).map(|l| (l.1, l.2)).collect()
    }

    /// A network, its partition, and the same network with `added` nodes and some rewired old
    /// nodes: `(old partition, new network, new rates, affected nodes)`.
    fn changed(model: FlowModel, seed: u64, n: usize, added: usize) -> (Vec<u32>, Network, Rates, Vec<u32>) {
        let mut rng = Rng::new(seed);
        let cfg = InfomapConfig { flow_model: model, ..InfomapConfig::default() };
        let links = grouped(&mut rng, n);
        let old = Network::from_links(n, &links);
        let partition = Infomap::new(cfg.clone()).run(&old);
        let mut rates = Rates::compute(&old, &cfg);
        rates.set_tolerance(1e-13);
        let m = n + added;
        let mut new_links = links.clone();
        for x in n..m {
            let group = rng.below((n / 12) as u64) as u32 * 12;
            for _ in 0..5 {
                new_links.push((x as u32, group + rng.below(12) as u32, 0.5 + rng.unit_f64()));
            }
            // An old node links to the new one.
            new_links.push((group + rng.below(12) as u32, x as u32, 1.2));
        }
        rates.add_nodes(added);
        let mut affected = Vec::new();
        for u in 0..m as u32 {
            let (before, after) = (out_links(&links, u), out_links(&new_links, u));
            if before != after {
                rates.relink(u as usize, &before, &after);
                affected.push(u);
                affected.extend(before.iter().chain(&after).map(|l| l.0));
            }
        }
        affected.sort_unstable();
        affected.dedup();
        let network = Network::from_links(m, &new_links);
        rates.settle(&network);
        let mut start = partition.modules.clone();
        start.resize(m, NO_MODULE);
        (start, network, rates, affected)
    }

    #[test]
    fn the_codelength_of_a_refinement_is_that_of_a_full_evaluation() {
        for model in [FlowModel::Directed, FlowModel::Undirected] {
            let (start, network, rates, affected) = changed(model, 5, 600, 30);
            let cfg = InfomapConfig { flow_model: model, ..InfomapConfig::default() };
            let infomap = Infomap::new(cfg);
            let refined = infomap.refine(&network, &rates, &start, &affected);
            let p = &refined.partition;
            let full = infomap.codelength_of(&network, &p.modules);
            assert!((p.codelength - full.codelength).abs() < 1e-9, "{model}: {} vs {}", p.codelength, full.codelength);
            assert!((p.index_codelength - full.index_codelength).abs() < 1e-9);
            let with = Infomap::codelength_with(&network, &rates, &p.modules);
            assert!((with.total() - full.codelength).abs() < 1e-9);
            // The start, new nodes alone, evaluated the same way.
            let mut alone = start.clone();
            for (next, m) in (start.len() as u32..).zip(alone.iter_mut().filter(|m| **m == NO_MODULE)) {
                *m = next;
            }
            let renumbered = number_by_flow(&alone, &p.node_flow).0;
            let start_full = infomap.codelength_of(&network, &renumbered).codelength;
            assert!((refined.start_codelength - start_full).abs() < 1e-9);
            assert!(p.codelength < refined.start_codelength, "{model}: the warm start improves on its start");
            assert!(refined.active.len() < network.num_nodes() && refined.pinned_modules > 0, "{refined:?}");
        }
    }

    #[test]
    fn modules_without_affected_nodes_keep_their_members_together_and_apart() {
        let (start, network, rates, affected) = changed(FlowModel::Directed, 9, 900, 40);
        let refined = Infomap::default().refine(&network, &rates, &start, &affected);
        let touched: std::collections::HashSet<u32> = affected.iter().map(|&v| start[v as usize]).collect();
        let mut final_of = std::collections::HashMap::new();
        let mut owner = std::collections::HashMap::new();
        for (v, &m) in start.iter().enumerate() {
            if m == NO_MODULE || touched.contains(&m) {
                continue;
            }
            let f = refined.partition.modules[v];
            assert_eq!(*final_of.entry(m).or_insert(f), f, "module {m} was split");
            let first = *owner.entry(f).or_insert(m);
            assert_eq!(first, m, "modules {m} and {first} were merged");
        }
        assert!(!final_of.is_empty());
    }

    #[test]
    fn everything_affected_from_singletons_is_a_full_search() {
        let mut rng = Rng::new(13);
        let links = grouped(&mut rng, 1200);
        let network = Network::from_links(1200, &links);
        let infomap = Infomap::default();
        let run = infomap.run(&network);
        let rates = Rates::compute(&network, infomap.config());
        let all: Vec<u32> = (0..1200).collect();
        let refined = infomap.refine(&network, &rates, &vec![NO_MODULE; 1200], &all);
        let (a, b) = (refined.partition.codelength, run.codelength);
        assert!(a < b * 1.02, "warm start from singletons {a} vs a run {b}");
        // From the run's own partition, nothing better is found.
        let again = infomap.refine(&network, &rates, &run.modules, &all);
        assert!(again.partition.codelength <= b + 1e-9);
    }

    #[test]
    fn the_same_on_one_and_two_threads() {
        let (start, network, rates, affected) = changed(FlowModel::Directed, 17, 20_000, 500);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| Infomap::default().refine(&network, &rates, &start, &affected).partition)
        };
        let (one, two) = (run(1), run(2));
        assert_eq!(one.modules, two.modules);
        assert_eq!(one.codelength.to_bits(), two.codelength.to_bits());
    }

    #[test]
    fn nothing_affected_changes_nothing() {
        let (start, network, rates, _) = changed(FlowModel::Directed, 2, 300, 0);
        let refined = Infomap::default().refine(&network, &rates, &start, &[]);
        assert!(refined.active.is_empty());
        assert_eq!(refined.partition.modules, number_by_flow(&start, &refined.partition.node_flow).0);
        assert!((refined.partition.codelength - refined.start_codelength).abs() < 1e-12);
    }
}
