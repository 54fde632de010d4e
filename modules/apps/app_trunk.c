/*
 * app_trunk.c - SIP trunks and trunk groups (trunks.conf), DialTrunk and
 * DialTrunkGroup, and `trunk show` for every trunk in the registry (the SIP
 * trunks of this module and the FXO, BRI, PRI and GSM trunks of the gateway
 * modules alike).
 *
 * A SIP trunk is a peer of chan_sip (the "sip" service, include/octo/sip.h)
 * registered as a trunk (include/octo/trunk.h): to a provider with outbound
 * registration, without registration (calls accepted by source address or
 * network), or a peer PBX registering to us (host = dynamic). Incoming calls
 * from it start in its procedure with the caller number normalized to +CC
 * (the "numbering" service); outgoing calls get the number in the format
 * the trunk wants. Busy channels are counted per trunk against
 * max_channels, both ways. The administrator gets an e-mail (the "mail"
 * service, res_smtp) when a trunk's registration state changes. Host and
 * registrar may be DNS names: chan_sip looks them up (off its loop) every
 * dns_refresh seconds; while a name does not resolve the trunk is
 * "Unresolved (reason)" and down, so that a trunk group moves on.
 *
 * DESIGN
 *  - trunks.conf is read into an immutable snapshot (struct tk_set); a
 *    reload builds a complete new one and swaps it in, or keeps the running
 *    one when the file has errors.
 *  - What must outlive a reload -- the busy count and the claims of calls in
 *    progress, the registration state, the registry entry -- lives in one
 *    struct tk_live per SIP trunk name, created once and freed at unload.
 *    A trunk whose SIP settings change is removed from chan_sip and added
 *    again (its calls in progress are then no longer counted); one that
 *    disappears from the file is unregistered and retired.
 *  - Each counted channel is a claim with a number, given to chan_sip as
 *    the line tag ("o12", "i13"): released() and abandon() both remove the
 *    claim, so a channel is never counted free twice.
 *  - tk_lock guards the live trunks; it is never held across a call into
 *    chan_sip (whose callbacks into this module take it on the loop thread).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/bridge.h"
#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/log.h"
#include "octo/mail.h"
#include "octo/module.h"
#include "octo/numbering.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/sip.h"
#include "octo/trunk.h"
#include "../channels/chan_sip/sip_hostname.h"

#define TK_FILE "trunks.conf"
#define TK_HOLDER "app_trunk"
#define TK_NAME_MAX 64
#define TK_GROUP_MAX 16       /* trunks in a group */
#define TK_DEFAULT_TIMEOUT 60 /* seconds DialTrunk rings */
#define TK_NUMBER_MAX 64

enum tk_type { TK_SIP = 0, TK_GROUP };
static const char *const tk_type_names[] = { "sip", "group", NULL };
/* In the order of enum octo_num_format. */
static const char *const tk_fmt_names[] = { "e164",        "international", "national",
					    "significant", "dialed",        NULL };
static const char *const tk_called_names[] = { "ruri", "to", NULL };

/* ---------------------------------------------------------------- config */

struct tk_general_cfg {
	struct octo_cfg_list admin_email;
};

static const struct octo_cfg_opt tk_general_opts[] = {
	OCTO_CFG_LIST("admin_email", struct tk_general_cfg, admin_email, NULL, OCTO_CFG_MULTI),
	OCTO_CFG_END
};

struct tk_sip_cfg {
	int type;
	char *description;
	char *host;
	unsigned port;
	char *transport;
	char *username;
	char *password;
	char *registrar;
	unsigned expiry;
	char *from_domain;
	char *match;
	char *codecs;
	char *callerid;
	int called_from;
	char *procedure;
	unsigned max_channels;
	int number_format;
	bool normalize_caller;
	bool qualify;
	unsigned dns_refresh;
};

static const struct octo_cfg_opt tk_sip_opts[] = {
	OCTO_CFG_ENUM("type", struct tk_sip_cfg, type, "sip", tk_type_names),
	OCTO_CFG_STR("description", struct tk_sip_cfg, description, "", 0),
	OCTO_CFG_STR("host", struct tk_sip_cfg, host, NULL, OCTO_CFG_REQUIRED),
	OCTO_CFG_UINT("port", struct tk_sip_cfg, port, "5060", 1, 65535),
	OCTO_CFG_STR("transport", struct tk_sip_cfg, transport, "udp", 0),
	OCTO_CFG_STR("username", struct tk_sip_cfg, username, "", 0),
	OCTO_CFG_STR("password", struct tk_sip_cfg, password, "", 0),
	OCTO_CFG_STR("registrar", struct tk_sip_cfg, registrar, "", 0),
	OCTO_CFG_DURATION("expiry", struct tk_sip_cfg, expiry, "3600", 10, 86400),
	OCTO_CFG_STR("from_domain", struct tk_sip_cfg, from_domain, "", 0),
	OCTO_CFG_STR("match", struct tk_sip_cfg, match, "", 0),
	OCTO_CFG_STR("codecs", struct tk_sip_cfg, codecs, "PCMA,PCMU", 0),
	OCTO_CFG_STR("callerid", struct tk_sip_cfg, callerid, "", 0),
	OCTO_CFG_ENUM("called_from", struct tk_sip_cfg, called_from, "ruri", tk_called_names),
	OCTO_CFG_STR("procedure", struct tk_sip_cfg, procedure, "main", 0),
	OCTO_CFG_UINT("max_channels", struct tk_sip_cfg, max_channels, "0", 0, 10000),
	OCTO_CFG_ENUM("number_format", struct tk_sip_cfg, number_format, "dialed", tk_fmt_names),
	OCTO_CFG_BOOL("normalize_caller", struct tk_sip_cfg, normalize_caller, "yes"),
	OCTO_CFG_BOOL("qualify", struct tk_sip_cfg, qualify, "no"),
	OCTO_CFG_DURATION("dns_refresh", struct tk_sip_cfg, dns_refresh, "300", 10, 86400),
	OCTO_CFG_END
};

struct tk_group_cfg {
	int type;
	char *description;
	struct octo_cfg_list trunks;
};

static const struct octo_cfg_opt tk_group_opts[] = {
	OCTO_CFG_ENUM("type", struct tk_group_cfg, type, "group", tk_type_names),
	OCTO_CFG_STR("description", struct tk_group_cfg, description, "", 0),
	OCTO_CFG_LIST("trunks", struct tk_group_cfg, trunks, NULL,
		      OCTO_CFG_MULTI | OCTO_CFG_REQUIRED),
	OCTO_CFG_END
};

/* A SIP trunk as configured. */
struct tk_def {
	char name[TK_NAME_MAX];
	struct tk_sip_cfg c; /* bound; unbound with the set */
	bool dynamic;
	char sig[1400]; /* the SIP settings: a change re-adds the peer */
};

struct tk_group {
	char name[TK_NAME_MAX];
	char *description;
	char trunks[TK_GROUP_MAX][TK_NAME_MAX];
	size_t ntrunks;
};

/* trunks.conf: immutable once built. */
struct tk_set {
	struct tk_def *defs;
	size_t ndefs;
	struct tk_group *groups;
	size_t ngroups;
	char **admin; /* admin_email addresses */
	size_t nadmin;
};

