#!/usr/bin/env bash
# sip_basic: chan_sip's stack as a SIP peer sees it, on loopback: OPTIONS
# over UDP and TCP (SIPp), unknown methods, malformed requests answered 400
# or dropped, garbage and oversized datagrams ignored, retransmissions
# answered from the transaction, TCP keep-alive pings, overload shedding
# (503 while requests keep waiting) on UDP, TCP and TLS, `sip set debug`,
# `sip reload` (good, listener change, broken), module unload and load.
# Needs sipp (Debian package sip-tester) and python3.
. "$(dirname "$0")/../lib.sh"

if ! command -v sipp >/dev/null 2>&1; then
	fail "sip_basic/sipp" "sipp not found: install the Debian package sip-tester"
	exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
	fail "sip_basic/python3" "python3 not found: install the Debian package python3"
	exit 1
fi
if ! command -v openssl >/dev/null 2>&1; then
	fail "sip_basic/openssl" "openssl not found: install the Debian package openssl"
	exit 1
fi

port=$(octo_free_port) || exit 1
sipp_port=$(octo_free_port) || exit 1
tls_port=$(octo_free_port) || exit 1
octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
sed -i "s/@SIP_PORT@/$port/; s/@TLS_PORT@/$tls_port/" "$OCTO_CONF/sip.conf"
# a throw-away self-signed certificate for the TLS listener
if ! openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=octo.test \
	-keyout "$OCTO_CONF/octo.key" -out "$OCTO_CONF/octo.crt" >"$OCTO_TMP/openssl.log" 2>&1; then
	fail "sip_basic/certificate" "openssl could not make a test certificate"
	lib_show "$OCTO_TMP/openssl.log"
	exit 1
fi
octo_start || exit 1

raw()
{
	timeout 30 python3 "$OCTO_CASE_DIR/sipraw.py" "$1" "$port"
}

# sipp SCENARIO TRANSPORT CALLS: bounded in time, quiet, from a fixed port
sipp_run()
{
	(cd "$OCTO_TMP" && timeout 40 sipp -sf "$OCTO_CASE_DIR/sipp/$1" -t "$2" -m "$3" \
		-i 127.0.0.1 -p "$sipp_port" -nostdin -timeout 30s -timeout_error \
		127.0.0.1:"$port")
}

# octo_json_field COMMAND FIELD: the value of a key/value field in JSON output
json_has()
{
	octo_rx_json "$1" | grep -q "\"$2\":\"$3\""
}

check_rx "chan_sip loaded" "running" module show like chan_sip
check_rx "UDP listener" "127.0.0.1:$port" sip show settings
check_output "TCP listener" "TCP listener:" octo_rx sip show settings
check_rx "TLS listener" "127.0.0.1:$tls_port" sip show settings

check "OPTIONS over UDP answered 200 (sipp -t u1)" sipp_run options.xml u1 5
check "OPTIONS over TCP answered 200 (sipp -t t1)" sipp_run options.xml t1 5
check "unknown method answered 501 (sipp)" sipp_run unknown.xml u1 2
check "unknown 501, known without handler 405 with Allow" raw unknown
check "malformed requests answered 400/483, broken ACK ignored" raw malformed
check "garbage datagrams get no answer" raw garbage
check "oversized datagrams dropped, OPTIONS still answered" raw huge
check "retransmission answered from the transaction, rport/received" raw retransmission
check "TCP: ping/pong, pipelined and split requests, broken framing" raw tcp
check "TLS: OPTIONS answered, ping/pong, a stalled handshake blocks nobody" \
	timeout 30 python3 "$OCTO_CASE_DIR/sipraw.py" tls "$tls_port"
check "overload: 503 over UDP, TCP and TLS while requests keep waiting, then served again" \
	timeout 40 python3 "$OCTO_CASE_DIR/sipraw.py" overload "$port" "$tls_port" "$OCTO_PID"
