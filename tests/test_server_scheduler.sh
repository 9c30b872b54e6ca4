#!/bin/sh
# test_server_scheduler.sh - adminlogd schedules on its own (issue 12): a session enqueued over
# the wire is placed by a pass the server runs as its own write (actor adminlogd), with no
# `scheduler run` from anyone; a session that cannot be placed stays PENDING with the reason.
. "$(dirname "$0")/tap.sh"
SRV="$BIN/adminlogd"
S="$T/s.sock"
export ADMINLOG_CREDENTIALS="$T/cfg/credentials"

# A small simulated cluster with no sessions: images, users, three agents (one per group).
run "$AL" simulate "$T/d" --days 1 --users 3 --agents 3 --sessions-per-day 0 --seed 5
check "a cluster to schedule on" rc_is 0
"$SRV" --data "$T/d" --socket "$S" >"$T/so" 2>"$T/se" &
pid=$!
trap 'kill -KILL $pid 2>/dev/null; rm -rf "$T"' EXIT INT TERM
i=0
while [ $i -lt 600 ] && ! grep -q "listening on unix" "$T/so" 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
check "adminlogd is up" grep -q "listening on unix" "$T/so"
pw 'Sim-Adm1n-Passw0rd!'
runi "$T/pw" "$AC" --socket "$S" login --email admin@sim.example.com --password-stdin
check "the superadmin logs in" rc_is 0

# create NAME IMAGE RESOURCES: a session of simuser00000 (by its main keypair) in sim-fifo (its
# project is p1 or p2).
AK=$("$AC" --socket "$S" user get simuser00000@sim.example.com --json | sed -n 's/.*"main_access_key":"\([^"]*\)".*/\1/p')
create() {
	for p in default-p1 default-p2; do
		"$AC" --socket "$S" session create --access-key "$AK" --name "$1" --image "$2" \
			--architecture x86_64 --group sim-fifo --project "$p" --resources "$3" --json >"$T/out" 2>"$T/err" &&
			sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$T/out" && return 0
	done
	return 1
}
# status_becomes ID STATUS: polls session get for 10 s at most.
status_becomes() {
	i=0
	while [ $i -lt 200 ]; do
		"$AC" --socket "$S" session get "$1" --json 2>/dev/null | grep -q "\"status\":\"$2\"" && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

A=$(create small sim.registry.local/stable/python:3.11 cpu=1,mem=1g)
check "a session is enqueued over the wire (PENDING)" eval '[ -n "$A" ] && out_has_f "\"status\":\"PENDING\""'
check "and adminlogd schedules it without being asked" status_becomes "$A" SCHEDULED
run "$AC" --socket "$S" session get "$A" --json
check "on the group's agent, holding what it asked for" \
	eval 'out_has_f "\"agents\":[\"sim-agent-0000\"]" && out_has_f "\"occupied\":{\"cpu\":1,\"mem\":1073741824}"'
run "$AL" log "$T/d" --type session.scheduled
check "the decision is the server's own write, in the log" eval 'out_has_f "adminlogd" && out_has_f "$A"'

B=$(create huge sim.registry.local/stable/python:3.11 cpu=1000,mem=1g)
check "a session no agent has room for is enqueued" test -n "$B"
i=0
while [ $i -lt 200 ] && ! "$AL" log "$T/d" --type session.scheduling_failed 2>/dev/null | grep -q "$B"; do
	sleep 0.05
	i=$((i + 1))
done
run "$AC" --socket "$S" session get "$B" --json
check "stays PENDING, with why (no-available-instances) and one retry" \
	eval 'out_has_f "\"status\":\"PENDING\"" && out_has_f "\"status_info\":\"no-available-instances\"" && out_has_f "\"retries\":1"'

kill -TERM $pid
wait $pid
check "adminlogd stops cleanly" [ $? -eq 0 ]
tap_done
