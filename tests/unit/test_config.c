/*
 * test_config.c - unit tests of core/config.c and core/cfgbind.c: the INI
 * parser (sections, templates, includes, every error message), lookups, the
 * declarative binding with its messages, and the shared value parsers.
 */
#include <arpa/inet.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/config.h"
#include "octo_test.h"

/* ---------------------------------------------------------------- helpers */
static const char *msg(const struct octo_diags *d, size_t i)
{
	return i < d->count ? d->items[i].message : NULL;
}

/* Parses `text` as t.conf (no includes) and checks it fails with exactly the
 * messages given (NULL-terminated). */
static void expect_errors(const char *text, const char *const *want)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg = octo_cfg_parse_string(text, "t.conf", NULL, &d);
	size_t n = 0;

	while (want[n])
		n++;
	OCTO_CHECK(cfg == NULL);
	OCTO_CHECK_INT_EQ(d.count, n);
	OCTO_CHECK_INT_EQ(d.errors, n);
	for (size_t i = 0; i < n; i++) {
		OCTO_CHECK_STR_EQ(msg(&d, i), want[i]);
		OCTO_CHECK(i >= d.count || d.items[i].severity == OCTO_DIAG_ERROR);
	}
	octo_cfg_free(cfg);
	octo_diags_free(&d);
}

#define EXPECT_ERRORS(text, ...) expect_errors((text), (const char *const[]){ __VA_ARGS__, NULL })

static struct octo_cfg *parse_ok(const char *text, struct octo_diags *d)
{
	struct octo_cfg *cfg = octo_cfg_parse_string(text, "t.conf", NULL, d);

	OCTO_CHECK(cfg != NULL);
	OCTO_CHECK_INT_EQ(d->errors, 0);
	if (d->count)
		printf("     unexpected: %s\n", d->items[0].message);
	return cfg;
}

static size_t count_vars(const struct octo_cfg_section *s)
{
	size_t n = 0;

	for (const struct octo_cfg_var *v = s ? s->vars : NULL; v; v = v->next)
		n++;
	return n;
}

/* A temporary config folder under /tmp, removed by tmp_done. */
static char tmp_dir[64];

static void tmp_init(void)
{
	strcpy(tmp_dir, "/tmp/octo_test_config.XXXXXX");
	if (!mkdtemp(tmp_dir)) {
		perror("mkdtemp");
		exit(2);
	}
}

static void tmp_write_len(const char *name, const char *text, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(2);
	}
	fwrite(text, 1, len, f);
	fclose(f);
}

static void tmp_write(const char *name, const char *text)
{
	tmp_write_len(name, text, strlen(text));
}

static void tmp_mkdir(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
	if (mkdir(path, 0700) != 0) {
		perror(path);
		exit(2);
	}
}

static int tmp_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void tmp_done(void)
{
	nftw(tmp_dir, tmp_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---------------------------------------------------------------- diagnostics */
OCTO_TEST(diags_add_formats_prefix)
{
	struct octo_diags d = { 0 }, e = { 0 };

	octo_diags_add(&d, OCTO_DIAG_ERROR, "sip.conf", 42, "bad %s", "thing");
	octo_diags_add(&d, OCTO_DIAG_WARNING, "sip.conf", 0, "whole file");
	octo_diags_add(&d, OCTO_DIAG_ERROR, NULL, 7, "no file %d", 1);
	OCTO_CHECK_INT_EQ(d.count, 3);
	OCTO_CHECK_INT_EQ(d.errors, 2);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "sip.conf:42: bad thing");
	OCTO_CHECK_STR_EQ(d.items[0].file, "sip.conf");
	OCTO_CHECK_INT_EQ(d.items[0].line, 42);
	OCTO_CHECK_STR_EQ(msg(&d, 1), "sip.conf: whole file");
	OCTO_CHECK_INT_EQ(d.items[1].severity, OCTO_DIAG_WARNING);
	OCTO_CHECK_STR_EQ(msg(&d, 2), "no file 1");
	OCTO_CHECK(d.items[2].file == NULL);

	octo_diags_add(&e, OCTO_DIAG_WARNING, "a.conf", 1, "first");
	octo_diags_merge(&e, &d);
	OCTO_CHECK_INT_EQ(e.count, 4);
	OCTO_CHECK_INT_EQ(e.errors, 2);
	OCTO_CHECK_STR_EQ(msg(&e, 3), "no file 1");
	octo_diags_merge(&e, &e); /* merging into itself copies what was there */
	OCTO_CHECK_INT_EQ(e.count, 8);
	OCTO_CHECK_INT_EQ(e.errors, 4);
	OCTO_CHECK_STR_EQ(msg(&e, 4), "a.conf:1: first");
	octo_diags_free(&d);
	octo_diags_free(&e);
	OCTO_CHECK_INT_EQ(e.count, 0);
	OCTO_CHECK(e.items == NULL);
}

/* ---------------------------------------------------------------- parsing */
OCTO_TEST(parse_sections_keys_and_lines)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg = parse_ok("; leading comment\n"
					"[general]\n"
					"  bindport =  5060  \n"
					"empty=\n"
					"\n"
					"[default]\t\n"
					"exten => 100,1,Answer()\n"
					"exten=>101,1,Hangup\n"
					"a==b\n",
					&d);
	const struct octo_cfg_section *s;
	const struct octo_cfg_var *v;

	if (!cfg)
		return;
	OCTO_CHECK_STR_EQ(cfg->file, "t.conf");
	s = octo_cfg_first(cfg);
	OCTO_CHECK_STR_EQ(s->name, "general");
	OCTO_CHECK_STR_EQ(s->file, "t.conf");
	OCTO_CHECK_INT_EQ(s->line, 2);
	OCTO_CHECK(!s->is_template);
	OCTO_CHECK(s->templates == NULL);
	v = s->vars;
	OCTO_CHECK_STR_EQ(v->name, "bindport");
	OCTO_CHECK_STR_EQ(v->value, "5060");
	OCTO_CHECK_INT_EQ(v->line, 3);
	OCTO_CHECK_STR_EQ(v->file, "t.conf");
	OCTO_CHECK(!v->object && !v->inherited);
	v = v->next;
	OCTO_CHECK_STR_EQ(v->name, "empty");
	OCTO_CHECK_STR_EQ(v->value, "");
	OCTO_CHECK(v->next == NULL);

	s = octo_cfg_next(s);
	OCTO_CHECK_STR_EQ(s->name, "default");
	OCTO_CHECK_INT_EQ(s->line, 6);
	OCTO_CHECK_INT_EQ(count_vars(s), 3);
	v = s->vars;
	OCTO_CHECK_STR_EQ(v->name, "exten");
	OCTO_CHECK_STR_EQ(v->value, "100,1,Answer()");
	OCTO_CHECK(v->object);
	OCTO_CHECK_STR_EQ(v->next->value, "101,1,Hangup");
	OCTO_CHECK(v->next->object);
	OCTO_CHECK_STR_EQ(v->next->next->name, "a");
	OCTO_CHECK_STR_EQ(v->next->next->value, "=b");
	OCTO_CHECK(!v->next->next->object);
	OCTO_CHECK(octo_cfg_next(s) == NULL);
	OCTO_CHECK_INT_EQ(d.count, 0);
	octo_cfg_free(cfg);
	octo_diags_free(&d);
}

OCTO_TEST(parse_comments_and_escaped_semicolon)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg = parse_ok("[a] ; a section\n"
					"k = one\\;two ; comment\n"
					"; k = hidden\n"
					"m = x\\\\;y\n"
					"n = ;only a comment\n",
					&d);

	if (!cfg)
		return;
	OCTO_CHECK_STR_EQ(octo_cfg_value(cfg, "a", "k"), "one;two");
	OCTO_CHECK_STR_EQ(octo_cfg_value(cfg, "a", "m"), "x\\;y");
	OCTO_CHECK_STR_EQ(octo_cfg_value(cfg, "a", "n"), "");
	OCTO_CHECK_INT_EQ(count_vars(octo_cfg_section(cfg, "a")), 3);
	octo_cfg_free(cfg);
	octo_diags_free(&d);
}

