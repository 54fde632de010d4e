/*
 * test_bridge.c - outgoing legs (octo_chan_request), wait sets, dial sets
 * ("ring all, first answer wins", busy/no answer/cancel outcomes) and
 * bridges (digits and hold across, hang-up of the other side, native bridge
 * calls), transfers (octo_chan_redirect, octo_bridge_join) on real call
 * threads running a small dialplan, driven by a fake channel technology
 * whose events come from other threads.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "octo/bridge.h"
#include "octo/channel.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "../../core/internal.h"
#include "octo_test.h"

/* ---------------------------------------------------------------- the fake technology */

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static char fake_log[4096];            /* what the tech was asked to do */
static atomic_int fake_native_starts, fake_native_stops;
static int fake_native_rc;

/* Appends "what name[ c];" to the log. */
static void fake_note(const char *what, const char *name, char c)
{
	char line[160];

	snprintf(line, sizeof(line), c ? "%s %s %c" : "%s %s", what, name, c);
	pthread_mutex_lock(&fake_lock);
	if (strlen(fake_log) + strlen(line) + 2 < sizeof(fake_log)) {
		strcat(fake_log, line);
		strcat(fake_log, ";");
	}
	pthread_mutex_unlock(&fake_lock);
}

static void fake_log_copy(char *buf, size_t size)
{
	pthread_mutex_lock(&fake_lock);
	octo_strlcpy(buf, fake_log, size);
	fake_log[0] = '\0';
	pthread_mutex_unlock(&fake_lock);
}

static void fake_queue(struct octo_channel *chan, enum octo_chan_event_type type, int cause)
{
	struct octo_chan_event ev = { .type = type, .cause = cause };

	octo_chan_queue_event(chan, &ev);
}

/* dest: "answer", "ring", "busy", "congestion", "fail", "hangup17" */
static int fake_call(struct octo_channel *chan, const char *dest, unsigned timeout_ms)
{
	if (!strcmp(dest, "fail"))
		return OCTO_ENOTFOUND;
	if (!strcmp(dest, "ring") || !strcmp(dest, "answer"))
		fake_queue(chan, OCTO_EV_RINGING, 0);
	if (!strcmp(dest, "answer"))
		fake_queue(chan, OCTO_EV_ANSWER, 0);
	else if (!strcmp(dest, "busy"))
		fake_queue(chan, OCTO_EV_BUSY, 0);
	else if (!strcmp(dest, "congestion"))
		fake_queue(chan, OCTO_EV_CONGESTION, 0);
	else if (!strncmp(dest, "hangup", 6))
		fake_queue(chan, OCTO_EV_HANGUP, atoi(dest + 6));
	return 0;
}

static void fake_hangup(struct octo_channel *chan, int cause)
{
	fake_note("hangup", octo_chan_name(chan), 0);
}

static int fake_send_digit(struct octo_channel *chan, char digit)
{
	fake_note("digit", octo_chan_name(chan), digit);
	return 0;
}

static int fake_indicate(struct octo_channel *chan, enum octo_chan_event_type what)
{
	fake_note(what == OCTO_EV_RINGING    ? "ringing"
		  : what == OCTO_EV_PROGRESS ? "progress"
		  : what == OCTO_EV_HOLD     ? "hold"
		  : what == OCTO_EV_UNHOLD   ? "unhold"
					     : "indicate",
		  octo_chan_name(chan), 0);
	return 0;
}

static int fake_native(struct octo_channel *a, struct octo_channel *b, bool start)
{
	atomic_fetch_add(start ? &fake_native_starts : &fake_native_stops, 1);
	return start ? fake_native_rc : 0;
}

static const struct octo_chan_tech fake_tech = {
	.name = "Fake",
	.call = fake_call,
	.hangup = fake_hangup,
	.send_digit = fake_send_digit,
	.indicate = fake_indicate,
	.native_bridge = fake_native,
};

/* A technology that cannot place calls. */
static const struct octo_chan_tech incoming_tech = {
	.name = "InOnly",
	.hangup = fake_hangup,
};

static void setup(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	octo_registry_init();
	octo_chan_init();
	octo_chan_tech_register(NULL, &fake_tech);
	octo_chan_tech_register(NULL, &incoming_tech);
}

/* An incoming caller channel, as a technology would make it. */
static struct octo_channel *caller_alloc(const char *number)
{
	struct octo_channel *chan = octo_chan_alloc("Fake", OCTO_CHAN_RING, "%s", number);

	octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, number);
	octo_chan_set(chan, OCTO_CHAN_CALLER_NAME, "Alice");
	return chan;
}

/* Events queued later from another thread. */
struct later {
	struct octo_channel *chan;
	unsigned ms;
	struct octo_chan_event ev;
	pthread_t tid;
};

static void *later_thread(void *arg)
{
	struct later *l = arg;

	usleep(l->ms * 1000);
	octo_chan_queue_event(l->chan, &l->ev);
	return NULL;
}

static void later_start(struct later *l, struct octo_channel *chan, unsigned ms,
			enum octo_chan_event_type type, int cause, char digit)
{
	l->chan = octo_obj_ref(chan);
	l->ms = ms;
	l->ev = (struct octo_chan_event){ .type = type, .cause = cause, .digit = digit };
	pthread_create(&l->tid, NULL, later_thread, l);
}

static void later_join(struct later *l)
{
	pthread_join(l->tid, NULL);
	octo_obj_unref(l->chan);
}

static const char *var(struct octo_channel *chan, const char *name)
{
	static char buf[4][128];
	static int next;
	char *b = buf[next++ % 4];

	return octo_chan_var_get(chan, name, b, sizeof(buf[0])) ? b : "(unset)";
}

