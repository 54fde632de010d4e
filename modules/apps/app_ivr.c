/*
 * app_ivr.c - IVR trees (ivr.conf): the IVR application walks the caller
 * through menus of prompts and digits to a leaf that ends the tree, and the
 * "sound record" command that records a prompt from a phone.
 *
 *   exten => 0212345,1,Answer()
 *   same  => n,IVR(company)
 *   same  => n,Goto(pbxinternal,${OPERATOR})     ; after the tree, if no leaf
 *
 *   ivr show [<node>]                  the trees, or one tree node by node
 *   sound record <name> <ext> [<lang>] calls user <ext>; after the beep what
 *                                      the user says (until # or hang-up)
 *                                      becomes prompt <name> of <lang>
 *
 * A tree is made of nodes, one section of ivr.conf each; IVR(name) starts at
 * node `name`. A node plays its message (prompts in the caller's language,
 * which a node may set), waits `timeout` for a digit and does what the digit
 * says: go to a child node, or a leaf -- goto a procedure and number, Dial a
 * user, CallGroup, VoiceMail, Hangup, any application -- or repeat, go back,
 * leave the tree. An invalid digit plays invalid_message and the node again,
 * no digit plays timeout_message and the node again; after `repeats` tries
 * the node's fallback runs (default: continue, the next dialplan step). A
 * node with `direct = PROCEDURE` also takes a number typed at once (an
 * extension) and goes there.
 *
 * DESIGN
 *  - The nodes form an immutable refcounted snapshot (struct ivr_set) built
 *    from the file; load and reload build a whole new one and swap it in
 *    under ivr_lock (guarding the pointer only) when it has no error. A call
 *    holds a reference on the snapshot while it walks, so a reload never
 *    changes a tree under a caller.
 *  - Leaves run their application through the app registry by name (with a
 *    use reference on its module while it runs), so app_ivr needs neither
 *    app_dial, app_callgroup nor a voicemail module to load: a leaf whose
 *    application is missing says so in the step log and the next step runs.
 *  - "sound record" runs on a thread of its own (joined at unload) that
 *    owns the outgoing leg: it rings the user's devices (octo_dial), plays
 *    the beep, records into <prompt>.wav.part in the language folder and
 *    renames it when done.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/bridge.h"
#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/sound.h"
#include "octo/users.h"
#include "audio_common.h"

#define IVR_FILE "ivr.conf"
#define IVR_HOLDER "app_ivr"
#define IVR_NAME_MAX 64
#define IVR_NODES_MAX 1000
#define IVR_VISITS_MAX 64   /* nodes entered by one call: more is a loop */
#define IVR_HISTORY_MAX 32  /* nodes remembered for "back" */
#define IVR_PATH_MAX 512
#define IVR_KEYS "0123456789*#"
#define IVR_NKEYS 12
#define IVR_ANY_DIGIT "0123456789*#ABCD"

enum ivr_verb {
	IVR_CONTINUE = 0, /* leave the tree: the next dialplan step */
	IVR_MENU,         /* a child node */
	IVR_GOTO,         /* procedure,number */
	IVR_USER,         /* Dial(ext[,timeout]) */
	IVR_CALLGROUP,    /* CallGroup(args) */
	IVR_VOICEMAIL,    /* VoiceMail(args) */
	IVR_HANGUP,       /* Hangup([cause]) */
	IVR_APP,          /* any application */
	IVR_REPEAT,       /* this node again */
	IVR_BACK,         /* the node before */
	IVR_NONE,         /* (a digit that is not an option) */
};

static const char *const ivr_verbs[] = {
	"continue", "menu", "goto", "user", "callgroup", "voicemail", "hangup", "app",
	"repeat", "back", NULL,
};

/* What a digit (or the fallback) does. */
struct ivr_action {
	enum ivr_verb verb;
	char *target; /* menu: the node; goto: the procedure; app: its name */
	char *arg;    /* goto: the number; app and the others: the arguments */
	size_t child; /* menu: index of the node in the set */
	char *text;   /* as written, for the CLI */
};

struct ivr_node {
	char *name;
	char *description;
	char *message;
	char *invalid_message;
	char *timeout_message;
	char *language;
	char *direct;
	unsigned timeout_ms;
	unsigned repeats;
	struct ivr_action keys[IVR_NKEYS];
	struct ivr_action fallback;
	bool has_parent; /* some menu leads here (else it is a tree's root) */
	char *file;
	int line;
	int key_line[IVR_NKEYS];
	int fallback_line;
};

struct ivr_set {
	struct ivr_node *nodes; /* sorted by name (case-insensitive) */
	size_t count;
};

static pthread_rwlock_t ivr_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct ivr_set *ivr_current; /* guarded by ivr_lock */

/* ---------------------------------------------------------------- config */

struct ivr_cfg {
	char *description;
	char *message;
	char *invalid_message;
	char *timeout_message;
	char *language;
	char *direct;
	unsigned timeout;
	unsigned repeats;
	char *fallback;
};

static const struct octo_cfg_opt ivr_opts[] = {
	OCTO_CFG_STR("description", struct ivr_cfg, description, "", 0),
	OCTO_CFG_STR("message", struct ivr_cfg, message, NULL, OCTO_CFG_REQUIRED),
	OCTO_CFG_STR("invalid_message", struct ivr_cfg, invalid_message, "invalid", 0),
	OCTO_CFG_STR("timeout_message", struct ivr_cfg, timeout_message, "", 0),
	OCTO_CFG_STR("language", struct ivr_cfg, language, "", 0),
	OCTO_CFG_STR("direct", struct ivr_cfg, direct, "", 0),
	OCTO_CFG_DURATION_MS("timeout", struct ivr_cfg, timeout, "5s", 0, 120000),
	OCTO_CFG_UINT("repeats", struct ivr_cfg, repeats, "3", 1, 20),
	OCTO_CFG_STR("fallback", struct ivr_cfg, fallback, "continue", 0),
	OCTO_CFG_END
};

/* The key index of a config key ("1", "star", "*", "hash", "pound"), or -1. */
static int ivr_key_of_name(const char *key)
{
	if (strlen(key) == 1 && key[0] != '#' && strchr(IVR_KEYS, key[0]))
		return (int)(strchr(IVR_KEYS, key[0]) - IVR_KEYS);
	if (!strcasecmp(key, "star"))
		return 10;
	if (!strcasecmp(key, "hash") || !strcasecmp(key, "pound"))
		return 11;
	return -1;
}

static int ivr_key_of_digit(char d)
{
	const char *p = d ? strchr(IVR_KEYS, d) : NULL;

	return p ? (int)(p - IVR_KEYS) : -1;
}

static bool ivr_ignore_key(const char *key)
{
	return ivr_key_of_name(key) >= 0;
}

static bool ivr_valid_name(const char *s)
{
	return audio_name_valid(s, IVR_NAME_MAX);
}

/* An application name: letters, digits and '_', starting with a letter. */
static bool ivr_valid_app(const char *s)
{
	size_t n = 0;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
			return false;
	return n <= IVR_NAME_MAX;
}

/* True when every '&'-separated part of `list` is a valid prompt name
 * (blanks around parts allowed); "" is valid (no prompt). */
