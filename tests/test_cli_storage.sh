#!/bin/sh
# test_cli_storage.sh - the storage, quota and folder forms of adminctl in direct mode, end to
# end, as TAP: exactly the issue's command lines, valid and refused.
# Env: BIN (where adminctl and adminlog are; default bin). Needs POSIX sh, grep, sed (jq optional).
. "$(dirname "$0")/tap.sh"

ac() { run "$AC" --data "$D" "$@"; }
# okj STRING...: exit status 0 and each STRING (fixed) in the output.
okj() {
	rc_is 0 || return 1
	for x; do out_has_f "$x" || return 1; done
}
# lines FILE N: FILE has N non-empty lines.
lines() { [ "$(grep -c . "$1")" -eq "$2" ]; }
# refused_at CODE FIELD: refused with CODE, the message naming FIELD.
refused_at() { refused "$1" && err_has "$2:"; }

init_store
printf '%s\n' 'Passw0rd!' >"$T/pw"
mkuser() {
	runi "$T/pw" "$AC" --data "$D" user create --email "$1" --username "$2" --password-stdin --domain "$3" --role "$4"
	check "user $1" rc_is 0
}
ac domain create lab --allowed-hosts 'local:volume1:create-vfolder'
check "domain lab" rc_is 0
mkuser alice@lab.io alice lab user
mkuser bob@lab.io bob lab user
mkuser carol@lab.io carol lab admin
mkuser dave@example.com dave default user
ac project create vision --domain lab
check "project vision" rc_is 0
ac project add-member vision --domain lab --users alice@lab.io
check "alice joins vision" rc_is 0