static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* ---------------------------------------------------------------- tests */

OCTO_TEST(request_copies_caller_and_linkedid)
{
	struct octo_channel *caller, *leg;
	char buf[64];
	int cause = 0;

	setup();
	caller = caller_alloc("100");
	leg = octo_chan_request("Fake", "ring", caller, 5000, &cause);
	OCTO_CHECK(leg != NULL);
	OCTO_CHECK_STR_EQ(octo_chan_copy(leg, OCTO_CHAN_CALLER_NUM, buf, sizeof(buf)), "100");
	OCTO_CHECK_STR_EQ(octo_chan_copy(leg, OCTO_CHAN_CALLER_NAME, buf, sizeof(buf)), "Alice");
	OCTO_CHECK_STR_EQ(octo_chan_copy(leg, OCTO_CHAN_CALLED, buf, sizeof(buf)), "ring");
	OCTO_CHECK_STR_EQ(var(leg, "LINKEDID"), octo_chan_id(caller));
	OCTO_CHECK_INT_EQ(octo_chan_state(leg), OCTO_CHAN_DIALING);
	OCTO_CHECK(!strncmp(octo_chan_name(leg), "Fake/ring-", 10));
	octo_chan_hangup(leg, OCTO_CAUSE_NORMAL);
	octo_obj_unref(leg);

	/* A LINKEDID already on the requestor is carried on. */
	octo_chan_var_set(caller, "LINKEDID", "1234.5");
	leg = octo_chan_request("Fake", "sip:200@10.0.0.1;transport=udp", caller, 0, NULL);
	OCTO_CHECK_STR_EQ(var(leg, "LINKEDID"), "1234.5");
	OCTO_CHECK(!strncmp(octo_chan_name(leg), "Fake/200-", 9));
	octo_chan_hangup(leg, OCTO_CAUSE_NORMAL);
	octo_obj_unref(leg);
	octo_chan_hangup(caller, OCTO_CAUSE_NORMAL);
	octo_obj_unref(caller);
}

OCTO_TEST(request_failures_give_a_cause)
{
	int cause = 0;
	unsigned before = octo_chan_count();
	char longdest[400];

	setup();
	OCTO_CHECK(octo_chan_request("Nosuch", "100", NULL, 0, &cause) == NULL);
	OCTO_CHECK_INT_EQ(cause, OCTO_CAUSE_UNAVAILABLE);
	cause = 0;
	OCTO_CHECK(octo_chan_request("InOnly", "100", NULL, 0, &cause) == NULL);
	OCTO_CHECK_INT_EQ(cause, OCTO_CAUSE_UNAVAILABLE);
	cause = 0;
	OCTO_CHECK(octo_chan_request("Fake", "fail", NULL, 0, &cause) == NULL);
	OCTO_CHECK_INT_EQ(cause, OCTO_CAUSE_UNAVAILABLE);
	OCTO_CHECK(octo_chan_request("Fake", "a b", NULL, 0, &cause) == NULL);
	OCTO_CHECK(octo_chan_request("Fake", "", NULL, 0, &cause) == NULL);
	OCTO_CHECK(octo_chan_request(NULL, "x", NULL, 0, &cause) == NULL);
	memset(longdest, 'x', sizeof(longdest) - 1);
	longdest[sizeof(longdest) - 1] = '\0';
	OCTO_CHECK(octo_chan_request("Fake", longdest, NULL, 0, &cause) == NULL);
	OCTO_CHECK_INT_EQ(octo_chan_count(), before);
}

OCTO_TEST(waitset_wakes_on_events_from_other_threads)
{
	struct octo_channel *a = caller_alloc("1"), *b = caller_alloc("2"), *got = NULL;
	struct octo_waitset *ws = octo_waitset_alloc();
	struct octo_chan_event ev;
	struct later l;

	OCTO_CHECK_INT_EQ(octo_waitset_add(ws, a), 0);
	OCTO_CHECK_INT_EQ(octo_waitset_add(ws, b), 0);
	OCTO_CHECK_INT_EQ(octo_waitset_add(ws, b), OCTO_EEXIST);
	OCTO_CHECK_INT_EQ(octo_waitset_count(ws), 2);
	OCTO_CHECK_INT_EQ(octo_waitset_wait(ws, 0, &got, &ev), 0);
	OCTO_CHECK_INT_EQ(octo_waitset_wait(ws, 30, &got, &ev), 0);
	later_start(&l, b, 50, OCTO_EV_DIGIT, 0, '7');
	OCTO_CHECK_INT_EQ(octo_waitset_wait(ws, 5000, &got, &ev), 1);
	OCTO_CHECK(got == b);
	OCTO_CHECK_INT_EQ(ev.type, OCTO_EV_DIGIT);
	OCTO_CHECK_INT_EQ(ev.digit, '7');
	later_join(&l);
	/* A hang-up: first the HANGUP event, then OCTO_EHANGUP until removed. */
	later_start(&l, a, 20, OCTO_EV_HANGUP, OCTO_CAUSE_BUSY, 0);
	OCTO_CHECK_INT_EQ(octo_waitset_wait(ws, -1, &got, &ev), 1);
	OCTO_CHECK(got == a && ev.type == OCTO_EV_HANGUP && ev.cause == OCTO_CAUSE_BUSY);
	later_join(&l);
	OCTO_CHECK_INT_EQ(octo_waitset_wait(ws, 0, &got, &ev), OCTO_EHANGUP);
	OCTO_CHECK(got == a);
	OCTO_CHECK_INT_EQ(octo_waitset_remove(ws, a), 0);
	OCTO_CHECK_INT_EQ(octo_waitset_remove(ws, a), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(octo_waitset_wait(ws, 0, &got, &ev), 0);
	octo_waitset_free(ws);
	octo_chan_hangup(a, OCTO_CAUSE_NORMAL);
	octo_chan_hangup(b, OCTO_CAUSE_NORMAL);
	octo_obj_unref(a);
	octo_obj_unref(b);
}

OCTO_TEST(events_queue_in_order_up_to_the_bound)
{
	struct octo_channel *a;
	struct octo_chan_event ev;

	setup();
	a = caller_alloc("1");
	/* more than the channel keeps inline: the queue grows, the order holds,
	 * also after it wrapped around */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 100; i++) {
			ev = (struct octo_chan_event){ .type = OCTO_EV_DIGIT, .digit = (char)('0' + i % 10) };
			octo_chan_queue_event(a, &ev);
		}
		for (int i = 0; i < 100; i++) {
			OCTO_CHECK_INT_EQ(octo_chan_wait_event(a, 0, &ev), 1);
			OCTO_CHECK_INT_EQ(ev.digit, '0' + i % 10);
		}
		OCTO_CHECK_INT_EQ(octo_chan_wait_event(a, 0, &ev), 0);
	}
	/* 128 at most: the rest is dropped (with a warning) */
	for (int i = 0; i < 200; i++) {
		ev = (struct octo_chan_event){ .type = OCTO_EV_DIGIT, .digit = '5' };
		octo_chan_queue_event(a, &ev);
	}
	for (int i = 0; i < 128; i++)
		OCTO_CHECK_INT_EQ(octo_chan_wait_event(a, 0, &ev), 1);
	OCTO_CHECK_INT_EQ(octo_chan_wait_event(a, 0, &ev), 0);
	octo_chan_hangup(a, OCTO_CAUSE_NORMAL);
	octo_obj_unref(a);
}

