/*
 * sip_regout.c - what chan_sip does on its own initiative for SIP peers:
 * outbound registration (a trunk registering to its provider's registrar:
 * REGISTER answered 401/407 with digest credentials, re-registered before
 * the granted expiry, retried with back-off after failures, the state and
 * the reason passed to the peer's owner), the digest answer to a challenge
 * (shared with MESSAGE and calls to peers), and qualify (OPTIONS pings of
 * static peers). Also the parsing of "host[:port]" with a host that is a
 * numeric IP or a DNS name (the names are looked up by sip_peer.c, which
 * gives a registration its registrar's address with sip_regout_set_dest).
 *
 * DESIGN: a registration and a qualify are refcounted objects living on the
 * loop thread. The peer holds one reference (dropped by *_stop), the
 * pending client transaction and the pending timer one each; every
 * callback first looks at `stopping`. A stopped registration that was
 * registered sends one REGISTER with Expires: 0 and forgets the answer.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/log.h"
#include "octo/obj.h"
#include "octo/sched.h"
#include "sip.h"
#include "sip_hostname.h"
#include "sip_peer.h"

#define REGOUT_MIN_EXPIRY 10
#define REGOUT_BACKOFF_FIRST 30
#define REGOUT_BACKOFF_MAX 1800

struct sip_regout {
	struct sip_peer *p; /* reference */
	struct sip_regout_cfg cfg;
	struct sip_addr dest; /* len 0: the registrar's name is not resolved yet */
	char host[256];       /* the registrar's name or IP, for the URIs */
	unsigned port;        /* as configured; 0: none given */
	bool named;
	char call_id[48], from_tag[24];
	uint32_t cseq;
	unsigned expiry; /* asked for */
	uint64_t timer;
	unsigned failures;
	bool stopping, registered, in_flight;
	bool auth_sent; /* the request in flight carries credentials */
	bool min_retry; /* a 423 was answered once in this attempt */
};

/* ---------------------------------------------------------------- numbers */

unsigned sip_regout_backoff(unsigned failures)
{
	unsigned s = REGOUT_BACKOFF_FIRST;

	for (unsigned i = 1; i < failures && s < REGOUT_BACKOFF_MAX; i++)
		s *= 2;
	return s > REGOUT_BACKOFF_MAX ? REGOUT_BACKOFF_MAX : s;
}

unsigned sip_regout_refresh(unsigned granted)
{
	unsigned r = granted - granted / 10;

	if (granted > 5 && r > granted - 5)
		r = granted - 5;
	return r ? r : 1;
}

/* ---------------------------------------------------------------- digest answers */

/* A challenge field without quotes into buf, "" when absent or unusable. */
static const char *ro_unquote(const char *raw, char *buf, size_t size)
{
	size_t n;

	buf[0] = '\0';
	if (!raw)
		return buf;
	n = strlen(raw);
	if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"') {
		raw++;
		n -= 2;
	}
	if (n >= size)
		return buf;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)raw[i] < 0x20 || raw[i] == '"' || raw[i] == '\\')
			return buf;
	memcpy(buf, raw, n);
	buf[n] = '\0';
	return buf;
}

static bool ro_qop_has_auth(const char *qop)
{
	const char *s = qop;

	while (s && *s) {
		while (*s == ' ' || *s == ',')
			s++;
		if (!strncasecmp(s, "auth", 4) && (s[4] == '\0' || s[4] == ',' || s[4] == ' '))
			return true;
		s = strchr(s, ',');
	}
	return false;
}

