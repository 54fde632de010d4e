/*
 * sip_media.c - chan_sip's RTP endpoints (sip_media.h): port allocation,
 * the media workers, the packet relay between two bridged legs (with
 * PCMU <-> PCMA transcoding and RFC 4733 pass-through), symmetric RTP, the
 * RTP timeout, digit detection, and terminated legs on libortp.
 *
 * DESIGN
 *  - Workers. Each of the N workers (sip.conf [media] media_workers) is a
 *    thread with an epoll set, an eventfd for commands and a timerfd tick.
 *    An endpoint (struct sip_media) belongs to one worker, which owns its
 *    sockets and every field marked "worker" below; the other threads
 *    change those fields only by running a function on the worker
 *    (media_run(), which waits for it, or media_post_copy(), which does
 *    not). Commands run before the fd events of an epoll batch, so a
 *    command given before a packet arrived applies to it; an event of an
 *    endpoint that a command removed (dead, or now another worker's) is
 *    skipped, and the memory of removed endpoints is freed at the end of
 *    the batch (the "grave").
 *  - Control calls (alloc, set_remote, relay, callbacks, free, info) hold
 *    media_ctl while they post to a worker or wait for one; a worker never
 *    takes it, so they cannot deadlock with the workers. The calls made for
 *    every call leg do not wait: what their callers need to know at once
 *    (has a far end, which codec, relayed with whom) is kept on the control
 *    side too (the ctl_ fields). Callbacks run on the workers
 *    after the batch's packets are handled, with no lock held.
 *  - Relay. recvmmsg reads up to MEDIA_BATCH packets of a leg into the
 *    worker's buffers; each accepted packet is rewritten in place (payload
 *    type, transcoded payload) and sent with sendmmsg from the other leg's
 *    socket to that leg's far address. Both legs live on one worker (the
 *    relay moves one over), so this path takes no lock and allocates
 *    nothing.
 *  - Terminated legs. A libortp RtpSession per leg, created on the first
 *    read/write, with a profile of its own (the negotiated payload type and
 *    telephone-event), RTCP off, no ortp scheduler, jitter buffer on. The
 *    session does no socket I/O itself: our RtpTransports, set as the
 *    endpoints of the session's meta transports, read the leg's socket
 *    (symmetric RTP and digit detection happen there, as on the relay
 *    path) and send to the learned far address. The worker
 *    drives the receive side (rtp_session_recvm_with_ts with a user
 *    timestamp that follows the clock and always increases, see
 *    shared/notes/libraries.md) on socket events and on a 10 ms tick, and
 *    decodes into a ring of samples that sip_media_read() takes 160 at a
 *    time. sip_media_write() encodes and sends on the call thread. Both
 *    sides use the session under the endpoint's lock.
 *  - Why ortp does not own the sockets: rtp_session_set_sockets() marks
 *    external sockets as connected (ortp then sends with no address, and a
 *    connected socket cannot learn a NAT address), and the same socket
 *    pair is used by the relay when the leg is bridged later.
 *  - libortp updates a few global statistics counters without locks
 *    (ortp_global_stats); they are not used by Octo.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <ortp/ortp.h>
#include <ortp/telephonyevents.h>

#include "octo/frame.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/octo.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "sip_media.h"
#include "sip_record.h"

#define MEDIA_BATCH 32         /* packets per recvmmsg/sendmmsg */
#define MEDIA_DRAIN_MAX 8      /* batches read from one socket per wake-up */
#define MEDIA_BUF 2048         /* bytes per packet buffer (larger packets are dropped) */
#define MEDIA_RING 1600        /* decoded samples kept for a reader: 200 ms */
#define MEDIA_DIGITQ 16        /* digits kept for a reader */
#define MEDIA_PENDING 64       /* callbacks collected per batch */
#define MEDIA_RELEARN_MS 2000  /* silence of the learned source before another is taken */
#define MEDIA_TICK_TERM_MS 10  /* tick while terminated legs need their jitter buffer */
#define MEDIA_TICK_IDLE_MS 250 /* tick for RTP timeouts only */
#define MEDIA_PACE_AHEAD_MS 60 /* how far a writer may run ahead of real time */
#define MEDIA_TALKSPURT_MS 100 /* a pause in writing this long starts a new talkspurt */
#define MEDIA_MAX_WORKERS 64
#define MEDIA_EVENTS 256       /* epoll events per wake-up */
/* While a worker has at least MEDIA_COALESCE_LEGS endpoints, it pauses
 * MEDIA_COALESCE_US after each wake-up that had packets: they gather in the
 * sockets and one wake-up serves many (a wake-up per packet was as dear as
 * the packet's two system calls). At most 2 ms more delay, only with many
 * calls. */
#define MEDIA_COALESCE_LEGS 64
#define MEDIA_COALESCE_US 2000
#define MEDIA_DTMF_VOLUME 10 /* -10 dBm0 */

#define MEDIA_DEF_START 10000
#define MEDIA_DEF_END 20000
#define MEDIA_DEF_TIMEOUT 60
#define MEDIA_DEF_WORKERS 2

enum media_mode { MEDIA_IDLE = 0, MEDIA_RELAY, MEDIA_TERM };
static const char *const media_mode_names[] = { "idle", "relay", "terminated" };

struct media_worker;

/* What an epoll event points to. */
struct media_tag {
	struct sip_media *m;
	bool rtcp;
};

struct sip_media {
	/* fixed at alloc */
	int fd, rtcp_fd;
	int family;
	unsigned port;
	struct media_tag tag_rtp, tag_rtcp;
	struct sip_media *all_prev, *all_next; /* media_all, under media_list_lock */

	/* the worker owning the sockets: set on the worker, under media_ctl */
	_Atomic(struct media_worker *) owner;
	/* What the control calls asked for, under media_ctl: the worker's own
	 * fields follow in the order of its commands, these at once, so that
	 * set_remote and a relay start on one worker need not wait for it. */
	const struct octo_codec *ctl_codec; /* borrowed: `codec` holds the reference */
	bool ctl_remote;
	struct sip_media *ctl_peer;
	atomic_bool dead;
	struct sip_media *w_prev, *w_next; /* worker: its member list */
	struct sip_media *grave_next;      /* worker */

	/* `lock` protects the fields marked L against the call thread; the
	 * worker writes them with it held and reads them without. */
	pthread_mutex_t lock;
	pthread_cond_t cond;             /* reader wake-up, users leaving */
	unsigned users;                  /* L: threads inside read/write */
	bool closing;                    /* L: sip_media_free has begun */
	enum media_mode mode;            /* L */
	struct sip_media *peer;          /* worker: relay partner */
	struct sip_rec_leg *tap;         /* worker: call recording (sip_record.c) */
	/* worker: a digit went to this relay's recorder, so it may record:
	 * until then the relay does not look at the recorder for each packet
	 * (two cache misses a packet on every bridged call) */
	bool rec_armed;
	const struct octo_codec *codec;  /* L, with a registry reference */
	int pt, dtmf_pt;                 /* L */
	bool has_remote;                 /* L: set_remote was called */
	bool send_ok;                    /* L: a far address to send to */
	struct sockaddr_storage remote;  /* L */
	socklen_t remote_len;            /* L */
	bool learned;                    /* L: remote came from received RTP */
	bool locked_src;                 /* worker: a source was accepted since set_remote */
	bool rx_expected;                /* worker: the far end sends (timeout runs) */
	bool timeout_armed;              /* worker */
	uint64_t last_rx_ms;             /* worker */
	void (*on_timeout)(void *);      /* worker */
	void (*on_digit)(void *, char);  /* worker */
	void *cb_data;                   /* worker */
	uint64_t rx_packets, rx_dropped; /* worker */
	uint64_t tx_packets;             /* worker (relay), L (terminated) */
	struct {
		bool active, reported;
		uint32_t ts, ssrc;
		uint8_t event;
	} ev; /* worker: RFC 4733 receive state */

	/* RTCP: where it goes (learned from the far end's RTCP; len 0: the
	 * RTP address, port + 1), the far end's last report -- written by the
	 * worker under `lock` (read by libortp's sends and the info) */
	struct sockaddr_storage rtcp_remote; /* L */
	socklen_t rtcp_remote_len;           /* L */
	struct sip_rtcp_report report;       /* L */
	uint64_t rtcp_rx, rtcp_dropped;      /* worker */
	atomic_ulong rtcp_tx;                /* worker (relay), L (libortp) */

	/* music on hold: `moh` is read by the relay without the lock */
	atomic_bool moh;
	uint16_t moh_seq;     /* L */
	uint32_t moh_ts, moh_ssrc; /* L */
	bool moh_marker;      /* L */
	uint64_t moh_packets; /* L */

	/* terminated (L) */
	RtpSession *rtp;
	RtpProfile *profile;
	RtpTransport tr, rtcp_tr; /* endpoints of the session's meta transports */
	uint64_t rx_base_ms;
	uint32_t rx_user_ts;
	bool resync;
	int16_t *ring; /* MEDIA_RING samples, made with the session: relayed
			* endpoints, most of them, never need it */
	unsigned ring_head, ring_count;
	char digitq[MEDIA_DIGITQ];
	unsigned dq_head, dq_count;
	uint32_t tx_ts;
	uint64_t tx_base_ms, tx_samples;
	bool tx_started;
};

struct media_cmd {
	void (*fn)(struct media_worker *w, void *arg);
	void *arg;
	bool done;  /* under the worker's qlock */
	bool async; /* malloc'ed; the worker frees it */
	struct media_cmd *next;
};

struct media_pending {
	struct sip_media *m; /* alive until the batch ends (the grave) */
	void (*timeout)(void *);
	void (*digit)(void *, char);
	void *data;
	char d;
};

struct media_worker {
	unsigned index;
	pthread_t thread;
	bool running; /* under media_ctl */
	int epfd, evfd, tfd;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct media_cmd *qhead, *qtail;
	atomic_bool wake_held; /* a wake-up left to sip_media_wake_release */
	atomic_uint members;

	/* worker thread only */
	bool stop;
	struct sip_media *first;
	struct sip_media *grave;
	unsigned nterm;
	unsigned tick_ms;
	uint64_t next_scan_ms;
	struct media_pending pend[MEDIA_PENDING];
	unsigned npend;
	struct mmsghdr rx[MEDIA_BATCH], tx[MEDIA_BATCH];
	struct iovec rx_iov[MEDIA_BATCH], tx_iov[MEDIA_BATCH];
	struct sockaddr_storage rx_addr[MEDIA_BATCH];
	uint8_t buf[MEDIA_BATCH][MEDIA_BUF];
	uint8_t scratch[MEDIA_BUF];
	int16_t pcm[MEDIA_BUF];
	struct sockaddr_storage rtcp_dst; /* the RTCP batch's destination */
};

/* ---------------------------------------------------------------- globals */

static pthread_mutex_t media_ctl = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t media_conf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t media_list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sip_media_conf media_conf = { MEDIA_DEF_START, MEDIA_DEF_END, MEDIA_DEF_TIMEOUT,
					    MEDIA_DEF_WORKERS };
