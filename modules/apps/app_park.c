/*
 * app_park.c - call parking: a call waits on a numbered orbit with music on
 * hold until someone takes it from any phone, or returns to whoever parked
 * it after the park timeout. Orbits and options are in features.conf
 * [parking], the timeout in [general] park_timeout. Provides
 *
 *   Park()              parks a call (see below) and says its orbit
 *   ParkedCall(orbit)   connects the caller with the call parked there
 *   parking show        the orbits in use (CLI)
 *
 * Which call Park() parks:
 *  - a call moved there by a blind transfer (${TRANSFERRER}, set by the SIP
 *    transfer): the transferred party; the transferring user is the parker
 *    (the phone has left the call: the orbit goes to the log and `parking
 *    show`);
 *  - a user's call with another call of that user in a conversation (the
 *    user put it on hold and dialled the park code): the other party of that
 *    call is moved to the orbit, and the orbit number is said to the user;
 *  - else the calling channel itself, which hears its orbit first.
 *
 * DESIGN: a parked call keeps its own call thread: Park() plays the music
 * on hold class of [parking] moh (musiconhold.conf) until the park timeout
 * or until a retriever is posted (which stops the player at once).
 * ParkedCall() lends its channel (octo_bridge_lend), posts it to the orbit
 * and then only waits, without reading its events, until it is given back;
 * the parked call's thread bridges the two (it is the bridge's own side, so
 * the retriever can transfer it on, and a transfer of the retriever sends
 * it back to its own thread).
 * park_lock guards the orbits; no channel function that takes the
 * channel's lock runs under it (only references and the immutable name).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "octo/bridge.h"
#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sound.h"
#include "octo/users.h"
#include "audio_common.h"

#define PARK_FILE "features.conf"
#define PARK_HOLDER "app_park"
#define PARK_MAX 200          /* orbits at most */
#define PARK_SLICE_MS 200     /* a pause when the music cannot play */
#define PARK_RESERVE_MS 15000 /* a call moved to an orbit must arrive within this */
#define PARK_NAME_MAX 64

struct park_config {
	unsigned first, last;   /* the orbit numbers */
	unsigned timeout;       /* seconds before the call returns */
	char moh[PARK_NAME_MAX];
	char return_procedure[PARK_NAME_MAX];
	unsigned ring_back;     /* seconds the parker's phones ring; 0: their call_timeout */
};

enum park_state { PS_FREE = 0, PS_RESERVED, PS_PARKED };

struct park_slot {
	enum park_state state;
	unsigned orbit;
	struct octo_channel *chan;      /* our reference */
	struct octo_channel *retriever; /* posted by ParkedCall (a reference) */
	atomic_bool taken;              /* set with retriever: stops the music */
	char parker[32];
	char caller[64];
	uint64_t since_ms, until_ms;
};

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static struct park_config *park_current; /* guarded by park_lock */
static struct park_slot park_slots[PARK_MAX];

/* ---------------------------------------------------------------- config */

struct park_cfg {
	char *orbits;
	char *moh;
	char *return_procedure;
	unsigned ring_back;
};

struct park_general_cfg {
	unsigned park_timeout;
};

static void park_free_str(void *field)
{
	char **p = field;

	free(*p);
	*p = NULL;
}

static bool park_parse_range(const char *v, unsigned *first, unsigned *last)
{
	char *end;
	unsigned long a, b;

	if (*v < '0' || *v > '9')
		return false;
	a = strtoul(v, &end, 10);
	if (*end != '-' || end[1] < '0' || end[1] > '9')
		return false;
	b = strtoul(end + 1, &end, 10);
	if (*end || a > 99999999 || b > 99999999 || b < a || b - a >= PARK_MAX)
		return false;
	*first = (unsigned)a;
	*last = (unsigned)b;
	return true;
}

static const char *park_set_orbits(void *field, const char *value)
{
	char **p = field;
	unsigned a, b;

	if (!park_parse_range(value, &a, &b))
		return "is not a range of orbit numbers (like 701-720, at most 200)";
	free(*p);
	*p = octo_strdup(value);
	return NULL;
}

