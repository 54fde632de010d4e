/*
 * sip_txn.c - RFC 3261 transactions (section 17, with the RFC 6026
 * Accepted state): INVITE and non-INVITE, client and server, in hash tables
 * keyed by branch (obj.h containers) and timed by the core's timers.
 *
 * DESIGN
 *  - Transactions live on the event loop thread: every state change, timer
 *    and table change happens there, so they need no locks. The [any]
 *    entry points (sip_txn_send, sip_txn_client, sip_txn_cancel) post a job
 *    to the loop when called from another thread.
 *  - Two tables: server transactions by sip_msg_server_key (branch, sent-by,
 *    method; RFC 2543 fallback) and client transactions by branch + method.
 *    A third index (Call-ID, From tag, CSeq, method) of server transactions
 *    for requests without a To tag finds merged requests (RFC 3261 8.2.2.2:
 *    the same request arriving again by another path -> 482).
 *  - Each transaction has two timer slots: `t_retx` (A, E, G and the 2xx
 *    retransmission) and `t_end` (B, D, F, H, I, J, K, L, M, and a safety
 *    timer for a non-INVITE handler that never answers). A pending timer
 *    holds a reference on the transaction. A callback learns that it was
 *    stopped or replaced while it ran by its slot no longer holding its id.
 *  - What is retransmitted is kept serialised (`out`, and `ack` for an
 *    INVITE client's ACK), so a retransmission is one send, no rebuild.
 *  - Memory: UDP transactions outlive their final response by up to 32 s
 *    (Timers D, H, J, L, M), thousands of them under load. Once final, a
 *    transaction lets go of the parsed request and of any text it will
 *    not send again (an INVITE client's INVITE; an INVITE server's 2xx
 *    once ACKed), keeping only its key and what it may still resend.
 *  - Reliable transports (TCP, TLS): no retransmission timers, and the
 *    timers that wait for retransmissions (D, I, J, K) are zero: the
 *    transaction ends at once.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#endif

#include "octo/heaptrim.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/sched.h"
#include "sip.h"

struct sip_txn {
	char *key;       /* client or server table key */
	char *merge_key; /* server: merged-request index key, or NULL */
	enum sip_txn_kind kind;
	atomic_int state;
	struct sip_msg *req;  /* the request that made it (owned reference) */
	struct sip_addr peer; /* client: destination; server: where responses go */
	bool reliable;
	bool linked, merge_linked;
	char to_tag[17];   /* server: the To tag of our responses */
	atomic_int status; /* last response sent or received */
	char *out;         /* what a retransmission sends (malloc) */
	size_t out_len;
	char *ack; /* ICT: the ACK of a non-2xx (malloc) */
	size_t ack_len;
	uint64_t t_retx, t_end; /* timer ids, 0 = none */
	unsigned retx_ms;       /* the next retransmission interval */
	bool acked;             /* IST: the 2xx was ACKed */
	bool cancel_pending;    /* ICT: CANCEL asked before a provisional */
	bool cancel_sent;
	bool ended; /* the end callback ran */
	bool forget; /* server: end at the final response (sip_txn_send_forget) */
	const struct sip_client_ops *ops;
	void *data; /* client: the caller's; server: the TU's */
	void (*tu_end)(struct sip_txn *txn, enum sip_txn_end why, void *data);
};

static struct {
	struct octo_container *server, *client, *merge;
	atomic_bool up;
	atomic_uint t1, t2, t4;
} txn = { .t1 = 500, .t2 = 4000, .t4 = 5000 };

static atomic_ulong txn_counts[SIP_TXN_KINDS][SIP_TXN_STATES];

/* Live transactions (loop only). After a burst of thousands (each with its
 * call, channel and thread freed meanwhile) the heaps are trimmed
 * (octo/heaptrim.h): measured, RSS stayed at 5 times its start after 6000
 * calls without. */
static unsigned long txn_live;
static struct octo_trim_watch txn_trim = OCTO_TRIM_WATCH_INIT(256);

static bool txn_is_client(const struct sip_txn *t);

static const char *const txn_kind_names[SIP_TXN_KINDS] = { "INVITE client", "non-INVITE client",
							   "INVITE server", "non-INVITE server" };
static const char *const txn_state_names[SIP_TXN_STATES] = { "Calling",   "Trying",    "Proceeding",
							     "Completed", "Confirmed", "Accepted",
							     "Terminated" };

const char *sip_txn_kind_name(enum sip_txn_kind k)
{
	return (unsigned)k < SIP_TXN_KINDS ? txn_kind_names[k] : "?";
}

const char *sip_txn_state_name(enum sip_txn_state s)
{
	return (unsigned)s < SIP_TXN_STATES ? txn_state_names[s] : "?";
}

unsigned sip_timer_t1(void)
{
	return atomic_load(&txn.t1);
}

unsigned sip_timer_t2(void)
{
	return atomic_load(&txn.t2);
}

unsigned sip_timer_t4(void)
{
	return atomic_load(&txn.t4);
}

void sip_txn_set_timers(unsigned t1, unsigned t2, unsigned t4)
{
	atomic_store(&txn.t1, t1 ? t1 : 500);
	atomic_store(&txn.t2, t2 >= t1 ? t2 : 4000);
	atomic_store(&txn.t4, t4 ? t4 : 5000);
}

