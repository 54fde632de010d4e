/*
 * cli.c - CLI commands: registration, the line tokenizer, command lookup and
 * execution, the structured output object with its text and JSON
 * renderings, completion, and the built-in commands "help" and
 * "core set verbose".
 *
 * DESIGN
 * Commands live in the registry (kind OCTO_REG_CLI) under their fixed words,
 * so they vanish with their module. A typed line runs the registered command
 * whose fixed words are the longest prefix of the typed words (compared
 * case-insensitively); the registry listing is only read to find that name,
 * and the command is then taken with octo_registry_get(), which pins its
 * module while the handler runs.
 *
 * An output object collects segments in the order the handler made them:
 * free text, error lines, the key/value block (at the place of its first
 * pair) and the table (at the place of its columns). Text rendering keeps
 * that order; JSON puts each kind under its own key. Everything rendered as
 * text is cleaned for a terminal (no control characters, valid UTF-8).
 *
 * Thread context: any thread; one output object is used by one thread.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/cli.h"
#include "octo/config.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/registry.h"
#include "cli_proto.h"

#define CLI_MAX_COMPLETIONS 4096
#define CLI_MAX_CANDIDATE 1024
#define CLI_MAX_COLUMNS 256
#define CLI_SHOWN_MAX 200   /* bytes of a typed line quoted in a message */
#define CLI_SUGGEST_MAX 128 /* longer typed lines get no "did you mean" */

static const char cli_replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* ---------------------------------------------------------------- memory */

static void *cli_xrealloc(void *p, size_t size)
{
	void *n = realloc(p, size ? size : 1);

	if (!n) {
		/* As octo_strdup: nothing sensible can go on without memory. */
		fputs("octo: out of memory\n", stderr);
		abort();
	}
	return n;
}

/* Grows an array so that it holds at least `need` elements. */
static void *cli_grow(void *arr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 8;

	if (need <= *cap)
		return arr;
	while (n < need)
		n *= 2;
	*cap = n;
	return cli_xrealloc(arr, n * elem);
}

/* ---------------------------------------------------------------- strings */

void octo_cli_str_add(struct octo_cli_str *str, const void *data, size_t len)
{
	if (str->len + len + 1 > str->cap) {
		size_t cap = str->cap ? str->cap : 64;

		while (cap < str->len + len + 1)
			cap *= 2;
		str->s = cli_xrealloc(str->s, cap);
		str->cap = cap;
	}
	if (len)
		memcpy(str->s + str->len, data, len);
	str->len += len;
	str->s[str->len] = '\0';
}

void octo_cli_str_adds(struct octo_cli_str *str, const char *s)
{
	octo_cli_str_add(str, s, strlen(s));
}

static void cli_str_vaddf(struct octo_cli_str *str, const char *fmt, va_list ap)
{
	va_list copy;
	char small[256];
	int n;

	va_copy(copy, ap);
	n = vsnprintf(small, sizeof(small), fmt, copy);
	va_end(copy);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		octo_cli_str_add(str, small, (size_t)n);
		return;
	}
	octo_cli_str_add(str, "", 0);
	str->s = cli_grow(str->s, &str->cap, str->len + (size_t)n + 1, 1);
	vsnprintf(str->s + str->len, (size_t)n + 1, fmt, ap);
	str->len += (size_t)n;
}

void octo_cli_str_addf(struct octo_cli_str *str, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_str_vaddf(str, fmt, ap);
	va_end(ap);
}

void octo_cli_str_free(struct octo_cli_str *str)
{
	free(str->s);
	str->s = NULL;
	str->len = str->cap = 0;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t cli_utf8_seq(const unsigned char *s, size_t n, unsigned *cp_out)
{
	unsigned c = s[0], cp, min;
	size_t need;

	if (c < 0x80) {
		*cp_out = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_out = cp;
	return need;
}

void octo_cli_str_add_clean(struct octo_cli_str *str, const char *s, size_t len, bool keep_newlines)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	octo_cli_str_add(str, "", 0);
	while (i < len) {
		size_t run = i, seq;
		unsigned cp;

		/* Copy plain printable ASCII in runs. */
		while (run < len && u[run] >= 0x20 && u[run] < 0x7f)
			run++;
		if (run > i) {
			octo_cli_str_add(str, s + i, run - i);
			i = run;
			continue;
		}
		seq = cli_utf8_seq(u + i, len - i, &cp);
		if (seq == 0) {
			octo_cli_str_adds(str, cli_replacement);
			i++;
		} else if (cp == '\n' || cp == '\t') {
			octo_cli_str_add(str, keep_newlines ? s + i : " ", 1);
			i++;
		} else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
			/* C0 and C1 controls could drive the terminal. */
			octo_cli_str_add(str, "?", 1);
			i += seq;
		} else {
			octo_cli_str_add(str, s + i, seq);
			i += seq;
		}
	}
}

