/*
 * app_switch.c - switches: named two-state (on/off) or three-state
 * (on/off/extra) settings an administrator or a feature code flips, e.g.
 * "the office is closed" for a night service. Defined in switches.conf;
 * the current state lives in the SQLite store (table switch_state), so it
 * survives a restart. Provides
 *
 *   CheckSwitch(name,on_procedure,off_procedure[,extra_procedure])
 *       jumps to the first step of the procedure of the current state, for
 *       the current called number, and sets ${SWITCH_<NAME>} to the state
 *       (the name upper-cased, characters other than letters and digits
 *       made '_': switch "day-night" sets ${SWITCH_DAY_NIGHT}). An empty or
 *       missing procedure for the state means: go on with the next step.
 *   SetSwitch(name,on|off|extra|toggle)
 *       changes the state (for feature codes); toggle flips on/off, and on a
 *       three-state switch goes on -> off -> extra -> on. Sets ${SWITCH_<NAME>}.
 *   ${SWITCH(name)}      the current state
 *   switch show [<name>] switch set <name> on|off|extra|toggle   (CLI)
 *
 * A switch can be named by its name or by its number everywhere.
 *
 * DESIGN
 *  - The definitions form an immutable refcounted snapshot swapped in
 *    atomically on reload (sw_lock guards the pointer only). States are read
 *    from the store each time -- it is the only truth, shared by the CLI and
 *    every call -- and writes go through sw_write_lock, so a toggle's read
 *    and write are one step. Store calls are synchronous: they run on call
 *    threads and CLI workers, never on the event loop.
 *  - A stored state a switch no longer has (extra, after the switch became
 *    two-state) and a store that cannot be read fall back to the default
 *    state; show says so.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/store.h"

#define SW_FILE "switches.conf"
#define SW_NAME_MAX 64
#define SW_NUMBER_MAX 20
#define SW_BY_MAX 64

enum sw_state { SW_ON, SW_OFF, SW_EXTRA, SW_STATES };
static const char *const sw_state_names[] = { "on", "off", "extra", NULL };
static const char *const sw_kinds[] = { "on/off", "on/off/extra", NULL };

struct sw_switch {
	char *name;
	char *description;
	char *number; /* "" when none */
	char *file;
	int line;
	bool three;   /* on/off/extra */
	int def;      /* enum sw_state */
};

struct sw_set {
	struct sw_switch **sw; /* sorted by name */
	size_t count;
};

static pthread_rwlock_t sw_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct sw_set *sw_current;                          /* guarded by sw_lock */
static pthread_mutex_t sw_write_lock = PTHREAD_MUTEX_INITIALIZER; /* state changes */

static const char *const sw_schema[] = {
	/* version 1 */
	"CREATE TABLE switch_state(name TEXT PRIMARY KEY, state TEXT NOT NULL, "
	"changed INTEGER NOT NULL, changed_by TEXT)",
};

/* ---------------------------------------------------------------- helpers */
static bool sw_name_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!(isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			return false;
	return n > 0 && n < SW_NAME_MAX;
}

static int sw_state_parse(const char *s)
{
	for (int i = 0; i < SW_STATES; i++)
		if (!strcasecmp(s, sw_state_names[i]))
			return i;
	return -1;
}

/* "SWITCH_DAY_NIGHT" for "day-night". */
static void sw_var_name(const char *name, char *buf, size_t size)
{
	size_t off = octo_strlcpy(buf, "SWITCH_", size);

	for (; *name && off + 1 < size; name++)
		buf[off++] = isalnum((unsigned char)*name) ? (char)toupper((unsigned char)*name)
							   : '_';
	if (off < size)
		buf[off] = '\0';
}

/* ---------------------------------------------------------------- config */
struct sw_cfg {
	char *description;
	char *number;
	int kind;
	int def;
};

