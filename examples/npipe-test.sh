#!/bin/sh
# npipe-test.sh [--wrapper CMD] [--limit S] SERVER CLIENT CLIENTS COUNT [ARG...]
#
# Runs a named-pipe server example (SERVER, with the pipe name and the
# ARGs) and CLIENTS processes of the client example (CLIENT), each
# sending COUNT requests and checking every reply, all through CMD when
# given (wine for the Windows build).  The pipe is \\.\pipe\apcrt-npipe-
# and this script's process id, so that tests running at the same time
# do not meet.  In order:
#
#   1. the server starts and must print "listening on" within S seconds;
#   2. the clients run at the same time, each bounded by S seconds, and
#      each must exit 0 having checked all its COUNT replies;
#   3. one more client sends "quit", and must be answered "bye";
#   4. the server must then end within S seconds, exit 0 and report
#      CLIENTS * COUNT requests on CLIENTS + 1 connections;
#   5. a last client must find no such pipe (error 2, ERROR_FILE_NOT_FOUND):
#      the server closed every instance.
#
# S is 60 unless given.  Outputs live in a directory of their own under
# $TMPDIR (default /tmp), removed on exit, with any process still
# running.  Exits 0 when all of the above holds, 77 (meson's skip) when
# APC_ENGINE=uring forces an engine this kernel cannot run (the server
# fails with ERROR_NOT_SUPPORTED, 50), 1 otherwise.
set -u

wrapper=
limit=60
while [ $# -gt 0 ]; do
	case $1 in
	--wrapper) wrapper=$2; shift 2 ;;
	--limit) limit=$2; shift 2 ;;
	*) break ;;
	esac
done
usage='usage: npipe-test.sh [--wrapper CMD] [--limit S] SERVER CLIENT CLIENTS COUNT [ARG...]'
server=${1:?$usage}
client=${2:?$usage}
clients=${3:?$usage}
count=${4:?$usage}
shift 4
case $server in /*) ;; *) server=$PWD/$server ;; esac # the script moves
case $client in /*) ;; *) client=$PWD/$client ;; esac

dir=$(mktemp -d "${TMPDIR:-/tmp}/npipe-test.XXXXXX") || exit 1
spid=
cpids=
cleanup() {
	for p in $spid $cpids; do
		kill "$p" 2>/dev/null
	done
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
cd "$dir" || exit 1

name='\\.\pipe\apcrt-npipe-'$$
fail() {
	echo "FAIL: $*"
	for f in server.out client*.out; do
		[ -f "$f" ] && { echo "--- $f"; out "$f"; }
	done
	exit 1
}

now() {
	date +%s.%N
}

# out FILE: a program's output without the CRs of Windows' text mode.
out() {
	tr -d '\r' <"$1"
}

# since T: seconds from T to now, to the hundredth.
since() {
	awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}

# 1. The server, bounded by the whole run's time; it is the only
# process of its timeout.
t0=$(now)
timeout -k 5 $((limit * 4)) ${wrapper:+"$wrapper"} "$server" "$name" "$@" \
	>server.out 2>&1 &
spid=$!
waited=0
until grep -q 'listening on' server.out; do
	if ! kill -0 "$spid" 2>/dev/null; then
		wait "$spid"
		rc=$?
		spid=
		if [ "${APC_ENGINE:-}" = uring ] && out server.out | grep -q 'error 50$'; then
			cat server.out
			echo "SKIP: APC_ENGINE=uring, and io_uring cannot be set up here"
			exit 77
		fi
		fail "the server exited $rc before listening"
	fi
	[ $waited -lt $((limit * 10)) ] || fail "the server did not listen in $limit s"
	sleep 0.1
	waited=$((waited + 1))
done
printf "server: listening after %s s: %s\n" "$(since "$t0")" "$(out server.out)"

# 2. The clients, all at once.
t0=$(now)
i=1
while [ $i -le "$clients" ]; do
	timeout -k 5 "$limit" ${wrapper:+"$wrapper"} "$client" "$name" $i \
		"$count" >client$i.out 2>&1 &
	cpids="$cpids $!"
	i=$((i + 1))
done
i=1
bad=
for p in $cpids; do
	wait "$p"
	rc=$?
	[ $rc -eq 0 ] || bad="$bad client $i exited $rc;"
	out client$i.out |
		grep -q "^npipe-client $i: $count requests, every reply checked" ||
		bad="$bad client $i did not check its replies;"
	i=$((i + 1))
done
cpids=
[ -z "$bad" ] || fail "$bad"
for f in client*.out; do out "$f"; done
echo "clients: $clients x $count requests in $(since "$t0") s"

# 3. Quit.
timeout -k 5 "$limit" ${wrapper:+"$wrapper"} "$client" "$name" --quit \
	>client-quit.out 2>&1
rc=$?
[ $rc -eq 0 ] || fail "the quit client exited $rc"
out client-quit.out | grep -q 'the server says bye' || fail "no bye"

# 4. The server's end.
waited=0
while kill -0 "$spid" 2>/dev/null; do
	[ $waited -lt $((limit * 10)) ] || fail "the server did not end in $limit s after quit"
	sleep 0.1
	waited=$((waited + 1))
done
wait "$spid"
rc=$?
spid=
out server.out
[ $rc -eq 0 ] || fail "the server exited $rc"
want="$((clients * count)) requests on $((clients + 1)) connections"
out server.out | grep -q ": $want\$" || fail "the server did not report $want"

# 5. No pipe left.
timeout -k 5 "$limit" ${wrapper:+"$wrapper"} "$client" "$name" 0 1 \
	>client-after.out 2>&1
rc=$?
if [ $rc -ne 1 ] || ! out client-after.out | grep -q 'cannot open .*: error 2$'; then
	fail "a client after the server's end exited $rc"
fi
printf "after the server's end: %s\n" "$(out client-after.out)"
exit 0
