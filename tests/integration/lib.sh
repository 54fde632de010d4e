# lib.sh - helpers for integration tests, sourced by tests/integration/*/run.sh:
#
#   . "$(dirname "$0")/../lib.sh"
#   port=$(octo_free_port)
#   octo_config_dir "$OCTO_CASE_DIR/configs"    # no argument: the sample configs/
#   sed -i "s/@SIP_PORT@/$port/" "$OCTO_CONF/sip.conf"
#   octo_start || exit 1
#   check_rx "chan_sip loaded" "chan_sip" "module show like chan_sip"
#   check "one call" sipp -sf "$OCTO_CASE_DIR/sipp/uac.xml" -m 1 127.0.0.1:"$port"
#   (the EXIT trap stops the daemon, removes the temp dir and sets the status)
#
# Helpers: pass/fail NAME [WHY], check NAME CMD..., check_output NAME TEXT CMD...,
# check_fails NAME CMD..., check_rx NAME TEXT CLI-COMMAND, octo_rx and
# octo_rx_json CLI-COMMAND, wait_until SECONDS CMD..., octo_free_port,
# octo_config_dir [DIR...], octo_start [DAEMON OPTIONS], octo_stop,
# octo_need_aiosmtpd (sets SMTP_PY), octo_user_secret USER, octo_no_calls,
# octo_history_debug PATTERN: "call debug" of the newest ended channel whose
# name matches PATTERN (a grep -E pattern).
octo_history_debug()
{
	local id
	id=$(octo_rx calls show history | grep -E "$1" | head -n 1 | awk '{print $1}')
	[ -n "$id" ] && octo_rx call debug "$id"
}

# octo_check_history NAME CHANNEL-PATTERN TEXT [not]: check NAME: the step
# log of the newest ended channel matching CHANNEL-PATTERN holds TEXT (with
# "not": does not). A failure shows the end of the steps.
octo_check_history()
{
	local out
	out=$(octo_history_debug "$2")
	if grep -qF -- "$3" <<<"$out"; then
		[ "${4:-}" = not ] && { fail "$1" "\"$3\" in the steps of $2"; return; }
		pass "$1"
	else
		[ "${4:-}" = not ] && { pass "$1"; return; }
		fail "$1" "no \"$3\" in the steps of $2"
		printf '%s\n' "$out" | tail -n 40 | sed 's/^/  | /'
	fi
}

# octo_phones NAME SCRIPT SCENARIO USER... (python SIP phones).
# Variables: OCTO_TMP (private temp dir), OCTO_CONF (-C), OCTO_STATE (-D),
# OCTO_SOCK (-s), OCTO_LOG (the daemon's output), OCTO_OUT (output of the
# last check), OCTO_CASE and OCTO_CASE_DIR (this test's name and folder).
#
# Environment in: OCTO_BUILD (a configured and built build tree; contrib/test.sh
# sets it), optionally OCTO_SRC (the source tree; default: found from this
# file), OCTO_BIN (the daemon; default $OCTO_BUILD/core/octo) and OCTO_MODDIR
# (the module folder given with -M; default: a temp folder of links to every
# module .so of the build tree; set but empty: no -M, the built-in folder).
#
# Each check prints "PASS name" or "FAIL name: why"; contrib/test.sh counts
# them. The daemon is checked too: it must answer `core ready` within 20 s,
# stop within 10 s of SIGTERM, exit with status 0 and leave no sanitizer
# report in its log.

set -u

if [ -z "${OCTO_BUILD:-}" ]; then
	echo "FAIL setup: OCTO_BUILD is not set (the build tree to test; contrib/test.sh sets it)"
	exit 1
