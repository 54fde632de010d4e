/*
 * clock.c - the PBX wall clock (real time + an offset that tests set with
 * "core set clock offset") and time zones read from TZif files.
 *
 * DESIGN
 *  - The offset is one atomic 64-bit integer: octo_time() is lock-free.
 *  - Time zones: the C library only converts in the process's own zone,
 *    chosen through the environment (setenv("TZ") + tzset()). Switching it
 *    per call is not thread-safe -- setenv races with every getenv, and the
 *    logger's localtime_r() would print in whatever zone a timetable set a
 *    moment ago -- and a global lock would not help, because glibc and other
 *    libraries read TZ without taking it. So Octo reads the zone's TZif file
 *    itself (RFC 8536: transition times, local time types, and the POSIX TZ
 *    string of the footer for the times after the last transition) into an
 *    immutable struct and converts with arithmetic only. The files are the
 *    system's (Debian's tzdata package), so zones stay up to date with the
 *    distribution. A zone costs a few KB; modules load their zones with
 *    their config snapshot and free them with it.
 *  - Leap-second zones ("right/...") are refused: PBX time is POSIX time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/cli.h"
#include "octo/clock.h"
#include "octo/log.h"

/* ---------------------------------------------------------------- the PBX clock */
static _Atomic int_least64_t clock_offset;

time_t octo_time(void)
{
	return time(NULL) + (time_t)atomic_load_explicit(&clock_offset, memory_order_relaxed);
}

int64_t octo_clock_offset(void)
{
	return atomic_load_explicit(&clock_offset, memory_order_relaxed);
}

int octo_clock_set_offset(int64_t seconds)
{
	if (seconds > OCTO_CLOCK_OFFSET_MAX || seconds < -OCTO_CLOCK_OFFSET_MAX)
		return OCTO_EINVAL;
	atomic_store_explicit(&clock_offset, seconds, memory_order_relaxed);
	return 0;
}

/* ---------------------------------------------------------------- civil dates
 * Days are counted from 1970-01-01 in the proleptic Gregorian calendar. The
 * computation shifts the year to start on March 1st, so the leap day is the
 * last day of a shifted year, and splits time into 400-year eras of 146097
 * days. */
static int64_t clk_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t octo_days_from_civil(int64_t year, int month, int day)
{
	int64_t y = year - (month <= 2);
	int64_t era = clk_floor_div(y, 400);
	int64_t yoe = y - era * 400;                                   /* 0..399 */
	int64_t mp = month > 2 ? month - 3 : month + 9;                /* March = 0 */
	int64_t doy = (153 * mp + 2) / 5 + day - 1;                    /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */

	return era * 146097 + doe - 719468;
}

void octo_civil_from_days(int64_t days, int64_t *year, int *month, int *day)
{
	int64_t z = days + 719468;
	int64_t era = clk_floor_div(z, 146097);
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);

	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = m;
	*year = yoe + era * 400 + (m <= 2);
}

static bool clk_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int clk_month_days(int64_t y, int m)
{
	static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return m == 2 && clk_leap(y) ? 29 : len[m - 1];
}

/* ---------------------------------------------------------------- zones */
#define TZ_ABBR_MAX 16
#define TZ_UTOFF_MIN (-89999) /* RFC 8536 3.2: the range a reader should accept */
#define TZ_UTOFF_MAX 93599

struct tz_type {
	int32_t utoff; /* seconds east of UTC */
	bool isdst;
	uint8_t abbr;  /* index into abbrs */
};

/* One end of a POSIX daylight-saving rule: a day of the year and a time. */
struct tz_when {
	char kind;    /* 'J' (1..365, no Feb 29), 'N' (0..365), 'M' (month.week.day) */
	int a, b, c;  /* J/N: a = day; M: a = month, b = week 1..5, c = weekday 0..6 */
	int32_t secs; /* local time of the change, -167h..167h */
};

/* The POSIX TZ string of the footer: "CET-1CEST,M3.5.0,M10.5.0/3". */
struct tz_posix {
	int32_t std_off, dst_off; /* seconds east of UTC */
	char std_abbr[TZ_ABBR_MAX], dst_abbr[TZ_ABBR_MAX];
	bool has_dst;
	struct tz_when start, end;
};

