#!/usr/bin/env bash
# trunks: SIP trunks, trunk groups and DialTrunk on loopback, with SIPp as
# the far ends (each trunk on a loopback address of its own: 127.0.0.2 ...)
# and as the users' phones (127.0.0.1): a trunk registers to a registrar
# that challenges it (401: the Authorization is checked) and re-registers
# before the granted 6 s end, shown Registered by `trunk show`; a registrar
# that answers 403 shows Failed and the administrator gets the state e-mail
# (aiosmtpd); a user dials 0 + a number: the outside line 0 is removed, the
# provider gets it in its number format (e164); DialTrunkGroup moves on from
# a busy trunk (486) to the next, skips a trunk that does not exist, and
# does not move on when the caller hangs up; max_channels: a second call
# while the provider's one channel is busy goes to the next trunk of the
# group; a call from the provider's address to the DID 021234501 reaches
# user 101 with the caller number in +CC form; an international call from
# 101 (ACL group employees) is refused before any trunk is tried.
# Needs sipp (Debian: sip-tester) and python3-aiosmtpd.
. "$(dirname "$0")/../lib.sh"

SMTP_PY=""
for py in /usr/bin/python3 python3; do
	if "$py" -c 'import aiosmtpd' >/dev/null 2>&1; then
		SMTP_PY=$py
		break
	fi
done
if ! command -v sipp >/dev/null 2>&1 || [ -z "$SMTP_PY" ]; then
	fail "$OCTO_CASE/setup" "sipp or python3-aiosmtpd not found (Debian: sip-tester, python3-aiosmtpd)"
	exit 1
fi

REG_PORT=$(octo_free_port) && PROV_PORT=$(octo_free_port) && BAD_PORT=$(octo_free_port) &&
	BUSY_PORT=$(octo_free_port) && BACKUP_PORT=$(octo_free_port) &&
	RING_PORT=$(octo_free_port) && SMTP_PORT=$(octo_free_port) || exit 1

octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
sed -i -e "s/@REG_PORT@/$REG_PORT/; s/@PROV_PORT@/$PROV_PORT/; s/@BAD_PORT@/$BAD_PORT/" \
	-e "s/@BUSY_PORT@/$BUSY_PORT/; s/@BACKUP_PORT@/$BACKUP_PORT/; s/@RING_PORT@/$RING_PORT/" \
	"$OCTO_CONF/trunks.conf"
# SIPp answers the first challenge only: offer MD5 first
sed -i 's/^auth_algorithms *=.*/auth_algorithms = MD5, SHA-256/' "$OCTO_CONF/sip.conf"
sed -i -e '/^server *=/d' -e '/^port *=/d' -e '/^security *=/d' \
	"$OCTO_CONF/smtp.conf"
printf 'server = 127.0.0.1\nport = %s\nsecurity = none\n' "$SMTP_PORT" \
	>>"$OCTO_CONF/smtp.conf"

MAILDIR="$OCTO_TMP/maildir"
mkdir -p "$MAILDIR/tmp" "$MAILDIR/new" "$MAILDIR/cur"
timeout 300 "$SMTP_PY" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox \
	"$MAILDIR" >"$OCTO_TMP/smtpd.log" 2>&1 </dev/null &
smtp_pid=$!
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT" ||
	fail "$OCTO_CASE/smtpd" "the SMTP server did not start"

pass_100=$(sed -n '/^\[100\]/,/^\[/s/^secret *= *//p' "$OCTO_CONF/users.conf" | head -n 1)
pass_101=$(sed -n '/^\[101\]/,/^\[/s/^secret *= *//p' "$OCTO_CONF/users.conf" | head -n 1)
printf 'SEQUENTIAL\n100;\n' >"$OCTO_TMP/u100.csv"
printf 'SEQUENTIAL\n101;\n' >"$OCTO_TMP/u101.csv"

# far NAME SCENARIO IP PORT [SIPP OPTIONS...]: a far end (UAS) on IP:PORT; its
# messages go to $OCTO_TMP/NAME.msg, its output to $OCTO_TMP/NAME.log.
far()
{
	local name=$1 scen=$2 ip=$3 port=$4
	shift 4
	(cd "$OCTO_TMP" && timeout 45 sipp -sf "$OCTO_CASE_DIR/sipp/$scen.xml" -i "$ip" -p "$port" \
		-mp "$(octo_free_port)" -m 1 -nostdin -timeout 40s -timeout_error -trace_msg \
		-message_file "$OCTO_TMP/$name.msg" -trace_err -error_file "$OCTO_TMP/$name.err" \
		"$@") >"$OCTO_TMP/$name.log" 2>&1
}

