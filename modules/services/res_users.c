/*
 * res_users.c - the users of the PBX, read from users.conf (one section per
 * user, named by its extension), offered to other modules as the service
 * "users" version 1 (include/octo/users.h), with the CLI:
 *
 *   user show [<extension>]          the users, or all about one user
 *   user passwd generate <extension> a strong SIP password and its config line
 *   user set <extension> ...         call features changed at run time
 *   user clear <extension> [<key>]   back to users.conf
 *   core show licenses               license profiles assigned and bought
 *
 * License counts bought come from octo.conf [licenses] (`UC-Essential = 10`).
 * Assigning more than was bought is allowed -- the users keep working -- and
 * reported as a warning in the log and in `core show licenses`.
 *
 * DESIGN
 *  - A user is an immutable refcounted object: one allocation holding the
 *    public struct octo_user followed by all its strings, with no destructor,
 *    so the core alone frees it and a reference held elsewhere (chan_sip)
 *    never needs this module's code.
 *  - All users form a snapshot (struct users_set: a container by extension,
 *    an array sorted by extension, license counts). Load and reload build a
 *    complete new set from the files; only a set without a single error is
 *    swapped in, under users_lock (a rwlock guarding only the pointer);
 *    readers take what they need (a user reference, or the set) under the
 *    read lock and work without it.
 *  - Call features a user changes at run time (feature codes, `user set`)
 *    are overrides kept in the store and in memory (users_ovs); find() and
 *    list() hand out a merged snapshot built per call (the users.conf one
 *    when the user has none), so callers see one consistent view.
 *  - Reload and check share one builder; check (octo -t) runs without the
 *    dialplan, so only the running daemon warns about unknown procedures.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/pattern.h"
#include "octo/registry.h"
#include "octo/store.h"
#include "octo/users.h"

#define USERS_FILE "users.conf"
#define USERS_EXT_MAX 20  /* digits of an extension */
#define USERS_NAME_MAX 64 /* procedure, ACL group */
#define USERS_FWD_MAX 32  /* digits of a forward destination */
#define USERS_PASSWORD_MIN 8
#define USERS_GEN_LEN 20     /* characters of a generated password */
#define USERS_DEVICES_MAX 64 /* devices listed per technology */
#define USERS_LICENSE_MAX 1000000

/* What octo_cfg_bind fills from one section. */
struct users_cfg {
	char *name;
	char *email;
	char *mobile;
	char *secret;
	char *procedure;
	char *language;
	int license;
	char *acl_group;
	char *voicemail_pin;
	char *codecs;
	unsigned max_contacts;
	bool dnd;
	bool reject_anonymous;
	struct octo_cfg_list reject;
	char *forward_all;
	char *forward_busy;
	char *forward_noanswer;
	bool call_waiting;
	unsigned call_timeout;
	bool weak_password_ok;
	bool missed_call_email;
	char *moh_class;
	const char *status; /* not an option: set for merged snapshots (overrides) */
};

/* One user: the public part first, so a struct octo_user pointer is the
 * object pointer. The strings and the reject array follow in the same
 * allocation. */
struct users_user {
	struct octo_user pub;
	const char *file; /* where the section starts */
	int line;
	bool weak_password; /* weak, accepted by weak_password_ok */
};

/* A snapshot of every user. */
struct users_set {
	struct octo_container *by_ext;
	struct users_user **sorted;
	size_t count;
	unsigned assigned[OCTO_LIC_COUNT];
	unsigned bought[OCTO_LIC_COUNT];
	bool counted; /* octo.conf has a [licenses] section */
	unsigned default_timeout; /* features.conf [general] internal_call_timeout */
};

static pthread_rwlock_t users_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct users_set *users_current; /* guarded by users_lock */

/* ---------------------------------------------------------------- value checks */
static bool users_all_digits(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (s[n] < '0' || s[n] > '9')
			return false;
	return n > 0 && n <= max;
}

static bool users_is_name(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return n > 0 && n <= max;
}

static const char *users_set_str(void *field, const char *value, bool ok, const char *err)
{
	char **p = field;

	if (!ok)
		return err;
	free(*p);
	*p = octo_strdup(value);
	return NULL;
}

static void users_free_str(void *field)
{
	char **p = field;

	free(*p);
	*p = NULL;
}

static const char *users_set_email(void *field, const char *value)
{
	const char *at = strchr(value, '@');
	bool ok = at && at != value && at[1] && !strchr(at + 1, '@') && strchr(at + 1, '.') &&
		  strlen(value) <= 254;

	for (const char *s = value; ok && *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '<' || *s == '>' || *s == ',')
			ok = false;
	return users_set_str(field, value, ok, "is not an e-mail address (like alice@example.com)");
}

static const char *users_set_phone(void *field, const char *value)
{
	return users_set_str(field, value, users_all_digits(value + (value[0] == '+'), 20),
			     "is not a phone number (digits, optionally starting with +)");
}

static const char *users_set_name(void *field, const char *value)
{
	return users_set_str(field, value, users_is_name(value, USERS_NAME_MAX),
			     "is not a valid name (letters, digits, '_', '-' and '.')");
}

/* A class of musiconhold.conf, as sip.conf's moh_class takes it. */
static const char *users_set_moh_class(void *field, const char *value)
{
	return users_set_str(field, value, users_is_name(value, 63) && !strchr(value, '.'),
			     "is not a music-on-hold class name (letters, digits, '_' and '-')");
}

static const char *users_set_language(void *field, const char *value)
{
	return users_set_str(field, value, users_is_name(value, 16),
			     "is not a language code (like en, it, pt_BR)");
}

static const char *users_set_pin(void *field, const char *value)
{
	size_t n = strlen(value);

	return users_set_str(field, value, users_all_digits(value, 16) && n >= 4,
			     "is not a PIN (4 to 16 digits)");
}

static const char *users_set_forward(void *field, const char *value)
{
	char **p = field;
	const char *s = value + (value[0] == '+');
	size_t n = 0;

	if (!strcasecmp(value, "VOICEMAIL")) {
		free(*p);
		*p = octo_strdup("VOICEMAIL");
		return NULL;
	}
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || s[n] == '*' || s[n] == '#'))
			return "is not a number or VOICEMAIL";
	return users_set_str(field, value, n > 0 && n <= USERS_FWD_MAX,
			     "is not a number or VOICEMAIL");
}

/* "PCMA, PCMU" -> "PCMA,PCMU". */
static const char *users_set_codecs(void *field, const char *value)
{
	char **p = field, *out = octo_strdup(value), *o = out;
	const char *s = value;

	while (*s) {
		const char *start, *end;

		while (*s == ' ' || *s == '\t')
			s++;
		start = s;
		while (*s && *s != ',')
			s++;
		end = s;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end == start) {
			free(out);
			return "is not a list of codec names (like PCMA,PCMU)";
		}
		for (const char *c = start; c < end; c++) {
			if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '_')) {
				free(out);
				return "is not a list of codec names (like PCMA,PCMU)";
			}
		}
		if (o != out)
			*o++ = ',';
		memcpy(o, start, (size_t)(end - start));
		o += end - start;
		if (*s == ',')
			s++;
	}
	*o = '\0';
	if (o == out) {
		free(out);
		return "is not a list of codec names (like PCMA,PCMU)";
	}
	free(*p);
	*p = out;
	return NULL;
}

/* ---------------------------------------------------------------- the option table */
static const char *users_lic_values[OCTO_LIC_COUNT + 1];
static pthread_once_t users_lic_once = PTHREAD_ONCE_INIT;