OCTO_TEST(watchers_are_bounded)
{
	struct octo_channel *a = caller_alloc("1");
	struct octo_waitset *ws[OCTO_CHAN_MAX_WATCH + 1];

	for (int i = 0; i <= OCTO_CHAN_MAX_WATCH; i++)
		ws[i] = octo_waitset_alloc();
	for (int i = 0; i < OCTO_CHAN_MAX_WATCH; i++)
		OCTO_CHECK_INT_EQ(octo_waitset_add(ws[i], a), 0);
	OCTO_CHECK_INT_EQ(octo_waitset_add(ws[OCTO_CHAN_MAX_WATCH], a), OCTO_EBUSY);
	for (int i = 0; i <= OCTO_CHAN_MAX_WATCH; i++)
		octo_waitset_free(ws[i]);
	octo_chan_hangup(a, OCTO_CAUSE_NORMAL);
	octo_obj_unref(a);
}

OCTO_TEST(dial_first_answer_wins_and_others_are_cancelled)
{
	struct octo_channel *caller = caller_alloc("100"), *peer = NULL, *ring2;
	struct octo_dial *d = octo_dial_alloc(caller);
	char log[4096], expect[160];
	struct later l;

	fake_log_copy(log, sizeof(log));
	OCTO_CHECK_INT_EQ(octo_dial_add(d, "Fake", "ring", 0), 0);
	OCTO_CHECK_INT_EQ(octo_dial_add(d, "Fake", "ring", 0), 1);
	OCTO_CHECK_INT_EQ(octo_dial_add(d, "Nosuch", "x", 0), 2);
	OCTO_CHECK(octo_dial_leg(d, 2) == NULL);
	OCTO_CHECK_INT_EQ(octo_dial_leg_status(d, 2), OCTO_DIAL_CHANUNAVAIL);
	ring2 = octo_dial_leg(d, 1);
	later_start(&l, ring2, 50, OCTO_EV_ANSWER, 0, 0);
	OCTO_CHECK_INT_EQ(octo_dial_run(d, 5000, &peer), OCTO_DIAL_ANSWER);
	later_join(&l);
	OCTO_CHECK(peer == ring2);
	OCTO_CHECK_INT_EQ(octo_chan_state(peer), OCTO_CHAN_UP);
	OCTO_CHECK_INT_EQ(octo_dial_leg_status(d, 0), OCTO_DIAL_CANCEL);
	OCTO_CHECK(octo_chan_is_hungup(octo_dial_leg(d, 0)));
	OCTO_CHECK_STR_EQ(var(octo_dial_leg(d, 0), "ANSWERED_ELSEWHERE"), "1");
	OCTO_CHECK(!octo_chan_is_hungup(peer));
	fake_log_copy(log, sizeof(log));
	/* The caller was told once that it rings; the loser was hung up. */
	snprintf(expect, sizeof(expect), "ringing %s;", octo_chan_name(caller));
	OCTO_CHECK_INT_EQ(count_of(log, expect), 1);
	snprintf(expect, sizeof(expect), "hangup %s;", octo_chan_name(octo_dial_leg(d, 0)));
	OCTO_CHECK_CONTAINS(log, expect);
	octo_dial_free(d);
	OCTO_CHECK(!octo_chan_is_hungup(peer));
	octo_chan_hangup(peer, OCTO_CAUSE_NORMAL);
	octo_obj_unref(peer);
	octo_chan_hangup(caller, OCTO_CAUSE_NORMAL);
	octo_obj_unref(caller);
}

