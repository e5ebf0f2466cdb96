//! Stationary flow (spec §3) and the leaf network handed to the optimiser (spec §3.5).
//!
//! Two models:
//! - [`FlowModel::Directed`]: PageRank with teleportation to links (teleport target chosen in
//!   proportion to out-weight), unrecorded, probability `alpha`. After the power iteration one
//!   more step is taken along links only and renormalised by the non-dangling mass (§3.1 step
//!   5), so a node's flow is the flow it receives over links.
//! - [`FlowModel::Undirected`]: node flow in proportion to incident weight (§3.3).
//!
//! The power iteration pulls over an in-link CSR, in parallel over target nodes. Every sum is
//! taken in a fixed order (per node: in-link order; across nodes: fixed chunks combined in
//! index order), so the flow is bit-identical whatever the number of threads.
//!
//! The result is a [`FlowNetwork`]: per node its flow, enter and exit flow, and a *merged*
//! adjacency listing each neighbour once with the flow on the link to it (`out_flow`) and
//! from it (`in_flow`). k-NN graphs are mostly reciprocal, so merging roughly halves the
//! entries the optimiser scans (spec §10.5).

use rayon::prelude::*;

use super::network::LinkSource;
use super::FlowModel;

/// Nodes per parallel work unit. Fixed, so reductions are independent of the thread count.
const CHUNK: usize = 4096;

/// Items with their flow data and merged adjacency: the leaf network, or modules standing in as
/// super-nodes after aggregation.
#[derive(Debug, Clone, Default)]
pub(crate) struct FlowNetwork {
    /// Visit rate of each item.
    pub flow: Vec<f64>,
    /// Flow entering each item over its links.
    pub enter: Vec<f64>,
    /// Flow leaving each item over its links.
    pub exit: Vec<f64>,
    /// `n + 1` offsets into the adjacency arrays.
    pub offsets: Vec<usize>,
    /// Neighbour of each adjacency entry.
    pub neighbour: Vec<u32>,
    /// Flow on the link item -> neighbour (0 if none).
    pub out_flow: Vec<f64>,
    /// Flow on the link neighbour -> item (0 if none).
    pub in_flow: Vec<f64>,
}

impl FlowNetwork {
    /// Number of items.
    pub fn n(&self) -> usize {
        self.flow.len()
    }

    /// Adjacency index range of item `i`.
    #[inline]
    pub fn edges(&self, i: usize) -> std::ops::Range<usize> {
        self.offsets[i]..self.offsets[i + 1]
    }
}

/// Flow calculation settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowSettings {
    pub model: FlowModel,
    pub alpha: f64,
    pub tolerance: f64,
    pub min_iterations: usize,
    pub max_iterations: usize,
}

/// The flow calculation's result.
#[derive(Debug)]
pub(crate) struct FlowResult {
    pub network: FlowNetwork,
    /// Power iterations run (0 for the undirected model).
    pub iterations: usize,
    /// L1 change of the last iteration.
    pub error: f64,
}

/// The in-links, with per-node weight sums (out-lists: [`sorted_out_links`]).
///
/// Weights keep the source's own type `W` (f32 for the k-NN graph), which halves the bytes the
/// power iteration streams per link compared with converting to f64, and loses nothing.
struct LinkTables<W> {
    /// In-links of each node (self-links included), sources ascending.
    in_offsets: Vec<usize>,
    in_source: Vec<u32>,
    in_weight: Vec<W>,
    /// Out-weight of each node, self-link included.
    out_weight: Vec<f64>,
    /// Self-link weight of each node.
    self_weight: Vec<f64>,
}

