/*
 * sip_peer.c - SIP peers that are not users (trunks to providers and other
 * PBXs, media gateways, DECT base stations): the "sip" service of
 * include/octo/sip.h. Peers are kept in a table hashed by name (and, for
 * dynamic peers, by username) with an index by source IP address, so that
 * an incoming request is matched to its peer without scanning the peers;
 * peers that match whole networks are looked up in a second, short list
 * only when no address matched exactly. Also here: incoming INVITE routing
 * decided by the peer's owner, the released() claims of calls, devices
 * providers, dynamic peers registering to us (digest with the peer's
 * secret), and MESSAGE / NOTIFY / out-of-dialog INFO from peers.
 *
 * DESIGN
 *  - A peer is a refcounted object. The tables hold one reference; calls
 *    hold one through their struct sip_peer_use until the call ends.
 *  - Owner callbacks run on the loop thread only. peer_add and peer_remove
 *    do their work on the loop (sip_loop_run), so once peer_remove returns
 *    no callback of that peer runs or will run: its owner may unload.
 *  - peer_lock guards the tables and each peer's mutable fields (state,
 *    registered contact); it is never held while an owner callback runs.
 *  - Host names. A peer's host and its registrar may be DNS names. They are
 *    looked up with getaddrinfo (A and AAAA; IPv4 addresses first) on a
 *    worker thread, never on the loop; the result comes back to the loop
 *    (octo_loop_call), which indexes every address of the host (incoming
 *    requests from any of them belong to the peer; the registrar's too),
 *    sends calls to the first one, and starts the registration or qualify
 *    once everything is resolved. Until then the peer is "Resolving", or
 *    "Unresolved (name: reason)" after a failed lookup, and calls to it
 *    fail (ENOTFOUND). Names are looked up again every dns_refresh seconds
 *    (30 s after a failure) and at once when a registration fails; a
 *    failed refresh keeps the addresses found before. The job holds a
 *    reference on the peer; a removed peer ignores its result.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/sip.h"
#include "octo/users.h"
#include "sip.h"
#include "sip_peer.h"

#define PEER_BUCKETS 256
#define PEER_NAME_MAX 64
#define PEER_NETS_MAX 32
#define PEER_PROVIDERS_MAX 16
#define PEER_DYN_MAX_EXPIRY 3600
#define PEER_DYN_MIN_EXPIRY 30
#define PEER_MESSAGE_MAX 4096
#define PEER_RES_MAX 8          /* addresses kept of a name */
#define PEER_DNS_REFRESH 300    /* s between lookups of a name (dns_refresh) */
#define PEER_DNS_RETRY 30       /* s after a failed lookup */
#define PEER_DNS_AGAIN_MS 10000 /* at most one lookup on failures in this time */

struct sip_peer {
	char *name, *kind, *username, *secret, *codecs, *from_user, *from_domain, *host_text;
	bool dynamic, called_from_to, qualify;
	struct sip_addr addr; /* static peers: where to send */
	char ip[64];          /* static peers: the indexed IP */
	struct octo_cidr nets[PEER_NETS_MAX];
	size_t nnets;
	char match_ips[PEER_NETS_MAX][64]; /* plain addresses of `match`: indexed */
	size_t nmatch_ips;
	const struct octo_sip_peer_ops *ops;
	void *data;
	struct octo_module *owner;
	bool removed; /* set on the loop: no callback any more */
	/* under peer_lock */
	char state[32], reason[128];
	char contact[256]; /* dynamic: the registered contact URI */
	struct sip_addr contact_addr;
	char contact_ip[64];       /* indexed while registered */
	int64_t contact_expires;   /* unix time */
	uint64_t expiry_timer;     /* loop only */
	struct sip_regout *regout; /* loop only */
	struct sip_qualify *qual;  /* loop only */
	/* host names (loop only, except where noted) */
	enum sip_tp tp;
	unsigned host_port; /* the host's port (5060 when none given) */
	char hostname[256]; /* the host when it is a DNS name, else "" */
	char *reg_text;     /* registrar as configured, "" = none */
	char reg_name[256]; /* the registrar's host when it is a DNS name */
	unsigned reg_port;  /* the registrar's port as given (0: 5060) */
	unsigned reg_expiry;
	unsigned dns_refresh;           /* s */
	struct sip_addr reg_addr;       /* a named registrar's address (under peer_lock) */
	char res_ips[PEER_RES_MAX][64]; /* indexed: the host name's addresses (peer_lock) */
	size_t nres;
	char reg_ips[PEER_RES_MAX][64]; /* indexed: the registrar name's addresses */
	size_t nreg_ips;
	uint64_t dns_timer, dns_last_ms;
	bool dns_busy, monitors_started;
	struct sip_peer *next_name, *next_user;
};

struct peer_ip {
	char ip[64];
	unsigned port;      /* the peer's port at that IP; 0: any (match lists) */
	struct sip_peer *p; /* borrowed: the name table's reference */
	struct peer_ip *next;
};

struct peer_net {
	struct octo_cidr net;
	struct sip_peer *p;
};

struct sip_peer_use {
	struct sip_peer *p;
	char line[32];
};

struct peer_provider {
	octo_sip_devices_fn fn;
	void *data;
	struct octo_module *owner;
};

static pthread_mutex_t peer_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sip_peer *peer_by_name[PEER_BUCKETS];
static struct sip_peer *peer_by_user[PEER_BUCKETS];
static struct peer_ip *peer_by_ip[PEER_BUCKETS];
static struct peer_net *peer_nets;
static size_t peer_nnets;
static size_t peer_count;

static pthread_rwlock_t prov_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct peer_provider prov[PEER_PROVIDERS_MAX];
static size_t nprov;

/* ---------------------------------------------------------------- tables */

static size_t peer_hash(const char *s)
{
	size_t h = 5381;

	for (; *s; s++)
		h = h * 33 + (unsigned char)tolower((unsigned char)*s);
	return h % PEER_BUCKETS;
}

static void peer_destroy(void *obj)
{
	struct sip_peer *p = obj;

	free(p->name);
	free(p->kind);
	free(p->username);
	free(p->secret);
	free(p->codecs);
	free(p->from_user);
	free(p->from_domain);
	free(p->host_text);
	free(p->reg_text);
}

/* Under peer_lock: the peer named `name`, borrowed, or NULL. */
static struct sip_peer *peer_find_locked(const char *name)
{
	for (struct sip_peer *p = peer_by_name[peer_hash(name)]; p; p = p->next_name)
		if (!strcasecmp(p->name, name))
			return p;
	return NULL;
}

/* Under peer_lock: the dynamic peer whose username is `user`, borrowed. */
static struct sip_peer *peer_find_user_locked(const char *user)
{
	for (struct sip_peer *p = peer_by_user[peer_hash(user)]; p; p = p->next_user)
		if (!strcmp(p->username, user))
			return p;
	return NULL;
}

/* Several peers may share an IP (gateways behind one address): requests
 * are told apart by IP and port first, then by IP (peer_match_locked).
 * `port` is the peer's port at that IP: a static peer's own address (and
 * the addresses of its host name) and a dynamic peer's registered contact
 * have one; `match` addresses and a registrar's take any (0). */
static void peer_ip_add_locked(const char *ip, unsigned port, struct sip_peer *p)
{
	struct peer_ip *e;
	size_t b = peer_hash(ip);

	for (e = peer_by_ip[b]; e; e = e->next)
		if (!strcmp(e->ip, ip) && (e->p == p || e->port == port)) {
			if (e->p != p)
				octo_log(OCTO_WARNING,
					 "SIP: peers %s and %s both come from %s port %u: "
					 "requests from there go to %s",
					 e->p->name, p->name, ip, port, e->p->name);
			return;
		}
	e = calloc(1, sizeof(*e));
	if (!e)
		return;
	octo_strlcpy(e->ip, ip, sizeof(e->ip));
	e->port = port;
	e->p = p;
	e->next = peer_by_ip[b];
	peer_by_ip[b] = e;
}

static void peer_ip_del_locked(const char *ip, struct sip_peer *p)
{
	for (struct peer_ip **pp = &peer_by_ip[peer_hash(ip)]; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->ip, ip) && (*pp)->p == p) {
			struct peer_ip *e = *pp;

			*pp = e->next;
			free(e);
			return;
		}
	}
}

/* Under peer_lock: the peer a source address belongs to, borrowed. */
static struct sip_peer *peer_match_locked(const struct sip_addr *src)
{
	char ip[64];
	struct peer_ip *any = NULL, *first = NULL;
	unsigned port = sip_addr_port(src);

	sip_addr_ip(src, ip, sizeof(ip));
	/* IP and port; else the IP's entry for any port; else the peer that
	 * came first at that IP (entries are added at the head) */
	for (struct peer_ip *e = peer_by_ip[peer_hash(ip)]; e; e = e->next) {
		if (strcmp(e->ip, ip))
			continue;
		if (e->port && e->port == port)
			return e->p;
		if (!e->port && !any)
			any = e;
		first = e;
	}
	if (any || first)
		return (any ? any : first)->p;
	/* networks: only peers with a `match` of whole networks are here */
	for (size_t i = 0; i < peer_nnets; i++)
		if (octo_cidr_contains(&peer_nets[i].net, (const struct sockaddr *)&src->sa))
			return peer_nets[i].p;
	return NULL;
}

