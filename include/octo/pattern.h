/*
 * pattern.h - called-number patterns of the dialplan.
 *
 * An entry is `default`, exact (`100`, `fax`, `+4904611715111`) or a pattern.
 * It is a pattern when it contains one of the pattern characters:
 *   X any digit 0-9      Z a digit 1-9      N a digit 2-9
 *   [15-7] one character of a set, with ranges
 *   .  one or more characters of anything
 *   !  zero or more characters of anything
 * Everything else is literal (`+`, digits, `*`, `#`, lower-case letters).
 * `.` and `!` may only end a pattern.
 *
 * Match order (most specific first), used by the dialplan engine and shown
 * by `dialplan test`:
 *   1. exact entries before patterns;
 *   2. between two patterns, compare position by position: the one whose
 *      element admits fewer characters at the first differing position wins
 *      (literal 1 < set of k < N 8 < Z 9 < X 10 < `.`/`!` anything);
 *   3. a pattern that ends (fixed length) beats one that goes on with `.`/`!`;
 *      `.` beats `!` (it requires at least one more character);
 *   4. finally the textual order, so the order is total and stable.
 *
 * Thread context: compiled patterns are immutable and may be shared.
 */
#ifndef OCTO_PATTERN_H
#define OCTO_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

struct octo_pattern;

/* Compiles `text`. Returns NULL and sets *err to a static phrase
 * ("unclosed '['", "'.' must be the last character", "empty set", ...) when
 * it is not valid. `default` compiles to the default entry. */
struct octo_pattern *octo_pattern_compile(const char *text, const char **err);
void octo_pattern_free(struct octo_pattern *p);

const char *octo_pattern_text(const struct octo_pattern *p);
bool octo_pattern_is_exact(const struct octo_pattern *p);
bool octo_pattern_is_default(const struct octo_pattern *p);

/* True when `number` matches. `default` matches nothing here: the engine
 * uses it when nothing else matched. */
bool octo_pattern_match(const struct octo_pattern *p, const char *number);

/* Specificity order: < 0 when `a` is more specific than `b` (a wins), > 0
 * when b wins, 0 only for the same text. */
int octo_pattern_compare(const struct octo_pattern *a, const struct octo_pattern *b);

/* Writes into `buf` a short reason why `winner` beats `loser`, for example
 * "exact match beats a pattern" or "at position 3, '5' (1 choice) is more
 * specific than 'X' (10 choices)". Returns buf. */
const char *octo_pattern_explain(const struct octo_pattern *winner,
				 const struct octo_pattern *loser, char *buf, size_t size);

#endif
