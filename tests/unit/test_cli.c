/*
 * test_cli.c - unit tests of the CLI: the tokenizer, command lookup (longest
 * prefix, case), usage / unknown / suggestion messages, text and JSON
 * rendering, JSON escaping, completion, the wire frames (malformed ones
 * included) and the control socket server driven over a real unix socket.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "octo/cli.h"
#include "octo/log.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "../../core/cli_proto.h"
#include "../../core/internal.h"
#include "octo_test.h"

/* ---------------------------------------------------------------- helpers */

static int last_argc;
static char last_args[4][64];

static void test_setup(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	octo_registry_init();
	octo_cli_core_init();
}

static void remember(int argc, char **argv)
{
	last_argc = argc;
	for (int i = 0; i < 4; i++)
		octo_strlcpy(last_args[i], i < argc ? argv[i] : "", sizeof(last_args[i]));
}

static int t_show(struct octo_cli_out *out, int argc, char **argv)
{
	remember(argc, argv);
	octo_cli_printf(out, "show");
	return OCTO_CLI_OK;
}

static int t_peers(struct octo_cli_out *out, int argc, char **argv)
{
	remember(argc, argv);
	octo_cli_columns(out, "Name", "Host", "State", NULL);
	octo_cli_row(out, "alice", "10.0.0.1", "OK");
	octo_cli_row(out, "bob", NULL, "UNREACHABLE");
	return OCTO_CLI_OK;
}

static int t_peer(struct octo_cli_out *out, int argc, char **argv)
{
	remember(argc, argv);
	if (argc != 4)
		return OCTO_CLI_USAGE;
	octo_cli_kv(out, "Name", "%s", argv[3]);
	octo_cli_kv(out, "Registered", "%s", "yes");
	return OCTO_CLI_OK;
}

static int t_fail(struct octo_cli_out *out, int argc, char **argv)
{
	return argc > 2 ? 42 : OCTO_CLI_FAIL;
}

static int t_fail_why(struct octo_cli_out *out, int argc, char **argv)
{
	octo_cli_error(out, "cannot do it: %s", "busy");
	return OCTO_CLI_FAIL;
}

static void t_complete_peer(struct octo_cli_completion *c, int pos, const char *partial)
{
	static const char *const names[] = { "alice", "albert", "bob", "Alfred" };

	if (pos != 0)
		return;
	for (size_t i = 0; i < OCTO_ARRAY_LEN(names); i++)
		octo_cli_complete_add(c, names[i]); /* the core filters by the partial */
}

static const struct octo_cli_cmd test_cmds[] = {
	{ "test show", "Show the test", NULL, t_show, NULL },
	{ "test show peers", "List the test peers", NULL, t_peers, NULL },
	{ "test show peer", "Show one test peer", "test show peer <name>", t_peer,
	  t_complete_peer },
	{ "test fail", "Fail", NULL, t_fail, NULL },
	{ "test fail why", "Fail and say why", NULL, t_fail_why, NULL },
	{ 0 }
};

static void with_test_cmds(void)
{
	test_setup();
	octo_cli_unregister_all(test_cmds);
	octo_cli_register_all(NULL, test_cmds);
}

/* Runs a line; returns the rendered text in a static buffer. */
static char rendered[8192];
static int run(const char *line, bool json)
{
	struct octo_cli_out *out = octo_cli_out_alloc(json);
	int status = octo_cli_execute(out, line);

	octo_strlcpy(rendered, octo_cli_out_render(out, status), sizeof(rendered));
	octo_cli_out_free(out);
	return status;
}

static void free_list(char **list)
{
	for (size_t i = 0; list[i]; i++)
		free(list[i]);
	free(list);
}

/* The candidates joined by ',' into a static buffer. */
static char joined[1024];
static const char *complete(const char *line)
{
	char **list = octo_cli_complete_line(line);

	joined[0] = '\0';
	for (size_t i = 0; list[i]; i++) {
		if (i)
			strcat(joined, ",");
		strcat(joined, list[i]);
	}
	free_list(list);
	return joined;
}

/* ---------------------------------------------------------------- tokenizer */

static const char *tok_err;
static char tok_words[512];
/* Tokenizes and joins the words with '|'; returns the status. */
static int tok(const char *line, unsigned flags, bool *open)
{
	char **argv;
	int argc, rc;

	tok_words[0] = '\0';
	tok_err = NULL;
	rc = octo_cli_tokenize(line, flags, &argc, &argv, open, &tok_err);
	if (rc)
		return rc;
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(tok_words, "|");
		strcat(tok_words, argv[i]);
	}
	if (argv[argc] != NULL)
		strcat(tok_words, "<no NULL>");
	free(argv);
	return argc;
}

OCTO_TEST(tokenizer_splits_on_blanks)
{
	OCTO_CHECK_INT_EQ(tok("  sip\tshow   peers \r\n", 0, NULL), 3);
	OCTO_CHECK_STR_EQ(tok_words, "sip|show|peers");
	OCTO_CHECK_INT_EQ(tok("", 0, NULL), 0);
	OCTO_CHECK_INT_EQ(tok("   ", 0, NULL), 0);
}

OCTO_TEST(tokenizer_quotes_and_escapes)
{
	OCTO_CHECK_INT_EQ(tok("say \"hello world\" x", 0, NULL), 3);
	OCTO_CHECK_STR_EQ(tok_words, "say|hello world|x");
	OCTO_CHECK_INT_EQ(tok("ab\"c d\"e", 0, NULL), 1);
	OCTO_CHECK_STR_EQ(tok_words, "abc de");
	OCTO_CHECK_INT_EQ(tok("a\\ b \\\"q\\\" \"in\\\"side\" back\\\\slash", 0, NULL), 4);
	OCTO_CHECK_STR_EQ(tok_words, "a b|\"q\"|in\"side|back\\slash");
	OCTO_CHECK_INT_EQ(tok("x \"\" y", 0, NULL), 3);
	OCTO_CHECK_STR_EQ(tok_words, "x||y");
}

