#!/usr/bin/env bash
# playback: the audio applications on Test calls with an audio path
# (test call ... audio=), checked by what the caller heard (test show audio,
# test record) and by the step log:
#   Playback plays prompts in real time, as long as the files last (samples
#   counted exactly, compared with sox --i), falls back from it to en, skips
#   a missing prompt or ends the call with option f, gives early media with
#   option n; without audio the prompts are only timed;
#   SayNumber/SayDigits/SayDate play the right prompts in en and it;
#   Background is interrupted by a digit and routes it in the procedure (at
#   once when no longer number can match, after the inter-digit time-out
#   otherwise, to default when nothing matches), WaitDigits routes or times
#   out; Read collects digits (maxdigits, send key, time-outs, prompt);
#   Record writes a WAV of the right length ending on #, on silence, on
#   maxseconds, on hang-up, refuses a path out of the data folder;
#   MusicOnHold plays N seconds of a class; the CLI and reloads.
. "$(dirname "$0")/../lib.sh"

sounds="$OCTO_TMP/sounds"
if [ ! -d "$OCTO_BUILD/sounds/en" ]; then
	fail "prompts generated" "no $OCTO_BUILD/sounds/en (make builds them)"
	exit 1
fi
command -v sox >/dev/null || { fail "sox" "sox is needed"; exit 1; }
octo_config_dir "$OCTO_CASE_DIR/configs"
# A copy of the prompts where Italian lacks "goodbye" (played in English).
cp -R "$OCTO_BUILD/sounds" "$sounds"
rm -f "$sounds/it/goodbye.wav"
mkdir -p "$sounds/moh/empty"
sed -i "/^\[directories\]/a sounds = $sounds" "$OCTO_CONF/octo.conf"
# The sample features.conf (app_numbering's keys, checked by octo -t) with a
# short inter-digit time-out and the send key of the audio applications.
cp "$OCTO_SRC/configs/features.conf" "$OCTO_CONF/features.conf"
sed -i '/^\[general\]/a digit_timeout = 1s\nsend_key = #' "$OCTO_CONF/features.conf"
RECS="$OCTO_STATE/data/recordings"

check "octo -t accepts the configs" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$(octo_build_modules)"
octo_start || exit 1

# call PROCEDURE NUMBER [CALLER] [audio=...]: starts a Test call, prints its id.
call()
{
	octo_rx test call "$@" | sed -n 's/^id: *//p'
}

# wait_end NAME ID [SECONDS]: passes when the call ends in time (default 20 s).
wait_end()
{
	if wait_until "${3:-20}" ended "$2"; then
		pass "$1"
		return 0
	fi
	fail "$1" "call $2 still up after ${3:-20} s"
	octo_rx call debug "$2" | tail -n 20 | sed 's/^/  | /'
	return 1
}

# has NAME ID TEXT: the step log of call ID holds TEXT.
has()
{
	check_output "$1" "$3" octo_rx call debug "$2"
}

# has_not NAME ID TEXT
has_not()
{
	if octo_rx call debug "$2" | grep -qF -- "$3"; then
		fail "$1" "call debug $2 contains \"$3\""
	else
		pass "$1"
	fi
}

# audio ID KEY: a value of `test show audio ID`.
audio()
{
	octo_rx test show audio "$1" | sed -n "s/^$2: *//p"
}

# played APP ID: the prompts APP played, "name(language)" space separated.
played()
{
	octo_rx call debug "$2" | sed -n "s/.*  $1: playing \([^ ]*\) (\([^)]*\))\$/\1(\2)/p" |
		paste -sd' '
}

# samples FILE...: their samples added up.
samples()
{
	sox --i -s "$@" | awk '{ n += $1 } END { print n }'
}

# ms_of ID TEXT: the time (ms of the day) of the first step holding TEXT.
ms_of()
{
	octo_rx call debug "$1" | grep -F -- "$2" | head -n 1 |
		awk '{ split($2, t, /[:.]/); print ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4] }'
}

# near NAME GOT WANT TOLERANCE: |GOT - WANT| <= TOLERANCE (decimals allowed).
near()
{
	if awk -v g="$2" -v w="$3" -v t="$4" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(g != "" && d <= t) }'; then
		pass "$1 ($2, want $3)"
	else
		fail "$1" "got '$2', want $3 +- $4"
	fi
}

