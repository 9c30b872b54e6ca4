#!/bin/sh
# test_cli_asof.sh - the past from the command line: adminlog checkpoint (writing, listing),
# adminctl --at SEQ|TIME in direct mode and over the wire (a user's full name before an
# update), writes refused with --at, and adminlogd writing checkpoints on its own thread.
. "$(dirname "$0")/tap.sh"
SRV="$BIN/adminlogd"
S="$T/s.sock"
export ADMINLOG_CREDENTIALS="$T/cfg/credentials"

wait_for() {
	i=0
	while [ $i -lt 600 ]; do
		grep -q -F -e "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}
ckpts() { ls "$D/checkpoints" 2>/dev/null | grep -c '^[0-9]\{20\}$'; }

init_store
pw 'S3cret!pw1'
runi "$T/pw" "$AC" --data "$D" user create --email alice@example.com --username alice --full-name Alice \
	--password-stdin
check "alice created" rc_is 0
run "$AC" --data "$D" settings set checkpoint-interval 5
check "checkpoint-interval 5" rc_is 0
THEN=$(head_seq)
sleep 0.01 # a time strictly between the two events (times are µs)
WHEN=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ | sed 's/\([0-9]\{6\}\)[0-9]*Z$/\1Z/')
sleep 0.01
run "$AC" --data "$D" user update alice@example.com --full-name Bob
check "alice renamed Bob" rc_is 0

# ---- adminlog checkpoint ------------------------------------------------------------------
run "$AL" checkpoint "$D"
check "adminlog checkpoint writes them" eval 'rc_is 0 && out_has "^wrote [1-9][0-9]* checkpoints"'
check "under 20-digit names in DIR/checkpoints" [ "$(ckpts)" -ge 2 ]
run "$AL" checkpoint "$D" --list
check "--list: each one usable" eval 'rc_is 0 && out_has "^5  .* usable$" && ! out_has unusable'

# ---- adminctl --at, direct mode --------------------------------------------------------------
run "$AC" --data "$D" user get alice@example.com --json
check "now: Bob" out_has_f '"full_name":"Bob"'
run "$AC" --data "$D" --at "$THEN" user get alice@example.com --json
check "--at SEQ: Alice" eval 'rc_is 0 && out_has_f "\"full_name\":\"Alice\""'
run "$AC" --data "$D" --at "$WHEN" user get alice@example.com --json
check "--at TIME: Alice" eval 'rc_is 0 && out_has_f "\"full_name\":\"Alice\""'
run "$AC" --data "$D" --at "$THEN" user list
check "--at with a list" eval 'rc_is 0 && out_has Alice && ! out_has Bob'
run "$AC" --data "$D" --at "$THEN" export users --out "$T/then.csv"
check "--at with an export" eval 'rc_is 0 && grep -q Alice "$T/then.csv" && ! grep -q Bob "$T/then.csv"'
run "$AC" --data "$D" --at "$THEN" user update alice@example.com --full-name Carol
check "--at refuses a write" eval 'refused invalid_argument && err_has_f "user.update is a write"'
run "$AC" --data "$D" user get alice@example.com --json
check "and wrote nothing" out_has_f '"full_name":"Bob"'
run "$AC" --data "$D" --at 99999 user get alice@example.com
check "--at past the head" eval 'refused invalid_argument && err_has_f "past the log'"'"'s head"'
run "$AC" --data "$D" --at 2999-01-01T00:00:00Z user get alice@example.com
check "--at in the future" eval 'refused invalid_argument && err_has_f "in the future"'
run "$AC" --data "$D" --at yesterday user get alice@example.com
check "--at neither a seq nor a time" eval 'refused invalid_argument && err_has_f "not an event seq"'

# ---- over the wire, and the server's own checkpoints -------------------------------------------
"$SRV" --data "$D" --socket "$S" --listen none >"$T/so" 2>"$T/se" &
pid=$!
trap 'kill -KILL $pid 2>/dev/null; rm -rf "$T"' EXIT INT TERM
check "adminlogd is up" wait_for "$T/so" "listening on unix"
pw 'Adm1n!pass'
runi "$T/pw" "$AC" --socket "$S" login --email admin@example.com --password-stdin
check "logged in" rc_is 0
run "$AC" --socket "$S" --at "$THEN" user get alice@example.com --json
check "remote --at SEQ: Alice" eval 'rc_is 0 && out_has_f "\"full_name\":\"Alice\""'
run "$AC" --socket "$S" --at "$WHEN" user get alice@example.com --json
check "remote --at TIME: Alice" eval 'rc_is 0 && out_has_f "\"full_name\":\"Alice\""'
run "$AC" --socket "$S" --at "$THEN" export users --out "$T/then2.csv"
check "remote --at with an export" eval 'rc_is 0 && cmp -s "$T/then.csv" "$T/then2.csv"'
run "$AC" --socket "$S" --at "$THEN" user update alice@example.com --full-name Carol
check "remote --at refuses a write" refused invalid_argument
before=$(ckpts)
for i in 1 2 3 4 5 6; do
	"$AC" --socket "$S" user update alice@example.com --full-name "Bob $i" >/dev/null || break
done
check "adminlogd writes a checkpoint on its own thread" wait_for "$T/se" "checkpoint at event"
check "there are more of them" [ "$(ckpts)" -gt "$before" ]
run "$AL" checkpoint "$D" --list
check "adminlog checkpoint --list beside adminlogd" eval 'rc_is 0 && ! out_has unusable'
run "$AL" checkpoint "$D"
check "adminlog checkpoint beside adminlogd (a reader)" rc_is 0
run "$AC" --socket "$S" --at "$THEN" user get alice@example.com --json
check "still Alice then" out_has_f '"full_name":"Alice"'
kill -TERM $pid
wait $pid
check "adminlogd stopped cleanly" [ $? -eq 0 ]
tap_done
