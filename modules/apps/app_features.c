/*
 * app_features.c - feature codes: what a user dials to change their call
 * features from the phone (status, forwards, call waiting), to pick up a
 * colleague's ringing call, to flip a switch, to park and retrieve calls, to
 * reach voicemail, the echo test and so on. The codes are defined once, in
 * features.conf [codes] (with an optional prefix such as "*"), and the
 * dialplan hands every number starting with the prefix to FeatureCode():
 *
 *   exten => *.,1,FeatureCode()
 *   same => n,Hangup()
 *
 * so administrators change codes in features.conf only. Provides
 *
 *   FeatureCode([number])   runs the code dialled (default ${CALLED})
 *   Pickup([group])         answers a call ringing a member of the caller's
 *                           call groups (or of `group`) in their place
 *   features show           the codes (CLI)
 *
 * The user a code acts for is ${USER} (a user's phone), else the caller
 * number when it is a user. Changes of call features go to the users
 * service (users.h, version 2): they are stored, survive a restart and
 * override users.conf for Dial and CallGroup.
 *
 * DESIGN: the codes and the [general] keys read here form an immutable
 * refcounted snapshot swapped atomically on reload (ft_lock guards only the
 * pointer). Applications of other modules (Echo, SetSwitch, VoiceMailMain,
 * Park, ParkedCall, Record) are run by name through the registry, so this
 * module loads without them and says "not available" when one is missing.
 * Pickup lends the picker's channel (octo_bridge_lend), hands it to the
 * caller's dial set (octo_dial_pickup) and then only waits, without reading
 * its events, until the bridge that took it gives it back: hung up, or
 * moved by a blind transfer (its dialplan then goes on here, on its own
 * call thread).
 */
#include <pthread.h>
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
#include "octo/users.h"
#include "audio_common.h"

#define FT_FILE "features.conf"
#define FT_GROUPS_FILE "callgroups.conf"
#define FT_HOLDER "app_features"
#define FT_CODE_MAX 8     /* digits of a code */
#define FT_PREFIX_MAX 4   /* characters of the prefix */
#define FT_NUMBER_MAX 64  /* a number dialled */
#define FT_PARTS 4        /* code*arg*arg*arg */
#define FT_PICK_MAX 64    /* members looked at for a pickup */

/* The codes, in the order of features show. */
enum ft_code {
	FC_STATUS,
	FC_FWD_BUSY,
	FC_FWD_NOANSWER,
	FC_FWD_ALL,
	FC_CALL_WAITING,
	FC_PICKUP,
	FC_FAX,
	FC_VOICEMAIL,
	FC_SWITCH,
	FC_PARK,
	FC_RETRIEVE,
	FC_ECHO,
	FC_RECORD,
	FC_COUNT
};

struct ft_code_info {
	const char *key;
	const char *def;
	const char *syntax; /* after the code */
	const char *what;
};

static const struct ft_code_info ft_codes[FC_COUNT] = {
	[FC_STATUS] = { "status", "60", "*N", "status: 0 available, 1 do not disturb, 2 away" },
	[FC_FWD_BUSY] = { "forward_busy", "61", "*N[*NUMBER]",
			  "forward on busy: 0 off, 1 on, 2*NUMBER set the number (and on)" },
	[FC_FWD_NOANSWER] = { "forward_noanswer", "62", "*N[*NUMBER]",
			      "forward on no answer: 0 off, 1 on, 2*NUMBER set the number" },
	[FC_FWD_ALL] = { "forward_all", "63", "*N[*NUMBER]",
			 "forward always: 0 off, 1 on, 2*NUMBER set the number" },
	[FC_CALL_WAITING] = { "call_waiting", "64", "*N", "call waiting: 0 off, 1 on" },
	[FC_PICKUP] = { "pickup", "88", "[*79*GROUP]",
			"pick up a call ringing in your call groups, or in GROUP" },
	[FC_FAX] = { "fax", "90", "*EXT", "fax relay: rings the FXS fax port of user EXT" },
	[FC_VOICEMAIL] = { "voicemail", "98", "[*BOX]", "voicemail: your mailbox, or BOX" },
	[FC_SWITCH] = { "switch", "21", "*SWITCH[*N]",
			"switch by name or number: toggle, or N 0 off, 1 on, 2 extra" },
	[FC_PARK] = { "park", "70", "", "park the call you hold (or yourself)" },
	[FC_RETRIEVE] = { "retrieve", "71", "*ORBIT", "take the call parked at ORBIT" },
	[FC_ECHO] = { "echo", "43", "", "echo test: what you say comes back" },
	[FC_RECORD] = { "record", "97", "*N", "record a sound: recordings/feature-N.wav" },
};

enum ft_vm_quality { FT_VMQ_LOW, FT_VMQ_STANDARD, FT_VMQ_HIGH };
static const char *const ft_vm_quality_names[] = { "low", "standard", "high", NULL };

/* The snapshot of features.conf this module reads. */
struct ft_config {
	char prefix[FT_PREFIX_MAX + 1];
	char codes[FC_COUNT][FT_CODE_MAX + 1]; /* "" = disabled */
	char pickup_group[FT_CODE_MAX + 1];    /* the *79* of 88*79*GROUP */
	/* [general] */
	unsigned internal_call_timeout; /* seconds */
	bool dial_tones;
	int vm_quality;
	bool vm_announce_date, vm_announce_time, vm_announce_caller;
};

static pthread_mutex_t ft_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ft_config *ft_current; /* guarded by ft_lock */

/* ---------------------------------------------------------------- config */

struct ft_codes_cfg {
	char *prefix;
	char *codes[FC_COUNT];
	char *pickup_group;
};

