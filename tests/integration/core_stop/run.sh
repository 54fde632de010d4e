#!/usr/bin/env bash
# core_stop: one daemon per run folder; core stop gracefully waits for the
# last call and refuses new ones meanwhile; core stop now.
. "$(dirname "$0")/../lib.sh"

octo_config_dir
cat >>"$OCTO_CONF/dialplan.conf" <<'CONF'

[slow]
exten => 1,1,Answer()
same => n,Wait(3)
CONF
octo_start || exit 1

check_output "second instance refused" "already running with pid $OCTO_PID" bash -c \
	"'$OCTO_BIN' -f -C '$OCTO_CONF' -D '$OCTO_STATE' -s '$OCTO_TMP/other.ctl' 2>&1; true"
check_rx "first instance still answers" "fully booted" core ready

check_rx "a call in progress" "id:" test call slow 1 100
check_rx "graceful stop accepted" "stopping when the last of 1 call ends" core stop gracefully
check_fails "new calls refused meanwhile" octo_rx test call slow 1 101
if wait_until 15 bash -c "! kill -0 $OCTO_PID"; then
	pass "stops after the last call"
else
	fail "stops after the last call" "still running"
fi
wait "$OCTO_PID"
status=$?
OCTO_PID=""
[ "$status" -eq 0 ] && pass "graceful exit status 0" || fail "graceful exit status 0" "status $status"
if grep -qE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$OCTO_LOG"; then
	fail "no sanitizer report" "see the daemon log"
	lib_show "$OCTO_LOG" 80 "daemon log"
else
	pass "no sanitizer report"
fi

octo_start || exit 1
check_rx "stop now" "Stopping now" core stop now
if wait_until 10 bash -c "! kill -0 $OCTO_PID"; then pass "stopped now"; else fail "stopped now" "still running"; fi
wait "$OCTO_PID"
OCTO_PID=""
check_fails "socket gone with the daemon" octo_rx core ready