/* ---------------------------------------------------------------- live trunks */

struct tk_live {
	struct octo_trunk trunk; /* in the registry while `registered` */
	char name[TK_NAME_MAX];
	/* under tk_lock */
	unsigned busy, max;
	int fmt;
	bool normalize_caller, needs_reg, dynamic, qualify;
	char procedure[64];
	char state[32], reason[128];
	char info[768]; /* `trunk show NAME` lines */
	uint64_t *claims;
	size_t nclaims, cap;
	uint64_t seq;
	char sig[1400];
	bool peer_added, registered, retired;
	bool state_known; /* a state other than the initial one was seen */
	struct tk_live *next;
};

static pthread_mutex_t tk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tk_live *tk_lives;          /* under tk_lock */
static struct tk_set *tk_current;         /* under tk_lock */
static const struct octo_sip_api *tk_sip; /* from load to unload */
static struct octo_module *tk_self;
static pthread_mutex_t tk_reload_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- the set */

static void tk_set_destroy(void *obj)
{
	struct tk_set *set = obj;

	for (size_t i = 0; i < set->ndefs; i++)
		octo_cfg_unbind(tk_sip_opts, &set->defs[i].c);
	for (size_t i = 0; i < set->ngroups; i++)
		free(set->groups[i].description);
	for (size_t i = 0; i < set->nadmin; i++)
		free(set->admin[i]);
	free(set->defs);
	free(set->groups);
	free(set->admin);
}

static bool tk_valid_name(const char *s)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++, n++)
		if (n >= TK_NAME_MAX - 1 || !(isalnum((unsigned char)*s) || strchr("_-.+", *s)))
			return false;
	return true;
}

/* Text that goes into SIP headers: no blanks, quotes, <> or control characters. */
static bool tk_valid_token(const char *s, size_t max)
{
	size_t n = 0;

	for (; *s; s++, n++)
		if (n + 1 >= max || (unsigned char)*s <= ' ' || strchr("\"<>\\", *s) || *s == 0x7f)
			return false;
	return true;
}

static bool tk_is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* An IP address or a DNS host name (sip_hostname.h). */
static bool tk_is_ip_or_name(const char *s)
{
	return tk_is_ip(s) || sip_hostname_valid(s);
}

/* "HOST", "HOST:port", "[IPv6]:port"; HOST an IP address or a DNS name. */
static bool tk_valid_hostport(const char *s)
{
	char host[80];
	const char *colon;

	if (strlen(s) >= sizeof(host))
		return false;
	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (!end || (size_t)(end - s - 1) >= sizeof(host))
			return false;
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] && !colon)
			return false;
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;
		octo_strlcpy(host, s, sizeof(host));
		if (colon)
			host[colon - s] = '\0';
	}
	if (colon) {
		char *end;
		unsigned long port = strtoul(colon + 1, &end, 10);

		if (*end || !port || port > 65535 || end == colon + 1 ||
		    !isdigit((unsigned char)colon[1]))
			return false;
	}
	return *s == '[' ? tk_is_ip(host) : tk_is_ip_or_name(host);
}

static void tk_add_sip(struct tk_set *set, const struct octo_cfg_section *sec,
		       struct octo_diags *diags)
{
	struct tk_def *d = &set->defs[set->ndefs];
	struct tk_sip_cfg *c = &d->c;
	size_t errors = diags->errors;
	char clean[OCTO_CFG_CLEAN];

	memset(d, 0, sizeof(*d));
	if (octo_cfg_bind(sec, tk_sip_opts, c, NULL, diags) != 0) {
		octo_cfg_unbind(tk_sip_opts, c);
		return;
	}
#define TK_ERR(...) octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line, __VA_ARGS__)
	d->dynamic = !strcasecmp(c->host, "dynamic");
	if (!d->dynamic && !tk_is_ip_or_name(c->host))
		TK_ERR("[%s] host \"%s\": an IP address, a host name or dynamic", sec->name,
		       octo_cfg_clean(clean, c->host));
	if (strcasecmp(c->transport, "udp") && strcasecmp(c->transport, "tcp") &&
	    strcasecmp(c->transport, "tls"))
		TK_ERR("[%s] transport \"%s\": udp, tcp or tls", sec->name,
		       octo_cfg_clean(clean, c->transport));
	if (!tk_valid_token(c->username, 64) || !tk_valid_token(c->from_domain, 128) ||
	    !tk_valid_token(c->codecs, 64) || !tk_valid_token(c->callerid, 64) ||
	    strlen(c->password) >= 128)
		TK_ERR("[%s] username, password, from_domain, codecs or callerid is too long or "
		       "holds blanks, quotes or <>",
		       sec->name);
	if (*c->registrar && !tk_valid_hostport(c->registrar))
		TK_ERR("[%s] registrar \"%s\": HOST or HOST:port (an IP address or a host name)",
		       sec->name, octo_cfg_clean(clean, c->registrar));
	if (*c->registrar && (!*c->username || !*c->password))
		TK_ERR("[%s] registrar needs username and password", sec->name);
	if (d->dynamic && (!*c->username || !*c->password))
		TK_ERR("[%s] host = dynamic needs username and password (the peer registers "
		       "with them)",
		       sec->name);
	if (d->dynamic && *c->registrar)
		TK_ERR("[%s] a dynamic trunk registers to us: no registrar", sec->name);
	for (const char *s = c->match; *s; s++)
		if (!(isxdigit((unsigned char)*s) || strchr(".:/, ", *s))) {
			TK_ERR("[%s] match \"%s\": IP addresses or networks (192.0.2.0/24), comma "
			       "separated",
			       sec->name, octo_cfg_clean(clean, c->match));
			break;
		}
	if (!tk_valid_name(c->procedure))
		TK_ERR("[%s] procedure \"%s\" is not a procedure name", sec->name,
		       octo_cfg_clean(clean, c->procedure));
#undef TK_ERR
	if (diags->errors != errors) {
		octo_cfg_unbind(tk_sip_opts, c);
		return;
	}
	octo_strlcpy(d->name, sec->name, sizeof(d->name));
	snprintf(d->sig, sizeof(d->sig), "%s|%u|%s|%s|%s|%s|%u|%s|%s|%s|%s|%d|%d|%u", c->host,
		 c->port, c->transport, c->username, c->password, c->registrar, c->expiry,
		 c->from_domain, c->match, c->codecs, c->callerid, c->called_from, c->qualify,
		 c->dns_refresh);
	set->ndefs++;
}

static void tk_add_group(struct tk_set *set, const struct octo_cfg_section *sec,
			 struct octo_diags *diags)
{
	struct tk_group_cfg c = { 0 };
	struct tk_group *g = &set->groups[set->ngroups];
	char clean[OCTO_CFG_CLEAN];

