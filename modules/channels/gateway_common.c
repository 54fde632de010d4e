/*
 * gateway_common.c - the device model, gateways.conf parsing and the CLI
 * shared by the gateway channel modules (see gateway_common.h). Compiled
 * into each gateway module; every symbol here is private to the module
 * that includes it (modules are opened with local binding).
 *
 * gateways.conf has one section per gateway; `type` says which module
 * takes it. The lines of a gateway are repeated keys with comma-separated
 * fields, parsed here with their own file:line:
 *
 *   fxs   port = N,EXT[,fax]              fxo  line = N,NUMBER
 *   bri   port = N,ptp|ptmp,NUM NUM ...   pri  span = N,e1|t1   did = LO-HI
 *   gsm   sim = N,NUMBER                  dect base = NAME,HOST[:PORT]
 *                                              handset = IPUI,USER[,BASE]
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/cli.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/registry.h"
#include "octo/obj.h"
#include "octo/sip.h"
#include "octo/users.h"

#include "gateway_common.h"

static const char *const gw_kind_names[GW_KINDS] = { "fxs", "fxo", "bri", "pri", "gsm", "dect" };

const char *const gw_hunt_names[] = { "ascending", "descending", "round-robin", NULL };

/* The national tone plans (ITU-T E.180 and the operators' own specifications):
 * a frequency (or two mixed, "350+440 Hz") and its cadence in seconds. */
static const struct gw_tone_zone gw_tone_zones[] = {
	{ "it", "Italy", "425 Hz, 0.2 on 0.2 off 0.6 on 1.0 off", "425 Hz, 1.0 on 4.0 off",
	  "425 Hz, 0.5 on 0.5 off", "425 Hz, 0.2 on 0.2 off" },
	{ "de", "Germany", "425 Hz, continuous", "425 Hz, 1.0 on 4.0 off",
	  "425 Hz, 0.48 on 0.48 off", "425 Hz, 0.24 on 0.24 off" },
	{ "fr", "France", "440 Hz, continuous", "440 Hz, 1.5 on 3.5 off",
	  "440 Hz, 0.5 on 0.5 off", "440 Hz, 0.25 on 0.25 off" },
	{ "uk", "United Kingdom", "350+440 Hz, continuous",
	  "400+450 Hz, 0.4 on 0.2 off 0.4 on 2.0 off", "400 Hz, 0.375 on 0.375 off",
	  "400 Hz, 0.4 on 0.35 off 0.225 on 0.525 off" },
	{ "us", "United States", "350+440 Hz, continuous", "440+480 Hz, 2.0 on 4.0 off",
	  "480+620 Hz, 0.5 on 0.5 off", "480+620 Hz, 0.25 on 0.25 off" },
	{ "es", "Spain", "425 Hz, continuous", "425 Hz, 1.5 on 3.0 off",
	  "425 Hz, 0.2 on 0.2 off", "425 Hz, 0.2 on 0.2 off 0.2 on 0.2 off 0.2 on 0.6 off" },
	{ "nl", "Netherlands", "425 Hz, continuous", "425 Hz, 1.0 on 4.0 off",
	  "425 Hz, 0.5 on 0.5 off", "425 Hz, 0.25 on 0.25 off" },
	{ "ch", "Switzerland", "425 Hz, continuous", "425 Hz, 1.0 on 4.0 off",
	  "425 Hz, 0.5 on 0.5 off", "425 Hz, 0.2 on 0.2 off" },
	{ "at", "Austria", "420 Hz, continuous", "420 Hz, 1.0 on 5.0 off",
	  "420 Hz, 0.4 on 0.4 off", "420 Hz, 0.2 on 0.2 off" },
	{ "be", "Belgium", "425 Hz, continuous", "425 Hz, 1.0 on 3.0 off",
	  "425 Hz, 0.5 on 0.5 off", "425 Hz, 0.167 on 0.167 off" },
	{ "pt", "Portugal", "425 Hz, continuous", "425 Hz, 1.0 on 5.0 off",
	  "425 Hz, 0.5 on 0.5 off", "425 Hz, 0.2 on 0.2 off" },
	{ "se", "Sweden", "425 Hz, continuous", "425 Hz, 1.0 on 5.0 off",
	  "425 Hz, 0.25 on 0.25 off", "425 Hz, 0.25 on 0.75 off" },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};

const struct gw_tone_zone *gw_tone_zone_find(const char *zone)
{
	for (size_t i = 0; zone && gw_tone_zones[i].zone; i++)
		if (!strcasecmp(gw_tone_zones[i].zone, zone))
			return &gw_tone_zones[i];
	return NULL;
}

const char *gw_kind_name(enum gw_kind kind)
{
	return (unsigned)kind < GW_KINDS ? gw_kind_names[kind] : "?";
}

int gw_kind_parse(const char *name)
{
	for (int i = 0; name && i < GW_KINDS; i++)
		if (!strcasecmp(name, gw_kind_names[i]))
			return i;
	return -1;
}

const char *gw_slot_state_name(enum gw_slot_state st)
{
	return st == GW_SLOT_IN ? "in" : st == GW_SLOT_OUT ? "out" : "idle";
}

/* ---------------------------------------------------------------- options */

#define GW_OPTS_SIP                                                                          \
	OCTO_CFG_STR("type", struct gw_cfg, type, NULL, OCTO_CFG_REQUIRED),                  \
	OCTO_CFG_STR("description", struct gw_cfg, description, "", 0),                      \
	OCTO_CFG_STR("host", struct gw_cfg, host, "dynamic", 0),                             \
	OCTO_CFG_UINT("sip_port", struct gw_cfg, sip_port, "5060", 1, 65535),                \
	OCTO_CFG_STR("transport", struct gw_cfg, transport, "udp", 0),                       \
	OCTO_CFG_STR("username", struct gw_cfg, username, "", 0),                            \
	OCTO_CFG_STR("secret", struct gw_cfg, secret, "", 0),                                \
	OCTO_CFG_STR("match", struct gw_cfg, match, "", 0),                                  \
	OCTO_CFG_STR("codecs", struct gw_cfg, codecs, "", 0),                                \
	OCTO_CFG_BOOL("qualify", struct gw_cfg, qualify, "no")

#define GW_OPT_PROCEDURE OCTO_CFG_STR("procedure", struct gw_cfg, procedure, "main", 0)
#define GW_OPT_TRUNK OCTO_CFG_STR("trunk", struct gw_cfg, trunk, NULL, 0)
#define GW_OPT_TONE OCTO_CFG_STR("tone_zone", struct gw_cfg, tone_zone, "it", 0)
#define GW_OPT_HUNT(d) OCTO_CFG_ENUM("hunting", struct gw_cfg, hunting, d, gw_hunt_names)

static const struct octo_cfg_opt gw_opts_fxs[] = { GW_OPTS_SIP, GW_OPT_TONE, OCTO_CFG_END };
static const struct octo_cfg_opt gw_opts_fxo[] = {
	GW_OPTS_SIP, GW_OPT_PROCEDURE, GW_OPT_TRUNK, GW_OPT_TONE, GW_OPT_HUNT("ascending"),
	OCTO_CFG_END
};
static const struct octo_cfg_opt gw_opts_isdn[] = {
	GW_OPTS_SIP, GW_OPT_PROCEDURE, GW_OPT_TRUNK, GW_OPT_HUNT("ascending"), OCTO_CFG_END
};
static const struct octo_cfg_opt gw_opts_gsm[] = {
	GW_OPTS_SIP, GW_OPT_PROCEDURE, GW_OPT_TRUNK, GW_OPT_HUNT("round-robin"),
	OCTO_CFG_BOOL("sms", struct gw_cfg, sms, "yes"),
	OCTO_CFG_STR("sms_email", struct gw_cfg, sms_email, "", 0),
	OCTO_CFG_END
};
static const struct octo_cfg_opt gw_opts_dect[] = { GW_OPTS_SIP, OCTO_CFG_END };

