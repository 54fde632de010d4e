/*
 * cdr_pgsql_spool.c - res_cdr_pgsql's spool file: records waiting on disk
 * for PostgreSQL, one checksummed line each (cdr_pgsql_spool.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/octo.h"

#include "cdr_pgsql_spool.h"

#define DSK_MAGIC "O1"
#define DSK_FIELDS 23           /* the record's fields, between the magic and the CRC */
#define DSK_READ_BUF 65536u     /* > CDR_DISK_LINE_MAX: a longer line is damaged */
#define DSK_WRITE_BUF (32u * CDR_DISK_LINE_MAX)

struct cdr_disk_spool {
	int fd;
	char *path;
	char *rbuf;              /* DSK_READ_BUF bytes */
	uint64_t rd_off;         /* the first line not consumed */
	uint64_t peek_end;       /* after the last line of the last peek */
	size_t peek_count;       /* records of the last peek */
	size_t pending;
	uint64_t damaged, torn;
};

/* ---------------------------------------------------------------- the line */

/* CRC-32 (IEEE 802.3, reflected), bit by bit: lines are short. */
static uint32_t dsk_crc32(const char *p, size_t len)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= (unsigned char)p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

struct dsk_out {
	char *p;
	size_t size, len;
};

static void dsk_put(struct dsk_out *o, char c)
{
	if (o->len + 1 < o->size)
		o->p[o->len] = c;
	o->len++;
}

/* A text field, escaped, then a tab. */
static void dsk_put_text(struct dsk_out *o, const char *s, size_t max)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\') {
			dsk_put(o, '\\');
			dsk_put(o, '\\');
		} else if (c == '\t') {
			dsk_put(o, '\\');
			dsk_put(o, 't');
		} else if (c == '\n') {
			dsk_put(o, '\\');
			dsk_put(o, 'n');
		} else if (c == '\r') {
			dsk_put(o, '\\');
			dsk_put(o, 'r');
		} else if (c < 0x20 || c == 0x7f) {
			dsk_put(o, '\\');
			dsk_put(o, 'x');
			dsk_put(o, hex[c >> 4]);
			dsk_put(o, hex[c & 15]);
		} else {
			dsk_put(o, (char)c);
		}
	}
	dsk_put(o, '\t');
}

static void dsk_put_num(struct dsk_out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void dsk_put_num(struct dsk_out *o, const char *fmt, ...)
{
	char buf[48];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dsk_put_text(o, buf, sizeof(buf));
}

/* At most what cdr_sanitize() keeps: a NUL fits after it when read back. */
#define DSK_TEXT(o, f) dsk_put_text((o), (f), sizeof(f) - 1)

size_t cdr_disk_line(const struct octo_cdr *c, char *buf, size_t size)
{
	struct dsk_out o = { buf, size, 0 };
	char crc[16];

	dsk_put_text(&o, DSK_MAGIC, 2);
	DSK_TEXT(&o, c->uniqueid);
	DSK_TEXT(&o, c->linkedid);
	DSK_TEXT(&o, c->channel);
	DSK_TEXT(&o, c->dst_channel);
	DSK_TEXT(&o, c->caller);
	DSK_TEXT(&o, c->caller_name);
	DSK_TEXT(&o, c->dialed);
	DSK_TEXT(&o, c->called);
	DSK_TEXT(&o, c->procedure);
	DSK_TEXT(&o, c->trunk);
	DSK_TEXT(&o, c->userfield);
	dsk_put_num(&o, "%u", (unsigned)c->disposition);
	dsk_put_num(&o, "%d", c->cause);
	DSK_TEXT(&o, c->hangup_side);
	dsk_put_num(&o, "%llu", (unsigned long long)c->start_us);
	dsk_put_num(&o, "%llu", (unsigned long long)c->answer_us);
	dsk_put_num(&o, "%llu", (unsigned long long)c->end_us);
	dsk_put_num(&o, "%u", c->duration);
	dsk_put_num(&o, "%u", c->billsec);
	dsk_put_num(&o, "%.17g", isfinite(c->cost) ? c->cost : 0.0);
	DSK_TEXT(&o, c->user);
	DSK_TEXT(&o, c->direction);
	dsk_put_num(&o, "%d", c->answered_elsewhere ? 1 : 0);
	/* The checksum covers the line up to (not with) its own tab. */
	if (o.len > o.size) {
		/* Cannot happen with size >= CDR_DISK_LINE_MAX; never write a cut line. */
		if (size)
			buf[0] = '\0';
		return 0;
	}
	snprintf(crc, sizeof(crc), "%08x\n", dsk_crc32(buf, o.len - 1));
	for (const char *p = crc; *p; p++)
		dsk_put(&o, *p);
	if (o.len >= o.size) {
		if (size)
			buf[0] = '\0';
		return 0;
	}
	buf[o.len] = '\0';
	return o.len;
}

/* Unescapes field text [s, s + len) into dst (size bytes, NUL-terminated).
 * False when it does not fit or has a bad escape. */
static bool dsk_unescape(const char *s, size_t len, char *dst, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\\') {
			if (++i >= len)
				return false;
			switch (s[i]) {
			case '\\': c = '\\'; break;
			case 't': c = '\t'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 'x': {
				unsigned v = 0;

				if (i + 2 >= len)
					return false;
				for (int k = 1; k <= 2; k++) {
					char h = s[i + (size_t)k];

					v <<= 4;
					if (h >= '0' && h <= '9')
						v |= (unsigned)(h - '0');
					else if (h >= 'a' && h <= 'f')
						v |= (unsigned)(h - 'a' + 10);
					else
						return false;
				}
				if (!v)
					return false;
				c = (char)v;
				i += 2;
				break;
			}
			default:
				return false;
			}
		} else if ((unsigned char)c < 0x20 || c == 0x7f) {
			return false;
		}
		if (n + 1 >= size)
			return false;
		dst[n++] = c;
	}
	dst[n] = '\0';
	return true;
}

