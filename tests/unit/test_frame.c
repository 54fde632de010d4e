/*
 * test_frame.c - generic audio frames (core/frame.c) and the Echo
 * application (app_echo.c, compiled in), with fake channel technologies:
 * one whose audio is a queue of frames fed by the test, and one without
 * audio for Octo.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/frame.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "../../core/internal.h"
#include "../../modules/apps/app_echo.c"

#include "octo_test.h"

/* ---------------------------------------------------------------- the fake technology */

#define FAKE_Q 64

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_cond = PTHREAD_COND_INITIALIZER;
static struct octo_frame fake_in[FAKE_Q]; /* frames the far end "sends" */
static unsigned fake_in_head, fake_in_count;
static struct octo_frame fake_out[FAKE_Q]; /* frames written */
static unsigned fake_out_count;
static int fake_read_rc;          /* returned instead of a frame when set */
static int fake_max_slice;        /* longest wait asked of read_frame */
static char fake_sent_digits[16]; /* send_digit calls */

static void fake_reset(void)
{
	pthread_mutex_lock(&fake_lock);
	fake_in_head = fake_in_count = fake_out_count = 0;
	fake_read_rc = 0;
	fake_max_slice = 0;
	memset(fake_sent_digits, 0, sizeof(fake_sent_digits));
	pthread_mutex_unlock(&fake_lock);
}

static void fake_feed(const struct octo_frame *f)
{
	pthread_mutex_lock(&fake_lock);
	if (fake_in_count < FAKE_Q) {
		fake_in[(fake_in_head + fake_in_count) % FAKE_Q] = *f;
		fake_in_count++;
	}
	pthread_cond_broadcast(&fake_cond);
	pthread_mutex_unlock(&fake_lock);
}

static int fake_read(struct octo_channel *chan, struct octo_frame *f, int timeout_ms)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(timeout_ms < 0 ? 1000 : timeout_ms) * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&fake_lock);
	if (timeout_ms > fake_max_slice || timeout_ms < 0)
		fake_max_slice = timeout_ms < 0 ? 1000000 : timeout_ms;
	for (;;) {
		if (fake_read_rc) {
			rc = fake_read_rc;
			break;
		}
		if (fake_in_count) {
			*f = fake_in[fake_in_head];
			fake_in_head = (fake_in_head + 1) % FAKE_Q;
			fake_in_count--;
			rc = 1;
			break;
		}
		if (timeout_ms == 0 || pthread_cond_timedwait(&fake_cond, &fake_lock, &until) != 0)
			break;
	}
	pthread_mutex_unlock(&fake_lock);
	return rc;
}

