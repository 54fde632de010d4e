/*
 * app_numbering.c - numbering plans: numbers in one canonical form (+CC),
 * the formats trunks want, call classes per country and ACL groups that
 * allow or deny them, all from features.conf. Provides
 *
 *   ${NORMALIZE(number[,received|dialed])}   the +CC form (default: received)
 *   ${FORMAT(number,e164|international|national|significant|dialed[,received|dialed])}
 *                                            (default: dialed)
 *   ${CALLCLASS(number[,received|dialed])}   internal, national, mobile,
 *                                            international, premium, emergency
 *                                            or unknown (default: dialed)
 *   NormalizeCaller()          rewrites the caller number to the +CC form
 *   CheckACL([number][,options])  refuses a call the caller's ACL group does
 *                              not allow (announcement, CALL_REJECTED)
 *   numbering show [acl] | numbering test <number> [<user>|acl-<group>]  (CLI)
 *   the service "numbering" (include/octo/numbering.h) for other modules.
 *
 * features.conf is shared: this module reads [general] (its keys only),
 * [classes-CC] and [acl-NAME] and leaves every other section to the parts
 * that own them.
 *
 * DESIGN
 *  - The whole configuration is one immutable refcounted snapshot (struct
 *    num_conf) swapped in atomically on reload; num_lock guards only the
 *    pointer. Every service call, function and application takes a
 *    reference for its duration, so it sees one consistent version.
 *  - num_analyse() is the only place where a number is read: normalize,
 *    format, classify and the ACL all use it, so they never disagree. It
 *    does no I/O; the one outside lookup is whether a number is a user's
 *    extension (the "users" service, optional).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/numbering.h"
#include "octo/obj.h"
#include "octo/pattern.h"
#include "octo/registry.h"
#include "octo/sound.h"
#include "octo/users.h"

#define NUM_FILE "features.conf"
#define NUM_IN_MAX 64          /* longest number accepted */
#define NUM_E164_DIGITS 15     /* ITU-T E.164: at most 15 digits after '+' */
#define NUM_NAME_MAX 64        /* ACL group names */
#define NUM_PROMPT "call-notallowed"
#define NUM_PROMPT_MAX_FRAMES 1500 /* 30 s: an announcement, not a recording */
#define NUM_HOLDER "app_numbering"

/* ---------------------------------------------------------------- classes */

static const char *const num_class_names[OCTO_NUM_CLASSES] = {
	[OCTO_NUM_UNKNOWN] = "unknown",
	[OCTO_NUM_INTERNAL] = "internal",
	[OCTO_NUM_NATIONAL] = "national",
	[OCTO_NUM_MOBILE] = "mobile",
	[OCTO_NUM_INTERNATIONAL] = "international",
	[OCTO_NUM_PREMIUM] = "premium",
	[OCTO_NUM_EMERGENCY] = "emergency",
};

static const char *num_class_name(enum octo_num_class cls)
{
	return (unsigned)cls < OCTO_NUM_CLASSES ? num_class_names[cls] : "unknown";
}

static int num_class_parse(const char *name)
{
	for (int i = 0; name && i < OCTO_NUM_CLASSES; i++)
		if (!strcasecmp(name, num_class_names[i]))
			return i;
	return -1;
}

/* Pattern keys of a [classes-CC] section: the classes, then the two lists
 * that steer normalization. */
enum num_list { NUM_L_SHORT = OCTO_NUM_CLASSES, NUM_L_WITHOUT_PREFIX, NUM_L_COUNT };

static const char *num_list_key(int which)
{
	switch (which) {
	case NUM_L_SHORT: return "short";
	case NUM_L_WITHOUT_PREFIX: return "without_prefix";
	default: return num_class_name((enum octo_num_class)which);
	}
}

/* ---------------------------------------------------------------- config data */

struct num_pat {
	struct octo_pattern *pat;
	int list;          /* an enum octo_num_class, or NUM_L_SHORT / NUM_L_WITHOUT_PREFIX */
	char *file;
	int line;
};

struct num_patlist {
	struct num_pat *items;
	size_t count, cap;
};

struct num_country {
	char *cc;            /* "39" */
	char *description;   /* "Italy" */
	char *national_prefix;      /* NULL: not set here */
	char *international_prefix; /* NULL: not set here */
	struct num_patlist pats;    /* every pattern key, in file order */
	char *file;
	int line;
};

struct num_acl {
	char *name;          /* "employees" for [acl-employees] */
	char *description;
	bool allow[OCTO_NUM_CLASSES];
	bool deny[OCTO_NUM_CLASSES];
	char *file;
	int line;
};

struct num_conf {
	char *cc;
	char *national_prefix;      /* "" when the country has none */
	char *international_prefix;
	char *outside_prefix;       /* "" when unset */
	char *area_code;            /* "" when unset */
	char *acl_default;          /* "" when unset */
	struct num_patlist internal;
	struct num_country **countries;  /* sorted by code */
	size_t ncountries;
	const struct num_country *country; /* the one of cc */
	struct num_acl **acls;           /* sorted by name */
	size_t nacls;
	char *general_file;
	int general_line;
};

static pthread_rwlock_t num_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct num_conf *num_current; /* guarded by num_lock */

/* ---------------------------------------------------------------- small helpers */

static bool num_all_digits(const char *s, size_t min, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isdigit((unsigned char)s[n]))
			return false;
	return n >= min && n <= max;
}

static bool num_starts(const char *s, const char *prefix)
{
	return prefix && *prefix && !strncmp(s, prefix, strlen(prefix));
}

static bool num_name_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!(isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			return false;
	return n > 0 && n < NUM_NAME_MAX;
}

