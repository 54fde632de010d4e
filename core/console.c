/*
 * console.c - the console client of the control socket: `octo -rx CMD`
 * runs one command and exits with its status; `octo -r` is an interactive
 * console with libedit line editing, history in ~/.octo_history, tab
 * completion asked of the daemon, and live log lines printed above the
 * prompt. The wire protocol is in cli_proto.h.
 *
 * The client is single-threaded: while the prompt waits for a key, its
 * character reader polls the socket too, prints log lines above the prompt
 * and has libedit redraw the line being edited. Log frames may arrive in the
 * same read as the end of an answer, so the reader first serves the frames
 * already buffered: poll() only sees what is still in the socket.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <histedit.h>
#include <locale.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <wchar.h>

#include "octo/cli.h"
#include "cli_proto.h"

#define CON_RBUF (OCTO_CLI_FRAME_HDR + OCTO_CLI_FRAME_MAX)
#define CON_HISTORY_SIZE 1000
#define CON_PROMPT "octo> "

struct con {
	int fd;
	unsigned char rbuf[CON_RBUF];
	size_t rlen;
	bool lost;                   /* the daemon went away or spoke nonsense */
	bool log_to_stderr;          /* -rx: keep stdout for the answer */
	bool at_prompt;              /* libedit shows a line being edited */
	struct octo_cli_str payload; /* the last answer frame's payload */
	EditLine *el;
	History *hist;
	char *histfile;
	mbstate_t mbs;
};

/* ---------------------------------------------------------------- socket */

static int con_connect(const char *path)
{
	struct sockaddr_un addr;
	int fd;

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	octo_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int con_send(struct con *c, int type, const void *payload, size_t len)
{
	struct octo_cli_str frame = { 0 };
	size_t off = 0;

	if (len > OCTO_CLI_FRAME_MAX)
		return -1;
	octo_cli_frame_add(&frame, type, payload, len);
	while (off < frame.len) {
		ssize_t n = send(c->fd, frame.s + off, frame.len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			c->lost = true;
			octo_cli_str_free(&frame);
			return -1;
		}
		off += (size_t)n;
	}
	octo_cli_str_free(&frame);
	return 0;
}

/* One read from the socket into the buffer: > 0 bytes, 0 closed, < 0 error. */
static ssize_t con_fill(struct con *c)
{
	ssize_t n;

	if (c->rlen == sizeof(c->rbuf)) {
		/* Complete frames are served before each read and a whole frame
		 * always fits: the daemon is confused. */
		c->lost = true;
		return -1;
	}
	do {
		n = read(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
	} while (n < 0 && errno == EINTR);
	if (n > 0)
		c->rlen += (size_t)n;
	else
		c->lost = true;
	return n;
}

static void con_drop(struct con *c, size_t n)
{
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen -= n;
}

/* Prints one log line, above the prompt when one is shown. */
static void con_print_log(struct con *c, const unsigned char *p, size_t len)
{
	struct octo_cli_str line = { 0 };
	FILE *f = c->log_to_stderr ? stderr : stdout;

	octo_cli_str_add_clean(&line, (const char *)p, len, true);
	if (c->at_prompt)
		fputs("\r\033[K", f); /* wipe the prompt line; redrawn below */
	fputs(line.s, f);
	fputc('\n', f);
	fflush(f);
	octo_cli_str_free(&line);
}

/* Serves the complete frames in the buffer: prints LOG frames; the first
 * other frame is copied into c->payload and its type returned. 0 when no
 * answer frame is there yet; -1 when the stream is malformed. */
static int con_take(struct con *c, bool *printed)
{
	for (;;) {
		const unsigned char *p;
		size_t len;
		int type;
		long n = octo_cli_frame_decode(c->rbuf, c->rlen, false, &type, &p, &len);

		if (n < 0) {
			c->lost = true;
			return -1;
		}
		if (n == 0)
			return 0;
		if (type == OCTO_CLI_F_LOG) {
			con_print_log(c, p, len);
			if (printed)
				*printed = true;
			con_drop(c, (size_t)n);
			continue;
		}
		c->payload.len = 0;
		octo_cli_str_add(&c->payload, p, len);
		con_drop(c, (size_t)n);
		return type;
	}
}

/* Waits for the next answer frame (printing log lines meanwhile). Returns its
 * type, or -1 when the connection is lost. */
static int con_answer(struct con *c)
{
	for (;;) {
		int type = con_take(c, NULL);

		if (type != 0)
			return type;
		if (con_fill(c) <= 0)
			return -1;
	}
}

/* Sends a command and prints its answer; returns the status, or -1. */
static int con_command(struct con *c, const char *line, bool json)
{
	size_t len = strlen(line);

	if (len > OCTO_CLI_FRAME_MAX) {
		fprintf(stderr, "The command is too long (over %u bytes)\n", OCTO_CLI_FRAME_MAX);
		return OCTO_CLI_USAGE;
	}
	if (con_send(c, json ? OCTO_CLI_F_COMMAND_JSON : OCTO_CLI_F_COMMAND, line, len) != 0)
		return -1;
	for (;;) {
		int type = con_answer(c);

		if (type < 0)
			return -1;
		if (type == OCTO_CLI_F_OUTPUT) {
			fwrite(c->payload.s, 1, c->payload.len, stdout);
		} else if (type == OCTO_CLI_F_END) {
			fflush(stdout);
			return (unsigned char)c->payload.s[0];
		}
		/* Anything else (a stray completion list) is ignored. */
	}
}

static void con_lost(struct con *c)
{
	fflush(stdout);
	fputs("Lost the connection to octo\n", stderr);
}

/* ---------------------------------------------------------------- completion */

/* Appends `s` escaped so that the tokenizer reads it back as one word. */
static void con_add_escaped(struct octo_cli_str *str, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '"' || s[i] == '\\')
			octo_cli_str_add(str, "\\", 1);
		octo_cli_str_add(str, s + i, 1);
	}
}

