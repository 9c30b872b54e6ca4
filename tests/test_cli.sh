#!/bin/sh
# test_cli.sh - the acceptance forms of adminlog and adminctl, end to end, as TAP.
# Env: BIN (where adminctl and adminlog are; default bin). Needs only POSIX sh, grep, sed.
. "$(dirname "$0")/tap.sh"

# ---- help, version --------------------------------------------------------------------------------
run "$AL" --help
check "adminlog --help exits 0" eval 'rc_is 0 && out_has "usage: adminlog"'
run "$AC" --help
check "adminctl --help exits 0 and lists commands" eval 'rc_is 0 && out_has "user create" && out_has "domain list"'
run "$AC" user create --help
check "adminctl user create --help exits 0" eval 'rc_is 0 && out_has "--password-stdin" && out_has "--email"'
run "$AL" --version
check "adminlog --version exits 0" eval 'rc_is 0 && out_has "adminlog "'
run "$AC" --version
check "adminctl --version exits 0" eval 'rc_is 0 && out_has "adminctl "'

# ---- init ------------------------------------------------------------------------------------------
pw 'Adm1n!pass'
cp "$T/pw" "$T/adminpw"
run "$AL" init "$D" --admin-password-file "$T/adminpw" --pwhash min
check "init with a password file" eval 'rc_is 0 && out_has "admin: admin@example.com" && ! out_has_f "Adm1n!pass"'
check "init with a password file writes no admin-password" test ! -e "$D/admin-password"
run "$AL" init "$D" --admin-password-file "$T/adminpw" --pwhash min
check "init twice is refused" refused already_exists
run "$AL" init "$T/bad" --admin-password-file "$T/adminpw" --pwhash extreme
check "init with an unknown --pwhash is refused" refused invalid_argument
pw 'short'
cp "$T/pw" "$T/weakpw"
run "$AL" init "$T/weak" --admin-password-file "$T/weakpw" --pwhash min
check "init with a weak admin password is refused" eval 'refused invalid_argument && ! grep -q short "$T/err"'
run "$AL" init "$T/x" --bogus
check "init with an unknown option is a usage error" usage_err

D2="$T/gen"
run "$AL" init "$D2" --pwhash min
genpw=$(sed -n 's/^password: //p' "$T/out")
check "init without a password file prints the password once" \
	eval '[ -n "$genpw" ] && rc_is 0 && [ "$(grep -c -F -e "$genpw" "$T/out")" -eq 1 ]'
check "the generated password is in DIR/admin-password" eval '[ "$(cat "$D2/admin-password")" = "$genpw" ]'
check "DIR/admin-password has mode 0600" eval '[ "$(ls -l "$D2/admin-password" | cut -c1-10)" = "-rw-------" ]'
check "DIR/admin-password is the password and one newline, as README says (clients strip it)" \
	eval '[ "$(wc -c <"$D2/admin-password")" -eq $((${#genpw} + 1)) ] && [ "$(tail -c 1 "$D2/admin-password" | od -An -tx1 | tr -d " ")" = 0a ] &&
	grep -q "followed by one newline" "$(dirname "$0")/../README.md"'
check "the generated password is not in the data file" eval '! grep -q -a -F -e "$genpw" "$D2/data.mdb"'
run "$AL" log "$D2"
check "the generated password is not in the log" eval 'rc_is 0 && ! out_has_f "$genpw" && no_hash'

# ---- user create ----------------------------------------------------------------------------------
pw 'Passw0rd!'
runi "$T/pw" "$AC" --data "$D" user create --email alice@example.com --username alice --password-stdin \
	--full-name "Alice Smith" --role admin
check "user create (table output)" eval 'rc_is 0 && out_has "^email  *alice@example.com" && out_has "^role  *admin" && no_hash'
check "the plaintext password is not in the data file" eval '! grep -q -a -F "Passw0rd!" "$D/data.mdb"'
pw 'B0b-secret'
runi "$T/pw" "$AC" --data "$D" --json user create --email bob@example.com --username bob --password-stdin \
	--domain default --role user --status before-verification --description "the builder"
check "user create --json prints one object" \
	eval 'rc_is 0 && out_lines 1 && out_has "^{" && out_has "\"email\":\"bob@example.com\"" && out_has "\"username\":\"bob\"" && out_has "\"status\":\"before-verification\"" && no_hash'
