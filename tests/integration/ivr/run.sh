#!/usr/bin/env bash
# ivr: IVR trees (app_ivr, ivr.conf) with the sample company tree
# (configs/ivr.conf: language -> department -> person) and test nodes:
#   Test callers walk the tree by digits three levels deep to a user (Dial),
#   in English and Italian (a node sets ${LANGUAGE}), go back with *, dial an
#   extension directly at a node that allows it; an invalid digit plays
#   "invalid" and the node again, then the fallback; no digit repeats the
#   node, then runs the fallback leaf; a call group leaf; a voicemail leaf
#   with no voicemail module goes on; IVRSTATUS, IVRPATH, IVRKEYS;
#   a SIP caller (SIPp) walks the tree with RFC 4733 digits in its RTP;
#   "ivr show", "core show application IVR", reloads refused with file:line,
#   octo -t, unload and load;
#   "sound record NAME EXT" records a prompt from a SIP phone (SIPp saying
#   its G.711 sample) that then exists and plays;
#   the call group leaf plays its message for the operator to the SIP phone
#   that answers (member.py keeps what it hears: the prompt, sample by sample).
. "$(dirname "$0")/../lib.sh"

if [ ! -d "$OCTO_BUILD/sounds/en" ]; then
	fail "prompts generated" "no $OCTO_BUILD/sounds/en (make builds them)"
	exit 1
fi
sounds="$OCTO_TMP/sounds"
cp -R "$OCTO_BUILD/sounds" "$sounds"
octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
cp "$OCTO_SRC/configs/ivr.conf" "$OCTO_CONF/ivr-sample.conf"
sed -i "/^\[directories\]/a sounds = $sounds" "$OCTO_CONF/octo.conf"
# A short inter-digit time-out: a lone digit at a node with direct dialling
# is taken after 1 s.
sed -i 's/^digit_timeout *=.*/digit_timeout = 1s/' "$OCTO_CONF/features.conf"
have_sipp=no
if command -v sipp >/dev/null 2>&1 && [ -f /usr/share/sip-tester/dtmf_2833_1.pcap ]; then
	have_sipp=yes
	echo "load => chan_sip" >>"$OCTO_CONF/modules.conf"
	sed -i 's/^auth_algorithms *=.*/auth_algorithms = MD5/' "$OCTO_CONF/sip.conf"
fi
MODS=$(octo_build_modules)
check "octo -t accepts the configs" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$MODS"
octo_start || exit 1

# call NUMBER [CALLER]: a Test call into [main], prints its id.
call()
{
	octo_rx test call main "$1" "${2:-0612345678}" | sed -n 's/^id: *//p'
}

# wait_end NAME ID [SECONDS]
wait_end()
{
	if wait_until "${3:-20}" ended "$2"; then
		pass "$1"
		return 0
	fi
	fail "$1" "call $2 still up after ${3:-20} s"
	octo_rx call debug "$2" | tail -n 25 | sed 's/^/  | /'
	return 1
}

# wait_step NAME ID TEXT [SECONDS]
wait_step()
{
	if wait_until "${4:-15}" steps_have "$2" "$3"; then
		pass "$1"
		return 0
	fi
	fail "$1" "no step \"$3\" in call $2"
	octo_rx call debug "$2" | tail -n 25 | sed 's/^/  | /'
	return 1
}

# has NAME ID TEXT / has_not NAME ID TEXT: the step log of call ID.
has()
{
	check_output "$1" "$3" octo_rx call debug "$2"
}
has_not()
{
	if octo_rx call debug "$2" | grep -qF -- "$3"; then
		fail "$1" "call debug $2 contains \"$3\""
	else
		pass "$1"
	fi
}

# count ID TEXT: how many steps of call ID hold TEXT.
count()
{
	octo_rx call debug "$1" | grep -cF -- "$2"
}

# has_count ID TEXT N: call ID has N steps (or more) holding TEXT.
has_count()
{
	[ "$(count "$1" "$2")" -ge "$3" ]
}

# press NAME ID DIGITS WAIT-FOR: sends digits once the step WAIT-FOR is there.
press()
{
	wait_step "$1" "$2" "$4" || return 1
	octo_rx test send digits "$2" "$3" >/dev/null
}

