/*
 * app_core.c - the basic dialplan applications every dialplan uses: Answer,
 * Hangup, Goto, GotoIf, Set, SetCalled, SetCaller, Wait, NoOp and Log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/channel.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/log.h"
#include "octo/module.h"

static int core_answer(struct octo_channel *chan, char *args)
{
	int rc = octo_chan_answer(chan);

	if (rc)
		octo_chan_step(chan, "Answer failed: %s", octo_strerror(rc));
	return rc;
}

static int core_hangup(struct octo_channel *chan, char *args)
{
	int cause = OCTO_CAUSE_NORMAL;

	if (args && *args) {
		cause = octo_cause_parse(args);
		if (cause < 0) {
			octo_chan_step(chan, "Hangup: unknown cause \"%s\", using NORMAL_CLEARING",
				       args);
			cause = OCTO_CAUSE_NORMAL;
		}
	}
	octo_chan_hangup(chan, cause);
	return OCTO_APP_HANGUP;
}

/* Goto(label) | Goto(procedure,number) | Goto(procedure,number,priority|label) */
static int core_goto_target(struct octo_channel *chan, char *target)
{
	char *argv[4];
	int argc = octo_args_split(target, argv, 4);

	switch (argc) {
	case 1:
		return octo_pbx_goto(chan, NULL, NULL, argv[0]);
	case 2:
		return octo_pbx_goto(chan, argv[0], argv[1], NULL);
	case 3:
		return octo_pbx_goto(chan, argv[0], argv[1], argv[2]);
	default:
		octo_chan_step(chan, "Goto: expected label | procedure,number[,priority|label]");
		return OCTO_EINVAL;
	}
}

static int core_goto(struct octo_channel *chan, char *args)
{
	int rc = core_goto_target(chan, args);

	/* A jump to nowhere ends the call with a clear step, not a silent loop. */
	return rc ? rc : OCTO_APP_CONTINUE;
}

/* GotoIf(condition?target_if_true[:target_if_false]) */
static int core_gotoif(struct octo_channel *chan, char *args)
{
	char *q = strchr(args, '?'), *colon, *target;

	if (!q) {
		octo_chan_step(chan, "GotoIf: missing '?' (GotoIf(cond?true_target:false_target))");
		return OCTO_EINVAL;
	}
	*q = '\0';
	colon = strchr(q + 1, ':');
	if (colon)
		*colon = '\0';
	target = octo_expr_is_true(args) ? q + 1 : (colon ? colon + 1 : NULL);
	octo_chan_step(chan, "GotoIf: condition \"%s\" is %s", args,
		       octo_expr_is_true(args) ? "true" : "false");
	if (!target || !*target)
		return OCTO_APP_CONTINUE;
	return core_goto_target(chan, target) ? OCTO_ENOTFOUND : OCTO_APP_CONTINUE;
}

/* Set(NAME=value) or Set(GLOBAL(NAME)=value) */
static int core_set(struct octo_channel *chan, char *args)
{
	char *eq = strchr(args, '=');
	char *name = args;
	size_t len;

	if (!eq || eq == args) {
		octo_chan_step(chan, "Set: expected NAME=value");
		return OCTO_EINVAL;
	}
	*eq = '\0';
	len = strlen(name);
	while (len && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		name[--len] = '\0';
	if (!strncmp(name, "GLOBAL(", 7) && len > 8 && name[len - 1] == ')') {
		name[len - 1] = '\0';
		return octo_pbx_global_set(name + 7, eq + 1) ? OCTO_EINVAL : OCTO_APP_CONTINUE;
	}
	return octo_chan_var_set(chan, name, eq + 1) ? OCTO_EINVAL : OCTO_APP_CONTINUE;
}

/* Parses the key=value arguments of SetCalled/SetCaller. */
struct core_number_args {
	long remove;
	const char *prepend;
	const char *custom;
	const char *name;
};

static int core_parse_number_args(struct octo_channel *chan, const char *app, char *args,
				  struct core_number_args *na, bool allow_name)
{
	char *argv[8];
	int argc = octo_args_split(args, argv, 8);

	memset(na, 0, sizeof(*na));
	if (argc > 8)
		argc = 8;
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '='), *end;

		if (!eq) {
			octo_chan_step(chan, "%s: \"%s\" is not key=value", app, argv[i]);
			return OCTO_EINVAL;
		}
		*eq = '\0';
		if (!strcmp(argv[i], "remove")) {
			na->remove = strtol(eq + 1, &end, 10);
			if (*end || end == eq + 1 || na->remove < 0 || na->remove > 64) {
				octo_chan_step(chan, "%s: remove=%s is not a number 0..64", app,
					       eq + 1);
				return OCTO_EINVAL;
			}
		} else if (!strcmp(argv[i], "prepend")) {
			na->prepend = eq + 1;
		} else if (!strcmp(argv[i], "custom")) {
			na->custom = eq + 1;
		} else if (allow_name && !strcmp(argv[i], "name")) {
			na->name = eq + 1;
		} else {
			octo_chan_step(chan, "%s: unknown key \"%s\" (remove, prepend, custom%s)", app,
				       argv[i], allow_name ? ", name" : "");
			return OCTO_EINVAL;
		}
	}
	return 0;
}

/* custom replaces the number; otherwise remove leading digits, then prepend. */
static void core_rewrite(const char *in, const struct core_number_args *na, char *out,
			 size_t size)
{
	size_t len = strlen(in);

	if (na->custom) {
		octo_strlcpy(out, na->custom, size);
		return;
	}
	in += (size_t)na->remove < len ? (size_t)na->remove : len;
	snprintf(out, size, "%s%s", na->prepend ? na->prepend : "", in);
}