static const char *sw_set_number(void *field, const char *value)
{
	char **p = field;
	size_t n = strlen(value);

	if (!n || n > SW_NUMBER_MAX)
		return "is not a number (1 to 20 digits, * and #)";
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)value[i]) && value[i] != '*' && value[i] != '#')
			return "is not a number (1 to 20 digits, * and #)";
	free(*p);
	*p = octo_strdup(value);
	return NULL;
}

static void sw_free_str(void *field)
{
	char **p = field;

	free(*p);
	*p = NULL;
}

static const struct octo_cfg_opt sw_opts[] = {
	{ .key = "description", .type = OCTO_CFG_T_STR,
	  .offset = offsetof(struct sw_cfg, description), .doc = "text shown by switch show" },
	{ .key = "number", .type = OCTO_CFG_T_CUSTOM, .offset = offsetof(struct sw_cfg, number),
	  .set = sw_set_number, .free = sw_free_str, .doc = "number for feature codes" },
	{ .key = "states", .type = OCTO_CFG_T_ENUM, .offset = offsetof(struct sw_cfg, kind),
	  .def = "on/off", .enum_values = sw_kinds, .doc = "on/off or on/off/extra" },
	{ .key = "default", .type = OCTO_CFG_T_ENUM, .offset = offsetof(struct sw_cfg, def),
	  .def = "off", .enum_values = sw_state_names, .doc = "state until first set" },
	OCTO_CFG_END
};

static void sw_switch_free(struct sw_switch *s)
{
	if (!s)
		return;
	free(s->name);
	free(s->description);
	free(s->number);
	free(s->file);
	free(s);
}

static void sw_set_destroy(void *obj)
{
	struct sw_set *set = obj;

	for (size_t i = 0; i < set->count; i++)
		sw_switch_free(set->sw[i]);
	free(set->sw);
}

static int sw_cmp(const void *a, const void *b)
{
	return strcmp((*(struct sw_switch *const *)a)->name, (*(struct sw_switch *const *)b)->name);
}

static struct sw_switch *sw_build_one(const struct octo_cfg_section *sec, struct octo_diags *diags)
{
	char sb[OCTO_CFG_CLEAN];
	size_t errors = diags->errors;
	struct sw_cfg cfg = { 0 };
	struct sw_switch *s;

	if (!sw_name_valid(sec->name)) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "[%s] is not a valid switch name (letters, digits, '_', '-', '.'; "
			       "at most %d)",
			       octo_cfg_clean(sb, sec->name), SW_NAME_MAX - 1);
		return NULL;
	}
	octo_cfg_bind(sec, sw_opts, &cfg, NULL, diags);
	if (diags->errors == errors && cfg.def == SW_EXTRA && cfg.kind == 0) {
		const struct octo_cfg_var *v = octo_cfg_var_find(sec, "default");

		octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : sec->file,
			       v ? v->line : sec->line,
			       "[%s] default: \"extra\" needs states = on/off/extra",
			       octo_cfg_clean(sb, sec->name));
	}
	if (diags->errors != errors) {
		octo_cfg_unbind(sw_opts, &cfg);
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		octo_cfg_unbind(sw_opts, &cfg);
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line, "out of memory");
		return NULL;
	}
	s->name = octo_strdup(sec->name);
	s->description = octo_strdup(cfg.description ? cfg.description : "");
	s->number = octo_strdup(cfg.number ? cfg.number : "");
	s->file = octo_strdup(sec->file ? sec->file : SW_FILE);
	s->line = sec->line;
	s->three = cfg.kind == 1;
	s->def = cfg.def;
	octo_cfg_unbind(sw_opts, &cfg);
	return s;
}

/* Reads switches.conf into a new set; NULL when it has errors (in diags). */
static struct sw_set *sw_build(const char *config_dir, struct octo_diags *diags)
{
	size_t errors = diags->errors, n = 0;
	struct octo_cfg *cfg;
	struct sw_set *set = octo_obj_alloc(sizeof(*set), sw_set_destroy);

