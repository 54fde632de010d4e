/*
 * sip_call.c - SIP calls: the "SIP" channel technology, a back-to-back user
 * agent. An INVITE from a user is authenticated (407) and enters the
 * dialplan at the user's procedure; outgoing legs (Dial, originate) ring a
 * user's registered contacts. BYE, CANCEL, re-INVITE (hold and resume,
 * queued as events that the core bridge passes to the other leg), in-dialog
 * INFO (DTMF), RFC 4028 session timers; media through sip_media.c (relayed
 * natively between two SIP legs). REFER is sip_refer.c's; music on hold to a
 * held leg sip_moh.c's; INVITE with Replaces checked by sip_replaces.c, taken
 * over here (call_take_over).
 *
 * DESIGN
 *  - Every call's SIP state (dialog, transactions, SDP) is touched on the
 *    loop thread only, like the rest of the stack. Technology callbacks run
 *    on call threads: they take a reference on the call (call_lock guards the
 *    channel's pvt pointer) and hop to the loop with sip_loop_run().
 *  - A call is a refcounted object. References: the channel's pvt (until
 *    hangup()), the call table (until the call ends), each client
 *    transaction's data (until its end callback), the media callbacks (via
 *    posted jobs). The media endpoint is freed when the call ends (hang-up,
 *    BYE, CANCEL, final failure: call_media_release), not with the call's
 *    last reference, which transactions keep for up to 32 s: at high call
 *    rates that kept thousands of UDP sockets open.
 *  - c->media changes only on the loop thread and under call_lock; the loop
 *    reads it without the lock. Call threads (read_frame/write_frame) take
 *    it under call_lock and count themselves in media_users while they use
 *    it; when the call ends while one does, the last one frees it.
 *  - The call table is keyed "Call-ID|local tag", so requests within a
 *    dialog (To tag = our tag) and CANCEL (the INVITE's To tag) find it.
 *  - Events for the core (RINGING, ANSWER, HANGUP ...) are queued on the
 *    channel from the loop; the core's call threads read them.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/bridge.h"
#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/dialplan.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/users.h"
#include "sip.h"
#include "sip_media.h"
#include "sip_record.h"
#include "sip_peer.h"

#define CALL_MIN_SE 90 /* RFC 4028 Min-SE we ask for (seconds) */
#define CALL_SDP_MAX 2048

enum call_state {
	CALL_RINGING_IN = 0, /* incoming INVITE, not answered */
	CALL_CALLING,        /* outgoing INVITE sent */
	CALL_EARLY,          /* outgoing, a provisional came */
	CALL_UP,             /* answered */
	CALL_ENDING,         /* CANCEL or BYE sent */
	CALL_ENDED,
};

static const char *const call_state_names[] = { "Ringing (in)", "Calling", "Ringing (out)",
						"Up",           "Ending",  "Ended" };

struct sip_call {
	char *key;                 /* "Call-ID|local tag" */
	struct octo_channel *chan; /* reference until hangup() */
	char chan_id[32], chan_name[96], user[72];
	bool outgoing;
	enum call_state state;
	bool linked;
	struct sip_txn *ist;       /* incoming INVITE until answered/acked */
	struct sip_msg *invite;    /* the INVITE (ours or theirs) */
	struct sip_txn *ict;       /* outgoing INVITE transaction */
	struct sip_txn *reinv_ist; /* a re-INVITE we answered 2xx, until its ACK */
	uint32_t reinv_cseq;
	struct sip_dialog dlg;
	bool have_dlg;
	struct sip_addr target; /* outgoing: where the INVITE went */
	struct sip_media *media;
	struct sip_media *media_dead; /* released while media_users > 0 */
	unsigned media_users;         /* call threads in sip_media_read/write */
	bool media_gone;              /* released: the call ended */
	char local_ip[64];
	struct sip_sdp remote;
	bool have_remote, late_offer;
	int pt, dtmf_pt; /* negotiated (remote's numbers) */
	char codec[8];
	char prefs[64]; /* the user's codec preference */
	uint64_t sess_id, sess_ver;
	enum sip_sdp_dir local_dir;
	bool remote_hold;      /* the far end put us on hold */
	bool local_hold;       /* we put the far end on hold (indicate HOLD) */
	char hold_class[64];   /* the holding user's music-on-hold class, "" */
	bool user_known;       /* `user` is authenticated or a registered contact's */
	struct sip_call *peer; /* the natively bridged call (reference) */
	bool answered_sent, hangup_done, cancelled;
	unsigned se_secs; /* session timer interval, 0: none */
	bool se_refresh;  /* we refresh */
	uint64_t se_timer;
	bool reinvite_pending;
	bool want_pending;          /* a direction asked for while a re-INVITE was pending */
	enum sip_sdp_dir want_dir;
	uint64_t created_ms;
	struct sip_peer_use *puse; /* a call of a SIP peer (sip_peer.c): released once */
	char peer_user[64], peer_secret[128]; /* outgoing to a peer: answers its 401/407 */
	bool peer_auth_tried;
};

struct call_job {
	struct sip_call *call;
	struct octo_channel *chan;
	const char *dest;
	const char *moh_class; /* indicate HOLD: the holding user's class */
	int arg, rc;
	char digit;
	bool start;
	struct sip_call *other;
};

static struct octo_container *call_table;
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint call_count;

static void call_send_bye(struct sip_call *c);
static void call_send_reinvite(struct sip_call *c, enum sip_sdp_dir dir);
static void call_send_reinvite_later(struct sip_call *c);

/* ---------------------------------------------------------------- objects */

static const char *call_key_of(const void *obj)
{
	const struct sip_call *c = obj;

	return c->key ? c->key : "";
}

static void call_destroy(void *obj)
{
	struct sip_call *c = obj;

	/* no call thread holds a reference any more: media_users is 0 */
	sip_peer_use_release(&c->puse);
	sip_moh_stop(c->media);
	sip_media_free(c->media);
	sip_media_free(c->media_dead);
	octo_obj_unref(c->ist);
	octo_obj_unref(c->ict);
	octo_obj_unref(c->reinv_ist);
	octo_obj_unref(c->invite);
	octo_obj_unref(c->peer);
	if (c->have_dlg)
		sip_dialog_clear(&c->dlg);
	free(c->key);
	atomic_fetch_sub(&call_count, 1);
}

static struct sip_call *call_alloc(void)
{
	struct sip_call *c = octo_obj_alloc(sizeof(*c), call_destroy);

	if (!c)
		return NULL;
	atomic_fetch_add(&call_count, 1);
	c->pt = -1;
	c->dtmf_pt = -1;
	c->created_ms = octo_now_ms();
	c->sess_id = octo_wall_us() & 0x7fffffffffffULL;
	c->sess_ver = 1;
	return c;
}

static int call_set_key(struct sip_call *c, const char *call_id, const char *tag)
{
	size_t n = strlen(call_id) + strlen(tag) + 2;

	c->key = malloc(n);
	if (!c->key)
		return OCTO_ENOMEM;
	snprintf(c->key, n, "%s|%s", call_id, tag);
	if (octo_container_link(call_table, c) != 0)
		return OCTO_ENOMEM;
	c->linked = true;
	return 0;
}

static void call_unref_job(void *data)
{
	octo_obj_unref(data);
}

static void call_unlink(struct sip_call *c)
{
	if (c->linked) {
		c->linked = false;
		octo_container_unlink(call_table, c);
	}
	/* over: its INVITE's transaction (lingering 32 s) lets go of it */
	if (c->ict && c->state == CALL_ENDED) {
		struct sip_call *held = sip_txn_client_detach(c->ict);

		octo_obj_unref(c->ict);
		c->ict = NULL;
		/* that reference may be what the running handler (the INVITE's
		 * own response callback) uses: it goes after the handler */
		if (held && octo_loop_call(call_unref_job, held) != 0)
			octo_obj_unref(held); /* the loop is gone: no handler runs */
	}
}

/* The call of a request within a dialog (new reference) or NULL. */
static struct sip_call *call_find(const struct sip_msg *req, const char *local_tag)
{
	char key[SIP_KEY_MAX];

	if (!req->call_id || !local_tag ||
	    snprintf(key, sizeof(key), "%s|%s", req->call_id, local_tag) >= (int)sizeof(key))
		return NULL;
	return octo_container_find(call_table, key);
}

/* The call of a channel (new reference) or NULL once it hung up. [any] */
static struct sip_call *call_of(struct octo_channel *chan)
{
	struct sip_call *c;

	pthread_mutex_lock(&call_lock);
	c = octo_chan_pvt(chan);
	if (c)
		octo_obj_ref(c);
	pthread_mutex_unlock(&call_lock);
	return c;
}

static void call_event(struct sip_call *c, enum octo_chan_event_type type, int cause, char digit)
{
	struct octo_chan_event ev = { .type = type, .cause = cause, .digit = digit };

	if (c->chan)
		octo_chan_queue_event(c->chan, &ev);
}

/* The body of `m`. libosip2 leaves the length of a parsed body at 0, so
 * it is then taken from the text (SDP and DTMF bodies hold no NUL byte; a
 * body with one is cut there and fails validation). */
static const char *call_body(const struct sip_msg *m, size_t *len)
{
	const char *b = sip_msg_body(m, len);

	if (b && !*len)
		*len = strnlen(b, SIP_SDP_MAX_LEN + 1);
	return b;
}

/* ---------------------------------------------------------------- SDP */

static void call_local_sdp(struct sip_call *c, const struct sip_sdp *answer_to, char *buf,
			   size_t size, size_t *len)
{
	struct sip_sdp_local l = {
		.ip = c->local_ip,
		.port = c->media ? sip_media_port(c->media) : 0,
		.sess_id = c->sess_id,
		.sess_ver = c->sess_ver,
		.dir = c->local_dir,
		.dtmf_pt = 101,
		.answer_to = answer_to,
	};

	if (c->pt >= 0) {
		/* answer (or re-offer) with the negotiated codec and the remote's numbers */
		l.codecs[0] = (struct sip_sdp_fmt){ .pt = c->pt, .rate = 8000 };
		octo_strlcpy(l.codecs[0].name, c->codec, sizeof(l.codecs[0].name));
		l.ncodecs = 1;
		l.dtmf_pt = c->dtmf_pt;
		if (!c->have_remote)
			l.dtmf_pt = 101;
	} else {
		/* an offer: the user's preference order, then the other G.711 */
		static const struct sip_sdp_fmt g711[2] = { { 0, "PCMU", 8000 },
							    { 8, "PCMA", 8000 } };
		const char *p = c->prefs;
		bool used[2] = { false, false };

		while (*p) {
			size_t n;

			p += strspn(p, " \t,");
			n = strcspn(p, " \t,");
			for (int k = 0; k < 2; k++) {
				if (n == 4 && !strncasecmp(p, g711[k].name, 4) && !used[k]) {
					used[k] = true;
					l.codecs[l.ncodecs++] = g711[k];
				}
			}
			p += n;
		}
		for (int k = 0; k < 2; k++)
			if (!used[k])
				l.codecs[l.ncodecs++] = g711[k];
	}
	*len = sip_sdp_build(buf, size, &l);
}

