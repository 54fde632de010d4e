/*
 * app_dial.c - the Dial application: rings one or more targets at once
 * (channels "Tech/dest" and users "100", whose every device rings), bridges
 * the caller with the first that answers, applies the callee's call
 * features (reject, do not disturb, forwards, call waiting, ring time) and
 * leaves the outcome in ${DIALSTATUS} for the next step of the dialplan.
 *
 * DESIGN: Dial runs on the caller's call thread. Targets are resolved
 * first (users through the "users" service, their devices through every
 * channel technology's devices callback), then the legs are created and
 * rung by the core's dial set (bridge.h), which holds no lock while it
 * waits. The users service is given back before the ringing starts: what
 * Dial needs of a user afterwards is copied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/bridge.h"
#include "octo/channel.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/pattern.h"
#include "octo/registry.h"
#include "octo/users.h"

#define DIAL_MAX_TARGETS 32
#define DIAL_DEFAULT_TIMEOUT 30     /* seconds */
#define DIAL_MAX_FORWARDS 5         /* forwards followed by one call */
#define DIAL_NUMBER_MAX 64

/* A target of the Dial, resolved before anything rings. */
struct dial_target {
	char *text;                 /* points into the argument string */
	bool plain;                 /* a user extension, not Tech/dest */
	struct octo_user *user;     /* plain targets: the user, or NULL */
};

/* What a single plain-user Dial still needs once the user is given back. */
struct dial_single {
	bool active;
	char ext[DIAL_NUMBER_MAX + 1];
	char forward_all[DIAL_NUMBER_MAX + 1];
	char forward_busy[DIAL_NUMBER_MAX + 1];
	char forward_noanswer[DIAL_NUMBER_MAX + 1];
};

static const char dial_description[] =
	"Rings every target at once; the first to answer is connected with the caller and the "
	"other legs are cancelled (answered elsewhere).\n"
	"\n"
	"targets: one or more, separated by '&':\n"
	"  Tech/dest  a channel of a technology: SIP/100, Test/answer ...\n"
	"  100        a user (users.conf, through the res_users module): every device of the\n"
	"             user that a channel technology can reach now rings (for SIP each\n"
	"             registered contact). Without res_users a plain target is CHANUNAVAIL.\n"
	"timeout: seconds to ring before giving up (NOANSWER); 0 means no limit. Default: the\n"
	"  user's call_timeout when the only target is a user, else 30.\n"
	"options: g  go on with the next step after an answered call ends because the callee\n"
	"            hung up (without it the call ends with the callee's cause).\n"
	"\n"
	"${DIALSTATUS} afterwards, for the next steps (e.g. GotoIf($[${DIALSTATUS} = BUSY]?...)):\n"
	"  ANSWER       a target answered (set while the call goes on, too)\n"
	"  BUSY         busy, the callee is in do not disturb, or has call waiting off and is\n"
	"               already in a call\n"
	"  NOANSWER     nobody answered within the timeout, or the far end gave up ringing\n"
	"  CANCEL       the caller hung up while it rang\n"
	"  CONGESTION   the network or the far end failed\n"
	"  CHANUNAVAIL  no such technology, user or device, or none can be reached now (legs\n"
	"               that cannot be created count as CHANUNAVAIL)\n"
	"  REJECTED     the callee refuses this caller: the number is in the user's reject list\n"
	"               (numbers or patterns), or the caller is anonymous and the user has\n"
	"               reject_anonymous; also a far end that declined (CALL_REJECTED)\n"
	"  FORWARD      the user forwards the call: the dialplan goes on at the forward number\n"
	"               (see below); ${FORWARD} is the number\n"
	"  FORWARD_VOICEMAIL  the user forwards to VOICEMAIL: Dial runs VoiceMail(<user>,u)\n"
	"               (b when busy) when app_voicemail is loaded, then the next step runs,\n"
	"               with ${FORWARD}=VOICEMAIL and ${DIALEDUSER} the mailbox's user\n"
	"When several legs fail, the most telling status wins: BUSY, REJECTED, NOANSWER,\n"
	"CONGESTION, CHANUNAVAIL.\n"
	"\n"
	"Call features of a user (only when the only target is a user, except where said):\n"
	"  reject, reject_anonymous  REJECTED (also with several targets: that user is not rung)\n"
	"  forward_all       before ringing: forwards every call\n"
	"  dnd               BUSY (also with several targets)\n"
	"  call_waiting = no BUSY when the user already has a live call (also with several\n"
	"                    targets): a channel whose ${USER} is the user, or named\n"
	"                    Tech/<user>-<sequence> (e.g. SIP/100-0000002a)\n"
	"  forward_busy      after BUSY (so also after dnd and call waiting)\n"
	"  forward_noanswer  after NOANSWER (the timeout)\n"
	"  call_timeout      the default timeout\n"
	"A forward to a number jumps to that number in the procedure ${FORWARD_PROCEDURE} if\n"
	"set, else the procedure of the calling user (the caller's ${USER}), else the current\n"
	"procedure; ${FORWARD_REASON} is all, busy or noanswer. When nothing matches there,\n"
	"DIALSTATUS keeps the status the call had (CHANUNAVAIL for forward_all). At most 5\n"
	"forwards are followed per call (${FORWARDS} counts them), so forwards in a circle end.\n"
	"A user with forward_all among several targets is not rung (CHANUNAVAIL).\n"
	"\n"
	"Variables set: on the caller DIALSTATUS, DIALEDUSER (the user targets, '&'-separated),\n"
	"DIALEDTIME (seconds from the start of Dial to its end), ANSWEREDTIME (seconds of\n"
	"conversation), FORWARD, FORWARD_REASON, FORWARDS; on each leg to a user's device USER\n"
	"(the user it belongs to; its called number is the user's extension); on both sides of\n"
	"the conversation BRIDGEPEER and HANGUPSIDE (caller or callee). Every leg created, who\n"
	"answered and why Dial ended is in the call's step log (call debug <id>).";