# ---------------------------------------------------------------- documentation
for app in Playback Background SayDigits SayNumber SayDate Read WaitDigits Record MusicOnHold; do
	check_rx "$app is documented" "syntax:" core show application "$app"
done
check_rx "Playback options" "n  do not answer" core show application Playback
check_rx "Background: the inter-digit time-out" "digit_timeout" core show application Background
check_rx "Read: the send key" "send_key" core show application Read
check_rx "Record: the variables" "RECORD_STATUS" core show application Record
check_rx "MusicOnHold: the classes" "musiconhold.conf" core show application MusicOnHold
check_rx "test show audio is a command" "test show audio <id>" help test show audio

# ---------------------------------------------------------------- many calls at once
P1=$(call play 1 101 audio=silence)
P2=$(call play 2 101 audio=silence)
P3=$(call play 3 101 audio=silence)
P4=$(call play 4 101 audio=silence)
P5=$(call play 5 101)
PT=$(call play 1 101)
M1=$(call moh 1 101 audio=silence)
M2=$(call moh 2 101 audio=silence)
M3=$(call moh 3 101 audio=silence)
M4=$(call moh 1 101)
C2=$(call rec 2 101 "audio=$sounds/en/goodbye.wav")
C3=$(call rec 3 101 audio=silence)
C4=$(call rec 4 101 audio=silence)
C5=$(call rec 4 101)
I1=$(call ivr menu 101 audio=silence)
I2=$(call ivr menu 101 audio=silence)
I3=$(call ivr menu 101)
I4=$(call ivr menu 101 audio=silence)
I5=$(call ivr menu 101 audio=silence)
I6=$(call ivr menu 101 audio=silence)
R1=$(call read 1 101 audio=silence)
R2=$(call read 1 101 audio=silence)
R3=$(call read 1 101 audio=silence)
R4=$(call read 2 101 audio=silence)
R5=$(call read 2 101 audio=silence)
C1=$(call rec 1 101 audio=silence)
C6=$(call rec 5 101 "audio=$sounds/en/vm-intro.wav")
if [ -n "$P1" ] && [ -n "$C6" ]; then pass "calls started"; else fail "calls started" "no id"; fi
check_rx "test play: the caller speaks" "now says" test play "$C1" "$sounds/en/vm-intro.wav"
check_rx "test show audio: what the caller says" "vm-intro.wav" test show audio "$C1"
sleep 1
octo_rx test send digits "$I1" 1 >/dev/null
octo_rx test send digits "$I2" 2 >/dev/null
octo_rx test send digits "$I3" 21 >/dev/null
octo_rx test send digits "$I4" 9 >/dev/null
octo_rx test send digits "$R1" 1234 >/dev/null
octo_rx test send digits "$R2" '12#' >/dev/null
octo_rx test send digits "$R3" 7 >/dev/null
octo_rx test send digits "$R5" '5#' >/dev/null
P7=$(call play 1 101 audio=silence)
sleep 0.5
octo_rx test hangup "$P7" >/dev/null
sleep 0.5
octo_rx test hangup "$C6" >/dev/null
sleep 1.5
octo_rx test send digits "$C1" '#' >/dev/null

# ---------------------------------------------------------------- Playback
wen=$(samples "$sounds/en/welcome.wav" "$sounds/en/goodbye.wav")
wit=$(samples "$sounds/it/welcome.wav" "$sounds/en/goodbye.wav")
secs()
{
	awk -v s="$1" 'BEGIN { printf "%.2f", s / 8000 }'
}
wait_end "Playback ends" "$P1"
has "Playback: each prompt in the step log" "$P1" "Playback: playing goodbye (en)"
has "Playback: PLAYBACKSTATUS" "$P1" "NoOp(played SUCCESS)"
check_output "Playback: the seconds of both prompts ($(secs "$wen") s)" \
	"seconds played: $(secs "$wen")" octo_rx test show audio "$P1"
check_output "Playback: the call ended" '"call":"ended"' octo_rx_json test show audio "$P1"
check_rx "test record: saved what the caller heard" "seconds:" test record "$P1" "$OCTO_TMP/p1.wav"
got=$(samples "$OCTO_TMP/p1.wav")
if [ "$got" = "$wen" ]; then
	pass "the caller heard every sample of the prompts ($got)"
