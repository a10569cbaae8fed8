#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# How build time, peak memory and snapshot size grow with the number of
# completions: ahead-build (defaults) on random samples of a dataset of
# 30k, 100k, 300k and 1M lines and on the whole of it, each build timed with
# /usr/bin/time (elapsed seconds and peak RSS), beside `LC_ALL=C sort` of the
# same input for scale. Writes bench/results/build-scaling.json, which
# bench/plot.py draws, and prints a table:
#
#   bash bench/build_scaling.sh [DATASET...]
#   (default: ../shared/data/npm-downloads.tsv.gz; needs build/;
#    SIZES="30000 100000" picks the sample sizes; RESULTS_DIR moves the file)
#
# Samples are drawn with a fixed seed (shuf with a constant random source),
# so every run builds the same inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/ahead-build ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 1; }
[ $# -gt 0 ] || set -- ../shared/data/npm-downloads.tsv.gz
sizes=${SIZES:-30000 100000 300000 1000000}
results_dir=${RESULTS_DIR:-bench/results}
work=$(mktemp -d "${TMPDIR:-/tmp}/ahead-scaling.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$results_dir"
: > "$work/rows.txt"

# measure NAME SAMPLE INPUT: one build and one sort of INPUT, a row in rows.txt.
measure() {
  local name=$1 sample=$2 input=$3 secs kb sort_secs
  /usr/bin/time -f "%e %M" -o "$work/time.txt" build/ahead-build --quiet "$input" -o "$work/out.snap"
  read -r secs kb < "$work/time.txt"
  /usr/bin/time -f "%e" -o "$work/time.txt" env LC_ALL=C sort "$input" -o "$work/sorted"
  sort_secs=$(cat "$work/time.txt")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$sample" "$(wc -c < "$input")" \
    "$secs" "$kb" "$sort_secs" "$(stat -c %s "$work/out.snap")" \
    "$(build/ahead-query "$work/out.snap" --stats)" >> "$work/rows.txt"
  rm -f "$work/out.snap" "$work/sorted"
}

for data in "$@"; do
  name=$(basename "$data" | sed 's/\..*//')
  zcat -f "$data" > "$work/all"
  lines=$(wc -l < "$work/all")
  for n in $sizes; do
    [ "$n" -lt "$lines" ] || continue
    shuf -n "$n" --random-source=<(yes 20261205) "$work/all" > "$work/sample"
    measure "$name" "$n" "$work/sample"
  done
  measure "$name" all "$work/all"
  rm -f "$work/all" "$work/sample"
done

python3 - "$results_dir/build-scaling.json" "$work/rows.txt" <<'PY'
import json, os, platform, sys, time
path, rows = sys.argv[1:]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
out = []
print(f"{'dataset':<14} {'sample':>8} {'completions':>12} {'build s':>8} {'sort s':>7} {'peak MB':>8} {'bytes/compl':>11}")
for line in open(rows):
    name, sample, input_bytes, secs, kb, sort_secs, size, stats = line.rstrip("\n").split("\t")
    st = json.loads(stats)
    row = {"dataset": name, "sample": sample, "completions": st["entries"],
           "input_bytes": int(input_bytes), "seconds": float(secs), "peak_rss_kb": int(kb),
           "sort_seconds": float(sort_secs), "snapshot_bytes": int(size), "sections": st["sections"]}
    out.append(row)
    print(f"{name:<14} {sample:>8} {row['completions']:>12,} {row['seconds']:>8.2f} {row['sort_seconds']:>7.2f} "
          f"{row['peak_rss_kb'] / 1024:>8.0f} {row['snapshot_bytes'] / row['completions']:>11.1f}")
doc = {"date": time.strftime("%Y-%m-%d"),
       "machine": f"{os.cpu_count()} CPUs, {cpu}, {platform.system()} {platform.release()}"}
lines = [f' "{k}": {json.dumps(v)}' for k, v in doc.items()]
lines.append(' "builds": [\n' + ",\n".join("  " + json.dumps(r) for r in out) + "\n ]")
with open(path, "w") as f:
    f.write("{\n" + ",\n".join(lines) + "\n}\n")
print(f"results: {path}")
PY