struct octo_tz {
	char *name;
	size_t ntrans;
	int64_t *trans;  /* ascending */
	uint8_t *idx;    /* the type from each transition on */
	size_t ntypes;
	struct tz_type *types;
	char *abbrs;     /* NUL-terminated strings, one more NUL at the end */
	size_t nabbrs;
	bool has_posix;
	struct tz_posix posix;
};

void octo_tz_free(struct octo_tz *tz)
{
	if (!tz)
		return;
	free(tz->name);
	free(tz->trans);
	free(tz->idx);
	free(tz->types);
	free(tz->abbrs);
	free(tz);
}

const char *octo_tz_name(const struct octo_tz *tz)
{
	return tz ? tz->name : "";
}

static void tz_err(char *err, size_t size, const char *fmt, ...) OCTO_PRINTF(3, 4);
static void tz_err(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (!err || !size)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

/* ---- the POSIX TZ string */

/* "hh[:mm[:ss]]" with an optional sign; hours up to max_h. Advances *pp. */
static bool tz_posix_hms(const char **pp, int max_h, int32_t *out)
{
	const char *p = *pp;
	int sign = 1, part[3] = { 0, 0, 0 }, n = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	for (;;) {
		int digits = 0, v = 0;

		while (*p >= '0' && *p <= '9' && digits < 3) {
			v = v * 10 + (*p++ - '0');
			digits++;
		}
		if (!digits || (*p >= '0' && *p <= '9'))
			return false;
		part[n++] = v;
		if (n == 3 || *p != ':')
			break;
		p++;
	}
	if (part[0] > max_h || part[1] > 59 || part[2] > 59)
		return false;
	*out = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
	*pp = p;
	return true;
}

/* A zone abbreviation: 3+ letters, or <...> of letters, digits, + and -. */
static bool tz_posix_abbr(const char **pp, char *out)
{
	const char *p = *pp;
	size_t n = 0;

	if (*p == '<') {
		p++;
		while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		       (*p >= '0' && *p <= '9') || *p == '+' || *p == '-') {
			if (n + 1 >= TZ_ABBR_MAX)
				return false;
			out[n++] = *p++;
		}
		if (*p++ != '>')
			return false;
	} else {
		while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')) {
			if (n + 1 >= TZ_ABBR_MAX)
				return false;
			out[n++] = *p++;
		}
	}
	if (n < 3)
		return false;
	out[n] = '\0';
	*pp = p;
	return true;
}

static bool tz_posix_num(const char **pp, int lo, int hi, int *out)
{
	const char *p = *pp;
	int v = 0, digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 4) {
		v = v * 10 + (*p++ - '0');
		digits++;
	}
	if (!digits || v < lo || v > hi)
		return false;
	*out = v;
	*pp = p;
	return true;
}

static bool tz_posix_when(const char **pp, struct tz_when *w)
{
	const char *p = *pp;

	if (*p == 'J') {
		p++;
		w->kind = 'J';
		if (!tz_posix_num(&p, 1, 365, &w->a))
			return false;
	} else if (*p == 'M') {
		p++;
		w->kind = 'M';
		if (!tz_posix_num(&p, 1, 12, &w->a) || *p++ != '.' ||
		    !tz_posix_num(&p, 1, 5, &w->b) || *p++ != '.' || !tz_posix_num(&p, 0, 6, &w->c))
			return false;
	} else {
		w->kind = 'N';
		if (!tz_posix_num(&p, 0, 365, &w->a))
			return false;
	}
	w->secs = 2 * 3600;
	if (*p == '/') {
		p++;
		if (!tz_posix_hms(&p, 167, &w->secs))
			return false;
	}
	*pp = p;
	return true;
}

/* Parses a POSIX TZ string (with the RFC 8536 extensions); false when bad. */
static bool tz_posix_parse(const char *s, struct tz_posix *tp)
{
	const char *p = s;
	int32_t off;

	memset(tp, 0, sizeof(*tp));
	if (!tz_posix_abbr(&p, tp->std_abbr) || !tz_posix_hms(&p, 24, &off))
		return false;
	tp->std_off = -off; /* POSIX offsets count west of UTC */
	tp->dst_off = tp->std_off;
	if (!*p)
		return true;
	if (!tz_posix_abbr(&p, tp->dst_abbr))
		return false;
	tp->has_dst = true;
	tp->dst_off = tp->std_off + 3600;
	if (*p && *p != ',') {
		if (!tz_posix_hms(&p, 24, &off))
			return false;
		tp->dst_off = -off;
	}
	if (!*p) {
		/* No rule: the POSIX default most C libraries use (US rules). */
		tp->start = (struct tz_when){ 'M', 3, 2, 0, 7200 };
		tp->end = (struct tz_when){ 'M', 11, 1, 0, 7200 };
		return true;
	}
	if (*p++ != ',' || !tz_posix_when(&p, &tp->start) || *p++ != ',' ||
	    !tz_posix_when(&p, &tp->end))
		return false;
	return *p == '\0';
}

