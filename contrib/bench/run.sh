#!/usr/bin/env bash
# run.sh - the SIP benchmark driver: SIPp phones on loopback drive a running
# Octo daemon step by step and each step prints one line: the rate or the
# number of calls, calls attempted and failed, Octo's CPU (utime+stime from
# /proc/PID/stat over the step, 100% = one core) and its RSS (VmRSS). A
# summary table follows. Meant for a 2-core machine; it builds nothing.
#
#   contrib/bench/run.sh [OPTIONS] MODE...   MODE: calls, media, register, cdr, all
#
#   calls     SIPp UAC -> Octo -> SIPp UAS: calls with digest auth, held 1 s,
#             no media; steps are call rates (calls/s), 20 s each
#             (default 100,200,400,800,1200,1600)
#   media     steps are concurrent calls carrying G.711 A-law RTP both ways
#             (SIPp play_pcap_audio on both phones, relayed by Octo); the
#             calls are set up at --ramp calls/s, then Octo's CPU is sampled
#             for the step time while all of them are up
#             (default 50,100,200,400,800,1200,1600). SIPp's pcap play sends
#             through a raw socket per playing leg (IPPROTO_UDP, 2 per
#             call), and the kernel hands every UDP packet to 127.0.0.1 to
#             each of them, in the sender's context: each packet Octo
#             relays costs it a clone per playing leg, so its CPU per call
#             grows with the calls, and SIPp saturates past ~400 calls.
#             --rtp stream measures without that (see below)
#   register  REGISTER with digest auth from --users users (SIPp CSV
#             injection, each REGISTER the next user); steps are rates
#             (REGISTER/s), 20 s each (default 100,200,400,800,1600,3200,6400)
#   cdr       the calls mode's steps, each followed by a count of the CDR
#             rows the call legs left in cdr.db (the default sqlite
#             backend): every call SIPp saw succeed must have its answered
#             incoming and outgoing legs there (none missing, else the run
#             fails), and the rows written per second over the step and
#             the writer's catch-up (the time after the step until the last
#             row was in) are shown. Needs sqlite3.
#   all       calls, media and register, one after the other
#
# Options:
#   --quick          tiny rates and durations, to check the driver (< 60 s)
#   --rates LIST     comma-separated steps for the mode(s) given
#   --duration S     seconds per step (default 20)
#   --hold MS        calls mode: how long a call is held (default 1000)
#   --ramp N         media mode: call set-up rate (default 200 calls/s)
#   --users N        generated users (default 1000)
#   --pcap FILE      media mode: the RTP to play (default: a PCMA tone made
#                    by make_pcap.py as long as the longest call)
#   --rtp pcap|stream  media mode: how SIPp sends RTP: play_pcap_audio (raw
#                    sockets, the default) or rtp_stream (SIPp's RTP
#                    threads, plain UDP sockets, a second of the tone
#                    looped): what a relay costs with real phones
#   --settle S       after each mode, watch Octo idle for S more seconds and
#                    print its RSS and heap every 30 s (does the memory of the
#                    load go back? the nonces of the load are remembered for
#                    sip.conf's nonce_lifetime, 5 minutes by default)
#   --keep           keep the temp folder (configs, logs, SIPp traces)
#   -h, --help       this text
#
# Environment: OCTO_BUILD (a built tree; default build/run of contrib/run.sh),
# OCTO_BIN (the daemon; default $OCTO_BUILD/core/octo), TMPDIR,
# BENCH_LOOP_NICE (octo.conf loop_nice for the run; default the sample's),
# BENCH_LEFTOVER_WAIT (seconds to wait, after a mode, for Octo's RTP sockets
# to close before warning; default 5, 2 with --quick), BENCH_IDLE_WAIT
# (seconds to wait after a step for its calls to end; default 45).
#
# What to measure: a build WITHOUT sanitizers, optimised, e.g.
#   mkdir -p /tmp/b && cd /tmp/b && /path/to/octo/configure CFLAGS="-O2 -g" && make -j2
#   OCTO_BUILD=/tmp/b contrib/bench/run.sh all
# (contrib/run.sh --build-only gives such a build in build/run). Numbers
# from an ASan/UBSan build, or from a machine busy with anything else, say
# little. SIPp itself needs CPU on the same machine (its share is shown):
# when SIPp saturates a core, the step measures SIPp, not Octo.
#
# Each run makes a private temp folder: a copy of the sample configs/ moved
# to 127.0.0.1 and free ports, with the benchmark users, a [bench] procedure,
# max_calls = 0, qualify off and a wide RTP range; Octo runs on it with -D
# (state in the temp folder), once per mode. Everything it starts is stopped
# on exit (also on Ctrl-C); each SIPp run is bounded in time. Needs sipp
# (Debian: sip-tester) and python3; the media mode needs raw sockets (root or
# CAP_NET_RAW) for SIPp's pcap play.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)

