#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_install: what `cmake --install` lays down works on its own. Installs
# the build folder into a temporary prefix, then checks the four programs
# and ahead-rollout start from there (the rollout tool using the installed
# ahead-query), the deployment examples are there, the systemd unit points
# at the installed ahead-serve and passes `systemd-analyze verify`, and the
# installed ahead-build and ahead-serve, away from the source and build
# folders, build the sample data and answer a completion, the page and the
# API description over HTTP.
#
# usage: check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source=$2
prefix=$(mktemp -d)
serve_pid=
cleanup() {
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    rm -rf "$prefix"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
bin=$prefix/bin
unit=$prefix/lib/systemd/system/ahead-serve.service
for f in "$bin/ahead-build" "$bin/ahead-serve" "$bin/ahead-query" "$bin/ahead-bench-lookup"; do
    [ -x "$f" ] || fail "$f not installed"
done
[ -f "$prefix/share/doc/ahead/README.md" ] || fail "README not installed"
# Each output is taken whole before it is searched: grep -q stops reading at
# its match, and with pipefail a help text longer than the pipe's first
# write would fail with SIGPIPE, not for what it says.
for p in ahead-build ahead-serve ahead-query ahead-bench-lookup; do
    out=$("$bin/$p" --version) && grep -q "^$p [0-9]" <<< "$out" || fail "$p --version"
    out=$("$bin/$p" --help) && grep -q "^Usage: $p " <<< "$out" || fail "$p --help"
done
echo "ok: four programs installed under $prefix/bin"
out=$("$bin/ahead-rollout" --help) && grep -q -- "--max-changed" <<< "$out" || fail "ahead-rollout --help"
for f in nginx.conf aggregate.sql; do
    [ -f "$prefix/share/doc/ahead/examples/$f" ] || fail "$f not installed"
done
echo "ok: ahead-rollout, nginx.conf and aggregate.sql installed"

grep -qx "ExecStart=$bin/ahead-serve \$AHEAD_SERVE_OPTS" "$unit" || fail "unit's ExecStart: $(grep ExecStart "$unit")"
grep -Eq '@[A-Z_]+@' "$unit" && fail "unconfigured @VARIABLE@ left in the unit"
if command -v systemd-analyze >/dev/null; then
    # verify also checks that ExecStart's program exists and is executable.
    systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
    echo "ok: systemd-analyze verify ahead-serve.service"
else
    echo "check_install: systemd-analyze not found (apt install systemd), the unit not verified: skipped"
fi

# The installed ahead-rollout finds the installed ahead-query beside it.
"$bin/ahead-build" -q "$source/data/sample.tsv" -o "$prefix/new.snap"
status=0
"$bin/ahead-rollout" --snapshot "$prefix/new.snap" \
    --replica "public=127.0.0.1:1,file=$prefix/live.snap" 2>"$prefix/rollout.log" || status=$?
[ "$status" = 1 ] && grep -q "stopped: http://127.0.0.1:1/v1/indexes" "$prefix/rollout.log" ||
    fail "ahead-rollout to a replica that is not there: $status $(cat "$prefix/rollout.log")"
status=0
"$bin/ahead-rollout" --snapshot "$prefix/new.snap" --replica "public=x" 2>"$prefix/rollout.log" || status=$?
[ "$status" = 2 ] && grep -q "file= are required" "$prefix/rollout.log" ||
    fail "ahead-rollout with a bad --replica: $status $(cat "$prefix/rollout.log")"
echo "ok: the installed ahead-rollout verifies with the installed ahead-query, refuses bad usage"

# Run from an empty folder, so nothing can come from the source or build tree.
cd "$prefix"
"$bin/ahead-build" "$source/data/sample.tsv" -o sample.snap 2>build.log || fail "ahead-build: $(cat build.log)"
"$bin/ahead-serve" --listen 127.0.0.1:0 --admin-listen off sample.snap 2>serve.log &
serve_pid=$!
port=
for _ in $(seq 1 300); do # up to 30 s: the machine may be busy
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' serve.log | head -1)
    [ -n "$port" ] && grep -q 'ready' serve.log && break
    kill -0 "$serve_pid" 2>/dev/null || fail "ahead-serve exited: $(cat serve.log)"
    sleep 0.1
done
[ -n "$port" ] || fail "ahead-serve did not report its port: $(cat serve.log)"

# HTTP/1.0 over bash's /dev/tcp: no client to install. Prints the response.
get() {
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&3
    cat <&3
    exec 3<&-
}
response=$(get '/v1/complete?q=hel&k=3')
head -1 <<< "$response" | grep -q ' 200 ' || fail "/v1/complete: $response"
grep -q '"text":"help"' <<< "$response" || fail "/v1/complete?q=hel has no help: $response"
response=$(get '/')
head -1 <<< "$response" | grep -q ' 200 ' || fail "GET /: $(echo "$response" | head -1)"
grep -q 'src="/ui/app.js"' <<< "$response" || fail "GET / is not the search box"
response=$(get '/ahead-autocomplete.js')
grep -q 'role", "combobox"' <<< "$response" || fail "GET /ahead-autocomplete.js: $(echo "$response" | head -1)"
response=$(get '/openapi.json')
grep -q '"openapi": *"3.1' <<< "$response" || fail "GET /openapi.json: $(echo "$response" | head -1)"
echo "ok: the installed ahead-build and ahead-serve answer /v1/complete, /, the widget and /openapi.json"
