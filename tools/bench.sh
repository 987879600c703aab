#!/usr/bin/env bash
# The benchmark suite: a release build, then every benchmark program next
# to its baselines, printed as one table with ratios.
# Usage: tools/bench.sh [--long]
#
# On an x86_64 host with Wine and the mingw-w64 cross compiler (installed
# here when missing and installable: gcc-mingw-w64-x86-64, wine64, wine),
# the bench programs are also cross-built for Windows (build-release-win,
# the Windows backend) and the table gains their runs under Wine, next to
# apcrt on Linux (bench/run --wine).  BENCH_WINE=0 leaves Wine out.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh gcc pkg-config meson ninja-build liburing-dev \
	libwinpr2-dev libuv1-dev

wine_args=()
if [ "${BENCH_WINE:-1}" != 0 ] && [ "$(uname -m)" = x86_64 ]; then
	# Optional: without them the table has no Wine rows.
	tools/deps.sh gcc-mingw-w64-x86-64 wine64 wine ||
		echo "bench.sh: Wine or mingw-w64 not installable; no Wine column" >&2
	if command -v wine >/dev/null && command -v x86_64-w64-mingw32-gcc >/dev/null; then
		wine_args=(--wine build-release-win)
	fi
fi

rm -rf build-release
meson setup build-release --buildtype=release -Db_ndebug=true -Db_lto=true \
	-Dtests=false -Dexamples=false
ninja -C build-release

if [ ${#wine_args[@]} -gt 0 ]; then
	rm -rf build-release-win
	meson setup build-release-win --cross-file cross/mingw-w64-x86_64.txt \
		--buildtype=release -Db_ndebug=true -Dtests=false -Dexamples=false
	ninja -C build-release-win
fi
exec bench/run build-release "${wine_args[@]}" "$@"