static void ft_free_str(void *field)
{
	char **p = field;

	free(*p);
	*p = NULL;
}

/* A code: 1 to FT_CODE_MAX digits, or empty (disabled). */
static const char *ft_set_code(void *field, const char *value)
{
	char **p = field;
	size_t n = strlen(value);

	if (n > FT_CODE_MAX)
		return "is not a code (1 to 8 digits, or empty to disable it)";
	for (size_t i = 0; i < n; i++)
		if (value[i] < '0' || value[i] > '9')
			return "is not a code (1 to 8 digits, or empty to disable it)";
	free(*p);
	*p = octo_strdup(value);
	return NULL;
}

static const char *ft_set_prefix(void *field, const char *value)
{
	char **p = field;
	size_t n = strlen(value);

	if (n > FT_PREFIX_MAX)
		return "is not a prefix (up to 4 of the keys 0-9, * and #, or empty)";
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789*#", value[i]))
			return "is not a prefix (up to 4 of the keys 0-9, * and #, or empty)";
	free(*p);
	*p = octo_strdup(value);
	return NULL;
}

#define FT_CODE_OPT(i)                                                                             \
	{ .key = NULL, .type = OCTO_CFG_T_CUSTOM,                                                  \
	  .offset = offsetof(struct ft_codes_cfg, codes) + (i) * sizeof(char *), .set = ft_set_code, \
	  .free = ft_free_str }

static struct octo_cfg_opt ft_codes_opts[FC_COUNT + 3];
static pthread_once_t ft_opts_once = PTHREAD_ONCE_INIT;

static void ft_opts_init(void)
{
	size_t n = 0;

	ft_codes_opts[n++] = (struct octo_cfg_opt)OCTO_CFG_CUSTOM(
		"prefix", struct ft_codes_cfg, prefix, "*", ft_set_prefix, ft_free_str);
	for (int i = 0; i < FC_COUNT; i++) {
		ft_codes_opts[n] = (struct octo_cfg_opt)FT_CODE_OPT(i);
		ft_codes_opts[n].key = ft_codes[i].key;
		ft_codes_opts[n].def = ft_codes[i].def;
		ft_codes_opts[n].doc = ft_codes[i].what;
		n++;
	}
	ft_codes_opts[n++] = (struct octo_cfg_opt)OCTO_CFG_CUSTOM(
		"pickup_group", struct ft_codes_cfg, pickup_group, "79", ft_set_code, ft_free_str);
	ft_codes_opts[n] = (struct octo_cfg_opt)OCTO_CFG_END;
}

/* features.conf [general]: the keys of this part (the others belong to
 * app_numbering, the audio applications and app_park). */
struct ft_general_cfg {
	unsigned internal_call_timeout;
	bool dial_tones;
	int vm_quality;
	bool vm_announce_date, vm_announce_time, vm_announce_caller;
};

static const struct octo_cfg_opt ft_general_opts[] = {
	OCTO_CFG_DURATION("internal_call_timeout", struct ft_general_cfg, internal_call_timeout,
			  "30", 5, 3600),
	OCTO_CFG_BOOL("dial_tones", struct ft_general_cfg, dial_tones, "yes"),
	OCTO_CFG_ENUM("voicemail_quality", struct ft_general_cfg, vm_quality, "standard",
		      ft_vm_quality_names),
	OCTO_CFG_BOOL("voicemail_announce_date", struct ft_general_cfg, vm_announce_date, "yes"),
	OCTO_CFG_BOOL("voicemail_announce_time", struct ft_general_cfg, vm_announce_time, "yes"),
	OCTO_CFG_BOOL("voicemail_announce_caller", struct ft_general_cfg, vm_announce_caller,
		      "yes"),
	OCTO_CFG_END
};

/* [general] is shared: a key that is not ours is another part's, unless it
 * looks like a misspelling of one of ours (octo_cfg_bind then warns). */
static bool ft_general_ignore(const char *key)
{
	return audio_cfg_foreign_key(key, ft_general_opts);
}

/* Reads features.conf from config_dir; NULL with every problem in diags. */
static struct ft_config *ft_build(const char *config_dir, struct octo_diags *diags)
{
	static const struct octo_cfg_section none_codes = { .name = "codes" };
	static const struct octo_cfg_section none_general = { .name = "general" };
	struct ft_codes_cfg cc = { 0 };
	struct ft_general_cfg gc = { 0 };
	const struct octo_cfg_section *sec;
	size_t errors = diags->errors;
	struct ft_config *c = NULL;
	struct octo_cfg *cfg;