static void num_patlist_free(struct num_patlist *l)
{
	for (size_t i = 0; i < l->count; i++) {
		octo_pattern_free(l->items[i].pat);
		free(l->items[i].file);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

static int num_patlist_add(struct num_patlist *l, struct octo_pattern *pat, int list,
			   const char *file, int line)
{
	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct num_pat *items = realloc(l->items, cap * sizeof(*items));

		if (!items)
			return OCTO_ENOMEM;
		l->items = items;
		l->cap = cap;
	}
	l->items[l->count++] = (struct num_pat){ .pat = pat, .list = list,
						  .file = octo_strdup(file ? file : NUM_FILE),
						  .line = line };
	return 0;
}

/*
 * The most specific pattern of `l` in list `list` (-1: any class, not the
 * short/without_prefix lists; -2: any list) that matches `number`, or NULL.
 */
static const struct num_pat *num_best(const struct num_patlist *l, int list, const char *number)
{
	const struct num_pat *best = NULL;

	for (size_t i = 0; i < l->count; i++) {
		const struct num_pat *p = &l->items[i];

		if (list == -1 ? p->list >= OCTO_NUM_CLASSES : list >= 0 && p->list != list)
			continue;
		if (!octo_pattern_match(p->pat, number))
			continue;
		if (!best || octo_pattern_compare(p->pat, best->pat) < 0)
			best = p;
	}
	return best;
}

static void num_country_free(struct num_country *c)
{
	if (!c)
		return;
	free(c->cc);
	free(c->description);
	free(c->national_prefix);
	free(c->international_prefix);
	num_patlist_free(&c->pats);
	free(c->file);
	free(c);
}

static void num_acl_free(struct num_acl *a)
{
	if (!a)
		return;
	free(a->name);
	free(a->description);
	free(a->file);
	free(a);
}

static void num_conf_destroy(void *obj)
{
	struct num_conf *c = obj;

	free(c->cc);
	free(c->national_prefix);
	free(c->international_prefix);
	free(c->outside_prefix);
	free(c->area_code);
	free(c->acl_default);
	num_patlist_free(&c->internal);
	for (size_t i = 0; i < c->ncountries; i++)
		num_country_free(c->countries[i]);
	free(c->countries);
	for (size_t i = 0; i < c->nacls; i++)
		num_acl_free(c->acls[i]);
	free(c->acls);
	free(c->general_file);
}

static const struct num_country *num_country_find(const struct num_conf *c, const char *cc)
{
	for (size_t i = 0; i < c->ncountries; i++)
		if (!strcmp(c->countries[i]->cc, cc))
			return c->countries[i];
	return NULL;
}

static const struct num_acl *num_acl_find(const struct num_conf *c, const char *name)
{
	for (size_t i = 0; name && i < c->nacls; i++)
		if (!strcmp(c->acls[i]->name, name))
			return c->acls[i];
	return NULL;
}

/* ---------------------------------------------------------------- parsing */

/* Setters for [general] and [classes-CC]: NULL or an error phrase. */
static const char *num_set_digits(char **p, const char *value, size_t min, size_t max,
				  const char *err)
{
	if (!num_all_digits(value, min, max))
		return err;
	free(*p);
	*p = octo_strdup(value);
	return NULL;
}

static const char *num_set_cc(void *field, const char *value)
{
	if (value[0] == '0' || value[0] == '+')
		return "is not a country calling code (1 to 3 digits, not starting with 0, "
		       "without '+': 39, 49, 1)";
	return num_set_digits(field, value, 1, 3,
			      "is not a country calling code (1 to 3 digits, not starting with "
			      "0, without '+': 39, 49, 1)");
}

static const char *num_set_prefix0(void *field, const char *value)
{
	return num_set_digits(field, value, 0, 4, "is not a prefix (empty, or 1 to 4 digits)");
}

static const char *num_set_prefix1(void *field, const char *value)
{
	return num_set_digits(field, value, 1, 4, "is not a prefix (1 to 4 digits)");
}

static const char *num_set_area(void *field, const char *value)
{
	return num_set_digits(field, value, 1, 6, "is not an area code (1 to 6 digits)");
}

static const char *num_set_name(void *field, const char *value)
{
	char **p = field;

	if (!num_name_valid(value))
		return "is not a valid name (letters, digits, '_', '-' and '.')";
	free(*p);
	*p = octo_strdup(value);
	return NULL;
}

static void num_free_str(void *field)
{
	char **p = field;

	free(*p);
	*p = NULL;
}

struct num_general_cfg {
	char *country_code;
	char *national_prefix;
	char *international_prefix;
	char *outside_line_prefix;
	char *area_code;
	char *acl_default;
	struct octo_cfg_list unused; /* internal: read by num_read_patterns */
};

/* Keys read by hand are in the tables too (never bound: the ignore functions
 * skip them), so that a misspelt one gets "did you mean". */
#define NUM_BY_HAND(k, st) \
	{ .key = (k), .type = OCTO_CFG_T_LIST, .offset = offsetof(st, unused) }

#define NUM_CUSTOM(k, st, f, setter, d)                                                       \
	{ .key = (k), .type = OCTO_CFG_T_CUSTOM, .offset = offsetof(st, f), .set = (setter),  \
	  .free = num_free_str, .doc = (d) }

static const struct octo_cfg_opt num_general_opts[] = {
	NUM_CUSTOM("country_code", struct num_general_cfg, country_code, num_set_cc,
		   "the PBX's country calling code: 39"),
	NUM_CUSTOM("national_prefix", struct num_general_cfg, national_prefix, num_set_prefix0,
		   "trunk prefix of national numbers; default: the country's"),
	NUM_CUSTOM("international_prefix", struct num_general_cfg, international_prefix,
		   num_set_prefix1, "prefix of international numbers; default: the country's"),
	NUM_CUSTOM("outside_line_prefix", struct num_general_cfg, outside_line_prefix,
		   num_set_prefix1, "digits users dial before an outside number"),
	NUM_CUSTOM("area_code", struct num_general_cfg, area_code, num_set_area,
		   "area code for local numbers dialled without it"),
	NUM_CUSTOM("acl_default", struct num_general_cfg, acl_default, num_set_name,
		   "ACL group of users without acl_group"),
	NUM_BY_HAND("internal", struct num_general_cfg),
	OCTO_CFG_END
};

/*
 * [general] is shared with other parts of Octo: a key that is not ours is
 * theirs, unless it looks like a misspelling of one of ours (then
 * octo_cfg_bind warns with "did you mean"). "internal" is read apart.
 */
static bool num_general_ignore(const char *key)
{
	size_t len = strlen(key);

	if (!strcmp(key, "internal"))
		return true;
	for (const struct octo_cfg_opt *o = num_general_opts; o->key; o++) {
		size_t klen = strlen(o->key);

		if (!strcmp(key, o->key))
			return false;
		if (len + 2 >= klen && klen + 2 >= len && octo_edit_distance(key, o->key) <= 2)
			return false;
	}
	return true;
}

struct num_country_cfg {
	char *description;
	char *national_prefix;
	char *international_prefix;
	struct octo_cfg_list unused; /* the pattern keys: read by num_read_patterns */
};

static const struct octo_cfg_opt num_country_opts[] = {
	{ .key = "description", .type = OCTO_CFG_T_STR,
	  .offset = offsetof(struct num_country_cfg, description), .doc = "the country's name" },
	NUM_CUSTOM("national_prefix", struct num_country_cfg, national_prefix, num_set_prefix0,
		   "trunk prefix of national numbers (empty: none)"),
	NUM_CUSTOM("international_prefix", struct num_country_cfg, international_prefix,
		   num_set_prefix1, "prefix of international numbers"),
	NUM_BY_HAND("emergency", struct num_country_cfg),
	NUM_BY_HAND("mobile", struct num_country_cfg),
	NUM_BY_HAND("national", struct num_country_cfg),
	NUM_BY_HAND("premium", struct num_country_cfg),
	NUM_BY_HAND("international", struct num_country_cfg),
	NUM_BY_HAND("short", struct num_country_cfg),
	NUM_BY_HAND("without_prefix", struct num_country_cfg),
	OCTO_CFG_END
};

/* The list a pattern key of [classes-CC] fills, or -1. */
static int num_pattern_key(const char *key)
{
	for (int i = OCTO_NUM_NATIONAL; i < NUM_L_COUNT; i++)
		if (i != OCTO_NUM_INTERNAL && !strcmp(key, num_list_key(i)))
			return i;
	return -1;
}

static bool num_country_ignore(const char *key)
{
	return num_pattern_key(key) >= 0 || !strcmp(key, "internal") ||
	       !strcmp(key, "unknown");
}

/*
 * Compiles the comma separated patterns of `v` into `l` as list `list`.
 * `where` is "[classes-39] " for the messages.
 */
static void num_read_patterns(const struct octo_cfg_var *v, int list, const char *where,
			      struct num_patlist *l, struct octo_diags *diags)
{
	const char *s = v->value;
	char vb[OCTO_CFG_CLEAN];

	for (;;) {
		const char *end = strchr(s, ','), *a = s, *b;
		char item[NUM_IN_MAX + 1];
		struct octo_pattern *pat;
		const char *err = NULL;

		if (!end)
			end = s + strlen(s);
		b = end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b - a > NUM_IN_MAX) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
				       "%s%s: a pattern is longer than %d characters", where,
				       v->name, NUM_IN_MAX);
		} else if (b > a) {
			memcpy(item, a, (size_t)(b - a));
			item[b - a] = '\0';
			pat = !strcmp(item, "default") ? NULL : octo_pattern_compile(item, &err);
			if (!pat) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "%s%s: \"%s\" is not a valid pattern: %s", where,
					       v->name, octo_cfg_clean(vb, item),
					       err ? err : "\"default\" has no meaning here");
			} else if (num_patlist_add(l, pat, list, v->file, v->line)) {
				octo_pattern_free(pat);
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "out of memory");
			}
		}
		if (!*end)
			break;
		s = end + 1;
	}
}

/* A pattern text in two classes of one country is an error; twice in one
 * list is a warning (the second is useless). */
static void num_check_duplicates(const struct num_patlist *l, const char *where,
				 struct octo_diags *diags)
{
	for (size_t i = 1; i < l->count; i++) {
		const struct num_pat *p = &l->items[i];

		for (size_t j = 0; j < i; j++) {
			const struct num_pat *q = &l->items[j];

			if (strcmp(octo_pattern_text(p->pat), octo_pattern_text(q->pat)))
				continue;
			if (p->list == q->list)
				octo_diags_add(diags, OCTO_DIAG_WARNING, p->file, p->line,
					       "%s%s: pattern %s is listed twice (also at %s:%d)",
					       where, num_list_key(p->list),
					       octo_pattern_text(p->pat), q->file, q->line);
			else if (p->list < OCTO_NUM_CLASSES && q->list < OCTO_NUM_CLASSES)
				octo_diags_add(diags, OCTO_DIAG_ERROR, p->file, p->line,
					       "%s%s: pattern %s is already a%s %s pattern (%s:%d)",
					       where, num_list_key(p->list),
					       octo_pattern_text(p->pat),
					       q->list == OCTO_NUM_INTERNATIONAL ||
							       q->list == OCTO_NUM_EMERGENCY
						       ? "n"
						       : "",
					       num_list_key(q->list), q->file, q->line);
			break;
		}
	}
}

static struct num_country *num_build_country(const struct octo_cfg_section *sec,
					     struct octo_diags *diags)
{
	char sb[OCTO_CFG_CLEAN], where[OCTO_CFG_CLEAN + 4];
	const char *code = sec->name + strlen("classes-");
	struct num_country_cfg cfg = { 0 };
	size_t errors = diags->errors;
	struct num_country *c;

	snprintf(where, sizeof(where), "[%s] ", octo_cfg_clean(sb, sec->name));
	if (code[0] == '0' || !num_all_digits(code, 1, 3)) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "%sa [classes-CC] section is named by the country calling code "
			       "(1 to 3 digits, not starting with 0): [classes-39], [classes-1]",
			       where);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line, "out of memory");
		return NULL;
	}
	c->cc = octo_strdup(code);
	c->file = octo_strdup(sec->file ? sec->file : NUM_FILE);
	c->line = sec->line;
	octo_cfg_bind(sec, num_country_opts, &cfg, num_country_ignore, diags);
	c->description = octo_strdup(cfg.description ? cfg.description : "");
	c->national_prefix = cfg.national_prefix ? octo_strdup(cfg.national_prefix) : NULL;
	c->international_prefix =
		cfg.international_prefix ? octo_strdup(cfg.international_prefix) : NULL;
	octo_cfg_unbind(num_country_opts, &cfg);
	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
		int list = num_pattern_key(v->name);

		if (list >= 0)
			num_read_patterns(v, list, where, &c->pats, diags);
		else if (!strcmp(v->name, "internal"))
			octo_diags_add(diags, OCTO_DIAG_WARNING, v->file, v->line,
				       "%sinternal: the PBX's extensions are set in [general] "
				       "internal, not per country (ignored)",
				       where);
		else if (!strcmp(v->name, "unknown"))
			octo_diags_add(diags, OCTO_DIAG_WARNING, v->file, v->line,
				       "%sunknown: numbers that match no pattern are unknown by "
				       "themselves; it takes no patterns (ignored)",
				       where);
	}
	num_check_duplicates(&c->pats, where, diags);
	if (diags->errors != errors) {
		num_country_free(c);
		return NULL;
	}
	return c;
}

/* Says that `item` of an allow/deny line is not a class, with a hint. */
static void num_not_a_class(const struct octo_cfg_var *v, const char *where, const char *item,
			    struct octo_diags *diags)
{
	char vb[OCTO_CFG_CLEAN], hint[64] = "";
	unsigned best = 3;

	for (int i = 0; i < OCTO_NUM_CLASSES; i++) {
		unsigned d = octo_edit_distance(item, num_class_names[i]);

		if (d < best) {
			best = d;
			snprintf(hint, sizeof(hint), " (did you mean \"%s\"?)", num_class_names[i]);
		}
	}
	octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
		       "%s%s: \"%s\" is not a call class (internal, national, mobile, "
		       "international, premium, emergency, unknown or all)%s",
		       where, v->name, octo_cfg_clean(vb, item), hint);
}

/* Reads one allow/deny line of an ACL group. */
static void num_read_acl_list(const struct octo_cfg_var *v, const char *where, bool *set,
			      struct octo_diags *diags)
{
	const char *s = v->value;

