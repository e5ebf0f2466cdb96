#!/usr/bin/env python3
"""Summarises sweeps/NAME-k.json: per k, best fixed min_sim (pairwise F) and the auto cell."""
import json, sys
for path in sys.argv[1:]:
    cells = json.load(open(path))["cells"]
    ks = sorted({c["k"] for c in cells})
    print(path.split("/")[-1])
    for k in ks:
        cs = [c for c in cells if c["k"] == k]
        auto = [c for c in cs if c.get("min_sim_auto") or c.get("auto")]
        b = max(cs, key=lambda c: c["eval"]["pairwise"]["f"])
        curve = " ".join(f"{c['min_sim']:.3f}:{100*c['eval']['pairwise']['f']:.1f}" for c in sorted(cs, key=lambda c: c["min_sim"]))
        print(f"  k={k:3d} best {b['min_sim']:.4f} pF {100*b['eval']['pairwise']['f']:.2f} bF {100*b['eval']['bcubed']['f']:.2f} | {curve}")