	pthread_once(&ft_opts_once, ft_opts_init);
	cfg = octo_cfg_load(config_dir, FT_FILE, true, diags);
	if (!cfg)
		return NULL;
	sec = octo_cfg_section(cfg, "codes");
	octo_cfg_bind(sec ? sec : &none_codes, ft_codes_opts, &cc, NULL, diags);
	sec = octo_cfg_section(cfg, "general");
	octo_cfg_bind(sec ? sec : &none_general, ft_general_opts, &gc, ft_general_ignore, diags);
	if (diags->errors == errors) {
		/* two codes alike could never both be reached */
		sec = octo_cfg_section(cfg, "codes");
		for (int i = 0; i < FC_COUNT; i++) {
			for (int j = i + 1; j < FC_COUNT; j++) {
				const struct octo_cfg_var *v;

				if (!cc.codes[i] || !cc.codes[j] || !*cc.codes[i] ||
				    strcmp(cc.codes[i], cc.codes[j]))
					continue;
				v = sec ? octo_cfg_var_find(sec, ft_codes[j].key) : NULL;
				if (!v && sec)
					v = octo_cfg_var_find(sec, ft_codes[i].key);
				octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : FT_FILE,
					       v ? v->line : 0,
					       "[codes] %s: code %s is already the code of %s",
					       ft_codes[j].key, cc.codes[j], ft_codes[i].key);
			}
		}
		if (!cc.pickup_group || !*cc.pickup_group) {
			const struct octo_cfg_var *v =
				sec ? octo_cfg_var_find(sec, "pickup_group") : NULL;

			octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : FT_FILE,
				       v ? v->line : 0, "[codes] pickup_group: must not be empty");
		}
	}
	if (diags->errors == errors) {
		c = octo_obj_alloc(sizeof(*c), NULL);
		if (c) {
			octo_strlcpy(c->prefix, cc.prefix ? cc.prefix : "", sizeof(c->prefix));
			for (int i = 0; i < FC_COUNT; i++)
				octo_strlcpy(c->codes[i], cc.codes[i] ? cc.codes[i] : "",
					     sizeof(c->codes[i]));
			octo_strlcpy(c->pickup_group, cc.pickup_group, sizeof(c->pickup_group));
			c->internal_call_timeout = gc.internal_call_timeout;
			c->dial_tones = gc.dial_tones;
			c->vm_quality = gc.vm_quality;
			c->vm_announce_date = gc.vm_announce_date;
			c->vm_announce_time = gc.vm_announce_time;
			c->vm_announce_caller = gc.vm_announce_caller;
		} else {
			octo_diags_add(diags, OCTO_DIAG_ERROR, FT_FILE, 0, "out of memory");
		}
	}
	octo_cfg_unbind(ft_codes_opts, &cc);
	octo_cfg_unbind(ft_general_opts, &gc);
	octo_cfg_free(cfg);
	return c;
}

static void ft_install(struct ft_config *c)
{
	struct ft_config *old;

	pthread_mutex_lock(&ft_lock);
	old = ft_current;
	ft_current = c;
	pthread_mutex_unlock(&ft_lock);
	octo_obj_unref(old);
}

static struct ft_config *ft_get(void)
{
	struct ft_config *c;

	pthread_mutex_lock(&ft_lock);
	c = octo_obj_ref(ft_current);
	pthread_mutex_unlock(&ft_lock);
	return c;
}

/* ---------------------------------------------------------------- helpers */

/* Plays the '&'-separated prompts of `list` to the caller. */
static int ft_say(struct octo_channel *chan, const char *list)
{
	struct audio_player p;
	char lang[OCTO_SOUND_LANG_MAX], buf[512];
	unsigned played = 0, missing = 0;
	int rc;

	octo_strlcpy(buf, list, sizeof(buf));
	audio_language(chan, lang);
	audio_player_init(&p, chan, "FeatureCode");
	rc = audio_play_list(&p, buf, lang, false, &played, &missing);
	return rc == OCTO_EHANGUP ? rc : 0;
}

/* Says a number digit by digit (a forward destination, an orbit). */
static int ft_say_digits(struct octo_channel *chan, const char *text)
{
	char names[AUDIO_SAY_MAX][AUDIO_SAY_NAME], list[AUDIO_SAY_MAX * (AUDIO_SAY_NAME + 1)];
	int skipped = 0, n = audio_say_digits(text, names, AUDIO_SAY_MAX, &skipped);
	size_t off = 0;

	list[0] = '\0';
	for (int i = 0; i < n && off < sizeof(list); i++) {
		int w = snprintf(list + off, sizeof(list) - off, "%s%s", i ? "&" : "", names[i]);

		if (w > 0)
			off += (size_t)w;
	}
	return n > 0 ? ft_say(chan, list) : 0;
}

static void ft_result(struct octo_channel *chan, const char *feature, const char *status)
{
	octo_chan_var_set(chan, "FEATURE", feature);
	octo_chan_var_set(chan, "FEATURE_STATUS", status);
	octo_chan_step(chan, "FeatureCode: %s: FEATURE_STATUS=%s", feature, status);
}

/* The code was not valid: the caller is told so, not left in silence. */
static int ft_invalid(struct octo_channel *chan, const char *number, const char *why)
{
	octo_chan_step(chan, "FeatureCode: \"%.64s\" is not a valid feature code: %s", number,
		       why);
	octo_chan_log(chan, OCTO_NOTICE, "feature code \"%.64s\" is not valid: %s", number, why);
	ft_result(chan, "invalid", "INVALID");
	ft_say(chan, "feat-invalid");
	return OCTO_APP_CONTINUE;
}

static bool ft_digits(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (s[n] < '0' || s[n] > '9')
			return false;
	return n > 0 && n <= max;
}

/* The user the code acts for, into ext; false when the caller is no user. */
static bool ft_user(struct octo_channel *chan, const struct octo_users_api *users, char *ext,
		    size_t size)
{
	struct octo_user *u;

	if (!octo_chan_var_get(chan, "USER", ext, size) || !*ext)
		octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, ext, size);
	u = users && *ext ? users->find(ext) : NULL;
	octo_obj_unref(u);
	return u != NULL;
}

/* Runs a dialplan application of another module by name. *missing is set
 * when it is not loaded. */
static int ft_run_app(struct octo_channel *chan, const char *name, const char *args,
		      bool *missing)
{
	const struct octo_app *app = octo_registry_get(OCTO_REG_APP, name, FT_HOLDER);
	char *buf;
	int rc;

	*missing = !app;
	if (!app) {
		octo_chan_step(chan, "FeatureCode: the application %s is not loaded", name);
		return OCTO_ENOTFOUND;
	}
	buf = octo_strdup(args ? args : "");
	octo_chan_step(chan, "FeatureCode: runs %s(%s)", name, buf);
	rc = app->exec(chan, buf);
	free(buf);
	octo_registry_put(OCTO_REG_APP, app, FT_HOLDER);
	return rc;
}