int sip_peer_authorize(struct sip_msg *req, const struct sip_msg *challenge, const char *user,
		       const char *secret, const char *uri)
{
	const osip_list_t *list = challenge->status == 407 ? &challenge->osip->proxy_authenticates
							   : &challenge->osip->www_authenticates;
	char realm[256], nonce[256], opaque[256], alg_s[32], qop[64];
	char cnonce[17], value[1200], resp[SIP_DIGEST_HEX_MAX];
	osip_www_authenticate_t *w = NULL;
	int alg = -1;

	/* the first challenge with an algorithm we know; SHA-256 if offered */
	for (int pos = 0; !osip_list_eol(list, pos); pos++) {
		osip_www_authenticate_t *c = osip_list_get(list, pos);
		int a;

		if (!c || !c->auth_type || strcasecmp(c->auth_type, "Digest"))
			continue;
		ro_unquote(c->algorithm, alg_s, sizeof(alg_s));
		a = *alg_s ? sip_digest_alg_parse(alg_s) : SIP_DIGEST_MD5;
		if (a < 0)
			continue;
		if (!w || a == SIP_DIGEST_SHA256) {
			w = c;
			alg = a;
		}
		if (a == SIP_DIGEST_SHA256)
			break;
	}
	if (!w)
		return OCTO_EINVAL;
	ro_unquote(w->realm, realm, sizeof(realm));
	ro_unquote(w->nonce, nonce, sizeof(nonce));
	ro_unquote(w->opaque, opaque, sizeof(opaque));
	ro_unquote(w->qop_options, qop, sizeof(qop));
	if (!*nonce || strchr(user, '"') || strchr(uri, '"'))
		return OCTO_EINVAL;
	sip_random_token(cnonce, sizeof(cnonce));
	if (ro_qop_has_auth(qop)) {
		if (sip_digest_response((enum sip_digest_alg)alg, user, realm, secret,
					sip_msg_method_name(req), uri, nonce, "00000001", cnonce,
					"auth", resp) != 0)
			return OCTO_EINVAL;
		snprintf(
			value, sizeof(value),
			"Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
			"response=\"%s\", algorithm=%s, cnonce=\"%s\", qop=auth, nc=00000001%s%s%s",
			user, realm, nonce, uri, resp,
			sip_digest_alg_name((enum sip_digest_alg)alg), cnonce,
			*opaque ? ", opaque=\"" : "", opaque, *opaque ? "\"" : "");
	} else {
		if (sip_digest_response((enum sip_digest_alg)alg, user, realm, secret,
					sip_msg_method_name(req), uri, nonce, NULL, NULL, NULL,
					resp) != 0)
			return OCTO_EINVAL;
		snprintf(value, sizeof(value),
			 "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
			 "response=\"%s\", algorithm=%s%s%s%s",
			 user, realm, nonce, uri, resp,
			 sip_digest_alg_name((enum sip_digest_alg)alg),
			 *opaque ? ", opaque=\"" : "", opaque, *opaque ? "\"" : "");
	}
	return sip_msg_add_header(
		req, challenge->status == 407 ? "Proxy-Authorization" : "Authorization", value);
}

/* ---------------------------------------------------------------- registration */

static void ro_destroy(void *obj)
{
	struct sip_regout *ro = obj;

	octo_obj_unref(ro->p);
}

static void ro_send(struct sip_regout *ro, const struct sip_msg *challenge, unsigned expires);

static unsigned ro_timer_cb(void *data)
{
	struct sip_regout *ro = data;

	ro->timer = 0;
	if (!ro->stopping && !ro->in_flight) {
		ro->min_retry = false;
		ro_send(ro, NULL, ro->expiry);
	}
	octo_obj_unref(ro); /* the timer's */
	return 0;
}

static void ro_schedule(struct sip_regout *ro, unsigned secs)
{
	if (ro->timer && octo_timer_cancel(ro->timer))
		octo_obj_unref(ro);
	ro->timer = octo_timer_add(secs * 1000u, ro_timer_cb, octo_obj_ref(ro));
	if (!ro->timer)
		octo_obj_unref(ro);
}

static void ro_failed(struct sip_regout *ro, const char *reason)
{
	unsigned wait;
	char why[200];

	ro->registered = false;
	ro->failures++;
	wait = sip_regout_backoff(ro->failures);
	snprintf(why, sizeof(why), "%s", reason);
	octo_log(OCTO_WARNING, "SIP: registration of %s at %s failed: %s (retry in %u s)",
		 ro->cfg.name, ro->cfg.registrar, why, wait);
	sip_peer_set_state(ro->p, "Failed", why);
	ro_schedule(ro, wait);
	/* the provider may have moved: its names are looked up again */
	sip_peer_dns_again(ro->p);
}

