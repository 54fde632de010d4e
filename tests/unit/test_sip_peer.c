/*
 * test_sip_peer.c - unit tests for the "sip" service of chan_sip
 * (sip_peer.c, include/octo/sip.h) on the real event loop and transaction
 * layer, with a fake transport:
 *  - peer_add checks (names, hosts, networks, dynamic peers' credentials,
 *    names taken), peer_dest and its parsing back (sip_peer_resolve);
 *  - incoming INVITEs matched by source address and by network, routed by
 *    the owner (defaults, a refusal, called number from the Request-URI or
 *    To, P-Asserted-Identity), released() once per call and never after
 *    peer_remove;
 *  - a dynamic peer registering with its secret (401, then 200), its state
 *    and contact, calls to it and from its address;
 *  - MESSAGE and NOTIFY from peers, devices providers, `sip show peers` rows;
 *  - host names: "localhost" resolved on a worker (calls go to 127.0.0.1 with
 *    the name in the Request-URI, requests from 127.0.0.1 belong to the
 *    peer), "nosuchhost.invalid" (RFC 6761: never resolves) Unresolved and
 *    refused for calls, a registrar given by name.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octo/log.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/sip.h"
#include "octo_test.h"
#include "sip.h"
#include "sip_peer.h"
#define SIP_TEST_SENT_MAX 128
#define SIP_TEST_REG_STUBS
#include "sip_test_util.h"
#include "../../core/internal.h"

#define CRLF "\r\n"
#define WAIT_MS 10000

/* ---------------------------------------------------------------- stubs */

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---------------------------------------------------------------- the owner */

static struct {
	char called[72], ruri[72], to[72], caller[72], name[72], peer[64], src[64];
	char released[8][32];
	int nreleased;
	int refuse; /* status to refuse with */
	char msg_from[72], msg_to[72], msg_type[128], msg_body[256];
	char ev[64], ev_type[128], ev_body[256];
	char state[32], reason[200];
} rec;

static void own_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *route)
{
	pthread_mutex_lock(&rec_lock);
	octo_strlcpy(rec.called, in->called, sizeof(rec.called));
	octo_strlcpy(rec.ruri, in->ruri_user, sizeof(rec.ruri));
	octo_strlcpy(rec.to, in->to_user, sizeof(rec.to));
	octo_strlcpy(rec.caller, in->caller, sizeof(rec.caller));
	octo_strlcpy(rec.name, in->caller_name, sizeof(rec.name));
	octo_strlcpy(rec.peer, in->peer, sizeof(rec.peer));
	octo_strlcpy(rec.src, in->src, sizeof(rec.src));
	route->status = rec.refuse;
	octo_strlcpy(route->line, "L2", sizeof(route->line));
	octo_strlcpy(route->trunk, data ? (const char *)data : "", sizeof(route->trunk));
	pthread_mutex_unlock(&rec_lock);
}

static void own_released(void *data, const char *line)
{
	pthread_mutex_lock(&rec_lock);
	if (rec.nreleased < 8)
		octo_strlcpy(rec.released[rec.nreleased++], line, 32);
	pthread_mutex_unlock(&rec_lock);
}

static void own_status(void *data, const char *state, const char *reason)
{
	pthread_mutex_lock(&rec_lock);
	octo_strlcpy(rec.state, state, sizeof(rec.state));
	octo_strlcpy(rec.reason, reason, sizeof(rec.reason));
	pthread_mutex_unlock(&rec_lock);
}

static int own_message(void *data, const char *from, const char *to, const char *type,
		       const char *body, size_t len)
{
	pthread_mutex_lock(&rec_lock);
	octo_strlcpy(rec.msg_from, from, sizeof(rec.msg_from));
	octo_strlcpy(rec.msg_to, to, sizeof(rec.msg_to));
	octo_strlcpy(rec.msg_type, type, sizeof(rec.msg_type));
	octo_strlcpy(rec.msg_body, body, sizeof(rec.msg_body));
	pthread_mutex_unlock(&rec_lock);
	return 202;
}

