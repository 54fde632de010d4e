/*
 * cfgbind.c - declarative binding of a config section to a module's struct:
 * a table of options (key, type, default, bounds) is applied to a section,
 * every bad value, unknown key ("did you mean ...?") and missing required key
 * is reported with file:line, and octo_cfg_unbind frees what was stored.
 * Also the value parsers modules share: booleans, durations, IP networks.
 *
 * Order of a bind: defaults first, then the section's keys in order (inherited
 * ones first), the last occurrence winning except for MULTI lists, which
 * accumulate (the first occurrence replaces the default). A CUSTOM setter is
 * called at most once per field -- with the last occurrence, or else the
 * default -- so it never has to free an earlier value.
 *
 * Depends on libc, core/util.c and core/config.c only.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "octo/config.h"

#define BIND_CLEAN OCTO_CFG_CLEAN
#define BIND_PHRASE 512 /* buffer for an error phrase built on the fly */
#define BIND_SUGGEST 3  /* "did you mean" names at most this many keys */

static void *bind_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p) {
		fputs("octo: out of memory\n", stderr);
		abort();
	}
	return p;
}

static bool bind_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* ---------------------------------------------------------------- value parsers */
const char *octo_cfg_parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; text && i < OCTO_ARRAY_LEN(yes); i++) {
		if (!strcasecmp(text, yes[i])) {
			*out = true;
			return NULL;
		}
		if (!strcasecmp(text, no[i])) {
			*out = false;
			return NULL;
		}
	}
	return "is not a boolean (yes/no)";
}

static const struct {
	const char *name;
	unsigned long long sec, ms; /* multiplier; 0: not a unit in that mode */
} bind_units[] = {
	{ "d", 86400, 86400000 }, { "h", 3600, 3600000 }, { "m", 60, 60000 },
	{ "s", 1, 1000 },         { "ms", 0, 1 },
};

/* "90", "90s", "15m", "2h", "1d", "1h30m" (seconds); "500", "250ms", "2s", "1s500ms" (ms).
 * Units go from the largest to the smallest, each at most once. */
const char *octo_cfg_parse_duration(const char *text, bool ms, unsigned long long *out)
{
	const char *bad = ms ? "is not a valid duration (like 500, 250ms, 2s)"
			     : "is not a valid duration (like 90, 45s, 15m, 2h, 1d)";
	const char *s = text;
	unsigned long long total = 0;
	int last = -1;

	if (!s || !*s)
		return bad;
	while (*s) {
		unsigned long long n = 0, mult = 0;
		bool big = false;
		size_t ulen = 0;
		int u;

		if (!bind_isdigit(*s))
			return bad;
		for (; bind_isdigit(*s); s++) {
			unsigned d = (unsigned)(*s - '0');

			if (n > (ULLONG_MAX - d) / 10)
				big = true;
			else
				n = n * 10 + d;
		}
		while (s[ulen] >= 'a' && s[ulen] <= 'z')
			ulen++;
		if (!ulen) {
			/* A bare number is the whole value, in the base unit. */
			if (last != -1 || *s)
				return bad;
			mult = 1;
		} else {
			for (u = 0; u < (int)OCTO_ARRAY_LEN(bind_units); u++)
				if (strlen(bind_units[u].name) == ulen &&
				    !strncmp(s, bind_units[u].name, ulen))
					break;
			if (u == (int)OCTO_ARRAY_LEN(bind_units) || u <= last)
				return bad;
			mult = ms ? bind_units[u].ms : bind_units[u].sec;
			if (!mult)
				return bad;
			last = u;
			s += ulen;
		}
		if (big || n > ULLONG_MAX / mult || total > ULLONG_MAX - n * mult)
			return "is too large";
		total += n * mult;
	}
	*out = total;
	return NULL;
}

/* Writes a duration the way it is written in a config: "1d", "1m30s", "250ms". */
static void bind_fmt_duration(char *buf, size_t size, unsigned long long v, bool ms)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!v) {
		snprintf(buf, size, "%s", ms ? "0ms" : "0s");
		return;
	}
	for (size_t i = 0; i < OCTO_ARRAY_LEN(bind_units) && off < size; i++) {
		unsigned long long mult = ms ? bind_units[i].ms : bind_units[i].sec;
		int n;

		if (!mult || v / mult == 0)
			continue;
		n = snprintf(buf + off, size - off, "%llu%s", v / mult, bind_units[i].name);
		if (n < 0)
			break;
		off += (size_t)n;
		v %= mult;
	}
}