	if (!set) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, SW_FILE, 0, "out of memory");
		return NULL;
	}
	cfg = octo_cfg_load(config_dir, SW_FILE, true, diags);
	if (!cfg) {
		octo_obj_unref(set);
		return NULL;
	}
	for (const struct octo_cfg_section *s = octo_cfg_first(cfg); s; s = octo_cfg_next(s))
		n++;
	set->sw = calloc(n ? n : 1, sizeof(*set->sw));
	if (!set->sw)
		octo_diags_add(diags, OCTO_DIAG_ERROR, SW_FILE, 0, "out of memory");
	for (const struct octo_cfg_section *s = octo_cfg_first(cfg); s && set->sw;
	     s = octo_cfg_next(s)) {
		struct sw_switch *sw = sw_build_one(s, diags);
		char sb[OCTO_CFG_CLEAN];

		if (!sw)
			continue;
		for (size_t i = 0; sw->number[0] && i < set->count; i++) {
			const struct octo_cfg_var *v = octo_cfg_var_find(s, "number");

			if (strcmp(set->sw[i]->number, sw->number))
				continue;
			octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : s->file,
				       v ? v->line : s->line,
				       "[%s] number: %s is already the number of [%s] (%s:%d)",
				       octo_cfg_clean(sb, s->name), sw->number, set->sw[i]->name,
				       set->sw[i]->file, set->sw[i]->line);
			break;
		}
		set->sw[set->count++] = sw;
	}
	octo_cfg_free(cfg);
	if (diags->errors != errors) {
		octo_obj_unref(set);
		return NULL;
	}
	qsort(set->sw, set->count, sizeof(*set->sw), sw_cmp);
	return set;
}

static void sw_install(struct sw_set *set)
{
	struct sw_set *old;

	pthread_rwlock_wrlock(&sw_lock);
	old = sw_current;
	sw_current = set;
	pthread_rwlock_unlock(&sw_lock);
	octo_obj_unref(old);
	if (set)
		octo_verbose(2, "switches: %zu switch%s", set->count, set->count == 1 ? "" : "es");
}

static struct sw_set *sw_get_set(void)
{
	struct sw_set *set;

	pthread_rwlock_rdlock(&sw_lock);
	set = octo_obj_ref(sw_current);
	pthread_rwlock_unlock(&sw_lock);
	return set;
}

/* By name, else by number; borrowed from `set`. */
static const struct sw_switch *sw_find(const struct sw_set *set, const char *key)
{
	if (!set || !key || !*key)
		return NULL;
	for (size_t i = 0; i < set->count; i++)
		if (!strcmp(set->sw[i]->name, key))
			return set->sw[i];
	for (size_t i = 0; i < set->count; i++)
		if (set->sw[i]->number[0] && !strcmp(set->sw[i]->number, key))
			return set->sw[i];
	return NULL;
}

/* ---------------------------------------------------------------- states */

/* What the store says about a switch. */
struct sw_stored {
	bool found;     /* a row exists */
	bool valid;     /* ...with a state this switch has */
	bool failed;    /* the store could not be read */
	int state;      /* the state in force (the default unless valid) */
	int64_t changed;
	char by[SW_BY_MAX];
	char raw[16];   /* the stored text */
};

static int sw_row(const struct octo_store_row *row, void *data)
{
	struct sw_stored *st = data;
	const char *by = octo_store_row_text(row, 2);

	st->found = true;
	octo_strlcpy(st->raw, octo_store_row_text(row, 0) ? octo_store_row_text(row, 0) : "",
		     sizeof(st->raw));
	st->changed = octo_store_row_int(row, 1);
	octo_strlcpy(st->by, by ? by : "", sizeof(st->by));
	return 1;
}

