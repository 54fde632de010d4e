/*
 * sip_reg.c - the registrar (RFC 3261 10.3): REGISTER from users, digest-
 * authenticated by sip_auth_request(); the bindings (contacts) of every
 * user, kept in memory and in the store so that a restart keeps them;
 * their expiry; the contacts and devices that calls use; qualify
 * scheduling; and the CLI: `sip show registrations`, `sip show peers`,
 * `sip unregister USER [URI]`.
 *
 * DESIGN
 *  - Bindings hang off one record per user (address of record) in a hash
 *    table under one mutex. The REGISTER handler (loop thread) and the
 *    CLI/call threads only ever hold that mutex for table work: no call
 *    out (store queue aside, which copies and returns) happens under it.
 *  - A REGISTER is all-or-nothing: every Contact is checked (scheme,
 *    length, expiry bounds -> 423, Call-ID/CSeq order) before any binding
 *    changes.
 *  - max_contacts (users.conf): a new contact beyond it replaces the
 *    binding refreshed least recently (a phone that was reset or changed
 *    its address must not be locked out until its old binding expires).
 *  - Expiry bounds: below min_expiry -> 423 Interval Too Brief with
 *    Min-Expires; above max_expiry -> max_expiry, as the 200 says.
 *  - One timer, every second on the loop, expires bindings and starts the
 *    qualify pings that are due (sent after the mutex is released). The
 *    first ping goes one qualify_interval after a contact registers. A
 *    contact that does not answer is UNREACHABLE: it stays registered but
 *    is not rung (left out of sip_reg_contacts) until it answers again.
 *  - Store writes go through octo_store_queue(); the bindings are read back
 *    synchronously at load (not on the loop). After a restart TCP/TLS
 *    bindings have no connection: requests to them open a new one.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "octo/cli.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/store.h"
#include "octo/users.h"
#include "sip.h"
#include "sip_peer.h"

#define REG_BUCKETS 1024
#define REG_USER_MAX 64
#define REG_MAX_CONTACTS_PER_REQ 32
#define REG_TICK_MS 1000
#define REG_STORE_OWNER "chan_sip.registrar"

enum reg_qstate { REG_Q_UNKNOWN = 0, REG_Q_OK, REG_Q_UNREACHABLE };

struct reg_binding {
	struct reg_binding *next;
	uint64_t id; /* unique while the module is loaded */
	char uri[256];
	struct sip_addr src; /* where the REGISTER came from: where requests go */
	char user_agent[128];
	char *call_id;
	uint32_t cseq;
	int64_t expires;    /* unix s */
	int64_t registered; /* unix s, when this binding was made */
	int64_t updated;    /* unix s, its last refresh */
	enum reg_qstate qstate;
	int rtt_ms;
	uint64_t next_qualify_ms; /* monotonic */
	bool qualifying;
};

struct reg_aor {
	struct reg_aor *next;
	char user[REG_USER_MAX];
	struct reg_binding *bindings; /* oldest first */
	unsigned count;
};

static struct {
	pthread_mutex_t lock;
	struct reg_aor *tab[REG_BUCKETS];
	size_t bindings;
	uint64_t next_id;
	uint64_t timer;
	bool store;
} reg = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ================================================================ the table */

static size_t reg_bucket(const char *user)
{
	uint32_t h = 2166136261u;

	for (; *user; user++)
		h = (h ^ (unsigned char)*user) * 16777619u;
	return h % REG_BUCKETS;
}

/* Lock held. */
static struct reg_aor *reg_aor_find(const char *user, bool create)
{
	size_t b = reg_bucket(user);
	struct reg_aor *a;

	for (a = reg.tab[b]; a; a = a->next)
		if (!strcmp(a->user, user))
			return a;
	if (!create || strlen(user) >= REG_USER_MAX)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	octo_strlcpy(a->user, user, sizeof(a->user));
	a->next = reg.tab[b];
	reg.tab[b] = a;
	return a;
}

/* Drops an empty record. Lock held. */
static void reg_aor_gc(struct reg_aor *a)
{
	struct reg_aor **pp;

	if (a->bindings)
		return;
	for (pp = &reg.tab[reg_bucket(a->user)]; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			free(a);
			return;
		}
	}
}

static void reg_store_delete(const char *user, const char *uri)
{
	if (!reg.store)
		return;
	octo_store_queue("DELETE FROM sip_registrations WHERE user = ? AND uri = ?",
			 OCTO_STORE_ARGS(OCTO_STORE_T(user), OCTO_STORE_T(uri)));
}