static int own_event(void *data, const char *event, const char *type, const char *body, size_t len)
{
	pthread_mutex_lock(&rec_lock);
	octo_strlcpy(rec.ev, event, sizeof(rec.ev));
	octo_strlcpy(rec.ev_type, type, sizeof(rec.ev_type));
	octo_strlcpy(rec.ev_body, body, sizeof(rec.ev_body));
	pthread_mutex_unlock(&rec_lock);
	return 200;
}

static const struct octo_sip_peer_ops own_ops = {
	.incoming = own_incoming,
	.released = own_released,
	.status = own_status,
	.message = own_message,
	.device_event = own_event,
};
static const struct octo_sip_peer_ops bare_ops = { .incoming = own_incoming };

static const struct octo_sip_api *api(void)
{
	static const struct octo_sip_api *a;

	if (!a)
		a = octo_service_get(OCTO_SIP_SERVICE, 1, "test");
	return a;
}

/* ---------------------------------------------------------------- feeding requests */

struct feed_job {
	char text[4096];
	struct sip_addr src;
};

static void feed_run(void *data)
{
	struct feed_job *j = data;

	sip_receive(j->text, strlen(j->text), &j->src);
}

static void feed(const char *ip, const char *text)
{
	static struct feed_job j;

	octo_strlcpy(j.text, text, sizeof(j.text));
	sip_addr_set(&j.src, SIP_TP_UDP, ip, 5062);
	sip_loop_run(feed_run, &j);
}

/* What the test INVITE handler saw. */
static struct {
	enum sip_peer_verdict verdict;
	struct sip_peer_in in;
	int calls;
} inv;

static void test_on_invite(struct sip_txn *txn, struct sip_msg *req)
{
	struct sip_peer_in in;
	enum sip_peer_verdict v = sip_peer_invite(txn, req, &in);

	if (v == SIP_PEER_NONE)
		sip_txn_respond(txn, 404, NULL);
	else if (v == SIP_PEER_ROUTED)
		sip_txn_respond(txn, 480, NULL); /* the call itself is not the test's */
	pthread_mutex_lock(&rec_lock);
	inv.verdict = v;
	inv.in = in;
	inv.calls++;
	pthread_mutex_unlock(&rec_lock);
}

static void test_on_register(struct sip_txn *txn, struct sip_msg *req)
{
	if (!sip_peer_on_register(txn, req))
		sip_txn_respond(txn, 404, NULL);
}

static unsigned serial;

static void invite_from(const char *ip, const char *ruri_user, const char *to_user,
			const char *extra)
{
	char text[2048];
	unsigned n = ++serial;

	snprintf(text, sizeof(text),
		 "INVITE sip:%s@192.0.2.100 SIP/2.0" CRLF
		 "Via: SIP/2.0/UDP %s:5062;branch=z9hG4bKpeertest%u" CRLF
		 "From: \"Mario Rossi\" <sip:0612345678@%s>;tag=f%u" CRLF
		 "To: <sip:%s@192.0.2.100>" CRLF "Call-ID: peer-test-%u@%s" CRLF
		 "CSeq: 1 INVITE" CRLF "Contact: <sip:gw@%s:5062>" CRLF "Max-Forwards: 70" CRLF
		 "%s%sContent-Length: 0" CRLF CRLF,
		 ruri_user, ip, n, ip, n, to_user, n, ip, ip, extra, *extra ? CRLF : "");
	feed(ip, text);
}

static int invite_calls(void)
{
	int n;

	pthread_mutex_lock(&rec_lock);
	n = inv.calls;
	pthread_mutex_unlock(&rec_lock);
	return n;
}

/* ---------------------------------------------------------------- tests */