/* A decimal integer, optional sign, nothing after it. False: not a number;
 * *big: a number too large for long long. */
static bool bind_parse_ll(const char *s, long long *out, bool *big)
{
	unsigned long long mag = 0;
	bool neg = false;

	*big = false;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (!bind_isdigit(*s))
		return false;
	for (; bind_isdigit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');

		if (mag > (ULLONG_MAX - d) / 10)
			*big = true;
		else
			mag = mag * 10 + d;
	}
	if (*s)
		return false;
	if (neg) {
		if (mag > (unsigned long long)LLONG_MAX + 1)
			*big = true;
		else if (mag == (unsigned long long)LLONG_MAX + 1)
			*out = LLONG_MIN;
		else
			*out = -(long long)mag;
	} else {
		if (mag > (unsigned long long)LLONG_MAX)
			*big = true;
		else
			*out = (long long)mag;
	}
	return true;
}

/* ---------------------------------------------------------------- addresses */
const char *octo_cidr_parse(const char *text, bool allow_prefix, struct octo_cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t alen;
	struct octo_cidr c;
	unsigned max;

	memset(&c, 0, sizeof(c));
	if (!text)
		return "is not a valid IP address";
	slash = strchr(text, '/');
	if (slash && !allow_prefix)
		return "is not a plain IP address (no /prefix allowed)";
	alen = slash ? (size_t)(slash - text) : strlen(text);
	if (!alen || alen >= sizeof(buf))
		return "is not a valid IP address";
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, &c.addr.v4) == 1) {
		c.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, &c.addr.v6) == 1) {
		c.family = AF_INET6;
		max = 128;
	} else {
		return "is not a valid IP address";
	}
	c.prefix = max;
	if (slash) {
		const char *d = slash + 1;
		unsigned n = 0;
		size_t i;

		for (i = 0; bind_isdigit(d[i]) && i < 4; i++)
			n = n * 10 + (unsigned)(d[i] - '0');
		if (!i || d[i] || n > max)
			return max == 32 ? "has a bad /prefix (0..32 for IPv4)"
					 : "has a bad /prefix (0..128 for IPv6)";
		c.prefix = n;
	}
	*out = c;
	return NULL;
}

/* Compares the first `bits` bits of two addresses. */
static bool bind_prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest) {
		unsigned char mask = (unsigned char)(0xFFu << (8 - rest));

		return (a[bytes] & mask) == (b[bytes] & mask);
	}
	return true;
}

bool octo_cidr_contains(const struct octo_cidr *net, const struct sockaddr *addr)
{
	if (!net || !addr)
		return false;
	if (net->family == AF_INET) {
		unsigned bits = net->prefix < 32 ? net->prefix : 32;

		if (addr->sa_family == AF_INET) {
			struct sockaddr_in sin;

			memcpy(&sin, addr, sizeof(sin));
			return bind_prefix_eq((const unsigned char *)&sin.sin_addr,
					      (const unsigned char *)&net->addr.v4, bits);
		}
		if (addr->sa_family == AF_INET6) {
			/* An IPv4 peer seen on a dual-stack socket: ::ffff:a.b.c.d */
			struct sockaddr_in6 sin6;

			memcpy(&sin6, addr, sizeof(sin6));
			if (!IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))
				return false;
			return bind_prefix_eq(sin6.sin6_addr.s6_addr + 12,
					      (const unsigned char *)&net->addr.v4, bits);
		}
		return false;
	}
	if (net->family == AF_INET6 && addr->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, addr, sizeof(sin6));
		return bind_prefix_eq(sin6.sin6_addr.s6_addr, net->addr.v6.s6_addr,
				      net->prefix < 128 ? net->prefix : 128);
	}
	return false;
}

