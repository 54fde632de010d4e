/*
 * dialplan.h - applications, functions and the dialplan engine.
 *
 * dialplan.conf holds a procedure per section:
 *
 *   [users]
 *   description = Calls from users
 *   include => pbxinternal
 *   exten => 0X.,1,SetCalled(remove=1)
 *   same  => n(out),Dial(${CALLED},30)
 *   exten => default,1,Hangup(UNALLOCATED)
 *
 * Matching (see pattern.h), in two passes:
 *   1. the procedure's own entries, most specific first; then the entries of
 *      the included procedures, in order (depth first, same rule);
 *   2. only when nothing matched anywhere: the nearest `default` -- the
 *      procedure's own, else the first one found through its includes.
 * So `default` never hides an entry of an included procedure.
 *
 * Each call running dialplan has a thread of its own (octo_pbx_start), so
 * an application is straight-line code that may block on its channel.
 */
#ifndef OCTO_DIALPLAN_H
#define OCTO_DIALPLAN_H

#include <stddef.h>

#include "octo/octo.h"

struct octo_module;
struct octo_channel;
struct octo_diags;

/* An application's exec returns OCTO_APP_CONTINUE to go on with the next
 * priority (or wherever it jumped), OCTO_APP_HANGUP to end the call
 * normally, or a negative OCTO_E* error (the call then hangs up and the step
 * log says why). */
enum { OCTO_APP_CONTINUE = 0, OCTO_APP_HANGUP = 1 };

struct octo_app {
	const char *name;       /* "Dial"; case-insensitive in dialplan.conf */
	const char *synopsis;   /* one line */
	const char *syntax;     /* "Wait(seconds)" */
	const char *description;/* arguments and behaviour, for "core show application" */
	/* `args` is already substituted; the app may modify it (octo_args_split). */
	int (*exec)(struct octo_channel *chan, char *args);
};
/* Registers every app of a table ended by { 0 }; all-or-nothing. */
int octo_app_register_all(struct octo_module *owner, const struct octo_app *apps);

struct octo_func {
	const char *name;       /* "LEN" */
	const char *synopsis;
	const char *syntax;
	/* Computes the value into buf; 0 or a negative OCTO_E*. */
	int (*read)(struct octo_channel *chan, const char *args, char *buf, size_t size);
};
int octo_func_register_all(struct octo_module *owner, const struct octo_func *funcs);

/* ---------------------------------------------------------------- engine */

/* Starts the call thread that runs the dialplan of `chan` from its
 * procedure and called number (priority 1). Takes its own reference; when
 * the dialplan ends the channel is hung up. 0 or OCTO_E*. */
int octo_pbx_start(struct octo_channel *chan);

/* Runs the dialplan on the calling thread (used by octo_pbx_start). */
void octo_pbx_run(struct octo_channel *chan);

/* Jumps: the next step runs at procedure/number/priority-or-label. NULL
 * procedure or number keeps the current one. Called by applications from the
 * call thread. Returns 0, or OCTO_ENOTFOUND (nothing matches: the step log
 * says so and the position is unchanged). */
int octo_pbx_goto(struct octo_channel *chan, const char *procedure, const char *number,
		  const char *priority_or_label);

/* Substitutes variables, functions and expressions in the channel's context
 * (channel variables, then globals; built-ins CALLER, CALLERNAME, CALLED,
 * DIALED, PROCEDURE, CHANNEL, UNIQUEID, EPOCH). Returns a malloc'ed string.
 * `chan` may be NULL (globals only). */
char *octo_pbx_subst(struct octo_channel *chan, const char *in);

/* Global variables ([globals] of dialplan.conf, plus Set(GLOBAL(X)=...)). */
const char *octo_pbx_global_get(const char *name, char *buf, size_t size);
int octo_pbx_global_set(const char *name, const char *value);

/* True when `procedure` exists in the running dialplan. */
bool octo_dialplan_has_procedure(const char *procedure);

/* Loads or reloads dialplan.conf atomically (core side). */
int octo_dialplan_reload(struct octo_diags *diags);

#endif
