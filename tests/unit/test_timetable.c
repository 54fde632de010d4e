/*
 * test_timetable.c - the PBX clock and the TZif reader of core/clock.c
 * (checked against the C library's own conversion on many instants and
 * zones, and against hostile files), and app_timetable's parser, error
 * messages and rules (compiled in with #include).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "octo/clock.h"
#include "octo/config.h"
#include "octo_test.h"

#include "../../modules/apps/app_timetable.c"

/* ---------------------------------------------------------------- helpers */

/* time_t of a UTC date and time. */
static time_t utc(int y, int mo, int d, int h, int mi)
{
	return (time_t)(octo_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60);
}

/* "2026-01-05 10:00:00 CET +3600 dst=0 wday=1" for t in zone `name`. */
static const char *local(const char *name, time_t t)
{
	static char buf[384];
	char err[256] = "";
	struct octo_tz *tz = octo_tz_load(name, err, sizeof(err));
	struct tm tm;

	if (!tz) {
		snprintf(buf, sizeof(buf), "load failed: %s", err);
		return buf;
	}
	if (octo_tz_localtime(tz, t, &tm)) {
		octo_strlcpy(buf, "convert failed", sizeof(buf));
	} else {
		char when[64];

		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm);
		snprintf(buf, sizeof(buf), "%s %+ld dst=%d wday=%d", when, (long)tm.tm_gmtoff,
			 tm.tm_isdst, tm.tm_wday);
	}
	octo_tz_free(tz);
	return buf;
}

static unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Builds the last real section of `text` as a timetable. */
static struct tt_table *table_from(const char *text, struct octo_diags *d)
{
	struct octo_cfg *cfg = octo_cfg_parse_string(text, "t.conf", NULL, d);
	const struct octo_cfg_section *last = NULL;
	struct tt_table *t = NULL;

	if (!cfg)
		return NULL;
	for (const struct octo_cfg_section *s = octo_cfg_first(cfg); s; s = octo_cfg_next(s))
		last = s;
	if (last)
		t = tt_build_table(last, d);
	octo_cfg_free(cfg);
	return t;
}

/* The first error of a table that must not build. */
static const char *first_error(const char *text)
{
	static char buf[512];
	struct octo_diags d = { 0 };
	struct tt_table *t = table_from(text, &d);

	buf[0] = '\0';
	for (size_t i = 0; i < d.count; i++)
		if (d.items[i].severity == OCTO_DIAG_ERROR) {
			octo_strlcpy(buf, d.items[i].message, sizeof(buf));
			break;
		}
	if (t)
		octo_strlcpy(buf, "(built without error)", sizeof(buf));
	tt_table_free(t);
	octo_diags_free(&d);
	return buf;
}

/* "OPEN open: mon 08:30-12:30" at a local date and time. */
static const char *check(const struct tt_table *t, int y, int mo, int d, int h, int mi)
{
	static char buf[TT_WHY_MAX + 8];
	char why[TT_WHY_MAX];
	bool open = tt_eval(t, y, mo, d, h * 60 + mi, why, sizeof(why));

	snprintf(buf, sizeof(buf), "%s %s", open ? "OPEN" : "CLOSED", why);
	return buf;
}

static const char *office_conf =
	"[italy](!)\n"
	"holiday = 01-01 Capodanno\n"
	"holiday = 12-25 Natale\n"
	"holiday = 12-26\n"
	"holiday = 2026-04-06 Pasquetta\n"
	"[office](italy)\n"
	"timezone = Europe/Rome\n"
	"mon-fri = 08:30-12:30, 14:00-18:00\n"
	"sat = 09:00-12:00\n"
	"sun = closed\n"
	"fri = 08:30-13:00\n"
	"holiday = 2026-12-24..2026-12-31 Christmas closing\n"
	"exception = 2026-12-30 10:00-12:00 inventory\n"
	"exception = 2026-12-01..2026-12-31 09:00-13:00 December hours\n"
	"exception = 2026-06-15 closed strike\n";

