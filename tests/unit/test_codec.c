/*
 * test_codec.c - unit tests of the G.711 codecs (codec_g711) and of the WAV
 * and raw sound formats (format_wav, format_raw): known values, round-trip
 * error bounds over every 16-bit input, u-law <-> A-law consistency, files
 * written and read back in a temp dir, and malformed WAV files refused with
 * exact reasons. The module sources are compiled in, so their tables and
 * parsers are reachable; they register with the core's registry as "core".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/media.h"
#include "octo/registry.h"
#include "../../core/internal.h"

#include "../../modules/codecs/codec_g711.c"
#include "../../modules/codecs/format_wav.c"
#include "../../modules/codecs/format_raw.c"

#include "octo_test.h"

/* ---------------------------------------------------------------- helpers */

static char tdir[256];

static void cleanup(void)
{
	char cmd[300];

	if (tdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
		if (system(cmd)) {
			/* nothing to do: a leftover temp dir is harmless */
		}
	}
}

static void setup(void)
{
	static bool done;
	const char *base = getenv("TMPDIR");

	if (done)
		return;
	done = true;
	octo_registry_init();
	if (g711_load(NULL) || wav_load(NULL) || raw_load(NULL)) {
		printf("FAIL setup: the modules did not load\n");
		exit(1);
	}
	snprintf(tdir, sizeof(tdir), "%s/test_codec.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tdir)) {
		printf("FAIL setup: mkdtemp: %s\n", strerror(errno));
		exit(1);
	}
	atexit(cleanup);
}

static const char *tpath(const char *name)
{
	static char path[2][512];
	static int which;

	which ^= 1;
	snprintf(path[which], sizeof(path[which]), "%s/%s", tdir, name);
	return path[which];
}

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *fp = fopen(tpath(name), "wb");

	if (!fp || fwrite(data, 1, len, fp) != len) {
		printf("FAIL setup: cannot write %s\n", name);
		exit(1);
	}
	fclose(fp);
}

/* Reads a whole file into a malloc'ed buffer. */
static uint8_t *read_file(const char *name, size_t *len)
{
	FILE *fp = fopen(tpath(name), "rb");
	uint8_t *buf = malloc(1 << 20);

	*len = fp ? fread(buf, 1, 1 << 20, fp) : 0;
	if (fp)
		fclose(fp);
	return buf;
}

/* A WAV file assembled from pieces: "RIFF" size "WAVE" then chunks. */
struct wbuf {
	uint8_t b[4096];
	size_t n;
};

static void wb_bytes(struct wbuf *w, const void *p, size_t len)
{
	memcpy(w->b + w->n, p, len);
	w->n += len;
}

static void wb_u16(struct wbuf *w, unsigned v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	wb_bytes(w, b, 2);
}

static void wb_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	wb_bytes(w, b, 4);
}

static void wb_riff(struct wbuf *w)
{
	w->n = 0;
	wb_bytes(w, "RIFF", 4);
	wb_u32(w, 0); /* fixed by wb_done() */
	wb_bytes(w, "WAVE", 4);
}

static void wb_fmt(struct wbuf *w, unsigned tag, unsigned channels, unsigned rate, unsigned bits)
{
	unsigned align = channels * bits / 8;

	wb_bytes(w, "fmt ", 4);
	wb_u32(w, 16);
	wb_u16(w, tag);
	wb_u16(w, channels);
	wb_u32(w, rate);
	wb_u32(w, rate * align);
	wb_u16(w, align);
	wb_u16(w, bits);
}

/* A data chunk of `count` 16-bit samples 0, 100, 200 ... */
static void wb_data16(struct wbuf *w, unsigned count)
{
	wb_bytes(w, "data", 4);
	wb_u32(w, count * 2);
	for (unsigned i = 0; i < count; i++)
		wb_u16(w, (uint16_t)(int16_t)(i * 100));
}

static void wb_chunk(struct wbuf *w, const char *id, const void *body, uint32_t size, bool pad)
{
	wb_bytes(w, id, 4);
	wb_u32(w, size);
	wb_bytes(w, body, size);
	if (pad && (size & 1))
		wb_bytes(w, "", 1);
}

static void wb_done(struct wbuf *w, const char *name)
{
	uint32_t riff = (uint32_t)(w->n - 8);

	w->b[4] = (uint8_t)riff;
	w->b[5] = (uint8_t)(riff >> 8);
	w->b[6] = (uint8_t)(riff >> 16);
	w->b[7] = (uint8_t)(riff >> 24);
	write_file(name, w->b, w->n);
}

/* Opens a test file with the "wav" format; the error text goes to err. */
static int wav_try(const char *name, struct octo_sound_file *f, char *err, size_t size)
{
	memset(f, 0, sizeof(*f));
	err[0] = '\0';
	return wav_format.open_read(f, tpath(name), err, size);
}

/* ---------------------------------------------------------------- G.711 reference
 * The encoders as the ITU-T G.191 software tools write them (14-bit u-law
 * and 12-bit A-law magnitudes, segment found by a loop): an independent
 * check of the module's arithmetic. */

static uint8_t ref_ulaw(int16_t x)
{
	int absno = x < 0 ? ((~x) >> 2) + 33 : (x >> 2) + 33;
	int i, segno = 1, out;

	if (absno > 0x1FFF)
		absno = 0x1FFF;
	for (i = absno >> 6; i; i >>= 1)
		segno++;
	out = ((8 - segno) << 4) | (0x0F - ((absno >> segno) & 0x0F));
	if (x >= 0)
		out |= 0x80;
	return (uint8_t)out;
}