pw 'Car0l#pass'
runi "$T/pw" "$AC" --data "$D" user create --email carol@example.com --username carol --password-stdin --json
check "user create with --json after the options" eval 'rc_is 0 && out_has "^{\"id\":"'

runi "$T/pw" "$AC" --data "$D" user create --email carol@example.com --username carol2 --password-stdin
check "duplicate email: exit 1, already_exists" refused already_exists
runi "$T/pw" "$AC" --data "$D" user create --email carol2@example.com --username carol --password-stdin
check "duplicate username: exit 1, already_exists" refused already_exists
runi "$T/pw" "$AC" --data "$D" user create --email not-an-email --username x --password-stdin
check "bad email: exit 1, invalid_argument" eval 'refused invalid_argument && err_has email'
runi "$T/pw" "$AC" --data "$D" user create --email x@example.com --username x --password-stdin --role root
check "bad role: exit 1, invalid_argument naming role" eval 'refused invalid_argument && err_has role'
runi "$T/pw" "$AC" --data "$D" user create --email x@example.com --username x --password-stdin --domain nowhere
check "unknown domain: exit 1, invalid_argument naming domain" eval 'refused invalid_argument && err_has domain'
pw 'weakpassword'
runi "$T/pw" "$AC" --data "$D" user create --email x@example.com --username x --password-stdin
check "weak password: exit 1, invalid_argument, not echoed" \
	eval 'refused invalid_argument && err_has password && ! grep -q weakpassword "$T/err"'
run "$AC" --data "$D" user create --email x@example.com --username x --password 'Sekr3t!xx'
check "--password X as an argument: exit 2, not echoed" \
	eval 'usage_err && ! grep -q "Sekr3t" "$T/out" "$T/err"'
run "$AC" --data "$D" user create --email x@example.com --username x --password='Sekr3t!xx'
check "--password=X as an argument: exit 2, not echoed" \
	eval 'usage_err && ! grep -q "Sekr3t" "$T/out" "$T/err"'
run "$AC" --data "$D" user create --email x@example.com --username x
check "user create without a password on a non-terminal: exit 2" usage_err
run "$AC" --data "$D" user create --email x@example.com --username x --password-stdin
check "--password-stdin with empty stdin: exit 2" usage_err
pw 'Passw0rd!'
runi "$T/pw" "$AC" --data "$D" user create --email x@example.com --username x --password-stdin --need-password-change maybe
check "bad boolean value: exit 2" usage_err
run "$AC" --data "$D" user frobnicate
check "unknown command: exit 2" usage_err
run "$AC" --data "$D" user
check "noun without a verb: exit 2" usage_err
run "$AC" --data "$D" --bogus user list
check "unknown global option: exit 2" usage_err
run "$AC" --data "$D" user list --bogus 1
check "unknown command option: exit 2" usage_err
run "$AC" --data "$D" user list --limit
check "option without a value: exit 2" usage_err
run "$AC" --data "$T/missing" user list
check "missing data directory: exit 1, not_found, not created" eval 'refused not_found && [ ! -e "$T/missing" ]'

# ---- user get, list --------------------------------------------------------------------------------
run "$AC" --data "$D" user get alice@example.com
check "user get (table)" eval 'rc_is 0 && out_has "^username  *alice" && out_has "^full_name  *Alice Smith" && ! out_has password_hash && no_hash'
run "$AC" --data "$D" user get alice@example.com --json
check "user get --json: one object" \
	eval 'rc_is 0 && out_lines 1 && out_has "^{.*}$" && out_has "\"email\":\"alice@example.com\"" && out_has "\"username\":\"alice\"" && out_has "\"status\":\"active\"" && ! out_has password_hash'
if command -v jq >/dev/null 2>&1; then
	check "user get --json parses (jq)" jq_ok '.email == "alice@example.com"'
fi
run "$AC" --data "$D" user get nobody@example.com
check "user get of a missing user: exit 1, not_found" refused not_found

run "$AC" --data "$D" user list --json
check "user list --json: an array, sorted by email, no hashes" \
	eval 'rc_is 0 && out_lines 1 && out_has "^\[{.*}\]$" && no_hash && ! out_has password_hash'
