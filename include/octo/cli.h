/*
 * cli.h - CLI commands. A module registers a table of commands; each has its
 * words, a summary, a usage line, a handler and an optional completer. The
 * commands disappear with their module.
 *
 * Handlers run on a worker thread (never on the event loop), one command at a
 * time per console. They fill structured output -- a table of rows, key/value
 * pairs, or plain text -- that the core renders as aligned text or, for
 * `octo -rx --json`, as JSON:
 *
 *   {"status":"ok","fields":{"k":"v",...},"columns":[...],"rows":[[...],...],"text":"..."}
 */
#ifndef OCTO_CLI_H
#define OCTO_CLI_H

#include "octo/octo.h"

struct octo_module;
struct octo_cli_out;
struct octo_cli_completion;

enum octo_cli_result {
	OCTO_CLI_OK = 0,
	OCTO_CLI_USAGE = 1,   /* wrong arguments: the core prints the usage line */
	OCTO_CLI_FAIL = 2,    /* the command failed: the handler printed why */
	OCTO_CLI_UNKNOWN = 3, /* no such command (set by the core, never by a handler) */
};

struct octo_cli_cmd {
	const char *words;    /* "sip show peers": fixed words; arguments follow */
	const char *summary;  /* one line for "help" */
	const char *usage;    /* "sip show peer <name>"; NULL means `words` */
	/* argv[0..argc-1] are all the words typed, the fixed ones included. */
	int (*run)(struct octo_cli_out *out, int argc, char **argv);
	/* Offers completions for argument number `pos` (0 = the first word after
	 * the fixed ones) that start with `partial`. May be NULL. */
	void (*complete)(struct octo_cli_completion *c, int pos, const char *partial);
};

/* Registers every command of a table ended by { 0 }; all-or-nothing. */
int octo_cli_register_all(struct octo_module *owner, const struct octo_cli_cmd *cmds);
void octo_cli_unregister_all(const struct octo_cli_cmd *cmds);

/* ---------------------------------------------------------------- output */
/* Free text: each call is one or more whole lines (a newline is added when
 * the text does not end with one). */
void octo_cli_printf(struct octo_cli_out *out, const char *fmt, ...) OCTO_PRINTF(2, 3);

/* A key/value pair, shown as "key: value" aligned, or in JSON "fields". */
void octo_cli_kv(struct octo_cli_out *out, const char *key, const char *fmt, ...)
	OCTO_PRINTF(3, 4);

/* A table: set the columns once (NULL-terminated list), then add rows with
 * exactly that many values (NULL shows as empty). */
void octo_cli_columns(struct octo_cli_out *out, const char *first, ...);
void octo_cli_row(struct octo_cli_out *out, const char *first, ...);
/* The same with arrays. */
void octo_cli_columnsv(struct octo_cli_out *out, const char *const *cols, size_t n);
void octo_cli_rowv(struct octo_cli_out *out, const char *const *vals, size_t n);

/* An error line for a failed command ("cannot unload ...: in use by ..."). */
void octo_cli_error(struct octo_cli_out *out, const char *fmt, ...) OCTO_PRINTF(2, 3);

/* Prints configuration diagnostics: errors as error lines, warnings as
 * "warning: ..." text lines. */
struct octo_diags;
void octo_cli_diags(struct octo_cli_out *out, const struct octo_diags *diags);

/* True when the output will be rendered as JSON (handlers rarely care). */
bool octo_cli_out_json(const struct octo_cli_out *out);

/* The console's own verbosity ("core set verbose N" affects only it). */
void octo_cli_out_set_verbose(struct octo_cli_out *out, int level);

/* ---------------------------------------------------------------- completion */
void octo_cli_complete_add(struct octo_cli_completion *c, const char *candidate);
/* Helpers for common name sources. */
void octo_cli_complete_modules(struct octo_cli_completion *c, int pos, const char *partial);
void octo_cli_complete_registry(struct octo_cli_completion *c, int kind, const char *partial);

/* ---------------------------------------------------------------- core side */
/* Runs one command line as if typed at a console, into `out`. Used by the
 * server and by tests. Returns an octo_cli_result. */
int octo_cli_execute(struct octo_cli_out *out, const char *line);

/* A standalone output buffer (tests, the server). */
struct octo_cli_out *octo_cli_out_alloc(bool json);
/* Renders text or JSON; the string is owned by `out`. */
const char *octo_cli_out_render(struct octo_cli_out *out, int status);
void octo_cli_out_free(struct octo_cli_out *out);

/* Completion of a partial line: fills a newly allocated, NULL-terminated
 * array of candidate words (free each, then the array). */
char **octo_cli_complete_line(const char *line);

/* Starts/stops the control socket server (mode 0660). */
int octo_cli_server_start(const char *path);
void octo_cli_server_stop(void);

#endif