# phone USER SCENARIO [SIPP OPTIONS...]: a user's phone on 127.0.0.1 towards Octo.
phone()
{
	local user=$1 scen=$2 pass sport
	shift 2
	pass=pass_$user
	sport=${PHONE_PORT:-$(octo_free_port)}
	(cd "$OCTO_TMP" && timeout 45 sipp -sf "$OCTO_CASE_DIR/sipp/$scen.xml" \
		-inf "$OCTO_TMP/u$user.csv" -au "$user" -ap "${!pass}" -i 127.0.0.1 -p "$sport" \
		-mp "$(octo_free_port)" -m 1 -nostdin -timeout 40s -timeout_error -recv_timeout 20000 \
		-trace_msg -message_file "$OCTO_TMP/$scen-$user.msg" -trace_err \
		-error_file "$OCTO_TMP/$scen-$user.err" "$@" 127.0.0.1:"$OCTO_SIP_PORT") \
		>"$OCTO_TMP/$scen-$user.log" 2>&1
}

# result NAME STATUS LOG...: passes when STATUS is 0, else shows the logs.
result()
{
	local name=$1 st=$2 f
	shift 2
	if [ "$st" -eq 0 ]; then
		pass "$name"
	else
		fail "$name" "sipp status $st"
		for f in "$@"; do
			[ -f "$f" ] && lib_show "$f" 25
		done
	fi
}

idle()
{
	octo_rx trunk show "$1" | grep -q "channels: *0 busy"
}

# ---------------------------------------------------------------- registration
# The registrars must be there before the daemon sends its first REGISTER.
far registrar registrar 127.0.0.2 "$REG_PORT" &
reg_pid=$!
far registrar_403 registrar_403 127.0.0.4 "$BAD_PORT" &
bad_pid=$!
sleep 0.5
octo_start || exit 1

check_rx "DialTrunk documented" "DialTrunkGroup moves on" core show application DialTrunk
if wait_until 10 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'trunk show provider' | grep -q 'state: *Registered'"; then
	pass "provider registered after the 401 challenge"
else
	fail "provider registered after the 401 challenge" "$(octo_rx trunk show provider)"
fi
wait "$reg_pid"
result "the Authorization was right and the trunk re-registered in time" $? \
	"$OCTO_TMP/registrar.log" "$OCTO_TMP/registrar.err" "$OCTO_TMP/registrar.msg"
check_rx "still registered (60 s granted)" "Registered" trunk show provider
wait "$bad_pid"
result "the refusing registrar answered" $? "$OCTO_TMP/registrar_403.log"
if wait_until 10 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'trunk show' | grep -E '^badprov +sip +Failed \(403 Forbidden\)'"; then
	pass "403: trunk show says Failed (403 Forbidden)"
else
	fail "403: trunk show says Failed (403 Forbidden)" "$(octo_rx trunk show)"
fi
check_rx "trunk show lists the groups" "provider, backup" trunk show
check_rx "a missing trunk of a group is flagged" "ghost (missing)" trunk show
check_rx "sip show peers lists the trunks" "(trunk peer)" sip show peers
if wait_until 20 bash -c "grep -rlq 'Subject: Trunk badprov: Failed' '$MAILDIR/new'"; then
	pass "the state e-mail reached the administrator"
	f=$(grep -rl 'Subject: Trunk badprov: Failed' "$MAILDIR/new" | head -n 1)
	check "the e-mail says why" grep -q "403 Forbidden" "$f"
	check "the e-mail goes to admin_email" grep -qi "^To: .*admin@example.com" "$f"
else
	fail "the state e-mail reached the administrator" "no mail in $MAILDIR/new"
	octo_rx mail show queue | sed 's/^/  | /'
	grep -E "smtp|mail|badprov" "$OCTO_LOG" | tail -n 15 | sed 's/^/  | /'
fi

# ---------------------------------------------------------------- outgoing through the provider
far provider trunk_answer 127.0.0.2 "$PROV_PORT" &
far_pid=$!
sleep 0.3
phone 100 uac_call -s 00612345678 -d 1000
result "100 dials 0 + 0612345678 through the provider" $? "$OCTO_TMP/uac_call-100.log" \
	"$OCTO_TMP/uac_call-100.err"