/* Applies a remote SDP (offer or answer) to the call: codec and media
 * address. For an answer to our offer the codec is the first one we know.
 * Returns 0 or OCTO_EINVAL (no common codec). */
static int call_apply_remote(struct sip_call *c, const struct sip_sdp *sdp, bool is_answer)
{
	int idx = sip_sdp_choose(sdp, is_answer ? (sdp->nfmts ? sdp->fmts[0].name : "") : c->prefs);

	if (idx < 0 && is_answer)
		idx = sip_sdp_choose(sdp, NULL);
	if (idx < 0)
		return OCTO_EINVAL;
	c->remote = *sdp;
	c->have_remote = true;
	c->pt = sdp->fmts[idx].pt;
	octo_strlcpy(c->codec, sdp->fmts[idx].name, sizeof(c->codec));
	c->dtmf_pt = sdp->dtmf_pt;
	/* on hold (the far end only sends, or nothing): send nothing, and the
	 * RTP timeout clock stops (port 0) */
	if (c->media)
		sip_media_set_remote(c->media, sdp->ip,
				     sdp->dir == SIP_DIR_SENDONLY || sdp->dir == SIP_DIR_INACTIVE
					     ? 0
					     : sdp->port,
				     c->pt, c->codec, c->dtmf_pt);
	if (c->media && sdp->rtcp_port) /* a=rtcp: RTCP not on port + 1 */
		sip_media_set_rtcp_remote(c->media, *sdp->rtcp_ip ? sdp->rtcp_ip : sdp->ip,
					  sdp->rtcp_port);
	return 0;
}

/* Our direction in answer to the remote's. */
static enum sip_sdp_dir call_answer_dir(enum sip_sdp_dir remote)
{
	switch (remote) {
	case SIP_DIR_SENDONLY: return SIP_DIR_RECVONLY;
	case SIP_DIR_RECVONLY: return SIP_DIR_SENDONLY;
	case SIP_DIR_INACTIVE: return SIP_DIR_INACTIVE;
	default: return SIP_DIR_SENDRECV;
	}
}

/* Our answer to a re-INVITE while we hold the far end: we keep not
 * receiving (a session refresh must not take the hold back). */
static enum sip_sdp_dir call_held_answer_dir(const struct sip_call *c, enum sip_sdp_dir remote)
{
	enum sip_sdp_dir d = call_answer_dir(remote);

	if (!c->local_hold)
		return d;
	return d == SIP_DIR_SENDRECV ? SIP_DIR_SENDONLY
	       : d == SIP_DIR_RECVONLY ? SIP_DIR_INACTIVE
				       : d;
}

static int call_attach_sdp(struct sip_call *c, struct sip_msg *m, const struct sip_sdp *answer_to)
{
	char sdp[CALL_SDP_MAX];
	size_t len = 0;

	call_local_sdp(c, answer_to, sdp, sizeof(sdp), &len);
	if (!len)
		return OCTO_EINVAL;
	return sip_msg_set_body(m, "application/sdp", sdp, len);
}

/* ---------------------------------------------------------------- media callbacks */

struct call_media_job {
	struct sip_call *call;
	char digit; /* 0: RTP timeout */
};

static void call_media_job_run(void *data)
{
	struct call_media_job *j = data;
	struct sip_call *c = j->call;

	if (c->chan && c->state != CALL_ENDED) {
		if (j->digit) {
			call_event(c, OCTO_EV_DIGIT, 0, j->digit);
		} else {
			octo_chan_log(c->chan, OCTO_NOTICE, "SIP: no RTP from %s:%u: hanging up",
				      c->remote.ip, c->remote.port);
			octo_chan_step(c->chan, "SIP: RTP timeout");
			call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_FAILURE, 0);
		}
	}
	octo_obj_unref(c);
	free(j);
}

static void call_media_post(struct sip_call *c, char digit)
{
	struct call_media_job *j = malloc(sizeof(*j));

	if (!j)
		return;
	j->call = octo_obj_ref(c);
	j->digit = digit;
	if (octo_loop_call(call_media_job_run, j) != 0) {
		octo_obj_unref(c);
		free(j);
	}
}

static void call_media_timeout(void *data)
{
	call_media_post(data, 0);
}

static void call_media_digit(void *data, char digit)
{
	if (digit)
		call_media_post(data, digit);
}

/* Media of a new call: the local IP towards `peer` and an RTP endpoint. */
static const struct octo_chan_tech call_tech;

/* The RTP endpoint of the SIP call this outgoing leg was dialled for (the
 * channel named by its LINKEDID), or NULL. Loop thread: call media change
 * only here. */
static struct sip_media *call_media_near(struct octo_channel *chan)
{
	struct octo_channel *first;
	struct sip_media *m = NULL;
	char id[64];

	if (!chan || !octo_chan_var_get(chan, "LINKEDID", id, sizeof(id)))
		return NULL;
	first = octo_chan_find(id);
	if (first && first != chan && octo_chan_tech(first) == &call_tech) {
		struct sip_call *fc;

		pthread_mutex_lock(&call_lock);
		fc = octo_chan_pvt(first);
		if (fc)
			m = fc->media;
		pthread_mutex_unlock(&call_lock);
	}
	octo_obj_unref(first);
	return m;
}

/* `chan`: an outgoing leg's channel (its media goes near the caller's), or NULL. */
static int call_media_start(struct sip_call *c, const struct sip_addr *peer,
			    struct octo_channel *chan)
{
	struct sip_media *m;
	unsigned port;

	if (sip_transport_local(peer, c->local_ip, sizeof(c->local_ip), &port) != 0)
		return OCTO_EFAIL;
	/* on the worker of the caller's leg: the relay then never moves a leg */
	m = sip_media_alloc_near(c->local_ip, call_media_near(chan));
	if (!m)
		m = sip_media_alloc(strchr(c->local_ip, ':') ? "::" : "0.0.0.0");
	if (!m)
		return OCTO_EBUSY;
	/* the callbacks borrow the call: the media is freed before its end */
	sip_media_set_callbacks(m, call_media_timeout, call_media_digit, c);
	pthread_mutex_lock(&call_lock);
	c->media = m;
	pthread_mutex_unlock(&call_lock);
	return 0;
}

/* The call ended: frees its RTP endpoint now (sockets closed, relay and
 * callbacks stopped), or -- when a call thread is inside sip_media_read/
 * write on it -- leaves that to the last one (call_media_leave), which
 * returns within a read slice. Loop thread. */
static void call_media_release(struct sip_call *c)
{
	struct sip_media *m;

	/* the music thread lets go of it first (sip_moh.c); c->media changes
	 * only on this thread */
	sip_moh_stop(c->media);
	pthread_mutex_lock(&call_lock);
	m = c->media;
	c->media = NULL;
	c->media_gone = true;
	if (m && c->media_users) {
		c->media_dead = m;
		m = NULL;
	}
	pthread_mutex_unlock(&call_lock);
	sip_media_free(m);
}

/* Music on hold to this leg, whose partner holds the call (sip_moh.c): the
 * class of the channel variable MOHCLASS, else the holding user's
 * (users.conf moh_class, c->hold_class), else sip.conf's moh_class. */
static void call_moh_start(struct sip_call *c)
{
	char cls[72] = "", desc[200];

	if (!c->media || !sip_moh_enabled(NULL, 0))
		return;
	if (c->chan)
		octo_chan_var_get(c->chan, "MOHCLASS", cls, sizeof(cls));
	if (!cls[0])
		octo_strlcpy(cls, c->hold_class, sizeof(cls));
	if (sip_moh_start(c->media, cls, desc, sizeof(desc)) == 0 && c->chan)
		octo_chan_step(c->chan, "SIP: music on hold to the held phone: %s", desc);
}

/* For a call thread: the call of `chan` (new reference, or NULL once it
 * hung up) and in *m its media, counted in media_users (NULL: none, *rc
 * says why). call_media_leave() ends the use. */
static struct sip_call *call_media_enter(struct octo_channel *chan, struct sip_media **m,
					 int *rc)
{
	struct sip_call *c;

	*m = NULL;
	*rc = OCTO_EHANGUP;
	pthread_mutex_lock(&call_lock);
	c = octo_chan_pvt(chan);
	if (c) {
		octo_obj_ref(c);
		*m = c->media;
		if (*m)
			c->media_users++;
		else if (!c->media_gone)
			*rc = OCTO_EINVAL;
	}
	pthread_mutex_unlock(&call_lock);
	return c;
}

static void call_media_leave(struct sip_call *c, struct sip_media *m)
{
	struct sip_media *dead = NULL;

	if (m) {
		pthread_mutex_lock(&call_lock);
		if (--c->media_users == 0) {
			dead = c->media_dead;
			c->media_dead = NULL;
		}
		pthread_mutex_unlock(&call_lock);
		sip_media_free(dead);
	}
	octo_obj_unref(c);
}

/* ---------------------------------------------------------------- session timers (RFC 4028) */

static unsigned call_se_cb(void *data)
{
	struct sip_call *c = data;

	if (c->state != CALL_UP || !c->se_refresh || !c->se_secs) {
		c->se_timer = 0;
		octo_obj_unref(c);
		return 0;
	}
	if (!c->reinvite_pending) /* else the pending offer refreshes the session */
		call_send_reinvite(c, c->local_dir);
	return c->se_secs * 500u; /* again at half the interval */
}

static void call_se_start(struct sip_call *c)
{
	if (!c->se_refresh || !c->se_secs || c->se_timer)
		return;
	c->se_timer = octo_timer_add(c->se_secs * 500u, call_se_cb, octo_obj_ref(c));
	if (!c->se_timer)
		octo_obj_unref(c);
}

static void call_se_stop(struct sip_call *c)
{
	if (c->se_timer && octo_timer_cancel(c->se_timer))
		octo_obj_unref(c);
	c->se_timer = 0;
}

/* "1800;refresher=uac" -> 1800 and who refreshes. */
static unsigned call_se_parse(const char *v, bool *uas_refreshes, bool *has_refresher)
{
	unsigned long s;
	char *end;
	const char *r;

	*uas_refreshes = false;
	*has_refresher = false;
	if (!v)
		return 0;
	s = strtoul(v, &end, 10);
	if (end == v || s > 86400)
		return 0;
	r = strcasestr(v, "refresher=");
	if (r) {
		*has_refresher = true;
		*uas_refreshes = !strncasecmp(r + 10, "uas", 3);
	}
	return (unsigned)s;
}

static bool call_header_has(const struct sip_msg *m, const char *name, const char *token)
{
	osip_header_t *h;
	int pos = 0;

	while (!osip_list_eol(&m->osip->headers, pos)) {
		h = osip_list_get(&m->osip->headers, pos++);
		if (h && h->hname && h->hvalue && !strcasecmp(h->hname, name) &&
		    strcasestr(h->hvalue, token))
			return true;
	}
	return false;
}

static const char *call_header_any(const struct sip_msg *m, const char *full, const char *compact)
{
	const char *v = sip_msg_header(m, full);

	return v ? v : sip_msg_header(m, compact);
}

/* ---------------------------------------------------------------- incoming INVITE */

