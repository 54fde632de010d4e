/*
 * app_callgroup.c - call groups (callgroups.conf): the CallGroup application
 * rings the members of a group -- users, each with all their devices -- by
 * the group's strategy, connects the caller with the member who answers, and
 * leaves ${DIALSTATUS} for the next step of the dialplan, like Dial:
 *
 *   exten => 600,1,CallGroup(sales,60)
 *   same  => n,Voicemail(600)              ; runs after the timeout
 *
 * Strategies: ring-all (every member at once, first answer wins), hunt (one
 * member after the other, in the order listed), round-robin (like hunt, each
 * call starting after the member where the previous one stopped),
 * longest-idle (like hunt, the member whose last call through the group
 * ended longest ago first) and random (like hunt, in a random order). CLI:
 *
 *   callgroup show [<name>]    the groups, or one group with its members' state
 *
 * DESIGN
 *  - The groups form an immutable, refcounted snapshot (struct cg_set) built
 *    from the file; load and reload build a complete new one and swap it in
 *    under cg_lock (a rwlock guarding only the pointer) only when it has no
 *    error. A call holds a reference on its group, so a reload never changes
 *    a group under a ringing call.
 *  - What the groups remember between calls -- the round-robin position and
 *    each member's last call end (longest-idle) -- is kept apart from the
 *    snapshot, keyed by the group's name, so it survives reloads. It lives in
 *    memory under cg_state_lock and is written to the internal store (tables
 *    callgroup_position and callgroup_member, queued writes that never block
 *    a call) so it survives a restart too; load reads it back. Without a
 *    store it is kept in memory only.
 *  - CallGroup runs on the caller's call thread. Members are resolved through
 *    the "users" service (taken for each lookup only, never while ringing),
 *    their devices rung through the core's dial sets (bridge.h): one set for
 *    ring-all, one set per member turn for the others. The caller is shown
 *    RINGING once by CallGroup itself; the dial sets are quiet.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
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
#include "octo/sched.h"
#include "octo/sound.h"
#include "octo/store.h"
#include "octo/users.h"
#include "audio_common.h"

#define CG_FILE "callgroups.conf"
#define CG_USERS_FILE "users.conf"
#define CG_HOLDER "app_callgroup"
#define CG_MAX_MEMBERS 32
#define CG_EXT_MAX 20        /* digits of a member's extension (as users.conf) */
#define CG_NAME_MAX 64       /* characters of a group name */
#define CG_TIMEOUT_MAX 86400 /* seconds */

enum cg_strategy { CG_RING_ALL, CG_HUNT, CG_ROUND_ROBIN, CG_LONGEST_IDLE, CG_RANDOM };

static const char *const cg_strategy_names[] = {
	"ring-all", "hunt", "round-robin", "longest-idle", "random", NULL,
};

/* What octo_cfg_bind fills from one section. */
struct cg_cfg {
	char *description;
	char *number;
	struct octo_cfg_list members;
	int strategy;
	unsigned ring_time;
	unsigned timeout;
	bool skip_dnd;
};

static const struct octo_cfg_opt cg_opts[] = {
	OCTO_CFG_STR("description", struct cg_cfg, description, NULL, 0),
	OCTO_CFG_STR("number", struct cg_cfg, number, NULL, 0),
	OCTO_CFG_LIST("members", struct cg_cfg, members, NULL, OCTO_CFG_MULTI | OCTO_CFG_REQUIRED),
	OCTO_CFG_ENUM("strategy", struct cg_cfg, strategy, "ring-all", cg_strategy_names),
	OCTO_CFG_DURATION("ring_time", struct cg_cfg, ring_time, "15", 1, 3600),
	OCTO_CFG_DURATION("timeout", struct cg_cfg, timeout, "60", 0, CG_TIMEOUT_MAX),
	OCTO_CFG_BOOL("skip_dnd", struct cg_cfg, skip_dnd, "yes"),
	OCTO_CFG_END
};

/* One group: immutable once built. */
struct cg_group {
	char *name;
	char key[CG_NAME_MAX + 1]; /* the name in lower case: the state's key */
	char *description;
	char number[CG_EXT_MAX + 1]; /* dialled to pick up in the group; "": none */
	enum cg_strategy strategy;
	unsigned ring_time; /* seconds each member rings (not ring-all) */
	unsigned timeout;   /* seconds in all; 0: no limit */
	bool skip_dnd;
	char **members;
	size_t nmembers;
	char *file;
	int line;
};

/* Every group of the file. */
struct cg_set {
	struct octo_container *by_name;
	struct cg_group **sorted;
	size_t count;
};

static pthread_rwlock_t cg_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct cg_set *cg_current; /* guarded by cg_lock */

/* ---------------------------------------------------------------- remembered state */

struct cg_member_state {
	char ext[CG_EXT_MAX + 1];
	uint64_t last_end_us; /* wall clock; 0: never */
	unsigned calls;       /* answered calls through the group */
};

struct cg_state {
	char key[CG_NAME_MAX + 1];
	char last[CG_EXT_MAX + 1]; /* round-robin: where the last call stopped */
	struct cg_member_state *m;
	size_t n, cap;
};

static pthread_mutex_t cg_state_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cg_state *cg_states; /* guarded by cg_state_lock */
static size_t cg_nstates, cg_states_cap;
static bool cg_store_ok; /* the tables exist: write through */

static const char *const cg_schema[] = {
	"CREATE TABLE callgroup_position(grp TEXT PRIMARY KEY, last_member TEXT NOT NULL, "
	"updated INTEGER NOT NULL);"
	"CREATE TABLE callgroup_member(grp TEXT NOT NULL, member TEXT NOT NULL, "
	"last_end INTEGER NOT NULL, calls INTEGER NOT NULL, PRIMARY KEY(grp, member));",
};

/* The state of group `key`, created when missing; NULL on out of memory.
 * cg_state_lock held. */
static struct cg_state *cg_state_of(const char *key)
{
	struct cg_state *st;

	for (size_t i = 0; i < cg_nstates; i++)
		if (!strcmp(cg_states[i].key, key))
			return &cg_states[i];
	if (cg_nstates == cg_states_cap) {
		size_t cap = cg_states_cap ? cg_states_cap * 2 : 8;
		struct cg_state *p = realloc(cg_states, cap * sizeof(*p));

		if (!p)
			return NULL;
		cg_states = p;
		cg_states_cap = cap;
	}
	st = &cg_states[cg_nstates++];
	memset(st, 0, sizeof(*st));
	octo_strlcpy(st->key, key, sizeof(st->key));
	return st;
}

/* Member `ext` of a group state, created when missing; NULL on out of
 * memory. cg_state_lock held. */
static struct cg_member_state *cg_state_member(struct cg_state *st, const char *ext)
{
	struct cg_member_state *m;

	for (size_t i = 0; i < st->n; i++)
		if (!strcmp(st->m[i].ext, ext))
			return &st->m[i];
	if (st->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 8;
		struct cg_member_state *p = realloc(st->m, cap * sizeof(*p));

		if (!p)
			return NULL;
		st->m = p;
		st->cap = cap;
	}
	m = &st->m[st->n++];
	memset(m, 0, sizeof(*m));
	octo_strlcpy(m->ext, ext, sizeof(m->ext));
	return m;
}

