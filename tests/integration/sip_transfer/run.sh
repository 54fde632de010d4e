#!/usr/bin/env bash
# sip_transfer: hold through the core bridge and call transfers by SIP REFER,
# on loopback, with the users 100, 101 and 102 as python phones (ua.py):
#  - hold and resume from a SIP phone bridged with a Test leg (no native
#    bridge between two technologies: the core bridge gets the events);
#  - blind transfer by the callee (101 holds 100, REFERs it to 102: 202,
#    NOTIFY 100 Trying then 200 OK, BYE to 101, 100 resumed and talking to
#    102) and by the caller (100 REFERs 101 to 102: 102 sees 101 calling);
#  - attended transfer (101 holds 100, calls 102, REFERs with Replaces: 100
#    and 102 talk, both calls of 101 get a BYE), also when both calls came
#    in to 101, and when 101 placed both;
#  - refused REFERs (bad Refer-To, tel:, unknown Replaces, outside a call,
#    wrong tag) and an unknown number (NOTIFY 404, the call goes on);
#  - the step logs and CDR rows.
# Needs python3.
. "$(dirname "$0")/../lib.sh"

if ! command -v python3 >/dev/null 2>&1; then
	fail "sip_transfer/python3" "python3 not found"
	exit 1
fi

octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
octo_start || exit 1

# scenario NAME SCENARIO: runs ua.py SCENARIO; nothing may stay up after it.
scenario()
{
	octo_phones "$1" "$OCTO_CASE_DIR/ua.py" "$2" 100 101 102
}

# check_debug_any NAME PATTERN TEXT: like octo_check_history, over the two newest ended
# channels matching PATTERN -- for a caller with two calls, which of them ends
# last depends on timing.
check_debug_any()
{
	local id out=""
	for id in $(octo_rx calls show history | grep -E "$2" | head -n 2 | awk '{print $1}'); do
		out+=$(octo_rx call debug "$id")$'\n'
	done
	if grep -qF -- "$3" <<<"$out"; then
		pass "$1"
	else
		fail "$1" "no \"$3\" in the steps of the two newest $2 channels"
		printf '%s\n' "$out" | tail -n 40 | sed 's/^/  | /'
	fi
}

check_rx "chan_sip loaded" "running" module show like chan_sip
check_rx "REFER is allowed" "REFER" sip show settings

scenario "hold and resume through the core bridge (SIP <-> Test)" hold_test
octo_check_history "the bridge gets the hold of the SIP phone" "Test/answer" \
	"puts the call on hold"
octo_check_history "the bridge gets the resume of the SIP phone" "Test/answer" "resumes the call"

scenario "blind transfer by the callee" blind_by_callee
octo_check_history "blind transfer: 101's step log" "SIP/101_0-" "SIP: REFER: blind transfer of SIP/100-"
octo_check_history "blind transfer: 100 goes on in the dialplan" "SIP/100-" \
	"goes on in the dialplan at users/102"
octo_check_history "blind transfer: 100 dials 102" "SIP/100-" "Dial(102,10)"

scenario "blind transfer by the caller" blind_by_caller
octo_check_history "blind transfer of an outgoing leg: it runs the dialplan" "SIP/101_0-" \
	"transfer: a call thread of its own runs the dialplan"

scenario "attended transfer (REFER with Replaces)" attended
octo_check_history "attended transfer: 101's step log" "SIP/101_0-" "SIP: REFER: attended transfer"
octo_check_history "attended transfer: 100 bridged with 102" "SIP/100-" "transfer: bridge SIP/100-"

scenario "attended transfer of two incoming calls" attended_two_incoming
octo_check_history "two incoming calls: 100's thread waits while 102's bridges" "SIP/100-" \
	"transfer: bridge SIP/102-"
scenario "attended transfer of two outgoing calls" attended_two_outgoing
check_debug_any "two outgoing calls: the transferor's thread carries the bridge" "SIP/101-" \
	"transfer: this call's thread goes on bridging SIP/100_0-"
scenario "refused transfers" refer_errors
octo_check_history "an unknown number is refused by the dialplan" "SIP/101_0-" \
	"to users/555: not found"

# cdr_row NAME CALLER DIALED CALLED CHANNEL-PREFIX: `cdr show` has an
# ANSWERED row with these values.
cdr_row()
{
	local name=$1
	shift
	if wait_until 5 sh -c "'$OCTO_BIN' -C '$OCTO_CONF' -s '$OCTO_SOCK' -rx 'cdr show last 60' |
		awk '\$3 == \"$1\" && \$4 == \"$2\" && \$5 == \"$3\" && \$6 == \"ANSWERED\" &&
		     index(\$9, \"$4\") == 1 { found = 1 } END { exit !found }'"; then
		pass "$name"
	else
		fail "$name" "no row $*"
		octo_rx cdr show last 60 | sed 's/^/  | /'
	fi
}

if octo_rx module show like res_cdr_sqlite | grep -q running; then
	# blind by the callee: 100 dialled 101 and ended up with 102
	cdr_row "CDR: the transferred caller's leg" 100 101 102 SIP/100-
	cdr_row "CDR: the transfer target's leg (caller 100)" 100 102/0 102 SIP/102_0-
	# blind by the caller: the leg to 101 went on to call 102 as 101
	cdr_row "CDR: the transferred callee's leg (now caller 101)" 101 101/0 102 SIP/101_0-
	cdr_row "CDR: the transfer target's leg (caller 101)" 101 102/0 102 SIP/102_0-
fi
