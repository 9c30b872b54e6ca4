#!/bin/sh
# Runs every test program (cmocka binaries given as arguments, then tests/test_*.sh) with TAP
# output, counts "ok" and "not ok" lines, and ends with one line: "N passed, N failed".
# A program that dies without reporting (a crash, a sanitizer abort) counts as one failure.
# Env: BIN (where adminctl/adminlog are), BUILD (build dir).
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
pass=0
fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for t in "$@" tests/test_*.sh; do
	[ -e "$t" ] || continue
	echo "== $t"
	case "$t" in
	*.sh) timeout 1200 sh "$t" >"$out" 2>&1 ;;
	*) timeout 1200 "$t" >"$out" 2>&1 ;;
	esac
	rc=$?
	p=$(grep -c '^ok ' "$out")
	f=$(grep -c '^not ok ' "$out")
	grep -E '^(not ok|#)' "$out" | head -50
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "   $t exited with status $rc without reporting a failure:"
		tail -30 "$out"
		f=1
	fi
	echo "   $p passed, $f failed"
	pass=$((pass + p))
	fail=$((fail + f))
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
