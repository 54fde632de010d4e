/*
 * sip_msg.c - SIP messages: parsing with libosipparser2 and the validation it
 * does not do, the RFC 3581 Via fix-up, building requests and responses,
 * transaction keys, stream framing and random tokens.
 *
 * DESIGN
 *  - Everything here is pure: no sockets, no loop, no config. It is linked
 *    alone into the unit test and the fuzz harness (with core/obj.c and
 *    core/util.c), so every input path can be exercised without a daemon.
 *  - libosip2 accepts much that is broken (see notes/libraries.md), so a
 *    parsed message is checked here before anyone sees it. A message is
 *    answerable only when Via, From, To, Call-ID and CSeq can be read; when
 *    osip refuses the whole text, those five header lines are salvaged from
 *    the raw bytes and parsed alone, so that e.g. a request with a too-long
 *    Content-Length still gets its 400.
 *  - Responses are osip trees built from the request (copies of its Via,
 *    From, To, Call-ID, CSeq), written out by sip_write.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "octo/log.h"
#include "octo/obj.h"
#include "octo/octo.h"
#include "sip.h"

/* Longest values accepted in the fields that make transaction keys, so a
 * key always fits in SIP_KEY_MAX (the RFC 2543 key, the longest: 5 + 256 +
 * 11 + 129 + 257 + 257 + 6 + 65 < 1024). */
#define MSG_MAX_BRANCH 256
#define MSG_MAX_CALLID 256
#define MSG_MAX_TAG 128
#define MSG_MAX_HOST 255
#define MSG_MAX_METHOD 64
#define MSG_SALVAGE_MAX 8192 /* the salvaged header lines, at most */

/* ================================================================ small helpers */

static const char *const msg_tp_names[SIP_TP_COUNT] = { "UDP", "TCP", "TLS" };

const char *sip_tp_name(enum sip_tp tp)
{
	return (unsigned)tp < SIP_TP_COUNT ? msg_tp_names[tp] : "?";
}

int sip_tp_parse(const char *name)
{
	for (int i = 0; i < SIP_TP_COUNT; i++)
		if (name && !strcasecmp(name, msg_tp_names[i]))
			return i;
	return -1;
}

static const char *const msg_method_names[SIP_METHOD_COUNT] = {
	[SIP_METHOD_UNKNOWN] = "UNKNOWN",
	[SIP_INVITE] = "INVITE",
	[SIP_ACK] = "ACK",
	[SIP_BYE] = "BYE",
	[SIP_CANCEL] = "CANCEL",
	[SIP_OPTIONS] = "OPTIONS",
	[SIP_REGISTER] = "REGISTER",
	[SIP_INFO] = "INFO",
	[SIP_REFER] = "REFER",
	[SIP_NOTIFY] = "NOTIFY",
	[SIP_SUBSCRIBE] = "SUBSCRIBE",
	[SIP_MESSAGE] = "MESSAGE",
	[SIP_UPDATE] = "UPDATE",
	[SIP_PRACK] = "PRACK",
	[SIP_PUBLISH] = "PUBLISH",
};

const char *sip_method_name(enum sip_method m)
{
	return (unsigned)m < SIP_METHOD_COUNT ? msg_method_names[m] : "UNKNOWN";
}

enum sip_method sip_method_parse(const char *name)
{
	if (!name)
		return SIP_METHOD_UNKNOWN;
	for (int i = 1; i < SIP_METHOD_COUNT; i++)
		if (!strcmp(name, msg_method_names[i]))
			return (enum sip_method)i;
	return SIP_METHOD_UNKNOWN;
}

int sip_addr_set(struct sip_addr *a, enum sip_tp tp, const char *ip, unsigned port)
{
	memset(a, 0, sizeof(*a));
	if (!ip || port > 65535 || (unsigned)tp >= SIP_TP_COUNT)
		return OCTO_EINVAL;
	a->tp = tp;
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
		char buf[INET6_ADDRSTRLEN];
		size_t n = strlen(ip);

		/* "[::1]" is accepted as well as "::1" */
		if (ip[0] == '[' && n > 2 && ip[n - 1] == ']' && n - 2 < sizeof(buf)) {
			memcpy(buf, ip + 1, n - 2);
			buf[n - 2] = '\0';
			ip = buf;
		}
		if (inet_pton(AF_INET6, ip, &s6->sin6_addr) != 1)
			return OCTO_EINVAL;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;

		if (inet_pton(AF_INET, ip, &s4->sin_addr) != 1)
			return OCTO_EINVAL;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*s4);
	}
	return 0;
}

unsigned sip_addr_port(const struct sip_addr *a)
{
	if (a->sa.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->sa)->sin_port);
	if (a->sa.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->sa)->sin6_port);
	return 0;
}

char *sip_addr_ip(const struct sip_addr *a, char *buf, size_t size)
{
	const void *src = NULL;

	if (a->sa.ss_family == AF_INET)
		src = &((const struct sockaddr_in *)&a->sa)->sin_addr;
	else if (a->sa.ss_family == AF_INET6)
		src = &((const struct sockaddr_in6 *)&a->sa)->sin6_addr;
	if (!src || !inet_ntop(a->sa.ss_family, src, buf, (socklen_t)size))
		octo_strlcpy(buf, "?", size);
	return buf;
}