	for (;;) {
		const char *end = strchr(s, ','), *a = s, *b;
		char item[32];
		size_t n;
		int cls;

		if (!end)
			end = s + strlen(s);
		b = end;
		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		n = (size_t)(b - a) < sizeof(item) - 1 ? (size_t)(b - a) : sizeof(item) - 1;
		memcpy(item, a, n);
		item[n] = '\0';
		cls = (size_t)(b - a) < sizeof(item) ? num_class_parse(item) : -1;
		if (!n) {
			/* an empty item: nothing */
		} else if (!strcasecmp(item, "all") && (size_t)(b - a) == 3) {
			for (int i = 0; i < OCTO_NUM_CLASSES; i++)
				set[i] = true;
		} else if (cls >= 0) {
			set[cls] = true;
		} else {
			num_not_a_class(v, where, item, diags);
		}
		if (!*end)
			break;
		s = end + 1;
	}
}

struct num_acl_cfg {
	char *description;
	struct octo_cfg_list unused; /* allow, deny: read by num_read_acl_list */
};

static const struct octo_cfg_opt num_acl_opts[] = {
	{ .key = "description", .type = OCTO_CFG_T_STR,
	  .offset = offsetof(struct num_acl_cfg, description), .doc = "what the group is for" },
	NUM_BY_HAND("allow", struct num_acl_cfg),
	NUM_BY_HAND("deny", struct num_acl_cfg),
	OCTO_CFG_END
};

static bool num_acl_ignore(const char *key)
{
	return !strcmp(key, "allow") || !strcmp(key, "deny");
}

static struct num_acl *num_build_acl(const struct octo_cfg_section *sec, struct octo_diags *diags)
{
	char sb[OCTO_CFG_CLEAN], where[OCTO_CFG_CLEAN + 4];
	const char *name = sec->name + strlen("acl-");
	const struct octo_cfg_var *deny_var = NULL;
	struct num_acl_cfg cfg = { 0 };
	size_t errors = diags->errors;
	bool both[OCTO_NUM_CLASSES] = { false }, any_allow = false;
	bool named_allow[OCTO_NUM_CLASSES] = { false }, named_deny[OCTO_NUM_CLASSES] = { false };
	struct num_acl *a;

	snprintf(where, sizeof(where), "[%s] ", octo_cfg_clean(sb, sec->name));
	if (!num_name_valid(name)) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "%san ACL group is named [acl-NAME], NAME made of letters, digits, "
			       "'_', '-' and '.' (at most %d)",
			       where, NUM_NAME_MAX - 1);
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line, "out of memory");
		return NULL;
	}
	a->name = octo_strdup(name);
	a->file = octo_strdup(sec->file ? sec->file : NUM_FILE);
	a->line = sec->line;
	octo_cfg_bind(sec, num_acl_opts, &cfg, num_acl_ignore, diags);
	a->description = octo_strdup(cfg.description ? cfg.description : "");
	octo_cfg_unbind(num_acl_opts, &cfg);
	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
		if (!strcmp(v->name, "allow")) {
			bool set[OCTO_NUM_CLASSES] = { false };

			any_allow = true;
			num_read_acl_list(v, where, set, diags);
			for (int i = 0; i < OCTO_NUM_CLASSES; i++)
				named_allow[i] |= set[i];
		} else if (!strcmp(v->name, "deny")) {
			bool set[OCTO_NUM_CLASSES] = { false };

			num_read_acl_list(v, where, set, diags);
			for (int i = 0; i < OCTO_NUM_CLASSES; i++)
				named_deny[i] |= set[i];
			if (set[OCTO_NUM_EMERGENCY] && !deny_var)
				deny_var = v;
		}
	}
	if (diags->errors != errors) {
		num_acl_free(a);
		return NULL;
	}
	for (int i = 0; i < OCTO_NUM_CLASSES; i++) {
		a->allow[i] = named_allow[i];
		a->deny[i] = named_deny[i];
		both[i] = named_allow[i] && named_deny[i];
	}
	if (deny_var)
		octo_diags_add(diags, OCTO_DIAG_WARNING, deny_var->file, deny_var->line,
			       "%sdeny: emergency numbers are always allowed: the group cannot "
			       "deny them (ignored for emergency)",
			       where);
	a->deny[OCTO_NUM_EMERGENCY] = false;
	a->allow[OCTO_NUM_EMERGENCY] = true;
	for (int i = 0; i < OCTO_NUM_CLASSES; i++) {
		const struct octo_cfg_var *v = octo_cfg_var_find(sec, "deny");
		bool all_allowed = true;

		if (!both[i] || i == OCTO_NUM_EMERGENCY)
			continue;
		/* "allow = all" with a deny list is the usual way to write it. */
		for (int k = 0; k < OCTO_NUM_CLASSES; k++)
			all_allowed &= named_allow[k];
		if (all_allowed)
			continue;
		octo_diags_add(diags, OCTO_DIAG_WARNING, v ? v->file : sec->file,
			       v ? v->line : sec->line,
			       "%s%s is both allowed and denied: denied (deny wins)", where,
			       num_class_names[i]);
	}
	if (!any_allow)
		octo_diags_add(diags, OCTO_DIAG_WARNING, sec->file, sec->line,
			       "%shas no allow key: its users can call emergency numbers only",
			       where);
	return a;
}

static int num_country_cmp(const void *a, const void *b)
{
	const struct num_country *x = *(struct num_country *const *)a;
	const struct num_country *y = *(struct num_country *const *)b;

	return strlen(x->cc) != strlen(y->cc) ? (strlen(x->cc) < strlen(y->cc) ? -1 : 1)
					       : strcmp(x->cc, y->cc);
}

static int num_acl_cmp(const void *a, const void *b)
{
	return strcmp((*(struct num_acl *const *)a)->name, (*(struct num_acl *const *)b)->name);
}

/* Checks [general] against the rest once everything is read. */
static void num_check_general(struct num_conf *c, const struct octo_cfg_section *gen,
			      const struct num_general_cfg *g, struct octo_diags *diags)
{
	const struct octo_cfg_var *v;
	const struct num_country *country = num_country_find(c, c->cc);

	c->country = country;
	v = octo_cfg_var_find(gen, "country_code");
	if (!country) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : gen->file,
			       v ? v->line : gen->line,
			       "[general] country_code: %s has no [classes-%s] section (the call "
			       "classes of the country)",
			       c->cc, c->cc);
		return;
	}
	/* The prefixes: [general] wins, else the country's, else none/00. */
	if (g->national_prefix) {
		const char *theirs = country->national_prefix;

		c->national_prefix = octo_strdup(g->national_prefix);
		v = octo_cfg_var_find(gen, "national_prefix");
		if (theirs && strcmp(theirs, g->national_prefix))
			octo_diags_add(diags, OCTO_DIAG_WARNING, v ? v->file : gen->file,
				       v ? v->line : gen->line,
				       "[general] national_prefix: \"%s\" differs from the one of "
				       "[classes-%s] (%s:%d): \"%s\"%s",
				       g->national_prefix, c->cc, country->file, country->line,
				       theirs,
				       theirs[0] ? ""
						 : " (none: the leading 0 is part of the number "
						   "there)");
	} else {
		c->national_prefix =
			octo_strdup(country->national_prefix ? country->national_prefix : "");
	}
	if (g->international_prefix)
		c->international_prefix = octo_strdup(g->international_prefix);
	else
		c->international_prefix = octo_strdup(
			country->international_prefix ? country->international_prefix : "00");
	if (c->national_prefix[0] && !strcmp(c->national_prefix, c->international_prefix)) {
		v = octo_cfg_var_find(gen, g->international_prefix ? "international_prefix"
								   : "national_prefix");
		octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : gen->file,
			       v ? v->line : gen->line,
			       "[general] the national and the international prefix are both "
			       "\"%s\"",
			       c->national_prefix);
	}
	if (c->area_code[0] && num_starts(c->area_code, c->national_prefix)) {
		v = octo_cfg_var_find(gen, "area_code");
		octo_diags_add(diags, OCTO_DIAG_WARNING, v ? v->file : gen->file,
			       v ? v->line : gen->line,
			       "[general] area_code: \"%s\" starts with the national prefix "
			       "\"%s\": give it without the prefix (30 for Berlin, not 030)",
			       c->area_code, c->national_prefix);
	}
	if (c->acl_default[0] && !num_acl_find(c, c->acl_default)) {
		v = octo_cfg_var_find(gen, "acl_default");
		octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : gen->file,
			       v ? v->line : gen->line,
			       "[general] acl_default: there is no [acl-%s] section",
			       c->acl_default);
	}
	/* An internal pattern that covers an emergency number: emergency wins. */
	for (size_t i = 0; i < c->internal.count; i++) {
		const struct num_pat *ip = &c->internal.items[i];

		for (size_t k = 0; k < country->pats.count; k++) {
			const struct num_pat *ep = &country->pats.items[k];

			if (ep->list != OCTO_NUM_EMERGENCY || !octo_pattern_is_exact(ep->pat) ||
			    !octo_pattern_match(ip->pat, octo_pattern_text(ep->pat)))
				continue;
			octo_diags_add(diags, OCTO_DIAG_WARNING, ip->file, ip->line,
				       "[general] internal: pattern %s also matches the emergency "
				       "number %s: it is always an emergency call",
				       octo_pattern_text(ip->pat), octo_pattern_text(ep->pat));
		}
	}
}

/*
 * Builds a configuration from a parsed features.conf. Returns a new
 * reference, or NULL when there are errors (every one in diags).
 */
static struct num_conf *num_build_cfg(const struct octo_cfg *cfg, struct octo_diags *diags)
{
	size_t errors = diags->errors, nc = 0, na = 0;
	const struct octo_cfg_section *gen = NULL;
	struct num_general_cfg g = { 0 };
	struct num_conf *c = octo_obj_alloc(sizeof(*c), num_conf_destroy);

