//! The flow of a network kept up to date while its links change (spec §3), for warm starts.
//!
//! [`compute_flow`](super::flow) solves the flow of a whole network by power iteration: right
//! for one run, too slow to repeat for every small change of a large network. [`Rates`] holds
//! the flow in a form that can be updated locally.
//!
//! # Directed flow as a linear system
//!
//! The directed model's PageRank `p` (§3.1: teleportation to links, dangling mass
//! redistributed like teleportation) is proportional to the solution `y` of
//!
//! ```text
//! y = out_w + beta P^T y        (P(u, v) = w(u, v) / out_w(u), beta = 1 - alpha)
//! ```
//!
//! because the teleportation and dangling terms of §3.1 are both proportional to `out_w`, and
//! only the scale of `p` depends on them (it is fixed by normalisation). The final unrecorded
//! step (§3.1 step 5) is scale-free too: the flow of link `u -> v` is
//! `P(u, v) y(u) / Z` with `Z` the sum of `y` over nodes with out-links, and node `v`'s flow is
//! `inflow(v) / Z`, where `inflow(v) = sum_u P(u, v) y(u)`.
//!
//! A change of a node's out-links, or new nodes, changes the system only in a few rows. `Rates`
//! keeps `y` with its residual `r = out_w + beta P^T y - y` (so `y + (I - beta P^T)^-1 r` is
//! the exact solution) and `inflow`. [`Rates::relink`] and [`Rates::add_nodes`] update `r`
//! and `inflow` for a change; [`Rates::settle`] then *pushes* residual (Gauss-Southwell: move
//! `r(u)` into `y(u)` and pass `beta P(u, v) r(u)` on to each out-neighbour `v`) until every
//! node's residual is at most [`Rates::tolerance`] times its out-weight. The work is
//! proportional to the change, not to the network: residual shrinks by `beta` at each hop.
//! Residual below the tolerance is kept, not dropped, so later updates carry it on and errors
//! do not accumulate.
//!
//! Pushes are over-relaxed ([`RELAXATION`]): a push moves `omega r(u)` and leaves
//! `(1 - omega) r(u)`. In a k-NN graph most of a change's residual circulates inside one
//! cluster, losing only `alpha` per round, and pushing a little more than the residual
//! anticipates the rounds to come: with `omega = 1.25` a 1,000-row addition to 100,000 rows
//! took about half the pushes of plain pushes, to the same accuracy (`docs/state.md`).
//!
//! # Undirected flow
//!
//! Undirected flow (§3.3) is local already: node flow is incident weight over `2W - S`. `Rates`
//! keeps each node's out-weight and in-weight (in `inflow`), and nothing needs settling.

use std::collections::VecDeque;

use super::flow::compute_flow;
use super::network::LinkSource;
use super::{FlowModel, InfomapConfig};

/// A network's flow, kept up to date as links change; see the module docs of `infomap/rates.rs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    model: FlowModel,
    alpha: f64,
    tolerance: f64,
    /// `y`: unnormalised visit rates (directed model; zero for the undirected one).
    rate: Vec<f64>,
    /// `r`: what `y` still lacks, `out_w + beta P^T y - y` (directed model).
    residual: Vec<f64>,
    /// Out-weight of each node, self-link included.
    out_weight: Vec<f64>,
    /// Self-link weight of each node.
    self_weight: Vec<f64>,
    /// Directed: `sum_u P(u, v) y(u)`; undirected: in-weight. Self-links included.
    inflow: Vec<f64>,
    /// Nodes whose residual changed since the last [`Rates::settle`].
    pending: Vec<u32>,
}

/// The arrays of a [`Rates`], for saving it and building it again ([`Rates::from_parts`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RatesParts {
    /// Unnormalised visit rates `y`.
    pub rate: Vec<f64>,
    /// Residual `r`.
    pub residual: Vec<f64>,
    /// Out-weight of each node.
    pub out_weight: Vec<f64>,
    /// Self-link weight of each node.
    pub self_weight: Vec<f64>,
    /// `sum_u P(u, v) y(u)` (directed) or in-weight (undirected).
    pub inflow: Vec<f64>,
}

/// What one [`Rates::settle`] did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Settled {
    /// Residual pushes (each visits one node's out-links).
    pub pushes: usize,
    /// Distinct nodes whose rate changed.
    pub nodes: usize,
}