void octo_cli_json_string(struct octo_cli_str *str, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	octo_cli_str_add(str, "\"", 1);
	while (i < len) {
		unsigned c = u[i], cp;
		size_t run = i, seq;

		while (run < len && u[run] >= 0x20 && u[run] < 0x7f && u[run] != '"' &&
		       u[run] != '\\')
			run++;
		if (run > i) {
			octo_cli_str_add(str, s + i, run - i);
			i = run;
			continue;
		}
		if (c == '"' || c == '\\') {
			octo_cli_str_add(str, c == '"' ? "\\\"" : "\\\\", 2);
			i++;
		} else if (c == '\n') {
			octo_cli_str_add(str, "\\n", 2);
			i++;
		} else if (c == '\t') {
			octo_cli_str_add(str, "\\t", 2);
			i++;
		} else if (c == '\r') {
			octo_cli_str_add(str, "\\r", 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			octo_cli_str_addf(str, "\\u%04x", c);
			i++;
		} else if ((seq = cli_utf8_seq(u + i, len - i, &cp)) == 0) {
			octo_cli_str_adds(str, cli_replacement);
			i++;
		} else {
			octo_cli_str_add(str, s + i, seq);
			i += seq;
		}
	}
	octo_cli_str_add(str, "\"", 1);
}

/* Display width of a cleaned (valid UTF-8) string: its code points. */
static size_t cli_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

static void cli_pad(struct octo_cli_str *str, size_t n)
{
	static const char spaces[] = "                                ";

	while (n > 0) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;

		octo_cli_str_add(str, spaces, k);
		n -= k;
	}
}

/* ---------------------------------------------------------------- tokenizer */

static bool cli_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int octo_cli_tokenize(const char *line, unsigned flags, int *argc_out, char ***argv_out,
		      bool *open_out, const char **err)
{
	size_t len, i = 0;
	char **argv;
	char *p;
	int argc = 0;
	bool open = false;

	*argc_out = 0;
	*argv_out = NULL;
	if (open_out)
		*open_out = false;
	if (!line)
		line = "";
	len = strnlen(line, OCTO_CLI_LINE_MAX + 1);
	if (len > OCTO_CLI_LINE_MAX) {
		*err = "line too long (over 65536 bytes)";
		return OCTO_EINVAL;
	}
	/* Pointers, then the words: each takes at most its input bytes plus a NUL. */
	argv = cli_xrealloc(NULL, (OCTO_CLI_WORDS_MAX + 1) * sizeof(char *) + len +
					  OCTO_CLI_WORDS_MAX + 1);
	p = (char *)(argv + OCTO_CLI_WORDS_MAX + 1);
	for (;;) {
		bool quoted = false;

		while (cli_blank(line[i]))
			i++;
		if (!line[i])
			break;
		if (argc == OCTO_CLI_WORDS_MAX) {
			free(argv);
			*err = "too many words (over 256)";
			return OCTO_EINVAL;
		}
		argv[argc++] = p;
		while (line[i] && (quoted || !cli_blank(line[i]))) {
			if (line[i] == '\\') {
				if (!line[i + 1]) {
					if (!(flags & OCTO_CLI_TOK_PARTIAL)) {
						free(argv);
						*err = "backslash at the end of the line";
						return OCTO_EINVAL;
					}
					i++;
					break;
				}
				*p++ = line[i + 1];
				i += 2;
			} else if (line[i] == '"') {
				quoted = !quoted;
				i++;
			} else {
				*p++ = line[i++];
			}
		}
		if (quoted && !(flags & OCTO_CLI_TOK_PARTIAL)) {
			free(argv);
			*err = "unterminated quote";
			return OCTO_EINVAL;
		}
		*p++ = '\0';
		open = !line[i];
	}
	argv[argc] = NULL;
	*argc_out = argc;
	*argv_out = argv;
	if (open_out)
		*open_out = open;
	return 0;
}

/* ---------------------------------------------------------------- words */

/* Whether registered words are typeable: single spaces between printable
 * words, no quote or backslash, not too many. */
static bool cli_words_valid(const char *w)
{
	bool after_space = true;
	int n = 0;

	if (!w || !*w)
		return false;
	for (const unsigned char *p = (const unsigned char *)w; *p; p++) {
		if (*p == ' ') {
			if (after_space)
				return false;
			after_space = true;
			continue;
		}
		if (*p < 0x21 || *p == 0x7f || *p == '"' || *p == '\\')
			return false;
		if (after_space)
			n++;
		after_space = false;
	}
	return !after_space && n <= OCTO_CLI_WORDS_MAX;
}

/* Word number k of registered words, with its length; NULL when absent. */
static const char *cli_word_at(const char *words, size_t k, size_t *len)
{
	const char *p = words;

	for (;;) {
		const char *sp = strchr(p, ' ');

		if (k == 0) {
			*len = sp ? (size_t)(sp - p) : strlen(p);
			return p;
		}
		if (!sp)
			return NULL;
		p = sp + 1;
		k--;
	}
}

static size_t cli_word_count(const char *words)
{
	size_t n = 1;

	for (; *words; words++)
		if (*words == ' ')
			n++;
	return n;
}

static bool cli_word_eq(const char *typed, const char *word, size_t len)
{
	return strlen(typed) == len && strncasecmp(typed, word, len) == 0;
}

/* The number of fixed words of `words` when every one of them equals the
 * typed word at its place; 0 otherwise. */