	if (!c) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, NUM_FILE, 0, "out of memory");
		return NULL;
	}
	for (const struct octo_cfg_section *s = octo_cfg_first(cfg); s; s = octo_cfg_next(s)) {
		if (!strncmp(s->name, "classes-", 8) || !strcmp(s->name, "classes"))
			nc++;
		else if (!strncmp(s->name, "acl-", 4) || !strcmp(s->name, "acl"))
			na++;
	}
	c->countries = calloc(nc ? nc : 1, sizeof(*c->countries));
	c->acls = calloc(na ? na : 1, sizeof(*c->acls));
	if (!c->countries || !c->acls) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, NUM_FILE, 0, "out of memory");
		octo_obj_unref(c);
		return NULL;
	}
	for (const struct octo_cfg_section *s = octo_cfg_first(cfg); s; s = octo_cfg_next(s)) {
		char sb[OCTO_CFG_CLEAN];

		if (!strcmp(s->name, "general")) {
			if (gen) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, s->file, s->line,
					       "[general] is defined twice (first at %s:%d)",
					       gen->file, gen->line);
				continue;
			}
			gen = s;
		} else if (!strncmp(s->name, "classes-", 8) || !strcmp(s->name, "classes")) {
			struct num_country *country =
				strcmp(s->name, "classes") ? num_build_country(s, diags) : NULL;
			const struct num_country *dup;

			if (!strcmp(s->name, "classes"))
				octo_diags_add(diags, OCTO_DIAG_ERROR, s->file, s->line,
					       "[classes] needs the country calling code: "
					       "[classes-39]");
			if (!country)
				continue;
			dup = num_country_find(c, country->cc);
			if (dup) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, s->file, s->line,
					       "[%s] is defined twice (first at %s:%d)",
					       octo_cfg_clean(sb, s->name), dup->file, dup->line);
				num_country_free(country);
				continue;
			}
			c->countries[c->ncountries++] = country;
		} else if (!strncmp(s->name, "acl-", 4) || !strcmp(s->name, "acl")) {
			struct num_acl *acl =
				strcmp(s->name, "acl") ? num_build_acl(s, diags) : NULL;
			const struct num_acl *dup;

			if (!strcmp(s->name, "acl"))
				octo_diags_add(diags, OCTO_DIAG_ERROR, s->file, s->line,
					       "[acl] needs the group's name: [acl-employees]");
			if (!acl)
				continue;
			dup = num_acl_find(c, acl->name);
			if (dup) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, s->file, s->line,
					       "[%s] is defined twice (first at %s:%d)",
					       octo_cfg_clean(sb, s->name), dup->file, dup->line);
				num_acl_free(acl);
				continue;
			}
			c->acls[c->nacls++] = acl;
		}
		/* any other section belongs to another part of Octo */
	}
	if (!gen) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, cfg->file ? cfg->file : NUM_FILE, 0,
			       "[general] is missing (country_code and the other numbering keys)");
		octo_obj_unref(c);
		return NULL;
	}
	c->general_file = octo_strdup(gen->file ? gen->file : NUM_FILE);
	c->general_line = gen->line;
	octo_cfg_bind(gen, num_general_opts, &g, num_general_ignore, diags);
	for (const struct octo_cfg_var *v = gen->vars; v; v = v->next)
		if (!strcmp(v->name, "internal"))
			num_read_patterns(v, OCTO_NUM_INTERNAL, "[general] ", &c->internal, diags);
	if (!g.country_code && !octo_cfg_var_find(gen, "country_code"))
		octo_diags_add(diags, OCTO_DIAG_ERROR, gen->file, gen->line,
			       "[general] country_code: required option missing (the PBX's "
			       "country calling code, e.g. 39)");
	c->cc = octo_strdup(g.country_code ? g.country_code : "");
	c->outside_prefix = octo_strdup(g.outside_line_prefix ? g.outside_line_prefix : "");
	c->area_code = octo_strdup(g.area_code ? g.area_code : "");
	c->acl_default = octo_strdup(g.acl_default ? g.acl_default : "");
	qsort(c->countries, c->ncountries, sizeof(*c->countries), num_country_cmp);
	qsort(c->acls, c->nacls, sizeof(*c->acls), num_acl_cmp);
	if (diags->errors == errors && g.country_code)
		num_check_general(c, gen, &g, diags);
	octo_cfg_unbind(num_general_opts, &g);
	if (diags->errors != errors) {
		octo_obj_unref(c);
		return NULL;
	}
	return c;
}

/* True when features.conf exists in `dir`. */
static bool num_file_exists(const char *dir)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : ".", NUM_FILE);
	return access(path, F_OK) == 0;
}

/* Reads features.conf from `dir`; NULL when it has errors (in diags). */
static struct num_conf *num_build(const char *dir, struct octo_diags *diags)
{
	struct octo_cfg *cfg = octo_cfg_load(dir, NUM_FILE, false, diags);
	struct num_conf *c;

	if (!cfg)
		return NULL;
	c = num_build_cfg(cfg, diags);
	octo_cfg_free(cfg);
	return c;
}

static void num_install(struct num_conf *c)
{
	struct num_conf *old;

	pthread_rwlock_wrlock(&num_lock);
	old = num_current;
	num_current = c;
	pthread_rwlock_unlock(&num_lock);
	octo_obj_unref(old);
	if (c)
		octo_verbose(2, "numbering: country +%s (%s), %zu countr%s, %zu ACL group%s", c->cc,
			     c->country->description[0] ? c->country->description : "no name",
			     c->ncountries, c->ncountries == 1 ? "y" : "ies", c->nacls,
			     c->nacls == 1 ? "" : "s");
}

static struct num_conf *num_get(void)
{
	struct num_conf *c;

	pthread_rwlock_rdlock(&num_lock);
	c = octo_obj_ref(num_current);
	pthread_rwlock_unlock(&num_lock);
	return c;
}

/* ---------------------------------------------------------------- analysis */

enum num_kind { NUM_PHONE, NUM_OTHER };

/*
 * Copies `in` into out (NUM_IN_MAX + 1 bytes) without visual separators
 * when it is a phone number ([+]digits, with blanks - . ( ) / between
 * them): NUM_PHONE. Other printable text (anonymous, *21, fax) is copied
 * as it is: NUM_OTHER. OCTO_EINVAL for NULL, empty, too long, control
 * characters, or blanks inside text that is not a phone number.
 */
static int num_clean(const char *in, char *out)
{
	size_t len, n = 0, digits = 0;
	const char *s;
	bool phone = true;

	if (!in)
		return OCTO_EINVAL;
	while (*in == ' ' || *in == '\t')
		in++;
	len = strlen(in);
	while (len && (in[len - 1] == ' ' || in[len - 1] == '\t'))
		len--;
	if (!len || len > NUM_IN_MAX)
		return OCTO_EINVAL;
	for (s = in; s < in + len; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch < 0x20 || ch >= 0x7f)
			return OCTO_EINVAL;
		if (isdigit(ch)) {
			digits++;
			out[n++] = (char)ch;
		} else if (ch == '+' && s == in) {
			out[n++] = '+';
		} else if (!strchr(" \t-.()/", ch)) {
			phone = false;
		}
	}
	if (phone && digits) {
		out[n] = '\0';
		return NUM_PHONE;
	}
	for (s = in; s < in + len; s++)
		if (*s == ' ' || *s == '\t')
			return OCTO_EINVAL;
	memcpy(out, in, len);
	out[len] = '\0';
	return NUM_OTHER;
}

/* True when `number` is the extension of a user of users.conf. */
static bool num_is_user(const char *number)
{
	const struct octo_users_api *users;
	struct octo_user *u;

	if (!num_all_digits(number, 1, 20))
		return false;
	users = octo_service_get(OCTO_USERS_SERVICE, 1, NUM_HOLDER);
	if (!users)
		return false;
	u = users->find(number);
	octo_obj_unref(u);
	octo_service_put(users, NUM_HOLDER);
	return u != NULL;
}

/* Internal: a pattern of [general] internal, or a user's extension. */
static bool num_internal(const struct num_conf *c, const char *number, struct octo_num_info *info)
{
	const struct num_pat *p = num_best(&c->internal, OCTO_NUM_INTERNAL, number);

	if (p) {
		octo_strlcpy(info->pattern, octo_pattern_text(p->pat), sizeof(info->pattern));
		snprintf(info->why, sizeof(info->why),
			 "matches the internal pattern %s of [general] (%s:%d)",
			 octo_pattern_text(p->pat), p->file, p->line);
		return true;
	}
	if (num_is_user(number)) {
		snprintf(info->why, sizeof(info->why), "is the extension of user %s (users.conf)",
			 number);
		return true;
	}
	return false;
}

static bool num_emergency(const struct num_conf *c, const char *number, struct octo_num_info *info)
{
	const struct num_pat *p = num_best(&c->country->pats, OCTO_NUM_EMERGENCY, number);

	if (!p)
		return false;
	info->cls = OCTO_NUM_EMERGENCY;
	octo_strlcpy(info->pattern, octo_pattern_text(p->pat), sizeof(info->pattern));
	octo_strlcpy(info->national, number, sizeof(info->national));
	snprintf(info->why, sizeof(info->why),
		 "is the emergency number %s of [classes-%s] (%s:%d)", octo_pattern_text(p->pat),
		 c->cc, p->file, p->line);
	return true;
}

/* Classifies `national` (a number of the country, in national form) by the
 * country's patterns; `how` tells how the number got there, for `why`. */
static void num_by_patterns(const struct num_conf *c, const char *national, const char *how,
			    struct octo_num_info *info)
{
	const struct num_pat *p = num_best(&c->country->pats, -1, national);

	octo_strlcpy(info->national, national, sizeof(info->national));
	if (!p) {
		info->cls = OCTO_NUM_UNKNOWN;
		snprintf(info->why, sizeof(info->why), "%s%s%s matches no pattern of [classes-%s]",
			 how, *how ? ": " : "", national, c->cc);
		return;
	}
	info->cls = (enum octo_num_class)p->list;
	octo_strlcpy(info->pattern, octo_pattern_text(p->pat), sizeof(info->pattern));
	snprintf(info->why, sizeof(info->why), "%s%s%s matches the %s pattern %s of [classes-%s] "
		 "(%s:%d)", how, *how ? ": " : "", national, num_class_name(info->cls),
		 octo_pattern_text(p->pat), c->cc, p->file, p->line);
}

/*
 * Reads `in` with the rules of `c` and fills *info (see numbering.h).
 * Returns the class, or OCTO_EINVAL (info->why says why).
 */
static int num_analyse(const struct num_conf *c, const char *in, enum octo_num_origin origin,
		       struct octo_num_info *info)
{
	char clean[NUM_IN_MAX + 1], e164[NUM_IN_MAX + 16];
	const char *n, *how;
	const struct num_pat *sp;
	int kind;

