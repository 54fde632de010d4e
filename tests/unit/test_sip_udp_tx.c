/*
 * test_sip_udp_tx.c - chan_sip's UDP sending thread (sip_udp_tx.c, included
 * here so that a test can play the thread's part step by step): every
 * datagram queued arrives, whole and in order, also when the ring wraps
 * many times; a small batch of the loop is sent by the loop itself while
 * the thread sleeps, a big one wakes the thread; a datagram too big for
 * the ring and a stopped thread leave the sending to the caller; stop
 * sends what is queued first; a datagram that cannot be sent is reported
 * to the loop with its client transaction's key.
 */
#include <arpa/inet.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "octo_test.h"
#include "../../modules/channels/chan_sip/sip_udp_tx.c"

/* ---------------------------------------------------------------- stubs */

void sip_stats_inc(size_t offset)
{
	(void)offset;
}

/* what the loop was told (sip_txn.c's part) */
static char failed_keys[4][64];
static atomic_int failed_n;

void sip_txn_send_failed(const char *key)
{
	int i = atomic_load(&failed_n);

	OCTO_CHECK(octo_loop_is_current());
	if (i < 4) {
		snprintf(failed_keys[i], sizeof(failed_keys[i]), "%s", key);
		atomic_store(&failed_n, i + 1);
	}
}

/* ---------------------------------------------------------------- helpers */

static int udp_socket(struct sockaddr_in *bound)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0), size = 8 << 20;
	socklen_t len = sizeof(*bound);

	memset(bound, 0, sizeof(*bound));
	bound->sin_family = AF_INET;
	bound->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)bound, sizeof(*bound)) != 0 ||
	    getsockname(fd, (struct sockaddr *)bound, &len) != 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return fd;
}

/* Reads datagrams "n <seq> ..." numbered first.. until `count` came or 5 s
 * pass; counts those out of order or damaged. */
static unsigned receive_in_order(int fd, unsigned first, unsigned count, unsigned *bad)
{
	char buf[2048];
	unsigned got = 0;

	while (got < count) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		unsigned seq;

		if (poll(&p, 1, 5000) <= 0)
			break;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			break;
		buf[n] = '\0';
		if (sscanf(buf, "n %u", &seq) != 1 || seq != first + got)
			(*bad)++;
		else if ((size_t)n != 100 + seq % 900 || buf[n - 1] != (char)('a' + seq % 26))
			(*bad)++; /* not the length and filling it was sent with */
		got++;
	}
	return got;
}

/* "n <seq> " and filling up to 100-999 bytes; buf holds 2048. */
static size_t datagram(char buf[static 2048], unsigned seq)
{
	size_t len = 100 + seq % 900;
	int head = sprintf(buf, "n %u ", seq);

	memset(buf + head, (char)('a' + seq % 26), len - (size_t)head);
	return len;
}

/* ---------------------------------------------------------------- tests */

OCTO_TEST(datagrams_arrive_whole_and_in_order)
{
	struct sockaddr_in to, from;
	int rx = udp_socket(&to), tx_fd = udp_socket(&from);
	unsigned bad = 0, got = 0;
	char buf[2048];

	OCTO_CHECK(rx >= 0 && tx_fd >= 0);
	OCTO_CHECK_INT_EQ(sip_udp_tx_start(), 0);
	/* 20,000 datagrams of 100-999 bytes, read 250 at a time (the socket
	 * buffer holds no more): the 1 MB ring wraps over and over, and
	 * starts again at its beginning whenever it is empty */
	for (unsigned seq = 0; seq < 20000; seq++) {
		size_t len = datagram(buf, seq);

		while (!sip_udp_tx_queue(tx_fd, (struct sockaddr *)&to, sizeof(to), buf, len, NULL))
			usleep(1000); /* full: the caller would send itself */
		if (seq % 250 == 249)
			got += receive_in_order(rx, seq - 249, 250, &bad);
	}
	OCTO_CHECK_INT_EQ(got, 20000);
	OCTO_CHECK_INT_EQ(bad, 0);
	/* too big for the ring: the caller sends it */
	{
		static char big[300000];

		OCTO_CHECK(!sip_udp_tx_queue(tx_fd, (struct sockaddr *)&to, sizeof(to), big,
					     sizeof(big), NULL));
	}
	/* stop sends what is queued, then refuses */
	for (unsigned seq = 0; seq < 100; seq++) {
		size_t len = datagram(buf, seq);

		OCTO_CHECK(sip_udp_tx_queue(tx_fd, (struct sockaddr *)&to, sizeof(to), buf, len, NULL));
	}
	sip_udp_tx_stop();
	bad = 0;
	OCTO_CHECK_INT_EQ(receive_in_order(rx, 0, 100, &bad), 100);
	OCTO_CHECK_INT_EQ(bad, 0);
	OCTO_CHECK(!sip_udp_tx_queue(tx_fd, (struct sockaddr *)&to, sizeof(to), buf, 10, NULL));
	sip_udp_tx_stop(); /* twice: nothing */
	close(rx);
	close(tx_fd);
}