static void reg_store_save(const char *user, const struct reg_binding *b)
{
	char ip[SIP_ADDR_STRLEN];

	if (!reg.store)
		return;
	sip_addr_ip(&b->src, ip, sizeof(ip));
	octo_store_queue("INSERT OR REPLACE INTO sip_registrations(user, uri, call_id, cseq, "
			 "expires, registered, updated, transport, ip, port, user_agent) "
			 "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			 OCTO_STORE_ARGS(OCTO_STORE_T(user), OCTO_STORE_T(b->uri),
					 OCTO_STORE_T(b->call_id ? b->call_id : ""),
					 OCTO_STORE_I(b->cseq), OCTO_STORE_I(b->expires),
					 OCTO_STORE_I(b->registered), OCTO_STORE_I(b->updated),
					 OCTO_STORE_T(sip_tp_name(b->src.tp)), OCTO_STORE_T(ip),
					 OCTO_STORE_I(sip_addr_port(&b->src)),
					 OCTO_STORE_T(b->user_agent)));
}

static void reg_binding_free(struct reg_binding *b)
{
	free(b->call_id);
	free(b);
}

/* Unlinks and frees *pp, with the store row; `why` is logged ("expired"...).
 * Lock held. */
static void reg_binding_remove(struct reg_aor *a, struct reg_binding **pp, const char *why)
{
	struct reg_binding *b = *pp;

	*pp = b->next;
	a->count--;
	reg.bindings--;
	if (why)
		octo_verbose(1, "SIP: user %s: contact %s %s", a->user, b->uri, why);
	reg_store_delete(a->user, b->uri);
	reg_binding_free(b);
}

static struct reg_binding **reg_binding_find(struct reg_aor *a, const char *uri)
{
	struct reg_binding **pp;

	for (pp = &a->bindings; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->uri, uri))
			return pp;
	return NULL;
}

static void reg_clear(void)
{
	pthread_mutex_lock(&reg.lock);
	for (size_t i = 0; i < REG_BUCKETS; i++) {
		while (reg.tab[i]) {
			struct reg_aor *a = reg.tab[i];

			while (a->bindings) {
				struct reg_binding *b = a->bindings;

				a->bindings = b->next;
				reg_binding_free(b);
			}
			reg.tab[i] = a->next;
			free(a);
		}
	}
	reg.bindings = 0;
	pthread_mutex_unlock(&reg.lock);
}

/* ================================================================ lookups for calls */

static void reg_fill_contact(const struct reg_binding *b, struct sip_contact *c)
{
	octo_strlcpy(c->uri, b->uri, sizeof(c->uri));
	c->dest = b->src;
	octo_strlcpy(c->user_agent, b->user_agent, sizeof(c->user_agent));
}

int sip_reg_contacts(const char *user, struct sip_contact *out, int max)
{
	int64_t now = (int64_t)time(NULL);
	struct reg_aor *a;
	int n = 0;

	if (!user || max <= 0)
		return 0;
	pthread_mutex_lock(&reg.lock);
	a = reg_aor_find(user, false);
	for (struct reg_binding *b = a ? a->bindings : NULL; b && n < max; b = b->next)
		if (b->expires > now && b->qstate != REG_Q_UNREACHABLE)
			reg_fill_contact(b, &out[n++]);
	pthread_mutex_unlock(&reg.lock);
	return n;
}

int sip_reg_devices(const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int max)
{
	struct sip_contact *c;
	int n;

	if (!user || max <= 0 || strlen(user) >= REG_USER_MAX)
		return 0;
	if (max > 64)
		max = 64;
	c = calloc((size_t)max, sizeof(*c));
	if (!c)
		return 0;
	n = sip_reg_contacts(user, c, max);
	for (int i = 0; i < n; i++)
		snprintf(dests[i], OCTO_CHAN_DEST_MAX, "%s/%d", user, i);
	free(c);
	return n;
}

