/*
 * audio_common.c - code shared by the audio applications: see
 * audio_common.h. Compiled into app_playback, app_read, app_record, app_moh,
 * app_ivr and app_callgroup; each module has its own copy of the running
 * features.conf keys.
 */
#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "octo/channel.h"
#include "octo/clock.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/pattern.h"
#include "octo/registry.h"
#include "octo/sound.h"
#include "octo/users.h"
#include "audio_common.h"

#define AUDIO_POLL_MS 100        /* longest wait before events are looked at again */
#define AUDIO_DRAIN_MAX 50       /* frames read at once while playing */
#define AUDIO_DIALPLAN "dialplan.conf"
#define AUDIO_INCLUDE_DEPTH 16
#define AUDIO_PATTERNS_MAX 4096

/* ---------------------------------------------------------------- features.conf */

static pthread_mutex_t audio_ft_lock = PTHREAD_MUTEX_INITIALIZER;
static struct audio_features audio_ft = {
	.digit_timeout_ms = 3000, .send_key = '#', .dial_tones = true
};

struct audio_ft_cfg {
	unsigned digit_timeout;
	char send_key;
	bool dial_tones;
};

static char audio_digit_upper(char c)
{
	return c >= 'a' && c <= 'd' ? (char)(c - 'a' + 'A') : c;
}

static const char *audio_set_send_key(void *field, const char *value)
{
	char *key = field;

	if (!strcasecmp(value, "none")) {
		*key = 0;
		return NULL;
	}
	if (strlen(value) != 1 || !octo_frame_digit_valid(value[0]))
		return "is not a DTMF key (0-9 * # A-D, or none)";
	*key = audio_digit_upper(value[0]);
	return NULL;
}

static const struct octo_cfg_opt audio_ft_opts[] = {
	OCTO_CFG_DURATION_MS("digit_timeout", struct audio_ft_cfg, digit_timeout, "3s", 200, 60000),
	OCTO_CFG_CUSTOM("send_key", struct audio_ft_cfg, send_key, "#", audio_set_send_key, NULL),
	OCTO_CFG_BOOL("dial_tones", struct audio_ft_cfg, dial_tones, "yes"),
	OCTO_CFG_END
};

/* [general] is shared: a key that is not ours is some other part's, unless
 * it looks like a misspelling of one of ours (then octo_cfg_bind warns). */
static bool audio_ft_ignore(const char *key)
{
	return audio_cfg_foreign_key(key, audio_ft_opts);
}

int audio_features_read(const char *config_dir, struct audio_features *out,
			struct octo_diags *diags)
{
	static const struct octo_cfg_section none = { .name = "general" };
	struct audio_ft_cfg c = { 0 };
	const struct octo_cfg_section *sec;
	struct octo_cfg *cfg;
	int rc;

	cfg = octo_cfg_load(config_dir, AUDIO_FEATURES_FILE, true, diags);
	if (!cfg)
		return OCTO_ECONFIG;
	sec = octo_cfg_section(cfg, "general");
	rc = octo_cfg_bind(sec ? sec : &none, audio_ft_opts, &c, audio_ft_ignore, diags);
	octo_cfg_unbind(audio_ft_opts, &c);
	octo_cfg_free(cfg);
	if (rc)
		return OCTO_ECONFIG;
	out->digit_timeout_ms = c.digit_timeout;
	out->send_key = c.send_key;
	out->dial_tones = c.dial_tones;
	return 0;
}

int audio_features_reload(struct octo_diags *diags)
{
	struct audio_features ft;

	if (audio_features_read(octo_paths.config_dir, &ft, diags))
		return OCTO_ECONFIG;
	pthread_mutex_lock(&audio_ft_lock);
	audio_ft = ft;
	pthread_mutex_unlock(&audio_ft_lock);
	return 0;
}

void audio_features_load(void)
{
	struct octo_diags diags = { 0 };

	if (audio_features_reload(&diags))
		octo_log(OCTO_WARNING, "%s: %zu error%s: digit_timeout and send_key keep their "
			 "defaults (3s, #)", AUDIO_FEATURES_FILE, diags.errors,
			 diags.errors == 1 ? "" : "s");
	for (size_t i = 0; i < diags.count; i++)
		octo_log(diags.items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags.items[i].message);
	octo_diags_free(&diags);
}

void audio_features_get(struct audio_features *out)
{
	pthread_mutex_lock(&audio_ft_lock);
	*out = audio_ft;
	pthread_mutex_unlock(&audio_ft_lock);
}

/* ---------------------------------------------------------------- language */

static bool audio_all_digits(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!isdigit((unsigned char)s[n]))
			return false;
	return n >= 1 && n <= max;
}

void audio_language(struct octo_channel *chan, char *lang)
{
	const struct octo_users_api *users;
	struct octo_user *u = NULL;
	char user[80];

	if (octo_chan_var_get(chan, "LANGUAGE", lang, OCTO_SOUND_LANG_MAX) && *lang) {
		if (octo_sound_language_valid(lang))
			return;
		octo_chan_step(chan, "the language \"%.32s\" of ${LANGUAGE} is not valid: the PBX "
			       "default is used", lang);
	}
	lang[0] = '\0';
	if (!octo_chan_var_get(chan, "USER", user, sizeof(user)) || !*user)
		octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, user, sizeof(user));
	if (!audio_all_digits(user, 20))
		return;
	users = octo_service_get(OCTO_USERS_SERVICE, 1, OCTO_MODULE_NAME);
	if (!users)
		return;
	u = users->find(user);
	if (u && u->language && octo_sound_language_valid(u->language))
		octo_strlcpy(lang, u->language, OCTO_SOUND_LANG_MAX);
	octo_obj_unref(u);
	octo_service_put(users, OCTO_MODULE_NAME);
}

