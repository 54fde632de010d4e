#!/usr/bin/env bash
# sip_call: calls between two users' phones through chan_sip, on loopback,
# with SIPp as the phones: both register (digest auth), then a call answered
# and hung up by the caller, one hung up by the callee, busy, no answer
# (Dial's time-out), the caller giving up (CANCEL), hold and resume by
# re-INVITE passed to the other phone, the echo test *43 with RTP sent and
# received back (python3 phone), `originate`, `sip show channels`, `calls
# show active`, and CDR rows when res_cdr_sqlite is loaded.
# Needs sipp (Debian package sip-tester) and python3.
. "$(dirname "$0")/../lib.sh"

for tool in sipp python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		fail "sip_call/$tool" "$tool not found (Debian: sip-tester, python3)"
		exit 1
	fi
done

octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
# SIPp 3.6 answers the first challenge only: offer MD5 first
sed -i 's/^auth_algorithms *=.*/auth_algorithms = MD5, SHA-256/' "$OCTO_CONF/sip.conf"
octo_start || exit 1
port=$OCTO_SIP_PORT
# the sample users 100 and 101 and their sample passwords (configs/users.conf)
pass_100=$(sed -n '/^\[100\]/,/^\[/s/^secret *= *//p' "$OCTO_CONF/users.conf" | head -n 1)
pass_101=$(sed -n '/^\[101\]/,/^\[/s/^secret *= *//p' "$OCTO_CONF/users.conf" | head -n 1)
printf 'SEQUENTIAL\n100;\n' >"$OCTO_TMP/u100.csv"
printf 'SEQUENTIAL\n101;\n' >"$OCTO_TMP/u101.csv"

# phone USER SCENARIO [SIPP OPTIONS...]: one SIPp phone of USER, bounded in
# time, on free ports (or $PHONE_PORT); its output goes to
# $OCTO_TMP/<scenario>-<user>.log
phone()
{
	local user=$1 scen=$2 sport mport pass
	shift 2
	sport=${PHONE_PORT:-$(octo_free_port)} || return 1
	mport=$(octo_free_port) || return 1
	pass=pass_$user
	(cd "$OCTO_TMP" && timeout 40 sipp -sf "$OCTO_CASE_DIR/sipp/$scen.xml" \
		-inf "$OCTO_TMP/u$user.csv" -au "$user" -ap "${!pass}" -i 127.0.0.1 -p "$sport" \
		-mp "$mport" -m 1 -nostdin -timeout 30s -timeout_error -recv_timeout 15000 \
		-trace_err -trace_msg "$@" 127.0.0.1:"$port") >"$OCTO_TMP/$scen-$user.log" 2>&1
}

# answering_phone USER SCENARIO [SIPP OPTIONS...]: registers USER from a free
# port, then runs the (UAS) scenario on that port.
answering_phone()
{
	local user=$1 scen=$2 p
	shift 2
	p=$(octo_free_port) || return 1
	if ! PHONE_PORT=$p phone "$user" reg; then
		echo "registration of $user failed" >"$OCTO_TMP/$scen-$user.log"
		cat "$OCTO_TMP/reg-$user.log" >>"$OCTO_TMP/$scen-$user.log"
		return 1
	fi
	PHONE_PORT=$p phone "$user" "$scen" "$@"
}

# registered USER: the registrar lists a contact of USER
registered()
{
	octo_rx sip show registrations | grep -qw "$1"
}

