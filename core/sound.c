/*
 * sound.c - prompts by name and language, and any sound file read as 8 kHz
 * samples through the registered sound formats; the "sound show" command.
 *
 * DESIGN: nothing here keeps state between calls: a prompt is found by
 * trying <sound folder>/<language>/<name>.<ext> for each registered format's
 * extensions, in the languages asked for, the PBX default and "en". The
 * format that reads an open sound is held with a registry reference (holder
 * "sound") until it is closed. Files stored at 16 kHz are decimated to 8 kHz
 * after a 31-tap FIR low-pass; the filter's history lives in the open sound.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "octo/cli.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/registry.h"
#include "octo/sound.h"
#include "internal.h"

#define SOUND_HOLDER "sound"
/* Extensions longer than this are ignored. */
#define SOUND_EXT_MAX 16
/* Output samples produced per read step when decimating. */
#define SOUND_BLOCK 256
/* Bounds of the folder walk of "sound show": depth and prompts. */
#define SOUND_SCAN_DEPTH 8
#define SOUND_SCAN_MAX 100000
/* The folder of music on hold classes, beside the language folders. */
#define SOUND_MOH_DIR "moh"

/* Low-pass for 16 kHz -> 8 kHz: Hamming-windowed sinc, cut-off 3750 Hz,
 * Q15, sum 32768 (0 dB at DC, -0.9 dB at 3250 Hz, -12 dB at 4 kHz, below
 * -35 dB from 4.5 kHz). */
#define SOUND_TAPS 31
static const int32_t sound_lowpass[SOUND_TAPS] = {
	-5,   66,    28,  -135,  -104,  268,   292, -453,  -676, 658,  1415,
	-845, -3030, 976, 10261, 15336, 10261, 976, -3030, -845, 1415, 658,
	-676, -453,  292, 268,   -104,  -135,  28,  66,    -5,
};

struct octo_sound {
	struct octo_sound_file file;
	const struct octo_sound_format *format; /* held (registry reference) */
	bool decimate;
	unsigned phase;               /* inputs since the last output */
	unsigned pos;                 /* where the next input goes */
	int16_t hist[2 * SOUND_TAPS]; /* each input twice: no wrap-around */
	char language[OCTO_SOUND_LANG_MAX];
	char path[];
};

/* ---------------------------------------------------------------- names */

static bool sound_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool octo_sound_name_valid(const char *name)
{
	bool part_start = true;
	size_t len;

	if (!name)
		return false;
	len = strnlen(name, OCTO_SOUND_NAME_MAX + 1);
	if (len == 0 || len > OCTO_SOUND_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++) {
		if (*p == '/') {
			if (part_start)
				return false; /* leading '/' or "//" */
			part_start = true;
			continue;
		}
		if (part_start && *p == '.')
			return false; /* ".", "..", hidden files */
		if (!sound_word_char(*p) && *p != '.' && *p != '+')
			return false;
		part_start = false;
	}
	return !part_start; /* no trailing '/' */
}

bool octo_sound_language_valid(const char *language)
{
	size_t len;

	if (!language)
		return false;
	len = strnlen(language, OCTO_SOUND_LANG_MAX);
	if (len == 0 || len >= OCTO_SOUND_LANG_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!sound_word_char(language[i]))
			return false;
	return true;
}

/* The next extension of a comma-separated list into `ext`; advances *list.
 * Skips empty and unusable ones; false at the end. */
static bool sound_next_ext(const char **list, char *ext)
{
	while (*list && **list) {
		const char *start = *list, *end = strchr(start, ',');
		size_t len;

		if (!end)
			end = start + strlen(start);
		*list = *end ? end + 1 : end;
		while (start < end && *start == ' ')
			start++;
		len = (size_t)(end - start);
		while (len && start[len - 1] == ' ')
			len--;
		if (len == 0 || len >= SOUND_EXT_MAX)
			continue;
		memcpy(ext, start, len);
		ext[len] = '\0';
		if (strchr(ext, '/') || ext[0] == '.')
			continue;
		return true;
	}
	return false;
}