static bool ivr_valid_prompts(const char *list)
{
	char buf[1024], *save = NULL;

	if (strlen(list) >= sizeof(buf))
		return false;
	octo_strlcpy(buf, list, sizeof(buf));
	for (char *t = strtok_r(buf, "&", &save); t; t = strtok_r(NULL, "&", &save)) {
		char *e;

		while (*t == ' ' || *t == '\t')
			t++;
		e = t + strlen(t);
		while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*t && !octo_sound_name_valid(t))
			return false;
	}
	return true;
}

static void ivr_action_free(struct ivr_action *a)
{
	free(a->target);
	free(a->arg);
	free(a->text);
	memset(a, 0, sizeof(*a));
	a->verb = IVR_NONE;
}

/* No control characters (they would end up in step logs and CLI output). */
static bool ivr_printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 127)
			return false;
	return true;
}

/*
 * Parses an action ("menu sales", "goto pbxinternal,100", "app Playback(x)").
 * Returns NULL with `a` filled, or an error phrase.
 */
static const char *ivr_parse_action(const char *text, struct ivr_action *a)
{
	char verb[16], rest[512];
	const char *sp;
	size_t vlen;
	int v = -1;

	memset(a, 0, sizeof(*a));
	a->verb = IVR_NONE;
	while (*text == ' ' || *text == '\t')
		text++;
	if (!*text)
		return "is empty (an action: menu NODE, goto PROCEDURE,NUMBER, user EXT, "
		       "callgroup NAME, voicemail BOX, hangup, app NAME(ARGS), continue, repeat, "
		       "back)";
	if (!ivr_printable(text))
		return "has control characters";
	sp = text + strcspn(text, " \t");
	vlen = (size_t)(sp - text);
	if (vlen < sizeof(verb)) {
		memcpy(verb, text, vlen);
		verb[vlen] = '\0';
		for (int i = 0; ivr_verbs[i]; i++)
			if (!strcasecmp(verb, ivr_verbs[i]))
				v = i;
	}
	if (v < 0)
		return "is not an action (menu NODE, goto PROCEDURE,NUMBER, user EXT, callgroup "
		       "NAME, voicemail BOX, hangup [CAUSE], app NAME(ARGS), continue, repeat, "
		       "back)";
	while (*sp == ' ' || *sp == '\t')
		sp++;
	if (strlen(sp) >= sizeof(rest))
		return "is too long";
	octo_strlcpy(rest, sp, sizeof(rest));
	a->verb = (enum ivr_verb)v;
	switch (a->verb) {
	case IVR_CONTINUE:
	case IVR_REPEAT:
	case IVR_BACK:
		if (*rest)
			return "takes no argument";
		break;
	case IVR_MENU:
		if (!ivr_valid_name(rest))
			return "needs a node name (menu NODE)";
		a->target = octo_strdup(rest);
		break;
	case IVR_GOTO: {
		char *comma = strchr(rest, ',');

		if (!comma || comma == rest || !comma[1])
			return "needs a procedure and a number (goto PROCEDURE,NUMBER)";
		*comma = '\0';
		a->target = octo_strdup(rest);
		a->arg = octo_strdup(comma + 1);
		break;
	}
	case IVR_USER:
	case IVR_CALLGROUP:
	case IVR_VOICEMAIL:
		if (!*rest)
			return a->verb == IVR_USER	? "needs an extension (user EXT)"
			       : a->verb == IVR_CALLGROUP ? "needs a call group (callgroup NAME)"
							  : "needs a mailbox (voicemail BOX)";
		a->arg = octo_strdup(rest);
		break;
	case IVR_HANGUP:
		a->arg = octo_strdup(rest);
		break;
	case IVR_APP: {
		char *paren = strchr(rest, '(');
		size_t len = strlen(rest);

		if (paren) {
			if (rest[len - 1] != ')')
				return "needs NAME(ARGS) with a closing parenthesis";
			rest[len - 1] = '\0';
			*paren = '\0';
		}
		if (!ivr_valid_app(rest))
			return "needs an application name (app NAME(ARGS))";
		a->target = octo_strdup(rest);
		a->arg = octo_strdup(paren ? paren + 1 : "");
		break;
	}
	default: break;
	}
	a->text = octo_strdup(text);
	return NULL;
}

static void ivr_node_clear(struct ivr_node *n)
{
	free(n->name);
	free(n->description);
	free(n->message);
	free(n->invalid_message);
	free(n->timeout_message);
	free(n->language);
	free(n->direct);
	free(n->file);
	for (int k = 0; k < IVR_NKEYS; k++)
		ivr_action_free(&n->keys[k]);
	ivr_action_free(&n->fallback);
}

static void ivr_set_destroy(void *obj)
{
	struct ivr_set *set = obj;

	for (size_t i = 0; i < set->count; i++)
		ivr_node_clear(&set->nodes[i]);
	free(set->nodes);
}

static int ivr_node_cmp(const void *a, const void *b)
{
	return strcasecmp(((const struct ivr_node *)a)->name, ((const struct ivr_node *)b)->name);
}

/* The node called `name` (any case), or NULL. */
static const struct ivr_node *ivr_node_find(const struct ivr_set *set, const char *name)
{
	struct ivr_node key = { .name = (char *)name };

	if (!set->count)
		return NULL;
	return bsearch(&key, set->nodes, set->count, sizeof(key), ivr_node_cmp);
}

/* Checks a prompt list key; adds an error when it is not valid. */
static void ivr_check_prompts(const struct octo_cfg_section *sec, const char *key,
			      const char *value, struct octo_diags *diags)
{
	const struct octo_cfg_var *v = octo_cfg_var_find(sec, key);
	char clean[OCTO_CFG_CLEAN];

	if (value && !ivr_valid_prompts(value))
		octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : sec->file,
			       v ? v->line : sec->line,
			       "[%s] %s: \"%s\" is not a list of prompt names (name&name..., "
			       "each a path in the language folder without extension)",
			       sec->name, key, octo_cfg_clean(clean, value));
}

/* Binds one section into `n`; false (errors in diags) when it is not valid. */
static bool ivr_node_build(const struct octo_cfg_section *sec, struct ivr_node *n,
			   struct octo_diags *diags)
{
	struct ivr_cfg c = { 0 };
	size_t errors = diags->errors;
	char clean[OCTO_CFG_CLEAN];
	const char *err;