int sip_reg_device_contact(const char *dest, struct sip_contact *out)
{
	char user[REG_USER_MAX];
	const char *slash;
	unsigned long idx = 0;
	struct sip_contact *c;
	size_t len;
	int n, rc;

	if (!dest || !*dest)
		return OCTO_EINVAL;
	slash = strchr(dest, '/');
	len = slash ? (size_t)(slash - dest) : strlen(dest);
	if (!len || len >= sizeof(user))
		return OCTO_EINVAL;
	if (slash) {
		char *end;

		if (!isdigit((unsigned char)slash[1]))
			return OCTO_EINVAL;
		idx = strtoul(slash + 1, &end, 10);
		if (*end || idx >= 64)
			return OCTO_EINVAL;
	}
	memcpy(user, dest, len);
	user[len] = '\0';
	c = calloc(idx + 1, sizeof(*c));
	if (!c)
		return OCTO_ENOMEM;
	n = sip_reg_contacts(user, c, (int)idx + 1);
	rc = (unsigned long)n > idx ? 0 : OCTO_ENOTFOUND;
	if (!rc)
		*out = c[idx];
	free(c);
	return rc;
}

int sip_reg_unregister(const char *user, const char *uri)
{
	struct reg_aor *a;
	int n = 0;

	if (!user)
		return 0;
	pthread_mutex_lock(&reg.lock);
	a = reg_aor_find(user, false);
	if (a) {
		struct reg_binding **pp = &a->bindings;

		while (*pp) {
			if (!uri || !strcmp((*pp)->uri, uri)) {
				reg_binding_remove(a, pp, "unregistered by the administrator");
				n++;
			} else {
				pp = &(*pp)->next;
			}
		}
		reg_aor_gc(a);
	}
	pthread_mutex_unlock(&reg.lock);
	return n;
}

/* ================================================================ REGISTER */

struct reg_op {
	char uri[256];
	unsigned expires; /* 0: remove */
};

/* An unsigned decimal (delta-seconds); false when it is not one. Values
 * beyond 2^32-1 become that (RFC 3261 20.19). */
static bool reg_parse_delta(const char *s, unsigned *out)
{
	unsigned long long v = 0;

	if (!s)
		return false;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	for (; isdigit((unsigned char)*s); s++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 0xffffffffull)
			v = 0xffffffffull;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s)
		return false;
	*out = (unsigned)v;
	return true;
}

/* Printable text of at most size-1 bytes (for user agents in the CLI). */
static void reg_clean_text(char *dst, const char *src, size_t size)
{
	size_t n = 0;

	for (; src && *src && n + 1 < size; src++)
		dst[n++] = ((unsigned char)*src < 0x20 || *src == 0x7f) ? '?' : *src;
	dst[n] = '\0';
}

/* Adds the Contact headers of the user's bindings to a 200. Lock held. */
static void reg_add_contacts(struct sip_msg *r, const struct reg_aor *a, int64_t now)
{
	char value[320];

	for (const struct reg_binding *b = a ? a->bindings : NULL; b; b = b->next) {
		if (b->expires <= now)
			continue;
		snprintf(value, sizeof(value), "<%s>;expires=%lld", b->uri,
			 (long long)(b->expires - now));
		sip_msg_add_header(r, "Contact", value);
	}
}

