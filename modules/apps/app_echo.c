/*
 * app_echo.c - the Echo application: answers and plays back to the caller
 * whatever audio and digits it gets, to test a phone's audio path and its
 * round-trip delay (the "*43" echo test of the sample dialplan).
 *
 * It reads the channel's audio through the generic frames of frame.h, so
 * it works with any technology that offers read_frame/write_frame (SIP).
 * Digits come either as DTMF frames or as DIGIT events, depending on the
 * technology (frame.h); both are echoed, and '#' from either ends Echo.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/channel.h"
#include "octo/dialplan.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/module.h"

#define ECHO_SLICE_MS 100 /* longest wait before the events are looked at again */
#define ECHO_MAX_S 86400

enum echo_end { ECHO_GOING = 0, ECHO_HASH, ECHO_TIME, ECHO_HANGUP };

/* Plays a digit back; true when it was '#' (the end). */
static bool echo_digit(struct octo_channel *chan, char digit, bool *media)
{
	struct octo_frame f;
	const struct octo_chan_tech *tech;

	if (digit == '#')
		return true;
	octo_frame_dtmf(&f, digit, 0);
	if (*media && octo_chan_write_frame(chan, &f) == 0)
		return false;
	tech = octo_chan_tech(chan);
	if (tech && tech->send_digit)
		tech->send_digit(chan, digit);
	return false;
}

/* Handles the queued events; returns how Echo ends, or ECHO_GOING. */
static enum echo_end echo_events(struct octo_channel *chan, int wait_ms, bool *media)
{
	struct octo_chan_event ev;
	int rc;

	while ((rc = octo_chan_wait_event(chan, wait_ms, &ev)) == 1) {
		wait_ms = 0;
		if (ev.type == OCTO_EV_HANGUP)
			return ECHO_HANGUP;
		if (ev.type == OCTO_EV_DIGIT && echo_digit(chan, ev.digit, media))
			return ECHO_HASH;
	}
	return rc == OCTO_EHANGUP ? ECHO_HANGUP : ECHO_GOING;
}

static int echo_exec(struct octo_channel *chan, char *args)
{
	enum echo_end end = ECHO_GOING;
	uint64_t deadline = 0, frames = 0;
	bool media = true;
	double secs = 0;
	int rc;

	if (args && *args) {
		char *stop;

		secs = strtod(args, &stop);
		if (stop == args || *stop || !(secs >= 0 && secs <= ECHO_MAX_S)) {
			octo_chan_step(chan, "Echo: \"%s\" is not a number of seconds (0..%d)",
				       args, ECHO_MAX_S);
			return OCTO_EINVAL;
		}
	}
	if (octo_chan_state(chan) != OCTO_CHAN_UP) {
		rc = octo_chan_answer(chan);
		if (rc) {
			octo_chan_step(chan, "Echo: answer failed: %s", octo_strerror(rc));
			return rc;
		}
	}
	if (secs > 0)
		deadline = octo_now_ms() + (uint64_t)(secs * 1000.0);
	while (end == ECHO_GOING) {
		int slice = ECHO_SLICE_MS;
		struct octo_frame f;

		if (deadline) {
			uint64_t now = octo_now_ms();

			if (now >= deadline) {
				end = ECHO_TIME;
				break;
			}
			if (deadline - now < (uint64_t)slice)
				slice = (int)(deadline - now);
		}
		end = echo_events(chan, media ? 0 : slice, &media);
		if (end != ECHO_GOING || !media)
			continue;
		rc = octo_chan_read_frame(chan, &f, slice);
		if (rc == OCTO_EHANGUP) {
			end = ECHO_HANGUP;
		} else if (rc < 0) {
			/* no audio for Octo on this channel: digits only */
			octo_chan_step(chan,
				       "Echo: no audio on this channel (%s), echoing digits only",
				       octo_strerror(rc));
			media = false;
		} else if (rc == 1 && f.type == OCTO_FRAME_DTMF) {
			if (echo_digit(chan, f.digit, &media))
				end = ECHO_HASH;
		} else if (rc == 1) {
			frames++;
			if (octo_chan_write_frame(chan, &f) == OCTO_EHANGUP)
				end = ECHO_HANGUP;
		}
	}
	switch (end) {
	case ECHO_HASH:
		octo_chan_step(chan, "Echo: ended by # after %llu frames",
			       (unsigned long long)frames);
		return OCTO_APP_CONTINUE;
	case ECHO_TIME:
		octo_chan_step(chan, "Echo: %g s passed (%llu frames)", secs,
			       (unsigned long long)frames);
		return OCTO_APP_CONTINUE;
	default: return OCTO_EHANGUP;
	}
}

static const struct octo_app echo_apps[] = {
	{ .name = "Echo",
	  .synopsis = "Echo audio and digits back to the caller",
	  .syntax = "Echo([seconds])",
	  .description = "Answers the call if needed, then sends back to the caller the audio "
			 "and the digits it receives, until the caller presses # (the dialplan "
			 "goes on), hangs up, or the given number of seconds passes (fractions "
			 "allowed; none or 0: no limit). Used to test a phone's audio and its "
			 "round-trip delay. On a channel without audio for Octo only digits are "
			 "echoed.",
	  .exec = echo_exec },
	{ 0 }
};

static int echo_load(struct octo_module *self)
{
	return octo_app_register_all(self, echo_apps) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

OCTO_MODULE(app_echo, .description = "Echo test application", .load = echo_load);
