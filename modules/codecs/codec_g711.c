/*
 * codec_g711.c - the ITU-T G.711 codecs: PCMU (u-law, RTP payload 0) and PCMA
 * (A-law, payload 8), 8000 Hz, to and from 16-bit signed linear samples, and
 * the direct u-law <-> A-law transcode (struct octo_codec.transcode).
 *
 * DESIGN: decoding is a lookup in a 256-entry table; encoding is computed
 * (a count-leading-zeros finds the segment), which is as fast as a table and
 * needs no 16 K-entry arrays in the cache. The tables are filled in load(),
 * before the codecs are registered, and only read afterwards, so any thread
 * may use them without locks.
 *
 * Encoding follows the decision levels of G.711 as the ITU software tools
 * (G.191) apply them to 16-bit input: a negative sample's magnitude is taken
 * as its one's complement (~x), so that -1 is "negative zero" and positive
 * and negative levels are symmetric around -0.5. Decoding gives the middle of
 * each quantization interval. The u-law <-> A-law tables are the composition
 * decode-then-encode, so transcoding gives exactly what a trip through linear
 * samples would.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "octo/media.h"
#include "octo/module.h"

static int16_t g711_ulaw_to_lin[256];
static int16_t g711_alaw_to_lin[256];
static uint8_t g711_ulaw_to_alaw[256];
static uint8_t g711_alaw_to_ulaw[256];

/* The position of the highest set bit of v (v > 0). */
static inline unsigned g711_top_bit(unsigned v)
{
	return 31u - (unsigned)__builtin_clz(v);
}

static inline uint8_t g711_lin_to_ulaw(int16_t sample)
{
	int x = sample;
	unsigned mag = (unsigned)(x < 0 ? ~x : x); /* 0..32767 */
	unsigned exp, code;

	if (mag > 32635)
		mag = 32635;
	mag += 132;                  /* the bias: 132..32767 */
	exp = g711_top_bit(mag) - 7; /* 0..7 */
	code = (exp << 4) | ((mag >> (exp + 3)) & 0x0F);
	if (x < 0)
		code |= 0x80;
	return (uint8_t)~code;
}

static inline uint8_t g711_lin_to_alaw(int16_t sample)
{
	int x = sample;
	unsigned mag = (unsigned)(x < 0 ? ~x : x) >> 4; /* 0..2047 */
	unsigned code;

	if (mag < 16) {
		code = mag;
	} else {
		unsigned exp = g711_top_bit(mag) - 3; /* 1..7 */

		code = (exp << 4) | ((mag >> (exp - 1)) & 0x0F);
	}
	if (x >= 0)
		code |= 0x80;
	return (uint8_t)(code ^ 0x55);
}

static int16_t g711_ulaw_formula(uint8_t byte)
{
	unsigned code = (uint8_t)~byte;
	unsigned exp = (code >> 4) & 0x07, mant = code & 0x0F;
	int mag = (int)((((mant << 3) + 132) << exp) - 132);

	return (int16_t)((code & 0x80) ? -mag : mag);
}

static int16_t g711_alaw_formula(uint8_t byte)
{
	unsigned code = byte ^ 0x55u;
	unsigned exp = (code >> 4) & 0x07, mant = code & 0x0F;
	int mag;

	if (exp == 0)
		mag = (int)((mant << 4) + 8);
	else
		mag = (int)(((mant << 4) + 0x108) << (exp - 1));
	return (int16_t)((code & 0x80) ? mag : -mag);
}

static void g711_build_tables(void)
{
	for (unsigned i = 0; i < 256; i++) {
		g711_ulaw_to_lin[i] = g711_ulaw_formula((uint8_t)i);
		g711_alaw_to_lin[i] = g711_alaw_formula((uint8_t)i);
	}
	for (unsigned i = 0; i < 256; i++) {
		g711_ulaw_to_alaw[i] = g711_lin_to_alaw(g711_ulaw_to_lin[i]);
		g711_alaw_to_ulaw[i] = g711_lin_to_ulaw(g711_alaw_to_lin[i]);
	}
}

/* ---------------------------------------------------------------- codec callbacks */

static size_t g711_ulaw_decode(const uint8_t *in, size_t len, int16_t *out, size_t max)
{
	size_t n = len < max ? len : max;

	for (size_t i = 0; i < n; i++)
		out[i] = g711_ulaw_to_lin[in[i]];
	return n;
}

static size_t g711_alaw_decode(const uint8_t *in, size_t len, int16_t *out, size_t max)
{
	size_t n = len < max ? len : max;

	for (size_t i = 0; i < n; i++)
		out[i] = g711_alaw_to_lin[in[i]];
	return n;
}

static size_t g711_ulaw_encode(const int16_t *in, size_t count, uint8_t *out, size_t max)
{
	size_t n = count < max ? count : max;

	for (size_t i = 0; i < n; i++)
		out[i] = g711_lin_to_ulaw(in[i]);
	return n;
}

static size_t g711_alaw_encode(const int16_t *in, size_t count, uint8_t *out, size_t max)
{
	size_t n = count < max ? count : max;

	for (size_t i = 0; i < n; i++)
		out[i] = g711_lin_to_alaw(in[i]);
	return n;
}

/* Direct conversions: to the other G.711 law by table, to the same law as a
 * copy; 0 for any other target (found by name, as the registry has it). */
static size_t g711_map(const uint8_t *table, const uint8_t *in, size_t len, uint8_t *out,
		       size_t max)
{
	size_t n = len < max ? len : max;

	if (table) {
		for (size_t i = 0; i < n; i++)
			out[i] = table[in[i]];
	} else if (n) {
		memmove(out, in, n);
	}
	return n;
}

static size_t g711_ulaw_transcode(const struct octo_codec *to, const uint8_t *in, size_t len,
				  uint8_t *out, size_t max)
{
	if (!to || !to->name)
		return 0;
	if (!strcasecmp(to->name, "PCMA"))
		return g711_map(g711_ulaw_to_alaw, in, len, out, max);
	if (!strcasecmp(to->name, "PCMU"))
		return g711_map(NULL, in, len, out, max);
	return 0;
}

static size_t g711_alaw_transcode(const struct octo_codec *to, const uint8_t *in, size_t len,
				  uint8_t *out, size_t max)
{
	if (!to || !to->name)
		return 0;
	if (!strcasecmp(to->name, "PCMU"))
		return g711_map(g711_alaw_to_ulaw, in, len, out, max);
	if (!strcasecmp(to->name, "PCMA"))
		return g711_map(NULL, in, len, out, max);
	return 0;
}

static const struct octo_codec g711_ulaw = {
	.name = "PCMU",
	.rtp_payload = 0,
	.sample_rate = 8000,
	.decode = g711_ulaw_decode,
	.encode = g711_ulaw_encode,
	.transcode = g711_ulaw_transcode,
};

static const struct octo_codec g711_alaw = {
	.name = "PCMA",
	.rtp_payload = 8,
	.sample_rate = 8000,
	.decode = g711_alaw_decode,
	.encode = g711_alaw_encode,
	.transcode = g711_alaw_transcode,
};

/* ---------------------------------------------------------------- module */

static int g711_load(struct octo_module *self)
{
	g711_build_tables();
	if (octo_codec_register(self, &g711_ulaw) || octo_codec_register(self, &g711_alaw))
		return OCTO_LOAD_FAIL;
	return OCTO_LOAD_OK;
}

OCTO_MODULE(codec_g711, .description = "G.711 u-law (PCMU) and A-law (PCMA) codecs",
	    .load = g711_load);