/// Default of [`Rates::tolerance`]: residual kept per unit of out-weight. Node flows are then
/// within about 1e-4 of their exact values, relatively, and codelengths within about 1e-7
/// (a 1,000-row addition to 100,000 rows, measured against flow solved from scratch).
pub const DEFAULT_RATE_TOLERANCE: f64 = 1e-4;

/// Over-relaxation of a push (see the module docs). Stable well beyond it: 1.6 converged too.
pub const RELAXATION: f64 = 1.25;

/// Pushes per node after which [`Rates::settle`] stops over-relaxing (a safeguard: it never
/// came near in any measured case).
const RELAXED_PUSHES_PER_NODE: usize = 200;

/// The normalised flow of every node and link, read from a [`Rates`] ([`Rates::view`]).
#[derive(Debug, Clone, Copy)]
pub struct FlowView<'a> {
    rates: &'a Rates,
    /// `Z` (directed) or `2W - S` (undirected).
    norm: f64,
}

impl FlowView<'_> {
    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.rates.out_weight.len()
    }

    /// Flow (visit rate) of node `v`.
    pub fn node_flow(&self, v: usize) -> f64 {
        let r = self.rates;
        match r.model {
            FlowModel::Directed => r.inflow[v] / self.norm,
            FlowModel::Undirected => (r.out_weight[v] + r.inflow[v] - r.self_weight[v]) / self.norm,
        }
    }

    /// Flow of node `v`'s links to other nodes (its exit flow as an item of the optimiser).
    pub fn node_exit(&self, v: usize) -> f64 {
        let r = self.rates;
        match r.model {
            FlowModel::Directed => (r.out_weight[v] - r.self_weight[v]) * self.link_scale(v),
            FlowModel::Undirected => (r.out_weight[v] + r.inflow[v] - 2.0 * r.self_weight[v]) / self.norm,
        }
    }

    /// Flow of other nodes' links to node `v` (its enter flow as an item of the optimiser).
    pub fn node_enter(&self, v: usize) -> f64 {
        let r = self.rates;
        match r.model {
            FlowModel::Directed => r.inflow[v] / self.norm - r.self_weight[v] * self.link_scale(v),
            FlowModel::Undirected => self.node_exit(v),
        }
    }

    /// The flow of a link out of `u` per unit of weight: a link `u -> v` of weight `w` carries
    /// `w * link_scale(u)` (directed: `y(u) / (out_w(u) Z)`; undirected: `1 / (2W - S)` in each
    /// direction).
    pub fn link_scale(&self, u: usize) -> f64 {
        let r = self.rates;
        match r.model {
            FlowModel::Directed if r.out_weight[u] > 0.0 => r.rate[u] / r.out_weight[u] / self.norm,
            FlowModel::Directed => 0.0,
            FlowModel::Undirected => 1.0 / self.norm,
        }
    }

    /// The flow model.
    pub fn model(&self) -> FlowModel {
        self.rates.model
    }
}

