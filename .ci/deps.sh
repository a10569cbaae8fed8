#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages ahead needs to build, test and serve, and
# only those that are missing (so a second run costs nothing). Needs root or
# sudo. Used by both quick-start commands and by CI.
#
#   bash .ci/deps.sh          what building and serving need (server/demo.sh)
#   bash .ci/deps.sh test     and what the tests need on top: wrk, Chromium,
#                             Node.js with the web tests' npm packages
#                             (tests/web/package-lock.json), systemd-analyze,
#                             clang (libFuzzer, for tests/fuzz.sh), curl
#                             (bench/hostile.sh and bench/soak.sh), nginx
#                             (bench/deploy.sh), libfuse3 (a disk with a bad
#                             sector, for check_hotswap), help2man, lintian
#                             and dpkg-dev (the Debian package, check_deb),
#                             matplotlib (bench/plot.py, check_plots)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config python3
  libh2o-evloop-dev libssl-dev zlib1g-dev libjemalloc-dev libcjson-dev
  libutf8proc-dev check libsubunit-dev libcurl4-openssl-dev
)
if [ "${1:-}" = test ]; then
  packages+=(clang-format clang wrk chromium systemd curl nginx libfuse3-dev help2man lintian dpkg-dev man-db
             python3-matplotlib)
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  # Chromium without its recommends: apt would pull some 130 packages.
  # Waiting for the dpkg lock: a fresh machine may be upgrading itself at boot.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "${1:-}" = test ]; then
  # The web tests' packages, exactly as locked, only when the lock file changed.
  stamp=tests/web/node_modules/.package-lock.json
  if [ ! -f "$stamp" ] || [ tests/web/package-lock.json -nt "$stamp" ]; then
    echo "deps: npm ci in tests/web"
    (cd tests/web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
fi