/* ---------------------------------------------------------------- the clock */
OCTO_TEST(clock_offset)
{
	time_t before = time(NULL);

	OCTO_CHECK_INT_EQ(octo_clock_offset(), 0);
	OCTO_CHECK_INT_EQ(octo_clock_set_offset(86400 * 3), 0);
	OCTO_CHECK(octo_time() >= before + 86400 * 3 && octo_time() <= time(NULL) + 86400 * 3);
	OCTO_CHECK_INT_EQ(octo_clock_offset(), 86400 * 3);
	OCTO_CHECK_INT_EQ(octo_clock_set_offset(OCTO_CLOCK_OFFSET_MAX + 1), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_clock_set_offset(-OCTO_CLOCK_OFFSET_MAX - 1), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_clock_offset(), 86400 * 3);
	OCTO_CHECK_INT_EQ(octo_clock_set_offset(-3600), 0);
	OCTO_CHECK(octo_time() <= time(NULL) - 3600);
	OCTO_CHECK_INT_EQ(octo_clock_set_offset(0), 0);
}

OCTO_TEST(civil_dates)
{
	int64_t y;
	int m, d;

	OCTO_CHECK_INT_EQ(octo_days_from_civil(1970, 1, 1), 0);
	OCTO_CHECK_INT_EQ(octo_days_from_civil(2000, 3, 1), 11017);
	OCTO_CHECK_INT_EQ(octo_days_from_civil(1969, 12, 31), -1);
	for (int64_t days = -800000; days < 800000; days += 97) {
		octo_civil_from_days(days, &y, &m, &d);
		OCTO_CHECK_INT_EQ(octo_days_from_civil(y, m, d), days);
	}
	octo_civil_from_days(octo_days_from_civil(2024, 2, 29), &y, &m, &d);
	OCTO_CHECK_INT_EQ(y * 10000 + m * 100 + d, 20240229);
	octo_civil_from_days(-719468, &y, &m, &d);
	OCTO_CHECK_INT_EQ(y * 10000 + m * 100 + d, 301);
}

/* ---------------------------------------------------------------- zones */
OCTO_TEST(tz_rome)
{
	OCTO_CHECK_STR_EQ(local("Europe/Rome", utc(2026, 1, 5, 9, 0)),
			  "2026-01-05 10:00:00 CET +3600 dst=0 wday=1");
	OCTO_CHECK_STR_EQ(local("Europe/Rome", utc(2026, 7, 1, 10, 0)),
			  "2026-07-01 12:00:00 CEST +7200 dst=1 wday=3");
	/* The spring change: 2026-03-29 at 01:00 UTC. */
	OCTO_CHECK_STR_EQ(local("Europe/Rome", utc(2026, 3, 29, 1, 0) - 1),
			  "2026-03-29 01:59:59 CET +3600 dst=0 wday=0");
	OCTO_CHECK_STR_EQ(local("Europe/Rome", utc(2026, 3, 29, 1, 0)),
			  "2026-03-29 03:00:00 CEST +7200 dst=1 wday=0");
	/* Beyond the file's table: the footer's rule. */
	OCTO_CHECK_STR_EQ(local("Europe/Rome", utc(2100, 7, 1, 10, 0)),
			  "2100-07-01 12:00:00 CEST +7200 dst=1 wday=4");
	OCTO_CHECK_STR_EQ(local("Europe/Rome", utc(2100, 10, 31, 0, 59)),
			  "2100-10-31 02:59:00 CEST +7200 dst=1 wday=0");
	OCTO_CHECK_STR_EQ(local("Europe/Rome", utc(2100, 10, 31, 1, 0)),
			  "2100-10-31 02:00:00 CET +3600 dst=0 wday=0");
	/* Southern hemisphere: daylight time spans the new year. */
	OCTO_CHECK_STR_EQ(local("Australia/Sydney", utc(2090, 1, 15, 0, 0)),
			  "2090-01-15 11:00:00 AEDT +39600 dst=1 wday=0");
	OCTO_CHECK_STR_EQ(local("Australia/Sydney", utc(2090, 7, 15, 0, 0)),
			  "2090-07-15 10:00:00 AEST +36000 dst=0 wday=6");
	OCTO_CHECK_STR_EQ(local("UTC", utc(1960, 2, 29, 23, 59)),
			  "1960-02-29 23:59:00 UTC +0 dst=0 wday=1");
}