void audio_rules_language(const char *lang, char *rules)
{
	char path[1024];

	if (octo_sound_find("digits/1", lang && *lang ? lang : NULL, path, sizeof(path), rules))
		octo_strlcpy(rules, lang && *lang ? lang : "en", OCTO_SOUND_LANG_MAX);
}

/* ---------------------------------------------------------------- the player */

void audio_player_init(struct audio_player *p, struct octo_channel *chan, const char *app)
{
	memset(p, 0, sizeof(*p));
	p->chan = chan;
	p->app = app;
}

void audio_player_count(struct audio_player *p, unsigned samples)
{
	if (!p->t0_ms)
		p->t0_ms = octo_now_ms();
	p->frames++;
	p->samples += samples;
}

bool audio_player_past(const struct audio_player *p)
{
	uint64_t now = octo_now_ms(), sent = p->t0_ms + p->samples * 1000 / OCTO_FRAME_RATE;

	if (!p->deadline_ms)
		return false;
	return now >= p->deadline_ms || (p->t0_ms && sent >= p->deadline_ms);
}

static bool audio_stops(const struct audio_player *p, char digit)
{
	return p->stop && *p->stop && digit && strchr(p->stop, digit);
}

/* Whether the channel's audio can be read for DTMF frames. */
static bool audio_can_read(const struct audio_player *p)
{
	const struct octo_chan_tech *tech = octo_chan_tech(p->chan);

	return !p->no_read && tech && tech->read_frame;
}

/* One event: AUDIO_DIGIT (in p->digit) when it is a digit that stops,
 * OCTO_EHANGUP, or 0. */
static int audio_event(struct audio_player *p, const struct octo_chan_event *ev)
{
	if (ev->type == OCTO_EV_HANGUP)
		return OCTO_EHANGUP;
	if (ev->type == OCTO_EV_DIGIT && audio_stops(p, audio_digit_upper(ev->digit))) {
		p->digit = audio_digit_upper(ev->digit);
		return AUDIO_DIGIT;
	}
	return 0;
}

/* AUDIO_TIME when another thread cancelled the player, OCTO_EHANGUP when
 * the watched channel hung up, else 0. */
static int audio_stopped(const struct audio_player *p)
{
	if (p->cancel && atomic_load(p->cancel))
		return AUDIO_TIME;
	if (p->watch && octo_chan_is_hungup(p->watch))
		return OCTO_EHANGUP;
	return 0;
}

/* While playing: the events queued and the frames received so far. */
static int audio_poll(struct audio_player *p)
{
	struct octo_chan_event ev;
	struct octo_frame f;
	int rc = audio_stopped(p);

	if (rc)
		return rc;
	if (!p->stop || !*p->stop)
		return octo_chan_is_hungup(p->chan) ? OCTO_EHANGUP : 0;
	while ((rc = octo_chan_wait_event(p->chan, 0, &ev)) == 1) {
		rc = audio_event(p, &ev);
		if (rc)
			return rc;
	}
	if (rc == OCTO_EHANGUP)
		return rc;
	if (!audio_can_read(p))
		return 0;
	for (int i = 0; i < AUDIO_DRAIN_MAX; i++) {
		rc = octo_chan_read_frame(p->chan, &f, 0);
		if (rc == OCTO_EHANGUP)
			return rc;
		if (rc < 0)
			p->no_read = true;
		if (rc != 1)
			break;
		if (f.type == OCTO_FRAME_DTMF && audio_stops(p, audio_digit_upper(f.digit))) {
			p->digit = audio_digit_upper(f.digit);
			return AUDIO_DIGIT;
		}
	}
	return 0;
}

/* Timed playing: waits until `when` (octo_now_ms), watching for digits
 * that stop. 0, AUDIO_DIGIT or OCTO_EHANGUP. */
static int audio_wait_until(struct audio_player *p, uint64_t when)
{
	struct octo_chan_event ev;

	for (;;) {
		uint64_t now = octo_now_ms();
		int rc;

		if (now >= when)
			return 0;
		rc = audio_stopped(p);
		if (rc)
			return rc;
		if ((!p->stop || !*p->stop) && !p->cancel && !p->watch)
			return octo_chan_sleep(p->chan, (unsigned)(when - now));
		if (!p->stop || !*p->stop) {
			/* in slices, to see the cancel flag and the watched channel */
			rc = octo_chan_sleep(p->chan, (unsigned)(when - now > AUDIO_POLL_MS
								 ? AUDIO_POLL_MS
								 : when - now));
			if (rc)
				return rc;
			continue;
		}
		rc = octo_chan_wait_event(p->chan,
					  (p->cancel || p->watch) && when - now > AUDIO_POLL_MS
						  ? AUDIO_POLL_MS
						  : (int)(when - now),
					  &ev);
		if (rc == 1)
			rc = audio_event(p, &ev);
		if (rc)
			return rc;
	}
}

/* The channel takes no frames: play in time only, and say so once. */
static void audio_go_timed(struct audio_player *p, int why)
{
	const struct octo_chan_tech *tech = octo_chan_tech(p->chan);

	p->media = -1;
	if (why)
		octo_chan_step(p->chan, "%s: the channel takes no audio (%s): prompts are timed, "
			       "not heard", p->app, octo_strerror(why));
	else
		octo_chan_step(p->chan, "%s: %s channels carry no audio: prompts are timed, not "
			       "heard", p->app, tech ? tech->name : "these");
}