void sip_txn_counts(unsigned long counts[SIP_TXN_KINDS][SIP_TXN_STATES])
{
	for (int k = 0; k < SIP_TXN_KINDS; k++)
		for (int s = 0; s < SIP_TXN_STATES; s++)
			counts[k][s] = atomic_load(&txn_counts[k][s]);
}

/* ---------------------------------------------------------------- the object */

static const char *txn_key(const void *obj)
{
	return ((const struct sip_txn *)obj)->key;
}

static const char *txn_merge_key(const void *obj)
{
	return ((const struct sip_txn *)obj)->merge_key;
}

static void txn_destroy(void *obj)
{
	struct sip_txn *t = obj;

	free(t->key);
	free(t->merge_key);
	free(t->out);
	free(t->ack);
	octo_obj_unref(t->req);
}

static struct sip_txn *txn_alloc(enum sip_txn_kind kind, struct sip_msg *req)
{
	struct sip_txn *t = octo_obj_alloc(sizeof(*t), txn_destroy);

	if (!t)
		return NULL;
	t->kind = kind;
	t->req = octo_obj_ref(req);
	atomic_init(&t->state, SIP_TXN_TERMINATED); /* counted once started */
	return t;
}

static void txn_set_state(struct sip_txn *t, enum sip_txn_state s)
{
	enum sip_txn_state old = (enum sip_txn_state)atomic_exchange(&t->state, (int)s);

	if (old == s)
		return;
	if (old != SIP_TXN_TERMINATED)
		atomic_fetch_sub(&txn_counts[t->kind][old], 1);
	if (s != SIP_TXN_TERMINATED)
		atomic_fetch_add(&txn_counts[t->kind][s], 1);
}

static enum sip_txn_state txn_state(const struct sip_txn *t)
{
	return (enum sip_txn_state)atomic_load(&t->state);
}

enum sip_txn_kind sip_txn_kind(const struct sip_txn *t)
{
	return t->kind;
}

enum sip_txn_state sip_txn_state(const struct sip_txn *t)
{
	return txn_state(t);
}

struct sip_msg *sip_txn_request(const struct sip_txn *t)
{
	return t->req;
}

struct sip_msg *sip_txn_request_get(struct sip_txn *t)
{
	struct sip_msg *m;

	octo_obj_lock(t);
	m = octo_obj_ref(t->req);
	octo_obj_unlock(t);
	return m;
}

/* A server transaction needs its request only until the final response:
 * afterwards it keeps just its key and the bytes it retransmits, so the
 * tens of thousands that wait out Timer J or H cost little memory. */
static void txn_release_request(struct sip_txn *t)
{
	struct sip_msg *m;

	octo_obj_lock(t); /* against sip_txn_response/_request_get elsewhere */
	m = t->req;
	t->req = NULL;
	octo_obj_unlock(t);
	octo_obj_unref(m);
}

const struct sip_addr *sip_txn_peer(const struct sip_txn *t)
{
	return &t->peer;
}

int sip_txn_status(const struct sip_txn *t)
{
	return atomic_load(&t->status);
}

const char *sip_txn_to_tag(const struct sip_txn *t)
{
	return t->to_tag;
}

void sip_txn_set_data(struct sip_txn *t, void *data,
		      void (*end)(struct sip_txn *txn, enum sip_txn_end why, void *data))
{
	t->data = data;
	t->tu_end = end;
}

void *sip_txn_client_detach(struct sip_txn *t)
{
	void *data;

	if (!t || !txn_is_client(t) || t->ended)
		return NULL;
	data = t->data;
	t->ops = NULL;
	t->data = NULL;
	return data;
}

void *sip_txn_data(const struct sip_txn *t)
{
	return t->data;
}

static bool txn_is_client(const struct sip_txn *t)
{
	return t->kind == SIP_ICT || t->kind == SIP_NICT;
}

/* ---------------------------------------------------------------- timers */

static void txn_timer_stop(struct sip_txn *t, uint64_t *slot)
{
	uint64_t id = *slot;

	if (!id)
		return;
	*slot = 0;
	/* false: it is running right now (on this thread, the loop); its
	 * callback sees the cleared slot and drops its own reference */
	if (octo_timer_cancel(id))
		octo_obj_unref(t);
}

static void txn_timer_start(struct sip_txn *t, uint64_t *slot, unsigned ms, octo_timer_cb cb)
{
	txn_timer_stop(t, slot);
	*slot = octo_timer_add(ms, cb, octo_obj_ref(t));
	if (!*slot) {
		octo_log(OCTO_WARNING, "cannot start a SIP transaction timer");
		octo_obj_unref(t);
	}
}

/* ---------------------------------------------------------------- ending */

static void txn_terminate(struct sip_txn *t, enum sip_txn_end why)
{
	if (t->ended)
		return;
	t->ended = true;
	txn_set_state(t, SIP_TXN_TERMINATED);
	octo_obj_ref(t); /* the tables may hold the last references */
	txn_timer_stop(t, &t->t_retx);
	txn_timer_stop(t, &t->t_end);
	if (t->merge_linked) {
		t->merge_linked = false;
		octo_container_unlink(txn.merge, t);
	}
	if (t->linked) {
		t->linked = false;
		octo_container_unlink(txn_is_client(t) ? txn.client : txn.server, t);
		txn_live--;
		octo_trim_note(&txn_trim, txn_live);
	}
	if (txn_is_client(t)) {
		if (t->ops && t->ops->end)
			t->ops->end(t, why, t->data);
	} else if (t->tu_end) {
		t->tu_end(t, why, t->data);
	}
	octo_obj_unref(t);
}