/* A new reference on the peer of a request's source, or NULL. [any] */
static struct sip_peer *peer_match(const struct sip_addr *src)
{
	struct sip_peer *p;

	pthread_mutex_lock(&peer_lock);
	p = peer_match_locked(src);
	if (p)
		octo_obj_ref(p);
	pthread_mutex_unlock(&peer_lock);
	return p;
}

/* A new reference on the peer named `name`, or NULL. [any] */
static struct sip_peer *peer_get(const char *name)
{
	struct sip_peer *p;

	pthread_mutex_lock(&peer_lock);
	p = peer_find_locked(name);
	if (p)
		octo_obj_ref(p);
	pthread_mutex_unlock(&peer_lock);
	return p;
}

/* ---------------------------------------------------------------- state */

void sip_peer_set_state(struct sip_peer *p, const char *state, const char *reason)
{
	bool changed;

	pthread_mutex_lock(&peer_lock);
	/* a round-trip time is no change of state */
	changed = strcmp(p->state, state) ||
		  (strcmp(p->reason, reason ? reason : "") && strcmp(state, "Reachable"));
	octo_strlcpy(p->state, state, sizeof(p->state));
	octo_strlcpy(p->reason, reason ? reason : "", sizeof(p->reason));
	pthread_mutex_unlock(&peer_lock);
	if (!changed)
		return;
	octo_verbose(2, "SIP: peer %s: %s%s%s", p->name, state, reason && *reason ? ": " : "",
		     reason ? reason : "");
	if (!p->removed && p->ops->status)
		p->ops->status(p->data, state, reason ? reason : "");
}

/* ---------------------------------------------------------------- adding and removing */

static bool peer_valid_name(const char *s, size_t max)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++, n++)
		if (n + 1 >= max || !(isalnum((unsigned char)*s) || strchr("_.-+", *s)))
			return false;
	return true;
}

static bool peer_valid_text(const char *s, size_t max)
{
	size_t n = 0;

	if (!s)
		return true;
	for (; *s; s++, n++)
		if (n + 1 >= max || (unsigned char)*s <= ' ' || *s == '"' || *s == '<' ||
		    *s == '>' || *s == 0x7f)
			return false;
	return true;
}

static char *peer_dup(const char *s)
{
	return octo_strdup(s ? s : "");
}

struct peer_add_job {
	struct octo_module *owner;
	const struct octo_sip_peer_cfg *cfg;
	const struct octo_sip_peer_ops *ops;
	void *data;
	int rc;
};

/* Parses cfg->match into p's networks and plain addresses. */
static int peer_parse_match(struct sip_peer *p, const char *match)
{
	char buf[1024], *save = NULL;

	if (!match || !*match)
		return 0;
	if (strlen(match) >= sizeof(buf))
		return OCTO_EINVAL;
	octo_strlcpy(buf, match, sizeof(buf));
	for (char *tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		struct octo_cidr net;
		const char *err = octo_cidr_parse(tok, true, &net);

		if (err) {
			octo_log(OCTO_ERROR, "SIP: peer %s: match \"%.64s\": %s", p->name, tok,
				 err);
			return OCTO_EINVAL;
		}
		if (net.prefix == (net.family == AF_INET ? 32u : 128u)) {
			struct sip_addr a;

			if (p->nmatch_ips == PEER_NETS_MAX ||
			    sip_addr_set(&a, SIP_TP_UDP, tok, 5060) != 0)
				return OCTO_EINVAL;
			sip_addr_ip(&a, p->match_ips[p->nmatch_ips++], 64);
		} else {
			if (p->nnets == PEER_NETS_MAX)
				return OCTO_EINVAL;
			p->nets[p->nnets++] = net;
		}
	}
	return 0;
}

static bool peer_name_is_user(const char *name)
{
	const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, "chan_sip");
	struct octo_user *u;
	bool taken;

	if (!users)
		return false;
	u = users->find(name);
	taken = u != NULL;
	octo_obj_unref(u);
	octo_service_put(users, "chan_sip");
	return taken;
}

/* Starts the registration or qualify of p, once its names are resolved. */
static void peer_start_monitors(struct sip_peer *p)
{
	p->monitors_started = true;
	if (*p->reg_text) {
		struct sip_regout_cfg rc = { 0 };

		octo_strlcpy(rc.name, p->name, sizeof(rc.name));
		octo_strlcpy(rc.registrar, p->reg_text, sizeof(rc.registrar));
		rc.tp = p->tp;
		octo_strlcpy(rc.username, p->username, sizeof(rc.username));
		octo_strlcpy(rc.secret, p->secret, sizeof(rc.secret));
		octo_strlcpy(rc.domain, p->from_domain, sizeof(rc.domain));
		rc.expiry = p->reg_expiry ? p->reg_expiry : 3600;
		pthread_mutex_lock(&peer_lock);
		rc.dest = p->reg_addr;
		pthread_mutex_unlock(&peer_lock);
		p->regout = sip_regout_start(p, &rc);
	} else if (p->qualify && !p->dynamic) {
		p->qual = sip_peer_qualify_start(p, &p->addr, 60);
	}
}

/* The state a peer starts in once it can be reached. */
static const char *peer_first_state(const struct sip_peer *p)
{
	if (p->dynamic)
		return "Unregistered";
	return *p->reg_text ? "Registering" : p->qualify ? "Unknown" : "Unmonitored";
}

/* ---------------------------------------------------------------- host names (DNS) */

struct peer_dns_job {
	struct sip_peer *p; /* reference */
	enum sip_tp tp;
	char host[256], reg[256]; /* "" = not to look up */
	unsigned port, reg_port;
	struct sip_addr host_addrs[PEER_RES_MAX], reg_addrs[PEER_RES_MAX];
	size_t nhost, nreg;
	char host_err[128], reg_err[128];
};

static void peer_dns_start(struct sip_peer *p);

/* Looks `name` up (worker): up to `max` addresses, IPv4 first; 0 and the
 * reason in err when none. */
static size_t peer_dns_lookup(const char *name, enum sip_tp tp, unsigned port, struct sip_addr *out,
			      size_t max, char *err, size_t esize)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	size_t n = 0;
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = tp == SIP_TP_UDP ? SOCK_DGRAM : SOCK_STREAM;
	rc = getaddrinfo(name, NULL, &hints, &res);
	if (rc) {
		/* EAI_SYSTEM: no resolver configuration, say */
		octo_strlcpy(err, gai_strerror(rc), esize);
		return 0;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (const struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
			char ip[INET6_ADDRSTRLEN];
			const void *bin;
			bool dup = false;

			if (ai->ai_family != (pass ? AF_INET6 : AF_INET))
				continue;
			bin = ai->ai_family == AF_INET
				      ? (const void *)&((const struct sockaddr_in *)ai->ai_addr)
						->sin_addr
				      : (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)
						->sin6_addr;
			if (!inet_ntop(ai->ai_family, bin, ip, sizeof(ip)) ||
			    sip_addr_set(&out[n], tp, ip, port) != 0)
				continue;
			for (size_t i = 0; i < n && !dup; i++)
				dup = sip_addr_equal(&out[i], &out[n]);
			if (!dup)
				n++;
		}
	}
	freeaddrinfo(res);
	if (!n)
		octo_strlcpy(err, "no IPv4 or IPv6 address", esize);
	return n;
}

/* Under peer_lock: (un)indexes the addresses of p's names. Adding also
 * restores p's other entries that an address shared with them took away
 * (the host's own address first: it has the port). */
static void peer_dns_index_locked(struct sip_peer *p, bool add)
{
	unsigned port = sip_addr_port(&p->addr);

	if (!add) {
		for (size_t i = 0; i < p->nres; i++)
			peer_ip_del_locked(p->res_ips[i], p);
		for (size_t i = 0; i < p->nreg_ips; i++)
			peer_ip_del_locked(p->reg_ips[i], p);
		return;
	}
	if (!p->dynamic && !*p->hostname)
		peer_ip_add_locked(p->ip, port, p);
	for (size_t i = 0; i < p->nres; i++)
		peer_ip_add_locked(p->res_ips[i], port, p);
	for (size_t i = 0; i < p->nmatch_ips; i++)
		peer_ip_add_locked(p->match_ips[i], 0, p);
	for (size_t i = 0; i < p->nreg_ips; i++)
		peer_ip_add_locked(p->reg_ips[i], 0, p);
}

static unsigned peer_dns_timer_cb(void *data)
{
	struct sip_peer *p = data;

	p->dns_timer = 0;
	if (!p->removed)
		peer_dns_start(p);
	octo_obj_unref(p); /* the timer's */
	return 0;
}

