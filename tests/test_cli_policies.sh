#!/bin/sh
# test_cli_policies.sh - the resource policy forms of adminctl (policy, user-policy,
# project-policy) in direct mode, end to end, as TAP.
# Env: BIN (where adminctl and adminlog are; default bin). Needs only POSIX sh, grep, sed;
# uses jq for extra checks when it is installed.
. "$(dirname "$0")/tap.sh"

# The names in the output, in order, space-separated, without the bootstrap's "default"
# policies (present once store.init records them).
names() { grep -o '"name":"[^"]*"' "$T/out" | sed 's/"name":"\(.*\)"/\1/' | grep -v '^default$' | tr '\n' ' '; }

printf '%s\n' 'Adm1n!pass' >"$T/adminpw"
run "$AL" init "$D" --admin-password-file "$T/adminpw" --pwhash min
check "init" rc_is 0

# ---- keypair resource policies: every option of the issue's form -----------------------------------
run "$AC" --data "$D" policy create gold --cpu 4 --ram-gb 16 --gpu 1 --fgpu 0.3 --containers-per-session 2 \
	--idle-timeout 3600 --concurrent-jobs 3 --session-lifetime 86400 \
	--allowed-hosts local:volume1:all,nfs:data:mount-in-session --capacity-gb 10 --max-folders 5 --json
check "policy create with every option" eval 'rc_is 0 && out_has_f "\"name\":\"gold\"" && out_has_f "\"cpu\":4" &&
	out_has_f "\"ram_gb\":16" && out_has_f "\"gpu\":1," && out_has_f "\"fgpu\":0.3," &&
	out_has_f "\"containers_per_session\":2" && out_has_f "\"idle_timeout\":3600" &&
	out_has_f "\"concurrent_jobs\":3" && out_has_f "\"session_lifetime\":86400" &&
	out_has_f "\"capacity_gb\":10" && out_has_f "\"max_folders\":5" &&
	out_has_f "\"nfs:data\":[\"mount-in-session\"]" && out_has_f "\"version\":1"'
check "policy create: defaults for the options not given" eval 'out_has_f "\"default_for_unspecified\":\"unlimited\"" &&
	out_has_f "\"max_pending_session_count\":\"unlimited\"" && out_has_f "\"max_concurrent_sftp_sessions\":1"'
check "policy create --json is valid JSON with all 8 permissions for :all" \
	jq_ok '.allowed_hosts["local:volume1"] | length == 8'

run "$AC" --data "$D" policy create free --cpu unlimited --ram-gb unlimited --fgpu unlimited --json
check "policy create --cpu unlimited" eval 'rc_is 0 && out_has_f "\"cpu\":\"unlimited\"" &&
	out_has_f "\"ram_gb\":\"unlimited\"" && out_has_f "\"fgpu\":\"unlimited\""'
run "$AC" --data "$D" policy get free
check "policy get (table) shows unlimited" eval 'rc_is 0 && out_has "^cpu  *unlimited$" && out_has "^name  *free$"'

# ---- refusals: exit 1 and the code name on stderr; nothing recorded -----------------------------------
before=$(head_seq)
run "$AC" --data "$D" policy create free
check "policy create of an existing name: already_exists" eval 'refused already_exists && err_has_f "name:"'
run "$AC" --data "$D" policy create big --gpu 65
check "policy create --gpu 65: invalid_argument naming gpu and its maximum" \
	eval 'refused invalid_argument && err_has_f "gpu: at most 64"'
run "$AC" --data "$D" policy create big --cpu 513
check "policy create --cpu 513: invalid_argument" eval 'refused invalid_argument && err_has_f "cpu: at most 512"'
run "$AC" --data "$D" policy create big --idle-timeout 15552001
check "policy create --idle-timeout 15552001: invalid_argument" \
	eval 'refused invalid_argument && err_has_f "idle_timeout: at most 15552000"'