static void reg_on_register(struct sip_txn *txn, struct sip_msg *req)
{
	/* a dynamic SIP peer (a PBX or gateway registering as a trunk): sip_peer.c */
	struct octo_user *u = sip_peer_on_register(txn, req) ? NULL : sip_auth_request(txn, req);
	struct sip_cfg *cfg = NULL;
	const struct sip_reg_conf *rc;
	struct reg_op *ops = NULL;
	size_t nops = 0;
	unsigned hdr_expires = 0;
	bool has_hdr_expires, star = false;
	const char *call_id = req->call_id ? req->call_id : "";
	char agent[128], peer[SIP_ADDR_STRLEN];
	int64_t now = (int64_t)time(NULL);
	struct sip_msg *r;
	struct reg_aor *a;
	int status = 0;
	const char *reason = NULL;

	if (!u)
		return;
	cfg = sip_cfg_get();
	rc = cfg ? sip_cfg_part(cfg, &sip_reg_cfg_part) : NULL;
	if (!rc) {
		sip_txn_respond(txn, 503, NULL);
		goto out;
	}
	sip_addr_str(&req->src, peer, sizeof(peer));
	has_hdr_expires = reg_parse_delta(sip_msg_header(req, "Expires"), &hdr_expires);
	ops = calloc(REG_MAX_CONTACTS_PER_REQ, sizeof(*ops));
	if (!ops) {
		sip_txn_respond(txn, 500, NULL);
		goto out;
	}

	/* 1. every Contact checked before anything changes */
	for (int pos = 0; !osip_list_eol(&req->osip->contacts, pos); pos++) {
		osip_contact_t *c = osip_list_get(&req->osip->contacts, pos);
		osip_generic_param_t *p = NULL;
		char *text = NULL;
		unsigned exp;

		if (!c)
			continue;
		if (!c->url) {
			if (c->displayname && !strcmp(c->displayname, "*")) {
				star = true;
				continue;
			}
			status = 400, reason = "Bad Contact";
			goto answer;
		}
		if (!c->url->scheme ||
		    (strcasecmp(c->url->scheme, "sip") && strcasecmp(c->url->scheme, "sips"))) {
			status = 400, reason = "Unsupported Contact Scheme";
			goto answer;
		}
		if (nops == REG_MAX_CONTACTS_PER_REQ) {
			status = 400, reason = "Too Many Contacts";
			goto answer;
		}
		if (osip_uri_to_str(c->url, &text) != 0 || !text) {
			status = 400, reason = "Bad Contact";
			goto answer;
		}
		if (strlen(text) >= sizeof(ops[0].uri)) {
			osip_free(text);
			status = 400, reason = "Contact URI Too Long";
			goto answer;
		}
		octo_strlcpy(ops[nops].uri, text, sizeof(ops[0].uri));
		osip_free(text);
		if (osip_contact_param_get_byname(c, "expires", &p) == 0 && p &&
		    reg_parse_delta(p->gvalue, &exp))
			;
		else if (has_hdr_expires)
			exp = hdr_expires;
		else
			exp = rc->default_expiry;
		if (exp && exp < rc->min_expiry) {
			char min[16];

			r = sip_txn_response(txn, 423, "Interval Too Brief");
			if (r) {
				snprintf(min, sizeof(min), "%u", rc->min_expiry);
				sip_msg_add_header(r, "Min-Expires", min);
				sip_txn_send(txn, r);
			}
			octo_verbose(2, "SIP: REGISTER of %s from %s: expiry %us below %us: 423",
				     u->extension, peer, exp, rc->min_expiry);
			goto out;
		}
		ops[nops].expires = exp > rc->max_expiry ? rc->max_expiry : exp;
		/* the same contact twice: the last one counts */
		for (size_t i = 0; i < nops; i++) {
			if (!strcmp(ops[i].uri, ops[nops].uri)) {
				ops[i].expires = ops[nops].expires;
				nops--;
				break;
			}
		}
		nops++;
	}
	if (star && (nops || !has_hdr_expires || hdr_expires != 0)) {
		/* RFC 3261 10.2.2: "*" only alone and with Expires: 0 */
		status = 400, reason = "Invalid Contact *";
		goto answer;
	}
	reg_clean_text(agent, sip_msg_header(req, "User-Agent"), sizeof(agent));

	pthread_mutex_lock(&reg.lock);
	a = reg_aor_find(u->extension, nops || star);
	if (!a && (nops || star)) {
		pthread_mutex_unlock(&reg.lock);
		status = 500;
		goto answer;
	}
	/* 2. Call-ID/CSeq order (RFC 3261 10.3 step 7): a request older than
	 * what made a binding changes nothing */
	for (size_t i = 0; a && i < nops; i++) {
		struct reg_binding **pp = reg_binding_find(a, ops[i].uri);

		if (pp && (*pp)->call_id && !strcmp((*pp)->call_id, call_id) &&
		    req->cseq <= (*pp)->cseq) {
			pthread_mutex_unlock(&reg.lock);
			status = 400, reason = "Out Of Order CSeq";
			goto answer;
		}
	}
	/* 3. apply */
	if (star) {
		while (a->bindings)
			reg_binding_remove(a, &a->bindings, "unregistered (Contact: *)");
	}
	for (size_t i = 0; i < nops; i++) {
		struct reg_binding **pp = reg_binding_find(a, ops[i].uri), *b;

		if (!ops[i].expires) {
			if (pp)
				reg_binding_remove(a, pp, "unregistered");
			continue;
		}
		if (pp) {
			b = *pp;
			free(b->call_id);
			b->call_id = octo_strdup(call_id);
			if (!sip_addr_equal(&b->src, &req->src))
				octo_verbose(1, "SIP: user %s: contact %s now reached at %s",
					     a->user, b->uri, peer);
		} else {
			unsigned max = u->max_contacts ? u->max_contacts : 1;

			while (a->count >= max) {
				struct reg_binding **old = &a->bindings;

				for (struct reg_binding **q = &a->bindings; *q; q = &(*q)->next)
					if ((*q)->updated < (*old)->updated)
						old = q;
				reg_binding_remove(a, old, "replaced: max_contacts reached");
			}
			b = calloc(1, sizeof(*b));
			if (!b)
				continue;
			b->id = ++reg.next_id;
			octo_strlcpy(b->uri, ops[i].uri, sizeof(b->uri));
			b->call_id = octo_strdup(call_id);
			b->registered = now;
			b->rtt_ms = -1;
			/* append: oldest first */
			for (pp = &a->bindings; *pp; pp = &(*pp)->next)
				;
			*pp = b;
			a->count++;
			reg.bindings++;
			octo_verbose(1, "SIP: user %s registered %s from %s (%us)", a->user, b->uri,
				     peer, ops[i].expires);
		}
		b->src = req->src;
		b->cseq = req->cseq;
		b->expires = now + ops[i].expires;
		b->updated = now;
		octo_strlcpy(b->user_agent, agent, sizeof(b->user_agent));
		if (!b->qualifying)
			b->next_qualify_ms = octo_now_ms() + (uint64_t)rc->qualify_interval * 1000;
		reg_store_save(a->user, b);
	}
	r = sip_txn_response(txn, 200, NULL);
	if (r)
		reg_add_contacts(r, a, now);
	if (a)
		reg_aor_gc(a);
	pthread_mutex_unlock(&reg.lock);
	if (r)
		sip_txn_send(txn, r);
	goto out;

answer:
	octo_verbose(2, "SIP: REGISTER of %s from %s: %d %s", u->extension, peer, status,
		     reason ? reason : "");
	sip_txn_respond(txn, status, reason);
out:
	free(ops);
	octo_obj_unref(cfg);
	octo_obj_unref(u);
}

