/*
 * test_sip_media.c - chan_sip's RTP endpoints (sip_media.c) on 127.0.0.1,
 * with UDP sockets of the test playing the phones: port allocation, the
 * relay both ways (bytes unchanged with one codec, PCMU <-> PCMA
 * transcoding, telephone-event payload types mapped), symmetric RTP,
 * dropped garbage and foreign sources, the RTP timeout, RFC 4733 digits,
 * and terminated legs (frames read and written through libortp, checked
 * against hand-built RTP). The G.711 module is compiled in for the codec
 * registry.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "octo/frame.h"
#include "octo/media.h"
#include "octo/registry.h"
#include "../../core/internal.h"
#include "../../modules/codecs/codec_g711.c"
#include "sip_media.h"

#include "octo_test.h"

/* ---------------------------------------------------------------- helpers */

static unsigned range_start;

static const struct octo_codec *codec(const char *name)
{
	return octo_registry_peek(OCTO_REG_CODEC, name, NULL);
}

static void setup(void)
{
	static bool done;
	struct sip_media_conf c;

	if (done)
		return;
	done = true;
	octo_registry_init();
	if (g711_load(NULL)) {
		printf("FAIL setup: codec_g711 did not load\n");
		exit(1);
	}
	/* a range of its own per run, away from the usual 10000-20000 and
	 * below the kernel's ephemeral ports (32768 on) */
	range_start = 21000 + (unsigned)(getpid() % 500) * 20;
	c = (struct sip_media_conf){ range_start, range_start + 199, 60, 2 };
	sip_media_apply(&c);
	if (sip_media_init()) {
		printf("FAIL setup: the media workers did not start\n");
		exit(1);
	}
}

static void set_conf(unsigned start, unsigned end, unsigned timeout)
{
	struct sip_media_conf c = { start, end, timeout, 2 };

	sip_media_apply(&c);
}

/* A phone: a UDP socket on 127.0.0.1 with a free port. */
static int phone_open(unsigned *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		printf("FAIL: cannot open a test socket: %s\n", strerror(errno));
		exit(1);
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static void phone_send(int fd, unsigned to_port, const uint8_t *buf, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)to_port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa)) != (ssize_t)len)
		printf("     (sendto: %s)\n", strerror(errno));
}

/* Receives one datagram within ms; returns its length or -1. *from_port
 * gets the sender's port. */
static int phone_recv(int fd, uint8_t *buf, size_t size, int ms, unsigned *from_port)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return -1;
	n = recvfrom(fd, buf, size, 0, (struct sockaddr *)&sa, &len);
	if (n >= 0 && from_port)
		*from_port = ntohs(sa.sin_port);
	return (int)n;
}

static void phone_flush(int fd)
{
	uint8_t buf[2048];

	while (phone_recv(fd, buf, sizeof(buf), 0, NULL) >= 0) {
	}
}

static size_t rtp_build(uint8_t *buf, int pt, bool marker, uint16_t seq, uint32_t ts, uint32_t ssrc,
			const uint8_t *payload, size_t len)
{
	buf[0] = 0x80;
	buf[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
	buf[2] = (uint8_t)(seq >> 8);
	buf[3] = (uint8_t)seq;
	for (int i = 0; i < 4; i++) {
		buf[4 + i] = (uint8_t)(ts >> (24 - 8 * i));
		buf[8 + i] = (uint8_t)(ssrc >> (24 - 8 * i));
	}
	memcpy(buf + 12, payload, len);
	return 12 + len;
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* An RFC 4733 event packet. */
static size_t event_build(uint8_t *buf, int pt, bool marker, uint16_t seq, uint32_t ts,
			  uint8_t event, bool end, uint16_t duration)
{
	uint8_t p[4] = { event, (uint8_t)((end ? 0x80 : 0) | 10), (uint8_t)(duration >> 8),
			 (uint8_t)duration };

	return rtp_build(buf, pt, marker, seq, ts, 0x5eed, p, sizeof(p));
}

/* Sends the packets of one digit the way a phone does: start, one more,
 * then the end three times. */
static void send_digit(int fd, unsigned to_port, int pt, uint8_t event, uint16_t *seq, uint32_t ts)
{
	uint8_t buf[64];

	phone_send(fd, to_port, buf, event_build(buf, pt, true, (*seq)++, ts, event, false, 160));
	phone_send(fd, to_port, buf, event_build(buf, pt, false, (*seq)++, ts, event, false, 320));
	for (int i = 0; i < 3; i++)
		phone_send(fd, to_port, buf,
			   event_build(buf, pt, false, (*seq)++, ts, event, true, 480));
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Callback recorder. */
static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cb_cond = PTHREAD_COND_INITIALIZER;
static int cb_timeouts;
static char cb_digits[64];

static void cb_timeout(void *data)
{
	pthread_mutex_lock(&cb_lock);
	cb_timeouts++;
	pthread_cond_broadcast(&cb_cond);
	pthread_mutex_unlock(&cb_lock);
}

static void cb_digit(void *data, char d)
{
	size_t n;

	pthread_mutex_lock(&cb_lock);
	n = strlen(cb_digits);
	if (n + 1 < sizeof(cb_digits))
		cb_digits[n] = d;
	pthread_cond_broadcast(&cb_cond);
	pthread_mutex_unlock(&cb_lock);
}

static void cb_reset(void)
{
	pthread_mutex_lock(&cb_lock);
	cb_timeouts = 0;
	memset(cb_digits, 0, sizeof(cb_digits));
	pthread_mutex_unlock(&cb_lock);
}

/* Waits up to ms until `count` timeouts or `digits` were seen. */
static void cb_wait(int timeouts, size_t digits, unsigned ms)
{
	uint64_t end = octo_now_ms() + ms;

	pthread_mutex_lock(&cb_lock);
	while ((cb_timeouts < timeouts || strlen(cb_digits) < digits) && octo_now_ms() < end) {
		pthread_mutex_unlock(&cb_lock);
		sleep_ms(5);
		pthread_mutex_lock(&cb_lock);
	}
	pthread_mutex_unlock(&cb_lock);
}

/* ---------------------------------------------------------------- allocation */

OCTO_TEST(alloc_binds_an_even_port_pair_in_the_range)
{
	struct sip_media *a, *b;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd;

	setup();
	a = sip_media_alloc("127.0.0.1");
	b = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(a && b);
	if (!a || !b)
		return;
	OCTO_CHECK_INT_EQ(sip_media_port(a) % 2, 0);
	OCTO_CHECK(sip_media_port(a) >= range_start && sip_media_port(a) + 1 <= range_start + 199);
	OCTO_CHECK(sip_media_port(b) != sip_media_port(a));
	OCTO_CHECK_INT_EQ(sip_media_count(), 2);
	/* both ports of the pair are taken */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)sip_media_port(a));
	OCTO_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE);
	sa.sin_port = htons((uint16_t)(sip_media_port(a) + 1));
	OCTO_CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE);
	close(fd);
	sip_media_free(a);
	sip_media_free(b);
	OCTO_CHECK_INT_EQ(sip_media_count(), 0);
}

