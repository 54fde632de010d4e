/*
 * test_sip_regout.c - unit tests for chan_sip's outbound registration and
 * digest answers (sip_regout.c):
 *  - the retry back-off and the re-register delay;
 *  - sip_peer_authorize(): the Authorization / Proxy-Authorization header
 *    for MD5 and SHA-256 challenges, with and without qop, opaque kept, the
 *    response checked against sip_digest_response(), unusable challenges;
 *  - a registration on the real event loop and transaction layer with a fake
 *    transport: REGISTER, 401, REGISTER with credentials, 200 (Registered
 *    with the granted time), the withdrawal at stop (Expires: 0); a 403
 *    (Failed with the reason); a registrar that never answers.
 *
 * sip.conf is not read (sip_cfg_get/sip_cfg_part are stubbed) and the peer
 * table is not linked: sip_peer_set_state() is stubbed to record the states.
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
#include "octo_test.h"
#include "sip.h"
#include "sip_peer.h"
#define SIP_TEST_SENT_MAX 64
#define SIP_TEST_REG_STUBS
#include "sip_test_util.h"
#include "../../core/internal.h"

#define CRLF "\r\n"
#define WAIT_MS 10000

/* ---------------------------------------------------------------- stubs */

static char last_state[32], last_reason[128];
static int state_calls;

void sip_peer_set_state(struct sip_peer *p, const char *state, const char *reason)
{
	pthread_mutex_lock(&sent_lock);
	octo_strlcpy(last_state, state, sizeof(last_state));
	octo_strlcpy(last_reason, reason ? reason : "", sizeof(last_reason));
	state_calls++;
	pthread_mutex_unlock(&sent_lock);
}

static int dns_again_calls;

/* The peer table is not linked: a failed registration's new lookup is counted. */
void sip_peer_dns_again(struct sip_peer *p)
{
	pthread_mutex_lock(&sent_lock);
	dns_again_calls++;
	pthread_mutex_unlock(&sent_lock);
}

static void sent_reset(void)
{
	sent_clear();
	pthread_mutex_lock(&sent_lock);
	state_calls = 0;
	last_state[0] = last_reason[0] = '\0';
	pthread_mutex_unlock(&sent_lock);
}

/* Waits until the recorded state is `state`; true when it came. */
static bool state_wait(const char *state)
{
	uint64_t end = octo_now_ms() + WAIT_MS;
	bool ok = false;

	while (!ok && octo_now_ms() < end) {
		pthread_mutex_lock(&sent_lock);
		ok = !strcmp(last_state, state);
		pthread_mutex_unlock(&sent_lock);
		if (!ok)
			usleep(1000);
	}
	return ok;
}

/* The first line of `msg` that starts with `name` (copied, without CRLF). */
static const char *header_line(const char *msg, const char *name, char *out, size_t size)
{
	size_t n = strlen(name);

	out[0] = '\0';
	for (const char *p = msg; p && *p; p = strstr(p, CRLF) ? strstr(p, CRLF) + 2 : NULL) {
		if (!strncasecmp(p, name, n)) {
			const char *e = strstr(p, CRLF);
			size_t len = e ? (size_t)(e - p) : strlen(p);

			if (len >= size)
				len = size - 1;
			memcpy(out, p, len);
			out[len] = '\0';
			return out;
		}
	}
	return out;
}

/* The value of `param` ("cnonce") in a header line, unquoted. */
static const char *param_of(const char *line, const char *param, char *out, size_t size)
{
	char key[64];
	const char *p;
	size_t n = 0;

	out[0] = '\0';
	snprintf(key, sizeof(key), "%s=", param);
	p = strstr(line, key);
	if (!p)
		return out;
	p += strlen(key);
	if (*p == '"')
		p++;
	while (*p && *p != '"' && *p != ',' && n + 1 < size)
		out[n++] = *p++;
	out[n] = '\0';
	return out;
}

/* ---------------------------------------------------------------- numbers */

OCTO_TEST(backoff_doubles_up_to_half_an_hour)
{
	OCTO_CHECK_INT_EQ(sip_regout_backoff(1), 30);
	OCTO_CHECK_INT_EQ(sip_regout_backoff(2), 60);
	OCTO_CHECK_INT_EQ(sip_regout_backoff(3), 120);
	OCTO_CHECK_INT_EQ(sip_regout_backoff(6), 960);
	OCTO_CHECK_INT_EQ(sip_regout_backoff(7), 1800);
	OCTO_CHECK_INT_EQ(sip_regout_backoff(1000), 1800);
}

