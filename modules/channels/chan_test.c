/*
 * chan_test.c - the Test channel technology: calls created, fed digits and
 * hung up from the CLI, so an administrator can try a route without a phone
 * and tests can drive the dialplan without a network.
 *
 *   test call <procedure> <number> [<caller>]   a call enters the dialplan
 *   test send digits <id> <digits>              the caller presses keys
 *   test hangup <id> [<cause>]                  that side hangs up
 *   test answer <id>                            an outgoing Test leg answers
 *   test device add|remove <user> <dest>        Test/<dest> is a device of a user
 *   test device show
 *
 * Outgoing Test channels (legs placed by Dial ...) behave as their
 * destination says, WHAT[:SECONDS] (seconds may have decimals, up to 3600):
 *   answer[:S]      rings, answers after S seconds (default at once)
 *   busy[:S]        busy at once, or after ringing S seconds
 *   congestion[:S]  congestion at once, or after ringing S seconds
 *   reject[:S]      declines (CALL_REJECTED) at once or after ringing S seconds
 *   ring, noanswer  rings until cancelled (or `test answer`, `test hangup`)
 *   noanswer:S      rings, then gives up after S seconds (NO_ANSWER)
 *   progress[:S]    early media (progress), answers after S seconds if given
 *   unavailable     the leg cannot be created (the call fails at once)
 * An answered leg stays up until either side hangs up. Each outgoing leg has
 * the variable TEST_DEST (its destination).
 *
 * DESIGN: the delayed outcome of an outgoing leg is a core timer whose data
 * is the leg's pvt. test_lock guards every pvt pointer and the device table;
 * hangup takes the pvt under it, then cancels the timer (which waits for a
 * running callback) before freeing it. Lock order: test_lock -> channel.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/dialplan.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/sched.h"

#define TEST_MAX_DEVICES 64
#define TEST_DEST_MAX 32

/* What an outgoing leg does later, on a timer. */
struct test_leg {
	struct octo_channel *chan;   /* borrowed: the pvt is freed at the leg's hangup */
	uint64_t timer;
	bool fired;
	struct octo_chan_event later;
};

/* A Test device of a user (test device add). */
struct test_device {
	char user[65];
	char dest[TEST_DEST_MAX + 1];
};

static pthread_mutex_t test_lock = PTHREAD_MUTEX_INITIALIZER;
static struct test_device test_devices_tab[TEST_MAX_DEVICES];
static size_t test_device_count;

/* An outgoing destination, parsed. */
struct test_plan {
	struct octo_chan_event now[2];   /* queued by call() */
	int nnow;
	struct octo_chan_event later;    /* type NONE: nothing later */
	unsigned later_ms;
	bool unavailable;
};

/* Parses WHAT[:SECONDS]; false when it is not a Test destination. */
static bool test_parse_dest(const char *dest, struct test_plan *plan)
{
	static const struct octo_chan_event ringing = { .type = OCTO_EV_RINGING };
	char what[TEST_DEST_MAX + 1];
	const char *colon;
	double secs = 0;
	bool timed = false;
	size_t len;

	memset(plan, 0, sizeof(*plan));
	if (!dest || strlen(dest) > TEST_DEST_MAX)
		return false;
	colon = strchr(dest, ':');
	len = colon ? (size_t)(colon - dest) : strlen(dest);
	memcpy(what, dest, len);
	what[len] = '\0';
	if (colon) {
		char *end;

		secs = strtod(colon + 1, &end);
		if (end == colon + 1 || *end || !isfinite(secs) || secs < 0 || secs > 3600)
			return false;
		timed = true;
	}
	plan->later_ms = (unsigned)(secs * 1000.0 + 0.5);
	if (!strcasecmp(what, "answer") || !strcasecmp(what, "progress")) {
		static const struct octo_chan_event progress = { .type = OCTO_EV_PROGRESS };

		plan->now[plan->nnow++] = !strcasecmp(what, "answer") ? ringing : progress;
		if (timed || !strcasecmp(what, "answer"))
			plan->later.type = OCTO_EV_ANSWER;
	} else if (!strcasecmp(what, "busy") || !strcasecmp(what, "congestion") ||
		   !strcasecmp(what, "reject")) {
		struct octo_chan_event ev = { .type = OCTO_EV_BUSY };

		if (!strcasecmp(what, "congestion"))
			ev.type = OCTO_EV_CONGESTION;
		else if (!strcasecmp(what, "reject"))
			ev = (struct octo_chan_event){ .type = OCTO_EV_HANGUP,
						       .cause = OCTO_CAUSE_REJECTED };
		if (timed && plan->later_ms) {
			plan->now[plan->nnow++] = ringing;
			plan->later = ev;
		} else {
			plan->now[plan->nnow++] = ev;
		}
	} else if (!strcasecmp(what, "ring") || !strcasecmp(what, "noanswer")) {
		if (timed && !strcasecmp(what, "ring"))
			return false;
		plan->now[plan->nnow++] = ringing;
		if (timed)
			plan->later = (struct octo_chan_event){ .type = OCTO_EV_HANGUP,
								.cause = OCTO_CAUSE_NO_ANSWER };
	} else if (!strcasecmp(what, "unavailable")) {
		if (timed)
			return false;
		plan->unavailable = true;
	} else {
		return false;
	}
	return true;
}

