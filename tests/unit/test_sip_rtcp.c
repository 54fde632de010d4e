/*
 * test_sip_rtcp.c - the RTCP checks of chan_sip's media layer (sip_rtcp.c):
 * which compound packets pass (and so are relayed), what is taken from the
 * first report block, and how the report is shown.
 */
#include <stdint.h>
#include <string.h>

#include "octo_test.h"
#include "sip_media.h"

static size_t put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

/* An RR from SSRC 0x11111111 with one block: fraction, cumulative lost (24
 * bits), highest sequence, jitter. 32 bytes. */
static size_t rr(uint8_t *p, uint8_t fraction, uint32_t lost, uint32_t seq, uint32_t jitter)
{
	p[0] = 0x81;
	p[1] = 201;
	p[2] = 0;
	p[3] = 7;
	put32(p + 4, 0x11111111);
	put32(p + 8, 0x22222222);
	p[12] = fraction;
	p[13] = (uint8_t)(lost >> 16);
	p[14] = (uint8_t)(lost >> 8);
	p[15] = (uint8_t)lost;
	put32(p + 16, seq);
	put32(p + 20, jitter);
	put32(p + 24, 0);
	put32(p + 28, 0);
	return 32;
}

/* An SR with `blocks` report blocks (each like rr's). */
static size_t sr(uint8_t *p, unsigned blocks)
{
	size_t n = 28;

	p[0] = (uint8_t)(0x80 | blocks);
	p[1] = 200;
	memset(p + 4, 0x33, 24);
	for (unsigned i = 0; i < blocks; i++) {
		uint8_t tmp[32];

		rr(tmp, (uint8_t)(10 + i), 3, 500, 40);
		memcpy(p + n, tmp + 8, 24);
		n += 24;
	}
	p[2] = (uint8_t)(((n / 4) - 1) >> 8);
	p[3] = (uint8_t)((n / 4) - 1);
	return n;
}

/* An SDES with one CNAME "ab": 12 bytes. */
static size_t sdes(uint8_t *p)
{
	static const uint8_t b[12] = { 0x81, 202, 0, 2, 1, 2, 3, 4, 1, 2, 'a', 'b' };

	memcpy(p, b, sizeof(b));
	return sizeof(b);
}

OCTO_TEST(rr_report_block_is_taken)
{
	uint8_t p[64];
	struct sip_rtcp_report rep = { 0 };
	char buf[96];

	OCTO_CHECK(sip_rtcp_check(p, rr(p, 64, 7, 0x10203, 80), false, &rep));
	OCTO_CHECK(rep.valid);
	OCTO_CHECK_INT_EQ(rep.fraction, 64);
	OCTO_CHECK_INT_EQ(rep.cum_lost, 7);
	OCTO_CHECK_INT_EQ(rep.ext_seq, 0x10203);
	OCTO_CHECK_INT_EQ(rep.jitter, 80);
	OCTO_CHECK_STR_EQ(sip_rtcp_report_str(&rep, 8000, buf, sizeof(buf)),
			  "25.0% lost (7 packets), jitter 10.0 ms");
}

OCTO_TEST(cumulative_loss_is_24_bit_signed)
{
	uint8_t p[64];
	struct sip_rtcp_report rep = { 0 };

	/* duplicates make the count negative (RFC 3550 6.4.1) */
	OCTO_CHECK(sip_rtcp_check(p, rr(p, 0, 0xfffffe, 1, 0), false, &rep));
	OCTO_CHECK_INT_EQ(rep.cum_lost, -2);
	OCTO_CHECK(sip_rtcp_check(p, rr(p, 0, 0x7fffff, 1, 0), false, &rep));
	OCTO_CHECK_INT_EQ(rep.cum_lost, 8388607);
}

OCTO_TEST(sr_with_blocks_and_sdes_compound)
{
	uint8_t p[256];
	struct sip_rtcp_report rep = { 0 };
	size_t n = sr(p, 2);

	n += sdes(p + n);
	OCTO_CHECK(sip_rtcp_check(p, n, false, &rep));
	OCTO_CHECK(rep.valid);
	OCTO_CHECK_INT_EQ(rep.fraction, 10); /* the first block */
	OCTO_CHECK_INT_EQ(rep.cum_lost, 3);
	OCTO_CHECK_INT_EQ(rep.jitter, 40);
}

