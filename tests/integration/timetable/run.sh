#!/usr/bin/env bash
# timetable: CheckTimetable routes Test calls by the office hours of
# timetables.conf at the PBX time, which the test moves with "core set clock
# offset" (never the machine's clock): a Monday at 10:00 is open, a Sunday
# and a holiday are closed, each for the reason the step log gives; a
# timetable's own time zone; "timetable show" and "timetable test"; a broken
# reload refused with file:line; octo -t.
. "$(dirname "$0")/../lib.sh"

octo_config_dir "$OCTO_CASE_DIR/configs"
check "octo -t accepts the test configs" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$(octo_build_modules)"
# The sample timetables.conf must be valid too.
mkdir -p "$OCTO_TMP/samples"
cp "$OCTO_CASE_DIR/configs/"{modules,octo}.conf "$OCTO_TMP/samples/"
cp "$OCTO_SRC/configs/timetables.conf" "$OCTO_TMP/samples/"
check "octo -t accepts the sample timetables.conf" "$OCTO_BIN" -t -C "$OCTO_TMP/samples" \
	-M "$(octo_build_modules)"
cp -R "$OCTO_CONF" "$OCTO_TMP/broken"
printf '[bad]\nmon = 08:30-12:30,8:70-12\n' >>"$OCTO_TMP/broken/timetables.conf"
lines=$(wc -l <"$OCTO_TMP/broken/timetables.conf")
check_fails "octo -t refuses a bad range" "$OCTO_BIN" -t -C "$OCTO_TMP/broken" \
	-M "$(octo_build_modules)"
check_output "octo -t names file, line and key" \
	"timetables.conf:$lines: [bad] mon: \"8:70-12\" is not a time range HH:MM-HH:MM" \
	bash -c "'$OCTO_BIN' -t -C '$OCTO_TMP/broken' -M '$(octo_build_modules)' 2>&1; true"

octo_start || exit 1

# clock_to ZONE "YYYY-MM-DD HH:MM": moves the PBX clock to that local time.
clock_to()
{
	local target
	target=$(TZ="$1" date -d "$2" +%s) || return 1
	octo_rx core set clock offset $((target - $(date +%s))) >/dev/null
}

# call NUMBER: a Test call into [in]; prints its id.
call()
{
	octo_rx test call in "$1" 200 | sed -n 's/^id: *//p'
}

# steps NAME ID TEXT: once the call ended, its step log holds TEXT.
steps()
{
	local name=$1 id=$2 text=$3
	if [ -z "$id" ]; then
		fail "$name" "the call did not start"
		return 1
	fi
	wait_until 10 bash -c \
		"'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'calls show history' | grep -q '^$id '"
	check_rx "$name" "$text" call debug "$id"
}

check_output "clock command" '"offset":"0 s"' octo_rx_json core show clock
check_fails "clock offset must be a number" octo_rx core set clock offset soon
check_fails "clock offset bounded" octo_rx core set clock offset 99999999999

# Monday 2026-01-05 10:00 in Rome: open.
clock_to Europe/Rome "2026-01-05 10:00"
check_output "PBX clock moved" '"pbx time":"2026-01-05 09:00:' octo_rx_json core show clock
check_rx "show: open now" "open: mon 08:30-12:30" timetable show office
check_rx "show: OPEN" "OPEN" timetable show office
check_rx "show: the definition" "08:30-12:30,14:00-18:00" timetable show office
check_rx "show: the holidays" "holiday 12-25" timetable show office
check_rx "show: the zone" "Europe/Rome" timetable show office
id=$(call 501)
steps "Monday 10:00 is open" "$id" "CheckTimetable(office): open: mon 08:30-12:30"
steps "open: the next step runs" "$id" "open for 501: OPEN open: mon 08:30-12:30"
# The shop in New York is still closed at 04:00 its time.
check_rx "list: each in its own zone" "closed: mon outside 10:00-19:00" timetable show
id=$(call 700)
steps "TIMETABLE() function" "$id" "shop is CLOSED"

# Monday 13:00: the lunch break.
clock_to Europe/Rome "2026-01-05 13:00"
id=$(call 502)
steps "lunch break is closed" "$id" "closed: mon outside 08:30-12:30,14:00-18:00"
steps "closed: jumps to [closed]" "$id" "goto closed/502/1"