OCTO_TEST(dial_outcomes_when_every_leg_fails)
{
	static const struct {
		const char *dests[3];
		enum octo_dial_status want;
	} cases[] = {
		{ { "busy", "congestion", "fail" }, OCTO_DIAL_BUSY },
		{ { "congestion", "fail", NULL }, OCTO_DIAL_CONGESTION },
		{ { "hangup21", "congestion", NULL }, OCTO_DIAL_REJECTED },
		{ { "hangup19", "fail", NULL }, OCTO_DIAL_NOANSWER },
		{ { "fail", "hangup1", NULL }, OCTO_DIAL_CHANUNAVAIL },
		{ { NULL }, OCTO_DIAL_CHANUNAVAIL },
	};

	for (size_t i = 0; i < OCTO_ARRAY_LEN(cases); i++) {
		struct octo_channel *caller = caller_alloc("100"), *peer = (void *)1;
		struct octo_dial *d = octo_dial_alloc(caller);

		for (int k = 0; k < 3 && cases[i].dests[k]; k++)
			octo_dial_add(d, "Fake", cases[i].dests[k], 0);
		OCTO_CHECK_STR_EQ(octo_dial_status_name(octo_dial_run(d, 0, &peer)),
				  octo_dial_status_name(cases[i].want));
		OCTO_CHECK(peer == NULL);
		octo_dial_free(d);
		octo_chan_hangup(caller, OCTO_CAUSE_NORMAL);
		octo_obj_unref(caller);
	}
}

OCTO_TEST(dial_timeout_and_cancel)
{
	struct octo_channel *caller = caller_alloc("100"), *peer = NULL, *leg;
	struct octo_dial *d = octo_dial_alloc(caller);
	struct later l;
	uint64_t t0 = octo_now_ms();

	octo_dial_add(d, "Fake", "ring", 0);
	leg = octo_obj_ref(octo_dial_leg(d, 0));
	OCTO_CHECK_INT_EQ(octo_dial_run(d, 150, &peer), OCTO_DIAL_NOANSWER);
	OCTO_CHECK(octo_now_ms() - t0 >= 150);
	OCTO_CHECK(octo_chan_is_hungup(leg));
	OCTO_CHECK_INT_EQ(octo_chan_hangup_cause(leg), OCTO_CAUSE_NO_ANSWER);
	/* run is once per dial set */
	OCTO_CHECK_INT_EQ(octo_dial_run(d, 150, &peer), OCTO_DIAL_CHANUNAVAIL);
	OCTO_CHECK_INT_EQ(octo_dial_add(d, "Fake", "ring", 0), OCTO_EINVAL);
	octo_dial_free(d);
	octo_obj_unref(leg);

	d = octo_dial_alloc(caller);
	octo_dial_add(d, "Fake", "ring", 0);
	octo_dial_add_failed(d, "user 200", OCTO_DIAL_BUSY);
	leg = octo_obj_ref(octo_dial_leg(d, 0));
	later_start(&l, caller, 50, OCTO_EV_HANGUP, OCTO_CAUSE_NORMAL, 0);
	OCTO_CHECK_INT_EQ(octo_dial_run(d, 0, &peer), OCTO_DIAL_CANCEL);
	later_join(&l);
	OCTO_CHECK(octo_chan_is_hungup(leg));
	OCTO_CHECK_INT_EQ(octo_chan_hangup_cause(leg), OCTO_CAUSE_NORMAL);
	octo_dial_free(d);
	octo_obj_unref(leg);
	octo_chan_hangup(caller, OCTO_CAUSE_NORMAL);
	octo_obj_unref(caller);
}

OCTO_TEST(dial_status_names_and_causes)
{
	OCTO_CHECK_STR_EQ(octo_dial_status_name(OCTO_DIAL_CHANUNAVAIL), "CHANUNAVAIL");
	OCTO_CHECK_STR_EQ(octo_dial_status_name(OCTO_DIAL_NOANSWER), "NOANSWER");
	OCTO_CHECK_STR_EQ(octo_dial_status_name((enum octo_dial_status)99), "CHANUNAVAIL");
	OCTO_CHECK_INT_EQ(octo_dial_status_from_cause(OCTO_CAUSE_BUSY), OCTO_DIAL_BUSY);
	OCTO_CHECK_INT_EQ(octo_dial_status_from_cause(OCTO_CAUSE_FAILURE), OCTO_DIAL_CONGESTION);
	OCTO_CHECK_INT_EQ(octo_dial_status_from_cause(OCTO_CAUSE_UNALLOCATED),
			  OCTO_DIAL_CHANUNAVAIL);
	OCTO_CHECK_INT_EQ(octo_dial_status_cause(OCTO_DIAL_NOANSWER), OCTO_CAUSE_NO_ANSWER);
	OCTO_CHECK_INT_EQ(octo_dial_status_cause(OCTO_DIAL_REJECTED), OCTO_CAUSE_REJECTED);
}

/* Answers a leg for a bridge test. */
static struct octo_channel *answered_leg(struct octo_channel *caller)
{
	struct octo_channel *leg = octo_chan_request("Fake", "x", caller, 0, NULL);

	octo_chan_set_state(leg, OCTO_CHAN_UP);
	return leg;
}

