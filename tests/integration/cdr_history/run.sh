#!/usr/bin/env bash
# cdr_history: what res_cdr_sqlite derives from the CDRs. Test calls from
# user 100 to users with Test devices: `user history` shows them in, out
# and missed (another device of the user answering is "in", a ring group
# answered by another user is "ANSWERED ELSEWHERE", busy is missed without
# an e-mail); a missed call (nobody answered, or the caller gave up) is
# e-mailed through res_smtp to an aiosmtpd server, once, only to users with
# missed_call_email; `cdr pricelist import` (and its refusals) and the cost
# of calls with ${TRUNK} (longest prefix, increment, connection fee; calls
# that came in are not priced); the step logs kept in cdr.db: `call debug ID`
# and `calls show history` after a restart, old logs purged at start, and
# debug_days = 0.
. "$(dirname "$0")/../lib.sh"

export TZ=UTC
octo_need_aiosmtpd || exit 1
HELPER="$OCTO_SRC/tests/integration/smtp/smtp_helper.py"
DB="$OCTO_STATE/data/cdr.db"
DATA="$OCTO_STATE/data"
MBOX="$OCTO_TMP/mbox"

# ---------------------------------------------------------------- the SMTP server
smtp_port=$(octo_free_port) || exit 1
mkdir -p "$MBOX/tmp" "$MBOX/new" "$MBOX/cur"
timeout 300 "$SMTP_PY" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox \
	"$MBOX" >>"$OCTO_TMP/smtpd.log" 2>&1 </dev/null &
smtp_pid=$!
trap 'st=$?; kill "$smtp_pid" 2>/dev/null; wait "$smtp_pid" 2>/dev/null; (exit $st); lib_exit' EXIT
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$smtp_port" ||
	fail "$OCTO_CASE/setup" "aiosmtpd does not listen on port $smtp_port"

octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs"
sed -i "s/@SMTP_PORT@/$smtp_port/" "$OCTO_CONF/smtp.conf"
octo_start || exit 1

# ---------------------------------------------------------------- helpers
sql()
{
	sqlite3 -batch -noheader "$DB" "$@" 2>&1
}

sql_is()
{
	[ "$(sql "$2")" = "$1" ]
}

# check_sql NAME EXPECTED QUERY
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

# call NUMBER [CALLER]: a Test call into [hist]; prints its id.
call()
{
	octo_rx test call hist "$1" "${2:-100}" | sed -n 's/^id: *//p'
}

no_active_calls()
{
	! octo_rx calls show active | grep -q 'Test/'
}

# wait_calls_end NAME: every call ended and its CDRs are written.
wait_calls_end()
{
	if wait_until 15 no_active_calls; then
		pass "$1"
	else
		fail "$1" "$(octo_rx calls show active)"
	fi
	wait_until 5 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'cdr show status' |
		grep -qE ' open +[0-9]+ +[0-9]+ +0 '"
}

# history EXT: `user history EXT` as lines "direction|other party|name|disposition".
history()
{
	octo_rx_json user history "$1" | jq -r '.rows[] | [.[1], .[2], .[3], .[5]] | join("|")'
}

# check_history NAME EXT EXPECTED-LINES: the user's history is exactly that.
check_history()
{
	local got
	got=$(history "$2")
	if [ "$got" = "$3" ]; then
		pass "$1"
	else
		fail "$1" "user history $2 gave '$got', expected '$3'"
	fi
}

mails()
{
	find "$MBOX/new" -type f 2>/dev/null | wc -l
}

mails_are()
{
	[ "$(mails)" -eq "$1" ]
}

# mail_to ADDRESS: the JSON of the message sent to ADDRESS ("" if none).
mail_to()
{
	"$SMTP_PY" "$HELPER" show "$MBOX" | grep -F "\"To\": \"$1\"" | tail -n 1
}

cli_error()
{
	"$OCTO_BIN" -s "$OCTO_SOCK" -rx "$*" 2>&1 </dev/null
	return 0
}

check_rx "the console knows user history" "user history <ext> [last <N>]" help user history
check_output "missed_call_email in user show" '"missed call email":"yes"' \
	octo_rx_json user show 201