static void users_lic_init(void)
{
	for (int i = 0; i < OCTO_LIC_COUNT; i++)
		users_lic_values[i] = octo_license_name((enum octo_license)i);
	users_lic_values[OCTO_LIC_COUNT] = NULL;
}

#define USERS_CUSTOM(k, f, d, setter)                                                              \
	OCTO_CFG_CUSTOM(k, struct users_cfg, f, d, setter, users_free_str)

static const struct octo_cfg_opt users_opts[] = {
	OCTO_CFG_STR("name", struct users_cfg, name, NULL, 0),
	USERS_CUSTOM("email", email, NULL, users_set_email),
	USERS_CUSTOM("mobile", mobile, NULL, users_set_phone),
	OCTO_CFG_STR("secret", struct users_cfg, secret, NULL, 0),
	USERS_CUSTOM("procedure", procedure, "users", users_set_name),
	USERS_CUSTOM("language", language, NULL, users_set_language),
	OCTO_CFG_ENUM("license", struct users_cfg, license, "PBX-BASIC", users_lic_values),
	USERS_CUSTOM("acl_group", acl_group, NULL, users_set_name),
	USERS_CUSTOM("voicemail_pin", voicemail_pin, NULL, users_set_pin),
	USERS_CUSTOM("codecs", codecs, NULL, users_set_codecs),
	OCTO_CFG_UINT("max_contacts", struct users_cfg, max_contacts, "5", 1, 50),
	OCTO_CFG_BOOL("dnd", struct users_cfg, dnd, "no"),
	OCTO_CFG_BOOL("reject_anonymous", struct users_cfg, reject_anonymous, "no"),
	OCTO_CFG_LIST("reject", struct users_cfg, reject, NULL, OCTO_CFG_MULTI),
	USERS_CUSTOM("forward_all", forward_all, NULL, users_set_forward),
	USERS_CUSTOM("forward_busy", forward_busy, NULL, users_set_forward),
	USERS_CUSTOM("forward_noanswer", forward_noanswer, NULL, users_set_forward),
	OCTO_CFG_BOOL("call_waiting", struct users_cfg, call_waiting, "yes"),
	OCTO_CFG_DURATION("call_timeout", struct users_cfg, call_timeout, "30", 5, 3600),
	OCTO_CFG_BOOL("weak_password_ok", struct users_cfg, weak_password_ok, "no"),
	OCTO_CFG_BOOL("missed_call_email", struct users_cfg, missed_call_email, "no"),
	USERS_CUSTOM("moh_class", moh_class, NULL, users_set_moh_class),
	OCTO_CFG_END
};

/* ---------------------------------------------------------------- building a user */
struct users_arena {
	char *p;
};

static const char *users_put(struct users_arena *a, const char *s)
{
	const char *at = a->p;
	size_t n = strlen(s ? s : "") + 1;

	memcpy(a->p, s ? s : "", n);
	a->p += n;
	return at;
}

static size_t users_len(const char *s)
{
	return (s ? strlen(s) : 0) + 1;
}

/* One allocation with everything; NULL on out of memory. */
static struct users_user *users_user_new(const char *ext, const struct users_cfg *c,
					 const char *file, int line, bool weak)
{
	const char *status = c->status ? c->status : c->dnd ? "dnd" : "available";
	const char *strs[] = { ext,
			       c->name,
			       c->email,
			       c->mobile,
			       c->secret,
			       c->procedure,
			       c->language,
			       c->acl_group,
			       c->voicemail_pin,
			       c->codecs,
			       c->forward_all,
			       c->forward_busy,
			       c->forward_noanswer,
			       status,
			       c->moh_class,
			       file };
	size_t size = sizeof(struct users_user) + c->reject.count * sizeof(char *);
	struct users_arena a;
	struct users_user *u;
	struct octo_user *p;
	char **items;

	for (size_t i = 0; i < OCTO_ARRAY_LEN(strs); i++)
		size += users_len(strs[i]);
	for (size_t i = 0; i < c->reject.count; i++)
		size += users_len(c->reject.items[i]);
	u = octo_obj_alloc(size, NULL);
	if (!u)
		return NULL;
	items = (char **)(u + 1);
	a.p = (char *)(items + c->reject.count);
	p = &u->pub;
	p->extension = users_put(&a, ext);
	p->name = users_put(&a, c->name);
	p->email = users_put(&a, c->email);
	p->mobile = users_put(&a, c->mobile);
	p->secret = users_put(&a, c->secret);
	p->procedure = users_put(&a, c->procedure);
	p->language = users_put(&a, c->language);
	p->license = (enum octo_license)c->license;
	p->acl_group = users_put(&a, c->acl_group);
	p->voicemail_pin = users_put(&a, c->voicemail_pin);
	p->codecs = users_put(&a, c->codecs);
	p->max_contacts = c->max_contacts;
	p->dnd = c->dnd;
	p->reject_anonymous = c->reject_anonymous;
	for (size_t i = 0; i < c->reject.count; i++)
		items[i] = (char *)users_put(&a, c->reject.items[i]);
	p->reject.items = c->reject.count ? items : NULL;
	p->reject.count = c->reject.count;
	p->forward_all = users_put(&a, c->forward_all);
	p->forward_busy = users_put(&a, c->forward_busy);
	p->forward_noanswer = users_put(&a, c->forward_noanswer);
	p->call_waiting = c->call_waiting;
	p->call_timeout = c->call_timeout;
	p->missed_call_email = c->missed_call_email;
	p->status = users_put(&a, status);
	p->moh_class = users_put(&a, c->moh_class);
	p->overridden = c->status != NULL;
	u->file = users_put(&a, file);
	u->line = line;
	u->weak_password = weak;
	return u;
}

/* What is missing from a password, as "only 5 characters, no digit"; empty
 * when it is strong. */
static void users_weakness(const char *pw, char *buf, size_t size)
{
	bool upper = false, lower = false, digit = false, special = false;
	size_t len = 0, off = 0;
	const char *miss[5];
	char lenbuf[48];
	int n = 0;

	for (const unsigned char *s = (const unsigned char *)pw; *s; s++) {
		/* Count characters, not the bytes of UTF-8 sequences. */
		if ((*s & 0xC0) != 0x80)
			len++;
		if (*s >= 'A' && *s <= 'Z')
			upper = true;
		else if (*s >= 'a' && *s <= 'z')
			lower = true;
		else if (*s >= '0' && *s <= '9')
			digit = true;
		else
			special = true;
	}
	if (len < USERS_PASSWORD_MIN) {
		snprintf(lenbuf, sizeof(lenbuf), "only %zu character%s", len, len == 1 ? "" : "s");
		miss[n++] = lenbuf;
	}
	if (!upper)
		miss[n++] = "no upper-case letter";
	if (!lower)
		miss[n++] = "no lower-case letter";
	if (!digit)
		miss[n++] = "no digit";
	if (!special)
		miss[n++] = "no special character";
	buf[0] = '\0';
	for (int i = 0; i < n && off < size; i++) {
		int w = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", miss[i]);

		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* Checks each item of every `reject` line of the section. */
static void users_check_reject(const struct octo_cfg_section *sec, struct octo_diags *diags)
{
	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
		const char *s;

		if (strcmp(v->name, "reject"))
			continue;
		for (s = v->value; *s;) {
			char item[128];
			const char *start, *end, *err = NULL;
			struct octo_pattern *pat;
			size_t n;

			while (*s == ' ' || *s == '\t')
				s++;
			start = s;
			while (*s && *s != ',')
				s++;
			end = s;
			if (*s == ',')
				s++;
			while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			n = (size_t)(end - start);
			if (!n)
				continue;
			if (n >= sizeof(item)) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "[%s] reject: an item is too long (at most %zu "
					       "characters)",
					       sec->name, sizeof(item) - 1);
				continue;
			}
			memcpy(item, start, n);
			item[n] = '\0';
			pat = strcmp(item, "default") ? octo_pattern_compile(item, &err) : NULL;
			if (!pat)
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "[%s] reject: \"%s\" is not a number or pattern%s%s",
					       sec->name, item, err ? ": " : "", err ? err : "");
			octo_pattern_free(pat);
		}
	}
}