int audio_player_sound(struct audio_player *p, struct octo_sound *s)
{
	const struct octo_chan_tech *tech = octo_chan_tech(p->chan);
	uint64_t start = 0, timed = 0; /* timed mode: its start and samples so far */
	struct octo_frame f;

	if (!p->media) {
		p->media = 1;
		if (!tech || !tech->write_frame)
			audio_go_timed(p, 0);
	}
	for (;;) {
		long n;
		int rc = audio_poll(p);

		if (rc)
			return rc;
		if (audio_player_past(p))
			return AUDIO_TIME;
		octo_frame_silence(&f, OCTO_FRAME_SAMPLES);
		n = octo_sound_read(s, f.data, OCTO_FRAME_SAMPLES);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return AUDIO_END;
		f.samples = (unsigned)n;
		if (p->media > 0) {
			if (!p->t0_ms)
				p->t0_ms = octo_now_ms();
			rc = octo_chan_write_frame(p->chan, &f);
			if (rc == OCTO_EHANGUP)
				return rc;
			if (rc == 0) {
				audio_player_count(p, f.samples);
				continue;
			}
			/* e.g. OCTO_EBUSY while its media is relayed natively */
			audio_go_timed(p, rc);
		}
		if (!start)
			start = octo_now_ms();
		if (!p->t0_ms)
			p->t0_ms = start;
		timed += (uint64_t)n;
		rc = audio_wait_until(p, start + timed * 1000 / OCTO_FRAME_RATE);
		if (rc)
			return rc;
		audio_player_count(p, f.samples);
	}
}

int audio_player_prompt(struct audio_player *p, const char *name, const char *lang)
{
	struct octo_sound *s;
	char clean[OCTO_CFG_CLEAN];
	int rc;

	if (!octo_sound_name_valid(name)) {
		octo_chan_step(p->chan, "%s: \"%s\" is not a valid prompt name", p->app,
			       octo_cfg_clean(clean, name));
		return OCTO_EINVAL;
	}
	rc = octo_sound_open(name, lang && *lang ? lang : NULL, &s);
	if (rc) {
		octo_chan_step(p->chan, "%s: %s %s (language %s): skipped", p->app,
			       rc == OCTO_ENOTFOUND ? "no prompt" : "cannot open the prompt", name,
			       lang && *lang ? lang : "default");
		return rc;
	}
	octo_chan_step(p->chan, "%s: playing %s (%s)", p->app, name, octo_sound_language(s));
	rc = audio_player_sound(p, s);
	if (rc < 0 && rc != OCTO_EHANGUP)
		octo_chan_step(p->chan, "%s: cannot read %s: %s", p->app, octo_sound_path(s),
			       octo_strerror(rc));
	octo_sound_close(s);
	return rc;
}

int audio_play_list(struct audio_player *p, char *list, const char *lang, bool fail,
		    unsigned *played, unsigned *missing)
{
	char *save = NULL, *name;
	unsigned n = 0;
	int rc = AUDIO_END;

	*played = *missing = 0;
	for (name = strtok_r(list, "&", &save); name; name = strtok_r(NULL, "&", &save)) {
		while (*name == ' ' || *name == '\t')
			name++;
		for (size_t len = strlen(name);
		     len && (name[len - 1] == ' ' || name[len - 1] == '\t');)
			name[--len] = '\0';
		if (!*name)
			continue;
		if (++n > AUDIO_LIST_MAX) {
			octo_chan_step(p->chan, "%s: more than %d prompts: the rest is skipped",
				       p->app, AUDIO_LIST_MAX);
			break;
		}
		rc = audio_player_prompt(p, name, lang);
		if (rc == AUDIO_END) {
			(*played)++;
			continue;
		}
		if (rc == AUDIO_DIGIT || rc == AUDIO_TIME || rc == OCTO_EHANGUP)
			return rc;
		(*missing)++;
		if (fail)
			return OCTO_ENOTFOUND;
		rc = AUDIO_END;
	}
	return rc;
}

int audio_answer(struct octo_channel *chan, const char *app, bool noanswer)
{
	const struct octo_chan_tech *tech;
	int rc;

	if (octo_chan_state(chan) == OCTO_CHAN_UP)
		return 0;
	if (noanswer) {
		tech = octo_chan_tech(chan);
		if (tech && tech->indicate)
			tech->indicate(chan, OCTO_EV_PROGRESS);
		return 0;
	}
	rc = octo_chan_answer(chan);
	if (rc)
		octo_chan_step(chan, "%s: answer failed: %s", app, octo_strerror(rc));
	return rc;
}

/* ---------------------------------------------------------------- digits */

/* The dial tone: 425 Hz (ITU-T E.180, most of Europe) at about -13 dBm0,
 * one period of 320 samples at 8 kHz, made once by the recurrence
 * s[n] = 2 cos(w) s[n-1] - s[n-2] (no libm). */
#define AUDIO_TONE_PERIOD 320
static int16_t audio_tone_table[AUDIO_TONE_PERIOD];
static pthread_once_t audio_tone_once = PTHREAD_ONCE_INIT;

static void audio_tone_init(void)
{
	const double amp = 5000.0, sin_w = 0.3276301795616935, cos_w = 0.944806046466878;
	double prev = -amp * sin_w, cur = 0.0; /* s[-1] = -A sin(w), s[0] = 0 */

	for (int n = 0; n < AUDIO_TONE_PERIOD; n++) {
		double next = 2.0 * cos_w * cur - prev;

		audio_tone_table[n] = (int16_t)(cur >= 0 ? cur + 0.5 : cur - 0.5);
		prev = cur;
		cur = next;
	}
}