/* The day (since 1970-01-01) a rule end falls on in `year`. */
static int64_t tz_when_day(const struct tz_when *w, int64_t year)
{
	int64_t jan1 = octo_days_from_civil(year, 1, 1), first, day;
	int wd;

	switch (w->kind) {
	case 'J': return jan1 + w->a - 1 + (clk_leap(year) && w->a >= 60);
	case 'N': return jan1 + w->a;
	default: break;
	}
	first = octo_days_from_civil(year, w->a, 1);
	wd = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
	day = first + (w->c - wd + 7) % 7 + 7 * (w->b - 1);
	while (day - first >= clk_month_days(year, w->a))
		day -= 7; /* week 5 means the last one */
	return day;
}

/* Whether daylight saving time is in force at `t` under the POSIX rule. */
static bool tz_posix_isdst(const struct tz_posix *tp, int64_t t)
{
	int64_t year, start, end;
	int m, d;

	if (!tp->has_dst)
		return false;
	octo_civil_from_days(clk_floor_div(t + tp->std_off, 86400), &year, &m, &d);
	/* The start is written in standard time, the end in daylight time. */
	start = tz_when_day(&tp->start, year) * 86400 + tp->start.secs - tp->std_off;
	end = tz_when_day(&tp->end, year) * 86400 + tp->end.secs - tp->dst_off;
	if (start < end)
		return t >= start && t < end;
	return !(t >= end && t < start); /* southern hemisphere: DST spans new year */
}

/* ---- TZif */
struct tz_reader {
	const unsigned char *p;
	size_t len, off;
};

static bool tz_need(const struct tz_reader *r, size_t n)
{
	return n <= r->len - r->off;
}