	memset(n, 0, sizeof(*n));
	for (int k = 0; k < IVR_NKEYS; k++)
		n->keys[k].verb = IVR_NONE;
	n->fallback.verb = IVR_NONE;
	octo_cfg_bind(sec, ivr_opts, &c, ivr_ignore_key, diags);
	ivr_check_prompts(sec, "message", c.message, diags);
	ivr_check_prompts(sec, "invalid_message", c.invalid_message, diags);
	ivr_check_prompts(sec, "timeout_message", c.timeout_message, diags);
	if (c.language && *c.language && !octo_sound_language_valid(c.language)) {
		const struct octo_cfg_var *v = octo_cfg_var_find(sec, "language");

		octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
			       "[%s] language: \"%s\" is not a language folder name (letters, "
			       "digits, - and _)", sec->name, octo_cfg_clean(clean, c.language));
	}
	if (c.direct && *c.direct && (!ivr_valid_name(c.direct))) {
		const struct octo_cfg_var *v = octo_cfg_var_find(sec, "direct");

		octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
			       "[%s] direct: \"%s\" is not a procedure name", sec->name,
			       octo_cfg_clean(clean, c.direct));
	}
	err = ivr_parse_action(c.fallback ? c.fallback : "continue", &n->fallback);
	if (err) {
		const struct octo_cfg_var *v = octo_cfg_var_find(sec, "fallback");

		octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : sec->file,
			       v ? v->line : sec->line, "[%s] fallback: \"%s\" %s", sec->name,
			       octo_cfg_clean(clean, c.fallback ? c.fallback : ""), err);
	} else if (n->fallback.verb == IVR_REPEAT || n->fallback.verb == IVR_BACK) {
		const struct octo_cfg_var *v = octo_cfg_var_find(sec, "fallback");

		octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : sec->file,
			       v ? v->line : sec->line,
			       "[%s] fallback: \"%s\" would never end: use menu NODE or a leaf",
			       sec->name, n->fallback.text);
	}
	if (octo_cfg_var_find(sec, "fallback"))
		n->fallback_line = octo_cfg_var_find(sec, "fallback")->line;
	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
		int k = ivr_key_of_name(v->name);

		if (k < 0)
			continue;
		if (n->keys[k].verb != IVR_NONE) {
			/* a repeated key (or "*" and "star"): the last one wins, as for
			 * other keys -- but say so, it is likely a mistake */
			octo_diags_add(diags, OCTO_DIAG_WARNING, v->file, v->line,
				       "[%s] key %c is given twice: this one is used", sec->name,
				       IVR_KEYS[k]);
			ivr_action_free(&n->keys[k]);
		}
		err = ivr_parse_action(v->value, &n->keys[k]);
		if (err)
			octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
				       "[%s] %s: \"%s\" %s", sec->name, v->name,
				       octo_cfg_clean(clean, v->value), err);
		n->key_line[k] = v->line;
	}
	n->name = octo_strdup(sec->name);
	n->description = octo_strdup(c.description ? c.description : "");
	n->message = octo_strdup(c.message ? c.message : "");
	n->invalid_message = octo_strdup(c.invalid_message ? c.invalid_message : "");
	n->timeout_message = octo_strdup(c.timeout_message ? c.timeout_message : "");
	n->language = octo_strdup(c.language ? c.language : "");
	n->direct = octo_strdup(c.direct ? c.direct : "");
	n->timeout_ms = c.timeout;
	n->repeats = c.repeats;
	n->file = octo_strdup(sec->file ? sec->file : IVR_FILE);
	n->line = sec->line;
	octo_cfg_unbind(ivr_opts, &c);
	if (diags->errors != errors) {
		ivr_node_clear(n);
		return false;
	}
	return true;
}

/* Links menu actions to their nodes; an unknown node is an error. */
static void ivr_link(struct ivr_set *set, struct ivr_action *a, const struct ivr_node *from,
		     const char *key, int line, struct octo_diags *diags)
{
	const struct ivr_node *to;

	if (a->verb != IVR_MENU)
		return;
	to = ivr_node_find(set, a->target);
	if (!to) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, from->file, line ? line : from->line,
			       "[%s] %s: menu %s: no such node in %s", from->name, key, a->target,
			       IVR_FILE);
		return;
	}
	a->child = (size_t)(to - set->nodes);
	if (to != from)
		set->nodes[a->child].has_parent = true;
}

/* Reads ivr.conf from `config_dir`; NULL when it has errors (in `diags`). */
static struct ivr_set *ivr_build(const char *config_dir, struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct ivr_set *set = octo_obj_alloc(sizeof(*set), ivr_set_destroy);
	struct octo_cfg *cfg;
	char clean[OCTO_CFG_CLEAN];

	if (!set) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, IVR_FILE, 0, "out of memory");
		return NULL;
	}
	cfg = octo_cfg_load(config_dir, IVR_FILE, true, diags);
	for (const struct octo_cfg_section *sec = cfg ? octo_cfg_first(cfg) : NULL; sec;
	     sec = octo_cfg_next(sec)) {
		struct ivr_node n, *grown;
		bool dup = false;

		if (!ivr_valid_name(sec->name)) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "[%s] is not a valid node name (1 to %d letters, digits, "
				       "'_', '-' and '.')", octo_cfg_clean(clean, sec->name),
				       IVR_NAME_MAX);
			continue;
		}
		for (size_t i = 0; i < set->count && !dup; i++) {
			if (strcasecmp(set->nodes[i].name, sec->name))
				continue;
			dup = true;
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "[%s] node %s is defined twice (first at %s:%d)", sec->name,
				       sec->name, set->nodes[i].file, set->nodes[i].line);
		}
		if (dup)
			continue;
		if (set->count >= IVR_NODES_MAX) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "more than %d nodes", IVR_NODES_MAX);
			break;
		}
		if (!ivr_node_build(sec, &n, diags))
			continue;
		grown = realloc(set->nodes, (set->count + 1) * sizeof(*grown));
		if (!grown) {
			ivr_node_clear(&n);
			octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
				       "out of memory");
			break;
		}
		set->nodes = grown;
		set->nodes[set->count++] = n;
	}
	octo_cfg_free(cfg);
	if (set->count)
		qsort(set->nodes, set->count, sizeof(*set->nodes), ivr_node_cmp);
	for (size_t i = 0; i < set->count; i++) {
		struct ivr_node *n = &set->nodes[i];

		for (int k = 0; k < IVR_NKEYS; k++) {
			char key[2] = { IVR_KEYS[k], 0 };

			ivr_link(set, &n->keys[k], n, key, n->key_line[k], diags);
		}
		ivr_link(set, &n->fallback, n, "fallback", n->fallback_line, diags);
	}
	if (diags->errors != errors || !cfg) {
		octo_obj_unref(set);
		return NULL;
	}
	return set;
}

static void ivr_install(struct ivr_set *set)
{
	struct ivr_set *old;

	pthread_rwlock_wrlock(&ivr_lock);
	old = ivr_current;
	ivr_current = set;
	pthread_rwlock_unlock(&ivr_lock);
	octo_obj_unref(old);
	if (set)
		octo_verbose(2, "ivr: %zu node%s", set->count, set->count == 1 ? "" : "s");
}

/* A new reference on the running nodes, or NULL. */
static struct ivr_set *ivr_get(void)
{
	struct ivr_set *set;

	pthread_rwlock_rdlock(&ivr_lock);
	set = octo_obj_ref(ivr_current);
	pthread_rwlock_unlock(&ivr_lock);
	return set;
}

/* ---------------------------------------------------------------- IVR */

/* One walk through a tree. */
struct ivr_run {
	struct octo_channel *chan;
	const struct ivr_set *set;
	struct audio_player p;
	struct audio_features ft;
	char path[IVR_PATH_MAX];  /* ${IVRPATH}: the nodes entered, '/'-separated */
	char keys[IVR_PATH_MAX];  /* ${IVRKEYS}: the options chosen */
	const char *status;       /* ${IVRSTATUS} */
};