OCTO_TEST(refresh_comes_before_the_expiry)
{
	OCTO_CHECK_INT_EQ(sip_regout_refresh(3600), 3240); /* 90 % */
	OCTO_CHECK_INT_EQ(sip_regout_refresh(30), 25);     /* 5 s before the end */
	OCTO_CHECK_INT_EQ(sip_regout_refresh(6), 1);
	OCTO_CHECK_INT_EQ(sip_regout_refresh(1), 1);
	OCTO_CHECK_INT_EQ(sip_regout_refresh(0), 1);
}

/* ---------------------------------------------------------------- digest answers */

static struct sip_msg *challenge(const char *text)
{
	struct sip_addr src;
	int status = 0;
	const char *why = NULL;
	char buf[1024];

	snprintf(buf, sizeof(buf),
		 "%s" CRLF "Via: SIP/2.0/UDP 192.0.2.100:5060;branch=z9hG4bKx1" CRLF
		 "From: <sip:trunk@192.0.2.1>;tag=a" CRLF "To: <sip:trunk@192.0.2.1>;tag=b" CRLF
		 "Call-ID: c1@192.0.2.100" CRLF "CSeq: 1 REGISTER" CRLF
		 "Content-Length: 0" CRLF CRLF,
		 text);
	sip_addr_set(&src, SIP_TP_UDP, "192.0.2.1", 5060);
	return sip_msg_parse(buf, strlen(buf), &src, &status, &why, NULL);
}

static char *request_text(struct sip_msg *m)
{
	char *s = NULL, *copy;
	size_t len = 0;

	if (sip_msg_to_str(m, &s, &len) != 0)
		return NULL;
	copy = strndup(s, len);
	osip_free(s);
	return copy;
}

OCTO_TEST(authorize_md5_with_qop)
{
	struct sip_msg *ch = challenge("SIP/2.0 401 Unauthorized" CRLF
				       "WWW-Authenticate: Digest realm=\"prov\", nonce=\"n0nce\", "
				       "opaque=\"op1\", qop=\"auth,auth-int\", algorithm=MD5");
	struct sip_msg *req = sip_msg_request(SIP_REGISTER, "sip:192.0.2.1",
					      "<sip:trunk@192.0.2.1>", NULL,
					      "<sip:trunk@192.0.2.1>", NULL, NULL, 2);
	char line[1024], cnonce[64], resp[80], expect[SIP_DIGEST_HEX_MAX], *text;

	OCTO_CHECK(ch != NULL && req != NULL);
	if (!ch || !req)
		return;
	OCTO_CHECK_INT_EQ(sip_peer_authorize(req, ch, "trunk", "s3cret", "sip:192.0.2.1"), 0);
	text = request_text(req);
	OCTO_CHECK(text != NULL);
	header_line(text ? text : "", "Authorization:", line, sizeof(line));
	OCTO_CHECK_CONTAINS(line, "Digest username=\"trunk\", realm=\"prov\", nonce=\"n0nce\", "
				  "uri=\"sip:192.0.2.1\", response=\"");
	OCTO_CHECK_CONTAINS(line, "algorithm=MD5");
	OCTO_CHECK_CONTAINS(line, "qop=auth, nc=00000001");
	OCTO_CHECK_CONTAINS(line, "opaque=\"op1\"");
	param_of(line, "cnonce", cnonce, sizeof(cnonce));
	param_of(line, "response", resp, sizeof(resp));
	OCTO_CHECK(strlen(cnonce) >= 8);
	OCTO_CHECK_INT_EQ(sip_digest_response(SIP_DIGEST_MD5, "trunk", "prov", "s3cret", "REGISTER",
					      "sip:192.0.2.1", "n0nce", "00000001", cnonce, "auth",
					      expect),
			  0);
	OCTO_CHECK_STR_EQ(resp, expect);
	free(text);
	octo_obj_unref(ch);
	octo_obj_unref(req);
}