/* ---------------------------------------------------------------- lists */
static void bind_list_free(struct octo_cfg_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

/* Adds the comma separated, trimmed, non-empty items of `text`. */
static void bind_list_add(struct octo_cfg_list *l, const char *text)
{
	const char *s = text;

	for (;;) {
		const char *end = strchr(s, ','), *a = s, *b;

		if (!end)
			end = s + strlen(s);
		b = end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b > a) {
			char *item = bind_xcalloc(1, (size_t)(b - a) + 1);

			memcpy(item, a, (size_t)(b - a));
			/* Capacity doubles at 4, 8, 16...: the count alone tells it. */
			if (l->count == 0 || (l->count >= 4 && !(l->count & (l->count - 1)))) {
				size_t cap = l->count ? l->count * 2 : 4;
				char **items = realloc(l->items, cap * sizeof(*items));

				if (!items) {
					fputs("octo: out of memory\n", stderr);
					abort();
				}
				l->items = items;
			}
			l->items[l->count++] = item;
		}
		if (!*end)
			break;
		s = end + 1;
	}
}

/* ---------------------------------------------------------------- binding */
static void bind_bounds(const struct octo_cfg_opt *opt, long long tmin, long long tmax,
			long long *lo, long long *hi)
{
	*lo = tmin;
	*hi = tmax;
	if (opt->min || opt->max) {
		*lo = opt->min > tmin ? opt->min : tmin;
		*hi = opt->max < tmax ? opt->max : tmax;
	}
}

/* Parses `value` into the field of `opt`. Returns NULL, or an error phrase
 * (possibly written into `phrase`, BIND_PHRASE bytes). `append`: a MULTI list
 * adds to what it holds. On error the field keeps its value. */
static const char *bind_apply(const struct octo_cfg_opt *opt, void *out, const char *value,
			      bool append, char *phrase)
{
	void *field = (char *)out + opt->offset;
	long long n, lo, hi;
	bool big;

	switch (opt->type) {
	case OCTO_CFG_T_STR: {
		char **p = field;

		free(*p);
		*p = octo_strdup(value);
		return NULL;
	}
	case OCTO_CFG_T_INT:
	case OCTO_CFG_T_UINT:
		if (opt->type == OCTO_CFG_T_INT)
			bind_bounds(opt, INT_MIN, INT_MAX, &lo, &hi);
		else
			bind_bounds(opt, 0, UINT_MAX, &lo, &hi);
		if (!bind_parse_ll(value, &n, &big))
			return "is not a number";
		if (big || n < lo || n > hi) {
			snprintf(phrase, BIND_PHRASE, "is out of range %lld..%lld", lo, hi);
			return phrase;
		}
		if (opt->type == OCTO_CFG_T_INT)
			*(int *)field = (int)n;
		else
			*(unsigned *)field = (unsigned)n;
		return NULL;
	case OCTO_CFG_T_BOOL: {
		bool b;
		const char *err = octo_cfg_parse_bool(value, &b);

		if (!err)
			*(bool *)field = b;
		return err;
	}
	case OCTO_CFG_T_ENUM: {
		size_t off;

		if (!opt->enum_values || !opt->enum_values[0])
			return "cannot be set: the option lists no values (bug in the option table)";
		for (size_t i = 0; opt->enum_values[i]; i++) {
			if (!strcasecmp(value, opt->enum_values[i])) {
				*(int *)field = (int)i;
				return NULL;
			}
		}
		off = (size_t)snprintf(phrase, BIND_PHRASE, "is not one of ");
		for (size_t i = 0; opt->enum_values[i] && off < BIND_PHRASE; i++) {
			int w = snprintf(phrase + off, BIND_PHRASE - off, "%s%s", i ? "|" : "",
					 opt->enum_values[i]);

			if (w < 0)
				break;
			off += (size_t)w;
		}
		return phrase;
	}
	case OCTO_CFG_T_LIST: {
		struct octo_cfg_list *l = field;

		if (!append)
			bind_list_free(l);
		bind_list_add(l, value);
		return NULL;
	}
	case OCTO_CFG_T_DURATION:
	case OCTO_CFG_T_DURATION_MS: {
		bool ms = opt->type == OCTO_CFG_T_DURATION_MS;
		unsigned long long v;
		const char *err = octo_cfg_parse_duration(value, ms, &v);

		if (err)
			return err;
		bind_bounds(opt, 0, UINT_MAX, &lo, &hi);
		if (v < (unsigned long long)lo || v > (unsigned long long)hi) {
			char a[64], b[64];

			bind_fmt_duration(a, sizeof(a), (unsigned long long)lo, ms);
			bind_fmt_duration(b, sizeof(b), (unsigned long long)hi, ms);
			snprintf(phrase, BIND_PHRASE, "is out of range %s..%s", a, b);
			return phrase;
		}
		*(unsigned *)field = (unsigned)v;
		return NULL;
	}
	case OCTO_CFG_T_ADDR: {
		struct octo_cidr c;
		const char *err = octo_cidr_parse(value, !(opt->flags & OCTO_CFG_NO_PREFIX), &c);

		if (!err)
			*(struct octo_cidr *)field = c;
		return err;
	}
	case OCTO_CFG_T_CUSTOM:
		if (!opt->set)
			return "cannot be set: no setter (bug in the option table)";
		return opt->set(field, value);
	}
	return "cannot be set: unknown option type (bug in the option table)";
}

