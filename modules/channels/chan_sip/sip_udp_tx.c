/*
 * sip_udp_tx.c - the UDP datagrams the SIP loop sends go out from a thread
 * of their own ("sip udp tx").
 *
 * Why: at 1,000 calls/s, sendto() was the largest single cost of the SIP
 * loop (13 % of it, perf): the kernel's work for each datagram (and, on
 * loopback, the receiver's side of it too) runs in the sender. The loop
 * is the one thread all signalling goes through; past 30 s at that rate
 * (when the first transactions end) it ran 75 % of the time and waited
 * for a CPU most of the rest, and a burst then made it shed calls. The
 * sending thread takes that work to the other core.
 *
 * DESIGN
 *  - A byte ring (TX_RING_BYTES) of records: the socket, the destination
 *    and the datagram, each copied in once (no allocation per message).
 *    The loop queues under a mutex; the thread takes everything queued,
 *    sends it with sendmmsg() (consecutive records on the same socket go
 *    in one call) and frees the space after. An empty ring starts again
 *    at its beginning, so only the deepest backlog is ever touched, and
 *    after TX_IDLE_TRIM_MS without traffic the pages of a burst beyond
 *    TX_RING_KEEP are given back (madvise).
 *  - Order is kept: one FIFO, one thread.
 *  - Waking the thread costs the loop a system call too, so while the loop
 *    handles a batch of received datagrams (sip_udp_tx_hold), the wake-up
 *    is left to the end of the batch (sip_udp_tx_release): one wake-up for
 *    all the answers of a batch. Anything else wakes it at once. A batch
 *    of a datagram or two (REGISTERs at a modest rate: the loop reads them
 *    one by one) found the thread asleep: the loop sends those itself,
 *    which costs it about what the wake-up would have, and spares the
 *    thread two switches (REGISTER at 3,200/s: 46 -> 37 % of a core).
 *  - A full ring (the thread fell far behind) or a stopped thread: the
 *    caller sends itself (sip_udp_tx_queue returns false).
 *  - A send error (no route to the host) is logged and counted; a record
 *    queued for a client transaction carries the transaction's key, and
 *    the loop is told (sip_txn_send_failed) so that the transaction fails
 *    at once with 503 as it would have on a direct sendto(), instead of
 *    timing out. Only the failure path allocates (the key's copy).
 *  - Stop sends what is queued, then joins the thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include "octo/log.h"
#include "octo/sched.h"
#include "sip.h"

#define TX_RING_BYTES (1u << 20) /* 170 ms of datagrams at 1,000 calls/s */
#define TX_RING_KEEP (64u << 10)  /* of it, kept in memory when idle */
#define TX_IDLE_TRIM_MS 2000      /* idle this long: the rest goes back (whole s) */
#define TX_BATCH 64
/* Queued by one batch of the loop up to this, it sends them itself when the
 * thread sleeps (sip_udp_tx_release): a REGISTER's answer or two. */
#define TX_SELF_BYTES 2048
#define TX_WRAP UINT32_MAX /* a record length that means: go on at offset 0 */

struct tx_rec {
	uint32_t len; /* of data; TX_WRAP: the rest of the ring is unused */
	uint32_t tolen;
	int fd;
	uint32_t keylen; /* a client transaction's key follows the data */
	struct sockaddr_storage to;
	char data[];
};

#define TX_ALIGN(n) (((n) + 7u) & ~(size_t)7u)

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool running;  /* the thread exists */
	bool stopping;
	bool sleeping; /* the thread waits on cond */
	bool wake_due; /* queued while held: wake at release */
	unsigned hold; /* nested holds (loop only) */
	uint64_t wpos, rpos; /* byte positions, offset = pos % TX_RING_BYTES */
	size_t touched;      /* bytes of the ring used since the last trim */
	char *ring;          /* mapped */
} tx = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* Lock held. */
static void tx_wake_locked(void)
{
	tx.wake_due = false;
	if (tx.sleeping) {
		tx.sleeping = false;
		pthread_cond_signal(&tx.cond);
	}
}