/* ---------------------------------------------------------------- helpers */

static bool dial_valid_number(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > DIAL_NUMBER_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || strchr("+*#_.-", *s)))
			return false;
	return true;
}

static void dial_set_status(struct octo_channel *chan, const char *status)
{
	octo_chan_var_set(chan, "DIALSTATUS", status);
	octo_chan_step(chan, "Dial: DIALSTATUS=%s", status);
}

static void dial_set_seconds(struct octo_channel *chan, const char *name, uint64_t ms)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(ms / 1000u));
	octo_chan_var_set(chan, name, buf);
}

/* True when `number` is in the user's reject list (exact numbers or patterns). */
static bool dial_rejects(const struct octo_user *user, const char *number)
{
	for (size_t i = 0; i < user->reject.count; i++) {
		const char *item = user->reject.items[i], *err = NULL;
		struct octo_pattern *pat;
		bool hit;

		if (!item || !*item)
			continue;
		pat = octo_pattern_compile(item, &err);
		hit = pat ? octo_pattern_match(pat, number) : !strcmp(item, number);
		octo_pattern_free(pat);
		if (hit)
			return true;
	}
	return false;
}

/* Rings a user (or records why not). */
static void dial_user(struct octo_channel *chan, struct octo_dial *d,
		      const struct dial_target *t, bool single, unsigned timeout_ms,
		      struct dial_single *one)
{
	const struct octo_user *u = t->user;
	char caller[DIAL_NUMBER_MAX + 1];
	char what[DIAL_NUMBER_MAX + 16];
	bool anonymous;

	snprintf(what, sizeof(what), "user %s", t->text);
	if (!u) {
		octo_dial_add_failed(d, what, OCTO_DIAL_CHANUNAVAIL);
		return;
	}
	octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, caller, sizeof(caller));
	anonymous = !*caller || !strcasecmp(caller, "anonymous");
	if (anonymous && u->reject_anonymous) {
		octo_chan_step(chan, "Dial: user %s rejects anonymous callers", t->text);
		octo_dial_add_failed(d, what, OCTO_DIAL_REJECTED);
		return;
	}
	if (!anonymous && dial_rejects(u, caller)) {
		octo_chan_step(chan, "Dial: user %s rejects calls from %s", t->text, caller);
		octo_dial_add_failed(d, what, OCTO_DIAL_REJECTED);
		return;
	}
	if (*u->forward_all) {
		if (single) {
			octo_strlcpy(one->forward_all, u->forward_all, sizeof(one->forward_all));
			return;
		}
		octo_chan_step(chan, "Dial: user %s forwards all calls to %s: not followed with "
			       "several targets", t->text, u->forward_all);
		octo_dial_add_failed(d, what, OCTO_DIAL_CHANUNAVAIL);
		return;
	}
	if (u->dnd) {
		octo_chan_step(chan, "Dial: user %s is in do not disturb", t->text);
		octo_dial_add_failed(d, what, OCTO_DIAL_BUSY);
		return;
	}
	if (!u->call_waiting && octo_user_in_call(t->text, chan)) {
		octo_chan_step(chan, "Dial: user %s is in a call and has call waiting off",
			       t->text);
		octo_dial_add_failed(d, what, OCTO_DIAL_BUSY);
		return;
	}
	if (!octo_dial_add_user(d, t->text, timeout_ms, "Dial")) {
		octo_chan_step(chan, "Dial: user %s has no device that can be called now",
			       t->text);
		octo_dial_add_failed(d, what, OCTO_DIAL_CHANUNAVAIL);
	}
}