OCTO_TEST(peer_add_checks)
{
	const struct octo_sip_api *s = api();
	struct octo_sip_peer_cfg c = { .name = "fxo1", .kind = "fxo", .host = "192.0.2.9" };

	OCTO_CHECK(s != NULL);
	if (!s)
		return;
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, "fxo1"), 0);
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, "fxo1"), OCTO_EEXIST);
	c.name = "FXO1"; /* names are case-insensitive */
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), OCTO_EEXIST);
	c.name = "bad name";
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), OCTO_EINVAL);
	c.name = "x";
	c.host = "192.0.2.300"; /* neither an IP address nor a host name */
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), OCTO_EINVAL);
	c.host = "gw_1.example.com";
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), OCTO_EINVAL);
	c.host = "192.0.2.10";
	c.registrar = "reg example";
	c.username = "u";
	c.secret = "pw";
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), OCTO_EINVAL);
	c.registrar = NULL;
	c.username = NULL;
	c.secret = NULL;
	c.host = "192.0.2.10";
	c.port = 70000;
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), OCTO_EINVAL);
	c.port = 0;
	c.transport = "sctp";
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), OCTO_EINVAL);
	c.transport = NULL;
	c.match = "198.51.100.0/33";
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), OCTO_EINVAL);
	c.match = NULL;
	c.host = "dynamic"; /* without credentials */
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), OCTO_EINVAL);
	c.username = "a\"b";
	c.secret = "pw";
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, NULL, &own_ops, NULL), OCTO_EINVAL);
}