/* Our conversion must agree with the C library's on many instants. */
OCTO_TEST(tz_matches_libc)
{
	static const char *const zones[] = {
		"Europe/Rome", "Europe/London", "America/New_York", "America/Sao_Paulo",
		"Australia/Sydney", "Australia/Lord_Howe", "Asia/Kolkata", "Asia/Tokyo",
		"Pacific/Chatham", "America/Santiago", "Africa/Casablanca", "Europe/Dublin",
		"America/St_Johns", "Asia/Tehran", "Pacific/Apia", "Etc/GMT+5", "UTC",
	};
	char *saved = getenv("TZ") ? octo_strdup(getenv("TZ")) : NULL;
	unsigned seed = 12345, mismatches = 0;

	for (size_t z = 0; z < OCTO_ARRAY_LEN(zones); z++) {
		char err[256] = "";
		struct octo_tz *tz = octo_tz_load(zones[z], err, sizeof(err));

		OCTO_CHECK(tz != NULL);
		if (!tz) {
			printf("  %s: %s\n", zones[z], err);
			continue;
		}
		setenv("TZ", zones[z], 1);
		tzset();
		for (int i = 0; i < 3000; i++) {
			/* 1901..2200, denser around now. */
			time_t t;
			struct tm a, b;

			seed = seed * 1103515245u + 12345u;
			if (i % 2)
				t = (time_t)(-2177452800LL + (long long)(seed % 9466848u) * 1000LL);
			else
				t = (time_t)(1600000000LL + (long long)(seed % 3000000u) * 100LL);
			if (octo_tz_localtime(tz, t, &a) || !localtime_r(&t, &b)) {
				mismatches++;
				continue;
			}
			if (a.tm_year != b.tm_year || a.tm_mon != b.tm_mon ||
			    a.tm_mday != b.tm_mday || a.tm_hour != b.tm_hour ||
			    a.tm_min != b.tm_min || a.tm_sec != b.tm_sec ||
			    a.tm_wday != b.tm_wday || a.tm_yday != b.tm_yday ||
			    a.tm_isdst != b.tm_isdst || a.tm_gmtoff != b.tm_gmtoff ||
			    strcmp(a.tm_zone, b.tm_zone)) {
				if (mismatches++ < 5)
					printf("  %s at %lld: %02d:%02d %s vs libc %02d:%02d %s\n",
					       zones[z], (long long)t, a.tm_hour, a.tm_min,
					       a.tm_zone, b.tm_hour, b.tm_min, b.tm_zone);
			}
		}
		octo_tz_free(tz);
	}
	if (saved)
		setenv("TZ", saved, 1);
	else
		unsetenv("TZ");
	tzset();
	free(saved);
	OCTO_CHECK_INT_EQ(mismatches, 0);
}

OCTO_TEST(tz_bad_names)
{
	char err[256];

	OCTO_CHECK(octo_tz_load("../../etc/passwd", err, sizeof(err)) == NULL);
	OCTO_CHECK_STR_EQ(err, "is not a time zone name (like Europe/Rome)");
	OCTO_CHECK(octo_tz_load("/etc/localtime", err, sizeof(err)) == NULL);
	OCTO_CHECK_STR_EQ(err, "is not a time zone name (like Europe/Rome)");
	OCTO_CHECK(octo_tz_load("Europe/.Rome", err, sizeof(err)) == NULL);
	OCTO_CHECK(octo_tz_load("Europe//Rome", err, sizeof(err)) == NULL);
	OCTO_CHECK(octo_tz_load("Europe/Rome;rm", err, sizeof(err)) == NULL);
	OCTO_CHECK(octo_tz_load("Europe/Rom", err, sizeof(err)) == NULL);
	OCTO_CHECK_STR_EQ(err, "is not a known time zone (no file /usr/share/zoneinfo/Europe/Rom)");
	OCTO_CHECK(octo_tz_load("Europe", err, sizeof(err)) == NULL);
	OCTO_CHECK_STR_EQ(err,
			  "is not a known time zone (/usr/share/zoneinfo/Europe is not a file)");
}

OCTO_TEST(tz_system_zone)
{
	struct octo_tz *tz = octo_tz_load(NULL, NULL, 0);
	struct tm tm;

	OCTO_CHECK(tz != NULL);
	OCTO_CHECK(octo_tz_name(tz)[0] != '\0');
	OCTO_CHECK_INT_EQ(octo_tz_localtime(tz, 0, &tm), 0);
	octo_tz_free(tz);
}

