#!/usr/bin/env bash
# voicemail: app_voicemail and chan_sip's MWI with the sample configs plus
# this case's (users, voicemail.conf, a test dialplan):
#   - a SIPp phone of user 101 SUBSCRIBEs to message-summary (digest auth)
#     and gets NOTIFY 0/0, then 1/0 when a message is left, 0/1 when it is
#     saved, and the final NOTIFY when it unsubscribes; another event
#     package is 489, another user's mailbox 403; a phone of 100 that only
#     registers (mwiphone.py) gets an unsolicited NOTIFY 1/0 (1/0);
#   - a Test caller with audio leaves a message (a 700 Hz tone) after the
#     default greeting: the WAV in voicemail/101/INBOX lasts as long as the
#     tone and is the tone (tone.py), the index row holds the caller and
#     duration, aiosmtpd receives the e-mail with the WAV attached byte for
#     byte; a caller who hangs up during the recording keeps the message;
#   - VoiceMailMain with the PIN by DTMF plays the message to the caller (the
#     tone is in what the caller heard), 9 saves it (Old), # leaves; three
#     wrong PINs hang up; option s skips the PIN and 8 calls the caller back;
#     a greeting and a new PIN set from the phone (the greeting is played to
#     the next caller, the PIN is in the store);
#   - a user whose forward is VOICEMAIL reaches VoiceMail through Dial; bad
#     arguments, no mailbox, no PIN; the CLI and the documentation; reload,
#     unload and load keep the messages.
. "$(dirname "$0")/../lib.sh"

for tool in sox sipp sqlite3; do
	command -v "$tool" >/dev/null || { fail "$tool" "$tool is needed"; exit 1; }
done
if [ ! -d "$OCTO_BUILD/sounds/en" ]; then
	fail "prompts generated" "no $OCTO_BUILD/sounds/en (make builds them)"
	exit 1
fi
octo_need_aiosmtpd || exit 1
SMTP_HELPER="$OCTO_SRC/tests/integration/smtp/smtp_helper.py"
TONE="$OCTO_CASE_DIR/tone.py"

octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
sed -i "/^\[directories\]/a sounds = $OCTO_BUILD/sounds" "$OCTO_CONF/octo.conf"
smtp_port=$(octo_free_port) || exit 1
sed -i "s/@SMTP_PORT@/$smtp_port/" "$OCTO_CONF/smtp.conf"
DATA="$OCTO_STATE/data"
BOX="$DATA/voicemail/101"
MAILDIR="$OCTO_TMP/maildir"

# The SMTP server: the stock aiosmtpd one with its Mailbox handler; the EXIT
# trap stops it (it ends by itself after 5 minutes anyway).
mkdir -p "$MAILDIR/tmp" "$MAILDIR/new" "$MAILDIR/cur"
timeout 300 "$SMTP_PY" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox \
	"$MAILDIR" >>"$OCTO_TMP/smtpd.log" 2>&1 </dev/null &
smtp_pid=$!
sipp_pid=""
reg_pid=""
vm_cleanup()
{
	local rc=$?
	kill -TERM "$smtp_pid" 2>/dev/null
	[ -n "$sipp_pid" ] && kill -TERM "$sipp_pid" 2>/dev/null
	[ -n "$reg_pid" ] && kill -TERM "$reg_pid" 2>/dev/null
	wait 2>/dev/null
	(exit "$rc")
	lib_exit
}
trap vm_cleanup EXIT
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$smtp_port" ||
	{ fail "smtp server" "aiosmtpd does not listen"; exit 1; }

# The caller's "voice": 3 s of a 700 Hz tone.
sox -n -r 8000 -b 16 -c 1 "$OCTO_TMP/tone.wav" synth 3 sine 700 vol 0.5

check "octo -t accepts the configs" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$(octo_build_modules)"
octo_start || exit 1

# call NUMBER CALLER [audio=...]: a Test call into [vm]; prints its id.
call()
{
	octo_rx test call vm "$@" | sed -n 's/^id: *//p'
}

# step_wait NAME ID TEXT [SECONDS]: the call's step log gets TEXT (default 40 s).
step_wait()
{
	if wait_until "${4:-40}" steps_have "$2" "$3"; then
		pass "$1"
		return 0
	fi
	fail "$1" "no step \"$3\" in call $2"
	octo_rx call debug "$2" | tail -n 25 | sed 's/^/  | /'
	return 1
}