static size_t cli_match_fixed(const char *words, int argc, char **argv)
{
	size_t n = cli_word_count(words), len = 0;

	if (n > (size_t)argc)
		return 0;
	for (size_t k = 0; k < n; k++) {
		const char *w = cli_word_at(words, k, &len);

		if (!cli_word_eq(argv[k], w, len))
			return 0;
	}
	return n;
}

/* Whether the first `nargs` fixed words of `words` equal the typed ones, and
 * (when last_partial) the last typed word only starts the fixed one. */
static bool cli_match_start(const char *words, int nargs, char **argv, bool last_partial)
{
	size_t len = 0;

	for (int k = 0; k < nargs; k++) {
		const char *w = cli_word_at(words, (size_t)k, &len);

		if (!w)
			return false;
		if (last_partial && k == nargs - 1) {
			size_t tl = strlen(argv[k]);

			if (tl > len || strncasecmp(argv[k], w, tl) != 0)
				return false;
		} else if (!cli_word_eq(argv[k], w, len)) {
			return false;
		}
	}
	return true;
}

/* Finds the command for typed words: the longest match of fixed words.
 * Returns a copy of its name (free it) and its number of fixed words. */
static char *cli_lookup(int argc, char **argv, size_t *nfixed)
{
	struct octo_reg_item *items = NULL;
	size_t n = octo_registry_list(OCTO_REG_CLI, &items), best = 0;
	const char *best_name = NULL;
	char *name;

	for (size_t i = 0; i < n; i++) {
		size_t m = cli_match_fixed(items[i].name, argc, argv);

		if (m > best) {
			best = m;
			best_name = items[i].name;
		}
	}
	name = best_name ? octo_strdup(best_name) : NULL;
	octo_registry_list_free(items, n);
	*nfixed = best;
	return name;
}

/* Typed words joined by spaces, cut for quoting in a message. */
static void cli_join(struct octo_cli_str *str, int argc, char **argv, size_t max)
{
	octo_cli_str_add(str, "", 0);
	for (int i = 0; i < argc; i++) {
		if (i)
			octo_cli_str_add(str, " ", 1);
		octo_cli_str_adds(str, argv[i]);
		if (str->len > max) {
			str->len = max;
			str->s[max] = '\0';
			octo_cli_str_adds(str, "...");
			return;
		}
	}
}

static void cli_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Edit distance where swapping two neighbours ("hlep") counts as one edit. */
static unsigned cli_distance(const char *a, const char *b)
{
	unsigned d = octo_edit_distance(a, b);
	size_t i = 0;

	if (d != 2 || strlen(a) != strlen(b))
		return d;
	while (a[i] == b[i])
		i++;
	if (a[i + 1] && a[i] == b[i + 1] && a[i + 1] == b[i] && strcmp(a + i + 2, b + i + 2) == 0)
		return 1;
	return d;
}

/* The registered command closest to the typed words, or NULL (a copy). The
 * typed words are compared with as many words of each command. */
static char *cli_suggest(int argc, char **argv)
{
	struct octo_reg_item *items = NULL;
	size_t n = octo_registry_list(OCTO_REG_CLI, &items);
	struct octo_cli_str typed = { 0 };
	unsigned best = ~0u;
	size_t best_take = 0;
	char *found = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *name = items[i].name, *end;
		size_t nw = cli_word_count(name), take = nw < (size_t)argc ? nw : (size_t)argc, len = 0;
		char *lname;
		unsigned d, limit;

		if (take == 0)
			continue;
		typed.len = 0;
		cli_join(&typed, (int)take, argv, CLI_SUGGEST_MAX);
		if (typed.len > CLI_SUGGEST_MAX)
			continue;
		cli_lower(typed.s);
		end = cli_word_at(name, take - 1, &len) + len;
		lname = octo_strdup(name);
		lname[end - name] = '\0';
		cli_lower(lname);
		d = cli_distance(typed.s, lname);
		limit = strlen(lname) < 6 ? 1 : (unsigned)(strlen(lname) / 3);
		free(lname);
		/* The closest wins; on a tie, the one that explains more typed words. */
		if (d <= limit && (d < best || (d == best && take > best_take))) {
			best = d;
			best_take = take;
			free(found);
			found = octo_strdup(name);
		}
	}
	octo_cli_str_free(&typed);
	octo_registry_list_free(items, n);
	return found;
}

static void cli_no_such(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_cli_str shown = { 0 };
	char *suggest = cli_suggest(argc, argv);

	cli_join(&shown, argc, argv, CLI_SHOWN_MAX);
	if (suggest)
		octo_cli_error(out, "No such command '%s' (did you mean '%s'?)", shown.s, suggest);
	else
		octo_cli_error(out, "No such command '%s' (type 'help' for a list)", shown.s);
	free(suggest);
	octo_cli_str_free(&shown);
}

/* ---------------------------------------------------------------- registration */

