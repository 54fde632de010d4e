#!/usr/bin/env bash
# dial: the Dial application with Test channels, no network -- answer and the
# bridge (digits across, hang-up from either side, the g option), BUSY acted
# on by GotoIf, NOANSWER after the timeout, CONGESTION, CHANUNAVAIL, CANCEL,
# ring-all with the first answer winning, step logs in "call debug"; then,
# when res_users is loaded, users with Test devices and their call features.
. "$(dirname "$0")/../lib.sh"

octo_config_dir "$OCTO_CASE_DIR/configs"
octo_start || exit 1

# call NUMBER [CALLER] [PROCEDURE]: starts a Test call, prints its id.
call()
{
	octo_rx test call "${3:-dial}" "$1" "${2:-100}" | sed -n 's/^id: *//p'
}

# live_has TEXT: "calls show active" shows TEXT.
live_has()
{
	octo_rx calls show active | grep -qF -- "$1"
}

# leg_of ID DEST: the id of the leg the call placed to Test/DEST.
leg_of()
{
	octo_rx call debug "$1" |
		sed -n "s|.*calling Test/$2: [^ ]* (\([0-9.]*\)).*|\1|p" | head -n 1
}

# check_no_refs MODULE...: no use reference left on the modules (calls over).
check_no_refs()
{
	local mod
	for mod in "$@"; do
		if octo_rx module show like "$mod" | grep -qE "^$mod .* 0 +running"; then
			pass "$mod: no use reference left"
		else
			fail "$mod: no use reference left" "$(octo_rx module show like "$mod" | sed -n 2p)"
		fi
	done
}

# ---------------------------------------------------------------- documentation
check_rx "Dial is listed" "app_dial" core show applications
check_rx "Dial documents DIALSTATUS" "CHANUNAVAIL" core show application Dial
check_rx "Dial documents the g option" "g  go on" core show application Dial
check_rx "Dial documents forwards" "FORWARD_VOICEMAIL" core show application Dial
check_rx "Dial documents USER" "USER" core show application Dial

# ---------------------------------------------------------------- ANSWER, callee hangs up
id=$(call answer)
wait_until 10 live_has "Test/answer-" && pass "answer: the leg is up" ||
	fail "answer: the leg is up" "no Test/answer leg in calls show active"
leg=$(leg_of "$id" answer)
wait_step "answer: bridged" "$id" "bridge Test/100-"
check_rx "answer: DIALSTATUS=ANSWER" "Dial: DIALSTATUS=ANSWER" call debug "$id"
check_rx "answer: caller told of ringing" "Test: the caller hears ringing" call debug "$id"
check_rx "answer: caller answered" "Test: answered" call debug "$id"
check_debug "answer: BRIDGEPEER on the caller" "$id" "^BRIDGEPEER: +Test/answer-"
check_debug "answer: LINKEDID on the leg" "$leg" "LINKEDID: +$id\$"
check_rx "answer: leg log names the caller" "outgoing call to answer for Test/100-" \
	call debug "$leg"
check_rx "digits from the caller" "Sent 2 digits" test send digits "$id" 12
check_rx "digits from the callee" "Sent 1 digit" test send digits "$leg" 9
wait_step "answer: digits to the callee" "$id" "digit 2 passed to Test/answer-"
wait_step "answer: digits to the caller" "$leg" "digit 9 passed to Test/100-"
check_rx "callee hangs up" "hung up" test hangup "$leg" USER_BUSY
wait_end "answer: caller hung up with the callee" "$id"
check_rx "answer: the bridge says who ended it" "hung up (USER_BUSY)" call debug "$id"
check_rx "answer: the caller got the callee's cause" "hangup cause: USER_BUSY (17)" \
	call debug "$id"
check_rx "answer: no g, the dialplan stops" "Dial: the callee hung up: the call ends" \
	call debug "$id"
if octo_rx call debug "$id" | grep -q "not reached without g"; then
	fail "answer: next step not run" "the step after Dial ran"