OCTO_TEST(bridge_passes_digits_and_hangs_up_the_other_side)
{
	struct octo_channel *a = caller_alloc("100"), *b = answered_leg(a);
	struct later l1, l2, l3;
	char log[4096], expect[200];

	fake_log_copy(log, sizeof(log));
	atomic_store(&fake_native_starts, 0);
	atomic_store(&fake_native_stops, 0);
	later_start(&l1, a, 20, OCTO_EV_DIGIT, 0, '5');
	later_start(&l2, b, 40, OCTO_EV_DIGIT, 0, '#');
	later_start(&l3, b, 120, OCTO_EV_HANGUP, OCTO_CAUSE_BUSY, 0);
	OCTO_CHECK_INT_EQ(octo_bridge(a, b), OCTO_BRIDGE_B_ENDED);
	later_join(&l1);
	later_join(&l2);
	later_join(&l3);
	OCTO_CHECK_INT_EQ(atomic_load(&fake_native_starts), 1);
	OCTO_CHECK_INT_EQ(atomic_load(&fake_native_stops), 1);
	OCTO_CHECK(octo_chan_is_hungup(a));
	OCTO_CHECK_INT_EQ(octo_chan_hangup_cause(a), OCTO_CAUSE_BUSY);
	OCTO_CHECK_STR_EQ(var(a, "BRIDGEPEER"), octo_chan_name(b));
	OCTO_CHECK_STR_EQ(var(b, "BRIDGEPEER"), octo_chan_name(a));
	OCTO_CHECK_STR_EQ(var(a, "HANGUPSIDE"), "callee");
	OCTO_CHECK_STR_EQ(var(b, "HANGUPSIDE"), "callee");
	fake_log_copy(log, sizeof(log));
	snprintf(expect, sizeof(expect), "digit %s 5;", octo_chan_name(b));
	OCTO_CHECK_CONTAINS(log, expect);
	snprintf(expect, sizeof(expect), "digit %s #;", octo_chan_name(a));
	OCTO_CHECK_CONTAINS(log, expect);
	octo_obj_unref(a);
	octo_obj_unref(b);
}

OCTO_TEST(bridge_caller_hangup_and_keep_a)
{
	struct octo_channel *a = caller_alloc("100"), *b = answered_leg(a);
	struct later l;

	fake_native_rc = OCTO_EINVAL;   /* the native bridge refuses: no stop call */
	atomic_store(&fake_native_starts, 0);
	atomic_store(&fake_native_stops, 0);
	later_start(&l, a, 30, OCTO_EV_HANGUP, OCTO_CAUSE_NORMAL, 0);
	OCTO_CHECK_INT_EQ(octo_bridge(a, b), OCTO_BRIDGE_A_ENDED);
	later_join(&l);
	OCTO_CHECK_INT_EQ(atomic_load(&fake_native_starts), 1);
	OCTO_CHECK_INT_EQ(atomic_load(&fake_native_stops), 0);
	OCTO_CHECK(octo_chan_is_hungup(b));
	OCTO_CHECK_STR_EQ(var(b, "HANGUPSIDE"), "caller");
	octo_obj_unref(a);
	octo_obj_unref(b);
	fake_native_rc = 0;

	a = caller_alloc("100");
	b = answered_leg(a);
	later_start(&l, b, 30, OCTO_EV_HANGUP, OCTO_CAUSE_NORMAL, 0);
	OCTO_CHECK_INT_EQ(octo_bridge_ex(a, b, OCTO_BRIDGE_KEEP_A), OCTO_BRIDGE_B_ENDED);
	later_join(&l);
	OCTO_CHECK(!octo_chan_is_hungup(a));
	OCTO_CHECK(octo_chan_is_hungup(b));
	OCTO_CHECK_STR_EQ(var(a, "HANGUPSIDE"), "(unset)");
	OCTO_CHECK_INT_EQ(octo_bridge(a, a), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_bridge(NULL, a), OCTO_EINVAL);
	octo_chan_hangup(a, OCTO_CAUSE_NORMAL);
	octo_obj_unref(a);
	octo_obj_unref(b);
}

/* One call thread: rings three legs, one answers from another thread, the
 * bridge ends when the callee hangs up. */
static atomic_int parallel_ok;

static void *parallel_call(void *arg)
{
	struct octo_channel *caller = caller_alloc("300"), *peer = NULL;
	struct octo_dial *d = octo_dial_alloc(caller);
	struct later answer, bye;
	unsigned pick = (unsigned)(uintptr_t)arg % 3;

	for (int i = 0; i < 3; i++)
		octo_dial_add(d, "Fake", "ring", 0);
	later_start(&answer, octo_dial_leg(d, pick), 5 + pick * 3, OCTO_EV_ANSWER, 0, 0);
	if (octo_dial_run(d, 5000, &peer) == OCTO_DIAL_ANSWER && peer == octo_dial_leg(d, pick)) {
		later_start(&bye, peer, 5, OCTO_EV_HANGUP, OCTO_CAUSE_NORMAL, 0);
		if (octo_bridge(caller, peer) == OCTO_BRIDGE_B_ENDED)
			atomic_fetch_add(&parallel_ok, 1);
		later_join(&bye);
	}
	later_join(&answer);
	octo_dial_free(d);
	if (peer) {
		octo_chan_hangup(peer, OCTO_CAUSE_NORMAL);
		octo_obj_unref(peer);
	}
	octo_chan_hangup(caller, OCTO_CAUSE_NORMAL);
	octo_obj_unref(caller);
	return NULL;
}

OCTO_TEST(many_dials_in_parallel)
{
	enum { N = 12 };
	pthread_t tids[N];

	atomic_store(&parallel_ok, 0);
	for (uintptr_t i = 0; i < N; i++)
		pthread_create(&tids[i], NULL, parallel_call, (void *)i);
	for (int i = 0; i < N; i++)
		pthread_join(tids[i], NULL);
	OCTO_CHECK_INT_EQ(atomic_load(&parallel_ok), N);
}

/* ---------------------------------------------------------------- hold across a bridge */