	memset(info, 0, sizeof(*info));
	info->cls = OCTO_NUM_UNKNOWN;
	kind = num_clean(in, clean);
	if (kind < 0) {
		octo_strlcpy(info->why,
			     !in || !*in ? "no number"
					 : "not a number (empty, longer than 64 characters, blanks "
					   "or control characters)",
			     sizeof(info->why));
		return OCTO_EINVAL;
	}
	octo_strlcpy(info->number, clean, sizeof(info->number));
	octo_strlcpy(info->e164, clean, sizeof(info->e164));
	if (kind == NUM_OTHER) {
		if (num_internal(c, clean, info))
			return info->cls = OCTO_NUM_INTERNAL;
		octo_strlcpy(info->why, "not a phone number: kept as it is", sizeof(info->why));
		return OCTO_NUM_UNKNOWN;
	}

	if (clean[0] == '+') {
		snprintf(e164, sizeof(e164), "%s", clean);
		how = "";
	} else {
		if (num_emergency(c, clean, info))
			return OCTO_NUM_EMERGENCY;
		if (num_internal(c, clean, info))
			return info->cls = OCTO_NUM_INTERNAL;
		n = clean;
		if (origin == OCTO_NUM_DIALED && num_starts(n, c->outside_prefix) &&
		    n[strlen(c->outside_prefix)]) {
			n += strlen(c->outside_prefix);
			octo_strlcpy(info->number, n, sizeof(info->number));
			octo_strlcpy(info->e164, n, sizeof(info->e164));
			if (num_emergency(c, n, info))
				return OCTO_NUM_EMERGENCY;
		}
		sp = num_best(&c->country->pats, NUM_L_SHORT, n);
		if (sp) {
			char how_short[160];

			snprintf(how_short, sizeof(how_short),
				 "a short number (pattern %s of [classes-%s] short), kept",
				 octo_pattern_text(sp->pat), c->cc);
			num_by_patterns(c, n, how_short, info);
			return info->cls;
		}
		if (num_starts(n, c->international_prefix) &&
		    n[strlen(c->international_prefix)]) {
			snprintf(e164, sizeof(e164), "+%s", n + strlen(c->international_prefix));
			how = "international prefix";
		} else if (num_starts(n, c->national_prefix) && n[strlen(c->national_prefix)]) {
			snprintf(e164, sizeof(e164), "+%s%s", c->cc,
				 n + strlen(c->national_prefix));
			how = "national prefix";
		} else if (!c->national_prefix[0]) {
			snprintf(e164, sizeof(e164), "+%s%s", c->cc, n);
			how = "a national number (no national prefix in this country)";
		} else if ((sp = num_best(&c->country->pats, NUM_L_WITHOUT_PREFIX, n))) {
			snprintf(e164, sizeof(e164), "+%s%s", c->cc, n);
			how = "a national number without prefix";
		} else if (c->area_code[0]) {
			snprintf(e164, sizeof(e164), "+%s%s%s", c->cc, c->area_code, n);
			how = "a local number (area_code)";
		} else {
			/* A local number: it has no +CC form without an area code. */
			info->cls = OCTO_NUM_NATIONAL;
			octo_strlcpy(info->national, n, sizeof(info->national));
			octo_strlcpy(info->why,
				     "a local number, kept (no area_code to give it the country "
				     "and area code)",
				     sizeof(info->why));
			return OCTO_NUM_NATIONAL;
		}
	}

	/* e164 is "+digits" now: check it is a plausible E.164 number. */
	if (strlen(e164) - 1 > NUM_E164_DIGITS || e164[1] == '0' || !e164[1]) {
		info->cls = OCTO_NUM_UNKNOWN;
		snprintf(info->why, sizeof(info->why),
			 "%s%s%s is not an E.164 number (a country code, at most 15 digits): kept",
			 how, *how ? ": " : "", e164);
		return OCTO_NUM_UNKNOWN;
	}
	info->normalized = true;
	octo_strlcpy(info->e164, e164, sizeof(info->e164));
	if (!strcmp(e164 + 1, c->cc)) {
		snprintf(info->why, sizeof(info->why), "%s%s%s: only the country code", how,
			 *how ? ": " : "", e164);
		return OCTO_NUM_UNKNOWN;
	}
	if (strncmp(e164 + 1, c->cc, strlen(c->cc))) {
		info->cls = OCTO_NUM_INTERNATIONAL;
		snprintf(info->why, sizeof(info->why), "%s%s%s: the country code is not %s", how,
			 *how ? ": " : "", e164, c->cc);
		return OCTO_NUM_INTERNATIONAL;
	}
	{
		char national[NUM_IN_MAX + 16], how_nat[160];

		snprintf(national, sizeof(national), "%s%s", c->national_prefix,
			 e164 + 1 + strlen(c->cc));
		snprintf(how_nat, sizeof(how_nat), "%s%s%s, nationally", how, *how ? " " : "",
			 e164);
		num_by_patterns(c, national, how_nat, info);
	}
	return info->cls;
}

/* Writes the +CC form of a normalized number in `fmt`; 0 or OCTO_EINVAL (no room). */
static int num_write(const struct num_conf *c, const struct octo_num_info *info,
		     enum octo_num_format fmt, char *buf, size_t size)
{
	const char *digits = info->e164 + 1;
	bool same = !strncmp(digits, c->cc, strlen(c->cc));
	int w;

	switch (fmt) {
	case OCTO_NUM_FMT_E164:
		w = snprintf(buf, size, "%s", info->e164);
		break;
	case OCTO_NUM_FMT_NATIONAL:
	case OCTO_NUM_FMT_SIGNIFICANT:
		/* another country is dialled internationally */
		if (same)
			w = snprintf(buf, size, "%s%s",
				     fmt == OCTO_NUM_FMT_NATIONAL ? c->national_prefix : "",
				     digits + strlen(c->cc));
		else
			w = snprintf(buf, size, "%s%s", c->international_prefix, digits);
		break;
	case OCTO_NUM_FMT_INTERNATIONAL:
		w = snprintf(buf, size, "%s%s", c->international_prefix, digits);
		break;
	default:
		w = snprintf(buf, size, "%s", info->number);
		break;
	}
	if (w < 0 || (size_t)w >= size) {
		if (size)
			buf[0] = '\0';
		return OCTO_EINVAL;
	}
	return 0;
}

static int num_do_normalize(const struct num_conf *c, const char *number,
			    enum octo_num_origin origin, char *buf, size_t size)
{
	struct octo_num_info info;

	if (!buf || !size)
		return OCTO_EINVAL;
	if (num_analyse(c, number, origin, &info) < 0) {
		buf[0] = '\0';
		return OCTO_EINVAL;
	}
	if (strlen(info.e164) >= size) {
		buf[0] = '\0';
		return OCTO_EINVAL;
	}
	octo_strlcpy(buf, info.e164, size);
	return info.normalized ? OCTO_NUM_NORMALIZED : OCTO_NUM_KEPT;
}

static int num_do_format(const struct num_conf *c, const char *number, enum octo_num_format fmt,
			 enum octo_num_origin origin, char *buf, size_t size)
{
	struct octo_num_info info;

	if (!buf || !size || (unsigned)fmt >= OCTO_NUM_FORMATS)
		return OCTO_EINVAL;
	if (num_analyse(c, number, origin, &info) < 0) {
		buf[0] = '\0';
		return OCTO_EINVAL;
	}
	if (!info.normalized) {
		if (strlen(info.e164) >= size) {
			buf[0] = '\0';
			return OCTO_EINVAL;
		}
		octo_strlcpy(buf, info.e164, size);
		return OCTO_NUM_KEPT;
	}
	return num_write(c, &info, fmt, buf, size) ? OCTO_EINVAL : OCTO_NUM_NORMALIZED;
}

static const char *const num_format_names[OCTO_NUM_FORMATS] = {
	[OCTO_NUM_FMT_E164] = "e164",
	[OCTO_NUM_FMT_INTERNATIONAL] = "international",
	[OCTO_NUM_FMT_NATIONAL] = "national",
	[OCTO_NUM_FMT_SIGNIFICANT] = "significant",
	[OCTO_NUM_FMT_DIALED] = "dialed",
};

static int num_format_parse(const char *name)
{
	for (int i = 0; i < OCTO_NUM_FORMATS; i++)
		if (!strcasecmp(name, num_format_names[i]))
			return i;
	if (!strcasecmp(name, "dialled") || !strcasecmp(name, "asdialed") ||
	    !strcasecmp(name, "asdialled"))
		return OCTO_NUM_FMT_DIALED;
	return -1;
}

/* ---------------------------------------------------------------- ACL */

/* Decides for a class with group `g` (NULL: the group `name` is not
 * defined); fills v->allowed and v->why. */
static void num_acl_decide(const struct num_conf *c, const struct num_acl *g, const char *name,
			   enum octo_num_class cls, struct octo_acl_verdict *v)
{
	const char *cn = num_class_name(cls);

	if (cls == OCTO_NUM_EMERGENCY) {
		v->allowed = true;
		octo_strlcpy(v->why, "emergency numbers are always allowed", sizeof(v->why));
		return;
	}
	if (!name || !*name) {
		v->allowed = true;
		snprintf(v->why, sizeof(v->why),
			 "no ACL group applies (no acl_group, no acl_default): %s is allowed", cn);
		return;
	}
	if (!g) {
		v->allowed = false;
		snprintf(v->why, sizeof(v->why),
			 "ACL group \"%s\" is not defined in %s (no [acl-%s]): only emergency "
			 "numbers are allowed",
			 name, NUM_FILE, name);
		return;
	}
	if (g->deny[cls]) {
		v->allowed = false;
		snprintf(v->why, sizeof(v->why), "%s is in the deny list of [acl-%s] (%s:%d)", cn,
			 g->name, g->file, g->line);
	} else if (g->allow[cls]) {
		v->allowed = true;
		snprintf(v->why, sizeof(v->why), "%s is in the allow list of [acl-%s] (%s:%d)", cn,
			 g->name, g->file, g->line);
	} else {
		v->allowed = false;
		snprintf(v->why, sizeof(v->why), "%s is not in the allow list of [acl-%s] (%s:%d)",
			 cn, g->name, g->file, g->line);
	}
	(void)c;
}

/* The ACL group of `user`: writes it and how it was chosen; "" when none. */
static void num_acl_group_of(const struct num_conf *c, const char *user, const char *group,
			     struct octo_acl_verdict *v)
{
	const struct octo_users_api *users;
	struct octo_user *u = NULL;
	bool is_user = false;