impl Rates {
    /// The flow of a network of no nodes, for `model` with teleportation probability `alpha`
    /// (directed model only).
    pub fn new(model: FlowModel, alpha: f64) -> Self {
        Rates {
            model,
            alpha,
            tolerance: DEFAULT_RATE_TOLERANCE,
            rate: Vec::new(),
            residual: Vec::new(),
            out_weight: Vec::new(),
            self_weight: Vec::new(),
            inflow: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// The flow of `network` under `config`'s model, solved from scratch (power iteration, as
    /// [`super::Infomap::run`] computes it).
    pub fn compute<L: LinkSource>(network: &L, config: &InfomapConfig) -> Self {
        let settings = super::flow::FlowSettings {
            model: config.flow_model,
            alpha: config.teleportation_probability,
            tolerance: config.flow_tolerance,
            min_iterations: config.min_flow_iterations,
            max_iterations: config.max_flow_iterations,
        };
        let flow = compute_flow(network, &settings);
        Self::from_flow(network, &flow.network.flow, config.flow_model, config.teleportation_probability)
    }

    /// The rates behind a converged node flow of `network` (a [`super::Partition::node_flow`]
    /// from [`super::Infomap::run`] on it), so that a run's flow need not be solved again.
    ///
    /// Directed: the final step of §3.1 gives `P^T p = (1 - D) flow`, and with the dangling mass
    /// `D = beta s / (1 + beta s)` (`s`: the flow of nodes without out-links) the PageRank is
    /// `p = beta (1 - D) flow + (alpha + beta D) out_w / W`; `y` is `p` scaled to solve
    /// `y = out_w + beta P^T y`. The residual of the given flow's rounding is computed exactly,
    /// and kept.
    ///
    /// # Panics
    ///
    /// When `node_flow` does not have one entry per node.
    ///
    /// # Complexity
    ///
    /// Two passes over the links, on one thread.
    pub fn from_flow<L: LinkSource>(network: &L, node_flow: &[f64], model: FlowModel, alpha: f64) -> Self {
        let n = network.num_nodes();
        assert_eq!(node_flow.len(), n, "one flow per node");
        let mut rates = Rates::new(model, alpha);
        rates.add_nodes(n);
        rates.pending.clear();
        for u in 0..n {
            let (mut out, mut own) = (0.0, 0.0);
            network.for_each_out_link(u, |v, w| {
                let w: f64 = w.into();
                if usable(w) {
                    out += w;
                    if v as usize == u {
                        own += w;
                    }
                }
            });
            rates.out_weight[u] = out;
            rates.self_weight[u] = own;
        }
        if model == FlowModel::Undirected {
            for u in 0..n {
                network.for_each_out_link(u, |v, w| {
                    let w: f64 = w.into();
                    if usable(w) {
                        rates.inflow[v as usize] += w;
                    }
                });
            }
            return rates;
        }
        let total: f64 = rates.out_weight.iter().sum();
        if total <= 0.0 {
            return rates;
        }
        let beta = 1.0 - alpha;
        let s: f64 = (0..n).filter(|&u| rates.out_weight[u] <= 0.0).map(|u| node_flow[u]).sum();
        let dangling = beta * s / (1.0 + beta * s);
        let teleport = alpha + beta * dangling;
        // p = beta (1 - D) flow + teleport out_w / W, scaled by W / teleport.
        let scale = total / teleport;
        for ((rate, &flow), &out_weight) in rates.rate.iter_mut().zip(node_flow).zip(&rates.out_weight).take(n) {
            *rate = (beta * (1.0 - dangling) * flow + teleport * out_weight / total) * scale;
        }
        // r = out_w + beta P^T y - y, and inflow = P^T y.
        for u in 0..n {
            rates.residual[u] += rates.out_weight[u] - rates.rate[u];
            if rates.out_weight[u] > 0.0 {
                let c = rates.rate[u] / rates.out_weight[u];
                network.for_each_out_link(u, |v, w| {
                    let w: f64 = w.into();
                    if usable(w) {
                        rates.inflow[v as usize] += c * w;
                        rates.residual[v as usize] += beta * c * w;
                    }
                });
            }
        }
        rates
    }

    /// A `Rates` from its saved arrays (all of one length) and model.
    ///
    /// # Errors
    ///
    /// A description of the problem when the arrays differ in length or hold a value that is
    /// not finite, or a negative weight or rate.
    pub fn from_parts(parts: RatesParts, model: FlowModel, alpha: f64) -> Result<Self, String> {
        let n = parts.rate.len();
        let arrays = [&parts.residual, &parts.out_weight, &parts.self_weight, &parts.inflow];
        if arrays.iter().any(|a| a.len() != n) {
            return Err("flow arrays of different lengths".to_string());
        }
        if arrays.iter().chain([&&parts.rate]).any(|a| a.iter().any(|x| !x.is_finite())) {
            return Err("a flow value that is not finite".to_string());
        }
        if [&parts.rate, &parts.out_weight, &parts.self_weight].iter().any(|a| a.iter().any(|&x| x < 0.0)) {
            return Err("a negative rate or weight".to_string());
        }
        Ok(Rates {
            model,
            alpha,
            tolerance: DEFAULT_RATE_TOLERANCE,
            rate: parts.rate,
            residual: parts.residual,
            out_weight: parts.out_weight,
            self_weight: parts.self_weight,
            inflow: parts.inflow,
            pending: Vec::new(),
        })
    }

    /// The arrays, borrowed, in the order of [`RatesParts`]' fields: rate, residual,
    /// out-weight, self-weight, inflow.
    pub fn arrays(&self) -> [&[f64]; 5] {
        [&self.rate, &self.residual, &self.out_weight, &self.self_weight, &self.inflow]
    }

    /// Reserves room for `additional` more nodes.
    pub fn reserve(&mut self, additional: usize) {
        for array in [&mut self.rate, &mut self.residual, &mut self.out_weight, &mut self.self_weight, &mut self.inflow]
        {
            array.reserve_exact(additional);
        }
    }

    /// The arrays, for saving.
    pub fn parts(&self) -> RatesParts {
        RatesParts {
            rate: self.rate.clone(),
            residual: self.residual.clone(),
            out_weight: self.out_weight.clone(),
            self_weight: self.self_weight.clone(),
            inflow: self.inflow.clone(),
        }
    }

    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.out_weight.len()
    }

    /// The flow model.
    pub fn model(&self) -> FlowModel {
        self.model
    }

    /// Residual left unsettled per unit of a node's out-weight. Default
    /// [`DEFAULT_RATE_TOLERANCE`].
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }

