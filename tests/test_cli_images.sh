#!/bin/sh
# test_cli_images.sh - the registry and image commands of adminctl in direct mode, in the
# issue's exact forms, as TAP: registry create/update/delete/get/list (the password read with
# --password-stdin and never shown), then image rescan / list / get / set-min / alias against a
# real registry: Debian's docker-registry started here on 127.0.0.1 (a port of the kernel's
# choosing, read back from its log), filled with skopeo from OCI layouts this script writes.
# Needs POSIX sh, grep, sed, sha256sum, /usr/bin/docker-registry and skopeo (tools/deps.sh
# installs both); jq for extra checks when installed.
. "$(dirname "$0")/tap.sh"

init_store

# ---- registries ------------------------------------------------------------------------------------
run "$AC" --data "$D" registry create cr.example.com --url https://cr.example.com --type harbor2 --project stable,community
check "registry create" sh -c "[ $rc -eq 0 ] && grep -q harbor2 '$T/out'"
check "projects sorted" out_has_f '["community","stable"]'
pw 'Reg!pass-7d3f'
runi "$T/pw" "$AC" --data "$D" registry create priv.example.com:5000 --url http://priv.example.com:5000 --username robot --password-stdin --ssl-verify false --json
check "registry create with --password-stdin" rc_is 0
check "the result says password_set, never the password" sh -c "grep -q '\"password_set\":true' '$T/out' && ! grep -q 'Reg!pass' '$T/out' '$T/err' && ! grep -q sealed '$T/out'"
check "ssl_verify false and the username are kept" jq_ok '.ssl_verify == false and .username == "robot"'
run "$AC" --data "$D" registry create reg.example.com --url http://other.example.com
check "a URL whose host is not the hostname is refused" refused "invalid_argument: url: its host 'other.example.com' must equal the hostname 'reg.example.com'"
run "$AC" --data "$D" registry create reg.example.com --url reg.example.com
check "a URL without a scheme is refused" refused "invalid_argument: url: must start with http:// or https://"
run "$AC" --data "$D" registry create reg.example.com --url https://reg.example.com --type github
check "an unknown type is refused" refused "invalid_argument: type:"
run "$AC" --data "$D" registry create reg.example.com --url https://reg.example.com --password hunter2
check "a password is never taken as an argument" usage_err
run "$AC" --data "$D" registry create cr.example.com --url https://cr.example.com
check "a hostname is registered once" refused already_exists
run "$AC" --data "$D" registry list --json
check "registry list" sh -c "[ $rc -eq 0 ] && ! grep -q 'Reg!pass' '$T/out' && ! grep -q sealed '$T/out'"
check "registry list has both" jq_ok 'length == 2 and .[1].password_set == true'
run "$AC" --data "$D" registry update priv.example.com:5000 --type docker --ssl-verify true
check "registry update" rc_is 0
run "$AC" --data "$D" registry update priv.example.com:5000 --url http://elsewhere.example.com:5000
check "the hostname cannot change through the URL" refused "invalid_argument: url:"
run "$AC" --data "$D" registry get priv.example.com:5000 --json
check "registry get" sh -c "[ $rc -eq 0 ] && grep -q '\"type\":\"docker\"' '$T/out' && grep -q '\"password_set\":true' '$T/out'"
run "$AL" log "$D" --json
check "the audit log holds neither the password nor its sealed text" sh -c "[ $rc -eq 0 ] && grep -q registry.created '$T/out' && ! grep -q 'Reg!pass' '$T/out' && ! grep -q 'sealed:' '$T/out'"
run "$AC" --data "$D" export registries --out "$T/registries.csv"
check "export registries" sh -c "[ $rc -eq 0 ] && head -n 1 '$T/registries.csv' | grep -q '^hostname,url,type,project,username,password_set,ssl_verify,created_at' && ! grep -q 'Reg!pass' '$T/registries.csv'"
run "$AC" --data "$D" registry delete cr.example.com
check "registry delete" rc_is 0
run "$AC" --data "$D" registry get cr.example.com
check "a deleted registry is gone" refused not_found
run "$AC" --data "$D" registry delete cr.example.com
check "deleting it twice" refused not_found
run "$AC" --data "$D" image rescan --registry nope.example.com
check "a rescan of an unknown registry" refused "invalid_argument: registry:"

