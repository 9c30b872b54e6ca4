#!/bin/sh
# test_cli_rgroups.sh - the resource group, settings, maintenance and info forms of adminctl
# (issue 5's exact command lines) in direct mode, end to end, as TAP.
# Env: BIN (where adminctl and adminlog are; default bin). Needs POSIX sh, grep, sed (jq optional).
. "$(dirname "$0")/tap.sh"

ac() { run "$AC" --data "$D" "$@"; }

init_store
ak=$("$AC" --data "$D" user get admin@example.com --json | sed -n 's/.*"main_access_key":"\([A-Z0-9]*\)".*/\1/p')
check "the admin has a main access key" test -n "$ak"

# ---- rgroup create / update / deactivate / activate / get / list
ac rgroup create gpu --scheduler fifo --description "V100 nodes" --public true --wsproxy http://127.0.0.1:5050 \
	--allowed-session-types interactive,batch --pending-timeout 600 --retries-to-skip 3
check "rgroup create with every option" rc_is 0
ac rgroup get gpu --json
check "rgroup get shows the fields" sh -c "[ $rc -eq 0 ] && grep -q '\"scheduler\":\"fifo\"' '$T/out' &&
	grep -q '\"wsproxy_addr\":\"http://127.0.0.1:5050\"' '$T/out' && grep -q '\"retries_to_skip\":3' '$T/out' &&
	grep -q '\"pending_timeout\":600' '$T/out' && grep -q '\"allowed_session_types\":\[\"interactive\",\"batch\"\]' '$T/out'"
check "rgroup get JSON parses" jq_ok '.name == "gpu" and .is_public == true and .is_active == true'
ac rgroup create cpu
check "rgroup create with defaults" rc_is 0
ac rgroup create cpu
check "a taken name is refused" refused already_exists
ac rgroup create bad --scheduler mof
check "an unknown scheduler is refused" sh -c "[ $rc -eq 1 ] && grep -q invalid_argument '$T/err' && grep -q 'scheduler:' '$T/err'"
ac rgroup create bad --wsproxy ftp://x
check "a non-http wsproxy is refused" sh -c "[ $rc -eq 1 ] && grep -q 'wsproxy:' '$T/err'"
ac rgroup create bad --allowed-session-types gpu
check "an unknown session type is refused" sh -c "[ $rc -eq 1 ] && grep -q 'allowed_session_types:' '$T/err'"
ac rgroup create bad --pending-timeout -5
check "a negative pending timeout is refused" sh -c "[ $rc -eq 1 ] && grep -q 'pending_timeout:' '$T/err'"
ac rgroup create bad --scheduler lifo --retries-to-skip 2
check "retries to skip with lifo are refused" sh -c "[ $rc -eq 1 ] && grep -q 'retries_to_skip:' '$T/err'"
ac rgroup update gpu --scheduler lifo
check "lifo while the group skips after retries is refused" sh -c "[ $rc -eq 1 ] && grep -q 'scheduler:' '$T/err'"
ac rgroup update gpu --scheduler lifo --retries-to-skip 0
check "rgroup update scheduler and retries together" sh -c "[ $rc -eq 0 ] && grep -q lifo '$T/out'"
ac rgroup update gpu
check "rgroup update with nothing to change is refused" refused invalid_argument
ac rgroup deactivate gpu
check "rgroup deactivate" sh -c "[ $rc -eq 0 ] && grep -q 'is_active  *false' '$T/out'"
ac rgroup activate gpu
check "rgroup activate" sh -c "[ $rc -eq 0 ] && grep -q 'is_active  *true' '$T/out'"
ac rgroup list
check "rgroup list is a table with both groups" sh -c "[ $rc -eq 0 ] && grep -q '^NAME' '$T/out' && grep -q '^cpu' '$T/out' && grep -q '^gpu' '$T/out'"
ac rgroup list --json
check "rgroup list --json" jq_ok 'length >= 2 and (map(.name) | index("gpu") != null)'
ac rgroup get nope
check "rgroup get of an unknown group" refused not_found

