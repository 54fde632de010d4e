/*
 * app_timetable.c - opening hours: timetables.conf (hours per weekday,
 * holidays, exceptions, a time zone per timetable), the dialplan application
 * CheckTimetable, the function TIMETABLE and the CLI
 *
 *   timetable show [<name>]                  definitions, open or closed now and why
 *   timetable test <name> "YYYY-MM-DD HH:MM" what the check says at that local time
 *
 * CheckTimetable(name,procedure_if_closed[,number])
 *   When the timetable is closed at the PBX time (octo_time(), so tests can
 *   move it with "core set clock offset"), the call jumps to the first step
 *   of procedure_if_closed for `number` (default: the current called
 *   number); when it is open, the next step runs. ${TIMETABLE} becomes OPEN
 *   or CLOSED and ${TIMETABLE_REASON} the reason, which the step log shows
 *   too ("closed: holiday 2026-12-25", "open: mon 08:30-12:30").
 *
 * DESIGN
 *  - Which rule applies on a date: the holiday or exception whose dates
 *    cover it with the fewest days wins (so "holiday 12-25" beats "exception
 *    12-01..12-31 09:00-13:00", and "exception 12-30" beats "holiday
 *    12-24..12-31"); on a tie an exception beats a holiday, then the first
 *    written wins. With none, the weekday's hours apply.
 *  - Times are local to the timetable's zone, converted with core/clock.c's
 *    own TZif reader (thread-safe: no setenv("TZ"), see clock.h).
 *  - All timetables form an immutable refcounted snapshot (struct tt_set).
 *    Load and reload build a complete new one; only a set without a single
 *    error is swapped in, under tt_lock (guarding the pointer only).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/clock.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"

#define TT_FILE "timetables.conf"
#define TT_NAME_MAX 64      /* bytes of a timetable name */
#define TT_RANGES_MAX 16    /* time ranges per day */
#define TT_DATES_MAX 1000   /* holidays + exceptions per timetable */
#define TT_LABEL_MAX 80     /* bytes of a holiday's label */
#define TT_SPEC_MAX 32      /* "2026-12-24..2026-12-31" */
#define TT_WHY_MAX 256

static const char *const tt_day_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };

/* Opening hours of one day: disjoint ranges sorted by start; none = closed. */
struct tt_hours {
	unsigned n;
	struct {
		uint16_t from, to; /* minutes from midnight, from < to <= 1440 */
	} r[TT_RANGES_MAX];
};

enum tt_kind { TT_HOLIDAY, TT_EXCEPTION };

/* A holiday or an exception. */
struct tt_date {
	enum tt_kind kind;
	bool yearly;            /* MM-DD: every year */
	int64_t from, to;       /* days since 1970-01-01, or month * 100 + day when yearly */
	int span;               /* days covered - 1 */
	char spec[TT_SPEC_MAX]; /* as normalised: "2026-12-24..2026-12-31", "12-25" */
	char label[TT_LABEL_MAX];
	struct tt_hours hours;  /* exceptions: the hours of those days */
};

struct tt_table {
	char *name;
	char *description;
	char *file;
	int line;
	struct octo_tz *tz;
	struct tt_hours week[7]; /* by tm_wday: 0 = Sunday */
	struct tt_date *dates;
	size_t ndates;
};

/* Every timetable, sorted by name. */
struct tt_set {
	struct tt_table **tables;
	size_t count;
};

static pthread_rwlock_t tt_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct tt_set *tt_current; /* guarded by tt_lock */

/* ---------------------------------------------------------------- small helpers */
static void tt_cat(char *buf, size_t size, size_t *off, const char *fmt, ...) OCTO_PRINTF(4, 5);
static void tt_cat(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off = *off + (size_t)n < size ? *off + (size_t)n : size;
}

/* "08:30-12:30,14:00-18:00", or "closed". */
static void tt_hours_text(const struct tt_hours *h, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!h->n) {
		octo_strlcpy(buf, "closed", size);
		return;
	}
	for (unsigned i = 0; i < h->n; i++)
		tt_cat(buf, size, &off, "%s%02u:%02u-%02u:%02u", i ? "," : "", h->r[i].from / 60u,
		       h->r[i].from % 60u, h->r[i].to / 60u, h->r[i].to % 60u);
}

static bool tt_name_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!(isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			return false;
	return n > 0 && n < TT_NAME_MAX;
}

/* ---------------------------------------------------------------- parsing values */

/* "8:30" or "08:30" (0..24:00) -> minutes, or -1. `len` bytes of `s`. */
static int tt_parse_clock(const char *s, size_t len)
{
	size_t colon = 0;
	int h = 0, m;

	while (colon < len && s[colon] != ':')
		colon++;
	if (colon == 0 || colon > 2 || len != colon + 3)
		return -1;
	for (size_t i = 0; i < len; i++)
		if (i != colon && !isdigit((unsigned char)s[i]))
			return -1;
	for (size_t i = 0; i < colon; i++)
		h = h * 10 + (s[i] - '0');
	m = (s[colon + 1] - '0') * 10 + (s[colon + 2] - '0');
	if (h > 24 || m > 59 || (h == 24 && m))
		return -1;
	return h * 60 + m;
}