OCTO_TEST(dest_is_made_and_resolved)
{
	const struct octo_sip_api *s = api();
	char dest[OCTO_CHAN_DEST_MAX], small[12];
	struct sip_peer_out out;

	if (!s)
		return;
	OCTO_CHECK_INT_EQ(s->peer_dest("fxo1", "3", "0612345678", dest, sizeof(dest)), 0);
	OCTO_CHECK_STR_EQ(dest, "fxo1@peer/3/0612345678");
	OCTO_CHECK(sip_peer_is_dest(dest));
	OCTO_CHECK(!sip_peer_is_dest("100/0"));
	OCTO_CHECK(!sip_peer_is_dest("sip:100@peer/x"));
	OCTO_CHECK_INT_EQ(s->peer_dest("fxo1", NULL, "+3906", dest, sizeof(dest)), 0);
	OCTO_CHECK_STR_EQ(dest, "fxo1@peer//+3906");
	OCTO_CHECK_INT_EQ(s->peer_dest("fxo1", "3", "06;x", dest, sizeof(dest)), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(s->peer_dest("fxo1", "a/b", "06", dest, sizeof(dest)), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(s->peer_dest("fxo1", "3", "0612345678", small, sizeof(small)),
			  OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(small, "");
	OCTO_CHECK_INT_EQ(sip_peer_resolve("fxo1@peer/3/0612345678", &out), 0);
	OCTO_CHECK_STR_EQ(out.ruri, "sip:0612345678@192.0.2.9:5060");
	OCTO_CHECK_STR_EQ(out.number, "0612345678");
	OCTO_CHECK_STR_EQ(out.peer, "fxo1");
	OCTO_CHECK(out.use != NULL);
	sip_peer_use_release(&out.use);
	OCTO_CHECK(out.use == NULL);
	OCTO_CHECK_INT_EQ(sip_peer_resolve("nosuch@peer/1/06", &out), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(sip_peer_resolve("fxo1@peer/1", &out), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_peer_resolve("@peer/1/06", &out), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_peer_resolve("fxo1@peer/1/06 x", &out), OCTO_EINVAL);
}

OCTO_TEST(incoming_invite_routed_by_address_and_network)
{
	const struct octo_sip_api *s = api();
	struct octo_sip_peer_cfg net = { .name = "gsmnet",
					 .kind = "gsm",
					 .host = "192.0.2.20",
					 .match = "198.51.100.0/24, 203.0.113.7",
					 .called_from_to = true };
	int before;

	if (!s)
		return;
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &net, &own_ops, "gsmnet"), 0);
	before = invite_calls();
	invite_from("192.0.2.9", "021234501", "other",
		    "P-Asserted-Identity: <sip:+390612345678@192.0.2.9>");
	OCTO_CHECK_INT_EQ(invite_calls(), before + 1);
	pthread_mutex_lock(&rec_lock);
	OCTO_CHECK_INT_EQ(inv.verdict, SIP_PEER_ROUTED);
	OCTO_CHECK_STR_EQ(rec.peer, "fxo1");
	OCTO_CHECK_STR_EQ(rec.called, "021234501"); /* the Request-URI */
	OCTO_CHECK_STR_EQ(rec.to, "other");
	OCTO_CHECK_STR_EQ(rec.caller, "+390612345678"); /* P-Asserted-Identity first */
	OCTO_CHECK_STR_EQ(rec.name, "Mario Rossi");
	OCTO_CHECK_STR_EQ(rec.src, "UDP 192.0.2.9:5062");
	OCTO_CHECK_STR_EQ(inv.in.route.procedure, "main");
	OCTO_CHECK_STR_EQ(inv.in.route.label, "fxo1");
	OCTO_CHECK_STR_EQ(inv.in.route.called, "021234501");
	OCTO_CHECK_STR_EQ(inv.in.route.trunk, "fxo1");
	OCTO_CHECK_STR_EQ(inv.in.peer, "fxo1");
	pthread_mutex_unlock(&rec_lock);
	/* the claim is released once: released("L2") */
	{
		struct sip_peer_use *u = inv.in.use;

		rec.nreleased = 0;
		sip_peer_use_release(&u);
		sip_peer_use_release(&u);
		usleep(20000);
		OCTO_CHECK_INT_EQ(rec.nreleased, 1);
		OCTO_CHECK_STR_EQ(rec.released[0], "L2");
	}
	/* a network of `match`, and the called number from To */
	invite_from("198.51.100.77", "ignored", "3331234567", "");
	pthread_mutex_lock(&rec_lock);
	OCTO_CHECK_INT_EQ(inv.verdict, SIP_PEER_ROUTED);
	OCTO_CHECK_STR_EQ(rec.peer, "gsmnet");
	OCTO_CHECK_STR_EQ(rec.called, "3331234567");
	OCTO_CHECK_STR_EQ(rec.caller, "0612345678"); /* From */
	pthread_mutex_unlock(&rec_lock);
	sip_peer_use_release(&inv.in.use);
	invite_from("203.0.113.7", "1", "1", "");
	OCTO_CHECK_STR_EQ(rec.peer, "gsmnet");
	sip_peer_use_release(&inv.in.use);
	/* anyone else: not a peer */
	invite_from("203.0.113.8", "1", "1", "");
	OCTO_CHECK_INT_EQ(inv.verdict, SIP_PEER_NONE);
	/* a refusal by the owner is sent as it is */
	sent_clear();
	rec.refuse = 486;
	invite_from("192.0.2.9", "021234502", "x", "");
	rec.refuse = 0;
	OCTO_CHECK_INT_EQ(inv.verdict, SIP_PEER_HANDLED);
	{
		char *r = sent_find("SIP/2.0 486");

		OCTO_CHECK(r != NULL);
		free(r);
	}
	s->peer_remove("gsmnet");
	invite_from("198.51.100.77", "1", "1", "");
	OCTO_CHECK_INT_EQ(inv.verdict, SIP_PEER_NONE);
}

OCTO_TEST(released_is_not_called_after_remove)
{
	const struct octo_sip_api *s = api();
	struct octo_sip_peer_cfg c = { .name = "gone", .host = "192.0.2.30" };
	struct sip_peer_out out;

	if (!s)
		return;
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, NULL), 0);
	OCTO_CHECK_INT_EQ(sip_peer_resolve("gone@peer/7/123", &out), 0);
	s->peer_remove("gone");
	rec.nreleased = 0;
	sip_peer_use_release(&out.use);
	usleep(20000);
	OCTO_CHECK_INT_EQ(rec.nreleased, 0);
	OCTO_CHECK_INT_EQ(s->peer_state("gone", NULL, 0, NULL, 0), OCTO_ENOTFOUND);
	s->peer_remove("gone"); /* twice: harmless */
}