static uint8_t ref_alaw(int16_t x)
{
	int ix = x < 0 ? (~x) >> 4 : x >> 4;

	if (ix > 15) {
		int iexp = 1;

		while (ix > 16 + 15) {
			ix >>= 1;
			iexp++;
		}
		ix -= 16;
		ix += iexp << 4;
	}
	if (x >= 0)
		ix |= 0x80;
	return (uint8_t)(ix ^ 0x55);
}

/* ---------------------------------------------------------------- G.711 */

OCTO_TEST(codecs_are_registered)
{
	const struct octo_codec *u, *a;

	setup();
	u = octo_registry_get(OCTO_REG_CODEC, "PCMU", "test");
	a = octo_registry_get(OCTO_REG_CODEC, "pcma", "test");
	OCTO_CHECK(u == &g711_ulaw);
	OCTO_CHECK(a == &g711_alaw);
	if (!u || !a)
		return;
	OCTO_CHECK_INT_EQ(u->rtp_payload, 0);
	OCTO_CHECK_INT_EQ(a->rtp_payload, 8);
	OCTO_CHECK_INT_EQ(u->sample_rate, 8000);
	OCTO_CHECK_INT_EQ(a->sample_rate, 8000);
	OCTO_CHECK(u->transcode != NULL && a->transcode != NULL);
	octo_registry_put(OCTO_REG_CODEC, u, "test");
	octo_registry_put(OCTO_REG_CODEC, a, "test");
}

OCTO_TEST(ulaw_known_values)
{
	static const struct {
		int16_t lin;
		uint8_t code;
	} enc[] = {
		{ 0, 0xFF },      { 1, 0xFF },     { -1, 0x7F },    { 7, 0xFE },
		{ -8, 0x7E },     { 100, 0xF2 },   { -100, 0x73 },  { 1000, 0xCE },
		{ -1000, 0x4E },  { 4000, 0xAF },  { -4000, 0x2F }, { 12345, 0x97 },
		{ -12345, 0x17 }, { 31000, 0x81 }, { 32124, 0x80 }, { 32767, 0x80 },
		{ -32768, 0x00 },
	};
	static const struct {
		uint8_t code;
		int16_t lin;
	} dec[] = {
		{ 0x00, -32124 }, { 0x80, 32124 }, { 0xFF, 0 },      { 0x7F, 0 },
		{ 0x55, -716 },   { 0xD5, 716 },   { 0x12, -14972 }, { 0x9C, 9852 },
		{ 0x4E, -988 },   { 0xCE, 988 },   { 0x73, -96 },
	};

	setup();
	for (size_t i = 0; i < OCTO_ARRAY_LEN(enc); i++) {
		uint8_t out;

		OCTO_CHECK_INT_EQ(g711_ulaw_encode(&enc[i].lin, 1, &out, 1), 1);
		OCTO_CHECK_INT_EQ(out, enc[i].code);
	}
	for (size_t i = 0; i < OCTO_ARRAY_LEN(dec); i++) {
		int16_t out;

		OCTO_CHECK_INT_EQ(g711_ulaw_decode(&dec[i].code, 1, &out, 1), 1);
		OCTO_CHECK_INT_EQ(out, dec[i].lin);
	}
}

OCTO_TEST(alaw_known_values)
{
	static const struct {
		int16_t lin;
		uint8_t code;
	} enc[] = {
		{ 0, 0xD5 },      { 1, 0xD5 },     { -1, 0x55 },    { 15, 0xD5 },
		{ 16, 0xD4 },     { 100, 0xD3 },   { -100, 0x53 },  { 1000, 0xFA },
		{ -1000, 0x7A },  { 4000, 0x9A },  { -4000, 0x1A }, { 12345, 0xBD },
		{ -12345, 0x3D }, { 31000, 0xAB }, { 32767, 0xAA }, { -32768, 0x2A },
	};
	static const struct {
		uint8_t code;
		int16_t lin;
	} dec[] = {
		{ 0xD5, 8 },    { 0x55, -8 },   { 0xAA, 32256 }, { 0x2A, -32256 }, { 0x12, -3008 },
		{ 0x9C, 3264 }, { 0x80, 5504 }, { 0x00, -5504 }, { 0xFA, 1008 },   { 0x7A, -1008 },
	};

	setup();
	for (size_t i = 0; i < OCTO_ARRAY_LEN(enc); i++) {
		uint8_t out;

		OCTO_CHECK_INT_EQ(g711_alaw_encode(&enc[i].lin, 1, &out, 1), 1);
		OCTO_CHECK_INT_EQ(out, enc[i].code);
	}
	for (size_t i = 0; i < OCTO_ARRAY_LEN(dec); i++) {
		int16_t out;

		OCTO_CHECK_INT_EQ(g711_alaw_decode(&dec[i].code, 1, &out, 1), 1);
		OCTO_CHECK_INT_EQ(out, dec[i].lin);
	}
}

OCTO_TEST(encoders_match_the_itu_reference_for_every_input)
{
	int bad_u = 0, bad_a = 0;

	setup();
	for (int x = -32768; x <= 32767; x++) {
		int16_t s = (int16_t)x;

		if (g711_lin_to_ulaw(s) != ref_ulaw(s) && bad_u++ < 3)
			OCTO_FAIL_AT("u-law of %d is 0x%02x, reference 0x%02x", x,
				     g711_lin_to_ulaw(s), ref_ulaw(s));
		if (g711_lin_to_alaw(s) != ref_alaw(s) && bad_a++ < 3)
			OCTO_FAIL_AT("A-law of %d is 0x%02x, reference 0x%02x", x,
				     g711_lin_to_alaw(s), ref_alaw(s));
	}
	OCTO_CHECK_INT_EQ(bad_u, 0);
	OCTO_CHECK_INT_EQ(bad_a, 0);
}

