/*
 * fuzz_wav.c - libFuzzer harness for the WAV header parser and reader of
 * modules/codecs/format_wav.c, compiled into this file so its static
 * functions are reachable. The input is opened from memory as a WAV file;
 * when it is accepted every sample is read. Checks: a refusal always has a
 * reason, a file never yields more samples than it has bytes, every codec
 * reference taken is given back. The registry and the logger are stubbed.
 *
 * Built by contrib/test.sh from core/util.c and this file only.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/log.h"
#include "octo/media.h"
#include "octo/registry.h"

#include "../../modules/codecs/format_wav.c"

/* ---------------------------------------------------------------- stubs */

static int fz_codec_refs;

static size_t fz_decode(const uint8_t *in, size_t len, int16_t *out, size_t max)
{
	size_t n = len < max ? len : max;

	for (size_t i = 0; i < n; i++)
		out[i] = (int16_t)((in[i] - 128) * 256);
	return n;
}

static size_t fz_encode(const int16_t *in, size_t count, uint8_t *out, size_t max)
{
	size_t n = count < max ? count : max;

	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)((in[i] >> 8) + 128);
	return n;
}

static const struct octo_codec fz_pcmu = { "PCMU", 0, 8000, fz_decode, fz_encode, NULL };
static const struct octo_codec fz_pcma = { "PCMA", 8, 8000, fz_decode, fz_encode, NULL };

const void *octo_registry_get(enum octo_reg_kind kind, const char *name, const char *holder)
{
	if (kind != OCTO_REG_CODEC)
		return NULL;
	fz_codec_refs++;
	if (!strcmp(name, "PCMU"))
		return &fz_pcmu;
	if (!strcmp(name, "PCMA"))
		return &fz_pcma;
	fz_codec_refs--;
	return NULL;
}

void octo_registry_put(enum octo_reg_kind kind, const void *item, const char *holder)
{
	fz_codec_refs--;
}

int octo_format_register(struct octo_module *owner, const struct octo_sound_format *format)
{
	return 0;
}

void octo_format_unregister(const struct octo_sound_format *format)
{
}

void octo_log_full(enum octo_log_level level, int sublevel, const char *module, const char *file,
		   int line, const char *func, const char *callid, const char *fmt, ...)
{
}

/* ---------------------------------------------------------------- the harness */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct octo_sound_file f = { 0 };
	char err[256];
	FILE *fp;

	/* fmemopen() refuses an empty buffer; the unit tests cover that case. */
	if (size == 0 || size > (1u << 20))
		return 0;
	fp = fmemopen((void *)data, size, "rb");
	if (!fp)
		return 0;
	err[0] = '\0';
	if (wav_open_fp(&f, fp, err, sizeof(err)) == 0) {
		int16_t out[300];
		long n, total = 0;

		while ((n = wav_read(&f, out, OCTO_ARRAY_LEN(out))) > 0)
			total += n;
		if (n < 0 || total > (long)size)
			abort();
		wav_close(&f);
	} else if (!err[0] || strlen(err) >= sizeof(err) - 1) {
		abort(); /* every refusal says why, in full */
	}
	if (fz_codec_refs != 0)
		abort();
	return 0;
}
