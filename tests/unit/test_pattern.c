/*
 * test_pattern.c - unit tests of core/pattern.c: compiling called numbers,
 * matching, the specificity order (a table of procedures and dialled numbers
 * with the entry that must win), compile errors and the explanations shown
 * by `dialplan test`.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "octo/octo.h"
#include "octo/pattern.h"
#include "octo_test.h"

/* ------------------------------------------------------------------ helpers */

#define MAX_ENTRIES 16

/* Compiles a blank-separated list of entries; returns how many. Fails the test on an error. */
static int compile_list(const char *list, struct octo_pattern **out)
{
	char buf[512], *save = NULL, *tok;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, " ", &save); tok && n < MAX_ENTRIES;
	     tok = strtok_r(NULL, " ", &save)) {
		const char *err = NULL;

		out[n] = octo_pattern_compile(tok, &err);
		if (!out[n]) {
			OCTO_FAIL_AT("entry \"%s\" does not compile: %s", tok, err ? err : "?");
			continue;
		}
		n++;
	}
	return n;
}

static void free_list(struct octo_pattern **p, int n)
{
	for (int i = 0; i < n; i++)
		octo_pattern_free(p[i]);
}

/* What the dialplan engine does: the most specific matching entry, else `default`. */
static const struct octo_pattern *pick(struct octo_pattern **p, int n, const char *number)
{
	const struct octo_pattern *best = NULL, *dflt = NULL;

	for (int i = 0; i < n; i++) {
		if (octo_pattern_is_default(p[i]))
			dflt = p[i];
		else if (octo_pattern_match(p[i], number) &&
			 (!best || octo_pattern_compare(p[i], best) < 0))
			best = p[i];
	}
	return best ? best : dflt;
}

static int cmp_qsort(const void *a, const void *b)
{
	return octo_pattern_compare(*(struct octo_pattern *const *)a,
				    *(struct octo_pattern *const *)b);
}

/* ---------------------------------------------------------------- the table */

/* Procedures as an administrator writes them. */
#define USERS "0X. 01[567]. +XXXX. 00033. 00039. 1XX 100 fax default"
#define MAIN "0212345XX +4904611715111 default"
#define INTL "0X. 00X. 0039X. +XXXX. default"
#define RANGES "[15-7]XX 5XX [0-9]XX XXX default"
#define NZ "NXXXXXX ZXX 1ZX 0N! default"
#define TAILS "12! 12. 12 123 12X default"
#define CODES "*XX *21* #31#X. _0X. 0X. default"

