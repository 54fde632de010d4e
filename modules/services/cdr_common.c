/*
 * cdr_common.c - what the CDR backend modules share: cdr.conf, times, CSV
 * lines and the spool (a queue in memory and a writer thread). cdr_common.h
 * describes the spool's behaviour.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "octo/log.h"
#include "octo/sched.h"

#include "cdr_common.h"

/* ---------------------------------------------------------------- cdr.conf */

static const char *const cdr_known_backends[] = { "sqlite", "csv", "pgsql", NULL };

static const struct octo_cfg_opt cdr_general_opts[] = {
	OCTO_CFG_LIST("backends", struct cdr_general_cfg, backends, "sqlite", 0),
	OCTO_CFG_STR("cli_backend", struct cdr_general_cfg, cli_backend, "sqlite", 0),
	OCTO_CFG_UINT("max_queue", struct cdr_general_cfg, max_queue, "100000", 100, 10000000),
	OCTO_CFG_UINT("debug_days", struct cdr_general_cfg, debug_days, "7", 0, 3650),
	OCTO_CFG_END
};

static const struct octo_cfg_opt cdr_sqlite_opts[] = {
	OCTO_CFG_STR("file", struct cdr_sqlite_cfg, file, "cdr.db", 0),
	OCTO_CFG_UINT("batch", struct cdr_sqlite_cfg, batch, "100", 1, 10000),
	OCTO_CFG_DURATION_MS("flush_interval", struct cdr_sqlite_cfg, flush_interval, "200ms", 0,
			     60000),
	OCTO_CFG_END
};

static const struct octo_cfg_opt cdr_csv_opts[] = {
	OCTO_CFG_STR("file", struct cdr_csv_cfg, file, "cdr.csv", 0),
	OCTO_CFG_DURATION_MS("flush_interval", struct cdr_csv_cfg, flush_interval, "200ms", 0,
			     60000),
	OCTO_CFG_END
};

/* An SQL name for [pgsql] table: it goes into statements as it is, so only
 * lower-case letters, digits and '_' (no quoting needed), and short enough
 * for "<table>_schema" to fit PostgreSQL's 63 bytes. */
static const char *cdr_pgsql_table_set(void *field, const char *value)
{
	char **out = field;
	size_t len = strlen(value);

	if (!len || len > 48 || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_") != len ||
	    (value[0] >= '0' && value[0] <= '9'))
		return "is not a table name (a-z, 0-9 and _, not starting with a digit, "
		       "at most 48)";
	free(*out);
	*out = octo_strdup(value);
	return NULL;
}

static void cdr_pgsql_table_free(void *field)
{
	char **p = field;

	free(*p);
	*p = NULL;
}

static const struct octo_cfg_opt cdr_pgsql_opts[] = {
	OCTO_CFG_STR("conninfo", struct cdr_pgsql_cfg, conninfo, "", 0),
	OCTO_CFG_STR("host", struct cdr_pgsql_cfg, host, "", 0),
	OCTO_CFG_UINT("port", struct cdr_pgsql_cfg, port, "0", 0, 65535),
	OCTO_CFG_STR("dbname", struct cdr_pgsql_cfg, dbname, "", 0),
	OCTO_CFG_STR("user", struct cdr_pgsql_cfg, user, "", 0),
	OCTO_CFG_STR("password", struct cdr_pgsql_cfg, password, "", 0),
	OCTO_CFG_CUSTOM("table", struct cdr_pgsql_cfg, table, "cdr", cdr_pgsql_table_set,
			cdr_pgsql_table_free),
	OCTO_CFG_STR("spool", struct cdr_pgsql_cfg, spool, "cdr_pgsql.spool", 0),
	OCTO_CFG_UINT("batch", struct cdr_pgsql_cfg, batch, "100", 1, 10000),
	OCTO_CFG_DURATION_MS("flush_interval", struct cdr_pgsql_cfg, flush_interval, "200ms", 0,
			     60000),
	OCTO_CFG_DURATION_MS("reconnect_interval", struct cdr_pgsql_cfg, reconnect_interval,
			     "5s", 100, 600000),
	OCTO_CFG_DURATION("connect_timeout", struct cdr_pgsql_cfg, connect_timeout, "5s", 1, 60),
	OCTO_CFG_END
};

/* res_cdr_csv and res_cdr_pgsql read only these keys of [general];
 * res_cdr_sqlite reports the others (and typos) so that a warning is not
 * printed twice. */
static bool cdr_csv_scope_ignore(const char *key)
{
	return strcmp(key, "backends") && strcmp(key, "max_queue");
}

static bool cdr_known_backend(const char *name)
{
	for (size_t i = 0; cdr_known_backends[i]; i++)
		if (!strcmp(name, cdr_known_backends[i]))
			return true;
	return false;
}

/* The location of `key` in `sec`, or of the section itself. */
static void cdr_conf_where(const struct octo_cfg_section *sec, const char *key, const char **file,
			   int *line)
{
	const struct octo_cfg_var *v = sec ? octo_cfg_var_find(sec, key) : NULL;

	*file = v ? v->file : (sec ? sec->file : CDR_CONF_FILE);
	*line = v ? v->line : (sec ? sec->line : 0);
}

static void cdr_conf_check_file(const struct octo_cfg_section *sec, const char *value,
				struct octo_diags *diags)
{
	const char *file;
	int line;

	if (*value)
		return;
	cdr_conf_where(sec, "file", &file, &line);
	octo_diags_add(diags, OCTO_DIAG_ERROR, file, line, "[%s] file: a file name is needed",
		       sec ? sec->name : "?");
}

int cdr_conf_load(const char *dir, enum cdr_conf_scope scope, struct cdr_conf *conf,
		  struct octo_diags *diags)
{
	size_t errors_before = diags->errors;
	const struct octo_cfg_section *general, *sqlite, *csv, *pgsql;
	struct octo_cfg *cfg = octo_cfg_load(dir, CDR_CONF_FILE, true, diags);
	const char *file;
	int line;

