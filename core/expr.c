/*
 * expr.c - variable substitution (${NAME}, ${NAME:offset:length},
 * ${FUNC(args)}, $[expression]), the $[...] expression evaluator and the
 * splitting of application arguments.
 *
 * DESIGN: everything here works on hostile text. Substitution recurses once
 * per nesting level and stops at 16; each level scans its text a bounded
 * number of times, so the work is linear in the input times the depth. Output
 * is bounded by max_len at every level. The evaluator tokenizes the whole
 * expression first (quotes removed into a private buffer), then a recursive
 * descent parser computes the value as it parses; the recursion is bounded
 * (64 levels) and all arithmetic is checked for 64-bit overflow. A "skip"
 * mode parses the branch of ?:, & and | that is not taken without raising
 * value errors, so `$[${X} != 0 ? 10 / ${X} : 0]` is fine when X is 0.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/expr.h"
#include "octo/octo.h"

/* ======================================================== substitution */

#define SUBST_DEFAULT_MAX 8192
#define SUBST_MAX_DEPTH 16
#define SUBST_MAX_WARNINGS 16

/* A growing string bounded by max bytes (plus the NUL). */
struct subst_buf {
	char *s;
	size_t len, cap, max;
	bool cut;
	bool oom;
};

struct subst_state {
	const struct octo_subst_ctx *ctx;
	size_t max_len;
	int warnings;
	bool oom;
	bool depth_warned;
};