static const struct octo_users_api *call_users_get(void)
{
	return octo_service_get(OCTO_USERS_SERVICE, 1, "chan_sip");
}

/* Number-like text for CALLED/DIALED and our From user: digits, letters
 * and + * # . _ - up to the first other character ("" when none). */
static void call_clean_number(const char *in, char *out, size_t size)
{
	size_t n = 0;

	for (; in && *in && n + 1 < size && n < 64; in++) {
		unsigned char ch = (unsigned char)*in;

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || strchr("+*#._-", ch)))
			break;
		out[n++] = (char)ch;
	}
	out[n] = '\0';
}

static void call_reject(struct sip_txn *txn, int status, const char *reason, const char *warning)
{
	struct sip_msg *r = sip_txn_response(txn, status, reason);

	if (!r)
		return;
	if (warning) {
		char w[200];

		snprintf(w, sizeof(w), "399 octo \"%.150s\"", warning);
		sip_msg_add_header(r, "Warning", w);
	}
	sip_txn_send(txn, r);
}

static void call_on_reinvite(struct sip_txn *txn, struct sip_msg *req);

/* The end of an incoming INVITE's server transaction. Timer L (or H) with
 * the call still waiting for the ACK of its 200, or a 200 that could not be
 * sent: the phone is gone or never saw the answer. RFC 3261 13.3.1.4: the
 * session is ended with a BYE -- without this the call would stay up
 * forever (no RTP timeout without media). */
static void call_ist_end(struct sip_txn *txn, enum sip_txn_end why, void *data)
{
	struct sip_call *c = data;

	bool no_ack = why == SIP_END_TIMEOUT && c->answered_sent && c->state == CALL_UP;
	bool lost = why == SIP_END_TRANSPORT && c->chan &&
		    (c->state == CALL_UP || c->state == CALL_RINGING_IN);

	if (c->ist == txn && (no_ack || lost)) {
		octo_obj_unref(c->ist);
		c->ist = NULL;
		if (c->chan) {
			octo_chan_step(c->chan, "SIP: %s: hanging up",
				       no_ack ? "no ACK for our 200 OK"
					      : "cannot send to the phone");
			call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_FAILURE, 0);
		} else {
			call_send_bye(c); /* hung up already: only the dialog is left */
		}
	}
	octo_obj_unref(c);
}

/* ---------------------------------------------------------------- INVITE with Replaces
 * (RFC 3891; the header and the choice of the leg are sip_replaces.c's) */

static void call_answer_loop(void *data);

/* The new incoming call c (dialog, media, key made; no channel) takes the
 * place of leg x: x's channel becomes c's, so the bridge, the relayed
 * media, the dialplan and the CDR go on with it. An answered x gets a BYE;
 * a ringing outgoing x (pickup) is cancelled and its channel answered. */
static void call_take_over(struct sip_call *c, struct sip_call *x)
{
	struct octo_channel *chan = x->chan;
	bool up = x->state == CALL_UP;
	struct call_job j = { .call = c };
	char src[SIP_ADDR_STRLEN];

	/* the channel's pvt reference goes from x to c, the call's from x to c */
	pthread_mutex_lock(&call_lock);
	octo_chan_set_pvt(chan, octo_obj_ref(c));
	pthread_mutex_unlock(&call_lock);
	octo_obj_unref(x); /* the pvt's */
	c->chan = chan;
	x->chan = NULL;
	x->hangup_done = true;
	octo_strlcpy(c->chan_id, x->chan_id, sizeof(c->chan_id));
	octo_strlcpy(c->chan_name, x->chan_name, sizeof(c->chan_name));
	octo_chan_var_set(chan, "SIPCALLID", c->dlg.call_id);
	sip_addr_str(&c->dlg.peer, src, sizeof(src));
	if (up) {
		struct sip_call *p = x->peer;

		octo_chan_step(chan, "SIP: INVITE with Replaces from user %s at %s: this call "
			       "moves to that phone", c->user, src);
		if (p) {
			/* the native relay follows: x's endpoint out, c's in */
			if (x->media && p->media)
				sip_media_relay(x->media, p->media, false);
			if (p->peer == x) {
				octo_obj_unref(p->peer);
				p->peer = octo_obj_ref(c);
			}
			c->peer = p; /* x's reference */
			x->peer = NULL;
			if (!c->media || !p->media || sip_media_relay(c->media, p->media, true))
				octo_chan_step(chan, "SIP: Replaces: the media of %s cannot be "
					       "relayed to the new phone", p->chan_name);
		}
		if (x->local_hold) {
			/* the partner holds the call: so it stays for the new phone */
			c->local_hold = true;
			memcpy(c->hold_class, x->hold_class, sizeof(c->hold_class));
			c->local_dir = call_held_answer_dir(c, c->have_remote ? c->remote.dir
									  : SIP_DIR_SENDRECV);
			call_moh_start(c);
		}
		/* the old phone held the call and the new one does not, or the
		 * reverse: the bridge passes it on as if one phone had done it */
		c->remote_hold = c->have_remote && (c->remote.dir == SIP_DIR_SENDONLY ||
						    c->remote.dir == SIP_DIR_INACTIVE);
		if (c->remote_hold != x->remote_hold)
			call_event(c, c->remote_hold ? OCTO_EV_HOLD : OCTO_EV_UNHOLD, 0, 0);
		call_se_stop(x);
		call_send_bye(x);
		call_unlink(x);
		call_media_release(x);
		call_answer_loop(&j);
		return;
	}
	octo_chan_step(chan, "SIP: INVITE with Replaces from user %s at %s: picks up this "
		       "ringing call", c->user, src);
	octo_chan_var_set(chan, "PICKEDUPBY", c->user);
	x->state = CALL_ENDING;
	if (x->ict)
		sip_txn_cancel(x->ict); /* its 487 ends it (call_ict_resp) */
	call_answer_loop(&j);
	if (j.rc == 0)
		call_event(c, OCTO_EV_ANSWER, 0, 0);
	else
		call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_FAILURE, 0);
}

static void call_on_invite(struct sip_txn *txn, struct sip_msg *req)
{
	struct octo_user *user = NULL;
	struct sip_peer_in pin; /* a call from a SIP peer (trunk, gateway): sip_peer.c */
	const char *prefs, *who;
	struct sip_call *c = NULL, *repl = NULL; /* repl: the leg a Replaces names */
	struct octo_channel *chan;
	struct sip_sdp offer;
	const char *body, *why = NULL, *se;
	char called[72] = "", buf[72];
	size_t len = 0;
	bool uas_ref = false, has_ref = false;
	unsigned se_secs;

	if (sip_msg_to_tag(req)) {
		call_on_reinvite(txn, req);
		return;
	}
	se = call_header_any(req, "session-expires", "x");
	se_secs = call_se_parse(se, &uas_ref, &has_ref);
	if (se && se_secs < CALL_MIN_SE) {
		struct sip_msg *r = sip_txn_response(txn, 422, "Session Interval Too Small");

		if (r) {
			snprintf(buf, sizeof(buf), "%d", CALL_MIN_SE);
			sip_msg_add_header(r, "Min-SE", buf);
			sip_txn_send(txn, r);
		}
		return;
	}
	switch (sip_peer_invite(txn, req, &pin)) {
	case SIP_PEER_HANDLED: return;
	case SIP_PEER_ROUTED: break;
	default:
		user = sip_auth_request(txn, req);
		if (!user)
			return;
	}
	prefs = user ? user->codecs : pin.codecs;
	who = user ? user->extension : pin.route.label;
	body = call_body(req, &len);
	if (body && len) {
		if (sip_sdp_parse(body, len, &offer, &why) != 0) {
			call_reject(txn, 488, "Not Acceptable Here", why);
			goto out;
		}
		if (sip_sdp_choose(&offer, prefs) < 0) {
			call_reject(txn, 488, "Not Acceptable Here",
				    "no common codec (PCMU, PCMA)");
			goto out;
		}
	}
	if (user) {
		int rs = sip_replaces_lookup(req, user->extension, &repl, &why);

		if (rs) {
			call_reject(txn, rs, NULL, why);
			goto out;
		}
	}
	if (octo_chan_refusing_new()) {
		call_reject(txn, 503, "Service Unavailable", "the PBX is stopping");
		goto out;
	}
	c = call_alloc();
	if (!c) {
		sip_txn_respond(txn, 500, NULL);
		goto out;
	}
	octo_strlcpy(c->prefs, prefs, sizeof(c->prefs));
	if (user) {
		octo_strlcpy(c->user, user->extension, sizeof(c->user));
		c->user_known = true;
	}
	c->puse = pin.use;
	pin.use = NULL;
	c->ist = octo_obj_ref(txn);
	c->invite = octo_obj_ref(req);
	c->state = CALL_RINGING_IN;
	if (sip_txn_state(txn) != SIP_TXN_TERMINATED)
		sip_txn_set_data(txn, octo_obj_ref(c), call_ist_end);
	if (sip_dialog_uas(&c->dlg, req, sip_txn_to_tag(txn)) != 0) {
		call_reject(txn, 400, "Bad Request", "cannot make a dialog (Contact?)");
		goto out;
	}
	c->have_dlg = true;
	if (call_media_start(c, &c->dlg.peer, NULL) != 0) {
		call_reject(txn, 503, "Service Unavailable", "no RTP port free");
		goto out;
	}
	if (body && len) {
		call_apply_remote(c, &offer, false);
		c->local_dir = call_answer_dir(offer.dir);
	} else {
		c->late_offer = true; /* our 200 carries the offer, the ACK the answer */
	}
	if (se_secs) {
		c->se_secs = se_secs;
		/* we refresh only when asked to, or when the UAC cannot */
		c->se_refresh = has_ref ? uas_ref : !call_header_has(req, "supported", "timer");
	}
	if (call_set_key(c, c->dlg.call_id, c->dlg.local_tag) != 0) {
		sip_txn_respond(txn, 500, NULL);
		goto out;
	}
	if (repl) {
		if (repl->chan && !repl->hangup_done && repl->state != CALL_ENDED) {
			call_take_over(c, repl);
		} else {
			call_unlink(c);
			call_reject(txn, 603, NULL, "Replaces names a call that has ended");
		}
		goto out;
	}
	chan = octo_chan_alloc("SIP", OCTO_CHAN_RING, "%s", who);
	if (!chan) {
		call_unlink(c);
		call_reject(txn, 503, "Service Unavailable", "no channel (call limit?)");
		goto out;
	}
	c->chan = chan; /* the allocation's reference */
	octo_strlcpy(c->chan_id, octo_chan_id(chan), sizeof(c->chan_id));
	octo_strlcpy(c->chan_name, octo_chan_name(chan), sizeof(c->chan_name));
	if (!user)
		call_clean_number(pin.route.called, called, sizeof(called));
	if (user && req->osip->req_uri)
		call_clean_number(sip_uri_user(req->osip->req_uri, buf, sizeof(buf)), called,
				  sizeof(called));
	if (user && !*called && req->osip->to)
		call_clean_number(sip_uri_user(req->osip->to->url, buf, sizeof(buf)), called,
				  sizeof(called));
	if (user) {
		octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, user->extension);
		octo_chan_set(chan, OCTO_CHAN_CALLER_NAME,
			      *user->name ? user->name : user->extension);
		octo_chan_set(chan, OCTO_CHAN_PROCEDURE,
			      *user->procedure ? user->procedure : "users");
		octo_chan_var_set(chan, "USER", user->extension);
	} else {
		octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, pin.route.caller);
		octo_chan_set(chan, OCTO_CHAN_CALLER_NAME, pin.route.caller_name);
		octo_chan_set(chan, OCTO_CHAN_PROCEDURE, pin.route.procedure);
		octo_chan_var_set(chan, "SIPPEER", pin.peer);
		if (*pin.route.trunk)
			octo_chan_var_set(chan, "TRUNK", pin.route.trunk);
		octo_chan_var_set(chan, "DIRECTION", "inbound");
	}
	octo_chan_set(chan, OCTO_CHAN_DIALED, called);
	octo_chan_set(chan, OCTO_CHAN_CALLED, called);
	octo_chan_var_set(chan, "LINKEDID", octo_chan_id(chan));
	octo_chan_var_set(chan, "SIPCALLID", c->dlg.call_id);
	pthread_mutex_lock(&call_lock);
	octo_chan_set_pvt(chan, octo_obj_ref(c));
	pthread_mutex_unlock(&call_lock);
	sip_addr_str(&req->src, buf, sizeof(buf));
	octo_chan_step(chan, "SIP: INVITE from %s %s at %s for %s (%s)", user ? "user" : "peer",
		       user ? user->extension : pin.peer, buf, called,
		       c->late_offer ? "no SDP offer" : c->codec);
	if (octo_pbx_start(chan) != 0) {
		octo_chan_hangup(chan, OCTO_CAUSE_FAILURE);
		goto out;
	}
