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
 * AUDIO. Test calls carry no audio, unless placed with an audio option:
 *   test call <procedure> <number> [<caller>] audio=silence|<file>
 * makes a TestAudio call (technology "TestAudio", channel TestAudio/...)
 * with an audio path (read_frame/write_frame, frame.h), so applications
 * that play and record can be tried without SIP:
 *   - the PBX hears the caller say nothing (silence), or the frames of a
 *     sound file and then silence; the file starts when the PBX first
 *     listens;
 *   - whatever the PBX plays to the caller is kept (the first
 *     TEST_KEEP_SECONDS seconds), with the DTMF digits it sends;
 *   - both sides go at 20 ms a frame, as a phone would.
 *   test play <id> silence|<file>   the caller now says that
 *   test record <id> <file.wav>     saves what the PBX played to the caller
 *   test show audio <id>            frames and seconds played, digits heard
 * The audio of the last TEST_KEEP_ENDED ended calls stays for record and
 * show audio. Outgoing legs dialled as TestAudio/<dest> have audio too.
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
 * is the leg's pvt. test_lock guards every pvt pointer, the device table and
 * the list of audio states; hangup takes the pvt under it, then cancels the
 * timer (which waits for a running callback) before freeing it. The audio of
 * a call is a refcounted object in that list, found by channel (its fields
 * are guarded by its own lock); read_frame and write_frame take a reference
 * and sleep with no lock held. Hangup marks it ended and keeps it for the CLI.
 * Lock order: test_lock -> audio object -> channel.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/dialplan.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/sound.h"

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

/* ---------------------------------------------------------------- audio */

#define TEST_AUDIO_TECH "TestAudio"
#define TEST_KEEP_SECONDS 300      /* of what the PBX plays to a caller */
#define TEST_KEEP_ENDED 64         /* ended calls whose audio stays ... */
#define TEST_KEEP_SAMPLES (32u * 1024 * 1024) /* ... while it holds fewer samples */
#define TEST_DIGITS_MAX 64         /* DTMF digits heard, kept */
#define TEST_RESYNC_MS 100         /* a side more late than this starts again from now */
#define TEST_PATH_MAX 1024

/* The audio of one TestAudio call. chan is guarded by test_lock, id and
 * name never change, the rest is guarded by the object's lock. */
struct test_audio {
	struct octo_channel *chan;     /* borrowed; NULL once the call ended */
	char id[32];
	char name[80];
	/* what the caller says (read_frame) */
	struct octo_sound *feed;       /* NULL: silence */
	char feed_path[TEST_PATH_MAX]; /* "" for silence */
	bool feed_done;                /* the file was said to its end */
	uint64_t read_due_ms;
	uint64_t frames_heard;         /* frames the PBX read */
	/* what the PBX plays (write_frame) */
	int16_t *kept;
	size_t nkept, capkept;
	uint64_t samples_played;
	uint64_t frames_played;
	uint64_t write_due_ms;
	char digits[TEST_DIGITS_MAX + 1];
	size_t ndigits;                /* all digits heard, kept or not */
};

/* Every audio state, live calls and the last ended ones (test_lock). */
static struct test_audio **test_audios;
static size_t test_naudios;

static void test_audio_destroy(void *obj)
{
	struct test_audio *a = obj;

	octo_sound_close(a->feed);
	free(a->kept);
}

/* A new reference on the audio of `chan`; when it has none and `create`,
 * makes one. NULL when out of memory or not found. */
static struct test_audio *test_audio_get(struct octo_channel *chan, bool create)
{
	struct test_audio *a = NULL, **grown;

	pthread_mutex_lock(&test_lock);
	for (size_t i = 0; i < test_naudios && !a; i++)
		if (test_audios[i]->chan == chan)
			a = octo_obj_ref(test_audios[i]);
	if (a || !create)
		goto out;
	grown = realloc(test_audios, (test_naudios + 1) * sizeof(*grown));
	if (!grown)
		goto out;
	test_audios = grown;
	a = octo_obj_alloc(sizeof(*a), test_audio_destroy);
	if (!a)
		goto out;
	a->chan = chan;
	octo_strlcpy(a->id, octo_chan_id(chan), sizeof(a->id));
	octo_strlcpy(a->name, octo_chan_name(chan), sizeof(a->name));
	test_audios[test_naudios++] = octo_obj_ref(a);
out:
	pthread_mutex_unlock(&test_lock);
	return a;
}

