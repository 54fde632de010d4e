#!/usr/bin/env bash
# parking: Park and ParkedCall (app_park, features.conf [parking]) on the
# sample configs with Test calls -- a caller parks itself with *70 and hears
# its orbit, `parking show`, another phone takes it by dialling the orbit; a
# user parks the other party of the call it holds (that party moves to the
# orbit, the user hears the number); a parked call returns to the parker
# after park_timeout; an empty orbit; every orbit taken; the music on hold
# is a class of musiconhold.conf ([parking] moh), an unknown class plays the
# default one. (SIP phones: tests/integration/pickup_sip.)
. "$(dirname "$0")/../lib.sh"

octo_config_dir
if [ ! -d "$OCTO_BUILD/sounds/en" ]; then
	fail "prompts generated" "no $OCTO_BUILD/sounds/en (make builds them)"
	exit 1
fi
# the prompts and music of the build tree, a short timeout for the return,
# and three orbits
sed -i "/^\[directories\]/a sounds = $OCTO_BUILD/sounds" "$OCTO_CONF/octo.conf"
sed -i -e 's/^park_timeout = 45s$/park_timeout = 5s/' -e 's/^orbits = 701-720$/orbits = 701-703/' \
	"$OCTO_CONF/features.conf"
octo_start || exit 1

# call NUMBER CALLER: a Test call from CALLER in [users]; prints its id.
call()
{
	octo_rx test call users "$1" "$2" | sed -n 's/^id: *//p'
}

# parked ORBIT: `parking show` lists the orbit as parked.
parked()
{
	octo_rx parking show | grep -qE "^$1 +parked "
}

check_rx "app_park loaded" "app_park" module show like app_park
check_output "parking show: the orbits" '"orbits":"701-703"' octo_rx_json parking show
check_output "parking show: the timeout" '"park timeout":"5s"' octo_rx_json parking show

# ---------------------------------------------------------------- park, retrieve
a=$(call "*70" 100)
wait_step "*70: parked" "$a" "Park: parked at orbit 701"
check_debug "*70: the orbit is said" "$a" "Park: playing park-at"
check_debug "*70: digits of the orbit" "$a" "Park: playing digits/7"
wait_step "*70: the music on hold class" "$a" \
	"Park: music on hold: class default, 2 files in $OCTO_BUILD/sounds/moh/default"
if wait_until 10 parked 701; then pass "parking show: 701 parked"; else fail "parking show: 701 parked" "not listed"; fi
b=$(call 701 102)
wait_step "701 dialled: ParkedCall takes it" "$b" "ParkedCall: takes the call parked at orbit 701"
wait_step "the parked call is bridged" "$a" "Park: Test/"
check_debug "the retriever is lent to the parked call's bridge" "$b" \
	"this call's own thread waits until the bridge gives it back"
check_debug "bridge between the two" "$a" "bridge .* starts"
check_output "orbit 701 is free again" '"parked calls":"0"' octo_rx_json parking show
octo_rx test hangup "$b" >/dev/null
wait_end "retriever hangs up: its call ends" "$b"
wait_end "retriever hangs up: the parked call ends" "$a"

# ---------------------------------------------------------------- empty orbit
e=$(call 702 102)
wait_end "empty orbit: ends" "$e"
check_debug "empty orbit: the announcement" "$e" "park-empty"
check_debug "empty orbit: status" "$e" "no call is parked at orbit 702"

# ---------------------------------------------------------------- park the held party
# 102 calls 100, who answers (a Test device) and then dials *70: 102's call
# moves to the orbit and 100 hears its number.
check_rx "a device for 100" "is a device of 100" test device add 100 answer
c=$(call 100 102)
wait_step "102 talks with 100" "$c" "Dial: DIALSTATUS=ANSWER"
p=$(call "*70" 100)
wait_end "the parker's call ends after the announcement" "$p"
check_debug "the parker hears the orbit" "$p" "park-at"
check_debug "the other party is parked" "$p" "parked at orbit 70[1-3]"
wait_step "102's call is on the orbit" "$c" "Park: parked at orbit"
orbit=$(octo_rx call debug "$c" | sed -n 's/.*Park: parked at orbit \([0-9]*\).*/\1/p' | head -n 1)
check_debug "the parker is 100" "$c" "parker 100"

# ---------------------------------------------------------------- return on timeout
# Nobody takes it: after 5 s it rings 100 again, whose device answers.
wait_step "timeout: returns to the parker" "$c" "timed out after 5 s: the call returns to 100"
if wait_until 10 steps_have "$c" "Dial: DIALSTATUS=ANSWER"; then
	pass "timeout: the parker answers again"
else
	fail "timeout: the parker answers again" "no answer step"
fi
check_output "the orbit is free" '"parked calls":"0"' octo_rx_json parking show
octo_rx test hangup "$c" >/dev/null
wait_end "returned call ends" "$c"

# ---------------------------------------------------------------- every orbit taken
ids=""
for n in 1 2 3; do
	ids="$ids $(call "*70" 101)"
done
if wait_until 10 parked 703; then pass "three calls parked"; else fail "three calls parked" "703 not parked"; fi
f=$(call "*70" 102)
wait_end "a fourth park: ends" "$f"
check_debug "a fourth park: every orbit taken" "$f" "every orbit \\(701-703\\) is taken"
check_debug "a fourth park: the announcement" "$f" "park-full"
for id in $ids; do
	octo_rx test hangup "$id" >/dev/null
	wait_end "parked call $id hangs up" "$id"
done
check_output "no parked calls left" '"parked calls":"0"' octo_rx_json parking show

# ---------------------------------------------------------------- music on hold classes
sed -i 's/^moh = default$/moh = shuffle/' "$OCTO_CONF/features.conf"
check "moh = shuffle: app_park reloads" octo_rx module reload app_park
check_output "parking show: the class" '"music on hold":"shuffle"' octo_rx_json parking show
m=$(call "*70" 101)
wait_step "moh = shuffle: that class plays" "$m" "Park: music on hold: class shuffle"
octo_rx test hangup "$m" >/dev/null
wait_end "shuffle: the parked call ends" "$m"
sed -i 's/^moh = shuffle$/moh = nosuch/' "$OCTO_CONF/features.conf"
check "moh = nosuch: app_park reloads" octo_rx module reload app_park
m=$(call "*70" 101)
wait_step "an unknown class: said" "$m" \
	'Park: no music on hold class "nosuch" in musiconhold.conf: the default class plays'
wait_step "an unknown class: the default plays" "$m" "Park: music on hold: class default"
octo_rx test hangup "$m" >/dev/null
wait_end "nosuch: the parked call ends" "$m"
sed -i 's/^moh = nosuch$/moh = default/' "$OCTO_CONF/features.conf"
check "moh = default again" octo_rx module reload app_park

# ---------------------------------------------------------------- unload, load
check "app_park unloads" octo_rx module unload app_park
check_fails "ParkedCall is gone" octo_rx core show application ParkedCall
check "app_park loads again" octo_rx module load app_park
check_output "parking show again" '"parked calls":"0"' octo_rx_json parking show
x=$(call "*70" 100)
octo_rx module unload app_park >"$OCTO_TMP/unload.txt" 2>&1
if grep -q "in use" "$OCTO_TMP/unload.txt" || octo_rx module show like app_park | grep -q app_park; then
	pass "a parked call keeps app_park loaded"
else
	fail "a parked call keeps app_park loaded" "$(cat "$OCTO_TMP/unload.txt")"
fi
octo_rx test hangup "$x" >/dev/null
wait_end "the last parked call ends" "$x"