emails=$(grep -o '"email":"[^"]*"' "$T/out" | sed 's/"email":"//; s/"$//' | tr '\n' ' ')
check "user list --json order" \
	eval '[ "$emails" = "admin@example.com alice@example.com bob@example.com carol@example.com " ]'
if command -v jq >/dev/null 2>&1; then
	check "user list --json parses (jq)" jq_ok 'length == 4 and (map(has("password_hash")) | any | not)'
fi
run "$AC" --data "$D" user list
check "user list (table) has a header of the default columns and a row per user" \
	eval 'rc_is 0 && out_has "^EMAIL  *USERNAME  *FULL_NAME  *ROLE  *STATUS" && out_lines 5 && no_hash'
run "$AC" --data "$D" user list --columns all
check "user list --columns all has every column" \
	eval 'rc_is 0 && out_has "^ID  *EMAIL  *USERNAME" && out_has "  VERSION$" && out_lines 5 && no_hash'
run "$AC" --data "$D" user list --status before-verification --json
check "user list --status" eval 'rc_is 0 && out_has "\"email\":\"bob@example.com\"" && [ "$(grep -o "\"email\"" "$T/out" | wc -l)" -eq 1 ]'
run "$AC" --data "$D" user list --email-contains ali --json
check "user list --email-contains" eval 'rc_is 0 && out_has "alice@example.com" && [ "$(grep -o "\"email\"" "$T/out" | wc -l)" -eq 1 ]'
run "$AC" --data "$D" user list --username-contains car --json
check "user list --username-contains" eval 'rc_is 0 && out_has "carol@example.com" && [ "$(grep -o "\"email\"" "$T/out" | wc -l)" -eq 1 ]'
run "$AC" --data "$D" user list --limit 2 --offset 1 --json
emails=$(grep -o '"email":"[^"]*"' "$T/out" | sed 's/"email":"//; s/"$//' | tr '\n' ' ')
check "user list --limit --offset" eval 'rc_is 0 && [ "$emails" = "alice@example.com bob@example.com " ]'
run "$AC" --data "$D" user list --email-contains nobody
check "an empty list prints (none)" eval 'rc_is 0 && out_has "(none)"'
run "$AC" --data "$D" user list --email-contains nobody --json
check "an empty list --json prints []" eval 'rc_is 0 && out_has "^\[\]$"'
run "$AC" --data "$D" user list --limit 0
check "user list --limit 0: exit 1, invalid_argument" refused invalid_argument
run "$AC" --data "$D" user list --limit 10001
check "user list --limit 10001: exit 1, invalid_argument" refused invalid_argument
run "$AC" --data "$D" user list --offset -1
check "user list --offset -1: exit 1, invalid_argument" refused invalid_argument
run "$AC" --data "$D" user list --limit ten
check "user list --limit ten: exit 2" usage_err
run "$AC" --data "$D" user list --status gone
check "user list --status gone: exit 1, invalid_argument" refused invalid_argument

# ---- update, deactivate, activate ------------------------------------------------------------------
run "$AC" --data "$D" user update alice@example.com --full-name "Alice Jones" --description "renamed"
check "user update --full-name" eval 'rc_is 0 && out_has "^full_name  *Alice Jones" && out_has "^description  *renamed"'
run "$AC" --data "$D" user update alice@example.com --username alicej --role monitor --need-password-change true --json
check "user update --username --role --need-password-change" \
	eval 'rc_is 0 && out_has "\"username\":\"alicej\"" && out_has "\"role\":\"monitor\"" && out_has "\"need_password_change\":true"'
run "$AC" --data "$D" user update alice@example.com --username bob
check "user update to a taken username: exit 1, already_exists" refused already_exists
run "$AC" --data "$D" user update alice@example.com
check "user update with nothing: exit 1, invalid_argument" eval 'refused invalid_argument && err_has "nothing to update"'
run "$AC" --data "$D" user update alice@example.com --email new@example.com
check "user update --email is not an option (the email is the target)" eval '[ "$rc" -ne 0 ] && [ ! -s "$T/out" ]'
run "$AC" --data "$D" user update nobody@example.com --full-name X
check "user update of a missing user: exit 1, not_found" refused not_found
run "$AC" --data "$D" user update alice@example.com --full-name "Again" --expected-version 1
check "user update with a stale --expected-version: exit 1, conflict" refused conflict
run "$AC" --data "$D" user get alice@example.com --json
before=$(sed -n 's/.*"password_changed_at":"\([^"]*\)".*/\1/p' "$T/out")
pw 'N3w-passw0rd'
runi "$T/pw" "$AC" --data "$D" user update alice@example.com --password-stdin --json
after=$(sed -n 's/.*"password_changed_at":"\([^"]*\)".*/\1/p' "$T/out")
check "user update --password-stdin changes password_changed_at" \
	eval 'rc_is 0 && [ -n "$before" ] && [ -n "$after" ] && [ "$before" != "$after" ] && no_hash'
