/*
 * app_playback.c - applications that play prompts to the caller:
 *
 *   Playback(file[&file2...][,options])     prompts, one after the other
 *   Background(file[&file2...][,options])   the same, but a digit interrupts
 *                                           and the number typed is routed
 *                                           in the current procedure (IVR)
 *   SayDigits(digits)                       "1 2 3"
 *   SayNumber(number)                       "one thousand two hundred ..."
 *   SayDate([date][,zone])                  weekday, day, month and time
 *
 * Prompts are played in the caller's language (${LANGUAGE}, else the
 * user's, else the PBX default), each taken from the default language and
 * then English when that language lacks it (sound.h). Every prompt played
 * is written in the call's step log. Numbers and dates follow the rules of
 * the language whose digits are played: Italian for "it", English
 * otherwise.
 *
 * The inter-digit time-out of Background is features.conf [general]
 * digit_timeout, with send_key (audio_common.h); `module reload
 * app_playback` reads them again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/channel.h"
#include "octo/clock.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/sound.h"
#include "audio_common.h"

#define PB_ANY_DIGIT "0123456789*#ABCD"

struct pb_opts {
	bool noanswer; /* n */
	bool fail;     /* f: a missing prompt ends the call */
};

static bool pb_parse_opts(struct octo_channel *chan, const char *app, const char *text,
			  struct pb_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (const char *c = text ? text : ""; *c; c++) {
		if (*c == 'n') {
			o->noanswer = true;
		} else if (*c == 'f') {
			o->fail = true;
		} else {
			octo_chan_step(chan, "%s: unknown option '%c' (n: do not answer, f: a "
				       "missing prompt ends the call)", app,
				       *c >= ' ' && *c < 127 ? *c : '?');
			return false;
		}
	}
	return true;
}

/*
 * Plays the '&'-separated prompts of `list`. With `interrupt`, any digit
 * stops them (returned in *digit with AUDIO_DIGIT). Sets ${PLAYBACKSTATUS}.
 * Returns AUDIO_END, AUDIO_DIGIT, or a negative OCTO_E* that ends the call.
 */
static int pb_play_list(struct octo_channel *chan, const char *app, char *list,
			const struct pb_opts *o, bool interrupt, char *digit)
{
	char lang[OCTO_SOUND_LANG_MAX];
	struct audio_player p;
	unsigned played, missing;
	int rc;

	audio_language(chan, lang);
	rc = audio_answer(chan, app, o->noanswer);
	if (rc)
		return rc;
	audio_player_init(&p, chan, app);
	p.stop = interrupt ? PB_ANY_DIGIT : NULL;
	rc = audio_play_list(&p, list, lang, o->fail, &played, &missing);
	octo_chan_var_set(chan, "PLAYBACKSTATUS", missing ? "FAILED" : "SUCCESS");
	if (rc == OCTO_ENOTFOUND) {
		octo_chan_step(chan, "%s: a prompt is missing: the call ends (option f)", app);
		return rc;
	}
	if (rc == OCTO_EHANGUP)
		return rc;
	if (rc == AUDIO_DIGIT) {
		*digit = p.digit;
		octo_chan_step(chan, "%s: interrupted by %c after %.2f s", app, p.digit,
			       (double)p.samples / OCTO_FRAME_RATE);
		return AUDIO_DIGIT;
	}
	octo_chan_step(chan, "%s: %u prompt%s played (%.2f s)%s", app, played,
		       played == 1 ? "" : "s", (double)p.samples / OCTO_FRAME_RATE,
		       missing ? ", some missing: PLAYBACKSTATUS=FAILED" : "");
	return AUDIO_END;
}

/* Splits "files[,options]"; false (step-logged) when they are wrong. */
static bool pb_args(struct octo_channel *chan, const char *app, char *args, char **files,
		    struct pb_opts *o)
{
	char *argv[3];
	int argc = octo_args_split(args, argv, 3);

