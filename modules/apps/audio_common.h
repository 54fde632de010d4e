/*
 * audio_common.h - code shared by the audio applications (app_playback,
 * app_read, app_record, app_moh): the language of a call's prompts, a
 * player that sends prompts to a channel in real time and watches for
 * digits, digit collection and routing for IVRs, the keys of features.conf
 * [general] they read, music on hold classes, the pure rules that turn
 * numbers and dates into prompt names, and small helpers the applications
 * share (folder listing, name checks, waiting for a hang-up). The file is
 * compiled into each module (also app_ivr, app_callgroup, app_features,
 * app_park and app_voicemail); it is not part of the core's API.
 *
 * CHANNELS WITHOUT AUDIO
 * A channel whose technology gives Octo no audio (no write_frame, or one
 * that refuses frames, e.g. Test calls placed without audio=) still hears
 * its prompts "in time": the player reads the file and waits as long as it
 * lasts, watching for digits, so an IVR behaves the same on it -- only
 * silently. The step log says so once per application.
 *
 * Thread context: the call's thread (owner of the channel), except the
 * features and the pure functions (any thread).
 */
#ifndef OCTO_AUDIO_COMMON_H
#define OCTO_AUDIO_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "octo/sound.h"

struct octo_channel;
struct octo_diags;
struct octo_pattern;

/* Longest number of digits collected at once (Read, Background). */
#define AUDIO_DIGITS_MAX 64
/* Longest prompt name made by the say rules ("digits/thousands"). */
#define AUDIO_SAY_NAME 32
/* Most prompts a say rule makes. */
#define AUDIO_SAY_MAX 48

/* ---------------------------------------------------------------- features.conf */

#define AUDIO_FEATURES_FILE "features.conf"

/* The keys of features.conf [general] that the audio applications read. */
struct audio_features {
	unsigned digit_timeout_ms; /* digit_timeout: the inter-digit time-out (3 s) */
	char send_key;             /* send_key: ends the digits typed ('#'); 0: none */
	bool dial_tones;           /* dial_tones: the dial tone while a caller that was
				    * told nothing is waited for digits (yes) */
};

/*
 * Reads the keys from `config_dir`/features.conf (a missing file gives the
 * defaults). Other keys of [general] belong to other parts of Octo and are
 * left alone, except ones that look like a misspelling of ours. Returns 0,
 * or OCTO_ECONFIG with every problem in `diags` (file:line).
 */
int audio_features_read(const char *config_dir, struct audio_features *out,
			struct octo_diags *diags);

/* Reads them from the running daemon's config folder and, when they are
 * valid, makes them the running ones. 0 or OCTO_ECONFIG (the running ones
 * stay). For a module's load and reload. */
int audio_features_reload(struct octo_diags *diags);

/* For a module's load: audio_features_reload(), with every problem logged;
 * on errors the defaults stay (a module does not fail to load for them). */
void audio_features_load(void);

/* The running keys (the defaults before audio_features_reload). */
void audio_features_get(struct audio_features *out);

/* ---------------------------------------------------------------- language */

/* The language of the call's prompts into `lang` (OCTO_SOUND_LANG_MAX
 * bytes): ${LANGUAGE}, else the language of the user ${USER} (else of the
 * caller number) in users.conf, else "" (the PBX default). */
void audio_language(struct octo_channel *chan, char *lang);

/* The language whose rules say numbers and dates for `lang`: the language
 * that the prompt digits/1 is found in ("it" or "en" ...). */
void audio_rules_language(const char *lang, char *rules);

/* ---------------------------------------------------------------- the player */

enum audio_end {
	AUDIO_END = 0,   /* played to the end */
	AUDIO_DIGIT = 1, /* a digit of `stop` interrupted: in .digit */
	AUDIO_TIME = 2,  /* the deadline passed */
};

struct audio_player {
	struct octo_channel *chan;
	const char *app;        /* step-log prefix: "Playback" */
	const char *stop;       /* digits that interrupt; NULL or "": none */
	uint64_t deadline_ms;   /* octo_now_ms() value to stop at; 0: none */
	char digit;             /* out: the digit that interrupted */
	uint64_t frames;        /* out: frames played, all sounds together */
	uint64_t samples;       /* out: their samples */
	uint64_t t0_ms;         /* when the first frame was played; 0: none yet */
	int media;              /* 1: audio, -1: timed only (no audio), 0: not known yet */
	bool no_read;           /* the channel's audio cannot be read (digits: events only) */
	/* Optional: set by another thread to stop the player before its next
	 * frame (AUDIO_TIME is returned), e.g. music on hold while members ring. */
	const atomic_bool *cancel;
	/* Optional: another channel whose hang-up stops the player (OCTO_EHANGUP),
	 * e.g. the caller while a message plays to the member who answered. */
	struct octo_channel *watch;
	/* The dial tone of audio_wait_digit: 0 not decided yet, 1 to play, 2
	 * playing, -1 none (not wanted, no audio, or a digit came). Set it to -1
	 * before the first wait to have none. */
	int tone;
	unsigned tone_pos;      /* its phase, in samples */
};

