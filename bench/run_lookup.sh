#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The index benchmark behind bench/RESULTS.md: builds a dataset's snapshot
# (timing the build and its peak memory), makes the keystroke prefix file,
# and runs ahead-bench-lookup several times, printing every run and the
# median of each figure.
#
#   bash bench/run_lookup.sh [DATASET] [RUNS]
#   (default: ../shared/data/npm-downloads.tsv.gz, 5 runs; needs build/)
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/npm-downloads.tsv.gz}
runs=${2:-5}
out=bench/out
mkdir -p "$out"
name=$(basename "$data" | sed 's/\..*//')
snap=$out/$name.snap
prefixes=$out/$name.prefixes

[ -x build/ahead-build ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 1; }
input_bytes=$(zcat -f "$data" | wc -c)
/usr/bin/time -f "%e %M" -o "$out/time.txt" build/ahead-build --quiet "$data" -o "$snap"
read -r secs kb < "$out/time.txt"
snap_bytes=$(stat -c %s "$snap")
entries=$(build/ahead-query "$snap" --stats | sed 's/.*"entries":\([0-9]*\).*/\1/')
python3 - "$secs" "$kb" "$snap_bytes" "$input_bytes" "$entries" <<'PY'
import sys
secs, kb, snap, inp, n = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"build: {secs:.2f} s, peak RSS {kb/1024:.0f} MB; snapshot {snap} bytes = "
      f"{snap/inp:.3f}x the {inp}-byte input, {snap/n:.2f} bytes/completion ({n} completions)")
PY
[ -s "$prefixes" ] || python3 bench/make_prefixes.py "$data" "$prefixes"
for k in 10; do
  : > "$out/lookup.json"
  for i in $(seq "$runs"); do
    build/ahead-bench-lookup "$snap" "$prefixes" -k "$k" --json | tee -a "$out/lookup.json"
  done
  python3 - "$out/lookup.json" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
med = {f: statistics.median(r[f] for r in runs) for f in ("mean_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns")}
print(f"lookup k={runs[0]['k']}, median of {len(runs)} runs of {runs[0]['queries']} queries: "
      + ", ".join(f"{f[:-3]} {v:.0f} ns" for f, v in med.items()))
PY
done
