/*
 * test_numbering.c - app_numbering compiled in (#include): the parser of
 * features.conf and its messages, number normalization, trunk formats and
 * call classes for each country of the sample configs/features.conf, the
 * outside line prefix, ACL decisions, CheckACL on fake channels (the
 * announcement played as frames, or not when there is no audio) and
 * hostile input.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "octo/config.h"
#include "octo/registry.h"
#include "../../core/internal.h"
#include "octo_test.h"

#include "../../modules/apps/app_numbering.c"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "."
#endif
#ifndef TEST_MODULE_DIR
#define TEST_MODULE_DIR "modules/codecs"
#endif

/* ---------------------------------------------------------------- helpers */

/* Builds a configuration from text; diagnostics are kept in `d` (may be NULL). */
static struct num_conf *conf_text(const char *text, struct octo_diags *d)
{
	struct octo_diags local = { 0 };
	struct octo_cfg *cfg;
	struct num_conf *c;

	if (!d)
		d = &local;
	cfg = octo_cfg_parse_string(text, "features.conf", NULL, d);
	c = cfg ? num_build_cfg(cfg, d) : NULL;
	octo_cfg_free(cfg);
	octo_diags_free(&local);
	return c;
}

/* All the diagnostics of a text, joined by '\n' (static buffer). */
static const char *diags_of(const char *text)
{
	static char buf[8192];
	struct octo_diags d = { 0 };
	struct num_conf *c = conf_text(text, &d);
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < d.count && off < sizeof(buf); i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s%s", i ? "\n" : "",
					d.items[i].severity == OCTO_DIAG_ERROR ? "E " : "W ",
					d.items[i].message);
	octo_obj_unref(c);
	octo_diags_free(&d);
	return buf;
}