static void ivr_append(char *buf, size_t size, const char *sep, const char *what)
{
	size_t len = strlen(buf);

	if (len + strlen(sep) + strlen(what) + 1 > size)
		return;
	snprintf(buf + len, size - len, "%s%s", len ? sep : "", what);
}

/* Plays a '&'-list of prompts that any digit interrupts. AUDIO_END,
 * AUDIO_DIGIT (p.digit) or OCTO_EHANGUP. */
static int ivr_play(struct ivr_run *r, const char *list)
{
	char lang[OCTO_SOUND_LANG_MAX], *copy;
	unsigned played, missing;
	int rc;

	if (!list || !*list)
		return AUDIO_END;
	copy = octo_strdup(list);
	audio_language(r->chan, lang);
	r->p.stop = IVR_ANY_DIGIT;
	rc = audio_play_list(&r->p, copy, lang, false, &played, &missing);
	free(copy);
	if (rc == AUDIO_DIGIT || rc == OCTO_EHANGUP)
		return rc;
	return AUDIO_END;
}

/* Runs application `name` with `args` (substituted) as the dialplan would. */
static int ivr_run_app(struct ivr_run *r, const char *name, const char *args)
{
	const struct octo_app *app = octo_registry_get(OCTO_REG_APP, name, IVR_HOLDER);
	char *subst;
	int rc;

	if (!app) {
		octo_chan_step(r->chan, "IVR: no application %s (its module is not loaded): the "
			       "next step runs", name);
		octo_chan_log(r->chan, OCTO_NOTICE, "IVR: no application %s (its module is not "
			      "loaded): the next step runs", name);
		r->status = "NOAPP";
		return OCTO_APP_CONTINUE;
	}
	subst = octo_pbx_subst(r->chan, args ? args : "");
	if (!subst) {
		octo_registry_put(OCTO_REG_APP, app, IVR_HOLDER);
		return OCTO_ENOMEM;
	}
	octo_chan_step(r->chan, "IVR: running %s(%s)", app->name, subst);
	rc = app->exec(r->chan, subst);
	free(subst);
	octo_registry_put(OCTO_REG_APP, app, IVR_HOLDER);
	return rc;
}

/* Runs a leaf; returns what IVR returns. */
static int ivr_leaf(struct ivr_run *r, const struct ivr_action *a)
{
	switch (a->verb) {
	case IVR_CONTINUE:
		r->status = "CONTINUE";
		octo_chan_step(r->chan, "IVR: leaving the tree: the next step runs");
		return OCTO_APP_CONTINUE;
	case IVR_GOTO: {
		char *proc = octo_pbx_subst(r->chan, a->target);
		char *num = octo_pbx_subst(r->chan, a->arg);
		int rc = proc && num ? octo_pbx_goto(r->chan, proc, num, NULL) : OCTO_ENOMEM;

		if (rc)
			octo_chan_step(r->chan, "IVR: goto %s,%s: nothing matches: the next step "
				       "runs", proc ? proc : "", num ? num : "");
		else
			octo_chan_step(r->chan, "IVR: goto %s,%s", proc, num);
		/* a fallback keeps TIMEOUT or INVALID */
		if (rc || !strcmp(r->status, "LEAF"))
			r->status = rc ? "NOTFOUND" : "GOTO";
		free(proc);
		free(num);
		return OCTO_APP_CONTINUE;
	}
	case IVR_USER: return ivr_run_app(r, "Dial", a->arg);
	case IVR_CALLGROUP: return ivr_run_app(r, "CallGroup", a->arg);
	case IVR_VOICEMAIL: return ivr_run_app(r, "VoiceMail", a->arg);
	case IVR_HANGUP: return ivr_run_app(r, "Hangup", a->arg);
	case IVR_APP: return ivr_run_app(r, a->target, a->arg);
	default: return OCTO_APP_CONTINUE;
	}
}

/*
 * After the first digit of a node with `direct`: collects the number the
 * caller goes on typing. Stops when no entry of the procedure can take a
 * longer number, at the inter-digit time-out, the send key or
 * AUDIO_DIGITS_MAX. Returns 0 or OCTO_EHANGUP; `why` says what ended it.
 */
static int ivr_collect(struct ivr_run *r, const struct ivr_node *n, char *digits, size_t size,
		       const char **why)
{
	struct audio_patterns pats = { 0 };
	bool have = audio_patterns_read(octo_paths.config_dir, n->direct, &pats) == 0;
	size_t len = strlen(digits);
	int rc = 0;

	*why = "inter-digit time-out";
	for (;;) {
		char d;

		if (len > 1 && r->ft.send_key && digits[len - 1] == r->ft.send_key) {
			digits[--len] = '\0';
			*why = "send key";
			break;
		}
		if (len >= AUDIO_DIGITS_MAX || len + 1 >= size) {
			*why = "longest number";
			break;
		}
		if (have && audio_patterns_complete(&pats, digits)) {
			*why = "no longer number matches";
			break;
		}
		rc = audio_wait_digit(&r->p, (int)r->ft.digit_timeout_ms, &d);
		if (rc < 0)
			break;
		if (rc == 0)
			break;
		digits[len++] = d;
		digits[len] = '\0';
		rc = 0;
	}
	audio_patterns_free(&pats);
	return rc < 0 ? rc : 0;
}