/* An unsigned decimal of at most `max`. */
static bool dsk_uint(const char *s, size_t len, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!len || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return false;
		d = (unsigned)(s[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

const char *cdr_disk_parse(const char *line, size_t len, struct octo_cdr *out)
{
	const char *f[DSK_FIELDS + 2];
	size_t flen[DSK_FIELDS + 2], n = 0, start = 0;
	unsigned long long u;
	char num[48], *end;
	long cause;

	memset(out, 0, sizeof(*out));
	/* The checksum: the last 8 characters, after a tab. */
	if (len < 10 || line[len - 9] != '\t')
		return "is not a spool line";
	{
		unsigned long long crc;
		const char *h = line + len - 8;

		for (int i = 0; i < 8; i++)
			if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
				return "has a wrong checksum";
		memcpy(num, h, 8);
		num[8] = '\0';
		crc = strtoull(num, NULL, 16);
		if (crc != dsk_crc32(line, len - 9))
			return "has a wrong checksum";
	}
	len -= 9;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != '\t')
			continue;
		if (n == DSK_FIELDS + 1)
			return "has too many fields";
		f[n] = line + start;
		flen[n++] = i - start;
		start = i + 1;
	}
	if (n != DSK_FIELDS + 1 || flen[0] != 2 || memcmp(f[0], DSK_MAGIC, 2))
		return "is not a spool line of this version";
#define DSK_GET(i, field)                                                                      \
	do {                                                                                   \
		if (!dsk_unescape(f[i], flen[i], out->field, sizeof(out->field)))               \
			return "has a text field that is too long or badly escaped";             \
	} while (0)
	DSK_GET(1, uniqueid);
	DSK_GET(2, linkedid);
	DSK_GET(3, channel);
	DSK_GET(4, dst_channel);
	DSK_GET(5, caller);
	DSK_GET(6, caller_name);
	DSK_GET(7, dialed);
	DSK_GET(8, called);
	DSK_GET(9, procedure);
	DSK_GET(10, trunk);
	DSK_GET(11, userfield);
	DSK_GET(14, hangup_side);
	DSK_GET(21, user);
	DSK_GET(22, direction);
#undef DSK_GET
	if (!dsk_uint(f[12], flen[12], OCTO_CDR_CANCELLED, &u))
		return "has a bad disposition";
	out->disposition = (enum octo_cdr_disposition)u;
	if (flen[13] == 0 || flen[13] >= 12)
		return "has a bad hangup cause";
	memcpy(num, f[13], flen[13]);
	num[flen[13]] = '\0';
	errno = 0;
	cause = strtol(num, &end, 10);
	if (errno || *end || cause < INT_MIN || cause > INT_MAX)
		return "has a bad hangup cause";
	out->cause = (int)cause;
	if (!dsk_uint(f[15], flen[15], UINT64_MAX, &u))
		return "has a bad start time";
	out->start_us = u;
	if (!dsk_uint(f[16], flen[16], UINT64_MAX, &u))
		return "has a bad answer time";
	out->answer_us = u;
	if (!dsk_uint(f[17], flen[17], UINT64_MAX, &u))
		return "has a bad end time";
	out->end_us = u;
	if (!dsk_uint(f[18], flen[18], UINT32_MAX, &u))
		return "has a bad duration";
	out->duration = (unsigned)u;
	if (!dsk_uint(f[19], flen[19], UINT32_MAX, &u))
		return "has a bad billsec";
	out->billsec = (unsigned)u;
	if (flen[20] == 0 || flen[20] >= sizeof(num))
		return "has a bad cost";
	memcpy(num, f[20], flen[20]);
	num[flen[20]] = '\0';
	out->cost = strtod(num, &end);
	if (*end || !isfinite(out->cost))
		return "has a bad cost";
	if (flen[23] != 1 || (f[23][0] != '0' && f[23][0] != '1'))
		return "has a bad answered_elsewhere";
	out->answered_elsewhere = f[23][0] == '1';
	return NULL;
}

/* ---------------------------------------------------------------- the file */

/* Walks the complete lines from `off`: fn(line, len, arg) for each, with
 * line NULL for one too long to be ours; fn returns true to stop after that
 * line. *end: the offset after the last line walked. Returns 0, or -1 with
 * errno. */
static int dsk_walk(struct cdr_disk_spool *ds, uint64_t off,
		    bool (*fn)(const char *line, size_t len, void *arg), void *arg, uint64_t *end)
{
	char *buf = ds->rbuf;
	uint64_t pos = off;   /* the file offset of buf[0] */
	size_t have = 0;
	bool skipping = false;

	*end = off;
	for (;;) {
		size_t start = 0;
		ssize_t r;
		char *nl;

		r = pread(ds->fd, buf + have, DSK_READ_BUF - have, (off_t)(pos + have));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return 0;
		have += (size_t)r;
		while ((nl = memchr(buf + start, '\n', have - start)) != NULL) {
			size_t len = (size_t)(nl - (buf + start));
			bool stop = skipping ? fn(NULL, 0, arg) : fn(buf + start, len, arg);

			skipping = false;
			start += len + 1;
			*end = pos + start;
			if (stop)
				return 0;
		}
		if (start == 0 && have == DSK_READ_BUF) {
			/* No line break in a whole buffer: not a line of ours. */
			skipping = true;
			pos += have;
			have = 0;
			continue;
		}
		memmove(buf, buf + start, have - start);
		pos += start;
		have -= start;
	}
}

struct dsk_scan {
	size_t valid;
	uint64_t damaged;
};

static bool dsk_scan_line(const char *line, size_t len, void *arg)
{
	struct dsk_scan *s = arg;
	struct octo_cdr c;

	if (line && !cdr_disk_parse(line, len, &c))
		s->valid++;
	else
		s->damaged++;
	return false;
}

static void dsk_err(char *err, size_t errsize, const char *path, const char *what, int e)
{
	snprintf(err, errsize, "%s: %s%s%s", path, what, *what ? ": " : "", strerror(e));
}

static int dsk_sync(int fd)
{
	return fdatasync(fd);
}

struct cdr_disk_spool *cdr_disk_open(const char *path, char *err, size_t errsize)
{
	struct cdr_disk_spool *ds = calloc(1, sizeof(*ds));
	struct dsk_scan scan = { 0 };
	struct stat st;
	uint64_t end;

	if (!ds) {
		snprintf(err, errsize, "%s: out of memory", path);
		return NULL;
	}
	ds->path = octo_strdup(path);
	ds->rbuf = malloc(DSK_READ_BUF);
	ds->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (!ds->rbuf) {
		snprintf(err, errsize, "%s: out of memory", path);
		goto fail;
	}
	if (ds->fd < 0 || fstat(ds->fd, &st)) {
		dsk_err(err, errsize, path, "", errno);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "%s: not a regular file", path);
		goto fail;
	}
	if (dsk_walk(ds, 0, dsk_scan_line, &scan, &end)) {
		dsk_err(err, errsize, path, "cannot read", errno);
		goto fail;
	}
	if ((uint64_t)st.st_size > end) {
		/* A torn last line: cut off, so that appends start a line. */
		if (ftruncate(ds->fd, (off_t)end) || dsk_sync(ds->fd)) {
			dsk_err(err, errsize, path, "cannot cut off a torn line", errno);
			goto fail;
		}
		ds->torn = (uint64_t)st.st_size - end;
	}
	ds->pending = scan.valid;
	ds->damaged = scan.damaged;
	return ds;
fail:
	cdr_disk_close(ds);
	return NULL;
}