static const char *park_set_name(void *field, const char *value)
{
	char **p = field;
	size_t n = strlen(value);

	if (n >= PARK_NAME_MAX)
		return "is too long";
	for (size_t i = 0; i < n; i++)
		if (!((value[i] >= 'a' && value[i] <= 'z') || (value[i] >= 'A' && value[i] <= 'Z') ||
		      (value[i] >= '0' && value[i] <= '9') || strchr("_-.", value[i])))
			return "is not a name (letters, digits, '_', '-' and '.')";
	free(*p);
	*p = octo_strdup(value);
	return NULL;
}

static const struct octo_cfg_opt park_opts[] = {
	OCTO_CFG_CUSTOM("orbits", struct park_cfg, orbits, "701-720", park_set_orbits,
			park_free_str),
	OCTO_CFG_CUSTOM("moh", struct park_cfg, moh, "default", park_set_name, park_free_str),
	OCTO_CFG_CUSTOM("return_procedure", struct park_cfg, return_procedure, "", park_set_name,
			park_free_str),
	OCTO_CFG_DURATION("ring_back", struct park_cfg, ring_back, "0", 0, 600),
	OCTO_CFG_END
};

static const struct octo_cfg_opt park_general_opts[] = {
	OCTO_CFG_DURATION("park_timeout", struct park_general_cfg, park_timeout, "45", 5, 3600),
	OCTO_CFG_END
};

static bool park_general_ignore(const char *key)
{
	size_t len = strlen(key), klen = strlen("park_timeout");

	if (!strcmp(key, "park_timeout"))
		return false;
	return !(len + 2 >= klen && klen + 2 >= len && octo_edit_distance(key, "park_timeout") <= 2);
}

static struct park_config *park_build(const char *config_dir, struct octo_diags *diags)
{
	static const struct octo_cfg_section none_p = { .name = "parking" };
	static const struct octo_cfg_section none_g = { .name = "general" };
	struct park_cfg pc = { 0 };
	struct park_general_cfg gc = { 0 };
	const struct octo_cfg_section *sec;
	size_t errors = diags->errors;
	struct park_config *c = NULL;
	struct octo_cfg *cfg = octo_cfg_load(config_dir, PARK_FILE, true, diags);

	if (!cfg)
		return NULL;
	sec = octo_cfg_section(cfg, "parking");
	octo_cfg_bind(sec ? sec : &none_p, park_opts, &pc, NULL, diags);
	sec = octo_cfg_section(cfg, "general");
	octo_cfg_bind(sec ? sec : &none_g, park_general_opts, &gc, park_general_ignore, diags);
	if (diags->errors == errors) {
		c = octo_obj_alloc(sizeof(*c), NULL);
		if (c) {
			park_parse_range(pc.orbits, &c->first, &c->last);
			c->timeout = gc.park_timeout;
			octo_strlcpy(c->moh, pc.moh ? pc.moh : "default", sizeof(c->moh));
			octo_strlcpy(c->return_procedure, pc.return_procedure ? pc.return_procedure : "",
				     sizeof(c->return_procedure));
			c->ring_back = pc.ring_back;
		} else {
			octo_diags_add(diags, OCTO_DIAG_ERROR, PARK_FILE, 0, "out of memory");
		}
	}
	octo_cfg_unbind(park_opts, &pc);
	octo_cfg_unbind(park_general_opts, &gc);
	octo_cfg_free(cfg);
	return c;
}

static void park_install(struct park_config *c)
{
	struct park_config *old;

	pthread_mutex_lock(&park_lock);
	old = park_current;
	park_current = c;
	pthread_mutex_unlock(&park_lock);
	octo_obj_unref(old);
}

static struct park_config *park_get(void)
{
	struct park_config *c;

	pthread_mutex_lock(&park_lock);
	c = octo_obj_ref(park_current);
	pthread_mutex_unlock(&park_lock);
	return c;
}