/* The procedure a forward runs in (see the description). */
static void dial_forward_procedure(struct octo_channel *chan, char *buf, size_t size)
{
	char user[DIAL_NUMBER_MAX + 1];

	if (octo_chan_var_get(chan, "FORWARD_PROCEDURE", buf, size) && *buf)
		return;
	if (octo_chan_var_get(chan, "USER", user, sizeof(user)) && *user) {
		const struct octo_users_api *users =
			octo_service_get(OCTO_USERS_SERVICE, 1, octo_chan_name(chan));
		struct octo_user *u = users ? users->find(user) : NULL;
		bool found = u && *u->procedure;

		if (found)
			octo_strlcpy(buf, u->procedure, size);
		octo_obj_unref(u);
		octo_service_put(users, octo_chan_name(chan));
		if (found)
			return;
	}
	octo_chan_copy(chan, OCTO_CHAN_PROCEDURE, buf, size);
}

/* Follows a forward of user `ext` to `number`; `fallback` is the status
 * when it cannot be followed. */
static void dial_forward(struct octo_channel *chan, const char *ext, const char *number,
			 const char *reason, const char *fallback)
{
	char buf[32], proc[80];
	long hops = 0;

	if (octo_chan_var_get(chan, "FORWARDS", buf, sizeof(buf)))
		hops = strtol(buf, NULL, 10);
	if (hops < 0 || hops >= DIAL_MAX_FORWARDS) {
		octo_chan_step(chan, "Dial: not following the forward of %s to %s: %d forwards "
			       "already (a circle?)", ext, number, DIAL_MAX_FORWARDS);
		dial_set_status(chan, fallback);
		return;
	}
	snprintf(buf, sizeof(buf), "%ld", hops + 1);
	octo_chan_var_set(chan, "FORWARDS", buf);
	octo_chan_var_set(chan, "FORWARD_REASON", reason);
	if (!strcasecmp(number, "VOICEMAIL")) {
		octo_chan_step(chan, "Dial: user %s forwards (%s) to voicemail", ext, reason);
		octo_chan_var_set(chan, "FORWARD", "VOICEMAIL");
		octo_chan_var_set(chan, "DIALEDUSER", ext);
		dial_set_status(chan, "FORWARD_VOICEMAIL");
		return;
	}
	if (!dial_valid_number(number)) {
		octo_chan_step(chan, "Dial: user %s forwards (%s) to \"%.64s\", not a number", ext,
			       reason, number);
		dial_set_status(chan, fallback);
		return;
	}
	dial_forward_procedure(chan, proc, sizeof(proc));
	octo_chan_step(chan, "Dial: user %s forwards (%s) to %s in [%s]", ext, reason, number,
		       proc);
	octo_chan_var_set(chan, "FORWARD", number);
	if (octo_pbx_goto(chan, proc, number, NULL)) {
		dial_set_status(chan, fallback);
		return;
	}
	dial_set_status(chan, "FORWARD");
}

/* After dial_forward: a forward to VOICEMAIL runs VoiceMail(<user>,u|b) when
 * app_voicemail is loaded (found by name: Dial does not require it); else,
 * or after it, the next step runs. */
static int dial_forwarded(struct octo_channel *chan, const char *ext, const char *reason)
{
	const char *holder = octo_chan_name(chan);
	const struct octo_app *vm;
	char st[32], args[DIAL_NUMBER_MAX + 8];
	int rc;

	if (!octo_chan_var_get(chan, "DIALSTATUS", st, sizeof(st)) ||
	    strcmp(st, "FORWARD_VOICEMAIL"))
		return OCTO_APP_CONTINUE;
	vm = octo_registry_get(OCTO_REG_APP, "VoiceMail", holder);
	if (!vm) {
		octo_chan_step(chan, "Dial: no VoiceMail application (app_voicemail is not "
			       "loaded): the next step runs");
		return OCTO_APP_CONTINUE;
	}
	snprintf(args, sizeof(args), "%s,%s", ext, strcmp(reason, "busy") ? "u" : "b");
	octo_chan_step(chan, "Dial: VoiceMail(%s)", args);
	rc = vm->exec(chan, args);
	octo_registry_put(OCTO_REG_APP, vm, holder);
	return rc;
}