static void peer_dns_schedule(struct sip_peer *p, unsigned secs)
{
	if (p->dns_timer && octo_timer_cancel(p->dns_timer))
		octo_obj_unref(p);
	p->dns_timer = octo_timer_add(secs * 1000u, peer_dns_timer_cb, octo_obj_ref(p));
	if (!p->dns_timer)
		octo_obj_unref(p);
}

/* On the loop: a lookup's result. */
static void peer_dns_done(void *data)
{
	struct peer_dns_job *j = data;
	struct sip_peer *p = j->p;
	char reason[400] = "", ip[64];
	bool have_host, have_reg, host_changed = false;
	unsigned retry;

	p->dns_busy = false;
	if (p->removed)
		goto out;
	pthread_mutex_lock(&peer_lock);
	peer_dns_index_locked(p, false);
	if (*j->host && j->nhost) {
		host_changed = !p->addr.len || !sip_addr_equal(&p->addr, &j->host_addrs[0]);
		p->addr = j->host_addrs[0];
		sip_addr_ip(&p->addr, p->ip, sizeof(p->ip));
		p->nres = 0;
		for (size_t i = 0; i < j->nhost; i++)
			sip_addr_ip(&j->host_addrs[i], p->res_ips[p->nres++],
				    sizeof(p->res_ips[0]));
	}
	if (*j->reg && j->nreg) {
		p->reg_addr = j->reg_addrs[0];
		p->nreg_ips = 0;
		for (size_t i = 0; i < j->nreg; i++)
			sip_addr_ip(&j->reg_addrs[i], p->reg_ips[p->nreg_ips++],
				    sizeof(p->reg_ips[0]));
	}
	peer_dns_index_locked(p, true);
	have_host = !*p->hostname || p->addr.len;
	have_reg = !*p->reg_name || p->reg_addr.len;
	pthread_mutex_unlock(&peer_lock);
	if (*j->host && !j->nhost)
		snprintf(reason, sizeof(reason), "%.200s: %.120s", j->host, j->host_err);
	if (*j->reg && !j->nreg)
		snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
			 "%s%.200s: %.120s", *reason ? "; " : "", j->reg, j->reg_err);
	retry = p->dns_refresh < PEER_DNS_RETRY ? p->dns_refresh : PEER_DNS_RETRY;
	if (!have_host || !have_reg) {
		octo_log(OCTO_WARNING, "SIP: peer %s: cannot resolve %s (again in %u s)", p->name,
			 reason, retry);
		sip_peer_set_state(p, "Unresolved", reason);
		peer_dns_schedule(p, retry);
		goto out;
	}
	if (*reason)
		octo_log(OCTO_WARNING,
			 "SIP: peer %s: cannot resolve %s: the addresses found before stay "
			 "(again in %u s)",
			 p->name, reason, retry);
	if (host_changed)
		octo_verbose(2, "SIP: peer %s: %s is %s", p->name, p->hostname,
			     sip_addr_ip(&p->addr, ip, sizeof(ip)));
	if (!p->monitors_started) {
		sip_peer_set_state(p, peer_first_state(p), "");
		peer_start_monitors(p);
	} else {
		if (p->regout && *p->reg_name)
			sip_regout_set_dest(p->regout, &p->reg_addr);
		if (p->qual && host_changed) {
			sip_peer_qualify_stop(p->qual);
			p->qual = sip_peer_qualify_start(p, &p->addr, 60);
		}
	}
	peer_dns_schedule(p, *reason ? retry : p->dns_refresh);
out:
	octo_obj_unref(p);
	free(j);
}

/* On a worker: the lookups. */
static void peer_dns_work(void *data)
{
	struct peer_dns_job *j = data;

	if (*j->host)
		j->nhost = peer_dns_lookup(j->host, j->tp, j->port, j->host_addrs, PEER_RES_MAX,
					   j->host_err, sizeof(j->host_err));
	if (*j->reg)
		j->nreg = peer_dns_lookup(j->reg, j->tp, j->reg_port, j->reg_addrs, PEER_RES_MAX,
					  j->reg_err, sizeof(j->reg_err));
	if (octo_loop_call(peer_dns_done, j) != 0) {
		octo_obj_unref(j->p); /* the loop is gone */
		free(j);
	}
}

/* [loop] Starts a lookup of p's names unless one runs. */
static void peer_dns_start(struct sip_peer *p)
{
	struct peer_dns_job *j;

	if (p->dns_busy || p->removed || (!*p->hostname && !*p->reg_name))
		return;
	j = calloc(1, sizeof(*j));
	if (!j) {
		peer_dns_schedule(p, PEER_DNS_RETRY);
		return;
	}
	j->p = octo_obj_ref(p);
	j->tp = p->tp;
	octo_strlcpy(j->host, p->hostname, sizeof(j->host));
	j->port = p->host_port;
	octo_strlcpy(j->reg, p->reg_name, sizeof(j->reg));
	j->reg_port = p->reg_port ? p->reg_port : 5060;
	p->dns_busy = true;
	p->dns_last_ms = octo_now_ms();
	if (octo_work_push(peer_dns_work, j) != 0) {
		p->dns_busy = false;
		octo_obj_unref(p);
		free(j);
		peer_dns_schedule(p, PEER_DNS_RETRY);
	}
}

void sip_peer_dns_again(struct sip_peer *p)
{
	if (!p || p->removed || p->dns_busy || (!*p->hostname && !*p->reg_name) ||
	    octo_now_ms() - p->dns_last_ms < PEER_DNS_AGAIN_MS)
		return;
	peer_dns_start(p);
}

static void peer_add_loop(void *data)
{
	struct peer_add_job *j = data;
	const struct octo_sip_peer_cfg *cfg = j->cfg;
	struct sip_peer *p;
	int tp = SIP_TP_UDP;
	bool reg = cfg->registrar && *cfg->registrar;

	j->rc = OCTO_EINVAL;
	if (!peer_valid_name(cfg->name, PEER_NAME_MAX)) {
		octo_log(OCTO_ERROR, "SIP: a peer name must be 1..63 letters, digits, _ . - +");
		return;
	}
	if (!cfg->host || !*cfg->host || cfg->port > 65535 || strlen(cfg->host) > 253) {
		octo_log(OCTO_ERROR, "SIP: peer %s: no host, or port %u out of range", cfg->name,
			 cfg->port);
		return;
	}
	if (cfg->transport && *cfg->transport && (tp = sip_tp_parse(cfg->transport)) < 0) {
		octo_log(OCTO_ERROR, "SIP: peer %s: unknown transport \"%.16s\"", cfg->name,
			 cfg->transport);
		return;
	}
	if (!peer_valid_text(cfg->username, 64) || !peer_valid_text(cfg->from_user, 72) ||
	    !peer_valid_text(cfg->from_domain, 128) || !peer_valid_text(cfg->codecs, 64) ||
	    (cfg->secret && strlen(cfg->secret) >= 128)) {
		octo_log(OCTO_ERROR,
			 "SIP: peer %s: username, secret, from_user, from_domain or "
			 "codecs too long or with blanks, quotes or <>",
			 cfg->name);
		return;
	}
	p = octo_obj_alloc(sizeof(*p), peer_destroy);
	if (!p) {
		j->rc = OCTO_ENOMEM;
		return;
	}
	p->name = peer_dup(cfg->name);
	p->kind = peer_dup(cfg->kind && *cfg->kind ? cfg->kind : "peer");
	p->username = peer_dup(cfg->username);
	p->secret = peer_dup(cfg->secret);
	p->codecs = peer_dup(cfg->codecs);
	p->from_user = peer_dup(cfg->from_user);
	p->from_domain = peer_dup(cfg->from_domain);
	p->host_text = peer_dup(cfg->host);
	p->reg_text = peer_dup(reg ? cfg->registrar : "");
	if (!p->name || !p->kind || !p->username || !p->secret || !p->codecs || !p->from_user ||
	    !p->from_domain || !p->host_text || !p->reg_text) {
		j->rc = OCTO_ENOMEM;
		goto fail;
	}
	p->called_from_to = cfg->called_from_to;
	p->qualify = cfg->qualify;
	p->ops = j->ops;
	p->data = j->data;
	p->dynamic = !strcasecmp(cfg->host, "dynamic");
	p->tp = (enum sip_tp)tp;
	p->host_port = cfg->port ? cfg->port : 5060;
	p->reg_expiry = cfg->register_expiry;
	p->dns_refresh = cfg->dns_refresh ? cfg->dns_refresh : PEER_DNS_REFRESH;
	if (reg) {
		bool named = false;

		if (sip_peer_split_hostport(p->reg_text, p->reg_name, sizeof(p->reg_name),
					    &p->reg_port, &named) != 0) {
			octo_log(OCTO_ERROR,
				 "SIP: peer %s: registrar \"%.64s\" is not an IP address or a "
				 "host name, with an optional :port",
				 p->name, p->reg_text);
			goto fail;
		}
		if (!named)
			p->reg_name[0] = '\0';
	}
	if (p->dynamic) {
		if (!*p->username || !*p->secret) {
			octo_log(OCTO_ERROR,
				 "SIP: peer %s: a dynamic peer needs a username and a "
				 "secret",
				 p->name);
			goto fail;
		}
		octo_strlcpy(p->state, "Unregistered", sizeof(p->state));
	} else {
		if (sip_addr_set(&p->addr, (enum sip_tp)tp, cfg->host, p->host_port) == 0) {
			sip_addr_ip(&p->addr, p->ip, sizeof(p->ip));
		} else if (sip_peer_valid_hostname(cfg->host)) {
			octo_strlcpy(p->hostname, cfg->host, sizeof(p->hostname));
		} else {
			octo_log(OCTO_ERROR,
				 "SIP: peer %s: host \"%.64s\" is not an IP address or a host "
				 "name",
				 p->name, cfg->host);
			goto fail;
		}
		octo_strlcpy(p->state, peer_first_state(p), sizeof(p->state));
	}
	if (*p->hostname || *p->reg_name) {
		octo_strlcpy(p->state, "Resolving", sizeof(p->state));
		snprintf(p->reason, sizeof(p->reason), "%.60s%s%.60s", p->hostname,
			 *p->hostname && *p->reg_name ? ", " : "", p->reg_name);
	}
	if (peer_parse_match(p, cfg->match) != 0) {
		octo_log(OCTO_ERROR, "SIP: peer %s: bad match list \"%.128s\"", p->name,
			 cfg->match);
		goto fail;
	}
	if (peer_name_is_user(p->name) || (p->dynamic && peer_name_is_user(p->username))) {
		octo_log(OCTO_ERROR, "SIP: peer %s: the %s is a user's", p->name,
			 peer_name_is_user(p->name) ? "name" : "username");
		j->rc = OCTO_EEXIST;
		goto fail;
	}
	pthread_mutex_lock(&peer_lock);
	if (peer_find_locked(p->name) || (p->dynamic && peer_find_user_locked(p->username))) {
		pthread_mutex_unlock(&peer_lock);
		octo_log(OCTO_ERROR, "SIP: peer %s: the name%s is taken by another peer", p->name,
			 p->dynamic ? " or the username" : "");
		j->rc = OCTO_EEXIST;
		goto fail;
	}
	if (p->nnets) {
		struct peer_net *n = realloc(peer_nets, (peer_nnets + p->nnets) * sizeof(*n));

		if (!n) {
			pthread_mutex_unlock(&peer_lock);
			j->rc = OCTO_ENOMEM;
			goto fail;
		}
		peer_nets = n;
		for (size_t i = 0; i < p->nnets; i++) {
			peer_nets[peer_nnets].net = p->nets[i];
			peer_nets[peer_nnets++].p = p;
		}
	}
	{
		size_t b = peer_hash(p->name);

		p->next_name = peer_by_name[b];
		peer_by_name[b] = p; /* the allocation's reference */
	}
	if (p->dynamic) {
		size_t b = peer_hash(p->username);

		p->next_user = peer_by_user[b];
		peer_by_user[b] = p;
	} else if (!*p->hostname) {
		peer_ip_add_locked(p->ip, sip_addr_port(&p->addr), p);
	}
	for (size_t i = 0; i < p->nmatch_ips; i++)
		peer_ip_add_locked(p->match_ips[i], 0, p);
	peer_count++;
	pthread_mutex_unlock(&peer_lock);
	p->owner = j->owner;
	if (p->owner)
		octo_module_ref(p->owner, "chan_sip peer");
	if (*p->hostname || *p->reg_name)
		peer_dns_start(p);
	else
		peer_start_monitors(p);
	octo_verbose(2, "SIP: peer %s (%s) added: %s", p->name, p->kind,
		     p->dynamic     ? "dynamic"
		     : *p->hostname ? p->hostname
				    : p->ip);
	j->rc = 0;
	return;

fail:
	octo_obj_unref(p);
}

