/*
 * test_expr.c - unit tests of core/expr.c: variable substitution, $[...]
 * expressions, truth values and the splitting of application arguments.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "octo/expr.h"
#include "octo/octo.h"
#include "octo_test.h"

/* ------------------------------------------------------ a substitution context */

struct test_ctx {
	int nwarn;
	char last_warn[256];
	char first_warn[256];
	char *big; /* value of BIG */
};

static const char *const test_vars[][2] = {
	{ "A", "hello" },          { "N1", "1" },      { "VAR1", "one" },
	{ "NUM", "42" },           { "EMPTY", "" },    { "LONG", "0123456789" },
	{ "CALLED", "021234532" }, { "SPACE", "a b" }, { "DOLLAR", "${A}" },
	{ "ZERO", "0" },
};

static const char *test_get_var(void *data, const char *name, char *buf, size_t size)
{
	struct test_ctx *t = data;

	for (size_t i = 0; i < OCTO_ARRAY_LEN(test_vars); i++)
		if (strcmp(test_vars[i][0], name) == 0)
			return test_vars[i][1];
	if (strcmp(name, "BUFVAR") == 0) {
		octo_strlcpy(buf, "from buf", size);
		return buf;
	}
	if (strcmp(name, "BIG") == 0)
		return t->big;
	return NULL;
}

static int test_call_func(void *data, const char *name, const char *args, char *buf, size_t size)
{
	if (strcmp(name, "LEN") == 0) {
		snprintf(buf, size, "%zu", strlen(args));
		return 0;
	}
	if (strcmp(name, "ECHO") == 0) {
		octo_strlcpy(buf, args, size);
		return 0;
	}
	if (strcmp(name, "UPPER") == 0) {
		size_t i;

		for (i = 0; args[i] && i + 1 < size; i++)
			buf[i] = (char)(args[i] >= 'a' && args[i] <= 'z' ? args[i] - 32 : args[i]);
		buf[i] = '\0';
		return 0;
	}
	if (strcmp(name, "FAIL") == 0)
		return OCTO_EFAIL;
	return OCTO_ENOTFOUND;
}

static void test_warn(void *data, const char *message)
{
	struct test_ctx *t = data;

	if (!t->nwarn)
		octo_strlcpy(t->first_warn, message, sizeof(t->first_warn));
	octo_strlcpy(t->last_warn, message, sizeof(t->last_warn));
	t->nwarn++;
}

static struct test_ctx tctx;
static const struct octo_subst_ctx ctx = {
	.get_var = test_get_var,
	.call_func = test_call_func,
	.warn = test_warn,
	.data = &tctx,
};

/* Substitutes `in` and checks the result and the number of warnings. */
#define CHECK_SUBST(in, want, nwarnings)                                                           \
	do {                                                                                       \
		memset(&tctx, 0, sizeof(tctx));                                                    \
		char *res_ = octo_subst(in, &ctx, 0);                                              \
		OCTO_CHECK_STR_EQ(res_, want);                                                     \
		OCTO_CHECK_INT_EQ(tctx.nwarn, nwarnings);                                          \
		free(res_);                                                                        \
	} while (0)

/* ------------------------------------------------------------- substitution */

OCTO_TEST(subst_variables)
{
	CHECK_SUBST("${A}", "hello", 0);
	CHECK_SUBST("x${A}y", "xhelloy", 0);
	CHECK_SUBST("${A}${NUM}", "hello42", 0);
	CHECK_SUBST("${NOPE}", "", 0);
	CHECK_SUBST("<${EMPTY}>", "<>", 0);
	CHECK_SUBST("${BUFVAR}", "from buf", 0);
	CHECK_SUBST("no variables at all", "no variables at all", 0);
	CHECK_SUBST("", "", 0);
	/* values are not substituted again */
	CHECK_SUBST("${DOLLAR}", "${A}", 0);
}

OCTO_TEST(subst_nested_names)
{
	CHECK_SUBST("${VAR${N1}}", "one", 0);
	CHECK_SUBST("${VAR${N${N1}}}", "one", 0);
	CHECK_SUBST("${LONG:${N1}:${N1}}", "1", 0);
}

