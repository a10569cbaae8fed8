#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_deb: the Debian package, as an operator installs it. Makes it with
# `cpack -G DEB` from the build folder, checks what it holds (the five
# programs, a man page each, the systemd unit, README, copyright and
# changelog) and its dependencies (from dpkg-shlibdeps), runs lintian on it
# (any error fails; warnings are printed), then installs it with
# `apt-get install ./ahead_*.deb` where the machine allows it (root, apt, and
# no ahead package installed already: the test never replaces one),
# otherwise unpacks it with `dpkg-deb -x`; builds the sample with the
# installed ahead-build, answers a completion with the installed
# ahead-serve, reads `man ahead-serve`, checks the service was not enabled,
# and removes the package again (`apt-get remove`, dpkg -r underneath):
# nothing of it left. apt waits up to 5 minutes for the dpkg lock, so that
# another apt beside the test (an upgrade at boot, a second suite) is
# waited for instead of failing it.
#
# usage: check_deb.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
work=$(mktemp -d)
serve_pid=
installed=0
apt_wait=(-o DPkg::Lock::Timeout=300)
cleanup() {
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
    [ "$installed" = 1 ] && apt-get "${apt_wait[@]}" remove -y -qq ahead >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for tool in cpack dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null || { echo "check_deb: $tool not found (apt install dpkg-dev cmake): skipped"; exit 0; }
done
(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || fail "cpack: $(tail -5 "$work/cpack.log")"
deb=$(ls "$work"/out/ahead_*_*.deb)
version=$(sed -n 's/^project(ahead VERSION \([0-9.]*\).*/\1/p' "$source/CMakeLists.txt")
[ "$(basename "$deb")" = "ahead_${version}_$(dpkg --print-architecture).deb" ] || fail "package name $(basename "$deb")"
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$work/files"
for f in /usr/bin/ahead-build /usr/bin/ahead-query /usr/bin/ahead-serve /usr/bin/ahead-bench-lookup \
    /usr/bin/ahead-rollout /usr/lib/systemd/system/ahead-serve.service /usr/share/doc/ahead/README.md \
    /usr/share/doc/ahead/copyright /usr/share/doc/ahead/changelog.gz /usr/share/doc/ahead/examples/nginx.conf; do
    grep -qx "$f" "$work/files" || fail "$f is not in the package"
done
for p in ahead-build ahead-query ahead-serve ahead-bench-lookup ahead-rollout; do
    grep -qx "/usr/share/man/man1/$p.1.gz" "$work/files" || fail "no man page for $p (apt install help2man)"
done
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libc6 libh2o-evloop libjemalloc2 libutf8proc libcjson zlib1g python3; do
    grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
echo "ok: $(basename "$deb"): $(wc -l <"$work/files") entries; Depends: $depends"

if command -v lintian >/dev/null; then
    lintian --pedantic "$deb" >"$work/lintian.txt" 2>/dev/null || true
    grep -q '^E: ' "$work/lintian.txt" && fail "lintian errors: $(grep '^E: ' "$work/lintian.txt")"
    if grep -q '^[WIP]: ' "$work/lintian.txt"; then
        echo "lintian: no errors; $(grep -c '^[WIP]: ' "$work/lintian.txt") warnings or notes:"
        grep '^[WIP]: ' "$work/lintian.txt"
    else
        echo "ok: lintian --pedantic: nothing to say"
    fi
else
    echo "check_deb: lintian not found (apt install lintian), the package not linted: skipped"
fi

# The package is the machine's: a second suite beside this one (a build of
# another clone) would install and remove the same package between this
# one's steps. So the install, the checks and the removal hold a lock on
# the machine for as long as the script runs (fd 9 closes at exit, after
# the cleanup's removal); the other waits for it.
exec 9>"${TMPDIR:-/tmp}/ahead-check-deb.lock"
flock -w 600 9 || fail "another check_deb held the lock for 10 minutes"
root=
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null &&
    ! dpkg-query -W -f='${Status}' ahead 2>/dev/null | grep -q installed; then
    apt-get "${apt_wait[@]}" install -y -qq "$deb" >"$work/apt.log" 2>&1 ||
        fail "apt-get install: $(tail -5 "$work/apt.log")"
    installed=1
    root=
    [ -e /etc/systemd/system/multi-user.target.wants/ahead-serve.service ] && fail "the service was enabled"
    echo "ok: apt-get install ./$(basename "$deb")"
else
    dpkg-deb -x "$deb" "$work/root"
    root=$work/root
    echo "check_deb: not root, no apt or ahead already installed: unpacked with dpkg-deb -x instead"
fi
bin=$root/usr/bin
cd "$work"
"$bin/ahead-build" -q "$source/data/sample.tsv" -o sample.snap || fail "installed ahead-build"
"$bin/ahead-query" sample.snap --verify | grep -q ': ok' || fail "installed ahead-query --verify"
"$bin/ahead-rollout" --version | grep -qx "ahead-rollout $version" || fail "ahead-rollout --version"
"$bin/ahead-serve" --listen 127.0.0.1:0 --admin-listen off sample.snap 2>serve.log &
serve_pid=$!
port=
for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' serve.log | head -1)
    [ -n "$port" ] && grep -q 'ready' serve.log && break
    kill -0 "$serve_pid" 2>/dev/null || fail "installed ahead-serve exited: $(cat serve.log)"
    sleep 0.1
done
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /v1/complete?q=hel&k=3 HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
response=$(cat <&3)
exec 3<&-
grep -q '"text":"help"' <<<"$response" || fail "installed ahead-serve: $response"
echo "ok: the installed programs build the sample and answer /v1/complete"
if command -v man >/dev/null; then
    page=$(MANWIDTH=80 man -l "$root/usr/share/man/man1/ahead-serve.1.gz" 2>/dev/null)
    grep -q "ahead-serve - serve typeahead completions" <<<"$page" && grep -q -- "--watch" <<<"$page" ||
        fail "man ahead-serve: $page"
    echo "ok: man ahead-serve reads: $(grep -c . <<<"$page") lines"
fi

if [ "$installed" = 1 ]; then
    kill "$serve_pid" && wait "$serve_pid" 2>/dev/null || true
    serve_pid=
    apt-get "${apt_wait[@]}" remove -y -qq ahead >"$work/remove.log" 2>&1 ||
        fail "apt-get remove: $(cat "$work/remove.log")"
    installed=0
    status=$(dpkg-query -W -f='${db:Status-Status}' ahead 2>/dev/null || echo not-installed)
    [ "$status" = not-installed ] || [ "$status" = config-files ] || fail "after apt-get remove: $status"
    while read -r f; do
        [ -f "$f" ] && fail "$f left after apt-get remove"
    done <"$work/files"
    echo "ok: apt-get remove ahead: removed, nothing left"
fi
