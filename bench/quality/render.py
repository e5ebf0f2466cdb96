#!/usr/bin/env python3
"""Renders docs/quality.md from bench/quality/quality.in.md: each `NAME_TABLE` placeholder line
is replaced by its table, read from bench/quality/results/ (in the repository) or from the
harness's outputs under $QDATA (peers.py, candidates.py rules, summary.py). A table whose
source is missing is left out with a line saying which file it needs.

Usage: bench/quality/render.py [TEMPLATE.md] [OUT.md] [APPENDIX.md]
       (defaults: bench/quality/quality.in.md, docs/quality.md; APPENDIX, if given, is appended)

$QDATA: the harness's data folder (required for the peers, rules and summary tables).
"""
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
QDATA = Path(os.environ["QDATA"]) if os.environ.get("QDATA") else None

# Tables written by explore.py / phenomena.py / strat.sh into bench/quality/results/.
RESULTS = {
    "VALLEYS_TABLE": "valleys.md",
    "K_TABLE": "k.md",
    "STRAT_TABLE": "strat.md",
    "MR_TABLE": "mr.md",
    "CODELENGTH_TABLE": "codelength.md",
    "ATTACH_TABLE": "attach.md",
    "SMALL_TABLE": "small.md",
    "RUST_TABLE": "rust-default.md",
}

# Rows of candidates.py's rules table that make up the two-tier table.
TIER_RULES = ["auto-seed50", "auto-seed256", "auto-tier0.7", "tier-k0_20-b0.7", "tier-k0_40-b0.7",
              "tier-k0_20-b0.75", "auto-tier0.7-k128", "auto-tier0.7-k192"]


def missing(name, need):
    return f"*({name} not rendered here: it needs {need}.)*"


def results(name):
    path = HERE / "results" / RESULTS[name]
    return path.read_text().strip() if path.exists() else missing(name, f"bench/quality/results/{RESULTS[name]}")


def rules_table(rows=None):
    """The first table of $QDATA/rules.md (candidates.py rules ... > rules.md), optionally only
    some rows."""
    if QDATA is None or not (QDATA / "rules.md").exists():
        return None
    lines = []
    for line in (QDATA / "rules.md").read_text().splitlines():
        if lines and not line.startswith("|"):
            break
        if line.startswith("|"):
            if lines and line.startswith("| rule |"):
                break  # the second table (margins) starts
            lines.append(line)
    head, rest = lines[:2], lines[2:]
    if rows is not None:
        rest = [r for r in rest if r.split("|")[1].strip() in rows]
    return "\n".join(head + rest)


def table(name):
    if name in RESULTS:
        return results(name)
    if name == "RULES_TABLE":
        return rules_table() or missing(name, "$QDATA/rules.md (candidates.py rules RULES both)")
    if name == "TIER_TABLE":
        return rules_table(TIER_RULES) or missing(name, "$QDATA/rules.md")
    if name == "PEERS_TABLE":
        if QDATA is None or not (QDATA / "peers" / "peers.md").exists():
            return missing(name, "$QDATA/peers/peers.md (peers.py)")
        return (QDATA / "peers" / "peers.md").read_text().strip()
    if name == "SUMMARY_TABLE":
        if QDATA is None or not (QDATA / "peers").exists():
            return missing(name, "$QDATA/peers (peers.py) for summary.py")
        out = subprocess.run([sys.executable, str(HERE / "summary.py"), str(QDATA / "peers")],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    return missing(name, "a source this script does not know")


def main():
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "quality.in.md"
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "docs" / "quality.md"
    out = []
    for line in src.read_text().splitlines():
        name = line.strip()
        if name.endswith("_TABLE") and name.isupper() and " " not in name:
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + t if t else t for t in table(name).splitlines())
        else:
            out.append(line)
    text = "\n".join(out) + "\n"
    if len(sys.argv) > 3:
        text += "\n" + Path(sys.argv[3]).read_text()
    dst.write_text(text)
    print(f"wrote {dst}", file=sys.stderr)


if __name__ == "__main__":
    main()