/* True when the state is written to the store. */
static bool cg_state_stored(void)
{
	bool ok;

	pthread_mutex_lock(&cg_state_lock);
	ok = cg_store_ok;
	pthread_mutex_unlock(&cg_state_lock);
	return ok;
}

static void cg_state_free_all(void)
{
	pthread_mutex_lock(&cg_state_lock);
	for (size_t i = 0; i < cg_nstates; i++)
		free(cg_states[i].m);
	free(cg_states);
	cg_states = NULL;
	cg_nstates = cg_states_cap = 0;
	cg_store_ok = false;
	pthread_mutex_unlock(&cg_state_lock);
}

/* What the CLI and the strategies read of a member. */
static void cg_state_read(const char *key, const char *ext, uint64_t *last_end, unsigned *calls)
{
	*last_end = 0;
	*calls = 0;
	pthread_mutex_lock(&cg_state_lock);
	for (size_t i = 0; i < cg_nstates; i++) {
		if (strcmp(cg_states[i].key, key))
			continue;
		for (size_t k = 0; k < cg_states[i].n; k++) {
			if (!strcmp(cg_states[i].m[k].ext, ext)) {
				*last_end = cg_states[i].m[k].last_end_us;
				*calls = cg_states[i].m[k].calls;
			}
		}
	}
	pthread_mutex_unlock(&cg_state_lock);
}

/* The member where the last round-robin call stopped ("" when none). */
static void cg_state_last(const char *key, char *buf, size_t size)
{
	buf[0] = '\0';
	pthread_mutex_lock(&cg_state_lock);
	for (size_t i = 0; i < cg_nstates; i++)
		if (!strcmp(cg_states[i].key, key))
			octo_strlcpy(buf, cg_states[i].last, size);
	pthread_mutex_unlock(&cg_state_lock);
}

static void cg_state_set_last(const char *key, const char *ext)
{
	struct cg_state *st;
	bool write;

	pthread_mutex_lock(&cg_state_lock);
	st = cg_state_of(key);
	if (st)
		octo_strlcpy(st->last, ext, sizeof(st->last));
	write = st && cg_store_ok;
	pthread_mutex_unlock(&cg_state_lock);
	if (write)
		octo_store_queue(
			"INSERT OR REPLACE INTO callgroup_position(grp, last_member, updated) "
			"VALUES(?, ?, ?)",
			OCTO_STORE_ARGS(OCTO_STORE_T(key), OCTO_STORE_T(ext),
					OCTO_STORE_I(octo_wall_us() / 1000000u)));
}

/* A call through the group that `ext` answered has ended now. */
static void cg_state_call_ended(const char *key, const char *ext)
{
	struct cg_state *st;
	struct cg_member_state *m = NULL;
	uint64_t now = octo_wall_us();
	unsigned calls = 0;
	bool write;

	pthread_mutex_lock(&cg_state_lock);
	st = cg_state_of(key);
	if (st)
		m = cg_state_member(st, ext);
	if (m) {
		m->last_end_us = now;
		calls = ++m->calls;
	}
	write = m && cg_store_ok;
	pthread_mutex_unlock(&cg_state_lock);
	if (write)
		octo_store_queue("INSERT OR REPLACE INTO callgroup_member(grp, member, last_end, "
				 "calls) VALUES(?, ?, ?, ?)",
				 OCTO_STORE_ARGS(OCTO_STORE_T(key), OCTO_STORE_T(ext),
						 OCTO_STORE_I(now), OCTO_STORE_I(calls)));
}

static int cg_store_row_position(const struct octo_store_row *row, void *data)
{
	const char *key = octo_store_row_text(row, 0), *last = octo_store_row_text(row, 1);
	struct cg_state *st;

	if (!key || !last || strlen(key) > CG_NAME_MAX || strlen(last) > CG_EXT_MAX)
		return 0;
	st = cg_state_of(key);
	if (st)
		octo_strlcpy(st->last, last, sizeof(st->last));
	return 0;
}

static int cg_store_row_member(const struct octo_store_row *row, void *data)
{
	const char *key = octo_store_row_text(row, 0), *ext = octo_store_row_text(row, 1);
	int64_t end = octo_store_row_int(row, 2), calls = octo_store_row_int(row, 3);
	struct cg_state *st;
	struct cg_member_state *m;

	if (!key || !ext || strlen(key) > CG_NAME_MAX || strlen(ext) > CG_EXT_MAX)
		return 0;
	st = cg_state_of(key);
	m = st ? cg_state_member(st, ext) : NULL;
	if (m) {
		m->last_end_us = end > 0 ? (uint64_t)end : 0;
		m->calls = calls > 0 && calls < 4000000000 ? (unsigned)calls : 0;
	}
	return 0;
}

/* Creates the tables when needed and reads the state back (start-up thread). */
static void cg_state_load(void)
{
	if (!octo_store_is_open()) {
		octo_log(OCTO_WARNING, "callgroups: no store: the round-robin positions and last "
				       "call times are kept in memory only");
		return;
	}
	if (octo_store_migrate(CG_HOLDER, cg_schema, OCTO_ARRAY_LEN(cg_schema)) < 0) {
		octo_log(OCTO_WARNING,
			 "callgroups: the store's tables cannot be set up: the "
			 "round-robin positions and last call times are kept in memory only");
		return;
	}
	pthread_mutex_lock(&cg_state_lock);
	octo_store_query("SELECT grp, last_member FROM callgroup_position", OCTO_STORE_NOARGS,
			 cg_store_row_position, NULL);
	octo_store_query("SELECT grp, member, last_end, calls FROM callgroup_member",
			 OCTO_STORE_NOARGS, cg_store_row_member, NULL);
	cg_store_ok = true;
	pthread_mutex_unlock(&cg_state_lock);
}

/* ---------------------------------------------------------------- the groups */

static bool cg_valid_ext(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (s[n] < '0' || s[n] > '9')
			return false;
	return n > 0 && n <= CG_EXT_MAX;
}

static bool cg_valid_name(const char *s)
{
	return audio_name_valid(s, CG_NAME_MAX);
}

static void cg_group_destroy(void *obj)
{
	struct cg_group *g = obj;

	for (size_t i = 0; i < g->nmembers; i++)
		free(g->members[i]);
	free(g->members);
	free(g->name);
	free(g->description);
	free(g->file);
}

static const char *cg_group_key(const void *obj)
{
	return ((const struct cg_group *)obj)->name;
}

static int cg_group_cmp(const void *a, const void *b)
{
	const struct cg_group *ga = *(void *const *)a, *gb = *(void *const *)b;

	return strcasecmp(ga->name, gb->name);
}

static void cg_set_destroy(void *obj)
{
	struct cg_set *set = obj;

	octo_container_snapshot_free((void **)set->sorted, set->count);
	octo_obj_unref(set->by_name);
}

