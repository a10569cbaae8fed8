#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The index benchmark behind bench/RESULTS.md: builds a dataset's snapshot
# four ways, the defaults, --fills 0 (the typo index alone), --no-typo-index
# --fills 0 (the walk alone), and --no-infix --no-typo-index --fills 0 (the
# exact lookup's snapshot, which sizes are compared with), timing each
# build and its peak memory, makes the keystroke prefix file and its
# misspelled twin, and runs ahead-bench-lookup several times in each
# setting, printing every run and the median of each figure:
#
#   exact      --typos 0 --match prefix, keystroke prefixes (the old lookup),
#              5 timed passes a run
#   defaults   typos=auto, match=words, keystroke prefixes, 1 timed pass
#   misspelled typos=auto, match=words, the misspelled prefixes, 1 timed pass
# (every run also makes one untimed warm-up pass)
#
#   bash bench/run_lookup.sh [DATASET] [RUNS] [SETTINGS]
#   (default: ../shared/data/npm-downloads.tsv.gz, 5 runs, "exact defaults
#   misspelled"; needs build/; SHUFFLE=1 runs the prefixes in a random
#   order, fixed seed)
#
# Everything measured is also written to bench/results/lookup-NAME.json
# (lookup-NAME-shuffled.json with SHUFFLE=1; RESULTS_DIR moves it): the
# builds, the snapshot's sections and every run with its latency quantiles,
# which bench/plot.py draws.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/npm-downloads.tsv.gz}
runs=${2:-5}
settings=${3:-exact defaults misspelled}
out=bench/out
mkdir -p "$out"
name=$(basename "$data" | sed 's/\..*//')
snap=$out/$name.snap
prefixes=$out/$name.prefixes
misspelled=$out/$name.misspelled

[ -x build/ahead-build ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 1; }
input_bytes=$(zcat -f "$data" | wc -c)
build() { # build SNAPSHOT [OPTION]: prints seconds, peak KB and bytes
  /usr/bin/time -f "%e %M" -o "$out/time.txt" build/ahead-build --quiet ${2:-} "$data" -o "$1"
  read -r secs kb < "$out/time.txt"
  echo "$secs $kb $(stat -c %s "$1")"
}
read -r nsecs nkb nbytes <<< "$(build "$out/$name-noinfix.snap" "--no-infix --no-typo-index --fills 0")"
read -r tsecs tkb tbytes <<< "$(build "$out/$name-notypo.snap" "--no-typo-index --fills 0")"
read -r fsecs fkb fbytes <<< "$(build "$out/$name-nofills.snap" "--fills 0")"
read -r secs kb bytes <<< "$(build "$snap")"
stats=$(build/ahead-query "$snap" --stats)
entries=$(build/ahead-query "$snap" --stats | sed 's/.*"entries":\([0-9]*\).*/\1/')
python3 - "$secs" "$kb" "$bytes" "$nsecs" "$nkb" "$nbytes" "$input_bytes" "$entries" \
  "$tsecs" "$tkb" "$tbytes" "$fsecs" "$fkb" "$fbytes" <<'PY'
import sys
secs, kb, snap, nsecs, nkb, nsnap, inp, n, tsecs, tkb, tsnap, fsecs, fkb, fsnap = (
    float(x) for x in sys.argv[1:])
print(f"build: {secs:.2f} s, peak RSS {kb/1024:.0f} MB; snapshot {snap:.0f} bytes = "
      f"{snap/inp:.3f}x the {inp:.0f}-byte input, {snap/n:.2f} bytes/completion ({n:.0f} completions)")
print(f"--no-infix --no-typo-index --fills 0: {nsecs:.2f} s, peak RSS {nkb/1024:.0f} MB, {nsnap:.0f} bytes, "
      f"{nsnap/n:.2f} bytes/completion")
print(f"--no-typo-index --fills 0: {tsecs:.2f} s, peak RSS {tkb/1024:.0f} MB, {tsnap:.0f} bytes")
print(f"--fills 0: {fsecs:.2f} s, peak RSS {fkb/1024:.0f} MB, {fsnap:.0f} bytes; the fills add "
      f"{snap - fsnap:.0f} bytes and {secs - fsecs:.2f} s")
