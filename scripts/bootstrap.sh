#!/usr/bin/env bash
# Installs every Debian and npm dependency selfheal needs to build, test and run. Safe to re-run:
# when nothing is missing it only checks (well under a second). Run as root on Debian 12.
set -euo pipefail

# Build and runtime libraries, test tools, and the real servers the integration tests start.
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libyaml-cpp-dev nlohmann-json3-dev libcpp-httplib-dev libfmt-dev libsqlite3-dev sqlite3
  libssl-dev openssl zlib1g-dev libbrotli-dev librdkafka-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang clang-format clang-tidy libclang-rt-14-dev
  postgresql libpq-dev prometheus docker-compose chromium
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
    echo "bootstrap: run 'sudo scripts/bootstrap.sh' (or as root) to install them" >&2
    exit 1
  fi
  echo "bootstrap: installing ${#missing[@]} Debian package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm dependencies of the web dashboard and the browser/schema tests, when those folders exist.
for dir in web tests/e2e tests/deploy; do
  if [[ -f "$dir/package.json" ]]; then
    if [[ ! -d "$dir/node_modules" || "$dir/package.json" -nt "$dir/node_modules/.installed" ]]; then
      echo "bootstrap: npm install in $dir"
      (cd "$dir" && npm install --no-audit --no-fund --loglevel=error && touch node_modules/.installed)
    fi
  fi
done
