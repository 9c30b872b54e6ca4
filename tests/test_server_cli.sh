#!/bin/sh
# test_server_cli.sh - adminlogd as a program: options, bootstrap of an empty data directory,
# socket permissions, one server per socket, SIGTERM. The protocol itself is tested by
# test_server_proto.c and test_server_load.c.
. "$(dirname "$0")/tap.sh"
SRV="$BIN/adminlogd"

# wait_for FILE TEXT: polls (up to 30 s) until FILE contains TEXT; the server's readiness.
wait_for() {
	i=0
	while [ $i -lt 600 ]; do
		grep -q -F -e "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}
mode_of() { stat -c %a "$1"; }

run "$SRV" --help
check "adminlogd --help exits 0 and names the options" eval 'rc_is 0 && out_has -- "--listen" && out_has -- "--socket" && out_has -- "--max-frame"'
check "the shipped adminlogd has no test hook" eval '! out_has test-auth'
run "$SRV" --version
check "adminlogd --version" eval 'rc_is 0 && out_has "adminlogd "'
run "$SRV" --bogus 1
check "an unknown option is a usage error" eval 'usage_err && err_has "unknown"'
run "$SRV" --max-conns 0
check "a bad limit is a usage error" usage_err
run "$SRV" --log-level loud
check "a bad log level is a usage error" eval 'usage_err && err_has "log-level"'
run "$SRV" --data
check "an option without its value is a usage error" usage_err

# ---- bootstrap on an empty directory ------------------------------------------------------------
N="$T/new/data"
"$SRV" --data "$N" --listen 127.0.0.1:0 --socket "$T/s.sock" --pwhash min >"$T/so" 2>"$T/se" &
pid=$!
check "adminlogd starts on an empty data directory" wait_for "$T/so" "listening on unix $T/s.sock"
cp "$T/so" "$T/out"
check "it says where the generated admin password is" eval 'out_has_f "initialised $N" && out_has_f "$N/admin-password (mode 0600)"'
check "the admin password file is 0600" eval '[ "$(mode_of "$N/admin-password")" = 600 ]'
check "the socket is 0600" eval '[ "$(mode_of "$T/s.sock")" = 600 ] && [ -S "$T/s.sock" ]'
check "it listens on an ephemeral TCP port" out_has "listening on tcp 127.0.0.1:[1-9]"
check "the password is not printed" eval '! grep -q -F -f "$N/admin-password" "$T/so" "$T/se"'

run timeout 20 "$SRV" --data "$N" --listen none --socket "$T/s2.sock" # 124: it started
check "a second server on the same data directory is refused, naming the first" \
	eval 'rc_is 1 && err_has_f "in_use: $N is already served by adminlogd (pid $pid)"'
run "$AL" init "$T/other" --pwhash min --offline
run "$SRV" --data "$T/other" --listen none --socket "$T/s.sock"
check "a second server on the same socket is refused" eval 'rc_is 1 && err_has "another server listens"'
check "the first one still has its socket" test -S "$T/s.sock"

kill -TERM $pid
wait $pid
rc=$?
cp "$T/se" "$T/err"
check "SIGTERM stops it with status 0" eval 'rc_is 0 && err_has "stopped: "'
check "the socket file is gone" test ! -e "$T/s.sock"
run "$AL" verify "$N"
check "the bootstrapped log verifies" rc_is 0
run "$AC" --data "$N" user get admin@example.com --json
check "the bootstrap admin exists" eval 'rc_is 0 && out_has superadmin'

# ---- a stale socket left by a killed server is taken over ------------------------------------------
"$SRV" --data "$N" --listen none --socket "$T/s.sock" >"$T/so2" 2>"$T/se2" &
pid=$!
check "it restarts on the initialised directory" wait_for "$T/so2" "listening on unix"
cp "$T/so2" "$T/out"
check "no second bootstrap" eval '! out_has initialised'
kill -KILL $pid
wait $pid 2>/dev/null
"$SRV" --data "$N" --listen none --socket "$T/s.sock" >"$T/so3" 2>"$T/se3" &
pid=$!
check "after kill -9 a new server replaces the stale socket" wait_for "$T/so3" "listening on unix"
kill -INT $pid
wait $pid
rc=$?
check "SIGINT stops it with status 0" rc_is 0

run "$SRV" --data "$N" --listen 300.1.2.3:7 --socket none
check "a bad listen address is refused" eval 'rc_is 1 && err_has "invalid_argument: listen"'
run "$SRV" --data "$N" --listen none --socket none
check "nothing to listen on is refused" eval 'rc_is 1 && err_has "nothing to listen on"'

tap_done
