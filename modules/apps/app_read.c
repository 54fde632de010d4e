/*
 * app_read.c - applications that wait for the caller's digits:
 *
 *   Read(var[,maxdigits[,timeout[,prompt]]])   digits into a variable
 *   WaitDigits([timeout])                      a number typed, routed in the
 *                                              current procedure (IVR)
 *
 * Both wait `timeout` seconds for the first digit, then the inter-digit
 * time-out of features.conf [general] digit_timeout (default 3s) for each
 * next one; the send key (send_key, default #) ends the digits at once. On
 * a time-out with nothing typed the next application runs. `module reload
 * app_read` reads the keys again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/channel.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/sound.h"
#include "audio_common.h"

#define READ_VAR_MAX 64
#define READ_TIMEOUT_DEFAULT_MS 10000
#define READ_TIMEOUT_MAX_S 3600
#define READ_ANY_DIGIT "0123456789*#ABCD"

static bool read_var_valid(const char *name)
{
	size_t len = strlen(name);

	if (!len || len > READ_VAR_MAX || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_'))
			return false;
	return true;
}

/* Seconds (fractions allowed) into ms; `def` when empty; false when not valid. */
static bool read_seconds(const char *text, int def, int *ms)
{
	char *end;
	double v;

	if (!text || !*text) {
		*ms = def;
		return true;
	}
	v = strtod(text, &end);
	if (end == text || *end || !(v >= 0 && v <= READ_TIMEOUT_MAX_S))
		return false;
	*ms = (int)(v * 1000.0 + 0.5);
	return true;
}

static int read_exec(struct octo_channel *chan, char *args)
{
	char digits[AUDIO_DIGITS_MAX + 1] = "", lang[OCTO_SOUND_LANG_MAX], clean[OCTO_CFG_CLEAN];
	const char *status = "OK", *why = "time-out";
	struct audio_features ft;
	struct audio_player p;
	char *argv[5];
	int argc = octo_args_split(args, argv, 5), maxdigits = AUDIO_DIGITS_MAX, timeout_ms, rc;
	size_t len = 0;

	if (argc < 1 || argc > 4 || !read_var_valid(argv[0])) {
		octo_chan_step(chan, "Read: %s (Read(var[,maxdigits[,timeout[,prompt]]]), var made "
			       "of letters, digits and _)", argc > 4 ? "too many arguments"
			       : argc < 1 ? "no variable" : "not a variable name");
		return OCTO_EINVAL;
	}
	if (argc >= 2 && *argv[1]) {
		char *end;
		long v = strtol(argv[1], &end, 10);

		if (*end || v < 0 || v > AUDIO_DIGITS_MAX) {
			octo_chan_step(chan, "Read: maxdigits \"%s\" is not 0..%d",
				       octo_cfg_clean(clean, argv[1]), AUDIO_DIGITS_MAX);
			return OCTO_EINVAL;
		}
		maxdigits = v ? (int)v : AUDIO_DIGITS_MAX;
	}
	if (!read_seconds(argc >= 3 ? argv[2] : NULL, READ_TIMEOUT_DEFAULT_MS, &timeout_ms)) {
		octo_chan_step(chan, "Read: timeout \"%s\" is not a number of seconds (0..%d)",
			       octo_cfg_clean(clean, argv[2]), READ_TIMEOUT_MAX_S);
		return OCTO_EINVAL;
	}
	audio_features_get(&ft);
	rc = audio_answer(chan, "Read", false);
	if (rc)
		return rc;
	audio_player_init(&p, chan, "Read");
	if (argc == 4 && *argv[3]) {
		unsigned played, missing;

		audio_language(chan, lang);
		p.stop = READ_ANY_DIGIT;
		rc = audio_play_list(&p, argv[3], lang, false, &played, &missing);
		if (rc == OCTO_EHANGUP)
			goto hangup;
		if (rc == AUDIO_DIGIT) {
			digits[len++] = p.digit;
			digits[len] = '\0';
		}
	}
	for (;;) {
		char d;

		if (len && ft.send_key && digits[len - 1] == ft.send_key) {
			digits[--len] = '\0';
			why = "send key";
			break;
		}
		if ((int)len >= maxdigits) {
			why = "maxdigits";
			break;
		}
		rc = audio_wait_digit(&p, len ? (int)ft.digit_timeout_ms : timeout_ms, &d);
		if (rc == OCTO_EHANGUP)
			goto hangup;
		if (rc == 0) {
			if (!len)
				status = "TIMEOUT";
			break;
		}
		digits[len++] = d;
		digits[len] = '\0';
	}
	octo_chan_var_set(chan, argv[0], digits);
	octo_chan_var_set(chan, "READSTATUS", status);
	if (!strcmp(status, "TIMEOUT"))
		octo_chan_step(chan, "Read: no digit in %.1f s: %s is empty, READSTATUS=TIMEOUT",
			       timeout_ms / 1000.0, argv[0]);
	else
		octo_chan_step(chan, "Read: %s=%s (%s), READSTATUS=OK", argv[0], digits, why);
	return OCTO_APP_CONTINUE;
hangup:
	octo_chan_var_set(chan, argv[0], digits);
	octo_chan_var_set(chan, "READSTATUS", "HANGUP");
	return OCTO_EHANGUP;
}

