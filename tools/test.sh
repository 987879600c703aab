#!/usr/bin/env bash
# The whole test suite: a debug build, then ASan+UBSan, then TSan, each in
# its own build directory, all through `meson test`.
# Usage: tools/test.sh            (from anywhere inside the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh gcc pkg-config meson ninja-build binutils \
	liburing-dev libcriterion-dev

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

setup build-asan -Db_sanitize=address,undefined -Db_lundef=false
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run build-asan

setup build-tsan -Db_sanitize=thread -Db_lundef=false
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 run build-tsan

if [ $status -ne 0 ]; then
	echo "tools/test.sh: some tests FAILED"
fi
exit $status