void cdr_disk_close(struct cdr_disk_spool *ds)
{
	if (!ds)
		return;
	if (ds->fd >= 0)
		close(ds->fd);
	free(ds->rbuf);
	free(ds->path);
	free(ds);
}

size_t cdr_disk_pending(const struct cdr_disk_spool *ds)
{
	return ds->pending;
}

uint64_t cdr_disk_damaged(const struct cdr_disk_spool *ds)
{
	return ds->damaged;
}

uint64_t cdr_disk_torn(const struct cdr_disk_spool *ds)
{
	return ds->torn;
}

static int dsk_write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cdr_disk_append(struct cdr_disk_spool *ds, const struct octo_cdr *const *recs, size_t n,
		    char *err, size_t errsize)
{
	char *buf = malloc(DSK_WRITE_BUF);
	struct stat st;
	size_t len = 0;
	int e;

	if (!buf) {
		snprintf(err, errsize, "%s: out of memory", ds->path);
		return OCTO_EFAIL;
	}
	if (fstat(ds->fd, &st)) {
		dsk_err(err, errsize, ds->path, "", errno);
		free(buf);
		return OCTO_EFAIL;
	}
	for (size_t i = 0; i < n; i++) {
		len += cdr_disk_line(recs[i], buf + len, CDR_DISK_LINE_MAX);
		if (DSK_WRITE_BUF - len < CDR_DISK_LINE_MAX || i + 1 == n) {
			if (dsk_write_all(ds->fd, buf, len))
				goto fail;
			len = 0;
		}
	}
	if (n && dsk_sync(ds->fd))
		goto fail;
	free(buf);
	ds->pending += n;
	return 0;
fail:
	e = errno;
	dsk_err(err, errsize, ds->path, "cannot write", e);
	/* None of the batch stays: it is tried again as a whole. */
	if (ftruncate(ds->fd, st.st_size))
		errno = 0;
	free(buf);
	return OCTO_EFAIL;
}

