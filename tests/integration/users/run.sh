#!/usr/bin/env bash
# users: res_users on the sample configs (loaded by autoload) -- the user
# list and one user in text and JSON, templates, devices from a channel
# technology, license counts against an octo.conf [licenses] that bought too
# few, a reload refused for a weak password (file:line, the old users stay),
# weak_password_ok, a user without a secret, a generated password that
# users.conf then accepts, and `octo -t` catching the weak password.
. "$(dirname "$0")/../lib.sh"

octo_config_dir
# The sample gives UC-Essential to 101 and 102: buy only one.
cat >>"$OCTO_CONF/octo.conf" <<'EOF'

[licenses]
UC-Essential = 1
UC-Business = 5
UC-Wizyconf-Room = 1
EOF
cp "$OCTO_CONF/users.conf" "$OCTO_TMP/users.conf.good"
octo_start || exit 1

# ---------------------------------------------------------------- the sample users
check_rx "res_users loaded" "res_users" module show like res_users
check_rx "user show: 100 Alice" "Alice Rossi" user show
check_rx "user show: 103 with dnd" "dnd, no call waiting" user show
check_rx "user show: 102 forwards to voicemail" "forward no answer: VOICEMAIL" user show
check_rx "user show counts" "users: 5" user show
check_output "user show rows in JSON" \
	'["101","Bob Bianchi","UC-Essential","users","forward busy: 100, reject: 2"]' \
	octo_rx_json user show
check_rx "user show 101" "Bob Bianchi" user show 101
check_output "user show 101: license and procedure" \
	'"license":"UC-Essential","procedure":"users"' octo_rx_json user show 101
check_output "user show 101: reject list" '"reject":"0612345678, 00225."' \
	octo_rx_json user show 101
check_output "user show 101: forward busy" '"forward busy":"100"' octo_rx_json user show 101
check_output "user show 101: the secret is not shown" '"secret":"set"' \
	octo_rx_json user show 101
check_output "template keys inherited" '"language":"en","acl group":"","codecs":"PCMA,PCMU"' \
	octo_rx_json user show 102
check_output "own key beats the template" '"call timeout":"20s"' octo_rx_json user show 102
check_output "where a user is defined" '"defined at":"users.conf:' octo_rx_json user show 102
check_fails "unknown user" octo_rx user show 999
check_output "unknown user message" "No user 999" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'user show 999' 2>&1; true"

# Devices come from the channel technologies (chan_test here).
check_rx "a Test device for 100" "is a device of 100" test device add 100 answer
check_output "user show 100 lists the device" '["Test","answer"]' octo_rx_json user show 100
check_output "device count" '"devices":"1"' octo_rx_json user show 100
# 101 has the DECT handset of the sample gateways.conf, nothing else
check_output "one device for 101" '"devices":"1"' octo_rx_json user show 101
check_output "101's device is its DECT handset" '["SIP","dect-base1@peer/0328D3A4E1/' \
	octo_rx_json user show 101

# ---------------------------------------------------------------- licenses
check_output "UC-Essential is over" '["UC-Essential","2","1","OVER"]' \
	octo_rx_json core show licenses
check_output "UC-Business is within" '["UC-Business","1","5","ok"]' \
	octo_rx_json core show licenses
check_output "a profile not listed counts as 0 bought" '["UC-Premium","0","0","ok"]' \
	octo_rx_json core show licenses
check_rx "the summary says the users keep working" "users keep working" core show licenses
if grep -q "WARNING.*licenses: 2 users assigned UC-Essential but octo.conf \[licenses\] has 1: 1 over" \
	"$OCTO_LOG"; then
	pass "license warning in the log"
else
	fail "license warning in the log" "not found"
	lib_show "$OCTO_LOG" 30 "daemon log"
fi

# ---------------------------------------------------------------- a weak password
users="$OCTO_CONF/users.conf"
sed -e 's/^secret = ztNcVjvXW8-hcv_j$/secret = bob12345/' \
	-e 's/^name = Bob Bianchi$/name = Bob Changed/' "$OCTO_TMP/users.conf.good" >"$users"
line=$(grep -n '^secret = bob12345$' "$users" | cut -d: -f1)
check_fails "reload refused for a weak password" octo_rx module reload res_users
check_output "the error names file:line and the user" \
	"users.conf:$line: [101] secret: weak SIP password for user 101 (no upper-case letter, no special character)" \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload res_users' 2>&1; true"