/* Half the quantization step of the segment a decoded value lies in. */
static int ulaw_half_step(int v)
{
	int mag = v < 0 ? -v : v;
	int exp = 0;

	while (exp < 7 && mag + 132 >= (256 << exp))
		exp++;
	return 4 << exp;
}

static int alaw_half_step(int v)
{
	int mag = v < 0 ? -v : v;
	int exp = 1;

	while (exp < 7 && mag >= (512 << (exp - 1)))
		exp++;
	return 8 << (exp - 1);
}

OCTO_TEST(round_trip_error_is_within_half_a_step)
{
	int worst_u = 0, worst_a = 0, prev_u = -32768, prev_a = -32768;
	bool mono_u = true, mono_a = true;

	setup();
	for (int x = -32768; x <= 32767; x++) {
		int16_t s = (int16_t)x;
		int u = g711_ulaw_to_lin[g711_lin_to_ulaw(s)];
		int a = g711_alaw_to_lin[g711_lin_to_alaw(s)];
		int eu = abs(x - u), ea = abs(x - a);

		/* Beyond the largest level the error is the clipping. */
		if (abs(x) <= 32124 + 1 ? eu > ulaw_half_step(u) : eu != abs(x) - 32124)
			if (worst_u++ < 3)
				OCTO_FAIL_AT("u-law round trip of %d gives %d", x, u);
		if (abs(x) <= 32256 ? ea > alaw_half_step(a) : ea != abs(x) - 32256)
			if (worst_a++ < 3)
				OCTO_FAIL_AT("A-law round trip of %d gives %d", x, a);
		mono_u &= u >= prev_u;
		mono_a &= a >= prev_a;
		prev_u = u;
		prev_a = a;
	}
	OCTO_CHECK(mono_u);
	OCTO_CHECK(mono_a);
	/* Small signals keep their precision: the first steps are 8 and 16. */
	OCTO_CHECK_INT_EQ(g711_ulaw_to_lin[g711_lin_to_ulaw(10)], 8);
	OCTO_CHECK_INT_EQ(g711_alaw_to_lin[g711_lin_to_alaw(20)], 24);
}

OCTO_TEST(every_code_survives_decode_then_encode)
{
	setup();
	for (int c = 0; c < 256; c++) {
		/* u-law 0x7F is "negative zero": it decodes to 0, which is 0xFF. */
		int want_u = c == 0x7F ? 0xFF : c;

		if (g711_lin_to_ulaw(g711_ulaw_to_lin[c]) != want_u)
			OCTO_FAIL_AT("u-law 0x%02x -> %d -> 0x%02x", c, g711_ulaw_to_lin[c],
				     g711_lin_to_ulaw(g711_ulaw_to_lin[c]));
		if (g711_lin_to_alaw(g711_alaw_to_lin[c]) != c)
			OCTO_FAIL_AT("A-law 0x%02x -> %d -> 0x%02x", c, g711_alaw_to_lin[c],
				     g711_lin_to_alaw(g711_alaw_to_lin[c]));
	}
}

OCTO_TEST(buffer_calls_stop_at_max)
{
	int16_t lin[4] = { 0, 1000, -1000, 32767 }, back[4] = { 7, 7, 7, 7 };
	uint8_t enc[4] = { 0x11, 0x11, 0x11, 0x11 };

	setup();
	OCTO_CHECK_INT_EQ(g711_ulaw.encode(lin, 4, enc, 3), 3);
	OCTO_CHECK_INT_EQ(enc[2], 0x4E);
	OCTO_CHECK_INT_EQ(enc[3], 0x11);
	OCTO_CHECK_INT_EQ(g711_ulaw.decode(enc, 3, back, 2), 2);
	OCTO_CHECK_INT_EQ(back[1], 988);
	OCTO_CHECK_INT_EQ(back[2], 7);
	OCTO_CHECK_INT_EQ(g711_alaw.encode(lin, 0, enc, 4), 0);
	OCTO_CHECK_INT_EQ(g711_alaw.decode(enc, 4, back, 0), 0);
}

OCTO_TEST(ulaw_alaw_transcode_is_decode_then_encode)
{
	uint8_t all[256], a[256], u[256], copy[256];
	static const struct octo_codec other = { .name = "G722" };

	setup();
	for (int c = 0; c < 256; c++)
		all[c] = (uint8_t)c;
	OCTO_CHECK_INT_EQ(g711_ulaw.transcode(&g711_alaw, all, 256, a, 256), 256);
	OCTO_CHECK_INT_EQ(g711_alaw.transcode(&g711_ulaw, all, 256, u, 256), 256);
	for (int c = 0; c < 256; c++) {
		if (a[c] != g711_lin_to_alaw(g711_ulaw_to_lin[c]))
			OCTO_FAIL_AT("u-law 0x%02x -> A-law 0x%02x", c, a[c]);
		if (u[c] != g711_lin_to_ulaw(g711_alaw_to_lin[c]))
			OCTO_FAIL_AT("A-law 0x%02x -> u-law 0x%02x", c, u[c]);
	}
	/* Known pairs: the loudest and the quietest levels. */
	OCTO_CHECK_INT_EQ(a[0x80], 0xAA); /* +32124 -> +32256 */
	OCTO_CHECK_INT_EQ(a[0xFF], 0xD5); /* 0 -> +8 */
	OCTO_CHECK_INT_EQ(u[0xD5], 0xFE); /* +8 -> +8 */
	OCTO_CHECK_INT_EQ(u[0x2A], 0x00); /* -32256 -> -32124 */
	/* u -> A -> u moves a level by at most one A-law half step. */
	for (int c = 0; c < 256; c++) {
		int before = g711_ulaw_to_lin[c], after = g711_ulaw_to_lin[u[a[c]]];

		if (abs(before - after) > alaw_half_step(before) + 4)
			OCTO_FAIL_AT("u-law 0x%02x: %d -> %d after A-law", c, before, after);
	}
	/* Same codec: a copy; other codecs: no direct path; max is honoured. */
	OCTO_CHECK_INT_EQ(g711_ulaw.transcode(&g711_ulaw, all, 256, copy, 256), 256);
	OCTO_CHECK(memcmp(copy, all, 256) == 0);
	OCTO_CHECK_INT_EQ(g711_ulaw.transcode(&other, all, 256, copy, 256), 0);
	OCTO_CHECK_INT_EQ(g711_alaw.transcode(NULL, all, 256, copy, 256), 0);
	memset(copy, 0x33, sizeof(copy));
	OCTO_CHECK_INT_EQ(g711_ulaw.transcode(&g711_alaw, all, 256, copy, 10), 10);
	OCTO_CHECK_INT_EQ(copy[10], 0x33);
}

