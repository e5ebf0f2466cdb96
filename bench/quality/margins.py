#!/usr/bin/env python3
"""Margins of candidate rules against seed-best and the best peer at default settings.

Usage: margins.py RULE[,RULE...] [DATASETS|all|s2|both]
Reads $QDATA/rules/RULE/DS.json (candidates.py rules) and $QDATA/peers/DS/*.json (peers.py)."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import candidates as C  # noqa: E402
import proto  # noqa: E402

DEFAULT_PEERS = ["hdbscan", "hdbscan-2", "dbscan", "cw-default"]


def load(p):
    return json.load(open(p)) if Path(p).exists() else None


def main():
    rules = sys.argv[1].split(",")
    ds = sys.argv[2] if len(sys.argv) > 2 else "both"
    ds = {"all": C.ALL, "s2": C.S2, "both": C.ALL + C.S2}.get(ds) or ds.split(",")
    C.run_rules(rules, ds)
    print("| rule | " + " | ".join(ds) + " | mean dpF | mean dbF | min dpF | min dbF |")
    print("|:--|" + "--:|" * (len(ds) + 4))
    for r in rules:
        cells, dp, db = [], [], []
        for d in ds:
            x = load(C.RESULTS / r / f"{d}.json")
            sb = load(proto.DATA / "peers" / d / "seed-best.json")
            peers = [load(proto.DATA / "peers" / d / f"{m}.json") for m in DEFAULT_PEERS]
            peers = [p for p in peers if p]
            bp = max(peers, key=lambda p: p["pf"]) if peers else None
            if not x or not sb:
                cells.append("-")
                continue
            a, b = 100 * (x["pf"] - sb["pf"]), 100 * (x["bf"] - sb["bf"])
            dp.append(a)
            db.append(b)
            flag = "" if a >= -0.5 and b >= -0.5 else "!"
            if bp and (x["pf"] < bp["pf"] or x["bf"] < max(p["bf"] for p in peers)):
                flag += "p"
            cells.append(f"{a:+.2f}/{b:+.2f}{flag}")
        m = lambda v: sum(v) / len(v) if v else float("nan")
        print(f"| {r} | " + " | ".join(cells) + f" | {m(dp):+.2f} | {m(db):+.2f} | {min(dp):+.2f} | {min(db):+.2f} |")


if __name__ == "__main__":
    main()