OCTO_TEST(dynamic_peer_registers_with_its_secret)
{
	const struct octo_sip_api *s = api();
	struct octo_sip_peer_cfg c = { .name = "branch",
				       .kind = "trunk",
				       .host = "dynamic",
				       .username = "branchpbx",
				       .secret = "b-secret" };
	char state[160], contact[256], text[2048], resp[SIP_DIGEST_HEX_MAX], *ch;
	const char *nonce;
	struct sip_peer_out out;

	if (!s)
		return;
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, "branch"), 0);
	OCTO_CHECK_INT_EQ(s->peer_state("branch", state, sizeof(state), contact, sizeof(contact)),
			  0);
	OCTO_CHECK_STR_EQ(state, "Unregistered");
	OCTO_CHECK_INT_EQ(sip_peer_resolve("branch@peer//100", &out), OCTO_ENOTFOUND);
	sent_clear();
	snprintf(text, sizeof(text),
		 "REGISTER sip:192.0.2.100 SIP/2.0" CRLF
		 "Via: SIP/2.0/UDP 192.0.2.40:5080;branch=z9hG4bKdyn1" CRLF
		 "From: <sip:branchpbx@192.0.2.100>;tag=d1" CRLF
		 "To: <sip:branchpbx@192.0.2.100>" CRLF "Call-ID: dyn@192.0.2.40" CRLF
		 "CSeq: 1 REGISTER" CRLF "Contact: <sip:branchpbx@192.0.2.40:5080>" CRLF
		 "Expires: 120" CRLF "Content-Length: 0" CRLF CRLF);
	feed("192.0.2.40", text);
	ch = sent_find("SIP/2.0 401");
	OCTO_CHECK(ch != NULL);
	nonce = ch ? strstr(ch, "nonce=\"") : NULL;
	OCTO_CHECK(nonce != NULL);
	if (nonce) {
		char n[80];

		sscanf(nonce + 7, "%64[0-9a-f]", n);
		sip_digest_response(SIP_DIGEST_MD5, "branchpbx", "octo", "b-secret", "REGISTER",
				    "sip:192.0.2.100", n, "00000001", "c0ffee", "auth", resp);
		sent_clear();
		snprintf(text, sizeof(text),
			 "REGISTER sip:192.0.2.100 SIP/2.0" CRLF
			 "Via: SIP/2.0/UDP 192.0.2.40:5080;branch=z9hG4bKdyn2" CRLF
			 "From: <sip:branchpbx@192.0.2.100>;tag=d1" CRLF
			 "To: <sip:branchpbx@192.0.2.100>" CRLF "Call-ID: dyn@192.0.2.40" CRLF
			 "CSeq: 2 REGISTER" CRLF "Contact: <sip:branchpbx@192.0.2.40:5080>" CRLF
			 "Authorization: Digest username=\"branchpbx\", realm=\"octo\", "
			 "nonce=\"%s\", uri=\"sip:192.0.2.100\", response=\"%s\", "
			 "algorithm=MD5, cnonce=\"c0ffee\", qop=auth, nc=00000001" CRLF
			 "Expires: 120" CRLF "Content-Length: 0" CRLF CRLF,
			 n, resp);
		feed("192.0.2.40", text);
		free(sent_find("SIP/2.0 200"));
	}
	free(ch);
	OCTO_CHECK_INT_EQ(s->peer_state("branch", state, sizeof(state), contact, sizeof(contact)),
			  0);
	OCTO_CHECK_STR_EQ(state, "Registered (contact sip:branchpbx@192.0.2.40:5080)");
	OCTO_CHECK_STR_EQ(contact, "sip:branchpbx@192.0.2.40:5080");
	OCTO_CHECK_STR_EQ(rec.state, "Registered");
	/* calls go to where it registered from, and come from there */
	OCTO_CHECK_INT_EQ(sip_peer_resolve("branch@peer//100", &out), 0);
	OCTO_CHECK_STR_EQ(out.ruri, "sip:100@192.0.2.40:5062");
	sip_peer_use_release(&out.use);
	invite_from("192.0.2.40", "200", "200", "");
	OCTO_CHECK_INT_EQ(inv.verdict, SIP_PEER_ROUTED);
	OCTO_CHECK_STR_EQ(rec.peer, "branch");
	sip_peer_use_release(&inv.in.use);
	{
		struct sip_peer_row *rows = NULL;
		size_t n = sip_peer_rows(&rows);
		bool seen = false;

		for (size_t i = 0; i < n; i++)
			if (!strcmp(rows[i].name, "branch")) {
				seen = true;
				OCTO_CHECK_STR_EQ(rows[i].host, "dynamic (192.0.2.40:5062)");
				OCTO_CHECK_STR_EQ(rows[i].state, "Registered");
			}
		for (size_t i = 1; i < n; i++)
			OCTO_CHECK(strcasecmp(rows[i - 1].name, rows[i].name) < 0);
		OCTO_CHECK(seen);
		free(rows);
	}
	s->peer_remove("branch");
}