/* The "members" line of `sec` that lists `ext` (for a message's location). */
static const struct octo_cfg_var *cg_member_var(const struct octo_cfg_section *sec, const char *ext)
{
	size_t len = strlen(ext);

	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
		const char *s = v->value;

		if (strcmp(v->name, "members"))
			continue;
		while (s && *s) {
			const char *start, *end;

			while (*s == ' ' || *s == '\t' || *s == ',')
				s++;
			start = s;
			while (*s && *s != ',')
				s++;
			end = s;
			while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			if ((size_t)(end - start) == len && !strncmp(start, ext, len))
				return v;
		}
	}
	return octo_cfg_var_find(sec, "members");
}

/* Is a member a known user? `users` (the running service) or `ucfg` (users.conf
 * read by check) answers; with neither, nothing is said. */
struct cg_users {
	const struct octo_users_api *api;
	const struct octo_cfg *cfg;
};

static bool cg_user_known(const struct cg_users *users, const char *ext, bool *known)
{
	if (users->api) {
		struct octo_user *u = users->api->find(ext);

		*known = u != NULL;
		octo_obj_unref(u);
		return true;
	}
	if (users->cfg) {
		const struct octo_cfg_section *s = octo_cfg_section(users->cfg, ext);

		*known = s && !s->is_template;
		return true;
	}
	return false;
}

/* Binds and checks one section; adds a group to `set` when it has no error. */
static void cg_add_section(struct cg_set *set, const struct octo_cfg_section *sec,
			   const struct cg_users *users, struct octo_diags *diags)
{
	struct cg_cfg cfg = { 0 };
	size_t errors = diags->errors;
	struct cg_group *g, *old;
	char clean[OCTO_CFG_CLEAN];

	if (!cg_valid_name(sec->name)) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "[%s] is not a valid call group name (1 to %d letters, digits, '_', "
			       "'-' and '.')",
			       octo_cfg_clean(clean, sec->name), CG_NAME_MAX);
		return;
	}
	old = octo_container_find(set->by_name, sec->name);
	if (old) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "[%s] call group %s is defined twice (first at %s:%d)", sec->name,
			       sec->name, old->file, old->line);
		octo_obj_unref(old);
		return;
	}
	octo_cfg_bind(sec, cg_opts, &cfg, NULL, diags);
	if (cfg.number && *cfg.number && !cg_valid_ext(cfg.number)) {
		const struct octo_cfg_var *v = octo_cfg_var_find(sec, "number");

		octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : sec->file,
			       v ? v->line : sec->line,
			       "[%s] number: \"%s\" is not a number (1 to %d digits)", sec->name,
			       octo_cfg_clean(clean, cfg.number), CG_EXT_MAX);
	}
	if (cfg.members.count > CG_MAX_MEMBERS) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "[%s] members: %zu members, at most %d", sec->name,
			       cfg.members.count, CG_MAX_MEMBERS);
	} else if (!cfg.members.count && octo_cfg_var_find(sec, "members")) {
		const struct octo_cfg_var *v = octo_cfg_var_find(sec, "members");

		octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
			       "[%s] members: the group has no member", sec->name);
	}
	for (size_t i = 0; i < cfg.members.count && i < CG_MAX_MEMBERS; i++) {
		const char *ext = cfg.members.items[i];
		const struct octo_cfg_var *v = cg_member_var(sec, ext);
		const char *file = v ? v->file : sec->file;
		int line = v ? v->line : sec->line;
		bool dup = false, known;

		if (!cg_valid_ext(ext)) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, file, line,
				       "[%s] members: \"%s\" is not an extension (1 to %d digits; "
				       "members of other PBXs are not supported yet)",
				       sec->name, octo_cfg_clean(clean, ext), CG_EXT_MAX);
			continue;
		}
		for (size_t k = 0; k < i && !dup; k++)
			dup = !strcmp(cfg.members.items[k], ext);
		if (dup) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, file, line,
				       "[%s] members: %s is listed twice", sec->name, ext);
			continue;
		}
		if (cg_user_known(users, ext, &known) && !known)
			octo_diags_add(diags, OCTO_DIAG_WARNING, file, line,
				       "[%s] members: no user %s in %s: that member is never rung",
				       sec->name, ext, CG_USERS_FILE);
	}
	if (diags->errors != errors) {
		octo_cfg_unbind(cg_opts, &cfg);
		return;
	}
	g = octo_obj_alloc(sizeof(*g), cg_group_destroy);
	if (g) {
		g->members = calloc(cfg.members.count, sizeof(char *));
		if (!g->members) {
			octo_obj_unref(g);
			g = NULL;
		}
	}
	if (!g) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line, "[%s] out of memory",
			       sec->name);
		octo_cfg_unbind(cg_opts, &cfg);
		return;
	}
	g->name = octo_strdup(sec->name);
	for (size_t i = 0; sec->name[i] && i < CG_NAME_MAX; i++)
		g->key[i] = (char)((sec->name[i] >= 'A' && sec->name[i] <= 'Z')
					   ? sec->name[i] - 'A' + 'a'
					   : sec->name[i]);
	g->description = octo_strdup(cfg.description ? cfg.description : "");
	octo_strlcpy(g->number, cfg.number ? cfg.number : "", sizeof(g->number));
	g->strategy = (enum cg_strategy)cfg.strategy;
	g->ring_time = cfg.ring_time;
	g->timeout = cfg.timeout;
	g->skip_dnd = cfg.skip_dnd;
	for (size_t i = 0; i < cfg.members.count; i++)
		g->members[g->nmembers++] = octo_strdup(cfg.members.items[i]);
	g->file = octo_strdup(sec->file ? sec->file : CG_FILE);
	g->line = sec->line;
	if (octo_container_link(set->by_name, g))
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line, "[%s] out of memory",
			       sec->name);
	octo_obj_unref(g);
	octo_cfg_unbind(cg_opts, &cfg);
}

/*
 * Reads callgroups.conf from `config_dir` into a new set. Members are checked
 * against `users`. Returns the set, or NULL when there was at least one error
 * (all of them are in `diags`).
 */
static struct cg_set *cg_build(const char *config_dir, const struct cg_users *users,
			       struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct cg_set *set;
	struct octo_cfg *cfg;

	set = octo_obj_alloc(sizeof(*set), cg_set_destroy);
	if (!set ||
	    !(set->by_name = octo_container_alloc_str(cg_group_key, OCTO_CONTAINER_NOCASE))) {
		octo_obj_unref(set);
		octo_diags_add(diags, OCTO_DIAG_ERROR, CG_FILE, 0, "out of memory");
		return NULL;
	}
	cfg = octo_cfg_load(config_dir, CG_FILE, true, diags);
	if (cfg) {
		for (const struct octo_cfg_section *sec = octo_cfg_first(cfg); sec;
		     sec = octo_cfg_next(sec))
			cg_add_section(set, sec, users, diags);
		octo_cfg_free(cfg);
	}
	if (diags->errors != errors) {
		octo_obj_unref(set);
		return NULL;
	}
	set->sorted = (struct cg_group **)octo_container_snapshot(set->by_name, &set->count,
								  cg_group_cmp);
	for (size_t i = 0; i < set->count; i++) {
		const struct cg_group *g = set->sorted[i];

		for (size_t k = 0; k < set->count && *g->number; k++)
			if (k != i && !strcmp(set->sorted[k]->number, g->number) &&
			    (set->sorted[k]->line < g->line ||
			     (set->sorted[k]->line == g->line && k < i)))
				octo_diags_add(diags, OCTO_DIAG_ERROR, g->file, g->line,
					       "[%s] number: %s is already the number of call "
					       "group %s", g->name, g->number,
					       set->sorted[k]->name);
	}
	if (diags->errors != errors) {
		octo_obj_unref(set);
		return NULL;
	}
	return set;
}