else
	fail "the caller heard every sample of the prompts" "$got samples, the files have $wen"
fi
if cmp -s <(sox "$OCTO_TMP/p1.wav" -t raw -) \
	<(sox "$sounds/en/welcome.wav" "$sounds/en/goodbye.wav" -t raw -); then
	pass "the caller heard the prompts themselves"
else
	fail "the caller heard the prompts themselves" "the audio differs"
fi
t1=$(ms_of "$P1" "Playback(welcome&goodbye)")
t2=$(ms_of "$P1" "NoOp(played")
near "Playback is paced in real time (ms)" "$((t2 - t1))" "$((wen / 8))" 300

wait_end "fall-back: ends" "$P2"
check_output "fall-back: it, then en for what it lacks" "welcome(it) goodbye(en)" played Playback "$P2"
check_output "fall-back: the seconds" "seconds played: $(secs "$wit")" octo_rx test show audio "$P2"

wait_end "hang-up during Playback: ends" "$P7"
has "hang-up during Playback: it stops" "$P7" "Playback failed: the caller hung up"
has_not "hang-up during Playback: no more prompts" "$P7" "playing goodbye"

wait_end "missing prompt: ends" "$P3"
has "missing prompt: logged and skipped" "$P3" "Playback: no prompt nosuch (language default): skipped"
has "missing prompt: PLAYBACKSTATUS" "$P3" "NoOp(status FAILED)"
has "option f: the call ends" "$P3" "a prompt is missing: the call ends (option f)"
has_not "option f: nothing after" "$P3" "not reached"

wait_end "no answer: ends" "$P5"
has "option n: early media" "$P5" "Test: the caller hears early media (progress)"
has_not "option n: not answered" "$P5" "Test: answered"

wait_end "no audio: ends" "$PT"
has "no audio: timed" "$PT" "Test channels carry no audio: prompts are timed, not heard"
t1=$(ms_of "$PT" "Playback(welcome&goodbye)")
t2=$(ms_of "$PT" "NoOp(played")
near "no audio: as long as the prompts (ms)" "$((t2 - t1))" "$((wen / 8))" 300

# ---------------------------------------------------------------- IVR
wait_end "Background: 1 ends" "$I1"
has "Background: interrupted by the digit" "$I1" "Background: interrupted by 1"
has "Background: 1 goes at once (no 1X entry)" "$I1" "the caller typed 1 (no longer number matches)"
has "Background: routed to 1" "$I1" "NoOp(ivr chose sales)"
wait_end "Background: 2 ends" "$I2"
has "Background: 2 waits (there is 21)" "$I2" "the caller typed 2 (inter-digit time-out)"
has "Background: routed to 2" "$I2" "NoOp(ivr chose support)"
wait_end "Background without audio: ends" "$I3"
has "Background without audio: timed" "$I3" "prompts are timed, not heard"
has "Background without audio: 21 routed" "$I3" "NoOp(ivr chose 21)"
wait_end "Background: 9 ends" "$I4"
has "Background: 9 goes to default" "$I4" "NoOp(ivr invalid 9)"
if wait_until 20 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'call debug $I6' | grep -q 'WaitDigits(2)'"; then
	octo_rx test send digits "$I6" 2 >/dev/null
	sleep 0.3
	octo_rx test send digits "$I6" 1 >/dev/null
fi
wait_end "WaitDigits: ends" "$I6"
has "WaitDigits: 21 routed" "$I6" "WaitDigits: the caller typed 21"
has "WaitDigits: to 21" "$I6" "NoOp(ivr chose 21)"
wait_end "IVR without digits: ends" "$I5" 30
check_output "IVR without digits: all prompts" \
	"ivr-sales(en) ivr-support(en) ivr-operator(en)" played Background "$I5"
has "IVR without digits: WaitDigits times out" "$I5" "WaitDigits: no digit in 2.0 s"
has "IVR without digits: the next step" "$I5" "NoOp(ivr timeout)"

