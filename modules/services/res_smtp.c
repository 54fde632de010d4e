/*
 * res_smtp.c - e-mail for the PBX: the service "mail" version 1
 * (include/octo/mail.h), a persistent queue in the store (octo.db) and an
 * SMTP client on libcurl, configured by smtp.conf, with the CLI:
 *
 *   mail show queue                         the queued messages and counters
 *   mail show settings                      smtp.conf as running
 *   mail send test <to>[,<to>...] [<file>] [subject <text>]
 *                                           queue a test message (the file
 *                                           must lie in the data folder)
 *   mail flush                              retry every queued message now
 *   mail delete <id>                        drop a queued message
 *
 * DESIGN
 *  - send() (any thread but the event loop) checks and cleans the message,
 *    copies the attachments into DATA/mail/spool under unique names, then
 *    commits one row of smtp_queue and its rows of smtp_attachment in one
 *    store transaction and wakes the sender. Nothing on the caller's thread
 *    touches the network.
 *  - One sender thread delivers: it takes the due message with the earliest
 *    next_attempt, builds it with curl_mime (the text in quoted-printable,
 *    attachments in base64) and sends it on a fresh easy handle
 *    (CURLOPT_NOSIGNAL, connect and total time-outs). Delivered: the rows
 *    go, then the spool files. Failed: the attempt, the error and the next
 *    attempt (smtp.conf `retry`) are recorded, or the message is dropped
 *    with a WARNING when it is past `max_age` or was refused for good (5xx
 *    other than authentication). When the server cannot be reached at all,
 *    every other due message counts the same failed attempt instead of
 *    waiting for its own time-out. With nothing due the thread sleeps on a
 *    condition variable until the next attempt or until send(), `mail
 *    flush`, a reload or unload wakes it. One message at a time: a PBX
 *    sends little mail, and one connection is kind to the server.
 *  - Recipients are judged one by one from the server's replies to RCPT TO
 *    (libcurl's debug callback; RCPT failures allowed while one recipient
 *    is accepted): a recipient refused with 4xx stays queued alone and is
 *    retried, one refused with 5xx is dropped with a WARNING, the others
 *    get the message.
 *  - Date: and Message-ID:, which libcurl does not add, are made when the
 *    message is queued and stored, so every retry sends the same message.
 *  - The running smtp.conf is a refcounted snapshot swapped under smtp_lock;
 *    send() and the sender take a reference for the time they need it.
 *  - Unload sets a stop flag that the transfer's progress callback checks,
 *    so unloading never waits for a slow server; the interrupted attempt is
 *    not counted.
 *  - Resident (OCTO_MOD_RESIDENT) because of libcurl's global state: the
 *    core does not use libcurl, so curl_global_init runs here once (the
 *    first load, on the thread that loads modules) and is never undone;
 *    the code must therefore never be unmapped.
 *  - Spool files without a committed row (a crash between the copy and the
 *    commit) are removed at load.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "octo/cli.h"
#include "octo/config.h"
#include "octo/log.h"
#include "octo/mail.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/store.h"

#define SMTP_FILE "smtp.conf"
#define SMTP_OWNER "res_smtp"    /* store schema owner */
#define SMTP_SPOOL "mail/spool"  /* under the data folder */
#define SMTP_RETRY_MAX 16        /* steps of the retry schedule */
#define SMTP_FROM_NAME_MAX 100   /* bytes of a display name */
#define SMTP_FILENAME_MAX 100    /* characters of an attachment name */
#define SMTP_ERR_MAX 300         /* bytes of an error kept in the queue */
#define SMTP_IDLE_MS 60000       /* the sender looks at the queue at least this often */
#define SMTP_STORE_RETRY_MS 5000 /* ...and this often while the store fails */
#define SMTP_SHOW_MAX 1000       /* rows listed by "mail show queue" */
#define SMTP_WORD_BYTES 42       /* UTF-8 bytes per RFC 2047 encoded word */

/* ---------------------------------------------------------------- configuration */
enum smtp_security { SMTP_SEC_NONE, SMTP_SEC_STARTTLS, SMTP_SEC_TLS };
static const char *const smtp_security_names[] = { "none", "starttls", "tls", NULL };

struct smtp_retry {
	unsigned count;
	unsigned delay[SMTP_RETRY_MAX]; /* seconds */
};

/* What octo_cfg_bind fills from [general]. */
struct smtp_cfg {
	char *server;
	unsigned port; /* 0: by security (25, 587, 465) */
	int security;
	bool tls_verify;
	char *ca_file;
	char *username;
	char *password;
	char *from;
	char *from_name;
	char *helo;
	unsigned connect_timeout; /* seconds */
	unsigned timeout;         /* seconds */
	struct smtp_retry retry;
	unsigned max_age; /* seconds */
	unsigned max_queue;
	unsigned long long max_size; /* bytes of attachments per message */
};

/* A snapshot of smtp.conf (refcounted object). */
struct smtp_conf {
	struct smtp_cfg cfg;
	unsigned port; /* the port in use */
	char *file;    /* where [general] is: smtp.conf:12 */
};

static const char *smtp_set_server(void *field, const char *value);
static const char *smtp_set_address(void *field, const char *value);
static const char *smtp_set_name(void *field, const char *value);
static const char *smtp_set_helo(void *field, const char *value);
static const char *smtp_set_retry(void *field, const char *value);
static const char *smtp_set_size(void *field, const char *value);
static void smtp_free_str(void *field);

static const struct octo_cfg_opt smtp_opts[] = {
	OCTO_CFG_CUSTOM("server", struct smtp_cfg, server, NULL, smtp_set_server, smtp_free_str),
	OCTO_CFG_UINT("port", struct smtp_cfg, port, "0", 0, 65535),
	OCTO_CFG_ENUM("security", struct smtp_cfg, security, "none", smtp_security_names),
	OCTO_CFG_BOOL("tls_verify", struct smtp_cfg, tls_verify, "yes"),
	OCTO_CFG_STR("ca_file", struct smtp_cfg, ca_file, NULL, 0),
	OCTO_CFG_STR("username", struct smtp_cfg, username, NULL, 0),
	OCTO_CFG_STR("password", struct smtp_cfg, password, NULL, 0),
	OCTO_CFG_CUSTOM("from", struct smtp_cfg, from, NULL, smtp_set_address, smtp_free_str),
	OCTO_CFG_CUSTOM("from_name", struct smtp_cfg, from_name, "Octo PBX", smtp_set_name,
			smtp_free_str),
	OCTO_CFG_CUSTOM("helo", struct smtp_cfg, helo, NULL, smtp_set_helo, smtp_free_str),
	OCTO_CFG_DURATION("connect_timeout", struct smtp_cfg, connect_timeout, "10s", 1, 300),
	OCTO_CFG_DURATION("timeout", struct smtp_cfg, timeout, "2m", 1, 3600),
	OCTO_CFG_CUSTOM("retry", struct smtp_cfg, retry, "1m, 5m, 30m, 2h", smtp_set_retry, NULL),
	OCTO_CFG_DURATION("max_age", struct smtp_cfg, max_age, "2d", 60, 30 * 86400),
	OCTO_CFG_UINT("max_queue", struct smtp_cfg, max_queue, "10000", 1, 1000000),
	OCTO_CFG_CUSTOM("max_attachments_size", struct smtp_cfg, max_size, "20M", smtp_set_size,
			NULL),
	OCTO_CFG_END
};

/* ---------------------------------------------------------------- state */
static pthread_mutex_t smtp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t smtp_cond;       /* CLOCK_MONOTONIC; wakes the sender */
static struct smtp_conf *smtp_current; /* guarded by smtp_lock */
static bool smtp_wake;                 /* guarded by smtp_lock */
static bool smtp_stop;                 /* guarded by smtp_lock */
static atomic_bool smtp_stopping;      /* read by the transfer callback */
static pthread_t smtp_thread;
static bool smtp_thread_running;     /* load/unload only */
static char *smtp_spool;             /* DATA/mail/spool; load/unload only */
static atomic_llong smtp_sending_id; /* the message on the wire, 0: none */
static atomic_ullong smtp_stat_sent, smtp_stat_failed, smtp_stat_dropped;
/* Delivered messages whose removal from the store failed: never sent twice.
 * Sender thread only. */
static int64_t smtp_unremoved[16];
static size_t smtp_unremoved_count;
static pthread_once_t smtp_curl_once = PTHREAD_ONCE_INIT;
static CURLcode smtp_curl_rc = CURLE_FAILED_INIT;

/* ---------------------------------------------------------------- string builder */
struct smtp_buf {
	char *p;
	size_t len, cap;
};