/* True when the section or one of its templates sets `key`. */
static bool users_has_key(const struct octo_cfg_section *sec, const char *key)
{
	return octo_cfg_var_find(sec, key) != NULL;
}

/* features.conf [general] internal_call_timeout: the call_timeout of users
 * whose section does not set one (app_features checks and documents it). */
static unsigned users_internal_timeout(const char *config_dir)
{
	struct octo_diags diags = { 0 };
	struct octo_cfg *cfg = octo_cfg_load(config_dir, "features.conf", true, &diags);
	const char *v = cfg ? octo_cfg_value(cfg, "general", "internal_call_timeout") : NULL;
	unsigned long long secs = 30;

	if (v && (octo_cfg_parse_duration(v, false, &secs) || secs < 5 || secs > 3600))
		secs = 30;
	octo_cfg_free(cfg);
	octo_diags_free(&diags);
	return (unsigned)secs;
}

/* Binds and checks one section; adds a user to `set` when it has no error. */
static void users_add_section(struct users_set *set, const struct octo_cfg_section *sec,
			      bool running, struct octo_diags *diags)
{
	struct users_cfg cfg = { 0 };
	size_t errors = diags->errors;
	const struct octo_cfg_var *sv;
	struct users_user *u, *old;
	bool weak = false;
	char why[160];

	if (!users_all_digits(sec->name, USERS_EXT_MAX)) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "[%s] is not a valid extension: a user's section name is its "
			       "extension, 1 to %d digits (like [100])",
			       sec->name, USERS_EXT_MAX);
		return;
	}
	old = octo_container_find(set->by_ext, sec->name);
	if (old) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "[%s] user %s is defined twice (first at %s:%d)", sec->name,
			       sec->name, old->file, old->line);
		octo_obj_unref(old);
		return;
	}
	octo_cfg_bind(sec, users_opts, &cfg, NULL, diags);
	users_check_reject(sec, diags);
	if (!users_has_key(sec, "call_timeout"))
		cfg.call_timeout = set->default_timeout;

	sv = octo_cfg_var_find(sec, "secret");
	if (!cfg.secret || !cfg.secret[0]) {
		octo_diags_add(diags, OCTO_DIAG_WARNING, sv ? sv->file : sec->file,
			       sv ? sv->line : sec->line,
			       "[%s] user %s has no secret: it cannot register (\"user passwd "
			       "generate %s\" makes one)",
			       sec->name, sec->name, sec->name);
	} else {
		users_weakness(cfg.secret, why, sizeof(why));
		if (why[0] && cfg.weak_password_ok) {
			weak = true;
			octo_diags_add(diags, OCTO_DIAG_WARNING, sv->file, sv->line,
				       "[%s] secret: weak SIP password for user %s (%s), accepted "
				       "because weak_password_ok = yes",
				       sec->name, sec->name, why);
		} else if (why[0]) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, sv->file, sv->line,
				       "[%s] secret: weak SIP password for user %s (%s): use at "
				       "least %d characters mixing upper-case and lower-case "
				       "letters, digits and special characters (\"user passwd "
				       "generate %s\" makes one), or set weak_password_ok = yes",
				       sec->name, sec->name, why, USERS_PASSWORD_MIN, sec->name);
		}
	}
	if (diags->errors == errors) {
		const char *fw[] = { cfg.forward_all, cfg.forward_busy, cfg.forward_noanswer };
		const char *fk[] = { "forward_all", "forward_busy", "forward_noanswer" };

		for (size_t i = 0; i < OCTO_ARRAY_LEN(fw); i++) {
			const struct octo_cfg_var *v = octo_cfg_var_find(sec, fk[i]);

			if (fw[i] && !strcmp(fw[i], sec->name) && v)
				octo_diags_add(diags, OCTO_DIAG_WARNING, v->file, v->line,
					       "[%s] %s: user %s forwards to itself", sec->name,
					       fk[i], sec->name);
		}
		if (cfg.missed_call_email && (!cfg.email || !cfg.email[0])) {
			const struct octo_cfg_var *v = octo_cfg_var_find(sec, "missed_call_email");

			octo_diags_add(diags, OCTO_DIAG_WARNING, v ? v->file : sec->file,
				       v ? v->line : sec->line,
				       "[%s] missed_call_email: user %s has no email: no "
				       "missed-call e-mail can be sent",
				       sec->name, sec->name);
		}
		if (running && cfg.procedure && !octo_dialplan_has_procedure(cfg.procedure)) {
			const struct octo_cfg_var *v = octo_cfg_var_find(sec, "procedure");

			octo_diags_add(diags, OCTO_DIAG_WARNING, v ? v->file : sec->file,
				       v ? v->line : sec->line,
				       "[%s] procedure: \"%s\" is not in the dialplan (yet): calls "
				       "of user %s will fail until it is",
				       sec->name, cfg.procedure, sec->name);
		}
		u = users_user_new(sec->name, &cfg, sec->file, sec->line, weak);
		if (!u || octo_container_link(set->by_ext, u)) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "[%s] out of memory", sec->name);
		} else {
			set->assigned[u->pub.license]++;
		}
		octo_obj_unref(u);
	}
	octo_cfg_unbind(users_opts, &cfg);
}

/* ---------------------------------------------------------------- licenses */

/* octo.conf [licenses]: one key per profile with the number bought. Names
 * match without regard to case; a profile not listed counts as 0 bought. */
static void users_read_licenses(const char *config_dir, struct users_set *set,
				struct octo_diags *diags)
{
	struct octo_cfg *cfg = octo_cfg_load(config_dir, "octo.conf", true, diags);
	const struct octo_cfg_section *sec;

	if (!cfg)
		return;
	sec = octo_cfg_section(cfg, "licenses");
	if (sec && !sec->is_template) {
		set->counted = true;
		for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
			unsigned long long n = 0;
			int lic;

			for (lic = 0; lic < OCTO_LIC_COUNT; lic++)
				if (!strcasecmp(v->name, octo_license_name((enum octo_license)lic)))
					break;
			if (lic == OCTO_LIC_COUNT) {
				char names[256];
				size_t off = 0;

				for (int i = 0; i < OCTO_LIC_COUNT && off < sizeof(names); i++)
					off += (size_t)snprintf(
						names + off, sizeof(names) - off, "%s%s",
						i ? ", " : "",
						octo_license_name((enum octo_license)i));
				octo_diags_add(diags, OCTO_DIAG_WARNING, v->file, v->line,
					       "[licenses] unknown license profile \"%s\" "
					       "(profiles: %s)",
					       v->name, names);
				continue;
			}
			if (!users_all_digits(v->value, 7) ||
			    (n = strtoull(v->value, NULL, 10)) > USERS_LICENSE_MAX) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "[licenses] %s: \"%s\" is not a number of licenses "
					       "(0..%d)",
					       v->name, v->value, USERS_LICENSE_MAX);
				continue;
			}
			set->bought[lic] = (unsigned)n;
		}
	}
	octo_cfg_free(cfg);
}