OCTO_TEST(authorize_prefers_sha256_and_answers_407)
{
	struct sip_msg *ch = challenge("SIP/2.0 407 Proxy Authentication Required" CRLF
				       "Proxy-Authenticate: Digest realm=\"p\", nonce=\"a\", "
				       "algorithm=MD5" CRLF
				       "Proxy-Authenticate: Digest realm=\"p\", nonce=\"b\", "
				       "algorithm=SHA-256");
	struct sip_msg *req = sip_msg_request(SIP_INVITE, "sip:100@192.0.2.1",
					      "<sip:0212@192.0.2.100>", NULL, "<sip:100@192.0.2.1>",
					      NULL, NULL, 1);
	char line[1024], resp[80], expect[SIP_DIGEST_HEX_MAX], *text;

	OCTO_CHECK(ch != NULL && req != NULL);
	if (!ch || !req)
		return;
	OCTO_CHECK_INT_EQ(sip_peer_authorize(req, ch, "u", "pw", "sip:100@192.0.2.1"), 0);
	text = request_text(req);
	header_line(text ? text : "", "Proxy-Authorization:", line, sizeof(line));
	OCTO_CHECK_CONTAINS(line, "nonce=\"b\"");
	OCTO_CHECK_CONTAINS(line, "algorithm=SHA-256");
	/* no qop offered: the RFC 2069 form, no cnonce */
	OCTO_CHECK(strstr(line, "cnonce") == NULL);
	param_of(line, "response", resp, sizeof(resp));
	sip_digest_response(SIP_DIGEST_SHA256, "u", "p", "pw", "INVITE", "sip:100@192.0.2.1", "b",
			    NULL, NULL, NULL, expect);
	OCTO_CHECK_STR_EQ(resp, expect);
	free(text);
	octo_obj_unref(ch);
	octo_obj_unref(req);
}

OCTO_TEST(authorize_refuses_unusable_challenges)
{
	struct sip_msg *nononce = challenge("SIP/2.0 401 Unauthorized" CRLF
					    "WWW-Authenticate: Digest realm=\"p\", algorithm=MD5");
	struct sip_msg *unknown = challenge("SIP/2.0 401 Unauthorized" CRLF
					    "WWW-Authenticate: Digest realm=\"p\", nonce=\"x\", "
					    "algorithm=SHA-512-256");
	struct sip_msg *none = challenge("SIP/2.0 401 Unauthorized");
	struct sip_msg *req = sip_msg_request(SIP_REGISTER, "sip:192.0.2.1", "<sip:t@192.0.2.1>",
					      NULL, "<sip:t@192.0.2.1>", NULL, NULL, 2);

	OCTO_CHECK(nononce && unknown && none && req);
	if (nononce && unknown && none && req) {
		OCTO_CHECK_INT_EQ(sip_peer_authorize(req, nononce, "t", "p", "sip:x"), OCTO_EINVAL);
		OCTO_CHECK_INT_EQ(sip_peer_authorize(req, unknown, "t", "p", "sip:x"), OCTO_EINVAL);
		OCTO_CHECK_INT_EQ(sip_peer_authorize(req, none, "t", "p", "sip:x"), OCTO_EINVAL);
		/* a user name that would break out of the quotes */
		OCTO_CHECK_INT_EQ(sip_peer_authorize(req, unknown, "t\"x", "p", "sip:x"),
				  OCTO_EINVAL);
	}
	octo_obj_unref(nononce);
	octo_obj_unref(unknown);
	octo_obj_unref(none);
	octo_obj_unref(req);
}

/* ---------------------------------------------------------------- registration on the loop */

struct feed_job {
	char text[2048];
	struct sip_addr src;
};

static void feed_run(void *data)
{
	struct feed_job *j = data;

	sip_receive(j->text, strlen(j->text), &j->src);
}

/* Answers the request `req` (text) from the registrar with `status_line`
 * and extra headers. */