static struct media_worker *media_workers[MEDIA_MAX_WORKERS];
static unsigned media_nworkers; /* under media_ctl */
static bool media_ortp_up;      /* under media_ctl */
static bool media_log_set;      /* under media_ctl */
static unsigned media_cursor;   /* under media_ctl: next port to try */
static struct sip_media *media_all;
static atomic_uint media_total;
static _Thread_local struct media_worker *media_self;
static _Thread_local unsigned media_wake_holds; /* sip_media_wake_hold depth */
static _Thread_local bool media_wakes_held;     /* a worker's wake-up was held */

/* ---------------------------------------------------------------- small helpers */

static uint32_t media_rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static bool media_addr_equal(const struct sockaddr_storage *a, socklen_t alen,
			     const struct sockaddr_storage *b, socklen_t blen)
{
	if (a->ss_family != b->ss_family || !alen || !blen)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr));
	}
	return false;
}

static void media_addr_str(const struct sockaddr_storage *sa, socklen_t len, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "";

	if (!len) {
		octo_strlcpy(buf, "", size);
	} else if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(s4->sin_port));
	} else {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(s6->sin6_port));
	}
}

/* A numeric address into sa for a socket of `family` (an IPv4 address for
 * an IPv6 socket becomes v4-mapped). False when it is not an address. */
static bool media_parse_addr(const char *ip, unsigned port, int family, struct sockaddr_storage *sa,
			     socklen_t *len)
{
	struct in_addr a4;
	struct in6_addr a6;

	memset(sa, 0, sizeof(*sa));
	if (!ip)
		return false;
	if (inet_pton(AF_INET, ip, &a4) == 1) {
		if (family == AF_INET) {
			struct sockaddr_in *s4 = (void *)sa;

			s4->sin_family = AF_INET;
			s4->sin_port = htons((uint16_t)port);
			s4->sin_addr = a4;
			*len = sizeof(*s4);
			return true;
		}
		memset(&a6, 0, sizeof(a6));
		a6.s6_addr[10] = 0xff;
		a6.s6_addr[11] = 0xff;
		memcpy(&a6.s6_addr[12], &a4, 4);
	} else if (inet_pton(AF_INET6, ip, &a6) != 1 || family != AF_INET6) {
		return false;
	}
	{
		struct sockaddr_in6 *s6 = (void *)sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		s6->sin6_addr = a6;
		*len = sizeof(*s6);
	}
	return true;
}

static bool media_addr_is_any(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr == 0;
	if (sa->ss_family == AF_INET6) {
		const struct in6_addr *a =
			&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		static const uint8_t mapped_any[16] = { [10] = 0xff, [11] = 0xff };

		return IN6_IS_ADDR_UNSPECIFIED(a) || !memcmp(a, mapped_any, 16);
	}
	return true;
}

static void media_conf_get(struct sip_media_conf *out)
{
	pthread_mutex_lock(&media_conf_lock);
	*out = media_conf;
	pthread_mutex_unlock(&media_conf_lock);
}

void sip_media_apply(const struct sip_media_conf *conf)
{
	static const struct sip_media_conf defaults = { MEDIA_DEF_START, MEDIA_DEF_END,
							MEDIA_DEF_TIMEOUT, MEDIA_DEF_WORKERS };
	struct sip_media_conf c = conf ? *conf : defaults;

	if (c.rtp_start < 1024 || c.rtp_end > 65535 || c.rtp_start >= c.rtp_end) {
		c.rtp_start = defaults.rtp_start;
		c.rtp_end = defaults.rtp_end;
	}
	if (c.workers < 1 || c.workers > MEDIA_MAX_WORKERS)
		c.workers = defaults.workers;
	pthread_mutex_lock(&media_conf_lock);
	media_conf = c;
	pthread_mutex_unlock(&media_conf_lock);
}

/* ---------------------------------------------------------------- workers: commands */

static void media_wake(struct media_worker *w)
{
	uint64_t one = 1;

	if (write(w->evfd, &one, sizeof(one)) < 0) {
		/* the counter is full: the worker has a wake-up pending anyway */
	}
}

/* Runs fn(w, arg) on worker w and waits for it. Inline when called on w
 * itself or when w does not run (start-up failure, after stop). */
static void media_run(struct media_worker *w, void (*fn)(struct media_worker *, void *), void *arg)
{
	struct media_cmd cmd = { .fn = fn, .arg = arg };

	if (media_self == w || !w->running) {
		fn(w, arg);
		return;
	}
	pthread_mutex_lock(&w->qlock);
	if (w->qtail)
		w->qtail->next = &cmd;
	else
		w->qhead = &cmd;
	w->qtail = &cmd;
	pthread_mutex_unlock(&w->qlock);
	media_wake(w);
	pthread_mutex_lock(&w->qlock);
	while (!cmd.done)
		pthread_cond_wait(&w->qcond, &w->qlock);
	pthread_mutex_unlock(&w->qlock);
}

/* Queues an async command. The worker takes the whole queue after reading
 * its eventfd, so only the first command of a batch needs to wake it. */
static void media_post_cmd(struct media_worker *w, struct media_cmd *cmd)
{
	bool wake;

	pthread_mutex_lock(&w->qlock);
	wake = !w->qhead;
	if (w->qtail)
		w->qtail->next = cmd;
	else
		w->qhead = cmd;
	w->qtail = cmd;
	pthread_mutex_unlock(&w->qlock);
	if (wake && media_wake_holds) {
		atomic_store(&w->wake_held, true);
		media_wakes_held = true;
	} else if (wake) {
		media_wake(w);
	}
}

void sip_media_wake_hold(void)
{
	media_wake_holds++;
}

void sip_media_wake_release(void)
{
	if (!media_wake_holds || --media_wake_holds || !media_wakes_held)
		return; /* most batches (REGISTERs, in-dialog requests) post nothing */
	media_wakes_held = false;
	pthread_mutex_lock(&media_ctl);
	for (unsigned i = 0; i < media_nworkers; i++) {
		struct media_worker *w = media_workers[i];

		if (w && atomic_exchange(&w->wake_held, false))
			media_wake(w);
	}
	pthread_mutex_unlock(&media_ctl);
}

/* Posts fn(w, arg) to w without waiting (from another worker). */
static void media_post(struct media_worker *w, void (*fn)(struct media_worker *, void *), void *arg)
{
	struct media_cmd *cmd = calloc(1, sizeof(*cmd));

	if (!cmd) {
		octo_log(OCTO_ERROR, "SIP media: out of memory posting to worker %u", w->index);
		return;
	}
	cmd->fn = fn;
	cmd->arg = arg;
	cmd->async = true;
	media_post_cmd(w, cmd);
}

/* Runs fn(w, copy of arg) on w without waiting: the control calls whose
 * caller needs no result from the worker (alloc, set_remote, callbacks,
 * relay, taps, free). The event loop makes them for every call leg; waiting for a worker each
 * time blocked the whole SIP stack for a thread wake-up (measured: most of
 * its context switches under load). Commands stay in order, so a later
 * media_run() sees them done. Inline when w does not run. `size` 0 passes
 * the pointer itself (an endpoint). */
static void media_post_copy(struct media_worker *w, void (*fn)(struct media_worker *, void *),
			    const void *arg, size_t size)
{
	struct media_cmd *cmd;

	if (media_self == w || !w->running) {
		fn(w, (void *)arg);
		return;
	}
	cmd = calloc(1, sizeof(*cmd) + size);
	if (!cmd) {
		/* out of memory: the slow way still works */
		media_run(w, fn, (void *)arg);
		return;
	}
	cmd->fn = fn;
	cmd->arg = size ? memcpy(cmd + 1, arg, size) : (void *)arg; /* 0: arg itself */
	cmd->async = true;
	media_post_cmd(w, cmd);
}

/* Posts fn(copy of arg) to the worker owning m, under media_ctl (so in
 * order with the other control calls). false when m has no worker. Not on
 * a worker. */
static bool media_post_to(struct sip_media *m, void (*fn)(struct media_worker *, void *),
			  const void *arg, size_t size)
{
	struct media_worker *w;

	pthread_mutex_lock(&media_ctl);
	w = atomic_load(&m->owner);
	if (w)
		media_post_copy(w, fn, arg, size);
	pthread_mutex_unlock(&media_ctl);
	return w != NULL;
}

static void media_commands(struct media_worker *w)
{
	struct media_cmd *cmd;
	uint64_t count;

	if (read(w->evfd, &count, sizeof(count)) < 0) {
		/* nothing to read: another batch took the wake-up */
	}
	pthread_mutex_lock(&w->qlock);
	cmd = w->qhead;
	w->qhead = w->qtail = NULL;
	pthread_mutex_unlock(&w->qlock);
	while (cmd) {
		struct media_cmd *next = cmd->next;

		cmd->fn(w, cmd->arg);
		if (cmd->async) {
			free(cmd);
		} else {
			/* the waiter's stack frame: not touched after `done` */
			pthread_mutex_lock(&w->qlock);
			cmd->done = true;
			pthread_cond_broadcast(&w->qcond);
			pthread_mutex_unlock(&w->qlock);
		}
		cmd = next;
	}
}

/* ---------------------------------------------------------------- workers: callbacks */

static void media_pend(struct media_worker *w, struct sip_media *m, void (*timeout)(void *),
		       void (*digit)(void *, char), void *data, char d)
{
	if (w->npend == MEDIA_PENDING) {
		octo_log(OCTO_WARNING, "SIP media: too many callbacks in one batch, one dropped");
		return;
	}
	w->pend[w->npend++] = (struct media_pending){ m, timeout, digit, data, d };
}

static void media_flush(struct media_worker *w)
{
	unsigned n = w->npend;

	/* callbacks may not call sip_media_*, but if one frees an endpoint
	 * on this worker anyway, that only marks it dead until the batch ends */
	w->npend = 0;
	for (unsigned i = 0; i < n; i++) {
		struct media_pending p = w->pend[i];

		/* sip_media_free() does not wait for the worker: it marks the
		 * endpoint closing under its lock, and a callback runs only
		 * under that lock while it is not, so none runs (on data that
		 * may be gone) once sip_media_free() has returned */
		pthread_mutex_lock(&p.m->lock);
		if (p.m->closing) {
			pthread_mutex_unlock(&p.m->lock);
			continue;
		}
		if (p.timeout)
			p.timeout(p.data);
		else if (p.digit)
			p.digit(p.data, p.d);
		pthread_mutex_unlock(&p.m->lock);
	}
}

/* ---------------------------------------------------------------- workers: membership */

static void media_tick_arm(struct media_worker *w)
{
	unsigned ms = w->nterm ? MEDIA_TICK_TERM_MS : MEDIA_TICK_IDLE_MS;
	struct itimerspec its = { 0 };

	if (ms == w->tick_ms)
		return;
	w->tick_ms = ms;
	its.it_interval.tv_sec = ms / 1000;
	its.it_interval.tv_nsec = (long)(ms % 1000) * 1000000L;
	its.it_value = its.it_interval;
	timerfd_settime(w->tfd, 0, &its, NULL);
}