static void smtp_buf_add(struct smtp_buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			abort(); /* like octo_strdup: out of memory is fatal */
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void smtp_buf_str(struct smtp_buf *b, const char *s)
{
	smtp_buf_add(b, s, strlen(s));
}

static void smtp_buf_printf(struct smtp_buf *b, const char *fmt, ...) OCTO_PRINTF(2, 3);
static void smtp_buf_printf(struct smtp_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		smtp_buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Takes the string (never NULL: "" when empty). */
static char *smtp_buf_take(struct smtp_buf *b)
{
	char *p = b->p ? b->p : octo_strdup("");

	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

/* ---------------------------------------------------------------- text helpers */

/* Length of the valid UTF-8 sequence that starts at s (1..4), or 0. Stops at
 * the terminating NUL, which never continues a sequence. */
static size_t smtp_utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0; /* overlong, surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
			return 0; /* overlong, beyond U+10FFFF */
		return 4;
	}
	return 0;
}

/*
 * A clean copy of `in` (NULL: ""): bytes that are not UTF-8 become '?'; with
 * `one_line`, control characters become spaces. Cut at a character boundary
 * to at most `max` bytes.
 */
static char *smtp_clean_text(const char *in, size_t max, bool one_line)
{
	const unsigned char *s = (const unsigned char *)(in ? in : "");
	struct smtp_buf b = { 0 };

	while (*s) {
		size_t n = smtp_utf8_len(s);
		char c;

		if (n == 0) {
			c = '?';
			n = 1;
		} else if (n == 1) {
			c = (char)*s;
			if (one_line && (*s < 0x20 || *s == 0x7f))
				c = ' ';
		} else {
			if (b.len + n > max)
				break;
			smtp_buf_add(&b, (const char *)s, n);
			s += n;
			continue;
		}
		if (b.len + 1 > max)
			break;
		smtp_buf_add(&b, &c, 1);
		s += n;
	}
	return smtp_buf_take(&b);
}

/* A copy of `text` safe to show in a log line or a queue column: printable
 * ASCII and UTF-8 kept, the rest '?', at most `max` bytes. */
static char *smtp_clean_line(const char *text, size_t max)
{
	return smtp_clean_text(text, max, true);
}

static bool smtp_is_domain(const char *d, size_t len)
{
	if (len == 0 || len > 253 || d[0] == '.' || d[0] == '-' || d[len - 1] == '.' ||
	    d[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = d[i];

		if (!(isalnum((unsigned char)c) || c == '-' || c == '.'))
			return false;
		if (c == '.' && d[i + 1] == '.')
			return false;
	}
	return true;
}

/* A plain address "local@domain": ASCII, no blanks, no display name, no
 * characters that would need quoting on the SMTP command line. */
static bool smtp_is_address(const char *a)
{
	const char *at = a ? strchr(a, '@') : NULL;
	size_t len;

	if (!at || strchr(at + 1, '@') || at == a || at - a > 64)
		return false;
	len = strlen(a);
	if (len > 254)
		return false;
	for (const char *s = a; s < at; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f || strchr("<>()[]\\,;:\"", c))
			return false;
	}
	if (a[0] == '.' || at[-1] == '.' || strstr(a, ".."))
		return false;
	return smtp_is_domain(at + 1, strlen(at + 1));
}

/* A host name, an IPv4 address or an IPv6 address (without brackets). */
static bool smtp_is_host(const char *h)
{
	size_t len = strlen(h);

	if (strchr(h, ':')) {
		if (len > 45)
			return false;
		for (const char *s = h; *s; s++)
			if (!(isxdigit((unsigned char)*s) || *s == ':' || *s == '.'))
				return false;
		return true;
	}
	return smtp_is_domain(h, len);
}

static bool smtp_is_ascii_plain(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static const char smtp_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void smtp_base64(struct smtp_buf *b, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		char out[4];

		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		out[0] = smtp_b64[(v >> 18) & 63];
		out[1] = smtp_b64[(v >> 12) & 63];
		out[2] = i + 1 < n ? smtp_b64[(v >> 6) & 63] : '=';
		out[3] = i + 2 < n ? smtp_b64[v & 63] : '=';
		smtp_buf_add(b, out, 4);
	}
}

/*
 * Appends `text` (clean UTF-8) as RFC 2047 encoded words "=?UTF-8?B?...?=",
 * each holding whole characters of at most SMTP_WORD_BYTES bytes (so a word
 * stays under 75 characters), separated by a folding "\r\n ".
 */
static void smtp_encode_words(struct smtp_buf *b, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	bool first = true;

	while (*s) {
		size_t n = 0;

		while (s[n]) {
			size_t c = smtp_utf8_len(s + n);

			if (c == 0)
				c = 1; /* never happens on clean text */
			if (n + c > SMTP_WORD_BYTES && n > 0)
				break;
			n += c;
		}
		if (!first)
			smtp_buf_str(b, "\r\n ");
		first = false;
		smtp_buf_str(b, "=?UTF-8?B?");
		smtp_base64(b, s, n);
		smtp_buf_str(b, "?=");
		s += n;
	}
}

/*
 * Appends an unstructured header value (Subject) to a line already `col`
 * characters long: plain ASCII as it is, folded before the blank of a word
 * that would take the line past 78 characters (a longer word stays whole:
 * lines may reach 998); anything else as encoded words.
 */
static void smtp_header_text(struct smtp_buf *b, size_t col, const char *text)
{
	const char *s = text;

	if (!smtp_is_ascii_plain(text) || strstr(text, "=?")) {
		smtp_encode_words(b, text);
		return;
	}
	while (*s) {
		size_t n = 1;

		while (s[n] && s[n] != ' ')
			n++;
		if (s != text && *s == ' ' && n > 1 && col + n > 78) {
			smtp_buf_str(b, "\r\n");
			col = 0;
		}
		smtp_buf_add(b, s, n);
		col += n;
		s += n;
	}
}

/* Appends a display name: a quoted string when plain ASCII, otherwise encoded
 * words (which must not be quoted). */
static void smtp_header_phrase(struct smtp_buf *b, const char *name)
{
	if (smtp_is_ascii_plain(name) && !strstr(name, "=?")) {
		smtp_buf_str(b, "\"");
		for (const char *s = name; *s; s++) {
			if (*s == '"' || *s == '\\')
				smtp_buf_str(b, "\\");
			smtp_buf_add(b, s, 1);
		}
		smtp_buf_str(b, "\"");
	} else {
		smtp_encode_words(b, name);
	}
}

/* RFC 5322 date of `t` in local time: "Thu, 26 Nov 2026 10:00:00 +0100". */
static void smtp_format_date(char *buf, size_t size, time_t t)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;

	if (!localtime_r(&t, &tm)) {
		snprintf(buf, size, "Thu, 1 Jan 1970 00:00:00 +0000");
		return;
	}
	off = tm.tm_gmtoff / 60;
	snprintf(buf, size, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday % 7],
		 tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
		 tm.tm_sec, off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

/* Local time for the CLI: "2026-11-26 10:00:00". */
static void smtp_format_local(char *buf, size_t size, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, size, "%" PRId64, t);
}

/* "1m, 5m, 30m, 2h" style text of a duration in seconds. */
static void smtp_format_duration(char *buf, size_t size, unsigned s)
{
	if (s && s % 86400 == 0)
		snprintf(buf, size, "%ud", s / 86400);
	else if (s && s % 3600 == 0)
		snprintf(buf, size, "%uh", s / 3600);
	else if (s && s % 60 == 0)
		snprintf(buf, size, "%um", s / 60);
	else
		snprintf(buf, size, "%us", s);
}

static uint64_t smtp_random64(void)
{
	static atomic_uint_fast64_t counter;
	uint64_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = octo_wall_us() ^ ((uint64_t)getpid() << 40) ^
		    (atomic_fetch_add(&counter, 1) << 20);
	return r;
}

/* "<20261126100000.1f2e3d4c5b6a7980@example.com>" for a message from `from`. */
static void smtp_make_message_id(char *buf, size_t size, time_t t, const char *from)
{
	const char *at = strrchr(from, '@');
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		memset(&tm, 0, sizeof(tm));
	snprintf(buf, size, "<%04d%02d%02d%02d%02d%02d.%016" PRIx64 "@%s>", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, smtp_random64(),
		 at ? at + 1 : "localhost");
}

/* An attachment name the recipient may see: printable ASCII without quotes,
 * backslashes or slashes (each other character becomes one '_'). */
static char *smtp_clean_filename(const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	struct smtp_buf b = { 0 };
	size_t chars = 0;

	while (*s && chars < SMTP_FILENAME_MAX) {
		size_t n = smtp_utf8_len(s);
		char c = (char)*s;

		if (n != 1 || *s < 0x20 || *s == 0x7f || c == '"' || c == '\\' || c == '/')
			c = '_';
		smtp_buf_add(&b, &c, 1);
		s += n ? n : 1;
		chars++;
	}
	if (b.len == 0 || !strcmp(b.p, ".") || !strcmp(b.p, "..")) {
		free(b.p);
		return octo_strdup("attachment");
	}
	return smtp_buf_take(&b);
}

static bool smtp_is_mime_type(const char *t)
{
	const char *slash = strchr(t, '/');
	size_t len = strlen(t);

	if (!slash || slash == t || !slash[1] || len > 100)
		return false;
	for (const char *s = t; *s; s++)
		if (s != slash && !(isalnum((unsigned char)*s) || strchr("!#$&^_.+-", *s)))
			return false;
	return true;
}

static const char *smtp_guess_type(const char *filename)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ "wav", "audio/wav" },  { "mp3", "audio/mpeg" },  { "pdf", "application/pdf" },
		{ "tif", "image/tiff" }, { "tiff", "image/tiff" }, { "png", "image/png" },
		{ "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" }, { "txt", "text/plain" },
		{ "csv", "text/csv" },
	};
	const char *dot = strrchr(filename, '.');

	if (dot)
		for (size_t i = 0; i < OCTO_ARRAY_LEN(types); i++)
			if (!strcasecmp(dot + 1, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}

/* ---------------------------------------------------------------- config setters */
static void smtp_free_str(void *field)
{
	char **p = field;

	free(*p);
	*p = NULL;
}

static const char *smtp_store_str(void *field, const char *value)
{
	char **p = field;

	free(*p);
	*p = octo_strdup(value);
	return NULL;
}

static const char *smtp_set_server(void *field, const char *value)
{
	if (!smtp_is_host(value))
		return "is not a host name or IP address";
	return smtp_store_str(field, value);
}

static const char *smtp_set_address(void *field, const char *value)
{
	if (!smtp_is_address(value))
		return "is not an e-mail address (like pbx@example.com)";
	return smtp_store_str(field, value);
}

static const char *smtp_set_name(void *field, const char *value)
{
	char *clean = smtp_clean_text(value, SMTP_FROM_NAME_MAX + 1, true);
	bool ok = strlen(clean) <= SMTP_FROM_NAME_MAX && !strcmp(clean, value);

	free(clean);
	if (!ok)
		return "is not a name (UTF-8 text of at most 100 bytes, no control characters)";
	return smtp_store_str(field, value);
}

static const char *smtp_set_helo(void *field, const char *value)
{
	if (!smtp_is_domain(value, strlen(value)))
		return "is not a host name (like pbx.example.com)";
	return smtp_store_str(field, value);
}

static const char *smtp_set_retry(void *field, const char *value)
{
	struct smtp_retry r = { 0 };
	const char *s = value;

	while (*s) {
		char item[32];
		size_t n = 0;
		unsigned long long v;

		while (*s == ' ' || *s == '\t')
			s++;
		while (s[n] && s[n] != ',')
			n++;
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n == 0 || n >= sizeof(item))
			return "is not a list of delays (like 1m, 5m, 30m, 2h)";
		memcpy(item, s, n);
		item[n] = '\0';
		if (octo_cfg_parse_duration(item, false, &v))
			return "is not a list of delays (like 1m, 5m, 30m, 2h)";
		if (v < 10 || v > 86400)
			return "has a delay out of range 10s..1d";
		if (r.count == SMTP_RETRY_MAX)
			return "has more than 16 delays";
		r.delay[r.count++] = (unsigned)v;
		s += n;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == ',')
			s++;
	}
	if (r.count == 0)
		return "is not a list of delays (like 1m, 5m, 30m, 2h)";
	*(struct smtp_retry *)field = r;
	return NULL;
}

/* "20M", "512K", "1048576": bytes, 1K..1G. */
static const char *smtp_set_size(void *field, const char *value)
{
	unsigned long long v = 0, mult = 1;
	const char *s = value;

	if (!isdigit((unsigned char)*s))
		return "is not a size (like 20M, 512K or a number of bytes)";
	for (; isdigit((unsigned char)*s); s++) {
		if (v > 1ULL << 40)
			return "is out of range 1K..1G";
		v = v * 10 + (unsigned)(*s - '0');
	}
	if (*s == 'k' || *s == 'K')
		mult = 1024, s++;
	else if (*s == 'm' || *s == 'M')
		mult = 1024 * 1024, s++;
	else if (*s == 'g' || *s == 'G')
		mult = 1024 * 1024 * 1024, s++;
	if (*s)
		return "is not a size (like 20M, 512K or a number of bytes)";
	v *= mult;
	if (v < 1024 || v > 1024ULL * 1024 * 1024)
		return "is out of range 1K..1G";
	*(unsigned long long *)field = v;
	return NULL;
}