OCTO_TEST(message_and_notify_from_a_peer)
{
	char text[2048], *r;

	sent_clear();
	snprintf(text, sizeof(text),
		 "MESSAGE sip:100@192.0.2.100 SIP/2.0" CRLF
		 "Via: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKmsg1" CRLF
		 "From: <sip:+393331234567@192.0.2.9>;tag=m1" CRLF "To: <sip:100@192.0.2.100>" CRLF
		 "Call-ID: msg1@192.0.2.9" CRLF "CSeq: 1 MESSAGE" CRLF
		 "Content-Type: text/plain" CRLF "Content-Length: 5" CRLF CRLF "hello");
	feed("192.0.2.9", text);
	r = sent_find("SIP/2.0 202");
	OCTO_CHECK(r != NULL);
	free(r);
	OCTO_CHECK_STR_EQ(rec.msg_from, "+393331234567");
	OCTO_CHECK_STR_EQ(rec.msg_to, "100");
	OCTO_CHECK_STR_EQ(rec.msg_type, "text/plain");
	OCTO_CHECK_STR_EQ(rec.msg_body, "hello");
	/* from elsewhere: 405 */
	sent_clear();
	snprintf(text, sizeof(text),
		 "MESSAGE sip:100@192.0.2.100 SIP/2.0" CRLF
		 "Via: SIP/2.0/UDP 203.0.113.9:5062;branch=z9hG4bKmsg2" CRLF
		 "From: <sip:x@203.0.113.9>;tag=m2" CRLF "To: <sip:100@192.0.2.100>" CRLF
		 "Call-ID: msg2@203.0.113.9" CRLF "CSeq: 1 MESSAGE" CRLF
		 "Content-Length: 0" CRLF CRLF);
	feed("203.0.113.9", text);
	r = sent_find("SIP/2.0 405");
	OCTO_CHECK(r != NULL);
	free(r);
	sent_clear();
	snprintf(text, sizeof(text),
		 "NOTIFY sip:octo@192.0.2.100 SIP/2.0" CRLF
		 "Via: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bKntf1" CRLF
		 "From: <sip:gw@192.0.2.9>;tag=n1" CRLF "To: <sip:octo@192.0.2.100>" CRLF
		 "Call-ID: ntf1@192.0.2.9" CRLF "CSeq: 1 NOTIFY" CRLF "Event: x-signal;id=1" CRLF
		 "Content-Type: text/plain" CRLF "Content-Length: 9" CRLF CRLF "level=-71");
	feed("192.0.2.9", text);
	r = sent_find("SIP/2.0 200");
	OCTO_CHECK(r != NULL);
	free(r);
	OCTO_CHECK_STR_EQ(rec.ev, "x-signal");
	OCTO_CHECK_STR_EQ(rec.ev_body, "level=-71");
}

OCTO_TEST(notify_to_a_peer_without_device_events_is_489)
{
	const struct octo_sip_api *s = api();
	struct octo_sip_peer_cfg c = { .name = "bare", .host = "192.0.2.50" };
	char text[1024], *r;

	if (!s)
		return;
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &bare_ops, NULL), 0);
	sent_clear();
	snprintf(text, sizeof(text),
		 "NOTIFY sip:octo@192.0.2.100 SIP/2.0" CRLF
		 "Via: SIP/2.0/UDP 192.0.2.50:5062;branch=z9hG4bKntf2" CRLF
		 "From: <sip:gw@192.0.2.50>;tag=n2" CRLF "To: <sip:octo@192.0.2.100>" CRLF
		 "Call-ID: ntf2@192.0.2.50" CRLF "CSeq: 1 NOTIFY" CRLF "Event: x" CRLF
		 "Content-Length: 0" CRLF CRLF);
	feed("192.0.2.50", text);
	r = sent_find("SIP/2.0 489");
	OCTO_CHECK(r != NULL);
	free(r);
	s->peer_remove("bare");
}

