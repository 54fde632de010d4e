#!/usr/bin/env bash
# office: the media issue's "done when", tried as a new administrator would,
# on the sample configs as they are (only smtp.conf points at the test's
# mail server) on a Monday at 10:00 in Milan (the PBX clock is moved, never
# the machine's):
#   - a call that user 102 does not answer goes to 102's voicemail (users.conf
#     forward_noanswer = VOICEMAIL) and the message arrives by e-mail with
#     its audio;
#   - the administrator sets the "closed" switch from the CLI: the next call
#     to the company number hears the closed message and leaves a message for
#     the operator, which arrives by e-mail too; off again, the company number
#     reaches the IVR.
# (The company number walking the IVR to the operators' call group is the
# last part of tests/integration/ivr.)
. "$(dirname "$0")/../lib.sh"

for tool in sox sqlite3; do
	command -v "$tool" >/dev/null || { fail "$tool" "$tool is needed"; exit 1; }
done
sounds="$OCTO_BUILD/sounds"
if [ ! -d "$sounds/en" ]; then
	fail "prompts generated" "no $sounds/en (make builds them)"
	exit 1
fi
octo_need_aiosmtpd || exit 1
SMTP_HELPER="$OCTO_SRC/tests/integration/smtp/smtp_helper.py"

octo_config_dir || exit 1
sed -i "/^\[directories\]/a sounds = $sounds" "$OCTO_CONF/octo.conf"
grep -q '^\[directories\]' "$OCTO_CONF/octo.conf" ||
	printf '[directories]\nsounds = %s\n' "$sounds" >>"$OCTO_CONF/octo.conf"
smtp_port=$(octo_free_port) || exit 1
sed -i "s/^server = .*/server = 127.0.0.1\nport = $smtp_port/" "$OCTO_CONF/smtp.conf"
DATA="$OCTO_STATE/data"
MAILDIR="$OCTO_TMP/maildir"

mkdir -p "$MAILDIR/tmp" "$MAILDIR/new" "$MAILDIR/cur"
timeout 300 "$SMTP_PY" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox \
	"$MAILDIR" >>"$OCTO_TMP/smtpd.log" 2>&1 </dev/null &
smtp_pid=$!
office_cleanup()
{
	local rc=$?
	kill -TERM "$smtp_pid" 2>/dev/null
	wait 2>/dev/null
	(exit "$rc")
	lib_exit
}
trap office_cleanup EXIT
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$smtp_port" ||
	{ fail "smtp server" "aiosmtpd does not listen"; exit 1; }

# The callers' "voice": 3 s of a 700 Hz tone.
sox -n -r 8000 -b 16 -c 1 "$OCTO_TMP/tone.wav" synth 3 sine 700 vol 0.5

check "octo -t accepts the sample configs" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$(octo_build_modules)"
octo_start || exit 1
target=$(TZ=Europe/Rome date -d "2026-01-05 10:00" +%s)
octo_rx core set clock offset $((target - $(date +%s))) >/dev/null

# call PROCEDURE NUMBER CALLER: a Test call with an audio path; prints its id.
call()
{
	octo_rx test call "$1" "$2" "$3" audio=silence | sed -n 's/^id: *//p'
}
has()
{
	check_output "$1" "$3" octo_rx call debug "$2"
}
# mails N: at least N e-mails arrived
mails()
{
	[ "$(find "$MAILDIR/new" -type f | wc -l)" -ge "$1" ]
}
# speak NAME ID: once the call records, the caller says the tone and hangs up
speak()
{
	if ! wait_until 30 steps_have "$2" "VoiceMail: recording"; then
		fail "$1: the recording starts" "no recording step in call $2"
		octo_rx call debug "$2" | tail -n 25 | sed 's/^/  | /'
		return 1
	fi
	pass "$1: the recording starts"
	check_rx "$1: the caller speaks" "now says" test play "$2" "$OCTO_TMP/tone.wav"
	if wait_until 40 ended "$2"; then
		pass "$1: the call ends after the message"
	else
		fail "$1: the call ends after the message" "call $2 still up"
		octo_rx call debug "$2" | tail -n 25 | sed 's/^/  | /'
	fi
}
# message_of BOX: the newest message file of the box
message_of()
{
	ls -t "$DATA/voicemail/$1/INBOX/"*.wav 2>/dev/null | head -n 1
}
# mail_with NAME ADDRESS FILE: an e-mail to ADDRESS carries FILE byte for byte
mail_with()
{
	local sha size
	"$SMTP_PY" "$SMTP_HELPER" show "$MAILDIR" >"$OCTO_TMP/mail.json" 2>&1
	sha=$(sha256sum "$3" | cut -d' ' -f1)
	size=$(stat -c %s "$3")
	check_output "$1: to $2" "\"To\": \"$2\"" cat "$OCTO_TMP/mail.json"
	check_output "$1: the recording is attached" "\"sha256\": \"$sha\", \"size\": $size" \
		cat "$OCTO_TMP/mail.json"
}

