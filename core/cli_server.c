/*
 * cli_server.c - the control socket: a unix socket in the run folder that
 * consoles (`octo -r`, `octo -rx`) connect to, and the frame encoding and
 * decoding of the wire protocol described in cli_proto.h.
 *
 * DESIGN
 * The listening socket, the connections and a wake-up eventfd are served by
 * the core event loop. A connection is a refcounted object (obj.h): the
 * server's list holds one reference, a request running on the worker pool
 * another, so a console that closes mid-command leaves the worker with a
 * valid (closed) object whose output is then simply dropped.
 *
 * Threads:
 *  - loop thread: accepts, reads and decodes frames, writes, closes. Only it
 *    touches a connection's fd (server stop excepted, after octo_loop_fd_del).
 *  - workers: run one request per connection at a time (reading from that
 *    connection pauses meanwhile), then queue the answer's frames.
 *  - any logging thread: a console that asked for log lines is a log sink; a
 *    line is queued as a LOG frame under the connection's lock (bounded: a
 *    slow console loses lines and later gets a "[N log lines dropped]"
 *    note), so the logger never waits on a console.
 * Whoever queues bytes from outside the loop marks the connection and pokes
 * the eventfd; the loop then flushes the marked connections.
 *
 * Locks, outermost first: a connection's sink_lock -> the logger's lock ->
 * a connection's object lock -> wake_lock. The server lock (the list) is
 * taken alone, or before the loop's own locks (timer and fd calls).
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "octo/cli.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/sched.h"
#include "cli_proto.h"

#define SRV_MAX_CONNS 128
#define SRV_LOG_BACKLOG (256u * 1024u) /* queued bytes past which log lines drop */
#define SRV_OUT_HIGH (1024u * 1024u)   /* queued bytes past which requests wait */
#define SRV_READ_MAX (OCTO_CLI_FRAME_HDR + OCTO_CLI_FRAME_MAX)
#define SRV_RETRY_ACCEPT_MS 500

/* ---------------------------------------------------------------- frames */

void octo_cli_frame_header(unsigned char hdr[OCTO_CLI_FRAME_HDR], int type, size_t len)
{
	hdr[0] = (unsigned char)type;
	hdr[1] = (unsigned char)(len >> 24);
	hdr[2] = (unsigned char)(len >> 16);
	hdr[3] = (unsigned char)(len >> 8);
	hdr[4] = (unsigned char)len;
}

void octo_cli_frame_add(struct octo_cli_str *str, int type, const void *payload, size_t len)
{
	unsigned char hdr[OCTO_CLI_FRAME_HDR];

	if (len > OCTO_CLI_FRAME_MAX)
		len = OCTO_CLI_FRAME_MAX;
	octo_cli_frame_header(hdr, type, len);
	octo_cli_str_add(str, hdr, sizeof(hdr));
	octo_cli_str_add(str, payload, len);
}

static bool srv_type_ok(int type, bool from_client)
{
	switch (type) {
	case OCTO_CLI_F_COMMAND:
	case OCTO_CLI_F_COMMAND_JSON:
	case OCTO_CLI_F_COMPLETE:
	case OCTO_CLI_F_VERBOSE: return from_client;
	case OCTO_CLI_F_OUTPUT:
	case OCTO_CLI_F_END:
	case OCTO_CLI_F_LOG:
	case OCTO_CLI_F_COMPLETIONS: return !from_client;
	default: return false;
	}
}