OCTO_TEST(parse_windows_line_endings_and_no_final_newline)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg = parse_ok("[a]\r\nk = v\r\n\r\n[b]\r\nz = last", &d);

	if (!cfg)
		return;
	OCTO_CHECK_STR_EQ(octo_cfg_value(cfg, "a", "k"), "v");
	OCTO_CHECK_STR_EQ(octo_cfg_value(cfg, "b", "z"), "last");
	OCTO_CHECK_INT_EQ(octo_cfg_section(cfg, "b")->vars->line, 5);
	octo_cfg_free(cfg);
	octo_diags_free(&d);
}

OCTO_TEST(parse_empty_text_gives_empty_tree)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg = parse_ok("", &d);

	OCTO_CHECK(cfg && cfg->sections == NULL);
	OCTO_CHECK(octo_cfg_first(cfg) == NULL);
	octo_cfg_free(cfg);
	cfg = parse_ok("\n\n  ; nothing\n", &d);
	OCTO_CHECK(cfg && cfg->sections == NULL);
	octo_cfg_free(cfg);
	octo_cfg_free(NULL);
	octo_diags_free(&d);
}

OCTO_TEST(lookup_value_is_last_var_find_is_first)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg = parse_ok("[t](!)\nallow = ulaw\n"
					"[a](t)\nallow = alaw\nallow = g722\n",
					&d);
	const struct octo_cfg_section *s;
	const struct octo_cfg_var *v;

	if (!cfg)
		return;
	s = octo_cfg_section(cfg, "a");
	OCTO_CHECK_STR_EQ(octo_cfg_value(cfg, "a", "allow"), "g722");
	v = octo_cfg_var_find(s, "allow");
	OCTO_CHECK_STR_EQ(v->value, "ulaw");
	OCTO_CHECK(v->inherited);
	OCTO_CHECK(octo_cfg_var_find(s, "nope") == NULL);
	OCTO_CHECK(octo_cfg_value(cfg, "a", "nope") == NULL);
	OCTO_CHECK(octo_cfg_value(cfg, "nope", "allow") == NULL);
	OCTO_CHECK(octo_cfg_value(cfg, "a", "Allow") == NULL); /* keys are case-sensitive */
	/* A template is not a section of its own. */
	OCTO_CHECK(octo_cfg_section(cfg, "t") == NULL);
	OCTO_CHECK(octo_cfg_value(cfg, "t", "allow") == NULL);
	octo_cfg_free(cfg);
	octo_diags_free(&d);
}

OCTO_TEST(templates_inherit_in_order_recursively)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg = parse_ok("[base](!)\n"
					"context = default\n"
					"[office](!,base)\n"
					"nat = yes\n"
					"[codecs](!)\n"
					"allow = ulaw\n"
					"[alice](office, codecs)\n"
					"secret = 1234\n"
					"nat = no\n"
					"[bob]\n",
					&d);
	const struct octo_cfg_section *s, *tpl;
	const struct octo_cfg_var *v;
	static const char *const names[] = { "context", "nat", "allow", "secret", "nat" };
	static const char *const values[] = { "default", "yes", "ulaw", "1234", "no" };
	static const int lines[] = { 2, 4, 6, 8, 9 };
	size_t i = 0;

	if (!cfg)
		return;
	/* The walk skips templates; the tree keeps them in file order. */
	s = octo_cfg_first(cfg);
	OCTO_CHECK_STR_EQ(s->name, "alice");
	OCTO_CHECK_STR_EQ(octo_cfg_next(s)->name, "bob");
	OCTO_CHECK(octo_cfg_next(octo_cfg_next(s)) == NULL);
	tpl = cfg->sections;
	OCTO_CHECK_STR_EQ(tpl->name, "base");
	OCTO_CHECK(tpl->is_template);
	OCTO_CHECK(tpl->templates == NULL);
	tpl = tpl->next;
	OCTO_CHECK_STR_EQ(tpl->name, "office");
	OCTO_CHECK(tpl->is_template);
	OCTO_CHECK_STR_EQ(tpl->templates, "base");
	OCTO_CHECK_INT_EQ(count_vars(tpl), 2);

	OCTO_CHECK(!s->is_template);
	OCTO_CHECK_STR_EQ(s->templates, "office,codecs");
	for (v = s->vars; v && i < 5; v = v->next, i++) {
		OCTO_CHECK_STR_EQ(v->name, names[i]);
		OCTO_CHECK_STR_EQ(v->value, values[i]);
		OCTO_CHECK_INT_EQ(v->line, lines[i]);
		OCTO_CHECK_INT_EQ(v->inherited, i < 3);
	}
	OCTO_CHECK_INT_EQ(i, 5);
	OCTO_CHECK(v == NULL);
	OCTO_CHECK_STR_EQ(octo_cfg_value(cfg, "alice", "nat"), "no");
	OCTO_CHECK_INT_EQ(count_vars(octo_cfg_section(cfg, "bob")), 0);
	octo_cfg_free(cfg);
	octo_diags_free(&d);
}

OCTO_TEST(errors_in_section_headers)
{
	EXPECT_ERRORS("[alice](office)\n", "t.conf:1: [alice] unknown template \"office\"");
	/* A template must be defined before it is used. */
	EXPECT_ERRORS("[alice](office)\n[office](!)\n",
		      "t.conf:1: [alice] unknown template \"office\"");
	EXPECT_ERRORS("[bob]\n[alice](bob)\n",
		      "t.conf:2: [alice] \"bob\" is a section, not a template (add \"(!)\" to its "
		      "header)");
	EXPECT_ERRORS("[t](!)\n[alice](t,)\n", "t.conf:2: [alice] empty template name");
	EXPECT_ERRORS("[alice]()\n", "t.conf:1: [alice] empty template name");
	EXPECT_ERRORS("[alice](!\n", "t.conf:1: [alice] missing \")\" after the template list");
	EXPECT_ERRORS("[alice] extra\n",
		      "t.conf:1: [alice] unexpected text after the header: \"extra\"");
	EXPECT_ERRORS("[alice](!) x\n",
		      "t.conf:1: [alice] unexpected text after the header: \"x\"");
	EXPECT_ERRORS("[alice\nk=v\n", "t.conf:1: missing \"]\" in the section header");
	EXPECT_ERRORS("[ ]\n", "t.conf:1: empty section name");
	EXPECT_ERRORS("[a]\nk=1\n[b]\n[a]\nk=2\n", "t.conf:4: [a] is already defined at t.conf:1");
	EXPECT_ERRORS("[a](!)\n[a]\n", "t.conf:2: [a] is already defined at t.conf:1");
}

OCTO_TEST(errors_in_key_lines)
{
	EXPECT_ERRORS("port = 5060\n[a]\n", "t.conf:1: key \"port\" before any [section]");
	EXPECT_ERRORS("[a]\nport 5060\n", "t.conf:2: expected \"key = value\", got \"port 5060\"");
	EXPECT_ERRORS("just words\n", "t.conf:1: expected \"key = value\", got \"just words\"");
	EXPECT_ERRORS("[a]\n = 5\n", "t.conf:2: missing key before \"=\"");
	EXPECT_ERRORS("[a]\n=> 5\n", "t.conf:2: missing key before \"=>\"");
}

OCTO_TEST(errors_in_directives)
{
	EXPECT_ERRORS("#exec foo\n", "t.conf:1: unknown directive \"#exec\"");
	EXPECT_ERRORS("[a]\n# a comment?\n",
		      "t.conf:2: unknown directive \"#\" (comments start with \";\")");
	EXPECT_ERRORS("#includex \"a.conf\"\n", "t.conf:1: unknown directive \"#includex\"");
	EXPECT_ERRORS("#include \"a.conf\"\n",
		      "t.conf:1: #include \"a.conf\": includes are not allowed here");
	EXPECT_ERRORS("#include a.conf\n",
		      "t.conf:1: #include \"a.conf\": includes are not allowed here");
	EXPECT_ERRORS("#include \"a.conf\n", "t.conf:1: #include: missing closing quote");
	EXPECT_ERRORS("#include \"a.conf\" b\n",
		      "t.conf:1: #include: unexpected text after the file name");
	EXPECT_ERRORS("#include\n", "t.conf:1: #include needs a file name");
	EXPECT_ERRORS("#include \"\"\n", "t.conf:1: #include needs a file name");
}

