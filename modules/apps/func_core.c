/*
 * func_core.c - basic dialplan functions: LEN, IF, EXISTS.
 */
#include <stdio.h>
#include <string.h>

#include "octo/channel.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/module.h"

static int func_len(struct octo_channel *chan, const char *args, char *buf, size_t size)
{
	snprintf(buf, size, "%zu", strlen(args));
	return 0;
}

/* IF(condition?true_value[:false_value]) */
static int func_if(struct octo_channel *chan, const char *args, char *buf, size_t size)
{
	const char *q = strchr(args, '?'), *colon;
	char cond[512];
	size_t len;

	if (!q)
		return OCTO_EINVAL;
	len = (size_t)(q - args) < sizeof(cond) - 1 ? (size_t)(q - args) : sizeof(cond) - 1;
	memcpy(cond, args, len);
	cond[len] = '\0';
	colon = strchr(q + 1, ':');
	if (octo_expr_is_true(cond)) {
		len = colon ? (size_t)(colon - (q + 1)) : strlen(q + 1);
		if (len >= size)
			len = size - 1;
		memcpy(buf, q + 1, len);
		buf[len] = '\0';
	} else {
		octo_strlcpy(buf, colon ? colon + 1 : "", size);
	}
	return 0;
}

static int func_exists(struct octo_channel *chan, const char *args, char *buf, size_t size)
{
	octo_strlcpy(buf, *args ? "1" : "0", size);
	return 0;
}

static const struct octo_func core_funcs[] = {
	{ .name = "LEN", .synopsis = "Length of a string", .syntax = "${LEN(text)}",
	  .read = func_len },
	{ .name = "IF", .synopsis = "Choose a value by a condition",
	  .syntax = "${IF(condition?value_if_true[:value_if_false])}", .read = func_if },
	{ .name = "EXISTS", .synopsis = "1 when the text is not empty, else 0",
	  .syntax = "${EXISTS(${VAR})}", .read = func_exists },
	{ 0 }
};

static int func_core_load(struct octo_module *self)
{
	return octo_func_register_all(self, core_funcs) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

OCTO_MODULE(func_core, .description = "Basic dialplan functions (LEN, IF, EXISTS)",
	    .load = func_core_load);
