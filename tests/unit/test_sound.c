/*
 * test_sound.c - unit tests of core/sound.c: prompt names and languages
 * checked, prompts found in the language asked for, then the default
 * language, then "en"; files opened through the real format modules
 * (codec_g711, format_wav, format_raw loaded from the build tree), the
 * format's module held while a file is open, 16 kHz files filtered and
 * decimated to 8 kHz, and the "sound show" command. Each run works in a
 * temp sound folder of its own.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/cli.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/module.h"
#include "octo/registry.h"
#include "octo/sound.h"
#include "../../core/cli_proto.h"
#include "../../core/internal.h"
#include "octo_test.h"

#ifndef TEST_MODULE_DIR
#define TEST_MODULE_DIR "modules/codecs"
#endif

static char tdir[256], sdir[300];
static char default_language[8] = "de";

/* ---------------------------------------------------------------- helpers */

static void cleanup(void)
{
	char cmd[300];

	if (tdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
		if (system(cmd)) {
			/* a leftover temp dir is harmless */
		}
	}
}

static void die(const char *what)
{
	printf("FAIL setup: %s\n", what);
	exit(1);
}

static void mkdirs(const char *rel)
{
	char path[600], *p;

	snprintf(path, sizeof(path), "%s/%s", sdir, rel);
	for (p = path + strlen(sdir) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0700);
			*p = '/';
		}
	}
	mkdir(path, 0700);
}

/* Writes `count` samples with format `fmt` at `rate` to sounds/<rel>;
 * gen(i) gives sample i. */
static void write_sound(const char *fmt_name, const char *rel, unsigned rate, size_t count,
			int16_t (*gen)(size_t i, void *arg), void *arg)
{
	const struct octo_sound_format *fmt = octo_registry_get(OCTO_REG_FORMAT, fmt_name, "test");
	struct octo_sound_file f = { 0 };
	char path[600];
	int16_t buf[256];

	if (!fmt)
		die("no such format");
	snprintf(path, sizeof(path), "%s/%s", sdir, rel);
	if (fmt->open_write(&f, path, rate))
		die(path);
	for (size_t done = 0; done < count;) {
		size_t n = count - done < 256 ? count - done : 256;

		for (size_t i = 0; i < n; i++)
			buf[i] = gen(done + i, arg);
		if (fmt->write(&f, buf, n) != (long)n)
			die("write");
		done += n;
	}
	fmt->close(&f);
	octo_registry_put(OCTO_REG_FORMAT, fmt, "test");
}

static int16_t gen_const(size_t i, void *arg)
{
	return (int16_t)(intptr_t)arg;
}

/* 1 kHz and 6 kHz at 16 kHz, each with amplitude 8000. */
static int16_t gen_two_tones(size_t i, void *arg)
{
	double t = (double)i / 16000.0;

	return (int16_t)lrint(8000.0 * sin(2 * M_PI * 1000 * t) +
			      8000.0 * sin(2 * M_PI * 6000 * t));
}

static void write_bytes(const char *rel, const char *data, size_t len)
{
	char path[600];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", sdir, rel);
	fp = fopen(path, "wb");
	if (!fp)
		die(path);
	if (fwrite(data, 1, len, fp) != len)
		die(path);
	fclose(fp);
}