/* Decides whether the dial tone plays (see audio_wait_digit). */
static void audio_tone_decide(struct audio_player *p)
{
	const struct octo_chan_tech *tech = octo_chan_tech(p->chan);
	struct audio_features ft;

	audio_features_get(&ft);
	p->tone = -1;
	if (!ft.dial_tones || p->frames || p->samples || p->media < 0 || !tech ||
	    !tech->write_frame)
		return;
	pthread_once(&audio_tone_once, audio_tone_init);
	p->tone = 1;
}

/* Sends one frame of the dial tone (the technology paces it). 0, or
 * OCTO_EHANGUP; a channel that refuses it (no audio path) ends the tone. */
static int audio_tone_frame(struct audio_player *p)
{
	struct octo_frame f;
	int rc;

	octo_frame_silence(&f, OCTO_FRAME_SAMPLES);
	for (unsigned i = 0; i < OCTO_FRAME_SAMPLES; i++)
		f.data[i] = audio_tone_table[(p->tone_pos + i) % AUDIO_TONE_PERIOD];
	p->tone_pos = (p->tone_pos + OCTO_FRAME_SAMPLES) % AUDIO_TONE_PERIOD;
	rc = octo_chan_write_frame(p->chan, &f);
	if (rc == OCTO_EHANGUP)
		return rc;
	if (rc)
		p->tone = -1;
	else if (p->tone == 1)
		octo_chan_step(p->chan, "%s: dial tone until the first digit (features.conf "
			       "dial_tones)", p->app);
	if (!rc)
		p->tone = 2;
	return 0;
}

int audio_wait_digit(struct audio_player *p, int timeout_ms, char *digit)
{
	uint64_t deadline = octo_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
	struct audio_player any = *p;
	struct octo_chan_event ev;
	struct octo_frame f;
	uint64_t tone_t0 = 0, tone_sent = 0; /* the dial tone: its start, samples sent */
	int rc;

	any.stop = "0123456789*#ABCD";
	if (!p->tone)
		audio_tone_decide(p);
	for (;;) {
		uint64_t now;
		int slice;

		while ((rc = octo_chan_wait_event(p->chan, 0, &ev)) == 1) {
			rc = audio_event(&any, &ev);
			if (rc == AUDIO_DIGIT) {
				*digit = any.digit;
				p->tone = -1;
				return 1;
			}
			if (rc)
				return rc;
		}
		if (rc == OCTO_EHANGUP)
			return rc;
		now = octo_now_ms();
		if (now >= deadline)
			return 0;
		slice = deadline - now > AUDIO_POLL_MS ? AUDIO_POLL_MS : (int)(deadline - now);
		if (p->tone > 0) {
			/* a frame of tone (20 ms) when it is due -- the technology
			 * paces it, and so do we, a frame ahead at most -- then a
			 * look at what came meanwhile */
			uint64_t due;

			if (!tone_t0)
				tone_t0 = now;
			due = tone_t0 + tone_sent * 1000 / OCTO_FRAME_RATE;
			if (due <= now + 20) {
				rc = audio_tone_frame(p);
				if (rc)
					return rc;
				tone_sent += OCTO_FRAME_SAMPLES;
				slice = 0;
			} else if ((uint64_t)slice > due - now - 20) {
				slice = (int)(due - now - 20);
			}
		}
		if (audio_can_read(p)) {
			rc = octo_chan_read_frame(p->chan, &f, slice);
			if (rc == OCTO_EHANGUP)
				return rc;
			if (rc == 1 && f.type == OCTO_FRAME_DTMF &&
			    octo_frame_digit_valid(f.digit)) {
				*digit = audio_digit_upper(f.digit);
				p->tone = -1;
				return 1;
			}
			if (rc < 0)
				p->no_read = true; /* nothing to read here: events only */
			continue;
		}
		rc = octo_chan_wait_event(p->chan, slice, &ev);
		if (rc == 1) {
			rc = audio_event(&any, &ev);
			if (rc == AUDIO_DIGIT) {
				*digit = any.digit;
				p->tone = -1;
				return 1;
			}
		}
		if (rc == OCTO_EHANGUP)
			return rc;
	}
}

int audio_route_digits(struct audio_player *p, char *digits, size_t size,
		       const struct audio_features *ft)
{
	struct audio_patterns pats = { 0 };
	char proc[OCTO_CFG_CLEAN], clean[OCTO_CFG_CLEAN];
	const char *why = "inter-digit time-out";
	bool have = false, looked = false;
	size_t len = strlen(digits);
	int rc;

	if (len && !p->tone)
		p->tone = -1; /* digits typed already: no dial tone after them */
	octo_chan_copy(p->chan, OCTO_CHAN_PROCEDURE, proc, sizeof(proc));
	for (;;) {
		char d;

		if (len > 1 && ft->send_key && digits[len - 1] == ft->send_key) {
			digits[--len] = '\0';
			why = "send key";
			break;
		}
		if (len >= AUDIO_DIGITS_MAX || len + 1 >= size) {
			why = "longest number";
			break;
		}
		if (!looked) {
			looked = true;
			have = audio_patterns_read(octo_paths.config_dir, proc, &pats) == 0;
		}
		if (have && len && audio_patterns_complete(&pats, digits)) {
			why = "no longer number matches";
			break;
		}
		rc = audio_wait_digit(p, (int)ft->digit_timeout_ms, &d);
		if (rc < 0) {
			audio_patterns_free(&pats);
			return rc;
		}
		if (rc == 0)
			break;
		digits[len++] = d;
		digits[len] = '\0';
	}
	audio_patterns_free(&pats);
	if (!len) {
		octo_chan_step(p->chan, "%s: no number typed", p->app);
		return OCTO_ENOTFOUND;
	}
	octo_chan_step(p->chan, "%s: the caller typed %s (%s)", p->app, digits, why);
	rc = octo_pbx_goto(p->chan, NULL, digits, NULL);
	if (rc)
		octo_chan_step(p->chan, "%s: %s leads nowhere in [%s]: the next step runs", p->app,
			       digits, octo_cfg_clean(clean, proc));
	return rc;
}