else
	pass "answer: next step not run"
fi

# ---------------------------------------------------------------- ANSWER, caller hangs up
id=$(call answer)
wait_step "caller hangup: bridged" "$id" "bridge Test/100-"
leg=$(leg_of "$id" answer)
octo_rx test hangup "$id" >/dev/null
wait_end "caller hangup: caller ended" "$id"
wait_end "caller hangup: callee hung up too" "$leg"
check_rx "caller hangup: the callee's log says why" "Test/100-" call debug "$leg"
check_rx "caller hangup: leg cause" "NORMAL_CLEARING (16)" call debug "$leg"

# ---------------------------------------------------------------- g: go on after the call
id=$(call answerg)
wait_step "g: bridged after the answer delay" "$id" "bridge Test/100-"
leg=$(leg_of "$id" answer:0.2)
octo_rx test hangup "$leg" >/dev/null
wait_end "g: call ends" "$id"
check_rx "g: the dialplan went on" "NoOp(went on with ANSWER)" call debug "$id"
check_rx "g: step says so" "going on (option g)" call debug "$id"

# ---------------------------------------------------------------- BUSY, acted on by GotoIf
id=$(call busy)
wait_end "busy: ends" "$id"
check_rx "busy: DIALSTATUS" "Dial: DIALSTATUS=BUSY" call debug "$id"
check_rx "busy: GotoIf acted on it" "NoOp(acted on BUSY)" call debug "$id"
check_rx "busy: hangup cause" "USER_BUSY (17)" call debug "$id"

# ---------------------------------------------------------------- NOANSWER after 1 s
id=$(call noanswer)
wait_end "noanswer: ends" "$id"
leg=$(leg_of "$id" ring)
check_rx "noanswer: timeout step" "no answer within 1.0 s" call debug "$id"
check_rx "noanswer: DIALSTATUS" "NoOp(status NOANSWER)" call debug "$id"
check_rx "noanswer: leg cause" "NO_ANSWER (19)" call debug "$leg"

# ---------------------------------------------------------------- CONGESTION, CHANUNAVAIL
id=$(call congestion)
wait_end "congestion: ends" "$id"
check_rx "congestion: DIALSTATUS" "NoOp(status CONGESTION)" call debug "$id"
id=$(call unavail)
wait_end "unknown tech: ends" "$id"
check_rx "unknown tech: step" "cannot call Nosuch/100: no such channel technology" \
	call debug "$id"
check_rx "unknown tech: CHANUNAVAIL" "NoOp(status CHANUNAVAIL)" call debug "$id"
id=$(call unavail2)
wait_end "legs not created: ends" "$id"
check_rx "legs not created: step" "cannot call Test/nonsense" call debug "$id"
check_rx "legs not created: CHANUNAVAIL" "NoOp(status CHANUNAVAIL)" call debug "$id"
id=$(call mixed)
wait_end "several failures: ends" "$id"
check_rx "several failures: BUSY wins" "NoOp(status BUSY)" call debug "$id"

# ---------------------------------------------------------------- CANCEL
id=$(call cancel)
wait_step "cancel: ringing" "$id" "Test: the caller hears ringing"
leg=$(leg_of "$id" ring)
octo_rx test hangup "$id" >/dev/null
wait_end "cancel: caller ended" "$id"
wait_end "cancel: leg ended" "$leg"
check_rx "cancel: step" "the caller hung up while ringing" call debug "$id"
check_rx "cancel: DIALSTATUS" "Dial: DIALSTATUS=CANCEL" call debug "$id"
check_rx "cancel: the leg says why" "cancelled: the caller hung up" call debug "$leg"

