/*
 * pattern.c - called-number patterns of the dialplan: compiling an entry
 * (`default`, exact or pattern), matching a number against it, and the
 * specificity order the dialplan engine uses to pick the winning entry.
 *
 * DESIGN: a pattern compiles to a row of fixed-width elements (literal, set,
 * N, Z, X) followed by a tail: the end, `.` or `!`. Since `.` and `!` may only
 * end a pattern, matching is a single pass over the number: no backtracking,
 * linear in its length. Each element has a rank (how many characters it
 * admits; the end ranks below everything, `.` and `!` above everything), and
 * the specificity order is the lexicographic order of the rank rows, then
 * the text. Compiled patterns are immutable and may be shared by threads.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/octo.h"
#include "octo/pattern.h"

/* Longest entry accepted: called numbers are short, and this bounds the texts we write. */
#define PAT_MAX_LEN 256

enum pat_class { PAT_EXACT, PAT_PATTERN, PAT_DEFAULT };

enum pat_kind { EL_END, EL_LIT, EL_SET, EL_N, EL_Z, EL_X, EL_DOT, EL_BANG };

/* Ranks of the tails; fixed elements rank by their number of choices (1..~70). */
#define RANK_END 0
#define RANK_DOT 1000
#define RANK_BANG 1001

struct pat_el {
	unsigned char kind;
	unsigned char ch;    /* EL_LIT: the character */
	unsigned short rank; /* number of choices, or a RANK_* for tails */
	unsigned short src;  /* offset of the element in the text */
	unsigned short srclen;
	uint64_t set[2]; /* EL_SET: bitmap over ASCII */
};

struct octo_pattern {
	char *text;
	enum pat_class cls;
	size_t n;           /* fixed elements before the tail */
	struct pat_el el[]; /* n fixed elements, then the tail (EL_END, EL_DOT or EL_BANG) */
};

/* Characters a called number may hold: digits, letters, + * # - _. */
static bool pat_is_number_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '+' || c == '*' || c == '#' || c == '-' || c == '_';
}

static bool pat_is_blank_or_control(unsigned char c)
{
	return c <= 0x20 || c == 0x7f;
}

static void pat_set_add(uint64_t set[2], unsigned char c)
{
	set[c >> 6] |= (uint64_t)1 << (c & 63);
}

static bool pat_set_has(const uint64_t set[2], unsigned char c)
{
	return c < 128 && (set[c >> 6] >> (c & 63)) & 1;
}

/* Checks one character of the text, returning an error phrase or NULL. */
static const char *pat_char_error(unsigned char c)
{
	if (c == ' ' || c == '\t')
		return "blanks are not allowed in a called number";
	if (pat_is_blank_or_control(c))
		return "control characters are not allowed in a called number";
	return "invalid character (allowed: digits, letters, + * # - _ and X Z N [ ] . !)";
}

/* Parses the set starting after '[' at text[*pos]; fills el. */
static const char *pat_parse_set(const char *text, size_t *pos, struct pat_el *el)
{
	size_t i = *pos;
	unsigned count = 0;

	el->kind = EL_SET;
	el->set[0] = el->set[1] = 0;
	if (text[i] == ']')
		return "empty set";
	for (;;) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\0')
			return "unclosed '['";
		if (c == ']')
			break;
		if (c == '[')
			return "'[' inside a set";
		if (!pat_is_number_char(c)) {
			if (c == '.' || c == '!')
				return "'.' and '!' are not allowed in a set";
			return pat_char_error(c);
		}
		/* A '-' between two characters is a range; first or last it is literal. */
		if (text[i + 1] == '-' && text[i + 2] != ']' && text[i + 2] != '\0') {
			unsigned char hi = (unsigned char)text[i + 2];

			if (hi == '[')
				return "'[' inside a set";
			if (!pat_is_number_char(hi))
				return pat_char_error(hi);
			if (hi < c)
				return "reversed range in a set";
			for (unsigned x = c; x <= hi; x++)
				if (pat_is_number_char((unsigned char)x))
					pat_set_add(el->set, (unsigned char)x);
			i += 3;
		} else {
			pat_set_add(el->set, c);
			i++;
		}
	}
	for (unsigned x = 0; x < 128; x++)
		count += pat_set_has(el->set, (unsigned char)x);
	el->rank = (unsigned short)count;
	*pos = i + 1;
	return NULL;
}

static bool pat_has_syntax(const char *text)
{
	return strpbrk(text, "XZN[].!") != NULL;
}

