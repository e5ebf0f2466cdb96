#!/usr/bin/env python3
"""Side by side: the face-cluster-by-infomap pipeline as the seed runs it, and face-cluster, on
the same files, each side in a process of its own.

The seed's side follows its script (xiaoxiong74/face-cluster-by-infomap,
face-cluster-by-infomap.py) step by step, with the faiss-cpu index it names:

  load     np.fromfile of the raw float32 .bin, reshape to (n, dim), L2-normalise in place
  knn      faiss IndexFlatIP, add all rows, search all rows for k neighbours (self included);
           the seed's per-row list of (ids, 1 - sims), np.array of it, argsort by distance
  links    a Python loop over every row's neighbours: skip the row itself, keep i -> j while
           distance <= 1 - min_sim (weight 1 - distance), stop at the first that is not; rows
           that keep nothing are singletons
  infomap  infomap.Infomap("--two-level --directed"), one add_link call per link, run(), the
           module of every leaf of the tree; each singleton then becomes a cluster of its own
  eval     the labels file read line by line, then the learn-to-cluster metrics the seed
           imports: pairwise (scikit-learn's sparse contingency matrix), BCubed (a loop over
           true clusters, intersecting index lists), NMI (scikit-learn)

Two departures, both forced: infomap 2.x renamed addLink to add_link and iterTree to tree
(the seed was written for infomap 1.x), and the seed's label loop, which also walks the tree's
module nodes (physicalId 0) and so can overwrite row 0's label, is restricted to leaves. tqdm
progress bars are left out.

face-cluster runs twice, each with `--report` and the ground truth (its stages come from the
report): with `--index Flat`, exact search as the seed, so that both sides cluster the same
graph and the Infomap stages compare like for like; and as a user runs it, with the default
index (`--index auto`: exact below a size, an approximate search above, the choice named in
the table). The end-to-end ratio and the quality verdict are those of the default run.

Both sides are timed per stage inside the process, and as a whole from outside (`wall`:
interpreter start and imports included). Peak RSS is each process's own maximum resident set
(os.wait4's rusage). The seed runs twice: as installed, and with OPENBLAS_CORETYPE set to the
fastest OpenBLAS kernel for this CPU, found by timing a Flat search with each candidate
(faiss-cpu's wheels bundle their own OpenBLAS; the script prints which build and kernel).

Usage (from the repository root, after `cargo build --release`; the binary is $FACE_CLUSTER,
else $CARGO_TARGET_DIR/release/face-cluster, else target/release/face-cluster):
    bash bench/compare/pipeline_compare.sh --data DIR[,DIR...] [--k 50] [--min-sim 0.58] [--repeat R]
DIR holds feats.bin (raw float32, --dim wide) and labels.meta, as `face-cluster synth` writes.
Results go to bench/out/ (git-ignored): one JSON per run, the labels of each side.
`--from-json A.json,B.json` prints the table of earlier runs without running anything.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from common import ROOT, binary

OUT = os.path.join(ROOT, "bench", "out", "pipeline_compare")
RESULT_MARK = "PIPELINE_COMPARE_RESULT "
CORETYPE_CANDIDATES = "Haswell,Zen,Sandybridge"


# ---------------------------------------------------------------------------------------------
# The seed's side, run in a child process (`--child seed`).


def read_labels_like_seed(path):
    """The seed's read_meta + intdict2ndarray: a dict per label, then an array (float64, as the
    seed's np.zeros(len) + default)."""
    import numpy as np

    idx2lb, lb2idxs = {}, {}
    with open(path) as f:
        for idx, line in enumerate(f.readlines()):
            lb = int(line.strip())
            lb2idxs.setdefault(lb, []).append(idx)
            idx2lb[idx] = lb
    arr = np.zeros(len(idx2lb)) - 1
    for idx, lb in idx2lb.items():
        arr[idx] = lb
    return arr


def pairwise_scores(gt, pred):
    """learn-to-cluster's pairwise precision/recall/F: pairs inside clusters, from scikit-learn's
    sparse contingency matrix."""
    import numpy as np
    from sklearn.metrics.cluster import contingency_matrix

    n = gt.shape[0]
    c = contingency_matrix(gt, pred, sparse=True)
    tk = np.dot(c.data, c.data) - n
    pk = np.sum(np.asarray(c.sum(axis=0)).ravel() ** 2) - n
    qk = np.sum(np.asarray(c.sum(axis=1)).ravel() ** 2) - n
    p, r = tk / pk, tk / qk
    return p, r, 2 * p * r / (p + r)