/*
 * Adds the range written in `tok` (`len` bytes, "HH:MM-HH:MM") to `h`, kept
 * sorted. Returns false with the error (what follows "key: ") in err.
 */
static bool tt_add_range(struct tt_hours *h, const char *tok, size_t len, char *err, size_t esize)
{
	char shown[OCTO_CFG_CLEAN], raw[OCTO_CFG_CLEAN];
	const char *dash = memchr(tok, '-', len);
	int from, to;
	unsigned pos;

	octo_strlcpy(raw, tok, len + 1 < sizeof(raw) ? len + 1 : sizeof(raw));
	octo_cfg_clean(shown, raw);
	from = dash ? tt_parse_clock(tok, (size_t)(dash - tok)) : -1;
	to = dash ? tt_parse_clock(dash + 1, len - (size_t)(dash - tok) - 1) : -1;
	if (from < 0 || to < 0 || from == 1440) {
		snprintf(err, esize, "\"%s\" is not a time range HH:MM-HH:MM", shown);
		return false;
	}
	if (to <= from) {
		snprintf(err, esize,
			 "\"%s\" does not end after it starts (past midnight, write two ranges: "
			 "until 24:00, and from 00:00 on the next day)",
			 shown);
		return false;
	}
	for (unsigned i = 0; i < h->n; i++) {
		if (from < h->r[i].to && h->r[i].from < to) {
			snprintf(err, esize, "\"%s\" overlaps \"%02u:%02u-%02u:%02u\"", shown,
				 h->r[i].from / 60u, h->r[i].from % 60u, h->r[i].to / 60u,
				 h->r[i].to % 60u);
			return false;
		}
	}
	if (h->n == TT_RANGES_MAX) {
		snprintf(err, esize, "more than %d time ranges", TT_RANGES_MAX);
		return false;
	}
	for (pos = h->n; pos > 0 && h->r[pos - 1].from > from; pos--)
		h->r[pos] = h->r[pos - 1];
	h->r[pos].from = (uint16_t)from;
	h->r[pos].to = (uint16_t)to;
	h->n++;
	return true;
}

static bool tt_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Parses opening hours at *pp: "closed", or ranges separated by commas
 * (blanks around them allowed). With `rest` false the whole text must be
 * hours; otherwise parsing stops after the last range (or "closed") and *pp
 * points to what follows.
 */
static bool tt_parse_hours(const char **pp, bool rest, struct tt_hours *h, char *err, size_t esize)
{
	const char *p = *pp;

	memset(h, 0, sizeof(*h));
	while (tt_blank(*p))
		p++;
	if (!*p) {
		snprintf(err, esize,
			 "no hours (write closed, or ranges like 08:30-12:30,14:00-18:00)");
		return false;
	}
	if (!strncasecmp(p, "closed", 6) && (!p[6] || tt_blank(p[6]))) {
		p += 6;
		while (tt_blank(*p))
			p++;
		if (*p && !rest) {
			snprintf(err, esize, "\"closed\" cannot be followed by anything");
			return false;
		}
		*pp = p;
		return true;
	}
	for (;;) {
		const char *tok = p;

		while (*p && *p != ',' && !tt_blank(*p))
			p++;
		if (p == tok) {
			snprintf(err, esize, "an empty time range between commas");
			return false;
		}
		if (!tt_add_range(h, tok, (size_t)(p - tok), err, esize))
			return false;
		while (tt_blank(*p))
			p++;
		if (*p == ',') {
			p++;
			while (tt_blank(*p))
				p++;
			continue;
		}
		if (*p && !rest) {
			const char *end = p;
			char raw[OCTO_CFG_CLEAN], shown[OCTO_CFG_CLEAN];

			while (*end && *end != ',')
				end++;
			octo_strlcpy(raw, p,
				     (size_t)(end - p) + 1 < sizeof(raw) ? (size_t)(end - p) + 1
									 : sizeof(raw));
			snprintf(err, esize, "\"%s\" is not a time range HH:MM-HH:MM",
				 octo_cfg_clean(shown, raw));
			return false;
		}
		*pp = p;
		return true;
	}
}