static bool gw_ignore_fxs(const char *key)
{
	return !strcmp(key, "port");
}
static bool gw_ignore_fxo(const char *key)
{
	return !strcmp(key, "line");
}
static bool gw_ignore_bri(const char *key)
{
	return !strcmp(key, "port");
}
static bool gw_ignore_pri(const char *key)
{
	return !strcmp(key, "span") || !strcmp(key, "did");
}
static bool gw_ignore_gsm(const char *key)
{
	return !strcmp(key, "sim");
}
static bool gw_ignore_dect(const char *key)
{
	return !strcmp(key, "base") || !strcmp(key, "handset");
}

static const struct {
	const struct octo_cfg_opt *opts;
	bool (*ignore)(const char *key);
	const char *line_key; /* the repeated key that makes lines */
	unsigned max_id;      /* highest line number */
} gw_kinds[GW_KINDS] = {
	[GW_FXS] = { gw_opts_fxs, gw_ignore_fxs, "port", GW_LINES_MAX },
	[GW_FXO] = { gw_opts_fxo, gw_ignore_fxo, "line", GW_LINES_MAX },
	[GW_BRI] = { gw_opts_isdn, gw_ignore_bri, "port", 32 },
	[GW_PRI] = { gw_opts_isdn, gw_ignore_pri, "span", 16 },
	[GW_GSM] = { gw_opts_gsm, gw_ignore_gsm, "sim", 32 },
	[GW_DECT] = { gw_opts_dect, gw_ignore_dect, "handset", GW_LINES_MAX },
};

const char *gw_line_key(enum gw_kind kind)
{
	return (unsigned)kind < GW_KINDS ? gw_kinds[kind].line_key : "line";
}

/* ---------------------------------------------------------------- small parsers */

static bool gw_is_number(const char *s, size_t max)
{
	size_t n = 0;

	if (*s == '+')
		s++;
	for (; *s; s++, n++)
		if (!isdigit((unsigned char)*s) && *s != '*' && *s != '#')
			return false;
	return n > 0 && n <= max;
}

static bool gw_is_ext(const char *s)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return n > 0 && n <= GW_NUMBER_MAX;
}

static bool gw_is_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

const char *gw_numrange_parse(const char *text, struct gw_numrange *out)
{
	const char *dash = strchr(text, '-');
	size_t len;

	memset(out, 0, sizeof(*out));
	if (!dash) {
		if (!gw_is_number(text, GW_NUMBER_MAX))
			return "is not a number";
		octo_strlcpy(out->lo, text, sizeof(out->lo));
		octo_strlcpy(out->hi, text, sizeof(out->hi));
		return NULL;
	}
	len = (size_t)(dash - text);
	if (!len || len > GW_NUMBER_MAX || strlen(dash + 1) != len)
		return "is not a range of numbers of the same length (like 0212345600-0212345699)";
	memcpy(out->lo, text, len);
	octo_strlcpy(out->hi, dash + 1, sizeof(out->hi));
	if (!gw_is_digits(out->lo) || !gw_is_digits(out->hi))
		return "is not a range of numbers of the same length (like 0212345600-0212345699)";
	if (strcmp(out->lo, out->hi) > 0)
		return "is a range whose first number is above its last";
	return NULL;
}

bool gw_numrange_match(const struct gw_numrange *r, const char *number)
{
	size_t len = strlen(r->lo);

	if (!number || strlen(number) != len)
		return false;
	if (!strcmp(r->lo, r->hi))
		return !strcmp(r->lo, number);
	return gw_is_digits(number) && strcmp(number, r->lo) >= 0 && strcmp(number, r->hi) <= 0;
}

/* Splits `text` at commas into at most `max` trimmed fields (in `buf`).
 * Returns the number of fields, or -1 when there are more. */
static int gw_fields(const char *text, char *buf, size_t size, char **fields, int max)
{
	int n = 0;
	char *p;

	octo_strlcpy(buf, text, size);
	p = buf;
	for (;;) {
		char *comma = strchr(p, ','), *end;

		if (n == max)
			return -1;
		if (comma)
			*comma = '\0';
		while (isspace((unsigned char)*p))
			p++;
		end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			*--end = '\0';
		fields[n++] = p;
		if (!comma)
			return n;
		p = comma + 1;
	}
}