static int prov_a(void *data, const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int max)
{
	if (strcmp(user, "100") || max < 1)
		return 0;
	octo_strlcpy(dests[0], "fxs1@peer/1/100", OCTO_CHAN_DEST_MAX);
	return 1;
}

static int prov_b(void *data, const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int max)
{
	int n = 0;

	for (; n < 3 && n < max; n++)
		snprintf(dests[n], OCTO_CHAN_DEST_MAX, "dect@peer/h%d/%s", n, user);
	return n;
}

/* Waits until the owner was told `state`; true when it was. */
static bool state_wait(const char *state)
{
	uint64_t end = octo_now_ms() + WAIT_MS;
	bool ok = false;

	while (!ok && octo_now_ms() < end) {
		pthread_mutex_lock(&rec_lock);
		ok = !strcmp(rec.state, state);
		pthread_mutex_unlock(&rec_lock);
		if (!ok)
			usleep(1000);
	}
	return ok;
}

static const char *row_host(const char *name, char *buf, size_t size)
{
	struct sip_peer_row *rows = NULL;
	size_t n = sip_peer_rows(&rows);

	*buf = '\0';
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].name, name))
			octo_strlcpy(buf, rows[i].host, size);
	free(rows);
	return buf;
}

OCTO_TEST(named_peers_are_resolved_off_the_loop)
{
	const struct octo_sip_api *s = api();
	struct octo_sip_peer_cfg c = {
		.name = "named1", .kind = "trunk", .host = "localhost", .port = 5072
	};
	struct octo_sip_peer_cfg bad = { .name = "nohost",
					 .kind = "trunk",
					 .host = "nosuchhost.invalid" };
	struct octo_sip_peer_cfg reg = { .name = "namedreg",
					 .kind = "trunk",
					 .host = "192.0.2.60",
					 .registrar = "localhost:5099",
					 .username = "0299",
					 .secret = "pw",
					 .dns_refresh = 10 };
	struct sip_peer_out out;
	char state[200], buf[80];

	if (!s)
		return;
	pthread_mutex_lock(&rec_lock);
	rec.state[0] = '\0';
	pthread_mutex_unlock(&rec_lock);
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &c, &own_ops, "named1"), 0);
	OCTO_CHECK(state_wait("Unmonitored")); /* resolved: no monitor of its own */
	OCTO_CHECK_INT_EQ(s->peer_state("named1", state, sizeof(state), NULL, 0), 0);
	OCTO_CHECK_STR_EQ(state, "Unmonitored");
	OCTO_CHECK_STR_EQ(row_host("named1", buf, sizeof(buf)), "localhost (127.0.0.1:5072)");
	OCTO_CHECK_INT_EQ(sip_peer_resolve("named1@peer/o1/0612345678", &out), 0);
	OCTO_CHECK_STR_EQ(out.ruri, "sip:0612345678@localhost:5072");
	OCTO_CHECK_STR_EQ(sip_addr_hostport(&out.to, buf, sizeof(buf)), "127.0.0.1:5072");
	sip_peer_use_release(&out.use);
	/* a request from the name's address belongs to the peer */
	invite_from("127.0.0.1", "021234509", "x", "");
	pthread_mutex_lock(&rec_lock);
	OCTO_CHECK_INT_EQ(inv.verdict, SIP_PEER_ROUTED);
	OCTO_CHECK_STR_EQ(inv.in.peer, "named1");
	pthread_mutex_unlock(&rec_lock);
	sip_peer_use_release(&inv.in.use);

	/* a name that never resolves */
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &bad, &own_ops, "nohost"), 0);
	OCTO_CHECK(state_wait("Unresolved"));
	pthread_mutex_lock(&rec_lock);
	OCTO_CHECK_CONTAINS(rec.reason, "nosuchhost.invalid: ");
	pthread_mutex_unlock(&rec_lock);
	OCTO_CHECK_INT_EQ(s->peer_state("nohost", state, sizeof(state), NULL, 0), 0);
	OCTO_CHECK_CONTAINS(state, "Unresolved (nosuchhost.invalid: ");
	OCTO_CHECK_STR_EQ(row_host("nohost", buf, sizeof(buf)), "nosuchhost.invalid (unresolved)");
	OCTO_CHECK_INT_EQ(sip_peer_resolve("nohost@peer/o1/0612345678", &out), OCTO_ENOTFOUND);
	OCTO_CHECK(out.use == NULL);

	/* a registrar by name: REGISTER for the name, once resolved */
	sent_clear();
	OCTO_CHECK_INT_EQ(s->peer_add(NULL, &reg, &own_ops, "namedreg"), 0);
	OCTO_CHECK(state_wait("Registering"));
	{
		char *r = sent_find("REGISTER sip:localhost:5099 SIP/2.0");

		OCTO_CHECK(r != NULL);
		if (r)
			OCTO_CHECK_CONTAINS(r, "To: <sip:0299@localhost>");
		free(r);
	}
	/* calls go to the host, an IP address here */
	OCTO_CHECK_INT_EQ(sip_peer_resolve("namedreg@peer/o1/06", &out), 0);
	OCTO_CHECK_STR_EQ(out.ruri, "sip:06@192.0.2.60:5060");
	sip_peer_use_release(&out.use);
	s->peer_remove("named1");
	s->peer_remove("nohost");
	s->peer_remove("namedreg");
	invite_from("127.0.0.1", "021234509", "x", "");
	OCTO_CHECK_INT_EQ(inv.verdict, SIP_PEER_NONE);
}