/* Hostile files: every truncation and many corruptions of a real one. */
OCTO_TEST(tz_hostile_files)
{
	size_t len = 0, parsed = 0;
	unsigned char *data = read_all("/usr/share/zoneinfo/Europe/Rome", &len);
	char err[256];
	unsigned seed = 7;

	OCTO_CHECK(data != NULL);
	if (!data)
		return;
	for (size_t n = 0; n < len; n++) {
		unsigned char *copy = malloc(n ? n : 1); /* exact size: ASan sees any over-read */

		memcpy(copy, data, n);
		OCTO_CHECK(octo_tz_parse("x", copy, n, err, sizeof(err)) == NULL);
		free(copy);
	}
	OCTO_CHECK(octo_tz_parse("x", data, 3, err, sizeof(err)) == NULL);
	OCTO_CHECK_STR_EQ(err, "is not a TZif file: truncated header");
	for (int i = 0; i < 20000; i++) {
		unsigned char *copy = malloc(len);
		struct octo_tz *tz;

		memcpy(copy, data, len);
		for (int k = 0; k < 1 + i % 4; k++) {
			seed = seed * 1103515245u + 12345u;
			copy[(seed >> 8) % len] ^= (unsigned char)(1u << (seed % 8));
		}
		tz = octo_tz_parse("x", copy, len, err, sizeof(err));
		if (tz) {
			struct tm tm;

			parsed++;
			for (time_t t = -4000000000LL; t < 8000000000LL; t += 300000000)
				octo_tz_localtime(tz, t, &tm);
		}
		octo_tz_free(tz);
		free(copy);
	}
	OCTO_CHECK(parsed > 0); /* flips in transition times still parse */
	memcpy(data, "TZxf", 4);
	OCTO_CHECK(octo_tz_parse("x", data, len, err, sizeof(err)) == NULL);
	OCTO_CHECK_STR_EQ(err, "is not a TZif file: no TZif magic");
	free(data);
}

/* A version 2 TZif file with no transitions, one type (UTC) and `footer`. */
static unsigned char *tzif_footer(const char *footer, size_t *len)
{
	static const unsigned char head[44] = { 'T', 'Z', 'i', 'f', '2', [39] = 1, [43] = 4 };
	static const unsigned char block[10] = { 0, 0, 0, 0, 0, 0, 'U', 'T', 'C', 0 };
	size_t flen = strlen(footer);
	unsigned char *buf = malloc(2 * (44 + 10) + flen + 2), *p = buf;

	memcpy(p, head, 44);
	p += 44;
	memcpy(p, block, 10);
	p += 10;
	memcpy(p, head, 44);
	p += 44;
	memcpy(p, block, 10);
	p += 10;
	*p++ = '\n';
	memcpy(p, footer, flen);
	p += flen;
	*p++ = '\n';
	*len = (size_t)(p - buf);
	return buf;
}

/* "12:00 CEST" for t under the rule `footer`, or "refused: ...". */
static const char *rule_local(const char *footer, time_t t)
{
	static char out[256];
	char err[128];
	size_t len;
	unsigned char *data = tzif_footer(footer, &len);
	struct octo_tz *tz = octo_tz_parse("r", data, len, err, sizeof(err));
	struct tm tm;

	if (!tz)
		snprintf(out, sizeof(out), "refused: %s", err);
	else if (octo_tz_localtime(tz, t, &tm))
		snprintf(out, sizeof(out), "convert failed");
	else
		snprintf(out, sizeof(out), "%04d-%02d-%02d %02d:%02d %s", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_zone);
	octo_tz_free(tz);
	free(data);
	return out;
}