OCTO_TEST(subst_substrings)
{
	CHECK_SUBST("${LONG:2}", "23456789", 0);
	CHECK_SUBST("${LONG:-3}", "789", 0);
	CHECK_SUBST("${LONG:2:3}", "234", 0);
	CHECK_SUBST("${LONG:-4:2}", "67", 0);
	CHECK_SUBST("${LONG:2:-3}", "23456", 0);
	CHECK_SUBST("${LONG:-4:-1}", "678", 0);
	CHECK_SUBST("${LONG:20}", "", 0);
	CHECK_SUBST("${LONG:-20}", "0123456789", 0);
	CHECK_SUBST("${LONG:-20:3}", "012", 0);
	CHECK_SUBST("${LONG:0:0}", "", 0);
	CHECK_SUBST("${LONG::3}", "012", 0);
	CHECK_SUBST("${LONG:}", "0123456789", 0);
	CHECK_SUBST("${LONG:1:100}", "123456789", 0);
	CHECK_SUBST("${LONG:3:-20}", "", 0);
	CHECK_SUBST("${LONG:99999999999999999999:5}", "", 0);
	CHECK_SUBST("${LONG:-99999999999999999999:2}", "01", 0);
	CHECK_SUBST("${CALLED:7}", "32", 0);
	CHECK_SUBST("1${CALLED:7}", "132", 0);
	CHECK_SUBST("${LONG:x}", "", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "bad substring \"x\" in ${LONG:...}");
	CHECK_SUBST("${LONG:1:2:3}", "", 1);
}

OCTO_TEST(subst_functions)
{
	CHECK_SUBST("${LEN(${A})}", "5", 0);
	CHECK_SUBST("${ECHO(a,b)}", "a,b", 0);
	CHECK_SUBST("${UPPER(${A} world)}", "HELLO WORLD", 0);
	CHECK_SUBST("${ECHO(abcdef):1:2}", "bc", 0);
	CHECK_SUBST("${ECHO(f(x))}", "f(x)", 0);
	CHECK_SUBST("${LEN(${LEN(${A})})}", "1", 0);
	CHECK_SUBST("${ECHO()}", "", 0);

	CHECK_SUBST("a${NOSUCH(x)}b", "ab", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "unknown function NOSUCH");
	CHECK_SUBST("${FAIL()}", "", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "function FAIL failed: failed");
	CHECK_SUBST("${LEN(abc}", "", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "missing ')' in ${LEN(abc}");
	CHECK_SUBST("${LEN(a)x}", "", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "unexpected text after ')' in ${LEN(a)x}");
}

OCTO_TEST(subst_without_functions_or_context)
{
	struct octo_subst_ctx nofunc = ctx;
	char *r;

	nofunc.call_func = NULL;
	memset(&tctx, 0, sizeof(tctx));
	r = octo_subst("${LEN(x)}${A}", &nofunc, 0);
	OCTO_CHECK_STR_EQ(r, "hello");
	OCTO_CHECK_STR_EQ(tctx.last_warn, "unknown function LEN");
	free(r);

	r = octo_subst("<${A}$[1+1]>", NULL, 0);
	OCTO_CHECK_STR_EQ(r, "<2>");
	free(r);
	r = octo_subst(NULL, &ctx, 0);
	OCTO_CHECK_STR_EQ(r, "");
	free(r);
}

OCTO_TEST(subst_expressions)
{
	CHECK_SUBST("$[${NUM} + 1]", "43", 0);
	CHECK_SUBST("$[$[1+2]*3]", "9", 0);
	CHECK_SUBST("${ECHO($[2*3])}", "6", 0);
	CHECK_SUBST("${LONG:$[1+1]:$[4-1]}", "234", 0);
	CHECK_SUBST("$[\"${SPACE}\" = \"a b\"]", "1", 0);
	CHECK_SUBST("x$[1/0]y", "xy", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "bad expression: division by zero (in \"1/0\")");
	CHECK_SUBST("$[${ZERO} != 0 ? 10 / ${ZERO} : 0]", "0", 0);
	CHECK_SUBST("$[]", "", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "bad expression: empty expression (in \"\")");
}