impl<W: Weight> LinkTables<W> {
    /// `sum over in-links (u, v) of w(u,v) * rate[u]`: the flow node v receives.
    ///
    /// Four partial sums break the chain of dependent additions, which otherwise bounds the
    /// power iteration; the order is fixed, so the result is still deterministic.
    #[inline]
    fn pull(&self, v: usize, rate: &[f64]) -> f64 {
        let r = self.in_offsets[v]..self.in_offsets[v + 1];
        let (sources, weights) = (&self.in_source[r.clone()], &self.in_weight[r]);
        let mut acc = [0f64; 4];
        let mut chunks = sources.chunks_exact(4).zip(weights.chunks_exact(4));
        for (s, w) in &mut chunks {
            for k in 0..4 {
                acc[k] += w[k].into() * rate[s[k] as usize];
            }
        }
        let tail = sources.len() - sources.len() % 4;
        for (&s, &w) in sources[tail..].iter().zip(&weights[tail..]) {
            acc[0] += w.into() * rate[s as usize];
        }
        (acc[0] + acc[1]) + (acc[2] + acc[3])
    }
}

#[inline]
fn usable(w: f64) -> bool {
    w.is_finite() && w > 0.0
}

fn link_tables<L: LinkSource>(links: &L) -> LinkTables<L::Weight> {
    let n = links.num_nodes();
    // In-links by a counting sort over the sources in order: each in-list comes out sorted by
    // source, repeated links in link order. The out-weights in parallel with it; out-lists are
    // sorted by target when needed ([`sorted_out_links`]). Sorted lists let the merged
    // adjacency be built by linear merges.
    let in_lists = || {
        let mut in_offsets = vec![0usize; n + 1];
        for u in 0..n {
            links.for_each_out_link(u, |v, w| {
                if usable(w.into()) {
                    in_offsets[v as usize + 1] += 1;
                }
            });
        }
        for i in 0..n {
            in_offsets[i + 1] += in_offsets[i];
        }
        let mut fill = in_offsets.clone();
        let mut in_source = vec![0u32; in_offsets[n]];
        let mut in_weight = vec![L::Weight::default(); in_offsets[n]];
        for u in 0..n {
            links.for_each_out_link(u, |v, w| {
                if usable(w.into()) {
                    let slot = &mut fill[v as usize];
                    in_source[*slot] = u as u32;
                    in_weight[*slot] = w;
                    *slot += 1;
                }
            });
        }
        (in_offsets, in_source, in_weight)
    };
    let out_sums = || {
        // Per node: out-weight and self-link weight, summed in link order. The out-lists
        // themselves are not kept ([`sorted_out_links`]).
        (0..n)
            .into_par_iter()
            .map(|u| {
                let (mut out, mut own) = (0.0, 0.0);
                links.for_each_out_link(u, |v, w| {
                    let w: f64 = w.into();
                    if usable(w) {
                        out += w;
                        if v as usize == u {
                            own += w;
                        }
                    }
                });
                (out, own)
            })
            .unzip()
    };
    let ((in_offsets, in_source, in_weight), (out_weight, self_weight)) = rayon::join(in_lists, out_sums);
    LinkTables { in_offsets, in_source, in_weight, out_weight, self_weight }
}

/// A thread's buffers for [`sorted_out_links`].
struct OutLinks<W> {
    keys: Vec<u64>,
    weights: Vec<W>,
    sorted: Vec<(u32, W)>,
}

impl<W> Default for OutLinks<W> {
    fn default() -> Self {
        OutLinks { keys: Vec::new(), weights: Vec::new(), sorted: Vec::new() }
    }
}

/// Node `u`'s usable out-links (self-links included) sorted by target, repeated links in link
/// order. Sorted again for each use rather than kept: a table of them would cost as much as
/// the graph (8 bytes a link, 671 MiB for a million rows at k = 256) while the merged network
/// is built beside it.
fn sorted_out_links<'s, L: LinkSource>(
    links: &L,
    u: usize,
    buffers: &'s mut OutLinks<L::Weight>,
) -> &'s [(u32, L::Weight)] {
    let OutLinks { keys, weights, sorted } = buffers;
    keys.clear();
    weights.clear();
    sorted.clear();
    // Each link as (target << 32 | position in the row): an unstable sort of these keys is a
    // stable sort by target.
    links.for_each_out_link(u, |v, w| {
        if usable(w.into()) {
            keys.push(u64::from(v) << 32 | weights.len() as u64);
            weights.push(w);
        }
    });
    keys.sort_unstable();
    sorted.extend(keys.iter().map(|&key| ((key >> 32) as u32, weights[key as u32 as usize])));
    sorted
}

