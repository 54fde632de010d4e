/*
 * sip_core.c - the receive path and the method dispatch table: a received
 * datagram or framed message is validated (sip_msg.c), answered at once
 * when it is malformed, and otherwise handed to the transaction layer,
 * which calls back here for new requests. The answers the stack gives on
 * its own live here too: OPTIONS, 405, 501, 420, the default for CANCEL.
 * Also the counters and sip_loop_run().
 */
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/log.h"
#include "octo/obj.h"
#include "octo/sched.h"
#include "sip.h"

#define CORE_MAX_TAGS 16

static _Atomic(sip_request_fn) core_handlers[SIP_METHOD_COUNT];
static _Atomic(void (*)(struct sip_msg *)) core_stray;

static pthread_mutex_t core_tags_lock = PTHREAD_MUTEX_INITIALIZER;
static char core_tags[CORE_MAX_TAGS][32];
static unsigned core_tag_count;

/* ---------------------------------------------------------------- counters */

#define CORE_NSTATS (sizeof(struct sip_stats) / sizeof(unsigned long))
static atomic_ulong core_stats[CORE_NSTATS];

void sip_stats_inc(size_t offset)
{
	size_t i = offset / sizeof(unsigned long);

	if (i < CORE_NSTATS)
		atomic_fetch_add_explicit(&core_stats[i], 1, memory_order_relaxed);
}

void sip_stats_get(struct sip_stats *out)
{
	unsigned long *v = (unsigned long *)out;

	for (size_t i = 0; i < CORE_NSTATS; i++)
		v[i] = atomic_load_explicit(&core_stats[i], memory_order_relaxed);
}

/* ---------------------------------------------------------------- registration */

int sip_method_register(enum sip_method m, sip_request_fn fn)
{
	if (m <= SIP_METHOD_UNKNOWN || m >= SIP_METHOD_COUNT || !fn)
		return OCTO_EINVAL;
	atomic_store(&core_handlers[m], fn);
	return 0;
}

void sip_method_unregister(enum sip_method m)
{
	if (m > SIP_METHOD_UNKNOWN && m < SIP_METHOD_COUNT)
		atomic_store(&core_handlers[m], NULL);
}

void sip_set_stray_response_handler(void (*fn)(struct sip_msg *resp))
{
	atomic_store(&core_stray, fn);
}

int sip_option_tag_add(const char *tag)
{
	int rc = 0;

	if (!tag || !*tag || strlen(tag) >= sizeof(core_tags[0]))
		return OCTO_EINVAL;
	pthread_mutex_lock(&core_tags_lock);
	for (unsigned i = 0; i < core_tag_count; i++)
		if (!strcasecmp(core_tags[i], tag))
			goto out;
	if (core_tag_count == CORE_MAX_TAGS) {
		rc = OCTO_ENOMEM;
		goto out;
	}
	octo_strlcpy(core_tags[core_tag_count++], tag, sizeof(core_tags[0]));
out:
	pthread_mutex_unlock(&core_tags_lock);
	return rc;
}

void sip_supported_value(char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	pthread_mutex_lock(&core_tags_lock);
	for (unsigned i = 0; i < core_tag_count && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
					 core_tags[i]);
	pthread_mutex_unlock(&core_tags_lock);
}

static bool core_tag_supported(const char *tag, size_t len)
{
	bool found = false;

	pthread_mutex_lock(&core_tags_lock);
	for (unsigned i = 0; i < core_tag_count && !found; i++)
		found = strlen(core_tags[i]) == len && !strncasecmp(core_tags[i], tag, len);
	pthread_mutex_unlock(&core_tags_lock);
	return found;
}

void sip_allow_value(char *buf, size_t size)
{
	static const enum sip_method order[] = { SIP_INVITE,    SIP_ACK,     SIP_CANCEL,
						 SIP_OPTIONS,   SIP_BYE,     SIP_REGISTER,
						 SIP_INFO,      SIP_REFER,   SIP_NOTIFY,
						 SIP_SUBSCRIBE, SIP_MESSAGE, SIP_UPDATE,
						 SIP_PRACK,     SIP_PUBLISH };
	bool invite = atomic_load(&core_handlers[SIP_INVITE]) != NULL;
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < OCTO_ARRAY_LEN(order) && used < size; i++) {
		enum sip_method m = order[i];
		bool on = m == SIP_OPTIONS || atomic_load(&core_handlers[m]) != NULL ||
			  ((m == SIP_ACK || m == SIP_CANCEL) && invite);

		if (on)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
						 sip_method_name(m));
	}
}

void sip_core_reset(void)
{
	for (int i = 0; i < SIP_METHOD_COUNT; i++)
		atomic_store(&core_handlers[i], NULL);
	atomic_store(&core_stray, NULL);
	pthread_mutex_lock(&core_tags_lock);
	core_tag_count = 0;
	pthread_mutex_unlock(&core_tags_lock);
}

/* ---------------------------------------------------------------- default answers */

static void core_add_allow(struct sip_msg *r)
{
	char allow[256];

	sip_allow_value(allow, sizeof(allow));
	sip_msg_add_header(r, "Allow", allow);
}

