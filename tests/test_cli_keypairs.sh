#!/bin/sh
# test_cli_keypairs.sh - the keypair acceptance forms of adminctl, end to end, as TAP:
#   keypair create --user EMAIL [--policy NAME] [--rate-limit N] [--admin] [--access-key AK --secret-key-stdin]
#   keypair list [--user EMAIL] [--status active|inactive] --json
#   keypair deactivate AK, keypair activate AK, keypair delete AK, and --as EMAIL.
# Env: BIN (where adminctl and adminlog are; default bin). Needs only POSIX sh, grep, sed (jq when present).
. "$(dirname "$0")/tap.sh"

# json_str KEY: the first string value of KEY in the output.
json_str() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" "$T/out" | head -1; }
# aks: the access keys in the output, space-separated.
aks() { grep -o '"access_key":"[^"]*"' "$T/out" | sed 's/"access_key":"//; s/"$//' | tr '\n' ' '; }
count() { grep -o "$1" "$T/out" | wc -l | tr -d ' '; }

# ---- set-up ---------------------------------------------------------------------------------------
pw 'Adm1n!pass'
run "$AL" init "$D" --admin-password-file "$T/pw" --pwhash min
check "init" rc_is 0
run "$AC" --data "$D" keypair list --json
base=$(count '"access_key"') # keypairs from the bootstrap, if any
pw 'Passw0rd!'
runi "$T/pw" "$AC" --data "$D" --json user create --email alice@example.com --username alice --password-stdin
alice_ak=$(json_str access_key)
alice_sk=$(json_str secret_key)
check "user create shows the first keypair's access and secret key once" \
	eval 'rc_is 0 && echo "$alice_ak" | grep -q "^AKIA[A-Z2-7]\{16\}$" && echo "$alice_sk" | grep -q "^[A-Za-z0-9_-]\{40\}$" && [ "$(json_str main_access_key)" = "$alice_ak" ]'
runi "$T/pw" "$AC" --data "$D" --json user create --email bob@example.com --username bob --password-stdin
bob_ak=$(json_str access_key)
runi "$T/pw" "$AC" --data "$D" --json domain create east
runi "$T/pw" "$AC" --data "$D" --json user create --email eve@example.com --username eve --password-stdin --domain east
eve_ak=$(json_str access_key)
runi "$T/pw" "$AC" --data "$D" --json user create --email dadm@example.com --username dadm --password-stdin --role admin
dadm_ak=$(json_str access_key)
check "users for the permission checks" eval '[ -n "$bob_ak" ] && [ -n "$eve_ak" ] && [ -n "$dadm_ak" ]'

# ---- keypair create --------------------------------------------------------------------------------
run "$AC" --data "$D" keypair create --user alice@example.com
k1=$(sed -n 's/^access_key  *//p' "$T/out")
s1=$(sed -n 's/^secret_key  *//p' "$T/out")
check "keypair create --user (table): access key and secret key" \
	eval 'rc_is 0 && echo "$k1" | grep -q "^AKIA[A-Z2-7]\{16\}$" && echo "$s1" | grep -q "^[A-Za-z0-9_-]\{40\}$" && out_has "^rate_limit  *10000$" && out_has "^resource_policy  *default$" && out_has "^is_admin  *false$"'
run "$AC" --data "$D" keypair create --user alice@example.com --policy default --rate-limit 500 --admin --json
k2=$(json_str access_key)
check "keypair create --policy --rate-limit --admin (a flag without a value)" \
	eval 'rc_is 0 && out_has "\"rate_limit\":500" && out_has "\"is_admin\":true" && out_has "\"resource_policy\":\"default\"" && [ -n "$k2" ] && [ "$k2" != "$k1" ]'