static long bind_find(const struct octo_cfg_opt *opts, size_t nopts, const char *key)
{
	for (size_t i = 0; i < nopts; i++)
		if (!strcmp(opts[i].key, key))
			return (long)i;
	return -1;
}

/* Warns about an unknown key, naming the closest known keys. */
static void bind_unknown(struct octo_diags *d, const char *where, const struct octo_cfg_var *v,
			 const struct octo_cfg_opt *opts, size_t nopts)
{
	char kb[BIND_CLEAN], hint[BIND_SUGGEST * (BIND_CLEAN + 8) + 32];
	size_t best[BIND_SUGGEST], len = strlen(v->name), off;
	unsigned bestd[BIND_SUGGEST], limit = len / 3 > 2 ? (unsigned)(len / 3) : 2;
	int nbest = 0;

	for (size_t i = 0; i < nopts; i++) {
		size_t klen = strlen(opts[i].key);
		unsigned dist;
		int pos;

		/* The distance is at least the difference of the lengths. */
		if (klen > len + limit || len > klen + limit)
			continue;
		dist = octo_edit_distance(v->name, opts[i].key);
		if (dist > limit || dist * 2 > klen)
			continue; /* too far, or more than half of the key changed */
		for (pos = nbest; pos > 0 && bestd[pos - 1] > dist; pos--)
			;
		if (pos >= BIND_SUGGEST)
			continue;
		for (int j = (nbest < BIND_SUGGEST ? nbest : BIND_SUGGEST - 1); j > pos; j--) {
			best[j] = best[j - 1];
			bestd[j] = bestd[j - 1];
		}
		best[pos] = i;
		bestd[pos] = dist;
		if (nbest < BIND_SUGGEST)
			nbest++;
	}
	hint[0] = '\0';
	if (nbest) {
		off = (size_t)snprintf(hint, sizeof(hint), " (did you mean");
		for (int j = 0; j < nbest; j++) {
			char ob[BIND_CLEAN];

			off += (size_t)snprintf(hint + off, sizeof(hint) - off, "%s\"%s\"",
						j == 0           ? " "
						: j == nbest - 1 ? " or "
								 : ", ",
						octo_cfg_clean(ob, opts[best[j]].key));
		}
		snprintf(hint + off, sizeof(hint) - off, "?)");
	}
	octo_diags_add(d, OCTO_DIAG_WARNING, v->file, v->line, "%sunknown option \"%s\"%s", where,
		       octo_cfg_clean(kb, v->name), hint);
}