/* Builds from the running daemon's folder, checking members with res_users. */
static struct cg_set *cg_build_running(struct octo_diags *diags)
{
	struct cg_users users = { .api = octo_service_get(OCTO_USERS_SERVICE, 1, CG_HOLDER) };
	struct cg_set *set;

	if (!users.api)
		octo_diags_add(diags, OCTO_DIAG_WARNING, CG_FILE, 0,
			       "res_users is not loaded: the members cannot be checked, and "
			       "CallGroup finds no user to ring");
	set = cg_build(octo_paths.config_dir, &users, diags);
	octo_service_put(users.api, CG_HOLDER);
	return set;
}

/* Swaps `set` in (takes the caller's reference) and drops the old one. */
static void cg_install(struct cg_set *set)
{
	struct cg_set *old;

	pthread_rwlock_wrlock(&cg_lock);
	old = cg_current;
	cg_current = set;
	pthread_rwlock_unlock(&cg_lock);
	octo_obj_unref(old);
	if (set)
		octo_verbose(2, "callgroups: %zu group%s", set->count, set->count == 1 ? "" : "s");
}

/* A new reference on the running set, or NULL. */
static struct cg_set *cg_get_set(void)
{
	struct cg_set *set;

	pthread_rwlock_rdlock(&cg_lock);
	set = octo_obj_ref(cg_current);
	pthread_rwlock_unlock(&cg_lock);
	return set;
}

/* A new reference on a group of the running set, or NULL. */
static struct cg_group *cg_find(const char *name)
{
	struct cg_group *g = NULL;

	pthread_rwlock_rdlock(&cg_lock);
	if (cg_current)
		g = octo_container_find(cg_current->by_name, name);
	/* else by its number (callgroups.conf number =) */
	for (size_t i = 0; !g && cg_current && *name && i < cg_current->count; i++)
		if (!strcmp(cg_current->sorted[i]->number, name))
			g = octo_obj_ref(cg_current->sorted[i]);
	pthread_rwlock_unlock(&cg_lock);
	return g;
}

/* ---------------------------------------------------------------- ringing order */

static uint64_t cg_random(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static uint64_t state;
	uint64_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	/* No kernel randomness (yet): a xorshift seeded from the clock is enough
	 * to spread calls. */
	pthread_mutex_lock(&lock);
	if (!state)
		state = octo_wall_us() | 1u;
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	r = state;
	pthread_mutex_unlock(&lock);
	return r;
}

/* Fills order[] with member indexes in the order the strategy rings them.
 * Round-robin also moves its position to the first member, so that a call
 * arriving meanwhile starts one further. */
static void cg_order(const struct cg_group *g, size_t *order)
{
	size_t n = g->nmembers, start = 0;
	char last[CG_EXT_MAX + 1];

	for (size_t i = 0; i < n; i++)
		order[i] = i;
	switch (g->strategy) {
	case CG_ROUND_ROBIN:
		cg_state_last(g->key, last, sizeof(last));
		for (size_t i = 0; i < n && *last; i++)
			if (!strcmp(g->members[i], last))
				start = (i + 1) % n;
		for (size_t i = 0; i < n; i++)
			order[i] = (start + i) % n;
		cg_state_set_last(g->key, g->members[start]);
		break;
	case CG_LONGEST_IDLE: {
		uint64_t ends[CG_MAX_MEMBERS];
		unsigned calls;

		for (size_t i = 0; i < n; i++)
			cg_state_read(g->key, g->members[i], &ends[i], &calls);
		/* Insertion sort: stable, so members never called keep the listed order. */
		for (size_t i = 1; i < n; i++) {
			size_t cur = order[i], k = i;

			while (k > 0 && ends[order[k - 1]] > ends[cur]) {
				order[k] = order[k - 1];
				k--;
			}
			order[k] = cur;
		}
		break;
	}
	case CG_RANDOM:
		for (size_t i = n; i > 1; i--) {
			size_t k = (size_t)(cg_random() % i), t = order[i - 1];

			order[i - 1] = order[k];
			order[k] = t;
		}
		break;
	default: break;
	}
}

/* ---------------------------------------------------------------- CallGroup */

static const char cg_description[] =
	"Rings the members of a call group of callgroups.conf (users: every device of a member\n"
	"rings) by the group's strategy, connects the caller with the member who answers and\n"
	"cancels the others; when nobody answers, the next step of the dialplan runs.\n"
	"\n"
	"name:    the group (a section of callgroups.conf), or its number (number =).\n"
	"timeout: seconds in all before giving up (NOANSWER); 0: no limit. Default: the group's\n"
	"         timeout.\n"
	"message: a message for the operator: prompts (name&name...) played to the member who\n"
	"         answers, in the member's language, before the caller is connected (the\n"
	"         caller meanwhile hears the music on hold, or silence). A member who hangs\n"
	"         up during it counts as NOANSWER; a caller who does, as CANCEL.\n"
	"moh:     a music on hold class of musiconhold.conf (\"default\" for the generated\n"
	"         music) played to the caller while the members ring, instead of ringing;\n"
	"         an unknown class plays the default one. The caller gets early media when\n"
	"         not answered yet. A caller whose channel carries no audio (Test calls\n"
	"         without audio=) is shown ringing instead.\n"
	"\n"
	"Strategies (strategy = in callgroups.conf):\n"
	"  ring-all      every member at once; the first to answer wins\n"
	"  hunt          one member after the other, in the order listed, each ringing\n"
	"                ring_time seconds\n"
	"  round-robin   like hunt, starting after the member where the previous call stopped\n"
	"                (remembered in the store: survives reloads and restarts)\n"
	"  longest-idle  like hunt, the member whose last call through the group ended\n"
	"                longest ago first (members never called first, in the listed order)\n"
	"  random        like hunt, in a random order\n"
	"One member after the other goes round the members again until the timeout, as long\n"
	"as some member rang; with timeout 0 it goes round once.\n"
	"\n"
	"Members are skipped (not rung) when: the user does not exist (CHANUNAVAIL); the user\n"
	"is in do not disturb and the group has skip_dnd = yes (BUSY); the user is in a call\n"
	"and has call_waiting = no (BUSY); the user is the caller (its ${USER}, else its\n"
	"caller number); the user has no device that can be called now (CHANUNAVAIL). The\n"
	"members' forwards and reject lists do not apply to group calls; a member's device\n"
	"that declines counts as BUSY.\n"
	"\n"
	"${DIALSTATUS} afterwards:\n"
	"  ANSWER       a member answered (set while the call goes on, too)\n"
	"  BUSY         every member that could be tried was busy, in do not disturb or declined\n"
	"  NOANSWER     nobody answered within the timeout\n"
	"  CANCEL       the caller hung up while the members rang\n"
	"  CONGESTION   the members' devices failed\n"
	"  CHANUNAVAIL  no such group, no users service, or no member can be reached now\n"
	"When every member failed, the most telling status wins: BUSY, NOANSWER, CONGESTION,\n"
	"CHANUNAVAIL.\n"
	"\n"
	"Variables set: on the caller DIALSTATUS, CALLGROUP (the group), CALLGROUPMEMBER (who\n"
	"answered), DIALEDTIME (seconds from the start to the end of CallGroup), ANSWEREDTIME\n"
	"(seconds of conversation); on each leg USER (the member) and BRIDGEPEER/HANGUPSIDE as\n"
	"with Dial. When the member hangs up, the call ends; when the caller hangs up, the\n"
	"engine ends it. Every member tried or skipped, who answered and why CallGroup ended\n"
	"is in the call's step log (call debug <id>).";