	if (!cfg)
		return OCTO_ECONFIG;
	general = octo_cfg_section(cfg, "general");
	sqlite = octo_cfg_section(cfg, "sqlite");
	csv = octo_cfg_section(cfg, "csv");
	pgsql = octo_cfg_section(cfg, "pgsql");
	if (pgsql && pgsql->is_template)
		pgsql = NULL;
	if (general && general->is_template)
		general = NULL;
	if (sqlite && sqlite->is_template)
		sqlite = NULL;
	if (csv && csv->is_template)
		csv = NULL;

	octo_cfg_bind(general, cdr_general_opts, &conf->general,
		      scope != CDR_CONF_ALL ? cdr_csv_scope_ignore : NULL, diags);
	if (scope != CDR_CONF_PGSQL) {
		octo_cfg_bind(csv, cdr_csv_opts, &conf->csv, NULL, diags);
		if (conf->csv.file)
			cdr_conf_check_file(csv, conf->csv.file, diags);
	}
	if (scope != CDR_CONF_CSV) {
		octo_cfg_bind(pgsql, cdr_pgsql_opts, &conf->pgsql, NULL, diags);
		if (conf->pgsql.spool && !*conf->pgsql.spool) {
			cdr_conf_where(pgsql, "spool", &file, &line);
			octo_diags_add(diags, OCTO_DIAG_ERROR, file, line,
				       "[pgsql] spool: a file name is needed");
		}
	}
	if (scope == CDR_CONF_ALL) {
		octo_cfg_bind(sqlite, cdr_sqlite_opts, &conf->sqlite, NULL, diags);
		if (conf->sqlite.file)
			cdr_conf_check_file(sqlite, conf->sqlite.file, diags);
	}

	cdr_conf_where(general, "backends", &file, &line);
	for (size_t i = 0; i < conf->general.backends.count; i++) {
		const char *name = conf->general.backends.items[i];

		if (!cdr_known_backend(name))
			octo_diags_add(diags, OCTO_DIAG_ERROR, file, line,
				       "[general] backends: \"%.64s\" is not a CDR backend "
				       "(sqlite, csv, pgsql)", name);
	}
	if (scope == CDR_CONF_ALL) {
		if (!conf->general.backends.count) {
			octo_diags_add(diags, OCTO_DIAG_WARNING, file, line,
				       "[general] backends: none enabled, calls leave no CDR");
		} else if (conf->general.cli_backend &&
			   !cdr_conf_enabled(conf, conf->general.cli_backend)) {
			cdr_conf_where(general, "cli_backend", &file, &line);
			octo_diags_add(diags, OCTO_DIAG_ERROR, file, line,
				       "[general] cli_backend: \"%.64s\" is not one of the enabled "
				       "backends", conf->general.cli_backend);
		}
		for (const struct octo_cfg_section *s = octo_cfg_first(cfg); s;
		     s = octo_cfg_next(s)) {
			if (strcmp(s->name, "general") && strcmp(s->name, "sqlite") &&
			    strcmp(s->name, "csv") && strcmp(s->name, "pgsql"))
				octo_diags_add(diags, OCTO_DIAG_WARNING, s->file, s->line,
					       "unknown section [%.64s] (cdr.conf has [general], "
					       "[sqlite], [csv] and [pgsql])", s->name);
		}
	}
	octo_cfg_free(cfg);
	if (diags->errors > errors_before) {
		cdr_conf_free(conf);
		return OCTO_ECONFIG;
	}
	return 0;
}

void cdr_conf_free(struct cdr_conf *conf)
{
	octo_cfg_unbind(cdr_general_opts, &conf->general);
	octo_cfg_unbind(cdr_sqlite_opts, &conf->sqlite);
	octo_cfg_unbind(cdr_csv_opts, &conf->csv);
	octo_cfg_unbind(cdr_pgsql_opts, &conf->pgsql);
	memset(conf, 0, sizeof(*conf));
}

bool cdr_conf_enabled(const struct cdr_conf *conf, const char *backend)
{
	for (size_t i = 0; i < conf->general.backends.count; i++)
		if (!strcmp(conf->general.backends.items[i], backend))
			return true;
	return false;
}

char *cdr_conf_path(const char *file)
{
	const char *dir = octo_paths.data_dir ? octo_paths.data_dir : ".";
	char *path;

	if (file[0] == '/')
		return octo_strdup(file);
	if (asprintf(&path, "%s/%s", dir, file) < 0)
		abort();
	return path;
}

void cdr_diags_log(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

/* ---------------------------------------------------------------- times */

void cdr_time_iso(uint64_t us, char *buf, size_t size)
{
	time_t secs = (time_t)(us / 1000000u);
	struct tm tm;

	if (!us || !gmtime_r(&secs, &tm)) {
		octo_strlcpy(buf, "", size);
		return;
	}
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned)(us % 1000000u / 1000u));
}

/* Reads exactly `n` digits at *p; -1 when they are not there. */
static int cdr_digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

/* Reads a digit group followed by `sep` (or the end when sep is 0). */
static bool cdr_field(const char **p, int n, char sep, int lo, int hi, int *out)
{
	int v = cdr_digits(p, n);

	if (v < lo || v > hi)
		return false;
	if (sep) {
		if (**p != sep)
			return false;
		(*p)++;
	}
	*out = v;
	return true;
}

