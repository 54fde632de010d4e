#!/usr/bin/env bash
# trunks_dns: SIP trunks given by host name, with no change to the machine's
# /etc/hosts: "localhost" (127.0.0.1 on every Debian machine) and
# "nosuchhost.invalid" (RFC 6761: never resolves). A trunk with host and
# registrar "localhost" registers to a SIPp registrar on 127.0.0.1 (the name
# in the REGISTER's Request-URI, To and digest uri), `sip show peers` shows
# the name's address; a trunk whose name does not resolve is "Unresolved"
# with the reason in `trunk show`, and DialTrunkGroup moves on from it to
# the trunk known by name, whose far end gets the INVITE with the name in
# the Request-URI. Needs sipp (Debian: sip-tester).
. "$(dirname "$0")/../lib.sh"

if ! command -v sipp >/dev/null 2>&1; then
	fail "$OCTO_CASE/setup" "sipp not found (Debian: sip-tester)"
	exit 1
fi
if ! getent hosts localhost | grep -q '^127\.0\.0\.1 '; then
	fail "$OCTO_CASE/setup" "localhost does not resolve to 127.0.0.1 here"
	exit 1
fi

REG_PORT=$(octo_free_port) && PROV_PORT=$(octo_free_port) || exit 1
octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs" || exit 1
sed -i -e "s/@REG_PORT@/$REG_PORT/; s/@PROV_PORT@/$PROV_PORT/" "$OCTO_CONF/trunks.conf"
# SIPp answers the first challenge only: offer MD5 first
sed -i 's/^auth_algorithms *=.*/auth_algorithms = MD5, SHA-256/' "$OCTO_CONF/sip.conf"

# far NAME SCENARIO PORT [SIPP OPTIONS...]: the provider's end on 127.0.0.1:PORT.
far()
{
	local name=$1 scen=$2 port=$3
	shift 3
	(cd "$OCTO_TMP" && timeout 40 sipp -sf "$OCTO_CASE_DIR/sipp/$scen.xml" -i 127.0.0.1 \
		-p "$port" -mp "$(octo_free_port)" -m 1 -nostdin -timeout 35s -timeout_error \
		-trace_msg -message_file "$OCTO_TMP/$name.msg" -trace_err \
		-error_file "$OCTO_TMP/$name.err" "$@") >"$OCTO_TMP/$name.log" 2>&1
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

# ---------------------------------------------------------------- names resolved or not
# the registrar must be there before the daemon sends its first REGISTER
far registrar registrar_named "$REG_PORT" &
reg_pid=$!
wait_until 5 bash -c "ss -lnu | grep -q '127.0.0.1:$REG_PORT '" || sleep 0.5

octo_start || exit 1

if wait_until 15 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'trunk show dnsprov' | grep -q 'state: *Registered'"; then
	pass "the trunk known by name registered (name in the R-URI, To and digest uri)"
else
	fail "the trunk known by name registered (name in the R-URI, To and digest uri)" \
		"$(octo_rx trunk show dnsprov)"
fi
wait "$reg_pid"
result "the registrar saw the name in the REGISTER" $? "$OCTO_TMP/registrar.log" \
	"$OCTO_TMP/registrar.err" "$OCTO_TMP/registrar.msg"
check_rx "trunk show dnsprov shows the registrar by name" "to localhost:$REG_PORT" trunk show dnsprov
check_rx "sip show peers shows the name's address" "localhost (127.0.0.1:$PROV_PORT)" \
	sip show peers

if wait_until 10 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'trunk show' | grep -E '^nohost +sip +Unresolved \(nosuchhost\.invalid: '"; then
	pass "an unresolvable name: trunk show says Unresolved (reason)"
else
	fail "an unresolvable name: trunk show says Unresolved (reason)" "$(octo_rx trunk show)"
fi
check_rx "sip show peers: the name is unresolved" "nosuchhost.invalid (unresolved)" \
	sip show peers

# ---------------------------------------------------------------- a call out
far provider trunk_answer_named "$PROV_PORT" -d 500 &
prov_pid=$!
wait_until 5 bash -c "ss -lnu | grep -q '127.0.0.1:$PROV_PORT '" || sleep 0.5
octo_rx test call out 00612345678 >"$OCTO_TMP/call1" 2>&1
id=$(sed -n 's/^id: *//p' "$OCTO_TMP/call1")
if [ -n "$id" ]; then
	pass "test call started"
	wait_end "the call ends (the provider hangs up)" "$id"
	check_debug "the unresolved trunk is down: the group moves on" "$id" \
		"DialTrunkGroup: trunk nohost cannot take the call: it is down"
	check_debug "the call went out through the trunk known by name" "$id" \
		"DialTrunkGroup: trunk dnsprov: SIP/dnsprov@peer/o"
	check_debug "answered, then the provider hung up" "$id" \
		"DialTrunkGroup: the callee hung up: the call ends"
else
	fail "test call started" "$(cat "$OCTO_TMP/call1")"
fi
wait "$prov_pid"
result "the provider got the INVITE with its name in the Request-URI" $? \
	"$OCTO_TMP/provider.log" "$OCTO_TMP/provider.err" "$OCTO_TMP/provider.msg"

# ---------------------------------------------------------------- config checks
printf '[badname]\nhost = bad_name.example\n' >>"$OCTO_CONF/trunks.conf"
check_fails "a host that is neither an IP address nor a name is refused" \
	octo_rx module reload app_trunk
check_rx "the running trunks stay" "dnsprov" trunk show

octo_stop