run "$AC" --data "$D" keypair create --user alice@example.com --json --admin
check "keypair create --admin as the last word" eval 'rc_is 0 && out_has "\"is_admin\":true"'
k3=$(json_str access_key)
run "$AC" --data "$D" keypair create --user alice@example.com --admin false --json
check "keypair create --admin false" eval 'rc_is 0 && out_has "\"is_admin\":false"'
k4=$(json_str access_key)
run "$AC" --data "$D" keypair create --user alice@example.com --admin maybe
check "keypair create --admin maybe: exit 2" usage_err
run "$AC" --data "$D" keypair create --user alice@example.com --rate-limit 0
check "keypair create --rate-limit 0: invalid_argument naming rate_limit" eval 'refused invalid_argument && err_has rate_limit'
run "$AC" --data "$D" keypair create --user alice@example.com --rate-limit 50001
check "keypair create --rate-limit 50001: invalid_argument" eval 'refused invalid_argument && err_has rate_limit'
run "$AC" --data "$D" keypair create --user alice@example.com --rate-limit 1 --json
check "keypair create --rate-limit 1" eval 'rc_is 0 && out_has "\"rate_limit\":1[,}]"'
k5=$(json_str access_key)
run "$AC" --data "$D" keypair create --user alice@example.com --rate-limit 50000 --json
check "keypair create --rate-limit 50000" eval 'rc_is 0 && out_has "\"rate_limit\":50000"'
k6=$(json_str access_key)
run "$AC" --data "$D" keypair create --user alice@example.com --rate-limit lots
check "keypair create --rate-limit lots: exit 2" usage_err
run "$AC" --data "$D" keypair create --user ghost@example.com
check "keypair create for an unknown user: invalid_argument naming user" eval 'refused invalid_argument && err_has user'
run "$AC" --data "$D" keypair create
check "keypair create without --user: invalid_argument" eval 'refused invalid_argument && err_has user'

# ---- advanced mode -----------------------------------------------------------------------------------
ADV_AK=AKIAQRSTUVWXYZ234567
ADV_SK=Cli-Adv4nced_secret_key_0123456789ABCDEF
printf '%s\n' "$ADV_SK" >"$T/sk"
runi "$T/sk" "$AC" --data "$D" keypair create --user bob@example.com --access-key "$ADV_AK" --secret-key-stdin --json
check "keypair create --access-key --secret-key-stdin" \
	eval 'rc_is 0 && [ "$(json_str access_key)" = "$ADV_AK" ] && [ "$(json_str secret_key)" = "$ADV_SK" ]'
runi "$T/sk" "$AC" --data "$D" keypair create --user bob@example.com --access-key "$ADV_AK" --secret-key-stdin
check "the same access key again: already_exists" eval 'refused already_exists && err_has access_key'
runi "$T/sk" "$AC" --data "$D" keypair create --user bob@example.com --access-key AKIA1234567890123456 --secret-key-stdin
check "a malformed access key: invalid_argument naming access_key" eval 'refused invalid_argument && err_has access_key'
printf 'too-short\n' >"$T/badsk"
runi "$T/badsk" "$AC" --data "$D" keypair create --user bob@example.com --access-key AKIAZZZZZZZZZZZZZZZZ --secret-key-stdin
check "a malformed secret key: invalid_argument naming secret_key, not echoed" \
	eval 'refused invalid_argument && err_has secret_key && ! grep -q too-short "$T/err"'
run "$AC" --data "$D" keypair create --user bob@example.com --access-key AKIAZZZZZZZZZZZZZZZZ --secret-key "$ADV_SK"
check "--secret-key X as an argument: exit 2, not echoed" eval 'usage_err && ! grep -q -F "$ADV_SK" "$T/err"'
run "$AC" --data "$D" keypair create --user bob@example.com --access-key AKIAZZZZZZZZZZZZZZZZ
check "--access-key without a secret: invalid_argument naming secret_key" eval 'refused invalid_argument && err_has secret_key'

# ---- keypair list --------------------------------------------------------------------------------
run "$AC" --data "$D" keypair list --json
check "keypair list --json: one array with the issue's fields" \
	eval 'rc_is 0 && out_has "^\[{.*}\]$" && out_has "\"access_key\":" && out_has "\"user\":" && out_has "\"is_active\":" && out_has "\"is_admin\":" && out_has "\"resource_policy\":" && out_has "\"rate_limit\":"'
if have_jq; then
	check "keypair list --json parses and every row has the fields (jq)" \
		jq_ok --argjson n $((base + 11)) 'length == $n and all(has("access_key") and has("user") and has("is_active") and has("is_admin") and has("resource_policy") and has("rate_limit"))'
fi
check "keypair list --json never shows a secret" \
	eval '! out_has_f "$alice_sk" && ! out_has_f "$s1" && ! out_has_f "$ADV_SK" && ! out_has secret && ! out_has sealed'
run "$AC" --data "$D" keypair list --user alice@example.com --json
check "keypair list --user" eval 'rc_is 0 && [ "$(count "\"access_key\"")" -eq 7 ] && ! out_has bob@example.com'
run "$AC" --data "$D" keypair list --user alice@example.com
check "keypair list (table) has a header and a row per keypair" \
	eval 'rc_is 0 && out_has "^ACCESS_KEY  *USER  *IS_ACTIVE" && [ "$(grep -c "" "$T/out")" -eq 8 ]'