static bool srv_verbose_ok(const unsigned char *p, size_t len)
{
	size_t i = 0;

	if (len == 0 || len > 3)
		return false;
	if (p[0] == '-') {
		/* Only -1 is negative. */
		return len == 2 && p[1] == '1';
	}
	for (; i < len; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return len <= 2;
}

long octo_cli_frame_decode(const unsigned char *buf, size_t avail, bool from_client, int *type,
			   const unsigned char **payload, size_t *len)
{
	const unsigned char *p;
	size_t l;

	if (avail < 1)
		return 0;
	if (!srv_type_ok(buf[0], from_client))
		return OCTO_EINVAL;
	if (avail < OCTO_CLI_FRAME_HDR)
		return 0;
	l = ((size_t)buf[1] << 24) | ((size_t)buf[2] << 16) | ((size_t)buf[3] << 8) | buf[4];
	if (l > OCTO_CLI_FRAME_MAX)
		return OCTO_EINVAL;
	if (avail - OCTO_CLI_FRAME_HDR < l)
		return 0;
	p = buf + OCTO_CLI_FRAME_HDR;
	switch (buf[0]) {
	case OCTO_CLI_F_COMMAND:
	case OCTO_CLI_F_COMMAND_JSON:
	case OCTO_CLI_F_COMPLETE:
	case OCTO_CLI_F_LOG:
		if (memchr(p, '\0', l))
			return OCTO_EINVAL;
		break;
	case OCTO_CLI_F_VERBOSE:
		if (!srv_verbose_ok(p, l))
			return OCTO_EINVAL;
		break;
	case OCTO_CLI_F_END:
		if (l != 1 || p[0] > OCTO_CLI_UNKNOWN)
			return OCTO_EINVAL;
		break;
	case OCTO_CLI_F_COMPLETIONS:
		if (l && p[l - 1] != '\0')
			return OCTO_EINVAL;
		break;
	default: break;
	}
	*type = buf[0];
	*payload = p;
	*len = l;
	return (long)(OCTO_CLI_FRAME_HDR + l);
}

size_t octo_cli_verbose_payload(char buf[4], int level)
{
	if (level < -1)
		level = -1;
	if (level > 99)
		level = 99;
	return (size_t)snprintf(buf, 4, "%d", level);
}

int octo_cli_verbose_parse(const unsigned char *payload, size_t len)
{
	char buf[4];

	if (len == 0 || len > 3)
		return -1;
	memcpy(buf, payload, len);
	buf[len] = '\0';
	return atoi(buf);
}

char **octo_cli_completions_parse(const unsigned char *payload, size_t len)
{
	size_t n = 0, k = 0;
	char **list;

	for (size_t i = 0; i < len; i++)
		if (payload[i] == '\0')
			n++;
	list = calloc(n + 1, sizeof(char *));
	if (!list)
		abort();
	for (size_t i = 0; i < len && k < n;) {
		size_t l = strnlen((const char *)payload + i, len - i);

		if (l > 0)
			list[k++] = octo_strdup((const char *)payload + i);
		i += l + 1;
	}
	list[k] = NULL;
	return list;
}

/* ---------------------------------------------------------------- state */

struct srv_conn {
	int fd;
	/* Loop thread only. */
	unsigned char *rbuf;
	size_t rlen;
	uint32_t events; /* what the loop watches now */
	bool eof;
	/* Under the object lock. */
	struct octo_cli_str wq; /* bytes to write, from woff on */
	size_t woff;
	bool busy; /* a request is on the worker pool */
	bool closed;
	unsigned long dropped; /* log lines lost since the last note */
	/* Any thread. */
	atomic_int verbose; /* -1: no log lines */
	atomic_bool flush_wanted;
	/* The log sink, under sink_lock. */
	pthread_mutex_t sink_lock;
	int sink_id;      /* 0: none */
	bool sink_closed; /* the connection is closing: no new sink */
	struct octo_log_sink sink;
	struct srv_conn *next; /* server list, under srv.lock */
};

struct srv_job {
	struct srv_conn *conn; /* a reference */
	int type;
	char *line;
};

static struct {
	pthread_mutex_t lock; /* the fields below except wake_fd */
	bool running;
	int listen_fd;
	char *path;
	dev_t dev;
	ino_t ino;
	struct srv_conn *conns;
	unsigned nconns;
	uint64_t retry_timer;
	pthread_mutex_t wake_lock; /* wake_fd: written by any thread, closed at stop */
	int wake_fd;
	atomic_bool wake_pending;
} srv = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.listen_fd = -1,
	.wake_lock = PTHREAD_MUTEX_INITIALIZER,
	.wake_fd = -1,
};

static void srv_conn_process(struct srv_conn *conn);

/* Asks the loop to flush `conn` (any thread; never blocks). */
static void srv_wake(struct srv_conn *conn)
{
	uint64_t one = 1;

	atomic_store(&conn->flush_wanted, true);
	if (atomic_exchange(&srv.wake_pending, true))
		return;
	pthread_mutex_lock(&srv.wake_lock);
	if (srv.wake_fd >= 0 && write(srv.wake_fd, &one, sizeof(one)) < 0) {
		/* The counter is full only if the loop is stuck; nothing to add. */
	}
	pthread_mutex_unlock(&srv.wake_lock);
}

