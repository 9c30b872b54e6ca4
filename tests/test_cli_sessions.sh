#!/bin/sh
# test_cli_sessions.sh - compute sessions through adminctl in direct mode (issue 12, first
# slice), as TAP: session create (by --as EMAIL, by --access-key, the image minimum raised and
# the request kept in the event), get, list (filters, scoping, the default columns), report
# (legal and illegal transitions; SCHEDULED only by scheduler run on an agent with room), touch
# (recorded once a minute, live sessions only), expire,
# terminate (the destroy rules, --reason, --forced), and the
# keypair delete guard. Images come from a real registry: Debian's docker-registry on
# 127.0.0.1, filled with skopeo (as test_cli_images.sh does; tools/deps.sh installs both).
. "$(dirname "$0")/tap.sh"

init_store

REG="$T/registry"
mkdir -p "$REG/store"
cat >"$REG/config.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $REG/store
http:
  addr: 127.0.0.1:0
  secret: adminlog-cli-sessions
EOF
/usr/bin/docker-registry serve "$REG/config.yml" >"$REG/log" 2>&1 &
RPID=$!
trap 'kill $RPID 2>/dev/null; wait $RPID 2>/dev/null; rm -rf "$T"' EXIT INT TERM
PORT=""
i=0
while [ -z "$PORT" ] && [ $i -lt 400 ] && kill -0 $RPID 2>/dev/null; do # until it listens (20 s at most)
	PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$REG/log" | head -n 1)
	[ -n "$PORT" ] || sleep 0.05
	i=$((i + 1))
done
check "docker-registry started (see tools/deps.sh)" test -n "$PORT"
HOST="127.0.0.1:$PORT"

# oci_image DIR TAG LABELS: an OCI layout holding one linux/amd64 image with these labels.
oci_image() {
	dir=$1
	mkdir -p "$dir/blobs/sha256"
	printf '{"imageLayoutVersion":"1.0.0"}' >"$dir/oci-layout"
	cfg=$(printf '{"architecture":"amd64","os":"linux","config":{"Labels":%s},"rootfs":{"type":"layers","diff_ids":[]}}' "$3")
	cfgd=$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)
	printf '%s' "$cfg" >"$dir/blobs/sha256/$cfgd"
	layer="layer of $dir"
	layd=$(printf '%s' "$layer" | sha256sum | cut -d' ' -f1)
	printf '%s' "$layer" >"$dir/blobs/sha256/$layd"
	man=$(printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%d}]}' \
		"$cfgd" "$(printf '%s' "$cfg" | wc -c)" "$layd" "$(printf '%s' "$layer" | wc -c)")
	mand=$(printf '%s' "$man" | sha256sum | cut -d' ' -f1)
	printf '%s' "$man" >"$dir/blobs/sha256/$mand"
	printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
		"$mand" "$(printf '%s' "$man" | wc -c)" "$2" >"$dir/index.json"
}
BASE='"ai.backend.kernelspec":"1","ai.backend.features":"batch uid-match","ai.backend.base-distro":"ubuntu22.04","ai.backend.runtime-type":"python","ai.backend.runtime-path":"/usr/bin/python3"'
oci_image "$T/py" 3.9 "{$BASE,\"ai.backend.resource.min.cpu\":\"2\",\"ai.backend.resource.min.mem\":\"2g\"}"
check "skopeo pushes a labelled image" \
	sh -c "skopeo --insecure-policy copy -q --dest-tls-verify=false 'oci:$T/py:3.9' 'docker://$HOST/stable/python:3.9' >'$T/skopeo' 2>&1"
IMG="$HOST/stable/python:3.9"
run "$AC" --data "$D" registry create "$HOST" --url "http://$HOST"
run "$AC" --data "$D" image rescan --registry "$HOST"
check "the image is scanned" rc_is 0
run "$AC" --data "$D" domain update default --allowed-registries "$HOST"
check "domain default allows the registry" rc_is 0
pw 'Passw0rd!'
runi "$T/pw" "$AC" --data "$D" user create --email alice@example.com --username alice --password-stdin
run "$AC" --data "$D" project add-member default --domain default alice@example.com
check "alice joins project default" rc_is 0