check_output "the overload is logged" "SIP: overloaded: requests wait" cat "$OCTO_LOG"
check_output "and its end" "SIP: load back to normal (1 new requests refused with 503)" \
	cat "$OCTO_LOG"
check "bad input counted" json_has "sip show stats" "datagrams over the size limit" 2
check_rx "transactions listed" "non-INVITE server" sip show transactions
check_rx "connections listed" "connections" sip show connections

# a certificate that does not load is a config error with file:line
cp "$OCTO_CONF/sip.conf" "$OCTO_TMP/sip.conf.tls"
sed -i 's/^tls_key = .*/tls_key = sip.conf/' "$OCTO_CONF/sip.conf"
check_output "bad TLS key names file:line" "sip.conf:$(grep -n '^tls_key' "$OCTO_CONF/sip.conf" | cut -d: -f1): [general] tls_key:" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'sip reload' 2>&1; true"
cp "$OCTO_TMP/sip.conf.tls" "$OCTO_CONF/sip.conf"

# debug: full messages, both directions, with the peer and transport
check_rx "debug on" "SIP debugging is on (all peers)" sip set debug on
raw unknown >/dev/null 2>&1
check "received message logged" grep -q "<--- SIP received from UDP 127.0.0.1:" "$OCTO_LOG"
check "sent message logged" grep -q "> SIP/2.0 501 Not Implemented" "$OCTO_LOG"
check_rx "debug one peer" "SIP debugging is on (peer 127.0.0.2)" sip set debug ip 127.0.0.2
check_fails "debug needs an IP" octo_rx sip set debug ip nowhere
check_rx "debug off" "SIP debugging is off" sip set debug off

# reload: applied, listener change needs a restart, broken file refused
cp "$OCTO_CONF/sip.conf" "$OCTO_TMP/sip.conf.good"
sed -i 's/^user_agent = .*/user_agent = Octo-reloaded/' "$OCTO_CONF/sip.conf"
check_rx "sip reload" "sip.conf reloaded" sip reload
check_rx "new settings live" "Octo-reloaded" sip show settings
sed -i "s/^port = .*/port = $sipp_port/" "$OCTO_CONF/sip.conf"
check_rx "listener change needs a restart" "until Octo restarts" sip reload
cp "$OCTO_TMP/sip.conf.good" "$OCTO_CONF/sip.conf"
printf 'tcp_max_connections = many\n' >>"$OCTO_CONF/sip.conf"
line=$(wc -l <"$OCTO_CONF/sip.conf")
check_fails "broken sip.conf refused" octo_rx sip reload
check_output "error names file:line" "sip.conf:$line: [general] tcp_max_connections:" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'sip reload' 2>&1; true"
check_rx "running settings kept" "Octo-reloaded" sip show settings
cp "$OCTO_TMP/sip.conf.good" "$OCTO_CONF/sip.conf"
check_rx "module reload" "Reloaded chan_sip" module reload chan_sip

# unload and load again: the listeners close and come back. Modules that use
# chan_sip's "sip" service (trunks, gateways) hold it: the unload is refused
# and names them; they go first and come back after.
refusal=$("$OCTO_BIN" -s "$OCTO_SOCK" -rx 'module unload chan_sip' 2>&1)
holders=$(printf '%s\n' "$refusal" | sed -n 's/.*cannot unload chan_sip: in use by //p' |
	tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -E '^[a-z_]+$' | sort -u)
check "unload refused while other modules use chan_sip" test -n "$holders"
for m in $holders; do
	check_rx "unload $m (uses chan_sip)" "Unloaded $m" module unload "$m"
done
check_rx "unload chan_sip" "Unloaded chan_sip" module unload chan_sip
check "nothing listens after unload" bash -c "! ss -Hlun '( sport = :$port )' | grep -q ."
check_rx "load chan_sip again" "Loaded chan_sip" module load chan_sip
for m in $holders; do
	check_rx "load $m again" "Loaded $m" module load "$m"
done
check "OPTIONS answered after the reload" sipp_run options.xml u1 1

octo_stop