OCTO_TEST(tokenizer_errors)
{
	OCTO_CHECK_INT_EQ(tok("say \"hello", 0, NULL), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(tok_err, "unterminated quote");
	OCTO_CHECK_INT_EQ(tok("say hello\\", 0, NULL), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(tok_err, "backslash at the end of the line");
}

OCTO_TEST(tokenizer_limits)
{
	char *line = malloc(OCTO_CLI_LINE_MAX + 2);
	char **argv;
	int argc;

	/* 256 words pass, 257 do not. */
	line[0] = '\0';
	for (int i = 0; i < 256; i++)
		strcat(line, "w ");
	OCTO_CHECK_INT_EQ(tok(line, 0, NULL), 256);
	strcat(line, "w");
	OCTO_CHECK_INT_EQ(tok(line, 0, NULL), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(tok_err, "too many words (over 256)");

	/* 65536 bytes pass, 65537 do not. */
	memset(line, 'a', OCTO_CLI_LINE_MAX);
	line[OCTO_CLI_LINE_MAX] = '\0';
	OCTO_CHECK_INT_EQ(octo_cli_tokenize(line, 0, &argc, &argv, NULL, &tok_err), 0);
	OCTO_CHECK_INT_EQ(argc, 1);
	OCTO_CHECK_INT_EQ(strlen(argv[0]), OCTO_CLI_LINE_MAX);
	free(argv);
	line[OCTO_CLI_LINE_MAX] = 'a';
	line[OCTO_CLI_LINE_MAX + 1] = '\0';
	OCTO_CHECK_INT_EQ(tok(line, 0, NULL), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(tok_err, "line too long (over 65536 bytes)");
	free(line);
}

OCTO_TEST(tokenizer_partial_mode)
{
	bool open = false;

	OCTO_CHECK_INT_EQ(tok("sip show pe", OCTO_CLI_TOK_PARTIAL, &open), 3);
	OCTO_CHECK(open);
	OCTO_CHECK_INT_EQ(tok("sip show ", OCTO_CLI_TOK_PARTIAL, &open), 2);
	OCTO_CHECK(!open);
	OCTO_CHECK_INT_EQ(tok("peer \"Al", OCTO_CLI_TOK_PARTIAL, &open), 2);
	OCTO_CHECK_STR_EQ(tok_words, "peer|Al");
	OCTO_CHECK(open);
	OCTO_CHECK_INT_EQ(tok("peer Al\\", OCTO_CLI_TOK_PARTIAL, &open), 2);
	OCTO_CHECK_STR_EQ(tok_words, "peer|Al");
	OCTO_CHECK(open);
}

/* ---------------------------------------------------------------- registration */

OCTO_TEST(register_is_all_or_nothing)
{
	static const struct octo_cli_cmd dup[] = { { "dup one", "x", NULL, t_show, NULL },
						   { "dup two", "x", NULL, t_show, NULL },
						   { "DUP ONE", "x", NULL, t_show, NULL },
						   { 0 } };

	test_setup();
	OCTO_CHECK_INT_EQ(octo_cli_register_all(NULL, dup), OCTO_EEXIST);
	OCTO_CHECK(octo_registry_peek(OCTO_REG_CLI, "dup one", NULL) == NULL);
	OCTO_CHECK(octo_registry_peek(OCTO_REG_CLI, "dup two", NULL) == NULL);
}

OCTO_TEST(register_rejects_bad_words)
{
	static const struct octo_cli_cmd bad[][2] = {
		{ { "sip  show", "x", NULL, t_show, NULL }, { 0 } },
		{ { " sip", "x", NULL, t_show, NULL }, { 0 } },
		{ { "sip ", "x", NULL, t_show, NULL }, { 0 } },
		{ { "say \"x\"", "x", NULL, t_show, NULL }, { 0 } },
		{ { "tab\there", "x", NULL, t_show, NULL }, { 0 } },
		{ { "", "x", NULL, t_show, NULL }, { 0 } },
		{ { "no handler", "x", NULL, NULL, NULL }, { 0 } },
	};

	test_setup();
	for (size_t i = 0; i < OCTO_ARRAY_LEN(bad); i++)
		OCTO_CHECK_INT_EQ(octo_cli_register_all(NULL, bad[i]), OCTO_EINVAL);
}

OCTO_TEST(unregistered_commands_are_gone)
{
	with_test_cmds();
	OCTO_CHECK_INT_EQ(run("test show", false), OCTO_CLI_OK);
	octo_cli_unregister_all(test_cmds);
	OCTO_CHECK_INT_EQ(run("test show", false), OCTO_CLI_UNKNOWN);
}

/* ---------------------------------------------------------------- lookup */

OCTO_TEST(lookup_takes_the_longest_prefix)
{
	with_test_cmds();
	OCTO_CHECK_INT_EQ(run("test show peer alice", false), OCTO_CLI_OK);
	OCTO_CHECK_INT_EQ(last_argc, 4);
	OCTO_CHECK_STR_EQ(last_args[2], "peer");
	OCTO_CHECK_STR_EQ(last_args[3], "alice");
	OCTO_CHECK_STR_EQ(rendered, "Name:       alice\nRegistered: yes\n");

	OCTO_CHECK_INT_EQ(run("test show", false), OCTO_CLI_OK);
	OCTO_CHECK_INT_EQ(last_argc, 2);
	OCTO_CHECK_STR_EQ(rendered, "show\n");

	/* Not a command word: an argument of "test show". */
	OCTO_CHECK_INT_EQ(run("test show peerz", false), OCTO_CLI_OK);
	OCTO_CHECK_INT_EQ(last_argc, 3);
	OCTO_CHECK_STR_EQ(last_args[2], "peerz");
}

OCTO_TEST(lookup_ignores_case)
{
	with_test_cmds();
	OCTO_CHECK_INT_EQ(run("TEST Show PEERS", false), OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(last_args[0], "TEST");
	OCTO_CHECK_STR_EQ(rendered, "Name   Host      State\n"
				    "alice  10.0.0.1  OK\n"
				    "bob              UNREACHABLE\n");
}

OCTO_TEST(usage_is_printed)
{
	with_test_cmds();
	OCTO_CHECK_INT_EQ(run("test show peer", false), OCTO_CLI_USAGE);
	OCTO_CHECK_STR_EQ(rendered, "Usage: test show peer <name>\n");
	OCTO_CHECK_INT_EQ(run("test show peer a b", true), OCTO_CLI_USAGE);
	OCTO_CHECK_STR_EQ(rendered, "{\"status\":\"usage\",\"fields\":{},\"columns\":[],"
				    "\"rows\":[],\"text\":\"\","
				    "\"errors\":[\"Usage: test show peer <name>\"]}\n");
}

OCTO_TEST(unknown_commands_get_a_suggestion)
{
	with_test_cmds();
	OCTO_CHECK_INT_EQ(run("test shwo peers", false), OCTO_CLI_UNKNOWN);
	OCTO_CHECK_STR_EQ(rendered,
			  "No such command 'test shwo peers' (did you mean 'test show peers'?)\n");
	OCTO_CHECK_INT_EQ(run("hlep", false), OCTO_CLI_UNKNOWN);
	OCTO_CHECK_STR_EQ(rendered, "No such command 'hlep' (did you mean 'help'?)\n");
	OCTO_CHECK_INT_EQ(run("core set verbos 3", false), OCTO_CLI_UNKNOWN);
	OCTO_CHECK_STR_EQ(rendered, "No such command 'core set verbos 3' "
				    "(did you mean 'core set verbose'?)\n");
	OCTO_CHECK_INT_EQ(run("xyzzy plugh", false), OCTO_CLI_UNKNOWN);
	OCTO_CHECK_STR_EQ(rendered, "No such command 'xyzzy plugh' (type 'help' for a list)\n");
	OCTO_CHECK_INT_EQ(run("xyzzy", true), OCTO_CLI_UNKNOWN);
	OCTO_CHECK_STR_EQ(rendered, "{\"status\":\"unknown\",\"fields\":{},\"columns\":[],"
				    "\"rows\":[],\"text\":\"\",\"errors\":[\"No such command "
				    "'xyzzy' (type 'help' for a list)\"]}\n");
}

OCTO_TEST(failures_are_reported)
{
	with_test_cmds();
	OCTO_CHECK_INT_EQ(run("test fail", false), OCTO_CLI_FAIL);
	OCTO_CHECK_STR_EQ(rendered, "Command 'test fail' failed\n");
	/* A handler returning nonsense counts as a failure. */
	OCTO_CHECK_INT_EQ(run("test fail x y", false), OCTO_CLI_FAIL);
	OCTO_CHECK_INT_EQ(run("test fail why", false), OCTO_CLI_FAIL);
	OCTO_CHECK_STR_EQ(rendered, "cannot do it: busy\n");
}

OCTO_TEST(bad_lines_are_usage_errors)
{
	test_setup();
	OCTO_CHECK_INT_EQ(run("help \"x", false), OCTO_CLI_USAGE);
	OCTO_CHECK_STR_EQ(rendered, "Invalid command line: unterminated quote\n");
	OCTO_CHECK_INT_EQ(run("   ", false), OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(rendered, "");
}

/* ---------------------------------------------------------------- rendering */

static struct octo_cli_out *mixed_output(bool json)
{
	struct octo_cli_out *out = octo_cli_out_alloc(json);

	octo_cli_printf(out, "Peers of %s", "office");
	octo_cli_kv(out, "Total", "%d", 2);
	octo_cli_kv(out, "Online peers", "%d", 1);
	octo_cli_columns(out, "Name", "Calls", NULL);
	octo_cli_row(out, "alice", "3");
	octo_cli_row(out, "bob", NULL);
	octo_cli_kv(out, "Total", "%d", 3); /* a repeated key keeps its place */
	octo_cli_printf(out, "done\n");
	octo_cli_error(out, "one peer is %s\n", "offline");
	return out;
}

OCTO_TEST(render_text_keeps_order_and_aligns)
{
	struct octo_cli_out *out = mixed_output(false);

	OCTO_CHECK(!octo_cli_out_json(out));
	OCTO_CHECK_STR_EQ(octo_cli_out_render(out, OCTO_CLI_OK), "Peers of office\n"
								 "Total:        3\n"
								 "Online peers: 1\n"
								 "Name   Calls\n"
								 "alice  3\n"
								 "bob\n"
								 "done\n"
								 "one peer is offline\n");
	octo_cli_out_free(out);
}

OCTO_TEST(render_json)
{
	struct octo_cli_out *out = mixed_output(true);

	OCTO_CHECK(octo_cli_out_json(out));
	OCTO_CHECK_STR_EQ(octo_cli_out_render(out, OCTO_CLI_FAIL),
			  "{\"status\":\"fail\","
			  "\"fields\":{\"Total\":\"3\",\"Online peers\":\"1\"},"
			  "\"columns\":[\"Name\",\"Calls\"],"
			  "\"rows\":[[\"alice\",\"3\"],[\"bob\",\"\"]],"
			  "\"text\":\"Peers of office\\ndone\\n\","
			  "\"errors\":[\"one peer is offline\"]}\n");
	octo_cli_out_free(out);

	out = octo_cli_out_alloc(true);
	OCTO_CHECK_STR_EQ(octo_cli_out_render(out, OCTO_CLI_OK),
			  "{\"status\":\"ok\",\"fields\":{},\"columns\":[],\"rows\":[],"
			  "\"text\":\"\",\"errors\":[]}\n");
	octo_cli_out_free(out);
}

OCTO_TEST(render_rows_with_arrays_and_utf8_widths)
{
	struct octo_cli_out *out = octo_cli_out_alloc(false);
	const char *cols[] = { "Nom", "Ville" };
	const char *r1[] = { "Zoë", "Genève" };
	const char *r2[] = { "Jo", "Bern", "extra value dropped" };
	const char *r3[] = { "Al" };

	octo_cli_columnsv(out, cols, 2);
	octo_cli_rowv(out, r1, 2);
	octo_cli_rowv(out, r2, 3);
	octo_cli_rowv(out, r3, 1);
	OCTO_CHECK_STR_EQ(octo_cli_out_render(out, OCTO_CLI_OK), "Nom  Ville\n"
								 "Zoë  Genève\n"
								 "Jo   Bern\n"
								 "Al\n");
	octo_cli_out_free(out);
}

OCTO_TEST(render_text_is_terminal_safe)
{
	struct octo_cli_out *out = octo_cli_out_alloc(false);

	octo_cli_kv(out, "agent", "evil\033[2Jphone\tv1\nx");
	octo_cli_printf(out, "bad \xff utf8 and \xc2\x9b c1, tab\tkept\n");
	OCTO_CHECK_STR_EQ(octo_cli_out_render(out, OCTO_CLI_OK),
			  "agent: evil?[2Jphone v1 x\n"
			  "bad \xEF\xBF\xBD utf8 and ? c1, tab\tkept\n");
	octo_cli_out_free(out);
}

OCTO_TEST(json_escaping)
{
	struct octo_cli_str s = { 0 };
	const char in[] = "q\"b\\n\n\tr\r\x01\x1f\x7f/é€😀"
			  "\xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80z";

	octo_cli_json_string(&s, in, sizeof(in) - 1);
	OCTO_CHECK_STR_EQ(s.s, "\"q\\\"b\\\\n\\n\\tr\\r\\u0001\\u001f\\u007f/é€😀"
			       "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
			       "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"
			       "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz\"");
	octo_cli_str_free(&s);

	/* A truncated sequence at the very end. */
	octo_cli_json_string(&s, "a\xe2\x82", 3);
	OCTO_CHECK_STR_EQ(s.s, "\"a\xEF\xBF\xBD\xEF\xBF\xBD\"");
	octo_cli_str_free(&s);
}

OCTO_TEST(json_keys_and_cells_are_escaped)
{
	struct octo_cli_out *out = octo_cli_out_alloc(true);

	octo_cli_kv(out, "k\"1", "v\\1");
	octo_cli_columns(out, "a\nb", NULL);
	octo_cli_row(out, "\x02");
	OCTO_CHECK_STR_EQ(octo_cli_out_render(out, OCTO_CLI_OK),
			  "{\"status\":\"ok\",\"fields\":{\"k\\\"1\":\"v\\\\1\"},"
			  "\"columns\":[\"a\\nb\"],"
			  "\"rows\":[[\"\\u0002\"]],\"text\":\"\",\"errors\":[]}\n");
	octo_cli_out_free(out);
}

/* ---------------------------------------------------------------- built-ins */

OCTO_TEST(help_lists_sorted_commands)
{
	with_test_cmds();
	OCTO_CHECK_INT_EQ(run("help", false), OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(rendered, "Command           Summary\n");
	OCTO_CHECK_CONTAINS(rendered, "core set verbose  Set the verbosity of this console's log "
				      "(0-5)\n");
	OCTO_CHECK_CONTAINS(rendered, "help              List the commands, or show how to use "
				      "one\n");
	OCTO_CHECK_CONTAINS(rendered, "test fail         Fail\n"
				      "test fail why     Fail and say why\n"
				      "test show         Show the test\n"
				      "test show peer    Show one test peer\n"
				      "test show peers   List the test peers\n");
	OCTO_CHECK(strstr(rendered, "core set verbose") < strstr(rendered, "help "));
}

OCTO_TEST(help_for_one_command)
{
	with_test_cmds();
	OCTO_CHECK_INT_EQ(run("help TEST show peer", false), OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(rendered, "Command: test show peer\n"
				    "Usage:   test show peer <name>\n"
				    "Summary: Show one test peer\n"
				    "Module:  core\n");
	OCTO_CHECK_INT_EQ(run("help test show peers", true), OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(rendered, "{\"status\":\"ok\","
				    "\"fields\":{\"Command\":\"test show peers\","
				    "\"Usage\":\"test show peers\",\"Summary\":\"List the test "
				    "peers\",\"Module\":\"core\"},\"columns\":[],\"rows\":[],"
				    "\"text\":\"\",\"errors\":[]}\n");
}

OCTO_TEST(help_with_a_prefix_lists_matches)
{
	with_test_cmds();
	OCTO_CHECK_INT_EQ(run("help test f", false), OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(rendered, "Command        Summary\n"
				    "test fail      Fail\n"
				    "test fail why  Fail and say why\n");
	OCTO_CHECK_INT_EQ(run("help tset", false), OCTO_CLI_FAIL);
	OCTO_CHECK_STR_EQ(rendered, "No such command 'tset' (did you mean 'test fail'?)\n");
}

OCTO_TEST(set_verbose_is_per_console)
{
	struct octo_cli_out *out;

	test_setup();
	out = octo_cli_out_alloc(false);
	OCTO_CHECK_INT_EQ(octo_cli_out_verbose(out), -1);
	OCTO_CHECK_INT_EQ(octo_cli_execute(out, "core set verbose 4"), OCTO_CLI_OK);
	OCTO_CHECK_INT_EQ(octo_cli_out_verbose(out), 4);
	OCTO_CHECK_STR_EQ(octo_cli_out_render(out, OCTO_CLI_OK), "Verbosity: 4\n");
	octo_cli_out_free(out);

	OCTO_CHECK_INT_EQ(run("core set verbose 6", false), OCTO_CLI_USAGE);
	OCTO_CHECK_STR_EQ(rendered, "Usage: core set verbose <0-5>\n");
	OCTO_CHECK_INT_EQ(run("core set verbose x", false), OCTO_CLI_USAGE);
	OCTO_CHECK_INT_EQ(run("core set verbose", false), OCTO_CLI_USAGE);
}

/* ---------------------------------------------------------------- completion */

OCTO_TEST(complete_command_words)
{
	with_test_cmds();
	OCTO_CHECK_STR_EQ(complete(""), "core,help,test");
	OCTO_CHECK_STR_EQ(complete("te"), "test");
	OCTO_CHECK_STR_EQ(complete("test "), "fail,show");
	OCTO_CHECK_STR_EQ(complete("test show p"), "peer,peers");
	OCTO_CHECK_STR_EQ(complete("TEST SHOW PE"), "peer,peers");
	OCTO_CHECK_STR_EQ(complete("  test   show    "), "peer,peers");
	OCTO_CHECK_STR_EQ(complete("nothing "), "");
	OCTO_CHECK_STR_EQ(complete("test \"unterminated"), "");
}

OCTO_TEST(complete_arguments_with_the_command_completer)
{
	with_test_cmds();
	OCTO_CHECK_STR_EQ(complete("test show peer "), "albert,Alfred,alice,bob");
	OCTO_CHECK_STR_EQ(complete("test show peer al"), "albert,Alfred,alice");
	OCTO_CHECK_STR_EQ(complete("test show peer \"Ali"), "alice");
	/* Only argument 0 is completed. */
	OCTO_CHECK_STR_EQ(complete("test show peer alice "), "");
	/* "help" completes command words. */
	OCTO_CHECK_STR_EQ(complete("help test s"), "show");
	OCTO_CHECK_STR_EQ(complete("help test show "), "peer,peers");
}

static int kind_cli_complete_calls;
static void t_complete_reg(struct octo_cli_completion *c, int pos, const char *partial)
{
	kind_cli_complete_calls++;
	octo_cli_complete_registry(c, OCTO_REG_CLI, partial);
	octo_cli_complete_registry(c, -1, partial);
	octo_cli_complete_registry(c, OCTO_REG_KINDS, partial);
	octo_cli_complete_add(c, NULL);
	octo_cli_complete_add(c, "");
}

OCTO_TEST(complete_from_the_registry)
{
	static const struct octo_cli_cmd reg_cmds[] = {
		{ "regtest", "x", NULL, t_show, t_complete_reg }, { 0 }
	};

	test_setup();
	octo_cli_register_all(NULL, reg_cmds);
	OCTO_CHECK_STR_EQ(complete("regtest core"), "core set verbose");
	OCTO_CHECK_STR_EQ(complete("regtest H"), "help");
	OCTO_CHECK_INT_EQ(kind_cli_complete_calls, 2);
	octo_cli_unregister_all(reg_cmds);
}

/* ---------------------------------------------------------------- frames */

OCTO_TEST(frame_round_trip)
{
	struct octo_cli_str s = { 0 };
	const unsigned char *p;
	size_t len;
	int type;

	octo_cli_frame_add(&s, OCTO_CLI_F_COMMAND, "core show version", 17);
	octo_cli_frame_add(&s, OCTO_CLI_F_VERBOSE, "-1", 2);
	OCTO_CHECK_INT_EQ(s.len, 5 + 17 + 5 + 2);
	OCTO_CHECK(memcmp(s.s,
			  "c\0\0\0\x11"
			  "core",
			  9) == 0);
	OCTO_CHECK_INT_EQ(octo_cli_frame_decode((unsigned char *)s.s, s.len, true, &type, &p, &len),
			  22);
	OCTO_CHECK_INT_EQ(type, 'c');
	OCTO_CHECK_INT_EQ(len, 17);
	OCTO_CHECK(memcmp(p, "core show version", 17) == 0);
	OCTO_CHECK_INT_EQ(
		octo_cli_frame_decode((unsigned char *)s.s + 22, 7, true, &type, &p, &len), 7);
	OCTO_CHECK_INT_EQ(type, OCTO_CLI_F_VERBOSE);
	OCTO_CHECK_INT_EQ(octo_cli_verbose_parse(p, len), -1);
	/* Incomplete: header, then payload. */
	for (size_t n = 0; n < 22; n++)
		OCTO_CHECK_INT_EQ(
			octo_cli_frame_decode((unsigned char *)s.s, n, true, &type, &p, &len), 0);
	octo_cli_str_free(&s);
}

OCTO_TEST(frame_max_size)
{
	unsigned char *buf = calloc(1, 5 + OCTO_CLI_FRAME_MAX + 1);
	const unsigned char *p;
	size_t len;
	int type;

	memset(buf + 5, 'x', OCTO_CLI_FRAME_MAX + 1);
	octo_cli_frame_header(buf, OCTO_CLI_F_OUTPUT, OCTO_CLI_FRAME_MAX);
	OCTO_CHECK_INT_EQ(octo_cli_frame_decode(buf, 5 + OCTO_CLI_FRAME_MAX, false, &type, &p,
						&len),
			  5 + OCTO_CLI_FRAME_MAX);
	octo_cli_frame_header(buf, OCTO_CLI_F_OUTPUT, OCTO_CLI_FRAME_MAX + 1);
	OCTO_CHECK_INT_EQ(octo_cli_frame_decode(buf, 5, false, &type, &p, &len), OCTO_EINVAL);
	/* A huge announced length is refused from the header alone. */
	memcpy(buf, "c\xff\xff\xff\xff", 5);
	OCTO_CHECK_INT_EQ(octo_cli_frame_decode(buf, 5, true, &type, &p, &len), OCTO_EINVAL);
	free(buf);
}

static long decode_raw(const char *bytes, size_t n, bool from_client)
{
	const unsigned char *p;
	size_t len;
	int type;

	return octo_cli_frame_decode((const unsigned char *)bytes, n, from_client, &type, &p, &len);
}

OCTO_TEST(frame_malformed)
{
	/* Unknown type, known at once. */
	OCTO_CHECK_INT_EQ(decode_raw("X", 1, true), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("\0\0\0\0\0", 5, true), OCTO_EINVAL);
	/* Types of the other direction. */
	OCTO_CHECK_INT_EQ(decode_raw("O\0\0\0\0", 5, true), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("c\0\0\0\0", 5, false), OCTO_EINVAL);
	/* A NUL inside a command or a log line. */
	OCTO_CHECK_INT_EQ(decode_raw("c\0\0\0\3a\0b", 8, true), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("L\0\0\0\3a\0b", 8, false), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("c\0\0\0\0", 5, true), 5);
	/* Verbosity: -1..99 in decimal only. */
	OCTO_CHECK_INT_EQ(decode_raw("v\0\0\0\0", 5, true), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("v\0\0\0\2-2", 7, true), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("v\0\0\0\3"
				     "100",
				     8, true),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("v\0\0\0\2x1", 7, true), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("v\0\0\0\2"
				     "99",
				     7, true),
			  7);
	/* End: exactly one status byte 0..3. */
	OCTO_CHECK_INT_EQ(decode_raw("E\0\0\0\1\3", 6, false), 6);
	OCTO_CHECK_INT_EQ(decode_raw("E\0\0\0\1\4", 6, false), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("E\0\0\0\2\0\0", 7, false), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("E\0\0\0\0", 5, false), OCTO_EINVAL);
	/* Completions end with a NUL. */
	OCTO_CHECK_INT_EQ(decode_raw("M\0\0\0\2ab", 7, false), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(decode_raw("M\0\0\0\3ab\0", 8, false), 8);
}

OCTO_TEST(completions_payload)
{
	char **list = octo_cli_completions_parse((const unsigned char *)"peer\0peers\0\0x\0", 14);

	OCTO_CHECK_STR_EQ(list[0], "peer");
	OCTO_CHECK_STR_EQ(list[1], "peers");
	OCTO_CHECK_STR_EQ(list[2], "x");
	OCTO_CHECK(list[3] == NULL);
	free_list(list);
	list = octo_cli_completions_parse((const unsigned char *)"", 0);
	OCTO_CHECK(list[0] == NULL);
	free_list(list);
}

OCTO_TEST(verbose_payload)
{
	char buf[4];

	OCTO_CHECK_INT_EQ(octo_cli_verbose_payload(buf, 3), 1);
	OCTO_CHECK_STR_EQ(buf, "3");
	OCTO_CHECK_INT_EQ(octo_cli_verbose_payload(buf, -7), 2);
	OCTO_CHECK_STR_EQ(buf, "-1");
	OCTO_CHECK_INT_EQ(octo_cli_verbose_payload(buf, 1000), 2);
	OCTO_CHECK_STR_EQ(buf, "99");
}

/* ---------------------------------------------------------------- server */

static char sock_dir[64];
static char sock_path[128];

static int t_slow(struct octo_cli_out *out, int argc, char **argv)
{
	usleep(200 * 1000);
	octo_cli_printf(out, "slow done");
	return OCTO_CLI_OK;
}

static int t_logs(struct octo_cli_out *out, int argc, char **argv)
{
	octo_log(OCTO_NOTICE, "marker notice from a command");
	octo_verbose(2, "marker verbose two");
	octo_verbose(5, "marker verbose five");
	octo_cli_printf(out, "logged");
	return OCTO_CLI_OK;
}

static int t_big(struct octo_cli_out *out, int argc, char **argv)
{
	for (int i = 0; i < 20000; i++)
		octo_cli_printf(out, "line %05d of a long answer\n", i);
	return OCTO_CLI_OK;
}

/* "srvtest call": like a test call, logs from the command itself and from a
 * thread it starts, which keeps logging while and after the answer goes. */
#define T_CALL_BODY_LINES 20
#define T_CALL_THREAD_LINES 200
static pthread_t t_call_thread;
static bool t_call_started;

static void *t_call_run(void *arg)
{
	for (int i = 0; i < T_CALL_THREAD_LINES; i++) {
		octo_verbose(3, "call thread line %03d", i);
		octo_verbose(4, "call thread too verbose %03d", i);
	}
	return NULL;
}

static int t_call(struct octo_cli_out *out, int argc, char **argv)
{
	for (int i = 0; i < T_CALL_BODY_LINES; i++) {
		octo_verbose(3, "call body line %03d", i);
		if (i == T_CALL_BODY_LINES / 2 && !t_call_started &&
		    pthread_create(&t_call_thread, NULL, t_call_run, NULL) == 0)
			t_call_started = true;
	}
	octo_cli_printf(out, "call started");
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd server_cmds[] = {
	{ "srvtest slow", "Sleep a little", NULL, t_slow, NULL },
	{ "srvtest logs", "Log some lines", NULL, t_logs, NULL },
	{ "srvtest big", "A long answer", NULL, t_big, NULL },
	{ "srvtest call", "Log from a thread around the answer", NULL, t_call, NULL },
	{ 0 }
};

static int server_up(void)
{
	static bool started;

	if (started)
		return 0;
	test_setup();
	octo_cli_register_all(NULL, server_cmds);
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/octo-test-cli.XXXXXX");
	if (!mkdtemp(sock_dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/octo.ctl", sock_dir);
	if (octo_sched_start(2) != 0)
		return -1;
	if (octo_cli_server_start(sock_path) != 0)
		return -1;
	started = true;
	return 0;
}

__attribute__((destructor)) static void server_down(void)
{
	if (!sock_path[0])
		return;
	octo_cli_server_stop();
	octo_sched_stop();
	octo_cli_unregister_all(server_cmds);
	octo_cli_unregister_all(test_cmds);
	octo_cli_core_shutdown();
	octo_registry_shutdown();
	rmdir(sock_dir);
}

/* A test console: the socket and what was read from it but not used yet. */
struct client {
	int fd;
	unsigned char data[5 + OCTO_CLI_FRAME_MAX];
	size_t len;
	struct octo_cli_str payload; /* of the last frame */
};

static struct client *client_open(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct client *c = calloc(1, sizeof(*c));

	c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	octo_strlcpy(addr.sun_path, sock_path, sizeof(addr.sun_path));
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

static void client_close(struct client *c)
{
	close(c->fd);
	octo_cli_str_free(&c->payload);
	free(c);
}

static void client_send(struct client *c, int type, const char *payload)
{
	struct octo_cli_str s = { 0 };

	octo_cli_frame_add(&s, type, payload, strlen(payload));
	if (write(c->fd, s.s, s.len) != (ssize_t)s.len)
		perror("write");
	octo_cli_str_free(&s);
}

/* Reads one frame within 3 s: returns its type, 0 on EOF or timeout, -1
 * when malformed. */
static int client_frame(struct client *c)
{
	for (;;) {
		const unsigned char *p;
		size_t len;
		int type;
		long n = octo_cli_frame_decode(c->data, c->len, false, &type, &p, &len);
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t r;

		if (n < 0)
			return -1;
		if (n > 0) {
			c->payload.len = 0;
			octo_cli_str_add(&c->payload, p, len);
			memmove(c->data, c->data + n, c->len - (size_t)n);
			c->len -= (size_t)n;
			return type;
		}
		if (poll(&pfd, 1, 3000) <= 0)
			return 0;
		r = read(c->fd, c->data + c->len, sizeof(c->data) - c->len);
		if (r <= 0)
			return 0;
		c->len += (size_t)r;
	}
}

/* Reads one answer: collects output and log lines up to its END frame.
 * Returns the status, or -1. */
static int client_answer(struct client *c, struct octo_cli_str *output, struct octo_cli_str *logs)
{
	int status = -1;

	for (;;) {
		int t = client_frame(c);

		if (t == OCTO_CLI_F_OUTPUT) {
			octo_cli_str_add(output, c->payload.s, c->payload.len);
		} else if (t == OCTO_CLI_F_LOG) {
			if (logs) {
				octo_cli_str_add(logs, c->payload.s, c->payload.len);
				octo_cli_str_add(logs, "\n", 1);
			}
		} else if (t == OCTO_CLI_F_END) {
			status = c->payload.s[0];
			break;
		} else {
			break;
		}
	}
	octo_cli_str_add(output, "", 0);
	if (logs)
		octo_cli_str_add(logs, "", 0);
	return status;
}

static int client_command(struct client *c, int type, const char *line, struct octo_cli_str *output,
			  struct octo_cli_str *logs)
{
	client_send(c, type, line);
	return client_answer(c, output, logs);
}

OCTO_TEST(server_runs_commands)
{
	struct octo_cli_str out = { 0 };
	struct client *c;
	struct stat st;

	OCTO_CHECK_INT_EQ(server_up(), 0);
	OCTO_CHECK_INT_EQ(stat(sock_path, &st), 0);
	OCTO_CHECK(S_ISSOCK(st.st_mode));
	OCTO_CHECK_INT_EQ(st.st_mode & 0777, 0660);
	c = client_open();
	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	OCTO_CHECK_INT_EQ(client_command(c, OCTO_CLI_F_COMMAND, "help core set verbose", &out,
					 NULL),
			  OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(out.s, "Command: core set verbose\n"
				 "Usage:   core set verbose <0-5>\n"
				 "Summary: Set the verbosity of this console's log (0-5)\n"
				 "Module:  core\n");
	out.len = 0;
	OCTO_CHECK_INT_EQ(client_command(c, OCTO_CLI_F_COMMAND_JSON, "nope", &out, NULL),
			  OCTO_CLI_UNKNOWN);
	OCTO_CHECK_STR_EQ(out.s, "{\"status\":\"unknown\",\"fields\":{},\"columns\":[],\"rows\":[],"
				 "\"text\":\"\",\"errors\":[\"No such command 'nope' (type 'help' "
				 "for a list)\"]}\n");
	out.len = 0;
	/* An answer longer than one frame. */
	OCTO_CHECK_INT_EQ(client_command(c, OCTO_CLI_F_COMMAND, "srvtest big", &out, NULL),
			  OCTO_CLI_OK);
	OCTO_CHECK_INT_EQ(out.len, 20000 * 28);
	OCTO_CHECK_CONTAINS(out.s, "line 19999 of a long answer\n");
	/* An empty line: no output, status ok. */
	out.len = 0;
	OCTO_CHECK_INT_EQ(client_command(c, OCTO_CLI_F_COMMAND, "", &out, NULL), OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(out.s, "");
	octo_cli_str_free(&out);
	client_close(c);
}

OCTO_TEST(server_completes)
{
	struct client *c;

	OCTO_CHECK_INT_EQ(server_up(), 0);
	c = client_open();
	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	client_send(c, OCTO_CLI_F_COMPLETE, "core s");
	OCTO_CHECK_INT_EQ(client_frame(c), OCTO_CLI_F_COMPLETIONS);
	OCTO_CHECK_INT_EQ(c->payload.len, 4);
	OCTO_CHECK(memcmp(c->payload.s, "set\0", 4) == 0);
	client_send(c, OCTO_CLI_F_COMPLETE, "zzz");
	OCTO_CHECK_INT_EQ(client_frame(c), OCTO_CLI_F_COMPLETIONS);
	OCTO_CHECK_INT_EQ(c->payload.len, 0);
	client_close(c);
}

OCTO_TEST(server_sends_log_lines_at_each_consoles_verbosity)
{
	struct octo_cli_str out = { 0 }, logs = { 0 }, quiet_logs = { 0 };
	struct client *loud, *quiet;

	OCTO_CHECK_INT_EQ(server_up(), 0);
	loud = client_open();
	quiet = client_open();
	OCTO_CHECK(loud && quiet);
	if (!loud || !quiet)
		return;
	client_send(loud, OCTO_CLI_F_VERBOSE, "2");
	OCTO_CHECK_INT_EQ(client_command(loud, OCTO_CLI_F_COMMAND, "srvtest logs", &out, &logs),
			  OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(out.s, "logged\n");
	OCTO_CHECK_CONTAINS(logs.s, "marker notice from a command");
	OCTO_CHECK_CONTAINS(logs.s, "marker verbose two");
	OCTO_CHECK(!strstr(logs.s, "marker verbose five"));
	/* The quiet console (no verbosity asked) saw nothing of it. */
	out.len = 0;
	OCTO_CHECK_INT_EQ(client_command(quiet, OCTO_CLI_F_COMMAND, "srvtest logs", &out,
					 &quiet_logs),
			  OCTO_CLI_OK);
	OCTO_CHECK_INT_EQ(quiet_logs.len, 0);

	/* "core set verbose 5" raises only the console that typed it. */
	out.len = 0;
	OCTO_CHECK_INT_EQ(client_command(loud, OCTO_CLI_F_COMMAND, "core set verbose 5", &out,
					 NULL),
			  OCTO_CLI_OK);
	logs.len = 0;
	OCTO_CHECK_INT_EQ(client_command(loud, OCTO_CLI_F_COMMAND, "srvtest logs", &out, &logs),
			  OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(logs.s, "marker verbose five");
	quiet_logs.len = 0;
	OCTO_CHECK_INT_EQ(client_command(quiet, OCTO_CLI_F_COMMAND, "help help", &out, &quiet_logs),
			  OCTO_CLI_OK);
	OCTO_CHECK_INT_EQ(quiet_logs.len, 0);
	octo_cli_str_free(&out);
	octo_cli_str_free(&logs);
	octo_cli_str_free(&quiet_logs);
	client_close(loud);
	client_close(quiet);
}

/* Counts "<prefix> NNN" lines in `logs`, checking that they come in order. */
static int count_in_order(const char *logs, const char *prefix)
{
	int next = 0;

	for (const char *p = logs; (p = strstr(p, prefix)); p++) {
		if (atoi(p + strlen(prefix)) != next)
			return -1;
		next++;
	}
	return next;
}

OCTO_TEST(server_interleaves_log_lines_with_an_answer)
{
	struct octo_cli_str out = { 0 }, logs = { 0 };
	int status = -1, thread_lines;
	struct client *c;

	OCTO_CHECK_INT_EQ(server_up(), 0);
	c = client_open();
	OCTO_CHECK(c != NULL);
	if (!c)
		return;
	OCTO_CHECK_INT_EQ(client_command(c, OCTO_CLI_F_COMMAND, "core set verbose 3", &out, NULL),
			  OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(out.s, "Verbosity: 3\n");
	out.len = 0;
	client_send(c, OCTO_CLI_F_COMMAND, "srvtest call");
	/* Log frames come before, between and after the answer's frames; the
	 * END frame comes, and so does every line of the thread, in order. */
	for (;;) {
		int t = client_frame(c);

		if (t == OCTO_CLI_F_LOG) {
			octo_cli_str_add(&logs, c->payload.s, c->payload.len);
			octo_cli_str_add(&logs, "\n", 1);
			if (status >= 0 && strstr(logs.s, "call thread line 199"))
				break;
		} else if (t == OCTO_CLI_F_OUTPUT && status < 0) {
			octo_cli_str_add(&out, c->payload.s, c->payload.len);
		} else if (t == OCTO_CLI_F_END && status < 0) {
			status = c->payload.s[0];
			if (logs.s && strstr(logs.s, "call thread line 199"))
				break;
		} else {
			OCTO_FAIL_AT("unexpected frame %d (status %d)", t, status);
			break;
		}
	}
	if (t_call_started)
		pthread_join(t_call_thread, NULL);
	octo_cli_str_add(&out, "", 0);
	octo_cli_str_add(&logs, "", 0);
	OCTO_CHECK(t_call_started);
	OCTO_CHECK_INT_EQ(status, OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(out.s, "call started\n");
	OCTO_CHECK_INT_EQ(count_in_order(logs.s, "call body line "), T_CALL_BODY_LINES);
	thread_lines = count_in_order(logs.s, "call thread line ");
	OCTO_CHECK_INT_EQ(thread_lines, T_CALL_THREAD_LINES);
	OCTO_CHECK(!strstr(logs.s, "too verbose"));
	/* The connection still serves the next command. */
	out.len = 0;
	OCTO_CHECK_INT_EQ(client_command(c, OCTO_CLI_F_COMMAND, "core set verbose 0", &out, NULL),
			  OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(out.s, "Verbosity: 0\n");
	octo_cli_str_free(&out);
	octo_cli_str_free(&logs);
	client_close(c);
}

OCTO_TEST(server_closes_only_a_malformed_connection)
{
	struct octo_cli_str out = { 0 };
	struct client *bad, *good;
	static const char *const garbage[] = {
		"GET / HTTP/1.0\r\n\r\n", "c\xff\xff\xff\xff", "v\0\0\0\3abc", "O\0\0\0\0",
		"c\0\0\0\3a\0b",
	};
	static const size_t glen[] = { 18, 5, 8, 5, 8 };

	OCTO_CHECK_INT_EQ(server_up(), 0);
	good = client_open();
	OCTO_CHECK(good != NULL);
	if (!good)
		return;
	for (size_t i = 0; i < OCTO_ARRAY_LEN(garbage); i++) {
		bad = client_open();
		OCTO_CHECK(write(bad->fd, garbage[i], glen[i]) == (ssize_t)glen[i]);
		/* The server hangs up on it: EOF. */
		OCTO_CHECK_INT_EQ(client_frame(bad), 0);
		client_close(bad);
	}
	OCTO_CHECK_INT_EQ(client_command(good, OCTO_CLI_F_COMMAND, "core set verbose 1", &out,
					 NULL),
			  OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(out.s, "Verbosity: 1\n");
	octo_cli_str_free(&out);
	client_close(good);
}

OCTO_TEST(server_survives_a_console_leaving_mid_command)
{
	struct octo_cli_str out = { 0 };
	struct client *c;

	OCTO_CHECK_INT_EQ(server_up(), 0);
	for (int i = 0; i < 3; i++) {
		c = client_open();
		client_send(c, OCTO_CLI_F_VERBOSE, "5");
		client_send(c, OCTO_CLI_F_COMMAND, "srvtest slow");
		client_close(c);
	}
	/* Several requests are served one after the other, in order. */
	c = client_open();
	client_send(c, OCTO_CLI_F_COMMAND, "srvtest slow");
	client_send(c, OCTO_CLI_F_COMMAND, "help help");
	OCTO_CHECK_INT_EQ(client_answer(c, &out, NULL), OCTO_CLI_OK);
	OCTO_CHECK_STR_EQ(out.s, "slow done\n");
	out.len = 0;
	OCTO_CHECK_INT_EQ(client_answer(c, &out, NULL), OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(out.s, "Usage:   help [command words]\n");
	octo_cli_str_free(&out);
	client_close(c);
}

OCTO_TEST(server_drops_log_lines_for_a_console_that_does_not_read)
{
	struct octo_cli_str out = { 0 }, logs = { 0 };
	struct client *c;

	OCTO_CHECK_INT_EQ(server_up(), 0);
	c = client_open();
	client_send(c, OCTO_CLI_F_VERBOSE, "1");
	/* Wait until the server has seen the verbosity. */
	OCTO_CHECK_INT_EQ(client_command(c, OCTO_CLI_F_COMMAND, "help help", &out, NULL),
			  OCTO_CLI_OK);
	/* Far more than the socket buffers and the 256 KiB backlog hold. */
	for (int i = 0; i < 20000; i++)
		octo_log(OCTO_NOTICE, "flood line %05d with some padding to make it longer", i);
	out.len = 0;
	OCTO_CHECK_INT_EQ(client_command(c, OCTO_CLI_F_COMMAND, "help help", &out, &logs),
			  OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(logs.s, "flood line 00000 with");
	/* Every line came, or was counted in a note. */
	{
		unsigned long got = 0, lost = 0;

		for (const char *p = logs.s; (p = strstr(p, "flood line ")); p++)
			got++;
		for (const char *p = logs.s; (p = strchr(p, '[')); p++) {
			unsigned long n;
			int end = 0;

			if (sscanf(p, "[%lu log lines dropped]%n", &n, &end) == 1 && end > 0)
				lost += n;
			else if (sscanf(p, "[%lu log line dropped]%n", &n, &end) == 1 && end > 0)
				lost += n;
		}
		OCTO_CHECK(got < 20000);
		OCTO_CHECK(lost > 0);
		OCTO_CHECK_INT_EQ(got + lost, 20000);
	}
	octo_cli_str_free(&out);
	octo_cli_str_free(&logs);
	client_close(c);
}

OCTO_TEST(server_refuses_a_live_socket_and_replaces_a_stale_one)
{
	char path[160], file[160];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int other;
	FILE *f;

	OCTO_CHECK_INT_EQ(server_up(), 0);
	/* Already running. */
	OCTO_CHECK_INT_EQ(octo_cli_server_start(sock_path), OCTO_EBUSY);

	/* Another daemon answers on a socket: refused. */
	snprintf(path, sizeof(path), "%s/other.ctl", sock_dir);
	octo_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
	other = socket(AF_UNIX, SOCK_STREAM, 0);
	OCTO_CHECK_INT_EQ(bind(other, (struct sockaddr *)&addr, sizeof(addr)), 0);
	OCTO_CHECK_INT_EQ(listen(other, 4), 0);
	octo_cli_server_stop();
	OCTO_CHECK_INT_EQ(octo_cli_server_start(path), OCTO_EBUSY);
	/* Nobody listens any more: the stale file is replaced. */
	close(other);
	OCTO_CHECK_INT_EQ(octo_cli_server_start(path), 0);
	octo_cli_server_stop();
	OCTO_CHECK_INT_EQ(access(path, F_OK), -1);

	/* A file that is not a socket is left alone. */
	snprintf(file, sizeof(file), "%s/not-a-socket", sock_dir);
	f = fopen(file, "w");
	fclose(f);
	OCTO_CHECK_INT_EQ(octo_cli_server_start(file), OCTO_EEXIST);
	OCTO_CHECK_INT_EQ(access(file, F_OK), 0);
	unlink(file);

	/* Back to the shared one for the other tests. */
	OCTO_CHECK_INT_EQ(octo_cli_server_start(sock_path), 0);
}

OCTO_TEST_MAIN()