/* Sends bytes to the peer; false on a transport error. A client's key goes
 * with them: a later failure in the UDP sending thread comes back to
 * sip_txn_send_failed(). */
static bool txn_send_bytes(struct sip_txn *t, const char *buf, size_t len)
{
	return buf &&
	       sip_transport_send_for(&t->peer, buf, len, txn_is_client(t) ? t->key : NULL) == 0;
}

/* Passes a locally made response (408, 503) to a client's TU. */
static void txn_local_response(struct sip_txn *t, int status, const char *reason)
{
	struct sip_msg *r = sip_msg_response(t->req, status, reason, NULL);

	if (!r)
		return;
	r->local = true;
	r->src = t->peer;
	atomic_store(&t->status, status);
	if (t->ops && t->ops->response)
		t->ops->response(t, r, t->data);
	octo_obj_unref(r);
}

/* Where messages are written before they are sent or kept: the loop, which
 * writes nearly all of them, reuses one buffer; another thread (a test, a
 * CLI command), or a send made from inside a send (a failed connection
 * answered at once), gets a buffer of its own, freed by txn_text_done. */
static struct sip_text txn_loop_text;
static bool txn_loop_text_busy; /* loop only */

static struct sip_text *txn_text(struct sip_text *own)
{
	*own = (struct sip_text){ 0 };
	if (!octo_loop_is_current() || txn_loop_text_busy)
		return own;
	txn_loop_text_busy = true;
	return &txn_loop_text;
}

static void txn_text_done(struct sip_text *t, struct sip_text *own)
{
	if (t == &txn_loop_text)
		txn_loop_text_busy = false;
	sip_text_free(own);
}

/* Writes `m` and keeps an exact-size copy of the text in *out (replacing
 * what was there): thousands of transactions keep theirs for 32 s. */
static int txn_keep_text(struct sip_msg *m, char **out, size_t *out_len)
{
	struct sip_text own, *t = txn_text(&own);
	char *fit;
	int rc = sip_msg_write(m, t);

	fit = rc ? NULL : malloc(t->len + 1);
	if (fit) {
		memcpy(fit, t->buf, t->len + 1);
		free(*out);
		*out = fit;
		*out_len = t->len;
	} else if (!rc) {
		rc = OCTO_ENOMEM;
	}
	txn_text_done(t, &own);
	return rc;
}

/* Frees the kept request text once nothing will retransmit it. */
static void txn_drop_text(struct sip_txn *t)
{
	free(t->out);
	t->out = NULL;
	t->out_len = 0;
}

/* ---------------------------------------------------------------- server side */

static unsigned txn_server_retx(struct sip_txn *t)
{
	enum sip_txn_state s = txn_state(t);

	if (t->kind != SIP_IST || (s != SIP_TXN_COMPLETED && (s != SIP_TXN_ACCEPTED || t->acked)))
		return 0;
	/* Timer G (non-2xx) or the UAS 2xx retransmission (RFC 3261 13.3.1.4) */
	txn_send_bytes(t, t->out, t->out_len);
	t->retx_ms = t->retx_ms * 2 < sip_timer_t2() ? t->retx_ms * 2 : sip_timer_t2();
	return t->retx_ms;
}

static void txn_server_end(struct sip_txn *t)
{
	switch (txn_state(t)) {
	case SIP_TXN_COMPLETED:
		/* IST: Timer H, no ACK. NIST: Timer J, the wait is over. */
		txn_terminate(t, t->kind == SIP_IST ? SIP_END_TIMEOUT : SIP_END_NORMAL);
		break;
	case SIP_TXN_CONFIRMED: /* Timer I */ txn_terminate(t, SIP_END_NORMAL); break;
	case SIP_TXN_ACCEPTED: /* Timer L */
		txn_terminate(t, t->acked ? SIP_END_NORMAL : SIP_END_TIMEOUT);
		break;
	case SIP_TXN_TRYING:
	case SIP_TXN_PROCEEDING:
		/* NIST whose handler never answered */
		char peer[SIP_ADDR_STRLEN];

		octo_log(OCTO_WARNING,
			 "SIP: %s %s from %s: no final response after %u ms, sending 500",
			 sip_msg_method_name(t->req), t->req->call_id ? t->req->call_id : "",
			 sip_addr_str(&t->peer, peer, sizeof(peer)), 64 * sip_timer_t1());
		sip_txn_respond(t, 500, "No Final Response");
		break;
	default: break;
	}
}

/* ---------------------------------------------------------------- client side */

static unsigned txn_client_retx(struct sip_txn *t)
{
	enum sip_txn_state s = txn_state(t);

	if (t->kind == SIP_ICT) {
		if (s != SIP_TXN_CALLING)
			return 0;
		/* Timer A doubles without a cap (Timer B ends it) */
		txn_send_bytes(t, t->out, t->out_len);
		t->retx_ms *= 2;
		return t->retx_ms;
	}
	if (s != SIP_TXN_TRYING && s != SIP_TXN_PROCEEDING)
		return 0;
	/* Timer E: doubles up to T2 while Trying, T2 in Proceeding */
	txn_send_bytes(t, t->out, t->out_len);
	if (s == SIP_TXN_PROCEEDING)
		t->retx_ms = sip_timer_t2();
	else
		t->retx_ms = t->retx_ms * 2 < sip_timer_t2() ? t->retx_ms * 2 : sip_timer_t2();
	return t->retx_ms;
}

