#!/bin/sh
# test_cli_export.sh - adminctl export LIST --out FILE in direct mode, end to end, as TAP.
# (The CSV content itself is checked against golden files by tests/test_export.c.)
# Env: BIN (where adminctl and adminlog are; default bin). Needs only POSIX sh, grep, sed;
# uses jq for extra checks when it is installed.
BIN="${BIN:-bin}"
case "$BIN" in /*) ;; *) BIN="$(pwd)/$BIN" ;; esac
AL="$BIN/adminlog"
AC="$BIN/adminctl"

T=$(mktemp -d "${TMPDIR:-/tmp}/adminlog-cli-export-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
D="$T/data"

n=0
failures=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1))
	failures=$((failures + 1))
	echo "not ok $n - $1"
	echo "# exit status $rc; stdout:"
	sed 's/^/#   /' "$T/out" | head -20
	echo "# stderr:"
	sed 's/^/#   /' "$T/err" | head -20
}
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
runi() {
	in=$1
	shift
	"$@" <"$in" >"$T/out" 2>"$T/err"
	rc=$?
}
run() { runi /dev/null "$@"; }
rc_is() { [ "$rc" -eq "$1" ]; }
out_has() { grep -q -e "$1" "$T/out"; }
out_has_f() { grep -q -F -e "$1" "$T/out"; }
err_has() { grep -q -e "$1" "$T/err"; }
err_has_f() { grep -q -F -e "$1" "$T/err"; }
# A refused command: exit 1, the error code name on stderr, nothing on stdout.
refused() { rc_is 1 && err_has "$1" && [ ! -s "$T/out" ]; }
usage_err() { rc_is 2 && [ ! -s "$T/out" ]; }
have_jq() { command -v jq >/dev/null 2>&1; }
# jq_ok FILTER: when jq is installed, the output parses and FILTER holds.
jq_ok() { ! have_jq || jq -e "$@" "$T/out" >/dev/null 2>&1; }
# The names in the output, in order, space-separated, without the bootstrap's "default"
# policies (present once store.init records them).
names() { grep -o '"name":"[^"]*"' "$T/out" | sed 's/"name":"\(.*\)"/\1/' | grep -v '^default$' | tr '\n' ' '; }
head_seq() { "$AL" stats "$D" --json | sed -n 's/.*"head_seq":\([0-9]*\).*/\1/p'; }

printf '%s\n' 'Adm1n!pass' >"$T/adminpw"
run "$AL" init "$D" --admin-password-file "$T/adminpw" --pwhash min
check "init" rc_is 0
printf '%s\n' 'Passw0rd!' >"$T/pw"
runi "$T/pw" "$AC" --data "$D" user create --email 'eve@example.com' --username eve --full-name 'Eve, "E"' --password-stdin
check "a user with a comma and quotes in its name" rc_is 0

for what in users keypairs policies user-policies project-policies; do
	run "$AC" --data "$D" export "$what" --out "$T/$what.csv"
	check "export $what exits 0 and prints nothing" sh -c "[ $rc -eq 0 ] && [ ! -s '$T/out' ]"
	check "export $what writes a header row ending in CRLF" sh -c "head -n 1 '$T/$what.csv' | grep -q \"\$(printf '\\r')\$\""
	check "export $what file is mode 0600" sh -c "[ \"\$(stat -c %a '$T/$what.csv')\" = 600 ]"
done
check "users export quotes the name" grep -q -F '"Eve, ""E"""' "$T/users.csv"
check "users export holds no password hash" sh -c "! grep -q argon2 '$T/users.csv'"
check "no temporary file is left behind" sh -c "! ls '$T' | grep -q tmp"

run "$AC" --data "$D" export users --status inactive --out "$T/inactive.csv"
check "export takes the list's filters" sh -c "[ $rc -eq 0 ] && [ \$(grep -c . '$T/inactive.csv') -eq 1 ]"
run "$AC" --data "$D" export users --status bogus --out "$T/bad.csv"
check "a bad filter is refused" refused invalid_argument
check "a refused export leaves no file" test ! -e "$T/bad.csv"
run "$AC" --data "$D" export users
check "export without --out is a usage error" usage_err
run "$AC" --data "$D" export sessions --out "$T/x.csv"
check "an unknown list is a usage error" usage_err
long=$(printf 'x%.0s' $(seq 1 256))
run "$AC" --data "$D" export users --out "$T/$long"
check "a file name over 255 characters is refused" usage_err
run "$AC" --data "$D" export users --out "$T/no/such/dir/u.csv"
check "an unwritable path is refused" refused io_error
runi "$T/pw" "$AC" --data "$D" user create --email 'ulf@example.com' --username ulf --password-stdin
run "$AC" --data "$D" --as ulf@example.com export users --out "$T/ulf.csv"
check "a plain user may not export users" refused permission_denied
run "$AC" --data "$D" --as ulf@example.com export keypairs --out "$T/ulf-kp.csv"
check "a plain user exports its own keypairs only" sh -c "[ $rc -eq 0 ] && [ \$(grep -c . '$T/ulf-kp.csv') -eq 2 ] && grep -q ulf@example.com '$T/ulf-kp.csv'"
run "$AC" --data "$D" export users --help
check "export --help names the filters" sh -c "[ $rc -eq 0 ] && grep -q status '$T/out'"

echo "1..$n"
[ "$failures" -eq 0 ]
