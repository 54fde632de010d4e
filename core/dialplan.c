/*
 * dialplan.c - reads dialplan.conf into an immutable snapshot, matches called
 * numbers against it, and offers the dialplan CLI (show, test, reload).
 *
 * DESIGN: a reload parses and validates a complete new snapshot; only when it
 * has no error does it replace the running one (a pointer swap under a
 * mutex). Calls in progress keep a reference on the snapshot they are using
 * for the current step, and find their position again in the new one at the
 * next step.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/pattern.h"
#include "octo/registry.h"
#include "dialplan_int.h"
#include "internal.h"

#define DP_MAX_INCLUDE_DEPTH 16

static pthread_mutex_t dp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dp_snapshot *dp_running;

void octo_pbx_globals_replace(const struct dp_global *globals, size_t count);

/* ---------------------------------------------------------------- snapshot */

static void dp_exten_free(struct dp_exten *ext)
{
	if (!ext)
		return;
	for (size_t i = 0; i < ext->nprios; i++) {
		free(ext->prios[i].label);
		free(ext->prios[i].app);
		free(ext->prios[i].args);
		free(ext->prios[i].file);
	}
	free(ext->prios);
	free(ext->file);
	octo_pattern_free(ext->pat);
	free(ext);
}

static void dp_proc_free(struct dp_proc *proc)
{
	for (size_t i = 0; i < proc->nextens; i++)
		dp_exten_free(proc->extens[i]);
	free(proc->extens);
	dp_exten_free(proc->def);
	for (size_t i = 0; i < proc->nincludes; i++)
		free(proc->includes[i]);
	free(proc->includes);
	free(proc->name);
	free(proc->description);
	free(proc->file);
	free(proc);
}

static void dp_snapshot_destroy(void *obj)
{
	struct dp_snapshot *dp = obj;

	for (size_t i = 0; i < dp->nprocs; i++)
		dp_proc_free(dp->procs[i]);
	free(dp->procs);
	for (size_t i = 0; i < dp->nglobals; i++) {
		free(dp->globals[i].name);
		free(dp->globals[i].value);
	}
	free(dp->globals);
}

struct dp_snapshot *dp_current(void)
{
	struct dp_snapshot *dp;

	pthread_mutex_lock(&dp_lock);
	dp = octo_obj_ref(dp_running);
	pthread_mutex_unlock(&dp_lock);
	return dp;
}

static int dp_cmp_proc_name(const void *key, const void *elem)
{
	return strcmp(key, (*(struct dp_proc *const *)elem)->name);
}

const struct dp_proc *dp_find_proc(const struct dp_snapshot *dp, const char *name)
{
	struct dp_proc **found;

	if (!dp || !name || !dp->nprocs)
		return NULL;
	found = bsearch(name, dp->procs, dp->nprocs, sizeof(dp->procs[0]), dp_cmp_proc_name);
	return found ? *found : NULL;
}

/* The procedure's own entries: the first match in specificity order. */
static const struct dp_exten *dp_match_own(const struct dp_proc *proc, const char *number)
{
	for (size_t i = 0; i < proc->nextens; i++)
		if (octo_pattern_match(proc->extens[i]->pat, number))
			return proc->extens[i];
	return NULL;
}

/* Pass 1: the entries of the procedure, then of its includes (depth first). */
static const struct dp_exten *dp_match_specific(const struct dp_snapshot *dp,
						const struct dp_proc *proc, const char *number,
						const struct dp_proc **where, int depth)
{
	const struct dp_exten *ext;

	if (!proc || depth > DP_MAX_INCLUDE_DEPTH)
		return NULL;
	ext = dp_match_own(proc, number);
	if (ext) {
		*where = proc;
		return ext;
	}
	for (size_t i = 0; i < proc->nincludes; i++) {
		ext = dp_match_specific(dp, dp_find_proc(dp, proc->includes[i]), number, where,
					depth + 1);
		if (ext)
			return ext;
	}
	return NULL;
}

