/*
 * config.h - config files: parsing and declarative binding.
 *
 * FORMAT (Asterisk-style INI)
 *   [section]             a section
 *   [name](!)             a template: not a section of its own
 *   [name](tpl1,tpl2)     a section inheriting the keys of templates, in order
 *   [name](!,tpl)         a template that inherits another
 *   key = value           a key
 *   key => value          the same, written as an "object" line (exten => ...)
 *   ; comment             to the end of the line; "\;" is a literal ';'
 *   #include "file.conf"  relative to the config folder; cycles are errors
 *
 * Values are trimmed of surrounding blanks. Keys may repeat: every occurrence
 * is kept in file order. Inherited keys come first, then the section's own.
 *
 * Every error and warning carries file:line. Parsing never stops at the first
 * error: the caller gets the complete list.
 *
 * Thread context: any thread; a parsed struct octo_cfg is immutable.
 */
#ifndef OCTO_CONFIG_H
#define OCTO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "octo/octo.h"

/* ---------------------------------------------------------------- errors */
enum octo_diag_severity { OCTO_DIAG_ERROR, OCTO_DIAG_WARNING };

struct octo_diag {
	enum octo_diag_severity severity;
	char *file;     /* file name as given (relative to the config folder) or NULL */
	int line;       /* 0 when unknown */
	char *message;  /* full text: "sip.conf:42: [alice] port: ..." */
};

/* A growing list of diagnostics. Zero-initialise it; free with octo_diags_free. */
struct octo_diags {
	struct octo_diag *items;
	size_t count;
	size_t errors;   /* how many are OCTO_DIAG_ERROR */
	size_t cap;
};

/* Adds a diagnostic. The message is prefixed with "file:line: " when file is
 * not NULL (line 0: "file: "). */
void octo_diags_add(struct octo_diags *d, enum octo_diag_severity sev, const char *file, int line,
		    const char *fmt, ...) OCTO_PRINTF(5, 6);
void octo_diags_free(struct octo_diags *d);
/* Appends every item of `src` to `dst`. */
void octo_diags_merge(struct octo_diags *dst, const struct octo_diags *src);

/* ---------------------------------------------------------------- parse tree */
struct octo_cfg_var {
	const char *name;
	const char *value;
	const char *file;
	int line;
	bool object;          /* written with "=>" */
	bool inherited;       /* came from a template */
	struct octo_cfg_var *next;
};

struct octo_cfg_section {
	const char *name;
	const char *file;
	int line;
	bool is_template;
	const char *templates;   /* "tpl1,tpl2" as written, or NULL */
	struct octo_cfg_var *vars;
	struct octo_cfg_section *next;
};

struct octo_cfg {
	const char *file;        /* the top file name */
	struct octo_cfg_section *sections;  /* in file order, templates included */
	/* private parts follow in the implementation */
};

/* Loads `filename` from folder `dir` (with its #includes). Returns the tree, or
 * NULL when there was at least one error; every error and warning is added to
 * `diags`. A missing top file is the error "file.conf: cannot open: No such
 * file or directory" unless `optional` is true, in which case an empty tree
 * is returned. */
struct octo_cfg *octo_cfg_load(const char *dir, const char *filename, bool optional,
			       struct octo_diags *diags);

/* Parses text as if it were the file `filename` (#include reads from `dir`,
 * which may be NULL to forbid includes). Same return rules as octo_cfg_load. */
struct octo_cfg *octo_cfg_parse_string(const char *text, const char *filename, const char *dir,
				       struct octo_diags *diags);

void octo_cfg_free(struct octo_cfg *cfg);

/* Lookups. Returned pointers borrow from the tree. */
const struct octo_cfg_section *octo_cfg_section(const struct octo_cfg *cfg, const char *name);
/* The last value of `key` in `section`, or NULL. */
const char *octo_cfg_value(const struct octo_cfg *cfg, const char *section, const char *key);
const struct octo_cfg_var *octo_cfg_var_find(const struct octo_cfg_section *sec, const char *key);

