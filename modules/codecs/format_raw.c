/*
 * format_raw.c - headerless sound files: "ulaw" (.ulaw, .ul) and "alaw"
 * (.alaw, .al) hold G.711 bytes at 8000 Hz; "sln" (.sln) holds 16-bit signed
 * little-endian samples at 8000 Hz and "sln16" (.sln16) the same at 16000 Hz.
 *
 * u-law and A-law go through the PCMU and PCMA codecs of the registry
 * (codec_g711), held while such a file is open. A trailing odd byte of a
 * 16-bit file is ignored.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "octo/log.h"
#include "octo/media.h"
#include "octo/module.h"
#include "octo/registry.h"

#define RAW_BLOCK 1024

static const char raw_holder[] = "format_raw";

struct raw_pvt {
	const struct octo_codec *codec; /* NULL for 16-bit linear */
};

/* What each format stores: the codec name or NULL (16-bit), and the rate. */
struct raw_kind {
	const char *codec;
	unsigned rate;
};

static const struct raw_kind raw_ulaw_kind = { "PCMU", 8000 };
static const struct raw_kind raw_alaw_kind = { "PCMA", 8000 };
static const struct raw_kind raw_sln_kind = { NULL, 8000 };
static const struct raw_kind raw_sln16_kind = { NULL, 16000 };

static const struct octo_sound_format raw_ulaw_format, raw_alaw_format, raw_sln_format,
	raw_sln16_format;

static const struct raw_kind *raw_kind_of(const struct octo_sound_format *format)
{
	if (format == &raw_ulaw_format)
		return &raw_ulaw_kind;
	if (format == &raw_alaw_format)
		return &raw_alaw_kind;
	if (format == &raw_sln16_format)
		return &raw_sln16_kind;
	return &raw_sln_kind;
}

static void raw_free_pvt(struct raw_pvt *pvt)
{
	if (!pvt)
		return;
	if (pvt->codec)
		octo_registry_put(OCTO_REG_CODEC, pvt->codec, raw_holder);
	free(pvt);
}

/* The private part for `format`, with its codec held; NULL with a reason. */
static struct raw_pvt *raw_new_pvt(const struct octo_sound_format *format, int *rc, char *err,
				   size_t errsize)
{
	const struct raw_kind *kind = raw_kind_of(format);
	struct raw_pvt *pvt = calloc(1, sizeof(*pvt));

	if (!pvt) {
		snprintf(err, errsize, "out of memory");
		*rc = OCTO_ENOMEM;
		return NULL;
	}
	if (kind->codec) {
		pvt->codec = octo_registry_get(OCTO_REG_CODEC, kind->codec, raw_holder);
		if (!pvt->codec) {
			snprintf(err, errsize,
				 "%s files need the %s codec (codec_g711 is not loaded)",
				 format->name, kind->codec);
			free(pvt);
			*rc = OCTO_ENOTFOUND;
			return NULL;
		}
	}
	return pvt;
}

static int raw_open_read(struct octo_sound_file *f, const struct octo_sound_format *format,
			 const char *path, char *err, size_t errsize)
{
	struct raw_pvt *pvt;
	struct stat st;
	FILE *fp;
	int rc = 0;

	if (!path || !*path) {
		snprintf(err, errsize, "no file name");
		return OCTO_EINVAL;
	}
	fp = fopen(path, "rb");
	if (!fp) {
		int e = errno;

		snprintf(err, errsize, "cannot open: %s", strerror(e));
		return e == ENOENT ? OCTO_ENOTFOUND : OCTO_EFAIL;
	}
	if (fstat(fileno(fp), &st) || !S_ISREG(st.st_mode)) {
		fclose(fp);
		snprintf(err, errsize, "not a regular file");
		return OCTO_EINVAL;
	}
	pvt = raw_new_pvt(format, &rc, err, errsize);
	if (!pvt) {
		fclose(fp);
		return rc;
	}
	f->format = format;
	f->sample_rate = raw_kind_of(format)->rate;
	f->fp = fp;
	f->pvt = pvt;
	return 0;
}

static int raw_open_write(struct octo_sound_file *f, const struct octo_sound_format *format,
			  const char *path, unsigned rate)
{
	char err[160];
	struct raw_pvt *pvt;
	FILE *fp;
	int rc = 0;

	if (!path || !*path || rate != raw_kind_of(format)->rate)
		return OCTO_EINVAL;
	pvt = raw_new_pvt(format, &rc, err, sizeof(err));
	if (!pvt) {
		octo_log(OCTO_WARNING, "%s: %s", path, err);
		return rc;
	}
	fp = fopen(path, "wb");
	if (!fp) {
		int e = errno;

		octo_log(OCTO_WARNING, "%s: cannot create: %s", path, strerror(e));
		raw_free_pvt(pvt);
		return e == ENOENT ? OCTO_ENOTFOUND : OCTO_EFAIL;
	}
	f->format = format;
	f->sample_rate = rate;
	f->fp = fp;
	f->pvt = pvt;
	return 0;
}