OCTO_TEST(errors_do_not_stop_parsing_and_bad_headers_drop_their_keys)
{
	/* Keys under a broken header are dropped silently (no cascade of
	 * "before any section" errors); later sections are parsed as usual. */
	EXPECT_ERRORS("[a\n"
		      "k = 1\n"
		      "no equal sign\n"
		      "[b]\n"
		      "[b]\n"
		      "x = 1\n"
		      "[c]\n"
		      "oops\n"
		      "#bad\n",
		      "t.conf:1: missing \"]\" in the section header",
		      "t.conf:5: [b] is already defined at t.conf:4",
		      "t.conf:8: expected \"key = value\", got \"oops\"",
		      "t.conf:9: unknown directive \"#bad\"");
}

OCTO_TEST(errors_name_the_file_given)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg;

	OCTO_CHECK(octo_cfg_parse_string("x\n", "sip.conf", NULL, &d) == NULL);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "sip.conf:1: expected \"key = value\", got \"x\"");
	OCTO_CHECK_STR_EQ(d.items[0].file, "sip.conf");
	OCTO_CHECK_INT_EQ(d.items[0].line, 1);
	octo_diags_free(&d);
	/* Only errors added by this parse make it fail, not those already listed. */
	octo_diags_add(&d, OCTO_DIAG_ERROR, NULL, 0, "earlier");
	cfg = octo_cfg_parse_string("[a]\n", "a.conf", NULL, &d);
	OCTO_CHECK(cfg != NULL);
	OCTO_CHECK_INT_EQ(d.count, 1);
	octo_cfg_free(cfg);
	octo_diags_free(&d);
}

OCTO_TEST(messages_quote_long_and_control_text_safely)
{
	char text[400], want[400];
	size_t pre;

	/* Control characters become '?'... */
	snprintf(text, sizeof(text), "[a]\nk\x1b[31m\n");
	EXPECT_ERRORS(text, "t.conf:2: expected \"key = value\", got \"k?[31m\"");
	/* ...and a long text is cut to 100 bytes followed by "...". */
	memset(text, 0, sizeof(text));
	strcpy(text, "[a]\n");
	memset(text + 4, 'w', 200);
	strcpy(want, "t.conf:2: expected \"key = value\", got \"");
	pre = strlen(want);
	memset(want + pre, 'w', 100);
	want[pre + 100] = '\0';
	strcat(want, "...\"");
	EXPECT_ERRORS(text, want);
}

OCTO_TEST(long_lines_are_refused)
{
	size_t n = 70000;
	char *text = malloc(n + 32), *p;
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg;

	/* A line of exactly 65536 bytes is fine... */
	p = text + sprintf(text, "[a]\nk=");
	memset(p, 'x', 65534);
	strcpy(p + 65534, "\r\n");
	cfg = parse_ok(text, &d);
	OCTO_CHECK_INT_EQ(strlen(octo_cfg_value(cfg, "a", "k")), 65534);
	octo_cfg_free(cfg);
	/* ...one byte more is not. */
	p = text + sprintf(text, "[a]\nk=");
	memset(p, 'x', 65535);
	strcpy(p + 65535, "\nq=1\n");
	EXPECT_ERRORS(text, "t.conf:2: line too long (more than 65536 bytes)");
	p = text + sprintf(text, "[a]\n");
	memset(p, ';', n);
	p[n] = '\0';
	EXPECT_ERRORS(text, "t.conf:2: line too long (more than 65536 bytes)");
	free(text);
	octo_diags_free(&d);
}

OCTO_TEST(too_many_errors_stop_the_parse)
{
	size_t n = 300;
	char *text = malloc(4 + n * 4 + 1), *p = text;
	struct octo_diags d = { 0 };

	p += sprintf(p, "[a]\n");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "bad\n");
	OCTO_CHECK(octo_cfg_parse_string(text, "t.conf", NULL, &d) == NULL);
	OCTO_CHECK_INT_EQ(d.count, 201);
	OCTO_CHECK_INT_EQ(d.errors, 201);
	OCTO_CHECK_STR_EQ(msg(&d, 199), "t.conf:201: expected \"key = value\", got \"bad\"");
	OCTO_CHECK_STR_EQ(msg(&d, 200), "t.conf:201: too many errors (200), stopping here");
	free(text);
	octo_diags_free(&d);
}

OCTO_TEST(inheritance_blowup_is_bounded)
{
	/* Each template inherits the previous one twice: 2^i keys at level i. */
	char text[1024], *p = text;
	struct octo_diags d = { 0 };

	p += sprintf(p, "[t0](!)\nk=v\n");
	for (int i = 1; i <= 20; i++)
		p += sprintf(p, "[t%d](!,t%d,t%d)\n", i, i - 1, i - 1);
	OCTO_CHECK(octo_cfg_parse_string(text, "t.conf", NULL, &d) == NULL);
	OCTO_CHECK_INT_EQ(d.count, 1);
	OCTO_CHECK_STR_EQ(msg(&d, 0),
			  "t.conf:21: too many keys (more than 1000000), stopping here");
	octo_diags_free(&d);
}

/* ---------------------------------------------------------------- files and includes */
OCTO_TEST(load_missing_file)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg;

	tmp_init();
	OCTO_CHECK(octo_cfg_load(tmp_dir, "missing.conf", false, &d) == NULL);
	OCTO_CHECK_INT_EQ(d.count, 1);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "missing.conf: cannot open: No such file or directory");
	OCTO_CHECK_STR_EQ(d.items[0].file, "missing.conf");
	OCTO_CHECK_INT_EQ(d.items[0].line, 0);
	octo_diags_free(&d);

	cfg = octo_cfg_load(tmp_dir, "missing.conf", true, &d);
	OCTO_CHECK(cfg != NULL);
	OCTO_CHECK_INT_EQ(d.count, 0);
	OCTO_CHECK(cfg && cfg->sections == NULL);
	OCTO_CHECK_STR_EQ(cfg ? cfg->file : NULL, "missing.conf");
	octo_cfg_free(cfg);

	/* optional does not hide a folder given where a file was expected */
	tmp_mkdir("adir");
	OCTO_CHECK(octo_cfg_load(tmp_dir, "adir", true, &d) == NULL);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "adir: cannot read: not a regular file");
	octo_diags_free(&d);
	tmp_done();
}

OCTO_TEST(load_includes_relative_to_the_config_folder)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg;
	const struct octo_cfg_section *s;
	const struct octo_cfg_var *v;

	tmp_init();
	tmp_mkdir("sub");
	tmp_write("main.conf", "[general]\n"
			       "a = 1\n"
			       "#include \"more.conf\"  ; continues [general]\n"
			       "c = 3\n"
			       "#include sub/users.conf\n"
			       "[last]\n"
			       "z = 26\n");
	tmp_write("more.conf", "b = 2\n"
			       "[extra]\n"
			       "x = 9\n");
	/* Nested includes are relative to the config folder too, not to sub/. */
	tmp_write("sub/users.conf", "[tpl](!)\nnat = yes\n#include \"sub/alice.conf\"\n");
	tmp_write("sub/alice.conf", "[alice](tpl)\r\nsecret = s3\r\n");

	cfg = octo_cfg_load(tmp_dir, "main.conf", false, &d);
	OCTO_CHECK(cfg != NULL);
	OCTO_CHECK_INT_EQ(d.count, 0);
	if (!cfg) {
		tmp_done();
		octo_diags_free(&d);
		return;
	}
	OCTO_CHECK_STR_EQ(cfg->file, "main.conf");
	s = octo_cfg_first(cfg);
	OCTO_CHECK_STR_EQ(s->name, "general");
	OCTO_CHECK_INT_EQ(count_vars(s), 2);
	v = s->vars;
	OCTO_CHECK_STR_EQ(v->value, "1");
	OCTO_CHECK_STR_EQ(v->next->name, "b");
	OCTO_CHECK_STR_EQ(v->next->file, "more.conf");
	OCTO_CHECK_INT_EQ(v->next->line, 1);

	/* The included file added [extra], which stays open after the include. */
	s = octo_cfg_next(s);
	OCTO_CHECK_STR_EQ(s->name, "extra");
	OCTO_CHECK_STR_EQ(s->file, "more.conf");
	OCTO_CHECK_INT_EQ(s->line, 2);
	OCTO_CHECK_INT_EQ(count_vars(s), 2);
	OCTO_CHECK_STR_EQ(s->vars->next->name, "c");
	OCTO_CHECK_STR_EQ(s->vars->next->file, "main.conf");
	OCTO_CHECK_INT_EQ(s->vars->next->line, 4);

	s = octo_cfg_next(s);
	OCTO_CHECK_STR_EQ(s->name, "alice");
	OCTO_CHECK_STR_EQ(s->file, "sub/alice.conf");
	OCTO_CHECK_STR_EQ(s->templates, "tpl");
	v = s->vars;
	OCTO_CHECK_STR_EQ(v->name, "nat");
	OCTO_CHECK(v->inherited);
	OCTO_CHECK_STR_EQ(v->file, "sub/users.conf");
	OCTO_CHECK_INT_EQ(v->line, 2);
	OCTO_CHECK_STR_EQ(v->next->value, "s3");
	OCTO_CHECK_STR_EQ(v->next->file, "sub/alice.conf");

	s = octo_cfg_next(s);
	OCTO_CHECK_STR_EQ(s->name, "last");
	OCTO_CHECK_INT_EQ(s->line, 6);
	OCTO_CHECK(octo_cfg_next(s) == NULL);
	octo_cfg_free(cfg);

	/* parse_string with a folder reads includes from it. */
	cfg = octo_cfg_parse_string("[x]\n#include more.conf\n", "str.conf", tmp_dir, &d);
	OCTO_CHECK(cfg != NULL);
	OCTO_CHECK_STR_EQ(octo_cfg_value(cfg, "x", "b"), "2");
	OCTO_CHECK_STR_EQ(octo_cfg_value(cfg, "extra", "x"), "9");
	octo_cfg_free(cfg);
	octo_diags_free(&d);
	tmp_done();
}

