#!/bin/sh
# test_cli_projects.sh - the domain and project forms of adminctl in direct mode, end to end, as TAP.
# Env: BIN (where adminctl and adminlog are; default bin). Needs only POSIX sh, grep, sed (jq optional).
. "$(dirname "$0")/tap.sh"

ac() { run "$AC" --data "$D" "$@"; }
# The values of "key":"..." in the output, space-separated.
col() { grep -o "\"$1\":\"[^\"]*\"" "$T/out" | sed "s/\"$1\":\"//; s/\"\$//" | tr '\n' ' '; }
# The number of events in the log.
events() { "$AL" log "$D" --json | grep -c ''; }

printf '%s\n' 'Adm1n!pass' >"$T/adminpw"
"$AL" init "$D" --admin-password-file "$T/adminpw" --pwhash min >/dev/null 2>&1 || { echo "Bail out! init"; exit 1; }
printf '%s\n' 'Passw0rd!' >"$T/pw"
made=0
mkuser() {
	runi "$T/pw" "$AC" --data "$D" user create --email "$1" --username "$2" --password-stdin --domain "$3" --role "$4"
	[ "$rc" -eq 0 ] && made=$((made + 1))
}

# ---- domains ------------------------------------------------------------------------------------------
ac domain create sales --description "Sales team" --total-resource-slots cpu=8,mem=32g \
	--allowed-hosts local:vol1:mount-in-session,local:vol1:upload-file --allowed-registries cr.backend.ai,index.docker.io
check "domain create with slots, hosts, registries (table)" \
	eval 'rc_is 0 && out_has "^name  *sales" && out_has_f "{\"cpu\":8,\"mem\":34359738368}" && out_has_f "[\"cr.backend.ai\",\"index.docker.io\"]"'
ac domain create ops --json
check "domain create --json" eval 'rc_is 0 && out_lines 1 && out_has_f "\"name\":\"ops\"" && out_has_f "\"allowed_docker_registries\":[]"'
ac domain get sales --json
check "domain get --json returns what create stored" \
	eval 'rc_is 0 && out_has_f "\"total_resource_slots\":{\"cpu\":8,\"mem\":34359738368}" && out_has_f "\"allowed_vfolder_hosts\":{\"local:vol1\":[\"mount-in-session\",\"upload-file\"]}"'
if have_jq; then
	check "domain get --json parses (jq)" jq_ok '.is_active == true and .allowed_docker_registries == ["cr.backend.ai","index.docker.io"]'
fi
ac domain create bad --total-resource-slots cpu=lots
check "bad slots: exit 1, invalid_argument naming total_resource_slots" eval 'refused invalid_argument && err_has total_resource_slots'
ac domain create bad --allowed-hosts local:vol1:fly
check "bad host permission: exit 1, invalid_argument naming allowed_hosts" eval 'refused invalid_argument && err_has allowed_hosts'
ac domain create bad --allowed-registries "http://cr.io"
check "bad registry: exit 1, invalid_argument naming allowed_registries" eval 'refused invalid_argument && err_has allowed_registries'
desc=$(printf '%0513d' 0)
ac domain create bad --description "$desc"
check "513-character description: exit 1, invalid_argument naming description" eval 'refused invalid_argument && err_has description'
ac domain update sales --description "Sales EU" --allowed-registries cr.backend.ai --json
check "domain update" eval 'rc_is 0 && out_has_f "\"description\":\"Sales EU\"" && out_has_f "\"allowed_docker_registries\":[\"cr.backend.ai\"]" && out_has_f "\"cpu\":8"'
before=$(events)
ac domain update sales --description "Sales EU"
check "domain update that changes nothing records nothing" eval 'rc_is 0 && [ "$(events)" -eq "$before" ]'
ac domain update sales
check "domain update without fields: exit 1, invalid_argument" refused invalid_argument
ac domain update nowhere --description x
check "domain update of a missing domain: exit 1, not_found" refused not_found
ac domain deactivate ops --json
check "domain deactivate" eval 'rc_is 0 && out_has_f "\"is_active\":false"'
ac project create p1 --domain ops
check "an inactive domain takes no new project: exit 1, invalid_argument naming domain" \
	eval 'refused invalid_argument && err_has "domain: domain ops is inactive"'
ac domain activate ops --json
check "domain activate" eval 'rc_is 0 && out_has_f "\"is_active\":true"'
ac domain list
check "domain list (table)" eval 'rc_is 0 && out_has "^NAME" && out_has "^default " && out_has "^ops " && out_has "^sales " && out_lines 4'
ac domain list --json
check "domain list --json: by name" eval 'rc_is 0 && [ "$(col name)" = "default ops sales " ]'
ac domain delete ops
check "there is no domain delete: exit 2" usage_err

# ---- users for the permission checks -------------------------------------------------------------------
mkuser boss@sales.io boss sales admin
mkuser mon@sales.io mon sales monitor
mkuser a@sales.io a sales user
mkuser b@sales.io b sales user
mkuser c@ops.io c ops user
mkuser chief@ops.io chief ops admin
check "users in two domains" eval '[ "$made" -eq 6 ]'