/* ================================================================ expiry and qualify */

struct reg_ping {
	char user[REG_USER_MAX];
	uint64_t id;
	char uri[256];
	struct sip_addr dest;
};

void sip_reg_qualified(const char *user, uint64_t binding_id, int rtt_ms)
{
	struct sip_cfg *cfg = sip_cfg_get();
	const struct sip_reg_conf *rc = cfg ? sip_cfg_part(cfg, &sip_reg_cfg_part) : NULL;
	unsigned interval = rc ? rc->qualify_interval : 60;
	struct reg_aor *a;

	pthread_mutex_lock(&reg.lock);
	a = reg_aor_find(user, false);
	for (struct reg_binding *b = a ? a->bindings : NULL; b; b = b->next) {
		if (b->id != binding_id)
			continue;
		if (rtt_ms < 0 && b->qstate != REG_Q_UNREACHABLE)
			octo_log(OCTO_NOTICE, "SIP: user %s: contact %s is UNREACHABLE", user,
				 b->uri);
		else if (rtt_ms >= 0 && b->qstate == REG_Q_UNREACHABLE)
			octo_log(OCTO_NOTICE, "SIP: user %s: contact %s is reachable again (%d ms)",
				 user, b->uri, rtt_ms);
		b->qstate = rtt_ms < 0 ? REG_Q_UNREACHABLE : REG_Q_OK;
		b->rtt_ms = rtt_ms;
		b->qualifying = false;
		b->next_qualify_ms = octo_now_ms() + (uint64_t)(interval ? interval : 60) * 1000;
		break;
	}
	pthread_mutex_unlock(&reg.lock);
	octo_obj_unref(cfg);
}

static unsigned reg_tick(void *data)
{
	struct sip_cfg *cfg = sip_cfg_get();
	const struct sip_reg_conf *rc = cfg ? sip_cfg_part(cfg, &sip_reg_cfg_part) : NULL;
	int64_t now = (int64_t)time(NULL);
	uint64_t now_ms = octo_now_ms();
	struct reg_ping *pings = NULL;
	size_t npings = 0, cap = 0;

	pthread_mutex_lock(&reg.lock);
	for (size_t i = 0; i < REG_BUCKETS; i++) {
		struct reg_aor **ap = &reg.tab[i];

		while (*ap) {
			struct reg_aor *a = *ap;
			struct reg_binding **pp = &a->bindings;

			while (*pp) {
				struct reg_binding *b = *pp;

				if (b->expires <= now) {
					reg_binding_remove(a, pp, "expired");
					continue;
				}
				if (rc && rc->qualify_interval && !b->qualifying &&
				    now_ms >= b->next_qualify_ms) {
					if (npings == cap) {
						size_t ncap = cap ? 2 * cap : 16;
						struct reg_ping *np =
							realloc(pings, ncap * sizeof(*np));

						if (!np)
							break;
						pings = np;
						cap = ncap;
					}
					octo_strlcpy(pings[npings].user, a->user, REG_USER_MAX);
					pings[npings].id = b->id;
					octo_strlcpy(pings[npings].uri, b->uri,
						     sizeof(pings[0].uri));
					pings[npings].dest = b->src;
					npings++;
					b->qualifying = true;
				}
				pp = &b->next;
			}
			if (!a->bindings) {
				*ap = a->next;
				free(a);
			} else {
				ap = &a->next;
			}
		}
	}
	pthread_mutex_unlock(&reg.lock);
	for (size_t i = 0; i < npings; i++)
		sip_qualify_send(pings[i].user, pings[i].id, pings[i].uri, &pings[i].dest);
	free(pings);
	octo_obj_unref(cfg);
	return REG_TICK_MS;
}