static void txn_client_end(struct sip_txn *t)
{
	switch (txn_state(t)) {
	case SIP_TXN_CALLING:    /* Timer B */
	case SIP_TXN_TRYING:     /* Timer F */
	case SIP_TXN_PROCEEDING: /* Timer F, or no answer 64*T1 after our CANCEL */
		txn_local_response(t, 408, "Request Timeout");
		txn_terminate(t, SIP_END_TIMEOUT);
		break;
	default: /* D, K, M */ txn_terminate(t, SIP_END_NORMAL); break;
	}
}

static unsigned txn_retx_cb(void *data)
{
	struct sip_txn *t = data;
	uint64_t me = t->t_retx;
	unsigned next = txn_is_client(t) ? txn_client_retx(t) : txn_server_retx(t);

	if (t->t_retx != me || !next) {
		if (t->t_retx == me)
			t->t_retx = 0;
		octo_obj_unref(t);
		return 0;
	}
	return next;
}

static unsigned txn_end_cb(void *data)
{
	struct sip_txn *t = data;
	uint64_t me = t->t_end;

	if (txn_is_client(t))
		txn_client_end(t);
	else
		txn_server_end(t);
	/* these timers fire once; a handler may have started a new one */
	if (t->t_end == me)
		t->t_end = 0;
	octo_obj_unref(t);
	return 0;
}

/* ---------------------------------------------------------------- server: responses */

static int txn_send_loop(struct sip_txn *t, struct sip_msg *resp)
{
	enum sip_txn_state s = txn_state(t);
	int status = resp->status;

	if (txn_is_client(t) || sip_msg_is_request(resp) ||
	    (s != SIP_TXN_TRYING && s != SIP_TXN_PROCEEDING)) {
		octo_debug(1, "SIP: %d response refused by the transaction (%s, %s)", status,
			   sip_txn_kind_name(t->kind), sip_txn_state_name(s));
		return OCTO_EINVAL;
	}
	sip_msg_add_agent(resp);
	if (txn_keep_text(resp, &t->out, &t->out_len))
		return OCTO_ENOMEM;
	atomic_store(&t->status, status);

	if (!txn_send_bytes(t, t->out, t->out_len)) {
		/* RFC 3261 17.2.4: tell the TU, the transaction is over */
		txn_terminate(t, SIP_END_TRANSPORT);
		return OCTO_EFAIL;
	}
	if (status < 200) {
		txn_set_state(t, SIP_TXN_PROCEEDING);
		return 0;
	}
	txn_release_request(t);
	t->retx_ms = sip_timer_t1();
	if (t->forget && status >= 300) {
		txn_set_state(t, SIP_TXN_COMPLETED);
		txn_terminate(t, SIP_END_NORMAL);
		return 0;
	}
	if (t->kind == SIP_IST && status < 300) {
		txn_set_state(t, SIP_TXN_ACCEPTED);
		txn_timer_start(t, &t->t_end, 64 * sip_timer_t1(), txn_end_cb); /* Timer L */
		if (!t->reliable)
			txn_timer_start(t, &t->t_retx, t->retx_ms, txn_retx_cb);
		return 0;
	}
	txn_set_state(t, SIP_TXN_COMPLETED);
	if (t->kind == SIP_IST) {
		if (!t->reliable)
			txn_timer_start(t, &t->t_retx, t->retx_ms, txn_retx_cb); /* G */
		txn_timer_start(t, &t->t_end, 64 * sip_timer_t1(), txn_end_cb);  /* H */
	} else if (t->reliable) {
		txn_terminate(t, SIP_END_NORMAL); /* Timer J = 0 */
	} else {
		txn_timer_start(t, &t->t_end, 64 * sip_timer_t1(), txn_end_cb); /* J */
	}
	return 0;
}

/* RFC 3261 17.1.4: a transport error is reported to the TU as a 503; once
 * the final response came, a failed retransmission of the ACK is left to
 * the timers. */
void sip_txn_send_failed(const char *key)
{
	struct sip_txn *t;

	if (!atomic_load(&txn.up) || !key)
		return;
	t = octo_container_find(txn.client, key);
	if (!t)
		return;
	if (!t->ended && (txn_state(t) == SIP_TXN_CALLING || txn_state(t) == SIP_TXN_TRYING ||
			  txn_state(t) == SIP_TXN_PROCEEDING)) {
		txn_local_response(t, 503, "Service Unavailable");
		txn_terminate(t, SIP_END_TRANSPORT);
	}
	octo_obj_unref(t);
}

/* ---------------------------------------------------------------- jobs from other threads */

enum txn_job_kind { TXN_JOB_SEND, TXN_JOB_START, TXN_JOB_CANCEL };

struct txn_job {
	enum txn_job_kind kind;
	struct sip_txn *t;
	struct sip_msg *msg;
};

static void txn_start_loop(struct sip_txn *t);
static void txn_cancel_loop(struct sip_txn *t);