static void core_options(struct sip_txn *txn, struct sip_msg *req)
{
	struct sip_msg *r = sip_txn_response(txn, 200, NULL);
	char supported[256];

	if (!r)
		return;
	core_add_allow(r);
	sip_msg_add_header(r, "Accept", "application/sdp");
	sip_supported_value(supported, sizeof(supported));
	sip_msg_add_header(r, "Supported", supported);
	sip_txn_send(txn, r);
}

/* RFC 3261 8.2.2.3: every Require option tag must be one we support.
 * Returns true when it answered 420. */
static bool core_require(struct sip_txn *txn, struct sip_msg *req)
{
	char unsupported[256];
	size_t used = 0;
	osip_header_t *h;
	int pos = 0;

	unsupported[0] = '\0';
	while (!osip_list_eol(&req->osip->headers, pos)) {
		const char *v;

		h = osip_list_get(&req->osip->headers, pos++);
		if (!h || !h->hname || !h->hvalue || strcasecmp(h->hname, "require"))
			continue;
		for (v = h->hvalue; *v;) {
			size_t n;

			v += strspn(v, " \t,");
			n = strcspn(v, " \t,");
			if (n && !core_tag_supported(v, n) && used < sizeof(unsupported))
				used += (size_t)snprintf(unsupported + used,
							 sizeof(unsupported) - used, "%s%.*s",
							 used ? ", " : "", (int)n, v);
			v += n;
		}
	}
	if (!used)
		return false;
	{
		struct sip_msg *r = sip_txn_response(txn, 420, "Bad Extension");

		if (r) {
			sip_msg_add_header(r, "Unsupported", unsupported);
			sip_txn_send(txn, r);
		}
	}
	return true;
}

void sip_dispatch(struct sip_txn *txn, struct sip_msg *req)
{
	sip_request_fn fn = NULL;

	if (req->method != SIP_METHOD_UNKNOWN) {
		if (core_require(txn, req))
			return;
		fn = atomic_load(&core_handlers[req->method]);
	}
	if (fn) {
		fn(txn, req);
	} else if (req->method == SIP_OPTIONS) {
		core_options(txn, req);
	} else if (req->method == SIP_METHOD_UNKNOWN) {
		struct sip_msg *r = sip_txn_response(txn, 501, "Not Implemented");

		if (r) {
			core_add_allow(r);
			sip_txn_send(txn, r);
		}
	} else {
		struct sip_msg *r = sip_txn_response(txn, 405, "Method Not Allowed");

		if (r) {
			core_add_allow(r);
			sip_txn_send(txn, r);
		}
	}
}

void sip_dispatch_cancel(struct sip_txn *invite, struct sip_msg *cancel)
{
	sip_request_fn fn = atomic_load(&core_handlers[SIP_CANCEL]);

	if (fn)
		fn(invite, cancel);
	else
		sip_txn_respond(invite, 487, "Request Terminated");
}

void sip_dispatch_ack(struct sip_txn *ist, struct sip_msg *ack)
{
	sip_request_fn fn = atomic_load(&core_handlers[SIP_ACK]);

	if (fn)
		fn(ist, ack);
	else
		octo_debug(2, "SIP: ACK %s from %s with no dialog: ignored",
			   ack->call_id ? ack->call_id : "", sip_tp_name(ack->src.tp));
}

void sip_dispatch_stray(struct sip_msg *resp)
{
	void (*fn)(struct sip_msg *) = atomic_load(&core_stray);

	if (fn) {
		fn(resp);
		return;
	}
	octo_debug(2, "SIP: %d response to %s %s matches no transaction: dropped", resp->status,
		   sip_msg_method_name(resp), resp->call_id ? resp->call_id : "");
}

/* ---------------------------------------------------------------- receiving */

/* Malformed input is logged at NOTICE at most once a second (a flood must
 * not flood the log), and always at debug level 1. */
static void core_log_bad(const struct sip_addr *src, const char *what, const char *why)
{
	static atomic_ullong last_ms;
	static atomic_ulong skipped;
	uint64_t now = octo_now_ms(), prev = atomic_load(&last_ms);
	char peer[SIP_ADDR_STRLEN];

	sip_addr_str(src, peer, sizeof(peer));
	if (now >= prev + 1000 && atomic_compare_exchange_strong(&last_ms, &prev, now)) {
		unsigned long n = atomic_exchange(&skipped, 0);

		if (n)
			octo_log(OCTO_NOTICE,
				 "SIP: %s message from %s: %s (and %lu more since the "
				 "last notice)",
				 what, peer, why, n);
		else
			octo_log(OCTO_NOTICE, "SIP: %s message from %s: %s", what, peer, why);
	} else {
		atomic_fetch_add(&skipped, 1);
		octo_debug(1, "SIP: %s message from %s: %s", what, peer, why);
	}
}