/* Walks the tree from `root`; returns what IVR returns. */
static int ivr_walk(struct ivr_run *r, const struct ivr_node *root)
{
	size_t history[IVR_HISTORY_MAX], nhist = 0;
	const struct ivr_node *n = root;
	unsigned visits = 0, tries = 0;
	bool entered = true, failed_timeout = false;
	char pending = 0; /* a digit that interrupted an invalid/timeout message */
	int rc;

	for (;;) {
		const struct ivr_action *a = NULL;
		char digits[AUDIO_DIGITS_MAX + 1] = "";
		const char *why = NULL;
		int k;

		if (entered) {
			if (++visits > IVR_VISITS_MAX) {
				octo_chan_step(r->chan, "IVR: more than %d nodes entered: the tree "
					       "loops, the next step runs", IVR_VISITS_MAX);
				r->status = "LOOP";
				return OCTO_APP_CONTINUE;
			}
			entered = false;
			tries = 0;
			ivr_append(r->path, sizeof(r->path), "/", n->name);
			if (*n->language)
				octo_chan_var_set(r->chan, "LANGUAGE", n->language);
			octo_chan_var_set(r->chan, "IVRNODE", n->name);
			octo_chan_step(r->chan, "IVR: node %s%s%s%s", n->name,
				       *n->description ? " (" : "", n->description,
				       *n->description ? ")" : "");
		}
		rc = pending ? AUDIO_DIGIT : ivr_play(r, n->message);
		if (rc == OCTO_EHANGUP)
			return rc;
		if (rc == AUDIO_DIGIT) {
			digits[0] = pending ? pending : r->p.digit;
			pending = 0;
		} else {
			rc = audio_wait_digit(&r->p, (int)n->timeout_ms, &digits[0]);
			if (rc < 0)
				return rc;
		}
		if (!digits[0]) {
			tries++;
			failed_timeout = true;
			octo_chan_step(r->chan, "IVR: [%s] no digit within %.1f s (try %u of %u)",
				       n->name, n->timeout_ms / 1000.0, tries, n->repeats);
			if (tries >= n->repeats)
				goto fallback;
			rc = ivr_play(r, n->timeout_message);
			if (rc == OCTO_EHANGUP)
				return rc;
			if (rc == AUDIO_DIGIT)
				pending = r->p.digit;
			continue;
		}
		digits[1] = '\0';
		k = ivr_key_of_digit(digits[0]);
		if (*n->direct) {
			rc = ivr_collect(r, n, digits, sizeof(digits), &why);
			if (rc < 0)
				return rc;
		}
		if (strlen(digits) > 1 || (*n->direct && (k < 0 || n->keys[k].verb == IVR_NONE))) {
			/* a number typed directly */
			octo_chan_step(r->chan, "IVR: [%s] the caller typed %s (%s)", n->name,
				       digits, why ? why : "one digit");
			if (octo_pbx_goto(r->chan, n->direct, digits, NULL) == 0) {
				octo_chan_step(r->chan, "IVR: [%s] goto %s,%s", n->name, n->direct,
					       digits);
				ivr_append(r->keys, sizeof(r->keys), "", digits);
				r->status = "DIRECT";
				return OCTO_APP_CONTINUE;
			}
			octo_chan_step(r->chan, "IVR: [%s] %s leads nowhere in [%s]", n->name,
				       digits, n->direct);
			a = NULL;
		} else if (k >= 0 && n->keys[k].verb != IVR_NONE) {
			a = &n->keys[k];
		}
		if (!a) {
			tries++;
			failed_timeout = false;
			if (strlen(digits) == 1)
				octo_chan_step(r->chan, "IVR: [%s] %s is not an option "
					       "(try %u of %u)", n->name, digits, tries,
					       n->repeats);
			if (tries >= n->repeats)
				goto fallback;
			rc = ivr_play(r, n->invalid_message);
			if (rc == OCTO_EHANGUP)
				return rc;
			if (rc == AUDIO_DIGIT)
				pending = r->p.digit;
			continue;
		}
		octo_chan_step(r->chan, "IVR: [%s] the caller pressed %c: %s", n->name, digits[0],
			       a->text);
		ivr_append(r->keys, sizeof(r->keys), "", digits);
		r->status = "LEAF";
		goto act;
fallback:
		a = &n->fallback;
		octo_chan_step(r->chan, "IVR: [%s] %s after %u tr%s: %s", n->name,
			       failed_timeout ? "no digit" : "no valid option", tries,
			       tries == 1 ? "y" : "ies", a->text);
		r->status = failed_timeout ? "TIMEOUT" : "INVALID";
		if (a->verb == IVR_CONTINUE)
			return OCTO_APP_CONTINUE;
act:
		switch (a->verb) {
		case IVR_MENU:
			/* remembered for "back": the newest IVR_HISTORY_MAX nodes */
			if (nhist == IVR_HISTORY_MAX) {
				memmove(history, history + 1,
					(IVR_HISTORY_MAX - 1) * sizeof(history[0]));
				nhist--;
			}
			history[nhist++] = (size_t)(n - r->set->nodes);
			n = &r->set->nodes[a->child];
			entered = true;
			break;
		case IVR_REPEAT:
			tries = 0;
			break;
		case IVR_BACK:
			if (!nhist) { /* at the root: its message again */
				tries = 0;
				break;
			}
			n = &r->set->nodes[history[--nhist]];
			entered = true;
			break;
		default: return ivr_leaf(r, a);
		}
	}
}

static int ivr_exec(struct octo_channel *chan, char *args)
{
	struct ivr_run r = { .chan = chan, .status = "CONTINUE" };
	char clean[OCTO_CFG_CLEAN];
	const struct ivr_node *root;
	struct ivr_set *set;
	char *argv[2];
	int argc = octo_args_split(args, argv, 2), rc;

	if (argc != 1 || !ivr_valid_name(argv[0])) {
		octo_chan_step(chan, "IVR: %s (IVR(tree))", argc > 1 ? "too many arguments"
						     : argc < 1 ? "no tree"
								: "not a node name");
		return OCTO_EINVAL;
	}
	set = ivr_get();
	root = set ? ivr_node_find(set, argv[0]) : NULL;
	if (!root) {
		octo_chan_step(chan, "IVR: no node \"%s\" in %s: the next step runs",
			       octo_cfg_clean(clean, argv[0]), IVR_FILE);
		octo_chan_var_set(chan, "IVRSTATUS", "NOTFOUND");
		octo_obj_unref(set);
		return OCTO_APP_CONTINUE;
	}
	r.set = set;
	audio_features_get(&r.ft);
	rc = audio_answer(chan, "IVR", false);
	if (rc) {
		octo_obj_unref(set);
		return rc;
	}
	audio_player_init(&r.p, chan, "IVR");
	octo_chan_step(chan, "IVR: tree %s", root->name);
	rc = ivr_walk(&r, root);
	if (rc == OCTO_EHANGUP)
		r.status = "HANGUP";
	octo_chan_var_set(chan, "IVRPATH", r.path);
	octo_chan_var_set(chan, "IVRKEYS", r.keys);
	octo_chan_var_set(chan, "IVRSTATUS", r.status);
	if (!octo_chan_is_hungup(chan))
		octo_chan_step(chan, "IVR: IVRSTATUS=%s IVRPATH=%s IVRKEYS=%s", r.status, r.path,
			       r.keys);
	octo_obj_unref(set);
	return rc;
}

static const char ivr_description[] =
	"Walks the caller through an IVR tree of ivr.conf, starting at node `tree` (a section\n"
	"of ivr.conf). Answers the call if needed.\n"
	"\n"
	"At each node the message plays (prompts in the caller's language: ${LANGUAGE}, else\n"
	"the user's, else the PBX default; a node with language = sets ${LANGUAGE} for the\n"
	"rest of the call). Any digit interrupts it; then IVR waits the node's timeout for\n"
	"one. The digit's action runs:\n"
	"  menu NODE               go to a child node (its message plays)\n"
	"  goto PROCEDURE,NUMBER   leave the tree for that dialplan entry\n"
	"  user EXT[,TIMEOUT]      Dial(EXT[,TIMEOUT]) -- ring a user\n"
	"  callgroup NAME[,...]    CallGroup(NAME,...)\n"
	"  voicemail BOX[,...]     VoiceMail(BOX,...)\n"
	"  hangup [CAUSE]          Hangup(CAUSE)\n"
	"  app NAME(ARGS)          any application\n"
	"  continue                leave the tree: the next step after IVR runs\n"
	"  repeat                  this node's message again\n"
	"  back                    the node before\n"
	"A leaf (user, callgroup, voicemail, hangup, app) runs its application; when it\n"
	"returns (e.g. Dial not answered) the next step after IVR runs. An application that\n"
	"is not loaded is skipped (step log, IVRSTATUS=NOAPP).\n"
	"A digit that is no option plays invalid_message and the node again; no digit in\n"
	"time plays timeout_message and the node again; after `repeats` tries the node's\n"
	"fallback runs (default: continue). A node with direct = PROCEDURE also takes a\n"
	"number typed at once (an extension): the digits end with features.conf [general]\n"
	"digit_timeout, the send key, or as soon as no longer number can match, and the\n"
	"call goes to PROCEDURE,NUMBER; a lone digit that is an option stays an option.\n"
	"Digits pressed before a message starts interrupt it at once (type-ahead).\n"
	"\n"
	"Variables set: IVRSTATUS (LEAF, GOTO, DIRECT, CONTINUE, TIMEOUT, INVALID, NOTFOUND,\n"
	"NOAPP, LOOP, HANGUP), IVRPATH (the nodes entered, a/b/c), IVRKEYS (the options\n"
	"chosen), IVRNODE (the last node). Every prompt, digit and choice is in the call's\n"
	"step log (call debug <id>). \"ivr show [tree]\" shows the trees.";

