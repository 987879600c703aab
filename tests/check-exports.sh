#!/bin/sh
# check-exports.sh LIBRARY [INCLUDEDIR]: the shared library exports apc_*
# and nothing else, and (given INCLUDEDIR) every APC_API function declared
# in INCLUDEDIR/apc/*.h.
#
# Every dynamic symbol the library defines must start with "apc_"; the only
# exceptions are the version node the linker script creates (APCRT_0, an
# absolute symbol) and the linker-defined markers that some toolchains
# export (_init, _fini, _edata, _end, __bss_start).  Internal apc__* names
# are never exported.  Exits 77 (skip) when nm is missing.
set -u

lib=${1:?usage: check-exports.sh LIBRARY [INCLUDEDIR]}
incdir=${2:-}
NM=${NM:-nm}

if ! command -v "$NM" >/dev/null 2>&1; then
	echo "check-exports: $NM not found, skipping" >&2
	exit 77
fi
if [ ! -f "$lib" ]; then
	echo "check-exports: $lib: no such file" >&2
	exit 1
fi

syms=$("$NM" -D --defined-only "$lib") || exit 1

bad=$(printf '%s\n' "$syms" | awk '
	NF >= 2 {
		name = $NF
		sub(/@.*/, "", name)
		if (name ~ /^apc__/) { print; next }
		if (name ~ /^apc_/) next
		if (name ~ /^APCRT_[0-9]+$/ && $(NF - 1) == "A") next
		if (name ~ /^(_init|_fini|_edata|_end|__bss_start)$/) next
		print
	}')

count=$(printf '%s\n' "$syms" | awk '$NF ~ /^apc_/ && $NF !~ /^apc__/' | wc -l)

if [ -n "$bad" ]; then
	echo "check-exports: $lib exports symbols outside apc_*:" >&2
	printf '%s\n' "$bad" >&2
	exit 1
fi
if [ "$count" -eq 0 ]; then
	echo "check-exports: $lib exports no apc_* symbol" >&2
	exit 1
fi

if [ -n "$incdir" ]; then
	exported=$(printf '%s\n' "$syms" | awk '{ n = $NF; sub(/@.*/, "", n); print n }')
	missing=0
	for fn in $(cat "$incdir"/apc/*.h | grep 'APC_API' |
		    grep -o 'apc_[a-z0-9_]*(' | tr -d '(' | sort -u); do
		if ! printf '%s\n' "$exported" | grep -qx "$fn"; then
			echo "check-exports: $fn is declared APC_API but not exported" >&2
			missing=1
		fi
	done
	[ "$missing" -eq 0 ] || exit 1
fi
echo "check-exports: $count apc_* symbols, nothing else"
exit 0