static long raw_read(struct octo_sound_file *f, int16_t *out, size_t max)
{
	struct raw_pvt *pvt = f->pvt;
	uint8_t buf[RAW_BLOCK * 2];
	size_t done = 0;

	if (!pvt || !f->fp)
		return OCTO_EINVAL;
	if (max > (size_t)LONG_MAX)
		max = (size_t)LONG_MAX;
	while (done < max) {
		size_t want = max - done, got;

		if (want > RAW_BLOCK)
			want = RAW_BLOCK;
		if (pvt->codec) {
			got = fread(buf, 1, want, f->fp);
			pvt->codec->decode(buf, got, out + done, got);
		} else {
			got = fread(buf, 2, want, f->fp);
			for (size_t i = 0; i < got; i++)
				out[done + i] =
					(int16_t)(uint16_t)(buf[2 * i] | buf[2 * i + 1] << 8);
		}
		done += got;
		if (got < want) {
			if (ferror(f->fp) && !done)
				return OCTO_EFAIL;
			break;
		}
	}
	return (long)done;
}

static long raw_write(struct octo_sound_file *f, const int16_t *in, size_t count)
{
	struct raw_pvt *pvt = f->pvt;
	uint8_t buf[RAW_BLOCK * 2];
	size_t done = 0;

	if (!pvt || !f->fp || count > (size_t)LONG_MAX)
		return OCTO_EINVAL;
	while (done < count) {
		size_t n = count - done, size;

		if (n > RAW_BLOCK)
			n = RAW_BLOCK;
		if (pvt->codec) {
			pvt->codec->encode(in + done, n, buf, n);
			size = 1;
		} else {
			for (size_t i = 0; i < n; i++) {
				uint16_t v = (uint16_t)in[done + i];

				buf[2 * i] = (uint8_t)v;
				buf[2 * i + 1] = (uint8_t)(v >> 8);
			}
			size = 2;
		}
		if (fwrite(buf, size, n, f->fp) != n)
			return OCTO_EFAIL;
		done += n;
	}
	return (long)done;
}

static void raw_close(struct octo_sound_file *f)
{
	if (f->fp && fclose(f->fp))
		octo_log(OCTO_WARNING, "cannot finish writing a %s file: %s",
			 f->format ? f->format->name : "raw", strerror(errno));
	raw_free_pvt(f->pvt);
	f->fp = NULL;
	f->pvt = NULL;
}

/* One pair of open functions per format, so each knows what it is. */
#define RAW_OPENERS(kind)                                                                          \
	static int raw_open_read_##kind(struct octo_sound_file *f, const char *path, char *err,    \
					size_t errsize)                                            \
	{                                                                                          \
		return raw_open_read(f, &raw_##kind##_format, path, err, errsize);                 \
	}                                                                                          \
	static int raw_open_write_##kind(struct octo_sound_file *f, const char *path,              \
					 unsigned rate)                                            \
	{                                                                                          \
		return raw_open_write(f, &raw_##kind##_format, path, rate);                        \
	}

RAW_OPENERS(ulaw)
RAW_OPENERS(alaw)
RAW_OPENERS(sln)
RAW_OPENERS(sln16)

#define RAW_FORMAT(kind, exts)                                                                     \
	static const struct octo_sound_format raw_##kind##_format = {                              \
		.name = #kind,                                                                     \
		.extensions = exts,                                                                \
		.open_read = raw_open_read_##kind,                                                 \
		.open_write = raw_open_write_##kind,                                               \
		.read = raw_read,                                                                  \
		.write = raw_write,                                                                \
		.close = raw_close,                                                                \
	}

RAW_FORMAT(ulaw, "ulaw,ul");
RAW_FORMAT(alaw, "alaw,al");
RAW_FORMAT(sln, "sln");
RAW_FORMAT(sln16, "sln16");

static int raw_load(struct octo_module *self)
{
	if (octo_format_register(self, &raw_ulaw_format) ||
	    octo_format_register(self, &raw_alaw_format) ||
	    octo_format_register(self, &raw_sln_format) ||
	    octo_format_register(self, &raw_sln16_format))
		return OCTO_LOAD_FAIL;
	return OCTO_LOAD_OK;
}

OCTO_MODULE(format_raw, .description = "Raw sound files (u-law, A-law, 16-bit linear)",
	    .load = raw_load, .optional = "codec_g711");