run "$AC" --data "$D" keypair list --user ghost@example.com
check "keypair list --user of nobody: invalid_argument" eval 'refused invalid_argument && err_has user'
run "$AC" --data "$D" keypair list --status gone
check "keypair list --status gone: invalid_argument naming status" eval 'refused invalid_argument && err_has status'
run "$AC" --data "$D" keypair get "$k2" --json
check "keypair get" eval 'rc_is 0 && [ "$(json_str access_key)" = "$k2" ] && out_has "\"user\":\"alice@example.com\"" && ! out_has secret'

# ---- deactivate, activate ------------------------------------------------------------------------
run "$AC" --data "$D" keypair deactivate "$k1"
check "keypair deactivate AK" eval 'rc_is 0 && out_has "^is_active  *false$"'
run "$AC" --data "$D" keypair list --user alice@example.com --status inactive --json
check "keypair list --status inactive" eval 'rc_is 0 && [ "$(aks)" = "$k1 " ]'
run "$AC" --data "$D" keypair list --user alice@example.com --status active --json
check "keypair list --status active leaves it out" eval 'rc_is 0 && [ "$(count "\"access_key\"")" -eq 6 ] && ! out_has "$k1"'
run "$AC" --data "$D" keypair activate "$k1" --json
check "keypair activate AK" eval 'rc_is 0 && out_has "\"is_active\":true"'
run "$AC" --data "$D" keypair deactivate AKIAZZZZZZZZZZZZZZZZ
check "keypair deactivate of an unknown key: not_found" refused not_found

# ---- delete --------------------------------------------------------------------------------------
run "$AC" --data "$D" keypair delete "$alice_ak"
check "keypair delete of the main access key: in_use" eval 'refused in_use && err_has access_key'
run "$AC" --data "$D" keypair record-use "$k3" --session-id sess-42 --json
check "keypair record-use is gone (sessions count themselves: test_cli_sessions.sh)" \
	eval '! rc_is 0 && grep -q "no command .keypair record-use." "$T/err"'
run "$AC" --data "$D" keypair delete "$k4" --json
check "keypair delete AK" eval 'rc_is 0 && out_has "\"deleted\":true"'
run "$AC" --data "$D" keypair get "$k4"
check "a deleted keypair is gone from get" refused not_found
run "$AC" --data "$D" keypair list --json
check "and from list" eval 'rc_is 0 && ! out_has "$k4" && out_has "$k3"'
run "$AL" log "$D" --entity "keypair:$k4" --json
check "its history stays in the log" \
	eval 'rc_is 0 && [ "$(grep -c "" "$T/out")" -eq 2 ] && out_has "\"type\":\"keypair.created\"" && out_has "\"type\":\"keypair.deleted\""'
run "$AC" --data "$D" keypair delete "$k4"
check "keypair delete twice: not_found" refused not_found

# ---- users' keypairs -------------------------------------------------------------------------------
before=$(head_seq)
run "$AC" --data "$D" user deactivate alice@example.com
after=$(head_seq)
run "$AC" --data "$D" keypair list --user alice@example.com --status active --json
check "user deactivate deactivates every keypair" eval 'rc_is 0 && out_has "^\[\]$"'
run "$AL" log "$D" --type keypair.deactivated --json
# alice has 6 keypairs left (k4 was deleted), all active; k1 was deactivated once before.
check "each as its own event" eval '[ $((after - before)) -eq $((1 + 6)) ] && [ "$(grep -c "" "$T/out")" -eq $((1 + 6)) ]'
run "$AC" --data "$D" user activate alice@example.com
run "$AC" --data "$D" keypair list --user alice@example.com --status active --json
check "user activate reactivates no keypair" eval 'rc_is 0 && out_has "^\[\]$"'
run "$AC" --data "$D" keypair activate "$alice_ak"
check "the main key comes back by hand" eval 'rc_is 0 && out_has "^is_active  *true$"'
run "$AC" --data "$D" user update bob@example.com --role admin --json
run "$AC" --data "$D" keypair list --user bob@example.com --json
check "a role change syncs the keypairs' admin flag" eval 'rc_is 0 && [ "$(count "\"is_admin\":true")" -eq 2 ] && [ "$(count "\"is_admin\":false")" -eq 0 ]'
run "$AC" --data "$D" user update bob@example.com --role user
check "and back" eval 'rc_is 0'