OCTO_TEST(devices_providers_are_appended)
{
	const struct octo_sip_api *s = api();
	char dests[4][OCTO_CHAN_DEST_MAX];

	if (!s)
		return;
	OCTO_CHECK_INT_EQ(s->devices_add(NULL, prov_a, NULL), 0);
	OCTO_CHECK_INT_EQ(s->devices_add(NULL, prov_a, NULL), OCTO_EEXIST);
	OCTO_CHECK_INT_EQ(s->devices_add(NULL, prov_b, NULL), 0);
	octo_strlcpy(dests[0], "100/0", OCTO_CHAN_DEST_MAX);
	/* one registered contact already there; at most 4 in all */
	OCTO_CHECK_INT_EQ(sip_peer_devices("100", dests, 1, 4), 4);
	OCTO_CHECK_STR_EQ(dests[0], "100/0");
	OCTO_CHECK_STR_EQ(dests[1], "fxs1@peer/1/100");
	OCTO_CHECK_STR_EQ(dests[2], "dect@peer/h0/100");
	OCTO_CHECK_STR_EQ(dests[3], "dect@peer/h1/100");
	OCTO_CHECK_INT_EQ(sip_peer_devices("101", dests, 0, 4), 3);
	s->devices_remove(prov_a, NULL);
	s->devices_remove(prov_b, NULL);
	s->devices_remove(prov_b, NULL);
	OCTO_CHECK_INT_EQ(sip_peer_devices("100", dests, 0, 4), 0);
}

/* ---------------------------------------------------------------- setup */

static void test_teardown(void);

__attribute__((constructor)) static void test_setup(void)
{
	sip_test_stack_start();
	sip_peer_init();
	sip_peer_service_register(NULL);
	sip_method_register(SIP_INVITE, test_on_invite);
	sip_method_register(SIP_REGISTER, test_on_register);
	atexit(test_teardown);
}

static void test_teardown(void)
{
	if (api())
		octo_service_put(api(), "test");
	sip_peer_fini();
	sip_test_stack_stop();
	sent_clear();
}

OCTO_TEST_MAIN()