static int peer_api_add(struct octo_module *owner, const struct octo_sip_peer_cfg *cfg,
			const struct octo_sip_peer_ops *ops, void *data)
{
	struct peer_add_job j = {
		.owner = owner, .cfg = cfg, .ops = ops, .data = data, .rc = OCTO_EFAIL
	};

	if (!cfg || !ops)
		return OCTO_EINVAL;
	if (sip_loop_run(peer_add_loop, &j) != 0)
		return OCTO_EFAIL;
	return j.rc;
}

/* Under peer_lock: unlinks p from every table (drops nothing). */
static void peer_unlink_locked(struct sip_peer *p)
{
	size_t w = 0;

	for (struct sip_peer **pp = &peer_by_name[peer_hash(p->name)]; *pp; pp = &(*pp)->next_name)
		if (*pp == p) {
			*pp = p->next_name;
			break;
		}
	if (p->dynamic)
		for (struct sip_peer **pp = &peer_by_user[peer_hash(p->username)]; *pp;
		     pp = &(*pp)->next_user)
			if (*pp == p) {
				*pp = p->next_user;
				break;
			}
	if (!p->dynamic && !*p->hostname)
		peer_ip_del_locked(p->ip, p);
	peer_dns_index_locked(p, false);
	if (*p->contact_ip)
		peer_ip_del_locked(p->contact_ip, p);
	for (size_t i = 0; i < p->nmatch_ips; i++)
		peer_ip_del_locked(p->match_ips[i], p);
	for (size_t i = 0; i < peer_nnets; i++)
		if (peer_nets[i].p != p)
			peer_nets[w++] = peer_nets[i];
	peer_nnets = w;
	peer_count--;
}

/* On the loop: stops what runs for a peer that leaves the table. */
static void peer_stop_loop(struct sip_peer *p)
{
	p->removed = true;
	if (p->expiry_timer && octo_timer_cancel(p->expiry_timer))
		octo_obj_unref(p); /* the timer's reference */
	p->expiry_timer = 0;
	if (p->dns_timer && octo_timer_cancel(p->dns_timer))
		octo_obj_unref(p); /* the timer's reference */
	p->dns_timer = 0;
	sip_regout_stop(p->regout);
	p->regout = NULL;
	sip_peer_qualify_stop(p->qual);
	p->qual = NULL;
}

static void peer_remove_loop(void *data)
{
	const char *name = data;
	struct sip_peer *p;

	pthread_mutex_lock(&peer_lock);
	p = peer_find_locked(name);
	if (p)
		peer_unlink_locked(p);
	pthread_mutex_unlock(&peer_lock);
	if (!p)
		return;
	peer_stop_loop(p);
	if (p->owner)
		octo_module_unref(p->owner, "chan_sip peer");
	p->owner = NULL;
	octo_verbose(2, "SIP: peer %s removed", p->name);
	octo_obj_unref(p);
}

static void peer_api_remove(const char *name)
{
	if (!name)
		return;
	if (sip_loop_run(peer_remove_loop, (void *)name) != 0)
		peer_remove_loop((void *)name); /* the loop is gone */
}

/* ---------------------------------------------------------------- dests and claims */

static bool peer_valid_number(const char *s)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++, n++)
		if (n >= 64 || !(isalnum((unsigned char)*s) || strchr("+*#._-", *s)))
			return false;
	return true;
}

static int peer_api_dest(const char *name, const char *line, const char *number, char *dest,
			 size_t size)
{
	int n;

	if (!peer_valid_name(name, PEER_NAME_MAX) || !peer_valid_number(number) || !dest || !size ||
	    (line && *line && !peer_valid_name(line, 32)))
		return OCTO_EINVAL;
	n = snprintf(dest, size, "%s@peer/%s/%s", name, line ? line : "", number);
	if (n < 0 || (size_t)n >= size) {
		*dest = '\0';
		return OCTO_EINVAL;
	}
	return 0;
}

bool sip_peer_is_dest(const char *dest)
{
	const char *at = dest ? strchr(dest, '@') : NULL;

	return at && !strncmp(at, "@peer/", 6) && strncasecmp(dest, "sip:", 4);
}

static struct sip_peer_use *peer_use_new(struct sip_peer *p, const char *line)
{
	struct sip_peer_use *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->p = octo_obj_ref(p);
	octo_strlcpy(u->line, line ? line : "", sizeof(u->line));
	return u;
}

static void peer_use_run(void *data)
{
	struct sip_peer_use *u = data;

	/* p->removed is set on the loop: a removed peer's owner may be gone */
	if (!u->p->removed && u->p->ops->released)
		u->p->ops->released(u->p->data, u->line);
	octo_obj_unref(u->p);
	free(u);
}

void sip_peer_use_release(struct sip_peer_use **use)
{
	struct sip_peer_use *u = use ? *use : NULL;

	if (!u)
		return;
	*use = NULL;
	if (octo_loop_is_current()) {
		peer_use_run(u);
	} else if (octo_loop_call(peer_use_run, u) != 0) {
		octo_obj_unref(u->p); /* the loop is gone: nobody to tell */
		free(u);
	}
}

