#!/usr/bin/env bash
# cdr_pgsql: call detail records to a real PostgreSQL server (Debian's
# postgresql: initdb and pg_ctl in a temp folder, on a free loopback port,
# run as an unprivileged user) through res_cdr_pgsql.
#
# Octo starts with SQLite only; cdr.conf is switched to pgsql and reloaded
# while the server is still down: the module does not block, "cdr show
# status" says disconnected with libpq's error, and the calls made meanwhile
# wait in the spool file. The server starts: they arrive, then calls of
# each disposition and one SIPp call (checked with psql, read back with cdr
# show and cdr export through cli_backend = pgsql). The server is stopped
# in the middle of a run of 30 calls and started again: every CDR arrives,
# once, in the order the calls ended. Records spooled when octo stops are sent after a
# restart (octo starting while the server is down). A bad [pgsql] is
# refused by a reload; switching back to SQLite sends nothing more there.
. "$(dirname "$0")/../lib.sh"

export TZ=UTC

# ---------------------------------------------------------------- the server
pg_find()
{
	local d
	pg_bin=""
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ] && pg_bin=$d
	done
	[ -n "$pg_bin" ]
}
if ! pg_find; then
	# CI installs it through contrib/deps.sh; try the same here.
	if [ "$(id -u)" = 0 ] && [ -r "$OCTO_SRC/contrib/deps.sh" ]; then
		# shellcheck source=/dev/null
		. "$OCTO_SRC/contrib/deps.sh"
		deps_install postgresql >"$OCTO_TMP/deps.log" 2>&1
	fi
	if ! pg_find; then
		echo "SKIP cdr_pgsql: PostgreSQL's server programs (/usr/lib/postgresql/*/bin/initdb," \
			"pg_ctl, psql) are not installed and could not be installed" \
			"(Debian: apt-get install postgresql)"
		exit 0
	fi
fi

