#!/usr/bin/env bash
# cdr: call detail records as an administrator reads them. Test calls that
# end in every way a CDR tells (answered, busy, cancelled, failed, no
# answer, a rewritten number) give rows with the right disposition,
# duration, caller, dialled and called number in cdr.db and in cdr.csv;
# cdr show (text and JSON), cdr export csv (and its refusals), cdr show
# status, reloads (a broken cdr.conf is refused with file:line, cli_backend
# switches to the CSV file), unload/load of both modules, and a kill -9 of
# the daemon after 20 quick calls: after a restart every call that had
# ended a second before the kill is in cdr.db; a cdr.db of a newer schema
# is refused.
#
# What a kill -9 may lose: the records still waiting in the writers' queues
# in memory, i.e. of calls that ended less than flush_interval (200 ms here)
# before the kill. Hence the second of waiting before the kill.
. "$(dirname "$0")/../lib.sh"

export TZ=UTC
octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs"
DB="$OCTO_STATE/data/cdr.db"
CSV="$OCTO_STATE/data/cdr.csv"

check "octo -t accepts the cdr.conf" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$(octo_build_modules)"
mkdir -p "$OCTO_TMP/broken"
cp -R "$OCTO_CONF/." "$OCTO_TMP/broken/"
printf '[general]\nbackends = sqlite, mysql\n' >"$OCTO_TMP/broken/cdr.conf"
check_output "octo -t names cdr.conf:line" \
	'cdr.conf:2: [general] backends: "mysql" is not a CDR backend (sqlite, csv, pgsql)' \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_TMP/broken' -M '$(octo_build_modules)' 2>&1; true"

octo_start || exit 1

sql()
{
	sqlite3 -batch -noheader "$DB" "$@" 2>&1
}

# check_sql NAME EXPECTED QUERY: the query on cdr.db prints EXPECTED.
check_sql()
{
	local got
	got=$(sql "$3")
	if [ "$got" = "$2" ]; then
		pass "$1"
	else
		fail "$1" "'$3' gave '$got', expected '$2'"
	fi
}

# sql_is EXPECTED QUERY: for wait_until.
sql_is()
{
	[ "$(sql "$2")" = "$1" ]
}

# call PROCEDURE NUMBER CALLER: starts a Test call, prints its id.
call()
{
	octo_rx test call "$@" | sed -n 's/^id: *//p'
}

no_active_calls()
{
	! octo_rx calls show active | grep -q 'Test/'
}

check_rx "status lists the sqlite backend" "res_cdr_sqlite" cdr show status
check_rx "status lists the csv backend" "res_cdr_csv" cdr show status
check_rx "status names the console's backend" "console reads:" cdr show status
check "cdr.db created at start" test -s "$DB"
check_sql "schema version recorded" "2" "select max(version) from cdr_schema"
check_sql "WAL mode" "wal" "pragma journal_mode"
check "csv header written at start" grep -q '^uniqueid,linkedid,start,answer,end,' "$CSV"
check_rx "no CDR yet" "No CDR matches." cdr show

# ---------------------------------------------------------------- calls
answered=$(call cdrtest 100 101)
busy=$(call cdrtest 200 101)
failed=$(call cdrtest 400 101)
noanswer=$(call cdrtest 500 101)
rewritten=$(call cdrtest 0612345678 101)
cancelled=$(call cdrtest 300 102)
if [ -n "$answered" ] && [ -n "$cancelled" ]; then
	pass "test calls started"
else
	fail "test calls started" "no call id"
fi
sleep 0.5
check_rx "caller hangs up while it rings" "hung up" test hangup "$cancelled"
wait_until 10 no_active_calls && pass "every call ended" || fail "every call ended" "still active"
wait_until 5 sql_is 6 'select count(*) from cdr' &&
	pass "six rows in cdr.db" || fail "six rows in cdr.db" "$(sql 'select count(*) from cdr')"

check_sql "answered call" "ANSWERED|101|100|100" \
	"select disposition, caller, dialed, called from cdr where uniqueid = '$answered'"
check_sql "answered call: billsec >= 1, duration >= billsec" "1" \
	"select billsec >= 1 and duration >= billsec and answer_us > 0 and answer_time is not null
	 from cdr where uniqueid = '$answered'"
check_sql "busy call" "BUSY|17|0|" \
	"select disposition, cause, billsec, answer_time from cdr where uniqueid = '$busy'"
check_sql "failed call" "FAILED|34" \
	"select disposition, cause from cdr where uniqueid = '$failed'"
check_sql "unanswered call" "NO ANSWER|19" \
	"select disposition, cause from cdr where uniqueid = '$noanswer'"