/* The ring itself, the test playing the thread: records that do not fit
 * before the end of the ring start again at its beginning, behind a wrap
 * mark, while older ones are still waiting; a full ring refuses. */
OCTO_TEST(ring_wraps_with_records_waiting)
{
	struct sockaddr_in to, from;
	int rx = udp_socket(&to), tx_fd = udp_socket(&from);
	unsigned bad = 0, queued = 0, sent = 0, got = 0;
	uint64_t mid;
	char buf[2048];

	OCTO_CHECK(rx >= 0 && tx_fd >= 0);
	tx.ring = mmap(NULL, TX_RING_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	OCTO_CHECK(tx.ring != MAP_FAILED);
	tx.running = true; /* no thread: this test sends */
	tx.stopping = false;
	tx.wpos = tx.rpos = 0;
	/* fill it */
	while (sip_udp_tx_queue(tx_fd, (struct sockaddr *)&to, sizeof(to), buf,
				datagram(buf, queued), NULL))
		queued++;
	OCTO_CHECK(tx.wpos > TX_RING_BYTES - 1100 && tx.wpos <= TX_RING_BYTES);
	/* send the first half of what waits: room at the start, none at the end */
	mid = tx.rpos + (tx.wpos - tx.rpos) / 2;
	for (uint64_t pos = tx.rpos; pos < mid;) {
		struct tx_rec *r = (struct tx_rec *)(tx.ring + pos % TX_RING_BYTES);
		uint64_t next = pos + TX_ALIGN(sizeof(*r) + r->len + r->keylen);

		tx.rpos = tx_send_range(pos, next);
		pos = next;
		sent++;
		if (sent % 200 == 0)
			got += receive_in_order(rx, got, 200, &bad);
	}
	/* more: these go at the beginning, after a wrap mark */
	for (unsigned i = 0; i < 300; i++)
		OCTO_CHECK(sip_udp_tx_queue(tx_fd, (struct sockaddr *)&to, sizeof(to), buf,
					    datagram(buf, queued++), NULL));
	OCTO_CHECK(tx.wpos > TX_RING_BYTES); /* wrapped */
	OCTO_CHECK((size_t)(tx.wpos % TX_RING_BYTES) < tx.rpos % TX_RING_BYTES);
	/* the rest, in slices, across the wrap */
	while (tx.rpos < tx.wpos) {
		uint64_t to_pos = tx.rpos, end = tx.wpos;
		unsigned n = 0;

		while (to_pos < end && n < 100) {
			size_t off = (size_t)(to_pos % TX_RING_BYTES);
			struct tx_rec *r = (struct tx_rec *)(tx.ring + off);

			if (r->len == TX_WRAP) {
				to_pos += TX_RING_BYTES - off;
				continue;
			}
			to_pos += TX_ALIGN(sizeof(*r) + r->len + r->keylen);
			n++;
		}
		tx.rpos = tx_send_range(tx.rpos, to_pos);
		got += receive_in_order(rx, got, n, &bad);
	}
	got += receive_in_order(rx, got, queued - got, &bad);
	OCTO_CHECK_INT_EQ(got, queued);
	OCTO_CHECK_INT_EQ(bad, 0);
	tx.running = false;
	munmap(tx.ring, TX_RING_BYTES);
	tx.ring = NULL;
	close(rx);
	close(tx_fd);
}

/* A datagram the kernel refuses (broadcast without SO_BROADCAST: EACCES,
 * nothing leaves the machine): its transaction's key reaches the loop; one
 * without a key and the ones around it are not affected. */
OCTO_TEST(failed_send_is_reported_with_its_transaction)
{
	struct sockaddr_in to, from, bcast = { .sin_family = AF_INET, .sin_port = htons(9) };
	int rx = udp_socket(&to), tx_fd = udp_socket(&from);
	unsigned bad = 0;
	char buf[2048];

	OCTO_CHECK(rx >= 0 && tx_fd >= 0);
	bcast.sin_addr.s_addr = htonl(INADDR_BROADCAST);
	OCTO_CHECK_INT_EQ(octo_sched_start(1), 0);
	OCTO_CHECK_INT_EQ(sip_udp_tx_start(), 0);
	OCTO_CHECK(sip_udp_tx_queue(tx_fd, (struct sockaddr *)&to, sizeof(to), buf,
				    datagram(buf, 0), "z9hG4bKok|INVITE"));
	OCTO_CHECK(sip_udp_tx_queue(tx_fd, (struct sockaddr *)&bcast, sizeof(bcast), "x", 1,
				    "z9hG4bKlost|INVITE"));
	OCTO_CHECK(sip_udp_tx_queue(tx_fd, (struct sockaddr *)&bcast, sizeof(bcast), "y", 1, NULL));
	OCTO_CHECK(sip_udp_tx_queue(tx_fd, (struct sockaddr *)&to, sizeof(to), buf,
				    datagram(buf, 1), "z9hG4bKok2|OPTIONS"));
	OCTO_CHECK_INT_EQ(receive_in_order(rx, 0, 2, &bad), 2);
	OCTO_CHECK_INT_EQ(bad, 0);
	for (int i = 0; i < 500 && atomic_load(&failed_n) < 1; i++)
		usleep(10000);
	sip_udp_tx_stop();
	usleep(50000); /* nothing more comes */
	OCTO_CHECK_INT_EQ(atomic_load(&failed_n), 1);
	OCTO_CHECK_STR_EQ(failed_keys[0], "z9hG4bKlost|INVITE");
	octo_sched_stop();
	close(rx);
	close(tx_fd);
}

/* A batch of the loop (held wake-up): a small one is sent by the loop
 * itself at the release while the thread sleeps, a big one wakes the
 * thread; all arrive in order. */
struct batch_run {
	int fd;
	struct sockaddr_in to;
	bool small_sent_by_loop, big_woke_thread;
	atomic_bool done;
};

static void batch_on_loop(void *data)
{
	struct batch_run *b = data;
	char buf[2048];
	unsigned seq = 0;

	memset(buf, 's', sizeof(buf));
	sip_udp_tx_hold();
	for (; seq < 2; seq++)
		sip_udp_tx_queue(b->fd, (struct sockaddr *)&b->to, sizeof(b->to), buf, 200, NULL);
	sip_udp_tx_release();
	pthread_mutex_lock(&tx.lock);
	/* sent, and the ring starts again at its beginning, as the thread's
	 * does when it empties it */
	b->small_sent_by_loop = tx.rpos == 0 && tx.wpos == 0 && tx.sleeping;
	pthread_mutex_unlock(&tx.lock);
	sip_udp_tx_hold();
	for (; seq < 12; seq++)
		sip_udp_tx_queue(b->fd, (struct sockaddr *)&b->to, sizeof(b->to), buf,
				 datagram(buf, seq), NULL);
	sip_udp_tx_release();
	pthread_mutex_lock(&tx.lock);
	b->big_woke_thread = !tx.sleeping;
	pthread_mutex_unlock(&tx.lock);
	atomic_store(&b->done, true);
}

OCTO_TEST(small_batches_are_sent_by_the_loop)
{
	struct batch_run b = { 0 };
	struct sockaddr_in from;
	int rx = udp_socket(&b.to);
	unsigned bad = 0, got;
	bool asleep = false;
	char buf[2048];

	b.fd = udp_socket(&from);
	OCTO_CHECK(rx >= 0 && b.fd >= 0);
	OCTO_CHECK_INT_EQ(octo_sched_start(1), 0);
	OCTO_CHECK_INT_EQ(sip_udp_tx_start(), 0);
	for (int i = 0; i < 500 && !asleep; i++) {
		pthread_mutex_lock(&tx.lock);
		asleep = tx.sleeping;
		pthread_mutex_unlock(&tx.lock);
		if (!asleep)
			usleep(1000);
	}
	OCTO_CHECK(asleep);
	OCTO_CHECK_INT_EQ(octo_loop_call(batch_on_loop, &b), 0);
	for (int i = 0; i < 500 && !atomic_load(&b.done); i++)
		usleep(1000);
	OCTO_CHECK(atomic_load(&b.done));
	OCTO_CHECK(b.small_sent_by_loop);
	OCTO_CHECK(b.big_woke_thread);
	/* the two small ones: 200 bytes each, whatever the buffer held */
	got = 0;
	for (int i = 0; i < 2; i++) {
		struct pollfd pfd = { .fd = rx, .events = POLLIN };

		if (poll(&pfd, 1, 2000) == 1 && recv(rx, buf, sizeof(buf), 0) == 200)
			got++;
	}
	OCTO_CHECK_INT_EQ(got, 2);
	OCTO_CHECK_INT_EQ(receive_in_order(rx, 2, 10, &bad), 10);
	OCTO_CHECK_INT_EQ(bad, 0);
	sip_udp_tx_stop();
	octo_sched_stop();
	close(rx);
	close(b.fd);
}

OCTO_TEST_MAIN()