int octo_cli_register_all(struct octo_module *owner, const struct octo_cli_cmd *cmds)
{
	size_t i;
	int rc = 0;

	if (!cmds)
		return OCTO_EINVAL;
	for (i = 0; cmds[i].words; i++) {
		if (!cli_words_valid(cmds[i].words) || !cmds[i].run) {
			octo_log(OCTO_ERROR, "cli: cannot register command '%s': %s", cmds[i].words,
				 cmds[i].run ? "invalid words" : "no handler");
			rc = OCTO_EINVAL;
			break;
		}
		rc = octo_registry_add(owner, OCTO_REG_CLI, cmds[i].words, &cmds[i]);
		if (rc)
			break;
	}
	if (rc) {
		while (i-- > 0)
			octo_registry_remove(OCTO_REG_CLI, &cmds[i]);
	}
	return rc;
}

void octo_cli_unregister_all(const struct octo_cli_cmd *cmds)
{
	if (!cmds)
		return;
	for (size_t i = 0; cmds[i].words; i++)
		octo_registry_remove(OCTO_REG_CLI, &cmds[i]);
}

/* ---------------------------------------------------------------- output */

enum cli_seg_kind { CLI_SEG_TEXT, CLI_SEG_ERROR, CLI_SEG_KV, CLI_SEG_TABLE };

struct cli_seg {
	enum cli_seg_kind kind;
	struct octo_cli_str text; /* TEXT and ERROR */
};

struct cli_kv {
	char *key;
	char *value;
};

struct octo_cli_out {
	bool json;
	struct cli_seg *segs;
	size_t nsegs, segcap;
	struct cli_kv *kv;
	size_t nkv, kvcap;
	char **cols;
	size_t ncols;
	char **cells; /* nrows * width, row after row */
	size_t nrows, cellcap;
	size_t width; /* values per row; 0 until columns or a row */
	bool table;
	int verbose;
	void (*verbose_hook)(void *data, int level);
	void *verbose_data;
	struct octo_cli_str rendered;
};

struct octo_cli_out *octo_cli_out_alloc(bool json)
{
	struct octo_cli_out *out = cli_xrealloc(NULL, sizeof(*out));

	memset(out, 0, sizeof(*out));
	out->json = json;
	out->verbose = -1;
	return out;
}

void octo_cli_out_free(struct octo_cli_out *out)
{
	if (!out)
		return;
	for (size_t i = 0; i < out->nsegs; i++)
		octo_cli_str_free(&out->segs[i].text);
	free(out->segs);
	for (size_t i = 0; i < out->nkv; i++) {
		free(out->kv[i].key);
		free(out->kv[i].value);
	}
	free(out->kv);
	for (size_t i = 0; i < out->ncols; i++)
		free(out->cols[i]);
	free(out->cols);
	for (size_t i = 0; i < out->nrows * out->width; i++)
		free(out->cells[i]);
	free(out->cells);
	octo_cli_str_free(&out->rendered);
	free(out);
}

static struct cli_seg *cli_seg_add(struct octo_cli_out *out, enum cli_seg_kind kind)
{
	struct cli_seg *seg;

	out->segs = cli_grow(out->segs, &out->segcap, out->nsegs + 1, sizeof(*out->segs));
	seg = &out->segs[out->nsegs++];
	memset(seg, 0, sizeof(*seg));
	seg->kind = kind;
	return seg;
}

void octo_cli_printf(struct octo_cli_out *out, const char *fmt, ...)
{
	struct cli_seg *seg;
	va_list ap;

	if (!out || !fmt)
		return;
	if (out->nsegs && out->segs[out->nsegs - 1].kind == CLI_SEG_TEXT)
		seg = &out->segs[out->nsegs - 1];
	else
		seg = cli_seg_add(out, CLI_SEG_TEXT);
	va_start(ap, fmt);
	cli_str_vaddf(&seg->text, fmt, ap);
	va_end(ap);
	/* Each call is one or more whole lines. */
	if (seg->text.len && seg->text.s[seg->text.len - 1] != '\n')
		octo_cli_str_add(&seg->text, "\n", 1);
}

void octo_cli_error(struct octo_cli_out *out, const char *fmt, ...)
{
	struct cli_seg *seg;
	va_list ap;

	if (!out || !fmt)
		return;
	seg = cli_seg_add(out, CLI_SEG_ERROR);
	va_start(ap, fmt);
	cli_str_vaddf(&seg->text, fmt, ap);
	va_end(ap);
	octo_cli_str_add(&seg->text, "", 0);
	while (seg->text.len && seg->text.s[seg->text.len - 1] == '\n')
		seg->text.s[--seg->text.len] = '\0';
}

void octo_cli_kv(struct octo_cli_out *out, const char *key, const char *fmt, ...)
{
	struct octo_cli_str value = { 0 };
	va_list ap;

	if (!out || !key || !fmt)
		return;
	va_start(ap, fmt);
	cli_str_vaddf(&value, fmt, ap);
	va_end(ap);
	octo_cli_str_add(&value, "", 0);
	/* A key given twice keeps its place and takes the new value. */
	for (size_t i = 0; i < out->nkv; i++) {
		if (strcmp(out->kv[i].key, key) == 0) {
			free(out->kv[i].value);
			out->kv[i].value = value.s;
			return;
		}
	}
	if (out->nkv == 0)
		cli_seg_add(out, CLI_SEG_KV);
	out->kv = cli_grow(out->kv, &out->kvcap, out->nkv + 1, sizeof(*out->kv));
	out->kv[out->nkv].key = octo_strdup(key);
	out->kv[out->nkv].value = value.s;
	out->nkv++;
}