OCTO_TEST(tz_posix_footers)
{
	const char *bad = "refused: is not a TZif file: bad POSIX TZ string in the footer";

	OCTO_CHECK_STR_EQ(rule_local("CET-1CEST,M3.5.0,M10.5.0/3", utc(2030, 10, 27, 0, 59)),
			  "2030-10-27 02:59 CEST");
	OCTO_CHECK_STR_EQ(rule_local("CET-1CEST,M3.5.0,M10.5.0/3", utc(2030, 10, 27, 1, 0)),
			  "2030-10-27 02:00 CET");
	OCTO_CHECK_STR_EQ(rule_local("<-03>3", utc(2030, 1, 1, 0, 0)), "2029-12-31 21:00 -03");
	OCTO_CHECK_STR_EQ(rule_local("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
				     utc(2030, 1, 1, 0, 0)),
			  "2030-01-01 11:00 +11");
	OCTO_CHECK_STR_EQ(rule_local("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0",
				     utc(2030, 6, 1, 0, 0)),
			  "2030-06-01 10:30 +1030");
	/* no rule: the US rules; J (no Feb 29) and zero-based days; negative times */
	OCTO_CHECK_STR_EQ(rule_local("EST5EDT", utc(2030, 7, 1, 12, 0)), "2030-07-01 08:00 EDT");
	OCTO_CHECK_STR_EQ(rule_local("XXX0YYY,J60/0,J305/0", utc(2028, 3, 1, 0, 0)),
			  "2028-03-01 01:00 YYY");
	OCTO_CHECK_STR_EQ(rule_local("XXX0YYY,J60/0,J305/0", utc(2028, 2, 29, 23, 59)),
			  "2028-02-29 23:59 XXX");
	OCTO_CHECK_STR_EQ(rule_local("XXX0YYY,59/0,305/-1", utc(2028, 2, 29, 0, 0)),
			  "2028-02-29 01:00 YYY");
	OCTO_CHECK_STR_EQ(rule_local("UTC0", utc(2030, 1, 1, 0, 0)), "2030-01-01 00:00 UTC");
	OCTO_CHECK_STR_EQ(rule_local("", utc(2030, 1, 1, 0, 0)), "2030-01-01 00:00 UTC");
	OCTO_CHECK_STR_EQ(rule_local("CE-1", 0), bad);
	OCTO_CHECK_STR_EQ(rule_local("CET-25", 0), bad);
	OCTO_CHECK_STR_EQ(rule_local("CET-1CEST,M13.5.0,M10.5.0", 0), bad);
	OCTO_CHECK_STR_EQ(rule_local("CET-1CEST,M3.6.0,M10.5.0", 0), bad);
	OCTO_CHECK_STR_EQ(rule_local("CET-1CEST,M3.5.0", 0), bad);
	OCTO_CHECK_STR_EQ(rule_local("CET-1CEST,M3.5.0,M10.5.0/168", 0), bad);
	OCTO_CHECK_STR_EQ(rule_local("CET-1CEST,M3.5.0,M10.5.0x", 0), bad);
	OCTO_CHECK_STR_EQ(rule_local("<CET-1", 0), bad);
	OCTO_CHECK_STR_EQ(rule_local("J\001", 0), bad);
}

/* ---------------------------------------------------------------- timetables */
OCTO_TEST(timetable_office)
{
	struct octo_diags d = { 0 };
	struct tt_table *t = table_from(office_conf, &d);

	OCTO_CHECK(t != NULL);
	OCTO_CHECK_INT_EQ(d.count, 0);
	if (!t)
		return;
	OCTO_CHECK_STR_EQ(octo_tz_name(t->tz), "Europe/Rome");
	/* Monday 2026-01-05 */
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 5, 10, 0), "OPEN open: mon 08:30-12:30");
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 5, 8, 29),
			  "CLOSED closed: mon outside 08:30-12:30,14:00-18:00");
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 5, 12, 30),
			  "CLOSED closed: mon outside 08:30-12:30,14:00-18:00");
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 5, 17, 59), "OPEN open: mon 14:00-18:00");
	/* fri replaced after mon-fri; sat; sun */
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 9, 12, 45), "OPEN open: fri 08:30-13:00");
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 9, 15, 0), "CLOSED closed: fri outside 08:30-13:00");
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 10, 9, 0), "OPEN open: sat 09:00-12:00");
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 11, 10, 0), "CLOSED closed: sun closed all day");
	/* holidays from the template, yearly and dated */
	OCTO_CHECK_STR_EQ(check(t, 2027, 1, 1, 10, 0), "CLOSED closed: holiday 01-01 (Capodanno)");
	OCTO_CHECK_STR_EQ(check(t, 2026, 4, 6, 10, 0),
			  "CLOSED closed: holiday 2026-04-06 (Pasquetta)");
	OCTO_CHECK_STR_EQ(check(t, 2027, 4, 6, 10, 0), "OPEN open: tue 08:30-12:30");
	/* the fewest days win: 12-25 over December hours; 12-30 over the closing */
	OCTO_CHECK_STR_EQ(check(t, 2026, 12, 25, 10, 0), "CLOSED closed: holiday 12-25 (Natale)");
	OCTO_CHECK_STR_EQ(check(t, 2026, 12, 26, 10, 0), "CLOSED closed: holiday 12-26");
	OCTO_CHECK_STR_EQ(check(t, 2026, 12, 28, 10, 0),
			  "CLOSED closed: holiday 2026-12-24..2026-12-31 (Christmas closing)");
	OCTO_CHECK_STR_EQ(check(t, 2026, 12, 30, 11, 0),
			  "OPEN open: exception 2026-12-30 10:00-12:00 (inventory)");
	OCTO_CHECK_STR_EQ(check(t, 2026, 12, 30, 9, 0),
			  "CLOSED closed: exception 2026-12-30 outside 10:00-12:00 (inventory)");
	OCTO_CHECK_STR_EQ(check(t, 2026, 12, 7, 12, 45),
			  "OPEN open: exception 2026-12-01..2026-12-31 09:00-13:00 "
			  "(December hours)");
	OCTO_CHECK_STR_EQ(check(t, 2026, 6, 15, 10, 0),
			  "CLOSED closed: exception 2026-06-15 closed all day (strike)");
	/* at a PBX time: Monday 2026-01-05 10:00 in Rome is 09:00 UTC */
	{
		char why[TT_WHY_MAX], when[64];

		OCTO_CHECK(tt_eval_at(t, utc(2026, 1, 5, 9, 0), why, sizeof(why), when,
				      sizeof(when)));
		OCTO_CHECK_STR_EQ(why, "open: mon 08:30-12:30");
		OCTO_CHECK_STR_EQ(when, "2026-01-05 10:00 CET");
		OCTO_CHECK(!tt_eval_at(t, utc(2026, 7, 6, 16, 30), why, sizeof(why), when,
				       sizeof(when)));
		OCTO_CHECK_STR_EQ(why, "closed: mon outside 08:30-12:30,14:00-18:00");
		OCTO_CHECK_STR_EQ(when, "2026-07-06 18:30 CEST");
	}
	tt_table_free(t);
	octo_diags_free(&d);
}