int sip_peer_resolve(const char *dest, struct sip_peer_out *out)
{
	char name[PEER_NAME_MAX], line[32];
	const char *at = strchr(dest, '@'), *l, *num;
	struct sip_peer *p;
	size_t n;
	char host[260];

	memset(out, 0, sizeof(*out));
	snprintf(out->why, sizeof(out->why), "\"%.100s\" is not a peer destination", dest);
	if (!sip_peer_is_dest(dest))
		return OCTO_EINVAL;
	n = (size_t)(at - dest);
	l = at + 6;
	num = strchr(l, '/');
	if (!n || n >= sizeof(name) || !num || (size_t)(num - l) >= sizeof(line))
		return OCTO_EINVAL;
	memcpy(name, dest, n);
	name[n] = '\0';
	memcpy(line, l, (size_t)(num - l));
	line[num - l] = '\0';
	num++;
	if (!peer_valid_number(num))
		return OCTO_EINVAL;
	p = peer_get(name);
	if (!p) {
		snprintf(out->why, sizeof(out->why), "no SIP peer %.60s", name);
		return OCTO_ENOTFOUND;
	}
	pthread_mutex_lock(&peer_lock);
	if (p->dynamic) {
		if (!*p->contact) {
			snprintf(out->why, sizeof(out->why),
				 "peer %.60s (host dynamic) has not registered", name);
			pthread_mutex_unlock(&peer_lock);
			octo_obj_unref(p);
			return OCTO_ENOTFOUND;
		}
		out->to = p->contact_addr;
		sip_addr_hostport(&p->contact_addr, host, sizeof(host));
	} else {
		if (!p->addr.len) {
			/* a host name not resolved (yet) */
			snprintf(out->why, sizeof(out->why),
				 "the host name %.60s of peer %.60s is not resolved", p->hostname,
				 name);
			pthread_mutex_unlock(&peer_lock);
			octo_obj_unref(p);
			return OCTO_ENOTFOUND;
		}
		out->to = p->addr;
		sip_addr_hostport(&p->addr, host, sizeof(host));
		/* a provider known by name wants its name in the Request-URI */
		if (*p->hostname && p->host_port == 5060)
			octo_strlcpy(host, p->hostname, sizeof(host));
		else if (*p->hostname)
			snprintf(host, sizeof(host), "%.150s:%u", p->hostname, p->host_port);
	}
	pthread_mutex_unlock(&peer_lock);
	snprintf(out->ruri, sizeof(out->ruri), "sip:%s@%s%s", num, host,
		 out->to.tp == SIP_TP_TCP   ? ";transport=tcp"
		 : out->to.tp == SIP_TP_TLS ? ";transport=tls"
					    : "");
	octo_strlcpy(out->codecs, p->codecs, sizeof(out->codecs));
	octo_strlcpy(out->from_user, p->from_user, sizeof(out->from_user));
	octo_strlcpy(out->from_domain, p->from_domain, sizeof(out->from_domain));
	octo_strlcpy(out->number, num, sizeof(out->number));
	octo_strlcpy(out->peer, p->name, sizeof(out->peer));
	octo_strlcpy(out->username, p->username, sizeof(out->username));
	octo_strlcpy(out->secret, p->secret, sizeof(out->secret));
	/* a device of a user counts its line busy now, when the call is made
	 * (ops->claim); released() balances it through the use */
	if (!p->removed && p->ops->claim && p->ops->claim(p->data, line, num) != 0) {
		snprintf(out->why, sizeof(out->why), "line %.31s of peer %.60s is busy", line, name);
		octo_obj_unref(p);
		return OCTO_EBUSY;
	}
	out->use = peer_use_new(p, line);
	if (!out->use && !p->removed && p->ops->claim && p->ops->released)
		p->ops->released(p->data, line);
	octo_obj_unref(p);
	if (!out->use) {
		octo_strlcpy(out->why, "out of memory", sizeof(out->why));
		return OCTO_ENOMEM;
	}
	out->why[0] = '\0';
	return 0;
}

/* ---------------------------------------------------------------- digest auth of dynamic peers */

/* The username of the request's credentials for our realm ("" if none). */
static const char *peer_cred_user(const struct sip_msg *req, const char *realm, char *buf,
				  size_t size, osip_authorization_t **found)
{
	const osip_list_t *list = req->method == SIP_REGISTER ? &req->osip->authorizations
							      : &req->osip->proxy_authorizations;
	char rbuf[256];

	*found = NULL;
	for (int pos = 0; !osip_list_eol(list, pos); pos++) {
		osip_authorization_t *a = osip_list_get(list, pos);
		const char *r, *u;

		if (!a || !a->auth_type || strcasecmp(a->auth_type, "Digest"))
			continue;
		r = sip_auth_field(a->realm, rbuf, sizeof(rbuf), false);
		if (!r || strcmp(r, realm))
			continue;
		u = sip_auth_field(a->username, buf, size, false);
		if (!u)
			return "";
		*found = a;
		return u;
	}
	return "";
}

/* Checks the digest credentials of `req` against peer p's secret: true when
 * valid; else the challenge or the error is sent on txn. [loop] */
static bool peer_auth(struct sip_txn *txn, struct sip_msg *req, struct sip_peer *p)
{
	struct sip_cfg *cfg = sip_cfg_get();
	const struct sip_reg_conf *rc = cfg ? sip_cfg_part(cfg, &sip_reg_cfg_part) : NULL;
	char f_user[128], f_nonce[256], f_uri[512], f_resp[128], f_alg[32], f_cnonce[256];
	char f_qop[32], f_nc[32], src[SIP_ADDR_STRLEN];
	const char *user, *nonce, *uri, *resp, *alg_s, *cnonce, *qop, *nc;
	osip_authorization_t *a = NULL;
	bool ok = false;
	int alg;

	if (!rc || !rc->nalgs) {
		sip_txn_respond(txn, 503, NULL);
		goto out;
	}
	peer_cred_user(req, rc->realm, f_user, sizeof(f_user), &a);
	if (!a) {
		sip_auth_challenge(txn, req, rc, false);
		goto out;
	}
	user = sip_auth_field(a->username, f_user, sizeof(f_user), false);
	nonce = sip_auth_field(a->nonce, f_nonce, sizeof(f_nonce), false);
	uri = sip_auth_field(a->uri, f_uri, sizeof(f_uri), false);
	resp = sip_auth_field(a->response, f_resp, sizeof(f_resp), false);
	alg_s = sip_auth_field(a->algorithm, f_alg, sizeof(f_alg), false);
	cnonce = sip_auth_field(a->cnonce, f_cnonce, sizeof(f_cnonce), false);
	qop = sip_auth_field(a->message_qop, f_qop, sizeof(f_qop), false);
	nc = sip_auth_field(a->nonce_count, f_nc, sizeof(f_nc), false);
	if (!user || !nonce || !uri || !resp || !alg_s || !cnonce || !qop || !nc || !*nonce ||
	    !*uri || !*resp || (*qop && (strcasecmp(qop, "auth") || !*cnonce || !*nc))) {
		sip_txn_respond(txn, 400, "Malformed Credentials");
		goto out;
	}
	alg = *alg_s ? sip_digest_alg_parse(alg_s) : SIP_DIGEST_MD5;
	if (alg < 0 || strcmp(user, p->username)) {
		sip_auth_challenge(txn, req, rc, false);
		goto out;
	}
	ok = sip_digest_verify((enum sip_digest_alg)alg, user, rc->realm, p->secret,
			       sip_msg_method_name(req), uri, nonce, nc, cnonce, qop, resp);
	if (!ok) {
		sip_addr_str(&req->src, src, sizeof(src));
		octo_log(OCTO_NOTICE, "SIP: %s from %s: wrong credentials for peer %s",
			 sip_msg_method_name(req), src, p->name);
		sip_sec_failure((const struct sockaddr *)&req->src.sa, user);
		sip_auth_challenge(txn, req, rc, false);
		goto out;
	}
	if (sip_nonce_check(nonce, rc->nonce_lifetime) != SIP_NONCE_OK ||
	    (*qop && !sip_nonce_count_ok(nonce, strtoul(nc, NULL, 16), rc->nonce_lifetime))) {
		ok = false;
		sip_auth_challenge(txn, req, rc, true);
	}
out:
	octo_obj_unref(cfg);
	return ok;
}

/* ---------------------------------------------------------------- dynamic peers registering */

static void peer_contact_clear_locked(struct sip_peer *p)
{
	if (*p->contact_ip)
		peer_ip_del_locked(p->contact_ip, p);
	p->contact_ip[0] = '\0';
	p->contact[0] = '\0';
	p->contact_expires = 0;
}

static unsigned peer_expiry_cb(void *data)
{
	struct sip_peer *p = data;

	p->expiry_timer = 0;
	pthread_mutex_lock(&peer_lock);
	peer_contact_clear_locked(p);
	pthread_mutex_unlock(&peer_lock);
	sip_peer_set_state(p, "Unregistered", "registration expired");
	octo_obj_unref(p);
	return 0;
}

