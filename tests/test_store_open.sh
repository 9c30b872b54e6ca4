#!/bin/sh
# test_store_open.sh - what every tool (adminlog, adminctl --data, adminlogd) does with a data
# directory that is not as it should be: a missing master.key (refused, never recreated; reads
# go on and say so), modes open to group or others (adminlogd refuses, the tools warn),
# half-made directories from an interrupted bootstrap (refused clearly, or redone by init),
# kill -9 during the first start, and a truncated data.mdb (corrupt, never a signal).
. "$(dirname "$0")/tap.sh"
SRV="$BIN/adminlogd"
export ADMINLOG_CREDENTIALS="$T/credentials"

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
# A server that must refuse to start exits at once; one that starts anyway is stopped by
# timeout (status 124) instead of hanging the test.
srv_once() { run timeout 20 "$SRV" --data "$1" --listen none --socket "$T/once.sock" --pwhash min; }
# serve DIR: starts adminlogd on DIR; ok when it listens; stop_srv stops it (status in rc).
serve() {
	"$SRV" --data "$1" --listen none --socket "$T/s.sock" --pwhash min >"$T/so" 2>"$T/se" &
	spid=$!
	wait_for "$T/so" "listening on unix"
}
stop_srv() {
	kill -TERM $spid
	wait $spid
	rc=$?
}
# refused_all CODE TEXT DIR: adminlog stats/verify/log, adminctl --data (a read and a write)
# and adminlogd all exit 1 with CODE and TEXT on stderr, and none dies of a signal.
refused_all() {
	code=$1
	text=$2
	for c in stats verify log; do
		run "$AL" $c "$3"
		check "adminlog $c: $code, $text" eval 'refused "$code" && err_has_f "$text"'
	done
	run "$AC" --data "$3" user list
	check "adminctl user list: $code, $text" eval 'refused "$code" && err_has_f "$text"'
	runi "$T/pw" "$AC" --data "$3" user create --email z@example.com --username z --password-stdin
	check "adminctl user create: $code, $text" eval 'refused "$code" && err_has_f "$text"'
	srv_once "$3"
	check "adminlogd does not start: $code, $text" eval 'rc_is 1 && err_has "$code" && err_has_f "$text"'
}

init_store
pw 'Passw0rd!'
runi "$T/pw" "$AC" --data "$D" user create --email alice@example.com --username alice --password-stdin
check "a user" rc_is 0
run "$AC" --data "$D" --json keypair create --user alice@example.com --request-id kp-1
secret=$(sed -n 's/.*"secret_key":"\([^"]*\)".*/\1/p' "$T/out")
check "a keypair: its secret key is sealed with master.key" eval 'rc_is 0 && [ -n "$secret" ]'

# ---- 6. master.key is never recreated ---------------------------------------------------------------
cp "$D/master.key" "$T/master.key.bak"
rm "$D/master.key"
runi "$T/pw" "$AC" --data "$D" user create --email bob@example.com --username bob --password-stdin
check "without master.key a direct-mode write is refused, naming the file and the remedy" \
	eval 'refused corrupt && err_has_f "$D/master.key is missing: restore it from a backup"'
check "and no new master.key is made" test ! -e "$D/master.key"
srv_once "$D"
check "adminlogd refuses to start without master.key, and makes none" \
	eval 'rc_is 1 && err_has_f "corrupt: $D/master.key is missing" && [ ! -e "$D/master.key" ]'
run "$AL" rebuild "$D"
check "adminlog rebuild is refused" eval 'refused corrupt && [ ! -e "$D/master.key" ]'
for c in stats verify log; do
	run "$AL" $c "$D"
	check "adminlog $c still works and says secrets were not checked" \
		eval 'rc_is 0 && [ -s "$T/out" ] && err_has_f "$D/master.key is missing: secrets were not checked"'
done
run "$AC" --data "$D" user get alice@example.com
check "an adminctl read still works, with a warning" eval 'rc_is 0 && out_has alice && err_has_f "$D/master.key is missing"'
check "none of them made a master.key" test ! -e "$D/master.key"
cp "$T/master.key.bak" "$D/master.key"
run "$AL" verify "$D"
check "with master.key restored, verify is quiet" eval 'rc_is 0 && [ ! -s "$T/err" ]'
run "$AC" --data "$D" --json keypair create --user alice@example.com --request-id kp-1
check "and the sealed secret opens again (the retried request's secret key)" \
	eval 'rc_is 0 && out_has_f "\"secret_key\":\"$secret\""'

