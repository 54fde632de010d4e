/*
 * vm_record.c - app_voicemail's recorder: the caller's voice into a sound
 * file (messages and greetings), and the prompt helpers the menus use.
 *
 * The recording is Record's (audio_rec.c, shared with app_record.c): it
 * ends on #, hang-up, the maximum length or a run of silent frames; the
 * silence that ended it is left out. The file is written as PATH.part and
 * renamed when complete.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "octo/channel.h"
#include "octo/clock.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/registry.h"
#include "octo/sound.h"
#include "audio_common.h"
#include "audio_rec.h"
#include "vm.h"

static const char *const vm_rec_ends[] = { "", "DTMF", "SILENCE", "TIMEOUT", "HANGUP", "ERROR" };

const char *vm_rec_end_name(int end)
{
	return end >= VM_REC_DTMF && end <= VM_REC_ERROR ? vm_rec_ends[end] : "?";
}

/* vm_record returns what audio_rec_run and audio_rec_close return */
_Static_assert((int)VM_REC_DTMF == (int)AUDIO_REC_DTMF &&
		       (int)VM_REC_SILENCE == (int)AUDIO_REC_SILENCE &&
		       (int)VM_REC_TIMEOUT == (int)AUDIO_REC_TIMEOUT &&
		       (int)VM_REC_HANGUP == (int)AUDIO_REC_HANGUP &&
		       (int)VM_REC_ERROR == (int)AUDIO_REC_ERROR,
	       "enum vm_rec_end is enum audio_rec_end");

int vm_record(struct octo_channel *chan, const char *app, const char *path, int quality,
	      unsigned max_ms, unsigned silence_ms, unsigned threshold, bool beep,
	      const char *lang, uint64_t *samples)
{
	char part[VM_PATH_MAX + 64];
	struct audio_rec r = { .chan = chan, .threshold = threshold };
	const char *format = vm_quality_format(quality);
	unsigned rate = vm_quality_rate(quality);
	int end, err = 0, rc;

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
	r.ring = malloc(sizeof(*r.ring) * AUDIO_REC_TRIM_FRAMES);
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
	r.open = true;
	octo_chan_step(chan, "%s: recording (at most %u s%s, # ends)", app, max_ms / 1000,
		       silence_ms ? ", or after silence" : "");
	end = audio_rec_run(&r, max_ms, silence_ms, &err);
out:
	end = audio_rec_close(&r, app, part, path, end);
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
