#!/usr/bin/env bash
# sip_register: the registrar, digest authentication and IP bans of chan_sip
# on loopback: REGISTER with MD5 (SIPp -au/-ap) and SHA-256 (sipreg.py),
# wrong password and unknown user (401 again), a user without a secret and a
# username that is not the To user (403), expiry too brief (423), un-register
# (Expires: 0 and Contact: *), replayed nonce counts and forged nonces
# (stale=true), max_contacts, qualify (OPTIONS, RTT, UNREACHABLE),
# `sip show registrations|peers`, `user show`, `sip unregister`,
# registrations kept across a restart, and repeated wrong passwords that ban
# 127.0.0.1 (no answer at all) until `security unban`.
# Needs sipp (Debian package sip-tester) and python3.
. "$(dirname "$0")/../lib.sh"

for tool in sipp python3; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		fail "sip_register/$tool" "$tool not found (Debian packages sip-tester, python3)"
		exit 1
	fi
done

port=$(octo_free_port) || exit 1
tls_port=$(octo_free_port) || exit 1
sipp_port=$(octo_free_port) || exit 1
octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
sed -i "s/@SIP_PORT@/$port/; s/@TLS_PORT@/$tls_port/" "$OCTO_CONF/sip.conf"
# a user without a secret (res_users warns; such a user cannot register)
printf '\n[150]\nname = No Secret\n' >>"$OCTO_CONF/users.conf"
secret100=$(sed -n '/^\[100\]/,/^\[/s/^secret = //p' "$OCTO_CONF/users.conf")
secret101=$(sed -n '/^\[101\]/,/^\[/s/^secret = //p' "$OCTO_CONF/users.conf")
octo_start || exit 1

# sipp_reg SCENARIO USER PASSWORD FINAL EXPIRES: one SIPp call, bounded in
# time; the scenario's @FINAL@ is the final status expected.
sipp_reg()
{
	sed "s/@FINAL@/$4/" "$OCTO_CASE_DIR/sipp/$1" >"$OCTO_TMP/$4-$1"
	(cd "$OCTO_TMP" && timeout 20 sipp -sf "$OCTO_TMP/$4-$1" -m 1 -s "$2" -au "$2" \
		-ap "$3" -key expires "$5" -i 127.0.0.1 -p "$sipp_port" -nostdin \
		-timeout 8s -timeout_error -recv_timeout 3000 127.0.0.1:"$port")
}

reg()
{
	timeout 60 python3 "$OCTO_CASE_DIR/sipreg.py" "$1" "$port" "${@:2}"
}

check_rx "chan_sip loaded" "running" module show like chan_sip
check_rx "REGISTER handled" "REGISTER" sip show settings

# ---------------------------------------------------------------- register
check "REGISTER with MD5 digest: 200 (sipp -au/-ap)" sipp_reg register.xml 100 "$secret100" 200 3600
check_rx "contact listed" "sip:100@127.0.0.1:$sipp_port" sip show registrations
check_rx "user agent listed" "SIPp registrar test" sip show registrations
check_rx "source address listed" "127.0.0.1:$sipp_port" sip show registrations
check_rx "peers: 100 registered" "registered" sip show peers
check "peers: 101 unregistered" bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'sip show peers' | grep -E '^ *101 .*unregistered'"
if octo_rx sip show channels >/dev/null 2>&1; then
	# the SIP technology (calls) lists the contacts as the user's devices
	check_rx "user show 100 lists the device" "100/0" user show 100
else
	echo "SKIP user show 100 lists the device: the SIP technology is not registered yet"
fi
check "REGISTER with SHA-256 digest: 200 (sipreg.py)" reg sha256 101 "$secret101"
check_rx "101 registered" "sip:101@127.0.0.1" sip show registrations 101

# ---------------------------------------------------------------- refusals
check "wrong password: 401 again" sipp_reg register.xml 100 wrong-password 401 3600
check "unknown user: 401 again, like a wrong password" sipp_reg register.xml 999 whatever 401 3600
check "expiry too brief: 423" sipp_reg register.xml 100 "$secret100" 423 10
check "423 carries Min-Expires: 60" reg brief 101 "$secret101" 10 60
check "user without a secret: 403" reg nosecret 150
check "username other than the To user: 403" reg mismatch 100 "$secret100" 101
check "replayed nonce count: stale=true" reg replay 101 "$secret101"
check "forged or altered nonce: stale=true" reg forged 101 "$secret101"
check "malformed credentials: 400/401, no crash" reg malformed 101 "$secret101"
check_rx "still answering" "sip:100@127.0.0.1:$sipp_port" sip show registrations
# only the wrong password and the unknown user counted: no ban yet (max 3)
check_rx "no ban yet" "bans: 0" security show bans

