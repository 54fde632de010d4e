#!/usr/bin/env bash
# callgroup: the CallGroup application and callgroups.conf with Test devices
# of users (res_users) -- each strategy (ring-all, hunt, round-robin,
# longest-idle, random), the timeout leading to the next application,
# ${DIALSTATUS} (ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL),
# busy members skipped unless call waiting lets them ring, do not disturb,
# "callgroup show", the round-robin position and last call ends surviving a
# restart (the store), reloads refused on errors with file:line, octo -t;
# music on hold heard by a TestAudio caller while the members ring (the
# generated class, compared sample by sample), the message for the operator
# played to the member who answers before the two are connected.
. "$(dirname "$0")/../lib.sh"

octo_config_dir "$OCTO_CASE_DIR/configs"
if [ ! -d "$OCTO_BUILD/sounds/en" ]; then
	fail "prompts generated" "no $OCTO_BUILD/sounds/en (make builds them)"
	exit 1
fi
printf '[directories]\nsounds = %s\n' "$OCTO_BUILD/sounds" >>"$OCTO_CONF/octo.conf"
octo_start || exit 1

# call NUMBER [CALLER]: starts a Test call in [cg], prints its id.
call()
{
	octo_rx test call cg "$1" "${2:-100}" | sed -n 's/^id: *//p'
}

# leg_of ID DEST: the id of the (first) leg the call placed to Test/DEST.
leg_of()
{
	octo_rx call debug "$1" |
		sed -n "s|.*calling Test/$2: [^ ]* (\([0-9.]*\)).*|\1|p" | head -n 1
}

# member_of ID: who answered (${CALLGROUPMEMBER} of the call).
member_of()
{
	octo_rx call debug "$1" | sed -n 's/^CALLGROUPMEMBER: *//p'
}

# check_no_debug NAME ID TEXT: "call debug ID" does not have TEXT.
check_no_debug()
{
	if octo_rx call debug "$2" | grep -qF -- "$3"; then
		fail "$1" "call debug $2 has \"$3\""
	else
		pass "$1"
	fi
}

# check_show NAME GROUP REGEX: "callgroup show GROUP" has a line matching REGEX.
check_show()
{
	if octo_rx callgroup show "$2" | grep -qE -- "$3"; then
		pass "$1"
	else
		fail "$1" "callgroup show $2 has no line /$3/"
		octo_rx callgroup show "$2" | sed 's/^/  | /'
	fi
}

# ended_calls N: a regex for the "last call end" and "calls" columns: a date
# and time, then N calls.
ended_calls()
{
	echo "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]+ +$1( |\$)"
}

# answered_call NAME NUMBER MEMBER: a call to NUMBER is answered by MEMBER,
# then the caller hangs up. Prints the call's id.
answered_call()
{
	local id got
	id=$(call "$2")
	wait_step "$1: answered" "$id" "CallGroup: DIALSTATUS=ANSWER" >&2
	got=$(member_of "$id")
	if [ "$got" = "$3" ]; then
		pass "$1: answered by $3" >&2
	else
		fail "$1: answered by $3" "answered by \"$got\"" >&2
		octo_rx call debug "$id" | grep CallGroup | sed 's/^/  | /' >&2
	fi
	octo_rx test hangup "$id" >/dev/null
	wait_end "$1: ends" "$id" >&2
	echo "$id"
}

# devices USER DEST...: Test devices of a user.
devices()
{
	local user=$1 dest
	shift
	for dest in "$@"; do
		octo_rx test device add "$user" "$dest" >/dev/null ||
			fail "device $dest of $user" "test device add failed"
	done
}

# ---------------------------------------------------------------- documentation and CLI
check_rx "CallGroup is listed" "app_callgroup" core show applications
check_rx "CallGroup documents the strategies" "longest-idle" core show application CallGroup
check_rx "CallGroup documents DIALSTATUS" "CHANUNAVAIL" core show application CallGroup
check_rx "CallGroup documents the message for the operator" "in the member's language" \
	core show application CallGroup