OCTO_TEST(timetable_wrapping_and_edges)
{
	struct octo_diags d = { 0 };
	struct tt_table *t = table_from("[t]\ntimezone = UTC\nfri-mon = 00:00-24:00\n"
					"holiday = 12-24..01-06 winter\nholiday = 02-29 leap\n",
					&d);

	OCTO_CHECK(t != NULL);
	if (!t)
		return;
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 9, 0, 0), "OPEN open: fri 00:00-24:00");
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 12, 23, 59), "OPEN open: mon 00:00-24:00");
	OCTO_CHECK_STR_EQ(check(t, 2026, 1, 13, 12, 0), "CLOSED closed: tue closed all day");
	OCTO_CHECK_STR_EQ(check(t, 2026, 12, 31, 12, 0),
			  "CLOSED closed: holiday 12-24..01-06 (winter)");
	OCTO_CHECK_STR_EQ(check(t, 2027, 1, 4, 12, 0),
			  "CLOSED closed: holiday 12-24..01-06 (winter)");
	OCTO_CHECK_STR_EQ(check(t, 2027, 1, 8, 12, 0), "OPEN open: fri 00:00-24:00");
	OCTO_CHECK_STR_EQ(check(t, 2028, 2, 29, 12, 0), "CLOSED closed: holiday 02-29 (leap)");
	tt_table_free(t);
	octo_diags_free(&d);
}