check_sql "call cancelled by its caller" "CANCELLED|102|0|0" \
	"select disposition, caller, billsec, answer_us from cdr where uniqueid = '$cancelled'"
check_sql "dialled and routed numbers" "0612345678|+39612345678|project \"x\", phase 2" \
	"select dialed, called, userfield from cdr where uniqueid = '$rewritten'"
check_sql "caller name, procedure, channel, linked id" "Test call|cdrtest|1|1" \
	"select caller_name, procedure, channel like 'Test/101-%', linkedid = uniqueid
	 from cdr where uniqueid = '$answered'"
check_sql "times: ISO text agrees with the epoch" "6" \
	"select count(*) from cdr where strftime('%s', start_time) = cast(start_us / 1000000 as text)
	 and end_us >= start_us and end_time like '____-__-__T__:__:__.___Z'"

# ---------------------------------------------------------------- console
octo_rx cdr show last 5 >"$OCTO_TMP/last5" 2>&1
rows=$(grep -c 'Test/10' "$OCTO_TMP/last5")
[ "$rows" = 5 ] && pass "cdr show last 5 lists 5" || fail "cdr show last 5 lists 5" "$rows rows"
# Newest means the last to end: the answered call waited a second.
grep -q "$answered" "$OCTO_TMP/last5" && ! grep -q "$busy" "$OCTO_TMP/last5" &&
	pass "cdr show last 5: the last five to end" || fail "cdr show last 5: the last five to end" \
	"$(cat "$OCTO_TMP/last5")"
check_output "cdr show has the columns" "disposition  duration  billsec  channel" \
	octo_rx cdr show last 5
check_rx "cdr show user (called)" "+39612345678" cdr show user +39612345678
check_output "cdr show user (caller)" "$cancelled" octo_rx cdr show user 102
check_output "cdr show user matches only that user" "1" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'cdr show user 102' | grep -c 'Test/'"
check_rx "cdr show since a date and time" "$answered" cdr show since "$(date +%Y-%m-%d) 00:00"
check_rx "cdr show since tomorrow: nothing" "No CDR matches." \
	cdr show since "$(date -d tomorrow +%Y-%m-%d)"
check_fails "cdr show last 0 refused" octo_rx cdr show last 0
check_output "a bad date is explained" "is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)" \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'cdr show since yesterday' 2>&1; true"
check_fails "cdr show with a stray word" octo_rx cdr show bogus

octo_rx_json cdr show >"$OCTO_TMP/json" 2>&1
check_output "--json cdr show parses" "6" jq '.rows | length' "$OCTO_TMP/json"
check_output "--json columns" '"disposition"' jq -c '.columns' "$OCTO_TMP/json"
check_output "--json row of the answered call" "ANSWERED" \
	jq -r ".rows[] | select(.[8] == \"$answered\") | .[4]" "$OCTO_TMP/json"

check_rx "status counts written records" "6       6        0" cdr show status

# ---------------------------------------------------------------- CSV file
# sqlite3 reads RFC 4180 CSV: the file must hold the same rows, field by field.
csv_matches()
{
	sqlite3 -batch -noheader :memory: \
		".import --csv '$1' c" \
		"attach '$DB' as d" \
		"select (select count(*) from c) || '|' || (select count(*) from d.cdr) || '|' ||
		 (select count(*) from c join d.cdr x on x.uniqueid = c.uniqueid
		  where c.linkedid = x.linkedid and c.start = x.start_time
		  and c.answer = coalesce(x.answer_time, '') and c.\"end\" = x.end_time
		  and c.duration = cast(x.duration as text) and c.billsec = cast(x.billsec as text)
		  and c.caller = x.caller and c.caller_name = x.caller_name
		  and c.dialed = x.dialed and c.called = x.called and c.channel = x.channel
		  and c.procedure = x.procedure and c.disposition = x.disposition
		  and c.cause = cast(x.cause as text) and c.hangup_side = x.hangup_side
		  and c.userfield = x.userfield)" 2>&1
}
wait_until 5 test "$(csv_matches "$CSV")" = "6|6|6" &&
	pass "cdr.csv has the same rows as cdr.db" ||
	fail "cdr.csv has the same rows as cdr.db" "$(csv_matches "$CSV")"
check_output "cdr.csv quotes per RFC 4180" '"project ""x"", phase 2"' cat "$CSV"