static unsigned test_timer_cb(void *data)
{
	struct test_leg *leg = data;

	pthread_mutex_lock(&test_lock);
	if (!leg->fired) {
		leg->fired = true;
		octo_chan_queue_event(leg->chan, &leg->later);
	}
	pthread_mutex_unlock(&test_lock);
	return 0;
}

static int test_call_out(struct octo_channel *chan, const char *dest, unsigned timeout_ms)
{
	struct test_plan plan;
	struct test_leg *leg = NULL;
	int rc = 0;

	if (!test_parse_dest(dest, &plan)) {
		octo_chan_step(chan, "Test: \"%.64s\" is not a Test destination (answer[:S], "
			       "busy[:S], congestion[:S], reject[:S], ring, noanswer[:S], "
			       "progress[:S], unavailable)", dest);
		return OCTO_EINVAL;
	}
	if (plan.unavailable) {
		octo_chan_step(chan, "Test: unavailable");
		return OCTO_ENOTFOUND;
	}
	octo_chan_var_set(chan, "TEST_DEST", dest);
	if (plan.later.type != OCTO_EV_NONE && plan.later_ms) {
		leg = calloc(1, sizeof(*leg));
		if (!leg)
			return OCTO_ENOMEM;
		leg->chan = chan;
		leg->later = plan.later;
	}
	pthread_mutex_lock(&test_lock);
	if (octo_chan_is_hungup(chan)) {
		rc = OCTO_EHANGUP;
		goto out;
	}
	octo_chan_set_state(chan, OCTO_CHAN_DIALING);
	for (int i = 0; i < plan.nnow; i++)
		octo_chan_queue_event(chan, &plan.now[i]);
	if (plan.later.type != OCTO_EV_NONE && !leg) {
		octo_chan_queue_event(chan, &plan.later);
	} else if (leg) {
		leg->timer = octo_timer_add(plan.later_ms, test_timer_cb, leg);
		if (!leg->timer) {
			rc = OCTO_EFAIL;
			goto out;
		}
		octo_chan_set_pvt(chan, leg);
		leg = NULL;
	}
out:
	pthread_mutex_unlock(&test_lock);
	free(leg);
	return rc;
}

static int test_answer(struct octo_channel *chan)
{
	octo_chan_step(chan, "Test: answered");
	return 0;
}

static void test_hangup(struct octo_channel *chan, int cause)
{
	struct test_leg *leg;

	/* No network side to tear down; only a pending outcome timer. */
	pthread_mutex_lock(&test_lock);
	leg = octo_chan_pvt(chan);
	octo_chan_set_pvt(chan, NULL);
	pthread_mutex_unlock(&test_lock);
	if (leg) {
		octo_timer_cancel(leg->timer);
		free(leg);
	}
}

static int test_send_digit(struct octo_channel *chan, char digit)
{
	octo_chan_step(chan, "Test: digit %c played to the caller", digit);
	return 0;
}