/* ---------------------------------------------------------------- config snapshot */
static void smtp_conf_destroy(void *obj)
{
	struct smtp_conf *conf = obj;

	octo_cfg_unbind(smtp_opts, &conf->cfg);
	free(conf->file);
}

static unsigned smtp_default_port(int security)
{
	return security == SMTP_SEC_TLS ? 465 : security == SMTP_SEC_STARTTLS ? 587 : 25;
}

/* Adds an error or warning about `key` of [general] at its line (or the
 * section's line when the key is not written). */
static void smtp_diag(struct octo_diags *diags, enum octo_diag_severity sev,
		      const struct octo_cfg_section *sec, const char *key, const char *fmt, ...)
	OCTO_PRINTF(5, 6);
static void smtp_diag(struct octo_diags *diags, enum octo_diag_severity sev,
		      const struct octo_cfg_section *sec, const char *key, const char *fmt, ...)
{
	const struct octo_cfg_var *v = key ? octo_cfg_var_find(sec, key) : NULL;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	octo_diags_add(diags, sev, v ? v->file : sec->file, v ? v->line : sec->line, "[%s] %s%s%s",
		       sec->name, key ? key : "", key ? ": " : "", msg);
}

/*
 * Reads smtp.conf from `dir`. Returns the new snapshot; NULL with *absent set
 * when the file does not exist and `optional`; NULL when there was an error
 * (all of them are in `diags`).
 */
static struct smtp_conf *smtp_conf_build(const char *dir, bool optional, bool *absent,
					 struct octo_diags *diags)
{
	size_t errors = diags->errors;
	const struct octo_cfg_section *sec = NULL;
	struct smtp_conf *conf;
	struct octo_cfg *cfg;
	char where[256];

	*absent = false;
	if (optional && dir) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", dir, SMTP_FILE);
		if (access(path, F_OK) != 0 && errno == ENOENT) {
			*absent = true;
			return NULL;
		}
	}
	cfg = octo_cfg_load(dir, SMTP_FILE, false, diags);
	if (!cfg)
		return NULL;
	for (const struct octo_cfg_section *s = octo_cfg_first(cfg); s; s = octo_cfg_next(s)) {
		if (!strcmp(s->name, "general") && !sec)
			sec = s;
		else
			octo_diags_add(diags, OCTO_DIAG_WARNING, s->file, s->line,
				       "[%s] unknown section (only [general] is read)", s->name);
	}
	if (!sec) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, SMTP_FILE, 0,
			       "no [general] section (it names the SMTP server)");
		octo_cfg_free(cfg);
		return NULL;
	}
	conf = octo_obj_alloc(sizeof(*conf), smtp_conf_destroy);
	if (!conf) {
		octo_cfg_free(cfg);
		return NULL;
	}
	octo_cfg_bind(sec, smtp_opts, &conf->cfg, NULL, diags);
	if (!conf->cfg.server)
		smtp_diag(diags, OCTO_DIAG_ERROR, sec, "server", "required option missing");
	if (!conf->cfg.from)
		smtp_diag(diags, OCTO_DIAG_ERROR, sec, "from", "required option missing");
	if (conf->cfg.username && !conf->cfg.password)
		smtp_diag(diags, OCTO_DIAG_ERROR, sec, "username",
			  "set without a password (add password = ...)");
	if (conf->cfg.password && !conf->cfg.username)
		smtp_diag(diags, OCTO_DIAG_ERROR, sec, "password",
			  "set without a username (add username = ...)");
	if (conf->cfg.username && (!conf->cfg.username[0] || strpbrk(conf->cfg.username, "\r\n")))
		smtp_diag(diags, OCTO_DIAG_ERROR, sec, "username", "is empty");
	if (conf->cfg.ca_file) {
		char path[PATH_MAX];
		const char *p = conf->cfg.ca_file;

		if (p[0] != '/' && dir) {
			snprintf(path, sizeof(path), "%s/%s", dir, p);
			p = path;
		}
		if (access(p, R_OK) != 0)
			smtp_diag(diags, OCTO_DIAG_ERROR, sec, "ca_file", "cannot read %s: %s",
				  conf->cfg.ca_file, strerror(errno));
		else if (p == path)
			smtp_store_str(&conf->cfg.ca_file, path);
	}
	/* Warnings about a working setup only: they mean little next to errors. */
	if (diags->errors == errors && conf->cfg.username && conf->cfg.security == SMTP_SEC_NONE)
		smtp_diag(diags, OCTO_DIAG_WARNING, sec, "username",
			  "the password goes over the network in clear text with security = none "
			  "(use starttls or tls)");
	if (diags->errors == errors && !conf->cfg.tls_verify && conf->cfg.security != SMTP_SEC_NONE)
		smtp_diag(diags, OCTO_DIAG_WARNING, sec, "tls_verify",
			  "the server's certificate is not checked: anyone in the path can read "
			  "the mail and the password");
	conf->port = conf->cfg.port ? conf->cfg.port : smtp_default_port(conf->cfg.security);
	snprintf(where, sizeof(where), "%s:%d", sec->file ? sec->file : SMTP_FILE, sec->line);
	conf->file = octo_strdup(where);
	octo_cfg_free(cfg);
	if (diags->errors != errors) {
		octo_obj_unref(conf);
		return NULL;
	}
	return conf;
}

/* A new reference on the running snapshot, or NULL. */
static struct smtp_conf *smtp_conf_get(void)
{
	struct smtp_conf *conf;

	pthread_mutex_lock(&smtp_lock);
	conf = octo_obj_ref(smtp_current);
	pthread_mutex_unlock(&smtp_lock);
	return conf;
}

/* Installs `conf` (takes the reference; NULL clears) and wakes the sender. */
static void smtp_conf_install(struct smtp_conf *conf)
{
	struct smtp_conf *old;

	pthread_mutex_lock(&smtp_lock);
	old = smtp_current;
	smtp_current = conf;
	smtp_wake = true;
	pthread_cond_signal(&smtp_cond);
	pthread_mutex_unlock(&smtp_lock);
	octo_obj_unref(old);
}

static void smtp_kick(void)
{
	pthread_mutex_lock(&smtp_lock);
	smtp_wake = true;
	pthread_cond_signal(&smtp_cond);
	pthread_mutex_unlock(&smtp_lock);
}

/* ---------------------------------------------------------------- the queue in the store */
static const char *const smtp_schema[] = {
	/* version 1 */
	"CREATE TABLE smtp_queue("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" created INTEGER NOT NULL," /* unix seconds: Date: and max_age */
	" origin TEXT NOT NULL,"     /* who queued it */
	" rcpt TEXT NOT NULL,"       /* recipients still to serve, one a line */
	" subject TEXT NOT NULL,"
	" body TEXT NOT NULL,"
	" from_name TEXT," /* NULL: smtp.conf from_name */
	" message_id TEXT NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_attempt INTEGER NOT NULL," /* unix seconds */
	" last_error TEXT);"
	"CREATE INDEX smtp_queue_next ON smtp_queue(next_attempt);"
	"CREATE TABLE smtp_attachment("
	" mail_id INTEGER NOT NULL REFERENCES smtp_queue(id) ON DELETE CASCADE,"
	" seq INTEGER NOT NULL,"
	" spool TEXT NOT NULL," /* file name in DATA/mail/spool */
	" filename TEXT NOT NULL,"
	" mime_type TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" PRIMARY KEY(mail_id, seq));"
	"CREATE INDEX smtp_attachment_spool ON smtp_attachment(spool);",
};

struct smtp_att {
	char *spool; /* file name in the spool */
	char *filename;
	char *mime_type;
	int64_t size;
};

/* One queued message, as read from the store (or about to be written). */
struct smtp_msg {
	int64_t id;
	int64_t created;
	int64_t attempts;
	char *origin;
	char *rcpt; /* one address a line */
	char *subject;
	char *body;
	char *from_name; /* NULL: the configured one */
	char *message_id;
	struct smtp_att att[OCTO_MAIL_ATTACH_MAX];
	size_t natt;
};

static void smtp_msg_clear(struct smtp_msg *m)
{
	free(m->origin);
	free(m->rcpt);
	free(m->subject);
	free(m->body);
	free(m->from_name);
	free(m->message_id);
	for (size_t i = 0; i < m->natt; i++) {
		free(m->att[i].spool);
		free(m->att[i].filename);
		free(m->att[i].mime_type);
	}
	memset(m, 0, sizeof(*m));
}

static void smtp_spool_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", smtp_spool ? smtp_spool : ".", name);
}

static void smtp_spool_unlink(const struct smtp_msg *m)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < m->natt; i++) {
		if (!m->att[i].spool)
			continue;
		smtp_spool_path(path, sizeof(path), m->att[i].spool);
		if (unlink(path) != 0 && errno != ENOENT)
			octo_log(OCTO_WARNING, "mail: cannot remove %s: %s", path, strerror(errno));
	}
}

/*
 * Copies the file `src` into the spool: at most `budget` bytes. Stores the
 * spool name in att->spool and the size in att->size. Returns 0, or
 * OCTO_EINVAL (the file: logged here with why) or OCTO_EFAIL (the spool).
 */
static int smtp_spool_copy(const char *src, struct smtp_att *att, uint64_t budget,
			   const char *origin)
{
	char tmpl[PATH_MAX], buf[65536];
	int in, out = -1, rc = OCTO_EFAIL;
	uint64_t total = 0;
	struct stat st;

	/* O_NONBLOCK: a FIFO must not hang the caller; it is refused below. */
	in = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (in < 0) {
		octo_log(OCTO_WARNING, "mail from %s refused: attachment %s: %s", origin, src,
			 strerror(errno));
		return OCTO_EINVAL;
	}
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		octo_log(OCTO_WARNING, "mail from %s refused: attachment %s is not a regular file",
			 origin, src);
		close(in);
		return OCTO_EINVAL;
	}
	if ((uint64_t)st.st_size > budget) {
		octo_log(OCTO_WARNING,
			 "mail from %s refused: attachment %s (%lld bytes) goes beyond "
			 "max_attachments_size",
			 origin, src, (long long)st.st_size);
		close(in);
		return OCTO_EINVAL;
	}
	snprintf(tmpl, sizeof(tmpl), "%s/att-XXXXXX", smtp_spool ? smtp_spool : ".");
	out = mkostemp(tmpl, O_CLOEXEC);
	if (out < 0) {
		octo_log(OCTO_ERROR, "mail: cannot create a file in %s: %s", smtp_spool,
			 strerror(errno));
		close(in);
		return OCTO_EFAIL;
	}
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			octo_log(OCTO_WARNING, "mail from %s refused: attachment %s: %s", origin,
				 src, strerror(errno));
			rc = OCTO_EINVAL;
			goto out;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > budget) {
			octo_log(OCTO_WARNING,
				 "mail from %s refused: attachment %s goes beyond "
				 "max_attachments_size",
				 origin, src);
			rc = OCTO_EINVAL;
			goto out;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(out, buf + done, (size_t)(n - done));

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				octo_log(OCTO_ERROR, "mail: cannot write %s: %s", tmpl,
					 strerror(errno));
				goto out;
			}
			done += w;
		}
	}
	if (close(out) != 0) {
		out = -1;
		octo_log(OCTO_ERROR, "mail: cannot write %s: %s", tmpl, strerror(errno));
		goto out;
	}
	out = -1;
	att->spool = octo_strdup(strrchr(tmpl, '/') + 1);
	att->size = (int64_t)total;
	rc = 0;