wait "$far_pid"
result "the provider answered and got the BYE" $? "$OCTO_TMP/provider.log" "$OCTO_TMP/provider.err"
check "the outside line 0 removed, the number in e164" \
	grep -q "INVITE sip:+390612345678@127.0.0.2:$PROV_PORT SIP/2.0" "$OCTO_TMP/provider.msg"
check "the provider's channel is free again" wait_until 5 idle provider
octo_check_history "DialTrunk took a channel of the provider" "SIP/100-" \
	"DialTrunk: trunk provider: SIP/provider@peer/o"
if wait_until 5 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'cdr show user 100' | grep -q provider"; then
	pass "the CDR names the trunk"
else
	fail "the CDR names the trunk" "$(octo_rx cdr show user 100 | tail -n 5)"
fi

# the provider challenges our INVITE: answered with the trunk's credentials
far provider_auth trunk_challenge 127.0.0.2 "$PROV_PORT" &
far_pid=$!
sleep 0.3
phone 100 uac_call -s 00612345678 -d 500
result "a call the provider challenges (407)" $? "$OCTO_TMP/uac_call-100.log" \
	"$OCTO_TMP/uac_call-100.err"
wait "$far_pid"
result "the INVITE came again with the right Proxy-Authorization" $? \
	"$OCTO_TMP/provider_auth.log" "$OCTO_TMP/provider_auth.err"
check "the provider's channel is free after it" wait_until 5 idle provider

# ---------------------------------------------------------------- a trunk group moves on after busy
far busy trunk_busy 127.0.0.3 "$BUSY_PORT" &
busy_pid=$!
far backup trunk_answer 127.0.0.5 "$BACKUP_PORT" &
backup_pid=$!
sleep 0.3
phone 100 uac_call -s 8555123 -d 500
result "a call through the group failover" $? "$OCTO_TMP/uac_call-100.log" \
	"$OCTO_TMP/uac_call-100.err"
wait "$busy_pid"
result "the first trunk was busy (486)" $? "$OCTO_TMP/busy.log"
wait "$backup_pid"
result "the next trunk answered" $? "$OCTO_TMP/backup.log" "$OCTO_TMP/backup.err"
octo_check_history "the step log tells the move" "SIP/100-" "trunk busytrunk: BUSY: next trunk"

# ---------------------------------------------------------------- a trunk that cannot be sent to
# the INVITE's datagram is refused by the kernel (sent from chan_sip's UDP
# sending thread): the transaction fails with 503 at once and the group
# moves on, well before the phone's 20 s receive timeout (Timer B is 32 s)
far backup_nr trunk_answer 127.0.0.5 "$BACKUP_PORT" &
backup_pid=$!
sleep 0.3
phone 100 uac_call -s 5555123 -d 500
result "a call through a group whose first trunk cannot be reached" $? \
	"$OCTO_TMP/uac_call-100.log" "$OCTO_TMP/uac_call-100.err"
wait "$backup_pid"
result "the next trunk answered it" $? "$OCTO_TMP/backup_nr.log" "$OCTO_TMP/backup_nr.err"
octo_check_history "the step log tells the send failure" "SIP/100-" \
	"trunk nowhere: CHANUNAVAIL: next trunk"

# ---------------------------------------------------------------- the caller hangs up: no move
far ringer trunk_ring 127.0.0.6 "$RING_PORT" &
ring_pid=$!
sleep 0.3
phone 100 uac_cancel -s 6555123 -d 1500
result "the caller gives up while the trunk rings" $? "$OCTO_TMP/uac_cancel-100.log" \
	"$OCTO_TMP/uac_cancel-100.err"
wait "$ring_pid"
result "the ringing trunk was cancelled" $? "$OCTO_TMP/ringer.log" "$OCTO_TMP/ringer.err"
octo_check_history "a group member that does not exist is skipped" "SIP/100-" "no trunk ghost: skipped"
octo_check_history "no move to the next trunk after the caller hung up" "SIP/100-" \
	"trying trunk backup" not
check "the ringer's channel is free again" wait_until 5 idle ringer

# ---------------------------------------------------------------- max_channels
far provider2 trunk_answer 127.0.0.2 "$PROV_PORT" &
p2_pid=$!
far backup2 trunk_answer 127.0.0.5 "$BACKUP_PORT" &
b2_pid=$!
sleep 0.3
phone 100 uac_call -s 00612345678 -d 4000 &
long_pid=$!
if wait_until 10 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'trunk show provider' | grep -q 'channels: *1 busy of 1'"; then
	pass "the provider's one channel is busy"