OCTO_TEST(bridge_passes_hold_and_takes_it_back_for_keep_a)
{
	struct octo_channel *a = caller_alloc("100"), *b = answered_leg(a);
	struct later l1, l2, l3, l4;
	char log[4096], expect[200];

	fake_log_copy(log, sizeof(log));
	later_start(&l1, a, 20, OCTO_EV_HOLD, 0, 0);
	later_start(&l2, a, 40, OCTO_EV_UNHOLD, 0, 0);
	later_start(&l3, b, 60, OCTO_EV_HOLD, 0, 0);
	later_start(&l4, b, 120, OCTO_EV_HANGUP, OCTO_CAUSE_NORMAL, 0);
	OCTO_CHECK_INT_EQ(octo_bridge_ex(a, b, OCTO_BRIDGE_KEEP_A), OCTO_BRIDGE_B_ENDED);
	later_join(&l1);
	later_join(&l2);
	later_join(&l3);
	later_join(&l4);
	fake_log_copy(log, sizeof(log));
	/* a's hold and resume reach b; b's hold reaches a, and is taken back
	 * when b hangs up while a stays up */
	snprintf(expect, sizeof(expect), "hold %s;unhold %s;hold %s;", octo_chan_name(b),
		 octo_chan_name(b), octo_chan_name(a));
	OCTO_CHECK_CONTAINS(log, expect);
	snprintf(expect, sizeof(expect), "unhold %s;", octo_chan_name(a));
	OCTO_CHECK_CONTAINS(log, expect);
	OCTO_CHECK(!octo_chan_is_hungup(a));
	octo_chan_hangup(a, OCTO_CAUSE_NORMAL);
	octo_obj_unref(a);
	octo_obj_unref(b);
}

/* ---------------------------------------------------------------- transfers
 * Calls run a small dialplan on real call threads: [t] 1 bridges the caller
 * with a new Fake leg (like Dial), 2 and 3 mark that they were reached. */

static char plan_dir[256];
static struct octo_channel *xdial_legs[8];   /* the leg of each XDial(slot) */
static atomic_int xdial_rc[8];

static int xdial_exec(struct octo_channel *chan, char *args)
{
	int slot = atoi(args) & 7, rc;
	struct octo_channel *leg = answered_leg(chan);

	pthread_mutex_lock(&fake_lock);
	xdial_legs[slot] = octo_obj_ref(leg);
	pthread_mutex_unlock(&fake_lock);
	rc = octo_bridge(chan, leg);
	atomic_store(&xdial_rc[slot], rc);
	octo_obj_unref(leg);
	return rc == OCTO_BRIDGE_B_ENDED ? OCTO_APP_HANGUP : OCTO_APP_CONTINUE;
}

static int xmark_exec(struct octo_channel *chan, char *args)
{
	char what[64];

	snprintf(what, sizeof(what), "mark %s", args);
	fake_note(what, octo_chan_name(chan), 0);
	return OCTO_APP_CONTINUE;
}

static const struct octo_app test_apps[] = {
	{ .name = "XDial", .exec = xdial_exec },
	{ .name = "XMark", .exec = xmark_exec },
	{ 0 }
};

static void plan_setup(void)
{
	struct octo_diags diags = { 0 };
	char path[512];
	FILE *fp;

	if (plan_dir[0])
		return;
	snprintf(plan_dir, sizeof(plan_dir), "/tmp/octo-test-bridge-%ld", (long)getpid());
	mkdir(plan_dir, 0700);
	octo_paths.config_dir = plan_dir;
	snprintf(path, sizeof(path), "%s/dialplan.conf", plan_dir);
	fp = fopen(path, "w");
	fputs("[t]\n"
	      "exten => X,1,XDial(${CALLED})\n"
	      "same => n,XMark(after-dial)\n"
	      "exten => 20,1,XMark(twenty)\n"
	      "exten => 30,1,XMark(thirty)\n",
	      fp);
	fclose(fp);
	octo_dialplan_init();
	OCTO_CHECK_INT_EQ(octo_dialplan_reload(&diags), 0);
	octo_diags_free(&diags);
	OCTO_CHECK_INT_EQ(octo_app_register_all(NULL, test_apps), 0);
}

/* A caller that runs [t] `slot` (XDial bridging it with a new Fake leg);
 * returns once the bridge is up, with *leg set (new references). */
static struct octo_channel *call_in(int slot, const char *number, struct octo_channel **leg)
{
	struct octo_channel *chan = caller_alloc(number);
	char called[8];

	plan_setup();
	pthread_mutex_lock(&fake_lock);
	octo_obj_unref(xdial_legs[slot]);
	xdial_legs[slot] = NULL;
	pthread_mutex_unlock(&fake_lock);
	atomic_store(&xdial_rc[slot], 0);
	snprintf(called, sizeof(called), "%d", slot);
	octo_chan_set(chan, OCTO_CHAN_PROCEDURE, "t");
	octo_chan_set(chan, OCTO_CHAN_CALLED, called);
	OCTO_CHECK_INT_EQ(octo_pbx_start(chan), 0);
	*leg = NULL;
	for (int i = 0; i < 400 && !*leg; i++) {
		struct octo_channel *peer = octo_bridge_peer(chan);

		if (peer) {
			*leg = peer;
			break;
		}
		usleep(5000);
	}
	OCTO_CHECK(*leg != NULL);
	return chan;
}

/* Waits up to 2 s for the bridge peer of `chan` to be `want`. */
static bool peer_becomes(struct octo_channel *chan, struct octo_channel *want)
{
	for (int i = 0; i < 400; i++) {
		struct octo_channel *peer = octo_bridge_peer(chan);

		octo_obj_unref(peer);
		if (peer == want)
			return true;
		usleep(5000);
	}
	return false;
}

static bool hungup_within(struct octo_channel *chan, unsigned ms)
{
	for (unsigned i = 0; i < ms / 5; i++) {
		if (octo_chan_is_hungup(chan))
			return true;
		usleep(5000);
	}
	return octo_chan_is_hungup(chan);
}