static void sw_read(const struct sw_switch *s, struct sw_stored *st)
{
	int rc, state;

	memset(st, 0, sizeof(*st));
	st->state = s->def;
	rc = octo_store_query("SELECT state, changed, changed_by FROM switch_state WHERE name = ?",
			      OCTO_STORE_ARGS(OCTO_STORE_T(s->name)), sw_row, st);
	if (rc < 0) {
		st->failed = true;
		return;
	}
	if (!st->found)
		return;
	state = sw_state_parse(st->raw);
	if (state < 0 || (state == SW_EXTRA && !s->three))
		return;
	st->valid = true;
	st->state = state;
}

/* The next state of a toggle. */
static int sw_toggled(const struct sw_switch *s, int state)
{
	switch (state) {
	case SW_ON: return SW_OFF;
	case SW_OFF: return s->three ? SW_EXTRA : SW_ON;
	default: return SW_ON;
	}
}

/*
 * Sets `s` to `want` (a state, or -1 for a toggle), recording who did it.
 * On success *before and *after hold the states. Returns 0, OCTO_EINVAL
 * (extra on a two-state switch) or the store's error.
 */
static int sw_change(const struct sw_switch *s, int want, const char *by, int *before, int *after)
{
	struct sw_stored st;
	int rc;

	if (want == SW_EXTRA && !s->three)
		return OCTO_EINVAL;
	pthread_mutex_lock(&sw_write_lock);
	sw_read(s, &st);
	*before = st.state;
	*after = want < 0 ? sw_toggled(s, st.state) : want;
	rc = octo_store_exec("INSERT OR REPLACE INTO switch_state(name, state, changed, "
			     "changed_by) VALUES(?, ?, ?, ?)",
			     OCTO_STORE_ARGS(OCTO_STORE_T(s->name),
					     OCTO_STORE_T(sw_state_names[*after]),
					     OCTO_STORE_I(time(NULL)), OCTO_STORE_T(by)));
	pthread_mutex_unlock(&sw_write_lock);
	if (rc < 0)
		return rc;
	octo_log(OCTO_NOTICE, "switch %s: %s -> %s (by %s)", s->name, sw_state_names[*before],
		 sw_state_names[*after], by);
	return 0;
}

/* "on", "off", "extra" or "toggle" -> state or -1 (toggle); -2 when bad. */
static int sw_want_parse(const char *s)
{
	if (!strcasecmp(s, "toggle"))
		return -1;
	return sw_state_parse(s) >= 0 ? sw_state_parse(s) : -2;
}

/* ---------------------------------------------------------------- dialplan */

/* CheckSwitch(name,on_procedure,off_procedure[,extra_procedure]) */
static int sw_app_check(struct octo_channel *chan, char *args)
{
	char *argv[5], var[SW_NAME_MAX + 8], number[128], proc[128];
	int argc = octo_args_split(args, argv, 5);
	const struct sw_switch *s;
	struct sw_stored st;
	struct sw_set *set;
	int rc;

	if (argc < 3 || argc > 4 || !*argv[0]) {
		octo_chan_step(chan, "CheckSwitch: expected "
				     "name,on_procedure,off_procedure[,extra_procedure]");
		return OCTO_EINVAL;
	}
	set = sw_get_set();
	s = sw_find(set, argv[0]);
	if (!s) {
		octo_chan_step(chan, "CheckSwitch: no switch \"%s\" in %s", argv[0], SW_FILE);
		octo_obj_unref(set);
		return OCTO_ENOTFOUND;
	}
	sw_read(s, &st);
	sw_var_name(s->name, var, sizeof(var));
	octo_chan_var_set(chan, var, sw_state_names[st.state]);
	octo_strlcpy(proc, st.state + 1 < argc ? argv[st.state + 1] : "", sizeof(proc));
	octo_chan_step(chan, "CheckSwitch(%s): %s%s", s->name, sw_state_names[st.state],
		       st.failed ? " (the default: the store cannot be read)"
		       : !st.valid ? " (the default)"
				   : "");
	octo_obj_unref(set);
	if (!proc[0]) {
		octo_chan_step(chan, "CheckSwitch: no procedure for %s, going on",
			       sw_state_names[st.state]);
		return OCTO_APP_CONTINUE;
	}
	octo_strlcpy(number, octo_chan_peek(chan, OCTO_CHAN_CALLED), sizeof(number));
	rc = octo_pbx_goto(chan, proc, number, NULL);
	return rc ? rc : OCTO_APP_CONTINUE;
}

