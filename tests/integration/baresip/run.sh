#!/usr/bin/env bash
# baresip: two real SIP phones (baresip, headless, driven through its
# ctrl_tcp module by ctl.py) register as 100 and 101 with digest auth through
# chan_sip, then call each other through Dial: 100 calls 101 (full URI) and
# hangs up, 101 calls 100 (just the number) and 100, the callee, hangs up.
# Each phone answers by itself and plays its own tone from a WAV file (100:
# 440 Hz, 101: 1000 Hz); what each phone decodes from the RTP it gets is
# recorded (baresip's sndfile filter: baresip 1.0's aufile module has an
# audio source but no player) and must hold the other phone's tone
# (tones.py). Also checked: sip show channels, calls show active, a CDR row
# ANSWERED per call, and the un-registration when the phones quit.
# Needs baresip (Debian package baresip-core), sox and python3.
. "$(dirname "$0")/../lib.sh"

for tool in baresip sox python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		fail "baresip/$tool" "$tool not found (Debian packages baresip-core, sox, python3)"
		exit 1
	fi
done
BS_MODULES=${BS_MODULES:-/usr/lib/baresip/modules}
for mod in account contact menu ctrl_tcp g711 aufile; do
	if [ ! -f "$BS_MODULES/$mod.so" ]; then
		fail "baresip/$mod" "$BS_MODULES/$mod.so not found (Debian package baresip-core)"
		exit 1
	fi
done

octo_config_dir || exit 1
# baresip 1.0 (libre 1.1) computes MD5 digests only, and gives up on a 401
# that also offers SHA-256 ("Register: Function not implemented", ENOSYS),
# whatever the order: offer MD5 alone
sed -i 's/^auth_algorithms *=.*/auth_algorithms = MD5/' "$OCTO_CONF/sip.conf"
octo_start || exit 1
port=$OCTO_SIP_PORT
octo_rx sip set debug on >/dev/null

# the sample users 100 and 101 and their sample passwords (configs/users.conf)
secret()
{
	sed -n "/^\\[$1\\]/,/^\\[/s/^secret *= *//p" "$OCTO_CONF/users.conf" | head -n 1
}

# freq USER: the tone USER's phone plays (Hz)
freq()
{
	case $1 in
	100) echo 440 ;;
	*) echo 1000 ;;
	esac
}

# the tones the phones play, long enough for a whole call
for user in 100 101; do
	if ! sox -n -r 8000 -c 1 -b 16 "$OCTO_TMP/tone-$user.wav" synth 15 sine "$(freq "$user")" \
		vol 0.5; then
		fail "baresip/tones" "sox could not make the tones"
		exit 1
	fi
done

BS_PIDS=()
# Stops the phones still running (by PID), then the daemon (lib.sh).
bs_exit()
{
	local status=$? pid
	for pid in ${BS_PIDS[@]+"${BS_PIDS[@]}"}; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in ${BS_PIDS[@]+"${BS_PIDS[@]}"}; do
		wait_until 5 bash -c "! kill -0 $pid" || kill -KILL "$pid" 2>/dev/null
	done
	(exit "$status")
	lib_exit
}
trap bs_exit EXIT

# phone USER: writes the config folder of USER's baresip ($OCTO_TMP/bs-USER)
# and starts it (it quits by itself after 90 s: -t), with its output in
# $OCTO_TMP/bs-USER.log.
# Sets CTL_USER (its ctrl_tcp port).
phone()
{
	local user=$1 dir="$OCTO_TMP/bs-$1" sport cport
	sport=$(octo_free_port) || return 1
	cport=$(octo_free_port) || return 1
	printf -v "CTL_$user" '%s' "$cport"
	mkdir -p "$dir/rec"
	cat >"$dir/config" <<EOF
# baresip config of user $user, written by tests/integration/baresip/run.sh
poll_method		epoll
sip_listen		127.0.0.1:$sport
net_interface		127.0.0.1
call_local_timeout	30
call_max_calls		2
audio_path		/usr/share/baresip
audio_source		aufile,$OCTO_TMP/tone-$user.wav
ausrc_srate		8000
auplay_srate		8000
ausrc_channels		1
auplay_channels		1
rtp_ports		$((sport + 2))-$((sport + 40))
rtcp_mux		no
jitter_buffer_delay	1-5
module_path		$BS_MODULES
module			g711.so
module			aufile.so
module			sndfile.so
module_tmp		account.so
module_app		contact.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$cport
ringback_disabled	yes
snd_path		$dir/rec
EOF
	# digest auth with the user's password; answermode=auto: answers at once;
	# no STUN/ICE, no SRTP
	printf '<sip:%s@127.0.0.1:%s;transport=udp>;auth_pass=%s;answermode=auto;regint=600;audio_codecs=PCMU,PCMA;medianat=;mediaenc=\n' \
		"$user" "$port" "$(secret "$user")" >"$dir/accounts"
	: >"$dir/contacts"
	baresip -f "$dir" -v -t 90 </dev/null >"$OCTO_TMP/bs-$user.log" 2>&1 &
	BS_PIDS+=($!)
}

# registered USER: the registrar lists a contact of USER with baresip's agent
registered()
{
	octo_rx sip show registrations "$1" | grep -q "baresip"
}

sip_channels()
{
	octo_rx sip show channels | grep -q "channels: $1"
}

