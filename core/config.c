/*
 * config.c - the config file parser: Asterisk-style INI text with sections,
 * templates, inheritance and #include, turned into an immutable tree, and the
 * list of diagnostics (errors and warnings with file:line) that parsing and
 * binding fill.
 *
 * DESIGN
 * - A tree lives in one arena of memory chunks, released at once by
 *   octo_cfg_free. Strings of inherited keys are shared with the template.
 * - #include is textual: an included file continues the section open at the
 *   #include line, and the section open at its end stays open afterwards.
 * - Inherited keys are copied into a section when its header is read. A
 *   section name can be defined only once, so a template is complete by the
 *   time a later header names it, and inheritance cannot loop.
 * - All input is hostile: lines, files, include depth, the number of files,
 *   of keys and of errors are bounded, so a bad file costs little and ends
 *   with a clear message rather than a crash or a hang.
 * - Depends on libc and core/util.c only (the fuzz harness links just these).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/config.h"

#define CFG_MAX_LINE 65536                  /* bytes in one line, without its end */
#define CFG_MAX_DEPTH 16                    /* nested #include levels */
#define CFG_MAX_FILES 1024                  /* files opened by one load */
#define CFG_MAX_BYTES (64u * 1024u * 1024u) /* bytes read by one load */
#define CFG_MAX_ERRORS 200                  /* then parsing stops */
#define CFG_MAX_VARS 1000000                /* keys in a tree, inherited copies included */
#define CFG_CHUNK 16384
#define CFG_CLEAN OCTO_CFG_CLEAN

/* ---------------------------------------------------------------- memory */
static void *cfg_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fputs("octo: out of memory\n", stderr);
		abort();
	}
	return q;
}

struct cfg_chunk {
	struct cfg_chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct cfg_sec {
	struct octo_cfg_section pub; /* first: the public part */
	struct octo_cfg_var *tail;
};

struct cfg_full {
	struct octo_cfg pub; /* first: the public part */
	struct cfg_chunk *chunks;
	struct cfg_sec **table; /* open addressing on the section name */
	size_t table_size, nsections;
	struct octo_cfg_section *tail;
	size_t nvars;
};

/* Zeroed memory from the tree's arena. */
static void *cfg_alloc(struct cfg_full *c, size_t n)
{
	const size_t align = sizeof(max_align_t);
	struct cfg_chunk *ch = c->chunks;
	void *p;

	n = (n + align - 1) / align * align;
	if (!ch || ch->size - ch->used < n) {
		size_t size = n > CFG_CHUNK ? n : CFG_CHUNK;

		ch = cfg_xrealloc(NULL, sizeof(*ch) + size);
		ch->used = 0;
		ch->size = size;
		if (n > CFG_CHUNK / 4 && c->chunks) {
			/* A big block gets its own chunk; keep filling the current one. */
			ch->next = c->chunks->next;
			c->chunks->next = ch;
		} else {
			ch->next = c->chunks;
			c->chunks = ch;
		}
	}
	p = (char *)ch->data + ch->used;
	ch->used += n;
	memset(p, 0, n);
	return p;
}

static char *cfg_strdup(struct cfg_full *c, const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(cfg_alloc(c, n), s, n);
}

/* ---------------------------------------------------------------- diagnostics */
static OCTO_PRINTF(5, 0) void cfg_diags_vadd(struct octo_diags *d, enum octo_diag_severity sev,
					     const char *file, int line, const char *fmt,
					     va_list ap)
{
	char prefix[64] = "";
	int plen = 0, n;
	size_t flen = file ? strlen(file) : 0;
	char *msg;
	va_list ap2;

	if (line < 0)
		line = 0;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	if (file)
		plen = line ? snprintf(prefix, sizeof(prefix), ":%d: ", line)
			    : snprintf(prefix, sizeof(prefix), ": ");
	msg = cfg_xrealloc(NULL, flen + (size_t)plen + (size_t)n + 1);
	if (file)
		memcpy(msg, file, flen);
	memcpy(msg + flen, prefix, (size_t)plen);
	vsnprintf(msg + flen + plen, (size_t)n + 1, fmt, ap);
	msg[flen + (size_t)plen + (size_t)n] = '\0';

	if (d->count == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->items = cfg_xrealloc(d->items, d->cap * sizeof(*d->items));
	}
	d->items[d->count++] = (struct octo_diag){
		.severity = sev,
		.file = octo_strdup(file),
		.line = line,
		.message = msg,
	};
	if (sev == OCTO_DIAG_ERROR)
		d->errors++;
}

void octo_diags_add(struct octo_diags *d, enum octo_diag_severity sev, const char *file, int line,
		    const char *fmt, ...)
{
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	cfg_diags_vadd(d, sev, file, line, fmt, ap);
	va_end(ap);
}

void octo_diags_free(struct octo_diags *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->count; i++) {
		free(d->items[i].file);
		free(d->items[i].message);
	}
	free(d->items);
	memset(d, 0, sizeof(*d));
}