static const struct octo_app ivr_apps[] = {
	{ .name = "IVR",
	  .synopsis = "Walk the caller through an IVR tree of ivr.conf",
	  .syntax = "IVR(tree)",
	  .description = ivr_description,
	  .exec = ivr_exec },
	{ 0 }
};

/* ---------------------------------------------------------------- CLI */

static int ivr_cli_list(struct octo_cli_out *out)
{
	struct ivr_set *set = ivr_get();
	size_t trees = 0;

	if (!set) {
		octo_cli_error(out, "No IVR loaded.");
		return OCTO_CLI_FAIL;
	}
	octo_cli_columns(out, "node", "tree", "options", "timeout", "repeats", "description",
			 NULL);
	for (size_t i = 0; i < set->count; i++) {
		const struct ivr_node *n = &set->nodes[i];
		char opts[16], timeout[16], repeats[16];
		int count = 0;

		for (int k = 0; k < IVR_NKEYS; k++)
			count += n->keys[k].verb != IVR_NONE;
		snprintf(opts, sizeof(opts), "%d", count);
		snprintf(timeout, sizeof(timeout), "%.1fs", n->timeout_ms / 1000.0);
		snprintf(repeats, sizeof(repeats), "%u", n->repeats);
		trees += !n->has_parent;
		octo_cli_row(out, n->name, n->has_parent ? "" : "root", opts, timeout, repeats,
			     n->description, NULL);
	}
	octo_cli_kv(out, "nodes", "%zu", set->count);
	octo_cli_kv(out, "trees", "%zu", trees);
	octo_obj_unref(set);
	return OCTO_CLI_OK;
}

/* Depth-first: a row per key of each node, each node once. */
static void ivr_cli_walk(struct octo_cli_out *out, const struct ivr_set *set, size_t idx,
			 int depth, bool *seen, size_t *nodes, int *maxdepth)
{
	const struct ivr_node *n = &set->nodes[idx];
	char name[IVR_NAME_MAX + 64];

	seen[idx] = true;
	(*nodes)++;
	if (depth + 1 > *maxdepth)
		*maxdepth = depth + 1;
	snprintf(name, sizeof(name), "%*s%s", depth * 2, "", n->name);
	octo_cli_row(out, name, "", "message", n->message, NULL);
	for (int k = 0; k < IVR_NKEYS; k++) {
		const struct ivr_action *a = &n->keys[k];
		char key[2] = { IVR_KEYS[k], 0 };

		if (a->verb == IVR_NONE)
			continue;
		octo_cli_row(out, name, key, ivr_verbs[a->verb], a->text, NULL);
		if (a->verb == IVR_MENU && !seen[a->child] && depth < 32)
			ivr_cli_walk(out, set, a->child, depth + 1, seen, nodes, maxdepth);
	}
	if (*n->direct)
		octo_cli_row(out, name, "number", "direct", n->direct, NULL);
	octo_cli_row(out, name, "fallback", ivr_verbs[n->fallback.verb], n->fallback.text, NULL);
	if (n->fallback.verb == IVR_MENU && !seen[n->fallback.child] && depth < 32)
		ivr_cli_walk(out, set, n->fallback.child, depth + 1, seen, nodes, maxdepth);
}

static int ivr_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	char clean[OCTO_CFG_CLEAN];
	const struct ivr_node *n;
	struct ivr_set *set;
	size_t nodes = 0;
	int depth = 0;
	bool *seen;

	if (argc > 3)
		return OCTO_CLI_USAGE;
	if (argc == 2)
		return ivr_cli_list(out);
	set = ivr_get();
	n = set ? ivr_node_find(set, argv[2]) : NULL;
	if (!n) {
		octo_cli_error(out, "No IVR node \"%s\" (see ivr show).",
			       octo_cfg_clean(clean, argv[2]));
		octo_obj_unref(set);
		return OCTO_CLI_FAIL;
	}
	seen = calloc(set->count, sizeof(*seen));
	if (!seen) {
		octo_obj_unref(set);
		return OCTO_CLI_FAIL;
	}
	octo_cli_kv(out, "tree", "%s", n->name);
	octo_cli_kv(out, "description", "%s", n->description);
	octo_cli_kv(out, "message", "%s", n->message);
	octo_cli_kv(out, "timeout", "%.1fs", n->timeout_ms / 1000.0);
	octo_cli_kv(out, "repeats", "%u", n->repeats);
	octo_cli_kv(out, "invalid message", "%s", *n->invalid_message ? n->invalid_message
								       : "(none)");
	octo_cli_kv(out, "timeout message", "%s", *n->timeout_message ? n->timeout_message
								       : "(none)");
	octo_cli_kv(out, "language", "%s", *n->language ? n->language : "(the caller's)");
	octo_cli_kv(out, "direct", "%s", *n->direct ? n->direct : "(no)");
	octo_cli_kv(out, "fallback", "%s", n->fallback.text);
	octo_cli_kv(out, "defined at", "%s:%d", n->file, n->line);
	octo_cli_columns(out, "node", "key", "action", "argument", NULL);
	ivr_cli_walk(out, set, (size_t)(n - set->nodes), 0, seen, &nodes, &depth);
	octo_cli_kv(out, "nodes", "%zu", nodes);
	octo_cli_kv(out, "levels", "%d", depth);
	free(seen);
	octo_obj_unref(set);
	return OCTO_CLI_OK;
}

static void ivr_complete_node(struct octo_cli_completion *c, int pos, const char *partial)
{
	struct ivr_set *set;
	size_t len = partial ? strlen(partial) : 0;

	if (pos != 0)
		return;
	set = ivr_get();
	if (!set)
		return;
	for (size_t i = 0; i < set->count; i++)
		if (!len || !strncasecmp(set->nodes[i].name, partial, len))
			octo_cli_complete_add(c, set->nodes[i].name);
	octo_obj_unref(set);
}

/* ---------------------------------------------------------------- sound record */

#define REC_RING_MS 30000
#define REC_MAX_MS (10u * 60u * 1000u)
#define REC_THREADS_MAX 8

struct rec_job {
	char name[OCTO_SOUND_NAME_MAX + 1];
	char ext[72];
	char lang[OCTO_SOUND_LANG_MAX];
	char path[4096];
	pthread_t thread;
	atomic_bool done;
	bool used;
	struct octo_module *self; /* referenced while the thread runs */
};

static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rec_job rec_jobs[REC_THREADS_MAX]; /* guarded by rec_lock */
static atomic_bool rec_stopping;
static struct octo_module *ivr_self;

