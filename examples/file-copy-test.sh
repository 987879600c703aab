#!/bin/sh
# file-copy-test.sh [--wrapper CMD] [--sha256] [--errors] EXE BYTES DEPTH...
#
# Runs the file-copy example (EXE, through CMD when given: wine for the
# Windows build) on BYTES bytes of pseudo-random data (/dev/urandom), once
# per DEPTH (operations in flight), and compares each copy with the
# source: byte for byte with cmp, or by SHA-256 with --sha256.  --errors
# also checks that a missing source and a bad depth fail with a message
# and a non-zero exit.  The files live in a directory of their own under
# $TMPDIR (default /tmp), removed on exit; the example is given relative
# names there, which Wine maps through its Z: drive like any other.
#
# Exits 0 when every copy matches, 77 (meson's skip) when APC_ENGINE=uring
# forces an engine this kernel cannot run (the example's open fails with
# ERROR_NOT_SUPPORTED, 50) or the disk lacks room for two copies, 1
# otherwise.
set -u

wrapper=
sha=0
errors=0
while [ $# -gt 0 ]; do
	case $1 in
	--wrapper) wrapper=$2; shift 2 ;;
	--sha256) sha=1; shift ;;
	--errors) errors=1; shift ;;
	*) break ;;
	esac
done
exe=${1:?usage: file-copy-test.sh [--wrapper CMD] [--sha256] [--errors] EXE BYTES DEPTH...}
bytes=${2:?missing BYTES}
shift 2
case $exe in /*) ;; *) exe=$PWD/$exe ;; esac # the script moves to its directory
[ $# -gt 0 ] || { echo "missing DEPTH" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/file-copy.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
trap 'exit 1' INT TERM HUP
cd "$dir" || exit 1

# Source and copy side by side need twice BYTES (plus slack); a machine
# without that room skips the test (meson's 77) rather than fail it half
# way with a full disk.
avail_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ -n "$avail_kib" ] && [ $((bytes / 512 + 65536)) -gt "$avail_kib" ]; then
	echo "SKIP: $((avail_kib / 1024)) MiB free in $dir, $((bytes / 524288 + 64)) MiB needed"
	exit 77
fi

# run ARGS...: the example, through the wrapper; its output in ./out.
run() {
	if [ -n "$wrapper" ]; then
		"$wrapper" "$exe" "$@" >out 2>&1
	else
		"$exe" "$@" >out 2>&1
	fi
}

now() {
	date +%s.%N
}

# since T: seconds from T to now, to the hundredth.
since() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}

t0=$(now)
head -c "$bytes" /dev/urandom >src || exit 1
[ "$(wc -c <src)" -eq "$bytes" ] || { echo "short source file" >&2; exit 1; }
echo "source: $bytes bytes in $(since "$t0") s"
[ $sha -eq 1 ] && sum=$(sha256sum <src | cut -d' ' -f1)

for depth in "$@"; do
	t0=$(now)
	run src dst "$depth"
	rc=$?
	took=$(since "$t0")
	cat out
	if [ $rc -ne 0 ]; then
		if [ "${APC_ENGINE:-}" = uring ] && grep -q 'error 50$' out; then
			echo "SKIP: APC_ENGINE=uring, and io_uring cannot be set up here"
			exit 77
		fi
		echo "FAIL: file-copy with N=$depth exited $rc"
		exit 1
	fi
	if [ $sha -eq 1 ]; then
		got=$(sha256sum <dst | cut -d' ' -f1)
		if [ "$got" != "$sum" ]; then
			echo "FAIL: N=$depth: sha256 $got, source $sum"
			exit 1
		fi
		echo "N=$depth: sha256 $got matches"
	elif ! cmp src dst; then
		echo "FAIL: N=$depth: the copy differs"
		exit 1
	fi
	echo "N=$depth: $bytes bytes copied in $took s"
	rm -f dst
done

if [ $errors -eq 1 ]; then
	if run missing dst 8; then
		echo "FAIL: a missing source did not fail"
		exit 1
	fi
	cat out
	grep -q 'cannot open missing' out || { echo "FAIL: no message"; exit 1; }
	if run src dst 0; then
		echo "FAIL: N=0 was accepted"
		exit 1
	fi
	cat out
	echo "errors: a missing source and N=0 fail as they should"
fi
exit 0
