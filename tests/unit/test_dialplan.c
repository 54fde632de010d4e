/*
 * test_dialplan.c - dialplan.conf parsing and errors, the match rule through
 * includes, atomic reload, and the output of "dialplan test".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/obj.h"
#include "octo/pattern.h"
#include "../../core/dialplan_int.h"
#include "../../core/internal.h"
#include "octo_test.h"

static char dir[256];

static void write_dialplan(const char *text)
{
	char path[512];
	FILE *fp;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/octo-test-dialplan-%ld", (long)getpid());
		mkdir(dir, 0700);
		octo_paths.config_dir = dir;
		octo_registry_init();
		octo_dialplan_init();
	}
	snprintf(path, sizeof(path), "%s/dialplan.conf", dir);
	fp = fopen(path, "w");
	fputs(text, fp);
	fclose(fp);
}

static const char *good_plan =
	"[globals]\nOPERATOR = 100\n"
	"[main]\ndescription = From trunks\n"
	"exten => 0212345XX,1,SetCalled(remove=7,prepend=1)\n"
	"same => n,Goto(pbxinternal,${CALLED})\n"
	"exten => default,1,Goto(pbxinternal,${OPERATOR})\n"
	"[users]\ninclude => pbxinternal\ninclude => pbxservices\n"
	"exten => 0X.,1,NoOp(national)\nsame => n(out),Hangup()\n"
	"exten => 01[567].,1,NoOp(mobile)\n"
	"exten => 00X.,1,NoOp(international)\n"
	"exten => +XXXX.,1,NoOp(plus)\n"
	"[pbxinternal]\nexten => 1XX,1,Answer()\nexten => 100,1,NoOp(operator)\n"
	"exten => default,1,Hangup(UNALLOCATED)\n"
	"[pbxservices]\nexten => *99,1,Answer()\nexten => 1XX,1,NoOp(never: internal first)\n";

static const char *match(const char *proc, const char *number, const char **where_name)
{
	struct dp_snapshot *dp = dp_current();
	const struct dp_proc *where = NULL;
	const struct dp_exten *ext = dp_match(dp, proc, number, &where);
	static char text[64];

	octo_strlcpy(text, ext ? octo_pattern_text(ext->pat) : "(none)", sizeof(text));
	if (where_name)
		*where_name = where ? where->name : "(none)";
	octo_obj_unref(dp);
	return text;
}

OCTO_TEST(good_dialplan_loads)
{
	struct octo_diags diags = { 0 };

	write_dialplan(good_plan);
	OCTO_CHECK_INT_EQ(octo_dialplan_reload(&diags), 0);
	OCTO_CHECK_INT_EQ(diags.count, 0);
	octo_diags_free(&diags);
	OCTO_CHECK(octo_dialplan_has_procedure("users"));
	OCTO_CHECK(!octo_dialplan_has_procedure("nosuch"));
}

OCTO_TEST(match_rule_through_includes)
{
	const char *where;

	write_dialplan(good_plan);
	OCTO_CHECK_STR_EQ(match("users", "0039061234567", &where), "00X.");
	OCTO_CHECK_STR_EQ(where, "users");
	OCTO_CHECK_STR_EQ(match("users", "0612345678", NULL), "0X.");
	OCTO_CHECK_STR_EQ(match("users", "0161234567", NULL), "01[567].");
	OCTO_CHECK_STR_EQ(match("users", "+390612345", NULL), "+XXXX.");
	OCTO_CHECK_STR_EQ(match("users", "100", &where), "100");
	OCTO_CHECK_STR_EQ(where, "pbxinternal");
	OCTO_CHECK_STR_EQ(match("users", "101", &where), "1XX");
	OCTO_CHECK_STR_EQ(where, "pbxinternal");
	OCTO_CHECK_STR_EQ(match("users", "*99", &where), "*99");
	/* pbxinternal's default catches before pbxservices is searched */
	OCTO_CHECK_STR_EQ(match("users", "*98", &where), "default");
	OCTO_CHECK_STR_EQ(where, "pbxinternal");
	OCTO_CHECK_STR_EQ(match("main", "021234567", &where), "0212345XX");
	OCTO_CHECK_STR_EQ(match("main", "999", &where), "default");
	OCTO_CHECK_STR_EQ(match("nosuch", "100", NULL), "(none)");
}

OCTO_TEST(priorities_and_labels)
{
	struct dp_snapshot *dp;
	const struct dp_exten *ext;

	write_dialplan(good_plan);
	dp = dp_current();
	ext = dp_match(dp, "users", "0612345678", NULL);
	OCTO_CHECK(ext != NULL);
	OCTO_CHECK_INT_EQ(ext->nprios, 2);
	OCTO_CHECK_INT_EQ(dp_find_label(ext, "out"), 1);
	OCTO_CHECK_INT_EQ(ext->prios[1].prio, 2);
	OCTO_CHECK_STR_EQ(ext->prios[1].app, "Hangup");
	octo_obj_unref(dp);
}