bool sip_udp_tx_queue(int fd, const struct sockaddr *to, socklen_t tolen, const char *buf,
		      size_t len, const char *txn_key)
{
	size_t keylen = txn_key ? strlen(txn_key) : 0;
	size_t need = TX_ALIGN(sizeof(struct tx_rec) + len + keylen), off, room_to_end, skip = 0;
	struct tx_rec *r;

	if (tolen > sizeof(r->to) || len >= TX_WRAP || keylen > SIP_KEY_MAX ||
	    need > TX_RING_BYTES / 4)
		return false;
	pthread_mutex_lock(&tx.lock);
	if (!tx.running || tx.stopping) {
		pthread_mutex_unlock(&tx.lock);
		return false;
	}
	off = (size_t)(tx.wpos % TX_RING_BYTES);
	room_to_end = TX_RING_BYTES - off;
	if (room_to_end < need)
		skip = room_to_end; /* the record starts again at offset 0 */
	if (TX_RING_BYTES - (tx.wpos - tx.rpos) < skip + need) {
		pthread_mutex_unlock(&tx.lock);
		return false; /* full */
	}
	if (skip) {
		/* the mark's length field fits: records are 8-aligned and so is
		 * the ring's size */
		((struct tx_rec *)(tx.ring + off))->len = TX_WRAP;
		tx.wpos += skip;
		off = 0;
	}
	r = (struct tx_rec *)(tx.ring + off);
	r->len = (uint32_t)len;
	r->tolen = (uint32_t)tolen;
	r->fd = fd;
	r->keylen = (uint32_t)keylen;
	memcpy(&r->to, to, tolen);
	memcpy(r->data, buf, len);
	if (keylen)
		memcpy(r->data + len, txn_key, keylen);
	tx.wpos += need;
	if (off + need > tx.touched)
		tx.touched = off + need;
	if (tx.hold && octo_loop_is_current())
		tx.wake_due = true;
	else
		tx_wake_locked();
	pthread_mutex_unlock(&tx.lock);
	return true;
}

void sip_udp_tx_hold(void)
{
	pthread_mutex_lock(&tx.lock);
	tx.hold++;
	pthread_mutex_unlock(&tx.lock);
}

static uint64_t tx_send_range(uint64_t from, uint64_t to);

void sip_udp_tx_release(void)
{
	pthread_mutex_lock(&tx.lock);
	if (tx.hold)
		tx.hold--;
	if (!tx.hold && tx.wake_due) {
		if (tx.sleeping && tx.wpos - tx.rpos <= TX_SELF_BYTES) {
			/* a small batch and the thread asleep: waking it would
			 * cost the loop a system call as well, and the thread
			 * two switches; the loop sends itself. Under the lock
			 * so that no one else takes these records; the ring
			 * holds only them (the thread sleeps on an empty one). */
			tx.wake_due = false;
			tx_send_range(tx.rpos, tx.wpos);
			tx.wpos = tx.rpos = 0; /* empty: start again at the beginning */
		} else {
			tx_wake_locked();
		}
	}
	pthread_mutex_unlock(&tx.lock);
}

static void tx_report_run(void *key)
{
	sip_txn_send_failed(key);
	free(key);
}

/* Record r could not be sent (err: errno, 0 for a short send). */
static void tx_failed(const struct tx_rec *r, int err)
{
	char peer[SIP_ADDR_STRLEN];
	struct sip_addr a = { .tp = SIP_TP_UDP, .len = r->tolen };
	char *key;

	memcpy(&a.sa, &r->to, r->tolen);
	SIP_STAT(tx_errors);
	octo_debug(1, "SIP: send to %s failed: %s", sip_addr_str(&a, peer, sizeof(peer)),
		   err ? strerror(err) : "short send");
	if (!r->keylen)
		return;
	key = strndup(r->data + r->len, r->keylen);
	if (key && octo_loop_call(tx_report_run, key) != 0)
		free(key); /* the loop is gone: shutting down */
}

/* Sends the records in [from, to) of the ring; returns where it stopped
 * (== to). The thread calls it without the lock (the producer does not
 * touch that part), the loop with it (sip_udp_tx_release). */