/* The outcome of one CallGroup so far. */
struct cg_run {
	struct octo_channel *chan;
	struct cg_group *g;
	bool seen[OCTO_DIAL_REJECTED + 1]; /* statuses of members that failed */
	char answered_by[CG_EXT_MAX + 1];
	char last_tried[CG_EXT_MAX + 1];
};

static void cg_set_status(struct octo_channel *chan, const char *status)
{
	octo_chan_var_set(chan, "DIALSTATUS", status);
	octo_chan_step(chan, "CallGroup: DIALSTATUS=%s", status);
}

static void cg_set_seconds(struct octo_channel *chan, const char *name, uint64_t ms)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(ms / 1000u));
	octo_chan_var_set(chan, name, buf);
}

static void cg_seen(struct cg_run *run, enum octo_dial_status st)
{
	if (st == OCTO_DIAL_REJECTED)
		st = OCTO_DIAL_BUSY; /* a declining member is a busy one for the group */
	if ((unsigned)st < OCTO_ARRAY_LEN(run->seen))
		run->seen[st] = true;
}

/* The most telling status of the members that failed. */
static enum octo_dial_status cg_aggregate(const struct cg_run *run)
{
	static const enum octo_dial_status order[] = {
		OCTO_DIAL_BUSY,
		OCTO_DIAL_NOANSWER,
		OCTO_DIAL_CONGESTION,
	};

	for (size_t i = 0; i < OCTO_ARRAY_LEN(order); i++)
		if (run->seen[order[i]])
			return order[i];
	return OCTO_DIAL_CHANUNAVAIL;
}

/* Whether member `ext` may be rung now: OCTO_DIAL_RINGING, or the status it
 * counts as when skipped (the step log says why). */
static enum octo_dial_status cg_member_check(struct cg_run *run, const char *ext)
{
	const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, CG_HOLDER);
	struct octo_user *u = users ? users->find(ext) : NULL;
	enum octo_dial_status st = OCTO_DIAL_RINGING;
	char me[CG_EXT_MAX + 2];
	bool dnd = false, waiting = true;

	if (u) {
		dnd = u->dnd;
		waiting = u->call_waiting;
	}
	octo_obj_unref(u);
	octo_service_put(users, CG_HOLDER);
	if (!users) {
		octo_chan_step(run->chan,
			       "CallGroup: member %s: no users service (res_users is "
			       "not loaded): skipped",
			       ext);
		return OCTO_DIAL_CHANUNAVAIL;
	}
	if (!u) {
		octo_chan_step(run->chan, "CallGroup: member %s: no such user: skipped", ext);
		return OCTO_DIAL_CHANUNAVAIL;
	}
	/* The caller: its ${USER}, or -- when the technology sets none -- its
	 * caller number. */
	if (!octo_chan_var_get(run->chan, "USER", me, sizeof(me)))
		octo_chan_copy(run->chan, OCTO_CHAN_CALLER_NUM, me, sizeof(me));
	if (!strcmp(me, ext)) {
		octo_chan_step(run->chan, "CallGroup: member %s is the caller: skipped", ext);
		return OCTO_DIAL_CHANUNAVAIL;
	}
	if (dnd && run->g->skip_dnd) {
		octo_chan_step(run->chan, "CallGroup: member %s is in do not disturb: skipped",
			       ext);
		return OCTO_DIAL_BUSY;
	}
	if (dnd)
		octo_chan_step(run->chan,
			       "CallGroup: member %s is in do not disturb: rung anyway "
			       "(skip_dnd = no)",
			       ext);
	if (octo_user_in_call(ext, run->chan)) {
		if (!waiting) {
			octo_chan_step(run->chan,
				       "CallGroup: member %s is busy (in a call, call "
				       "waiting off): skipped",
				       ext);
			return OCTO_DIAL_BUSY;
		}
		octo_chan_step(run->chan, "CallGroup: member %s is in a call: rung (call waiting)",
			       ext);
	}
	return st;
}

/* Every member at once. */
static enum octo_dial_status cg_ring_all(struct cg_run *run, unsigned timeout_ms,
					 struct octo_channel **peer)
{
	struct octo_dial *d = octo_dial_alloc(run->chan);
	enum octo_dial_status st;
	size_t tried = 0;

	if (!d)
		return OCTO_DIAL_CONGESTION;
	octo_dial_quiet(d);
	for (size_t i = 0; i < run->g->nmembers; i++) {
		const char *ext = run->g->members[i];
		char what[CG_EXT_MAX + 16];

		snprintf(what, sizeof(what), "member %s", ext);
		st = cg_member_check(run, ext);
		if (st != OCTO_DIAL_RINGING) {
			cg_seen(run, st);
			octo_dial_add_failed(d, what, st);
			continue;
		}
		if (!octo_dial_add_user(d, ext, timeout_ms, "CallGroup")) {
			octo_chan_step(run->chan,
				       "CallGroup: member %s has no device that can be "
				       "called now: skipped",
				       ext);
			cg_seen(run, OCTO_DIAL_CHANUNAVAIL);
			octo_dial_add_failed(d, what, OCTO_DIAL_CHANUNAVAIL);
			continue;
		}
		tried++;
	}
	if (!tried) {
		octo_dial_free(d);
		return cg_aggregate(run);
	}
	st = octo_dial_run(d, (int)timeout_ms, peer);
	octo_dial_free(d);
	if (st == OCTO_DIAL_ANSWER || st == OCTO_DIAL_CANCEL || st == OCTO_DIAL_NOANSWER)
		return st;
	cg_seen(run, st);
	return cg_aggregate(run);
}

/* One member after the other (hunt, round-robin, longest-idle, random). */
static enum octo_dial_status cg_one_by_one(struct cg_run *run, unsigned timeout_ms,
					   struct octo_channel **peer)
{
	const struct cg_group *g = run->g;
	size_t order[CG_MAX_MEMBERS];
	uint64_t start = octo_now_ms(), deadline = timeout_ms ? start + timeout_ms : 0;
	char list[CG_MAX_MEMBERS * (CG_EXT_MAX + 2) + 1];
	size_t off = 0;

	cg_order(g, order);
	list[0] = '\0';
	for (size_t i = 0; i < g->nmembers && off < sizeof(list); i++) {
		int w = snprintf(list + off, sizeof(list) - off, "%s%s", i ? ", " : "",
				 g->members[order[i]]);

		if (w > 0)
			off += (size_t)w;
	}
	octo_chan_step(run->chan, "CallGroup: order %s", list);