# ---------------------------------------------------------------- options
quick=no
rates_opt=""
duration=20
hold_ms=1000
ramp=200
users=1000
pcap_opt=""
rtp=pcap
keep=no
settle=0
modes=()

bench_usage()
{
	sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

bench_die()
{
	echo "bench: $*" >&2
	exit 2
}

bench_need_int()
{
	[[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || bench_die "$1 needs a positive number, not '$2'"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=yes ;;
	--rates|--duration|--hold|--ramp|--users|--pcap|--rtp|--settle)
		[ $# -ge 2 ] || bench_die "$1 needs a value"
		case "$1" in
		--rates) rates_opt=$2 ;;
		--duration) bench_need_int "$1" "$2"; duration=$2 ;;
		--hold) bench_need_int "$1" "$2"; hold_ms=$2 ;;
		--ramp) bench_need_int "$1" "$2"; ramp=$2 ;;
		--users) bench_need_int "$1" "$2"; users=$2 ;;
		--settle) bench_need_int "$1" "$2"; settle=$2 ;;
		--pcap) pcap_opt=$2 ;;
		--rtp)
			[ "$2" = pcap ] || [ "$2" = stream ] || bench_die "--rtp: pcap or stream"
			rtp=$2 ;;
		esac
		shift
		;;
	--keep) keep=yes ;;
	-h|--help) bench_usage; exit 0 ;;
	calls|media|register|cdr) modes+=("$1") ;;
	all) modes+=(calls media register) ;;
	*) bench_die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[ ${#modes[@]} -gt 0 ] || { bench_usage >&2; exit 2; }
if [ -n "$rates_opt" ]; then
	[[ "$rates_opt" =~ ^[0-9]+(,[0-9]+)*$ ]] || bench_die "--rates: comma-separated numbers"
fi
if [ -n "$pcap_opt" ]; then
	[ -r "$pcap_opt" ] || bench_die "--pcap: cannot read $pcap_opt"
	pcap_opt=$(cd "$(dirname "$pcap_opt")" && pwd)/$(basename "$pcap_opt")
fi
leftover_wait=${BENCH_LEFTOVER_WAIT:-5}
if [ "$quick" = yes ]; then
	duration=3
	leftover_wait=${BENCH_LEFTOVER_WAIT:-2}
	users=20
	ramp=20
fi
[ "$users" -le 20000 ] || bench_die "--users: at most 20000"

for tool in sipp python3 ss; do
	command -v "$tool" >/dev/null 2>&1 ||
		bench_die "$tool not found (Debian: sip-tester, python3, iproute2)"
done

OCTO_BUILD=${OCTO_BUILD:-$src/build/run}
OCTO_BIN=${OCTO_BIN:-$OCTO_BUILD/core/octo}
[ -x "$OCTO_BIN" ] || bench_die "no daemon at $OCTO_BIN: build one (see --help) or set OCTO_BUILD"
[ -d "$OCTO_BUILD/modules" ] || bench_die "no modules under $OCTO_BUILD/modules (set OCTO_BUILD)"

# ---------------------------------------------------------------- state
tmp=$(mktemp -d "${TMPDIR:-/tmp}/octo-bench.XXXXXX") || exit 1
conf="$tmp/conf"
state="$tmp/state"
sock="$tmp/octo.ctl"
log="$tmp/daemon.log"
octo_pid=""
uas_pid=""
sipp_pid=""
ports_used=" "
results=()
hz=$(getconf CLK_TCK)
first_user=10000
callee=$((first_user - 1))

bench_cleanup()
{
	trap - EXIT INT TERM
	bench_kill "$sipp_pid"
	bench_kill "$uas_pid"
	octo_stop
	if [ "$keep" = yes ]; then
		echo "bench: kept $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap bench_cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM

# bench_kill PID: SIGTERM, SIGKILL after 3 s, reaped. Only our own children.
bench_kill()
{
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 30); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# bench_port LOW HIGH: a loopback port in LOW..HIGH that nothing listens on.
bench_port()
{
	local port
	for _ in $(seq 1 200); do
		port=$(($1 + RANDOM % ($2 - $1 + 1)))
		case "$ports_used" in *" $port "*) continue ;; esac
		[ -z "$(ss -Htuln "( sport = :$port )" 2>/dev/null | head -n 1)" ] || continue
		ports_used="$ports_used$port "
		echo "$port"
		return 0
	done
	echo "bench: no free port in $1..$2" >&2
	return 1
}

# CPU ticks (utime+stime) of PID, or nothing when it is gone.
bench_ticks()
{
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	awk '{print $12 + $13}' <<<"$s"
}

# VmRSS of PID in kB.
bench_rss()
{
	awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null
}

# Datagrams delivered to a UDP socket on 127.0.0.1:PORT that nobody reads
# (SIPp's media sockets): once its buffer is full each one is a drop, which
# the kernel counts (ss -m: skmem d<N>).
udp_drops()
{
	ss -Huanm "( sport = :$1 )" 2>/dev/null | sed -n 's/.*,d\([0-9]*\)).*/\1/p' | head -n 1
}

# Call legs with media: Octo's RTP sockets (RTP + RTCP per leg) / 2.
octo_rtp_legs()
{
	ss -Huanp 2>/dev/null | awk -v p="pid=$octo_pid," -v lo=10000 -v hi=65000 '
		index($0, p) { n = split($4, a, ":"); port = a[n] + 0
			if (port >= lo && port <= hi) c++ }
		END { print int(c / 2) }'
}

# RTP datagrams that reached the two SIPp phones so far (media mode).
media_drops()
{
	local a=0 b=0
	if [ -n "${uac_mport:-}" ]; then
		a=$(udp_drops "$uac_mport")
		b=$(udp_drops "$uas_mport")
	fi
	echo $(( ${a:-0} + ${b:-0} ))
}

octo_rx()
{
	timeout 10 "$OCTO_BIN" -C "$conf" -s "$sock" -rx "$*" </dev/null 2>&1
}

# ---------------------------------------------------------------- config
bench_config()
{
	local d
	# a fresh state per mode: registrations survive a restart in the store
	rm -rf "$conf" "$state"
	mkdir -p "$conf" "$state"
	cp -R "$src/configs/." "$conf/"
	chmod -R u+w "$conf"
	sip_port=$(bench_port 5100 9999) || return 1
	tls_port=$(bench_port 5100 9999) || return 1
	# loopback, free ports, no qualify (SIPp does not answer OPTIONS), the
	# widest RTP range (SIPp's own ports are taken below it), no RTP
	# time-out (the calls mode sends none), MD5 first for SIPp 3.6
	sed -i -e 's/^bindaddr *=.*/bindaddr = 127.0.0.1/' \
		-e "s/^port *=.*/port = $sip_port/" \
		-e "s/^tls_port *=.*/tls_port = $tls_port/" \
		-e 's/^tcp *=.*/tcp = no/' \
		-e 's/^qualify_interval *=.*/qualify_interval = 0/' \
		-e 's/^auth_algorithms *=.*/auth_algorithms = MD5/' \
		-e 's/^rtp_start *=.*/rtp_start = 10000/' \
		-e 's/^rtp_end *=.*/rtp_end = 65000/' \
		-e 's/^rtp_timeout *=.*/rtp_timeout = 0/' "$conf/sip.conf"
	grep -q '^max_calls' "$conf/octo.conf" &&
		sed -i 's/^max_calls *=.*/max_calls = 0/' "$conf/octo.conf"
	[ -z "${BENCH_LOOP_NICE:-}" ] ||
		sed -i "s/^loop_nice *=.*/loop_nice = $BENCH_LOOP_NICE/" "$conf/octo.conf"
	# the answering phone is the user just before the callers
	"$here/gen_users.sh" $((users + 1)) "$callee" >>"$conf/users.conf"
	cat >>"$conf/dialplan.conf" <<-EOF

	; ---- added by contrib/bench/run.sh
	[bench]
	description = Benchmark calls: every user calls the answering phone
	exten => $callee,1,Dial($callee,30)
	same => n,Hangup()
	EOF
	"$here/gen_csv.sh" "$users" "$first_user" >"$tmp/users.csv"
	"$here/gen_csv.sh" 1 "$callee" >"$tmp/callee.csv"
	mkdir -p "$tmp/modules"
	while IFS= read -r -d '' d; do
		ln -sf "$d" "$tmp/modules/$(basename "$d")"
	done < <(find "$OCTO_BUILD/modules" -path '*/.libs/*.so' -type f -print0 2>/dev/null)
}

# ---------------------------------------------------------------- daemon
octo_start()
{
	local deadline=$((SECONDS + 30))
	rm -f "$sock"
	"$OCTO_BIN" -f -C "$conf" -D "$state" -s "$sock" -M "$tmp/modules" \
		</dev/null >>"$log" 2>&1 &
	octo_pid=$!
	while [ "$SECONDS" -lt "$deadline" ]; do
		if octo_rx core ready >/dev/null; then
			return 0
		fi
		if ! kill -0 "$octo_pid" 2>/dev/null; then
			wait "$octo_pid"
			echo "bench: the daemon exited while starting (status $?):" >&2
			tail -n 30 "$log" >&2
			octo_pid=""
			return 1
		fi
		sleep 0.2
	done
	echo "bench: no answer to 'core ready' within 30 s" >&2
	tail -n 30 "$log" >&2
	return 1
}

octo_stop()
{
	[ -n "$octo_pid" ] || return 0
	kill -TERM "$octo_pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$octo_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$octo_pid" 2>/dev/null; then
		echo "bench: the daemon did not stop within 10 s of SIGTERM: killed" >&2
		kill -KILL "$octo_pid" 2>/dev/null
	fi
	wait "$octo_pid" 2>/dev/null
	octo_pid=""
}

# Number of live SIP channels (call legs).
octo_channels()
{
	octo_rx sip show channels | sed -n 's/.*channels: \([0-9]*\).*/\1/p' | head -n 1
}

# Waits (at most BENCH_IDLE_WAIT s, default 45) until no call is left from
# the previous step. A call whose caller vanished ends by itself: no ACK for
# our 200 within 64*T1 (32 s) ends it with a BYE; so channels that take
# longer than that to go are a bug. Says how long stragglers took.
octo_idle()
{
	local n n0="" t0=$SECONDS wait=${BENCH_IDLE_WAIT:-45}
	while :; do
		n=$(octo_channels)
		[ -z "$n0" ] && n0=${n:-0}
		if [ "${n:-0}" = 0 ]; then
			[ "$n0" != 0 ] && [ $((SECONDS - t0)) -ge 5 ] &&
				echo "bench: note: $n0 SIP channels were still up after the step," \
					"all ended within $((SECONDS - t0)) s" >&2
			return 0
		fi
		[ $((SECONDS - t0)) -ge "$wait" ] && break
		sleep 0.5
	done
	echo "bench: $n SIP channels still up $wait s after the step:" >&2
	octo_rx sip show channels | head -n 12 >&2
	return 1
}

# After a mode: once the last SIP transaction is over (UDP transactions
# linger up to 32 s to absorb retransmissions), Octo's RSS should be back
# near where it started. Waits up to BENCH_TXN_WAIT s (default 40).
octo_rss_after()
{
	local n t0=$SECONDS wait=${BENCH_TXN_WAIT:-40}
	while :; do
		n=$(octo_rx sip show transactions |
			sed -n 's/^total: *\([0-9]*\).*/\1/p' | head -n 1)
		[ "${n:-0}" = 0 ] && break
		if [ $((SECONDS - t0)) -ge "$wait" ]; then
			echo "bench: note: $n SIP transactions still open" \
				"$wait s after the mode" >&2
			break
		fi
		sleep 1
	done
	sleep 1
	echo "bench: $mode: RSS $(bench_rss "$octo_pid") kB after the load" \
		"($((SECONDS - t0)) s after the calls ended; ${rss_start:-?} kB at start)"
	octo_memory "after the load"
	[ "$settle" -gt 0 ] && octo_settle
}

# --settle: Octo idle after the load, every 30 s for $settle s.
octo_settle()
{
	local t0=$SECONDS t
	while [ $((SECONDS - t0)) -lt "$settle" ]; do
		t=$((settle - (SECONDS - t0)))
		sleep $((t < 30 ? t : 30))
		echo "bench: $mode: idle $((SECONDS - t0)) s more: RSS $(bench_rss "$octo_pid") kB"
		octo_memory "idle $((SECONDS - t0)) s more"
	done
}

# octo_memory WHEN: malloc's heap in use and kept, threads (core show memory).
octo_memory()
{
	echo "bench: $mode: $1: $(octo_rx core show memory |
		sed -n 's/^ *\(heap [^:]*\|threads\|call thread stacks\): *\(.*\)$/\1 \2/p' |
		paste -sd ';' -)"
}

# After a mode: Octo's RTP sockets should close with the calls. Waits up to
# BENCH_LEFTOVER_WAIT seconds and says how long they stayed open.
octo_rtp_leftover()
{
	local n n0 t0=$SECONDS wait=$leftover_wait
	n0=$(octo_rtp_legs)
	[ "${n0:-0}" = 0 ] && return 0
	while [ $((SECONDS - t0)) -lt "$wait" ]; do
		sleep 0.5
		n=$(octo_rtp_legs)
		if [ "${n:-0}" = 0 ]; then
			echo "bench: note: $n0 RTP socket pairs stayed open after the calls," \
				"closed within $((SECONDS - t0 + 1)) s" >&2
			return 0
		fi
	done
	echo "bench: WARNING: $n RTP socket pairs still open in Octo $wait s after the calls" \
		"ended (sip show channels: $(octo_channels) channels); e.g.:" >&2
	ss -Huanp 2>/dev/null | grep "pid=$octo_pid," | awk '{print "  " $4}' | sort | head -n 4 >&2
}

# ---------------------------------------------------------------- SIPp
# sipp_stat FILE COLUMN: the last value of a column of a SIPp -trace_stat file.
sipp_stat()
{
	[ -s "$1" ] || { echo 0; return; }
	awk -F';' -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		c { v = $c } END { print (v == "" ? 0 : v + 0) }' "$1"
}

# The scenario for a mode: uac.xml/uas.xml, with pcap play in the media mode.
sipp_scenario()
{
	local name=$1 out="$tmp/$1.xml"
	if [ "$mode" = media ] && [ "$rtp" = stream ]; then
		sed "s|<!-- @MEDIA@ -->|<nop><action><exec rtp_stream=\"$pcap,-1,8\"/></action></nop>|" \
			"$here/sipp/$name.xml" >"$out"
	elif [ "$mode" = media ]; then
		sed "s|<!-- @MEDIA@ -->|<nop><action><exec play_pcap_audio=\"$pcap\"/></action></nop>|" \
			"$here/sipp/$name.xml" >"$out"
	else
		cp "$here/sipp/$name.xml" "$out"
	fi
	echo "$out"
}

# Registers the callee from UAS_PORT, then starts the answering phone there.
uas_start()
{
	local scen
	uas_port=$(bench_port 5100 9999) || return 1
	uas_mport=$(bench_port 5100 9999) || return 1
	if ! (cd "$tmp" && timeout 20 sipp -sf "$here/sipp/register.xml" -inf "$tmp/callee.csv" \
		-key expires 3600 -i 127.0.0.1 -p "$uas_port" -m 1 -nostdin -timeout 15s \
		-timeout_error -recv_timeout 5000 127.0.0.1:"$sip_port" >"$tmp/callee-reg.log" 2>&1); then
		echo "bench: the answering phone ($callee) did not register:" >&2
		tail -n 20 "$tmp/callee-reg.log" >&2
		return 1
	fi
	scen=$(sipp_scenario uas) || return 1
	(cd "$tmp" && exec sipp -sf "$scen" -key callee "$callee" -i 127.0.0.1 -p "$uas_port" \
		-mi 127.0.0.1 -mp "$uas_mport" -nostdin -buff_size 4194304 -max_recv_loops 10000 \
		-trace_stat -stf "$tmp/uas-$mode.csv" -fd 1 >"$tmp/uas-$mode.log" 2>&1) &
	uas_pid=$!
	sleep 0.5
	if ! kill -0 "$uas_pid" 2>/dev/null; then
		echo "bench: the answering SIPp did not start:" >&2
		tail -n 20 "$tmp/uas-$mode.log" >&2
		uas_pid=""
		return 1
	fi
}

uas_stop()
{
	bench_kill "$uas_pid"
	uas_pid=""
}

# ---------------------------------------------------------------- a step
# step_run BOUND FROM SPAN SIPP-ARGS...: runs one SIPp UAC to its end
# (killed after BOUND seconds) and samples Octo over the whole run when FROM
# is 0, else over SPAN seconds starting FROM seconds after the start (the
# media mode: only while all the calls are up).
# Sets step_* variables.
step_run()
{
	local bound=$1 from=$2 span=$3 t0 t1 tn c0="" c1="" s0 s1="" rss max_rss=0 now
	local u0 u1 ch="" deadline d0=0 d1=0
	shift 3
	rm -f "$tmp/step.csv"
	t0=$(date +%s.%N)
	(cd "$tmp" && exec sipp "$@" -i 127.0.0.1 -nostdin -buff_size 4194304 \
		-max_recv_loops 10000 -trace_stat -stf "$tmp/step.csv" -fd 1 \
		127.0.0.1:"$sip_port" >>"$tmp/uac-$mode.log" 2>&1) &
	sipp_pid=$!
	deadline=$((SECONDS + bound))
	[ "$from" = 0 ] && c0=$(bench_ticks "$octo_pid") && t0=$(date +%s.%N) &&
		s0=$(bench_ticks "$sipp_pid")
	s0=${s0:-0}
	u0=$(bench_ticks "${uas_pid:-0}" || echo 0)
	while kill -0 "$sipp_pid" 2>/dev/null; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			echo "bench: SIPp still running after $bound s: stopped" >&2
			bench_kill "$sipp_pid"
			break
		fi
		now=$(date +%s.%N)
		if [ -z "$c0" ] && awk -v a="$now" -v b="$t0" -v f="$from" 'BEGIN { exit !(a - b >= f) }'; then
			c0=$(bench_ticks "$octo_pid") || c0=0
			s0=$(bench_ticks "$sipp_pid") || s0=0
			u0=$(bench_ticks "${uas_pid:-0}" || echo 0)
			d0=$(media_drops)
			t0=$now
		fi
		if [ -n "$c0" ] && [ -z "$c1" ] && [ "$span" != 0 ] &&
			awk -v a="$now" -v b="$t0" -v f="$span" 'BEGIN { exit !(a - b >= f) }'; then
			c1=$(bench_ticks "$octo_pid") || c1=0
			u1=$(bench_ticks "${uas_pid:-0}" || echo 0)
			s1=$(bench_ticks "$sipp_pid") || s1=$s0
			t1=$now
			d1=$(media_drops)
			ch=$(octo_rtp_legs)
		fi
		rss=$(bench_rss "$octo_pid")
		[ "${rss:-0}" -gt "$max_rss" ] && max_rss=$rss
		tn=$(bench_ticks "$sipp_pid") && [ -z "$c1" ] && s1=$tn
		sleep 0.25
	done
	wait "$sipp_pid" 2>/dev/null
	sipp_pid=""
	if [ -z "$c1" ]; then
		c1=$(bench_ticks "$octo_pid") || c1=${c0:-0}
		u1=$(bench_ticks "${uas_pid:-0}" || echo 0)
		t1=$(date +%s.%N)
	fi
	c0=${c0:-$c1}
	rss=$(bench_rss "$octo_pid")
	[ "${rss:-0}" -gt "$max_rss" ] && max_rss=$rss
	step_wall=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
	step_cpu=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v w="$step_wall" \
		'BEGIN { printf "%.1f", (w > 0 ? 100 * c / hz / w : 0) }')
	step_sipp_cpu=$(awk -v c="$(( ${s1:-0} - s0 + ${u1:-0} - ${u0:-0} ))" -v hz="$hz" \
		-v w="$step_wall" 'BEGIN { printf "%.1f", (w > 0 ? 100 * c / hz / w : 0) }')
	step_rss=$(awk -v k="$max_rss" 'BEGIN { printf "%.1f", k / 1024 }')
	step_created=$(sipp_stat "$tmp/step.csv" "OutgoingCall(C)")
	step_ok=$(sipp_stat "$tmp/step.csv" "SuccessfulCall(C)")
	step_failed=$(sipp_stat "$tmp/step.csv" "FailedCall(C)")
	step_channels=${ch:-}
	step_rtp=""
	if [ "$d1" -gt 0 ]; then
		step_rtp=$(awk -v d="$((d1 - d0))" -v w="$step_wall" 'BEGIN { printf "%.0f", d / w }')
	fi
	# calls SIPp started but never finished (killed, or the stats are short)
	if [ "$step_created" -gt $((step_ok + step_failed)) ]; then
		step_failed=$((step_created - step_ok))
	fi
}