static void srv_conn_destroy(void *obj)
{
	struct srv_conn *conn = obj;

	free(conn->rbuf);
	octo_cli_str_free(&conn->wq);
	pthread_mutex_destroy(&conn->sink_lock);
}

/* ---------------------------------------------------------------- log sink */

static void srv_log_write(const struct octo_log_record *rec, void *data)
{
	struct srv_conn *conn = data;
	int verbose = atomic_load(&conn->verbose);
	const char *line;
	size_t len;

	if (verbose < 0)
		return;
	if (rec->level == OCTO_LOG_VERBOSE && rec->sublevel > verbose)
		return;
	line = rec->formatted ? rec->formatted : rec->message;
	if (!line)
		return;
	len = strnlen(line, OCTO_CLI_FRAME_MAX);
	octo_obj_lock(conn);
	if (conn->closed) {
		octo_obj_unlock(conn);
		return;
	}
	if (conn->dropped ||
	    conn->wq.len - conn->woff + OCTO_CLI_FRAME_HDR + len > SRV_LOG_BACKLOG) {
		/* Keep dropping until the loop has sent the note. */
		conn->dropped++;
		octo_obj_unlock(conn);
		return;
	}
	octo_cli_frame_add(&conn->wq, OCTO_CLI_F_LOG, line, len);
	octo_obj_unlock(conn);
	srv_wake(conn);
}

/* Sets which log lines a console gets. Its log sink exists only while it
 * wants some (one-shot consoles never take one of the logger's slots). */
static void srv_conn_set_verbose(struct srv_conn *conn, int level)
{
	static const char full[] = "[no live log for this console: the logger has no free slot]";
	bool refused = false;

	if (level < -1)
		level = -1;
	if (level > 99)
		level = 99;
	atomic_store(&conn->verbose, level);
	pthread_mutex_lock(&conn->sink_lock);
	if (conn->sink_closed) {
		pthread_mutex_unlock(&conn->sink_lock);
		return;
	}
	if (level >= 0 && conn->sink_id == 0) {
		int id;

		conn->sink.max_verbose = level;
		id = octo_log_sink_add(&conn->sink);
		if (id > 0)
			conn->sink_id = id;
		else
			refused = true;
	} else if (level >= 0) {
		octo_log_sink_set_verbose(conn->sink_id, level);
	} else if (conn->sink_id > 0) {
		octo_log_sink_remove(conn->sink_id);
		conn->sink_id = 0;
	}
	pthread_mutex_unlock(&conn->sink_lock);
	if (refused) {
		octo_obj_lock(conn);
		if (!conn->closed)
			octo_cli_frame_add(&conn->wq, OCTO_CLI_F_LOG, full, sizeof(full) - 1);
		octo_obj_unlock(conn);
		srv_wake(conn);
	}
}

/* "core set verbose N" run from this console. */
static void srv_verbose_hook(void *data, int level)
{
	srv_conn_set_verbose(data, level);
}

/* ---------------------------------------------------------------- connections */

/* Closes a connection: on the loop thread, or from stop once the loop no
 * longer serves the wake-up fd. Idempotent. */
static void srv_conn_close(struct srv_conn *conn)
{
	struct srv_conn **pp;
	int id;

	octo_obj_lock(conn);
	if (conn->closed) {
		octo_obj_unlock(conn);
		return;
	}
	conn->closed = true;
	octo_cli_str_free(&conn->wq);
	conn->woff = 0;
	octo_obj_unlock(conn);

	octo_loop_fd_del(conn->fd);
	close(conn->fd);
	pthread_mutex_lock(&conn->sink_lock);
	id = conn->sink_id;
	conn->sink_id = 0;
	conn->sink_closed = true;
	pthread_mutex_unlock(&conn->sink_lock);
	if (id > 0)
		octo_log_sink_remove(id);

	pthread_mutex_lock(&srv.lock);
	for (pp = &srv.conns; *pp; pp = &(*pp)->next) {
		if (*pp == conn) {
			*pp = conn->next;
			srv.nconns--;
			break;
		}
	}
	pthread_mutex_unlock(&srv.lock);
	octo_obj_unref(conn); /* the list's reference */
}

