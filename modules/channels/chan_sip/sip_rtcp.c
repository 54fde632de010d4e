/*
 * sip_rtcp.c - RTCP packet checks for chan_sip's media layer (sip_media.h):
 * the validity test of RFC 3550 A.2 that a relayed compound packet must
 * pass, and the first report block of an SR or RR (what the far end says
 * about the loss and jitter of the stream it receives), for `sip show
 * channel`. Pure functions of their bytes: no state, no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "octo/octo.h"
#include "sip_media.h"

#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_MIN_PT 192 /* RFC 5761 4: RTCP types live in 192..223 */
#define RTCP_MAX_PT 223
#define RTCP_BLOCK 24   /* one report block */

static uint32_t rtcp_rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* The first report block of one SR/RR packet of `plen` bytes, if any. */
static void rtcp_block(const uint8_t *p, size_t plen, struct sip_rtcp_report *rep)
{
	unsigned count = p[0] & 0x1f;
	size_t off = p[1] == RTCP_SR ? 28 : 8; /* header + SSRC (+ sender info) */
	const uint8_t *b;
	uint32_t lost;

	if (!count || off + RTCP_BLOCK > plen)
		return;
	b = p + off;
	rep->valid = true;
	rep->fraction = b[4];
	lost = ((uint32_t)b[5] << 16) | ((uint32_t)b[6] << 8) | b[7];
	/* 24-bit two's complement */
	rep->cum_lost = (lost & 0x800000u) ? (int32_t)lost - 0x1000000 : (int32_t)lost;
	rep->ext_seq = rtcp_rd32(b + 8);
	rep->jitter = rtcp_rd32(b + 12);
}

bool sip_rtcp_check(const uint8_t *pkt, size_t len, bool loose, struct sip_rtcp_report *rep)
{
	size_t off = 0;
	bool first = true, seen = false;

	if (!pkt || len < 8 || len % 4)
		return false;
	while (off < len) {
		const uint8_t *p = pkt + off;
		size_t plen;

		if (len - off < 4 || (p[0] >> 6) != 2 || p[1] < RTCP_MIN_PT || p[1] > RTCP_MAX_PT)
			return false;
		if (first && !loose && p[1] != RTCP_SR && p[1] != RTCP_RR)
			return false;
		plen = 4 * ((size_t)(((unsigned)p[2] << 8) | p[3]) + 1);
		if (plen > len - off)
			return false;
		if (p[0] & 0x20) {
			/* padding: only in the last packet, its count inside it */
			if (off + plen != len || !p[plen - 1] || p[plen - 1] > plen - 4)
				return false;
		}
		if (p[1] == RTCP_SR || p[1] == RTCP_RR) {
			size_t need = (p[1] == RTCP_SR ? 28 : 8) +
				      RTCP_BLOCK * (size_t)(p[0] & 0x1f);

			if (need > plen)
				return false; /* more blocks announced than the packet holds */
			if (rep && !seen && (p[0] & 0x1f)) {
				rtcp_block(p, plen, rep);
				seen = true;
			}
		}
		first = false;
		off += plen;
	}
	return true;
}

char *sip_rtcp_report_str(const struct sip_rtcp_report *rep, unsigned rate, char *buf,
			  size_t size)
{
	if (!size)
		return buf;
	if (!rep || !rep->valid) {
		buf[0] = '\0';
		return buf;
	}
	if (!rate)
		rate = 8000;
	snprintf(buf, size, "%.1f%% lost (%ld packets), jitter %.1f ms",
		 rep->fraction * 100.0 / 256.0, (long)rep->cum_lost,
		 rep->jitter * 1000.0 / rate);
	return buf;
}
