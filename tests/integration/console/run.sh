#!/usr/bin/env bash
# console: the interactive console (octo -r) driven through tmux as a person
# would type: tab completion of command words and procedure names, help,
# a suggestion for a mistyped command, and live log lines at the console's
# own verbosity.
. "$(dirname "$0")/../lib.sh"

if ! command -v tmux >/dev/null 2>&1; then
	fail "console/tmux" "tmux is not installed (Debian package tmux)"
	exit 1
fi
octo_config_dir
octo_start || exit 1

session="octo-console-$$"
export TMUX_TMPDIR="$OCTO_TMP"
tmux new-session -d -s "$session" -x 160 -y 50 \
	"'$OCTO_BIN' -C '$OCTO_CONF' -s '$OCTO_SOCK' -r" || { fail "console/start" "tmux"; exit 1; }
trap 'rc=$?; tmux kill-session -t "$session" 2>/dev/null; (exit $rc); lib_exit' EXIT

screen() { tmux capture-pane -t "$session" -p -J -S -300; }
type_keys() { tmux send-keys -t "$session" "$@"; }
expect_screen()
{
	local name=$1 text=$2
	if wait_until 8 bash -c "tmux capture-pane -t '$session' -p -J -S -300 | grep -qF -- '$text'"; then
		pass "$name"
	else
		fail "$name" "the screen does not show \"$text\""
		screen | grep -v '^ *$' | tail -30 | sed 's/^/  | /'
	fi
}

expect_screen "prompt" "octo>"
type_keys "modu" Tab
type_keys " sho" Tab
type_keys Enter
expect_screen "tab completes module show" "modules loaded:"
type_keys "dialplan show pbxint" Tab
type_keys Enter
expect_screen "tab completes a procedure name" "Dial("
expect_screen "procedure shown" 'call from ${CALLER}'
type_keys "modul shw" Enter
expect_screen "suggestion for a typo" "(did you mean"
type_keys "help dialplan test" Enter
expect_screen "help of a command" "dialplan test <procedure> <number>"
type_keys "core set verbose 3" Enter
expect_screen "console verbosity set" "Verbosity: 3"
type_keys "test call pbxinternal 101" Enter
expect_screen "live log lines at verbose 3" "executing Dial(101)"
type_keys "exit" Enter
if wait_until 5 bash -c "! tmux has-session -t '$session' 2>/dev/null"; then
	pass "exit leaves the console"
else
	fail "exit leaves the console" "still running"
fi
check_rx "daemon still running after the console left" "fully booted" core ready
octo_stop