/* Loop thread: sets the events to watch from the connection's state. */
static void srv_conn_events(struct srv_conn *conn, bool busy, size_t queued)
{
	uint32_t ev = 0;

	if (!busy && !conn->eof && queued < SRV_OUT_HIGH && conn->rlen < SRV_READ_MAX)
		ev |= EPOLLIN;
	if (queued)
		ev |= EPOLLOUT;
	if (ev != conn->events) {
		conn->events = ev;
		octo_loop_fd_mod(conn->fd, ev);
	}
}

/* Queues the "[N log lines dropped]" note, if any is due; object lock held. */
static void srv_conn_note_dropped(struct srv_conn *conn)
{
	char note[64];
	int n;

	if (!conn->dropped)
		return;
	n = snprintf(note, sizeof(note), "[%lu log line%s dropped]", conn->dropped,
		     conn->dropped == 1 ? "" : "s");
	octo_cli_frame_add(&conn->wq, OCTO_CLI_F_LOG, note, (size_t)n);
	conn->dropped = 0;
}

/* Loop thread: writes what is queued, adds a pending "dropped" note, then
 * serves requests already read. */
static void srv_conn_flush(struct srv_conn *conn)
{
	bool failed = false, busy;
	size_t queued;

	atomic_store(&conn->flush_wanted, false);
	octo_obj_lock(conn);
	if (conn->closed) {
		octo_obj_unlock(conn);
		return;
	}
	for (int pass = 0; pass < 2 && !failed; pass++) {
		while (conn->woff < conn->wq.len) {
			ssize_t n = send(conn->fd, conn->wq.s + conn->woff,
					 conn->wq.len - conn->woff, MSG_NOSIGNAL | MSG_DONTWAIT);

			if (n > 0) {
				conn->woff += (size_t)n;
			} else if (n < 0 && errno == EINTR) {
				continue;
			} else {
				if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
					failed = true;
				break;
			}
		}
		if (conn->woff == conn->wq.len) {
			conn->woff = conn->wq.len = 0;
		} else if (conn->woff > 65536 && conn->woff > conn->wq.len / 2) {
			memmove(conn->wq.s, conn->wq.s + conn->woff, conn->wq.len - conn->woff);
			conn->wq.len -= conn->woff;
			conn->woff = 0;
		}
		if (!conn->dropped || conn->wq.len - conn->woff > SRV_LOG_BACKLOG / 2)
			break;
		srv_conn_note_dropped(conn);
	}
	busy = conn->busy;
	queued = conn->wq.len - conn->woff;
	octo_obj_unlock(conn);
	if (failed) {
		srv_conn_close(conn);
		return;
	}
	srv_conn_events(conn, busy, queued);
	if (!busy)
		srv_conn_process(conn);
}

/* Worker: runs one request and queues its answer. */
static void srv_job_run(void *data)
{
	struct srv_job *job = data;
	struct srv_conn *conn = job->conn;
	struct octo_cli_str frames = { 0 };

	if (job->type == OCTO_CLI_F_COMPLETE) {
		char **cands = octo_cli_complete_line(job->line);
		struct octo_cli_str payload = { 0 };

		for (size_t i = 0; cands[i]; i++) {
			size_t l = strlen(cands[i]) + 1;

			if (payload.len + l <= OCTO_CLI_FRAME_MAX)
				octo_cli_str_add(&payload, cands[i], l);
			free(cands[i]);
		}
		free(cands);
		octo_cli_frame_add(&frames, OCTO_CLI_F_COMPLETIONS, payload.s, payload.len);
		octo_cli_str_free(&payload);
	} else {
		struct octo_cli_out *out = octo_cli_out_alloc(job->type == OCTO_CLI_F_COMMAND_JSON);
		const char *text;
		unsigned char status;
		size_t len;

		octo_cli_out_set_verbose_hook(out, srv_verbose_hook, conn);
		status = (unsigned char)octo_cli_execute(out, job->line);
		text = octo_cli_out_render(out, status);
		len = strlen(text);
		for (size_t off = 0; off < len; off += OCTO_CLI_FRAME_MAX) {
			size_t n = len - off < OCTO_CLI_FRAME_MAX ? len - off : OCTO_CLI_FRAME_MAX;

			octo_cli_frame_add(&frames, OCTO_CLI_F_OUTPUT, text + off, n);
		}
		octo_cli_frame_add(&frames, OCTO_CLI_F_END, &status, 1);
		octo_cli_out_free(out);
	}
	octo_obj_lock(conn);
	if (!conn->closed) {
		/* Say that log lines were lost before the answer they preceded. */
		srv_conn_note_dropped(conn);
		octo_cli_str_add(&conn->wq, frames.s, frames.len);
	}
	conn->busy = false;
	octo_obj_unlock(conn);
	srv_wake(conn);
	octo_cli_str_free(&frames);
	free(job->line);
	free(job);
	octo_obj_unref(conn);
}