/* Pass 2: the nearest `default`: the procedure's own, then its includes'. */
static const struct dp_exten *dp_match_default(const struct dp_snapshot *dp,
					       const struct dp_proc *proc,
					       const struct dp_proc **where, int depth)
{
	const struct dp_exten *ext;

	if (!proc || depth > DP_MAX_INCLUDE_DEPTH)
		return NULL;
	if (proc->def) {
		*where = proc;
		return proc->def;
	}
	for (size_t i = 0; i < proc->nincludes; i++) {
		ext = dp_match_default(dp, dp_find_proc(dp, proc->includes[i]), where, depth + 1);
		if (ext)
			return ext;
	}
	return NULL;
}

const struct dp_exten *dp_match(const struct dp_snapshot *dp, const char *proc,
				const char *number, const struct dp_proc **where)
{
	const struct dp_proc *dummy, *start = dp_find_proc(dp, proc);
	const struct dp_exten *ext;

	if (!where)
		where = &dummy;
	ext = dp_match_specific(dp, start, number ? number : "", where, 0);
	return ext ? ext : dp_match_default(dp, start, where, 0);
}

int dp_find_prio(const struct dp_exten *ext, int prio)
{
	for (size_t i = 0; i < ext->nprios; i++)
		if (ext->prios[i].prio == prio)
			return (int)i;
	return -1;
}

int dp_find_label(const struct dp_exten *ext, const char *label)
{
	for (size_t i = 0; i < ext->nprios; i++)
		if (ext->prios[i].label && !strcmp(ext->prios[i].label, label))
			return (int)i;
	return -1;
}

bool octo_dialplan_has_procedure(const char *procedure)
{
	struct dp_snapshot *dp = dp_current();
	bool found = dp_find_proc(dp, procedure) != NULL;

	octo_obj_unref(dp);
	return found;
}

/* ---------------------------------------------------------------- parsing */

static char *dp_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

static bool dp_valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

static int dp_cmp_extens(const void *a, const void *b)
{
	return octo_pattern_compare((*(struct dp_exten *const *)a)->pat,
				    (*(struct dp_exten *const *)b)->pat);
}

static int dp_cmp_procs(const void *a, const void *b)
{
	return strcmp((*(struct dp_proc *const *)a)->name, (*(struct dp_proc *const *)b)->name);
}

static int dp_cmp_prios(const void *a, const void *b)
{
	return ((const struct dp_prio *)a)->prio - ((const struct dp_prio *)b)->prio;
}

static void *dp_grow(void *array, size_t count, size_t *cap, size_t elem)
{
	void *grown;

	if (count < *cap)
		return array;
	*cap = *cap ? *cap * 2 : 8;
	grown = realloc(array, *cap * elem);
	if (!grown)
		abort();
	return grown;
}

/* Finds the entry with this exact text in the procedure, or adds it. */
static struct dp_exten *dp_get_exten(struct dp_proc *proc, size_t *cap, const char *text,
				     const struct octo_cfg_var *v, struct octo_diags *diags)
{
	struct octo_pattern *pat;
	struct dp_exten *ext;
	const char *err = NULL;

	if (!strcmp(text, "default") && proc->def)
		return proc->def;
	for (size_t i = 0; i < proc->nextens; i++)
		if (!strcmp(octo_pattern_text(proc->extens[i]->pat), text))
			return proc->extens[i];
	pat = octo_pattern_compile(text, &err);
	if (!pat) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
			       "[%s] exten: \"%s\" is not a valid number or pattern: %s",
			       proc->name, text, err ? err : "invalid");
		return NULL;
	}
	ext = calloc(1, sizeof(*ext));
	if (!ext)
		abort();
	ext->pat = pat;
	ext->file = octo_strdup(v->file);
	ext->line = v->line;
	if (octo_pattern_is_default(pat)) {
		proc->def = ext;
	} else {
		proc->extens = dp_grow(proc->extens, proc->nextens, cap, sizeof(*proc->extens));
		proc->extens[proc->nextens++] = ext;
	}
	return ext;
}

