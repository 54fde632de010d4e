/*
 * test_sip_auth.c - unit tests for chan_sip's digest authentication
 * (sip_auth.c) and IP bans (sip_security.c):
 *  - digest responses against the published vectors of RFC 2617 (MD5) and
 *    RFC 7616 (SHA-256 and MD5), a value SIPp 3.6 sent, and the RFC 2069
 *    form (no qop);
 *  - nonces: fresh, stale, forged, altered, malformed, from the future, from
 *    before a restart, on a fake clock; nonce-count replay;
 *  - sip_auth_request() end to end on the real event loop and transaction
 *    layer, with a fake transport and a fake users service: challenges,
 *    200, wrong password, unknown user, 403s, stale=true;
 *  - bans on a fake clock: counting within a window, ban, expiry, trusted
 *    networks, IPv4-mapped addresses, the users tried, unban, and bans kept
 *    in the store across a restart of the part.
 *
 * sip.conf is not read: sip_cfg_get() (sip_test_util.h, with the fake
 * transport) and sip_cfg_part() (here) are stubbed to hand out test settings.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octo/log.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/store.h"
#include "octo/users.h"
#include "octo_test.h"
#include "sip.h"
#include "sip_test_util.h"
#include "../../core/internal.h"

#define CRLF "\r\n"
#define WAIT_MS 10000

/* ---------------------------------------------------------------- stubbed config */

static struct sip_reg_conf test_reg = {
	.realm = "octo",
	.min_expiry = 60,
	.max_expiry = 3600,
	.default_expiry = 3600,
	.nonce_lifetime = 30,
	.algs = { SIP_DIGEST_SHA256, SIP_DIGEST_MD5 },
	.nalgs = 2,
};
static struct octo_cidr test_trusted[1];
static struct sip_sec_conf test_sec = {
	.max_failures = 3,
	.window = 60,
	.ban_time = 600,
	.nets = test_trusted,
	.nnets = 1,
};

void *sip_cfg_part(const struct sip_cfg *cfg, const struct sip_cfg_part *part)
{
	if (part == &sip_reg_cfg_part)
		return &test_reg;
	if (part == &sip_sec_cfg_part)
		return &test_sec;
	return NULL;
}

/* ---------------------------------------------------------------- fake clocks */

static _Atomic uint64_t fake_ms = 1000000;
static _Atomic int64_t fake_s = 1800000000;

static uint64_t clock_ms(void)
{
	return atomic_load(&fake_ms);
}

static int64_t clock_s(void)
{
	return atomic_load(&fake_s);
}

/* ---------------------------------------------------------------- fake users service */

static struct octo_user *fake_user(const char *ext, const char *secret)
{
	struct octo_user *u = octo_obj_alloc(sizeof(*u), NULL);

	u->extension = ext;
	u->name = u->email = u->mobile = u->procedure = u->language = "";
	u->acl_group = u->voicemail_pin = u->codecs = u->forward_all = u->forward_busy = "";
	u->forward_noanswer = "";
	u->secret = secret;
	u->max_contacts = 2;
	return u;
}

static struct octo_user *users_find(const char *ext)
{
	if (!strcmp(ext, "100"))
		return fake_user("100", "Secret#100");
	if (!strcmp(ext, "150"))
		return fake_user("150", "");
	return NULL;
}

static size_t users_list(struct octo_user ***users)
{
	*users = NULL;
	return 0;
}

static void users_list_free(struct octo_user **users, size_t count)
{
}

static const struct octo_users_api users_api = {
	.find = users_find, .list = users_list, .list_free = users_list_free
};
static const struct octo_service users_svc = { OCTO_USERS_SERVICE, 1, &users_api };

/* ---------------------------------------------------------------- digest vectors */

OCTO_TEST(digest_md5_rfc2617_vector)
{
	char out[SIP_DIGEST_HEX_MAX];

	/* RFC 2617 3.5 */
	OCTO_CHECK_INT_EQ(sip_digest_response(SIP_DIGEST_MD5, "Mufasa", "testrealm@host.com",
					      "Circle Of Life", "GET", "/dir/index.html",
					      "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001",
					      "0a4f113b", "auth", out),
			  0);
	OCTO_CHECK_STR_EQ(out, "6629fae49393a05397450978507c4ef1");
}