/* The extension of a file name (after the last '.' of its last part), or NULL. */
static const char *sound_extension(const char *path)
{
	const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');

	if (!dot || (slash && dot < slash) || dot[1] == '\0')
		return NULL;
	return dot + 1;
}

/* True when `ext` is one of the format's extensions (case-insensitive when
 * `nocase`). */
static bool sound_format_has_ext(const struct octo_sound_format *fmt, const char *ext, bool nocase)
{
	const char *list = fmt->extensions;
	char e[SOUND_EXT_MAX];

	while (sound_next_ext(&list, e))
		if (nocase ? !strcasecmp(e, ext) : !strcmp(e, ext))
			return true;
	return false;
}

static bool sound_is_file(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISREG(st.st_mode);
}

/* ---------------------------------------------------------------- finding */

/* The languages to try, in order, without duplicates. */
static int sound_languages(const char *language, const char *langs[3])
{
	const char *cand[3] = { language, octo_settings.language, "en" };
	int n = 0;

	for (int i = 0; i < 3; i++) {
		bool dup = false;

		if (!cand[i] || !cand[i][0] || !octo_sound_language_valid(cand[i]))
			continue;
		for (int j = 0; j < n; j++)
			dup |= !strcmp(langs[j], cand[i]);
		if (!dup)
			langs[n++] = cand[i];
	}
	return n;
}

/* Looks for the file of a prompt (see octo_sound_find). With `held` not
 * NULL, the format that reads it is returned there with a registry reference
 * taken for SOUND_HOLDER. */
static int sound_find(const char *name, const char *language, char *path, size_t size,
		      char *lang_used, const struct octo_sound_format **held)
{
	const char *dir = octo_paths.sound_dir, *langs[3], *ext;
	struct octo_reg_item *fmts = NULL;
	size_t nfmts;
	int nlangs, rc = OCTO_ENOTFOUND;

	if (held)
		*held = NULL;
	if (!octo_sound_name_valid(name) || !path || !size)
		return OCTO_EINVAL;
	if (language && language[0] && !octo_sound_language_valid(language))
		return OCTO_EINVAL;
	if (!dir || !dir[0])
		return OCTO_EINVAL;
	nlangs = sound_languages(language, langs);
	nfmts = octo_registry_list(OCTO_REG_FORMAT, &fmts);
	ext = sound_extension(name);
	if (ext) {
		/* "vm-intro.wav": that file, if a format reads .wav files. */
		bool known = false;

		for (size_t f = 0; f < nfmts && !known; f++)
			known = sound_format_has_ext(fmts[f].item, ext, false);
		if (!known)
			ext = NULL;
	}
	for (int l = 0; l < nlangs && rc; l++) {
		for (size_t f = 0; f < nfmts && rc; f++) {
			const struct octo_sound_format *fmt = fmts[f].item;
			const char *list = fmt->extensions;
			char e[SOUND_EXT_MAX];
			int len;

			if (ext) {
				if (!sound_format_has_ext(fmt, ext, false))
					continue;
				len = snprintf(path, size, "%s/%s/%s", dir, langs[l], name);
				if (len > 0 && (size_t)len < size && sound_is_file(path))
					rc = 0;
			}
			while (rc && !ext && sound_next_ext(&list, e)) {
				len = snprintf(path, size, "%s/%s/%s.%s", dir, langs[l], name, e);
				if (len > 0 && (size_t)len < size && sound_is_file(path))
					rc = 0;
			}
			if (!rc) {
				if (lang_used)
					octo_strlcpy(lang_used, langs[l], OCTO_SOUND_LANG_MAX);
				if (held) {
					*held = octo_registry_get(OCTO_REG_FORMAT, fmts[f].name,
								  SOUND_HOLDER);
					if (!*held)
						rc = OCTO_ENOTFOUND; /* unregistered meanwhile */
				}
			}
		}
	}
	octo_registry_list_free(fmts, nfmts);
	if (rc)
		path[0] = '\0';
	return rc;
}

int octo_sound_find(const char *name, const char *language, char *path, size_t size,
		    char *lang_used)
{
	return sound_find(name, language, path, size, lang_used, NULL);
}

