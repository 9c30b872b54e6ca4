#!/bin/sh
# test_docs.sh - docs/events.md is generated from schemas/ and must not be stale (TAP).
# Env: BUILD (where gen_docs is; default build/rel). Run from the project root.
BUILD="${BUILD:-build/rel}"
DOC=docs/events.md
n=0
failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $1"; }

T=$(mktemp -d "${TMPDIR:-/tmp}/adminlog-docs-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM

if [ -x "$BUILD/gen_docs" ] && "$BUILD/gen_docs" >"$T/events.md" 2>"$T/err"; then
	ok "gen_docs runs"
else
	not_ok "gen_docs runs ($BUILD/gen_docs)"
	sed 's/^/# /' "$T/err" 2>/dev/null | head -5
fi

if [ -f "$DOC" ]; then
	ok "$DOC exists"
else
	not_ok "$DOC exists (run make docs)"
fi

if [ -s "$T/events.md" ] && cmp -s "$T/events.md" "$DOC"; then
	ok "$DOC matches the generated page"
else
	not_ok "$DOC is stale: it differs from gen_docs output (run make docs)"
	diff "$DOC" "$T/events.md" 2>&1 | head -20 | sed 's/^/# /'
fi

# Every event and every command named in schemas/ has its heading in the page.
events=$(sed -n 's/^AL_EVENT([A-Z0-9_]*, *"\([^"]*\)".*/\1/p' schemas/events.def schemas/events/*.def)
if [ -n "$events" ]; then ok "schemas/events.def names events"; else not_ok "schemas/events.def names events"; fi
for e in $events; do
	if grep -q -F "### \`$e\` (" "$DOC" 2>/dev/null; then
		ok "event $e is documented"
	else
		not_ok "event $e is documented in $DOC"
	fi
done
ops=$(sed -n 's/^AL_CMD([A-Z0-9_]*, *"\([^"]*\)".*/\1/p' schemas/commands.def schemas/commands/*.def)
for o in $ops; do
	if grep -q -F "### \`$o\` (" "$DOC" 2>/dev/null; then
		ok "command $o is documented"
	else
		not_ok "command $o is documented in $DOC"
	fi
done

echo "1..$n"
[ "$failures" -eq 0 ]