static void media_attach_fn(struct media_worker *w, void *arg)
{
	struct sip_media *m = arg;
	/* Edge-triggered: a level-triggered socket read dry stayed on the
	 * ready list and was polled again at the next wait for nothing (a
	 * tenth of a relaying worker's time). A datagram's arrival always
	 * queues the socket again; the readers read until the socket is dry
	 * and terminated legs are pumped by the tick as well. */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };

	ev.data.ptr = &m->tag_rtp;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, m->fd, &ev);
	ev.data.ptr = &m->tag_rtcp;
	epoll_ctl(w->epfd, EPOLL_CTL_ADD, m->rtcp_fd, &ev);
	m->w_prev = NULL;
	m->w_next = w->first;
	if (w->first)
		w->first->w_prev = m;
	w->first = m;
	atomic_store(&m->owner, w);
	atomic_fetch_add(&w->members, 1);
	if (m->mode == MEDIA_TERM) {
		w->nterm++;
		media_tick_arm(w);
	}
}

/* Takes m off w (epoll, member list); m->owner becomes NULL. */
static void media_unhook(struct media_worker *w, struct sip_media *m)
{
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, m->fd, NULL);
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, m->rtcp_fd, NULL);
	if (m->w_prev)
		m->w_prev->w_next = m->w_next;
	else if (w->first == m)
		w->first = m->w_next;
	if (m->w_next)
		m->w_next->w_prev = m->w_prev;
	m->w_prev = m->w_next = NULL;
	atomic_store(&m->owner, NULL);
	atomic_fetch_sub(&w->members, 1);
	if (m->mode == MEDIA_TERM) {
		w->nterm--;
		media_tick_arm(w);
	}
}

static void media_detach_fn(struct media_worker *w, void *arg)
{
	media_unhook(w, arg);
}