	if (octo_cfg_bind(sec, tk_group_opts, &c, NULL, diags) != 0) {
		octo_cfg_unbind(tk_group_opts, &c);
		return;
	}
	if (c.trunks.count > TK_GROUP_MAX) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "[%s] more than %d trunks", sec->name, TK_GROUP_MAX);
		octo_cfg_unbind(tk_group_opts, &c);
		return;
	}
	memset(g, 0, sizeof(*g));
	for (size_t i = 0; i < c.trunks.count; i++) {
		if (!tk_valid_name(c.trunks.items[i])) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "[%s] trunks: \"%s\" is not a trunk name", sec->name,
				       octo_cfg_clean(clean, c.trunks.items[i]));
			octo_cfg_unbind(tk_group_opts, &c);
			return;
		}
		octo_strlcpy(g->trunks[g->ntrunks++], c.trunks.items[i], TK_NAME_MAX);
	}
	octo_strlcpy(g->name, sec->name, sizeof(g->name));
	g->description = octo_strdup(c.description);
	set->ngroups++;
	octo_cfg_unbind(tk_group_opts, &c);
}

/* Reads trunks.conf from `dir`: a new set, or NULL with every error in diags. */
static struct tk_set *tk_build(const char *dir, struct octo_diags *diags)
{
	size_t errors = diags->errors, nsec = 0;
	struct octo_cfg *cfg = octo_cfg_load(dir, TK_FILE, true, diags);
	struct tk_set *set = octo_obj_alloc(sizeof(*set), tk_set_destroy);
	char clean[OCTO_CFG_CLEAN];

	if (!set) {
		octo_cfg_free(cfg);
		octo_diags_add(diags, OCTO_DIAG_ERROR, TK_FILE, 0, "out of memory");
		return NULL;
	}
	for (const struct octo_cfg_section *s = cfg ? octo_cfg_first(cfg) : NULL; s;
	     s = octo_cfg_next(s))
		nsec++;
	set->defs = calloc(nsec + 1, sizeof(*set->defs));
	set->groups = calloc(nsec + 1, sizeof(*set->groups));
	if (!set->defs || !set->groups) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, TK_FILE, 0, "out of memory");
		goto done;
	}
	for (const struct octo_cfg_section *sec = cfg ? octo_cfg_first(cfg) : NULL; sec;
	     sec = octo_cfg_next(sec)) {
		const struct octo_cfg_var *type = octo_cfg_var_find(sec, "type");

		if (!strcasecmp(sec->name, "general")) {
			struct tk_general_cfg g = { 0 };

			if (octo_cfg_bind(sec, tk_general_opts, &g, NULL, diags) == 0 &&
			    g.admin_email.count) {
				set->admin = calloc(g.admin_email.count, sizeof(char *));
				for (size_t i = 0; set->admin && i < g.admin_email.count; i++) {
					const char *a = g.admin_email.items[i];

					if (!strchr(a, '@') || strchr(a, ' ') || strlen(a) > 254)
						octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file,
							       sec->line,
							       "[general] admin_email \"%s\" is "
							       "not user@domain",
							       octo_cfg_clean(clean, a));
					else
						set->admin[set->nadmin++] = octo_strdup(a);
				}
			}
			octo_cfg_unbind(tk_general_opts, &g);
			continue;
		}
		if (!tk_valid_name(sec->name)) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "[%s] a trunk name is 1..63 letters, digits, _ - . +",
				       octo_cfg_clean(clean, sec->name));
			continue;
		}
		for (size_t i = 0; i < set->ndefs; i++)
			if (!strcasecmp(set->defs[i].name, sec->name))
				octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
					       "[%s] defined twice", sec->name);
		for (size_t i = 0; i < set->ngroups; i++)
			if (!strcasecmp(set->groups[i].name, sec->name))
				octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
					       "[%s] defined twice", sec->name);
		if (type && !strcasecmp(type->value, "group"))
			tk_add_group(set, sec, diags);
		else if (!type || !strcasecmp(type->value, "sip"))
			tk_add_sip(set, sec, diags);
		else
			octo_diags_add(diags, OCTO_DIAG_ERROR, type->file, type->line,
				       "[%s] type \"%s\": sip or group", sec->name,
				       octo_cfg_clean(clean, type->value));
	}
done:
	octo_cfg_free(cfg);
	if (diags->errors != errors) {
		octo_obj_unref(set);
		return NULL;
	}
	return set;
}

static struct tk_set *tk_get_set(void)
{
	struct tk_set *set;

	pthread_mutex_lock(&tk_lock);
	set = tk_current ? octo_obj_ref(tk_current) : NULL;
	pthread_mutex_unlock(&tk_lock);
	return set;
}

/* ---------------------------------------------------------------- claims (under tk_lock) */

static uint64_t tk_claim_locked(struct tk_live *l)
{
	if (l->nclaims == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		uint64_t *c = realloc(l->claims, cap * sizeof(*c));

		if (!c)
			return 0;
		l->claims = c;
		l->cap = cap;
	}
	l->claims[l->nclaims++] = ++l->seq;
	l->busy++;
	return l->seq;
}

static void tk_unclaim_locked(struct tk_live *l, uint64_t seq)
{
	for (size_t i = 0; i < l->nclaims; i++) {
		if (l->claims[i] == seq) {
			l->claims[i] = l->claims[--l->nclaims];
			if (l->busy)
				l->busy--;
			return;
		}
	}
}

/* The claim number of a line tag "o12" / "i13", or 0. */
static uint64_t tk_line_seq(const char *line)
{
	char *end;
	unsigned long long v;

	if (!line || (line[0] != 'o' && line[0] != 'i') || !isdigit((unsigned char)line[1]))
		return 0;
	v = strtoull(line + 1, &end, 10);
	return *end && *end != '/' ? 0 : (uint64_t)v;
}

/* ---------------------------------------------------------------- state e-mails */

struct tk_mail_job {
	char **to;
	size_t nto;
	char subject[200];
	char body[1024];
};

static void tk_mail_run(void *data)
{
	struct tk_mail_job *j = data;
	const struct octo_mail_api *mail = octo_service_get(OCTO_MAIL_SERVICE, 1, TK_HOLDER);

	if (mail) {
		struct octo_mail m = { .to = (const char *const *)j->to,
				       .to_count = j->nto,
				       .subject = j->subject,
				       .body = j->body,
				       .origin = TK_HOLDER };

		if (mail->send(&m, NULL) != 0)
			octo_log(OCTO_WARNING, "trunk: the state e-mail \"%s\" was not queued",
				 j->subject);
		octo_service_put(mail, TK_HOLDER);
	} else {
		octo_log(OCTO_NOTICE, "trunk: no mail service (res_smtp): \"%s\" not mailed",
			 j->subject);
	}
	for (size_t i = 0; i < j->nto; i++)
		free(j->to[i]);
	free(j->to);
	free(j);
}

/* Queues the state e-mail (on a worker: never on the SIP loop). */
static void tk_mail_state(const char *trunk, const char *state, const char *reason,
			  const char *before)
{
	struct tk_set *set = tk_get_set();
	struct tk_mail_job *j;

	if (!set || !set->nadmin) {
		octo_obj_unref(set);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j)
		j->to = calloc(set->nadmin, sizeof(char *));
	if (!j || !j->to) {
		free(j);
		octo_obj_unref(set);
		return;
	}
	for (size_t i = 0; i < set->nadmin; i++)
		if ((j->to[j->nto] = octo_strdup(set->admin[i])))
			j->nto++;
	octo_obj_unref(set);
	snprintf(j->subject, sizeof(j->subject), "Trunk %s: %s", trunk, state);
	snprintf(j->body, sizeof(j->body),
		 "The trunk %s is now %s%s%s.\n"
		 "Before: %s.\n\n"
		 "octo -rx \"trunk show %s\" shows its state.\n",
		 trunk, state, *reason ? ": " : "", reason, before, trunk);
	if (octo_work_push(tk_mail_run, j) != 0) {
		for (size_t i = 0; i < j->nto; i++)
			free(j->to[i]);
		free(j->to);
		free(j);
	}
}