bool sip_peer_on_register(struct sip_txn *txn, struct sip_msg *req)
{
	const char *to_user = req->osip->to && req->osip->to->url ? req->osip->to->url->username
								  : NULL;
	struct sip_peer *p;
	osip_contact_t *ct;
	char *uri = NULL, buf[64], reason[300];
	unsigned expires = PEER_DYN_MAX_EXPIRY;
	const char *h;
	struct sip_msg *r;

	if (!to_user)
		return false;
	pthread_mutex_lock(&peer_lock);
	p = peer_find_user_locked(to_user);
	if (p)
		octo_obj_ref(p);
	pthread_mutex_unlock(&peer_lock);
	if (!p)
		return false;
	if (!peer_auth(txn, req, p))
		goto out;
	h = sip_msg_header(req, "Expires");
	if (h)
		expires = (unsigned)strtoul(h, NULL, 10);
	ct = osip_list_get(&req->osip->contacts, 0);
	if (!ct) {
		/* a query: the binding as it is */
		r = sip_txn_response(txn, 200, NULL);
		pthread_mutex_lock(&peer_lock);
		if (r && *p->contact) {
			int64_t left = p->contact_expires - (int64_t)time(NULL);
			char v[400];

			snprintf(v, sizeof(v), "<%s>;expires=%lld", p->contact,
				 (long long)(left > 0 ? left : 0));
			sip_msg_add_header(r, "Contact", v);
		}
		pthread_mutex_unlock(&peer_lock);
		if (r)
			sip_txn_send(txn, r);
		goto out;
	}
	if (ct->url) {
		osip_generic_param_t *gp = NULL;

		if (osip_contact_param_get_byname(ct, "expires", &gp) == 0 && gp && gp->gvalue)
			expires = (unsigned)strtoul(gp->gvalue, NULL, 10);
	} else {
		expires = 0; /* Contact: * */
	}
	if (expires > PEER_DYN_MAX_EXPIRY)
		expires = PEER_DYN_MAX_EXPIRY;
	if (expires && expires < PEER_DYN_MIN_EXPIRY)
		expires = PEER_DYN_MIN_EXPIRY;
	if (ct && ct->url && expires &&
	    (osip_uri_to_str(ct->url, &uri) != 0 || !uri || strlen(uri) >= sizeof(p->contact))) {
		osip_free(uri);
		sip_txn_respond(txn, 400, "Bad Contact");
		goto out;
	}
	if (p->expiry_timer && octo_timer_cancel(p->expiry_timer))
		octo_obj_unref(p); /* the timer's reference */
	p->expiry_timer = 0;
	pthread_mutex_lock(&peer_lock);
	peer_contact_clear_locked(p);
	if (expires && uri) {
		octo_strlcpy(p->contact, uri, sizeof(p->contact));
		p->contact_addr = req->src;
		sip_addr_ip(&req->src, p->contact_ip, sizeof(p->contact_ip));
		peer_ip_add_locked(p->contact_ip, sip_addr_port(&p->contact_addr), p);
		p->contact_expires = (int64_t)time(NULL) + expires;
	}
	pthread_mutex_unlock(&peer_lock);
	r = sip_txn_response(txn, 200, NULL);
	if (r) {
		if (expires && uri) {
			char v[400];

			snprintf(v, sizeof(v), "<%s>;expires=%u", uri, expires);
			sip_msg_add_header(r, "Contact", v);
		}
		snprintf(buf, sizeof(buf), "%u", expires);
		sip_msg_add_header(r, "Expires", buf);
		sip_txn_send(txn, r);
	}
	if (expires && uri) {
		p->expiry_timer = octo_timer_add(expires * 1000u, peer_expiry_cb, octo_obj_ref(p));
		if (!p->expiry_timer)
			octo_obj_unref(p);
		snprintf(reason, sizeof(reason), "contact %.250s", uri);
		sip_peer_set_state(p, "Registered", reason);
	} else {
		sip_peer_set_state(p, "Unregistered", "unregistered by the peer");
	}
	osip_free(uri);
out:
	octo_obj_unref(p);
	return true;
}

/* ---------------------------------------------------------------- incoming INVITE */

static void peer_user_of(const osip_uri_t *u, char *out, size_t size)
{
	char buf[128];
	size_t n = 0;

	*out = '\0';
	if (!u)
		return;
	sip_uri_user(u, buf, sizeof(buf));
	for (const char *s = buf; *s && n + 1 < size && n < 64; s++) {
		if (!(isalnum((unsigned char)*s) || strchr("+*#._-", *s)))
			break;
		out[n++] = *s;
	}
	out[n] = '\0';
}

/* The caller's number: P-Asserted-Identity when present, else From. */
static void peer_caller_of(const struct sip_msg *req, char *num, size_t nsize, char *name,
			   size_t size)
{
	const char *pai = sip_msg_header(req, "P-Asserted-Identity");
	osip_from_t *f = req->osip->from;

	*name = '\0';
	*num = '\0';
	if (pai) {
		osip_from_t *pf = NULL;

		if (osip_from_init(&pf) == 0 && osip_from_parse(pf, pai) == 0 && pf->url)
			peer_user_of(pf->url, num, nsize);
		osip_from_free(pf);
	}
	if (!*num && f && f->url)
		peer_user_of(f->url, num, nsize);
	if (f && f->displayname) {
		size_t n = 0;
		const char *s = f->displayname;

		if (*s == '"')
			s++;
		for (; *s && *s != '"' && n + 1 < size; s++)
			name[n++] = (unsigned char)*s < ' ' ? ' ' : *s;
		name[n] = '\0';
	}
}

enum sip_peer_verdict sip_peer_invite(struct sip_txn *txn, struct sip_msg *req,
				      struct sip_peer_in *in)
{
	struct octo_sip_incoming inc;
	char ruri_user[72], to_user[72], caller[72], cname[72], src[SIP_ADDR_STRLEN];
	struct sip_peer *p = peer_match(&req->src);

	memset(in, 0, sizeof(*in));
	if (!p) {
		/* a dynamic peer calling from elsewhere: by its digest user */
		struct sip_cfg *cfg = sip_cfg_get();
		const struct sip_reg_conf *rc = cfg ? sip_cfg_part(cfg, &sip_reg_cfg_part) : NULL;
		osip_authorization_t *a = NULL;
		char ubuf[128];
		const char *u = rc ? peer_cred_user(req, rc->realm, ubuf, sizeof(ubuf), &a) : "";
		const char *fu = req->osip->from && req->osip->from->url
					 ? req->osip->from->url->username
					 : NULL;

		pthread_mutex_lock(&peer_lock);
		p = *u ? peer_find_user_locked(u) : NULL;
		if (!p && fu && peer_count)
			p = peer_find_user_locked(fu);
		if (p)
			octo_obj_ref(p);
		pthread_mutex_unlock(&peer_lock);
		octo_obj_unref(cfg);
		if (!p)
			return SIP_PEER_NONE;
		if (!peer_auth(txn, req, p)) {
			octo_obj_unref(p);
			return SIP_PEER_HANDLED;
		}
	}
	sip_addr_str(&req->src, src, sizeof(src));
	peer_user_of(req->osip->req_uri, ruri_user, sizeof(ruri_user));
	peer_user_of(req->osip->to ? req->osip->to->url : NULL, to_user, sizeof(to_user));
	peer_caller_of(req, caller, sizeof(caller), cname, sizeof(cname));
	inc.peer = p->name;
	inc.called = p->called_from_to || !*ruri_user ? to_user : ruri_user;
	inc.ruri_user = ruri_user;
	inc.to_user = to_user;
	inc.caller = caller;
	inc.caller_name = cname;
	inc.src = src;
	if (p->ops->incoming && !p->removed)
		p->ops->incoming(p->data, &inc, &in->route);
	else
		in->route.status = 503;
	if (in->route.status) {
		int st = in->route.status >= 300 && in->route.status < 700 ? in->route.status : 503;

		octo_verbose(2, "SIP: INVITE from peer %s (%s) for %s refused: %d", p->name, src,
			     inc.called, st);
		sip_txn_respond(txn, st, NULL);
		octo_obj_unref(p);
		return SIP_PEER_HANDLED;
	}
	/* the defaults of struct octo_sip_route */
	if (!*in->route.called)
		octo_strlcpy(in->route.called, inc.called, sizeof(in->route.called));
	if (!*in->route.caller)
		octo_strlcpy(in->route.caller, caller, sizeof(in->route.caller));
	if (!*in->route.caller_name)
		octo_strlcpy(in->route.caller_name, cname, sizeof(in->route.caller_name));
	if (!*in->route.procedure)
		octo_strlcpy(in->route.procedure, "main", sizeof(in->route.procedure));
	if (!*in->route.label)
		octo_strlcpy(in->route.label, p->name, sizeof(in->route.label));
	/* the owner's strings are copied bounded, but not checked: make them
	 * safe for channel names and numbers */
	for (char *s = in->route.label; *s; s++)
		if (!(isalnum((unsigned char)*s) || strchr("+*#._-", *s)))
			*s = '_';
	in->route.called[sizeof(in->route.called) - 1] = '\0';
	in->route.caller[sizeof(in->route.caller) - 1] = '\0';
	in->route.caller_name[sizeof(in->route.caller_name) - 1] = '\0';
	in->route.procedure[sizeof(in->route.procedure) - 1] = '\0';
	in->route.line[sizeof(in->route.line) - 1] = '\0';
	in->route.trunk[sizeof(in->route.trunk) - 1] = '\0';
	octo_strlcpy(in->codecs, p->codecs, sizeof(in->codecs));
	octo_strlcpy(in->peer, p->name, sizeof(in->peer));
	octo_strlcpy(in->caller_e164, in->route.caller, sizeof(in->caller_e164));
	in->use = peer_use_new(p, in->route.line);
	octo_obj_unref(p);
	if (!in->use) {
		sip_txn_respond(txn, 500, NULL);
		return SIP_PEER_HANDLED;
	}
	return SIP_PEER_ROUTED;
}