/* ---------------------------------------------------------------- opening and reading */

/* Opens `path` with `fmt` (whose reference the new sound takes over, or
 * which is released on failure). */
static int sound_open_with(const struct octo_sound_format *fmt, const char *path,
			   const char *language, struct octo_sound **out, char *err, size_t errsize)
{
	size_t len = strlen(path);
	struct octo_sound *s = calloc(1, sizeof(*s) + len + 1);
	int rc;

	if (!s) {
		octo_registry_put(OCTO_REG_FORMAT, fmt, SOUND_HOLDER);
		snprintf(err, errsize, "out of memory");
		return OCTO_ENOMEM;
	}
	memcpy(s->path, path, len + 1);
	octo_strlcpy(s->language, language, sizeof(s->language));
	s->format = fmt;
	s->file.format = fmt;
	err[0] = '\0';
	rc = fmt->open_read(&s->file, path, err, errsize);
	if (rc) {
		if (!err[0])
			snprintf(err, errsize, "cannot read it as %s: %s", fmt->name,
				 octo_strerror(rc));
		octo_registry_put(OCTO_REG_FORMAT, fmt, SOUND_HOLDER);
		free(s);
		return rc < 0 ? rc : OCTO_EFAIL;
	}
	if (s->file.sample_rate == 16000) {
		s->decimate = true;
	} else if (s->file.sample_rate != 8000) {
		snprintf(err, errsize, "stored at %u Hz: only 8000 and 16000 Hz can be played",
			 s->file.sample_rate);
		fmt->close(&s->file);
		octo_registry_put(OCTO_REG_FORMAT, fmt, SOUND_HOLDER);
		free(s);
		return OCTO_EINVAL;
	}
	*out = s;
	return 0;
}

int octo_sound_open(const char *name, const char *language, struct octo_sound **out)
{
	const struct octo_sound_format *fmt;
	char path[PATH_MAX], lang[OCTO_SOUND_LANG_MAX], err[256];
	int rc;

	if (!out)
		return OCTO_EINVAL;
	*out = NULL;
	rc = sound_find(name, language, path, sizeof(path), lang, &fmt);
	if (rc)
		return rc;
	rc = sound_open_with(fmt, path, lang, out, err, sizeof(err));
	if (rc) {
		octo_log(OCTO_WARNING, "%s: %s", path, err);
		return rc == OCTO_ENOMEM ? rc : OCTO_EINVAL;
	}
	return 0;
}

int octo_sound_open_file(const char *path, struct octo_sound **out, char *err, size_t errsize)
{
	const struct octo_sound_format *fmt = NULL;
	struct octo_reg_item *fmts;
	const char *ext;
	size_t nfmts;

	if (!out || !err || !errsize)
		return OCTO_EINVAL;
	*out = NULL;
	if (!path || !path[0]) {
		snprintf(err, errsize, "no file name");
		return OCTO_EINVAL;
	}
	ext = sound_extension(path);
	if (!ext) {
		snprintf(err, errsize, "no file name extension to choose a sound format by");
		return OCTO_EINVAL;
	}
	nfmts = octo_registry_list(OCTO_REG_FORMAT, &fmts);
	for (size_t f = 0; f < nfmts && !fmt; f++)
		if (sound_format_has_ext(fmts[f].item, ext, true))
			fmt = octo_registry_get(OCTO_REG_FORMAT, fmts[f].name, SOUND_HOLDER);
	octo_registry_list_free(fmts, nfmts);
	if (!fmt) {
		snprintf(err, errsize, "no sound format reads .%s files", ext);
		return OCTO_ENOTFOUND;
	}
	return sound_open_with(fmt, path, "", out, err, errsize);
}

/* One 16 kHz input sample into the filter history. */
static inline void sound_push(struct octo_sound *s, int16_t x)
{
	s->hist[s->pos] = x;
	s->hist[s->pos + SOUND_TAPS] = x;
	if (++s->pos == SOUND_TAPS)
		s->pos = 0;
}