fi
OCTO_BUILD=$(cd "$OCTO_BUILD" && pwd)
OCTO_SRC=${OCTO_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# The folder of the test that sourced us (its configs/, sipp/ ...).
OCTO_CASE_DIR=$(cd "$(dirname "$0")" && pwd)
OCTO_CASE=$(basename "$OCTO_CASE_DIR")
OCTO_BIN=${OCTO_BIN:-$OCTO_BUILD/core/octo}

OCTO_TMP=$(mktemp -d "${TMPDIR:-/tmp}/octo-it.XXXXXX") || exit 1
OCTO_CONF="$OCTO_TMP/conf"      # the config folder (-C)
OCTO_STATE="$OCTO_TMP/state"    # data, logs and run folders (-D)
OCTO_SOCK="$OCTO_TMP/octo.ctl"  # the control socket (-s)
OCTO_LOG="$OCTO_TMP/daemon.log" # the daemon's stdout and stderr
OCTO_PID=""
mkdir -p "$OCTO_STATE"

lib_passed=0
lib_failed=0
# the ports handed out so far, one a line: a file, since octo_free_port
# runs in a subshell ($(octo_free_port)) whose variables are lost
lib_ports="$OCTO_TMP/ports-handed-out"
: >"$lib_ports"

# ---------------------------------------------------------------- results
pass()
{
	echo "PASS $1"
	lib_passed=$((lib_passed + 1))
}

# fail NAME WHY...
fail()
{
	local name=$1
	shift
	echo "FAIL $name: $*"
	lib_failed=$((lib_failed + 1))
}

# Prints a file indented, at most its last N lines (default 60).
lib_show()
{
	[ -s "$1" ] || return 0
	echo "  -- ${3:-$1}:"
	tail -n "${2:-60}" "$1" | sed 's/^/  | /'
}

# check NAME CMD...: passes when CMD exits 0. Its output is kept in
# $OCTO_OUT (a file) for further checks, and shown when it fails.
OCTO_OUT="$OCTO_TMP/out"
check()
{
	local name=$1 status
	shift
	"$@" >"$OCTO_OUT" 2>&1 </dev/null
	status=$?
	if [ "$status" -eq 0 ]; then
		pass "$name"
		return 0
	fi
	fail "$name" "'$*' exited with status $status"
	lib_show "$OCTO_OUT" 40 "output"
	return 1
}

# check_output NAME EXPECTED CMD...: passes when CMD exits 0 and its output
# contains the fixed string EXPECTED.
check_output()
{
	local name=$1 expected=$2 status
	shift 2
	"$@" >"$OCTO_OUT" 2>&1 </dev/null
	status=$?
	if [ "$status" -ne 0 ]; then
		fail "$name" "'$*' exited with status $status"
	elif ! grep -qF -- "$expected" "$OCTO_OUT"; then
		fail "$name" "the output of '$*' does not contain \"$expected\""
	else
		pass "$name"
		return 0
	fi
	lib_show "$OCTO_OUT" 40 "output"
	return 1
}

# check_fails NAME CMD...: passes when CMD exits non-zero.
check_fails()
{
	local name=$1 status
	shift
	"$@" >"$OCTO_OUT" 2>&1 </dev/null
	status=$?
	if [ "$status" -ne 0 ]; then
		pass "$name"
		return 0
	fi
	fail "$name" "'$*' succeeded, expected a failure"
	lib_show "$OCTO_OUT" 40 "output"
	return 1
}

# ---------------------------------------------------------------- ports
# Prints a loopback port that no socket uses (TCP or UDP, listening or not)
# and that this test has not handed out yet (two ports of one test were
# once the same: the list was a variable, lost with the subshell). Ports come from below the
# kernel's range for outgoing connections (ip_local_port_range): a port
# found free there could be taken by any connection made meanwhile (a
# daemon once failed to listen on one, "Address already in use").
octo_free_port()
{
	local port used low=32768 span
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
	span=$((low - 20000))
	[ "$span" -ge 2000 ] || span=40000 # an odd range: the old spread
	for _ in $(seq 1 200); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % span))
		grep -qx "$port" "$lib_ports" && continue
		if command -v ss >/dev/null 2>&1; then
			used=$(ss -Htuan "( sport = :$port )" 2>/dev/null | head -n 1)
			[ -n "$used" ] && continue
		elif (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			continue
		fi
		echo "$port" >>"$lib_ports"
		echo "$port"
		return 0
	done
	echo "octo_free_port: no free port found" >&2
	return 1
}