static const struct {
	const char *entries;
	const char *number;
	const char *want; /* NULL: nothing matches and there is no default */
} route_table[] = {
	/* the users procedure of the admin guide */
	{ USERS, "0301234567", "0X." },
	{ USERS, "01511234567", "01[567]." },
	{ USERS, "01611234567", "01[567]." },
	{ USERS, "01711234567", "01[567]." },
	{ USERS, "01811234567", "0X." },
	{ USERS, "01411234567", "0X." },
	{ USERS, "0140", "0X." },
	{ USERS, "015", "0X." },
	{ USERS, "0151", "01[567]." },
	{ USERS, "+4930123456", "+XXXX." },
	{ USERS, "+12345", "+XXXX." },
	{ USERS, "+1234", "default" },
	{ USERS, "+49", "default" },
	{ USERS, "+49a12345", "default" },
	{ USERS, "000331234567890", "00033." },
	{ USERS, "00033", "0X." },
	{ USERS, "00039061234567", "00039." },
	{ USERS, "0004412345", "0X." },
	{ USERS, "100", "100" },
	{ USERS, "101", "1XX" },
	{ USERS, "199", "1XX" },
	{ USERS, "1999", "default" },
	{ USERS, "10", "default" },
	{ USERS, "fax", "fax" },
	{ USERS, "FAX", "default" },
	{ USERS, "0", "default" },
	{ USERS, "01", "default" },
	{ USERS, "", "default" },
	{ USERS, "200", "default" },
	/* DIDs of the main procedure */
	{ MAIN, "021234532", "0212345XX" },
	{ MAIN, "021234500", "0212345XX" },
	{ MAIN, "02123453", "default" },
	{ MAIN, "0212345321", "default" },
	{ MAIN, "0212345AB", "default" },
	{ MAIN, "+4904611715111", "+4904611715111" },
	{ MAIN, "+4904611715112", "default" },
	{ MAIN, "4904611715111", "default" },
	{ "0212345XX 1XX", "555", NULL },
	{ "0212345XX 1XX", "132", "1XX" },
	/* international prefixes, longest literal prefix wins */
	{ INTL, "0039061234567", "0039X." },
	{ INTL, "0049301234", "00X." },
	{ INTL, "0301234", "0X." },
	{ INTL, "+390612345", "+XXXX." },
	{ INTL, "0039", "00X." },
	{ INTL, "00391", "00X." },
	{ INTL, "003912", "0039X." },
	{ INTL, "00", "default" },
	/* sets and ranges */
	{ RANGES, "123", "[15-7]XX" },
	{ RANGES, "523", "5XX" },
	{ RANGES, "623", "[15-7]XX" },
	{ RANGES, "723", "[15-7]XX" },
	{ RANGES, "423", "XXX" },
	{ RANGES, "1234", "default" },
	{ "[2-9] N Z", "5", "N" },
	{ "[2-8] N Z", "5", "[2-8]" },
	{ "Z N", "1", "Z" },
	{ "[12]X [23]X", "25", "[12]X" },
	{ "X [0-9]", "5", "X" },
	{ "[-5]X [a-c]X", "-1", "[-5]X" },
	{ "[-5]X [a-c]X", "b1", "[a-c]X" },
	{ "[-5]X [a-c]X", "d1", NULL },
	/* N and Z */
	{ NZ, "2345678", "NXXXXXX" },
	{ NZ, "1345678", "default" },
	{ NZ, "123", "1ZX" },
	{ NZ, "103", "ZXX" },
	{ NZ, "023", "0N!" },
	{ NZ, "02", "0N!" },
	{ NZ, "01", "default" },
	{ NZ, "0", "default" },
	/* exact, fixed length, '.', '!' */
	{ TAILS, "12", "12" },
	{ TAILS, "123", "123" },
	{ TAILS, "124", "12X" },
	{ TAILS, "1245", "12." },
	{ TAILS, "1", "default" },
	{ "12! 12.", "12", "12!" },
	{ "12! 12.", "125", "12." },
	{ "X. XX XXX.", "55", "XX" },
	{ "X. XX XXX.", "555", "X." },
	{ "X. XX XXX.", "5555", "XXX." },
	{ "! default", "", "!" },
	{ "! .", "5", "." },
	/* feature codes and literal symbols; `_` is an ordinary character */
	{ CODES, "*21*", "*21*" },
	{ CODES, "*72", "*XX" },
	{ CODES, "#31#0301234", "#31#X." },
	{ CODES, "_0123", "_0X." },
	{ CODES, "0123", "0X." },
	{ CODES, "*7", "default" },
	/* only upper-case X Z N are wildcards */
	{ "fax Fax FAX default", "FA5", "FAX" },
	{ "fax Fax FAX default", "Fax", "Fax" },
	{ "fax Fax FAX default", "fax", "fax" },
	{ "fax Fax FAX default", "fa5", "default" },
	{ "fax Fax FAX default", "FAX", "default" },
	/* blanks and control characters never match */
	{ "10. 10! default", "100\n", "default" },
	{ "10. 10! default", "10 5", "default" },
	{ "10.", "10\x01", NULL },
};

OCTO_TEST(route_table_picks_the_most_specific_entry)
{
	OCTO_CHECK(OCTO_ARRAY_LEN(route_table) >= 60);
	for (size_t i = 0; i < OCTO_ARRAY_LEN(route_table); i++) {
		struct octo_pattern *p[MAX_ENTRIES];
		int n = compile_list(route_table[i].entries, p);
		const struct octo_pattern *w = pick(p, n, route_table[i].number);
		const char *got = w ? octo_pattern_text(w) : NULL;
		const char *want = route_table[i].want;

		if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
			OCTO_FAIL_AT("case %zu: {%s} dialling \"%s\": got %s, expected %s", i,
				     route_table[i].entries, route_table[i].number,
				     got ? got : "none", want ? want : "none");
		free_list(p, n);
	}
}