# ---------------------------------------------------------------- export
check_rx "cdr export csv" "records: 6" cdr export csv all.csv
check_output "the export has the same rows" "6|6|6" csv_matches "$OCTO_STATE/data/all.csv"
check_rx "cdr export csv with filters" "records: 1" cdr export csv mine.csv user 102 last 3
check_output "the filtered export" "$cancelled" cat "$OCTO_STATE/data/mine.csv"
for bad in ../x.csv /tmp/x.csv "a/b.csv" x.db cdr.db .hidden.csv "x..csv" cdr.csv; do
	check_fails "cdr export csv refuses $bad" octo_rx cdr export csv "$bad"
done
check_output "the refusal says why" '"/" and ".." are refused' bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'cdr export csv ../x.csv' 2>&1; true"
check "nothing written outside the data folder" test ! -e "$OCTO_STATE/x.csv"
check_output "cdr.db untouched by refused exports" "ok" sql "pragma integrity_check"

# ---------------------------------------------------------------- reload
cp "$OCTO_CONF/cdr.conf" "$OCTO_TMP/cdr.good"
printf '[general]\nbackends = sqlite, csv\ncli_backend = pgsql\n' >"$OCTO_CONF/cdr.conf"
check_fails "a broken cdr.conf is refused" octo_rx module reload res_cdr_sqlite
check_output "the error names cdr.conf:line" \
	'cdr.conf:3: [general] cli_backend: "pgsql" is not one of the enabled backends' \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload res_cdr_sqlite' 2>&1; true"
check_rx "the running config stays" "console reads:        sqlite" cdr show status
sed 's/^cli_backend = sqlite/cli_backend = csv/' "$OCTO_TMP/cdr.good" >"$OCTO_CONF/cdr.conf"
check "reload: the console reads the CSV file" octo_rx module reload res_cdr_sqlite
check_rx "status says so" "console reads:        csv" cdr show status
check_output "cdr show from the CSV file" "6" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' --json -rx 'cdr show' | jq '.rows | length'"
check_output "cdr show last 2 from the CSV file" "$cancelled" octo_rx cdr show last 2
check_output "user filter on the CSV file" "1" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'cdr show user 102' | grep -c 'Test/'"
cp "$OCTO_TMP/cdr.good" "$OCTO_CONF/cdr.conf"
check "reload back to sqlite" octo_rx module reload res_cdr_sqlite

# ---------------------------------------------------------------- unload, load
check "unload res_cdr_sqlite" octo_rx module unload res_cdr_sqlite
check_fails "its commands are gone" octo_rx cdr show
check "load res_cdr_sqlite again" octo_rx module load res_cdr_sqlite
check_rx "the records are still there" "$answered" cdr show
check "unload res_cdr_csv" octo_rx module unload res_cdr_csv
check_rx "status: csv enabled but not loaded" "not loaded" cdr show status
one=$(call cdrtest 900 104)
wait_until 5 sql_is 1 "select count(*) from cdr where uniqueid = '$one'" &&
	pass "sqlite writes without the csv module" ||
	fail "sqlite writes without the csv module" "no row for $one"
check "load res_cdr_csv again" octo_rx module load res_cdr_csv
check_rx "status: csv open again" "res_cdr_csv" cdr show status

# ---------------------------------------------------------------- kill -9
for i in $(seq 1 20); do
	octo_rx test call cdrtest 900 103 >/dev/null
done
wait_until 10 no_active_calls && pass "20 quick calls ended" ||
	fail "20 quick calls ended" "still active"
sleep 1
{
	kill -KILL "$OCTO_PID"
	wait "$OCTO_PID"
} 2>/dev/null
OCTO_PID=""
check_sql "after kill -9: cdr.db is sound" "ok" "pragma integrity_check"
check_sql "after kill -9: every ended call is in cdr.db" "20" \
	"select count(*) from cdr where caller = '103'"
check_output "after kill -9: and in cdr.csv" "20" bash -c "grep -c ',Test call,900,900,' '$CSV'"
octo_start || exit 1
check_rx "after the restart: cdr show" "103" cdr show last 3
check_sql "after the restart: nothing counted twice" "27" "select count(*) from cdr"
two=$(call cdrtest 900 105)
wait_until 5 sql_is 1 "select count(*) from cdr where uniqueid = '$two'" &&
	pass "after the restart: new calls are written" ||
	fail "after the restart: new calls are written" "no row for $two"
check_sql "the schema was not migrated twice" "2" "select count(*) from cdr_schema"
octo_stop

# ---------------------------------------------------------------- a newer schema
# A database written by a newer Octo is left alone, and the status says why.
sql "insert into cdr_schema values (99, 'future')" >/dev/null
octo_start || exit 1
check_rx "a newer schema is refused" "has schema version 99, newer than this module's 2" \
	cdr show status
check_rx "the records can still be read" "$two" cdr show
check_sql "and nothing was written to it" "28" "select count(*) from cdr"
octo_stop