check "the new plaintext password is not in the data file" eval '! grep -q -a -F "N3w-passw0rd" "$D/data.mdb"'
run "$AC" --data "$D" user update alice@example.com --password 'N3w-passw0rd'
check "user update --password X: exit 2, not echoed" eval 'usage_err && ! grep -q "N3w" "$T/err"'

run "$AC" --data "$D" user deactivate carol@example.com
check "user deactivate" eval 'rc_is 0 && out_has "^status  *inactive"'
run "$AL" stats "$D" --json
head1=$(sed -n 's/.*"head_seq":\([0-9]*\).*/\1/p' "$T/out")
run "$AC" --data "$D" user deactivate carol@example.com --json
check "user deactivate again: ok, still inactive" eval 'rc_is 0 && out_has "\"status\":\"inactive\""'
run "$AL" stats "$D" --json
head2=$(sed -n 's/.*"head_seq":\([0-9]*\).*/\1/p' "$T/out")
check "a repeated deactivate appends nothing" eval '[ -n "$head1" ] && [ "$head1" = "$head2" ]'
run "$AC" --data "$D" user list --status inactive --json
check "user list --status inactive: the inactive tab, inactive and before-verification users" \
	eval 'rc_is 0 && out_has "carol@example.com" && out_has "bob@example.com" && [ "$(grep -o "\"email\"" "$T/out" | wc -l)" -eq 2 ]'
run "$AC" --data "$D" user activate carol@example.com --json
check "user activate" eval 'rc_is 0 && out_has "\"status\":\"active\""'
run "$AC" --data "$D" user delete carol@example.com
check "there is no user delete: exit 2" usage_err

# ---- domains -------------------------------------------------------------------------------------------
run "$AC" --data "$D" domain create sales
check "domain create" eval 'rc_is 0 && out_has "^name  *sales"'
run "$AC" --data "$D" domain create eu-west.1 --description "Europe" --json
check "domain create --json" eval 'rc_is 0 && out_has "^{.*\"name\":\"eu-west.1\""'
run "$AC" --data "$D" domain create sales
check "domain create twice: exit 1, already_exists" refused already_exists
run "$AC" --data "$D" domain create "bad name"
check "domain create with a bad slug: exit 1, invalid_argument" refused invalid_argument
run "$AC" --data "$D" domain create "sales-"
check "domain create ending in '-': exit 1, invalid_argument" refused invalid_argument
run "$AC" --data "$D" domain list
check "domain list (table)" eval 'rc_is 0 && out_has "^NAME" && out_has "^default " && out_has "^sales " && out_lines 4'
run "$AC" --data "$D" domain list --json
names=$(grep -o '"name":"[^"]*"' "$T/out" | sed 's/"name":"//; s/"$//' | tr '\n' ' ')
check "domain list --json: an array by name" eval 'rc_is 0 && out_has "^\[{" && [ "$names" = "default eu-west.1 sales " ]'
pw 'Passw0rd!'
runi "$T/pw" "$AC" --data "$D" user create --email dan@example.com --username dan --password-stdin --domain sales
check "user create in a new domain" eval 'rc_is 0 && out_has "^domain  *sales"'

# ---- adminlog log -------------------------------------------------------------------------------------
run "$AL" log "$D" --json
check "adminlog log --json: one JSON object per line, no hashes" \
	eval 'rc_is 0 && ! grep -v "^{.*}$" "$T/out" | grep -q . && no_hash && ! out_has password_hash'