# Sunday 2026-01-11 10:00: closed.
clock_to Europe/Rome "2026-01-11 10:00"
id=$(call 503)
steps "Sunday is closed" "$id" "CheckTimetable(office): closed: sun closed all day"
steps "Sunday: closed procedure reached" "$id" \
	"closed for 503: CLOSED closed: sun closed all day"

# Christmas 2026 (a Friday) 10:00: a holiday.
clock_to Europe/Rome "2026-12-25 10:00"
id=$(call 504)
steps "holiday is closed" "$id" "CheckTimetable(office): closed: holiday 12-25 (Natale)"
steps "holiday: closed procedure reached" "$id" "closed for 504: CLOSED"
id=$(call 601)
steps "closed with a number of its own" "$id" "goto closed/night/1"
steps "the number given is used" "$id" "night service for 601"

# Easter Monday 2026 at 10:00 (a dated holiday) and Christmas Eve (an exception).
clock_to Europe/Rome "2026-04-06 10:00"
id=$(call 505)
steps "Easter Monday is closed" "$id" "closed: holiday 2026-04-06 (Pasquetta)"
clock_to Europe/Rome "2026-12-24 11:30"
id=$(call 506)
steps "Christmas Eve morning is open" "$id" \
	"open: exception 2026-12-24 09:00-12:00 (Christmas Eve)"

# Mistakes end the call with a clear step.
id=$(call 800)
steps "unknown timetable" "$id" "CheckTimetable: no timetable \"nosuch\" in timetables.conf"
id=$(call 801)
steps "missing argument" "$id" "CheckTimetable: expected name,procedure_if_closed[,number]"

# timetable test: what the check says at a local time.
check_rx "test: Monday open" "open: mon 08:30-12:30" timetable test office "2026-01-05 10:00"
check_rx "test: Sunday closed" "closed: sun closed all day" \
	timetable test office "2026-01-11 10:00"
check_rx "test: holiday" "closed: holiday 12-25 (Natale)" timetable test office "2026-12-25 10:00"
check_output "test: result field" '"result":"CLOSED"' \
	octo_rx_json timetable test office "2026-12-25 10:00"
check_output "test: quoted date as one word" "open: sat 09:00-12:00" \
	"$OCTO_BIN" -s "$OCTO_SOCK" -rx 'timetable test office "2026-01-10 09:00"'
check_fails "test: bad date" octo_rx timetable test office "2026-02-30 10:00"
check_fails "test: unknown timetable" octo_rx timetable test nosuch "2026-01-05 10:00"
check_fails "show: unknown timetable" octo_rx timetable show nosuch
check_output "json fields" '"why":"closed: holiday 12-25 (Natale)"' \
	octo_rx_json timetable test office "2026-12-25 10:00"

# A broken reload is refused with file:line and the running timetables stay.
cp "$OCTO_CONF/timetables.conf" "$OCTO_TMP/timetables.good"
printf '[bad]\ntimezone = Europe/Rom\nmon = 8:70-12\n' >>"$OCTO_CONF/timetables.conf"
lines=$(wc -l <"$OCTO_CONF/timetables.conf")
check_fails "broken reload refused" octo_rx module reload app_timetable
check_output "reload error: range" \
	"timetables.conf:$lines: [bad] mon: \"8:70-12\" is not a time range HH:MM-HH:MM" \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload app_timetable' 2>&1; true"
check_output "reload error: time zone" \
	"timetables.conf:$((lines - 1)): [bad] timezone: \"Europe/Rom\" is not a known time zone" \
	bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'module reload app_timetable' 2>&1; true"
check_rx "running timetables stay" "office" timetable show
check_fails "broken timetable not loaded" octo_rx timetable show bad
cp "$OCTO_TMP/timetables.good" "$OCTO_CONF/timetables.conf"
printf '[late]\ntimezone = UTC\nmon-sun = 00:00-24:00\n' >>"$OCTO_CONF/timetables.conf"
check "fixed file reloads" octo_rx module reload app_timetable
check_rx "new timetable live" "open: thu 00:00-24:00" timetable show late

# load -> unload -> load
check_rx "unload app_timetable" "Unloaded app_timetable" module unload app_timetable
check_fails "its commands are gone" octo_rx timetable show
check_rx "load it again" "Loaded app_timetable" module load app_timetable
check_rx "working again" "open: thu 00:00-24:00" timetable show late

check_output "clock reset" '"offset":"0 s"' octo_rx_json core set clock offset 0
octo_stop