/* Parses a line number 1..max. */
static bool gw_parse_id(const char *text, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (!gw_is_digits(text) || strlen(text) > 5)
		return false;
	v = strtoul(text, &end, 10);
	if (*end || v < 1 || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

/* "host" or "host:port" for a DECT base: a numeric IP or "dynamic". */
static bool gw_parse_hostport(const char *text, char *host, size_t hsize, unsigned *port)
{
	unsigned char addr[16];
	const char *colon = strrchr(text, ':');
	char tmp[64];

	*port = 5060;
	octo_strlcpy(tmp, text, sizeof(tmp));
	if (strlen(text) >= sizeof(tmp))
		return false;
	/* One colon: IPv4 or dynamic with a port; more: a bare IPv6 address. */
	if (colon && strchr(text, ':') == colon) {
		tmp[colon - text] = '\0';
		if (!gw_parse_id(colon + 1, 65535, port))
			return false;
	}
	if (strcasecmp(tmp, "dynamic") && inet_pton(AF_INET, tmp, addr) != 1 &&
	    inet_pton(AF_INET6, tmp, addr) != 1)
		return false;
	octo_strlcpy(host, tmp, hsize);
	return true;
}

static bool gw_is_ipui(const char *s)
{
	size_t n = strlen(s);

	if (n < 4 || n >= GW_TAG_MAX)
		return false;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return false;
	return true;
}

/* ---------------------------------------------------------------- section */

struct gw_parse {
	struct gw *gw;
	const struct octo_cfg_section *sec;
	struct octo_diags *diags;
	bool bad;
};

static void gw_err(struct gw_parse *p, const struct octo_cfg_var *v, const char *fmt, ...)
	OCTO_PRINTF(3, 4);

static void gw_err(struct gw_parse *p, const struct octo_cfg_var *v, const char *fmt, ...)
{
	char msg[512], sb[OCTO_CFG_CLEAN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	octo_diags_add(p->diags, OCTO_DIAG_ERROR, v ? v->file : p->sec->file,
		       v ? v->line : p->sec->line, "[%s] %s%s%s",
		       octo_cfg_clean(sb, p->sec->name), v ? v->name : "", v ? ": " : "", msg);
	p->bad = true;
}

/* The line number 1..max in text into *id; else the error, which calls it
 * a `what` number, and false. */
static bool gw_parse_line_id(struct gw_parse *p, const struct octo_cfg_var *v, const char *text,
			     unsigned max, const char *what, unsigned *id)
{
	char cb[OCTO_CFG_CLEAN];

	if (gw_parse_id(text, max, id))
		return true;
	gw_err(p, v, "\"%s\" is not a %s number 1..%u", octo_cfg_clean(cb, text), what, max);
	return false;
}

static struct gw_line *gw_line_new(struct gw_parse *p, const struct octo_cfg_var *v,
				   unsigned id)
{
	struct gw *gw = p->gw;
	struct gw_line *l;

	for (size_t i = 0; i < gw->nlines; i++) {
		if (gw->lines[i].id == id) {
			gw_err(p, v, "%s %u is defined twice", gw_kinds[gw->kind].line_key, id);
			return NULL;
		}
	}
	if (gw->nlines == GW_LINES_MAX) {
		gw_err(p, v, "more than %d lines", GW_LINES_MAX);
		return NULL;
	}
	l = &gw->lines[gw->nlines++];
	memset(l, 0, sizeof(*l));
	l->id = id;
	l->signal = 99;
	return l;
}

static void gw_parse_fxs(struct gw_parse *p, const struct octo_cfg_var *v)
{
	char buf[256], *f[4], cb[OCTO_CFG_CLEAN];
	int n = gw_fields(v->value, buf, sizeof(buf), f, 4);
	struct gw_line *l;
	unsigned id;

	if (n < 2 || n > 3) {
		gw_err(p, v, "\"%s\" is not PORT,EXTENSION or PORT,EXTENSION,fax",
		       octo_cfg_clean(cb, v->value));
		return;
	}
	if (!gw_parse_line_id(p, v, f[0], GW_LINES_MAX, "port", &id))
		return;
	if (!gw_is_ext(f[1])) {
		gw_err(p, v, "\"%s\" is not an extension", octo_cfg_clean(cb, f[1]));
		return;
	}
	if (n == 3 && strcasecmp(f[2], "fax")) {
		gw_err(p, v, "\"%s\": the third field can only be \"fax\"", octo_cfg_clean(cb, f[2]));
		return;
	}
	for (size_t i = 0; i < p->gw->nlines; i++) {
		if (!strcmp(p->gw->lines[i].user, f[1])) {
			gw_err(p, v, "extension %s has port %u already", f[1], p->gw->lines[i].id);
			return;
		}
	}
	l = gw_line_new(p, v, id);
	if (!l)
		return;
	octo_strlcpy(l->user, f[1], sizeof(l->user));
	l->fax = n == 3;
}

static void gw_parse_simple_line(struct gw_parse *p, const struct octo_cfg_var *v,
				 const char *what)
{
	char buf[256], *f[3], cb[OCTO_CFG_CLEAN];
	int n = gw_fields(v->value, buf, sizeof(buf), f, 3);
	unsigned max = gw_kinds[p->gw->kind].max_id;
	struct gw_line *l;
	unsigned id;

	if (n != 2) {
		gw_err(p, v, "\"%s\" is not %s,NUMBER", octo_cfg_clean(cb, v->value), what);
		return;
	}
	if (!gw_parse_line_id(p, v, f[0], max, p->gw->kind == GW_GSM ? "SIM slot" : "line", &id))
		return;
	if (!gw_is_number(f[1], GW_NUMBER_MAX)) {
		gw_err(p, v, "\"%s\" is not a phone number", octo_cfg_clean(cb, f[1]));
		return;
	}
	for (size_t i = 0; i < p->gw->nlines; i++) {
		if (!strcmp(p->gw->lines[i].number, f[1])) {
			gw_err(p, v, "number %s is on %s %u already", f[1],
			       gw_kinds[p->gw->kind].line_key, p->gw->lines[i].id);
			return;
		}
	}
	l = gw_line_new(p, v, id);
	if (!l)
		return;
	octo_strlcpy(l->number, f[1], sizeof(l->number));
	if (p->gw->kind == GW_GSM)
		octo_strlcpy(l->state, "unknown", sizeof(l->state));
}

static void gw_parse_bri(struct gw_parse *p, const struct octo_cfg_var *v)
{
	char buf[512], *f[4], cb[OCTO_CFG_CLEAN], *save = NULL;
	int n = gw_fields(v->value, buf, sizeof(buf), f, 4);
	struct gw_line *l;
	unsigned id;
	bool ptmp;

	if (n != 3) {
		gw_err(p, v, "\"%s\" is not PORT,ptp|ptmp,NUMBERS", octo_cfg_clean(cb, v->value));
		return;
	}
	if (!gw_parse_line_id(p, v, f[0], gw_kinds[GW_BRI].max_id, "port", &id))
		return;
	if (strcasecmp(f[1], "ptp") && strcasecmp(f[1], "ptmp")) {
		gw_err(p, v, "\"%s\" is not a mode (ptp or ptmp)", octo_cfg_clean(cb, f[1]));
		return;
	}
	ptmp = !strcasecmp(f[1], "ptmp");
	l = gw_line_new(p, v, id);
	if (!l)
		return;
	l->ptmp = ptmp;
	for (char *tok = strtok_r(f[2], " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		struct gw_numrange r;
		const char *why = gw_numrange_parse(tok, &r);

		if (why) {
			gw_err(p, v, "\"%s\" %s", octo_cfg_clean(cb, tok), why);
			return;
		}
		if (ptmp && strcmp(r.lo, r.hi)) {
			gw_err(p, v, "\"%s\": a point-to-multipoint port has MSNs (single "
			       "numbers), not DID ranges", octo_cfg_clean(cb, tok));
			return;
		}
		if (l->nnumbers == GW_NUMBERS_MAX) {
			gw_err(p, v, "more than %d numbers", GW_NUMBERS_MAX);
			return;
		}
		l->numbers[l->nnumbers++] = r;
	}
	if (!l->nnumbers)
		gw_err(p, v, "the port has no number");
}

static void gw_parse_span(struct gw_parse *p, const struct octo_cfg_var *v)
{
	char buf[128], *f[3], cb[OCTO_CFG_CLEAN];
	int n = gw_fields(v->value, buf, sizeof(buf), f, 3);
	struct gw_line *l;
	unsigned id;

	if (n != 2) {
		gw_err(p, v, "\"%s\" is not SPAN,e1 or SPAN,t1", octo_cfg_clean(cb, v->value));
		return;
	}
	if (!gw_parse_line_id(p, v, f[0], gw_kinds[GW_PRI].max_id, "span", &id))
		return;
	if (strcasecmp(f[1], "e1") && strcasecmp(f[1], "t1")) {
		gw_err(p, v, "\"%s\" is not a span type (e1: 30 B-channels, t1: 23)",
		       octo_cfg_clean(cb, f[1]));
		return;
	}
	l = gw_line_new(p, v, id);
	if (l)
		l->t1 = !strcasecmp(f[1], "t1");
}

static void gw_parse_did(struct gw_parse *p, const struct octo_cfg_var *v)
{
	char buf[512], *f[GW_NUMBERS_MAX + 1], cb[OCTO_CFG_CLEAN];
	int n = gw_fields(v->value, buf, sizeof(buf), f, GW_NUMBERS_MAX + 1);

	if (n < 0) {
		gw_err(p, v, "more than %d DID ranges", GW_NUMBERS_MAX);
		return;
	}
	for (int i = 0; i < n; i++) {
		struct gw_numrange r;
		const char *why = gw_numrange_parse(f[i], &r);

		if (why) {
			gw_err(p, v, "\"%s\" %s", octo_cfg_clean(cb, f[i]), why);
			return;
		}
		if (p->gw->ndids == GW_NUMBERS_MAX) {
			gw_err(p, v, "more than %d DID ranges", GW_NUMBERS_MAX);
			return;
		}
		p->gw->dids[p->gw->ndids++] = r;
	}
}

static void gw_parse_base(struct gw_parse *p, const struct octo_cfg_var *v)
{
	char buf[256], *f[3], cb[OCTO_CFG_CLEAN];
	int n = gw_fields(v->value, buf, sizeof(buf), f, 3);
	struct gw_base *b;

	if (n != 2 || !*f[0]) {
		gw_err(p, v, "\"%s\" is not NAME,HOST or NAME,HOST:PORT",
		       octo_cfg_clean(cb, v->value));
		return;
	}
	if (!gw_is_ext(f[0]) || strlen(f[0]) > GW_NAME_MAX) {
		gw_err(p, v, "\"%s\" is not a base name (letters, digits, _ - .)",
		       octo_cfg_clean(cb, f[0]));
		return;
	}
	for (size_t i = 0; i < p->gw->nbases; i++) {
		if (!strcasecmp(p->gw->bases[i].name, f[0])) {
			gw_err(p, v, "base %s is defined twice", f[0]);
			return;
		}
	}
	if (p->gw->nbases == GW_BASES_MAX) {
		gw_err(p, v, "more than %d bases", GW_BASES_MAX);
		return;
	}
	b = &p->gw->bases[p->gw->nbases];
	memset(b, 0, sizeof(*b));
	if (!gw_parse_hostport(f[1], b->host, sizeof(b->host), &b->port)) {
		gw_err(p, v, "\"%s\" is not a numeric IP address or \"dynamic\", with an "
		       "optional :PORT", octo_cfg_clean(cb, f[1]));
		return;
	}
	octo_strlcpy(b->name, f[0], sizeof(b->name));
	octo_strlcpy(b->state, "Unknown", sizeof(b->state));
	p->gw->nbases++;
}

static void gw_parse_handset(struct gw_parse *p, const struct octo_cfg_var *v)
{
	char buf[256], *f[4], cb[OCTO_CFG_CLEAN];
	int n = gw_fields(v->value, buf, sizeof(buf), f, 4);
	struct gw_line *l;
	size_t base = 0;

	if (n < 2 || n > 3) {
		gw_err(p, v, "\"%s\" is not IPUI,USER or IPUI,USER,BASE",
		       octo_cfg_clean(cb, v->value));
		return;
	}
	if (!gw_is_ipui(f[0])) {
		gw_err(p, v, "\"%s\" is not an IPUI (4 to %d hexadecimal digits)",
		       octo_cfg_clean(cb, f[0]), GW_TAG_MAX - 1);
		return;
	}
	if (*f[1] && strcmp(f[1], "-") && !gw_is_ext(f[1])) {
		gw_err(p, v, "\"%s\" is not an extension (or - for none)", octo_cfg_clean(cb, f[1]));
		return;
	}
	if (n == 3) {
		for (base = 0; base < p->gw->nbases; base++)
			if (!strcasecmp(p->gw->bases[base].name, f[2]))
				break;
		if (base == p->gw->nbases) {
			gw_err(p, v, "no base \"%s\" (bases are defined before handsets)",
			       octo_cfg_clean(cb, f[2]));
			return;
		}
	} else if (!p->gw->nbases) {
		gw_err(p, v, "no base defined before this handset");
		return;
	}
	for (size_t i = 0; i < p->gw->nlines; i++) {
		if (!strcasecmp(p->gw->lines[i].ipui, f[0])) {
			gw_err(p, v, "handset %s is defined twice", f[0]);
			return;
		}
	}
	l = gw_line_new(p, v, (unsigned)p->gw->nlines + 1);
	if (!l)
		return;
	for (size_t i = 0; f[0][i]; i++)
		f[0][i] = (char)toupper((unsigned char)f[0][i]);
	octo_strlcpy(l->ipui, f[0], sizeof(l->ipui));
	if (strcmp(f[1], "-"))
		octo_strlcpy(l->user, f[1], sizeof(l->user));
	l->base = (unsigned)base;
	octo_strlcpy(l->state, "registered", sizeof(l->state));
}

static int gw_line_cmp(const void *a, const void *b)
{
	const struct gw_line *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Keys of the SIP side: a change of one of them needs a new SIP peer. */
static bool gw_sip_key(const char *key)
{
	static const char *const keys[] = { "type", "host", "sip_port", "transport", "username",
					    "secret", "match", "codecs", "qualify", "base", NULL };

	for (size_t i = 0; keys[i]; i++)
		if (!strcasecmp(keys[i], key))
			return true;
	return false;
}

/* The section's keys and values in file order, split into the SIP side and
 * the rest, for a reload to tell what changed. */
static bool gw_make_sigs(struct gw *gw, const struct octo_cfg_section *sec)
{
	size_t len[2] = { 1, 1 }, off[2] = { 0, 0 };
	char *sig[2];

	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next)
		len[!gw_sip_key(v->name)] += strlen(v->name) + strlen(v->value) + 2;
	sig[0] = malloc(len[0]);
	sig[1] = malloc(len[1]);
	if (!sig[0] || !sig[1]) {
		free(sig[0]);
		free(sig[1]);
		return false;
	}
	sig[0][0] = sig[1][0] = '\0';
	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
		int k = !gw_sip_key(v->name);

		off[k] += (size_t)snprintf(sig[k] + off[k], len[k] - off[k], "%s=%s\n", v->name,
					   v->value);
	}
	gw->sip_sig = sig[0];
	gw->model_sig = sig[1];
	return true;
}

/* Makes the slots from the lines. */
static bool gw_make_slots(struct gw_parse *p)
{
	struct gw *gw = p->gw;
	size_t total = 0, k = 0;

	/* DECT handsets keep their order (their ids are positions). */
	if (gw->kind != GW_DECT)
		qsort(gw->lines, gw->nlines, sizeof(gw->lines[0]), gw_line_cmp);
	for (size_t i = 0; i < gw->nlines; i++) {
		struct gw_line *l = &gw->lines[i];

		l->nslots = gw->kind == GW_BRI ? 2 : gw->kind == GW_PRI ? (l->t1 ? 23 : 30) : 1;
		l->first_slot = (unsigned)total;
		total += l->nslots;
	}
	if (total > GW_SLOTS_MAX) {
		gw_err(p, NULL, "%zu channels in all, more than %d", total, GW_SLOTS_MAX);
		return false;
	}
	gw->slots = calloc(total ? total : 1, sizeof(*gw->slots));
	if (!gw->slots) {
		gw_err(p, NULL, "out of memory");
		return false;
	}
	gw->nslots = total;
	for (size_t i = 0; i < gw->nlines; i++) {
		const struct gw_line *l = &gw->lines[i];

		for (unsigned c = 1; c <= l->nslots; c++, k++) {
			struct gw_slot *s = &gw->slots[k];

			s->line = (unsigned)i;
			s->channel = c;
			switch (gw->kind) {
			case GW_BRI:
			case GW_PRI:
				snprintf(s->tag, sizeof(s->tag), "%u.%u", l->id, c);
				break;
			case GW_GSM:
				snprintf(s->tag, sizeof(s->tag), "sim%u", l->id);
				break;
			case GW_DECT:
				octo_strlcpy(s->tag, l->ipui, sizeof(s->tag));
				break;
			default:
				snprintf(s->tag, sizeof(s->tag), "%u", l->id);
				break;
			}
		}
	}
	return true;
}

struct gw *gw_parse_section(const struct octo_cfg_section *sec, enum gw_kind kind,
			    struct octo_diags *diags, bool *other_kind)
{
	const struct octo_cfg_var *tv = octo_cfg_var_find(sec, "type");
	struct gw_parse p = { .sec = sec, .diags = diags };
	char cb[OCTO_CFG_CLEAN];
	const char *line_key = gw_kinds[kind].line_key;
	int k;

	if (other_kind)
		*other_kind = false;
	k = tv ? gw_kind_parse(tv->value) : -1;
	if (k != (int)kind) {
		if (other_kind)
			*other_kind = k >= 0;
		return NULL;
	}
	p.gw = calloc(1, sizeof(*p.gw));
	if (!p.gw) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&p.gw->lock, NULL);
	p.gw->kind = kind;
	p.gw->file = octo_strdup(sec->file);
	p.gw->line = sec->line;
	octo_strlcpy(p.gw->state, "Unknown", sizeof(p.gw->state));
	if (strlen(sec->name) > GW_NAME_MAX || !gw_is_ext(sec->name))
		gw_err(&p, NULL, "the name must be 1..%d letters, digits, _ - or .", GW_NAME_MAX);
	octo_strlcpy(p.gw->name, sec->name, sizeof(p.gw->name));
	if (octo_cfg_bind(sec, gw_kinds[kind].opts, &p.gw->cfg, gw_kinds[kind].ignore, diags))
		p.bad = true;

	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
		if (!gw_kinds[kind].ignore(v->name))
			continue;
		switch (kind) {
		case GW_FXS:
			gw_parse_fxs(&p, v);
			break;
		case GW_FXO:
			gw_parse_simple_line(&p, v, "LINE");
			break;
		case GW_GSM:
			gw_parse_simple_line(&p, v, "SLOT");
			break;
		case GW_BRI:
			gw_parse_bri(&p, v);
			break;
		case GW_PRI:
			if (!strcmp(v->name, "did"))
				gw_parse_did(&p, v);
			else
				gw_parse_span(&p, v);
			break;
		case GW_DECT:
			if (!strcmp(v->name, "base"))
				gw_parse_base(&p, v);
			else
				gw_parse_handset(&p, v);
			break;
		default:
			break;
		}
	}
	if (p.bad)
		goto bad;

	/* Values of the common keys. */
	if (strcasecmp(p.gw->cfg.host, "dynamic")) {
		unsigned char addr[16];

		if (inet_pton(AF_INET, p.gw->cfg.host, addr) != 1 &&
		    inet_pton(AF_INET6, p.gw->cfg.host, addr) != 1)
			gw_err(&p, octo_cfg_var_find(sec, "host"),
			       "\"%s\" is not a numeric IP address or \"dynamic\"",
			       octo_cfg_clean(cb, p.gw->cfg.host));
	} else if (kind != GW_DECT && (!*p.gw->cfg.username || !*p.gw->cfg.secret)) {
		gw_err(&p, NULL, "a dynamic gateway needs username and secret to register with");
	}
	if (kind == GW_DECT && !*p.gw->cfg.secret) {
		for (size_t i = 0; i < p.gw->nbases; i++)
			if (!strcasecmp(p.gw->bases[i].host, "dynamic"))
				gw_err(&p, NULL, "dynamic base %s needs the network's secret",
				       p.gw->bases[i].name);
	}
	if (strcasecmp(p.gw->cfg.transport, "udp") && strcasecmp(p.gw->cfg.transport, "tcp") &&
	    strcasecmp(p.gw->cfg.transport, "tls"))
		gw_err(&p, octo_cfg_var_find(sec, "transport"),
		       "\"%s\" is not a transport (udp, tcp, tls)",
		       octo_cfg_clean(cb, p.gw->cfg.transport));
	if (p.gw->cfg.tone_zone) {
		if (!gw_tone_zone_find(p.gw->cfg.tone_zone))
			gw_err(&p, octo_cfg_var_find(sec, "tone_zone"),
			       "\"%s\" is not a known tone zone (it, de, fr, uk, us, es, nl, ch, "
			       "at, be, pt, se)", octo_cfg_clean(cb, p.gw->cfg.tone_zone));
	}
	if (kind == GW_PRI && p.gw->cfg.hunting == GW_HUNT_RR)
		gw_err(&p, octo_cfg_var_find(sec, "hunting"),
		       "a PRI hunts channels ascending or descending");
	if (p.gw->cfg.sms_email && *p.gw->cfg.sms_email) {
		const char *at = strchr(p.gw->cfg.sms_email, '@');

		if (!at || at == p.gw->cfg.sms_email || !at[1] || strchr(at + 1, '@') ||
		    strpbrk(p.gw->cfg.sms_email, " \t,;<>\"'"))
			gw_err(&p, octo_cfg_var_find(sec, "sms_email"),
			       "\"%s\" is not an e-mail address",
			       octo_cfg_clean(cb, p.gw->cfg.sms_email));
	}
	if (kind == GW_DECT && !p.gw->nbases)
		gw_err(&p, NULL, "a DECT network needs at least one base (base = NAME,HOST)");
	else if (kind != GW_DECT && !p.gw->nlines)
		gw_err(&p, NULL, "no %s defined (%s = ...)", line_key, line_key);
	if (p.gw->cfg.trunk == NULL && kind != GW_FXS && kind != GW_DECT)
		p.gw->cfg.trunk = octo_strdup(sec->name);
	if (p.gw->cfg.trunk && (strlen(p.gw->cfg.trunk) > GW_NAME_MAX ||
				!gw_is_ext(p.gw->cfg.trunk)))
		gw_err(&p, octo_cfg_var_find(sec, "trunk"), "\"%s\" is not a trunk name",
		       octo_cfg_clean(cb, p.gw->cfg.trunk));
	if (p.bad || !gw_make_slots(&p))
		goto bad;
	if (!gw_make_sigs(p.gw, sec)) {
		gw_err(&p, NULL, "out of memory");
		goto bad;
	}
	return p.gw;
bad:
	gw_free(p.gw);
	return NULL;
}

void gw_free(struct gw *gw)
{
	if (!gw)
		return;
	octo_cfg_unbind(gw_kinds[gw->kind].opts, &gw->cfg);
	/* the default trunk name was not bound */
	if (gw->cfg.trunk) {
		free(gw->cfg.trunk);
		gw->cfg.trunk = NULL;
	}
	free(gw->slots);
	free(gw->file);
	free(gw->sip_sig);
	free(gw->model_sig);
	gw_free(gw->pending);
	pthread_mutex_destroy(&gw->lock);
	free(gw);
}

void gw_free_all(struct gw **gws, size_t count)
{
	for (size_t i = 0; i < count; i++)
		gw_free(gws[i]);
	free(gws);
}

struct gw **gw_load_all(const char *dir, enum gw_kind kind, size_t *count, bool *errors,
			struct octo_diags *diags)
{
	size_t errors_before = diags->errors, n = 0;
	struct gw **gws = NULL;
	struct octo_cfg *cfg;

	*count = 0;
	*errors = false;
	cfg = octo_cfg_load(dir, GW_FILE, true, diags);
	if (!cfg) {
		*errors = true;
		return NULL;
	}
	for (const struct octo_cfg_section *sec = octo_cfg_first(cfg); sec;
	     sec = octo_cfg_next(sec)) {
		const struct octo_cfg_var *tv = octo_cfg_var_find(sec, "type");
		bool other;
		struct gw *gw;
		char cb[OCTO_CFG_CLEAN], sb[OCTO_CFG_CLEAN];

		if (!tv) {
			octo_diags_add(diags, OCTO_DIAG_WARNING, sec->file, sec->line,
				       "[%s] no type (fxs, fxo, bri, pri, gsm, dect): ignored",
				       octo_cfg_clean(sb, sec->name));
			continue;
		}
		if (gw_kind_parse(tv->value) < 0) {
			octo_diags_add(diags, OCTO_DIAG_WARNING, tv->file, tv->line,
				       "[%s] type: \"%s\" is not a gateway type (fxs, fxo, bri, pri, "
				       "gsm, dect): ignored",
				       octo_cfg_clean(sb, sec->name), octo_cfg_clean(cb, tv->value));
			continue;
		}
		gw = gw_parse_section(sec, kind, diags, &other);
		if (!gw)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (gw->cfg.trunk && gws[i]->cfg.trunk &&
			    !strcasecmp(gw->cfg.trunk, gws[i]->cfg.trunk)) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
					       "[%s] trunk %s is [%s]'s already",
					       octo_cfg_clean(sb, sec->name), gw->cfg.trunk,
					       gws[i]->name);
			}
		}
		gws = realloc(gws, (n + 1) * sizeof(*gws));
		if (!gws) {
			fputs("octo: out of memory\n", stderr);
			abort();
		}
		gws[n++] = gw;
	}
	octo_cfg_free(cfg);
	if (diags->errors != errors_before) {
		gw_free_all(gws, n);
		*errors = true;
		return NULL;
	}
	*count = n;
	return gws;
}