check_rx "CallGroup documents music on hold" "musiconhold.conf" core show application CallGroup
check_rx "callgroup show lists the groups" "call groups: 14" callgroup show
check_rx "callgroup show: strategy" "round-robin" callgroup show
check_show "callgroup show NAME: members" hunt "^members: +2$"
check_show "callgroup show NAME: ring time" hunt "^ring time: +5s$"
check_show "callgroup show NAME: state kept in the store" hunt "^state kept in: +the store$"
check_show "callgroup show NAME: where it is defined" hunt "^defined at: +callgroups.conf:[0-9]+$"
check_rx "callgroup show: case does not matter" "name:" callgroup show SLOW
check_fails "callgroup show unknown" octo_rx callgroup show nosuch
check_output "callgroup show unknown: message" 'No call group "nosuch"' \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'callgroup show nosuch' 2>&1; true"
check_fails "callgroup show: too many words" octo_rx callgroup show a b
cols='"columns":\["member","name","state","last call end","calls","next"\]'
if octo_rx_json callgroup show all | grep -q "$cols"; then
	pass "callgroup show NAME in JSON: member columns"
else
	fail "callgroup show NAME in JSON: member columns" "$(octo_rx_json callgroup show all)"
fi

# ---------------------------------------------------------------- ring-all
devices 300 ring
devices 301 answer:0.5
devices 302 busy
id=$(call all)
wait_step "ring-all: a member answers" "$id" "CallGroup: DIALSTATUS=ANSWER"
ring=$(leg_of "$id" ring)
busy=$(leg_of "$id" busy)
check_rx "ring-all: all members rung at once" "ringing 3 legs" call debug "$id"
check_rx "ring-all: the first answer wins" "CallGroup: member 301 answered" call debug "$id"
check_debug "ring-all: CALLGROUPMEMBER" "$id" "^CALLGROUPMEMBER: +301$"
check_debug "ring-all: CALLGROUP" "$id" "^CALLGROUP: +all$"
wait_end "ring-all: the ringing member is cancelled" "$ring"
check_rx "ring-all: answered elsewhere" "cancelled: answered elsewhere (Test/answer_0.5-" \
	call debug "$ring"
check_debug "ring-all: the member's leg calls the user" "$ring" "^called: +300$"
check_rx "ring-all: the busy member" "USER_BUSY (17)" call debug "$busy"
check_rx "ring-all: the message for the operator is played to the member" \
	'playing the message for the operator "cg-company-call" to Test/answer_0.5-' \
	call debug "$id"
check_rx "ring-all: the message was played" "CallGroup: message for the operator played to" \
	call debug "$id"
check_rx "ring-all: no music on hold for a caller without audio" \
	'music on hold "jazz": Test channels carry no audio: the caller is shown ringing' \
	call debug "$id"
n=$(octo_rx call debug "$id" | grep -c "Test: the caller hears ringing")
if [ "$n" = 1 ]; then
	pass "ring-all: the caller is shown ringing once"
else
	fail "ring-all: the caller is shown ringing once" "$n times"
fi
check_rx "ring-all: bridged" "bridge Test/100-" call debug "$id"
leg=$(leg_of "$id" answer:0.5)
check_debug "ring-all: USER on the member's leg" "$leg" "^USER: +301$"
octo_rx test hangup "$leg" >/dev/null
wait_end "ring-all: the member hangs up, the call ends" "$id"
check_rx "ring-all: the member hung up" "CallGroup: the member hung up: the call ends" \
	call debug "$id"
check_no_debug "ring-all: no next step after the call" "$id" "NoOp(status"
check_output "callgroup show: last call end of 301" "calls" octo_rx callgroup show all
if octo_rx callgroup show all | grep -E "^301 " | grep -qE "$(ended_calls 1)"; then
	pass "callgroup show: 301 has a last call end and 1 call"
else
	fail "callgroup show: 301 has a last call end and 1 call" "$(octo_rx callgroup show all)"
fi
if octo_rx callgroup show all | grep -E "^300 " | grep -q "never"; then
	pass "callgroup show: 300 never answered"