OCTO_TEST(timetable_errors)
{
	OCTO_CHECK_STR_EQ(first_error("[office]\nmon = 08:30-12:30,8:70-12\n"),
			  "t.conf:2: [office] mon: \"8:70-12\" is not a time range HH:MM-HH:MM");
	OCTO_CHECK_STR_EQ(first_error("[office]\ntue = 8-12\n"),
			  "t.conf:2: [office] tue: \"8-12\" is not a time range HH:MM-HH:MM");
	OCTO_CHECK_STR_EQ(first_error("[office]\n\nwed = 09:00-12:00 14:00-18:00\n"),
			  "t.conf:3: [office] wed: \"14:00-18:00\" is not a time range "
			  "HH:MM-HH:MM");
	OCTO_CHECK_STR_EQ(first_error("[office]\nmon = 24:00-24:00\n"),
			  "t.conf:2: [office] mon: \"24:00-24:00\" is not a time range "
			  "HH:MM-HH:MM");
	OCTO_CHECK_STR_EQ(first_error("[office]\nmon = 09:00-24:01\n"),
			  "t.conf:2: [office] mon: \"09:00-24:01\" is not a time range "
			  "HH:MM-HH:MM");
	OCTO_CHECK_STR_EQ(first_error("[office]\nmon = 22:00-06:00\n"),
			  "t.conf:2: [office] mon: \"22:00-06:00\" does not end after it starts "
			  "(past midnight, write two ranges: until 24:00, and from 00:00 on the "
			  "next day)");
	OCTO_CHECK_STR_EQ(first_error("[office]\nmon = 08:30-12:30,09:00-13:00\n"),
			  "t.conf:2: [office] mon: \"09:00-13:00\" overlaps \"08:30-12:30\"");
	OCTO_CHECK_STR_EQ(first_error("[office]\nmon =\n"),
			  "t.conf:2: [office] mon: no hours (write closed, or ranges like "
			  "08:30-12:30,14:00-18:00)");
	OCTO_CHECK_STR_EQ(first_error("[office]\nmon = 08:00-09:00,,10:00-11:00\n"),
			  "t.conf:2: [office] mon: an empty time range between commas");
	OCTO_CHECK_STR_EQ(first_error("[office]\nsun = closed today\n"),
			  "t.conf:2: [office] sun: \"closed\" cannot be followed by anything");
	OCTO_CHECK_STR_EQ(first_error("[office]\nholiday = 2026-02-30\n"),
			  "t.conf:2: [office] holiday: \"2026-02-30\" is not a date (YYYY-MM-DD, "
			  "MM-DD for every year, or a range FROM..TO)");
	OCTO_CHECK_STR_EQ(first_error("[office]\nholiday = 02-30\n"),
			  "t.conf:2: [office] holiday: \"02-30\" is not a date (YYYY-MM-DD, "
			  "MM-DD for every year, or a range FROM..TO)");
	OCTO_CHECK_STR_EQ(first_error("[office]\nholiday = 2026-12-31..2026-12-24\n"),
			  "t.conf:2: [office] holiday: \"2026-12-31..2026-12-24\" ends before it "
			  "starts");
	OCTO_CHECK_STR_EQ(first_error("[office]\nholiday = 2026-12-24..12-31\n"),
			  "t.conf:2: [office] holiday: \"2026-12-24..12-31\" mixes a date of one "
			  "year and a yearly date");
	OCTO_CHECK_STR_EQ(first_error("[office]\nexception = 2026-12-24\n"),
			  "t.conf:2: [office] exception: no hours (write closed, or ranges like "
			  "08:30-12:30,14:00-18:00)");
	OCTO_CHECK_STR_EQ(first_error("[office]\nexception = 2026-12-24 9-12\n"),
			  "t.conf:2: [office] exception: \"9-12\" is not a time range HH:MM-HH:MM");
	OCTO_CHECK_STR_EQ(first_error("[office]\ntimezone = Europe/Rom\n"),
			  "t.conf:2: [office] timezone: \"Europe/Rom\" is not a known time zone "
			  "(no file /usr/share/zoneinfo/Europe/Rom)");
	OCTO_CHECK_STR_EQ(first_error("[off ice]\nmon = closed\n"),
			  "t.conf:1: [off ice] is not a valid timetable name (letters, digits, "
			  "'_', '-', '.'; at most 63)");
	OCTO_CHECK_STR_EQ(first_error("[office]\nmon = 01:00-01:01,02:00-02:01,03:00-03:01,"
				      "04:00-04:01,05:00-05:01,06:00-06:01,07:00-07:01,"
				      "08:00-08:01,09:00-09:01,10:00-10:01,11:00-11:01,"
				      "12:00-12:01,13:00-13:01,14:00-14:01,15:00-15:01,"
				      "16:00-16:01,17:00-17:01\n"),
			  "t.conf:2: [office] mon: more than 16 time ranges");
}

OCTO_TEST(timetable_unknown_key_is_a_warning)
{
	struct octo_diags d = { 0 };
	struct tt_table *t = table_from("[office]\nmonn = 08:00-12:00\nmon-fro = closed\n", &d);

	OCTO_CHECK(t != NULL);
	OCTO_CHECK_INT_EQ(d.errors, 0);
	OCTO_CHECK_INT_EQ(d.count, 2);
	if (d.count == 2) {
		OCTO_CHECK_CONTAINS(d.items[0].message,
				    "t.conf:2: [office] unknown option \"monn\"");
		OCTO_CHECK_CONTAINS(d.items[0].message, "\"mon\"");
		OCTO_CHECK_CONTAINS(d.items[1].message,
				    "t.conf:3: [office] unknown option \"mon-fro\"");
	}
	tt_table_free(t);
	octo_diags_free(&d);
}

