#!/usr/bin/env bash
# core_reload: a broken config is refused with file:line and the running
# config stays; octo -t checks a folder; log files rotate.
. "$(dirname "$0")/../lib.sh"

octo_config_dir
check "octo -t accepts the samples" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$(octo_build_modules)"
cp -R "$OCTO_CONF" "$OCTO_TMP/broken"
printf '[users]\nexten => 0X.,1,Dial(\nbogus = 1\n' >>"$OCTO_TMP/broken/dialplan.conf"
check_fails "octo -t refuses a broken dialplan" "$OCTO_BIN" -t -C "$OCTO_TMP/broken"
check_output "octo -t names file and line" "dialplan.conf:" bash -c \
	"'$OCTO_BIN' -t -C '$OCTO_TMP/broken' 2>&1; true"
octo_start || exit 1

lines=$(wc -l <"$OCTO_CONF/dialplan.conf")
cp "$OCTO_CONF/dialplan.conf" "$OCTO_TMP/dialplan.good"
printf '\n[extra]\nexten => 5,1,NoOp()\nsame => n,Dial(\n' >>"$OCTO_CONF/dialplan.conf"
check_fails "broken dialplan reload refused" octo_rx dialplan reload
check_output "error names file:line" "dialplan.conf:$((lines + 4)): [extra] same 5:" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'dialplan reload' 2>&1; true"
check_rx "running dialplan kept" "00X." dialplan test users 0039061234567
check_fails "procedure of the broken file not loaded" octo_rx dialplan show extra
check_fails "core reload refused too" octo_rx core reload
cp "$OCTO_TMP/dialplan.good" "$OCTO_CONF/dialplan.conf"
printf '\n[extra]\nexten => 5,1,NoOp(added)\n' >>"$OCTO_CONF/dialplan.conf"
check_rx "fixed dialplan reloads" "Dialplan reloaded" dialplan reload
check_rx "new procedure live" "NoOp(added)" dialplan show extra
check_rx "core reload" "Configuration reloaded" core reload

# SIGHUP reloads too
printf '\n[viahup]\nexten => 6,1,NoOp(hup)\n' >>"$OCTO_CONF/dialplan.conf"
kill -HUP "$OCTO_PID"
wait_until 5 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'dialplan show viahup'" &&
	pass "SIGHUP reloads" || fail "SIGHUP reloads" "viahup not loaded"

# Logger
check_rx "log channels" "messages" logger show channels
check "messages file written" test -s "$OCTO_STATE/log/messages"
check_rx "logger rotate" "rotated" logger rotate
check "rotated file kept" test -s "$OCTO_STATE/log/messages.1"
printf '[logfiles]\nmessages => error,bogus\n' >"$OCTO_CONF/logger.conf"
check_fails "bad logger.conf refused" octo_rx logger reload
check_output "logger error names file:line" "logger.conf:2:" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'logger reload' 2>&1; true"

octo_stop
