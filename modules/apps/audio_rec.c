/*
 * audio_rec.c - the recorder shared by Record and app_voicemail: frames of
 * the caller's voice into a sound file, with the trailing silence left out
 * (see audio_rec.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/clock.h"
#include "octo/frame.h"
#include "audio_rec.h"

#define AUDIO_REC_SLICE_MS 100

static bool arec_silent(const struct audio_rec *r, const struct octo_frame *f)
{
	double sum = 0;

	if (!f->samples)
		return true;
	for (unsigned i = 0; i < f->samples; i++)
		sum += (double)f->data[i] * f->data[i];
	return sqrt(sum / f->samples) < r->threshold;
}

static void arec_write(struct audio_rec *r, const int16_t *s, unsigned n)
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

/* Writes the silence held back: it was followed by sound. */
static void arec_flush(struct audio_rec *r)
{
	for (; r->count; r->count--) {
		arec_write(r, r->ring[r->head], r->ring_n[r->head]);
		r->head = (r->head + 1) % AUDIO_REC_TRIM_FRAMES;
	}
}

/* One frame of the caller's voice. */
static void arec_frame(struct audio_rec *r, const struct octo_frame *f)
{
	unsigned slot;

	if (!arec_silent(r, f)) {
		arec_flush(r);
		r->silent = 0;
		arec_write(r, f->data, f->samples);
		return;
	}
	r->silent += f->samples;
	if (r->count == AUDIO_REC_TRIM_FRAMES) {
		/* held back long enough: the oldest goes to the file */
		arec_write(r, r->ring[r->head], r->ring_n[r->head]);
		r->head = (r->head + 1) % AUDIO_REC_TRIM_FRAMES;
		r->count--;
	}
	slot = (r->head + r->count) % AUDIO_REC_TRIM_FRAMES;
	memcpy(r->ring[slot], f->data, f->samples * sizeof(f->data[0]));
	r->ring_n[slot] = f->samples;
	r->count++;
}

static int arec_loop(struct audio_rec *r, uint64_t max_ms, uint64_t silence_ms, int *err)
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
				return AUDIO_REC_HANGUP;
			if (ev.type == OCTO_EV_DIGIT && ev.digit == '#')
				return AUDIO_REC_DTMF;
		}
		if (rc == OCTO_EHANGUP)
			return AUDIO_REC_HANGUP;
		if (r->failed)
			return AUDIO_REC_ERROR;
		if (silence_ms && r->silent * 1000 / OCTO_FRAME_RATE >= silence_ms)
			return AUDIO_REC_SILENCE;
		now = octo_now_ms();
		if (now >= deadline)
			return AUDIO_REC_TIMEOUT;
		slice = deadline - now > AUDIO_REC_SLICE_MS ? AUDIO_REC_SLICE_MS
							    : (int)(deadline - now);
		rc = octo_chan_read_frame(r->chan, &f, slice);
		if (rc == OCTO_EHANGUP)
			return AUDIO_REC_HANGUP;
		if (rc < 0) {
			*err = rc;
			return AUDIO_REC_ERROR;
		}
		if (rc == 0)
			continue;
		if (f.type == OCTO_FRAME_DTMF) {
			if (f.digit == '#')
				return AUDIO_REC_DTMF;
			continue;
		}
		if (f.type == OCTO_FRAME_VOICE && f.samples <= OCTO_FRAME_SAMPLES)
			arec_frame(r, &f);
	}
}

int audio_rec_run(struct audio_rec *r, uint64_t max_ms, uint64_t silence_ms, int *err)
{
	int end = arec_loop(r, max_ms, silence_ms, err);

	if (end != AUDIO_REC_SILENCE)
		arec_flush(r);
	return end;
}

int audio_rec_close(struct audio_rec *r, const char *app, const char *part, const char *path,
		    int end)
{
	if (!r->open)
		return end;
	r->fmt->close(&r->file);
	r->open = false;
	if (r->failed) {
		octo_chan_step(r->chan, "%s: cannot write %s", app, part);
		end = AUDIO_REC_ERROR;
	}
	if (end == AUDIO_REC_ERROR || rename(part, path)) {
		if (end != AUDIO_REC_ERROR)
			octo_chan_step(r->chan, "%s: cannot rename %s: %s", app, part,
				       strerror(errno));
		unlink(part);
		end = AUDIO_REC_ERROR;
		r->written = 0;
	}
	return end;
}