	if (argc < 1 || !*argv[0]) {
		octo_chan_step(chan, "%s: no prompt given (%s(file[&file2...][,options]))", app,
			       app);
		return false;
	}
	if (argc > 2) {
		octo_chan_step(chan, "%s: too many arguments (file[&file2...][,options])", app);
		return false;
	}
	*files = argv[0];
	return pb_parse_opts(chan, app, argc == 2 ? argv[1] : "", o);
}

static int pb_playback_exec(struct octo_channel *chan, char *args)
{
	struct pb_opts o;
	char *files, digit;
	int rc;

	if (!pb_args(chan, "Playback", args, &files, &o))
		return OCTO_EINVAL;
	rc = pb_play_list(chan, "Playback", files, &o, false, &digit);
	return rc < 0 ? rc : OCTO_APP_CONTINUE;
}

static int pb_background_exec(struct octo_channel *chan, char *args)
{
	struct audio_features ft;
	struct audio_player p;
	char digits[AUDIO_DIGITS_MAX + 1];
	struct pb_opts o;
	char *files;
	int rc;

	if (!pb_args(chan, "Background", args, &files, &o))
		return OCTO_EINVAL;
	rc = pb_play_list(chan, "Background", files, &o, true, &digits[0]);
	if (rc != AUDIO_DIGIT)
		return rc < 0 ? rc : OCTO_APP_CONTINUE;
	digits[1] = '\0';
	audio_features_get(&ft);
	audio_player_init(&p, chan, "Background");
	rc = audio_route_digits(&p, digits, sizeof(digits), &ft);
	return rc == OCTO_EHANGUP ? rc : OCTO_APP_CONTINUE;
}

/* Plays prompt names made by a say rule. */
static int pb_say(struct octo_channel *chan, const char *app, char names[][AUDIO_SAY_NAME],
		  int n, const char *lang)
{
	struct audio_player p;
	int rc;

	rc = audio_answer(chan, app, false);
	if (rc)
		return rc;
	audio_player_init(&p, chan, app);
	for (int i = 0; i < n; i++) {
		rc = audio_player_prompt(&p, names[i], lang);
		if (rc == OCTO_EHANGUP)
			return rc;
	}
	return OCTO_APP_CONTINUE;
}

/* The one argument of a say application, trimmed; NULL (step-logged) when
 * there are more. */
static char *pb_one_arg(struct octo_channel *chan, const char *app, char *args)
{
	char *argv[2];
	int argc = octo_args_split(args, argv, 2);

	if (argc > 1) {
		octo_chan_step(chan, "%s: one argument only (%s(value))", app, app);
		return NULL;
	}
	return argc ? argv[0] : args; /* none: args is "" */
}

static int pb_saydigits_exec(struct octo_channel *chan, char *args)
{
	char names[AUDIO_SAY_MAX][AUDIO_SAY_NAME], lang[OCTO_SOUND_LANG_MAX];
	char clean[OCTO_CFG_CLEAN];
	int n, skipped;

	args = pb_one_arg(chan, "SayDigits", args);
	if (!args)
		return OCTO_EINVAL;
	if (strlen(args) > AUDIO_SAY_MAX) {
		octo_chan_step(chan, "SayDigits: more than %d characters: only the first are said",
			       AUDIO_SAY_MAX);
	}
	n = audio_say_digits(args, names, AUDIO_SAY_MAX, &skipped);
	if (skipped)
		octo_chan_step(chan, "SayDigits: %d character%s of \"%s\" cannot be said: skipped",
			       skipped, skipped == 1 ? "" : "s", octo_cfg_clean(clean, args));
	audio_language(chan, lang);
	return pb_say(chan, "SayDigits", names, n, lang);
}