/* ---------------------------------------------------------------- Dial */

static int dial_parse(struct octo_channel *chan, char *args, char **targets, long *timeout,
		      bool *go_on)
{
	char *argv[4];
	int argc = octo_args_split(args, argv, 4);

	*timeout = -1;
	*go_on = false;
	if (argc < 1 || !*argv[0]) {
		octo_chan_step(chan, "Dial: no target (Dial(Tech/dest[&...][,timeout[,options]]))");
		return OCTO_EINVAL;
	}
	if (argc > 3) {
		octo_chan_step(chan, "Dial: too many arguments (targets, timeout, options)");
		return OCTO_EINVAL;
	}
	*targets = argv[0];
	if (argc >= 2 && *argv[1]) {
		char *end;

		*timeout = strtol(argv[1], &end, 10);
		if (*end || *timeout < 0 || *timeout > 86400) {
			octo_chan_step(chan, "Dial: timeout \"%.32s\" is not a number of seconds "
				       "0..86400", argv[1]);
			return OCTO_EINVAL;
		}
	}
	for (const char *o = argc == 3 ? argv[2] : ""; *o; o++) {
		if (*o == 'g') {
			*go_on = true;
		} else {
			octo_chan_step(chan, "Dial: unknown option '%c' (g: go on after the call)",
				       *o);
			return OCTO_EINVAL;
		}
	}
	return 0;
}