/* ---------------------------------------------------------------- slots */

static void gw_slot_mark(struct gw *gw, struct gw_slot *s, enum gw_slot_state state,
			 const char *other)
{
	char holder[GW_NAME_MAX + GW_TAG_MAX + 2];

	s->state = state;
	octo_strlcpy(s->other, other ? other : "", sizeof(s->other));
	s->since_ms = octo_now_ms();
	s->calls++;
	if (gw->module) {
		snprintf(holder, sizeof(holder), "%s/%s", gw->name, s->tag);
		octo_module_ref(gw->module, holder);
	}
}

int gw_slot_take(struct gw *gw, int line, enum gw_hunt order, enum gw_slot_state state,
		 const char *other, bool (*usable)(const struct gw *gw, const struct gw_line *l))
{
	size_t n = gw->nslots;
	int found = -1;

	if (!n)
		return -1;
	pthread_mutex_lock(&gw->lock);
	for (size_t i = 0; i < n && !gw->closing; i++) {
		size_t k;
		struct gw_slot *s;

		if (order == GW_HUNT_DESC)
			k = n - 1 - i;
		else if (order == GW_HUNT_RR)
			k = (gw->rr_next + i) % n;
		else
			k = i;
		s = &gw->slots[k];
		if (s->state != GW_SLOT_IDLE || (line >= 0 && s->line != (unsigned)line))
			continue;
		if (usable && !usable(gw, &gw->lines[s->line]))
			continue;
		gw_slot_mark(gw, s, state, other);
		if (order == GW_HUNT_RR)
			gw->rr_next = (unsigned)((k + 1) % n);
		found = (int)k;
		break;
	}
	pthread_mutex_unlock(&gw->lock);
	return found;
}

