/*
 * octo_test.h - the tiny unit test harness. Each test file defines tests with
 * OCTO_TEST(name) { ... } and ends with OCTO_TEST_MAIN(). Every test prints
 * "PASS name" or "FAIL name: file:line: what"; the binary ends with
 * "N passed, N failed" and exits non-zero when any test failed.
 */
#ifndef OCTO_TEST_H
#define OCTO_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct octo_test_case {
	const char *name;
	void (*fn)(void);
};

#define OCTO_TEST_MAX 512
static struct octo_test_case octo_tests[OCTO_TEST_MAX];
static int octo_test_count;
static int octo_test_failed_now;

#define OCTO_TEST(name)                                                                      \
	static void test_##name(void);                                                       \
	__attribute__((constructor)) static void test_register_##name(void)                  \
	{                                                                                    \
		if (octo_test_count < OCTO_TEST_MAX)                                          \
			octo_tests[octo_test_count++] =                                       \
				(struct octo_test_case){ #name, test_##name };                \
	}                                                                                    \
	static void test_##name(void)

#define OCTO_FAIL_AT(...)                                                                    \
	do {                                                                                 \
		if (!octo_test_failed_now)                                                   \
			printf("FAIL %s: %s:%d: ", octo_test_current, __FILE__, __LINE__);   \
		else                                                                         \
			printf("     also %s:%d: ", __FILE__, __LINE__);                     \
		printf(__VA_ARGS__);                                                         \
		printf("\n");                                                                \
		octo_test_failed_now = 1;                                                    \
	} while (0)

#define OCTO_CHECK(cond)                                                                     \
	do {                                                                                 \
		if (!(cond))                                                                 \
			OCTO_FAIL_AT("check failed: %s", #cond);                              \
	} while (0)

#define OCTO_CHECK_INT_EQ(a, b)                                                              \
	do {                                                                                 \
		long long octo_a_ = (long long)(a), octo_b_ = (long long)(b);                \
		if (octo_a_ != octo_b_)                                                      \
			OCTO_FAIL_AT("%s == %lld, expected %s == %lld", #a, octo_a_, #b,       \
				     octo_b_);                                               \
	} while (0)

#define OCTO_CHECK_STR_EQ(a, b)                                                              \
	do {                                                                                 \
		const char *octo_a_ = (a), *octo_b_ = (b);                                   \
		if (!octo_a_ || !octo_b_ || strcmp(octo_a_, octo_b_) != 0)                   \
			OCTO_FAIL_AT("%s is \"%s\", expected \"%s\"", #a,                     \
				     octo_a_ ? octo_a_ : "(null)", octo_b_ ? octo_b_ : "(null)"); \
	} while (0)

/* True when `hay` contains `needle`. */
#define OCTO_CHECK_CONTAINS(hay, needle)                                                     \
	do {                                                                                 \
		const char *octo_h_ = (hay), *octo_n_ = (needle);                            \
		if (!octo_h_ || !strstr(octo_h_, octo_n_))                                   \
			OCTO_FAIL_AT("%s is \"%s\", expected it to contain \"%s\"", #hay,     \
				     octo_h_ ? octo_h_ : "(null)", octo_n_);                  \
	} while (0)

static const char *octo_test_current = "";

#define OCTO_TEST_MAIN()                                                                     \
	int main(int argc, char **argv)                                                      \
	{                                                                                    \
		int passed = 0, failed = 0;                                                  \
		setvbuf(stdout, NULL, _IOLBF, 0);                                            \
		for (int i = 0; i < octo_test_count; i++) {                                  \
			if (argc > 1 && !strstr(octo_tests[i].name, argv[1]))                \
				continue;                                                    \
			octo_test_current = octo_tests[i].name;                              \
			octo_test_failed_now = 0;                                            \
			octo_tests[i].fn();                                                  \
			if (octo_test_failed_now) {                                          \
				failed++;                                                    \
			} else {                                                             \
				passed++;                                                    \
				printf("PASS %s\n", octo_tests[i].name);                     \
			}                                                                    \
		}                                                                            \
		printf("%d passed, %d failed\n", passed, failed);                            \
		return failed ? 1 : 0;                                                       \
	}

#endif