# report MODE STEP UNIT: prints the step's line and keeps it for the summary.
report()
{
	local line extra=""
	[ -n "$step_channels" ] && extra="  rtp=$rtp legs_up=$step_channels"
	# each call: 50 packets/s to each phone
	[ -n "$step_rtp" ] && extra="$extra  rtp_to_phones=${step_rtp}/s (expected $((2 * 50 * $2)))"
	line=$(printf '%-8s %6s %-9s attempted=%-6s failed=%-5s octo_cpu=%5s%%  rss=%6sMB' "$1" "$2" \
		"$3" "$step_created" "$step_failed" "$step_cpu" "$step_rss")
	line=$(printf '%s  sipp_cpu=%5s%%  wall=%ss%s' "$line" "$step_sipp_cpu" "$step_wall" "$extra")
	echo "$line"
	results+=("$1|$2 $3|$step_created|$step_failed|$step_cpu|$step_rss|$step_sipp_cpu|${extra#  }")
}

# ---------------------------------------------------------------- modes
mode_rates()
{
	if [ -n "$rates_opt" ]; then
		tr ',' ' ' <<<"$rates_opt"
		return
	fi
	case "$1:$quick" in
	calls:no|cdr:no) echo 100 200 400 800 1200 1600 ;;
	calls:yes|cdr:yes) echo 5 10 ;;
	media:no) echo 50 100 200 400 800 1200 1600 ;;
	media:yes) echo 4 10 ;;
	register:no) echo 100 200 400 800 1600 3200 6400 ;;
	register:yes) echo 20 50 ;;
	esac
}