/* One date: "YYYY-MM-DD" (dated) or "MM-DD" (yearly). */
static bool tt_parse_one_date(const char *s, size_t len, bool *yearly, int64_t *value)
{
	int64_t y = 0;
	int m, d;
	const char *md = s;

	for (size_t i = 0; i < len; i++)
		if (!isdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
	if (len == 10 && s[4] == '-' && s[7] == '-') {
		for (int i = 0; i < 4; i++)
			y = y * 10 + (s[i] - '0');
		md = s + 5;
		*yearly = false;
	} else if (len == 5 && s[2] == '-') {
		*yearly = true;
	} else {
		return false;
	}
	if (md[2] != '-' || !isdigit((unsigned char)md[0]) || !isdigit((unsigned char)md[1]) ||
	    !isdigit((unsigned char)md[3]) || !isdigit((unsigned char)md[4]))
		return false;
	m = (md[0] - '0') * 10 + (md[1] - '0');
	d = (md[3] - '0') * 10 + (md[4] - '0');
	if (m < 1 || m > 12 || d < 1)
		return false;
	if (*yearly) {
		/* Month lengths of a leap year: 02-29 happens in leap years. */
		static const int mlen[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

		if (d > mlen[m - 1])
			return false;
		*value = m * 100 + d;
		return true;
	}
	if (y < 1900 || y > 9999)
		return false;
	{
		int64_t yy;
		int mm, dd;
		int64_t days = octo_days_from_civil(y, m, d);

		octo_civil_from_days(days, &yy, &mm, &dd);
		if (yy != y || mm != m || dd != d)
			return false; /* 2026-02-30 */
		*value = days;
	}
	return true;
}

/* Day of the year of a yearly MM-DD in a leap year (0..365). */
static int tt_md_doy(int64_t md)
{
	return (int)(octo_days_from_civil(2000, (int)(md / 100), (int)(md % 100)) -
		     octo_days_from_civil(2000, 1, 1));
}

/*
 * Parses the date (or range) at the start of `*pp` into `d` and advances
 * past it. Returns false with the error in err.
 */
static bool tt_parse_date_spec(const char **pp, struct tt_date *d, char *err, size_t esize)
{
	const char *p = *pp, *tok, *dots;
	char raw[OCTO_CFG_CLEAN], shown[OCTO_CFG_CLEAN];
	size_t len;
	bool y1, y2;
	int64_t a, b;

	while (tt_blank(*p))
		p++;
	tok = p;
	while (*p && !tt_blank(*p))
		p++;
	len = (size_t)(p - tok);
	if (!len) {
		snprintf(err, esize, "no date (like 2026-12-25, 12-25 for every year, or "
				     "2026-12-24..2026-12-31)");
		return false;
	}
	octo_strlcpy(raw, tok, len + 1 < sizeof(raw) ? len + 1 : sizeof(raw));
	octo_cfg_clean(shown, raw);
	if (len >= TT_SPEC_MAX)
		goto bad; /* longer than the longest range */
	dots = strstr(raw, "..");
	if (dots) {
		size_t l1 = (size_t)(dots - raw);

		if (!tt_parse_one_date(raw, l1, &y1, &a) ||
		    !tt_parse_one_date(dots + 2, strlen(dots + 2), &y2, &b))
			goto bad;
		if (y1 != y2) {
			snprintf(err, esize, "\"%s\" mixes a date of one year and a yearly date",
				 shown);
			return false;
		}
		if (!y1 && b < a) {
			snprintf(err, esize, "\"%s\" ends before it starts", shown);
			return false;
		}
	} else {
		if (!tt_parse_one_date(raw, len, &y1, &a))
			goto bad;
		b = a;
	}
	d->yearly = y1;
	d->from = a;
	d->to = b;
	if (y1) {
		int span = tt_md_doy(b) - tt_md_doy(a);

		d->span = span < 0 ? span + 366 : span; /* 12-24..01-06 wraps */
	} else {
		d->span = (int)(b - a);
	}
	octo_strlcpy(d->spec, raw, sizeof(d->spec));
	*pp = p;
	return true;
bad:
	snprintf(err, esize,
		 "\"%s\" is not a date (YYYY-MM-DD, MM-DD for every year, or a range "
		 "FROM..TO)",
		 shown);
	return false;
}

static void tt_set_label(struct tt_date *d, const char *p)
{
	size_t n;

	while (tt_blank(*p))
		p++;
	if (octo_strlcpy(d->label, p, sizeof(d->label)) >= sizeof(d->label)) {
		/* Cut: do not leave half a UTF-8 character at the end. */
		n = strlen(d->label);
		while (n && ((unsigned char)d->label[n - 1] & 0xC0) == 0x80)
			n--;
		if (n && (unsigned char)d->label[n - 1] >= 0xC0)
			n--;
		d->label[n] = '\0';
	}
	n = strlen(d->label);
	while (n && tt_blank(d->label[n - 1]))
		d->label[--n] = '\0';
	for (char *s = d->label; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* holiday = DATE[..DATE] [label]   exception = DATE[..DATE] HOURS|closed [label] */
static bool tt_parse_date_line(enum tt_kind kind, const char *value, struct tt_date *d, char *err,
			       size_t esize)
{
	const char *p = value;

	memset(d, 0, sizeof(*d));
	d->kind = kind;
	if (!tt_parse_date_spec(&p, d, err, esize))
		return false;
	if (kind == TT_EXCEPTION && !tt_parse_hours(&p, true, &d->hours, err, esize))
		return false;
	tt_set_label(d, p);
	return true;
}

/* "mon" -> 1, ... ; -1 when not a day name. */
static int tt_day_index(const char *s, size_t len)
{
	for (int i = 0; i < 7; i++)
		if (len == 3 && !strncasecmp(s, tt_day_names[i], 3))
			return i;
	return -1;
}

/* Which days a key names: "mon", or a range "mon-fri" (may wrap: "fri-mon").
 * Fills days[7]; false when the key is not a day key. */
static bool tt_day_key(const char *key, bool days[7])
{
	const char *dash = strchr(key, '-');
	int a, b;

	memset(days, 0, 7 * sizeof(bool));
	if (!dash) {
		a = tt_day_index(key, strlen(key));
		if (a < 0)
			return false;
		days[a] = true;
		return true;
	}
	a = tt_day_index(key, (size_t)(dash - key));
	b = tt_day_index(dash + 1, strlen(dash + 1));
	if (a < 0 || b < 0)
		return false;
	for (int i = a;; i = (i + 1) % 7) {
		days[i] = true;
		if (i == b)
			break;
	}
	return true;
}

/* ---------------------------------------------------------------- building */

/* What octo_cfg_bind fills. */
struct tt_cfg {
	char *description;
	struct octo_tz *tz;
	int unused; /* the field of the keys parsed by hand (listed for "did you mean") */
};

static _Thread_local char tt_tz_error[256];

static const char *tt_set_tz(void *field, const char *value)
{
	struct octo_tz **tz = field;

	if (!*value)
		return NULL; /* the system's zone, set after the bind */
	*tz = octo_tz_load(value, tt_tz_error, sizeof(tt_tz_error));
	return *tz ? NULL : tt_tz_error;
}

static void tt_free_tz(void *field)
{
	struct octo_tz **tz = field;

	octo_tz_free(*tz);
	*tz = NULL;
}

static const char *tt_set_by_hand(void *field, const char *value)
{
	return NULL; /* never called: tt_ignore() hands these keys to tt_build_table */
}

#define TT_HAND(k, d)                                                                              \
	{ .key = (k), .type = OCTO_CFG_T_CUSTOM, .offset = offsetof(struct tt_cfg, unused),       \
	  .set = tt_set_by_hand, .doc = (d) }

static const struct octo_cfg_opt tt_opts[] = {
	{ .key = "description", .type = OCTO_CFG_T_STR,
	  .offset = offsetof(struct tt_cfg, description), .doc = "text shown by timetable show" },
	{ .key = "timezone", .type = OCTO_CFG_T_CUSTOM, .offset = offsetof(struct tt_cfg, tz),
	  .set = tt_set_tz, .free = tt_free_tz,
	  .doc = "IANA zone of the hours (Europe/Rome); default: the system's" },
	TT_HAND("mon", "opening hours on Mondays: ranges HH:MM-HH:MM, or closed"),
	TT_HAND("tue", "Tuesdays"),
	TT_HAND("wed", "Wednesdays"),
	TT_HAND("thu", "Thursdays"),
	TT_HAND("fri", "Fridays"),
	TT_HAND("sat", "Saturdays"),
	TT_HAND("sun", "Sundays"),
	TT_HAND("holiday", "closed on a date, a yearly date or a range (repeatable)"),
	TT_HAND("exception", "other hours on a date or a range (repeatable)"),
	OCTO_CFG_END
};

static bool tt_ignore(const char *key)
{
	bool days[7];

	return tt_day_key(key, days) || !strcasecmp(key, "holiday") ||
	       !strcasecmp(key, "exception");
}

static void tt_table_free(struct tt_table *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->description);
	free(t->file);
	octo_tz_free(t->tz);
	free(t->dates);
	free(t);
}

/* Builds one timetable from its section; NULL when it has errors (in diags). */
static struct tt_table *tt_build_table(const struct octo_cfg_section *sec, struct octo_diags *diags)
{
	char sb[OCTO_CFG_CLEAN], err[512];
	size_t errors = diags->errors, cap = 0;
	struct tt_cfg cfg = { 0 };
	struct tt_table *t;

	if (!tt_name_valid(sec->name)) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "[%s] is not a valid timetable name (letters, digits, '_', '-', "
			       "'.'; at most %d)",
			       octo_cfg_clean(sb, sec->name), TT_NAME_MAX - 1);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line, "out of memory");
		return NULL;
	}
	t->name = octo_strdup(sec->name);
	t->file = octo_strdup(sec->file ? sec->file : TT_FILE);
	t->line = sec->line;
	octo_cfg_bind(sec, tt_opts, &cfg, tt_ignore, diags);
	t->description = cfg.description;
	cfg.description = NULL;
	t->tz = cfg.tz;
	cfg.tz = NULL;
	octo_cfg_unbind(tt_opts, &cfg);
	if (!t->tz)
		t->tz = octo_tz_load(NULL, NULL, 0);

	/* Keys in file order (inherited first): a later day key replaces an earlier one. */
	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
		bool days[7];

		err[0] = '\0';
		if (tt_day_key(v->name, days)) {
			struct tt_hours h;
			const char *p = v->value;

			if (!tt_parse_hours(&p, false, &h, err, sizeof(err)))
				goto bad;
			for (int i = 0; i < 7; i++)
				if (days[i])
					t->week[i] = h;
		} else if (!strcasecmp(v->name, "holiday") || !strcasecmp(v->name, "exception")) {
			struct tt_date d;

			if (!tt_parse_date_line(!strcasecmp(v->name, "holiday") ? TT_HOLIDAY
										 : TT_EXCEPTION,
						v->value, &d, err, sizeof(err)))
				goto bad;
			if (t->ndates == TT_DATES_MAX) {
				snprintf(err, sizeof(err), "more than %d holidays and exceptions",
					 TT_DATES_MAX);
				goto bad;
			}
			if (t->ndates == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct tt_date *grown = realloc(t->dates, ncap * sizeof(*grown));

				if (!grown) {
					snprintf(err, sizeof(err), "out of memory");
					goto bad;
				}
				t->dates = grown;
				cap = ncap;
			}
			t->dates[t->ndates++] = d;
		}
		continue;
bad:
		octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line, "[%s] %s: %s",
			       octo_cfg_clean(sb, sec->name), v->name, err);
	}
	if (diags->errors != errors || !t->tz) {
		if (!t->tz)
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "[%s] cannot load any time zone",
				       octo_cfg_clean(sb, sec->name));
		tt_table_free(t);
		return NULL;
	}
	return t;
}

