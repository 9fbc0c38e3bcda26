#!/usr/bin/env bash
# Runs every benchmark binary in BUILD/bench (Google Benchmark) and the bench commands of selfheal.
set -euo pipefail
build=${1:-build/release}
shopt -s nullglob
for b in "$build"/bench/*/bench_*; do
  [[ -x "$b" ]] || continue
  [[ "$(basename "$b")" == bench_api_load ]] && continue  # not Google Benchmark: run below
  echo "== $(basename "$b")"
  "$b" --benchmark_counters_tabular=true
done
# The API under load while the pipeline runs (issue 7): requests/s and p50/p99 of the incident list
# next to the trivial /healthz in the same run (the machine-noise baseline).
if [[ -x "$build/bench/api/bench_api_load" ]]; then
  echo "== bench_api_load"
  "$build/bench/api/bench_api_load" --selfheal "$build/bin/selfheal" --speed 60 --connections 8 --seconds 8
fi