mode_calls()
{
	local r scen
	uas_start || return 1
	scen=$(sipp_scenario uac) || return 1
	for r in $(mode_rates calls); do
		octo_idle
		step_run $((duration + 60)) 0 0 -sf "$scen" -inf "$tmp/users.csv" -s "$callee" \
			-auth_uri "$callee@127.0.0.1:$sip_port" \
			-p "$(bench_port 5100 9999)" -r "$r" -m $((r * duration)) -l $((r * 30 + 10)) \
			-d "$hold_ms" -recv_timeout 10000 -timeout $((duration + 40))s
		report calls "$r" calls/s
		kill -0 "$uas_pid" 2>/dev/null || { echo "bench: the answering SIPp died" >&2; return 1; }
	done
	uas_stop
}

# cdr_sql SQL: a query on the daemon's cdr.db.
cdr_sql()
{
	sqlite3 -batch -noheader "$state/data/cdr.db" "$1" 2>/dev/null
}

# cdr_settle: waits (at most 30 s) until the rows of cdr.db stop growing for
# a second; prints how long after the call it was that the last row came in
# (seconds, 0.2 s resolution).
cdr_settle()
{
	local t0 now last="" n same=0 changed
	t0=$(date +%s.%N)
	changed=$t0
	for _ in $(seq 1 150); do
		n=$(cdr_sql "select count(*) from cdr")
		now=$(date +%s.%N)
		if [ -n "$n" ] && [ "$n" = "$last" ]; then
			same=$((same + 1))
			[ "$same" -ge 5 ] && break
		else
			same=0
			[ -n "$last" ] && changed=$now
		fi
		last=$n
		sleep 0.2
	done
	awk -v a="$changed" -v b="$t0" 'BEGIN { printf "%.1f", a - b }'
}