OCTO_TEST(include_errors)
{
	struct octo_diags d = { 0 };

	tmp_init();
	tmp_mkdir("adir");
	tmp_write("main.conf", "[a]\n"
			       "#include \"nope.conf\"\n"
			       "#include adir\n"
			       "#include \"dup.conf\"\n"
			       "k = v\n");
	tmp_write("dup.conf", "[a]\nbad line\n");
	OCTO_CHECK(octo_cfg_load(tmp_dir, "main.conf", false, &d) == NULL);
	OCTO_CHECK_INT_EQ(d.count, 3);
	OCTO_CHECK_INT_EQ(d.errors, 3);
	OCTO_CHECK_STR_EQ(msg(&d, 0),
			  "main.conf:2: cannot include \"nope.conf\": No such file or directory");
	OCTO_CHECK_STR_EQ(msg(&d, 1), "main.conf:3: cannot include \"adir\": not a regular file");
	/* dup.conf's [a] is a duplicate: its keys are dropped without more errors */
	OCTO_CHECK_STR_EQ(msg(&d, 2), "dup.conf:1: [a] is already defined at main.conf:1");
	OCTO_CHECK_STR_EQ(d.items[2].file, "dup.conf");
	octo_diags_free(&d);
	tmp_done();
}

OCTO_TEST(include_cycles_are_detected)
{
	struct octo_diags d = { 0 };

	tmp_init();
	tmp_write("top.conf", "[s]\n#include a.conf\n");
	tmp_write("a.conf", "k = 1\n#include \"b.conf\"\n");
	tmp_write("b.conf", "; b\n\n#include \"a.conf\"\n");
	OCTO_CHECK(octo_cfg_load(tmp_dir, "top.conf", false, &d) == NULL);
	OCTO_CHECK_INT_EQ(d.count, 1);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "b.conf:3: #include cycle: a.conf -> b.conf -> a.conf");
	octo_diags_free(&d);

	tmp_write("self.conf", "#include \"self.conf\"\n");
	OCTO_CHECK(octo_cfg_load(tmp_dir, "self.conf", false, &d) == NULL);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "self.conf:1: #include cycle: self.conf -> self.conf");
	octo_diags_free(&d);

	/* The same file twice, not nested, is no cycle. */
	tmp_write("twice.conf", "[s]\n#include a2.conf\n#include a2.conf\n");
	tmp_write("a2.conf", "k = 1\n");
	{
		struct octo_cfg *cfg = octo_cfg_load(tmp_dir, "twice.conf", false, &d);

		OCTO_CHECK(cfg != NULL);
		OCTO_CHECK_INT_EQ(count_vars(octo_cfg_section(cfg, "s")), 2);
		octo_cfg_free(cfg);
	}
	octo_diags_free(&d);
	tmp_done();
}

OCTO_TEST(include_depth_is_limited_to_16)
{
	struct octo_diags d = { 0 };
	struct octo_cfg *cfg;
	char name[32], text[64];

	tmp_init();
	/* d0 -> d1 -> ... -> d16: 16 nested levels are fine. */
	for (int i = 0; i <= 16; i++) {
		snprintf(name, sizeof(name), "d%d.conf", i);
		if (i == 0)
			snprintf(text, sizeof(text), "[s]\n#include \"d1.conf\"\n");
		else if (i < 16)
			snprintf(text, sizeof(text), "k%d = %d\n#include \"d%d.conf\"\n", i, i,
				 i + 1);
		else
			snprintf(text, sizeof(text), "k16 = 16\n");
		tmp_write(name, text);
	}
	cfg = octo_cfg_load(tmp_dir, "d0.conf", false, &d);
	OCTO_CHECK(cfg != NULL);
	OCTO_CHECK_INT_EQ(count_vars(octo_cfg_section(cfg, "s")), 16);
	OCTO_CHECK_STR_EQ(octo_cfg_value(cfg, "s", "k16"), "16");
	octo_cfg_free(cfg);
	/* A 17th level is not. */
	tmp_write("d16.conf", "k16 = 16\n#include \"d17.conf\"\n");
	tmp_write("d17.conf", "k17 = 17\n");
	OCTO_CHECK(octo_cfg_load(tmp_dir, "d0.conf", false, &d) == NULL);
	OCTO_CHECK_INT_EQ(d.count, 1);
	OCTO_CHECK_STR_EQ(
		msg(&d, 0),
		"d16.conf:2: #include \"d17.conf\": nested too deeply (more than 16 levels)");
	octo_diags_free(&d);
	tmp_done();
}

OCTO_TEST(binary_files_are_refused)
{
	struct octo_diags d = { 0 };
	static const char bin[] = "[a]\nk = 1\nx\0yz\n";

	tmp_init();
	tmp_write_len("bin.conf", bin, sizeof(bin) - 1);
	OCTO_CHECK(octo_cfg_load(tmp_dir, "bin.conf", false, &d) == NULL);
	OCTO_CHECK_INT_EQ(d.count, 1);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "bin.conf:3: NUL byte in the file: not a text file");
	octo_diags_free(&d);

	tmp_write("top.conf", "[a]\n#include bin.conf\n");
	OCTO_CHECK(octo_cfg_load(tmp_dir, "top.conf", false, &d) == NULL);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "bin.conf:3: NUL byte in the file: not a text file");
	octo_diags_free(&d);
	tmp_done();
}

OCTO_TEST(include_limits_files_and_size)
{
	struct octo_diags d = { 0 };
	char path[600];
	size_t n = 1100;
	char *text = malloc(8 + n * 18), *p = text;
	FILE *f;

	tmp_init();
	p += sprintf(p, "[s]\n");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "#include one.conf\n");
	tmp_write("many.conf", text);
	tmp_write("one.conf", "k = 1\n");
	/* The top file and 1023 includes are fine; the next include stops the load. */
	OCTO_CHECK(octo_cfg_load(tmp_dir, "many.conf", false, &d) == NULL);
	OCTO_CHECK_INT_EQ(d.count, 1);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "many.conf:1025: #include \"one.conf\": too many included "
				      "files (more than 1024)");
	octo_diags_free(&d);
	free(text);

	/* A (sparse) file over the size limit is refused before it is read. */
	snprintf(path, sizeof(path), "%s/big.conf", tmp_dir);
	f = fopen(path, "wb");
	OCTO_CHECK(f && ftruncate(fileno(f), 65 * 1024 * 1024) == 0);
	if (f)
		fclose(f);
	OCTO_CHECK(octo_cfg_load(tmp_dir, "big.conf", false, &d) == NULL);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "big.conf: cannot read: too large (more than 64 MiB of "
				      "config text)");
	octo_diags_free(&d);
	tmp_write("top.conf", "[a]\n#include big.conf\n");
	OCTO_CHECK(octo_cfg_load(tmp_dir, "top.conf", false, &d) == NULL);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "top.conf:2: cannot include \"big.conf\": too large (more "
				      "than 64 MiB of config text)");
	octo_diags_free(&d);

	/* An absolute include path is used as written. */
	snprintf(path, sizeof(path), "[a]\n#include \"%s/one.conf\"\n", tmp_dir);
	tmp_write("abs.conf", path);
	{
		struct octo_cfg *cfg = octo_cfg_load(tmp_dir, "abs.conf", false, &d);
		const struct octo_cfg_var *v = octo_cfg_var_find(octo_cfg_section(cfg, "a"), "k");

		OCTO_CHECK(cfg != NULL);
		OCTO_CHECK(v != NULL);
		if (v) {
			snprintf(path, sizeof(path), "%s/one.conf", tmp_dir);
			OCTO_CHECK_STR_EQ(v->file, path);
		}
		octo_cfg_free(cfg);
	}
	octo_diags_free(&d);
	tmp_done();
}

