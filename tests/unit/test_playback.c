/*
 * test_playback.c - the pure parts of the audio applications
 * (modules/apps/audio_common.c, compiled in): numbers and dates said as
 * prompt names in English and Italian, dates read from text, the look-ahead
 * that ends an IVR number early, the dialplan view it uses, and the
 * features.conf keys with their error messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octo/config.h"
#include "octo/pattern.h"
#include "../../modules/apps/audio_common.h"

#include "octo_test.h"

/* The names, space separated, or "ERR" for -1. */
static const char *say_join(int n, char names[][AUDIO_SAY_NAME])
{
	static char buf[2048];

	buf[0] = '\0';
	if (n < 0)
		return "ERR";
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(buf, " ");
		strcat(buf, names[i]);
	}
	return buf;
}

static const char *say_number(const char *text, const char *lang)
{
	char names[AUDIO_SAY_MAX][AUDIO_SAY_NAME];

	return say_join(audio_say_number(text, lang, names, AUDIO_SAY_MAX), names);
}

OCTO_TEST(english_numbers)
{
	OCTO_CHECK_STR_EQ(say_number("1234", "en"),
			  "digits/1 digits/thousand digits/2 digits/hundred digits/34");
	OCTO_CHECK_STR_EQ(say_number("0", "en"), "digits/0");
	OCTO_CHECK_STR_EQ(say_number("7", "en"), "digits/7");
	OCTO_CHECK_STR_EQ(say_number("100", "en"), "digits/1 digits/hundred");
	OCTO_CHECK_STR_EQ(say_number("1000", "en"), "digits/1 digits/thousand");
	OCTO_CHECK_STR_EQ(say_number("2005", "en"), "digits/2 digits/thousand digits/5");
	OCTO_CHECK_STR_EQ(say_number("21000", "en"), "digits/21 digits/thousand");
	OCTO_CHECK_STR_EQ(say_number("1000000", "en"), "digits/1 digits/million");
	OCTO_CHECK_STR_EQ(say_number("999999999", "en"),
			  "digits/9 digits/hundred digits/99 digits/million digits/9 "
			  "digits/hundred digits/99 digits/thousand digits/9 digits/hundred "
			  "digits/99");
	OCTO_CHECK_STR_EQ(say_number("-12", "en"), "digits/minus digits/12");
	OCTO_CHECK_STR_EQ(say_number("+12", "en"), "digits/12");
	OCTO_CHECK_STR_EQ(say_number("-0", "en"), "digits/0");
	OCTO_CHECK_STR_EQ(say_number("007", "en"), "digits/7");
	OCTO_CHECK_STR_EQ(say_number("3.25", "en"), "digits/3 digits/point digits/2 digits/5");
	/* any other language: the English rules */
	OCTO_CHECK_STR_EQ(say_number("1234", "de"),
			  "digits/1 digits/thousand digits/2 digits/hundred digits/34");
	OCTO_CHECK_STR_EQ(say_number("1234", NULL),
			  "digits/1 digits/thousand digits/2 digits/hundred digits/34");
}

OCTO_TEST(italian_numbers)
{
	/* milleduecentotrentaquattro */
	OCTO_CHECK_STR_EQ(say_number("1234", "it"),
			  "digits/thousand digits/2 digits/hundred digits/34");
	OCTO_CHECK_STR_EQ(say_number("100", "it"), "digits/hundred");
	OCTO_CHECK_STR_EQ(say_number("101", "it"), "digits/hundred digits/1");
	OCTO_CHECK_STR_EQ(say_number("300", "it"), "digits/3 digits/hundred");
	OCTO_CHECK_STR_EQ(say_number("1000", "it"), "digits/thousand");
	OCTO_CHECK_STR_EQ(say_number("2000", "it"), "digits/2 digits/thousands");
	OCTO_CHECK_STR_EQ(say_number("21500", "it"),
			  "digits/21 digits/thousands digits/5 digits/hundred");
	OCTO_CHECK_STR_EQ(say_number("100000", "it"), "digits/hundred digits/thousands");
	OCTO_CHECK_STR_EQ(say_number("1000000", "it"), "digits/un digits/million");
	OCTO_CHECK_STR_EQ(say_number("2001001", "it"),
			  "digits/2 digits/millions digits/thousand digits/1");
	OCTO_CHECK_STR_EQ(say_number("-5", "it"), "digits/minus digits/5");
	OCTO_CHECK_STR_EQ(say_number("0", "it"), "digits/0");
}