static int fake_write(struct octo_channel *chan, const struct octo_frame *f)
{
	pthread_mutex_lock(&fake_lock);
	if (fake_out_count < FAKE_Q)
		fake_out[fake_out_count++] = *f;
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

static int fake_send_digit(struct octo_channel *chan, char digit)
{
	size_t n;

	pthread_mutex_lock(&fake_lock);
	n = strlen(fake_sent_digits);
	if (n + 1 < sizeof(fake_sent_digits))
		fake_sent_digits[n] = digit;
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

static int fake_answer(struct octo_channel *chan)
{
	return 0;
}

static void fake_hangup(struct octo_channel *chan, int cause)
{
}

static const struct octo_chan_tech fake_tech = {
	.name = "FrameFake",
	.answer = fake_answer,
	.hangup = fake_hangup,
	.send_digit = fake_send_digit,
	.read_frame = fake_read,
	.write_frame = fake_write,
};

static const struct octo_chan_tech mute_tech = {
	.name = "Mute",
	.answer = fake_answer,
	.hangup = fake_hangup,
	.send_digit = fake_send_digit,
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
	octo_chan_tech_register(NULL, &mute_tech);
}

static struct octo_channel *chan_new(const char *tech)
{
	return octo_chan_alloc(tech, OCTO_CHAN_RING, "%s", "100");
}

static void chan_done(struct octo_channel *chan)
{
	octo_chan_hangup(chan, OCTO_CAUSE_NORMAL);
	octo_obj_unref(chan);
}

static void voice(struct octo_frame *f, int16_t value)
{
	octo_frame_silence(f, OCTO_FRAME_SAMPLES);
	for (unsigned i = 0; i < OCTO_FRAME_SAMPLES; i++)
		f->data[i] = (int16_t)(value + (int16_t)i);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- frames */

OCTO_TEST(helpers_fill_frames)
{
	struct octo_frame f;

	octo_frame_silence(&f, 500);
	OCTO_CHECK_INT_EQ(f.type, OCTO_FRAME_VOICE);
	OCTO_CHECK_INT_EQ(f.samples, OCTO_FRAME_SAMPLES);
	OCTO_CHECK_INT_EQ(f.data[0], 0);
	OCTO_CHECK_INT_EQ(f.data[159], 0);
	octo_frame_dtmf(&f, '#', 250);
	OCTO_CHECK_INT_EQ(f.type, OCTO_FRAME_DTMF);
	OCTO_CHECK_INT_EQ(f.digit, '#');
	OCTO_CHECK_INT_EQ(f.duration_ms, 250);
	OCTO_CHECK(octo_frame_digit_valid('0') && octo_frame_digit_valid('D'));
	OCTO_CHECK(octo_frame_digit_valid('*') && octo_frame_digit_valid('b'));
	OCTO_CHECK(!octo_frame_digit_valid('E') && !octo_frame_digit_valid('\0'));
	OCTO_CHECK(!octo_frame_digit_valid(' '));
}

OCTO_TEST(a_channel_without_media_says_einval)
{
	struct octo_channel *chan;
	struct octo_frame f;

	setup();
	chan = chan_new("Mute");
	OCTO_CHECK(chan != NULL);
	if (!chan)
		return;
	OCTO_CHECK_INT_EQ(octo_chan_read_frame(chan, &f, 10), OCTO_EINVAL);
	octo_frame_silence(&f, 160);
	OCTO_CHECK_INT_EQ(octo_chan_write_frame(chan, &f), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_chan_read_frame(NULL, &f, 10), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_chan_read_frame(chan, NULL, 10), OCTO_EINVAL);
	chan_done(chan);
}

OCTO_TEST(read_gives_frames_and_times_out_in_slices)
{
	struct octo_channel *chan;
	struct octo_frame in, f;
	uint64_t t0;

	setup();
	fake_reset();
	chan = chan_new("FrameFake");
	OCTO_CHECK(chan != NULL);
	if (!chan)
		return;
	voice(&in, 1000);
	fake_feed(&in);
	OCTO_CHECK_INT_EQ(octo_chan_read_frame(chan, &f, 1000), 1);
	OCTO_CHECK_INT_EQ(f.type, OCTO_FRAME_VOICE);
	OCTO_CHECK_INT_EQ(f.samples, 160);
	OCTO_CHECK_INT_EQ(f.data[0], 1000);
	OCTO_CHECK_INT_EQ(f.data[159], 1159);
	/* nothing: 0 after the time-out, asked in slices of at most 100 ms */
	t0 = octo_now_ms();
	OCTO_CHECK_INT_EQ(octo_chan_read_frame(chan, &f, 350), 0);
	OCTO_CHECK(octo_now_ms() - t0 >= 340);
	OCTO_CHECK(octo_now_ms() - t0 < 1000);
	OCTO_CHECK_INT_EQ(fake_max_slice, 100);
	/* just look */
	OCTO_CHECK_INT_EQ(octo_chan_read_frame(chan, &f, 0), 0);
	/* a technology's error passes through */
	fake_read_rc = OCTO_EBUSY;
	OCTO_CHECK_INT_EQ(octo_chan_read_frame(chan, &f, -1), OCTO_EBUSY);
	fake_read_rc = 0;
	chan_done(chan);
}

static void *hangup_later(void *arg)
{
	sleep_ms(150);
	octo_chan_hangup(arg, OCTO_CAUSE_NORMAL);
	return NULL;
}

OCTO_TEST(a_hang_up_ends_a_read_that_waits_forever)
{
	struct octo_channel *chan;
	struct octo_frame f;
	pthread_t tid;
	uint64_t t0;

	setup();
	fake_reset();
	chan = chan_new("FrameFake");
	OCTO_CHECK(chan != NULL);
	if (!chan)
		return;
	t0 = octo_now_ms();
	pthread_create(&tid, NULL, hangup_later, chan);
	OCTO_CHECK_INT_EQ(octo_chan_read_frame(chan, &f, -1), OCTO_EHANGUP);
	OCTO_CHECK(octo_now_ms() - t0 < 400);
	pthread_join(tid, NULL);
	OCTO_CHECK_INT_EQ(octo_chan_read_frame(chan, &f, 0), OCTO_EHANGUP);
	octo_frame_silence(&f, 160);
	OCTO_CHECK_INT_EQ(octo_chan_write_frame(chan, &f), OCTO_EHANGUP);
	octo_obj_unref(chan);
}

OCTO_TEST(write_checks_frames_and_normalises_digits)
{
	struct octo_channel *chan;
	struct octo_frame f;

	setup();
	fake_reset();
	chan = chan_new("FrameFake");
	OCTO_CHECK(chan != NULL);
	if (!chan)
		return;
	octo_frame_silence(&f, 160);
	f.samples = 0;
	OCTO_CHECK_INT_EQ(octo_chan_write_frame(chan, &f), OCTO_EINVAL);
	f.samples = 161;
	OCTO_CHECK_INT_EQ(octo_chan_write_frame(chan, &f), OCTO_EINVAL);
	f.type = OCTO_FRAME_NONE;
	f.samples = 160;
	OCTO_CHECK_INT_EQ(octo_chan_write_frame(chan, &f), OCTO_EINVAL);
	octo_frame_dtmf(&f, 'x', 0);
	OCTO_CHECK_INT_EQ(octo_chan_write_frame(chan, &f), OCTO_EINVAL);
	octo_frame_dtmf(&f, '1', 6000);
	OCTO_CHECK_INT_EQ(octo_chan_write_frame(chan, &f), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(fake_out_count, 0);
	octo_frame_silence(&f, 80);
	OCTO_CHECK_INT_EQ(octo_chan_write_frame(chan, &f), 0);
	octo_frame_dtmf(&f, 'c', 0);
	OCTO_CHECK_INT_EQ(octo_chan_write_frame(chan, &f), 0);
	OCTO_CHECK_INT_EQ(fake_out_count, 2);
	OCTO_CHECK_INT_EQ(fake_out[0].samples, 80);
	OCTO_CHECK_INT_EQ(fake_out[1].digit, 'C');
	OCTO_CHECK_INT_EQ(fake_out[1].duration_ms, 100);
	OCTO_CHECK_INT_EQ(f.digit, 'c'); /* the caller's frame is not changed */
	chan_done(chan);
}

/* ---------------------------------------------------------------- Echo */

struct echo_run {
	struct octo_channel *chan;
	char args[32];
	int rc;
	pthread_t tid;
};

static void *echo_thread(void *arg)
{
	struct echo_run *r = arg;

	r->rc = echo_exec(r->chan, r->args);
	return NULL;
}

static unsigned out_count(void)
{
	unsigned n;

	pthread_mutex_lock(&fake_lock);
	n = fake_out_count;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

static void wait_out(unsigned n)
{
	for (int i = 0; i < 200 && out_count() < n; i++)
		sleep_ms(5);
}

OCTO_TEST(echo_sends_back_audio_and_digits_until_hash)
{
	struct echo_run r = { 0 };
	struct octo_chan_event ev = { .type = OCTO_EV_DIGIT, .digit = '4' };
	struct octo_frame f;

	setup();
	fake_reset();
	r.chan = chan_new("FrameFake");
	OCTO_CHECK(r.chan != NULL);
	if (!r.chan)
		return;
	pthread_create(&r.tid, NULL, echo_thread, &r);
	for (int k = 0; k < 5; k++) {
		voice(&f, (int16_t)(100 * k));
		fake_feed(&f);
	}
	wait_out(5);
	octo_frame_dtmf(&f, '7', 0);
	fake_feed(&f); /* a digit in the media */
	wait_out(6);
	octo_chan_queue_event(r.chan, &ev); /* a digit from signalling */
	wait_out(7);
	octo_frame_dtmf(&f, '#', 0);
	fake_feed(&f);
	pthread_join(r.tid, NULL);
	OCTO_CHECK_INT_EQ(r.rc, OCTO_APP_CONTINUE);
	OCTO_CHECK_INT_EQ(octo_chan_state(r.chan), OCTO_CHAN_UP);
	OCTO_CHECK_INT_EQ(fake_out_count, 7);
	for (int k = 0; k < 5 && fake_out_count == 7; k++) {
		OCTO_CHECK_INT_EQ(fake_out[k].type, OCTO_FRAME_VOICE);
		OCTO_CHECK_INT_EQ(fake_out[k].data[0], 100 * k);
		OCTO_CHECK_INT_EQ(fake_out[k].data[159], 100 * k + 159);
	}
	OCTO_CHECK_INT_EQ(fake_out[5].type, OCTO_FRAME_DTMF);
	OCTO_CHECK_INT_EQ(fake_out[5].digit, '7');
	OCTO_CHECK_INT_EQ(fake_out[6].digit, '4');
	OCTO_CHECK_STR_EQ(fake_sent_digits, ""); /* all went in the media */
	chan_done(r.chan);
}

OCTO_TEST(echo_stops_after_its_seconds_and_on_hang_up)
{
	struct echo_run r = { 0 };
	uint64_t t0;

	setup();
	fake_reset();
	r.chan = chan_new("FrameFake");
	OCTO_CHECK(r.chan != NULL);
	if (!r.chan)
		return;
	strcpy(r.args, "0.3");
	t0 = octo_now_ms();
	echo_thread(&r);
	OCTO_CHECK_INT_EQ(r.rc, OCTO_APP_CONTINUE);
	OCTO_CHECK(octo_now_ms() - t0 >= 290);
	OCTO_CHECK(octo_now_ms() - t0 < 1000);
	/* the caller hangs up */
	r.args[0] = '\0';
	pthread_create(&r.tid, NULL, echo_thread, &r);
	sleep_ms(100);
	octo_chan_hangup(r.chan, OCTO_CAUSE_NORMAL);
	pthread_join(r.tid, NULL);
	OCTO_CHECK_INT_EQ(r.rc, OCTO_EHANGUP);
	octo_obj_unref(r.chan);
	/* bad arguments */
	r.chan = chan_new("FrameFake");
	strcpy(r.args, "ten");
	echo_thread(&r);
	OCTO_CHECK_INT_EQ(r.rc, OCTO_EINVAL);
	strcpy(r.args, "-1");
	echo_thread(&r);
	OCTO_CHECK_INT_EQ(r.rc, OCTO_EINVAL);
	chan_done(r.chan);
}

OCTO_TEST(echo_without_media_echoes_digits)
{
	struct echo_run r = { 0 };
	struct octo_chan_event ev = { .type = OCTO_EV_DIGIT, .digit = '5' };

	setup();
	fake_reset();
	r.chan = chan_new("Mute");
	OCTO_CHECK(r.chan != NULL);
	if (!r.chan)
		return;
	pthread_create(&r.tid, NULL, echo_thread, &r);
	octo_chan_queue_event(r.chan, &ev);
	ev.digit = '#';
	octo_chan_queue_event(r.chan, &ev);
	pthread_join(r.tid, NULL);
	OCTO_CHECK_INT_EQ(r.rc, OCTO_APP_CONTINUE);
	OCTO_CHECK_STR_EQ(fake_sent_digits, "5");
	chan_done(r.chan);
}

OCTO_TEST_MAIN()
