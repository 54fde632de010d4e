/*
 * test_sip_record.c - in-call recording of relayed SIP legs (sip_record.c
 * with sip_media.c) on 127.0.0.1: UDP sockets of the test are the phones,
 * channels of a fake technology stand for the call. Checked: the codes of
 * features.conf [callrec] sent as RFC 4733 events (still relayed to the
 * other party) start, pause, resume and stop the recording; the WAV header
 * and the mixed samples exactly; the 200 ms beep to each party; the file
 * name and CDR_USERFIELD; the end of the bridge closing the file; bad use.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/media.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "../../core/internal.h"
#include "../../modules/codecs/codec_g711.c"
#include "sip_media.h"
#include "sip_record.h"
#include "octo_test.h"

/* ---------------------------------------------------------------- set-up */

static char rt_dir[64], rt_conf[96], rt_data[96];

static void rt_hangup(struct octo_channel *chan, int cause)
{
}

static const struct octo_chan_tech rt_tech = {
	.name = "RecFake",
	.hangup = rt_hangup,
};

static void setup(void)
{
	static bool done;
	struct sip_media_conf c;
	FILE *f;

	if (done)
		return;
	done = true;
	snprintf(rt_dir, sizeof(rt_dir), "/tmp/test_sip_record.XXXXXX");
	if (!mkdtemp(rt_dir)) {
		printf("FAIL setup: mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	snprintf(rt_conf, sizeof(rt_conf), "%s/conf", rt_dir);
	snprintf(rt_data, sizeof(rt_data), "%s/data", rt_dir);
	mkdir(rt_conf, 0700);
	mkdir(rt_data, 0700);
	octo_paths.config_dir = rt_conf;
	octo_paths.data_dir = rt_data;
	/* pause on another code than the default, to see the file is read */
	snprintf(rt_conf + strlen(rt_conf), sizeof(rt_conf) - strlen(rt_conf), "/features.conf");
	f = fopen(rt_conf, "w");
	if (!f) {
		printf("FAIL setup: %s: %s\n", rt_conf, strerror(errno));
		exit(1);
	}
	fputs("[callrec]\nrecord_call = *1\nrecord_pause = #9\nfolder = rec/%Y\n"
	      "name = ${LINKEDID}-${CALLER}-${CALLED}\n",
	      f);
	fclose(f);
	rt_conf[strlen(rt_conf) - strlen("/features.conf")] = 0;
	octo_registry_init();
	octo_chan_init();
	octo_chan_tech_register(NULL, &rt_tech);
	if (g711_load(NULL)) {
		printf("FAIL setup: codec_g711 did not load\n");
		exit(1);
	}
	c = (struct sip_media_conf){ 22000 + (unsigned)(getpid() % 500) * 20,
				     22000 + (unsigned)(getpid() % 500) * 20 + 19, 60, 2 };
	sip_media_apply(&c);
	if (sip_media_init()) {
		printf("FAIL setup: the media workers did not start\n");
		exit(1);
	}
}

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

/* A call: two phones, their endpoints relayed, two channels, a recorder. */
struct rt_call {
	int fd[2];
	unsigned port[2];
	struct sip_media *m[2];
	struct octo_channel *chan[2];
	uint16_t seq[2];
	uint32_t ts[2];
};

static bool rt_call_start(struct rt_call *c, const char *linkedid)
{
	static const char *const codecs[2] = { "PCMU", "PCMA" };

	setup();
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < 2; i++) {
		c->fd[i] = phone_open(&c->port[i]);
		c->m[i] = sip_media_alloc("127.0.0.1");
		if (!c->m[i] || sip_media_set_remote(c->m[i], "127.0.0.1", c->port[i], i ? 8 : 0,
						     codecs[i], 101))
			return false;
		c->chan[i] = octo_chan_alloc("RecFake", OCTO_CHAN_UP, "%s", i ? "101" : "100");
		if (!c->chan[i])
			return false;
		octo_chan_set(c->chan[i], OCTO_CHAN_CALLER_NUM, "100");
		octo_chan_set(c->chan[i], OCTO_CHAN_CALLED, "101");
		octo_chan_var_set(c->chan[i], "LINKEDID", linkedid);
	}
	return sip_media_relay(c->m[0], c->m[1], true) == 0 &&
	       sip_rec_bridge(c->chan[0], c->m[0], c->chan[1], c->m[1]) == 0;
}

static void rt_call_end(struct rt_call *c)
{
	if (c->m[0] && c->m[1])
		sip_media_relay(c->m[0], c->m[1], false);
	for (int i = 0; i < 2; i++) {
		sip_media_free(c->m[i]);
		if (c->chan[i]) {
			octo_chan_hangup(c->chan[i], OCTO_CAUSE_NORMAL);
			octo_obj_unref(c->chan[i]);
		}
		if (c->fd[i] > 0)
			close(c->fd[i]);
	}
}

static void rt_send(struct rt_call *c, int i, int pt, bool marker, uint32_t ts,
		    const uint8_t *payload, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	uint8_t pkt[12 + 200];

	pkt[0] = 0x80;
	pkt[1] = (uint8_t)((marker ? 0x80 : 0) | pt);
	pkt[2] = (uint8_t)(c->seq[i] >> 8);
	pkt[3] = (uint8_t)c->seq[i];
	c->seq[i]++;
	for (int k = 0; k < 4; k++) {
		pkt[4 + k] = (uint8_t)(ts >> (24 - 8 * k));
		pkt[8 + k] = (uint8_t)((0x1000u + (unsigned)i) >> (24 - 8 * k));
	}
	memcpy(pkt + 12, payload, len);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)sip_media_port(c->m[i]));
	sendto(c->fd[i], pkt, 12 + len, 0, (struct sockaddr *)&sa, sizeof(sa));
}

