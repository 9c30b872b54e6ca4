#!/bin/sh
# test_cli_totp.sh - `user 2fa enable|confirm|disable|status` through adminctl, as TAP: the
# secret shown once, self-service only, refusals with their codes, nothing secret in the log.
# (Codes are checked against a clock in tests/test_totp.c; a shell has no TOTP generator.)
# Env: BIN (where adminctl and adminlog are; default bin).
. "$(dirname "$0")/tap.sh"

printf 'Adm1n!pass\n' >"$T/adminpw"
printf 'Passw0rd!\n' >"$T/pw"
run "$AL" init "$D" --admin-password-file "$T/adminpw" --pwhash min
check "init" rc_is 0
for u in alice bob; do
	runi "$T/pw" "$AC" --data "$D" user create --email "$u@example.com" --username "$u" --password-stdin
	check "create $u" rc_is 0
done
runi "$T/pw" "$AC" --data "$D" domain create other
runi "$T/pw" "$AC" --data "$D" user create --email oadmin@other.org --username oadmin --role admin --domain other \
	--password-stdin
check "create an admin of another domain" rc_is 0

# ---- enable: once, for oneself ------------------------------------------------------------------
run "$AC" --data "$D" --as alice@example.com user 2fa enable --json
check "enable shows the secret and the otpauth URI once" eval 'rc_is 0 &&
	out_has "\"status\":\"pending\"" &&
	out_has "\"secret\":\"[A-Z2-7]\{32\}\"" &&
	out_has "otpauth://totp/adminlog:alice@example.com?secret=[A-Z2-7]\{32\}&issuer=adminlog"'
SECRET=$(sed -n 's/.*"secret":"\([A-Z2-7]*\)".*/\1/p' "$T/out")
check "the secret was captured" [ ${#SECRET} -eq 32 ]

before=$(head_seq)
run "$AC" --data "$D" user 2fa enable
check "an operator without --as cannot enable" refused permission_denied
run "$AC" --data "$D" --as bob@example.com user 2fa enable --email alice@example.com
check "nobody enables for another user" eval 'rc_is 2 || refused invalid_argument'
run "$AC" --data "$D" --as alice@example.com user 2fa confirm 000000x
check "confirm: a code is 6 digits" eval 'refused invalid_argument && err_has "code:"'
run "$AC" --data "$D" --as bob@example.com user 2fa confirm 123456
check "confirm without a pending key" refused not_found
check "refusals appended nothing" eval '[ -n "$before" ] && [ "$(head_seq)" = "$before" ]'

run "$AC" --data "$D" --as alice@example.com user 2fa status alice@example.com --json
check "status: pending, never the key" eval 'rc_is 0 && out_has "\"status\":\"pending\"" && ! out_has "$SECRET" &&
	! out_has sealed'

# ---- disable: the user, a superadmin, an admin of the user's domain ---------------------------------
run "$AC" --data "$D" --as bob@example.com user 2fa disable alice@example.com
check "a user cannot disable another's" refused permission_denied
run "$AC" --data "$D" --as oadmin@other.org user 2fa disable alice@example.com
check "an admin of another domain cannot disable" refused permission_denied
run "$AC" --data "$D" user 2fa disable alice@example.com --json
check "the superadmin disables" eval 'rc_is 0 && out_has "\"status\":\"disabled\""'
run "$AC" --data "$D" user 2fa status alice@example.com --json
check "status: disabled" eval 'rc_is 0 && out_has "\"status\":\"disabled\""'

# ---- the secret is nowhere else -----------------------------------------------------------------
run "$AL" log "$D" --entity user:alice@example.com --json
check "the log shows the enrolment and the disabling, not the key" eval 'rc_is 0 &&
	out_has user.totp_pending && out_has user.totp_disabled && ! out_has "$SECRET" && ! out_has key_sealed &&
	! out_has "sealed:1:"'
check "the data file does not hold the secret" eval '! grep -q -F "$SECRET" "$D/data.mdb"'
run "$AC" --data "$D" user get alice@example.com --json
check "user get does not show it" eval 'rc_is 0 && ! out_has "$SECRET"'
run "$AL" verify "$D"
check "verify after 2fa events" rc_is 0

tap_done