/* A feature whose application is missing, or that needs what Octo does not
 * have yet: said to the caller and logged. */
static int ft_not_available(struct octo_channel *chan, const char *feature, const char *why)
{
	octo_chan_log(chan, OCTO_NOTICE, "feature %s is not available: %s", feature, why);
	ft_result(chan, feature, "UNAVAILABLE");
	ft_say(chan, "feat-notavail");
	return OCTO_APP_CONTINUE;
}

/* ---------------------------------------------------------------- pickup */

struct ft_members {
	char ext[FT_PICK_MAX][24];
	size_t count;
	size_t groups; /* groups found */
};

struct ft_group_cfg {
	struct octo_cfg_list members;
	char *number;
};

static const struct octo_cfg_opt ft_group_opts[] = {
	OCTO_CFG_LIST("members", struct ft_group_cfg, members, NULL, OCTO_CFG_MULTI),
	OCTO_CFG_STR("number", struct ft_group_cfg, number, NULL, 0),
	OCTO_CFG_END
};

static bool ft_ignore_all(const char *key)
{
	return strcmp(key, "members") != 0 && strcmp(key, "number") != 0;
}

static void ft_members_add(struct ft_members *m, const char *ext)
{
	for (size_t i = 0; i < m->count; i++)
		if (!strcmp(m->ext[i], ext))
			return;
	if (m->count < FT_PICK_MAX && strlen(ext) < sizeof(m->ext[0]))
		octo_strlcpy(m->ext[m->count++], ext, sizeof(m->ext[0]));
}

/* The members of `group` (NULL: of every group `picker` is a member of),
 * from callgroups.conf as it is on disk (app_callgroup owns the file).
 * `group` is a group's name (any case) or its number (number =); a name
 * wins over a number that is the same. */
static void ft_group_members(const char *group, const char *picker, struct ft_members *out)
{
	struct octo_diags diags = { 0 };
	struct octo_cfg *cfg = octo_cfg_load(octo_paths.config_dir, FT_GROUPS_FILE, true, &diags);
	bool by_name = false;

	memset(out, 0, sizeof(*out));
	for (const struct octo_cfg_section *s = cfg && group ? octo_cfg_first(cfg) : NULL; s;
	     s = octo_cfg_next(s))
		by_name |= !strcasecmp(s->name, group);
	for (const struct octo_cfg_section *s = cfg ? octo_cfg_first(cfg) : NULL; s;
	     s = octo_cfg_next(s)) {
		struct ft_group_cfg g = { 0 };
		bool in = false;

		if (group && by_name && strcasecmp(s->name, group))
			continue;
		octo_cfg_bind(s, ft_group_opts, &g, ft_ignore_all, &diags);
		if (group && !by_name && (!g.number || strcmp(g.number, group))) {
			octo_cfg_unbind(ft_group_opts, &g);
			continue;
		}
		for (size_t i = 0; i < g.members.count && !group; i++)
			in |= !strcmp(g.members.items[i], picker);
		if (group || in) {
			out->groups++;
			for (size_t i = 0; i < g.members.count; i++)
				ft_members_add(out, g.members.items[i]);
		}
		octo_cfg_unbind(ft_group_opts, &g);
	}
	octo_cfg_free(cfg);
	octo_diags_free(&diags);
}

/* Picks up a call ringing one of the members. Returns OCTO_ENOTFOUND, or
 * when the picker was handed over and is back: OCTO_BRIDGE_A_ENDED (it has
 * hung up) or OCTO_BRIDGE_REDIRECTED (transferred: its dialplan goes on). */
static int ft_pickup_members(struct octo_channel *chan, const char *picker,
			     const struct ft_members *m)
{
	struct octo_channel **list;
	size_t count;
	int rc = OCTO_ENOTFOUND;
	/* lent: a blind transfer of the picker brings it back to this thread */
	bool lent = octo_bridge_lend(chan) == 0;

	list = octo_chan_list(&count);
	for (size_t i = 0; i < count && rc; i++) {
		enum octo_chan_state st = octo_chan_state(list[i]);
		char user[32];
		bool member = false;

		if (list[i] == chan || octo_chan_is_hungup(list[i]) ||
		    (st != OCTO_CHAN_RINGING && st != OCTO_CHAN_DIALING) ||
		    !octo_chan_var_get(list[i], "USER", user, sizeof(user)) || !strcmp(user, picker))
			continue;
		for (size_t k = 0; k < m->count && !member; k++)
			member = !strcmp(m->ext[k], user);
		if (!member)
			continue;
		octo_chan_step(chan, "Pickup: tries %s (ringing user %s)", octo_chan_name(list[i]),
			       user);
		rc = octo_dial_pickup(list[i], chan);
		if (!rc)
			octo_chan_step(chan, "Pickup: took the call ringing %s (user %s)",
				       octo_chan_name(list[i]), user);
	}
	octo_chan_list_free(list, count);
	if (rc) {
		if (lent)
			octo_bridge_lend_end(chan);
		return OCTO_ENOTFOUND;
	}
	if (lent)
		return octo_bridge_lend_wait(chan);
	audio_wait_hangup(chan);
	return OCTO_BRIDGE_A_ENDED;
}

