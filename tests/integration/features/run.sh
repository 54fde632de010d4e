#!/usr/bin/env bash
# features: feature codes (app_features, features.conf [codes]) on the sample
# configs with Test calls and Test devices -- status (do not disturb) changes
# what a call to the user gets, forwards set and switched from the phone, the
# overrides shown by `user show` and kept across a restart (the store),
# `user set` / `user clear`, a switch toggled by code, an invalid code
# answered with the announcement, pickup of a call ringing a member of the
# picker's call group (and of a named group, and of a group by its number),
# nothing to pick up; the dial tone (features.conf dial_tones) of WaitDigits
# on a Test call with audio, heard as 425 Hz until the first digit, and
# silence with dial_tones = no.
. "$(dirname "$0")/../lib.sh"

octo_config_dir
# WaitDigits for a caller told nothing (DISA-like): the dial tone
cat >>"$OCTO_CONF/dialplan.conf" <<'EOF2'

[tonetest]
description = features test: the dial tone while WaitDigits waits
exten => 500,1,WaitDigits(10)
same => n,Hangup()
exten => 42,1,Log(notice,tonetest: routed to 42)
same => n,Wait(30)
same => n,Hangup()
EOF2
octo_start || exit 1

# call NUMBER CALLER: a Test call from CALLER in [users]; prints its id.
call()
{
	octo_rx test call users "$1" "$2" | sed -n 's/^id: *//p'
}

# code NAME NUMBER CALLER STATUS: a feature code call ends with
# ${FEATURE_STATUS} STATUS. Prints the call's id.
code()
{
	local id
	id=$(call "$2" "$3")
	wait_end "$1: ends" "$id" >&2
	check_debug "$1: $4" "$id" "FEATURE_STATUS=$4" >&2
	echo "$id"
}

check_rx "app_features loaded" "app_features" module show like app_features
check_rx "features show: status code" "*60*N" features show
check_rx "features show: forward all" "*63*N[*NUMBER]" features show
check_rx "features show: pickup in a group" "*88[*79*GROUP]" features show

# ---------------------------------------------------------------- do not disturb
check_rx "a device for 101" "is a device of 101" test device add 101 answer
id=$(code "*60*1" "*60*1" 101 OK)
check_debug "*60*1: confirmation played" "$id" "feat-dnd"
check_output "user show 101: dnd from the code" '"dnd":"yes"' octo_rx_json user show 101
check_output "user show 101: where it came from" '"override status":"dnd (set by feature code *60*1' \
	octo_rx_json user show 101
id=$(call 101 100)
wait_end "call to 101 in dnd ends" "$id"
check_debug "dnd: the call gets busy" "$id" "user 101 is in do not disturb"
check_debug "dnd: 101 counts as busy" "$id" "user 101: not called \(BUSY\)"
check_debug "dnd: then 101's forward on busy" "$id" "user 101 forwards \(busy\) to 100"
id=$(code "*60*0" "*60*0" 101 OK)
check_output "*60*0: available again" '"status":"available"' octo_rx_json user show 101
id=$(call 101 100)
wait_step "available: the call is answered" "$id" "Dial: DIALSTATUS=ANSWER"
octo_rx test hangup "$id" >/dev/null
wait_end "answered call ends" "$id"
id=$(code "*60*2 away" "*60*2" 101 OK)
check_rx "away shows in the list" "away" user show

# ---------------------------------------------------------------- forwards
id=$(code "*63*2*102" "*63*2*102" 101 OK)
check_output "forward all to 102" '"forward all":"102"' octo_rx_json user show 101
id=$(call 101 100)
wait_step "a call to 101 is forwarded" "$id" "user 101 forwards (all) to 102"
octo_rx test hangup "$id" >/dev/null
wait_end "forwarded call ends" "$id"
id=$(code "*63*0" "*63*0" 101 OK)
check_output "forward all off" '"forward all":"off"' octo_rx_json user show 101
id=$(code "*63*1 uses the stored number" "*63*1" 101 OK)
check_output "forward all on again to 102" '"forward all":"102"' octo_rx_json user show 101
id=$(code "*62*1 without a number" "*62*1" 100 NONUMBER)
check_debug "*62*1: says no number" "$id" "feat-cf-nonumber"
id=$(code "*64*0 call waiting off" "*64*0" 100 OK)
check_output "call waiting off" '"call waiting":"no"' octo_rx_json user show 100

# ---------------------------------------------------------------- restart
octo_stop
octo_start || exit 1
check_output "after a restart: forward all kept" '"forward all":"102"' octo_rx_json user show 101
check_output "after a restart: away kept" '"status":"away"' octo_rx_json user show 101
check_output "after a restart: call waiting kept" '"call waiting":"no"' octo_rx_json user show 100