/* The engine may equally sort a procedure once and take the first match. */
OCTO_TEST(sorted_users_procedure)
{
	struct octo_pattern *p[MAX_ENTRIES];
	static const char *const want[] = { "100", "fax",    "00033.", "00039.", "01[567].",
					    "1XX", "+XXXX.", "0X.",    "default" };
	int n = compile_list(USERS, p);

	OCTO_CHECK_INT_EQ(n, 9);
	qsort(p, (size_t)n, sizeof(p[0]), cmp_qsort);
	for (int i = 0; i < n && i < 9; i++)
		OCTO_CHECK_STR_EQ(octo_pattern_text(p[i]), want[i]);
	free_list(p, n);
}

OCTO_TEST(compare_is_antisymmetric_and_zero_only_for_same_text)
{
	struct octo_pattern *p[MAX_ENTRIES], *q[MAX_ENTRIES];
	int n = compile_list("0X. 01[567]. +XXXX. 100 fax default 12! 12. X [0-9] 1XX 1XX.", p);
	int m = compile_list("0X. 01[567]. +XXXX. 100 fax default 12! 12. X [0-9] 1XX 1XX.", q);

	OCTO_CHECK_INT_EQ(n, m);
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < n; j++) {
			int a = octo_pattern_compare(p[i], q[j]);
			int b = octo_pattern_compare(q[j], p[i]);

			if (i == j)
				OCTO_CHECK_INT_EQ(a, 0);
			else
				OCTO_CHECK(a != 0);
			OCTO_CHECK((a < 0) == (b > 0));
		}
	}
	free_list(p, n);
	free_list(q, m);
}

/* ------------------------------------------------------------ compile, match */

OCTO_TEST(classes_of_entries)
{
	const char *err = NULL;
	struct octo_pattern *d = octo_pattern_compile("default", &err);
	struct octo_pattern *e = octo_pattern_compile("+4904611715111", &err);
	struct octo_pattern *f = octo_pattern_compile("fax", &err);
	struct octo_pattern *p = octo_pattern_compile("0212345XX", &err);
	struct octo_pattern *D = octo_pattern_compile("Default", &err);

	OCTO_CHECK(d && e && f && p && D);
	if (!d || !e || !f || !p || !D)
		goto out;
	OCTO_CHECK(octo_pattern_is_default(d));
	OCTO_CHECK(!octo_pattern_is_exact(d));
	OCTO_CHECK(!octo_pattern_match(d, "default"));
	OCTO_CHECK(!octo_pattern_match(d, ""));
	OCTO_CHECK(octo_pattern_is_exact(e));
	OCTO_CHECK(octo_pattern_is_exact(f));
	OCTO_CHECK(octo_pattern_is_exact(D));
	OCTO_CHECK(!octo_pattern_is_default(D));
	OCTO_CHECK(!octo_pattern_is_exact(p));
	OCTO_CHECK(!octo_pattern_is_default(p));
	OCTO_CHECK_STR_EQ(octo_pattern_text(p), "0212345XX");
	OCTO_CHECK_STR_EQ(octo_pattern_text(d), "default");
	OCTO_CHECK(octo_pattern_match(e, "+4904611715111"));
	OCTO_CHECK(!octo_pattern_match(e, "+49046117151111"));
	OCTO_CHECK(!octo_pattern_match(e, NULL));
	OCTO_CHECK(octo_pattern_match(p, "021234532"));
	OCTO_CHECK(!octo_pattern_match(NULL, "1"));
out:
	octo_pattern_free(d);
	octo_pattern_free(e);
	octo_pattern_free(f);
	octo_pattern_free(p);
	octo_pattern_free(D);
	octo_pattern_free(NULL);
}

OCTO_TEST(wildcard_digit_classes)
{
	const char *err = NULL;
	struct octo_pattern *x = octo_pattern_compile("X", &err);
	struct octo_pattern *z = octo_pattern_compile("Z", &err);
	struct octo_pattern *n = octo_pattern_compile("N", &err);
	char num[2] = { 0, 0 };
	int cx = 0, cz = 0, cn = 0;

	OCTO_CHECK(x && z && n);
	if (!x || !z || !n)
		goto out;
	for (int c = 1; c < 256; c++) {
		num[0] = (char)c;
		cx += octo_pattern_match(x, num);
		cz += octo_pattern_match(z, num);
		cn += octo_pattern_match(n, num);
	}
	OCTO_CHECK_INT_EQ(cx, 10);
	OCTO_CHECK_INT_EQ(cz, 9);
	OCTO_CHECK_INT_EQ(cn, 8);
	OCTO_CHECK(!octo_pattern_match(z, "0"));
	OCTO_CHECK(!octo_pattern_match(n, "1"));
	OCTO_CHECK(octo_pattern_match(n, "2"));
out:
	octo_pattern_free(x);
	octo_pattern_free(z);
	octo_pattern_free(n);
}