else
	fail "callgroup show: 300 never answered" "$(octo_rx callgroup show all)"
fi

# ---------------------------------------------------------------- hunt
devices 310 busy
devices 311 answer:0.3
id=$(call hunt)
wait_step "hunt: answered" "$id" "CallGroup: DIALSTATUS=ANSWER"
check_rx "hunt: in the order listed" "CallGroup: order 310, 311" call debug "$id"
check_rx "hunt: the first member is busy" "CallGroup: member 310: BUSY" call debug "$id"
check_rx "hunt: the second rings" "CallGroup: member 311 rings for 5.0 s" call debug "$id"
check_debug "hunt: the second answers" "$id" "^CALLGROUPMEMBER: +311$"
check_rx "hunt: each member its own ringing" "ringing 1 leg" call debug "$id"
octo_rx test hangup "$id" >/dev/null
wait_end "hunt: ends" "$id"

# ---------------------------------------------------------------- round-robin
devices 320 answer
devices 321 answer
devices 322 answer
check_rx "round-robin: starts at the first" "round-robin next: 320" callgroup show rr
id1=$(answered_call "round-robin 1" rr 320)
check_rx "round-robin: next is 321" "round-robin next: 321" callgroup show rr
id2=$(answered_call "round-robin 2" rr 321)
check_rx "round-robin 2: starts at the next member" "CallGroup: order 321, 322, 320" \
	call debug "$id2"
id3=$(answered_call "round-robin 3" rr 322)
check_rx "round-robin: next wraps to 320" "round-robin next: 320" callgroup show rr
if octo_rx callgroup show rr | grep -E "^320 " | grep -q "next"; then
	pass "round-robin: the member table marks the next"
else
	fail "round-robin: the member table marks the next" "$(octo_rx callgroup show rr)"
fi
# Where it stopped: 320 is busy, 321 answers, so the next call starts at 322.
octo_rx test device remove 320 answer >/dev/null
devices 320 busy
id=$(answered_call "round-robin: 320 busy" rr 321)
check_rx "round-robin: 320 busy is passed over" "CallGroup: member 320: BUSY" call debug "$id"
check_rx "round-robin: next after where it stopped" "round-robin next: 322" callgroup show rr
octo_rx test device remove 320 busy >/dev/null
devices 320 answer

# ---------------------------------------------------------------- longest-idle
# 330 and 331 have call waiting off. A: 330 answers and stays up; B: 330 is
# busy, 331 answers; B ends first, then A; so 331 has been idle longest.
devices 330 answer
devices 331 answer
a=$(call idle)
wait_step "longest-idle A: answered" "$a" "CallGroup: DIALSTATUS=ANSWER"
check_debug "longest-idle A: by 330 (never called, listed first)" "$a" "^CALLGROUPMEMBER: +330$"
b=$(call idle)
wait_step "longest-idle B: answered" "$b" "CallGroup: DIALSTATUS=ANSWER"
check_rx "longest-idle B: 330 is busy, skipped" \
	"CallGroup: member 330 is busy (in a call, call waiting off): skipped" call debug "$b"
check_debug "longest-idle B: by 331" "$b" "^CALLGROUPMEMBER: +331$"
check_rx "callgroup show: 330 busy" "busy" callgroup show idle
octo_rx test hangup "$b" >/dev/null
wait_end "longest-idle B: ends" "$b"
octo_rx test hangup "$a" >/dev/null
wait_end "longest-idle A: ends" "$a"
c=$(answered_call "longest-idle C" idle 331)
check_rx "longest-idle C: 331 first" "CallGroup: order 331, 330" call debug "$c"
d=$(answered_call "longest-idle D" idle 330)

