/*
 * sip_security.c - SIP blocks: failed authentications are counted per
 * source IP; max_failures of them within `window` ban the IP for
 * `ban_time` (sip.conf [security]), unless it lies in a trusted network.
 * Packets from a banned IP are dropped before they are parsed (the
 * transport asks sip_sec_banned() for each datagram, framed message and
 * accepted connection), so a scanner gets no answer at all. Bans are kept
 * in the store and survive a restart. CLI: `security show bans`,
 * `security unban IP`.
 *
 * DESIGN
 *  - One hash table of entries keyed by the 16-byte address (IPv4 as
 *    v4-mapped IPv6), seeded at random so that chosen addresses do not pile
 *    up in one chain. An entry holds the failure count of the current
 *    window, the user names tried and the ban. At most SEC_MAX_ENTRIES
 *    entries: beyond that, failures of new addresses are not tracked (and
 *    that is logged once) rather than growing without bound.
 *  - The drop check is on the hot receive path: with no ban in force it is
 *    one atomic load; otherwise one hash lookup under a mutex.
 *  - Expired bans are lifted on the next lookup or by a sweep every
 *    SEC_SWEEP_MS (which also forgets failure counts whose window passed).
 *  - Store writes go through octo_store_queue() (never blocking the loop);
 *    the bans are read back synchronously at load (not on the loop).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "octo/cli.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/sched.h"
#include "octo/store.h"
#include "sip.h"

#define SEC_BUCKETS 4096
#define SEC_MAX_ENTRIES 65536
#define SEC_SWEEP_MS 10000
#define SEC_STORE_OWNER "chan_sip.security"

/* ================================================================ config */

static const struct octo_cfg_opt sec_opts[] = {
	OCTO_CFG_UINT("max_failures", struct sip_sec_conf, max_failures, "5", 0, 1000000),
	OCTO_CFG_DURATION("window", struct sip_sec_conf, window, "10m", 1, 7 * 86400),
	OCTO_CFG_DURATION("ban_time", struct sip_sec_conf, ban_time, "1h", 1, 365 * 86400),
	OCTO_CFG_LIST("trusted", struct sip_sec_conf, trusted, "127.0.0.0/8, ::1", OCTO_CFG_MULTI),
	OCTO_CFG_END
};

static int sec_conf_section(struct sip_cfg *cfg, void *data, const struct octo_cfg_section *s,
			    struct octo_diags *diags)
{
	struct sip_sec_conf *sc = data;

	if (strcmp(s->name, "security"))
		return 0;
	if (sc->bound) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, s->file, s->line,
			       "[security] appears twice in sip.conf");
		return OCTO_ECONFIG;
	}
	sc->bound = true;
	return octo_cfg_bind(s, sec_opts, sc, NULL, diags) ? OCTO_ECONFIG : 1;
}

static int sec_conf_check(struct sip_cfg *cfg, void *data, struct octo_diags *diags)
{
	struct sip_sec_conf *sc = data;
	const struct octo_cfg_section *sec = octo_cfg_section(cfg->tree, "security");
	int rc = 0;

	if (!sc->bound) {
		sc->bound = true;
		if (octo_cfg_bind(NULL, sec_opts, sc, NULL, diags))
			return OCTO_ECONFIG;
	}
	sc->nets = calloc(sc->trusted.count + 1, sizeof(*sc->nets));
	if (!sc->nets)
		return OCTO_ENOMEM;
	for (size_t i = 0; i < sc->trusted.count; i++) {
		const char *err = octo_cidr_parse(sc->trusted.items[i], true, &sc->nets[sc->nnets]);

		if (err) {
			const struct octo_cfg_var *at = NULL;
			char clean[OCTO_CFG_CLEAN];

			for (const struct octo_cfg_var *v = sec ? sec->vars : NULL; v; v = v->next)
				if (!strcmp(v->name, "trusted") &&
				    strstr(v->value, sc->trusted.items[i]))
					at = v;
			octo_diags_add(diags, OCTO_DIAG_ERROR, at ? at->file : cfg->tree->file,
				       at ? at->line : 0, "[security] trusted: \"%s\" %s",
				       octo_cfg_clean(clean, sc->trusted.items[i]), err);
			rc = OCTO_ECONFIG;
			continue;
		}
		sc->nnets++;
	}
	return rc;
}