check_rx "no calls yet" "No calls of 100 in the CDRs." user history 100
check_fails "user history refuses a hostile extension" octo_rx user history "1;0"
check_fails "user history: last 0 is refused" octo_rx user history 100 last 0

# ---------------------------------------------------------------- devices
octo_rx test device add 200 answer:0.3 >/dev/null
octo_rx test device add 201 ring >/dev/null
octo_rx test device add 202 ring >/dev/null
octo_rx test device add 203 ring >/dev/null
octo_rx test device add 203 answer:0.3 >/dev/null
octo_rx test device add 204 busy >/dev/null
octo_rx test device add 205 ring >/dev/null
octo_rx test device add 206 answer:0.3 >/dev/null
octo_rx test device add 207 ring >/dev/null
check_rx "Test devices added" "Test/answer:0.3" test device show

# ---------------------------------------------------------------- calls between users
c200=$(call 200)
wait_until 10 steps_have "$c200" "bridge Test/100-" && pass "200 answers" ||
	fail "200 answers" "$(octo_rx call debug "$c200" | tail -n 5)"
octo_rx test hangup "$c200" >/dev/null
c201=$(call 201)
c202=$(call 8202)
wait_until 10 steps_have "$c202" "ringing 1 leg" && pass "202 rings" ||
	fail "202 rings" "$(octo_rx call debug "$c202" | tail -n 5)"
octo_rx test hangup "$c202" >/dev/null
c203=$(call 203)
wait_until 10 steps_have "$c203" "bridge Test/100-" && pass "203 answers on its second device" ||
	fail "203 answers on its second device" "$(octo_rx call debug "$c203" | tail -n 5)"
octo_rx test hangup "$c203" >/dev/null
c204=$(call 204)
cgrp=$(call 9000)
wait_until 10 steps_have "$cgrp" "bridge Test/100-" && pass "the group: 206 answers" ||
	fail "the group: 206 answers" "$(octo_rx call debug "$cgrp" | tail -n 5)"
octo_rx test hangup "$cgrp" >/dev/null
c207=$(call 207)
wait_calls_end "the calls between users ended"

check_history "200: in, answered" 200 "in|100|Test call|ANSWERED"
check_history "201: missed, nobody answered" 201 "missed|100|Test call|NO ANSWER"
check_history "202: missed, the caller gave up" 202 "missed|100|Test call|CANCELLED"
check_history "203: in (its other device answered)" 203 "in|100|Test call|ANSWERED"
check_history "204: missed, busy" 204 "missed|100|Test call|BUSY"
check_history "205: missed, answered in the group" 205 "missed|100|Test call|ANSWERED ELSEWHERE"
check_history "206: in, from the group" 206 "in|100|Test call|ANSWERED"
check_history "207: missed" 207 "missed|100|Test call|NO ANSWER"
check_history "100: out, newest first" 100 "out|207|Quiet User|NO ANSWER
out|9000||ANSWERED
out|204|Busy User|NO ANSWER
out|203|Two Phones|ANSWERED
out|8202||CANCELLED
out|201|Absent User|NO ANSWER
out|200|Answering User|ANSWERED"
check_output "user history last 2" "2" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' --json -rx 'user history 100 last 2' | jq '.rows | length'"
check_output "user history has the columns" \
	'["time","direction","other party","name","duration","disposition","call"]' \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' --json -rx 'user history 200' | jq -c .columns"
check_output "the call column is the call id" "$c200" \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' --json -rx 'user history 200' | jq -r '.rows[0][6]'"
check_sql "the device legs carry USER and direction" "200|outbound|0" \
	"select user_ext, direction, answered_elsewhere from cdr where linkedid = '$c200'
	 and uniqueid <> '$c200'"
check_sql "the leg cancelled in the group is answered elsewhere" "205|1" \
	"select user_ext, answered_elsewhere from cdr where linkedid = '$cgrp' and user_ext = '205'"

# ---------------------------------------------------------------- missed-call e-mails
if wait_until 15 mails_are 2; then
	pass "two missed-call e-mails arrive"