# ---------------------------------------------------------------- random
devices 340 answer
devices 341 answer
seen=" "
for i in 1 2 3 4; do
	id=$(call rand)
	wait_step "random $i: answered" "$id" "CallGroup: DIALSTATUS=ANSWER"
	m=$(member_of "$id")
	case "$m" in
	340 | 341) pass "random $i: answered by member $m" ;;
	*) fail "random $i: answered by a member" "CALLGROUPMEMBER=\"$m\"" ;;
	esac
	check_debug "random $i: an order of both members" "$id" \
		"CallGroup: order (340, 341|341, 340)"
	seen="$seen$m "
	octo_rx test hangup "$id" >/dev/null
	wait_end "random $i: ends" "$id"
done

# ---------------------------------------------------------------- the timeout
devices 350 ring
devices 351 ring
id=$(call slow)
wait_end "timeout: ends" "$id"
check_rx "timeout: group found whatever the case" "CallGroup: group Slow (hunt)" call debug "$id"
check_rx "timeout: 350 rang 1 s" "CallGroup: member 350 rings for 1.0 s" call debug "$id"
check_rx "timeout: then 351" "CallGroup: member 351 rings for 1.0 s" call debug "$id"
check_rx "timeout: round again" "CallGroup: nobody answered in round 1: again" call debug "$id"
check_rx "timeout: the total timeout" "CallGroup: no answer within 3 s" call debug "$id"
check_rx "timeout: NOANSWER" "CallGroup: DIALSTATUS=NOANSWER" call debug "$id"
check_rx "timeout: the next application runs" "Log(notice,after the group: NOANSWER)" \
	call debug "$id"
check_rx "timeout: and the one after" "NoOp(after the group: NOANSWER member )" \
	call debug "$id"
leg=$(leg_of "$id" ring)
check_rx "timeout: leg cause" "NO_ANSWER (19)" call debug "$leg"
id=$(call slow0)
wait_end "timeout argument: ends" "$id"
check_rx "timeout argument overrides the group's" "timeout 1 s" call debug "$id"
check_rx "timeout argument: NOANSWER" "NoOp(status NOANSWER)" call debug "$id"
check_no_debug "timeout argument: 351 not reached" "$id" "member 351 rings"

# ---------------------------------------------------------------- BUSY, DND
devices 360 busy
devices 361 answer
id=$(call busy)
wait_end "busy: ends" "$id"
check_rx "busy: 360 busy" "CallGroup: member 360: BUSY" call debug "$id"
check_rx "busy: 361 in DND skipped" "CallGroup: member 361 is in do not disturb: skipped" \
	call debug "$id"
check_rx "busy: DIALSTATUS" "CallGroup: DIALSTATUS=BUSY" call debug "$id"
check_rx "busy: GotoIf acted on it" "NoOp(acted on BUSY)" call debug "$id"
check_rx "callgroup show: in DND" "in DND" callgroup show busy
id=$(call dndring)
wait_step "skip_dnd = no: answered" "$id" "CallGroup: DIALSTATUS=ANSWER"
check_rx "skip_dnd = no: rung anyway" "member 361 is in do not disturb: rung anyway" \
	call debug "$id"
octo_rx test hangup "$id" >/dev/null
wait_end "skip_dnd = no: ends" "$id"

# ---------------------------------------------------------------- CONGESTION, CHANUNAVAIL
devices 370 congestion:0.1
id=$(call congestion)
wait_end "congestion: ends" "$id"
check_rx "congestion: DIALSTATUS" "NoOp(status CONGESTION)" call debug "$id"
id=$(call nodevice)
wait_end "no device: ends" "$id"
check_rx "no device: step" "CallGroup: member 371 has no device that can be called now" \
	call debug "$id"
check_rx "no device: CHANUNAVAIL" "NoOp(status CHANUNAVAIL)" call debug "$id"
id=$(call nosuch)
wait_end "no such group: ends" "$id"
check_rx "no such group: step" 'CallGroup: no call group "nosuch" in callgroups.conf' \
	call debug "$id"
check_rx "no such group: CHANUNAVAIL" "NoOp(status CHANUNAVAIL)" call debug "$id"