static void setup(void)
{
	static bool done;
	const char *base = getenv("TMPDIR");
	char err[512];

	if (done)
		return;
	done = true;
	snprintf(tdir, sizeof(tdir), "%s/test_sound.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tdir))
		die("mkdtemp");
	atexit(cleanup);
	snprintf(sdir, sizeof(sdir), "%s/sounds", tdir);
	mkdir(sdir, 0700);
	octo_paths.config_dir = tdir;
	octo_paths.sound_dir = sdir;
	octo_settings.language = default_language;

	if (octo_registry_init() || octo_cli_core_init() || octo_sound_cli_init() ||
	    octo_loader_init(TEST_MODULE_DIR "/.libs"))
		die("core init");
	if (octo_loader_load("codec_g711", err, sizeof(err)) ||
	    octo_loader_load("format_wav", err, sizeof(err)) ||
	    octo_loader_load("format_raw", err, sizeof(err))) {
		printf("FAIL setup: %s\n", err);
		exit(1);
	}

	/* en: everything; it: some, in other formats too; de: one of its own. */
	mkdirs("en/digits");
	mkdirs("it/digits");
	mkdirs("de");
	mkdirs("moh/default");
	write_sound("wav", "en/vm-intro.wav", 8000, 800, gen_const, (void *)(intptr_t)1000);
	write_sound("wav", "en/digits/5.wav", 8000, 400, gen_const, (void *)(intptr_t)1005);
	write_sound("ulaw", "en/only-en.ulaw", 8000, 160, gen_const, (void *)(intptr_t)-1000);
	write_sound("wav", "en/beep.wav", 8000, 100, gen_const, (void *)(intptr_t)1);
	write_sound("wav", "en/tones16.wav", 16000, 3200, gen_two_tones, NULL);
	write_bytes("en/broken.wav", "RIFF\x04\0\0\0WAVEjunk", 16);
	write_sound("wav", "it/vm-intro.wav", 8000, 800, gen_const, (void *)(intptr_t)2000);
	write_sound("sln", "it/digits/5.sln", 8000, 400, gen_const, (void *)(intptr_t)2005);
	write_sound("wav", "it/beep.wav", 8000, 100, gen_const, (void *)(intptr_t)2);
	write_sound("wav", "it/.hidden.wav", 8000, 10, gen_const, (void *)(intptr_t)2);
	write_sound("wav", "it/bad name.wav", 8000, 10, gen_const, (void *)(intptr_t)2);
	write_bytes("it/readme.txt", "not a prompt", 12);
	write_sound("wav", "de/only-de.wav", 8000, 80, gen_const, (void *)(intptr_t)3000);
	write_sound("wav", "moh/default/music.wav", 8000, 80, gen_const, (void *)(intptr_t)7);
}

/* Reads a whole sound with reads of `step` samples; returns the count. */
static long read_all(struct octo_sound *s, int16_t *out, size_t max, size_t step)
{
	long total = 0, got;

	while ((size_t)total < max) {
		size_t want = max - (size_t)total < step ? max - (size_t)total : step;

		got = octo_sound_read(s, out + total, want);
		if (got <= 0)
			return got < 0 ? got : total;
		total += got;
	}
	return total;
}

static bool all_equal(const int16_t *s, long n, int value)
{
	for (long i = 0; i < n; i++)
		if (s[i] != value)
			return false;
	return n > 0;
}

static int run_cli(const char *line, char *buf, size_t size)
{
	struct octo_cli_out *out = octo_cli_out_alloc(false);
	int status = octo_cli_execute(out, line);

	octo_strlcpy(buf, octo_cli_out_render(out, status), size);
	octo_cli_out_free(out);
	return status;
}

static const char *ends(const char *path, size_t n)
{
	size_t len = strlen(path);

	return len > n ? path + len - n : path;
}

/* ---------------------------------------------------------------- names */

OCTO_TEST(prompt_names_are_checked)
{
	static const char *const good[] = { "vm-intro", "digits/5",     "a.b",
					    "x+y_z",    "dir/sub/name", "digits/5.wav" };
	static const char *const bad[] = { "",        "/etc/passwd", "../x", "a/../b", "a/./b",
					   ".hidden", "a//b",        "a/",   "a\\b",   "a b",
					   "a;b",     "digits/.5",   "é",    "..",     "a/.." };
	char longname[300];

	for (size_t i = 0; i < OCTO_ARRAY_LEN(good); i++)
		if (!octo_sound_name_valid(good[i]))
			OCTO_FAIL_AT("\"%s\" refused", good[i]);
	for (size_t i = 0; i < OCTO_ARRAY_LEN(bad); i++)
		if (octo_sound_name_valid(bad[i]))
			OCTO_FAIL_AT("\"%s\" accepted", bad[i]);
	OCTO_CHECK(!octo_sound_name_valid(NULL));
	memset(longname, 'a', sizeof(longname));
	longname[OCTO_SOUND_NAME_MAX] = '\0';
	OCTO_CHECK(octo_sound_name_valid(longname));
	longname[OCTO_SOUND_NAME_MAX] = 'a';
	longname[OCTO_SOUND_NAME_MAX + 1] = '\0';
	OCTO_CHECK(!octo_sound_name_valid(longname));
}

OCTO_TEST(languages_are_checked)
{
	OCTO_CHECK(octo_sound_language_valid("en"));
	OCTO_CHECK(octo_sound_language_valid("pt_BR"));
	OCTO_CHECK(octo_sound_language_valid("en-GB"));
	OCTO_CHECK(!octo_sound_language_valid(""));
	OCTO_CHECK(!octo_sound_language_valid(NULL));
	OCTO_CHECK(!octo_sound_language_valid("../en"));
	OCTO_CHECK(!octo_sound_language_valid("e n"));
	OCTO_CHECK(!octo_sound_language_valid("en/x"));
	OCTO_CHECK(octo_sound_language_valid("abcdefghijklmnopqrstuvwxyz01234"));
	OCTO_CHECK(!octo_sound_language_valid("abcdefghijklmnopqrstuvwxyz012345"));
}

/* ---------------------------------------------------------------- finding */

OCTO_TEST(find_takes_the_language_then_the_default_then_en)
{
	char path[600], lang[OCTO_SOUND_LANG_MAX];

	setup();
	OCTO_CHECK_INT_EQ(octo_sound_find("vm-intro", "it", path, sizeof(path), lang), 0);
	OCTO_CHECK_STR_EQ(ends(path, 15), "it/vm-intro.wav");
	OCTO_CHECK_STR_EQ(lang, "it");
	OCTO_CHECK_INT_EQ(octo_sound_find("digits/5", "it", path, sizeof(path), lang), 0);
	OCTO_CHECK_STR_EQ(ends(path, 15), "it/digits/5.sln");
	/* Missing in "it": the default language ("de" here), then "en". */
	OCTO_CHECK_INT_EQ(octo_sound_find("only-de", "it", path, sizeof(path), lang), 0);
	OCTO_CHECK_STR_EQ(ends(path, 14), "de/only-de.wav");
	OCTO_CHECK_STR_EQ(lang, "de");
	OCTO_CHECK_INT_EQ(octo_sound_find("only-en", "it", path, sizeof(path), lang), 0);
	OCTO_CHECK_STR_EQ(ends(path, 15), "en/only-en.ulaw");
	OCTO_CHECK_STR_EQ(lang, "en");
	/* No language: the default one. */
	OCTO_CHECK_INT_EQ(octo_sound_find("only-de", NULL, path, sizeof(path), lang), 0);
	OCTO_CHECK_STR_EQ(lang, "de");
	OCTO_CHECK_INT_EQ(octo_sound_find("vm-intro", "", path, sizeof(path), lang), 0);
	OCTO_CHECK_STR_EQ(lang, "en");
	/* A language without a folder falls back as well. */
	OCTO_CHECK_INT_EQ(octo_sound_find("vm-intro", "fr", path, sizeof(path), NULL), 0);
	OCTO_CHECK_STR_EQ(ends(path, 15), "en/vm-intro.wav");
	/* Not anywhere. */
	OCTO_CHECK_INT_EQ(octo_sound_find("vm-nothere", "it", path, sizeof(path), lang),
			  OCTO_ENOTFOUND);
	OCTO_CHECK_STR_EQ(path, "");
	/* A file that no format reads is no prompt. */
	OCTO_CHECK_INT_EQ(octo_sound_find("readme", "it", path, sizeof(path), NULL),
			  OCTO_ENOTFOUND);
}

OCTO_TEST(find_with_an_extension_takes_that_file)
{
	char path[600], lang[OCTO_SOUND_LANG_MAX];

	setup();
	OCTO_CHECK_INT_EQ(octo_sound_find("digits/5.sln", "it", path, sizeof(path), lang), 0);
	OCTO_CHECK_STR_EQ(ends(path, 15), "it/digits/5.sln");
	/* it has no digits/5.wav: en's. */
	OCTO_CHECK_INT_EQ(octo_sound_find("digits/5.wav", "it", path, sizeof(path), lang), 0);
	OCTO_CHECK_STR_EQ(ends(path, 15), "en/digits/5.wav");
	OCTO_CHECK_STR_EQ(lang, "en");
	OCTO_CHECK_INT_EQ(octo_sound_find("vm-intro.ulaw", "it", path, sizeof(path), NULL),
			  OCTO_ENOTFOUND);
}

OCTO_TEST(find_refuses_bad_names_and_languages)
{
	char path[600];
	const char *saved = octo_paths.sound_dir;

	setup();
	OCTO_CHECK_INT_EQ(octo_sound_find("../en/vm-intro", "it", path, sizeof(path), NULL),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_sound_find("/etc/passwd", "it", path, sizeof(path), NULL),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_sound_find("vm-intro", "../en", path, sizeof(path), NULL),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_sound_find("vm-intro", "it", path, 10, NULL), OCTO_ENOTFOUND);
	octo_paths.sound_dir = NULL;
	OCTO_CHECK_INT_EQ(octo_sound_find("vm-intro", "it", path, sizeof(path), NULL), OCTO_EINVAL);
	octo_paths.sound_dir = saved;
}

/* ---------------------------------------------------------------- opening and reading */

OCTO_TEST(open_reads_the_prompt_of_the_language)
{
	struct octo_sound *s = NULL;
	int16_t buf[2000];

	setup();
	OCTO_CHECK_INT_EQ(octo_sound_open("vm-intro", "it", &s), 0);
	if (!s)
		return;
	OCTO_CHECK_STR_EQ(octo_sound_language(s), "it");
	OCTO_CHECK_STR_EQ(ends(octo_sound_path(s), 15), "it/vm-intro.wav");
	OCTO_CHECK_INT_EQ(octo_sound_file_rate(s), 8000);
	OCTO_CHECK_INT_EQ(read_all(s, buf, 2000, 160), 800);
	OCTO_CHECK(all_equal(buf, 800, 2000));
	OCTO_CHECK_INT_EQ(octo_sound_read(s, buf, 160), 0);
	octo_sound_close(s);

	/* Raw 16-bit in "it". */
	OCTO_CHECK_INT_EQ(octo_sound_open("digits/5", "it", &s), 0);
	OCTO_CHECK_INT_EQ(read_all(s, buf, 2000, 333), 400);
	OCTO_CHECK(all_equal(buf, 400, 2005));
	octo_sound_close(s);
}

OCTO_TEST(a_prompt_missing_in_it_is_played_in_en)
{
	struct octo_sound *s = NULL;
	int16_t buf[400];

	setup();
	OCTO_CHECK_INT_EQ(octo_sound_open("only-en", "it", &s), 0);
	if (!s)
		return;
	OCTO_CHECK_STR_EQ(octo_sound_language(s), "en");
	OCTO_CHECK_INT_EQ(read_all(s, buf, 400, 160), 160);
	/* -1000 through u-law. */
	OCTO_CHECK(all_equal(buf, 160, -988));
	octo_sound_close(s);
}

OCTO_TEST(open_failures)
{
	struct octo_sound *s = (struct octo_sound *)&s;
	char err[256];

	setup();
	OCTO_CHECK_INT_EQ(octo_sound_open("vm-nothere", "it", &s), OCTO_ENOTFOUND);
	OCTO_CHECK(s == NULL);
	OCTO_CHECK_INT_EQ(octo_sound_open("../x", "it", &s), OCTO_EINVAL);
	/* A file its format refuses (the reason is logged with its path). */
	OCTO_CHECK_INT_EQ(octo_sound_open("broken", "en", &s), OCTO_EINVAL);
	OCTO_CHECK(s == NULL);
	OCTO_CHECK_INT_EQ(octo_sound_open("vm-intro", "it", NULL), OCTO_EINVAL);

	OCTO_CHECK_INT_EQ(octo_sound_open_file("/nowhere/x.xyz", &s, err, sizeof(err)),
			  OCTO_ENOTFOUND);
	OCTO_CHECK_STR_EQ(err, "no sound format reads .xyz files");
	OCTO_CHECK_INT_EQ(octo_sound_open_file("/nowhere/x", &s, err, sizeof(err)), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(err, "no file name extension to choose a sound format by");
	OCTO_CHECK_INT_EQ(octo_sound_open_file("/nowhere/x.wav", &s, err, sizeof(err)),
			  OCTO_ENOTFOUND);
	OCTO_CHECK_STR_EQ(err, "cannot open: No such file or directory");
	OCTO_CHECK_INT_EQ(octo_sound_open_file("", &s, err, sizeof(err)), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(err, "no file name");
	octo_sound_close(NULL);
}

OCTO_TEST(open_file_by_path)
{
	struct octo_sound *s = NULL;
	char path[600], err[256];
	int16_t buf[200];

	setup();
	snprintf(path, sizeof(path), "%s/en/beep.WAV", sdir);
	/* The extension picks the format whatever its case; the file must exist. */
	OCTO_CHECK_INT_EQ(octo_sound_open_file(path, &s, err, sizeof(err)), OCTO_ENOTFOUND);
	snprintf(path, sizeof(path), "%s/en/beep.wav", sdir);
	OCTO_CHECK_INT_EQ(octo_sound_open_file(path, &s, err, sizeof(err)), 0);
	if (!s)
		return;
	OCTO_CHECK_STR_EQ(octo_sound_language(s), "");
	OCTO_CHECK_INT_EQ(read_all(s, buf, 200, 200), 100);
	OCTO_CHECK(all_equal(buf, 100, 1));
	octo_sound_close(s);
}

OCTO_TEST(the_format_module_is_held_while_a_sound_is_open)
{
	struct octo_module *mod;
	struct octo_sound *a = NULL, *b = NULL;
	char err[512];
	unsigned base;

	setup();
	mod = octo_module_find("format_wav", "test");
	OCTO_CHECK(mod != NULL);
	if (!mod)
		return;
	base = octo_module_usecount(mod);
	OCTO_CHECK_INT_EQ(octo_sound_open("vm-intro", "it", &a), 0);
	OCTO_CHECK_INT_EQ(octo_sound_open("beep", "en", &b), 0);
	OCTO_CHECK_INT_EQ(octo_module_usecount(mod), base + 2);
	OCTO_CHECK_INT_EQ(octo_loader_unload("format_wav", false, err, sizeof(err)), OCTO_EBUSY);
	OCTO_CHECK_CONTAINS(err, "cannot unload format_wav: in use by ");
	OCTO_CHECK_CONTAINS(err, "sound (2)");
	octo_sound_close(a);
	OCTO_CHECK_INT_EQ(octo_module_usecount(mod), base + 1);
	octo_sound_close(b);
	OCTO_CHECK_INT_EQ(octo_module_usecount(mod), base);
	/* A failed open gives its reference back. */
	OCTO_CHECK_INT_EQ(octo_sound_open("broken", "en", &a), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_module_usecount(mod), base);
	octo_module_unref(mod, "test");

	/* A u-law file holds the codec's module too, through its format. */
	OCTO_CHECK_INT_EQ(octo_sound_open("only-en", "en", &a), 0);
	OCTO_CHECK_INT_EQ(octo_loader_unload("codec_g711", false, err, sizeof(err)), OCTO_EBUSY);
	OCTO_CHECK_STR_EQ(err, "cannot unload codec_g711: in use by format_raw (1)");
	OCTO_CHECK_INT_EQ(octo_loader_unload("format_raw", false, err, sizeof(err)), OCTO_EBUSY);
	OCTO_CHECK_STR_EQ(err, "cannot unload format_raw: in use by sound (1)");
	octo_sound_close(a);
}

/* Amplitude of frequency f in x[0..n) sampled at 8 kHz (Goertzel). */
static double tone_level(const int16_t *x, long n, double f)
{
	double w = 2 * M_PI * f / 8000.0, c = 2 * cos(w), s1 = 0, s2 = 0;

	for (long i = 0; i < n; i++) {
		double s0 = x[i] + c * s1 - s2;

		s2 = s1;
		s1 = s0;
	}
	return 2.0 * sqrt(s1 * s1 + s2 * s2 - c * s1 * s2) / (double)n;
}

OCTO_TEST(sixteen_khz_files_are_filtered_and_decimated)
{
	struct octo_sound *s = NULL;
	static int16_t big[2000], small[2000];
	long n_big, n_small;
	double at1k, at2k;

	setup();
	OCTO_CHECK_INT_EQ(octo_sound_open("tones16", "en", &s), 0);
	if (!s)
		return;
	OCTO_CHECK_INT_EQ(octo_sound_file_rate(s), 16000);
	n_big = read_all(s, big, 2000, 2000);
	octo_sound_close(s);
	OCTO_CHECK_INT_EQ(n_big, 1600);

	/* Reads of odd sizes give the very same samples. */
	OCTO_CHECK_INT_EQ(octo_sound_open("tones16", "en", &s), 0);
	n_small = read_all(s, small, 2000, 7);
	octo_sound_close(s);
	OCTO_CHECK_INT_EQ(n_small, 1600);
	OCTO_CHECK(memcmp(big, small, sizeof(big)) == 0);

	/* After the filter's start (skip 40 samples), over whole periods:
	 * 1 kHz passes, 6 kHz (which would fold to 2 kHz) is gone. */
	at1k = tone_level(big + 40, 1520, 1000);
	at2k = tone_level(big + 40, 1520, 2000);
	if (at1k < 7600 || at1k > 8400)
		OCTO_FAIL_AT("1 kHz level %.0f, expected about 8000", at1k);
	if (at2k > 80)
		OCTO_FAIL_AT("6 kHz folded to 2 kHz at level %.0f, expected below 80 (-40 dB)",
			     at2k);
}

OCTO_TEST(a_constant_passes_the_filter_unchanged)
{
	struct octo_sound *s = NULL;
	int16_t buf[200];
	long n;

	setup();
	mkdirs("xx");
	write_sound("sln16", "xx/dc.sln16", 16000, 400, gen_const, (void *)(intptr_t)12345);
	OCTO_CHECK_INT_EQ(octo_sound_open("dc", "xx", &s), 0);
	if (!s)
		return;
	n = read_all(s, buf, 200, 200);
	octo_sound_close(s);
	OCTO_CHECK_INT_EQ(n, 200);
	OCTO_CHECK(all_equal(buf + 20, 180, 12345));
}

/* ---------------------------------------------------------------- CLI */

OCTO_TEST(sound_show_lists_languages)
{
	char out[8192];

	setup();
	OCTO_CHECK_INT_EQ(run_cli("sound show", out, sizeof(out)), OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(out, "Language");
	OCTO_CHECK_CONTAINS(out, "\nen ");
	OCTO_CHECK_CONTAINS(out, "\nit ");
	OCTO_CHECK_CONTAINS(out, "\nde ");
	OCTO_CHECK(strstr(out, "moh") == NULL);
	OCTO_CHECK_CONTAINS(out, sdir);
}

OCTO_TEST(sound_show_language_reports_what_is_missing)
{
	char out[8192];

	setup();
	OCTO_CHECK_INT_EQ(run_cli("sound show it", out, sizeof(out)), OCTO_CLI_OK);
	/* en has vm-intro, digits/5, only-en, beep, tones16, broken (6);
	 * it has vm-intro, digits/5, beep ("bad name", .hidden and readme
	 * are not prompts). */
	OCTO_CHECK_CONTAINS(out, "prompts:  3\n");
	OCTO_CHECK_CONTAINS(out, "missing:  3\n");
	OCTO_CHECK_CONTAINS(out, "digits/5");
	OCTO_CHECK_CONTAINS(out, "sln");
	OCTO_CHECK_CONTAINS(out, "missing");
	OCTO_CHECK_CONTAINS(out, "only-en");
	OCTO_CHECK(strstr(out, "bad name") == NULL);
	OCTO_CHECK(strstr(out, "hidden") == NULL);

	OCTO_CHECK_INT_EQ(run_cli("sound show en", out, sizeof(out)), OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(out, "prompts:  6\n");
	OCTO_CHECK_CONTAINS(out, "missing:  0\n");
	OCTO_CHECK_CONTAINS(out, "only-en");
	OCTO_CHECK_CONTAINS(out, "ulaw");

	OCTO_CHECK_INT_EQ(run_cli("sound show zz", out, sizeof(out)), OCTO_CLI_FAIL);
	OCTO_CHECK_CONTAINS(out, "no prompts for language \"zz\": ");
	OCTO_CHECK_CONTAINS(out, "/sounds/zz is not a folder");
	OCTO_CHECK_INT_EQ(run_cli("sound show ../en", out, sizeof(out)), OCTO_CLI_FAIL);
	OCTO_CHECK_CONTAINS(out, "invalid language name \"../en\"");
	OCTO_CHECK_INT_EQ(run_cli("sound show en it", out, sizeof(out)), OCTO_CLI_USAGE);
}

OCTO_TEST(sound_show_json)
{
	struct octo_cli_out *out;
	const char *text;
	int status;

	setup();
	out = octo_cli_out_alloc(true);
	status = octo_cli_execute(out, "sound show it");
	text = octo_cli_out_render(out, status);
	OCTO_CHECK_INT_EQ(status, OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(text, "\"missing\":\"3\"");
	OCTO_CHECK_CONTAINS(text, "[\"only-en\",\"\",\"missing\"]");
	OCTO_CHECK_CONTAINS(text, "[\"digits/5\",\"sln\",\"ok\"]");
	octo_cli_out_free(out);
}

OCTO_TEST(sound_show_completes_languages)
{
	char **words;
	bool saw_it = false;

	setup();
	words = octo_cli_complete_line("sound show i");
	for (size_t i = 0; words && words[i]; i++) {
		saw_it |= !strcmp(words[i], "it");
		free(words[i]);
	}
	free(words);
	OCTO_CHECK(saw_it);
}

OCTO_TEST_MAIN()