/* Parses "PRIORITY,App(args)" into a priority of `ext`. */
static void dp_add_prio(struct dp_proc *proc, struct dp_exten *ext, char *rest,
			const struct octo_cfg_var *v, struct octo_diags *diags)
{
	char *comma = strchr(rest, ',');
	char *prio_text, *app_text, *label = NULL, *open, *args = NULL;
	struct dp_prio p = { 0 };
	const char *number = octo_pattern_text(ext->pat);

	if (!comma) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
			       "[%s] %s: missing the application (write NUMBER,PRIORITY,App(args))",
			       proc->name, v->name);
		return;
	}
	*comma = '\0';
	prio_text = dp_trim(rest);
	app_text = dp_trim(comma + 1);

	open = strchr(prio_text, '(');
	if (open) {
		char *close = strchr(open, ')');

		if (!close || close[1]) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
				       "[%s] %s %s: bad label in priority \"%s\" (write n(label))",
				       proc->name, v->name, number, prio_text);
			return;
		}
		*open = '\0';
		*close = '\0';
		label = dp_trim(open + 1);
		if (!dp_valid_name(label)) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
				       "[%s] %s %s: label \"%s\" may only use letters, digits, _ "
				       "and -", proc->name, v->name, number, label);
			return;
		}
		prio_text = dp_trim(prio_text);
	}
	if (!strcmp(prio_text, "n")) {
		p.prio = ext->nprios ? ext->prios[ext->nprios - 1].prio + 1 : 1;
	} else {
		char *end;
		long n = strtol(prio_text, &end, 10);

		if (!*prio_text || *end || n < 1 || n > 100000) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
				       "[%s] %s %s: priority \"%s\" is not n or a number 1..100000",
				       proc->name, v->name, number, prio_text);
			return;
		}
		p.prio = (int)n;
	}
	if (dp_find_prio(ext, p.prio) >= 0) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
			       "[%s] %s %s: priority %d is already defined at %s:%d", proc->name,
			       v->name, number, p.prio, ext->prios[dp_find_prio(ext, p.prio)].file,
			       ext->prios[dp_find_prio(ext, p.prio)].line);
		return;
	}
	if (label && dp_find_label(ext, label) >= 0) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
			       "[%s] %s %s: label \"%s\" is already used", proc->name, v->name,
			       number, label);
		return;
	}
	/* App or App(args): the arguments run to the last ')'. */
	open = strchr(app_text, '(');
	if (open) {
		char *close = strrchr(app_text, ')');

		if (!close || close < open || close[1]) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
				       "[%s] %s %s: \"%s\": missing ')' at the end of the "
				       "application", proc->name, v->name, number, app_text);
			return;
		}
		*open = '\0';
		*close = '\0';
		args = open + 1;
	}
	app_text = dp_trim(app_text);
	if (!dp_valid_name(app_text)) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
			       "[%s] %s %s: \"%s\" is not an application name", proc->name,
			       v->name, number, app_text);
		return;
	}
	p.label = label ? octo_strdup(label) : NULL;
	p.app = octo_strdup(app_text);
	p.args = octo_strdup(args ? args : "");
	p.file = octo_strdup(v->file);
	p.line = v->line;
	ext->prios = realloc(ext->prios, (ext->nprios + 1) * sizeof(*ext->prios));
	if (!ext->prios)
		abort();
	ext->prios[ext->nprios++] = p;
	qsort(ext->prios, ext->nprios, sizeof(*ext->prios), dp_cmp_prios);
}

static const char *const dp_known_keys[] = { "exten", "same", "include", "description", NULL };

static void dp_unknown_key(const char *proc, const struct octo_cfg_var *v,
			   struct octo_diags *diags)
{
	const char *best = NULL;
	unsigned best_d = 3;

	for (int i = 0; dp_known_keys[i]; i++) {
		unsigned d = octo_edit_distance(v->name, dp_known_keys[i]);

		if (d < best_d) {
			best_d = d;
			best = dp_known_keys[i];
		}
	}
	/* Like every config file: an unknown key is a warning, the rest loads. */
	if (best)
		octo_diags_add(diags, OCTO_DIAG_WARNING, v->file, v->line,
			       "[%s] unknown key \"%s\" (did you mean \"%s\"?)", proc, v->name,
			       best);
	else
		octo_diags_add(diags, OCTO_DIAG_WARNING, v->file, v->line,
			       "[%s] unknown key \"%s\" (a procedure has exten, same, include and "
			       "description)", proc, v->name);
}

static struct dp_proc *dp_parse_proc(const struct octo_cfg_section *sec, struct octo_diags *diags)
{
	struct dp_proc *proc = calloc(1, sizeof(*proc));
	struct dp_exten *last = NULL;
	size_t ext_cap = 0, inc_cap = 0;