static char *sample_text(void)
{
	FILE *f = fopen(TEST_SRCDIR "/configs/features.conf", "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* Replaces the first line of `text` that is exactly `line` by `with`
 * (a new string; `text` is freed). */
static char *edit_line(char *text, const char *line, const char *with)
{
	size_t ll = strlen(line), len;
	char *at = text, *out;

	while (at && (strncmp(at, line, ll) || (at[ll] != '\n' && at[ll] != '\0'))) {
		at = strchr(at, '\n');
		at = at ? at + 1 : NULL;
	}
	if (!at) {
		printf("  edit_line: no line \"%s\" in the sample\n", line);
		free(text);
		return NULL;
	}
	len = strlen(text) + strlen(with) + 1;
	out = malloc(len);
	snprintf(out, len, "%.*s%s%s", (int)(at - text), text, with, at + ll);
	free(text);
	return out;
}

/*
 * The sample features.conf with country_code set to `cc` and `extra` lines
 * added to [general] (e.g. "outside_line_prefix = 0\n"); with `intl`, the
 * [general] international_prefix is that one. The count of diagnostics
 * goes to *ndiags (each is printed).
 */
static struct num_conf *sample_full(const char *cc, const char *extra, const char *intl,
				    size_t *ndiags)
{
	char *text = sample_text(), line[256];
	struct octo_diags d = { 0 };
	struct num_conf *c;

	snprintf(line, sizeof(line), "%scountry_code = %s", extra, cc);
	if (text)
		text = edit_line(text, "country_code = 39", line);
	if (text && intl) {
		snprintf(line, sizeof(line), "international_prefix = %s", intl);
		text = edit_line(text, "international_prefix = 00", line);
	}
	if (!text)
		return NULL;
	c = conf_text(text, &d);
	if (ndiags)
		*ndiags = d.count;
	for (size_t i = 0; i < d.count; i++)
		printf("  diag: %s\n", d.items[i].message);
	octo_diags_free(&d);
	free(text);
	return c;
}

static struct num_conf *sample(const char *cc, const char *extra, size_t *ndiags)
{
	return sample_full(cc, extra, NULL, ndiags);
}

/* "features.conf:N" for the first line of the sample that starts with `start`. */
static const char *line_of(const char *start)
{
	static char buf[64];
	char *text = sample_text(), *at = text;
	int line = 1;

	snprintf(buf, sizeof(buf), "features.conf:?");
	while (at && *at) {
		if (!strncmp(at, start, strlen(start))) {
			snprintf(buf, sizeof(buf), "features.conf:%d", line);
			break;
		}
		at = strchr(at, '\n');
		at = at ? at + 1 : NULL;
		line++;
	}
	free(text);
	return buf;
}

/* A string made of the concatenation of the parts (static, for one check). */
static const char *cat3(const char *a, const char *b, const char *c)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s%s%s", a, b, c);
	return buf;
}

static char norm_buf[OCTO_NUM_MAX];

static const char *norm(const struct num_conf *c, const char *in, enum octo_num_origin o)
{
	int rc = num_do_normalize(c, in, o, norm_buf, sizeof(norm_buf));

	if (rc < 0)
		return "EINVAL";
	return norm_buf;
}

static int norm_rc(const struct num_conf *c, const char *in)
{
	char buf[OCTO_NUM_MAX];

	return num_do_normalize(c, in, OCTO_NUM_RECEIVED, buf, sizeof(buf));
}

static const char *fmt(const struct num_conf *c, const char *in, enum octo_num_format f)
{
	static char buf[OCTO_NUM_MAX];

	if (num_do_format(c, in, f, OCTO_NUM_DIALED, buf, sizeof(buf)) < 0)
		return "EINVAL";
	return buf;
}

static const char *cls(const struct num_conf *c, const char *in)
{
	struct octo_num_info info;
	int rc = num_analyse(c, in, OCTO_NUM_DIALED, &info);

	return rc < 0 ? "EINVAL" : num_class_name((enum octo_num_class)rc);
}

static const char *why(const struct num_conf *c, const char *in)
{
	static struct octo_num_info info;

	num_analyse(c, in, OCTO_NUM_DIALED, &info);
	return info.why;
}

/* ---------------------------------------------------------------- the sample */

OCTO_TEST(sample_loads_clean_for_every_country)
{
	static const char *const ccs[] = { "39", "49", "33", "44", "1" };

	for (size_t i = 0; i < OCTO_ARRAY_LEN(ccs); i++) {
		size_t n = 99;
		struct num_conf *c = sample(ccs[i], "", &n);

		OCTO_CHECK(c != NULL);
		OCTO_CHECK_INT_EQ(n, 0);
		if (c) {
			OCTO_CHECK_STR_EQ(c->cc, ccs[i]);
			OCTO_CHECK(c->country != NULL);
			OCTO_CHECK_INT_EQ(c->ncountries, 5);
			OCTO_CHECK_INT_EQ(c->nacls, 3);
		}
		octo_obj_unref(c);
	}
}

OCTO_TEST(sample_prefixes_come_from_the_country)
{
	struct num_conf *it = sample("39", "", NULL), *us = sample("1", "", NULL);

	OCTO_CHECK(it && us);
	if (!it || !us)
		goto out;
	OCTO_CHECK_STR_EQ(it->national_prefix, "");
	OCTO_CHECK_STR_EQ(it->international_prefix, "00");
	OCTO_CHECK_STR_EQ(us->national_prefix, "1");
	/* [general] says international_prefix = 00: it wins over the country's 011 */
	OCTO_CHECK_STR_EQ(us->international_prefix, "00");
	OCTO_CHECK_STR_EQ(it->acl_default, "employees");
out:
	octo_obj_unref(it);
	octo_obj_unref(us);
}

/* ---------------------------------------------------------------- Italy */

OCTO_TEST(italy_normalizes_received_numbers)
{
	struct num_conf *c = sample("39", "", NULL);

	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	OCTO_CHECK_STR_EQ(norm(c, "0212345678", OCTO_NUM_RECEIVED), "+390212345678");
	OCTO_CHECK_STR_EQ(norm(c, "06 1234 5678", OCTO_NUM_RECEIVED), "+390612345678");
	OCTO_CHECK_STR_EQ(norm(c, "3331234567", OCTO_NUM_RECEIVED), "+393331234567");
	OCTO_CHECK_STR_EQ(norm(c, "+39 333 123-4567", OCTO_NUM_RECEIVED), "+393331234567");
	OCTO_CHECK_STR_EQ(norm(c, "(02) 1234.5678", OCTO_NUM_RECEIVED), "+390212345678");
	OCTO_CHECK_STR_EQ(norm(c, "00390212345678", OCTO_NUM_RECEIVED), "+390212345678");
	OCTO_CHECK_STR_EQ(norm(c, "00442079460000", OCTO_NUM_RECEIVED), "+442079460000");
	OCTO_CHECK_STR_EQ(norm(c, "+12125551234", OCTO_NUM_RECEIVED), "+12125551234");
	OCTO_CHECK_STR_EQ(norm(c, "800123456", OCTO_NUM_RECEIVED), "+39800123456");
	OCTO_CHECK_STR_EQ(norm(c, "899123456", OCTO_NUM_RECEIVED), "+39899123456");
	OCTO_CHECK_INT_EQ(norm_rc(c, "3331234567"), OCTO_NUM_NORMALIZED);
	/* kept as they are */
	OCTO_CHECK_STR_EQ(norm(c, "112", OCTO_NUM_RECEIVED), "112");
	OCTO_CHECK_INT_EQ(norm_rc(c, "112"), OCTO_NUM_KEPT);
	OCTO_CHECK_STR_EQ(norm(c, "1240", OCTO_NUM_RECEIVED), "1240");
	OCTO_CHECK_STR_EQ(norm(c, "101", OCTO_NUM_RECEIVED), "101");
	OCTO_CHECK_INT_EQ(norm_rc(c, "101"), OCTO_NUM_KEPT);
	OCTO_CHECK_STR_EQ(norm(c, "anonymous", OCTO_NUM_RECEIVED), "anonymous");
	OCTO_CHECK_INT_EQ(norm_rc(c, "anonymous"), OCTO_NUM_KEPT);
	OCTO_CHECK_STR_EQ(norm(c, "*21", OCTO_NUM_RECEIVED), "*21");
	/* E.164 has at most 15 digits: a longer number is kept */
	OCTO_CHECK_STR_EQ(norm(c, "+3912345678901234", OCTO_NUM_RECEIVED), "+3912345678901234");
	OCTO_CHECK_INT_EQ(norm_rc(c, "+3912345678901234"), OCTO_NUM_KEPT);
	OCTO_CHECK_STR_EQ(norm(c, "000", OCTO_NUM_RECEIVED), "000");
	octo_obj_unref(c);
}

OCTO_TEST(italy_classifies)
{
	struct num_conf *c = sample("39", "", NULL);

	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	OCTO_CHECK_STR_EQ(cls(c, "112"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "113"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "115"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "118"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "1530"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "+39112"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "3331234567"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "345 123 4567"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "+393331234567"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "00393331234567"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "0612345678"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "0212345"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "800123456"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "803123"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "187"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "116000"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "899123456"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "892892"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "848800800"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "1254"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "00442079460000"), "international");
	OCTO_CHECK_STR_EQ(cls(c, "+4930123456"), "international");
	OCTO_CHECK_STR_EQ(cls(c, "0012125551234"), "international");
	OCTO_CHECK_STR_EQ(cls(c, "100"), "internal");
	OCTO_CHECK_STR_EQ(cls(c, "600"), "internal");
	OCTO_CHECK_STR_EQ(cls(c, "5123"), "unknown");
	OCTO_CHECK_STR_EQ(cls(c, "fax"), "unknown");
	OCTO_CHECK_STR_EQ(cls(c, "+39"), "unknown");
	OCTO_CHECK_STR_EQ(why(c, "+39"), "+39: only the country code");
	OCTO_CHECK_STR_EQ(cls(c, "+"), "unknown");
	OCTO_CHECK_STR_EQ(why(c, "+"), "not a phone number: kept as it is");
	OCTO_CHECK_STR_EQ(cls(c, ""), "EINVAL");
	OCTO_CHECK_STR_EQ(why(c, "3331234567"),
			  cat3("a national number (no national prefix in this country) "
			       "+393331234567, nationally: 3331234567 matches the mobile pattern "
			       "3XXXXXXX. of [classes-39] (",
			       line_of("mobile = 3XXXXXXX."), ")"));
	OCTO_CHECK_STR_EQ(why(c, "00442079460000"),
			  "international prefix: +442079460000: the country code is not 39");
	OCTO_CHECK_STR_EQ(why(c, "112"),
			  cat3("is the emergency number 112 of [classes-39] (",
			       line_of("emergency = 112, 113"), ")"));
	OCTO_CHECK_STR_EQ(why(c, "101"), cat3("matches the internal pattern 10X of [general] (",
					      line_of("internal = 10X"), ")"));
	OCTO_CHECK_STR_EQ(why(c, "1254"),
			  cat3("a short number (pattern 1X. of [classes-39] short), kept: 1254 "
			       "matches the premium pattern 12XX of [classes-39] (",
			       line_of("premium = 89X."), ")"));
	OCTO_CHECK_STR_EQ(why(c, "5123"),
			  "a national number (no national prefix in this country) +395123, "
			  "nationally: 5123 matches no pattern of [classes-39]");
	octo_obj_unref(c);
}

OCTO_TEST(italy_formats_for_trunks)
{
	struct num_conf *c = sample("39", "", NULL);

	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	OCTO_CHECK_STR_EQ(fmt(c, "0612345678", OCTO_NUM_FMT_E164), "+390612345678");
	OCTO_CHECK_STR_EQ(fmt(c, "0612345678", OCTO_NUM_FMT_INTERNATIONAL), "00390612345678");
	OCTO_CHECK_STR_EQ(fmt(c, "+390612345678", OCTO_NUM_FMT_NATIONAL), "0612345678");
	OCTO_CHECK_STR_EQ(fmt(c, "+393331234567", OCTO_NUM_FMT_NATIONAL), "3331234567");
	OCTO_CHECK_STR_EQ(fmt(c, "+393331234567", OCTO_NUM_FMT_SIGNIFICANT), "3331234567");
	/* another country: the national format is the international one */
	OCTO_CHECK_STR_EQ(fmt(c, "+442079460000", OCTO_NUM_FMT_NATIONAL), "00442079460000");
	OCTO_CHECK_STR_EQ(fmt(c, "00442079460000", OCTO_NUM_FMT_E164), "+442079460000");
	OCTO_CHECK_STR_EQ(fmt(c, "+44 20 7946 0000", OCTO_NUM_FMT_DIALED), "+442079460000");
	/* kept numbers are kept in every format */
	OCTO_CHECK_STR_EQ(fmt(c, "112", OCTO_NUM_FMT_E164), "112");
	OCTO_CHECK_STR_EQ(fmt(c, "112", OCTO_NUM_FMT_INTERNATIONAL), "112");
	OCTO_CHECK_STR_EQ(fmt(c, "101", OCTO_NUM_FMT_NATIONAL), "101");
	OCTO_CHECK_STR_EQ(fmt(c, "", OCTO_NUM_FMT_E164), "EINVAL");
	octo_obj_unref(c);
}

OCTO_TEST(italy_outside_line_prefix)
{
	struct num_conf *c = sample("39", "outside_line_prefix = 0\n", NULL);

	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	/* dialled: the 0 for the outside line goes first */
	OCTO_CHECK_STR_EQ(norm(c, "00612345678", OCTO_NUM_DIALED), "+390612345678");
	OCTO_CHECK_STR_EQ(norm(c, "03331234567", OCTO_NUM_DIALED), "+393331234567");
	OCTO_CHECK_STR_EQ(norm(c, "000442079460000", OCTO_NUM_DIALED), "+442079460000");
	OCTO_CHECK_STR_EQ(cls(c, "000442079460000"), "international");
	OCTO_CHECK_STR_EQ(cls(c, "00612345678"), "national");
	/* received numbers keep their 0 */
	OCTO_CHECK_STR_EQ(norm(c, "0612345678", OCTO_NUM_RECEIVED), "+390612345678");
	OCTO_CHECK_STR_EQ(norm(c, "00442079460000", OCTO_NUM_RECEIVED), "+442079460000");
	/* emergency with and without the outside line */
	OCTO_CHECK_STR_EQ(cls(c, "112"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "0112"), "emergency");
	OCTO_CHECK_STR_EQ(norm(c, "0112", OCTO_NUM_DIALED), "112");
	/* extensions are not outside numbers */
	OCTO_CHECK_STR_EQ(cls(c, "101"), "internal");
	OCTO_CHECK_STR_EQ(fmt(c, "00612345678", OCTO_NUM_FMT_DIALED), "0612345678");
	OCTO_CHECK_STR_EQ(fmt(c, "00612345678", OCTO_NUM_FMT_NATIONAL), "0612345678");
	/* "0" alone is not stripped to nothing */
	OCTO_CHECK_STR_EQ(norm(c, "0", OCTO_NUM_DIALED), "+390");
	octo_obj_unref(c);
}

/* ---------------------------------------------------------------- Germany */

OCTO_TEST(germany)
{
	struct num_conf *c = sample("49", "", NULL);
	struct num_conf *berlin = sample("49", "area_code = 30\n", NULL);

	OCTO_CHECK(c && berlin);
	if (!c || !berlin)
		goto out;
	OCTO_CHECK_STR_EQ(norm(c, "030123456", OCTO_NUM_RECEIVED), "+4930123456");
	OCTO_CHECK_STR_EQ(norm(c, "0171 1234567", OCTO_NUM_RECEIVED), "+491711234567");
	OCTO_CHECK_STR_EQ(norm(c, "0049301234567", OCTO_NUM_RECEIVED), "+49301234567");
	OCTO_CHECK_STR_EQ(norm(c, "0039061234567", OCTO_NUM_RECEIVED), "+39061234567");
	OCTO_CHECK_STR_EQ(norm(c, "1234567", OCTO_NUM_RECEIVED), "1234567");
	OCTO_CHECK_STR_EQ(norm(berlin, "1234567", OCTO_NUM_RECEIVED), "+49301234567");
	OCTO_CHECK_STR_EQ(norm(berlin, "11833", OCTO_NUM_RECEIVED), "11833");
	OCTO_CHECK_STR_EQ(cls(c, "110"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "112"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "01511234567"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "01621234567"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "0176 12345678"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "+491711234567"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "030123456"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "089 1234567"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "08001234567"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "116117"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "09001234567"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "01371234567"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "0180 5123456"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "07001234567"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "11833"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "118000"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "0039061234567"), "international");
	OCTO_CHECK_STR_EQ(cls(c, "1234567"), "national");
	OCTO_CHECK_STR_EQ(why(c, "1234567"),
			  "a local number, kept (no area_code to give it the country and area "
			  "code)");
	OCTO_CHECK_STR_EQ(cls(berlin, "1234567"), "national");
	OCTO_CHECK_STR_EQ(fmt(c, "+4930123456", OCTO_NUM_FMT_NATIONAL), "030123456");
	OCTO_CHECK_STR_EQ(fmt(c, "+4930123456", OCTO_NUM_FMT_SIGNIFICANT), "30123456");
	OCTO_CHECK_STR_EQ(fmt(c, "030123456", OCTO_NUM_FMT_INTERNATIONAL), "004930123456");
	OCTO_CHECK_STR_EQ(fmt(c, "+39061234567", OCTO_NUM_FMT_NATIONAL), "0039061234567");
out:
	octo_obj_unref(c);
	octo_obj_unref(berlin);
}

/* ---------------------------------------------------------------- France */

OCTO_TEST(france)
{
	struct num_conf *c = sample("33", "", NULL);

	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	OCTO_CHECK_STR_EQ(norm(c, "06 12 34 56 78", OCTO_NUM_RECEIVED), "+33612345678");
	OCTO_CHECK_STR_EQ(norm(c, "01.40.00.00.00", OCTO_NUM_RECEIVED), "+33140000000");
	OCTO_CHECK_STR_EQ(norm(c, "0033140000000", OCTO_NUM_RECEIVED), "+33140000000");
	OCTO_CHECK_STR_EQ(norm(c, "15", OCTO_NUM_RECEIVED), "15");
	OCTO_CHECK_STR_EQ(norm(c, "3949", OCTO_NUM_RECEIVED), "3949");
	OCTO_CHECK_STR_EQ(cls(c, "15"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "17"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "18"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "112"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "196"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "0612345678"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "0756123456"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "+33612345678"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "0140000000"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "0912345678"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "0800123456"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "0899123456"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "0812345678"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "118712"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "3949"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "0039061234567"), "international");
	/* 07 below 073 is not a mobile range */
	OCTO_CHECK_STR_EQ(cls(c, "0712345678"), "unknown");
	OCTO_CHECK_STR_EQ(fmt(c, "+33612345678", OCTO_NUM_FMT_NATIONAL), "0612345678");
	OCTO_CHECK_STR_EQ(fmt(c, "0612345678", OCTO_NUM_FMT_INTERNATIONAL), "0033612345678");
	octo_obj_unref(c);
}

/* ---------------------------------------------------------------- United Kingdom */

OCTO_TEST(united_kingdom)
{
	struct num_conf *c = sample("44", "", NULL);

	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	OCTO_CHECK_STR_EQ(norm(c, "020 7946 0000", OCTO_NUM_RECEIVED), "+442079460000");
	OCTO_CHECK_STR_EQ(norm(c, "07700 900123", OCTO_NUM_RECEIVED), "+447700900123");
	OCTO_CHECK_STR_EQ(norm(c, "+44 (0)20 7946 0000", OCTO_NUM_RECEIVED), "+4402079460000");
	OCTO_CHECK_STR_EQ(norm(c, "999", OCTO_NUM_RECEIVED), "999");
	OCTO_CHECK_STR_EQ(cls(c, "999"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "112"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "07700900123"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "07624123456"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "+447911123456"), "mobile");
	OCTO_CHECK_STR_EQ(cls(c, "07612345678"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "07012345678"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "02079460000"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "01632960000"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "03001234567"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "08001234567"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "111"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "09098790000"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "08451234567"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "08712345678"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "118118"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "0033140000000"), "international");
	OCTO_CHECK_STR_EQ(fmt(c, "+442079460000", OCTO_NUM_FMT_NATIONAL), "02079460000");
	OCTO_CHECK_STR_EQ(fmt(c, "02079460000", OCTO_NUM_FMT_E164), "+442079460000");
	octo_obj_unref(c);
}

/* ---------------------------------------------------------------- USA */

OCTO_TEST(usa)
{
	size_t n = 99;
	/* the sample's [general] says 00: an American PBX says 011 */
	struct num_conf *c = sample_full("1", "", "011", &n);

	OCTO_CHECK(c != NULL);
	OCTO_CHECK_INT_EQ(n, 0);
	if (!c)
		return;
	OCTO_CHECK_STR_EQ(c->international_prefix, "011");
	OCTO_CHECK_STR_EQ(norm(c, "(212) 555-1234", OCTO_NUM_RECEIVED), "+12125551234");
	OCTO_CHECK_STR_EQ(norm(c, "1-212-555-1234", OCTO_NUM_RECEIVED), "+12125551234");
	OCTO_CHECK_STR_EQ(norm(c, "011 44 20 7946 0000", OCTO_NUM_RECEIVED), "+442079460000");
	OCTO_CHECK_STR_EQ(norm(c, "5551234", OCTO_NUM_RECEIVED), "5551234");
	OCTO_CHECK_STR_EQ(norm(c, "411", OCTO_NUM_RECEIVED), "411");
	OCTO_CHECK_STR_EQ(cls(c, "911"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "988"), "emergency");
	OCTO_CHECK_STR_EQ(cls(c, "2125551234"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "18005551234"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "311"), "national");
	OCTO_CHECK_STR_EQ(cls(c, "19005551234"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "9005551234"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "2129761234"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "411"), "premium");
	OCTO_CHECK_STR_EQ(cls(c, "18765551234"), "international");
	OCTO_CHECK_STR_EQ(cls(c, "8095551234"), "international");
	OCTO_CHECK_STR_EQ(cls(c, "011442079460000"), "international");
	OCTO_CHECK_STR_EQ(cls(c, "5551234"), "national");
	OCTO_CHECK_STR_EQ(fmt(c, "2125551234", OCTO_NUM_FMT_NATIONAL), "12125551234");
	OCTO_CHECK_STR_EQ(fmt(c, "2125551234", OCTO_NUM_FMT_SIGNIFICANT), "2125551234");
	OCTO_CHECK_STR_EQ(fmt(c, "2125551234", OCTO_NUM_FMT_INTERNATIONAL), "01112125551234");
	OCTO_CHECK_STR_EQ(fmt(c, "+442079460000", OCTO_NUM_FMT_NATIONAL), "011442079460000");
	octo_obj_unref(c);
}

/* ---------------------------------------------------------------- ACL */

static const char acl_conf[] =
	"[general]\ncountry_code = 39\ninternal = 2XX\nacl_default = "
	"employees\n[classes-39]\nnational_prefix =\nemergency = 112, 118\nmobile = 3X.\nnational "
	"= 0X.\npremium = 89X.\n[acl-employees]\nallow = internal, national, mobile\ndeny = "
	"international, premium\n[acl-boss]\nallow = all\ndeny = premium\n[acl-nobody]\nallow = "
	"internal\ndeny = all\n";

static const char *acl(const struct num_conf *c, const char *group, const char *number)
{
	static char buf[512];
	struct octo_acl_verdict v;
	int rc = num_do_acl(c, NULL, group, number, OCTO_NUM_DIALED, &v);

	snprintf(buf, sizeof(buf), "%d %s: %s", rc, v.allowed ? "allowed" : "denied", v.why);
	return buf;
}

OCTO_TEST(acl_decisions)
{
	struct octo_diags d = { 0 };
	struct num_conf *c = conf_text(acl_conf, &d);

	OCTO_CHECK(c != NULL);
	if (!c) {
		octo_diags_free(&d);
		return;
	}
	OCTO_CHECK_STR_EQ(acl(c, "employees", "0612345678"),
			  "1 allowed: national is in the allow list of [acl-employees] "
			  "(features.conf:11)");
	OCTO_CHECK_STR_EQ(acl(c, "employees", "00442079460000"),
			  "0 denied: international is in the deny list of [acl-employees] "
			  "(features.conf:11)");
	OCTO_CHECK_STR_EQ(acl(c, "employees", "899123"),
			  "0 denied: premium is in the deny list of [acl-employees] "
			  "(features.conf:11)");
	OCTO_CHECK_STR_EQ(acl(c, "employees", "5555"),
			  "0 denied: unknown is not in the allow list of [acl-employees] "
			  "(features.conf:11)");
	OCTO_CHECK_STR_EQ(acl(c, "employees", "112"),
			  "1 allowed: emergency numbers are always allowed");
	OCTO_CHECK_STR_EQ(acl(c, "boss", "00442079460000"),
			  "1 allowed: international is in the allow list of [acl-boss] "
			  "(features.conf:14)");
	OCTO_CHECK_STR_EQ(acl(c, "boss", "899123"),
			  "0 denied: premium is in the deny list of [acl-boss] (features.conf:14)");
	OCTO_CHECK_STR_EQ(acl(c, "nobody", "118"),
			  "1 allowed: emergency numbers are always allowed");
	OCTO_CHECK_STR_EQ(acl(c, "nobody", "200"),
			  "0 denied: internal is in the deny list of [acl-nobody] "
			  "(features.conf:17)");
	OCTO_CHECK_STR_EQ(acl(c, "sales", "0612345678"),
			  "0 denied: ACL group \"sales\" is not defined in features.conf (no "
			  "[acl-sales]): only emergency numbers are allowed");
	OCTO_CHECK_STR_EQ(acl(c, "sales", "112"),
			  "1 allowed: emergency numbers are always allowed");
	OCTO_CHECK_STR_EQ(acl(c, NULL, "0612345678"),
			  "1 allowed: national is in the allow list of [acl-employees] "
			  "(features.conf:11)");
	OCTO_CHECK_STR_EQ(acl(c, NULL, "hello world"),
			  "-3 denied: not a number (empty, longer than 64 characters, blanks or "
			  "control characters)");
	/* who: no user, so acl_default */
	{
		struct octo_acl_verdict v;

		num_do_acl(c, "200", NULL, "0612345678", OCTO_NUM_DIALED, &v);
		OCTO_CHECK_STR_EQ(v.group, "employees");
		OCTO_CHECK_STR_EQ(v.source, "acl_default of [general] (caller 200 is not a user)");
		num_do_acl(c, NULL, "boss", "0612345678", OCTO_NUM_DIALED, &v);
		OCTO_CHECK_STR_EQ(v.group, "boss");
		OCTO_CHECK_STR_EQ(v.source, "given");
	}
	/* the warnings for deny = all */
	OCTO_CHECK_STR_EQ(diags_of(acl_conf),
			  "W features.conf:19: [acl-nobody] deny: emergency numbers are always "
			  "allowed: the group cannot deny them (ignored for emergency)\nW "
			  "features.conf:19: [acl-nobody] internal is both allowed and denied: "
			  "denied (deny wins)");
	octo_obj_unref(c);
	octo_diags_free(&d);
}

OCTO_TEST(acl_without_default_allows_everything)
{
	struct num_conf *c = conf_text("[general]\ncountry_code = 39\n"
				       "[classes-39]\nnational_prefix =\nnational = 0X.\n",
				       NULL);
	struct octo_acl_verdict v;

	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	OCTO_CHECK_INT_EQ(num_do_acl(c, "100", NULL, "00442079460000", OCTO_NUM_DIALED, &v), 1);
	OCTO_CHECK_STR_EQ(v.why, "no ACL group applies (no acl_group, no acl_default): "
				 "international is allowed");
	OCTO_CHECK_STR_EQ(v.group, "");
	octo_obj_unref(c);
}

/* ---------------------------------------------------------------- config errors */

OCTO_TEST(config_errors_name_file_line_and_key)
{
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = +39\n[classes-39]\n"),
			  "E features.conf:2: [general] country_code: \"+39\" is not a country "
			  "calling code (1 to 3 digits, not starting with 0, without '+': 39, 49, "
			  "1)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n"),
			  "E features.conf:2: [general] country_code: 39 has no [classes-39] "
			  "section (the call classes of the country)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ninternal = 1XX\n"),
			  "E features.conf:1: [general] country_code: required option missing (the "
			  "PBX's country calling code, e.g. 39)");
	OCTO_CHECK_STR_EQ(diags_of("[other]\nx = 1\n"),
			  "E features.conf: [general] is missing (country_code and the other "
			  "numbering keys)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\n"
				   "mobile = 3X.\nmobile = 3X.5\n"),
			  "E features.conf:5: [classes-39] mobile: \"3X.5\" is not a valid "
			  "pattern: '.' must be the last character");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\n"
				   "mobile = 3X.\npremium = 89X., 3X.\n"),
			  "E features.conf:5: [classes-39] premium: pattern 3X. is already a "
			  "mobile pattern (features.conf:4)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\n"
				   "mobile = 3X., 3X.\n"),
			  "W features.conf:4: [classes-39] mobile: pattern 3X. is listed twice "
			  "(also at features.conf:4)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\nmobil = 3X.\n"),
			  "W features.conf:4: [classes-39] unknown option \"mobil\" (did you mean "
			  "\"mobile\"?)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-it]\n"),
			  "E features.conf:3: [classes-it] a [classes-CC] section is named by the "
			  "country calling code (1 to 3 digits, not starting with 0): "
			  "[classes-39], [classes-1]");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\n[classes-39]\n"),
			  "E features.conf:4: [classes-39] is already defined at features.conf:3");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\nacl_default = staff\n"
				   "[classes-39]\n"),
			  "E features.conf:3: [general] acl_default: there is no [acl-staff] "
			  "section");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\n[acl-x]\n"
				   "allow = nationl, mobile\n"),
			  "E features.conf:5: [acl-x] allow: \"nationl\" is not a call class "
			  "(internal, national, mobile, international, premium, emergency, unknown "
			  "or all) (did you mean \"national\"?)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\n[acl-a b]\n"),
			  "E features.conf:4: [acl-a b] an ACL group is named [acl-NAME], NAME "
			  "made of letters, digits, '_', '-' and '.' (at most 63)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\n[acl-x]\n"
				   "deny = premium\n"),
			  "W features.conf:4: [acl-x] has no allow key: its users can call "
			  "emergency numbers only");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\n[acl-x]\n"
				   "allow = national, premium\ndeny = premium\n"),
			  "W features.conf:6: [acl-x] premium is both allowed and denied: denied "
			  "(deny wins)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\nnational_prefix = 0\n"
				   "[classes-39]\nnational_prefix =\n"),
			  "W features.conf:3: [general] national_prefix: \"0\" differs from the "
			  "one of [classes-39] (features.conf:4): \"\" (none: the leading 0 is "
			  "part of the number there)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\ninternal = 1XX\n"
				   "[classes-39]\nemergency = 112\n"),
			  "W features.conf:3: [general] internal: pattern 1XX also matches the "
			  "emergency number 112: it is always an emergency call");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\nnational_prefix = 00\n"
				   "[classes-39]\n"),
			  "E features.conf:3: [general] the national and the international prefix "
			  "are both \"00\"");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 49\narea_code = 030\n"
				   "[classes-49]\nnational_prefix = 0\n"),
			  "W features.conf:3: [general] area_code: \"030\" starts with the "
			  "national prefix \"0\": give it without the prefix (30 for Berlin, not "
			  "030)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\noutside_line_prefix = x\n"
				   "[classes-39]\n"),
			  "E features.conf:3: [general] outside_line_prefix: \"x\" is not a prefix "
			  "(1 to 4 digits)");
	OCTO_CHECK_STR_EQ(diags_of("[classes]\n[acl]\n[general]\ncountry_code = 39\n"
				   "[classes-39]\n"),
			  "E features.conf:1: [classes] needs the country calling code: "
			  "[classes-39]\nE features.conf:2: [acl] needs the group's name: "
			  "[acl-employees]");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\ninternal = 1XX\n"),
			  "W features.conf:4: [classes-39] internal: the PBX's extensions are set "
			  "in [general] internal, not per country (ignored)");
}