# ---------------------------------------------------------------- CANCEL
devices 380 ring
id=$(call cancel)
wait_step "cancel: ringing" "$id" "ringing 1 leg"
check_rx "cancel: no timeout" "no timeout" call debug "$id"
leg=$(leg_of "$id" ring)
octo_rx test hangup "$id" >/dev/null
wait_end "cancel: caller ended" "$id"
wait_end "cancel: leg ended" "$leg"
check_rx "cancel: DIALSTATUS" "CallGroup: DIALSTATUS=CANCEL" call debug "$id"
check_rx "cancel: the leg says why" "cancelled: the caller hung up" call debug "$leg"
check_no_debug "cancel: next step not run" "$id" "NoOp(not reached)"

# ---------------------------------------------------------------- call waiting
# 390 (call waiting off) and 391 (on) are in calls of their own.
devices 390 answer
devices 391 answer:0.2
devices 392 answer
h390=$(call hold 390)
h391=$(call hold 391)
wait_step "call waiting: 390 in a call" "$h390" "Wait(60)"
wait_step "call waiting: 391 in a call" "$h391" "Wait(60)"
if octo_rx callgroup show cw | grep -E "^390 " | grep -q busy; then
	pass "callgroup show: 390 busy"
else
	fail "callgroup show: 390 busy" "$(octo_rx callgroup show cw)"
fi
id=$(call cw)
wait_step "call waiting: answered" "$id" "CallGroup: DIALSTATUS=ANSWER"
check_rx "call waiting off: busy member skipped" \
	"CallGroup: member 390 is busy (in a call, call waiting off): skipped" call debug "$id"
check_rx "call waiting on: member rung" "CallGroup: member 391 is in a call: rung (call waiting)" \
	call debug "$id"
check_debug "call waiting: 391 answers" "$id" "^CALLGROUPMEMBER: +391$"
octo_rx test hangup "$id" >/dev/null
wait_end "call waiting: ends" "$id"
octo_rx test hangup "$h390" >/dev/null
octo_rx test hangup "$h391" >/dev/null
wait_end "call waiting: 390's call ends" "$h390"
wait_end "call waiting: 391's call ends" "$h391"
if octo_rx callgroup show cw | grep -E "^390 " | grep -q idle; then
	pass "callgroup show: 390 idle again"
else
	fail "callgroup show: 390 idle again" "$(octo_rx callgroup show cw)"
fi

# The caller is a member: not rung.
id=$(call cw 390)
wait_step "member calling its group: answered" "$id" "CallGroup: DIALSTATUS=ANSWER"
check_rx "member calling its group: not rung" "CallGroup: member 390 is the caller: skipped" \
	call debug "$id"
check_debug "member calling its group: 391 answers" "$id" "^CALLGROUPMEMBER: +391$"
octo_rx test hangup "$id" >/dev/null
wait_end "member calling its group: ends" "$id"

# ---------------------------------------------------------------- music on hold, message
# ms_of ID TEXT: the time (ms of the day) of the first step of call ID holding TEXT.
ms_of()
{
	octo_rx call debug "$1" | grep -F -- "$2" | head -n 1 |
		awk '{ split($2, t, /[:.]/); print ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4] }'
}
devices 395 answer:2
id=$(octo_rx test call cg moh 100 audio=silence | sed -n 's/^id: *//p')
wait_step "moh: answered" "$id" "CallGroup: DIALSTATUS=ANSWER"
check_rx "moh: early media for the caller" "Test: the caller hears early media (progress)" \
	call debug "$id"
check_no_debug "moh: no ringing instead" "$id" "Test: the caller hears ringing"
check_rx "moh: the class" "CallGroup: the caller hears music on hold (class default)" \
	call debug "$id"
check_rx "moh: its first file" "CallGroup: music on hold: playing chords-low.wav" call debug "$id"
check_rx "moh: the message to the member" \
	'playing the message for the operator "cg-company-call&beep" to Test/answer_2-' \
	call debug "$id"
check_rx "moh: stopped before the bridge" "CallGroup: music on hold stopped after" \
	call debug "$id"
leg=$(leg_of "$id" answer:2)
check_rx "moh: the member's leg: the message" "CallGroup: playing cg-company-call (en)" \
	call debug "$leg"