print(f"defaults against the exact lookup's snapshot: size {snap/nsnap:.3f}x, "
      f"build time {secs/nsecs:.2f}x; word-start index alone {tsnap/nsnap:.3f}x")
PY
[ -s "$prefixes" ] || python3 bench/make_prefixes.py "$data" "$prefixes"
[ -s "$misspelled" ] || python3 bench/make_misspelled.py "$prefixes" "$misspelled"
# SHUFFLE=1: both files in a random order (fixed seed), so that no lookup
# follows the keystroke before it in the caches.
if [ "${SHUFFLE:-0}" = 1 ]; then
  for f in "$prefixes" "$misspelled"; do
    python3 -c 'import random, sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")[:-1]
random.Random(20261204).shuffle(lines)
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(lines) + "\n")' "$f" "$f.shuffled"
  done
  prefixes=$prefixes.shuffled
  misspelled=$misspelled.shuffled
fi
for setting in $settings; do
  case $setting in
    exact) file=$prefixes; args=(--typos 0 --match prefix --passes 5) ;;
    defaults) file=$prefixes; args=(--passes 1) ;;
    misspelled) file=$misspelled; args=(--passes 1) ;;
    *) echo "unknown setting $setting" >&2; exit 2 ;;
  esac
  : > "$out/lookup-$setting.json"
  for i in $(seq "$runs"); do
    build/ahead-bench-lookup "$snap" "$file" -k 10 --json "${args[@]}" | tee -a "$out/lookup-$setting.json"
  done
  python3 - "$out/lookup-$setting.json" "$setting" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
fields = ("mean_ns", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns")
med = {f: statistics.median(r[f] for r in runs) for f in fields}
print(f"{sys.argv[2]}: lookup k={runs[0]['k']}, median of {len(runs)} runs of {runs[0]['queries']} queries: "
      + ", ".join(f"{f[:-3]} {v:.0f} ns" for f, v in med.items())
      + f", incomplete {100 * runs[0]['incomplete']:.3f}%")
PY
done

results_dir=${RESULTS_DIR:-bench/results}
mkdir -p "$results_dir"
results=$results_dir/lookup-$name.json
[ "${SHUFFLE:-0}" != 1 ] || results=$results_dir/lookup-$name-shuffled.json
python3 - "$results" "$name" "$input_bytes" "$stats" "$settings" "$out" \
  "$secs $kb $bytes" "$tsecs $tkb $tbytes" "$nsecs $nkb $nbytes" "${SHUFFLE:-0}" \
  "$fsecs $fkb $fbytes" <<'PY'
import json, os, platform, sys, time
path, name, input_bytes, stats, settings, out = sys.argv[1:7]
def build(fields):
    secs, kb, size = fields.split()
    return {"seconds": float(secs), "peak_rss_kb": int(kb), "bytes": int(size)}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
doc = {
    "dataset": name, "date": time.strftime("%Y-%m-%d"), "shuffled": sys.argv[10] == "1",
    "machine": f"{os.cpu_count()} CPUs, {cpu}, {platform.system()} {platform.release()}",
    "input_bytes": int(input_bytes), "stats": json.loads(stats),
    "builds": {"defaults": build(sys.argv[7]), "no_fills": build(sys.argv[11]),
               "no_typo_index": build(sys.argv[8]), "no_infix_no_typo_index": build(sys.argv[9])},
    "settings": {s: [json.loads(l) for l in open(f"{out}/lookup-{s}.json")] for s in settings.split()},
}
# One line a field and a run, so that a new run's diff reads.
settings = doc.pop("settings")
lines = [f' "{k}": {json.dumps(v)}' for k, v in doc.items()]
lines.append(' "settings": {\n' + ",\n".join(
    f'  "{s}": [\n' + ",\n".join("   " + json.dumps(r) for r in runs) + "\n  ]"
    for s, runs in settings.items()) + "\n }")
with open(path, "w") as f:
    f.write("{\n" + ",\n".join(lines) + "\n}\n")
print(f"results: {path}")
PY