def bcubed_scores(gt, pred):
    """learn-to-cluster's BCubed precision/recall/F: for each true cluster, the predicted labels
    of its members, and the size of its intersection with each of those predicted clusters."""
    import numpy as np

    def members(labels):
        groups = {}
        for idx, lb in enumerate(labels):
            groups.setdefault(lb, []).append(idx)
        return groups

    gt_groups, pred_groups = members(gt), members(pred)
    p_sum = r_sum = 0.0
    total = 0
    for rows in gt_groups.values():
        total += len(rows)
        for lb in np.unique(pred[rows]):
            cluster = pred_groups[lb]
            shared = float(np.intersect1d(rows, cluster).size)
            p_sum += shared**2 / len(cluster)
            r_sum += shared**2 / len(rows)
    p, r = p_sum / total, r_sum / total
    return p, r, 2 * p * r / (p + r)


def seed_child(args):
    import warnings

    t_start = time.perf_counter()
    import numpy as np
    import faiss
    import infomap
    from sklearn.metrics import normalized_mutual_info_score

    warnings.filterwarnings("ignore")  # infomap 2.16 flags `tree` as legacy API
    import_secs = time.perf_counter() - t_start
    stages = {}

    t = time.perf_counter()
    feats = np.fromfile(args.feats, dtype=np.float32).reshape(-1, args.dim)
    feats /= np.linalg.norm(feats, axis=1).reshape(-1, 1)
    stages["load"] = time.perf_counter() - t

    t = time.perf_counter()
    index = faiss.IndexFlatIP(args.dim)
    index.add(feats)
    sims, ids = index.search(feats, k=args.k)
    knns = [(np.array(row_ids, dtype=np.int32), 1 - np.array(row_sims, dtype=np.float32))
            for row_ids, row_sims in zip(ids, sims)]
    del sims, ids
    knns = np.array(knns)  # (n, 2, k), float64 as the seed's
    nbrs = knns[:, 0, :].astype(np.int32)
    dists = knns[:, 1, :]
    order = np.argsort(dists, axis=1)
    rows = np.arange(order.shape[0]).reshape(-1, 1)
    dists, nbrs = dists[rows, order], nbrs[rows, order]
    del knns, order, rows
    stages["knn"] = time.perf_counter() - t

    t = time.perf_counter()
    max_dist = 1 - args.min_sim
    singles, links = [], {}
    for i in range(nbrs.shape[0]):
        kept = 0
        for j in range(len(nbrs[i])):
            if nbrs[i][j] == i:
                continue
            if dists[i][j] > max_dist:
                break
            links[(i, nbrs[i][j])] = float(1 - dists[i][j])
            kept += 1
        if kept == 0:
            singles.append(i)
    stages["links"] = time.perf_counter() - t

    t = time.perf_counter()
    im = infomap.Infomap("--two-level --directed")
    for (i, j), sim in links.items():
        im.add_link(int(i), int(j), sim)
    t_run = time.perf_counter()
    im.run()
    run_secs = time.perf_counter() - t_run
    idx2label, modules = {}, set()
    for node in im.tree:
        if node.is_leaf:
            idx2label[node.physicalId] = node.moduleIndex()
            modules.add(node.moduleIndex())
    next_label = len(modules)
    for i in singles:
        idx2label[i] = next_label
        next_label += 1
    pred = np.zeros(len(idx2label)) - 1
    for idx, lb in idx2label.items():
        pred[idx] = lb
    stages["infomap"] = time.perf_counter() - t
    stages["infomap_run"] = run_secs

    t = time.perf_counter()
    gt = read_labels_like_seed(args.labels)
    scores = {"pairwise": pairwise_scores(gt, pred), "bcubed": bcubed_scores(gt, pred),
              "nmi": normalized_mutual_info_score(gt, pred)}
    stages["eval"] = time.perf_counter() - t
    stages["total"] = sum(v for key, v in stages.items() if key != "infomap_run")

    np.savetxt(args.labels_out, pred.astype(np.int64), fmt="%d")
    result = {
        "stages_secs": stages, "import_secs": import_secs, "links": len(links),
        "singletons": len(singles), "modules": len(modules), "clusters": next_label,
        "scores": {"pairwise": list(map(float, scores["pairwise"])),
                   "bcubed": list(map(float, scores["bcubed"])), "nmi": float(scores["nmi"])},
        "versions": {"numpy": np.__version__, "faiss": faiss.__version__,
                     "infomap": infomap.__version__},
        "blas": blas_info(),
    }
    print(RESULT_MARK + json.dumps(result), flush=True)


