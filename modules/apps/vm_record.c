/*
 * vm_record.c - app_voicemail's recorder: the caller's voice into a sound
 * file (messages and greetings), and the prompt helpers the menus use.
 *
 * The recording rules are those of Record (app_record.c): it ends on #,
 * hang-up, the maximum length or a run of silent frames; the silence that
 * ended it is left out (up to VM_TRIM_S of it, held back in a ring of
 * frames until sound follows or the recording ends). The file is written
 * as PATH.part and renamed when complete.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/clock.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/registry.h"
#include "octo/sound.h"
#include "audio_common.h"
#include "vm.h"

#define VM_TRIM_S 10
#define VM_TRIM_FRAMES (VM_TRIM_S * 1000 / OCTO_FRAME_MS)
#define VM_SLICE_MS 100

static const char *const vm_rec_ends[] = { "", "DTMF", "SILENCE", "TIMEOUT", "HANGUP", "ERROR" };

const char *vm_rec_end_name(int end)
{
	return end >= VM_REC_DTMF && end <= VM_REC_ERROR ? vm_rec_ends[end] : "?";
}

struct vm_rec {
	struct octo_channel *chan;
	const struct octo_sound_format *fmt;
	struct octo_sound_file file;
	unsigned threshold;
	bool wide;                  /* the file is at 16 kHz: samples are interpolated */
	int16_t last;               /* the last 8 kHz sample written (interpolation) */
	uint64_t written;
	int16_t (*ring)[OCTO_FRAME_SAMPLES];
	unsigned ring_n[VM_TRIM_FRAMES];
	unsigned head, count;
	uint64_t silent;            /* samples of silence since the last sound */
	bool failed;
};

static bool vm_rec_silent(const struct vm_rec *r, const struct octo_frame *f)
{
	double sum = 0;

	if (!f->samples)
		return true;
	for (unsigned i = 0; i < f->samples; i++)
		sum += (double)f->data[i] * f->data[i];
	return sqrt(sum / f->samples) < r->threshold;
}

static void vm_rec_write(struct vm_rec *r, const int16_t *s, unsigned n)
{
	int16_t wide[2 * OCTO_FRAME_SAMPLES];
	const int16_t *out = s;
	unsigned count = n;
	long w;

	if (!n || r->failed || n > OCTO_FRAME_SAMPLES)
		return;
	if (r->wide) {
		/* each sample preceded by the mean of it and the one before */
		for (unsigned i = 0; i < n; i++) {
			wide[2 * i] = (int16_t)(((int32_t)r->last + s[i]) / 2);
			wide[2 * i + 1] = s[i];
			r->last = s[i];
		}
		out = wide;
		count = 2 * n;
	}
	w = r->fmt->write(&r->file, out, count);
	if (w < 0 || (unsigned long)w != count) {
		r->failed = true;
		return;
	}
	r->written += n;
}

static void vm_rec_flush(struct vm_rec *r)
{
	for (; r->count; r->count--) {
		vm_rec_write(r, r->ring[r->head], r->ring_n[r->head]);
		r->head = (r->head + 1) % VM_TRIM_FRAMES;
	}
}

static void vm_rec_frame(struct vm_rec *r, const struct octo_frame *f)
{
	unsigned slot;

	if (!vm_rec_silent(r, f)) {
		vm_rec_flush(r);
		r->silent = 0;
		vm_rec_write(r, f->data, f->samples);
		return;
	}
	r->silent += f->samples;
	if (r->count == VM_TRIM_FRAMES) {
		vm_rec_write(r, r->ring[r->head], r->ring_n[r->head]);
		r->head = (r->head + 1) % VM_TRIM_FRAMES;
		r->count--;
	}
	slot = (r->head + r->count) % VM_TRIM_FRAMES;
	memcpy(r->ring[slot], f->data, f->samples * sizeof(f->data[0]));
	r->ring_n[slot] = f->samples;
	r->count++;
}