	if (group && *group) {
		octo_strlcpy(v->group, group, sizeof(v->group));
		octo_strlcpy(v->source, "given", sizeof(v->source));
		return;
	}
	if (user && *user && (users = octo_service_get(OCTO_USERS_SERVICE, 1, NUM_HOLDER))) {
		u = num_all_digits(user, 1, 20) ? users->find(user) : NULL;
		is_user = u != NULL;
		if (u && u->acl_group && *u->acl_group) {
			octo_strlcpy(v->group, u->acl_group, sizeof(v->group));
			snprintf(v->source, sizeof(v->source), "acl_group of user %s", user);
		}
		octo_obj_unref(u);
		octo_service_put(users, NUM_HOLDER);
		if (v->group[0])
			return;
	}
	octo_strlcpy(v->group, c->acl_default, sizeof(v->group));
	if (!user || !*user)
		snprintf(v->source, sizeof(v->source), "acl_default of [general] (no user)");
	else
		snprintf(v->source, sizeof(v->source), "acl_default of [general] (%s %.40s %s)",
			 is_user ? "user" : "caller", user,
			 is_user ? "has no acl_group" : "is not a user");
}

static int num_do_acl(const struct num_conf *c, const char *user, const char *group,
		      const char *number, enum octo_num_origin origin, struct octo_acl_verdict *v)
{
	int cls;

	memset(v, 0, sizeof(*v));
	num_acl_group_of(c, user, group, v);
	cls = num_analyse(c, number, origin, &v->num);
	if (cls < 0) {
		v->allowed = false;
		snprintf(v->why, sizeof(v->why), "%s", v->num.why);
		return OCTO_EINVAL;
	}
	num_acl_decide(c, num_acl_find(c, v->group), v->group, (enum octo_num_class)cls, v);
	return v->allowed ? 1 : 0;
}

/* ---------------------------------------------------------------- the service */

static int num_svc_normalize(const char *number, enum octo_num_origin origin, char *buf,
			     size_t size)
{
	struct num_conf *c = num_get();
	int rc;

	if (!c) {
		if (buf && size)
			buf[0] = '\0';
		return OCTO_EINVAL;
	}
	rc = num_do_normalize(c, number, origin, buf, size);
	octo_obj_unref(c);
	return rc;
}

static int num_svc_format(const char *number, enum octo_num_format fmt,
			  enum octo_num_origin origin, char *buf, size_t size)
{
	struct num_conf *c = num_get();
	int rc;

	if (!c) {
		if (buf && size)
			buf[0] = '\0';
		return OCTO_EINVAL;
	}
	rc = num_do_format(c, number, fmt, origin, buf, size);
	octo_obj_unref(c);
	return rc;
}

static int num_svc_classify(const char *number, enum octo_num_origin origin,
			    struct octo_num_info *info)
{
	struct num_conf *c = num_get();
	int rc;

	if (!info) {
		octo_obj_unref(c);
		return OCTO_EINVAL;
	}
	if (!c) {
		memset(info, 0, sizeof(*info));
		octo_strlcpy(info->why, "numbering is not configured", sizeof(info->why));
		return OCTO_EINVAL;
	}
	rc = num_analyse(c, number, origin, info);
	octo_obj_unref(c);
	return rc;
}

static int num_svc_acl(const char *user, const char *group, const char *number,
		       struct octo_acl_verdict *v)
{
	struct num_conf *c = num_get();
	int rc;

	if (!v) {
		octo_obj_unref(c);
		return OCTO_EINVAL;
	}
	if (!c) {
		memset(v, 0, sizeof(*v));
		octo_strlcpy(v->why, "numbering is not configured", sizeof(v->why));
		return OCTO_EINVAL;
	}
	rc = num_do_acl(c, user, group, number, OCTO_NUM_DIALED, v);
	octo_obj_unref(c);
	return rc;
}

static void num_svc_cc(char *buf, size_t size)
{
	struct num_conf *c = num_get();

	if (buf && size)
		octo_strlcpy(buf, c ? c->cc : "", size);
	octo_obj_unref(c);
}

static const struct octo_numbering_api num_api = {
	.normalize = num_svc_normalize,
	.format = num_svc_format,
	.classify = num_svc_classify,
	.class_name = num_class_name,
	.class_parse = num_class_parse,
	.acl_check = num_svc_acl,
	.country_code = num_svc_cc,
};

static const struct octo_service num_service = {
	OCTO_NUMBERING_SERVICE, OCTO_NUMBERING_VERSION, &num_api
};

/* ---------------------------------------------------------------- dialplan */

/* "received" / "dialed" (also "dialled"); -1 when neither. */
static int num_origin_parse(const char *s, int def)
{
	if (!s || !*s)
		return def;
	if (!strcasecmp(s, "received"))
		return OCTO_NUM_RECEIVED;
	if (!strcasecmp(s, "dialed") || !strcasecmp(s, "dialled"))
		return OCTO_NUM_DIALED;
	return -1;
}

/* Splits a function's arguments into a copy; returns the count or OCTO_EINVAL. */
static int num_func_args(const char *args, char *copy, size_t size, char **argv, int max)
{
	if (strlen(args) >= size)
		return OCTO_EINVAL;
	octo_strlcpy(copy, args, size);
	return octo_args_split(copy, argv, max);
}

/* ${NORMALIZE(number[,received|dialed])} */
static int num_func_normalize(struct octo_channel *chan, const char *args, char *buf,
			      size_t size)
{
	char copy[256], *argv[3];
	int argc = num_func_args(args, copy, sizeof(copy), argv, 3), origin;

	if (argc < 1 || argc > 2)
		return OCTO_EINVAL;
	origin = num_origin_parse(argc == 2 ? argv[1] : NULL, OCTO_NUM_RECEIVED);
	if (origin < 0)
		return OCTO_EINVAL;
	return num_svc_normalize(argv[0], (enum octo_num_origin)origin, buf, size) < 0
		       ? OCTO_EINVAL
		       : 0;
}

/* ${FORMAT(number,format[,received|dialed])} */
static int num_func_format(struct octo_channel *chan, const char *args, char *buf, size_t size)
{
	char copy[256], *argv[4];
	int argc = num_func_args(args, copy, sizeof(copy), argv, 4), fmt, origin;

	if (argc < 2 || argc > 3)
		return OCTO_EINVAL;
	fmt = num_format_parse(argv[1]);
	origin = num_origin_parse(argc == 3 ? argv[2] : NULL, OCTO_NUM_DIALED);
	if (fmt < 0 || origin < 0)
		return OCTO_EINVAL;
	return num_svc_format(argv[0], (enum octo_num_format)fmt, (enum octo_num_origin)origin,
			      buf, size) < 0
		       ? OCTO_EINVAL
		       : 0;
}

/* ${CALLCLASS(number[,received|dialed])} */
static int num_func_callclass(struct octo_channel *chan, const char *args, char *buf,
			      size_t size)
{
	char copy[256], *argv[3];
	int argc = num_func_args(args, copy, sizeof(copy), argv, 3), origin, cls;
	struct octo_num_info info;

	if (argc < 1 || argc > 2)
		return OCTO_EINVAL;
	origin = num_origin_parse(argc == 2 ? argv[1] : NULL, OCTO_NUM_DIALED);
	if (origin < 0)
		return OCTO_EINVAL;
	cls = num_svc_classify(argv[0], (enum octo_num_origin)origin, &info);
	octo_strlcpy(buf, num_class_name(cls < 0 ? OCTO_NUM_UNKNOWN : (enum octo_num_class)cls),
		     size);
	return 0;
}

/* NormalizeCaller() */
static int num_app_normalize_caller(struct octo_channel *chan, char *args)
{
	char caller[NUM_IN_MAX * 2], out[OCTO_NUM_MAX];
	int rc;

	if (args && *args) {
		octo_chan_step(chan, "NormalizeCaller: takes no arguments");
		return OCTO_EINVAL;
	}
	octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, caller, sizeof(caller));
	rc = num_svc_normalize(caller, OCTO_NUM_RECEIVED, out, sizeof(out));
	if (rc < 0) {
		octo_chan_step(chan, "NormalizeCaller: caller number \"%.64s\" kept (%s)", caller,
			       caller[0] ? "not a number" : "none");
		return OCTO_APP_CONTINUE;
	}
	octo_chan_var_set(chan, "CALLER_ORIGINAL", caller);
	if (rc == OCTO_NUM_KEPT) {
		octo_chan_step(chan, "NormalizeCaller: %s kept as it is (no +CC form)", caller);
		return OCTO_APP_CONTINUE;
	}
	octo_chan_step(chan, "NormalizeCaller: %s -> %s", caller, out);
	octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, out);
	return OCTO_APP_CONTINUE;
}

/* Plays the "call not allowed" prompt, or says in the step log why not. */
static void num_announce(struct octo_channel *chan, const char *language)
{
	const struct octo_chan_tech *tech = octo_chan_tech(chan);
	struct octo_sound *s = NULL;
	struct octo_frame f;
	unsigned frames = 0;
	int rc;

	if (!tech || !tech->write_frame) {
		octo_chan_step(chan, "CheckACL: the announcement %s is not played: %s channels "
			       "carry no audio", NUM_PROMPT, tech ? tech->name : "these");
		return;
	}
	rc = octo_sound_open(NUM_PROMPT, language && *language ? language : NULL, &s);
	if (rc) {
		octo_chan_step(chan, "CheckACL: the announcement %s is not played: %s", NUM_PROMPT,
			       rc == OCTO_ENOTFOUND ? "no such prompt in the sound folder"
						    : octo_strerror(rc));
		return;
	}
	/* Early media, so the caller hears why before the call is refused. */
	if (octo_chan_state(chan) != OCTO_CHAN_UP && tech->indicate)
		tech->indicate(chan, OCTO_EV_PROGRESS);
	octo_chan_step(chan, "CheckACL: playing %s (%s)", NUM_PROMPT, octo_sound_path(s));
	rc = 0;
	while (frames < NUM_PROMPT_MAX_FRAMES) {
		long n;

		memset(&f, 0, sizeof(f));
		f.type = OCTO_FRAME_VOICE;
		n = octo_sound_read(s, f.data, OCTO_FRAME_SAMPLES);
		if (n <= 0) {
			rc = (int)n;
			break;
		}
		f.samples = (unsigned)n;
		rc = octo_chan_write_frame(chan, &f);
		if (rc)
			break;
		frames++;
	}
	octo_sound_close(s);
	if (rc == OCTO_EHANGUP)
		octo_chan_step(chan, "CheckACL: the caller hung up during the announcement");
	else if (rc)
		octo_chan_step(chan, "CheckACL: the announcement stopped after %u ms: %s",
			       frames * OCTO_FRAME_MS, octo_strerror(rc));
}