/* ---------------------------------------------------------------- dialplan view */

static int audio_patterns_add(struct audio_patterns *out, const char *value)
{
	char text[256];
	const char *comma = strchr(value, ','), *err;
	size_t len = comma ? (size_t)(comma - value) : strlen(value);
	struct octo_pattern *pat, **grown;

	while (len && isspace((unsigned char)value[len - 1]))
		len--;
	while (len && isspace((unsigned char)*value)) {
		value++;
		len--;
	}
	if (!len || len >= sizeof(text) || out->count >= AUDIO_PATTERNS_MAX)
		return 0;
	memcpy(text, value, len);
	text[len] = '\0';
	pat = octo_pattern_compile(text, &err);
	if (!pat)
		return 0; /* the dialplan reports it */
	if (octo_pattern_is_default(pat)) {
		octo_pattern_free(pat);
		return 0;
	}
	grown = realloc(out->pats, (out->count + 1) * sizeof(*grown));
	if (!grown) {
		octo_pattern_free(pat);
		return OCTO_ENOMEM;
	}
	out->pats = grown;
	out->pats[out->count++] = pat;
	return 0;
}

static int audio_patterns_proc(const struct octo_cfg *cfg, const char *name, int depth,
			       const char **seen, int *nseen, struct audio_patterns *out)
{
	const struct octo_cfg_section *sec;
	int rc = 0;

	if (depth > AUDIO_INCLUDE_DEPTH || *nseen >= AUDIO_INCLUDE_DEPTH * 4)
		return 0;
	for (int i = 0; i < *nseen; i++)
		if (!strcmp(seen[i], name))
			return 0;
	sec = octo_cfg_section(cfg, name);
	if (!sec || sec->is_template)
		return 0;
	seen[(*nseen)++] = sec->name;
	for (const struct octo_cfg_var *v = sec->vars; v && !rc; v = v->next) {
		if (!strcmp(v->name, "exten"))
			rc = audio_patterns_add(out, v->value);
		else if (!strcmp(v->name, "include"))
			rc = audio_patterns_proc(cfg, v->value, depth + 1, seen, nseen, out);
	}
	return rc;
}

int audio_patterns_read(const char *config_dir, const char *procedure,
			struct audio_patterns *out)
{
	const char *seen[AUDIO_INCLUDE_DEPTH * 4];
	struct octo_diags diags = { 0 };
	struct octo_cfg *cfg;
	int nseen = 0, rc;

	memset(out, 0, sizeof(*out));
	if (!config_dir || !procedure)
		return OCTO_EINVAL;
	cfg = octo_cfg_load(config_dir, AUDIO_DIALPLAN, true, &diags);
	octo_diags_free(&diags);
	if (!cfg)
		return OCTO_ECONFIG;
	rc = audio_patterns_proc(cfg, procedure, 0, seen, &nseen, out);
	octo_cfg_free(cfg);
	if (rc)
		audio_patterns_free(out);
	return rc;
}

void audio_patterns_free(struct audio_patterns *p)
{
	for (size_t i = 0; i < p->count; i++)
		octo_pattern_free(p->pats[i]);
	free(p->pats);
	p->pats = NULL;
	p->count = 0;
}

/* Whether the element at *pp admits `c`; moves *pp past the element. */
static bool audio_elem_match(const char **pp, char c)
{
	const char *p = *pp;
	bool ok = false;

	switch (*p) {
	case 'X': ok = c >= '0' && c <= '9'; break;
	case 'Z': ok = c >= '1' && c <= '9'; break;
	case 'N': ok = c >= '2' && c <= '9'; break;
	case '[':
		for (p++; *p && *p != ']'; p++) {
			if (p[1] == '-' && p[2] && p[2] != ']') {
				ok = ok || (c >= p[0] && c <= p[2]);
				p += 2;
			} else {
				ok = ok || c == *p;
			}
		}
		if (!*p) { /* not closed: nothing matches */
			*pp = p;
			return false;
		}
		break;
	default: ok = c == *p; break;
	}
	*pp = p + 1;
	return ok;
}

bool audio_pattern_can_extend(const char *pattern, const char *digits)
{
	const char *p = pattern;

	if (!strcmp(pattern, "default"))
		return false;
	for (const char *d = digits; *d; d++) {
		if (!*p)
			return false;
		if (*p == '.' || *p == '!')
			return true;
		if (!audio_elem_match(&p, *d))
			return false;
	}
	return *p != '\0';
}

bool audio_patterns_complete(const struct audio_patterns *p, const char *digits)
{
	for (size_t i = 0; i < p->count; i++)
		if (audio_pattern_can_extend(octo_pattern_text(p->pats[i]), digits))
			return false;
	return true;
}

/* ---------------------------------------------------------------- say rules */

struct audio_say {
	char (*names)[AUDIO_SAY_NAME];
	int max, count;
};

static void audio_say_add(struct audio_say *s, const char *name)
{
	if (s->count < s->max)
		octo_strlcpy(s->names[s->count], name, AUDIO_SAY_NAME);
	s->count++;
}