# end_wait NAME ID [SECONDS]: the call ends (default 40 s).
end_wait()
{
	if wait_until "${3:-40}" ended "$2"; then
		pass "$1"
		return 0
	fi
	fail "$1" "call $2 still up"
	octo_rx call debug "$2" | tail -n 25 | sed 's/^/  | /'
	return 1
}

has()
{
	check_output "$1" "$3" octo_rx call debug "$2"
}

# near NAME GOT WANT TOLERANCE
near()
{
	if awk -v g="$2" -v w="$3" -v t="$4" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(g != "" && d <= t) }'; then
		pass "$1 ($2, want $3)"
	else
		fail "$1" "got '$2', want $3 +- $4"
	fi
}

# kv NAME KEY VALUE CLI-COMMAND...: the command prints "KEY:   VALUE".
kv()
{
	local name=$1 key=$2 value=$3
	shift 3
	if octo_rx "$@" | grep -qE "^$key: +$value\$"; then
		pass "$name"
	else
		fail "$name" "'$*' does not say $key: $value"
		octo_rx "$@" | sed 's/^/  | /'
	fi
}

db()
{
	sqlite3 "$DATA/octo.db" "$1"
}

# ---------------------------------------------------------------- documentation, CLI
check_rx "VoiceMail is documented" "VoiceMail(box[,options])" core show application VoiceMail
check_rx "VoiceMail options" "U  mark the message urgent" core show application VoiceMail
check_rx "VoiceMailMain is documented" "VoiceMailMain([box][,options])" \
	core show application VoiceMailMain
check_rx "VoiceMailMain menus" "9 save" core show application VoiceMailMain
check_rx "Dial documents the voicemail forward" "Dial runs VoiceMail(<user>,u)" \
	core show application Dial
check_rx "voicemail show lists the users" "bob@octo.test" voicemail show
if out=$(octo_rx voicemail show 199 2>&1); then
	fail "voicemail show: no such mailbox" "it succeeded: $out"
elif grep -qF "No mailbox 199 (not a user of users.conf)" <<<"$out"; then
	pass "voicemail show: no such mailbox"
else
	fail "voicemail show: no such mailbox" "got: $out"
fi
check_fails "voicemail show: a hostile name" octo_rx voicemail show "../x"

# ---------------------------------------------------------------- MWI subscription
sipp_port=$(octo_free_port) || exit 1
timeout 150 sipp -sf "$OCTO_CASE_DIR/sipp/subscribe.xml" -m 1 -i 127.0.0.1 -p "$sipp_port" \
	-s 101 -au 101 -ap Vm-Secret.101 -timeout 140s -nostdin \
	-trace_err -error_file "$OCTO_TMP/sipp_err.log" -trace_msg -message_file \
	"$OCTO_TMP/sipp_msg.log" "127.0.0.1:$OCTO_SIP_PORT" >"$OCTO_TMP/sipp.out" 2>&1 </dev/null &
sipp_pid=$!
if wait_until 20 grep -q "subscribed to mailbox 101" "$OCTO_LOG"; then
	pass "phone 101 subscribed to its mailbox"
else
	fail "phone 101 subscribed to its mailbox" "no subscription in the log"
	lib_show "$OCTO_TMP/sipp.out" 20
fi
bad_port=$(octo_free_port) || exit 1
check "another event package: 489 with Allow-Events" \
	timeout 30 sipp -sf "$OCTO_CASE_DIR/sipp/bad_event.xml" -m 1 -i 127.0.0.1 -p "$bad_port" \
	-timeout 20s -nostdin "127.0.0.1:$OCTO_SIP_PORT"
other_port=$(octo_free_port) || exit 1
check "another user's mailbox: 403" \
	timeout 30 sipp -sf "$OCTO_CASE_DIR/sipp/other_box.xml" -m 1 -i 127.0.0.1 -p "$other_port" \
	-s 102 -au 101 -ap Vm-Secret.101 -timeout 20s -nostdin "127.0.0.1:$OCTO_SIP_PORT"

# A phone of 100 registers without subscribing.
timeout 120 python3 "$OCTO_CASE_DIR/mwiphone.py" "$OCTO_SIP_PORT" 100 Vm-Secret.100 100 \
	"Voice-Message: 1/0 (1/0)" >"$OCTO_TMP/phone100.out" 2>&1 </dev/null &