out:
	sip_peer_use_release(&pin.use);
	octo_obj_unref(repl);
	octo_obj_unref(c);
	octo_obj_unref(user);
}

/* ---------------------------------------------------------------- answering the incoming INVITE */

static int call_status_for_cause(int cause)
{
	switch (cause) {
	case OCTO_CAUSE_BUSY: return 486;
	case OCTO_CAUSE_REJECTED: return 603;
	case OCTO_CAUSE_UNALLOCATED: return 404;
	case OCTO_CAUSE_CONGESTION: return 503;
	case OCTO_CAUSE_NO_ANSWER: return 480;
	case OCTO_CAUSE_FAILURE: return 500;
	default: return 480;
	}
}

static void call_add_common(struct sip_call *c, struct sip_msg *m)
{
	char allow[256], supported[256];

	sip_allow_value(allow, sizeof(allow));
	sip_msg_add_header(m, "Allow", allow);
	sip_supported_value(supported, sizeof(supported));
	if (*supported)
		sip_msg_add_header(m, "Supported", supported);
}

static void call_answer_loop(void *data)
{
	struct call_job *j = data;
	struct sip_call *c = j->call;
	struct sip_msg *r;

	j->rc = OCTO_EINVAL;
	if (c->outgoing || !c->ist || c->answered_sent || c->state != CALL_RINGING_IN)
		return;
	r = sip_txn_response(c->ist, 200, NULL);
	if (!r)
		return;
	sip_add_contact(r, &c->dlg.peer);
	call_add_common(c, r);
	if (c->se_secs) {
		char se[64];

		snprintf(se, sizeof(se), "%u;refresher=%s", c->se_secs,
			 c->se_refresh ? "uas" : "uac");
		sip_msg_add_header(r, "Session-Expires", se);
		if (call_header_has(c->invite, "supported", "timer"))
			sip_msg_add_header(r, "Require", "timer");
	}
	if (call_attach_sdp(c, r, c->late_offer ? NULL : &c->remote) != 0) {
		octo_obj_unref(r);
		return;
	}
	c->answered_sent = true;
	c->state = CALL_UP;
	j->rc = sip_txn_send(c->ist, r);
	call_se_start(c);
}

static void call_provisional(struct sip_call *c, int status)
{
	struct sip_msg *r;

	if (c->outgoing || !c->ist || c->answered_sent || c->state != CALL_RINGING_IN)
		return;
	r = sip_txn_response(c->ist, status, NULL);
	if (!r)
		return;
	sip_add_contact(r, &c->dlg.peer);
	if (status == 183 && !c->late_offer)
		call_attach_sdp(c, r, &c->remote);
	sip_txn_send(c->ist, r);
}

/* ---------------------------------------------------------------- in-dialog requests */

static void call_on_reinvite(struct sip_txn *txn, struct sip_msg *req)
{
	struct sip_call *c = call_find(req, sip_msg_to_tag(req));
	struct sip_sdp offer;
	const char *body, *why = NULL;
	struct sip_msg *r;
	size_t len = 0;
	bool was_hold;

	if (!c || c->state != CALL_UP || c->reinvite_pending) {
		/* RFC 3261 14.2: an offer while ours is pending (glare) gets 491 */
		sip_txn_respond(txn, c ? 491 : 481, c ? "Request Pending" : NULL);
		octo_obj_unref(c);
		return;
	}
	if (req->cseq <= c->dlg.remote_cseq) {
		sip_txn_respond(txn, 500, "Out of Order CSeq");
		octo_obj_unref(c);
		return;
	}
	c->dlg.remote_cseq = req->cseq;
	sip_dialog_refresh(&c->dlg, req);
	body = call_body(req, &len);
	was_hold = c->remote_hold;
	if (body && len) {
		if (sip_sdp_parse(body, len, &offer, &why) != 0) {
			call_reject(txn, 488, "Not Acceptable Here", why);
			octo_obj_unref(c);
			return;
		}
		if (call_apply_remote(c, &offer, false) != 0) {
			call_reject(txn, 488, "Not Acceptable Here", "no common codec");
			octo_obj_unref(c);
			return;
		}
		c->remote_hold = offer.dir == SIP_DIR_SENDONLY || offer.dir == SIP_DIR_INACTIVE;
		/* RFC 3264 8: the version changes only when our SDP does (a
		 * session refresh repeats the same offer and gets the same answer) */
		if (c->local_dir != call_held_answer_dir(c, offer.dir))
			c->sess_ver++;
		c->local_dir = call_held_answer_dir(c, offer.dir);
	}
	r = sip_txn_response(txn, 200, NULL);
	if (r) {
		sip_add_contact(r, &c->dlg.peer);
		call_add_common(c, r);
		if (c->se_secs) {
			char se[64];

			snprintf(se, sizeof(se), "%u;refresher=%s", c->se_secs,
				 c->se_refresh ? "uas" : "uac");
			sip_msg_add_header(r, "Session-Expires", se);
		}
		call_attach_sdp(c, r, c->have_remote ? &c->remote : NULL);
		octo_obj_unref(c->reinv_ist);
		c->reinv_ist = octo_obj_ref(txn);
		c->reinv_cseq = req->cseq;
		sip_txn_send(txn, r);
	}
	if (c->chan && was_hold != c->remote_hold) {
		octo_chan_step(c->chan, "SIP: the phone %s the call",
			       c->remote_hold ? "holds" : "resumes");
		/* the core bridge passes it to the other leg, of any technology */
		call_event(c, c->remote_hold ? OCTO_EV_HOLD : OCTO_EV_UNHOLD, 0, 0);
	}
	octo_obj_unref(c);
}

static void call_on_ack(struct sip_txn *ist, struct sip_msg *ack)
{
	struct sip_call *c = call_find(ack, sip_msg_to_tag(ack));
	const char *body;
	size_t len = 0;

	if (!c)
		return;
	if (c->ist && ack->cseq == c->invite->cseq) {
		sip_txn_acked(c->ist);
		if (sip_txn_data(c->ist) == c) {
			/* the IST lingers 32 s (Timer L): it need not keep the call */
			sip_txn_set_data(c->ist, NULL, NULL);
			octo_obj_unref(c);
		}
		octo_obj_unref(c->ist);
		c->ist = NULL;
		body = call_body(ack, &len);
		if (c->late_offer && body && len) {
			struct sip_sdp answer;
			const char *why = NULL;

			c->late_offer = false;
			if (sip_sdp_parse(body, len, &answer, &why) != 0 ||
			    call_apply_remote(c, &answer, true) != 0) {
				if (c->chan)
					octo_chan_step(c->chan,
						       "SIP: bad SDP answer in the ACK (%s)",
						       why ? why : "no common codec");
				call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_FAILURE, 0);
			}
		}
	} else if (c->reinv_ist && ack->cseq == c->reinv_cseq) {
		sip_txn_acked(c->reinv_ist); /* the ACK of a re-INVITE's 2xx */
		octo_obj_unref(c->reinv_ist);
		c->reinv_ist = NULL;
	} else if (ist) {
		sip_txn_acked(ist);
	}
	octo_obj_unref(c);
}

static void call_on_bye(struct sip_txn *txn, struct sip_msg *req)
{
	struct sip_call *c = call_find(req, sip_msg_to_tag(req));

	if (!c) {
		sip_txn_respond(txn, 481, NULL);
		return;
	}
	sip_txn_respond(txn, 200, NULL);
	if (c->chan) {
		octo_chan_step(c->chan, "SIP: BYE from the phone");
		call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_NORMAL, 0);
	}
	c->state = CALL_ENDED;
	call_se_stop(c);
	if (c->have_dlg)
		sip_replaces_ended(c->dlg.call_id, c->dlg.local_tag, c->dlg.remote_tag);
	call_unlink(c);
	call_media_release(c);
	octo_obj_unref(c);
}

static void call_on_cancel(struct sip_txn *ist, struct sip_msg *cancel)
{
	struct sip_call *c = call_find(cancel, sip_txn_to_tag(ist));

	sip_txn_respond(ist, 487, "Request Terminated");
	if (!c)
		return;
	c->cancelled = true;
	c->state = CALL_ENDED;
	if (c->chan) {
		octo_chan_step(c->chan, "SIP: the caller cancelled the call");
		call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_NORMAL, 0);
	}
	call_unlink(c);
	call_media_release(c);
	octo_obj_unref(c);
}

/* DTMF in INFO: application/dtmf-relay ("Signal=5") or application/dtmf ("5"). */
static char call_info_digit(const struct sip_msg *req)
{
	osip_content_type_t *ct = req->osip->content_type;
	const char *body, *p;
	size_t len = 0;
	char text[256];

	body = call_body(req, &len);
	if (!ct || !ct->type || !ct->subtype || !body || !len ||
	    strcasecmp(ct->type, "application"))
		return 0;
	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, body, len);
	text[len] = '\0';
	if (!strcasecmp(ct->subtype, "dtmf-relay")) {
		p = strcasestr(text, "signal");
		if (!p)
			return 0;
		p += 6;
		p += strspn(p, " \t");
		if (*p++ != '=')
			return 0;
		p += strspn(p, " \t");
	} else if (!strcasecmp(ct->subtype, "dtmf")) {
		p = text + strspn(text, " \t\r\n");
	} else {
		return 0;
	}
	if (*p && strchr("0123456789*#ABCDabcd", *p))
		return (char)(*p >= 'a' && *p <= 'd' ? *p - 32 : *p);
	if (!strncmp(p, "10", 2))
		return '*';
	if (!strncmp(p, "11", 2))
		return '#';
	return 0;
}