# ---------------------------------------------------------------- CLI
check_output "user set dnd" '"status":"dnd"' octo_rx_json user set 102 dnd on
check_output "user set forward busy" '"forward busy":"100"' octo_rx_json user set 102 forward busy 100
check_output "user clear one key" "forward_busy back to users.conf" octo_rx user clear 102 forward_busy
check_output "user clear all" "every override back to users.conf" octo_rx user clear 101
check_output "101 as users.conf says" '"overrides":"none (as users.conf says)"' \
	octo_rx_json user show 101
check_fails "user set: bad value" octo_rx user set 102 status sleeping
check_fails "user set: no such user" octo_rx user set 999 dnd on
check_output "user set: the error" '"sleeping" is not a valid value' bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'user set 102 status sleeping' 2>&1; true"

# ---------------------------------------------------------------- invalid codes
id=$(code "unknown code" "*55" 100 INVALID)
check_debug "unknown code: the announcement" "$id" "feat-invalid"
check_debug "unknown code: why" "$id" 'is not a valid feature code: no such code'
id=$(code "status out of range" "*60*7" 100 INVALID)
id=$(code "a caller that is no user" "*60*1" 555 INVALID)
check_debug "not a user: why" "$id" "the caller is not a user"
id=$(code "fax relay not available" "*90*100" 101 UNAVAILABLE)
check_debug "fax: says not available" "$id" "feat-notavail"

# ---------------------------------------------------------------- switches
check_rx "closed is off" "off" switch show closed
id=$(code "*21*1 toggles switch 1" "*21*1" 100 OK)
check_output "closed is on now" '"state":"on"' octo_rx_json switch show closed
id=$(code "*21*reception*2 sets extra" "*21*2*2" 100 OK)
check_output "reception is extra" '"state":"extra"' octo_rx_json switch show reception
check_debug "switch: the confirmation" "$id" "feat-switch-extra"

# ---------------------------------------------------------------- pickup
# 101 rings (a device that never answers); 100 is in the operators group with 101.
check_rx "101 rings forever" "is a device of 101" test device add 101 ring
octo_rx test device remove 101 answer >/dev/null
ringing=$(call 101 102)
wait_step "101 rings" "$ringing" "ringing"
picker=$(call "*88" 100)
wait_step "*88 picks up the call" "$ringing" "picks up the call ringing"
wait_step "the ringing leg is cancelled" "$ringing" "cancelled: picked up by"
check_debug "the caller is answered" "$ringing" "Dial: DIALSTATUS=ANSWER"
check_debug "the picker took it" "$picker" "Pickup: took the call ringing"
octo_rx test hangup "$picker" >/dev/null
wait_end "picker hangs up: its call ends" "$picker"
wait_end "picker hangs up: the caller's call ends" "$ringing"

ringing=$(call 101 102)
wait_step "101 rings again" "$ringing" "ringing"
picker=$(call "*88*79*operators" 102)
wait_step "*88*79*operators picks up" "$ringing" "picks up the call ringing"
octo_rx test hangup "$ringing" >/dev/null
wait_end "caller hangs up: its call ends" "$ringing"
wait_end "caller hangs up: the picker's call ends" "$picker"

# by the group's number (callgroups.conf operators: number = 600)
check_output "callgroup show: the number" '"number":"600"' octo_rx_json callgroup show operators
ringing=$(call 101 102)
wait_step "101 rings a third time" "$ringing" "ringing"
picker=$(call "*88*79*600" 102)
wait_step "*88*79*600 picks up by the group number" "$ringing" "picks up the call ringing"
check_debug "the group found by its number" "$picker" "Pickup: took the call ringing"
octo_rx test hangup "$picker" >/dev/null
wait_end "picker by number hangs up: its call ends" "$picker"
wait_end "picker by number hangs up: the caller's call ends" "$ringing"
id=$(code "a group number that does not exist" "*88*79*699" 100 NOTFOUND)
check_debug "no group 699" "$id" 'no call group "699"'

id=$(code "nothing to pick up" "*88" 100 NOTFOUND)
check_debug "nothing to pick up: the announcement" "$id" "feat-nopickup"
id=$(code "unknown group" "*88*79*nosuch" 100 NOTFOUND)
check_debug "unknown group: why" "$id" 'no call group "nosuch"'

# ---------------------------------------------------------------- dial tone
# a TestAudio caller (silent) waits in WaitDigits: it hears the dial tone
# until it presses a key; what it heard is saved and measured with sox.
id=$(octo_rx test call tonetest 500 100 audio=silence | sed -n 's/^id: *//p')
wait_step "dial tone: announced" "$id" "WaitDigits: dial tone until the first digit"
tone_heard()
{
	local s
	s=$(octo_rx test show audio "$id" | sed -n 's/^seconds played: *//p')
	[ -n "$s" ] && awk -v s="$s" 'BEGIN { exit !(s >= 1.0) }'
}
if wait_until 10 tone_heard; then
	pass "dial tone: a second of it played"