OCTO_TEST(digest_rfc7616_vectors)
{
	char out[SIP_DIGEST_HEX_MAX];
	const char *nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
	const char *cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

	/* RFC 7616 3.9.1, SHA-256 then MD5 */
	OCTO_CHECK_INT_EQ(sip_digest_response(SIP_DIGEST_SHA256, "Mufasa", "http-auth@example.org",
					      "Circle of Life", "GET", "/dir/index.html", nonce,
					      "00000001", cnonce, "auth", out),
			  0);
	OCTO_CHECK_STR_EQ(out, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
	OCTO_CHECK_INT_EQ(sip_digest_response(SIP_DIGEST_MD5, "Mufasa", "http-auth@example.org",
					      "Circle of Life", "GET", "/dir/index.html", nonce,
					      "00000001", cnonce, "auth", out),
			  0);
	OCTO_CHECK_STR_EQ(out, "8ca523f5e9506fed4657c9700eebdbec");
}

OCTO_TEST(digest_matches_what_sipp_sent)
{
	char out[SIP_DIGEST_HEX_MAX];

	/* SIPp 3.6.1 -au 100 -ap 'mY8@AEVZr~!CHM.u' answering realm "octo",
	 * nonce "abc", qop auth: its Authorization header carried
	 * cnonce="6b8b4567",nc=00000001,uri="sip:127.0.0.1:25998" and this
	 * response */
	OCTO_CHECK_INT_EQ(sip_digest_response(SIP_DIGEST_MD5, "100", "octo", "mY8@AEVZr~!CHM.u",
					      "REGISTER", "sip:127.0.0.1:25998", "abc", "00000001",
					      "6b8b4567", "auth", out),
			  0);
	OCTO_CHECK_STR_EQ(out, "80e05eb8cb259f7d951a654cddbef39c");
}

OCTO_TEST(digest_without_qop_and_bad_arguments)
{
	char out[SIP_DIGEST_HEX_MAX];

	/* RFC 2069 form: H(HA1:nonce:HA2) (value computed independently) */
	OCTO_CHECK_INT_EQ(sip_digest_response(SIP_DIGEST_MD5, "Mufasa", "testrealm@host.com",
					      "CircleOfLife", "GET", "/dir/index.html",
					      "dcd98b7102dd2f0e8b11d0f600bfb0c093", NULL, NULL,
					      NULL, out),
			  0);
	OCTO_CHECK_STR_EQ(out, "1949323746fe6a43ef61f9606e7febea");
	OCTO_CHECK_INT_EQ(sip_digest_response(SIP_DIGEST_MD5, "a", "b", "c", "GET", "/", "n", "1",
					      "x", "auth-int", out),
			  OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(out, "");
	OCTO_CHECK_INT_EQ(sip_digest_response(SIP_DIGEST_MD5, "a", "b", "c", "GET", "/", "n", NULL,
					      "x", "auth", out),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_digest_response(SIP_DIGEST_MD5, NULL, "b", "c", "GET", "/", "n", NULL,
					      NULL, NULL, out),
			  OCTO_EINVAL);
}

OCTO_TEST(digest_algorithm_names)
{
	OCTO_CHECK_STR_EQ(sip_digest_alg_name(SIP_DIGEST_MD5), "MD5");
	OCTO_CHECK_STR_EQ(sip_digest_alg_name(SIP_DIGEST_SHA256), "SHA-256");
	OCTO_CHECK_INT_EQ(sip_digest_alg_parse("sha-256"), SIP_DIGEST_SHA256);
	OCTO_CHECK_INT_EQ(sip_digest_alg_parse("md5"), SIP_DIGEST_MD5);
	OCTO_CHECK_INT_EQ(sip_digest_alg_parse("MD5-sess"), -1);
	OCTO_CHECK_INT_EQ(sip_digest_alg_parse(NULL), -1);
}

/* ---------------------------------------------------------------- nonces */

OCTO_TEST(nonce_fresh_stale_and_forged)
{
	char n1[SIP_NONCE_LEN + 1], n2[SIP_NONCE_LEN + 1], bad[SIP_NONCE_LEN + 1];

	sip_auth_set_clock(clock_ms);
	sip_nonce_new(n1, sizeof(n1));
	sip_nonce_new(n2, sizeof(n2));
	OCTO_CHECK_INT_EQ(strlen(n1), SIP_NONCE_LEN);
	OCTO_CHECK(strspn(n1, "0123456789abcdef") == SIP_NONCE_LEN);
	OCTO_CHECK(strcmp(n1, n2) != 0);
	OCTO_CHECK_INT_EQ(sip_nonce_check(n1, 30), SIP_NONCE_OK);
	/* any changed digit breaks the MAC */
	for (int i = 0; i < SIP_NONCE_LEN; i += 7) {
		memcpy(bad, n1, sizeof(bad));
		bad[i] = bad[i] == '0' ? '1' : '0';
		OCTO_CHECK_INT_EQ(sip_nonce_check(bad, 30), SIP_NONCE_INVALID);
	}
	OCTO_CHECK_INT_EQ(sip_nonce_check("", 30), SIP_NONCE_INVALID);
	OCTO_CHECK_INT_EQ(sip_nonce_check(NULL, 30), SIP_NONCE_INVALID);
	OCTO_CHECK_INT_EQ(sip_nonce_check("abc", 30), SIP_NONCE_INVALID);
	memcpy(bad, n1, sizeof(bad));
	bad[5] = 'g';
	OCTO_CHECK_INT_EQ(sip_nonce_check(bad, 30), SIP_NONCE_INVALID);
	/* upper-case hex is the same nonce */
	for (int i = 0; i < SIP_NONCE_LEN; i++)
		bad[i] = (char)(n1[i] >= 'a' ? n1[i] - 32 : n1[i]);
	bad[SIP_NONCE_LEN] = '\0';
	OCTO_CHECK_INT_EQ(sip_nonce_check(bad, 30), SIP_NONCE_OK);

	/* lifetime: valid for 30 s, stale after */
	atomic_fetch_add(&fake_ms, 30000);
	OCTO_CHECK_INT_EQ(sip_nonce_check(n1, 30), SIP_NONCE_OK);
	atomic_fetch_add(&fake_ms, 1);
	OCTO_CHECK_INT_EQ(sip_nonce_check(n1, 30), SIP_NONCE_STALE);
	OCTO_CHECK_INT_EQ(sip_nonce_check(n1, 60), SIP_NONCE_OK);
	/* a nonce "from the future" was not made by this clock */
	atomic_fetch_sub(&fake_ms, 40000);
	OCTO_CHECK_INT_EQ(sip_nonce_check(n1, 30), SIP_NONCE_INVALID);
	atomic_fetch_add(&fake_ms, 40000);

	/* a restart (new secret): old nonces are not ours any more */
	sip_auth_fini();
	OCTO_CHECK_INT_EQ(sip_auth_init(), 0);
	OCTO_CHECK_INT_EQ(sip_nonce_check(n1, 3600), SIP_NONCE_INVALID);
	sip_nonce_new(n1, sizeof(n1));
	OCTO_CHECK_INT_EQ(sip_nonce_check(n1, 3600), SIP_NONCE_OK);
	/* too small a buffer gives "" */
	sip_nonce_new(n2, SIP_NONCE_LEN);
	OCTO_CHECK_STR_EQ(n2, "");
}

OCTO_TEST(nonce_count_replay)
{
	char n1[SIP_NONCE_LEN + 1], n2[SIP_NONCE_LEN + 1];

	sip_auth_set_clock(clock_ms);
	sip_nonce_new(n1, sizeof(n1));
	sip_nonce_new(n2, sizeof(n2));
	OCTO_CHECK(sip_nonce_count_ok(n1, 1, 30));
	OCTO_CHECK(!sip_nonce_count_ok(n1, 1, 30));
	OCTO_CHECK(sip_nonce_count_ok(n1, 2, 30));
	OCTO_CHECK(sip_nonce_count_ok(n1, 7, 30));
	OCTO_CHECK(!sip_nonce_count_ok(n1, 3, 30));
	OCTO_CHECK(sip_nonce_count_ok(n2, 1, 30)); /* each nonce counts on its own */
	OCTO_CHECK(!sip_nonce_count_ok(n2, 0, 30));
	OCTO_CHECK(!sip_nonce_count_ok("nothex", 1, 30));
}

/* More live nonces than the table holds: the oldest go, a replay of one
 * that went is refused (stale), and the table keeps taking new ones at the
 * same cost (it used to refuse every new nonce once full). */
OCTO_TEST(nonce_count_full_table)
{
	char first[SIP_NONCE_LEN + 1], n[SIP_NONCE_LEN + 1], recent[SIP_NONCE_LEN + 1];
	unsigned refused = 0;

	sip_auth_set_clock(clock_ms);
	OCTO_CHECK_INT_EQ(sip_auth_init(), 0);
	atomic_fetch_add(&fake_ms, 1);
	sip_nonce_new(first, sizeof(first));
	OCTO_CHECK(sip_nonce_count_ok(first, 1, 3600));
	for (unsigned i = 0; i < 140000; i++) {
		atomic_fetch_add(&fake_ms, 1);
		sip_nonce_new(n, sizeof(n));
		if (!sip_nonce_count_ok(n, 1, 3600))
			refused++;
		if (i == 139990)
			memcpy(recent, n, sizeof(n));
	}
	OCTO_CHECK_INT_EQ(refused, 0);
	OCTO_CHECK(!sip_nonce_count_ok(first, 2, 3600)); /* evicted: not replayable */
	OCTO_CHECK(!sip_nonce_count_ok(recent, 1, 3600));
	OCTO_CHECK(sip_nonce_count_ok(recent, 2, 3600));
	/* the memory is bounded with the table: 131,072 entries of 64 bytes
	 * and the pool's header of 16 */
	OCTO_CHECK(sip_nonce_count_blocks() <= 131072 * 80 / 65536 + 2);
	sip_auth_fini();
	OCTO_CHECK_INT_EQ(sip_nonce_count_blocks(), 0);
}

/* The counts of a burst of requests go once their nonces expire, and the
 * memory they took with them (the blocks are unmapped), also when the
 * nonces were not used in the order they were made. */
OCTO_TEST(nonce_count_memory_goes_back)
{
	char early[SIP_NONCE_LEN + 1], n[SIP_NONCE_LEN + 1];
	size_t burst;

	sip_auth_set_clock(clock_ms);
	OCTO_CHECK_INT_EQ(sip_auth_init(), 0);
	OCTO_CHECK_INT_EQ(sip_nonce_count_blocks(), 0);
	atomic_fetch_add(&fake_ms, 1);
	sip_nonce_new(early, sizeof(early));
	for (unsigned i = 0; i < 20000; i++) {
		atomic_fetch_add(&fake_ms, 1);
		sip_nonce_new(n, sizeof(n));
		OCTO_CHECK(sip_nonce_count_ok(n, 1, 60));
		if (i == 10000) /* made first, used in the middle */
			OCTO_CHECK(sip_nonce_count_ok(early, 1, 60));
	}
	burst = sip_nonce_count_blocks();
	OCTO_CHECK(burst >= 20000 * 80 / 65536 && burst <= 20000 * 80 / 65536 + 2);
	/* still valid: still remembered, a replay is refused */
	OCTO_CHECK(!sip_nonce_count_ok(n, 1, 60));
	OCTO_CHECK(!sip_nonce_count_ok(early, 1, 60));
	/* the burst wrote most pages of the hash table */
	OCTO_CHECK(sip_nonce_count_table_pages() >= 32);
	/* all of them expired: the loop's sweep drops them and gives the
	 * table's pages back */
	atomic_fetch_add(&fake_ms, 62000);
	sip_nonce_count_sweep();
	OCTO_CHECK(sip_nonce_count_blocks() <= 1); /* the pool keeps its newest block */
	OCTO_CHECK_INT_EQ(sip_nonce_count_table_pages(), 0);
	/* the table works on: a new nonce counts, its replay is refused */
	sip_nonce_new(n, sizeof(n));
	OCTO_CHECK(sip_nonce_count_ok(n, 1, 60));
	OCTO_CHECK(!sip_nonce_count_ok(n, 1, 60));
	OCTO_CHECK(sip_nonce_count_ok(n, 2, 60));
	OCTO_CHECK_INT_EQ(sip_nonce_count_blocks(), 1);
	OCTO_CHECK(sip_nonce_count_table_pages() >= 1);
	sip_auth_fini();
	OCTO_CHECK_INT_EQ(sip_nonce_count_blocks(), 0);
}

/* ---------------------------------------------------------------- sip_auth_request on the loop */

static char auth_user[64];
static atomic_int auth_calls;

static void on_register(struct sip_txn *txn, struct sip_msg *req)
{
	struct octo_user *u = sip_auth_request(txn, req);

	auth_user[0] = '\0';
	if (u) {
		octo_strlcpy(auth_user, u->extension, sizeof(auth_user));
		sip_txn_respond(txn, 200, NULL);
		octo_obj_unref(u);
	}
	atomic_fetch_add(&auth_calls, 1);
}

struct feed_job {
	char text[2048];
	struct sip_addr src;
};

static void feed_run(void *data)
{
	struct feed_job *j = data;

	sip_receive(j->text, strlen(j->text), &j->src);
}

/* A REGISTER from 192.0.2.9 for To user `to`, with an optional header. */
static void send_register(int cseq, const char *to, const char *auth)
{
	static struct feed_job j;
	static unsigned serial;
	char branch[40];

	/* not sip_new_branch(): a branch of ours would look like a loop */
	snprintf(branch, sizeof(branch), "z9hG4bKauthtest%u", ++serial);
	snprintf(j.text, sizeof(j.text),
		 "REGISTER sip:192.0.2.100 SIP/2.0" CRLF
		 "Via: SIP/2.0/UDP 192.0.2.9:5062;branch=%s-t%d" CRLF
		 "From: <sip:%s@192.0.2.100>;tag=t1" CRLF "To: <sip:%s@192.0.2.100>" CRLF
		 "Call-ID: auth-test@192.0.2.9" CRLF "CSeq: %d REGISTER" CRLF
		 "Contact: <sip:%s@192.0.2.9:5062>" CRLF "Max-Forwards: 70" CRLF "%s%s"
		 "Content-Length: 0" CRLF CRLF,
		 branch, cseq, to, to, cseq, to, auth ? auth : "", auth ? CRLF : "");
	sip_addr_set(&j.src, SIP_TP_UDP, "192.0.2.9", 5062);
	sip_loop_run(feed_run, &j);
}

/* The value of `param` in the first line of `msg` starting with `header`. */
static bool header_param(const char *msg, const char *header, const char *param, char *out,
			 size_t size)
{
	const char *h = strstr(msg, header), *p, *end;
	char key[64];

	if (!h)
		return false;
	end = strstr(h, CRLF);
	snprintf(key, sizeof(key), "%s=", param);
	p = strstr(h, key);
	if (!p || (end && p > end))
		return false;
	p += strlen(key);
	if (*p == '"')
		p++;
	size_t n = strcspn(p, "\",\r");
	if (n >= size)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static void make_auth(char *buf, size_t size, enum sip_digest_alg alg, const char *user,
		      const char *password, const char *nonce, const char *nc)
{
	char resp[SIP_DIGEST_HEX_MAX];

	sip_digest_response(alg, user, "octo", password, "REGISTER", "sip:192.0.2.100", nonce, nc,
			    "c0ffee", "auth", resp);
	snprintf(buf, size,
		 "Authorization: Digest username=\"%s\", realm=\"octo\", nonce=\"%s\", "
		 "uri=\"sip:192.0.2.100\", response=\"%s\", algorithm=%s, cnonce=\"c0ffee\", "
		 "qop=auth, nc=%s",
		 user, nonce, resp, sip_digest_alg_name(alg), nc);
}

OCTO_TEST(auth_request_end_to_end)
{
	char *m, nonce[SIP_NONCE_LEN + 8], auth[1024];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int n = 0;

	sip_auth_set_clock(NULL);
	sip_sec_set_clock(clock_s);
	inet_pton(AF_INET, "192.0.2.9", &sa.sin_addr);
	OCTO_CHECK_INT_EQ(octo_service_register(NULL, &users_svc), 0);
	sent_clear();
	OCTO_CHECK_INT_EQ(sip_method_register(SIP_REGISTER, on_register), 0);

	/* no credentials: 401 with SHA-256 first, then MD5, each qop auth */
	send_register(1, "100", NULL);
	m = sent_wait(++n);
	OCTO_CHECK_CONTAINS(m, "SIP/2.0 401 Unauthorized");
	OCTO_CHECK_CONTAINS(m, "WWW-Authenticate: Digest realm=\"octo\", nonce=\"");
	OCTO_CHECK_CONTAINS(m, "algorithm=SHA-256, qop=\"auth\"");
	OCTO_CHECK(m && strstr(m, "algorithm=SHA-256") < strstr(m, "algorithm=MD5"));
	OCTO_CHECK(m && !strstr(m, "stale"));
	OCTO_CHECK(header_param(m, "WWW-Authenticate", "nonce", nonce, sizeof(nonce)));
	free(m);

	/* right SHA-256 credentials: the user comes back */
	make_auth(auth, sizeof(auth), SIP_DIGEST_SHA256, "100", "Secret#100", nonce, "00000001");
	send_register(2, "100", auth);
	m = sent_wait(++n);
	OCTO_CHECK_CONTAINS(m, "SIP/2.0 200 OK");
	OCTO_CHECK_STR_EQ(auth_user, "100");
	free(m);

	/* the same again (nc 1 replayed): stale=true, no user, no failure */
	send_register(3, "100", auth);
	m = sent_wait(++n);
	OCTO_CHECK_CONTAINS(m, "SIP/2.0 401");
	OCTO_CHECK_CONTAINS(m, "stale=true");
	OCTO_CHECK_STR_EQ(auth_user, "");
	free(m);

	/* MD5 with nc 2 of the same nonce: fine */
	make_auth(auth, sizeof(auth), SIP_DIGEST_MD5, "100", "Secret#100", nonce, "00000002");
	send_register(4, "100", auth);
	m = sent_wait(++n);
	OCTO_CHECK_CONTAINS(m, "SIP/2.0 200 OK");
	free(m);

	/* wrong password: a new challenge without stale, and one failure */
	make_auth(auth, sizeof(auth), SIP_DIGEST_MD5, "100", "wrong", nonce, "00000003");
	send_register(5, "100", auth);
	m = sent_wait(++n);
	OCTO_CHECK_CONTAINS(m, "SIP/2.0 401");
	OCTO_CHECK(m && !strstr(m, "stale"));
	free(m);
	OCTO_CHECK(!sip_sec_banned((struct sockaddr *)&sa));

	/* unknown user: the same answer, another failure */
	make_auth(auth, sizeof(auth), SIP_DIGEST_MD5, "777", "x", nonce, "00000001");
	send_register(6, "777", auth);
	m = sent_wait(++n);
	OCTO_CHECK_CONTAINS(m, "SIP/2.0 401");
	free(m);

	/* credentials of 100 for To 777: 403 (not a failure) */
	make_auth(auth, sizeof(auth), SIP_DIGEST_MD5, "100", "Secret#100", nonce, "00000004");
	send_register(7, "777", auth);
	m = sent_wait(++n);
	OCTO_CHECK_CONTAINS(m, "SIP/2.0 403 Username Does Not Match To");
	free(m);

	/* a user without a secret: 403 */
	make_auth(auth, sizeof(auth), SIP_DIGEST_MD5, "150", "", nonce, "00000001");
	send_register(8, "150", auth);
	m = sent_wait(++n);
	OCTO_CHECK_CONTAINS(m, "SIP/2.0 403 No Secret Set");
	free(m);

	/* credentials without a nonce: 400 */
	send_register(9, "100",
		      "Authorization: Digest username=\"100\", realm=\"octo\", "
		      "uri=\"sip:x\", response=\"00\"");
	m = sent_wait(++n);
	OCTO_CHECK_CONTAINS(m, "SIP/2.0 400 Malformed Credentials");
	free(m);

	/* a third wrong password bans 192.0.2.9 (max_failures 3) */
	make_auth(auth, sizeof(auth), SIP_DIGEST_MD5, "100", "wrong again", nonce, "00000005");
	send_register(10, "100", auth);
	m = sent_wait(++n);
	OCTO_CHECK_CONTAINS(m, "SIP/2.0 401");
	free(m);
	OCTO_CHECK(sip_sec_banned((struct sockaddr *)&sa));
	{
		struct sip_ban_info *bans = NULL;
		size_t nb = sip_sec_bans(&bans);

		OCTO_CHECK_INT_EQ(nb, 1);
		if (nb == 1) {
			OCTO_CHECK_STR_EQ(bans[0].ip, "192.0.2.9");
			OCTO_CHECK_STR_EQ(bans[0].users, "777,100");
			OCTO_CHECK_INT_EQ(bans[0].failures, 3);
		}
		free(bans);
	}
	OCTO_CHECK_INT_EQ(sip_sec_unban("192.0.2.9"), 0);
	sip_method_unregister(SIP_REGISTER);
	sip_sec_set_clock(NULL);
}

/* ---------------------------------------------------------------- bans */

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss = { 0 };

	if (strchr(ip, ':')) {
		ss.ss_family = AF_INET6;
		inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	} else {
		ss.ss_family = AF_INET;
		inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

OCTO_TEST(ban_after_max_failures_in_window)
{
	struct sockaddr_storage a = addr("198.51.100.7"), b = addr("198.51.100.8");
	struct sockaddr_storage mapped = addr("::ffff:198.51.100.7");
	struct sip_ban_info *bans = NULL;
	size_t n;

	sip_sec_set_clock(clock_s);
	OCTO_CHECK(!sip_sec_banned(SA(a)));
	sip_sec_failure(SA(a), "100");
	atomic_fetch_add(&fake_s, 10);
	sip_sec_failure(SA(a), "101");
	OCTO_CHECK(!sip_sec_banned(SA(a)));
	atomic_fetch_add(&fake_s, 10);
	sip_sec_failure(SA(a), "100");
	OCTO_CHECK(sip_sec_banned(SA(a)));
	OCTO_CHECK(sip_sec_banned(SA(mapped))); /* the same address seen on a v6 socket */
	OCTO_CHECK(!sip_sec_banned(SA(b)));
	n = sip_sec_bans(&bans);
	OCTO_CHECK_INT_EQ(n, 1);
	if (n == 1) {
		OCTO_CHECK_STR_EQ(bans[0].ip, "198.51.100.7");
		OCTO_CHECK_INT_EQ(bans[0].failures, 3);
		OCTO_CHECK_INT_EQ(bans[0].until - bans[0].since, 600);
		OCTO_CHECK_INT_EQ(bans[0].since, atomic_load(&fake_s));
		OCTO_CHECK_STR_EQ(bans[0].users, "101,100");
	}
	free(bans);

	/* the ban lasts ban_time, then lifts by itself */
	atomic_fetch_add(&fake_s, 599);
	OCTO_CHECK(sip_sec_banned(SA(a)));
	atomic_fetch_add(&fake_s, 1);
	OCTO_CHECK(!sip_sec_banned(SA(a)));
	n = sip_sec_bans(&bans);
	OCTO_CHECK_INT_EQ(n, 0);
	free(bans);
	sip_sec_set_clock(NULL);
}

OCTO_TEST(failures_outside_the_window_do_not_add_up)
{
	struct sockaddr_storage a = addr("2001:db8::5");

	sip_sec_set_clock(clock_s);
	for (int i = 0; i < 5; i++) {
		sip_sec_failure(SA(a), "100");
		sip_sec_failure(SA(a), "100");
		OCTO_CHECK(!sip_sec_banned(SA(a)));
		atomic_fetch_add(&fake_s, 61); /* the window (60 s) passes */
	}
	sip_sec_failure(SA(a), "100");
	sip_sec_failure(SA(a), "100");
	sip_sec_failure(SA(a), "100");
	OCTO_CHECK(sip_sec_banned(SA(a)));
	OCTO_CHECK_INT_EQ(sip_sec_unban("2001:db8::5"), 0);
	OCTO_CHECK(!sip_sec_banned(SA(a)));
	OCTO_CHECK_INT_EQ(sip_sec_unban("2001:db8::5"), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(sip_sec_unban("not an ip"), OCTO_EINVAL);
	/* unban forgot the failures: two more do not ban */
	sip_sec_failure(SA(a), "100");
	sip_sec_failure(SA(a), "100");
	OCTO_CHECK(!sip_sec_banned(SA(a)));
	atomic_fetch_add(&fake_s, 61);
	sip_sec_set_clock(NULL);
}

OCTO_TEST(trusted_networks_and_off)
{
	struct sockaddr_storage t = addr("10.1.2.3"), a = addr("203.0.113.50");

	sip_sec_set_clock(clock_s);
	for (int i = 0; i < 10; i++)
		sip_sec_failure(SA(t), "100");
	OCTO_CHECK(!sip_sec_banned(SA(t)));
	/* max_failures 0: never ban */
	test_sec.max_failures = 0;
	for (int i = 0; i < 10; i++)
		sip_sec_failure(SA(a), "100");
	OCTO_CHECK(!sip_sec_banned(SA(a)));
	test_sec.max_failures = 3;
	/* hostile user names are kept printable and comma-free */
	sip_sec_failure(SA(a), "a,b\r\nc");
	sip_sec_failure(SA(a), "");
	sip_sec_failure(SA(a), NULL);
	OCTO_CHECK(sip_sec_banned(SA(a)));
	{
		struct sip_ban_info *bans = NULL;
		size_t n = sip_sec_bans(&bans);

		OCTO_CHECK_INT_EQ(n, 1);
		if (n == 1)
			OCTO_CHECK_STR_EQ(bans[0].users, "a?b??c");
		free(bans);
	}
	OCTO_CHECK_INT_EQ(sip_sec_unban("203.0.113.50"), 0);
	sip_sec_set_clock(NULL);
}

OCTO_TEST(bans_survive_a_restart)
{
	char path[] = "/tmp/test_sip_auth.XXXXXX";
	struct sockaddr_storage a = addr("192.0.2.77");
	char db[64], aux[80];
	int fd = mkstemp(path);

	if (fd >= 0)
		close(fd);
	unlink(path);
	snprintf(db, sizeof(db), "%s.db", path);
	OCTO_CHECK_INT_EQ(octo_store_init(db), 0);
	sip_sec_set_clock(clock_s);
	OCTO_CHECK_INT_EQ(sip_sec_init(), 0);
	for (int i = 0; i < 3; i++)
		sip_sec_failure(SA(a), "100");
	OCTO_CHECK(sip_sec_banned(SA(a)));
	sip_sec_fini(); /* flushes the store */
	OCTO_CHECK(!sip_sec_banned(SA(a)));
	OCTO_CHECK_INT_EQ(sip_sec_init(), 0);
	OCTO_CHECK(sip_sec_banned(SA(a)));
	/* unban removes it from the store too */
	OCTO_CHECK_INT_EQ(sip_sec_unban("192.0.2.77"), 0);
	sip_sec_fini();
	OCTO_CHECK_INT_EQ(sip_sec_init(), 0);
	OCTO_CHECK(!sip_sec_banned(SA(a)));
	/* an expired ban is not loaded */
	for (int i = 0; i < 3; i++)
		sip_sec_failure(SA(a), "100");
	sip_sec_fini();
	atomic_fetch_add(&fake_s, 601);
	OCTO_CHECK_INT_EQ(sip_sec_init(), 0);
	OCTO_CHECK(!sip_sec_banned(SA(a)));
	sip_sec_fini();
	sip_sec_set_clock(NULL);
	octo_store_shutdown();
	unlink(db);
	snprintf(aux, sizeof(aux), "%s-wal", db);
	unlink(aux);
	snprintf(aux, sizeof(aux), "%s-shm", db);
	unlink(aux);
}

/* ---------------------------------------------------------------- setup */

static void test_teardown(void);

/* OCTO_TEST_LOG=1 shows the log lines (debugging a failure). */
static void test_log_write(const struct octo_log_record *rec, void *data)
{
	fprintf(stderr, "%s\n", rec->formatted);
}

__attribute__((constructor)) static void test_setup(void)
{
	if (getenv("OCTO_TEST_LOG")) {
		static const struct octo_log_sink sink = { .write = test_log_write,
							   .level_mask = 0x1f,
							   .max_verbose = 5,
							   .max_debug = 5 };

		octo_log_debug_level = 5;
		octo_log_sink_add(&sink);
	}
	octo_cidr_parse("10.0.0.0/8", true, &test_trusted[0]);
	sip_test_stack_start();
	atexit(test_teardown);
}

/* Run by atexit() (registered after the sanitizers' own exit handler, so
 * before it): the loop thread ends and OpenSSL frees its per-thread state
 * before leaks are counted. */
static void test_teardown(void)
{
	sip_test_stack_stop();
	sent_clear();
}

OCTO_TEST_MAIN()
