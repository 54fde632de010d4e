/*
 * frame.c - generic audio frames (frame.h): small helpers and the wrappers
 * through which applications read and write a channel's audio with its
 * technology's read_frame/write_frame.
 *
 * DESIGN: a technology's read_frame waits for media, not for channel
 * events, so a hang-up would only end its wait at the next frame or at its
 * time-out. The wrapper therefore waits in slices of at most
 * FRAME_SLICE_MS and looks at the channel between them: a hang-up is
 * noticed within that time even when the far end sends nothing.
 */
#include <string.h>

#include "octo/channel.h"
#include "octo/frame.h"

#define FRAME_SLICE_MS 100
#define FRAME_DTMF_DEFAULT_MS 100
#define FRAME_DTMF_MAX_MS 5000

void octo_frame_silence(struct octo_frame *f, unsigned samples)
{
	memset(f, 0, sizeof(*f));
	f->type = OCTO_FRAME_VOICE;
	f->samples = samples > OCTO_FRAME_SAMPLES ? OCTO_FRAME_SAMPLES : samples;
}

void octo_frame_dtmf(struct octo_frame *f, char digit, unsigned duration_ms)
{
	memset(f, 0, sizeof(*f));
	f->type = OCTO_FRAME_DTMF;
	f->digit = digit;
	f->duration_ms = duration_ms;
}

bool octo_frame_digit_valid(char digit)
{
	return (digit >= '0' && digit <= '9') || digit == '*' || digit == '#' ||
	       (digit >= 'A' && digit <= 'D') || (digit >= 'a' && digit <= 'd');
}

static bool frame_valid(const struct octo_frame *f)
{
	switch (f->type) {
	case OCTO_FRAME_VOICE: return f->samples >= 1 && f->samples <= OCTO_FRAME_SAMPLES;
	case OCTO_FRAME_DTMF:
		return octo_frame_digit_valid(f->digit) && f->duration_ms <= FRAME_DTMF_MAX_MS;
	default: return false;
	}
}

int octo_chan_read_frame(struct octo_channel *chan, struct octo_frame *f, int timeout_ms)
{
	const struct octo_chan_tech *tech;
	uint64_t deadline = 0;

	if (!chan || !f)
		return OCTO_EINVAL;
	tech = octo_chan_tech(chan);
	if (!tech || !tech->read_frame)
		return OCTO_EINVAL;
	if (timeout_ms > 0)
		deadline = octo_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int slice = FRAME_SLICE_MS, rc;

		if (octo_chan_is_hungup(chan))
			return OCTO_EHANGUP;
		if (timeout_ms == 0) {
			slice = 0;
		} else if (timeout_ms > 0) {
			uint64_t now = octo_now_ms();

			if (now >= deadline)
				return 0;
			if (deadline - now < (uint64_t)slice)
				slice = (int)(deadline - now);
		}
		memset(f, 0, sizeof(*f));
		rc = tech->read_frame(chan, f, slice);
		if (rc != 0)
			return rc < 0 ? rc : 1;
		if (timeout_ms == 0)
			return octo_chan_is_hungup(chan) ? OCTO_EHANGUP : 0;
	}
}

int octo_chan_write_frame(struct octo_channel *chan, const struct octo_frame *f)
{
	const struct octo_chan_tech *tech;
	struct octo_frame copy;

	if (!chan || !f)
		return OCTO_EINVAL;
	tech = octo_chan_tech(chan);
	if (!tech || !tech->write_frame)
		return OCTO_EINVAL;
	if (!frame_valid(f))
		return OCTO_EINVAL;
	if (octo_chan_is_hungup(chan))
		return OCTO_EHANGUP;
	if (f->type == OCTO_FRAME_DTMF) {
		/* technologies get upper case digits and a real duration */
		copy = *f;
		if (copy.digit >= 'a' && copy.digit <= 'd')
			copy.digit = (char)(copy.digit - 'a' + 'A');
		if (!copy.duration_ms)
			copy.duration_ms = FRAME_DTMF_DEFAULT_MS;
		f = &copy;
	}
	return tech->write_frame(chan, f);
}