/* Counts a frame of `samples` played (the player does; for callers that
 * write frames of their own, e.g. silence). */
void audio_player_count(struct audio_player *p, unsigned samples);

/* True when the deadline has come: by the clock, or by the audio already
 * sent (which may run ahead of the clock by a frame or more). */
bool audio_player_past(const struct audio_player *p);

void audio_player_init(struct audio_player *p, struct octo_channel *chan, const char *app);

/*
 * Plays an open sound to the channel, 20 ms a frame in real time. Returns
 * AUDIO_END, AUDIO_DIGIT, AUDIO_TIME, OCTO_EHANGUP, or another OCTO_E* from
 * reading the file. Digits that are not in `stop` are left queued when
 * `stop` is empty, and dropped otherwise.
 */
int audio_player_sound(struct audio_player *p, struct octo_sound *s);

/*
 * Plays prompt `name` in `lang` (with the fall-back of sound.h) and says so
 * in the step log ("Playback: digits/5 (it)"). Returns what
 * audio_player_sound() does, or OCTO_ENOTFOUND / OCTO_EINVAL when there is
 * no such prompt or the name is not valid (also in the step log).
 */
int audio_player_prompt(struct audio_player *p, const char *name, const char *lang);

/*
 * Plays the prompts of `list`, names separated by '&' (the string is cut up),
 * at most AUDIO_LIST_MAX. A prompt that is missing or cannot be read is
 * skipped (step log) and counted in *missing; with `fail` the first one ends
 * the list with OCTO_ENOTFOUND. *played counts the prompts played to their
 * end. Returns AUDIO_END, AUDIO_DIGIT, AUDIO_TIME, OCTO_EHANGUP or
 * OCTO_ENOTFOUND.
 */
#define AUDIO_LIST_MAX 64
int audio_play_list(struct audio_player *p, char *list, const char *lang, bool fail,
		    unsigned *played, unsigned *missing);

/* Makes the answer/no-answer decision of an application: answers unless
 * `noanswer`, in which case a channel not yet answered is told of early
 * media (progress). 0 or the OCTO_E* of the answer (step-logged). */
int audio_answer(struct octo_channel *chan, const char *app, bool noanswer);

/* ---------------------------------------------------------------- digits */

/*
 * Waits up to timeout_ms (>= 0) for one digit from the caller: a DIGIT event,
 * or a DTMF frame of the channel's audio (p->media decides whether the
 * audio is read; it may turn to -1). Other events are dropped. Returns 1
 * with *digit ('0'-'9', '*', '#', 'A'-'D'), 0 on time-out, OCTO_EHANGUP.
 * DIAL TONE: when features.conf dial_tones is yes and this player has
 * played nothing yet (no prompt: WaitDigits, Read without a prompt, an
 * IVR node without a message ...), the caller hears the dial tone (425 Hz,
 * continuous) while it waits, until the first digit; not after it, nor on
 * channels that carry no audio. The step log says so once.
 */
int audio_wait_digit(struct audio_player *p, int timeout_ms, char *digit);

/*
 * Routes the number the caller types into the current procedure, as an
 * IVR: `digits` holds what was typed so far (the first digit, which
 * interrupted a prompt, or more); more are collected until the inter-digit
 * time-out of `ft`, the send key, AUDIO_DIGITS_MAX digits, or a number that
 * no entry of the procedure can take more digits after (dialplan.conf as
 * saved on disk). Then octo_pbx_goto() to that number in the procedure.
 * Returns 0 when it jumped, OCTO_ENOTFOUND when nothing matches (the step
 * log says so; the next step runs), OCTO_EHANGUP.
 */
int audio_route_digits(struct audio_player *p, char *digits, size_t size,
		       const struct audio_features *ft);

/* ---------------------------------------------------------------- dialplan view */

/* The called-number patterns of a procedure and the ones it includes, read
 * from dialplan.conf in `config_dir` (default entries left out). */
struct audio_patterns {
	struct octo_pattern **pats;
	size_t count;
};
int audio_patterns_read(const char *config_dir, const char *procedure,
			struct audio_patterns *out);
void audio_patterns_free(struct audio_patterns *p);

/* True when some number longer than `digits` that starts with it matches
 * the pattern text `pattern` (pattern.h syntax). */
bool audio_pattern_can_extend(const char *pattern, const char *digits);

/* True when no pattern of `p` can match a number longer than `digits`:
 * typing more cannot lead anywhere else. */