static int pb_saynumber_exec(struct octo_channel *chan, char *args)
{
	char names[AUDIO_SAY_MAX][AUDIO_SAY_NAME], lang[OCTO_SOUND_LANG_MAX];
	char rules[OCTO_SOUND_LANG_MAX], clean[OCTO_CFG_CLEAN];
	int n, skipped;

	args = pb_one_arg(chan, "SayNumber", args);
	if (!args)
		return OCTO_EINVAL;
	audio_language(chan, lang);
	audio_rules_language(lang, rules);
	n = audio_say_number(args, rules, names, AUDIO_SAY_MAX);
	if (n < 0) {
		if (*args && strspn(args, "0123456789") == strlen(args)) {
			octo_chan_step(chan, "SayNumber: %s has more than 9 digits: said digit by "
				       "digit", octo_cfg_clean(clean, args));
			n = audio_say_digits(args, names, AUDIO_SAY_MAX, &skipped);
		} else {
			octo_chan_step(chan, "SayNumber: \"%s\" is not a number (up to 9 digits, "
				       "an optional sign and up to 9 decimals): nothing said",
				       octo_cfg_clean(clean, args));
			return OCTO_APP_CONTINUE;
		}
	} else {
		octo_chan_step(chan, "SayNumber: %s in the rules of \"%s\"", args, rules);
	}
	return pb_say(chan, "SayNumber", names, n, lang);
}

static int pb_saydate_exec(struct octo_channel *chan, char *args)
{
	char names[AUDIO_SAY_MAX][AUDIO_SAY_NAME], lang[OCTO_SOUND_LANG_MAX];
	char rules[OCTO_SOUND_LANG_MAX], clean[OCTO_CFG_CLEAN], err[160], now[32];
	struct octo_tz *tz = NULL;
	struct audio_date d;
	char *argv[3];
	const char *date;
	int argc = octo_args_split(args, argv, 3), n, rc;

	if (argc > 2) {
		octo_chan_step(chan, "SayDate: too many arguments ([date][,zone])");
		return OCTO_EINVAL;
	}
	if (argc == 2 && *argv[1]) {
		tz = octo_tz_load(argv[1], err, sizeof(err));
		if (!tz) {
			octo_chan_step(chan, "SayDate: zone \"%s\" %s",
				       octo_cfg_clean(clean, argv[1]), err);
			return OCTO_EINVAL;
		}
	} else {
		tz = octo_tz_load(NULL, err, sizeof(err));
	}
	date = argc >= 1 ? argv[0] : "";
	if (!*date) {
		snprintf(now, sizeof(now), "%lld", (long long)octo_time());
		date = now;
	}
	rc = audio_parse_date(date, tz, &d, err, sizeof(err));
	octo_tz_free(tz);
	if (rc) {
		octo_chan_step(chan, "SayDate: \"%s\" %s: nothing said",
			       octo_cfg_clean(clean, date), err);
		return OCTO_APP_CONTINUE;
	}
	audio_language(chan, lang);
	audio_rules_language(lang, rules);
	if (d.has_time)
		octo_chan_step(chan, "SayDate: %04d-%02d-%02d %02d:%02d in the rules of \"%s\"",
			       d.year, d.month, d.day, d.hour, d.minute, rules);
	else
		octo_chan_step(chan, "SayDate: %04d-%02d-%02d in the rules of \"%s\"", d.year,
			       d.month, d.day, rules);
	n = audio_say_date(&d, rules, names, AUDIO_SAY_MAX);
	return pb_say(chan, "SayDate", names, n, lang);
}