const char *cdr_time_parse_iso(const char *text, uint64_t *us)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, s, ms;
	const char *p = text;
	time_t t;

	*us = 0;
	if (!*text)
		return NULL;
	if (!cdr_field(&p, 4, '-', 1970, 9999, &y) || !cdr_field(&p, 2, '-', 1, 12, &mo) ||
	    !cdr_field(&p, 2, 'T', 1, 31, &d) || !cdr_field(&p, 2, ':', 0, 23, &h) ||
	    !cdr_field(&p, 2, ':', 0, 59, &mi) || !cdr_field(&p, 2, '.', 0, 60, &s) ||
	    !cdr_field(&p, 3, 'Z', 0, 999, &ms) || *p)
		return "is not a time like 2026-11-26T10:00:00.000Z";
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	t = timegm(&tm);
	if (t < 0)
		return "is not a valid time";
	*us = (uint64_t)t * 1000000u + (uint64_t)ms * 1000u;
	return NULL;
}

void cdr_time_local(uint64_t us, char *buf, size_t size)
{
	time_t secs = (time_t)(us / 1000000u);
	struct tm tm;

	if (!us || !localtime_r(&secs, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
		octo_strlcpy(buf, "", size);
}

const char *cdr_date_parse(const char *text, uint64_t *us)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0;
	const char *p = text;
	time_t t;

	if (!cdr_field(&p, 4, '-', 1970, 9999, &y) || !cdr_field(&p, 2, '-', 1, 12, &mo) ||
	    !cdr_field(&p, 2, 0, 1, 31, &d))
		return "is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)";
	if (*p == ' ' || *p == 'T') {
		p++;
		if (!cdr_field(&p, 2, ':', 0, 23, &h) || !cdr_field(&p, 2, 0, 0, 59, &mi))
			return "is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)";
	}
	if (*p)
		return "is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)";
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	/* mktime() moves 2026-02-30 to March: such a date does not exist. */
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return "is not a valid date";
	*us = t < 0 ? 0 : (uint64_t)t * 1000000u;
	return NULL;
}

/* ---------------------------------------------------------------- records */

#define CDR_TERMINATE(f) ((f)[sizeof(f) - 1] = '\0')

void cdr_sanitize(struct octo_cdr *cdr)
{
	CDR_TERMINATE(cdr->uniqueid);
	CDR_TERMINATE(cdr->linkedid);
	CDR_TERMINATE(cdr->channel);
	CDR_TERMINATE(cdr->dst_channel);
	CDR_TERMINATE(cdr->caller);
	CDR_TERMINATE(cdr->caller_name);
	CDR_TERMINATE(cdr->dialed);
	CDR_TERMINATE(cdr->called);
	CDR_TERMINATE(cdr->procedure);
	CDR_TERMINATE(cdr->trunk);
	CDR_TERMINATE(cdr->userfield);
	CDR_TERMINATE(cdr->hangup_side);
	CDR_TERMINATE(cdr->user);
	CDR_TERMINATE(cdr->direction);
	if ((unsigned)cdr->disposition > OCTO_CDR_CANCELLED)
		cdr->disposition = OCTO_CDR_FAILED;
	if (!isfinite(cdr->cost))
		cdr->cost = 0;
}

bool cdr_filter_match(const struct octo_cdr_filter *f, const struct octo_cdr *cdr)
{
	if (f->user && *f->user && strcmp(cdr->caller, f->user) && strcmp(cdr->called, f->user))
		return false;
	return cdr->start_us >= f->since_us;
}

int cdr_disposition_parse(const char *text)
{
	for (int d = OCTO_CDR_ANSWERED; d <= OCTO_CDR_CANCELLED; d++)
		if (!strcmp(text, octo_cdr_disposition_name((enum octo_cdr_disposition)d)))
			return d;
	return -1;
}

static bool cdr_parse_uint(const char *s, unsigned long max, unsigned long *out);

/* ---------------------------------------------------------------- call history */

static bool cdr_outbound(const struct octo_cdr *c)
{
	return !strcmp(c->direction, "outbound");
}

bool cdr_hist_placed_by(const struct octo_cdr *leg, const char *user)
{
	if (!*user || cdr_outbound(leg))
		return false;
	return !strcmp(leg->user[0] ? leg->user : leg->caller, user);
}

bool cdr_hist_rings(const struct octo_cdr *leg, const char *user)
{
	if (!*user || !cdr_outbound(leg))
		return false;
	return !strcmp(leg->user[0] ? leg->user : leg->called, user);
}

/* An incoming leg routed to the user's number, not placed by the user. */
static bool cdr_hist_routed_to(const struct octo_cdr *leg, const char *user)
{
	return *user && !cdr_outbound(leg) && !strcmp(leg->called, user) &&
	       !cdr_hist_placed_by(leg, user);
}

void cdr_hist_classify(const struct octo_cdr *legs, size_t n, const char *user,
		       struct cdr_hist_call *h)
{
	const struct octo_cdr *first = NULL, *answered = NULL;
	bool devices = false, rang = false, elsewhere = false, busy = false, gave_up = false;

	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < n; i++) {
		const struct octo_cdr *leg = &legs[i];

		if (legs[i].start_us && (!h->start_us || leg->start_us < h->start_us))
			h->start_us = leg->start_us;
		if (!h->out && cdr_hist_placed_by(leg, user))
			h->out = leg;
		if (cdr_hist_rings(leg, user))
			devices = true;
		if (!cdr_outbound(leg) && leg->disposition == OCTO_CDR_CANCELLED)
			gave_up = true;
	}
	/* The legs that rang the user's devices decide; without any, the legs
	 * routed to the user's number. */
	for (size_t i = 0; i < n; i++) {
		const struct octo_cdr *leg = &legs[i];

		if (devices ? !cdr_hist_rings(leg, user) : !cdr_hist_routed_to(leg, user))
			continue;
		if (!first)
			first = leg;
		if (leg->disposition == OCTO_CDR_ANSWERED) {
			if (!answered)
				answered = leg;
		} else if (leg->answered_elsewhere) {
			elsewhere = true;
		} else if (leg->disposition == OCTO_CDR_NO_ANSWER ||
			   leg->disposition == OCTO_CDR_CANCELLED) {
			rang = true;
		} else if (leg->disposition == OCTO_CDR_BUSY) {
			busy = true;
		}
	}
	if (!first)
		return;
	if (answered) {
		h->kind = CDR_HIST_IN;
		h->leg = answered;
		h->disposition = "ANSWERED";
		return;
	}
	h->kind = CDR_HIST_MISSED;
	h->leg = first;
	if (elsewhere) {
		h->disposition = "ANSWERED ELSEWHERE";
	} else if (rang) {
		h->disposition = gave_up ? "CANCELLED" : "NO ANSWER";
		h->notify = true;
	} else {
		h->disposition = busy ? "BUSY" : "FAILED";
	}
}

