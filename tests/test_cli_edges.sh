#!/bin/sh
# test_cli_edges.sh - adminctl's rough edges met by a new admin (issue 15): paging hints, errors
# that name the right command, export's report and help, limits and numbers as given, help
# layout, table columns. Direct mode, as TAP.
# Env: BIN (where adminctl and adminlog are; default bin). Needs only POSIX sh, grep, sed;
# uses jq for extra checks when it is installed.
. "$(dirname "$0")/tap.sh"

init_store
pw 'Passw0rd!'
for u in ann bob cat dan; do
	runi "$T/pw" "$AC" --data "$D" user create --email "$u@example.com" --username "$u" --password-stdin
done
check "four users created" rc_is 0

# ---- 1. a list's page says what it left out ----------------------------------------------------
run "$AC" --data "$D" user list --limit 3
check "a cut list says how many of how many are shown" eval 'rc_is 0 && out_lines 4 && err_has_f "3 of 5 shown (--limit N, --offset N)"'
run "$AC" --data "$D" user list --limit 3 --json
check "so does a cut JSON list, on stderr; stdout stays the bare array" \
	eval 'rc_is 0 && err_has_f "3 of 5 shown" && out_has "^\[" && jq_ok "length == 3"'
run "$AC" --data "$D" user list --limit 3 --offset 3
check "a later page says which rows it shows" eval 'rc_is 0 && out_lines 3 && err_has_f "rows 4-5 of 5 shown"'
run "$AC" --data "$D" user list --username-contains a
check "the count follows the filters" eval 'rc_is 0 && [ ! -s "$T/err" ]'
run "$AC" --data "$D" user list
check "a whole list says nothing more" eval 'rc_is 0 && out_lines 6 && [ ! -s "$T/err" ]'

# ---- 2. errors that say what to do ---------------------------------------------------------------
run "$AC" --data "$D" user delete ann@example.com
check "user delete says users are deactivated, never deleted" \
	eval 'usage_err && err_has_f "never deleted" && err_has_f "user deactivate" && ! err_has_f "user.delete.ann"'
run "$AC" --data "$D" user frob
check "a wrong verb names the noun's verbs" eval 'usage_err && err_has_f "create, get, list" && err_has_f "2fa enable"'
run "$AC" --data "$D" user --help
check "noun --help lists its verbs" eval 'rc_is 0 && out_has_f "deactivate" && [ ! -s "$T/err" ]'
run "$AC" --data "$D" user update ann@example.com --email anne@example.com
check "changing a user's email says the email is its key and never changes" \
	eval 'usage_err && err_has_f "--email" && err_has_f "never changes" && ! err_has_f "given twice"'
run "$AC" --data "$D" policy create research --cpu 2
run "$AC" --data "$D" policy update research --name other
check "renaming a policy says its name never changes" \
	eval 'usage_err && err_has_f "--name" && err_has_f "never changes" && ! err_has_f "given twice"'
run "$AC" --data "$D" user update --email ann@example.com --username annie
check "the key as an option (no target word) still names the user" eval 'rc_is 0 && out_has "annie"'

# ---- 4. what help advertises is taken; numbers as given ---------------------------------------
run "$AC" --data "$D" preset create --help
check "preset help does not advertise unlimited for amounts" \
	eval 'rc_is 0 && out_has "^  --cpu N " && out_has "^  --fgpu N " && ! out_has_f "N|unlimited"'
run "$AC" --data "$D" policy create --help
check "a policy still takes unlimited" eval 'rc_is 0 && out_has_f "--cpu N|unlimited"'
run "$AC" --data "$D" preset create big --cpu unlimited --mem 1g
check "preset --cpu unlimited is a usage error saying a number is wanted" eval 'usage_err && err_has_f "(a number >= 0)"'
run "$AC" --data "$D" policy create wide --cpu 1 --fgpu 256.1
check "a fractional value in an error reads as given" eval 'refused invalid_argument && err_has_f "got 256.1" && ! err_has_f "256.1000"'
run "$AC" --data "$D" preset create wide --cpu 1 --mem 1g --fgpu 0.123456789
check "...also in a preset's error (not rounded to 6 digits)" eval 'refused invalid_argument && err_has_f "got 0.123456789"'
run "$AC" --data "$D" preset create small --cpu 2 --mem 1g --fgpu 2.3
check "a fractional amount shows as given" eval 'rc_is 0 && out_has_f "\"cuda.shares\":2.3"'