/* ================================================================ store and init */

static const char *const reg_schema[] = {
	"CREATE TABLE sip_registrations(user TEXT NOT NULL, uri TEXT NOT NULL, "
	"call_id TEXT NOT NULL, cseq INTEGER NOT NULL, expires INTEGER NOT NULL, "
	"registered INTEGER NOT NULL, updated INTEGER NOT NULL, transport TEXT NOT NULL, "
	"ip TEXT NOT NULL, port INTEGER NOT NULL, user_agent TEXT NOT NULL, "
	"PRIMARY KEY(user, uri))",
};

/* Lock held by the caller. */
static int reg_load_row(const struct octo_store_row *row, void *data)
{
	const char *user = octo_store_row_text(row, 0), *uri = octo_store_row_text(row, 1);
	const char *call_id = octo_store_row_text(row, 2), *ip = octo_store_row_text(row, 8);
	const char *agent = octo_store_row_text(row, 10);
	int tp = sip_tp_parse(octo_store_row_text(row, 7));
	int64_t port = octo_store_row_int(row, 9);
	struct reg_binding *b, **pp;
	struct sip_addr src;
	struct reg_aor *a;

	if (!user || !uri || !ip || tp < 0 || port < 1 || port > 65535 ||
	    strlen(uri) >= sizeof(b->uri) ||
	    sip_addr_set(&src, (enum sip_tp)tp, ip, (unsigned)port) != 0)
		return 0;
	a = reg_aor_find(user, true);
	if (!a || reg_binding_find(a, uri))
		return 0;
	b = calloc(1, sizeof(*b));
	if (!b)
		return 1;
	b->id = ++reg.next_id;
	octo_strlcpy(b->uri, uri, sizeof(b->uri));
	b->src = src;
	b->call_id = octo_strdup(call_id ? call_id : "");
	b->cseq = (uint32_t)octo_store_row_int(row, 3);
	b->expires = octo_store_row_int(row, 4);
	b->registered = octo_store_row_int(row, 5);
	b->updated = octo_store_row_int(row, 6);
	reg_clean_text(b->user_agent, agent, sizeof(b->user_agent));
	b->rtt_ms = -1;
	b->next_qualify_ms = octo_now_ms() + (uint64_t)(*(unsigned *)data) * 1000;
	for (pp = &a->bindings; *pp; pp = &(*pp)->next)
		;
	*pp = b;
	a->count++;
	reg.bindings++;
	return 0;
}

int sip_reg_init(void)
{
	struct sip_cfg *cfg = sip_cfg_get();
	const struct sip_reg_conf *rc = cfg ? sip_cfg_part(cfg, &sip_reg_cfg_part) : NULL;
	unsigned interval = rc && rc->qualify_interval ? rc->qualify_interval : 1;
	int64_t now = (int64_t)time(NULL);
	size_t loaded;

	octo_obj_unref(cfg);
	reg_clear();
	reg.store = octo_store_is_open() && octo_store_migrate(REG_STORE_OWNER, reg_schema,
							       OCTO_ARRAY_LEN(reg_schema)) >= 0;
	if (!reg.store) {
		octo_log(OCTO_WARNING, "SIP: the store is not available: registrations are not "
				       "kept across restarts");
	} else {
		pthread_mutex_lock(&reg.lock);
		octo_store_query("SELECT user, uri, call_id, cseq, expires, registered, updated, "
				 "transport, ip, port, user_agent FROM sip_registrations "
				 "WHERE expires > ? ORDER BY registered, rowid",
				 OCTO_STORE_ARGS(OCTO_STORE_I(now)), reg_load_row, &interval);
		loaded = reg.bindings;
		pthread_mutex_unlock(&reg.lock);
		octo_store_queue("DELETE FROM sip_registrations WHERE expires <= ?",
				 OCTO_STORE_ARGS(OCTO_STORE_I(now)));
		if (loaded)
			octo_verbose(1, "SIP: %zu registration%s restored from the store", loaded,
				     loaded == 1 ? "" : "s");
	}
	if (sip_method_register(SIP_REGISTER, reg_on_register) != 0)
		return OCTO_EFAIL;
	reg.timer = octo_timer_add(REG_TICK_MS, reg_tick, NULL);
	if (!reg.timer) {
		octo_log(OCTO_ERROR, "SIP: cannot start the registrar's timer");
		return OCTO_EFAIL;
	}
	return 0;
}

