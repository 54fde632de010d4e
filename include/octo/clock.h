/*
 * clock.h - the PBX wall clock and time zones.
 *
 * THE PBX CLOCK
 * Whatever decides by the time of day (timetables, and anything else that
 * asks "what time is it for the PBX?") calls octo_time() instead of time():
 * it is the machine's real time plus an offset in seconds. The offset is 0
 * unless a test moved it with the console command
 *
 *   core set clock offset <seconds>      (core show clock shows it)
 *
 * so an integration test can reach "Monday 10:00" or a holiday without ever
 * touching the machine's clock. Logs, CDR and step-log timestamps keep the
 * real time.
 *
 * TIME ZONES
 * A struct octo_tz is one IANA zone ("Europe/Rome") read from its TZif file
 * (RFC 8536) in the zoneinfo folder of the system's tzdata -- $TZDIR when set,
 * else OCTO_TZ_DIR. Octo parses the file itself and converts with pure
 * arithmetic; it never calls setenv("TZ") + tzset(), which change the whole
 * process's zone and race with every other thread that reads the
 * environment or formats a local time (the logger does). A loaded zone is
 * immutable, so any number of threads may use it at once without a lock.
 *
 * Thread context: any thread, unless said otherwise.
 */
#ifndef OCTO_CLOCK_H
#define OCTO_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "octo/octo.h"

/* ---------------------------------------------------------------- the PBX clock */

/* The largest offset accepted, either way: 100 years. */
#define OCTO_CLOCK_OFFSET_MAX (100LL * 366 * 86400)

/* The PBX wall clock: time(NULL) + the offset. Lock-free. */
time_t octo_time(void);

/* The offset in seconds (0 normally). */
int64_t octo_clock_offset(void);

/* Sets the offset (meant for tests). Returns 0, or OCTO_EINVAL when it is
 * beyond +-OCTO_CLOCK_OFFSET_MAX. */
int octo_clock_set_offset(int64_t seconds);

/* Core only (main.c): registers "core set clock offset" and "core show clock". */
int octo_clock_cli_init(void);

/* ---------------------------------------------------------------- time zones */

#define OCTO_TZ_DIR "/usr/share/zoneinfo" /* Debian's tzdata; $TZDIR overrides it */
#define OCTO_TZ_NAME_MAX 128              /* bytes of a zone name */
#define OCTO_TZ_FILE_MAX (512 * 1024)     /* larger TZif files are refused */

struct octo_tz;

/*
 * Loads the zone `name` ("Europe/Rome", "UTC", "America/Argentina/Cordoba")
 * from the zoneinfo folder. NULL or "" means the system's zone: the name in
 * $TZ when it names a zone file (":Europe/Rome" or "Europe/Rome"), else
 * /etc/localtime, else UTC. "UTC" works even without tzdata.
 * A name must be made of letters, digits and "/_+-." with no "." at the start
 * of a component, so it cannot leave the folder.
 * Returns a new zone to free with octo_tz_free, or NULL with an error phrase
 * in `err` (for "timezone: \"X\" <phrase>"), e.g. "is not a known time zone
 * (no file /usr/share/zoneinfo/Europe/Rom)".
 */
struct octo_tz *octo_tz_load(const char *name, char *err, size_t errsize);

/* Parses TZif data (version 1 to 4) held in memory; `name` is what
 * octo_tz_name() will say. Hostile input is refused with an error phrase
 * ("is not a TZif file: ..."), never trusted. Same return rules as
 * octo_tz_load. */
struct octo_tz *octo_tz_parse(const char *name, const void *data, size_t len, char *err,
			      size_t errsize);

/* NULL is ignored. */
void octo_tz_free(struct octo_tz *tz);

/* The zone's name as loaded (borrowed, lives as long as the zone). */
const char *octo_tz_name(const struct octo_tz *tz);

/*
 * The local time of `t` in zone `tz`: fills every field of *out (tm_year,
 * tm_mon, tm_mday, tm_hour, tm_min, tm_sec, tm_wday, tm_yday, tm_isdst, and
 * tm_gmtoff / tm_zone -- the abbreviation is borrowed from `tz`). Returns 0,
 * or OCTO_EINVAL when the date does not fit a struct tm.
 */
int octo_tz_localtime(const struct octo_tz *tz, time_t t, struct tm *out);

/* Splits a day count since 1970-01-01 into a civil date (proleptic
 * Gregorian), and back. Exact for every int32 year. */
void octo_civil_from_days(int64_t days, int64_t *year, int *month, int *day);
int64_t octo_days_from_civil(int64_t year, int month, int day);

#endif