# ---------------------------------------------------------------- documentation and CLI
check_rx "IVR is documented" "syntax:" core show application IVR
check_rx "IVR: the actions" "menu NODE" core show application IVR
check_rx "IVR: the variables" "IVRSTATUS" core show application IVR
check_rx "ivr show: nodes" "nodes:" ivr show
check_rx "ivr show: the company tree is a root" "root" ivr show
check_output "ivr show: the sample nodes and the test node" "nodes: 6" octo_rx ivr show
check_rx "ivr show company: three levels" "levels:          3" ivr show company
check_rx "ivr show company: the people" "user 101,30" ivr show company
check_rx "ivr show company: direct dialling" "pbxinternal" ivr show company
check_rx "ivr show company: where it is defined" "ivr-sample.conf:" ivr show company
check_rx "ivr show: any case" "tree:" ivr show COMPANY
check_fails "ivr show: unknown node" octo_rx ivr show nosuch
check_output "ivr show: unknown node says so" 'No IVR node "nosuch"' \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'ivr show nosuch' 2>&1; true"
check_fails "ivr show: too many words" octo_rx ivr show a b
check_rx "sound record is a command" "sound record <name> <extension>" help sound record

octo_rx test device add 100 ring >/dev/null
octo_rx test device add 101 answer >/dev/null
octo_rx test device add 102 busy >/dev/null

# ---------------------------------------------------------------- three levels to a person
A=$(call 0212345)
press "A: the company menu plays" "$A" 1 "IVR: playing ivr-company (en)"
press "A: English" "$A" 1 "IVR: node company-en (Departments (English))"
press "A: sales" "$A" 2 "IVR: node sales (Sales: the people)"
wait_step "A: Bob is rung" "$A" "Dial: user 101: device Test/answer"
has "A: level 1" "$A" "IVR: [company] the caller pressed 1: menu company-en"
has "A: level 2 (1 waits: 1XX can be dialled directly)" "$A" \
	"IVR: [company-en] the caller pressed 1: menu sales"
has "A: level 3" "$A" "IVR: [sales] the caller pressed 2: user 101,30"
has "A: the leaf runs Dial" "$A" "IVR: running Dial(101,30)"
wait_step "A: bridged with Bob" "$A" "bridge Test/0612345678-"
check_debug "A: the last node" "$A" "^IVRNODE: +sales$"
octo_rx test hangup "$A" >/dev/null
wait_end "A: ends" "$A"

# The same in Italian, to Carol (busy): Dial returns, the next step runs.
B=$(call 0212345)
press "B: the company menu" "$B" 2 "IVR: playing ivr-company (en)"
press "B: italiano" "$B" 3 "IVR: node company-it (Reparti (italiano))"
wait_end "B: ends after the leaf" "$B"
has "B: the department menu in Italian" "$B" "IVR: playing ivr-sales (it)"
has "B: 3 at once (no entry starts with 3)" "$B" "IVR: [company-it] the caller pressed 3: user 102,30"
has "B: Carol is busy, IVR ends, the next step" "$B" \
	"NoOp(after ivr LEAF path company/company-it keys 23 dial BUSY lang it)"

# ---------------------------------------------------------------- back, direct dialling
C=$(call 0212345)
press "C: company" "$C" 1 "IVR: playing ivr-company (en)"
press "C: departments" "$C" 2 "IVR: node company-en"
press "C: support, then back" "$C" '*' "IVR: node support"
press "C: back at the departments, dial 101" "$C" 101 "IVR: [support] the caller pressed *: back"
wait_end "C: ends" "$C"
check_output "C: the department node entered twice" "2" count "$C" "IVR: node company-en"
has "C: the extension typed" "$C" "IVR: [company-en] the caller typed 101 (no longer number matches)"
has "C: goes there" "$C" "IVR: [company-en] goto pbxinternal,101"
has "C: reached" "$C" "NoOp(reached 101 DIRECT)"

# ---------------------------------------------------------------- invalid digits
D=$(call 0212345)
press "D: company" "$D" 7 "IVR: playing ivr-company (en)"
wait_step "D: invalid" "$D" "IVR: [company] 7 is not an option (try 1 of 2)"
if wait_until 15 has_count "$D" "IVR: playing ivr-company (en)" 2; then
	pass "D: the message plays again"
	octo_rx test send digits "$D" 8 >/dev/null
else
	fail "D: the message plays again" "$(octo_rx call debug "$D" | tail -n 5)"
fi
wait_step "D: the fallback after 2 tries" "$D" \
	"IVR: [company] no valid option after 2 tries: menu company-en"