static void cli_table_start(struct octo_cli_out *out)
{
	if (!out->table) {
		out->table = true;
		cli_seg_add(out, CLI_SEG_TABLE);
	}
}

void octo_cli_columnsv(struct octo_cli_out *out, const char *const *cols, size_t n)
{
	if (!out || (n && !cols) || out->nrows || out->ncols)
		return; /* the columns are set once, before the rows */
	if (n > CLI_MAX_COLUMNS)
		n = CLI_MAX_COLUMNS;
	cli_table_start(out);
	out->cols = cli_xrealloc(NULL, (n ? n : 1) * sizeof(char *));
	for (size_t i = 0; i < n; i++)
		out->cols[i] = octo_strdup(cols[i] ? cols[i] : "");
	out->ncols = n;
	out->width = n;
}

void octo_cli_columns(struct octo_cli_out *out, const char *first, ...)
{
	const char *cols[CLI_MAX_COLUMNS];
	size_t n = 0;
	va_list ap;

	va_start(ap, first);
	for (const char *c = first; c && n < CLI_MAX_COLUMNS; c = va_arg(ap, const char *))
		cols[n++] = c;
	va_end(ap);
	octo_cli_columnsv(out, cols, n);
}

void octo_cli_rowv(struct octo_cli_out *out, const char *const *vals, size_t n)
{
	if (!out || (n && !vals))
		return;
	if (out->width == 0) {
		/* Rows without columns: the first row sets the width. */
		if (n == 0)
			return;
		out->width = n < CLI_MAX_COLUMNS ? n : CLI_MAX_COLUMNS;
	}
	cli_table_start(out);
	out->cells =
		cli_grow(out->cells, &out->cellcap, (out->nrows + 1) * out->width, sizeof(char *));
	for (size_t i = 0; i < out->width; i++) {
		const char *v = i < n ? vals[i] : NULL;

		out->cells[out->nrows * out->width + i] = octo_strdup(v ? v : "");
	}
	out->nrows++;
}

void octo_cli_row(struct octo_cli_out *out, const char *first, ...)
{
	const char *vals[CLI_MAX_COLUMNS];
	size_t n = 0;
	va_list ap;

	if (!out)
		return;
	va_start(ap, first);
	if (out->width) {
		/* Exactly `width` values; NULL ones show as empty. */
		vals[n++] = first;
		while (n < out->width)
			vals[n++] = va_arg(ap, const char *);
	} else {
		for (const char *v = first; v && n < CLI_MAX_COLUMNS; v = va_arg(ap, const char *))
			vals[n++] = v;
	}
	va_end(ap);
	octo_cli_rowv(out, vals, n);
}

bool octo_cli_out_json(const struct octo_cli_out *out)
{
	return out && out->json;
}

void octo_cli_out_set_verbose(struct octo_cli_out *out, int level)
{
	if (!out)
		return;
	out->verbose = level;
	if (out->verbose_hook)
		out->verbose_hook(out->verbose_data, level);
}

void octo_cli_out_set_verbose_hook(struct octo_cli_out *out, void (*hook)(void *data, int level),
				   void *data)
{
	out->verbose_hook = hook;
	out->verbose_data = data;
}

int octo_cli_out_verbose(const struct octo_cli_out *out)
{
	return out->verbose;
}

const char *octo_cli_status_name(int status)
{
	switch (status) {
	case OCTO_CLI_OK: return "ok";
	case OCTO_CLI_USAGE: return "usage";
	case OCTO_CLI_UNKNOWN: return "unknown";
	default: return "fail";
	}
}

static bool cli_has_errors(const struct octo_cli_out *out)
{
	for (size_t i = 0; i < out->nsegs; i++)
		if (out->segs[i].kind == CLI_SEG_ERROR)
			return true;
	return false;
}

/* ---------------------------------------------------------------- rendering */

static void cli_render_kv(struct octo_cli_out *out, struct octo_cli_str *r)
{
	struct octo_cli_str *keys = cli_xrealloc(NULL, out->nkv * sizeof(*keys));
	size_t wmax = 0;

	for (size_t i = 0; i < out->nkv; i++) {
		memset(&keys[i], 0, sizeof(keys[i]));
		octo_cli_str_add_clean(&keys[i], out->kv[i].key, strlen(out->kv[i].key), false);
		octo_cli_str_add(&keys[i], ":", 1);
		if (cli_width(keys[i].s) > wmax)
			wmax = cli_width(keys[i].s);
	}
	for (size_t i = 0; i < out->nkv; i++) {
		octo_cli_str_add(r, keys[i].s, keys[i].len);
		if (out->kv[i].value[0]) {
			cli_pad(r, wmax - cli_width(keys[i].s) + 1);
			octo_cli_str_add_clean(r, out->kv[i].value, strlen(out->kv[i].value),
					       false);
		}
		octo_cli_str_add(r, "\n", 1);
		octo_cli_str_free(&keys[i]);
	}
	free(keys);
}