else
	fail "two missed-call e-mails arrive" "$(mails) in $MBOX/new"
	lib_show "$OCTO_LOG" 30 "daemon log"
fi
check_output "201: subject" '"Subject": "Missed call from 100 (Test call)"' mail_to u201@octo.test
check_output "201: the body has the number" 'Number:  100' mail_to u201@octo.test
check_output "201: the body has the time" "Time:    $(date +%Y-%m-%d)" mail_to u201@octo.test
check_output "201: nobody answered" 'Outcome: nobody answered' mail_to u201@octo.test
check_output "201: the call id" "Call id: $c201" mail_to u201@octo.test
check_output "202: the caller gave up" 'Outcome: the caller hung up before you answered' \
	mail_to u202@octo.test
check_output "from the PBX" '"X-MailFrom": "pbx@octo.test"' mail_to u202@octo.test
for ext in 200 203 204 205 206 207; do
	check "no e-mail to $ext" test -z "$(mail_to "u$ext@octo.test")"
done
check_sql "each missed call is told once" "$c201|201
$c202|202" "select linkedid, user_ext from cdr_notified order by user_ext"

# ---------------------------------------------------------------- pricelists
cat >"$DATA/carrier.csv" <<'EOF'
prefix,description,price per minute,connection fee,billing increment
0,"Italy, other",0.50,0,60
06,Rome,0.12,0.05,60
+39,Italy (E.164),0.30,0,1
+3906,"Rome (E.164)",0.10,0.02,30
EOF
check_rx "cdr pricelist import" "prices: 4" cdr pricelist import carrier carrier.csv
check_rx "cdr pricelist show" "+3906   Rome (E.164)" cdr pricelist show carrier
check_rx "cdr pricelist show: amounts" "0.12       0.05            60 s" cdr pricelist show carrier
check_rx "cdr pricelist show lists the trunks" "carrier  4" cdr pricelist show
printf 'prefix,description,price,fee,increment\n06,Rome,0.12,0.05,60\n07,x,abc,0,60\n08,y,0.1,0.1,0\n+,z,1,1,1\n06,again,1,1,1\n' \
	>"$DATA/bad.csv"
check_fails "a bad pricelist is refused" octo_rx cdr pricelist import carrier bad.csv
check_output "line 3: the price" "bad.csv:3: has a price per minute that is not a number" \
	cli_error cdr pricelist import carrier bad.csv
check_output "line 4: the increment" "bad.csv:4: has a billing increment that is not a number" \
	cli_error cdr pricelist import carrier bad.csv
check_output "line 5: the prefix" "bad.csv:5: has a prefix that is not digits" \
	cli_error cdr pricelist import carrier bad.csv
check_output "line 6: a prefix twice" "bad.csv:6: prefix 06 is on line 2 already" \
	cli_error cdr pricelist import carrier bad.csv
check_rx "the pricelist in use stays" "prices: 4" cdr pricelist show carrier
ln -s /etc/passwd "$DATA/link.csv"
for bad in ../carrier.csv /etc/passwd.csv "a/b.csv" carrier.txt .hidden.csv link.csv \
	missing.csv; do
	check_fails "cdr pricelist import refuses $bad" octo_rx cdr pricelist import carrier "$bad"
done
check_fails "a hostile trunk name is refused" octo_rx cdr pricelist import "a;b" carrier.csv
check_rx "no pricelist for an unknown trunk" "No pricelist for trunk nolist" \
	cdr pricelist show nolist

# ---------------------------------------------------------------- costs
rome=$(call 0612345678)
milan=$(call 0287654321)
nolist=$(call 7123)
incoming=$(call 0611111111 0398765432)
wait_calls_end "the priced calls ended"
# 0612345678 is +390612345678: "+3906" is the longest prefix (30 s steps).
check_sql "cost: longest prefix, increment, connection fee" "1" \
	"select billsec >= 1 and cost = round(0.02 + 0.10 * ((billsec + 29) / 30) * 30 / 60.0, 6)
	 from cdr where uniqueid = '$rome'"