OCTO_TEST(set_members)
{
	const char *err = NULL;
	struct octo_pattern *p = octo_pattern_compile("[15-7*#]", &err);
	const char *yes[] = { "1", "5", "6", "7", "*", "#" };
	const char *no[] = { "0", "2", "4", "8", "9", "-", "15", "" };

	OCTO_CHECK(p != NULL);
	if (!p)
		return;
	for (size_t i = 0; i < OCTO_ARRAY_LEN(yes); i++)
		OCTO_CHECK(octo_pattern_match(p, yes[i]));
	for (size_t i = 0; i < OCTO_ARRAY_LEN(no); i++)
		OCTO_CHECK(!octo_pattern_match(p, no[i]));
	octo_pattern_free(p);

	/* X Z N inside a set are plain letters */
	p = octo_pattern_compile("[XZ]", &err);
	OCTO_CHECK(p != NULL);
	OCTO_CHECK(octo_pattern_match(p, "X"));
	OCTO_CHECK(!octo_pattern_match(p, "5"));
	octo_pattern_free(p);
}

OCTO_TEST(matching_is_linear)
{
	size_t len = 1000000;
	char *num = malloc(len + 1);
	const char *err = NULL;
	struct octo_pattern *p = octo_pattern_compile(
		"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX.",
		&err);
	struct octo_pattern *q = octo_pattern_compile("0!", &err);

	OCTO_CHECK(num && p && q);
	if (num && p && q) {
		memset(num, '0', len);
		num[len] = '\0';
		for (int i = 0; i < 200; i++) {
			OCTO_CHECK(octo_pattern_match(p, num));
			OCTO_CHECK(octo_pattern_match(q, num));
		}
		num[len - 1] = ' ';
		OCTO_CHECK(!octo_pattern_match(p, num));
	}
	free(num);
	octo_pattern_free(p);
	octo_pattern_free(q);
}

/* ------------------------------------------------------------ compile errors */

static void check_error(const char *text, const char *want)
{
	const char *err = NULL;
	struct octo_pattern *p = octo_pattern_compile(text, &err);

	if (p) {
		OCTO_FAIL_AT("\"%s\" compiled, expected error \"%s\"", text, want);
		octo_pattern_free(p);
		return;
	}
	OCTO_CHECK_STR_EQ(err, want);
}

OCTO_TEST(compile_errors)
{
	static const char bad_char[] =
		"invalid character (allowed: digits, letters, + * # - _ and X Z N [ ] . !)";
	char longtext[300];
	const char *err = NULL;
	struct octo_pattern *p;

	check_error("", "empty called number");
	check_error(NULL, "empty called number");
	check_error("0X.1", "'.' must be the last character");
	check_error("0..", "'.' must be the last character");
	check_error(".!", "'.' must be the last character");
	check_error("0!1", "'!' must be the last character");
	check_error("!.", "'!' must be the last character");
	check_error("01[567", "unclosed '['");
	check_error("01[", "unclosed '['");
	check_error("01[].", "empty set");
	check_error("01].", "unexpected ']'");
	check_error("0[1[2]]", "'[' inside a set");
	check_error("0[1-[]", "'[' inside a set");
	check_error("0[7-5]", "reversed range in a set");
	check_error("0[1.]", "'.' and '!' are not allowed in a set");
	check_error("10 0", "blanks are not allowed in a called number");
	check_error("100\t", "blanks are not allowed in a called number");
	check_error("[1 2]", "blanks are not allowed in a called number");
	check_error("100\n", "control characters are not allowed in a called number");
	check_error("1\x7f", "control characters are not allowed in a called number");
	check_error("[1\x01]", "control characters are not allowed in a called number");
	check_error("10@host", bad_char);
	check_error("10/1", bad_char);
	check_error("10\xc3\xa9", bad_char);
	check_error("0[1-@]", bad_char);

	memset(longtext, '1', sizeof(longtext));
	longtext[257] = '\0';
	check_error(longtext, "called number too long (more than 256 characters)");
	longtext[256] = '\0';
	p = octo_pattern_compile(longtext, &err);
	OCTO_CHECK(p != NULL);
	octo_pattern_free(p);

	/* err may be NULL */
	OCTO_CHECK(octo_pattern_compile("[", NULL) == NULL);
}

