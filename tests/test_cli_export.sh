#!/bin/sh
# test_cli_export.sh - adminctl export LIST --out FILE in direct mode, end to end, as TAP.
# (The CSV content itself is checked against golden files by tests/test_export.c.)
# Env: BIN (where adminctl and adminlog are; default bin). Needs only POSIX sh, grep, sed;
# uses jq for extra checks when it is installed.
. "$(dirname "$0")/tap.sh"

init_store
printf '%s\n' 'Passw0rd!' >"$T/pw"
runi "$T/pw" "$AC" --data "$D" user create --email 'eve@example.com' --username eve --full-name 'Eve, "E"' --password-stdin
check "a user with a comma and quotes in its name" rc_is 0

for what in users keypairs policies user-policies project-policies; do
	run "$AC" --data "$D" export "$what" --out "$T/$what.csv"
	check "export $what exits 0 and says the rows and the file" \
		sh -c "[ $rc -eq 0 ] && grep -q -F '$what: ' '$T/out' && grep -q -F 'written to $T/$what.csv' '$T/out'"
	check "export $what writes a header row ending in CRLF" sh -c "head -n 1 '$T/$what.csv' | grep -q \"\$(printf '\\r')\$\""
	check "export $what file is mode 0600" sh -c "[ \"\$(stat -c %a '$T/$what.csv')\" = 600 ]"
done
check "users export quotes the name" grep -q -F '"Eve, ""E"""' "$T/users.csv"
run "$AC" --data "$D" export users --out "$T/users.csv"
check "export says how many rows it wrote (the quoted name is one row)" out_has_f "users: 2 rows written to $T/users.csv"
run "$AC" --data "$D" export users --status inactive --out "$T/none.csv" --json
check "with --json the report is a JSON object" eval 'rc_is 0 && out_has_f "\"rows\":0" && jq_ok ".list == \"users\" and .rows == 0"'
run "$AC" --data "$D" export --help
check "export --help exits 0 and names the real lists" \
	eval 'rc_is 0 && out_has_f "users, keypairs, policies, user-policies, project-policies" && out_has_f "images"'
run "$AC" --data "$D" export
check "export alone is a usage error naming the lists" eval 'usage_err && err_has_f "lists: users, keypairs"'
run "$AC" --data "$D" export vfolders --out "$T/x.csv"
check "an unknown list names the real lists" eval 'usage_err && err_has_f "registries" && err_has_f "sessions" && ! err_has_f "..."'
check "users export holds no password hash" sh -c "! grep -q argon2 '$T/users.csv'"
check "no temporary file is left behind" sh -c "! ls -a '$T' | grep -q adminctl-export"

run "$AC" --data "$D" export users --status inactive --out "$T/inactive.csv"
check "export takes the list's filters" sh -c "[ $rc -eq 0 ] && [ \$(grep -c . '$T/inactive.csv') -eq 1 ]"
run "$AC" --data "$D" export users --status bogus --out "$T/bad.csv"
check "a bad filter is refused" refused invalid_argument
check "a refused export leaves no file, not even a temporary one" sh -c "test ! -e '$T/bad.csv' && ! ls -a '$T' | grep -q adminctl-export"
run "$AC" --data "$D" export users
check "export without --out is a usage error" usage_err
run "$AC" --data "$D" export vfolders --out "$T/x.csv"
check "an unknown list is a usage error" usage_err
long=$(printf 'x%.0s' $(seq 1 256))
run "$AC" --data "$D" export users --out "$T/$long"
check "a file name over 255 characters is refused" usage_err
name255=$(printf 'y%.0s' $(seq 1 251)).csv
run "$AC" --data "$D" export users --out "$T/$name255"
check "a file name of exactly 255 characters is written" eval 'rc_is 0 && test -s "$T/$name255"'
deep="$T/$(printf 'd%.0s' $(seq 1 200))/$(printf 'e%.0s' $(seq 1 200))"
mkdir -p "$deep"
run "$AC" --data "$D" export users --out "$deep/u.csv"
check "a short name in a directory path over 255 characters is written" eval 'rc_is 0 && test -s "$deep/u.csv"'
check "no temporary file is left beside them" sh -c "! ls -a '$T' '$deep' | grep -q adminctl-export"
run "$AC" --data "$D" export users --out "$T/"
check "a directory as --out is a usage error" usage_err
run "$AC" --data "$D" export users --out "$T/no/such/dir/u.csv"
check "an unwritable path is refused" refused io_error
runi "$T/pw" "$AC" --data "$D" user create --email 'ulf@example.com' --username ulf --password-stdin
run "$AC" --data "$D" --as ulf@example.com export users --out "$T/ulf.csv"
check "a plain user may not export users" refused permission_denied
run "$AC" --data "$D" --as ulf@example.com export keypairs --out "$T/ulf-kp.csv"
check "a plain user exports its own keypairs only" sh -c "[ $rc -eq 0 ] && [ \$(grep -c . '$T/ulf-kp.csv') -eq 2 ] && grep -q ulf@example.com '$T/ulf-kp.csv'"
run "$AC" --data "$D" export users --help
check "export --help names the filters" sh -c "[ $rc -eq 0 ] && grep -q status '$T/out'"

tap_done