void sip_reg_fini(void)
{
	if (reg.timer)
		octo_timer_cancel(reg.timer);
	reg.timer = 0;
	sip_method_unregister(SIP_REGISTER);
	if (reg.store)
		octo_store_flush();
	reg_clear();
}

/* ================================================================ CLI */

static const char *reg_status_text(const struct reg_binding *b, bool qualify, char *buf,
				   size_t size)
{
	if (b->qstate == REG_Q_UNREACHABLE)
		return "UNREACHABLE";
	if (b->qstate == REG_Q_OK) {
		snprintf(buf, size, "OK (%d ms)", b->rtt_ms);
		return buf;
	}
	return qualify ? "unknown" : "-";
}

static bool reg_qualify_on(void)
{
	struct sip_cfg *cfg = sip_cfg_get();
	const struct sip_reg_conf *rc = cfg ? sip_cfg_part(cfg, &sip_reg_cfg_part) : NULL;
	bool on = rc && rc->qualify_interval;

	octo_obj_unref(cfg);
	return on;
}

struct reg_row {
	char user[REG_USER_MAX];
	char uri[256];
	long long expires_in;
	char agent[128];
	char tp[8];
	char src[SIP_ADDR_STRLEN];
	char status[32];
};

static int reg_row_cmp(const void *x, const void *y)
{
	const struct reg_row *a = x, *b = y;
	int c = strcmp(a->user, b->user);

	return c ? c : strcmp(a->uri, b->uri);
}

/* A sorted copy of the bindings (of one user, or all): free(*out). */
static size_t reg_rows(const char *user, struct reg_row **out)
{
	bool qualify = reg_qualify_on();
	int64_t now = (int64_t)time(NULL);
	char status[32];
	size_t n = 0;

	pthread_mutex_lock(&reg.lock);
	*out = calloc(reg.bindings ? reg.bindings : 1, sizeof(**out));
	for (size_t i = 0; *out && i < REG_BUCKETS; i++) {
		for (struct reg_aor *a = reg.tab[i]; a; a = a->next) {
			if (user && strcmp(user, a->user))
				continue;
			for (struct reg_binding *b = a->bindings; b && n < reg.bindings;
			     b = b->next) {
				struct reg_row *r = &(*out)[n++];

				octo_strlcpy(r->user, a->user, sizeof(r->user));
				octo_strlcpy(r->uri, b->uri, sizeof(r->uri));
				r->expires_in = b->expires > now ? b->expires - now : 0;
				octo_strlcpy(r->agent, b->user_agent, sizeof(r->agent));
				octo_strlcpy(r->tp, sip_tp_name(b->src.tp), sizeof(r->tp));
				sip_addr_hostport(&b->src, r->src, sizeof(r->src));
				octo_strlcpy(r->status,
					     reg_status_text(b, qualify, status, sizeof(status)),
					     sizeof(r->status));
			}
		}
	}
	pthread_mutex_unlock(&reg.lock);
	if (n > 1)
		qsort(*out, n, sizeof(**out), reg_row_cmp);
	return n;
}

static int reg_cli_registrations(struct octo_cli_out *out, int argc, char **argv)
{
	struct reg_row *rows = NULL;
	size_t n;

	if (argc > 4)
		return OCTO_CLI_USAGE;
	n = reg_rows(argc == 4 ? argv[3] : NULL, &rows);
	octo_cli_columns(out, "User", "Contact", "Expires", "User agent", "Transport", "Source",
			 "Status", NULL);
	for (size_t i = 0; i < n; i++) {
		char exp[24];

		snprintf(exp, sizeof(exp), "%llds", rows[i].expires_in);
		octo_cli_row(out, rows[i].user, rows[i].uri, exp,
			     rows[i].agent[0] ? rows[i].agent : "-", rows[i].tp, rows[i].src,
			     rows[i].status, NULL);
	}
	free(rows);
	octo_cli_kv(out, "registrations", "%zu", n);
	return OCTO_CLI_OK;
}

