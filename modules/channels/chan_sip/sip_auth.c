/*
 * sip_auth.c - digest authentication of requests from users: the challenge
 * (401 WWW-Authenticate for REGISTER, 407 Proxy-Authenticate otherwise),
 * the check of the credentials against users.conf (res_users' "users"
 * service), MD5 (RFC 2617) and SHA-256 (RFC 7616) with qop=auth, and the
 * registrar's [general] keys in sip.conf.
 *
 * DESIGN
 *  - Nonces are stateless: hex(timestamp | 8 random bytes | HMAC-SHA256 of
 *    both, cut to 16 bytes) with a 32-byte secret drawn at load. Checking
 *    one needs no table; a restart makes every old nonce INVALID, which
 *    phones see as stale=true (their answer was right) and answer again.
 *  - The nonce count of qop=auth is checked against a bounded table of the
 *    nonces that carried a right answer (highest count seen, forgotten when
 *    the nonce expires), so a captured request cannot be replayed.
 *  - Wrong password and unknown user are answered alike (a new challenge)
 *    and both count a failure for the source address (sip_security.c).
 *  - Runs on the loop thread; the replay table has a lock of its own so
 *    the checks may be called from anywhere (tests).
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "octo/fifopool.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/users.h"
#include "sip.h"

#define AUTH_SECRET_LEN 32
#define AUTH_RAW_LEN 16 /* timestamp (8) + random (8) */
#define AUTH_MAC_LEN 16
#define AUTH_NC_BUCKETS 32768
#define AUTH_NC_TAB_BYTES (AUTH_NC_BUCKETS * sizeof(struct auth_nc *))
#define AUTH_NC_MAX 131072 /* nonces remembered at most; then the oldest go */
#define AUTH_FIELD_MAX 512 /* longest credential field we look at */
#define AUTH_NC_SWEEP_MS 10000

/* ================================================================ config */

static const struct octo_cfg_opt auth_reg_opts[] = {
	OCTO_CFG_STR("realm", struct sip_reg_conf, realm, "octo", 0),
	OCTO_CFG_DURATION("min_expiry", struct sip_reg_conf, min_expiry, "60", 1, 86400),
	OCTO_CFG_DURATION("max_expiry", struct sip_reg_conf, max_expiry, "1h", 1, 7 * 86400),
	OCTO_CFG_DURATION("default_expiry", struct sip_reg_conf, default_expiry, "1h", 1,
			  7 * 86400),
	OCTO_CFG_DURATION("nonce_lifetime", struct sip_reg_conf, nonce_lifetime, "5m", 5, 86400),
	OCTO_CFG_DURATION("qualify_interval", struct sip_reg_conf, qualify_interval, "60", 0,
			  86400),
	OCTO_CFG_LIST("auth_algorithms", struct sip_reg_conf, auth_algorithms, "SHA-256, MD5", 0),
	OCTO_CFG_END
};

/* An error about [general] `key`, at the line of the key (or of the file). */
OCTO_PRINTF(4, 5)
static void auth_conf_error(const struct sip_cfg *cfg, struct octo_diags *diags, const char *key,
			    const char *fmt, ...)
{
	const struct octo_cfg_section *gen = octo_cfg_section(cfg->tree, "general");
	const struct octo_cfg_var *v = gen ? octo_cfg_var_find(gen, key) : NULL;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : cfg->tree->file, v ? v->line : 0,
		       "[general] %s: %s", key, msg);
}