/* ---------------------------------------------------------------- value parsers */
OCTO_TEST(parse_bool_values)
{
	static const char *const yes[] = { "yes", "YES", "true", "On", "1" };
	static const char *const no[] = { "no", "No", "false", "off", "0" };
	static const char *const bad[] = { "", "y", "2", "yes ", "enable" };
	bool b;

	for (size_t i = 0; i < OCTO_ARRAY_LEN(yes); i++) {
		b = false;
		OCTO_CHECK(octo_cfg_parse_bool(yes[i], &b) == NULL);
		OCTO_CHECK(b);
		OCTO_CHECK(octo_cfg_parse_bool(no[i], &b) == NULL);
		OCTO_CHECK(!b);
	}
	for (size_t i = 0; i < OCTO_ARRAY_LEN(bad); i++)
		OCTO_CHECK_STR_EQ(octo_cfg_parse_bool(bad[i], &b), "is not a boolean (yes/no)");
}

OCTO_TEST(parse_duration_values)
{
	static const struct {
		const char *text;
		bool ms;
		unsigned long long v;
	} good[] = {
		{ "90", false, 90 },
		{ "90s", false, 90 },
		{ "15m", false, 900 },
		{ "2h", false, 7200 },
		{ "1d", false, 86400 },
		{ "1h30m", false, 5400 },
		{ "1d2h3m4s", false, 93784 },
		{ "0", false, 0 },
		{ "0s", false, 0 },
		{ "250ms", true, 250 },
		{ "2s", true, 2000 },
		{ "500", true, 500 },
		{ "1s500ms", true, 1500 },
		{ "1m", true, 60000 },
		{ "1h", true, 3600000 },
		{ "18446744073709551615", false, 18446744073709551615ull },
	};
	static const char *const bad[] = { "",   "m",  "s5",  "1x", "1.5s", "30m1h", "1h1h", "1h30",
					   "-1", " 1", "1 h", "1H", "5min", "1s,",   "+5" };
	static const char *const big[] = { "18446744073709551616", "213503982334601d",
					   "99999999999999999999999s", "18446744073709551615s1ms" };
	unsigned long long v;

	for (size_t i = 0; i < OCTO_ARRAY_LEN(good); i++) {
		v = 12345;
		OCTO_CHECK(octo_cfg_parse_duration(good[i].text, good[i].ms, &v) == NULL);
		OCTO_CHECK_INT_EQ(v, good[i].v);
	}
	for (size_t i = 0; i < OCTO_ARRAY_LEN(bad); i++) {
		OCTO_CHECK_STR_EQ(octo_cfg_parse_duration(bad[i], false, &v),
				  "is not a valid duration (like 90, 45s, 15m, 2h, 1d)");
		OCTO_CHECK_STR_EQ(octo_cfg_parse_duration(bad[i], true, &v),
				  "is not a valid duration (like 500, 250ms, 2s)");
	}
	/* Milliseconds are not a unit of a duration in seconds. */
	OCTO_CHECK_STR_EQ(octo_cfg_parse_duration("500ms", false, &v),
			  "is not a valid duration (like 90, 45s, 15m, 2h, 1d)");
	for (size_t i = 0; i < OCTO_ARRAY_LEN(big); i++)
		OCTO_CHECK_STR_EQ(octo_cfg_parse_duration(big[i], true, &v), "is too large");
	OCTO_CHECK_STR_EQ(octo_cfg_parse_duration("213503982334602d", false, &v), "is too large");
	OCTO_CHECK(octo_cfg_parse_duration("213503982334601d", false, &v) == NULL);
	OCTO_CHECK_INT_EQ(v, 18446744073709526400ull);
}

OCTO_TEST(edit_distance)
{
	char a[201], b[201];

	OCTO_CHECK_INT_EQ(octo_edit_distance("kitten", "sitting"), 3);
	OCTO_CHECK_INT_EQ(octo_edit_distance("sitting", "kitten"), 3);
	OCTO_CHECK_INT_EQ(octo_edit_distance("", "abc"), 3);
	OCTO_CHECK_INT_EQ(octo_edit_distance("abc", ""), 3);
	OCTO_CHECK_INT_EQ(octo_edit_distance("", ""), 0);
	OCTO_CHECK_INT_EQ(octo_edit_distance("secret", "secret"), 0);
	OCTO_CHECK_INT_EQ(octo_edit_distance("secert", "secret"), 2);
	OCTO_CHECK_INT_EQ(octo_edit_distance("Port", "port"), 1);
	OCTO_CHECK_INT_EQ(octo_edit_distance("show", "sohw"), 2);
	/* Longer than the on-stack row. */
	memset(a, 'a', 200);
	a[200] = '\0';
	memcpy(b, a, sizeof(a));
	b[0] = 'b';
	b[199] = '\0';
	OCTO_CHECK_INT_EQ(octo_edit_distance(a, b), 2);
}

