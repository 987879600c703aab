#!/bin/sh
# valgrind.sh TEST [ARGS...]: run a Criterion test program under memcheck.
#
# Criterion runs every test in a child process (BoxFort) and ignores a
# child's exit status once the test has reported, so plain
# `valgrind --error-exitcode=1` sees nothing.  Here memcheck follows the
# children; a memory error ends the child at once (the test then fails in
# Criterion's report), and leaks, which memcheck reports only when each
# child exits, are collected from the per-process logs afterwards: any
# "ERROR SUMMARY" other than 0 fails the run.  Used by the meson test
# setup 'valgrind' (meson test --setup=valgrind).
set -u

if ! command -v valgrind >/dev/null 2>&1; then
	echo "valgrind.sh: valgrind not found, skipping" >&2
	exit 77
fi

# Scripts (check-exports.sh) run as they are.
if [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" != '177ELF' ]; then
	exec "$@"
fi

logdir=$(mktemp -d "${TMPDIR:-/tmp}/apcrt-vg.XXXXXX") || exit 1
trap 'rm -rf "$logdir"' EXIT

valgrind --trace-children=yes \
	--error-exitcode=1 --exit-on-first-error=yes \
	--leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --fair-sched=yes \
	--log-file="$logdir/vg.%p" "$@"
rc=$?

failed=0
for log in "$logdir"/vg.*; do
	[ -e "$log" ] || continue
	if grep -q 'ERROR SUMMARY: [1-9]\|are definitely lost\|Exit program on first error' "$log"; then
		echo "---- valgrind: $log" >&2
		cat "$log" >&2
		failed=1
	fi
done

if [ "$failed" -ne 0 ] && [ "$rc" -eq 0 ]; then
	rc=1
fi
exit "$rc"