static void call_on_info(struct sip_txn *txn, struct sip_msg *req)
{
	struct sip_call *c = sip_msg_to_tag(req) ? call_find(req, sip_msg_to_tag(req)) : NULL;
	char d;

	if (!c && !sip_msg_to_tag(req) && sip_peer_on_info(txn, req))
		return; /* device state from a gateway (sip_peer.c) */
	if (!c) {
		sip_txn_respond(txn, 481, NULL);
		return;
	}
	d = call_info_digit(req);
	sip_txn_respond(txn, 200, NULL);
	if (d && c->chan)
		call_event(c, OCTO_EV_DIGIT, 0, d);
	if (d && c->media && c->peer) /* in-call recording codes (sip_record.c) */
		sip_media_tap_digit(c->media, d);
	octo_obj_unref(c);
}

/* ---------------------------------------------------------------- requests we send in a dialog */

static void call_txn_end(struct sip_txn *txn, enum sip_txn_end why, void *data)
{
	octo_obj_unref(data);
}

/* RFC 3261 12.2.1.2: a 481 or 408 (also our own timeout, or a request we
 * could not send) to a request within the dialog means the phone is gone:
 * the call ends. This is what ends a call whose phone vanished once a
 * session refresh or an INFO finds out. */
static void call_check_gone(struct sip_call *c, const struct sip_msg *resp)
{
	if (resp->status != 408 && resp->status != 481 && !(resp->local && resp->status == 503))
		return;
	if (!c->chan || c->state != CALL_UP || c->hangup_done)
		return;
	octo_chan_step(c->chan, "SIP: %d to a request within the call: hanging up", resp->status);
	call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_FAILURE, 0);
}

static void call_info_resp(struct sip_txn *txn, struct sip_msg *resp, void *data)
{
	call_check_gone(data, resp);
}

static const struct sip_client_ops call_info_ops = { .response = call_info_resp,
						     .end = call_txn_end };
/* A BYE's answer changes nothing: its transaction does not keep the call. */
static const struct sip_client_ops call_bye_ops = { 0 };

static void call_send_bye(struct sip_call *c)
{
	struct sip_msg *bye;
	struct sip_txn *t;

	if (!c->have_dlg || c->state == CALL_ENDED)
		return;
	c->state = CALL_ENDED;
	call_se_stop(c);
	sip_replaces_ended(c->dlg.call_id, c->dlg.local_tag, c->dlg.remote_tag);
	bye = sip_dialog_request(&c->dlg, SIP_BYE, 0);
	if (!bye)
		return;
	t = sip_txn_client(bye, &c->dlg.peer, &call_bye_ops, NULL);
	octo_obj_unref(t);
}

static void call_reinv_resp(struct sip_txn *txn, struct sip_msg *resp, void *data)
{
	struct sip_call *c = data;
	struct sip_msg *inv, *ack;

	if (resp->status < 200)
		return;
	c->reinvite_pending = false;
	call_check_gone(c, resp);
	if (c->want_pending) {
		/* hold or resume asked for meanwhile: send it now */
		c->want_pending = false;
		if (resp->status >= 300 || c->want_dir != c->local_dir)
			call_send_reinvite_later(c);
	}
	if (resp->status >= 300 || resp->local || !c->have_dlg)
		return;
	inv = sip_txn_request(txn);
	ack = sip_dialog_request(&c->dlg, SIP_ACK, inv ? inv->cseq : c->dlg.local_cseq);
	if (ack) {
		sip_send_request(ack, &c->dlg.peer);
		octo_obj_unref(ack);
	}
	{
		const char *body;
		size_t len = 0;
		struct sip_sdp ans;
		const char *why = NULL;

		body = call_body(resp, &len);
		if (body && len && sip_sdp_parse(body, len, &ans, &why) == 0)
			call_apply_remote(c, &ans, true);
	}
}

static const struct sip_client_ops call_reinv_ops = { .response = call_reinv_resp,
						      .end = call_txn_end };

static void call_reinvite_later_run(void *data)
{
	struct sip_call *c = data;

	if (!c->hangup_done)
		call_send_reinvite(c, c->want_dir);
	octo_obj_unref(c);
}

/* Sends the re-INVITE asked for while one was pending, once the current
 * response callback (and its ACK) is done. */
static void call_send_reinvite_later(struct sip_call *c)
{
	if (octo_loop_call(call_reinvite_later_run, octo_obj_ref(c)) != 0)
		octo_obj_unref(c);
}

static void call_send_reinvite(struct sip_call *c, enum sip_sdp_dir dir)
{
	struct sip_msg *inv;
	struct sip_txn *t;

	if (!c->have_dlg || c->state != CALL_UP)
		return;
	if (c->reinvite_pending) {
		/* one offer at a time (RFC 3264): this one goes when that ends */
		c->want_pending = true;
		c->want_dir = dir;
		return;
	}
	if (dir != c->local_dir)
		c->sess_ver++;
	c->local_dir = dir;
	inv = sip_dialog_request(&c->dlg, SIP_INVITE, 0);
	if (!inv)
		return;
	call_add_common(c, inv);
	if (c->se_secs) {
		char se[64];

		snprintf(se, sizeof(se), "%u;refresher=%s", c->se_secs, c->dlg.uac ? "uac" : "uas");
		sip_msg_add_header(inv, "Session-Expires", se);
	}
	if (call_attach_sdp(c, inv, NULL) != 0) {
		octo_obj_unref(inv);
		return;
	}
	c->reinvite_pending = true;
	t = sip_txn_client(inv, &c->dlg.peer, &call_reinv_ops, octo_obj_ref(c));
	if (!t) {
		c->reinvite_pending = false;
		octo_obj_unref(c);
	}
	octo_obj_unref(t);
}

static void call_send_info(struct sip_call *c, char digit)
{
	struct sip_msg *info;
	struct sip_txn *t;
	char body[64];
	int n;

	if (!c->have_dlg || c->state != CALL_UP)
		return;
	info = sip_dialog_request(&c->dlg, SIP_INFO, 0);
	if (!info)
		return;
	n = snprintf(body, sizeof(body), "Signal=%c\r\nDuration=160\r\n", digit);
	sip_msg_set_body(info, "application/dtmf-relay", body, (size_t)n);
	t = sip_txn_client(info, &c->dlg.peer, &call_info_ops, octo_obj_ref(c));
	if (!t)
		octo_obj_unref(c);
	octo_obj_unref(t);
}

/* ---------------------------------------------------------------- outgoing calls */

static const struct sip_client_ops call_ict_ops;

/* A SIP peer (a provider's trunk) challenged our INVITE: the same INVITE
 * again, CSeq + 1, with the peer's credentials (sip_peer.c). 0 when sent. */
static int call_invite_auth(struct sip_call *c, const struct sip_msg *challenge)
{
	char *ruri = NULL, *from = NULL, *to = NULL;
	struct sip_msg *inv = NULL;
	struct sip_txn *t;
	int rc = OCTO_EFAIL;

	c->peer_auth_tried = true;
	if (!c->invite || osip_uri_to_str(c->invite->osip->req_uri, &ruri) != 0 ||
	    osip_from_to_str(c->invite->osip->from, &from) != 0 ||
	    osip_to_to_str(c->invite->osip->to, &to) != 0)
		goto out;
	inv = sip_msg_request(SIP_INVITE, ruri, from, NULL, to, NULL, c->invite->call_id,
			      c->invite->cseq + 1);
	if (!inv || sip_add_contact(inv, &c->target) != 0)
		goto out;
	call_add_common(c, inv);
	if (call_attach_sdp(c, inv, NULL) != 0 ||
	    sip_peer_authorize(inv, challenge, c->peer_user, c->peer_secret, ruri) != 0)
		goto out;
	t = sip_txn_client(octo_obj_ref(inv), &c->target, &call_ict_ops, octo_obj_ref(c));
	if (!t) {
		octo_obj_unref(c); /* the transaction's */
		goto out;
	}
	octo_obj_unref(c->ict);
	c->ict = t;
	octo_obj_unref(c->invite);
	c->invite = inv;
	inv = NULL;
	c->state = CALL_CALLING;
	if (c->chan)
		octo_chan_step(c->chan, "SIP: %d: INVITE again with credentials",
			       challenge->status);
	rc = 0;
out:
	osip_free(ruri);
	osip_free(from);
	osip_free(to);
	octo_obj_unref(inv);
	return rc;
}

static void call_ict_resp(struct sip_txn *txn, struct sip_msg *resp, void *data)
{
	struct sip_call *c = data;
	int st = resp->status;
	const char *body;
	size_t len = 0;

	if (st == 100)
		return;
	body = call_body(resp, &len);
	if (st < 200) {
		if (c->state == CALL_CALLING)
			c->state = CALL_EARLY;
		if (body && len && !c->have_remote) {
			struct sip_sdp ans;
			const char *why = NULL;

			if (sip_sdp_parse(body, len, &ans, &why) == 0)
				call_apply_remote(c, &ans, true);
		}
		if (c->chan && c->state == CALL_EARLY)
			call_event(c, st == 183 ? OCTO_EV_PROGRESS : OCTO_EV_RINGING, 0, 0);
		return;
	}
	if (st < 300) {
		struct sip_msg *ack;

		if (!c->have_dlg) {
			if (sip_dialog_uac(&c->dlg, c->invite, resp, &c->target) != 0) {
				/* cannot even ACK properly: give up on it */
				call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_FAILURE, 0);
				return;
			}
			c->have_dlg = true;
		} else if (c->dlg.remote_tag && sip_msg_to_tag(resp) &&
			   strcmp(c->dlg.remote_tag, sip_msg_to_tag(resp))) {
			return; /* a second fork answered: not supported, it times out */
		}
		ack = sip_dialog_request(&c->dlg, SIP_ACK, c->invite->cseq);
		if (ack) {
			sip_send_request(ack, &c->dlg.peer);
			octo_obj_unref(ack);
		}
		if (c->state == CALL_UP)
			return; /* a retransmission of the 2xx */
		if (body && len) {
			struct sip_sdp ans;
			const char *why = NULL;

			if (sip_sdp_parse(body, len, &ans, &why) != 0 ||
			    call_apply_remote(c, &ans, true) != 0) {
				if (c->chan)
					octo_chan_step(c->chan, "SIP: unusable SDP answer (%s)",
						       why ? why : "no common codec");
				c->state = CALL_UP;
				call_send_bye(c);
				call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_FAILURE, 0);
				return;
			}
		}
		{
			bool uas_ref = false, has_ref = false;
			unsigned s = call_se_parse(call_header_any(resp, "session-expires", "x"),
						   &uas_ref, &has_ref);

			if (s >= CALL_MIN_SE) {
				c->se_secs = s;
				c->se_refresh = has_ref && !uas_ref; /* we are the UAC */
			}
		}
		if (!c->chan || c->state == CALL_ENDING || c->state == CALL_ENDED) {
			/* hung up while the answer was on its way */
			c->state = CALL_UP;
			call_send_bye(c);
			return;
		}
		c->state = CALL_UP;
		call_se_start(c);
		call_event(c, OCTO_EV_ANSWER, 0, 0);
		return;
	}
	/* a final failure; a peer's challenge is answered once */
	if ((st == 401 || st == 407) && !resp->local && *c->peer_user && !c->peer_auth_tried &&
	    txn == c->ict && c->chan && c->state != CALL_ENDING && call_invite_auth(c, resp) == 0)
		return;
	c->state = CALL_ENDED;
	call_unlink(c);
	call_media_release(c);
	if (!c->chan)
		return;
	octo_chan_step(c->chan, "SIP: %d %s", st,
		       resp->osip->reason_phrase ? resp->osip->reason_phrase : "");
	switch (st) {
	case 486:
	case 600: call_event(c, OCTO_EV_BUSY, 0, 0); break;
	case 603:
	case 403: call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_REJECTED, 0); break;
	case 404:
	case 410:
	case 484:
	case 604: call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_UNALLOCATED, 0); break;
	case 408:
	case 480: call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_NO_ANSWER, 0); break;
	case 487: call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_NORMAL, 0); break;
	default:
		if (st >= 500 && !resp->local)
			call_event(c, OCTO_EV_CONGESTION, 0, 0);
		else
			call_event(c, OCTO_EV_HANGUP,
				   resp->local ? OCTO_CAUSE_UNAVAILABLE : OCTO_CAUSE_FAILURE, 0);
	}
}