void sip_receive(const char *buf, size_t len, const struct sip_addr *src)
{
	struct sip_msg *m = NULL;
	const char *why = NULL;

	switch (sip_msg_receive(buf, len, src, &m, &why)) {
	case SIP_RX_KEEPALIVE: SIP_STAT(rx_keepalive); return;
	case SIP_RX_DROP:
		SIP_STAT(rx_bad);
		core_log_bad(src, "dropped a malformed", why ? why : "?");
		return;
	case SIP_RX_REPLY:
		SIP_STAT(rx_bad);
		core_log_bad(src, "answered a bad", why ? why : "?");
		sip_send_response(m);
		octo_obj_unref(m);
		return;
	case SIP_RX_OK: break;
	}
	SIP_STAT(rx_msgs);
	if (sip_msg_is_request(m))
		sip_txn_on_request(m);
	else
		sip_txn_on_response(m);
	octo_obj_unref(m);
}

/* ---------------------------------------------------------------- overload */

/* Requests that keep waiting this long in their socket (kernel time stamp
 * of a datagram, or of the oldest bytes of a TCP/TLS connection, to our
 * read) for CORE_OVERLOAD_SPAN_MS of reading turn new requests away
 * with 503 (sip_overloaded): a backlog that does not drain, not a single
 * stall of the loop (a reload, a busy machine) after which the socket is
 * read empty in a few ms. Below the lower mark, and at least
 * CORE_OVERLOAD_HOLD_MS after the last long wait, the stack takes them
 * again. T1 is 500 ms: a request that waited longer was retransmitted
 * already, and each retransmission is more work. (The stamps are wall
 * clock time: a clock step can start one such period, no more.) */
#define CORE_OVERLOAD_ON_MS 400
#define CORE_OVERLOAD_SPAN_MS 300
#define CORE_OVERLOAD_OFF_MS 100
#define CORE_OVERLOAD_HOLD_MS 1000

static struct {
	atomic_bool on;
	atomic_uint lag_ms;
	atomic_ullong shed;
	unsigned long long shed_logged; /* loop only */
	uint64_t until;                 /* loop only */
	uint64_t high_since;            /* loop only: long waits since (0: none) */
} core_load;

void sip_overload_update(unsigned lag_ms)
{
	uint64_t now = octo_now_ms();

	atomic_store(&core_load.lag_ms, lag_ms);
	if (lag_ms < CORE_OVERLOAD_ON_MS) {
		core_load.high_since = 0;
	} else {
		if (!core_load.high_since)
			core_load.high_since = now;
		core_load.until = now + CORE_OVERLOAD_HOLD_MS;
	}
	if (!atomic_load(&core_load.on) && core_load.high_since &&
	    now - core_load.high_since >= CORE_OVERLOAD_SPAN_MS) {
		atomic_store(&core_load.on, true);
		octo_log(OCTO_WARNING,
			 "SIP: overloaded: requests wait %u ms to be read; new requests are "
			 "answered 503 until the wait is under %u ms",
			 lag_ms, CORE_OVERLOAD_OFF_MS);
	} else if (atomic_load(&core_load.on) && lag_ms < CORE_OVERLOAD_OFF_MS &&
		   now >= core_load.until) {
		unsigned long long n = atomic_load(&core_load.shed);

		atomic_store(&core_load.on, false);
		octo_log(OCTO_NOTICE,
			 "SIP: load back to normal (%llu new requests refused with 503)",
			 n - core_load.shed_logged);
		core_load.shed_logged = n;
	}
}

/* Weak: unit tests that link the stack without a transport may define
 * their own (a stack that is never overloaded). */
__attribute__((weak)) bool sip_overloaded(void)
{
	return atomic_load(&core_load.on);
}

unsigned sip_rx_lag_ms(void)
{
	return atomic_load(&core_load.lag_ms);
}

__attribute__((weak)) void sip_overload_shed(void)
{
	atomic_fetch_add(&core_load.shed, 1);
}

/* ---------------------------------------------------------------- sip_loop_run */

/* The caller waits on a semaphore, not a condition variable: the loop's
 * sem_post() is one atomic and at most one wake-up, while a signal under
 * the waiter's mutex woke it only for it to block on that mutex again and
 * be woken a second time by the unlock (perf at 1,000 calls/s: those
 * second wake-ups were a tenth of the loop's futex time). The waiter may
 * destroy the semaphore as soon as sem_wait() returns: glibc's sem_post()
 * reads nothing of it after the increment the waiter sees (glibc bug
 * 12674), its wake-up is a system call on the address only. */
struct core_sync {
	void (*fn)(void *data);
	void *data;
	sem_t done;
};

static void core_sync_run(void *arg)
{
	struct core_sync *s = arg;

	s->fn(s->data);
	sem_post(&s->done);
}

int sip_loop_run(void (*fn)(void *data), void *data)
{
	struct core_sync s = { .fn = fn, .data = data };
	int rc;

	if (octo_loop_is_current()) {
		fn(data);
		return 0;
	}
	if (sem_init(&s.done, 0, 0) != 0)
		return OCTO_EFAIL;
	rc = octo_loop_call(core_sync_run, &s);
	if (rc == 0) {
		while (sem_wait(&s.done) != 0)
			; /* EINTR */
	}
	sem_destroy(&s.done);
	return rc ? OCTO_EFAIL : 0;
}