static void expect_error(const char *text, const char *message)
{
	struct octo_diags diags = { 0 };
	bool found = false;

	write_dialplan(good_plan);
	OCTO_CHECK_INT_EQ(octo_dialplan_reload(&diags), 0);
	octo_diags_free(&diags);
	write_dialplan(text);
	OCTO_CHECK_INT_EQ(octo_dialplan_reload(&diags), OCTO_ECONFIG);
	for (size_t i = 0; i < diags.count; i++) {
		if (!strcmp(diags.items[i].message, message))
			found = true;
	}
	if (!found) {
		OCTO_FAIL_AT("expected the error \"%s\"", message);
		for (size_t i = 0; i < diags.count; i++)
			printf("     got: %s\n", diags.items[i].message);
	}
	octo_diags_free(&diags);
	/* the running dialplan stayed */
	OCTO_CHECK_STR_EQ(match("users", "0612345678", NULL), "0X.");
}

OCTO_TEST(errors_name_file_line_and_keep_running_plan)
{
	expect_error("[users]\nexten => 0X.,1,Dial(\n",
		     "dialplan.conf:2: [users] exten 0X.: \"Dial(\": missing ')' at the end of "
		     "the application");
	expect_error("[users]\nexten => 1[2,1,NoOp()\n",
		     "dialplan.conf:2: [users] exten: \"1[2\" is not a valid number or pattern: "
		     "unclosed '['");
	expect_error("[users]\nsame => n,NoOp()\n",
		     "dialplan.conf:2: [users] same: no exten before it in this procedure");
	expect_error("[users]\nexten => 100,1,NoOp()\nsame => 1,NoOp()\n",
		     "dialplan.conf:3: [users] same 100: priority 1 is already defined at "
		     "dialplan.conf:2");
	expect_error("[users]\nexten => 100,x,NoOp()\n",
		     "dialplan.conf:2: [users] exten 100: priority \"x\" is not n or a number "
		     "1..100000");
	expect_error("[users]\ninclude => nowhere\n",
		     "dialplan.conf:1: [users] include: no procedure [nowhere] in dialplan.conf");
	expect_error("[a]\ninclude => b\n[b]\ninclude => a\n",
		     "dialplan.conf:1: [a] includes itself (directly or through other "
		     "procedures)");
	expect_error("[users]\nexten => 100\n",
		     "dialplan.conf:2: [users] exten: \"100\": write NUMBER,PRIORITY,App(args)");
	expect_error("[users]\nexten => 100,n(bad label),NoOp()\n",
		     "dialplan.conf:2: [users] exten 100: label \"bad label\" may only use "
		     "letters, digits, _ and -");
}

OCTO_TEST(unknown_key_is_a_warning)
{
	struct octo_diags diags = { 0 };

	write_dialplan("[users]\nextn => 100,1,NoOp()\nexten => 5,1,NoOp()\n");
	OCTO_CHECK_INT_EQ(octo_dialplan_reload(&diags), 0);
	OCTO_CHECK_INT_EQ(diags.count, 1);
	OCTO_CHECK_INT_EQ(diags.errors, 0);
	if (diags.count)
		OCTO_CHECK_STR_EQ(diags.items[0].message,
				  "dialplan.conf:2: [users] unknown key \"extn\" (did you mean "
				  "\"exten\"?)");
	octo_diags_free(&diags);
	OCTO_CHECK_STR_EQ(match("users", "5", NULL), "5");
}

static int run_cli(const char *line, char *buf, size_t size)
{
	struct octo_cli_out *out = octo_cli_out_alloc(false);
	int status = octo_cli_execute(out, line);

	octo_strlcpy(buf, octo_cli_out_render(out, status), size);
	octo_cli_out_free(out);
	return status;
}

OCTO_TEST(dialplan_test_explains)
{
	struct octo_diags diags = { 0 };
	char out[8192];

	write_dialplan(good_plan);
	octo_dialplan_reload(&diags);
	octo_diags_free(&diags);
	OCTO_CHECK_INT_EQ(run_cli("dialplan test users 0039061234567", out, sizeof(out)),
			  OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(out, "00X.");
	OCTO_CHECK_CONTAINS(out, "WINS");
	OCTO_CHECK_CONTAINS(out, "0X.");
	OCTO_CHECK_CONTAINS(out, "loses: ");
	OCTO_CHECK_INT_EQ(run_cli("dialplan test users 101", out, sizeof(out)), OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(out, "include pbxinternal");
	OCTO_CHECK_CONTAINS(out, "loses: [pbxinternal] is searched before [pbxservices]");
	OCTO_CHECK(run_cli("dialplan test nosuch 100", out, sizeof(out)) != OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(out, "No procedure [nosuch] in the dialplan");
	OCTO_CHECK_INT_EQ(run_cli("dialplan show users", out, sizeof(out)), OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(out, "include => pbxinternal");
	OCTO_CHECK_CONTAINS(out, "NoOp(national)");
}

OCTO_TEST(cleanup)
{
	char path[512];

	octo_dialplan_shutdown();
	octo_registry_shutdown();
	snprintf(path, sizeof(path), "%s/dialplan.conf", dir);
	unlink(path);
	rmdir(dir);
}

OCTO_TEST_MAIN()
