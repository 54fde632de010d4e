#!/usr/bin/env bash
# gateways: chan_fxs, chan_fxo, chan_bri, chan_pri, chan_gsm and chan_dect
# against simulated devices (simgw.py: real SIP user agents on loopback, one
# address each). An FXS port rings for its user and the fax relay 90*EXT
# reaches the fax port; FXO lines are hunted (two calls take lines 1 and 2,
# a third gets congestion); a third call on a BRI port is refused and the
# trunk group moves on from the full BRI to FXO; a PRI refuses numbers
# outside its DIDs; a GSM gateway registers, reports its SIMs' state, an SMS
# it delivers is e-mailed to the test SMTP server (aiosmtpd) and an SMS
# sent from the CLI reaches it; a DECT handset is assigned, rung through its
# base, handed over to another base during the call, which stays up and is
# hung up through the new base; `gateway show` lists ports and their
# state, sorted by name, and a gateway's tone plan; two FXS gateways behind
# one IP address are told apart by port; a user's FXS port that Dial offers
# is counted busy only when it is really called, and is free again when
# another device answers (or when it was never called); `module reload` and
# `core reload` apply a new gateways.conf -- lines added and removed, a
# gateway added, a removed one kept until its call ends, a SIP-side change
# applied when the gateway is idle, calls in progress kept -- and refuse a
# bad one with file:line, keeping the running config; an idle module
# unloads, a busy one refuses.
# Needs python3 and python3-aiosmtpd.
. "$(dirname "$0")/../lib.sh"

SIM="$OCTO_CASE_DIR/simgw.py"
octo_need_aiosmtpd || exit 1

octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
smtp_port=$(octo_free_port) || exit 1
ctl=$(octo_free_port) || exit 1
declare -A P
for k in FXS FXO BRI PRI GSM BASE1 BASE2 PHONE FXS2 FXS3; do
	P[$k]=$(octo_free_port) || exit 1
	sed -i "s/@P_$k@/${P[$k]}/" "$OCTO_CONF/gateways.conf"
done
sed -i "s/@SMTP_PORT@/$smtp_port/" "$OCTO_CONF/smtp.conf"
maildir="$OCTO_TMP/mail"
mkdir -p "$maildir/tmp" "$maildir/new" "$maildir/cur"
simlog="$OCTO_TMP/sim.log"