check_sql "cost: +39 beats 0 (1 s steps)" "1" \
	"select billsec >= 1 and cost = round(0.30 * billsec / 60.0, 6) from cdr
	 where uniqueid = '$milan'"
check_sql "the trunk is in the CDR" "carrier" "select trunk from cdr where uniqueid = '$rome'"
check_sql "no pricelist: no cost" "0.0" "select cost from cdr where uniqueid = '$nolist'"
check_sql "a call that came in is not priced" "carrier|0.0" \
	"select trunk, cost from cdr where uniqueid = '$incoming'"
check_sql "the calls without a trunk cost nothing" "0" \
	"select count(*) from cdr where trunk = '' and cost <> 0"

# ---------------------------------------------------------------- step logs kept
check_sql "step logs stored with the calls" "1" \
	"select count(*) > 0 from cdr_step s join cdr_debug d on d.id = s.debug_id
	 where d.uniqueid = '$rome' and s.text like '%Set(TRUNK=carrier)%'"
# An old log (40 days) and a recent one (1 day): the restart purges the old.
now_us=$(($(date +%s) * 1000000))
sql "insert into cdr_debug (cdr_id, uniqueid, channel, end_us, step_count, steps_dropped)
     values (0, '1000.1', 'Test/old-00000001', $((now_us - 40 * 86400000000)), 1, 0),
            (0, '1000.2', 'Test/recent-00000002', $((now_us - 86400000000)), 1, 0);
     insert into cdr_step select id, 0, end_us, 'an old step' from cdr_debug
     where uniqueid like '1000.%'" >/dev/null
octo_stop
octo_start || exit 1
check_rx "after a restart: call debug ID" "Set(TRUNK=carrier)" call debug "$rome"
check_rx "after a restart: the call's summary" "hangup cause: NORMAL_CLEARING (16)" \
	call debug "$rome"
check_rx "after a restart: it says the log was stored" "log:" call debug "$rome"
check_rx "after a restart: the hangup step" "hangup: NORMAL_CLEARING" call debug "$rome"
check_rx "after a restart: call debug by channel name" "Dial(205&206,5)" call debug \
	"$(sql "select channel from cdr where uniqueid = '$cgrp'")"
check_rx "after a restart: calls show history" "$rome" calls show history
check_output "calls show history last 3" "3" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' --json -rx 'calls show history last 3' | jq '.rows | length'"
check_rx "a recent log stays" "an old step" call debug 1000.2
check_fails "an old log is purged at start" octo_rx call debug 1000.1
check_sql "... from cdr.db" "0" "select count(*) from cdr_debug where uniqueid = '1000.1'"
check_fails "call debug of an unknown id" octo_rx call debug 12345.678
check_output "... says so" 'No call with id or channel name "12345.678"' \
	cli_error call debug 12345.678
check_history "after a restart: the history stays" 201 "missed|100|Test call|NO ANSWER"

# A new call is in memory and in the store; the ring and the store are not
# listed twice.
one=$(call 0699)
wait_calls_end "a call after the restart ended"
check_output "calls show history: the call once" "1" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'calls show history' | grep -c '^$one '"

# debug_days = 0: nothing kept, nothing shown.
sed -i 's/^debug_days = 7/debug_days = 0/' "$OCTO_CONF/cdr.conf"
check "reload with debug_days = 0" octo_rx module reload res_cdr_sqlite
check_fails "debug_days = 0: stored logs are not shown" octo_rx call debug "$rome"
before=$(sql "select count(*) from cdr_debug")
two=$(call 0698)
wait_calls_end "a call with debug_days = 0 ended"
check_sql "debug_days = 0: the call's log is not stored" "$before" \
	"select count(*) from cdr_debug"
check_rx "the call is still in memory" "Set(TRUNK=carrier)" call debug "$two"

check "unload res_cdr_sqlite" octo_rx module unload res_cdr_sqlite
check_fails "user history is gone with it" octo_rx user history 100
check "load res_cdr_sqlite again" octo_rx module load res_cdr_sqlite
octo_stop