static void media_set_mode(struct sip_media *m, enum media_mode mode)
{
	pthread_mutex_lock(&m->lock);
	m->mode = mode;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void media_destroy(struct sip_media *m)
{
	if (m->tap)
		sip_rec_release(m->tap);
	m->tap = NULL;
	/* the session first: it may still send (RTCP) through our sockets */
	if (m->rtp)
		rtp_session_destroy(m->rtp);
	m->rtp = NULL;
	if (m->fd >= 0)
		close(m->fd);
	if (m->rtcp_fd >= 0)
		close(m->rtcp_fd);
	if (m->profile)
		rtp_profile_destroy(m->profile);
	if (m->codec)
		octo_registry_put(OCTO_REG_CODEC, m->codec, "chan_sip");
	free(m->ring);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	free(m);
}

/* Ends m on its worker: no event, callback or relay touches it after this;
 * the memory goes at the end of the batch. */
static void media_kill_fn(struct media_worker *w, void *arg)
{
	struct sip_media *m = arg;

	if (atomic_load(&m->dead))
		return;
	atomic_store(&m->dead, true);
	if (m->tap)
		sip_rec_release(m->tap);
	m->tap = NULL;
	if (m->peer) {
		struct sip_media *p = m->peer;

		p->peer = NULL;
		if (p->mode == MEDIA_RELAY)
			media_set_mode(p, MEDIA_IDLE);
		m->peer = NULL;
	}
	if (atomic_load(&m->owner) == w)
		media_unhook(w, m);
	m->grave_next = w->grave;
	w->grave = m;
}

static void media_bury(struct media_worker *w)
{
	while (w->grave) {
		struct sip_media *m = w->grave;

		w->grave = m->grave_next;
		media_destroy(m);
	}
}

/* ---------------------------------------------------------------- packets */

enum media_kind { PK_DROP = 0, PK_AUDIO, PK_EVENT };

/* RTP header check (RFC 3550 5.1): version 2, CSRCs, extension and padding
 * inside the packet. Sets the payload offset and length. */
static bool media_rtp_parse(const uint8_t *pkt, size_t len, size_t *off, size_t *plen)
{
	size_t hdr, pad = 0;

	if (len < 12 || (pkt[0] >> 6) != 2)
		return false;
	hdr = 12 + 4u * (pkt[0] & 0x0f);
	if (pkt[0] & 0x10) {
		if (len < hdr + 4)
			return false;
		hdr += 4 + 4u * (((size_t)pkt[hdr + 2] << 8) | pkt[hdr + 3]);
	}
	if (hdr > len)
		return false;
	if (pkt[0] & 0x20) {
		pad = pkt[len - 1];
		if (pad == 0 || pad > len - hdr)
			return false;
	}
	*off = hdr;
	*plen = len - hdr - pad;
	return true;
}

/* Symmetric RTP: is `src` the far end? Learns it when it may. Called on the
 * worker; `locked`: m->lock is held already. */
static bool media_accept_src(struct sip_media *m, const struct sockaddr_storage *src,
			     socklen_t slen, uint64_t now, bool locked)
{
	bool same = media_addr_equal(src, slen, &m->remote, m->remote_len);
	char was[80], now_s[80];

	if (same && m->locked_src)
		return true;
	if (m->locked_src && now - m->last_rx_ms < MEDIA_RELEARN_MS)
		return false;
	/* first packet since set_remote, or the learned source went silent */
	if (!same) {
		if (octo_log_debug_level >= 1) {
			media_addr_str(&m->remote, m->remote_len, was, sizeof(was));
			media_addr_str(src, slen, now_s, sizeof(now_s));
			octo_debug(1, "SIP media %u: RTP comes from %s, sending there (was %s)",
				   m->port, now_s, was[0] ? was : "none");
		}
		if (!locked)
			pthread_mutex_lock(&m->lock);
		/* the address only: whether to send at all is the SDP's say */
		memcpy(&m->remote, src, slen);
		m->remote_len = slen;
		m->learned = true;
		if (!locked)
			pthread_mutex_unlock(&m->lock);
	}
	m->locked_src = true;
	return true;
}

/* Checks one received packet: source, RTP header, payload type. */
static enum media_kind media_classify(struct sip_media *m, const uint8_t *pkt, size_t len,
				      const struct sockaddr_storage *src, socklen_t slen,
				      uint64_t now, bool locked, size_t *off, size_t *plen)
{
	int pt;

	if (!m->has_remote || !media_rtp_parse(pkt, len, off, plen)) {
		m->rx_dropped++;
		return PK_DROP;
	}
	if (!media_accept_src(m, src, slen, now, locked)) {
		m->rx_dropped++;
		return PK_DROP;
	}
	m->rx_packets++;
	m->last_rx_ms = now;
	pt = pkt[1] & 0x7f;
	if (m->dtmf_pt >= 0 && pt == m->dtmf_pt)
		return PK_EVENT;
	if (pt == m->pt)
		return PK_AUDIO;
	m->rx_dropped++;
	return PK_DROP;
}

static char media_event_char(uint8_t ev)
{
	static const char map[] = "0123456789*#ABCD";

	return ev < 16 ? map[ev] : 0;
}

/* RFC 4733 receive: fills out[] with the digits that ended (at most 2: a
 * previous event that never sent its end, and this one). */
static unsigned media_event(struct sip_media *m, const uint8_t *pkt, size_t off, size_t plen,
			    char out[2])
{
	uint32_t ts = media_rd32(pkt + 4), ssrc = media_rd32(pkt + 8);
	const uint8_t *p = pkt + off;
	unsigned n = 0;

	if (plen < 4)
		return 0;
	if (m->ev.active && m->ev.ssrc == ssrc && (int32_t)(ts - m->ev.ts) < 0)
		return 0; /* a late packet of an older event */
	if (!m->ev.active || m->ev.ssrc != ssrc || m->ev.ts != ts) {
		if (m->ev.active && !m->ev.reported && media_event_char(m->ev.event))
			out[n++] = media_event_char(m->ev.event);
		m->ev.active = true;
		m->ev.reported = false;
		m->ev.ts = ts;
		m->ev.ssrc = ssrc;
		m->ev.event = p[0];
	}
	if ((p[1] & 0x80) && !m->ev.reported) {
		m->ev.reported = true;
		if (media_event_char(p[0]))
			out[n++] = media_event_char(p[0]);
	}
	return n;
}

/* A received digit goes to the digit callback, or to the reader's queue. */
static void media_digit(struct media_worker *w, struct sip_media *m, char d, bool locked)
{
	if (m->on_digit) {
		media_pend(w, m, NULL, m->on_digit, m->cb_data, d);
		return;
	}
	if (!locked)
		pthread_mutex_lock(&m->lock);
	if (m->dq_count == MEDIA_DIGITQ) {
		m->dq_head = (m->dq_head + 1) % MEDIA_DIGITQ;
		m->dq_count--;
	}
	m->digitq[(m->dq_head + m->dq_count) % MEDIA_DIGITQ] = d;
	m->dq_count++;
	pthread_cond_broadcast(&m->cond);
	if (!locked)
		pthread_mutex_unlock(&m->lock);
}

/* Queues pkt (len bytes) to `to` on the worker's send batch. */
static void media_tx_queue(struct media_worker *w, unsigned *ntx, uint8_t *pkt, size_t len,
			   void *to, socklen_t tolen)
{
	w->tx_iov[*ntx].iov_base = pkt;
	w->tx_iov[*ntx].iov_len = len;
	w->tx[*ntx].msg_hdr = (struct msghdr){
		.msg_name = to,
		.msg_namelen = tolen,
		.msg_iov = &w->tx_iov[*ntx],
		.msg_iovlen = 1,
	};
	(*ntx)++;
}

/* Relay: rewrites packet i of the batch for `peer` and queues it on tx. */
static bool media_forward(struct media_worker *w, struct sip_media *m, struct sip_media *peer,
			  uint8_t *pkt, size_t len, size_t off, size_t plen, bool event,
			  unsigned *ntx)
{
	int to_pt = event ? peer->dtmf_pt : peer->pt;

	/* music on hold plays to the peer instead of this leg's audio */
	if (!peer->send_ok || atomic_load_explicit(&peer->moh, memory_order_relaxed))
		return false;
	if (!event && m->codec != peer->codec) {
		size_t k = 0;

		if (m->codec && peer->codec && m->codec->transcode)
			k = m->codec->transcode(peer->codec, pkt + off, plen, w->scratch,
						sizeof(w->scratch));
		if (k != plen)
			return false; /* only same-size (G.711) conversions are done in place */
		memcpy(pkt + off, w->scratch, plen);
	}
	pkt[1] = (uint8_t)((pkt[1] & 0x80) | (to_pt & 0x7f));
	media_tx_queue(w, ntx, pkt, len, &peer->remote, peer->remote_len);
	return true;
}

/* Sends the ntx packets queued on the worker from fd: how many went out. */
static unsigned media_send_queued(struct media_worker *w, int fd, unsigned ntx)
{
	unsigned sent = 0, ok = 0;

	while (sent < ntx) {
		int r = sendmmsg(fd, w->tx + sent, ntx - sent, MSG_DONTWAIT);

		if (r > 0) {
			sent += (unsigned)r;
			ok += (unsigned)r;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break; /* the socket buffer is full: drop the rest */
		} else {
			sent++; /* this one failed (e.g. unreachable): skip it */
		}
	}
	return ok;
}

static void media_send_batch(struct media_worker *w, struct sip_media *peer, unsigned ntx)
{
	peer->tx_packets += media_send_queued(w, peer->fd, ntx);
}

/* Reads a batch of up to MEDIA_BATCH datagrams from fd into the worker's
 * buffers: their count (recvmmsg). */
static int media_recv_batch(struct media_worker *w, int fd)
{
	for (unsigned i = 0; i < MEDIA_BATCH; i++) {
		w->rx_iov[i].iov_base = w->buf[i];
		w->rx_iov[i].iov_len = MEDIA_BUF;
		w->rx[i].msg_hdr = (struct msghdr){
			.msg_name = &w->rx_addr[i],
			.msg_namelen = sizeof(w->rx_addr[i]),
			.msg_iov = &w->rx_iov[i],
			.msg_iovlen = 1,
		};
	}
	return recvmmsg(fd, w->rx, MEDIA_BATCH, MSG_DONTWAIT, NULL);
}

/* A digit went to m's recorder: a recording may start, in either direction
 * of the relay (worker). */
static void media_rec_arm(struct sip_media *m)
{
	m->rec_armed = true;
	if (m->mode == MEDIA_RELAY && m->peer)
		m->peer->rec_armed = true;
}

/* Idle and relay: reads a batch from m's RTP socket; the number read. */
static int media_rx_batch(struct media_worker *w, struct sip_media *m)
{
	struct sip_media *peer = m->mode == MEDIA_RELAY ? m->peer : NULL;
	uint64_t now = octo_now_ms();
	unsigned ntx = 0;
	int n;

	n = media_recv_batch(w, m->fd);
	for (int i = 0; i < n; i++) {
		uint8_t *pkt = w->buf[i];
		size_t len = w->rx[i].msg_len, off, plen;
		enum media_kind kind;

		if (w->rx[i].msg_hdr.msg_flags & MSG_TRUNC) {
			m->rx_dropped++;
			continue;
		}
		kind = media_classify(m, pkt, len, &w->rx_addr[i], w->rx[i].msg_hdr.msg_namelen,
				      now, false, &off, &plen);
		if (kind == PK_EVENT) {
			bool fwd = peer && peer->dtmf_pt >= 0;

			if (!fwd || m->tap) {
				/* the recorder sees the digits the relay passes on */
				char d[2];
				unsigned nd = media_event(m, pkt, off, plen, d);

				for (unsigned k = 0; k < nd; k++) {
					if (m->tap) {
						media_rec_arm(m);
						sip_rec_digit(m->tap, d[k]);
					}
					if (!fwd)
						media_digit(w, m, d[k], false);
				}
			}
			if (fwd)
				media_forward(w, m, peer, pkt, len, off, plen, true, &ntx);
		} else if (kind == PK_AUDIO && peer) {
			if (m->rec_armed) {
				if (m->tap)
					sip_rec_audio(m->tap, m->codec, pkt + off, plen);
				if (peer->tap) /* the recording's beep, to the peer */
					sip_rec_beep(peer->tap, m->codec, pkt + off, plen);
			}
			media_forward(w, m, peer, pkt, len, off, plen, false, &ntx);
		}
	}
	if (ntx)
		media_send_batch(w, peer, ntx);
	media_flush(w);
	return n;
}

/* Reads one of m's sockets dry with `batch` (they are edge-triggered), or
 * MEDIA_DRAIN_MAX batches: a flood on one leg does not starve the others,
 * and its next datagram queues the socket again. */
static void media_read_dry(struct media_worker *w, struct sip_media *m,
			   int (*batch)(struct media_worker *, struct sip_media *))
{
	for (int k = 0; k < MEDIA_DRAIN_MAX; k++)
		if (batch(w, m) < MEDIA_BATCH || atomic_load(&m->dead))
			break;
}

/* ---------------------------------------------------------------- RTCP */

static bool media_ip_equal(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return false;
}

/* Where m's RTCP goes: the learned RTCP source, else the RTP address with
 * port + 1 (RFC 3550 11); false when there is nowhere to send. Reads L
 * fields: the worker, or a holder of m->lock. */
static bool media_rtcp_dest(const struct sip_media *m, struct sockaddr_storage *out,
			    socklen_t *len)
{
	uint16_t port;

	if (m->rtcp_remote_len) {
		memcpy(out, &m->rtcp_remote, m->rtcp_remote_len);
		*len = m->rtcp_remote_len;
		return true;
	}
	if (!m->send_ok || !m->remote_len)
		return false;
	memcpy(out, &m->remote, m->remote_len);
	*len = m->remote_len;
	if (out->ss_family == AF_INET) {
		struct sockaddr_in *s4 = (void *)out;

		port = ntohs(s4->sin_port);
		s4->sin_port = htons((uint16_t)(port + 1));
	} else {
		struct sockaddr_in6 *s6 = (void *)out;

		port = ntohs(s6->sin6_port);
		s6->sin6_port = htons((uint16_t)(port + 1));
	}
	return port != 0 && port != 65535;
}

/* Every mode: reads a batch from m's RTCP socket; valid compound packets
 * from the far end's IP are counted, their report kept, their source
 * learned (symmetric RTCP), and -- relaying -- sent on from the partner's
 * RTCP socket to the partner's RTCP address. */
static int media_rtcp_rx_batch(struct media_worker *w, struct sip_media *m)
{
	struct sip_media *peer = m->mode == MEDIA_RELAY ? m->peer : NULL;
	socklen_t dlen = 0;
	bool can_send = false;
	unsigned ntx = 0;
	int n;

	n = media_recv_batch(w, m->rtcp_fd);
	if (n > 0 && peer)
		can_send = media_rtcp_dest(peer, &w->rtcp_dst, &dlen);
	for (int i = 0; i < n; i++) {
		const struct sockaddr_storage *src = &w->rx_addr[i];
		socklen_t slen = w->rx[i].msg_hdr.msg_namelen;
		size_t len = w->rx[i].msg_len;
		struct sip_rtcp_report rep = { 0 };

		if ((w->rx[i].msg_hdr.msg_flags & MSG_TRUNC) || !m->has_remote || !m->remote_len ||
		    !media_ip_equal(src, &m->remote) ||
		    !sip_rtcp_check(w->buf[i], len, true, &rep)) {
			m->rtcp_dropped++;
			continue;
		}
		m->rtcp_rx++;
		if (rep.valid ||
		    !media_addr_equal(src, slen, &m->rtcp_remote, m->rtcp_remote_len)) {
			pthread_mutex_lock(&m->lock);
			if (rep.valid)
				m->report = rep;
			memcpy(&m->rtcp_remote, src, slen);
			m->rtcp_remote_len = slen;
			pthread_mutex_unlock(&m->lock);
		}
		if (!can_send)
			continue;
		media_tx_queue(w, &ntx, w->buf[i], len, &w->rtcp_dst, dlen);
	}
	if (ntx)
		atomic_fetch_add_explicit(&peer->rtcp_tx, media_send_queued(w, peer->rtcp_fd, ntx),
					  memory_order_relaxed);
	return n;
}

/* ---------------------------------------------------------------- terminated legs (libortp) */

static ortp_socket_t term_getsocket(RtpTransport *t)
{
	return ((struct sip_media *)t->data)->fd;
}

/* ortp's receive path (under m->lock, on the worker): the next audio packet
 * of the far end, after the checks of the relay path. */
static int term_recvfrom(RtpTransport *t, mblk_t *msg, int flags, struct sockaddr *from,
			 socklen_t *fromlen)
{
	struct sip_media *m = t->data;
	struct media_worker *w = atomic_load(&m->owner);
	size_t cap = (size_t)(dblk_lim(msg->b_datap) - msg->b_wptr);
	uint64_t now = octo_now_ms();

	for (;;) {
		struct sockaddr_storage src;
		socklen_t slen = sizeof(src);
		size_t off, plen;
		enum media_kind kind;
		ssize_t n = recvfrom(m->fd, msg->b_wptr, cap, MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&src, &slen);

		if (n < 0)
			return -1; /* EAGAIN: ortp stops reading */
		if ((size_t)n > cap) {
			m->rx_dropped++;
			continue;
		}
		kind = media_classify(m, msg->b_wptr, (size_t)n, &src, slen, now, true, &off,
				      &plen);
		if (kind == PK_EVENT) {
			char d[2];
			unsigned nd = media_event(m, msg->b_wptr, off, plen, d);

			for (unsigned k = 0; k < nd && w; k++)
				media_digit(w, m, d[k], true);
			continue;
		}
		if (kind != PK_AUDIO)
			continue;
		if (from && fromlen) {
			memcpy(from, &src, slen < *fromlen ? slen : *fromlen);
			*fromlen = slen;
		}
		memcpy(&msg->net_addr, &src, slen);
		msg->net_addrlen = slen;
		gettimeofday(&msg->timestamp, NULL);
		return (int)n;
	}
}

/* Copies the blocks of an ortp message into buf: false when they do not fit. */
static bool term_flatten(const mblk_t *msg, uint8_t *buf, size_t size, size_t *len)
{
	*len = 0;
	for (const mblk_t *b = msg; b; b = b->b_cont) {
		size_t k = (size_t)(b->b_wptr - b->b_rptr);

		if (*len + k > size)
			return false;
		memcpy(buf + *len, b->b_rptr, k);
		*len += k;
	}
	return true;
}

/* ortp's send path (under m->lock, on the call thread). */
static int term_sendto(RtpTransport *t, mblk_t *msg, int flags, const struct sockaddr *to,
		       socklen_t tolen)
{
	struct sip_media *m = t->data;
	uint8_t buf[MEDIA_BUF];
	size_t len;
	ssize_t r;

	if (!term_flatten(msg, buf, sizeof(buf), &len))
		return -1;
	if (!m->send_ok || atomic_load(&m->moh))
		return (int)len; /* on hold, music, or far address unknown: counted as sent */
	r = sendto(m->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&m->remote, m->remote_len);
	if (r < 0)
		return (int)len; /* ortp would log every failure: the network drops it */
	m->tx_packets++;
	return (int)r;
}

static void term_close(RtpTransport *t)
{
}

/* RTCP: the worker drains the socket; ortp reads and sends nothing. */
static ortp_socket_t term_rtcp_getsocket(RtpTransport *t)
{
	return ((struct sip_media *)t->data)->rtcp_fd;
}

static int term_rtcp_recvfrom(RtpTransport *t, mblk_t *msg, int flags, struct sockaddr *from,
			      socklen_t *fromlen)
{
	errno = EAGAIN;
	return -1;
}

/* libortp's reports (under m->lock): to the far end's RTCP address. */
static int term_rtcp_sendto(RtpTransport *t, mblk_t *msg, int flags, const struct sockaddr *to,
			    socklen_t tolen)
{
	struct sip_media *m = t->data;
	struct sockaddr_storage dst;
	socklen_t dlen = 0;
	uint8_t buf[MEDIA_BUF];
	size_t len;

	if (!term_flatten(msg, buf, sizeof(buf), &len))
		return -1;
	if (m->closing || !media_rtcp_dest(m, &dst, &dlen))
		return (int)len;
	if (sendto(m->rtcp_fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&dst, dlen) > 0)
		atomic_fetch_add_explicit(&m->rtcp_tx, 1, memory_order_relaxed);
	return (int)len;
}

static void term_tr_destroy(RtpTransport *t)
{
	/* embedded in struct sip_media: nothing to free */
}

static void term_on_resync(RtpSession *s, void *a1, void *a2, void *a3)
{
	/* emitted inside ortp's parser: resync once the current call returns */
	struct sip_media *m = a1;

	m->resync = true;
}

static void term_on_jump(RtpSession *s, void *ts, void *a2, void *a3)
{
	struct sip_media *m = a2;

	m->resync = true;
}

/* A profile with the leg's payload types (m->lock held). */
static RtpProfile *term_profile(const struct sip_media *m)
{
	RtpProfile *p = rtp_profile_new("octo");

	if (!p)
		return NULL;
	if (m->codec && !strcasecmp(m->codec->name, "PCMA"))
		rtp_profile_set_payload(p, m->pt, &payload_type_pcma8000);
	else
		rtp_profile_set_payload(p, m->pt, &payload_type_pcmu8000);
	if (m->dtmf_pt >= 0)
		rtp_profile_set_payload(p, m->dtmf_pt, &payload_type_telephone_event);
	return p;
}

/* Puts the negotiated payload types into the session (m->lock held). */
static void term_apply_payload(struct sip_media *m)
{
	RtpProfile *p = term_profile(m), *old = m->profile;

	if (!p)
		return;
	rtp_session_set_profile(m->rtp, p);
	rtp_session_set_payload_type(m->rtp, m->pt);
	m->profile = p;
	if (old)
		rtp_profile_destroy(old);
	rtp_session_resync(m->rtp);
	m->ev.active = false;
}

static bool term_session(struct sip_media *m)
{
	JBParameters jb;
	RtpSession *s;
	RtpTransport *meta_rtp = NULL, *meta_rtcp = NULL;

	if (!m->ring && !(m->ring = malloc(MEDIA_RING * sizeof(*m->ring))))
		return false;
	s = rtp_session_new(RTP_SESSION_SENDRECV);
	if (!s)
		return false;
	/* the session's I/O goes through its meta transports; ours are
	 * their endpoints (the public way to plug in a transport) */
	rtp_session_get_transports(s, &meta_rtp, &meta_rtcp);
	if (!meta_rtp || !meta_rtcp) {
		rtp_session_destroy(s);
		return false;
	}
	rtp_session_set_scheduling_mode(s, 0);
	rtp_session_set_blocking_mode(s, 0);
	/* reports go out through term_rtcp_sendto; what comes in is read
	 * by the worker (media_rtcp_rx_batch) */
	rtp_session_enable_rtcp(s, TRUE);
	rtp_session_set_rtcp_report_interval(s, 5000);
	rtp_session_set_recv_buf_size(s, MEDIA_BUF);
	rtp_session_set_ssrc_changed_threshold(s, 0);
	rtp_session_enable_jitter_buffer(s, TRUE);
	rtp_session_get_jitter_buffer_params(s, &jb);
	jb.min_size = 40;
	jb.nom_size = 60;
	jb.max_size = 250;
	jb.adaptive = TRUE;
	jb.max_packets = 100;
	rtp_session_set_jitter_buffer_params(s, &jb);
	m->tr = (RtpTransport){
		.data = m,
		.t_getsocket = term_getsocket,
		.t_sendto = term_sendto,
		.t_recvfrom = term_recvfrom,
		.t_close = term_close,
		.t_destroy = term_tr_destroy,
	};
	m->rtcp_tr = (RtpTransport){
		.data = m,
		.t_getsocket = term_rtcp_getsocket,
		.t_sendto = term_rtcp_sendto,
		.t_recvfrom = term_rtcp_recvfrom,
		.t_close = term_close,
		.t_destroy = term_tr_destroy,
	};
	meta_rtp_transport_set_endpoint(meta_rtp, &m->tr);
	meta_rtp_transport_set_endpoint(meta_rtcp, &m->rtcp_tr);
	rtp_session_signal_connect(s, "ssrc_changed", term_on_resync, m);
	rtp_session_signal_connect(s, "timestamp_jump", term_on_jump, m);
	m->rtp = s;
	/* a random first timestamp (RFC 3550 5.1) */
	m->tx_ts = (uint32_t)(octo_wall_us() * 2654435761u) ^ (uint32_t)(uintptr_t)m;
	term_apply_payload(m);
	return m->profile != NULL;
}

static void term_ring_push(struct sip_media *m, const int16_t *pcm, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (m->ring_count == MEDIA_RING) {
			m->ring_head = (m->ring_head + 1) % MEDIA_RING; /* the oldest goes */
			m->ring_count--;
		}
		m->ring[(m->ring_head + m->ring_count) % MEDIA_RING] = pcm[i];
		m->ring_count++;
	}
}