int gw_slot_take_at(struct gw *gw, size_t slot, enum gw_slot_state state, const char *other)
{
	int rc = OCTO_EBUSY;

	if (slot >= gw->nslots)
		return OCTO_EINVAL;
	pthread_mutex_lock(&gw->lock);
	if (gw->slots[slot].state == GW_SLOT_IDLE && !gw->closing) {
		gw_slot_mark(gw, &gw->slots[slot], state, other);
		rc = 0;
	}
	pthread_mutex_unlock(&gw->lock);
	return rc;
}

bool gw_slot_idle(struct gw *gw, size_t k)
{
	bool idle;

	if (k >= gw->nslots)
		return false;
	pthread_mutex_lock(&gw->lock);
	idle = gw->slots[k].state == GW_SLOT_IDLE && !gw->closing;
	pthread_mutex_unlock(&gw->lock);
	return idle;
}

int gw_slot_find(const struct gw *gw, const char *tag)
{
	for (size_t i = 0; tag && i < gw->nslots; i++)
		if (!strcasecmp(gw->slots[i].tag, tag))
			return (int)i;
	return -1;
}

bool gw_slot_release(struct gw *gw, const char *tag)
{
	int k = gw_slot_find(gw, tag);
	bool freed = false;
	char holder[GW_NAME_MAX + GW_TAG_MAX + 2];

	if (k < 0)
		return false;
	pthread_mutex_lock(&gw->lock);
	if (gw->slots[k].state != GW_SLOT_IDLE) {
		gw->slots[k].state = GW_SLOT_IDLE;
		gw->slots[k].other[0] = '\0';
		gw->slots[k].since_ms = octo_now_ms();
		freed = true;
	}
	pthread_mutex_unlock(&gw->lock);
	if (freed && gw->module) {
		snprintf(holder, sizeof(holder), "%s/%s", gw->name, gw->slots[k].tag);
		octo_module_unref(gw->module, holder);
	}
	return freed;
}