OCTO_TEST(subst_literal_dollars)
{
	CHECK_SUBST("\\${A}", "${A}", 0);
	CHECK_SUBST("cost: $5", "cost: $5", 0);
	CHECK_SUBST("$", "$", 0);
	CHECK_SUBST("a$", "a$", 0);
	CHECK_SUBST("$$${A}", "$$hello", 0);
	CHECK_SUBST("\\$[1+1]", "$[1+1]", 0);
	CHECK_SUBST("a\\,b", "a\\,b", 0);
	CHECK_SUBST("${ECHO(\\$x)}", "$x", 0);
	CHECK_SUBST("{}[]", "{}[]", 0);
}

OCTO_TEST(subst_malformed)
{
	CHECK_SUBST("x${A", "x${A", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "unclosed '${'");
	CHECK_SUBST("${A}$[1+2", "hello$[1+2", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "unclosed '$['");
	CHECK_SUBST("${A${", "${A${", 1);
	CHECK_SUBST("${}", "", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "empty name in ${}");
	CHECK_SUBST("${:3}", "", 1);
}

/* Builds n nested ${ECHO(...)} around "x". */
static char *nested_echo(int n)
{
	char *s = malloc((size_t)n * 9 + 2), *p = s;

	for (int i = 0; i < n; i++)
		p += sprintf(p, "${ECHO(");
	*p++ = 'x';
	for (int i = 0; i < n; i++)
		p += sprintf(p, ")}");
	*p = '\0';
	return s;
}

OCTO_TEST(subst_depth_limit)
{
	char *in16 = nested_echo(16), *in17 = nested_echo(17), *in5000 = nested_echo(5000);

	CHECK_SUBST(in16, "x", 0);
	CHECK_SUBST(in17, "", 1);
	OCTO_CHECK_STR_EQ(tctx.last_warn, "nesting deeper than 16 levels cut off");
	CHECK_SUBST(in5000, "", 1);
	free(in16);
	free(in17);
	free(in5000);
}

OCTO_TEST(subst_max_len)
{
	char *r, *big = malloc(20001);

	memset(&tctx, 0, sizeof(tctx));
	r = octo_subst("${LONG}${LONG}", &ctx, 15);
	OCTO_CHECK_STR_EQ(r, "012345678901234");
	OCTO_CHECK_STR_EQ(tctx.last_warn, "result longer than 15 bytes was cut");
	free(r);

	memset(&tctx, 0, sizeof(tctx));
	r = octo_subst("abcdefghij", &ctx, 4);
	OCTO_CHECK_STR_EQ(r, "abcd");
	OCTO_CHECK_INT_EQ(tctx.nwarn, 1);
	free(r);

	/* 0 means 8192 */
	memset(&tctx, 0, sizeof(tctx));
	memset(big, 'b', 20000);
	big[20000] = '\0';
	tctx.big = big;
	r = octo_subst("${BIG}", &ctx, 0);
	OCTO_CHECK(r != NULL);
	OCTO_CHECK_INT_EQ(strlen(r), 8192);
	free(r);

	/* an expression with a tiny max_len still reports its error */
	memset(&tctx, 0, sizeof(tctx));
	tctx.big = big;
	r = octo_subst("$[1/0]", &ctx, 3);
	OCTO_CHECK_STR_EQ(r, "");
	OCTO_CHECK_STR_EQ(tctx.last_warn, "bad expression: division by zero (in \"1/0\")");
	free(r);
	free(big);
}

OCTO_TEST(subst_warnings_are_capped)
{
	char in[40 * 12 + 1] = "";

	for (int i = 0; i < 40; i++)
		strcat(in, "${NOSUCH()}");
	CHECK_SUBST(in, "", 16);
	OCTO_CHECK_STR_EQ(tctx.first_warn, "unknown function NOSUCH");
	OCTO_CHECK_STR_EQ(tctx.last_warn, "too many warnings; further ones suppressed");
}

/* --------------------------------------------------------------- expressions */