static int test_indicate(struct octo_channel *chan, enum octo_chan_event_type what)
{
	switch (what) {
	case OCTO_EV_RINGING:
		octo_chan_step(chan, "Test: the caller hears ringing");
		return 0;
	case OCTO_EV_PROGRESS:
		octo_chan_step(chan, "Test: the caller hears early media (progress)");
		return 0;
	case OCTO_EV_BUSY:
		octo_chan_step(chan, "Test: the caller hears the busy tone");
		return 0;
	case OCTO_EV_CONGESTION:
		octo_chan_step(chan, "Test: the caller hears the congestion tone");
		return 0;
	default:
		return OCTO_EINVAL;
	}
}

static int test_devices(const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int max)
{
	int n = 0;

	pthread_mutex_lock(&test_lock);
	for (size_t i = 0; i < test_device_count && n < max; i++)
		if (!strcmp(test_devices_tab[i].user, user))
			octo_strlcpy(dests[n++], test_devices_tab[i].dest, OCTO_CHAN_DEST_MAX);
	pthread_mutex_unlock(&test_lock);
	return n;
}

static const struct octo_chan_tech test_tech = {
	.name = "Test",
	.description = "Calls driven from the CLI, for trying the dialplan",
	.call = test_call_out,
	.answer = test_answer,
	.hangup = test_hangup,
	.send_digit = test_send_digit,
	.indicate = test_indicate,
	.devices = test_devices,
};

static bool test_valid_number(const char *s)
{
	if (!*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || strchr("+*#_-.", *s)))
			return false;
	return true;
}

static int test_cli_call(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_channel *chan;
	const char *caller;

	if (argc != 4 && argc != 5)
		return OCTO_CLI_USAGE;
	caller = argc == 5 ? argv[4] : "test";
	if (!test_valid_number(argv[3]) || !test_valid_number(caller)) {
		octo_cli_error(out, "Numbers may use digits, letters and + * # _ - . (at most 64)");
		return OCTO_CLI_FAIL;
	}
	if (!octo_dialplan_has_procedure(argv[2])) {
		octo_cli_error(out, "No procedure [%s] in the dialplan", argv[2]);
		return OCTO_CLI_FAIL;
	}
	chan = octo_chan_alloc("Test", OCTO_CHAN_RING, "%s", caller);
	if (!chan) {
		octo_cli_error(out, "Cannot create the call (stopping, or the call limit is "
			       "reached)");
		return OCTO_CLI_FAIL;
	}
	octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, caller);
	octo_chan_set(chan, OCTO_CHAN_CALLER_NAME, "Test call");
	octo_chan_set(chan, OCTO_CHAN_DIALED, argv[3]);
	octo_chan_set(chan, OCTO_CHAN_CALLED, argv[3]);
	octo_chan_set(chan, OCTO_CHAN_PROCEDURE, argv[2]);
	octo_cli_kv(out, "id", "%s", octo_chan_id(chan));
	octo_cli_kv(out, "channel", "%s", octo_chan_name(chan));
	if (octo_pbx_start(chan)) {
		octo_chan_hangup(chan, OCTO_CAUSE_FAILURE);
		octo_obj_unref(chan);
		octo_cli_error(out, "Cannot start the call's thread");
		return OCTO_CLI_FAIL;
	}
	octo_obj_unref(chan);
	return OCTO_CLI_OK;
}

static struct octo_channel *test_find(struct octo_cli_out *out, const char *id)
{
	struct octo_channel *chan = octo_chan_find(id);

	if (!chan) {
		octo_cli_error(out, "No active call \"%s\"", id);
		return NULL;
	}
	if (octo_chan_tech(chan) != &test_tech) {
		octo_cli_error(out, "%s is not a Test call", octo_chan_name(chan));
		octo_obj_unref(chan);
		return NULL;
	}
	return chan;
}