# ---------------------------------------------------------------- Read
wait_end "Read: maxdigits ends" "$R1"
has "Read: 4 digits" "$R1" "NoOp(read PIN=1234 status OK)"
has "Read: why" "$R1" "Read: PIN=1234 (maxdigits), READSTATUS=OK"
wait_end "Read: send key ends" "$R2"
has "Read: the send key ends" "$R2" "Read: PIN=12 (send key)"
wait_end "Read: inter-digit time-out ends" "$R3"
has "Read: the inter-digit time-out" "$R3" "Read: PIN=7 (time-out)"
wait_end "Read: prompt interrupted ends" "$R5"
has "Read: a digit stops the prompt" "$R5" "NoOp(read NUM=[5] status OK)"
wait_end "Read: time-out ends" "$R4"
has "Read: the prompt plays" "$R4" "Read: playing enter-ext (en)"
has "Read: nothing typed" "$R4" "NoOp(read NUM=[] status TIMEOUT)"

# ---------------------------------------------------------------- Record
wait_end "Record #: ends" "$C1"
has "Record: the beep first" "$C1" "Record: playing beep (en)"
has "Record: ended by #" "$C1" "RECORD_STATUS=DTMF"
check_output "Record: the caller heard the beep" "seconds played: 0.25" octo_rx test show audio "$C1"
t1=$(ms_of "$C1" "Record: recording into")
t2=$(ms_of "$C1" "Test: caller pressed #")
if [ -f "$RECS/hash.wav" ]; then pass "Record: the file is there"; else fail "Record: the file" "no $RECS/hash.wav"; fi
near "Record: as long as the caller spoke before #" "$(sox --i -D "$RECS/hash.wav" 2>/dev/null)" \
	"$(awk -v d="$((t2 - t1))" 'BEGIN { print d / 1000 }')" 0.3
check_output "Record: 8 kHz" "8000" sox --i -r "$RECS/hash.wav"
rms=$(sox "$RECS/hash.wav" -n stat 2>&1 | awk '/RMS +amplitude/ { print $3 }')
if awk -v r="$rms" 'BEGIN { exit !(r > 0.01) }'; then
	pass "Record: the caller's voice is in it (RMS $rms)"
else
	fail "Record: the caller's voice is in it" "RMS amplitude '$rms'"
