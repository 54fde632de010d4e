/*
 * sip_record.c - in-call recording of natively relayed SIP calls: the
 * feature codes of features.conf [callrec] (record_call = *1 start/stop,
 * record_pause = *2 pause/resume) dialled as RFC 4733 events by either
 * party, and the one writer thread that mixes both parties into a WAV file.
 *
 * DESIGN (see sip_record.h)
 *   - The media worker calls sip_rec_digit() for each digit that ended on a
 *     tapped leg (a short lock to queue it) and sip_rec_audio() for each
 *     relayed payload: while the call records, the G.711 bytes go into the
 *     leg's single-producer/single-consumer ring (allocated by the writer
 *     when the first recording of the call starts), else nothing is done.
 *   - The writer thread wakes on queued digits and every REC_TICK_MS while
 *     something records: it matches the codes (digits closer together than
 *     digit_timeout), drains both rings, decodes G.711, mixes, and writes.
 *     A party that sends nothing (muted, on hold) is waited for up to
 *     REC_LAG samples, then counted as silence. While paused the drained
 *     audio is thrown away: nothing is written.
 *   - A recorder ends when both taps are released (the relay stopped or an
 *     endpoint was freed): the writer closes the file and frees it.
 *   - A recorder joins the writer's list only when its first digit comes;
 *     one that never saw a digit (nearly every call) is freed by its last
 *     release, without waking the writer: every bridged call has one, and
 *     waking the writer twice per call to walk the list of all of them cost
 *     a tenth of Octo's CPU at 400 calls/s.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/config.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/obj.h"
#include "octo/octo.h"
#include "sip_media.h"
#include "sip_record.h"

#define REC_RING 32768u /* bytes (samples) per leg: 4 s of G.711; a power of two */
#define REC_TICK_MS 100 /* writer period while recording */
#define REC_LAG 1600u   /* samples: how long the writer waits for the slower party */
#define REC_DIGQ 16     /* digits queued per recorder */
#define REC_CODE_MAX 7
#define REC_BEEP_PACKETS 10 /* 200 ms at 20 ms a packet */
#define REC_CHUNK 1024u     /* samples mixed at once */
#define REC_FILE "features.conf"
#define REC_SECTION "callrec"

/* features.conf [callrec], read by the writer when a call's first digit comes. */
struct rec_conf {
	char start[REC_CODE_MAX + 1]; /* record_call: start/stop ("" = off) */
	char pause[REC_CODE_MAX + 1]; /* record_pause: pause/resume */
	unsigned digit_ms;            /* digit_timeout */
	char folder[256];             /* strftime pattern, relative to the data folder */
	char name[256];               /* ${LINKEDID} ${CALLER} ${CALLED} ${TIME} */
};

struct sip_rec;

struct sip_rec_leg {
	struct sip_rec *rec;
	atomic_bool released;
	atomic_int law;     /* 0: PCMU, 1: PCMA */
	atomic_size_t head; /* written by the worker */
	atomic_size_t tail; /* written by the writer */
	atomic_ulong overruns;
	atomic_uint beep; /* packets to this party still to be replaced by the beep */
	/* writer only */
	char digits[REC_CODE_MAX + 1];
	size_t ndig;
	uint64_t last_ms;
};

struct sip_rec {
	struct sip_rec_leg leg[2];
	_Atomic(uint8_t *) ring[2]; /* set by the writer before `on` */
	atomic_bool on;             /* the rings are being filled */
	struct octo_channel *chan[2];
	struct sip_rec *next; /* rec_list, under rec_lock */
	bool listed;          /* on rec_list (under rec_lock) */
	/* under rec_lock: digits from the worker */
	char dq[REC_DIGQ];
	uint8_t dq_leg[REC_DIGQ];
	unsigned dq_n;
	/* writer only */
	bool configured;
	struct rec_conf conf;
	FILE *f;
	char *path; /* PATH_MAX bytes, made for the first recording: most
		     * bridged calls record nothing */
	bool paused;
	uint64_t samples; /* written to the current file */
	unsigned files;   /* recordings made in this call */
};

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rec_cond = PTHREAD_COND_INITIALIZER;
static struct sip_rec *rec_list;   /* under rec_lock */
static bool rec_running, rec_stop; /* under rec_lock */
static bool rec_wake;              /* under rec_lock: something to do now */
static pthread_t rec_thread;
static int16_t rec_ulaw[256], rec_alaw[256];
/* one period of the 1 kHz beep (8 samples at 8 kHz) in PCMU and PCMA */
static uint8_t rec_beep_u[8], rec_beep_a[8];