# ---- projects --------------------------------------------------------------------------------------------
ac project create ml --domain sales --description "ML team" --type model-store --policy default \
	--total-resource-slots cpu=4,mem=8g --allowed-hosts local:vol1:all --allowed-registries cr.backend.ai --json
check "project create --json with every option" \
	eval 'rc_is 0 && out_lines 1 && out_has_f "\"name\":\"ml\"" && out_has_f "\"domain\":\"sales\"" && out_has_f "\"type\":\"model-store\"" && out_has_f "\"total_resource_slots\":{\"cpu\":4,\"mem\":8589934592}" && out_has_f "\"members\":[]"'
id=$(sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p' "$T/out")
check "the project has a UUID" eval 'echo "$id" | grep -q "^[0-9a-f]\{8\}-[0-9a-f]\{4\}-4[0-9a-f]\{3\}-[89ab][0-9a-f]\{3\}-[0-9a-f]\{12\}$"'
ac project create ml --domain sales
check "same name in the same domain: exit 1, already_exists" eval 'refused already_exists && err_has name'
ac project create ml --domain ops
check "same name in another domain is fine" eval 'rc_is 0 && out_has "^domain  *ops" && out_has "^type  *general" && out_has "^resource_policy  *default"'
ac project create "bad name" --domain sales
check "bad project name: exit 1, invalid_argument naming name" eval 'refused invalid_argument && err_has name'
ac project create web --domain sales --type private
check "bad type: exit 1, invalid_argument naming type" eval 'refused invalid_argument && err_has type'
ac project create web --domain nowhere
check "unknown domain: exit 1, invalid_argument naming domain" eval 'refused invalid_argument && err_has domain'
ac project create web --domain sales --allowed-registries "a..b"
check "bad registry on a project: exit 1, invalid_argument naming allowed_registries" eval 'refused invalid_argument && err_has allowed_registries'
ac project create web --domain sales
check "project create (table)" eval 'rc_is 0 && out_has "^name  *web" && out_has "^is_active  *true"'

before=$(events)
ac project add-member ml --domain sales a@sales.io b@sales.io --json
check "project add-member NAME --domain D a b: both members" \
	eval 'rc_is 0 && out_has_f "\"members\":[\"a@sales.io\",\"b@sales.io\"]" && [ "$(events)" -eq $((before + 2)) ]'
if have_jq; then
	check "project add-member --json parses (jq)" jq_ok '.members == ["a@sales.io","b@sales.io"] and .name == "ml"'
fi
before=$(events)
ac project add-member ml --domain sales a@sales.io
check "adding a member again records nothing" eval 'rc_is 0 && [ "$(events)" -eq "$before" ]'
ac project add-member ml --domain sales a@sales.io c@ops.io
check "a user of another domain: exit 1, invalid_argument naming users and the user, nothing recorded" \
	eval 'refused invalid_argument && err_has "users: c@ops.io" && [ "$(events)" -eq "$before" ]'
ac project add-member ml --domain sales ghost@sales.io
check "an unknown user: exit 1, invalid_argument naming users" eval 'refused invalid_argument && err_has "users: no user ghost@sales.io"'
ac project add-member ml --domain sales
check "add-member without users: exit 1, invalid_argument naming users" eval 'refused invalid_argument && err_has users'
ac user get mon@sales.io --json
monid=$(sed -n 's/.*"id":"\([0-9a-f-]*\)".*/\1/p' "$T/out")
ac project add-member ml --domain sales "$monid" --json
check "add-member by user id" eval 'rc_is 0 && out_has_f "\"members\":[\"a@sales.io\",\"b@sales.io\",\"mon@sales.io\"]"'
ac project remove-member ml --domain sales b@sales.io "$monid" --json
check "project remove-member by email and id" eval 'rc_is 0 && out_has_f "\"members\":[\"a@sales.io\"]"'
before=$(events)
ac project remove-member ml --domain sales b@sales.io
check "removing a non-member records nothing" eval 'rc_is 0 && [ "$(events)" -eq "$before" ]'
ac project get ml --domain sales
check "project get (table)" eval 'rc_is 0 && out_has "^members  *\[\"a@sales.io\"\]" && out_has "^description  *ML team"'
ac project get nope --domain sales
check "project get of a missing project: exit 1, not_found" refused not_found
ac project update ml --domain sales --description "Machine learning" --new-name mlops --json
check "project update with a rename keeps the id and members" \
	eval 'rc_is 0 && out_has_f "\"id\":\"$id\"" && out_has_f "\"name\":\"mlops\"" && out_has_f "\"members\":[\"a@sales.io\"]"'
ac project update mlops --domain sales --new-name web
check "rename to a taken name: exit 1, already_exists naming new_name" eval 'refused already_exists && err_has new_name'
ac project update mlops --domain sales
check "project update without fields: exit 1, invalid_argument" refused invalid_argument
ac project deactivate web --domain sales --json
check "project deactivate" eval 'rc_is 0 && out_has_f "\"is_active\":false"'
ac project add-member web --domain sales a@sales.io
check "an inactive project takes no members: exit 1, invalid_argument" eval 'refused invalid_argument && err_has inactive'
ac project activate web --domain sales --json
check "project activate" eval 'rc_is 0 && out_has_f "\"is_active\":true"'
ac project list
check "project list (table)" eval 'rc_is 0 && out_has "^NAME  *DOMAIN" && out_has "^mlops  *sales " && out_has "^ml  *ops " && out_has "^web  *sales "'
ac project list --json
# (the bootstrap's project default in domain default, when it makes one, comes first)
check "project list --json: by domain, then name" 	eval 'rc_is 0 && [ "$(col name | sed "s/^default //")" = "ml mlops web " ] && [ "$(col domain | sed "s/^default //")" = "ops sales sales " ]'
ac project list --domain sales --json
check "project list --domain" eval 'rc_is 0 && [ "$(col name)" = "mlops web " ]'
if have_jq; then
	check "project list --json parses (jq)" jq_ok 'length == 2 and (map(.member_count) == [1, 0])'
fi
ac project delete web --domain sales
check "there is no project delete: exit 2" usage_err

# ---- who may do what (--as) --------------------------------------------------------------------------------
run "$AC" --data "$D" --as boss@sales.io project create team --domain sales --json
check "a domain admin creates a project in its domain" eval 'rc_is 0 && out_has_f "\"domain\":\"sales\""'
run "$AC" --data "$D" --as boss@sales.io project create own --json
check "a domain admin without --domain: its own domain" eval 'rc_is 0 && out_has_f "\"domain\":\"sales\""'
run "$AC" --data "$D" --as boss@sales.io project add-member team --domain sales a@sales.io b@sales.io
check "a domain admin adds members in its domain" eval 'rc_is 0 && out_has "^members  *\[\"a@sales.io\",\"b@sales.io\"\]"'
before=$(events)
run "$AC" --data "$D" --as boss@sales.io project create x --domain ops
check "a domain admin in another domain: exit 1, permission_denied" refused permission_denied
run "$AC" --data "$D" --as chief@ops.io project add-member team --domain sales c@ops.io
check "another domain's admin adds no member: permission_denied" refused permission_denied
run "$AC" --data "$D" --as chief@ops.io project get team --domain sales
check "another domain's admin reads nothing: permission_denied" refused permission_denied
run "$AC" --data "$D" --as mon@sales.io project deactivate team --domain sales
check "a monitor does not write: permission_denied" refused permission_denied
run "$AC" --data "$D" --as a@sales.io project create mine --domain sales
check "a user does not create projects: permission_denied" refused permission_denied
run "$AC" --data "$D" --as boss@sales.io domain create mine
check "a domain admin does not create domains: permission_denied" refused permission_denied
check "refused commands appended nothing" eval '[ "$(events)" -eq "$before" ]'
run "$AC" --data "$D" --as mon@sales.io project list --json
check "a monitor lists its domain's projects" eval 'rc_is 0 && [ "$(col name)" = "mlops own team web " ]'
run "$AC" --data "$D" --as a@sales.io project list --json
check "a user lists only its projects" eval 'rc_is 0 && [ "$(col name)" = "mlops team " ]'
run "$AC" --data "$D" --as a@sales.io project get web --domain sales
check "a user reads no project it is not in: permission_denied" refused permission_denied
run "$AC" --data "$D" --as a@sales.io project get team --json
check "a user reads its project" eval 'rc_is 0 && out_has_f "\"name\":\"team\""'
run "$AC" --data "$D" --as a@sales.io domain get sales --json
check "a user reads its own domain" eval 'rc_is 0 && out_has_f "\"name\":\"sales\""'
run "$AC" --data "$D" --as a@sales.io domain get ops
check "a user reads no other domain: permission_denied" refused permission_denied
run "$AC" --data "$D" --as boss@sales.io domain list --json
check "a domain admin lists only its domain" eval 'rc_is 0 && [ "$(col name)" = "sales " ]'
run "$AC" --data "$D" --as a@sales.io domain list
check "a user lists no domains: permission_denied" refused permission_denied

# ---- the audit log ---------------------------------------------------------------------------------------------
run "$AL" log "$D" --entity "project:$id" --json
check "the project's history is under its id, through the rename" \
	eval 'rc_is 0 && out_has "\"type\":\"project.created\"" && out_has "\"type\":\"project.member_added\"" && out_has "\"type\":\"project.member_removed\"" && out_has "\"type\":\"project.updated\""'
run "$AL" log "$D" --type domain.updated --json
check "domain.updated records only the changed fields" eval 'rc_is 0 && out_lines 1 && out_has_f "\"description\":\"Sales EU\"" && ! out_has_f "total_resource_slots"'
run "$AL" verify "$D"
check "verify after all of it" eval 'rc_is 0'

tap_done