# ---- 5. every per-command help is whole lines: exit 0, a final newline, nothing on stderr ----------
help_ok() { rc_is 0 && [ -s "$T/out" ] && [ "$(tail -c 1 "$T/out" | od -An -c | tr -d ' ')" = '\n' ] && [ ! -s "$T/err" ]; }
bad=""
for op in $(sed -n 's/^AL_CMD([A-Z_0-9]*, "\([a-z0-9.-]*\)".*/\1/p' "$(dirname "$0")"/../schemas/commands/*.def); do
	run "$AC" --data "$D" $(echo "$op" | tr . ' ') --help
	help_ok || bad="$bad $op"
done
check "every table command's --help ends with a newline${bad:+ (not:$bad)}" [ -z "$bad" ]
run "$AC" --data "$D" export users --help
check "export LIST --help likewise" help_ok
for cmd in login watch; do
	run "$AC" $cmd --help
	check "$cmd --help explains it (no server needed)" eval 'help_ok && out_has_f "$cmd: "'
done

# ---- 7. tables: a readable default set of columns, --columns; JSON keeps every field -----------
run "$AC" --data "$D" user list
check "the user table shows a few columns by default" \
	eval 'rc_is 0 && out_has "^EMAIL  *USERNAME  *FULL_NAME  *ROLE  *STATUS  *DOMAIN  *PROJECTS$" && [ "$(head -1 "$T/out" | wc -c)" -lt 120 ]'
run "$AC" --data "$D" user list --columns email,version,id
check "--columns picks and orders the columns" eval 'rc_is 0 && out_has "^EMAIL  *VERSION  *ID$" && out_has "^bob@example.com  *1  "'
run "$AC" --data "$D" --columns email user list
check "--columns also before the noun" eval 'rc_is 0 && out_has "^EMAIL$" && out_lines 6'
run "$AC" --data "$D" user list --columns all
check "--columns all shows every field" eval 'rc_is 0 && out_has "^ID  *EMAIL" && out_has "MAIN_ACCESS_KEY"'
run "$AC" --data "$D" user list --columns email,bogus
check "an unknown column is a usage error" eval 'usage_err && err_has_f "bogus"'
run "$AC" --data "$D" user get ann@example.com --columns email,role
check "--columns narrows a single row too" eval 'rc_is 0 && out_lines 2 && out_has "^role  *user$"'
run "$AC" --data "$D" user list --json
check "the JSON keeps every field" eval 'rc_is 0 && out_has_f "\"main_access_key\"" && out_has_f "\"created_at\""'

# ---- 6. image rescan on a terminal: what it waits for, then a summary ---------------------------
# A registry that accepts connections and never answers (python3's listener; skipped without it).
# script(1) gives adminctl a terminal; progress goes there only.
if command -v python3 >/dev/null 2>&1 && command -v script >/dev/null 2>&1; then
	python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(120)' >"$T/port" &
	PYPID=$!
	i=0
	while [ ! -s "$T/port" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	SILENT="127.0.0.1:$(cat "$T/port")"
	run "$AC" --data "$D" registry create "$SILENT" --url "http://$SILENT"
	check "a registry that will not answer" rc_is 0
	start=$(date +%s)
	run script -qec "'$AC' --data '$D' image rescan --registry '$SILENT' --timeout 2" /dev/null
	took=$(($(date +%s) - start))
	check "on a terminal the rescan says which registry it is waiting for" out_has_f "$SILENT: connecting to http://$SILENT ..."
	check "then that registry's outcome and a summary" eval 'out_has_f "$SILENT: error" && out_has_f "rescan: 0 registries read, 1 failed, 0 skipped"'
	check "it gives up after its timeout (2 s; under 30 s)" [ "$took" -lt 30 ]
	check "the error names the registry" out_has_f "io_error: registry $SILENT"
	run "$AC" --data "$D" image rescan --registry "$SILENT" --timeout 1
	check "not on a terminal: no progress lines" eval 'refused io_error && ! err_has_f "connecting" && ! err_has_f "rescan: "'
	kill $PYPID 2>/dev/null
	wait $PYPID 2>/dev/null
else
	ok "# SKIP python3 or script missing"
fi

tap_done