/* Loop thread: hands a request to the worker pool. */
static void srv_conn_request(struct srv_conn *conn, int type, const unsigned char *p, size_t len)
{
	struct srv_job *job = malloc(sizeof(*job));
	char *line = malloc(len + 1);

	if (!job || !line) {
		free(job);
		free(line);
		srv_conn_close(conn);
		return;
	}
	memcpy(line, p, len);
	line[len] = '\0';
	job->conn = octo_obj_ref(conn);
	job->type = type;
	job->line = line;
	octo_obj_lock(conn);
	conn->busy = true;
	octo_obj_unlock(conn);
	if (octo_work_push(srv_job_run, job) != 0) {
		/* No worker: answer at once that it failed. */
		static const char msg[] = "The command could not be started (no worker)\n";
		unsigned char status = OCTO_CLI_FAIL;

		octo_obj_lock(conn);
		conn->busy = false;
		if (type == OCTO_CLI_F_COMPLETE) {
			octo_cli_frame_add(&conn->wq, OCTO_CLI_F_COMPLETIONS, "", 0);
		} else {
			octo_cli_frame_add(&conn->wq, OCTO_CLI_F_OUTPUT, msg, sizeof(msg) - 1);
			octo_cli_frame_add(&conn->wq, OCTO_CLI_F_END, &status, 1);
		}
		octo_obj_unlock(conn);
		free(line);
		free(job);
		srv_wake(conn);
		octo_obj_unref(conn);
	}
}

/* Loop thread: serves the complete frames read so far, one request at a time. */
static void srv_conn_process(struct srv_conn *conn)
{
	size_t queued = 0;
	bool busy = false;

	for (;;) {
		const unsigned char *payload;
		size_t len;
		int type;
		long n;

		octo_obj_lock(conn);
		busy = conn->busy;
		queued = conn->closed ? 0 : conn->wq.len - conn->woff;
		if (conn->closed) {
			octo_obj_unlock(conn);
			return;
		}
		octo_obj_unlock(conn);
		if (busy || queued >= SRV_OUT_HIGH)
			break;
		n = octo_cli_frame_decode(conn->rbuf, conn->rlen, true, &type, &payload, &len);
		if (n < 0) {
			/* Malformed: this console is gone, nothing else is touched. */
			srv_conn_close(conn);
			return;
		}
		if (n == 0)
			break;
		if (type == OCTO_CLI_F_VERBOSE)
			srv_conn_set_verbose(conn, octo_cli_verbose_parse(payload, len));
		else
			srv_conn_request(conn, type, payload, len);
		memmove(conn->rbuf, conn->rbuf + n, conn->rlen - (size_t)n);
		conn->rlen -= (size_t)n;
	}
	if (conn->eof && !busy && queued == 0) {
		/* The console sent everything and got every answer. */
		srv_conn_close(conn);
		return;
	}
	srv_conn_events(conn, busy, queued);
}

static void srv_conn_cb(int fd, uint32_t events, void *data)
{
	struct srv_conn *conn = octo_obj_ref(data);

	if (events & (EPOLLHUP | EPOLLERR)) {
		srv_conn_close(conn);
		goto out;
	}
	if (events & EPOLLIN) {
		ssize_t n = read(fd, conn->rbuf + conn->rlen, SRV_READ_MAX - conn->rlen);

		if (n > 0) {
			conn->rlen += (size_t)n;
		} else if (n == 0) {
			conn->eof = true;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			srv_conn_close(conn);
			goto out;
		}
		srv_conn_process(conn);
	}
	if (events & EPOLLOUT)
		srv_conn_flush(conn);
out:
	octo_obj_unref(conn);
}