/* ---------------------------------------------------------------- devices providers */

static int peer_api_devices_add(struct octo_module *owner, octo_sip_devices_fn fn, void *data)
{
	int rc = 0;

	if (!fn)
		return OCTO_EINVAL;
	pthread_rwlock_wrlock(&prov_lock);
	for (size_t i = 0; i < nprov; i++)
		if (prov[i].fn == fn && prov[i].data == data)
			rc = OCTO_EEXIST;
	if (!rc && nprov == PEER_PROVIDERS_MAX)
		rc = OCTO_EBUSY;
	if (!rc) {
		prov[nprov].fn = fn;
		prov[nprov].data = data;
		prov[nprov].owner = owner;
		nprov++;
		if (owner)
			octo_module_ref(owner, "chan_sip devices");
	}
	pthread_rwlock_unlock(&prov_lock);
	return rc;
}

static void peer_api_devices_remove(octo_sip_devices_fn fn, void *data)
{
	struct octo_module *owner = NULL;
	bool found = false;

	/* the write lock waits for devices() calls in progress */
	pthread_rwlock_wrlock(&prov_lock);
	for (size_t i = 0; i < nprov; i++) {
		if (prov[i].fn == fn && prov[i].data == data) {
			owner = prov[i].owner;
			found = true;
			memmove(&prov[i], &prov[i + 1], (nprov - i - 1) * sizeof(prov[0]));
			nprov--;
			break;
		}
	}
	pthread_rwlock_unlock(&prov_lock);
	if (found && owner)
		octo_module_unref(owner, "chan_sip devices");
}

int sip_peer_devices(const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int have, int max)
{
	int n = have < 0 ? 0 : have;

	pthread_rwlock_rdlock(&prov_lock);
	for (size_t i = 0; i < nprov && n < max; i++) {
		int got = prov[i].fn(prov[i].data, user, dests + n, max - n);

		if (got > 0)
			n += got > max - n ? max - n : got;
	}
	pthread_rwlock_unlock(&prov_lock);
	for (int i = have < 0 ? 0 : have; i < n; i++)
		dests[i][OCTO_CHAN_DEST_MAX - 1] = '\0';
	return n;
}

/* ---------------------------------------------------------------- state and rows */

static int peer_api_state(const char *name, char *state, size_t state_size, char *contact,
			  size_t contact_size)
{
	struct sip_peer *p;

	if (!name)
		return OCTO_ENOTFOUND;
	pthread_mutex_lock(&peer_lock);
	p = peer_find_locked(name);
	if (p) {
		if (state && state_size) {
			if (*p->reason)
				snprintf(state, state_size, "%s (%s)", p->state, p->reason);
			else
				octo_strlcpy(state, p->state, state_size);
		}
		if (contact && contact_size)
			octo_strlcpy(contact, p->contact, contact_size);
	}
	pthread_mutex_unlock(&peer_lock);
	return p ? 0 : OCTO_ENOTFOUND;
}

static int peer_row_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct sip_peer_row *)a)->name,
			  ((const struct sip_peer_row *)b)->name);
}

size_t sip_peer_rows(struct sip_peer_row **out)
{
	struct sip_peer_row *rows;
	size_t n = 0;

	*out = NULL;
	pthread_mutex_lock(&peer_lock);
	rows = peer_count ? calloc(peer_count, sizeof(*rows)) : NULL;
	for (size_t b = 0; rows && b < PEER_BUCKETS; b++) {
		for (struct sip_peer *p = peer_by_name[b]; p && n < peer_count; p = p->next_name) {
			struct sip_peer_row *r = &rows[n++];
			char hp[SIP_ADDR_STRLEN];

			octo_strlcpy(r->name, p->name, sizeof(r->name));
			octo_strlcpy(r->kind, p->kind, sizeof(r->kind));
			if (*p->hostname && p->addr.len)
				snprintf(r->host, sizeof(r->host), "%.40s (%s)", p->hostname,
					 sip_addr_hostport(&p->addr, hp, sizeof(hp)));
			else if (*p->hostname)
				snprintf(r->host, sizeof(r->host), "%.60s (unresolved)",
					 p->hostname);
			else if (!p->dynamic)
				sip_addr_hostport(&p->addr, r->host, sizeof(r->host));
			else if (p->contact_addr.len && *p->contact)
				snprintf(r->host, sizeof(r->host), "dynamic (%s)",
					 sip_addr_hostport(&p->contact_addr, hp, sizeof(hp)));
			else
				octo_strlcpy(r->host, "dynamic", sizeof(r->host));
			octo_strlcpy(r->state, p->state, sizeof(r->state));
			octo_strlcpy(r->reason, p->reason, sizeof(r->reason));
		}
	}
	pthread_mutex_unlock(&peer_lock);
	if (n)
		qsort(rows, n, sizeof(*rows), peer_row_cmp);
	else {
		free(rows);
		rows = NULL;
	}
	*out = rows;
	return n;
}

/* ---------------------------------------------------------------- MESSAGE, NOTIFY, INFO */

/* The peer of an out-of-dialog request: by source, else a dynamic peer by
 * its From user (authenticated). NULL when none or answered already
 * (*answered). [loop] */
static struct sip_peer *peer_of_request(struct sip_txn *txn, struct sip_msg *req, bool *answered)
{
	struct sip_peer *p = peer_match(&req->src);
	const char *fu;

	*answered = false;
	if (p)
		return p;
	fu = req->osip->from && req->osip->from->url ? req->osip->from->url->username : NULL;
	if (!fu)
		return NULL;
	pthread_mutex_lock(&peer_lock);
	p = peer_find_user_locked(fu);
	if (p)
		octo_obj_ref(p);
	pthread_mutex_unlock(&peer_lock);
	if (p && !peer_auth(txn, req, p)) {
		*answered = true;
		octo_obj_unref(p);
		return NULL;
	}
	return p;
}

static void peer_on_message(struct sip_txn *txn, struct sip_msg *req)
{
	bool answered = false;
	struct sip_peer *p = sip_msg_to_tag(req) ? NULL : peer_of_request(txn, req, &answered);
	char from[72], to[72], ctype[128] = "text/plain";
	const char *body;
	size_t len = 0;
	int st;

	if (!p) {
		if (!sip_msg_to_tag(req) && answered)
			return;
		sip_txn_respond(txn, 405, NULL);
		return;
	}
	if (!p->ops->message || p->removed) {
		sip_txn_respond(txn, 405, NULL);
		octo_obj_unref(p);
		return;
	}
	body = sip_msg_body(req, &len);
	if (len > PEER_MESSAGE_MAX) {
		sip_txn_respond(txn, 413, NULL);
		octo_obj_unref(p);
		return;
	}
	if (req->osip->content_type && req->osip->content_type->type)
		snprintf(ctype, sizeof(ctype), "%.60s/%.60s", req->osip->content_type->type,
			 req->osip->content_type->subtype ? req->osip->content_type->subtype : "");
	peer_user_of(req->osip->from ? req->osip->from->url : NULL, from, sizeof(from));
	peer_user_of(req->osip->to ? req->osip->to->url : NULL, to, sizeof(to));
	{
		/* the owner gets a NUL-terminated copy */
		char *copy = malloc(len + 1);

		if (!copy) {
			sip_txn_respond(txn, 500, NULL);
			octo_obj_unref(p);
			return;
		}
		if (len)
			memcpy(copy, body, len);
		copy[len] = '\0';
		st = p->ops->message(p->data, from, to, ctype, copy, len);
		free(copy);
	}
	sip_txn_respond(txn, st >= 200 && st < 700 ? st : 500, NULL);
	octo_obj_unref(p);
}

/* NOTIFY (event = Event header) or INFO (event ""). */
static void peer_device_event(struct sip_txn *txn, struct sip_msg *req, struct sip_peer *p,
			      const char *event)
{
	char ctype[128] = "", ev[64];
	const char *body;
	size_t len = 0;
	int st;

	if (!p->ops->device_event || p->removed) {
		sip_txn_respond(txn, req->method == SIP_NOTIFY ? 489 : 405, NULL);
		return;
	}
	body = sip_msg_body(req, &len);
	if (len > PEER_MESSAGE_MAX) {
		sip_txn_respond(txn, 413, NULL);
		return;
	}
	if (req->osip->content_type && req->osip->content_type->type)
		snprintf(ctype, sizeof(ctype), "%.60s/%.60s", req->osip->content_type->type,
			 req->osip->content_type->subtype ? req->osip->content_type->subtype : "");
	sip_auth_field(event, ev, sizeof(ev), false);
	for (char *s = ev; *s; s++)
		if (*s == ';' || *s == ' ') {
			*s = '\0';
			break;
		}
	{
		char *copy = malloc(len + 1);

		if (!copy) {
			sip_txn_respond(txn, 500, NULL);
			return;
		}
		if (len)
			memcpy(copy, body, len);
		copy[len] = '\0';
		st = p->ops->device_event(p->data, ev, ctype, copy, len);
		free(copy);
	}
	sip_txn_respond(txn, st >= 200 && st < 700 ? st : 500, NULL);
}

