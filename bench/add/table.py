#!/usr/bin/env python3
"""Tables of bench/add/run.sh's reports: `table.py quality WORK` or `table.py speed WORK`."""
import glob
import json
import os
import statistics
import sys


def loads(work):
    out = {}
    path = os.path.join(work, "loads.txt")
    if os.path.exists(path):
        for line in open(path):
            name, before, after = line.split()
            out[name] = f"{before}, {after}"
    return out


def quality(work):
    load = loads(work)
    save = json.load(open(os.path.join(work, "save.json")))
    full = json.load(open(os.path.join(work, "full.json")))
    adds = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(work, "add-*.json")))]
    print("| step | rows | s | pairwise F | BCubed F | codelength bits | clusters | load before, after |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    e = save["eval"]
    print(f"| save (main job, min_sim {save['params']['min_sim']:.4f}) | {save['input']['n']:,} | {save['timings_secs']['total']:.2f} | "
          f"{100 * e['pairwise']['f']:.2f} | {100 * e['bcubed']['f']:.2f} | {save['infomap']['codelength_bits']:.6f} | "
          f"{save['clusters']:,} | {load.get('save', '')} |")
    for i, a in enumerate(adds, 1):
        e = a["eval"]
        print(f"| add {i} | {a['rows']:,} | {a['timings_secs']['total']:.2f} | {100 * e['pairwise']['f']:.2f} | "
              f"{100 * e['bcubed']['f']:.2f} | {a['infomap']['codelength_bits']:.6f} | {a['clusters']['clusters']:,} | "
              f"{load.get(f'add-{i:02d}', '')} |")
    fixed_path = os.path.join(work, "full-fixed.json")
    fulls = [("full run", "full", full)]
    if os.path.exists(fixed_path):
        fulls.append(("full run at the state's min_sim", "full-fixed", json.load(open(fixed_path))))
    for title, key, f in fulls:
        e = f["eval"]
        print(f"| {title} ({f['params']['min_sim']:.4f}) | {f['input']['n']:,} | {f['timings_secs']['total']:.2f} | "
              f"{100 * e['pairwise']['f']:.2f} | {100 * e['bcubed']['f']:.2f} | {f['infomap']['codelength_bits']:.6f} | "
              f"{f['clusters']:,} | {load.get(key, '')} |")
    last = adds[-1]
    le = last["eval"]
    print()
    for title, _, f in fulls:
        fe = f["eval"]
        print(f"after the last batch - {title}: pairwise F {100 * (le['pairwise']['f'] - fe['pairwise']['f']):+.2f} "
              f"points, BCubed F {100 * (le['bcubed']['f'] - fe['bcubed']['f']):+.2f} points, codelength "
              f"{100 * (last['infomap']['codelength_bits'] / f['infomap']['codelength_bits'] - 1):+.3f}%")
    d = last.get("drift")
    if d:
        print(f"drift check on the last batch: update {d['update_codelength_bits']:.6f} bits, fresh optimisation "
              f"{d['fresh_codelength_bits']:.6f} bits, drift {100 * d['drift']:+.3f}%")
    merges = sum(len(a["clusters"]["merges"]) for a in adds)
    splits = sum(len(a["clusters"]["splits"]) for a in adds)
    new = sum(a["clusters"]["new"] for a in adds)
    print(f"over the batches: {new} new clusters, {merges} merges, {splits} splits reported")


def speed(work):
    load = loads(work)
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(work, "speed-*.json")))]
    stages = ["load_state", "load", "search", "relink", "flow", "infomap", "labels", "write", "total"]
    print("| run | rows before | added | " + " | ".join(stages) + " | load before, after |")
    print("|---|---:|---:|" + "---:|" * len(stages) + "---|")
    for i, r in enumerate(runs, 1):
        t = r["timings_secs"]
        print(f"| {i} | {r['rows_before']:,} | {r['rows_added']:,} | " + " | ".join(f"{t[s]:.2f}" for s in stages)
              + f" | {load.get(f'speed-{i}', '')} |")
    med = {s: statistics.median(r["timings_secs"][s] for r in runs) for s in stages}
    print("| median | | | " + " | ".join(f"{med[s]:.2f}" for s in stages) + " | |")
    r = runs[0]
    print()
    print(f"search {r['search']['index']}, {r['search']['compared_pairs']:,} pairs compared; "
          f"{r['search']['old_rows_relinked']:,} old rows relinked; {r['infomap']['active_rows']:,} active rows in "
          f"{r['infomap']['active_modules']:,} modules; {r['flow']['pushes']:,} pushes")


if __name__ == "__main__":
    {"quality": quality, "speed": speed}[sys.argv[1]](sys.argv[2])