/* ---------------------------------------------------------------- prices */

/* Copies `s` without leading and trailing blanks into buf, cut to size;
 * false when it had to be cut. */
static bool cdr_trim_copy(char *buf, size_t size, const char *s)
{
	size_t len;
	bool fits;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	fits = len < size;
	if (!fits)
		len = size - 1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return fits;
}

/* A plain decimal: digits, optionally a point and more digits; no sign,
 * exponent, "inf" or "nan". */
static bool cdr_parse_decimal(const char *text, double max, double *out)
{
	char buf[40], *end;
	bool digits = false, point = false;

	if (!cdr_trim_copy(buf, sizeof(buf), text))
		return false;
	for (const char *p = buf; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits = true;
		else if (*p == '.' && !point)
			point = true;
		else
			return false;
	}
	if (!digits)
		return false;
	errno = 0;
	*out = strtod(buf, &end);
	return !errno && !*end && isfinite(*out) && *out <= max;
}

bool cdr_price_is_header(char *const *fields, int count)
{
	char first[16];

	if (count < 1)
		return false;
	cdr_trim_copy(first, sizeof(first), fields[0]);
	return !strcasecmp(first, "prefix");
}

const char *cdr_price_parse(char *const *f, int count, struct cdr_price *out)
{
	char buf[64];
	unsigned long inc;
	const char *p;

	memset(out, 0, sizeof(*out));
	if (count != 5)
		return "does not have the 5 fields prefix, description, price per minute, "
		       "connection fee, billing increment";
	if (!cdr_trim_copy(buf, sizeof(buf), f[0]))
		buf[0] = '\0';
	p = buf[0] == '+' ? buf + 1 : buf;
	if (!*p || strlen(p) > CDR_PRICE_PREFIX_MAX || strspn(p, "0123456789") != strlen(p))
		return "has a prefix that is not digits (an optional + first, at most 30)";
	octo_strlcpy(out->prefix, buf, sizeof(out->prefix));
	cdr_trim_copy(out->description, sizeof(out->description), f[1]);
	for (char *d = out->description; *d; d++)
		if ((unsigned char)*d < 0x20 || *d == 0x7f)
			*d = ' ';
	if (!cdr_parse_decimal(f[2], CDR_PRICE_MAX, &out->price))
		return "has a price per minute that is not a number like 0.05";
	if (!cdr_parse_decimal(f[3], CDR_PRICE_MAX, &out->fee))
		return "has a connection fee that is not a number like 0.10";
	if (!cdr_trim_copy(buf, sizeof(buf), f[4]) || !cdr_parse_uint(buf, 3600, &inc) || inc < 1)
		return "has a billing increment that is not a number of seconds from 1 to 3600";
	out->increment = (unsigned)inc;
	return NULL;
}

double cdr_price_cost(const struct cdr_price *p, unsigned billsec, bool answered)
{
	uint64_t units, secs;
	double cost;

	if (!answered || !p->increment)
		return 0;
	units = ((uint64_t)billsec + p->increment - 1) / p->increment;
	secs = units * p->increment;
	cost = p->fee + p->price * (double)secs / 60.0;
	/* Whole millionths: no binary noise like 0.17000000000000001. */
	return round(cost * 1e6) / 1e6;
}

/* ---------------------------------------------------------------- CSV */

const char *const cdr_csv_columns[CDR_CSV_FIELDS] = {
	"uniqueid",   "linkedid",    "start",       "answer", "end",
	"duration",   "billsec",     "caller",      "caller_name", "dialed",
	"called",     "channel",     "dst_channel", "trunk",  "procedure",
	"disposition", "cause",      "hangup_side", "userfield", "cost",
};

struct cdr_buf {
	char *p;
	size_t size, len;
};

static void cdr_put(struct cdr_buf *b, char c)
{
	if (b->len + 1 < b->size)
		b->p[b->len] = c;
	b->len++;
}

/* One field, quoted when it must be (RFC 4180 section 2). */
static void cdr_put_field(struct cdr_buf *b, const char *s, bool last)
{
	bool quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		cdr_put(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			cdr_put(b, '"');
		cdr_put(b, *s);
	}
	if (quote)
		cdr_put(b, '"');
	if (last) {
		cdr_put(b, '\r');
		cdr_put(b, '\n');
	} else {
		cdr_put(b, ',');
	}
}

static size_t cdr_buf_end(struct cdr_buf *b)
{
	if (b->size)
		b->p[b->len < b->size ? b->len : b->size - 1] = '\0';
	return b->len;
}

size_t cdr_csv_header(char *buf, size_t size)
{
	struct cdr_buf b = { buf, size, 0 };

	for (int i = 0; i < CDR_CSV_FIELDS; i++)
		cdr_put_field(&b, cdr_csv_columns[i], i == CDR_CSV_FIELDS - 1);
	return cdr_buf_end(&b);
}