# ---- 7. permissions ---------------------------------------------------------------------------------------
P="$T/perm"
run "$AL" init "$P" --pwhash min --offline
check "init makes DIR 0700 and master.key, admin-password, data.mdb 0600" \
	eval '[ "$(mode_of "$P")" = 700 ] && [ "$(mode_of "$P/master.key")" = 600 ] && [ "$(mode_of "$P/admin-password")" = 600 ] && [ "$(mode_of "$P/data.mdb")" = 600 ]'
run "$AL" stats "$P"
check "a fresh directory draws no warning" eval 'rc_is 0 && [ ! -s "$T/err" ]'
chmod 755 "$P"
chmod 644 "$P/master.key" "$P/admin-password"
run "$AL" stats "$P"
check "adminlog warns about each, with the chmod to run" \
	eval 'rc_is 0 && err_has_f "warning: $P (the data directory) has mode 0755" && err_has_f "run chmod 700 $P" && err_has_f "run chmod 600 $P/master.key" && err_has_f "run chmod 600 $P/admin-password"'
run "$AC" --data "$P" user list
check "adminctl --data warns likewise" eval 'rc_is 0 && err_has_f "run chmod 700 $P" && err_has_f "run chmod 600 $P/master.key"'
srv_once "$P"
check "adminlogd refuses to start, with the chmods" \
	eval 'rc_is 1 && err_has_f "permission_denied: $P/master.key (the master key) has mode 0644" && err_has_f "chmod 600 $P/master.key" && err_has_f "chmod 700 $P" && err_has_f "chmod 600 $P/admin-password"'
chmod 700 "$P"
chmod 600 "$P/admin-password"
srv_once "$P"
check "the master key alone is enough to refuse" eval 'rc_is 1 && err_has_f "chmod 600 $P/master.key" && ! err_has_f "chmod 700"'
chmod 600 "$P/master.key"
check "after the chmods it starts" serve "$P"
stop_srv
check "and stops" rc_is 0

# ---- 10. half-made directories ----------------------------------------------------------------------------
# data.mdb and master.key but no events: what a first start killed between creating the
# environment and committing the bootstrap left behind (a replay to seq 0 makes the same).
H="$T/half"
run "$AL" replay "$P" --until 0 --out "$H"
check "(a directory with data.mdb and master.key but no events)" eval 'rc_is 0 && [ -e "$H/data.mdb" ] && [ -e "$H/master.key" ]'
refused_all corrupt "$H holds no events: its bootstrap never completed" "$H"
run "$AL" init "$H" --pwhash min --offline
check "init refuses it too, saying what to do" eval 'refused corrupt && err_has_f "remove it and run adminlog init"'
rm -rf "$H"
run "$AL" init "$H" --pwhash min --offline
check "removed, it can be made again" rc_is 0

# master.key without data.mdb: not a store, and not to be overwritten.
K="$T/keyonly"
mkdir -m 700 "$K"
cp "$T/master.key.bak" "$K/master.key"
refused_all corrupt "$K has master.key but no data.mdb: restore data.mdb from a backup" "$K"
check "adminlogd made no store there" test ! -e "$K/data.mdb"
run "$AL" init "$K" --pwhash min --offline
check "init refuses to make a store beside a foreign master.key" \
	eval 'refused corrupt && err_has_f "move master.key away" && cmp -s "$K/master.key" "$T/master.key.bak"'

# An init killed half-way through moving the store into place: master.key already in DIR,
# data.mdb (with its bootstrap) still in DIR/.init.
run "$AL" init "$T/src" --pwhash min --offline
L="$T/left"
mkdir -m 700 "$L" "$L/.init"
cp "$T/src/data.mdb" "$L/.init/data.mdb"
cp "$T/src/master.key" "$L/master.key"
run "$AL" stats "$L"
check "an interrupted bootstrap is named, with what to do" \
	eval 'refused not_found && err_has_f "its bootstrap was interrupted ($L/.init is left); run adminlog init"'
