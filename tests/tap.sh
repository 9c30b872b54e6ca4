# tap.sh - the shared harness of the shell tests (TAP). Source it first:
#     . "$(dirname "$0")/tap.sh"
# Then: run/runi a command, check NAME CONDITION..., and end with tap_done.
# Env: BIN (where adminctl and adminlog are; default bin). Needs POSIX sh, grep, sed; jq is
# used for extra checks only when it is installed.
BIN="${BIN:-bin}"
case "$BIN" in /*) ;; *) BIN="$(pwd)/$BIN" ;; esac
AL="$BIN/adminlog"
AC="$BIN/adminctl"

T=$(mktemp -d "${TMPDIR:-/tmp}/adminlog-$(basename "$0" .sh)-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
D="$T/data"
: >"$T/out"
: >"$T/err"
rc=0

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
# check NAME COMMAND...: ok when the command succeeds.
check() {
	name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}

# runi INPUT CMD...: runs CMD with stdin from INPUT; leaves rc, $T/out and $T/err.
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
no_hash() { ! grep -q -F '$argon2id' "$T/out" "$T/err"; }
out_lines() { [ "$(grep -c '' "$T/out")" -eq "$1" ]; }
# A refused command: exit 1, the error code name on stderr, nothing on stdout.
refused() { rc_is 1 && err_has "$1" && [ ! -s "$T/out" ]; }
usage_err() { rc_is 2 && [ ! -s "$T/out" ]; }
have_jq() { command -v jq >/dev/null 2>&1; }
# jq_ok [-s] FILTER: when jq is installed, the output parses and FILTER holds.
jq_ok() { ! have_jq || jq -e "$@" "$T/out" >/dev/null 2>&1; }
# pw PASSWORD: writes it to $T/pw, for runi "$T/pw" ... --password-stdin.
pw() { printf '%s\n' "$1" >"$T/pw"; }
head_seq() { "$AL" stats "$D" --json | sed -n 's/.*"head_seq":\([0-9]*\).*/\1/p'; }
# init_store: adminlog init on $D with a known admin password and the cheapest hashing.
init_store() {
	printf '%s\n' 'Adm1n!pass' >"$T/adminpw"
	run "$AL" init "$D" --admin-password-file "$T/adminpw" --pwhash min
	check "init" rc_is 0
}

tap_done() {
	echo "1..$n"
	[ "$failures" -eq 0 ]
	exit $?
}