/* ---------------------------------------------------------------- orbits */

/* Under park_lock: a reservation whose call never came is dropped. Returns
 * the channel reference to drop (after unlocking), or NULL. */
static struct octo_channel *park_expire_locked(struct park_slot *s, uint64_t now)
{
	struct octo_channel *chan;

	if (s->state != PS_RESERVED || now < s->since_ms + PARK_RESERVE_MS)
		return NULL;
	chan = s->chan;
	memset(s, 0, sizeof(*s));
	return chan;
}

/* Reserves a free orbit for chan; returns the slot index or -1 (all taken). */
static int park_reserve(const struct park_config *cfg, struct octo_channel *chan,
			const char *parker)
{
	struct octo_channel *drop[PARK_MAX];
	size_t ndrop = 0;
	uint64_t now = octo_now_ms();
	char caller[64];
	int found = -1;

	octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, caller, sizeof(caller));
	pthread_mutex_lock(&park_lock);
	for (int i = 0; i < PARK_MAX; i++) {
		struct octo_channel *c = park_expire_locked(&park_slots[i], now);

		if (c)
			drop[ndrop++] = c;
	}
	for (unsigned orbit = cfg->first; orbit <= cfg->last && found < 0; orbit++) {
		int free_slot = -1;
		bool used = false;

		for (int i = 0; i < PARK_MAX && !used; i++) {
			if (park_slots[i].state == PS_FREE) {
				if (free_slot < 0)
					free_slot = i;
			} else if (park_slots[i].orbit == orbit) {
				used = true;
			}
		}
		if (used || free_slot < 0)
			continue;
		found = free_slot;
		park_slots[found].state = PS_RESERVED;
		park_slots[found].orbit = orbit;
		park_slots[found].chan = octo_obj_ref(chan);
		atomic_store(&park_slots[found].taken, false);
		octo_strlcpy(park_slots[found].parker, parker ? parker : "",
			     sizeof(park_slots[found].parker));
		octo_strlcpy(park_slots[found].caller, caller, sizeof(park_slots[found].caller));
		park_slots[found].since_ms = now;
	}
	pthread_mutex_unlock(&park_lock);
	for (size_t i = 0; i < ndrop; i++)
		octo_obj_unref(drop[i]);
	return found;
}

/* Frees slot i (held by chan); returns a retriever posted meanwhile (a
 * reference) or NULL. */
static struct octo_channel *park_release(int i, struct octo_channel *chan)
{
	struct octo_channel *r = NULL, *c = NULL;

	pthread_mutex_lock(&park_lock);
	if (park_slots[i].chan == chan) {
		r = park_slots[i].retriever;
		c = park_slots[i].chan;
		memset(&park_slots[i], 0, sizeof(park_slots[i]));
	}
	pthread_mutex_unlock(&park_lock);
	octo_obj_unref(c);
	return r;
}

/* ---------------------------------------------------------------- saying things */

static void park_say(struct octo_channel *chan, const char *list)
{
	struct audio_player p;
	char lang[OCTO_SOUND_LANG_MAX], buf[256];
	unsigned played = 0, missing = 0;

	octo_strlcpy(buf, list, sizeof(buf));
	audio_language(chan, lang);
	audio_player_init(&p, chan, "Park");
	audio_play_list(&p, buf, lang, false, &played, &missing);
}

/* "Your call has been parked at" 7 0 1. */
static void park_announce(struct octo_channel *chan, unsigned orbit)
{
	char text[16], names[AUDIO_SAY_MAX][AUDIO_SAY_NAME], list[512] = "park-at";
	int skipped = 0, n;
	size_t off = strlen(list);

	snprintf(text, sizeof(text), "%u", orbit);
	n = audio_say_digits(text, names, AUDIO_SAY_MAX, &skipped);
	for (int i = 0; i < n && off < sizeof(list); i++) {
		int w = snprintf(list + off, sizeof(list) - off, "&%s", names[i]);

		if (w > 0)
			off += (size_t)w;
	}
	park_say(chan, list);
}