# call NAME CALLEE-SCENARIO CALLER-SCENARIO [CALLEE OPTIONS] -- [CALLER OPTIONS]:
# 101 answers with CALLEE-SCENARIO, 100 calls 101 with CALLER-SCENARIO.
call()
{
	local name=$1 uas=$2 uac=$3 pid st_uas st_uac
	local -a o_uas=() o_uac=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do o_uas+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	o_uac=("$@")
	answering_phone 101 "$uas" -rtp_echo ${o_uas[@]+"${o_uas[@]}"} &
	pid=$!
	if ! wait_until 10 registered 101; then
		fail "$name/register" "101 did not register"
		lib_show "$OCTO_TMP/$uas-101.log" 30
	fi
	phone 100 "$uac" -s 101 ${o_uac[@]+"${o_uac[@]}"}
	st_uac=$?
	wait "$pid"
	st_uas=$?
	if [ "$st_uac" -eq 0 ] && [ "$st_uas" -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "caller sipp status $st_uac, callee sipp status $st_uas"
		lib_show "$OCTO_TMP/$uac-100.log" 30
		lib_show "$OCTO_TMP/$uas-101.log" 30
		for f in "$OCTO_TMP/${uac}"_*_errors.log "$OCTO_TMP/${uas}"_*_errors.log; do
			[ -f "$f" ] && lib_show "$f" 40 && rm -f "$f"
		done
	fi
	# one registered contact at a time: each case registers from a new port
	octo_rx sip unregister 101 >/dev/null
	# nothing may stay up after the call
	wait_until 5 no_sip_channels || fail "$name/cleanup" "SIP channels left over"
}

no_sip_channels()
{
	octo_rx sip show channels | grep -q "channels: 0"
}

check_rx "chan_sip loaded" "running" module show like chan_sip

call "answered, caller hangs up" uas_answer uac_bye -d 1000 -- -d 2000
call "answered, callee hangs up" uas_bye uac_waitbye -d 2000
call "busy" uas_busy uac_fail
call "no answer (Dial time-out)" uas_ring uac_fail
call "caller cancels" uas_ring uac_cancel
call "hold and resume passed to the other phone" uas_hold uac_hold

# while a call is up: sip show channels, sip show channel, calls show active
answering_phone 101 uas_answer -rtp_echo -d 500 &
uas_pid=$!
wait_until 10 registered 101
phone 100 uac_bye -s 101 -d 6000 &
uac_pid=$!
if wait_until 10 sh -c "'$OCTO_BIN' -C '$OCTO_CONF' -s '$OCTO_SOCK' -rx 'sip show channels' | grep -q 'channels: 2'"; then
	pass "sip show channels lists both legs"
	check_rx "sip show channels: codec" "PCMA" sip show channels
	id=$(octo_rx sip show channels | awk '/SIP\/100-/ {print $1; exit}')
	check_rx "sip show channel" "rtp ports" sip show channel "$id"
	check_rx "calls show active" "SIP/101" calls show active
else
	fail "sip show channels lists both legs" "$(octo_rx sip show channels)"
fi
wait "$uac_pid" || fail "call for the CLI checks" "caller failed"
wait "$uas_pid"

octo_rx sip unregister 101 >/dev/null

# originate: Octo calls 101's phone; when answered it runs [users] 900
answering_phone 101 uas_bye -d 1500 &
uas_pid=$!
wait_until 10 registered 101
check_rx "originate" "Calling user 101" originate 101 users 900
if wait "$uas_pid"; then
	pass "originate: the phone rang, answered and hung up"
else
	fail "originate: the phone rang, answered and hung up" "sipp failed"
	lib_show "$OCTO_TMP/uas_bye-101.log" 30
fi
# that phone is gone: without this, "registered 101" below would see its
# contact before the next phone has registered, and the call go to it
octo_rx sip unregister 101 >/dev/null

# the echo test: RTP sent to *43 comes back
if timeout 30 python3 "$OCTO_CASE_DIR/phone.py" 127.0.0.1 "$port" 100 "$pass_100" '*43' \
	>"$OCTO_TMP/echo.log" 2>&1; then
	pass "echo test *43: RTP comes back"
else
	fail "echo test *43: RTP comes back" "see below"
	lib_show "$OCTO_TMP/echo.log" 30
fi

# raw NAME PHONE.PY-OPTIONS...: user 100 calls with phone.py
raw()
{
	local name=$1
	shift
	if timeout 30 python3 "$OCTO_CASE_DIR/phone.py" 127.0.0.1 "$port" 100 "$pass_100" "$@" \
		>"$OCTO_TMP/raw.log" 2>&1; then
		pass "$name"
	else
		fail "$name" "phone.py $*"
		lib_show "$OCTO_TMP/raw.log" 30
	fi
}
raw "INFO digit # ends the echo test: Octo hangs up" '*43' --info '#'
raw "Require: 100rel is refused (420)" 900 --header "Require: 100rel" --expect-status 420 \
	--expect-header "Unsupported: 100rel"
raw "Session-Expires below Min-SE: 422" 900 --header "Session-Expires: 30" \
	--expect-status 422 --expect-header "Min-SE: 90"
raw "Session-Expires answered, the phone refreshes" 900 --header "Supported: timer" \
	--header "Session-Expires: 1800" --expect-status 200 \
	--expect-header "Session-Expires: 1800;refresher=uac"
raw "SDP without c= line: 488" 900 --no-c-line --expect-status 488
wait_until 5 no_sip_channels || fail "raw calls/cleanup" "SIP channels left over"

# RTP both ways through a bridged call: 101's phone echoes what it gets
answering_phone 101 uas_answer -rtp_echo -d 500 &
uas_pid=$!
wait_until 10 registered 101
if timeout 30 python3 "$OCTO_CASE_DIR/phone.py" 127.0.0.1 "$port" 100 "$pass_100" 101 \
	>"$OCTO_TMP/relay.log" 2>&1; then
	pass "RTP relayed both ways between two phones"
else
	fail "RTP relayed both ways between two phones" "see below"
	lib_show "$OCTO_TMP/relay.log" 30
fi
wait "$uas_pid"
octo_rx sip unregister 101 >/dev/null

if octo_rx module show like res_cdr_sqlite | grep -q running; then
	check_rx "CDR rows" "ANSWERED" cdr show
fi