/* ---------------------------------------------------------------- chan_sip callbacks (loop) */

static void tk_sip_status(void *data, const char *state, const char *reason)
{
	struct tk_live *l = data;
	char before[32], name[TK_NAME_MAX];
	bool mail, transitional;

	/* chan_sip's peer without registration or qualify, its name resolved */
	if (!strcmp(state, "Unmonitored"))
		state = "Up";
	/* a step on the way up (the name resolved, the first REGISTER sent) */
	transitional = !strcmp(state, "Registering") || !strcmp(state, "Resolving") ||
		       !strcmp(state, "Unknown") || !strcmp(state, "Up");
	pthread_mutex_lock(&tk_lock);
	octo_strlcpy(before, l->state, sizeof(before));
	octo_strlcpy(name, l->name, sizeof(name));
	/* "Registered" after the first start is no news; every later change is */
	mail = strcmp(before, state) && !transitional &&
	       (l->state_known || strcmp(state, "Registered")) && strcmp(state, "Reachable");
	if (!strcmp(state, "Reachable") && !strcmp(before, "Unreachable"))
		mail = true;
	if (!transitional)
		l->state_known = true;
	octo_strlcpy(l->state, state, sizeof(l->state));
	octo_strlcpy(l->reason, reason, sizeof(l->reason));
	pthread_mutex_unlock(&tk_lock);
	if (mail) {
		octo_log(strcmp(state, "Registered") && strcmp(state, "Reachable") ? OCTO_WARNING
										   : OCTO_NOTICE,
			 "trunk %s: %s%s%s (was %s)", name, state, *reason ? ": " : "", reason,
			 before);
		tk_mail_state(name, state, reason, before);
	}
}

static void tk_sip_incoming(void *data, const struct octo_sip_incoming *in,
			    struct octo_sip_route *route)
{
	struct tk_live *l = data;
	const struct octo_numbering_api *num;
	uint64_t seq = 0;
	bool full;
	bool norm;

	pthread_mutex_lock(&tk_lock);
	full = l->max && l->busy >= l->max;
	if (!full)
		seq = tk_claim_locked(l);
	octo_strlcpy(route->procedure, l->procedure, sizeof(route->procedure));
	norm = l->normalize_caller;
	pthread_mutex_unlock(&tk_lock);
	if (full || !seq) {
		octo_log(OCTO_NOTICE,
			 "trunk %s: incoming call for %s refused: all %u channels busy", l->name,
			 in->called, l->max);
		route->status = 503;
		return;
	}
	snprintf(route->line, sizeof(route->line), "i%llu", (unsigned long long)seq);
	octo_strlcpy(route->trunk, l->name, sizeof(route->trunk));
	num = norm && *in->caller ? octo_service_get(OCTO_NUMBERING_SERVICE, 1, TK_HOLDER) : NULL;
	if (num) {
		char canon[OCTO_NUM_MAX];

		if (num->normalize(in->caller, OCTO_NUM_RECEIVED, canon, sizeof(canon)) >= 0 &&
		    *canon)
			octo_strlcpy(route->caller, canon, sizeof(route->caller));
		octo_service_put(num, TK_HOLDER);
	}
}

static void tk_sip_released(void *data, const char *line)
{
	struct tk_live *l = data;
	uint64_t seq = tk_line_seq(line);

	if (!seq)
		return;
	pthread_mutex_lock(&tk_lock);
	tk_unclaim_locked(l, seq);
	pthread_mutex_unlock(&tk_lock);
}

static const struct octo_sip_peer_ops tk_peer_ops = {
	.incoming = tk_sip_incoming,
	.released = tk_sip_released,
	.status = tk_sip_status,
};

/* ---------------------------------------------------------------- the trunk (trunk.h) */

/* Under tk_lock: why the trunk cannot take a call now, or NULL. */
static const char *tk_down_locked(const struct tk_live *l)
{
	if (!l->peer_added)
		return "not known to chan_sip";
	if (!strcmp(l->state, "Resolving") || !strcmp(l->state, "Unresolved"))
		return "host name not resolved";
	if ((l->needs_reg || l->dynamic) && strcmp(l->state, "Registered"))
		return "not registered";
	if (l->qualify && !strcmp(l->state, "Unreachable"))
		return "unreachable";
	return NULL;
}

static int tk_acquire(const struct octo_trunk *t, const char *number, char *tech, size_t tech_size,
		      char *dest, size_t dest_size)
{
	struct tk_live *l = t->data;
	const struct octo_numbering_api *num;
	char formatted[OCTO_NUM_MAX], line[32];
	uint64_t seq;
	int fmt, rc;

	if (!number || !*number || strlen(number) > TK_NUMBER_MAX)
		return OCTO_EINVAL;
	pthread_mutex_lock(&tk_lock);
	if (tk_down_locked(l) || l->retired) {
		pthread_mutex_unlock(&tk_lock);
		return OCTO_TRUNK_DOWN;
	}
	if (l->max && l->busy >= l->max) {
		pthread_mutex_unlock(&tk_lock);
		return OCTO_EBUSY;
	}
	seq = tk_claim_locked(l);
	fmt = l->fmt;
	pthread_mutex_unlock(&tk_lock);
	if (!seq)
		return OCTO_ENOMEM;
	octo_strlcpy(formatted, number, sizeof(formatted));
	if (fmt != OCTO_NUM_FMT_DIALED) {
		num = octo_service_get(OCTO_NUMBERING_SERVICE, 1, TK_HOLDER);
		if (num) {
			if (num->format(number, (enum octo_num_format)fmt, OCTO_NUM_RECEIVED,
					formatted, sizeof(formatted)) < 0 ||
			    !*formatted)
				octo_strlcpy(formatted, number, sizeof(formatted));
			octo_service_put(num, TK_HOLDER);
		}
	}
	snprintf(line, sizeof(line), "o%llu", (unsigned long long)seq);
	rc = tk_sip->peer_dest(l->name, line, formatted, dest, dest_size);
	if (rc) {
		pthread_mutex_lock(&tk_lock);
		tk_unclaim_locked(l, seq);
		pthread_mutex_unlock(&tk_lock);
		return OCTO_EINVAL;
	}
	octo_strlcpy(tech, "SIP", tech_size);
	return 0;
}

static void tk_abandon(const struct octo_trunk *t, const char *dest)
{
	struct tk_live *l = t->data;
	const char *p = dest ? strstr(dest, "@peer/") : NULL;
	uint64_t seq = p ? tk_line_seq(p + 6) : 0;

	if (!seq)
		return;
	pthread_mutex_lock(&tk_lock);
	tk_unclaim_locked(l, seq);
	pthread_mutex_unlock(&tk_lock);
}