static int vm_rec_loop(struct vm_rec *r, uint64_t max_ms, uint64_t silence_ms, int *err)
{
	uint64_t deadline = octo_now_ms() + max_ms;
	struct octo_chan_event ev;
	struct octo_frame f;
	int rc;

	for (;;) {
		uint64_t now;
		int slice;

		while ((rc = octo_chan_wait_event(r->chan, 0, &ev)) == 1) {
			if (ev.type == OCTO_EV_HANGUP)
				return VM_REC_HANGUP;
			if (ev.type == OCTO_EV_DIGIT && ev.digit == '#')
				return VM_REC_DTMF;
		}
		if (rc == OCTO_EHANGUP)
			return VM_REC_HANGUP;
		if (r->failed)
			return VM_REC_ERROR;
		if (silence_ms && r->silent * 1000 / OCTO_FRAME_RATE >= silence_ms)
			return VM_REC_SILENCE;
		now = octo_now_ms();
		if (now >= deadline)
			return VM_REC_TIMEOUT;
		slice = deadline - now > VM_SLICE_MS ? VM_SLICE_MS : (int)(deadline - now);
		rc = octo_chan_read_frame(r->chan, &f, slice);
		if (rc == OCTO_EHANGUP)
			return VM_REC_HANGUP;
		if (rc < 0) {
			*err = rc;
			return VM_REC_ERROR;
		}
		if (rc == 0)
			continue;
		if (f.type == OCTO_FRAME_DTMF) {
			if (f.digit == '#')
				return VM_REC_DTMF;
			continue;
		}
		if (f.type == OCTO_FRAME_VOICE && f.samples <= OCTO_FRAME_SAMPLES)
			vm_rec_frame(r, &f);
	}
}

int vm_record(struct octo_channel *chan, const char *app, const char *path, int quality,
	      unsigned max_ms, unsigned silence_ms, unsigned threshold, bool beep,
	      const char *lang, uint64_t *samples)
{
	char part[VM_PATH_MAX + 64];
	struct vm_rec r = { .chan = chan, .threshold = threshold };
	const char *format = vm_quality_format(quality);
	unsigned rate = vm_quality_rate(quality);
	int end, err = 0, rc;
	bool open = false;

	*samples = 0;
	if ((size_t)snprintf(part, sizeof(part), "%s.%s.part", path, octo_chan_id(chan)) >=
	    sizeof(part))
		return VM_REC_ERROR;
	r.fmt = octo_registry_get(OCTO_REG_FORMAT, format, VM_HOLDER);
	if (!r.fmt || !r.fmt->open_write || !r.fmt->write) {
		octo_chan_step(chan, "%s: the sound format %s is not loaded (format_wav): nothing "
			       "recorded", app, format);
		if (r.fmt)
			octo_registry_put(OCTO_REG_FORMAT, r.fmt, VM_HOLDER);
		return VM_REC_ERROR;
	}
	r.ring = malloc(sizeof(*r.ring) * VM_TRIM_FRAMES);
	if (!r.ring) {
		octo_registry_put(OCTO_REG_FORMAT, r.fmt, VM_HOLDER);
		return VM_REC_ERROR;
	}
	if (beep) {
		struct audio_player p;

		audio_player_init(&p, chan, app);
		if (audio_player_prompt(&p, "beep", lang) == OCTO_EHANGUP) {
			end = VM_REC_HANGUP;
			goto out;
		}
	}
	r.wide = rate != OCTO_FRAME_RATE;
	rc = r.fmt->open_write(&r.file, part, rate);
	if (rc) {
		octo_chan_step(chan, "%s: cannot create %s: %s", app, part, octo_strerror(rc));
		end = VM_REC_ERROR;
		goto out;
	}
	open = true;
	octo_chan_step(chan, "%s: recording (at most %u s%s, # ends)", app, max_ms / 1000,
		       silence_ms ? ", or after silence" : "");
	end = vm_rec_loop(&r, max_ms, silence_ms, &err);
	if (end != VM_REC_SILENCE)
		vm_rec_flush(&r);
out:
	if (open) {
		r.fmt->close(&r.file);
		if (r.failed) {
			octo_chan_step(chan, "%s: cannot write %s", app, part);
			end = VM_REC_ERROR;
		}
		if (end == VM_REC_ERROR || rename(part, path)) {
			if (end != VM_REC_ERROR)
				octo_chan_step(chan, "%s: cannot rename %s: %s", app, part,
					       strerror(errno));
			unlink(part);
			end = VM_REC_ERROR;
			r.written = 0;
		}
	}
	if (end == VM_REC_ERROR && err)
		octo_chan_step(chan, "%s: the channel gives Octo no audio (%s): nothing recorded",
			       app, octo_strerror(err));
	octo_registry_put(OCTO_REG_FORMAT, r.fmt, VM_HOLDER);
	free(r.ring);
	*samples = r.written;
	return end;
}