static void txn_job_run(void *data)
{
	struct txn_job *j = data;

	if (!atomic_load(&txn.up)) {
		if (j->kind == TXN_JOB_START && j->t->ops && j->t->ops->end)
			j->t->ops->end(j->t, SIP_END_SHUTDOWN, j->t->data);
	} else if (j->kind == TXN_JOB_SEND) {
		txn_send_loop(j->t, j->msg);
	} else if (j->kind == TXN_JOB_START) {
		txn_start_loop(j->t);
	} else {
		txn_cancel_loop(j->t);
	}
	octo_obj_unref(j->msg);
	octo_obj_unref(j->t);
	free(j);
}

/* Takes the references in t and msg. */
static int txn_post(enum txn_job_kind kind, struct sip_txn *t, struct sip_msg *msg)
{
	struct txn_job *j = malloc(sizeof(*j));

	if (j) {
		*j = (struct txn_job){ .kind = kind, .t = t, .msg = msg };
		if (octo_loop_call(txn_job_run, j) == 0)
			return 0;
		free(j);
	}
	octo_obj_unref(msg);
	octo_obj_unref(t);
	return OCTO_EFAIL;
}

struct sip_msg *sip_txn_response(struct sip_txn *t, int status, const char *reason)
{
	struct sip_msg *req, *r;

	if (txn_is_client(t))
		return NULL;
	req = sip_txn_request_get(t);
	if (!req)
		return NULL; /* the final response was sent already */
	r = sip_msg_response(req, status, reason, t->to_tag);
	octo_obj_unref(req);
	return r;
}

int sip_txn_send(struct sip_txn *t, struct sip_msg *resp)
{
	int rc;

	if (!t || !resp) {
		octo_obj_unref(resp);
		return OCTO_EINVAL;
	}
	if (!octo_loop_is_current())
		return txn_post(TXN_JOB_SEND, octo_obj_ref(t), resp);
	rc = txn_send_loop(t, resp);
	octo_obj_unref(resp);
	return rc;
}

int sip_txn_send_forget(struct sip_txn *t, struct sip_msg *resp)
{
	if (t && resp && resp->status >= 300 && !t->reliable && octo_loop_is_current())
		t->forget = true;
	return sip_txn_send(t, resp);
}

int sip_txn_respond(struct sip_txn *t, int status, const char *reason)
{
	struct sip_msg *r = sip_txn_response(t, status, reason);

	return r ? sip_txn_send(t, r) : OCTO_ENOMEM;
}

void sip_txn_acked(struct sip_txn *t)
{
	if (!t || t->kind != SIP_IST)
		return;
	t->acked = true;
	txn_timer_stop(t, &t->t_retx);
	/* Timer L still runs (32 s, RFC 6026), but the 2xx is not sent again:
	 * INVITE retransmissions are absorbed without an answer */
	if (txn_state(t) == SIP_TXN_ACCEPTED)
		txn_drop_text(t);
}

/* ---------------------------------------------------------------- server: requests */

static void txn_stateless(struct sip_msg *req, int status, const char *reason)
{
	char tag[17];
	struct sip_msg *r;

	sip_random_token(tag, sizeof(tag));
	r = sip_msg_response(req, status, reason, tag);
	if (r) {
		sip_send_response(r);
		octo_obj_unref(r);
	}
}

/* Overload (sip_overloaded): a new request is turned away before any
 * handler sees it, statelessly (no transaction to keep: a retransmission
 * gets another 503, the ACK of an INVITE's 503 matches nothing and is
 * dropped), with Retry-After spread over a few seconds so that the
 * phones do not all come back at once (RFC 3261 21.5.4). Calls under way
 * (requests with a To tag, responses) are still served: finishing them is
 * what brings the load down. */
static void txn_shed(struct sip_msg *req)
{
	char tag[17], after[16];
	struct sip_msg *r;

	sip_overload_shed();
	sip_random_token(tag, sizeof(tag));
	r = sip_msg_response(req, 503, "Service Unavailable", tag);
	if (!r)
		return;
	snprintf(after, sizeof(after), "%u", 2 + (unsigned)(octo_now_ms() % 7));
	sip_msg_add_header(r, "Retry-After", after);
	sip_send_response(r);
	octo_obj_unref(r);
}

/* A request that matched a live server transaction. */
static void txn_server_again(struct sip_txn *t, struct sip_msg *req)
{
	enum sip_txn_state s = txn_state(t);

	if (req->method == SIP_ACK && !strcmp(sip_msg_method_name(req), "ACK")) {
		if (t->kind != SIP_IST)
			return;
		if (s == SIP_TXN_COMPLETED) {
			/* the ACK of our non-2xx: stop G and H, absorb ACK
			 * retransmissions for T4 (Timer I) */
			txn_set_state(t, SIP_TXN_CONFIRMED);
			txn_timer_stop(t, &t->t_retx);
			if (t->reliable)
				txn_terminate(t, SIP_END_NORMAL);
			else
				txn_timer_start(t, &t->t_end, sip_timer_t4(), txn_end_cb);
		} else if (s == SIP_TXN_ACCEPTED) {
			/* an ACK for our 2xx that reused the INVITE's branch */
			sip_dispatch_ack(t, req);
		}
		return;
	}
	/* a retransmission: answered with the last response */
	if (s == SIP_TXN_PROCEEDING || s == SIP_TXN_COMPLETED || s == SIP_TXN_ACCEPTED)
		txn_send_bytes(t, t->out, t->out_len);
}