int octo_cfg_bind(const struct octo_cfg_section *sec, const struct octo_cfg_opt *opts, void *out,
		  bool (*ignore)(const char *key), struct octo_diags *diags)
{
	struct octo_diags local = { 0 };
	char where[BIND_CLEAN + 4] = "", sb[BIND_CLEAN], vb[BIND_CLEAN], phrase[BIND_PHRASE];
	const struct octo_cfg_var **last;
	const char *sfile = sec ? sec->file : NULL;
	int sline = sec ? sec->line : 0;
	size_t nopts = 0, nvars = 0, errors_before, i;
	unsigned *seen;
	bool *started;
	long *idx;
	int rc;

	if (!diags)
		diags = &local;
	if (!opts || !out)
		return OCTO_EINVAL;
	errors_before = diags->errors;
	if (sec)
		snprintf(where, sizeof(where), "[%s] ", octo_cfg_clean(sb, sec->name));
	while (opts[nopts].key)
		nopts++;
	for (const struct octo_cfg_var *v = sec ? sec->vars : NULL; v; v = v->next)
		nvars++;
	idx = bind_xcalloc(nvars, sizeof(*idx));
	seen = bind_xcalloc(nopts, sizeof(*seen));
	started = bind_xcalloc(nopts, sizeof(*started));
	last = bind_xcalloc(nopts, sizeof(*last));

	/* Which option each key sets, and the last occurrence of each option. */
	i = 0;
	for (const struct octo_cfg_var *v = sec ? sec->vars : NULL; v; v = v->next, i++) {
		if (ignore && ignore(v->name)) {
			idx[i] = -2;
			continue;
		}
		idx[i] = bind_find(opts, nopts, v->name);
		if (idx[i] >= 0) {
			seen[idx[i]]++;
			last[idx[i]] = v;
		}
	}

	for (size_t k = 0; k < nopts; k++) {
		const struct octo_cfg_opt *opt = &opts[k];
		const char *err;

		if (!opt->def || (opt->type == OCTO_CFG_T_CUSTOM && seen[k]))
			continue;
		err = bind_apply(opt, out, opt->def, false, phrase);
		if (err)
			octo_diags_add(diags, OCTO_DIAG_ERROR, sfile, sline,
				       "%s%s: default \"%s\" %s (bug in the option table)", where,
				       opt->key, octo_cfg_clean(vb, opt->def), err);
	}

	i = 0;
	for (const struct octo_cfg_var *v = sec ? sec->vars : NULL; v; v = v->next, i++) {
		const struct octo_cfg_opt *opt;
		const char *err;
		bool append;

		if (idx[i] == -2)
			continue;
		if (idx[i] == -1) {
			bind_unknown(diags, where, v, opts, nopts);
			continue;
		}
		opt = &opts[idx[i]];
		if (opt->type == OCTO_CFG_T_CUSTOM && last[idx[i]] != v)
			continue;
		append = opt->type == OCTO_CFG_T_LIST && (opt->flags & OCTO_CFG_MULTI) &&
			 started[idx[i]];
		started[idx[i]] = true;
		err = bind_apply(opt, out, v->value, append, phrase);
		if (err)
			octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line, "%s%s: \"%s\" %s",
				       where, opt->key, octo_cfg_clean(vb, v->value), err);
	}

	for (size_t k = 0; k < nopts; k++)
		if ((opts[k].flags & OCTO_CFG_REQUIRED) && !seen[k])
			octo_diags_add(diags, OCTO_DIAG_ERROR, sfile, sline,
				       "%s%s: required option missing", where, opts[k].key);

	rc = diags->errors > errors_before ? OCTO_ECONFIG : 0;
	free(idx);
	free(seen);
	free(started);
	free(last);
	octo_diags_free(&local);
	return rc;
}

void octo_cfg_unbind(const struct octo_cfg_opt *opts, void *out)
{
	if (!opts || !out)
		return;
	for (const struct octo_cfg_opt *opt = opts; opt->key; opt++) {
		void *field = (char *)out + opt->offset;

		switch (opt->type) {
		case OCTO_CFG_T_STR: {
			char **p = field;

			free(*p);
			*p = NULL;
			break;
		}
		case OCTO_CFG_T_LIST: bind_list_free(field); break;
		case OCTO_CFG_T_CUSTOM:
			if (opt->free)
				opt->free(field);
			break;
		default: break;
		}
	}
}

/* ---------------------------------------------------------------- edit distance */
unsigned octo_edit_distance(const char *a, const char *b)
{
	unsigned small[64], *row;
	size_t la, lb;

	if (!a)
		a = "";
	if (!b)
		b = "";
	la = strlen(a);
	lb = strlen(b);
	if (la < lb) {
		const char *t = a;
		size_t tl = la;

		a = b;
		b = t;
		la = lb;
		lb = tl;
	}
	/* One row over the shorter string b. */
	if (lb == 0)
		return (unsigned)la;
	row = lb + 1 <= OCTO_ARRAY_LEN(small) ? small : bind_xcalloc(lb + 1, sizeof(*row));
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned up = row[j];
			unsigned best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	{
		unsigned d = row[lb];

		if (row != small)
			free(row);
		return d;
	}
}