size_t cdr_csv_line(const struct octo_cdr *cdr, char *buf, size_t size)
{
	struct cdr_buf b = { buf, size, 0 };
	char start[32], answer[32], end[32], duration[16], billsec[16], cause[16], cost[48];
	const char *v[CDR_CSV_FIELDS];

	cdr_time_iso(cdr->start_us, start, sizeof(start));
	cdr_time_iso(cdr->answer_us, answer, sizeof(answer));
	cdr_time_iso(cdr->end_us, end, sizeof(end));
	snprintf(duration, sizeof(duration), "%u", cdr->duration);
	snprintf(billsec, sizeof(billsec), "%u", cdr->billsec);
	snprintf(cause, sizeof(cause), "%d", cdr->cause);
	snprintf(cost, sizeof(cost), "%.4f", isfinite(cdr->cost) ? cdr->cost : 0.0);
	v[0] = cdr->uniqueid;
	v[1] = cdr->linkedid;
	v[2] = start;
	v[3] = answer;
	v[4] = end;
	v[5] = duration;
	v[6] = billsec;
	v[7] = cdr->caller;
	v[8] = cdr->caller_name;
	v[9] = cdr->dialed;
	v[10] = cdr->called;
	v[11] = cdr->channel;
	v[12] = cdr->dst_channel;
	v[13] = cdr->trunk;
	v[14] = cdr->procedure;
	v[15] = octo_cdr_disposition_name(cdr->disposition);
	v[16] = cause;
	v[17] = cdr->hangup_side;
	v[18] = cdr->userfield;
	v[19] = cost;
	for (int i = 0; i < CDR_CSV_FIELDS; i++)
		cdr_put_field(&b, v[i], i == CDR_CSV_FIELDS - 1);
	return cdr_buf_end(&b);
}

int cdr_csv_read(struct cdr_csv_reader *r)
{
	size_t len = 0;
	int n = 1, c;
	bool quoted = false, overflow = false, had_quote = false;
	size_t field_start = 0;

	r->fields[0] = r->buf;
	for (;;) {
		c = getc_unlocked(r->fp);
		if (c == EOF)
			return 0;
		if (quoted) {
			if (c != '"')
				goto put;
			c = getc_unlocked(r->fp);
			if (c == '"')
				goto put;
			quoted = false;
			if (c == EOF)
				return 0;
		}
		if (c == '"' && len == field_start && !had_quote) {
			quoted = had_quote = true;
			continue;
		}
		if (c == ',') {
			if (len + 1 >= sizeof(r->buf)) {
				overflow = true;
			} else {
				r->buf[len++] = '\0';
				if (n <= CDR_CSV_FIELDS)
					r->fields[n++] = r->buf + len;
				else
					overflow = true;
			}
			field_start = len;
			had_quote = false;
			continue;
		}
		if (c == '\r') {
			int d = getc_unlocked(r->fp);

			if (d == '\n')
				break;
			if (d == EOF)
				return 0;
			ungetc(d, r->fp);
		} else if (c == '\n') {
			break;
		}
put:
		if (len + 1 >= sizeof(r->buf))
			overflow = true;
		else
			r->buf[len++] = (char)c;
	}
	r->buf[len] = '\0';
	return overflow ? -1 : n;
}

static bool cdr_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

const char *cdr_csv_parse(char *const *f, int count, struct octo_cdr *out)
{
	unsigned long duration, billsec;
	long cause;
	char *end;
	int disp;

	memset(out, 0, sizeof(*out));
	if (count != CDR_CSV_FIELDS)
		return "does not have the 20 CDR fields";
	if (cdr_time_parse_iso(f[2], &out->start_us) || cdr_time_parse_iso(f[3], &out->answer_us) ||
	    cdr_time_parse_iso(f[4], &out->end_us))
		return "has a time that is not like 2026-11-26T10:00:00.000Z";
	if (!cdr_parse_uint(f[5], UINT32_MAX, &duration) ||
	    !cdr_parse_uint(f[6], UINT32_MAX, &billsec))
		return "has a duration that is not a number";
	disp = cdr_disposition_parse(f[15]);
	if (disp < 0)
		return "has an unknown disposition";
	errno = 0;
	cause = strtol(f[16], &end, 10);
	if (errno || end == f[16] || *end || cause < -1 || cause > 1000)
		return "has a hangup cause that is not a number";
	out->cost = strtod(f[19], &end);
	if (end == f[19] || *end || !isfinite(out->cost))
		return "has a cost that is not a number";
	out->duration = (unsigned)duration;
	out->billsec = (unsigned)billsec;
	out->disposition = (enum octo_cdr_disposition)disp;
	out->cause = (int)cause;
	octo_strlcpy(out->uniqueid, f[0], sizeof(out->uniqueid));
	octo_strlcpy(out->linkedid, f[1], sizeof(out->linkedid));
	octo_strlcpy(out->caller, f[7], sizeof(out->caller));
	octo_strlcpy(out->caller_name, f[8], sizeof(out->caller_name));
	octo_strlcpy(out->dialed, f[9], sizeof(out->dialed));
	octo_strlcpy(out->called, f[10], sizeof(out->called));
	octo_strlcpy(out->channel, f[11], sizeof(out->channel));
	octo_strlcpy(out->dst_channel, f[12], sizeof(out->dst_channel));
	octo_strlcpy(out->trunk, f[13], sizeof(out->trunk));
	octo_strlcpy(out->procedure, f[14], sizeof(out->procedure));
	octo_strlcpy(out->hangup_side, f[17], sizeof(out->hangup_side));
	octo_strlcpy(out->userfield, f[18], sizeof(out->userfield));
	return NULL;
}

/* ---------------------------------------------------------------- spool */

#define SPOOL_BACKOFF_MIN_MS 500u
#define SPOOL_BACKOFF_MAX_MS 10000u
#define SPOOL_STOP_ATTEMPTS 3
#define SPOOL_STOP_PAUSE_MS 100u
#define SPOOL_WARN_FIRST 1000u

/* A queued record; a copy of its step log follows in the same allocation. */
struct spool_node {
	struct spool_node *next;
	uint64_t posted_ms;
	struct octo_cdr cdr;
};