# ---------------------------------------------------------------- ring all
id=$(call ringall)
wait_step "ring all: the delayed leg answers" "$id" "answered after"
ring=$(leg_of "$id" ring)
busy=$(leg_of "$id" busy)
check_rx "ring all: winner named" "Test/answer_0.5-" call debug "$id"
check_rx "ring all: the busy leg" "Test/busy-" call debug "$id"
wait_end "ring all: ringing leg cancelled" "$ring"
check_rx "ring all: answered elsewhere" "cancelled: answered elsewhere (Test/answer_0.5-" \
	call debug "$ring"
check_rx "ring all: busy leg cause" "USER_BUSY (17)" call debug "$busy"
octo_rx test hangup "$id" >/dev/null
wait_end "ring all: ends" "$id"

# Early media is shown to the caller.
id=$(call progress)
wait_step "progress: bridged" "$id" "bridge Test/100-"
check_rx "progress: caller hears early media" "Test: the caller hears early media (progress)" \
	call debug "$id"
octo_rx test hangup "$(leg_of "$id" progress:0.2)" >/dev/null
wait_end "progress: ends" "$id"
check_rx "progress: went on" "NoOp(status ANSWER)" call debug "$id"

# Two ringing legs, the second answered from the CLI.
id=$(call manual)
wait_step "manual: both ring" "$id" "ringing 2 legs"
legs=$(octo_rx call debug "$id" | sed -n 's|.*calling Test/ring: [^ ]* (\([0-9.]*\)).*|\1|p')
first=$(echo "$legs" | sed -n 1p)
second=$(echo "$legs" | sed -n 2p)
check_rx "manual: test answer" "answers" test answer "$second"
wait_step "manual: bridged with the second" "$id" "bridge Test/100-"
wait_end "manual: first leg cancelled" "$first"
check_rx "manual: first leg answered elsewhere" "cancelled: answered elsewhere" \
	call debug "$first"
check_fails "manual: test answer refuses a caller" octo_rx test answer "$id"
octo_rx test hangup "$second" >/dev/null
wait_end "manual: ends" "$id"

# ---------------------------------------------------------------- bad arguments
id=$(call badtimeout)
wait_end "bad timeout: ends" "$id"
check_rx "bad timeout: step" "Dial: timeout \"soon\" is not a number of seconds" call debug "$id"
id=$(call badoption)
wait_end "bad option: ends" "$id"
check_rx "bad option: step" "Dial: unknown option 'z'" call debug "$id"

# ---------------------------------------------------------------- Test devices
check_rx "device add" "Test/ring is a device of 200" test device add 200 ring
check_rx "device add a second" "is a device of 200" test device add 200 answer:0.3
check_fails "device add twice" octo_rx test device add 200 ring
check_fails "device with a bad destination" octo_rx test device add 200 "explode:9"
check_fails "device with a hostile user" octo_rx test device add "2;0" ring
check_rx "device show" "Test/answer:0.3" test device show
check_fails "device remove unknown" octo_rx test device remove 200 busy

# ---------------------------------------------------------------- users (res_users)
if ! octo_rx module show like res_users | grep -q "running"; then
	echo "NOTE dial: res_users is not loaded: the user cases are skipped"
	id=$(call 200)
	wait_end "user without res_users: ends" "$id"
	check_rx "user without res_users: CHANUNAVAIL" "status CHANUNAVAIL" call debug "$id"
	check_rx "user without res_users: step" "no users service" call debug "$id"
	check_no_refs chan_test app_dial
	octo_stop
	exit 0
fi

# 200 rings its two Test devices; the one answering after 0.3 s wins.
id=$(call 200)
wait_step "user: default timeout is call_timeout" "$id" "Dial: 1 target, timeout 5 s"
wait_step "user: a device answers" "$id" "bridge Test/100-"
check_rx "user: device legs listed" "Dial: user 200: device Test/ring" call debug "$id"
check_debug "user: DIALEDUSER" "$id" "^DIALEDUSER: +200\$"
leg=$(leg_of "$id" answer:0.3)
check_debug "user: USER on the device leg" "$leg" "^USER: +200\$"
check_debug "user: leg called number is the user" "$leg" "^called: +200\$"
octo_rx test hangup "$leg" >/dev/null
wait_end "user: ends" "$id"
check_rx "user: g went on" "NoOp(status ANSWER" call debug "$id"