static void peer_on_notify(struct sip_txn *txn, struct sip_msg *req)
{
	bool answered = false;
	struct sip_peer *p = sip_msg_to_tag(req) ? NULL : peer_of_request(txn, req, &answered);
	const char *ev = sip_msg_header(req, "Event");

	if (!ev)
		ev = sip_msg_header(req, "o");
	if (!p) {
		if (!answered)
			sip_txn_respond(txn, 481, "Subscription Does Not Exist");
		return;
	}
	peer_device_event(txn, req, p, ev ? ev : "");
	octo_obj_unref(p);
}

bool sip_peer_on_info(struct sip_txn *txn, struct sip_msg *req)
{
	bool answered = false;
	struct sip_peer *p = peer_of_request(txn, req, &answered);

	if (!p)
		return answered;
	peer_device_event(txn, req, p, "");
	octo_obj_unref(p);
	return true;
}

/* ---------------------------------------------------------------- sending MESSAGE */

struct peer_msg_job {
	char peer[PEER_NAME_MAX], from[72], to[72];
	char *text;
	void (*done)(void *arg, int status);
	void *arg;
	char username[64], secret[128];
	char ruri[300];
	struct sip_addr dest;
	struct sip_msg *req; /* the last one sent, for an authenticated retry */
	unsigned refs;       /* client transactions that hold the job (loop) */
	bool retried, finished;
	int rc;
};

static void peer_msg_free(struct peer_msg_job *m)
{
	octo_obj_unref(m->req);
	free(m->text);
	free(m);
}

static int peer_msg_send(struct peer_msg_job *m, const struct sip_msg *challenge);

static void peer_msg_finish(struct peer_msg_job *m, int status)
{
	if (m->finished)
		return;
	m->finished = true;
	if (m->done)
		m->done(m->arg, status);
}

static void peer_msg_resp(struct sip_txn *txn, struct sip_msg *resp, void *data)
{
	struct peer_msg_job *m = data;

	if (resp->status < 200 || m->finished)
		return;
	if ((resp->status == 401 || resp->status == 407) && !m->retried && *m->username) {
		m->retried = true;
		if (peer_msg_send(m, resp) == 0)
			return;
	}
	peer_msg_finish(m, resp->status);
}

static void peer_msg_end(struct sip_txn *txn, enum sip_txn_end why, void *data)
{
	struct peer_msg_job *m = data;

	if (--m->refs)
		return; /* the authenticated retry carries on */
	peer_msg_finish(m, 408);
	peer_msg_free(m);
}

static const struct sip_client_ops peer_msg_ops = { .response = peer_msg_resp,
						    .end = peer_msg_end };

static int peer_msg_send(struct peer_msg_job *m, const struct sip_msg *challenge)
{
	char from[400], to[400], host[256];
	unsigned port;
	struct sip_msg *req;
	struct sip_txn *t;

	if (sip_transport_local(&m->dest, host, sizeof(host), &port) != 0)
		return OCTO_EFAIL;
	snprintf(from, sizeof(from), "<sip:%s@%s%s%s:%u>", m->from, strchr(host, ':') ? "[" : "",
		 host, strchr(host, ':') ? "]" : "", port);
	snprintf(to, sizeof(to), "<%s>", m->ruri);
	req = sip_msg_request(SIP_MESSAGE, m->ruri, from, NULL, to, NULL,
			      m->req ? m->req->call_id : NULL, m->req ? m->req->cseq + 1 : 1);
	if (!req)
		return OCTO_EFAIL;
	sip_msg_set_body(req, "text/plain; charset=UTF-8", m->text, strlen(m->text));
	if (challenge && sip_peer_authorize(req, challenge, m->username, m->secret, m->ruri) != 0) {
		octo_obj_unref(req);
		return OCTO_EINVAL;
	}
	octo_obj_unref(m->req);
	m->req = octo_obj_ref(req);
	t = sip_txn_client(req, &m->dest, &peer_msg_ops, m);
	if (!t)
		return OCTO_EFAIL;
	m->refs++;
	octo_obj_unref(t);
	return 0;
}

static void peer_msg_loop(void *data)
{
	struct peer_msg_job *m = data;
	struct sip_peer_out out;
	char dest[OCTO_CHAN_DEST_MAX];

	m->rc = OCTO_ENOTFOUND;
	if (peer_api_dest(m->peer, NULL, m->to, dest, sizeof(dest)) != 0)
		return;
	m->rc = sip_peer_resolve(dest, &out);
	if (m->rc)
		return;
	octo_strlcpy(m->ruri, out.ruri, sizeof(m->ruri));
	m->dest = out.to;
	octo_strlcpy(m->username, out.username, sizeof(m->username));
	octo_strlcpy(m->secret, out.secret, sizeof(m->secret));
	/* a MESSAGE is no call: give the claim back without telling the owner */
	octo_obj_unref(out.use->p);
	free(out.use);
	m->rc = peer_msg_send(m, NULL);
}

static int peer_api_send_message(const char *peer, const char *from_user, const char *to_user,
				 const char *text, void (*done)(void *arg, int status), void *arg)
{
	struct peer_msg_job *m;
	int rc;

	if (!peer || !peer_valid_number(to_user) || !text || strlen(text) > PEER_MESSAGE_MAX ||
	    (from_user && *from_user && !peer_valid_number(from_user)))
		return OCTO_EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return OCTO_ENOMEM;
	if (strlen(peer) >= sizeof(m->peer)) {
		free(m);
		return OCTO_EINVAL;
	}
	m->text = octo_strdup(text);
	if (!m->text) {
		free(m);
		return OCTO_ENOMEM;
	}
	octo_strlcpy(m->peer, peer, sizeof(m->peer));
	octo_strlcpy(m->from, from_user && *from_user ? from_user : "octo", sizeof(m->from));
	octo_strlcpy(m->to, to_user, sizeof(m->to));
	m->done = done;
	m->arg = arg;
	m->rc = OCTO_EFAIL;
	if (sip_loop_run(peer_msg_loop, m) != 0)
		m->rc = OCTO_EFAIL;
	rc = m->rc;
	if (rc)
		peer_msg_free(m); /* no transaction took it */
	return rc;
}

/* ---------------------------------------------------------------- the service */

static const struct octo_sip_api peer_api = {
	.peer_add = peer_api_add,
	.peer_remove = peer_api_remove,
	.peer_dest = peer_api_dest,
	.peer_state = peer_api_state,
	.send_message = peer_api_send_message,
	.devices_add = peer_api_devices_add,
	.devices_remove = peer_api_devices_remove,
};

static const struct octo_service peer_service = { OCTO_SIP_SERVICE, OCTO_SIP_VERSION, &peer_api };

int sip_peer_service_register(struct octo_module *self)
{
	return octo_service_register(self, &peer_service);
}

int sip_peer_init(void)
{
	if (sip_method_register(SIP_MESSAGE, peer_on_message) ||
	    sip_method_register(SIP_NOTIFY, peer_on_notify))
		return OCTO_EFAIL;
	return 0;
}

static void peer_fini_loop(void *data)
{
	for (size_t b = 0; b < PEER_BUCKETS; b++) {
		while (peer_by_name[b]) {
			struct sip_peer *p = peer_by_name[b];

			pthread_mutex_lock(&peer_lock);
			peer_unlink_locked(p);
			pthread_mutex_unlock(&peer_lock);
			peer_stop_loop(p);
			if (p->owner)
				octo_module_unref(p->owner, "chan_sip peer");
			p->owner = NULL;
			octo_obj_unref(p);
		}
	}
}

void sip_peer_fini(void)
{
	if (sip_loop_run(peer_fini_loop, NULL) != 0)
		peer_fini_loop(NULL);
	pthread_mutex_lock(&peer_lock);
	free(peer_nets);
	peer_nets = NULL;
	peer_nnets = 0;
	for (size_t b = 0; b < PEER_BUCKETS; b++) {
		while (peer_by_ip[b]) {
			struct peer_ip *e = peer_by_ip[b];

			peer_by_ip[b] = e->next;
			free(e);
		}
	}
	pthread_mutex_unlock(&peer_lock);
	pthread_rwlock_wrlock(&prov_lock);
	for (size_t i = 0; i < nprov; i++)
		if (prov[i].owner)
			octo_module_unref(prov[i].owner, "chan_sip devices");
	nprov = 0;
	pthread_rwlock_unlock(&prov_lock);
}