static void sec_conf_free(void *data)
{
	struct sip_sec_conf *sc = data;

	octo_cfg_unbind(sec_opts, sc);
	free(sc->nets);
	sc->nets = NULL;
	sc->nnets = 0;
}

const struct sip_cfg_part sip_sec_cfg_part = {
	.name = "security",
	.size = sizeof(struct sip_sec_conf),
	.section = sec_conf_section,
	.check = sec_conf_check,
	.free = sec_conf_free,
};

/* ================================================================ the table */

struct sec_entry {
	struct sec_entry *next;
	unsigned char addr[16];
	int64_t window_start; /* first failure of the current window */
	unsigned failures;
	int64_t since, until; /* the ban; until == 0: not banned */
	char users[128];
};

static struct {
	pthread_mutex_t lock;
	struct sec_entry *tab[SEC_BUCKETS];
	size_t count;
	atomic_uint bans;
	uint64_t seed;
	bool full_logged;
	bool store; /* the store took our table */
	uint64_t timer;
	int64_t (*clock)(void);
} sec = { .lock = PTHREAD_MUTEX_INITIALIZER };

void sip_sec_set_clock(int64_t (*now_s)(void))
{
	sec.clock = now_s;
}

static int64_t sec_now(void)
{
	return sec.clock ? sec.clock() : (int64_t)time(NULL);
}

/* The 16-byte key of an address (IPv4 as ::ffff:a.b.c.d); false when it
 * is neither. */
static bool sec_key(const struct sockaddr *sa, unsigned char *key)
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static bool sec_key_v4(const unsigned char *key)
{
	static const unsigned char prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return !memcmp(key, prefix, sizeof(prefix));
}

/* The key as a sockaddr (plain IPv4 for v4-mapped). */
static void sec_key_sockaddr(const unsigned char *key, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (sec_key_v4(key)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, key + 12, 4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, key, 16);
	}
}

static void sec_key_text(const unsigned char *key, char *buf, size_t size)
{
	if (sec_key_v4(key))
		inet_ntop(AF_INET, key + 12, buf, (socklen_t)size);
	else
		inet_ntop(AF_INET6, key, buf, (socklen_t)size);
}

static bool sec_key_parse(const char *text, unsigned char *key)
{
	struct in_addr a4;

	if (!text)
		return false;
	if (inet_pton(AF_INET, text, &a4) == 1) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &a4, 4);
		return true;
	}
	return inet_pton(AF_INET6, text, key) == 1;
}

static size_t sec_bucket(const unsigned char *key)
{
	uint64_t h = sec.seed ^ 0x9e3779b97f4a7c15ull;

	for (int i = 0; i < 16; i++) {
		h ^= key[i];
		h *= 0x100000001b3ull;
		h ^= h >> 29;
	}
	return (size_t)(h % SEC_BUCKETS);
}

/* Lock held. */
static struct sec_entry *sec_find(const unsigned char *key, struct sec_entry ***link)
{
	struct sec_entry **pp = &sec.tab[sec_bucket(key)];

	for (; *pp; pp = &(*pp)->next) {
		if (!memcmp((*pp)->addr, key, 16)) {
			if (link)
				*link = pp;
			return *pp;
		}
	}
	return NULL;
}

/* Unlinks and frees the entry at *pp. Lock held. */
static void sec_remove(struct sec_entry **pp)
{
	struct sec_entry *e = *pp;

	*pp = e->next;
	if (e->until)
		atomic_fetch_sub(&sec.bans, 1);
	free(e);
	sec.count--;
}