static void tk_status(const struct octo_trunk *t, struct octo_trunk_status *st)
{
	struct tk_live *l = t->data;

	memset(st, 0, sizeof(*st));
	octo_strlcpy(st->kind, "sip", sizeof(st->kind));
	pthread_mutex_lock(&tk_lock);
	if (!l->peer_added)
		octo_strlcpy(st->state, "Down (no SIP peer: is chan_sip loaded?)",
			     sizeof(st->state));
	else if (*l->reason && strcmp(l->state, "Registered") && strcmp(l->state, "Reachable")) {
		char text[200];

		snprintf(text, sizeof(text), "%s (%s)", l->state, l->reason);
		octo_strlcpy(st->state, text, sizeof(st->state));
	} else
		octo_strlcpy(st->state, l->state, sizeof(st->state));
	st->busy = l->busy;
	st->capacity = l->max;
	pthread_mutex_unlock(&tk_lock);
}

static void tk_describe(const struct octo_trunk *t, char *buf, size_t size)
{
	struct tk_live *l = t->data;
	size_t n = strlen(buf);

	if (n >= size)
		return;
	pthread_mutex_lock(&tk_lock);
	snprintf(buf + n, size - n, "%sreason: %s\n", l->info, *l->reason ? l->reason : "-");
	pthread_mutex_unlock(&tk_lock);
}

/* ---------------------------------------------------------------- applying a set */

static struct tk_live *tk_live_find_locked(const char *name)
{
	for (struct tk_live *l = tk_lives; l; l = l->next)
		if (!l->retired && !strcasecmp(l->name, name))
			return l;
	return NULL;
}

static void tk_live_info(struct tk_live *l, const struct tk_def *d)
{
	const struct tk_sip_cfg *c = &d->c;

	snprintf(l->info, sizeof(l->info),
		 "host: %s%s%s\n"
		 "registration: %s%s\n"
		 "incoming calls: procedure %s, called number from the %s, caller %s\n"
		 "outgoing number format: %s\n"
		 "caller id: %s\n"
		 "codecs: %s\n"
		 "description: %s\n",
		 d->dynamic ? "dynamic (registers to us as " : c->host,
		 d->dynamic ? c->username : "", d->dynamic ? ")" : "",
		 *c->registrar ? "to " : "none", *c->registrar ? c->registrar : "", c->procedure,
		 c->called_from ? "To header" : "Request-URI",
		 c->normalize_caller ? "normalized to +CC" : "as sent",
		 tk_fmt_names[c->number_format], *c->callerid ? c->callerid : "the caller's number",
		 c->codecs, *c->description ? c->description : "-");
}

static int tk_peer_add(const struct tk_def *d, struct tk_live *l)
{
	const struct tk_sip_cfg *c = &d->c;
	struct octo_sip_peer_cfg pc = {
		.name = d->name,
		.kind = "trunk",
		.host = c->host,
		.port = c->port,
		.transport = c->transport,
		.username = c->username,
		.secret = c->password,
		.match = c->match,
		.registrar = c->registrar,
		.register_expiry = c->expiry,
		.codecs = c->codecs,
		.from_user = c->callerid,
		.from_domain = c->from_domain,
		.called_from_to = c->called_from == 1,
		.qualify = c->qualify,
		.dns_refresh = c->dns_refresh,
	};

	if (!tk_sip)
		return OCTO_ENOTFOUND;
	/* no owner reference: it would pin app_trunk (which holds the sip
	 * service) while chan_sip pins it back; tk_teardown removes the peers */
	return tk_sip->peer_add(NULL, &pc, &tk_peer_ops, l);
}

/* Makes `set` the running one: chan_sip peers and registry entries follow. */
static void tk_apply(struct tk_set *set)
{
	struct tk_set *old;

	/* first: state changes that come while the peers are added need it
	 * (the administrator's address) */
	pthread_mutex_lock(&tk_lock);
	old = tk_current;
	tk_current = octo_obj_ref(set);
	pthread_mutex_unlock(&tk_lock);
	octo_obj_unref(old);
	for (size_t i = 0; i < set->ndefs; i++) {
		const struct tk_def *d = &set->defs[i];
		struct tk_live *l;
		bool readd = false, add;
		int rc;

		pthread_mutex_lock(&tk_lock);
		l = tk_live_find_locked(d->name);
		if (!l && (l = calloc(1, sizeof(*l)))) {
			octo_strlcpy(l->name, d->name, sizeof(l->name));
			l->trunk.name = l->name;
			l->trunk.acquire = tk_acquire;
			l->trunk.status = tk_status;
			l->trunk.describe = tk_describe;
			l->trunk.abandon = tk_abandon;
			l->trunk.data = l;
			l->next = tk_lives;
			tk_lives = l;
		}
		if (!l) {
			pthread_mutex_unlock(&tk_lock);
			octo_log(OCTO_ERROR, "trunk %s: out of memory", d->name);
			continue;
		}
		readd = l->peer_added && strcmp(l->sig, d->sig);
		octo_strlcpy(l->sig, d->sig, sizeof(l->sig));
		l->max = d->c.max_channels;
		l->fmt = d->c.number_format;
		l->normalize_caller = d->c.normalize_caller;
		l->needs_reg = *d->c.registrar != '\0';
		l->dynamic = d->dynamic;
		l->qualify = d->c.qualify;
		octo_strlcpy(l->procedure, d->c.procedure, sizeof(l->procedure));
		tk_live_info(l, d);
		pthread_mutex_unlock(&tk_lock);
		if (readd) {
			tk_sip->peer_remove(d->name);
			pthread_mutex_lock(&tk_lock);
			if (l->nclaims)
				octo_log(OCTO_NOTICE,
					 "trunk %s: SIP settings changed: its %zu "
					 "call(s) in progress are no longer counted",
					 d->name, l->nclaims);
			l->peer_added = false;
			l->nclaims = 0;
			l->busy = 0;
			pthread_mutex_unlock(&tk_lock);
		}
		pthread_mutex_lock(&tk_lock);
		add = !l->peer_added;
		if (add) {
			bool named = !d->dynamic && !tk_is_ip(d->c.host);
			char rh[256];

			/* a registrar's host without its :port */
			octo_strlcpy(rh, d->c.registrar, sizeof(rh));
			if (*rh != '[' && strchr(rh, ':') && !strchr(strchr(rh, ':') + 1, ':'))
				*strchr(rh, ':') = '\0';
			named = named || (*rh && *rh != '[' && !tk_is_ip(rh));
			octo_strlcpy(l->state,
				     named             ? "Resolving"
				     : d->dynamic      ? "Unregistered"
				     : *d->c.registrar ? "Registering"
				     : d->c.qualify    ? "Unknown"
						       : "Up",
				     sizeof(l->state));
			l->reason[0] = '\0';
			l->state_known = false;
		}
		pthread_mutex_unlock(&tk_lock);
		if (add) {
			rc = tk_peer_add(d, l);
			if (rc)
				octo_log(OCTO_ERROR, "trunk %s: cannot add the SIP peer: %s",
					 d->name,
					 rc == OCTO_ENOTFOUND ? "chan_sip is not loaded"
							      : octo_strerror(rc));
			pthread_mutex_lock(&tk_lock);
			l->peer_added = rc == 0;
			pthread_mutex_unlock(&tk_lock);
		}
		if (!l->registered) {
			rc = octo_trunk_register(tk_self, &l->trunk);
			if (rc)
				octo_log(OCTO_ERROR, "trunk %s: cannot be registered: %s", d->name,
					 octo_strerror(rc));
			l->registered = rc == 0;
		}
	}
	/* trunks that are gone from the file */
	for (;;) {
		struct tk_live *gone = NULL;
		bool found;

		pthread_mutex_lock(&tk_lock);
		for (struct tk_live *l = tk_lives; l && !gone; l = l->next) {
			if (l->retired)
				continue;
			found = false;
			for (size_t i = 0; i < set->ndefs && !found; i++)
				found = !strcasecmp(set->defs[i].name, l->name);
			if (!found) {
				gone = l;
				l->retired = true;
			}
		}
		pthread_mutex_unlock(&tk_lock);
		if (!gone)
			break;
		if (gone->peer_added && tk_sip)
			tk_sip->peer_remove(gone->name);
		if (gone->registered)
			octo_trunk_unregister(&gone->trunk);
		gone->registered = false;
		pthread_mutex_lock(&tk_lock);
		gone->peer_added = false;
		pthread_mutex_unlock(&tk_lock);
		octo_verbose(1, "trunk %s removed (no longer in %s)", gone->name, TK_FILE);
	}
}