check "adminlog log --json lines have seq, time, actor, type, entity, fields" \
	eval '[ "$(grep -c "\"seq\":[0-9]*,\"time\":\"[0-9T:.Z-]*\".*\"type\":.*\"actor\":.*\"entity\":.*\"fields\":{" "$T/out")" -eq "$(grep -c "" "$T/out")" ]'
if command -v jq >/dev/null 2>&1; then
	check "adminlog log --json parses (jq)" jq_ok -s 'all(has("seq") and has("time") and has("actor") and has("type") and has("entity") and has("fields"))'
fi
total=$(grep -c '' "$T/out")
actor=$(sed -n '1s/.*"actor":"\([^"]*\)".*/\1/p' "$T/out")
# The event that created alice, the last of her command (her first keypair, at the same time),
# and the one after it (bob's creation).
seq_alice=$(grep '"type":"user.created"' "$T/out" | grep '"entity":"user:alice@example.com"' | sed 's/^{"seq":\([0-9]*\),.*/\1/')
t_alice=$(grep "^{\"seq\":$seq_alice," "$T/out" | sed 's/.*"time":"\([^"]*\)".*/\1/')
seq_alice_end=$((seq_alice + 1))
seq_next=$((seq_alice_end + 1))
t_next=$(grep "^{\"seq\":$seq_next," "$T/out" | sed 's/.*"time":"\([^"]*\)".*/\1/')
check "the log names the creation of alice" eval '[ -n "$seq_alice" ] && [ -n "$t_alice" ] && [ -n "$t_next" ] && [ -n "$actor" ]'
line_kp=$(grep "^{\"seq\":$seq_alice_end," "$T/out")
check "user create records the user's first keypair in the same command, at the same time" \
	eval 'echo "$line_kp" | grep -q "\"type\":\"keypair.created\"" && echo "$line_kp" | grep -q -F "\"time\":\"$t_alice\""'
run "$AL" log "$D"
check "adminlog log (text): one line per event, no hashes" eval 'rc_is 0 && out_lines "$total" && no_hash && out_has "user.created user:alice@example.com"'
run "$AL" log "$D" --entity user:alice@example.com --json
check "adminlog log --entity user:E" \
	eval 'rc_is 0 && [ "$(grep -c "" "$T/out")" -ge 4 ] && ! grep -v "\"entity\":\"user:alice@example.com\"" "$T/out" | grep -q . && no_hash'
run "$AL" log "$D" --entity user:alice@example.com --type user.updated --json
check "adminlog log --entity --type" \
	eval 'rc_is 0 && [ "$(grep -c "" "$T/out")" -eq 3 ] && ! grep -v "\"type\":\"user.updated\"" "$T/out" | grep -q .'
run "$AL" log "$D" --type domain.created --json
check "adminlog log --type" eval 'rc_is 0 && out_lines 3 && ! grep -v "\"type\":\"domain.created\"" "$T/out" | grep -q .'
run "$AL" log "$D" --type no.such
check "adminlog log --type of an unknown type: exit 1, invalid_argument" refused invalid_argument
run "$AL" log "$D" --actor "$actor" --json
check "adminlog log --actor" eval 'rc_is 0 && out_lines "$total"'
run "$AL" log "$D" --actor nobody --json
check "adminlog log --actor of nobody: nothing" eval 'rc_is 0 && out_lines 0'
run "$AL" log "$D" --limit 2 --json
check "adminlog log --limit" eval 'rc_is 0 && out_lines 2 && out_has "^{\"seq\":1," && out_has "^{\"seq\":2,"'
run "$AL" log "$D" --since "$t_alice" --until "$t_alice" --json
check "adminlog log --since/--until one event time" \
	eval 'rc_is 0 && out_lines 2 && out_has "^{\"seq\":$seq_alice," && out_has "^{\"seq\":$seq_alice_end,"'
run "$AL" log "$D" --since "$t_next" --json
check "adminlog log --since" \
	eval 'rc_is 0 && out_has "^{\"seq\":$seq_next," && ! out_has "^{\"seq\":$seq_alice_end," && out_lines $((total - seq_alice_end))'