    /// Sets [`Rates::tolerance`].
    pub fn set_tolerance(&mut self, tolerance: f64) {
        self.tolerance = tolerance;
    }

    /// Out-weight of node `u` (self-link included).
    pub fn out_weight(&self, u: usize) -> f64 {
        self.out_weight[u]
    }

    /// Sum of the absolute residuals: how far `y` is from the exact solution, in units of
    /// out-weight (zero for undirected flow).
    pub fn residual_norm(&self) -> f64 {
        self.residual.iter().map(|r| r.abs()).sum()
    }

    /// Appends `count` nodes without links.
    pub fn add_nodes(&mut self, count: usize) {
        let n = self.num_nodes() + count;
        for array in [&mut self.rate, &mut self.residual, &mut self.out_weight, &mut self.self_weight, &mut self.inflow]
        {
            array.resize(n, 0.0);
        }
    }

    /// Records that node `u`'s out-links changed from `old` to `new` (`(target, weight)`
    /// pairs; weights that are not finite and positive are ignored, as everywhere). Flow is
    /// updated by the next [`Rates::settle`].
    ///
    /// # Panics
    ///
    /// When a node is not `< num_nodes()`.
    pub fn relink(&mut self, u: usize, old: &[(u32, f64)], new: &[(u32, f64)]) {
        let old_out: f64 = old.iter().filter(|l| usable(l.1)).map(|l| l.1).sum();
        let new_out: f64 = new.iter().filter(|l| usable(l.1)).map(|l| l.1).sum();
        self.out_weight[u] = new_out;
        self.self_weight[u] = new.iter().filter(|l| usable(l.1) && l.0 as usize == u).map(|l| l.1).sum();
        match self.model {
            FlowModel::Undirected => {
                for &(v, w) in old.iter().filter(|l| usable(l.1)) {
                    self.inflow[v as usize] -= w;
                }
                for &(v, w) in new.iter().filter(|l| usable(l.1)) {
                    self.inflow[v as usize] += w;
                }
            }
            FlowModel::Directed => {
                let beta = 1.0 - self.alpha;
                let y = self.rate[u];
                self.residual[u] += new_out - old_out;
                self.pending.push(u as u32);
                if old_out > 0.0 {
                    for &(v, w) in old.iter().filter(|l| usable(l.1)) {
                        let f = y * w / old_out;
                        self.inflow[v as usize] -= f;
                        self.residual[v as usize] -= beta * f;
                        self.pending.push(v);
                    }
                }
                if new_out > 0.0 {
                    for &(v, w) in new.iter().filter(|l| usable(l.1)) {
                        let f = y * w / new_out;
                        self.inflow[v as usize] += f;
                        self.residual[v as usize] += beta * f;
                        self.pending.push(v);
                    }
                }
            }
        }
    }