static void answer(const char *req, const char *status_line, const char *extra)
{
	static struct feed_job j;
	char via[300], from[300], to[300], cid[200], cseq[100];

	header_line(req, "Via:", via, sizeof(via));
	header_line(req, "From:", from, sizeof(from));
	header_line(req, "To:", to, sizeof(to));
	header_line(req, "Call-ID:", cid, sizeof(cid));
	header_line(req, "CSeq:", cseq, sizeof(cseq));
	snprintf(j.text, sizeof(j.text),
		 "SIP/2.0 %s" CRLF "%s" CRLF "%s" CRLF "%s;tag=reg1" CRLF "%s" CRLF "%s" CRLF
		 "%s%sContent-Length: 0" CRLF CRLF,
		 status_line, via, from, to, cid, cseq, extra, *extra ? CRLF : "");
	sip_addr_set(&j.src, SIP_TP_UDP, "192.0.2.1", 5070);
	sip_loop_run(feed_run, &j);
}

struct start_job {
	struct sip_peer *p;
	struct sip_regout_cfg cfg;
	struct sip_regout *ro;
};

static void start_run(void *data)
{
	struct start_job *j = data;

	j->ro = sip_regout_start(j->p, &j->cfg);
}

static void stop_run(void *data)
{
	sip_regout_stop(data);
}

static struct sip_regout *start(struct sip_peer *p, const char *registrar)
{
	struct start_job j = { .p = p };

	octo_strlcpy(j.cfg.name, "provider", sizeof(j.cfg.name));
	octo_strlcpy(j.cfg.registrar, registrar, sizeof(j.cfg.registrar));
	octo_strlcpy(j.cfg.username, "0212345000", sizeof(j.cfg.username));
	octo_strlcpy(j.cfg.secret, "pw", sizeof(j.cfg.secret));
	j.cfg.expiry = 120;
	sip_loop_run(start_run, &j);
	return j.ro;
}

OCTO_TEST(registration_with_challenge_then_withdrawn)
{
	struct sip_peer *p = octo_obj_alloc(16, NULL);
	struct sip_regout *ro;
	char *m1, *m2, *m3, line[512];

	sent_reset();
	ro = start(p, "192.0.2.1:5070");
	OCTO_CHECK(ro != NULL);
	m1 = sent_wait(1);
	OCTO_CHECK(m1 != NULL);
	if (!ro || !m1) {
		free(m1);
		octo_obj_unref(p);
		return;
	}
	OCTO_CHECK_CONTAINS(m1, "REGISTER sip:192.0.2.1:5070 SIP/2.0");
	OCTO_CHECK_CONTAINS(header_line(m1, "To:", line, sizeof(line)),
			    "sip:0212345000@192.0.2.1:5070");
	OCTO_CHECK_CONTAINS(header_line(m1, "Contact:", line, sizeof(line)),
			    "<sip:0212345000@192.0.2.100:5060>");
	OCTO_CHECK_STR_EQ(header_line(m1, "Expires:", line, sizeof(line)), "Expires: 120");
	OCTO_CHECK(strstr(m1, "Authorization:") == NULL);
	answer(m1, "401 Unauthorized",
	       "WWW-Authenticate: Digest realm=\"prov\", nonce=\"abc\", qop=\"auth\"");
	m2 = sent_wait(2);
	OCTO_CHECK(m2 != NULL);
	if (m2) {
		OCTO_CHECK_CONTAINS(m2, "CSeq: 2 REGISTER");
		OCTO_CHECK_CONTAINS(
			header_line(m2, "Authorization:", line, sizeof(line)),
			"Digest username=\"0212345000\", realm=\"prov\", nonce=\"abc\"");
		/* the same registration: one Call-ID */
		OCTO_CHECK_STR_EQ(header_line(m2, "Call-ID:", line, sizeof(line)),
				  header_line(m1, "Call-ID:", line + 256, 256));
		answer(m2, "200 OK", "Expires: 30");
	}
	OCTO_CHECK(state_wait("Registered"));
	OCTO_CHECK_STR_EQ(last_reason, "at 192.0.2.1:5070 for 30 s");
	sip_loop_run(stop_run, ro);
	m3 = sent_wait(3);
	OCTO_CHECK(m3 != NULL);
	if (m3) {
		OCTO_CHECK_STR_EQ(header_line(m3, "Expires:", line, sizeof(line)), "Expires: 0");
		OCTO_CHECK_CONTAINS(m3, "CSeq: 3 REGISTER");
	}
	free(m1);
	free(m2);
	free(m3);
	octo_obj_unref(p);
}