static uint32_t tz_be32(struct tz_reader *r)
{
	const unsigned char *p = r->p + r->off;

	r->off += 4;
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t tz_be64(struct tz_reader *r)
{
	uint64_t hi = tz_be32(r), lo = tz_be32(r);

	return (int64_t)(hi << 32 | lo);
}

struct tz_header {
	char version;
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static const char *tz_read_header(struct tz_reader *r, struct tz_header *h)
{
	if (!tz_need(r, 44))
		return "truncated header";
	if (memcmp(r->p + r->off, "TZif", 4))
		return "no TZif magic";
	h->version = (char)r->p[r->off + 4];
	if (h->version != 0 && (h->version < '2' || h->version > '4'))
		return "unknown version";
	r->off += 20;
	h->isutcnt = tz_be32(r);
	h->isstdcnt = tz_be32(r);
	h->leapcnt = tz_be32(r);
	h->timecnt = tz_be32(r);
	h->typecnt = tz_be32(r);
	h->charcnt = tz_be32(r);
	if (h->typecnt == 0 || h->typecnt > 256)
		return "bad count of local time types";
	if (h->charcnt == 0 || h->charcnt > 65536)
		return "bad size of the abbreviations";
	if ((h->isutcnt && h->isutcnt != h->typecnt) || (h->isstdcnt && h->isstdcnt != h->typecnt))
		return "bad indicator counts";
	if (h->timecnt > OCTO_TZ_FILE_MAX || h->leapcnt > OCTO_TZ_FILE_MAX)
		return "too many transitions";
	return NULL;
}

/* Size of a data block whose times are `tsize` bytes (4 or 8). */
static size_t tz_block_size(const struct tz_header *h, size_t tsize)
{
	return (size_t)h->timecnt * (tsize + 1) + (size_t)h->typecnt * 6 + h->charcnt +
	       (size_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static const char *tz_read_block(struct tz_reader *r, const struct tz_header *h, size_t tsize,
				 struct octo_tz *tz)
{
	if (!tz_need(r, tz_block_size(h, tsize)))
		return "truncated data";
	if (h->leapcnt)
		return "leap-second zones (right/...) are not supported";
	tz->ntrans = h->timecnt;
	tz->ntypes = h->typecnt;
	tz->nabbrs = h->charcnt;
	tz->trans = calloc(tz->ntrans ? tz->ntrans : 1, sizeof(*tz->trans));
	tz->idx = calloc(tz->ntrans ? tz->ntrans : 1, 1);
	tz->types = calloc(tz->ntypes, sizeof(*tz->types));
	tz->abbrs = calloc(tz->nabbrs + 1, 1);
	if (!tz->trans || !tz->idx || !tz->types || !tz->abbrs)
		return "out of memory";
	for (size_t i = 0; i < tz->ntrans; i++) {
		tz->trans[i] = tsize == 8 ? tz_be64(r) : (int64_t)(int32_t)tz_be32(r);
		if (i && tz->trans[i] <= tz->trans[i - 1])
			return "transition times are not ascending";
	}
	for (size_t i = 0; i < tz->ntrans; i++) {
		tz->idx[i] = r->p[r->off++];
		if (tz->idx[i] >= tz->ntypes)
			return "bad local time type index";
	}
	for (size_t i = 0; i < tz->ntypes; i++) {
		int32_t utoff = (int32_t)tz_be32(r);
		unsigned isdst = r->p[r->off], abbr = r->p[r->off + 1];

		r->off += 2;
		if (utoff < TZ_UTOFF_MIN || utoff > TZ_UTOFF_MAX || isdst > 1 ||
		    abbr >= tz->nabbrs)
			return "bad local time type";
		tz->types[i] = (struct tz_type){ utoff, isdst == 1, (uint8_t)abbr };
	}
	memcpy(tz->abbrs, r->p + r->off, tz->nabbrs);
	r->off += tz->nabbrs + h->isstdcnt + h->isutcnt; /* no leap records: refused above */
	return NULL;
}

static const char *tz_read_footer(struct tz_reader *r, struct octo_tz *tz)
{
	const unsigned char *start, *nl;
	char buf[256];
	size_t n;

	if (!tz_need(r, 1) || r->p[r->off] != '\n')
		return "missing footer";
	start = r->p + r->off + 1;
	nl = memchr(start, '\n', r->len - r->off - 1);
	if (!nl)
		return "unterminated footer";
	n = (size_t)(nl - start);
	if (n == 0)
		return NULL; /* no rule: the last type stays in force */
	if (n >= sizeof(buf))
		return "footer too long";
	memcpy(buf, start, n);
	buf[n] = '\0';
	if (strlen(buf) != n || !tz_posix_parse(buf, &tz->posix))
		return "bad POSIX TZ string in the footer";
	tz->has_posix = true;
	return NULL;
}

struct octo_tz *octo_tz_parse(const char *name, const void *data, size_t len, char *err,
			      size_t errsize)
{
	struct tz_reader r = { data, len, 0 };
	struct tz_header h;
	struct octo_tz *tz;
	const char *why;

	if (!data || len > OCTO_TZ_FILE_MAX) {
		tz_err(err, errsize, "is not a TZif file: %s", data ? "too large" : "no data");
		return NULL;
	}
	tz = calloc(1, sizeof(*tz));
	if (!tz) {
		tz_err(err, errsize, "cannot be loaded: out of memory");
		return NULL;
	}
	tz->name = octo_strdup(name ? name : "");
	why = tz_read_header(&r, &h);
	if (!why && h.version) {
		/* Version 2+: skip the 32-bit block, read the 64-bit one. */
		if (!tz_need(&r, tz_block_size(&h, 4)))
			why = "truncated data";
		else {
			r.off += tz_block_size(&h, 4);
			why = tz_read_header(&r, &h);
		}
		if (!why)
			why = tz_read_block(&r, &h, 8, tz);
		if (!why)
			why = tz_read_footer(&r, tz);
	} else if (!why) {
		why = tz_read_block(&r, &h, 4, tz);
	}
	if (why) {
		tz_err(err, errsize, "is not a TZif file: %s", why);
		octo_tz_free(tz);
		return NULL;
	}
	return tz;
}

/* UTC without any file, for machines without tzdata. */
static struct octo_tz *tz_builtin_utc(const char *name)
{
	static const unsigned char utc[] = {
		'T', 'Z', 'i', 'f', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4,
		0, 0, 0, 0, 0, 0, 'U', 'T', 'C', 0
	};

	return octo_tz_parse(name, utc, sizeof(utc), NULL, 0);
}

/* Letters, digits and "/_+-." with no "." starting a component. */
static bool tz_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (!n || n >= OCTO_TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (c == '.' && (i == 0 || name[i - 1] == '/'))
			return false;
		if (c == '/' && name[i + 1] == '/')
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '+' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Reads a TZif file; NULL with a phrase in err. */
static struct octo_tz *tz_load_file(const char *path, const char *name, char *err,
				    size_t errsize)
{
	struct octo_tz *tz = NULL;
	unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			tz_err(err, errsize, "is not a known time zone (no file %s)", path);
		else
			tz_err(err, errsize, "cannot be read (%s: %s)", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		tz_err(err, errsize, "is not a known time zone (%s is not a file)", path);
		goto out;
	}
	if (st.st_size > OCTO_TZ_FILE_MAX) {
		tz_err(err, errsize, "is not a usable time zone (%s is too large)", path);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		tz_err(err, errsize, "cannot be loaded: out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			tz_err(err, errsize, "cannot be read (%s: %s)", path,
			       n < 0 ? strerror(errno) : "shorter than expected");
			goto out;
		}
		got += (size_t)n;
	}
	{
		char why[160];

		tz = octo_tz_parse(name, buf, got, why, sizeof(why));
		if (!tz)
			tz_err(err, errsize, "is not a usable time zone (%s %s)", path, why);
	}
out:
	free(buf);
	close(fd);
	return tz;
}

static const char *tz_dir(void)
{
	/* Read-only use of the environment: Octo never calls setenv. */
	const char *dir = getenv("TZDIR");

	return dir && dir[0] == '/' ? dir : OCTO_TZ_DIR;
}

static struct octo_tz *tz_load_named(const char *name, char *err, size_t errsize)
{
	char path[PATH_MAX];
	struct octo_tz *tz;
	int n;

	if (!tz_name_valid(name)) {
		tz_err(err, errsize, "is not a time zone name (like Europe/Rome)");
		return NULL;
	}
	n = snprintf(path, sizeof(path), "%s/%s", tz_dir(), name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		tz_err(err, errsize, "is not a time zone name (too long)");
		return NULL;
	}
	tz = tz_load_file(path, name, err, errsize);
	if (!tz && (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC")))
		tz = tz_builtin_utc(name);
	return tz;
}

/* The system's zone: $TZ, else /etc/localtime, else UTC. */
static struct octo_tz *tz_load_system(void)
{
	const char *env = getenv("TZ");
	char link[PATH_MAX], *zi;
	struct octo_tz *tz = NULL;
	ssize_t n;

	if (env && *env) {
		struct tz_posix tp;

		if (*env == ':')
			env++;
		if (*env == '/')
			tz = tz_load_file(env, env, NULL, 0);
		else if (tz_name_valid(env))
			tz = tz_load_named(env, NULL, 0);
		if (!tz && strlen(env) < 256 && tz_posix_parse(env, &tp)) {
			tz = tz_builtin_utc(env);
			if (tz) {
				tz->posix = tp;
				tz->has_posix = true;
			}
		}
		if (tz)
			return tz;
	}
	n = readlink("/etc/localtime", link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		zi = strstr(link, "zoneinfo/");
		if (zi && tz_name_valid(zi + 9))
			tz = tz_load_file("/etc/localtime", zi + 9, NULL, 0);
	}
	if (!tz)
		tz = tz_load_file("/etc/localtime", "localtime", NULL, 0);
	return tz ? tz : tz_builtin_utc("UTC");
}

struct octo_tz *octo_tz_load(const char *name, char *err, size_t errsize)
{
	if (!name || !*name)
		return tz_load_system();
	return tz_load_named(name, err, errsize);
}

int octo_tz_localtime(const struct octo_tz *tz, time_t t, struct tm *out)
{
	int64_t tt = (int64_t)t, local, days, secs, year;
	int32_t utoff;
	bool isdst;
	const char *abbr;
	int m, d;

	memset(out, 0, sizeof(*out));
	if (!tz || tt > INT64_MAX / 2 || tt < INT64_MIN / 2)
		return OCTO_EINVAL;
	if (tz->has_posix && (!tz->ntrans || tt >= tz->trans[tz->ntrans - 1])) {
		isdst = tz_posix_isdst(&tz->posix, tt);
		utoff = isdst ? tz->posix.dst_off : tz->posix.std_off;
		abbr = isdst ? tz->posix.dst_abbr : tz->posix.std_abbr;
	} else {
		const struct tz_type *ty = &tz->types[0];

		if (tz->ntrans && tt >= tz->trans[0]) {
			size_t lo = 0, hi = tz->ntrans; /* last transition <= tt */

			while (hi - lo > 1) {
				size_t mid = lo + (hi - lo) / 2;

				if (tz->trans[mid] <= tt)
					lo = mid;
				else
					hi = mid;
			}
			ty = &tz->types[tz->idx[lo]];
		}
		utoff = ty->utoff;
		isdst = ty->isdst;
		abbr = tz->abbrs + ty->abbr;
	}
	local = tt + utoff;
	days = clk_floor_div(local, 86400);
	secs = local - days * 86400;
	octo_civil_from_days(days, &year, &m, &d);
	if (year - 1900 > INT_MAX || year - 1900 < INT_MIN)
		return OCTO_EINVAL;
	out->tm_year = (int)(year - 1900);
	out->tm_mon = m - 1;
	out->tm_mday = d;
	out->tm_hour = (int)(secs / 3600);
	out->tm_min = (int)(secs / 60 % 60);
	out->tm_sec = (int)(secs % 60);
	out->tm_wday = (int)(((days % 7) + 7 + 4) % 7);
	out->tm_yday = (int)(days - octo_days_from_civil(year, 1, 1));
	out->tm_isdst = isdst;
	out->tm_gmtoff = utoff;
	out->tm_zone = abbr;
	return 0;
}

/* ---------------------------------------------------------------- CLI */

/* "2026-01-05 10:00:00 CET" in `tz` (UTC when NULL). */
static void clk_format(const struct octo_tz *tz, time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!tz) {
		if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm))
			octo_strlcpy(buf, "?", size);
		return;
	}
	if (octo_tz_localtime(tz, t, &tm) ||
	    !strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z (%a)", &tm))
		octo_strlcpy(buf, "?", size);
}

static void clk_show(struct octo_cli_out *out)
{
	struct octo_tz *sys = octo_tz_load(NULL, NULL, 0);
	time_t real = time(NULL), pbx = real + (time_t)octo_clock_offset();
	char buf[96];

	clk_format(NULL, real, buf, sizeof(buf));
	octo_cli_kv(out, "real time", "%s", buf);
	octo_cli_kv(out, "offset", "%lld s", (long long)octo_clock_offset());
	clk_format(NULL, pbx, buf, sizeof(buf));
	octo_cli_kv(out, "pbx time", "%s", buf);
	octo_cli_kv(out, "pbx epoch", "%lld", (long long)pbx);
	if (sys) {
		clk_format(sys, pbx, buf, sizeof(buf));
		octo_cli_kv(out, "pbx local time", "%s", buf);
		octo_cli_kv(out, "system time zone", "%s", octo_tz_name(sys));
	}
	octo_tz_free(sys);
}

static int clk_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	if (argc != 3)
		return OCTO_CLI_USAGE;
	clk_show(out);
	return OCTO_CLI_OK;
}

static int clk_cli_set_offset(struct octo_cli_out *out, int argc, char **argv)
{
	long long v;
	char *end;

	if (argc != 5)
		return OCTO_CLI_USAGE;
	errno = 0;
	v = strtoll(argv[4], &end, 10);
	if (errno || end == argv[4] || *end || octo_clock_set_offset(v)) {
		octo_cli_error(out, "\"%.64s\" is not a number of seconds within +-%lld.", argv[4],
			       (long long)OCTO_CLOCK_OFFSET_MAX);
		return OCTO_CLI_FAIL;
	}
	octo_log(OCTO_NOTICE, "PBX clock offset set to %lld s (meant for tests)", v);
	clk_show(out);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd clk_cli[] = {
	{ "core show clock", "Show the PBX clock: real time, test offset, PBX time", NULL,
	  clk_cli_show, NULL },
	{ "core set clock offset", "Move the PBX clock by some seconds (for tests; 0 resets)",
	  "core set clock offset <seconds>", clk_cli_set_offset, NULL },
	{ 0 }
};

int octo_clock_cli_init(void)
{
	return octo_cli_register_all(NULL, clk_cli);
}