static const struct sip_client_ops call_ict_ops = { .response = call_ict_resp,
						    .end = call_txn_end };

/* Resolves a destination: "USER/INDEX" (sip_reg_devices), "USER" (the first
 * registered contact) or a SIP URI. Fills the Request-URI and where to send. */
static int call_resolve(const char *dest, char *ruri, size_t size, struct sip_addr *to, char *user,
			size_t usize)
{
	const char *slash = strchr(dest, '/');
	char who[72];
	int n;

	user[0] = '\0';
	if (!strncasecmp(dest, "sip:", 4)) {
		osip_uri_t *u = NULL;
		int rc = OCTO_EINVAL;

		if (osip_uri_init(&u) == 0 && osip_uri_parse(u, dest) == 0 && u->host) {
			unsigned port = u->port ? (unsigned)atoi(u->port) : 5060;

			if (port && port < 65536 &&
			    sip_addr_set(to, SIP_TP_UDP, u->host, port) == 0) {
				octo_strlcpy(ruri, dest, size);
				if (u->username)
					octo_strlcpy(user, u->username, usize);
				rc = 0;
			}
		}
		osip_uri_free(u);
		return rc;
	}
	{
		struct sip_contact ct;
		int rc = sip_reg_device_contact(dest, &ct);

		if (rc)
			return rc;
		octo_strlcpy(ruri, ct.uri, size);
		*to = ct.dest;
	}
	n = (int)(slash ? (size_t)(slash - dest) : strlen(dest));
	if (n >= (int)sizeof(who))
		n = (int)sizeof(who) - 1;
	memcpy(who, dest, (size_t)n);
	who[n] = '\0';
	octo_strlcpy(user, who, usize);
	return 0;
}

static void call_call_loop(void *data)
{
	struct call_job *j = data;
	struct sip_call *c = j->call;
	struct octo_channel *chan = j->chan;
	const struct octo_users_api *users;
	char ruri[300], from[512], to[320], host[256], num[72], name[72], user[72];
	char fhost[300];
	struct sip_peer_out pout = { 0 }; /* a call to a SIP peer (sip_peer.c) */
	bool to_peer = sip_peer_is_dest(j->dest);
	struct sip_msg *inv;
	unsigned port;
	int rc;

	if (to_peer) {
		rc = sip_peer_resolve(j->dest, &pout);
		if (rc) {
			octo_chan_step(chan, "SIP: cannot call %s: %s", j->dest, pout.why);
			j->rc = rc;
			return;
		}
		octo_strlcpy(ruri, pout.ruri, sizeof(ruri));
		c->target = pout.to;
		c->puse = pout.use;
		octo_strlcpy(c->prefs, pout.codecs, sizeof(c->prefs));
		octo_strlcpy(c->peer_user, pout.username, sizeof(c->peer_user));
		octo_strlcpy(c->peer_secret, pout.secret, sizeof(c->peer_secret));
		octo_chan_set(chan, OCTO_CHAN_CALLED, pout.number);
		octo_chan_set(chan, OCTO_CHAN_DIALED, pout.number);
		octo_chan_var_set(chan, "SIPPEER", pout.peer);
		users = NULL;
		goto resolved;
	}
	rc = call_resolve(j->dest, ruri, sizeof(ruri), &c->target, user, sizeof(user));
	if (rc) {
		octo_chan_step(chan, "SIP: %s is not a registered contact", j->dest);
		j->rc = rc;
		return;
	}
	octo_strlcpy(c->user, user, sizeof(c->user));
	/* a registered contact of the user, not a bare URI someone dialled */
	c->user_known = strncasecmp(j->dest, "sip:", 4) != 0;
	users = call_users_get();
	if (users) {
		struct octo_user *u = *user ? users->find(user) : NULL;

		if (u)
			octo_strlcpy(c->prefs, u->codecs, sizeof(c->prefs));
		octo_obj_unref(u);
		octo_service_put(users, "chan_sip");
	}
resolved:
	if (call_media_start(c, &c->target, chan) != 0 ||
	    sip_transport_local(&c->target, host, sizeof(host), &port) != 0) {
		octo_chan_step(chan, "SIP: no RTP port free");
		j->rc = OCTO_EBUSY;
		return;
	}
	octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, num, sizeof(num));
	octo_chan_copy(chan, OCTO_CHAN_CALLER_NAME, name, sizeof(name));
	call_clean_number(num, num, sizeof(num));
	for (char *p = name; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < ' ')
			*p = ' ';
	if (to_peer && *pout.from_user)
		octo_strlcpy(num, pout.from_user, sizeof(num)); /* the trunk's caller id */
	if (to_peer && *pout.from_domain)
		octo_strlcpy(fhost, pout.from_domain, sizeof(fhost));
	else
		snprintf(fhost, sizeof(fhost), "%s%s%s:%u", strchr(host, ':') ? "[" : "", host,
			 strchr(host, ':') ? "]" : "", port);
	snprintf(from, sizeof(from), "\"%s\" <sip:%s@%s>", name, *num ? num : "anonymous",
		 fhost);
	snprintf(to, sizeof(to), "<%s>", ruri);
	inv = sip_msg_request(SIP_INVITE, ruri, from, NULL, to, NULL, NULL, 1);
	if (!inv) {
		octo_chan_step(chan, "SIP: cannot build the INVITE to %s", ruri);
		j->rc = OCTO_EINVAL;
		return;
	}
	sip_add_contact(inv, &c->target);
	call_add_common(c, inv);
	c->local_dir = SIP_DIR_SENDRECV;
	if (call_attach_sdp(c, inv, NULL) != 0 ||
	    call_set_key(c, inv->call_id, sip_msg_from_tag(inv)) != 0) {
		octo_obj_unref(inv);
		j->rc = OCTO_ENOMEM;
		return;
	}
	c->invite = octo_obj_ref(inv);
	c->outgoing = true;
	c->state = CALL_CALLING;
	c->chan = octo_obj_ref(chan);
	octo_strlcpy(c->chan_id, octo_chan_id(chan), sizeof(c->chan_id));
	octo_strlcpy(c->chan_name, octo_chan_name(chan), sizeof(c->chan_name));
	pthread_mutex_lock(&call_lock);
	octo_chan_set_pvt(chan, octo_obj_ref(c));
	pthread_mutex_unlock(&call_lock);
	octo_chan_var_set(chan, "SIPCALLID", inv->call_id);
	c->ict = sip_txn_client(inv, &c->target, &call_ict_ops, octo_obj_ref(c));
	if (!c->ict) {
		octo_obj_unref(c); /* the transaction's */
		j->rc = OCTO_EFAIL;
		return;
	}
	{
		char a[SIP_ADDR_STRLEN];

		octo_chan_step(chan, "SIP: INVITE %s via %s", ruri,
			       sip_addr_str(&c->target, a, sizeof(a)));
	}
	j->rc = 0;
}

/* ---------------------------------------------------------------- for other parts (transfers) */

struct sip_call *sip_call_find_dialog(const char *call_id, const char *local_tag,
				      const char *remote_tag)
{
	char key[SIP_KEY_MAX];
	struct sip_call *c;

	if (!call_table || !call_id || !local_tag || !remote_tag ||
	    snprintf(key, sizeof(key), "%s|%s", call_id, local_tag) >= (int)sizeof(key))
		return NULL;
	c = octo_container_find(call_table, key);
	if (c && (!c->have_dlg || !c->dlg.remote_tag || strcmp(c->dlg.remote_tag, remote_tag) ||
		  c->hangup_done || c->state == CALL_ENDED)) {
		octo_obj_unref(c);
		c = NULL;
	}
	return c;
}

struct octo_channel *sip_call_channel(struct sip_call *c)
{
	return c->chan && !c->hangup_done ? octo_obj_ref(c->chan) : NULL;
}

struct sip_call *sip_call_find_local(const char *call_id, const char *local_tag)
{
	char key[SIP_KEY_MAX];
	struct sip_call *c;

	if (!call_table || !call_id || !local_tag ||
	    snprintf(key, sizeof(key), "%s|%s", call_id, local_tag) >= (int)sizeof(key))
		return NULL;
	c = octo_container_find(call_table, key);
	if (c && (c->hangup_done || c->state == CALL_ENDED || !c->chan)) {
		octo_obj_unref(c);
		c = NULL;
	}
	return c;
}

const char *sip_call_remote_tag(const struct sip_call *c)
{
	return c->have_dlg ? c->dlg.remote_tag : NULL;
}

bool sip_call_is_ringing_out(const struct sip_call *c)
{
	return c->outgoing && (c->state == CALL_CALLING || c->state == CALL_EARLY) &&
	       !c->hangup_done;
}

bool sip_call_is_ringing_in(const struct sip_call *c)
{
	return !c->outgoing && c->state == CALL_RINGING_IN && !c->hangup_done;
}

const char *sip_call_user(const struct sip_call *c)
{
	return c->user_known ? c->user : "";
}

bool sip_call_is_up(const struct sip_call *c)
{
	return c->state == CALL_UP && !c->hangup_done;
}

struct sip_dialog *sip_call_dialog(struct sip_call *c)
{
	return c->have_dlg ? &c->dlg : NULL;
}

bool sip_call_remote_cseq(struct sip_call *c, uint32_t cseq)
{
	if (cseq <= c->dlg.remote_cseq)
		return false;
	c->dlg.remote_cseq = cseq;
	return true;
}

/* ---------------------------------------------------------------- the technology */

static int call_tech_call(struct octo_channel *chan, const char *dest, unsigned timeout_ms)
{
	struct call_job j = { .chan = chan, .dest = dest, .rc = OCTO_EFAIL };

	j.call = call_alloc();
	if (!j.call)
		return OCTO_ENOMEM;
	if (sip_loop_run(call_call_loop, &j) != 0)
		j.rc = OCTO_EFAIL;
	octo_obj_unref(j.call);
	return j.rc;
}