void octo_diags_merge(struct octo_diags *dst, const struct octo_diags *src)
{
	size_t n;

	if (!dst || !src)
		return;
	n = src->count; /* dst may be src: copy what was there at the start */
	for (size_t i = 0; i < n; i++) {
		const struct octo_diag *it;

		if (dst->count == dst->cap) {
			dst->cap = dst->cap ? dst->cap * 2 : 8;
			dst->items = cfg_xrealloc(dst->items, dst->cap * sizeof(*dst->items));
		}
		it = &src->items[i]; /* after the growth: the array may have moved */
		dst->items[dst->count++] = (struct octo_diag){
			.severity = it->severity,
			.file = octo_strdup(it->file),
			.line = it->line,
			.message = octo_strdup(it->message),
		};
		if (it->severity == OCTO_DIAG_ERROR)
			dst->errors++;
	}
}

/* ---------------------------------------------------------------- text helpers */
static bool cfg_isblank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims blanks in place; returns the start of the trimmed text. */
static char *cfg_trim(char *s)
{
	char *end;

	while (cfg_isblank(*s))
		s++;
	end = s + strlen(s);
	while (end > s && cfg_isblank(end[-1]))
		end--;
	*end = '\0';
	return s;
}

const char *octo_cfg_clean(char *buf, const char *text)
{
	size_t n = strlen(text);
	bool cut = n >= OCTO_CFG_CLEAN;

	if (cut) {
		n = OCTO_CFG_CLEAN - 4;
		while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)text[i];

		buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	if (cut) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static const char *cfg_errstr(int err, char *buf, size_t size)
{
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
	return strerror_r(err, buf, size);
#else
	if (strerror_r(err, buf, size) != 0)
		snprintf(buf, size, "error %d", err);
	return buf;
#endif
}

/* ---------------------------------------------------------------- sections */
static uint32_t cfg_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static struct cfg_sec *cfg_table_find(const struct cfg_full *c, const char *name)
{
	size_t mask;

	if (!c->table_size)
		return NULL;
	mask = c->table_size - 1;
	for (size_t i = cfg_hash(name) & mask;; i = (i + 1) & mask) {
		struct cfg_sec *s = c->table[i];

		if (!s)
			return NULL;
		if (!strcmp(s->pub.name, name))
			return s;
	}
}

static void cfg_table_put(struct cfg_sec **table, size_t size, struct cfg_sec *sec)
{
	size_t i = cfg_hash(sec->pub.name) & (size - 1);

	while (table[i])
		i = (i + 1) & (size - 1);
	table[i] = sec;
}

static void cfg_table_add(struct cfg_full *c, struct cfg_sec *sec)
{
	if ((c->nsections + 1) * 2 > c->table_size) {
		size_t size = c->table_size ? c->table_size * 2 : 16;
		struct cfg_sec **table = cfg_xrealloc(NULL, size * sizeof(*table));

		memset(table, 0, size * sizeof(*table));
		for (size_t i = 0; i < c->table_size; i++)
			if (c->table[i])
				cfg_table_put(table, size, c->table[i]);
		free(c->table);
		c->table = table;
		c->table_size = size;
	}
	cfg_table_put(c->table, c->table_size, sec);
	c->nsections++;
}

static struct cfg_full *cfg_new(const char *filename)
{
	struct cfg_full *c = cfg_xrealloc(NULL, sizeof(*c));

	memset(c, 0, sizeof(*c));
	c->pub.file = cfg_strdup(c, filename);
	return c;
}

void octo_cfg_free(struct octo_cfg *cfg)
{
	struct cfg_full *c = (struct cfg_full *)cfg;
	struct cfg_chunk *ch, *next;

	if (!c)
		return;
	for (ch = c->chunks; ch; ch = next) {
		next = ch->next;
		free(ch);
	}
	free(c->table);
	free(c);
}

/* ---------------------------------------------------------------- the parser */
struct cfg_frame {
	const char *name; /* as written, in the arena */
	bool has_id;      /* a file on disk: dev/ino identify it */
	dev_t dev;
	ino_t ino;
};

struct cfg_parser {
	struct cfg_full *cfg;
	struct octo_diags *diags;
	const char *dir;     /* NULL: #include refused */
	struct cfg_sec *cur; /* the open section */
	bool skip;           /* drop keys: the last header was bad */
	bool stop;           /* a limit was hit: parse no more */
	struct cfg_frame stack[CFG_MAX_DEPTH + 1];
	int depth; /* frames in use */
	size_t files, bytes, errors;
	char *line; /* scratch, CFG_MAX_LINE + 1 bytes */
};

static OCTO_PRINTF(4, 5) void cfg_error(struct cfg_parser *p, const char *file, int line,
					const char *fmt, ...)
{
	va_list ap;

	if (p->stop)
		return;
	va_start(ap, fmt);
	cfg_diags_vadd(p->diags, OCTO_DIAG_ERROR, file, line, fmt, ap);
	va_end(ap);
	if (++p->errors >= CFG_MAX_ERRORS) {
		octo_diags_add(p->diags, OCTO_DIAG_ERROR, file, line,
			       "too many errors (%d), stopping here", CFG_MAX_ERRORS);
		p->stop = true;
	}
}

static bool cfg_add_var(struct cfg_parser *p, struct cfg_sec *sec, const struct octo_cfg_var *src,
			const char *at_file, int at_line)
{
	struct octo_cfg_var *v;

	if (p->cfg->nvars >= CFG_MAX_VARS) {
		cfg_error(p, at_file, at_line, "too many keys (more than %d), stopping here",
			  CFG_MAX_VARS);
		p->stop = true;
		return false;
	}
	v = cfg_alloc(p->cfg, sizeof(*v));
	*v = *src;
	v->next = NULL;
	if (sec->tail)
		sec->tail->next = v;
	else
		sec->pub.vars = v;
	sec->tail = v;
	p->cfg->nvars++;
	return true;
}

/* "[name]", "[name](!)", "[name](tpl1,tpl2)", "[name](!,tpl)" */
static void cfg_header(struct cfg_parser *p, const char *file, int lineno, char *s)
{
	char nb[CFG_CLEAN], tb[CFG_CLEAN];
	char *close = strchr(s + 1, ']'), *name, *rest, *list = NULL, *joined = NULL;
	struct cfg_sec **tpls = NULL, *old, *sec;
	size_t ntpl = 0, jlen = 0;
	bool is_tpl = false;

	p->cur = NULL;
	p->skip = true; /* until the header proves good, its keys are dropped */
	if (!close) {
		cfg_error(p, file, lineno, "missing \"]\" in the section header");
		return;
	}
	*close = '\0';
	name = cfg_trim(s + 1);
	if (!*name) {
		cfg_error(p, file, lineno, "empty section name");
		return;
	}
	octo_cfg_clean(nb, name);
	rest = cfg_trim(close + 1);
	if (*rest == '(') {
		char *cp = strchr(rest, ')');

		if (!cp) {
			cfg_error(p, file, lineno, "[%s] missing \")\" after the template list",
				  nb);
			return;
		}
		*cp = '\0';
		list = rest + 1;
		rest = cfg_trim(cp + 1);
	}
	if (*rest) {
		cfg_error(p, file, lineno, "[%s] unexpected text after the header: \"%s\"", nb,
			  octo_cfg_clean(tb, rest));
		return;
	}
	old = cfg_table_find(p->cfg, name);
	if (old) {
		cfg_error(p, file, lineno, "[%s] is already defined at %s:%d", nb, old->pub.file,
			  old->pub.line);
		return;
	}

	if (list) {
		size_t n = 1;

		for (const char *c = list; *c; c++)
			n += *c == ',';
		tpls = cfg_xrealloc(NULL, n * sizeof(*tpls));
		joined = cfg_xrealloc(NULL, strlen(list) + 1);
		for (char *item = list, *comma; item; item = comma ? comma + 1 : NULL) {
			struct cfg_sec *tpl;
			char *t;

			comma = strchr(item, ',');
			if (comma)
				*comma = '\0';
			t = cfg_trim(item);
			if (!*t) {
				cfg_error(p, file, lineno, "[%s] empty template name", nb);
				continue;
			}
			if (!strcmp(t, "!")) {
				is_tpl = true;
				continue;
			}
			tpl = cfg_table_find(p->cfg, t);
			if (!tpl) {
				cfg_error(p, file, lineno, "[%s] unknown template \"%s\"", nb,
					  octo_cfg_clean(tb, t));
				continue;
			}
			if (!tpl->pub.is_template) {
				cfg_error(p, file, lineno,
					  "[%s] \"%s\" is a section, not a template (add \"(!)\" "
					  "to its header)",
					  nb, octo_cfg_clean(tb, t));
				continue;
			}
			tpls[ntpl++] = tpl;
			if (jlen)
				joined[jlen++] = ',';
			memcpy(joined + jlen, t, strlen(t));
			jlen += strlen(t);
		}
	}

	sec = cfg_alloc(p->cfg, sizeof(*sec));
	sec->pub.name = cfg_strdup(p->cfg, name);
	sec->pub.file = file;
	sec->pub.line = lineno;
	sec->pub.is_template = is_tpl;
	if (ntpl) {
		joined[jlen] = '\0';
		sec->pub.templates = cfg_strdup(p->cfg, joined);
	}
	if (p->cfg->tail)
		p->cfg->tail->next = &sec->pub;
	else
		p->cfg->pub.sections = &sec->pub;
	p->cfg->tail = &sec->pub;
	cfg_table_add(p->cfg, sec);

	/* Inherited keys first, template by template; each template already
	 * holds the keys it inherited itself. */
	for (size_t i = 0; i < ntpl && !p->stop; i++) {
		for (const struct octo_cfg_var *v = tpls[i]->pub.vars; v; v = v->next) {
			struct octo_cfg_var copy = *v;

			copy.inherited = true;
			if (!cfg_add_var(p, sec, &copy, file, lineno))
				break;
		}
	}
	free(tpls);
	free(joined);
	p->cur = sec;
	p->skip = false;
}

static void cfg_parse_text(struct cfg_parser *p, const char *file, const char *text, size_t len);

/* Reads a whole regular file, at most `limit` bytes. Returns NULL or an error phrase. */
static const char *cfg_read_fd(int fd, size_t limit, char **out, size_t *outlen, struct stat *st,
			       char *ebuf, size_t esize)
{
	size_t cap, n = 0;
	char *buf;

	*out = NULL;
	*outlen = 0;
	if (fstat(fd, st) < 0)
		return cfg_errstr(errno, ebuf, esize);
	if (!S_ISREG(st->st_mode))
		return "not a regular file";
	if ((unsigned long long)st->st_size > limit)
		goto too_big;
	cap = (size_t)st->st_size + 1;
	buf = cfg_xrealloc(NULL, cap);
	for (;;) {
		ssize_t r;

		if (n == cap) {
			if (cap > limit) {
				free(buf);
				goto too_big;
			}
			cap = cap * 2 < limit + 1 ? cap * 2 : limit + 1;
			buf = cfg_xrealloc(buf, cap);
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0) {
			int err = errno;

			if (err == EINTR)
				continue;
			free(buf);
			return cfg_errstr(err, ebuf, esize);
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > limit) {
		free(buf);
		goto too_big;
	}
	*out = buf;
	*outlen = n;
	return NULL;
too_big:
	snprintf(ebuf, esize, "too large (more than %u MiB of config text)",
		 CFG_MAX_BYTES / (1024u * 1024u));
	return ebuf;
}

/* Parses the content of a file read from disk: refuses binary content. */
static void cfg_parse_file_text(struct cfg_parser *p, const char *file, const char *text,
				size_t len)
{
	const char *nul = memchr(text, '\0', len);

	if (nul) {
		int line = 1;

		for (const char *c = text; c < nul; c++)
			line += *c == '\n';
		cfg_error(p, file, line, "NUL byte in the file: not a text file");
		return;
	}
	cfg_parse_text(p, file, text, len);
}

static void cfg_include(struct cfg_parser *p, const char *file, int lineno, const char *name)
{
	char nb[CFG_CLEAN], ebuf[128];
	const char *err;
	char *path, *text;
	size_t len;
	struct stat st;
	int fd;

	octo_cfg_clean(nb, name);
	if (!p->dir) {
		cfg_error(p, file, lineno, "#include \"%s\": includes are not allowed here", nb);
		return;
	}
	if (p->depth > CFG_MAX_DEPTH) {
		cfg_error(p, file, lineno,
			  "#include \"%s\": nested too deeply (more than %d levels)", nb,
			  CFG_MAX_DEPTH);
		return;
	}
	if (p->files >= CFG_MAX_FILES) {
		cfg_error(p, file, lineno,
			  "#include \"%s\": too many included files (more than %d)", nb,
			  CFG_MAX_FILES);
		p->stop = true;
		return;
	}
	if (name[0] == '/' || !p->dir[0]) {
		path = octo_strdup(name);
	} else {
		path = cfg_xrealloc(NULL, strlen(p->dir) + strlen(name) + 2);
		sprintf(path, "%s/%s", p->dir, name);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	free(path);
	if (fd < 0) {
		cfg_error(p, file, lineno, "cannot include \"%s\": %s", nb,
			  cfg_errstr(errno, ebuf, sizeof(ebuf)));
		return;
	}
	p->files++;
	err = cfg_read_fd(fd, CFG_MAX_BYTES - p->bytes, &text, &len, &st, ebuf, sizeof(ebuf));
	close(fd);
	if (err) {
		cfg_error(p, file, lineno, "cannot include \"%s\": %s", nb, err);
		return;
	}
	for (int i = 0; i < p->depth; i++) {
		size_t size, off = 0;
		char *chain;

		if (!p->stack[i].has_id || p->stack[i].dev != st.st_dev ||
		    p->stack[i].ino != st.st_ino)
			continue;
		size = (size_t)(p->depth - i + 1) * (CFG_CLEAN + 4) + 1;
		chain = cfg_xrealloc(NULL, size);
		for (int j = i; j < p->depth; j++) {
			char fb[CFG_CLEAN];

			off += (size_t)snprintf(chain + off, size - off, "%s -> ",
						octo_cfg_clean(fb, p->stack[j].name));
		}
		snprintf(chain + off, size - off, "%s", nb);
		cfg_error(p, file, lineno, "#include cycle: %s", chain);
		free(chain);
		free(text);
		return;
	}
	p->bytes += len;
	p->stack[p->depth++] = (struct cfg_frame){
		.name = cfg_strdup(p->cfg, name),
		.has_id = true,
		.dev = st.st_dev,
		.ino = st.st_ino,
	};
	cfg_parse_file_text(p, p->stack[p->depth - 1].name, text, len);
	p->depth--;
	free(text);
}

/* "#include file", "#include "file"" or another (unknown) directive. */
static void cfg_directive(struct cfg_parser *p, const char *file, int lineno, char *s)
{
	char nb[CFG_CLEAN];
	char *word = s + 1, *arg;
	size_t n = 0;

	while ((word[n] >= 'a' && word[n] <= 'z') || (word[n] >= 'A' && word[n] <= 'Z') ||
	       (word[n] >= '0' && word[n] <= '9') || word[n] == '_')
		n++;
	if (n != 7 || strncmp(word, "include", 7) != 0) {
		if (!n) {
			cfg_error(p, file, lineno,
				  "unknown directive \"#\" (comments start with \";\")");
			return;
		}
		word[n] = '\0';
		cfg_error(p, file, lineno, "unknown directive \"#%s\"", octo_cfg_clean(nb, word));
		return;
	}
	arg = cfg_trim(word + n);
	if (*arg == '"') {
		char *end = strchr(arg + 1, '"');

		if (!end) {
			cfg_error(p, file, lineno, "#include: missing closing quote");
			return;
		}
		*end = '\0';
		if (*cfg_trim(end + 1)) {
			cfg_error(p, file, lineno, "#include: unexpected text after the file name");
			return;
		}
		arg++;
	}
	if (!*arg) {
		cfg_error(p, file, lineno, "#include needs a file name");
		return;
	}
	cfg_include(p, file, lineno, arg);
}

static void cfg_key(struct cfg_parser *p, const char *file, int lineno, char *s)
{
	char kb[CFG_CLEAN];
	char *eq = strchr(s, '='), *key, *value;
	bool object;

	if (p->skip)
		return;
	if (!eq) {
		cfg_error(p, file, lineno, "expected \"key = value\", got \"%s\"",
			  octo_cfg_clean(kb, s));
		return;
	}
	object = eq[1] == '>';
	value = cfg_trim(eq + (object ? 2 : 1));
	*eq = '\0';
	key = cfg_trim(s);
	if (!*key) {
		cfg_error(p, file, lineno, "missing key before \"%s\"", object ? "=>" : "=");
		return;
	}
	if (!p->cur) {
		cfg_error(p, file, lineno, "key \"%s\" before any [section]", octo_cfg_clean(kb, key));
		return;
	}
	cfg_add_var(p, p->cur,
		    &(struct octo_cfg_var){
			    .name = cfg_strdup(p->cfg, key),
			    .value = cfg_strdup(p->cfg, value),
			    .file = file,
			    .line = lineno,
			    .object = object,
		    },
		    file, lineno);
}

static void cfg_line(struct cfg_parser *p, const char *file, int lineno, char *buf)
{
	char *w = buf, *s;

	/* Cut the comment; "\;" stands for a literal ';'. */
	for (const char *r = buf; *r; r++) {
		if (r[0] == '\\' && r[1] == ';') {
			*w++ = ';';
			r++;
		} else if (*r == ';') {
			break;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	s = cfg_trim(buf);
	if (!*s)
		return;
	if (*s == '[')
		cfg_header(p, file, lineno, s);
	else if (*s == '#')
		cfg_directive(p, file, lineno, s);
	else
		cfg_key(p, file, lineno, s);
}

static void cfg_parse_text(struct cfg_parser *p, const char *file, const char *text, size_t len)
{
	size_t pos = 0;
	int lineno = 0;

	while (pos < len && !p->stop) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;

		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n && start[n - 1] == '\r')
			n--;
		if (n > CFG_MAX_LINE) {
			cfg_error(p, file, lineno, "line too long (more than %d bytes)",
				  CFG_MAX_LINE);
			continue;
		}
		memcpy(p->line, start, n);
		p->line[n] = '\0';
		cfg_line(p, file, lineno, p->line);
	}
}

static void cfg_parser_init(struct cfg_parser *p, struct cfg_full *c, const char *dir,
			    struct octo_diags *diags)
{
	memset(p, 0, sizeof(*p));
	p->cfg = c;
	p->dir = dir;
	p->diags = diags;
	p->line = cfg_xrealloc(NULL, CFG_MAX_LINE + 1);
}

/* Ends a parse: the tree, or NULL when errors were added. */
static struct octo_cfg *cfg_finish(struct cfg_parser *p, size_t errors_before,
				   struct octo_diags *local)
{
	struct cfg_full *c = p->cfg;
	bool failed = p->diags->errors > errors_before;

	free(p->line);
	if (local)
		octo_diags_free(local);
	if (failed) {
		octo_cfg_free(&c->pub);
		return NULL;
	}
	return &c->pub;
}

struct octo_cfg *octo_cfg_load(const char *dir, const char *filename, bool optional,
			       struct octo_diags *diags)
{
	struct octo_diags local = { 0 };
	struct cfg_parser p;
	struct cfg_full *c;
	char ebuf[128];
	const char *err;
	size_t errors_before, len;
	struct stat st;
	char *path, *text;
	int fd;

	if (!diags)
		diags = &local;
	if (!filename || !*filename) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, NULL, 0, "config: no file name given");
		octo_diags_free(&local);
		return NULL;
	}
	errors_before = diags->errors;
	if (filename[0] == '/' || !dir || !dir[0]) {
		path = octo_strdup(filename);
	} else {
		path = cfg_xrealloc(NULL, strlen(dir) + strlen(filename) + 2);
		sprintf(path, "%s/%s", dir, filename);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	free(path);
	if (fd < 0) {
		int e = errno;

		if (e == ENOENT && optional) {
			octo_diags_free(&local);
			return &cfg_new(filename)->pub;
		}
		octo_diags_add(diags, OCTO_DIAG_ERROR, filename, 0, "cannot open: %s",
			       cfg_errstr(e, ebuf, sizeof(ebuf)));
		octo_diags_free(&local);
		return NULL;
	}
	err = cfg_read_fd(fd, CFG_MAX_BYTES, &text, &len, &st, ebuf, sizeof(ebuf));
	close(fd);
	if (err) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, filename, 0, "cannot read: %s", err);
		octo_diags_free(&local);
		return NULL;
	}
	c = cfg_new(filename);
	cfg_parser_init(&p, c, dir ? dir : ".", diags);
	p.files = 1;
	p.bytes = len;
	p.stack[p.depth++] = (struct cfg_frame){
		.name = c->pub.file,
		.has_id = true,
		.dev = st.st_dev,
		.ino = st.st_ino,
	};
	cfg_parse_file_text(&p, c->pub.file, text, len);
	free(text);
	return cfg_finish(&p, errors_before, diags == &local ? &local : NULL);
}