/* CheckACL([number][,options]) */
static int num_app_checkacl(struct octo_channel *chan, char *args)
{
	char *argv[3], number[NUM_IN_MAX * 2], user[NUM_IN_MAX + 1], group[NUM_NAME_MAX + 1];
	char lang[OCTO_SOUND_LANG_MAX] = "", userfield[64];
	int argc = octo_args_split(args, argv, 3);
	bool go_on = false, quiet = false;
	struct octo_acl_verdict v;
	struct num_conf *c;

	if (argc > 2) {
		octo_chan_step(chan, "CheckACL: expected [number][,options]");
		return OCTO_EINVAL;
	}
	for (const char *o = argc == 2 ? argv[1] : ""; *o; o++) {
		if (*o == 'c') {
			go_on = true;
		} else if (*o == 'q') {
			quiet = true;
		} else {
			octo_chan_step(chan, "CheckACL: unknown option '%c' (c: go on when denied, "
				       "q: no announcement)", *o);
			return OCTO_EINVAL;
		}
	}
	if (argc >= 1 && *argv[0])
		octo_strlcpy(number, argv[0], sizeof(number));
	else
		octo_chan_copy(chan, OCTO_CHAN_CALLED, number, sizeof(number));
	if (!octo_chan_var_get(chan, "USER", user, sizeof(user)) || !*user)
		octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, user, sizeof(user));
	if (!octo_chan_var_get(chan, "ACL_GROUP", group, sizeof(group)))
		group[0] = '\0';
	c = num_get();
	if (!c) {
		octo_chan_step(chan, "CheckACL: numbering is not configured (%s)", NUM_FILE);
		return OCTO_EFAIL;
	}
	num_do_acl(c, user, group, number, OCTO_NUM_DIALED, &v);
	octo_obj_unref(c);
	if (group[0])
		octo_strlcpy(v.source, "variable ACL_GROUP", sizeof(v.source));
	octo_chan_var_set(chan, "CALLCLASS", num_class_name(v.num.cls));
	octo_chan_step(chan, "CheckACL: %.64s is %s (%s)", number, num_class_name(v.num.cls),
		       v.num.why);
	if (v.allowed) {
		octo_chan_step(chan, "CheckACL: allowed for %.64s, ACL group %s (%s): %s", user,
			       v.group[0] ? v.group : "(none)", v.source, v.why);
		octo_chan_var_set(chan, "ACL_RESULT", "allowed");
		octo_chan_var_set(chan, "ACL_DENIED", NULL);
		octo_chan_step(chan, "CheckACL: CALLCLASS=%s ACL_RESULT=allowed",
			       num_class_name(v.num.cls));
		return OCTO_APP_CONTINUE;
	}
	octo_chan_step(chan, "CheckACL: denied for %.64s, ACL group %s (%s): %s", user,
		       v.group[0] ? v.group : "(none)", v.source, v.why);
	octo_chan_log(chan, OCTO_NOTICE, "call from %.64s to %.64s denied (%s, ACL group %s)", user,
		      number, num_class_name(v.num.cls), v.group[0] ? v.group : "(none)");
	octo_chan_var_set(chan, "ACL_RESULT", "denied");
	octo_chan_var_set(chan, "ACL_DENIED", num_class_name(v.num.cls));
	snprintf(userfield, sizeof(userfield), "denied: %s", num_class_name(v.num.cls));
	octo_chan_var_set(chan, "CDR_USERFIELD", userfield);
	octo_chan_step(chan, "CheckACL: CALLCLASS=%s ACL_RESULT=denied ACL_DENIED=%s "
		       "CDR_USERFIELD=\"%s\"", num_class_name(v.num.cls), num_class_name(v.num.cls),
		       userfield);
	if (go_on) {
		octo_chan_step(chan, "CheckACL: going on (option c)");
		return OCTO_APP_CONTINUE;
	}
	if (!quiet) {
		if (!octo_chan_var_get(chan, "LANGUAGE", lang, sizeof(lang)) || !*lang) {
			const struct octo_users_api *users =
				octo_service_get(OCTO_USERS_SERVICE, 1, NUM_HOLDER);
			struct octo_user *u = users && num_all_digits(user, 1, 20)
						      ? users->find(user)
						      : NULL;

			if (u && u->language)
				octo_strlcpy(lang, u->language, sizeof(lang));
			octo_obj_unref(u);
			octo_service_put(users, NUM_HOLDER);
		}
		num_announce(chan, lang);
	}
	octo_chan_hangup(chan, OCTO_CAUSE_REJECTED);
	return OCTO_APP_HANGUP;
}

static const struct octo_app num_apps[] = {
	{ .name = "NormalizeCaller", .synopsis = "Rewrite the caller number to the +CC form",
	  .syntax = "NormalizeCaller()",
	  .description =
		  "Rewrites the caller number of the call to its canonical form (+CC..., with "
		  "the country code, national and international prefixes of features.conf), so "
		  "that call history and call-back work from any phone. Internal extensions, "
		  "short numbers and names (anonymous) are kept as they are. The number as "
		  "received stays in ${CALLER_ORIGINAL}.",
	  .exec = num_app_normalize_caller },
	{ .name = "CheckACL", .synopsis = "Refuse a call the caller's ACL group does not allow",
	  .syntax = "CheckACL([number][,options])",
	  .description =
		  "Classifies number (default ${CALLED}, read as dialled: the outside line "
		  "prefix is removed) as internal, national, mobile, international, premium, "
		  "emergency or unknown (features.conf [classes-CC]) and checks it against the "
		  "ACL group of the caller: ${ACL_GROUP} when set, else the acl_group of the "
		  "user (${USER}, else the caller number, in users.conf), else [general] "
		  "acl_default; with none every class is allowed, and a group that is not "
		  "defined allows only emergency numbers. Emergency numbers are always allowed.\n"
		  "Allowed: the next step runs. Denied: the caller hears the prompt "
		  "call-notallowed (in ${LANGUAGE} or the user's language, when the channel "
		  "carries audio), and the call hangs up with CALL_REJECTED (21).\n"
		  "options: c  go on with the next step when denied (the variables say why)\n"
		  "         q  no announcement\n"
		  "Variables set: CALLCLASS (the class), ACL_RESULT (allowed or denied), and when "
		  "denied ACL_DENIED (the class) and CDR_USERFIELD (\"denied: <class>\", "
		  "copied into the CDR). The step log says which group decided and why.",
	  .exec = num_app_checkacl },
	{ 0 }
};

static const struct octo_func num_funcs[] = {
	{ .name = "NORMALIZE", .synopsis = "A number in the canonical +CC form",
	  .syntax = "${NORMALIZE(number[,received|dialed])}", .read = num_func_normalize },
	{ .name = "FORMAT", .synopsis = "A number in the format a trunk wants",
	  .syntax = "${FORMAT(number,e164|international|national|significant|dialed"
		    "[,received|dialed])}",
	  .read = num_func_format },
	{ .name = "CALLCLASS", .synopsis = "The call class of a number",
	  .syntax = "${CALLCLASS(number[,received|dialed])}", .read = num_func_callclass },
	{ 0 }
};

/* ---------------------------------------------------------------- CLI */

/* Appends the patterns of list `list` to buf as "a, b, c". */
static void num_list_text(const struct num_patlist *l, int list, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->count && off < size; i++) {
		int w;

		if (l->items[i].list != list)
			continue;
		w = snprintf(buf + off, size - off, "%s%s", off ? ", " : "",
			     octo_pattern_text(l->items[i].pat));
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (off >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

static int num_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct num_conf *c;
	const struct num_country *k;
	char buf[2048];
	size_t off = 0;

	if (argc != 2)
		return OCTO_CLI_USAGE;
	c = num_get();
	if (!c) {
		octo_cli_error(out, "Numbering is not configured (no %s).", NUM_FILE);
		return OCTO_CLI_FAIL;
	}
	k = c->country;
	octo_cli_kv(out, "country code", "+%s (%s, [classes-%s] at %s:%d)", c->cc,
		    k->description[0] ? k->description : "no description", c->cc, k->file, k->line);
	octo_cli_kv(out, "national prefix", "%s", c->national_prefix[0] ? c->national_prefix
							       : "(none)");
	octo_cli_kv(out, "international prefix", "%s", c->international_prefix);
	octo_cli_kv(out, "outside line prefix", "%s",
		    c->outside_prefix[0] ? c->outside_prefix : "(none)");
	octo_cli_kv(out, "area code", "%s", c->area_code[0] ? c->area_code : "(none)");
	num_list_text(&c->internal, OCTO_NUM_INTERNAL, buf, sizeof(buf));
	octo_cli_kv(out, "internal", "%s%sand the users of users.conf", buf, buf[0] ? ", " : "");
	octo_cli_kv(out, "acl default", "%s", c->acl_default[0] ? c->acl_default : "(none)");
	buf[0] = '\0';
	for (size_t i = 0; i < c->ncountries && off < sizeof(buf); i++) {
		int w = snprintf(buf + off, sizeof(buf) - off, "%s%s%s%s%s", i ? ", " : "",
				 c->countries[i]->cc, c->countries[i]->description[0] ? " (" : "",
				 c->countries[i]->description,
				 c->countries[i]->description[0] ? ")" : "");

		if (w < 0)
			break;
		off += (size_t)w;
	}
	octo_cli_kv(out, "countries defined", "%s", buf);
	off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < c->nacls && off < sizeof(buf); i++) {
		int w = snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? ", " : "",
				 c->acls[i]->name);

		if (w < 0)
			break;
		off += (size_t)w;
	}
	octo_cli_kv(out, "acl groups", "%s", c->nacls ? buf : "(none)");
	octo_cli_columns(out, "class", "patterns", NULL);
	for (int list = OCTO_NUM_NATIONAL; list < NUM_L_COUNT; list++) {
		static const int order[] = { OCTO_NUM_EMERGENCY, OCTO_NUM_MOBILE,
					     OCTO_NUM_NATIONAL, OCTO_NUM_PREMIUM,
					     OCTO_NUM_INTERNATIONAL, NUM_L_SHORT,
					     NUM_L_WITHOUT_PREFIX };
		int which = order[list - OCTO_NUM_NATIONAL];
		char label[64];

		num_list_text(&k->pats, which, buf, sizeof(buf));
		if (which == OCTO_NUM_INTERNATIONAL)
			snprintf(label, sizeof(label), "%s", "international");
		else if (which == NUM_L_SHORT)
			snprintf(label, sizeof(label), "short (kept as dialled)");
		else if (which == NUM_L_WITHOUT_PREFIX)
			snprintf(label, sizeof(label), "without_prefix (national)");
		else
			snprintf(label, sizeof(label), "%s", num_list_key(which));
		if (which == OCTO_NUM_INTERNATIONAL) {
			char more[2100];

			snprintf(more, sizeof(more), "%s%sany other country code", buf,
				 buf[0] ? ", " : "");
			octo_cli_row(out, label, more, NULL);
			continue;
		}
		octo_cli_row(out, label, buf[0] ? buf : "-", NULL);
	}
	octo_obj_unref(c);
	return OCTO_CLI_OK;
}

