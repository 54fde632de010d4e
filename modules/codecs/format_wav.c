/*
 * format_wav.c - WAV sound files: 16-bit PCM mono at 8000 or 16000 Hz, and
 * u-law (format tag 7) and A-law (tag 6) mono at 8000 Hz.
 *
 * Three sound formats are registered: "wav" (extensions wav, WAV) writes
 * 16-bit PCM; "wav_ulaw" and "wav_alaw" write G.711 WAV files and have no
 * extension, so they are only used when asked for by name. All three read
 * any WAV file of the encodings above. u-law and A-law samples go through the
 * PCMU and PCMA codecs of the registry (codec_g711), which stay referenced
 * while such a file is open.
 *
 * DESIGN: the header parser walks the RIFF chunks in any order using the
 * file's real size as the bound, so that no size field can make it read or
 * seek out of the file or loop: "fmt " and "data" may come in either order,
 * other chunks (LIST, fact, cue ...) are skipped, a missing pad byte after an
 * odd-sized chunk is tolerated, and a data chunk longer than the file (a
 * recording cut short, or the 0xFFFFFFFF "unknown length" of streaming
 * writers) is read up to the end of the file. Everything else that is wrong
 * is refused with a reason for the administrator. The parser takes a FILE,
 * so tests/fuzz/fuzz_wav.c runs it on memory.
 *
 * A file being written gets "unknown length" sizes in its header at first,
 * so a recording cut off by a crash still plays; close() writes the real
 * sizes.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "octo/log.h"
#include "octo/media.h"
#include "octo/module.h"
#include "octo/registry.h"

#define WAV_TAG_PCM 1
#define WAV_TAG_ALAW 6
#define WAV_TAG_ULAW 7
#define WAV_TAG_EXTENSIBLE 0xFFFE

/* More chunks than this before "fmt " and "data" is not a sound file. */
#define WAV_MAX_CHUNKS 1024
/* Samples converted per step when reading or writing. */
#define WAV_BLOCK 1024
/* Largest data chunk a writer may produce (the sizes are 32-bit). */
#define WAV_MAX_DATA 0xFFFFFF00u

static const char wav_holder[] = "format_wav";

/* What the header says about the samples. */
struct wav_info {
	unsigned tag; /* WAV_TAG_PCM, _ALAW or _ULAW */
	unsigned channels;
	unsigned rate;
	unsigned bits;
	unsigned block_align;
	uint64_t data_offset; /* of the first sample byte */
	uint64_t data_size;   /* bytes of samples, bounded by the file's size */
};

struct wav_pvt {
	struct wav_info info;
	const struct octo_codec *codec; /* u-law and A-law: held in the registry */
	uint64_t remaining;             /* reading: bytes of samples left */
	bool writing;
	uint64_t written; /* writing: bytes of samples written */
};

static uint16_t wav_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t wav_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wav_put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void wav_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Reads exactly `len` bytes at `offset`; false on a short read. */
static bool wav_read_at(FILE *fp, uint64_t offset, void *buf, size_t len)
{
	if (offset > (uint64_t)INT64_MAX || fseeko(fp, (off_t)offset, SEEK_SET))
		return false;
	return fread(buf, 1, len, fp) == len;
}

/* A chunk id is four printable ASCII characters. */
static bool wav_plausible_id(const uint8_t *id)
{
	for (int i = 0; i < 4; i++)
		if (id[i] < 0x20 || id[i] > 0x7E)
			return false;
	return true;
}