/* The pickup itself, for FeatureCode and Pickup(). */
static int ft_pickup(struct octo_channel *chan, const char *group)
{
	const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, FT_HOLDER);
	struct ft_members *m = calloc(1, sizeof(*m));
	char ext[32] = "";
	bool is_user = ft_user(chan, users, ext, sizeof(ext));
	int rc;

	octo_service_put(users, FT_HOLDER);
	if (!m)
		return OCTO_ENOMEM;
	if (!group && !is_user) {
		free(m);
		octo_chan_step(chan, "Pickup: the caller %s is not a user: no call groups", ext);
		ft_result(chan, "pickup", "NOTFOUND");
		ft_say(chan, "feat-nopickup");
		return OCTO_APP_CONTINUE;
	}
	ft_group_members(group, ext, m);
	if (!m->groups) {
		octo_chan_step(chan, group ? "Pickup: no call group \"%s\" in %s"
				     : "Pickup: user %s is in no call group of %s",
			       group ? group : ext, FT_GROUPS_FILE);
		free(m);
		ft_result(chan, "pickup", "NOTFOUND");
		ft_say(chan, "feat-nopickup");
		return OCTO_APP_CONTINUE;
	}
	if (audio_answer(chan, "Pickup", false)) {
		free(m);
		return OCTO_APP_HANGUP;
	}
	rc = ft_pickup_members(chan, ext, m);
	free(m);
	if (rc == OCTO_BRIDGE_REDIRECTED) {
		ft_result(chan, "pickup", "OK");
		return OCTO_APP_CONTINUE;
	}
	if (rc == OCTO_BRIDGE_A_ENDED) {
		ft_result(chan, "pickup", "OK");
		return OCTO_APP_HANGUP;
	}
	octo_chan_step(chan, "Pickup: no call is ringing a member of %s", group ? group : "them");
	ft_result(chan, "pickup", "NOTFOUND");
	ft_say(chan, "feat-nopickup");
	return OCTO_APP_CONTINUE;
}

static int ft_pickup_exec(struct octo_channel *chan, char *args)
{
	char *argv[2];
	int argc = octo_args_split(args, argv, 2);

	if (argc > 1) {
		octo_chan_step(chan, "Pickup: expected at most one argument (a call group)");
		return OCTO_EINVAL;
	}
	return ft_pickup(chan, argc == 1 && *argv[0] ? argv[0] : NULL);
}

/* ---------------------------------------------------------------- the codes */

struct ft_call {
	struct octo_channel *chan;
	const struct ft_config *cfg;
	const struct octo_users_api *users; /* version 2, or NULL */
	char number[FT_NUMBER_MAX + 1];     /* as dialled */
	char *part[FT_PARTS];               /* code*arg*arg, cut up */
	int nparts;
	char ext[32];                       /* the user */
	bool is_user;
	char by[64];                        /* "feature code *60*1" */
};

/* Says a stored change failed, or confirms it. */
static int ft_store_result(struct ft_call *c, const char *feature, int rc, const char *prompts)
{
	if (rc) {
		octo_chan_step(c->chan, "FeatureCode: %s for user %s: cannot be stored (%s)",
			       feature, c->ext, octo_strerror(rc));
		ft_result(c->chan, feature, "FAILED");
		ft_say(c->chan, "feat-failed");
		return OCTO_APP_CONTINUE;
	}
	ft_result(c->chan, feature, "OK");
	ft_say(c->chan, prompts);
	return OCTO_APP_CONTINUE;
}

static bool ft_need_user(struct ft_call *c)
{
	if (!c->users) {
		ft_not_available(c->chan, "user settings",
				 "the users service (res_users, version 2) is not loaded");
		return false;
	}
	if (!c->is_user) {
		ft_invalid(c->chan, c->number, "the caller is not a user");
		return false;
	}
	return true;
}

static int ft_status(struct ft_call *c)
{
	static const char *const values[] = { "available", "dnd", "away" };
	static const char *const prompts[] = { "feat-available", "feat-dnd&feat-activated",
					       "feat-away" };
	int n;

	if (c->nparts != 2 || strlen(c->part[1]) != 1 || c->part[1][0] < '0' ||
	    c->part[1][0] > '2')
		return ft_invalid(c->chan, c->number, "status needs *0, *1 or *2");
	if (!ft_need_user(c))
		return OCTO_APP_CONTINUE;
	n = c->part[1][0] - '0';
	octo_chan_step(c->chan, "FeatureCode: user %s status %s", c->ext, values[n]);
	return ft_store_result(c, "status",
			       c->users->set_override(c->ext, "status", values[n], c->by),
			       prompts[n]);
}