mode_cdr()
{
	local r scen id0 rows in_ok out_ok missing settle rate last bad=0
	command -v sqlite3 >/dev/null 2>&1 || {
		echo "bench: cdr: sqlite3 not found (Debian: sqlite3)" >&2
		return 1
	}
	uas_start || return 1
	scen=$(sipp_scenario uac) || return 1
	for r in $(mode_rates cdr); do
		octo_idle
		id0=$(cdr_sql "select coalesce(max(id), 0) from cdr")
		id0=${id0:-0}
		step_run $((duration + 60)) 0 0 -sf "$scen" -inf "$tmp/users.csv" -s "$callee" \
			-auth_uri "$callee@127.0.0.1:$sip_port" \
			-p "$(bench_port 5100 9999)" -r "$r" -m $((r * duration)) -l $((r * 30 + 10)) \
			-d "$hold_ms" -recv_timeout 10000 -timeout $((duration + 40))s
		octo_idle
		# the settle time is counted from here: the calls have ended
		settle=$(cdr_settle)
		rows=$(cdr_sql "select count(*) from cdr where id > $id0")
		in_ok=$(cdr_sql "select count(*) from cdr where id > $id0
			and direction <> 'outbound' and disposition = 'ANSWERED'")
		out_ok=$(cdr_sql "select count(*) from cdr where id > $id0
			and direction = 'outbound' and disposition = 'ANSWERED'")
		rows=${rows:-0}
		in_ok=${in_ok:-0}
		out_ok=${out_ok:-0}
		missing=0
		[ "$in_ok" -lt "$step_ok" ] && missing=$((step_ok - in_ok))
		[ "$out_ok" -lt "$step_ok" ] && [ $((step_ok - out_ok)) -gt "$missing" ] &&
			missing=$((step_ok - out_ok))
		rate=$(awk -v n="$rows" -v w="$step_wall" -v s="$settle" \
			'BEGIN { printf "%.0f", (w + s > 0 ? n / (w + s) : 0) }')
		report cdr "$r" calls/s
		echo "cdr      $r calls/s: sipp ok=$step_ok  rows=$rows (answered in=$in_ok" \
			"out=$out_ok)  missing=$missing  rows/s=$rate  caught up ${settle}s after" \
			"the calls"
		last=$((${#results[@]} - 1))
		results[last]="${results[last]}rows=$rows missing=$missing rows/s=$rate"
		[ "$missing" -gt 0 ] && bad=1
		kill -0 "$uas_pid" 2>/dev/null || { echo "bench: the answering SIPp died" >&2; return 1; }
	done
	uas_stop
	if [ "$bad" != 0 ]; then
		echo "bench: cdr: CDRs are missing for calls SIPp counted as successful" >&2
		return 1
	fi
}

mode_media()
{
	local n scen rampup hold longest=0
	# every call is up from `rampup` s on, and held until the step ends
	for n in $(mode_rates media); do
		rampup=$(( (n + ramp - 1) / ramp + 2 ))
		hold=$((rampup + duration + 1))
		[ "$hold" -gt "$longest" ] && longest=$hold
	done
	if [ "$rtp" = stream ]; then
		pcap="$tmp/pcma.alaw"
		python3 "$here/make_pcap.py" --raw "$pcap" || return 1
	elif [ -n "$pcap_opt" ]; then
		pcap=$pcap_opt
	else
		pcap="$tmp/pcma.pcap"
		python3 "$here/make_pcap.py" $((longest + 2)) "$pcap" || return 1
	fi
	uas_start || return 1
	scen=$(sipp_scenario uac) || return 1
	for n in $(mode_rates media); do
		octo_idle
		rampup=$(( (n + ramp - 1) / ramp + 2 ))
		hold=$((rampup + duration + 1))
		uac_mport=$(bench_port 5100 9999) || return 1
		step_run $((hold + 60)) "$rampup" "$duration" -sf "$scen" -inf "$tmp/users.csv" \
			-s "$callee" -auth_uri "$callee@127.0.0.1:$sip_port" \
			-p "$(bench_port 5100 9999)" -mi 127.0.0.1 -mp "$uac_mport" -r "$ramp" -m "$n" \
			-l "$n" -d $((hold * 1000)) \
			-recv_timeout 10000 -timeout $((hold + 40))s
		report media "$n" calls
		uac_mport=""
		kill -0 "$uas_pid" 2>/dev/null || { echo "bench: the answering SIPp died" >&2; return 1; }
	done
	uas_stop
}

mode_register()
{
	local r port
	# one phone port for every step: after the first round each REGISTER
	# refreshes the contact its user already has
	port=$(bench_port 5100 9999) || return 1
	for r in $(mode_rates register); do
		step_run $((duration + 60)) 0 0 -sf "$here/sipp/register.xml" -inf "$tmp/users.csv" \
			-key expires 3600 -p "$port" -r "$r" -m $((r * duration)) \
			-l $((r * 30 + 10)) -recv_timeout 10000 -timeout $((duration + 40))s
		report register "$r" reg/s
	done
	echo "register: $(octo_rx sip show registrations |
		sed -n 's/^ *registrations: *\([0-9]*\).*/\1/p' | head -n 1) registrations held by Octo" \
		"after the steps (users: $users)"
}

# ---------------------------------------------------------------- main
ulimit -n "$(ulimit -Hn)" 2>/dev/null
echo "bench: Octo $OCTO_BIN, $(nproc) cores, ulimit -n $(ulimit -n), steps of ${duration} s$( \
	[ "$quick" = yes ] && echo ' (--quick)')"
if grep -q 'fsanitize' "$OCTO_BUILD/config.log" 2>/dev/null ||
	grep -q 'fsanitize' "$OCTO_BUILD/Makefile" 2>/dev/null; then
	echo "bench: WARNING: $OCTO_BUILD is a sanitizer build: measure a plain -O2 build"
fi
echo "bench: load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
for mode in "${modes[@]}"; do
	bench_config || exit 1
	octo_start || exit 1
	rss_start=$(bench_rss "$octo_pid")
	echo "bench: $mode: Octo pid $octo_pid on 127.0.0.1:$sip_port," \
		"RSS $rss_start kB at start"
	octo_memory "at start"
	"mode_$mode" || status=1
	uas_stop
	octo_idle && octo_rtp_leftover
	octo_rss_after
	octo_stop
	cp "$log" "$tmp/daemon-$mode.log" 2>/dev/null
	: >"$log"
done

echo
echo "Summary (octo_cpu: 100% = one core; sipp_cpu: both SIPp phones; rss: Octo's highest VmRSS)"
printf '%-9s %-15s %9s %7s %9s %7s %9s  %s\n' mode step attempted failed octo_cpu rss_MB \
	sipp_cpu notes
for r in "${results[@]+"${results[@]}"}"; do
	IFS='|' read -r m s a f c rs sc x <<<"$r"
	printf '%-9s %-15s %9s %7s %8s%% %7s %8s%%  %s\n' "$m" "$s" "$a" "$f" "$c" "$rs" "$sc" "$x"
done
echo "bench: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$status"