out:
	if (out >= 0)
		close(out);
	close(in);
	if (rc != 0)
		unlink(tmpl);
	return rc;
}

struct smtp_insert {
	const struct smtp_msg *m;
	unsigned max_queue;
	int64_t id;
	bool full;
};

static int smtp_insert_tx(void *data)
{
	struct smtp_insert *ins = data;
	const struct smtp_msg *m = ins->m;
	int64_t count = 0;
	int rc;

	rc = octo_store_query_int("SELECT COUNT(*) FROM smtp_queue", OCTO_STORE_NOARGS, &count);
	if (rc < 0 && rc != OCTO_ENOTFOUND)
		return rc;
	if (count >= ins->max_queue) {
		ins->full = true;
		return OCTO_EBUSY;
	}
	rc = octo_store_insert("INSERT INTO smtp_queue(created, origin, rcpt, subject, body, "
			       "from_name, message_id, attempts, next_attempt) "
			       "VALUES(?, ?, ?, ?, ?, ?, ?, 0, ?)",
			       OCTO_STORE_ARGS(OCTO_STORE_I(m->created), OCTO_STORE_T(m->origin),
					       OCTO_STORE_T(m->rcpt), OCTO_STORE_T(m->subject),
					       OCTO_STORE_T(m->body), OCTO_STORE_T(m->from_name),
					       OCTO_STORE_T(m->message_id),
					       OCTO_STORE_I(m->created)),
			       &ins->id);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < m->natt; i++) {
		rc = octo_store_exec("INSERT INTO smtp_attachment(mail_id, seq, spool, filename, "
				     "mime_type, size) VALUES(?, ?, ?, ?, ?, ?)",
				     OCTO_STORE_ARGS(OCTO_STORE_I(ins->id), OCTO_STORE_I(i),
						     OCTO_STORE_T(m->att[i].spool),
						     OCTO_STORE_T(m->att[i].filename),
						     OCTO_STORE_T(m->att[i].mime_type),
						     OCTO_STORE_I(m->att[i].size)));
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------- the service */
static int smtp_send(const struct octo_mail *in, uint64_t *id_out)
{
	const char *origin = in && in->origin && in->origin[0] ? in->origin : "unknown";
	struct smtp_msg m = { 0 };
	struct smtp_insert ins = { .m = &m };
	struct smtp_conf *conf = NULL;
	struct smtp_buf rcpt = { 0 };
	char msgid[320];
	char *clean_origin = smtp_clean_line(origin, 64);
	uint64_t budget;
	int rc = OCTO_EINVAL;

	if (!in) {
		octo_log(OCTO_WARNING, "mail refused: no message");
		goto out;
	}
	if (in->to_count == 0 || !in->to || in->to_count > OCTO_MAIL_RCPT_MAX) {
		octo_log(OCTO_WARNING, "mail from %s refused: %zu recipients (1..%d allowed)",
			 clean_origin, in->to ? in->to_count : 0, OCTO_MAIL_RCPT_MAX);
		goto out;
	}
	for (size_t i = 0; i < in->to_count; i++) {
		if (!smtp_is_address(in->to[i])) {
			char *shown = smtp_clean_line(in->to[i] ? in->to[i] : "(null)", 80);

			octo_log(OCTO_WARNING,
				 "mail from %s refused: \"%s\" is not an e-mail address",
				 clean_origin, shown);
			free(shown);
			goto out;
		}
		if (i)
			smtp_buf_str(&rcpt, "\n");
		smtp_buf_str(&rcpt, in->to[i]);
	}
	if (in->body && strlen(in->body) > OCTO_MAIL_BODY_MAX) {
		octo_log(OCTO_WARNING, "mail from %s refused: the body is longer than %d bytes",
			 clean_origin, OCTO_MAIL_BODY_MAX);
		goto out;
	}
	if (in->attachment_count > OCTO_MAIL_ATTACH_MAX ||
	    (in->attachment_count && !in->attachments)) {
		octo_log(OCTO_WARNING, "mail from %s refused: %zu attachments (at most %d)",
			 clean_origin, in->attachment_count, OCTO_MAIL_ATTACH_MAX);
		goto out;
	}
	for (size_t i = 0; i < in->attachment_count; i++) {
		const struct octo_mail_attachment *a = &in->attachments[i];

		if (!a->path || !a->path[0]) {
			octo_log(OCTO_WARNING, "mail from %s refused: attachment %zu has no path",
				 clean_origin, i + 1);
			goto out;
		}
		if (a->mime_type && !smtp_is_mime_type(a->mime_type)) {
			char *shown = smtp_clean_line(a->mime_type, 80);

			octo_log(OCTO_WARNING, "mail from %s refused: \"%s\" is not a MIME type",
				 clean_origin, shown);
			free(shown);
			goto out;
		}
	}
	if (in->from_name && strlen(in->from_name) > SMTP_FROM_NAME_MAX) {
		octo_log(OCTO_WARNING, "mail from %s refused: from_name is longer than %d bytes",
			 clean_origin, SMTP_FROM_NAME_MAX);
		goto out;
	}
	conf = smtp_conf_get();
	if (!conf || !smtp_spool) {
		octo_log(OCTO_WARNING, "mail from %s refused: res_smtp is stopping", clean_origin);
		rc = OCTO_EFAIL;
		goto out;
	}

	m.created = (int64_t)time(NULL);
	m.origin = octo_strdup(clean_origin);
	m.rcpt = smtp_buf_take(&rcpt);
	m.subject = smtp_clean_text(in->subject, OCTO_MAIL_SUBJECT_MAX, true);
	m.body = smtp_clean_text(in->body, OCTO_MAIL_BODY_MAX, false);
	m.from_name = in->from_name ? smtp_clean_text(in->from_name, SMTP_FROM_NAME_MAX, true)
				    : NULL;
	smtp_make_message_id(msgid, sizeof(msgid), (time_t)m.created, conf->cfg.from);
	m.message_id = octo_strdup(msgid);

	budget = conf->cfg.max_size;
	for (size_t i = 0; i < in->attachment_count; i++) {
		const struct octo_mail_attachment *a = &in->attachments[i];
		const char *base = strrchr(a->path, '/');
		struct smtp_att *att = &m.att[m.natt];

		att->filename = smtp_clean_filename(a->filename ? a->filename
						    : base      ? base + 1
								: a->path);
		att->mime_type =
			octo_strdup(a->mime_type ? a->mime_type : smtp_guess_type(att->filename));
		m.natt++;
		rc = smtp_spool_copy(a->path, att, budget, clean_origin);
		if (rc < 0)
			goto out;
		budget -= (uint64_t)att->size;
	}

	ins.max_queue = conf->cfg.max_queue;
	rc = octo_store_transaction(smtp_insert_tx, &ins);
	if (rc < 0) {
		if (ins.full) {
			octo_log(OCTO_WARNING,
				 "mail from %s refused: the queue is full (%u messages, "
				 "smtp.conf max_queue)",
				 clean_origin, conf->cfg.max_queue);
			rc = OCTO_EBUSY;
		} else {
			rc = OCTO_EFAIL;
		}
		goto out;
	}
	if (id_out)
		*id_out = (uint64_t)ins.id;
	octo_verbose(2, "mail %" PRId64 " queued from %s for %s%s (%zu attachment%s)", ins.id,
		     m.origin, in->to[0], in->to_count > 1 ? " and others" : "", m.natt,
		     m.natt == 1 ? "" : "s");
	smtp_kick();
	rc = 0;
out:
	if (rc != 0)
		smtp_spool_unlink(&m);
	free(rcpt.p);
	free(clean_origin);
	smtp_msg_clear(&m);
	octo_obj_unref(conf);
	return rc;
}

static const struct octo_mail_api smtp_api = { .send = smtp_send };
static const struct octo_service smtp_service = { OCTO_MAIL_SERVICE, 1, &smtp_api };

/* ---------------------------------------------------------------- reading the queue */
#define SMTP_MSG_COLUMNS "id, created, attempts, origin, rcpt, subject, from_name, message_id"

static char *smtp_row_dup(const struct octo_store_row *row, int col)
{
	const char *s = octo_store_row_text(row, col);

	return octo_strdup(s ? s : "");
}

/* Fills a struct smtp_msg from the columns SMTP_MSG_COLUMNS (+ body). */
static void smtp_msg_from_row(const struct octo_store_row *row, struct smtp_msg *m)
{
	m->id = octo_store_row_int(row, 0);
	m->created = octo_store_row_int(row, 1);
	m->attempts = octo_store_row_int(row, 2);
	m->origin = smtp_row_dup(row, 3);
	m->rcpt = smtp_row_dup(row, 4);
	m->subject = smtp_row_dup(row, 5);
	m->from_name = octo_store_row_is_null(row, 6) ? NULL : smtp_row_dup(row, 6);
	m->message_id = smtp_row_dup(row, 7);
	if (octo_store_row_columns(row) > 8)
		m->body = smtp_row_dup(row, 8);
}

static int smtp_msg_row(const struct octo_store_row *row, void *data)
{
	smtp_msg_from_row(row, data);
	return 1;
}

static int smtp_att_row(const struct octo_store_row *row, void *data)
{
	struct smtp_msg *m = data;
	struct smtp_att *a;

	if (m->natt == OCTO_MAIL_ATTACH_MAX)
		return 1;
	a = &m->att[m->natt++];
	a->spool = smtp_row_dup(row, 0);
	a->filename = smtp_row_dup(row, 1);
	a->mime_type = smtp_row_dup(row, 2);
	a->size = octo_store_row_int(row, 3);
	return 0;
}

/* Reads message `id` with its body and attachments: 0, OCTO_ENOTFOUND or an
 * error. */
static int smtp_msg_load(int64_t id, struct smtp_msg *m)
{
	int rc;

	memset(m, 0, sizeof(*m));
	rc = octo_store_query("SELECT " SMTP_MSG_COLUMNS ", body FROM smtp_queue WHERE id = ?",
			      OCTO_STORE_ARGS(OCTO_STORE_I(id)), smtp_msg_row, m);
	if (rc <= 0)
		return rc < 0 ? rc : OCTO_ENOTFOUND;
	rc = octo_store_query("SELECT spool, filename, mime_type, size FROM smtp_attachment "
			      "WHERE mail_id = ? ORDER BY seq",
			      OCTO_STORE_ARGS(OCTO_STORE_I(id)), smtp_att_row, m);
	return rc < 0 ? rc : 0;
}

struct smtp_names {
	char *name[OCTO_MAIL_ATTACH_MAX];
	size_t count;
};

static int smtp_name_row(const struct octo_store_row *row, void *data)
{
	struct smtp_names *n = data;

	if (n->count == OCTO_MAIL_ATTACH_MAX)
		return 1;
	n->name[n->count++] = smtp_row_dup(row, 0);
	return 0;
}

struct smtp_remove {
	int64_t id;
	int removed;
};

/* Must return 0 to commit: the count goes into r->removed. */
static int smtp_remove_tx(void *data)
{
	struct smtp_remove *r = data;
	int rc = octo_store_exec("DELETE FROM smtp_attachment WHERE mail_id = ?",
				 OCTO_STORE_ARGS(OCTO_STORE_I(r->id)));

	if (rc < 0)
		return rc;
	rc = octo_store_exec("DELETE FROM smtp_queue WHERE id = ?",
			     OCTO_STORE_ARGS(OCTO_STORE_I(r->id)));
	if (rc < 0)
		return rc;
	r->removed = rc;
	return 0;
}

/* Removes message `id` from the queue, then its spool files. Returns the
 * number of messages removed (0 or 1) or an error. */
static int smtp_remove(int64_t id)
{
	struct smtp_names names = { 0 };
	struct smtp_remove r = { .id = id };
	char path[PATH_MAX];
	int rc;

	rc = octo_store_query("SELECT spool FROM smtp_attachment WHERE mail_id = ?",
			      OCTO_STORE_ARGS(OCTO_STORE_I(id)), smtp_name_row, &names);
	if (rc >= 0)
		rc = octo_store_transaction(smtp_remove_tx, &r);
	if (rc >= 0)
		rc = r.removed;
	for (size_t i = 0; i < names.count; i++) {
		if (rc > 0) {
			smtp_spool_path(path, sizeof(path), names.name[i]);
			if (unlink(path) != 0 && errno != ENOENT)
				octo_log(OCTO_WARNING, "mail: cannot remove %s: %s", path,
					 strerror(errno));
		}
		free(names.name[i]);
	}
	return rc;
}

/* "a@x, b@y" from the stored one-a-line list (a new string). */
static char *smtp_rcpt_list(const char *rcpt)
{
	struct smtp_buf b = { 0 };

	for (const char *s = rcpt; *s; s++) {
		if (*s == '\n')
			smtp_buf_str(&b, ", ");
		else
			smtp_buf_add(&b, s, 1);
	}
	return smtp_buf_take(&b);
}

/* ---------------------------------------------------------------- one delivery */

/* Per-transfer state, filled by the debug callback from the SMTP dialogue. */
struct smtp_xfer {
	size_t nrcpt;
	char *rcpt[OCTO_MAIL_RCPT_MAX]; /* point into `rcpt_copy` */
	char *rcpt_copy;
	int code[OCTO_MAIL_RCPT_MAX]; /* the reply to each RCPT TO; 0: none */
	char reply[OCTO_MAIL_RCPT_MAX][128];
	size_t rcpt_sent;     /* RCPT TO commands sent */
	bool awaiting;        /* the next final reply answers RCPT TO */
	char last_error[160]; /* the last 4xx/5xx reply line */
};

static void smtp_xfer_init(struct smtp_xfer *x, const char *rcpt)
{
	char *save = NULL;

	memset(x, 0, sizeof(*x));
	x->rcpt_copy = octo_strdup(rcpt);
	for (char *tok = strtok_r(x->rcpt_copy, "\n", &save); tok && x->nrcpt < OCTO_MAIL_RCPT_MAX;
	     tok = strtok_r(NULL, "\n", &save))
		x->rcpt[x->nrcpt++] = tok;
}

/* Copies a server line for messages: printable ASCII only, no CR/LF. */
static void smtp_copy_reply(char *dst, size_t size, const char *src, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '\r' || c == '\n')
			break;
		dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[o] = '\0';
}