# ---------------------------------------------------------------- no answer -> voicemail
# 102 (users.conf: forward_noanswer = VOICEMAIL) has a phone that rings out.
octo_rx test device add 102 noanswer:1 >/dev/null
A=$(call users 102 101)
[ -n "$A" ] && pass "101 calls 102" || fail "101 calls 102" "no call id"
wait_step "102 does not answer: voicemail" "$A" "VoiceMail(102,u)"
speak "no answer" "$A"
MSG=$(message_of 102)
if [ -n "$MSG" ]; then
	pass "the message is in 102's INBOX"
	dur=$(sox --i -D "$MSG")
	check "the message holds the caller's words (${dur}s)" \
		awk -v d="$dur" 'BEGIN { exit !(d >= 2.5 && d <= 5) }'
else
	fail "the message is in 102's INBOX" "nothing in $DATA/voicemail/102/INBOX"
fi
check_rx "voicemail show 102: from 101" "101" voicemail show 102
if wait_until 30 mails 1; then
	pass "the voicemail e-mail arrived"
	[ -n "$MSG" ] && mail_with "the voicemail e-mail" carol@example.com "$MSG"
else
	fail "the voicemail e-mail arrived" "nothing in $MAILDIR/new"
	lib_show "$OCTO_TMP/smtpd.log" 20
fi

# ---------------------------------------------------------------- closed switch
check_output "the administrator closes the office" '"state":"on"' \
	octo_rx_json switch set closed on
B=$(call main 0212345 0612345678)
[ -n "$B" ] && pass "a caller dials the company number" || fail "company number" "no call id"
wait_step "closed: the night procedure" "$B" "goto closed/0212345/1"
speak "closed" "$B"
has "closed: the closed message" "$B" "Playback(ivr-closed&vm-intro)"
has "closed: a message for the operator (100)" "$B" "VoiceMail(100,s)"
check "closed: no IVR ran" bash -c "! '$OCTO_BIN' -s '$OCTO_SOCK' -rx 'call debug $B' | grep -q 'IVR(company)'"
MSG=$(message_of 100)
[ -n "$MSG" ] && pass "the operator has the message" ||
	fail "the operator has the message" "nothing in $DATA/voicemail/100/INBOX"
check_rx "voicemail show 100: from the caller" "0612345678" voicemail show 100
if wait_until 30 mails 2; then
	pass "the operator's e-mail arrived"
	[ -n "$MSG" ] && mail_with "the operator's e-mail" alice@example.com "$MSG"
else
	fail "the operator's e-mail arrived" "only $(find "$MAILDIR/new" -type f | wc -l) e-mails"
	lib_show "$OCTO_TMP/smtpd.log" 20
fi

# open again: the company number reaches the IVR
check_output "the office opens again" '"state":"off"' octo_rx_json switch set closed off
C=$(call main 0212345 0612345678)
wait_step "open: the company menu plays" "$C" "IVR(company)"
octo_rx test hangup "$C" >/dev/null
wait_end "open: the call ends" "$C"
check_rx "no call left" "active calls: 0" calls show active

octo_stop