static void cli_render_line(struct octo_cli_str *r, struct octo_cli_str *cells, size_t n,
			    const size_t *widths)
{
	for (size_t i = 0; i < n; i++) {
		octo_cli_str_add(r, cells[i].s, cells[i].len);
		if (i + 1 < n)
			cli_pad(r, widths[i] - cli_width(cells[i].s) + 2);
	}
	while (r->len && r->s[r->len - 1] == ' ')
		r->s[--r->len] = '\0';
	octo_cli_str_add(r, "\n", 1);
}

static void cli_render_table(struct octo_cli_out *out, struct octo_cli_str *r)
{
	size_t w = out->width, ncells = out->nrows * w;
	struct octo_cli_str *cells, *head;
	size_t *widths;

	if (w == 0)
		return;
	cells = cli_xrealloc(NULL, (ncells + w) * sizeof(*cells));
	head = cells + ncells;
	widths = cli_xrealloc(NULL, w * sizeof(*widths));
	memset(cells, 0, (ncells + w) * sizeof(*cells));
	for (size_t c = 0; c < w; c++) {
		widths[c] = 0;
		if (c < out->ncols) {
			octo_cli_str_add_clean(&head[c], out->cols[c], strlen(out->cols[c]), false);
			widths[c] = cli_width(head[c].s);
		} else {
			octo_cli_str_add(&head[c], "", 0);
		}
	}
	for (size_t i = 0; i < ncells; i++) {
		size_t cw;

		octo_cli_str_add_clean(&cells[i], out->cells[i], strlen(out->cells[i]), false);
		cw = cli_width(cells[i].s);
		if (cw > widths[i % w])
			widths[i % w] = cw;
	}
	if (out->ncols)
		cli_render_line(r, head, w, widths);
	for (size_t row = 0; row < out->nrows; row++)
		cli_render_line(r, cells + row * w, w, widths);
	for (size_t i = 0; i < ncells + w; i++)
		octo_cli_str_free(&cells[i]);
	free(cells);
	free(widths);
}

static void cli_render_text(struct octo_cli_out *out, struct octo_cli_str *r)
{
	for (size_t i = 0; i < out->nsegs; i++) {
		struct cli_seg *seg = &out->segs[i];

		switch (seg->kind) {
		case CLI_SEG_TEXT:
		case CLI_SEG_ERROR:
			if (seg->kind == CLI_SEG_TEXT && !seg->text.len)
				break;
			octo_cli_str_add_clean(r, seg->text.s ? seg->text.s : "", seg->text.len,
					       true);
			if (seg->kind == CLI_SEG_ERROR || !seg->text.len ||
			    seg->text.s[seg->text.len - 1] != '\n')
				octo_cli_str_add(r, "\n", 1);
			break;
		case CLI_SEG_KV: cli_render_kv(out, r); break;
		case CLI_SEG_TABLE: cli_render_table(out, r); break;
		}
	}
}

static void cli_json_strs(struct octo_cli_str *r, char **strs, size_t n)
{
	octo_cli_str_add(r, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			octo_cli_str_add(r, ",", 1);
		octo_cli_json_string(r, strs[i], strlen(strs[i]));
	}
	octo_cli_str_add(r, "]", 1);
}

static void cli_render_json(struct octo_cli_out *out, struct octo_cli_str *r, int status)
{
	bool first = true;

	octo_cli_str_addf(r, "{\"status\":\"%s\",\"fields\":{", octo_cli_status_name(status));
	for (size_t i = 0; i < out->nkv; i++) {
		if (i)
			octo_cli_str_add(r, ",", 1);
		octo_cli_json_string(r, out->kv[i].key, strlen(out->kv[i].key));
		octo_cli_str_add(r, ":", 1);
		octo_cli_json_string(r, out->kv[i].value, strlen(out->kv[i].value));
	}
	octo_cli_str_adds(r, "},\"columns\":");
	cli_json_strs(r, out->cols, out->ncols);
	octo_cli_str_adds(r, ",\"rows\":[");
	for (size_t row = 0; row < out->nrows; row++) {
		if (row)
			octo_cli_str_add(r, ",", 1);
		cli_json_strs(r, out->cells + row * out->width, out->width);
	}
	octo_cli_str_adds(r, "],\"text\":");
	{
		struct octo_cli_str text = { 0 };

		octo_cli_str_add(&text, "", 0);
		for (size_t i = 0; i < out->nsegs; i++) {
			struct cli_seg *seg = &out->segs[i];

			if (seg->kind != CLI_SEG_TEXT || !seg->text.len)
				continue;
			octo_cli_str_add(&text, seg->text.s, seg->text.len);
			if (seg->text.s[seg->text.len - 1] != '\n')
				octo_cli_str_add(&text, "\n", 1);
		}
		octo_cli_json_string(r, text.s, text.len);
		octo_cli_str_free(&text);
	}
	octo_cli_str_adds(r, ",\"errors\":[");
	for (size_t i = 0; i < out->nsegs; i++) {
		struct cli_seg *seg = &out->segs[i];

		if (seg->kind != CLI_SEG_ERROR)
			continue;
		if (!first)
			octo_cli_str_add(r, ",", 1);
		first = false;
		octo_cli_json_string(r, seg->text.s ? seg->text.s : "", seg->text.len);
	}
	octo_cli_str_adds(r, "]}\n");
}