/// The nodes of chunk `c` of `0..n`.
fn chunk_nodes(c: usize, n: usize) -> std::ops::Range<usize> {
    c * CHUNK..((c + 1) * CHUNK).min(n)
}

/// `data` (indexed like an adjacency with these `offsets`) cut into one slice per chunk of
/// [`CHUNK`] nodes, for filling in parallel.
fn chunk_slices<'a, T>(mut data: &'a mut [T], offsets: &[usize]) -> Vec<&'a mut [T]> {
    let n = offsets.len() - 1;
    (0..n.div_ceil(CHUNK))
        .map(|c| {
            let nodes = chunk_nodes(c, n);
            let (chunk, rest) = std::mem::take(&mut data).split_at_mut(offsets[nodes.end] - offsets[nodes.start]);
            data = rest;
            chunk
        })
        .collect()
}

/// Sum of `f(i)` over `0..n`, in fixed chunks combined in index order.
fn det_sum(n: usize, f: impl Fn(usize) -> f64 + Sync) -> f64 {
    let parts: Vec<f64> =
        (0..n.div_ceil(CHUNK)).into_par_iter().map(|c| chunk_nodes(c, n).map(&f).sum::<f64>()).collect();
    parts.iter().sum()
}

/// Computes node and link flow for `links` and builds the optimiser's leaf network.
pub(crate) fn compute_flow<L: LinkSource>(links: &L, settings: &FlowSettings) -> FlowResult {
    let n = links.num_nodes();
    let tables = link_tables(links);
    let total_weight: f64 = tables.out_weight.iter().sum();
    let self_total: f64 = tables.self_weight.iter().sum();
    if n == 0 || total_weight <= 0.0 {
        let mut network = FlowNetwork { offsets: vec![0; n + 1], ..Default::default() };
        network.flow = vec![0.0; n];
        network.enter = vec![0.0; n];
        network.exit = vec![0.0; n];
        return FlowResult { network, iterations: 0, error: 0.0 };
    }
    // Weighted total degree, self-link counted once: the undirected flow, and the directed
    // model's start vector (§3.1 step 3).
    let norm = 2.0 * total_weight - self_total;
    let degree_flow: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|u| {
            let r = tables.in_offsets[u]..tables.in_offsets[u + 1];
            let in_w: f64 = tables.in_weight[r].iter().map(|&w| w.into()).sum();
            (tables.out_weight[u] + in_w - tables.self_weight[u]) / norm
        })
        .collect();

    match settings.model {
        FlowModel::Undirected => {
            // A link of weight w carries 2w/norm in both directions together; each endpoint
            // sees half of it as exit and half as enter (§3.3, §3.5).
            let scale = 1.0 / norm;
            let network = merged_network(links, &tables, degree_flow, |_, w| w * scale, |_, w| w * scale, true);
            FlowResult { network, iterations: 0, error: 0.0 }
        }
        FlowModel::Directed => {
            let (p, iterations, error) = pagerank(&tables, degree_flow, total_weight, settings);
            // Final unrecorded step (§3.1 step 5): f(u,v) = w/out_w(u) * p(u) / (1 - D).
            let dangling = det_sum(n, |u| if tables.out_weight[u] > 0.0 { 0.0 } else { p[u] });
            let scale = 1.0 / (1.0 - dangling);
            let rate: Vec<f64> = (0..n)
                .map(|u| if tables.out_weight[u] > 0.0 { p[u] / tables.out_weight[u] * scale } else { 0.0 })
                .collect();
            let flow: Vec<f64> = (0..n).into_par_iter().map(|v| tables.pull(v, &rate)).collect();
            let network = merged_network(links, &tables, flow, |u, w| w * rate[u], |x, w| w * rate[x], false);
            FlowResult { network, iterations, error }
        }
    }
}