/* mkdir -p of the folders of `path` (the file itself excluded). */
static int rec_mkdirs(const char *path)
{
	char buf[4096];

	octo_strlcpy(buf, path, sizeof(buf));
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) && errno != EEXIST)
			return errno;
		*p = '/';
	}
	return 0;
}

/* Records the leg's audio into `part` until #, hang-up or the limit. Returns
 * the samples written, or a negative OCTO_E*; *why says how it ended. */
static long rec_loop(struct octo_channel *leg, const struct octo_sound_format *fmt,
		     struct octo_sound_file *file, const char **why)
{
	uint64_t start = octo_now_ms();
	long written = 0;

	*why = "the time limit";
	while (octo_now_ms() - start < REC_MAX_MS && !atomic_load(&rec_stopping)) {
		struct octo_chan_event ev;
		struct octo_frame f;
		int rc;

		while ((rc = octo_chan_wait_event(leg, 0, &ev)) == 1) {
			if (ev.type == OCTO_EV_DIGIT && ev.digit == '#') {
				*why = "#";
				return written;
			}
			if (ev.type == OCTO_EV_HANGUP) {
				*why = "hang-up";
				return written;
			}
		}
		if (rc == OCTO_EHANGUP) {
			*why = "hang-up";
			return written;
		}
		rc = octo_chan_read_frame(leg, &f, 100);
		if (rc == OCTO_EHANGUP) {
			*why = "hang-up";
			return written;
		}
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		if (f.type == OCTO_FRAME_DTMF && f.digit == '#') {
			*why = "#";
			return written;
		}
		if (f.type != OCTO_FRAME_VOICE || !f.samples)
			continue;
		if (fmt->write(file, f.data, f.samples) != (long)f.samples)
			return OCTO_EFAIL;
		written += (long)f.samples;
	}
	return written;
}

static void rec_record(struct rec_job *job, struct octo_channel *leg)
{
	const struct octo_sound_format *fmt = NULL;
	const struct octo_chan_tech *tech = octo_chan_tech(leg);
	struct octo_sound_file file = { 0 };
	struct audio_player p;
	char part[4200];
	const char *why = "";
	long n;
	int rc;

	if (!tech || !tech->read_frame) {
		octo_chan_step(leg, "sound record: %s channels give Octo no audio: nothing "
			       "recorded", tech ? tech->name : "these");
		octo_log(OCTO_WARNING, "sound record %s: the device of %s gives no audio: nothing "
			 "recorded", job->name, job->ext);
		return;
	}
	fmt = octo_registry_get(OCTO_REG_FORMAT, "wav", IVR_HOLDER);
	if (!fmt || !fmt->open_write || !fmt->write || !fmt->close) {
		octo_chan_step(leg, "sound record: format_wav is not loaded: nothing recorded");
		octo_log(OCTO_WARNING, "sound record %s: format_wav is not loaded", job->name);
		goto out;
	}
	rc = rec_mkdirs(job->path);
	if (rc) {
		octo_log(OCTO_WARNING, "sound record %s: cannot make the folder of %s: %s",
			 job->name, job->path, strerror(rc));
		goto out;
	}
	snprintf(part, sizeof(part), "%s.%s.part", job->path, octo_chan_id(leg));
	audio_player_init(&p, leg, "sound record");
	if (audio_player_prompt(&p, "beep", job->lang) == OCTO_EHANGUP)
		goto out;
	rc = fmt->open_write(&file, part, OCTO_FRAME_RATE);
	if (rc) {
		octo_chan_step(leg, "sound record: cannot create %s: %s", part, octo_strerror(rc));
		octo_log(OCTO_WARNING, "sound record %s: cannot create %s: %s", job->name, part,
			 octo_strerror(rc));
		goto out;
	}
	octo_chan_step(leg, "sound record: recording into %s until # or hang-up", job->path);
	n = rec_loop(leg, fmt, &file, &why);
	fmt->close(&file);
	if (n <= 0 || rename(part, job->path)) {
		unlink(part);
		octo_chan_step(leg, "sound record: nothing recorded (%s)",
			       n < 0 ? octo_strerror((int)n)
			       : n == 0 ? "no audio"
					: "rename failed");
		octo_log(OCTO_WARNING, "sound record %s: nothing recorded", job->name);
		goto out;
	}
	octo_chan_step(leg, "sound record: %.2f s saved as %s (ended by %s)",
		       (double)n / OCTO_FRAME_RATE, job->path, why);
	octo_log(OCTO_NOTICE, "sound record: %.2f s from user %s saved as %s (prompt %s, "
		 "language %s)", (double)n / OCTO_FRAME_RATE, job->ext, job->path, job->name,
		 job->lang);
	if (!octo_chan_is_hungup(leg)) {
		/* says what became of it: the new prompt itself, then "saved" */
		audio_player_init(&p, leg, "sound record");
		if (audio_player_prompt(&p, "rec-saved", job->lang) != OCTO_EHANGUP)
			audio_player_prompt(&p, job->name, job->lang);
	}
out:
	if (fmt)
		octo_registry_put(OCTO_REG_FORMAT, fmt, IVR_HOLDER);
}

static void *rec_thread(void *arg)
{
	struct rec_job *job = arg;
	struct octo_module *self = job->self;
	struct octo_dial *d = octo_dial_alloc(NULL);
	struct octo_channel *leg = NULL;
	enum octo_dial_status st;

	octo_thread_register("sound record");
	if (!d)
		goto out;
	if (!octo_dial_add_user(d, job->ext, REC_RING_MS, "sound record")) {
		octo_log(OCTO_NOTICE, "sound record: user %s has no device that can be called now",
			 job->ext);
		octo_dial_free(d);
		goto out;
	}
	st = octo_dial_run(d, REC_RING_MS, &leg);
	octo_dial_free(d);
	if (st != OCTO_DIAL_ANSWER || !leg) {
		octo_log(OCTO_NOTICE, "sound record: user %s: %s: nothing recorded", job->ext,
			 octo_dial_status_name(st));
		goto out;
	}
	octo_chan_step(leg, "sound record: answered: prompt %s of language %s", job->name,
		       job->lang);
	rec_record(job, leg);
	octo_chan_hangup(leg, OCTO_CAUSE_NORMAL);
	octo_obj_unref(leg);
out:
	octo_thread_unregister();
	atomic_store(&job->done, true);
	/* From here on no module data is used. An unload that the release lets
	 * through joins this thread before the module goes (ivr_unload). */
	if (self)
		octo_module_unref(self, "sound record");
	return NULL;
}

/* Joins the jobs that have ended; with `all`, waits for every one. */
static void rec_reap(bool all)
{
	for (;;) {
		struct rec_job *job = NULL;

		pthread_mutex_lock(&rec_lock);
		for (size_t i = 0; i < REC_THREADS_MAX && !job; i++)
			if (rec_jobs[i].used && (all || atomic_load(&rec_jobs[i].done)))
				job = &rec_jobs[i];
		pthread_mutex_unlock(&rec_lock);
		if (!job)
			return;
		pthread_join(job->thread, NULL);
		pthread_mutex_lock(&rec_lock);
		job->used = false;
		pthread_mutex_unlock(&rec_lock);
	}
}