/* ---------------------------------------------------------------- Park */

/* Runs an application of another module by name (Dial). */
static int park_run_app(struct octo_channel *chan, const char *name, const char *args)
{
	const struct octo_app *app = octo_registry_get(OCTO_REG_APP, name, PARK_HOLDER);
	char *buf;
	int rc;

	if (!app) {
		octo_chan_step(chan, "Park: the application %s is not loaded", name);
		return OCTO_ENOTFOUND;
	}
	buf = octo_strdup(args);
	rc = app->exec(chan, buf);
	free(buf);
	octo_registry_put(OCTO_REG_APP, app, PARK_HOLDER);
	return rc;
}

/* The parked call went back to the parker after the timeout. */
static int park_return(struct octo_channel *chan, const struct park_config *cfg,
		       const char *parker, unsigned orbit)
{
	char args[64], status[32];
	int rc;

	octo_chan_set(chan, OCTO_CHAN_CALLED, parker);
	if (!*parker) {
		octo_chan_step(chan, "Park: orbit %u timed out; nobody to return to", orbit);
		rc = OCTO_ENOTFOUND;
	} else {
		octo_chan_step(chan, "Park: orbit %u timed out after %u s: the call returns to %s",
			       orbit, cfg->timeout, parker);
		if (cfg->ring_back)
			snprintf(args, sizeof(args), "%s,%u", parker, cfg->ring_back);
		else
			snprintf(args, sizeof(args), "%s", parker);
		rc = park_run_app(chan, "Dial", args);
		if (rc >= 0 && octo_chan_var_get(chan, "DIALSTATUS", status, sizeof(status)) &&
		    (!strcmp(status, "ANSWER") || !strncmp(status, "FORWARD", 7)))
			return rc;
	}
	if (octo_chan_is_hungup(chan))
		return OCTO_APP_HANGUP;
	if (*cfg->return_procedure &&
	    octo_pbx_goto(chan, cfg->return_procedure, *parker ? parker : "default", NULL) == 0) {
		octo_chan_step(chan, "Park: goes on in [%s]", cfg->return_procedure);
		return OCTO_APP_CONTINUE;
	}
	octo_chan_step(chan, "Park: the parker did not take the call back: it ends");
	return OCTO_APP_HANGUP;
}

