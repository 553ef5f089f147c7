#!/usr/bin/env bash
# Set-up (scripts/setup.sh), then every test: the full CTest suite (unit + end-to-end) on the
# normal build, the Debian package built, installed, run and removed once, the unit tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer, and a bounded libFuzzer run over the
# datagram parser. Exits non-zero on the first failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)

scripts/setup.sh
echo "== tests (build/)"
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 300

echo "== the Debian package: build, lintian, install, run, remove (tests/package/package_test.sh)"
tests/package/package_test.sh

echo "== unit tests under ASan + UBSan (build-asan/)"
TALLYD_BUILD_DIR=build-asan CMAKE_BUILD_TYPE=Debug \
  TALLYD_CMAKE_ARGS="-DTALLYD_SANITIZE=ON -DTALLYD_BENCH=OFF -DTALLYD_E2E=OFF" scripts/setup.sh
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -j "$jobs" --output-on-failure --timeout 600

echo "== fuzzing the datagram parser for ${FUZZ_SECONDS:-60} s"
scripts/fuzz.sh