static int smtp_debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *userp)
{
	struct smtp_xfer *x = userp;
	int code;

	if (type == CURLINFO_HEADER_OUT) {
		/* Only RCPT TO is looked at: AUTH lines carry credentials. */
		if (size >= 8 && !strncasecmp(data, "RCPT TO:", 8)) {
			x->awaiting = true;
			x->rcpt_sent++;
		}
		return 0;
	}
	if (type != CURLINFO_HEADER_IN || size < 4 || !isdigit((unsigned char)data[0]) ||
	    !isdigit((unsigned char)data[1]) || !isdigit((unsigned char)data[2]) || data[3] == '-')
		return 0;
	code = (data[0] - '0') * 100 + (data[1] - '0') * 10 + (data[2] - '0');
	if (x->awaiting && x->rcpt_sent >= 1 && x->rcpt_sent <= x->nrcpt) {
		x->code[x->rcpt_sent - 1] = code;
		smtp_copy_reply(x->reply[x->rcpt_sent - 1], sizeof(x->reply[0]), data, size);
	}
	x->awaiting = false;
	if (code >= 400)
		smtp_copy_reply(x->last_error, sizeof(x->last_error), data, size);
	return 0;
}

static int smtp_progress_cb(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			    curl_off_t ulnow)
{
	return atomic_load(&smtp_stopping) ? 1 : 0;
}

/* The text part: clean UTF-8 with every line ended by CRLF, as the
 * quoted-printable encoder wants it (a lone LF would be encoded as =0A). */
static char *smtp_crlf(const char *text)
{
	struct smtp_buf b = { 0 };

	for (const char *s = text; *s; s++) {
		if (*s == '\r') {
			smtp_buf_str(&b, "\r\n");
			if (s[1] == '\n')
				s++;
		} else if (*s == '\n') {
			smtp_buf_str(&b, "\r\n");
		} else {
			smtp_buf_add(&b, s, 1);
		}
	}
	if (b.len < 2 || b.p[b.len - 1] != '\n')
		smtp_buf_str(&b, "\r\n");
	return smtp_buf_take(&b);
}

/* Appends the header line in `b` to `hdrs` and empties `b`; *ok becomes
 * false when out of memory. */
static void smtp_hdr_add(struct curl_slist **hdrs, struct smtp_buf *b, bool *ok)
{
	struct curl_slist *t = *ok ? curl_slist_append(*hdrs, b->p) : NULL;

	if (t)
		*hdrs = t;
	else
		*ok = false;
	b->len = 0;
	b->p[0] = '\0';
}

/* The header lines of `m` (NULL when out of memory). */
static struct curl_slist *smtp_headers(const struct smtp_conf *conf, const struct smtp_msg *m,
				       const struct smtp_xfer *x)
{
	struct curl_slist *hdrs = NULL;
	struct smtp_buf b = { 0 };
	const char *name = m->from_name ? m->from_name : conf->cfg.from_name;
	char date[64];
	size_t line;
	bool ok = true;

	smtp_format_date(date, sizeof(date), (time_t)m->created);
	smtp_buf_printf(&b, "Date: %s", date);
	smtp_hdr_add(&hdrs, &b, &ok);
	smtp_buf_str(&b, "From: ");
	if (name && name[0]) {
		smtp_header_phrase(&b, name);
		smtp_buf_printf(&b, " <%s>", conf->cfg.from);
	} else {
		smtp_buf_str(&b, conf->cfg.from);
	}
	smtp_hdr_add(&hdrs, &b, &ok);
	/* To: the whole list, folded before a line grows past 78 characters. */
	smtp_buf_str(&b, "To: ");
	line = b.len;
	for (size_t i = 0; i < x->nrcpt; i++) {
		size_t n = strlen(x->rcpt[i]);

		if (i) {
			if (line + n + 2 > 78) {
				smtp_buf_str(&b, ",\r\n ");
				line = 1;
			} else {
				smtp_buf_str(&b, ", ");
				line += 2;
			}
		}
		smtp_buf_str(&b, x->rcpt[i]);
		line += n;
	}
	smtp_hdr_add(&hdrs, &b, &ok);
	smtp_buf_str(&b, "Subject: ");
	smtp_header_text(&b, b.len, m->subject);
	smtp_hdr_add(&hdrs, &b, &ok);
	smtp_buf_printf(&b, "Message-ID: %s", m->message_id);
	smtp_hdr_add(&hdrs, &b, &ok);
	/* RFC 3834: no auto-replies (vacation notices) to notifications. */
	smtp_buf_str(&b, "Auto-Submitted: auto-generated");
	smtp_hdr_add(&hdrs, &b, &ok);
	free(b.p);
	if (!ok) {
		curl_slist_free_all(hdrs);
		return NULL;
	}
	return hdrs;
}

enum smtp_result { SMTP_SENT, SMTP_FAILED, SMTP_ABORTED };

/* Why a delivery failed. */
struct smtp_failure {
	char error[SMTP_ERR_MAX];
	bool permanent; /* refused for good: drop the message */
	bool server;    /* failed before any recipient: the same for every message */
};

/*
 * Sends `m` once. SMTP_SENT: the server took it for the recipients whose
 * RCPT TO it accepted (x->code tells which). SMTP_FAILED: nothing was sent,
 * `f` says why. SMTP_ABORTED: the module is stopping.
 */
static enum smtp_result smtp_deliver(const struct smtp_conf *conf, const struct smtp_msg *m,
				     struct smtp_xfer *x, struct smtp_failure *f)
{
	const struct smtp_cfg *cfg = &conf->cfg;
	char url[600], errbuf[CURL_ERROR_SIZE] = "", from[300], path[PATH_MAX];
	struct curl_slist *rcpt = NULL, *hdrs = NULL, *t;
	curl_mime *mime = NULL;
	curl_mimepart *part;
	char *text = NULL;
	enum smtp_result res = SMTP_FAILED;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	long code = 0;
	CURL *c;