else
	fail "dial tone: a second of it played" "$(octo_rx test show audio "$id")"
fi
check "dial tone: saved" octo_rx test record "$id" "$OCTO_TMP/tone.wav"
if command -v sox >/dev/null 2>&1; then
	freq=$(sox "$OCTO_TMP/tone.wav" -n stat 2>&1 | sed -n 's/^Rough *frequency: *//p')
	if [ -n "$freq" ] && [ "$freq" -ge 415 ] && [ "$freq" -le 435 ]; then
		pass "dial tone: 425 Hz ($freq)"
	else
		fail "dial tone: 425 Hz" "sox measured \"$freq\""
	fi
fi
octo_rx test send digits "$id" 42 >/dev/null
wait_step "dial tone: the digits route the call" "$id" "goto tonetest/42"
before=$(octo_rx test show audio "$id" | sed -n 's/^frames played: *//p')
sleep 0.5
after=$(octo_rx test show audio "$id" | sed -n 's/^frames played: *//p')
if [ -n "$before" ] && [ "$before" = "$after" ]; then
	pass "dial tone: stops at the first digit"
else
	fail "dial tone: stops at the first digit" "frames played $before, then $after"
fi
octo_rx test hangup "$id" >/dev/null
wait_end "dial tone call ends" "$id"

sed -i 's/^dial_tones = yes$/dial_tones = no/' "$OCTO_CONF/features.conf"
check "dial_tones = no: app_read reloads" octo_rx module reload app_read
id=$(octo_rx test call tonetest 500 100 audio=silence | sed -n 's/^id: *//p')
wait_step "dial_tones = no: WaitDigits waits" "$id" "WaitDigits(10)"
sleep 1
if [ "$(octo_rx test show audio "$id" | sed -n 's/^frames played: *//p')" = 0 ]; then
	pass "dial_tones = no: nothing played"
else
	fail "dial_tones = no: nothing played" "$(octo_rx test show audio "$id")"
fi
if octo_rx call debug "$id" | grep -q "dial tone"; then
	fail "dial_tones = no: no dial tone step" "$(octo_rx call debug "$id" | grep 'dial tone')"
else
	pass "dial_tones = no: no dial tone step"
fi
octo_rx test hangup "$id" >/dev/null
wait_end "silent WaitDigits call ends" "$id"
sed -i 's/^dial_tones = no$/dial_tones = yes/' "$OCTO_CONF/features.conf"
check "dial_tones = yes again" octo_rx module reload app_read

# ---------------------------------------------------------------- reload
cp "$OCTO_CONF/features.conf" "$OCTO_TMP/features.conf.good"
sed -i 's/^status = 60$/status = 6x/' "$OCTO_CONF/features.conf"
check_fails "reload refused for a bad code" octo_rx module reload app_features
check_output "the error names the key" "[codes] status: \"6x\" is not a code" bash -c \
	"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload app_features' 2>&1; true"
check_rx "the old codes stay" "*60*N" features show
cp "$OCTO_TMP/features.conf.good" "$OCTO_CONF/features.conf"
check "reload accepted again" octo_rx module reload app_features

# ---------------------------------------------------------------- unload, load
check "app_features unloads" octo_rx module unload app_features
check_fails "FeatureCode is gone" octo_rx core show application FeatureCode
check "app_features loads again" octo_rx module load app_features
check_rx "FeatureCode is back" "FeatureCode" core show application FeatureCode
id=$(code "a code after the reload" "*60*0" 102 OK)

# ---------------------------------------------------------------- octo -t
sed -i 's/^park = 70$/park = 60/' "$OCTO_CONF/features.conf"
check_output "octo -t: two codes alike" "[codes] park: code 60 is already the code of status" \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_CONF' -M '$OCTO_MODDIR' 2>&1; true"
cp "$OCTO_TMP/features.conf.good" "$OCTO_CONF/features.conf"

# callgroups.conf number =: each group its own, digits only
cp "$OCTO_CONF/callgroups.conf" "$OCTO_TMP/callgroups.conf.good"
printf '\n[dup]\nmembers = 102\nnumber = 600\n' >>"$OCTO_CONF/callgroups.conf"
check_output "octo -t: a group number used twice" \
	"[dup] number: 600 is already the number of call group operators" \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_CONF' -M '$OCTO_MODDIR' 2>&1; true"
cp "$OCTO_TMP/callgroups.conf.good" "$OCTO_CONF/callgroups.conf"
printf '\n[bad]\nmembers = 102\nnumber = 6x0\n' >>"$OCTO_CONF/callgroups.conf"
check_output "octo -t: a group number that is not digits" \
	'[bad] number: "6x0" is not a number (1 to 20 digits)' \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_CONF' -M '$OCTO_MODDIR' 2>&1; true"
cp "$OCTO_TMP/callgroups.conf.good" "$OCTO_CONF/callgroups.conf"