/* ---------------------------------------------------------------- prompts */

static int vm_play_result(int rc)
{
	if (rc == AUDIO_DIGIT || rc == OCTO_EHANGUP)
		return rc;
	return AUDIO_END;
}

int vm_play(struct audio_player *p, const char *list, const char *lang, const char *stop)
{
	char buf[512];
	unsigned played, missing;

	octo_strlcpy(buf, list, sizeof(buf));
	p->stop = stop;
	return vm_play_result(audio_play_list(p, buf, lang, false, &played, &missing));
}

int vm_play_file(struct audio_player *p, const char *path, const char *stop)
{
	struct octo_sound *s;
	char err[128];
	int rc;

	rc = octo_sound_open_file(path, &s, err, sizeof(err));
	if (rc) {
		octo_chan_step(p->chan, "%s: cannot open %s: %s", p->app, path, err);
		return AUDIO_END;
	}
	octo_chan_step(p->chan, "%s: playing %s", p->app, path);
	p->stop = stop;
	rc = audio_player_sound(p, s);
	octo_sound_close(s);
	return vm_play_result(rc);
}

static int vm_play_names(struct audio_player *p, char names[][AUDIO_SAY_NAME], int n,
			 const char *lang, const char *stop)
{
	p->stop = stop;
	for (int i = 0; i < n; i++) {
		int rc = audio_player_prompt(p, names[i], lang);

		if (rc == AUDIO_DIGIT || rc == OCTO_EHANGUP)
			return rc;
	}
	return AUDIO_END;
}

int vm_say_number(struct audio_player *p, long n, const char *lang, const char *stop)
{
	char names[AUDIO_SAY_MAX][AUDIO_SAY_NAME], text[32], rules[OCTO_SOUND_LANG_MAX];
	int count;

	snprintf(text, sizeof(text), "%ld", n);
	audio_rules_language(lang, rules);
	count = audio_say_number(text, rules, names, AUDIO_SAY_MAX);
	return count < 0 ? AUDIO_END : vm_play_names(p, names, count, lang, stop);
}

int vm_say_digits(struct audio_player *p, const char *digits, const char *lang,
		  const char *stop)
{
	char names[AUDIO_SAY_MAX][AUDIO_SAY_NAME];
	int skipped, count = audio_say_digits(digits, names, AUDIO_SAY_MAX, &skipped);

	return vm_play_names(p, names, count, lang, stop);
}

int vm_say_date(struct audio_player *p, const struct vm_conf *cf, int64_t t, bool date, bool time,
		const char *lang, const char *stop)
{
	char names[AUDIO_SAY_MAX][AUDIO_SAY_NAME], rules[OCTO_SOUND_LANG_MAX];
	struct audio_date d = { 0 };
	struct tm tm;
	int count;

	if (!cf->tz || octo_tz_localtime(cf->tz, (time_t)t, &tm))
		return AUDIO_END;
	d.year = tm.tm_year + 1900;
	d.month = tm.tm_mon + 1;
	d.day = tm.tm_mday;
	d.wday = tm.tm_wday;
	d.has_time = time;
	d.hour = tm.tm_hour;
	d.minute = tm.tm_min;
	audio_rules_language(lang, rules);
	count = audio_say_date(&d, rules, names, AUDIO_SAY_MAX);
	if (!date) {
		/* the time alone: what the rules say from "at" on */
		int at = 0;

		while (at < count && strcmp(names[at], "time/at"))
			at++;
		if (at == count)
			return AUDIO_END;
		memmove(names, names + at, (size_t)(count - at) * sizeof(names[0]));
		count -= at;
	}
	return vm_play_names(p, names, count, lang, stop);
}
