#!/bin/sh
# test_layers_calls.sh - the core calls into the nouns only through its tables (docs/
# architecture.md, "The layers"): every symbol an object of src/core/ takes from one of
# src/nouns/ is data (a descriptor the nouns define: a projection, the actor source) or a
# command's handler or prepare step, named in schemas/commands*.def. It reads the built
# objects ($BUILD, with nm), so it sees the calls that are linked, whatever the includes say.
# Then it checks the checker on made-up references.
. "$(dirname "$0")/tap.sh"
export LC_ALL=C
B="${BUILD:-build/rel}"

nm --defined-only -g "$B"/src/nouns/*.o 2>/dev/null | awk 'NF == 3 { print $3, $2 }' | sort -u >"$T/nouns"
cat schemas/commands.def schemas/commands/*.def | grep -o '[A-Za-z_][A-Za-z0-9_]*' | sort -u >"$T/named"

# bad_calls: reads "OBJECT SYMBOL" lines (what each core object takes from elsewhere) and
# prints those that reach a noun other than through the tables.
bad_calls() {
	sort -k2,2 | join -1 2 -2 1 - "$T/nouns" | while read -r sym obj kind; do
		case "$kind" in
		[DdRrBbVv]) continue ;; # a descriptor: data the core reads and calls through
		esac
		grep -qx -e "$sym" "$T/named" && continue # the command table
		echo "$obj: calls $sym ($kind) of a noun"
	done
}

check "the nouns' objects are built in $B" [ -s "$T/nouns" ]
for o in "$B"/src/core/*.o; do
	nm -u "$o" | awk -v o="${o##*/}" '{ print o, $NF }'
done >"$T/refs"
check "the core's objects take symbols from elsewhere ($(wc -l <"$T/refs") read)" [ "$(wc -l <"$T/refs")" -gt 100 ]
bad_calls <"$T/refs" >"$T/bad"
if [ -s "$T/bad" ]; then
	n=$((n + 1))
	failures=$((failures + 1))
	echo "not ok $n - the core calls the nouns only through its tables"
	sed 's/^/#   /' "$T/bad"
else
	ok "the core calls the nouns only through its tables"
fi

# The checker itself.
printf 'fake.o al__proj_users\nfake.o al__user_create\n' | bad_calls >"$T/bad0"
check "a projection descriptor and a command handler pass" [ ! -s "$T/bad0" ]
printf 'fake.o al__user_auth_info\n' | bad_calls >"$T/bad1"
check "a direct call into a noun is caught" grep -q -F "fake.o: calls al__user_auth_info" "$T/bad1"
tap_done
