#!/usr/bin/env bash
# The benchmark suite: a release build, then every benchmark program next
# to its baselines, printed as one table with ratios.
# Usage: tools/bench.sh [--long]
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh gcc pkg-config meson ninja-build liburing-dev \
	libwinpr2-dev libuv1-dev

rm -rf build-release
meson setup build-release --buildtype=release -Db_ndebug=true -Db_lto=true \
	-Dtests=false -Dexamples=false
ninja -C build-release
exec bench/run build-release "$@"