OCTO_TEST(cidr_parse_and_contains)
{
	struct octo_cidr c;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	OCTO_CHECK(octo_cidr_parse("10.0.0.0/8", true, &c) == NULL);
	OCTO_CHECK_INT_EQ(c.family, AF_INET);
	OCTO_CHECK_INT_EQ(c.prefix, 8);
	inet_pton(AF_INET, "10.20.30.40", &sin.sin_addr);
	OCTO_CHECK(octo_cidr_contains(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "11.0.0.1", &sin.sin_addr);
	OCTO_CHECK(!octo_cidr_contains(&c, (struct sockaddr *)&sin));
	/* An IPv4 peer on a dual-stack socket. */
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr);
	OCTO_CHECK(octo_cidr_contains(&c, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	OCTO_CHECK(!octo_cidr_contains(&c, (struct sockaddr *)&sin6));

	OCTO_CHECK(octo_cidr_parse("192.168.1.0/23", true, &c) == NULL);
	inet_pton(AF_INET, "192.168.0.255", &sin.sin_addr);
	OCTO_CHECK(octo_cidr_contains(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.168.2.0", &sin.sin_addr);
	OCTO_CHECK(!octo_cidr_contains(&c, (struct sockaddr *)&sin));

	OCTO_CHECK(octo_cidr_parse("0.0.0.0/0", true, &c) == NULL);
	OCTO_CHECK(octo_cidr_contains(&c, (struct sockaddr *)&sin));

	OCTO_CHECK(octo_cidr_parse("192.168.2.7", false, &c) == NULL);
	OCTO_CHECK_INT_EQ(c.prefix, 32);
	inet_pton(AF_INET, "192.168.2.7", &sin.sin_addr);
	OCTO_CHECK(octo_cidr_contains(&c, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.168.2.6", &sin.sin_addr);
	OCTO_CHECK(!octo_cidr_contains(&c, (struct sockaddr *)&sin));

	OCTO_CHECK(octo_cidr_parse("2001:db8::/32", true, &c) == NULL);
	OCTO_CHECK_INT_EQ(c.family, AF_INET6);
	OCTO_CHECK_INT_EQ(c.prefix, 32);
	inet_pton(AF_INET6, "2001:db8:ffff::1", &sin6.sin6_addr);
	OCTO_CHECK(octo_cidr_contains(&c, (struct sockaddr *)&sin6));
	inet_pton(AF_INET6, "2001:db9::1", &sin6.sin6_addr);
	OCTO_CHECK(!octo_cidr_contains(&c, (struct sockaddr *)&sin6));
	OCTO_CHECK(!octo_cidr_contains(&c, (struct sockaddr *)&sin));
	OCTO_CHECK(octo_cidr_parse("::1", false, &c) == NULL);
	OCTO_CHECK_INT_EQ(c.prefix, 128);
	OCTO_CHECK(octo_cidr_parse("fe80::1/10", true, &c) == NULL);
	OCTO_CHECK_INT_EQ(c.prefix, 10);
	OCTO_CHECK(!octo_cidr_contains(NULL, (struct sockaddr *)&sin));

	OCTO_CHECK_STR_EQ(octo_cidr_parse("10.0.0.0/8", false, &c),
			  "is not a plain IP address (no /prefix allowed)");
	OCTO_CHECK_STR_EQ(octo_cidr_parse("10.0.0.256", true, &c), "is not a valid IP address");
	OCTO_CHECK_STR_EQ(octo_cidr_parse("10.0.0", true, &c), "is not a valid IP address");
	OCTO_CHECK_STR_EQ(octo_cidr_parse("", true, &c), "is not a valid IP address");
	OCTO_CHECK_STR_EQ(octo_cidr_parse("/8", true, &c), "is not a valid IP address");
	OCTO_CHECK_STR_EQ(octo_cidr_parse("host.example.com", true, &c),
			  "is not a valid IP address");
	OCTO_CHECK_STR_EQ(octo_cidr_parse("10.0.0.0/33", true, &c),
			  "has a bad /prefix (0..32 for IPv4)");
	OCTO_CHECK_STR_EQ(octo_cidr_parse("10.0.0.0/", true, &c),
			  "has a bad /prefix (0..32 for IPv4)");
	OCTO_CHECK_STR_EQ(octo_cidr_parse("10.0.0.0/8x", true, &c),
			  "has a bad /prefix (0..32 for IPv4)");
	OCTO_CHECK_STR_EQ(octo_cidr_parse("10.0.0.0/00008", true, &c),
			  "has a bad /prefix (0..32 for IPv4)");
	OCTO_CHECK_STR_EQ(octo_cidr_parse("::/129", true, &c),
			  "has a bad /prefix (0..128 for IPv6)");
}

/* ---------------------------------------------------------------- binding */
static const char *const transports[] = { "udp", "tcp", "tls", NULL };

static int label_sets;

static const char *label_set(void *field, const char *value)
{
	char **p = field;

	label_sets++;
	if (!strcmp(value, "bad"))
		return "is not a valid label";
	free(*p);
	*p = octo_strdup(value);
	return NULL;
}

static void label_free(void *field)
{
	char **p = field;

	free(*p);
	*p = NULL;
}

struct peer {
	char *host;
	int port;
	int offset;
	unsigned maxcalls;
	bool nat;
	int transport;
	struct octo_cfg_list allow;
	struct octo_cfg_list codecs;
	unsigned expiry;
	unsigned timeout;
	struct octo_cidr permit;
	struct octo_cidr bindaddr;
	char *label;
	char *desc;
};

static const struct octo_cfg_opt peer_opts[] = {
	OCTO_CFG_STR("host", struct peer, host, NULL, OCTO_CFG_REQUIRED),
	OCTO_CFG_INT("port", struct peer, port, "5060", 1, 65535),
	OCTO_CFG_INT("offset", struct peer, offset, "-3", 0, 0),
	OCTO_CFG_UINT("maxcalls", struct peer, maxcalls, "10", 0, 100),
	OCTO_CFG_BOOL("nat", struct peer, nat, "no"),
	OCTO_CFG_ENUM("transport", struct peer, transport, "udp", transports),
	OCTO_CFG_LIST("allow", struct peer, allow, "ulaw", OCTO_CFG_MULTI),
	OCTO_CFG_LIST("codecs", struct peer, codecs, "a, b", 0),
	OCTO_CFG_DURATION("expiry", struct peer, expiry, "1h", 60, 86400),
	OCTO_CFG_DURATION_MS("timeout", struct peer, timeout, "2s", 100, 10000),
	OCTO_CFG_ADDR("permit", struct peer, permit, "0.0.0.0/0", 0),
	OCTO_CFG_ADDR("bindaddr", struct peer, bindaddr, NULL, OCTO_CFG_NO_PREFIX),
	OCTO_CFG_CUSTOM("label", struct peer, label, "none", label_set, label_free),
	OCTO_CFG_STR("desc", struct peer, desc, "a peer", 0),
	OCTO_CFG_END
};

/* Parses `text`, binds section `name`; returns the bind result. */
static int bind_text(const char *text, const char *name, struct peer *p, struct octo_diags *d,
		     bool (*ignore)(const char *))
{
	struct octo_diags pd = { 0 };
	struct octo_cfg *cfg = octo_cfg_parse_string(text, "sip.conf", NULL, &pd);
	int rc;

	memset(p, 0, sizeof(*p));
	OCTO_CHECK(cfg != NULL);
	if (!cfg) {
		printf("     parse: %s\n", msg(&pd, 0));
		octo_diags_free(&pd);
		return -100;
	}
	rc = octo_cfg_bind(octo_cfg_section(cfg, name), peer_opts, p, ignore, d);
	octo_cfg_free(cfg); /* the struct owns copies: nothing borrows from the tree */
	octo_diags_free(&pd);
	return rc;
}

OCTO_TEST(bind_defaults)
{
	struct octo_diags d = { 0 };
	struct peer p;

	OCTO_CHECK_INT_EQ(bind_text("[alice]\nhost = pbx.example.com\n", "alice", &p, &d, NULL), 0);
	OCTO_CHECK_INT_EQ(d.count, 0);
	OCTO_CHECK_STR_EQ(p.host, "pbx.example.com");
	OCTO_CHECK_INT_EQ(p.port, 5060);
	OCTO_CHECK_INT_EQ(p.offset, -3);
	OCTO_CHECK_INT_EQ(p.maxcalls, 10);
	OCTO_CHECK(!p.nat);
	OCTO_CHECK_INT_EQ(p.transport, 0);
	OCTO_CHECK_INT_EQ(p.allow.count, 1);
	OCTO_CHECK_STR_EQ(p.allow.items[0], "ulaw");
	OCTO_CHECK_INT_EQ(p.codecs.count, 2);
	OCTO_CHECK_STR_EQ(p.codecs.items[0], "a");
	OCTO_CHECK_STR_EQ(p.codecs.items[1], "b");
	OCTO_CHECK_INT_EQ(p.expiry, 3600);
	OCTO_CHECK_INT_EQ(p.timeout, 2000);
	OCTO_CHECK_INT_EQ(p.permit.family, AF_INET);
	OCTO_CHECK_INT_EQ(p.permit.prefix, 0);
	OCTO_CHECK_INT_EQ(p.bindaddr.family, 0);
	OCTO_CHECK_STR_EQ(p.label, "none");
	OCTO_CHECK_STR_EQ(p.desc, "a peer");
	octo_cfg_unbind(peer_opts, &p);
	OCTO_CHECK(p.host == NULL && p.allow.items == NULL && p.allow.count == 0);
	OCTO_CHECK(p.label == NULL && p.desc == NULL);
	octo_diags_free(&d);
}

OCTO_TEST(bind_values_of_every_type)
{
	struct octo_diags d = { 0 };
	struct peer p;
	char buf[INET6_ADDRSTRLEN];

	label_sets = 0;
	OCTO_CHECK_INT_EQ(bind_text("[office](!)\n"
				    "allow = alaw\n"
				    "nat = yes\n"
				    "port = 5070\n"
				    "[alice](office)\n"
				    "host = 10.0.0.1\n"
				    "port = 5080\n"
				    "offset = -2147483648\n"
				    "maxcalls = 0\n"
				    "transport = TLS\n"
				    "allow = g722, opus ,\n"
				    "allow =\n"
				    "allow = gsm\n"
				    "codecs = x\n"
				    "codecs = y,z\n"
				    "expiry = 1h30m\n"
				    "timeout = 250ms\n"
				    "permit = 192.168.0.0/16\n"
				    "bindaddr = ::1\n"
				    "label = first\n"
				    "label = second\n"
				    "desc =\n",
				    "alice", &p, &d, NULL),
			  0);
	OCTO_CHECK_INT_EQ(d.count, 0);
	OCTO_CHECK_STR_EQ(p.host, "10.0.0.1");
	OCTO_CHECK_INT_EQ(p.port, 5080); /* the last occurrence wins */
	OCTO_CHECK_INT_EQ(p.offset, INT_MIN);
	OCTO_CHECK_INT_EQ(p.maxcalls, 0);
	OCTO_CHECK(p.nat);
	OCTO_CHECK_INT_EQ(p.transport, 2);
	/* MULTI: the first occurrence replaces the default, the next ones add;
	 * the template's come first. */
	OCTO_CHECK_INT_EQ(p.allow.count, 4);
	OCTO_CHECK_STR_EQ(p.allow.items[0], "alaw");
	OCTO_CHECK_STR_EQ(p.allow.items[1], "g722");
	OCTO_CHECK_STR_EQ(p.allow.items[2], "opus");
	OCTO_CHECK_STR_EQ(p.allow.items[3], "gsm");
	/* A plain list: the last occurrence wins. */
	OCTO_CHECK_INT_EQ(p.codecs.count, 2);
	OCTO_CHECK_STR_EQ(p.codecs.items[0], "y");
	OCTO_CHECK_STR_EQ(p.codecs.items[1], "z");
	OCTO_CHECK_INT_EQ(p.expiry, 5400);
	OCTO_CHECK_INT_EQ(p.timeout, 250);
	OCTO_CHECK_INT_EQ(p.permit.family, AF_INET);
	OCTO_CHECK_INT_EQ(p.permit.prefix, 16);
	inet_ntop(AF_INET, &p.permit.addr.v4, buf, sizeof(buf));
	OCTO_CHECK_STR_EQ(buf, "192.168.0.0");
	OCTO_CHECK_INT_EQ(p.bindaddr.family, AF_INET6);
	OCTO_CHECK_INT_EQ(p.bindaddr.prefix, 128);
	/* A custom setter runs once, with the last occurrence, not the default. */
	OCTO_CHECK_STR_EQ(p.label, "second");
	OCTO_CHECK_INT_EQ(label_sets, 1);
	OCTO_CHECK_STR_EQ(p.desc, "");
	octo_cfg_unbind(peer_opts, &p);
	octo_diags_free(&d);
}

OCTO_TEST(bind_multi_list_grows)
{
	struct octo_diags d = { 0 };
	struct peer p;
	char *text = malloc(64 * 12 + 32), *s = text;

	s += sprintf(s, "[a]\nhost=h\n");
	for (int i = 0; i < 50; i++)
		s += sprintf(s, "allow=c%d,d%d\n", i, i);
	OCTO_CHECK_INT_EQ(bind_text(text, "a", &p, &d, NULL), 0);
	OCTO_CHECK_INT_EQ(p.allow.count, 100);
	OCTO_CHECK_STR_EQ(p.allow.items[0], "c0");
	OCTO_CHECK_STR_EQ(p.allow.items[99], "d49");
	octo_cfg_unbind(peer_opts, &p);
	free(text);
	octo_diags_free(&d);
}

/* Binds `line` under [alice] (line 2 of sip.conf) and expects one error. */
static void expect_bind_error(const char *line, const char *want)
{
	struct octo_diags d = { 0 };
	struct peer p;
	char text[512];

	snprintf(text, sizeof(text), "[alice]\n%s\nhost = h\n", line);
	OCTO_CHECK_INT_EQ(bind_text(text, "alice", &p, &d, NULL), OCTO_ECONFIG);
	OCTO_CHECK_INT_EQ(d.count, 1);
	OCTO_CHECK_INT_EQ(d.errors, 1);
	OCTO_CHECK_STR_EQ(msg(&d, 0), want);
	octo_cfg_unbind(peer_opts, &p);
	octo_diags_free(&d);
}

OCTO_TEST(bind_value_errors)
{
	expect_bind_error("port = 70000",
			  "sip.conf:2: [alice] port: \"70000\" is out of range 1..65535");
	expect_bind_error("port = 0", "sip.conf:2: [alice] port: \"0\" is out of range 1..65535");
	expect_bind_error("port = 50x", "sip.conf:2: [alice] port: \"50x\" is not a number");
	expect_bind_error("port = 0x10", "sip.conf:2: [alice] port: \"0x10\" is not a number");
	expect_bind_error("port = 5 0", "sip.conf:2: [alice] port: \"5 0\" is not a number");
	expect_bind_error("port =", "sip.conf:2: [alice] port: \"\" is not a number");
	expect_bind_error("port = -", "sip.conf:2: [alice] port: \"-\" is not a number");
	expect_bind_error("port = 99999999999999999999999",
			  "sip.conf:2: [alice] port: \"99999999999999999999999\" is out of range "
			  "1..65535");
	expect_bind_error("offset = 2147483648",
			  "sip.conf:2: [alice] offset: \"2147483648\" is out of range "
			  "-2147483648..2147483647");
	expect_bind_error("maxcalls = -1",
			  "sip.conf:2: [alice] maxcalls: \"-1\" is out of range 0..100");
	expect_bind_error("nat = maybe",
			  "sip.conf:2: [alice] nat: \"maybe\" is not a boolean (yes/no)");
	expect_bind_error("transport = sctp",
			  "sip.conf:2: [alice] transport: \"sctp\" is not one of udp|tcp|tls");
	expect_bind_error("expiry = soon",
			  "sip.conf:2: [alice] expiry: \"soon\" is not a valid duration (like 90, "
			  "45s, 15m, 2h, 1d)");
	expect_bind_error("expiry = 2d",
			  "sip.conf:2: [alice] expiry: \"2d\" is out of range 1m..1d");
	expect_bind_error("expiry = 59",
			  "sip.conf:2: [alice] expiry: \"59\" is out of range 1m..1d");
	expect_bind_error("expiry = 99999999999999999999999d",
			  "sip.conf:2: [alice] expiry: \"99999999999999999999999d\" is too large");
	expect_bind_error(
		"timeout = 1.5s",
		"sip.conf:2: [alice] timeout: \"1.5s\" is not a valid duration (like 500, "
		"250ms, 2s)");
	expect_bind_error("timeout = 99",
			  "sip.conf:2: [alice] timeout: \"99\" is out of range 100ms..10s");
	expect_bind_error("timeout = 10s1ms",
			  "sip.conf:2: [alice] timeout: \"10s1ms\" is out of range 100ms..10s");
	expect_bind_error(
		"permit = 10.0.0.0/40",
		"sip.conf:2: [alice] permit: \"10.0.0.0/40\" has a bad /prefix (0..32 for "
		"IPv4)");
	expect_bind_error("permit = nowhere",
			  "sip.conf:2: [alice] permit: \"nowhere\" is not a valid IP address");
	expect_bind_error("bindaddr = 10.0.0.1/32",
			  "sip.conf:2: [alice] bindaddr: \"10.0.0.1/32\" is not a plain IP address "
			  "(no /prefix allowed)");
	expect_bind_error("label = bad", "sip.conf:2: [alice] label: \"bad\" is not a valid label");
}

OCTO_TEST(bind_reports_every_error_and_keeps_defaults)
{
	struct octo_diags d = { 0 };
	struct peer p;

	OCTO_CHECK_INT_EQ(bind_text("\n[bob]\nport = 1\nport = big\nnat = si\nhost = h\n", "bob",
				    &p, &d, NULL),
			  OCTO_ECONFIG);
	OCTO_CHECK_INT_EQ(d.count, 2);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "sip.conf:4: [bob] port: \"big\" is not a number");
	OCTO_CHECK_STR_EQ(msg(&d, 1), "sip.conf:5: [bob] nat: \"si\" is not a boolean (yes/no)");
	OCTO_CHECK_STR_EQ(d.items[0].file, "sip.conf");
	OCTO_CHECK_INT_EQ(d.items[0].line, 4);
	/* A bad value leaves the field as it was. */
	OCTO_CHECK_INT_EQ(p.port, 1);
	OCTO_CHECK(!p.nat);
	octo_cfg_unbind(peer_opts, &p); /* safe after a failed bind: no leak */
	octo_diags_free(&d);
}

OCTO_TEST(bind_required_option_missing)
{
	struct octo_diags d = { 0 };
	struct peer p;

	OCTO_CHECK_INT_EQ(bind_text("[x]\n\n[carol]\nport = 5061\n", "carol", &p, &d, NULL),
			  OCTO_ECONFIG);
	OCTO_CHECK_INT_EQ(d.count, 1);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "sip.conf:3: [carol] host: required option missing");
	OCTO_CHECK_INT_EQ(p.port, 5061);
	octo_cfg_unbind(peer_opts, &p);
	octo_diags_free(&d);

	/* Given by a template, it is there. */
	OCTO_CHECK_INT_EQ(bind_text("[t](!)\nhost = h\n[carol](t)\n", "carol", &p, &d, NULL), 0);
	OCTO_CHECK_STR_EQ(p.host, "h");
	octo_cfg_unbind(peer_opts, &p);
	octo_diags_free(&d);
}

OCTO_TEST(bind_without_section_applies_defaults)
{
	struct octo_diags d = { 0 };
	struct peer p = { 0 };

	OCTO_CHECK_INT_EQ(octo_cfg_bind(NULL, peer_opts, &p, NULL, &d), OCTO_ECONFIG);
	OCTO_CHECK_INT_EQ(d.count, 1);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "host: required option missing");
	OCTO_CHECK_INT_EQ(p.port, 5060);
	OCTO_CHECK_STR_EQ(p.label, "none");
	octo_cfg_unbind(peer_opts, &p);
	octo_diags_free(&d);
}

struct small {
	char *secret;
	int port;
	bool nat;
	int m1, m2, m3, m4;
	char *code, *codec;
};

static const struct octo_cfg_opt small_opts[] = {
	OCTO_CFG_STR("secret", struct small, secret, NULL, 0),
	OCTO_CFG_INT("port", struct small, port, NULL, 0, 0),
	OCTO_CFG_BOOL("nat", struct small, nat, NULL),
	OCTO_CFG_INT("mode1", struct small, m1, NULL, 0, 0),
	OCTO_CFG_INT("mode2", struct small, m2, NULL, 0, 0),
	OCTO_CFG_INT("mode3", struct small, m3, NULL, 0, 0),
	OCTO_CFG_INT("mode4", struct small, m4, NULL, 0, 0),
	OCTO_CFG_STR("codec", struct small, codec, NULL, 0),
	OCTO_CFG_STR("code", struct small, code, NULL, 0),
	OCTO_CFG_END
};

static bool ignore_exten(const char *key)
{
	return !strcmp(key, "exten") || !strcmp(key, "secret");
}

OCTO_TEST(bind_unknown_options_suggest_close_keys)
{
	struct octo_diags d = { 0 }, pd = { 0 };
	struct octo_cfg *cfg = octo_cfg_parse_string("[bob]\n"
						     "secert = x\n"
						     "Port = 1\n"
						     "mode = 2\n"
						     "cod = 3\n"
						     "zzzzzz = 4\n"
						     "na = 5\n"
						     "ab = 6\n"
						     "prot = 7\n"
						     "secret = s\n",
						     "sip.conf", NULL, &pd);
	struct small s = { 0 };

	OCTO_CHECK(cfg != NULL);
	OCTO_CHECK_INT_EQ(octo_cfg_bind(octo_cfg_section(cfg, "bob"), small_opts, &s, NULL, &d), 0);
	OCTO_CHECK_INT_EQ(d.count, 8);
	OCTO_CHECK_INT_EQ(d.errors, 0);
	OCTO_CHECK_INT_EQ(d.items[0].severity, OCTO_DIAG_WARNING);
	OCTO_CHECK_STR_EQ(msg(&d, 0),
			  "sip.conf:2: [bob] unknown option \"secert\" (did you mean \"secret\"?)");
	OCTO_CHECK_STR_EQ(msg(&d, 1),
			  "sip.conf:3: [bob] unknown option \"Port\" (did you mean \"port\"?)");
	OCTO_CHECK_STR_EQ(msg(&d, 2), "sip.conf:4: [bob] unknown option \"mode\" (did you mean "
				      "\"mode1\", \"mode2\" or \"mode3\"?)");
	OCTO_CHECK_STR_EQ(msg(&d, 3), "sip.conf:5: [bob] unknown option \"cod\" (did you mean "
				      "\"code\" or \"codec\"?)");
	OCTO_CHECK_STR_EQ(msg(&d, 4), "sip.conf:6: [bob] unknown option \"zzzzzz\"");
	OCTO_CHECK_STR_EQ(msg(&d, 5), "sip.conf:7: [bob] unknown option \"na\" (did you mean "
				      "\"nat\"?)");
	/* "ab" -> "nat" would change more than half of the key: no suggestion. */
	OCTO_CHECK_STR_EQ(msg(&d, 6), "sip.conf:8: [bob] unknown option \"ab\"");
	OCTO_CHECK_STR_EQ(msg(&d, 7),
			  "sip.conf:9: [bob] unknown option \"prot\" (did you mean \"port\"?)");
	OCTO_CHECK_STR_EQ(s.secret, "s");
	octo_cfg_unbind(small_opts, &s);
	octo_diags_free(&d);

	/* Keys the caller handles itself are skipped silently. */
	OCTO_CHECK_INT_EQ(
		octo_cfg_bind(octo_cfg_section(cfg, "bob"), small_opts, &s, ignore_exten, &d), 0);
	OCTO_CHECK_INT_EQ(d.count, 8);
	OCTO_CHECK(s.secret == NULL); /* ignored even though it is an option */
	octo_cfg_unbind(small_opts, &s);
	octo_diags_free(&d);
	octo_cfg_free(cfg);
	octo_diags_free(&pd);
}

OCTO_TEST(bind_ignore_callback_skips_exten)
{
	struct octo_diags d = { 0 }, pd = { 0 };
	struct octo_cfg *cfg = octo_cfg_parse_string("[default]\n"
						     "exten => 100,1,Answer\n"
						     "port = 7\n",
						     "dialplan.conf", NULL, &pd);
	struct small s = { 0 };

	OCTO_CHECK_INT_EQ(octo_cfg_bind(octo_cfg_section(cfg, "default"), small_opts, &s,
					ignore_exten, &d),
			  0);
	OCTO_CHECK_INT_EQ(d.count, 0);
	OCTO_CHECK_INT_EQ(s.port, 7);
	octo_cfg_unbind(small_opts, &s);
	octo_cfg_free(cfg);
	octo_diags_free(&pd);
	octo_diags_free(&d);
}

struct bad_defaults {
	int port;
	bool nat;
	int mode;
	char *name;
};

static const char *const modes[] = { "a", "b", NULL };

static const struct octo_cfg_opt bad_default_opts[] = {
	OCTO_CFG_INT("port", struct bad_defaults, port, "abc", 1, 10),
	OCTO_CFG_BOOL("nat", struct bad_defaults, nat, "sure"),
	OCTO_CFG_ENUM("mode", struct bad_defaults, mode, "c", modes),
	OCTO_CFG_STR("name", struct bad_defaults, name, "n", 0), OCTO_CFG_END
};

OCTO_TEST(bind_bad_default_is_reported)
{
	struct octo_diags d = { 0 }, pd = { 0 };
	struct octo_cfg *cfg = octo_cfg_parse_string("[a]\n[b]\nport = 5\n", "x.conf", NULL, &pd);
	struct bad_defaults b = { 0 };

	OCTO_CHECK_INT_EQ(octo_cfg_bind(octo_cfg_section(cfg, "b"), bad_default_opts, &b, NULL, &d),
			  OCTO_ECONFIG);
	OCTO_CHECK_INT_EQ(d.count, 3);
	OCTO_CHECK_STR_EQ(msg(&d, 0), "x.conf:2: [b] port: default \"abc\" is not a number (bug "
				      "in the option table)");
	OCTO_CHECK_STR_EQ(msg(&d, 1), "x.conf:2: [b] nat: default \"sure\" is not a boolean "
				      "(yes/no) (bug in the option table)");
	OCTO_CHECK_STR_EQ(msg(&d, 2), "x.conf:2: [b] mode: default \"c\" is not one of a|b (bug "
				      "in the option table)");
	OCTO_CHECK_INT_EQ(b.port, 5);
	OCTO_CHECK_STR_EQ(b.name, "n");
	octo_cfg_unbind(bad_default_opts, &b);
	octo_cfg_free(cfg);
	octo_diags_free(&pd);
	octo_diags_free(&d);
}

OCTO_TEST(bind_messages_quote_values_safely)
{
	char line[300], want[300];

	strcpy(line, "port = ");
	memset(line + 7, '9', 150);
	line[157] = '\0';
	strcpy(want, "sip.conf:2: [alice] port: \"");
	memset(want + strlen(want), '9', 100);
	want[27 + 100] = '\0';
	strcat(want, "...\" is out of range 1..65535");
	expect_bind_error(line, want);
	expect_bind_error("nat = \x7f\x01", "sip.conf:2: [alice] nat: \"??\" is not a boolean "
					    "(yes/no)");
}

OCTO_TEST_MAIN()