def blas_info():
    """The BLAS and OpenMP libraries loaded in this process (threadpoolctl, shipped with
    scikit-learn), with their versions, threading layers and kernels."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("internal_api", "version", "threading_layer", "architecture", "num_threads", "filepath")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def probe_child(args):
    """Times one exact faiss search of the first `--probe-rows` rows against themselves."""
    import numpy as np
    import faiss

    feats = np.fromfile(args.feats, dtype=np.float32, count=args.probe_rows * args.dim)
    feats = feats.reshape(-1, args.dim)
    feats /= np.linalg.norm(feats, axis=1).reshape(-1, 1)
    index = faiss.IndexFlatIP(args.dim)
    index.add(feats)
    index.search(feats[:256], k=args.k)  # warm-up: thread pools, page faults
    secs = float("inf")
    for _ in range(args.probe_repeats):
        t = time.perf_counter()
        index.search(feats, k=args.k)
        secs = min(secs, time.perf_counter() - t)
    kernels = [b.get("architecture") for b in blas_info() if b.get("internal_api") == "openblas"]
    print(RESULT_MARK + json.dumps({"secs": secs, "kernels": kernels}), flush=True)


# ---------------------------------------------------------------------------------------------
# The parent: runs both sides, measures them from outside, prints the table.


def run_process(cmd, env=None):
    """Runs `cmd`; returns its stdout, stderr, outside wall time and peak RSS in bytes."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        # wait4, not Popen.wait: it also returns this child's own rusage (its peak RSS).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed with status {proc.returncode}:\n{stderr[-3000:]}")
    return stdout, stderr, wall, usage.ru_maxrss * 1024


def child_result(out):
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    raise SystemExit("the child printed no result:\n" + out[-3000:])


def child_cmd(mode, feats, args, extra=()):
    return [sys.executable, os.path.abspath(__file__), "--child", mode, "--feats", feats,
            "--dim", str(args.dim), "--k", str(args.k), *extra]


def env_with(**values):
    env = dict(os.environ)
    for key, value in values.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def best_coretype(feats, args):
    """Times a Flat search with OpenBLAS's default kernel and each candidate; returns the
    fastest candidate and all timings."""
    timings = {}
    for coretype in ["default"] + args.coretypes.split(","):
        env = env_with(OPENBLAS_CORETYPE=None if coretype == "default" else coretype)
        cmd = child_cmd("probe", feats, args,
                        ["--probe-rows", str(args.probe_rows), "--probe-repeats", str(args.probe_repeats)])
        try:
            r = child_result(run_process(cmd, env)[0])
        except SystemExit as e:  # a kernel this CPU cannot run
            print(f"probe: OPENBLAS_CORETYPE={coretype} failed: {str(e).splitlines()[0]}", file=sys.stderr)
            continue
        timings[coretype] = r
        print(f"probe: OPENBLAS_CORETYPE={coretype}: {r['secs']:.2f}s for {args.probe_rows} rows "
              f"(faiss's OpenBLAS kernel: {','.join(map(str, r['kernels']))})", file=sys.stderr, flush=True)
    candidates = {c: r for c, r in timings.items() if c != "default"}
    best = min(candidates, key=lambda c: candidates[c]["secs"])
    return best, timings


def run_seed(feats, labels, labels_out, args, coretype):
    env = env_with(OPENBLAS_CORETYPE=coretype)
    cmd = child_cmd("seed", feats, args,
                    ["--min-sim", repr(args.min_sim), "--labels", labels, "--labels-out", labels_out])
    out, _, wall, rss = run_process(cmd, env)
    r = child_result(out)
    r["wall_secs"], r["peak_rss_bytes"] = wall, rss
    return r


def run_ours(feats, labels, out_prefix, args, index):
    report = out_prefix + ".report.json"
    cmd = [binary(), feats, "--format", "bin", "--dim", str(args.dim), "--k", str(args.k),
           "--min-sim", repr(args.min_sim), "--index", index, "--labels", labels,
           "-o", out_prefix + ".labels", "--report", report, "-q"]
    if args.threads:
        cmd += ["-j", str(args.threads)]
    _, _, wall, rss = run_process(cmd)
    rep = json.load(open(report))
    t = rep["timings_secs"]
    e = rep["eval"]
    return {
        "stages_secs": {"load": t["load"], "knn": t["knn"], "links": t["graph"],
                        "infomap": t["infomap"] + t["labels"], "infomap_run": t["infomap"],
                        "eval": t["eval"], "total": t["total"]},
        "links": rep["graph"]["links"], "singletons": rep["graph"]["nodes_without_links"],
        "modules": rep["infomap"]["modules"], "clusters": rep["clusters"],
        "scores": {"pairwise": [e["pairwise"][x] for x in ("precision", "recall", "f")],
                   "bcubed": [e["bcubed"][x] for x in ("precision", "recall", "f")], "nmi": e["nmi"]},
        "threads": rep["params"]["threads"], "version": rep["version"], "index": rep["params"]["index"],
        "nprobe": rep["params"].get("nprobe"),
        "wall_secs": wall, "peak_rss_bytes": rss,
    }