static void sec_store_delete(const unsigned char *key)
{
	char ip[64];

	if (!sec.store)
		return;
	sec_key_text(key, ip, sizeof(ip));
	octo_store_queue("DELETE FROM sip_bans WHERE ip = ?", OCTO_STORE_ARGS(OCTO_STORE_T(ip)));
}

static void sec_store_ban(const struct sec_entry *e)
{
	char ip[64];

	if (!sec.store)
		return;
	sec_key_text(e->addr, ip, sizeof(ip));
	octo_store_queue("INSERT OR REPLACE INTO sip_bans(ip, since, until, failures, users) "
			 "VALUES(?, ?, ?, ?, ?)",
			 OCTO_STORE_ARGS(OCTO_STORE_T(ip), OCTO_STORE_I(e->since),
					 OCTO_STORE_I(e->until), OCTO_STORE_I(e->failures),
					 OCTO_STORE_T(e->users)));
}

/* Lifts an expired ban of the entry at *pp (logged); the entry goes away.
 * Lock held. */
static void sec_expire(struct sec_entry **pp)
{
	char ip[64];

	sec_key_text((*pp)->addr, ip, sizeof(ip));
	octo_log(OCTO_NOTICE, "SIP: the ban of %s has expired", ip);
	sec_store_delete((*pp)->addr);
	sec_remove(pp);
}

bool sip_sec_banned(const struct sockaddr *sa)
{
	unsigned char key[16];
	struct sec_entry *e, **pp;
	bool banned = false;

	if (!atomic_load_explicit(&sec.bans, memory_order_relaxed) || !sec_key(sa, key))
		return false;
	pthread_mutex_lock(&sec.lock);
	e = sec_find(key, &pp);
	if (e && e->until) {
		if (e->until > sec_now())
			banned = true;
		else
			sec_expire(pp);
	}
	pthread_mutex_unlock(&sec.lock);
	return banned;
}

static bool sec_trusted(const struct sip_sec_conf *sc, const unsigned char *key)
{
	struct sockaddr_storage ss;

	sec_key_sockaddr(key, &ss);
	for (size_t i = 0; i < sc->nnets; i++)
		if (octo_cidr_contains(&sc->nets[i], (const struct sockaddr *)&ss))
			return true;
	return false;
}

/* Adds `user` to the entry's list of names tried: each name once, the
 * latest last; the oldest names make room. */
static void sec_add_user(struct sec_entry *e, const char *user)
{
	char name[40], *p;
	size_t n, len;

	if (!user || !*user)
		return;
	/* names go into logs and the CLI: printable, no commas */
	for (n = 0; user[n] && n < sizeof(name) - 1; n++)
		name[n] = (user[n] < 0x21 || user[n] == 0x7f || user[n] == ',') ? '?' : user[n];
	name[n] = '\0';
	/* drop an earlier occurrence, then append */
	len = strlen(e->users);
	for (p = e->users; p && *p;) {
		char *end = strchr(p, ',');
		size_t l = end ? (size_t)(end - p) : strlen(p);

		if (l == n && !memcmp(p, name, n)) {
			size_t rest = end ? strlen(end + 1) : 0;

			memmove(p, end ? end + 1 : p + l, rest + 1);
			len = strlen(e->users);
			if (len && e->users[len - 1] == ',')
				e->users[--len] = '\0';
			break;
		}
		p = end ? end + 1 : NULL;
	}
	while (len && len + 1 + n >= sizeof(e->users)) {
		char *comma = strchr(e->users, ',');

		if (!comma) {
			e->users[0] = '\0';
			len = 0;
			break;
		}
		memmove(e->users, comma + 1, strlen(comma + 1) + 1);
		len = strlen(e->users);
	}
	snprintf(e->users + len, sizeof(e->users) - len, "%s%s", len ? "," : "", name);
}