char *sip_addr_hostport(const struct sip_addr *a, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	sip_addr_ip(a, ip, sizeof(ip));
	if (a->sa.ss_family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", ip, sip_addr_port(a));
	else
		snprintf(buf, size, "%s:%u", ip, sip_addr_port(a));
	return buf;
}

char *sip_addr_str(const struct sip_addr *a, char *buf, size_t size)
{
	char hp[SIP_ADDR_STRLEN];

	snprintf(buf, size, "%s %s", sip_tp_name(a->tp), sip_addr_hostport(a, hp, sizeof(hp)));
	return buf;
}

bool sip_addr_equal(const struct sip_addr *a, const struct sip_addr *b)
{
	if (a->tp != b->tp || a->sa.ss_family != b->sa.ss_family)
		return false;
	if (a->sa.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->sa, *y = (const void *)&b->sa;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->sa, *y = (const void *)&b->sa;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

/* ================================================================ random tokens */

static pthread_once_t msg_once = PTHREAD_ONCE_INIT;
static char msg_cookie[9]; /* this process's branch marker, 8 hex digits */

static _Thread_local unsigned char rnd_pool[256];
static _Thread_local size_t rnd_left;
static _Thread_local uint64_t rnd_state;

static void rnd_bytes(unsigned char *out, size_t n)
{
	while (n--) {
		if (!rnd_left) {
			ssize_t got = getrandom(rnd_pool, sizeof(rnd_pool), GRND_NONBLOCK);

			if (got != (ssize_t)sizeof(rnd_pool)) {
				/* No entropy yet (early boot): a xorshift seeded from the
				 * clock. Tags need uniqueness, not secrecy. */
				struct timespec ts;

				clock_gettime(CLOCK_REALTIME, &ts);
				rnd_state ^= (uint64_t)ts.tv_nsec << 20 ^ (uint64_t)ts.tv_sec ^
					     (uint64_t)(uintptr_t)&rnd_state;
				for (size_t i = 0; i < sizeof(rnd_pool); i++) {
					rnd_state ^= rnd_state << 13;
					rnd_state ^= rnd_state >> 7;
					rnd_state ^= rnd_state << 17;
					rnd_pool[i] = (unsigned char)(rnd_state >> 24);
				}
			}
			rnd_left = sizeof(rnd_pool);
		}
		*out++ = rnd_pool[--rnd_left];
	}
}

static void rnd_hex(char *buf, size_t digits)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[64];

	if (digits > 2 * sizeof(b))
		digits = 2 * sizeof(b);
	rnd_bytes(b, (digits + 1) / 2);
	for (size_t i = 0; i < digits; i++)
		buf[i] = hex[(b[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	buf[digits] = '\0';
}

static void msg_init_once(void)
{
	rnd_hex(msg_cookie, 8);
}

void sip_random_token(char *buf, size_t size)
{
	if (!size)
		return;
	rnd_hex(buf, size - 1 > 32 ? 32 : size - 1);
}

void sip_new_branch(char *buf, size_t size)
{
	char r[17];

	pthread_once(&msg_once, msg_init_once);
	rnd_hex(r, 16);
	snprintf(buf, size, "z9hG4bK%s.%s", msg_cookie, r);
}

bool sip_branch_is_ours(const char *branch)
{
	pthread_once(&msg_once, msg_init_once);
	return branch && !strncmp(branch, "z9hG4bK", 7) && !strncmp(branch + 7, msg_cookie, 8) &&
	       branch[15] == '.';
}

/* ================================================================ the agent string */

static pthread_mutex_t msg_agent_lock = PTHREAD_MUTEX_INITIALIZER;
static char msg_agent[128] = "Octo";

void sip_msg_set_agent(const char *agent)
{
	pthread_mutex_lock(&msg_agent_lock);
	octo_strlcpy(msg_agent, agent && *agent ? agent : "Octo", sizeof(msg_agent));
	pthread_mutex_unlock(&msg_agent_lock);
}

void sip_msg_add_agent(struct sip_msg *m)
{
	const char *name = sip_msg_is_request(m) ? "User-Agent" : "Server";
	char agent[sizeof(msg_agent)];

	if (sip_msg_header(m, name))
		return;
	pthread_mutex_lock(&msg_agent_lock);
	memcpy(agent, msg_agent, sizeof(agent));
	pthread_mutex_unlock(&msg_agent_lock);
	sip_msg_add_header(m, name, agent);
}

/* ================================================================ the object */

static void msg_destroy(void *obj)
{
	struct sip_msg *m = obj;

	if (m->osip)
		osip_message_free(m->osip);
	free(m->call_id);
}

static struct sip_msg *msg_alloc(osip_message_t *osip)
{
	struct sip_msg *m = octo_obj_alloc(sizeof(*m), msg_destroy);

	if (!m) {
		osip_message_free(osip);
		return NULL;
	}
	m->osip = osip;
	return m;
}

/* Fills the cached fields from the osip tree. */
static void msg_cache(struct sip_msg *m)
{
	osip_message_t *o = m->osip;

	m->status = MSG_IS_RESPONSE(o) ? o->status_code : 0;
	if (m->status)
		m->method = o->cseq ? sip_method_parse(o->cseq->method) : SIP_METHOD_UNKNOWN;
	else
		m->method = sip_method_parse(o->sip_method);
	m->cseq = o->cseq && o->cseq->number ? (uint32_t)strtoul(o->cseq->number, NULL, 10) : 0;
	free(m->call_id);
	m->call_id = NULL;
	if (o->call_id && o->call_id->number) {
		const char *host = o->call_id->host;
		size_t n = strlen(o->call_id->number) + (host ? strlen(host) + 1 : 0) + 1;

		m->call_id = malloc(n);
		if (m->call_id)
			snprintf(m->call_id, n, "%s%s%s", o->call_id->number, host ? "@" : "",
				 host ? host : "");
	}
}

const char *sip_msg_method_name(const struct sip_msg *m)
{
	if (!sip_msg_is_request(m))
		return m->osip->cseq && m->osip->cseq->method ? m->osip->cseq->method : "";
	return m->osip->sip_method ? m->osip->sip_method : "";
}

static const char *msg_tag(osip_from_t *f)
{
	osip_generic_param_t *p = NULL;

	if (f && osip_from_get_tag(f, &p) == 0 && p && p->gvalue)
		return p->gvalue;
	return NULL;
}

const char *sip_msg_from_tag(const struct sip_msg *m)
{
	return msg_tag(m->osip->from);
}

const char *sip_msg_to_tag(const struct sip_msg *m)
{
	return msg_tag(m->osip->to);
}

static osip_via_t *msg_top_via(const struct sip_msg *m)
{
	return osip_list_get(&m->osip->vias, 0);
}

static const char *msg_via_param(osip_via_t *via, const char *name, bool *present)
{
	osip_generic_param_t *p = NULL;

	if (present)
		*present = false;
	if (!via || osip_via_param_get_byname(via, (char *)name, &p) != 0 || !p)
		return NULL;
	if (present)
		*present = true;
	return p->gvalue;
}

const char *sip_msg_branch(const struct sip_msg *m)
{
	return msg_via_param(msg_top_via(m), "branch", NULL);
}

const char *sip_msg_header(const struct sip_msg *m, const char *name)
{
	osip_header_t *h;
	int pos = 0;

	while (!osip_list_eol(&m->osip->headers, pos)) {
		h = osip_list_get(&m->osip->headers, pos++);
		if (h && h->hname && !strcasecmp(h->hname, name))
			return h->hvalue ? h->hvalue : "";
	}
	return NULL;
}

const char *sip_msg_body(const struct sip_msg *m, size_t *len)
{
	osip_body_t *b = osip_list_get(&m->osip->bodies, 0);

	if (!b || !b->body) {
		if (len)
			*len = 0;
		return NULL;
	}
	/* libosip2 leaves `length` at 0 for bodies it parsed (it sets it only
	 * for bodies built with osip_body_set_data); the body is NUL-terminated
	 * and its size was checked against Content-Length at validation. */
	if (len)
		*len = b->length ? b->length : strlen(b->body);
	return b->body;
}

int sip_msg_add_header(struct sip_msg *m, const char *name, const char *value)
{
	if (!name || !*name || !value)
		return OCTO_EINVAL;
	return osip_message_set_header(m->osip, name, value) == 0 ? 0 : OCTO_ENOMEM;
}

int sip_msg_set_body(struct sip_msg *m, const char *content_type, const char *body, size_t len)
{
	char cl[24];
	osip_body_t *b;

	while ((b = osip_list_get(&m->osip->bodies, 0))) {
		osip_list_remove(&m->osip->bodies, 0);
		osip_body_free(b);
	}
	if (content_type) {
		osip_content_type_free(m->osip->content_type);
		m->osip->content_type = NULL;
		if (osip_message_set_content_type(m->osip, content_type) != 0)
			return OCTO_EINVAL;
	}
	if (body && len && osip_message_set_body(m->osip, body, len) != 0)
		return OCTO_ENOMEM;
	osip_content_length_free(m->osip->content_length);
	m->osip->content_length = NULL;
	snprintf(cl, sizeof(cl), "%zu", body ? len : 0);
	return osip_message_set_content_length(m->osip, cl) == 0 ? 0 : OCTO_ENOMEM;
}

int sip_msg_to_str(struct sip_msg *m, char **out, size_t *len)
{
	struct sip_text t = { 0 };
	int rc = sip_msg_write(m, &t);

	*out = NULL;
	*len = 0;
	if (!rc) {
		*out = osip_malloc(t.len + 1);
		if (*out) {
			memcpy(*out, t.buf, t.len + 1);
			*len = t.len;
		} else {
			rc = OCTO_ENOMEM;
		}
	}
	sip_text_free(&t);
	return rc;
}

/* ================================================================ validation */

static bool msg_digits(const char *s, size_t max_digits)
{
	size_t n = 0;

	if (!s)
		return false;
	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		n++;
	while (*s == ' ' || *s == '\t')
		s++;
	return n > 0 && n <= max_digits && *s == '\0';
}

/* RFC 3261 token characters. */
static bool msg_is_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-.!%*_+`'~", *s))
			return false;
	return true;
}

static bool msg_len_ok(const char *s, size_t max)
{
	return !s || strnlen(s, max + 1) <= max;
}

/* Is the literal IP `host` (maybe in brackets) the same address as `src`? */
static bool msg_host_is(const char *host, const struct sip_addr *src)
{
	struct sip_addr h;

	if (sip_addr_set(&h, src->tp, host, sip_addr_port(src)) != 0)
		return false;
	h.conn = src->conn;
	return sip_addr_equal(&h, src);
}

/* RFC 3581 / RFC 3261 18.2.1: the top Via of a received request gets the
 * source port in an empty rport, and `received` when rport was asked for
 * or when the sent-by host is not the source address. */
static void msg_fix_via(struct sip_msg *m)
{
	osip_via_t *via = msg_top_via(m);
	osip_generic_param_t *p = NULL;
	char ip[INET6_ADDRSTRLEN], port[8];
	bool rport;

	if (!via || !m->src.len)
		return;
	sip_addr_ip(&m->src, ip, sizeof(ip));
	msg_via_param(via, "rport", &rport);
	if (rport && osip_via_param_get_byname(via, "rport", &p) == 0 && p) {
		snprintf(port, sizeof(port), "%u", sip_addr_port(&m->src));
		osip_free(p->gvalue);
		p->gvalue = osip_strdup(port);
	}
	if (rport || !via->host || !msg_host_is(via->host, &m->src)) {
		p = NULL;
		if (osip_via_param_get_byname(via, "received", &p) == 0 && p) {
			osip_free(p->gvalue);
			p->gvalue = osip_strdup(ip);
		} else {
			osip_via_set_received(via, osip_strdup(ip));
		}
	}
}

/* Every Via is copied into an answer, where a comma outside quotes (in a
 * parameter, the host or the comment) would start another Via: osip reads
 * `Via:"SIP/2.0/UDP h;branch=z,G` as one, the phone our copy as two. */
static bool msg_vias_copyable(const osip_message_t *o)
{
	osip_list_iterator_t it, pit;
	osip_generic_param_t *p;

	for (osip_via_t *v = osip_list_get_first((osip_list_t *)&o->vias, &it); v;
	     v = osip_list_get_next(&it)) {
		if ((v->host && strchr(v->host, ',')) || (v->comment && strchr(v->comment, ',')))
			return false;
		for (p = osip_list_get_first(&v->via_params, &pit); p; p = osip_list_get_next(&pit))
			if (!p->gname || strchr(p->gname, ',') ||
			    (p->gvalue && p->gvalue[0] != '"' && strchr(p->gvalue, ',')))
				return false;
	}
	return true;
}

/* Checks the five headers every answer needs. NULL when fine, or why not. */
static const char *msg_check_core(const struct sip_msg *m)
{
	osip_message_t *o = m->osip;
	osip_via_t *via = msg_top_via(m);

	if (!via)
		return "no Via header";
	if (!msg_vias_copyable(o))
		return "comma inside a Via";
	if (!via->version || strcmp(via->version, "2.0") || !msg_is_token(via->protocol))
		return "bad Via protocol";
	if (!via->host || !*via->host)
		return "no host in the Via header";
	if (!msg_len_ok(via->host, MSG_MAX_HOST) || (via->port && !msg_digits(via->port, 5)))
		return "bad Via sent-by";
	if (!o->from || !o->from->url)
		return "no From header";
	if (!o->to || !o->to->url)
		return "no To header";
	if (!o->call_id || !o->call_id->number || !*o->call_id->number)
		return "no Call-ID header";
	if (!o->cseq || !o->cseq->number || !o->cseq->method)
		return "no CSeq header";
	if (!msg_len_ok(o->cseq->method, MSG_MAX_METHOD))
		return "method too long";
	/* an answer copies CSeq: one that is not a number cannot be answered */
	if (!msg_digits(o->cseq->number, 10) || strtoull(o->cseq->number, NULL, 10) > 2147483647ULL)
		return "bad CSeq number";
	/* bounded so transaction keys fit; nobody sends longer ones */
	if (!msg_len_ok(sip_msg_branch(m), MSG_MAX_BRANCH) ||
	    !msg_len_ok(m->call_id, MSG_MAX_CALLID) ||
	    !msg_len_ok(sip_msg_from_tag(m), MSG_MAX_TAG) ||
	    !msg_len_ok(sip_msg_to_tag(m), MSG_MAX_TAG))
		return "branch, Call-ID or tag too long";
	return NULL;
}

/* Checks what an answer can report. 0 when fine, else the status code and
 * *why as the reason phrase. */
static int msg_check_request(const struct sip_msg *m, const char **why)
{
	osip_message_t *o = m->osip;
	const char *v;

	if (!o->sip_version || strcasecmp(o->sip_version, "SIP/2.0")) {
		*why = "Version Not Supported";
		return 505;
	}
	if (!msg_is_token(o->sip_method)) {
		*why = "Invalid Method";
		return 400;
	}
	if (strcmp(o->cseq->method, o->sip_method)) {
		*why = "CSeq Method Mismatch";
		return 400;
	}
	if (o->content_length && !msg_digits(o->content_length->value, 10)) {
		*why = "Invalid Content-Length";
		return 400;
	}
	v = sip_msg_header(m, "max-forwards");
	if (v) {
		if (!msg_digits(v, 3) || atoi(v) > 255) {
			*why = "Invalid Max-Forwards";
			return 400;
		}
		if (atoi(v) == 0) {
			*why = "Too Many Hops";
			return 483;
		}
	}
	if (!o->req_uri || !o->req_uri->scheme ||
	    (strcasecmp(o->req_uri->scheme, "sip") && strcasecmp(o->req_uri->scheme, "sips") &&
	     strcasecmp(o->req_uri->scheme, "tel"))) {
		*why = "Unsupported URI Scheme";
		return 416;
	}
	return 0;
}

static const char *msg_check_response(const struct sip_msg *m)
{
	osip_message_t *o = m->osip;

	if (!o->sip_version || strcasecmp(o->sip_version, "SIP/2.0"))
		return "bad SIP version in the status line";
	if (o->status_code < 100 || o->status_code > 699)
		return "bad status code";
	return NULL;
}

/* ---------------------------------------------------------------- salvage */

/* Is the header name at [s, e) one of the five an answer needs? */
static bool msg_salvage_name(const char *s, size_t n)
{
	static const char *const names[] = { "via", "v",       "from", "f",   "to",
					     "t",   "call-id", "i",    "cseq" };

	for (size_t i = 0; i < OCTO_ARRAY_LEN(names); i++)
		if (strlen(names[i]) == n && !strncasecmp(s, names[i], n))
			return true;
	return false;
}

/* Builds "OPTIONS sip:invalid SIP/2.0" + the Via/From/To/Call-ID/CSeq lines
 * of a request osip refused, and parses that. NULL when it is a response or
 * those lines do not parse either. */
static struct sip_msg *msg_salvage(const char *buf, size_t len, const struct sip_addr *src)
{
	static const char first[] = "OPTIONS sip:invalid SIP/2.0\r\n";
	char *out;
	size_t used = sizeof(first) - 1, pos = 0;
	osip_message_t *o;
	struct sip_msg *m;

	if (len >= 4 && !strncasecmp(buf, "SIP/", 4))
		return NULL; /* a response: never answered */
	out = malloc(MSG_SALVAGE_MAX + 3);
	if (!out)
		return NULL;
	memcpy(out, first, used);
	/* skip the request line */
	while (pos < len && buf[pos] != '\n')
		pos++;
	while (++pos < len) {
		size_t start = pos, end, name_end;
		bool clean = true;

		while (pos < len && buf[pos] != '\n')
			pos++;
		end = pos; /* line is [start, end), CR stripped below */
		if (end > start && buf[end - 1] == '\r')
			end--;
		if (end == start)
			break; /* the blank line: headers are over */
		for (size_t i = start; i < end; i++)
			if ((unsigned char)buf[i] < 0x20 && buf[i] != '\t')
				clean = false;
		for (name_end = start; name_end < end && buf[name_end] != ':' &&
				       buf[name_end] != ' ' && buf[name_end] != '\t';
		     name_end++)
			;
		if (!clean || !msg_salvage_name(buf + start, name_end - start))
			continue;
		if (used + (end - start) + 2 > MSG_SALVAGE_MAX)
			break;
		memcpy(out + used, buf + start, end - start);
		used += end - start;
		memcpy(out + used, "\r\n", 2);
		used += 2;
	}
	memcpy(out + used, "\r\n", 2);
	used += 2;
	out[used] = '\0';

	if (osip_message_init(&o) != 0) {
		free(out);
		return NULL;
	}
	if (osip_message_parse(o, out, used) != 0) {
		osip_message_free(o);
		free(out);
		return NULL;
	}
	free(out);
	m = msg_alloc(o);
	if (!m)
		return NULL;
	if (src)
		m->src = *src;
	msg_cache(m);
	if (msg_check_core(m) || !strcmp(o->cseq->method, "ACK")) {
		octo_obj_unref(m);
		return NULL;
	}
	m->method = sip_method_parse(o->cseq->method);
	msg_fix_via(m);
	return m;
}

/* True when the text after the header block is shorter than Content-Length
 * `cl` (already checked to be digits). */
static bool msg_body_missing(const char *buf, size_t len, const char *cl)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	size_t body;

	if (end) {
		body = len - (size_t)(end + 4 - buf);
	} else if ((end = memmem(buf, len, "\n\n", 2))) {
		body = len - (size_t)(end + 2 - buf);
	} else {
		body = 0;
	}
	return strtoull(cl, NULL, 10) > body;
}

struct sip_msg *sip_msg_parse(const char *buf, size_t len, const struct sip_addr *src, int *status,
			      const char **why, struct sip_msg **salvaged)
{
	osip_message_t *o;
	struct sip_msg *m;
	const char *core;
	int st;

	*status = 0;
	*why = NULL;
	if (salvaged)
		*salvaged = NULL;
	if (!buf || !len) {
		*why = "empty message";
		return NULL;
	}
	if (osip_message_init(&o) != 0) {
		*why = "out of memory";
		return NULL;
	}
	if (osip_message_parse(o, buf, len) != 0) {
		osip_message_free(o);
		*why = "unparsable message";
		if (salvaged && (*salvaged = msg_salvage(buf, len, src))) {
			*status = 400;
			*why = "Bad Request";
		}
		return NULL;
	}
	m = msg_alloc(o);
	if (!m) {
		*why = "out of memory";
		return NULL;
	}
	if (src)
		m->src = *src;
	msg_cache(m);
	if (MSG_IS_RESPONSE(o)) {
		core = msg_check_core(m);
		if (!core)
			core = msg_check_response(m);
		if (core) {
			*why = core;
			octo_obj_unref(m);
			return NULL;
		}
		return m;
	}
	core = msg_check_core(m);
	if (core) {
		*why = core;
		octo_obj_unref(m);
		return NULL;
	}
	msg_fix_via(m);
	st = msg_check_request(m, why);
	if (!st && o->content_length && msg_body_missing(buf, len, o->content_length->value)) {
		/* RFC 3261 18.3: the datagram ends before the body does */
		*why = "Incomplete Body";
		st = 400;
	}
	if (st) {
		*status = st;
		/* never answer an ACK */
		if (o->sip_method && !strcmp(o->sip_method, "ACK"))
			*status = 0;
		if (*status && salvaged)
			*salvaged = octo_obj_ref(m);
		octo_obj_unref(m);
		return NULL;
	}
	return m;
}

static bool msg_is_keepalive(const char *buf, size_t len)
{
	size_t i;

	/* STUN (RFC 5389 magic cookie) binding requests used as keep-alives */
	if (len >= 20 && (buf[0] == 0 || buf[0] == 1) && (unsigned char)buf[4] == 0x21 &&
	    (unsigned char)buf[5] == 0x12 && (unsigned char)buf[6] == 0xA4 &&
	    (unsigned char)buf[7] == 0x42)
		return true;
	for (i = 0; i < len; i++)
		if (buf[i] != '\r' && buf[i] != '\n' && buf[i] != ' ' && buf[i] != '\t' && buf[i])
			return false;
	return true;
}

enum sip_rx_verdict sip_msg_receive(const char *buf, size_t len, const struct sip_addr *src,
				    struct sip_msg **msg, const char **why)
{
	struct sip_msg *m, *salvaged = NULL;
	int status;

	*msg = NULL;
	*why = NULL;
	if (msg_is_keepalive(buf, len))
		return SIP_RX_KEEPALIVE;
	m = sip_msg_parse(buf, len, src, &status, why, &salvaged);
	if (m) {
		*msg = m;
		return SIP_RX_OK;
	}
	if (status && salvaged) {
		char tag[17];

		sip_random_token(tag, sizeof(tag));
		*msg = sip_msg_response(salvaged, status, *why, tag);
		octo_obj_unref(salvaged);
		if (*msg)
			return SIP_RX_REPLY;
		*why = "cannot build the error response";
		return SIP_RX_DROP;
	}
	octo_obj_unref(salvaged);
	return SIP_RX_DROP;
}

/* ================================================================ building */

void sip_msg_response_dst(const struct sip_msg *req, struct sip_addr *dst)
{
	osip_via_t *via = msg_top_via(req);
	bool rport = false;
	unsigned port;

	*dst = req->src;
	if (!req->src.len)
		return;
	msg_via_param(via, "rport", &rport);
	if (rport)
		return; /* the source address and port */
	/* The source IP and the sent-by port: where a UDP response goes without
	 * rport, and where a new connection goes when the request's connection
	 * is gone (dst.conn still names that connection first). */
	port = via && via->port ? (unsigned)atoi(via->port) : 0;
	if (!port || port > 65535)
		port = req->src.tp == SIP_TP_TLS ? 5061 : 5060;
	if (dst->sa.ss_family == AF_INET)
		((struct sockaddr_in *)&dst->sa)->sin_port = htons((uint16_t)port);
	else if (dst->sa.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&dst->sa)->sin6_port = htons((uint16_t)port);
}

struct sip_msg *sip_msg_response(const struct sip_msg *req, int status, const char *reason,
				 const char *to_tag)
{
	osip_message_t *r, *q = req->osip;
	struct sip_msg *m;
	int pos;

	if (!sip_msg_is_request(req) || status < 100 || status > 699 || !q->from || !q->to ||
	    !q->call_id || !q->cseq)
		return NULL;
	if (osip_message_init(&r) != 0)
		return NULL;
	osip_message_set_version(r, osip_strdup("SIP/2.0"));
	osip_message_set_status_code(r, status);
	if (!reason)
		reason = osip_message_get_reason(status);
	osip_message_set_reason_phrase(r, osip_strdup(reason ? reason : "Unknown"));
	for (pos = 0; !osip_list_eol(&q->vias, pos); pos++) {
		osip_via_t *v = osip_list_get(&q->vias, pos), *c = NULL;

		if (osip_via_clone(v, &c) != 0)
			goto fail;
		osip_list_add(&r->vias, c, -1);
	}
	if (osip_from_clone(q->from, &r->from) != 0 || osip_to_clone(q->to, &r->to) != 0 ||
	    osip_call_id_clone(q->call_id, &r->call_id) != 0 ||
	    osip_cseq_clone(q->cseq, &r->cseq) != 0)
		goto fail;
	if (to_tag && status > 100 && !msg_tag(r->to))
		osip_to_set_tag(r->to, osip_strdup(to_tag));
	/* a response that may create a dialog carries the Record-Route set */
	if (status > 100 && status < 300) {
		for (pos = 0; !osip_list_eol(&q->record_routes, pos); pos++) {
			osip_record_route_t *rr = osip_list_get(&q->record_routes, pos), *c = NULL;

			if (osip_record_route_clone(rr, &c) != 0)
				goto fail;
			osip_list_add(&r->record_routes, c, -1);
		}
	}
	osip_message_set_content_length(r, "0");
	m = msg_alloc(r);
	if (!m)
		return NULL;
	msg_cache(m);
	sip_msg_response_dst(req, &m->dst);
	return m;

fail:
	osip_message_free(r);
	return NULL;
}

struct sip_msg *sip_msg_request(enum sip_method method, const char *ruri, const char *from,
				const char *from_tag, const char *to, const char *to_tag,
				const char *call_id, uint32_t cseq)
{
	osip_message_t *o;
	osip_uri_t *uri = NULL;
	struct sip_msg *m;
	char tag[17], cid[33], cs[48];

	if (method == SIP_METHOD_UNKNOWN || (unsigned)method >= SIP_METHOD_COUNT || !ruri ||
	    !from || !to)
		return NULL;
	if (osip_message_init(&o) != 0)
		return NULL;
	osip_message_set_method(o, osip_strdup(sip_method_name(method)));
	osip_message_set_version(o, osip_strdup("SIP/2.0"));
	if (osip_uri_init(&uri) != 0 || osip_uri_parse(uri, ruri) != 0) {
		osip_uri_free(uri);
		goto fail;
	}
	osip_message_set_uri(o, uri);
	if (osip_message_set_from(o, from) != 0 || osip_message_set_to(o, to) != 0 || !o->from ||
	    !o->to || !o->from->url || !o->to->url)
		goto fail;
	if (!from_tag) {
		sip_random_token(tag, sizeof(tag));
		from_tag = tag;
	}
	if (!msg_tag(o->from))
		osip_from_set_tag(o->from, osip_strdup(from_tag));
	if (to_tag && !msg_tag(o->to))
		osip_to_set_tag(o->to, osip_strdup(to_tag));
	if (!call_id) {
		sip_random_token(cid, sizeof(cid));
		call_id = cid;
	}
	snprintf(cs, sizeof(cs), "%u %s", cseq, sip_method_name(method));
	if (osip_message_set_call_id(o, call_id) != 0 || osip_message_set_cseq(o, cs) != 0 ||
	    osip_message_set_max_forwards(o, "70") != 0 ||
	    osip_message_set_content_length(o, "0") != 0)
		goto fail;
	m = msg_alloc(o);
	if (!m)
		return NULL;
	msg_cache(m);
	return m;

fail:
	osip_message_free(o);
	return NULL;
}

int sip_msg_add_via(struct sip_msg *m, enum sip_tp tp, const char *host, unsigned port,
		    const char *branch)
{
	osip_via_t *via = NULL;
	char text[512];
	bool v6 = strchr(host, ':') && host[0] != '[';

	if (snprintf(text, sizeof(text), "SIP/2.0/%s %s%s%s:%u;branch=%s;rport", sip_tp_name(tp),
		     v6 ? "[" : "", host, v6 ? "]" : "", port, branch) >= (int)sizeof(text))
		return OCTO_EINVAL;
	if (osip_via_init(&via) != 0)
		return OCTO_ENOMEM;
	if (osip_via_parse(via, text) != 0) {
		osip_via_free(via);
		return OCTO_EINVAL;
	}
	osip_list_add(&m->osip->vias, via, 0);
	return 0;
}

/* A request that copies R-URI, From, Call-ID, CSeq number, the top Via and
 * the Route set of `inv`, with `method`; To from `to` (the INVITE's or the
 * response's). */
static struct sip_msg *msg_derive(const struct sip_msg *inv, const char *method, osip_to_t *to)
{
	osip_message_t *o, *q = inv->osip;
	osip_via_t *via = msg_top_via(inv), *v = NULL;
	struct sip_msg *m;
	char cs[32];
	int pos;

	if (!sip_msg_is_request(inv) || !via || !q->req_uri || !q->from || !to || !q->call_id)
		return NULL;
	if (osip_message_init(&o) != 0)
		return NULL;
	osip_message_set_method(o, osip_strdup(method));
	osip_message_set_version(o, osip_strdup("SIP/2.0"));
	if (osip_uri_clone(q->req_uri, &o->req_uri) != 0 ||
	    osip_from_clone(q->from, &o->from) != 0 || osip_to_clone(to, &o->to) != 0 ||
	    osip_call_id_clone(q->call_id, &o->call_id) != 0 || osip_via_clone(via, &v) != 0)
		goto fail;
	osip_list_add(&o->vias, v, -1);
	for (pos = 0; !osip_list_eol(&q->routes, pos); pos++) {
		osip_route_t *r = osip_list_get(&q->routes, pos), *c = NULL;

		if (osip_route_clone(r, &c) != 0)
			goto fail;
		osip_list_add(&o->routes, c, -1);
	}
	snprintf(cs, sizeof(cs), "%u %s", inv->cseq, method);
	if (osip_message_set_cseq(o, cs) != 0 || osip_message_set_max_forwards(o, "70") != 0 ||
	    osip_message_set_content_length(o, "0") != 0)
		goto fail;
	m = msg_alloc(o);
	if (!m)
		return NULL;
	msg_cache(m);
	return m;

fail:
	osip_message_free(o);
	return NULL;
}

struct sip_msg *sip_msg_ack_for(const struct sip_msg *invite, const struct sip_msg *resp)
{
	if (!resp || sip_msg_is_request(resp) || !resp->osip->to)
		return NULL;
	return msg_derive(invite, "ACK", resp->osip->to);
}

struct sip_msg *sip_msg_cancel_for(const struct sip_msg *invite)
{
	return msg_derive(invite, "CANCEL", invite->osip->to);
}

/* ================================================================ keys */

static size_t msg_key_put(char *buf, size_t size, size_t used, const char *s)
{
	size_t n = strlen(s);

	if (used >= size || n >= size - used)
		return size; /* does not fit */
	memcpy(buf + used, s, n + 1);
	return used + n;
}

static const char *msg_key_method(const struct sip_msg *m, enum sip_method method)
{
	if (method == SIP_METHOD_UNKNOWN)
		return !strcmp(sip_msg_method_name(m), "ACK") ? "INVITE" : sip_msg_method_name(m);
	return sip_method_name(method == SIP_ACK ? SIP_INVITE : method);
}

size_t sip_msg_server_key(const struct sip_msg *m, enum sip_method method, char *buf, size_t size)
{
	osip_via_t *via = msg_top_via(m);
	const char *branch = sip_msg_branch(m), *mname = msg_key_method(m, method);
	char host[MSG_MAX_HOST + 1];
	size_t used = 0, i;

	if (!via || !via->host || !size)
		return 0;
	for (i = 0; via->host[i] && i < MSG_MAX_HOST; i++)
		host[i] = (char)tolower((unsigned char)via->host[i]);
	host[i] = '\0';
	if (branch && !strncmp(branch, "z9hG4bK", 7) && branch[7]) {
		/* RFC 3261 17.2.3: branch, sent-by, method */
		used = msg_key_put(buf, size, used, branch);
	} else {
		/* RFC 2543: Call-ID, CSeq number, From tag and the top Via (no To
		 * tag, so the ACK of a non-2xx still matches its INVITE) */
		char num[16];

		snprintf(num, sizeof(num), "%u", m->cseq);
		used = msg_key_put(buf, size, used, "2543|");
		used = msg_key_put(buf, size, used, m->call_id ? m->call_id : "");
		used = msg_key_put(buf, size, used, "|");
		used = msg_key_put(buf, size, used, num);
		used = msg_key_put(buf, size, used, "|");
		used = msg_key_put(buf, size, used, sip_msg_from_tag(m) ? sip_msg_from_tag(m) : "");
		used = msg_key_put(buf, size, used, "|");
		used = msg_key_put(buf, size, used, branch ? branch : "");
	}
	used = msg_key_put(buf, size, used, "|");
	used = msg_key_put(buf, size, used, host);
	used = msg_key_put(buf, size, used, ":");
	used = msg_key_put(buf, size, used, via->port ? via->port : "");
	used = msg_key_put(buf, size, used, "|");
	used = msg_key_put(buf, size, used, mname);
	if (used >= size) {
		buf[0] = '\0';
		return 0;
	}
	return used;
}

size_t sip_msg_client_key(const struct sip_msg *m, char *buf, size_t size)
{
	const char *branch = sip_msg_branch(m);
	size_t used = 0;

	if (!branch || !*branch || !size)
		return 0;
	used = msg_key_put(buf, size, used, branch);
	used = msg_key_put(buf, size, used, "|");
	used = msg_key_put(buf, size, used, msg_key_method(m, SIP_METHOD_UNKNOWN));
	if (used >= size) {
		buf[0] = '\0';
		return 0;
	}
	return used;
}

/* ================================================================ stream framing */

/* Content-Length of the header block [buf, buf+len): -1 if broken, 0 if absent. */
static long frame_content_length(const char *buf, size_t len)
{
	long found = -2;
	size_t pos = 0;

	/* skip the start line */
	while (pos < len && buf[pos] != '\n')
		pos++;
	while (++pos < len) {
		size_t start = pos, name_end, v;
		long val = 0;
		int digits = 0;

		while (pos < len && buf[pos] != '\n')
			pos++;
		for (name_end = start; name_end < pos && buf[name_end] != ':' &&
				       buf[name_end] != ' ' && buf[name_end] != '\t';
		     name_end++)
			;
		if (!((name_end - start == 14 && !strncasecmp(buf + start, "content-length", 14)) ||
		      (name_end - start == 1 && (buf[start] == 'l' || buf[start] == 'L'))))
			continue;
		v = name_end;
		while (v < pos && (buf[v] == ' ' || buf[v] == '\t'))
			v++;
		if (v >= pos || buf[v] != ':')
			continue; /* "l-something": not our header */
		v++;
		while (v < pos && (buf[v] == ' ' || buf[v] == '\t'))
			v++;
		while (v < pos && buf[v] >= '0' && buf[v] <= '9' && digits < 10) {
			val = val * 10 + (buf[v++] - '0');
			digits++;
		}
		while (v < pos && (buf[v] == ' ' || buf[v] == '\t' || buf[v] == '\r'))
			v++;
		if (!digits || v != pos)
			return -1;
		if (found != -2 && found != val)
			return -1; /* two different lengths */
		found = val;
	}
	return found == -2 ? 0 : found;
}

long sip_frame(const char *buf, size_t len, size_t max, size_t *skip, bool *ping)
{
	const char *end;
	size_t s = 0, hdr, room;
	long cl;

	*ping = false;
	while (s < len && (buf[s] == '\r' || buf[s] == '\n')) {
		if (s + 3 < len && !memcmp(buf + s, "\r\n\r\n", 4)) {
			*ping = true;
			s += 4;
			continue;
		}
		s++;
	}
	*skip = s;
	buf += s;
	len -= s;
	if (!len)
		return 0;
	room = len < max ? len : max;
	end = memmem(buf, room, "\r\n\r\n", 4);
	if (!end)
		return len >= max ? -1 : 0;
	hdr = (size_t)(end - buf) + 4;
	cl = frame_content_length(buf, hdr - 2);
	if (cl < 0 || (size_t)cl > max || hdr + (size_t)cl > max)
		return -1;
	if (hdr + (size_t)cl > len)
		return 0;
	return (long)(hdr + (size_t)cl);
}