	if (!proc)
		abort();
	proc->name = octo_strdup(sec->name);
	proc->file = octo_strdup(sec->file);
	proc->line = sec->line;
	if (!dp_valid_name(sec->name))
		octo_diags_add(diags, OCTO_DIAG_ERROR, sec->file, sec->line,
			       "[%s] a procedure name may only use letters, digits, _ and -",
			       sec->name);
	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
		char *line, *rest, *comma;

		if (!strcmp(v->name, "description")) {
			free(proc->description);
			proc->description = octo_strdup(v->value);
			continue;
		}
		if (!strcmp(v->name, "include")) {
			if (!dp_valid_name(v->value)) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "[%s] include: \"%s\" is not a procedure name",
					       sec->name, v->value);
				continue;
			}
			proc->includes = dp_grow(proc->includes, proc->nincludes, &inc_cap,
						 sizeof(*proc->includes));
			proc->includes[proc->nincludes++] = octo_strdup(v->value);
			continue;
		}
		if (strcmp(v->name, "exten") && strcmp(v->name, "same")) {
			dp_unknown_key(sec->name, v, diags);
			continue;
		}
		line = octo_strdup(v->value);
		if (!strcmp(v->name, "same")) {
			if (!last) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "[%s] same: no exten before it in this procedure",
					       sec->name);
				free(line);
				continue;
			}
			dp_add_prio(proc, last, line, v, diags);
			free(line);
			continue;
		}
		comma = strchr(line, ',');
		if (!comma) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
				       "[%s] exten: \"%s\": write NUMBER,PRIORITY,App(args)",
				       sec->name, v->value);
			free(line);
			last = NULL;
			continue;
		}
		*comma = '\0';
		rest = comma + 1;
		last = dp_get_exten(proc, &ext_cap, dp_trim(line), v, diags);
		if (last)
			dp_add_prio(proc, last, rest, v, diags);
		free(line);
	}
	if (proc->nextens)
		qsort(proc->extens, proc->nextens, sizeof(*proc->extens), dp_cmp_extens);
	return proc;
}

/* Include targets must exist, and includes must not loop. */
static bool dp_include_loops(const struct dp_snapshot *dp, const struct dp_proc *start,
			     const struct dp_proc *at, int depth)
{
	if (!at || depth > DP_MAX_INCLUDE_DEPTH)
		return depth > DP_MAX_INCLUDE_DEPTH;
	for (size_t i = 0; i < at->nincludes; i++) {
		const struct dp_proc *next = dp_find_proc(dp, at->includes[i]);

		if (next == start || dp_include_loops(dp, start, next, depth + 1))
			return true;
	}
	return false;
}

static struct dp_snapshot *dp_build(const char *config_dir, struct octo_diags *diags)
{
	struct octo_cfg *cfg = octo_cfg_load(config_dir, "dialplan.conf", true, diags);
	struct dp_snapshot *dp;
	size_t errors = diags->errors, proc_cap = 0, glob_cap = 0;

	if (!cfg)
		return NULL;
	dp = octo_obj_alloc(sizeof(*dp), dp_snapshot_destroy);
	if (!dp)
		abort();
	for (const struct octo_cfg_section *sec = octo_cfg_first(cfg); sec;
	     sec = octo_cfg_next(sec)) {
		if (!strcmp(sec->name, "globals")) {
			for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
				dp->globals = dp_grow(dp->globals, dp->nglobals, &glob_cap,
						      sizeof(*dp->globals));
				dp->globals[dp->nglobals].name = octo_strdup(v->name);
				dp->globals[dp->nglobals].value = octo_strdup(v->value);
				dp->nglobals++;
			}
			continue;
		}
		dp->procs = dp_grow(dp->procs, dp->nprocs, &proc_cap, sizeof(*dp->procs));
		dp->procs[dp->nprocs++] = dp_parse_proc(sec, diags);
	}
	octo_cfg_free(cfg);
	if (dp->nprocs)
		qsort(dp->procs, dp->nprocs, sizeof(*dp->procs), dp_cmp_procs);
	for (size_t i = 0; i < dp->nprocs; i++) {
		const struct dp_proc *proc = dp->procs[i];

		for (size_t k = 0; k < proc->nincludes; k++) {
			if (!dp_find_proc(dp, proc->includes[k]))
				octo_diags_add(diags, OCTO_DIAG_ERROR, proc->file, proc->line,
					       "[%s] include: no procedure [%s] in dialplan.conf",
					       proc->name, proc->includes[k]);
		}
		if (dp_include_loops(dp, proc, proc, 0))
			octo_diags_add(diags, OCTO_DIAG_ERROR, proc->file, proc->line,
				       "[%s] includes itself (directly or through other "
				       "procedures)", proc->name);
	}
	if (diags->errors > errors) {
		octo_obj_unref(dp);
		return NULL;
	}
	return dp;
}