void sip_sec_failure(const struct sockaddr *sa, const char *user)
{
	struct sip_cfg *cfg = sip_cfg_get();
	const struct sip_sec_conf *sc = cfg ? sip_cfg_part(cfg, &sip_sec_cfg_part) : NULL;
	unsigned char key[16];
	struct sec_entry *e;
	char ip[64], users[sizeof(e->users)];
	unsigned failures = 0, ban_time = 0, window = 0;
	int64_t now = sec_now();
	bool banned = false, full = false;

	if (!sc || !sc->max_failures || !sec_key(sa, key))
		goto out;
	sec_key_text(key, ip, sizeof(ip));
	if (sec_trusted(sc, key)) {
		octo_debug(1, "SIP: failed authentication from trusted %s: not counted", ip);
		goto out;
	}
	pthread_mutex_lock(&sec.lock);
	e = sec_find(key, NULL);
	if (!e && sec.count < SEC_MAX_ENTRIES) {
		e = calloc(1, sizeof(*e));
		if (e) {
			size_t b = sec_bucket(key);

			memcpy(e->addr, key, 16);
			e->next = sec.tab[b];
			sec.tab[b] = e;
			sec.count++;
		}
	} else if (!e && !sec.full_logged) {
		sec.full_logged = full = true;
	}
	if (e && !(e->until && e->until > now)) {
		if (e->until) {
			/* an expired ban: start over */
			atomic_fetch_sub(&sec.bans, 1);
			e->until = e->since = 0;
			e->failures = 0;
			e->users[0] = '\0';
		}
		if (!e->failures || now - e->window_start >= (int64_t)sc->window) {
			e->failures = 0;
			e->window_start = now;
		}
		e->failures++;
		sec_add_user(e, user);
		if (e->failures >= sc->max_failures) {
			e->since = now;
			e->until = now + sc->ban_time;
			atomic_fetch_add(&sec.bans, 1);
			sec_store_ban(e);
			banned = true;
		}
		failures = e->failures;
		ban_time = sc->ban_time;
		window = (unsigned)(now - e->window_start);
		octo_strlcpy(users, e->users, sizeof(users));
	}
	pthread_mutex_unlock(&sec.lock);
	if (full)
		octo_log(OCTO_WARNING,
			 "SIP: %d addresses with failed authentications are tracked already; "
			 "failures from %s and other new addresses are not counted",
			 SEC_MAX_ENTRIES, ip);
	if (banned)
		octo_log(OCTO_NOTICE,
			 "SIP: banned %s for %us after %u failed authentications in %us "
			 "(users tried: %s)",
			 ip, ban_time, failures, window, users[0] ? users : "none");
	else if (failures)
		octo_debug(1, "SIP: failed authentication %u from %s", failures, ip);
out:
	octo_obj_unref(cfg);
}

int sip_sec_unban(const char *ip)
{
	unsigned char key[16];
	struct sec_entry *e, **pp;
	int rc = OCTO_ENOTFOUND;

	if (!sec_key_parse(ip, key))
		return OCTO_EINVAL;
	pthread_mutex_lock(&sec.lock);
	e = sec_find(key, &pp);
	if (e) {
		rc = e->until && e->until > sec_now() ? 0 : OCTO_ENOTFOUND;
		if (e->until)
			sec_store_delete(key);
		sec_remove(pp);
	}
	pthread_mutex_unlock(&sec.lock);
	return rc;
}

static int sec_cmp_ban(const void *a, const void *b)
{
	const struct sip_ban_info *x = a, *y = b;

	if (x->since != y->since)
		return x->since < y->since ? -1 : 1;
	return strcmp(x->ip, y->ip);
}