# dnd + forward_busy to a number: the dialplan goes on at the number.
id=$(call 201)
wait_end "dnd: ends" "$id"
check_rx "dnd: step" "user 201 is in do not disturb" call debug "$id"
check_rx "dnd: forward busy" "user 201 forwards (busy) to 0612345 in [dial]" call debug "$id"
check_rx "dnd: forward reached" "NoOp(forwarded to 0612345)" call debug "$id"

# forward_all to voicemail, and forward_busy to voicemail after dnd
id=$(call 202)
wait_end "forward all voicemail: ends" "$id"
check_rx "forward all voicemail" "NoOp(status FORWARD_VOICEMAIL forward VOICEMAIL reason all)" \
	call debug "$id"
id=$(call 207)
wait_end "dnd to voicemail: ends" "$id"
check_rx "dnd to voicemail" "NoOp(status FORWARD_VOICEMAIL forward VOICEMAIL reason busy)" \
	call debug "$id"

# reject lists and anonymous callers
id=$(call 203 100)
wait_end "reject: ends" "$id"
check_rx "reject: step" "user 203 rejects calls from 100" call debug "$id"
check_rx "reject: REJECTED" "NoOp(status REJECTED" call debug "$id"
id=$(call 203 355)
wait_end "reject pattern: ends" "$id"
check_rx "reject pattern: REJECTED" "NoOp(status REJECTED" call debug "$id"
id=$(call 203 anonymous)
wait_end "reject anonymous: ends" "$id"
check_rx "reject anonymous: step" "user 203 rejects anonymous callers" call debug "$id"
check_rx "reject: other callers ring" "Test/busy is a device of 203" test device add 203 busy
id=$(call 203 456)
wait_end "not rejected: ends" "$id"
check_rx "not rejected: rang" "NoOp(status BUSY" call debug "$id"

# call waiting off: busy while 204 is in a call (its own Test call rings).
check_rx "call waiting: device" "is a device of 204" test device add 204 answer
busyid=$(call cancel 204)
wait_step "call waiting: 204 is in a call" "$busyid" "ringing 1 leg"
id=$(call 204)
wait_end "call waiting: ends" "$id"
check_rx "call waiting: step" "user 204 is in a call and has call waiting off" call debug "$id"
check_rx "call waiting: BUSY" "NoOp(status BUSY" call debug "$id"
octo_rx test hangup "$busyid" >/dev/null
wait_end "call waiting: first call ends" "$busyid"
id=$(call 204)
wait_step "call waiting: free again" "$id" "bridge Test/100-"
octo_rx test hangup "$id" >/dev/null
wait_end "call waiting: second call ends" "$id"

# 205 (no answer -> 206) and 206 (all -> 205): cut after 5 forwards.
check_rx "loop: device" "is a device of 205" test device add 205 ring
id=$(call 205 100 quick)
wait_end "forward loop: ends" "$id"
check_rx "forward loop: cut" "Dial: not following the forward" call debug "$id"
check_rx "forward loop: counted" "after 5 forwards" call debug "$id"

# Several targets: a user among them is rung without forwards.
id=$(call 7201)
wait_end "several targets: ends" "$id"
check_rx "several targets: dnd counts busy" "user 201: not called (BUSY)" call debug "$id"
check_rx "several targets: no forward" "NoOp(status BUSY)" call debug "$id"
id=$(call 7999)
wait_end "unknown user: ends" "$id"
check_rx "unknown user: step" "Dial: no user 999" call debug "$id"

check_rx "device remove" "no longer a device of 200" test device remove 200 ring
check_rx "no call left" "active calls: 0" calls show active
check_no_refs chan_test app_dial res_users

octo_stop