/// Power iteration of §3.1 step 4, pulling over in-links.
fn pagerank<W: Weight>(
    tables: &LinkTables<W>,
    start: Vec<f64>,
    total_weight: f64,
    s: &FlowSettings,
) -> (Vec<f64>, usize, f64) {
    let n = start.len();
    let alpha = s.alpha;
    let beta = 1.0 - alpha;
    let out_w = &tables.out_weight;
    let mut p = start;
    let mut q = vec![0f64; n];
    let mut rate = vec![0f64; n];
    let mut iterations = 0;
    let mut best_error = f64::INFINITY;
    let mut best_at = 0;
    let mut error;
    // Geometric extrapolation state (see below).
    let mut ratios = [f64::NAN; 3];
    let mut extrapolated_at = 0;
    let mut before_jump: Option<(Vec<f64>, f64)> = None;
    let mut extrapolate = true;
    let mut previous_error = f64::NAN;
    loop {
        // Pass 1: each node's outflow rate, and the dangling mass (per-chunk partial sums,
        // combined in chunk order so the result does not depend on the thread count).
        let dangling: f64 = rate
            .par_chunks_mut(CHUNK)
            .enumerate()
            .map(|(c, chunk)| {
                let mut dangling = 0.0;
                for (i, r) in chunk.iter_mut().enumerate() {
                    let u = c * CHUNK + i;
                    if out_w[u] > 0.0 {
                        *r = beta * p[u] / out_w[u];
                    } else {
                        *r = 0.0;
                        dangling += p[u];
                    }
                }
                dangling
            })
            .collect::<Vec<f64>>()
            .iter()
            .sum();
        // Teleportation to links: tau(v) = out_w(v) / W.
        let teleport = (alpha + beta * dangling) / total_weight;
        // Pass 2: pull along in-links; partial sums of the change and of the new vector.
        let partials: Vec<(f64, f64)> = q
            .par_chunks_mut(CHUNK)
            .enumerate()
            .map(|(c, chunk)| {
                let (mut change, mut total) = (0.0, 0.0);
                for (i, qv) in chunk.iter_mut().enumerate() {
                    let v = c * CHUNK + i;
                    *qv = teleport * out_w[v] + tables.pull(v, &rate);
                    change += (*qv - p[v]).abs();
                    total += *qv;
                }
                (change, total)
            })
            .collect();
        error = partials.iter().map(|x| x.0).sum();
        let sum: f64 = partials.iter().map(|x| x.1).sum();
        if (sum - 1.0).abs() > 1e-10 {
            let inv = 1.0 / sum;
            q.par_iter_mut().for_each(|x| *x *= inv);
        }
        std::mem::swap(&mut p, &mut q);
        iterations += 1;
        // A jump that made things worse is undone, and no other is tried.
        if let Some((saved, error_then)) = before_jump.take() {
            if error > error_then {
                p = saved;
                extrapolate = false;
                error = error_then;
            }
        }
        if error < best_error {
            best_error = error;
            best_at = iterations;
        }
        let converged = error <= s.tolerance;
        // Rounding keeps large graphs above the tolerance: stop once the error has not reached
        // a new minimum for a while (the reference 2.16 also stops on a stall).
        let stalled = iterations - best_at >= STALL_ITERATIONS;
        if (iterations >= s.min_iterations && (converged || stalled)) || iterations >= s.max_iterations {
            break;
        }
        // Geometric extrapolation: once the change shrinks by the same ratio r iteration after
        // iteration, the remaining distance to the fixed point is about (p - p_prev) r / (1 - r);
        // jump there. Power iteration continues from the new point, so the fixed point and the
        // stopping rule are unchanged: fewer iterations are needed to reach them.
        ratios = [ratios[1], ratios[2], error / previous_error];
        previous_error = error;
        let r = ratios[2];
        let steady = ratios.iter().all(|&x| (x - r).abs() < EXTRAPOLATION_STEADINESS * r);
        if extrapolate && steady && r < MAX_EXTRAPOLATION_RATIO && iterations - extrapolated_at >= EXTRAPOLATION_GAP {
            let step = r / (1.0 - r);
            before_jump = Some((p.clone(), error));
            let sum: f64 = p
                .par_chunks_mut(CHUNK)
                .zip(q.par_chunks(CHUNK))
                .map(|(new, old)| {
                    let mut sum = 0.0;
                    for (x, &y) in new.iter_mut().zip(old) {
                        *x = (*x + (*x - y) * step).max(0.0);
                        sum += *x;
                    }
                    sum
                })
                .collect::<Vec<f64>>()
                .iter()
                .sum();
            p.par_iter_mut().for_each(|x| *x /= sum);
            extrapolated_at = iterations;
            // The error right after a jump is not comparable with the ones before it.
            best_error = f64::INFINITY;
            best_at = iterations;
            ratios = [f64::NAN; 3];
        }
    }
    (p, iterations, error)
}