OCTO_TEST(registration_refused_is_failed_with_the_reason)
{
	struct sip_peer *p = octo_obj_alloc(16, NULL);
	struct sip_regout *ro;
	char *m1;

	sent_reset();
	ro = start(p, "192.0.2.1:5070");
	m1 = sent_wait(1);
	OCTO_CHECK(ro != NULL && m1 != NULL);
	if (m1)
		answer(m1, "403 Forbidden", "");
	OCTO_CHECK(state_wait("Failed"));
	OCTO_CHECK_STR_EQ(last_reason, "403 Forbidden");
	/* not registered: nothing is withdrawn */
	if (ro)
		sip_loop_run(stop_run, ro);
	usleep(50000);
	if (m1) {
		char cid[200];

		/* (the withdrawal of the test before may still be retransmitted) */
		header_line(m1, "Call-ID:", cid, sizeof(cid));
		pthread_mutex_lock(&sent_lock);
		for (int i = 0; i < sent_count; i++)
			OCTO_CHECK(!strstr(sent_log[i], cid) || !strstr(sent_log[i], "Expires: 0"));
		pthread_mutex_unlock(&sent_lock);
	}
	free(m1);
	octo_obj_unref(p);
}

OCTO_TEST(registration_without_answer_is_failed)
{
	struct sip_peer *p = octo_obj_alloc(16, NULL);
	struct sip_regout *ro;

	sent_reset();
	ro = start(p, "192.0.2.1");
	OCTO_CHECK(ro != NULL);
	/* T1 is 20 ms here: the transaction times out after 64*T1 */
	OCTO_CHECK(state_wait("Failed"));
	OCTO_CHECK_STR_EQ(last_reason, "no answer from 192.0.2.1:5060");
	if (ro)
		sip_loop_run(stop_run, ro);
	octo_obj_unref(p);
}

OCTO_TEST(bad_registrar_is_refused)
{
	struct sip_peer *p = octo_obj_alloc(16, NULL);

	OCTO_CHECK(start(p, "registrar_.example.com") == NULL);
	OCTO_CHECK(start(p, "reg.example.com:") == NULL);
	OCTO_CHECK(start(p, "192.0.2.1:0") == NULL);
	OCTO_CHECK(start(p, "192.0.2.1:70000") == NULL);
	OCTO_CHECK(start(p, "[2001:db8::1") == NULL);
	octo_obj_unref(p);
}

OCTO_TEST(host_names_are_checked)
{
	char big[300];

	OCTO_CHECK(sip_peer_valid_hostname("localhost"));
	OCTO_CHECK(sip_peer_valid_hostname("sip.provider.example"));
	OCTO_CHECK(sip_peer_valid_hostname("sip.provider.example."));
	OCTO_CHECK(sip_peer_valid_hostname("a-b.c2.example"));
	OCTO_CHECK(sip_peer_valid_hostname("123.example"));
	OCTO_CHECK(!sip_peer_valid_hostname(""));
	OCTO_CHECK(!sip_peer_valid_hostname(NULL));
	OCTO_CHECK(!sip_peer_valid_hostname("192.0.2.300")); /* a mistyped IPv4 address */
	OCTO_CHECK(!sip_peer_valid_hostname("-a.example"));
	OCTO_CHECK(!sip_peer_valid_hostname("a-.example"));
	OCTO_CHECK(!sip_peer_valid_hostname("a..example"));
	OCTO_CHECK(!sip_peer_valid_hostname(".example"));
	OCTO_CHECK(!sip_peer_valid_hostname("a_b.example"));
	OCTO_CHECK(!sip_peer_valid_hostname("a b"));
	OCTO_CHECK(!sip_peer_valid_hostname("a.example:5060"));
	memset(big, 'a', 64);
	big[64] = '\0';
	OCTO_CHECK(!sip_peer_valid_hostname(big)); /* a label of 64 */
	big[63] = '\0';
	OCTO_CHECK(sip_peer_valid_hostname(big));
	for (int i = 0; i < 299; i++)
		big[i] = i % 2 ? '.' : 'a';
	big[299] = '\0';
	OCTO_CHECK(!sip_peer_valid_hostname(big)); /* more than 253 */
	big[255] = '\0';
	OCTO_CHECK(!sip_peer_valid_hostname(big)); /* 255 */
	big[253] = '\0';
	OCTO_CHECK(sip_peer_valid_hostname(big)); /* 253: "a.a. ... .a" */
}