OCTO_TEST(general_is_shared_with_other_parts)
{
	/* keys of other parts are not ours: silently left alone */
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\nparkext = 700\n"
				   "featuredigittimeout = 1000\n[classes-39]\n[parking]\nx = 1\n"),
			  "");
	/* ... but a misspelling of ours is said */
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\ncountry_cod = 39\n"
				   "[classes-39]\n"),
			  "W features.conf:3: [general] unknown option \"country_cod\" (did you "
			  "mean \"country_code\"?)");
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\ninternl = 1XX\n[classes-39]\n"),
			  "W features.conf:3: [general] unknown option \"internl\" (did you mean "
			  "\"internal\"?)");
}

/* ---------------------------------------------------------------- hostile input */

OCTO_TEST(hostile_numbers_never_crash)
{
	struct num_conf *c = sample("39", "outside_line_prefix = 0\narea_code = 2\n", NULL);
	char in[200], out[OCTO_NUM_MAX];
	unsigned seed = 12345;

	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	OCTO_CHECK_STR_EQ(norm(c, "12\x01" "3", OCTO_NUM_RECEIVED), "EINVAL");
	OCTO_CHECK_STR_EQ(norm(c, "ab cd", OCTO_NUM_RECEIVED), "EINVAL");
	OCTO_CHECK_STR_EQ(norm(c, "   ", OCTO_NUM_RECEIVED), "EINVAL");
	OCTO_CHECK_STR_EQ(norm(c, NULL, OCTO_NUM_RECEIVED), "EINVAL");
	OCTO_CHECK_STR_EQ(norm(c, "\xc3\xa8", OCTO_NUM_RECEIVED), "EINVAL");
	memset(in, '1', 64);
	in[64] = '\0';
	OCTO_CHECK_STR_EQ(norm(c, in, OCTO_NUM_RECEIVED), in);
	in[64] = '1';
	in[65] = '\0';
	OCTO_CHECK_STR_EQ(norm(c, in, OCTO_NUM_RECEIVED), "EINVAL");
	/* a buffer too small is refused, not overrun */
	OCTO_CHECK_INT_EQ(num_do_normalize(c, "0612345678", OCTO_NUM_RECEIVED, out, 5),
			  OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(out, "");
	OCTO_CHECK_INT_EQ(num_do_format(c, "0612345678", OCTO_NUM_FMT_INTERNATIONAL,
					OCTO_NUM_RECEIVED, out, 14),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(num_do_format(c, "0612345678", (enum octo_num_format)99,
					OCTO_NUM_RECEIVED, out, sizeof(out)),
			  OCTO_EINVAL);
	for (int round = 0; round < 20000; round++) {
		static const char alphabet[] = "0123456789+ -.()/*#aX\t\x01\xff";
		size_t len = (seed = seed * 1103515245u + 12345u) % 80;
		struct octo_num_info info;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		in[len] = '\0';
		num_analyse(c, in, (enum octo_num_origin)(round & 1), &info);
		for (int f = 0; f < OCTO_NUM_FORMATS; f++)
			num_do_format(c, in, (enum octo_num_format)f, OCTO_NUM_DIALED, out,
				      sizeof(out));
		OCTO_CHECK(strlen(info.e164) < sizeof(info.e164));
	}
	octo_obj_unref(c);
}

OCTO_TEST(hostile_config_is_refused_cleanly)
{
	char big[4096];

	OCTO_CHECK_CONTAINS(diags_of("[general]\ncountry_code = 1234\n[classes-1234]\n"),
			    "country_code: \"1234\" is not a country calling code");
	OCTO_CHECK_CONTAINS(diags_of("[general]\ncountry_code = 39\n[classes-39]\n"
				     "national = [0-\n"),
			    "[classes-39] national: \"[0-\" is not a valid pattern");
	memset(big, 'X', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	{
		char text[5000];

		snprintf(text, sizeof(text), "[general]\ncountry_code = 39\n[classes-39]\n"
			 "national = %s\n", big);
		OCTO_CHECK_STR_EQ(diags_of(text), "E features.conf:4: [classes-39] national: a "
						  "pattern is longer than 64 characters");
	}
	OCTO_CHECK_STR_EQ(diags_of("[general]\ncountry_code = 39\n[classes-39]\n"
				   "national = default\n"),
			  "E features.conf:4: [classes-39] national: \"default\" is not a valid "
			  "pattern: \"default\" has no meaning here");
}

/* ---------------------------------------------------------------- CheckACL on a channel */

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned fake_frames, fake_samples, fake_progress;
static int fake_first_sample, fake_fail_after = -1;

static int fake_write(struct octo_channel *chan, const struct octo_frame *f)
{
	int rc = 0;

	pthread_mutex_lock(&fake_lock);
	if (fake_fail_after >= 0 && fake_frames >= (unsigned)fake_fail_after) {
		rc = OCTO_EHANGUP;
	} else {
		if (!fake_frames)
			fake_first_sample = f->data[0];
		fake_frames++;
		fake_samples += f->samples;
	}
	pthread_mutex_unlock(&fake_lock);
	return rc;
}

static int fake_indicate(struct octo_channel *chan, enum octo_chan_event_type what)
{
	if (what == OCTO_EV_PROGRESS)
		fake_progress++;
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
	.name = "NumFake", .answer = fake_answer, .hangup = fake_hangup,
	.indicate = fake_indicate, .write_frame = fake_write,
};

static const struct octo_chan_tech mute_tech = {
	.name = "NumMute", .answer = fake_answer, .hangup = fake_hangup,
};

static char tdir[256];

static void rm_tdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	if (tdir[0] && system(cmd)) {
		/* a leftover temp dir is harmless */
	}
}

/* Registry, channels, format_raw and a sound folder with the prompt
 * call-notallowed in English: 800 samples (5 frames) of 1234. */
static bool chan_setup(void)
{
	static int done;
	static char sdir[300], en[320], path[400], lang[] = "en";
	char err[256];
	int16_t samples[800];
	FILE *f;

	if (done)
		return done > 0;
	done = -1;
	snprintf(tdir, sizeof(tdir), "/tmp/test_numbering.XXXXXX");
	if (!mkdtemp(tdir))
		return false;
	atexit(rm_tdir);
	snprintf(sdir, sizeof(sdir), "%s/sounds", tdir);
	snprintf(en, sizeof(en), "%s/en", sdir);
	snprintf(path, sizeof(path), "%s/call-notallowed.sln", en);
	if (mkdir(sdir, 0700) || mkdir(en, 0700))
		return false;
	for (size_t i = 0; i < 800; i++)
		samples[i] = 1234;
	f = fopen(path, "wb");
	if (!f || fwrite(samples, sizeof(samples[0]), 800, f) != 800) {
		if (f)
			fclose(f);
		return false;
	}
	fclose(f);
	octo_paths.config_dir = tdir;
	octo_paths.sound_dir = sdir;
	octo_settings.language = lang;
	if (octo_registry_init() || octo_chan_init() ||
	    octo_loader_init(TEST_MODULE_DIR "/.libs") ||
	    octo_loader_load("format_raw", err, sizeof(err))) {
		printf("  setup: %s\n", err);
		return false;
	}
	octo_chan_tech_register(NULL, &fake_tech);
	octo_chan_tech_register(NULL, &mute_tech);
	done = 1;
	return true;
}

/* Runs CheckACL(args) on a new channel of `tech` from 101 to `number`. */
static struct octo_channel *run_checkacl(const char *tech, const char *number, const char *args,
					 int *rc)
{
	struct octo_channel *chan = octo_chan_alloc(tech, OCTO_CHAN_RING, "%s", "101");
	char buf[64];

	if (!chan)
		return NULL;
	octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, "101");
	octo_chan_set(chan, OCTO_CHAN_CALLED, number);
	octo_strlcpy(buf, args, sizeof(buf));
	pthread_mutex_lock(&fake_lock);
	fake_frames = fake_samples = fake_progress = 0;
	fake_first_sample = 0;
	pthread_mutex_unlock(&fake_lock);
	*rc = num_app_checkacl(chan, buf);
	return chan;
}

static const char *var(struct octo_channel *chan, const char *name)
{
	static char buf[128];

	return octo_chan_var_get(chan, name, buf, sizeof(buf)) ? buf : "(unset)";
}

OCTO_TEST(checkacl_plays_the_announcement_and_rejects)
{
	struct num_conf *c;
	struct octo_channel *chan;
	int rc;

	OCTO_CHECK(chan_setup());
	c = conf_text(acl_conf, NULL);
	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	num_install(c);

	chan = run_checkacl("NumFake", "00442079460000", "", &rc);
	OCTO_CHECK(chan != NULL);
	if (chan) {
		OCTO_CHECK_INT_EQ(rc, OCTO_APP_HANGUP);
		OCTO_CHECK_INT_EQ(fake_progress, 1);
		OCTO_CHECK_INT_EQ(fake_frames, 5);
		OCTO_CHECK_INT_EQ(fake_samples, 800);
		OCTO_CHECK_INT_EQ(fake_first_sample, 1234);
		OCTO_CHECK_INT_EQ(octo_chan_hangup_cause(chan), OCTO_CAUSE_REJECTED);
		OCTO_CHECK(octo_chan_is_hungup(chan));
		OCTO_CHECK_STR_EQ(var(chan, "ACL_DENIED"), "international");
		OCTO_CHECK_STR_EQ(var(chan, "ACL_RESULT"), "denied");
		OCTO_CHECK_STR_EQ(var(chan, "CALLCLASS"), "international");
		OCTO_CHECK_STR_EQ(var(chan, "CDR_USERFIELD"), "denied: international");
		octo_obj_unref(chan);
	}

	/* LANGUAGE it: the prompt it lacks is played in English */
	chan = octo_chan_alloc("NumFake", OCTO_CHAN_RING, "%s", "101");
	if (chan) {
		char args[] = "0044123456789";

		octo_chan_var_set(chan, "LANGUAGE", "it");
		pthread_mutex_lock(&fake_lock);
		fake_frames = 0;
		pthread_mutex_unlock(&fake_lock);
		OCTO_CHECK_INT_EQ(num_app_checkacl(chan, args), OCTO_APP_HANGUP);
		OCTO_CHECK_INT_EQ(fake_frames, 5);
		octo_obj_unref(chan);
	}

	/* q: no announcement */
	chan = run_checkacl("NumFake", "899123", "899123,q", &rc);
	if (chan) {
		OCTO_CHECK_INT_EQ(rc, OCTO_APP_HANGUP);
		OCTO_CHECK_INT_EQ(fake_frames, 0);
		OCTO_CHECK_STR_EQ(var(chan, "ACL_DENIED"), "premium");
		octo_obj_unref(chan);
	}

	/* the caller hangs up during the announcement */
	fake_fail_after = 2;
	chan = run_checkacl("NumFake", "00442079460000", "", &rc);
	fake_fail_after = -1;
	if (chan) {
		OCTO_CHECK_INT_EQ(rc, OCTO_APP_HANGUP);
		OCTO_CHECK_INT_EQ(fake_frames, 2);
		OCTO_CHECK_INT_EQ(octo_chan_hangup_cause(chan), OCTO_CAUSE_REJECTED);
		octo_obj_unref(chan);
	}

	/* no audio: refused all the same */
	chan = run_checkacl("NumMute", "00442079460000", "", &rc);
	if (chan) {
		OCTO_CHECK_INT_EQ(rc, OCTO_APP_HANGUP);
		OCTO_CHECK_INT_EQ(octo_chan_hangup_cause(chan), OCTO_CAUSE_REJECTED);
		octo_obj_unref(chan);
	}

	/* c: denied, but the dialplan goes on */
	chan = run_checkacl("NumFake", "00442079460000", ",c", &rc);
	if (chan) {
		OCTO_CHECK_INT_EQ(rc, OCTO_APP_CONTINUE);
		OCTO_CHECK_INT_EQ(fake_frames, 0);
		OCTO_CHECK(!octo_chan_is_hungup(chan));
		OCTO_CHECK_STR_EQ(var(chan, "ACL_RESULT"), "denied");
		octo_chan_hangup(chan, OCTO_CAUSE_NORMAL);
		octo_obj_unref(chan);
	}

	/* allowed: nothing played, the call goes on */
	chan = run_checkacl("NumFake", "0612345678", "", &rc);
	if (chan) {
		OCTO_CHECK_INT_EQ(rc, OCTO_APP_CONTINUE);
		OCTO_CHECK_INT_EQ(fake_frames, 0);
		OCTO_CHECK_STR_EQ(var(chan, "ACL_RESULT"), "allowed");
		OCTO_CHECK_STR_EQ(var(chan, "ACL_DENIED"), "(unset)");
		OCTO_CHECK_STR_EQ(var(chan, "CALLCLASS"), "national");
		octo_chan_hangup(chan, OCTO_CAUSE_NORMAL);
		octo_obj_unref(chan);
	}

	/* emergency, even with deny = all */
	chan = octo_chan_alloc("NumFake", OCTO_CHAN_RING, "%s", "101");
	if (chan) {
		char args[] = "118";

		octo_chan_var_set(chan, "ACL_GROUP", "nobody");
		OCTO_CHECK_INT_EQ(num_app_checkacl(chan, args), OCTO_APP_CONTINUE);
		OCTO_CHECK_STR_EQ(var(chan, "CALLCLASS"), "emergency");
		octo_chan_hangup(chan, OCTO_CAUSE_NORMAL);
		octo_obj_unref(chan);
	}

	/* bad options */
	chan = run_checkacl("NumFake", "0612345678", ",x", &rc);
	if (chan) {
		OCTO_CHECK_INT_EQ(rc, OCTO_EINVAL);
		octo_chan_hangup(chan, OCTO_CAUSE_NORMAL);
		octo_obj_unref(chan);
	}
	num_install(NULL);
}

OCTO_TEST(normalize_caller_rewrites_the_caller)
{
	struct num_conf *c;
	struct octo_channel *chan;
	char none[] = "", bad[] = "x";

	OCTO_CHECK(chan_setup());
	c = sample("39", "", NULL);
	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	num_install(c);
	chan = octo_chan_alloc("NumMute", OCTO_CHAN_RING, "%s", "ext");
	OCTO_CHECK(chan != NULL);
	if (chan) {
		char buf[64];

		octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, "06 1234 5678");
		OCTO_CHECK_INT_EQ(num_app_normalize_caller(chan, none), OCTO_APP_CONTINUE);
		OCTO_CHECK_STR_EQ(octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, buf, sizeof(buf)),
				  "+390612345678");
		OCTO_CHECK_STR_EQ(var(chan, "CALLER_ORIGINAL"), "06 1234 5678");
		octo_chan_set(chan, OCTO_CHAN_CALLER_NUM, "anonymous");
		OCTO_CHECK_INT_EQ(num_app_normalize_caller(chan, none), OCTO_APP_CONTINUE);
		OCTO_CHECK_STR_EQ(octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, buf, sizeof(buf)),
				  "anonymous");
		OCTO_CHECK_INT_EQ(num_app_normalize_caller(chan, bad), OCTO_EINVAL);
		octo_chan_hangup(chan, OCTO_CAUSE_NORMAL);
		octo_obj_unref(chan);
	}
	/* the functions and the service see the installed configuration */
	{
		char buf[OCTO_NUM_MAX];

		OCTO_CHECK_INT_EQ(num_func_normalize(NULL, "0612345678", buf, sizeof(buf)), 0);
		OCTO_CHECK_STR_EQ(buf, "+390612345678");
		OCTO_CHECK_INT_EQ(num_func_format(NULL, "+390612345678, international", buf,
						  sizeof(buf)),
				  0);
		OCTO_CHECK_STR_EQ(buf, "00390612345678");
		OCTO_CHECK_INT_EQ(num_func_format(NULL, "0612345678,weird", buf, sizeof(buf)),
				  OCTO_EINVAL);
		OCTO_CHECK_INT_EQ(num_func_callclass(NULL, "3331234567", buf, sizeof(buf)), 0);
		OCTO_CHECK_STR_EQ(buf, "mobile");
		OCTO_CHECK_INT_EQ(num_func_callclass(NULL, "0612345678,sideways", buf, sizeof(buf)),
				  OCTO_EINVAL);
		OCTO_CHECK_INT_EQ(num_api.normalize("00442079460000", OCTO_NUM_RECEIVED, buf,
						    sizeof(buf)),
				  OCTO_NUM_NORMALIZED);
		OCTO_CHECK_STR_EQ(buf, "+442079460000");
		OCTO_CHECK_STR_EQ(num_api.class_name(OCTO_NUM_PREMIUM), "premium");
		OCTO_CHECK_STR_EQ(num_api.class_name((enum octo_num_class)42), "unknown");
		OCTO_CHECK_INT_EQ(num_api.class_parse("Mobile"), OCTO_NUM_MOBILE);
		OCTO_CHECK_INT_EQ(num_api.class_parse("cheap"), -1);
		num_api.country_code(buf, sizeof(buf));
		OCTO_CHECK_STR_EQ(buf, "39");
	}
	num_install(NULL);
	{
		char buf[OCTO_NUM_MAX] = "x";
		struct octo_num_info info;

		OCTO_CHECK_INT_EQ(num_api.normalize("0612345678", OCTO_NUM_RECEIVED, buf,
						    sizeof(buf)),
				  OCTO_EINVAL);
		OCTO_CHECK_STR_EQ(buf, "");
		OCTO_CHECK_INT_EQ(num_api.classify("0612345678", OCTO_NUM_DIALED, &info),
				  OCTO_EINVAL);
		OCTO_CHECK_STR_EQ(info.why, "numbering is not configured");
	}
}

OCTO_TEST_MAIN()