OCTO_TEST(timetable_set_and_duplicates)
{
	char dir[] = "/tmp/test_timetable.XXXXXX";
	char path[256];
	struct octo_diags d = { 0 };
	struct tt_set *set;
	FILE *f;

	OCTO_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/%s", dir, TT_FILE);
	f = fopen(path, "w");
	fputs("[b]\nmon = closed\n[a]\ntimezone = UTC\n[b]\nsun = closed\n", f);
	fclose(f);
	set = tt_build(dir, &d);
	OCTO_CHECK(set == NULL);
	OCTO_CHECK_INT_EQ(d.errors, 1);
	if (d.count)
		OCTO_CHECK_STR_EQ(d.items[0].message,
				  "timetables.conf:5: [b] is already defined at timetables.conf:1");
	octo_diags_free(&d);

	f = fopen(path, "w");
	fputs("[b]\nmon = closed\n[a]\ntimezone = UTC\n", f);
	fclose(f);
	set = tt_build(dir, &d);
	OCTO_CHECK(set != NULL);
	if (set) {
		OCTO_CHECK_INT_EQ(set->count, 2);
		OCTO_CHECK(tt_find(set, "a") && tt_find(set, "b") && !tt_find(set, "c"));
		OCTO_CHECK_STR_EQ(set->tables[0]->name, "a");
	}
	octo_obj_unref(set);
	octo_diags_free(&d);

	unlink(path);
	set = tt_build(dir, &d); /* no file: no timetables, no error */
	OCTO_CHECK(set != NULL && set->count == 0);
	octo_obj_unref(set);
	octo_diags_free(&d);
	rmdir(dir);
}

/* Random values for the keys parsed by hand: never a crash, a leak or an
 * error without file:line. */
OCTO_TEST(timetable_random_values)
{
	static const char *const pieces[] = {
		"08:30-12:30", "14:00-18:00", "00:00-24:00", "closed", ",", " ", "12-25",
		"2026-12-24..2026-12-31", "12-24..01-06", "9", ":", "-", ".", "\xc3\xa8", "x",
		"24:00", "02-29", "1999-02-29", "..", "\t",
	};
	static const char *const keys[] = { "mon", "sat-tue", "holiday", "exception" };
	unsigned seed = 99;
	int built = 0;

	for (int i = 0; i < 20000; i++) {
		char text[256], value[128] = "";
		struct octo_diags d = { 0 };
		struct tt_table *t;
		int n;

		seed = seed * 1103515245u + 12345u;
		n = 1 + (int)((seed >> 8) % 5);
		for (int k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			strcat(value, pieces[(seed >> 8) % OCTO_ARRAY_LEN(pieces)]);
		}
		snprintf(text, sizeof(text), "[t]\ntimezone = UTC\n%s = %s\n", keys[i % 4], value);
		t = table_from(text, &d);
		for (size_t k = 0; k < d.count; k++)
			OCTO_CHECK(!strncmp(d.items[k].message, "t.conf:", 7));
		if (t) {
			char why[TT_WHY_MAX];

			built++;
			for (int day = 0; day < 400; day += 7)
				tt_eval(t, 2026, 1 + day / 31 % 12, 1 + day % 28, (day * 37) % 1440,
					why, sizeof(why));
		}
		tt_table_free(t);
		octo_diags_free(&d);
	}
	OCTO_CHECK(built > 500); /* about 800 of them are valid */
}

OCTO_TEST(timetable_label_cut_at_a_character)
{
	struct octo_diags d = { 0 };
	char text[400] = "[t]\nholiday = 12-25 ";
	struct tt_table *t;

	for (int i = 0; i < 60; i++)
		strcat(text, "\xc3\xa8"); /* 120 bytes of e-grave */
	strcat(text, "\n");
	t = table_from(text, &d);
	OCTO_CHECK(t != NULL);
	if (t) {
		OCTO_CHECK_INT_EQ(strlen(t->dates[0].label), 78);
		tt_table_free(t);
	}
	octo_diags_free(&d);
}

OCTO_TEST(timetable_moment)
{
	int64_t y;
	int m, d, minute;

	OCTO_CHECK(tt_parse_moment("2026-01-05 10:00", &y, &m, &d, &minute));
	OCTO_CHECK_INT_EQ(y * 10000 + m * 100 + d, 20260105);
	OCTO_CHECK_INT_EQ(minute, 600);
	OCTO_CHECK(tt_parse_moment("2026-01-05T7:05", &y, &m, &d, &minute));
	OCTO_CHECK_INT_EQ(minute, 425);
	OCTO_CHECK(!tt_parse_moment("2026-01-05 24:00", &y, &m, &d, &minute));
	OCTO_CHECK(!tt_parse_moment("2026-02-29 10:00", &y, &m, &d, &minute));
	OCTO_CHECK(!tt_parse_moment("01-05 10:00", &y, &m, &d, &minute));
	OCTO_CHECK(!tt_parse_moment("", &y, &m, &d, &minute));
}

OCTO_TEST_MAIN()