unsigned gw_busy(struct gw *gw)
{
	unsigned n = 0;

	pthread_mutex_lock(&gw->lock);
	for (size_t i = 0; i < gw->nslots; i++)
		n += gw->slots[i].state != GW_SLOT_IDLE;
	pthread_mutex_unlock(&gw->lock);
	return n;
}

unsigned gw_line_busy(struct gw *gw, size_t line)
{
	unsigned n = 0;

	if (line >= gw->nlines)
		return 0;
	pthread_mutex_lock(&gw->lock);
	for (unsigned i = 0; i < gw->lines[line].nslots; i++)
		n += gw->slots[gw->lines[line].first_slot + i].state != GW_SLOT_IDLE;
	pthread_mutex_unlock(&gw->lock);
	return n;
}

/* ---------------------------------------------------------------- SIP side */

void gw_peer_cfg(const struct gw *gw, struct octo_sip_peer_cfg *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->name = gw->name;
	pc->kind = gw_kind_name(gw->kind);
	pc->host = gw->cfg.host;
	pc->port = gw->cfg.sip_port;
	pc->transport = gw->cfg.transport;
	pc->username = gw->cfg.username;
	pc->secret = gw->cfg.secret;
	pc->match = gw->cfg.match;
	pc->codecs = gw->cfg.codecs;
	pc->qualify = gw->cfg.qualify;
}

/* ---------------------------------------------------------------- CLI */

/* What a line is, in a few words, for the CLI and describe(). */
static void gw_line_text(const struct gw *gw, const struct gw_line *l, char *buf, size_t size)
{
	size_t off = 0;

	switch (gw->kind) {
	case GW_FXS:
		snprintf(buf, size, "port %u: %s%s", l->id, l->user, l->fax ? " (fax)" : "");
		break;
	case GW_FXO:
		snprintf(buf, size, "line %u: %s", l->id, l->number);
		break;
	case GW_BRI:
		off = (size_t)snprintf(buf, size, "port %u (%s):", l->id, l->ptmp ? "ptmp" : "ptp");
		for (size_t i = 0; i < l->nnumbers && off < size; i++) {
			if (strcmp(l->numbers[i].lo, l->numbers[i].hi))
				off += (size_t)snprintf(buf + off, size - off, " %s-%s",
							l->numbers[i].lo, l->numbers[i].hi);
			else
				off += (size_t)snprintf(buf + off, size - off, " %s",
							l->numbers[i].lo);
		}
		break;
	case GW_PRI:
		snprintf(buf, size, "span %u: %s, %u B-channels", l->id, l->t1 ? "T1" : "E1",
			 l->nslots);
		break;
	case GW_GSM:
		snprintf(buf, size, "SIM %u: %s", l->id, l->number);
		break;
	case GW_DECT:
		snprintf(buf, size, "handset %s: %s", l->ipui, *l->user ? l->user : "(unassigned)");
		break;
	default:
		snprintf(buf, size, "%u", l->id);
		break;
	}
}