static uint64_t tx_send_range(uint64_t from, uint64_t to)
{
	struct mmsghdr mm[TX_BATCH];
	struct iovec iov[TX_BATCH];
	const struct tx_rec *rec[TX_BATCH];
	uint64_t pos = from;

	while (pos < to) {
		unsigned n = 0;
		int fd = -1;

		/* gather consecutive records on one socket */
		while (pos < to && n < TX_BATCH) {
			size_t off = (size_t)(pos % TX_RING_BYTES);
			struct tx_rec *r = (struct tx_rec *)(tx.ring + off);

			if (r->len == TX_WRAP) {
				pos += TX_RING_BYTES - off;
				continue;
			}
			if (n && r->fd != fd)
				break;
			fd = r->fd;
			rec[n] = r;
			iov[n].iov_base = r->data;
			iov[n].iov_len = r->len;
			memset(&mm[n], 0, sizeof(mm[n]));
			mm[n].msg_hdr.msg_name = &r->to;
			mm[n].msg_hdr.msg_namelen = r->tolen;
			mm[n].msg_hdr.msg_iov = &iov[n];
			mm[n].msg_hdr.msg_iovlen = 1;
			n++;
			pos += TX_ALIGN(sizeof(*r) + r->len + r->keylen);
		}
		for (unsigned done = 0; done < n;) {
			int k = sendmmsg(fd, mm + done, n - done, MSG_NOSIGNAL);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				/* this one failed (sendmmsg reports the first error
				 * only when nothing was sent): report it, go on */
				tx_failed(rec[done], k < 0 ? errno : 0);
				done++;
				continue;
			}
			for (unsigned i = done; i < done + (unsigned)k; i++) {
				if (mm[i].msg_len == iov[i].iov_len)
					SIP_STAT(tx_msgs);
				else
					tx_failed(rec[i], 0);
			}
			done += (unsigned)k;
		}
	}
	return pos;
}

static void *tx_thread(void *arg)
{
	struct timespec idle_at;

	(void)arg;
	octo_thread_register("sip udp tx");
	pthread_mutex_lock(&tx.lock);
	for (;;) {
		uint64_t from = tx.rpos, to = tx.wpos;

		if (from == to) {
			if (tx.stopping)
				break;
			/* empty: the next record goes at the start again */
			tx.wpos = tx.rpos = 0;
			clock_gettime(CLOCK_REALTIME, &idle_at);
			idle_at.tv_sec += TX_IDLE_TRIM_MS / 1000;
			tx.sleeping = true;
			while (tx.sleeping && !tx.stopping) {
				if (tx.touched <= TX_RING_KEEP) {
					pthread_cond_wait(&tx.cond, &tx.lock);
				} else if (pthread_cond_timedwait(&tx.cond, &tx.lock, &idle_at) ==
					   ETIMEDOUT) {
					madvise(tx.ring + TX_RING_KEEP, TX_RING_BYTES - TX_RING_KEEP,
						MADV_DONTNEED);
					tx.touched = TX_RING_KEEP;
				}
			}
			tx.sleeping = false;
			continue;
		}
		pthread_mutex_unlock(&tx.lock);
		to = tx_send_range(from, to);
		pthread_mutex_lock(&tx.lock);
		tx.rpos = to;
	}
	pthread_mutex_unlock(&tx.lock);
	octo_thread_unregister();
	return NULL;
}

int sip_udp_tx_start(void)
{
	int rc;

	pthread_mutex_lock(&tx.lock);
	if (tx.running) {
		pthread_mutex_unlock(&tx.lock);
		return 0;
	}
	if (!tx.ring) {
		void *p = mmap(NULL, TX_RING_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			pthread_mutex_unlock(&tx.lock);
			return OCTO_ENOMEM;
		}
		tx.ring = p;
	}
	tx.touched = 0;
	tx.wpos = tx.rpos = 0;
	tx.stopping = tx.sleeping = tx.wake_due = false;
	tx.hold = 0;
	rc = pthread_create(&tx.thread, NULL, tx_thread, NULL);
	tx.running = rc == 0;
	if (rc) {
		munmap(tx.ring, TX_RING_BYTES);
		tx.ring = NULL;
	}
	pthread_mutex_unlock(&tx.lock);
	if (rc) {
		octo_log(OCTO_WARNING, "SIP: no UDP sending thread (%s): the loop sends itself",
			 strerror(rc));
		return OCTO_EFAIL;
	}
	return 0;
}

void sip_udp_tx_stop(void)
{
	pthread_mutex_lock(&tx.lock);
	if (!tx.running) {
		pthread_mutex_unlock(&tx.lock);
		return;
	}
	tx.stopping = true;
	pthread_cond_signal(&tx.cond);
	pthread_mutex_unlock(&tx.lock);
	pthread_join(tx.thread, NULL);
	pthread_mutex_lock(&tx.lock);
	tx.running = false;
	munmap(tx.ring, TX_RING_BYTES);
	tx.ring = NULL;
	pthread_mutex_unlock(&tx.lock);
}