/* The parked call waits on slot i until retrieved, timed out or gone. */
static int park_wait(struct octo_channel *chan, const struct park_config *cfg, int i)
{
	struct audio_moh cls;
	struct audio_player p;
	struct octo_channel *r = NULL;
	char parker[32];
	unsigned orbit;
	uint64_t until;
	int rc = 0;

	pthread_mutex_lock(&park_lock);
	park_slots[i].state = PS_PARKED;
	park_slots[i].since_ms = octo_now_ms();
	park_slots[i].until_ms = park_slots[i].since_ms + cfg->timeout * 1000ull;
	until = park_slots[i].until_ms;
	orbit = park_slots[i].orbit;
	octo_strlcpy(parker, park_slots[i].parker, sizeof(parker));
	pthread_mutex_unlock(&park_lock);

	octo_chan_step(chan, "Park: parked at orbit %u (parker %s, returns in %u s, music %s)",
		       orbit, *parker ? parker : "none", cfg->timeout, cfg->moh);
	octo_chan_log(chan, OCTO_NOTICE, "call parked at orbit %u by %s", orbit,
		      *parker ? parker : "itself");
	{
		char buf[16];

		snprintf(buf, sizeof(buf), "%u", orbit);
		octo_chan_var_set(chan, "PARKINGSLOT", buf);
	}
	if (audio_moh_class(octo_paths.config_dir, cfg->moh, &cls))
		octo_chan_step(chan, "Park: no music on hold class \"%s\" in %s: the default "
			       "class plays", cfg->moh, AUDIO_MOH_FILE);
	audio_player_init(&p, chan, "Park");
	p.cancel = &park_slots[i].taken; /* the slot is ours until park_release */
	p.deadline_ms = until;
	for (;;) {
		pthread_mutex_lock(&park_lock);
		r = octo_obj_ref(park_slots[i].retriever);
		pthread_mutex_unlock(&park_lock);
		if (r || rc == OCTO_EHANGUP || octo_chan_is_hungup(chan) ||
		    octo_now_ms() >= until || audio_player_past(&p))
			break;
		/* plays until the deadline, a retriever or a hang-up */
		rc = audio_moh_play(&p, &cls);
		if (rc != OCTO_EHANGUP && rc != AUDIO_TIME &&
		    octo_chan_sleep(chan, PARK_SLICE_MS) == OCTO_EHANGUP)
			rc = OCTO_EHANGUP;
	}
	octo_obj_unref(r);
	r = park_release(i, chan); /* a retriever that came at the last moment wins */
	if (octo_chan_is_hungup(chan) || rc == OCTO_EHANGUP) {
		octo_chan_step(chan, "Park: the parked call hung up on orbit %u", orbit);
		if (r) {
			octo_chan_hangup(r, OCTO_CAUSE_NORMAL);
			octo_obj_unref(r);
		}
		return OCTO_APP_HANGUP;
	}
	if (r) {
		octo_chan_step(chan, "Park: %s takes the call from orbit %u", octo_chan_name(r),
			       orbit);
		octo_chan_step(r, "ParkedCall: connected with %s from orbit %u",
			       octo_chan_name(chan), orbit);
		rc = octo_bridge_ex(chan, r, 0);
		octo_obj_unref(r);
		return rc == OCTO_BRIDGE_REDIRECTED ? OCTO_APP_CONTINUE : OCTO_APP_HANGUP;
	}
	return park_return(chan, cfg, parker, orbit);
}

/* The user whose call this is: ${USER}, else the caller number when it is a
 * user; "" when neither. */
static void park_user(struct octo_channel *chan, char *ext, size_t size)
{
	const struct octo_users_api *users;
	struct octo_user *u;

	if (octo_chan_var_get(chan, "USER", ext, size) && *ext)
		return;
	octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, ext, size);
	users = octo_service_get(OCTO_USERS_SERVICE, 1, PARK_HOLDER);
	u = users && *ext ? users->find(ext) : NULL;
	if (!u)
		ext[0] = '\0';
	octo_obj_unref(u);
	octo_service_put(users, PARK_HOLDER);
}

/* The other party of another call of user `ext` (a new reference), or NULL. */
static struct octo_channel *park_held_party(struct octo_channel *chan, const char *ext)
{
	struct octo_channel **list, *peer = NULL;
	size_t count;

	list = octo_chan_list(&count);
	for (size_t i = count; i-- > 0 && !peer;) {
		char user[32];
		const char *name = octo_chan_name(list[i]), *slash = strchr(name, '/');
		size_t len = strlen(ext);
		bool mine;

		if (list[i] == chan || octo_chan_is_hungup(list[i]))
			continue;
		mine = (octo_chan_var_get(list[i], "USER", user, sizeof(user)) &&
			!strcmp(user, ext)) ||
		       (slash && !strncmp(slash + 1, ext, len) && slash[1 + len] == '-');
		if (!mine)
			continue;
		peer = octo_bridge_peer(list[i]);
		if (peer == chan) {
			octo_obj_unref(peer);
			peer = NULL;
		}
	}
	octo_chan_list_free(list, count);
	return peer;
}

