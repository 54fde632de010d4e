#!/usr/bin/env bash
# switch: CheckSwitch sends Test calls to the procedure of a switch's state;
# "switch set" (by name or number) changes where the next call goes; the
# SetSwitch feature code toggles; ${SWITCH_<NAME>} and ${SWITCH(name)}; the
# state survives a daemon restart (the store); a broken reload is refused
# with file:line and the states stay; octo -t.
. "$(dirname "$0")/../lib.sh"

octo_config_dir "$OCTO_CASE_DIR/configs"
check "octo -t accepts the test configs" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$(octo_build_modules)"
mkdir -p "$OCTO_TMP/samples"
cp "$OCTO_CASE_DIR/configs/"{modules,octo}.conf "$OCTO_TMP/samples/"
cp "$OCTO_SRC/configs/switches.conf" "$OCTO_TMP/samples/"
check "octo -t accepts the sample switches.conf" "$OCTO_BIN" -t -C "$OCTO_TMP/samples" \
	-M "$(octo_build_modules)"

octo_start || exit 1

# call NUMBER: a Test call into [in]; prints its id.
call()
{
	octo_rx test call in "$1" 200 | sed -n 's/^id: *//p'
}

# steps NAME ID TEXT: once the call ended, its step log holds TEXT.
steps()
{
	local name=$1 id=$2 text=$3
	if [ -z "$id" ]; then
		fail "$name" "the call did not start"
		return 1
	fi
	wait_until 10 bash -c \
		"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'calls show history' | grep -q '^$id '"
	check_rx "$name" "$text" call debug "$id"
}

check_rx "switch show lists them" "reception" switch show
check_output "default state before any set" '"state":"off"' octo_rx_json switch show closed
check_output "never changed" '"changed":"never"' octo_rx_json switch show closed
check_output "three states" '"states":"on/off/extra"' octo_rx_json switch show reception
check_output "variable name" '"variable":"SWITCH_DAY_NIGHT"' octo_rx_json switch show day-night

# off (the default): the call goes on in [in].
id=$(call 501)
steps "off: the default state" "$id" "CheckSwitch(closed): off (the default)"
steps "off: empty procedure goes on" "$id" "day route for 501: off"

# on from the CLI: the next call goes to the night procedure.
check_output "switch set on, was off" '"state":"on","was":"off"' \
	octo_rx_json switch set closed on
id=$(call 502)
steps "on: CheckSwitch says on" "$id" "CheckSwitch(closed): on"
steps "on: jumps to the night procedure" "$id" "goto night/502/1"
steps "on: variable set" "$id" "night route for 502: on"
check_output "changed by the CLI" '"changed":"' octo_rx_json switch show closed
check_rx "changed by cli" "by cli" switch show closed

# Three states, set by number.
id=$(call 100)
steps "three-state default on" "$id" "front desk: on"
check_rx "set by number" "extra" switch set 2 extra
id=$(call 100)
steps "extra: the third procedure" "$id" "goto backup/100/1"
steps "extra: variable" "$id" "backup team: extra"
check_rx "toggle from extra" "on" switch set reception toggle
check_output "three-state toggle goes to on" '"state":"on"' octo_rx_json switch show reception
check_output "three-state toggle goes on -> off" '"state":"off"' \
	octo_rx_json switch set reception toggle
id=$(call 100)
steps "off: the second procedure" "$id" "operator: off"

# Refusals.
check_fails "extra on a two-state switch" octo_rx switch set closed extra
check_output "says why" "has only the states on and off" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'switch set closed extra' 2>&1; true"
check_fails "bad state" octo_rx switch set closed maybe
check_fails "unknown switch" octo_rx switch set nosuch on
check_fails "show unknown switch" octo_rx switch show nosuch

# The feature code: SetSwitch(1,toggle) flips on -> off.
id=$(call '*21')
steps "feature code toggles" "$id" "SetSwitch(closed): on -> off"
steps "feature code: variable and function" "$id" "closed is now off off"
check_output "state stored by the call" '"state":"off"' octo_rx_json switch show closed
id=$(call 501)
steps "after the toggle: day route" "$id" "day route for 501: off"
id=$(call 800)
steps "unknown switch ends the call" "$id" "CheckSwitch: no switch \"nosuch\" in switches.conf"
id=$(call 801)
steps "SetSwitch refuses extra" "$id" "SetSwitch(closed): a two-state switch has no state extra"
id=$(call 101)
steps "dash in the name" "$id" "day-night is on"

# The state survives a restart.
check_rx "set on before the restart" "on" switch set closed on
octo_stop
octo_start || exit 1
check_output "state after the restart" '"state":"on"' octo_rx_json switch show closed
check_output "three-state after the restart" '"state":"off"' octo_rx_json switch show reception
id=$(call 503)
steps "after the restart: night route" "$id" "night route for 503: on"
if command -v sqlite3 >/dev/null 2>&1; then
	check_output "stored in the store" "on" sqlite3 "$OCTO_STATE/data/octo.db" \
		"select state from switch_state where name = 'closed'"
fi

# A broken reload is refused with file:line; the running switches stay.
cp "$OCTO_CONF/switches.conf" "$OCTO_TMP/switches.good"
printf '\n[bad]\nnumber = 1\ndefault = extra\nstates = maybe\n' >>"$OCTO_CONF/switches.conf"
lines=$(wc -l <"$OCTO_CONF/switches.conf")
check_fails "broken reload refused" octo_rx module reload app_switch
check_output "reload error: enum" "switches.conf:$lines: [bad] states: \"maybe\"" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload app_switch' 2>&1; true"
check_fails "broken switch not loaded" octo_rx switch show bad
printf '\n[bad]\nnumber = 1\ndefault = extra\n' >"$OCTO_TMP/tail.conf"
cat "$OCTO_TMP/switches.good" "$OCTO_TMP/tail.conf" >"$OCTO_CONF/switches.conf"
lines=$(wc -l <"$OCTO_CONF/switches.conf")
check_output "reload error: extra needs three states" \
	"switches.conf:$lines: [bad] default: \"extra\" needs states = on/off/extra" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload app_switch' 2>&1; true"
printf '\n[bad]\nnumber = 1\n' >"$OCTO_TMP/tail.conf"
cat "$OCTO_TMP/switches.good" "$OCTO_TMP/tail.conf" >"$OCTO_CONF/switches.conf"
lines=$(wc -l <"$OCTO_CONF/switches.conf")
taken="[bad] number: 1 is already the number of [closed] (switches.conf:4)"
check_output "reload error: number taken" "switches.conf:$lines: $taken" \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload app_switch' 2>&1; true"
cp "$OCTO_TMP/switches.good" "$OCTO_CONF/switches.conf"
printf '\n[late]\nnumber = 9\n' >>"$OCTO_CONF/switches.conf"
check "fixed file reloads" octo_rx module reload app_switch
check_rx "new switch live" "late" switch show
check_output "states kept over the reload" '"state":"on"' octo_rx_json switch show closed

# load -> unload -> load
check_rx "unload app_switch" "Unloaded app_switch" module unload app_switch
check_fails "its commands are gone" octo_rx switch show
check_rx "load it again" "Loaded app_switch" module load app_switch
check_output "state kept" '"state":"on"' octo_rx_json switch show closed
octo_stop
