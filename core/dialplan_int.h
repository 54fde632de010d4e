/*
 * dialplan_int.h - the parsed dialplan shared by dialplan.c (parsing,
 * matching, CLI) and pbx.c (execution). Core-private.
 */
#ifndef OCTO_DIALPLAN_INT_H
#define OCTO_DIALPLAN_INT_H

#include <stddef.h>

#include "octo/pattern.h"

struct dp_prio {
	int prio;
	char *label;          /* NULL when none */
	char *app;            /* "Dial" */
	char *args;           /* raw, substituted at run time; "" when none */
	char *file;
	int line;
};

struct dp_exten {
	struct octo_pattern *pat;
	struct dp_prio *prios; /* ascending by prio */
	size_t nprios;
	char *file;
	int line;
};

struct dp_proc {
	char *name;
	char *description;
	struct dp_exten **extens;  /* exact first, then patterns, most specific first */
	size_t nextens;
	struct dp_exten *def;      /* `default`, or NULL */
	char **includes;
	size_t nincludes;
	char *file;
	int line;
};

struct dp_global {
	char *name;
	char *value;
};

/* An immutable dialplan; refcounted (obj.h) and swapped atomically on reload. */
struct dp_snapshot {
	struct dp_proc **procs;    /* sorted by name */
	size_t nprocs;
	struct dp_global *globals;
	size_t nglobals;
};

/* The running dialplan: a NEW reference (never NULL after init). */
struct dp_snapshot *dp_current(void);
const struct dp_proc *dp_find_proc(const struct dp_snapshot *dp, const char *name);

/* Finds the entry for `number` starting in procedure `proc` with the match
 * rule of dialplan.h. Returns the entry and, in *where, the procedure it was
 * found in (may be an included one); NULL when nothing matches. The rule is
 * in include/octo/dialplan.h. */
const struct dp_exten *dp_match(const struct dp_snapshot *dp, const char *proc,
				const char *number, const struct dp_proc **where);
/* The index of the priority `prio` in ext, or of the label; -1 if none. */
int dp_find_prio(const struct dp_exten *ext, int prio);
int dp_find_label(const struct dp_exten *ext, const char *label);

#endif