/* Loop thread: flushes the connections that were poked. */
static void srv_wake_cb(int fd, uint32_t events, void *data)
{
	struct srv_conn *list[SRV_MAX_CONNS];
	unsigned n = 0;
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0) {
	}
	atomic_store(&srv.wake_pending, false);
	pthread_mutex_lock(&srv.lock);
	for (struct srv_conn *c = srv.conns; c && n < SRV_MAX_CONNS; c = c->next)
		if (atomic_load(&c->flush_wanted))
			list[n++] = octo_obj_ref(c);
	pthread_mutex_unlock(&srv.lock);
	for (unsigned i = 0; i < n; i++) {
		srv_conn_flush(list[i]);
		octo_obj_unref(list[i]);
	}
}

static unsigned srv_retry_accept(void *data)
{
	pthread_mutex_lock(&srv.lock);
	srv.retry_timer = 0;
	if (srv.listen_fd >= 0)
		octo_loop_fd_mod(srv.listen_fd, EPOLLIN);
	pthread_mutex_unlock(&srv.lock);
	return 0;
}

static void srv_accept_cb(int lfd, uint32_t events, void *data)
{
	for (;;) {
		struct srv_conn *conn;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of descriptors: pause accepting instead of spinning. */
				octo_log(OCTO_WARNING, "cli: cannot accept a console: %s",
					 strerror(errno));
				octo_loop_fd_mod(lfd, 0);
				pthread_mutex_lock(&srv.lock);
				srv.retry_timer =
					octo_timer_add(SRV_RETRY_ACCEPT_MS, srv_retry_accept, NULL);
				pthread_mutex_unlock(&srv.lock);
			}
			return;
		}
		pthread_mutex_lock(&srv.lock);
		if (srv.nconns >= SRV_MAX_CONNS) {
			pthread_mutex_unlock(&srv.lock);
			close(fd);
			octo_log(OCTO_WARNING, "cli: too many consoles (%d), one refused",
				 SRV_MAX_CONNS);
			continue;
		}
		pthread_mutex_unlock(&srv.lock);

		conn = octo_obj_alloc(sizeof(*conn), srv_conn_destroy);
		if (conn)
			conn->rbuf = malloc(SRV_READ_MAX);
		if (!conn || !conn->rbuf) {
			octo_obj_unref(conn);
			close(fd);
			continue;
		}
		conn->fd = fd;
		conn->events = EPOLLIN;
		atomic_init(&conn->verbose, -1);
		atomic_init(&conn->flush_wanted, false);
		pthread_mutex_init(&conn->sink_lock, NULL);
		conn->sink.write = srv_log_write;
		conn->sink.data = conn;
		conn->sink.level_mask = (1u << OCTO_LOG_LEVELS) - 1;
		conn->sink.max_verbose = 0;
		conn->sink.max_debug = 5;

		pthread_mutex_lock(&srv.lock);
		conn->next = srv.conns;
		srv.conns = conn;
		srv.nconns++;
		pthread_mutex_unlock(&srv.lock);

		if (octo_loop_fd_add(fd, EPOLLIN, srv_conn_cb, conn) != 0) {
			/* Not watched: close by hand (fd_del on it is harmless). */
			srv_conn_close(conn);
		}
	}
}

/* ---------------------------------------------------------------- start/stop */

/* Whether a daemon answers on `path` (a connect succeeds or is pending). */
static bool srv_someone_listens(const struct sockaddr_un *addr)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	bool yes;

	if (s < 0)
		return false;
	yes = connect(s, (const struct sockaddr *)addr, sizeof(*addr)) == 0 || errno == EAGAIN ||
	      errno == EINPROGRESS;
	close(s);
	return yes;
}

/* Gives the socket to the group "octo" when it exists (STYLE: group octo). */
static void srv_set_group(const char *path)
{
	struct group grp, *res = NULL;
	char buf[4096];

	if (getgrnam_r("octo", &grp, buf, sizeof(buf), &res) == 0 && res) {
		if (chown(path, (uid_t)-1, res->gr_gid) != 0)
			octo_debug(1, "cli: cannot give %s to group octo: %s", path,
				   strerror(errno));
	}
}