static int auth_conf_check(struct sip_cfg *cfg, void *data, struct octo_diags *diags)
{
	struct sip_reg_conf *rc = data;
	int err = 0;

	if (!rc->realm || !rc->realm[0] || strlen(rc->realm) > 128) {
		auth_conf_error(cfg, diags, "realm", "must be 1 to 128 characters");
		err = OCTO_ECONFIG;
	} else {
		for (const char *p = rc->realm; *p; p++) {
			if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f) {
				auth_conf_error(cfg, diags, "realm",
						"quotes, backslashes and control characters are "
						"not allowed");
				err = OCTO_ECONFIG;
				break;
			}
		}
	}
	if (rc->max_expiry < rc->min_expiry) {
		auth_conf_error(cfg, diags, "max_expiry",
				"must not be shorter than min_expiry (%us)", rc->min_expiry);
		err = OCTO_ECONFIG;
	}
	if (rc->default_expiry < rc->min_expiry || rc->default_expiry > rc->max_expiry) {
		auth_conf_error(cfg, diags, "default_expiry",
				"must lie between min_expiry and max_expiry (%us..%us)",
				rc->min_expiry, rc->max_expiry);
		err = OCTO_ECONFIG;
	}
	rc->nalgs = 0;
	for (size_t i = 0; i < rc->auth_algorithms.count; i++) {
		int a = sip_digest_alg_parse(rc->auth_algorithms.items[i]);
		char clean[OCTO_CFG_CLEAN];
		bool dup = false;

		if (a < 0) {
			auth_conf_error(cfg, diags, "auth_algorithms",
					"\"%s\" is not SHA-256 or MD5",
					octo_cfg_clean(clean, rc->auth_algorithms.items[i]));
			err = OCTO_ECONFIG;
			continue;
		}
		for (unsigned j = 0; j < rc->nalgs; j++)
			dup |= rc->algs[j] == (enum sip_digest_alg)a;
		if (!dup && rc->nalgs < SIP_DIGEST_ALGS)
			rc->algs[rc->nalgs++] = (enum sip_digest_alg)a;
	}
	if (!rc->nalgs && !err) {
		auth_conf_error(cfg, diags, "auth_algorithms", "at least one of SHA-256, MD5");
		err = OCTO_ECONFIG;
	}
	return err;
}

const struct sip_cfg_part sip_reg_cfg_part = {
	.name = "registrar",
	.general = auth_reg_opts,
	.size = sizeof(struct sip_reg_conf),
	.check = auth_conf_check,
};

/* ================================================================ digest */

const char *sip_digest_alg_name(enum sip_digest_alg alg)
{
	return alg == SIP_DIGEST_SHA256 ? "SHA-256" : "MD5";
}

int sip_digest_alg_parse(const char *name)
{
	if (!name)
		return -1;
	if (!strcasecmp(name, "MD5"))
		return SIP_DIGEST_MD5;
	if (!strcasecmp(name, "SHA-256"))
		return SIP_DIGEST_SHA256;
	return -1;
}

static void auth_hex(const unsigned char *b, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* H(p[0] ":" p[1] ":" ... ) into hex `out`. 0 or OCTO_EFAIL. */
static int auth_hash(enum sip_digest_alg alg, const char *const *parts, size_t n, char *out)
{
	const EVP_MD *md = alg == SIP_DIGEST_SHA256 ? EVP_sha256() : EVP_md5();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int ok = ctx && md && EVP_DigestInit_ex(ctx, md, NULL);

	for (size_t i = 0; ok && i < n; i++) {
		if (i)
			ok = EVP_DigestUpdate(ctx, ":", 1);
		if (ok)
			ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]));
	}
	if (ok)
		ok = EVP_DigestFinal_ex(ctx, h, &len);
	EVP_MD_CTX_free(ctx);
	if (!ok || !len || 2 * len >= SIP_DIGEST_HEX_MAX)
		return OCTO_EFAIL;
	auth_hex(h, len, out);
	return 0;
}

int sip_digest_response(enum sip_digest_alg alg, const char *user, const char *realm,
			const char *password, const char *method, const char *uri,
			const char *nonce, const char *nc, const char *cnonce, const char *qop,
			char *out)
{
	char ha1[SIP_DIGEST_HEX_MAX], ha2[SIP_DIGEST_HEX_MAX];
	bool with_qop = qop && *qop;

	out[0] = '\0';
	if (!user || !realm || !password || !method || !uri || !nonce)
		return OCTO_EINVAL;
	if (with_qop && (strcasecmp(qop, "auth") || !nc || !cnonce))
		return OCTO_EINVAL;
	if (auth_hash(alg, (const char *const[]){ user, realm, password }, 3, ha1) ||
	    auth_hash(alg, (const char *const[]){ method, uri }, 2, ha2))
		return OCTO_EFAIL;
	if (with_qop)
		return auth_hash(alg, (const char *const[]){ ha1, nonce, nc, cnonce, "auth", ha2 },
				 6, out);
	return auth_hash(alg, (const char *const[]){ ha1, nonce, ha2 }, 3, out);
}