/* Worker: lets ortp read the socket and hand out what its jitter buffer
 * releases now; decodes it into the ring. */
static void term_pump(struct media_worker *w, struct sip_media *m)
{
	uint64_t now = octo_now_ms();
	bool got = false;
	uint32_t ts;

	pthread_mutex_lock(&m->lock);
	if (m->mode != MEDIA_TERM || !m->rtp) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	/* the user timestamp follows the clock and must change from call to
	 * call, or ortp does not read the socket */
	ts = (uint32_t)((now - m->rx_base_ms) * (OCTO_FRAME_RATE / 1000));
	if ((int32_t)(ts - m->rx_user_ts) <= 0)
		ts = m->rx_user_ts + 1;
	m->rx_user_ts = ts;
	for (int k = 0; k < 64; k++) {
		mblk_t *mp = rtp_session_recvm_with_ts(m->rtp, ts);
		unsigned char *payload;
		int plen;

		if (!mp)
			break;
		plen = rtp_get_payload(mp, &payload);
		if (plen > 0 && rtp_get_payload_type(mp) == m->pt && m->codec) {
			size_t n = m->codec->decode(payload, (size_t)plen, w->pcm, MEDIA_BUF);

			term_ring_push(m, w->pcm, n);
			got = true;
		}
		freemsg(mp);
	}
	if (m->resync) {
		m->resync = false;
		rtp_session_resync(m->rtp);
	}
	if (got)
		pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	media_flush(w);
}

/* ---------------------------------------------------------------- the worker thread */

static void media_tick(struct media_worker *w)
{
	uint64_t exp, now = octo_now_ms();
	struct sip_media_conf c;

	if (read(w->tfd, &exp, sizeof(exp)) < 0) {
		/* spurious */
	}
	if (w->nterm)
		for (struct sip_media *m = w->first; m; m = m->w_next)
			if (m->mode == MEDIA_TERM && !atomic_load(&m->dead))
				term_pump(w, m);
	if (now < w->next_scan_ms)
		return;
	w->next_scan_ms = now + MEDIA_TICK_IDLE_MS;
	media_conf_get(&c);
	if (!c.rtp_timeout)
		return;
	for (struct sip_media *m = w->first; m && w->npend < MEDIA_PENDING; m = m->w_next) {
		if (!m->timeout_armed || !m->rx_expected || atomic_load(&m->dead))
			continue;
		if (now - m->last_rx_ms < (uint64_t)c.rtp_timeout * 1000)
			continue;
		m->timeout_armed = false;
		octo_debug(1, "SIP media %u: no RTP for %u s", m->port, c.rtp_timeout);
		if (m->on_timeout)
			media_pend(w, m, m->on_timeout, NULL, m->cb_data, 0);
	}
	media_flush(w);
}

static void *media_main(void *arg)
{
	struct media_worker *w = arg;
	struct epoll_event evs[MEDIA_EVENTS];
	char name[32];

	media_self = w;
	snprintf(name, sizeof(name), "sip media %u", w->index);
	octo_thread_register(name);
	while (!w->stop) {
		bool cmds = false, tick = false;
		unsigned legs = 0;
		int n = epoll_wait(w->epfd, evs, MEDIA_EVENTS, -1);

		if (n < 0 && errno != EINTR) {
			octo_log(OCTO_ERROR, "SIP media worker %u: epoll_wait: %s", w->index,
				 strerror(errno));
			break;
		}
		/* commands first: one given before a packet arrived (a tap, a
		 * relay start) must apply to it, also within one batch */
		for (int i = 0; i < n; i++)
			if (evs[i].data.ptr == &w->evfd)
				cmds = true;
		if (cmds)
			media_commands(w);
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			struct media_tag *tag;

			if (p == &w->evfd)
				continue;
			if (p == &w->tfd) {
				tick = true;
				continue;
			}
			tag = p;
			if (atomic_load(&tag->m->dead) || atomic_load(&tag->m->owner) != w)
				continue;
			if (tag->rtcp)
				media_read_dry(w, tag->m, media_rtcp_rx_batch);
			else if (tag->m->mode == MEDIA_TERM)
				term_pump(w, tag->m);
			else
				media_read_dry(w, tag->m, media_rx_batch);
			legs++;
		}
		if (tick)
			media_tick(w);
		media_bury(w);
		if (legs && atomic_load(&w->members) >= MEDIA_COALESCE_LEGS && n < MEDIA_EVENTS &&
		    !w->stop) {
			struct timespec pause = { 0, MEDIA_COALESCE_US * 1000L };

			nanosleep(&pause, NULL);
		}
	}
	media_bury(w);
	octo_thread_unregister();
	return NULL;
}

static void media_stop_fn(struct media_worker *w, void *arg)
{
	w->stop = true;
}

static void media_worker_free(struct media_worker *w)
{
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->evfd >= 0)
		close(w->evfd);
	if (w->tfd >= 0)
		close(w->tfd);
	pthread_mutex_destroy(&w->qlock);
	pthread_cond_destroy(&w->qcond);
	free(w);
}

static struct media_worker *media_worker_start(unsigned index)
{
	struct media_worker *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!w)
		return NULL;
	w->index = index;
	pthread_mutex_init(&w->qlock, NULL);
	pthread_cond_init(&w->qcond, NULL);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->epfd < 0 || w->evfd < 0 || w->tfd < 0)
		goto fail;
	ev.data.ptr = &w->evfd;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0)
		goto fail;
	ev.data.ptr = &w->tfd;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->tfd, &ev) < 0)
		goto fail;
	media_tick_arm(w);
	if (pthread_create(&w->thread, NULL, media_main, w) != 0)
		goto fail;
	w->running = true;
	return w;

fail:
	octo_log(OCTO_ERROR, "SIP media: cannot start worker %u: %s", index, strerror(errno));
	media_worker_free(w);
	return NULL;
}

static void media_workers_stop(void)
{
	for (unsigned i = 0; i < media_nworkers; i++) {
		struct media_worker *w = media_workers[i];

		media_run(w, media_stop_fn, NULL);
		pthread_join(w->thread, NULL);
		w->running = false;
		media_worker_free(w);
		media_workers[i] = NULL;
	}
	media_nworkers = 0;
}