has "D: the invalid prompt" "$D" "IVR: playing invalid (en)"
press "D: then the departments, and 0" "$D" 0 "IVR: node company-en"
wait_end "D: ends" "$D" 30
has "D: 0 rings the operators' group" "$D" "IVR: running CallGroup(operators,,cg-company-call)"
has "D: nobody answers: the group's timeout" "$D" "CallGroup: DIALSTATUS=NOANSWER"
has "D: after IVR" "$D" "NoOp(after ivr LEAF path company/company-en keys 0 dial NOANSWER"

# ---------------------------------------------------------------- no digit: repeats, then the fallback
E=$(call quick)
wait_end "E: ends" "$E"
has "E: try 1" "$E" "IVR: [quick] no digit within 0.3 s (try 1 of 3)"
has "E: try 3" "$E" "IVR: [quick] no digit within 0.3 s (try 3 of 3)"
has_not "E: no try 4" "$E" "(try 4 of 3)"
check_output "E: the message three times and the timeout message twice" "5" \
	count "$E" "IVR: playing beep (en)"
has "E: the fallback leaf" "$E" "IVR: running NoOp(quick fallback for 0612345678)"
has "E: IVRSTATUS=TIMEOUT" "$E" "NoOp(after ivr TIMEOUT path quick keys )"

# A goto leaf, and a voicemail leaf without a voicemail module.
F=$(call quick)
press "F: goto" "$F" 2 "IVR: playing beep (en)"
wait_end "F: ends" "$F"
has "F: goto pbxinternal,600" "$F" "IVR: goto pbxinternal,600"
has "F: reached" "$F" "NoOp(reached the group)"
G=$(call 0212345)
press "G: company" "$G" 1 "IVR: playing ivr-company (en)"
press "G: support" "$G" 2 "IVR: node company-en"
press "G: voicemail" "$G" 2 "IVR: node support"
wait_end "G: ends" "$G"
has "G: no voicemail module: said and the next step runs" "$G" \
	"IVR: no application VoiceMail (its module is not loaded): the next step runs"
has "G: IVRSTATUS=NOAPP" "$G" "NoOp(after ivr NOAPP path company/company-en/support keys 122"

# Bad arguments, unknown tree, hang-up during the menu.
H=$(call nosuch)
wait_end "unknown tree: ends" "$H"
has "unknown tree: said" "$H" 'IVR: no node "nosuch" in ivr.conf: the next step runs'
has "unknown tree: IVRSTATUS" "$H" "NoOp(after ivr NOTFOUND)"
I=$(call bad)
wait_end "bad tree name: ends" "$I"
has "bad tree name: said" "$I" "IVR: not a node name (IVR(tree))"
has_not "bad tree name: the call ends" "$I" "not reached"
J=$(call 0212345)
wait_step "hang-up in the menu: playing" "$J" "IVR: playing ivr-company"
octo_rx test hangup "$J" >/dev/null
wait_end "hang-up in the menu: ends" "$J"
has_not "hang-up in the menu: nothing after" "$J" "NoOp(after ivr"

# ---------------------------------------------------------------- SIP caller, RFC 4733 digits
if [ "$have_sipp" = yes ]; then
	printf 'SEQUENTIAL\n103;\n' >"$OCTO_TMP/u103.csv"
	sport=$(octo_free_port)
	mport=$(octo_free_port)
	if (cd "$OCTO_TMP" && timeout 40 sipp -sf "$OCTO_CASE_DIR/sipp/uac_ivr.xml" \
		-inf "$OCTO_TMP/u103.csv" -au 103 -ap ivr-Test-103 -s 0212345 -i 127.0.0.1 \
		-p "$sport" -mp "$mport" -m 1 -nostdin -timeout 35s -timeout_error \
		-trace_err 127.0.0.1:"$OCTO_SIP_PORT") >"$OCTO_TMP/sipp-ivr.log" 2>&1; then
		pass "SIP: the caller walks the menu and Octo hangs up"
	else
		fail "SIP: the caller walks the menu and Octo hangs up" "sipp failed"
		lib_show "$OCTO_TMP/sipp-ivr.log" 30
		for f in "$OCTO_TMP"/uac_ivr_*_errors.log; do [ -f "$f" ] && lib_show "$f" 30; done
	fi
	S=$(octo_rx calls show history | awk '/SIP\/103-/ { print $1 }' | tail -n 1)
	if [ -n "$S" ]; then
		has "SIP: 1 heard (RFC 4733)" "$S" "IVR: [company] the caller pressed 1: menu company-en"
		has "SIP: 3 heard" "$S" "IVR: [company-en] the caller pressed 3: user 102,30"
		has "SIP: the leaf and the next step" "$S" \
			"NoOp(after ivr LEAF path company/company-en keys 13 dial BUSY lang en)"
		has "SIP: the prompts are heard (audio)" "$S" "IVR: playing ivr-company (en)"
		has_not "SIP: not timed" "$S" "prompts are timed"
	else
		fail "SIP: the call is in the history" "$(octo_rx calls show history)"
	fi