size_t sip_sec_bans(struct sip_ban_info **out)
{
	int64_t now = sec_now();
	size_t n = 0, cap;

	pthread_mutex_lock(&sec.lock);
	cap = atomic_load(&sec.bans);
	*out = calloc(cap ? cap : 1, sizeof(**out));
	for (size_t b = 0; *out && b < SEC_BUCKETS; b++) {
		for (struct sec_entry *e = sec.tab[b]; e; e = e->next) {
			struct sip_ban_info *i;

			if (!e->until || e->until <= now || n == cap)
				continue;
			i = &(*out)[n++];
			sec_key_text(e->addr, i->ip, sizeof(i->ip));
			i->since = e->since;
			i->until = e->until;
			i->failures = e->failures;
			octo_strlcpy(i->users, e->users, sizeof(i->users));
		}
	}
	pthread_mutex_unlock(&sec.lock);
	if (n > 1)
		qsort(*out, n, sizeof(**out), sec_cmp_ban);
	return n;
}

/* ================================================================ sweep, store, init */

/* Forgets windows that passed and lifts bans that expired. */
static void sec_sweep(void)
{
	struct sip_cfg *cfg = sip_cfg_get();
	const struct sip_sec_conf *sc = cfg ? sip_cfg_part(cfg, &sip_sec_cfg_part) : NULL;
	int64_t now = sec_now(), window = sc ? (int64_t)sc->window : 0;

	pthread_mutex_lock(&sec.lock);
	for (size_t b = 0; b < SEC_BUCKETS; b++) {
		struct sec_entry **pp = &sec.tab[b];

		while (*pp) {
			struct sec_entry *e = *pp;

			if (e->until && e->until <= now)
				sec_expire(pp);
			else if (!e->until && now - e->window_start >= window)
				sec_remove(pp);
			else
				pp = &e->next;
		}
	}
	if (sec.count < SEC_MAX_ENTRIES / 2)
		sec.full_logged = false;
	pthread_mutex_unlock(&sec.lock);
	octo_obj_unref(cfg);
}

static unsigned sec_sweep_cb(void *data)
{
	sec_sweep();
	return SEC_SWEEP_MS;
}

static const char *const sec_schema[] = {
	"CREATE TABLE sip_bans(ip TEXT PRIMARY KEY, since INTEGER NOT NULL, "
	"until INTEGER NOT NULL, failures INTEGER NOT NULL, users TEXT NOT NULL)",
};

static int sec_load_row(const struct octo_store_row *row, void *data)
{
	unsigned char key[16];
	struct sec_entry *e;
	const char *users = octo_store_row_text(row, 4);
	size_t b;

	if (!sec_key_parse(octo_store_row_text(row, 0), key) || sec.count >= SEC_MAX_ENTRIES ||
	    sec_find(key, NULL))
		return 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		return 1;
	memcpy(e->addr, key, 16);
	e->since = octo_store_row_int(row, 1);
	e->until = octo_store_row_int(row, 2);
	e->failures = (unsigned)octo_store_row_int(row, 3);
	e->window_start = e->since;
	octo_strlcpy(e->users, users ? users : "", sizeof(e->users));
	b = sec_bucket(key);
	e->next = sec.tab[b];
	sec.tab[b] = e;
	sec.count++;
	atomic_fetch_add(&sec.bans, 1);
	(*(unsigned *)data)++;
	return 0;
}

static void sec_clear(void)
{
	pthread_mutex_lock(&sec.lock);
	for (size_t b = 0; b < SEC_BUCKETS; b++)
		while (sec.tab[b])
			sec_remove(&sec.tab[b]);
	pthread_mutex_unlock(&sec.lock);
}