smtp_pid=""
sim_pid=""
gw_cleanup()
{
	[ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null
	[ -n "$smtp_pid" ] && kill "$smtp_pid" 2>/dev/null
	wait 2>/dev/null
}
trap 'gw_status=$?; gw_cleanup; (exit $gw_status); lib_exit' EXIT

timeout 300 "$SMTP_PY" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" -c aiosmtpd.handlers.Mailbox \
	"$maildir" >>"$OCTO_TMP/smtpd.log" 2>&1 </dev/null &
smtp_pid=$!

octo_start || exit 1
# user 101's desk phone (simulated too) registers with the sample password
pass_101=$(sed -n '/^\[101\]/,/^\[/s/^secret *= *//p' "$OCTO_CONF/users.conf" | head -n 1)

timeout 200 python3 "$SIM" --octo "127.0.0.1:$OCTO_SIP_PORT" --log "$simlog" --ctl "$ctl" \
	--life 180 --peer "fxs1=127.0.0.11:${P[FXS]}" --peer "fxo1=127.0.0.12:${P[FXO]}" \
	--peer "isdn1=127.0.0.13:${P[BRI]}" --peer "pri1=127.0.0.17:${P[PRI]}" \
	--peer "gsm1=127.0.0.14:${P[GSM]},gsm1,gsm1-Test-Secret" \
	--peer "base1=127.0.0.15:${P[BASE1]}" --peer "base2=127.0.0.16:${P[BASE2]}" \
	--peer "phone101=127.0.0.1:${P[PHONE]},101,$pass_101,ring" \
	--peer "fxs2=127.0.0.18:${P[FXS2]},ring" --peer "fxs3=127.0.0.18:${P[FXS3]}" \
	>>"$OCTO_TMP/sim.out" 2>&1 </dev/null &
sim_pid=$!

# sim COMMAND...: one command to the simulator; prints its answer
sim()
{
	python3 "$SIM" ctl "$ctl" "$@"
}

# sim_has REGEX: the simulator's event log has a line matching REGEX
sim_has()
{
	grep -qE -- "$1" "$simlog"
}

# wait_sim NAME REGEX: passes when the simulator logs REGEX within 10 s
wait_sim()
{
	if wait_until 10 sim_has "$2"; then
		pass "$1"
	else
		fail "$1" "no /$2/ in the simulator's log"
		lib_show "$simlog" 20 "simulator log"
	fi
}

# test_call PROCEDURE NUMBER [CALLER]: a Test call; prints its id
test_call()
{
	octo_rx test call "$@" | sed -n 's/^id: *//p'
}

# slot_has NAME TAG TEXT: the `gateway show NAME` row of slot TAG has TEXT
slot_has()
{
	octo_rx gateway show "$1" | grep -E "^ *$2 " | grep -qF -- "$3"
}

# ---------------------------------------------------------------- gateway show
# gw_listed NAME KIND: `gateway show` has a row for gateway NAME of KIND
gw_listed()
{
	octo_rx gateway show | grep -qE "^$1 +$2 "
}
for g in "fxs1 fxs" "fxo1 fxo" "isdn1 bri" "pri1 pri" "gsm1 gsm" "dect1 dect"; do
	check "gateway show lists ${g% *} (${g#* })" gw_listed $g
done
check_rx "BRI port has two B-channels" "1.2" gateway show isdn1
check_rx "T1 span has 23 channels" "1.23" gateway show pri1
check_rx "trunks of the gateways are trunks" "isdn1" trunk show
check_fails "unknown gateway" octo_rx gateway show nosuch

# ---------------------------------------------------------------- GSM registers
wait_sim "GSM gateway registers" "^REGISTERED gsm1 200"
wait_sim "user 101's desk phone registers" "^REGISTERED phone101 200"
# gw_state NAME TEXT: the `gateway show` row of NAME has TEXT
gw_state()
{
	octo_rx gateway show | grep -E "^$1 " | grep -qF -- "$2"
}
wait_until 10 gw_state gsm1 Registered &&
	pass "gsm1 shows Registered" || fail "gsm1 shows Registered" "$(octo_rx gateway show)"

# ---------------------------------------------------------------- FXS
id=$(test_call users 100 555)
wait_sim "FXS port rings for its user" "^INVITE fxs1 100 "
wait_until 10 slot_has fxs1 1 in && pass "FXS port 1 busy while the call is up" ||
	fail "FXS port 1 busy while the call is up" "$(octo_rx gateway show fxs1)"
octo_rx test hangup "$id" >/dev/null
wait_sim "FXS call hung up" "^BYE fxs1 "
wait_until 10 slot_has fxs1 1 idle && pass "FXS port 1 idle after the call" ||
	fail "FXS port 1 idle after the call" "$(octo_rx gateway show fxs1)"
id=$(test_call users '90*102' 555)
wait_sim "fax relay 90*EXT reaches the fax port" "^INVITE fxs1 102 "
octo_rx test hangup "$id" >/dev/null
# a call from the port runs the user's procedure as that user
cid=$(sim call fxs1 100 600 | sed -n 's/^OK //p')
wait_sim "call from the FXS port is answered" "^ANSWERED $cid"
check_rx "it is a call of port 1 (fxs1-1)" "fxs1-1" calls show active
wait_until 10 slot_has fxs1 1 "out" && pass "FXS port 1 busy calling 600" ||
	fail "FXS port 1 busy calling 600" "$(octo_rx gateway show fxs1)"
check_rx "the port's call runs the user's procedure" "users/600" calls show active
sim bye "$cid" >/dev/null

# ---------------------------------------------------------------- FXO hunting
a=$(test_call users 70612345001 555)
wait_sim "FXO call 1 on the gateway" "^INVITE fxo1 0612345001 "
b=$(test_call users 70612345002 555)
wait_sim "FXO call 2 on the gateway" "^INVITE fxo1 0612345002 "
check_rx "FXO line 1 carries call 1" "0612345001" gateway show fxo1
wait_until 10 slot_has fxo1 1 0612345001 && pass "first call took line 1" ||
	fail "first call took line 1" "$(octo_rx gateway show fxo1)"
wait_until 10 slot_has fxo1 2 0612345002 && pass "second call took line 2" ||
	fail "second call took line 2" "$(octo_rx gateway show fxo1)"
c=$(test_call users 70612345003 555)
wait_until 10 steps_have "$c" "DIALSTATUS=CONGESTION" &&
	pass "third FXO call gets congestion" ||
	fail "third FXO call gets congestion" "$(octo_rx call debug "$c" | tail -n 15)"
if sim_has "^INVITE fxo1 0612345003 "; then fail "no INVITE for the third call" "sent"; else
	pass "no INVITE for the third call"; fi
check_rx "trunk show counts the busy lines" "2" trunk show fxo1
octo_rx test hangup "$a" >/dev/null
octo_rx test hangup "$b" >/dev/null
wait_until 10 slot_has fxo1 2 idle && pass "FXO lines free again" ||
	fail "FXO lines free again" "$(octo_rx gateway show fxo1)"

# ---------------------------------------------------------------- FXO incoming
cid=$(sim call fxo1 0612999999 0212345671 | sed -n 's/^OK //p')
wait_sim "incoming FXO call answered" "^ANSWERED $cid"
wait_until 10 slot_has fxo1 2 0612999999 && pass "incoming call on line 2 (its number)" ||
	fail "incoming call on line 2 (its number)" "$(octo_rx gateway show fxo1)"
sim bye "$cid" >/dev/null

# ---------------------------------------------------------------- BRI: two B-channels
c1=$(sim call isdn1 0612000001 0212345601 | sed -n 's/^OK //p')
c2=$(sim call isdn1 0612000002 0212345602 | sed -n 's/^OK //p')
wait_sim "BRI call 1 answered" "^ANSWERED $c1"
wait_sim "BRI call 2 answered" "^ANSWERED $c2"
c3=$(sim call isdn1 0612000003 0212345603 | sed -n 's/^OK //p')
wait_sim "third call on the BRI port is refused (486)" "^FINAL $c3 486"
check_rx "BRI shows both B-channels busy" "2 of 2" gateway show isdn1
# the group moves on to FXO while the BRI is full
g=$(test_call users 80612777777 555)
wait_sim "trunk group moves on from the full BRI to FXO" "^INVITE fxo1 0612777777 "
octo_rx test hangup "$g" >/dev/null
sim bye "$c1" >/dev/null
sim bye "$c2" >/dev/null
wait_until 10 slot_has isdn1 1.2 idle && pass "BRI B-channels free again" ||
	fail "BRI B-channels free again" "$(octo_rx gateway show isdn1)"
g=$(test_call users 80612777778 555)
wait_sim "with the BRI free the group takes it" "^INVITE isdn1 0612777778 "
octo_rx test hangup "$g" >/dev/null

# ---------------------------------------------------------------- PRI DIDs
cid=$(sim call pri1 0612000009 0999999999 | sed -n 's/^OK //p')
wait_sim "PRI refuses a number outside its DIDs (404)" "^FINAL $cid 404"
cid=$(sim call pri1 0612000009 0311223342 | sed -n 's/^OK //p')
wait_sim "PRI takes a DID" "^ANSWERED $cid"
what="incoming PRI call on channel 1 (the network hunts upwards)"
wait_until 10 slot_has pri1 1.1 0612000009 && pass "$what" ||
	fail "$what" "$(octo_rx gateway show pri1)"
sim bye "$cid" >/dev/null

# ---------------------------------------------------------------- GSM
sim notify gsm1 gsm-status 'sim=1\nstate=registered\nsignal=23' >/dev/null
wait_sim "SIM state accepted" "^RESP gsm1 NOTIFY 200"
check_rx "SIM 1 registered with its signal" "registered, signal 23" gateway show gsm1
sim message gsm1 +393471112222 +393331234567 Meeting moved to 3pm >/dev/null
wait_sim "SMS accepted" "^RESP gsm1 MESSAGE 200"
if wait_until 20 bash -c "grep -rqs 'Meeting moved to 3pm' '$maildir/new'"; then
	pass "SMS arrives by e-mail"
else
	fail "SMS arrives by e-mail" "nothing in $maildir/new"
	octo_rx mail show queue | tail -n 5 | sed 's/^/  | /'
fi
grep -rqs "SMS from +393471112222" "$maildir/new" && pass "SMS e-mail names the sender" ||
	fail "SMS e-mail names the sender" "no subject"
sms_stored()
{
	octo_rx gsm show sms | grep -q 'Meeting moved'
}
wait_until 10 sms_stored &&
	pass "SMS stored" || fail "SMS stored" "$(octo_rx gsm show sms)"
check_rx "SMS sent from the CLI" "queued" gsm send sms gsm1 +393479998888 See you at 5
wait_sim "the gateway gets the SMS" "^MESSAGE gsm1 \+393331234567 \+393479998888 See you at 5"
check_fails "SMS to a bad number" octo_rx gsm send sms gsm1 "12;3" hi

# ---------------------------------------------------------------- DECT
check_rx "DECT bases listed" "base2" dect show bases
check_rx "handset unassigned" "-" dect show handsets
check_rx "dect assign" "assigned to 101" dect assign 0328D3A4E1 101
check_rx "handset shows its user" "101" dect show handsets
check_fails "dect assign to an unknown user" octo_rx dect assign 0328D3A4E1 999
check_fails "dect assign an unknown handset" octo_rx dect assign FFFFFFFF 101
id=$(test_call users 101 555)
wait_sim "DECT handset rings through base1" "^INVITE base1 0328D3A4E1 "
wait_sim "the user's desk phone rings too" "^INVITE phone101 101 "
wait_sim "the desk phone stops ringing when the handset answers" "^CANCEL phone101 "
cid=$(sed -n 's/^INVITE base1 0328D3A4E1 [^ ]* //p' "$simlog" | tail -n 1)
sim notify base2 dect 'handset=0328D3A4E1\nevent=handover' >/dev/null
wait_sim "base2 reports the handover" "^RESP base2 NOTIFY 200"
check_rx "handset now on base2" "base2" dect show handsets
sim reinvite "$cid" base2 >/dev/null
wait_sim "the call's dialog continues from base2 (re-INVITE)" "^REINVITE $cid base2 200"
check_rx "the call is still up after the handover" "$id" calls show active
check_rx "handset still assigned to 101" "101" dect show handsets
octo_rx test hangup "$id" >/dev/null
wait_sim "hang-up reaches the handset through base2" "^BYE base2 $cid"
check_rx "handset idle after the call" "idle" dect show handsets

# ---------------------------------------------------------------- sorted, tone zone
gw_sorted()
{
	local names
	names=$(octo_rx gateway show | awk 'NR > 1 && $1 ~ /^[a-z]/ {print $1}')
	[ -n "$names" ] && [ "$names" = "$(printf '%s\n' "$names" | sort -f)" ]
}
check "gateway show is sorted by name" gw_sorted
check_rx "the tone zone's plan: Italian ringback" "425 Hz, 1.0 on 4.0 off" gateway show fxo1
check_rx "the tone zone's plan: Italian dial tone" "425 Hz, 0.2 on 0.2 off 0.6 on 1.0 off" \
	gateway show fxo1

# ---------------------------------------------------------------- one IP, two gateways
cid=$(sim call fxs3 103 600 | sed -n 's/^OK //p')
wait_sim "a call from the second gateway at a shared IP is answered" "^ANSWERED $cid"
check_rx "it is matched by IP and port: a call of fxs3's port" "fxs3-1" calls show active
sim bye "$cid" >/dev/null
cid=$(sim call fxs2 101 600 | sed -n 's/^OK //p')
wait_sim "a call from the first gateway at that IP is answered" "^ANSWERED $cid"
check_rx "and matched to fxs2" "fxs2-1" calls show active
sim bye "$cid" >/dev/null
wait_until 10 slot_has fxs2 1 idle

# ---------------------------------------------------------------- ports Dial offers
# sim_count REGEX: how many lines of the simulator's log match
sim_count()
{
	grep -cE -- "$1" "$simlog"
}
# sim_more REGEX N: more than N lines match
sim_more()
{
	[ "$(sim_count "$1")" -gt "$2" ]
}
n_inv=$(sim_count "^INVITE fxs2 101 ")
n_can=$(sim_count "^CANCEL fxs2 ")
id=$(test_call users 101 555)
wait_until 10 sim_more "^INVITE fxs2 101 " "$n_inv" && pass "101's FXS port rings" ||
	fail "101's FXS port rings" "no INVITE to fxs2"
wait_until 10 sim_more "^CANCEL fxs2 " "$n_can" &&
	pass "the DECT handset answers: the FXS port's ringing is cancelled" ||
	fail "the DECT handset answers: the FXS port's ringing is cancelled" "no CANCEL"
wait_until 10 slot_has fxs2 1 idle && pass "answered elsewhere: the FXS port is free again" ||
	fail "answered elsewhere: the FXS port is free again" "$(octo_rx gateway show fxs2)"
check "the port of an unregistered gateway, never called, is not counted busy" \
	slot_has fxs4 1 idle
check_rx "the call is up on the handset" "$id" calls show active
octo_rx test hangup "$id" >/dev/null
wait_until 10 slot_has dect1 0328D3A4E1 idle

# ---------------------------------------------------------------- reload
gwconf="$OCTO_CONF/gateways.conf"
cp "$gwconf" "$OCTO_TMP/gateways.conf.orig"
check_rx "reload with gateways.conf unchanged" "" module reload chan_gsm
check "an unchanged gateway keeps its registration" gw_state gsm1 Registered
sed -i '/^line = 2,0212345671/a line = 3,0212345672' "$gwconf"
check_rx "module reload chan_fxo" "" module reload chan_fxo
check_rx "the new FXO line is there" "line 3: 0212345672" gateway show fxo1
check_rx "the trunk counts it" "3" trunk show fxo1
# a call in progress while lines change
a=$(test_call users 70612345011 555)
wait_sim "FXO call before the change" "^INVITE fxo1 0612345011 "
sed -i '/^line = 3,/d' "$gwconf"
check_rx "line 3 removed by a reload during a call" "" module reload chan_fxo
if octo_rx gateway show fxo1 | grep -q "line 3:"; then fail "line 3 is gone" "still listed"; else
	pass "line 3 is gone"; fi
check "the call keeps its line across the reload" slot_has fxo1 1 0612345011
check_rx "the call is still up" "$a" calls show active
octo_rx test hangup "$a" >/dev/null
wait_until 10 slot_has fxo1 1 idle && pass "its line is free when it ends" ||
	fail "its line is free when it ends" "$(octo_rx gateway show fxo1)"
# a change of the SIP side waits until the gateway is idle
a=$(test_call users 70612345012 555)
wait_sim "FXO call before the SIP change" "^INVITE fxo1 0612345012 "
sed -i '/^hunting = ascending/a codecs = PCMA,PCMU' "$gwconf"
check_rx "a SIP-side change during a call is accepted" "" module reload chan_fxo
check_rx "and waits for the gateway to be idle" "reloaded when idle" gateway show
check "the call goes on meanwhile" slot_has fxo1 1 0612345012
octo_rx test hangup "$a" >/dev/null
gw_pending_gone()
{
	! octo_rx gateway show fxo1 | grep -q "^ *reload"
}
wait_until 10 gw_pending_gone && pass "the change applies when the call ends" ||
	fail "the change applies when the call ends" "$(octo_rx gateway show fxo1)"
b=$(test_call users 70612345013 555)
wait_sim "the re-added FXO gateway takes calls" "^INVITE fxo1 0612345013 "
octo_rx test hangup "$b" >/dev/null
wait_until 10 slot_has fxo1 1 idle
# a gateway removed during a call is kept until the call ends
c1=$(sim call isdn1 0612000005 0212345605 | sed -n 's/^OK //p')
wait_sim "a BRI call before its gateway is removed" "^ANSWERED $c1"
sed -i '/^\[isdn1\]/,/^$/d' "$gwconf"
check_rx "isdn1 removed from gateways.conf" "" module reload chan_bri
check_rx "it stays until its call ends" "removed when idle" gateway show
sim bye "$c1" >/dev/null
gw_gone()
{
	! gw_listed "$1" "$2"
}
wait_until 10 gw_gone isdn1 bri && pass "removed when its call ended" ||
	fail "removed when its call ended" "$(octo_rx gateway show)"
# a trunk stays registered (app_trunk holds it for whole calls): it is down
check_rx "its trunk is down (Removed)" "Removed (not in gateways.conf)" trunk show isdn1
# a new gateway, applied by core reload
cat >>"$gwconf" <<'CONF'

[pri2]
type = pri
description = added by a reload
host = 127.0.0.20
span = 1,e1
CONF
check_rx "core reload" "" core reload
check "core reload adds a gateway" gw_listed pri2 pri
check "still sorted by name" gw_sorted
# a bad file is refused with file:line, the running config stays
cp "$OCTO_TMP/gateways.conf.orig" "$gwconf"
sed -i '/^\[fxo1\]/a line = x,0212345679' "$gwconf"
bad_line=$(($(grep -n '^\[fxo1\]' "$gwconf" | cut -d: -f1) + 1))
check_fails "a bad gateways.conf is refused" octo_rx module reload chan_fxo
grep -qF "gateways.conf:$bad_line: [fxo1] line: \"x\" is not a line number" "$OCTO_OUT" &&
	pass "with file:line" || fail "with file:line" "$(cat "$OCTO_OUT")"
check_fails "core reload refuses it too" octo_rx core reload
check "the running gateways stay" gw_listed pri2 pri
check_rx "and their lines" "line 2: 0212345671" gateway show fxo1
cp "$OCTO_TMP/gateways.conf.orig" "$gwconf"
check_rx "the original file reloads" "" core reload
check "isdn1 is back" gw_listed isdn1 bri
check "pri2 is gone" gw_gone pri2 pri
check_rx "isdn1's trunk is back" "isdn1" trunk show
check "gsm1 kept its registration through it all" gw_state gsm1 Registered
if grep -q "registry: put of an unknown" "$OCTO_LOG"; then
	fail "every trunk user gave its trunk back" "$(grep "put of an unknown" "$OCTO_LOG")"
else
	pass "every trunk user gave its trunk back"
fi

# ---------------------------------------------------------------- unload
c1=$(sim call isdn1 0612000004 0212345604 | sed -n 's/^OK //p')
wait_sim "a BRI call is up" "^ANSWERED $c1"
check_fails "a busy gateway module does not unload" octo_rx module unload chan_bri
sim bye "$c1" >/dev/null
wait_until 10 slot_has isdn1 1.1 idle
check_rx "an idle gateway module unloads" "" module unload chan_bri
check_fails "its gateway is gone" octo_rx gateway show isdn1
check_rx "gateway show still answers" "fxo1" gateway show
check_rx "and loads again" "" module load chan_bri
check_rx "with its gateway" "isdn1" gateway show
for m in chan_fxs chan_fxo chan_pri chan_gsm chan_dect; do
	check_rx "$m unloads when idle" "" module unload $m
	check_rx "$m loads again" "" module load $m
done
check_rx "every gateway is back" "dect1" gateway show

# the handset's assignment is kept in the store across a restart
octo_stop
octo_start || exit 1
check_rx "the DECT assignment survives a restart" "101" dect show handsets

octo_stop