static void rec_free(struct sip_rec *r);
static void *rec_main(void *arg);

/* ---------------------------------------------------------------- G.711 */

static int16_t rec_ulaw_decode(uint8_t b)
{
	unsigned u = (unsigned)(~b) & 0xff;
	int t = (int)(((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);

	return (int16_t)((u & 0x80) ? 0x84 - t : t - 0x84);
}

static int16_t rec_alaw_decode(uint8_t b)
{
	unsigned a = (unsigned)b ^ 0x55;
	unsigned seg = (a & 0x70) >> 4;
	int t = (int)((a & 0x0f) << 4);

	if (seg == 0) {
		t += 8;
	} else {
		t += 0x108;
		if (seg > 1)
			t <<= seg - 1;
	}
	return (int16_t)((a & 0x80) ? t : -t);
}

/* The code whose decoded value is nearest to x. */
static uint8_t rec_encode(const int16_t *tab, int x)
{
	unsigned best = 0;

	for (unsigned i = 1; i < 256; i++)
		if (abs(tab[i] - x) < abs(tab[best] - x))
			best = i;
	return (uint8_t)best;
}

static void rec_tables(void)
{
	static bool done; /* under rec_lock */
	/* 4000 * sin(k * 45 degrees) */
	static const int beep[8] = { 0, 2828, 4000, 2828, 0, -2828, -4000, -2828 };

	if (done)
		return;
	done = true;
	for (unsigned i = 0; i < 256; i++) {
		rec_ulaw[i] = rec_ulaw_decode((uint8_t)i);
		rec_alaw[i] = rec_alaw_decode((uint8_t)i);
	}
	for (unsigned k = 0; k < 8; k++) {
		rec_beep_u[k] = rec_encode(rec_ulaw, beep[k]);
		rec_beep_a[k] = rec_encode(rec_alaw, beep[k]);
	}
}

/* ---------------------------------------------------------------- worker side */

void sip_rec_digit(struct sip_rec_leg *leg, char digit)
{
	struct sip_rec *r;

	if (!leg || !digit)
		return;
	r = leg->rec;
	pthread_mutex_lock(&rec_lock);
	if (!r->listed) {
		if (!rec_running) {
			int e;

			rec_tables();
			rec_stop = false;
			e = pthread_create(&rec_thread, NULL, rec_main, NULL);
			if (e != 0) {
				pthread_mutex_unlock(&rec_lock);
				octo_log(OCTO_ERROR,
					 "SIP: call recording: cannot start the writer thread (%s): "
					 "digit %c not acted on",
					 strerror(e), digit);
				return;
			}
			rec_running = true;
		}
		r->next = rec_list;
		rec_list = r;
		r->listed = true;
	}
	if (r->dq_n < REC_DIGQ) {
		r->dq[r->dq_n] = digit;
		r->dq_leg[r->dq_n] = leg == &r->leg[1];
		r->dq_n++;
	}
	rec_wake = true;
	pthread_cond_signal(&rec_cond);
	pthread_mutex_unlock(&rec_lock);
}

void sip_rec_audio(struct sip_rec_leg *leg, const struct octo_codec *codec, const uint8_t *p,
		   size_t len)
{
	struct sip_rec *r;
	uint8_t *ring;
	size_t head, tail, pos, first;

	if (!leg || !codec || !codec->name || !len)
		return;
	r = leg->rec;
	if (!atomic_load_explicit(&r->on, memory_order_acquire))
		return;
	ring = atomic_load_explicit(&r->ring[leg == &r->leg[1]], memory_order_acquire);
	if (!ring)
		return;
	if (!strcmp(codec->name, "PCMU"))
		atomic_store_explicit(&leg->law, 0, memory_order_relaxed);
	else if (!strcmp(codec->name, "PCMA"))
		atomic_store_explicit(&leg->law, 1, memory_order_relaxed);
	else
		return;
	head = atomic_load_explicit(&leg->head, memory_order_relaxed);
	tail = atomic_load_explicit(&leg->tail, memory_order_acquire);
	if (REC_RING - (head - tail) < len) {
		atomic_fetch_add_explicit(&leg->overruns, 1, memory_order_relaxed);
		return;
	}
	pos = head % REC_RING;
	first = len < REC_RING - pos ? len : REC_RING - pos;
	memcpy(ring + pos, p, first);
	memcpy(ring, p + first, len - first);
	atomic_store_explicit(&leg->head, head + len, memory_order_release);
}

void sip_rec_beep(struct sip_rec_leg *leg, const struct octo_codec *codec, uint8_t *p, size_t len)
{
	const uint8_t *tone;
	unsigned left;

	if (!leg || !codec || !codec->name)
		return;
	left = atomic_load_explicit(&leg->beep, memory_order_relaxed);
	if (!left)
		return;
	if (!strcmp(codec->name, "PCMU"))
		tone = rec_beep_u;
	else if (!strcmp(codec->name, "PCMA"))
		tone = rec_beep_a;
	else
		return;
	/* only the worker decrements; the writer only sets it */
	atomic_compare_exchange_strong(&leg->beep, &left, left - 1);
	for (size_t i = 0; i < len; i++)
		p[i] = tone[i % 8];
}

void sip_rec_release(struct sip_rec_leg *leg)
{
	struct sip_rec *r, *unlisted = NULL;

	if (!leg)
		return;
	r = leg->rec;
	pthread_mutex_lock(&rec_lock);
	atomic_store(&leg->released, true);
	if (r->listed) {
		rec_wake = true;
		pthread_cond_signal(&rec_cond);
	} else if (atomic_load(&r->leg[0].released) && atomic_load(&r->leg[1].released)) {
		unlisted = r; /* never recorded, nobody else holds it */
	}
	pthread_mutex_unlock(&rec_lock);
	if (unlisted)
		rec_free(unlisted);
}

/* ---------------------------------------------------------------- configuration */

static bool rec_code_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > REC_CODE_MAX)
		return false;
	return strspn(s, "0123456789*#ABCD") == n;
}

