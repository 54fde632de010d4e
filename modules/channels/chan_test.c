/*
 * chan_test.c - the Test channel technology: calls created, fed digits and
 * hung up from the CLI, so an administrator can try a route without a phone
 * and tests can drive the dialplan without a network.
 *
 *   test call <procedure> <number> [<caller>]   a call enters the dialplan
 *   test send digits <id> <digits>              the caller presses keys
 *   test hangup <id>                            the caller hangs up
 *
 * Outgoing Test channels (for applications that place calls) behave as
 * their destination says: "answer", "busy", "congestion", "noanswer", or
 * "ring" (rings until cancelled).
 */
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

static int test_call_out(struct octo_channel *chan, const char *dest, unsigned timeout_ms)
{
	struct octo_chan_event ev = { 0 };

	if (!strcasecmp(dest, "answer"))
		ev.type = OCTO_EV_ANSWER;
	else if (!strcasecmp(dest, "busy"))
		ev.type = OCTO_EV_BUSY;
	else if (!strcasecmp(dest, "congestion"))
		ev.type = OCTO_EV_CONGESTION;
	else if (!strcasecmp(dest, "noanswer") || !strcasecmp(dest, "ring"))
		ev.type = OCTO_EV_RINGING;
	else
		return OCTO_EINVAL;
	octo_chan_set_state(chan, OCTO_CHAN_DIALING);
	octo_chan_queue_event(chan, &ev);
	return 0;
}

static int test_answer(struct octo_channel *chan)
{
	octo_chan_step(chan, "Test: answered");
	return 0;
}

static void test_hangup(struct octo_channel *chan, int cause)
{
	/* Nothing to tear down: a Test channel has no network side. */
}

static int test_send_digit(struct octo_channel *chan, char digit)
{
	octo_chan_step(chan, "Test: digit %c played to the caller", digit);
	return 0;
}

static const struct octo_chan_tech test_tech = {
	.name = "Test",
	.description = "Calls driven from the CLI, for trying the dialplan",
	.call = test_call_out,
	.answer = test_answer,
	.hangup = test_hangup,
	.send_digit = test_send_digit,
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

static int test_cli_hangup(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_channel *chan;
	struct octo_chan_event ev = { .type = OCTO_EV_HANGUP, .cause = OCTO_CAUSE_NORMAL };

	if (argc != 3)
		return OCTO_CLI_USAGE;
	chan = test_find(out, argv[2]);
	if (!chan)
		return OCTO_CLI_FAIL;
	octo_chan_step(chan, "Test: caller hung up");
	octo_chan_queue_event(chan, &ev);
	octo_cli_printf(out, "%s hung up.", octo_chan_name(chan));
	octo_obj_unref(chan);
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
	{ "test hangup", "Hang up a Test call as its caller", "test hangup <id>",
	  test_cli_hangup, NULL },
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
