#!/bin/sh
# test_server_adminctl.sh - adminctl over the wire (--socket PATH, --connect HOST:PORT): login
# and the credentials file, the same output and exit status as direct mode (--data DIR),
# export and watch.
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
# wait_count FILE TEXT N: polls until FILE has N lines containing TEXT.
wait_count() {
	i=0
	while [ $i -lt 600 ]; do
		[ "$(grep -c -F -e "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}
# same DESCRIPTION ARGS...: the command gives the same stdout, stderr and status both ways.
same() {
	name=$1
	shift
	"$AC" --data "$D" "$@" >"$T/d.out" 2>"$T/d.err" </dev/null
	drc=$?
	run "$AC" --socket "$S" "$@"
	if [ "$drc" -eq "$rc" ] && cmp -s "$T/d.out" "$T/out" &&
		[ "$(sed 's/^adminctl: //' "$T/d.err")" = "$(sed 's/^adminctl: //' "$T/err")" ]; then
		ok "$name"
	else
		echo "# direct mode: status $drc"
		sed 's/^/#   /' "$T/d.out" "$T/d.err" | head -10
		not_ok "$name"
	fi
}

init_store
"$SRV" --data "$D" --socket "$S" --listen 127.0.0.1:0 >"$T/so" 2>"$T/se" &
pid=$!
trap 'kill -KILL $pid 2>/dev/null; rm -rf "$T"' EXIT INT TERM
check "adminlogd is up" wait_for "$T/so" "listening on unix"
PORT=$(sed -n 's/.*listening on tcp 127.0.0.1:\([0-9]*\).*/\1/p' "$T/so")

# ---- login and credentials ------------------------------------------------------------------------
run "$AC" --socket "$S" user list
check "without credentials: refused, and told to log in" eval 'refused not_found && err_has "adminctl login"'
pw 'Wrong!pass1'
runi "$T/pw" "$AC" --socket "$S" login --email admin@example.com --password-stdin
check "a wrong password exits 1" eval 'refused unauthenticated && [ ! -e "$ADMINLOG_CREDENTIALS" ]'
pw 'Adm1n!pass'
runi "$T/pw" "$AC" --socket "$S" login --email admin@example.com --password-stdin
check "login saves the keypair" eval 'rc_is 0 && out_has "logged in as admin@example.com" && [ -f "$ADMINLOG_CREDENTIALS" ]'
check "the credentials file is 0600 and holds no password" eval '[ "$(stat -c %a "$ADMINLOG_CREDENTIALS")" = 600 ] && ! grep -q "Adm1n" "$ADMINLOG_CREDENTIALS" && grep -q "^secret_key = " "$ADMINLOG_CREDENTIALS"'
check "the password is not printed" eval '! grep -q Adm1n "$T/out" "$T/err"'
run "$AC" login --email admin@example.com
check "login needs a server" usage_err
run "$AC" --socket "$S" --as admin@example.com user list
check "--as is for direct mode" usage_err

# ---- the same output and status as direct mode ------------------------------------------------------
same "user get, table" user get admin@example.com
same "user get, JSON" user get admin@example.com --json
same "user list" user list
same "domain list --json" domain list --json
same "a missing user: not_found, exit 1" user get nobody@example.com
same "a bad argument: invalid_argument, exit 1" user list --limit 0
same "an unknown option: usage error" user get admin@example.com --colour red
same "an unknown command: usage error" user fly
pw 'Us3r!pass'
runi "$T/pw" "$AC" --socket "$S" user create --email remote@example.com --username remote --password-stdin --json
check "user create over the wire" eval 'rc_is 0 && out_has "\"email\":\"remote@example.com\"" && no_hash'
runi "$T/pw" "$AC" --socket "$S" user create --email remote@example.com --username remote2 --password-stdin
check "a duplicate is refused: already_exists, exit 1" refused already_exists
run "$AC" --data "$D" user get remote@example.com --json
check "direct mode sees the remote write" eval 'rc_is 0 && out_has "\"username\":\"remote\""'
run "$AL" log "$D" --json --type user.created
check "the event names the keypair and the client" eval 'out_has "\"actor\":\"admin@example.com\"" && out_has "\"access_key\":\"AKIA" && out_has "\"client\":\"unix\""'
run "$AC" --connect "127.0.0.1:$PORT" user get remote@example.com --json
check "--connect HOST:PORT works the same" eval 'rc_is 0 && out_has "\"username\":\"remote\""'

# ---- export and watch -----------------------------------------------------------------------------------
run "$AC" --data "$D" export users --out "$T/direct.csv"
run "$AC" --socket "$S" export users --out "$T/remote.csv"
check "export users: the same CSV file, and says how many rows" \
	eval 'rc_is 0 && out_has "^users: [0-9]* rows\{0,1\} written to $T/remote.csv" && cmp -s "$T/direct.csv" "$T/remote.csv"'
check "the export file is 0600" eval '[ "$(stat -c %a "$T/remote.csv")" = 600 ]'
run "$AC" --socket "$S" export nothing --out "$T/x.csv"
check "an unknown export is a usage error" usage_err
run "$AC" --socket "$S" watch --from 0 --count 3
check "watch --from 0 --count 3: three lines, in order" eval 'rc_is 0 && out_lines 3 && [ "$(cut -d" " -f1 "$T/out" | tr "\n" " ")" = "1 2 3 " ]'
check "watch lines look like adminlog log" eval 'out_has "^1 [0-9T:.-]*Z .* store.initialized store:store {"'
run "$AC" --socket "$S" watch --from 1 --count 1 --json
check "watch --json: one JSON event" eval 'rc_is 0 && out_lines 1 && out_has "^{\"seq\":2,"'
jq_ok -e '.seq == 2 and .fields != null' && ok "watch --json parses" || not_ok "watch --json parses"
# a live event: the watcher (subscribed, as the server log says) waits for the next write
watches=$(grep -c -F "watches from seq" "$T/se")
"$AC" --socket "$S" watch --count 1 --json >"$T/live" 2>"$T/live.err" &
wpid=$!
check "a watcher without --from subscribes at the head" wait_count "$T/se" "watches from seq" $((watches + 1))
run "$AC" --socket "$S" domain create live-domain
wait $wpid
rc=$?
cp "$T/live" "$T/out"
check "it prints the new event and exits" eval 'rc_is 0 && out_lines 1 && out_has "\"type\":\"domain.created\""'
run "$AC" --socket "$S" watch --count x
check "watch --count needs a number" usage_err

# ---- the server's timer: an agent not heard from within the heartbeat timeout becomes LOST ---------
run "$AC" --socket "$S" settings set agent-heartbeat-timeout 1
check "heartbeat timeout set to 1 s" rc_is 0
run "$AC" --socket "$S" agent heartbeat ag1 --addr 10.0.0.1:6001 --available cpu=1,mem=1g --json
check "an agent reports" eval 'rc_is 0 && out_has "\"status\":\"ALIVE\""'
lost=no
i=0
while [ $i -lt 150 ]; do # the timer runs every 5 s
	"$AC" --socket "$S" agent get ag1 --json 2>/dev/null | grep -q '"status":"LOST"' && { lost=yes; break; }
	sleep 0.1
	i=$((i + 1))
done
check "adminlogd's timer marks it LOST (agent.expire, signed adminlogd)" eval '[ $lost = yes ] && "$AL" log "$D" --type agent.status_changed | grep -q adminlogd'

kill -TERM $pid
wait $pid
rc=$?
check "the server stops cleanly" rc_is 0
run "$AC" --socket "$S" user list
check "no server: io_error, exit 1" refused io_error
# ---- adminlog init --write-credentials: adminctl works at once, no login needed ----------------------
D2="$T/data2"
S2="$T/s2.sock"
export ADMINLOG_CREDENTIALS="$T/cfg2/credentials"
run "$AL" init "$D2" --pwhash min --offline --write-credentials
check "init --write-credentials writes a 0600 credentials file" eval \
	'rc_is 0 && [ "$(stat -c %a "$ADMINLOG_CREDENTIALS")" = 600 ] && grep -q "^access_key" "$ADMINLOG_CREDENTIALS"'
check "init never prints the secret key" sh -c "! grep -q \"\$(sed -n 's/^secret_key *= *//p' '$ADMINLOG_CREDENTIALS')\" '$T/out'"
"$SRV" --data "$D2" --socket "$S2" --listen 127.0.0.1:0 >"$T/so2" 2>"$T/se2" &
pid2=$!
trap 'kill -KILL $pid $pid2 2>/dev/null; rm -rf "$T"' EXIT INT TERM
check "a second adminlogd is up" wait_for "$T/so2" "listening on unix"
run "$AC" --socket "$S2" user get admin@example.com --json
check "adminctl authenticates with the credentials init wrote" eval 'rc_is 0 && out_has "\"role\":\"superadmin\""'
kill -TERM $pid2
wait $pid2 2>/dev/null

tap_done