# ---------------------------------------------------------------- setup
# octo_config_dir [DIR...]: fills $OCTO_CONF with the files of the given
# folders, later ones overriding earlier ones (default: the sample configs/).
octo_config_dir()
{
	local d
	mkdir -p "$OCTO_CONF"
	[ $# -gt 0 ] || set -- "$OCTO_SRC/configs"
	for d in "$@"; do
		if [ ! -d "$d" ]; then
			echo "octo_config_dir: $d is not a folder" >&2
			return 1
		fi
		cp -R "$d/." "$OCTO_CONF/"
	done
	chmod -R u+w "$OCTO_CONF"
	lib_loopback_sip
}

# Tests listen on loopback only, on free ports: a sip.conf that binds the
# well-known ports on every address (like the sample) is moved to 127.0.0.1
# and free ports, given in $OCTO_SIP_PORT and $OCTO_SIP_TLS_PORT.
lib_loopback_sip()
{
	local conf="$OCTO_CONF/sip.conf"
	[ -f "$conf" ] || return 0
	OCTO_SIP_PORT=$(octo_free_port) || return 1
	OCTO_SIP_TLS_PORT=$(octo_free_port) || return 1
	sed -i -e 's/^bindaddr *= *0\.0\.0\.0 *$/bindaddr = 127.0.0.1/' \
		-e "s/^port *= *5060 *\$/port = $OCTO_SIP_PORT/" \
		-e "s/^tls_port *= *5061 *\$/tls_port = $OCTO_SIP_TLS_PORT/" "$conf"
}

# octo_need_aiosmtpd: sets $SMTP_PY to a python3 that can import aiosmtpd;
# when there is none, a failed setup check and status 1.
octo_need_aiosmtpd()
{
	local py
	SMTP_PY=""
	for py in /usr/bin/python3 python3; do
		if "$py" -c 'import aiosmtpd' >/dev/null 2>&1; then
			SMTP_PY=$py
			return 0
		fi
	done
	fail "$OCTO_CASE/setup" "python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)"
	return 1
}

# Makes a folder of links to every module built in $OCTO_BUILD and prints it.
octo_build_modules()
{
	local dir="$OCTO_TMP/modules" so
	mkdir -p "$dir"
	while IFS= read -r -d '' so; do
		ln -sf "$so" "$dir/$(basename "$so")"
	done < <(find "$OCTO_BUILD/modules" -path '*/.libs/*.so' -type f -print0 2>/dev/null)
	echo "$dir"
}

# ---------------------------------------------------------------- the daemon
# octo_rx COMMAND...: runs one CLI command on the running daemon; its words
# are joined with spaces. Output on stdout, the command's status as status.
octo_rx()
{
	"$OCTO_BIN" -C "$OCTO_CONF" -s "$OCTO_SOCK" -rx "$*" </dev/null
}

# octo_rx_json COMMAND...: the same, answered in JSON.
octo_rx_json()
{
	"$OCTO_BIN" -C "$OCTO_CONF" -s "$OCTO_SOCK" --json -rx "$*" </dev/null
}

# wait_until SECONDS CMD...: runs CMD every 0.2 s until it succeeds (returns
# 0) or SECONDS have passed (returns 1). For things that happen a little
# after a command, e.g. wait_until 5 grep -q REGISTERED "$OCTO_LOG".
wait_until()
{
	local deadline=$((SECONDS + $1))
	shift
	while :; do
		"$@" >/dev/null 2>&1 </dev/null && return 0
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# check_rx NAME EXPECTED COMMAND...: the CLI command succeeds and prints EXPECTED.
check_rx()
{
	local name=$1 expected=$2
	shift 2
	check_output "$name" "$expected" octo_rx "$@"
}

# octo_start [EXTRA DAEMON OPTIONS...]: starts the daemon on $OCTO_CONF
# (made from the sample configs/ if the test made none) and waits until it
# answers `core ready`. Prints PASS/FAIL "<case>/start"; returns 1 on failure.
octo_start()
{
	local status moddir deadline
	if [ -n "$OCTO_PID" ]; then
		echo "octo_start: the daemon is already running" >&2
		return 1
	fi
	[ -d "$OCTO_CONF" ] || octo_config_dir || return 1
	if [ -z "${OCTO_MODDIR+set}" ]; then
		OCTO_MODDIR=$(octo_build_modules)
	fi
	moddir=()
	[ -n "$OCTO_MODDIR" ] && moddir=(-M "$OCTO_MODDIR")
	rm -f "$OCTO_SOCK"
	"$OCTO_BIN" -f -C "$OCTO_CONF" -D "$OCTO_STATE" -s "$OCTO_SOCK" ${moddir[@]+"${moddir[@]}"} \
		-vvv "$@" </dev/null >>"$OCTO_LOG" 2>&1 &
	OCTO_PID=$!
	echo "$OCTO_PID" >"$OCTO_TMP/daemon.pid"
	deadline=$((SECONDS + 20))
	while [ "$SECONDS" -lt "$deadline" ]; do
		if timeout 5 "$OCTO_BIN" -C "$OCTO_CONF" -s "$OCTO_SOCK" -rx "core ready" \
			</dev/null >/dev/null 2>&1; then
			pass "$OCTO_CASE/start"
			return 0
		fi
		if ! kill -0 "$OCTO_PID" 2>/dev/null; then
			wait "$OCTO_PID"
			status=$?
			OCTO_PID=""
			fail "$OCTO_CASE/start" "the daemon exited with status $status while starting"
			lib_show "$OCTO_LOG" 60 "daemon log"
			return 1
		fi
		sleep 0.2
	done
	fail "$OCTO_CASE/start" "no answer to 'core ready' on $OCTO_SOCK within 20 s"
	lib_show "$OCTO_LOG" 60 "daemon log"
	octo_stop quiet
	return 1
}

# octo_stop [quiet]: SIGTERM, then SIGKILL after 10 s. Unless "quiet",
# prints PASS/FAIL "<case>/stop": the daemon must exit by itself with status 0
# and its log must hold no sanitizer report.
octo_stop()
{
	local status why=""
	[ -n "$OCTO_PID" ] || return 0
	kill -TERM "$OCTO_PID" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$OCTO_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$OCTO_PID" 2>/dev/null; then
		kill -KILL "$OCTO_PID" 2>/dev/null
		why="still running 10 s after SIGTERM (killed)"
	fi
	wait "$OCTO_PID" 2>/dev/null
	status=$?
	OCTO_PID=""
	rm -f "$OCTO_TMP/daemon.pid"
	[ "${1:-}" = quiet ] && return 0
	if [ -z "$why" ] && [ "$status" -ne 0 ]; then
		why="exited with status $status after SIGTERM"
	fi
	if [ -z "$why" ] &&
		grep -qE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$OCTO_LOG"; then
		why="sanitizer report in its log"
	fi
	if [ -n "$why" ]; then
		fail "$OCTO_CASE/stop" "$why"
		lib_show "$OCTO_LOG" 80 "daemon log"
		return 1
	fi
	pass "$OCTO_CASE/stop"
}

# ---------------------------------------------------------------- calls
# Helpers for tests that follow calls through `calls show history` and
# `call debug` (a test may define its own variant after sourcing this file).

# ended ID: the call is in the history.
ended()
{
	octo_rx calls show history | grep -q "^$1 "
}

# steps_have ID TEXT: the call's step log (live or ended) has TEXT.
steps_have()
{
	octo_rx call debug "$1" | grep -qF -- "$2"
}

# wait_end NAME ID: passes when the call ends within 10 s.
wait_end()
{
	if wait_until 10 ended "$2"; then
		pass "$1"
	else
		fail "$1" "call $2 still up after 10 s"
		octo_rx call debug "$2" | tail -n 20 | sed 's/^/  | /'
	fi
}

# wait_step NAME ID TEXT: passes when the call's step log gets TEXT within 10 s.
wait_step()
{
	if wait_until 10 steps_have "$2" "$3"; then
		pass "$1"
	else
		fail "$1" "no step \"$3\" in call $2"
		octo_rx call debug "$2" | tail -n 25 | sed 's/^/  | /'
	fi
}

# check_debug NAME ID REGEX: the output of "call debug ID" matches REGEX.
check_debug()
{
	if octo_rx call debug "$2" | grep -qE -- "$3"; then
		pass "$1"
	else
		fail "$1" "call debug $2 does not match /$3/"
		octo_rx call debug "$2" | tail -n 25 | sed 's/^/  | /'
	fi
}

# ---------------------------------------------------------------- SIP phones
# octo_user_secret USER: prints USER's secret from $OCTO_CONF/users.conf.
octo_user_secret()
{
	sed -n "/^\[$1\]/,/^\[/s/^secret *= *//p" "$OCTO_CONF/users.conf" | head -n 1
}

# octo_no_calls: true when no call is up.
octo_no_calls()
{
	octo_rx calls show active | grep -q "active calls: 0"
}

# octo_phones NAME SCRIPT SCENARIO USER...: check NAME: the python phones
# SCRIPT (args: HOST PORT SCENARIO USER=SECRET...) run SCENARIO against
# 127.0.0.1:$OCTO_SIP_PORT as the USERs (secrets from users.conf) within 90 s,
# their log in $OCTO_TMP/SCENARIO.log (shown when it fails). The phones are
# gone then: the USERs' contacts are dropped and no call may stay up
# (check NAME/cleanup).
octo_phones()
{
	local name=$1 script=$2 scen=$3 u
	local creds=()
	shift 3
	for u in "$@"; do
		creds+=("$u=$(octo_user_secret "$u")")
	done
	if timeout 90 python3 "$script" 127.0.0.1 "$OCTO_SIP_PORT" "$scen" "${creds[@]}" \
		>"$OCTO_TMP/$scen.log" 2>&1; then
		pass "$name"
	else
		fail "$name" "$(basename "$script") $scen"
		lib_show "$OCTO_TMP/$scen.log" 60
	fi
	for u in "$@"; do
		octo_rx sip unregister "$u" >/dev/null
	done
	wait_until 10 octo_no_calls || fail "$name/cleanup" "$(octo_rx calls show active)"
}

# ---------------------------------------------------------------- the end
lib_exit()
{
	local status=$?
	trap - EXIT
	octo_stop
	rm -rf "$OCTO_TMP"
	echo "$OCTO_CASE: $lib_passed passed, $lib_failed failed"
	if [ "$lib_failed" -gt 0 ]; then
		exit 1
	fi
	exit "$status"
}
trap lib_exit EXIT
trap 'fail "$OCTO_CASE" "interrupted"; exit 130' INT
trap 'fail "$OCTO_CASE" "terminated (time-out?)"; exit 143' TERM
