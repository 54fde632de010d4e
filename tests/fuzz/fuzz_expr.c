/*
 * fuzz_expr.c - libFuzzer harness for core/expr.c. The first byte chooses
 * max_len; the rest is substituted with a context whose variables and
 * functions give deterministic values (some of them long, some holding '$'
 * syntax that must not be substituted again), then evaluated as an
 * expression, tested for truth and split as application arguments.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/expr.h"
#include "octo/octo.h"

static const char *fz_get_var(void *data, const char *name, char *buf, size_t size)
{
	size_t len = strlen(name);

	switch (len % 5) {
	case 0: return NULL;
	case 1: return "${X}$[1/0]";
	case 2: snprintf(buf, size, "%zu", len * 7); return buf;
	case 3:
		/* fills the whole buffer */
		memset(buf, 'v', size - 1);
		buf[size - 1] = '\0';
		return buf;
	default: return name;
	}
}

static int fz_call_func(void *data, const char *name, const char *args, char *buf, size_t size)
{
	if (strcmp(name, "LEN") == 0) {
		snprintf(buf, size, "%zu", strlen(args));
		return 0;
	}
	if (strcmp(name, "ECHO") == 0) {
		octo_strlcpy(buf, args, size);
		return 0;
	}
	if (strcmp(name, "FILL") == 0) {
		/* a sloppy function that does not terminate its buffer */
		memset(buf, 'f', size);
		return 0;
	}
	if (strcmp(name, "FAIL") == 0)
		return OCTO_EFAIL;
	return OCTO_ENOTFOUND;
}

static void fz_warn(void *data, const char *message)
{
	int *n = data;

	if (!message || strlen(message) >= 256)
		abort();
	(*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t lens[] = { 0, 1, 2, 5, 16, 64, 200, 1000 };
	int nwarn = 0;
	struct octo_subst_ctx ctx = {
		.get_var = fz_get_var,
		.call_func = fz_call_func,
		.warn = fz_warn,
		.data = &nwarn,
	};
	size_t max_len;
	char *in, *res, out[128], *argv[8];

	if (size == 0)
		return 0;
	max_len = lens[data[0] % 8];
	in = malloc(size);
	if (!in)
		abort();
	memcpy(in, data + 1, size - 1);
	in[size - 1] = '\0';

	res = octo_subst(in, (data[0] & 8) ? &ctx : NULL, max_len);
	if (!res || strlen(res) > (max_len ? max_len : 8192))
		abort();
	if (nwarn > 16)
		abort();
	if (octo_expr_eval(res, out, sizeof(out)) != 0 && !out[0])
		abort();
	octo_expr_eval(in, out, (data[0] >> 4) % 4);
	octo_expr_is_true(res);
	if (octo_args_split(in, argv, (int)(data[0] % 9)) < 0)
		abort();
	free(res);
	free(in);
	return 0;
}
