#!/usr/bin/env bash
# Builds the log processor's libFuzzer targets with clang++ and runs them.
#   scripts/fuzz.sh                 long run: 10 minutes per target (FUZZ_SECONDS to change)
#   scripts/fuzz.sh --short         200,000 inputs per target with a fixed seed, from fuzz/logproc/corpus (ctest)
#   --build-dir DIR                 where binaries and the working corpus go (default build/fuzz)
# Exit status is non-zero when a target crashes; the crashing input is left in the build dir.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-600}
build="$root/build/fuzz"
# The short run (inside `make test`) is deterministic: a fixed seed and a fixed number of inputs,
# so it fails only on a real bug, never on the luck of a run.
limit=(-max_total_time="$seconds")
while [[ $# -gt 0 ]]; do
  case "$1" in
    --short) limit=(-seed=1 -runs="${FUZZ_RUNS:-200000}") ;;
    --build-dir) build=$2; shift ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
cxx=${CXX_FUZZ:-clang++}
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found" >&2; exit 2; }
mkdir -p "$build"
common=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$root/src")
build_target() {  # name, sources...
  local name=$1; shift
  local out="$build/fuzz_$name"
  local newest=0 src
  for src in "$@"; do [[ "$src" -nt "$out" ]] && newest=1; done
  if [[ ! -x "$out" || $newest == 1 ]]; then
    echo "== building fuzz_$name"
    "$cxx" "${common[@]}" -o "$out" "$@"
  fi
}
lp="$root/src/logproc"
build_target log_parser "$root/fuzz/logproc/fuzz_log_parser.cpp" "$lp/log_parser.cpp"
build_target template_miner "$root/fuzz/logproc/fuzz_template_miner.cpp" "$lp/template_miner.cpp"
status=0
for t in log_parser template_miner; do
  seeds="$root/fuzz/logproc/corpus/${t%%_*}"
  [[ $t == template_miner ]] && seeds="$root/fuzz/logproc/corpus/miner"
  [[ $t == log_parser ]] && seeds="$root/fuzz/logproc/corpus/parser"
  work="$build/corpus_$t"
  mkdir -p "$work"
  echo "== fuzz_$t (${limit[*]})"
  if ! (cd "$build" && "./fuzz_$t" "${limit[@]}" -max_len=1100000 -rss_limit_mb=2048 -print_final_stats=1 \
        "$work" "$seeds" 2>"$build/fuzz_$t.log"); then
    echo "fuzz_$t FAILED; see $build/fuzz_$t.log" >&2
    tail -40 "$build/fuzz_$t.log" >&2
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$build/fuzz_$t.log" | tail -2
  fi
done
exit $status
