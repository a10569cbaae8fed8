#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The run command of the README's quick start: installs what is missing,
# builds, compiles the shipped sample (data/sample.tsv) into a snapshot, shows
# a few completions, and serves the snapshot (and the search box at /) on
# 127.0.0.1:8080 (admin on 127.0.0.1:8081) until Ctrl-C. PORT=... and
# ADMIN_PORT=... change the ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
build/ahead-build data/sample.tsv -o build/sample.snap
echo
echo "== a few completions, straight from the snapshot (ahead-query):"
build/ahead-query build/sample.snap -k 5 "th" "wor" "Ab"
echo
port=${PORT:-8080}
admin=${ADMIN_PORT:-8081}
if [ ! -x build/ahead-serve ]; then
  echo "ahead-serve was not built; the snapshot is build/sample.snap" >&2
  exit 1
fi
echo "== serving build/sample.snap on 127.0.0.1:$port (Ctrl-C stops)."
echo "   Open http://127.0.0.1:$port/ in a browser and type, or in another terminal:"
echo "   curl 'http://127.0.0.1:$port/v1/complete?q=th&k=5'"
echo "   curl 'http://127.0.0.1:$admin/metrics'"
exec build/ahead-serve --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" build/sample.snap