/* A new reference on the audio of a live or ended call, by id or name. */
static struct test_audio *test_audio_find(const char *id_or_name)
{
	struct test_audio *a = NULL;

	pthread_mutex_lock(&test_lock);
	/* the newest first: a name may come back after its call ended */
	for (size_t i = test_naudios; i-- > 0 && !a;)
		if (!strcmp(test_audios[i]->id, id_or_name) ||
		    !strcmp(test_audios[i]->name, id_or_name))
			a = octo_obj_ref(test_audios[i]);
	pthread_mutex_unlock(&test_lock);
	return a;
}

/* The call ended: its audio stays for the CLI, the oldest ended go. */
static void test_audio_ended(struct octo_channel *chan)
{
	struct test_audio *drop[TEST_KEEP_ENDED + 1];
	size_t ndrop = 0, ended = 0, kept = 0;

	pthread_mutex_lock(&test_lock);
	for (size_t i = 0; i < test_naudios; i++) {
		if (test_audios[i]->chan == chan)
			test_audios[i]->chan = NULL;
		if (!test_audios[i]->chan) {
			octo_obj_lock(test_audios[i]);
			kept += test_audios[i]->nkept;
			octo_obj_unlock(test_audios[i]);
			ended++;
		}
	}
	/* the list is in creation order: drop the first ended ones */
	for (size_t i = 0; i < test_naudios && ndrop < OCTO_ARRAY_LEN(drop) &&
			   (ended > TEST_KEEP_ENDED || kept > TEST_KEEP_SAMPLES);) {
		if (test_audios[i]->chan) {
			i++;
			continue;
		}
		drop[ndrop++] = test_audios[i];
		octo_obj_lock(test_audios[i]);
		kept -= test_audios[i]->nkept;
		octo_obj_unlock(test_audios[i]);
		memmove(&test_audios[i], &test_audios[i + 1],
			(test_naudios - i - 1) * sizeof(test_audios[0]));
		test_naudios--;
		ended--;
	}
	pthread_mutex_unlock(&test_lock);
	for (size_t i = 0; i < ndrop; i++)
		octo_obj_unref(drop[i]);
}

static void test_sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000),
			       .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Opens what a caller is to say: "silence" (NULL) or a sound file. */
static int test_feed_open(const char *what, struct octo_sound **out, char *err, size_t errsize)
{
	*out = NULL;
	if (!strcmp(what, "silence"))
		return 0;
	if (strlen(what) >= TEST_PATH_MAX) {
		snprintf(err, errsize, "the file name is too long");
		return OCTO_EINVAL;
	}
	return octo_sound_open_file(what, out, err, errsize);
}

/* Makes `feed` (taken) what the caller says from now on. */
static void test_feed_set(struct test_audio *a, struct octo_sound *feed, const char *what)
{
	struct octo_sound *old;

	octo_obj_lock(a);
	old = a->feed;
	a->feed = feed;
	a->feed_done = false;
	octo_strlcpy(a->feed_path, feed ? what : "", sizeof(a->feed_path));
	octo_obj_unlock(a);
	octo_sound_close(old);
}