/* A Via of ours in a request we receive: our own request came back. */
static bool txn_looped(const struct sip_msg *req)
{
	osip_via_t *via;
	int pos = 0;

	while ((via = osip_list_get(&req->osip->vias, pos++))) {
		osip_generic_param_t *p = NULL;

		if (osip_via_param_get_byname(via, "branch", &p) == 0 && p &&
		    sip_branch_is_ours(p->gvalue))
			return true;
	}
	return false;
}

static struct sip_txn *txn_server_new(struct sip_msg *req, const char *key)
{
	struct sip_txn *t = txn_alloc(req->method == SIP_INVITE ? SIP_IST : SIP_NIST, req);

	if (!t)
		return NULL;
	t->key = strdup(key);
	sip_msg_response_dst(req, &t->peer);
	t->reliable = sip_tp_reliable(req->src.tp);
	sip_random_token(t->to_tag, sizeof(t->to_tag));
	if (!t->key || octo_container_link(txn.server, t) != 0) {
		octo_obj_unref(t);
		return NULL;
	}
	t->linked = true;
	octo_trim_note(&txn_trim, ++txn_live);
	txn_set_state(t, t->kind == SIP_IST ? SIP_TXN_PROCEEDING : SIP_TXN_TRYING);
	return t;
}

void sip_txn_on_request(struct sip_msg *req)
{
	char key[SIP_KEY_MAX], mkey[SIP_KEY_MAX];
	struct sip_txn *t, *inv;
	const char *ftag;

	if (!atomic_load(&txn.up) || !sip_msg_server_key(req, SIP_METHOD_UNKNOWN, key, sizeof(key)))
		return;
	t = octo_container_find(txn.server, key);
	if (t) {
		txn_server_again(t, req);
		octo_obj_unref(t);
		return;
	}
	if (txn_looped(req)) {
		if (req->method != SIP_ACK)
			txn_stateless(req, 482, "Loop Detected");
		return;
	}
	if (!strcmp(sip_msg_method_name(req), "ACK")) {
		sip_dispatch_ack(NULL, req); /* the ACK of a 2xx: the dialog's */
		return;
	}
	if (req->method == SIP_CANCEL) {
		t = txn_server_new(req, key);
		if (!t)
			return;
		sip_msg_server_key(req, SIP_INVITE, mkey, sizeof(mkey));
		inv = octo_container_find(txn.server, mkey);
		if (!inv || inv->kind != SIP_IST) {
			sip_txn_respond(t, 481, "Call/Transaction Does Not Exist");
		} else {
			sip_txn_respond(t, 200, NULL);
			if (txn_state(inv) == SIP_TXN_PROCEEDING)
				sip_dispatch_cancel(inv, req);
		}
		octo_obj_unref(inv);
		octo_obj_unref(t);
		return;
	}
	if (!sip_msg_to_tag(req) && sip_overloaded()) {
		txn_shed(req);
		return;
	}
	/* RFC 3261 8.2.2.2: a request without To tag that matches a live
	 * transaction by Call-ID, From tag and CSeq but not by branch is the
	 * same request reaching us by another path */
	ftag = sip_msg_from_tag(req);
	mkey[0] = '\0';
	if (!sip_msg_to_tag(req) && ftag && req->call_id) {
		struct sip_txn *other;

		snprintf(mkey, sizeof(mkey), "%s|%s|%u|%s", req->call_id, ftag, req->cseq,
			 sip_msg_method_name(req));
		other = octo_container_find(txn.merge, mkey);
		if (other) {
			octo_obj_unref(other);
			txn_stateless(req, 482, "Loop Detected");
			return;
		}
	}
	t = txn_server_new(req, key);
	if (!t) {
		txn_stateless(req, 500, "Server Internal Error");
		return;
	}
	if (mkey[0]) {
		t->merge_key = strdup(mkey);
		if (t->merge_key && octo_container_link(txn.merge, t) == 0)
			t->merge_linked = true;
	}
	if (t->kind == SIP_IST) {
		sip_txn_respond(t, 100, NULL);
	} else {
		/* safety net for a handler that never answers */
		txn_timer_start(t, &t->t_end, 64 * sip_timer_t1(), txn_end_cb);
	}
	if (txn_state(t) != SIP_TXN_TERMINATED)
		sip_dispatch(t, req);
	octo_obj_unref(t);
}

/* ---------------------------------------------------------------- client */

static const struct sip_client_ops txn_cancel_ops = { 0 };

/* Sends the CANCEL of an ICT in its own NICT. */
static void txn_send_cancel(struct sip_txn *t)
{
	struct sip_msg *c;
	struct sip_txn *ct;

	if (t->cancel_sent)
		return;
	t->cancel_sent = true;
	c = sip_msg_cancel_for(t->req);
	if (!c)
		return;
	ct = sip_txn_client(c, &t->peer, &txn_cancel_ops, NULL);
	octo_obj_unref(ct);
	/* RFC 3261 9.1: no final response 64*T1 after the CANCEL: give up */
	txn_timer_start(t, &t->t_end, 64 * sip_timer_t1(), txn_end_cb);
}