bool audio_patterns_complete(const struct audio_patterns *p, const char *digits);

/* ---------------------------------------------------------------- say rules */

/*
 * The prompts that say a number ("-12", "1234", "3.25") in the rules of
 * `lang` ("it": Italian; anything else: English), written into `names`.
 * English: "1234" is digits/1 digits/thousand digits/2 digits/hundred
 * digits/34. Italian: digits/thousand ("mille") for 1000, digits/N
 * digits/thousands ("N-mila") above; digits/hundred ("cento") without a 1.
 * At most 9 digits before the point and 9 after. Returns how many names,
 * or -1 when `text` is not such a number.
 */
int audio_say_number(const char *text, const char *lang, char names[][AUDIO_SAY_NAME], int max);

/* The prompts that say `text` digit by digit: digits/0-9, '-' digits/minus,
 * '.' digits/point; other characters are skipped and counted in *skipped.
 * Returns how many names (at most `max`). */
int audio_say_digits(const char *text, char names[][AUDIO_SAY_NAME], int max, int *skipped);

/* A date as said: calendar fields, with or without a time. */
struct audio_date {
	int year, month, day; /* month 1..12, day 1..31 */
	int wday;             /* 0 = Sunday */
	bool has_time;
	int hour, minute;
};

/*
 * Parses "YYYY-MM-DD", "YYYY-MM-DD HH:MM" (as given, no zone) or an epoch in
 * seconds (digits only: converted with `tz`, NULL for UTC). Returns 0, or
 * OCTO_EINVAL with an error phrase in `err`.
 */
struct octo_tz;
int audio_parse_date(const char *text, const struct octo_tz *tz, struct audio_date *out,
		     char *err, size_t errsize);

/* The prompts that say a date: English "Monday, March fifth, at 2 30 PM"
 * (days/monday months/march digits/h-5 time/at digits/2 digits/30
 * time/pm); Italian "lunedì 5 marzo alle 14 e 30". Returns how many. */
int audio_say_date(const struct audio_date *d, const char *lang, char names[][AUDIO_SAY_NAME],
		   int max);

/* ---------------------------------------------------------------- music on hold */

#define AUDIO_MOH_FILE "musiconhold.conf"

/* A music on hold class as app_moh reads it from musiconhold.conf. */
struct audio_moh {
	char name[64];     /* the class found ("default" when it fell back) */
	char dir[4096];    /* its folder: absolute, or made from the sound folder */
	bool random;       /* order = random */
};

/*
 * Finds class `name` (NULL or "": "default") in `config_dir`/musiconhold.conf:
 * its folder (directory =, else moh/<class> of the sound folder) and order.
 * "default" exists without a section (moh/default). Returns 0, or
 * OCTO_ENOTFOUND when there is no such class (or the file cannot be read):
 * `out` then describes the default class.
 */
int audio_moh_class(const char *config_dir, const char *name, struct audio_moh *out);

/*
 * Plays the files of the class in a loop (name order, or shuffled for
 * random) until the player's deadline, its `cancel` flag (both: AUDIO_TIME)
 * or a hang-up (OCTO_EHANGUP); silence when the folder has no playable file.
 * Reads no event of the channel, so it may run on a thread of its own while
 * the call thread waits on the channel's events.
 */
int audio_moh_play(struct audio_player *p, const struct audio_moh *m);

/* ---------------------------------------------------------------- files */

/* True when `name` may name a file in the data folder: a relative path of
 * sound.h prompt-name rules (no "..", no hidden part, no absolute path),
 * at most 200 characters. */
bool audio_file_name_valid(const char *name);

/*
 * The regular, not hidden files of `dir` (at most `max`), sorted by name, in
 * *out (NULL when none; the caller frees each name and the array). Returns
 * how many, -1 when `dir` is no folder.
 */
int audio_list_files(const char *dir, int max, char ***out);

/* Shuffles the n names in place with rand_r(seed). */
void audio_shuffle(char **names, int n, unsigned *seed);

/* ---------------------------------------------------------------- helpers */

struct octo_cfg_opt;

/*
 * For the octo_cfg ignore callback of a shared section such as [general]:
 * false when `key` is one of `opts` (ended by OCTO_CFG_END) or looks like a
 * misspelling of one (so octo_cfg_bind warns), true when it is some other
 * part's key.
 */
bool audio_cfg_foreign_key(const char *key, const struct octo_cfg_opt *opts);

/* True when s is 1 to max letters, digits, '_', '-' or '.'. */
bool audio_name_valid(const char *s, size_t max);

/*
 * Waits until chan has hung up, without reading its events (another thread
 * owns them). Wakes on the channel's watcher, with a 500 ms safety net.
 */
void audio_wait_hangup(struct octo_channel *chan);

#endif