const char *octo_cli_out_render(struct octo_cli_out *out, int status)
{
	if (!out)
		return "";
	octo_cli_str_free(&out->rendered);
	octo_cli_str_add(&out->rendered, "", 0);
	if (out->json)
		cli_render_json(out, &out->rendered, status);
	else
		cli_render_text(out, &out->rendered);
	return out->rendered.s;
}

/* ---------------------------------------------------------------- execution */

int octo_cli_execute(struct octo_cli_out *out, const char *line)
{
	const struct octo_cli_cmd *cmd;
	const char *err = NULL;
	char **argv = NULL, *name;
	size_t nfixed;
	int argc, status;

	if (octo_cli_tokenize(line, 0, &argc, &argv, NULL, &err)) {
		octo_cli_error(out, "Invalid command line: %s", err);
		return OCTO_CLI_USAGE;
	}
	if (argc == 0) {
		free(argv);
		return OCTO_CLI_OK;
	}
	name = cli_lookup(argc, argv, &nfixed);
	cmd = name ? octo_registry_get(OCTO_REG_CLI, name, "cli") : NULL;
	free(name);
	if (!cmd) {
		cli_no_such(out, argc, argv);
		free(argv);
		return OCTO_CLI_UNKNOWN;
	}
	status = cmd->run(out, argc, argv);
	if (status == OCTO_CLI_USAGE) {
		octo_cli_error(out, "Usage: %s", cmd->usage ? cmd->usage : cmd->words);
	} else if (status != OCTO_CLI_OK) {
		status = OCTO_CLI_FAIL;
		if (!cli_has_errors(out))
			octo_cli_error(out, "Command '%s' failed", cmd->words);
	}
	octo_registry_put(OCTO_REG_CLI, cmd, "cli");
	free(argv);
	return status;
}

/* ---------------------------------------------------------------- completion */

struct octo_cli_completion {
	char **cands;
	size_t n, cap;
	int argc; /* the words typed before the one being completed */
	char **argv;
};

void octo_cli_complete_add(struct octo_cli_completion *c, const char *candidate)
{
	size_t len;

	if (!c || !candidate || !*candidate || c->n >= CLI_MAX_COMPLETIONS)
		return;
	len = strnlen(candidate, CLI_MAX_CANDIDATE + 1);
	if (len > CLI_MAX_CANDIDATE)
		return;
	c->cands = cli_grow(c->cands, &c->cap, c->n + 1, sizeof(char *));
	c->cands[c->n++] = octo_strdup(candidate);
}

static void cli_complete_addn(struct octo_cli_completion *c, const char *s, size_t len)
{
	char buf[CLI_MAX_CANDIDATE + 1];

	if (len > CLI_MAX_CANDIDATE)
		return;
	memcpy(buf, s, len);
	buf[len] = '\0';
	octo_cli_complete_add(c, buf);
}

static bool cli_starts(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

void octo_cli_complete_modules(struct octo_cli_completion *c, int pos, const char *partial)
{
	char **names = NULL;
	size_t n = octo_loader_module_names(&names);

	for (size_t i = 0; i < n; i++) {
		if (names[i] && cli_starts(names[i], partial ? partial : ""))
			octo_cli_complete_add(c, names[i]);
		free(names[i]);
	}
	free(names);
}

void octo_cli_complete_registry(struct octo_cli_completion *c, int kind, const char *partial)
{
	struct octo_reg_item *items = NULL;
	size_t n;

	if (kind < 0 || kind >= OCTO_REG_KINDS)
		return;
	n = octo_registry_list((enum octo_reg_kind)kind, &items);
	for (size_t i = 0; i < n; i++)
		if (cli_starts(items[i].name, partial ? partial : ""))
			octo_cli_complete_add(c, items[i].name);
	octo_registry_list_free(items, n);
}

/* Offers the fixed word number `nargs` of every command whose first words
 * are the typed argv[0..nargs). */
static void cli_complete_words(struct octo_cli_completion *c, int nargs, char **argv,
			       const char *partial)
{
	struct octo_reg_item *items = NULL;
	size_t n = octo_registry_list(OCTO_REG_CLI, &items), len;

	for (size_t i = 0; i < n; i++) {
		const char *w;

		if (!cli_match_start(items[i].name, nargs, argv, false))
			continue;
		w = cli_word_at(items[i].name, (size_t)nargs, &len);
		if (w && len >= strlen(partial) && strncasecmp(w, partial, strlen(partial)) == 0)
			cli_complete_addn(c, w, len);
	}
	octo_registry_list_free(items, n);
}

static int cli_cand_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	int d = strcasecmp(x, y);

	return d ? d : strcmp(x, y);
}