reg_pid=$!
registered()
{
	octo_rx sip show registrations | grep -qF "sip:100@127.0.0.1:"
}
if wait_until 20 registered; then
	pass "phone 100 registered"
else
	fail "phone 100 registered" "not in sip show registrations"
fi

# ---------------------------------------------------------------- calls running meanwhile
# three wrong PINs; Dial to a user forwarding to VOICEMAIL; bad arguments
W=$(call 8500 101 audio=silence)
F=$(call 102 100 audio=silence)
E1=$(call 8900 100)
E2=$(call 8901 100)
E3=$(call 8902 100)
E4=$(call 8903 103 audio=silence)

# An urgent message for 100, no greeting; the caller hangs up 2 s into the
# tone: the message is kept. The registered phone gets NOTIFY 1/0 (1/0).
R=$(call 8100 0612345678 audio=silence)
step_wait "urgent message for 100: recording" "$R" "VoiceMail: recording"
heard()
{
	octo_rx test show audio "$R" | sed -n 's/^frames heard: *//p'
}
f0=$(heard)
octo_rx test play "$R" "$OCTO_TMP/tone.wav" >/dev/null
heard_2s()
{
	local n
	n=$(heard)
	[ -n "$n" ] && [ -n "$f0" ] && [ "$n" -ge $((f0 + 100)) ]
}
wait_until 20 heard_2s || fail "100's caller spoke 2 s" "frames heard: $(heard)"
octo_rx test hangup "$R" >/dev/null

# ---------------------------------------------------------------- leave a message
L=$(call 8101 0612345678 audio=silence)
[ -n "$L" ] && pass "message call started" || fail "message call started" "no id"
step_wait "default greeting: the person at extension" "$L" "VoiceMail: playing vm-theperson"
step_wait "the recording starts after the beep" "$L" "VoiceMail: recording (at most 60 s"
check_rx "the caller speaks" "now says" test play "$L" "$OCTO_TMP/tone.wav"
end_wait "message call ends" "$L"
has "the default greeting says the box" "$L" "VoiceMail: playing digits/1 ("
has "the recording ended on silence" "$L" "(SILENCE)"
# ids count over every mailbox (100's message may come first)
ID=$(db "select id from vm_message where box = '101'")
has "message $ID left" "$L" "VoiceMail: message $ID left in mailbox 101"
has "VMSTATUS SUCCESS" "$L" "NoOp(status SUCCESS message $ID)"
has "e-mail queued" "$L" "VoiceMail: e-mail to bob@octo.test queued"
NAME=$(printf 'msg%06d.wav' "$ID")
MSG="$BOX/INBOX/$NAME"
if [ -f "$MSG" ]; then
	pass "the message file exists"
	# the tone and the silence before it: the time `test play` took to come
	near "the message lasts as long as the tone" "$(sox --i -D "$MSG")" 3.4 0.6
	near "the message is the tone, not silence" "$("$TONE" "$MSG" 700)" 3 0.3
else
	fail "the message file exists" "no $MSG"
fi
check_output "index row: box, new, caller, about 3 s, not urgent" "101|0|0612345678|1|0" \
	db "select box, folder, caller, duration_ms between 2800 and 4000, urgent from vm_message"
kv "voicemail show 101: 1 new" new 1 voicemail show 101
check_rx "voicemail show 101: the message" "0612345678" voicemail show 101

# ---------------------------------------------------------------- the e-mail
if wait_until 30 bash -c "ls '$MAILDIR/new' | grep -q ."; then
	pass "the e-mail arrived"
	"$SMTP_PY" "$SMTP_HELPER" show "$MAILDIR" >"$OCTO_TMP/mail.json"
	check_output "e-mail subject" "New voicemail from Test call (0612345678) in mailbox 101 (0:0" \
		cat "$OCTO_TMP/mail.json"
	check_output "e-mail to the user" '"To": "bob@octo.test"' cat "$OCTO_TMP/mail.json"
	check_output "e-mail body: the caller" "From:     Test call (0612345678)" cat "$OCTO_TMP/mail.json"
	sha=$(sha256sum "$MSG" | cut -d' ' -f1)
	size=$(stat -c %s "$MSG")
	check_output "the WAV is attached byte for byte" \
		"\"filename\": \"voicemail-101-$ID.wav\", \"sha256\": \"$sha\", \"size\": $size, \"type\": \"audio/wav\"" \
		sed 's/"encoding": "[^"]*", //' "$OCTO_TMP/mail.json"