	memset(f, 0, sizeof(*f));
	c = curl_easy_init();
	if (!c) {
		snprintf(f->error, sizeof(f->error), "cannot start a transfer (libcurl)");
		f->server = true;
		return SMTP_FAILED;
	}
	snprintf(url, sizeof(url), "%s://%s%s%s:%u/%s",
		 cfg->security == SMTP_SEC_TLS ? "smtps" : "smtp",
		 strchr(cfg->server, ':') ? "[" : "", cfg->server,
		 strchr(cfg->server, ':') ? "]" : "", conf->port, cfg->helo ? cfg->helo : "");
	snprintf(from, sizeof(from), "<%s>", cfg->from);
	for (size_t i = 0; i < x->nrcpt; i++) {
		char addr[300];

		snprintf(addr, sizeof(addr), "<%s>", x->rcpt[i]);
		if (!(t = curl_slist_append(rcpt, addr)))
			goto out;
		rcpt = t;
	}
	if (!(hdrs = smtp_headers(conf, m, x)) || !(mime = curl_mime_init(c)))
		goto out;
	text = smtp_crlf(m->body ? m->body : "");
	part = curl_mime_addpart(mime);
	if (!part || curl_mime_data(part, text, strlen(text)) ||
	    curl_mime_type(part, "text/plain; charset=utf-8") ||
	    curl_mime_encoder(part, "quoted-printable"))
		goto out;
	for (size_t i = 0; i < m->natt; i++) {
		smtp_spool_path(path, sizeof(path), m->att[i].spool);
		part = curl_mime_addpart(mime);
		if (!part || curl_mime_filedata(part, path) ||
		    curl_mime_filename(part, m->att[i].filename) ||
		    curl_mime_type(part, m->att[i].mime_type) || curl_mime_encoder(part, "base64"))
			goto out;
	}

	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)cfg->connect_timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)cfg->timeout);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	/* Deliver to the recipients the server accepts; the others are judged
	 * from their replies (smtp_debug_cb). */
#if LIBCURL_VERSION_NUM >= 0x080200
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT_ALLOWFAILS, 1L);
#else
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
#endif
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
	curl_easy_setopt(c, CURLOPT_VERBOSE, 1L); /* feeds smtp_debug_cb, prints nothing */
	curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, smtp_debug_cb);
	curl_easy_setopt(c, CURLOPT_DEBUGDATA, x);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, smtp_progress_cb);
	if (cfg->security == SMTP_SEC_STARTTLS)
		curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	if (cfg->security != SMTP_SEC_NONE) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, cfg->tls_verify ? 1L : 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, cfg->tls_verify ? 2L : 0L);
		if (cfg->ca_file)
			curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
	}
	if (cfg->username) {
		curl_easy_setopt(c, CURLOPT_USERNAME, cfg->username);
		curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->password);
	}

	rc = curl_easy_perform(c);
	if (rc == CURLE_OK) {
		res = SMTP_SENT;
		goto out;
	}
	if (rc == CURLE_ABORTED_BY_CALLBACK && atomic_load(&smtp_stopping)) {
		res = SMTP_ABORTED;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
out:
	if (res == SMTP_FAILED) {
		const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

		if (x->last_error[0] && !strstr(why, x->last_error))
			snprintf(f->error, sizeof(f->error), "%.130s (server: %.150s)", why,
				 x->last_error);
		else
			snprintf(f->error, sizeof(f->error), "%s", why);
		/* Before MAIL FROM (no connection, TLS, login) the failure is the
		 * server's or the configuration's, not this message's: libcurl
		 * reports a refused MAIL FROM, RCPT TO or DATA as CURLE_SEND_ERROR.
		 * Refused for good: a 5xx to RCPT TO or to the message, or 552
		 * (too big) to MAIL FROM; never an authentication problem (530..539). */
		f->server = x->rcpt_sent == 0 && rc != CURLE_SEND_ERROR;
		f->permanent = code >= 500 && code <= 599 && !(code >= 530 && code <= 539) &&
			       (rc == CURLE_SEND_ERROR || rc == CURLE_WEIRD_SERVER_REPLY) &&
			       (x->rcpt_sent > 0 || code == 552);
	}
	curl_mime_free(mime);
	curl_slist_free_all(hdrs);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	free(text);
	return res;
}

/* ---------------------------------------------------------------- outcomes */

/*
 * Records a failed attempt of `m` for the recipients `rcpt` (one a line;
 * NULL: all of m's): schedules the next attempt by the retry schedule, or
 * drops the message with a WARNING when `permanent` or past max_age.
 * Returns 0 or a store error.
 */
static int smtp_failed(const struct smtp_conf *conf, const struct smtp_msg *m, const char *rcpt,
		       const char *error, bool permanent)
{
	const struct smtp_retry *r = &conf->cfg.retry;
	int64_t attempts = m->attempts + 1, now = (int64_t)time(NULL);
	int64_t deadline = m->created + (int64_t)conf->cfg.max_age, next;
	char *to = smtp_rcpt_list(rcpt ? rcpt : m->rcpt);
	char when[32];
	int rc;

	if (permanent || now >= deadline) {
		octo_log(OCTO_WARNING,
			 "mail %" PRId64 " from %s to %s (\"%s\") dropped after %" PRId64
			 " attempt%s: %s%s",
			 m->id, m->origin, to, m->subject, attempts, attempts == 1 ? "" : "s",
			 permanent ? "" : "older than max_age; last error: ", error);
		rc = smtp_remove(m->id);
		if (rc >= 0)
			atomic_fetch_add(&smtp_stat_dropped, 1);
		free(to);
		return rc < 0 ? rc : 0;
	}
	next = now + r->delay[attempts - 1 < (int64_t)r->count ? attempts - 1 : r->count - 1];
	if (next > deadline)
		next = deadline;
	rc = octo_store_exec(
		"UPDATE smtp_queue SET attempts = ?, next_attempt = ?, last_error = ?, "
		"rcpt = COALESCE(?, rcpt) WHERE id = ?",
		OCTO_STORE_ARGS(OCTO_STORE_I(attempts), OCTO_STORE_I(next), OCTO_STORE_T(error),
				OCTO_STORE_T(rcpt), OCTO_STORE_I(m->id)));
	if (rc >= 0) {
		atomic_fetch_add(&smtp_stat_failed, 1);
		smtp_format_local(when, sizeof(when), next);
		octo_log(OCTO_NOTICE,
			 "mail %" PRId64 " to %s not delivered (attempt %" PRId64 "): %s; next "
			 "attempt at %s",
			 m->id, to, attempts, error, when);
	}
	free(to);
	return rc < 0 ? rc : 0;
}

/* The messages due besides the one that just failed. */
#define SMTP_OTHERS_MAX 100
struct smtp_others {
	struct smtp_msg msg[SMTP_OTHERS_MAX];
	size_t count;
};

static int smtp_others_row(const struct octo_store_row *row, void *data)
{
	struct smtp_others *o = data;

	if (o->count == SMTP_OTHERS_MAX)
		return 1;
	smtp_msg_from_row(row, &o->msg[o->count++]);
	return 0;
}

/* The server cannot be reached: every other due message counts the same
 * failed attempt (at most SMTP_OTHERS_MAX per round). */
static int smtp_fail_others(const struct smtp_conf *conf, int64_t id, const char *error)
{
	struct smtp_others *o = calloc(1, sizeof(*o));
	int rc;

	if (!o)
		return OCTO_ENOMEM;
	rc = octo_store_query("SELECT " SMTP_MSG_COLUMNS " FROM smtp_queue WHERE next_attempt <= ? "
			      "AND id != ? ORDER BY next_attempt, id",
			      OCTO_STORE_ARGS(OCTO_STORE_I(time(NULL)), OCTO_STORE_I(id)),
			      smtp_others_row, o);
	for (size_t i = 0; i < o->count; i++) {
		if (rc >= 0)
			rc = smtp_failed(conf, &o->msg[i], NULL, error, false);
		smtp_msg_clear(&o->msg[i]);
	}
	free(o);
	return rc < 0 ? rc : 0;
}

/*
 * Judges each recipient of a transfer that reached the end of RCPT TO:
 * `sent` when the server took the message. Refused for good (5xx other than
 * 530..539): dropped with a WARNING; not answered 2xx otherwise: kept for a
 * retry. Returns 0 or a store error.
 */
static int smtp_judge_rcpts(const struct smtp_conf *conf, const struct smtp_msg *m,
			    const struct smtp_xfer *x, bool sent)
{
	struct smtp_buf retry = { 0 }, delivered = { 0 };
	char error[SMTP_ERR_MAX] = "";
	size_t ndelivered = 0;
	int rc = 0;

	for (size_t i = 0; i < x->nrcpt; i++) {
		int code = x->code[i];

		if (sent && (code == 0 || (code >= 200 && code <= 299))) {
			smtp_buf_printf(&delivered, "%s%s", ndelivered ? ", " : "", x->rcpt[i]);
			ndelivered++;
		} else if (code >= 500 && code <= 599 && !(code >= 530 && code <= 539)) {
			octo_log(OCTO_WARNING,
				 "mail %" PRId64 " (\"%s\"): %s refused by the server for good: %s",
				 m->id, m->subject, x->rcpt[i], x->reply[i]);
		} else {
			smtp_buf_printf(&retry, "%s%s", retry.len ? "\n" : "", x->rcpt[i]);
			if (!error[0])
				snprintf(error, sizeof(error), "RCPT TO <%s>: %s", x->rcpt[i],
					 x->reply[i][0] ? x->reply[i] : "no answer");
		}
	}
	if (ndelivered) {
		atomic_fetch_add(&smtp_stat_sent, 1);
		octo_verbose(2, "mail %" PRId64 " delivered to %s", m->id, delivered.p);
	}
	if (retry.len) {
		rc = smtp_failed(conf, m, retry.p, error, false);
	} else {
		if (!ndelivered)
			atomic_fetch_add(&smtp_stat_dropped, 1);
		rc = smtp_remove(m->id);
		rc = rc < 0 ? rc : 0;
	}
	if (rc < 0 && ndelivered && smtp_unremoved_count < OCTO_ARRAY_LEN(smtp_unremoved))
		smtp_unremoved[smtp_unremoved_count++] = m->id;
	free(retry.p);
	free(delivered.p);
	return rc;
}

/* Delivers message `id` once. Returns 0, or a store error (the sender then
 * waits before it looks at the queue again). */
static int smtp_process(const struct smtp_conf *conf, int64_t id)
{
	struct smtp_xfer *x = NULL;
	struct smtp_failure f;
	struct smtp_msg m;
	char path[PATH_MAX];
	bool all_answered;
	int rc;

	for (size_t i = 0; i < smtp_unremoved_count; i++) {
		if (smtp_unremoved[i] != id)
			continue;
		/* Delivered already: only the removal is left to do. */
		rc = smtp_remove(id);
		if (rc >= 0)
			smtp_unremoved[i] = smtp_unremoved[--smtp_unremoved_count];
		return rc < 0 ? rc : 0;
	}
	rc = smtp_msg_load(id, &m);
	if (rc < 0) {
		smtp_msg_clear(&m);
		return rc == OCTO_ENOTFOUND ? 0 : rc;
	}
	for (size_t i = 0; i < m.natt; i++) {
		smtp_spool_path(path, sizeof(path), m.att[i].spool);
		if (access(path, R_OK) != 0) {
			snprintf(f.error, sizeof(f.error),
				 "attachment %.100s is missing from the spool (%.150s)",
				 m.att[i].filename, path);
			rc = smtp_failed(conf, &m, NULL, f.error, true);
			goto out;
		}
	}
	x = malloc(sizeof(*x));
	if (!x) {
		rc = OCTO_ENOMEM;
		goto out;
	}
	smtp_xfer_init(x, m.rcpt);
	if (x->nrcpt == 0) {
		rc = smtp_failed(conf, &m, NULL, "no recipients", true);
		goto out;
	}
	atomic_store(&smtp_sending_id, id);
	switch (smtp_deliver(conf, &m, x, &f)) {
	case SMTP_ABORTED: rc = 0; break;
	case SMTP_SENT: rc = smtp_judge_rcpts(conf, &m, x, true); break;
	case SMTP_FAILED:
		all_answered = x->rcpt_sent == x->nrcpt;
		for (size_t i = 0; all_answered && i < x->nrcpt; i++)
			all_answered = x->code[i] >= 400;
		if (all_answered) {
			/* Every recipient refused: judge them one by one. */
			rc = smtp_judge_rcpts(conf, &m, x, false);
			break;
		}
		rc = smtp_failed(conf, &m, NULL, f.error, f.permanent);
		if (rc == 0 && f.server)
			rc = smtp_fail_others(conf, id, f.error);
		break;
	}
	atomic_store(&smtp_sending_id, 0);
out:
	if (x)
		free(x->rcpt_copy);
	free(x);
	smtp_msg_clear(&m);
	return rc;
}