run "$AC" --data "$L" user list
check "adminctl says the same" eval 'refused not_found && err_has_f "$L/.init is left"'
printf '%s\n' 'Adm1n!pass' >"$T/adminpw"
run "$AL" init "$L" --admin-password-file "$T/adminpw" --pwhash min --offline --write-credentials
check "init can be retried: it redoes the bootstrap" eval 'rc_is 0 && [ ! -e "$L/.init" ] && [ -e "$L/data.mdb" ]'
check "and its master.key opens the new admin's sealed secret key (the login worked)" \
	eval 'grep -q "^secret_key" "$ADMINLOG_CREDENTIALS"'
run "$AL" verify "$L"
check "the redone store verifies" eval 'rc_is 0 && [ ! -s "$T/err" ]'
L2="$T/left2"
mkdir -m 700 "$L2" "$L2/.init"
cp "$T/src/data.mdb" "$L2/.init/data.mdb"
check "adminlogd redoes an interrupted bootstrap on its first start" serve "$L2"
cp "$T/so" "$T/out"
check "(it says it initialised the directory)" out_has_f "initialised $L2"
stop_srv
check "and stops cleanly" eval 'rc_is 0 && [ ! -e "$L2/.init" ] && [ -s "$L2/admin-password" ]'

# Two inits at once: the second is refused and leaves the first one's stage alone.
if command -v flock >/dev/null 2>&1; then
	C="$T/conc"
	mkdir -m 700 "$C" "$C/.init"
	cp "$T/src/data.mdb" "$C/.init/data.mdb"
	run flock "$C/.init" "$AL" init "$C" --pwhash min --offline
	check "an init while another holds the stage: in_use, and that stage is untouched" \
		eval 'refused in_use && err_has_f "$C is being initialised by another process" && [ -e "$C/.init/data.mdb" ]'
	run "$AL" init "$C" --pwhash min --offline
	check "once it is free, init clears the stage and makes the store" eval 'rc_is 0 && [ ! -e "$C/.init" ]'
fi

# kill -9 at short delays during adminlogd's first start and during adminlog init: the
# directory then holds no store (and the next start or init makes one) or a complete one.
# urandom_ms N: a random number of milliseconds below N.
urandom_ms() { echo $(($(od -An -N2 -tu2 /dev/urandom) % $1)); }
complete() { [ -s "$1/admin-password" ] && [ -e "$1/master.key" ] && "$AL" verify "$1" >/dev/null 2>&1; }
# The delays spread from a few ms to 150 ms, so that some kills land inside the bootstrap in
# the release build and some in the (slower) sanitizer build.
i=0
good=0
for base in 2 8 15 25 40 60 90 130; do
	X="$T/kill$i"
	ms=$((base + $(urandom_ms 10)))
	if [ $((i % 2)) -eq 0 ]; then
		"$SRV" --data "$X" --listen none --socket "$T/k.sock" --pwhash min >/dev/null 2>&1 &
	else
		"$AL" init "$X" --pwhash min --offline >/dev/null 2>&1 &
	fi
	kpid=$!
	sleep "$(printf '0.%03d' $ms)"
	kill -KILL $kpid 2>/dev/null
	wait $kpid 2>/dev/null
	if [ -e "$X/data.mdb" ]; then
		complete "$X" && state=complete || state=broken
	else
		state=absent
		[ -e "$X/.init" ] && state="absent, $X/.init left"
		"$AL" init "$X" --pwhash min --offline >/dev/null 2>&1 && complete "$X" || state=broken
	fi
	echo "# kill after ${ms} ms: $state"
	[ "$state" != broken ] && good=$((good + 1))
	i=$((i + 1))
done
check "after kill -9 the directory is always absent (init then works) or complete" [ $good -eq 8 ]

# ---- 11. a truncated data.mdb ---------------------------------------------------------------------------
X="$T/trunc"
cp -a "$D" "$X"
size=$(stat -c %s "$X/data.mdb")
half=$((size / 2))
truncate -s $half "$X/data.mdb"
refused_all corrupt "$X/data.mdb: $half bytes, but the store's pages need " "$X"
run "$AL" verify "$X"
check "the message says what the pages need and what to do" \
	eval 'err_has "pages need [0-9]* bytes (truncated?); restore it from a backup$"'
truncate -s 100 "$X/data.mdb"
run "$AL" verify "$X"
check "a data.mdb cut inside its first page: corrupt" eval 'refused corrupt && err_has_f "$X/data.mdb is not an LMDB data file"'
run "$AC" --data "$X" user list
check "adminctl too" eval 'refused corrupt && err_has_f "$X/data.mdb is not an LMDB data file"'

tap_done