/* Commands posted between sip_media_wake_hold and _release (the SIP loop's
 * batch of datagrams) are run once released: 20 endpoints set up and freed
 * under a hold (nested, as a callback inside the batch would) have their
 * ports back. Without the wake-up at the release the commands would wait
 * for a packet or a tick of their worker, and here none comes. */
OCTO_TEST(commands_posted_under_a_wake_hold_run_after_it)
{
	unsigned ports[20];
	int fd, back = 0;

	setup();
	sip_media_wake_hold();
	sip_media_wake_hold();
	for (int i = 0; i < 20; i++) {
		struct sip_media *m = sip_media_alloc("127.0.0.1");

		OCTO_CHECK(m != NULL);
		ports[i] = m ? sip_media_port(m) : 0;
		sip_media_set_remote(m, "127.0.0.1", 40000, 8, "PCMA", -1);
		sip_media_free(m);
	}
	sip_media_wake_release();
	sip_media_wake_release();
	sip_media_wake_release(); /* one too many: ignored */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	for (int i = 0; i < 20; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET };

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa.sin_port = htons((uint16_t)ports[i]);
		for (int t = 0; t < 200; t++) {
			if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
				back++;
				close(fd);
				fd = socket(AF_INET, SOCK_DGRAM, 0);
				break;
			}
			sleep_ms(10);
		}
	}
	close(fd);
	OCTO_CHECK_INT_EQ(back, 20);
	OCTO_CHECK_INT_EQ(sip_media_count(), 0);
}

OCTO_TEST(alloc_refuses_bad_addresses_and_a_full_range)
{
	struct sip_media *m[3];

	setup();
	OCTO_CHECK(sip_media_alloc("localhost") == NULL);
	OCTO_CHECK(sip_media_alloc("") == NULL);
	OCTO_CHECK(sip_media_alloc(NULL) == NULL);
	OCTO_CHECK(sip_media_alloc("192.0.2.99") == NULL); /* not an address of this host */
	/* a range with room for two pairs; 4 ports, 5th not usable as RTP+RTCP */
	set_conf(range_start + 100, range_start + 104, 60);
	m[0] = sip_media_alloc("127.0.0.1");
	m[1] = sip_media_alloc("127.0.0.1");
	m[2] = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(m[0] && m[1]);
	OCTO_CHECK(m[2] == NULL);
	if (m[0] && m[1]) {
		OCTO_CHECK(sip_media_port(m[0]) == range_start + 100 ||
			   sip_media_port(m[0]) == range_start + 102);
		OCTO_CHECK(sip_media_port(m[1]) == range_start + 100 ||
			   sip_media_port(m[1]) == range_start + 102);
	}
	sip_media_free(m[0]);
	sip_media_free(m[1]);
	OCTO_CHECK_INT_EQ(sip_media_count(), 0);
	set_conf(range_start, range_start + 199, 60);
}

OCTO_TEST(set_remote_checks_its_arguments)
{
	struct sip_media *m;

	setup();
	m = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(m != NULL);
	if (!m)
		return;
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "pbx.example", 4000, 0, "PCMU", -1), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "::1", 4000, 0, "PCMU", -1), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", 70000, 0, "PCMU", -1), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", 4000, 128, "PCMU", -1), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", 4000, 18, "G729", -1), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", 4000, 0, "PCMU", 13), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", 4000, 0, NULL, -1), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", 4000, 8, "pcma", 101), 0);
	{
		struct sip_media_info info;

		sip_media_info(m, &info);
		OCTO_CHECK_STR_EQ(info.remote, "127.0.0.1:4000");
		OCTO_CHECK_STR_EQ(info.codec, "PCMA");
		OCTO_CHECK_INT_EQ(info.pt, 8);
		OCTO_CHECK_INT_EQ(info.dtmf_pt, 101);
		OCTO_CHECK_STR_EQ(info.mode, "idle");
		OCTO_CHECK(!info.learned);
	}
	/* hold: port 0 means nothing is sent */
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", 0, 8, "PCMA", 101), 0);
	{
		struct sip_media_info info;

		sip_media_info(m, &info);
		OCTO_CHECK_STR_EQ(info.remote, "");
	}
	sip_media_free(m);
}

