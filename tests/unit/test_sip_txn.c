/*
 * test_sip_txn.c - unit tests for chan_sip's transactions (sip_txn.c) and
 * dispatch (sip_core.c) on the real core event loop, with a fake transport
 * that records what would be sent. Timers run with T1 = 20 ms so the RFC
 * 3261 timers (64*T1 = 1.28 s) pass quickly.
 *
 * No assertion depends on timing: tests wait for conditions with a generous
 * bound and check what a correct state machine guarantees (answers,
 * retransmissions happening, then stopping, the transaction ending).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octo/obj.h"
#include "octo/sched.h"
#include "octo_test.h"
#include "sip.h"

#define CRLF "\r\n"
#define WAIT_MS 10000

/* ---------------------------------------------------------------- fake transport */

struct sent {
	struct sip_addr to;
	char *text;
};

static pthread_mutex_t sent_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sent sent_log[1024];
static int sent_count;
static atomic_int fail_sends;

int sip_transport_send(const struct sip_addr *dest, const char *buf, size_t len)
{
	if (atomic_load(&fail_sends))
		return OCTO_EFAIL;
	pthread_mutex_lock(&sent_lock);
	if (sent_count < (int)OCTO_ARRAY_LEN(sent_log)) {
		sent_log[sent_count].to = *dest;
		sent_log[sent_count].text = strndup(buf, len);
		sent_count++;
	}
	pthread_mutex_unlock(&sent_lock);
	return 0;
}

/* the key of the last client transaction that sent (what the UDP sending
 * thread would report back on a failure) */
static char last_key[SIP_KEY_MAX];

int sip_transport_send_for(const struct sip_addr *dest, const char *buf, size_t len,
			   const char *txn_key)
{
	if (txn_key) {
		pthread_mutex_lock(&sent_lock);
		octo_strlcpy(last_key, txn_key, sizeof(last_key));
		pthread_mutex_unlock(&sent_lock);
	}
	return sip_transport_send(dest, buf, len);
}

int sip_transport_local(const struct sip_addr *dest, char *host, size_t size, unsigned *port)
{
	octo_strlcpy(host, "192.0.2.100", size);
	*port = 5070;
	return 0;
}

static void sent_reset(void)
{
	pthread_mutex_lock(&sent_lock);
	for (int i = 0; i < sent_count; i++)
		free(sent_log[i].text);
	sent_count = 0;
	pthread_mutex_unlock(&sent_lock);
}

static int sent_n(void)
{
	int n;

	pthread_mutex_lock(&sent_lock);
	n = sent_count;
	pthread_mutex_unlock(&sent_lock);
	return n;
}

/* A copy of message i (free it), or NULL. */
static char *sent_get(int i)
{
	char *s = NULL;

	pthread_mutex_lock(&sent_lock);
	if (i >= 0 && i < sent_count)
		s = strdup(sent_log[i].text);
	pthread_mutex_unlock(&sent_lock);
	return s;
}

/* How many sent messages start with `prefix`. */
static int sent_count_prefix(const char *prefix)
{
	int n = 0;

	pthread_mutex_lock(&sent_lock);
	for (int i = 0; i < sent_count; i++)
		n += !strncmp(sent_log[i].text, prefix, strlen(prefix));
	pthread_mutex_unlock(&sent_lock);
	return n;
}

static bool wait_prefix(const char *prefix, int want)
{
	uint64_t end = octo_now_ms() + WAIT_MS;

	while (sent_count_prefix(prefix) < want) {
		if (octo_now_ms() > end)
			return false;
		usleep(2000);
	}
	return true;
}

/* The last sent message starting with `prefix` (free it). */
static char *sent_last(const char *prefix)
{
	char *s = NULL;

	pthread_mutex_lock(&sent_lock);
	for (int i = sent_count - 1; i >= 0 && !s; i--)
		if (!strncmp(sent_log[i].text, prefix, strlen(prefix)))
			s = strdup(sent_log[i].text);
	pthread_mutex_unlock(&sent_lock);
	return s;
}

/* ---------------------------------------------------------------- driving the stack */

struct feed_job {
	const char *text;
	struct sip_addr src;
};

static void feed_run(void *data)
{
	struct feed_job *j = data;

	sip_receive(j->text, strlen(j->text), &j->src);
}