check_output "the old users stay" '"name":"Bob Bianchi"' octo_rx_json user show 101
check_rx "all five still there" "users: 5" user show
check_fails "octo -t catches the weak password" \
	"$OCTO_BIN" -t -C "$OCTO_CONF" -M "$OCTO_MODDIR"
check_output "octo -t names file:line" "users.conf:$line: [101] secret: weak SIP password" \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_CONF' -M '$OCTO_MODDIR' 2>&1; true"

# weak_password_ok turns the error into a warning.
sed -i "${line}a weak_password_ok = yes" "$users"
check_output "weak_password_ok: reload with a warning" \
	"accepted because weak_password_ok = yes" octo_rx module reload res_users
check_output "the new users are in" '"name":"Bob Changed"' octo_rx_json user show 101
check_output "the weak secret is flagged" '"secret":"set (weak, allowed by weak_password_ok)"' \
	octo_rx_json user show 101

# Other mistakes, each reported with its place; nothing changes.
cp "$OCTO_TMP/users.conf.good" "$users"
printf '\n[1x4]\nname = Not An Extension\n\n[104]\nname = Dan\nsecret = Xy7!abcdefg\nforward_all = nowhere\n' \
	>>"$users"
check_fails "reload refused for bad sections" octo_rx module reload res_users
bad=$(grep -n '^\[1x4\]$' "$users" | cut -d: -f1)
check_output "a section name must be an extension" \
	"users.conf:$bad: [1x4] is not a valid extension" \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload res_users' 2>&1; true"
check_output "a forward must be a number or VOICEMAIL" \
	'[104] forward_all: "nowhere" is not a number or VOICEMAIL' \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload res_users' 2>&1; true"
check_output "still the good users" '"name":"Alice Rossi"' octo_rx_json user show 100
check_fails "user 104 did not appear" octo_rx user show 104

# A user without a secret is allowed, with a warning.
cp "$OCTO_TMP/users.conf.good" "$users"
printf '\n[105](office)\nname = Lobby Phone\n' >>"$users"
check_output "no secret: a warning" "user 105 has no secret: it cannot register" \
	octo_rx module reload res_users
check_output "no secret: shown" '"secret":"not set: cannot register"' octo_rx_json user show 105

# ---------------------------------------------------------------- generated passwords
check_rx "passwd generate prints the config line" "secret = " user passwd generate 100
pw=$(octo_rx_json user passwd generate 100 | sed -n 's/.*"password":"\([^"]*\)".*/\1/p')
if [ "${#pw}" -eq 20 ] && [[ "$pw" =~ [A-Z] && "$pw" =~ [a-z] && "$pw" =~ [0-9] &&
	"$pw" =~ [^A-Za-z0-9] ]]; then
	pass "the generated password is strong"
else
	fail "the generated password is strong" "got '$pw'"
fi
pw2=$(octo_rx_json user passwd generate 100 | sed -n 's/.*"password":"\([^"]*\)".*/\1/p')
[ -n "$pw2" ] && [ "$pw2" != "$pw" ] && pass "two passwords differ" ||
	fail "two passwords differ" "'$pw' then '$pw2'"
# The exact line it prints is what users.conf takes.
cfgline=$(octo_rx_json user passwd generate 100 | sed -n 's/.*"users.conf":"\([^"]*\)".*/\1/p')
cp "$OCTO_TMP/users.conf.good" "$users"
sed -i "s|^secret = mY8@AEVZr~!CHM.u\$|$cfgline|" "$users"
if grep -qxF "$cfgline" "$users"; then
	check_output "users.conf takes the generated line" "Reloaded res_users" \
		octo_rx module reload res_users
else
	fail "users.conf takes the generated line" "could not put '$cfgline' in users.conf"
fi
check_fails "passwd generate wants an extension" octo_rx user passwd generate alice
check "octo -t passes on good configs" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$OCTO_MODDIR"

# ---------------------------------------------------------------- unload and load again
check_rx "unload res_users" "Unloaded res_users" module unload res_users
check_fails "its commands are gone" octo_rx user show
check_rx "load res_users again" "Loaded res_users" module load res_users
check_rx "the users are back" "Alice Rossi" user show
check_output "licenses counted again" '["UC-Essential","2","1","OVER"]' \
	octo_rx_json core show licenses

octo_stop
