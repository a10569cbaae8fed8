#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build cost at sizes beyond our datasets: ahead-synth makes logs of N distinct
# completions shaped like a training set (default npm-downloads), and each is
# built with ahead-build (defaults, and with --memory when MEMORY is set),
# timed with /usr/bin/time beside `LC_ALL=C sort` of the same input. Prints a
# table row per size with the builder's phases and what spilling did:
#
#   bash bench/build_synthetic.sh [N...]        (default: 1000000 10000000)
#   TRAIN=FILE picks the training set; MEMORY=2G adds a --memory build;
#   TMPDIR=DIR holds the inputs, the snapshot and the temporary files.
#
# Needs build/ (ahead-build, ahead-synth, ahead-query). The inputs take about
# 24 bytes per completion on disk, the snapshot about 45, and the builder
# about 500 bytes per completion of memory while it writes.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in ahead-build ahead-synth ahead-query; do
  [ -x build/$b ] || { echo "build first: cmake -S . -B build && cmake --build build" >&2; exit 1; }
done
train=${TRAIN:-../shared/data/npm-downloads.tsv.gz}
[ -r "$train" ] || { echo "no training set: $train (set TRAIN=FILE)" >&2; exit 1; }
[ $# -gt 0 ] || set -- 1000000 10000000
work=$(mktemp -d "${TMPDIR:-/tmp}/ahead-synthetic.XXXXXX")
trap 'rm -rf "$work"' EXIT

printf '%-10s %-8s %10s %9s %8s %8s %9s %10s  %s\n' completions memory input_MB snap_MB build_s sort_s peak_MB tmp_MB phases
for n in "$@"; do
  build/ahead-synth --train "$train" -n "$n" > "$work/in.tsv" 2>/dev/null
  /usr/bin/time -f "%e" -o "$work/t" env LC_ALL=C sort "$work/in.tsv" -o "$work/sorted"
  sort_s=$(cat "$work/t"); rm -f "$work/sorted"
  for mem in "" ${MEMORY:-}; do
    /usr/bin/time -f "%e %M" -o "$work/t" build/ahead-build ${mem:+--memory $mem} \
      "$work/in.tsv" -o "$work/out.snap" 2> "$work/log"
    read -r secs kb < "$work/t"
    build/ahead-query "$work/out.snap" -k 3 a > /dev/null  # it opens and answers
    phases=$(sed -n 's/^ahead-build: phases: //p' "$work/log")
    tmp_mb=$(sed -n 's/.*temporary disk at most \([0-9.]*\) MB.*/\1/p' "$work/log")
    awk -v n="$n" -v mem="${mem:-default}" -v in_b="$(stat -c %s "$work/in.tsv")" \
      -v snap_b="$(stat -c %s "$work/out.snap")" -v secs="$secs" -v sort_s="$sort_s" \
      -v kb="$kb" -v tmp="${tmp_mb:-0}" -v phases="$phases" 'BEGIN {
        printf "%-10s %-8s %10.1f %9.1f %8s %8s %9.0f %10s  %s\n", n, mem, in_b / 1e6,
          snap_b / 1e6, secs, sort_s, kb / 1024, tmp, phases }'
    rm -f "$work/out.snap"
  done
done
