//! One function per command: turn parsed arguments into library calls and print the results.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use face_cluster::infomap::{FlowModel, Infomap, InfomapConfig, LinkSource};
use face_cluster::io::network::{read_clu, read_link_list, write_clu};

use crate::cli::{Cli, Command, InfomapArgs};
use crate::term::StderrProgress;

/// Runs the command `cli` asks for.
pub fn dispatch(cli: Cli) -> Result<()> {
    if cli.global.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(cli.global.threads)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    let progress = StderrProgress::new(cli.global.quiet);
    match cli.command {
        Some(Command::Infomap(args)) => infomap(&args, &progress),
        Some(Command::Knn(_)) | Some(Command::Eval(_)) | None => anyhow::bail!("not implemented yet"),
    }
}

fn infomap(args: &InfomapArgs, progress: &StderrProgress) -> Result<()> {
    let started = Instant::now();
    let links = read_link_list(&args.links)?;
    let read_secs = started.elapsed().as_secs_f64();
    let n = links.network.num_nodes();
    let config = InfomapConfig {
        flow_model: if args.undirected { FlowModel::Undirected } else { FlowModel::Directed },
        trials: args.trials.max(1),
        seed: args.seed,
        ..InfomapConfig::default()
    };
    let infomap = Infomap::new(config);
    let partition = match &args.cluster_data {
        Some(clu) => infomap.codelength_of(&links.network, &read_clu(clu, &links.ids)?),
        None => infomap.run(&links.network),
    };
    let non_trivial = {
        let mut sizes = vec![0usize; partition.num_modules];
        partition.modules.iter().for_each(|&m| sizes[m as usize] += 1);
        sizes.iter().filter(|&&s| s > 1).count()
    };
    if let Some(out) = &args.output {
        let header = format!(
            "face-cluster {} infomap {}\n{} trials, seed {}",
            env!("CARGO_PKG_VERSION"),
            args.links.display(),
            infomap.config().trials,
            infomap.config().seed
        );
        write_clu(out, &links.ids, &partition, &header)?;
    }
    progress.note(&format!(
        "{n} nodes, {} links: {} modules ({non_trivial} non-trivial), codelength {:.10} bits \
         (one-level {:.10}); read {read_secs:.2}s, flow {:.2}s ({} iterations), search {:.2}s",
        links.network.num_links(),
        partition.num_modules,
        partition.codelength,
        partition.one_level_codelength,
        partition.flow_secs,
        partition.flow_iterations,
        partition.search_secs,
    ));
    if args.json {
        let summary = serde_json::json!({
            "nodes": n,
            "links": links.network.num_links(),
            "modules": partition.num_modules,
            "non_trivial_modules": non_trivial,
            "codelength": partition.codelength,
            "index_codelength": partition.index_codelength,
            "module_codelength": partition.module_codelength,
            "one_level_codelength": partition.one_level_codelength,
            "trial_codelengths": partition.trial_codelengths,
            "best_trial": partition.best_trial,
            "flow_iterations": partition.flow_iterations,
            "read_secs": read_secs,
            "flow_secs": partition.flow_secs,
            "search_secs": partition.search_secs,
            "peak_rss_bytes": face_cluster::report::peak_rss_bytes(),
        });
        let mut out = std::io::stdout().lock();
        writeln!(out, "{summary}")?;
    }
    Ok(())
}