static void tt_set_destroy(void *obj)
{
	struct tt_set *set = obj;

	for (size_t i = 0; i < set->count; i++)
		tt_table_free(set->tables[i]);
	free(set->tables);
}

static int tt_cmp(const void *a, const void *b)
{
	return strcmp((*(struct tt_table *const *)a)->name, (*(struct tt_table *const *)b)->name);
}

/* Reads timetables.conf from `config_dir` into a new set; NULL when there
 * was at least one error (all of them in diags). */
static struct tt_set *tt_build(const char *config_dir, struct octo_diags *diags)
{
	size_t errors = diags->errors, n = 0;
	struct octo_cfg *cfg;
	struct tt_set *set;

	set = octo_obj_alloc(sizeof(*set), tt_set_destroy);
	if (!set) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, TT_FILE, 0, "out of memory");
		return NULL;
	}
	cfg = octo_cfg_load(config_dir, TT_FILE, true, diags);
	if (!cfg) {
		octo_obj_unref(set);
		return NULL;
	}
	for (const struct octo_cfg_section *s = octo_cfg_first(cfg); s; s = octo_cfg_next(s))
		n++;
	set->tables = calloc(n ? n : 1, sizeof(*set->tables));
	if (!set->tables)
		octo_diags_add(diags, OCTO_DIAG_ERROR, TT_FILE, 0, "out of memory");
	for (const struct octo_cfg_section *s = octo_cfg_first(cfg); s && set->tables;
	     s = octo_cfg_next(s)) {
		struct tt_table *t = tt_build_table(s, diags);

		if (t)
			set->tables[set->count++] = t;
	}
	octo_cfg_free(cfg);
	if (diags->errors != errors) {
		octo_obj_unref(set);
		return NULL;
	}
	qsort(set->tables, set->count, sizeof(*set->tables), tt_cmp);
	return set;
}