OCTO_TEST(what_is_not_a_number)
{
	OCTO_CHECK_STR_EQ(say_number("", "en"), "ERR");
	OCTO_CHECK_STR_EQ(say_number("-", "en"), "ERR");
	OCTO_CHECK_STR_EQ(say_number("12a", "en"), "ERR");
	OCTO_CHECK_STR_EQ(say_number("1 2", "en"), "ERR");
	OCTO_CHECK_STR_EQ(say_number("1.", "en"), "ERR");
	OCTO_CHECK_STR_EQ(say_number(".5", "en"), "ERR");
	OCTO_CHECK_STR_EQ(say_number("1234567890", "en"), "ERR");
	OCTO_CHECK_STR_EQ(say_number("1.1234567890", "en"), "ERR");
	OCTO_CHECK_STR_EQ(say_number("--1", "en"), "ERR");
	/* leading zeros do not count against the 9 digits */
	OCTO_CHECK_STR_EQ(say_number("0000000000001", "en"), "digits/1");
	OCTO_CHECK_INT_EQ(audio_say_number(NULL, "en", NULL, 0), -1);
}

OCTO_TEST(a_short_array_is_never_overrun)
{
	char names[3][AUDIO_SAY_NAME];

	memset(names, 'x', sizeof(names));
	OCTO_CHECK_INT_EQ(audio_say_number("1234", "en", names, 3), -1);
	OCTO_CHECK_STR_EQ(names[2], "digits/2");
}

OCTO_TEST(digits_one_by_one)
{
	char names[AUDIO_SAY_MAX][AUDIO_SAY_NAME];
	int skipped, n;

	n = audio_say_digits("123", names, AUDIO_SAY_MAX, &skipped);
	OCTO_CHECK_STR_EQ(say_join(n, names), "digits/1 digits/2 digits/3");
	OCTO_CHECK_INT_EQ(skipped, 0);
	n = audio_say_digits("+39-0.5#", names, AUDIO_SAY_MAX, &skipped);
	OCTO_CHECK_STR_EQ(say_join(n, names),
			  "digits/3 digits/9 digits/minus digits/0 digits/point digits/5");
	OCTO_CHECK_INT_EQ(skipped, 2);
	n = audio_say_digits("", names, AUDIO_SAY_MAX, &skipped);
	OCTO_CHECK_INT_EQ(n, 0);
	n = audio_say_digits("12345", names, 2, &skipped);
	OCTO_CHECK_STR_EQ(say_join(n, names), "digits/1 digits/2");
}

static const char *say_date(const char *text, const char *lang)
{
	char names[AUDIO_SAY_MAX][AUDIO_SAY_NAME], err[160];
	struct audio_date d;

	if (audio_parse_date(text, NULL, &d, err, sizeof(err)))
		return "ERR";
	return say_join(audio_say_date(&d, lang, names, AUDIO_SAY_MAX), names);
}