struct octo_cfg *octo_cfg_parse_string(const char *text, const char *filename, const char *dir,
				       struct octo_diags *diags)
{
	struct octo_diags local = { 0 };
	struct cfg_parser p;
	struct cfg_full *c;
	size_t errors_before;

	if (!diags)
		diags = &local;
	if (!text)
		text = "";
	c = cfg_new(filename ? filename : "(text)");
	errors_before = diags->errors;
	cfg_parser_init(&p, c, dir, diags);
	p.stack[p.depth++] = (struct cfg_frame){ .name = c->pub.file };
	cfg_parse_text(&p, c->pub.file, text, strlen(text));
	return cfg_finish(&p, errors_before, diags == &local ? &local : NULL);
}

/* ---------------------------------------------------------------- lookups */
/* Only real sections are found: a template is not a section of its own. */
const struct octo_cfg_section *octo_cfg_section(const struct octo_cfg *cfg, const char *name)
{
	const struct cfg_sec *s;

	if (!cfg || !name)
		return NULL;
	s = cfg_table_find((const struct cfg_full *)cfg, name);
	return s && !s->pub.is_template ? &s->pub : NULL;
}

const char *octo_cfg_value(const struct octo_cfg *cfg, const char *section, const char *key)
{
	const struct octo_cfg_section *sec = octo_cfg_section(cfg, section);
	const char *value = NULL;

	if (!sec || !key)
		return NULL;
	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next)
		if (!strcmp(v->name, key))
			value = v->value;
	return value;
}

const struct octo_cfg_var *octo_cfg_var_find(const struct octo_cfg_section *sec, const char *key)
{
	if (!sec || !key)
		return NULL;
	for (const struct octo_cfg_var *v = sec->vars; v; v = v->next)
		if (!strcmp(v->name, key))
			return v;
	return NULL;
}

static const struct octo_cfg_section *cfg_skip_templates(const struct octo_cfg_section *s)
{
	while (s && s->is_template)
		s = s->next;
	return s;
}

const struct octo_cfg_section *octo_cfg_first(const struct octo_cfg *cfg)
{
	return cfg ? cfg_skip_templates(cfg->sections) : NULL;
}

const struct octo_cfg_section *octo_cfg_next(const struct octo_cfg_section *sec)
{
	return sec ? cfg_skip_templates(sec->next) : NULL;
}