static void wav_id_text(const uint8_t *id, char out[20])
{
	if (wav_plausible_id(id))
		snprintf(out, 20, "\"%c%c%c%c\"", id[0], id[1], id[2], id[3]);
	else
		snprintf(out, 20, "0x%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
}

/* GUID tail of the KSDATAFORMAT_SUBTYPE_* sub-formats: the first two bytes
 * are the classic format tag. */
static const uint8_t wav_guid_tail[14] = {
	0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
};

static int wav_parse_fmt(FILE *fp, uint64_t offset, uint32_t size, struct wav_info *info, char *err,
			 size_t errsize)
{
	uint8_t fmt[40];

	if (size < 16) {
		snprintf(err, errsize, "fmt chunk too short (%u bytes, at least 16 expected)",
			 (unsigned)size);
		return OCTO_EINVAL;
	}
	memset(fmt, 0, sizeof(fmt));
	if (!wav_read_at(fp, offset, fmt, size < sizeof(fmt) ? size : sizeof(fmt))) {
		snprintf(err, errsize, "cannot read the fmt chunk");
		return OCTO_EINVAL;
	}
	info->tag = wav_le16(fmt);
	info->channels = wav_le16(fmt + 2);
	info->rate = wav_le32(fmt + 4);
	info->block_align = wav_le16(fmt + 12);
	info->bits = wav_le16(fmt + 14);
	if (info->tag == WAV_TAG_EXTENSIBLE) {
		if (size < 40 || wav_le16(fmt + 16) < 22) {
			snprintf(err, errsize,
				 "fmt chunk of WAVE_FORMAT_EXTENSIBLE too short "
				 "(%u bytes, 40 expected)",
				 (unsigned)size);
			return OCTO_EINVAL;
		}
		if (memcmp(fmt + 26, wav_guid_tail, sizeof(wav_guid_tail))) {
			snprintf(err, errsize, "unsupported WAVE_FORMAT_EXTENSIBLE sub-format");
			return OCTO_EINVAL;
		}
		info->tag = wav_le16(fmt + 24);
	}
	return 0;
}

static int wav_check_fmt(const struct wav_info *info, char *err, size_t errsize)
{
	unsigned want_bits, want_align;

	if (info->channels != 1) {
		snprintf(err, errsize, "%u channels: only mono WAV files are supported",
			 info->channels);
		return OCTO_EINVAL;
	}
	switch (info->tag) {
	case WAV_TAG_PCM:
		if (info->bits != 16) {
			snprintf(err, errsize, "%u-bit PCM is not supported (16-bit only)",
				 info->bits);
			return OCTO_EINVAL;
		}
		if (info->rate != 8000 && info->rate != 16000) {
			snprintf(err, errsize,
				 "sample rate %u Hz is not supported "
				 "(16-bit PCM: 8000 or 16000 Hz)",
				 info->rate);
			return OCTO_EINVAL;
		}
		want_bits = 16;
		break;
	case WAV_TAG_ULAW:
	case WAV_TAG_ALAW:
		if (info->bits != 8) {
			snprintf(err, errsize, "%u-bit %s is not supported (8-bit only)",
				 info->bits, info->tag == WAV_TAG_ULAW ? "u-law" : "A-law");
			return OCTO_EINVAL;
		}
		if (info->rate != 8000) {
			snprintf(err, errsize, "sample rate %u Hz is not supported (%s: 8000 Hz)",
				 info->rate, info->tag == WAV_TAG_ULAW ? "u-law" : "A-law");
			return OCTO_EINVAL;
		}
		want_bits = 8;
		break;
	default:
		snprintf(err, errsize,
			 "unsupported WAV encoding (format tag %u): only 16-bit "
			 "PCM, u-law and A-law are supported",
			 info->tag);
		return OCTO_EINVAL;
	}
	want_align = want_bits / 8;
	if (info->block_align != want_align) {
		snprintf(err, errsize, "fmt chunk: block align %u, expected %u for %u-bit mono",
			 info->block_align, want_align, want_bits);
		return OCTO_EINVAL;
	}
	return 0;
}

/*
 * Parses the RIFF/WAVE header of `fp` into `info`. Returns 0, or OCTO_EINVAL
 * with the reason in `err`. Never reads outside the file, whatever the sizes
 * in the header say.
 */
static int wav_parse(FILE *fp, struct wav_info *info, char *err, size_t errsize)
{
	uint8_t hdr[12], ch[8], peek[4];
	uint64_t file_size, pos;
	off_t end;
	bool have_fmt = false, have_data = false;
	unsigned chunks = 0;
	int rc;

	memset(info, 0, sizeof(*info));
	if (fseeko(fp, 0, SEEK_END) || (end = ftello(fp)) < 0) {
		snprintf(err, errsize, "cannot find the size of the file");
		return OCTO_EINVAL;
	}
	file_size = (uint64_t)end;
	if (file_size == 0) {
		snprintf(err, errsize, "empty file");
		return OCTO_EINVAL;
	}
	if (file_size < sizeof(hdr) || !wav_read_at(fp, 0, hdr, sizeof(hdr))) {
		if (file_size >= 4 && wav_read_at(fp, 0, hdr, 4) && !memcmp(hdr, "RIFF", 4))
			snprintf(err, errsize, "truncated WAV file (%llu bytes)",
				 (unsigned long long)file_size);
		else
			snprintf(err, errsize, "not a WAV file (no RIFF header)");
		return OCTO_EINVAL;
	}
	if (!memcmp(hdr, "RIFX", 4)) {
		snprintf(err, errsize, "big-endian (RIFX) WAV files are not supported");
		return OCTO_EINVAL;
	}
	if (!memcmp(hdr, "RF64", 4)) {
		snprintf(err, errsize, "RF64 WAV files are not supported");
		return OCTO_EINVAL;
	}
	if (memcmp(hdr, "RIFF", 4)) {
		snprintf(err, errsize, "not a WAV file (no RIFF header)");
		return OCTO_EINVAL;
	}
	if (memcmp(hdr + 8, "WAVE", 4)) {
		snprintf(err, errsize, "not a WAV file (RIFF type is not WAVE)");
		return OCTO_EINVAL;
	}

	/* The RIFF size is often wrong (streaming writers): the file's size
	 * bounds the walk instead. */
	pos = sizeof(hdr);
	while (!(have_fmt && have_data) && pos + 8 <= file_size) {
		uint64_t body, next;
		uint32_t size;
		char idtext[20];

		if (++chunks > WAV_MAX_CHUNKS) {
			snprintf(err, errsize, "more than %d chunks before the samples",
				 WAV_MAX_CHUNKS);
			return OCTO_EINVAL;
		}
		if (!wav_read_at(fp, pos, ch, sizeof(ch))) {
			snprintf(err, errsize, "cannot read the chunk at offset %llu",
				 (unsigned long long)pos);
			return OCTO_EINVAL;
		}
		size = wav_le32(ch + 4);
		body = pos + 8;
		wav_id_text(ch, idtext);
		if (!memcmp(ch, "data", 4)) {
			if (have_data) {
				snprintf(err, errsize, "two data chunks");
				return OCTO_EINVAL;
			}
			have_data = true;
			info->data_offset = body;
			info->data_size = size;
			if (body + size > file_size) {
				/* Cut short, or "unknown length": read what is there. */
				info->data_size = file_size - body;
				break;
			}
		} else if (!memcmp(ch, "fmt ", 4)) {
			if (have_fmt) {
				snprintf(err, errsize, "two fmt chunks");
				return OCTO_EINVAL;
			}
			if (body + size > file_size) {
				snprintf(err, errsize,
					 "truncated WAV file: the fmt chunk (%u bytes "
					 "at offset %llu) goes past the end of the file",
					 (unsigned)size, (unsigned long long)pos);
				return OCTO_EINVAL;
			}
			rc = wav_parse_fmt(fp, body, size, info, err, errsize);
			if (rc)
				return rc;
			have_fmt = true;
		} else if (body + size > file_size) {
			snprintf(err, errsize,
				 "truncated WAV file: chunk %s (%u bytes at offset "
				 "%llu) goes past the end of the file",
				 idtext, (unsigned)size, (unsigned long long)pos);
			return OCTO_EINVAL;
		}
		next = body + size;
		if (size & 1) {
			/* RIFF pads odd chunks to an even size, but some writers
			 * forget: take the pad byte unless only its absence gives
			 * a plausible next chunk id. */
			bool padded = next + 1 + 4 <= file_size &&
				      wav_read_at(fp, next + 1, peek, 4) && wav_plausible_id(peek);
			bool unpadded = next + 4 <= file_size && wav_read_at(fp, next, peek, 4) &&
					wav_plausible_id(peek);

			if (padded || !unpadded)
				next++;
		}
		pos = next;
	}
	if (!have_fmt) {
		snprintf(err, errsize,
			 have_data ? "not a valid WAV file: no fmt chunk"
				   : "not a valid WAV file: no fmt or data chunk");
		return OCTO_EINVAL;
	}
	if (!have_data) {
		snprintf(err, errsize, "not a valid WAV file: no data chunk");
		return OCTO_EINVAL;
	}
	return wav_check_fmt(info, err, errsize);
}

/* ---------------------------------------------------------------- reading */

static const struct octo_sound_format wav_format;

static void wav_free_pvt(struct wav_pvt *pvt)
{
	if (!pvt)
		return;
	if (pvt->codec)
		octo_registry_put(OCTO_REG_CODEC, pvt->codec, wav_holder);
	free(pvt);
}

/* Opens a WAV file for reading from an open stream; takes `fp` (closed on
 * failure too). */
static int wav_open_fp(struct octo_sound_file *f, FILE *fp, char *err, size_t errsize)
{
	struct wav_pvt *pvt = calloc(1, sizeof(*pvt));
	int rc;

	if (!pvt) {
		fclose(fp);
		snprintf(err, errsize, "out of memory");
		return OCTO_ENOMEM;
	}
	rc = wav_parse(fp, &pvt->info, err, errsize);
	if (!rc && pvt->info.tag != WAV_TAG_PCM) {
		const char *codec = pvt->info.tag == WAV_TAG_ULAW ? "PCMU" : "PCMA";

		pvt->codec = octo_registry_get(OCTO_REG_CODEC, codec, wav_holder);
		if (!pvt->codec) {
			snprintf(err, errsize,
				 "%s WAV files need the %s codec (codec_g711 is not loaded)",
				 pvt->info.tag == WAV_TAG_ULAW ? "u-law" : "A-law", codec);
			rc = OCTO_ENOTFOUND;
		}
	}
	if (!rc && (pvt->info.data_offset > (uint64_t)INT64_MAX ||
		    fseeko(fp, (off_t)pvt->info.data_offset, SEEK_SET))) {
		snprintf(err, errsize, "cannot seek to the samples");
		rc = OCTO_EINVAL;
	}
	if (rc) {
		wav_free_pvt(pvt);
		fclose(fp);
		return rc;
	}
	pvt->remaining = pvt->info.data_size;
	f->format = &wav_format;
	f->sample_rate = pvt->info.rate;
	f->fp = fp;
	f->pvt = pvt;
	return 0;
}

static int wav_open_read(struct octo_sound_file *f, const char *path, char *err, size_t errsize)
{
	struct stat st;
	FILE *fp;

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
	return wav_open_fp(f, fp, err, errsize);
}

static long wav_read(struct octo_sound_file *f, int16_t *out, size_t max)
{
	struct wav_pvt *pvt = f->pvt;
	uint8_t buf[WAV_BLOCK * 2];
	size_t done = 0;

	if (!pvt || pvt->writing)
		return OCTO_EINVAL;
	if (max > (size_t)LONG_MAX)
		max = (size_t)LONG_MAX;
	while (done < max) {
		size_t bps = pvt->info.tag == WAV_TAG_PCM ? 2 : 1;
		uint64_t avail = pvt->remaining / bps;
		size_t want = max - done, got;

		if (want > WAV_BLOCK)
			want = WAV_BLOCK;
		if (want > avail)
			want = (size_t)avail;
		if (!want)
			break;
		got = fread(buf, bps, want, f->fp);
		if (got < want) {
			if (ferror(f->fp))
				return done ? (long)done : OCTO_EFAIL;
			pvt->remaining = 0; /* the file shrank under us */
		} else {
			pvt->remaining -= got * bps;
		}
		if (bps == 2) {
			for (size_t i = 0; i < got; i++)
				out[done + i] = (int16_t)wav_le16(buf + 2 * i);
		} else {
			pvt->codec->decode(buf, got, out + done, got);
		}
		done += got;
		if (got < want)
			break;
	}
	return (long)done;
}

/* ---------------------------------------------------------------- writing */

/* The header for `pvt`, with `data_size` bytes of samples (or the unknown
 * length 0xFFFFFFFF); returns its length. */
static size_t wav_make_header(const struct wav_pvt *pvt, uint8_t *h, uint32_t data_size)
{
	bool pcm = pvt->info.tag == WAV_TAG_PCM;
	unsigned fmt_len = pcm ? 16 : 18;
	size_t len = 12 + 8 + fmt_len + (pcm ? 0 : 12) + 8;
	uint32_t riff;
	uint8_t *p = h;

	if (data_size == 0xFFFFFFFFu)
		riff = 0xFFFFFFFFu;
	else
		riff = (uint32_t)(len - 8) + data_size + (data_size & 1);
	memcpy(p, "RIFF", 4);
	wav_put32(p + 4, riff);
	memcpy(p + 8, "WAVE", 4);
	p += 12;
	memcpy(p, "fmt ", 4);
	wav_put32(p + 4, fmt_len);
	wav_put16(p + 8, pvt->info.tag);
	wav_put16(p + 10, 1);
	wav_put32(p + 12, pvt->info.rate);
	wav_put32(p + 16, pvt->info.rate * pvt->info.block_align);
	wav_put16(p + 20, pvt->info.block_align);
	wav_put16(p + 22, pvt->info.bits);
	p += 8 + 16;
	if (!pcm) {
		/* Non-PCM WAV: a cbSize of 0 and a fact chunk with the sample count. */
		wav_put16(p, 0);
		p += 2;
		memcpy(p, "fact", 4);
		wav_put32(p + 4, 4);
		wav_put32(p + 8, data_size == 0xFFFFFFFFu ? 0 : data_size);
		p += 12;
	}
	memcpy(p, "data", 4);
	wav_put32(p + 4, data_size);
	return len;
}

static int wav_open_write_tag(struct octo_sound_file *f, const char *path, unsigned rate,
			      unsigned tag, const struct octo_sound_format *format)
{
	struct wav_pvt *pvt;
	uint8_t hdr[64];
	size_t len;
	FILE *fp;

	if (!path || !*path)
		return OCTO_EINVAL;
	if (tag == WAV_TAG_PCM ? rate != 8000 && rate != 16000 : rate != 8000)
		return OCTO_EINVAL;
	pvt = calloc(1, sizeof(*pvt));
	if (!pvt)
		return OCTO_ENOMEM;
	pvt->writing = true;
	pvt->info.tag = tag;
	pvt->info.channels = 1;
	pvt->info.rate = rate;
	pvt->info.bits = tag == WAV_TAG_PCM ? 16 : 8;
	pvt->info.block_align = pvt->info.bits / 8;
	if (tag != WAV_TAG_PCM) {
		pvt->codec = octo_registry_get(OCTO_REG_CODEC,
					       tag == WAV_TAG_ULAW ? "PCMU" : "PCMA", wav_holder);
		if (!pvt->codec) {
			octo_log(OCTO_WARNING, "%s: cannot write %s WAV: codec_g711 is not loaded",
				 path, tag == WAV_TAG_ULAW ? "u-law" : "A-law");
			wav_free_pvt(pvt);
			return OCTO_ENOTFOUND;
		}
	}
	fp = fopen(path, "wb");
	if (!fp) {
		int e = errno;

		octo_log(OCTO_WARNING, "%s: cannot create: %s", path, strerror(e));
		wav_free_pvt(pvt);
		return e == ENOENT ? OCTO_ENOTFOUND : OCTO_EFAIL;
	}
	len = wav_make_header(pvt, hdr, 0xFFFFFFFFu);
	if (fwrite(hdr, 1, len, fp) != len) {
		fclose(fp);
		wav_free_pvt(pvt);
		return OCTO_EFAIL;
	}
	f->format = format;
	f->sample_rate = rate;
	f->fp = fp;
	f->pvt = pvt;
	return 0;
}

static long wav_write(struct octo_sound_file *f, const int16_t *in, size_t count)
{
	struct wav_pvt *pvt = f->pvt;
	uint8_t buf[WAV_BLOCK * 2];
	size_t done = 0, bps;

	if (!pvt || !pvt->writing)
		return OCTO_EINVAL;
	bps = pvt->info.block_align;
	if (count > (size_t)LONG_MAX / 2 || pvt->written + (uint64_t)count * bps > WAV_MAX_DATA)
		return OCTO_EINVAL;
	while (done < count) {
		size_t n = count - done;

		if (n > WAV_BLOCK)
			n = WAV_BLOCK;
		if (bps == 2) {
			for (size_t i = 0; i < n; i++)
				wav_put16(buf + 2 * i, (uint16_t)in[done + i]);
		} else {
			pvt->codec->encode(in + done, n, buf, n);
		}
		if (fwrite(buf, bps, n, f->fp) != n)
			return OCTO_EFAIL;
		pvt->written += n * bps;
		done += n;
	}
	return (long)done;
}

/* Writes the pad byte and the real sizes; false on an I/O error. */
static bool wav_finish(struct octo_sound_file *f, struct wav_pvt *pvt)
{
	uint8_t hdr[64];
	size_t len;
	bool ok = true;

	if (pvt->written & 1)
		ok = fputc(0, f->fp) != EOF;
	len = wav_make_header(pvt, hdr, (uint32_t)pvt->written);
	if (fseeko(f->fp, 0, SEEK_SET) || fwrite(hdr, 1, len, f->fp) != len)
		ok = false;
	return ok;
}

static void wav_close(struct octo_sound_file *f)
{
	struct wav_pvt *pvt = f->pvt;
	bool ok = true;

	if (pvt && pvt->writing && f->fp)
		ok = wav_finish(f, pvt);
	if (f->fp && fclose(f->fp))
		ok = false;
	if (!ok)
		octo_log(OCTO_WARNING, "cannot finish writing a WAV file: %s", strerror(errno));
	wav_free_pvt(pvt);
	f->fp = NULL;
	f->pvt = NULL;
}

static const struct octo_sound_format wav_ulaw_format;
static const struct octo_sound_format wav_alaw_format;

static int wav_open_write_pcm(struct octo_sound_file *f, const char *path, unsigned rate)
{
	return wav_open_write_tag(f, path, rate, WAV_TAG_PCM, &wav_format);
}

static int wav_open_write_ulaw(struct octo_sound_file *f, const char *path, unsigned rate)
{
	return wav_open_write_tag(f, path, rate, WAV_TAG_ULAW, &wav_ulaw_format);
}

static int wav_open_write_alaw(struct octo_sound_file *f, const char *path, unsigned rate)
{
	return wav_open_write_tag(f, path, rate, WAV_TAG_ALAW, &wav_alaw_format);
}

static const struct octo_sound_format wav_format = {
	.name = "wav",
	.extensions = "wav,WAV",
	.open_read = wav_open_read,
	.open_write = wav_open_write_pcm,
	.read = wav_read,
	.write = wav_write,
	.close = wav_close,
};

static const struct octo_sound_format wav_ulaw_format = {
	.name = "wav_ulaw",
	.extensions = NULL,
	.open_read = wav_open_read,
	.open_write = wav_open_write_ulaw,
	.read = wav_read,
	.write = wav_write,
	.close = wav_close,
};

static const struct octo_sound_format wav_alaw_format = {
	.name = "wav_alaw",
	.extensions = NULL,
	.open_read = wav_open_read,
	.open_write = wav_open_write_alaw,
	.read = wav_read,
	.write = wav_write,
	.close = wav_close,
};

/* ---------------------------------------------------------------- module */

static int wav_load(struct octo_module *self)
{
	if (octo_format_register(self, &wav_format) ||
	    octo_format_register(self, &wav_ulaw_format) ||
	    octo_format_register(self, &wav_alaw_format))
		return OCTO_LOAD_FAIL;
	return OCTO_LOAD_OK;
}

OCTO_MODULE(format_wav, .description = "WAV sound files (16-bit PCM, u-law, A-law)",
	    .load = wav_load, .optional = "codec_g711");
