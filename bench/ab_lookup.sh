#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Old against new lookup code, side by side: runs two ahead-bench-lookup
# binaries on the same snapshot and prefix file, alternating, RUNS times
# each, one timed pass a run (after the warm-up pass), and prints each run's
# p50, p99, max and mean in nanoseconds, then each binary's medians. A
# change to the lookup is measured this way on this noisy 2-core machine:
# the ratio of medians taken in one sitting, not figures from two sittings.
#
#   bash bench/ab_lookup.sh OLD_BENCH NEW_BENCH SNAPSHOT PREFIXES [RUNS] [-- OPTIONS]
#
# OLD_BENCH and NEW_BENCH are ahead-bench-lookup binaries (build one from
# the old commit in a git worktree); OPTIONS go to both (default: -k 10,
# the defaults' matching). Example:
#
#   git worktree add /tmp/old HEAD~2 && cmake -S /tmp/old -B /tmp/old/build \
#     -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build /tmp/old/build --target ahead-bench-lookup
#   bash bench/ab_lookup.sh /tmp/old/build/ahead-bench-lookup build/ahead-bench-lookup \
#     bench/out/es-ngrams.snap bench/out/es-ngrams.misspelled 3
set -euo pipefail

if [ $# -lt 4 ]; then
    sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
old=$1 new=$2 snap=$3 prefixes=$4
shift 4
runs=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    runs=$1
    shift
fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift
opts=("$@")
[ ${#opts[@]} -gt 0 ] || opts=(-k 10)

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for run in $(seq 1 "$runs"); do
    for which in old new; do
        bin=$old
        [ "$which" = new ] && bin=$new
        "$bin" "$snap" "$prefixes" --passes 1 --json "${opts[@]}" |
            python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sys.argv[1], d["p50_ns"], d["p99_ns"], d["max_ns"], round(d["mean_ns"]))' "$which" |
            tee -a "$out"
    done
done
python3 - "$out" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    which, *v = line.split()
    rows.setdefault(which, []).append([float(x) for x in v])
for which in ("old", "new"):
    med = [statistics.median(col) for col in zip(*rows[which])]
    print(f"{which} medians: p50 {med[0]:.0f} ns, p99 {med[1]:.0f} ns, max {med[2]:.0f} ns, mean {med[3]:.0f} ns")
o = [statistics.median(c) for c in zip(*rows["old"])]
n = [statistics.median(c) for c in zip(*rows["new"])]
print("new / old: p50 %.3f, p99 %.3f, mean %.3f" % (n[0] / o[0], n[1] / o[1], n[3] / o[3]))
EOF