# In /tmp, not $TMPDIR: the server's user must reach it (contrib/test.sh
# gives each test a private TMPDIR), and a unix socket path is short.
PGDIR=$(mktemp -d /tmp/octo-pg.XXXXXX) || exit 1
PGPORT=$(octo_free_port) || exit 1
pg_running=no
# The server refuses to run as root: then it runs as nobody.
pg_as()
{
	if [ "$(id -u)" = 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}
[ "$(id -u)" = 0 ] && chown nobody "$PGDIR"

pg_start()
{
	pg_as "$pg_bin/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 30 \
		-o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off" \
		start >>"$OCTO_TMP/pg_ctl.log" 2>&1 && pg_running=yes
}

pg_stop()
{
	pg_as "$pg_bin/pg_ctl" -D "$PGDIR/data" -m "${1:-fast}" -w -t 30 stop \
		>>"$OCTO_TMP/pg_ctl.log" 2>&1 && pg_running=no
}

pg_cleanup()
{
	[ "$pg_running" = yes ] && pg_stop immediate
	rm -rf "$PGDIR"
}
trap 'st=$?; pg_cleanup; (exit $st); lib_exit' EXIT

# psql_q SQL [DATABASE]: runs SQL (on the octo database), unaligned, no headers.
psql_q()
{
	"$pg_bin/psql" -X -A -t -q -h 127.0.0.1 -p "$PGPORT" -U octo -d "${2:-octo}" -c "$1" 2>&1
}

# check_pg NAME EXPECTED SQL
check_pg()
{
	local got
	got=$(psql_q "$3")
	if [ "$got" = "$2" ]; then
		pass "$1"
	else
		fail "$1" "'$3' gave '$got', expected '$2'"
	fi
}

pg_is()
{
	[ "$(psql_q "$2")" = "$1" ]
}

if pg_as "$pg_bin/initdb" -D "$PGDIR/data" -U octo -A trust -E UTF8 --no-locale -N \
	>"$OCTO_TMP/initdb.log" 2>&1; then
	pass "initdb"
else
	fail "initdb" "failed"
	lib_show "$OCTO_TMP/initdb.log"
	exit 1
fi

# ---------------------------------------------------------------- octo, SQLite only
octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
sed -i "s/@PGPORT@/$PGPORT/" "$OCTO_CONF/cdr.conf"
# SIPp 3.6 answers the first challenge only: offer MD5 first
sed -i 's/^auth_algorithms *=.*/auth_algorithms = MD5, SHA-256/' "$OCTO_CONF/sip.conf"
SPOOL="$OCTO_STATE/data/cdr_pgsql.spool"
DB="$OCTO_STATE/data/cdr.db"

check "octo -t accepts the [pgsql] section" "$OCTO_BIN" -t -C "$OCTO_CONF" \
	-M "$(octo_build_modules)"
mkdir -p "$OCTO_TMP/broken"
cp -R "$OCTO_CONF/." "$OCTO_TMP/broken/"
printf '[general]\nbackends = pgsql\ncli_backend = pgsql\n[pgsql]\ntable = Cdr-x\n' \
	>"$OCTO_TMP/broken/cdr.conf"
check_output "octo -t: a bad table name, with file:line" \
	'cdr.conf:5: [pgsql] table: "Cdr-x" is not a table name' \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_TMP/broken' -M '$(octo_build_modules)' 2>&1; true"

printf '[general]\nbackends = sqlite\n[pgsql]\n\nconninfo = hots=db\n' \
	>"$OCTO_TMP/broken/cdr.conf"
check_output "octo -t: a conninfo libpq refuses, with file:line" \
	'cdr.conf:5: [pgsql] conninfo: is not a libpq connection string: invalid connection option "hots"' \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_TMP/broken' -M '$(octo_build_modules)' 2>&1; true"

octo_start || exit 1

# call PROCEDURE NUMBER CALLER: starts a Test call, prints its id.
call()
{
	octo_rx test call "$@" | sed -n 's/^id: *//p'
}

# call_wait NUMBER CALLER: one call of cdrtest, waited for until it ended.
call_wait()
{
	local id
	id=$(call cdrtest "$1" "$2")
	[ -n "$id" ] && wait_until 10 ended "$id"
	echo "$id"
}

# calls_run FIRST LAST: quick calls from callers FIRST..LAST, one after the
# other; prints how many did not end.
calls_run()
{
	local c bad=0
	for c in $(seq "$1" "$2"); do
		id=$(call_wait 900 "$c")
		ended "$id" || bad=$((bad + 1))
	done
	echo "$bad"
}

# spool_lines: the lines of the spool file; spool_is N: there are N.
spool_lines()
{
	if [ -f "$SPOOL" ]; then wc -l <"$SPOOL"; else echo 0; fi
}

spool_is()
{
	[ "$(spool_lines)" = "$1" ]
}

# sq_is EXPECTED SQL: the query on cdr.db prints EXPECTED.
sq_is()
{
	[ "$(sqlite3 -batch -noheader "$DB" "$2" 2>&1)" = "$1" ]
}

check_rx "res_cdr_pgsql is loaded (idle)" "res_cdr_pgsql" module show like res_cdr_pgsql
octo_rx cdr show status >"$OCTO_TMP/status0" 2>&1
if grep -q 'res_cdr_pgsql' "$OCTO_TMP/status0"; then
	fail "status: no pgsql backend before the switch" "$(cat "$OCTO_TMP/status0")"
else
	pass "status: no pgsql backend before the switch"
fi
id=$(call_wait 900 1001)
wait_until 5 sq_is 1 "select count(*) from cdr where uniqueid = '$id'" &&
	pass "a call before the switch goes to SQLite" ||
	fail "a call before the switch goes to SQLite" "no row for $id"

# ---------------------------------------------------------------- switch, server down
sed -i -e 's/^backends = sqlite$/backends = sqlite, pgsql/' \
	-e 's/^cli_backend = sqlite$/cli_backend = pgsql/' "$OCTO_CONF/cdr.conf"
t0=$SECONDS
check "core reload with pgsql, server down" octo_rx core reload
[ $((SECONDS - t0)) -le 3 ] && pass "the reload does not wait for the server" ||
	fail "the reload does not wait for the server" "took $((SECONDS - t0)) s"
status_has()
{
	octo_rx cdr show status | grep -qF -- "$1"
}
wait_until 10 status_has "Connection refused" &&
	pass "status: disconnected, with libpq's error" ||
	fail "status: disconnected, with libpq's error" "$(octo_rx cdr show status)"
check_rx "status: state disconnected" "disconnected" cdr show status
check_rx "status: names the server" "postgresql://octo@127.0.0.1:$PGPORT/octo" cdr show status

for c in 2001 2002 2003; do
	call_wait 900 "$c" >/dev/null
done
wait_until 10 spool_is 3 && pass "three calls wait in the spool file" ||
	fail "three calls wait in the spool file" "$(spool_lines) lines in $SPOOL"
check_rx "status: the spool holds 3" "spool 3 in $SPOOL" cdr show status
check_output "cdr show says the server is away" "cannot connect to PostgreSQL" \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'cdr show' 2>&1; true"

# ---------------------------------------------------------------- the server starts
pg_start && pass "postgres started on 127.0.0.1:$PGPORT" ||
	{ fail "postgres started" "$(tail -n 20 "$PGDIR/server.log" 2>/dev/null)"; exit 1; }
check "CREATE DATABASE octo" psql_q "CREATE DATABASE octo" postgres
# Until the database exists the server says so: then it connects.
wait_until 15 pg_is 3 "select count(*) from cdr" &&
	pass "the spooled calls arrive" ||
	fail "the spooled calls arrive" "$(psql_q 'select count(*) from cdr')"
check_pg "in the order they ended" "2001,2002,2003" \
	"select string_agg(caller, ',' order by id) from cdr"
wait_until 5 spool_is 0 && pass "the spool file is emptied" ||
	fail "the spool file is emptied" "$(stat -c %s "$SPOOL") bytes"
wait_until 5 status_has "connected" && check_rx "status: connected" " connected " \
	cdr show status
check_pg "schema version recorded" "1" "select max(version) from cdr_schema"
check_pg "unique key on (uniqueid, start_us)" "cdr_leg" \
	"select conname from pg_constraint where conrelid = 'cdr'::regclass and contype = 'u'"

# ---------------------------------------------------------------- dispositions
answered=$(call_wait 100 3001)
busy=$(call_wait 200 3002)
failed=$(call_wait 400 3003)
noanswer=$(call_wait 500 3004)
utf8=$(call_wait 600 3005)
latin1=$(call_wait 601 3006)
wait_until 5 pg_is 9 "select count(*) from cdr" && pass "six more rows" ||
	fail "six more rows" "$(psql_q 'select count(*) from cdr')"
check_pg "answered call" "ANSWERED|3001|100|100|t|t" \
	"select disposition, caller, dialed, called, billsec >= 1 and duration >= billsec,
	 answer_time is not null from cdr where uniqueid = '$answered'"
check_pg "busy call" "BUSY|17|0|t" \
	"select disposition, cause, billsec, answer_time is null from cdr where uniqueid = '$busy'"
check_pg "failed call" "FAILED|34" "select disposition, cause from cdr where uniqueid = '$failed'"
check_pg "unanswered call" "NO ANSWER|19" \
	"select disposition, cause from cdr where uniqueid = '$noanswer'"
check_pg "caller name, procedure, channel, linked id, direction" \
	"Test call|cdrtest|t|t|inbound|f" \
	"select caller_name, procedure, channel like 'Test/3001-%', linkedid = uniqueid, direction,
	 answered_elsewhere from cdr where uniqueid = '$answered'"
check_pg "times: timestamptz agrees with the microseconds" "9" \
	"select count(*) from cdr where
	 (extract(epoch from start_time) * 1000)::bigint = start_us / 1000
	 and (extract(epoch from end_time) * 1000)::bigint = end_us / 1000"
check_pg "UTF-8 user field kept" "café \"x\", y" \
	"select userfield from cdr where uniqueid = '$utf8'"
check_pg "a byte that is not UTF-8 becomes ?" "caf?" \
	"select userfield from cdr where uniqueid = '$latin1'"
[ "$(sqlite3 "$DB" "select count(*) from cdr where caller like '300_'")" = 6 ] &&
	pass "and SQLite has the same six" || fail "and SQLite has the same six" "count differs"

# One SIP call (SIPp as the sample user 100, the sip_call test's scenario)
# to *43, answered, hung up by the phone after half a second.
sip_rows=9
if command -v sipp >/dev/null 2>&1; then
	pass_100=$(sed -n '/^\[100\]/,/^\[/s/^secret *= *//p' "$OCTO_CONF/users.conf" | head -n 1)
	printf 'SEQUENTIAL\n100;\n' >"$OCTO_TMP/u100.csv"
	sport=$(octo_free_port)
	mport=$(octo_free_port)
	if (cd "$OCTO_TMP" && timeout 30 sipp -sf "$OCTO_SRC/tests/integration/sip_call/sipp/uac_bye.xml" \
		-s '*43' -inf "$OCTO_TMP/u100.csv" -au 100 -ap "$pass_100" -i 127.0.0.1 -p "$sport" \
		-mp "$mport" -m 1 -d 500 -nostdin -timeout 20s -timeout_error -recv_timeout 10000 \
		127.0.0.1:"$OCTO_SIP_PORT") >"$OCTO_TMP/sipp.log" 2>&1; then
		pass "a SIPp call to *43"
	else
		fail "a SIPp call to *43" "see below"
		lib_show "$OCTO_TMP/sipp.log" 30
	fi
	sip_rows=10
	wait_until 5 pg_is 1 "select count(*) from cdr where dialed = '*43'" &&
		pass "the SIP call's CDR arrives" || fail "the SIP call's CDR arrives" "no row"
	check_pg "the SIP call's CDR" "100|ANSWERED|t|t|caller" \
		"select caller, disposition, channel like 'SIP/%', billsec <= duration, hangup_side
		 from cdr where dialed = '*43'"
else
	echo "NOTE cdr_pgsql: sipp not found (Debian: sip-tester): no SIP call"
fi

# ---------------------------------------------------------------- the console reads PostgreSQL
check_rx "status: the console reads pgsql" "console reads:        pgsql" cdr show status
check_rx "cdr show from PostgreSQL" "$noanswer" cdr show
check_output "cdr show last 2: the last two" "$latin1" octo_rx cdr show last 2
check_output "cdr show last 2 lists 2" "2" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'cdr show last 2' | grep -c '/'"
check_output "cdr show user 3002" "$busy" octo_rx cdr show user 3002
check_output "cdr show user matches only that user" "1" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'cdr show user 3002' | grep -c 'Test/'"
check_rx "cdr show since tomorrow: nothing" "No CDR matches." \
	cdr show since "$(date -d tomorrow +%Y-%m-%d)"
check_rx "cdr export csv from PostgreSQL" "records: $sip_rows" cdr export csv pg.csv
check_output "the export has the rows" "$answered" cat "$OCTO_STATE/data/pg.csv"

# ---------------------------------------------------------------- server stopped mid-run
# 30 calls one after the other; the server stops after the 10th and starts
# again after the 25th.
bad=0
for c in $(seq 4001 4030); do
	id=$(call_wait 900 "$c")
	ended "$id" || bad=$((bad + 1))
	if [ "$c" = 4010 ]; then
		wait_until 5 pg_is 10 "select count(*) from cdr where caller like '40__'"
		pg_stop && pass "postgres stopped in the middle of the run" ||
			fail "postgres stopped" "$(tail -n 5 "$OCTO_TMP/pg_ctl.log")"
	fi
	if [ "$c" = 4025 ]; then
		wait_until 10 spool_is 15 && pass "15 calls wait in the spool" ||
			fail "15 calls wait in the spool" "$(spool_lines) lines"
		check_rx "status: disconnected while stopped" "disconnected" cdr show status
		check_rx "status: the spool holds 15" "spool 15 in" cdr show status
		pg_start && pass "postgres started again" || fail "postgres started again" "failed"
	fi
done
[ "$bad" = 0 ] && pass "30 calls ended" || fail "30 calls ended" "$bad did not"
wait_until 15 pg_is 30 "select count(*) from cdr where caller like '40__'" &&
	pass "every CDR of the run arrived" ||
	fail "every CDR of the run arrived" "$(psql_q "select count(*) from cdr where caller like '40__'")"
check_pg "each once (unique ids)" "30|30" \
	"select count(*), count(distinct uniqueid) from cdr where caller like '40__'"
check_pg "in the order the calls ended" "$(seq -s, 4001 4030)" \
	"select string_agg(caller, ',' order by id) from cdr where caller like '40__'"
wait_until 5 spool_is 0 && pass "the spool is empty again" ||
	fail "the spool is empty again" "$(stat -c %s "$SPOOL") bytes"
check "the daemon logged the outage" grep -q "CDRs to PostgreSQL: " "$OCTO_LOG"

# ---------------------------------------------------------------- across a restart
pg_stop
wait_until 5 status_has "disconnected"
[ "$(calls_run 5001 5005)" = 0 ] && pass "5 calls with the server down" ||
	fail "5 calls with the server down" "some did not end"
octo_stop
[ "$(spool_lines)" = 5 ] && pass "octo stopped: 5 records in the spool file" ||
	fail "octo stopped: 5 records in the spool file" "$(spool_lines) lines"
# A record being written when octo died: a torn last line, dropped at start.
printf 'O1\t1234.5\ttorn' >>"$SPOOL"
t0=$SECONDS
octo_start || exit 1
[ $((SECONDS - t0)) -le 10 ] && pass "octo starts with the server down" ||
	fail "octo starts with the server down" "took $((SECONDS - t0)) s"
check_rx "status after the restart: 5 waiting" "spool 5 in" cdr show status
check "the torn line was cut off" grep -q "cut off a torn last line" "$OCTO_LOG"
pg_start && pass "postgres started after octo" || fail "postgres started after octo" "failed"
wait_until 15 pg_is 5 "select count(*) from cdr where caller like '500_'" &&
	pass "the spooled records of the last run arrive" ||
	fail "the spooled records of the last run arrive" \
	"$(psql_q "select count(*) from cdr where caller like '500_'")"
check_pg "in order" "5001,5002,5003,5004,5005" \
	"select string_agg(caller, ',' order by id) from cdr where caller like '500_'"
check_pg "the schema was not migrated twice" "1" "select count(*) from cdr_schema"

# ---------------------------------------------------------------- reloads
cp "$OCTO_CONF/cdr.conf" "$OCTO_TMP/cdr.good"
sed -i 's/^table = cdr$/table = 1cdr/' "$OCTO_CONF/cdr.conf"
check_output "a bad table name is refused with file:line" \
	'cdr.conf:16: [pgsql] table: "1cdr" is not a table name' \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload res_cdr_pgsql' 2>&1; true"
check_rx "the running config stays" "table cdr," cdr show status
cp "$OCTO_TMP/cdr.good" "$OCTO_CONF/cdr.conf"
sed -i -e 's/^backends = sqlite, pgsql$/backends = sqlite/' \
	-e 's/^cli_backend = pgsql$/cli_backend = sqlite/' "$OCTO_CONF/cdr.conf"
check "core reload back to SQLite only" octo_rx core reload
octo_rx cdr show status >"$OCTO_TMP/status1" 2>&1
grep -q 'res_cdr_pgsql' "$OCTO_TMP/status1" && fail "status: pgsql gone" "$(cat "$OCTO_TMP/status1")" ||
	pass "status: pgsql gone"
before=$(psql_q "select count(*) from cdr")
id=$(call_wait 900 6001)
wait_until 5 sq_is 1 "select count(*) from cdr where uniqueid = '$id'" &&
	pass "after the switch back the call is in SQLite" ||
	fail "after the switch back the call is in SQLite" "no row"
check_pg "and not in PostgreSQL" "$before" "select count(*) from cdr"
check "unload res_cdr_pgsql" octo_rx module unload res_cdr_pgsql
check "load res_cdr_pgsql again" octo_rx module load res_cdr_pgsql
octo_stop