/* prefix and a number: "digits/" 5 is digits/5 */
static void audio_say_n(struct audio_say *s, const char *prefix, long v)
{
	if (s->count < s->max)
		snprintf(s->names[s->count], AUDIO_SAY_NAME, "%s%ld", prefix, v);
	s->count++;
}

/* 1..999 in English: [N hundred] [1..99] */
static void audio_say_en_chunk(struct audio_say *s, long n)
{
	if (n >= 100) {
		audio_say_n(s, "digits/", n / 100);
		audio_say_add(s, "digits/hundred");
		n %= 100;
	}
	if (n)
		audio_say_n(s, "digits/", n);
}

/* 1..999 in Italian: cento, duecento ... then 1..99 */
static void audio_say_it_chunk(struct audio_say *s, long n)
{
	if (n >= 100) {
		if (n / 100 > 1)
			audio_say_n(s, "digits/", n / 100);
		audio_say_add(s, "digits/hundred");
		n %= 100;
	}
	if (n)
		audio_say_n(s, "digits/", n);
}

static void audio_say_integer(struct audio_say *s, long v, bool italian)
{
	long millions = v / 1000000, thousands = v / 1000 % 1000, rest = v % 1000;

	if (v == 0) {
		audio_say_add(s, "digits/0");
		return;
	}
	if (millions) {
		if (!italian) {
			audio_say_en_chunk(s, millions);
			audio_say_add(s, "digits/million");
		} else if (millions == 1) {
			audio_say_add(s, "digits/un");
			audio_say_add(s, "digits/million");
		} else {
			audio_say_it_chunk(s, millions);
			audio_say_add(s, "digits/millions");
		}
	}
	if (thousands) {
		if (!italian) {
			audio_say_en_chunk(s, thousands);
			audio_say_add(s, "digits/thousand");
		} else if (thousands == 1) {
			audio_say_add(s, "digits/thousand");
		} else {
			audio_say_it_chunk(s, thousands);
			audio_say_add(s, "digits/thousands");
		}
	}
	if (rest) {
		if (italian)
			audio_say_it_chunk(s, rest);
		else
			audio_say_en_chunk(s, rest);
	}
}

int audio_say_number(const char *text, const char *lang, char names[][AUDIO_SAY_NAME], int max)
{
	struct audio_say s = { .names = names, .max = max };
	bool italian = lang && !strcmp(lang, "it");
	const char *p = text, *frac = NULL;
	size_t nint = 0, nfrac = 0;
	long v = 0;

	if (!text)
		return -1;
	if (*p == '-' || *p == '+')
		p++;
	while (*p == '0' && isdigit((unsigned char)p[1]))
		p++;
	for (; isdigit((unsigned char)*p); p++, nint++)
		v = v * 10 + (*p - '0');
	if (!nint || nint > 9)
		return -1;
	if (*p == '.') {
		frac = ++p;
		for (; isdigit((unsigned char)*p); p++)
			nfrac++;
		if (!nfrac || nfrac > 9)
			return -1;
	}
	if (*p)
		return -1;
	if (text[0] == '-' && (v || (frac && strspn(frac, "0") != nfrac)))
		audio_say_add(&s, "digits/minus");
	audio_say_integer(&s, v, italian);
	if (frac) {
		audio_say_add(&s, "digits/point");
		for (size_t i = 0; i < nfrac; i++)
			audio_say_n(&s, "digits/", frac[i] - '0');
	}
	return s.count > max ? -1 : s.count;
}

int audio_say_digits(const char *text, char names[][AUDIO_SAY_NAME], int max, int *skipped)
{
	struct audio_say s = { .names = names, .max = max };

	*skipped = 0;
	for (const char *p = text; *p && s.count < max; p++) {
		if (isdigit((unsigned char)*p))
			audio_say_n(&s, "digits/", *p - '0');
		else if (*p == '-')
			audio_say_add(&s, "digits/minus");
		else if (*p == '.')
			audio_say_add(&s, "digits/point");
		else
			(*skipped)++;
	}
	return s.count;
}

static const char *const audio_days[7] = { "sunday",   "monday", "tuesday", "wednesday",
					   "thursday", "friday", "saturday" };
static const char *const audio_months[12] = { "january", "february", "march",     "april",
					      "may",     "june",     "july",      "august",
					      "september", "october", "november", "december" };

static int audio_month_days(int64_t year, int month)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* Reads exactly `n` digits at *pp as a number; -1 when they are not there. */
static int audio_read_fixed(const char **pp, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*pp)[i]))
			return -1;
		v = v * 10 + ((*pp)[i] - '0');
	}
	*pp += n;
	return v;
}