# ---- create ----------------------------------------------------------------------------------------
run "$AC" --data "$D" --as admin@example.com --json session create --name nb-001 --image "$IMG" --group default \
	--project default --resources cpu=1,mem=1g
check "session create --as: PENDING" eval 'rc_is 0 && out_has_f "\"status\":\"PENDING\"" && out_has_f "\"user\":\"admin@example.com\""'
check "the request below the image's minimum is raised to it" \
	eval 'out_has_f "\"requested\":{\"cpu\":1,\"mem\":1073741824}" && out_has_f "\"resources\":{\"cpu\":2,\"mem\":2147483648}"'
ID=$(sed -n 's/.*"id":"\([0-9a-f-]\{36\}\)".*/\1/p' "$T/out")
check "the session has an id" test -n "$ID"
run "$AL" log "$D" --type session.created --json
check "the event keeps the request and the adjusted resources" \
	eval 'rc_is 0 && out_has_f "\"requested\":{\"cpu\":1,\"mem\":1073741824}" && out_has_f "\"resources\":{\"cpu\":2,\"mem\":2147483648}"'
run "$AC" --data "$D" session create --name nb-002 --image "$IMG" --group default --project default
check "a local operator names the owner" refused "invalid_argument: access_key: a local operator names the owner"
run "$AC" --data "$D" --as admin@example.com session create --name ab --image "$IMG" --group default --project default
check "the name rule" refused "invalid_argument: name: 4 to 64"
run "$AC" --data "$D" --as admin@example.com session create --name nb-001 --image "$IMG" --group default --project default
check "a name is unique among the keypair's live sessions" refused "already_exists: name:"
run "$AC" --data "$D" --as admin@example.com session create --name nb-003 --image "$IMG" --group nope --project default
check "an unknown resource group" refused "invalid_argument: group: no resource group named nope"
# more than the agent below has: a scheduling pass leaves it PENDING
run "$AC" --data "$D" --as alice@example.com --json session create --name alice-1 --image "$IMG" --group default --project default \
	--resources cpu=5000
check "alice creates her own" eval 'rc_is 0 && out_has_f "\"user\":\"alice@example.com\""'
AID=$(sed -n 's/.*"id":"\([0-9a-f-]\{36\}\)".*/\1/p' "$T/out")

# ---- get and list ----------------------------------------------------------------------------------
run "$AC" --data "$D" session get "$ID" --json
check "session get: the status history" eval 'rc_is 0 && out_has "\"status_history\":{\"PENDING\":\"20[0-9-]*T"'
run "$AC" --data "$D" session list
check "session list: a table of the default columns" \
	eval 'rc_is 0 && out_has "^ID  *NAME  *USER  *STATUS  *TYPE  *GROUP  *IMAGE  *CREATED_AT *$" && out_has_f nb-001 && out_has_f alice-1'
run "$AC" --data "$D" --as alice@example.com --json session list
check "a user lists its own sessions" eval 'rc_is 0 && out_has_f alice-1 && ! out_has_f nb-001'
run "$AC" --data "$D" --as alice@example.com session get "$ID"
check "a user cannot read another's session" refused permission_denied
run "$AC" --data "$D" --json session list --user alice@example.com
check "session list --user" eval 'rc_is 0 && out_has_f alice-1 && ! out_has_f nb-001'
run "$AC" --data "$D" --json session list --status RUNNING
check "session list --status" eval 'rc_is 0 && [ "$(cat "$T/out")" = "[]" ]'
run "$AC" --data "$D" --json session list --limit 1 --offset 1
check "session list --limit --offset" eval 'rc_is 0 && out_has_f alice-1 && ! out_has_f nb-001'

# ---- report ----------------------------------------------------------------------------------------
run "$AC" --data "$D" session report "$ID" --status RUNNING
check "an illegal transition: invalid_state naming both statuses" refused "invalid_state: status: session $ID cannot go from PENDING to RUNNING"
run "$AC" --data "$D" session report "$ID" --status SCHEDULED
check "SCHEDULED is not reported: only a scheduling pass places a session" \
	refused "invalid_state: status: session $ID: a session is scheduled only by a scheduling pass (scheduler run)"
