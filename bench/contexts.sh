#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Contexts on a package registry's search box: npm-downloads with every
# scoped name (@scope/name) in the context of its scope, for the scopes
# that publish at least MIN_SCOPE packages (10: 19,924 scopes, 667k names),
# the other names without a context. Scopes are real categories, made by
# the publishers, with the long tail a registry has (one scope of 10k+
# names, thousands of 10-20), and "search within an organization" is what
# such a site offers. Against the same lines without the third field:
#
#   - the build: time, peak memory, snapshot size, and the contexts' bytes;
#   - lookups within a context, keystroke prefixes of scoped names sampled
#     by downloads (bench/make_prefixes.py --contexts: PREFIX<TAB>SCOPE),
#     exact (--typos 0 --match prefix, 5 timed passes) and with the
#     defaults (1 timed pass), RUNS runs each; beside them the same prefixes
#     without a context on the snapshot without contexts.
#
#   bash bench/contexts.sh [RUNS]     (default 3; needs build/ and ../shared/data)
#
# Prints every run and the medians, and writes bench/results/contexts.json.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
min_scope=${MIN_SCOPE:-10}
data=../shared/data/npm-downloads.tsv.gz
out=bench/out
mkdir -p "$out" bench/results
[ -x build/ahead-build ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 1; }
[ -f "$data" ] || { echo "contexts.sh: $data is missing" >&2; exit 1; }

tsv=$out/npm-contexts.tsv
zcat "$data" | awk -F'\t' -v min="$min_scope" '
  NR == FNR { if ($1 ~ /^@[^\/]+\//) { split($1, a, "/"); n[a[1]]++ } next }
  { if ($1 ~ /^@[^\/]+\//) { split($1, a, "/"); if (n[a[1]] >= min) { print $0 "\t" a[1]; next } }
    print }' <(zcat "$data") - > "$tsv"

build() { # build INPUT SNAPSHOT: prints seconds, peak KB and bytes
  /usr/bin/time -f "%e %M" -o "$out/time.txt" build/ahead-build --quiet "$1" -o "$2"
  read -r secs kb < "$out/time.txt"
  echo "$secs $kb $(stat -c %s "$2")"
}
read -r psecs pkb pbytes <<< "$(build "$data" "$out/npm-plain.snap")"
read -r csecs ckb cbytes <<< "$(build "$tsv" "$out/npm-contexts.snap")"
stats=$(build/ahead-query "$out/npm-contexts.snap" --stats)
echo "without contexts: $psecs s, $((pkb / 1024)) MB peak, $pbytes bytes"
echo "with contexts:    $csecs s, $((ckb / 1024)) MB peak, $cbytes bytes; $stats" | cut -c1-200

prefixes=$out/npm-contexts.prefixes
[ -s "$prefixes" ] || python3 bench/make_prefixes.py "$tsv" "$prefixes" --contexts
cut -f1 "$prefixes" > "$prefixes.plain"
: > "$out/contexts-runs.json"
for setting in exact defaults; do
  case $setting in
    exact) args=(--typos 0 --match prefix --passes 5) ;;
    defaults) args=(--passes 1) ;;
  esac
  for i in $(seq "$runs"); do
    for where in context plain; do
      if [ "$where" = context ]; then snap=$out/npm-contexts.snap file=$prefixes
      else snap=$out/npm-plain.snap file=$prefixes.plain; fi
      r=$(build/ahead-bench-lookup "$snap" "$file" -k 10 --json "${args[@]}")
      echo "{\"setting\":\"$setting\",\"where\":\"$where\",\"run\":$r}" >> "$out/contexts-runs.json"
      echo "$setting $where run $i: $(echo "$r" | cut -d, -f1-7)"
    done
  done
done

python3 - "$out/contexts-runs.json" "$psecs $pkb $pbytes" "$csecs $ckb $cbytes" "$stats" \
  "$min_scope" bench/results/contexts.json <<'PY'
import json, os, platform, statistics, sys, time
runs = [json.loads(l) for l in open(sys.argv[1])]
plain, ctx = ([float(x) for x in a.split()] for a in sys.argv[2:4])
stats, min_scope, path = json.loads(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
print(f"snapshot: {ctx[2]:.0f} bytes with contexts, {plain[2]:.0f} without: {ctx[2] / plain[2]:.3f}x; "
      f"the contexts section {stats['sections']['contexts']:,} bytes for {stats['contexts']:,} values")
print(f"build: {ctx[0]:.2f} s against {plain[0]:.2f} s ({ctx[0] / plain[0]:.2f}x), "
      f"peak {ctx[1] / 1024:.0f} MB against {plain[1] / 1024:.0f} MB")
for setting in ("exact", "defaults"):
    for where in ("context", "plain"):
        rs = [r["run"] for r in runs if r["setting"] == setting and r["where"] == where]
        med = {f: statistics.median(r[f] for r in rs) for f in ("p50_ns", "p99_ns", "max_ns", "mean_ns")}
        print(f"{setting:8} {where:7}: median of {len(rs)}: p50 {med['p50_ns']:.0f} ns, "
              f"p99 {med['p99_ns']:.0f} ns, max {med['max_ns']:.0f} ns, mean {med['mean_ns']:.0f} ns")
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
doc = {"date": time.strftime("%Y-%m-%d"),
       "machine": f"{os.cpu_count()} CPUs, {cpu}, {platform.system()} {platform.release()}",
       "dataset": f"npm-downloads, scoped names in their scope's context (scopes of >= {min_scope} names)",
       "contexts": stats["contexts"], "entries": stats["entries"],
       "builds": {"plain": dict(zip(("seconds", "peak_rss_kb", "bytes"), plain)),
                  "contexts": dict(zip(("seconds", "peak_rss_kb", "bytes"), ctx))},
       "sections": stats["sections"]}
lines = [f' "{k}": {json.dumps(v)}' for k, v in doc.items()]
lines.append(' "runs": [\n' + ",\n".join("  " + json.dumps(r) for r in runs) + "\n ]")
with open(path, "w") as f:
    f.write("{\n" + ",\n".join(lines) + "\n}\n")
print(f"results: {path}")
PY