# ---- --as EMAIL ----------------------------------------------------------------------------------
run "$AC" --data "$D" --as bob@example.com keypair list --json
check "--as a user: keypair list shows only its own" eval 'rc_is 0 && [ "$(count "\"access_key\"")" -eq 2 ] && ! out_has alice@example.com'
run "$AC" --data "$D" --as bob@example.com keypair list --user alice@example.com
check "--as a user: another user's list is refused" refused permission_denied
run "$AC" --data "$D" --as bob@example.com keypair get "$alice_ak"
check "--as a user: another user's keypair is refused" refused permission_denied
run "$AC" --data "$D" --as bob@example.com keypair get "$bob_ak" --json
check "--as a user: its own keypair" eval 'rc_is 0 && [ "$(json_str access_key)" = "$bob_ak" ]'
before=$(head_seq)
run "$AC" --data "$D" --as bob@example.com keypair create --user bob@example.com
check "--as a user: keypair create is refused" refused permission_denied
run "$AC" --data "$D" --as bob@example.com keypair deactivate "$bob_ak"
check "--as a user: keypair deactivate is refused" refused permission_denied
run "$AC" --data "$D" --as bob@example.com keypair delete "$ADV_AK"
check "--as a user: keypair delete is refused" refused permission_denied
run "$AC" --data "$D" --as dadm@example.com keypair list --json
check "--as a domain admin: the keypairs of its domain only" \
	eval 'rc_is 0 && out_has "$alice_ak" && out_has "$bob_ak" && ! out_has "$eve_ak"'
run "$AC" --data "$D" --as dadm@example.com keypair get "$eve_ak"
check "--as a domain admin: another domain's keypair is refused" refused permission_denied
run "$AC" --data "$D" --as dadm@example.com keypair create --user bob@example.com
check "--as a domain admin: keypair create for another user is refused" refused permission_denied
run "$AC" --data "$D" --as dadm@example.com keypair delete "$k5"
check "--as a domain admin: keypair delete is refused" refused permission_denied
run "$AC" --data "$D" --as dadm@example.com user update bob@example.com --full-name Bobby
check "--as a domain admin: user update of another user is refused" refused permission_denied
check "refused commands append nothing" eval '[ "$(head_seq)" = "$before" ]'
run "$AC" --data "$D" --as bob@example.com user update bob@example.com --full-name "Bob B" --json
check "--as a user: it updates its own name" eval 'rc_is 0 && out_has "\"full_name\":\"Bob B\""'
run "$AC" --data "$D" --as bob@example.com user update bob@example.com --role superadmin
check "--as a user: never its own role" eval 'refused permission_denied && err_has role'
run "$AL" log "$D" --entity user:bob@example.com --json
check "the operator acting as the user is recorded" eval 'rc_is 0 && out_has "\"as\":\"bob@example.com\".*\"full_name\":\"Bob B\""'
run "$AC" --data "$D" --as ghost@example.com keypair list
check "--as an unknown user: not_found" refused not_found

# ---- re-creating a deleted keypair (the guide: same explicit keys, same user) ----------------------------
RE_AK=AKIAREDELETED2345677
runi "$T/sk" "$AC" --data "$D" keypair create --user bob@example.com --access-key "$RE_AK" --secret-key-stdin --json
run "$AC" --data "$D" keypair delete "$RE_AK"
runi "$T/sk" "$AC" --data "$D" keypair create --user eve@example.com --access-key "$RE_AK" --secret-key-stdin
check "a deleted keypair's keys for another user: already_exists" \
	eval 'refused already_exists && err_has "another user"'
runi "$T/sk" "$AC" --data "$D" keypair create --user bob@example.com --access-key "$RE_AK" --secret-key-stdin --json
check "re-created for the same user with the same keys" eval 'rc_is 0 && [ "$(json_str access_key)" = "$RE_AK" ]'
run "$AL" log "$D" --entity "keypair:$RE_AK" --json
check "its history keeps both lives" eval 'rc_is 0 && [ "$(grep -c "keypair.created" "$T/out")" -eq 2 ]'

# ---- nothing secret anywhere -------------------------------------------------------------------------
run "$AL" log "$D" --json
check "no secret key in the audit log" \
	eval 'rc_is 0 && ! out_has_f "$alice_sk" && ! out_has_f "$s1" && ! out_has_f "$ADV_SK" && ! out_has secret_key && ! out_has sealed'
run "$AL" log "$D"
check "nor in its text form" eval 'rc_is 0 && ! out_has_f "$ADV_SK" && ! out_has_f "$s1" && ! out_has secret_key'
check "no secret key in the data file" \
	eval '! grep -q -a -F "$ADV_SK" "$D/data.mdb" && ! grep -q -a -F "$s1" "$D/data.mdb" && ! grep -q -a -F "$alice_sk" "$D/data.mdb" && grep -q -a -F "$ADV_AK" "$D/data.mdb"'
run "$AL" verify "$D"
check "adminlog verify: the views equal a rebuild" rc_is 0

tap_done
