/*
 * audio_rec.h - the recorder shared by Record (app_record.c) and
 * app_voicemail (vm_record.c): the caller's voice into an open sound file
 * until #, the hang-up, the maximum length or a run of silent frames. The
 * silence that ended a recording is left out (up to AUDIO_REC_TRIM_S of it,
 * held back in a ring of frames until sound follows or the recording ends).
 * Compiled into each of those modules (it needs -lm); not part of the
 * core's API. Thread context: the call's thread (owner of the channel).
 */
#ifndef OCTO_AUDIO_REC_H
#define OCTO_AUDIO_REC_H

#include <stdbool.h>
#include <stdint.h>

#include "octo/frame.h"
#include "octo/media.h"

struct octo_channel;

#define AUDIO_REC_TRIM_S 10 /* most trailing silence left out of the file */
#define AUDIO_REC_TRIM_FRAMES (AUDIO_REC_TRIM_S * 1000 / OCTO_FRAME_MS)

/* How a recording ended. */
enum audio_rec_end {
	AUDIO_REC_DTMF = 1,
	AUDIO_REC_SILENCE,
	AUDIO_REC_TIMEOUT,
	AUDIO_REC_HANGUP,
	AUDIO_REC_ERROR
};

/* A recording in progress. The caller sets chan, fmt (held), threshold and
 * wide, allocates ring (AUDIO_REC_TRIM_FRAMES frames), opens file and sets
 * open; the rest starts at 0. */
struct audio_rec {
	struct octo_channel *chan;
	const struct octo_sound_format *fmt;
	struct octo_sound_file file;
	bool open;                  /* file is open */
	unsigned threshold;         /* a frame quieter than this (RMS) is silence */
	bool wide;                  /* the file is at 16 kHz: samples are interpolated */
	int16_t last;               /* the last 8 kHz sample written (interpolation) */
	uint64_t written;           /* samples (at 8 kHz) in the file */
	int16_t (*ring)[OCTO_FRAME_SAMPLES];
	unsigned ring_n[AUDIO_REC_TRIM_FRAMES];
	unsigned head, count;
	uint64_t silent;            /* samples of silence since the last sound */
	bool failed;                /* a write failed */
};

/*
 * Records until the end (enum audio_rec_end): max_ms at most, silence_ms of
 * silence (0: no limit). On a channel error AUDIO_REC_ERROR with the error
 * in *err. The silence held back is written unless it ended the recording.
 */
int audio_rec_run(struct audio_rec *r, uint64_t max_ms, uint64_t silence_ms, int *err);

/*
 * Closes the file when open; a failed write, or any end when `end` is
 * AUDIO_REC_ERROR, removes `part`, else `part` is renamed to `path`. Steps
 * are logged with the prefix `app`. Returns `end`, or AUDIO_REC_ERROR (then
 * written is 0).
 */
int audio_rec_close(struct audio_rec *r, const char *app, const char *part, const char *path,
		    int end);

#endif