struct cdr_spool {
	const struct cdr_spool_ops *ops;
	void *ctx;
	pthread_mutex_t lock;
	pthread_cond_t wake;      /* the writer: records, stop, reopen */
	pthread_cond_t empty;     /* cdr_spool_wait_empty() */
	pthread_t thread;
	bool running;             /* the thread exists */
	bool accepting;           /* post() takes records */
	bool stop;
	bool reopen;
	atomic_bool keep_steps;   /* post() copies the step logs */
	/* settings */
	char *path;
	unsigned batch, interval_ms, max_queue;
	/* the queue; `queued` counts a batch being written too */
	struct spool_node *head, *tail;
	size_t queued;
	size_t warn_at;           /* next queue length that deserves a warning */
	/* status */
	uint64_t posted, written, dropped;
	char state[24];
	char last_error[160];
	bool failing;             /* the last attempt failed (logged once) */
};

/* An absolute CLOCK_MONOTONIC time `ms` from now, for pthread_cond_timedwait. */
static void spool_deadline(uint64_t at_ms, struct timespec *ts)
{
	ts->tv_sec = (time_t)(at_ms / 1000u);
	ts->tv_nsec = (long)(at_ms % 1000u) * 1000000L;
}

static uint64_t spool_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void spool_wait_until(struct cdr_spool *sp, uint64_t at_ms)
{
	struct timespec ts;

	spool_deadline(at_ms, &ts);
	pthread_cond_timedwait(&sp->wake, &sp->lock, &ts);
}

struct cdr_spool *cdr_spool_alloc(const struct cdr_spool_ops *ops, void *ctx)
{
	struct cdr_spool *sp = calloc(1, sizeof(*sp));
	pthread_condattr_t attr;

	if (!sp)
		return NULL;
	sp->ops = ops;
	sp->ctx = ctx;
	atomic_init(&sp->keep_steps, false);
	pthread_mutex_init(&sp->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&sp->wake, &attr);
	pthread_cond_init(&sp->empty, &attr);
	pthread_condattr_destroy(&attr);
	sp->path = octo_strdup("");
	sp->batch = 100;
	sp->interval_ms = 200;
	sp->max_queue = 100000;
	sp->warn_at = SPOOL_WARN_FIRST;
	octo_strlcpy(sp->state, "stopped", sizeof(sp->state));
	return sp;
}

static void spool_free_list(struct spool_node *n)
{
	while (n) {
		struct spool_node *next = n->next;

		free(n);
		n = next;
	}
}

void cdr_spool_free(struct cdr_spool *sp)
{
	if (!sp)
		return;
	cdr_spool_stop(sp);
	spool_free_list(sp->head);
	pthread_cond_destroy(&sp->wake);
	pthread_cond_destroy(&sp->empty);
	pthread_mutex_destroy(&sp->lock);
	free(sp->path);
	free(sp);
}

void cdr_spool_configure(struct cdr_spool *sp, const char *path, unsigned batch,
			 unsigned interval_ms, unsigned max_queue)
{
	pthread_mutex_lock(&sp->lock);
	if (strcmp(sp->path, path)) {
		free(sp->path);
		sp->path = octo_strdup(path);
		sp->reopen = true;
	}
	sp->batch = batch ? batch : 1;
	sp->interval_ms = interval_ms;
	sp->max_queue = max_queue ? max_queue : 1;
	pthread_cond_broadcast(&sp->wake);
	pthread_mutex_unlock(&sp->lock);
}

/* Drops every waiting record (lock held), logging how many were lost. */
static void spool_drop_all(struct cdr_spool *sp, const char *why)
{
	if (!sp->queued)
		return;
	octo_log(OCTO_ERROR, "%zu CDR%s could not be written to %s and %s lost: %s", sp->queued,
		 sp->queued == 1 ? "" : "s", sp->path, sp->queued == 1 ? "is" : "are", why);
	sp->dropped += sp->queued;
	spool_free_list(sp->head);
	sp->head = sp->tail = NULL;
	sp->queued = 0;
	pthread_cond_broadcast(&sp->empty);
}

/* Records a failed open or write (lock held); returns when to try again. */
static uint64_t spool_failed(struct cdr_spool *sp, const char *what, const char *err,
			     unsigned *backoff)
{
	char msg[sizeof(sp->last_error)];

	snprintf(msg, sizeof(msg), "%s: %s", what, err);
	if (!sp->failing || strcmp(msg, sp->last_error))
		octo_log(OCTO_ERROR, "CDRs to %s: %s (%zu waiting; trying again)", sp->path, msg,
			 sp->queued);
	octo_strlcpy(sp->last_error, msg, sizeof(sp->last_error));
	octo_strlcpy(sp->state, "error", sizeof(sp->state));
	sp->failing = true;
	*backoff = *backoff ? *backoff * 2 : SPOOL_BACKOFF_MIN_MS;
	if (*backoff > SPOOL_BACKOFF_MAX_MS)
		*backoff = SPOOL_BACKOFF_MAX_MS;
	return spool_mono_ms() + (sp->stop ? SPOOL_STOP_PAUSE_MS : *backoff);
}

/* Writes one batch off the head of the queue (lock held, released while
 * writing). Returns 0 or the backend's error, with `err` filled. */
static int spool_write_batch(struct cdr_spool *sp, char *err, size_t errsize)
{
	struct spool_node *first = sp->head, *last = sp->head;
	const struct octo_cdr **recs;
	size_t n = 1;
	int rc = OCTO_ENOMEM;

	/* Take a batch off the head; it stays counted in `queued`. */
	while (last->next && n < sp->batch) {
		last = last->next;
		n++;
	}
	sp->head = last->next;
	if (!sp->head)
		sp->tail = NULL;
	last->next = NULL;
	pthread_mutex_unlock(&sp->lock);

	recs = malloc(n * sizeof(*recs));
	octo_strlcpy(err, "out of memory", errsize);
	if (recs) {
		size_t i = 0;

		for (struct spool_node *x = first; x; x = x->next)
			recs[i++] = &x->cdr;
		err[0] = '\0';
		rc = sp->ops->write(sp->ctx, recs, n, err, errsize);
		free(recs);
	}

	pthread_mutex_lock(&sp->lock);
	if (rc) {
		/* Back to the head, in order, to be tried again. */
		last->next = sp->head;
		sp->head = first;
		if (!sp->tail)
			sp->tail = last;
		return rc;
	}
	spool_free_list(first);
	sp->queued -= n;
	sp->written += n;
	if (sp->queued < SPOOL_WARN_FIRST)
		sp->warn_at = SPOOL_WARN_FIRST;
	if (!sp->queued)
		pthread_cond_broadcast(&sp->empty);
	return 0;
}