def agreement(seed_labels, our_labels, labels):
    """NMI between the two sides' labels, and our labels scored by the seed's pairwise code."""
    import numpy as np
    from sklearn.metrics import normalized_mutual_info_score

    a = np.loadtxt(seed_labels, dtype=np.int64)
    b = np.loadtxt(our_labels, dtype=np.int64)
    gt = np.loadtxt(labels, dtype=np.int64)
    return {"nmi_seed_vs_ours": float(normalized_mutual_info_score(a, b)),
            "ours_pairwise_f_by_seed_code": float(pairwise_scores(gt, b)[2])}


def machine():
    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                info["cpu"] = line.split(":", 1)[1].strip()
        with open("/proc/meminfo") as f:
            info["ram_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info


def compare(data_dir, args, coretype):
    feats = os.path.join(data_dir, "feats.bin")
    labels = os.path.join(data_dir, "labels.meta")
    for p in (feats, labels):
        if not os.path.exists(p):
            raise SystemExit(f"{p}: not found (DIR must hold feats.bin and labels.meta)")
    name = os.path.basename(os.path.normpath(data_dir))
    prefix = os.path.join(OUT, f"{name}.k{args.k}.s{args.min_sim}")
    n = os.path.getsize(feats) // (4 * args.dim)
    row = {"data": name, "n": n, "dim": args.dim, "k": args.k, "min_sim": args.min_sim,
           "load_before": os.getloadavg(), "started": datetime.datetime.now().isoformat(timespec="seconds")}
    variants = [("as installed", None)] + ([(f"OPENBLAS_CORETYPE={coretype}", coretype)] if coretype else [])
    runs = {"ours": [], "ours_default": [], **{v: [] for v, _ in variants}}
    # With --repeat, the sides take turns, so that a slow spell of a shared machine falls on
    # all of them rather than on one.
    for rep in range(args.repeat):
        of = f" (run {rep + 1} of {args.repeat})" if args.repeat > 1 else ""
        print(f"{name}: {n} rows; face-cluster{of} ...", file=sys.stderr, flush=True)
        runs["ours"].append(run_ours(feats, labels, prefix + ".ours", args, "Flat"))
        print(f"{name}: face-cluster, default index{of} ...", file=sys.stderr, flush=True)
        runs["ours_default"].append(run_ours(feats, labels, prefix + ".ours-default", args, "auto"))
        for variant, ct in variants:
            print(f"{name}: seed, {variant}{of} ...", file=sys.stderr, flush=True)
            runs[variant].append(run_seed(feats, labels, f"{prefix}.seed.{ct or 'default'}.labels", args, ct))
            runs[variant][-1]["coretype"] = ct
    row["repeat"] = args.repeat
    row["ours"] = median_run(runs["ours"])
    row["ours_default"] = median_run(runs["ours_default"])
    row["seed"] = {variant: median_run(runs[variant]) for variant, _ in variants}
    row["load_after"] = os.getloadavg()
    row["agreement"] = agreement(f"{prefix}.seed.default.labels", prefix + ".ours.labels", labels)
    row["agreement_default"] = agreement(f"{prefix}.seed.default.labels", prefix + ".ours-default.labels", labels)
    return row


def median_run(runs):
    """One side's result over repeated runs: the median of each stage's seconds, of wall time
    and of peak RSS; scores and counts from the first run (every run clusters the same graph
    with the same seed). Each run's seconds are kept under "runs"."""
    out = dict(runs[0])
    out["stages_secs"] = {k: statistics.median(r["stages_secs"][k] for r in runs) for k in runs[0]["stages_secs"]}
    out["wall_secs"] = statistics.median(r["wall_secs"] for r in runs)
    out["peak_rss_bytes"] = statistics.median(r["peak_rss_bytes"] for r in runs)
    out["runs"] = [{"stages_secs": r["stages_secs"], "wall_secs": r["wall_secs"]} for r in runs]
    if any(r["scores"] != runs[0]["scores"] for r in runs):
        out["scores_differ_between_runs"] = [r["scores"] for r in runs]
    return out


# ---------------------------------------------------------------------------------------------
# The table.

STAGES = ["load", "knn", "links", "infomap", "infomap_run", "eval", "total"]


def fmt_secs(v):
    return f"{v:.2f}" if v < 100 else f"{v:.0f}"


def side_cells(r):
    s = r["stages_secs"]
    sc = r["scores"]
    return ([fmt_secs(s[k]) for k in STAGES] + [fmt_secs(r["wall_secs"]), f"{r['peak_rss_bytes'] / 2**20:.0f}",
            str(r["links"]), f"{100 * sc['pairwise'][2]:.2f}", f"{100 * sc['bcubed'][2]:.2f}",
            f"{100 * sc['nmi']:.2f}"])


def ratio_cells(seed, ours):
    def ratio(a, b):
        if b <= 0:
            return "-"
        r = a / b
        return f"{r:.0f}x" if r >= 100 else f"{r:.1f}x"

    def points(a, b):
        return f"{round(100 * (a - b), 2) + 0.0:+.2f}"  # + 0.0: no "-0.00"

    s, o = seed["stages_secs"], ours["stages_secs"]
    cells = [ratio(s[k], o[k]) for k in STAGES]
    cells[STAGES.index("total")] = f"**{cells[STAGES.index('total')]}**"
    cells += [ratio(seed["wall_secs"], ours["wall_secs"]),
              ratio(seed["peak_rss_bytes"], ours["peak_rss_bytes"]), "",
              points(seed["scores"]["pairwise"][2], ours["scores"]["pairwise"][2]),
              points(seed["scores"]["bcubed"][2], ours["scores"]["bcubed"][2]),
              points(seed["scores"]["nmi"], ours["scores"]["nmi"])]
    return cells


def index_name(r):
    index = r.get("index", "Flat")
    return f"{index}, nprobe {r['nprobe']}" if r.get("nprobe") else index


def table(rows):
    head = ["rows", "side", "load", "knn", "links", "infomap", "(run)", "eval", "total", "wall",
            "peak RSS MiB", "links kept", "pairwise F", "BCubed F", "NMI"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for row in rows:
        n = f"{row['n']:,}"
        ours = [("face-cluster, Flat", row["ours"])]
        if "ours_default" in row:
            d = row["ours_default"]
            ours.append((f"face-cluster, default ({index_name(d)})", d))
        for side, r in ours:
            lines.append("| " + " | ".join([n, side] + side_cells(r)) + " |")
        for variant, seed in row["seed"].items():
            lines.append("| " + " | ".join([n, f"seed, {variant}"] + side_cells(seed)) + " |")
            for side, r in ours:
                lines.append("| " + " | ".join([n, f"seed ({variant}) / {side.split(', ')[1].split(' ')[0]}"]
                                               + ratio_cells(seed, r)) + " |")
    return "\n".join(lines)


def verdicts(rows):
    out = []
    for row in rows:
        flat = row["ours"]
        ours = row.get("ours_default", flat)  # end to end and quality: the run a user gets
        for variant, seed in row["seed"].items():
            e2e = seed["stages_secs"]["total"] / ours["stages_secs"]["total"]
            im = seed["stages_secs"]["infomap_run"] / flat["stages_secs"]["infomap_run"]  # same graph
            df = 100 * abs(seed["scores"]["pairwise"][2] - ours["scores"]["pairwise"][2])
            each = ""
            if len(seed.get("runs", [])) > 1:
                each = " (run by run: " + ", ".join(
                    f"{s['stages_secs']['infomap_run'] / o['stages_secs']['infomap_run']:.1f}x"
                    for s, o in zip(seed["runs"], flat["runs"])) + ")"
            out.append(
                f"- {row['n']:,} rows, seed {variant}: end to end {e2e:.1f}x "
                f"({'met' if e2e >= 4 else 'MISSED'}, target 4x); Infomap run {im:.1f}x{each} "
                f"({'met' if im >= 3 else 'MISSED'}, target 3x); pairwise F differs by {df:.2f} points "
                f"({'met' if df <= 0.3 else 'MISSED'}, target 0.3)")
    return "\n".join(out)


def describe(rows):
    first = rows[0]
    m = first.get("machine", {})
    lines = [f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gib')} GiB RAM. "
             f"k={first['k']}, min_sim={first['min_sim']}, dim={first['dim']}. The seed searches exactly (faiss "
             "IndexFlatIP); face-cluster runs with --index Flat (the same graph) and with its default index. "
             "Seconds per stage are measured inside each process; wall and peak RSS from outside. "
             "End to end = the seed's total over our default run's; Infomap (run) = the reference's run() "
             "over our Infomap stage on the same (Flat) graph."
             + (f" Every side ran {first['repeat']} times, taking turns; each cell is the median of its runs."
                if first.get("repeat", 1) > 1 else "")]
    for row in rows:
        ours = row["ours"]
        seed = next(iter(row["seed"].values()))
        v = seed.get("versions", {})
        lines.append(
            f"- {row['data']} ({row['started']}): load average {row['load_before'][0]:.2f} before, "
            f"{row['load_after'][0]:.2f} after; face-cluster {ours['version']} with {ours['threads']} threads; "
            f"seed: numpy {v.get('numpy')}, faiss-cpu {v.get('faiss')}, infomap {v.get('infomap')}; "
            f"NMI between the two sides' labels {row['agreement']['nmi_seed_vs_ours']:.4f}; our labels scored "
            f"by the seed's pairwise code: F {100 * row['agreement']['ours_pairwise_f_by_seed_code']:.2f}"
            + (f" (Flat), {100 * row['agreement_default']['ours_pairwise_f_by_seed_code']:.2f} (default index, "
               f"NMI to the seed's labels {row['agreement_default']['nmi_seed_vs_ours']:.4f})"
               if "agreement_default" in row else ""))
    blas = [b for b in next(iter(rows[0]["seed"].values())).get("blas", []) if b.get("internal_api") == "openblas"]
    for b in blas:
        lines.append(f"- seed's OpenBLAS: {os.path.basename(b['filepath'] or '')} {b['version']} "
                     f"({b['threading_layer']} threads, kernel {b['architecture']}, {b['num_threads']} threads)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="comma-separated folders with feats.bin and labels.meta")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--min-sim", type=float, default=0.58)
    ap.add_argument("--threads", type=int, default=0, help="face-cluster -j (default: all cores)")
    ap.add_argument("--coretype", default="auto",
                    help="OPENBLAS_CORETYPE of the seed's second run: a name, 'auto' (the fastest of "
                         "--coretypes on a probe search) or 'none' (run the seed as installed only)")
    ap.add_argument("--coretypes", default=CORETYPE_CANDIDATES)
    ap.add_argument("--probe-rows", type=int, default=20000, help="rows of the probe search")
    ap.add_argument("--probe-repeats", type=int, default=3, help="probe searches per kernel (the fastest counts)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run every side this many times, taking turns; the table shows medians (default 1)")
    ap.add_argument("--json", help="write the results here (default bench/out/pipeline_compare/<time>.json)")
    ap.add_argument("--from-json", help="comma-separated result files: print their table and stop")
    # Child modes.
    ap.add_argument("--child", choices=["seed", "probe"], help=argparse.SUPPRESS)
    ap.add_argument("--feats", help=argparse.SUPPRESS)
    ap.add_argument("--labels", help=argparse.SUPPRESS)
    ap.add_argument("--labels-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, not {args.repeat}")

    if args.child == "seed":
        return seed_child(args)
    if args.child == "probe":
        return probe_child(args)

    if args.from_json:
        rows = [r for p in args.from_json.split(",") for r in json.load(open(p))]
    else:
        if not args.data:
            ap.error("--data or --from-json is required")
        if not os.path.exists(binary()):
            raise SystemExit(f"{binary()}: not found; run 'cargo build --release' or set FACE_CLUSTER")
        os.makedirs(OUT, exist_ok=True)
        dirs = args.data.split(",")
        probe = None
        if args.coretype == "auto":
            coretype, probe = best_coretype(os.path.join(dirs[0], "feats.bin"), args)
        else:
            coretype = None if args.coretype == "none" else args.coretype
        rows = []
        for d in dirs:
            row = compare(d, args, coretype)
            row["machine"] = machine()
            row["coretype_probe"] = probe
            rows.append(row)
        path = args.json or os.path.join(OUT, datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + ".json")
        with open(path, "w") as f:
            json.dump(rows, f, indent=1)
        print(f"results: {os.path.relpath(path)}", file=sys.stderr)
    print(describe(rows))
    print()
    print(table(rows))
    print()
    print(verdicts(rows))


if __name__ == "__main__":
    main()
