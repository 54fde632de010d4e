/*
 * app_record.c - the Record application: records what the caller says into
 * a WAV file (8 kHz 16-bit mono PCM) in the data folder.
 *
 *   Record(file[,maxseconds[,silence[,beep]]])
 *
 * It ends when the caller presses #, hangs up, after maxseconds, or after
 * `silence` seconds in which no frame was louder than RECORD_SILENCE_RMS
 * (then that silence is not kept, up to AUDIO_REC_TRIM_S seconds of it: the
 * recorder is audio_rec.c, shared with app_voicemail). The file is written
 * as NAME.wav.<call id>.part and renamed when complete, so a reader never
 * sees half a file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/module.h"
#include "octo/registry.h"
#include "octo/sound.h"
#include "audio_common.h"
#include "audio_rec.h"

#define RECORD_HOLDER "app_record"
#define RECORD_MAX_S 3600         /* longest recording, and the default */
#define RECORD_SILENCE_RMS 256    /* a frame quieter than this is silence (-42 dBFS) */

/* indexed by enum audio_rec_end */
static const char *const rec_status[] = { "", "DTMF", "SILENCE", "TIMEOUT", "HANGUP", "ERROR" };

static bool rec_parse_seconds(const char *text, double max, double *out)
{
	char *end;
	double v;

	if (!text || !*text) {
		*out = 0;
		return true;
	}
	v = strtod(text, &end);
	if (end == text || *end || !(v >= 0 && v <= max))
		return false;
	*out = v;
	return true;
}

/* "beep" (or yes, y, 1, on, true) / "" (or no, n, 0, off, false). */
static bool rec_parse_beep(const char *text, bool *beep)
{
	bool b;

	if (!text || !*text) {
		*beep = false;
		return true;
	}
	if (!strcasecmp(text, "beep") || !strcasecmp(text, "b") || !strcasecmp(text, "y")) {
		*beep = true;
		return true;
	}
	if (!strcasecmp(text, "n")) {
		*beep = false;
		return true;
	}
	if (octo_cfg_parse_bool(text, &b))
		return false;
	*beep = b;
	return true;
}

/* Makes the folders of `rel` under `base` (0750). 0 or an errno. */
static int rec_mkdirs(const char *base, const char *rel)
{
	char path[4096];
	int len = snprintf(path, sizeof(path), "%s/%s", base, rel);
	size_t start = strlen(base) + 1;

	if (len < 0 || (size_t)len >= sizeof(path))
		return ENAMETOOLONG;
	for (size_t i = start; path[i]; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0750) && errno != EEXIST)
			return errno;
		path[i] = '/';
	}
	return 0;
}