OCTO_TEST(host_and_port_are_split)
{
	char host[256];
	unsigned port = 99;
	bool named = true;

	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("sip.example.com:5070", host, sizeof(host), &port,
						  &named),
			  0);
	OCTO_CHECK_STR_EQ(host, "sip.example.com");
	OCTO_CHECK_INT_EQ(port, 5070);
	OCTO_CHECK(named);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("localhost", host, sizeof(host), &port, &named),
			  0);
	OCTO_CHECK_STR_EQ(host, "localhost");
	OCTO_CHECK_INT_EQ(port, 0);
	OCTO_CHECK(named);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("192.0.2.1", host, sizeof(host), &port, &named),
			  0);
	OCTO_CHECK_STR_EQ(host, "192.0.2.1");
	OCTO_CHECK(!named);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("[2001:db8::1]:5080", host, sizeof(host), &port,
						  &named),
			  0);
	OCTO_CHECK_STR_EQ(host, "2001:db8::1");
	OCTO_CHECK_INT_EQ(port, 5080);
	OCTO_CHECK(!named);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("2001:db8::1", host, sizeof(host), &port, &named),
			  0);
	OCTO_CHECK_STR_EQ(host, "2001:db8::1");
	OCTO_CHECK_INT_EQ(port, 0);
	/* refused */
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("[reg.example]:5060", host, sizeof(host), &port,
						  &named),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("reg.example:+5", host, sizeof(host), &port,
						  &named),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("reg.example:65536", host, sizeof(host), &port,
						  &named),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("reg example", host, sizeof(host), &port, &named),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("[]", host, sizeof(host), &port, &named),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("[::1]x", host, sizeof(host), &port, &named),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport("localhost", host, 5, &port, &named),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_peer_split_hostport(NULL, host, sizeof(host), &port, &named),
			  OCTO_EINVAL);
}

struct dest_job {
	struct sip_regout *ro;
	struct sip_addr a;
};

static void dest_run(void *data)
{
	struct dest_job *j = data;

	sip_regout_set_dest(j->ro, &j->a);
}

OCTO_TEST(named_registrar_waits_for_its_address)
{
	struct sip_peer *p = octo_obj_alloc(16, NULL);
	struct sip_regout *ro;
	struct dest_job dj;
	char *m1, line[512];
	int n;

	sent_reset();
	ro = start(p, "sip.provider.example:5070");
	OCTO_CHECK(ro != NULL);
	usleep(50000);
	pthread_mutex_lock(&sent_lock);
	n = sent_count;
	pthread_mutex_unlock(&sent_lock);
	OCTO_CHECK_INT_EQ(n, 0); /* nothing before the name is resolved */
	if (!ro) {
		octo_obj_unref(p);
		return;
	}
	dj.ro = ro;
	sip_addr_set(&dj.a, SIP_TP_UDP, "192.0.2.1", 5070);
	sip_loop_run(dest_run, &dj);
	m1 = sent_wait(1);
	OCTO_CHECK(m1 != NULL);
	if (m1) {
		/* the name in the URIs, the address as the destination */
		OCTO_CHECK_CONTAINS(m1, "REGISTER sip:sip.provider.example:5070 SIP/2.0");
		OCTO_CHECK_STR_EQ(header_line(m1, "To:", line, sizeof(line)),
				  "To: <sip:0212345000@sip.provider.example>");
		answer(m1, "403 Forbidden", "");
	}
	OCTO_CHECK(state_wait("Failed"));
	OCTO_CHECK_STR_EQ(last_reason, "403 Forbidden");
	pthread_mutex_lock(&sent_lock);
	n = dns_again_calls;
	pthread_mutex_unlock(&sent_lock);
	OCTO_CHECK(n >= 1); /* a failure looks the name up again */
	sip_loop_run(stop_run, ro);
	free(m1);
	octo_obj_unref(p);
}

/* ---------------------------------------------------------------- setup */

static void test_teardown(void);

__attribute__((constructor)) static void test_setup(void)
{
	sip_test_stack_start();
	atexit(test_teardown);
}

static void test_teardown(void)
{
	sip_test_stack_stop();
	sent_reset();
}

OCTO_TEST_MAIN()