static void num_acl_classes(const bool *set, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < OCTO_NUM_CLASSES && off < size; i++) {
		int w;

		if (!set[i])
			continue;
		w = snprintf(buf + off, size - off, "%s%s", off ? "," : "", num_class_names[i]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (!buf[0])
		octo_strlcpy(buf, "-", size);
}

static int num_cli_show_acl(struct octo_cli_out *out, int argc, char **argv)
{
	struct num_conf *c;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	c = num_get();
	if (!c) {
		octo_cli_error(out, "Numbering is not configured (no %s).", NUM_FILE);
		return OCTO_CLI_FAIL;
	}
	octo_cli_columns(out, "group", "allows", "denies", "defined at", "description", NULL);
	for (size_t i = 0; i < c->nacls; i++) {
		const struct num_acl *a = c->acls[i];
		bool allowed[OCTO_NUM_CLASSES];
		char al[128], de[128], at[128];

		for (int k = 0; k < OCTO_NUM_CLASSES; k++)
			allowed[k] = a->allow[k] && !a->deny[k];
		num_acl_classes(allowed, al, sizeof(al));
		num_acl_classes(a->deny, de, sizeof(de));
		snprintf(at, sizeof(at), "%s:%d", a->file, a->line);
		octo_cli_row(out, a->name, al, de, at, a->description, NULL);
	}
	octo_cli_kv(out, "acl default", "%s", c->acl_default[0] ? c->acl_default : "(none)");
	octo_cli_kv(out, "note", "emergency numbers are always allowed");
	octo_obj_unref(c);
	return OCTO_CLI_OK;
}

static int num_cli_test(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_acl_verdict v;
	const char *user = NULL, *group = NULL;
	struct num_conf *c;
	char buf[OCTO_NUM_MAX];
	int rc;

	if (argc != 3 && argc != 4)
		return OCTO_CLI_USAGE;
	if (argc == 4) {
		if (!strncmp(argv[3], "acl-", 4))
			group = argv[3] + 4;
		else
			user = argv[3];
	}
	c = num_get();
	if (!c) {
		octo_cli_error(out, "Numbering is not configured (no %s).", NUM_FILE);
		return OCTO_CLI_FAIL;
	}
	if (group && !num_acl_find(c, group)) {
		octo_cli_error(out, "No ACL group [acl-%.64s] in %s (see numbering show acl).",
			       group, NUM_FILE);
		octo_obj_unref(c);
		return OCTO_CLI_FAIL;
	}
	if (user) {
		const struct octo_users_api *users =
			octo_service_get(OCTO_USERS_SERVICE, 1, NUM_HOLDER);
		struct octo_user *u = users && num_all_digits(user, 1, 20) ? users->find(user)
									   : NULL;

		octo_obj_unref(u);
		octo_service_put(users, NUM_HOLDER);
		if (!u) {
			octo_cli_error(out, "No user %.64s%s.", user,
				       users ? "" : " (res_users is not loaded)");
			octo_obj_unref(c);
			return OCTO_CLI_FAIL;
		}
	}
	rc = num_do_acl(c, user, group, argv[2], OCTO_NUM_DIALED, &v);
	if (rc == OCTO_EINVAL) {
		octo_cli_error(out, "\"%.64s\": %s.", argv[2], v.num.why);
		octo_obj_unref(c);
		return OCTO_CLI_FAIL;
	}
	octo_cli_kv(out, "number", "%s", argv[2]);
	octo_cli_kv(out, "as dialled", "%s", v.num.number);
	octo_cli_kv(out, "normalized", "%s%s", v.num.e164, v.num.normalized ? "" : " (kept)");
	octo_cli_kv(out, "class", "%s", num_class_name(v.num.cls));
	octo_cli_kv(out, "why", "%s", v.num.why);
	if (v.num.normalized) {
		for (int f = OCTO_NUM_FMT_INTERNATIONAL; f <= OCTO_NUM_FMT_SIGNIFICANT; f++) {
			char key[32];

			snprintf(key, sizeof(key), "%s format", num_format_names[f]);
			if (num_write(c, &v.num, (enum octo_num_format)f, buf, sizeof(buf)) == 0)
				octo_cli_kv(out, key, "%s", buf);
		}
	}
	if (user)
		octo_cli_kv(out, "user", "%s", user);
	octo_cli_kv(out, "acl group", "%s%s%s%s", v.group[0] ? v.group : "(none)",
		    v.source[0] ? " (" : "", v.source, v.source[0] ? ")" : "");
	octo_cli_kv(out, "acl", "%s: %s", v.allowed ? "allowed" : "denied", v.why);
	octo_obj_unref(c);
	return OCTO_CLI_OK;
}

static void num_complete_test(struct octo_cli_completion *cc, int pos, const char *partial)
{
	size_t len = partial ? strlen(partial) : 0;
	struct num_conf *c;

	if (pos != 1)
		return;
	c = num_get();
	for (size_t i = 0; c && i < c->nacls; i++) {
		char name[NUM_NAME_MAX + 8];

		snprintf(name, sizeof(name), "acl-%s", c->acls[i]->name);
		if (!len || !strncmp(name, partial, len))
			octo_cli_complete_add(cc, name);
	}
	octo_obj_unref(c);
}

static const struct octo_cli_cmd num_cli[] = {
	{ "numbering show", "Numbering settings and the call classes of the country",
	  "numbering show", num_cli_show, NULL },
	{ "numbering show acl", "The ACL groups of features.conf", "numbering show acl",
	  num_cli_show_acl, NULL },
	{ "numbering test", "Normalize and classify a number, and check an ACL",
	  "numbering test <number> [<user>|acl-<group>]", num_cli_test, num_complete_test },
	{ 0 }
};

/* ---------------------------------------------------------------- module */

static void num_log_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

/* Warns about users whose acl_group has no [acl-NAME] (when res_users runs). */
static void num_check_users(const struct num_conf *c, struct octo_diags *diags)
{
	const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, NUM_HOLDER);
	struct octo_user **list = NULL;
	size_t n;

	if (!users)
		return;
	n = users->list(&list);
	for (size_t i = 0; i < n; i++) {
		const struct octo_user *u = list[i];

		if (u->acl_group && *u->acl_group && !num_acl_find(c, u->acl_group))
			octo_diags_add(diags, OCTO_DIAG_WARNING, NUM_FILE, 0,
				       "user %s has acl_group \"%s\" (users.conf), but there is no "
				       "[acl-%s]: the user can call emergency numbers only",
				       u->extension, u->acl_group, u->acl_group);
	}
	if (list)
		users->list_free(list, n);
	octo_service_put(users, NUM_HOLDER);
}

static int num_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct num_conf *c;

	if (!num_file_exists(octo_paths.config_dir)) {
		octo_log(OCTO_NOTICE, "no %s in %s: numbering plans and ACLs are off", NUM_FILE,
			 octo_paths.config_dir ? octo_paths.config_dir : ".");
		return OCTO_LOAD_DECLINE;
	}
	c = num_build(octo_paths.config_dir, &diags);
	if (c)
		num_check_users(c, &diags);
	num_log_diags(&diags);
	if (!c) {
		octo_log(OCTO_ERROR, "%s has %zu error%s: numbering not loaded", NUM_FILE,
			 diags.errors, diags.errors == 1 ? "" : "s");
		octo_diags_free(&diags);
		return OCTO_LOAD_FAIL;
	}
	octo_diags_free(&diags);
	num_install(c);
	if (octo_service_register(self, &num_service) || octo_app_register_all(self, num_apps) ||
	    octo_func_register_all(self, num_funcs) || octo_cli_register_all(self, num_cli)) {
		num_install(NULL);
		return OCTO_LOAD_FAIL;
	}
	return OCTO_LOAD_OK;
}

static int num_unload(struct octo_module *self)
{
	num_install(NULL);
	return 0;
}

static int num_reload(struct octo_module *self, struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct num_conf *c = num_build(octo_paths.config_dir, diags);

	if (!c) {
		octo_log(OCTO_WARNING,
			 "%s: reload refused (%zu error%s): the running numbering stays", NUM_FILE,
			 diags->errors - errors, diags->errors - errors == 1 ? "" : "s");
		return OCTO_ECONFIG;
	}
	num_check_users(c, diags);
	num_install(c);
	return 0;
}

static int num_check(const char *config_dir, struct octo_diags *diags)
{
	struct num_conf *c;

	if (!num_file_exists(config_dir))
		return 0;
	c = num_build(config_dir, diags);
	if (!c)
		return OCTO_ECONFIG;
	octo_obj_unref(c);
	return 0;
}

OCTO_MODULE(app_numbering,
	    .description = "Numbering plans, call classes and ACLs (features.conf): NORMALIZE, "
			   "FORMAT, CALLCLASS, NormalizeCaller, CheckACL",
	    .load = num_load, .unload = num_unload, .reload = num_reload, .check = num_check,
	    .optional = "res_users");