/*
 * The writer. The target is opened as soon as the spool starts (so that a
 * broken target shows in the status before the first call) and after every
 * failure, with a growing pause between attempts. A batch is written when
 * `batch` records wait, when the oldest has waited `interval` ms, or at once
 * when stopping.
 */
static void *spool_thread(void *arg)
{
	struct cdr_spool *sp = arg;
	char err[160];
	bool opened = false;
	unsigned backoff = 0, stop_failures = 0;
	uint64_t retry_at = 0, next_tick = 0, idle_at = 0; /* 0: no batch since idle() */

	octo_thread_register(sp->ops->thread_name);
	pthread_mutex_lock(&sp->lock);
	for (;;) {
		uint64_t now = spool_mono_ms();
		char *path;
		int rc;

		if (sp->reopen) {
			sp->reopen = false;
			retry_at = 0;
			backoff = 0;
			if (opened) {
				pthread_mutex_unlock(&sp->lock);
				sp->ops->close(sp->ctx);
				pthread_mutex_lock(&sp->lock);
				opened = false;
				idle_at = 0;
			}
			continue;
		}
		if (sp->stop && !sp->head)
			break;
		if (sp->stop && stop_failures >= SPOOL_STOP_ATTEMPTS) {
			spool_drop_all(sp, sp->last_error);
			continue;
		}
		if (retry_at > now) {
			if (sp->stop && retry_at > now + SPOOL_STOP_PAUSE_MS)
				retry_at = now + SPOOL_STOP_PAUSE_MS;
			spool_wait_until(sp, retry_at);
			continue;
		}
		if (!opened) {
			path = octo_strdup(sp->path);
			octo_strlcpy(sp->state, "opening", sizeof(sp->state));
			pthread_mutex_unlock(&sp->lock);
			err[0] = '\0';
			rc = sp->ops->open(sp->ctx, path, err, sizeof(err));
			free(path);
			pthread_mutex_lock(&sp->lock);
			if (rc) {
				retry_at = spool_failed(sp, "cannot open", err, &backoff);
				stop_failures += sp->stop;
				continue;
			}
			opened = true;
			octo_strlcpy(sp->state, "open", sizeof(sp->state));
			continue;
		}
		if (sp->ops->tick && now >= next_tick) {
			next_tick = now + (sp->ops->tick_ms ? sp->ops->tick_ms : 1000u);
			pthread_mutex_unlock(&sp->lock);
			sp->ops->tick(sp->ctx);
			pthread_mutex_lock(&sp->lock);
			continue;
		}
		if (!sp->head && idle_at && now >= idle_at) {
			idle_at = 0;
			pthread_mutex_unlock(&sp->lock);
			sp->ops->idle(sp->ctx);
			pthread_mutex_lock(&sp->lock);
			continue;
		}
		if (!sp->head) {
			uint64_t until = sp->ops->tick ? next_tick : 0;

			if (idle_at && (!until || idle_at < until))
				until = idle_at;
			if (until)
				spool_wait_until(sp, until);
			else
				pthread_cond_wait(&sp->wake, &sp->lock);
			continue;
		}
		if (!sp->stop && sp->queued < sp->batch &&
		    sp->head->posted_ms + sp->interval_ms > now) {
			spool_wait_until(sp, sp->head->posted_ms + sp->interval_ms);
			continue;
		}
		rc = spool_write_batch(sp, err, sizeof(err));
		if (rc) {
			pthread_mutex_unlock(&sp->lock);
			sp->ops->close(sp->ctx);
			pthread_mutex_lock(&sp->lock);
			opened = false;
			idle_at = 0;
			retry_at = spool_failed(sp, "write failed", err, &backoff);
			stop_failures += sp->stop;
			continue;
		}
		retry_at = 0;
		backoff = 0;
		stop_failures = 0;
		if (sp->ops->idle)
			idle_at = spool_mono_ms() + (sp->ops->idle_ms ? sp->ops->idle_ms : 1000u);
		if (sp->failing) {
			octo_log(OCTO_NOTICE, "CDRs to %s: writing again (%zu still waiting)",
				 sp->path, sp->queued);
			sp->failing = false;
		}
		octo_strlcpy(sp->state, "open", sizeof(sp->state));
	}
	octo_strlcpy(sp->state, "stopped", sizeof(sp->state));
	pthread_mutex_unlock(&sp->lock);
	if (opened)
		sp->ops->close(sp->ctx);
	octo_thread_unregister();
	return NULL;
}

int cdr_spool_start(struct cdr_spool *sp)
{
	int rc;

	pthread_mutex_lock(&sp->lock);
	if (sp->running) {
		pthread_mutex_unlock(&sp->lock);
		return 0;
	}
	sp->stop = false;
	sp->reopen = false;
	sp->failing = false;
	octo_strlcpy(sp->state, "opening", sizeof(sp->state));
	rc = pthread_create(&sp->thread, NULL, spool_thread, sp);
	if (rc) {
		octo_strlcpy(sp->state, "stopped", sizeof(sp->state));
		pthread_mutex_unlock(&sp->lock);
		octo_log(OCTO_ERROR, "cannot start the CDR writer thread: %s", strerror(rc));
		return OCTO_EFAIL;
	}
	sp->running = sp->accepting = true;
	pthread_mutex_unlock(&sp->lock);
	return 0;
}

