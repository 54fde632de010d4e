#!/usr/bin/env bash
# sip_hold_moh: music on hold played by Octo to the held party of a SIP call
# (sip.conf moh_on_hold), on loopback with python phones (phones.py):
#  - 101 holds a call from 100: 100 gets its re-INVITE (sendonly) and RTP
#    that is the default class's tone (a 1000 Hz tone generated here), none
#    of what 101 sends meanwhile; after the resume no music, and both talk;
#    `sip show channel` and `sip show settings` show the music;
#  - the caller holds: the callee hears the music; a hang-up while held
#    ends it;
#  - MOHCLASS=alt (set by the dialplan) picks the 400 Hz class;
#  - users.conf moh_class = alt on 101: who 101 holds hears alt, who 100
#    holds the default; a bad class name is refused at reload;
#  - moh_on_hold = no (sip reload): the held phone gets no RTP.
# Needs python3.
. "$(dirname "$0")/../lib.sh"

if ! command -v python3 >/dev/null 2>&1; then
	fail "sip_hold_moh/python3" "python3 not found"
	exit 1
fi

octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
# the two classes: 2 s of a tone each, 8 kHz 16-bit WAV
moh="$OCTO_TMP/moh"
mkdir -p "$moh/default" "$moh/alt"
python3 - "$moh" <<'PY'
import math, struct, sys, wave
for cls, freq in (("default", 1000), ("alt", 400)):
    w = wave.open("%s/%s/tone.wav" % (sys.argv[1], cls), "wb")
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(8000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / 8000
                                                                   + 0.3)))
                           for i in range(16000)))
    w.close()
PY
sed -i "s|@MOH@|$moh|" "$OCTO_CONF/musiconhold.conf"
octo_start || exit 1
export OCTO_BIN OCTO_CONF OCTO_SOCK

# scenario NAME SCENARIO: runs phones.py SCENARIO; nothing may stay up after it.
scenario()
{
	octo_phones "$1" "$OCTO_CASE_DIR/phones.py" "$2" 100 101
}

# settings_has NAME REGEX: `sip show settings` matches REGEX (grep -E).
settings_has()
{
	if octo_rx sip show settings | grep -qE -- "$2"; then
		pass "$1"
	else
		fail "$1" "sip show settings does not match /$2/"
		octo_rx sip show settings | sed 's/^/  | /'
	fi
}

settings_has "music on hold is on by default" "^music on hold to held phones: +yes$"
settings_has "its class" "^music on hold class: +default$"
settings_has "the keys and where they come from" \
	"^general +moh_on_hold +yes +sip\.conf:[0-9]+$"
settings_has "a key left out comes from the default" \
	"^general +tls_cert +\(none\) +default$"

scenario "music on hold to the held party, then resume" moh
octo_check_history "the step log names the music" "SIP/100-" \
	"SIP: music on hold to the held phone: class default ($moh/default)"
octo_check_history "and its end" "SIP/100-" "SIP: music on hold stops"

scenario "MOHCLASS picks the class" moh_class
octo_check_history "the step log names the class" "SIP/100-" \
	"SIP: music on hold to the held phone: class alt ($moh/alt)"

# the holding user's class (users.conf moh_class): 101 holds -> alt
sed -i '/^name = Bob Bianchi$/a moh_class = alt' "$OCTO_CONF/users.conf"
check "users.conf reloaded" octo_rx module reload res_users
if octo_rx user show 101 | grep -qE '^ *music on hold *:? +alt$'; then
	pass "user show: the user's class"
else
	fail "user show: the user's class" "$(octo_rx user show 101)"
fi
scenario "the holding user's class" moh_user
octo_check_history "the step log names the user's class" "SIP/100-" \
	"SIP: music on hold to the held phone: class alt ($moh/alt)"
sed -i 's/^moh_class = alt$/moh_class = no.such/' "$OCTO_CONF/users.conf"
line=$(grep -n '^moh_class = no.such$' "$OCTO_CONF/users.conf" | cut -d: -f1)
out=$(octo_rx module reload res_users 2>&1)
if grep -qF "users.conf:$line" <<<"$out" && grep -q "moh_class" <<<"$out"; then
	pass "a bad class name is refused with file:line"
else
	fail "a bad class name is refused with file:line" "$out"
fi

# off: the hold is passed on as before, the held phone hears nothing from Octo
sed -i 's/^moh_on_hold = yes$/moh_on_hold = no/' "$OCTO_CONF/sip.conf"
line=$(grep -n '^moh_on_hold = no$' "$OCTO_CONF/sip.conf" | cut -d: -f1)
check "sip reload" octo_rx sip reload
settings_has "music on hold is off" "^music on hold to held phones: +no$"
settings_has "the key comes from the file" "^general +moh_on_hold +no +sip\.conf:$line$"
scenario "moh_on_hold = no: no music" no_moh