/* The expiry the registrar granted: our Contact's expires, else Expires. */
static unsigned ro_granted(const struct sip_msg *resp, unsigned asked)
{
	const char *h = sip_msg_header(resp, "Expires");
	unsigned long v = asked;
	osip_contact_t *ct = osip_list_get(&resp->osip->contacts, 0);

	if (ct) {
		osip_generic_param_t *gp = NULL;

		if (osip_contact_param_get_byname(ct, "expires", &gp) == 0 && gp && gp->gvalue)
			v = strtoul(gp->gvalue, NULL, 10);
		else if (h)
			v = strtoul(h, NULL, 10);
	} else if (h) {
		v = strtoul(h, NULL, 10);
	}
	if (v > 86400)
		v = 86400;
	return (unsigned)v;
}

static void ro_resp(struct sip_txn *txn, struct sip_msg *resp, void *data)
{
	struct sip_regout *ro = data;
	int st = resp->status;
	char why[200];

	if (st < 200)
		return;
	ro->in_flight = false;
	if (ro->stopping)
		return;
	if ((st == 401 || st == 407) && !ro->auth_sent) {
		ro_send(ro, resp, ro->expiry);
		if (ro->in_flight)
			return;
		snprintf(why, sizeof(why), "%d %s: cannot answer the challenge", st,
			 resp->osip->reason_phrase ? resp->osip->reason_phrase : "");
		ro_failed(ro, why);
		return;
	}
	if (st == 423 && !ro->min_retry) {
		const char *min = sip_msg_header(resp, "Min-Expires");
		unsigned long m = min ? strtoul(min, NULL, 10) : 0;

		if (m > ro->expiry && m <= 86400) {
			ro->min_retry = true;
			ro->expiry = (unsigned)m;
			ro_send(ro, NULL, ro->expiry);
			if (ro->in_flight)
				return;
		}
	}
	if (st >= 200 && st < 300) {
		unsigned granted = ro_granted(resp, ro->expiry);

		if (!granted) {
			ro_failed(ro, "the registrar granted no time (expires 0)");
			return;
		}
		ro->registered = true;
		ro->failures = 0;
		snprintf(why, sizeof(why), "at %.150s for %u s", ro->cfg.registrar, granted);
		sip_peer_set_state(ro->p, "Registered", why);
		ro_schedule(ro, sip_regout_refresh(granted));
		return;
	}
	if (resp->local) {
		char a[SIP_ADDR_STRLEN];

		snprintf(why, sizeof(why), "no answer from %s",
			 sip_addr_hostport(&ro->dest, a, sizeof(a)));
	} else {
		snprintf(why, sizeof(why), "%d %s", st,
			 resp->osip->reason_phrase ? resp->osip->reason_phrase : "");
	}
	ro_failed(ro, why);
}

static void ro_end(struct sip_txn *txn, enum sip_txn_end why, void *data)
{
	octo_obj_unref(data);
}

static const struct sip_client_ops ro_ops = { .response = ro_resp, .end = ro_end };

static void ro_send(struct sip_regout *ro, const struct sip_msg *challenge, unsigned expires)
{
	char ruri[340], aor[400], contact[400], host[256], hp[300], buf[16];
	const char *tp = ro->dest.tp == SIP_TP_TCP   ? ";transport=tcp"
			 : ro->dest.tp == SIP_TP_TLS ? ";transport=tls"
						     : "";
	struct sip_msg *req;
	struct sip_txn *t;
	unsigned port;

	if (!ro->dest.len)
		return; /* not resolved yet: sip_regout_set_dest sends */
	ro->auth_sent = challenge != NULL;
	sip_addr_hostport(&ro->dest, hp, sizeof(hp));
	if (ro->named) {
		/* a provider known by name wants its name in the URIs */
		if (ro->port)
			snprintf(hp, sizeof(hp), "%s:%u", ro->host, ro->port);
		else
			octo_strlcpy(hp, ro->host, sizeof(hp));
	}
	snprintf(ruri, sizeof(ruri), "sip:%s%s", hp, tp);
	snprintf(aor, sizeof(aor), "<sip:%s@%s>", ro->cfg.username,
		 *ro->cfg.domain ? ro->cfg.domain
		 : ro->named     ? ro->host
				 : hp);
	if (sip_transport_local(&ro->dest, host, sizeof(host), &port) != 0)
		return;
	snprintf(contact, sizeof(contact), "<sip:%s@%s%s%s:%u%s>", ro->cfg.username,
		 strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port, tp);
	req = sip_msg_request(SIP_REGISTER, ruri, aor, ro->from_tag, aor, NULL, ro->call_id,
			      ++ro->cseq);
	if (!req)
		return;
	sip_msg_add_header(req, "Contact", contact);
	snprintf(buf, sizeof(buf), "%u", expires);
	sip_msg_add_header(req, "Expires", buf);
	if (challenge &&
	    sip_peer_authorize(req, challenge, ro->cfg.username, ro->cfg.secret, ruri) != 0) {
		octo_obj_unref(req);
		return;
	}
	t = sip_txn_client(req, &ro->dest, &ro_ops, octo_obj_ref(ro));
	if (!t) {
		octo_obj_unref(ro);
		return;
	}
	ro->in_flight = true;
	octo_obj_unref(t);
}