fi
has "Record: RECORD_FILE and RECORD_SECONDS" "$C1" "NoOp(record DTMF "
has "Record: RECORD_FILE" "$C1" "$RECS/hash.wav)"
if ! ls "$RECS"/*.part >/dev/null 2>&1; then pass "Record: no .part left"; else fail "Record: .part" "$(ls "$RECS")"; fi

wait_end "Record silence: ends" "$C2"
has "Record: ended by silence" "$C2" "RECORD_STATUS=SILENCE"
d=$(sox --i -D "$RECS/quiet.wav" 2>/dev/null)
if awk -v d="$d" -v f="$(sox --i -D "$sounds/en/goodbye.wav")" 'BEGIN { exit !(d > 0.3 && d <= f) }'; then
	pass "Record: the trailing silence is left out (${d}s)"
else
	fail "Record: the trailing silence is left out" "${d}s"
fi
wait_end "Record ../: ends" "$C3"
has "Record: a path out of the data folder is refused" "$C3" \
	"Record: \"../evil\" is not a valid file name"
has_not "Record: refused means the call ends" "$C3" "not reached"
wait_end "Record maxseconds: ends" "$C4"
has "Record: maxseconds" "$C4" "NoOp(record TIMEOUT 2)"
near "Record: 2 seconds" "$(sox --i -D "$RECS/max.wav" 2>/dev/null)" 2 0.1
wait_end "Record without audio: ends" "$C5"
has "Record: no audio" "$C5" "the channel gives Octo no audio"
has "Record: ERROR" "$C5" "NoOp(record ERROR 0)"
wait_end "Record hang-up: ends" "$C6"
has "Record: hang-up" "$C6" "RECORD_STATUS=HANGUP"
d=$(sox --i -D "$RECS/hangup.wav" 2>/dev/null)
if awk -v d="$d" 'BEGIN { exit !(d > 1) }'; then
	pass "Record: the file is kept on hang-up (${d}s)"
else
	fail "Record: the file is kept on hang-up" "'$d'"
fi

# ---------------------------------------------------------------- MusicOnHold
wait_end "MusicOnHold: ends" "$M1"
check_output "MusicOnHold: 3 seconds heard" "seconds played: 3.00" octo_rx test show audio "$M1"
has "MusicOnHold: the default class" "$M1" "MusicOnHold: class default, 2 files"
has "MusicOnHold: the first file" "$M1" "MusicOnHold: playing chords-low.wav"
has "MusicOnHold: then the next step" "$M1" "NoOp(moh done)"
wait_end "MusicOnHold unknown class: ends" "$M2"
has "MusicOnHold: an unknown class plays the default" "$M2" 'no class "nosuch"'
check_output "MusicOnHold: 1 second" "seconds played: 1.00" octo_rx test show audio "$M2"
wait_end "MusicOnHold empty: ends" "$M3"
has "MusicOnHold: an empty folder gives silence" "$M3" "has no files: silence instead"
check_output "MusicOnHold: 1.5 seconds of silence" "seconds played: 1.50" octo_rx test show audio "$M3"
wait_end "MusicOnHold without audio: ends" "$M4"
t1=$(ms_of "$M4" "MusicOnHold(,3)")
t2=$(ms_of "$M4" "NoOp(moh done)")
near "MusicOnHold without audio: 3 s (ms)" "$((t2 - t1))" 3000 300
check_rx "moh show classes: default" "moh/default" moh show classes
check_rx "moh show classes: empty" "empty" moh show classes

# ---------------------------------------------------------------- say
wait_end "SayNumber and co: ends" "$P4" 60
check_output "SayNumber(1234): one thousand two hundred thirty-four, then milleduecentotrentaquattro" \
	"digits/1(en) digits/thousand(en) digits/2(en) digits/hundred(en) digits/34(en) digits/thousand(it) digits/2(it) digits/hundred(it) digits/34(it)" \
	played SayNumber "$P4"
has "SayNumber: the rules" "$P4" 'SayNumber: 1234 in the rules of "it"'
check_output "SayDigits(905) in Italian" "digits/9(it) digits/0(it) digits/5(it)" \
	played SayDigits "$P4"
check_output "SayDate(2024-03-05 14:30)" \
	"days/tuesday(en) months/march(en) digits/h-5(en) time/at(en) digits/2(en) digits/30(en) time/pm(en)" \
	played SayDate "$P4"

# ---------------------------------------------------------------- the CLI
check_fails "test play on a Test call without audio" octo_rx test play "$PT" silence
check_fails "test call with a missing audio file" octo_rx test call play 1 101 audio=/nonexistent.wav
check_output "... says why" "audio: /nonexistent.wav:" bash -c \
	"'$OCTO_BIN' -C '$OCTO_CONF' -s '$OCTO_SOCK' -rx 'test call play 1 101 audio=/nonexistent.wav' 2>&1; true"
check_fails "test call with an unknown option" octo_rx test call play 1 101 volume=3
check_fails "test show audio of an unknown call" octo_rx test show audio 1.2345
check_fails "test record into a missing folder" octo_rx test record "$P1" /nonexistent/x.wav

# ---------------------------------------------------------------- reloads
cp "$OCTO_CONF/features.conf" "$OCTO_TMP/features.good"
printf '[general]\ndigit_timeout = 1s\nsend_key = ##\n' >"$OCTO_CONF/features.conf"
check_fails "a bad send_key: reload refused" octo_rx module reload app_read
check_output "... with file:line" 'features.conf:3: [general] send_key: "##" is not a DTMF key' \
	bash -c "'$OCTO_BIN' -C '$OCTO_CONF' -s '$OCTO_SOCK' -rx 'module reload app_read' 2>&1; true"
cp "$OCTO_TMP/features.good" "$OCTO_CONF/features.conf"
check "a good features.conf: reload" octo_rx module reload app_playback
printf '[bad class]\n[x]\norder = sideways\n' >"$OCTO_CONF/musiconhold.conf"
check_fails "a bad musiconhold.conf: reload refused" octo_rx module reload app_moh
check_rx "... the classes stay" "moh/empty" moh show classes

# load -> unload -> load
for m in app_playback app_read app_record app_moh; do
	check_rx "unload $m" "Unloaded $m" module unload "$m"
done
cp "$OCTO_CASE_DIR/configs/musiconhold.conf" "$OCTO_CONF/musiconhold.conf"
for m in app_playback app_read app_record app_moh; do
	check_rx "load $m again" "Loaded $m" module load "$m"
done
P6=$(call play 1 101 audio=silence)
wait_end "Playback after a reload: ends" "$P6"
check_output "Playback after a reload: played" "seconds played: $(secs "$wen")" \
	octo_rx test show audio "$P6"

octo_stop