/* Walk real (non-template) sections: for (s = octo_cfg_first(cfg); s; s = octo_cfg_next(s)) */
const struct octo_cfg_section *octo_cfg_first(const struct octo_cfg *cfg);
const struct octo_cfg_section *octo_cfg_next(const struct octo_cfg_section *sec);

/* ---------------------------------------------------------------- binding
 * A module describes its keys in a table and gets a filled struct:
 *
 *   struct peer_cfg { char *host; int port; bool nat; unsigned expiry; };
 *   static const struct octo_cfg_opt peer_opts[] = {
 *       OCTO_CFG_STR ("host",   struct peer_cfg, host,   NULL, OCTO_CFG_REQUIRED),
 *       OCTO_CFG_INT ("port",   struct peer_cfg, port,   "5060", 1, 65535),
 *       OCTO_CFG_BOOL("nat",    struct peer_cfg, nat,    "no"),
 *       OCTO_CFG_DURATION("expiry", struct peer_cfg, expiry, "1h", 60, 86400),
 *       OCTO_CFG_END
 *   };
 *
 * Messages look like:
 *   sip.conf:42: [alice] port: "70000" is out of range 1..65535
 *   sip.conf:57: [bob] unknown option "secert" (did you mean "secret"?)   (warning)
 *   sip.conf:40: [carol] host: required option missing
 */
enum octo_cfg_type {
	OCTO_CFG_T_STR,       /* char *, strdup'ed */
	OCTO_CFG_T_INT,       /* int, bounds min..max */
	OCTO_CFG_T_UINT,      /* unsigned, bounds min..max */
	OCTO_CFG_T_BOOL,      /* bool: yes/no, true/false, on/off, 1/0 */
	OCTO_CFG_T_ENUM,      /* int: index of the value in a NULL-terminated list */
	OCTO_CFG_T_LIST,      /* struct octo_cfg_list: comma separated, trimmed, or
	                         every occurrence of a repeated key */
	OCTO_CFG_T_DURATION,  /* unsigned seconds: "90", "90s", "15m", "2h", "1d"; bounds in seconds */
	OCTO_CFG_T_DURATION_MS, /* unsigned milliseconds: "250ms", "2s", "500"; bounds in ms */
	OCTO_CFG_T_ADDR,      /* struct octo_cidr: IPv4/IPv6 address, optional /prefix */
	OCTO_CFG_T_CUSTOM,    /* setter: returns NULL when fine, or an error phrase */
};

enum octo_cfg_flags {
	OCTO_CFG_REQUIRED = 1 << 0,
	OCTO_CFG_MULTI = 1 << 1,      /* LIST: each occurrence of the key adds items */
	OCTO_CFG_NO_PREFIX = 1 << 2,  /* ADDR: a plain address, no /prefix allowed */
};

struct octo_cfg_list {
	char **items;
	size_t count;
};

struct octo_cidr {
	int family;              /* AF_INET or AF_INET6 */
	unsigned prefix;         /* 32/128 for a plain address */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};
/* True when `addr` (AF_INET/AF_INET6 sockaddr) lies inside `net`. */
bool octo_cidr_contains(const struct octo_cidr *net, const struct sockaddr *addr);
/* Parses "10.0.0.0/8", "::1", ...; returns NULL or an error phrase. */
const char *octo_cidr_parse(const char *text, bool allow_prefix, struct octo_cidr *out);

struct octo_cfg_opt {
	const char *key;
	enum octo_cfg_type type;
	size_t offset;
	const char *def;         /* default as text, parsed like a value; NULL = none */
	long long min, max;      /* INT/UINT/DURATION bounds (min == max == 0: none) */
	const char *const *enum_values;
	/* CUSTOM: parse `value` into the field at `field`; return NULL or an
	 * error phrase ("is not a valid codec"). `free` releases what it stored. */
	const char *(*set)(void *field, const char *value);
	void (*free)(void *field);
	unsigned flags;
	const char *doc;         /* one line, for documentation tools */
};