/* ================================================================ nonces */

static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char auth_secret[AUTH_SECRET_LEN];
static bool auth_secret_set;
static uint64_t (*auth_clock)(void);

void sip_auth_set_clock(uint64_t (*now_ms)(void))
{
	auth_clock = now_ms;
}

static uint64_t auth_now(void)
{
	return auth_clock ? auth_clock() : octo_now_ms();
}

static bool auth_ensure_secret(void)
{
	bool ok = true;

	pthread_mutex_lock(&auth_lock);
	if (!auth_secret_set) {
		ok = RAND_bytes(auth_secret, sizeof(auth_secret)) == 1;
		auth_secret_set = ok;
	}
	pthread_mutex_unlock(&auth_lock);
	return ok;
}

static void auth_mac(const unsigned char *raw, unsigned char *mac)
{
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!HMAC(EVP_sha256(), auth_secret, sizeof(auth_secret), raw, AUTH_RAW_LEN, full, &len) ||
	    len < AUTH_MAC_LEN) {
		/* never matches a real MAC: every nonce is then invalid */
		memset(mac, 0, AUTH_MAC_LEN);
		return;
	}
	memcpy(mac, full, AUTH_MAC_LEN);
}

static int auth_unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void sip_nonce_new(char *buf, size_t size)
{
	unsigned char raw[AUTH_RAW_LEN + AUTH_MAC_LEN];
	uint64_t now = auth_now();

	if (size <= SIP_NONCE_LEN) {
		if (size)
			buf[0] = '\0';
		return;
	}
	auth_ensure_secret();
	for (int i = 0; i < 8; i++)
		raw[i] = (unsigned char)(now >> (56 - 8 * i));
	if (RAND_bytes(raw + 8, 8) != 1) {
		/* RAND_bytes does not fail on a seeded system; a nonce must
		 * still be unique, so fall back on the stack's random tokens */
		char tok[17];

		sip_random_token(tok, sizeof(tok));
		for (int i = 0; i < 8; i++)
			raw[8 + i] = (unsigned char)(auth_unhex(tok[2 * i]) << 4 |
						     auth_unhex(tok[2 * i + 1]));
	}
	auth_mac(raw, raw + AUTH_RAW_LEN);
	auth_hex(raw, sizeof(raw), buf);
}