int sip_sec_init(void)
{
	int64_t now = sec_now();
	unsigned loaded = 0;

	if (RAND_bytes((unsigned char *)&sec.seed, sizeof(sec.seed)) != 1)
		sec.seed = octo_wall_us();
	sec_clear();
	sec.store = octo_store_is_open() && octo_store_migrate(SEC_STORE_OWNER, sec_schema,
							       OCTO_ARRAY_LEN(sec_schema)) >= 0;
	if (!sec.store) {
		octo_log(OCTO_WARNING, "SIP: the store is not available: bans are not kept "
				       "across restarts");
	} else {
		pthread_mutex_lock(&sec.lock);
		octo_store_query("SELECT ip, since, until, failures, users FROM sip_bans "
				 "WHERE until > ?",
				 OCTO_STORE_ARGS(OCTO_STORE_I(now)), sec_load_row, &loaded);
		pthread_mutex_unlock(&sec.lock);
		octo_store_queue("DELETE FROM sip_bans WHERE until <= ?",
				 OCTO_STORE_ARGS(OCTO_STORE_I(now)));
		if (loaded)
			octo_verbose(1, "SIP: %u IP ban%s in force from the store", loaded,
				     loaded == 1 ? "" : "s");
	}
	sec.timer = octo_timer_add(SEC_SWEEP_MS, sec_sweep_cb, NULL);
	return 0;
}

void sip_sec_fini(void)
{
	if (sec.timer)
		octo_timer_cancel(sec.timer);
	sec.timer = 0;
	if (sec.store)
		octo_store_flush();
	sec_clear();
}

/* ================================================================ CLI */

static void sec_time_text(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm))
		strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
	else
		snprintf(buf, size, "%lld", (long long)t);
}

static int sec_cli_bans(struct octo_cli_out *out, int argc, char **argv)
{
	struct sip_ban_info *bans = NULL;
	int64_t now = sec_now();
	size_t n;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	n = sip_sec_bans(&bans);
	octo_cli_columns(out, "IP", "Since", "Until", "Left", "Failures", "Users tried", NULL);
	for (size_t i = 0; i < n; i++) {
		char since[32], until[32], left[24], fails[16];

		sec_time_text(bans[i].since, since, sizeof(since));
		sec_time_text(bans[i].until, until, sizeof(until));
		snprintf(left, sizeof(left), "%llds",
			 (long long)(bans[i].until > now ? bans[i].until - now : 0));
		snprintf(fails, sizeof(fails), "%u", bans[i].failures);
		octo_cli_row(out, bans[i].ip, since, until, left, fails,
			     bans[i].users[0] ? bans[i].users : "-", NULL);
	}
	free(bans);
	octo_cli_kv(out, "bans", "%zu", n);
	return OCTO_CLI_OK;
}

static int sec_cli_unban(struct octo_cli_out *out, int argc, char **argv)
{
	char clean[OCTO_CFG_CLEAN];
	int rc;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	rc = sip_sec_unban(argv[2]);
	if (rc == OCTO_EINVAL) {
		octo_cli_error(out, "\"%s\" is not an IP address", octo_cfg_clean(clean, argv[2]));
		return OCTO_CLI_FAIL;
	}
	if (rc) {
		octo_cli_error(out, "%s is not banned", octo_cfg_clean(clean, argv[2]));
		return OCTO_CLI_FAIL;
	}
	octo_log(OCTO_NOTICE, "SIP: %s unbanned from the CLI", argv[2]);
	octo_cli_printf(out, "%s is no longer banned.", argv[2]);
	return OCTO_CLI_OK;
}

static void sec_complete_unban(struct octo_cli_completion *c, int pos, const char *partial)
{
	struct sip_ban_info *bans = NULL;
	size_t n;

	if (pos != 0)
		return;
	n = sip_sec_bans(&bans);
	for (size_t i = 0; i < n; i++)
		if (!strncmp(bans[i].ip, partial, strlen(partial)))
			octo_cli_complete_add(c, bans[i].ip);
	free(bans);
}

static const struct octo_cli_cmd sec_cli_cmds[] = {
	{ "security show bans", "List the IP addresses banned after failed SIP authentications",
	  NULL, sec_cli_bans, NULL },
	{ "security unban", "Lift the ban of an IP address", "security unban <ip>", sec_cli_unban,
	  sec_complete_unban },
	{ 0 }
};

int sip_sec_cli_register(struct octo_module *self)
{
	return octo_cli_register_all(self, sec_cli_cmds);
}