static void check_eval(const char *expr, const char *want)
{
	char out[256];
	int rc = octo_expr_eval(expr, out, sizeof(out));

	if (rc != 0)
		OCTO_FAIL_AT("$[%s] failed: %s (expected \"%s\")", expr, out, want);
	else if (strcmp(out, want) != 0)
		OCTO_FAIL_AT("$[%s] is \"%s\", expected \"%s\"", expr, out, want);
}

static void check_eval_error(const char *expr, const char *want)
{
	char out[256];
	int rc = octo_expr_eval(expr, out, sizeof(out));

	if (rc != OCTO_EINVAL)
		OCTO_FAIL_AT("$[%s] gave %d \"%s\", expected error \"%s\"", expr, rc, out, want);
	else if (strcmp(out, want) != 0)
		OCTO_FAIL_AT("$[%s] error is \"%s\", expected \"%s\"", expr, out, want);
}

OCTO_TEST(expr_arithmetic)
{
	check_eval("1 + 2", "3");
	check_eval("1+2", "3");
	check_eval("10 - 4 - 3", "3");
	check_eval("2 + 3 * 4", "14");
	check_eval("(2 + 3) * 4", "20");
	check_eval("100 / 7", "14");
	check_eval("100 % 7", "2");
	check_eval("-7 / 2", "-3");
	check_eval("-7 % 3", "-1");
	check_eval("- 5", "-5");
	check_eval("--5", "5");
	check_eval("2*-3", "-6");
	check_eval("2 * 3 % 4", "2");
	check_eval("0049 + 1", "50");
	check_eval("9223372036854775807", "9223372036854775807");
	check_eval("-9223372036854775807 - 1", "-9223372036854775808");
	check_eval("(-9223372036854775807 - 1) % -1", "0");
}

OCTO_TEST(expr_overflow_and_division)
{
	check_eval_error("1 / 0", "division by zero");
	check_eval_error("5 % 0", "division by zero");
	check_eval_error("5 / (3 - 3)", "division by zero");
	check_eval_error("9223372036854775807 + 1", "integer overflow");
	check_eval_error("-9223372036854775807 - 2", "integer overflow");
	check_eval_error("4611686018427387904 * 2", "integer overflow");
	check_eval_error("(-9223372036854775807 - 1) / -1", "integer overflow");
	check_eval_error("-(-9223372036854775807 - 1)", "integer overflow");
	check_eval_error("99999999999999999999 + 1", "integer overflow");
	check_eval_error("abc + 1", "'abc' is not a number");
	check_eval_error("1 - \"\"", "'' is not a number");
	check_eval_error("-abc", "'abc' is not a number");
}

OCTO_TEST(expr_comparisons)
{
	check_eval("10 > 9", "1");
	check_eval("10 < 9", "0");
	check_eval("abc < abd", "1");
	check_eval("\"10\" < \"9\"", "0");
	check_eval("10 < 9a", "1");
	check_eval("5 = 5", "1");
	check_eval("5 == 05", "1");
	check_eval("abc = abc", "1");
	check_eval("abc == abd", "0");
	check_eval("abc != abd", "1");
	check_eval("5 != 5", "0");
	check_eval("3 <= 3", "1");
	check_eval("3 >= 4", "0");
	check_eval("4 >= 3", "1");
	check_eval("-1 < 0", "1");
	check_eval("-0 = 0", "1");
	check_eval("\"0049\" = 49", "1");
	check_eval("\"+49\" = \"+49\"", "1");
	check_eval("99999999999999999999 > 1", "1");
	check_eval("\"-99999999999999999999\" < -1", "1");
	check_eval_error("-99999999999999999999 < -1", "integer overflow");
	check_eval("ab < abc", "1");
	check_eval("\"\" = \"\"", "1");
	check_eval("1 + 2 = 3", "1");
	check_eval("1 < 2 < 3", "1");
}

