#!/usr/bin/env bash
# Issue 17, one command: data sets, exact k-NN tables, the peers table and the research tables.
#
# Usage: QDATA=DIR SHARED_DATA=DIR bench/quality/peers.sh [OUT]      (OUT default: $QDATA/peers)
#   QDATA        folder for the data sets, k-NN tables and results (required)
#   SHARED_DATA  folder holding lfw-a-sface/ (and att-orl/, lfw-a/ if not taken from data/)
#
# 1. a venv in bench/quality/.venv (numpy, scipy, scikit-learn, dlib-bin, matplotlib);
# 2. the real sets (att-orl, lfw-a, lfw-a-sface, from $SHARED_DATA or data/) and the
#    synthetic ones: base (`face-cluster synth --n 20000 --seed 1`), the harder families of
#    synth_families.py (seed 1), second draws (seed 2) and the sessions stress set (seed 3);
# 3. the exact k-NN table of each, k = 256 (`face-cluster knn --index Flat`);
# 4. peers.py: every method on the ten main sets, defaults only on the extra sets;
#    OUT/peers.md is the table;
# 5. candidates.py / margins.py: the candidates of docs/quality.md, and phenomena.py's figures.
#
# $FACE_CLUSTER is the binary (default: this checkout's release build under $CARGO_TARGET_DIR
# or target/).
# Everything is cached: a rerun only computes what is missing. On two shared cores the whole
# run takes a few hours, most of it the tuned DBSCAN, HDBSCAN and chinese-whispers sweeps.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export QDATA=${QDATA:?set QDATA to the folder for data sets, k-NN tables and results}
OUT=${1:-$QDATA/peers}
BIN=${FACE_CLUSTER:-${CARGO_TARGET_DIR:-$REPO/target}/release/face-cluster}
export FACE_CLUSTER=$BIN
SHARED=${SHARED_DATA:?set SHARED_DATA to the folder holding lfw-a-sface/}
PY=$HERE/.venv/bin/python
if [ ! -x "$PY" ]; then
    python3 -m venv "$HERE/.venv"
    "$HERE/.venv/bin/pip" install -q numpy scipy scikit-learn dlib-bin matplotlib
fi
mkdir -p "$QDATA/bin" "$OUT"
[ -x "$QDATA/bin/links2txt" ] || cc -O2 -o "$QDATA/bin/links2txt" "$HERE/links2txt.c"

for d in att-orl lfw-a lfw-a-sface; do
    mkdir -p "$QDATA/$d"
    src=$SHARED/$d
    [ -d "$src" ] || src=$REPO/data/$d
    [ -e "$QDATA/$d/feats.npy" ] || cp "$src/feats.npy" "$src/labels.meta" "$QDATA/$d/"
done
[ -e "$QDATA/base/feats.npy" ] || "$BIN" synth --n 20000 --seed 1 -o "$QDATA/base" -q
[ -e "$QDATA/base-s2/feats.npy" ] || "$BIN" synth --n 20000 --seed 2 -o "$QDATA/base-s2" -q
for f in head dups junk dlib album mixed; do
    [ -e "$QDATA/$f/feats.npy" ] || nice -n 10 "$PY" "$HERE/synth_families.py" "$QDATA/$f" $f --seed 1 > /dev/null
    [ -e "$QDATA/$f-s2/feats.npy" ] || nice -n 10 "$PY" "$HERE/synth_families.py" "$QDATA/$f-s2" $f --seed 2 > /dev/null
done
[ -e "$QDATA/sessions/feats.npy" ] || nice -n 10 "$PY" "$HERE/synth_families.py" "$QDATA/sessions" sessions --seed 3 > /dev/null
for d in "$QDATA"/*/; do
    d=${d%/}
    [ -e "$d/feats.npy" ] || continue
    [ -e "$d/knn256.npz" ] || nice -n 10 "$BIN" knn "$d/feats.npy" -k 256 --index Flat -q -o "$d/knn256.npz"
done

MAIN=att-orl,lfw-a,lfw-a-sface,base,dlib,junk,head,dups,album,mixed
EXTRA=base-s2,dlib-s2,junk-s2,head-s2,dups-s2,album-s2,mixed-s2,sessions
nice -n 10 "$PY" "$HERE/peers.py" "$OUT" --datasets $MAIN > /dev/null
nice -n 10 "$PY" "$HERE/peers.py" "$OUT" --datasets $EXTRA \
    --methods seed-best,default,proposed,hdbscan,hdbscan-2,dbscan > /dev/null
cat "$OUT/peers.md"

# The research tables of docs/quality.md (each rule cached in $QDATA/rules/RULE/DS.json).
RULES=proposed,proposed-v1,proposed-noattach,auto-seed50,auto-seed256,auto-tier0.7,tier-k0_20-b0.7,tier-k0_40-b0.7
RULES=$RULES,tier-k0_20-b0.75,auto-tier0.7-lin,auto-tier0.7-one,auto-tier0.7-sat4,auto-tier0.7-k128,auto-tier0.7-k192
RULES=$RULES,proposed-stride2,proposed-mergeall0.67,density-peaks
nice -n 10 "$PY" "$HERE/margins.py" $RULES both > "$OUT/rules.md" 2> /dev/null
nice -n 10 "$PY" "$HERE/phenomena.py" "$OUT/figures" > /dev/null
echo "tables: $OUT/peers.md $OUT/rules.md $OUT/figures/"