/* Byte offset where the last word of `line` starts, as the tokenizer sees it
 * (len when the line ends with a blank). */
static size_t con_word_start(const char *line, size_t len)
{
	size_t start = 0;
	bool quoted = false;

	for (size_t i = 0; i < len; i++) {
		if (line[i] == '\\') {
			i++;
		} else if (line[i] == '"') {
			quoted = !quoted;
		} else if (!quoted && (line[i] == ' ' || line[i] == '\t')) {
			start = i + 1;
		}
	}
	return start;
}

static int con_chars(const char *s, size_t len)
{
	int n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* Longest common prefix of the candidates (case-insensitive, cut on a
 * character boundary), in the first candidate's spelling. */
static size_t con_common(char **cands)
{
	size_t n = strlen(cands[0]);

	for (size_t i = 1; cands[i]; i++) {
		size_t k = 0;

		while (k < n && cands[i][k] &&
		       tolower((unsigned char)cands[i][k]) == tolower((unsigned char)cands[0][k]))
			k++;
		n = k;
	}
	while (n > 0 && ((unsigned char)cands[0][n] & 0xc0) == 0x80)
		n--;
	return n;
}

static void con_list(char **cands)
{
	struct winsize ws;
	size_t width = 0, count = 0, cols, rows;

	for (; cands[count]; count++) {
		size_t w = (size_t)con_chars(cands[count], strlen(cands[count]));

		if (w > width)
			width = w;
	}
	width += 2;
	cols = 80;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		cols = ws.ws_col;
	cols = cols / width ? cols / width : 1;
	rows = (count + cols - 1) / cols;
	fputc('\n', stdout);
	for (size_t r = 0; r < rows; r++) {
		for (size_t k = 0; k < cols; k++) {
			size_t i = k * rows + r;
			struct octo_cli_str clean = { 0 };

			if (i >= count)
				break;
			octo_cli_str_add_clean(&clean, cands[i], strlen(cands[i]), false);
			fputs(clean.s, stdout);
			if (k + 1 < cols && i + rows < count) {
				int pad = (int)width - con_chars(clean.s, clean.len);

				if (pad < 1)
					pad = 1;
				fprintf(stdout, "%*s", pad, "");
			}
			octo_cli_str_free(&clean);
		}
		fputc('\n', stdout);
	}
	fflush(stdout);
}

static unsigned char con_complete(EditLine *el, int ch)
{
	struct con *c = NULL;
	const LineInfo *li = el_line(el);
	size_t len = (size_t)(li->cursor - li->buffer), start, plen;
	struct octo_cli_str ins = { 0 };
	unsigned char rc = CC_REFRESH;
	char **cands, *line;
	int type;

	el_get(el, EL_CLIENTDATA, &c);
	if (len > OCTO_CLI_FRAME_MAX)
		return CC_REFRESH_BEEP;
	line = strndup(li->buffer, len);
	if (!line)
		return CC_ERROR;
	if (con_send(c, OCTO_CLI_F_COMPLETE, line, len) != 0) {
		free(line);
		return CC_EOF;
	}
	do {
		type = con_answer(c);
	} while (type > 0 && type != OCTO_CLI_F_COMPLETIONS);
	if (type < 0) {
		free(line);
		return CC_EOF;
	}
	cands = octo_cli_completions_parse((const unsigned char *)c->payload.s, c->payload.len);
	start = con_word_start(line, len);
	{
		/* The partial word as the daemon read it (quotes and escapes undone). */
		char **argv = NULL;
		const char *err;
		bool open = false;
		int argc = 0;

		plen = 0;
		if (octo_cli_tokenize(line, OCTO_CLI_TOK_PARTIAL, &argc, &argv, &open, &err) == 0 &&
		    open && argc > 0)
			plen = strlen(argv[argc - 1]);
		free(argv);
	}
	if (!cands[0]) {
		rc = CC_REFRESH_BEEP;
	} else if (!cands[1]) {
		con_add_escaped(&ins, cands[0], strlen(cands[0]));
		octo_cli_str_add(&ins, " ", 1);
	} else {
		size_t common = con_common(cands);

		if (common > plen)
			con_add_escaped(&ins, cands[0], common);
		else
			con_list(cands);
		rc = common > plen ? CC_REFRESH : CC_REDISPLAY;
	}
	if (ins.len) {
		el_deletestr(el, con_chars(line + start, len - start));
		el_insertstr(el, ins.s);
	}
	octo_cli_str_free(&ins);
	for (size_t i = 0; cands[i]; i++)
		free(cands[i]);
	free(cands);
	free(line);
	return rc;
}

/* ---------------------------------------------------------------- line editing */

static const char *con_prompt(EditLine *el)
{
	return CON_PROMPT;
}

/* Serves every complete frame already in the buffer while no answer is
 * awaited: prints the log lines and drops anything else (a stray answer
 * frame: nobody waits for it). 0, or -1 when the stream is malformed. */
static int con_serve_buffered(struct con *c, bool *printed)
{
	int type;

	do {
		type = con_take(c, printed);
	} while (type > 0);
	return type;
}

/* libedit's character reader: waits on the keyboard and on the socket, so
 * that log lines show up while the prompt waits. */
static int con_getc(EditLine *el, wchar_t *wc)
{
	struct con *c = NULL;

	el_get(el, EL_CLIENTDATA, &c);
	for (;;) {
		struct pollfd pfd[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
					 { .fd = c->fd, .events = POLLIN } };
		bool printed = false;

		/* Frames may already wait in the buffer, where poll() cannot see
		 * them: log lines read together with the end of the last answer
		 * (or of a completion list), or just read below. Print them first. */
		if (con_serve_buffered(c, &printed) < 0)
			return 0;
		if (printed)
			el_set(el, EL_REFRESH);
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pfd[1].revents) {
			if (con_fill(c) <= 0)
				return 0; /* c->lost is set */
			continue;         /* served at the top of the loop */
		}
		if (pfd[0].revents) {
			char byte;
			ssize_t n = read(STDIN_FILENO, &byte, 1);
			size_t r;

			if (n == 0)
				return 0;
			if (n < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				return -1;
			}
			r = mbrtowc(wc, &byte, 1, &c->mbs);
			if (r == (size_t)-2)
				continue; /* more bytes of this character to come */
			if (r == (size_t)-1) {
				memset(&c->mbs, 0, sizeof(c->mbs));
				*wc = (unsigned char)byte;
			}
			return 1;
		}
	}
}