/// Extrapolate when the per-iteration error ratio changed by less than this fraction.
const EXTRAPOLATION_STEADINESS: f64 = 0.01;
/// Iterations between extrapolations, so the ratio can settle again.
const EXTRAPOLATION_GAP: usize = 10;
/// No extrapolation when the error shrinks slower than this per iteration: the step
/// r / (1 - r) would amplify whatever is not geometric in the change.
const MAX_EXTRAPOLATION_RATIO: f64 = 0.95;

/// Iterations without a new minimum error after which the power iteration stops.
const STALL_ITERATIONS: usize = 10;

/// Builds the merged adjacency. `out_f(u, w)` is the flow of link u -> v of weight w, and
/// `in_f(x, w)` that of link x -> u. With `split` (undirected), the value returned is half the
/// link's flow and is entered as both exit and enter flow of each endpoint (§3.3).
///
/// Each node's entries are a linear merge of its out-list and in-list (both sorted by the
/// other end), so they come out sorted by neighbour, with repeated links combined.
fn merged_network<L: LinkSource>(
    links: &L,
    tables: &LinkTables<L::Weight>,
    flow: Vec<f64>,
    out_f: impl Fn(usize, f64) -> f64 + Sync,
    in_f: impl Fn(usize, f64) -> f64 + Sync,
    split: bool,
) -> FlowNetwork {
    let n = flow.len();
    let merge = |u: usize, outs: &[(u32, L::Weight)], emit: &mut dyn FnMut(u32, f64, f64)| {
        merge_node(tables, u, outs, &out_f, &in_f, split, emit)
    };
    // Pass 1: merged degree of each node. Pass 2: fill disjoint slices, one per chunk of nodes.
    let degree: Vec<usize> = (0..n)
        .into_par_iter()
        .map_init(OutLinks::default, |buffers, u| merged_degree(tables, u, sorted_out_links(links, u, buffers)))
        .collect();
    let mut offsets = vec![0usize; n + 1];
    for u in 0..n {
        offsets[u + 1] = offsets[u] + degree[u];
    }
    drop(degree);
    let total = offsets[n];
    let mut neighbour = vec![0u32; total];
    let mut out_flow = vec![0f64; total];
    let mut in_flow = vec![0f64; total];
    let nb = chunk_slices(&mut neighbour, &offsets);
    let of = chunk_slices(&mut out_flow, &offsets);
    let inf = chunk_slices(&mut in_flow, &offsets);
    nb.into_par_iter().zip(of).zip(inf).enumerate().for_each(|(c, ((nb, of), inf))| {
        let mut k = 0;
        let mut buffers = OutLinks::default();
        for u in chunk_nodes(c, n) {
            merge(u, sorted_out_links(links, u, &mut buffers), &mut |x, o, f| {
                nb[k] = x;
                of[k] = o;
                inf[k] = f;
                k += 1;
            });
        }
    });
    let (enter, exit): (Vec<f64>, Vec<f64>) = (0..n)
        .into_par_iter()
        .map(|u| {
            let r = offsets[u]..offsets[u + 1];
            (in_flow[r.clone()].iter().sum::<f64>(), out_flow[r].iter().sum::<f64>())
        })
        .unzip();
    FlowNetwork { flow, enter, exit, offsets, neighbour, out_flow, in_flow }
}

