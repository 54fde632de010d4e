#!/usr/bin/env bash
# callrec: in-call recording of a relayed SIP call by feature codes
# (features.conf [callrec]): python phones 100 and 101 talk with a tone each
# (440 Hz and 1000 Hz); 100 dials *1 as RFC 4733 events, 2 s later *1
# again: a WAV under DATA/recordings/<date>/ holds about 2.2 s with both
# tones, the CDR's userfield is the file and `call debug` tells the start
# and stop.
# A second call pauses with *2 for 1.5 s: its file is shorter. A third one
# sends the codes in SIP INFO. 101 hears a beep at each start and stop.
# Needs python3.
. "$(dirname "$0")/../lib.sh"

if ! command -v python3 >/dev/null 2>&1; then
	fail "callrec/python3" "python3 not found"
	exit 1
fi

octo_config_dir "$OCTO_SRC/configs" || exit 1
# the folder key is read: files go to recordings/test-<date>
sed -i 's|^folder = recordings/%Y-%m-%d$|folder = recordings/test-%Y-%m-%d|' \
	"$OCTO_CONF/features.conf"
octo_start || exit 1
export OCTO_BIN OCTO_CONF OCTO_SOCK
creds=("100=$(octo_user_secret 100)" "101=$(octo_user_secret 101)")

# wavcheck FILE MIN MAX: duration in [MIN, MAX] s, both tones present.
wavcheck()
{
	python3 - "$@" <<'PY'
import math, struct, sys, wave
w = wave.open(sys.argv[1])
assert w.getframerate() == 8000 and w.getsampwidth() == 2 and w.getnchannels() == 1
n = w.getnframes()
s = struct.unpack("<%dh" % n, w.readframes(n))
dur = n / 8000.0
print("duration %.2f s" % dur)
if not float(sys.argv[2]) <= dur <= float(sys.argv[3]):
    sys.exit("duration %.2f s not in %s..%s" % (dur, sys.argv[2], sys.argv[3]))
def power(f):
    c = 2 * math.cos(2 * math.pi * f / 8000)
    a = b = 0.0
    for x in s:
        a, b = x + c * a - b, a
    return (a * a + b * b - c * a * b) / max(n, 1)
p440, p1000, p700 = power(440), power(1000), power(700)
print("power 440 Hz %.0f, 1000 Hz %.0f, 700 Hz %.0f" % (p440, p1000, p700))
if not (p440 > 50 * p700 and p1000 > 50 * p700):
    sys.exit("both tones are not in the file")
PY
}

run_scen()
{
	local name=$1 scen=$2
	if timeout 60 python3 "$OCTO_CASE_DIR/phones.py" 127.0.0.1 "$OCTO_SIP_PORT" "$scen" \
		"${creds[@]}" >"$OCTO_TMP/$scen.log" 2>&1; then
		pass "$name"
	else
		fail "$name" "phones.py $scen"
		lib_show "$OCTO_TMP/$scen.log" 60
	fi
	wait_until 10 octo_no_calls
}

recs="$OCTO_STATE/data/recordings/test-$(date +%Y-%m-%d)"
run_scen "callrec/record call" record
wait_until 10 test -n "$(ls "$recs" 2>/dev/null)"
f1=$(ls "$recs"/*.wav 2>/dev/null | head -n 1)
check "callrec/file named linkedid-caller-called" test -n "$f1" -a -z "${f1##*-100-101.wav}"
check "callrec/record: 2.2 s with both tones" wavcheck "$f1" 1.9 2.6
id1=$(basename "$f1" -100-101.wav)
check_debug "callrec/debug tells the start" "$id1" "call recording started .by SIP/100"
check_debug "callrec/debug tells the stop" "$id1" "call recording stopped, 2\.[0-9] s"
userfield()
{
	[ "$(sqlite3 -batch -noheader "$OCTO_STATE/data/cdr.db" \
		"select userfield from cdr where uniqueid = '$id1'" 2>/dev/null)" = "$f1" ]
}
if command -v sqlite3 >/dev/null 2>&1; then
	check "callrec/the CDR's userfield is the file" wait_until 10 userfield
fi

rm -f "$recs"/*.wav
run_scen "callrec/pause call" pause
wait_until 10 test -n "$(ls "$recs" 2>/dev/null)"
f2=$(ls "$recs"/*.wav 2>/dev/null | head -n 1)
check "callrec/pause: 1.7 s written of 3.3 s" wavcheck "$f2" 1.4 2.0
id2=$(basename "$f2" -100-101.wav)
check_debug "callrec/debug tells the pause" "$id2" "call recording paused"
check_debug "callrec/debug tells the resume" "$id2" "call recording resumed"

rm -f "$recs"/*.wav
run_scen "callrec/codes in SIP INFO" info
wait_until 10 test -n "$(ls "$recs" 2>/dev/null)"
f3=$(ls "$recs"/*.wav 2>/dev/null | head -n 1)
check "callrec/INFO: about 1 s with both tones" wavcheck "$f3" 0.8 1.3

lib_exit