else
	fail "the provider's one channel is busy" "$(octo_rx trunk show provider)"
fi
far did_full trunk_call_in_full 127.0.0.2 "$(octo_free_port)" -s 021234501 127.0.0.1:"$OCTO_SIP_PORT"
result "an incoming call while the provider's channel is busy: 503" $? "$OCTO_TMP/did_full.log" \
	"$OCTO_TMP/did_full.err"
phone 100 uac_call -s 7555123 -d 300
result "a second call: the group full goes on to backup" $? "$OCTO_TMP/uac_call-100.log" \
	"$OCTO_TMP/uac_call-100.err"
octo_check_history "all channels busy: congestion, next trunk" "SIP/100-" \
	"trunk provider: CONGESTION: next trunk"
wait "$b2_pid"
result "backup took the second call" $? "$OCTO_TMP/backup2.log"
wait "$long_pid"
result "the first call went on meanwhile" $? "$OCTO_TMP/uac_call-100.log"
wait "$p2_pid"
result "the provider's call ended normally" $? "$OCTO_TMP/provider2.log"

# ---------------------------------------------------------------- incoming DID from the provider
p=$(octo_free_port)
PHONE_PORT=$p phone 101 reg
result "101 registers" $? "$OCTO_TMP/reg-101.log"
PHONE_PORT=$p phone 101 user_answer &
ua_pid=$!
sleep 0.3
far did trunk_call_in 127.0.0.2 "$(octo_free_port)" -s 021234501 -d 500 127.0.0.1:"$OCTO_SIP_PORT"
result "the provider calls the DID 021234501" $? "$OCTO_TMP/did.log" "$OCTO_TMP/did.err"
wait "$ua_pid"
result "user 101 answered it" $? "$OCTO_TMP/user_answer-101.log"
octo_check_history "the DID call came from the provider trunk" "SIP/provider-" "INVITE from peer provider"
octo_check_history "the caller number in +CC form" "SIP/provider-" "+390612345678"
octo_check_history "the DID reached 101 (remove 7, prepend 1)" "SIP/provider-" "101"
octo_rx sip unregister 101 >/dev/null

# ---------------------------------------------------------------- the ACL before the trunk
phone 101 uac_refused -s 000441234567890
result "101 (employees) may not call abroad: refused" $? "$OCTO_TMP/uac_refused-101.log" \
	"$OCTO_TMP/uac_refused-101.err"
octo_check_history "CheckACL said why" "SIP/101-" "international"
octo_check_history "no trunk was tried" "SIP/101-" "DialTrunk" not

# ---------------------------------------------------------------- a PBX that registers to us
check_rx "the dynamic trunk starts unregistered" "Unregistered" trunk show branch
printf 'SEQUENTIAL\nbranchpbx;\n' >"$OCTO_TMP/branch.csv"
p=$(octo_free_port)
(cd "$OCTO_TMP" && timeout 30 sipp -sf "$OCTO_CASE_DIR/sipp/reg.xml" -inf "$OCTO_TMP/branch.csv" \
	-au branchpbx -ap branch-secret -i 127.0.0.7 -p "$p" -m 1 -nostdin -timeout 20s \
	-timeout_error 127.0.0.1:"$OCTO_SIP_PORT") >"$OCTO_TMP/branch.log" 2>&1
result "the branch PBX registers with the trunk's credentials" $? "$OCTO_TMP/branch.log"
check_rx "the dynamic trunk is Registered" "Registered" trunk show branch
check_rx "sip show peers shows where it is" "dynamic (127.0.0.7:$p)" sip show peers

# ---------------------------------------------------------------- reload
sed -i 's/^max_channels = 1$/max_channels = 3/' "$OCTO_CONF/trunks.conf"
check "reload" octo_rx module reload app_trunk
check_rx "max_channels changed by the reload" "0 busy of 3" trunk show provider
check_rx "the registration stays" "Registered" trunk show provider
printf '[broken]\nhost = not_an_ip\n' >>"$OCTO_CONF/trunks.conf"
check_fails "a bad trunks.conf is refused" octo_rx module reload app_trunk
check_rx "the running trunks stay" "provider" trunk show
check_fails "trunk show of an unknown trunk" octo_rx trunk show nosuch

octo_stop
# the SMTP server ends by a signal (or its own time-out): that is no failure
kill "$smtp_pid" 2>/dev/null
wait "$smtp_pid" 2>/dev/null || true