static int call_run(struct octo_channel *chan, void (*fn)(void *), struct call_job *j)
{
	j->call = call_of(chan);
	j->chan = chan;
	if (!j->call)
		return OCTO_EHANGUP;
	if (sip_loop_run(fn, j) != 0)
		j->rc = OCTO_EFAIL;
	octo_obj_unref(j->call);
	return j->rc;
}

static int call_tech_answer(struct octo_channel *chan)
{
	struct call_job j = { 0 };

	return call_run(chan, call_answer_loop, &j);
}

static void call_hangup_loop(void *data)
{
	struct call_job *j = data;
	struct sip_call *c = j->call;
	int cause = j->arg;

	if (c->hangup_done)
		return;
	c->hangup_done = true;
	if (c->peer) {
		if (c->media && c->peer->media)
			sip_media_relay(c->media, c->peer->media, false);
		if (c->peer->peer == c) {
			octo_obj_unref(c->peer->peer);
			c->peer->peer = NULL;
		}
		octo_obj_unref(c->peer);
		c->peer = NULL;
	}
	switch (c->state) {
	case CALL_RINGING_IN:
		if (c->ist && !c->cancelled)
			sip_txn_respond(c->ist, call_status_for_cause(cause), NULL);
		c->state = CALL_ENDED;
		break;
	case CALL_CALLING:
	case CALL_EARLY:
		c->state = CALL_ENDING;
		if (c->ict)
			sip_txn_cancel(c->ict);
		break;
	case CALL_UP: call_send_bye(c); break;
	default: break;
	}
	call_se_stop(c);
	if (c->state == CALL_ENDED)
		call_unlink(c);
	call_media_release(c);
	sip_peer_use_release(&c->puse);
	octo_obj_unref(c->chan);
	c->chan = NULL;
}

struct call_posted {
	void (*fn)(void *);
	struct call_job j;
};

static void call_posted_run(void *data)
{
	struct call_posted *p = data;

	p->fn(&p->j);
	octo_obj_unref(p->j.call);
	octo_obj_unref(p->j.other);
	free(p);
}

/* Runs fn(job) on the loop without waiting: the job, a copy of j without
 * its borrowed pointers (chan, dest, moh_class), takes over j->call's and
 * j->other's references when this returns true, and lets go of them after
 * fn ran. For the steps whose result the call thread does not need: jobs
 * stay in order with the thread's later hops, and each hop the thread
 * waited for cost the loop a thread wake-up. false (on the loop, out of
 * memory, the loop stopped): nothing was posted, the caller still holds
 * its references and does the step itself. */
static bool call_post(void (*fn)(void *), const struct call_job *j)
{
	struct call_posted *p;

	if (octo_loop_is_current())
		return false;
	p = malloc(sizeof(*p));
	if (!p)
		return false;
	p->fn = fn;
	p->j = *j;
	p->j.chan = NULL;
	p->j.dest = NULL;
	p->j.moh_class = NULL;
	if (octo_loop_call(call_posted_run, p) != 0) {
		free(p);
		return false;
	}
	return true;
}

static void call_tech_hangup(struct octo_channel *chan, int cause)
{
	struct call_job j = { .arg = cause };
	struct sip_call *c;

	pthread_mutex_lock(&call_lock);
	c = octo_chan_pvt(chan);
	octo_chan_set_pvt(chan, NULL);
	pthread_mutex_unlock(&call_lock);
	if (!c)
		return;
	j.call = c;
	j.chan = chan;
	/* Nothing waits for the BYE or CANCEL: the call's thread goes on at
	 * once; the job keeps c (and c its channel) until it ran. */
	if (call_post(call_hangup_loop, &j))
		return;
	if (sip_loop_run(call_hangup_loop, &j) != 0)
		call_hangup_loop(&j); /* the loop is gone: nothing runs concurrently */
	octo_obj_unref(c);
}

static void call_indicate_loop(void *data)
{
	struct call_job *j = data;
	struct sip_call *c = j->call;

	j->rc = 0;
	switch (j->arg) {
	case OCTO_EV_RINGING: call_provisional(c, 180); break;
	case OCTO_EV_PROGRESS: call_provisional(c, 183); break;
	case OCTO_EV_BUSY:
		if (c->state == CALL_RINGING_IN && c->ist)
			sip_txn_respond(c->ist, 486, NULL), c->state = CALL_ENDED;
		break;
	case OCTO_EV_CONGESTION:
		if (c->state == CALL_RINGING_IN && c->ist)
			sip_txn_respond(c->ist, 503, NULL), c->state = CALL_ENDED;
		break;
	case OCTO_EV_HOLD:
		c->local_hold = true;
		octo_strlcpy(c->hold_class, j->moh_class ? j->moh_class : "",
			     sizeof(c->hold_class));
		call_send_reinvite(c, SIP_DIR_SENDONLY);
		call_moh_start(c);
		break;
	case OCTO_EV_UNHOLD:
		c->local_hold = false;
		if (sip_media_moh_on(c->media)) {
			sip_moh_stop(c->media);
			if (c->chan)
				octo_chan_step(c->chan, "SIP: music on hold stops");
		}
		call_send_reinvite(c, SIP_DIR_SENDRECV);
		break;
	default: j->rc = OCTO_EINVAL;
	}
}

/* The music-on-hold class of the user who holds chan's call: users.conf
 * moh_class of the ${USER} of the channel bridged with chan (set on a
 * user's calls and on the legs Dial answered), "" when none. On the
 * caller's thread, not the loop's: it looks up the bridge and the users. */
static void call_holder_moh_class(struct octo_channel *chan, char *out, size_t size)
{
	struct octo_channel *partner;
	const struct octo_users_api *users;
	struct octo_user *u;
	char user[72] = "";

	*out = '\0';
	if (!sip_moh_enabled(NULL, 0) || !(partner = octo_bridge_peer(chan)))
		return;
	octo_chan_var_get(partner, "USER", user, sizeof(user));
	octo_obj_unref(partner);
	if (!user[0] || !(users = octo_service_get(OCTO_USERS_SERVICE, 3, "chan_sip")))
		return;
	u = users->find(user);
	if (u)
		octo_strlcpy(out, u->moh_class, size);
	octo_obj_unref(u);
	octo_service_put(users, "chan_sip");
}

static int call_tech_indicate(struct octo_channel *chan, enum octo_chan_event_type what)
{
	char cls[64] = "";
	struct call_job j = { .arg = (int)what, .moh_class = cls };

	if (what == OCTO_EV_RINGING || what == OCTO_EV_PROGRESS) {
		/* a provisional response: nothing to report back */
		j.call = call_of(chan);
		if (!j.call)
			return OCTO_EHANGUP;
		j.moh_class = NULL;
		if (call_post(call_indicate_loop, &j))
			return 0;
		j.moh_class = cls;
		octo_obj_unref(j.call);
	}
	if (what == OCTO_EV_HOLD)
		call_holder_moh_class(chan, cls, sizeof(cls));
	return call_run(chan, call_indicate_loop, &j);
}

static void call_digit_loop(void *data)
{
	struct call_job *j = data;

	call_send_info(j->call, j->digit);
	j->rc = 0;
}

static int call_tech_send_digit(struct octo_channel *chan, char digit)
{
	struct call_job j = { .digit = digit };

	return call_run(chan, call_digit_loop, &j);
}

static void call_bridge_loop(void *data)
{
	struct call_job *j = data;
	struct sip_call *a = j->call, *b = j->other;

	if (!j->start) {
		if (a && a->peer == b) {
			octo_obj_unref(a->peer);
			a->peer = NULL;
		}
		if (b && b->peer == a) {
			octo_obj_unref(b->peer);
			b->peer = NULL;
		}
		if (a && b && a->media && b->media)
			sip_media_relay(a->media, b->media, false);
		j->rc = 0;
		return;
	}
	if (!a || !b || !a->media || !b->media || a->hangup_done || b->hangup_done) {
		j->rc = OCTO_EINVAL;
		return;
	}
	j->rc = sip_media_relay(a->media, b->media, true);
	if (j->rc == 0) {
		octo_obj_unref(a->peer);
		octo_obj_unref(b->peer);
		a->peer = octo_obj_ref(b);
		b->peer = octo_obj_ref(a);
		/* in-call recording codes (*1, *2): sip_record.c */
		if (a->chan && b->chan)
			sip_rec_bridge(a->chan, a->media, b->chan, b->media);
	}
}

static int call_tech_native_bridge(struct octo_channel *a, struct octo_channel *b, bool start)
{
	struct call_job j = { .start = start, .rc = OCTO_EINVAL };

	j.call = call_of(a);
	j.other = call_of(b);
	if (start && (!j.call || !j.other))
		j.rc = OCTO_EHANGUP;
	else if (sip_loop_run(call_bridge_loop, &j) != 0)
		j.rc = OCTO_EFAIL;
	octo_obj_unref(j.call);
	octo_obj_unref(j.other);
	return j.rc;
}

static int call_tech_devices(const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int max)
{
	int n = sip_reg_devices(user, dests, max);

	/* FXS ports, DECT handsets ... of the user (sip_peer.c providers) */
	return sip_peer_devices(user, dests, n < 0 ? 0 : n, max);
}

static int call_tech_read_frame(struct octo_channel *chan, struct octo_frame *f, int timeout_ms)
{
	struct sip_media *m;
	int rc;
	struct sip_call *c = call_media_enter(chan, &m, &rc);

	if (!c)
		return OCTO_EHANGUP;
	if (m)
		rc = sip_media_read(m, f, timeout_ms);
	call_media_leave(c, m);
	return rc;
}

static int call_tech_write_frame(struct octo_channel *chan, const struct octo_frame *f)
{
	struct sip_media *m;
	int rc;
	struct sip_call *c = call_media_enter(chan, &m, &rc);

	if (!c)
		return OCTO_EHANGUP;
	if (m)
		rc = sip_media_write(m, f);
	call_media_leave(c, m);
	return rc;
}

static const struct octo_chan_tech call_tech = {
	.name = "SIP",
	.description = "SIP phones: calls from and to users' registered devices",
	.call = call_tech_call,
	.answer = call_tech_answer,
	.hangup = call_tech_hangup,
	.send_digit = call_tech_send_digit,
	.indicate = call_tech_indicate,
	.devices = call_tech_devices,
	.native_bridge = call_tech_native_bridge,
	.read_frame = call_tech_read_frame,
	.write_frame = call_tech_write_frame,
};

/* ---------------------------------------------------------------- CLI */

struct call_row {
	char id[32], chan[96], user[72], state[16], codec[8], ports[40],
		remote[SIP_ADDR_STRLEN + 8];
	char call_id[128], dir[12], se[32], hold[4], peer[SIP_ADDR_STRLEN];
	bool have_media;          /* `mi` filled (sip show channel only) */
	struct sip_media_info mi; /* RTP/RTCP counters, the phone's report, music */
};

struct call_list {
	struct call_row *rows;
	size_t n, max;
	const char *only;
};

