/*
 * cli_proto.h - private to the core: the wire protocol between the console
 * (`octo -r`, `octo -rx`) and the daemon's control socket, plus the CLI
 * pieces that the server, the console and the unit tests share.
 *
 * WIRE PROTOCOL (unix stream socket, both directions)
 *
 *   A frame is 1 type byte, a 4-byte big-endian payload length, then the
 *   payload: 0 to OCTO_CLI_FRAME_MAX (65536) bytes.
 *
 *   client -> server
 *     'c' COMMAND       a command line (no NUL byte); the answer is rendered as text
 *     'j' COMMAND_JSON  the same, answer rendered as JSON
 *     't' COMPLETE      a partial line (up to the cursor, no NUL byte) to complete
 *     'v' VERBOSE       ASCII decimal -1..99: which log lines this console
 *                       wants (-1: none, the default; N >= 0: errors, warnings,
 *                       notices, verbose lines up to N, and debug lines)
 *   server -> client
 *     'O' OUTPUT        a chunk of the rendered answer (write it out as is)
 *     'E' END           end of the answer: 1 byte, the status 0..3
 *                       (0 ok, 1 usage, 2 failed, 3 unknown command)
 *     'L' LOG           one log line, without a trailing newline
 *     'M' COMPLETIONS   the candidates for the word at the cursor, each
 *                       ended by a NUL byte, sorted (empty payload: none)
 *
 *   A COMMAND or COMMAND_JSON gets zero or more OUTPUT frames, then one END;
 *   a COMPLETE gets one COMPLETIONS; VERBOSE gets no answer. Requests are
 *   served one at a time, in order. LOG frames may come at any time, also
 *   between the frames of an answer. A frame with an unknown type, a length
 *   over the maximum, or a payload that breaks the rules above is malformed:
 *   the server closes that connection and nothing else.
 */
#ifndef OCTO_CLI_PROTO_H
#define OCTO_CLI_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "octo/cli.h"

#define OCTO_CLI_FRAME_HDR 5
#define OCTO_CLI_FRAME_MAX 65536u

enum octo_cli_frame_type {
	OCTO_CLI_F_COMMAND = 'c',
	OCTO_CLI_F_COMMAND_JSON = 'j',
	OCTO_CLI_F_COMPLETE = 't',
	OCTO_CLI_F_VERBOSE = 'v',
	OCTO_CLI_F_OUTPUT = 'O',
	OCTO_CLI_F_END = 'E',
	OCTO_CLI_F_LOG = 'L',
	OCTO_CLI_F_COMPLETIONS = 'M',
};

/* Limits of a command line (bytes) and of its number of words. */
#define OCTO_CLI_LINE_MAX 65536u
#define OCTO_CLI_WORDS_MAX 256

/* ---------------------------------------------------------------- strings
 * A growing byte string, always NUL-terminated when s != NULL. Zero-init it.
 * Allocation failure aborts the process, like octo_strdup. */
struct octo_cli_str {
	char *s;
	size_t len;
	size_t cap;
};
void octo_cli_str_add(struct octo_cli_str *str, const void *data, size_t len);
void octo_cli_str_adds(struct octo_cli_str *str, const char *s);
void octo_cli_str_addf(struct octo_cli_str *str, const char *fmt, ...) OCTO_PRINTF(2, 3);
void octo_cli_str_free(struct octo_cli_str *str);

/* Appends `s` (len bytes) made safe for a terminal: invalid UTF-8 becomes
 * U+FFFD, control characters become '?', except tab and newline when
 * `keep_newlines` (otherwise they become a space). */
void octo_cli_str_add_clean(struct octo_cli_str *str, const char *s, size_t len,
			    bool keep_newlines);

/* ---------------------------------------------------------------- frames */
/* Writes a frame header for `type` and a payload of `len` bytes (<= the max). */
void octo_cli_frame_header(unsigned char hdr[OCTO_CLI_FRAME_HDR], int type, size_t len);

/* Appends one whole frame to `str`; payloads over the maximum are cut. */
void octo_cli_frame_add(struct octo_cli_str *str, int type, const void *payload, size_t len);

/* Decodes the frame at the start of buf[0..avail). `from_client` selects the
 * types accepted (client -> server, or server -> client). Returns the frame's
 * total size (> 0) and sets *type, *payload (points into buf) and *len; 0
 * when more bytes are needed; OCTO_EINVAL when the frame is malformed (the
 * connection must then be closed). */
long octo_cli_frame_decode(const unsigned char *buf, size_t avail, bool from_client, int *type,
			   const unsigned char **payload, size_t *len);

/* The payload of a VERBOSE frame for `level` (clamped to -1..99), into buf. */
size_t octo_cli_verbose_payload(char buf[4], int level);
/* Parses a VERBOSE payload (already checked by decode). */
int octo_cli_verbose_parse(const unsigned char *payload, size_t len);

/* Splits a COMPLETIONS payload into a NULL-terminated array of new strings
 * (free each, then the array). Never NULL. */
char **octo_cli_completions_parse(const unsigned char *payload, size_t len);

/* ---------------------------------------------------------------- tokenizer */
enum octo_cli_tok_flags {
	/* Completion mode: an unterminated quote or a final backslash is not an
	 * error, the last word simply stays open. */
	OCTO_CLI_TOK_PARTIAL = 1 << 0,
};

/* Splits a line into words: blanks separate words, double quotes group,
 * a backslash takes the next character literally. On success returns 0,
 * *argv is one allocation (free it with free()) holding argc words and a
 * NULL; *open (may be NULL) tells whether the last word runs to the end of
 * the line. On error returns OCTO_EINVAL and *err is a static message
 * ("unterminated quote", ...). */
int octo_cli_tokenize(const char *line, unsigned flags, int *argc, char ***argv, bool *open,
		      const char **err);

/* ---------------------------------------------------------------- output */
/* The server hooks "core set verbose N" of a console through this. */
void octo_cli_out_set_verbose_hook(struct octo_cli_out *out, void (*hook)(void *data, int level),
				   void *data);
/* The last level given to octo_cli_out_set_verbose, or -1. */
int octo_cli_out_verbose(const struct octo_cli_out *out);

/* "ok", "usage", "fail", "unknown". */
const char *octo_cli_status_name(int status);

/* Appends `s` as a JSON string literal (quotes included). */
void octo_cli_json_string(struct octo_cli_str *str, const char *s, size_t len);

/* ---------------------------------------------------------------- core */
/* Registers the built-in commands ("help", "core set verbose") owned by the
 * core; 0 or a negative OCTO_E*. */
int octo_cli_core_init(void);
void octo_cli_core_shutdown(void);

/* Names of the loaded modules: a malloc'ed array of malloc'ed names that the
 * caller frees. Provided by the loader. */
extern size_t octo_loader_module_names(char ***names);

/* ---------------------------------------------------------------- console */
/* The client side, for main.c. `command` NULL: an interactive console (line
 * editing, history, completion, live log lines at verbosity `verbose`, e.g.
 * 3); with stdin not a terminal, commands are read line by line without a
 * prompt. Otherwise runs one command and prints its answer (JSON when
 * `json`) and no log line (`verbose` is then unused). Returns the process
 * exit status: 0 ok, 1 failed/usage/unknown (or the connection was lost),
 * 2 cannot connect. */
int octo_console_run(const char *socket_path, const char *command, bool json, int verbose);

#endif