OCTO_TEST(ipv6_and_wildcard_addresses_work)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
	socklen_t len = sizeof(sa);
	struct sip_media *m6, *any;
	struct octo_frame f;
	uint8_t got[2048];
	int fd = socket(AF_INET6, SOCK_DGRAM, 0);
	char port[8];

	setup();
	sa.sin6_addr = in6addr_loopback;
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		printf("     (no IPv6 loopback here: skipped)\n");
		if (fd >= 0)
			close(fd);
		return;
	}
	getsockname(fd, (struct sockaddr *)&sa, &len);
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin6_port));
	m6 = sip_media_alloc("::1");
	any = sip_media_alloc("0.0.0.0");
	OCTO_CHECK(m6 && any);
	if (m6) {
		OCTO_CHECK_INT_EQ(
			sip_media_set_remote(m6, "::1", (unsigned)atoi(port), 8, "PCMA", -1), 0);
		octo_frame_silence(&f, 160);
		OCTO_CHECK_INT_EQ(sip_media_write(m6, &f), 0);
		OCTO_CHECK_INT_EQ(phone_recv(fd, got, sizeof(got), 1000, NULL), 172);
		OCTO_CHECK_INT_EQ(got[1] & 0x7f, 8);
		OCTO_CHECK_INT_EQ(got[12], 0xD5); /* A-law silence */
	}
	sip_media_free(m6);
	sip_media_free(any);
	close(fd);
}

/* ---------------------------------------------------------------- relay */

struct pair {
	struct sip_media *m1, *m2; /* m1 faces phone A, m2 phone B */
	int a, b;
	unsigned pa, pb;
};

static bool pair_open(struct pair *p, const char *c1, int pt1, int ev1, const char *c2, int pt2,
		      int ev2)
{
	p->a = phone_open(&p->pa);
	p->b = phone_open(&p->pb);
	p->m1 = sip_media_alloc("127.0.0.1");
	p->m2 = sip_media_alloc("127.0.0.1");
	if (!p->m1 || !p->m2)
		return false;
	return sip_media_set_remote(p->m1, "127.0.0.1", p->pa, pt1, c1, ev1) == 0 &&
	       sip_media_set_remote(p->m2, "127.0.0.1", p->pb, pt2, c2, ev2) == 0;
}

static void pair_close(struct pair *p)
{
	sip_media_free(p->m1);
	sip_media_free(p->m2);
	close(p->a);
	close(p->b);
}

OCTO_TEST(relay_same_codec_passes_packets_unchanged_both_ways)
{
	struct pair p;
	uint8_t pkt[256], got[2048], payload[160];
	struct sip_media_info i1, i2;
	unsigned from = 0;
	int ok_ab = 0, ok_ba = 0;

	setup();
	OCTO_CHECK(pair_open(&p, "PCMU", 0, 101, "PCMU", 0, 101));
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, true), 0);
	/* the two legs now share a worker */
	sip_media_info(p.m1, &i1);
	sip_media_info(p.m2, &i2);
	OCTO_CHECK_INT_EQ(i1.worker, i2.worker);
	OCTO_CHECK_STR_EQ(i1.mode, "relay");
	for (int k = 0; k < 50; k++) {
		size_t len;
		int n;

		for (int i = 0; i < 160; i++)
			payload[i] = (uint8_t)(k * 7 + i);
		len = rtp_build(pkt, 0, k == 0, (uint16_t)(1000 + k), 160u * (unsigned)k,
				0xA1A1A1A1, payload, 160);
		phone_send(p.a, sip_media_port(p.m1), pkt, len);
		n = phone_recv(p.b, got, sizeof(got), 1000, &from);
		if (n == (int)len && !memcmp(got, pkt, len) && from == sip_media_port(p.m2))
			ok_ab++;
		len = rtp_build(pkt, 0, false, (uint16_t)(7 + k), 999u + 160u * (unsigned)k,
				0xB2B2B2B2, payload, 80);
		phone_send(p.b, sip_media_port(p.m2), pkt, len);
		n = phone_recv(p.a, got, sizeof(got), 1000, &from);
		if (n == (int)len && !memcmp(got, pkt, len) && from == sip_media_port(p.m1))
			ok_ba++;
	}
	OCTO_CHECK_INT_EQ(ok_ab, 50);
	OCTO_CHECK_INT_EQ(ok_ba, 50);
	/* telephone-events pass through unchanged, and no digit is reported */
	{
		uint8_t ev[64];
		size_t len = event_build(ev, 101, true, 3000, 42, 5, true, 800);

		cb_reset();
		sip_media_set_callbacks(p.m1, cb_timeout, cb_digit, &cb_timeouts);
		phone_send(p.a, sip_media_port(p.m1), ev, len);
		OCTO_CHECK_INT_EQ(phone_recv(p.b, got, sizeof(got), 1000, NULL), (int)len);
		OCTO_CHECK(!memcmp(got, ev, len));
		sleep_ms(50);
		OCTO_CHECK_STR_EQ(cb_digits, "");
	}
	/* garbage and an unknown payload type are not relayed */
	{
		uint8_t junk[40] = "hello, this is not RTP at all";
		size_t len = rtp_build(pkt, 18, false, 1, 1, 0xA1A1A1A1, payload, 20);

		phone_send(p.a, sip_media_port(p.m1), junk, sizeof(junk));
		phone_send(p.a, sip_media_port(p.m1), pkt, len);
		phone_send(p.a, sip_media_port(p.m1), pkt, 5);
		OCTO_CHECK_INT_EQ(phone_recv(p.b, got, sizeof(got), 200, NULL), -1);
		sip_media_info(p.m1, &i1);
		OCTO_CHECK_INT_EQ(i1.rx_dropped, 3);
		OCTO_CHECK_INT_EQ(i1.rx_packets, 52); /* 50 audio, 1 event, 1 with PT 18 */
		sip_media_info(p.m2, &i2);
		OCTO_CHECK_INT_EQ(i2.tx_packets, 51);
	}
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m2, p.m1, false), 0);
	sip_media_info(p.m1, &i1);
	OCTO_CHECK_STR_EQ(i1.mode, "idle");
	/* idle: audio is not relayed any more */
	phone_send(p.a, sip_media_port(p.m1), pkt, rtp_build(pkt, 0, false, 5, 5, 1, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(p.b, got, sizeof(got), 200, NULL), -1);
	pair_close(&p);
}

