#!/usr/bin/env bash
# pickup_sip: parking, retrieving and pickup with SIP phones (phones.py, on
# top of ../sip_transfer/ua.py) on the sample configs, on loopback:
#  - 101 calls 100; 100 holds it and dials *70: 101 moves to an orbit and
#    hears music on hold, 100 hears the orbit; 102 dials the orbit and talks
#    with 101 (RTP both ways);
#  - 101 blind-transfers (REFER) its caller 100 to *70: 100 is parked with
#    101 as the parker; after the park timeout 101's phone rings again;
#  - 102 calls 101, whose phone rings; 100 (call group operators) dials *88:
#    101's phone gets CANCEL, 100 and 102 talk; then 102 blind-transfers the
#    picker 100 to 101: the picker's call goes on in the dialplan on its own
#    call thread (never a second one) and talks with 101.
# Needs python3.
. "$(dirname "$0")/../lib.sh"

if ! command -v python3 >/dev/null 2>&1; then
	fail "pickup_sip/python3" "python3 not found"
	exit 1
fi

octo_config_dir || exit 1
if [ ! -d "$OCTO_BUILD/sounds/en" ]; then
	fail "prompts generated" "no $OCTO_BUILD/sounds/en (make builds them)"
	exit 1
fi
# the prompts and the music of the build tree; a park timeout short enough
# to wait for
sed -i "/^\[directories\]/a sounds = $OCTO_BUILD/sounds" "$OCTO_CONF/octo.conf"
sed -i -e 's/^park_timeout = 45s$/park_timeout = 10s/' "$OCTO_CONF/features.conf"
octo_start || exit 1
export OCTO_RX="'$OCTO_BIN' -C '$OCTO_CONF' -s '$OCTO_SOCK' -rx"

# scenario NAME SCENARIO: runs phones.py SCENARIO; nothing may stay up after it.
scenario()
{
	octo_phones "$1" "$OCTO_CASE_DIR/phones.py" "$2" 100 101 102
}

# hist_any NAME CHANNEL-PATTERN TEXT: one of the three newest channels
# matching the pattern has TEXT (which of a user's calls ends last depends on
# timing).
hist_any()
{
	local id out=""
	for id in $(octo_rx calls show history | grep -E "$2" | head -n 3 | awk '{print $1}'); do
		out+=$(octo_rx call debug "$id")$'\n'
	done
	if grep -qF -- "$3" <<<"$out"; then
		pass "$1"
	else
		fail "$1" "no \"$3\" in the steps of the three newest $2 channels"
		printf '%s\n' "$out" | tail -n 40 | sed 's/^/  | /'
	fi
}

# hist_count NAME CHANNEL-PATTERN TEXT N: TEXT is in that step log N times.
hist_count()
{
	local n
	n=$(octo_history_debug "$2" | grep -cF -- "$3")
	if [ "$n" = "$4" ]; then
		pass "$1"
	else
		fail "$1" "\"$3\" $n times in the steps of $2 (expected $4)"
		octo_history_debug "$2" | tail -n 40 | sed 's/^/  | /'
	fi
}

check_rx "app_park loaded" "app_park" module show like app_park
check_rx "operators has the number 600" "600" callgroup show operators

# ---------------------------------------------------------------- *70 while holding
scenario "100 holds 101 and dials *70; 102 takes 101 from the orbit" park_held
octo_check_history "*70: the other party is parked" "SIP/100-" "(the other party of 100's call) parked"
octo_check_history "*70: the orbit is said to 100" "SIP/100-" "park-at"
octo_check_history "101 hears the music on hold class" "SIP/101-" "Park: music on hold: class default"
octo_check_history "102 takes the call from the orbit" "SIP/102-" "ParkedCall: takes the call parked at"
octo_check_history "101 bridged with 102" "SIP/101-" "takes the call from orbit"
octo_check_history "102 bridged with 101" "SIP/102-" "ParkedCall: connected with SIP/101-"
octo_check_history "102 was lent to the parked call's bridge" "SIP/102-" "this call's own thread waits"

# ---------------------------------------------------------------- REFER to *70
scenario "101 transfers 100 to *70; the call returns to 101 after the timeout" park_refer
hist_any "REFER: blind transfer to the park code" "SIP/101_0-" "blind transfer of SIP/100-"
octo_check_history "100 parked by the transfer of 101" "SIP/100-" "transferred here by 101: parked"
octo_check_history "timeout: returns to 101" "SIP/100-" "timed out after 10 s: the call returns to 101"
octo_check_history "the return rings 101's phone" "SIP/100-" "Dial: DIALSTATUS=ANSWER"

# ---------------------------------------------------------------- *88 and a transfer of the picker
scenario "100 picks up 102's call to 101, then 102 transfers 100 to 101" pickup
octo_check_history "the caller's dial: picked up" "SIP/102-" "picks up the call ringing SIP/101_0-"
octo_check_history "the ringing leg is cancelled" "SIP/102-" "cancelled: picked up by SIP/100-"
octo_check_history "the picker was lent to the bridge" "SIP/100-" "this call's own thread waits"
octo_check_history "the picker's own thread goes on after the transfer" "SIP/100-" \
	"transfer: this call's own thread goes on at users/101"
hist_count "the picker's dialplan started once (one call thread)" "SIP/100-" \
	"dialplan starts in" 1
octo_check_history "the transferred picker dials 101" "SIP/100-" "Dial(101)"
if grep -q "a call thread runs this call already" "$OCTO_LOG"; then
	fail "no second call thread was asked for" "$(grep -m1 'a call thread runs' "$OCTO_LOG")"
else
	pass "no second call thread was asked for"
fi