int octo_dialplan_check(const char *config_dir, struct octo_diags *diags)
{
	struct dp_snapshot *dp = dp_build(config_dir, diags);

	if (!dp)
		return OCTO_ECONFIG;
	octo_obj_unref(dp);
	return 0;
}

int octo_dialplan_reload(struct octo_diags *diags)
{
	struct dp_snapshot *dp = dp_build(octo_paths.config_dir, diags), *old;
	size_t extens = 0;

	if (!dp)
		return OCTO_ECONFIG;
	for (size_t i = 0; i < dp->nprocs; i++)
		extens += dp->procs[i]->nextens + (dp->procs[i]->def ? 1 : 0);
	octo_pbx_globals_replace(dp->globals, dp->nglobals);
	pthread_mutex_lock(&dp_lock);
	old = dp_running;
	dp_running = dp;
	pthread_mutex_unlock(&dp_lock);
	octo_obj_unref(old);
	octo_verbose(2, "dialplan loaded: %zu procedures, %zu entries", dp->nprocs, extens);
	return 0;
}

/* ---------------------------------------------------------------- CLI */

static void dp_show_exten(struct octo_cli_out *out, const struct dp_proc *proc,
			  const struct dp_exten *ext)
{
	for (size_t i = 0; i < ext->nprios; i++) {
		const struct dp_prio *p = &ext->prios[i];
		char prio[48], app[1024], where[300];

		if (p->label)
			snprintf(prio, sizeof(prio), "%d(%s)", p->prio, p->label);
		else
			snprintf(prio, sizeof(prio), "%d", p->prio);
		snprintf(app, sizeof(app), "%s(%s)", p->app, p->args);
		snprintf(where, sizeof(where), "%s:%d", p->file, p->line);
		octo_cli_row(out, proc->name, i ? "" : octo_pattern_text(ext->pat), prio, app,
			     where, NULL);
	}
}

static int dp_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct dp_snapshot *dp;
	size_t shown = 0;

	if (argc > 3)
		return OCTO_CLI_USAGE;
	dp = dp_current();
	if (argc == 3 && !dp_find_proc(dp, argv[2])) {
		octo_cli_error(out, "No procedure [%s] in the dialplan", argv[2]);
		octo_obj_unref(dp);
		return OCTO_CLI_FAIL;
	}
	octo_cli_columns(out, "procedure", "number", "priority", "application", "defined at",
			 NULL);
	for (size_t i = 0; i < dp->nprocs; i++) {
		const struct dp_proc *proc = dp->procs[i];

		if (argc == 3 && strcmp(proc->name, argv[2]))
			continue;
		shown++;
		for (size_t k = 0; k < proc->nincludes; k++) {
			char inc[128];

			snprintf(inc, sizeof(inc), "include => %s", proc->includes[k]);
			octo_cli_row(out, proc->name, "", "", inc, "", NULL);
		}
		for (size_t e = 0; e < proc->nextens; e++)
			dp_show_exten(out, proc, proc->extens[e]);
		if (proc->def)
			dp_show_exten(out, proc, proc->def);
		if (argc == 3)
			octo_cli_kv(out, "description", "%s",
				    proc->description ? proc->description : "");
	}
	octo_cli_kv(out, "procedures", "%zu", shown);
	octo_obj_unref(dp);
	return OCTO_CLI_OK;
}

/* One candidate of "dialplan test": an entry that matches the number. */
struct dp_candidate {
	const struct dp_proc *proc;
	const struct dp_exten *ext;
	char via[256];
};

