#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 into build-fuzz/ and runs the parser fuzzer for
# ${FUZZ_SECONDS:-60} seconds. The seed corpus is copied into build-fuzz/ first so new inputs
# never land in the repository. Exits nonzero on any crash, leak or sanitizer report.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${root}/build-fuzz"
seconds="${FUZZ_SECONDS:-60}"

CC=clang-14 CXX=clang++-14 cmake -S "${root}" -B "${build}" -G Ninja \
  -DTALLYD_FUZZ=ON -DTALLYD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "${build}" --target parser_fuzz

corpus="${build}/corpus/parser"
rm -rf "${corpus}"
mkdir -p "${corpus}" "${build}/artifacts"
cp "${root}/fuzz/corpus/parser/"* "${corpus}/"

# libFuzzer exits nonzero on a crash or sanitizer report and writes the input to artifacts/.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
"${build}/fuzz/parser_fuzz" -max_total_time="${seconds}" -max_len=4096 -timeout=10 \
  -dict="${root}/fuzz/parser.dict" -print_final_stats=1 -artifact_prefix="${build}/artifacts/" "${corpus}"
echo "parser_fuzz: ${seconds}s, no crash"