/* Sets code (holding its default) from `key` when that is a valid code. */
static void rec_conf_code(const struct octo_cfg *cfg, const char *key, char *code, size_t size)
{
	const char *v = octo_cfg_value(cfg, REC_SECTION, key);

	if (v && rec_code_ok(v))
		octo_strlcpy(code, v, size);
	else if (v)
		octo_log(OCTO_WARNING,
			 "%s [%s] %s: '%s' is not a code of at most %d digits, %s kept", REC_FILE,
			 REC_SECTION, key, v, REC_CODE_MAX, code);
}

static void rec_conf_load(struct rec_conf *c)
{
	struct octo_diags diags = { 0 };
	struct octo_cfg *cfg;
	const char *v;

	octo_strlcpy(c->start, "*1", sizeof(c->start));
	octo_strlcpy(c->pause, "*2", sizeof(c->pause));
	c->digit_ms = 2000;
	octo_strlcpy(c->folder, "recordings/%Y-%m-%d", sizeof(c->folder));
	octo_strlcpy(c->name, "${LINKEDID}-${CALLER}-${CALLED}", sizeof(c->name));
	cfg = octo_paths.config_dir ? octo_cfg_load(octo_paths.config_dir, REC_FILE, true, &diags)
				    : NULL;
	if (cfg) {
		unsigned long long ms;

		rec_conf_code(cfg, "record_call", c->start, sizeof(c->start));
		rec_conf_code(cfg, "record_pause", c->pause, sizeof(c->pause));
		v = octo_cfg_value(cfg, REC_SECTION, "digit_timeout");
		if (v && !octo_cfg_parse_duration(v, true, &ms) && ms >= 100 && ms <= 10000)
			c->digit_ms = (unsigned)ms;
		else if (v)
			octo_log(OCTO_WARNING, "%s [%s] digit_timeout: '%s' is not 100ms..10s",
				 REC_FILE, REC_SECTION, v);
		v = octo_cfg_value(cfg, REC_SECTION, "folder");
		if (v && *v && *v != '/' && !strstr(v, ".."))
			octo_strlcpy(c->folder, v, sizeof(c->folder));
		else if (v)
			octo_log(OCTO_WARNING,
				 "%s [%s] folder: '%s' must be relative to the data "
				 "folder, without '..'",
				 REC_FILE, REC_SECTION, v);
		v = octo_cfg_value(cfg, REC_SECTION, "name");
		if (v && *v && !strchr(v, '/'))
			octo_strlcpy(c->name, v, sizeof(c->name));
		else if (v)
			octo_log(OCTO_WARNING, "%s [%s] name: '%s' must be a file name", REC_FILE,
				 REC_SECTION, v);
	}
	octo_cfg_free(cfg);
	octo_diags_free(&diags);
}