else
	fail "the e-mail arrived" "nothing in $MAILDIR/new"
	lib_show "$OCTO_TMP/smtpd.log" 20
	octo_rx mail show queue | sed 's/^/  | /'
fi

# ---------------------------------------------------------------- the calls of meanwhile
end_wait "three wrong PINs: the call ends" "$W" 60
has "wrong PIN, attempt 3" "$W" "VoiceMailMain: wrong PIN for mailbox 101 (attempt 3 of 3)"
has "log-in failed" "$W" "VoiceMailMain: log-in failed: hanging up"
if octo_rx call debug "$W" | grep -qF "main status"; then
	fail "three wrong PINs hang up" "the dialplan went on"
else
	pass "three wrong PINs hang up"
fi
end_wait "forward to VOICEMAIL: ends" "$F"
has "Dial runs VoiceMail" "$F" "Dial: VoiceMail(102,u)"
has "the mailbox of 102" "$F" "VoiceMail: mailbox 102 (unavailable greeting)"
has "silence only: discarded" "$F" "shorter than min_message"
has "DIALSTATUS stays FORWARD_VOICEMAIL" "$F" "NoOp(dial status FORWARD_VOICEMAIL vm FAILED)"
for e in "$E1" "$E2" "$E3" "$E4"; do end_wait "error call $e ends" "$e"; done
has "a hostile mailbox name" "$E1" "VoiceMail: \"../etc\" is not a mailbox name"
has "a hostile mailbox name: FAILED" "$E1" "NoOp(bad box FAILED)"
has "no such mailbox" "$E2" "VoiceMail: no mailbox 199 (not a user of users.conf)"
has "no such mailbox: FAILED" "$E2" "NoOp(no box FAILED)"
has "an unknown option" "$E3" "VoiceMail: unknown option 'x' (u, b, s, U)"
has "a mailbox without PIN" "$E4" "VoiceMailMain: mailbox 103 has no PIN"
end_wait "urgent message for 100: ends" "$R"
has "urgent message for 100: the caller hung up" "$R" "(HANGUP)"
has "hang-up during the recording keeps the message" "$R" "left in mailbox 100"
if octo_rx call debug "$R" | grep -qF "e-mail"; then
	fail "100 has no e-mail address: no e-mail" "an e-mail step"
else
	pass "100 has no e-mail address: no e-mail"
fi
kv "voicemail show 100: urgent" urgent 1 voicemail show 100
# 100 listens without a PIN (option s) and calls the caller back (1, then 8)
C=$(call 8600 100 audio=silence)
octo_rx test send digits "$C" 18 >/dev/null
end_wait "call back: the call ends" "$C"
has "option s: no PIN" "$C" "VoiceMailMain: mailbox 100, PIN not asked (option s)"
has "call back: the jump" "$C" "VoiceMailMain: calling back 0612345678 in [vm]"
has "call back: the dialplan goes on there" "$C" "NoOp(calling back 0612345678)"
kv "a new message heard in part stays new" new 1 voicemail show 100
if wait_until 30 bash -c "! kill -0 $reg_pid 2>/dev/null" && wait "$reg_pid" && reg_pid=""; then
	pass "MWI without subscription: NOTIFY 1/0 (1/0) to the registered phone"
else
	fail "MWI without subscription: NOTIFY 1/0 (1/0) to the registered phone" "no NOTIFY"
	lib_show "$OCTO_TMP/phone100.out" 20
fi