/* ---------------------------------------------------------------- DialTrunk, DialTrunkGroup */

static const char tk_dial_description[] =
	"DialTrunk(trunk,number,timeout,options) calls `number` through one trunk;\n"
	"DialTrunkGroup(group,number,timeout,options) tries the trunks of a trunk group of\n"
	"trunks.conf in order.\n"
	"\n"
	"trunk: a trunk of any kind (trunk show): a SIP trunk of trunks.conf, or a trunk of a\n"
	"  gateway (FXO lines, BRI ports, PRI spans, GSM SIMs; gateways.conf).\n"
	"number: the number as the dialplan routes it (after SetCalled); the trunk turns it into\n"
	"  the format it wants (trunks.conf number_format). Default: ${CALLED}.\n"
	"timeout: seconds to ring (default 60; 0: no limit).\n"
	"options: g  go on with the next step after the callee hung up an answered call.\n"
	"\n"
	"The trunk is asked for a free channel: when every channel is busy the status is\n"
	"CONGESTION, when the trunk is down (not registered, unreachable, no signal) or does not\n"
	"exist it is CHANUNAVAIL. Otherwise the call rings like Dial: answer, bridge, digits,\n"
	"hold and transfers.\n"
	"\n"
	"DialTrunkGroup moves on to the next trunk after BUSY, CONGESTION (including all\n"
	"channels busy) or CHANUNAVAIL (down, missing -- a trunk that does not exist is skipped\n"
	"with a log line); it stops after ANSWER, NOANSWER (a real no-answer), CANCEL (the caller\n"
	"hung up) and REJECTED.\n"
	"\n"
	"Variables set on the caller: DIALSTATUS (ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION,\n"
	"CHANUNAVAIL, REJECTED: the last trunk's), DIALEDTRUNK (the trunk that carried the\n"
	"call or was tried last), TRUNK (the same: the CDR's trunk, for pricelists), DIALEDTIME\n"
	"and ANSWEREDTIME (seconds); on the outgoing leg TRUNK.";

static void tk_set_seconds(struct octo_channel *chan, const char *name, uint64_t ms)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(ms / 1000));
	octo_chan_var_set(chan, name, buf);
}

static void tk_set_status(struct octo_channel *chan, const char *app, const char *status)
{
	octo_chan_var_set(chan, "DIALSTATUS", status);
	octo_chan_step(chan, "%s: DIALSTATUS=%s", app, status);
}

static bool tk_valid_number(const char *s)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++, n++)
		if (n >= TK_NUMBER_MAX || !(isalnum((unsigned char)*s) || strchr("+*#", *s)))
			return false;
	return true;
}

struct tk_args {
	char *target, *number;
	unsigned timeout_ms;
	bool go_on;
};

static int tk_parse(struct octo_channel *chan, const char *app, char *args, struct tk_args *a,
		    char *called, size_t csize)
{
	char *argv[5];
	int argc = octo_args_split(args, argv, 5);

	memset(a, 0, sizeof(*a));
	a->timeout_ms = TK_DEFAULT_TIMEOUT * 1000u;
	if (argc < 1 || !*argv[0] || argc > 4) {
		octo_chan_step(chan, "%s: usage %s(%s,number,timeout,options)", app, app,
			       strcmp(app, "DialTrunk") ? "group" : "trunk");
		return OCTO_EINVAL;
	}
	a->target = argv[0];
	if (!tk_valid_name(a->target)) {
		octo_chan_step(chan, "%s: \"%.64s\" is not a trunk name", app, a->target);
		return OCTO_EINVAL;
	}
	a->number = argc >= 2 && *argv[1] ? argv[1]
					  : octo_chan_copy(chan, OCTO_CHAN_CALLED, called, csize);
	if (!tk_valid_number(a->number)) {
		octo_chan_step(chan, "%s: \"%.64s\" is not a number", app, a->number);
		return OCTO_EINVAL;
	}
	if (argc >= 3 && *argv[2]) {
		char *end;
		long t = strtol(argv[2], &end, 10);

		if (*end || t < 0 || t > 86400) {
			octo_chan_step(chan,
				       "%s: timeout \"%.32s\" is not a number of seconds "
				       "0..86400",
				       app, argv[2]);
			return OCTO_EINVAL;
		}
		a->timeout_ms = (unsigned)t * 1000u;
	}
	for (const char *o = argc == 4 ? argv[3] : ""; *o; o++) {
		if (*o != 'g') {
			octo_chan_step(chan, "%s: unknown option '%c' (g: go on after the call)",
				       app, *o);
			return OCTO_EINVAL;
		}
		a->go_on = true;
	}
	return 0;
}

/* One trunk: the dial status; *app_rc is what the application returns when
 * the call was answered (*answered). */