static bool rec_word_ok(const char *s, size_t max)
{
	if (!*s || strlen(s) > max)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int rec_cli(struct octo_cli_out *out, int argc, char **argv)
{
	const struct octo_users_api *users;
	struct octo_user *u = NULL;
	char clean[OCTO_CFG_CLEAN], name[OCTO_SOUND_NAME_MAX + 8], lang[OCTO_SOUND_LANG_MAX];
	struct rec_job *job = NULL;
	size_t len;
	int rc;

	if (argc < 4 || argc > 5)
		return OCTO_CLI_USAGE;
	octo_strlcpy(name, argv[2], sizeof(name));
	len = strlen(name);
	if (len > 4 && !strcasecmp(name + len - 4, ".wav"))
		name[len - 4] = '\0';
	if (strlen(argv[2]) > OCTO_SOUND_NAME_MAX || !octo_sound_name_valid(name)) {
		octo_cli_error(out, "\"%s\" is not a prompt name (a path in the language folder: "
			       "letters, digits, - _ . +, parts separated by /, none starting "
			       "with .)", octo_cfg_clean(clean, argv[2]));
		return OCTO_CLI_FAIL;
	}
	if (!rec_word_ok(argv[3], 20)) {
		octo_cli_error(out, "\"%s\" is not an extension (1 to 20 digits)",
			       octo_cfg_clean(clean, argv[3]));
		return OCTO_CLI_FAIL;
	}
	if (argc == 5 && !octo_sound_language_valid(argv[4])) {
		octo_cli_error(out, "\"%s\" is not a language folder name (letters, digits, - "
			       "and _)", octo_cfg_clean(clean, argv[4]));
		return OCTO_CLI_FAIL;
	}
	if (!octo_paths.sound_dir || !*octo_paths.sound_dir) {
		octo_cli_error(out, "There is no sound folder (octo.conf [directories] sounds).");
		return OCTO_CLI_FAIL;
	}
	users = octo_service_get(OCTO_USERS_SERVICE, 1, IVR_HOLDER);
	if (users)
		u = users->find(argv[3]);
	if (!u) {
		octo_cli_error(out, "No user %s in users.conf%s.", argv[3],
			       users ? "" : " (res_users is not loaded)");
		octo_service_put(users, IVR_HOLDER);
		return OCTO_CLI_FAIL;
	}
	rec_reap(false);
	pthread_mutex_lock(&rec_lock);
	for (size_t i = 0; i < REC_THREADS_MAX && !job; i++)
		if (!rec_jobs[i].used)
			job = &rec_jobs[i];
	if (job) {
		memset(job, 0, sizeof(*job));
		job->used = true;
	}
	pthread_mutex_unlock(&rec_lock);
	if (!job) {
		octo_obj_unref(u);
		octo_service_put(users, IVR_HOLDER);
		octo_cli_error(out, "%d recordings are under way already: try again later.",
			       REC_THREADS_MAX);
		return OCTO_CLI_FAIL;
	}
	/* the language: as asked, else the user's, else English */
	octo_strlcpy(lang, argc == 5 ? argv[4] : *u->language ? u->language : "en", sizeof(lang));
	octo_obj_unref(u);
	octo_service_put(users, IVR_HOLDER);
	octo_strlcpy(job->name, name, sizeof(job->name));
	octo_strlcpy(job->ext, argv[3], sizeof(job->ext));
	octo_strlcpy(job->lang, lang, sizeof(job->lang));
	snprintf(job->path, sizeof(job->path), "%s/%s/%s.wav", octo_paths.sound_dir, lang, name);
	atomic_store(&job->done, false);
	job->self = ivr_self;
	if (job->self)
		octo_module_ref(job->self, "sound record");
	rc = pthread_create(&job->thread, NULL, rec_thread, job);
	if (rc) {
		if (job->self)
			octo_module_unref(job->self, "sound record");
		pthread_mutex_lock(&rec_lock);
		job->used = false;
		pthread_mutex_unlock(&rec_lock);
		octo_cli_error(out, "Cannot start a thread: %s", strerror(rc));
		return OCTO_CLI_FAIL;
	}
	octo_cli_kv(out, "calling", "%s", argv[3]);
	octo_cli_kv(out, "prompt", "%s", name);
	octo_cli_kv(out, "language", "%s", job->lang);
	octo_cli_kv(out, "file", "%s", job->path);
	octo_cli_printf(out, "Calling user %s: after the beep, speak, then press # or hang up; "
			"the recording becomes %s.", argv[3], job->path);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd ivr_cli[] = {
	{ "ivr show", "List the IVR nodes, or one tree node by node", "ivr show [<tree>]",
	  ivr_cli_show, ivr_complete_node },
	{ "sound record", "Record a prompt from a user's phone (after the beep, until # or "
	  "hang-up)", "sound record <name> <extension> [<language>]", rec_cli, NULL },
	{ 0 }
};

/* ---------------------------------------------------------------- module */

static void ivr_log_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

static int ivr_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct ivr_set *set = ivr_build(octo_paths.config_dir, &diags);

	ivr_log_diags(&diags);
	if (!set) {
		octo_log(OCTO_ERROR, "%s has %zu error%s: no IVR loaded", IVR_FILE, diags.errors,
			 diags.errors == 1 ? "" : "s");
		octo_diags_free(&diags);
		return OCTO_LOAD_FAIL;
	}
	octo_diags_free(&diags);
	audio_features_load();
	if (octo_app_register_all(self, ivr_apps) || octo_cli_register_all(self, ivr_cli)) {
		octo_obj_unref(set);
		return OCTO_LOAD_FAIL;
	}
	atomic_store(&rec_stopping, false);
	ivr_self = self;
	ivr_install(set);
	return OCTO_LOAD_OK;
}

static int ivr_unload(struct octo_module *self)
{
	atomic_store(&rec_stopping, true);
	rec_reap(true);
	ivr_self = NULL;
	ivr_install(NULL);
	return 0;
}

static int ivr_reload(struct octo_module *self, struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct ivr_set *set = ivr_build(octo_paths.config_dir, diags), *old;

	if (!set) {
		old = ivr_get();
		octo_log(OCTO_WARNING, "%s: reload refused (%zu error%s): the %zu running nodes "
			 "stay", IVR_FILE, diags->errors - errors,
			 diags->errors - errors == 1 ? "" : "s", old ? old->count : 0);
		octo_obj_unref(old);
		return OCTO_ECONFIG;
	}
	{
		/* features.conf problems are app_playback's and app_read's to report */
		struct octo_diags scratch = { 0 };

		audio_features_reload(&scratch);
		octo_diags_free(&scratch);
	}
	ivr_install(set);
	return 0;
}

static int ivr_check(const char *config_dir, struct octo_diags *diags)
{
	struct ivr_set *set = ivr_build(config_dir, diags);

	if (!set)
		return OCTO_ECONFIG;
	octo_obj_unref(set);
	return 0;
}

OCTO_MODULE(app_ivr, .description = "IVR trees (ivr.conf), IVR and sound record",
	    .load = ivr_load, .unload = ivr_unload, .reload = ivr_reload, .check = ivr_check,
	    .optional = "res_users");
