#!/usr/bin/env python3
"""Issue 17's targets, checked from peers.py's results.

Usage: summary.py [PEERS_DIR]   (default $QDATA/peers)

Per data set: the seed at its best fixed threshold, the current default, the proposed default,
the best peer at its default settings (HDBSCAN min_cluster_size 5 or 2, DBSCAN eps 0.5,
chinese whispers 0.5 on raw dlib vectors) and the best peer tuned with labels, as pairwise F /
BCubed F; then whether the proposed default meets each target:
  A: >= seed-best - 0.5 (pairwise and BCubed)      B: >= best default peer (both)
  C: >= best tuned peer - 5 (both)                  harder families: >= seed-best - 2 (both)
and the mean gain over seed-best.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proto  # noqa: E402

STANDARD = ["att-orl", "lfw-a", "lfw-a-sface", "base", "dlib", "junk", "base-s2", "dlib-s2", "junk-s2"]
FAMILIES = ["head", "dups", "album", "mixed", "head-s2", "dups-s2", "album-s2", "mixed-s2", "sessions"]
DEFAULT_PEERS = ["hdbscan", "hdbscan-2", "dbscan", "cw-default"]
TUNED_PEERS = ["hdbscan-tuned", "dbscan-tuned", "cw-tuned"]


def load(d, m):
    p = d / f"{m}.json"
    if not p.exists():
        return None
    r = json.load(open(p))
    return r


def pb(r):
    return f"{100 * r['pf']:.2f} / {100 * r['bf']:.2f}" if r else "-"


def best(d, methods):
    rs = [(m, load(d, m)) for m in methods]
    rs = [(m, r) for m, r in rs if r]
    if not rs:
        return None, None
    return max(rs, key=lambda x: x[1]["pf"])


def main():
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else proto.DATA / "peers"
    print("| data set | seed, best fixed min_sim | current default | **proposed** | best peer, default settings | best peer, tuned | targets |")
    print("|:--|--:|--:|--:|--:|--:|:--|")
    gains = {"standard": [], "families": []}
    for group, names in (("standard", STANDARD), ("families", FAMILIES)):
        for ds in names:
            d = root / ds
            sb, cur, pro = load(d, "seed-best"), load(d, "default"), load(d, "proposed")
            if not (sb and pro):
                continue
            dm, dp = best(d, DEFAULT_PEERS)
            tm, tp = best(d, TUNED_PEERS)
            # a peer's BCubed is compared with the best BCubed among the same peers
            dbf = max((load(d, m)["bf"] for m in DEFAULT_PEERS if load(d, m)), default=0)
            tbf = max((load(d, m)["bf"] for m in TUNED_PEERS if load(d, m)), default=0)
            ok = []
            lim = 0.005 if group == "standard" else 0.02
            ok.append(("A" if group == "standard" else "no-collapse") +
                      ("" if pro["pf"] >= sb["pf"] - lim and pro["bf"] >= sb["bf"] - lim else " MISSED"))
            if dp:
                ok.append("B" + ("" if pro["pf"] >= dp["pf"] and pro["bf"] >= dbf else " MISSED"))
            if tp:
                ok.append("C" + ("" if pro["pf"] >= tp["pf"] - 0.05 and pro["bf"] >= tbf - 0.05 else " MISSED"))
            gains[group].append((100 * (pro["pf"] - sb["pf"]), 100 * (pro["bf"] - sb["bf"])))
            print(f"| {ds} | {pb(sb)} ({sb.get('min_sim')}) | {pb(cur)} | **{pb(pro)}** | {pb(dp)} ({dm}) | "
                  f"{pb(tp)} ({tm}) | {', '.join(ok)} |")
    for g, v in gains.items():
        if v:
            print(f"\nmean gain over seed-best, {g} ({len(v)} sets): pairwise {sum(a for a, _ in v) / len(v):+.2f}, "
                  f"BCubed {sum(b for _, b in v) / len(v):+.2f} points")
    allv = gains["standard"] + gains["families"]
    print(f"mean gain over seed-best, all {len(allv)} sets: pairwise {sum(a for a, _ in allv) / len(allv):+.2f}, "
          f"BCubed {sum(b for _, b in allv) / len(allv):+.2f} points")


if __name__ == "__main__":
    main()