/* SetSwitch(name,on|off|extra|toggle) */
static int sw_app_set(struct octo_channel *chan, char *args)
{
	char *argv[3], var[SW_NAME_MAX + 8], by[SW_BY_MAX];
	int argc = octo_args_split(args, argv, 3), want, before, after, rc;
	const struct sw_switch *s;
	struct sw_set *set;

	if (argc != 2 || !*argv[0] || (want = sw_want_parse(argv[1])) == -2) {
		octo_chan_step(chan, "SetSwitch: expected name,on|off|extra|toggle");
		return OCTO_EINVAL;
	}
	set = sw_get_set();
	s = sw_find(set, argv[0]);
	if (!s) {
		octo_chan_step(chan, "SetSwitch: no switch \"%s\" in %s", argv[0], SW_FILE);
		octo_obj_unref(set);
		return OCTO_ENOTFOUND;
	}
	snprintf(by, sizeof(by), "call %s from %.32s", octo_chan_id(chan),
		 octo_chan_peek(chan, OCTO_CHAN_CALLER_NUM));
	rc = sw_change(s, want, by, &before, &after);
	if (rc == OCTO_EINVAL)
		octo_chan_step(chan, "SetSwitch(%s): a two-state switch has no state extra",
			       s->name);
	else if (rc)
		octo_chan_step(chan, "SetSwitch(%s): cannot store the state: %s", s->name,
			       octo_strerror(rc));
	else {
		octo_chan_step(chan, "SetSwitch(%s): %s -> %s", s->name, sw_state_names[before],
			       sw_state_names[after]);
		sw_var_name(s->name, var, sizeof(var));
		octo_chan_var_set(chan, var, sw_state_names[after]);
	}
	octo_obj_unref(set);
	return rc ? rc : OCTO_APP_CONTINUE;
}

/* ${SWITCH(name)} */
static int sw_func(struct octo_channel *chan, const char *args, char *buf, size_t size)
{
	struct sw_set *set = sw_get_set();
	const struct sw_switch *s = sw_find(set, args);
	struct sw_stored st;

	if (!s) {
		octo_obj_unref(set);
		return OCTO_ENOTFOUND;
	}
	sw_read(s, &st);
	octo_strlcpy(buf, sw_state_names[st.state], size);
	octo_obj_unref(set);
	return 0;
}

static const struct octo_app sw_apps[] = {
	{ .name = "CheckSwitch", .synopsis = "Route a call by the state of a switch",
	  .syntax = "CheckSwitch(name,on_procedure,off_procedure[,extra_procedure])",
	  .description =
		  "Jumps to the first step of the procedure given for the switch's current "
		  "state (switches.conf; name or number), for the current called number. An "
		  "empty or missing procedure means: go on with the next step. Sets "
		  "${SWITCH_<NAME>} to on, off or extra (the name upper-cased, other characters "
		  "than letters and digits as '_'). An unknown switch ends the call.",
	  .exec = sw_app_check },
	{ .name = "SetSwitch", .synopsis = "Change the state of a switch",
	  .syntax = "SetSwitch(name,on|off|extra|toggle)",
	  .description =
		  "Sets the switch (name or number) and stores the state. toggle flips on and "
		  "off; on a three-state switch it goes on -> off -> extra -> on. Sets "
		  "${SWITCH_<NAME>} to the new state.",
	  .exec = sw_app_set },
	{ 0 }
};