OCTO_TEST(accepted_syntax)
{
	static const char *const ok[] = {
		"0X.",       "01[567].", "+XXXX.", "00033.",   "+4904611715111",
		"0212345XX", "1XX",      "100",    "fax",      "default",
		"[15-7]",    "[-5]",     "[5-]",   "[a-cA-C]", "*21*",
		"#31#X.",    "_0X.",     "!",      ".",        "N!"
	};

	for (size_t i = 0; i < OCTO_ARRAY_LEN(ok); i++) {
		const char *err = NULL;
		struct octo_pattern *p = octo_pattern_compile(ok[i], &err);

		if (!p)
			OCTO_FAIL_AT("\"%s\" rejected: %s", ok[i], err);
		octo_pattern_free(p);
	}
}

/* ------------------------------------------------------------------ explain */

static void check_explain(const char *winner, const char *loser, const char *want)
{
	const char *err = NULL;
	struct octo_pattern *w = octo_pattern_compile(winner, &err);
	struct octo_pattern *l = octo_pattern_compile(loser, &err);
	char buf[256];

	OCTO_CHECK(w && l);
	if (w && l)
		OCTO_CHECK_STR_EQ(octo_pattern_explain(w, l, buf, sizeof(buf)), want);
	octo_pattern_free(w);
	octo_pattern_free(l);
}

OCTO_TEST(explain_texts)
{
	check_explain("100", "1XX", "exact match beats a pattern");
	check_explain("01[567].", "0X.",
		      "at position 2, '1' (1 choice) is more specific than 'X' (10 choices)");
	check_explain("0039X.", "00X.",
		      "at position 3, '3' (1 choice) is more specific than 'X' (10 choices)");
	check_explain("[15-7]XX", "XXX",
		      "at position 1, '[15-7]' (4 choices) is more specific than 'X' (10 choices)");
	check_explain("01[567].", "01X.",
		      "at position 3, '[567]' (3 choices) is more specific than 'X' (10 choices)");
	check_explain("NXX", "ZXX",
		      "at position 1, 'N' (8 choices) is more specific than 'Z' (9 choices)");
	check_explain("12X", "12.",
		      "at position 3, 'X' (10 choices) is more specific than '.' "
		      "(one or more characters)");
	check_explain("12X", "12!",
		      "at position 3, 'X' (10 choices) is more specific than '!' "
		      "(zero or more characters)");
	check_explain("12.", "12!",
		      "at position 3, '.' beats '!' (it requires at least one more character)");
	check_explain("1XX", "1XX.", "a fixed-length pattern beats one that goes on with '.'");
	check_explain("1XX", "1XX!", "a fixed-length pattern beats one that goes on with '!'");
	check_explain("1XX", "1XXX",
		      "at position 4, the pattern ends while the other needs more characters "
		      "(shorter first)");
	check_explain("X", "[0-9]", "same specificity; textual order decides");
	check_explain("100", "101", "both are exact; textual order decides");
	check_explain("1XX", "default", "'default' is used only when nothing else matches");
	check_explain("fax", "default", "'default' is used only when nothing else matches");
	check_explain("0X.", "0X.", "same entry");
	check_explain("default", "default", "same entry");
	/* called the wrong way round, it says who really wins */
	check_explain("0X.", "01[567].",
		      "'01[567].' wins instead: at position 2, '1' (1 choice) is more specific "
		      "than 'X' (10 choices)");
	check_explain("default", "100",
		      "'100' wins instead: 'default' is used only when nothing else matches");
}

OCTO_TEST(explain_small_buffer)
{
	const char *err = NULL;
	struct octo_pattern *w = octo_pattern_compile("100", &err);
	struct octo_pattern *l = octo_pattern_compile("1XX", &err);
	char buf[8];

	OCTO_CHECK_STR_EQ(octo_pattern_explain(w, l, buf, sizeof(buf)), "exact m");
	OCTO_CHECK(octo_pattern_explain(w, l, NULL, 0) == NULL);
	OCTO_CHECK_STR_EQ(octo_pattern_explain(w, NULL, buf, sizeof(buf)), "nothing");
	octo_pattern_free(w);
	octo_pattern_free(l);
}

OCTO_TEST_MAIN()