# ---------------------------------------------------------------- un-register
check "un-register (Expires: 0): 200" sipp_reg register.xml 100 "$secret100" 200 0
check_fails "contact gone" bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'sip show registrations' | grep -q 'sip:100@127.0.0.1:$sipp_port'"
check "register again" sipp_reg register.xml 100 "$secret100" 200 3600
check "un-register all (Contact: *): 200" sipp_reg unregister_all.xml 100 "$secret100" 200 0
check_rx "no registration of 100 left" "registrations: 0" sip show registrations 100

# ---------------------------------------------------------------- max_contacts, qualify
check "max_contacts 5: a 6th contact replaces the oldest" reg maxcontacts 100 "$secret100" 5
check_rx "admin unregister" "Removed 5 registrations of 100" sip unregister 100
check_fails "unregister a user with none" octo_rx sip unregister 100
check "qualify: OPTIONS answered by the contact" reg qualify 100 "$secret100" 5
check_rx "round-trip time shown" "OK (" sip show registrations 100
# the contact stopped answering: UNREACHABLE after 64*T1 (6.4 s), not rung
check "unanswered contact becomes UNREACHABLE" wait_until 20 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'sip show registrations 100' | grep -q UNREACHABLE"
check "UNREACHABLE logged" grep -q "is UNREACHABLE" "$OCTO_LOG"
octo_rx sip unregister 100 >/dev/null

# ---------------------------------------------------------------- restart
check "register before the restart" sipp_reg register.xml 100 "$secret100" 200 3600
octo_stop
octo_start || exit 1
check_rx "registration kept across a restart" "sip:100@127.0.0.1:$sipp_port" sip show registrations
check "restored from the store (logged)" grep -q "restored from the store" "$OCTO_LOG"

# ---------------------------------------------------------------- bans
check "wrong password 1" sipp_reg register.xml 100 bad-1 401 3600
check "wrong password 2 (user 555)" sipp_reg register.xml 555 bad-2 401 3600
check "wrong password 3: banned now" sipp_reg register.xml 100 bad-3 401 3600
check "ban logged at NOTICE with the users tried" grep -qE "NOTICE.*banned 127\.0\.0\.1 .*users tried: 555,100" "$OCTO_LOG"
check_fails "a banned IP gets no answer" sipp_reg challenge.xml 100 x 401 60
check "its packets were dropped before parsing" bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' --json -rx 'sip show stats' | grep -qE '\"dropped from banned addresses\":\"[1-9]'"
check_rx "security show bans lists 127.0.0.1" "127.0.0.1" security show bans
check_rx "the users tried are listed" "555,100" security show bans
check_rx "one ban" "bans: 1" security show bans
octo_stop
octo_start || exit 1
check_rx "the ban survives a restart" "127.0.0.1" security show bans
check_fails "still no answer after the restart" sipp_reg challenge.xml 100 x 401 60
check_rx "security unban" "127.0.0.1 is no longer banned" security unban 127.0.0.1
check_fails "unban again: not banned" octo_rx security unban 127.0.0.1
check_fails "unban needs an IP" octo_rx security unban nowhere
check "service restored after unban" sipp_reg register.xml 100 "$secret100" 200 3600
check_rx "no bans left" "bans: 0" security show bans

# ---------------------------------------------------------------- config errors
cp "$OCTO_CONF/sip.conf" "$OCTO_TMP/sip.conf.good"
printf 'trusted = 10.0.0.0/33\n' >>"$OCTO_CONF/sip.conf"
line=$(wc -l <"$OCTO_CONF/sip.conf")
check_output "bad trusted network names file:line" "sip.conf:$line: [security] trusted:" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'sip reload' 2>&1; true"
cp "$OCTO_TMP/sip.conf.good" "$OCTO_CONF/sip.conf"
sed -i 's/^auth_algorithms = .*/auth_algorithms = SHA-1/' "$OCTO_CONF/sip.conf"
check_output "bad algorithm refused" "auth_algorithms: \"SHA-1\" is not SHA-256 or MD5" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'sip reload' 2>&1; true"
cp "$OCTO_TMP/sip.conf.good" "$OCTO_CONF/sip.conf"
check_rx "sip reload" "sip.conf reloaded" sip reload

octo_stop