int audio_parse_date(const char *text, const struct octo_tz *tz, struct audio_date *out,
		     char *err, size_t errsize)
{
	const char *p = text;
	int64_t days;

	memset(out, 0, sizeof(*out));
	if (!text || !*text) {
		snprintf(err, errsize, "no date");
		return OCTO_EINVAL;
	}
	if (audio_all_digits(text, 12)) {
		/* an epoch: the local time of `tz` */
		long long t = strtoll(text, NULL, 10);
		struct tm tm;

		if (t > 253402300799LL) { /* 9999-12-31 23:59:59 */
			snprintf(err, errsize, "\"%s\" is beyond the year 9999", text);
			return OCTO_EINVAL;
		}
		if (tz ? octo_tz_localtime(tz, (time_t)t, &tm) != 0
		       : gmtime_r(&(time_t){ (time_t)t }, &tm) == NULL) {
			snprintf(err, errsize, "\"%s\" is not a time that can be said", text);
			return OCTO_EINVAL;
		}
		out->year = tm.tm_year + 1900;
		out->month = tm.tm_mon + 1;
		out->day = tm.tm_mday;
		out->wday = tm.tm_wday;
		out->has_time = true;
		out->hour = tm.tm_hour;
		out->minute = tm.tm_min;
		return 0;
	}
	out->year = audio_read_fixed(&p, 4);
	if (out->year < 0 || *p++ != '-' || (out->month = audio_read_fixed(&p, 2)) < 0 ||
	    *p++ != '-' || (out->day = audio_read_fixed(&p, 2)) < 0) {
		snprintf(err, errsize, "is neither an epoch nor YYYY-MM-DD[ HH:MM]");
		return OCTO_EINVAL;
	}
	if (out->year < 1 || out->month < 1 || out->month > 12 || out->day < 1 ||
	    out->day > audio_month_days(out->year, out->month)) {
		snprintf(err, errsize, "is not a date of the calendar");
		return OCTO_EINVAL;
	}
	if (*p == ' ' || *p == 'T') {
		p++;
		out->hour = audio_read_fixed(&p, 2);
		if (out->hour < 0 || *p++ != ':' || (out->minute = audio_read_fixed(&p, 2)) < 0 ||
		    out->hour > 23 || out->minute > 59) {
			snprintf(err, errsize, "has no valid time (HH:MM, 00:00 to 23:59)");
			return OCTO_EINVAL;
		}
		out->has_time = true;
	}
	if (*p) {
		snprintf(err, errsize, "is neither an epoch nor YYYY-MM-DD[ HH:MM]");
		return OCTO_EINVAL;
	}
	days = octo_days_from_civil(out->year, out->month, out->day);
	/* 1970-01-01 was a Thursday */
	out->wday = (int)(((days % 7) + 7 + 4) % 7);
	return 0;
}

int audio_say_date(const struct audio_date *d, const char *lang, char names[][AUDIO_SAY_NAME],
		   int max)
{
	struct audio_say s = { .names = names, .max = max };
	char day[AUDIO_SAY_NAME], month[AUDIO_SAY_NAME];

	if (d->wday < 0 || d->wday > 6 || d->month < 1 || d->month > 12 || d->day < 1 ||
	    d->day > 31)
		return 0;
	snprintf(day, sizeof(day), "days/%s", audio_days[d->wday]);
	snprintf(month, sizeof(month), "months/%s", audio_months[d->month - 1]);
	audio_say_add(&s, day);
	if (lang && !strcmp(lang, "it")) {
		/* lunedì 5 marzo alle 14 e 30 */
		audio_say_n(&s, "digits/h-", d->day);
		audio_say_add(&s, month);
		if (d->has_time) {
			audio_say_add(&s, "time/at");
			audio_say_n(&s, "digits/", d->hour);
			if (d->minute) {
				audio_say_add(&s, "digits/and");
				audio_say_n(&s, "digits/", d->minute);
			}
		}
	} else {
		/* Monday, March fifth, at 2 30 PM */
		audio_say_add(&s, month);
		audio_say_n(&s, "digits/h-", d->day);
		if (d->has_time) {
			audio_say_add(&s, "time/at");
			audio_say_n(&s, "digits/", d->hour % 12 ? d->hour % 12 : 12);
			if (d->minute && d->minute < 10)
				audio_say_add(&s, "digits/oh");
			if (d->minute)
				audio_say_n(&s, "digits/", d->minute);
			audio_say_add(&s, d->hour < 12 ? "time/am" : "time/pm");
		}
	}
	return s.count > max ? max : s.count;
}

/* ---------------------------------------------------------------- music on hold */

#define AUDIO_MOH_FILES_MAX 256

static void audio_moh_set(struct audio_moh *out, const char *name, const char *dir, bool random)
{
	octo_strlcpy(out->name, name, sizeof(out->name));
	if (dir[0] == '/')
		snprintf(out->dir, sizeof(out->dir), "%s", dir);
	else
		snprintf(out->dir, sizeof(out->dir), "%s/%s",
			 octo_paths.sound_dir ? octo_paths.sound_dir : ".", dir);
	out->random = random;
}

int audio_moh_class(const char *config_dir, const char *name, struct audio_moh *out)
{
	struct octo_diags diags = { 0 };
	const struct octo_cfg_section *sec = NULL, *def = NULL;
	struct octo_cfg *cfg;
	char dir[sizeof(out->dir)];
	int rc = 0;

	if (!name || !*name)
		name = "default";
	cfg = config_dir ? octo_cfg_load(config_dir, AUDIO_MOH_FILE, true, &diags) : NULL;
	octo_diags_free(&diags);
	for (const struct octo_cfg_section *s = cfg ? octo_cfg_first(cfg) : NULL; s;
	     s = octo_cfg_next(s)) {
		if (!sec && !strcasecmp(s->name, name))
			sec = s;
		if (!def && !strcasecmp(s->name, "default"))
			def = s;
	}
	if (!sec && strcasecmp(name, "default")) {
		rc = OCTO_ENOTFOUND;
		sec = def;
		name = "default";
	}
	if (sec) {
		const struct octo_cfg_var *d = octo_cfg_var_find(sec, "directory");
		const struct octo_cfg_var *o = octo_cfg_var_find(sec, "order");

		if (d && *d->value && !strstr(d->value, ".."))
			octo_strlcpy(dir, d->value, sizeof(dir));
		else
			snprintf(dir, sizeof(dir), "moh/%.60s", sec->name);
		audio_moh_set(out, sec->name, dir, o && !strcasecmp(o->value, "random"));
	} else {
		audio_moh_set(out, name, "moh/default", false);
	}
	octo_cfg_free(cfg);
	return rc;
}