/* Delivers `text` as received from 10.0.0.1:5062 over `tp` (on the loop). */
static void feed(const char *text, enum sip_tp tp)
{
	struct feed_job j = { .text = text };

	sip_addr_set(&j.src, tp, "10.0.0.1", 5062);
	if (tp != SIP_TP_UDP)
		j.src.conn = 42;
	sip_loop_run(feed_run, &j);
}

static unsigned long live(enum sip_txn_kind k, enum sip_txn_state s)
{
	unsigned long c[SIP_TXN_KINDS][SIP_TXN_STATES];

	sip_txn_counts(c);
	return c[k][s];
}

static unsigned long live_total(void)
{
	unsigned long c[SIP_TXN_KINDS][SIP_TXN_STATES], n = 0;

	sip_txn_counts(c);
	for (int k = 0; k < SIP_TXN_KINDS; k++)
		for (int s = 0; s < SIP_TXN_STATES; s++)
			n += c[k][s];
	return n;
}

static bool wait_no_txn(void)
{
	uint64_t end = octo_now_ms() + WAIT_MS;

	while (live_total()) {
		if (octo_now_ms() > end)
			return false;
		usleep(2000);
	}
	return true;
}

/* Builds a request: method, branch, CSeq number, extra header lines. */
static const char *req(const char *method, const char *branch, int cseq, const char *extra)
{
	static _Thread_local char buf[4][2048];
	static _Thread_local int next;
	char *b = buf[next++ % 4];

	snprintf(b, sizeof(buf[0]),
		 "%s sip:100@192.0.2.100 SIP/2.0" CRLF
		 "Via: SIP/2.0/UDP 10.0.0.1:5062;branch=%s;rport" CRLF "Max-Forwards: 70" CRLF
		 "From: <sip:alice@example.com>;tag=ft1" CRLF "To: <sip:100@192.0.2.100>" CRLF
		 "Call-ID: %s-call@10.0.0.1" CRLF "CSeq: %d %s" CRLF "%s"
		 "Content-Length: 0" CRLF CRLF,
		 method, branch, branch, cseq, method, extra ? extra : "");
	return b;
}

/* ---------------------------------------------------------------- handlers for the tests */

static struct sip_txn *held_txn; /* a transaction a handler kept */
static struct sip_msg *held_req; /* and its request */
static atomic_int handler_calls;
static atomic_int ack_calls;
static int invite_answer; /* what the INVITE handler answers; 0 = keep it */

static void on_invite_keep(struct sip_txn *txn, struct sip_msg *r)
{
	held_txn = octo_obj_ref(txn);
	octo_obj_unref(held_req);
	held_req = octo_obj_ref(r);
	OCTO_CHECK(sip_txn_request(txn) == r);
}

static void on_invite(struct sip_txn *txn, struct sip_msg *r)
{
	atomic_fetch_add(&handler_calls, 1);
	if (invite_answer)
		sip_txn_respond(txn, invite_answer, NULL);
	else
		on_invite_keep(txn, r);
}

static void on_ack(struct sip_txn *txn, struct sip_msg *r)
{
	atomic_fetch_add(&ack_calls, 1);
}

/* ---------------------------------------------------------------- server side */

static atomic_int refused_rc;

static void send_refused(void *data)
{
	atomic_store(&refused_rc, sip_txn_send(held_txn, data));
}