check_rx "moh: the member's leg: then the beep" "CallGroup: playing beep (en)" call debug "$leg"
msg=$(sox --i -s "$OCTO_BUILD/sounds/en/cg-company-call.wav" "$OCTO_BUILD/sounds/en/beep.wav" |
	awk '{ n += $1 } END { print int(n / 8) }')
t1=$(ms_of "$id" "CallGroup: member 395 answered")
t2=$(ms_of "$id" "CallGroup: message for the operator played")
if [ -n "$t1" ] && [ -n "$t2" ] && [ $((t2 - t1 - msg)) -gt -300 ] && [ $((t2 - t1 - msg)) -lt 300 ]; then
	pass "moh: the member hears the message before the bridge ($((t2 - t1)) ms, want $msg)"
else
	fail "moh: the member hears the message before the bridge" "'$t1' '$t2' want $msg ms"
fi
check_rx "moh: then bridged" "bridge TestAudio/100-" call debug "$id"
secs=$(octo_rx test show audio "$id" | sed -n 's/^seconds played: *//p')
if awk -v s="$secs" -v m="$msg" 'BEGIN { exit !(s >= 1.8 + m / 1000 && s < 6 + m / 1000) }'; then
	pass "moh: the caller heard music while ringing and during the message (${secs} s)"
else
	fail "moh: the caller heard music while ringing and during the message" "'$secs' s"
fi
octo_rx test record "$id" "$OCTO_TMP/moh.wav" >/dev/null
if cmp -s <(sox "$OCTO_TMP/moh.wav" -t raw - trim 0 1) \
	<(sox "$OCTO_BUILD/sounds/moh/default/chords-low.wav" -t raw - trim 0 1); then
	pass "moh: the caller heard the class's first file itself (1 s compared)"
else
	fail "moh: the caller heard the class's first file itself" "the audio differs"
fi
octo_rx test hangup "$id" >/dev/null
wait_end "moh: ends" "$id"

devices 396 ring
id=$(octo_rx test call cg mohjazz 100 audio=silence | sed -n 's/^id: *//p')
wait_step "moh cancel: the music plays" "$id" "CallGroup: music on hold: playing"
check_rx "moh cancel: an unknown class plays the default" \
	'CallGroup: no music on hold class "jazz" in musiconhold.conf: the default class plays' \
	call debug "$id"
sleep 1
octo_rx test hangup "$id" >/dev/null
wait_end "moh cancel: ends" "$id"
check_rx "moh cancel: CANCEL" "CallGroup: DIALSTATUS=CANCEL" call debug "$id"
check_rx "moh cancel: the music stopped" "CallGroup: music on hold stopped after" call debug "$id"

# ---------------------------------------------------------------- bad arguments
id=$(call badtimeout)
wait_end "bad timeout: ends" "$id"
check_rx "bad timeout: step" 'CallGroup: timeout "soon" is not a number of seconds' \
	call debug "$id"
id=$(call badname)
wait_end "bad name: ends" "$id"
check_rx "bad name: step" 'CallGroup: "a/b" is not a call group name' call debug "$id"
id=$(call noname)
wait_end "no name: ends" "$id"
check_rx "no name: step" "CallGroup: no group" call debug "$id"

check_rx "no call left" "active calls: 0" calls show active

# ---------------------------------------------------------------- reload and octo -t
conf="$OCTO_CONF/callgroups.conf"
cp "$conf" "$OCTO_TMP/callgroups.good"
cat >>"$conf" <<'EOF'

[extra]
members = 300, 999
strategy = hunt
EOF
line=$(grep -n "^members = 300, 999" "$conf" | cut -d: -f1)
check_output "reload: unknown user is a warning with file:line" \
	"callgroups.conf:$line: [extra] members: no user 999 in users.conf" \
	octo_rx module reload app_callgroup
check_rx "reload: the new group is there" "call groups: 15" callgroup show
check_output "octo -t: unknown user warned" "[extra] members: no user 999" \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_CONF' -M '$OCTO_MODDIR' 2>&1; true"