# ---- storage hosts
ac storage create local:volume1 --backend xfs --mount /vfroot/local
check "storage create (xfs)" rc_is 0
ac storage create nfs:home --backend vfs --mount /mnt/home
check "storage create (vfs)" rc_is 0
ac storage create ceph:v --backend cephfs --mount /mnt/ceph --quota no
check "storage create --quota no" rc_is 0
ac storage create local:volume1 --backend xfs --mount /x
check "a host name is unique" refused already_exists
ac storage create volume1 --backend xfs --mount /x
check "a name without proxy: is refused, naming name" refused_at invalid_argument name
ac storage create a:b --backend ntfs --mount /x
check "an unknown backend is refused, naming backend" refused_at invalid_argument backend
ac storage create a:b --backend xfs --mount relative/path
check "a relative mount point is refused, naming mount" refused_at invalid_argument mount
ac storage create a:b --backend xfs --mount /x --quota maybe
check "--quota takes yes or no" usage_err
ac storage list --json
check "storage list --json" rc_is 0
check "storage list holds the three hosts in name order" [ "$(grep -o '"name":"[^"]*"' "$T/out" | tr '\n' ' ')" = '"name":"ceph:v" "name":"local:volume1" "name":"nfs:home" ' ]
check "storage list: quota support per backend" jq_ok '[.[] | .quota_supported] == [false, true, false]'
check "storage list: capabilities" jq_ok '.[1].capabilities == ["vfolder", "quota"]'
ac storage list
check "storage list as a table" okj local:volume1
ac storage get local:volume1 --json
check "storage get" okj '"mount":"/vfroot/local"' '"used_bytes":null'
ac storage get no:such
check "storage get of an unknown host" refused not_found
ac storage update nfs:home --mount /mnt/home2 --json
check "storage update" okj '"mount":"/mnt/home2"' '"quota_supported":false'
ac storage update nfs:home
check "storage update without changes is refused" refused invalid_argument
before=$(head_seq)
ac storage report-usage local:volume1 --used-bytes 1000 --capacity-bytes 100000 --json
check "storage report-usage" okj '"used_bytes":1000' '"capacity_bytes":100000'
ac storage report-usage local:volume1 --used-bytes 1000 --capacity-bytes 100000
check "the same usage again is accepted" rc_is 0
check "... and records one event in all" [ "$(head_seq)" -eq $((before + 1)) ]
ac storage report-usage local:volume1 --used-bytes 1001 --capacity-bytes 100000
check "changed usage records an event" [ "$(head_seq)" -eq $((before + 2)) ]
ac storage report-usage local:volume1 --used-bytes 5 --capacity-bytes 4
check "used above capacity is refused" refused_at invalid_argument used_bytes
run "$AC" --data "$D" --as carol@lab.io storage create x:y --backend xfs --mount /x
check "a domain admin does not register hosts" refused permission_denied
run "$AC" --data "$D" --as carol@lab.io storage list --json
check "a domain admin reads hosts" rc_is 0
run "$AC" --data "$D" --as alice@lab.io storage list
check "a user does not read hosts" refused permission_denied

# ---- quotas
ac quota get --host local:volume1 --user alice@lab.io --json
check "quota get before any quota: the policy" okj '"source":"policy"' '"hard_limit_gb":"unlimited"'
ac quota set --host local:volume1 --user alice@lab.io --hard-limit-gb 50 --json
check "quota set --user" okj '"hard_limit_gb":50' '"source":"quota"'
ac quota get --host local:volume1 --user alice@lab.io --json
check "quota get: hard_limit_gb and source quota" jq_ok '.hard_limit_gb == 50 and .source == "quota"'
ac quota set --host local:volume1 --project vision --domain lab --hard-limit-gb 200
check "quota set --project --domain" rc_is 0
ac quota get --host local:volume1 --project vision --domain lab --json
check "quota get --project" okj '"hard_limit_gb":200' '"source":"quota"' '"project":"vision"'
ac quota list --json
check "quota list shows both" jq_ok 'length == 2 and ([.[] | .scope_type] | sort) == ["project", "user"]'
ac user-policy create small --max-quota-size 10g
ac user update alice@lab.io --resource-policy small
check "alice follows user policy small" rc_is 0
ac quota unset --host local:volume1 --user alice@lab.io --json
check "quota unset falls back to the policy" okj '"source":"policy"' '"hard_limit_gb":10,'
ac quota get --host local:volume1 --user alice@lab.io --json
check "quota get after unset: source policy, the policy's size" jq_ok '.source == "policy" and .hard_limit_gb == 10 and .policy == "small"'
ac quota set --host nfs:home --user alice@lab.io --hard-limit-gb 5
check "quota set on a backend without quotas" refused_at unsupported host
ac quota get --host ceph:v --user alice@lab.io
check "quota get where quotas are turned off" refused unsupported
ac quota set --host local:volume1 --user alice@lab.io --project vision --hard-limit-gb 5
check "--user and --project together are refused" refused invalid_argument
ac quota set --host local:volume1 --user alice@lab.io --hard-limit-gb 0
check "a zero hard limit is refused" refused_at invalid_argument hard_limit_gb
ac quota set --host local:volume1 --user alice@lab.io --hard-limit-gb lots
check "a non-numeric hard limit is a usage error" usage_err
run "$AC" --data "$D" --as carol@lab.io quota set --host local:volume1 --user bob@lab.io --hard-limit-gb 3
check "a domain admin sets quotas in its domain" rc_is 0
run "$AC" --data "$D" --as carol@lab.io quota set --host local:volume1 --user dave@example.com --hard-limit-gb 3
check "... not for users of another domain" refused permission_denied
run "$AC" --data "$D" --as carol@lab.io quota set --host local:volume1 --project default --domain default --hard-limit-gb 3
check "... nor for projects of another domain" refused permission_denied
run "$AC" --data "$D" --as alice@lab.io quota set --host local:volume1 --user alice@lab.io --hard-limit-gb 3
check "a user sets no quota" refused permission_denied
run "$AC" --data "$D" --as alice@lab.io quota get --host local:volume1 --user alice@lab.io --json
check "a user reads its own quota" rc_is 0
run "$AC" --data "$D" --as alice@lab.io quota get --host local:volume1 --user bob@lab.io
check "... not another's" refused permission_denied
run "$AC" --data "$D" --as carol@lab.io quota list --json
check "a domain admin lists its domain's quotas" jq_ok 'length == 2 and all(.[]; .domain == "lab")'
run "$AC" --data "$D" export quotas --out "$T/quotas.csv"
check "export quotas" rc_is 0
check "quotas.csv: a header and two rows" lines "$T/quotas.csv" 3
check "quotas.csv header" grep -q '^host,quota_scope_id,scope_type,user,project,domain,hard_limit_gb,set_at' "$T/quotas.csv"
run "$AC" --data "$D" export storage --out "$T/storage.csv"
check "export storage" rc_is 0
check "storage.csv: a header and three rows" lines "$T/storage.csv" 4
check "storage.csv row" grep -q '^local:volume1,xfs,/vfroot/local,true,' "$T/storage.csv"

# ---- folders
ac folder create data --host local:volume1
check "an operator owns no user folder" refused permission_denied
run "$AC" --data "$D" --as alice@lab.io folder create data --host local:volume1 --json
check "folder create as a user" okj '"permission":"rw"' '"ownership_type":"user"' '"user":"alice@lab.io"'
run "$AC" --data "$D" --as alice@lab.io folder create data --host local:volume1
check "a folder name is unique per owner" refused already_exists
run "$AC" --data "$D" --as bob@lab.io folder create data --host local:volume1 --permission wd
check "another user may use the same name" rc_is 0
run "$AC" --data "$D" --as alice@lab.io folder create .bashrc --host local:volume1
check "a reserved name is refused" refused_at invalid_argument name
run "$AC" --data "$D" --as alice@lab.io folder create x --host nfs:home
check "a host the domain does not allow is refused" refused_at permission_denied host
run "$AC" --data "$D" --as alice@lab.io folder create x --host local:volume1 --permission rx
check "an unknown permission is refused" refused_at invalid_argument permission
run "$AC" --data "$D" --as alice@lab.io folder create team --host local:volume1 --project vision
check "a member creates no project folder" refused permission_denied
run "$AC" --data "$D" --as carol@lab.io folder create team --host local:volume1 --project vision --permission ro --json
check "the domain admin creates a project folder" okj '"ownership_type":"project"' '"project":"vision"' '"permission":"ro"'
ac folder create team2 --host nfs:home --project vision --domain lab
check "a superadmin creates one on any host" rc_is 0
run "$AC" --data "$D" --as alice@lab.io folder list --json
check "a member sees the project folders without invitation, with the permission" jq_ok '(map(.name) | sort) == ["data", "team", "team2"] and (.[] | select(.name == "team") | .permission) == "ro"'
run "$AC" --data "$D" --as bob@lab.io folder list --json
check "a non-member sees only its own" jq_ok 'map(.name) == ["data"] and .[0].permission == "wd"'
run "$AC" --data "$D" --as alice@lab.io folder list
check "folder list as a table" okj team
ac project add-member vision --domain lab --users bob@lab.io
run "$AC" --data "$D" --as bob@lab.io folder list --json
check "a new member sees them at once" jq_ok 'length == 3'
run "$AC" --data "$D" --as alice@lab.io folder get team --project vision --domain lab --json
check "folder get of a project folder" okj '"name":"team"'
run "$AC" --data "$D" --as alice@lab.io folder delete team --project vision --domain lab
check "a member deletes no project folder" refused permission_denied
run "$AC" --data "$D" --as alice@lab.io folder delete data
check "an owner deletes its folder" rc_is 0
run "$AC" --data "$D" --as alice@lab.io folder get data
check "... which is gone" refused not_found
ac folder list --json
check "the superadmin lists all" jq_ok 'length == 3'
run "$AC" --data "$D" export folders --out "$T/folders.csv"
check "export folders" rc_is 0
check "folders.csv: a header and three rows" lines "$T/folders.csv" 4
check "folders.csv header" grep -q '^id,name,host,ownership_type,user,project,domain,permission' "$T/folders.csv"

run "$AL" verify "$D"
check "verify" rc_is 0
tap_done