static int park_exec(struct octo_channel *chan, char *args)
{
	struct park_config *cfg = park_get();
	char buf[32], ext[32], proc[80], called[80];
	struct octo_channel *other;
	int i = -1, rc;

	if (!cfg)
		return OCTO_EFAIL;
	/* moved here by Park() of the parker's other call: the orbit is ours */
	if (octo_chan_var_get(chan, "PARK_ORBIT", buf, sizeof(buf))) {
		unsigned orbit = (unsigned)strtoul(buf, NULL, 10);

		octo_chan_var_set(chan, "PARK_ORBIT", NULL);
		pthread_mutex_lock(&park_lock);
		for (int k = 0; k < PARK_MAX && i < 0; k++)
			if (park_slots[k].state == PS_RESERVED && park_slots[k].chan == chan &&
			    park_slots[k].orbit == orbit)
				i = k;
		pthread_mutex_unlock(&park_lock);
	}
	if (i < 0 && octo_chan_var_get(chan, "TRANSFERRER", ext, sizeof(ext)) && *ext) {
		octo_chan_var_set(chan, "TRANSFERRER", NULL);
		i = park_reserve(cfg, chan, ext);
		if (i >= 0)
			octo_chan_step(chan, "Park: transferred here by %s: parked at orbit %u "
				       "(%s has left the call: see parking show)", ext,
				       park_slots[i].orbit, ext);
	} else if (i < 0) {
		park_user(chan, ext, sizeof(ext));
		other = *ext ? park_held_party(chan, ext) : NULL;
		if (other) {
			/* the parker's held call: its other party moves to an orbit */
			i = park_reserve(cfg, other, ext);
			if (i >= 0) {
				unsigned orbit = park_slots[i].orbit;

				snprintf(buf, sizeof(buf), "%u", orbit);
				octo_chan_var_set(other, "PARK_ORBIT", buf);
				octo_chan_copy(chan, OCTO_CHAN_PROCEDURE, proc, sizeof(proc));
				octo_chan_copy(chan, OCTO_CHAN_CALLED, called, sizeof(called));
				rc = octo_chan_redirect(other, proc, called);
				if (rc) {
					octo_chan_step(chan, "Park: cannot move %s to orbit %u: %s",
						       octo_chan_name(other), orbit,
						       octo_strerror(rc));
					octo_chan_var_set(other, "PARK_ORBIT", NULL);
					octo_obj_unref(park_release(i, other));
					octo_obj_unref(other);
					octo_obj_unref(cfg);
					park_say(chan, "feat-failed");
					return OCTO_APP_CONTINUE;
				}
				octo_chan_step(chan, "Park: %s (the other party of %s's call) "
					       "parked at orbit %u", octo_chan_name(other), ext,
					       orbit);
				octo_obj_unref(other);
				octo_obj_unref(cfg);
				if (audio_answer(chan, "Park", false) == 0)
					park_announce(chan, orbit);
				return OCTO_APP_HANGUP;
			}
			octo_obj_unref(other);
		} else {
			i = park_reserve(cfg, chan, ext);
			if (i >= 0 && audio_answer(chan, "Park", false) == 0)
				park_announce(chan, park_slots[i].orbit);
		}
	}
	if (i < 0) {
		octo_chan_step(chan, "Park: every orbit (%u-%u) is taken", cfg->first, cfg->last);
		octo_chan_log(chan, OCTO_WARNING, "parking: every orbit (%u-%u) is taken",
			      cfg->first, cfg->last);
		audio_answer(chan, "Park", false);
		park_say(chan, "park-full");
		octo_obj_unref(cfg);
		return OCTO_APP_CONTINUE;
	}
	if (audio_answer(chan, "Park", false)) {
		octo_obj_unref(park_release(i, chan));
		octo_obj_unref(cfg);
		return OCTO_APP_HANGUP;
	}
	rc = park_wait(chan, cfg, i);
	octo_obj_unref(cfg);
	return rc;
}

/* ---------------------------------------------------------------- ParkedCall */