else
	echo "SKIP SIP caller: sipp or its RFC 4733 pcaps are missing"
fi

# ---------------------------------------------------------------- sound record
check_fails "sound record: a bad name" octo_rx sound record ../x 101
check_fails "sound record: not an extension" octo_rx sound record hello abc
check_fails "sound record: unknown user" octo_rx sound record hello 999
check_output "sound record: unknown user says so" "No user 999 in users.conf" \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'sound record hello 999' 2>&1; true"
check_fails "sound record: a bad language" octo_rx sound record hello 101 'e/n'
check_rx "sound record to a device without audio: calls" "custom/none.wav" \
	sound record custom/none 101
if wait_until 10 grep -q "sound record custom/none: the device of 101 gives no audio" "$OCTO_LOG"; then
	pass "sound record to a device without audio: nothing recorded, said in the log"
else
	fail "sound record to a device without audio: nothing recorded, said in the log" \
		"$(tail -n 5 "$OCTO_LOG")"
fi
if [ ! -e "$sounds/en/custom/none.wav" ]; then pass "sound record: no file then"; else fail "sound record: no file then" "it exists"; fi
if [ "$have_sipp" = yes ]; then
	printf 'SEQUENTIAL\n100;\n' >"$OCTO_TMP/u100.csv"
	octo_rx test device remove 100 ring >/dev/null
	rport=$(octo_free_port)
	rmport=$(octo_free_port)
	(cd "$OCTO_TMP" && timeout 30 sipp -sf "$OCTO_SRC/tests/integration/sip_call/sipp/reg.xml" \
		-inf "$OCTO_TMP/u100.csv" -au 100 -ap ivr-Test-100 -i 127.0.0.1 -p "$rport" \
		-m 1 -nostdin -timeout 20s -timeout_error 127.0.0.1:"$OCTO_SIP_PORT") \
		>"$OCTO_TMP/reg-100.log" 2>&1
	(cd "$OCTO_TMP" && timeout 40 sipp -sf "$OCTO_CASE_DIR/sipp/uas_say.xml" \
		-inf "$OCTO_TMP/u100.csv" -i 127.0.0.1 -p "$rport" -mp "$rmport" -d 3000 \
		-m 1 -nostdin -timeout 35s -timeout_error 127.0.0.1:"$OCTO_SIP_PORT") \
		>"$OCTO_TMP/uas-100.log" 2>&1 &
	uas=$!
	if wait_until 10 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'sip show registrations' | grep -qw 100"; then
		pass "sound record: the phone of 100 registered"
	else
		fail "sound record: the phone of 100 registered" "$(cat "$OCTO_TMP/reg-100.log")"
	fi
	check_rx "sound record: calls the user" "$sounds/en/custom/hello.wav" \
		sound record custom/hello 100
	if wait_until 20 test -f "$sounds/en/custom/hello.wav"; then
		pass "sound record: the file is there"
	else
		fail "sound record: the file is there" "no $sounds/en/custom/hello.wav"
		lib_show "$OCTO_LOG" 30
	fi
	wait "$uas"
	d=$(sox --i -D "$sounds/en/custom/hello.wav" 2>/dev/null)
	if awk -v d="$d" 'BEGIN { exit !(d > 1.0 && d < 3.5) }'; then
		pass "sound record: as long as the phone stayed on the line (${d}s)"
	else
		fail "sound record: as long as the phone stayed on the line" "'$d' s"
	fi
	rms=$(sox "$sounds/en/custom/hello.wav" -n stat 2>&1 | awk '/RMS +amplitude/ { print $3 }')
	if awk -v r="$rms" 'BEGIN { exit !(r > 0.005) }'; then
		pass "sound record: what the phone said is in it (RMS $rms)"
	else
		fail "sound record: what the phone said is in it" "RMS amplitude '$rms'"
	fi
	check_rx "sound record: sound show lists it" "custom/hello" sound show en
	P=$(octo_rx test call main play 0612345678 audio=silence | sed -n 's/^id: *//p')
	wait_end "sound record: the new prompt plays" "$P"
	has "sound record: played from the sound folder" "$P" "Playback: playing custom/hello (en)"
	got=$(octo_rx test show audio "$P" | sed -n 's/^seconds played: *//p')
	want=$(awk -v d="$d" 'BEGIN { printf "%.2f", d }')
	if [ "$got" = "$want" ]; then
		pass "sound record: all of it plays ($got s)"
	else
		fail "sound record: all of it plays" "$got s played, the file lasts $want s"
	fi
	if ! ls "$sounds/en/custom/"*.part >/dev/null 2>&1; then
		pass "sound record: no .part left"
	else
		fail "sound record: no .part left" "$(ls "$sounds/en/custom")"
	fi

	# The operator's phone hears the message before the caller is connected:
	# member.py, registered as 100, keeps the audio it gets.
	octo_rx sip unregister 100 >/dev/null
	python3 "$OCTO_CASE_DIR/member.py" 127.0.0.1 "$OCTO_SIP_PORT" 100 ivr-Test-100 \
		"$OCTO_TMP/member.wav" 40 >"$OCTO_TMP/member.log" 2>&1 &
	member=$!
	if wait_until 10 grep -q registered "$OCTO_TMP/member.log"; then
		pass "message: the operator's phone registered"
	else
		fail "message: the operator's phone registered" "$(cat "$OCTO_TMP/member.log")"
	fi
	M=$(call 0212345)
	press "message: the company menu" "$M" 1 "IVR: playing ivr-company (en)"
	press "message: the departments, 0" "$M" 0 "IVR: node company-en"
	wait_step "message: the operator answers" "$M" "CallGroup: message for the operator played to SIP/"
	has "message: played to the SIP phone" "$M" \
		'playing the message for the operator "cg-company-call" to SIP/'
	wait_step "message: then bridged" "$M" "bridge Test/0612345678-"
	octo_rx test hangup "$M" >/dev/null
	wait_end "message: ends" "$M"
	if wait "$member"; then
		pass "message: the phone got the call and its end ($(tail -n 1 "$OCTO_TMP/member.log"))"
	else
		fail "message: the phone got the call and its end" "$(cat "$OCTO_TMP/member.log")"
	fi
	# What the phone heard is the prompt itself (through G.711): the two
	# correlate sample by sample from the first one.
	corr=$(python3 - "$OCTO_TMP/member.wav" "$sounds/en/cg-company-call.wav" <<'PY'
import sys, wave, struct
def samples(path):
    with wave.open(path) as w:
        data = w.readframes(w.getnframes())
    return struct.unpack("<%dh" % (len(data) // 2), data)
got, want = samples(sys.argv[1]), samples(sys.argv[2])
n = len(want)
if len(got) < n:
    print("short:%d/%d" % (len(got), n))
    sys.exit()
dot = sum(a * b for a, b in zip(got[:n], want))
norm = (sum(a * a for a in got[:n]) * sum(b * b for b in want)) ** 0.5
print("%.4f" % (dot / norm if norm else 0))
PY
)
	if awk -v c="$corr" 'BEGIN { exit !(c + 0 > 0.99) }'; then
		pass "message: the operator heard the prompt itself (correlation $corr)"
	else
		fail "message: the operator heard the prompt itself" "correlation '$corr'"
	fi
else
	echo "SKIP sound record and the operator's message on a phone: sipp is missing"
fi

# ---------------------------------------------------------------- reloads, octo -t, unload
conf="$OCTO_CONF/ivr-test.conf"
cp "$conf" "$OCTO_TMP/ivr-test.good"
cat >>"$conf" <<'EOF'

[broken]
message = beep&../x
timeout = forever
1 = menu nowhere
2 = fly away
fallback = back
colour = red
EOF
mline=$(grep -n '^message = beep&../x' "$conf" | cut -d: -f1)
tline=$(grep -n '^timeout = forever' "$conf" | cut -d: -f1)
oline=$(grep -n '^1 = menu nowhere' "$conf" | cut -d: -f1)
aline=$(grep -n '^2 = fly away' "$conf" | cut -d: -f1)
fline=$(grep -n '^fallback = back' "$conf" | cut -d: -f1)
cline=$(grep -n '^colour = red' "$conf" | cut -d: -f1)
check_fails "reload refused for a broken node" octo_rx module reload app_ivr
out=$("$OCTO_BIN" -s "$OCTO_SOCK" -rx "module reload app_ivr" 2>&1)
for want in "ivr-test.conf:$mline: [broken] message: \"beep&../x\" is not a list of prompt names" \
	"ivr-test.conf:$tline: [broken] timeout:" \
	"ivr-test.conf:$aline: [broken] 2: \"fly away\" is not an action" \
	"ivr-test.conf:$fline: [broken] fallback: \"back\" would never end" \
	"ivr-test.conf:$cline: [broken] unknown option \"colour\""; do
	if grep -qF -- "$want" <<<"$out"; then pass "reload error: $want"; else fail "reload error: $want" "$out"; fi
done
check_output "ivr show: the running nodes stay" "nodes: 6" octo_rx ivr show
check_fails "octo -t catches the broken node" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$MODS"
cp "$OCTO_TMP/ivr-test.good" "$conf"
printf '\n[orphan]\nmessage = beep\n1 = menu nowhere\n' >>"$conf"
oline=$(grep -n '^1 = menu nowhere' "$conf" | cut -d: -f1)
check_output "reload: a menu to an unknown node" \
	"ivr-test.conf:$oline: [orphan] 1: menu nowhere: no such node in ivr.conf" \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload app_ivr' 2>&1; true"
printf '[bad\001name]\nmessage = beep\n[x]\nmessage = be\001ep\n1 = app No\001Op()\n' >"$conf"
check_fails "reload refused for control characters" octo_rx module reload app_ivr
check_output "still running after hostile input" "nodes: 6" octo_rx ivr show
cp "$OCTO_TMP/ivr-test.good" "$conf"
printf '\n[extra]\nmessage = beep\n' >>"$conf"
check_rx "reload of a good file" "" module reload app_ivr
check_output "reload: the new node is there" "nodes: 7" octo_rx ivr show
check_rx "unload app_ivr" "Unloaded app_ivr" module unload app_ivr
check_fails "unloaded: no ivr show" octo_rx ivr show
check_rx "load app_ivr again" "Loaded app_ivr" module load app_ivr
K=$(call quick)
press "after a reload: the tree runs" "$K" 1 "IVR: playing beep (en)"
wait_end "after a reload: ends" "$K"
has "after a reload: continue" "$K" "NoOp(after ivr CONTINUE path quick keys 1)"
check_rx "no call left" "active calls: 0" calls show active

# ---------------------------------------------------------------- the sample configs
# As a new user would try it: the sample configs as they are, on a Monday at
# 10:00 in Milan (office hours: the PBX clock is moved, never the machine's).
# The company number walks the tree to the operators' call group.
octo_stop
rm -rf "$OCTO_CONF"
octo_config_dir || exit 1
sed -i "/^\[directories\]/a sounds = $sounds" "$OCTO_CONF/octo.conf"
grep -q '^\[directories\]' "$OCTO_CONF/octo.conf" ||
	printf '[directories]\nsounds = %s\n' "$sounds" >>"$OCTO_CONF/octo.conf"
octo_start || exit 1
target=$(TZ=Europe/Rome date -d "2026-01-05 10:00" +%s)
octo_rx core set clock offset $((target - $(date +%s))) >/dev/null
check_rx "sample: the company number has its own entry" "match:        0212345" \
	dialplan test main 0212345
octo_rx test device add 100 ring >/dev/null
octo_rx test device add 101 answer:0.5 >/dev/null
Z=$(call 0212345)
press "sample: the company menu" "$Z" 1 "IVR: playing ivr-company (en)"
press "sample: the departments" "$Z" 0 "IVR: node company-en"
wait_step "sample: an operator answers" "$Z" "CallGroup: DIALSTATUS=ANSWER"
has "sample: in office hours" "$Z" "CheckTimetable"
has "sample: the tree" "$Z" "IVR(company)"
has "sample: the operators' group" "$Z" "IVR: running CallGroup(operators,,cg-company-call)"
has "sample: the operator hears the message" "$Z" \
	'playing the message for the operator "cg-company-call" to Test/answer_0.5-'
check_debug "sample: answered by 101" "$Z" "^CALLGROUPMEMBER: +101$"
octo_rx test hangup "$Z" >/dev/null
wait_end "sample: ends" "$Z"

octo_stop
