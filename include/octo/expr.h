/*
 * expr.h - variable substitution and $[...] expressions of the dialplan.
 *
 * SUBSTITUTION
 *   ${NAME}                the value of a variable ("" when unset)
 *   ${NAME:offset}         substring from offset (negative: from the end)
 *   ${NAME:offset:length}  substring (negative length: leave that many off the end)
 *   ${FUNC(args)}          a dialplan function's value (args are substituted first)
 *   $[expression]          the value of an expression (substituted first)
 * Constructs nest: ${A${B}} and $[${X} + 1] work. A lone '$' is literal, and
 * "\$" is a literal '$'. Substitution never fails: an unknown function or a bad
 * expression yields "" and a warning through `warn`.
 *
 * EXPRESSIONS (operators by increasing precedence)
 *   a | b      logical or (result "1"/"0"; empty and "0" are false)
 *   a & b      logical and
 *   a = b, a == b, a != b, a < b, a > b, a <= b, a >= b
 *              numeric when both sides are numbers, otherwise string comparison
 *   a + b, a - b
 *   a * b, a / b, a % b       integer arithmetic (64-bit); division by zero is an error
 *   !a, -a
 *   ( ... )    grouping;  "quoted strings" may hold spaces and operators
 *   cond ? a : b              conditional (lowest precedence)
 * Tokens are separated by blanks or operators; an unquoted word is a string.
 *
 * Thread context: pure functions, any thread.
 */
#ifndef OCTO_EXPR_H
#define OCTO_EXPR_H

#include <stddef.h>

#include "octo/octo.h"

struct octo_subst_ctx {
	/* Returns the variable's value or NULL when unset. The pointer may point
	 * into `buf` (size `size`) which the callee may use. */
	const char *(*get_var)(void *data, const char *name, char *buf, size_t size);
	/* Computes FUNC(args) into buf; returns 0, or a negative OCTO_E* (then
	 * the substitution is "" and a warning is issued). May be NULL. */
	int (*call_func)(void *data, const char *name, const char *args, char *buf, size_t size);
	/* Receives warnings ("unknown function FOO", "bad expression: ..."). May be NULL. */
	void (*warn)(void *data, const char *message);
	void *data;
};

/* Substitutes `in`. Returns a malloc'ed string (never NULL unless out of
 * memory). The result is at most `max_len` bytes (longer results are cut;
 * 0 means 8192). Nesting deeper than 16 levels is cut off with a warning. */
char *octo_subst(const char *in, const struct octo_subst_ctx *ctx, size_t max_len);

/* Evaluates an already substituted expression. Returns 0 and writes the
 * result into `out`, or OCTO_EINVAL and writes an error phrase into `out`
 * ("division by zero", "unexpected ')' at 7", ...). */
int octo_expr_eval(const char *expr, char *out, size_t size);

/* True when a value counts as true in GotoIf and the logical operators:
 * non-empty and not "0" (after trimming blanks). */
bool octo_expr_is_true(const char *value);

/* Splits application arguments on commas at nesting level 0 (parentheses
 * and double quotes protect commas; "\," is a literal comma), trimming
 * blanks and removing the quotes. Modifies `args` in place, stores up to `max`
 * pointers into argv and returns how many arguments there are (it may be
 * more than max). An empty string gives 0 arguments. */
int octo_args_split(char *args, char **argv, int max);

#endif