static char *con_history_file(void)
{
	const char *home = getenv("HOME");
	struct octo_cli_str path = { 0 };
	int fd;

	if (!home || !*home)
		return NULL;
	octo_cli_str_addf(&path, "%s/.octo_history", home);
	/* Commands may hold secrets: the file is the user's alone. */
	fd = open(path.s, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	return path.s;
}

static bool con_is_exit(const char *line)
{
	return strcasecmp(line, "exit") == 0 || strcasecmp(line, "quit") == 0;
}

/* Trims blanks and the newline in place; returns the start. */
static char *con_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static int con_interactive(struct con *c)
{
	HistEvent ev;
	int status = 0;

	c->el = el_init("octo", stdin, stdout, stderr);
	c->hist = history_init();
	if (!c->el || !c->hist) {
		fputs("Cannot start line editing\n", stderr);
		status = 1;
		goto out;
	}
	history(c->hist, &ev, H_SETSIZE, CON_HISTORY_SIZE);
	history(c->hist, &ev, H_SETUNIQUE, 1);
	c->histfile = con_history_file();
	if (c->histfile)
		history(c->hist, &ev, H_LOAD, c->histfile);
	el_set(c->el, EL_CLIENTDATA, c);
	el_set(c->el, EL_EDITOR, "emacs");
	el_set(c->el, EL_SIGNAL, 1);
	el_set(c->el, EL_PROMPT, con_prompt);
	el_set(c->el, EL_HIST, history, c->hist);
	/* The wide form: the narrow one leaks copies of both strings. */
	el_wset(c->el, EL_ADDFN, L"octo-complete", L"Complete the word at the cursor",
		con_complete);
	el_set(c->el, EL_BIND, "^I", "octo-complete", NULL);
	el_set(c->el, EL_GETCFN, con_getc);
	el_source(c->el, NULL);

	for (;;) {
		const char *got;
		char *line;
		int count = 0, rc;

		c->at_prompt = true;
		got = el_gets(c->el, &count);
		c->at_prompt = false;
		if (!got || count <= 0 || c->lost) {
			/* Ctrl-D, or the daemon went away while the prompt waited. */
			fputc('\n', stdout);
			break;
		}
		line = strdup(got);
		if (!line)
			break;
		got = con_trim(line);
		if (!*got) {
			free(line);
			continue;
		}
		history(c->hist, &ev, H_ENTER, got);
		if (c->histfile)
			history(c->hist, &ev, H_SAVE, c->histfile);
		if (con_is_exit(got)) {
			free(line);
			break;
		}
		rc = con_command(c, got, false);
		free(line);
		if (rc < 0)
			break;
	}
	if (c->lost) {
		con_lost(c);
		status = 1;
	}
out:
	if (c->el)
		el_end(c->el);
	if (c->hist)
		history_end(c->hist);
	free(c->histfile);
	return status;
}

/* Commands read from a pipe or a file: no prompt, no editing. */
static int con_batch(struct con *c)
{
	char *buf = NULL;
	size_t cap = 0;
	int status = 0;

	while (getline(&buf, &cap, stdin) > 0) {
		char *line = con_trim(buf);
		int rc;

		if (!*line)
			continue;
		if (con_is_exit(line))
			break;
		rc = con_command(c, line, false);
		if (rc < 0) {
			con_lost(c);
			status = 1;
			break;
		}
		if (rc != OCTO_CLI_OK)
			status = 1;
	}
	free(buf);
	return status;
}

int octo_console_run(const char *socket_path, const char *command, bool json, int verbose)
{
	struct con *c;
	char vbuf[4];
	int status;

	if (!socket_path || !*socket_path) {
		fputs("Unable to connect to octo: no control socket path given\n", stderr);
		return 2;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return 2;
	c->fd = con_connect(socket_path);
	if (c->fd < 0) {
		fprintf(stderr, "Unable to connect to octo at %s: %s (is octo running?)\n",
			socket_path, strerror(errno));
		free(c);
		return 2;
	}
	if (command) {
		/* No VERBOSE frame: a one-shot command gets no log lines, so that
		 * scripts read only the answer. */
		c->log_to_stderr = true;
		status = con_command(c, command, json);
		if (status < 0) {
			con_lost(c);
			status = 1;
		} else {
			status = status == OCTO_CLI_OK ? 0 : 1;
		}
	} else {
		setlocale(LC_CTYPE, "");
		con_send(c, OCTO_CLI_F_VERBOSE, vbuf, octo_cli_verbose_payload(vbuf, verbose));
		status = isatty(STDIN_FILENO) ? con_interactive(c) : con_batch(c);
	}
	close(c->fd);
	octo_cli_str_free(&c->payload);
	free(c);
	return status;
}