# ---------------------------------------------------------------- listen, save
# (meanwhile another call records the unavailable greeting: the mailbox
# number, the PIN, 0 options, 1 unavailable greeting -- typed at once)
M=$(call 8500 101 audio=silence)
G=$(call 8501 101 audio=silence)
octo_rx test send digits "$M" "4821#1" >/dev/null
octo_rx test send digits "$G" "101#4821#01" >/dev/null
step_wait "logged in with the PIN" "$M" "VoiceMailMain: logged in to mailbox 101"
step_wait "you have 1 new message" "$M" "VoiceMailMain: mailbox 101 has 1 new and 0 saved messages"
step_wait "greeting: recording" "$G" "VoiceMailMain: recording (at most 60 s"
octo_rx test play "$G" "$OCTO_TMP/tone.wav" >/dev/null
step_wait "the message plays" "$M" "VoiceMailMain: playing $MSG"
step_wait "the message menu follows" "$M" "VoiceMailMain: playing vm-msgmenu ("
has "envelope: the caller" "$M" "VoiceMailMain: playing vm-from ("
octo_rx test send digits "$M" 9 >/dev/null
step_wait "9 saves it" "$M" "VoiceMailMain: message $ID saved"
step_wait "no more messages" "$M" "VoiceMailMain: playing vm-nomore ("
octo_rx test send digits "$M" "##" >/dev/null
end_wait "# leaves" "$M"
has "VMSTATUS USEREXIT" "$M" "NoOp(main status USEREXIT)"
kv "voicemail show 101: 1 old" old 1 voicemail show 101
kv "voicemail show 101: 0 new" new 0 voicemail show 101
check_output "index row: folder Old" "1" db "select folder from vm_message where id = $ID"
check "the file moved to Old" test -f "$BOX/Old/$NAME"
check "test record: what the caller heard" octo_rx test record "$M" "$OCTO_TMP/heard.wav"
near "the caller heard the message (the tone)" "$("$TONE" "$OCTO_TMP/heard.wav" 700)" 3 0.3

# ---------------------------------------------------------------- MWI result
if wait_until 30 bash -c "! kill -0 $sipp_pid 2>/dev/null"; then
	wait "$sipp_pid"
	status=$?
	sipp_pid=""
	if [ "$status" -eq 0 ]; then
		pass "MWI: NOTIFY 0/0, 1/0, 0/1 and the final one"
	else
		fail "MWI: NOTIFY 0/0, 1/0, 0/1 and the final one" "sipp exited with $status"
		lib_show "$OCTO_TMP/sipp.out" 20
		lib_show "$OCTO_TMP/sipp_err.log" 40
	fi
else
	fail "MWI: NOTIFY 0/0, 1/0, 0/1 and the final one" "sipp still waiting"
	lib_show "$OCTO_TMP/sipp_msg.log" 60
fi

# ---------------------------------------------------------------- a greeting from the phone
has "mailbox number asked" "$G" "VoiceMailMain: playing vm-login"
has "logged in by number and PIN" "$G" "VoiceMailMain: logged in to mailbox 101"
step_wait "greeting recorded" "$G" "VoiceMailMain: unavail greeting recorded"
# then 4: a new PIN, typed twice
octo_rx test send digits "$G" "4123456#123456#" >/dev/null
step_wait "PIN changed from the phone" "$G" "VoiceMailMain: PIN of mailbox 101 changed"
octo_rx test hangup "$G" >/dev/null
end_wait "greeting call ends" "$G"
check "the greeting file exists" test -f "$BOX/greet/unavail.wav"
kv "voicemail show 101: the greeting" greetings unavail voicemail show 101
kv "voicemail show 101: the PIN comes from the phone" pin \
	"changed from a phone \(overrides users.conf\)" voicemail show 101
check_output "the new PIN is in the store" "101|123456" db "select box, pin from vm_pin"
U=$(call 8111 100 audio=silence)
step_wait "urgent, greeting skipped: straight to the recording" "$U" "VoiceMail: recording"
octo_rx test hangup "$U" >/dev/null
end_wait "hang-up during the recording" "$U"
has "too short after a hang-up: discarded" "$U" "shorter than min_message"
V=$(call 8101 100 audio=silence)
step_wait "callers hear the recorded greeting" "$V" "VoiceMail: playing $BOX/greet/unavail.wav"
octo_rx test hangup "$V" >/dev/null
end_wait "greeting caller ends" "$V"

check_rx "module reload app_voicemail" "" module reload app_voicemail
check_rx "module unload app_voicemail" "" module unload app_voicemail
check_fails "VoiceMail is gone" octo_rx core show application VoiceMail
check_rx "module load app_voicemail" "" module load app_voicemail
kv "the messages are still there" old 1 voicemail show 101
if grep -E "(ERROR|WARNING)\[(app_voicemail|chan_sip)\]" "$OCTO_LOG" | grep -v "weak" >"$OCTO_TMP/warn"; then
	fail "no errors or warnings of voicemail in the log" "$(head -n 5 "$OCTO_TMP/warn")"
else
	pass "no errors or warnings of voicemail in the log"
fi
octo_stop