run "$AL" log "$D" --until "$t_alice" --json
check "adminlog log --until" eval 'rc_is 0 && out_lines "$seq_alice_end"'
run "$AL" log "$D" --since 2000-01-01T02:00:00+02:00 --json
check "adminlog log --since with an offset" eval 'rc_is 0 && out_lines "$total"'
run "$AL" log "$D" --until 2000-01-01T00:00:00Z --json
check "adminlog log --until before the first event: nothing" eval 'rc_is 0 && out_lines 0'
run "$AL" log "$D" --since yesterday
check "adminlog log --since with a bad time: exit 2" usage_err
run "$AL" log "$D" --entity alice
check "adminlog log --entity without KIND: exit 2" usage_err
run "$AL" log "$D" --limit 0
check "adminlog log --limit 0: exit 2" usage_err
run "$AL" log "$D" --bogus
check "adminlog log --bogus: exit 2" usage_err

# ---- stats, rebuild, verify ---------------------------------------------------------------------------
run "$AL" stats "$D" --json
check "adminlog stats --json has head_seq" eval 'rc_is 0 && out_has "^{.*\"head_seq\":$total[,}]" && no_hash'
run "$AL" stats "$D"
check "adminlog stats (table)" eval 'rc_is 0 && out_has "^head_seq  *$total$" && no_hash'
run "$AL" rebuild "$D"
check "adminlog rebuild prints events/s" eval 'rc_is 0 && out_has "rebuilt $total events" && out_has "events/s"'
run "$AL" verify "$D"
check "adminlog verify exits 0" eval 'rc_is 0 && out_has "^ok: $total events"'
run "$AL" verify "$T/missing"
check "adminlog verify of a missing directory fails" eval '[ "$rc" -ne 0 ]'
run "$AL" frob "$D"
check "adminlog unknown command: exit 2" usage_err
run "$AL" verify
check "adminlog verify without DIR: exit 2" usage_err

# ---- replay -----------------------------------------------------------------------------------------------
run "$AL" replay "$D" --until "$seq_alice" --out "$T/r1"
check "adminlog replay --until SEQ" eval 'rc_is 0 && [ -f "$T/r1/data.mdb" ]'
run "$AC" --data "$T/r1" user get alice@example.com --json
check "the replayed state shows the old user" \
	eval 'rc_is 0 && out_has "\"username\":\"alice\"" && out_has "\"full_name\":\"Alice Smith\"" && out_has "\"role\":\"admin\""'
run "$AC" --data "$T/r1" user get bob@example.com
check "a later user is absent from the replayed state" refused not_found
run "$AL" stats "$T/r1" --json
check "the replayed log ends at SEQ" eval 'rc_is 0 && out_has "\"head_seq\":$seq_alice[,}]"'
run "$AL" verify "$T/r1"
check "the replayed directory verifies" rc_is 0
run "$AL" replay "$D" --until "$t_alice" --out "$T/r2"
check "adminlog replay --until TIME" rc_is 0
run "$AL" stats "$T/r2" --json
check "replay --until TIME stops at the last event of that time" eval 'rc_is 0 && out_has "\"head_seq\":$seq_alice_end[,}]"'
run "$AC" --data "$T/r2" user get alice@example.com --json
check "replay --until TIME shows the old state" eval 'rc_is 0 && out_has "\"full_name\":\"Alice Smith\""'
run "$AC" --data "$D" user get alice@example.com --json
check "the source is unchanged" eval 'rc_is 0 && out_has "\"full_name\":\"Alice Jones\""'
run "$AL" replay "$D" --until 99999 --out "$T/r3"
check "replay past the head: exit 1, invalid_argument" eval 'refused invalid_argument && [ ! -e "$T/r3/data.mdb" ]'
run "$AL" replay "$D" --until "$seq_alice" --out "$T/r1"
check "replay into an existing store is refused" eval 'rc_is 1'
run "$AL" replay "$D" --out "$T/r4"
check "replay without --until: exit 2" usage_err

# ---- nothing secret anywhere ------------------------------------------------------------------------------
run "$AL" log "$D" --json
a=$(grep -c -F '$argon2id' "$T/out")
run "$AL" log "$T/r1"
b=$(grep -c -F '$argon2id' "$T/out")
run "$AC" --data "$D" user list --json
c=$(grep -c -F '$argon2id' "$T/out")
run "$AL" stats "$D" --json
d=$(grep -c -F '$argon2id' "$T/out")
check "no argon2id hash in log, user list --json or stats" eval '[ "$a$b$c$d" = "0000" ]'

tap_done