# established USER N: USER's phone has seen N calls established
established()
{
	[ "$(grep -c "Call established" "$OCTO_TMP/bs-$1.log")" -ge "$2" ]
}

# show_all: the logs that tell what went wrong
show_all()
{
	lib_show "$OCTO_TMP/bs-100.log" 40 "baresip 100"
	lib_show "$OCTO_TMP/bs-101.log" 40 "baresip 101"
	lib_show "$OCTO_LOG" 80 "daemon log"
}

if ! phone 100 || ! phone 101; then
	fail "baresip/ports" "no free ports"
	exit 1
fi
ok=1
for user in 100 101; do
	if wait_until 15 registered "$user"; then
		pass "$user registers (digest auth)"
	else
		fail "$user registers (digest auth)" "$(octo_rx sip show registrations)"
		ok=0
	fi
done
if [ "$ok" -ne 1 ]; then
	show_all
	exit 1
fi

# ended USER N: USER's phone has seen N calls end and closed their audio
# (the recorder writes its WAV headers then)
ended()
{
	[ "$(grep -c "audio: destroyed" "$OCTO_TMP/bs-$1.log")" -ge "$2" ]
}

# heard NAME USER WANT OTHER: USER's recording of the last call holds the
# WANT Hz tone, not the OTHER
heard()
{
	local f
	f=$(find "$OCTO_TMP/bs-$2/rec" -name 'dump-*-dec.wav' | head -n 1)
	if [ -z "$f" ]; then
		fail "$1" "baresip $2 recorded nothing (no $OCTO_TMP/bs-$2/rec/dump-*-dec.wav)"
		return 1
	fi
	check "$1" python3 "$OCTO_CASE_DIR/tones.py" "$f" "$3" "$4" && cat "$OCTO_OUT"
}

# call N CALLER CALLEE TARGET HANGUP: CALLER's phone dials TARGET (CALLEE),
# the callee's phone answers by itself, both play their tones for 3 s,
# HANGUP's phone hangs up; each must have heard the other's tone.
calls=0
call()
{
	local n=$1 caller=$2 callee=$3 target=$4 hangup=$5 user cport f_caller f_callee
	local name="call $n: $caller calls $callee"
	f_caller=$(freq "$caller")
	f_callee=$(freq "$callee")
	calls=$((calls + 1))
	for user in 100 101; do
		rm -f "$OCTO_TMP/bs-$user/rec/"*.wav
	done
	cport=CTL_$caller
	check "$name: dial $target" python3 "$OCTO_CASE_DIR/ctl.py" "${!cport}" dial "$target" ||
		return 1
	if wait_until 10 established "$caller" "$calls" && wait_until 5 established "$callee" "$calls"; then
		pass "$name: answered, the call is up on both phones"
	else
		fail "$name: answered, the call is up on both phones" "no 'Call established'"
		show_all
		return 1
	fi
	check_rx "$name: sip show channels: both legs" "channels: 2" sip show channels
	check_rx "$name: calls show active" "SIP/$callee" calls show active
	# the tones flow for a while
	sleep 3
	cport=CTL_$hangup
	check "$name: $hangup hangs up" python3 "$OCTO_CASE_DIR/ctl.py" "${!cport}" hangup
	wait_until 10 sip_channels 0 ||
		fail "$name: no SIP channel left" "$(octo_rx sip show channels)"
	for user in "$caller" "$callee"; do
		wait_until 10 ended "$user" "$calls" ||
			fail "$name: the call ends on $user's phone" "no 'audio: destroyed' in its log"
	done
	heard "$name: $caller heard $callee's $f_callee Hz tone" "$caller" "$f_callee" "$f_caller"
	heard "$name: $callee heard $caller's $f_caller Hz tone" "$callee" "$f_caller" "$f_callee"
	if octo_rx module show like res_cdr_sqlite | grep -q running; then
		wait_until 5 cdr_answered "$caller" "$callee"
		check_output "$name: CDR row ANSWERED" "ANSWERED" octo_rx cdr show last 1
		cdr_answered "$caller" "$callee" ||
			fail "$name: CDR row from $caller to $callee" "$(cat "$OCTO_OUT")"
	fi
}

# cdr_answered CALLER CALLEE: the newest CDR is an answered call CALLER -> CALLEE
# (columns: start date and time, caller, dialed, called, disposition, ...)
cdr_answered()
{
	octo_rx cdr show last 1 |
		awk -v a="$1" -v b="$2" 'NR == 2 && $3 == a && $5 == b && $6 == "ANSWERED" { ok = 1 }
			END { exit !ok }'
}

call 1 100 101 "sip:101@127.0.0.1:$port" 100
call 2 101 100 100 100

# the phones un-register when they quit
for user in 100 101; do
	cport=CTL_$user
	python3 "$OCTO_CASE_DIR/ctl.py" "${!cport}" quit >/dev/null 2>&1
done
for pid in "${BS_PIDS[@]}"; do
	wait_until 10 bash -c "! kill -0 $pid" || fail "baresip $pid quits" "still running"
done
wait_until 5 sh -c "! '$OCTO_BIN' -C '$OCTO_CONF' -s '$OCTO_SOCK' -rx 'sip show registrations' | grep -q baresip"
check_output "both phones un-registered" "registrations: 0" octo_rx sip show registrations