/// The number of entries [`merge_node`] emits for node u: its distinct neighbours over out- and
/// in-links, self excluded.
fn merged_degree<W: Weight>(tables: &LinkTables<W>, u: usize, outs: &[(u32, W)]) -> usize {
    let ins = &tables.in_source[tables.in_offsets[u]..tables.in_offsets[u + 1]];
    let (mut i, mut j, mut count) = (0, 0, 0);
    while i < outs.len() || j < ins.len() {
        let x = outs.get(i).map_or(u32::MAX, |o| o.0).min(ins.get(j).copied().unwrap_or(u32::MAX));
        while outs.get(i).map(|o| o.0) == Some(x) {
            i += 1;
        }
        while ins.get(j) == Some(&x) {
            j += 1;
        }
        count += usize::from(x as usize != u);
    }
    count
}

/// Calls `emit(neighbour, out_flow, in_flow)` for node u's merged entries, self excluded, in
/// neighbour order. `outs` are u's out-links, as [`sorted_out_links`] gives them.
fn merge_node<W: Weight>(
    tables: &LinkTables<W>,
    u: usize,
    outs: &[(u32, W)],
    out_f: &impl Fn(usize, f64) -> f64,
    in_f: &impl Fn(usize, f64) -> f64,
    split: bool,
    emit: &mut dyn FnMut(u32, f64, f64),
) {
    let ins = tables.in_offsets[u]..tables.in_offsets[u + 1];
    let (mut i, mut j) = (0, ins.start);
    while i < outs.len() || j < ins.end {
        let next_out = if i < outs.len() { outs[i].0 } else { u32::MAX };
        let next_in = if j < ins.end { tables.in_source[j] } else { u32::MAX };
        let x = next_out.min(next_in);
        let (mut o, mut f) = (0.0, 0.0);
        while i < outs.len() && outs[i].0 == x {
            o += out_f(u, outs[i].1.into());
            i += 1;
        }
        while j < ins.end && tables.in_source[j] == x {
            f += in_f(x as usize, tables.in_weight[j].into());
            j += 1;
        }
        if x as usize != u {
            if split {
                emit(x, o + f, o + f);
            } else {
                emit(x, o, f);
            }
        }
    }
}

/// A link weight type: what a [`LinkSource`] hands out.
pub(crate) trait Weight: Copy + Default + Into<f64> + Send + Sync {}