OCTO_TEST(relay_refuses_what_it_cannot_do)
{
	struct pair p;
	struct sip_media *c;

	setup();
	OCTO_CHECK(pair_open(&p, "PCMU", 0, -1, "PCMA", 8, -1));
	c = sip_media_alloc("127.0.0.1");
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m1, true), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, NULL, true), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, c, true), OCTO_EINVAL); /* c has no far end */
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, true), 0);
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, true), 0); /* again: fine */
	OCTO_CHECK_INT_EQ(sip_media_set_remote(c, "127.0.0.1", 9, 0, "PCMU", -1), 0);
	OCTO_CHECK_INT_EQ(sip_media_relay(c, p.m2, true), OCTO_EBUSY);
	OCTO_CHECK_INT_EQ(sip_media_relay(c, p.m2, false), 0); /* not a pair: no-op */
	{
		struct octo_frame f;

		OCTO_CHECK_INT_EQ(sip_media_read(p.m1, &f, 0), OCTO_EBUSY);
		octo_frame_silence(&f, 160);
		OCTO_CHECK_INT_EQ(sip_media_write(p.m2, &f), OCTO_EBUSY);
	}
	/* freeing one leg ends the relay; the other goes back to idle */
	sip_media_free(p.m1);
	p.m1 = NULL;
	{
		struct sip_media_info info;

		sip_media_info(p.m2, &info);
		OCTO_CHECK_STR_EQ(info.mode, "idle");
	}
	OCTO_CHECK_INT_EQ(sip_media_relay(c, p.m2, true), 0);
	sip_media_free(c);
	pair_close(&p);
}

/* A relay stop is posted to the worker; a call thread that plays to a leg
 * right after (a parked call after a transfer) must not find the relay
 * that is on its way out. The wake hold keeps the worker from running the
 * stop before the write: without the control side's view of the relay,
 * the write answered "busy" and the prompt was not heard. */
OCTO_TEST(a_leg_plays_right_after_its_relay_stops)
{
	struct pair p;
	struct sip_media_info info;
	struct octo_frame f;
	uint8_t got[2048];

	setup();
	OCTO_CHECK(pair_open(&p, "PCMA", 8, -1, "PCMA", 8, -1));
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, true), 0);
	sip_media_info(p.m1, &info); /* run by the worker: the relay is on */
	OCTO_CHECK_STR_EQ(info.mode, "relay");
	sip_media_wake_hold();
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, false), 0);
	octo_frame_silence(&f, 160);
	OCTO_CHECK_INT_EQ(sip_media_write(p.m1, &f), 0);
	sip_media_wake_release();
	OCTO_CHECK_INT_EQ(phone_recv(p.a, got, sizeof(got), 1000, NULL), 172);
	OCTO_CHECK_INT_EQ(got[12], 0xD5); /* A-law silence */
	sip_media_info(p.m2, &info);
	OCTO_CHECK_STR_EQ(info.mode, "idle");
	pair_close(&p);
}

OCTO_TEST(relay_transcodes_pcmu_and_pcma)
{
	const struct octo_codec *mu = codec("PCMU"), *al = codec("PCMA");
	struct pair p;
	uint8_t payload[256], expect[256], pkt[512], got[2048];
	int16_t lin[256];
	int n;

	setup();
	OCTO_CHECK(mu && al);
	if (!mu || !al)
		return;
	OCTO_CHECK(pair_open(&p, "PCMU", 0, 101, "PCMA", 8, 96));
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, true), 0);
	/* every u-law byte, A to B: B gets A-law bytes, payload type 8, the
	 * rest of the header as sent (marker, sequence, timestamp, SSRC) */
	for (int i = 0; i < 256; i++)
		payload[i] = (uint8_t)i;
	mu->decode(payload, 256, lin, 256);
	al->encode(lin, 256, expect, 256);
	OCTO_CHECK_INT_EQ(expect[0xFF], 0xD5); /* u-law +0 -> A-law +0 */
	OCTO_CHECK_INT_EQ(expect[0x7F], 0xD5); /* u-law -0 -> A-law +0 */
	OCTO_CHECK_INT_EQ(expect[0x00], 0x2A); /* u-law -32124 -> A-law -32256 */
	phone_send(p.a, sip_media_port(p.m1), pkt,
		   rtp_build(pkt, 0, true, 4242, 123456, 0xCAFE, payload, 256));
	n = phone_recv(p.b, got, sizeof(got), 1000, NULL);
	OCTO_CHECK_INT_EQ(n, 12 + 256);
	if (n == 12 + 256) {
		OCTO_CHECK_INT_EQ(got[1], 0x80 | 8);
		OCTO_CHECK_INT_EQ(rd16(got + 2), 4242);
		OCTO_CHECK_INT_EQ(rd32(got + 4), 123456);
		OCTO_CHECK_INT_EQ(rd32(got + 8), 0xCAFE);
		OCTO_CHECK(!memcmp(got + 12, expect, 256));
	}
	/* every A-law byte, B to A */
	al->decode(payload, 256, lin, 256);
	mu->encode(lin, 256, expect, 256);
	phone_send(p.b, sip_media_port(p.m2), pkt,
		   rtp_build(pkt, 8, false, 77, 160, 0xBEEF, payload, 256));
	n = phone_recv(p.a, got, sizeof(got), 1000, NULL);
	OCTO_CHECK_INT_EQ(n, 12 + 256);
	if (n == 12 + 256) {
		OCTO_CHECK_INT_EQ(got[1], 0);
		OCTO_CHECK(!memcmp(got + 12, expect, 256));
	}
	/* telephone-event 101 on A's side is 96 on B's, payload untouched */
	{
		size_t len = event_build(pkt, 101, false, 9, 9, 11, true, 480);

		phone_send(p.a, sip_media_port(p.m1), pkt, len);
		n = phone_recv(p.b, got, sizeof(got), 1000, NULL);
		OCTO_CHECK_INT_EQ(n, (int)len);
		OCTO_CHECK_INT_EQ(got[1], 96);
		OCTO_CHECK(n == (int)len && !memcmp(got + 12, pkt + 12, 4));
	}
	pair_close(&p);
}