/* Calls fn for each over-assigned profile with its message. */
static void users_over(const struct users_set *set, void (*fn)(const char *msg, void *arg),
		       void *arg)
{
	if (!set->counted)
		return;
	for (int i = 0; i < OCTO_LIC_COUNT; i++) {
		char msg[256];

		if (set->assigned[i] <= set->bought[i])
			continue;
		snprintf(msg, sizeof(msg),
			 "licenses: %u user%s assigned %s but octo.conf "
			 "[licenses] has %u: %u over (the users keep working; buy more or change "
			 "their license)",
			 set->assigned[i], set->assigned[i] == 1 ? "" : "s",
			 octo_license_name((enum octo_license)i), set->bought[i],
			 set->assigned[i] - set->bought[i]);
		fn(msg, arg);
	}
}

static void users_over_log(const char *msg, void *arg)
{
	octo_log(OCTO_WARNING, "%s", msg);
}

static void users_over_diag(const char *msg, void *arg)
{
	octo_diags_add(arg, OCTO_DIAG_WARNING, "octo.conf", 0, "%s", msg);
}

/* ---------------------------------------------------------------- the set */
static const char *users_key(const void *obj)
{
	return ((const struct octo_user *)obj)->extension;
}

/* Extensions sort as numbers: shorter first, then by digits. */
static int users_cmp_ext(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la != lb)
		return la < lb ? -1 : 1;
	return strcmp(a, b);
}

static int users_cmp(const void *a, const void *b)
{
	const struct octo_user *ua = *(void *const *)a, *ub = *(void *const *)b;

	return users_cmp_ext(ua->extension, ub->extension);
}

static void users_set_destroy(void *obj)
{
	struct users_set *set = obj;

	octo_container_snapshot_free((void **)set->sorted, set->count);
	octo_obj_unref(set->by_ext);
}

/*
 * Reads users.conf and octo.conf [licenses] from `config_dir` into a new set.
 * `running`: the daemon runs (the dialplan is there to check procedures).
 * Returns the set, or NULL when there was at least one error (all of them
 * are in `diags`).
 */
static struct users_set *users_build(const char *config_dir, bool running, struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct users_set *set;
	struct octo_cfg *cfg;

	pthread_once(&users_lic_once, users_lic_init);
	set = octo_obj_alloc(sizeof(*set), users_set_destroy);
	if (!set || !(set->by_ext = octo_container_alloc_str(users_key, 0))) {
		octo_obj_unref(set);
		octo_diags_add(diags, OCTO_DIAG_ERROR, USERS_FILE, 0, "out of memory");
		return NULL;
	}
	set->default_timeout = users_internal_timeout(config_dir);
	cfg = octo_cfg_load(config_dir, USERS_FILE, true, diags);
	if (cfg) {
		for (const struct octo_cfg_section *sec = octo_cfg_first(cfg); sec;
		     sec = octo_cfg_next(sec))
			users_add_section(set, sec, running, diags);
		octo_cfg_free(cfg);
	}
	users_read_licenses(config_dir, set, diags);
	if (diags->errors != errors) {
		octo_obj_unref(set);
		return NULL;
	}
	set->sorted =
		(struct users_user **)octo_container_snapshot(set->by_ext, &set->count, users_cmp);
	return set;
}

/* Swaps `set` in (takes the caller's reference) and drops the old one. */
static void users_install(struct users_set *set)
{
	struct users_set *old;

	pthread_rwlock_wrlock(&users_lock);
	old = users_current;
	users_current = set;
	pthread_rwlock_unlock(&users_lock);
	octo_obj_unref(old);
	if (set) {
		octo_verbose(2, "users: %zu user%s", set->count, set->count == 1 ? "" : "s");
		users_over(set, users_over_log, NULL);
	}
}

/* A new reference on the running set, or NULL. */
static struct users_set *users_get_set(void)
{
	struct users_set *set;

	pthread_rwlock_rdlock(&users_lock);
	set = octo_obj_ref(users_current);
	pthread_rwlock_unlock(&users_lock);
	return set;
}

/* ---------------------------------------------------------------- runtime overrides
 * Call features a user changes at run time (feature codes, `user set`). The
 * store (table user_override) is the truth across restarts; a copy in memory
 * (users_ovs, under users_ov_lock) serves find(), which may run on threads
 * that must not wait for the disk. A write goes to the store first, then to
 * the copy, so a failed write changes nothing.
 */
enum users_ov_key {
	OV_STATUS,
	OV_CALL_WAITING,
	OV_FWD_ALL,
	OV_FWD_BUSY,
	OV_FWD_NOANSWER,
	OV_FWD_ALL_TO,
	OV_FWD_BUSY_TO,
	OV_FWD_NOANSWER_TO,
	OV_KEYS
};

static const char *const users_ov_names[OV_KEYS] = {
	"status",       "call_waiting",   "forward_all",	 "forward_busy",
	"forward_noanswer", "forward_all_to", "forward_busy_to", "forward_noanswer_to",
};

#define USERS_BY_MAX 64

/* The overrides of one user. */
struct users_ov {
	struct users_ov *next;
	char ext[USERS_EXT_MAX + 1];
	bool has[OV_KEYS];
	char value[OV_KEYS][USERS_FWD_MAX + 2];
	char by[OV_KEYS][USERS_BY_MAX];
	int64_t when[OV_KEYS]; /* epoch seconds */
};

static const char *const users_ov_schema[] = {
	"CREATE TABLE user_override(ext TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
	"set_by TEXT NOT NULL DEFAULT '', updated INTEGER NOT NULL, PRIMARY KEY(ext, key))",
};

static pthread_mutex_t users_ov_lock = PTHREAD_MUTEX_INITIALIZER;
static struct users_ov *users_ovs; /* guarded by users_ov_lock */
static bool users_ov_ready;        /* the table exists */

static int users_ov_key(const char *key)
{
	for (int i = 0; key && i < OV_KEYS; i++)
		if (!strcmp(users_ov_names[i], key))
			return i;
	return -1;
}

/* Checks and normalises a value into out; false when it is not valid. */
static bool users_ov_value(int key, const char *value, char *out, size_t size)
{
	if (!value)
		return false;
	switch (key) {
	case OV_STATUS:
		if (strcmp(value, "available") && strcmp(value, "dnd") && strcmp(value, "away"))
			return false;
		octo_strlcpy(out, value, size);
		return true;
	case OV_CALL_WAITING:
	case OV_FWD_ALL:
	case OV_FWD_BUSY:
	case OV_FWD_NOANSWER:
		if (!strcasecmp(value, "on") || !strcasecmp(value, "yes"))
			octo_strlcpy(out, "on", size);
		else if (!strcasecmp(value, "off") || !strcasecmp(value, "no"))
			octo_strlcpy(out, "off", size);
		else
			return false;
		return true;
	default: {
		char *tmp = NULL;

		if (users_set_forward(&tmp, value)) {
			free(tmp);
			return false;
		}
		octo_strlcpy(out, tmp, size);
		free(tmp);
		return true;
	}
	}
}

/* Under users_ov_lock. */
static struct users_ov *users_ov_find_locked(const char *ext)
{
	for (struct users_ov *o = users_ovs; o; o = o->next)
		if (!strcmp(o->ext, ext))
			return o;
	return NULL;
}

