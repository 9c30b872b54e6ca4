#!/bin/sh
# A short tour of the offline tools on a data directory
# (default var/adminlog). Creates it on first use with a generated admin password.
# Run it while no adminlogd serves the directory: direct-mode writes are refused then.
set -e
DIR=${1:-var/adminlog}
BIN=${BIN:-bin}
if [ ! -f "$DIR/data.mdb" ]; then
	mkdir -p "$(dirname "$DIR")"
	"$BIN/adminlog" init "$DIR"
fi
if ! "$BIN/adminctl" --data "$DIR" user get demo@example.com >/dev/null 2>&1; then
	echo 'Demo!pass1' | "$BIN/adminctl" --data "$DIR" user create --email demo@example.com \
		--username demo --full-name "Demo User" --password-stdin >/dev/null
	"$BIN/adminctl" --data "$DIR" user update demo@example.com --role admin --reason "demo promotion" >/dev/null
fi
echo "== adminctl --data $DIR user list"
"$BIN/adminctl" --data "$DIR" user list
echo
echo "== adminlog log $DIR (the audit listing)"
"$BIN/adminlog" log "$DIR"
echo
echo "== adminlog verify $DIR"
"$BIN/adminlog" verify "$DIR"
echo
echo "== adminlog stats $DIR"
"$BIN/adminlog" stats "$DIR"
echo
echo "The server: $BIN/adminlogd --data $DIR (make run), then $BIN/adminctl --connect 127.0.0.1:7457 login --email ..."