	for (unsigned round = 1;; round++) {
		bool rang = false;

		for (size_t i = 0; i < g->nmembers; i++) {
			const char *ext = g->members[order[i]];
			struct octo_dial *d;
			enum octo_dial_status st;
			uint64_t now = octo_now_ms(), ring_ms = (uint64_t)g->ring_time * 1000u;

			if (deadline && now >= deadline) {
				octo_chan_step(run->chan, "CallGroup: no answer within %u s",
					       timeout_ms / 1000u);
				return OCTO_DIAL_NOANSWER;
			}
			st = cg_member_check(run, ext);
			if (st != OCTO_DIAL_RINGING) {
				cg_seen(run, st);
				continue;
			}
			d = octo_dial_alloc(run->chan);
			if (!d)
				return OCTO_DIAL_CONGESTION;
			octo_dial_quiet(d);
			if (deadline && deadline - now < ring_ms)
				ring_ms = deadline - now;
			if (!octo_dial_add_user(d, ext, (unsigned)ring_ms, "CallGroup")) {
				octo_chan_step(run->chan,
					       "CallGroup: member %s has no device that "
					       "can be called now: skipped",
					       ext);
				octo_dial_free(d);
				cg_seen(run, OCTO_DIAL_CHANUNAVAIL);
				continue;
			}
			octo_strlcpy(run->last_tried, ext, sizeof(run->last_tried));
			octo_chan_step(run->chan, "CallGroup: member %s rings for %.1f s", ext,
				       (double)ring_ms / 1000.0);
			st = octo_dial_run(d, ring_ms ? (int)ring_ms : 1, peer);
			octo_dial_free(d);
			switch (st) {
			case OCTO_DIAL_ANSWER:
			case OCTO_DIAL_CANCEL: return st;
			case OCTO_DIAL_NOANSWER:
				rang = true;
				octo_chan_step(run->chan, "CallGroup: member %s did not answer",
					       ext);
				break;
			default:
				octo_chan_step(run->chan, "CallGroup: member %s: %s", ext,
					       octo_dial_status_name(st));
				break;
			}
			cg_seen(run, st);
		}
		if (!rang) {
			octo_chan_step(run->chan, "CallGroup: no member could be rung");
			return cg_aggregate(run);
		}
		if (!deadline) {
			octo_chan_step(run->chan, "CallGroup: every member was tried once (no "
						  "timeout)");
			return OCTO_DIAL_NOANSWER;
		}
		octo_chan_step(run->chan, "CallGroup: nobody answered in round %u: again", round);
	}
}

/* Music on hold for the caller while the members ring: a thread of its own
 * writes the caller's frames while the call thread waits on the legs (it
 * reads only the caller's events, never its frames), until `stop`. */
struct cg_moh {
	struct octo_channel *chan;
	struct audio_moh cls;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	uint64_t samples; /* played, once the thread is joined */
};

static void *cg_moh_thread(void *arg)
{
	struct cg_moh *m = arg;
	struct audio_player p;

	octo_thread_register("callgroup moh");
	audio_player_init(&p, m->chan, "CallGroup");
	p.cancel = &m->stop;
	audio_moh_play(&p, &m->cls);
	m->samples = p.samples;
	octo_thread_unregister();
	return NULL;
}

/* Shows the caller that it rings: music on hold when asked for and the
 * caller's channel carries audio (early media when it is not answered
 * yet), else ringing. */
static void cg_ringback(struct octo_channel *chan, const char *moh, struct cg_moh *m)
{
	const struct octo_chan_tech *tech = octo_chan_tech(chan);
	bool up = octo_chan_state(chan) == OCTO_CHAN_UP;
	char clean[OCTO_CFG_CLEAN];

	if (*moh && (!tech || !tech->write_frame)) {
		octo_chan_step(chan, "CallGroup: music on hold \"%s\": %s channels carry no "
			       "audio: the caller is shown ringing", octo_cfg_clean(clean, moh),
			       tech ? tech->name : "these");
	} else if (*moh) {
		if (audio_moh_class(octo_paths.config_dir, moh, &m->cls))
			octo_chan_step(chan, "CallGroup: no music on hold class \"%s\" in %s: the "
				       "default class plays", octo_cfg_clean(clean, moh),
				       AUDIO_MOH_FILE);
		if (!up && tech->indicate)
			tech->indicate(chan, OCTO_EV_PROGRESS);
		m->chan = chan;
		atomic_store(&m->stop, false);
		if (pthread_create(&m->thread, NULL, cg_moh_thread, m) == 0) {
			m->running = true;
			octo_chan_step(chan, "CallGroup: the caller hears music on hold (class %s) "
				       "while the members ring", m->cls.name);
			return;
		}
		octo_chan_step(chan, "CallGroup: cannot start the music on hold: the caller is "
			       "shown ringing");
	}
	if (up) {
		octo_chan_step(chan, "CallGroup: the caller is answered already: no ringing can be "
				     "shown (music on hold needs a channel with audio)");
		return;
	}
	if (tech && tech->indicate)
		tech->indicate(chan, OCTO_EV_RINGING);
}

/* Stops the music on hold (when it plays) and says how long it played. */
static void cg_moh_stop(struct cg_moh *m)
{
	if (!m->running)
		return;
	atomic_store(&m->stop, true);
	pthread_join(m->thread, NULL);
	m->running = false;
	octo_chan_step(m->chan, "CallGroup: music on hold stopped after %.2f s",
		       (double)m->samples / 8000.0);
}

/*
 * Plays the message for the operator ('&'-separated prompts, in the member's
 * language) to the member who answered, before the caller is connected.
 * Returns 0 when it was played (or there is none), OCTO_EHANGUP when the
 * caller hung up meanwhile, 1 when the member did.
 */
static int cg_message(struct octo_channel *chan, struct octo_channel *peer, const char *message)
{
	char lang[OCTO_SOUND_LANG_MAX], list[1024];
	struct audio_player p;
	unsigned played, missing;
	int rc;

	if (!*message)
		return 0;
	if (strlen(message) >= sizeof(list)) {
		octo_chan_step(chan, "CallGroup: the message for the operator is too long: not "
			       "played");
		return 0;
	}
	octo_strlcpy(list, message, sizeof(list));
	/* the member's language: the user's (its leg has USER) */
	audio_language(peer, lang);
	octo_chan_step(chan, "CallGroup: playing the message for the operator \"%s\" to %s",
		       message, octo_chan_name(peer));
	audio_player_init(&p, peer, "CallGroup");
	p.watch = chan;
	rc = audio_play_list(&p, list, lang, false, &played, &missing);
	if (octo_chan_is_hungup(chan)) {
		octo_chan_step(chan, "CallGroup: the caller hung up during the message for the "
			       "operator");
		return OCTO_EHANGUP;
	}
	if (rc == OCTO_EHANGUP || octo_chan_is_hungup(peer)) {
		octo_chan_step(chan, "CallGroup: the member hung up during the message for the "
			       "operator");
		return 1;
	}
	octo_chan_step(chan, "CallGroup: message for the operator played to %s (%.2f s%s)",
		       octo_chan_name(peer), (double)p.samples / 8000.0,
		       missing ? ", some prompts missing" : "");
	return 0;
}