/* Under users_ov_lock: the entry of ext, made when missing (NULL: no memory). */
static struct users_ov *users_ov_get_locked(const char *ext)
{
	struct users_ov *o = users_ov_find_locked(ext);

	if (o)
		return o;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	octo_strlcpy(o->ext, ext, sizeof(o->ext));
	o->next = users_ovs;
	users_ovs = o;
	return o;
}

static void users_ov_put_locked(const char *ext, int key, const char *value, const char *by,
				int64_t when)
{
	struct users_ov *o = users_ov_get_locked(ext);

	if (!o)
		return;
	o->has[key] = true;
	octo_strlcpy(o->value[key], value, sizeof(o->value[key]));
	octo_strlcpy(o->by[key], by ? by : "", sizeof(o->by[key]));
	o->when[key] = when;
}

static void users_ov_free_all(void)
{
	pthread_mutex_lock(&users_ov_lock);
	while (users_ovs) {
		struct users_ov *o = users_ovs;

		users_ovs = o->next;
		free(o);
	}
	users_ov_ready = false;
	pthread_mutex_unlock(&users_ov_lock);
}

static int users_ov_row(const struct octo_store_row *row, void *data)
{
	const char *ext = octo_store_row_text(row, 0), *key = octo_store_row_text(row, 1);
	const char *value = octo_store_row_text(row, 2), *by = octo_store_row_text(row, 3);
	char norm[USERS_FWD_MAX + 2];
	int k = users_ov_key(key);

	/* rows a newer or hand-edited database holds that we do not know are skipped */
	if (k < 0 || !ext || !users_all_digits(ext, USERS_EXT_MAX) ||
	    !users_ov_value(k, value, norm, sizeof(norm)))
		return 0;
	users_ov_put_locked(ext, k, norm, by, octo_store_row_int(row, 4));
	return 0;
}

/* Creates the table and reads every override (load: main thread). */
static void users_ov_load(void)
{
	if (!octo_store_is_open()) {
		octo_log(OCTO_WARNING, "users: the store is not open: call features set from phones "
			 "(feature codes) will not be kept");
		return;
	}
	if (octo_store_migrate("res_users", users_ov_schema, OCTO_ARRAY_LEN(users_ov_schema)) < 0)
		return;
	pthread_mutex_lock(&users_ov_lock);
	users_ov_ready = true;
	octo_store_query("SELECT ext, key, value, set_by, updated FROM user_override",
			 OCTO_STORE_NOARGS, users_ov_row, NULL);
	pthread_mutex_unlock(&users_ov_lock);
}

static bool users_ov_is_ready(void)
{
	bool ready;

	pthread_mutex_lock(&users_ov_lock);
	ready = users_ov_ready;
	pthread_mutex_unlock(&users_ov_lock);
	return ready;
}

/* A copy of the overrides of ext; false when it has none. */
static bool users_ov_copy(const char *ext, struct users_ov *out)
{
	struct users_ov *o;
	bool found = false;

	pthread_mutex_lock(&users_ov_lock);
	o = users_ov_find_locked(ext);
	for (int i = 0; o && i < OV_KEYS && !found; i++)
		found = o->has[i];
	if (found)
		*out = *o;
	pthread_mutex_unlock(&users_ov_lock);
	return found;
}

/* The forward of one kind as the merged view has it. */
static const char *users_ov_forward(const struct users_ov *o, int on_key, int to_key,
				    const char *conf)
{
	bool on = o->has[on_key] ? !strcmp(o->value[on_key], "on") : *conf != '\0';

	if (!on)
		return "";
	return o->has[to_key] ? o->value[to_key] : conf;
}

/* A new snapshot of `b` with the overrides applied, or a new reference on b
 * itself when it has none (or on out of memory). */
static struct users_user *users_merge(struct users_user *b)
{
	const struct octo_user *p = &b->pub;
	struct users_cfg c = { 0 };
	struct users_user *m;
	struct users_ov o;

	if (!users_ov_copy(p->extension, &o))
		return octo_obj_ref(b);
	c.name = (char *)p->name;
	c.email = (char *)p->email;
	c.mobile = (char *)p->mobile;
	c.secret = (char *)p->secret;
	c.procedure = (char *)p->procedure;
	c.language = (char *)p->language;
	c.license = (int)p->license;
	c.acl_group = (char *)p->acl_group;
	c.voicemail_pin = (char *)p->voicemail_pin;
	c.codecs = (char *)p->codecs;
	c.max_contacts = p->max_contacts;
	c.reject_anonymous = p->reject_anonymous;
	c.reject = p->reject;
	c.call_timeout = p->call_timeout;
	c.missed_call_email = p->missed_call_email;
	c.moh_class = (char *)p->moh_class;
	c.status = o.has[OV_STATUS] ? o.value[OV_STATUS] : p->status;
	c.dnd = o.has[OV_STATUS] ? !strcmp(o.value[OV_STATUS], "dnd") : p->dnd;
	c.call_waiting = o.has[OV_CALL_WAITING] ? !strcmp(o.value[OV_CALL_WAITING], "on")
						: p->call_waiting;
	c.forward_all = (char *)users_ov_forward(&o, OV_FWD_ALL, OV_FWD_ALL_TO, p->forward_all);
	c.forward_busy =
		(char *)users_ov_forward(&o, OV_FWD_BUSY, OV_FWD_BUSY_TO, p->forward_busy);
	c.forward_noanswer = (char *)users_ov_forward(&o, OV_FWD_NOANSWER, OV_FWD_NOANSWER_TO,
						      p->forward_noanswer);
	m = users_user_new(p->extension, &c, b->file, b->line, b->weak_password);
	return m ? m : octo_obj_ref(b);
}

static int users_set_override(const char *ext, const char *key, const char *value, const char *by)
{
	char norm[USERS_FWD_MAX + 2];
	struct users_user *u;
	struct users_set *set;
	int k = users_ov_key(key), rc;
	int64_t now = (int64_t)(octo_wall_us() / 1000000u);

	if (!ext || !users_all_digits(ext, USERS_EXT_MAX) || k < 0 ||
	    !users_ov_value(k, value, norm, sizeof(norm)))
		return OCTO_EINVAL;
	if (by && strlen(by) >= USERS_BY_MAX)
		return OCTO_EINVAL;
	set = users_get_set();
	u = set ? octo_container_find(set->by_ext, ext) : NULL;
	octo_obj_unref(set);
	if (!u)
		return OCTO_ENOTFOUND;
	octo_obj_unref(u);
	if (!users_ov_is_ready())
		return OCTO_EFAIL;
	rc = octo_store_exec("INSERT OR REPLACE INTO user_override(ext, key, value, set_by, updated) "
			     "VALUES(?, ?, ?, ?, ?)",
			     OCTO_STORE_ARGS(OCTO_STORE_T(ext), OCTO_STORE_T(users_ov_names[k]),
					     OCTO_STORE_T(norm), OCTO_STORE_T(by ? by : ""),
					     OCTO_STORE_I(now)));
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&users_ov_lock);
	users_ov_put_locked(ext, k, norm, by, now);
	pthread_mutex_unlock(&users_ov_lock);
	octo_log(OCTO_NOTICE, "user %s: %s = %s (%s)", ext, users_ov_names[k], norm,
		 by && *by ? by : "runtime");
	return 0;
}

