#!/usr/bin/env bash
# Runs every benchmark binary in BUILD/bench (Google Benchmark) and the bench commands of selfheal.
set -euo pipefail
build=${1:-build/release}
shopt -s nullglob
for b in "$build"/bench/*/bench_*; do
  [[ -x "$b" ]] || continue
  echo "== $(basename "$b")"
  "$b" --benchmark_counters_tabular=true
done