static int test_cli_digits(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_channel *chan;

	if (argc != 5)
		return OCTO_CLI_USAGE;
	for (const char *d = argv[4]; *d; d++) {
		if (!strchr("0123456789*#ABCD", *d)) {
			octo_cli_error(out, "'%c' is not a DTMF digit (0-9 * # A-D)", *d);
			return OCTO_CLI_FAIL;
		}
	}
	chan = test_find(out, argv[3]);
	if (!chan)
		return OCTO_CLI_FAIL;
	for (const char *d = argv[4]; *d; d++) {
		struct octo_chan_event ev = { .type = OCTO_EV_DIGIT, .digit = *d };

		octo_chan_queue_event(chan, &ev);
	}
	octo_chan_step(chan, "Test: caller pressed %s", argv[4]);
	octo_cli_printf(out, "Sent %zu digit%s to %s.", strlen(argv[4]),
			strlen(argv[4]) == 1 ? "" : "s", octo_chan_name(chan));
	octo_obj_unref(chan);
	return OCTO_CLI_OK;
}

/* True for an outgoing Test leg (it has TEST_DEST). */
static bool test_is_outgoing(struct octo_channel *chan)
{
	char buf[TEST_DEST_MAX + 1];

	return octo_chan_var_get(chan, "TEST_DEST", buf, sizeof(buf)) != NULL;
}

static int test_cli_hangup(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_channel *chan;
	struct octo_chan_event ev = { .type = OCTO_EV_HANGUP, .cause = OCTO_CAUSE_NORMAL };
	const char *side;

	if (argc != 3 && argc != 4)
		return OCTO_CLI_USAGE;
	if (argc == 4) {
		ev.cause = octo_cause_parse(argv[3]);
		if (ev.cause < 0) {
			octo_cli_error(out, "Unknown cause \"%s\" (a name such as NORMAL_CLEARING, "
				       "USER_BUSY, CALL_REJECTED, or a number 1..127)", argv[3]);
			return OCTO_CLI_FAIL;
		}
	}
	chan = test_find(out, argv[2]);
	if (!chan)
		return OCTO_CLI_FAIL;
	side = test_is_outgoing(chan) ? "called party" : "caller";
	octo_chan_step(chan, "Test: the %s hung up (%s)", side, octo_cause_name(ev.cause));
	octo_chan_queue_event(chan, &ev);
	octo_cli_printf(out, "%s hung up.", octo_chan_name(chan));
	octo_obj_unref(chan);
	return OCTO_CLI_OK;
}

static int test_cli_answer(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_channel *chan;
	struct octo_chan_event ev = { .type = OCTO_EV_ANSWER };

	if (argc != 3)
		return OCTO_CLI_USAGE;
	chan = test_find(out, argv[2]);
	if (!chan)
		return OCTO_CLI_FAIL;
	if (!test_is_outgoing(chan)) {
		octo_cli_error(out, "%s is not an outgoing Test call", octo_chan_name(chan));
		octo_obj_unref(chan);
		return OCTO_CLI_FAIL;
	}
	octo_chan_step(chan, "Test: the called party answers");
	octo_chan_queue_event(chan, &ev);
	octo_cli_printf(out, "%s answers.", octo_chan_name(chan));
	octo_obj_unref(chan);
	return OCTO_CLI_OK;
}

/* Checks `test device add|remove USER DEST`; prints why not. */
static bool test_device_args(struct octo_cli_out *out, const char *user, const char *dest)
{
	struct test_plan plan;

	if (!test_valid_number(user)) {
		octo_cli_error(out, "User numbers may use digits, letters and + * # _ - . (at most "
			       "64)");
		return false;
	}
	if (!test_parse_dest(dest, &plan)) {
		octo_cli_error(out, "\"%s\" is not a Test destination (answer[:S], busy[:S], "
			       "congestion[:S], reject[:S], ring, noanswer[:S], progress[:S], "
			       "unavailable)", dest);
		return false;
	}
	return true;
}