static int audio_list_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int audio_list_files(const char *dir, int max, char ***out)
{
	char **names = NULL, path[4400];
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(dir);

	*out = NULL;
	if (!d)
		return -1;
	while ((de = readdir(d)) && n < max) {
		struct stat st;
		char **grown;

		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
			    sizeof(path) ||
		    stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		grown = realloc(names, (size_t)(n + 1) * sizeof(*grown));
		if (!grown)
			break;
		names = grown;
		names[n++] = octo_strdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, (size_t)n, sizeof(*names), audio_list_cmp);
	*out = names;
	return n;
}

void audio_shuffle(char **names, int n, unsigned *seed)
{
	for (int i = n - 1; i > 0; i--) {
		int j = rand_r(seed) % (i + 1);
		char *t = names[i];

		names[i] = names[j];
		names[j] = t;
	}
}

/* Silence until the player stops: frames when the channel takes them. */
static int audio_moh_silence(struct audio_player *p)
{
	const struct octo_chan_tech *tech = octo_chan_tech(p->chan);
	struct octo_frame f;

	if (!p->media)
		p->media = tech && tech->write_frame ? 1 : -1;
	for (;;) {
		int rc = audio_stopped(p);

		if (rc)
			return rc;
		if (octo_chan_is_hungup(p->chan))
			return OCTO_EHANGUP;
		if (audio_player_past(p))
			return AUDIO_TIME;
		if (p->media > 0) {
			octo_frame_silence(&f, OCTO_FRAME_SAMPLES);
			if (!p->t0_ms)
				p->t0_ms = octo_now_ms();
			rc = octo_chan_write_frame(p->chan, &f);
			if (rc == OCTO_EHANGUP)
				return rc;
			if (rc == 0) {
				audio_player_count(p, f.samples);
				continue;
			}
			p->media = -1;
		}
		if (octo_chan_sleep(p->chan, AUDIO_POLL_MS))
			return OCTO_EHANGUP;
		p->samples += AUDIO_POLL_MS * OCTO_FRAME_RATE / 1000;
	}
}

int audio_moh_play(struct audio_player *p, const struct audio_moh *m)
{
	unsigned seed = (unsigned)octo_wall_us();
	char **names = NULL, path[4400], err[160];
	int n = audio_list_files(m->dir, AUDIO_MOH_FILES_MAX, &names), rc = AUDIO_TIME;
	bool first = true;

	if (n <= 0) {
		octo_chan_step(p->chan, "%s: music on hold: %s %s: silence instead", p->app, m->dir,
			       n < 0 ? "is not a folder" : "has no files");
		free(names);
		return audio_moh_silence(p);
	}
	octo_chan_step(p->chan, "%s: music on hold: class %s, %d file%s in %s", p->app, m->name,
		       n, n == 1 ? "" : "s", m->dir);
	for (;;) {
		uint64_t before = p->samples;

		if (m->random)
			audio_shuffle(names, n, &seed);
		for (int i = 0; i < n; i++) {
			struct octo_sound *s;

			if ((size_t)snprintf(path, sizeof(path), "%s/%s", m->dir, names[i]) >=
				    sizeof(path) ||
			    octo_sound_open_file(path, &s, err, sizeof(err)))
				continue;
			if (first)
				octo_chan_step(p->chan, "%s: music on hold: playing %s", p->app,
					       names[i]);
			rc = audio_player_sound(p, s);
			octo_sound_close(s);
			if (rc == AUDIO_TIME || rc == OCTO_EHANGUP)
				goto out;
		}
		first = false;
		if (p->samples == before) {
			octo_chan_step(p->chan, "%s: music on hold: no file of %s can be played: "
				       "silence instead", p->app, m->dir);
			rc = audio_moh_silence(p);
			break;
		}
	}
out:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ---------------------------------------------------------------- files */

bool audio_file_name_valid(const char *name)
{
	return octo_sound_name_valid(name);
}

/* ---------------------------------------------------------------- helpers */

bool audio_cfg_foreign_key(const char *key, const struct octo_cfg_opt *opts)
{
	size_t len = strlen(key);

	for (const struct octo_cfg_opt *o = opts; o->key; o++) {
		size_t klen = strlen(o->key);

		if (!strcmp(key, o->key))
			return false;
		if (len + 2 >= klen && klen + 2 >= len && octo_edit_distance(key, o->key) <= 2)
			return false;
	}
	return true;
}

bool audio_name_valid(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++) {
		char c = s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return n > 0 && n <= max;
}

struct audio_waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long seq;
};

static void audio_waiter_wake(void *arg)
{
	struct audio_waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->seq++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* The channel is never locked while w.lock is held. */
void audio_wait_hangup(struct octo_channel *chan)
{
	struct audio_waiter w = { .seq = 0 };
	bool watched;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	watched = octo_chan_watch(chan, audio_waiter_wake, &w) == 0;
	for (;;) {
		unsigned long seq;
		struct timespec ts;

		pthread_mutex_lock(&w.lock);
		seq = w.seq;
		pthread_mutex_unlock(&w.lock);
		if (octo_chan_is_hungup(chan))
			break;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 500 * 1000000L; /* a safety net; the watcher wakes us */
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&w.lock);
		if (w.seq == seq)
			pthread_cond_timedwait(&w.cond, &w.lock, &ts);
		pthread_mutex_unlock(&w.lock);
	}
	if (watched)
		octo_chan_unwatch(chan, audio_waiter_wake, &w);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
}
