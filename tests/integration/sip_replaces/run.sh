#!/usr/bin/env bash
# sip_replaces: INVITE with Replaces received directly (RFC 3891), on loopback
# with python phones (../sip_hold_moh/phones.py):
#  - user 100 moves an answered call to its second phone: the new dialog
#    takes the old leg's channel (bridge, relayed media), the old phone gets
#    a BYE, 101 notices nothing and talks with the new phone;
#  - 102 picks up the call ringing 101 (Replaces naming Octo's INVITE to
#    101): 101's INVITE is cancelled, 100 and 102 talk;
#  - refused: another user's call (403), early-only on an answered call
#    (486), no such dialog or a wrong tag (481), no from-tag or two Replaces
#    (400), an INVITE Octo has not answered yet (481).
# Needs python3.
. "$(dirname "$0")/../lib.sh"

if ! command -v python3 >/dev/null 2>&1; then
	fail "sip_replaces/python3" "python3 not found"
	exit 1
fi

octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
octo_start || exit 1
export OCTO_BIN OCTO_CONF OCTO_SOCK

scenario()
{
	octo_phones "$1" "$OCTO_CASE_DIR/../sip_hold_moh/phones.py" "$2" 100 101 102
}

scenario "an answered call moves to the user's other phone" replaces
octo_check_history "the step log tells the move" "SIP/100-" \
	"SIP: INVITE with Replaces from user 100 at UDP 127.0.0.1:"
scenario "pickup of a ringing call by Replaces" pickup
octo_check_history "the step log tells the pickup" "SIP/101_0-" \
	"picks up this ringing call"
scenario "INVITEs with a Replaces that cannot be honoured" replaces_errors