static void rt_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Phone i dials `digits` as RFC 4733 events (three end packets each). */
static void rt_digits(struct rt_call *c, int i, const char *digits)
{
	for (const char *d = digits; *d; d++) {
		uint8_t ev = (uint8_t)(*d == '*' ? 10 : *d == '#' ? 11 : *d - '0');

		c->ts[i] += 800;
		for (int k = 0; k < 5; k++) {
			uint8_t p[4] = { ev, (uint8_t)((k >= 2 ? 0x80 : 0) | 10), 0,
					 (uint8_t)(160 * (k + 1)) };

			rt_send(c, i, 101, k == 0, c->ts[i], p, sizeof(p));
		}
		rt_sleep_ms(5);
	}
}

/* `count` packets of constant bytes from both phones, interleaved. */
static void rt_talk(struct rt_call *c, unsigned count, uint8_t b0, uint8_t b1)
{
	uint8_t p[2][160];

	memset(p[0], b0, 160);
	memset(p[1], b1, 160);
	for (unsigned n = 0; n < count; n++) {
		for (int i = 0; i < 2; i++) {
			c->ts[i] += 160;
			rt_send(c, i, i ? 8 : 0, false, c->ts[i], p[i], 160);
		}
		rt_sleep_ms(2);
	}
}

/* Waits up to 5 s for CALLREC_FILE of the call's first channel. */
static bool rt_file(struct rt_call *c, char *path, size_t size)
{
	for (int k = 0; k < 500; k++) {
		if (octo_chan_var_get(c->chan[0], "CALLREC_FILE", path, size))
			return true;
		rt_sleep_ms(10);
	}
	return false;
}

/* Waits up to 5 s for the file to be closed (its data size written); reads
 * its header and samples. Returns the number of samples or -1. */