/* The caller's side: a frame every 20 ms, of the file being said or of silence. */
static int test_read_frame(struct octo_channel *chan, struct octo_frame *f, int timeout_ms)
{
	struct test_audio *a = test_audio_get(chan, false);
	uint64_t now, due;

	if (!a)
		return OCTO_EHANGUP; /* made with the call, gone at its hang-up */
	octo_obj_lock(a);
	now = octo_now_ms();
	if (!a->read_due_ms || now > a->read_due_ms + TEST_RESYNC_MS)
		a->read_due_ms = now;
	due = a->read_due_ms;
	octo_obj_unlock(a);
	if (due > now) {
		if (timeout_ms >= 0 && due - now > (uint64_t)timeout_ms) {
			test_sleep_ms((uint64_t)timeout_ms);
			octo_obj_unref(a);
			return 0;
		}
		test_sleep_ms(due - now);
	}
	octo_frame_silence(f, OCTO_FRAME_SAMPLES);
	octo_obj_lock(a);
	if (a->feed) {
		long n = octo_sound_read(a->feed, f->data, OCTO_FRAME_SAMPLES);

		if (n < OCTO_FRAME_SAMPLES) {
			/* the end of the file (or a read error): silence from now on */
			if (n < 0)
				n = 0;
			memset(f->data + n, 0,
			       (OCTO_FRAME_SAMPLES - (size_t)n) * sizeof(f->data[0]));
			octo_sound_close(a->feed);
			a->feed = NULL;
			a->feed_done = true;
		}
	}
	a->read_due_ms += OCTO_FRAME_MS;
	a->frames_heard++;
	octo_obj_unlock(a);
	octo_obj_unref(a);
	return 1;
}

/* The PBX's side: kept, and paced to real time. */
static int test_write_frame(struct octo_channel *chan, const struct octo_frame *f)
{
	struct test_audio *a = test_audio_get(chan, false);
	uint64_t now, due, lasts;

	if (!a)
		return OCTO_EHANGUP;
	octo_obj_lock(a);
	if (f->type == OCTO_FRAME_VOICE) {
		size_t max = (size_t)TEST_KEEP_SECONDS * OCTO_FRAME_RATE, n = f->samples;

		if (a->nkept + n > max)
			n = a->nkept < max ? max - a->nkept : 0;
		if (n && a->nkept + n > a->capkept) {
			size_t cap = a->capkept ? a->capkept * 2 : (size_t)OCTO_FRAME_RATE * 4;
			int16_t *grown;

			while (cap < a->nkept + n)
				cap *= 2;
			if (cap > max)
				cap = max;
			grown = realloc(a->kept, cap * sizeof(*grown));
			if (grown) {
				a->kept = grown;
				a->capkept = cap;
			} else {
				n = 0;
			}
		}
		if (n) {
			memcpy(a->kept + a->nkept, f->data, n * sizeof(f->data[0]));
			a->nkept += n;
		}
		a->samples_played += f->samples;
		a->frames_played++;
		lasts = f->samples * 1000u / OCTO_FRAME_RATE;
	} else {
		if (a->ndigits < TEST_DIGITS_MAX)
			a->digits[a->ndigits] = f->digit;
		a->ndigits++;
		lasts = f->duration_ms;
	}
	now = octo_now_ms();
	if (!a->write_due_ms || now > a->write_due_ms + TEST_RESYNC_MS)
		a->write_due_ms = now;
	due = a->write_due_ms;
	a->write_due_ms += lasts;
	octo_obj_unlock(a);
	octo_obj_unref(a);
	if (due > now)
		test_sleep_ms(due - now);
	return 0;
}

/* send_digit of TestAudio: the digit is heard like one in the media. */
static int test_audio_send_digit(struct octo_channel *chan, char digit)
{
	struct test_audio *a = test_audio_get(chan, false);

	if (a) {
		octo_obj_lock(a);
		if (a->ndigits < TEST_DIGITS_MAX)
			a->digits[a->ndigits] = digit;
		a->ndigits++;
		octo_obj_unlock(a);
		octo_obj_unref(a);
	}
	return test_send_digit(chan, digit);
}

/* An outgoing TestAudio leg: a Test leg with an audio path (its caller,
 * the called party, says nothing). */
static int test_audio_call_out(struct octo_channel *chan, const char *dest, unsigned timeout_ms)
{
	struct test_audio *a = test_audio_get(chan, true);

	if (!a)
		return OCTO_ENOMEM;
	octo_obj_unref(a);
	return test_call_out(chan, dest, timeout_ms);
}

static void test_audio_hangup(struct octo_channel *chan, int cause)
{
	test_hangup(chan, cause);
	test_audio_ended(chan);
}