/* ---------------------------------------------------------------- files */

/* Appends `s` to out, keeping only characters safe in a file name. */
static void rec_append_safe(char *out, size_t size, const char *s)
{
	size_t n = strlen(out);

	for (; s && *s && n + 1 < size; s++)
		out[n++] = (strchr("+-_.", *s) || (*s >= '0' && *s <= '9') ||
			    (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
				   ? *s
				   : '_';
	out[n] = 0;
}

static void rec_expand_name(struct sip_rec *r, const struct tm *tm, char *out, size_t size)
{
	const char *p = r->conf.name;
	char buf[128];

	out[0] = 0;
	while (*p) {
		const char *val = NULL;
		size_t skip = 0;

		buf[0] = 0;
		if (!strncmp(p, "${LINKEDID}", 11)) {
			skip = 11;
			if (!octo_chan_var_get(r->chan[0], "LINKEDID", buf, sizeof(buf)))
				octo_strlcpy(buf, octo_chan_id(r->chan[0]), sizeof(buf));
			val = buf;
		} else if (!strncmp(p, "${CALLER}", 9)) {
			skip = 9;
			val = octo_chan_copy(r->chan[0], OCTO_CHAN_CALLER_NUM, buf, sizeof(buf));
		} else if (!strncmp(p, "${CALLED}", 9)) {
			skip = 9;
			val = octo_chan_copy(r->chan[0], OCTO_CHAN_CALLED, buf, sizeof(buf));
		} else if (!strncmp(p, "${TIME}", 7)) {
			skip = 7;
			strftime(buf, sizeof(buf), "%H%M%S", tm);
			val = buf;
		}
		if (skip) {
			rec_append_safe(out, size, val && *val ? val : "unknown");
			p += skip;
		} else {
			char one[2] = { *p++, 0 };

			rec_append_safe(out, size, one);
		}
	}
	if (!out[0] || out[0] == '.')
		octo_strlcpy(out, "call", size);
}

/* mkdir -p of `path` (an absolute path). */
static int rec_mkdirs(char *path)
{
	for (char *s = strchr(path + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = 0;
		if (mkdir(path, 0750) != 0 && errno != EEXIST) {
			int e = errno;

			if (s)
				*s = '/';
			return e;
		}
		if (!s)
			return 0;
		*s = '/';
	}
}

static void rec_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* The 44-byte header of a mono 8 kHz 16-bit PCM WAV with `samples`. */
static void rec_wav_header(uint8_t h[44], uint64_t samples)
{
	uint32_t data = samples > 0x7fffffe0u / 2 ? 0x7fffffe0u : (uint32_t)(samples * 2);

	memcpy(h, "RIFF", 4);
	rec_le32(h + 4, 36 + data);
	memcpy(h + 8, "WAVEfmt ", 8);
	rec_le32(h + 16, 16);
	h[20] = 1; /* PCM */
	h[21] = 0;
	h[22] = 1; /* mono */
	h[23] = 0;
	rec_le32(h + 24, 8000);
	rec_le32(h + 28, 16000);
	h[32] = 2;
	h[33] = 0;
	h[34] = 16;
	h[35] = 0;
	memcpy(h + 36, "data", 4);
	rec_le32(h + 40, data);
}

static void rec_beep(struct sip_rec *r)
{
	for (int i = 0; i < 2; i++)
		atomic_store(&r->leg[i].beep, REC_BEEP_PACKETS);
}

static void rec_set_vars(struct sip_rec *r, const char *path)
{
	for (int i = 0; i < 2; i++) {
		octo_chan_var_set(r->chan[i], "CALLREC_FILE", path);
		octo_chan_var_set(r->chan[i], "CDR_USERFIELD", path);
	}
}

static void rec_step(struct sip_rec *r, const char *what, int by)
{
	for (int i = 0; i < 2; i++)
		octo_chan_step(r->chan[i], "SIP: call recording %s (by %s): %s", what,
			       octo_chan_name(r->chan[by]), r->path);
}

static bool rec_open(struct sip_rec *r, int by)
{
	char dir[PATH_MAX], sub[256], name[256];
	time_t now = time(NULL);
	struct tm tm;
	int fd = -1, e;
	uint8_t h[44];

	localtime_r(&now, &tm);
	if (!octo_paths.data_dir)
		return false;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	/* the administrator's pattern (features.conf [callrec] folder) */
	if (!strftime(sub, sizeof(sub), r->conf.folder, &tm))
		return false;
#pragma GCC diagnostic pop
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", octo_paths.data_dir, sub) >= sizeof(dir))
		return false;
	e = rec_mkdirs(dir);
	if (e) {
		octo_chan_step(r->chan[by], "SIP: call recording not started: cannot create %s: %s",
			       dir, strerror(e));
		return false;
	}
	rec_expand_name(r, &tm, name, sizeof(name));
	if (!r->path && !(r->path = malloc(PATH_MAX)))
		return false;
	for (unsigned k = 1; k < 100 && fd < 0; k++) {
		int n = k == 1 ? snprintf(r->path, PATH_MAX, "%s/%s.wav", dir, name)
			       : snprintf(r->path, PATH_MAX, "%s/%s-%u.wav", dir, name, k);

		if (n < 0 || (size_t)n >= PATH_MAX)
			break;
		fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0 || !(r->f = fdopen(fd, "wb"))) {
		octo_chan_step(r->chan[by], "SIP: call recording not started: cannot create %s: %s",
			       r->path, strerror(errno));
		if (fd >= 0)
			close(fd);
		r->path[0] = 0;
		return false;
	}
	rec_wav_header(h, 0);
	fwrite(h, 1, sizeof(h), r->f);
	r->samples = 0;
	return true;
}

static void rec_close(struct sip_rec *r)
{
	uint8_t h[44];

	if (!r->f)
		return;
	rec_wav_header(h, r->samples);
	if (fseek(r->f, 0, SEEK_SET) == 0)
		fwrite(h, 1, sizeof(h), r->f);
	if (fclose(r->f) != 0)
		octo_log(OCTO_WARNING, "call recording %s: %s", r->path, strerror(errno));
	r->f = NULL;
}

/* ---------------------------------------------------------------- mixing */

/* Drains both rings; writes unless paused. `all`: take everything, pad the
 * party that sent less with silence (the recording ends). */
static void rec_drain(struct sip_rec *r, bool all)
{
	for (;;) {
		size_t avail[2], n, mn;
		int32_t acc[REC_CHUNK];
		int16_t out[REC_CHUNK];

		for (int i = 0; i < 2; i++)
			avail[i] = atomic_load_explicit(&r->leg[i].head, memory_order_acquire) -
				   atomic_load_explicit(&r->leg[i].tail, memory_order_relaxed);
		n = avail[0] > avail[1] ? avail[0] : avail[1];
		mn = avail[0] < avail[1] ? avail[0] : avail[1];
		if (!all && n - mn < REC_LAG)
			n = mn; /* the slower party's packets are on their way */
		if (!n)
			return;
		if (n > REC_CHUNK)
			n = REC_CHUNK;
		memset(acc, 0, sizeof(acc));
		for (int i = 0; i < 2; i++) {
			const uint8_t *ring =
				atomic_load_explicit(&r->ring[i], memory_order_acquire);
			const int16_t *tab =
				atomic_load_explicit(&r->leg[i].law, memory_order_relaxed)
					? rec_alaw
					: rec_ulaw;
			size_t tail = atomic_load_explicit(&r->leg[i].tail, memory_order_relaxed);
			size_t k = avail[i] < n ? avail[i] : n;

			for (size_t j = 0; j < k; j++)
				acc[j] += tab[ring[(tail + j) % REC_RING]];
			atomic_store_explicit(&r->leg[i].tail, tail + k, memory_order_release);
		}
		if (r->paused || !r->f)
			continue;
		for (size_t j = 0; j < n; j++)
			out[j] = (int16_t)(acc[j] > 32767    ? 32767
					   : acc[j] < -32768 ? -32768
							     : acc[j]);
		if (fwrite(out, sizeof(out[0]), n, r->f) == n)
			r->samples += n;
	}
}

static void rec_start(struct sip_rec *r, int by)
{
	char buf[32];

	for (int i = 0; i < 2; i++) {
		if (!atomic_load(&r->ring[i])) {
			uint8_t *ring = malloc(REC_RING);

			if (!ring) {
				octo_chan_step(r->chan[by], "SIP: call recording not started: "
							    "out of memory");
				return;
			}
			atomic_store_explicit(&r->ring[i], ring, memory_order_release);
		}
		/* what a late packet of the previous recording left is dropped */
		atomic_store(&r->leg[i].tail, atomic_load(&r->leg[i].head));
	}
	if (!rec_open(r, by))
		return;
	r->paused = false;
	r->files++;
	atomic_store_explicit(&r->on, true, memory_order_release);
	rec_beep(r);
	rec_set_vars(r, r->path);
	snprintf(buf, sizeof(buf), "started");
	rec_step(r, buf, by);
	octo_log(OCTO_NOTICE, "call recording started by %s: %s", octo_chan_name(r->chan[by]),
		 r->path);
}

static void rec_stop_file(struct sip_rec *r, int by, const char *why)
{
	char what[64];

	if (!r->f)
		return;
	atomic_store_explicit(&r->on, false, memory_order_release);
	rec_drain(r, true);
	snprintf(what, sizeof(what), "%s, %.1f s", why, (double)r->samples / 8000.0);
	rec_close(r);
	rec_beep(r);
	rec_step(r, what, by);
	octo_log(OCTO_NOTICE, "call recording %s: %s", what, r->path);
}

/* A digit from leg i: collects the codes. */
static void rec_collect(struct sip_rec *r, int i, char d, uint64_t now)
{
	struct sip_rec_leg *l = &r->leg[i];
	const char *start = r->conf.start, *pause = r->conf.pause;

	if (now - l->last_ms > r->conf.digit_ms || l->ndig >= REC_CODE_MAX)
		l->ndig = 0;
	l->last_ms = now;
	for (int pass = 0; pass < 2; pass++) {
		l->digits[l->ndig++] = d;
		l->digits[l->ndig] = 0;
		if (*start && !strcmp(l->digits, start)) {
			l->ndig = 0;
			if (r->f)
				rec_stop_file(r, i, "stopped");
			else
				rec_start(r, i);
			return;
		}
		if (*pause && !strcmp(l->digits, pause)) {
			l->ndig = 0;
			if (r->f) {
				rec_drain(r, false);
				r->paused = !r->paused;
				rec_step(r, r->paused ? "paused" : "resumed", i);
			}
			return;
		}
		if ((*start && !strncmp(start, l->digits, l->ndig)) ||
		    (*pause && !strncmp(pause, l->digits, l->ndig)))
			return;
		/* no code goes on like this: the digit may begin one */
		l->ndig = 0;
		if (pass)
			return;
	}
}

/* ---------------------------------------------------------------- the writer */

static void rec_free(struct sip_rec *r)
{
	rec_stop_file(r, 0, "stopped: the bridge ended");
	for (int i = 0; i < 2; i++) {
		free(atomic_load(&r->ring[i]));
		octo_obj_unref(r->chan[i]);
	}
	free(r->path);
	free(r);
}

struct rec_digit {
	struct sip_rec *r;
	char d;
	int leg;
};

static void *rec_main(void *arg)
{
	pthread_mutex_lock(&rec_lock);
	while (!rec_stop) {
		struct sip_rec **pp = &rec_list, *dead = NULL, *head;
		struct rec_digit digits[64];
		unsigned nd = 0;
		bool any_on = false;

		/* detach the ended recorders and take the digits, under the lock */
		while (*pp) {
			struct sip_rec *r = *pp;

			for (unsigned k = 0; k < r->dq_n && nd < 64; k++)
				digits[nd++] = (struct rec_digit){ r, r->dq[k], r->dq_leg[k] };
			r->dq_n = 0;
			if (atomic_load(&r->leg[0].released) && atomic_load(&r->leg[1].released)) {
				*pp = r->next;
				r->next = dead;
				dead = r;
			} else {
				pp = &r->next;
			}
		}
		rec_wake = false;
		pthread_mutex_unlock(&rec_lock);

		/* digits of a recorder that ended in this round are still used */
		for (unsigned k = 0; k < nd; k++) {
			struct sip_rec *r = digits[k].r;

			if (!r->configured) {
				rec_conf_load(&r->conf);
				r->configured = true;
			}
			rec_collect(r, digits[k].leg, digits[k].d, octo_now_ms());
		}
		while (dead) {
			struct sip_rec *r = dead;

			dead = r->next;
			rec_free(r);
		}

		/* without the lock (the workers take it): only this thread takes
		 * recorders off the list or frees them, others only add in front */
		pthread_mutex_lock(&rec_lock);
		head = rec_list;
		pthread_mutex_unlock(&rec_lock);
		for (struct sip_rec *r = head; r; r = r->next) {
			if (r->f) {
				any_on = true;
				rec_drain(r, false);
			}
		}
		pthread_mutex_lock(&rec_lock);
		if (rec_wake || rec_stop)
			continue;
		if (any_on) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += REC_TICK_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&rec_cond, &rec_lock, &ts);
		} else {
			pthread_cond_wait(&rec_cond, &rec_lock);
		}
	}
	pthread_mutex_unlock(&rec_lock);
	return arg;
}

/* ---------------------------------------------------------------- API */

int sip_rec_bridge(struct octo_channel *a, struct sip_media *ma, struct octo_channel *b,
		   struct sip_media *mb)
{
	struct sip_rec *r;

	if (!a || !b || !ma || !mb)
		return OCTO_EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return OCTO_ENOMEM;
	r->chan[0] = octo_obj_ref(a);
	r->chan[1] = octo_obj_ref(b);
	for (int i = 0; i < 2; i++)
		r->leg[i].rec = r;
	/* from here the last release (or the writer, once r is listed) frees r */
	sip_media_tap(ma, &r->leg[0]);
	sip_media_tap(mb, &r->leg[1]);
	return 0;
}

void sip_rec_fini(void)
{
	struct sip_rec *r;

	pthread_mutex_lock(&rec_lock);
	if (!rec_running) {
		pthread_mutex_unlock(&rec_lock);
		return;
	}
	rec_stop = true;
	pthread_cond_signal(&rec_cond);
	pthread_mutex_unlock(&rec_lock);
	pthread_join(rec_thread, NULL);
	pthread_mutex_lock(&rec_lock);
	rec_running = false;
	r = rec_list;
	rec_list = NULL;
	pthread_mutex_unlock(&rec_lock);
	while (r) {
		struct sip_rec *next = r->next;

		rec_free(r);
		r = next;
	}
}
