#!/bin/sh
# test_simulate.sh - adminlog simulate: a simulated history written through the commands with a
# simulated clock; the same options give the same digest, another seed another; the store
# verifies and rebuilds to the same views; the bad options are usage errors.
. "$(dirname "$0")/tap.sh"

end=2026-11-30T00:00:00Z
sim() { run "$AL" simulate "$@" --end "$end"; }

sim "$T/a" --days 40 --users 130 --agents 24 --sessions-per-day 60 --seed 7 --verbose
check "simulate exits 0 and reports what it wrote" eval 'rc_is 0 && out_has "^wrote .*: 40 days, [0-9]* commands ([0-9]* refused), [0-9]* events"'
check "--verbose says why each refused command was (only sessions of inactive users here)" \
	eval '! grep -v -q "^refused session.create: invalid_argument: user: .* is inactive" "$T/err"'
sim "$T/b" --days 40 --users 130 --agents 24 --sessions-per-day 60 --seed 7
da=$("$AL" digest "$T/a"); db=$("$AL" digest "$T/b")
check "the same options give the same digest" [ -n "$da" -a "$da" = "$db" ]
check "and the same log, head hash included" sh -c "[ \"\$('$AL' stats '$T/a' | grep head_hash)\" = \"\$('$AL' stats '$T/b' | grep head_hash)\" ]"
sim "$T/c" --days 40 --users 130 --agents 24 --sessions-per-day 60 --seed 8
check "another seed gives another history" [ "$("$AL" digest "$T/c")" != "$da" ]

run "$AL" verify "$T/a"
check "the history verifies (checksums, chain, indexes, views)" rc_is 0
run "$AL" rebuild "$T/a"
check "and rebuilds to the same views" eval 'rc_is 0 && [ "$("$AL" digest "$T/a")" = "$da" ]'

run "$AL" log "$T/a" --limit 1
check "it starts 40 days before --end" out_has_f "2026-10-21T00:00:00"
run "$AL" log "$T/a" --since 2026-11-30T00:00:00Z
check "and nothing happens at or after --end" eval 'rc_is 0 && [ ! -s "$T/out" ]'
run "$AL" stats "$T/a" --json
check "the events of the set-up: users (and the admin), domains, groups, images" \
	eval 'out_has_f "\"user.created\":131" && out_has_f "\"domain.created\":2" && out_has_f "\"image.scanned\":3" && out_has_f "\"rgroup.created\":4"'
check "and of the days: agents lost and back, made unschedulable, users deactivated" \
	eval 'out_has_f "\"agent.status_changed\"" && out_has_f "\"agent.schedulable_changed\"" && out_has_f "\"user.deactivated\""'
check "sessions created, moved through their statuses and ended" \
	eval 'out_has_f "\"session.created\"" && out_has_f "\"session.status_changed\"" && out_has_f "\"session.terminate_requested\""'
run "$BIN/adminctl" --data "$T/a" session list --status CANCELLED,ERROR,TERMINATED,RUNNING --limit 10000 --json
check "sessions end in every way: cancelled, failed, terminated, and some still run" \
	eval 'out_has_f "\"CANCELLED\"" && out_has_f "\"ERROR\"" && out_has_f "\"TERMINATED\"" && out_has_f "\"RUNNING\""'
run "$AL" stats "$T/a" --json
check "sessions are placed by scheduling passes, some wait and are tried again, agents touch some" \
	eval 'out_has_f "\"session.scheduled\"" && out_has_f "\"session.scheduling_failed\"" && out_has_f "\"session.touched\""'
"$AL" log "$T/a" --type session.terminate_requested --limit 100000 >"$T/out" 2>"$T/err"
"$AL" log "$T/a" --type session.cancelled --limit 100000 >>"$T/out" 2>>"$T/err"
check "sessions end by every timeout: idle, lifetime, batch, pending" \
	eval 'out_has_f "\"idle-timeout\"" && out_has_f "\"idle-session-lifetime\"" && out_has_f "\"task-timeout\"" && out_has_f "\"pending-timeout\""'
run "$AL" log "$T/a" --type agent.status_changed
check "agents are found LOST by the expiry check and come back ALIVE" eval 'out_has_f "\"status\":\"LOST\"" && out_has_f "\"status\":\"ALIVE\",\"previous\":\"LOST\""'
run "$BIN/adminctl" --data "$T/a" agent list --columns id,status,scaling_group
check "the agents are in the three groups" eval 'out_has "sim-fifo" && out_has "sim-lifo" && out_has "sim-drf"'
run "$BIN/adminctl" --data "$T/a" image list
check "the registry's images are listed" eval 'out_has_f "sim.registry.local/stable/pytorch:2.1-cuda12" && out_has_f "aarch64"'

# The sessions export (the platform's columns, one per accelerator slot the agents have) of a
# small simulation against tests/golden/export_sessions.csv; ADMINLOG_GOLDEN_WRITE=1 rewrites it
# after a deliberate change (then review the diff).
golden="$(dirname "$0")/golden/export_sessions.csv"
sim "$T/g" --days 2 --users 12 --agents 3 --sessions-per-day 10 --seed 3
run "$BIN/adminctl" --data "$T/g" export sessions --out "$T/sessions.csv"
check "export sessions writes every session" eval 'rc_is 0 && out_has "^sessions: [0-9]* rows written"'
[ -n "$ADMINLOG_GOLDEN_WRITE" ] && cp "$T/sessions.csv" "$golden"
check "the sessions export matches the golden file" cmp "$T/sessions.csv" "$golden"
check "its header: the platform's columns, cuda.device as cuda_device" \
	sh -c "head -n 1 '$T/sessions.csv' | grep -q '^id,name,image,cluster_mode,user_email,status,status_info,access_key,cpu_slot,mem_slot,cuda_device,created_at,terminated_at,agents'"
check "images are named without their registry" sh -c "grep -q ',stable/python:3.11,' '$T/sessions.csv' && ! grep -q 'sim.registry.local' '$T/sessions.csv'"
run "$BIN/adminctl" --data "$T/g" export sessions --status CANCELLED --out "$T/cancelled.csv"
check "a session cancelled while pending occupied nothing" \
	sh -c "[ \$(grep -c CANCELLED '$T/cancelled.csv') -ge 1 ] && ! grep CANCELLED '$T/cancelled.csv' | grep -v -q ',0,0.00,0,'"

run "$AL" simulate "$T/a" --days 1
check "an existing directory is refused" refused already_exists
run "$AL" simulate "$T/d" --days 0
check "days 0 is a usage error" usage_err
run "$AL" simulate "$T/d" --users x
check "a non-number is a usage error" eval 'usage_err && err_has_f "--users: a whole number"'
run "$AL" simulate "$T/d" --seed
check "an option without its value is a usage error" usage_err
run "$AL" simulate "$T/d" --speed 3
check "an unknown option is a usage error" usage_err
check "nothing was created by the refused runs" [ ! -e "$T/d" ]
tap_done
