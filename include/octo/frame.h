/*
 * frame.h - generic audio frames: how an application (Echo, Playback,
 * Record, voicemail ...) reads and writes the audio of a call whatever its
 * technology.
 *
 * A frame is 20 ms of 16-bit signed linear audio at 8000 Hz (160 samples),
 * or one DTMF digit carried in the media (RFC 4733 for SIP). A technology
 * that can give Octo the audio of a channel offers read_frame/write_frame
 * in its struct octo_chan_tech (channel.h); it decodes and encodes with the
 * codec negotiated for the channel, so applications only ever see linear
 * samples.
 *
 * THREADS: the wrappers below are for the channel's owner thread (the call
 * thread running the application). A frame is a plain value: copy it freely.
 *
 * DIGITS: a technology reports each digit once, either as a DIGIT event on
 * the channel (octo_chan_wait_event) or as an OCTO_FRAME_DTMF frame from
 * read_frame -- never both. chan_sip queues DIGIT events when the calls
 * code asked for them and returns DTMF frames otherwise, so an application
 * that wants every digit looks at both (app_echo.c does).
 *
 *   struct octo_frame f;
 *   for (;;) {
 *       int rc = octo_chan_read_frame(chan, &f, 1000);
 *       if (rc < 0)
 *           break;                      // OCTO_EHANGUP, OCTO_EINVAL (no media) ...
 *       if (rc == 1)
 *           octo_chan_write_frame(chan, &f);
 *   }
 */
#ifndef OCTO_FRAME_H
#define OCTO_FRAME_H

#include <stdint.h>

#include "octo/octo.h"

struct octo_channel;

#define OCTO_FRAME_RATE 8000   /* samples per second */
#define OCTO_FRAME_MS 20       /* one frame */
#define OCTO_FRAME_SAMPLES 160 /* OCTO_FRAME_RATE * OCTO_FRAME_MS / 1000 */

enum octo_frame_type {
	OCTO_FRAME_NONE = 0,
	OCTO_FRAME_VOICE, /* .samples linear samples in .data */
	OCTO_FRAME_DTMF,  /* .digit, and .duration_ms when written */
};

struct octo_frame {
	enum octo_frame_type type;
	/* VOICE: how many samples of data are valid, 1..OCTO_FRAME_SAMPLES
	 * (read_frame always gives full frames of OCTO_FRAME_SAMPLES). */
	unsigned samples;
	int16_t data[OCTO_FRAME_SAMPLES];
	/* DTMF: '0'-'9', '*', '#', 'A'-'D'. */
	char digit;
	/* DTMF written: how long the tone lasts (0: 100 ms; at most 5000).
	 * Read: how long it lasted, as far as the technology knows (0: unknown). */
	unsigned duration_ms;
};

/* Fills `f` as a frame of `samples` samples of silence (at most
 * OCTO_FRAME_SAMPLES) / as the DTMF digit `digit`. */
void octo_frame_silence(struct octo_frame *f, unsigned samples);
void octo_frame_dtmf(struct octo_frame *f, char digit, unsigned duration_ms);

/* True for the digits a DTMF frame may carry ('0'-'9', '*', '#', 'A'-'D';
 * lower case 'a'-'d' count too). */
bool octo_frame_digit_valid(char digit);

/*
 * Reads the next frame of the channel's audio: waits up to timeout_ms (-1:
 * until a frame comes or the channel hangs up; 0: just look). Returns 1
 * with *f filled, 0 when no frame came in time, OCTO_EHANGUP when the
 * channel has hung up (or hangs up while waiting: noticed within 100 ms),
 * OCTO_EINVAL when its technology has no media for Octo (no read_frame), or
 * another OCTO_E* from the technology (e.g. OCTO_EBUSY while its media is
 * relayed by a native bridge). Owner thread.
 */
int octo_chan_read_frame(struct octo_channel *chan, struct octo_frame *f, int timeout_ms);

/*
 * Sends a frame to the far end of the channel. A VOICE frame is encoded with
 * the channel's codec; the technology paces the sending to real time (it
 * may sleep up to a frame's time so that a caller writing in a loop, e.g.
 * Playback, goes at 20 ms a frame). A DTMF frame plays the digit in the
 * media (RFC 4733) and returns after it. Returns 0, OCTO_EHANGUP,
 * OCTO_EINVAL (no write_frame, or a frame that is not valid) or another
 * OCTO_E* from the technology. Owner thread.
 */
int octo_chan_write_frame(struct octo_channel *chan, const struct octo_frame *f);

#endif