/* libortp's log lines: it reports every odd packet it meets, so what
 * hostile input can trigger stays at debug level 2. */
__attribute__((format(printf, 3, 0))) static void
media_ortp_log(const char *domain, OrtpLogLevel lev, const char *fmt, va_list ap)
{
	char buf[256];
	size_t n;

	if (lev != ORTP_FATAL && octo_log_debug_level < 2)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	if (lev == ORTP_FATAL)
		octo_log(OCTO_ERROR, "libortp: %s", buf);
	else
		octo_debug(2, "libortp: %s", buf);
}

int sip_media_init(void)
{
	struct sip_media_conf c;
	int rc = 0;

	media_conf_get(&c);
	pthread_mutex_lock(&media_ctl);
	if (media_nworkers) {
		pthread_mutex_unlock(&media_ctl);
		return 0;
	}
	if (!media_ortp_up) {
		ortp_init();
		/* once per process: the module stays mapped (resident) */
		if (!media_log_set)
			ortp_set_log_handler(media_ortp_log);
		media_log_set = true;
		media_ortp_up = true;
	}
	media_cursor = c.rtp_start;
	for (unsigned i = 0; i < c.workers; i++) {
		struct media_worker *w = media_worker_start(i);

		if (!w) {
			rc = OCTO_EFAIL;
			break;
		}
		media_workers[media_nworkers++] = w;
	}
	if (rc)
		media_workers_stop();
	pthread_mutex_unlock(&media_ctl);
	if (!rc)
		octo_verbose(1, "SIP media: %u worker%s, RTP ports %u-%u", c.workers,
			     c.workers == 1 ? "" : "s", c.rtp_start, c.rtp_end);
	return rc;
}

void sip_media_fini(void)
{
	unsigned left = 0;

	for (;;) {
		struct sip_media *m;

		pthread_mutex_lock(&media_list_lock);
		m = media_all;
		pthread_mutex_unlock(&media_list_lock);
		if (!m)
			break;
		left++;
		sip_media_free(m);
	}
	if (left)
		octo_log(OCTO_WARNING, "SIP media: %u RTP endpoint%s still open at unload, closed",
			 left, left == 1 ? " was" : "s were");
	pthread_mutex_lock(&media_ctl);
	media_workers_stop();
	if (media_ortp_up) {
		ortp_exit();
		media_ortp_up = false;
	}
	pthread_mutex_unlock(&media_ctl);
	sip_rec_fini();
}

/* ---------------------------------------------------------------- endpoints */