/* ---------------------------------------------------------------- host names */

bool sip_peer_valid_hostname(const char *s)
{
	return sip_hostname_valid(s);
}

int sip_peer_split_hostport(const char *text, char *host, size_t size, unsigned *port, bool *named)
{
	char buf[256];
	const char *colon;
	unsigned char bin[sizeof(struct in6_addr)];

	*port = 0;
	*named = false;
	if (size)
		*host = '\0';
	if (!text || strlen(text) >= sizeof(buf))
		return OCTO_EINVAL;
	if (text[0] == '[') {
		const char *end = strchr(text, ']');

		if (!end || end == text + 1)
			return OCTO_EINVAL;
		memcpy(buf, text + 1, (size_t)(end - text - 1));
		buf[end - text - 1] = '\0';
		colon = end[1] == ':' ? end + 1 : NULL;
		if ((end[1] && !colon) || inet_pton(AF_INET6, buf, bin) != 1)
			return OCTO_EINVAL;
	} else {
		colon = strchr(text, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 address */
		octo_strlcpy(buf, text, sizeof(buf));
		if (colon)
			buf[colon - text] = '\0';
		if (inet_pton(AF_INET, buf, bin) != 1 && inet_pton(AF_INET6, buf, bin) != 1) {
			if (!sip_peer_valid_hostname(buf))
				return OCTO_EINVAL;
			*named = true;
		}
	}
	if (colon) {
		char *end;
		unsigned long v;

		if (!isdigit((unsigned char)colon[1]))
			return OCTO_EINVAL;
		v = strtoul(colon + 1, &end, 10);
		if (*end || !v || v > 65535)
			return OCTO_EINVAL;
		*port = (unsigned)v;
	}
	if (strlen(buf) >= size)
		return OCTO_EINVAL;
	octo_strlcpy(host, buf, size);
	return 0;
}

struct sip_regout *sip_regout_start(struct sip_peer *p, const struct sip_regout_cfg *cfg)
{
	struct sip_regout *ro;

	ro = octo_obj_alloc(sizeof(*ro), ro_destroy);
	if (!ro)
		return NULL;
	ro->cfg = *cfg;
	if (sip_peer_split_hostport(cfg->registrar, ro->host, sizeof(ro->host), &ro->port,
				    &ro->named) != 0 ||
	    !*cfg->username ||
	    (!ro->named &&
	     sip_addr_set(&ro->dest, cfg->tp, ro->host, ro->port ? ro->port : 5060) != 0)) {
		octo_log(OCTO_ERROR,
			 "SIP: peer %s: registrar \"%.64s\" is not HOST[:port], or no "
			 "username",
			 cfg->name, cfg->registrar);
		octo_obj_unref(ro);
		return NULL;
	}
	if (ro->named)
		ro->dest = cfg->dest; /* len 0 until the name is resolved */
	ro->p = octo_obj_ref(p);
	ro->expiry = cfg->expiry < REGOUT_MIN_EXPIRY ? REGOUT_MIN_EXPIRY : cfg->expiry;
	sip_random_token(ro->call_id, sizeof(ro->call_id));
	sip_random_token(ro->from_tag, sizeof(ro->from_tag));
	if (!ro->dest.len)
		return ro; /* waits for sip_regout_set_dest */
	ro_send(ro, NULL, ro->expiry);
	if (!ro->in_flight)
		ro_failed(ro, "cannot send REGISTER");
	return ro;
}

void sip_regout_set_dest(struct sip_regout *ro, const struct sip_addr *dest)
{
	if (!ro || !dest || !dest->len || ro->stopping)
		return;
	if (ro->dest.len && sip_addr_equal(&ro->dest, dest))
		return;
	ro->dest = *dest;
	ro->dest.tp = ro->cfg.tp;
	if (ro->in_flight)
		return; /* its answer carries on; the next REGISTER goes there */
	if (ro->timer && octo_timer_cancel(ro->timer))
		octo_obj_unref(ro);
	ro->timer = 0;
	ro->min_retry = false;
	ro_send(ro, NULL, ro->expiry);
	if (!ro->in_flight)
		ro_failed(ro, "cannot send REGISTER");
}

void sip_regout_stop(struct sip_regout *ro)
{
	if (!ro)
		return;
	ro->stopping = true;
	if (ro->timer && octo_timer_cancel(ro->timer))
		octo_obj_unref(ro);
	ro->timer = 0;
	if (ro->registered) {
		ro->registered = false;
		ro_send(ro, NULL, 0); /* withdrawn; the answer is ignored */
	}
	octo_obj_unref(ro);
}

/* ---------------------------------------------------------------- qualify */

struct sip_qualify {
	struct sip_peer *p;
	struct sip_addr to;
	unsigned interval_s;
	uint64_t timer, sent_ms;
	bool stopping, pending;
};

static void qp_destroy(void *obj)
{
	struct sip_qualify *q = obj;

	octo_obj_unref(q->p);
}

static void qp_resp(struct sip_txn *txn, struct sip_msg *resp, void *data)
{
	struct sip_qualify *q = data;
	char ms[48];

	if (resp->status < 200 || q->stopping || !q->pending)
		return;
	q->pending = false;
	if (resp->local) {
		sip_peer_set_state(q->p, "Unreachable", "no answer to OPTIONS");
		return;
	}
	snprintf(ms, sizeof(ms), "%llu ms", (unsigned long long)(octo_now_ms() - q->sent_ms));
	sip_peer_set_state(q->p, "Reachable", ms);
}

static const struct sip_client_ops qp_ops = { .response = qp_resp, .end = ro_end };

static unsigned qp_timer_cb(void *data)
{
	struct sip_qualify *q = data;
	char ruri[160], from[300], host[256], hp[SIP_ADDR_STRLEN];
	struct sip_msg *req;
	struct sip_txn *t;
	unsigned port;

	if (q->stopping)
		return 0;
	if (q->pending)
		return q->interval_s * 1000u;
	sip_addr_hostport(&q->to, hp, sizeof(hp));
	snprintf(ruri, sizeof(ruri), "sip:%s", hp);
	if (sip_transport_local(&q->to, host, sizeof(host), &port) != 0)
		return q->interval_s * 1000u;
	snprintf(from, sizeof(from), "<sip:octo@%s%s%s:%u>", strchr(host, ':') ? "[" : "", host,
		 strchr(host, ':') ? "]" : "", port);
	req = sip_msg_request(SIP_OPTIONS, ruri, from, NULL, ruri, NULL, NULL, 1);
	if (req) {
		q->sent_ms = octo_now_ms();
		t = sip_txn_client(req, &q->to, &qp_ops, octo_obj_ref(q));
		if (t) {
			q->pending = true;
			octo_obj_unref(t);
		} else {
			octo_obj_unref(q);
		}
	}
	return q->interval_s * 1000u;
}

struct sip_qualify *sip_peer_qualify_start(struct sip_peer *p, const struct sip_addr *to,
					   unsigned interval_s)
{
	struct sip_qualify *q = octo_obj_alloc(sizeof(*q), qp_destroy);

	if (!q)
		return NULL;
	q->p = octo_obj_ref(p);
	q->to = *to;
	q->interval_s = interval_s ? interval_s : 60;
	/* the timer borrows q: sip_peer_qualify_stop cancels it first */
	q->timer = octo_timer_add(1, qp_timer_cb, q);
	return q;
}

void sip_peer_qualify_stop(struct sip_qualify *q)
{
	if (!q)
		return;
	q->stopping = true;
	if (q->timer)
		octo_timer_cancel(q->timer);
	q->timer = 0;
	octo_obj_unref(q);
}