/* 1 and *id: a message is due at `now`; 0: nothing due, *next = the
 * earliest next attempt (0: the queue is empty); or a store error. */
static int smtp_next_due(int64_t now, int64_t *id, int64_t *next)
{
	int rc;

	*next = 0;
	rc = octo_store_query_int("SELECT id FROM smtp_queue WHERE next_attempt <= ? "
				  "ORDER BY next_attempt, id LIMIT 1",
				  OCTO_STORE_ARGS(OCTO_STORE_I(now)), id);
	if (rc == 0)
		return 1;
	if (rc != OCTO_ENOTFOUND)
		return rc;
	rc = octo_store_query_int("SELECT MIN(next_attempt) FROM smtp_queue", OCTO_STORE_NOARGS,
				  next);
	return rc == OCTO_ENOTFOUND ? 0 : rc;
}

static void *smtp_sender_main(void *arg)
{
	octo_thread_register("smtp sender");
	pthread_mutex_lock(&smtp_lock);
	while (!smtp_stop) {
		struct smtp_conf *conf = octo_obj_ref(smtp_current);
		int64_t id = 0, next = 0, now = (int64_t)time(NULL);
		unsigned wait_ms = SMTP_IDLE_MS;
		struct timespec ts;
		int rc = 0;

		smtp_wake = false;
		pthread_mutex_unlock(&smtp_lock);
		if (conf) {
			rc = smtp_next_due(now, &id, &next);
			if (rc == 1)
				rc = smtp_process(conf, id) < 0 ? -1 : 1;
		}
		octo_obj_unref(conf);
		pthread_mutex_lock(&smtp_lock);
		if (rc == 1)
			continue; /* look for the next one at once */
		if (rc < 0)
			wait_ms = SMTP_STORE_RETRY_MS;
		else if (next > 0 && next - now < SMTP_IDLE_MS / 1000)
			wait_ms = next > now ? (unsigned)(next - now) * 1000 : 0;
		if (smtp_wake || smtp_stop || wait_ms == 0)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!smtp_wake && !smtp_stop &&
		       pthread_cond_timedwait(&smtp_cond, &smtp_lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&smtp_lock);
	octo_thread_unregister();
	return NULL;
}

/* ---------------------------------------------------------------- CLI */
struct smtp_show {
	struct octo_cli_out *out;
	int64_t now;
	int64_t sending;
	int64_t rows;
};

static int smtp_show_row(const struct octo_store_row *row, void *data)
{
	struct smtp_show *s = data;
	int64_t id = octo_store_row_int(row, 0), next = octo_store_row_int(row, 4);
	char idbuf[24], attempts[24], when[32];
	char *to = smtp_rcpt_list(octo_store_row_text(row, 1) ? octo_store_row_text(row, 1) : "");
	const char *err = octo_store_row_text(row, 5);

	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	snprintf(attempts, sizeof(attempts), "%" PRId64, octo_store_row_int(row, 3));
	if (id == s->sending)
		snprintf(when, sizeof(when), "sending");
	else if (next <= s->now)
		snprintf(when, sizeof(when), "now");
	else
		smtp_format_local(when, sizeof(when), next);
	octo_cli_row(s->out, idbuf, to, octo_store_row_text(row, 2), attempts, when,
		     err ? err : "");
	free(to);
	return ++s->rows >= SMTP_SHOW_MAX;
}

static int smtp_cli_queue(struct octo_cli_out *out, int argc, char **argv)
{
	struct smtp_show s = { .out = out,
			       .now = (int64_t)time(NULL),
			       .sending = atomic_load(&smtp_sending_id) };
	int64_t count = 0;
	int rc;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	rc = octo_store_query_int("SELECT COUNT(*) FROM smtp_queue", OCTO_STORE_NOARGS, &count);
	if (rc < 0 && rc != OCTO_ENOTFOUND) {
		octo_cli_error(out, "cannot read the mail queue: %s", octo_strerror(rc));
		return OCTO_CLI_FAIL;
	}
	octo_cli_kv(out, "queued", "%" PRId64, count);
	octo_cli_kv(out, "sent", "%llu", (unsigned long long)atomic_load(&smtp_stat_sent));
	octo_cli_kv(out, "failed attempts", "%llu",
		    (unsigned long long)atomic_load(&smtp_stat_failed));
	octo_cli_kv(out, "dropped", "%llu", (unsigned long long)atomic_load(&smtp_stat_dropped));
	octo_cli_columns(out, "id", "to", "subject", "attempts", "next attempt", "last error",
			 NULL);
	rc = octo_store_query("SELECT id, rcpt, subject, attempts, next_attempt, last_error "
			      "FROM smtp_queue ORDER BY id",
			      OCTO_STORE_NOARGS, smtp_show_row, &s);
	if (rc < 0) {
		octo_cli_error(out, "cannot read the mail queue: %s", octo_strerror(rc));
		return OCTO_CLI_FAIL;
	}
	if (count > s.rows)
		octo_cli_printf(out, "Only the first %" PRId64 " of %" PRId64 " are shown.", s.rows,
				count);
	return OCTO_CLI_OK;
}

static int smtp_cli_settings(struct octo_cli_out *out, int argc, char **argv)
{
	struct smtp_conf *conf;
	const struct smtp_cfg *c;
	struct smtp_buf retry = { 0 };
	char d[32];
	int64_t sending = atomic_load(&smtp_sending_id);

	if (argc != 3)
		return OCTO_CLI_USAGE;
	conf = smtp_conf_get();
	if (!conf) {
		octo_cli_error(out, "res_smtp has no settings loaded");
		return OCTO_CLI_FAIL;
	}
	c = &conf->cfg;
	for (unsigned i = 0; i < c->retry.count; i++) {
		smtp_format_duration(d, sizeof(d), c->retry.delay[i]);
		smtp_buf_printf(&retry, "%s%s", i ? ", " : "", d);
	}
	octo_cli_kv(out, "defined at", "%s", conf->file);
	octo_cli_kv(out, "server", "%s", c->server);
	octo_cli_kv(out, "port", "%u%s", conf->port, c->port ? "" : " (default)");
	octo_cli_kv(out, "security", "%s", smtp_security_names[c->security]);
	octo_cli_kv(out, "tls verify", "%s", c->tls_verify ? "yes" : "no");
	octo_cli_kv(out, "ca file", "%s", c->ca_file ? c->ca_file : "(system)");
	octo_cli_kv(out, "username", "%s", c->username ? c->username : "(none)");
	octo_cli_kv(out, "password", "%s", c->password ? "set" : "not set");
	octo_cli_kv(out, "from", "%s", c->from);
	octo_cli_kv(out, "from name", "%s", c->from_name ? c->from_name : "");
	octo_cli_kv(out, "helo", "%s", c->helo ? c->helo : "(this host's name)");
	smtp_format_duration(d, sizeof(d), c->connect_timeout);
	octo_cli_kv(out, "connect timeout", "%s", d);
	smtp_format_duration(d, sizeof(d), c->timeout);
	octo_cli_kv(out, "timeout", "%s", d);
	octo_cli_kv(out, "retry", "%s", retry.p);
	smtp_format_duration(d, sizeof(d), c->max_age);
	octo_cli_kv(out, "max age", "%s", d);
	octo_cli_kv(out, "max queue", "%u", c->max_queue);
	octo_cli_kv(out, "max attachments size", "%llu bytes", c->max_size);
	octo_cli_kv(out, "spool", "%s", smtp_spool);
	if (sending)
		octo_cli_kv(out, "sender", "sending message %" PRId64, (int64_t)sending);
	else
		octo_cli_kv(out, "sender", "idle");
	free(retry.p);
	octo_obj_unref(conf);
	return OCTO_CLI_OK;
}

/* Resolves `file` (absolute, or relative to the data folder) and checks that
 * it lies inside the data folder. Returns a new string or NULL (reason in
 * `out`). */
static char *smtp_cli_data_file(struct octo_cli_out *out, const char *file)
{
	char joined[PATH_MAX], *real, *data;
	size_t n;

	if (!octo_paths.data_dir) {
		octo_cli_error(out, "no data folder");
		return NULL;
	}
	if (file[0] == '/')
		snprintf(joined, sizeof(joined), "%s", file);
	else
		snprintf(joined, sizeof(joined), "%s/%s", octo_paths.data_dir, file);
	data = realpath(octo_paths.data_dir, NULL);
	real = realpath(joined, NULL);
	if (!real || !data) {
		octo_cli_error(out, "%.200s: %s", file, strerror(errno));
		free(real);
		free(data);
		return NULL;
	}
	n = strlen(data);
	if (strncmp(real, data, n) != 0 || real[n] != '/') {
		octo_cli_error(out, "%.200s is not inside the data folder %s", file, data);
		free(real);
		free(data);
		return NULL;
	}
	free(data);
	return real;
}

static int smtp_cli_test(struct octo_cli_out *out, int argc, char **argv)
{
	const char *to[OCTO_MAIL_RCPT_MAX];
	struct octo_mail_attachment att = { 0 };
	struct octo_mail m = { .origin = "cli" };
	struct smtp_buf subject = { 0 }, body = { 0 };
	char *list, *save = NULL, *file = NULL, host[256] = "", date[64];
	uint64_t id = 0;
	int i = 4, rc = OCTO_CLI_FAIL;

	if (argc < 4)
		return OCTO_CLI_USAGE;
	list = octo_strdup(argv[3]);
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (m.to_count == OCTO_MAIL_RCPT_MAX) {
			octo_cli_error(out, "at most %d recipients", OCTO_MAIL_RCPT_MAX);
			goto out;
		}
		if (!smtp_is_address(tok)) {
			octo_cli_error(out, "\"%.100s\" is not an e-mail address", tok);
			goto out;
		}
		to[m.to_count++] = tok;
	}
	if (m.to_count == 0) {
		rc = OCTO_CLI_USAGE;
		goto out;
	}
	if (i < argc && strcmp(argv[i], "subject") != 0) {
		file = smtp_cli_data_file(out, argv[i]);
		if (!file)
			goto out;
		att.path = file;
		m.attachments = &att;
		m.attachment_count = 1;
		i++;
	}
	if (i < argc) {
		if (strcmp(argv[i], "subject") != 0 || i + 1 >= argc) {
			rc = OCTO_CLI_USAGE;
			goto out;
		}
		for (i++; i < argc; i++)
			smtp_buf_printf(&subject, "%s%s", subject.len ? " " : "", argv[i]);
	} else {
		smtp_buf_str(&subject, "Octo test message");
	}
	gethostname(host, sizeof(host) - 1);
	smtp_format_date(date, sizeof(date), time(NULL));
	smtp_buf_printf(&body,
			"This is a test message from the Octo PBX on %s, queued on %s.\n"
			"If you can read it, the mail settings in smtp.conf work.\n",
			host, date);
	if (file)
		smtp_buf_printf(&body, "\nAttached: %s\n", file);
	m.to = to;
	m.subject = subject.p;
	m.body = body.p;
	if (smtp_send(&m, &id) != 0) {
		octo_cli_error(out, "the message was not queued (the log says why)");
		goto out;
	}
	octo_cli_kv(out, "queued", "%" PRIu64, id);
	octo_cli_printf(out, "Test message %" PRIu64 " queued for %s.", id, argv[3]);
	rc = OCTO_CLI_OK;
out:
	free(list);
	free(file);
	free(subject.p);
	free(body.p);
	return rc;
}