OCTO_TEST(expr_logic_and_precedence)
{
	check_eval("1 & 0", "0");
	check_eval("1 & 1", "1");
	check_eval("1 | 0", "1");
	check_eval("0 | 0", "0");
	check_eval("abc & 1", "1");
	check_eval("0 | \"\"", "0");
	check_eval("!0", "1");
	check_eval("!abc", "0");
	check_eval("!\"\"", "1");
	check_eval("!!7", "1");
	check_eval("1 | 0 & 0", "1");
	check_eval("0 & 1 | 1", "1");
	check_eval("2 = 2 & 3 = 3", "1");
	check_eval("!1 + 1", "1");
	check_eval("0 & 1 / 0", "0");
	check_eval("1 | 1 / 0", "1");
	check_eval_error("1 & 1 / 0", "division by zero");
	check_eval_error("0 | 1 / 0", "division by zero");
}

OCTO_TEST(expr_conditional)
{
	check_eval("1 ? yes : no", "yes");
	check_eval("0 ? yes : no", "no");
	check_eval("5 > 3 ? \"big one\" : small", "big one");
	check_eval("0 ? a : 1 ? b : c", "b");
	check_eval("1 ? 0 ? a : b : c", "b");
	check_eval("1 ? 2 : 3 + 10", "2");
	check_eval("0 ? 2 : 3 + 10", "13");
	check_eval("0 ? 10 / 0 : 7", "7");
	check_eval("1 ? 7 : abc - 1", "7");
	check_eval("(1 ? 2 : 3) * 5", "10");
	check_eval_error("1 ? 10 / 0 : 7", "division by zero");
}

OCTO_TEST(expr_strings)
{
	check_eval("hello", "hello");
	check_eval("  42  ", "42");
	check_eval("\"a b\" = \"a b\"", "1");
	check_eval("\"a|b\"", "a|b");
	check_eval("\"say \\\"hi\\\"\"", "say \"hi\"");
	check_eval("\"back\\\\slash\"", "back\\slash");
	check_eval("\"\"", "");
}

OCTO_TEST(expr_syntax_errors)
{
	check_eval_error("(1 + 2", "missing ')'");
	check_eval_error("1 + 2)", "unexpected ')' at 6");
	check_eval_error("1 +", "unexpected end of expression");
	check_eval_error("", "empty expression");
	check_eval_error("   ", "empty expression");
	check_eval_error(NULL, "empty expression");
	check_eval_error("1 ? 2", "missing ':' after '?'");
	check_eval_error("1 ? 2 ) 3", "unexpected ')' at 7");
	check_eval_error("\"abc", "unterminated string at 1");
	check_eval_error("1 = \"abc", "unterminated string at 5");
	check_eval_error("1 2", "unexpected '2' at 3");
	check_eval_error("* 3", "unexpected '*' at 1");
	check_eval_error("()", "unexpected ')' at 2");
	check_eval_error("+49", "unexpected '+' at 1");
	check_eval_error("1 : 2", "unexpected ':' at 3");
	check_eval_error("0 ? (1 : 2", "unexpected ':' at 8");
	check_eval_error("a == == b", "unexpected '==' at 6");
	check_eval_error("abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz",
			 "unexpected 'abcdefghijklmnopqrst' at 28");
}