static long rt_read_wav(const char *path, uint8_t hdr[44], int16_t *pcm, size_t max)
{
	for (int k = 0; k < 500; k++) {
		FILE *f = fopen(path, "rb");
		size_t n = 0;

		if (f && fread(hdr, 1, 44, f) == 44 && (hdr[40] | hdr[41] | hdr[42] | hdr[43])) {
			n = fread(pcm, 2, max, f);
			fclose(f);
			return (long)n;
		}
		if (f)
			fclose(f);
		rt_sleep_ms(10);
	}
	return -1;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int16_t dec(const char *codec, uint8_t b)
{
	int16_t s = 0;
	const struct octo_codec *cd = octo_registry_peek(OCTO_REG_CODEC, codec, NULL);

	cd->decode(&b, 1, &s, 1);
	return s;
}

/* Audio packets phone i received whose payload is not all `b`, and how many
 * there were (events skipped; *events counts them). */
static unsigned rt_count_other(struct rt_call *c, int i, uint8_t b, unsigned *audio,
			       unsigned *events)
{
	uint8_t buf[2048];
	unsigned other = 0;
	struct pollfd p = { .fd = c->fd[i], .events = POLLIN };

	*audio = *events = 0;
	while (poll(&p, 1, 200) == 1) {
		ssize_t n = recv(c->fd[i], buf, sizeof(buf), 0);

		if (n < 12)
			continue;
		if ((buf[1] & 0x7f) == 101) {
			(*events)++;
			continue;
		}
		(*audio)++;
		for (ssize_t k = 12; k < n; k++) {
			if (buf[k] != b) {
				other++;
				break;
			}
		}
	}
	return other;
}

/* ---------------------------------------------------------------- tests */

OCTO_TEST(a_record_mixes_both_parties_exactly)
{
	struct rt_call c;
	char path[512], uf[512], want[256];
	static int16_t pcm[40000];
	uint8_t hdr[44];
	long n;
	unsigned audio, events;
	time_t now = time(NULL);
	struct tm tm;
	int16_t s0, s1;
	bool same = true;

	OCTO_CHECK(rt_call_start(&c, "L1"));
	s0 = dec("PCMU", 0x9a);
	s1 = dec("PCMA", 0x2b);
	rt_talk(&c, 5, 0x9a, 0x2b); /* before the code: not recorded */
	rt_digits(&c, 0, "*1");
	OCTO_CHECK(rt_file(&c, path, sizeof(path)));
	localtime_r(&now, &tm);
	snprintf(want, sizeof(want), "%s/rec/%d/L1-100-101.wav", rt_data, tm.tm_year + 1900);
	OCTO_CHECK_STR_EQ(path, want);
	OCTO_CHECK_STR_EQ(octo_chan_var_get(c.chan[1], "CDR_USERFIELD", uf, sizeof(uf)), want);
	rt_sleep_ms(50);
	rt_count_other(&c, 1, 0, &audio, &events); /* what 101 got so far */
	OCTO_CHECK_INT_EQ(events, 10);
	rt_talk(&c, 50, 0x9a, 0x2b);
	rt_sleep_ms(50);
	rt_digits(&c, 1, "*1"); /* the other party stops it */
	n = rt_read_wav(path, hdr, pcm, sizeof(pcm) / sizeof(pcm[0]));
	OCTO_CHECK_INT_EQ(n, 8000);
	OCTO_CHECK(!memcmp(hdr, "RIFF", 4) && !memcmp(hdr + 8, "WAVEfmt ", 8));
	OCTO_CHECK_INT_EQ(le32(hdr + 4), 36 + 16000);
	OCTO_CHECK_INT_EQ(le32(hdr + 24), 8000);
	OCTO_CHECK_INT_EQ(le32(hdr + 28), 16000);
	OCTO_CHECK_INT_EQ(hdr[22], 1);
	OCTO_CHECK_INT_EQ(hdr[34], 16);
	OCTO_CHECK_INT_EQ(le32(hdr + 40), 16000);
	for (long k = 0; k < n; k++)
		same &= pcm[k] == s0 + s1;
	OCTO_CHECK(same);
	rt_call_end(&c);
}

OCTO_TEST(b_beep_to_both_parties_and_digits_still_relayed)
{
	struct rt_call c;
	char path[512];
	unsigned audio, events, other;

	OCTO_CHECK(rt_call_start(&c, "L2"));
	rt_talk(&c, 3, 0x9a, 0x2b);
	rt_sleep_ms(50);
	OCTO_CHECK_INT_EQ(rt_count_other(&c, 1, 0x2b, &audio, &events), 3); /* PCMU -> PCMA */
	rt_count_other(&c, 0, 0x9a, &audio, &events);
	rt_digits(&c, 0, "*1");
	OCTO_CHECK(rt_file(&c, path, sizeof(path)));
	rt_count_other(&c, 1, 0, &audio, &events);
	OCTO_CHECK_INT_EQ(events, 10); /* 2 digits x 5 packets reached 101 */
	rt_talk(&c, 20, 0x9a, 0x2b);
	rt_sleep_ms(50);
	/* 101 gets 100's PCMU transcoded: count what is not that byte */
	{
		uint8_t t = 0;
		const struct octo_codec *u = octo_registry_peek(OCTO_REG_CODEC, "PCMU", NULL);
		const struct octo_codec *a = octo_registry_peek(OCTO_REG_CODEC, "PCMA", NULL);
		uint8_t in = 0x9a;

		u->transcode(a, &in, 1, &t, 1);
		other = rt_count_other(&c, 1, t, &audio, &events);
		OCTO_CHECK_INT_EQ(audio, 20);
		OCTO_CHECK_INT_EQ(other, 10);
	}
	other = rt_count_other(&c, 0, 0, &audio, &events); /* drained */
	rt_digits(&c, 0, "*1");
	rt_sleep_ms(100);
	rt_talk(&c, 20, 0x9a, 0x2b);
	rt_sleep_ms(50);
	{
		uint8_t t = 0, in = 0x2b;
		const struct octo_codec *u = octo_registry_peek(OCTO_REG_CODEC, "PCMU", NULL);
		const struct octo_codec *a = octo_registry_peek(OCTO_REG_CODEC, "PCMA", NULL);

		a->transcode(u, &in, 1, &t, 1);
		other = rt_count_other(&c, 0, t, &audio, &events);
		OCTO_CHECK_INT_EQ(audio, 20);
		OCTO_CHECK_INT_EQ(other, 10); /* the stop beep to 100 */
	}
	rt_call_end(&c);
}

OCTO_TEST(c_pause_writes_nothing_and_codes_are_collected)
{
	struct rt_call c;
	char path[512];
	static int16_t pcm[40000];
	uint8_t hdr[44];
	long n;

	OCTO_CHECK(rt_call_start(&c, "L3"));
	/* "**1": the second * starts the code again; "#" alone is nothing */
	rt_digits(&c, 0, "#**1");
	OCTO_CHECK(rt_file(&c, path, sizeof(path)));
	rt_talk(&c, 20, 0x9a, 0x2b);
	rt_sleep_ms(50);
	rt_digits(&c, 1, "#9"); /* pause (features.conf of the test) */
	rt_sleep_ms(50);
	rt_talk(&c, 30, 0x9a, 0x2b);
	rt_sleep_ms(50);
	rt_digits(&c, 0, "*2#9"); /* *2 is not a code here; #9 resumes */
	rt_sleep_ms(50);
	rt_talk(&c, 20, 0x9a, 0x2b);
	rt_sleep_ms(50);
	rt_digits(&c, 0, "*1");
	n = rt_read_wav(path, hdr, pcm, sizeof(pcm) / sizeof(pcm[0]));
	/* 40 packets of 160 samples, give or take what was in flight */
	OCTO_CHECK(n >= 6400 - 320 && n <= 6400 + 320);
	OCTO_CHECK_INT_EQ(le32(hdr + 40), (uint32_t)n * 2);
	rt_call_end(&c);
}

OCTO_TEST(d_bridge_end_closes_the_file_and_a_new_start_makes_another)
{
	struct rt_call c;
	char path[512], path2[512];
	static int16_t pcm[40000];
	uint8_t hdr[44];
	long n;

	OCTO_CHECK(rt_call_start(&c, "L4"));
	rt_digits(&c, 0, "*1");
	OCTO_CHECK(rt_file(&c, path, sizeof(path)));
	rt_talk(&c, 10, 0x9a, 0x2b);
	rt_sleep_ms(50);
	rt_digits(&c, 0, "*1");
	OCTO_CHECK(rt_read_wav(path, hdr, pcm, 40000) >= 1500);
	rt_digits(&c, 0, "*1"); /* a second recording in the same call: -2 */
	for (int k = 0; k < 500; k++) {
		octo_chan_var_get(c.chan[0], "CALLREC_FILE", path2, sizeof(path2));
		if (strcmp(path, path2))
			break;
		rt_sleep_ms(10);
	}
	OCTO_CHECK_CONTAINS(path2, "/L4-100-101-2.wav");
	rt_talk(&c, 10, 0x9a, 0x2b);
	rt_sleep_ms(50);
	/* the relay stops while it records: the file is closed all the same */
	sip_media_relay(c.m[0], c.m[1], false);
	n = rt_read_wav(path2, hdr, pcm, 40000);
	OCTO_CHECK(n >= 1500 && n <= 1600);
	rt_call_end(&c);
}

OCTO_TEST(e_bad_use)
{
	struct rt_call c;
	struct sip_media *m;

	setup();
	OCTO_CHECK_INT_EQ(sip_rec_bridge(NULL, NULL, NULL, NULL), OCTO_EINVAL);
	m = sip_media_alloc("127.0.0.1");
	OCTO_CHECK(m != NULL);
	/* not relaying: no tap */
	sip_media_tap(m, NULL);
	sip_media_tap(NULL, NULL);
	sip_media_tap_digit(m, '1');
	sip_media_tap_digit(NULL, '1');
	sip_rec_digit(NULL, '1');
	sip_rec_audio(NULL, NULL, NULL, 0);
	sip_rec_release(NULL);
	sip_media_free(m);
	/* garbage and lone events while recording change nothing */
	OCTO_CHECK(rt_call_start(&c, "../x/y"));
	{
		uint8_t junk[3] = { 1, 2, 3 }, bad_ev[4] = { 200, 0x80, 0, 160 };

		rt_send(&c, 0, 101, false, 5, junk, sizeof(junk));
		rt_send(&c, 0, 101, false, 6, bad_ev, sizeof(bad_ev));
		rt_digits(&c, 0, "*1");
	}
	{
		char path[512];

		OCTO_CHECK(rt_file(&c, path, sizeof(path)));
		OCTO_CHECK_CONTAINS(path, "/call.wav"); /* no hidden file, no folder */
	}
	rt_call_end(&c); /* freed while recording */
}

static int rt_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

OCTO_TEST(zz_fini)
{
	setup();
	sip_media_fini();
	OCTO_CHECK_INT_EQ(sip_media_count(), 0);
	OCTO_CHECK_INT_EQ(nftw(rt_dir, rt_rm, 16, FTW_DEPTH | FTW_PHYS), 0);
}

OCTO_TEST_MAIN()