static int park_retrieve_exec(struct octo_channel *chan, char *args)
{
	char *argv[2], *end;
	int argc = octo_args_split(args, argv, 2);
	unsigned long orbit;
	bool taken = false, lent;

	if (argc != 1 || !*argv[0]) {
		octo_chan_step(chan, "ParkedCall: expected the orbit: ParkedCall(orbit)");
		return OCTO_EINVAL;
	}
	orbit = strtoul(argv[0], &end, 10);
	if (*end || argv[0][0] < '0' || argv[0][0] > '9' || orbit > 99999999) {
		octo_chan_step(chan, "ParkedCall: \"%.32s\" is not an orbit number", argv[0]);
		audio_answer(chan, "ParkedCall", false);
		park_say(chan, "park-empty");
		octo_chan_var_set(chan, "PARKEDCALL_STATUS", "EMPTY");
		return OCTO_APP_CONTINUE;
	}
	if (audio_answer(chan, "ParkedCall", false))
		return OCTO_APP_HANGUP;
	/* lent: a blind transfer of the retriever brings it back to this thread */
	lent = octo_bridge_lend(chan) == 0;
	pthread_mutex_lock(&park_lock);
	for (int i = 0; i < PARK_MAX && !taken; i++) {
		struct park_slot *s = &park_slots[i];

		if (s->state != PS_PARKED || s->orbit != orbit || s->retriever || s->chan == chan)
			continue;
		s->retriever = octo_obj_ref(chan);
		atomic_store(&s->taken, true);
		taken = true;
	}
	pthread_mutex_unlock(&park_lock);
	if (!taken) {
		if (lent)
			octo_bridge_lend_end(chan);
		octo_chan_step(chan, "ParkedCall: no call is parked at orbit %lu", orbit);
		octo_chan_var_set(chan, "PARKEDCALL_STATUS", "EMPTY");
		park_say(chan, "park-empty");
		return OCTO_APP_CONTINUE;
	}
	octo_chan_step(chan, "ParkedCall: takes the call parked at orbit %lu", orbit);
	octo_chan_var_set(chan, "PARKEDCALL_STATUS", "OK");
	if (lent)
		return octo_bridge_lend_wait(chan) == OCTO_BRIDGE_REDIRECTED ? OCTO_APP_CONTINUE
									  : OCTO_APP_HANGUP;
	audio_wait_hangup(chan);
	return OCTO_APP_HANGUP;
}

/* ---------------------------------------------------------------- CLI */

static int park_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct park_config *cfg = park_get();
	uint64_t now = octo_now_ms();
	unsigned n = 0;

	if (argc != 2) {
		octo_obj_unref(cfg);
		return OCTO_CLI_USAGE;
	}
	octo_cli_columns(out, "orbit", "state", "channel", "caller", "parker", "parked",
			 "returns in", NULL);
	pthread_mutex_lock(&park_lock);
	for (int i = 0; i < PARK_MAX; i++) {
		const struct park_slot *s = &park_slots[i];
		char orbit[16], since[24], until[24];

		if (s->state == PS_FREE)
			continue;
		n++;
		snprintf(orbit, sizeof(orbit), "%u", s->orbit);
		snprintf(since, sizeof(since), "%llus",
			 (unsigned long long)((now - s->since_ms) / 1000u));
		if (s->state == PS_PARKED)
			snprintf(until, sizeof(until), "%llus",
				 (unsigned long long)(s->until_ms > now ? (s->until_ms - now) / 1000u
									: 0));
		else
			octo_strlcpy(until, "-", sizeof(until));
		octo_cli_row(out, orbit,
			     s->state == PS_PARKED ? s->retriever ? "taken" : "parked" : "arriving",
			     octo_chan_name(s->chan), s->caller, *s->parker ? s->parker : "-", since,
			     until, NULL);
	}
	pthread_mutex_unlock(&park_lock);
	if (cfg) {
		octo_cli_kv(out, "orbits", "%u-%u", cfg->first, cfg->last);
		octo_cli_kv(out, "park timeout", "%us", cfg->timeout);
		octo_cli_kv(out, "music on hold", "%s", cfg->moh);
		octo_cli_kv(out, "return procedure", "%s",
			    *cfg->return_procedure ? cfg->return_procedure : "(none: hang up)");
	}
	octo_cli_kv(out, "parked calls", "%u", n);
	octo_obj_unref(cfg);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd park_cli[] = {
	{ "parking show", "Parked calls and the orbits (features.conf [parking])", NULL,
	  park_cli_show, NULL },
	{ 0 }
};