static int test_cli_device_add(struct octo_cli_out *out, int argc, char **argv)
{
	int rc = OCTO_CLI_OK;

	if (argc != 5)
		return OCTO_CLI_USAGE;
	if (!test_device_args(out, argv[3], argv[4]))
		return OCTO_CLI_FAIL;
	pthread_mutex_lock(&test_lock);
	for (size_t i = 0; i < test_device_count; i++) {
		if (!strcmp(test_devices_tab[i].user, argv[3]) &&
		    !strcmp(test_devices_tab[i].dest, argv[4])) {
			octo_cli_error(out, "Test/%s is already a device of %s", argv[4], argv[3]);
			rc = OCTO_CLI_FAIL;
			goto out;
		}
	}
	if (test_device_count == TEST_MAX_DEVICES) {
		octo_cli_error(out, "At most %d Test devices", TEST_MAX_DEVICES);
		rc = OCTO_CLI_FAIL;
		goto out;
	}
	octo_strlcpy(test_devices_tab[test_device_count].user, argv[3],
		     sizeof(test_devices_tab[0].user));
	octo_strlcpy(test_devices_tab[test_device_count].dest, argv[4],
		     sizeof(test_devices_tab[0].dest));
	test_device_count++;
	octo_cli_printf(out, "Test/%s is a device of %s.", argv[4], argv[3]);
out:
	pthread_mutex_unlock(&test_lock);
	return rc;
}

static int test_cli_device_remove(struct octo_cli_out *out, int argc, char **argv)
{
	if (argc != 5)
		return OCTO_CLI_USAGE;
	pthread_mutex_lock(&test_lock);
	for (size_t i = 0; i < test_device_count; i++) {
		if (strcmp(test_devices_tab[i].user, argv[3]) ||
		    strcmp(test_devices_tab[i].dest, argv[4]))
			continue;
		memmove(&test_devices_tab[i], &test_devices_tab[i + 1],
			(test_device_count - i - 1) * sizeof(test_devices_tab[0]));
		test_device_count--;
		pthread_mutex_unlock(&test_lock);
		octo_cli_printf(out, "Test/%s is no longer a device of %s.", argv[4], argv[3]);
		return OCTO_CLI_OK;
	}
	pthread_mutex_unlock(&test_lock);
	octo_cli_error(out, "Test/%.40s is not a device of %.64s (see test device show)", argv[4],
		       argv[3]);
	return OCTO_CLI_FAIL;
}

static int test_cli_device_show(struct octo_cli_out *out, int argc, char **argv)
{
	size_t n;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	octo_cli_columns(out, "user", "device", NULL);
	pthread_mutex_lock(&test_lock);
	n = test_device_count;
	for (size_t i = 0; i < test_device_count; i++) {
		char dev[TEST_DEST_MAX + 8];

		snprintf(dev, sizeof(dev), "Test/%s", test_devices_tab[i].dest);
		octo_cli_row(out, test_devices_tab[i].user, dev, NULL);
	}
	pthread_mutex_unlock(&test_lock);
	octo_cli_kv(out, "devices", "%zu", n);
	return OCTO_CLI_OK;
}

static void test_complete_procs(struct octo_cli_completion *c, int pos, const char *partial)
{
	/* Procedures come from the dialplan; no completion here keeps this module
	 * independent of the dialplan's internals. */
}

static const struct octo_cli_cmd test_cli[] = {
	{ "test call", "Place a Test call into the dialplan",
	  "test call <procedure> <number> [<caller>]", test_cli_call, test_complete_procs },
	{ "test send digits", "Press keys on a Test call", "test send digits <id> <digits>",
	  test_cli_digits, NULL },
	{ "test hangup", "Hang up a Test call (the caller, or the called party of a leg)",
	  "test hangup <id> [<cause>]", test_cli_hangup, NULL },
	{ "test answer", "Answer an outgoing Test leg that rings", "test answer <id>",
	  test_cli_answer, NULL },
	{ "test device add", "Make Test/<dest> a device of a user (rung by Dial(<user>))",
	  "test device add <user> <dest>", test_cli_device_add, NULL },
	{ "test device remove", "Remove a Test device of a user",
	  "test device remove <user> <dest>", test_cli_device_remove, NULL },
	{ "test device show", "List the Test devices of users", NULL, test_cli_device_show,
	  NULL },
	{ 0 }
};

static int chan_test_load(struct octo_module *self)
{
	if (octo_chan_tech_register(self, &test_tech))
		return OCTO_LOAD_FAIL;
	if (octo_cli_register_all(self, test_cli))
		return OCTO_LOAD_FAIL;
	return OCTO_LOAD_OK;
}

OCTO_MODULE(chan_test, .description = "Test calls driven from the CLI", .load = chan_test_load);