static int ft_forward(struct ft_call *c, int code)
{
	static const char *const kinds[] = { "busy", "noanswer", "all" };
	static const char *const names[] = { "feat-cf-busy", "feat-cf-noanswer",
					     "feat-callforward" };
	int k = code - FC_FWD_BUSY, rc;
	char key[32], key_to[40], prompts[96];
	struct octo_user *u;
	const char *now;

	snprintf(key, sizeof(key), "forward_%s", kinds[k]);
	snprintf(key_to, sizeof(key_to), "forward_%s_to", kinds[k]);
	if (c->nparts < 2 || strlen(c->part[1]) != 1)
		return ft_invalid(c->chan, c->number, "a forward needs *0, *1 or *2*NUMBER");
	switch (c->part[1][0]) {
	case '0':
	case '1':
		if (c->nparts != 2)
			return ft_invalid(c->chan, c->number, "*0 and *1 take no number");
		if (!ft_need_user(c))
			return OCTO_APP_CONTINUE;
		rc = c->users->set_override(c->ext, key, c->part[1][0] == '1' ? "on" : "off",
					    c->by);
		break;
	case '2':
		if (c->nparts != 3 || !ft_digits(c->part[2], 32))
			return ft_invalid(c->chan, c->number, "*2 needs the number: *2*NUMBER");
		if (!ft_need_user(c))
			return OCTO_APP_CONTINUE;
		if (!strcmp(c->part[2], c->ext))
			return ft_invalid(c->chan, c->number, "a user cannot forward to itself");
		rc = c->users->set_override(c->ext, key_to, c->part[2], c->by);
		if (!rc)
			rc = c->users->set_override(c->ext, key, "on", c->by);
		break;
	default:
		return ft_invalid(c->chan, c->number, "a forward needs *0, *1 or *2*NUMBER");
	}
	if (rc)
		return ft_store_result(c, key, rc, "");
	u = c->users->find(c->ext);
	now = !u ? "" : k == 0 ? u->forward_busy : k == 1 ? u->forward_noanswer : u->forward_all;
	if (c->part[1][0] != '0' && u && !*now) {
		octo_chan_step(c->chan, "FeatureCode: user %s: %s is on but no number is set "
			       "(%s*2*NUMBER sets one)", c->ext, key, c->cfg->codes[code]);
		octo_obj_unref(u);
		ft_result(c->chan, key, "NONUMBER");
		ft_say(c->chan, "feat-cf-nonumber");
		return OCTO_APP_CONTINUE;
	}
	octo_chan_step(c->chan, "FeatureCode: user %s: %s %s%s%s", c->ext, key,
		       *now ? "on to " : "off", now, "");
	snprintf(prompts, sizeof(prompts), "%s&%s", names[k],
		 c->part[1][0] == '0' ? "feat-deactivated" : "feat-activated");
	ft_result(c->chan, key, "OK");
	ft_say(c->chan, prompts);
	if (*now && strcmp(now, "VOICEMAIL")) {
		ft_say(c->chan, "feat-to");
		ft_say_digits(c->chan, now);
	}
	octo_obj_unref(u);
	return OCTO_APP_CONTINUE;
}

static int ft_call_waiting(struct ft_call *c)
{
	bool on;

	if (c->nparts != 2 || (strcmp(c->part[1], "0") && strcmp(c->part[1], "1")))
		return ft_invalid(c->chan, c->number, "call waiting needs *0 or *1");
	if (!ft_need_user(c))
		return OCTO_APP_CONTINUE;
	on = c->part[1][0] == '1';
	return ft_store_result(c, "call_waiting",
			       c->users->set_override(c->ext, "call_waiting", on ? "on" : "off",
						      c->by),
			       on ? "feat-cw&feat-activated" : "feat-cw&feat-deactivated");
}

static int ft_switch(struct ft_call *c)
{
	static const char *const states[] = { "off", "on", "extra" };
	const char *state = "toggle";
	char args[96], expr[96], *now;
	bool missing;
	int rc;

	if (c->nparts < 2 || c->nparts > 3 || !*c->part[1])
		return ft_invalid(c->chan, c->number, "a switch needs *SWITCH or *SWITCH*N");
	if (c->nparts == 3) {
		if (strlen(c->part[2]) != 1 || c->part[2][0] < '0' || c->part[2][0] > '2')
			return ft_invalid(c->chan, c->number, "the state is 0 off, 1 on, 2 extra");
		state = states[c->part[2][0] - '0'];
	}
	snprintf(args, sizeof(args), "%s,%s", c->part[1], state);
	rc = ft_run_app(c->chan, "SetSwitch", args, &missing);
	if (missing)
		return ft_not_available(c->chan, "switch", "app_switch is not loaded");
	if (rc < 0) {
		/* SetSwitch said why in the step log: no such switch, no extra state ... */
		return ft_invalid(c->chan, c->number, "SetSwitch refused it");
	}
	snprintf(expr, sizeof(expr), "${SWITCH(%s)}", c->part[1]);
	now = octo_pbx_subst(c->chan, expr);
	ft_result(c->chan, "switch", "OK");
	if (now && !strcmp(now, "on"))
		ft_say(c->chan, "feat-switch-on");
	else if (now && !strcmp(now, "extra"))
		ft_say(c->chan, "feat-switch-extra");
	else
		ft_say(c->chan, "feat-switch-off");
	free(now);
	return OCTO_APP_CONTINUE;
}

/* Runs another module's application for a code; its result is the call's. */
static int ft_app(struct ft_call *c, const char *feature, const char *app, const char *args,
		  const char *module)
{
	bool missing;
	char why[96];
	int rc = ft_run_app(c->chan, app, args, &missing);

	if (missing) {
		snprintf(why, sizeof(why), "%s is not loaded (the application %s)", module, app);
		return ft_not_available(c->chan, feature, why);
	}
	octo_chan_var_set(c->chan, "FEATURE", feature);
	return rc;
}

/* Fax relay: rings the fax machine of user EXT (its FXS gateway port is a
 * device of that user, gateways.conf). Without one the caller is told. */
static int ft_fax(struct ft_call *c)
{
	char status[32] = "";
	int rc = ft_app(c, "fax", "Dial", c->part[1], "app_dial");

	if (rc < 0 || !octo_chan_var_get(c->chan, "DIALSTATUS", status, sizeof(status)) ||
	    strcmp(status, "CHANUNAVAIL"))
		return rc;
	octo_chan_step(c->chan, "FeatureCode: fax relay to %s: no FXS fax port of that user "
		       "can be reached", c->part[1]);
	return ft_not_available(c->chan, "fax", "no FXS fax port of that user can be reached");
}