static int users_clear_override(const char *ext, const char *key)
{
	struct users_ov *o;
	int k = key ? users_ov_key(key) : -1, rc;
	bool any = false;

	if (!ext || !users_all_digits(ext, USERS_EXT_MAX) || (key && k < 0))
		return OCTO_EINVAL;
	if (!users_ov_is_ready())
		return OCTO_EFAIL;
	if (key)
		rc = octo_store_exec("DELETE FROM user_override WHERE ext = ? AND key = ?",
				     OCTO_STORE_ARGS(OCTO_STORE_T(ext), OCTO_STORE_T(key)));
	else
		rc = octo_store_exec("DELETE FROM user_override WHERE ext = ?",
				     OCTO_STORE_ARGS(OCTO_STORE_T(ext)));
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&users_ov_lock);
	o = users_ov_find_locked(ext);
	for (int i = 0; o && i < OV_KEYS; i++) {
		if (k >= 0 && i != k)
			continue;
		any |= o->has[i];
		o->has[i] = false;
	}
	pthread_mutex_unlock(&users_ov_lock);
	if (any)
		octo_log(OCTO_NOTICE, "user %s: %s back to %s", ext, key ? key : "every override",
			 USERS_FILE);
	return any || rc > 0 ? 0 : OCTO_ENOTFOUND;
}

/* ---------------------------------------------------------------- the service */
static struct octo_user *users_find(const char *extension)
{
	struct users_user *u = NULL, *m;

	if (!extension)
		return NULL;
	pthread_rwlock_rdlock(&users_lock);
	if (users_current)
		u = octo_container_find(users_current->by_ext, extension);
	pthread_rwlock_unlock(&users_lock);
	if (!u)
		return NULL;
	m = users_merge(u);
	octo_obj_unref(u);
	return &m->pub;
}