static int rec_exec(struct octo_channel *chan, char *args)
{
	char name[OCTO_SOUND_NAME_MAX + 8], path[4096], part[4160], clean[OCTO_CFG_CLEAN];
	char lang[OCTO_SOUND_LANG_MAX], secs[32];
	struct audio_rec r = { .chan = chan, .threshold = RECORD_SILENCE_RMS };
	int end;
	double max_s = 0, silence_s = 0;
	bool beep = false;
	char *argv[5];
	int argc = octo_args_split(args, argv, 5), rc, err = 0;
	size_t len;

	if (argc < 1 || argc > 4 || !*argv[0]) {
		octo_chan_step(chan, "Record: %s (Record(file[,maxseconds[,silence[,beep]]]))",
			       argc > 4 ? "too many arguments" : "no file name");
		return OCTO_EINVAL;
	}
	octo_strlcpy(name, argv[0], sizeof(name));
	len = strlen(name);
	if (len > 4 && !strcasecmp(name + len - 4, ".wav"))
		name[len - 4] = '\0';
	if (!audio_file_name_valid(name)) {
		octo_chan_step(chan, "Record: \"%s\" is not a valid file name (a relative path "
			       "in the data folder: letters, digits, - _ . +, parts separated by "
			       "/, no part starting with .)", octo_cfg_clean(clean, argv[0]));
		return OCTO_EINVAL;
	}
	if (!rec_parse_seconds(argc >= 2 ? argv[1] : NULL, RECORD_MAX_S, &max_s) ||
	    !rec_parse_seconds(argc >= 3 ? argv[2] : NULL, RECORD_MAX_S, &silence_s)) {
		octo_chan_step(chan, "Record: maxseconds and silence are seconds, 0..%d",
			       RECORD_MAX_S);
		return OCTO_EINVAL;
	}
	if (!rec_parse_beep(argc >= 4 ? argv[3] : NULL, &beep)) {
		octo_chan_step(chan, "Record: beep \"%s\" is neither beep nor yes/no",
			       octo_cfg_clean(clean, argv[3]));
		return OCTO_EINVAL;
	}
	if (max_s == 0)
		max_s = RECORD_MAX_S;
	if (!octo_paths.data_dir || !*octo_paths.data_dir) {
		octo_chan_step(chan, "Record: there is no data folder");
		return OCTO_EFAIL;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s.wav", octo_paths.data_dir, name) >=
	    sizeof(path)) {
		octo_chan_step(chan, "Record: the path is too long");
		return OCTO_EINVAL;
	}
	/* a name of this call's own: two calls may record the same file */
	snprintf(part, sizeof(part), "%s.%s.part", path, octo_chan_id(chan));
	octo_chan_var_set(chan, "RECORD_FILE", path);
	octo_chan_var_set(chan, "RECORD_SECONDS", "0");

	rc = audio_answer(chan, "Record", false);
	if (rc)
		return rc;
	rc = rec_mkdirs(octo_paths.data_dir, name);
	if (rc) {
		octo_chan_step(chan, "Record: cannot make the folder of %s: %s", path,
			       strerror(rc));
		octo_chan_var_set(chan, "RECORD_STATUS", "ERROR");
		return OCTO_APP_CONTINUE;
	}
	r.fmt = octo_registry_get(OCTO_REG_FORMAT, "wav", RECORD_HOLDER);
	if (!r.fmt || !r.fmt->open_write || !r.fmt->write) {
		octo_chan_step(chan, "Record: format_wav is not loaded: nothing recorded");
		octo_chan_var_set(chan, "RECORD_STATUS", "ERROR");
		if (r.fmt)
			octo_registry_put(OCTO_REG_FORMAT, r.fmt, RECORD_HOLDER);
		return OCTO_APP_CONTINUE;
	}
	r.ring = malloc(sizeof(*r.ring) * AUDIO_REC_TRIM_FRAMES);
	if (!r.ring) {
		octo_registry_put(OCTO_REG_FORMAT, r.fmt, RECORD_HOLDER);
		return OCTO_ENOMEM;
	}
	if (beep) {
		struct audio_player p;

		audio_language(chan, lang);
		audio_player_init(&p, chan, "Record");
		if (audio_player_prompt(&p, "beep", lang) == OCTO_EHANGUP) {
			end = AUDIO_REC_HANGUP;
			goto out;
		}
	}
	rc = r.fmt->open_write(&r.file, part, OCTO_FRAME_RATE);
	if (rc) {
		octo_chan_step(chan, "Record: cannot create %s: %s", part, octo_strerror(rc));
		end = AUDIO_REC_ERROR;
		goto out;
	}
	r.open = true;
	octo_chan_step(chan, "Record: recording into %s (at most %g s%s%s)", path, max_s,
		       silence_s > 0 ? ", ends after silence of " : "",
		       silence_s > 0 ? argv[2] : "");
	end = audio_rec_run(&r, (uint64_t)(max_s * 1000.0), (uint64_t)(silence_s * 1000.0), &err);
out:
	end = audio_rec_close(&r, "Record", part, path, end);
	octo_registry_put(OCTO_REG_FORMAT, r.fmt, RECORD_HOLDER);
	free(r.ring);
	snprintf(secs, sizeof(secs), "%llu",
		 (unsigned long long)((r.written + OCTO_FRAME_RATE / 2) / OCTO_FRAME_RATE));
	octo_chan_var_set(chan, "RECORD_SECONDS", secs);
	octo_chan_var_set(chan, "RECORD_STATUS", rec_status[end]);
	if (end == AUDIO_REC_ERROR && err)
		octo_chan_step(chan, "Record: the channel gives Octo no audio (%s): nothing "
			       "recorded, RECORD_STATUS=ERROR", octo_strerror(err));
	else
		octo_chan_step(chan, "Record: %.2f s in %s, RECORD_STATUS=%s",
			       (double)r.written / OCTO_FRAME_RATE,
			       end == AUDIO_REC_ERROR ? "-" : path, rec_status[end]);
	return end == AUDIO_REC_HANGUP ? OCTO_EHANGUP : OCTO_APP_CONTINUE;
}

static const struct octo_app rec_apps[] = {
	{ .name = "Record",
	  .synopsis = "Record the caller into a WAV file",
	  .syntax = "Record(file[,maxseconds[,silence[,beep]]])",
	  .description =
		  "Answers the call if needed and records what the caller says into "
		  "<data folder>/file.wav (8 kHz 16-bit mono PCM; an existing file is replaced).\n"
		  "  file        a path relative to the data folder (octo.conf [directories] "
		  "data), e.g. recordings/greeting: letters, digits, - _ . +, parts separated "
		  "by /, none starting with . (no .., no absolute path); .wav is added; missing "
		  "folders are made\n"
		  "  maxseconds  the longest recording (fractions allowed; empty or 0: 3600)\n"
		  "  silence     end after that many seconds of silence (empty or 0: never); the "
		  "silence is then left out of the file (up to 10 s of it)\n"
		  "  beep        beep (or yes): play the prompt beep first\n"
		  "The recording ends when the caller presses # (not recorded), hangs up (the "
		  "file is kept), after maxseconds or after the silence. Sets "
		  "${RECORD_STATUS} (DTMF, SILENCE, TIMEOUT, HANGUP, or ERROR when nothing could "
		  "be recorded, e.g. on a channel without audio), ${RECORD_FILE} (the full path) "
		  "and ${RECORD_SECONDS} (the length, rounded).",
	  .exec = rec_exec },
	{ 0 }
};

static int rec_load(struct octo_module *self)
{
	return octo_app_register_all(self, rec_apps) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

OCTO_MODULE(app_record, .description = "Record: the caller's voice into a WAV file",
	    .load = rec_load, .optional = "res_users");
