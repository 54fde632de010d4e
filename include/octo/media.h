/*
 * media.h - codecs and sound file formats as registry entries.
 *
 * A codec turns encoded frames into 16-bit signed linear samples and back; a
 * sound format reads and writes sound files (WAV, raw u-law ...) as such
 * samples. Both are registered by modules (codec_g711, format_wav ...) and
 * found by name. Conversions are pure functions of their buffers, so they run
 * on whatever thread handles the media, without locks.
 */
#ifndef OCTO_MEDIA_H
#define OCTO_MEDIA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "octo/octo.h"

struct octo_module;

struct octo_codec {
	const char *name;        /* "PCMU": the registry name, as in SDP */
	unsigned rtp_payload;    /* static payload type, or 255 for dynamic */
	unsigned sample_rate;    /* 8000 */
	/* Decodes `len` bytes into samples; returns the number of samples. */
	size_t (*decode)(const uint8_t *in, size_t len, int16_t *out, size_t max);
	/* Encodes `count` samples; returns the number of bytes written. */
	size_t (*encode)(const int16_t *in, size_t count, uint8_t *out, size_t max);
	/* Optional (NULL: none). Converts `len` bytes of this codec straight
	 * into bytes of codec `to`, without going through linear samples, e.g.
	 * PCMU <-> PCMA in codec_g711 (one table lookup a byte). Returns the
	 * number of bytes written (at most `max`), or 0 when this codec has no
	 * direct path to `to` (convert with decode + encode then). */
	size_t (*transcode)(const struct octo_codec *to, const uint8_t *in, size_t len,
			    uint8_t *out, size_t max);
};
int octo_codec_register(struct octo_module *owner, const struct octo_codec *codec);
void octo_codec_unregister(const struct octo_codec *codec);

/* An open sound file, owned by the format that opened it. */
struct octo_sound_file {
	const struct octo_sound_format *format;
	unsigned sample_rate;
	FILE *fp;
	void *pvt;
};

struct octo_sound_format {
	const char *name;        /* "wav" */
	/* "wav,WAV": file name endings, comma separated. NULL: never chosen by a
	 * file name, only asked for by name (e.g. "wav_ulaw" to write u-law WAV). */
	const char *extensions;
	/* Opens for reading; fills `f` and returns 0, or an OCTO_E* with a reason
	 * in `err` ("not a PCM WAV file"). */
	int (*open_read)(struct octo_sound_file *f, const char *path, char *err, size_t errsize);
	int (*open_write)(struct octo_sound_file *f, const char *path, unsigned sample_rate);
	/* Reads up to `max` samples; returns how many (0 at the end), or < 0. */
	long (*read)(struct octo_sound_file *f, int16_t *out, size_t max);
	long (*write)(struct octo_sound_file *f, const int16_t *in, size_t count);
	void (*close)(struct octo_sound_file *f);
};
int octo_format_register(struct octo_module *owner, const struct octo_sound_format *format);
void octo_format_unregister(const struct octo_sound_format *format);

#endif