static void dp_collect(const struct dp_snapshot *dp, const struct dp_proc *proc,
		       const char *number, const char *via, struct dp_candidate *cands,
		       size_t *n, size_t max, int depth)
{
	if (!proc || depth > DP_MAX_INCLUDE_DEPTH)
		return;
	for (size_t i = 0; i < proc->nextens && *n < max; i++) {
		if (!octo_pattern_match(proc->extens[i]->pat, number))
			continue;
		cands[*n].proc = proc;
		cands[*n].ext = proc->extens[i];
		octo_strlcpy(cands[*n].via, via, sizeof(cands[*n].via));
		(*n)++;
	}
	if (proc->def && *n < max) {
		cands[*n].proc = proc;
		cands[*n].ext = proc->def;
		octo_strlcpy(cands[*n].via, via, sizeof(cands[*n].via));
		(*n)++;
	}
	for (size_t i = 0; i < proc->nincludes; i++) {
		char next_via[256];

		snprintf(next_via, sizeof(next_via), "%s%s%s", via, via[0] ? " -> " : "",
			 proc->includes[i]);
		dp_collect(dp, dp_find_proc(dp, proc->includes[i]), number, next_via, cands, n,
			   max, depth + 1);
	}
}

static int dp_cli_test(struct octo_cli_out *out, int argc, char **argv)
{
	struct dp_candidate cands[64];
	struct dp_snapshot *dp;
	const struct dp_proc *proc, *where = NULL;
	const struct dp_exten *win;
	size_t n = 0;

	if (argc != 4)
		return OCTO_CLI_USAGE;
	dp = dp_current();
	proc = dp_find_proc(dp, argv[2]);
	if (!proc) {
		octo_cli_error(out, "No procedure [%s] in the dialplan", argv[2]);
		octo_obj_unref(dp);
		return OCTO_CLI_FAIL;
	}
	win = dp_match(dp, argv[2], argv[3], &where);
	dp_collect(dp, proc, argv[3], "", cands, &n, OCTO_ARRAY_LEN(cands), 0);

	octo_cli_kv(out, "procedure", "%s", argv[2]);
	octo_cli_kv(out, "number", "%s", argv[3]);
	if (!win) {
		octo_cli_kv(out, "result", "no match: the call would be refused (unallocated "
			    "number)");
		octo_obj_unref(dp);
		return OCTO_CLI_OK;
	}
	octo_cli_kv(out, "match", "%s", octo_pattern_text(win->pat));
	octo_cli_kv(out, "in procedure", "%s", where->name);
	for (size_t i = 0; i < n; i++) {
		if (cands[i].ext != win)
			continue;
		if (where == proc)
			octo_cli_kv(out, "through", "(the procedure itself)");
		else
			octo_cli_kv(out, "through", "include %s", cands[i].via);
		break;
	}
	octo_cli_kv(out, "first step", "%s(%s)", win->nprios ? win->prios[0].app : "",
		    win->nprios ? win->prios[0].args : "");
	octo_cli_kv(out, "defined at", "%s:%d", win->file, win->line);

	octo_cli_columns(out, "entry", "procedure", "via include", "result", NULL);
	for (size_t i = 0; i < n; i++) {
		const struct dp_candidate *c = &cands[i];
		char why[512];

		if (c->ext == win) {
			octo_strlcpy(why, "WINS", sizeof(why));
		} else if (octo_pattern_is_default(c->ext->pat) &&
			   !octo_pattern_is_default(win->pat)) {
			octo_strlcpy(why, "loses: default is used only when no entry matches, here "
				     "or in the included procedures", sizeof(why));
		} else if (octo_pattern_is_default(c->ext->pat)) {
			snprintf(why, sizeof(why), "loses: the default of [%s] is nearer",
				 where->name);
		} else if (c->proc == where) {
			char reason[400];

			octo_pattern_explain(win->pat, c->ext->pat, reason, sizeof(reason));
			snprintf(why, sizeof(why), "loses: %s", reason);
		} else {
			snprintf(why, sizeof(why), "loses: [%s] is searched before [%s]",
				 where->name, c->proc->name);
		}
		octo_cli_row(out, octo_pattern_text(c->ext->pat), c->proc->name, c->via, why,
			     NULL);
	}
	octo_obj_unref(dp);
	return OCTO_CLI_OK;
}

static int dp_cli_reload(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_diags diags = { 0 };
	int rc;

	if (argc != 2)
		return OCTO_CLI_USAGE;
	rc = octo_dialplan_reload(&diags);
	octo_cli_diags(out, &diags);
	octo_diags_free(&diags);
	if (rc) {
		octo_cli_error(out, "dialplan.conf not reloaded: the running dialplan stays in "
			       "place.");
		return OCTO_CLI_FAIL;
	}
	octo_cli_printf(out, "Dialplan reloaded.");
	return OCTO_CLI_OK;
}