static void txn_cancel_loop(struct sip_txn *t)
{
	if (t->kind != SIP_ICT)
		return;
	if (txn_state(t) == SIP_TXN_CALLING)
		t->cancel_pending = true;
	else if (txn_state(t) == SIP_TXN_PROCEEDING)
		txn_send_cancel(t);
}

void sip_txn_cancel(struct sip_txn *t)
{
	if (!t)
		return;
	if (!octo_loop_is_current())
		txn_post(TXN_JOB_CANCEL, octo_obj_ref(t), NULL);
	else
		txn_cancel_loop(t);
}

static void txn_start_loop(struct sip_txn *t)
{
	struct sip_msg *req = t->req;
	char key[SIP_KEY_MAX];

	if (!osip_list_size(&req->osip->vias)) {
		char host[256], branch[SIP_BRANCH_LEN];
		unsigned port;

		sip_new_branch(branch, sizeof(branch));
		if (sip_transport_local(&t->peer, host, sizeof(host), &port) != 0 ||
		    sip_msg_add_via(req, t->peer.tp, host, port, branch) != 0) {
			txn_local_response(t, 503, "No Transport");
			txn_terminate(t, SIP_END_TRANSPORT);
			return;
		}
	}
	if (!sip_msg_header(req, "max-forwards"))
		sip_msg_add_header(req, "Max-Forwards", "70");
	sip_msg_add_agent(req);
	if (!sip_msg_client_key(req, key, sizeof(key)) || !(t->key = strdup(key)) ||
	    txn_keep_text(req, &t->out, &t->out_len) != 0) {
		txn_local_response(t, 503, "Cannot Send");
		txn_terminate(t, SIP_END_TRANSPORT);
		return;
	}
	if (octo_container_link(txn.client, t) != 0) {
		txn_local_response(t, 503, "Cannot Send");
		txn_terminate(t, SIP_END_TRANSPORT);
		return;
	}
	t->linked = true;
	octo_trim_note(&txn_trim, ++txn_live);
	txn_set_state(t, t->kind == SIP_ICT ? SIP_TXN_CALLING : SIP_TXN_TRYING);
	if (!txn_send_bytes(t, t->out, t->out_len)) {
		txn_local_response(t, 503, "Service Unavailable");
		txn_terminate(t, SIP_END_TRANSPORT);
		return;
	}
	t->retx_ms = sip_timer_t1();
	if (!t->reliable)
		txn_timer_start(t, &t->t_retx, t->retx_ms, txn_retx_cb); /* A or E */
	txn_timer_start(t, &t->t_end, 64 * sip_timer_t1(), txn_end_cb);  /* B or F */
}

struct sip_txn *sip_txn_client(struct sip_msg *req, const struct sip_addr *dest,
			       const struct sip_client_ops *ops, void *data)
{
	struct sip_txn *t;

	if (!req || !dest || !dest->len || !sip_msg_is_request(req) || req->method == SIP_ACK ||
	    !strcmp(sip_msg_method_name(req), "ACK") || !req->osip->from || !req->osip->to ||
	    !req->osip->call_id || !req->osip->cseq || !atomic_load(&txn.up)) {
		octo_obj_unref(req);
		return NULL;
	}
	t = txn_alloc(req->method == SIP_INVITE ? SIP_ICT : SIP_NICT, req);
	octo_obj_unref(req);
	if (!t)
		return NULL;
	t->peer = *dest;
	t->reliable = sip_tp_reliable(dest->tp);
	t->ops = ops;
	t->data = data;
	if (!octo_loop_is_current()) {
		if (txn_post(TXN_JOB_START, octo_obj_ref(t), NULL) != 0) {
			octo_obj_unref(t);
			return NULL;
		}
		return t;
	}
	txn_start_loop(t);
	return t;
}

static void txn_deliver(struct sip_txn *t, struct sip_msg *resp)
{
	atomic_store(&t->status, resp->status);
	if (t->ops && t->ops->response)
		t->ops->response(t, resp, t->data);
}