int octo_cli_server_start(const char *path)
{
	struct sockaddr_un addr;
	struct stat st;
	int fd = -1, wfd = -1, err;

	if (!path || !*path)
		return OCTO_EINVAL;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		octo_log(OCTO_ERROR, "cli: control socket path too long (max %zu bytes): %s",
			 sizeof(addr.sun_path) - 1, path);
		return OCTO_EINVAL;
	}
	pthread_mutex_lock(&srv.lock);
	if (srv.running) {
		pthread_mutex_unlock(&srv.lock);
		octo_log(OCTO_ERROR, "cli: the control socket is already open at %s", srv.path);
		return OCTO_EBUSY;
	}
	srv.running = true; /* reserved while starting */
	pthread_mutex_unlock(&srv.lock);

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	octo_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			octo_log(OCTO_ERROR, "cli: %s exists and is not a socket; not replacing it",
				 path);
			err = OCTO_EEXIST;
			goto fail;
		}
		if (srv_someone_listens(&addr)) {
			octo_log(OCTO_ERROR, "cli: another octo is already running on %s", path);
			err = OCTO_EBUSY;
			goto fail;
		}
		/* A stale socket left by a daemon that died. */
		if (unlink(path) != 0 && errno != ENOENT) {
			octo_log(OCTO_ERROR, "cli: cannot remove the stale socket %s: %s", path,
				 strerror(errno));
			err = OCTO_EFAIL;
			goto fail;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		octo_log(OCTO_ERROR, "cli: cannot create the control socket %s: %s", path,
			 strerror(errno));
		err = OCTO_EFAIL;
		goto fail;
	}
	if (chmod(path, 0660) != 0 || listen(fd, 64) != 0 || stat(path, &st) != 0) {
		octo_log(OCTO_ERROR, "cli: cannot open the control socket %s: %s", path,
			 strerror(errno));
		unlink(path);
		err = OCTO_EFAIL;
		goto fail;
	}
	srv_set_group(path);
	wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (wfd < 0) {
		octo_log(OCTO_ERROR, "cli: eventfd: %s", strerror(errno));
		unlink(path);
		err = OCTO_EFAIL;
		goto fail;
	}
	pthread_mutex_lock(&srv.wake_lock);
	srv.wake_fd = wfd;
	pthread_mutex_unlock(&srv.wake_lock);
	atomic_store(&srv.wake_pending, false);
	pthread_mutex_lock(&srv.lock);
	srv.listen_fd = fd;
	srv.path = octo_strdup(path);
	srv.dev = st.st_dev;
	srv.ino = st.st_ino;
	pthread_mutex_unlock(&srv.lock);
	if (octo_loop_fd_add(wfd, EPOLLIN, srv_wake_cb, NULL) != 0 ||
	    octo_loop_fd_add(fd, EPOLLIN, srv_accept_cb, NULL) != 0) {
		octo_log(OCTO_ERROR, "cli: cannot watch the control socket (is the loop running?)");
		octo_cli_server_stop();
		return OCTO_EFAIL;
	}
	octo_verbose(2, "cli: listening on %s", path);
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	pthread_mutex_lock(&srv.lock);
	srv.running = false;
	pthread_mutex_unlock(&srv.lock);
	return err;
}

void octo_cli_server_stop(void)
{
	struct stat st;
	uint64_t timer;
	int lfd, wfd;
	char *path;

	pthread_mutex_lock(&srv.lock);
	if (!srv.running || srv.listen_fd < 0) {
		pthread_mutex_unlock(&srv.lock);
		return;
	}
	lfd = srv.listen_fd;
	srv.listen_fd = -1;
	timer = srv.retry_timer;
	srv.retry_timer = 0;
	path = srv.path;
	srv.path = NULL;
	pthread_mutex_unlock(&srv.lock);
	if (timer)
		octo_timer_cancel(timer);

	/* After these, no loop callback of ours runs, so fds may be closed here. */
	octo_loop_fd_del(lfd);
	close(lfd);
	octo_loop_fd_del(srv.wake_fd);
	for (;;) {
		struct srv_conn *conn;

		pthread_mutex_lock(&srv.lock);
		conn = octo_obj_ref(srv.conns);
		pthread_mutex_unlock(&srv.lock);
		if (!conn)
			break;
		srv_conn_close(conn);
		octo_obj_unref(conn);
	}
	pthread_mutex_lock(&srv.wake_lock);
	wfd = srv.wake_fd;
	srv.wake_fd = -1;
	pthread_mutex_unlock(&srv.wake_lock);
	close(wfd);

	/* Remove the socket file unless someone else has replaced it. */
	if (path && stat(path, &st) == 0 && st.st_dev == srv.dev && st.st_ino == srv.ino)
		unlink(path);
	free(path);
	pthread_mutex_lock(&srv.lock);
	srv.running = false;
	pthread_mutex_unlock(&srv.lock);
}