OCTO_TEST(relay_digits_to_a_leg_without_telephone_event_go_to_the_callback)
{
	struct pair p;
	uint8_t got[2048];
	uint16_t seq = 1;

	setup();
	OCTO_CHECK(pair_open(&p, "PCMU", 0, 101, "PCMU", 0, -1));
	cb_reset();
	sip_media_set_callbacks(p.m1, NULL, cb_digit, NULL);
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, true), 0);
	send_digit(p.a, sip_media_port(p.m1), 101, 11, &seq, 8000);
	cb_wait(0, 1, 1000);
	OCTO_CHECK_STR_EQ(cb_digits, "#");
	OCTO_CHECK_INT_EQ(phone_recv(p.b, got, sizeof(got), 100, NULL), -1);
	pair_close(&p);
}

/* ---------------------------------------------------------------- symmetric RTP */

OCTO_TEST(symmetric_rtp_learns_the_far_address)
{
	struct pair p;
	uint8_t pkt[256], got[2048], payload[160] = { 0 };
	struct sip_media_info info;
	unsigned nat_port, other_port;
	int nat = phone_open(&nat_port), other = phone_open(&other_port);
	char want[64];

	setup();
	/* A's SDP says p.pa, but A's packets come from `nat` */
	OCTO_CHECK(pair_open(&p, "PCMU", 0, -1, "PCMU", 0, -1));
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, true), 0);
	/* before A sends: B's audio goes to the SDP address */
	phone_send(p.b, sip_media_port(p.m2), pkt, rtp_build(pkt, 0, 0, 1, 1, 2, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(p.a, got, sizeof(got), 1000, NULL), 172);
	/* A sends from its NAT address: relayed, and learned */
	phone_send(nat, sip_media_port(p.m1), pkt, rtp_build(pkt, 0, 0, 1, 1, 3, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(p.b, got, sizeof(got), 1000, NULL), 172);
	phone_send(p.b, sip_media_port(p.m2), pkt, rtp_build(pkt, 0, 0, 2, 161, 2, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(nat, got, sizeof(got), 1000, NULL), 172);
	OCTO_CHECK_INT_EQ(phone_recv(p.a, got, sizeof(got), 100, NULL), -1);
	sip_media_info(p.m1, &info);
	snprintf(want, sizeof(want), "127.0.0.1:%u", nat_port);
	OCTO_CHECK_STR_EQ(info.remote, want);
	OCTO_CHECK(info.learned);
	/* a third party cannot take the stream over while A talks */
	phone_send(other, sip_media_port(p.m1), pkt, rtp_build(pkt, 0, 0, 9, 9, 9, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(p.b, got, sizeof(got), 200, NULL), -1);
	sip_media_info(p.m1, &info);
	OCTO_CHECK_STR_EQ(info.remote, want);
	OCTO_CHECK_INT_EQ(info.rx_dropped, 1);
	/* a new SDP (re-INVITE) starts the learning over */
	OCTO_CHECK_INT_EQ(sip_media_set_remote(p.m1, "127.0.0.1", p.pa, 0, "PCMU", -1), 0);
	sip_media_info(p.m1, &info);
	snprintf(want, sizeof(want), "127.0.0.1:%u", p.pa);
	OCTO_CHECK_STR_EQ(info.remote, want);
	OCTO_CHECK(!info.learned);
	pair_close(&p);
	close(nat);
	close(other);
}

OCTO_TEST(symmetric_rtp_takes_a_new_source_after_silence)
{
	struct pair p;
	uint8_t pkt[256], got[2048], payload[160] = { 0 };
	unsigned port2;
	int s2 = phone_open(&port2);

	setup();
	OCTO_CHECK(pair_open(&p, "PCMU", 0, -1, "PCMU", 0, -1));
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, true), 0);
	phone_send(p.a, sip_media_port(p.m1), pkt, rtp_build(pkt, 0, 0, 1, 1, 3, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(p.b, got, sizeof(got), 1000, NULL), 172);
	sleep_ms(2100); /* the NAT mapping of A changes */
	phone_send(s2, sip_media_port(p.m1), pkt, rtp_build(pkt, 0, 0, 2, 161, 3, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(p.b, got, sizeof(got), 1000, NULL), 172);
	phone_send(p.b, sip_media_port(p.m2), pkt, rtp_build(pkt, 0, 0, 1, 1, 2, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(s2, got, sizeof(got), 1000, NULL), 172);
	pair_close(&p);
	close(s2);
}

OCTO_TEST(hold_stops_sending_to_that_leg)
{
	struct pair p;
	uint8_t pkt[256], got[2048], payload[160] = { 0 };

	setup();
	OCTO_CHECK(pair_open(&p, "PCMU", 0, -1, "PCMU", 0, -1));
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, true), 0);
	/* A's re-INVITE puts the call on hold (port 0): B's audio no longer
	 * goes to A, even when A keeps sending (music on hold) */
	OCTO_CHECK_INT_EQ(sip_media_set_remote(p.m1, "127.0.0.1", 0, 0, "PCMU", -1), 0);
	phone_send(p.a, sip_media_port(p.m1), pkt, rtp_build(pkt, 0, 0, 1, 1, 3, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(p.b, got, sizeof(got), 1000, NULL), 172);
	phone_send(p.b, sip_media_port(p.m2), pkt, rtp_build(pkt, 0, 0, 1, 1, 2, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(p.a, got, sizeof(got), 200, NULL), -1);
	/* resume */
	OCTO_CHECK_INT_EQ(sip_media_set_remote(p.m1, "127.0.0.1", p.pa, 0, "PCMU", -1), 0);
	phone_send(p.b, sip_media_port(p.m2), pkt, rtp_build(pkt, 0, 0, 2, 161, 2, payload, 160));
	OCTO_CHECK_INT_EQ(phone_recv(p.a, got, sizeof(got), 1000, NULL), 172);
	pair_close(&p);
}

/* ---------------------------------------------------------------- timeout and digits */

OCTO_TEST(rtp_timeout_fires_once_for_a_silent_leg)
{
	struct sip_media *m, *live;
	int a;
	unsigned pa;
	uint8_t pkt[256], payload[160] = { 0 };

	setup();
	set_conf(range_start, range_start + 199, 1);
	a = phone_open(&pa);
	m = sip_media_alloc("127.0.0.1");
	live = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(m && live);
	if (!m || !live)
		return;
	cb_reset();
	sip_media_set_callbacks(m, cb_timeout, NULL, &cb_timeouts);
	sip_media_set_callbacks(live, cb_timeout, NULL, &cb_timeouts);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", pa, 0, "PCMU", -1), 0);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(live, "127.0.0.1", pa, 0, "PCMU", -1), 0);
	/* `live` gets a packet every 100 ms for 2.5 s; `m` gets nothing */
	for (int i = 0; i < 25; i++) {
		phone_send(a, sip_media_port(live), pkt,
			   rtp_build(pkt, 0, 0, (uint16_t)i, 160u * (unsigned)i, 1, payload, 160));
		sleep_ms(100);
	}
	pthread_mutex_lock(&cb_lock);
	OCTO_CHECK_INT_EQ(cb_timeouts, 1);
	pthread_mutex_unlock(&cb_lock);
	/* on hold (the far end does not send): no timeout */
	cb_reset();
	sip_media_set_rx_expected(live, false);
	sleep_ms(1600);
	pthread_mutex_lock(&cb_lock);
	OCTO_CHECK_INT_EQ(cb_timeouts, 0);
	pthread_mutex_unlock(&cb_lock);
	/* off hold: it runs again */
	sip_media_set_rx_expected(live, true);
	cb_wait(1, 0, 3000);
	pthread_mutex_lock(&cb_lock);
	OCTO_CHECK_INT_EQ(cb_timeouts, 1);
	pthread_mutex_unlock(&cb_lock);
	set_conf(range_start, range_start + 199, 60);
	sip_media_free(m);
	sip_media_free(live);
	close(a);
}

OCTO_TEST(digits_are_reported_once_at_the_end_of_the_event)
{
	struct sip_media *m;
	int a;
	unsigned pa;
	uint16_t seq = 100;
	uint8_t pkt[64];

	setup();
	a = phone_open(&pa);
	m = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(m != NULL);
	if (!m)
		return;
	cb_reset();
	sip_media_set_callbacks(m, NULL, cb_digit, NULL);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", pa, 0, "PCMU", 101), 0);
	send_digit(a, sip_media_port(m), 101, 5, &seq, 1000);
	send_digit(a, sip_media_port(m), 101, 10, &seq, 2000);
	send_digit(a, sip_media_port(m), 101, 15, &seq, 3000);
	/* late end packets of an old event, an unknown event code */
	phone_send(a, sip_media_port(m), pkt,
		   event_build(pkt, 101, false, seq++, 1000, 5, true, 480));
	send_digit(a, sip_media_port(m), 101, 200, &seq, 4000);
	/* an event whose end never came, then the next one */
	phone_send(a, sip_media_port(m), pkt,
		   event_build(pkt, 101, true, seq++, 5000, 1, false, 160));
	send_digit(a, sip_media_port(m), 101, 2, &seq, 6000);
	/* a short payload is ignored */
	phone_send(a, sip_media_port(m), pkt, rtp_build(pkt, 101, true, seq++, 7000, 1, pkt, 2));
	cb_wait(0, 5, 1000);
	sleep_ms(50);
	OCTO_CHECK_STR_EQ(cb_digits, "5*D12");
	sip_media_free(m);
	close(a);
}

/* ---------------------------------------------------------------- terminated legs */

struct sender {
	int fd;
	unsigned to_port;
	int count;
	pthread_t tid;
};

/* Sends `count` 20 ms packets at real time; packet k is 160 bytes of
 * u-law value 0x80 + k (all different, none silence). */
static void *sender_main(void *arg)
{
	struct sender *s = arg;
	uint8_t pkt[256], payload[160];

	for (int k = 0; k < s->count; k++) {
		memset(payload, 0x80 + k, sizeof(payload));
		phone_send(s->fd, s->to_port, pkt,
			   rtp_build(pkt, 0, k == 0, (uint16_t)(500 + k),
				     3000u + 160u * (unsigned)k, 0x1234, payload, 160));
		sleep_ms(20);
	}
	return NULL;
}

OCTO_TEST(terminated_leg_reads_and_writes_frames)
{
	const struct octo_codec *mu = codec("PCMU");
	struct sip_media *m;
	struct octo_frame f;
	struct sender s;
	uint8_t got[2048], expect[160];
	int a, frames = 0, in_order = 1, last = -1;
	unsigned pa, from;
	uint16_t seq0 = 0;
	uint32_t ts0 = 0, ssrc0 = 0;

	setup();
	a = phone_open(&pa);
	m = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(m && mu);
	if (!m || !mu)
		return;
	OCTO_CHECK_INT_EQ(sip_media_read(m, &f, 0), OCTO_EINVAL); /* no far end yet */
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", pa, 0, "PCMU", 101), 0);

	/* writing: 10 frames of a ramp, encoded u-law, timestamps 160 apart */
	for (int k = 0; k < 10; k++) {
		f = (struct octo_frame){ .type = OCTO_FRAME_VOICE, .samples = 160 };
		for (int i = 0; i < 160; i++)
			f.data[i] = (int16_t)((k * 160 + i) * 13 - 10000);
		OCTO_CHECK_INT_EQ(sip_media_write(m, &f), 0);
		mu->encode(f.data, 160, expect, 160);
		OCTO_CHECK_INT_EQ(phone_recv(a, got, sizeof(got), 1000, &from), 172);
		OCTO_CHECK_INT_EQ(from, sip_media_port(m));
		OCTO_CHECK_INT_EQ(got[0], 0x80);
		OCTO_CHECK_INT_EQ(got[1], k == 0 ? 0x80 : 0x00); /* marker on the first */
		if (k == 0) {
			seq0 = rd16(got + 2);
			ts0 = rd32(got + 4);
			ssrc0 = rd32(got + 8);
		}
		OCTO_CHECK_INT_EQ(rd16(got + 2), (uint16_t)(seq0 + k));
		OCTO_CHECK_INT_EQ(rd32(got + 4), ts0 + 160u * (unsigned)k);
		OCTO_CHECK_INT_EQ(rd32(got + 8), ssrc0);
		OCTO_CHECK(!memcmp(got + 12, expect, 160));
	}
	{
		struct sip_media_info info;

		sip_media_info(m, &info);
		OCTO_CHECK_STR_EQ(info.mode, "terminated");
		OCTO_CHECK_INT_EQ(info.tx_packets, 10);
	}

	/* reading: 30 packets at real time come out as 20 ms frames, decoded */
	s = (struct sender){ .fd = a, .to_port = sip_media_port(m), .count = 30 };
	pthread_create(&s.tid, NULL, sender_main, &s);
	for (uint64_t end = octo_now_ms() + 3000; octo_now_ms() < end && frames < 30;) {
		int16_t want;
		uint8_t byte;
		int rc = sip_media_read(m, &f, 200), k;

		if (rc == 0)
			continue;
		OCTO_CHECK_INT_EQ(rc, 1);
		OCTO_CHECK_INT_EQ(f.type, OCTO_FRAME_VOICE);
		OCTO_CHECK_INT_EQ(f.samples, 160);
		if (rc != 1 || f.type != OCTO_FRAME_VOICE)
			break;
		/* which packet is it? each is one u-law value, so one sample value */
		for (k = 0; k < 30; k++) {
			byte = (uint8_t)(0x80 + k);
			mu->decode(&byte, 1, &want, 1);
			if (f.data[0] == want)
				break;
		}
		OCTO_CHECK(k < 30);
		for (int i = 1; i < 160 && k < 30; i++)
			if (f.data[i] != f.data[0]) {
				OCTO_FAIL_AT("frame from packet %d is not one value at %d", k, i);
				break;
			}
		if (k <= last)
			in_order = 0;
		last = k;
		frames++;
	}
	pthread_join(s.tid, NULL);
	/* the jitter buffer may drop the first packet it syncs on, not more */
	OCTO_CHECK(frames >= 29);
	OCTO_CHECK(in_order);
	OCTO_CHECK_INT_EQ(last, 29);

	/* a digit with no digit callback comes as a DTMF frame */
	{
		uint16_t seq = 900;
		int rc;

		send_digit(a, sip_media_port(m), 101, 7, &seq, 90000);
		do
			rc = sip_media_read(m, &f, 1000);
		while (rc == 1 && f.type == OCTO_FRAME_VOICE);
		OCTO_CHECK_INT_EQ(rc, 1);
		OCTO_CHECK_INT_EQ(f.type, OCTO_FRAME_DTMF);
		OCTO_CHECK_INT_EQ(f.digit, '7');
	}

	/* writing a digit: RFC 4733 packets, 20 ms apart, end three times */
	phone_flush(a);
	octo_frame_dtmf(&f, '9', 60);
	OCTO_CHECK_INT_EQ(sip_media_write(m, &f), 0);
	{
		uint32_t ts = 0;
		static const uint16_t dur[6] = { 160, 320, 480, 480, 480, 480 };

		for (int k = 0; k < 6; k++) {
			int n = phone_recv(a, got, sizeof(got), 1000, NULL);

			OCTO_CHECK_INT_EQ(n, 16);
			if (n != 16)
				break;
			OCTO_CHECK_INT_EQ(got[1], (k == 0 ? 0x80 : 0) | 101);
			if (k == 0)
				ts = rd32(got + 4);
			OCTO_CHECK_INT_EQ(rd32(got + 4), ts);
			OCTO_CHECK_INT_EQ(got[12], 9);
			OCTO_CHECK_INT_EQ(got[13] & 0x80, k >= 3 ? 0x80 : 0);
			OCTO_CHECK_INT_EQ(rd16(got + 14), dur[k]);
		}
	}
	f.digit = 'x';
	OCTO_CHECK_INT_EQ(sip_media_write(m, &f), OCTO_EINVAL);
	sip_media_free(m);
	close(a);
}

OCTO_TEST(terminated_write_paces_to_real_time)
{
	struct sip_media *m;
	struct octo_frame f;
	uint64_t t0;
	int a;
	unsigned pa;

	setup();
	a = phone_open(&pa);
	m = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(m != NULL);
	if (!m)
		return;
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", pa, 8, "PCMA", -1), 0);
	octo_frame_silence(&f, 160);
	t0 = octo_now_ms();
	for (int k = 0; k < 25; k++)
		OCTO_CHECK_INT_EQ(sip_media_write(m, &f), 0);
	/* 500 ms of audio may run at most 60 ms ahead of the clock */
	OCTO_CHECK(octo_now_ms() - t0 >= 500 - 60 - 25);
	/* no telephone-event negotiated: a digit cannot be sent */
	octo_frame_dtmf(&f, '1', 100);
	OCTO_CHECK_INT_EQ(sip_media_write(m, &f), OCTO_EINVAL);
	sip_media_free(m);
	close(a);
}

struct blocked {
	struct sip_media *m;
	int rc;
	uint64_t ms;
	pthread_t tid;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	struct octo_frame f;
	uint64_t t0 = octo_now_ms();

	b->rc = sip_media_read(b->m, &f, -1);
	b->ms = octo_now_ms() - t0;
	return NULL;
}

OCTO_TEST(free_wakes_a_reader_that_waits)
{
	struct blocked b = { 0 };
	int a;
	unsigned pa;

	setup();
	a = phone_open(&pa);
	b.m = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(b.m != NULL);
	if (!b.m)
		return;
	OCTO_CHECK_INT_EQ(sip_media_set_remote(b.m, "127.0.0.1", pa, 0, "PCMU", -1), 0);
	pthread_create(&b.tid, NULL, blocked_main, &b);
	sleep_ms(150);
	sip_media_free(b.m);
	pthread_join(b.tid, NULL);
	OCTO_CHECK_INT_EQ(b.rc, OCTO_EHANGUP);
	OCTO_CHECK(b.ms >= 140 && b.ms < 1000);
	close(a);
}

/* ---------------------------------------------------------------- hostile input */

static uint32_t rnd_state = 12345;

static uint32_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* A datagram that is RTP-looking half of the time: random header bits,
 * payload types the leg knows, random lengths, padding and extension
 * fields that lie. */
static size_t junk_build(uint8_t *buf, size_t max)
{
	static const int pts[] = { 0, 8, 101, 96, 13, 127 };
	size_t len = rnd() % max;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rnd();
	if (len >= 2 && rnd() % 2) {
		buf[0] = (uint8_t)(0x80 | (buf[0] & 0x3f));
		buf[1] = (uint8_t)((buf[1] & 0x80) | pts[rnd() % 6]);
	}
	if (len >= 16 && rnd() % 4 == 0) {
		buf[0] = 0x80;
		buf[12] = (uint8_t)(rnd() % 20); /* an RFC 4733 event, maybe ending */
	}
	return len;
}

struct reader {
	struct sip_media *m;
	atomic_bool stop;
	int frames, digits, errors;
	pthread_t tid;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct octo_frame f;

	while (!atomic_load(&r->stop)) {
		int rc = sip_media_read(r->m, &f, 20);

		if (rc == 1 && f.type == OCTO_FRAME_DTMF)
			r->digits++;
		else if (rc == 1)
			r->frames++;
		else if (rc < 0)
			r->errors++;
		if (rc == 1 && f.type == OCTO_FRAME_VOICE && sip_media_write(r->m, &f) != 0)
			r->errors++;
	}
	return NULL;
}

OCTO_TEST(hostile_datagrams_do_no_harm)
{
	struct pair p;
	struct reader r = { 0 };
	uint8_t pkt[1600], got[2048], payload[160] = { 0 };
	struct sip_media_info info;
	unsigned sp;
	int s = phone_open(&sp), n;

	setup();
	OCTO_CHECK(pair_open(&p, "PCMU", 0, 101, "PCMA", 8, 96));
	OCTO_CHECK_INT_EQ(sip_media_relay(p.m1, p.m2, true), 0);
	r.m = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(r.m != NULL);
	if (!r.m)
		return;
	OCTO_CHECK_INT_EQ(sip_media_set_remote(r.m, "127.0.0.1", p.pa, 0, "PCMU", 101), 0);
	pthread_create(&r.tid, NULL, reader_main, &r);
	for (int i = 0; i < 3000; i++) {
		size_t len = junk_build(pkt, sizeof(pkt));
		int from = i % 3 == 0 ? s : p.a;

		phone_send(from, sip_media_port(p.m1), pkt, len);
		phone_send(from, sip_media_port(r.m), pkt, len);
		phone_send(p.b, sip_media_port(p.m2), pkt, len);
		if (i % 100 == 0) {
			phone_flush(p.a);
			phone_flush(p.b);
			phone_flush(s);
			sleep_ms(2);
		}
	}
	sleep_ms(300);
	atomic_store(&r.stop, true);
	pthread_join(r.tid, NULL);
	OCTO_CHECK_INT_EQ(r.errors, 0);
	sip_media_info(r.m, &info);
	OCTO_CHECK_STR_EQ(info.mode, "terminated");
	OCTO_CHECK(info.rx_dropped > 0);
	/* the relay still works, once the far end it learned goes quiet */
	phone_flush(p.a);
	phone_flush(p.b);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(p.m1, "127.0.0.1", p.pa, 0, "PCMU", 101), 0);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(p.m2, "127.0.0.1", p.pb, 8, "PCMA", 96), 0);
	phone_send(p.a, sip_media_port(p.m1), pkt, rtp_build(pkt, 0, 0, 1, 1, 7, payload, 160));
	n = phone_recv(p.b, got, sizeof(got), 1000, NULL);
	OCTO_CHECK_INT_EQ(n, 172);
	OCTO_CHECK_INT_EQ(got[1] & 0x7f, 8);
	sip_media_free(r.m);
	pair_close(&p);
	close(s);
}

/* ---------------------------------------------------------------- shutdown */

OCTO_TEST(zz_fini_closes_what_is_left)
{
	struct sip_media *m;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned port;
	int fd;

	setup();
	m = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(m != NULL);
	if (!m)
		return;
	port = sip_media_port(m);
	OCTO_CHECK_INT_EQ(sip_media_set_remote(m, "127.0.0.1", 9, 0, "PCMU", -1), 0);
	sip_media_fini();
	OCTO_CHECK_INT_EQ(sip_media_count(), 0);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	OCTO_CHECK_INT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	/* and the module can start again */
	OCTO_CHECK_INT_EQ(sip_media_init(), 0);
	m = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(m != NULL);
	sip_media_free(m);
	sip_media_fini();
}

OCTO_TEST_MAIN()