# ---- associations and the groups a user may use
ac rgroup associate gpu --domain default
check "rgroup associate --domain" sh -c "[ $rc -eq 0 ] && grep -q 'domains  *\[\"default\"\]' '$T/out'"
ac rgroup associate gpu --project default
check "rgroup associate --project (domain defaults to default)" sh -c "[ $rc -eq 0 ] && grep -q 'default/default' '$T/out'"
ac rgroup associate cpu --project default --domain default
check "rgroup associate --project --domain" rc_is 0
ac rgroup associate cpu --keypair "$ak"
check "rgroup associate --keypair" sh -c "[ $rc -eq 0 ] && grep -q '$ak' '$T/out'"
ac rgroup associate cpu --domain default --keypair "$ak"
check "two targets are refused" sh -c "[ $rc -eq 1 ] && grep -q 'target:' '$T/err'"
ac rgroup associate cpu --domain nowhere
check "an unknown domain is refused" sh -c "[ $rc -eq 1 ] && grep -q 'domain:' '$T/err'"
ac rgroup associate cpu --keypair AKIANOSUCHKEY0000000
check "an unknown keypair is refused" sh -c "[ $rc -eq 1 ] && grep -q 'keypair:' '$T/err'"
ac rgroup allowed --user admin@example.com --json
check "rgroup allowed: the union of domain, project and keypair" jq_ok \
	'(map(select(.name == "gpu"))[0].via == ["domain:default","project:default/default"]) and
	 (map(select(.name == "cpu"))[0].via | length == 2)'
check "rgroup allowed names both groups" sh -c "grep -q '\"name\":\"cpu\"' '$T/out' && grep -q '\"name\":\"gpu\"' '$T/out'"
ac rgroup dissociate cpu --keypair "$ak"
check "rgroup dissociate --keypair" sh -c "[ $rc -eq 0 ] && ! grep -q '$ak' '$T/out'"
ac rgroup dissociate cpu --project default --domain default
check "rgroup dissociate --project" rc_is 0
ac rgroup allowed --user admin@example.com --json
check "after dissociating, cpu is no longer allowed" sh -c "[ $rc -eq 0 ] && ! grep -q '\"name\":\"cpu\"' '$T/out'"

# ---- delete
ac rgroup create tmp
ac rgroup delete tmp
check "rgroup delete of an unused group" sh -c "[ $rc -eq 0 ] && grep -q 'deleted  *true' '$T/out'"
ac rgroup get tmp
check "a deleted group is gone" refused not_found

# ---- export
ac export rgroups --out "$T/rgroups.csv"
check "export rgroups" sh -c "[ $rc -eq 0 ] && head -n 1 '$T/rgroups.csv' | grep -q '^name,description,is_active,is_public,scheduler,' &&
	grep -q '^gpu,V100 nodes,true,true,lifo,interactive;batch,600,0,http://127.0.0.1:5050,default,default/default,,' '$T/rgroups.csv'"

# ---- settings
ac settings get
check "settings get lists every key" sh -c "[ $rc -eq 0 ] && grep -q '^overlay-mtu  *1500  *default' '$T/out' &&
	grep -q '^agent-heartbeat-timeout  *40' '$T/out' && grep -q '^agent-selection  *dispersed' '$T/out' &&
	grep -q '^checkpoint-interval  *65536' '$T/out' && [ \$(grep -c '' '$T/out') -eq 11 ]"
ac settings set overlay-mtu 9000
check "settings set overlay-mtu 9000" sh -c "[ $rc -eq 0 ] && grep -q 'source  *settings' '$T/out'"
ac settings get overlay-mtu --json
check "settings get KEY" jq_ok '.value == 9000 and .source == "settings" and .default == 1500'
ac settings set overlay-mtu 0
check "an MTU of 0 is refused" sh -c "[ $rc -eq 1 ] && grep -q invalid_argument '$T/err' && grep -q 'overlay-mtu:' '$T/err'"
ac settings set retries-to-skip 5
check "settings set retries-to-skip (fifo)" rc_is 0
ac settings set scheduler drf
check "drf while retries-to-skip is non-zero is refused" sh -c "[ $rc -eq 1 ] && grep -q 'scheduler:' '$T/err'"
ac settings set image-auto-pull tag
check "settings set image-auto-pull" rc_is 0
ac settings set project-folders false
check "settings set project-folders" rc_is 0
ac settings set agent-heartbeat-timeout 0
check "a heartbeat timeout of 0 is refused" refused invalid_argument
changes=4 # overlay-mtu, retries-to-skip, image-auto-pull, project-folders
ac settings set timezone UTC
check "settings set timezone UTC (the default: nothing to record)" rc_is 0
if [ -f /usr/share/zoneinfo/Asia/Seoul ]; then
	ac settings set timezone Asia/Seoul
	check "settings set timezone Asia/Seoul" rc_is 0
	changes=5