run "$AC" --data "$D" agent heartbeat ag1 --addr 10.0.0.1:6001 --available cpu=8,mem=32g
check "an agent with room" rc_is 0
run "$AC" --data "$D" --json scheduler run --group default
check "scheduler run places the one that fits" eval 'rc_is 0 && out_has_f "\"scheduled\":1" && out_has_f "\"failed\":1"'
run "$AC" --data "$D" --json session get "$ID"
check "the session is SCHEDULED on the agent, holding its slots" \
	eval 'rc_is 0 && out_has_f "\"status\":\"SCHEDULED\"" && out_has_f "\"agents\":[\"ag1\"]" && out_has_f "\"occupied\":{\"cpu\":2,\"mem\":2147483648}"'
for st in PREPARING RUNNING; do
	run "$AC" --data "$D" --json session report "$ID" --status $st
	check "report $st" eval "rc_is 0 && out_has_f '\"status\":\"$st\"'"
done
run "$AC" --data "$D" --as alice@example.com session report "$AID" --status SCHEDULED
check "only a superadmin (an agent's service account) reports" refused permission_denied

# ---- touch and expire ------------------------------------------------------------------------------
run "$AC" --data "$D" --json session touch "$ID"
check "session touch on a RUNNING session: recorded" eval 'rc_is 0 && out_has_f "\"recorded\":true"'
run "$AC" --data "$D" --json session touch "$ID"
check "a touch within the minute records nothing" eval 'rc_is 0 && out_has_f "\"recorded\":false"'
run "$AC" --data "$D" session touch "$AID"
check "a PENDING session is not touched" refused "invalid_state: session $AID is PENDING"
run "$AC" --data "$D" --json session expire
check "session expire: nothing overdue, nothing ended" eval 'rc_is 0 && out_has_f "\"expired\":[]"'

# ---- terminate -------------------------------------------------------------------------------------
run "$AC" --data "$D" --as alice@example.com session terminate "$ID"
check "a user cannot terminate another's session" refused permission_denied
run "$AC" --data "$D" --json session terminate "$ID" --reason "maintenance window"
check "terminate a RUNNING session: TERMINATING, the reason is its status_info" \
	eval 'rc_is 0 && out_has_f "\"status\":\"TERMINATING\"" && out_has_f "\"status_info\":\"maintenance window\""'
run "$AC" --data "$D" session terminate "$ID"
check "TERMINATING needs --forced" refused "invalid_state: session $ID is TERMINATING: destroy it with forced"
run "$AC" --data "$D" --json session terminate "$ID" --forced
check "forced by a superadmin: TERMINATED" eval 'rc_is 0 && out_has_f "\"status\":\"TERMINATED\"" && out_has_f "\"terminated_at\":\"20"'
run "$AC" --data "$D" session terminate "$ID" --forced
check "TERMINATED is final" refused "invalid_state: session $ID is TERMINATED already"
run "$AC" --data "$D" --as alice@example.com --json session terminate "$AID"
check "a PENDING session of one's own: CANCELLED" eval 'rc_is 0 && out_has_f "\"status\":\"CANCELLED\"" && out_has_f "\"status_info\":\"user-requested\""'
run "$AC" --data "$D" --as admin@example.com --json session create --name nb-001 --image "$IMG" --group default --project default
check "a dead session's name is free again" rc_is 0

# ---- the keypair delete guard ------------------------------------------------------------------------
run "$AC" --data "$D" --json keypair create --user alice@example.com
AK=$(sed -n 's/.*"access_key":"\(AKIA[A-Z2-7]*\)".*/\1/p' "$T/out")
run "$AC" --data "$D" --json session create --name by-key --image "$IMG" --group default --project default --access-key "$AK"
check "session create --access-key: the key's user owns it" eval 'rc_is 0 && out_has_f "\"user\":\"alice@example.com\"" && out_has_f "\"access_key\":\"$AK\""'
KID=$(sed -n 's/.*"id":"\([0-9a-f-]\{36\}\)".*/\1/p' "$T/out")
run "$AC" --data "$D" session terminate "$KID"
run "$AC" --data "$D" keypair delete "$AK"
check "a keypair a session used (even a cancelled one) is not deletable" refused "in_use: access_key: $AK was used by 1 compute session"

run "$AL" verify "$D"
check "verify" rc_is 0
kill $RPID 2>/dev/null
wait $RPID 2>/dev/null

tap_done