cat >>"$conf" <<'EOF'

[broken]
members = 300, 300, abc
strategy = sometimes
ring_time = 0
colour = red
EOF
mline=$(grep -n "^members = 300, 300, abc" "$conf" | cut -d: -f1)
sline=$(grep -n "^strategy = sometimes" "$conf" | cut -d: -f1)
rline=$(grep -n "^ring_time = 0" "$conf" | cut -d: -f1)
cline=$(grep -n "^colour = red" "$conf" | cut -d: -f1)
check_fails "reload refused for a broken group" octo_rx module reload app_callgroup
reload_out=$("$OCTO_BIN" -s "$OCTO_SOCK" -rx "module reload app_callgroup" 2>&1)
for want in "callgroups.conf:$mline: [broken] members: 300 is listed twice" \
	"callgroups.conf:$mline: [broken] members: \"abc\" is not an extension" \
	"callgroups.conf:$sline: [broken] strategy: \"sometimes\" is not one of" \
	"callgroups.conf:$rline: [broken] ring_time:" \
	"callgroups.conf:$cline: [broken] unknown option \"colour\""; do
	if grep -qF -- "$want" <<<"$reload_out"; then
		pass "reload error: $want"
	else
		fail "reload error: $want" "$reload_out"
	fi
done
check_rx "reload refused: the running groups stay" "call groups: 15" callgroup show
check_fails "octo -t catches the broken group" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$OCTO_MODDIR"
check_output "octo -t names file:line" \
	"callgroups.conf:$mline: [broken] members: 300 is listed twice" \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_CONF' -M '$OCTO_MODDIR' 2>&1; true"

cat >"$conf" <<'EOF'
[empty]
members =
[nomembers]
strategy = hunt
EOF
reload_out=$("$OCTO_BIN" -s "$OCTO_SOCK" -rx "module reload app_callgroup" 2>&1)
for want in "callgroups.conf:2: [empty] members: the group has no member" \
	"callgroups.conf:3: [nomembers] members: required option missing"; do
	if grep -qF -- "$want" <<<"$reload_out"; then
		pass "reload error: $want"
	else
		fail "reload error: $want" "$reload_out"
	fi
done

# Hostile bytes in the file: refused with a clean message, no crash.
printf '[bad\001name]\nmembers = 300\n[ok]\nmembers = 30\001 0\n' >"$conf"
check_fails "reload refused for control characters" octo_rx module reload app_callgroup
check_rx "still running after hostile input" "call groups: 15" callgroup show

cp "$OCTO_TMP/callgroups.good" "$conf"
check_rx "reload of the good file" "" module reload app_callgroup
check_rx "reload: back to 14 groups" "call groups: 14" callgroup show
check "octo -t passes on the good file" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$OCTO_MODDIR"

# ---------------------------------------------------------------- state survives a restart
check_rx "before the restart: round-robin next" "round-robin next: 322" callgroup show rr
if octo_rx module show like app_callgroup | grep -qE "^app_callgroup .* 0 +running"; then
	pass "app_callgroup: no use reference left"
else
	fail "app_callgroup: no use reference left" "$(octo_rx module show like app_callgroup)"
fi
octo_stop
octo_start || exit 1
check_rx "after the restart: round-robin position kept" "round-robin next: 322" \
	callgroup show rr
if octo_rx callgroup show idle | grep -E "^330 " | grep -qE "$(ended_calls 2)"; then
	pass "after the restart: last call end and count kept"
else
	fail "after the restart: last call end and count kept" "$(octo_rx callgroup show idle)"
fi
devices 320 answer
devices 321 answer
devices 322 answer
answered_call "after the restart: round-robin goes on" rr 322 >/dev/null

# Unload and load again while nothing rings.
check_rx "unload" "" module unload app_callgroup
check_fails "unloaded: no command" octo_rx callgroup show
check_rx "load again" "" module load app_callgroup
check_rx "loaded again: position kept" "round-robin next: 320" callgroup show rr

octo_stop