run "$AC" --data "$D" policy create big --cpu 1.5
check "policy create --cpu 1.5: whole numbers only" eval 'refused invalid_argument && err_has_f "cpu: must be a whole number"'
run "$AC" --data "$D" policy create big --fgpu 0.25
check "policy create --fgpu 0.25: steps of 0.1" eval 'refused invalid_argument && err_has_f "fgpu: must be a multiple of 0.1"'
run "$AC" --data "$D" policy create big --allowed-hosts local:volume1:fly
check "policy create with an unknown host permission" \
	eval 'refused invalid_argument && err_has_f "allowed_hosts: unknown permission"'
run "$AC" --data "$D" policy create big --allowed-hosts nohost
check "policy create with a malformed host entry" eval 'refused invalid_argument && err_has_f "allowed_hosts:"'
run "$AC" --data "$D" policy create "bad name"
check "policy create with a space in the name" eval 'refused invalid_argument && err_has_f "name:"'
run "$AC" --data "$D" policy create big --default-for-unspecified maybe
check "policy create --default-for-unspecified maybe" \
	eval 'refused invalid_argument && err_has_f "default_for_unspecified:"'
run "$AC" --data "$D" policy create big --cpu -1
check "policy create --cpu -1: usage error" usage_err
run "$AC" --data "$D" policy create big --cpu lots
check "policy create --cpu lots: usage error" usage_err
run "$AC" --data "$D" policy update gold
check "policy update with nothing to update" eval 'refused invalid_argument && err_has_f "nothing to update"'
run "$AC" --data "$D" policy update nosuch --cpu 1
check "policy update of an unknown policy: not_found" refused not_found
run "$AC" --data "$D" policy update gold --new-name platinum
check "policy update cannot rename: usage error" usage_err
check "refused commands recorded nothing" eval '[ -n "$before" ] && [ "$(head_seq)" = "$before" ]'

# ---- update ---------------------------------------------------------------------------------------------
run "$AC" --data "$D" policy update gold --cpu unlimited --gpu 2 --json
check "policy update --cpu unlimited --gpu 2" eval 'rc_is 0 && out_has_f "\"cpu\":\"unlimited\"" &&
	out_has_f "\"gpu\":2," && out_has_f "\"ram_gb\":16" && out_has_f "\"version\":2"'
before=$(head_seq)
run "$AC" --data "$D" policy update gold --gpu 2 --json
check "an update that changes nothing records nothing" eval 'rc_is 0 && out_has_f "\"version\":2" && [ -n "$before" ] && [ "$(head_seq)" = "$before" ]'
run "$AL" log "$D" --entity keypair_policy:gold --json
check "the update event holds only the changed options" eval 'rc_is 0 && out_has_f "keypair_policy.updated" &&
	[ "$(grep -c "keypair_policy.updated" "$T/out")" -eq 1 ] && ! grep "keypair_policy.updated" "$T/out" | grep -q -F "\"ram_gb\""'

# ---- list -----------------------------------------------------------------------------------------------
run "$AC" --data "$D" policy create Alpha --max-folders 100
run "$AC" --data "$D" policy list --json
check "policy list --json: an array sorted by name" eval 'rc_is 0 && out_has "^\[{\"name\":\"Alpha\"" &&
	[ "$(names)" = "Alpha free gold " ]'
check "policy list --json parses, with unlimited as a string" \
	jq_ok 'map(select(.name != "default")) | length == 3 and .[1].cpu == "unlimited" and .[2].fgpu == 0.3'
run "$AC" --data "$D" policy list
check "policy list (table)" eval 'rc_is 0 && out_has "^NAME" && out_has "^gold " && out_has "unlimited"'