OCTO_TEST(redirect_checks_its_input)
{
	struct octo_channel *leg, *c = call_in(1, "100", &leg);
	struct octo_channel *lone = caller_alloc("999");

	OCTO_CHECK_INT_EQ(octo_chan_redirect(c, "t", "99"), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(octo_chan_redirect(c, "nosuch", "20"), OCTO_ENOTFOUND);
	OCTO_CHECK_INT_EQ(octo_chan_redirect(c, "t", ""), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_chan_redirect(c, "t", "2 0"), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_chan_redirect(NULL, "t", "20"), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_chan_redirect(lone, "t", "20"), OCTO_EINVAL);
	OCTO_CHECK(octo_bridge_peer(lone) == NULL);
	OCTO_CHECK_INT_EQ(octo_bridge_join(c, leg), OCTO_EINVAL);   /* the same bridge */
	OCTO_CHECK_INT_EQ(octo_bridge_join(c, lone), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_bridge_join(c, c), OCTO_EINVAL);
	/* one request at a time */
	OCTO_CHECK_INT_EQ(octo_chan_redirect(c, "t", "20"), 0);
	OCTO_CHECK(octo_chan_redirect(leg, "t", "20") != 0);
	OCTO_CHECK(hungup_within(c, 2000));
	octo_pbx_wait_threads(2000);
	octo_chan_hangup(lone, OCTO_CAUSE_NORMAL);
	octo_obj_unref(lone);
	octo_obj_unref(leg);
	octo_obj_unref(c);
}

OCTO_TEST(redirect_of_the_caller_jumps_on_its_thread)
{
	struct octo_channel *leg, *c;
	struct later hold;
	char log[4096], expect[200];
	char called[16];

	fake_log_copy(log, sizeof(log));
	c = call_in(1, "100", &leg);
	/* the leg's far end holds: the caller is put on hold ... */
	later_start(&hold, leg, 0, OCTO_EV_HOLD, 0, 0);
	later_join(&hold);
	usleep(50000);
	OCTO_CHECK_INT_EQ(octo_chan_redirect(c, "t", "20"), 0);
	OCTO_CHECK(hungup_within(c, 2000));
	octo_pbx_wait_threads(2000);
	OCTO_CHECK_INT_EQ(atomic_load(&xdial_rc[1]), OCTO_BRIDGE_REDIRECTED);
	OCTO_CHECK(octo_chan_is_hungup(leg));
	OCTO_CHECK_STR_EQ(var(leg, "HANGUPSIDE"), "callee");   /* an outgoing leg */
	OCTO_CHECK_INT_EQ(octo_chan_hangup_cause(c), OCTO_CAUSE_NORMAL);
	OCTO_CHECK_STR_EQ(octo_chan_copy(c, OCTO_CHAN_CALLED, called, sizeof(called)), "20");
	fake_log_copy(log, sizeof(log));
	/* ... and taken off hold when the leg leaves; then [t] 20 runs */
	snprintf(expect, sizeof(expect), "hold %s;", octo_chan_name(c));
	OCTO_CHECK_CONTAINS(log, expect);
	snprintf(expect, sizeof(expect), "unhold %s;hangup %s;mark twenty %s;hangup %s;",
		 octo_chan_name(c), octo_chan_name(leg), octo_chan_name(c), octo_chan_name(c));
	OCTO_CHECK_CONTAINS(log, expect);
	OCTO_CHECK(!strstr(log, "after-dial"));
	octo_obj_unref(leg);
	octo_obj_unref(c);
}

OCTO_TEST(redirect_of_a_leg_gives_it_a_call_thread)
{
	struct octo_channel *leg, *c = call_in(1, "100", &leg);
	char log[4096], expect[200], buf[64];

	fake_log_copy(log, sizeof(log));
	octo_chan_var_set(leg, "USER", "555");   /* as octo_dial_add_user does */
	OCTO_CHECK_INT_EQ(octo_chan_redirect(leg, "t", "30"), 0);
	OCTO_CHECK(hungup_within(leg, 2000));
	OCTO_CHECK(hungup_within(c, 2000));
	octo_pbx_wait_threads(2000);
	OCTO_CHECK_INT_EQ(atomic_load(&xdial_rc[1]), OCTO_BRIDGE_A_ENDED);
	OCTO_CHECK_STR_EQ(var(c, "HANGUPSIDE"), "caller");   /* the transferor */
	OCTO_CHECK_STR_EQ(octo_chan_copy(leg, OCTO_CHAN_CALLER_NUM, buf, sizeof(buf)), "555");
	OCTO_CHECK_STR_EQ(octo_chan_copy(leg, OCTO_CHAN_CALLER_NAME, buf, sizeof(buf)), "555");
	OCTO_CHECK_STR_EQ(octo_chan_copy(leg, OCTO_CHAN_PROCEDURE, buf, sizeof(buf)), "t");
	fake_log_copy(log, sizeof(log));
	snprintf(expect, sizeof(expect), "mark thirty %s;", octo_chan_name(leg));
	OCTO_CHECK_CONTAINS(log, expect);
	OCTO_CHECK(!strstr(log, "after-dial"));
	octo_obj_unref(leg);
	octo_obj_unref(c);
}

OCTO_TEST(join_keeps_a_caller_and_takes_a_leg)
{
	struct octo_channel *l1, *l2, *c1 = call_in(1, "100", &l1), *c2 = call_in(2, "200", &l2);
	struct later digit, bye;
	char log[4096], expect[200];

	fake_log_copy(log, sizeof(log));
	OCTO_CHECK_INT_EQ(octo_bridge_join(l2, c1), 0);
	OCTO_CHECK(peer_becomes(c1, l2));
	OCTO_CHECK(hungup_within(l1, 2000));
	OCTO_CHECK(hungup_within(c2, 2000));
	OCTO_CHECK_STR_EQ(var(l1, "HANGUPSIDE"), "callee");
	OCTO_CHECK_STR_EQ(var(c2, "HANGUPSIDE"), "caller");
	OCTO_CHECK_STR_EQ(var(c1, "BRIDGEPEER"), octo_chan_name(l2));
	OCTO_CHECK_STR_EQ(var(l2, "BRIDGEPEER"), octo_chan_name(c1));
	later_start(&digit, l2, 0, OCTO_EV_DIGIT, 0, '7');
	later_start(&bye, l2, 50, OCTO_EV_HANGUP, OCTO_CAUSE_NORMAL, 0);
	OCTO_CHECK(hungup_within(c1, 2000));
	later_join(&digit);
	later_join(&bye);
	octo_pbx_wait_threads(2000);
	OCTO_CHECK(octo_chan_is_hungup(l2));
	OCTO_CHECK_INT_EQ(atomic_load(&xdial_rc[1]), OCTO_BRIDGE_B_ENDED);
	OCTO_CHECK_INT_EQ(atomic_load(&xdial_rc[2]), OCTO_BRIDGE_A_ENDED);
	fake_log_copy(log, sizeof(log));
	snprintf(expect, sizeof(expect), "digit %s 7;", octo_chan_name(c1));
	OCTO_CHECK_CONTAINS(log, expect);
	OCTO_CHECK(!strstr(log, "after-dial"));
	octo_obj_unref(l1);
	octo_obj_unref(l2);
	octo_obj_unref(c1);
	octo_obj_unref(c2);
}

OCTO_TEST(join_of_two_legs_hangs_up_both_callers)
{
	struct octo_channel *l1, *l2, *c1 = call_in(1, "100", &l1), *c2 = call_in(2, "200", &l2);
	struct later digit, bye;
	char log[4096], expect[200];

	fake_log_copy(log, sizeof(log));
	OCTO_CHECK_INT_EQ(octo_bridge_join(l1, l2), 0);
	OCTO_CHECK(peer_becomes(l1, l2));
	/* both callers end at once; c1's thread carries the new bridge */
	OCTO_CHECK(hungup_within(c1, 2000));
	OCTO_CHECK(hungup_within(c2, 2000));
	OCTO_CHECK(!octo_chan_is_hungup(l1));
	later_start(&digit, l1, 0, OCTO_EV_DIGIT, 0, '3');
	later_start(&bye, l1, 50, OCTO_EV_HANGUP, OCTO_CAUSE_BUSY, 0);
	OCTO_CHECK(hungup_within(l2, 2000));
	later_join(&digit);
	later_join(&bye);
	octo_pbx_wait_threads(2000);
	OCTO_CHECK_INT_EQ(octo_chan_hangup_cause(l2), OCTO_CAUSE_BUSY);
	OCTO_CHECK_INT_EQ(atomic_load(&xdial_rc[1]), OCTO_BRIDGE_A_ENDED);
	OCTO_CHECK_INT_EQ(atomic_load(&xdial_rc[2]), OCTO_BRIDGE_A_ENDED);
	fake_log_copy(log, sizeof(log));
	snprintf(expect, sizeof(expect), "digit %s 3;", octo_chan_name(l2));
	OCTO_CHECK_CONTAINS(log, expect);
	octo_obj_unref(l1);
	octo_obj_unref(l2);
	octo_obj_unref(c1);
	octo_obj_unref(c2);
}

OCTO_TEST(join_of_two_callers_parks_one_thread)
{
	struct octo_channel *l1, *l2, *c1 = call_in(1, "100", &l1), *c2 = call_in(2, "200", &l2);
	struct later digit;
	char log[4096], expect[200];

	fake_log_copy(log, sizeof(log));
	OCTO_CHECK_INT_EQ(octo_bridge_join(c1, c2), 0);
	OCTO_CHECK(peer_becomes(c1, c2));
	OCTO_CHECK(hungup_within(l1, 2000));
	OCTO_CHECK(hungup_within(l2, 2000));
	later_start(&digit, c2, 0, OCTO_EV_DIGIT, 0, '9');
	later_join(&digit);
	usleep(50000);
	/* the borrowed caller goes on in the dialplan on its own thread */
	OCTO_CHECK_INT_EQ(octo_chan_redirect(c2, "t", "20"), 0);
	OCTO_CHECK(hungup_within(c2, 2000));
	OCTO_CHECK(hungup_within(c1, 2000));
	octo_pbx_wait_threads(2000);
	OCTO_CHECK_INT_EQ(atomic_load(&xdial_rc[1]), OCTO_BRIDGE_A_ENDED);
	OCTO_CHECK_INT_EQ(atomic_load(&xdial_rc[2]), OCTO_BRIDGE_REDIRECTED);
	fake_log_copy(log, sizeof(log));
	snprintf(expect, sizeof(expect), "digit %s 9;", octo_chan_name(c1));
	OCTO_CHECK_CONTAINS(log, expect);
	snprintf(expect, sizeof(expect), "mark twenty %s;", octo_chan_name(c2));
	OCTO_CHECK_CONTAINS(log, expect);
	OCTO_CHECK(!strstr(log, "after-dial"));
	octo_obj_unref(l1);
	octo_obj_unref(l2);
	octo_obj_unref(c1);
	octo_obj_unref(c2);
}


OCTO_TEST(cleanup)
{
	char path[512];

	OCTO_CHECK_INT_EQ(octo_chan_count(), 0);
	octo_chan_shutdown();
	for (int i = 0; i < 8; i++)
		octo_obj_unref(xdial_legs[i]);
	if (plan_dir[0]) {
		octo_dialplan_shutdown();
		snprintf(path, sizeof(path), "%s/dialplan.conf", plan_dir);
		unlink(path);
		rmdir(plan_dir);
	}
	octo_registry_shutdown();
}

OCTO_TEST_MAIN()