impl<T: Copy + Default + Into<f64> + Send + Sync> Weight for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infomap::network::Network;
    use crate::rng::Rng;

    #[test]
    fn link_tables_list_links_sorted_with_repeats_in_link_order() {
        let mut rng = Rng::new(7);
        for round in 0..30 {
            // Chunks of several nodes' worth, repeated links, self-links and unusable weights.
            let n = 1 + rng.below(3 * CHUNK as u64) as usize;
            let links: Vec<(u32, u32, f64)> = (0..4 * n)
                .map(|i| {
                    let u = rng.below(n as u64) as u32;
                    let v = if rng.below(5) == 0 { u } else { rng.below(n.min(40) as u64) as u32 };
                    let w = match rng.below(10) {
                        0 => 0.0,
                        1 => -1.0,
                        _ => (i + 1) as f64,
                    };
                    (u, v, w)
                })
                .collect();
            let network = Network::from_links(n, &links);
            let tables = link_tables(&network);
            // The usable links in source order, as Network stores them (a stable sort by source).
            let mut usable_links: Vec<(u32, u32, f64)> = links.iter().copied().filter(|l| usable(l.2)).collect();
            usable_links.sort_by_key(|l| l.0);
            let (mut outs_of, mut ins_of) = (vec![Vec::new(); n], vec![Vec::new(); n]);
            for &(u, v, w) in &usable_links {
                outs_of[u as usize].push((v, w));
                ins_of[v as usize].push((u, w));
            }
            for u in 0..n {
                let mut outs = std::mem::take(&mut outs_of[u]);
                outs.sort_by_key(|o| o.0);
                let got = sorted_out_links(&network, u, &mut OutLinks::default()).to_vec();
                assert_eq!(got, outs, "round {round}: out-links of {u}");
                let ins = &ins_of[u];
                let r = tables.in_offsets[u]..tables.in_offsets[u + 1];
                let got: Vec<(u32, f64)> =
                    tables.in_source[r.clone()].iter().copied().zip(tables.in_weight[r].iter().copied()).collect();
                assert_eq!(&got, ins, "round {round}: in-links of {u}");
                assert_eq!(tables.out_weight[u], outs.iter().map(|o| o.1).sum::<f64>());
                let own: f64 = outs.iter().filter(|o| o.0 as usize == u).map(|o| o.1).sum();
                assert_eq!(tables.self_weight[u], own);
                let mut emitted = 0;
                merge_node(&tables, u, &outs, &|_, w| w, &|_, w| w, false, &mut |_, _, _| emitted += 1);
                assert_eq!(merged_degree(&tables, u, &outs), emitted);
            }
        }
    }

    /// Plain power iteration of §3.1, written out naively, run far past convergence.
    fn reference_flow(n: usize, links: &[(u32, u32, f64)], alpha: f64) -> Vec<f64> {
        let mut out_w = vec![0.0; n];
        let mut in_w = vec![0.0; n];
        let mut self_w = vec![0.0; n];
        for &(u, v, w) in links {
            out_w[u as usize] += w;
            in_w[v as usize] += w;
            if u == v {
                self_w[u as usize] += w;
            }
        }
        let total: f64 = out_w.iter().sum();
        let self_total: f64 = self_w.iter().sum();
        let mut p: Vec<f64> = (0..n).map(|u| (out_w[u] + in_w[u] - self_w[u]) / (2.0 * total - self_total)).collect();
        for _ in 0..3000 {
            let dangling: f64 = (0..n).filter(|&u| out_w[u] == 0.0).map(|u| p[u]).sum();
            let mut q: Vec<f64> = (0..n).map(|v| (alpha + (1.0 - alpha) * dangling) * out_w[v] / total).collect();
            for &(u, v, w) in links {
                q[v as usize] += (1.0 - alpha) * w / out_w[u as usize] * p[u as usize];
            }
            let sum: f64 = q.iter().sum();
            p = q.iter().map(|x| x / sum).collect();
        }
        let dangling: f64 = (0..n).filter(|&u| out_w[u] == 0.0).map(|u| p[u]).sum();
        let mut flow = vec![0.0; n];
        for &(u, v, w) in links {
            flow[v as usize] += w / out_w[u as usize] * p[u as usize] / (1.0 - dangling);
        }
        flow
    }

    #[test]
    fn extrapolated_power_iteration_reaches_the_plain_fixed_point() {
        let mut rng = Rng::new(31);
        for round in 0..20 {
            // Clustered random graphs, like k-NN graphs: most links inside groups of 10.
            let n = 50 + rng.below(150) as usize;
            let links = crate::infomap::tests::clustered_links(&mut rng, n, 20);
            let settings = FlowSettings {
                model: FlowModel::Directed,
                alpha: 0.15,
                tolerance: 1e-15,
                min_iterations: 50,
                max_iterations: 1000,
            };
            let ours = compute_flow(&Network::from_links(n, &links), &settings);
            let expected = reference_flow(n, &links, 0.15);
            for (i, (&a, &b)) in ours.network.flow.iter().zip(&expected).enumerate() {
                assert!((a - b).abs() < 1e-13, "round {round}, node {i}: {a} vs {b}");
            }
        }
    }
}