/* The filter's output for the newest input. */
static inline int16_t sound_filter(const struct octo_sound *s)
{
	const int16_t *x = s->hist + s->pos; /* oldest .. newest */
	int32_t acc = 1 << 14;

	for (int k = 0; k < SOUND_TAPS; k++)
		acc += sound_lowpass[k] * x[k];
	acc >>= 15;
	if (acc > INT16_MAX)
		return INT16_MAX;
	if (acc < INT16_MIN)
		return INT16_MIN;
	return (int16_t)acc;
}

long octo_sound_read(struct octo_sound *s, int16_t *out, size_t max)
{
	int16_t in[2 * SOUND_BLOCK];
	size_t done = 0;

	if (!s || (!out && max))
		return OCTO_EINVAL;
	if (max > (size_t)LONG_MAX)
		max = (size_t)LONG_MAX;
	if (!s->decimate)
		return s->format->read(&s->file, out, max);
	while (done < max) {
		size_t k = max - done < SOUND_BLOCK ? max - done : SOUND_BLOCK;
		size_t need = 2 * k - s->phase;
		long got = s->format->read(&s->file, in, need);

		if (got < 0)
			return done ? (long)done : got;
		if (got == 0)
			break;
		if ((size_t)got > need)
			got = (long)need; /* a format that overreports */
		for (long i = 0; i < got; i++) {
			sound_push(s, in[i]);
			if (++s->phase == 2) {
				s->phase = 0;
				out[done++] = sound_filter(s);
			}
		}
	}
	return (long)done;
}

const char *octo_sound_path(const struct octo_sound *s)
{
	return s ? s->path : "";
}

const char *octo_sound_language(const struct octo_sound *s)
{
	return s ? s->language : "";
}

unsigned octo_sound_file_rate(const struct octo_sound *s)
{
	return s ? s->file.sample_rate : 0;
}

void octo_sound_close(struct octo_sound *s)
{
	if (!s)
		return;
	s->format->close(&s->file);
	octo_registry_put(OCTO_REG_FORMAT, s->format, SOUND_HOLDER);
	free(s);
}

/* ---------------------------------------------------------------- the prompts of a folder */

struct sound_prompt {
	char *name;
	char formats[64]; /* "wav" or "ulaw,wav" */
};

struct sound_set {
	struct sound_prompt *v;
	size_t n, cap;
	bool truncated; /* more than SOUND_SCAN_MAX */
};

static void sound_set_free(struct sound_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->v[i].name);
	free(set->v);
	memset(set, 0, sizeof(*set));
}

static void sound_set_add(struct sound_set *set, const char *name, const char *format)
{
	if (set->n >= SOUND_SCAN_MAX) {
		set->truncated = true;
		return;
	}
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 256;
		struct sound_prompt *v = realloc(set->v, cap * sizeof(*v));

		if (!v) {
			set->truncated = true;
			return;
		}
		set->v = v;
		set->cap = cap;
	}
	set->v[set->n].name = octo_strdup(name);
	octo_strlcpy(set->v[set->n].formats, format, sizeof(set->v[set->n].formats));
	set->n++;
}

static int sound_prompt_cmp(const void *a, const void *b)
{
	const struct sound_prompt *pa = a, *pb = b;
	int c = strcmp(pa->name, pb->name);

	return c ? c : strcmp(pa->formats, pb->formats);
}

/* True when the comma-separated `list` ends with the item `token`. */
static bool sound_ends_with_token(const char *list, const char *token)
{
	size_t len = strlen(list), tlen = strlen(token);

	return len >= tlen && !strcmp(list + len - tlen, token) &&
	       (len == tlen || list[len - tlen - 1] == ',');
}

/* Sorts by name and merges the entries of one prompt in several formats. */
static void sound_set_finish(struct sound_set *set)
{
	size_t w = 0;

	if (set->n)
		qsort(set->v, set->n, sizeof(*set->v), sound_prompt_cmp);
	for (size_t r = 0; r < set->n; r++) {
		if (w && !strcmp(set->v[w - 1].name, set->v[r].name)) {
			char *dst = set->v[w - 1].formats;
			const char *add = set->v[r].formats;
			size_t len = strlen(dst), alen = strlen(add);

			/* Sorted, so a format seen twice comes last in dst. */
			if (!sound_ends_with_token(dst, add) &&
			    len + 1 + alen < sizeof(set->v[0].formats)) {
				dst[len] = ',';
				memcpy(dst + len + 1, add, alen + 1);
			}
			free(set->v[r].name);
			continue;
		}
		set->v[w++] = set->v[r];
	}
	set->n = w;
}