static void subst_buf_init(struct subst_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

static void subst_buf_add(struct subst_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (n > b->max - b->len) {
		n = b->max - b->len;
		b->cut = true;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *ns;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		ns = realloc(b->s, cap);
		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Returns the NUL-terminated text ("" when nothing was added), or NULL on out of memory. */
static const char *subst_buf_str(struct subst_buf *b)
{
	if (!b->s && !b->oom)
		subst_buf_add(b, "", 0);
	return b->oom ? NULL : b->s;
}

static void subst_warn(struct subst_state *st, const char *fmt, ...) OCTO_PRINTF(2, 3);

static void subst_warn(struct subst_state *st, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!st->ctx || !st->ctx->warn)
		return;
	/* A hostile text could otherwise flood the log. */
	if (st->warnings >= SUBST_MAX_WARNINGS)
		return;
	if (++st->warnings == SUBST_MAX_WARNINGS) {
		st->ctx->warn(st->ctx->data, "too many warnings; further ones suppressed");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	st->ctx->warn(st->ctx->data, msg);
}

/* Index of the `close` matching an already opened `open` from `i`, or n when unclosed.
 * A backslash protects the next character. */
static size_t subst_find_close(const char *in, size_t n, size_t i, char open, char close)
{
	int depth = 1;

	for (; i < n; i++) {
		if (in[i] == '\\' && i + 1 < n) {
			i++;
		} else if (in[i] == open) {
			depth++;
		} else if (in[i] == close) {
			if (--depth == 0)
				return i;
		}
	}
	return n;
}

/* Skips the construct or escape at in[i] when there is one; returns the next index. */
static size_t subst_skip(const char *in, size_t n, size_t i)
{
	if (in[i] == '\\' && i + 1 < n)
		return i + 2;
	if (in[i] == '$' && i + 1 < n && (in[i + 1] == '{' || in[i + 1] == '[')) {
		char open = in[i + 1], close = open == '{' ? '}' : ']';
		size_t j = subst_find_close(in, n, i + 2, open, close);

		return j < n ? j + 1 : n;
	}
	return i + 1;
}

static void subst_run(struct subst_state *st, const char *in, size_t n, int depth,
		      struct subst_buf *out);

/* Substitutes in[0..n) into a new bounded string; returns NULL on out of memory (freed by
 * the caller with free(b->s)). */
static const char *subst_piece(struct subst_state *st, const char *in, size_t n, int depth,
			       struct subst_buf *b)
{
	subst_buf_init(b, st->max_len);
	subst_run(st, in, n, depth, b);
	if (b->oom)
		st->oom = true;
	return subst_buf_str(b);
}

/* Parses a substring bound in s[0..n): optional blanks, sign, digits. Empty gives `dflt`.
 * Values saturate far above any string length. Returns false when it is not a number. */
static bool subst_parse_int(const char *s, size_t n, long long dflt, long long *v)
{
	bool neg = false, any = false;
	long long x = 0;
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n) {
		*v = dflt;
		return true;
	}
	if (s[i] == '-' || s[i] == '+')
		neg = s[i++] == '-';
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (x < 1000000000000LL)
			x = x * 10 + (s[i] - '0');
		any = true;
	}
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (!any || i != n)
		return false;
	*v = neg ? -x : x;
	return true;
}

/* Appends the part of value selected by spec ("offset" or "offset:length"; NULL: all of it). */
static void subst_substring(struct subst_state *st, const char *name, const char *value,
			    const char *spec, struct subst_buf *out)
{
	long long len = (long long)strlen(value), off, cnt, start, end;
	const char *colon;

	if (!spec) {
		subst_buf_add(out, value, (size_t)len);
		return;
	}
	colon = strchr(spec, ':');
	if (!subst_parse_int(spec, colon ? (size_t)(colon - spec) : strlen(spec), 0, &off) ||
	    (colon && !subst_parse_int(colon + 1, strlen(colon + 1), len, &cnt))) {
		subst_warn(st, "bad substring \"%.40s\" in ${%.40s:...}", spec, name);
		return;
	}
	if (!colon)
		cnt = len;
	start = off < 0 ? (off + len < 0 ? 0 : off + len) : (off > len ? len : off);
	if (cnt >= 0)
		end = cnt > len - start ? len : start + cnt;
	else
		end = len + cnt < start ? start : len + cnt;
	subst_buf_add(out, value + start, (size_t)(end - start));
}

/* Handles the inside of ${...} (raw, not yet substituted). */
static void subst_var(struct subst_state *st, const char *raw, size_t n, int depth,
		      struct subst_buf *out)
{
	const struct octo_subst_ctx *ctx = st->ctx;
	struct subst_buf bname, bargs, bspec;
	const char *name, *args = NULL, *spec = NULL, *value = NULL;
	size_t i = 0, name_end, spec_start = 0;
	bool is_func = false, has_spec = false;
	char *vbuf = NULL;

	subst_buf_init(&bargs, 0);
	subst_buf_init(&bspec, 0);

	/* The name ends at the first top-level '(' (a function) or ':' (a substring). */
	while (i < n && raw[i] != '(' && raw[i] != ':')
		i = subst_skip(raw, n, i);
	name_end = i < n ? i : n;
	if (i < n && raw[i] == '(') {
		size_t j = i + 1;
		int level = 1;

		while (j < n) {
			if (raw[j] == '(')
				level++;
			else if (raw[j] == ')' && --level == 0)
				break;
			j = subst_skip(raw, n, j);
		}
		if (j >= n) {
			subst_warn(st, "missing ')' in ${%.*s}", (int)(n > 60 ? 60 : n), raw);
			return;
		}
		is_func = true;
		args = subst_piece(st, raw + i + 1, j - i - 1, depth, &bargs);
		if (j + 1 < n) {
			if (raw[j + 1] != ':') {
				subst_warn(st, "unexpected text after ')' in ${%.*s}",
					   (int)(n > 60 ? 60 : n), raw);
				goto out;
			}
			spec_start = j + 2;
			has_spec = true;
		}
	} else if (i < n) {
		spec_start = i + 1;
		has_spec = true;
	}
	if (has_spec)
		spec = subst_piece(st, raw + spec_start, n - spec_start, depth, &bspec);
	name = subst_piece(st, raw, name_end, depth, &bname);
	if (!name || (is_func && !args) || st->oom)
		goto out_name;
	if (!*name) {
		subst_warn(st, "empty name in ${%.*s}", (int)(n > 60 ? 60 : n), raw);
		goto out_name;
	}

	vbuf = malloc(st->max_len + 1);
	if (!vbuf) {
		st->oom = true;
		goto out_name;
	}
	vbuf[0] = '\0';
	if (is_func) {
		int rc = OCTO_ENOTFOUND;

		if (ctx && ctx->call_func) {
			rc = ctx->call_func(ctx->data, name, args, vbuf, st->max_len + 1);
			vbuf[st->max_len] = '\0';
		}
		if (rc == OCTO_ENOTFOUND)
			subst_warn(st, "unknown function %.64s", name);
		else if (rc < 0)
			subst_warn(st, "function %.64s failed: %s", name, octo_strerror(rc));
		else
			value = vbuf;
	} else if (ctx && ctx->get_var) {
		value = ctx->get_var(ctx->data, name, vbuf, st->max_len + 1);
		if (value == vbuf)
			vbuf[st->max_len] = '\0';
	}
	if (value)
		subst_substring(st, name, value, spec, out);
	free(vbuf);
out_name:
	free(bname.s);
out:
	free(bargs.s);
	free(bspec.s);
}

/* Handles the inside of $[...]. */
static void subst_expr(struct subst_state *st, const char *raw, size_t n, int depth,
		       struct subst_buf *out)
{
	struct subst_buf b;
	const char *text = subst_piece(st, raw, n, depth, &b);
	size_t ressize;
	char *res;

	if (!text) {
		free(b.s);
		return;
	}
	/* Room for the result, or for an error phrase however small max_len is. */
	ressize = st->max_len + 1 < 256 ? 256 : st->max_len + 1;
	res = malloc(ressize);
	if (!res) {
		st->oom = true;
		free(b.s);
		return;
	}
	if (octo_expr_eval(text, res, ressize) == 0)
		subst_buf_add(out, res, strlen(res));
	else
		subst_warn(st, "bad expression: %.100s (in \"%.60s\")", res, text);
	free(res);
	free(b.s);
}

static void subst_run(struct subst_state *st, const char *in, size_t n, int depth,
		      struct subst_buf *out)
{
	size_t i = 0, lit = 0;

	while (i < n && !out->cut && !out->oom) {
		if (in[i] == '\\' && i + 1 < n && in[i + 1] == '$') {
			subst_buf_add(out, in + lit, i - lit);
			lit = i + 1; /* the '$' goes out as literal text */
			i += 2;
			continue;
		}
		if (in[i] != '$' || i + 1 >= n || (in[i + 1] != '{' && in[i + 1] != '[')) {
			i++;
			continue;
		}
		char open = in[i + 1], close = open == '{' ? '}' : ']';
		size_t j = subst_find_close(in, n, i + 2, open, close);

		subst_buf_add(out, in + lit, i - lit);
		if (j >= n) {
			/* Everything after an unclosed construct is kept as it is. */
			subst_warn(st, "unclosed '$%c'", open);
			lit = i;
			i = n;
			break;
		}
		if (depth >= SUBST_MAX_DEPTH) {
			if (!st->depth_warned)
				subst_warn(st, "nesting deeper than %d levels cut off",
					   SUBST_MAX_DEPTH);
			st->depth_warned = true;
		} else if (open == '{') {
			subst_var(st, in + i + 2, j - i - 2, depth + 1, out);
		} else {
			subst_expr(st, in + i + 2, j - i - 2, depth + 1, out);
		}
		i = j + 1;
		lit = i;
	}
	if (lit < i)
		subst_buf_add(out, in + lit, i - lit);
}

char *octo_subst(const char *in, const struct octo_subst_ctx *ctx, size_t max_len)
{
	struct subst_state st = { .ctx = ctx, .max_len = max_len ? max_len : SUBST_DEFAULT_MAX };
	struct subst_buf out;

	/* Keep max_len + 1 allocations from wrapping. */
	if (st.max_len > SIZE_MAX / 4)
		st.max_len = SIZE_MAX / 4;
	subst_buf_init(&out, st.max_len);
	if (in)
		subst_run(&st, in, strlen(in), 0, &out);
	if (out.cut)
		subst_warn(&st, "result longer than %zu bytes was cut", st.max_len);
	if (!subst_buf_str(&out) || st.oom) {
		free(out.s);
		return NULL;
	}
	return out.s;
}

/* ========================================================= expressions */

#define EXPR_MAX_DEPTH 64

enum expr_tok {
	T_END,
	T_WORD,
	T_STR,
	T_OR,
	T_AND,
	T_EQ,
	T_NE,
	T_LT,
	T_GT,
	T_LE,
	T_GE,
	T_PLUS,
	T_MINUS,
	T_MUL,
	T_DIV,
	T_MOD,
	T_NOT,
	T_LP,
	T_RP,
	T_QUEST,
	T_COLON
};

struct expr_token {
	enum expr_tok type;
	const char *text; /* T_WORD/T_STR: value (NUL-terminated, in the text buffer) */
	size_t len;
	size_t pos;    /* 0-based offset in the expression */
	size_t srclen; /* length in the expression */
};

/* A value: a number, or a string slice into the token buffer. */
struct expr_val {
	bool is_num;
	int64_t num;
	const char *s;
	size_t len;
};

struct expr_parser {
	const char *src;
	struct expr_token *tok;
	size_t cur;
	int depth;
	char *err; /* the caller's out buffer, written on the first error */
	size_t errsize;
	bool failed;
};

static bool expr_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool expr_is_op_char(char c)
{
	return strchr("|&=!<>+-*/%()?:\"", c) != NULL;
}

static void expr_fail(struct expr_parser *ps, const char *fmt, ...) OCTO_PRINTF(2, 3);

static void expr_fail(struct expr_parser *ps, const char *fmt, ...)
{
	va_list ap;

	if (ps->failed)
		return;
	ps->failed = true;
	if (!ps->errsize)
		return;
	va_start(ap, fmt);
	vsnprintf(ps->err, ps->errsize, fmt, ap);
	va_end(ap);
}

static void expr_unexpected(struct expr_parser *ps, const struct expr_token *t)
{
	if (t->type == T_END)
		expr_fail(ps, "unexpected end of expression");
	else
		expr_fail(ps, "unexpected '%.*s' at %zu", (int)(t->srclen > 20 ? 20 : t->srclen),
			  ps->src + t->pos, t->pos + 1);
}

/* Splits expr into tokens; strings get their quotes and escapes removed into textbuf. */
static bool expr_tokenize(struct expr_parser *ps, const char *expr, struct expr_token *tok,
			  char *textbuf)
{
	size_t i = 0, nt = 0;
	char *w = textbuf;

	for (;;) {
		struct expr_token *t = &tok[nt];

		while (expr_is_blank(expr[i]))
			i++;
		t->pos = i;
		t->text = NULL;
		t->len = 0;
		if (!expr[i]) {
			t->type = T_END;
			t->srclen = 0;
			return true;
		}
		char c = expr[i], d = expr[i + 1];
		size_t l = 1;

		switch (c) {
		case '|': t->type = T_OR; break;
		case '&': t->type = T_AND; break;
		case '=':
			t->type = T_EQ;
			l = d == '=' ? 2 : 1;
			break;
		case '!':
			t->type = d == '=' ? T_NE : T_NOT;
			l = d == '=' ? 2 : 1;
			break;
		case '<':
			t->type = d == '=' ? T_LE : T_LT;
			l = d == '=' ? 2 : 1;
			break;
		case '>':
			t->type = d == '=' ? T_GE : T_GT;
			l = d == '=' ? 2 : 1;
			break;
		case '+': t->type = T_PLUS; break;
		case '-': t->type = T_MINUS; break;
		case '*': t->type = T_MUL; break;
		case '/': t->type = T_DIV; break;
		case '%': t->type = T_MOD; break;
		case '(': t->type = T_LP; break;
		case ')': t->type = T_RP; break;
		case '?': t->type = T_QUEST; break;
		case ':': t->type = T_COLON; break;
		case '"':
			t->type = T_STR;
			t->text = w;
			for (l = 1; expr[i + l] && expr[i + l] != '"'; l++) {
				if (expr[i + l] == '\\' &&
				    (expr[i + l + 1] == '"' || expr[i + l + 1] == '\\'))
					l++;
				*w++ = expr[i + l];
			}
			if (!expr[i + l]) {
				expr_fail(ps, "unterminated string at %zu", i + 1);
				return false;
			}
			l++;
			t->len = (size_t)(w - t->text);
			*w++ = '\0';
			break;
		default:
			t->type = T_WORD;
			t->text = w;
			for (l = 0; expr[i + l] && !expr_is_blank(expr[i + l]) &&
				    !expr_is_op_char(expr[i + l]);
			     l++)
				*w++ = expr[i + l];
			t->len = l;
			*w++ = '\0';
			break;
		}
		t->srclen = l;
		i += l;
		nt++;
	}
}

/* Text of a value; numbers are printed into tmp (at least 24 bytes). */
static const char *expr_text(const struct expr_val *v, char *tmp, size_t *len)
{
	if (!v->is_num) {
		*len = v->len;
		return v->s;
	}
	*len = (size_t)snprintf(tmp, 24, "%" PRId64, v->num);
	return tmp;
}

/* True when s[0..len) is an integer: optional '-', then digits. */
static bool expr_looks_numeric(const char *s, size_t len)
{
	size_t i = 0;

	if (len && s[0] == '-')
		i = 1;
	if (i == len)
		return false;
	for (; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Converts a value to a 64-bit number; false (with an error unless skipping) if it is not one. */
static bool expr_to_num(struct expr_parser *ps, const struct expr_val *v, int64_t *out, bool skip)
{
	size_t i = 0;
	bool neg = false;
	uint64_t x = 0, limit;

	if (v->is_num) {
		*out = v->num;
		return true;
	}
	if (!expr_looks_numeric(v->s, v->len)) {
		if (!skip)
			expr_fail(ps, "'%.*s' is not a number", (int)(v->len > 30 ? 30 : v->len),
				  v->s);
		return false;
	}
	if (v->s[0] == '-') {
		neg = true;
		i = 1;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < v->len; i++) {
		unsigned dgt = (unsigned)(v->s[i] - '0');

		if (x > (limit - dgt) / 10) {
			if (!skip)
				expr_fail(ps, "integer overflow");
			return false;
		}
		x = x * 10 + dgt;
	}
	if (neg)
		*out = x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x;
	else
		*out = (int64_t)x;
	return true;
}

static bool expr_truth(const struct expr_val *v)
{
	char tmp[24];
	size_t len;
	const char *s;

	if (v->is_num)
		return v->num != 0;
	s = expr_text(v, tmp, &len);
	while (len && expr_is_blank(*s)) {
		s++;
		len--;
	}
	while (len && expr_is_blank(s[len - 1]))
		len--;
	return len && !(len == 1 && s[0] == '0');
}

/* Compares two integers written in decimal, of any length. */
static int expr_bignum_cmp(const char *a, size_t la, const char *b, size_t lb)
{
	bool na = la && a[0] == '-', nb = lb && b[0] == '-';
	int r;

	if (na) {
		a++;
		la--;
	}
	if (nb) {
		b++;
		lb--;
	}
	while (la > 1 && a[0] == '0') {
		a++;
		la--;
	}
	while (lb > 1 && b[0] == '0') {
		b++;
		lb--;
	}
	/* -0 is 0 */
	if (la == 1 && a[0] == '0')
		na = false;
	if (lb == 1 && b[0] == '0')
		nb = false;
	if (na != nb)
		return na ? -1 : 1;
	if (la != lb)
		r = la < lb ? -1 : 1;
	else
		r = memcmp(a, b, la);
	r = (r > 0) - (r < 0);
	return na ? -r : r;
}

static int expr_compare(const struct expr_val *a, const struct expr_val *b)
{
	char ta[24], tb[24];
	size_t la, lb;
	const char *sa = expr_text(a, ta, &la), *sb = expr_text(b, tb, &lb);
	int r;

	if (expr_looks_numeric(sa, la) && expr_looks_numeric(sb, lb))
		return expr_bignum_cmp(sa, la, sb, lb);
	r = memcmp(sa, sb, la < lb ? la : lb);
	if (r)
		return (r > 0) - (r < 0);
	return (la > lb) - (la < lb);
}

static struct expr_val expr_num(int64_t n)
{
	return (struct expr_val){ .is_num = true, .num = n };
}

static enum expr_tok expr_peek(struct expr_parser *ps)
{
	return ps->tok[ps->cur].type;
}

static struct expr_val expr_cond(struct expr_parser *ps, bool skip);

static bool expr_enter(struct expr_parser *ps)
{
	if (++ps->depth > EXPR_MAX_DEPTH) {
		expr_fail(ps, "expression too deeply nested (more than %d levels)", EXPR_MAX_DEPTH);
		return false;
	}
	return true;
}

static struct expr_val expr_primary(struct expr_parser *ps, bool skip)
{
	struct expr_token *t = &ps->tok[ps->cur];
	struct expr_val v = { 0 };

	if (t->type == T_WORD || t->type == T_STR) {
		ps->cur++;
		v.s = t->text;
		v.len = t->len;
		return v;
	}
	if (t->type == T_LP) {
		ps->cur++;
		v = expr_cond(ps, skip);
		if (ps->failed)
			return v;
		if (expr_peek(ps) != T_RP) {
			if (expr_peek(ps) == T_END)
				expr_fail(ps, "missing ')'");
			else
				expr_unexpected(ps, &ps->tok[ps->cur]);
			return v;
		}
		ps->cur++;
		return v;
	}
	expr_unexpected(ps, t);
	return v;
}

static struct expr_val expr_unary(struct expr_parser *ps, bool skip)
{
	enum expr_tok op = expr_peek(ps);
	struct expr_val v;
	int64_t n;

	if (op != T_NOT && op != T_MINUS)
		return expr_primary(ps, skip);
	ps->cur++;
	if (!expr_enter(ps))
		return expr_num(0);
	v = expr_unary(ps, skip);
	ps->depth--;
	if (ps->failed)
		return v;
	if (op == T_NOT)
		return expr_num(!expr_truth(&v));
	if (!expr_to_num(ps, &v, &n, skip))
		return expr_num(0);
	if (n == INT64_MIN) {
		if (!skip)
			expr_fail(ps, "integer overflow");
		return expr_num(0);
	}
	return expr_num(-n);
}

/* Computes a op b for * / % + -; false on an error. */
static bool expr_arith(struct expr_parser *ps, enum expr_tok op, int64_t a, int64_t b, int64_t *r,
		       bool skip)
{
	bool ovf = false;

	switch (op) {
	case T_PLUS: ovf = __builtin_add_overflow(a, b, r); break;
	case T_MINUS: ovf = __builtin_sub_overflow(a, b, r); break;
	case T_MUL: ovf = __builtin_mul_overflow(a, b, r); break;
	case T_DIV:
	case T_MOD:
		if (b == 0) {
			if (!skip)
				expr_fail(ps, "division by zero");
			return false;
		}
		if (a == INT64_MIN && b == -1) {
			if (op == T_MOD) {
				*r = 0;
				return true;
			}
			ovf = true;
			break;
		}
		*r = op == T_DIV ? a / b : a % b;
		break;
	default: return false;
	}
	if (ovf) {
		if (!skip)
			expr_fail(ps, "integer overflow");
		return false;
	}
	return true;
}

static struct expr_val expr_binary_num(struct expr_parser *ps, enum expr_tok op,
				       const struct expr_val *a, const struct expr_val *b,
				       bool skip)
{
	int64_t x, y, r;

	if (!expr_to_num(ps, a, &x, skip) || !expr_to_num(ps, b, &y, skip) ||
	    !expr_arith(ps, op, x, y, &r, skip))
		return expr_num(0);
	return expr_num(r);
}

static struct expr_val expr_mul(struct expr_parser *ps, bool skip)
{
	struct expr_val a = expr_unary(ps, skip), b;

	while (!ps->failed) {
		enum expr_tok op = expr_peek(ps);

		if (op != T_MUL && op != T_DIV && op != T_MOD)
			break;
		ps->cur++;
		b = expr_unary(ps, skip);
		if (ps->failed)
			break;
		a = expr_binary_num(ps, op, &a, &b, skip);
	}
	return a;
}

static struct expr_val expr_add(struct expr_parser *ps, bool skip)
{
	struct expr_val a = expr_mul(ps, skip), b;

	while (!ps->failed) {
		enum expr_tok op = expr_peek(ps);

		if (op != T_PLUS && op != T_MINUS)
			break;
		ps->cur++;
		b = expr_mul(ps, skip);
		if (ps->failed)
			break;
		a = expr_binary_num(ps, op, &a, &b, skip);
	}
	return a;
}

static struct expr_val expr_cmp(struct expr_parser *ps, bool skip)
{
	struct expr_val a = expr_add(ps, skip), b;

	while (!ps->failed) {
		enum expr_tok op = expr_peek(ps);
		int c;

		if (op != T_EQ && op != T_NE && op != T_LT && op != T_GT && op != T_LE &&
		    op != T_GE)
			break;
		ps->cur++;
		b = expr_add(ps, skip);
		if (ps->failed)
			break;
		c = expr_compare(&a, &b);
		switch (op) {
		case T_EQ: a = expr_num(c == 0); break;
		case T_NE: a = expr_num(c != 0); break;
		case T_LT: a = expr_num(c < 0); break;
		case T_GT: a = expr_num(c > 0); break;
		case T_LE: a = expr_num(c <= 0); break;
		default: a = expr_num(c >= 0); break;
		}
	}
	return a;
}

static struct expr_val expr_and(struct expr_parser *ps, bool skip)
{
	struct expr_val a = expr_cmp(ps, skip), b;

	while (!ps->failed && expr_peek(ps) == T_AND) {
		bool ta = expr_truth(&a);

		ps->cur++;
		/* When the left side is false the right one is parsed but not evaluated. */
		b = expr_cmp(ps, skip || !ta);
		if (ps->failed)
			break;
		a = expr_num(ta && expr_truth(&b));
	}
	return a;
}

static struct expr_val expr_or(struct expr_parser *ps, bool skip)
{
	struct expr_val a = expr_and(ps, skip), b;

	while (!ps->failed && expr_peek(ps) == T_OR) {
		bool ta = expr_truth(&a);

		ps->cur++;
		b = expr_and(ps, skip || ta);
		if (ps->failed)
			break;
		a = expr_num(ta || expr_truth(&b));
	}
	return a;
}

static struct expr_val expr_cond(struct expr_parser *ps, bool skip)
{
	struct expr_val c, a, b;
	bool t;

	if (!expr_enter(ps))
		return expr_num(0);
	c = expr_or(ps, skip);
	if (ps->failed || expr_peek(ps) != T_QUEST)
		goto out;
	t = expr_truth(&c);
	ps->cur++;
	a = expr_cond(ps, skip || !t);
	if (ps->failed)
		goto out;
	if (expr_peek(ps) != T_COLON) {
		if (expr_peek(ps) == T_END)
			expr_fail(ps, "missing ':' after '?'");
		else
			expr_unexpected(ps, &ps->tok[ps->cur]);
		goto out;
	}
	ps->cur++;
	b = expr_cond(ps, skip || t);
	c = t ? a : b;
out:
	ps->depth--;
	return c;
}

int octo_expr_eval(const char *expr, char *out, size_t size)
{
	struct expr_parser ps = { .err = out, .errsize = size };
	struct expr_token *tok;
	struct expr_val v;
	char *textbuf, tmp[24];
	const char *s;
	size_t n, len;
	int rc = OCTO_EINVAL;

	if (!expr)
		expr = "";
	n = strlen(expr);
	ps.src = expr;
	/* Every token takes at least one character, plus the end token. */
	tok = calloc(n + 1, sizeof(*tok));
	textbuf = malloc(2 * n + 1);
	if (!tok || !textbuf) {
		expr_fail(&ps, "out of memory");
		rc = OCTO_ENOMEM;
		goto out;
	}
	ps.tok = tok;
	if (!expr_tokenize(&ps, expr, tok, textbuf))
		goto out;
	if (tok[0].type == T_END) {
		expr_fail(&ps, "empty expression");
		goto out;
	}
	v = expr_cond(&ps, false);
	if (ps.failed)
		goto out;
	if (expr_peek(&ps) != T_END) {
		expr_unexpected(&ps, &tok[ps.cur]);
		goto out;
	}
	s = expr_text(&v, tmp, &len);
	if (size) {
		if (len > size - 1)
			len = size - 1;
		memcpy(out, s, len);
		out[len] = '\0';
	}
	rc = 0;
out:
	free(tok);
	free(textbuf);
	return rc;
}

bool octo_expr_is_true(const char *value)
{
	struct expr_val v = { 0 };

	if (!value)
		return false;
	v.s = value;
	v.len = strlen(value);
	return expr_truth(&v);
}

/* ================================================== argument splitting */

int octo_args_split(char *args, char **argv, int max)
{
	char *r, *w, *start, *keep;
	int count = 0, level = 0;
	bool quoted = false, more;

	if (!args)
		return 0;
	for (r = args; expr_is_blank(*r); r++)
		;
	if (!*r)
		return 0;
	r = w = args;
	for (;;) {
		/* One argument: skip leading blanks, then copy until a top-level comma. */
		while (expr_is_blank(*r))
			r++;
		start = keep = w;
		while (*r && (quoted || level > 0 || *r != ',')) {
			char c = *r++;

			if (c == '\\' &&
			    (*r == ',' || *r == '"' || *r == '\\' || *r == '(' || *r == ')')) {
				*w++ = *r++;
				keep = w;
			} else if (c == '"') {
				quoted = !quoted;
				keep = w;
			} else {
				if (!quoted && c == '(')
					level++;
				else if (!quoted && c == ')' && level > 0)
					level--;
				*w++ = c;
				if (quoted || !expr_is_blank(c))
					keep = w;
			}
		}
		/* keep <= w <= r: the terminator may only overwrite the comma itself. */
		more = *r == ',';
		*keep = '\0';
		if (count < max && argv)
			argv[count] = start;
		if (count < INT32_MAX)
			count++;
		if (!more)
			break;
		r++;
		w = keep + 1;
	}
	return count;
}
