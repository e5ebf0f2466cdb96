#!/usr/bin/env python3
"""The Rust default (`face-cluster` with no option) on every cached data set, beside the
prototype (candidates.py rules proposed), the seed at its best fixed threshold and the
previous default (peers.py's seed-best and default), as one Markdown table.

Usage: QDATA=DIR bench/quality/rust_default.py [DATASET...] > table.md

Runs `$FACE_CLUSTER --knn $QDATA/NAME/knn256.npz --labels $QDATA/NAME/labels.meta --report ...`
(the cached exact table, so no search), with the default k of 256 (lowered to n - 1 for the
small subsets, as the tool does for features).
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proto  # noqa: E402

SETS = ["att-orl", "lfw-a", "lfw-a-sface", "base", "dlib", "junk", "head", "dups", "album", "mixed",
        "base-s2", "dlib-s2", "junk-s2", "head-s2", "dups-s2", "album-s2", "mixed-s2", "sessions",
        "tiny-orl30", "tiny-orl60", "tiny-orl100", "tiny-lfw300", "tiny-sface300", "tiny-album400",
        "tiny-base500"]


def load(path):
    return json.load(open(path)) if path.exists() else None


def pct(r, pf="pf", bf="bf"):
    return f"{100 * r[pf]:.2f} / {100 * r[bf]:.2f}" if r else "-"


def main():
    names = sys.argv[1:] or SETS
    print("| data set | Rust default: min_sim | pairwise / BCubed F (clusters) | merged / attached | "
          "prototype: min_sim | pairwise / BCubed F (clusters) | seed, best fixed (min_sim) | previous default |")
    print("|:--|--:|--:|--:|--:|--:|--:|--:|")
    for name in names:
        d = proto.DATA / name
        if not (d / "knn256.npz").exists():
            continue
        with tempfile.TemporaryDirectory(dir=proto.TMP if proto.TMP.exists() else None) as tmp:
            rep = Path(tmp) / "r.json"
            subprocess.run([proto.BIN, "--knn", str(d / "knn256.npz"), "--labels", str(d / "labels.meta"),
                            "-o", os.devnull, "--report", str(rep), "-q"], check=True)
            r = json.load(open(rep))
        e = r["eval"]
        rust = f"{100 * e['pairwise']['f']:.2f} / {100 * e['bcubed']['f']:.2f} ({r['clusters']})"
        p = load(proto.DATA / "rules" / "proposed" / f"{name}.json")
        proto_cell = f"{pct(p)} ({p['clusters']})" if p else "-"
        sb = load(proto.DATA / "peers" / name / "seed-best.json")
        sb_cell = f"{pct(sb)} ({sb.get('min_sim')})" if sb else "-"
        cd = load(proto.DATA / "peers" / name / "default.json")
        print(f"| {name} | {r['params']['min_sim']:.4f} | {rust} | {r['refine']['merges']} / {r['refine']['attached']} | "
              f"{p['info']['thr'] if p else '-'} | {proto_cell} | {sb_cell} | {pct(cd)} |")


if __name__ == "__main__":
    main()