struct octo_pattern *octo_pattern_compile(const char *text, const char **err)
{
	const char *dummy;
	struct octo_pattern *p;
	size_t len, n = 0, i = 0;
	const char *e = NULL;

	if (!err)
		err = &dummy;
	if (!text || !*text) {
		*err = "empty called number";
		return NULL;
	}
	len = strlen(text);
	if (len > PAT_MAX_LEN) {
		*err = "called number too long (more than 256 characters)";
		return NULL;
	}
	p = calloc(1, sizeof(*p) + (len + 1) * sizeof(p->el[0]));
	if (!p) {
		*err = "out of memory";
		return NULL;
	}
	p->text = strdup(text);
	if (!p->text) {
		free(p);
		*err = "out of memory";
		return NULL;
	}
	if (strcmp(text, "default") == 0) {
		p->cls = PAT_DEFAULT;
		p->el[0].kind = EL_END;
		return p;
	}
	p->cls = pat_has_syntax(text) ? PAT_PATTERN : PAT_EXACT;

	while (text[i] && !e) {
		unsigned char c = (unsigned char)text[i];
		struct pat_el *el = &p->el[n];

		el->src = (unsigned short)i;
		switch (c) {
		case 'X':
			el->kind = EL_X;
			el->rank = 10;
			i++;
			break;
		case 'Z':
			el->kind = EL_Z;
			el->rank = 9;
			i++;
			break;
		case 'N':
			el->kind = EL_N;
			el->rank = 8;
			i++;
			break;
		case '[':
			i++;
			e = pat_parse_set(text, &i, el);
			break;
		case ']': e = "unexpected ']'"; break;
		case '.':
		case '!':
			if (text[i + 1]) {
				e = c == '.' ? "'.' must be the last character"
					     : "'!' must be the last character";
				break;
			}
			/* The tail: stored after the fixed elements, not counted in n. */
			el->kind = c == '.' ? EL_DOT : EL_BANG;
			el->rank = c == '.' ? RANK_DOT : RANK_BANG;
			el->srclen = 1;
			i++;
			continue;
		default:
			if (!pat_is_number_char(c)) {
				e = pat_char_error(c);
				break;
			}
			el->kind = EL_LIT;
			el->ch = c;
			el->rank = 1;
			i++;
			break;
		}
		if (e)
			break;
		el->srclen = (unsigned short)(i - el->src);
		n++;
	}
	if (e) {
		*err = e;
		octo_pattern_free(p);
		return NULL;
	}
	/* calloc left the tail as EL_END (rank 0) unless '.' or '!' set it. */
	p->n = n;
	return p;
}

void octo_pattern_free(struct octo_pattern *p)
{
	if (!p)
		return;
	free(p->text);
	free(p);
}

const char *octo_pattern_text(const struct octo_pattern *p)
{
	return p ? p->text : "";
}

bool octo_pattern_is_exact(const struct octo_pattern *p)
{
	return p && p->cls == PAT_EXACT;
}

bool octo_pattern_is_default(const struct octo_pattern *p)
{
	return p && p->cls == PAT_DEFAULT;
}

static bool pat_el_match(const struct pat_el *el, unsigned char c)
{
	switch (el->kind) {
	case EL_LIT: return c == el->ch;
	case EL_SET: return pat_set_has(el->set, c);
	case EL_X: return c >= '0' && c <= '9';
	case EL_Z: return c >= '1' && c <= '9';
	case EL_N: return c >= '2' && c <= '9';
	default: return false;
	}
}

bool octo_pattern_match(const struct octo_pattern *p, const char *number)
{
	const struct pat_el *tail;
	size_t i;

	if (!p || !number || p->cls == PAT_DEFAULT)
		return false;
	if (p->cls == PAT_EXACT)
		return strcmp(p->text, number) == 0;
	for (i = 0; i < p->n; i++) {
		if (!number[i] || !pat_el_match(&p->el[i], (unsigned char)number[i]))
			return false;
	}
	tail = &p->el[p->n];
	if (tail->kind == EL_END)
		return number[i] == '\0';
	if (tail->kind == EL_DOT && number[i] == '\0')
		return false;
	/* '.' and '!' take anything but blanks and control characters. */
	for (; number[i]; i++)
		if (pat_is_blank_or_control((unsigned char)number[i]))
			return false;
	return true;
}