static int core_setcalled(struct octo_channel *chan, char *args)
{
	struct core_number_args na;
	char number[128];

	if (core_parse_number_args(chan, "SetCalled", args, &na, false))
		return OCTO_EINVAL;
	core_rewrite(octo_chan_peek(chan, OCTO_CHAN_CALLED), &na, number, sizeof(number));
	octo_chan_step(chan, "SetCalled: %s -> %s", octo_chan_peek(chan, OCTO_CHAN_CALLED),
		       number);
	octo_chan_set(chan, OCTO_CHAN_CALLED, number);
	return OCTO_APP_CONTINUE;
}

static int core_setcaller(struct octo_channel *chan, char *args)
{
	struct core_number_args na;
	char number[128];

	if (core_parse_number_args(chan, "SetCaller", args, &na, true))
		return OCTO_EINVAL;
	core_rewrite(octo_chan_peek(chan, OCTO_CHAN_CALLER_NUM), &na, number, sizeof(number));
	octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, number);
	if (na.name)
		octo_chan_set(chan, OCTO_CHAN_CALLER_NAME, na.name);
	return OCTO_APP_CONTINUE;
}

static int core_wait(struct octo_channel *chan, char *args)
{
	char *end;
	double secs = strtod(args, &end);

	if (end == args || *end || secs < 0 || secs > 86400) {
		octo_chan_step(chan, "Wait: \"%s\" is not a number of seconds (0..86400)", args);
		return OCTO_EINVAL;
	}
	return octo_chan_sleep(chan, (unsigned)(secs * 1000.0)) ? OCTO_EHANGUP
								  : OCTO_APP_CONTINUE;
}

static int core_noop(struct octo_channel *chan, char *args)
{
	return OCTO_APP_CONTINUE;
}

static int core_log(struct octo_channel *chan, char *args)
{
	char *comma = strchr(args, ',');
	int level;

	if (!comma) {
		octo_chan_step(chan, "Log: expected level,text");
		return OCTO_EINVAL;
	}
	*comma = '\0';
	level = octo_log_level_parse(args);
	if (level < 0 || level == OCTO_LOG_DEBUG) {
		octo_chan_step(chan, "Log: unknown level \"%s\" (error, warning, notice, verbose)",
			       args);
		return OCTO_EINVAL;
	}
	octo_log_full((enum octo_log_level)level, level == OCTO_LOG_VERBOSE ? 1 : 0, "dialplan",
		      __FILE__, __LINE__, __func__, octo_chan_id(chan), "%s", comma + 1);
	return OCTO_APP_CONTINUE;
}

static const struct octo_app core_apps[] = {
	{ .name = "Answer", .synopsis = "Answer the call", .syntax = "Answer()",
	  .description = "Answers the call if it is not answered yet.", .exec = core_answer },
	{ .name = "Hangup", .synopsis = "Hang up the call", .syntax = "Hangup([cause])",
	  .description = "Ends the call. cause: a name (NORMAL_CLEARING, USER_BUSY, "
			 "UNALLOCATED, CONGESTION, ...) or a Q.850 number; default "
			 "NORMAL_CLEARING.",
	  .exec = core_hangup },
	{ .name = "Goto", .synopsis = "Jump to another place in the dialplan",
	  .syntax = "Goto(label) | Goto(procedure,number[,priority|label])",
	  .description = "With one argument jumps to a label (or priority) of the current "
			 "entry. With two, to the first step of the entry that number matches "
			 "in procedure; with three, to that priority or label. The called "
			 "number becomes that number.",
	  .exec = core_goto },
	{ .name = "GotoIf", .synopsis = "Jump depending on a condition",
	  .syntax = "GotoIf(condition?target_if_true[:target_if_false])",
	  .description = "Targets are written like Goto's arguments. A condition is true "
			 "when it is not empty and not 0, e.g. $[${CALLER} = 100].",
	  .exec = core_gotoif },
	{ .name = "Set", .synopsis = "Set a channel or global variable",
	  .syntax = "Set(NAME=value) | Set(GLOBAL(NAME)=value)",
	  .description = "Sets a variable of this call, or a global variable.",
	  .exec = core_set },
	{ .name = "SetCalled", .synopsis = "Rewrite the called number",
	  .syntax = "SetCalled(remove=N,prepend=DIGITS,custom=NUMBER)",
	  .description = "remove: how many leading digits to drop; prepend: digits to put in "
			 "front; custom: a number that replaces it all. The number as dialled "
			 "stays in ${DIALED}.",
	  .exec = core_setcalled },
	{ .name = "SetCaller", .synopsis = "Rewrite the caller number and name",
	  .syntax = "SetCaller(remove=N,prepend=DIGITS,custom=NUMBER,name=TEXT)",
	  .description = "Like SetCalled, for the caller number; name sets the caller name.",
	  .exec = core_setcaller },
	{ .name = "Wait", .synopsis = "Wait a number of seconds", .syntax = "Wait(seconds)",
	  .description = "Waits (fractions allowed); ends early if the caller hangs up.",
	  .exec = core_wait },
	{ .name = "NoOp", .synopsis = "Do nothing", .syntax = "NoOp([text])",
	  .description = "Does nothing; its substituted arguments show in the call's step log.",
	  .exec = core_noop },
	{ .name = "Log", .synopsis = "Write a line to the log", .syntax = "Log(level,text)",
	  .description = "level: error, warning, notice or verbose.", .exec = core_log },
	{ 0 }
};

static int app_core_load(struct octo_module *self)
{
	return octo_app_register_all(self, core_apps) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

OCTO_MODULE(app_core, .description = "Basic dialplan applications (Answer, Goto, Set, ...)",
	    .load = app_core_load);