# ---- delete ---------------------------------------------------------------------------------------------
run "$AC" --data "$D" policy delete free --json
check "policy delete" eval 'rc_is 0 && out_has_f "\"deleted\":true"'
run "$AC" --data "$D" policy get free
check "policy get of a deleted policy: not_found" refused not_found
run "$AC" --data "$D" policy delete free
check "policy delete twice: not_found" refused not_found
run "$AC" --data "$D" policy create free --cpu 1 --json
check "a deleted name may be reused" eval 'rc_is 0 && out_has_f "\"cpu\":1," && out_has_f "\"version\":3"'
run "$AC" --data "$D" policy create default
run "$AC" --data "$D" policy delete default
check "policy delete default: in_use" eval 'refused in_use && err_has_f "name:"'

# ---- user and project resource policies ------------------------------------------------------------------
run "$AC" --data "$D" user-policy create research --max-folder-count 10 --max-quota-size 100g \
	--max-session-count-per-model-session 4 --json
check "user-policy create" eval 'rc_is 0 && out_has_f "\"max_folder_count\":10" &&
	out_has_f "\"max_quota_size\":107374182400" && out_has_f "\"max_session_count_per_model_session\":4" &&
	out_has_f "\"max_customized_image_count\":3"'
run "$AC" --data "$D" user-policy update research --max-quota-size unlimited --max-folder-count 101
check "user-policy update over the maximum" eval 'refused invalid_argument && err_has_f "max_folder_count: at most 100"'
run "$AC" --data "$D" user-policy update research --max-quota-size unlimited --json
check "user-policy update --max-quota-size unlimited" eval 'rc_is 0 && out_has_f "\"max_quota_size\":\"unlimited\""'
run "$AC" --data "$D" user-policy update research --max-quota-size 12x
check "user-policy update with a bad size" eval 'refused invalid_argument && err_has_f "max_quota_size:"'
run "$AC" --data "$D" user-policy list --json
check "user-policy list --json" eval 'rc_is 0 && [ "$(names)" = "research " ] && jq_ok "type == \"array\""'
run "$AC" --data "$D" project-policy create lab --max-quota-size 1t --max-folder-count unlimited --json
check "project-policy create" eval 'rc_is 0 && out_has_f "\"max_quota_size\":1099511627776" &&
	out_has_f "\"max_folder_count\":\"unlimited\""'
run "$AC" --data "$D" project-policy create lab
check "project-policy create twice: already_exists" refused already_exists
run "$AC" --data "$D" project-policy list --json
check "project-policy list --json" eval 'rc_is 0 && [ "$(names)" = "lab " ] &&
	jq_ok "map(select(.name == \"lab\")) | length == 1"'
run "$AC" --data "$D" project-policy delete lab
check "project-policy delete" rc_is 0
run "$AC" --data "$D" user-policy delete research
check "user-policy delete" rc_is 0
run "$AC" --data "$D" user-policy get research
check "user-policy get after delete: not_found" refused not_found

# ---- who may: an admin reads, only a superadmin writes --------------------------------------------------
printf '%s\n' 'Passw0rd!' >"$T/pw"
runi "$T/pw" "$AC" --data "$D" user create --email adm@example.com --username adm --role admin --password-stdin
runi "$T/pw" "$AC" --data "$D" user create --email usr@example.com --username usr --password-stdin
run "$AC" --data "$D" --as adm@example.com policy list --json
check "an admin lists keypair resource policies" eval 'rc_is 0 && out_has_f "\"name\":\"gold\""'
run "$AC" --data "$D" --as adm@example.com policy create mine
check "an admin cannot create a policy: permission_denied" refused permission_denied
run "$AC" --data "$D" --as adm@example.com policy delete gold
check "an admin cannot delete a policy: permission_denied" refused permission_denied
run "$AC" --data "$D" --as usr@example.com policy get gold
check "a user cannot read policies: permission_denied" refused permission_denied

# ---- the views rebuild to the same digest ---------------------------------------------------------------
run "$AL" digest "$D"
live=$(cat "$T/out")
run "$AL" rebuild "$D"
run "$AL" digest "$D"
check "rebuild gives the same digest" eval '[ -n "$live" ] && [ "$(cat "$T/out")" = "$live" ]'
run "$AL" verify "$D"
check "verify" rc_is 0

tap_done