void sip_txn_on_response(struct sip_msg *resp)
{
	char key[SIP_KEY_MAX];
	struct sip_txn *t;
	enum sip_txn_state s;
	int st = resp->status;

	if (!atomic_load(&txn.up))
		return;
	if (!sip_msg_client_key(resp, key, sizeof(key)) ||
	    !(t = octo_container_find(txn.client, key))) {
		sip_dispatch_stray(resp);
		return;
	}
	s = txn_state(t);
	if (t->kind == SIP_ICT) {
		if (s == SIP_TXN_CALLING || s == SIP_TXN_PROCEEDING) {
			if (st < 200) {
				txn_set_state(t, SIP_TXN_PROCEEDING);
				txn_timer_stop(t, &t->t_retx);
				txn_drop_text(t); /* no more retransmissions of the INVITE */
				if (s == SIP_TXN_CALLING)
					txn_timer_stop(t,
						       &t->t_end); /* no Timer B once proceeding */
				txn_deliver(t, resp);
				if (t->cancel_pending && txn_state(t) == SIP_TXN_PROCEEDING)
					txn_send_cancel(t);
			} else if (st < 300) {
				txn_set_state(t, SIP_TXN_ACCEPTED);
				txn_timer_stop(t, &t->t_retx);
				txn_timer_start(t, &t->t_end, 64 * sip_timer_t1(),
						txn_end_cb); /* M */
				txn_drop_text(t);
				txn_deliver(t, resp);
				/* Timer M keeps the transaction 32 s for 2xx
				 * retransmissions: it needs neither the INVITE nor
				 * its text any more (the TU keeps what it needs) */
				txn_release_request(t);
			} else {
				struct sip_msg *ack = sip_msg_ack_for(t->req, resp);

				txn_set_state(t, SIP_TXN_COMPLETED);
				txn_timer_stop(t, &t->t_retx);
				txn_timer_stop(t, &t->t_end);
				if (ack) {
					sip_msg_add_agent(ack);
					txn_keep_text(ack, &t->ack, &t->ack_len);
					octo_obj_unref(ack);
				}
				txn_send_bytes(t, t->ack, t->ack_len);
				txn_drop_text(t);
				txn_deliver(t, resp);
				txn_release_request(t); /* Timer D resends the ACK bytes only */
				if (t->reliable)
					txn_terminate(t, SIP_END_NORMAL); /* Timer D = 0 */
				else if (txn_state(t) == SIP_TXN_COMPLETED)
					txn_timer_start(t, &t->t_end,
							32000 > 64 * sip_timer_t1()
								? 32000
								: 64 * sip_timer_t1(),
							txn_end_cb); /* D */
			}
		} else if (s == SIP_TXN_COMPLETED && st >= 300) {
			txn_send_bytes(t, t->ack, t->ack_len);
		} else if (s == SIP_TXN_ACCEPTED && st >= 200 && st < 300) {
			txn_deliver(t, resp);
		}
	} else if (s == SIP_TXN_TRYING || s == SIP_TXN_PROCEEDING) {
		if (st < 200) {
			txn_set_state(t, SIP_TXN_PROCEEDING);
			txn_deliver(t, resp);
		} else {
			txn_set_state(t, SIP_TXN_COMPLETED);
			txn_timer_stop(t, &t->t_retx);
			txn_timer_stop(t, &t->t_end);
			txn_drop_text(t); /* Timer K only absorbs response retransmissions */
			txn_deliver(t, resp);
			if (t->reliable)
				txn_terminate(t, SIP_END_NORMAL); /* Timer K = 0 */
			else if (txn_state(t) == SIP_TXN_COMPLETED)
				txn_timer_start(t, &t->t_end, sip_timer_t4(), txn_end_cb); /* K */
		}
	}
	octo_obj_unref(t);
}

/* ---------------------------------------------------------------- stateless sends */

int sip_send_request(struct sip_msg *req, const struct sip_addr *dest)
{
	struct sip_text own, *t;
	int rc;

	if (!req || !dest || !sip_msg_is_request(req))
		return OCTO_EINVAL;
	if (!osip_list_size(&req->osip->vias)) {
		char host[256], branch[SIP_BRANCH_LEN];
		unsigned port;

		sip_new_branch(branch, sizeof(branch));
		if (sip_transport_local(dest, host, sizeof(host), &port) != 0)
			return OCTO_EFAIL;
		rc = sip_msg_add_via(req, dest->tp, host, port, branch);
		if (rc)
			return rc;
	}
	if (!sip_msg_header(req, "max-forwards"))
		sip_msg_add_header(req, "Max-Forwards", "70");
	sip_msg_add_agent(req);
	t = txn_text(&own);
	rc = sip_msg_write(req, t);
	if (!rc)
		rc = sip_transport_send(dest, t->buf, t->len);
	txn_text_done(t, &own);
	return rc;
}

int sip_send_response(struct sip_msg *resp)
{
	struct sip_text own, *t;
	int rc;

	if (!resp || sip_msg_is_request(resp) || !resp->dst.len)
		return OCTO_EINVAL;
	sip_msg_add_agent(resp);
	t = txn_text(&own);
	rc = sip_msg_write(resp, t);
	if (!rc)
		rc = sip_transport_send(&resp->dst, t->buf, t->len);
	txn_text_done(t, &own);
	return rc;
}

/* ---------------------------------------------------------------- life cycle */

int sip_txn_init(void)
{
	txn.server = octo_container_alloc_str(txn_key, 0);
	txn.client = octo_container_alloc_str(txn_key, 0);
	txn.merge = octo_container_alloc_str(txn_merge_key, 0);
	if (!txn.server || !txn.client || !txn.merge) {
		octo_obj_unref(txn.server);
		octo_obj_unref(txn.client);
		octo_obj_unref(txn.merge);
		txn.server = txn.client = txn.merge = NULL;
		return OCTO_ENOMEM;
	}
	atomic_store(&txn.up, true);
	return 0;
}

static void txn_end_all(struct octo_container *c)
{
	size_t n = 0;
	void **all = octo_container_snapshot(c, &n, NULL);

	for (size_t i = 0; i < n; i++)
		txn_terminate(all[i], SIP_END_SHUTDOWN);
	octo_container_snapshot_free(all, n);
}

void sip_txn_shutdown(void)
{
	if (!atomic_exchange(&txn.up, false))
		return;
	txn_end_all(txn.client);
	txn_end_all(txn.server);
	octo_obj_unref(txn.server);
	octo_obj_unref(txn.client);
	octo_obj_unref(txn.merge);
	txn.server = txn.client = txn.merge = NULL;
	sip_text_free(&txn_loop_text);
}