static int cg_parse(struct octo_channel *chan, char *args, char **argv, long *timeout)
{
	int argc = octo_args_split(args, argv, 5);

	*timeout = -1;
	for (int i = argc; i < 4; i++)
		argv[i] = "";
	if (argc < 1 || !*argv[0]) {
		octo_chan_step(chan,
			       "CallGroup: no group (CallGroup(name[,timeout[,message[,moh]]]))");
		return OCTO_EINVAL;
	}
	if (argc > 4) {
		octo_chan_step(chan, "CallGroup: too many arguments (name, timeout, message, moh)");
		return OCTO_EINVAL;
	}
	if (!cg_valid_name(argv[0])) {
		char clean[OCTO_CFG_CLEAN];

		octo_chan_step(chan, "CallGroup: \"%s\" is not a call group name",
			       octo_cfg_clean(clean, argv[0]));
		return OCTO_EINVAL;
	}
	if (*argv[1]) {
		char *end, clean[OCTO_CFG_CLEAN];

		*timeout = strtol(argv[1], &end, 10);
		if (*end || *timeout < 0 || *timeout > CG_TIMEOUT_MAX) {
			octo_chan_step(chan,
				       "CallGroup: timeout \"%s\" is not a number of seconds "
				       "0..%d",
				       octo_cfg_clean(clean, argv[1]), CG_TIMEOUT_MAX);
			return OCTO_EINVAL;
		}
	}
	return 0;
}

static int cg_exec(struct octo_channel *chan, char *args)
{
	struct cg_run run = { .chan = chan };
	struct cg_moh moh = { 0 };
	struct octo_channel *peer = NULL;
	enum octo_dial_status st;
	const char *strategy;
	char *argv[5], ring[32];
	uint64_t start = octo_now_ms();
	unsigned timeout_ms;
	long timeout;
	int rc;

	if (cg_parse(chan, args, argv, &timeout))
		return OCTO_EINVAL;
	run.g = cg_find(argv[0]);
	octo_chan_var_set(chan, "CALLGROUP", argv[0]);
	if (!run.g) {
		octo_chan_step(chan, "CallGroup: no call group \"%s\" in %s", argv[0], CG_FILE);
		cg_set_status(chan, "CHANUNAVAIL");
		return OCTO_APP_CONTINUE;
	}
	if (timeout < 0)
		timeout = run.g->timeout;
	timeout_ms = (unsigned)timeout * 1000u;
	strategy = cg_strategy_names[run.g->strategy];
	if (run.g->strategy == CG_RING_ALL)
		snprintf(ring, sizeof(ring), "%s", "");
	else
		snprintf(ring, sizeof(ring), ", ring time %u s", run.g->ring_time);
	if (timeout)
		octo_chan_step(chan, "CallGroup: group %s (%s), %zu member%s%s, timeout %ld s",
			       run.g->name, strategy, run.g->nmembers,
			       run.g->nmembers == 1 ? "" : "s", ring, timeout);
	else
		octo_chan_step(chan, "CallGroup: group %s (%s), %zu member%s%s, no timeout",
			       run.g->name, strategy, run.g->nmembers,
			       run.g->nmembers == 1 ? "" : "s", ring);
	cg_ringback(chan, argv[3], &moh);

	st = run.g->strategy == CG_RING_ALL ? cg_ring_all(&run, timeout_ms, &peer)
					    : cg_one_by_one(&run, timeout_ms, &peer);
	if (st != OCTO_DIAL_ANSWER || !peer)
		cg_moh_stop(&moh);
	cg_set_seconds(chan, "DIALEDTIME", octo_now_ms() - start);
	if (st == OCTO_DIAL_ANSWER && peer) {
		if (!octo_chan_var_get(peer, "USER", run.answered_by, sizeof(run.answered_by)))
			run.answered_by[0] = '\0';
		octo_strlcpy(run.last_tried, run.answered_by, sizeof(run.last_tried));
	}
	if (run.g->strategy == CG_ROUND_ROBIN && *run.last_tried)
		cg_state_set_last(run.g->key, run.last_tried);
	if (st != OCTO_DIAL_ANSWER || !peer) {
		if (st == OCTO_DIAL_ANSWER)
			st = OCTO_DIAL_CONGESTION;
		cg_set_status(chan, octo_dial_status_name(st));
		octo_obj_unref(run.g);
		return OCTO_APP_CONTINUE;
	}

	octo_chan_step(chan, "CallGroup: member %s answered (%s)", run.answered_by,
		       octo_chan_name(peer));
	octo_chan_var_set(chan, "CALLGROUPMEMBER", run.answered_by);
	/* the caller keeps hearing the music while the member hears the message */
	rc = cg_message(chan, peer, argv[2]);
	cg_moh_stop(&moh);
	if (rc) {
		octo_chan_hangup(peer, OCTO_CAUSE_NORMAL);
		octo_obj_unref(peer);
		cg_set_status(chan, rc == OCTO_EHANGUP ? "CANCEL" : "NOANSWER");
		if (*run.answered_by)
			cg_state_call_ended(run.g->key, run.answered_by);
		octo_obj_unref(run.g);
		return rc == OCTO_EHANGUP ? OCTO_EHANGUP : OCTO_APP_CONTINUE;
	}
	rc = octo_chan_answer(chan);
	if (rc) {
		octo_chan_step(chan, "CallGroup: cannot answer the caller (%s): dropping %s",
			       octo_strerror(rc), octo_chan_name(peer));
		octo_chan_hangup(peer, OCTO_CAUSE_NORMAL);
		octo_obj_unref(peer);
		cg_set_status(chan, "CANCEL");
		octo_obj_unref(run.g);
		return OCTO_APP_CONTINUE;
	}
	cg_set_status(chan, "ANSWER");
	{
		uint64_t talk = octo_now_ms();

		rc = octo_bridge(chan, peer);
		cg_set_seconds(chan, "ANSWEREDTIME", octo_now_ms() - talk);
	}
	cg_set_seconds(chan, "DIALEDTIME", octo_now_ms() - start);
	if (*run.answered_by)
		cg_state_call_ended(run.g->key, run.answered_by);
	octo_obj_unref(peer);
	octo_obj_unref(run.g);
	if (rc == OCTO_BRIDGE_B_ENDED) {
		octo_chan_step(chan, "CallGroup: the member hung up: the call ends");
		return OCTO_APP_HANGUP;
	}
	return OCTO_APP_CONTINUE; /* the caller hung up: the engine sees it */
}

static const struct octo_app cg_apps[] = {
	{ .name = "CallGroup",
	  .synopsis = "Ring the members of a call group by its strategy",
	  .syntax = "CallGroup(name[,timeout[,message[,moh]]])",
	  .description = cg_description,
	  .exec = cg_exec },
	{ 0 }
};

/* ---------------------------------------------------------------- CLI */

/* "2024-05-01 14:03:22" in local time, or "never". */
static void cg_format_time(uint64_t us, char *buf, size_t size)
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;

	if (!us || !localtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
		octo_strlcpy(buf, "never", size);
}