static int ft_dispatch(struct ft_call *c, int code)
{
	char args[FT_NUMBER_MAX + 32];

	switch (code) {
	case FC_STATUS: return ft_status(c);
	case FC_FWD_BUSY:
	case FC_FWD_NOANSWER:
	case FC_FWD_ALL: return ft_forward(c, code);
	case FC_CALL_WAITING: return ft_call_waiting(c);
	case FC_PICKUP:
		if (c->nparts == 1)
			return ft_pickup(c->chan, NULL);
		if (c->nparts == 3 && !strcmp(c->part[1], c->cfg->pickup_group) && *c->part[2])
			return ft_pickup(c->chan, c->part[2]);
		return ft_invalid(c->chan, c->number, "pickup is the code alone, or *79*GROUP");
	case FC_FAX:
		if (c->nparts != 2 || !ft_digits(c->part[1], 20))
			return ft_invalid(c->chan, c->number, "fax relay needs *EXT");
		return ft_fax(c);
	case FC_VOICEMAIL:
		if (c->nparts > 2 || (c->nparts == 2 && !ft_digits(c->part[1], 20)))
			return ft_invalid(c->chan, c->number, "voicemail is the code, or *BOX");
		return ft_app(c, "voicemail", "VoiceMailMain",
			      c->nparts == 2 ? c->part[1] : c->is_user ? c->ext : "",
			      "app_voicemail");
	case FC_SWITCH: return ft_switch(c);
	case FC_PARK:
		if (c->nparts != 1)
			return ft_invalid(c->chan, c->number, "park is the code alone");
		return ft_app(c, "park", "Park", "", "app_park");
	case FC_RETRIEVE:
		if (c->nparts != 2 || !ft_digits(c->part[1], 8))
			return ft_invalid(c->chan, c->number, "retrieve needs *ORBIT");
		return ft_app(c, "retrieve", "ParkedCall", c->part[1], "app_park");
	case FC_ECHO:
		if (c->nparts != 1)
			return ft_invalid(c->chan, c->number, "the echo test is the code alone");
		if (audio_answer(c->chan, "FeatureCode", false))
			return OCTO_APP_HANGUP;
		return ft_app(c, "echo", "Echo", "", "app_echo");
	case FC_RECORD:
		if (c->nparts != 2 || !ft_digits(c->part[1], 8))
			return ft_invalid(c->chan, c->number, "record needs *N (digits)");
		if (audio_answer(c->chan, "FeatureCode", false))
			return OCTO_APP_HANGUP;
		ft_say(c->chan, "feat-rec-intro");
		snprintf(args, sizeof(args), "recordings/feature-%s,300,10,beep", c->part[1]);
		return ft_app(c, "record", "Record", args, "app_record");
	default: return ft_invalid(c->chan, c->number, "unknown code");
	}
}

static int ft_exec(struct octo_channel *chan, char *args)
{
	struct ft_call c = { .chan = chan };
	struct ft_config *cfg = ft_get();
	char *rest, *save = NULL;
	int code = -1, rc;

	if (!cfg)
		return OCTO_EFAIL;
	c.cfg = cfg;
	if (args && *args)
		octo_strlcpy(c.number, args, sizeof(c.number));
	else
		octo_chan_copy(chan, OCTO_CHAN_CALLED, c.number, sizeof(c.number));
	snprintf(c.by, sizeof(c.by), "feature code %.40s", c.number);
	c.users = octo_service_get(OCTO_USERS_SERVICE, 2, FT_HOLDER);
	c.is_user = ft_user(chan, c.users, c.ext, sizeof(c.ext));
	octo_chan_step(chan, "FeatureCode: \"%.64s\" from %s%s", c.number, *c.ext ? c.ext : "?",
		       c.is_user ? "" : " (not a user)");
	if (audio_answer(chan, "FeatureCode", false)) {
		rc = OCTO_APP_HANGUP;
		goto out;
	}

	rest = c.number;
	if (*cfg->prefix) {
		size_t n = strlen(cfg->prefix);

		if (strncmp(rest, cfg->prefix, n)) {
			rc = ft_invalid(chan, c.number, "it does not start with the prefix");
			goto out;
		}
		rest += n;
	}
	/* cut a copy: c.number stays as dialled for the messages */
	{
		static char empty[] = "";
		char *copy = strdup(rest);

		if (!copy) {
			rc = OCTO_ENOMEM;
			goto out;
		}
		for (char *tok = strtok_r(copy, "*", &save); tok; tok = strtok_r(NULL, "*", &save)) {
			if (c.nparts == FT_PARTS) {
				c.nparts++;
				break;
			}
			c.part[c.nparts++] = tok;
		}
		if (c.nparts == 0)
			c.part[c.nparts++] = empty;
		if (c.nparts > FT_PARTS) {
			rc = ft_invalid(chan, c.number, "too many parts");
			free(copy);
			goto out;
		}
		for (int i = 0; i < FC_COUNT && code < 0; i++)
			if (*cfg->codes[i] && !strcmp(cfg->codes[i], c.part[0]))
				code = i;
		if (code < 0)
			rc = ft_invalid(chan, c.number, "no such code in " FT_FILE " [codes]");
		else
			rc = ft_dispatch(&c, code);
		free(copy);
	}
out:
	octo_service_put(c.users, FT_HOLDER);
	octo_obj_unref(cfg);
	return rc;
}

/* ---------------------------------------------------------------- CLI */

