#!/bin/sh
# check-exports-pe.sh DLL [INCLUDEDIR]: the Windows DLL exports apc_* and
# nothing else, and (given INCLUDEDIR) every APC_API function that
# INCLUDEDIR/apc/*.h declares for Windows.  The Windows counterpart of
# check-exports.sh.
#
# The export table is read with objdump -p (OBJDUMP, by default
# x86_64-w64-mingw32-objdump): its "[Ordinal/Name Pointer] Table" lists
# every exported name.  Internal apc__* names are never exported.
# Declarations inside "#ifndef _WIN32" (or "#if !defined(_WIN32)") blocks
# of the headers are POSIX-only and not expected; those in the #else part
# of such a block, or inside "#ifdef _WIN32", are.  Exits 77 (skip) when
# objdump is missing.
set -u

dll=${1:?usage: check-exports-pe.sh DLL [INCLUDEDIR]}
incdir=${2:-}
OBJDUMP=${OBJDUMP:-x86_64-w64-mingw32-objdump}

if ! command -v "$OBJDUMP" >/dev/null 2>&1; then
	echo "check-exports-pe: $OBJDUMP not found, skipping" >&2
	exit 77
fi
if [ ! -f "$dll" ]; then
	echo "check-exports-pe: $dll: no such file" >&2
	exit 1
fi

table=$("$OBJDUMP" -p "$dll") || exit 1
if ! printf '%s\n' "$table" | grep -q '^\[Ordinal/Name Pointer\] Table'; then
	echo "check-exports-pe: $dll has no export name table" >&2
	exit 1
fi

# The exported names, one per line.
exported=$(printf '%s\n' "$table" | awk '
	/^\[Ordinal\/Name Pointer\] Table/ { in_table = 1; next }
	in_table && /^[ \t]*\[ *[0-9]+\] / { print $NF; next }
	in_table && NF == 0 { in_table = 0 }')

bad=$(printf '%s\n' "$exported" | awk 'NF && ($0 ~ /^apc__/ || $0 !~ /^apc_/)')
count=$(printf '%s\n' "$exported" | awk '/^apc_/ && !/^apc__/' | wc -l)

if [ -n "$bad" ]; then
	echo "check-exports-pe: $dll exports symbols outside apc_*:" >&2
	printf '%s\n' "$bad" >&2
	exit 1
fi
if [ "$count" -eq 0 ]; then
	echo "check-exports-pe: $dll exports no apc_* symbol" >&2
	exit 1
fi

if [ -n "$incdir" ]; then
	# APC_API lines outside POSIX-only conditional blocks.
	declared=$(awk '
		function excluded(  i) {
			for (i = 1; i <= depth; i++)
				if (state[i] == "posix") return 1
			return 0
		}
		/^[ \t]*#[ \t]*if/ {
			s = "any"
			if ($0 ~ /^[ \t]*#[ \t]*ifndef[ \t]+_WIN32/ ||
			    $0 ~ /^[ \t]*#[ \t]*if[ \t]+!defined[ \t]*\(?[ \t]*_WIN32/)
				s = "posix"
			else if ($0 ~ /^[ \t]*#[ \t]*ifdef[ \t]+_WIN32/ ||
				 $0 ~ /^[ \t]*#[ \t]*if[ \t]+defined[ \t]*\(?[ \t]*_WIN32[ \t]*\)?[ \t]*$/)
				s = "win32"
			state[++depth] = s
			next
		}
		/^[ \t]*#[ \t]*(else|elif)/ {
			if (state[depth] == "posix") state[depth] = "win32"
			else if (state[depth] == "win32") state[depth] = "posix"
			next
		}
		/^[ \t]*#[ \t]*endif/ { depth--; next }
		/APC_API/ && !excluded() { print }
	' "$incdir"/apc/*.h | grep -o 'apc_[a-z0-9_]*(' | tr -d '(' | sort -u)
	missing=0
	for fn in $declared; do
		if ! printf '%s\n' "$exported" | grep -qx "$fn"; then
			echo "check-exports-pe: $fn is declared APC_API but not exported" >&2
			missing=1
		fi
	done
	[ "$missing" -eq 0 ] || exit 1
fi
echo "check-exports-pe: $count apc_* symbols, nothing else"
exit 0