static int media_bind(int family, const char *ip, unsigned port)
{
	struct sockaddr_storage sa;
	socklen_t len;
	int fd;

	if (!media_parse_addr(ip, port, family, &sa, &len))
		return -1;
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (family == AF_INET6) {
		int off = 0;

		/* "::" takes IPv4 peers too (as v4-mapped addresses) */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	}
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Binds an even port and the next one from the cursor on (media_ctl held). */
static bool media_bind_pair(struct sip_media *m, const char *ip, const struct sip_media_conf *c)
{
	unsigned first = (c->rtp_start + 1) & ~1u, last = (c->rtp_end - 1) & ~1u, count, port;

	if (last < first)
		return false;
	count = (last - first) / 2 + 1;
	port = media_cursor;
	for (unsigned i = 0; i < count; i++) {
		if (port < first || port > last)
			port = first;
		port &= ~1u;
		m->fd = media_bind(m->family, ip, port);
		if (m->fd >= 0) {
			m->rtcp_fd = media_bind(m->family, ip, port + 1);
			if (m->rtcp_fd >= 0) {
				m->port = port;
				media_cursor = port + 2;
				return true;
			}
			close(m->fd);
			m->fd = -1;
		} else if (errno != EADDRINUSE && errno != EACCES) {
			return false; /* the address itself is wrong (not ours ...) */
		}
		port += 2;
	}
	return false;
}

struct sip_media *sip_media_alloc(const char *local_ip)
{
	return sip_media_alloc_near(local_ip, NULL);
}

struct sip_media *sip_media_alloc_near(const char *local_ip, const struct sip_media *near)
{
	struct sip_media_conf c;
	struct sip_media *m;
	struct in6_addr a6;
	struct in_addr a4;
	struct media_worker *w = NULL;
	pthread_condattr_t ca;

	if (!local_ip || media_self)
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->fd = m->rtcp_fd = -1;
	m->pt = m->dtmf_pt = -1;
	m->rx_expected = true;
	m->tag_rtp.m = m->tag_rtcp.m = m;
	m->tag_rtcp.rtcp = true;
	if (inet_pton(AF_INET, local_ip, &a4) == 1) {
		m->family = AF_INET;
	} else if (inet_pton(AF_INET6, local_ip, &a6) == 1) {
		m->family = AF_INET6;
	} else {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);

	media_conf_get(&c);
	pthread_mutex_lock(&media_ctl);
	if (near && !atomic_load(&near->dead))
		w = atomic_load(&near->owner);
	if (!w || !w->running) {
		w = NULL;
		for (unsigned i = 0; i < media_nworkers; i++)
			if (!w || atomic_load(&media_workers[i]->members) < atomic_load(&w->members))
				w = media_workers[i];
	}
	if (!w || !media_bind_pair(m, local_ip, &c)) {
		pthread_mutex_unlock(&media_ctl);
		if (w)
			octo_log(OCTO_WARNING, "SIP media: no free RTP port pair on %s in %u-%u",
				 local_ip, c.rtp_start, c.rtp_end);
		media_destroy(m);
		return NULL;
	}
	atomic_store(&m->owner, w); /* what later calls post to, in order */
	media_post_copy(w, media_attach_fn, m, 0);
	pthread_mutex_lock(&media_list_lock);
	m->all_next = media_all;
	if (media_all)
		media_all->all_prev = m;
	media_all = m;
	pthread_mutex_unlock(&media_list_lock);
	atomic_fetch_add(&media_total, 1);
	pthread_mutex_unlock(&media_ctl);
	return m;
}

unsigned sip_media_port(const struct sip_media *m)
{
	return m ? m->port : 0;
}

unsigned sip_media_count(void)
{
	return atomic_load(&media_total);
}

static void media_unlist(struct sip_media *m)
{
	pthread_mutex_lock(&media_list_lock);
	if (m->all_prev)
		m->all_prev->all_next = m->all_next;
	else if (media_all == m)
		media_all = m->all_next;
	if (m->all_next)
		m->all_next->all_prev = m->all_prev;
	m->all_prev = m->all_next = NULL;
	pthread_mutex_unlock(&media_list_lock);
	atomic_fetch_sub(&media_total, 1);
}

void sip_media_free(struct sip_media *m)
{
	struct media_worker *w;

	if (!m)
		return;
	if (media_self) {
		/* from a callback (which should not do this): never wait here */
		w = atomic_load(&m->owner);
		if (atomic_load(&m->dead))
			return;
		media_unlist(m);
		if (w == media_self) {
			media_kill_fn(w, m);
		} else if (w) {
			octo_log(OCTO_WARNING,
				 "SIP media %u: freed from a callback of another "
				 "worker",
				 m->port);
			media_post(w, media_kill_fn, m);
		}
		return;
	}
	/* a call thread inside sip_media_read/write leaves first */
	pthread_mutex_lock(&m->lock);
	m->closing = true;
	pthread_cond_broadcast(&m->cond);
	while (m->users)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_lock(&media_ctl);
	media_unlist(m);
	if (m->ctl_peer) {
		m->ctl_peer->ctl_peer = NULL;
		m->ctl_peer = NULL;
	}
	w = atomic_load(&m->owner);
	if (w) {
		media_post_copy(w, media_kill_fn, m, 0);
		if (!w->running)
			media_bury(w);
	} else {
		media_destroy(m);
	}
	pthread_mutex_unlock(&media_ctl);
}

/* ---------------------------------------------------------------- set_remote, callbacks */

struct media_remote_args {
	struct sip_media *m;
	struct sockaddr_storage sa;
	socklen_t len;
	bool send_ok;
	int pt, dtmf_pt;
	const struct octo_codec *codec; /* in: new; out: the one to give back */
};

static void media_remote_fn(struct media_worker *w, void *arg)
{
	struct media_remote_args *a = arg;
	struct sip_media *m = a->m;
	const struct octo_codec *old;

	pthread_mutex_lock(&m->lock);
	old = m->codec;
	m->codec = a->codec;
	m->pt = a->pt;
	m->dtmf_pt = a->dtmf_pt;
	m->remote = a->sa;
	m->remote_len = a->len;
	m->send_ok = a->send_ok;
	m->has_remote = true;
	m->learned = false;
	m->locked_src = false;
	m->rtcp_remote_len = 0;
	m->ev.active = false;
	if (m->rtp)
		term_apply_payload(m);
	pthread_mutex_unlock(&m->lock);
	m->last_rx_ms = octo_now_ms();
	m->timeout_armed = a->send_ok;
	a->codec = old;
}

/* The asynchronous set_remote: the worker gives the replaced codec back. */
static void media_remote_post_fn(struct media_worker *w, void *arg)
{
	struct media_remote_args *a = arg;

	media_remote_fn(w, a);
	if (a->codec)
		octo_registry_put(OCTO_REG_CODEC, a->codec, "chan_sip");
}

int sip_media_set_remote(struct sip_media *m, const char *ip, unsigned port, int pt,
			 const char *codec, int dtmf_pt)
{
	struct media_remote_args a = { .m = m, .pt = pt, .dtmf_pt = dtmf_pt };
	struct media_worker *w;

	if (!m || !codec || port > 65535 || pt < 0 || pt > 127 ||
	    (dtmf_pt != -1 && (dtmf_pt < 96 || dtmf_pt > 127 || dtmf_pt == pt)))
		return OCTO_EINVAL;
	if (!media_parse_addr(ip, port, m->family, &a.sa, &a.len))
		return OCTO_EINVAL;
	if (media_self)
		return OCTO_EBUSY;
	if (strcasecmp(codec, "PCMU") && strcasecmp(codec, "PCMA"))
		return OCTO_EINVAL;
	a.codec = octo_registry_get(OCTO_REG_CODEC, codec, "chan_sip");
	if (!a.codec)
		return OCTO_ENOTFOUND;
	a.send_ok = port != 0 && !media_addr_is_any(&a.sa);
	pthread_mutex_lock(&media_ctl);
	w = atomic_load(&m->owner);
	if (w) {
		m->ctl_codec = a.codec;
		m->ctl_remote = true;
		/* not waited for: the worker's commands stay in order, so a
		 * packet it reads after this call's command sees the new far end
		 * (the loop used to block here for a worker wake-up per call) */
		media_post_copy(w, media_remote_post_fn, &a, sizeof(a));
		a.codec = NULL;
	}
	pthread_mutex_unlock(&media_ctl);
	if (a.codec) /* freed meanwhile: cannot happen with a valid m */
		octo_registry_put(OCTO_REG_CODEC, a.codec, "chan_sip");
	return 0;
}

struct media_rtcp_args {
	struct sip_media *m;
	struct sockaddr_storage sa;
	socklen_t len;
};

static void media_rtcp_remote_fn(struct media_worker *w, void *arg)
{
	struct media_rtcp_args *a = arg;

	pthread_mutex_lock(&a->m->lock);
	memcpy(&a->m->rtcp_remote, &a->sa, a->len);
	a->m->rtcp_remote_len = a->len;
	pthread_mutex_unlock(&a->m->lock);
}

int sip_media_set_rtcp_remote(struct sip_media *m, const char *ip, unsigned port)
{
	struct media_rtcp_args a = { .m = m };

	if (!m || !ip || !port || port > 65535 || media_self ||
	    !media_parse_addr(ip, port, m->family, &a.sa, &a.len))
		return OCTO_EINVAL;
	/* after the set_remote before it, which forgets the RTCP address */
	media_post_to(m, media_rtcp_remote_fn, &a, sizeof(a));
	return 0;
}

struct media_cb_args {
	struct sip_media *m;
	void (*timeout)(void *);
	void (*digit)(void *, char);
	void *data;
	bool rx_expected;
};

static void media_cb_fn(struct media_worker *w, void *arg)
{
	struct media_cb_args *a = arg;

	a->m->on_timeout = a->timeout;
	a->m->on_digit = a->digit;
	a->m->cb_data = a->data;
}

void sip_media_set_callbacks(struct sip_media *m, void (*timeout)(void *),
			     void (*digit)(void *, char), void *data)
{
	struct media_cb_args a = { m, timeout, digit, data, false };

	if (m && !media_self)
		media_post_to(m, media_cb_fn, &a, sizeof(a));
}

static void media_rx_expected_fn(struct media_worker *w, void *arg)
{
	struct media_cb_args *a = arg;

	if (a->rx_expected && !a->m->rx_expected)
		a->m->last_rx_ms = octo_now_ms(); /* the clock starts now */
	a->m->rx_expected = a->rx_expected;
}

void sip_media_set_rx_expected(struct sip_media *m, bool expected)
{
	struct media_cb_args a = { .m = m, .rx_expected = expected };

	if (m && !media_self)
		media_post_to(m, media_rx_expected_fn, &a, sizeof(a));
}

/* ---------------------------------------------------------------- relay */

struct media_relay_args {
	struct sip_media *a, *b;
	int rc;
};

static bool media_can_convert(const struct octo_codec *from, const struct octo_codec *to)
{
	uint8_t in = 0xff, out;

	if (from == to)
		return true;
	return from && to && from->transcode && from->transcode(to, &in, 1, &out, 1) == 1;
}

static void media_relay_start_fn(struct media_worker *w, void *arg)
{
	struct media_relay_args *r = arg;
	struct sip_media *a = r->a, *b = r->b;

	if (a->peer == b) {
		r->rc = 0;
		return;
	}
	if (a->peer || b->peer) {
		r->rc = OCTO_EBUSY;
		return;
	}
	if (!a->has_remote || !b->has_remote || !media_can_convert(a->codec, b->codec) ||
	    !media_can_convert(b->codec, a->codec)) {
		r->rc = OCTO_EINVAL;
		return;
	}
	for (int i = 0; i < 2; i++) {
		struct sip_media *m = i ? b : a;

		if (m->mode == MEDIA_TERM) {
			w->nterm--;
			media_tick_arm(w);
		}
		m->peer = i ? a : b;
		m->ev.active = false;
		media_set_mode(m, MEDIA_RELAY);
	}
	r->rc = 0;
}

static void media_relay_stop_fn(struct media_worker *w, void *arg)
{
	struct media_relay_args *r = arg;

	if (r->a->peer != r->b)
		return;
	r->a->peer = r->b->peer = NULL;
	for (int i = 0; i < 2; i++) {
		struct sip_media *m = i ? r->b : r->a;

		if (m->tap)
			sip_rec_release(m->tap);
		m->tap = NULL;
	}
	media_set_mode(r->a, MEDIA_IDLE);
	media_set_mode(r->b, MEDIA_IDLE);
}

/* What media_relay_start_fn will find, from the control side's view. media_ctl held. */
static int media_relay_check(const struct sip_media *a, const struct sip_media *b)
{
	if (a->ctl_peer || b->ctl_peer)
		return OCTO_EBUSY;
	if (!a->ctl_remote || !b->ctl_remote || !media_can_convert(a->ctl_codec, b->ctl_codec) ||
	    !media_can_convert(b->ctl_codec, a->ctl_codec))
		return OCTO_EINVAL;
	return 0;
}

int sip_media_relay(struct sip_media *a, struct sip_media *b, bool start)
{
	struct media_relay_args r = { a, b, 0 };
	struct media_worker *wa, *wb;

	if (!a || !b || a == b)
		return OCTO_EINVAL;
	if (media_self)
		return OCTO_EBUSY;
	pthread_mutex_lock(&media_ctl);
	wa = atomic_load(&a->owner);
	wb = atomic_load(&b->owner);
	if (!wa || !wb) {
		r.rc = OCTO_EINVAL;
	} else if (!start) {
		if (a->ctl_peer == b)
			a->ctl_peer = b->ctl_peer = NULL;
		media_post_copy(wa, media_relay_stop_fn, &r, sizeof(r));
	} else if (a->ctl_peer == b) {
		/* relaying already */
	} else if ((r.rc = media_relay_check(a, b)) == 0) {
		a->ctl_peer = b;
		b->ctl_peer = a;
		if (wa != wb) {
			/* both legs on one worker: b moves over to a's */
			media_run(wb, media_detach_fn, b);
			/* in order before the relay start below, on the same worker;
			 * b's commands from now on go to wa, after the attach */
			atomic_store(&b->owner, wa);
			media_post_copy(wa, media_attach_fn, b, 0);
		}
		/* the legs share a worker now: its commands run in order, and
		 * the check above gave the result the start will have */
		media_post_copy(wa, media_relay_start_fn, &r, sizeof(r));
	}
	pthread_mutex_unlock(&media_ctl);
	return r.rc;
}

/* ---------------------------------------------------------------- recording tap */

struct media_tap_args {
	struct sip_media *m;
	struct sip_rec_leg *tap;
};

static void media_tap_fn(struct media_worker *w, void *arg)
{
	struct media_tap_args *t = arg;

	if (atomic_load(&t->m->dead) || (t->tap && t->m->mode != MEDIA_RELAY)) {
		if (t->tap)
			sip_rec_release(t->tap); /* not taken: the recorder lets it go */
		return;
	}
	if (t->m->tap && t->m->tap != t->tap)
		sip_rec_release(t->m->tap);
	t->m->tap = t->tap;
}

struct media_tap_digit {
	struct sip_media *m;
	char d;
};

static void media_tap_digit_fn(struct media_worker *w, void *arg)
{
	struct media_tap_digit *t = arg;

	if (!atomic_load(&t->m->dead) && t->m->tap) {
		media_rec_arm(t->m);
		sip_rec_digit(t->m->tap, t->d);
	}
}

void sip_media_tap_digit(struct sip_media *m, char digit)
{
	struct media_tap_digit t = { m, digit };
	struct media_worker *w;

	if (!m || !digit || media_self)
		return;
	pthread_mutex_lock(&media_ctl);
	w = atomic_load(&m->owner);
	if (w && w->running)
		media_post_copy(w, media_tap_digit_fn, &t, sizeof(t));
	pthread_mutex_unlock(&media_ctl);
}

void sip_media_tap(struct sip_media *m, struct sip_rec_leg *tap)
{
	struct media_tap_args t = { m, tap };

	/* in order after the relay start that made m a relay leg */
	if ((!m || media_self || !media_post_to(m, media_tap_fn, &t, sizeof(t))) && tap)
		sip_rec_release(tap);
}

/* ---------------------------------------------------------------- frames */

static void media_term_on_fn(struct media_worker *w, void *arg)
{
	struct media_relay_args *r = arg;
	struct sip_media *m = r->a;

	r->rc = 0;
	if (m->mode == MEDIA_TERM)
		return;
	if (m->mode == MEDIA_RELAY) {
		r->rc = OCTO_EBUSY;
		return;
	}
	pthread_mutex_lock(&m->lock);
	if (!m->has_remote) {
		r->rc = OCTO_EINVAL;
	} else if (!m->rtp && !term_session(m)) {
		r->rc = OCTO_ENOMEM;
	} else {
		rtp_session_resync(m->rtp);
		m->resync = false;
		m->rx_base_ms = octo_now_ms();
		m->rx_user_ts = 0;
		m->ring_head = m->ring_count = 0;
		m->tx_started = false;
		m->ev.active = false;
		m->mode = MEDIA_TERM;
		w->nterm++;
		media_tick_arm(w);
	}
	pthread_mutex_unlock(&m->lock);
}

/* Makes m terminated (call thread, m->lock not held). */
static int media_term_enter(struct sip_media *m)
{
	struct media_relay_args r = { m, NULL, OCTO_EINVAL };
	struct media_worker *w;

	if (media_self)
		return OCTO_EBUSY;
	pthread_mutex_lock(&media_ctl);
	w = atomic_load(&m->owner);
	if (m->ctl_peer)
		r.rc = OCTO_EBUSY; /* relayed, or a relay start is on its way */
	else if (w)
		media_run(w, media_term_on_fn, &r); /* after a relay stop still queued */
	pthread_mutex_unlock(&media_ctl);
	return r.rc;
}

/* With m->lock held: OCTO_EBUSY / OCTO_EINVAL / 0 when terminated; enters
 * the mode (dropping the lock meanwhile) when idle. */
static int media_term_ready(struct sip_media *m)
{
	int rc;

	if (m->mode == MEDIA_TERM)
		return 0;
	/* A relay mode may be a stop that the worker has not run yet (the
	 * stop is posted): media_term_enter tells, from the control side. */
	pthread_mutex_unlock(&m->lock);
	rc = media_term_enter(m);
	pthread_mutex_lock(&m->lock);
	if (!rc && m->mode != MEDIA_TERM)
		rc = m->mode == MEDIA_RELAY ? OCTO_EBUSY : OCTO_EINVAL;
	return rc;
}

/* A call thread starts using m (m->lock held): OCTO_EHANGUP once
 * sip_media_free has begun. */
static int media_enter(struct sip_media *m)
{
	if (m->closing)
		return OCTO_EHANGUP;
	m->users++;
	return 0;
}

/* ... and stops (m->lock held, then released). */
static void media_leave(struct sip_media *m)
{
	m->users--;
	if (m->closing && !m->users)
		pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

int sip_media_read(struct sip_media *m, struct octo_frame *f, int timeout_ms)
{
	struct timespec deadline;
	int rc;

	if (!m || !f)
		return OCTO_EINVAL;
	if (timeout_ms > 0) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout_ms / 1000;
		deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&m->lock);
	rc = media_enter(m);
	if (rc) {
		pthread_mutex_unlock(&m->lock);
		return rc;
	}
	rc = media_term_ready(m);
	while (!rc) {
		if (m->closing) {
			rc = OCTO_EHANGUP;
			break;
		}
		if (m->mode != MEDIA_TERM) {
			rc = m->mode == MEDIA_RELAY ? OCTO_EBUSY : OCTO_EINVAL;
			break;
		}
		if (m->dq_count) {
			octo_frame_dtmf(f, m->digitq[m->dq_head], 0);
			m->dq_head = (m->dq_head + 1) % MEDIA_DIGITQ;
			m->dq_count--;
			rc = 1;
			break;
		}
		if (m->ring_count >= OCTO_FRAME_SAMPLES) {
			memset(f, 0, sizeof(*f));
			f->type = OCTO_FRAME_VOICE;
			f->samples = OCTO_FRAME_SAMPLES;
			for (unsigned i = 0; i < OCTO_FRAME_SAMPLES; i++)
				f->data[i] = m->ring[(m->ring_head + i) % MEDIA_RING];
			m->ring_head = (m->ring_head + OCTO_FRAME_SAMPLES) % MEDIA_RING;
			m->ring_count -= OCTO_FRAME_SAMPLES;
			rc = 1;
			break;
		}
		if (timeout_ms == 0)
			break;
		if (timeout_ms < 0)
			pthread_cond_wait(&m->cond, &m->lock);
		else if (pthread_cond_timedwait(&m->cond, &m->lock, &deadline) == ETIMEDOUT)
			timeout_ms = 0; /* one last look */
	}
	media_leave(m);
	return rc;
}

/* Sleeps so that the writer is at most MEDIA_PACE_AHEAD_MS ahead of real
 * time (m->lock not held). */
static void media_pace(uint64_t due_ms)
{
	uint64_t now = octo_now_ms();

	if (due_ms > now + MEDIA_PACE_AHEAD_MS) {
		uint64_t ms = due_ms - now - MEDIA_PACE_AHEAD_MS;
		struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
		}
	}
}