void gw_describe(struct gw *gw, char *buf, size_t size)
{
	size_t off = strlen(buf);

	for (size_t i = 0; i < gw->nlines && off + 1 < size; i++) {
		char text[256];
		unsigned busy = gw_line_busy(gw, i);

		gw_line_text(gw, &gw->lines[i], text, sizeof(text));
		pthread_mutex_lock(&gw->lock);
		if (gw->kind == GW_GSM)
			off += (size_t)snprintf(buf + off, size - off, "%s, %s, signal %d, %s\n", text,
						gw->lines[i].state, gw->lines[i].signal,
						busy ? "busy" : "idle");
		else
			off += (size_t)snprintf(buf + off, size - off, "%s, %u of %u busy\n", text,
						busy, gw->lines[i].nslots);
		pthread_mutex_unlock(&gw->lock);
	}
}

void gw_cli_row(struct octo_cli_out *out, struct gw *gw)
{
	char lines[16], busy[32], state[160];
	unsigned b = gw_busy(gw);

	snprintf(lines, sizeof(lines), "%zu", gw->kind == GW_DECT ? gw->nbases : gw->nlines);
	snprintf(busy, sizeof(busy), "%u/%zu", b, gw->nslots);
	pthread_mutex_lock(&gw->lock);
	if (gw->kind == GW_DECT) {
		unsigned up = 0;

		for (size_t i = 0; i < gw->nbases; i++)
			up += !strcasecmp(gw->bases[i].state, "Registered") ||
			      !strcasecmp(gw->bases[i].state, "Reachable");
		snprintf(state, sizeof(state), "%u of %zu bases up", up, gw->nbases);
	} else {
		snprintf(state, sizeof(state), "%s%s%s%s", gw->state, *gw->reason ? " (" : "",
			 gw->reason, *gw->reason ? ")" : "");
	}
	if (gw->pending_remove || gw->pending) {
		size_t len = strlen(state);

		snprintf(state + len, sizeof(state) - len, ", %s when idle",
			 gw->pending_remove ? "removed" : "reloaded");
	}
	pthread_mutex_unlock(&gw->lock);
	octo_cli_row(out, gw->name, gw_kind_name(gw->kind), state, lines, busy,
		     gw->cfg.trunk ? gw->cfg.trunk : "", gw->cfg.description, NULL);
}

void gw_cli_show_one(struct octo_cli_out *out, struct gw *gw)
{
	unsigned busy = gw_busy(gw);
	uint64_t now = octo_now_ms();

	octo_cli_kv(out, "name", "%s", gw->name);
	octo_cli_kv(out, "type", "%s", gw_kind_name(gw->kind));
	octo_cli_kv(out, "description", "%s", gw->cfg.description);
	if (gw->kind != GW_DECT) {
		if (!strcasecmp(gw->cfg.host, "dynamic"))
			octo_cli_kv(out, "sip", "dynamic (registers as %s)", gw->cfg.username);
		else
			octo_cli_kv(out, "sip", "%s:%u", gw->cfg.host, gw->cfg.sip_port);
		pthread_mutex_lock(&gw->lock);
		octo_cli_kv(out, "state", "%s%s%s%s", gw->state, *gw->reason ? " (" : "",
			    gw->reason, *gw->reason ? ")" : "");
		pthread_mutex_unlock(&gw->lock);
	}
	if (gw->cfg.procedure)
		octo_cli_kv(out, "procedure", "%s", gw->cfg.procedure);
	if (gw->cfg.trunk)
		octo_cli_kv(out, "trunk", "%s", gw->cfg.trunk);
	if (gw->kind == GW_FXO || gw->kind == GW_BRI || gw->kind == GW_PRI || gw->kind == GW_GSM)
		octo_cli_kv(out, "hunting", "%s", gw_hunt_names[gw->cfg.hunting]);
	if (gw->cfg.tone_zone) {
		const struct gw_tone_zone *z = gw_tone_zone_find(gw->cfg.tone_zone);

		octo_cli_kv(out, "tone zone", "%s (%s): set the gateway to these tones",
			    gw->cfg.tone_zone, z ? z->country : "?");
		if (z) {
			octo_cli_kv(out, "dial tone", "%s", z->dial);
			octo_cli_kv(out, "ringback", "%s", z->ringback);
			octo_cli_kv(out, "busy tone", "%s", z->busy);
			octo_cli_kv(out, "congestion", "%s", z->congestion);
		}
	}
	if (gw->kind == GW_GSM)
		octo_cli_kv(out, "sms", "%s%s%s", gw->cfg.sms ? "yes" : "no",
			    *gw->cfg.sms_email ? ", e-mailed to " : "", gw->cfg.sms_email);
	for (size_t i = 0; i < gw->ndids; i++)
		octo_cli_kv(out, "did", "%s%s%s", gw->dids[i].lo,
			    strcmp(gw->dids[i].lo, gw->dids[i].hi) ? "-" : "",
			    strcmp(gw->dids[i].lo, gw->dids[i].hi) ? gw->dids[i].hi : "");
	pthread_mutex_lock(&gw->lock);
	for (size_t i = 0; i < gw->nbases; i++) {
		const struct gw_base *b = &gw->bases[i];

		if (!strcasecmp(b->host, "dynamic"))
			octo_cli_kv(out, "base", "%s dynamic %s", b->name, b->state);
		else
			octo_cli_kv(out, "base", "%s %s:%u %s", b->name, b->host, b->port, b->state);
	}
	pthread_mutex_unlock(&gw->lock);
	octo_cli_kv(out, "busy", "%u of %zu", busy, gw->nslots);
	pthread_mutex_lock(&gw->lock);
	if (gw->pending_remove)
		octo_cli_kv(out, "reload", "removed from %s: goes when its calls end", GW_FILE);
	else if (gw->pending)
		octo_cli_kv(out, "reload", "its SIP side changed in %s: applies when its calls "
			    "end", GW_FILE);
	pthread_mutex_unlock(&gw->lock);
	octo_cli_kv(out, "defined at", "%s:%d", gw->file, gw->line);

	octo_cli_columns(out, "slot", "line", "state", "other end", "for", "calls", NULL);
	pthread_mutex_lock(&gw->lock);
	for (size_t i = 0; i < gw->nslots; i++) {
		const struct gw_slot *s = &gw->slots[i];
		const struct gw_line *l = &gw->lines[s->line];
		char text[256], state[80], since[24], calls[24];

		gw_line_text(gw, l, text, sizeof(text));
		if (gw->kind == GW_GSM)
			snprintf(state, sizeof(state), "%s (%s, signal %d)",
				 gw_slot_state_name(s->state), l->state, l->signal);
		else if (gw->kind == GW_DECT)
			snprintf(state, sizeof(state), "%s (on %s)", gw_slot_state_name(s->state),
				 l->base < gw->nbases ? gw->bases[l->base].name : "?");
		else
			octo_strlcpy(state, gw_slot_state_name(s->state), sizeof(state));
		if (s->state != GW_SLOT_IDLE)
			snprintf(since, sizeof(since), "%llus",
				 (unsigned long long)((now - s->since_ms) / 1000));
		else
			since[0] = '\0';
		snprintf(calls, sizeof(calls), "%lu", s->calls);
		octo_cli_row(out, s->tag, text, state, s->other, since, calls, NULL);
	}
	pthread_mutex_unlock(&gw->lock);
}

/* ---------------------------------------------------------------- gateway show */