static int reg_cli_peers(struct octo_cli_out *out, int argc, char **argv)
{
	const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, "cli");
	struct octo_user **list = NULL;
	struct reg_row *rows = NULL;
	size_t nusers, nrows, registered = 0;

	if (argc != 3) {
		if (users)
			octo_service_put(users, "cli");
		return OCTO_CLI_USAGE;
	}
	if (!users) {
		octo_cli_error(out, "No users: res_users is not loaded.");
		return OCTO_CLI_FAIL;
	}
	nusers = users->list(&list);
	nrows = reg_rows(NULL, &rows);
	octo_cli_columns(out, "User", "Name", "Status", "Contacts", "User agent", "Transport",
			 "Source", "Qualify", NULL);
	for (size_t i = 0; i < nusers; i++) {
		const struct octo_user *u = list[i];
		const struct reg_row *first = NULL;
		unsigned count = 0;
		char cnt[16];

		for (size_t j = 0; j < nrows; j++) {
			if (strcmp(rows[j].user, u->extension))
				continue;
			if (!first || (!strcmp(first->status, "UNREACHABLE") &&
				       strcmp(rows[j].status, "UNREACHABLE")))
				first = &rows[j];
			count++;
		}
		registered += count > 0;
		snprintf(cnt, sizeof(cnt), "%u", count);
		octo_cli_row(out, u->extension, u->name[0] ? u->name : "-",
			     count ? "registered" : "unregistered", cnt,
			     first && first->agent[0] ? first->agent : "-", first ? first->tp : "-",
			     first ? first->src : "-", first ? first->status : "-", NULL);
	}
	{
		/* peers that are not users: trunks, gateways, DECT bases (sip_peer.c) */
		struct sip_peer_row *prow = NULL;
		size_t npeers = sip_peer_rows(&prow);

		for (size_t i = 0; i < npeers; i++) {
			char kind[40];

			snprintf(kind, sizeof(kind), "(%s peer)", prow[i].kind);
			octo_cli_row(out, prow[i].name, kind, prow[i].state, "-", "-", "-",
				     prow[i].host, prow[i].reason[0] ? prow[i].reason : "-", NULL);
		}
		free(prow);
		octo_cli_kv(out, "users", "%zu", nusers);
		octo_cli_kv(out, "registered", "%zu", registered);
		octo_cli_kv(out, "peers", "%zu", npeers);
	}
	users->list_free(list, nusers);
	octo_service_put(users, "cli");
	free(rows);
	return OCTO_CLI_OK;
}

static int reg_cli_unregister(struct octo_cli_out *out, int argc, char **argv)
{
	char clean[OCTO_CFG_CLEAN];
	int n;

	if (argc != 3 && argc != 4)
		return OCTO_CLI_USAGE;
	n = sip_reg_unregister(argv[2], argc == 4 ? argv[3] : NULL);
	if (!n) {
		octo_cli_error(out, "%s has no registration%s.", octo_cfg_clean(clean, argv[2]),
			       argc == 4 ? " with that contact" : "s");
		return OCTO_CLI_FAIL;
	}
	octo_cli_printf(out, "Removed %d registration%s of %s.", n, n == 1 ? "" : "s",
			octo_cfg_clean(clean, argv[2]));
	return OCTO_CLI_OK;
}

static void reg_complete_user(struct octo_cli_completion *c, int pos, const char *partial)
{
	if (pos != 0)
		return;
	pthread_mutex_lock(&reg.lock);
	for (size_t i = 0; i < REG_BUCKETS; i++)
		for (struct reg_aor *a = reg.tab[i]; a; a = a->next)
			if (!strncmp(a->user, partial, strlen(partial)))
				octo_cli_complete_add(c, a->user);
	pthread_mutex_unlock(&reg.lock);
}

static const struct octo_cli_cmd reg_cli_cmds[] = {
	{ "sip show registrations", "List registered SIP contacts (of one user)",
	  "sip show registrations [<user>]", reg_cli_registrations, reg_complete_user },
	{ "sip show peers", "List the users and whether their devices are registered", NULL,
	  reg_cli_peers, NULL },
	{ "sip unregister", "Remove a user's registrations (all, or one contact)",
	  "sip unregister <user> [<contact-uri>]", reg_cli_unregister, reg_complete_user },
	{ 0 }
};

int sip_reg_cli_register(struct octo_module *self)
{
	return octo_cli_register_all(self, reg_cli_cmds);
}
