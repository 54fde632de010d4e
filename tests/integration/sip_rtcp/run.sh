#!/usr/bin/env bash
# sip_rtcp: RTCP on loopback with python phones (../sip_hold_moh/phones.py):
#  - a relayed call passes each phone's RTCP to the other (from Octo's RTCP
#    port of the other leg, to the phone's RTP port + 1), drops what is not
#    RTCP, and `sip show channel` shows the counts and what the phone
#    reported (loss, jitter);
#  - a terminated leg (the echo test, libortp) sends reports of its own;
#  - phones whose SDP has a=rtcp (RFC 3605) get their RTCP at that port.
# Needs python3.
. "$(dirname "$0")/../lib.sh"

if ! command -v python3 >/dev/null 2>&1; then
	fail "sip_rtcp/python3" "python3 not found"
	exit 1
fi

octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
octo_start || exit 1
port=$OCTO_SIP_PORT
export OCTO_BIN OCTO_CONF OCTO_SOCK

scenario()
{
	octo_phones "$1" "$OCTO_CASE_DIR/../sip_hold_moh/phones.py" "$2" 100 101
}

scenario "RTCP relayed between the phones of a call, counted, reports shown" rtcp_relay
scenario "a terminated leg (echo test) sends RTCP reports" rtcp_echo
scenario "RTCP goes where the phones' a=rtcp says (RFC 3605)" rtcp_attr

# sip show settings: the listeners, media, counts, and every key with its origin
settings_has()
{
	if octo_rx sip show settings | grep -qE -- "$2"; then
		pass "$1"
	else
		fail "$1" "sip show settings does not match /$2/"
		octo_rx sip show settings | sed 's/^/  | /'
	fi
}
settings_has "settings: UDP listener" "^UDP listener: +127\.0\.0\.1:$port$"
settings_has "settings: RTP ports" "^RTP ports: +10000-20000 \(\[media\]\)$"
settings_has "settings: digest algorithms" "^digest algorithms offered: +MD5$"
settings_has "settings: codecs" "^codecs: +PCMU, PCMA "
settings_has "settings: no RTP endpoint left" "^RTP endpoints open: +0$"
settings_has "settings: a [general] key from the file" "^general +port +$port +sip\.conf:[0-9]+$"
settings_has "settings: a registrar key" "^general +nonce_lifetime +300 s +sip\.conf:[0-9]+$"
settings_has "settings: a [media] key" "^media +rtp_timeout +60 s +sip\.conf:[0-9]+$"
settings_has "settings: a [security] key" "^security +trusted +127\.0\.0\.0/8, ::1 +sip\.conf:[0-9]+$"
settings_has "settings: a key left to its default" "^general +externaddr +\(none\) +default$"