static enum octo_dial_status tk_dial_one(struct octo_channel *chan, const char *app,
					 const char *tname, const char *number,
					 const struct tk_args *a, bool *answered, int *app_rc)
{
	const char *holder = octo_chan_name(chan);
	const struct octo_trunk *t = octo_trunk_get(tname, holder);
	char tech[32], dest[OCTO_CHAN_DEST_MAX];
	struct octo_channel *peer = NULL, *leg;
	struct octo_dial *d;
	enum octo_dial_status st;
	int rc, idx;

	*answered = false;
	octo_chan_var_set(chan, "DIALEDTRUNK", tname);
	if (!t) {
		octo_chan_step(chan, "%s: no trunk %s", app, tname);
		return OCTO_DIAL_CHANUNAVAIL;
	}
	rc = t->acquire(t, number, tech, sizeof(tech), dest, sizeof(dest));
	if (rc) {
		struct octo_trunk_status ts;

		t->status(t, &ts);
		octo_chan_step(chan, "%s: trunk %s cannot take the call: %s (%s, %u/%u busy)", app,
			       tname,
			       rc == OCTO_EBUSY        ? "every channel is busy"
			       : rc == OCTO_TRUNK_DOWN ? "it is down"
						       : octo_strerror(rc),
			       ts.state, ts.busy, ts.capacity);
		octo_trunk_put(t, holder);
		return rc == OCTO_EBUSY ? OCTO_DIAL_CONGESTION : OCTO_DIAL_CHANUNAVAIL;
	}
	octo_chan_var_set(chan, "TRUNK", tname);
	octo_chan_step(chan, "%s: trunk %s: %s/%s", app, tname, tech, dest);
	d = octo_dial_alloc(chan);
	if (!d) {
		if (t->abandon)
			t->abandon(t, dest);
		octo_trunk_put(t, holder);
		return OCTO_DIAL_CONGESTION;
	}
	idx = octo_dial_add(d, tech, dest, a->timeout_ms);
	leg = idx >= 0 ? octo_dial_leg(d, (size_t)idx) : NULL;
	if (!leg) {
		if (t->abandon)
			t->abandon(t, dest);
	} else {
		octo_chan_var_set(leg, "TRUNK", tname);
	}
	st = octo_dial_run(d, (int)a->timeout_ms, &peer);
	octo_dial_free(d);
	if (st != OCTO_DIAL_ANSWER) {
		octo_trunk_put(t, holder);
		return st;
	}
	*answered = true;
	rc = octo_chan_answer(chan);
	if (rc) {
		octo_chan_step(chan, "%s: cannot answer the caller (%s): dropping %s", app,
			       octo_strerror(rc), octo_chan_name(peer));
		octo_chan_hangup(peer, OCTO_CAUSE_NORMAL);
		octo_obj_unref(peer);
		octo_trunk_put(t, holder);
		tk_set_status(chan, app, "CANCEL");
		*app_rc = OCTO_APP_CONTINUE;
		return OCTO_DIAL_CANCEL;
	}
	tk_set_status(chan, app, "ANSWER");
	{
		uint64_t talk = octo_now_ms();

		rc = octo_bridge_ex(chan, peer, a->go_on ? OCTO_BRIDGE_KEEP_A : 0);
		tk_set_seconds(chan, "ANSWEREDTIME", octo_now_ms() - talk);
	}
	octo_obj_unref(peer);
	octo_trunk_put(t, holder);
	if (rc == OCTO_BRIDGE_B_ENDED && a->go_on) {
		octo_chan_step(chan, "%s: the callee hung up; going on (option g)", app);
		*app_rc = OCTO_APP_CONTINUE;
	} else if (rc == OCTO_BRIDGE_B_ENDED) {
		octo_chan_step(chan, "%s: the callee hung up: the call ends", app);
		*app_rc = OCTO_APP_HANGUP;
	} else {
		*app_rc = OCTO_APP_CONTINUE; /* the caller hung up: the engine sees it */
	}
	return OCTO_DIAL_ANSWER;
}

static int tk_dial_exec(struct octo_channel *chan, char *args)
{
	struct tk_args a;
	char called[TK_NUMBER_MAX + 8];
	uint64_t start = octo_now_ms();
	enum octo_dial_status st;
	bool answered;
	int app_rc = OCTO_APP_CONTINUE;

	if (tk_parse(chan, "DialTrunk", args, &a, called, sizeof(called)))
		return OCTO_EINVAL;
	st = tk_dial_one(chan, "DialTrunk", a.target, a.number, &a, &answered, &app_rc);
	tk_set_seconds(chan, "DIALEDTIME", octo_now_ms() - start);
	if (answered)
		return app_rc;
	tk_set_status(chan, "DialTrunk", octo_dial_status_name(st));
	return OCTO_APP_CONTINUE;
}

static bool tk_moves_on(enum octo_dial_status st)
{
	return st == OCTO_DIAL_BUSY || st == OCTO_DIAL_CONGESTION || st == OCTO_DIAL_CHANUNAVAIL;
}

static int tk_group_exec(struct octo_channel *chan, char *args)
{
	struct tk_args a;
	char called[TK_NUMBER_MAX + 8];
	char members[TK_GROUP_MAX][TK_NAME_MAX];
	size_t n = 0;
	struct tk_set *set;
	uint64_t start = octo_now_ms();
	enum octo_dial_status st = OCTO_DIAL_CHANUNAVAIL;
	bool answered = false, found = false;
	int app_rc = OCTO_APP_CONTINUE;

	if (tk_parse(chan, "DialTrunkGroup", args, &a, called, sizeof(called)))
		return OCTO_EINVAL;
	set = tk_get_set();
	for (size_t i = 0; set && i < set->ngroups && !found; i++) {
		if (strcasecmp(set->groups[i].name, a.target))
			continue;
		found = true;
		n = set->groups[i].ntrunks;
		memcpy(members, set->groups[i].trunks, n * sizeof(members[0]));
	}
	octo_obj_unref(set);
	if (!found) {
		octo_chan_step(chan, "DialTrunkGroup: no trunk group %s in %s", a.target, TK_FILE);
		tk_set_status(chan, "DialTrunkGroup", "CHANUNAVAIL");
		return OCTO_APP_CONTINUE;
	}
	for (size_t i = 0; i < n; i++) {
		if (octo_chan_is_hungup(chan)) {
			st = OCTO_DIAL_CANCEL;
			break;
		}
		if (!octo_registry_peek(OCTO_REG_TRUNK, members[i], NULL)) {
			octo_log(OCTO_WARNING, "trunk group %s: no trunk %s: skipped", a.target,
				 members[i]);
			octo_chan_step(chan, "DialTrunkGroup: %s: no trunk %s: skipped", a.target,
				       members[i]);
			continue;
		}
		octo_chan_step(chan, "DialTrunkGroup: %s: trying trunk %s (%zu of %zu)", a.target,
			       members[i], i + 1, n);
		st = tk_dial_one(chan, "DialTrunkGroup", members[i], a.number, &a, &answered,
				 &app_rc);
		if (answered)
			break;
		if (!tk_moves_on(st) || octo_chan_is_hungup(chan))
			break;
		octo_chan_step(chan, "DialTrunkGroup: trunk %s: %s: next trunk", members[i],
			       octo_dial_status_name(st));
	}
	tk_set_seconds(chan, "DIALEDTIME", octo_now_ms() - start);
	if (answered)
		return app_rc;
	tk_set_status(chan, "DialTrunkGroup", octo_dial_status_name(st));
	return OCTO_APP_CONTINUE;
}

static const struct octo_app tk_apps[] = {
	{ .name = "DialTrunk",
	  .synopsis = "Call a number through a trunk",
	  .syntax = "DialTrunk(trunk[,number[,timeout[,options]]])",
	  .description = tk_dial_description,
	  .exec = tk_dial_exec },
	{ .name = "DialTrunkGroup",
	  .synopsis = "Call a number through the trunks of a trunk group, in order",
	  .syntax = "DialTrunkGroup(group[,number[,timeout[,options]]])",
	  .description = tk_dial_description,
	  .exec = tk_group_exec },
	{ 0 }
};

/* ---------------------------------------------------------------- CLI */