# ---- a real registry ---------------------------------------------------------------------------------
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
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  secret: adminlog-cli-test
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
push() { skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$1:$2" "docker://$HOST/$3" >"$T/skopeo" 2>&1; }

BASE='"ai.backend.kernelspec":"1","ai.backend.features":"batch uid-match","ai.backend.base-distro":"ubuntu22.04","ai.backend.runtime-type":"python","ai.backend.runtime-path":"/usr/bin/python3"'
oci_image "$T/py" 3.9 "{$BASE,\"ai.backend.resource.min.cpu\":\"2\",\"ai.backend.resource.min.mem\":\"2g\"}"
oci_image "$T/broken" 1 '{"ai.backend.kernelspec":"1"}'
check "skopeo pushes a labelled image" push "$T/py" 3.9 stable/python:3.9
check "skopeo pushes an image with invalid labels" push "$T/broken" 1 stable/broken:1

run "$AC" --data "$D" registry create "$HOST" --url "http://$HOST"
check "the real registry registered" rc_is 0
run "$AC" --data "$D" image rescan --registry "$HOST" --json
check "image rescan" sh -c "[ $rc -eq 0 ] && grep -q '\"added\":1' '$T/out'"
check "the invalid image is skipped with its reason" out_has_f '"name":"'"$HOST"'/stable/broken:1","architecture":"x86_64","reason":"label ai.backend.features: missing"'
run script -qec "'$AC' --data '$D' image rescan --registry '$HOST'" /dev/null
check "on a terminal the rescan shows each repository and image" \
	eval 'out_has_f "$HOST: repository 2 of 2: stable/python ..." && out_has_f "$HOST: image 1 of 1: $HOST/stable/python:3.9 ..."'
check "and ends with the registry's outcome and a summary" \
	eval 'out_has_f "$HOST: ok" && out_has_f "rescan: 1 registry read, 0 failed, 0 skipped; 2 images looked at"'
run "$AC" --data "$D" image list
check "image list" sh -c "[ $rc -eq 0 ] && grep -q '$HOST/stable/python:3.9' '$T/out' && ! grep -q broken '$T/out'"
IMG="$HOST/stable/python:3.9"
run "$AC" --data "$D" image get "$IMG" --json
check "image get: labels and minimums" sh -c "[ $rc -eq 0 ] && grep -q '\"ai.backend.base-distro\":\"ubuntu22.04\"' '$T/out' && grep -q '\"cpu\":{\"min\":2,' '$T/out'"
check "image get: the architecture" jq_ok '.architecture == "x86_64" and .resources.mem.min == 2147483648'
run "$AC" --data "$D" image set-min "$IMG" --cpu 1 --mem 2g
check "set-min below the label minimum is refused (the guide's warning)" refused "invalid_argument: cpu: 1 is below the image's minimum 2 (label ai.backend.resource.min.cpu)"
run "$AC" --data "$D" image set-min "$IMG" --cpu 1 --mem 1g --force --json
check "set-min --force" sh -c "[ $rc -eq 0 ] && grep -q '\"cpu\":{\"min\":1,' '$T/out'"
run "$AL" log "$D" --type image.min_set --json
check "--force is recorded in the event" sh -c "grep -q '\"force\":true' '$T/out' && grep -q '\"below_label\":\[\"cpu\",\"mem\"\]' '$T/out'"
run "$AC" --data "$D" image set-min "$IMG" --cpu 4 --mem 4g
check "set-min above it needs no force" rc_is 0
run "$AC" --data "$D" image set-min "$IMG" --cpu x
check "a bad value is refused" refused "invalid_argument: cpu:"
run "$AC" --data "$D" image alias "$IMG" py39 python3
check "image alias" rc_is 0
run "$AC" --data "$D" image get py39 --json
check "image get by alias" sh -c "[ $rc -eq 0 ] && grep -q '\"aliases\":\[\"py39\",\"python3\"\]' '$T/out'"
run "$AC" --data "$D" image unalias py39
check "image unalias" rc_is 0
run "$AC" --data "$D" image get py39
check "the alias is gone" refused not_found
run "$AC" --data "$D" image get "$HOST/stable/nope:1"
check "an unknown image" refused not_found
before=$(head_seq)
run "$AC" --data "$D" image rescan
check "a rescan that finds nothing new appends nothing" sh -c "[ $rc -eq 0 ] && [ '$(head_seq)' = '$before' ]"
run "$AC" --data "$D" export images --out "$T/images.csv"
check "export images" sh -c "[ $rc -eq 0 ] && grep -q '^name,architecture,registry' '$T/images.csv' && grep -q 'stable/python:3.9,x86_64' '$T/images.csv'"
run "$AC" --data "$D" registry delete "$HOST"
run "$AC" --data "$D" image list --json
check "the images of a deleted registry stay listed, marked gone" sh -c "[ $rc -eq 0 ] && grep -q '\"gone\":true' '$T/out'"
kill $RPID 2>/dev/null
wait $RPID 2>/dev/null
run "$AC" --data "$D" registry create "$HOST" --url "http://$HOST"
run "$AC" --data "$D" image rescan
check "a registry that cannot be reached fails the rescan" refused "io_error: registry $HOST:"
run "$AL" verify "$D"
check "verify" rc_is 0

tap_done
