#!/usr/bin/env bash
# The whole test suite: a debug build (run twice: waits with and without
# spinning), then ASan+UBSan, then TSan, each in its own build directory,
# then the Windows backend cross-built and run under Wine; all through
# `meson test`.
# Usage: tools/test.sh            (from anywhere inside the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh gcc pkg-config meson ninja-build binutils \
	liburing-dev libcriterion-dev \
	gcc-mingw-w64-x86-64 binutils-mingw-w64-x86-64 wine64 wine

# setup DIR [meson options...]: configure DIR afresh from the options.
setup() {
	local dir=$1
	shift
	rm -rf "$dir"
	meson setup "$dir" --buildtype=debug -Dbench=false "$@"
}

status=0
run() {
	local dir=$1
	echo "=== $dir ==="
	ninja -C "$dir"
	meson test -C "$dir" --print-errorlogs || status=1
}

setup build-debug
run build-debug
echo "=== build-debug, waits without spinning (APC_SPIN_NS=0) ==="
meson test -C build-debug --setup=nospin --print-errorlogs || status=1
echo "=== build-debug, the fallback I/O engine (APC_ENGINE=fallback) ==="
meson test -C build-debug --setup=fallback --print-errorlogs || status=1

# The I/O tests again on the fallback engine, under each sanitizer (the
# rest of the suite does no I/O).
io_tests=(io io-faults port engine npipe example-iocp-echo example-file-copy-3150000
	example-npipe-routines example-npipe-overlapped example-npipe-overlapped-2)

setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
run build-asan
echo "=== build-asan, the fallback I/O engine ==="
meson test -C build-asan --setup=fallback --print-errorlogs "${io_tests[@]}" ||
	status=1
unset ASAN_OPTIONS UBSAN_OPTIONS

setup build-tsan -Db_sanitize=thread -Db_lundef=false
# atexit_sleep_ms: see tests/meson.build.
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:atexit_sleep_ms=50
run build-tsan
echo "=== build-tsan, the fallback I/O engine ==="
meson test -C build-tsan --setup=fallback --print-errorlogs "${io_tests[@]}" ||
	status=1
unset TSAN_OPTIONS

# The Windows backend, cross-built with mingw-w64, its portable tests and
# examples run under Wine (in a Wine prefix of its own, made on first use).
setup build-win --cross-file cross/mingw-w64-x86_64.txt
export WINEPREFIX=$PWD/build-win/wineprefix WINEDEBUG=-all
wineboot -i >/dev/null 2>&1 || true
run build-win
wineserver -k >/dev/null 2>&1 || true

# Totals of the Criterion tests over every run (from meson's logs; each
# run's file also holds the examples and scripts, counted by meson above).
echo "=== summary ==="
passed=0
failed=0
for log in build-debug/meson-logs/testlog.txt \
	build-debug/meson-logs/testlog-nospin.txt \
	build-debug/meson-logs/testlog-fallback.txt \
	build-asan/meson-logs/testlog.txt \
	build-asan/meson-logs/testlog-fallback.txt \
	build-tsan/meson-logs/testlog.txt \
	build-tsan/meson-logs/testlog-fallback.txt \
	build-win/meson-logs/testlog.txt; do
	[ -f "$log" ] || continue
	read -r p f < <(awk '/Synthesis: Tested:/ {
			for (i = 1; i <= NF; i++) {
				if ($i == "Passing:") p += $(i + 1)
				if ($i == "Failing:" || $i == "Crashing:") f += $(i + 1)
			}
		} END { print p + 0, f + 0 }' "$log")
	echo "$log: $p Criterion tests passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
done
if [ $status -ne 0 ] && [ $failed -eq 0 ]; then
	failed=1 # a failure outside Criterion (a script, a crash, a timeout)
fi
echo "$passed passed, $failed failed"
exit $status