static const struct octo_app pb_apps[] = {
	{ .name = "Playback",
	  .synopsis = "Play prompts to the caller",
	  .syntax = "Playback(file[&file2...][,options])",
	  .description =
		  "Answers the call (unless option n) and plays the prompts one after the other, "
		  "in real time. A prompt is named by its path in the language folder of the "
		  "sound folder without the extension (vm-intro, digits/5). It is played in the "
		  "caller's language: ${LANGUAGE}, else the language of the user (users.conf), "
		  "else the PBX default (octo.conf [options] language); a prompt that language "
		  "lacks comes from the default language, then from English. Each prompt played "
		  "is written in the call's step log; a missing one is written there and "
		  "skipped. Digits the caller presses meanwhile stay for the next application.\n"
		  "Options:\n"
		  "  n  do not answer: a call not yet answered gets early media (progress)\n"
		  "  f  a missing prompt fails: the call ends\n"
		  "Sets ${PLAYBACKSTATUS}: SUCCESS, or FAILED when a prompt was missing.",
	  .exec = pb_playback_exec },
	{ .name = "Background",
	  .synopsis = "Play prompts that the caller can interrupt by dialling (IVR menus)",
	  .syntax = "Background(file[&file2...][,options])",
	  .description =
		  "Plays prompts like Playback (same options, languages and ${PLAYBACKSTATUS}), "
		  "but any digit the caller presses stops them: the caller may go on dialling, "
		  "and the number typed goes to that entry of the current procedure (a Goto "
		  "within the procedure). The number ends when no digit comes within "
		  "features.conf [general] digit_timeout (default 3s), with the send key "
		  "(send_key, default #, not part of the number), after 64 digits, or as soon as "
		  "no entry of the procedure can match a longer number (\"1\" goes at once when "
		  "the procedure has 1, 2 and 3 but no 1X). When nothing matches (and the "
		  "procedure has no default entry) the step log says so and the next step runs; "
		  "so does it when the prompts end with no digit. Digits pressed before "
		  "Background starts interrupt it at once (type-ahead).",
	  .exec = pb_background_exec },
	{ .name = "SayDigits",
	  .synopsis = "Say a number digit by digit",
	  .syntax = "SayDigits(digits)",
	  .description = "Answers the call if needed and says each digit (digits/0 to "
			 "digits/9; '-' minus, '.' point) in the caller's language. Other "
			 "characters are skipped (the step log says so). At most 48 are said.",
	  .exec = pb_saydigits_exec },
	{ .name = "SayNumber",
	  .synopsis = "Say a number in words",
	  .syntax = "SayNumber(number)",
	  .description =
		  "Answers the call if needed and says a whole number of up to 9 digits, with an "
		  "optional sign and up to 9 decimals said digit by digit after \"point\", in the "
		  "caller's language and its rules: English \"one thousand two hundred "
		  "thirty-four\" (digits/1 digits/thousand digits/2 digits/hundred digits/34), "
		  "Italian \"milleduecentotrentaquattro\" (digits/thousand digits/2 "
		  "digits/hundred digits/34; digits/thousands and digits/millions for the "
		  "plurals). Languages other than Italian use the English rules. A longer whole "
		  "number is said digit by digit; anything else is not said (step log).",
	  .exec = pb_saynumber_exec },
	{ .name = "SayDate",
	  .synopsis = "Say a date: weekday, day, month and time",
	  .syntax = "SayDate([date][,zone])",
	  .description =
		  "Answers the call if needed and says a date in the caller's language: English "
		  "\"Monday, March fifth, at 2 30 PM\", Italian \"lunedi 5 marzo alle 14 e 30\".\n"
		  "  date  an epoch in seconds (${EPOCH}), said in `zone` (an IANA zone such as "
		  "Europe/Rome; default the system's), or YYYY-MM-DD or \"YYYY-MM-DD HH:MM\" as "
		  "given (no time is said without HH:MM). Empty: now, by the PBX clock.\n"
		  "A date that cannot be read is not said (step log).",
	  .exec = pb_saydate_exec },
	{ 0 }
};

static int pb_load(struct octo_module *self)
{
	audio_features_load();
	return octo_app_register_all(self, pb_apps) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

static int pb_reload(struct octo_module *self, struct octo_diags *diags)
{
	return audio_features_reload(diags);
}

static int pb_check(const char *config_dir, struct octo_diags *diags)
{
	struct audio_features ft;

	return audio_features_read(config_dir, &ft, diags);
}

OCTO_MODULE(app_playback, .description = "Playback, Background, SayDigits, SayNumber, SayDate",
	    .load = pb_load, .reload = pb_reload, .check = pb_check, .optional = "res_users");