static int tk_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	char clean[OCTO_CFG_CLEAN];

	if (argc > 3)
		return OCTO_CLI_USAGE;
	if (argc == 3) {
		const struct octo_trunk *t = octo_trunk_get(argv[2], "cli");
		struct octo_trunk_status st;
		struct octo_module *owner = NULL;
		char *buf;

		if (!t) {
			octo_cli_error(out, "No trunk \"%s\" (see trunk show).",
				       octo_cfg_clean(clean, argv[2]));
			return OCTO_CLI_FAIL;
		}
		octo_registry_peek(OCTO_REG_TRUNK, t->name, &owner);
		t->status(t, &st);
		octo_cli_kv(out, "trunk", "%s", t->name);
		octo_cli_kv(out, "kind", "%s", st.kind);
		octo_cli_kv(out, "state", "%s", st.state);
		if (st.capacity)
			octo_cli_kv(out, "channels", "%u busy of %u", st.busy, st.capacity);
		else
			octo_cli_kv(out, "channels", "%u busy (no limit)", st.busy);
		octo_cli_kv(out, "module", "%s", owner ? octo_module_name(owner) : "core");
		buf = calloc(1, 4096);
		if (buf && t->describe) {
			t->describe(t, buf, 4096);
			buf[4095] = '\0';
			for (char *line = buf, *nl; *line; line = nl + 1) {
				char *colon;

				nl = strchr(line, '\n');
				if (nl)
					*nl = '\0';
				colon = strstr(line, ": ");
				if (colon) {
					*colon = '\0';
					octo_cli_kv(out, line, "%s", colon + 2);
				} else if (*line) {
					octo_cli_printf(out, "%s", line);
				}
				if (!nl)
					break;
			}
		}
		free(buf);
		octo_trunk_put(t, "cli");
		return OCTO_CLI_OK;
	}
	{
		struct octo_reg_item *items = NULL;
		size_t n = octo_registry_list(OCTO_REG_TRUNK, &items);
		struct tk_set *set = tk_get_set();

		octo_cli_columns(out, "Trunk", "Kind", "State", "Busy", "Capacity", "Module", NULL);
		for (size_t i = 0; i < n; i++) {
			const struct octo_trunk *t = items[i].item;
			struct octo_trunk_status st;
			char busy[16], cap[16];

			t->status(t, &st);
			snprintf(busy, sizeof(busy), "%u", st.busy);
			if (st.capacity)
				snprintf(cap, sizeof(cap), "%u", st.capacity);
			else
				octo_strlcpy(cap, "-", sizeof(cap));
			octo_cli_row(out, items[i].name, st.kind, st.state, busy, cap,
				     items[i].module, NULL);
		}
		octo_cli_kv(out, "trunks", "%zu", n);
		for (size_t i = 0; set && i < set->ngroups; i++) {
			char list[TK_GROUP_MAX * (TK_NAME_MAX + 2)] = "";

			for (size_t j = 0; j < set->groups[i].ntrunks; j++) {
				if (j)
					strcat(list, ", ");
				strcat(list, set->groups[i].trunks[j]);
				if (!octo_registry_peek(OCTO_REG_TRUNK, set->groups[i].trunks[j],
							NULL))
					strcat(list, " (missing)");
			}
			char key[TK_NAME_MAX + 8];

			snprintf(key, sizeof(key), "group %s", set->groups[i].name);
			octo_cli_kv(out, key, "%s", list);
		}
		octo_obj_unref(set);
		octo_registry_list_free(items, n);
	}
	return OCTO_CLI_OK;
}

static void tk_complete(struct octo_cli_completion *c, int pos, const char *partial)
{
	if (pos == 0)
		octo_cli_complete_registry(c, OCTO_REG_TRUNK, partial);
}

static const struct octo_cli_cmd tk_cli[] = {
	{ "trunk show", "List the trunks (SIP and gateways) and trunk groups, or one trunk",
	  "trunk show [<name>]", tk_cli_show, tk_complete },
	{ 0 }
};

/* ---------------------------------------------------------------- module */

static void tk_log_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

static void tk_teardown(void)
{
	struct tk_live *all, *l;
	struct tk_set *set;

	pthread_mutex_lock(&tk_lock);
	all = tk_lives;
	tk_lives = NULL;
	set = tk_current;
	tk_current = NULL;
	pthread_mutex_unlock(&tk_lock);
	for (l = all; l; l = l->next) {
		if (l->peer_added && tk_sip)
			tk_sip->peer_remove(l->name);
		if (l->registered)
			octo_trunk_unregister(&l->trunk);
	}
	while (all) {
		l = all;
		all = l->next;
		free(l->claims);
		free(l);
	}
	octo_obj_unref(set);
	if (tk_sip)
		octo_service_put(tk_sip, TK_HOLDER);
	tk_sip = NULL;
}

static int tk_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct tk_set *set;

	tk_self = self;
	set = tk_build(octo_paths.config_dir, &diags);
	tk_log_diags(&diags);
	if (!set) {
		octo_log(OCTO_ERROR, "%s has %zu error%s: no trunks loaded", TK_FILE, diags.errors,
			 diags.errors == 1 ? "" : "s");
		octo_diags_free(&diags);
		return OCTO_LOAD_FAIL;
	}
	octo_diags_free(&diags);
	if (octo_app_register_all(self, tk_apps) || octo_cli_register_all(self, tk_cli)) {
		octo_obj_unref(set);
		return OCTO_LOAD_FAIL;
	}
	tk_sip = octo_service_get(OCTO_SIP_SERVICE, OCTO_SIP_VERSION, TK_HOLDER);
	if (!tk_sip && set->ndefs)
		octo_log(OCTO_WARNING, "%s: chan_sip is not loaded: the %zu SIP trunk(s) are down",
			 TK_FILE, set->ndefs);
	tk_apply(set);
	octo_obj_unref(set);
	return OCTO_LOAD_OK;
}

static int tk_unload(struct octo_module *self)
{
	tk_teardown();
	return 0;
}

static int tk_reload(struct octo_module *self, struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct tk_set *set;

	pthread_mutex_lock(&tk_reload_lock);
	set = tk_build(octo_paths.config_dir, diags);
	if (!set) {
		octo_log(OCTO_WARNING, "%s: reload refused (%zu error%s): the running trunks stay",
			 TK_FILE, diags->errors - errors, diags->errors - errors == 1 ? "" : "s");
		pthread_mutex_unlock(&tk_reload_lock);
		return OCTO_ECONFIG;
	}
	tk_apply(set);
	octo_obj_unref(set);
	pthread_mutex_unlock(&tk_reload_lock);
	octo_verbose(1, "%s reloaded", TK_FILE);
	return 0;
}

static int tk_check(const char *config_dir, struct octo_diags *diags)
{
	struct tk_set *set = tk_build(config_dir, diags);

	if (!set)
		return OCTO_ECONFIG;
	octo_obj_unref(set);
	return 0;
}

OCTO_MODULE(app_trunk, .description = "SIP trunks and trunk groups (trunks.conf), DialTrunk",
	    .load = tk_load, .unload = tk_unload, .reload = tk_reload, .check = tk_check,
	    .optional = "chan_sip,app_numbering,res_smtp,res_users");