#define OCTO_CFG_FIELD(st, f) offsetof(st, f)
#define OCTO_CFG_STR(k, st, f, d, fl) \
	{ .key = (k), .type = OCTO_CFG_T_STR, .offset = offsetof(st, f), .def = (d), .flags = (fl) }
#define OCTO_CFG_INT(k, st, f, d, lo, hi) \
	{ .key = (k), .type = OCTO_CFG_T_INT, .offset = offsetof(st, f), .def = (d), .min = (lo), .max = (hi) }
#define OCTO_CFG_UINT(k, st, f, d, lo, hi) \
	{ .key = (k), .type = OCTO_CFG_T_UINT, .offset = offsetof(st, f), .def = (d), .min = (lo), .max = (hi) }
#define OCTO_CFG_BOOL(k, st, f, d) \
	{ .key = (k), .type = OCTO_CFG_T_BOOL, .offset = offsetof(st, f), .def = (d) }
#define OCTO_CFG_ENUM(k, st, f, d, vals) \
	{ .key = (k), .type = OCTO_CFG_T_ENUM, .offset = offsetof(st, f), .def = (d), .enum_values = (vals) }
#define OCTO_CFG_LIST(k, st, f, d, fl) \
	{ .key = (k), .type = OCTO_CFG_T_LIST, .offset = offsetof(st, f), .def = (d), .flags = (fl) }
#define OCTO_CFG_DURATION(k, st, f, d, lo, hi) \
	{ .key = (k), .type = OCTO_CFG_T_DURATION, .offset = offsetof(st, f), .def = (d), .min = (lo), .max = (hi) }
#define OCTO_CFG_DURATION_MS(k, st, f, d, lo, hi) \
	{ .key = (k), .type = OCTO_CFG_T_DURATION_MS, .offset = offsetof(st, f), .def = (d), .min = (lo), .max = (hi) }
#define OCTO_CFG_ADDR(k, st, f, d, fl) \
	{ .key = (k), .type = OCTO_CFG_T_ADDR, .offset = offsetof(st, f), .def = (d), .flags = (fl) }
#define OCTO_CFG_CUSTOM(k, st, f, d, setter, freer) \
	{ .key = (k), .type = OCTO_CFG_T_CUSTOM, .offset = offsetof(st, f), .def = (d), .set = (setter), .free = (freer) }
#define OCTO_CFG_END { .key = NULL }

/* Fills `out` (a zeroed struct) from `sec` using `opts`: defaults first, then
 * the section's keys (the last occurrence wins, except MULTI lists). Keys for
 * which `ignore(key)` returns true (may be NULL) are skipped silently -- for
 * keys the caller handles itself, like "exten". Unknown keys are warnings
 * naming the closest known keys. Returns 0, or OCTO_ECONFIG when at least one
 * error was added to `diags` (the struct is then still safe to free). */
int octo_cfg_bind(const struct octo_cfg_section *sec, const struct octo_cfg_opt *opts, void *out,
		  bool (*ignore)(const char *key), struct octo_diags *diags);

/* Frees what octo_cfg_bind stored in `out` (strings, lists, custom fields). */
void octo_cfg_unbind(const struct octo_cfg_opt *opts, void *out);

/* Value parsers shared with modules (NULL or an error phrase). */
const char *octo_cfg_parse_bool(const char *text, bool *out);
const char *octo_cfg_parse_duration(const char *text, bool ms, unsigned long long *out);

/* Copies `text` for quoting in a message into buf (OCTO_CFG_CLEAN bytes):
 * control characters become '?', a long text is cut at a character boundary
 * and gets "...". Returns buf. */
#define OCTO_CFG_CLEAN 104
const char *octo_cfg_clean(char *buf, const char *text);

/* Levenshtein distance, used for "did you mean" in the config and the CLI. */
unsigned octo_edit_distance(const char *a, const char *b);

#endif