static struct octo_module *gw_cli_self;
static bool gw_cli_owned;

/* The gateway services of every loaded gateway module, held until freed. */
static size_t gw_services(struct octo_reg_item **items)
{
	return octo_registry_list(OCTO_REG_SERVICE, items);
}

static const struct gw_service_api *gw_service_of(const struct octo_reg_item *it)
{
	const struct octo_service *svc = it->item;

	if (strncmp(it->name, GW_SERVICE_PREFIX, strlen(GW_SERVICE_PREFIX)) || !svc ||
	    svc->version < GW_SERVICE_VERSION)
		return NULL;
	return svc->api;
}

struct gw_names {
	char (*v)[GW_NAME_MAX + 1];
	size_t count, size;
};

static void gw_names_add(void *ctx, const char *name)
{
	struct gw_names *nm = ctx;

	if (nm->count == nm->size) {
		size_t size = nm->size ? nm->size * 2 : 16;
		char (*v)[GW_NAME_MAX + 1] = realloc(nm->v, size * sizeof(*v));

		if (!v)
			return;
		nm->v = v;
		nm->size = size;
	}
	octo_strlcpy(nm->v[nm->count++], name, sizeof(nm->v[0]));
}

static int gw_names_cmp(const void *a, const void *b)
{
	return strcasecmp(a, b);
}

static int gw_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_reg_item *items = NULL;
	size_t n;
	bool found = false;

	if (argc > 3)
		return OCTO_CLI_USAGE;
	n = gw_services(&items);
	if (argc == 3) {
		for (size_t i = 0; i < n && !found; i++) {
			const struct gw_service_api *api = gw_service_of(&items[i]);

			if (api)
				found = api->show(out, argv[2]);
		}
		octo_registry_list_free(items, n);
		if (!found) {
			char cb[OCTO_CFG_CLEAN];

			octo_cli_error(out, "No gateway \"%s\" (see gateway show).",
				       octo_cfg_clean(cb, argv[2]));
			return OCTO_CLI_FAIL;
		}
		return OCTO_CLI_OK;
	}
	/* every module's gateways, sorted by name */
	struct gw_names names = { 0 };

	for (size_t i = 0; i < n; i++) {
		const struct gw_service_api *api = gw_service_of(&items[i]);

		if (api)
			api->names(gw_names_add, &names);
	}
	if (names.count)
		qsort(names.v, names.count, sizeof(*names.v), gw_names_cmp);
	octo_cli_columns(out, "name", "type", "state", "lines", "busy", "trunk", "description",
			 NULL);
	for (size_t k = 0; k < names.count; k++) {
		if (k && !strcasecmp(names.v[k], names.v[k - 1]))
			continue;
		for (size_t i = 0; i < n; i++) {
			const struct gw_service_api *api = gw_service_of(&items[i]);

			if (api && api->row(out, names.v[k]))
				break;
		}
	}
	free(names.v);
	octo_registry_list_free(items, n);
	return OCTO_CLI_OK;
}

struct gw_complete_ctx {
	struct octo_cli_completion *c;
	const char *partial;
};

static void gw_complete_add(void *ctx, const char *name)
{
	struct gw_complete_ctx *cc = ctx;

	if (!strncasecmp(name, cc->partial, strlen(cc->partial)))
		octo_cli_complete_add(cc->c, name);
}

static void gw_cli_complete(struct octo_cli_completion *c, int pos, const char *partial)
{
	struct gw_complete_ctx cc = { c, partial ? partial : "" };
	struct octo_reg_item *items = NULL;
	size_t n;

	if (pos != 0)
		return;
	n = gw_services(&items);
	for (size_t i = 0; i < n; i++) {
		const struct gw_service_api *api = gw_service_of(&items[i]);

		if (api)
			api->names(gw_complete_add, &cc);
	}
	octo_registry_list_free(items, n);
}

static const struct octo_cli_cmd gw_shared_cli[] = {
	{ "gateway show", "List the gateways (FXS, FXO, BRI, PRI, GSM, DECT), or one with its "
	  "ports and their state", "gateway show [<name>]", gw_cli_show, gw_cli_complete },
	{ 0 }
};

void gw_cli_attach(struct octo_module *self)
{
	gw_cli_self = self;
	gw_cli_owned = false;
	if (octo_registry_peek(OCTO_REG_CLI, "gateway show", NULL))
		return;
	gw_cli_owned = octo_cli_register_all(self, gw_shared_cli) == 0;
}

void gw_cli_adopt(void)
{
	if (gw_cli_self && !gw_cli_owned &&
	    !octo_registry_peek(OCTO_REG_CLI, "gateway show", NULL))
		gw_cli_owned = octo_cli_register_all(gw_cli_self, gw_shared_cli) == 0;
}

void gw_cli_detach(void)
{
	struct octo_reg_item *items = NULL;
	size_t n;
	bool owned = gw_cli_owned;

	gw_cli_owned = false;
	if (!owned) {
		gw_cli_self = NULL;
		return;
	}
	octo_cli_unregister_all(gw_shared_cli);
	gw_cli_self = NULL;
	n = gw_services(&items);
	for (size_t i = 0; i < n; i++) {
		const struct gw_service_api *api = gw_service_of(&items[i]);

		if (api && items[i].owner != NULL) {
			api->adopt_cli();
			if (octo_registry_peek(OCTO_REG_CLI, "gateway show", NULL))
				break;
		}
	}
	octo_registry_list_free(items, n);
}

int gw_module_check(enum gw_kind kind, const char *config_dir, struct octo_diags *diags)
{
	size_t n;
	bool errors;
	struct gw **gws = gw_load_all(config_dir, kind, &n, &errors, diags);

	gw_free_all(gws, n);
	return errors ? OCTO_ECONFIG : 0;
}

bool gw_user_route(const char *ext, struct octo_sip_route *r)
{
	const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, "gateway");
	struct octo_user *u = users ? users->find(ext) : NULL;

	octo_strlcpy(r->caller, ext, sizeof(r->caller));
	if (u) {
		octo_strlcpy(r->caller_name, u->name, sizeof(r->caller_name));
		octo_strlcpy(r->procedure, *u->procedure ? u->procedure : "users",
			     sizeof(r->procedure));
	} else {
		octo_strlcpy(r->procedure, "users", sizeof(r->procedure));
	}
	octo_obj_unref(u);
	octo_service_put(users, "gateway");
	return u != NULL;
}

int gw_line_by_number(const struct gw *gw, const char *number)
{
	char id[16];

	for (size_t i = 0; number && i < gw->nlines; i++) {
		snprintf(id, sizeof(id), "%u", gw->lines[i].id);
		if ((*gw->lines[i].number && !strcmp(gw->lines[i].number, number)) ||
		    !strcmp(id, number))
			return (int)i;
	}
	return -1;
}

void gw_route_slot(struct octo_sip_route *r, const struct gw *gw, size_t slot)
{
	char label[GW_NAME_MAX + GW_TAG_MAX + 2];

	snprintf(label, sizeof(label), "%s-%s", gw->name, gw->slots[slot].tag);
	octo_strlcpy(r->label, label, sizeof(r->label));
	octo_strlcpy(r->line, gw->slots[slot].tag, sizeof(r->line));
	if (gw->cfg.procedure && !*r->procedure)
		octo_strlcpy(r->procedure, gw->cfg.procedure, sizeof(r->procedure));
	if (gw->cfg.trunk)
		octo_strlcpy(r->trunk, gw->cfg.trunk, sizeof(r->trunk));
}