void cdr_spool_stop(struct cdr_spool *sp)
{
	pthread_mutex_lock(&sp->lock);
	if (!sp->running) {
		pthread_mutex_unlock(&sp->lock);
		return;
	}
	sp->accepting = false;
	sp->stop = true;
	pthread_cond_broadcast(&sp->wake);
	pthread_mutex_unlock(&sp->lock);
	pthread_join(sp->thread, NULL);
	pthread_mutex_lock(&sp->lock);
	sp->running = false;
	sp->stop = false;
	pthread_mutex_unlock(&sp->lock);
}

bool cdr_spool_running(struct cdr_spool *sp)
{
	bool running;

	pthread_mutex_lock(&sp->lock);
	running = sp->running;
	pthread_mutex_unlock(&sp->lock);
	return running;
}

void cdr_spool_keep_steps(struct cdr_spool *sp, bool keep)
{
	atomic_store(&sp->keep_steps, keep);
}

/* A copy of the record, with a copy of its step log when `keep`; NULL when
 * out of memory. The record's pointers are never kept. */
static struct spool_node *spool_node_new(const struct octo_cdr *cdr, bool keep)
{
	size_t count = keep && cdr->steps ? cdr->step_count : 0, size = sizeof(struct spool_node);
	struct octo_cdr_step *steps;
	struct spool_node *node;
	char *text;

	if (count > CDR_SPOOL_STEPS_MAX)
		count = CDR_SPOOL_STEPS_MAX;
	size += count * sizeof(struct octo_cdr_step);
	for (size_t i = 0; i < count; i++)
		size += strnlen(cdr->steps[i].text ? cdr->steps[i].text : "",
				CDR_SPOOL_STEP_TEXT_MAX - 1) + 1;
	node = malloc(size);
	if (!node)
		return NULL;
	node->next = NULL;
	node->posted_ms = spool_mono_ms();
	node->cdr = *cdr;
	cdr_sanitize(&node->cdr);
	node->cdr.steps = NULL;
	node->cdr.step_count = 0;
	if (!count)
		return node;
	/* The steps follow the node (both 8-byte aligned), then their texts. */
	steps = (struct octo_cdr_step *)(node + 1);
	text = (char *)(steps + count);
	for (size_t i = 0; i < count; i++) {
		const char *src = cdr->steps[i].text ? cdr->steps[i].text : "";
		size_t len = strnlen(src, CDR_SPOOL_STEP_TEXT_MAX - 1);

		memcpy(text, src, len);
		text[len] = '\0';
		steps[i].time_us = cdr->steps[i].time_us;
		steps[i].text = text;
		text += len + 1;
	}
	node->cdr.steps = steps;
	node->cdr.step_count = count;
	if (cdr->step_count > count)
		node->cdr.steps_dropped += cdr->step_count - count;
	return node;
}

int cdr_spool_post(struct cdr_spool *sp, const struct octo_cdr *cdr)
{
	struct spool_node *node = spool_node_new(cdr, atomic_load(&sp->keep_steps));
	bool wake;

	pthread_mutex_lock(&sp->lock);
	if (!sp->accepting) {
		pthread_mutex_unlock(&sp->lock);
		free(node);
		return OCTO_EBUSY;
	}
	sp->posted++;
	if (!node || sp->queued >= sp->max_queue) {
		sp->dropped++;
		/* The first loss and every thousandth after it: enough to be seen. */
		if (sp->dropped % 1000 == 1)
			octo_log(OCTO_WARNING, "CDR of %s dropped: %s (%llu dropped so far)",
				 cdr->uniqueid,
				 node ? "the queue is full (max_queue in cdr.conf)"
				      : "out of memory",
				 (unsigned long long)sp->dropped);
		pthread_mutex_unlock(&sp->lock);
		free(node);
		return OCTO_ENOMEM;
	}
	if (sp->tail)
		sp->tail->next = node;
	else
		sp->head = node;
	sp->tail = node;
	sp->queued++;
	if (sp->queued >= sp->warn_at) {
		octo_log(OCTO_WARNING, "%zu CDRs are waiting to be written to %s%s%s", sp->queued,
			 sp->path, sp->last_error[0] ? ": " : "", sp->last_error);
		sp->warn_at *= 2;
	}
	/* The writer sleeps without a deadline only when the queue was empty;
	 * otherwise it wakes at the interval, or now if a batch is full. */
	wake = sp->queued == 1 || sp->queued == sp->batch;
	if (wake)
		pthread_cond_signal(&sp->wake);
	pthread_mutex_unlock(&sp->lock);
	return 0;
}

void cdr_spool_status(struct cdr_spool *sp, struct octo_cdr_backend_status *st)
{
	pthread_mutex_lock(&sp->lock);
	octo_strlcpy(st->state, sp->state, sizeof(st->state));
	octo_strlcpy(st->target, sp->path, sizeof(st->target));
	octo_strlcpy(st->last_error, sp->last_error, sizeof(st->last_error));
	st->posted = sp->posted;
	st->written = sp->written;
	st->queued = sp->queued;
	st->dropped = sp->dropped;
	pthread_mutex_unlock(&sp->lock);
}

char *cdr_spool_path(struct cdr_spool *sp)
{
	char *path;

	pthread_mutex_lock(&sp->lock);
	path = octo_strdup(sp->path);
	pthread_mutex_unlock(&sp->lock);
	return path;
}

bool cdr_spool_wait_empty(struct cdr_spool *sp, unsigned timeout_ms)
{
	uint64_t deadline = spool_mono_ms() + timeout_ms;
	struct timespec ts;
	bool empty;

	spool_deadline(deadline, &ts);
	pthread_mutex_lock(&sp->lock);
	while (sp->queued && spool_mono_ms() < deadline)
		pthread_cond_timedwait(&sp->empty, &sp->lock, &ts);
	empty = !sp->queued;
	pthread_mutex_unlock(&sp->lock);
	return empty;
}
