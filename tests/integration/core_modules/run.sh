#!/usr/bin/env bash
# core_modules: load, unload and reload modules on a running daemon; a module
# in use is not unloaded and the refusal names who holds it.
. "$(dirname "$0")/../lib.sh"

octo_config_dir
# A procedure whose call stays in the dialplan for a while.
cat >>"$OCTO_CONF/dialplan.conf" <<'CONF'

[slow]
exten => 1,1,Answer()
same => n,Wait(30)
CONF
octo_start || exit 1

check_rx "app_core loaded" "running" module show like app_core
check_rx "unload app_core" "Unloaded app_core" module unload app_core
check_output "its applications are gone" '"rows":[]' bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' --json -rx 'module show like app_core'"
check_rx "load it again" "Loaded app_core" module load app_core
check_rx "applications back" "Answer" core show application Answer
check_fails "load twice refused" octo_rx module load app_core
check_fails "missing module refused" octo_rx module load mod_nothere
check_output "missing module reason" "not in module dir" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module load mod_nothere' 2>&1; true"
check_fails "path in a module name refused" octo_rx module load ../../etc/passwd

octo_rx test call slow 1 100 >"$OCTO_TMP/call" 2>&1
id=$(sed -n 's/^id: *//p' "$OCTO_TMP/call")
wait_until 5 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'call debug $id' | grep -q Wait" || true
check_fails "unload in use refused" octo_rx module unload chan_test
check_output "refusal names the holder" "cannot unload chan_test: in use by Test/100-" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module unload chan_test' 2>&1; true"
check_output "use count shown" "Test/100-" octo_rx module show like chan_test
check_rx "reload one module" "Reloaded chan_test" module reload chan_test
octo_rx call hangup "$id" >/dev/null 2>&1
wait_until 10 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module unload chan_test'" &&
	pass "unload once idle" || fail "unload once idle" "still refused"
check_rx "load chan_test again" "Loaded chan_test" module load chan_test
check_rx "it works again" "id:" test call pbxinternal 101 100

octo_stop