static size_t users_list(struct octo_user ***out)
{
	struct users_set *set = users_get_set();
	struct octo_user **arr;
	size_t n;

	*out = NULL;
	if (!set)
		return 0;
	n = set->count;
	arr = calloc(n ? n : 1, sizeof(*arr));
	if (!arr) {
		octo_obj_unref(set);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		arr[i] = &users_merge(set->sorted[i])->pub;
	octo_obj_unref(set);
	*out = arr;
	return n;
}

static void users_list_free(struct octo_user **users, size_t count)
{
	for (size_t i = 0; users && i < count; i++)
		octo_obj_unref(users[i]);
	free(users);
}

static const struct octo_users_api users_api = {
	.find = users_find,
	.list = users_list,
	.list_free = users_list_free,
	.set_override = users_set_override,
	.clear_override = users_clear_override,
};

static const struct octo_service users_service = { OCTO_USERS_SERVICE,
						   OCTO_USERS_SERVICE_VERSION, &users_api };

/* ---------------------------------------------------------------- CLI */

/* "dnd, forward all: 200, reject: 2 numbers" -- what differs from the defaults. */
static void users_features(const struct octo_user *u, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
#define USERS_ADD(...)                                                                             \
	do {                                                                                       \
		if (off < size) {                                                                  \
			int w_ = snprintf(buf + off, size - off, "%s", off ? ", " : "");           \
			if (w_ > 0)                                                                \
				off += (size_t)w_;                                                 \
		}                                                                                  \
		if (off < size) {                                                                  \
			int w_ = snprintf(buf + off, size - off, __VA_ARGS__);                     \
			if (w_ > 0)                                                                \
				off += (size_t)w_;                                                 \
		}                                                                                  \
	} while (0)
	if (u->dnd)
		USERS_ADD("dnd");
	else if (!strcmp(u->status, "away"))
		USERS_ADD("away");
	if (u->forward_all[0])
		USERS_ADD("forward all: %s", u->forward_all);
	if (u->forward_busy[0])
		USERS_ADD("forward busy: %s", u->forward_busy);
	if (u->forward_noanswer[0])
		USERS_ADD("forward no answer: %s", u->forward_noanswer);
	if (u->reject.count)
		USERS_ADD("reject: %zu", u->reject.count);
	if (u->reject_anonymous)
		USERS_ADD("reject anonymous");
	if (!u->call_waiting)
		USERS_ADD("no call waiting");
#undef USERS_ADD
	if (!buf[0])
		octo_strlcpy(buf, "-", size);
}

/* "override <key>" lines: what is set at run time, by whom and when; the
 * lines above show the merged values. */
static void users_show_overrides(struct octo_cli_out *out, const char *ext)
{
	struct users_ov o;
	unsigned n = 0;

	if (!users_ov_copy(ext, &o)) {
		octo_cli_kv(out, "overrides", "none (as %s says)", USERS_FILE);
		return;
	}
	for (int i = 0; i < OV_KEYS; i++) {
		char when[32] = "?", key[48];
		time_t t = (time_t)o.when[i];
		struct tm tm;

		if (!o.has[i])
			continue;
		n++;
		if (localtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(key, sizeof(key), "override %s", users_ov_names[i]);
		octo_cli_kv(out, key, "%s (set by %s at %s)", o.value[i],
			    o.by[i][0] ? o.by[i] : "?", when);
	}
	octo_cli_kv(out, "overrides", "%u over %s (\"user clear %s\" goes back to it)", n,
		    USERS_FILE, ext);
}

static int users_cli_report(struct octo_cli_out *out, int rc, const char *ext, const char *what)
{
	switch (rc) {
	case 0:
		return OCTO_CLI_OK;
	case OCTO_ENOTFOUND:
		octo_cli_error(out, "No user %s (see user show).", ext);
		break;
	case OCTO_EINVAL:
		octo_cli_error(out, "\"%s\" is not a valid value.", what);
		break;
	default:
		octo_cli_error(out, "Cannot store it: %s (see the log).", octo_strerror(rc));
		break;
	}
	return OCTO_CLI_FAIL;
}

/* user set <ext> status|dnd|call_waiting|forward ... */
static int users_cli_set(struct octo_cli_out *out, int argc, char **argv)
{
	const char *ext, *what, *val, *key = NULL, *value = NULL;
	struct octo_user *u;
	int rc;

	if (argc < 5 || argc > 6)
		return OCTO_CLI_USAGE;
	ext = argv[2];
	what = argv[3];
	val = argv[4];
	if (!strcmp(what, "forward")) {
		static const char *const kinds[] = { "all", "busy", "noanswer" };
		int kind = -1;

		if (argc != 6)
			return OCTO_CLI_USAGE;
		for (int i = 0; i < 3; i++)
			if (!strcmp(val, kinds[i]))
				kind = i;
		if (kind < 0) {
			octo_cli_error(out, "\"%s\": forward all, busy or noanswer.", val);
			return OCTO_CLI_FAIL;
		}
		val = argv[5];
		if (!strcasecmp(val, "on") || !strcasecmp(val, "off")) {
			rc = users_set_override(ext, users_ov_names[OV_FWD_ALL + kind], val, "cli");
		} else {
			rc = users_set_override(ext, users_ov_names[OV_FWD_ALL_TO + kind], val,
						"cli");
			if (!rc)
				rc = users_set_override(ext, users_ov_names[OV_FWD_ALL + kind],
							"on", "cli");
		}
		if (users_cli_report(out, rc, ext, val))
			return OCTO_CLI_FAIL;
	} else {
		if (argc != 5)
			return OCTO_CLI_USAGE;
		if (!strcmp(what, "dnd")) {
			key = "status";
			value = !strcasecmp(val, "on")    ? "dnd"
				: !strcasecmp(val, "off") ? "available"
							  : "";
		} else if (!strcmp(what, "status") || !strcmp(what, "call_waiting")) {
			key = what;
			value = val;
		} else {
			return OCTO_CLI_USAGE;
		}
		if (users_cli_report(out, users_set_override(ext, key, value, "cli"), ext, val))
			return OCTO_CLI_FAIL;
	}
	u = users_find(ext);
	if (u) {
		octo_cli_kv(out, "extension", "%s", ext);
		octo_cli_kv(out, "status", "%s", u->status);
		octo_cli_kv(out, "call waiting", "%s", u->call_waiting ? "yes" : "no");
		octo_cli_kv(out, "forward all", "%s", u->forward_all[0] ? u->forward_all : "off");
		octo_cli_kv(out, "forward busy", "%s", u->forward_busy[0] ? u->forward_busy : "off");
		octo_cli_kv(out, "forward no answer", "%s",
			    u->forward_noanswer[0] ? u->forward_noanswer : "off");
		octo_obj_unref(u);
	}
	return OCTO_CLI_OK;
}

/* user clear <ext> [<key>] */
static int users_cli_clear(struct octo_cli_out *out, int argc, char **argv)
{
	int rc;

	if (argc < 3 || argc > 4)
		return OCTO_CLI_USAGE;
	rc = users_clear_override(argv[2], argc == 4 ? argv[3] : NULL);
	if (rc == OCTO_ENOTFOUND) {
		octo_cli_printf(out, "User %s had no override%s%s: nothing to clear.", argv[2],
				argc == 4 ? " " : "", argc == 4 ? argv[3] : "");
		return OCTO_CLI_OK;
	}
	if (rc == OCTO_EINVAL) {
		octo_cli_error(out, "\"%s\" is not an extension or an override key (status, "
			       "call_waiting, forward_all, forward_busy, forward_noanswer, "
			       "forward_all_to, forward_busy_to, forward_noanswer_to).",
			       argc == 4 ? argv[3] : argv[2]);
		return OCTO_CLI_FAIL;
	}
	if (rc)
		return users_cli_report(out, rc, argv[2], "");
	octo_cli_printf(out, "User %s: %s back to %s.", argv[2],
			argc == 4 ? argv[3] : "every override", USERS_FILE);
	return OCTO_CLI_OK;
}

static void users_show_one(struct octo_cli_out *out, const struct users_user *uu)
{
	const struct octo_user *u = &uu->pub;
	struct octo_reg_item *items = NULL;
	char(*dests)[OCTO_CHAN_DEST_MAX];
	char feat[512], reject[1024];
	size_t off = 0, n, ndev = 0;

	users_features(u, feat, sizeof(feat));
	reject[0] = '\0';
	for (size_t i = 0; i < u->reject.count && off < sizeof(reject); i++) {
		int w = snprintf(reject + off, sizeof(reject) - off, "%s%s", i ? ", " : "",
				 u->reject.items[i]);

		if (w > 0)
			off += (size_t)w;
	}
	octo_cli_kv(out, "extension", "%s", u->extension);
	octo_cli_kv(out, "name", "%s", u->name);
	octo_cli_kv(out, "email", "%s", u->email);
	octo_cli_kv(out, "mobile", "%s", u->mobile);
	octo_cli_kv(out, "license", "%s", octo_license_name(u->license));
	octo_cli_kv(out, "procedure", "%s", u->procedure);
	octo_cli_kv(out, "language", "%s", u->language[0] ? u->language : "(the PBX default)");
	octo_cli_kv(out, "acl group", "%s", u->acl_group);
	octo_cli_kv(out, "codecs", "%s", u->codecs[0] ? u->codecs : "(the channel's default)");
	octo_cli_kv(out, "max contacts", "%u", u->max_contacts);
	octo_cli_kv(out, "secret", "%s",
		    !u->secret[0]       ? "not set: cannot register"
		    : uu->weak_password ? "set (weak, allowed by weak_password_ok)"
					: "set");
	octo_cli_kv(out, "voicemail pin", "%s", u->voicemail_pin[0] ? "set" : "not set");
	octo_cli_kv(out, "features", "%s", feat);
	octo_cli_kv(out, "dnd", "%s", u->dnd ? "yes" : "no");
	octo_cli_kv(out, "reject", "%s", reject[0] ? reject : "-");
	octo_cli_kv(out, "reject anonymous", "%s", u->reject_anonymous ? "yes" : "no");
	octo_cli_kv(out, "forward all", "%s", u->forward_all[0] ? u->forward_all : "off");
	octo_cli_kv(out, "forward busy", "%s", u->forward_busy[0] ? u->forward_busy : "off");
	octo_cli_kv(out, "forward no answer", "%s",
		    u->forward_noanswer[0] ? u->forward_noanswer : "off");
	octo_cli_kv(out, "call waiting", "%s", u->call_waiting ? "yes" : "no");
	octo_cli_kv(out, "status", "%s", u->status);
	users_show_overrides(out, u->extension);
	octo_cli_kv(out, "call timeout", "%us", u->call_timeout);
	octo_cli_kv(out, "missed call email", "%s", u->missed_call_email ? "yes" : "no");
	octo_cli_kv(out, "music on hold", "%s", u->moh_class[0] ? u->moh_class : "(default)");
	octo_cli_kv(out, "defined at", "%s:%d", uu->file, uu->line);

	/* Devices: what each channel technology can reach for this user now. */
	dests = calloc(USERS_DEVICES_MAX, sizeof(*dests));
	if (!dests) {
		octo_cli_kv(out, "devices", "(out of memory)");
		return;
	}
	n = octo_registry_list(OCTO_REG_CHAN_TECH, &items);
	for (size_t i = 0; i < n; i++) {
		const struct octo_chan_tech *tech = items[i].item;
		int k;

		if (!tech || !tech->devices)
			continue;
		k = tech->devices(u->extension, dests, USERS_DEVICES_MAX);
		if (k > USERS_DEVICES_MAX)
			k = USERS_DEVICES_MAX;
		for (int j = 0; j < k; j++) {
			dests[j][OCTO_CHAN_DEST_MAX - 1] = '\0';
			if (!ndev++)
				octo_cli_columns(out, "technology", "device", NULL);
			octo_cli_row(out, items[i].name, dests[j], NULL);
		}
	}
	octo_registry_list_free(items, n);
	free(dests);
	octo_cli_kv(out, "devices", "%zu", ndev);
}

static int users_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct users_set *set;

	if (argc > 3)
		return OCTO_CLI_USAGE;
	set = users_get_set();
	if (!set) {
		octo_cli_error(out, "No users loaded.");
		return OCTO_CLI_FAIL;
	}
	if (argc == 3) {
		struct users_user *u = octo_container_find(set->by_ext, argv[2]), *m;

		octo_obj_unref(set);
		if (!u) {
			octo_cli_error(out, "No user %s (see user show).", argv[2]);
			return OCTO_CLI_FAIL;
		}
		m = users_merge(u);
		octo_obj_unref(u);
		users_show_one(out, m);
		octo_obj_unref(m);
		return OCTO_CLI_OK;
	}
	octo_cli_columns(out, "extension", "name", "license", "procedure", "features", NULL);
	for (size_t i = 0; i < set->count; i++) {
		struct users_user *m = users_merge(set->sorted[i]);
		const struct octo_user *u = &m->pub;
		char feat[512];

		users_features(u, feat, sizeof(feat));
		octo_cli_row(out, u->extension, u->name, octo_license_name(u->license),
			     u->procedure, feat, NULL);
		octo_obj_unref(m);
	}
	octo_cli_kv(out, "users", "%zu", set->count);
	octo_obj_unref(set);
	return OCTO_CLI_OK;
}

static void users_complete_ext(struct octo_cli_completion *c, int pos, const char *partial)
{
	struct users_set *set;
	size_t len = partial ? strlen(partial) : 0;

	if (pos != 0)
		return;
	set = users_get_set();
	if (!set)
		return;
	for (size_t i = 0; i < set->count; i++)
		if (!len || !strncmp(set->sorted[i]->pub.extension, partial, len))
			octo_cli_complete_add(c, set->sorted[i]->pub.extension);
	octo_obj_unref(set);
}

static int users_cli_licenses(struct octo_cli_out *out, int argc, char **argv)
{
	struct users_set *set;
	unsigned over = 0;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	set = users_get_set();
	if (!set) {
		octo_cli_error(out, "No users loaded.");
		return OCTO_CLI_FAIL;
	}
	octo_cli_columns(out, "profile", "assigned", "bought", "status", NULL);
	for (int i = 0; i < OCTO_LIC_COUNT; i++) {
		char assigned[16], bought[16];
		const char *status = "ok";

		snprintf(assigned, sizeof(assigned), "%u", set->assigned[i]);
		snprintf(bought, sizeof(bought), "%u", set->bought[i]);
		if (!set->counted) {
			octo_strlcpy(bought, "-", sizeof(bought));
			status = "not counted";
		} else if (set->assigned[i] > set->bought[i]) {
			status = "OVER";
			over += set->assigned[i] - set->bought[i];
		}
		octo_cli_row(out, octo_license_name((enum octo_license)i), assigned, bought, status,
			     NULL);
	}
	octo_cli_kv(out, "users", "%zu", set->count);
	if (!set->counted)
		octo_cli_kv(out, "licenses", "not counted: octo.conf has no [licenses] section");
	else if (over)
		octo_cli_kv(out, "licenses",
			    "%u assigned beyond what was bought: the users keep "
			    "working, but buy more or change their license",
			    over);
	else
		octo_cli_kv(out, "licenses", "within what octo.conf [licenses] says was bought");
	octo_obj_unref(set);
	return OCTO_CLI_OK;
}

/* A random password of USERS_GEN_LEN characters with every class in it.
 * The special characters avoid what the config format or a shell would
 * treat specially (; \ # " ' space brackets). Returns false when OpenSSL has
 * no random bytes. */
static bool users_generate(char *out, size_t size)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz"
				       "0123456789"
				       "!@%*+-_.:,~^?/";
	const unsigned n = sizeof(alphabet) - 1;
	/* Bytes at or above this would favour the first characters. */
	const unsigned limit = 256 - 256 % n;
	char why[160];

	if (size < USERS_GEN_LEN + 1)
		return false;
	for (int attempt = 0; attempt < 100; attempt++) {
		size_t len = 0;

		while (len < USERS_GEN_LEN) {
			unsigned char bytes[64];

			if (RAND_bytes(bytes, sizeof(bytes)) != 1)
				return false;
			for (size_t i = 0; i < sizeof(bytes) && len < USERS_GEN_LEN; i++)
				if (bytes[i] < limit)
					out[len++] = alphabet[bytes[i] % n];
		}
		out[len] = '\0';
		users_weakness(out, why, sizeof(why));
		if (!why[0])
			return true;
	}
	return false;
}