static void call_row_fill(struct sip_call *c, struct call_row *r)
{
	memset(r, 0, sizeof(*r));
	octo_strlcpy(r->id, c->chan_id, sizeof(r->id));
	octo_strlcpy(r->chan, c->chan_name, sizeof(r->chan));
	octo_strlcpy(r->user, c->user, sizeof(r->user));
	octo_strlcpy(r->state, call_state_names[c->state], sizeof(r->state));
	octo_strlcpy(r->codec, c->codec[0] ? c->codec : "-", sizeof(r->codec));
	snprintf(r->ports, sizeof(r->ports), "%u -> %u", c->media ? sip_media_port(c->media) : 0,
		 c->have_remote ? c->remote.port : 0);
	if (c->have_remote)
		snprintf(r->remote, sizeof(r->remote), "%s:%u", c->remote.ip, c->remote.port);
	else
		strcpy(r->remote, "-");
	octo_strlcpy(r->call_id,
		     c->have_dlg ? c->dlg.call_id : (c->invite ? c->invite->call_id : ""),
		     sizeof(r->call_id));
	octo_strlcpy(r->dir, c->outgoing ? "out" : "in", sizeof(r->dir));
	if (c->se_secs)
		snprintf(r->se, sizeof(r->se), "%u s (%s)", c->se_secs,
			 c->se_refresh ? "we refresh" : "peer refreshes");
	else
		strcpy(r->se, "off");
	strcpy(r->hold, c->remote_hold ? "yes" : "no");
	if (c->have_dlg)
		sip_addr_str(&c->dlg.peer, r->peer, sizeof(r->peer));
	else if (c->outgoing)
		sip_addr_str(&c->target, r->peer, sizeof(r->peer));
	else
		strcpy(r->peer, "-");
}

static int call_list_cb(void *obj, void *arg)
{
	struct sip_call *c = obj;
	struct call_list *l = arg;

	if (l->only && strcmp(l->only, c->chan_id) && strcmp(l->only, c->chan_name) &&
	    !(c->have_dlg && !strcmp(l->only, c->dlg.call_id)))
		return 0;
	if (l->n < l->max) {
		struct call_row *r = &l->rows[l->n++];

		call_row_fill(c, r);
		if (l->only && c->media) {
			/* one channel: its media counters too (a worker round trip) */
			sip_media_info(c->media, &r->mi);
			r->have_media = true;
		}
	}
	return 0;
}

static void call_list_loop(void *data)
{
	struct call_list *l = data;

	if (call_table)
		octo_container_foreach(call_table, call_list_cb, l);
}

static int call_cli_channels(struct octo_cli_out *out, int argc, char **argv)
{
	struct call_list l = { .max = 1024 };

	if (argc != 3)
		return OCTO_CLI_USAGE;
	l.rows = calloc(l.max, sizeof(*l.rows));
	if (!l.rows)
		return OCTO_CLI_FAIL;
	sip_loop_run(call_list_loop, &l);
	octo_cli_columns(out, "id", "channel", "user", "state", "codec", "rtp ports", "remote rtp",
			 "peer", "call id", NULL);
	for (size_t i = 0; i < l.n; i++)
		octo_cli_row(out, l.rows[i].id, l.rows[i].chan, l.rows[i].user, l.rows[i].state,
			     l.rows[i].codec, l.rows[i].ports, l.rows[i].remote, l.rows[i].peer,
			     l.rows[i].call_id, NULL);
	octo_cli_kv(out, "channels", "%zu", l.n);
	free(l.rows);
	return OCTO_CLI_OK;
}

static int call_cli_channel(struct octo_cli_out *out, int argc, char **argv)
{
	struct call_row row;
	struct call_list l = { .rows = &row, .max = 1 };

	if (argc != 4)
		return OCTO_CLI_USAGE;
	l.only = argv[3];
	sip_loop_run(call_list_loop, &l);
	if (!l.n) {
		octo_cli_error(out, "No SIP channel \"%s\" (sip show channels)", argv[3]);
		return OCTO_CLI_FAIL;
	}
	octo_cli_kv(out, "id", "%s", row.id);
	octo_cli_kv(out, "channel", "%s", row.chan);
	octo_cli_kv(out, "user", "%s", row.user);
	octo_cli_kv(out, "direction", "%s", row.dir);
	octo_cli_kv(out, "state", "%s", row.state);
	octo_cli_kv(out, "call id", "%s", row.call_id);
	octo_cli_kv(out, "codec", "%s", row.codec);
	octo_cli_kv(out, "rtp ports", "%s", row.ports);
	octo_cli_kv(out, "remote media", "%s", row.remote);
	octo_cli_kv(out, "peer", "%s", row.peer);
	octo_cli_kv(out, "on hold", "%s", row.hold);
	octo_cli_kv(out, "session timer", "%s", row.se);
	if (row.have_media) {
		char rep[96];

		octo_cli_kv(out, "rtp mode", "%s", row.mi.mode);
		octo_cli_kv(out, "rtp packets", "%llu received, %llu sent, %llu dropped",
			    (unsigned long long)row.mi.rx_packets,
			    (unsigned long long)row.mi.tx_packets,
			    (unsigned long long)row.mi.rx_dropped);
		octo_cli_kv(out, "rtcp packets", "%llu received, %llu sent, %llu dropped",
			    (unsigned long long)row.mi.rtcp_rx, (unsigned long long)row.mi.rtcp_tx,
			    (unsigned long long)row.mi.rtcp_dropped);
		octo_cli_kv(out, "rtcp remote", "%s",
			    row.mi.rtcp_remote[0] ? row.mi.rtcp_remote : "-");
		sip_rtcp_report_str(&row.mi.report, 8000, rep, sizeof(rep));
		octo_cli_kv(out, "phone reports", "%s", rep[0] ? rep : "(no RTCP report yet)");
		if (row.mi.moh)
			octo_cli_kv(out, "music on hold", "playing (%llu packets sent)",
				    (unsigned long long)row.mi.moh_packets);
		else
			octo_cli_kv(out, "music on hold", "no");
	}
	return OCTO_CLI_OK;
}

/* originate EXT PROCEDURE NUMBER: rings every device of user EXT; the
 * answered leg runs PROCEDURE at NUMBER. Runs on a thread of its own. */
struct call_orig {
	char ext[72], proc[72], number[72];
};

static void *call_orig_thread(void *arg)
{
	struct call_orig *o = arg;
	struct octo_dial *d = octo_dial_alloc(NULL);
	struct octo_channel *leg = NULL;
	enum octo_dial_status st;

	octo_thread_register("originate");
	if (!d)
		goto out;
	if (!octo_dial_add_user(d, o->ext, 30000, "originate")) {
		octo_log(OCTO_NOTICE, "originate: user %s has no device that can be called now",
			 o->ext);
		octo_dial_free(d);
		goto out;
	}
	st = octo_dial_run(d, 30000, &leg);
	octo_dial_free(d);
	if (st != OCTO_DIAL_ANSWER || !leg) {
		octo_log(OCTO_NOTICE, "originate: user %s: %s", o->ext, octo_dial_status_name(st));
		goto out;
	}
	octo_chan_set(leg, OCTO_CHAN_PROCEDURE, o->proc);
	octo_chan_set(leg, OCTO_CHAN_CALLED, o->number);
	octo_chan_set(leg, OCTO_CHAN_DIALED, o->number);
	octo_chan_set(leg, OCTO_CHAN_CALLER_NUM, o->ext);
	octo_chan_step(leg, "originate: answered, running [%s] %s", o->proc, o->number);
	if (octo_pbx_start(leg) != 0)
		octo_chan_hangup(leg, OCTO_CAUSE_FAILURE);
	octo_obj_unref(leg);
out:
	octo_thread_unregister();
	free(o);
	return NULL;
}

static bool call_cli_word_ok(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || strchr("+*#_-.", *s)))
			return false;
	return true;
}

static int call_cli_originate(struct octo_cli_out *out, int argc, char **argv)
{
	struct call_orig *o;
	pthread_t th;
	pthread_attr_t attr;

	if (argc != 4)
		return OCTO_CLI_USAGE;
	if (!call_cli_word_ok(argv[1]) || !call_cli_word_ok(argv[2]) ||
	    !call_cli_word_ok(argv[3])) {
		octo_cli_error(out,
			       "Arguments may use digits, letters and + * # _ - . (at most 64)");
		return OCTO_CLI_FAIL;
	}
	if (!octo_dialplan_has_procedure(argv[2])) {
		octo_cli_error(out, "No procedure [%s] in the dialplan", argv[2]);
		return OCTO_CLI_FAIL;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return OCTO_CLI_FAIL;
	octo_strlcpy(o->ext, argv[1], sizeof(o->ext));
	octo_strlcpy(o->proc, argv[2], sizeof(o->proc));
	octo_strlcpy(o->number, argv[3], sizeof(o->number));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, call_orig_thread, o) != 0) {
		pthread_attr_destroy(&attr);
		free(o);
		octo_cli_error(out, "Cannot start a thread");
		return OCTO_CLI_FAIL;
	}
	pthread_attr_destroy(&attr);
	octo_cli_printf(out, "Calling user %s; when answered: [%s] %s.", argv[1], argv[2], argv[3]);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd call_cli[] = {
	{ "sip show channels", "List SIP calls (call id, channel, user, state, codec, RTP)", NULL,
	  call_cli_channels, NULL },
	{ "sip show channel", "Show one SIP call", "sip show channel <id|name|call-id>",
	  call_cli_channel, NULL },
	{ "originate", "Call a user's devices; the answered leg runs a procedure at a number",
	  "originate <user> <procedure> <number>", call_cli_originate, NULL },
	{ 0 }
};

/* ---------------------------------------------------------------- life cycle */

int sip_call_register(struct octo_module *self)
{
	if (octo_chan_tech_register(self, &call_tech) != 0)
		return OCTO_EFAIL;
	return octo_cli_register_all(self, call_cli);
}

int sip_call_init(void)
{
	call_table = octo_container_alloc_str(call_key_of, 0);
	if (!call_table)
		return OCTO_ENOMEM;
	sip_option_tag_add("timer");
	if (sip_method_register(SIP_INVITE, call_on_invite) ||
	    sip_method_register(SIP_ACK, call_on_ack) ||
	    sip_method_register(SIP_BYE, call_on_bye) ||
	    sip_method_register(SIP_CANCEL, call_on_cancel) ||
	    sip_method_register(SIP_INFO, call_on_info))
		return OCTO_EFAIL;
	return 0;
}

static void call_fini_loop(void *data)
{
	size_t n = 0;
	void **all = octo_container_snapshot(call_table, &n, NULL);

	for (size_t i = 0; i < n; i++) {
		struct sip_call *c = all[i];

		call_se_stop(c);
		if (c->chan)
			call_event(c, OCTO_EV_HANGUP, OCTO_CAUSE_NORMAL, 0);
		call_unlink(c);
	}
	octo_container_snapshot_free(all, n);
}

void sip_call_fini(void)
{
	if (!call_table)
		return;
	if (sip_loop_run(call_fini_loop, NULL) != 0)
		call_fini_loop(NULL);
	octo_obj_unref(call_table);
	call_table = NULL;
}