static const struct octo_func sw_funcs[] = {
	{ .name = "SWITCH", .synopsis = "The state of a switch: on, off or extra",
	  .syntax = "${SWITCH(name)}", .read = sw_func },
	{ 0 }
};

/* ---------------------------------------------------------------- CLI */

static void sw_complete(struct octo_cli_completion *c, int pos, const char *partial)
{
	size_t len = partial ? strlen(partial) : 0;
	struct sw_set *set;

	if (pos == 1) {
		static const char *const wants[] = { "on", "off", "extra", "toggle" };

		for (size_t i = 0; i < OCTO_ARRAY_LEN(wants); i++)
			if (!len || !strncmp(wants[i], partial, len))
				octo_cli_complete_add(c, wants[i]);
		return;
	}
	if (pos != 0)
		return;
	set = sw_get_set();
	for (size_t i = 0; set && i < set->count; i++)
		if (!len || !strncmp(set->sw[i]->name, partial, len))
			octo_cli_complete_add(c, set->sw[i]->name);
	octo_obj_unref(set);
}

static void sw_changed_text(const struct sw_stored *st, char *buf, size_t size)
{
	struct tm tm;
	time_t t = (time_t)st->changed;
	char when[32];

	if (st->failed) {
		octo_strlcpy(buf, "(store unavailable)", size);
		return;
	}
	if (!st->found) {
		octo_strlcpy(buf, "never", size);
		return;
	}
	if (!localtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
		octo_strlcpy(when, "?", sizeof(when));
	snprintf(buf, size, "%s by %s%s%s%s", when, st->by[0] ? st->by : "?",
		 st->valid ? "" : " (stored \"", st->valid ? "" : st->raw,
		 st->valid ? "" : "\" is not a state of this switch: default)");
}

static int sw_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct sw_set *set;
	struct sw_stored st;
	char changed[256], var[SW_NAME_MAX + 8];

	if (argc > 3)
		return OCTO_CLI_USAGE;
	set = sw_get_set();
	if (!set) {
		octo_cli_error(out, "No switches loaded.");
		return OCTO_CLI_FAIL;
	}
	if (argc == 3) {
		const struct sw_switch *s = sw_find(set, argv[2]);

		if (!s) {
			octo_cli_error(out, "No switch \"%.64s\" (see switch show).", argv[2]);
			octo_obj_unref(set);
			return OCTO_CLI_FAIL;
		}
		sw_read(s, &st);
		sw_changed_text(&st, changed, sizeof(changed));
		octo_cli_kv(out, "switch", "%s", s->name);
		octo_cli_kv(out, "description", "%s", s->description);
		octo_cli_kv(out, "number", "%s", s->number[0] ? s->number : "-");
		octo_cli_kv(out, "states", "%s", sw_kinds[s->three]);
		octo_cli_kv(out, "state", "%s", sw_state_names[st.state]);
		octo_cli_kv(out, "default", "%s", sw_state_names[s->def]);
		octo_cli_kv(out, "changed", "%s", changed);
		sw_var_name(s->name, var, sizeof(var));
		octo_cli_kv(out, "variable", "%s", var);
		octo_cli_kv(out, "defined at", "%s:%d", s->file, s->line);
		octo_obj_unref(set);
		return OCTO_CLI_OK;
	}
	octo_cli_columns(out, "name", "number", "states", "state", "default", "changed",
			 "description", NULL);
	for (size_t i = 0; i < set->count; i++) {
		const struct sw_switch *s = set->sw[i];

		sw_read(s, &st);
		sw_changed_text(&st, changed, sizeof(changed));
		octo_cli_row(out, s->name, s->number[0] ? s->number : "-", sw_kinds[s->three],
			     sw_state_names[st.state], sw_state_names[s->def], changed,
			     s->description, NULL);
	}
	octo_cli_kv(out, "switches", "%zu", set->count);
	octo_obj_unref(set);
	return OCTO_CLI_OK;
}