static int users_cli_passwd(struct octo_cli_out *out, int argc, char **argv)
{
	char pw[USERS_GEN_LEN + 1];
	const char *ext;
	struct octo_user *u;

	if (argc != 4 || !argv[3])
		return OCTO_CLI_USAGE;
	ext = argv[3];
	if (!users_all_digits(ext, USERS_EXT_MAX)) {
		octo_cli_error(out, "\"%s\" is not an extension (1 to %d digits).", ext,
			       USERS_EXT_MAX);
		return OCTO_CLI_FAIL;
	}
	if (!users_generate(pw, sizeof(pw))) {
		octo_cli_error(out, "Cannot get random bytes from OpenSSL.");
		return OCTO_CLI_FAIL;
	}
	u = users_find(ext);
	octo_cli_kv(out, "extension", "%s", ext);
	octo_cli_kv(out, "password", "%s", pw);
	octo_cli_kv(out, "users.conf", "secret = %s", pw);
	octo_cli_printf(out,
			"Put the line \"secret = %s\" in section [%s] of %s%s, then run "
			"\"module reload res_users\".",
			pw, ext, USERS_FILE,
			u ? u->secret[0] ? " (it replaces the current secret)" : ""
			  : " (there is no such user yet)");
	octo_obj_unref(u);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd users_cli[] = {
	{ "user show", "List the users, or show all about one", "user show [<extension>]",
	  users_cli_show, users_complete_ext },
	{ "user passwd generate", "Make a strong SIP password for a user",
	  "user passwd generate <extension>", users_cli_passwd, users_complete_ext },
	{ "user set", "Change a user's call features at run time (kept in the store)",
	  "user set <extension> status available|dnd|away | dnd on|off | call_waiting on|off | "
	  "forward all|busy|noanswer on|off|<number>",
	  users_cli_set, users_complete_ext },
	{ "user clear", "Drop a user's run-time call features: back to users.conf",
	  "user clear <extension> [<key>]", users_cli_clear, users_complete_ext },
	{ "core show licenses", "License profiles: assigned to users and bought", NULL,
	  users_cli_licenses, NULL },
	{ 0 }
};

/* ---------------------------------------------------------------- module */
static void users_log_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

static int users_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct users_set *set = users_build(octo_paths.config_dir, true, &diags);

	users_log_diags(&diags);
	if (!set) {
		octo_log(OCTO_ERROR, "%s has %zu error%s: no users loaded", USERS_FILE,
			 diags.errors, diags.errors == 1 ? "" : "s");
		octo_diags_free(&diags);
		return OCTO_LOAD_FAIL;
	}
	octo_diags_free(&diags);
	if (octo_service_register(self, &users_service) || octo_cli_register_all(self, users_cli)) {
		octo_obj_unref(set);
		return OCTO_LOAD_FAIL;
	}
	users_install(set);
	users_ov_load();
	return OCTO_LOAD_OK;
}

static int users_unload(struct octo_module *self)
{
	users_install(NULL);
	users_ov_free_all();
	return 0;
}

static int users_reload(struct octo_module *self, struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct users_set *set = users_build(octo_paths.config_dir, true, diags);
	struct users_set *old;

	if (!set) {
		old = users_get_set();
		octo_log(OCTO_WARNING,
			 "%s: reload refused (%zu error%s): the %zu running users "
			 "stay",
			 USERS_FILE, diags->errors - errors, diags->errors - errors == 1 ? "" : "s",
			 old ? old->count : 0);
		octo_obj_unref(old);
		return OCTO_ECONFIG;
	}
	users_install(set);
	return 0;
}

static int users_check(const char *config_dir, struct octo_diags *diags)
{
	struct users_set *set = users_build(config_dir, false, diags);

	if (!set)
		return OCTO_ECONFIG;
	users_over(set, users_over_diag, diags);
	octo_obj_unref(set);
	return 0;
}

/* Resident: OpenSSL keeps global state that must not vanish with a dlclose. */
OCTO_MODULE(res_users, .description = "Users of the PBX (users.conf) and their licenses",
	    .load = users_load, .unload = users_unload, .reload = users_reload,
	    .check = users_check, .flags = OCTO_MOD_RESIDENT);
