/*
 * fuzz_pattern.c - libFuzzer harness for core/pattern.c. The input is split
 * on newlines into a pattern, a number and a second pattern; it compiles,
 * matches, compares and explains them, and checks the results against a
 * slow reference matcher and the order's invariants (any mismatch aborts).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "octo/pattern.h"

/* The next newline-separated field of data[*pos..size), as a new string. */
static char *fz_field(const uint8_t *data, size_t size, size_t *pos)
{
	size_t start = *pos, end = start;
	char *s;

	while (end < size && data[end] != '\n')
		end++;
	s = malloc(end - start + 1);
	if (!s)
		abort();
	memcpy(s, data + start, end - start);
	s[end - start] = '\0';
	*pos = end < size ? end + 1 : end;
	return s;
}

/* Does character c match the pattern element starting at *t? Advances *t. */
static bool fz_ref_el(const char **t, unsigned char c)
{
	const char *p = *t;
	bool in = false;

	switch (*p) {
	case 'X': *t = p + 1; return c >= '0' && c <= '9';
	case 'Z': *t = p + 1; return c >= '1' && c <= '9';
	case 'N': *t = p + 1; return c >= '2' && c <= '9';
	case '[':
		p++;
		while (*p != ']') {
			if (p[1] == '-' && p[2] && p[2] != ']') {
				in |= c >= (unsigned char)p[0] && c <= (unsigned char)p[2] &&
				      ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
				       (c >= 'A' && c <= 'Z') || strchr("+*#-_", c));
				p += 3;
			} else {
				in |= c == (unsigned char)*p;
				p++;
			}
		}
		*t = p + 1;
		return in && c;
	default: *t = p + 1; return c == (unsigned char)*p;
	}
}

/* A straightforward matcher written from the header's description. */
static bool fz_ref_match(const char *text, const char *num)
{
	if (!strpbrk(text, "XZN[].!"))
		return strcmp(text, num) == 0;
	while (*text && *text != '.' && *text != '!') {
		if (!*num || !fz_ref_el(&text, (unsigned char)*num))
			return false;
		num++;
	}
	if (*text == '.' && !*num)
		return false;
	if (!*text)
		return !*num;
	for (; *num; num++)
		if ((unsigned char)*num <= 0x20 || *num == 0x7f)
			return false;
	return true;
}

static int fz_sign(int v)
{
	return (v > 0) - (v < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;
	char *t1 = fz_field(data, size, &pos);
	char *num = fz_field(data, size, &pos);
	char *t2 = fz_field(data, size, &pos);
	const char *err1 = NULL, *err2 = NULL;
	struct octo_pattern *a = octo_pattern_compile(t1, &err1);
	struct octo_pattern *b = octo_pattern_compile(t2, &err2);
	char buf[600], tiny[7];

	if (!a && (!err1 || !*err1))
		abort();
	if (a) {
		bool m = octo_pattern_match(a, num);

		if (strcmp(octo_pattern_text(a), t1) != 0)
			abort();
		if (octo_pattern_is_default(a) ? m : m != fz_ref_match(t1, num))
			abort();
		if (octo_pattern_is_exact(a) && !octo_pattern_match(a, t1))
			abort();
		if (octo_pattern_compare(a, a) != 0)
			abort();
		octo_pattern_explain(a, a, tiny, sizeof(tiny));
	}
	if (a && b) {
		int ab = octo_pattern_compare(a, b), ba = octo_pattern_compare(b, a);

		if (fz_sign(ab) != -fz_sign(ba))
			abort();
		if ((ab == 0) != (strcmp(t1, t2) == 0))
			abort();
		octo_pattern_match(b, num);
		octo_pattern_explain(a, b, buf, sizeof(buf));
		if (strlen(buf) >= sizeof(buf))
			abort();
		octo_pattern_explain(b, a, tiny, sizeof(tiny));
		octo_pattern_explain(b, a, buf, 1);
	}
	octo_pattern_free(a);
	octo_pattern_free(b);
	free(t1);
	free(num);
	free(t2);
	return 0;
}