/* Splits the targets on '&' and checks each. Returns the count or OCTO_EINVAL. */
static int dial_split_targets(struct octo_channel *chan, char *text, struct dial_target *t)
{
	int n = 0;
	char *save = NULL;

	for (char *tok = strtok_r(text, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
		char *slash;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		for (size_t len = strlen(tok); len && strchr(" \t", tok[len - 1]);)
			tok[--len] = '\0';
		if (!*tok)
			continue;
		if (n == DIAL_MAX_TARGETS) {
			octo_chan_step(chan, "Dial: more than %d targets", DIAL_MAX_TARGETS);
			return OCTO_EINVAL;
		}
		slash = strchr(tok, '/');
		if (!slash && !dial_valid_number(tok)) {
			octo_chan_step(chan, "Dial: \"%.64s\" is neither Tech/dest nor a user "
				       "number", tok);
			return OCTO_EINVAL;
		}
		t[n].text = tok;
		t[n].plain = !slash;
		t[n].user = NULL;
		n++;
	}
	if (!n) {
		octo_chan_step(chan, "Dial: no target");
		return OCTO_EINVAL;
	}
	return n;
}

static int dial_exec(struct octo_channel *chan, char *args)
{
	struct dial_target targets[DIAL_MAX_TARGETS];
	struct dial_single one = { 0 };
	const struct octo_users_api *users = NULL;
	const char *holder = octo_chan_name(chan);
	struct octo_channel *peer = NULL;
	struct octo_dial *d;
	enum octo_dial_status st;
	char *target_text, dialed_users[256] = "";
	long timeout;
	unsigned timeout_ms;
	uint64_t start = octo_now_ms();
	bool go_on, any_plain = false;
	int n, rc;

	if (dial_parse(chan, args, &target_text, &timeout, &go_on))
		return OCTO_EINVAL;
	n = dial_split_targets(chan, target_text, targets);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		any_plain |= targets[i].plain;

	/* Users first: the timeout may come from the only one. */
	if (any_plain) {
		users = octo_service_get(OCTO_USERS_SERVICE, 1, holder);
		if (!users)
			octo_chan_step(chan, "Dial: no users service (res_users is not loaded): "
				       "user targets are unavailable");
	}
	for (int i = 0; i < n; i++) {
		if (!targets[i].plain || !users)
			continue;
		targets[i].user = users->find(targets[i].text);
		if (!targets[i].user)
			octo_chan_step(chan, "Dial: no user %s", targets[i].text);
		if (strlen(dialed_users) + strlen(targets[i].text) + 2 < sizeof(dialed_users)) {
			if (*dialed_users)
				strcat(dialed_users, "&");
			strcat(dialed_users, targets[i].text);
		}
	}
	if (*dialed_users)
		octo_chan_var_set(chan, "DIALEDUSER", dialed_users);
	one.active = n == 1 && targets[0].plain && targets[0].user;
	if (one.active) {
		const struct octo_user *u = targets[0].user;

		octo_strlcpy(one.ext, targets[0].text, sizeof(one.ext));
		octo_strlcpy(one.forward_busy, u->forward_busy, sizeof(one.forward_busy));
		octo_strlcpy(one.forward_noanswer, u->forward_noanswer,
			     sizeof(one.forward_noanswer));
		if (timeout < 0 && u->call_timeout)
			timeout = u->call_timeout;
	}
	if (timeout < 0)
		timeout = DIAL_DEFAULT_TIMEOUT;
	timeout_ms = (unsigned)timeout * 1000u;
	if (timeout)
		octo_chan_step(chan, "Dial: %d target%s, timeout %ld s", n, n == 1 ? "" : "s",
			       timeout);
	else
		octo_chan_step(chan, "Dial: %d target%s, no timeout", n, n == 1 ? "" : "s");

	d = octo_dial_alloc(chan);
	if (!d) {
		for (int i = 0; i < n; i++)
			octo_obj_unref(targets[i].user);
		octo_service_put(users, holder);
		dial_set_status(chan, "CONGESTION");
		return OCTO_APP_CONTINUE;
	}
	for (int i = 0; i < n; i++) {
		if (targets[i].plain) {
			dial_user(chan, d, &targets[i], one.active, timeout_ms, &one);
		} else {
			char *slash = strchr(targets[i].text, '/');

			*slash = '\0';
			octo_dial_add(d, targets[i].text, slash + 1, timeout_ms);
			*slash = '/';
		}
		octo_obj_unref(targets[i].user);
		targets[i].user = NULL;
	}
	octo_service_put(users, holder);

	if (one.active && *one.forward_all) {
		octo_dial_free(d);
		dial_forward(chan, one.ext, one.forward_all, "all", "CHANUNAVAIL");
		dial_set_seconds(chan, "DIALEDTIME", octo_now_ms() - start);
		return dial_forwarded(chan, one.ext, "all");
	}

	st = octo_dial_run(d, (int)timeout_ms, &peer);
	octo_dial_free(d);
	dial_set_seconds(chan, "DIALEDTIME", octo_now_ms() - start);

	if (st != OCTO_DIAL_ANSWER) {
		if (one.active && st == OCTO_DIAL_BUSY && *one.forward_busy) {
			dial_forward(chan, one.ext, one.forward_busy, "busy", "BUSY");
			return dial_forwarded(chan, one.ext, "busy");
		}
		if (one.active && st == OCTO_DIAL_NOANSWER && *one.forward_noanswer) {
			dial_forward(chan, one.ext, one.forward_noanswer, "noanswer", "NOANSWER");
			return dial_forwarded(chan, one.ext, "noanswer");
		}
		dial_set_status(chan, octo_dial_status_name(st));
		return OCTO_APP_CONTINUE;
	}

	rc = octo_chan_answer(chan);
	if (rc) {
		octo_chan_step(chan, "Dial: cannot answer the caller (%s): dropping %s",
			       octo_strerror(rc), octo_chan_name(peer));
		octo_chan_hangup(peer, OCTO_CAUSE_NORMAL);
		octo_obj_unref(peer);
		dial_set_status(chan, "CANCEL");
		return OCTO_APP_CONTINUE;
	}
	dial_set_status(chan, "ANSWER");
	{
		uint64_t talk = octo_now_ms();

		rc = octo_bridge_ex(chan, peer, go_on ? OCTO_BRIDGE_KEEP_A : 0);
		dial_set_seconds(chan, "ANSWEREDTIME", octo_now_ms() - talk);
	}
	dial_set_seconds(chan, "DIALEDTIME", octo_now_ms() - start);
	octo_obj_unref(peer);
	if (rc == OCTO_BRIDGE_B_ENDED && go_on) {
		octo_chan_step(chan, "Dial: the callee hung up; going on (option g)");
		return OCTO_APP_CONTINUE;
	}
	if (rc == OCTO_BRIDGE_B_ENDED) {
		octo_chan_step(chan, "Dial: the callee hung up: the call ends");
		return OCTO_APP_HANGUP;
	}
	return OCTO_APP_CONTINUE;   /* the caller hung up: the engine sees it */
}

static const struct octo_app dial_apps[] = {
	{ .name = "Dial",
	  .synopsis = "Ring channels and users; connect the caller with the first to answer",
	  .syntax = "Dial(target[&target...][,timeout[,options]])",
	  .description = dial_description,
	  .exec = dial_exec },
	{ 0 }
};

static int app_dial_load(struct octo_module *self)
{
	return octo_app_register_all(self, dial_apps) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

OCTO_MODULE(app_dial, .description = "The Dial application: calls between channels and users",
	    .load = app_dial_load);