char **octo_cli_complete_line(const char *line)
{
	struct octo_cli_completion c = { 0 };
	const char *err, *partial = "";
	char **argv = NULL, **result, *name = NULL;
	size_t nfixed = 0, kept = 0;
	bool open = false;
	int argc = 0, before;

	if (octo_cli_tokenize(line, OCTO_CLI_TOK_PARTIAL, &argc, &argv, &open, &err) == 0) {
		before = open ? argc - 1 : argc;
		if (open)
			partial = argv[argc - 1];
		cli_complete_words(&c, before, argv, partial);
		/* Past the fixed words of a command: its own completer. */
		if (before > 0)
			name = cli_lookup(before, argv, &nfixed);
		if (name) {
			const struct octo_cli_cmd *cmd;

			cmd = octo_registry_get(OCTO_REG_CLI, name, "cli");
			if (cmd) {
				if (cmd->complete) {
					c.argc = before;
					c.argv = argv;
					cmd->complete(&c, before - (int)nfixed, partial);
				}
				octo_registry_put(OCTO_REG_CLI, cmd, "cli");
			}
			free(name);
		}
	}
	/* Keep what starts with the partial word, sorted, without repeats. */
	for (size_t i = 0; i < c.n; i++) {
		if (cli_starts(c.cands[i], partial))
			c.cands[kept++] = c.cands[i];
		else
			free(c.cands[i]);
	}
	c.n = kept;
	if (c.n > 1)
		qsort(c.cands, c.n, sizeof(char *), cli_cand_cmp);
	result = cli_xrealloc(NULL, (c.n + 1) * sizeof(char *));
	kept = 0;
	for (size_t i = 0; i < c.n; i++) {
		if (kept && strcmp(result[kept - 1], c.cands[i]) == 0)
			free(c.cands[i]);
		else
			result[kept++] = c.cands[i];
	}
	result[kept] = NULL;
	free(c.cands);
	free(argv);
	return result;
}

/* ---------------------------------------------------------------- built-ins */

static void cli_help_list(struct octo_cli_out *out, struct octo_reg_item *items, size_t n,
			  int nargs, char **args)
{
	octo_cli_columns(out, "Command", "Summary", NULL);
	for (size_t i = 0; i < n; i++) {
		const struct octo_cli_cmd *cmd = items[i].item;

		if (nargs && !cli_match_start(items[i].name, nargs, args, true))
			continue;
		octo_cli_row(out, items[i].name, cmd->summary ? cmd->summary : "");
	}
}

static int cli_help(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_reg_item *items = NULL;
	size_t n, matches = 0, nfixed;
	int nargs = argc - 1;
	char **args = argv + 1, *name;

	if (nargs == 0) {
		n = octo_registry_list(OCTO_REG_CLI, &items);
		cli_help_list(out, items, n, 0, NULL);
		octo_registry_list_free(items, n);
		return OCTO_CLI_OK;
	}
	name = cli_lookup(nargs, args, &nfixed);
	if (name) {
		const struct octo_cli_cmd *cmd = octo_registry_get(OCTO_REG_CLI, name, "cli");
		struct octo_module *owner = NULL;

		free(name);
		if (cmd) {
			octo_registry_peek(OCTO_REG_CLI, cmd->words, &owner);
			octo_cli_kv(out, "Command", "%s", cmd->words);
			octo_cli_kv(out, "Usage", "%s", cmd->usage ? cmd->usage : cmd->words);
			octo_cli_kv(out, "Summary", "%s", cmd->summary ? cmd->summary : "");
			octo_cli_kv(out, "Module", "%s", owner ? octo_module_name(owner) : "core");
			octo_registry_put(OCTO_REG_CLI, cmd, "cli");
			return OCTO_CLI_OK;
		}
	}
	n = octo_registry_list(OCTO_REG_CLI, &items);
	for (size_t i = 0; i < n; i++)
		if (cli_match_start(items[i].name, nargs, args, true))
			matches++;
	if (matches)
		cli_help_list(out, items, n, nargs, args);
	octo_registry_list_free(items, n);
	if (!matches) {
		cli_no_such(out, nargs, args);
		return OCTO_CLI_FAIL;
	}
	return OCTO_CLI_OK;
}

static void cli_help_complete(struct octo_cli_completion *c, int pos, const char *partial)
{
	/* The words after "help" are command words. */
	if (c->argc >= 1)
		cli_complete_words(c, c->argc - 1, c->argv + 1, partial);
}

static int cli_set_verbose(struct octo_cli_out *out, int argc, char **argv)
{
	char *end;
	long level;

	if (argc != 4)
		return OCTO_CLI_USAGE;
	level = strtol(argv[3], &end, 10);
	if (end == argv[3] || *end || level < 0 || level > 5)
		return OCTO_CLI_USAGE;
	octo_cli_out_set_verbose(out, (int)level);
	octo_cli_kv(out, "Verbosity", "%ld", level);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd cli_core_cmds[] = {
	{ "help", "List the commands, or show how to use one", "help [command words]", cli_help,
	  cli_help_complete },
	{ "core set verbose", "Set the verbosity of this console's log (0-5)",
	  "core set verbose <0-5>", cli_set_verbose, NULL },
	{ 0 }
};

int octo_cli_core_init(void)
{
	return octo_cli_register_all(NULL, cli_core_cmds);
}

void octo_cli_core_shutdown(void)
{
	octo_cli_unregister_all(cli_core_cmds);
}