static int smtp_cli_flush(struct octo_cli_out *out, int argc, char **argv)
{
	int rc;

	if (argc != 2)
		return OCTO_CLI_USAGE;
	rc = octo_store_exec("UPDATE smtp_queue SET next_attempt = 0", OCTO_STORE_NOARGS);
	if (rc < 0) {
		octo_cli_error(out, "cannot update the mail queue: %s", octo_strerror(rc));
		return OCTO_CLI_FAIL;
	}
	smtp_kick();
	octo_cli_kv(out, "retrying", "%d", rc);
	octo_cli_printf(out, "%d message%s to send now.", rc, rc == 1 ? "" : "s");
	return OCTO_CLI_OK;
}

static int smtp_cli_delete(struct octo_cli_out *out, int argc, char **argv)
{
	char *end;
	long long id;
	int rc;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	errno = 0;
	id = strtoll(argv[2], &end, 10);
	if (errno || *end || end == argv[2] || id <= 0) {
		octo_cli_error(out, "\"%.40s\" is not a message id", argv[2]);
		return OCTO_CLI_FAIL;
	}
	rc = smtp_remove(id);
	if (rc < 0) {
		octo_cli_error(out, "cannot update the mail queue: %s", octo_strerror(rc));
		return OCTO_CLI_FAIL;
	}
	if (rc == 0) {
		octo_cli_error(out, "No queued message %lld", id);
		return OCTO_CLI_FAIL;
	}
	octo_log(OCTO_NOTICE, "mail %lld deleted from the queue (console)", id);
	octo_cli_printf(out, "Message %lld deleted.", id);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd smtp_cli[] = {
	{ "mail show queue", "Show the messages waiting to be sent", NULL, smtp_cli_queue, NULL },
	{ "mail show settings", "Show the SMTP settings in use (smtp.conf)", NULL,
	  smtp_cli_settings, NULL },
	{ "mail send test", "Queue a test message, optionally with a file of the data folder",
	  "mail send test <address>[,<address>...] [<file>] [subject <text>]", smtp_cli_test,
	  NULL },
	{ "mail flush", "Try to send every queued message now", NULL, smtp_cli_flush, NULL },
	{ "mail delete", "Drop a queued message", "mail delete <id>", smtp_cli_delete, NULL },
	{ 0 }
};

/* ---------------------------------------------------------------- module */
static void smtp_log_diags(const struct octo_diags *diags)
{
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

static void smtp_once(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&smtp_cond, &attr);
	pthread_condattr_destroy(&attr);
	smtp_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* mkdir -p for the spool (two levels under the data folder). */
static int smtp_spool_init(void)
{
	char path[PATH_MAX];

	if (!octo_paths.data_dir) {
		octo_log(OCTO_ERROR, "mail: no data folder");
		return OCTO_EFAIL;
	}
	snprintf(path, sizeof(path), "%s/mail", octo_paths.data_dir);
	if (mkdir(path, 0750) != 0 && errno != EEXIST) {
		octo_log(OCTO_ERROR, "mail: cannot create %s: %s", path, strerror(errno));
		return OCTO_EFAIL;
	}
	snprintf(path, sizeof(path), "%s/%s", octo_paths.data_dir, SMTP_SPOOL);
	if (mkdir(path, 0750) != 0 && errno != EEXIST) {
		octo_log(OCTO_ERROR, "mail: cannot create %s: %s", path, strerror(errno));
		return OCTO_EFAIL;
	}
	free(smtp_spool);
	smtp_spool = octo_strdup(path);
	return 0;
}

/* Removes spool files that no queued message refers to (left by a crash
 * between the copy and the commit). */
static void smtp_spool_sweep(void)
{
	DIR *d = opendir(smtp_spool);
	struct dirent *e;
	unsigned removed = 0;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		int64_t one;

		if (strncmp(e->d_name, "att-", 4) != 0)
			continue;
		if (octo_store_query_int("SELECT 1 FROM smtp_attachment WHERE spool = ?",
					 OCTO_STORE_ARGS(OCTO_STORE_T(e->d_name)),
					 &one) != OCTO_ENOTFOUND)
			continue;
		smtp_spool_path(path, sizeof(path), e->d_name);
		if (unlink(path) == 0)
			removed++;
	}
	closedir(d);
	if (removed)
		octo_log(OCTO_NOTICE, "mail: removed %u spool file%s of messages never queued",
			 removed, removed == 1 ? "" : "s");
}

static void smtp_thread_stop(void)
{
	if (!smtp_thread_running)
		return;
	atomic_store(&smtp_stopping, true);
	pthread_mutex_lock(&smtp_lock);
	smtp_stop = true;
	pthread_cond_signal(&smtp_cond);
	pthread_mutex_unlock(&smtp_lock);
	pthread_join(smtp_thread, NULL);
	smtp_thread_running = false;
}

static int smtp_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	const curl_version_info_data *ver;
	struct smtp_conf *conf;
	bool absent, smtp_ok = false;
	int64_t queued = 0;

	conf = smtp_conf_build(octo_paths.config_dir, true, &absent, &diags);
	smtp_log_diags(&diags);
	octo_diags_free(&diags);
	if (!conf) {
		if (absent) {
			octo_verbose(1, "mail: no %s: res_smtp declines (no e-mail is sent)",
				     SMTP_FILE);
			return OCTO_LOAD_DECLINE;
		}
		octo_log(OCTO_ERROR, "%s has errors: res_smtp not loaded", SMTP_FILE);
		return OCTO_LOAD_FAIL;
	}
	pthread_once(&smtp_curl_once, smtp_once);
	if (smtp_curl_rc != CURLE_OK) {
		octo_log(OCTO_ERROR, "mail: curl_global_init failed: %s",
			 curl_easy_strerror(smtp_curl_rc));
		goto fail;
	}
	ver = curl_version_info(CURLVERSION_NOW);
	for (const char *const *p = ver ? ver->protocols : NULL; p && *p; p++)
		smtp_ok |= !strcmp(*p, conf->cfg.security == SMTP_SEC_TLS ? "smtps" : "smtp");
	if (!smtp_ok) {
		octo_log(OCTO_ERROR, "mail: this libcurl (%s) cannot speak %s",
			 ver ? ver->version : "?",
			 conf->cfg.security == SMTP_SEC_TLS ? "smtps" : "smtp");
		goto fail;
	}
	if (!octo_store_is_open()) {
		octo_log(OCTO_ERROR, "mail: the store is not open: the queue has nowhere to live");
		goto fail;
	}
	if (octo_store_migrate(SMTP_OWNER, smtp_schema, OCTO_ARRAY_LEN(smtp_schema)) < 0 ||
	    smtp_spool_init() < 0)
		goto fail;
	smtp_spool_sweep();
	if (octo_service_register(self, &smtp_service) || octo_cli_register_all(self, smtp_cli))
		goto fail;

	atomic_store(&smtp_stopping, false);
	smtp_stop = false;
	smtp_wake = false;
	smtp_conf_install(conf);
	conf = NULL;
	if (pthread_create(&smtp_thread, NULL, smtp_sender_main, NULL) != 0) {
		octo_log(OCTO_ERROR, "mail: cannot start the sender thread");
		smtp_conf_install(NULL);
		goto fail;
	}
	smtp_thread_running = true;
	octo_store_query_int("SELECT COUNT(*) FROM smtp_queue", OCTO_STORE_NOARGS, &queued);
	{
		struct smtp_conf *c = smtp_conf_get();

		octo_verbose(1, "mail: via %s:%u (%s), %" PRId64 " message%s queued", c->cfg.server,
			     c->port, smtp_security_names[c->cfg.security], queued,
			     queued == 1 ? "" : "s");
		octo_obj_unref(c);
	}
	return OCTO_LOAD_OK;
fail:
	octo_obj_unref(conf);
	free(smtp_spool);
	smtp_spool = NULL;
	return OCTO_LOAD_FAIL;
}

static int smtp_unload(struct octo_module *self)
{
	smtp_thread_stop();
	smtp_conf_install(NULL);
	free(smtp_spool);
	smtp_spool = NULL;
	return 0;
}

static int smtp_reload(struct octo_module *self, struct octo_diags *diags)
{
	bool absent;
	struct smtp_conf *conf = smtp_conf_build(octo_paths.config_dir, false, &absent, diags);

	if (!conf) {
		octo_log(OCTO_WARNING, "%s: reload refused: the running settings stay", SMTP_FILE);
		return OCTO_ECONFIG;
	}
	smtp_conf_install(conf);
	octo_verbose(1, "mail: settings reloaded from %s", SMTP_FILE);
	return 0;
}

static int smtp_check(const char *config_dir, struct octo_diags *diags)
{
	bool absent;
	struct smtp_conf *conf = smtp_conf_build(config_dir, true, &absent, diags);

	if (!conf)
		return absent ? 0 : OCTO_ECONFIG;
	octo_obj_unref(conf);
	return 0;
}

/* Resident: libcurl's global state (curl_global_init) must never be unmapped. */
OCTO_MODULE(res_smtp, .description = "E-mail: the mail service, an SMTP queue (smtp.conf)",
	    .load = smtp_load, .unload = smtp_unload, .reload = smtp_reload, .check = smtp_check,
	    .flags = OCTO_MOD_RESIDENT);