struct dsk_peek {
	struct octo_cdr *out;
	size_t max, count;
};

static bool dsk_peek_line(const char *line, size_t len, void *arg)
{
	struct dsk_peek *p = arg;

	if (line && !cdr_disk_parse(line, len, &p->out[p->count]))
		p->count++;
	return p->count >= p->max;
}

int cdr_disk_peek(struct cdr_disk_spool *ds, struct octo_cdr *out, size_t max, char *err,
		  size_t errsize)
{
	struct dsk_peek p = { out, max, 0 };
	uint64_t end;

	ds->peek_count = 0;
	ds->peek_end = ds->rd_off;
	if (!max || !ds->pending)
		return 0;
	if (max > INT32_MAX)
		p.max = INT32_MAX;
	if (dsk_walk(ds, ds->rd_off, dsk_peek_line, &p, &end)) {
		dsk_err(err, errsize, ds->path, "cannot read", errno);
		return OCTO_EFAIL;
	}
	ds->peek_end = end;
	ds->peek_count = p.count;
	if (!p.count)
		ds->pending = 0;   /* only damaged lines were left */
	return (int)p.count;
}

int cdr_disk_consume(struct cdr_disk_spool *ds, char *err, size_t errsize)
{
	ds->rd_off = ds->peek_end;
	ds->pending = ds->pending > ds->peek_count ? ds->pending - ds->peek_count : 0;
	ds->peek_count = 0;
	if (ds->pending)
		return 0;
	ds->rd_off = ds->peek_end = 0;
	if (ftruncate(ds->fd, 0) || dsk_sync(ds->fd)) {
		dsk_err(err, errsize, ds->path, "cannot truncate", errno);
		return OCTO_EFAIL;
	}
	return 0;
}