/* ---------------------------------------------------------------- WAV: writing and reading */

static void fill_ramp(int16_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		s[i] = (int16_t)((int)(i * 2654435761u % 60000u) - 30000);
}

OCTO_TEST(wav_pcm_write_then_read)
{
	struct octo_sound_file f = { 0 };
	int16_t in[3000], out[4000];
	char err[200];
	uint8_t *raw;
	size_t len;

	setup();
	fill_ramp(in, 3000);
	OCTO_CHECK_INT_EQ(wav_format.open_write(&f, tpath("pcm8.wav"), 8000), 0);
	OCTO_CHECK(f.format == &wav_format);
	OCTO_CHECK_INT_EQ(wav_format.write(&f, in, 1000), 1000);
	OCTO_CHECK_INT_EQ(wav_format.write(&f, in + 1000, 2000), 2000);
	wav_format.close(&f);

	raw = read_file("pcm8.wav", &len);
	OCTO_CHECK_INT_EQ(len, 44 + 6000);
	OCTO_CHECK(memcmp(raw, "RIFF", 4) == 0 && memcmp(raw + 8, "WAVEfmt ", 8) == 0);
	OCTO_CHECK_INT_EQ(wav_le32(raw + 4), 36 + 6000);
	OCTO_CHECK_INT_EQ(wav_le16(raw + 20), 1); /* PCM */
	OCTO_CHECK_INT_EQ(wav_le16(raw + 22), 1); /* mono */
	OCTO_CHECK_INT_EQ(wav_le32(raw + 24), 8000);
	OCTO_CHECK_INT_EQ(wav_le32(raw + 28), 16000); /* bytes a second */
	OCTO_CHECK_INT_EQ(wav_le16(raw + 34), 16);
	OCTO_CHECK(memcmp(raw + 36, "data", 4) == 0);
	OCTO_CHECK_INT_EQ(wav_le32(raw + 40), 6000);
	OCTO_CHECK_INT_EQ((int16_t)wav_le16(raw + 44), in[0]);
	free(raw);

	OCTO_CHECK_INT_EQ(wav_try("pcm8.wav", &f, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(f.sample_rate, 8000);
	OCTO_CHECK_INT_EQ(wav_format.read(&f, out, 1500), 1500);
	OCTO_CHECK_INT_EQ(wav_format.read(&f, out + 1500, 4000), 1500);
	OCTO_CHECK_INT_EQ(wav_format.read(&f, out, 4000), 0);
	OCTO_CHECK(memcmp(in, out, sizeof(in)) == 0);
	wav_format.close(&f);
	OCTO_CHECK(f.fp == NULL && f.pvt == NULL);
}

OCTO_TEST(wav_16k_reports_its_rate)
{
	struct octo_sound_file f = { 0 };
	int16_t in[320], out[400];
	char err[200];

	setup();
	fill_ramp(in, 320);
	OCTO_CHECK_INT_EQ(wav_format.open_write(&f, tpath("pcm16.wav"), 16000), 0);
	OCTO_CHECK_INT_EQ(wav_format.write(&f, in, 320), 320);
	wav_format.close(&f);
	OCTO_CHECK_INT_EQ(wav_try("pcm16.wav", &f, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(f.sample_rate, 16000);
	OCTO_CHECK_INT_EQ(wav_format.read(&f, out, 400), 320);
	OCTO_CHECK(memcmp(in, out, sizeof(in)) == 0);
	wav_format.close(&f);
	/* Rates a WAV writer does not offer. */
	OCTO_CHECK_INT_EQ(wav_format.open_write(&f, tpath("x.wav"), 44100), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(wav_ulaw_format.open_write(&f, tpath("x.wav"), 16000), OCTO_EINVAL);
}

static void check_g711_wav(const struct octo_sound_format *fmt, const char *name, unsigned tag,
			   const uint8_t *(*expect)(const int16_t *, size_t))
{
	struct octo_sound_file f = { 0 };
	int16_t in[161], out[200];
	uint8_t *raw;
	char err[200];
	size_t len;

	fill_ramp(in, 161);
	OCTO_CHECK_INT_EQ(fmt->open_write(&f, tpath(name), 8000), 0);
	OCTO_CHECK_INT_EQ(fmt->write(&f, in, 161), 161);
	fmt->close(&f);

	/* 58-byte header (fmt with cbSize, fact), 161 samples, a pad byte. */
	raw = read_file(name, &len);
	OCTO_CHECK_INT_EQ(len, 58 + 161 + 1);
	OCTO_CHECK_INT_EQ(wav_le32(raw + 4), 50 + 162);
	OCTO_CHECK_INT_EQ(wav_le32(raw + 16), 18);
	OCTO_CHECK_INT_EQ(wav_le16(raw + 20), tag);
	OCTO_CHECK_INT_EQ(wav_le16(raw + 32), 1);
	OCTO_CHECK_INT_EQ(wav_le16(raw + 34), 8);
	OCTO_CHECK(memcmp(raw + 38, "fact", 4) == 0);
	OCTO_CHECK_INT_EQ(wav_le32(raw + 46), 161);
	OCTO_CHECK(memcmp(raw + 50, "data", 4) == 0);
	OCTO_CHECK_INT_EQ(wav_le32(raw + 54), 161);
	OCTO_CHECK(memcmp(raw + 58, expect(in, 161), 161) == 0);
	free(raw);

	OCTO_CHECK_INT_EQ(wav_try(name, &f, err, sizeof(err)), 0);
	OCTO_CHECK_STR_EQ(err, "");
	OCTO_CHECK_INT_EQ(f.sample_rate, 8000);
	OCTO_CHECK_INT_EQ(wav_format.read(&f, out, 200), 161);
	for (int i = 0; i < 161; i++) {
		int16_t want = tag == WAV_TAG_ULAW ? g711_ulaw_to_lin[g711_lin_to_ulaw(in[i])]
						   : g711_alaw_to_lin[g711_lin_to_alaw(in[i])];

		if (out[i] != want) {
			OCTO_FAIL_AT("%s sample %d is %d, expected %d", name, i, out[i], want);
			break;
		}
	}
	wav_format.close(&f);
}

static const uint8_t *enc_ulaw(const int16_t *in, size_t n)
{
	static uint8_t b[512];

	g711_ulaw_encode(in, n, b, sizeof(b));
	return b;
}

static const uint8_t *enc_alaw(const int16_t *in, size_t n)
{
	static uint8_t b[512];

	g711_alaw_encode(in, n, b, sizeof(b));
	return b;
}

OCTO_TEST(wav_ulaw_and_alaw_write_then_read)
{
	setup();
	check_g711_wav(&wav_ulaw_format, "ulaw.wav", WAV_TAG_ULAW, enc_ulaw);
	check_g711_wav(&wav_alaw_format, "alaw.wav", WAV_TAG_ALAW, enc_alaw);
}

OCTO_TEST(wav_ulaw_needs_the_codec)
{
	struct octo_sound_file f;
	char err[200];

	setup();
	check_g711_wav(&wav_ulaw_format, "ulaw2.wav", WAV_TAG_ULAW, enc_ulaw);
	octo_codec_unregister(&g711_ulaw);
	OCTO_CHECK_INT_EQ(wav_try("ulaw2.wav", &f, err, sizeof(err)), OCTO_ENOTFOUND);
	OCTO_CHECK_STR_EQ(err, "u-law WAV files need the PCMU codec (codec_g711 is not loaded)");
	OCTO_CHECK_INT_EQ(wav_ulaw_format.open_write(&f, tpath("u3.wav"), 8000), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(octo_codec_register(NULL, &g711_ulaw), 0);
	OCTO_CHECK_INT_EQ(wav_try("ulaw2.wav", &f, err, sizeof(err)), 0);
	wav_format.close(&f);
}

/* ---------------------------------------------------------------- WAV: unusual but valid */

OCTO_TEST(wav_chunks_in_any_order_with_odd_sizes)
{
	struct octo_sound_file f;
	struct wbuf w;
	int16_t out[20];
	char err[200];

	setup();
	/* LIST (odd, padded), data, cue, then fmt last. */
	wb_riff(&w);
	wb_chunk(&w, "LIST", "INFOISFT\x05\0\0\0octo\0", 17, true);
	wb_data16(&w, 5);
	wb_chunk(&w, "cue ", "\0\0\0\0", 4, true);
	wb_fmt(&w, 1, 1, 8000, 16);
	wb_done(&w, "order.wav");
	OCTO_CHECK_INT_EQ(wav_try("order.wav", &f, err, sizeof(err)), 0);
	OCTO_CHECK_STR_EQ(err, "");
	OCTO_CHECK_INT_EQ(wav_format.read(&f, out, 20), 5);
	OCTO_CHECK_INT_EQ(out[4], 400);
	wav_format.close(&f);

	/* A writer that forgot the pad byte after an odd chunk. */
	wb_riff(&w);
	wb_fmt(&w, 1, 1, 8000, 16);
	wb_chunk(&w, "junk", "abc", 3, false);
	wb_data16(&w, 3);
	wb_done(&w, "nopad.wav");
	OCTO_CHECK_INT_EQ(wav_try("nopad.wav", &f, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(wav_format.read(&f, out, 20), 3);
	OCTO_CHECK_INT_EQ(out[2], 200);
	wav_format.close(&f);
}

OCTO_TEST(wav_extensible_and_streaming_headers)
{
	static const uint8_t pcm_guid[16] = { 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
					      0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71 };
	struct octo_sound_file f;
	struct wbuf w;
	int16_t out[20];
	char err[200];

	setup();
	wb_riff(&w);
	wb_bytes(&w, "fmt ", 4);
	wb_u32(&w, 40);
	wb_u16(&w, 0xFFFE);
	wb_u16(&w, 1);
	wb_u32(&w, 16000);
	wb_u32(&w, 32000);
	wb_u16(&w, 2);
	wb_u16(&w, 16);
	wb_u16(&w, 22); /* cbSize */
	wb_u16(&w, 16); /* valid bits */
	wb_u32(&w, 4);  /* channel mask */
	wb_bytes(&w, pcm_guid, 16);
	wb_data16(&w, 4);
	wb_done(&w, "ext.wav");
	OCTO_CHECK_INT_EQ(wav_try("ext.wav", &f, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(f.sample_rate, 16000);
	OCTO_CHECK_INT_EQ(wav_format.read(&f, out, 20), 4);
	wav_format.close(&f);

	/* Sizes 0xFFFFFFFF ("unknown length") and a data chunk cut short:
	 * what is in the file is read; a trailing odd byte is dropped. */
	wb_riff(&w);
	wb_fmt(&w, 1, 1, 8000, 16);
	wb_data16(&w, 6);
	w.b[40] = w.b[41] = w.b[42] = w.b[43] = 0xFF;
	w.n -= 3;
	write_file("cut.wav", w.b, w.n);
	OCTO_CHECK_INT_EQ(wav_try("cut.wav", &f, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(wav_format.read(&f, out, 20), 4);
	OCTO_CHECK_INT_EQ(out[3], 300);
	OCTO_CHECK_INT_EQ(wav_format.read(&f, out, 20), 0);
	wav_format.close(&f);
}

OCTO_TEST(wav_recording_cut_short_still_plays)
{
	struct octo_sound_file f = { 0 };
	int16_t in[100], out[200];
	char err[200];

	setup();
	fill_ramp(in, 100);
	/* A writer that never got to close(): the header keeps its
	 * "unknown length" sizes. */
	OCTO_CHECK_INT_EQ(wav_format.open_write(&f, tpath("crash.wav"), 8000), 0);
	OCTO_CHECK_INT_EQ(wav_format.write(&f, in, 100), 100);
	fflush(f.fp);
	{
		struct octo_sound_file r;

		OCTO_CHECK_INT_EQ(wav_try("crash.wav", &r, err, sizeof(err)), 0);
		OCTO_CHECK_INT_EQ(wav_format.read(&r, out, 200), 100);
		OCTO_CHECK(memcmp(in, out, sizeof(in)) == 0);
		wav_format.close(&r);
	}
	wav_format.close(&f);
}

/* ---------------------------------------------------------------- WAV: refused */

static void expect_refused(const char *name, const char *want, int want_rc)
{
	struct octo_sound_file f;
	char err[200];
	int rc = wav_try(name, &f, err, sizeof(err));

	if (rc != want_rc)
		OCTO_FAIL_AT("%s: status %d, expected %d (%s)", name, rc, want_rc, err);
	if (strcmp(err, want))
		OCTO_FAIL_AT("%s: error \"%s\", expected \"%s\"", name, err, want);
	if (!rc)
		wav_format.close(&f);
}

OCTO_TEST(wav_malformed_headers_are_refused_with_a_reason)
{
	struct wbuf w;

	setup();
	write_file("empty.wav", "", 0);
	expect_refused("empty.wav", "empty file", OCTO_EINVAL);
	write_file("text.wav", "hello world, not a sound", 24);
	expect_refused("text.wav", "not a WAV file (no RIFF header)", OCTO_EINVAL);
	write_file("short.wav", "RIFF\x10\0\0", 7);
	expect_refused("short.wav", "truncated WAV file (7 bytes)", OCTO_EINVAL);
	write_file("rifx.wav", "RIFX\x10\0\0\0WAVEfmt ", 16);
	expect_refused("rifx.wav", "big-endian (RIFX) WAV files are not supported", OCTO_EINVAL);
	write_file("rf64.wav", "RF64\xff\xff\xff\xffWAVEds64", 16);
	expect_refused("rf64.wav", "RF64 WAV files are not supported", OCTO_EINVAL);
	write_file("avi.wav", "RIFF\x04\0\0\0AVI ", 12);
	expect_refused("avi.wav", "not a WAV file (RIFF type is not WAVE)", OCTO_EINVAL);
	write_file("hdronly.wav", "RIFF\x04\0\0\0WAVE", 12);
	expect_refused("hdronly.wav", "not a valid WAV file: no fmt or data chunk", OCTO_EINVAL);

	wb_riff(&w);
	wb_fmt(&w, 1, 1, 8000, 16);
	wb_done(&w, "nodata.wav");
	expect_refused("nodata.wav", "not a valid WAV file: no data chunk", OCTO_EINVAL);

	wb_riff(&w);
	wb_data16(&w, 4);
	wb_done(&w, "nofmt.wav");
	expect_refused("nofmt.wav", "not a valid WAV file: no fmt chunk", OCTO_EINVAL);

	wb_riff(&w);
	wb_fmt(&w, 1, 1, 8000, 16);
	wb_bytes(&w, "LIST\xff\xff\xff\xff", 8);
	wb_data16(&w, 4);
	wb_done(&w, "hugelist.wav");
	expect_refused("hugelist.wav",
		       "truncated WAV file: chunk \"LIST\" (4294967295 bytes at "
		       "offset 36) goes past the end of the file",
		       OCTO_EINVAL);

	wb_riff(&w);
	wb_bytes(&w, "\x01\x02\x03\x04\x00\x00\x01\x00", 8);
	wb_done(&w, "binchunk.wav");
	expect_refused("binchunk.wav",
		       "truncated WAV file: chunk 0x01020304 (65536 bytes at "
		       "offset 12) goes past the end of the file",
		       OCTO_EINVAL);

	wb_riff(&w);
	wb_bytes(&w, "fmt \x10\0\0\0\x01\0\x01\0", 12);
	wb_done(&w, "fmtcut.wav");
	expect_refused("fmtcut.wav",
		       "truncated WAV file: the fmt chunk (16 bytes at offset 12) "
		       "goes past the end of the file",
		       OCTO_EINVAL);

	wb_riff(&w);
	wb_chunk(&w, "fmt ", "\x01\0\x01\0\x40\x1f\0\0\x80\x3e", 10, true);
	wb_data16(&w, 2);
	wb_done(&w, "fmtshort.wav");
	expect_refused("fmtshort.wav", "fmt chunk too short (10 bytes, at least 16 expected)",
		       OCTO_EINVAL);

	wb_riff(&w);
	wb_fmt(&w, 1, 1, 8000, 16);
	wb_fmt(&w, 1, 1, 8000, 16);
	wb_data16(&w, 2);
	wb_done(&w, "twofmt.wav");
	expect_refused("twofmt.wav", "two fmt chunks", OCTO_EINVAL);
}

OCTO_TEST(wav_unsupported_encodings_are_refused_with_a_reason)
{
	struct wbuf w;

	setup();
	wb_riff(&w);
	wb_fmt(&w, 1, 2, 8000, 16);
	wb_data16(&w, 4);
	wb_done(&w, "stereo.wav");
	expect_refused("stereo.wav", "2 channels: only mono WAV files are supported", OCTO_EINVAL);

	wb_riff(&w);
	wb_fmt(&w, 1, 1, 8000, 8);
	wb_data16(&w, 4);
	wb_done(&w, "pcm8bit.wav");
	expect_refused("pcm8bit.wav", "8-bit PCM is not supported (16-bit only)", OCTO_EINVAL);

	wb_riff(&w);
	wb_fmt(&w, 1, 1, 44100, 16);
	wb_data16(&w, 4);
	wb_done(&w, "cd.wav");
	expect_refused("cd.wav",
		       "sample rate 44100 Hz is not supported (16-bit PCM: 8000 or 16000 Hz)",
		       OCTO_EINVAL);

	wb_riff(&w);
	wb_fmt(&w, 7, 1, 16000, 8);
	wb_data16(&w, 4);
	wb_done(&w, "ulaw16k.wav");
	expect_refused("ulaw16k.wav", "sample rate 16000 Hz is not supported (u-law: 8000 Hz)",
		       OCTO_EINVAL);

	wb_riff(&w);
	wb_fmt(&w, 0x55, 1, 8000, 0);
	wb_data16(&w, 4);
	wb_done(&w, "mp3.wav");
	expect_refused("mp3.wav",
		       "unsupported WAV encoding (format tag 85): only 16-bit PCM, "
		       "u-law and A-law are supported",
		       OCTO_EINVAL);

	wb_riff(&w);
	wb_fmt(&w, 1, 1, 8000, 16);
	w.b[32] = 4; /* block align */
	wb_data16(&w, 4);
	wb_done(&w, "align.wav");
	expect_refused("align.wav", "fmt chunk: block align 4, expected 2 for 16-bit mono",
		       OCTO_EINVAL);

	wb_riff(&w);
	wb_bytes(&w, "fmt ", 4);
	wb_u32(&w, 18);
	wb_u16(&w, 0xFFFE);
	wb_bytes(&w, "\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0\0\0", 16);
	wb_data16(&w, 2);
	wb_done(&w, "extshort.wav");
	expect_refused("extshort.wav",
		       "fmt chunk of WAVE_FORMAT_EXTENSIBLE too short (18 bytes, 40 expected)",
		       OCTO_EINVAL);
}

OCTO_TEST(wav_too_many_chunks_and_not_files)
{
	struct octo_sound_file f;
	struct wbuf w;
	char err[200];
	uint8_t *big;
	size_t n = 12 + 1100 * 8;

	setup();
	big = calloc(1, n);
	memcpy(big, "RIFF\0\0\0\0WAVE", 12);
	for (size_t i = 12; i < n; i += 8)
		memcpy(big + i, "pad \0\0\0\0", 8);
	write_file("manychunks.wav", big, n);
	free(big);
	expect_refused("manychunks.wav", "more than 1024 chunks before the samples", OCTO_EINVAL);

	expect_refused("no-such-file.wav", "cannot open: No such file or directory",
		       OCTO_ENOTFOUND);
	mkdir(tpath("dir.wav"), 0700);
	expect_refused("dir.wav", "not a regular file", OCTO_EINVAL);

	/* A file that shrinks while it is read ends early, cleanly (stdio may
	 * have buffered the first few kB already). */
	big = malloc(44 + 20000);
	wb_riff(&w);
	wb_fmt(&w, 1, 1, 8000, 16);
	wb_bytes(&w, "data\x20\x4e\0\0", 8);
	memcpy(big, w.b, 44);
	memset(big + 44, 0x11, 20000);
	write_file("shrink.wav", big, 44 + 20000);
	free(big);
	OCTO_CHECK_INT_EQ(wav_try("shrink.wav", &f, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(truncate(tpath("shrink.wav"), 44 + 20), 0);
	{
		int16_t out[200];
		long got, total = 0;

		while ((got = wav_format.read(&f, out, 200)) > 0)
			total += got;
		OCTO_CHECK_INT_EQ(got, 0);
		OCTO_CHECK(total >= 10 && total < 10000);
		OCTO_CHECK_INT_EQ(out[0], 0x1111);
	}
	wav_format.close(&f);
}

/* Flips bytes of a valid file at random (a fixed seed): every result is
 * either read to its end or refused with a reason; never a crash (the
 * sanitizers watch), never a read past the data. */
OCTO_TEST(wav_random_corruption_never_crashes)
{
	struct wbuf w, m;
	unsigned seed = 12345, opened = 0, refused = 0;

	setup();
	wb_riff(&w);
	wb_chunk(&w, "LIST", "INFOIART\x03\0\0\0me\0\0", 16, true);
	wb_fmt(&w, 1, 1, 8000, 16);
	wb_data16(&w, 40);
	for (int iter = 0; iter < 3000; iter++) {
		struct octo_sound_file f;
		char err[200];
		int flips = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 4;

		m = w;
		for (int k = 0; k < flips; k++) {
			size_t at;

			seed = seed * 1103515245u + 12345u;
			at = (seed >> 8) % m.n;
			seed = seed * 1103515245u + 12345u;
			m.b[at] = (uint8_t)(seed >> 16);
		}
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 5 == 0)
			m.n = (seed >> 4) % m.n;
		write_file("fuzz.wav", m.b, m.n);
		if (wav_try("fuzz.wav", &f, err, sizeof(err)) == 0) {
			int16_t out[64];
			long got, total = 0;

			while ((got = wav_format.read(&f, out, 64)) > 0)
				total += got;
			OCTO_CHECK(got == 0);
			OCTO_CHECK(total <= (long)m.n);
			wav_format.close(&f);
			opened++;
		} else {
			OCTO_CHECK(err[0] != '\0');
			refused++;
		}
	}
	OCTO_CHECK(opened > 100);
	OCTO_CHECK(refused > 100);
}

/* ---------------------------------------------------------------- raw formats */

OCTO_TEST(raw_formats_write_then_read)
{
	struct octo_sound_file f = { 0 };
	int16_t in[333], out[400];
	uint8_t *raw;
	char err[200];
	size_t len;

	setup();
	fill_ramp(in, 333);

	OCTO_CHECK_INT_EQ(raw_sln_format.open_write(&f, tpath("a.sln"), 8000), 0);
	OCTO_CHECK_INT_EQ(raw_sln_format.write(&f, in, 333), 333);
	raw_sln_format.close(&f);
	raw = read_file("a.sln", &len);
	OCTO_CHECK_INT_EQ(len, 666);
	OCTO_CHECK_INT_EQ((int16_t)(raw[2] | raw[3] << 8), in[1]); /* little-endian */
	free(raw);
	OCTO_CHECK_INT_EQ(raw_sln_format.open_read(&f, tpath("a.sln"), err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(f.sample_rate, 8000);
	OCTO_CHECK_INT_EQ(raw_sln_format.read(&f, out, 400), 333);
	OCTO_CHECK(memcmp(in, out, sizeof(in)) == 0);
	raw_sln_format.close(&f);

	/* 16 kHz, and an odd trailing byte that is ignored. */
	write_file("b.sln16", "\x01\x00\x02\x00\x03", 5);
	OCTO_CHECK_INT_EQ(raw_sln16_format.open_read(&f, tpath("b.sln16"), err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(f.sample_rate, 16000);
	OCTO_CHECK_INT_EQ(raw_sln16_format.read(&f, out, 400), 2);
	OCTO_CHECK_INT_EQ(out[1], 2);
	raw_sln16_format.close(&f);

	OCTO_CHECK_INT_EQ(raw_ulaw_format.open_write(&f, tpath("c.ulaw"), 8000), 0);
	OCTO_CHECK_INT_EQ(raw_ulaw_format.write(&f, in, 333), 333);
	raw_ulaw_format.close(&f);
	raw = read_file("c.ulaw", &len);
	OCTO_CHECK_INT_EQ(len, 333);
	OCTO_CHECK(memcmp(raw, enc_ulaw(in, 333), 333) == 0);
	free(raw);
	OCTO_CHECK_INT_EQ(raw_ulaw_format.open_read(&f, tpath("c.ulaw"), err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(raw_ulaw_format.read(&f, out, 400), 333);
	OCTO_CHECK_INT_EQ(out[7], g711_ulaw_to_lin[g711_lin_to_ulaw(in[7])]);
	raw_ulaw_format.close(&f);

	OCTO_CHECK_INT_EQ(raw_alaw_format.open_write(&f, tpath("d.alaw"), 8000), 0);
	OCTO_CHECK_INT_EQ(raw_alaw_format.write(&f, in, 333), 333);
	raw_alaw_format.close(&f);
	OCTO_CHECK_INT_EQ(raw_alaw_format.open_read(&f, tpath("d.alaw"), err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(raw_alaw_format.read(&f, out, 400), 333);
	OCTO_CHECK_INT_EQ(out[9], g711_alaw_to_lin[g711_lin_to_alaw(in[9])]);
	OCTO_CHECK_INT_EQ(raw_alaw_format.read(&f, out, 400), 0);
	raw_alaw_format.close(&f);

	OCTO_CHECK_INT_EQ(raw_sln_format.open_write(&f, tpath("x.sln"), 16000), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(raw_ulaw_format.open_read(&f, tpath("none.ulaw"), err, sizeof(err)),
			  OCTO_ENOTFOUND);
	OCTO_CHECK_STR_EQ(err, "cannot open: No such file or directory");
	OCTO_CHECK_INT_EQ(raw_alaw_format.open_read(&f, tdir, err, sizeof(err)), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(err, "not a regular file");
}

OCTO_TEST(raw_ulaw_needs_the_codec)
{
	struct octo_sound_file f;
	char err[200];

	setup();
	write_file("e.ulaw", "\xff\xff", 2);
	octo_codec_unregister(&g711_ulaw);
	OCTO_CHECK_INT_EQ(raw_ulaw_format.open_read(&f, tpath("e.ulaw"), err, sizeof(err)),
			  OCTO_ENOTFOUND);
	OCTO_CHECK_STR_EQ(err, "ulaw files need the PCMU codec (codec_g711 is not loaded)");
	OCTO_CHECK_INT_EQ(octo_codec_register(NULL, &g711_ulaw), 0);
}

OCTO_TEST_MAIN()