/* The send clock before a frame of `samples` (m->lock held): starts it, or
 * starts a new talkspurt after a pause. True when the marker bit is due. */
static bool media_tx_clock(struct sip_media *m)
{
	uint64_t now = octo_now_ms(), due;

	if (!m->tx_started) {
		m->tx_started = true;
		m->tx_base_ms = now;
		m->tx_samples = 0;
		return true;
	}
	due = m->tx_base_ms + m->tx_samples / (OCTO_FRAME_RATE / 1000);
	if (now > due + MEDIA_TALKSPURT_MS) {
		m->tx_ts += (uint32_t)((now - due) * (OCTO_FRAME_RATE / 1000));
		m->tx_base_ms = now;
		m->tx_samples = 0;
		return true;
	}
	return false;
}

static uint64_t media_tx_due(const struct sip_media *m)
{
	return m->tx_base_ms + m->tx_samples / (OCTO_FRAME_RATE / 1000);
}

static int media_event_code(char d)
{
	static const char map[] = "0123456789*#ABCD";
	const char *p = d ? strchr(map, d) : NULL;

	return p ? (int)(p - map) : -1;
}

static int media_write_dtmf(struct sip_media *m, const struct octo_frame *f)
{
	int code = media_event_code(f->digit);
	unsigned dur = f->duration_ms ? f->duration_ms : 100, n = dur / OCTO_FRAME_MS;
	uint32_t start;
	uint16_t length;

	if (code < 0 || dur > 5000)
		return OCTO_EINVAL;
	if (m->dtmf_pt < 0)
		return OCTO_EINVAL;
	if (!n)
		n = 1;
	media_tx_clock(m);
	start = m->tx_ts;
	for (unsigned k = 1; k <= n + 3; k++) {
		bool end = k > n;
		mblk_t *mp;
		uint64_t due;

		length = (uint16_t)((end ? n : k) * OCTO_FRAME_SAMPLES);
		mp = rtp_session_create_telephone_event_packet(m->rtp, k == 1);
		if (!mp)
			return OCTO_ENOMEM;
		rtp_session_add_telephone_event(m->rtp, mp, (uint8_t)code, end, MEDIA_DTMF_VOLUME,
						length);
		rtp_session_sendm_with_ts(m->rtp, mp, start);
		if (end)
			continue; /* the end packet goes three times in a row */
		m->tx_samples += OCTO_FRAME_SAMPLES;
		due = media_tx_due(m);
		pthread_mutex_unlock(&m->lock);
		media_pace(due);
		pthread_mutex_lock(&m->lock);
		if (m->closing)
			return OCTO_EHANGUP;
		if (m->mode != MEDIA_TERM)
			return OCTO_EBUSY;
	}
	m->tx_ts = start + n * OCTO_FRAME_SAMPLES;
	return 0;
}

int sip_media_write(struct sip_media *m, const struct octo_frame *f)
{
	uint8_t payload[OCTO_FRAME_SAMPLES * 2];
	uint64_t due = 0;
	int rc;

	if (!m || !f)
		return OCTO_EINVAL;
	if (f->type == OCTO_FRAME_VOICE && (f->samples < 1 || f->samples > OCTO_FRAME_SAMPLES))
		return OCTO_EINVAL;
	if (f->type != OCTO_FRAME_VOICE && f->type != OCTO_FRAME_DTMF)
		return OCTO_EINVAL;
	pthread_mutex_lock(&m->lock);
	rc = media_enter(m);
	if (rc) {
		pthread_mutex_unlock(&m->lock);
		return rc;
	}
	rc = media_term_ready(m);
	if (!rc && f->type == OCTO_FRAME_DTMF) {
		rc = media_write_dtmf(m, f);
	} else if (!rc) {
		bool marker = media_tx_clock(m);
		size_t n = m->codec->encode(f->data, f->samples, payload, sizeof(payload));
		mblk_t *mp = rtp_session_create_packet(m->rtp, RTP_FIXED_HEADER_SIZE, payload, n);

		if (mp) {
			rtp_set_markbit(mp, marker ? 1 : 0);
			rtp_session_sendm_with_ts(m->rtp, mp, m->tx_ts);
		}
		m->tx_ts += f->samples;
		m->tx_samples += f->samples;
		due = media_tx_due(m);
	}
	if (due) {
		pthread_mutex_unlock(&m->lock);
		media_pace(due);
		pthread_mutex_lock(&m->lock);
	}
	media_leave(m);
	return rc;
}

/* ---------------------------------------------------------------- music on hold */

void sip_media_moh(struct sip_media *m, bool on)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	if (on && !atomic_load(&m->moh)) {
		/* a stream of its own (RFC 3550 5.1: random SSRC, sequence and
		 * timestamp), marked as a new talkspurt */
		uint64_t r = octo_wall_us() * 6364136223846793005ULL + (uintptr_t)m;

		m->moh_ssrc = (uint32_t)(r >> 32) ^ (uint32_t)r;
		m->moh_seq = (uint16_t)(r >> 16);
		m->moh_ts = (uint32_t)(r >> 24) * 2654435761u;
		m->moh_marker = true;
	}
	atomic_store(&m->moh, on);
	pthread_mutex_unlock(&m->lock);
}

bool sip_media_moh_on(const struct sip_media *m)
{
	return m && atomic_load(&m->moh);
}

int sip_media_moh_send(struct sip_media *m, const uint8_t *pcmu, const uint8_t *pcma, size_t len)
{
	uint8_t pkt[12 + OCTO_FRAME_SAMPLES];
	const uint8_t *payload;
	int rc = 0;

	if (!m || !pcmu || !pcma || !len || len > OCTO_FRAME_SAMPLES)
		return OCTO_EINVAL;
	pthread_mutex_lock(&m->lock);
	if (m->closing || !atomic_load(&m->moh) || !m->send_ok || !m->codec || m->pt < 0)
		goto out;
	payload = strcasecmp(m->codec->name, "PCMA") ? pcmu : pcma;
	pkt[0] = 0x80;
	pkt[1] = (uint8_t)((m->moh_marker ? 0x80 : 0) | (m->pt & 0x7f));
	pkt[2] = (uint8_t)(m->moh_seq >> 8);
	pkt[3] = (uint8_t)m->moh_seq;
	pkt[4] = (uint8_t)(m->moh_ts >> 24);
	pkt[5] = (uint8_t)(m->moh_ts >> 16);
	pkt[6] = (uint8_t)(m->moh_ts >> 8);
	pkt[7] = (uint8_t)m->moh_ts;
	pkt[8] = (uint8_t)(m->moh_ssrc >> 24);
	pkt[9] = (uint8_t)(m->moh_ssrc >> 16);
	pkt[10] = (uint8_t)(m->moh_ssrc >> 8);
	pkt[11] = (uint8_t)m->moh_ssrc;
	memcpy(pkt + 12, payload, len);
	m->moh_seq++;
	m->moh_ts += (uint32_t)len; /* G.711: one byte a sample */
	m->moh_marker = false;
	if (sendto(m->fd, pkt, 12 + len, MSG_DONTWAIT, (struct sockaddr *)&m->remote,
		   m->remote_len) > 0) {
		m->moh_packets++;
		rc = 1;
	}
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

/* ---------------------------------------------------------------- diagnostics */

struct media_info_args {
	struct sip_media *m;
	struct sip_media_info *out;
};

static void media_info_fn(struct media_worker *w, void *arg)
{
	struct media_info_args *a = arg;
	struct sip_media *m = a->m;
	struct sip_media_info *o = a->out;

	pthread_mutex_lock(&m->lock);
	o->port = m->port;
	if (m->send_ok)
		media_addr_str(&m->remote, m->remote_len, o->remote, sizeof(o->remote));
	o->learned = m->learned;
	octo_strlcpy(o->codec, m->codec ? m->codec->name : "", sizeof(o->codec));
	o->pt = m->pt;
	o->dtmf_pt = m->dtmf_pt;
	o->mode = media_mode_names[m->mode];
	o->rx_packets = m->rx_packets;
	o->tx_packets = m->tx_packets;
	o->rx_dropped = m->rx_dropped;
	o->worker = w->index;
	o->rtcp_rx = m->rtcp_rx;
	o->rtcp_dropped = m->rtcp_dropped;
	o->rtcp_tx = atomic_load(&m->rtcp_tx);
	{
		struct sockaddr_storage dst;
		socklen_t dlen = 0;

		if (media_rtcp_dest(m, &dst, &dlen))
			media_addr_str(&dst, dlen, o->rtcp_remote, sizeof(o->rtcp_remote));
	}
	o->report = m->report;
	o->moh = atomic_load(&m->moh);
	o->moh_packets = m->moh_packets;
	pthread_mutex_unlock(&m->lock);
}

void sip_media_info(struct sip_media *m, struct sip_media_info *out)
{
	struct media_info_args a = { m, out };
	struct media_worker *w;

	memset(out, 0, sizeof(*out));
	out->mode = "idle";
	out->pt = out->dtmf_pt = -1;
	if (!m || media_self)
		return;
	pthread_mutex_lock(&media_ctl);
	w = atomic_load(&m->owner);
	if (w)
		media_run(w, media_info_fn, &a);
	pthread_mutex_unlock(&media_ctl);
}
