#!/bin/sh
# test_layers.sh - the tree keeps its layers (docs/architecture.md, "The layers"). Reads every
# #include "..." line of src/, include/, tools/ and bench/ and fails on any against the rules:
#   src/util/    includes nothing of ours but util/ (and the public include/)
#   src/core/    util/ and core/ (and include/, schemas/*.def)
#   src/nouns/   util/, core/ and nouns/ (and include/)
#   src/server/  util/ and server/ (and include/): the library only through its public API
#   src/client/  util/ and client/ (and include/)
#   tools/, bench/, include/   only include/ (and their own directory's headers)
# Inside src/ a header is named by its layer ("core/store.h"), so the layer shows in the line.
# tests/ may include anything: they test the internals. Then it checks the checker: a copy of
# the tree with bad includes added must fail on each of them.
. "$(dirname "$0")/tap.sh"

# allowed FROM TO: may a file of area FROM include a header of layer TO?
allowed() {
	case "$1:$2" in
	util:util | core:util | core:core | nouns:util | nouns:core | nouns:nouns) return 0 ;;
	server:util | server:server | client:util | client:client) return 0 ;;
	esac
	return 1
}

# area FILE: the layer or top folder FILE belongs to ("core", "tools", ...), "src" when it
# lies directly in src/.
area() {
	case "$1" in
	src/*/*) d=${1#src/}; echo "${d%%/*}" ;;
	src/*) echo src ;;
	*) echo "${1%%/*}" ;;
	esac
}

# violations ROOT: one line "FILE: why" for every include against the rules under ROOT.
violations() {
	(
		cd "$1" || exit 1
		for f in src/*.[ch] src/*/*.[ch] include/*.h tools/*.[ch] bench/*.[ch]; do
			[ -e "$f" ] || continue
			a=$(area "$f")
			[ "$a" = src ] && echo "$f: lies outside the layers (src/util, core, nouns, server, client)"
			sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
				while IFS= read -r h; do
					case "$h" in
					*/*)
						l=${h%%/*}
						if [ ! -f "src/$h" ]; then
							echo "$f: includes \"$h\", which is not a header of src/"
						elif ! allowed "$a" "$l"; then
							echo "$f: $a includes \"$h\" ($l)"
						fi
						;;
					*)
						if [ -f "include/$h" ]; then
							: # the public API: every layer may use it
						elif [ "${h%.def}" != "$h" ] && [ -f "schemas/$h" ]; then
							[ "$a" = core ] || echo "$f: $a includes the schema \"$h\" (the core's)"
						elif [ -f "$(dirname "$f")/$h" ]; then
							case "$a" in
							tools | bench) ;; # their own helpers
							*) echo "$f: includes \"$h\" without its layer (write \"$a/$h\")" ;;
							esac
						else
							echo "$f: includes \"$h\", found neither in include/ nor beside it"
						fi
						;;
					esac
				done
		done
	)
}

# The tree as it is.
violations . >"$T/v" 2>&1
files=$(ls src/*/*.[ch] include/*.h tools/*.[ch] bench/*.[ch] | wc -l)
check "the tree has sources in every layer ($files files read)" [ "$files" -gt 50 ]
for l in util core nouns server client; do
	check "src/$l/ holds the layer's files" [ -n "$(ls src/$l/*.c 2>/dev/null)" ]
done
if [ -s "$T/v" ]; then
	n=$((n + 1))
	failures=$((failures + 1))
	echo "not ok $n - every include follows the layers"
	sed 's/^/#   /' "$T/v"
else
	ok "every include follows the layers"
fi

# The checker itself: bad includes added to a copy must each be caught.
C="$T/copy"
mkdir -p "$C"
cp -R src include tools bench schemas "$C/"
violations "$C" >"$T/v0" 2>&1
check "the copy is clean before the bad includes" [ ! -s "$T/v0" ]
printf '#include "core/store.h"\n' >>"$C/src/util/codec.c"       # util -> core
printf '#include "nouns/nouns.h"\n' >>"$C/src/core/cmd.c"        # core -> noun
printf '#include "core/store.h"\n' >>"$C/src/server/srv.c"       # server -> core internals
printf '#include "server/srv_int.h"\n' >>"$C/src/client/client.c" # client -> server
printf '#include "util/codec.h"\n' >>"$C/tools/adminctl.c"       # a tool -> src/
printf '#include "store.h"\n' >>"$C/bench/bench_rebuild.c"       # a bench -> an unknown header
printf '#include "codec.h"\n' >>"$C/src/nouns/users.c"           # no layer named
printf '#include "cmd.h"\n' >>"$C/include/adminlog.h"            # public -> private
printf '#include "nouns/nouns.h"\n' >>"$C/src/core/stray.h"      # a file in the right place...
mv "$C/src/core/stray.h" "$C/src/stray.h"                        # ...moved out of the layers
violations "$C" >"$T/v1" 2>&1
for bad in "src/util/codec.c: util includes \"core/store.h\"" \
	"src/core/cmd.c: core includes \"nouns/nouns.h\"" \
	"src/server/srv.c: server includes \"core/store.h\"" \
	"src/client/client.c: client includes \"server/srv_int.h\"" \
	"tools/adminctl.c: tools includes \"util/codec.h\"" \
	"bench/bench_rebuild.c: includes \"store.h\", found neither" \
	"src/nouns/users.c: includes \"codec.h\", found neither" \
	"include/adminlog.h: includes \"cmd.h\", found neither" \
	"src/stray.h: lies outside the layers"; do
	if grep -q -F -e "$bad" "$T/v1"; then
		ok "a bad include is caught: $bad"
	else
		n=$((n + 1))
		failures=$((failures + 1))
		echo "not ok $n - a bad include is caught: $bad"
		sed 's/^/#   /' "$T/v1"
	fi
done
tap_done