OCTO_TEST(expr_depth_limit)
{
	char in[1024], out[128];
	int i, n;

	n = 0;
	for (i = 0; i < 60; i++)
		in[n++] = '(';
	in[n++] = '1';
	for (i = 0; i < 60; i++)
		in[n++] = ')';
	in[n] = '\0';
	check_eval(in, "1");

	n = 0;
	for (i = 0; i < 100; i++)
		in[n++] = '(';
	in[n++] = '1';
	for (i = 0; i < 100; i++)
		in[n++] = ')';
	in[n] = '\0';
	check_eval_error(in, "expression too deeply nested (more than 64 levels)");

	memset(in, '!', 1000);
	in[1000] = '1';
	in[1001] = '\0';
	check_eval_error(in, "expression too deeply nested (more than 64 levels)");

	n = 0;
	for (i = 0; i < 300; i++)
		n += sprintf(in + n, "1?");
	in[n] = '\0';
	OCTO_CHECK_INT_EQ(octo_expr_eval(in, out, sizeof(out)), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(out, "expression too deeply nested (more than 64 levels)");
}

OCTO_TEST(expr_output_size)
{
	char out[3];

	OCTO_CHECK_INT_EQ(octo_expr_eval("12345", out, sizeof(out)), 0);
	OCTO_CHECK_STR_EQ(out, "12");
	OCTO_CHECK_INT_EQ(octo_expr_eval("1/0", out, sizeof(out)), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(out, "di");
	OCTO_CHECK_INT_EQ(octo_expr_eval("1+1", NULL, 0), 0);
}

OCTO_TEST(truth_values)
{
	OCTO_CHECK(!octo_expr_is_true(NULL));
	OCTO_CHECK(!octo_expr_is_true(""));
	OCTO_CHECK(!octo_expr_is_true("0"));
	OCTO_CHECK(!octo_expr_is_true(" 0 "));
	OCTO_CHECK(!octo_expr_is_true("  \t"));
	OCTO_CHECK(octo_expr_is_true("1"));
	OCTO_CHECK(octo_expr_is_true("abc"));
	OCTO_CHECK(octo_expr_is_true("-1"));
	OCTO_CHECK(octo_expr_is_true("00"));
	OCTO_CHECK(octo_expr_is_true(" yes "));
}

/* ---------------------------------------------------------- argument splitting */

/* Splits `in` and checks the arguments, given as a NULL-terminated list. */
static void check_split(const char *in, int want_count, ...)
{
	char buf[256], *argv[16];
	int n;
	va_list ap;

	octo_strlcpy(buf, in, sizeof(buf));
	n = octo_args_split(buf, argv, 16);
	if (n != want_count) {
		OCTO_FAIL_AT("split(\"%s\") gave %d arguments, expected %d", in, n, want_count);
		return;
	}
	va_start(ap, want_count);
	for (int i = 0; i < n && i < 16; i++) {
		const char *want = va_arg(ap, const char *);

		if (strcmp(argv[i], want) != 0)
			OCTO_FAIL_AT("split(\"%s\") argument %d is \"%s\", expected \"%s\"", in, i,
				     argv[i], want);
	}
	va_end(ap);
}

OCTO_TEST(args_split_basic)
{
	check_split("a,b,c", 3, "a", "b", "c");
	check_split("a,,b", 3, "a", "", "b");
	check_split(" a , b ", 2, "a", "b");
	check_split("\ta\t,\tb c\t", 2, "a", "b c");
	check_split("", 0);
	check_split("   ", 0);
	check_split("a,", 2, "a", "");
	check_split(",", 2, "", "");
	check_split("SIP/100,30,tT", 3, "SIP/100", "30", "tT");
}

OCTO_TEST(args_split_protection)
{
	check_split("\"a,b\",c", 2, "a,b", "c");
	check_split("${X},f(a,b),3", 3, "${X}", "f(a,b)", "3");
	check_split("f(g(a,b),c),d", 2, "f(g(a,b),c)", "d");
	check_split("a\\,b,c", 2, "a,b", "c");
	check_split("\" x \",y", 2, " x ", "y");
	check_split("say \"hi there\" now", 1, "say hi there now");
	check_split("\\\"q", 1, "\"q");
	check_split("a\\\\,b", 2, "a\\", "b");
	check_split("re\\d+", 1, "re\\d+");
	check_split("\"(\",b", 2, "(", "b");
	check_split("\"\"", 1, "");
	check_split("f(a,b", 1, "f(a,b");
	check_split(")a,b", 2, ")a", "b");
	check_split("\"a,b", 1, "a,b");
	check_split("X=\"hello world\"", 1, "X=hello world");
}

OCTO_TEST(args_split_more_than_max)
{
	char buf[] = "a,b,c,d";
	char *argv[3] = { NULL, NULL, (char *)"sentinel" };
	char buf2[] = "x,y";

	OCTO_CHECK_INT_EQ(octo_args_split(buf, argv, 2), 4);
	OCTO_CHECK_STR_EQ(argv[0], "a");
	OCTO_CHECK_STR_EQ(argv[1], "b");
	OCTO_CHECK_STR_EQ(argv[2], "sentinel");
	OCTO_CHECK_INT_EQ(octo_args_split(buf2, NULL, 0), 2);
	OCTO_CHECK_INT_EQ(octo_args_split(NULL, argv, 2), 0);
}

OCTO_TEST_MAIN()