static int ft_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct ft_config *c;

	if (argc != 2)
		return OCTO_CLI_USAGE;
	c = ft_get();
	if (!c) {
		octo_cli_error(out, "No feature codes loaded.");
		return OCTO_CLI_FAIL;
	}
	octo_cli_columns(out, "feature", "dial", "what", NULL);
	for (int i = 0; i < FC_COUNT; i++) {
		char dial[64];

		if (!*c->codes[i]) {
			octo_cli_row(out, ft_codes[i].key, "(disabled)", ft_codes[i].what, NULL);
			continue;
		}
		if (i == FC_PICKUP)
			snprintf(dial, sizeof(dial), "%s%s[*%s*GROUP]", c->prefix, c->codes[i],
				 c->pickup_group);
		else
			snprintf(dial, sizeof(dial), "%s%s%s", c->prefix, c->codes[i],
				 ft_codes[i].syntax);
		octo_cli_row(out, ft_codes[i].key, dial, ft_codes[i].what, NULL);
	}
	octo_cli_kv(out, "prefix", "%s", *c->prefix ? c->prefix : "(none)");
	octo_cli_kv(out, "internal call timeout", "%us", c->internal_call_timeout);
	octo_cli_kv(out, "dial tones", "%s", c->dial_tones ? "yes" : "no");
	octo_cli_kv(out, "voicemail quality", "%s", ft_vm_quality_names[c->vm_quality]);
	octo_cli_kv(out, "voicemail announces", "%s%s%s%s", c->vm_announce_date ? "date " : "",
		    c->vm_announce_time ? "time " : "", c->vm_announce_caller ? "caller" : "",
		    !c->vm_announce_date && !c->vm_announce_time && !c->vm_announce_caller
			    ? "nothing"
			    : "");
	octo_obj_unref(c);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd ft_cli[] = {
	{ "features show", "Feature codes (features.conf [codes])", NULL, ft_cli_show, NULL },
	{ 0 }
};

/* ---------------------------------------------------------------- module */

static const char ft_description[] =
	"Runs the feature code dialled (default: ${CALLED}), as features.conf [codes] defines\n"
	"them (see `features show`): with the prefix (e.g. *) first, then the code, then its\n"
	"arguments separated by '*': *60*1 (do not disturb), *63*2*0612345678 (forward every\n"
	"call to that number). Codes that change a user's call features act for ${USER} (a\n"
	"user's phone), else for the caller number when it is a user; the change is stored\n"
	"(it survives a restart) and overrides users.conf (user show EXT says so). The caller\n"
	"hears a confirmation; a code that is not valid gets the announcement \"this feature\n"
	"code is not valid\". Codes that need another module's application (VoiceMailMain,\n"
	"Park, ParkedCall, SetSwitch, Echo, Record) say \"not available\" when it is not loaded.\n"
	"Sets ${FEATURE} (the feature's name) and ${FEATURE_STATUS}: OK, INVALID, FAILED\n"
	"(cannot be stored), NONUMBER (a forward turned on without a number), NOTFOUND (no\n"
	"call to pick up), UNAVAILABLE.";

static const char ft_pickup_description[] =
	"Answers a call that is ringing a member of the caller's call groups (callgroups.conf:\n"
	"every group the caller's user is a member of), or of `group` (its name, or its number\n"
	"= in callgroups.conf), in their place: the caller of that call is connected with us\n"
	"and the ringing phones stop (answered elsewhere). The oldest ringing call is taken.\n"
	"When there is none, the caller hears \"there is no call to pick up\" and the next\n"
	"step runs (${FEATURE_STATUS}=NOTFOUND). When the caller we took transfers us on\n"
	"(blind transfer), our dialplan goes on there.";

static const struct octo_app ft_apps[] = {
	{ .name = "FeatureCode",
	  .synopsis = "Run a feature code (features.conf [codes])",
	  .syntax = "FeatureCode([number])",
	  .description = ft_description,
	  .exec = ft_exec },
	{ .name = "Pickup",
	  .synopsis = "Pick up a call ringing in the caller's call groups",
	  .syntax = "Pickup([group])",
	  .description = ft_pickup_description,
	  .exec = ft_pickup_exec },
	{ 0 }
};

static void ft_log_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

static int ft_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct ft_config *c = ft_build(octo_paths.config_dir, &diags);

	ft_log_diags(&diags);
	octo_diags_free(&diags);
	if (!c) {
		octo_log(OCTO_ERROR, "%s: errors in [codes] or [general]: no feature codes", FT_FILE);
		return OCTO_LOAD_FAIL;
	}
	audio_features_load();
	if (octo_app_register_all(self, ft_apps) || octo_cli_register_all(self, ft_cli)) {
		octo_obj_unref(c);
		return OCTO_LOAD_FAIL;
	}
	ft_install(c);
	return OCTO_LOAD_OK;
}

static int ft_unload(struct octo_module *self)
{
	ft_install(NULL);
	return 0;
}

static int ft_reload(struct octo_module *self, struct octo_diags *diags)
{
	struct ft_config *c = ft_build(octo_paths.config_dir, diags);

	if (!c) {
		octo_log(OCTO_WARNING, "%s: reload refused: the running feature codes stay", FT_FILE);
		return OCTO_ECONFIG;
	}
	audio_features_reload(diags);
	ft_install(c);
	return 0;
}

static int ft_check(const char *config_dir, struct octo_diags *diags)
{
	struct ft_config *c = ft_build(config_dir, diags);

	if (!c)
		return OCTO_ECONFIG;
	octo_obj_unref(c);
	return 0;
}

OCTO_MODULE(app_features, .description = "Feature codes (features.conf [codes]) and Pickup",
	    .load = ft_load, .unload = ft_unload, .reload = ft_reload, .check = ft_check,
	    .optional = "res_users");