/* The member the next round-robin call starts at. */
static const char *cg_rr_next(const struct cg_group *g)
{
	char last[CG_EXT_MAX + 1];

	cg_state_last(g->key, last, sizeof(last));
	for (size_t i = 0; i < g->nmembers && *last; i++)
		if (!strcmp(g->members[i], last))
			return g->members[(i + 1) % g->nmembers];
	return g->members[0];
}

static void cg_show_one(struct octo_cli_out *out, const struct cg_group *g)
{
	const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, "cli");
	const char *next = g->strategy == CG_ROUND_ROBIN ? cg_rr_next(g) : NULL;

	octo_cli_kv(out, "name", "%s", g->name);
	octo_cli_kv(out, "description", "%s", g->description);
	octo_cli_kv(out, "number", "%s", *g->number ? g->number : "-");
	octo_cli_kv(out, "strategy", "%s", cg_strategy_names[g->strategy]);
	octo_cli_kv(out, "members", "%zu", g->nmembers);
	if (g->strategy == CG_RING_ALL)
		octo_cli_kv(out, "ring time", "- (every member rings all the time)");
	else
		octo_cli_kv(out, "ring time", "%us", g->ring_time);
	if (g->timeout)
		octo_cli_kv(out, "timeout", "%us", g->timeout);
	else
		octo_cli_kv(out, "timeout", "no limit");
	octo_cli_kv(out, "skip dnd", "%s", g->skip_dnd ? "yes" : "no");
	if (next)
		octo_cli_kv(out, "round-robin next", "%s", next);
	octo_cli_kv(out, "state kept in", "%s", cg_state_stored() ? "the store" : "memory only");
	octo_cli_kv(out, "defined at", "%s:%d", g->file, g->line);
	octo_cli_columns(out, "member", "name", "state", "last call end", "calls", "next", NULL);
	for (size_t i = 0; i < g->nmembers; i++) {
		const char *ext = g->members[i], *state;
		struct octo_user *u = users ? users->find(ext) : NULL;
		char when[32], calls[16];
		uint64_t last_end;
		unsigned n;

		if (!users)
			state = "unknown (res_users not loaded)";
		else if (!u)
			state = "no such user";
		else if (u->dnd)
			state = "in DND";
		else if (octo_user_in_call(ext, NULL))
			state = "busy";
		else
			state = "idle";
		cg_state_read(g->key, ext, &last_end, &n);
		cg_format_time(last_end, when, sizeof(when));
		snprintf(calls, sizeof(calls), "%u", n);
		octo_cli_row(out, ext, u ? u->name : "", state, when, calls,
			     next && !strcmp(next, ext) ? "next" : "", NULL);
		octo_obj_unref(u);
	}
	octo_service_put(users, "cli");
}

static int cg_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct cg_set *set;

	if (argc > 3)
		return OCTO_CLI_USAGE;
	if (argc == 3) {
		struct cg_group *g = cg_find(argv[2]);

		if (!g) {
			char clean[OCTO_CFG_CLEAN];

			octo_cli_error(out, "No call group \"%s\" (see callgroup show).",
				       octo_cfg_clean(clean, argv[2]));
			return OCTO_CLI_FAIL;
		}
		cg_show_one(out, g);
		octo_obj_unref(g);
		return OCTO_CLI_OK;
	}
	set = cg_get_set();
	if (!set) {
		octo_cli_error(out, "No call groups loaded.");
		return OCTO_CLI_FAIL;
	}
	octo_cli_columns(out, "name", "strategy", "members", "timeout", "description", NULL);
	for (size_t i = 0; i < set->count; i++) {
		const struct cg_group *g = set->sorted[i];
		char members[16], timeout[16];

		snprintf(members, sizeof(members), "%zu", g->nmembers);
		if (g->timeout)
			snprintf(timeout, sizeof(timeout), "%us", g->timeout);
		else
			octo_strlcpy(timeout, "no limit", sizeof(timeout));
		octo_cli_row(out, g->name, cg_strategy_names[g->strategy], members, timeout,
			     g->description, NULL);
	}
	octo_cli_kv(out, "call groups", "%zu", set->count);
	octo_obj_unref(set);
	return OCTO_CLI_OK;
}

static void cg_complete_name(struct octo_cli_completion *c, int pos, const char *partial)
{
	struct cg_set *set;
	size_t len = partial ? strlen(partial) : 0;

	if (pos != 0)
		return;
	set = cg_get_set();
	if (!set)
		return;
	for (size_t i = 0; i < set->count; i++)
		if (!len || !strncasecmp(set->sorted[i]->name, partial, len))
			octo_cli_complete_add(c, set->sorted[i]->name);
	octo_obj_unref(set);
}

static const struct octo_cli_cmd cg_cli[] = {
	{ "callgroup show", "List the call groups, or one with its members' state",
	  "callgroup show [<name>]", cg_cli_show, cg_complete_name },
	{ 0 }
};

/* ---------------------------------------------------------------- module */

static void cg_log_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

static int cg_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct cg_set *set = cg_build_running(&diags);

	cg_log_diags(&diags);
	if (!set) {
		octo_log(OCTO_ERROR, "%s has %zu error%s: no call groups loaded", CG_FILE,
			 diags.errors, diags.errors == 1 ? "" : "s");
		octo_diags_free(&diags);
		return OCTO_LOAD_FAIL;
	}
	octo_diags_free(&diags);
	if (octo_app_register_all(self, cg_apps) || octo_cli_register_all(self, cg_cli)) {
		octo_obj_unref(set);
		return OCTO_LOAD_FAIL;
	}
	cg_state_load();
	cg_install(set);
	return OCTO_LOAD_OK;
}

static int cg_unload(struct octo_module *self)
{
	/* What was queued is committed, so a load that follows reads it back. */
	if (cg_state_stored())
		octo_store_flush();
	cg_install(NULL);
	cg_state_free_all();
	return 0;
}

static int cg_reload(struct octo_module *self, struct octo_diags *diags)
{
	size_t errors = diags->errors;
	struct cg_set *set = cg_build_running(diags), *old;

	if (!set) {
		old = cg_get_set();
		octo_log(OCTO_WARNING,
			 "%s: reload refused (%zu error%s): the %zu running call "
			 "groups stay",
			 CG_FILE, diags->errors - errors, diags->errors - errors == 1 ? "" : "s",
			 old ? old->count : 0);
		octo_obj_unref(old);
		return OCTO_ECONFIG;
	}
	cg_install(set);
	return 0;
}

/* octo -t: users.conf is read here (quietly: res_users reports its own
 * problems) so that unknown members are warned about too. */
static int cg_check(const char *config_dir, struct octo_diags *diags)
{
	struct octo_diags scratch = { 0 };
	struct cg_users users = { .cfg = octo_cfg_load(config_dir, CG_USERS_FILE, true, &scratch) };
	struct cg_set *set = cg_build(config_dir, &users, diags);

	octo_cfg_free((struct octo_cfg *)users.cfg);
	octo_diags_free(&scratch);
	if (!set)
		return OCTO_ECONFIG;
	octo_obj_unref(set);
	return 0;
}

OCTO_MODULE(app_callgroup, .description = "Call groups (callgroups.conf) and CallGroup",
	    .load = cg_load, .unload = cg_unload, .reload = cg_reload, .check = cg_check,
	    .optional = "res_users");
