#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages ahead needs to build, test and serve, and
# only those that are missing (so a second run costs nothing). Needs root or
# sudo. Used by both quick-start commands and by CI.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format python3
  libh2o-evloop-dev libssl-dev zlib1g-dev libjemalloc-dev libcjson-dev
  libutf8proc-dev check libsubunit-dev libcurl4-openssl-dev wrk
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