static bool sound_set_has(const struct sound_set *set, const char *name)
{
	size_t lo = 0, hi = set->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(set->v[mid].name, name);

		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Adds the prompts under `dir` (`rel` is its path in the language folder,
 * "" at the top). Symbolic links to files count; links to folders are not
 * followed, and the depth is bounded, so the walk always ends. */
static void sound_scan(const char *dir, const char *rel, int depth, struct sound_set *set,
		       const struct octo_reg_item *fmts, size_t nfmts)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) && !set->truncated) {
		char path[PATH_MAX], name[PATH_MAX];
		const char *ext;
		struct stat st;
		int len;

		if (de->d_name[0] == '.')
			continue;
		len = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (len < 0 || (size_t)len >= sizeof(path))
			continue;
		len = snprintf(name, sizeof(name), "%s%s%s", rel, rel[0] ? "/" : "", de->d_name);
		if (len < 0 || (size_t)len >= sizeof(name) || lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (depth < SOUND_SCAN_DEPTH)
				sound_scan(path, name, depth + 1, set, fmts, nfmts);
			continue;
		}
		if (S_ISLNK(st.st_mode) && (stat(path, &st) || !S_ISREG(st.st_mode)))
			continue;
		if (!S_ISREG(st.st_mode))
			continue;
		ext = sound_extension(name);
		if (!ext)
			continue;
		for (size_t f = 0; f < nfmts; f++) {
			if (!sound_format_has_ext(fmts[f].item, ext, false))
				continue;
			name[ext - 1 - name] = '\0';
			if (octo_sound_name_valid(name))
				sound_set_add(set, name, fmts[f].name);
			break;
		}
	}
	closedir(d);
}

/* The prompts of one language folder; false when it is not a folder. */
static bool sound_scan_language(const char *language, struct sound_set *set)
{
	struct octo_reg_item *fmts;
	size_t nfmts;
	char dir[PATH_MAX];
	struct stat st;
	int len;

	memset(set, 0, sizeof(*set));
	len = snprintf(dir, sizeof(dir), "%s/%s", octo_paths.sound_dir, language);
	if (len < 0 || (size_t)len >= sizeof(dir) || stat(dir, &st) || !S_ISDIR(st.st_mode))
		return false;
	nfmts = octo_registry_list(OCTO_REG_FORMAT, &fmts);
	sound_scan(dir, "", 0, set, fmts, nfmts);
	octo_registry_list_free(fmts, nfmts);
	sound_set_finish(set);
	return true;
}

static size_t sound_count_missing(const struct sound_set *set, const struct sound_set *en)
{
	size_t missing = 0;

	for (size_t i = 0; i < en->n; i++)
		missing += !sound_set_has(set, en->v[i].name);
	return missing;
}

/* ---------------------------------------------------------------- CLI */