/* ---------------------------------------------------------------- module */

static const char park_description[] =
	"Parks a call on a free orbit of features.conf [parking] (orbits = 701-720) with music\n"
	"on hold (moh = a class of musiconhold.conf), where anyone can take it with\n"
	"ParkedCall(orbit). Which call:\n"
	"  - one moved here by a blind transfer (${TRANSFERRER}): the transferred party; the\n"
	"    transferring user is the parker (the orbit is logged and in `parking show`);\n"
	"  - when the caller is a user with another call in a conversation (on hold), the\n"
	"    other party of that call: it moves to the orbit and the orbit is said to the\n"
	"    user, whose call then ends;\n"
	"  - else the caller itself, after hearing its orbit.\n"
	"After features.conf [general] park_timeout the call returns to the parker (Dial of\n"
	"the parker, ring_back seconds or the user's call_timeout); when that fails it goes\n"
	"on in return_procedure at the parker's number (or `default`), else it ends.\n"
	"Sets ${PARKINGSLOT}. When every orbit is taken, the caller hears \"park-full\" and\n"
	"the next step runs.";

static const char park_retrieve_description[] =
	"Connects the caller with the call parked at `orbit` (see Park). When no call is\n"
	"parked there the caller hears \"there is no call parked there\", the next step runs\n"
	"and ${PARKEDCALL_STATUS} is EMPTY (OK when connected).";

static const struct octo_app park_apps[] = {
	{ .name = "Park",
	  .synopsis = "Park a call on an orbit (features.conf [parking])",
	  .syntax = "Park()",
	  .description = park_description,
	  .exec = park_exec },
	{ .name = "ParkedCall",
	  .synopsis = "Take the call parked at an orbit",
	  .syntax = "ParkedCall(orbit)",
	  .description = park_retrieve_description,
	  .exec = park_retrieve_exec },
	{ 0 }
};

static int park_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct park_config *c = park_build(octo_paths.config_dir, &diags);

	for (size_t i = 0; i < diags.count; i++)
		octo_log(diags.items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags.items[i].message);
	octo_diags_free(&diags);
	if (!c)
		return OCTO_LOAD_FAIL;
	if (octo_app_register_all(self, park_apps) || octo_cli_register_all(self, park_cli)) {
		octo_obj_unref(c);
		return OCTO_LOAD_FAIL;
	}
	park_install(c);
	return OCTO_LOAD_OK;
}

static int park_unload(struct octo_module *self)
{
	struct octo_channel *held[PARK_MAX];
	size_t n = 0;

	/* parked calls hold the module (their applications run), so only
	 * reservations that never arrived can be left */
	pthread_mutex_lock(&park_lock);
	for (int i = 0; i < PARK_MAX; i++) {
		if (park_slots[i].state == PS_FREE)
			continue;
		held[n++] = park_slots[i].chan;
		octo_obj_unref(park_slots[i].retriever);
		memset(&park_slots[i], 0, sizeof(park_slots[i]));
	}
	pthread_mutex_unlock(&park_lock);
	for (size_t i = 0; i < n; i++)
		octo_obj_unref(held[i]);
	park_install(NULL);
	return 0;
}

static int park_reload(struct octo_module *self, struct octo_diags *diags)
{
	struct park_config *c = park_build(octo_paths.config_dir, diags);

	if (!c)
		return OCTO_ECONFIG;
	park_install(c);
	return 0;
}

static int park_check(const char *config_dir, struct octo_diags *diags)
{
	struct park_config *c = park_build(config_dir, diags);

	if (!c)
		return OCTO_ECONFIG;
	octo_obj_unref(c);
	return 0;
}

OCTO_MODULE(app_park, .description = "Call parking: Park and ParkedCall (features.conf [parking])",
	    .load = park_load, .unload = park_unload, .reload = park_reload, .check = park_check,
	    .optional = "res_users");
