#!/usr/bin/env python3
import json, sys
from collections import defaultdict
for path in sys.argv[1:]:
    cells = json.load(open(path))["cells"]
    by = defaultdict(list)
    for c in cells:
        s = c["strategy"]; e = s["edges"]
        by[f"{e['pruning']}/{e['weighting']}/{s['flow'][:3]}"].append(c)
    print(path.split("/")[-1])
    for name, cs in by.items():
        cs.sort(key=lambda c: c["min_sim"])
        print(f"  {name:28s} " + " ".join(f"{c['min_sim']:.3f}:{100*c['eval']['pairwise']['f']:.1f}/{100*c['eval']['bcubed']['f']:.1f}" for c in cs))