static int sw_cli_set(struct octo_cli_out *out, int argc, char **argv)
{
	const struct sw_switch *s;
	struct sw_set *set;
	int want, before, after, rc;

	if (argc != 4)
		return OCTO_CLI_USAGE;
	want = sw_want_parse(argv[3]);
	if (want == -2) {
		octo_cli_error(out, "\"%.32s\" is not a state (on, off, extra or toggle).",
			       argv[3]);
		return OCTO_CLI_FAIL;
	}
	set = sw_get_set();
	s = sw_find(set, argv[2]);
	if (!s) {
		octo_cli_error(out, "No switch \"%.64s\" (see switch show).", argv[2]);
		octo_obj_unref(set);
		return OCTO_CLI_FAIL;
	}
	rc = sw_change(s, want, "cli", &before, &after);
	if (rc == OCTO_EINVAL)
		octo_cli_error(out, "Switch %s has only the states on and off.", s->name);
	else if (rc)
		octo_cli_error(out, "Cannot store the state of switch %s: %s.", s->name,
			       octo_strerror(rc));
	else {
		octo_cli_kv(out, "switch", "%s", s->name);
		octo_cli_kv(out, "state", "%s", sw_state_names[after]);
		octo_cli_kv(out, "was", "%s", sw_state_names[before]);
	}
	octo_obj_unref(set);
	return rc ? OCTO_CLI_FAIL : OCTO_CLI_OK;
}

static const struct octo_cli_cmd sw_cli[] = {
	{ "switch show", "List the switches and their states, or show one",
	  "switch show [<name>]", sw_cli_show, sw_complete },
	{ "switch set", "Change the state of a switch",
	  "switch set <name> on|off|extra|toggle", sw_cli_set, sw_complete },
	{ 0 }
};

/* ---------------------------------------------------------------- module */
static void sw_log_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

static int sw_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct sw_set *set = sw_build(octo_paths.config_dir, &diags);

	sw_log_diags(&diags);
	if (!set) {
		octo_log(OCTO_ERROR, "%s has %zu error%s: no switches loaded", SW_FILE,
			 diags.errors, diags.errors == 1 ? "" : "s");
		octo_diags_free(&diags);
		return OCTO_LOAD_FAIL;
	}
	octo_diags_free(&diags);
	if (octo_store_migrate("app_switch", sw_schema, OCTO_ARRAY_LEN(sw_schema)) < 0) {
		octo_log(OCTO_ERROR, "switches: cannot prepare the table of switch states");
		octo_obj_unref(set);
		return OCTO_LOAD_FAIL;
	}
	if (octo_app_register_all(self, sw_apps) || octo_func_register_all(self, sw_funcs) ||
	    octo_cli_register_all(self, sw_cli)) {
		octo_obj_unref(set);
		return OCTO_LOAD_FAIL;
	}
	sw_install(set);
	return OCTO_LOAD_OK;
}

static int sw_unload(struct octo_module *self)
{
	sw_install(NULL);
	return 0;
}

static int sw_reload(struct octo_module *self, struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct sw_set *set = sw_build(octo_paths.config_dir, diags);

	if (!set) {
		octo_log(OCTO_WARNING,
			 "%s: reload refused (%zu error%s): the running switches stay", SW_FILE,
			 diags->errors - errors, diags->errors - errors == 1 ? "" : "s");
		return OCTO_ECONFIG;
	}
	sw_install(set);
	return 0;
}

static int sw_check(const char *config_dir, struct octo_diags *diags)
{
	struct sw_set *set = sw_build(config_dir, diags);

	if (!set)
		return OCTO_ECONFIG;
	octo_obj_unref(set);
	return 0;
}

OCTO_MODULE(app_switch, .description = "Switches (switches.conf): CheckSwitch, SetSwitch",
	    .load = sw_load, .unload = sw_unload, .reload = sw_reload, .check = sw_check);