static const struct octo_chan_tech test_audio_tech = {
	.name = TEST_AUDIO_TECH,
	.description = "Test calls with an audio path (test call ... audio=), for trying "
		       "prompts and recordings",
	.call = test_audio_call_out,
	.answer = test_answer,
	.hangup = test_audio_hangup,
	.send_digit = test_audio_send_digit,
	.indicate = test_indicate,
	.read_frame = test_read_frame,
	.write_frame = test_write_frame,
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
	struct octo_sound *feed = NULL;
	const char *caller = "test", *audio = NULL;
	char err[256];

	if (argc < 4 || argc > 6)
		return OCTO_CLI_USAGE;
	/* after the number: an optional caller, then options (they hold '=',
	 * which no number may) */
	for (int i = 4; i < argc; i++) {
		if (!strncmp(argv[i], "audio=", 6) && !audio) {
			audio = argv[i] + 6;
		} else if (i == 4 && !strchr(argv[i], '=')) {
			caller = argv[i];
		} else {
			octo_cli_error(out, "Unknown option \"%.64s\" (audio=silence or "
				       "audio=<file>)", argv[i]);
			return OCTO_CLI_FAIL;
		}
	}
	if (!test_valid_number(argv[3]) || !test_valid_number(caller)) {
		octo_cli_error(out, "Numbers may use digits, letters and + * # _ - . (at most 64)");
		return OCTO_CLI_FAIL;
	}
	if (!octo_dialplan_has_procedure(argv[2])) {
		octo_cli_error(out, "No procedure [%s] in the dialplan", argv[2]);
		return OCTO_CLI_FAIL;
	}
	if (audio && test_feed_open(audio, &feed, err, sizeof(err))) {
		octo_cli_error(out, "audio: %.200s: %s", audio, err);
		return OCTO_CLI_FAIL;
	}
	chan = octo_chan_alloc(audio ? TEST_AUDIO_TECH : "Test", OCTO_CHAN_RING, "%s", caller);
	if (!chan) {
		octo_sound_close(feed);
		octo_cli_error(out, "Cannot create the call (stopping, or the call limit is "
			       "reached)");
		return OCTO_CLI_FAIL;
	}
	if (audio) {
		struct test_audio *a = test_audio_get(chan, true);

		if (!a) {
			octo_sound_close(feed);
			octo_chan_hangup(chan, OCTO_CAUSE_FAILURE);
			octo_obj_unref(chan);
			octo_cli_error(out, "Out of memory");
			return OCTO_CLI_FAIL;
		}
		test_feed_set(a, feed, audio);
		octo_obj_unref(a);
	}
	octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, caller);
	octo_chan_set(chan, OCTO_CHAN_CALLER_NAME, "Test call");
	octo_chan_set(chan, OCTO_CHAN_DIALED, argv[3]);
	octo_chan_set(chan, OCTO_CHAN_CALLED, argv[3]);
	octo_chan_set(chan, OCTO_CHAN_PROCEDURE, argv[2]);
	octo_cli_kv(out, "id", "%s", octo_chan_id(chan));
	octo_cli_kv(out, "channel", "%s", octo_chan_name(chan));
	if (audio)
		octo_cli_kv(out, "audio", "%s", feed ? audio : "silence");
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
	if (octo_chan_tech(chan) != &test_tech && octo_chan_tech(chan) != &test_audio_tech) {
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
	/* logged first: a call that ends at once on these digits keeps the line */
	octo_chan_step(chan, "Test: caller pressed %s", argv[4]);
	for (const char *d = argv[4]; *d; d++) {
		struct octo_chan_event ev = { .type = OCTO_EV_DIGIT, .digit = *d };

		octo_chan_queue_event(chan, &ev);
	}
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

/* The audio of a live or ended TestAudio call; prints why not. */
static struct test_audio *test_audio_cli_find(struct octo_cli_out *out, const char *id)
{
	struct test_audio *a = test_audio_find(id);
	struct octo_channel *chan;

	if (a)
		return a;
	chan = octo_chan_find(id);
	if (chan)
		octo_cli_error(out, "%s has no audio (only calls placed with test call ... audio= "
			       "have)", octo_chan_name(chan));
	else
		octo_cli_error(out, "No Test call with audio \"%.64s\"", id);
	octo_obj_unref(chan);
	return NULL;
}

static int test_cli_play(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_channel *chan;
	struct octo_sound *feed;
	struct test_audio *a;
	char err[256];

	if (argc != 4)
		return OCTO_CLI_USAGE;
	chan = test_find(out, argv[2]);
	if (!chan)
		return OCTO_CLI_FAIL;
	if (octo_chan_tech(chan) != &test_audio_tech) {
		octo_cli_error(out, "%s has no audio (only calls placed with test call ... audio= "
			       "have)", octo_chan_name(chan));
		octo_obj_unref(chan);
		return OCTO_CLI_FAIL;
	}
	if (test_feed_open(argv[3], &feed, err, sizeof(err))) {
		octo_cli_error(out, "%.200s: %s", argv[3], err);
		octo_obj_unref(chan);
		return OCTO_CLI_FAIL;
	}
	a = test_audio_get(chan, false);
	if (!a) {
		octo_sound_close(feed);
		octo_obj_unref(chan);
		octo_cli_error(out, "%s is hanging up", argv[2]);
		return OCTO_CLI_FAIL;
	}
	test_feed_set(a, feed, argv[3]);
	octo_chan_step(chan, "Test: the caller now says %s", feed ? argv[3] : "nothing (silence)");
	octo_cli_printf(out, "The caller of %s now says %s.", octo_chan_name(chan),
			feed ? argv[3] : "nothing (silence)");
	octo_obj_unref(a);
	octo_obj_unref(chan);
	return OCTO_CLI_OK;
}

/* Writes `n` samples to a new WAV file at `path`; 0 or OCTO_E* with `err`. */
static int test_write_wav(const char *path, const int16_t *samples, size_t n, char *err,
			  size_t errsize)
{
	const struct octo_sound_format *fmt;
	struct octo_sound_file file = { 0 };
	int rc;

	fmt = octo_registry_get(OCTO_REG_FORMAT, "wav", "chan_test");
	if (!fmt || !fmt->open_write) {
		snprintf(err, errsize, "format_wav is not loaded");
		if (fmt)
			octo_registry_put(OCTO_REG_FORMAT, fmt, "chan_test");
		return OCTO_ENOTFOUND;
	}
	rc = fmt->open_write(&file, path, OCTO_FRAME_RATE);
	if (rc) {
		snprintf(err, errsize, "cannot create the file: %s", octo_strerror(rc));
	} else {
		long w = n ? fmt->write(&file, samples, n) : 0;

		fmt->close(&file);
		if (w < 0 || (size_t)w != n) {
			snprintf(err, errsize, "cannot write the file: %s",
				 octo_strerror(w < 0 ? (int)w : OCTO_EFAIL));
			rc = OCTO_EFAIL;
		}
	}
	octo_registry_put(OCTO_REG_FORMAT, fmt, "chan_test");
	return rc;
}

static int test_cli_record(struct octo_cli_out *out, int argc, char **argv)
{
	struct test_audio *a;
	int16_t *copy = NULL;
	size_t n;
	char err[256];
	int rc;

	if (argc != 4)
		return OCTO_CLI_USAGE;
	if (strlen(argv[3]) >= TEST_PATH_MAX) {
		octo_cli_error(out, "The file name is too long");
		return OCTO_CLI_FAIL;
	}
	a = test_audio_cli_find(out, argv[2]);
	if (!a)
		return OCTO_CLI_FAIL;
	/* a copy, so that the file is written with no lock held */
	octo_obj_lock(a);
	n = a->nkept;
	if (n) {
		copy = malloc(n * sizeof(*copy));
		if (copy)
			memcpy(copy, a->kept, n * sizeof(*copy));
	}
	octo_obj_unlock(a);
	if (n && !copy) {
		octo_obj_unref(a);
		octo_cli_error(out, "Out of memory");
		return OCTO_CLI_FAIL;
	}
	rc = test_write_wav(argv[3], copy, n, err, sizeof(err));
	free(copy);
	if (rc) {
		octo_cli_error(out, "%.200s: %s", argv[3], err);
		octo_obj_unref(a);
		return OCTO_CLI_FAIL;
	}
	octo_cli_kv(out, "channel", "%s", a->name);
	octo_cli_kv(out, "file", "%s", argv[3]);
	octo_cli_kv(out, "seconds", "%.2f", (double)n / OCTO_FRAME_RATE);
	octo_obj_unref(a);
	return OCTO_CLI_OK;
}

static int test_cli_show_audio(struct octo_cli_out *out, int argc, char **argv)
{
	struct test_audio *a;
	bool live;

	if (argc != 4)
		return OCTO_CLI_USAGE;
	a = test_audio_cli_find(out, argv[3]);
	if (!a)
		return OCTO_CLI_FAIL;
	pthread_mutex_lock(&test_lock);
	live = a->chan != NULL;
	pthread_mutex_unlock(&test_lock);
	octo_obj_lock(a);
	octo_cli_kv(out, "id", "%s", a->id);
	octo_cli_kv(out, "channel", "%s", a->name);
	octo_cli_kv(out, "call", "%s", live ? "live" : "ended");
	octo_cli_kv(out, "frames played", "%llu", (unsigned long long)a->frames_played);
	octo_cli_kv(out, "seconds played", "%.2f", (double)a->samples_played / OCTO_FRAME_RATE);
	octo_cli_kv(out, "seconds kept", "%.2f", (double)a->nkept / OCTO_FRAME_RATE);
	octo_cli_kv(out, "digits heard", "%s", a->digits);
	if (a->ndigits > TEST_DIGITS_MAX)
		octo_cli_kv(out, "digits not kept", "%zu", a->ndigits - TEST_DIGITS_MAX);
	octo_cli_kv(out, "frames heard", "%llu", (unsigned long long)a->frames_heard);
	if (a->feed)
		octo_cli_kv(out, "caller says", "%s", a->feed_path);
	else if (a->feed_done)
		octo_cli_kv(out, "caller says", "nothing (%s was said to its end)", a->feed_path);
	else
		octo_cli_kv(out, "caller says", "nothing (silence)");
	octo_obj_unlock(a);
	octo_obj_unref(a);
	return OCTO_CLI_OK;
}

static void test_complete_procs(struct octo_cli_completion *c, int pos, const char *partial)
{
	/* Procedures come from the dialplan; no completion here keeps this module
	 * independent of the dialplan's internals. */
}

static const struct octo_cli_cmd test_cli[] = {
	{ "test call", "Place a Test call into the dialplan (audio=: with an audio path)",
	  "test call <procedure> <number> [<caller>] [audio=silence|<file>]", test_cli_call,
	  test_complete_procs },
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
	{ "test play", "Make the caller of a TestAudio call say a sound file (or silence)",
	  "test play <id> silence|<file>", test_cli_play, NULL },
	{ "test record", "Save what the PBX played to the caller of a TestAudio call (WAV)",
	  "test record <id> <file.wav>", test_cli_record, NULL },
	{ "test show audio", "Frames and seconds played to a TestAudio call, digits heard",
	  "test show audio <id>", test_cli_show_audio, NULL },
	{ 0 }
};

static int chan_test_load(struct octo_module *self)
{
	if (octo_chan_tech_register(self, &test_tech))
		return OCTO_LOAD_FAIL;
	if (octo_chan_tech_register(self, &test_audio_tech))
		return OCTO_LOAD_FAIL;
	if (octo_cli_register_all(self, test_cli))
		return OCTO_LOAD_FAIL;
	return OCTO_LOAD_OK;
}

/* No call is left (each holds the module): only the audio of ended calls. */
static int chan_test_unload(struct octo_module *self)
{
	struct test_audio **list;
	size_t n;

	pthread_mutex_lock(&test_lock);
	list = test_audios;
	n = test_naudios;
	test_audios = NULL;
	test_naudios = 0;
	pthread_mutex_unlock(&test_lock);
	for (size_t i = 0; i < n; i++)
		octo_obj_unref(list[i]);
	free(list);
	return 0;
}

OCTO_MODULE(chan_test, .description = "Test calls driven from the CLI", .load = chan_test_load,
	    .unload = chan_test_unload);