fi
ac settings set timezone ../etc/passwd
check "a path as time zone is refused" sh -c "[ $rc -eq 1 ] && grep -q 'timezone:' '$T/err'"
ac settings set nope 1
check "an unknown key is refused" sh -c "[ $rc -eq 1 ] && grep -q 'key:' '$T/err'"
ac settings get --group gpu --json
check "settings get --group: the group's scheduler options" jq_ok \
	'(map(select(.key == "scheduler"))[0] | .value == "lifo" and .source == "resource group gpu") and
	 (map(select(.key == "retries-to-skip"))[0] | .value == 0 and .source == "resource group gpu") and
	 (map(select(.key == "overlay-mtu"))[0] | .source == "settings")'
check "settings get --group names the group as source" grep -q 'resource group gpu' "$T/out"

# ---- the guide's scheduler options (issue 15 item 8)
D2="$T/guide"
"$AL" init "$D2" --admin-password-file "$T/adminpw" --pwhash min --offline >/dev/null 2>&1
run "$AC" --data "$D2" settings get retries-to-skip --json
check "retries-to-skip defaults to three, as the guide says" eval 'rc_is 0 && out_has "\"value\":3," && out_has "\"source\":\"default\"" && jq_ok ".value == 3"'
run "$AC" --data "$D2" settings set session-creation-retries 5
check "session-creation-retries changes under fifo" rc_is 0
run "$AC" --data "$D2" settings set retries-to-skip 0
run "$AC" --data "$D2" settings set scheduler lifo
check "lifo once retries-to-skip is 0" rc_is 0
run "$AC" --data "$D2" settings set session-creation-retries 6
check "session-creation-retries under lifo is refused" eval 'refused invalid_argument && err_has "session-creation-retries: can be changed only while the scheduler is fifo"'
run "$AL" log "$D" --json
check "the settings history is in the log" sh -c "[ \$(grep -c '\"type\":\"setting.changed\"' '$T/out') -eq $changes ] &&
	grep -q '\"entity\":\"setting:overlay-mtu\",\"fields\":{\"key\":\"overlay-mtu\",\"value\":\"9000\",\"old\":\"1500\"}' '$T/out'"

# ---- maintenance and info
ac maintenance recalculate-usage --json
check "maintenance recalculate-usage with nothing to correct" jq_ok '.corrections == 0 and .keypairs_checked == 1'
check "recalculate-usage reports its checks" grep -q '"corrections":0' "$T/out"
ac info
check "info prints the versions" sh -c "[ $rc -eq 0 ] && grep -q '^server_version  *0\.' '$T/out' && grep -q '^protocol_version  *1' '$T/out' &&
	grep -q '^store_format_version  *2' '$T/out' && grep -q '^compatible  *true' '$T/out'"
ac info --json
check "info --json lists the components" jq_ok '.compatible == true and (.components | map(.name) | index("rgroups") != null)
	and (.components | map(.name) | index("server") != null)'
check "info names the store and server components" sh -c "grep -q '\"name\":\"store\"' '$T/out' && grep -q '\"name\":\"server\"' '$T/out'"

# ---- a user's rights
printf '%s\n' 'Passw0rd!' >"$T/pw"
runi "$T/pw" "$AC" --data "$D" user create --email u@example.com --username u --password-stdin
run "$AC" --data "$D" --as u@example.com rgroup create mine
check "a user may not create a resource group" refused permission_denied
run "$AC" --data "$D" --as u@example.com settings set overlay-mtu 1400
check "a user may not change settings" refused permission_denied
run "$AC" --data "$D" --as u@example.com rgroup allowed --user u@example.com --json
check "a user may ask which groups it may use" sh -c "[ $rc -eq 0 ] && grep -q '\"name\":\"gpu\"' '$T/out'"
run "$AC" --data "$D" --as u@example.com rgroup allowed --user admin@example.com
check "but not about another user" refused permission_denied

tap_done