static int read_waitdigits_exec(struct octo_channel *chan, char *args)
{
	char digits[AUDIO_DIGITS_MAX + 1], clean[OCTO_CFG_CLEAN];
	struct audio_features ft;
	struct audio_player p;
	char *argv[2];
	int argc = octo_args_split(args, argv, 2), timeout_ms, rc;

	if (argc > 1 ||
	    !read_seconds(argc ? argv[0] : NULL, READ_TIMEOUT_DEFAULT_MS, &timeout_ms)) {
		octo_chan_step(chan, "WaitDigits: %s (WaitDigits([timeout]), seconds 0..%d)",
			       argc > 1 ? "too many arguments" : "not a number of seconds",
			       READ_TIMEOUT_MAX_S);
		if (argc == 1)
			octo_chan_step(chan, "WaitDigits: \"%s\"", octo_cfg_clean(clean, argv[0]));
		return OCTO_EINVAL;
	}
	audio_features_get(&ft);
	rc = audio_answer(chan, "WaitDigits", false);
	if (rc)
		return rc;
	audio_player_init(&p, chan, "WaitDigits");
	rc = audio_wait_digit(&p, timeout_ms, &digits[0]);
	if (rc == OCTO_EHANGUP)
		return rc;
	if (rc == 0) {
		octo_chan_step(chan, "WaitDigits: no digit in %.1f s: the next step runs",
			       timeout_ms / 1000.0);
		return OCTO_APP_CONTINUE;
	}
	digits[1] = '\0';
	rc = audio_route_digits(&p, digits, sizeof(digits), &ft);
	return rc == OCTO_EHANGUP ? rc : OCTO_APP_CONTINUE;
}

static const struct octo_app read_apps[] = {
	{ .name = "Read",
	  .synopsis = "Read the digits the caller types into a variable",
	  .syntax = "Read(var[,maxdigits[,timeout[,prompt]]])",
	  .description =
		  "Answers the call if needed and collects digits into the channel variable "
		  "var.\n"
		  "  maxdigits  stop after that many digits (1..64; empty or 0: 64)\n"
		  "  timeout    seconds to wait for the first digit (fractions allowed; default "
		  "10; 0: only digits already pressed)\n"
		  "  prompt     prompts played first, '&'-separated like Playback; a digit "
		  "stops them and counts as the first digit\n"
		  "After the first digit each next one must come within features.conf [general] "
		  "digit_timeout (default 3s). The send key (send_key, default #) ends the "
		  "digits and is not kept. Sets ${READSTATUS}: OK (digits read, even when the "
		  "inter-digit time-out ended them, or only the send key was pressed), TIMEOUT "
		  "(nothing typed: var is empty) or HANGUP. The next step runs in every case but "
		  "a hang-up.",
	  .exec = read_exec },
	{ .name = "WaitDigits",
	  .synopsis = "Wait for the caller to dial a number and go to it (IVR)",
	  .syntax = "WaitDigits([timeout])",
	  .description =
		  "Answers the call if needed and waits up to timeout seconds (default 10) for "
		  "a first digit; then, as Background does after a digit, collects the number "
		  "(features.conf [general] digit_timeout between digits, send_key to end it, "
		  "or as soon as no longer number can match) and goes to that entry of the "
		  "current procedure. With no digit in time, or a number that matches nothing, "
		  "the next step runs. Background(menu) then WaitDigits(5) is an IVR menu.",
	  .exec = read_waitdigits_exec },
	{ 0 }
};

static int read_load(struct octo_module *self)
{
	audio_features_load();
	return octo_app_register_all(self, read_apps) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

static int read_reload(struct octo_module *self, struct octo_diags *diags)
{
	return audio_features_reload(diags);
}

static int read_check(const char *config_dir, struct octo_diags *diags)
{
	struct audio_features ft;

	return audio_features_read(config_dir, &ft, diags);
}

OCTO_MODULE(app_read, .description = "Read and WaitDigits: digits typed by the caller",
	    .load = read_load, .reload = read_reload, .check = read_check, .optional = "res_users");