    /// Pushes residual (over-relaxed by a factor of 1.25) until every node's is at most the
    /// tolerance times its out-weight (any residual of a node without out-links is pushed),
    /// starting from the nodes changed since the last call. `network` must be the network as it is now, with the links given to
    /// [`Rates::relink`].
    ///
    /// Deterministic: nodes are pushed first in, first out, from the changed nodes in the order
    /// they were changed.
    ///
    /// # Complexity
    ///
    /// Each push visits one node's out-links; the residual shrinks by `beta` per hop, so the
    /// pushes are about `log(change / tolerance) / log(1 / beta)` per node the change reaches.
    pub fn settle<L: LinkSource>(&mut self, network: &L) -> Settled {
        let pending = std::mem::take(&mut self.pending);
        if self.model == FlowModel::Undirected {
            return Settled::default();
        }
        let n = self.num_nodes();
        assert_eq!(network.num_nodes(), n, "the network has as many nodes as the rates");
        let beta = 1.0 - self.alpha;
        let tolerance = self.tolerance;
        let mut queued = vec![false; n];
        let mut changed = vec![false; n];
        let mut queue = VecDeque::new();
        let over = |residual: f64, out_weight: f64| residual.abs() > tolerance * out_weight;
        for &u in &pending {
            if !queued[u as usize] && over(self.residual[u as usize], self.out_weight[u as usize]) {
                queued[u as usize] = true;
                queue.push_back(u);
            }
        }
        let mut settled = Settled::default();
        let mut omega = RELAXATION;
        let relaxed_pushes = RELAXED_PUSHES_PER_NODE.saturating_mul(n);
        while let Some(u) = queue.pop_front() {
            let u = u as usize;
            queued[u] = false;
            let residual = self.residual[u];
            if !over(residual, self.out_weight[u]) {
                continue;
            }
            if settled.pushes == relaxed_pushes {
                omega = 1.0;
            }
            // A node without out-links passes nothing on: its residual is simply taken up.
            let r = if self.out_weight[u] > 0.0 { omega * residual } else { residual };
            let left = residual - r;
            self.residual[u] = left;
            self.rate[u] += r;
            if left != 0.0 && over(left, self.out_weight[u]) {
                queued[u] = true;
                queue.push_back(u as u32);
            }
            settled.pushes += 1;
            if !changed[u] {
                changed[u] = true;
                settled.nodes += 1;
            }
            let out = self.out_weight[u];
            if out <= 0.0 {
                continue;
            }
            let c = r / out;
            let (residual, inflow, out_weight) = (&mut self.residual, &mut self.inflow, &self.out_weight);
            network.for_each_out_link(u, |v, w| {
                let w: f64 = w.into();
                if !usable(w) {
                    return;
                }
                let v = v as usize;
                inflow[v] += c * w;
                residual[v] += beta * c * w;
                if !queued[v] && over(residual[v], out_weight[v]) {
                    queued[v] = true;
                    queue.push_back(v as u32);
                }
            });
        }
        settled
    }

    /// The normalised flows.
    pub fn view(&self) -> FlowView<'_> {
        let norm = match self.model {
            FlowModel::Directed => {
                self.rate.iter().zip(&self.out_weight).filter(|(_, &w)| w > 0.0).map(|(&y, _)| y).sum::<f64>()
            }
            FlowModel::Undirected => 2.0 * self.out_weight.iter().sum::<f64>() - self.self_weight.iter().sum::<f64>(),
        };
        // A network without links has no flow; any positive norm keeps every flow at zero.
        FlowView { rates: self, norm: if norm > 0.0 { norm } else { 1.0 } }
    }
}