/* Swaps `set` in (takes the caller's reference) and drops the old one. */
static void tt_install(struct tt_set *set)
{
	struct tt_set *old;

	pthread_rwlock_wrlock(&tt_lock);
	old = tt_current;
	tt_current = set;
	pthread_rwlock_unlock(&tt_lock);
	octo_obj_unref(old);
	if (set)
		octo_verbose(2, "timetables: %zu timetable%s", set->count,
			     set->count == 1 ? "" : "s");
}

/* A new reference on the running set, or NULL. */
static struct tt_set *tt_get_set(void)
{
	struct tt_set *set;

	pthread_rwlock_rdlock(&tt_lock);
	set = octo_obj_ref(tt_current);
	pthread_rwlock_unlock(&tt_lock);
	return set;
}

/* Borrowed from `set`. */
static const struct tt_table *tt_find(const struct tt_set *set, const char *name)
{
	size_t lo = 0, hi = set ? set->count : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, set->tables[mid]->name);

		if (!c)
			return set->tables[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* ---------------------------------------------------------------- evaluation */

static bool tt_date_covers(const struct tt_date *d, int64_t days, int month, int mday)
{
	int64_t md = month * 100 + mday;

	if (!d->yearly)
		return days >= d->from && days <= d->to;
	if (d->from <= d->to)
		return md >= d->from && md <= d->to;
	return md >= d->from || md <= d->to;
}

/* The holiday or exception that rules the day, or NULL (see DESIGN). */
static const struct tt_date *tt_date_rule(const struct tt_table *t, int64_t days, int month,
					  int mday)
{
	const struct tt_date *best = NULL;

	for (size_t i = 0; i < t->ndates; i++) {
		const struct tt_date *d = &t->dates[i];

		if (!tt_date_covers(d, days, month, mday))
			continue;
		if (!best || d->span < best->span ||
		    (d->span == best->span && d->kind == TT_EXCEPTION && best->kind == TT_HOLIDAY))
			best = d;
	}
	return best;
}

/*
 * Whether `t` is open on the local date year-month-mday at `minute` past
 * midnight; the reason goes into why ("open: mon 08:30-12:30").
 */
static bool tt_eval(const struct tt_table *t, int64_t year, int month, int mday, int minute,
		    char *why, size_t size)
{
	int64_t days = octo_days_from_civil(year, month, mday);
	int wday = (int)(((days % 7) + 7 + 4) % 7);
	const struct tt_date *d = tt_date_rule(t, days, month, mday);
	const struct tt_hours *h = &t->week[wday];
	char what[TT_SPEC_MAX + 16], label[TT_LABEL_MAX + 4] = "", hours[TT_RANGES_MAX * 12 + 8];
	size_t off = 0;

	if (d && d->label[0])
		snprintf(label, sizeof(label), " (%s)", d->label);
	if (d && d->kind == TT_HOLIDAY) {
		snprintf(why, size, "closed: holiday %s%s", d->spec, label);
		return false;
	}
	if (d) {
		snprintf(what, sizeof(what), "exception %s", d->spec);
		h = &d->hours;
	} else {
		octo_strlcpy(what, tt_day_names[wday], sizeof(what));
	}
	for (unsigned i = 0; i < h->n; i++) {
		if (minute >= h->r[i].from && minute < h->r[i].to) {
			snprintf(why, size, "open: %s %02u:%02u-%02u:%02u%s", what,
				 h->r[i].from / 60u, h->r[i].from % 60u, h->r[i].to / 60u,
				 h->r[i].to % 60u, label);
			return true;
		}
	}
	if (!h->n) {
		snprintf(why, size, "closed: %s closed all day%s", what, label);
		return false;
	}
	tt_hours_text(h, hours, sizeof(hours));
	why[0] = '\0';
	tt_cat(why, size, &off, "closed: %s outside %s%s", what, hours, label);
	return false;
}

/* The check at PBX time `now`; `when` gets "2026-01-05 10:00 CET". */
static bool tt_eval_at(const struct tt_table *t, time_t now, char *why, size_t size, char *when,
		       size_t wsize)
{
	struct tm tm;

	if (octo_tz_localtime(t->tz, now, &tm)) {
		snprintf(why, size, "closed: the time %lld cannot be converted", (long long)now);
		if (when)
			octo_strlcpy(when, "?", wsize);
		return false;
	}
	if (when && !strftime(when, wsize, "%Y-%m-%d %H:%M %Z", &tm))
		octo_strlcpy(when, "?", wsize);
	return tt_eval(t, (int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		       tm.tm_hour * 60 + tm.tm_min, why, size);
}

/* ---------------------------------------------------------------- dialplan */

/* CheckTimetable(name,procedure_if_closed[,number]) */
static int tt_app_check(struct octo_channel *chan, char *args)
{
	char *argv[4], why[TT_WHY_MAX], when[64], number[128];
	int argc = octo_args_split(args, argv, 4);
	const struct tt_table *t;
	struct tt_set *set;
	bool open;
	int rc;

	if (argc < 2 || argc > 3 || !*argv[0] || !*argv[1]) {
		octo_chan_step(chan, "CheckTimetable: expected name,procedure_if_closed[,number]");
		return OCTO_EINVAL;
	}
	set = tt_get_set();
	t = tt_find(set, argv[0]);
	if (!t) {
		octo_chan_step(chan, "CheckTimetable: no timetable \"%s\" in %s", argv[0], TT_FILE);
		octo_obj_unref(set);
		return OCTO_ENOTFOUND;
	}
	open = tt_eval_at(t, octo_time(), why, sizeof(why), when, sizeof(when));
	octo_chan_step(chan, "CheckTimetable(%s): %s (%s, %s)", t->name, why, when,
		       octo_tz_name(t->tz));
	octo_obj_unref(set);
	octo_chan_var_set(chan, "TIMETABLE", open ? "OPEN" : "CLOSED");
	octo_chan_var_set(chan, "TIMETABLE_REASON", why);
	if (open)
		return OCTO_APP_CONTINUE;
	octo_strlcpy(number,
		     argc == 3 && *argv[2] ? argv[2] : octo_chan_peek(chan, OCTO_CHAN_CALLED),
		     sizeof(number));
	rc = octo_pbx_goto(chan, argv[1], number, NULL);
	return rc ? rc : OCTO_APP_CONTINUE;
}

/* ${TIMETABLE(name)}: OPEN or CLOSED now. */
static int tt_func(struct octo_channel *chan, const char *args, char *buf, size_t size)
{
	struct tt_set *set = tt_get_set();
	const struct tt_table *t = tt_find(set, args);
	char why[TT_WHY_MAX];
	int rc = OCTO_ENOTFOUND;

	if (t) {
		octo_strlcpy(buf, tt_eval_at(t, octo_time(), why, sizeof(why), NULL, 0) ? "OPEN"
											 : "CLOSED",
			     size);
		rc = 0;
	}
	octo_obj_unref(set);
	return rc;
}

static const struct octo_app tt_apps[] = {
	{ .name = "CheckTimetable", .synopsis = "Route a call by opening hours",
	  .syntax = "CheckTimetable(name,procedure_if_closed[,number])",
	  .description =
		  "Checks the timetable `name` of timetables.conf at the PBX time, in the "
		  "timetable's time zone. Closed: the call jumps to the first step of "
		  "procedure_if_closed for `number` (default: the current called number). "
		  "Open: the next step runs. Sets ${TIMETABLE} to OPEN or CLOSED and "
		  "${TIMETABLE_REASON} to why (\"closed: holiday 2026-12-25\", \"open: mon "
		  "08:30-12:30\"), which the step log shows too. An unknown timetable ends the "
		  "call (the step log says so).",
	  .exec = tt_app_check },
	{ 0 }
};

static const struct octo_func tt_funcs[] = {
	{ .name = "TIMETABLE", .synopsis = "OPEN or CLOSED: a timetable now",
	  .syntax = "${TIMETABLE(name)}", .read = tt_func },
	{ 0 }
};

/* ---------------------------------------------------------------- CLI */

static void tt_complete_name(struct octo_cli_completion *c, int pos, const char *partial)
{
	struct tt_set *set;
	size_t len = partial ? strlen(partial) : 0;

	if (pos != 0)
		return;
	set = tt_get_set();
	for (size_t i = 0; set && i < set->count; i++)
		if (!len || !strncmp(set->tables[i]->name, partial, len))
			octo_cli_complete_add(c, set->tables[i]->name);
	octo_obj_unref(set);
}

static void tt_show_one(struct octo_cli_out *out, const struct tt_table *t)
{
	char why[TT_WHY_MAX], when[64], hours[TT_RANGES_MAX * 12 + 8];
	bool open = tt_eval_at(t, octo_time(), why, sizeof(why), when, sizeof(when));

	octo_cli_kv(out, "timetable", "%s", t->name);
	octo_cli_kv(out, "description", "%s", t->description ? t->description : "");
	octo_cli_kv(out, "timezone", "%s", octo_tz_name(t->tz));
	octo_cli_kv(out, "local time", "%s", when);
	octo_cli_kv(out, "now", "%s", open ? "OPEN" : "CLOSED");
	octo_cli_kv(out, "why", "%s", why);
	octo_cli_kv(out, "defined at", "%s:%d", t->file, t->line);
	octo_cli_columns(out, "when", "hours", "note", NULL);
	for (int i = 1; i <= 7; i++) {
		tt_hours_text(&t->week[i % 7], hours, sizeof(hours));
		octo_cli_row(out, tt_day_names[i % 7], hours, "", NULL);
	}
	for (size_t i = 0; i < t->ndates; i++) {
		const struct tt_date *d = &t->dates[i];
		char what[TT_SPEC_MAX + 16];

		snprintf(what, sizeof(what), "%s %s",
			 d->kind == TT_HOLIDAY ? "holiday" : "exception", d->spec);
		if (d->kind == TT_HOLIDAY)
			octo_strlcpy(hours, "closed", sizeof(hours));
		else
			tt_hours_text(&d->hours, hours, sizeof(hours));
		octo_cli_row(out, what, hours, d->label, NULL);
	}
}

static int tt_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct tt_set *set;
	time_t now = octo_time();

	if (argc > 3)
		return OCTO_CLI_USAGE;
	set = tt_get_set();
	if (!set) {
		octo_cli_error(out, "No timetables loaded.");
		return OCTO_CLI_FAIL;
	}
	if (argc == 3) {
		const struct tt_table *t = tt_find(set, argv[2]);

		if (!t) {
			octo_cli_error(out, "No timetable \"%.64s\" (see timetable show).",
				       argv[2]);
			octo_obj_unref(set);
			return OCTO_CLI_FAIL;
		}
		tt_show_one(out, t);
		octo_obj_unref(set);
		return OCTO_CLI_OK;
	}
	octo_cli_columns(out, "name", "timezone", "local time", "now", "why", NULL);
	for (size_t i = 0; i < set->count; i++) {
		const struct tt_table *t = set->tables[i];
		char why[TT_WHY_MAX], when[64];
		bool open = tt_eval_at(t, now, why, sizeof(why), when, sizeof(when));

		octo_cli_row(out, t->name, octo_tz_name(t->tz), when, open ? "OPEN" : "CLOSED", why,
			     NULL);
	}
	octo_cli_kv(out, "timetables", "%zu", set->count);
	octo_obj_unref(set);
	return OCTO_CLI_OK;
}

/* "YYYY-MM-DD HH:MM" (or with a T) -> date and minute; false when bad. */
static bool tt_parse_moment(const char *s, int64_t *year, int *month, int *mday, int *minute)
{
	bool yearly;
	int64_t days;
	int m, d, clock;
	size_t len = strlen(s);

	if (len < 15 || len > 16 || (s[10] != ' ' && s[10] != 'T'))
		return false;
	if (!tt_parse_one_date(s, 10, &yearly, &days) || yearly)
		return false;
	clock = tt_parse_clock(s + 11, len - 11);
	if (clock < 0 || clock >= 1440)
		return false;
	octo_civil_from_days(days, year, &m, &d);
	*month = m;
	*mday = d;
	*minute = clock;
	return true;
}

static int tt_cli_test(struct octo_cli_out *out, int argc, char **argv)
{
	char moment[40], why[TT_WHY_MAX];
	const struct tt_table *t;
	struct tt_set *set;
	int64_t year;
	int month, mday, minute;
	bool open;

	/* The date may come quoted as one word, or as two words. */
	if (argc == 4)
		octo_strlcpy(moment, argv[3], sizeof(moment));
	else if (argc == 5)
		snprintf(moment, sizeof(moment), "%.16s %.8s", argv[3], argv[4]);
	else
		return OCTO_CLI_USAGE;
	if (!tt_parse_moment(moment, &year, &month, &mday, &minute)) {
		octo_cli_error(out, "\"%.40s\" is not a local time YYYY-MM-DD HH:MM.", moment);
		return OCTO_CLI_FAIL;
	}
	set = tt_get_set();
	t = tt_find(set, argv[2]);
	if (!t) {
		octo_cli_error(out, "No timetable \"%.64s\" (see timetable show).", argv[2]);
		octo_obj_unref(set);
		return OCTO_CLI_FAIL;
	}
	open = tt_eval(t, year, month, mday, minute, why, sizeof(why));
	octo_cli_kv(out, "timetable", "%s", t->name);
	octo_cli_kv(out, "local time", "%04lld-%02d-%02d %02d:%02d %s (%s)", (long long)year, month,
		    mday, minute / 60, minute % 60,
		    tt_day_names[((octo_days_from_civil(year, month, mday) % 7) + 7 + 4) % 7],
		    octo_tz_name(t->tz));
	octo_cli_kv(out, "result", "%s", open ? "OPEN" : "CLOSED");
	octo_cli_kv(out, "why", "%s", why);
	octo_obj_unref(set);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd tt_cli[] = {
	{ "timetable show", "List the timetables, open or closed now and why, or show one",
	  "timetable show [<name>]", tt_cli_show, tt_complete_name },
	{ "timetable test", "What a timetable says at a local date and time",
	  "timetable test <name> \"YYYY-MM-DD HH:MM\"", tt_cli_test, tt_complete_name },
	{ 0 }
};

/* ---------------------------------------------------------------- module */
static void tt_log_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

static int tt_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct tt_set *set = tt_build(octo_paths.config_dir, &diags);

	tt_log_diags(&diags);
	if (!set) {
		octo_log(OCTO_ERROR, "%s has %zu error%s: no timetables loaded", TT_FILE,
			 diags.errors, diags.errors == 1 ? "" : "s");
		octo_diags_free(&diags);
		return OCTO_LOAD_FAIL;
	}
	octo_diags_free(&diags);
	if (octo_app_register_all(self, tt_apps) || octo_func_register_all(self, tt_funcs) ||
	    octo_cli_register_all(self, tt_cli)) {
		octo_obj_unref(set);
		return OCTO_LOAD_FAIL;
	}
	tt_install(set);
	return OCTO_LOAD_OK;
}

static int tt_unload(struct octo_module *self)
{
	tt_install(NULL);
	return 0;
}

static int tt_reload(struct octo_module *self, struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct tt_set *set = tt_build(octo_paths.config_dir, diags);

	if (!set) {
		octo_log(OCTO_WARNING,
			 "%s: reload refused (%zu error%s): the running timetables stay", TT_FILE,
			 diags->errors - errors, diags->errors - errors == 1 ? "" : "s");
		return OCTO_ECONFIG;
	}
	tt_install(set);
	return 0;
}

static int tt_check(const char *config_dir, struct octo_diags *diags)
{
	struct tt_set *set = tt_build(config_dir, diags);

	if (!set)
		return OCTO_ECONFIG;
	octo_obj_unref(set);
	return 0;
}

OCTO_MODULE(app_timetable, .description = "Opening hours: timetables.conf and CheckTimetable",
	    .load = tt_load, .unload = tt_unload, .reload = tt_reload, .check = tt_check);