static int sound_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The language folders of the sound folder, sorted (malloc'ed array of
 * malloc'ed names); returns the count, or -1 when the folder cannot be read. */
static long sound_list_languages(char ***out)
{
	DIR *d = opendir(octo_paths.sound_dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	*out = NULL;
	if (!d)
		return -1;
	while ((de = readdir(d)) && n < 1000) {
		char path[PATH_MAX];
		struct stat st;
		int len;

		if (!octo_sound_language_valid(de->d_name) || !strcmp(de->d_name, SOUND_MOH_DIR))
			continue;
		len = snprintf(path, sizeof(path), "%s/%s", octo_paths.sound_dir, de->d_name);
		if (len < 0 || (size_t)len >= sizeof(path) || stat(path, &st) ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char **grown = realloc(names, ncap * sizeof(*grown));

			if (!grown)
				break;
			names = grown;
			cap = ncap;
		}
		names[n++] = octo_strdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), sound_name_cmp);
	*out = names;
	return (long)n;
}

static void sound_free_names(char **names, long n)
{
	for (long i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int sound_cli_show_all(struct octo_cli_out *out)
{
	struct sound_set en;
	char **langs;
	long n = sound_list_languages(&langs);

	if (n < 0) {
		octo_cli_error(out, "cannot read the sound folder %s: %s", octo_paths.sound_dir,
			       strerror(errno));
		return OCTO_CLI_FAIL;
	}
	sound_scan_language("en", &en);
	octo_cli_kv(out, "sound folder", "%s", octo_paths.sound_dir);
	octo_cli_kv(out, "languages", "%ld", n);
	octo_cli_columns(out, "Language", "Prompts", "Missing", NULL);
	for (long i = 0; i < n; i++) {
		struct sound_set set;
		char count[32], missing[32];

		sound_scan_language(langs[i], &set);
		snprintf(count, sizeof(count), "%zu%s", set.n, set.truncated ? "+" : "");
		snprintf(missing, sizeof(missing), "%zu", sound_count_missing(&set, &en));
		octo_cli_row(out, langs[i], count, missing);
		sound_set_free(&set);
	}
	sound_set_free(&en);
	sound_free_names(langs, n);
	return OCTO_CLI_OK;
}

static int sound_cli_show_language(struct octo_cli_out *out, const char *language)
{
	struct sound_set set, en;
	size_t missing, i = 0, j = 0;

	if (!octo_sound_language_valid(language)) {
		octo_cli_error(out, "invalid language name \"%s\" (letters, digits, - and _)",
			       language);
		return OCTO_CLI_FAIL;
	}
	if (!sound_scan_language(language, &set)) {
		octo_cli_error(out, "no prompts for language \"%s\": %s/%s is not a folder",
			       language, octo_paths.sound_dir, language);
		return OCTO_CLI_FAIL;
	}
	sound_scan_language("en", &en);
	missing = sound_count_missing(&set, &en);
	octo_cli_kv(out, "language", "%s", language);
	octo_cli_kv(out, "folder", "%s/%s", octo_paths.sound_dir, language);
	octo_cli_kv(out, "prompts", "%zu%s", set.n, set.truncated ? " (list cut short)" : "");
	octo_cli_kv(out, "missing", "%zu", missing);
	octo_cli_columns(out, "Prompt", "Format", "Status", NULL);
	/* Both lists are sorted: merge them, so missing prompts appear in place. */
	while (i < set.n || j < en.n) {
		int c = i == set.n ? 1 : j == en.n ? -1 : strcmp(set.v[i].name, en.v[j].name);

		if (c <= 0) {
			octo_cli_row(out, set.v[i].name, set.v[i].formats, "ok");
			i++;
			j += c == 0;
		} else {
			octo_cli_row(out, en.v[j].name, NULL, "missing");
			j++;
		}
	}
	sound_set_free(&set);
	sound_set_free(&en);
	return OCTO_CLI_OK;
}

static int sound_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	if (argc > 3)
		return OCTO_CLI_USAGE;
	if (!octo_paths.sound_dir || !octo_paths.sound_dir[0]) {
		octo_cli_error(out, "no sound folder is set (octo.conf [directories] sounds)");
		return OCTO_CLI_FAIL;
	}
	return argc == 3 ? sound_cli_show_language(out, argv[2]) : sound_cli_show_all(out);
}

static void sound_complete_language(struct octo_cli_completion *c, int pos, const char *partial)
{
	char **langs;
	long n;

	if (pos != 0 || !octo_paths.sound_dir)
		return;
	n = sound_list_languages(&langs);
	for (long i = 0; i < n; i++)
		octo_cli_complete_add(c, langs[i]);
	sound_free_names(langs, n);
}

static const struct octo_cli_cmd sound_cli[] = {
	{ "sound show", "List the prompts of each language, or of one with what it lacks",
	  "sound show [LANGUAGE]", sound_cli_show, sound_complete_language },
	{ 0 }
};

int octo_sound_cli_init(void)
{
	return octo_cli_register_all(NULL, sound_cli);
}