static void dp_complete_procs(struct octo_cli_completion *c, int pos, const char *partial)
{
	struct dp_snapshot *dp;

	if (pos != 0)
		return;
	dp = dp_current();
	for (size_t i = 0; dp && i < dp->nprocs; i++)
		if (!strncmp(dp->procs[i]->name, partial, strlen(partial)))
			octo_cli_complete_add(c, dp->procs[i]->name);
	octo_obj_unref(dp);
}

static int dp_cli_apps(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_reg_item *items;
	size_t n;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	n = octo_registry_list(OCTO_REG_APP, &items);
	octo_cli_columns(out, "application", "module", "synopsis", NULL);
	for (size_t i = 0; i < n; i++) {
		const struct octo_app *app = items[i].item;

		octo_cli_row(out, app->name, items[i].module, app->synopsis ? app->synopsis : "",
			     NULL);
	}
	octo_registry_list_free(items, n);
	octo_cli_kv(out, "applications", "%zu", n);
	return OCTO_CLI_OK;
}

static int dp_cli_app(struct octo_cli_out *out, int argc, char **argv)
{
	const struct octo_app *app;

	if (argc != 4)
		return OCTO_CLI_USAGE;
	app = octo_registry_get(OCTO_REG_APP, argv[3], "cli");
	if (!app) {
		octo_cli_error(out, "No application \"%s\" (see core show applications)", argv[3]);
		return OCTO_CLI_FAIL;
	}
	octo_cli_kv(out, "application", "%s", app->name);
	octo_cli_kv(out, "synopsis", "%s", app->synopsis ? app->synopsis : "");
	octo_cli_kv(out, "syntax", "%s", app->syntax ? app->syntax : app->name);
	if (app->description)
		octo_cli_printf(out, "%s", app->description);
	octo_registry_put(OCTO_REG_APP, app, "cli");
	return OCTO_CLI_OK;
}

static int dp_cli_funcs(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_reg_item *items;
	size_t n;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	n = octo_registry_list(OCTO_REG_FUNC, &items);
	octo_cli_columns(out, "function", "module", "syntax", "synopsis", NULL);
	for (size_t i = 0; i < n; i++) {
		const struct octo_func *f = items[i].item;

		octo_cli_row(out, f->name, items[i].module, f->syntax ? f->syntax : "",
			     f->synopsis ? f->synopsis : "", NULL);
	}
	octo_registry_list_free(items, n);
	return OCTO_CLI_OK;
}

static void dp_complete_apps(struct octo_cli_completion *c, int pos, const char *partial)
{
	if (pos == 0)
		octo_cli_complete_registry(c, OCTO_REG_APP, partial);
}

static const struct octo_cli_cmd dp_cli[] = {
	{ "dialplan show", "Show the dialplan, or one procedure", "dialplan show [<procedure>]",
	  dp_cli_show, dp_complete_procs },
	{ "dialplan test", "Show which entry a number matches in a procedure, and why",
	  "dialplan test <procedure> <number>", dp_cli_test, dp_complete_procs },
	{ "dialplan reload", "Reload dialplan.conf (atomically)", NULL, dp_cli_reload, NULL },
	{ "core show applications", "List the dialplan applications", NULL, dp_cli_apps, NULL },
	{ "core show application", "Show how to use a dialplan application",
	  "core show application <name>", dp_cli_app, dp_complete_apps },
	{ "core show functions", "List the dialplan functions", NULL, dp_cli_funcs, NULL },
	{ 0 }
};

int octo_dialplan_init(void)
{
	/* An empty dialplan until dialplan.conf is read. */
	dp_running = octo_obj_alloc(sizeof(*dp_running), dp_snapshot_destroy);
	if (!dp_running)
		return OCTO_ENOMEM;
	return octo_cli_register_all(NULL, dp_cli);
}

void octo_dialplan_shutdown(void)
{
	pthread_mutex_lock(&dp_lock);
	octo_obj_unref(dp_running);
	dp_running = NULL;
	pthread_mutex_unlock(&dp_lock);
	octo_pbx_globals_replace(NULL, 0);
}