OCTO_TEST(sr_without_blocks_leaves_the_report_alone)
{
	uint8_t p[256];
	struct sip_rtcp_report rep = { .valid = true, .fraction = 99 };
	size_t n = sr(p, 0);

	n += sdes(p + n);
	OCTO_CHECK(sip_rtcp_check(p, n, false, &rep));
	OCTO_CHECK(rep.valid);
	OCTO_CHECK_INT_EQ(rep.fraction, 99);
	OCTO_CHECK(sip_rtcp_check(p, n, false, NULL));
}

OCTO_TEST(bad_packets_are_refused)
{
	uint8_t p[256], q[256];
	size_t n = rr(p, 1, 1, 1, 1);

	OCTO_CHECK(!sip_rtcp_check(NULL, 32, false, NULL));
	OCTO_CHECK(!sip_rtcp_check(p, 0, false, NULL));
	OCTO_CHECK(!sip_rtcp_check(p, 4, false, NULL));      /* shorter than a header + SSRC */
	OCTO_CHECK(!sip_rtcp_check(p, n - 1, false, NULL));  /* not whole words */
	OCTO_CHECK(!sip_rtcp_check(p, n - 4, false, NULL));  /* length beyond the datagram */
	memcpy(q, p, n);
	q[0] = 0x41; /* version 1 */
	OCTO_CHECK(!sip_rtcp_check(q, n, false, NULL));
	memcpy(q, p, n);
	q[1] = 96; /* an RTP payload type, not RTCP */
	OCTO_CHECK(!sip_rtcp_check(q, n, true, NULL));
	memcpy(q, p, n);
	q[0] = 0x82; /* two blocks announced, one there */
	OCTO_CHECK(!sip_rtcp_check(q, n, true, NULL));
	memcpy(q, p, n);
	memcpy(q + n, p, n);
	q[n + 1] = 0; /* garbage after the first packet */
	OCTO_CHECK(!sip_rtcp_check(q, 2 * n, true, NULL));
}

OCTO_TEST(strict_wants_sr_or_rr_first_loose_takes_any_rtcp)
{
	uint8_t p[64];
	size_t n = sdes(p);

	OCTO_CHECK(!sip_rtcp_check(p, n, false, NULL));
	OCTO_CHECK(sip_rtcp_check(p, n, true, NULL));
	p[1] = 203; /* BYE */
	OCTO_CHECK(sip_rtcp_check(p, n, true, NULL));
}

OCTO_TEST(padding_only_on_the_last_packet)
{
	uint8_t p[128];
	struct sip_rtcp_report rep = { 0 };
	size_t n = rr(p, 5, 1, 1, 1);

	/* the RR padded by 4 bytes: valid last packet */
	memset(p + n, 0, 4);
	p[n + 3] = 4;
	p[0] |= 0x20;
	p[3] = 8;
	OCTO_CHECK(sip_rtcp_check(p, n + 4, false, &rep));
	OCTO_CHECK_INT_EQ(rep.fraction, 5);
	/* padding count of 0, or more than the packet: refused */
	p[n + 3] = 0;
	OCTO_CHECK(!sip_rtcp_check(p, n + 4, false, NULL));
	p[n + 3] = 200;
	OCTO_CHECK(!sip_rtcp_check(p, n + 4, false, NULL));
	/* padding on a packet that is not the last: refused */
	p[n + 3] = 4;
	n += 4;
	n += sdes(p + n);
	OCTO_CHECK(!sip_rtcp_check(p, n, false, NULL));
}

OCTO_TEST(report_text)
{
	struct sip_rtcp_report rep = { 0 };
	char buf[96] = "x";

	OCTO_CHECK_STR_EQ(sip_rtcp_report_str(&rep, 8000, buf, sizeof(buf)), "");
	OCTO_CHECK_STR_EQ(sip_rtcp_report_str(NULL, 8000, buf, sizeof(buf)), "");
	rep = (struct sip_rtcp_report){ .valid = true, .fraction = 0, .cum_lost = 0, .jitter = 0 };
	OCTO_CHECK_STR_EQ(sip_rtcp_report_str(&rep, 0, buf, sizeof(buf)),
			  "0.0% lost (0 packets), jitter 0.0 ms");
	rep.fraction = 255;
	rep.cum_lost = -3;
	rep.jitter = 1600;
	OCTO_CHECK_STR_EQ(sip_rtcp_report_str(&rep, 8000, buf, sizeof(buf)),
			  "99.6% lost (-3 packets), jitter 200.0 ms");
}

OCTO_TEST_MAIN()
