#!/usr/bin/env bash
# core_cli: the console as an administrator uses it on the sample configs --
# show commands in text and JSON, errors, dialplan test, Test calls and their
# step logs, live and after they ended.
. "$(dirname "$0")/../lib.sh"

octo_config_dir
# A procedure whose calls stay a while, to see them live.
cat >>"$OCTO_CONF/dialplan.conf" <<'CONF'

[slow]
exten => 1XX,1,Answer()
same => n,Wait(30)
CONF
octo_start || exit 1

check_rx "version" "version:" core show version
check_rx "uptime" "system uptime:" core show uptime
check_rx "settings show the folders" "$OCTO_STATE/data" core show settings
check_rx "threads" "event loop" core show threads
# The event loop's priority (octo.conf loop_nice, -10 in the sample): the
# settings show what the kernel has; it is -10 unless the daemon may not
# raise it, and then the log says why.
loop_nice=$(ps -L -o nice=,comm= -p "$OCTO_PID" | awk '/event loop/ {print $1}')
octo_rx core show settings >"$OCTO_TMP/settings" 2>&1
check "settings: the event loop's nice as the kernel has it ($loop_nice)" \
	grep -Eq "^event loop nice: +$loop_nice \(loop_nice -10\)\$" "$OCTO_TMP/settings"
if grep -q "the event loop runs at the daemon's priority" "$OCTO_LOG"; then
	check "event loop: not allowed to raise it, kept the daemon's" test "$loop_nice" = 0
else
	check "event loop: nice -10" test "$loop_nice" = -10
fi
check_rx "memory: resident" "resident (VmRSS):" core show memory
check_rx "memory: malloc heap" "heap in use:" core show memory
check_fails "memory: extra words get the usage line" octo_rx core show memory extra
check_rx "modules listed" "app_core" module show
check_rx "module show like" "chan_test" module show like chan_*
check_output "json output" '"status":"ok"' octo_rx_json module show
check_output "json rows" '"app_core"' octo_rx_json module show
check_fails "unknown command fails" octo_rx core shwo version
check_output "unknown command suggests" "did you mean" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'core shwo version' 2>&1; true"
check_fails "usage error fails" octo_rx dialplan test users
check_output "usage line" "Usage: dialplan test <procedure> <number>" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'dialplan test users' 2>&1; true"
check_rx "help lists commands" "module show" help
check_rx "help of one command" "dialplan test <procedure> <number>" help dialplan test

# The dialplan
check_rx "dialplan show" "include => pbxinternal" dialplan show users
check_rx "dialplan test picks 00X." "00X." dialplan test users 0039061234567
check_rx "dialplan test says why 0X. lost" "loses: " dialplan test users 0039061234567
check_rx "dialplan test through include" "include pbxinternal" dialplan test users 101
check_rx "DID range in main" "0212345XX" dialplan test main 021234567
check_rx "applications listed" "SetCalled" core show applications
check_rx "application documented" "remove: how many leading digits" \
	core show application SetCalled
check_rx "functions listed" "LEN" core show functions

# A Test call through the national route: SetCalled rewrites the number.
octo_rx test call users 0612345678 101 >"$OCTO_TMP/call1" 2>&1
id1=$(sed -n 's/^id: *//p' "$OCTO_TMP/call1")
if [ -n "$id1" ]; then pass "test call started"; else fail "test call started" "$(cat "$OCTO_TMP/call1")"; fi
wait_until 10 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'calls show history' | grep -q '$id1'" &&
	pass "ended call in history" || fail "ended call in history" "not listed"
check_rx "call debug after the end" "Goto(outgoing,+390612345678)" call debug "$id1"
check_rx "the route reached outgoing" "outgoing/+XXXX./1" call debug "$id1"
check_rx "hangup cause kept" "CONGESTION" call debug "$id1"

# A live call waiting in the dialplan, seen by calls show active.
octo_rx test call slow 105 200 >"$OCTO_TMP/call2" 2>&1
id2=$(sed -n 's/^id: *//p' "$OCTO_TMP/call2")
check_rx "live call listed" "$id2" calls show active
check_rx "live call position" "slow/1XX" call debug "$id2"
check_rx "digits to a Test call" "Sent 3 digits" test send digits "$id2" 123
check_rx "hangup a Test call" "hung up" test hangup "$id2"
wait_until 10 bash -c "! '$OCTO_BIN' -s '$OCTO_SOCK' -rx 'calls show active' | grep -q '$id2'" &&
	pass "hung-up call leaves the active list" || fail "hung-up call leaves the active list" "still there"
check_fails "unknown call id" octo_rx call debug 12345.999
check_fails "test call to a missing procedure" octo_rx test call nosuch 100
check_fails "hostile number refused" octo_rx test call users "0'1;rm"

octo_stop