OCTO_TEST(dates_are_read)
{
	struct audio_date d;
	char err[160];

	OCTO_CHECK_INT_EQ(audio_parse_date("2024-03-05 14:30", NULL, &d, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(d.year, 2024);
	OCTO_CHECK_INT_EQ(d.month, 3);
	OCTO_CHECK_INT_EQ(d.day, 5);
	OCTO_CHECK_INT_EQ(d.wday, 2); /* a Tuesday */
	OCTO_CHECK(d.has_time);
	OCTO_CHECK_INT_EQ(d.hour, 14);
	OCTO_CHECK_INT_EQ(d.minute, 30);
	OCTO_CHECK_INT_EQ(audio_parse_date("2024-02-29", NULL, &d, err, sizeof(err)), 0);
	OCTO_CHECK(!d.has_time);
	OCTO_CHECK_INT_EQ(d.wday, 4);
	/* 0 is Thursday 1970-01-01 00:00 UTC; 1709649000 is 2024-03-05 14:30 UTC */
	OCTO_CHECK_INT_EQ(audio_parse_date("0", NULL, &d, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(d.wday, 4);
	OCTO_CHECK_INT_EQ(d.year, 1970);
	OCTO_CHECK_INT_EQ(audio_parse_date("1709649000", NULL, &d, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(d.day, 5);
	OCTO_CHECK_INT_EQ(d.hour, 14);
	OCTO_CHECK_INT_EQ(d.minute, 30);
	OCTO_CHECK_INT_EQ(d.wday, 2);
	OCTO_CHECK_INT_EQ(audio_parse_date("2024-02-30", NULL, &d, err, sizeof(err)), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(err, "is not a date of the calendar");
	OCTO_CHECK_INT_EQ(audio_parse_date("2023-02-29", NULL, &d, err, sizeof(err)), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(audio_parse_date("2024-13-01", NULL, &d, err, sizeof(err)), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(audio_parse_date("2024-03-05 24:00", NULL, &d, err, sizeof(err)),
			  OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(err, "has no valid time (HH:MM, 00:00 to 23:59)");
	OCTO_CHECK_INT_EQ(audio_parse_date("2024-3-5", NULL, &d, err, sizeof(err)), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(err, "is neither an epoch nor YYYY-MM-DD[ HH:MM]");
	OCTO_CHECK_INT_EQ(audio_parse_date("2024-03-05x", NULL, &d, err, sizeof(err)),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(audio_parse_date("", NULL, &d, err, sizeof(err)), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(err, "no date");
	OCTO_CHECK_INT_EQ(audio_parse_date("999999999999", NULL, &d, err, sizeof(err)),
			  OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(err, "\"999999999999\" is beyond the year 9999");
	OCTO_CHECK_INT_EQ(audio_parse_date("1234567890123", NULL, &d, err, sizeof(err)),
			  OCTO_EINVAL);
}

OCTO_TEST(dates_are_said)
{
	OCTO_CHECK_STR_EQ(say_date("2024-03-05 14:30", "en"),
			  "days/tuesday months/march digits/h-5 time/at digits/2 digits/30 "
			  "time/pm");
	OCTO_CHECK_STR_EQ(say_date("2024-03-05 00:05", "en"),
			  "days/tuesday months/march digits/h-5 time/at digits/12 digits/oh "
			  "digits/5 time/am");
	OCTO_CHECK_STR_EQ(say_date("2024-03-05 12:00", "en"),
			  "days/tuesday months/march digits/h-5 time/at digits/12 time/pm");
	OCTO_CHECK_STR_EQ(say_date("2024-12-01", "en"), "days/sunday months/december digits/h-1");
	OCTO_CHECK_STR_EQ(say_date("2024-03-05 14:30", "it"),
			  "days/tuesday digits/h-5 months/march time/at digits/14 digits/and "
			  "digits/30");
	OCTO_CHECK_STR_EQ(say_date("2024-03-01 09:00", "it"),
			  "days/friday digits/h-1 months/march time/at digits/9");
}

OCTO_TEST(patterns_look_ahead)
{
	OCTO_CHECK(audio_pattern_can_extend("1XX", "1"));
	OCTO_CHECK(audio_pattern_can_extend("1XX", "12"));
	OCTO_CHECK(!audio_pattern_can_extend("1XX", "123"));
	OCTO_CHECK(!audio_pattern_can_extend("1XX", "2"));
	OCTO_CHECK(!audio_pattern_can_extend("1XX", "1234"));
	OCTO_CHECK(!audio_pattern_can_extend("1", "1"));
	OCTO_CHECK(audio_pattern_can_extend("0X.", "0"));
	OCTO_CHECK(audio_pattern_can_extend("0X.", "012345"));
	OCTO_CHECK(audio_pattern_can_extend("12!", "12"));
	OCTO_CHECK(audio_pattern_can_extend("01[567].", "015"));
	OCTO_CHECK(!audio_pattern_can_extend("01[567].", "018"));
	OCTO_CHECK(audio_pattern_can_extend("[1-3]Z", "2"));
	OCTO_CHECK(!audio_pattern_can_extend("[1-3]Z", "4"));
	OCTO_CHECK(!audio_pattern_can_extend("ZX", "0"));
	OCTO_CHECK(!audio_pattern_can_extend("NX", "1"));
	OCTO_CHECK(audio_pattern_can_extend("*4X", "*4"));
	OCTO_CHECK(!audio_pattern_can_extend("[12", "1"));
	OCTO_CHECK(!audio_pattern_can_extend("default", "1"));
	OCTO_CHECK(audio_pattern_can_extend("12", ""));
}

/* A config folder in /tmp with one file. */
static char *tmp_conf(const char *file, const char *text)
{
	static char dir[64];
	char path[128];
	FILE *fp;

	snprintf(dir, sizeof(dir), "/tmp/test_playback.XXXXXX");
	if (!mkdtemp(dir))
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fp = fopen(path, "w");
	if (!fp)
		return NULL;
	fputs(text, fp);
	fclose(fp);
	return dir;
}

static void tmp_conf_free(const char *dir, const char *file)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	unlink(path);
	rmdir(dir);
}

OCTO_TEST(the_dialplan_view_follows_includes)
{
	const char *dp = "[ivr]\n"
			 "include => more\n"
			 "exten => 1,1,Playback(ivr-sales)\n"
			 "exten => 2,1,Playback(ivr-support)\n"
			 "same => n,Hangup()\n"
			 "exten => default,1,Playback(invalid)\n"
			 "[more]\n"
			 "include => ivr\n"
			 "exten => 3XX , 1 , NoOp()\n"
			 "[other]\n"
			 "exten => 9,1,NoOp()\n";
	char *dir = tmp_conf("dialplan.conf", dp);
	struct audio_patterns p;

	OCTO_CHECK(dir != NULL);
	if (!dir)
		return;
	OCTO_CHECK_INT_EQ(audio_patterns_read(dir, "ivr", &p), 0);
	OCTO_CHECK_INT_EQ(p.count, 3);
	if (p.count == 3) {
		/* in file order, an include where it is written */
		OCTO_CHECK_STR_EQ(octo_pattern_text(p.pats[0]), "3XX");
		OCTO_CHECK_STR_EQ(octo_pattern_text(p.pats[1]), "1");
		OCTO_CHECK_STR_EQ(octo_pattern_text(p.pats[2]), "2");
	}
	OCTO_CHECK(audio_patterns_complete(&p, "1"));
	OCTO_CHECK(audio_patterns_complete(&p, "2"));
	OCTO_CHECK(!audio_patterns_complete(&p, "3"));
	OCTO_CHECK(!audio_patterns_complete(&p, "31"));
	OCTO_CHECK(audio_patterns_complete(&p, "312"));
	OCTO_CHECK(audio_patterns_complete(&p, "9")); /* nothing can follow: go */
	audio_patterns_free(&p);
	OCTO_CHECK_INT_EQ(audio_patterns_read(dir, "nosuch", &p), 0);
	OCTO_CHECK_INT_EQ(p.count, 0);
	audio_patterns_free(&p);
	OCTO_CHECK_INT_EQ(audio_patterns_read(NULL, "ivr", &p), OCTO_EINVAL);
	tmp_conf_free(dir, "dialplan.conf");
}

static const char *diag_text(const struct octo_diags *d)
{
	static char buf[1024];

	buf[0] = '\0';
	for (size_t i = 0; i < d->count; i++) {
		strncat(buf, d->items[i].message, sizeof(buf) - strlen(buf) - 2);
		strcat(buf, "\n");
	}
	return buf;
}

OCTO_TEST(features_keys)
{
	struct octo_diags diags = { 0 };
	struct audio_features ft;
	char *dir;

	/* no file: the defaults */
	OCTO_CHECK_INT_EQ(audio_features_read("/nonexistent-octo-dir", &ft, &diags), 0);
	OCTO_CHECK_INT_EQ(ft.digit_timeout_ms, 3000);
	OCTO_CHECK_INT_EQ(ft.send_key, '#');
	octo_diags_free(&diags);

	dir = tmp_conf("features.conf", "[general]\ncountry_code = 39\ndigit_timeout = 1500ms\n"
					"send_key = *\n");
	OCTO_CHECK(dir != NULL);
	if (!dir)
		return;
	OCTO_CHECK_INT_EQ(audio_features_read(dir, &ft, &diags), 0);
	OCTO_CHECK_INT_EQ(ft.digit_timeout_ms, 1500);
	OCTO_CHECK_INT_EQ(ft.send_key, '*');
	OCTO_CHECK_INT_EQ(diags.count, 0);
	octo_diags_free(&diags);
	tmp_conf_free(dir, "features.conf");

	dir = tmp_conf("features.conf", "[general]\nsend_key = none\ndigit_timout = 2s\n");
	OCTO_CHECK_INT_EQ(audio_features_read(dir, &ft, &diags), 0);
	OCTO_CHECK_INT_EQ(ft.send_key, 0);
	OCTO_CHECK_CONTAINS(diag_text(&diags), "unknown option \"digit_timout\"");
	OCTO_CHECK_CONTAINS(diag_text(&diags), "digit_timeout");
	octo_diags_free(&diags);
	tmp_conf_free(dir, "features.conf");

	dir = tmp_conf("features.conf", "[general]\nsend_key = ##\ndigit_timeout = 100ms\n");
	OCTO_CHECK_INT_EQ(audio_features_read(dir, &ft, &diags), OCTO_ECONFIG);
	OCTO_CHECK_CONTAINS(diag_text(&diags), "features.conf:2: [general] send_key: \"##\" is not "
					       "a DTMF key (0-9 * # A-D, or none)");
	OCTO_CHECK_CONTAINS(diag_text(&diags), "features.conf:3: [general] digit_timeout: "
					       "\"100ms\" is out of range");
	octo_diags_free(&diags);
	tmp_conf_free(dir, "features.conf");
}

OCTO_TEST(file_names)
{
	OCTO_CHECK(audio_file_name_valid("recordings/greeting"));
	OCTO_CHECK(audio_file_name_valid("msg-1.2_x+y"));
	OCTO_CHECK(!audio_file_name_valid(""));
	OCTO_CHECK(!audio_file_name_valid("../etc/passwd"));
	OCTO_CHECK(!audio_file_name_valid("a/../b"));
	OCTO_CHECK(!audio_file_name_valid("/tmp/x"));
	OCTO_CHECK(!audio_file_name_valid(".hidden"));
	OCTO_CHECK(!audio_file_name_valid("a//b"));
	OCTO_CHECK(!audio_file_name_valid("a/b/"));
	OCTO_CHECK(!audio_file_name_valid("a b"));
	OCTO_CHECK(!audio_file_name_valid("a;rm"));
}

OCTO_TEST_MAIN()