/* Compares two patterns of class PAT_PATTERN; *pos gets the decisive element index. */
static int pat_rank_compare(const struct octo_pattern *a, const struct octo_pattern *b, size_t *pos)
{
	for (size_t i = 0;; i++) {
		const struct pat_el *ea = &a->el[i < a->n ? i : a->n];
		const struct pat_el *eb = &b->el[i < b->n ? i : b->n];

		*pos = i;
		if (ea->rank != eb->rank)
			return ea->rank < eb->rank ? -1 : 1;
		if (i >= a->n || i >= b->n)
			return 0; /* both tails, equal */
	}
}

static int pat_sign(int v)
{
	return (v > 0) - (v < 0);
}

int octo_pattern_compare(const struct octo_pattern *a, const struct octo_pattern *b)
{
	size_t pos;
	int r;

	if (a == b)
		return 0;
	if (!a || !b)
		return a ? -1 : 1;
	if (a->cls != b->cls)
		return a->cls < b->cls ? -1 : 1;
	if (a->cls == PAT_PATTERN) {
		r = pat_rank_compare(a, b, &pos);
		if (r)
			return r;
	}
	return pat_sign(strcmp(a->text, b->text));
}

/* Describes a fixed element or tail: "'5' (1 choice)". */
static void pat_el_describe(const struct octo_pattern *p, const struct pat_el *el, char *buf,
			    size_t size)
{
	switch (el->kind) {
	case EL_DOT: snprintf(buf, size, "'.' (one or more characters)"); break;
	case EL_BANG: snprintf(buf, size, "'!' (zero or more characters)"); break;
	case EL_END: snprintf(buf, size, "the end"); break;
	default:
		snprintf(buf, size, "'%.*s' (%u choice%s)", (int)el->srclen, p->text + el->src,
			 (unsigned)el->rank, el->rank == 1 ? "" : "s");
		break;
	}
}

/* Writes why `w` comes before `l` (compare(w, l) < 0 is assumed). */
static void pat_reason(const struct octo_pattern *w, const struct octo_pattern *l, char *buf,
		       size_t size)
{
	char dw[PAT_MAX_LEN + 32], dl[PAT_MAX_LEN + 32];
	const struct pat_el *ew, *el;
	size_t pos;

	if (strcmp(w->text, l->text) == 0) {
		snprintf(buf, size, "same entry");
		return;
	}
	if (l->cls == PAT_DEFAULT) {
		snprintf(buf, size, "'default' is used only when nothing else matches");
		return;
	}
	if (w->cls == PAT_EXACT && l->cls == PAT_PATTERN) {
		snprintf(buf, size, "exact match beats a pattern");
		return;
	}
	if (w->cls == PAT_EXACT) {
		snprintf(buf, size, "both are exact; textual order decides");
		return;
	}
	if (pat_rank_compare(w, l, &pos) == 0) {
		snprintf(buf, size, "same specificity; textual order decides");
		return;
	}
	ew = &w->el[pos < w->n ? pos : w->n];
	el = &l->el[pos < l->n ? pos : l->n];
	if (ew->kind == EL_END && (el->kind == EL_DOT || el->kind == EL_BANG)) {
		snprintf(buf, size, "a fixed-length pattern beats one that goes on with '%c'",
			 el->kind == EL_DOT ? '.' : '!');
	} else if (ew->kind == EL_END) {
		snprintf(buf, size,
			 "at position %zu, the pattern ends while the other needs more "
			 "characters (shorter first)",
			 pos + 1);
	} else if (ew->kind == EL_DOT) {
		snprintf(buf, size,
			 "at position %zu, '.' beats '!' (it requires at least one more "
			 "character)",
			 pos + 1);
	} else {
		pat_el_describe(w, ew, dw, sizeof(dw));
		pat_el_describe(l, el, dl, sizeof(dl));
		snprintf(buf, size, "at position %zu, %s is more specific than %s", pos + 1, dw,
			 dl);
	}
}

const char *octo_pattern_explain(const struct octo_pattern *winner,
				 const struct octo_pattern *loser, char *buf, size_t size)
{
	char reason[2 * PAT_MAX_LEN + 128];
	int r;

	if (!buf || !size)
		return buf;
	if (!winner || !loser) {
		snprintf(buf, size, "nothing to compare");
		return buf;
	}
	r = octo_pattern_compare(winner, loser);
	if (r <= 0) {
		pat_reason(winner, loser, buf, size);
	} else {
		pat_reason(loser, winner, reason, sizeof(reason));
		snprintf(buf, size, "'%s' wins instead: %s", loser->text, reason);
	}
	return buf;
}