OCTO_TEST(options_answered_and_retransmission_absorbed)
{
	const char *o = req("OPTIONS", "z9hG4bKopt1", 1, NULL);
	char *first, *second;

	sent_reset();
	feed(o, SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 200 OK", 1));
	first = sent_last("SIP/2.0 200 OK");
	OCTO_CHECK_CONTAINS(first, "Allow: OPTIONS");
	OCTO_CHECK_CONTAINS(first, "Accept: application/sdp");
	OCTO_CHECK_CONTAINS(first, "Supported:");
	OCTO_CHECK_CONTAINS(first, "rport=5062;received=10.0.0.1");
	OCTO_CHECK_INT_EQ(live(SIP_NIST, SIP_TXN_COMPLETED), 1);
	/* the retransmission gets the very same bytes from the transaction */
	feed(o, SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 200 OK", 2));
	second = sent_last("SIP/2.0 200 OK");
	OCTO_CHECK_STR_EQ(second, first);
	OCTO_CHECK_INT_EQ(sent_n(), 2);
	/* Timer J ends it */
	OCTO_CHECK(wait_no_txn());
	free(first);
	free(second);
}

OCTO_TEST(options_over_tcp_ends_at_once)
{
	sent_reset();
	feed(req("OPTIONS", "z9hG4bKopt2", 1, NULL), SIP_TP_TCP);
	OCTO_CHECK(wait_prefix("SIP/2.0 200 OK", 1));
	OCTO_CHECK_INT_EQ(live_total(), 0); /* Timer J = 0 on a reliable transport */
	pthread_mutex_lock(&sent_lock);
	OCTO_CHECK_INT_EQ(sent_log[0].to.conn, 42);
	pthread_mutex_unlock(&sent_lock);
}

OCTO_TEST(unknown_method_501_known_method_405)
{
	char *s;

	sent_reset();
	feed(req("FOO", "z9hG4bKfoo", 1, NULL), SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 501 Not Implemented", 1));
	feed(req("SUBSCRIBE", "z9hG4bKsub", 1, NULL), SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 405 Method Not Allowed", 1));
	s = sent_last("SIP/2.0 405");
	OCTO_CHECK_CONTAINS(s, "Allow: OPTIONS");
	free(s);
}

OCTO_TEST(require_unknown_option_is_420)
{
	char *s;

	sent_reset();
	feed(req("OPTIONS", "z9hG4bKreq", 1, "Require: 100rel, timer" CRLF), SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 420 Bad Extension", 1));
	s = sent_last("SIP/2.0 420");
	OCTO_CHECK_CONTAINS(s, "Unsupported: 100rel, timer");
	free(s);
	/* once supported, it passes */
	OCTO_CHECK_INT_EQ(sip_option_tag_add("timer"), 0);
	OCTO_CHECK_INT_EQ(sip_option_tag_add("100rel"), 0);
	feed(req("OPTIONS", "z9hG4bKreq2", 1, "Require: 100rel, timer" CRLF), SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 200 OK", 1));
	s = sent_last("SIP/2.0 200 OK");
	OCTO_CHECK_CONTAINS(s, "Supported: timer, 100rel");
	free(s);
	sip_core_reset();
}

OCTO_TEST(malformed_request_answered_400)
{
	char bad[2048];

	sent_reset();
	snprintf(bad, sizeof(bad), "%s", req("OPTIONS", "z9hG4bKbad", 1, NULL));
	memcpy(strstr(bad, "Max-Forwards: 70"), "Max-Forwards: xx", 16);
	feed(bad, SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 400", 1));
	feed("garbage", SIP_TP_UDP);
	usleep(20000);
	OCTO_CHECK_INT_EQ(sent_n(), 1); /* garbage gets nothing */
}

OCTO_TEST(invite_rejected_retransmits_until_ack)
{
	char ack[2048], *s;
	int before;

	sip_method_register(SIP_INVITE, on_invite);
	invite_answer = 486;
	sent_reset();
	feed(req("INVITE", "z9hG4bKinv1", 1, NULL), SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 100 Trying", 1));
	OCTO_CHECK(wait_prefix("SIP/2.0 486 Busy Here", 1));
	s = sent_get(0);
	OCTO_CHECK(s && !strncmp(s, "SIP/2.0 100 Trying", 18)); /* 100 first */
	free(s);
	/* Timer G: the 486 goes again while no ACK comes */
	OCTO_CHECK(wait_prefix("SIP/2.0 486 Busy Here", 3));
	OCTO_CHECK_INT_EQ(live(SIP_IST, SIP_TXN_COMPLETED), 1);
	/* the ACK (same branch, To tag of our 486) confirms it */
	s = sent_last("SIP/2.0 486");
	{
		const char *tag = s ? strstr(s, "To: <sip:100@192.0.2.100>;tag=") : NULL;
		char totag[64] = "";

		if (tag)
			sscanf(tag + strlen("To: <sip:100@192.0.2.100>;tag="), "%63[^\r]", totag);
		OCTO_CHECK(totag[0] != '\0');
		snprintf(ack, sizeof(ack),
			 "ACK sip:100@192.0.2.100 SIP/2.0" CRLF
			 "Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKinv1;rport" CRLF
			 "From: <sip:alice@example.com>;tag=ft1" CRLF
			 "To: <sip:100@192.0.2.100>;tag=%s" CRLF
			 "Call-ID: z9hG4bKinv1-call@10.0.0.1" CRLF "CSeq: 1 ACK" CRLF
			 "Content-Length: 0" CRLF CRLF,
			 totag);
	}
	free(s);
	feed(ack, SIP_TP_UDP);
	OCTO_CHECK_INT_EQ(live(SIP_IST, SIP_TXN_CONFIRMED), 1);
	before = sent_count_prefix("SIP/2.0 486");
	usleep(400000); /* 5 * T2: Timer G would have fired again */
	OCTO_CHECK_INT_EQ(sent_count_prefix("SIP/2.0 486"), before);
	OCTO_CHECK_INT_EQ(atomic_load(&ack_calls), 0); /* absorbed, not the TU's */
	OCTO_CHECK(wait_no_txn());
	sip_core_reset();
}

static void on_invite_challenge(struct sip_txn *txn, struct sip_msg *r)
{
	(void)r;
	atomic_fetch_add(&handler_calls, 1);
	sip_txn_send_forget(txn, sip_txn_response(txn, 407, NULL));
}

/* A digest challenge ends its transaction at once, as a stateless server
 * would: nothing is retransmitted, a retransmitted INVITE is a new request
 * (answered again), its ACK goes to the ACK handler (no dialog there). */
OCTO_TEST(challenge_forgets_its_transaction)
{
	sip_method_register(SIP_INVITE, on_invite_challenge);
	sip_method_register(SIP_ACK, on_ack);
	atomic_store(&handler_calls, 0);
	atomic_store(&ack_calls, 0);
	sent_reset();
	feed(req("INVITE", "z9hG4bKchal1", 1, NULL), SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 407", 1));
	OCTO_CHECK(wait_no_txn());
	usleep(200000); /* Timer G (T1 = 20 ms here) would have resent it 3 times */
	OCTO_CHECK_INT_EQ(sent_count_prefix("SIP/2.0 407"), 1);
	feed(req("INVITE", "z9hG4bKchal1", 1, NULL), SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 407", 2));
	OCTO_CHECK_INT_EQ(atomic_load(&handler_calls), 2);
	feed(req("ACK", "z9hG4bKchal1", 1, NULL), SIP_TP_UDP);
	OCTO_CHECK_INT_EQ(atomic_load(&ack_calls), 1);
	OCTO_CHECK(wait_no_txn());
	sip_core_reset();
}

OCTO_TEST(invite_2xx_retransmitted_until_acked)
{
	int before;

	sip_method_register(SIP_INVITE, on_invite);
	invite_answer = 0;
	held_txn = NULL;
	sent_reset();
	feed(req("INVITE", "z9hG4bKinv2", 1, NULL), SIP_TP_UDP);
	OCTO_CHECK(held_txn != NULL);
	if (!held_txn)
		return;
	/* answered from another thread: posted to the loop */
	OCTO_CHECK_INT_EQ(sip_txn_respond(held_txn, 180, NULL), 0);
	OCTO_CHECK_INT_EQ(sip_txn_respond(held_txn, 200, NULL), 0);
	OCTO_CHECK(wait_prefix("SIP/2.0 200 OK", 3));
	OCTO_CHECK_INT_EQ(sip_txn_state(held_txn), SIP_TXN_ACCEPTED);
	OCTO_CHECK(wait_prefix("SIP/2.0 180 Ringing", 1));
	/* a final response was sent: another one is refused */
	{
		/* the transaction let go of its request: no more responses from it,
		 * and one built from a kept request is refused */
		struct sip_msg *again;

		OCTO_CHECK(sip_txn_response(held_txn, 486, NULL) == NULL);
		OCTO_CHECK(sip_txn_request_get(held_txn) == NULL);
		again = sip_msg_response(held_req, 486, NULL, sip_txn_to_tag(held_txn));
		OCTO_CHECK(again != NULL);
		sip_loop_run(send_refused, again);
	}
	{
		char *ok = sent_last("SIP/2.0 200 OK"), *ring = sent_last("SIP/2.0 180");

		/* the same To tag in every response of the transaction */
		OCTO_CHECK(ok && strstr(ok, sip_txn_to_tag(held_txn)));
		OCTO_CHECK(ring && strstr(ring, sip_txn_to_tag(held_txn)));
		free(ok);
		free(ring);
	}
	OCTO_CHECK_INT_EQ(atomic_load(&refused_rc), OCTO_EINVAL);
	sip_loop_run((void (*)(void *))sip_txn_acked, held_txn);
	before = sent_count_prefix("SIP/2.0 200 OK");
	usleep(400000);
	OCTO_CHECK_INT_EQ(sent_count_prefix("SIP/2.0 200 OK"), before);
	octo_obj_unref(held_txn);
	held_txn = NULL;
	OCTO_CHECK(wait_no_txn());
	sip_core_reset();
}

OCTO_TEST(cancel_gets_200_and_invite_487)
{
	char cancel[2048];

	sip_method_register(SIP_INVITE, on_invite);
	invite_answer = 0;
	held_txn = NULL;
	sent_reset();
	feed(req("INVITE", "z9hG4bKinv3", 5, NULL), SIP_TP_UDP);
	snprintf(cancel, sizeof(cancel), "%s", req("CANCEL", "z9hG4bKinv3", 5, NULL));
	/* same Call-ID as the INVITE */
	feed(cancel, SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 200 OK", 1));
	OCTO_CHECK(wait_prefix("SIP/2.0 487 Request Terminated", 1));
	{
		char *ok = sent_last("SIP/2.0 200 OK"), *term = sent_last("SIP/2.0 487");

		OCTO_CHECK_CONTAINS(ok, "CSeq: 5 CANCEL");
		OCTO_CHECK_CONTAINS(term, "CSeq: 5 INVITE");
		free(ok);
		free(term);
	}
	octo_obj_unref(held_txn);
	held_txn = NULL;
	/* a CANCEL that matches nothing */
	feed(req("CANCEL", "z9hG4bKnone", 5, NULL), SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 481 Call/Transaction Does Not Exist", 1));
	sip_core_reset();
}

OCTO_TEST(merged_request_and_loop_are_482)
{
	char copy[2048], ours[2048], branch[SIP_BRANCH_LEN], *p;

	sip_method_register(SIP_INVITE, on_invite);
	invite_answer = 0;
	held_txn = NULL;
	sent_reset();
	snprintf(copy, sizeof(copy), "%s", req("INVITE", "z9hG4bKm1", 9, NULL));
	feed(copy, SIP_TP_UDP);
	/* the same request (Call-ID, From tag, CSeq) by another path: new branch */
	p = strstr(copy, "branch=z9hG4bKm1");
	memcpy(p, "branch=z9hG4bKm2", 16);
	feed(copy, SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 482 Loop Detected", 1));
	OCTO_CHECK_INT_EQ(atomic_load(&handler_calls) > 0, 1);
	sip_txn_respond(held_txn, 603, NULL);
	octo_obj_unref(held_txn);
	held_txn = NULL;

	/* a request that carries one of our own branches came back to us */
	sip_new_branch(branch, sizeof(branch));
	snprintf(ours, sizeof(ours), "%s", req("OPTIONS", "z9hG4bKx", 1, NULL));
	p = strstr(ours, "Max-Forwards");
	{
		char tail[2048];

		snprintf(tail, sizeof(tail), "%s", p);
		snprintf(p, sizeof(ours) - (size_t)(p - ours),
			 "Via: SIP/2.0/UDP 192.0.2.100:5070;branch=%s" CRLF "%s", branch, tail);
	}
	feed(ours, SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("SIP/2.0 482 Loop Detected", 2));
	sip_core_reset();
}

/* ---------------------------------------------------------------- client side */

static atomic_int resp_status[8];
static atomic_int resp_count;
static atomic_int end_why = -1;
static atomic_int ends;

static void cl_response(struct sip_txn *txn, struct sip_msg *resp, void *data)
{
	int i = atomic_fetch_add(&resp_count, 1);

	if (i < 8)
		atomic_store(&resp_status[i], resp->status + (resp->local ? 1000 : 0));
}

static void cl_end(struct sip_txn *txn, enum sip_txn_end why, void *data)
{
	atomic_store(&end_why, (int)why);
	atomic_fetch_add(&ends, 1);
}

static const struct sip_client_ops cl_ops = { .response = cl_response, .end = cl_end };

static void cl_reset(void)
{
	atomic_store(&resp_count, 0);
	atomic_store(&ends, 0);
	atomic_store(&end_why, -1);
	for (int i = 0; i < 8; i++)
		atomic_store(&resp_status[i], 0);
}

static bool wait_int(atomic_int *v, int want)
{
	uint64_t end = octo_now_ms() + WAIT_MS;

	while (atomic_load(v) < want) {
		if (octo_now_ms() > end)
			return false;
		usleep(2000);
	}
	return true;
}

/* Answers our last request starting with `prefix` with `status` (To tag "rt"). */
static void answer_last(const char *prefix, int status, const char *reason)
{
	char *r = sent_last(prefix), resp[2048], via[256] = "", cseq[64] = "", callid[128] = "",
	     from[256] = "";
	const char *p;

	if (!r)
		return;
	if ((p = strstr(r, "Via: ")))
		sscanf(p, "Via: %255[^\r]", via);
	if ((p = strstr(r, "CSeq: ")))
		sscanf(p, "CSeq: %63[^\r]", cseq);
	if ((p = strstr(r, "Call-ID: ")))
		sscanf(p, "Call-ID: %127[^\r]", callid);
	if ((p = strstr(r, "From: ")))
		sscanf(p, "From: %255[^\r]", from);
	snprintf(resp, sizeof(resp),
		 "SIP/2.0 %d %s" CRLF "Via: %s" CRLF "From: %s" CRLF
		 "To: <sip:200@10.0.0.1>;tag=rt" CRLF "Call-ID: %s" CRLF "CSeq: %s" CRLF
		 "Content-Length: 0" CRLF CRLF,
		 status, reason, via, from, callid, cseq);
	free(r);
	feed(resp, SIP_TP_UDP);
}

static struct sip_txn *cl_send(enum sip_method m, enum sip_tp tp)
{
	struct sip_addr to;
	struct sip_msg *r = sip_msg_request(m, "sip:200@10.0.0.1", "sip:octo@192.0.2.100", NULL,
					    "sip:200@10.0.0.1", NULL, NULL, 1);

	sip_addr_set(&to, tp, "10.0.0.1", 5060);
	return sip_txn_client(r, &to, &cl_ops, NULL);
}

OCTO_TEST(nict_retransmits_then_completes)
{
	struct sip_txn *t;
	char *s;

	sent_reset();
	cl_reset();
	t = cl_send(SIP_OPTIONS, SIP_TP_UDP);
	OCTO_CHECK(t != NULL);
	OCTO_CHECK(wait_prefix("OPTIONS sip:200@10.0.0.1", 3)); /* Timer E */
	s = sent_last("OPTIONS");
	OCTO_CHECK_CONTAINS(s, "Via: SIP/2.0/UDP 192.0.2.100:5070;branch=z9hG4bK");
	OCTO_CHECK_CONTAINS(s, ";rport");
	OCTO_CHECK_CONTAINS(s, "Max-Forwards: 70");
	free(s);
	answer_last("OPTIONS", 200, "OK");
	OCTO_CHECK(wait_int(&resp_count, 1));
	OCTO_CHECK_INT_EQ(atomic_load(&resp_status[0]), 200);
	OCTO_CHECK_INT_EQ(sip_txn_state(t), SIP_TXN_COMPLETED);
	OCTO_CHECK(wait_int(&ends, 1)); /* Timer K */
	OCTO_CHECK_INT_EQ(atomic_load(&end_why), SIP_END_NORMAL);
	OCTO_CHECK_INT_EQ(atomic_load(&resp_count), 1);
	octo_obj_unref(t);
}

OCTO_TEST(nict_timeout_is_local_408)
{
	struct sip_txn *t;

	sent_reset();
	cl_reset();
	t = cl_send(SIP_OPTIONS, SIP_TP_UDP);
	OCTO_CHECK(wait_int(&ends, 1)); /* Timer F */
	OCTO_CHECK_INT_EQ(atomic_load(&resp_status[0]), 1408);
	OCTO_CHECK_INT_EQ(atomic_load(&end_why), SIP_END_TIMEOUT);
	OCTO_CHECK(sent_count_prefix("OPTIONS") >= 4);
	octo_obj_unref(t);
}

OCTO_TEST(nict_over_tcp_does_not_retransmit)
{
	struct sip_txn *t;

	sent_reset();
	cl_reset();
	t = cl_send(SIP_OPTIONS, SIP_TP_TCP);
	OCTO_CHECK(wait_prefix("OPTIONS", 1));
	usleep(200000);
	OCTO_CHECK_INT_EQ(sent_count_prefix("OPTIONS"), 1);
	answer_last("OPTIONS", 404, "Not Found");
	OCTO_CHECK(wait_int(&ends, 1)); /* Timer K = 0 */
	OCTO_CHECK_INT_EQ(atomic_load(&resp_status[0]), 404);
	octo_obj_unref(t);
}

OCTO_TEST(transport_error_is_local_503)
{
	struct sip_txn *t;

	sent_reset();
	cl_reset();
	atomic_store(&fail_sends, 1);
	t = cl_send(SIP_OPTIONS, SIP_TP_UDP);
	OCTO_CHECK(wait_int(&ends, 1));
	atomic_store(&fail_sends, 0);
	OCTO_CHECK_INT_EQ(atomic_load(&resp_status[0]), 1503);
	OCTO_CHECK_INT_EQ(atomic_load(&end_why), SIP_END_TRANSPORT);
	octo_obj_unref(t);
}

static void report_send_failed(void *key)
{
	sip_txn_send_failed(key);
}

/* A send that failed later in the UDP sending thread: the transaction
 * learns of it by its key, also after a provisional response; once the
 * final response came, nothing happens. */
OCTO_TEST(send_failure_reported_later_is_503)
{
	struct sip_txn *t;
	char key[SIP_KEY_MAX];

	sent_reset();
	cl_reset();
	t = cl_send(SIP_INVITE, SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("INVITE", 1));
	answer_last("INVITE", 180, "Ringing");
	OCTO_CHECK(wait_int(&resp_count, 1));
	pthread_mutex_lock(&sent_lock);
	octo_strlcpy(key, last_key, sizeof(key));
	pthread_mutex_unlock(&sent_lock);
	OCTO_CHECK_CONTAINS(key, "INVITE");
	sip_loop_run(report_send_failed, key);
	OCTO_CHECK(wait_int(&ends, 1));
	OCTO_CHECK_INT_EQ(atomic_load(&resp_status[1]), 1503);
	OCTO_CHECK_INT_EQ(atomic_load(&end_why), SIP_END_TRANSPORT);
	octo_obj_unref(t);
	sip_loop_run(report_send_failed, key); /* gone: nothing */

	sent_reset();
	cl_reset();
	t = cl_send(SIP_INVITE, SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("INVITE", 1));
	answer_last("INVITE", 486, "Busy Here");
	OCTO_CHECK(wait_prefix("ACK", 1));
	pthread_mutex_lock(&sent_lock);
	octo_strlcpy(key, last_key, sizeof(key));
	pthread_mutex_unlock(&sent_lock);
	sip_loop_run(report_send_failed, key); /* the ACK's send: left to the timers */
	OCTO_CHECK_INT_EQ(atomic_load(&resp_count), 1);
	OCTO_CHECK_INT_EQ(atomic_load(&resp_status[0]), 486);
	OCTO_CHECK_INT_EQ(sip_txn_state(t), SIP_TXN_COMPLETED);
	octo_obj_unref(t);
}

OCTO_TEST(ict_acks_non_2xx_itself)
{
	struct sip_txn *t;
	char *ack;

	sent_reset();
	cl_reset();
	t = cl_send(SIP_INVITE, SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("INVITE", 2)); /* Timer A */
	answer_last("INVITE", 180, "Ringing");
	OCTO_CHECK(wait_int(&resp_count, 1));
	OCTO_CHECK_INT_EQ(sip_txn_state(t), SIP_TXN_PROCEEDING);
	answer_last("INVITE", 486, "Busy Here");
	OCTO_CHECK(wait_prefix("ACK sip:200@10.0.0.1", 1));
	ack = sent_last("ACK");
	OCTO_CHECK_CONTAINS(ack, "CSeq: 1 ACK");
	OCTO_CHECK_CONTAINS(ack, "To: <sip:200@10.0.0.1>;tag=rt");
	free(ack);
	OCTO_CHECK_INT_EQ(atomic_load(&resp_status[1]), 486);
	/* a retransmitted 486 gets the ACK again, and is not passed up */
	answer_last("INVITE", 486, "Busy Here");
	OCTO_CHECK(wait_prefix("ACK", 2));
	OCTO_CHECK_INT_EQ(atomic_load(&resp_count), 2);
	OCTO_CHECK_INT_EQ(sip_txn_state(t), SIP_TXN_COMPLETED);
	octo_obj_unref(t);
}

OCTO_TEST(ict_cancel_waits_for_provisional)
{
	struct sip_txn *t;
	char *inv, *can;

	sent_reset();
	cl_reset();
	t = cl_send(SIP_INVITE, SIP_TP_TCP);
	OCTO_CHECK(wait_prefix("INVITE", 1));
	sip_txn_cancel(t); /* from this thread: posted */
	usleep(50000);
	OCTO_CHECK_INT_EQ(sent_count_prefix("CANCEL"), 0);
	answer_last("INVITE", 183, "Session Progress");
	OCTO_CHECK(wait_prefix("CANCEL sip:200@10.0.0.1", 1));
	inv = sent_last("INVITE");
	can = sent_last("CANCEL");
	/* same branch, CSeq number and Call-ID */
	{
		char vi[256] = "", vc[256] = "";

		sscanf(strstr(inv, "Via: "), "Via: %255[^\r]", vi);
		sscanf(strstr(can, "Via: "), "Via: %255[^\r]", vc);
		OCTO_CHECK_STR_EQ(vc, vi);
	}
	OCTO_CHECK_CONTAINS(can, "CSeq: 1 CANCEL");
	free(inv);
	free(can);
	answer_last("CANCEL", 200, "OK");
	answer_last("INVITE", 487, "Request Terminated");
	OCTO_CHECK(wait_int(&ends, 1));
	OCTO_CHECK_INT_EQ(atomic_load(&resp_status[1]), 487);
	octo_obj_unref(t);
}

static atomic_int strays;

static void on_stray(struct sip_msg *resp)
{
	atomic_fetch_add(&strays, 1);
}

OCTO_TEST(stray_responses_go_to_the_hook)
{
	static const char stray[] = "SIP/2.0 200 OK" CRLF
				    "Via: SIP/2.0/UDP 192.0.2.100:5070;branch=z9hG4bKgone" CRLF
				    "From: <sip:a@b>;tag=1" CRLF "To: <sip:c@d>;tag=2" CRLF
				    "Call-ID: s1" CRLF "CSeq: 1 INVITE" CRLF CRLF;

	sip_set_stray_response_handler(on_stray);
	feed(stray, SIP_TP_UDP);
	OCTO_CHECK_INT_EQ(atomic_load(&strays), 1);
	sip_core_reset();
	feed(stray, SIP_TP_UDP);
	OCTO_CHECK_INT_EQ(atomic_load(&strays), 1);
}

OCTO_TEST(allow_follows_the_handlers)
{
	char allow[256];

	sip_core_reset();
	sip_allow_value(allow, sizeof(allow));
	OCTO_CHECK_STR_EQ(allow, "OPTIONS");
	sip_method_register(SIP_INVITE, on_invite);
	sip_method_register(SIP_ACK, on_ack);
	sip_method_register(SIP_REGISTER, on_ack);
	sip_allow_value(allow, sizeof(allow));
	OCTO_CHECK_STR_EQ(allow, "INVITE, ACK, CANCEL, OPTIONS, REGISTER");
	OCTO_CHECK_INT_EQ(sip_method_register(SIP_METHOD_UNKNOWN, on_ack), OCTO_EINVAL);
	sip_core_reset();
}

OCTO_TEST(zz_shutdown_ends_everything)
{
	struct sip_txn *t;

	cl_reset();
	sent_reset();
	t = cl_send(SIP_OPTIONS, SIP_TP_UDP);
	OCTO_CHECK(wait_prefix("OPTIONS", 1));
	OCTO_CHECK(live(SIP_NICT, SIP_TXN_TRYING) == 1);
	sip_loop_run((void (*)(void *))sip_txn_shutdown, NULL);
	/* this one, and the INVITE of ict_acks_non_2xx_itself still in Timer D */
	OCTO_CHECK(atomic_load(&ends) >= 1);
	OCTO_CHECK_INT_EQ(atomic_load(&end_why), SIP_END_SHUTDOWN);
	OCTO_CHECK_INT_EQ(live_total(), 0);
	octo_obj_unref(t);
	OCTO_CHECK(cl_send(SIP_OPTIONS, SIP_TP_UDP) == NULL);
	/* back up for anything after */
	sip_txn_init();
}

static void test_quiet_trace(const char *fi, int li, osip_trace_level_t level, const char *chfr,
			     va_list ap)
{
}

__attribute__((constructor)) static void test_setup(void)
{
	parser_init();
	osip_trace_initialize_func(END_TRACE_LEVEL, test_quiet_trace);
	octo_sched_start(2);
	sip_txn_set_timers(20, 80, 100);
	sip_txn_init();
}

__attribute__((destructor)) static void test_teardown(void)
{
	octo_obj_unref(held_req);
	sip_loop_run((void (*)(void *))sip_txn_shutdown, NULL);
	octo_sched_stop();
	sent_reset();
}

OCTO_TEST_MAIN()