/* Decodes a nonce of ours; false when it is not of our form. */
static bool auth_nonce_decode(const char *nonce, unsigned char *raw)
{
	if (!nonce || strlen(nonce) != SIP_NONCE_LEN)
		return false;
	for (size_t i = 0; i < SIP_NONCE_LEN / 2; i++) {
		int hi = auth_unhex(nonce[2 * i]), lo = auth_unhex(nonce[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		raw[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

enum sip_nonce_state sip_nonce_check(const char *nonce, unsigned lifetime_s)
{
	unsigned char raw[AUTH_RAW_LEN + AUTH_MAC_LEN], mac[AUTH_MAC_LEN];
	uint64_t ts = 0, now = auth_now();

	if (!auth_nonce_decode(nonce, raw) || !auth_ensure_secret())
		return SIP_NONCE_INVALID;
	auth_mac(raw, mac);
	if (CRYPTO_memcmp(mac, raw + AUTH_RAW_LEN, AUTH_MAC_LEN) != 0)
		return SIP_NONCE_INVALID;
	for (int i = 0; i < 8; i++)
		ts = ts << 8 | raw[i];
	if (ts > now + 1000) /* a second of slack; beyond that, not ours */
		return SIP_NONCE_INVALID;
	if (now - (ts > now ? now : ts) > (uint64_t)lifetime_s * 1000)
		return SIP_NONCE_STALE;
	return SIP_NONCE_OK;
}

/* ---------------------------------------------------------------- nonce counts */

struct auth_nc {
	struct auth_nc *next;                /* hash chain */
	struct auth_nc *age_prev, *age_next; /* in order of first use */
	unsigned char key[AUTH_RAW_LEN];
	unsigned long nc;
	uint64_t expires_ms;
};

/* The buckets (256 KB) are mapped for themselves at the first nonce: a
 * burst writes all their pages, and once its nonces have expired the
 * pages go back to the system (madvise) instead of staying resident. */
static struct auth_nc **auth_nc_tab;
static bool auth_nc_tab_dirty; /* pages written since they were given back */
static size_t auth_nc_count;
/* When the table is full the entry used first goes (it was a full scan of
 * the table for each new nonce, and past AUTH_NC_MAX live nonces every
 * client was sent a new one: sustained REGISTER at 4,800/s collapsed after
 * 14 s). A nonce issued before the newest one that went and not found is
 * refused as stale, so an evicted nonce cannot be replayed. */
static struct auth_nc *auth_nc_oldest, *auth_nc_newest;
static uint64_t auth_nc_floor; /* the highest timestamp of an evicted nonce */

/* Entries live for nonce_lifetime (minutes), one per authenticated request.
 * One malloc each, scattered among the short-lived allocations of calls
 * and transactions, kept most of the heap's pages in use after a burst
 * (measured after 16,000 REGISTERs: 36 MB held by malloc, 2 MB of it in
 * use). They expire oldest first: they come from a pool of their own
 * (octo/fifopool.h), and the memory of a burst goes back to the system
 * once its nonces have expired. Lock held for both. */
static struct octo_fifo_pool auth_nc_pool = OCTO_FIFO_POOL_INIT;
static uint64_t auth_nc_timer;

/* A zeroed entry, or NULL. */
static struct auth_nc *auth_nc_get(void)
{
	return octo_fifo_alloc(&auth_nc_pool, sizeof(struct auth_nc));
}

static void auth_nc_put(struct auth_nc *e)
{
	octo_fifo_free(&auth_nc_pool, e);
}

/* The buckets, mapped at the first use; NULL without memory. Lock held. */
static struct auth_nc **auth_nc_buckets(void)
{
	void *p;

	if (auth_nc_tab)
		return auth_nc_tab;
	p = mmap(NULL, AUTH_NC_TAB_BYTES, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	auth_nc_tab = p;
	return auth_nc_tab;
}

/* No nonce left: the buckets are all NULL, and an anonymous page given back
 * reads as zeros when it is touched again. Lock held. */
static void auth_nc_give_back(void)
{
	if (auth_nc_count || !auth_nc_tab_dirty)
		return;
	madvise(auth_nc_tab, AUTH_NC_TAB_BYTES, MADV_DONTNEED);
	auth_nc_tab_dirty = false;
}

static size_t auth_nc_bucket(const unsigned char *key)
{
	/* the key holds 8 random bytes: no need for a keyed hash */
	return ((size_t)key[8] | (size_t)key[9] << 8 | (size_t)key[10] << 16) % AUTH_NC_BUCKETS;
}

static uint64_t auth_nc_ts(const unsigned char *key)
{
	uint64_t ts = 0;

	for (int i = 0; i < 8; i++)
		ts = ts << 8 | key[i];
	return ts;
}

static void auth_nc_age_unlink(struct auth_nc *e)
{
	if (e->age_prev)
		e->age_prev->age_next = e->age_next;
	else
		auth_nc_oldest = e->age_next;
	if (e->age_next)
		e->age_next->age_prev = e->age_prev;
	else
		auth_nc_newest = e->age_prev;
}

/* Drops expired entries of one chain. Lock held. */
static void auth_nc_prune(size_t b, uint64_t now)
{
	struct auth_nc **pp = &auth_nc_tab[b];

	while (*pp) {
		struct auth_nc *e = *pp;

		if (e->expires_ms <= now) {
			*pp = e->next;
			auth_nc_age_unlink(e);
			auth_nc_put(e);
			auth_nc_count--;
		} else {
			pp = &e->next;
		}
	}
}

/* Takes e out of the table and frees it. Lock held. */
static void auth_nc_remove(struct auth_nc *e)
{
	struct auth_nc **pp;

	for (pp = &auth_nc_tab[auth_nc_bucket(e->key)]; *pp && *pp != e; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = e->next;
	auth_nc_age_unlink(e);
	auth_nc_put(e);
	auth_nc_count--;
}

/* Drops the entry used first (expired or not). Lock held. */
static void auth_nc_evict_oldest(void)
{
	struct auth_nc *e = auth_nc_oldest;
	uint64_t ts;

	if (!e)
		return;
	ts = auth_nc_ts(e->key);
	if (ts > auth_nc_floor)
		auth_nc_floor = ts;
	auth_nc_remove(e);
}

/* Drops the expired entries at the old end: all of them but the few that
 * were used out of their nonces' order, which go when their chain is
 * looked at or when they reach that end. Lock held. */
static void auth_nc_sweep(uint64_t now)
{
	while (auth_nc_oldest && auth_nc_oldest->expires_ms <= now)
		auth_nc_remove(auth_nc_oldest);
}

bool sip_nonce_count_ok(const char *nonce, unsigned long nc, unsigned lifetime_s)
{
	unsigned char raw[AUTH_RAW_LEN + AUTH_MAC_LEN];
	uint64_t ts, now = auth_now();
	struct auth_nc *e;
	bool ok = false;
	size_t b;

	if (!nc || !auth_nonce_decode(nonce, raw))
		return false;
	ts = auth_nc_ts(raw);
	b = auth_nc_bucket(raw);
	pthread_mutex_lock(&auth_lock);
	if (!auth_nc_buckets())
		goto out; /* no memory: the client gets a new nonce */
	auth_nc_sweep(now);
	auth_nc_prune(b, now);
	for (e = auth_nc_tab[b]; e; e = e->next)
		if (!memcmp(e->key, raw, AUTH_RAW_LEN))
			break;
	if (e) {
		ok = nc > e->nc;
		if (ok)
			e->nc = nc;
		goto out;
	}
	if (ts <= auth_nc_floor)
		goto out; /* it may have been used and evicted: the client gets a new one */
	if (auth_nc_count >= AUTH_NC_MAX)
		auth_nc_evict_oldest();
	e = auth_nc_get();
	if (!e)
		goto out;
	memcpy(e->key, raw, AUTH_RAW_LEN);
	e->nc = nc;
	e->expires_ms = ts + (uint64_t)lifetime_s * 1000 + 1000;
	e->next = auth_nc_tab[b];
	auth_nc_tab[b] = e;
	auth_nc_tab_dirty = true;
	e->age_prev = auth_nc_newest;
	if (auth_nc_newest)
		auth_nc_newest->age_next = e;
	else
		auth_nc_oldest = e;
	auth_nc_newest = e;
	auth_nc_count++;
	ok = true;
out:
	pthread_mutex_unlock(&auth_lock);
	return ok;
}

static void auth_nc_clear(void)
{
	pthread_mutex_lock(&auth_lock);
	while (auth_nc_oldest)
		auth_nc_remove(auth_nc_oldest);
	octo_fifo_pool_release(&auth_nc_pool);
	if (auth_nc_tab)
		munmap(auth_nc_tab, AUTH_NC_TAB_BYTES);
	auth_nc_tab = NULL;
	auth_nc_tab_dirty = false;
	auth_nc_floor = 0;
	pthread_mutex_unlock(&auth_lock);
}

/* Between requests too: the memory of a burst goes back once its nonces
 * expired, not at the next request. */
void sip_nonce_count_sweep(void)
{
	pthread_mutex_lock(&auth_lock);
	auth_nc_sweep(auth_now());
	auth_nc_give_back();
	pthread_mutex_unlock(&auth_lock);
}

static unsigned auth_nc_sweep_cb(void *data)
{
	(void)data;
	sip_nonce_count_sweep();
	return AUTH_NC_SWEEP_MS;
}

size_t sip_nonce_count_table_pages(void)
{
	size_t size = AUTH_NC_TAB_BYTES, page, n = 0;
	unsigned char vec[AUTH_NC_TAB_BYTES / 4096 + 1];
	long ps = sysconf(_SC_PAGESIZE);

	page = ps > 0 ? (size_t)ps : 4096;
	pthread_mutex_lock(&auth_lock);
	if (auth_nc_tab && size / page <= sizeof(vec) && mincore(auth_nc_tab, size, vec) == 0)
		for (size_t i = 0; i < size / page; i++)
			n += vec[i] & 1;
	pthread_mutex_unlock(&auth_lock);
	return n;
}

size_t sip_nonce_count_blocks(void)
{
	size_t n;

	pthread_mutex_lock(&auth_lock);
	n = octo_fifo_pool_blocks(&auth_nc_pool);
	pthread_mutex_unlock(&auth_lock);
	return n;
}

int sip_auth_init(void)
{
	pthread_mutex_lock(&auth_lock);
	auth_secret_set = false; /* a new secret for every load */
	pthread_mutex_unlock(&auth_lock);
	if (!auth_ensure_secret()) {
		octo_log(OCTO_ERROR, "SIP: no random bytes for the digest nonce secret");
		return OCTO_EFAIL;
	}
	/* none without the loop (unit tests): requests still sweep */
	auth_nc_timer = octo_timer_add(AUTH_NC_SWEEP_MS, auth_nc_sweep_cb, NULL);
	return 0;
}

void sip_auth_fini(void)
{
	if (auth_nc_timer)
		octo_timer_cancel(auth_nc_timer);
	auth_nc_timer = 0;
	auth_nc_clear();
	pthread_mutex_lock(&auth_lock);
	OPENSSL_cleanse(auth_secret, sizeof(auth_secret));
	auth_secret_set = false;
	pthread_mutex_unlock(&auth_lock);
}

/* ================================================================ checking a response */

bool sip_digest_verify(enum sip_digest_alg alg, const char *user, const char *realm,
		       const char *secret, const char *method, const char *uri, const char *nonce,
		       const char *nc, const char *cnonce, const char *qop, const char *resp)
{
	char expect[SIP_DIGEST_HEX_MAX], lower[SIP_DIGEST_HEX_MAX];
	size_t n;

	if (sip_digest_response(alg, user, realm, secret, method, uri, nonce, nc, cnonce, qop,
				expect) != 0)
		return false;
	n = strlen(expect);
	if (strlen(resp) != n)
		return false;
	/* hex digits compare case-insensitively */
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)tolower((unsigned char)resp[i]);
	return CRYPTO_memcmp(expect, lower, n) == 0;
}

/* ================================================================ the challenge */

void sip_auth_challenge(struct sip_txn *txn, const struct sip_msg *req,
			const struct sip_reg_conf *rc, bool stale)
{
	bool reg = req->method == SIP_REGISTER;
	struct sip_msg *r = sip_txn_response(txn, reg ? 401 : 407, NULL);
	char nonce[SIP_NONCE_LEN + 1], value[512];

	if (!r)
		return;
	sip_nonce_new(nonce, sizeof(nonce));
	for (unsigned i = 0; i < rc->nalgs; i++) {
		snprintf(value, sizeof(value),
			 "Digest realm=\"%s\", nonce=\"%s\", algorithm=%s, qop=\"auth\"%s",
			 rc->realm, nonce, sip_digest_alg_name(rc->algs[i]),
			 stale ? ", stale=true" : "");
		sip_msg_add_header(r, reg ? "WWW-Authenticate" : "Proxy-Authenticate", value);
	}
	sip_txn_send_forget(txn, r);
}

/* ================================================================ checking a request */

const char *sip_auth_field(const char *raw, char *buf, size_t size, bool unescape)
{
	size_t n;

	if (!raw)
		return "";
	n = strlen(raw);
	if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"') {
		raw++;
		n -= 2;
	}
	if (n >= size)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f)
			return NULL;
	memcpy(buf, raw, n);
	buf[n] = '\0';
	/* a quoted-string may escape characters (RFC 7230 quoted-pair) */
	for (char *s = buf, *d = buf; unescape; s++) {
		if (*s == '\\' && s[1])
			s++;
		*d++ = *s;
		if (!*s)
			break;
	}
	return buf;
}

/* The credentials for our realm among the request's Authorization (REGISTER)
 * or Proxy-Authorization headers; NULL when there are none. */
static osip_authorization_t *auth_find_credentials(const struct sip_msg *req, const char *realm)
{
	const osip_list_t *list = req->method == SIP_REGISTER ? &req->osip->authorizations
							      : &req->osip->proxy_authorizations;
	char buf[AUTH_FIELD_MAX];

	for (int pos = 0; !osip_list_eol(list, pos); pos++) {
		osip_authorization_t *a = osip_list_get(list, pos);
		const char *r;

		if (!a || !a->auth_type || strcasecmp(a->auth_type, "Digest"))
			continue;
		r = sip_auth_field(a->realm, buf, sizeof(buf), true);
		if (r && !strcmp(r, realm))
			return a;
	}
	return NULL;
}

/* The user part of the To (REGISTER) or From URI, or NULL. */
static const char *auth_identity(const struct sip_msg *req)
{
	const osip_from_t *f = req->method == SIP_REGISTER ? req->osip->to : req->osip->from;

	return f && f->url && f->url->username && f->url->username[0] ? f->url->username : NULL;
}

static bool auth_is_nc(const char *s)
{
	if (strlen(s) != 8)
		return false;
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return false;
	return true;
}

struct octo_user *sip_auth_request(struct sip_txn *txn, struct sip_msg *req)
{
	struct sip_cfg *cfg = sip_cfg_get();
	const struct sip_reg_conf *rc = cfg ? sip_cfg_part(cfg, &sip_reg_cfg_part) : NULL;
	const struct octo_users_api *users = NULL;
	struct octo_user *u = NULL;
	osip_authorization_t *a;
	char f_user[AUTH_FIELD_MAX], f_nonce[AUTH_FIELD_MAX], f_uri[AUTH_FIELD_MAX];
	char f_resp[AUTH_FIELD_MAX], f_alg[64], f_cnonce[AUTH_FIELD_MAX], f_qop[64], f_nc[64];
	const char *user, *nonce, *uri, *resp, *alg_s, *cnonce, *qop, *nc, *identity;
	char peer[SIP_ADDR_STRLEN];
	bool alg_offered = false, ok;
	int alg;

	if (!rc || !rc->nalgs) {
		sip_txn_respond(txn, 503, "Service Unavailable");
		goto out;
	}
	sip_addr_str(&req->src, peer, sizeof(peer));
	identity = auth_identity(req);
	if (!identity) {
		sip_txn_respond(txn, 400,
				req->method == SIP_REGISTER ? "No User In To" : "No User In From");
		goto out;
	}
	a = auth_find_credentials(req, rc->realm);
	if (!a) {
		sip_auth_challenge(txn, req, rc, false);
		goto out;
	}
	user = sip_auth_field(a->username, f_user, sizeof(f_user), true);
	nonce = sip_auth_field(a->nonce, f_nonce, sizeof(f_nonce), true);
	uri = sip_auth_field(a->uri, f_uri, sizeof(f_uri), true);
	resp = sip_auth_field(a->response, f_resp, sizeof(f_resp), true);
	alg_s = sip_auth_field(a->algorithm, f_alg, sizeof(f_alg), true);
	cnonce = sip_auth_field(a->cnonce, f_cnonce, sizeof(f_cnonce), true);
	qop = sip_auth_field(a->message_qop, f_qop, sizeof(f_qop), true);
	nc = sip_auth_field(a->nonce_count, f_nc, sizeof(f_nc), true);
	if (!user || !nonce || !uri || !resp || !alg_s || !cnonce || !qop || !nc || !*user ||
	    !*nonce || !*uri || !*resp) {
		sip_txn_respond(txn, 400, "Malformed Credentials");
		goto out;
	}
	if (*qop && (strcasecmp(qop, "auth") || !*cnonce || !auth_is_nc(nc))) {
		/* auth-int is not offered; qop=auth needs a cnonce and nc */
		if (strcasecmp(qop, "auth"))
			sip_auth_challenge(txn, req, rc, false);
		else
			sip_txn_respond(txn, 400, "Malformed Credentials");
		goto out;
	}
	alg = *alg_s ? sip_digest_alg_parse(alg_s) : SIP_DIGEST_MD5;
	for (unsigned i = 0; alg >= 0 && i < rc->nalgs; i++)
		alg_offered |= rc->algs[i] == (enum sip_digest_alg)alg;
	if (!alg_offered) {
		sip_auth_challenge(txn, req, rc, false);
		goto out;
	}
	if (strcmp(user, identity)) {
		octo_log(OCTO_NOTICE,
			 "SIP: %s from %s: credentials of user \"%.64s\" for \"%.64s\": 403",
			 sip_msg_method_name(req), peer, user, identity);
		sip_txn_respond(txn, 403,
				req->method == SIP_REGISTER ? "Username Does Not Match To"
							    : "Username Does Not Match From");
		goto out;
	}
	users = octo_service_get(OCTO_USERS_SERVICE, 1, "chan_sip");
	u = users ? users->find(user) : NULL;
	if (u && !u->secret[0]) {
		octo_log(OCTO_NOTICE, "SIP: %s from %s: user %.64s has no secret: 403",
			 sip_msg_method_name(req), peer, user);
		sip_txn_respond(txn, 403, "No Secret Set");
		octo_obj_unref(u);
		u = NULL;
		goto out;
	}
	/* an unknown user costs the same hashing as a wrong password */
	ok = sip_digest_verify((enum sip_digest_alg)alg, user, rc->realm, u ? u->secret : "",
			       sip_msg_method_name(req), uri, nonce, nc, cnonce, qop, resp) &&
	     u;
	if (!ok) {
		octo_log(OCTO_NOTICE, "SIP: %s from %s: wrong credentials for %s%.64s",
			 sip_msg_method_name(req), peer, u ? "user " : "unknown user ", user);
		sip_sec_failure((const struct sockaddr *)&req->src.sa, user);
		sip_auth_challenge(txn, req, rc, false);
		octo_obj_unref(u);
		u = NULL;
		goto out;
	}
	switch (sip_nonce_check(nonce, rc->nonce_lifetime)) {
	case SIP_NONCE_OK: break;
	case SIP_NONCE_STALE:
	case SIP_NONCE_INVALID:
		octo_debug(1, "SIP: %s from %s: user %.64s answered an old nonce: stale=true",
			   sip_msg_method_name(req), peer, user);
		sip_auth_challenge(txn, req, rc, true);
		octo_obj_unref(u);
		u = NULL;
		goto out;
	}
	if (*qop && !sip_nonce_count_ok(nonce, strtoul(nc, NULL, 16), rc->nonce_lifetime)) {
		octo_debug(1, "SIP: %s from %s: user %.64s repeated nonce count %s: stale=true",
			   sip_msg_method_name(req), peer, user, nc);
		sip_auth_challenge(txn, req, rc, true);
		octo_obj_unref(u);
		u = NULL;
		goto out;
	}
out:
	if (users)
		octo_service_put(users, "chan_sip");
	octo_obj_unref(cfg);
	return u;
}
