#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Korean lookups: the words of Debian's hunspell-ko (99k, Zipf-shaped counts:
# bench/make_korean.py says why), typed as a 2-set input method shows them
# keystroke by keystroke (ㅎ, 하, 한, 한ㄱ, 한구, 한국) and asked as
# initial-consonant queries (ㅎㄱ), with the defaults (typos=auto,
# match=words) and exact (--typos 0 --match prefix), RUNS runs of each;
# the snapshot's size and its initial-consonant section.
#
#   bash bench/korean.sh [RUNS]      (default 3; needs build/ and hunspell-ko)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
out=bench/out
mkdir -p "$out"
[ -f /usr/share/hunspell/ko.dic ] || { echo "korean.sh: install hunspell-ko (apt-get install hunspell-ko)" >&2; exit 1; }
python3 bench/make_korean.py "$out"
/usr/bin/time -f "%e %M" -o "$out/time.txt" build/ahead-build --quiet "$out/korean.tsv" -o "$out/korean.snap"
read -r secs kb < "$out/time.txt"
stats=$(build/ahead-query "$out/korean.snap" --stats)
echo "build: $secs s, peak $((kb / 1024)) MB"; echo "$stats" | python3 -c "import json, sys; s = json.load(sys.stdin); print(s['entries'], 'completions,', s['file_bytes'], 'bytes,', s['bytes_per_entry'], 'per completion; initials section', s['sections'].get('choseong', 0), 'bytes')"
for file in typed initials; do
  for setting in defaults exact; do
    case $setting in
      defaults) args=(--passes 1) ;;
      exact) args=(--typos 0 --match prefix --passes 3) ;;
    esac
    : > "$out/korean-$file-$setting.json"
    for i in $(seq "$runs"); do
      build/ahead-bench-lookup "$out/korean.snap" "$out/korean.$file" -k 10 --json "${args[@]}" \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); d.pop("quantiles_ns"); print(json.dumps(d))' \
        >> "$out/korean-$file-$setting.json"
    done
    python3 - "$out/korean-$file-$setting.json" "$file $setting" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
med = {f: statistics.median(r[f] for r in runs) for f in ("p50_ns", "p99_ns", "max_ns", "mean_ns", "mean_results")}
print(f"{sys.argv[2]:18}: {runs[0]['queries']} lookups, median of {len(runs)}: p50 {med['p50_ns']:.0f} ns, "
      f"p99 {med['p99_ns']:.0f} ns, max {med['max_ns']:.0f} ns, mean {med['mean_ns']:.0f} ns, "
      f"{med['mean_results']:.2f} results")
PY
  done
done
