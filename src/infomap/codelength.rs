//! The two-level map equation (spec §4).
//!
//! ```text
//! L_index  = plogp(sum_m enter_m + q_parent) - sum_m plogp(enter_m) - plogp(q_parent)
//! L_module = sum_m [plogp(exit_m + flow_m) - plogp(exit_m)] - sum_a plogp(flow_a)
//! ```
//!
//! The index codebook uses module *enter* flow and the module codebooks *exit* flow, exactly as
//! the reference does; `q_parent` is zero except in coarse-tune sub-problems (§5.5). The last
//! sum runs over the original leaves and is a constant of the network.

use super::flow::FlowNetwork;

/// `x log2 x`, zero for `x <= 0` (rounding noise such as -1e-18 included).
#[inline]
pub fn plogp(x: f64) -> f64 {
    if x > 0.0 {
        x * x.log2()
    } else {
        0.0
    }
}

/// A codelength in bits per step, split into its two parts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Codelength {
    /// Index codebook (movements between modules).
    pub index: f64,
    /// Module codebooks (movements within modules and exits).
    pub module: f64,
}

impl Codelength {
    /// Index plus module codelength.
    pub fn total(&self) -> f64 {
        self.index + self.module
    }
}

/// Flow, enter and exit flow of each module under a partition of a network's items.
#[derive(Debug, Clone, Default)]
pub(crate) struct ModuleFlows {
    pub flow: Vec<f64>,
    pub enter: Vec<f64>,
    pub exit: Vec<f64>,
}

impl ModuleFlows {
    /// Computes module flows; `module[i] < num_modules` is item i's module.
    pub fn new(net: &FlowNetwork, module: &[u32], num_modules: usize) -> Self {
        let mut m =
            ModuleFlows { flow: vec![0.0; num_modules], enter: vec![0.0; num_modules], exit: vec![0.0; num_modules] };
        for i in 0..net.n() {
            let a = module[i] as usize;
            m.flow[a] += net.flow[i];
            let mut exit = net.exit[i];
            let mut enter = net.enter[i];
            for e in net.edges(i) {
                if module[net.neighbour[e] as usize] as usize == a {
                    exit -= net.out_flow[e];
                    enter -= net.in_flow[e];
                }
            }
            m.exit[a] += exit;
            m.enter[a] += enter;
        }
        m
    }

    /// The map equation for these modules.
    pub fn codelength(&self, q_parent: f64, node_entropy: f64) -> Codelength {
        let mut sum_enter = q_parent;
        let mut enter_log_enter = 0.0;
        let mut exit_log_exit = 0.0;
        let mut flow_log_flow = 0.0;
        for m in 0..self.flow.len() {
            sum_enter += self.enter[m];
            enter_log_enter += plogp(self.enter[m]);
            exit_log_exit += plogp(self.exit[m]);
            flow_log_flow += plogp(self.exit[m] + self.flow[m]);
        }
        Codelength {
            index: plogp(sum_enter) - enter_log_enter - plogp(q_parent),
            module: flow_log_flow - exit_log_exit - node_entropy,
        }
    }
}

/// `sum_a plogp(flow_a)` over items (the leaves, when called on the leaf network).
pub(crate) fn node_entropy(flow: &[f64]) -> f64 {
    flow.iter().map(|&f| plogp(f)).sum()
}