#[inline]
fn usable(w: f64) -> bool {
    w.is_finite() && w > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infomap::network::Network;
    use crate::rng::Rng;

    /// A clustered random graph like a k-NN graph: most links inside groups of 10.
    fn clustered(rng: &mut Rng, n: usize) -> Vec<(u32, u32, f64)> {
        crate::infomap::tests::clustered_links(rng, n, 15)
    }

    fn out_links(links: &[(u32, u32, f64)], u: u32) -> Vec<(u32, f64)> {
        links.iter().filter(|l| l.0 == u).map(|l| (l.1, l.2)).collect()
    }

    fn assert_same_flow(a: &Rates, b: &Rates, tolerance: f64) {
        let (va, vb) = (a.view(), b.view());
        for v in 0..a.num_nodes() {
            for (x, y, what) in [
                (va.node_flow(v), vb.node_flow(v), "flow"),
                (va.node_exit(v), vb.node_exit(v), "exit"),
                (va.node_enter(v), vb.node_enter(v), "enter"),
            ] {
                assert!((x - y).abs() <= tolerance * (1e-3 + y.abs()), "node {v} {what}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn from_flow_recovers_a_solution_with_negligible_residual() {
        let mut rng = Rng::new(3);
        let links = clustered(&mut rng, 300);
        let net = Network::from_links(300, &links);
        let rates = Rates::compute(&net, &InfomapConfig::default());
        let total: f64 = rates.out_weight.iter().sum();
        assert!(rates.residual_norm() < 1e-9 * total, "{}", rates.residual_norm());
        // Node flows sum to one and are the power iteration's.
        let view = rates.view();
        let sum: f64 = (0..300).map(|v| view.node_flow(v)).sum();
        assert!((sum - 1.0).abs() < 1e-12);
        let settings = crate::infomap::flow::FlowSettings {
            model: FlowModel::Directed,
            alpha: 0.15,
            tolerance: 1e-15,
            min_iterations: 50,
            max_iterations: 1000,
        };
        let flow = compute_flow(&net, &settings).network;
        for v in 0..300 {
            assert!((view.node_flow(v) - flow.flow[v]).abs() < 1e-14);
            assert!((view.node_exit(v) - flow.exit[v]).abs() < 1e-14);
            assert!((view.node_enter(v) - flow.enter[v]).abs() < 1e-14);
        }
    }

    #[test]
    fn relinking_and_adding_nodes_then_settling_matches_a_fresh_solve() {
        for model in [FlowModel::Directed, FlowModel::Undirected] {
            let mut rng = Rng::new(8);
            let n0 = 400;
            let config = InfomapConfig { flow_model: model, ..InfomapConfig::default() };
            let mut links = clustered(&mut rng, n0);
            let mut rates = Rates::compute(&Network::from_links(n0, &links), &config);
            rates.set_tolerance(1e-12);
            for round in 0..4 {
                // Add 20 nodes linking into the graph, and rewire 15 old nodes (some dangling).
                let n = rates.num_nodes();
                rates.add_nodes(20);
                let m = n + 20;
                let mut new_links = links.clone();
                for x in n..m {
                    for _ in 0..5 {
                        new_links.push((x as u32, rng.below(m as u64) as u32, 0.5 + rng.unit_f64()));
                    }
                }
                for _ in 0..15 {
                    let u = rng.below(n as u64) as u32;
                    new_links.retain(|l| l.0 != u);
                    if rng.below(4) != 0 {
                        for _ in 0..4 {
                            new_links.push((u, rng.below(m as u64) as u32, 0.5 + rng.unit_f64()));
                        }
                    }
                }
                for u in 0..m as u32 {
                    let (old, new) = (out_links(&links, u), out_links(&new_links, u));
                    if old != new {
                        rates.relink(u as usize, &old, &new);
                    }
                }
                links = new_links;
                let net = Network::from_links(m, &links);
                let settled = rates.settle(&net);
                if model == FlowModel::Directed {
                    assert!(settled.pushes > 0, "round {round}");
                }
                let fresh = Rates::compute(&net, &config);
                assert_same_flow(&rates, &fresh, 1e-8);
            }
        }
    }

    #[test]
    fn settling_is_local_and_carries_what_it_leaves() {
        // Two far-apart halves: a change in one leaves the other's rates alone.
        let mut rng = Rng::new(21);
        let mut links: Vec<(u32, u32, f64)> = clustered(&mut rng, 200);
        links.extend(clustered(&mut rng, 200).into_iter().map(|(u, v, w)| (u + 200, v + 200, w)));
        let net = Network::from_links(400, &links);
        let mut rates = Rates::compute(&net, &InfomapConfig::default());
        let before = rates.clone();
        let old = out_links(&links, 5);
        let new: Vec<(u32, f64)> = vec![(7, 1.0), (8, 0.7)];
        links.retain(|l| l.0 != 5);
        links.extend(new.iter().map(|&(v, w)| (5, v, w)));
        rates.relink(5, &old, &new);
        rates.set_tolerance(1e-3);
        let net = Network::from_links(400, &links);
        let settled = rates.settle(&net);
        assert!(settled.nodes > 0 && settled.nodes <= 200, "{settled:?}");
        assert_eq!(rates.rate[200..], before.rate[200..]);
        // A coarse tolerance leaves residual, which a finer settle later takes up.
        rates.set_tolerance(1e-13);
        rates.pending.extend(0..400);
        rates.settle(&net);
        assert_same_flow(&rates, &Rates::compute(&net, &InfomapConfig::default()), 1e-9);
    }

    #[test]
    fn parts_round_trip_and_bad_parts_are_refused() {
        let mut rng = Rng::new(4);
        let links = clustered(&mut rng, 50);
        let rates = Rates::compute(&Network::from_links(50, &links), &InfomapConfig::default());
        let back = Rates::from_parts(rates.parts(), FlowModel::Directed, 0.15).unwrap();
        assert_eq!(back, rates);
        let mut parts = rates.parts();
        parts.inflow.pop();
        assert!(Rates::from_parts(parts, FlowModel::Directed, 0.15).is_err());
        let mut parts = rates.parts();
        parts.rate[3] = f64::NAN;
        assert!(Rates::from_parts(parts, FlowModel::Directed, 0.15).is_err());
    }
}
