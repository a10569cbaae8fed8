#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# How fast is this sitting? The same binary on the same snapshot bytes
# times up to 2.7x apart on this 2-core VM from one sitting to the next
# (bench/RESULTS.md, "The sitting, measured against a fixed reference"),
# so an absolute figure in nanoseconds says as much about the machine's
# neighbours as about the code. This script times the working tree's build
# and a fixed reference commit side by side, alternating, on one dataset's
# prefix files, and prints each one's medians and their ratio. Multiplied
# by what the reference measured in its own (fast) sitting, the ratio says
# what the current code would measure there: the script prints that too
# where RESULTS records the reference's figure on the same snapshot bytes.
#
#   bash bench/sitting.sh [DATASET] [ROUNDS] [SETTINGS]
#
# DATASET: default ../shared/data/npm-downloads.tsv.gz. ROUNDS: default 3.
# SETTINGS: any of defaults defaults-shuffled misspelled
# misspelled-shuffled exact exact-shuffled (default: all six). Needs
# build/, and the prefix files bench/run_lookup.sh makes (SHUFFLE=1 for the
# shuffled ones). The reference (REF, default bb23088, whose es-ngrams
# defaults measured 390 ns / 55.1 us at p50 / p99 on 2026-12-05) is
# exported with git archive and built in REF_DIR (default
# /tmp/ahead-ref-REF) with its own builder and snapshot, once.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/npm-downloads.tsv.gz}
rounds=${2:-3}
settings=${3:-defaults defaults-shuffled misspelled misspelled-shuffled exact exact-shuffled}
ref=${REF:-bb23088}
ref_dir=${REF_DIR:-/tmp/ahead-ref-$ref}
name=$(basename "$data" | sed 's/\..*//')
out=bench/out

[ -x build/ahead-bench-lookup ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 1; }
if [ ! -x "$ref_dir/build/ahead-bench-lookup" ]; then
    mkdir -p "$ref_dir"
    git archive "$ref" | tar -x -C "$ref_dir"
    cmake -S "$ref_dir" -B "$ref_dir/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$ref_dir/build" -j2 --target ahead-build ahead-bench-lookup >/dev/null
fi
[ -s "$ref_dir/$name.snap" ] || "$ref_dir/build/ahead-build" --quiet "$data" -o "$ref_dir/$name.snap"
[ -s "$out/$name.snap" ] || build/ahead-build --quiet "$data" -o "$out/$name.snap"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for round in $(seq 1 "$rounds"); do
    for setting in $settings; do
        case $setting in
        defaults*) file=prefixes opts=() ;;
        misspelled*) file=misspelled opts=() ;;
        exact*) file=prefixes opts=(--typos 0 --match prefix) ;;
        *) echo "unknown setting: $setting" >&2; exit 2 ;;
        esac
        case $setting in *-shuffled) file=$file.shuffled ;; esac
        [ -s "$out/$name.$file" ] || { echo "missing $out/$name.$file: run bench/run_lookup.sh first" >&2; exit 1; }
        for which in ref cur; do
            if [ $which = ref ]; then
                bin=$ref_dir/build/ahead-bench-lookup snap=$ref_dir/$name.snap
            else
                bin=build/ahead-bench-lookup snap=$out/$name.snap
            fi
            line=$("$bin" "$snap" "$out/$name.$file" --passes 3 "${opts[@]}" | head -1)
            echo "$setting $which $line" | tee -a "$log"
        done
    done
done
python3 - "$log" "$ref" "$name" <<'PY'
import re, statistics, sys
# The reference's p50 and p99 (ns) on 2026-12-05, on the snapshot bytes its
# builder makes (bench/RESULTS.md, "Room in the size budget" and "Keys of
# Latin text"; npm's content id 842854f28c5692ae): only with REF=bb23088.
RECORDED = {
    "es-ngrams": {"defaults": (390, 55100), "defaults-shuffled": (491, 67200),
                  "misspelled": (6910, 60100), "misspelled-shuffled": (7310, 65700),
                  "exact": (260, 2680)},
    "npm-downloads": {"defaults": (220, 3510), "misspelled": (23400, 308000),
                      "exact": (190, 641)},
}
runs = {}
for line in open(sys.argv[1]):
    setting, which = line.split()[:2]
    figures = dict((k, float(v)) for k, v in re.findall(r"\b(p50|p99|max) ([0-9.]+) ns", line))
    runs.setdefault(setting, {}).setdefault(which, []).append(figures)
recorded = RECORDED.get(sys.argv[3], {}) if sys.argv[2] == "bb23088" else {}
print(f"\nmedians (ns), reference {sys.argv[2]} against the working tree, alternating:")
for setting, by in runs.items():
    med = {w: {q: statistics.median(r[q] for r in by[w]) for q in ("p50", "p99", "max")} for w in by}
    ratio = [med["cur"][q] / med["ref"][q] for q in ("p50", "p99")]
    line = (f"{setting:20} ref p50 {med['ref']['p50']:.0f} p99 {med['ref']['p99']:.0f} "
            f"max {med['ref']['max']:.0f}   "
            f"cur p50 {med['cur']['p50']:.0f} p99 {med['cur']['p99']:.0f} max {med['cur']['max']:.0f}"
            f"   cur/ref p50 {ratio[0]:.3f}x p99 {ratio[1]:.3f}x")
    if setting in recorded:
        then = recorded[setting]
        line += (f"   in the reference's sitting (p50 {then[0]}, p99 {then[1]}): "
                 f"p50 {ratio[0] * then[0]:.0f} p99 {ratio[1] * then[1]:.0f}")
    print(line)
PY
