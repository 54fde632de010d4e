/*
 * store.c - the internal SQLite store (include/octo/store.h): one database
 * file for run-time state, schema versions per owner, synchronous queries
 * with bound parameters, and a writer thread that batches queued writes.
 *
 * DESIGN
 *  - Synchronous calls borrow a connection from a pool (at most
 *    OCTO_STORE_POOL, opened on demand, kept open until shutdown). The
 *    borrowing thread records it in a thread-local pointer while it uses it,
 *    so a store call made from inside a row callback or a transaction on the
 *    same thread reuses that connection instead of taking a second one
 *    (which could deadlock against the first, and would not see the open
 *    transaction). `depth` counts such nested borrows.
 *  - A connection is only ever used by one thread at a time (the pool hands
 *    it out under store.lock), so connections are opened with
 *    SQLITE_OPEN_NOMUTEX and every sqlite3_errmsg() read belongs to the
 *    call that failed.
 *  - The writer thread owns one more connection. Jobs are copied into one
 *    allocation each (SQL, parameters, texts) and kept in a FIFO with a
 *    sequence number; the writer takes up to STORE_BATCH_MAX of them when
 *    OCTO_STORE_BATCH are waiting, OCTO_STORE_BATCH_MS after the oldest was
 *    queued, when someone flushes, or at shutdown. A failed statement is
 *    logged and skipped; if SQLite rolled the whole transaction back, the
 *    batch is replayed without it, so the others still commit.
 *  - Each connection caches STORE_CACHE prepared statements by SQL text (a
 *    CDR writer runs the same INSERT thousands of times).
 *  - Lock order: store.lock and wr.lock are never held together, and no
 *    SQLite call is made while either is held (except closing at shutdown,
 *    when nobody else uses the store).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "octo/log.h"
#include "octo/store.h"

#define STORE_SHOWN 80       /* characters of a statement quoted in a message */
#define STORE_CACHE 16       /* prepared statements kept per connection */
#define STORE_BATCH_MAX 1000 /* statements per writer transaction at most */
#define STORE_RETRIES 3      /* BEGIN/COMMIT attempts of the writer when busy */
#define STORE_OWNER_MAX 64

struct store_cached {
	char *sql;
	sqlite3_stmt *stmt;
	bool busy;     /* handed out now (a nested call prepares its own) */
	uint64_t used; /* for least-recently-used eviction */
};

struct store_conn {
	sqlite3 *db;
	struct store_cached cache[STORE_CACHE];
	uint64_t tick;
	unsigned depth;    /* nested borrows by the thread holding it */
	unsigned tx_depth; /* 0: none; 1: BEGIN; n > 1: n - 1 savepoints */
	struct store_conn *next_free;
	struct store_conn *next_all;
};

struct octo_store_row {
	sqlite3_stmt *stmt;
};

/* The pool of synchronous connections. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* a connection came back */
	bool open;
	char *path;
	struct store_conn *all;
	struct store_conn *free;
	unsigned nconns; /* opened, or being opened */
	unsigned active; /* borrowed now */
} store = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static _Thread_local struct store_conn *store_tls;

/* A queued statement: one allocation holding everything it points to. */
struct store_job {
	struct store_job *next;
	uint64_t seq;
	uint64_t queued_ms;
	bool failed;
	const char *sql;
	size_t nargs;
	struct octo_store_arg args[];
};

/* The writer thread and its queue. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* work, flush or stop (CLOCK_MONOTONIC) */
	pthread_cond_t done; /* done_seq moved */
	pthread_t thread;
	bool running;   /* the thread exists */
	bool accepting; /* octo_store_queue allowed */
	bool stop;
	bool overflowed; /* the overflow was logged */
	struct store_job *head, *tail;
	unsigned count;
	uint64_t next_seq;  /* next job's number; the first is 1 */
	uint64_t done_seq;  /* every job up to this one is finished */
	uint64_t flush_seq; /* someone waits for jobs up to this one */
	struct octo_store_stats stats;
	struct store_conn *conn;
} wr = { .lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER };

/* ---------------------------------------------------------------- messages */

/* The start of a statement for a message: one line, at most STORE_SHOWN
 * characters, "..." when cut. */
static const char *store_shown(const char *sql, char *buf, size_t size)
{
	size_t n = 0;
	bool space = false;

	if (!sql)
		sql = "";
	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r')
		sql++;
	for (; *sql && n + 4 < size && n < STORE_SHOWN; sql++) {
		unsigned char ch = (unsigned char)*sql;

		if (ch < 0x20 || ch == 0x7f) {
			space = true;
			continue;
		}
		if (space && n)
			buf[n++] = ' ';
		space = false;
		buf[n++] = (char)ch;
	}
	if (*sql && n + 4 <= size) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static int store_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW: return OCTO_OK;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return OCTO_EBUSY;
	case SQLITE_NOMEM: return OCTO_ENOMEM;
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return OCTO_EEXIST;
		return OCTO_EINVAL;
	case SQLITE_ERROR:
	case SQLITE_RANGE:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG: return OCTO_EINVAL;
	default: return OCTO_EFAIL;
	}
}

/* Logs a failed statement with SQLite's message: `store: WHAT"SQL": message`
 * (what is "" or ends with a space). Returns the OCTO_E* code. */
static int store_fail(sqlite3 *db, int rc, const char *what, const char *sql)
{
	char shown[STORE_SHOWN + 8];

	octo_log(OCTO_ERROR, "store: %s\"%s\": %s", what, store_shown(sql, shown, sizeof(shown)),
		 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	return store_code(rc);
}

static int store_not_open(void)
{
	octo_log(OCTO_ERROR, "store: not open");
	return OCTO_EFAIL;
}

/* ---------------------------------------------------------------- connections */

/* An opening failure, with advice when the file itself is the problem. */
static void store_open_error(const char *path, int rc, const char *msg)
{
	const char *hint = "";

	if ((rc & 0xff) == SQLITE_NOTADB)
		hint = " (move the file away to start with an empty store)";
	else if ((rc & 0xff) == SQLITE_CORRUPT)
		hint = " (move the file away to start with an empty store, or try the sqlite3 "
		       "shell's .recover on a copy)";
	octo_log(OCTO_ERROR, "store: %s: cannot open: %s%s", path, msg, hint);
}

/* Opens one connection. `first`: the one that checks the file and sets WAL
 * (a persistent property of the file, so later connections find it set). */
static struct store_conn *store_conn_open(const char *path, bool first)
{
	struct store_conn *c;
	sqlite3 *db = NULL;
	char *err = NULL;
	int rc;

	if (first) {
		/* Create it private (CDRs, contacts): SQLite would use 0644. */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);

		if (fd < 0) {
			octo_log(OCTO_ERROR, "store: %s: cannot open: %s", path, strerror(errno));
			return NULL;
		}
		close(fd);
	}
	rc = sqlite3_open_v2(
		path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		octo_log(OCTO_ERROR, "store: %s: cannot open: %s", path,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, OCTO_STORE_BUSY_MS);
	if (first) {
		sqlite3_stmt *st = NULL;
		const char *mode = NULL;

		/* Reading the journal mode reads the header: this is where a file
		 * that is not a database is found out. */
		rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			mode = (const char *)sqlite3_column_text(st, 0);
		if (rc != SQLITE_ROW) {
			store_open_error(path, rc, sqlite3_errmsg(db));
			sqlite3_finalize(st);
			sqlite3_close(db);
			return NULL;
		}
		if (!mode || strcmp(mode, "wal")) {
			octo_log(OCTO_ERROR,
				 "store: %s: cannot switch to WAL mode (journal mode "
				 "is \"%s\")",
				 path, mode ? mode : "?");
			sqlite3_finalize(st);
			sqlite3_close(db);
			return NULL;
		}
		sqlite3_finalize(st);
	}
	rc = sqlite3_exec(db, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON", NULL, NULL,
			  &err);
	if (rc == SQLITE_OK && first)
		rc = sqlite3_exec(db,
				  "CREATE TABLE IF NOT EXISTS octo_schema(owner TEXT PRIMARY KEY,"
				  " version INTEGER NOT NULL, updated INTEGER NOT NULL)",
				  NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		store_open_error(path, rc, err ? err : sqlite3_errmsg(db));
		sqlite3_free(err);
		sqlite3_close(db);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		octo_log(OCTO_ERROR, "store: %s: cannot open: out of memory", path);
		sqlite3_close(db);
		return NULL;
	}
	c->db = db;
	return c;
}

static void store_conn_close(struct store_conn *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < STORE_CACHE; i++) {
		sqlite3_finalize(c->cache[i].stmt);
		free(c->cache[i].sql);
	}
	if (sqlite3_close(c->db) != SQLITE_OK)
		octo_log(OCTO_ERROR, "store: cannot close a connection: %s", sqlite3_errmsg(c->db));
	free(c);
}

/* Borrows a connection for the calling thread (the one it holds already, if
 * any). NULL when the store is not open (logged). */
static struct store_conn *store_acquire(void)
{
	struct store_conn *c = store_tls;

	if (c) {
		c->depth++;
		return c;
	}
	pthread_mutex_lock(&store.lock);
	for (;;) {
		if (!store.open) {
			pthread_mutex_unlock(&store.lock);
			store_not_open();
			return NULL;
		}
		if (store.free) {
			c = store.free;
			store.free = c->next_free;
			c->next_free = NULL;
			store.active++;
			pthread_mutex_unlock(&store.lock);
			break;
		}
		if (store.nconns < OCTO_STORE_POOL) {
			/* Open outside the lock; `active` keeps shutdown (and so
			 * store.path) away meanwhile. */
			store.nconns++;
			store.active++;
			pthread_mutex_unlock(&store.lock);
			c = store_conn_open(store.path, false);
			pthread_mutex_lock(&store.lock);
			if (!c) {
				store.nconns--;
				store.active--;
				pthread_cond_broadcast(&store.cond);
				pthread_mutex_unlock(&store.lock);
				return NULL;
			}
			c->next_all = store.all;
			store.all = c;
			pthread_mutex_unlock(&store.lock);
			break;
		}
		pthread_cond_wait(&store.cond, &store.lock);
	}
	c->depth = 1;
	store_tls = c;
	return c;
}

static void store_release(struct store_conn *c)
{
	if (--c->depth)
		return;
	if (c->tx_depth) {
		/* Cannot happen: every begin has its end below. */
		octo_log(OCTO_ERROR, "store: a transaction was left open; rolled back");
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		c->tx_depth = 0;
	}
	store_tls = NULL;
	pthread_mutex_lock(&store.lock);
	c->next_free = store.free;
	store.free = c;
	store.active--;
	pthread_cond_broadcast(&store.cond);
	pthread_mutex_unlock(&store.lock);
}

/* ---------------------------------------------------------------- statements */

/* True when `text` holds no statement (blanks, ';' and comments only). */
static bool store_nothing_left(sqlite3 *db, const char *text)
{
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;

	while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r' || *text == ';')
		text++;
	if (!*text)
		return true;
	if (sqlite3_prepare_v2(db, text, -1, &st, &tail) != SQLITE_OK)
		return false;
	if (st) {
		sqlite3_finalize(st);
		return false;
	}
	return true;
}

/* A prepared statement for `sql` on `c`, from the cache when possible;
 * *slotp is the cache slot (NULL: finalize after use). NULL on error (logged,
 * *err set). */
static sqlite3_stmt *store_stmt_get(struct store_conn *c, const char *sql,
				    struct store_cached **slotp, int *err)
{
	struct store_cached *victim = NULL;
	sqlite3_stmt *st = NULL;
	const char *tail = NULL;
	char shown[STORE_SHOWN + 8];
	int rc;

	*slotp = NULL;
	for (size_t i = 0; i < STORE_CACHE; i++) {
		struct store_cached *s = &c->cache[i];

		if (s->sql && !s->busy && !strcmp(s->sql, sql)) {
			s->busy = true;
			s->used = ++c->tick;
			*slotp = s;
			return s->stmt;
		}
	}
	rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
	if (rc != SQLITE_OK) {
		*err = store_fail(c->db, rc, "cannot prepare ", sql);
		return NULL;
	}
	if (!st) {
		octo_log(OCTO_ERROR, "store: \"%s\": no statement",
			 store_shown(sql, shown, sizeof(shown)));
		*err = OCTO_EINVAL;
		return NULL;
	}
	if (tail && !store_nothing_left(c->db, tail)) {
		sqlite3_finalize(st);
		octo_log(OCTO_ERROR, "store: \"%s\": more than one statement (one per call)",
			 store_shown(sql, shown, sizeof(shown)));
		*err = OCTO_EINVAL;
		return NULL;
	}
	for (size_t i = 0; i < STORE_CACHE; i++) {
		struct store_cached *s = &c->cache[i];

		if (s->busy)
			continue;
		if (!s->sql) {
			victim = s;
			break;
		}
		if (!victim || s->used < victim->used)
			victim = s;
	}
	if (victim) {
		char *copy = strdup(sql);

		if (copy) {
			sqlite3_finalize(victim->stmt);
			free(victim->sql);
			victim->sql = copy;
			victim->stmt = st;
			victim->busy = true;
			victim->used = ++c->tick;
			*slotp = victim;
		}
	}
	return st;
}

static void store_stmt_put(sqlite3_stmt *st, struct store_cached *slot)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (slot)
		slot->busy = false;
	else
		sqlite3_finalize(st);
}

static int store_bind(struct store_conn *c, sqlite3_stmt *st, const char *sql,
		      const struct octo_store_arg *args, size_t nargs, bool quiet)
{
	char shown[STORE_SHOWN + 8];
	int want = sqlite3_bind_parameter_count(st);

	if ((size_t)want != nargs) {
		if (!quiet)
			octo_log(OCTO_ERROR, "store: \"%s\": %d parameter%s, %zu given",
				 store_shown(sql, shown, sizeof(shown)), want, want == 1 ? "" : "s",
				 nargs);
		return OCTO_EINVAL;
	}
	for (size_t i = 0; i < nargs; i++) {
		int idx = (int)i + 1, rc;

		switch (args[i].type) {
		case OCTO_STORE_NULL: rc = sqlite3_bind_null(st, idx); break;
		case OCTO_STORE_INT: rc = sqlite3_bind_int64(st, idx, args[i].i); break;
		case OCTO_STORE_TEXT:
			rc = args[i].text ? sqlite3_bind_text(st, idx, args[i].text, -1,
							      SQLITE_TRANSIENT)
					  : sqlite3_bind_null(st, idx);
			break;
		default:
			if (!quiet)
				octo_log(OCTO_ERROR,
					 "store: \"%s\": parameter %d has an unknown type",
					 store_shown(sql, shown, sizeof(shown)), idx);
			return OCTO_EINVAL;
		}
		if (rc != SQLITE_OK)
			return quiet ? store_code(rc)
				     : store_fail(c->db, rc, "cannot bind a parameter of ", sql);
	}
	return OCTO_OK;
}

/*
 * Runs one statement on `c`: rows go to cb (when not NULL). Returns the
 * number of rows given to cb for a query, the number of rows changed
 * otherwise (when `changes`), or a negative OCTO_E* (logged).
 */
static int store_run(struct store_conn *c, const char *sql, const struct octo_store_arg *args,
		     size_t nargs, octo_store_row_fn cb, void *data, int64_t *rowid)
{
	struct store_cached *slot;
	sqlite3_stmt *st;
	int rc = OCTO_OK, step, rows = 0, before;

	if (!sql || (nargs && !args)) {
		octo_log(OCTO_ERROR, "store: no statement given");
		return OCTO_EINVAL;
	}
	st = store_stmt_get(c, sql, &slot, &rc);
	if (!st)
		return rc;
	rc = store_bind(c, st, sql, args, nargs, false);
	if (rc) {
		store_stmt_put(st, slot);
		return rc;
	}
	before = sqlite3_total_changes(c->db);
	for (;;) {
		step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			struct octo_store_row row = { st };

			if (!cb)
				continue;
			rows++;
			if (cb(&row, data))
				break;
			continue;
		}
		if (step != SQLITE_DONE)
			rc = store_fail(c->db, step, "", sql);
		break;
	}
	if (!rc && !cb)
		rows = (sqlite3_stmt_readonly(st) || sqlite3_total_changes(c->db) == before)
			       ? 0
			       : sqlite3_changes(c->db);
	if (!rc && rowid)
		*rowid = sqlite3_last_insert_rowid(c->db);
	store_stmt_put(st, slot);
	return rc ? rc : rows;
}

/* Plain SQL without parameters (transaction control); logs failures. */
static int store_simple(struct store_conn *c, const char *sql)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? OCTO_OK : store_fail(c->db, rc, "", sql);
}

static int store_begin(struct store_conn *c)
{
	char sql[48];
	int rc;

	if (c->tx_depth == 0)
		snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE");
	else
		snprintf(sql, sizeof(sql), "SAVEPOINT octo_sp%u", c->tx_depth);
	rc = store_simple(c, sql);
	if (!rc)
		c->tx_depth++;
	return rc;
}

static int store_end(struct store_conn *c, bool commit)
{
	char sql[96];
	int rc = OCTO_OK;

	if (!c->tx_depth)
		return OCTO_EINVAL;
	c->tx_depth--;
	if (c->tx_depth == 0) {
		/* A failed statement may have rolled everything back already. */
		if (sqlite3_get_autocommit(c->db)) {
			if (!commit)
				return OCTO_OK;
			octo_log(OCTO_ERROR,
				 "store: cannot commit: the transaction was rolled back "
				 "after an error");
			return OCTO_EFAIL;
		}
		if (commit) {
			rc = store_simple(c, "COMMIT");
			if (rc && !sqlite3_get_autocommit(c->db))
				sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
			return rc;
		}
		return store_simple(c, "ROLLBACK");
	}
	if (sqlite3_get_autocommit(c->db)) {
		if (!commit)
			return OCTO_OK;
		octo_log(OCTO_ERROR,
			 "store: cannot release a savepoint: the transaction was rolled "
			 "back after an error");
		return OCTO_EFAIL;
	}
	if (commit)
		snprintf(sql, sizeof(sql), "RELEASE octo_sp%u", c->tx_depth);
	else
		snprintf(sql, sizeof(sql), "ROLLBACK TO octo_sp%u; RELEASE octo_sp%u", c->tx_depth,
			 c->tx_depth);
	return store_simple(c, sql);
}

/* ---------------------------------------------------------------- rows */
int octo_store_row_columns(const struct octo_store_row *row)
{
	return row ? sqlite3_column_count(row->stmt) : 0;
}

static bool store_col_ok(const struct octo_store_row *row, int col)
{
	return row && col >= 0 && col < sqlite3_column_count(row->stmt);
}

const char *octo_store_row_name(const struct octo_store_row *row, int col)
{
	return store_col_ok(row, col) ? sqlite3_column_name(row->stmt, col) : NULL;
}

bool octo_store_row_is_null(const struct octo_store_row *row, int col)
{
	return !store_col_ok(row, col) || sqlite3_column_type(row->stmt, col) == SQLITE_NULL;
}

int64_t octo_store_row_int(const struct octo_store_row *row, int col)
{
	return store_col_ok(row, col) ? sqlite3_column_int64(row->stmt, col) : 0;
}

const char *octo_store_row_text(const struct octo_store_row *row, int col)
{
	if (!store_col_ok(row, col) || sqlite3_column_type(row->stmt, col) == SQLITE_NULL)
		return NULL;
	return (const char *)sqlite3_column_text(row->stmt, col);
}

/* ---------------------------------------------------------------- synchronous API */
int octo_store_exec(const char *sql, const struct octo_store_arg *args, size_t nargs)
{
	return octo_store_insert(sql, args, nargs, NULL);
}

int octo_store_insert(const char *sql, const struct octo_store_arg *args, size_t nargs,
		      int64_t *rowid)
{
	struct store_conn *c = store_acquire();
	int rc;

	if (!c)
		return OCTO_EFAIL;
	rc = store_run(c, sql, args, nargs, NULL, NULL, rowid);
	store_release(c);
	return rc;
}

int octo_store_query(const char *sql, const struct octo_store_arg *args, size_t nargs,
		     octo_store_row_fn cb, void *data)
{
	struct store_conn *c;
	int rc;

	if (!cb) {
		octo_log(OCTO_ERROR, "store: query without a row callback");
		return OCTO_EINVAL;
	}
	c = store_acquire();
	if (!c)
		return OCTO_EFAIL;
	rc = store_run(c, sql, args, nargs, cb, data, NULL);
	store_release(c);
	return rc;
}

struct store_first {
	bool found;
	int64_t i;
	char *buf;
	size_t size;
};

static int store_first_cb(const struct octo_store_row *row, void *data)
{
	struct store_first *f = data;

	if (octo_store_row_is_null(row, 0))
		return 1;
	f->found = true;
	if (f->buf) {
		const char *t = octo_store_row_text(row, 0);

		octo_strlcpy(f->buf, t ? t : "", f->size);
	} else {
		f->i = octo_store_row_int(row, 0);
	}
	return 1;
}

int octo_store_query_int(const char *sql, const struct octo_store_arg *args, size_t nargs,
			 int64_t *out)
{
	struct store_first f = { 0 };
	int rc = octo_store_query(sql, args, nargs, store_first_cb, &f);

	if (rc < 0)
		return rc;
	if (!f.found)
		return OCTO_ENOTFOUND;
	if (out)
		*out = f.i;
	return OCTO_OK;
}

int octo_store_query_text(const char *sql, const struct octo_store_arg *args, size_t nargs,
			  char *buf, size_t size)
{
	char dummy[1];
	struct store_first f = { .buf = buf && size ? buf : dummy, .size = buf && size ? size : 1 };
	int rc = octo_store_query(sql, args, nargs, store_first_cb, &f);

	if (rc < 0)
		return rc;
	return f.found ? OCTO_OK : OCTO_ENOTFOUND;
}

int octo_store_transaction(int (*fn)(void *data), void *data)
{
	struct store_conn *c;
	int rc, ret;

	if (!fn)
		return OCTO_EINVAL;
	c = store_acquire();
	if (!c)
		return OCTO_EFAIL;
	rc = store_begin(c);
	if (rc) {
		store_release(c);
		return rc;
	}
	ret = fn(data);
	rc = store_end(c, ret == 0);
	store_release(c);
	return ret ? ret : rc;
}

/* ---------------------------------------------------------------- schema versions */
static bool store_owner_ok(const char *owner)
{
	size_t len = owner ? strnlen(owner, STORE_OWNER_MAX + 1) : 0;

	if (len == 0 || len > STORE_OWNER_MAX) {
		octo_log(OCTO_ERROR, "store: a schema owner is a name of 1..%d characters",
			 STORE_OWNER_MAX);
		return false;
	}
	return true;
}

int octo_store_version(const char *owner)
{
	int64_t v = 0;
	int rc;

	if (!store_owner_ok(owner))
		return OCTO_EINVAL;
	rc = octo_store_query_int("SELECT version FROM octo_schema WHERE owner = ?",
				  OCTO_STORE_ARGS(OCTO_STORE_T(owner)), &v);
	if (rc == OCTO_ENOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	return v < 0 || v > 1000000 ? OCTO_EFAIL : (int)v;
}

int octo_store_migrate(const char *owner, const char *const *steps, size_t n)
{
	struct store_conn *c;
	int rc, version;

	if (!store_owner_ok(owner))
		return OCTO_EINVAL;
	if (n > 1000000 || (n && !steps)) {
		octo_log(OCTO_ERROR, "store: %s: no schema steps given", owner);
		return OCTO_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!steps[i]) {
			octo_log(OCTO_ERROR, "store: %s: schema step %zu is missing", owner, i + 1);
			return OCTO_EINVAL;
		}
	}
	c = store_acquire();
	if (!c)
		return OCTO_EFAIL;
	rc = store_begin(c);
	if (rc)
		goto out;
	/* Read inside the transaction: BEGIN IMMEDIATE keeps two starts of the
	 * same module from both applying a step. */
	version = octo_store_version(owner);
	if (version < 0) {
		store_end(c, false);
		rc = version;
		goto out;
	}
	if ((size_t)version > n) {
		store_end(c, false);
		octo_log(OCTO_ERROR,
			 "store: the tables of %s are at version %d, newer than this "
			 "build knows (%zu)",
			 owner, version, n);
		rc = OCTO_EINVAL;
		goto out;
	}
	for (size_t i = (size_t)version; i < n; i++) {
		char *err = NULL;
		int src = sqlite3_exec(c->db, steps[i], NULL, NULL, &err);

		if (src != SQLITE_OK) {
			octo_log(OCTO_ERROR, "store: %s: schema step %zu failed: %s", owner, i + 1,
				 err ? err : sqlite3_errmsg(c->db));
			sqlite3_free(err);
			store_end(c, false);
			rc = OCTO_EFAIL;
			goto out;
		}
	}
	if ((size_t)version < n) {
		rc = octo_store_exec("INSERT OR REPLACE INTO octo_schema(owner, version, updated) "
				     "VALUES(?, ?, ?)",
				     OCTO_STORE_ARGS(OCTO_STORE_T(owner), OCTO_STORE_I(n),
						     OCTO_STORE_I(octo_wall_us() / 1000000)));
		if (rc < 0) {
			store_end(c, false);
			goto out;
		}
	}
	rc = store_end(c, true);
	if (rc)
		goto out;
	if ((size_t)version < n) {
		if (version == 0)
			octo_log(OCTO_NOTICE, "store: %s: tables created (schema version %zu)",
				 owner, n);
		else
			octo_log(OCTO_NOTICE,
				 "store: %s: tables upgraded from schema version %d "
				 "to %zu",
				 owner, version, n);
	}
	rc = (int)(n - (size_t)version);
out:
	store_release(c);
	return rc;
}

/* ---------------------------------------------------------------- writer thread */

/* Runs one job on the writer's connection. A failure is logged unless
 * `quiet` (a repeat of the statement that failed just before). Sets
 * *unpreparable when the SQL itself cannot be prepared, so that its other
 * copies in the batch can be failed without trying. */
static int store_job_run(struct store_job *j, bool quiet, bool *unpreparable)
{
	struct store_conn *c = wr.conn;
	struct store_cached *slot;
	sqlite3_stmt *st;
	int rc = OCTO_OK, step;

	*unpreparable = false;
	st = store_stmt_get(c, j->sql, &slot, &rc);
	if (!st) {
		*unpreparable = true;
		return rc;
	}
	rc = store_bind(c, st, j->sql, j->args, j->nargs, quiet);
	if (!rc) {
		while ((step = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (step != SQLITE_DONE)
			rc = quiet ? store_code(step) : store_fail(c->db, step, "queued ", j->sql);
	}
	store_stmt_put(st, slot);
	return rc;
}

static void store_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Runs a batch in transactions; sets each job's `failed`. Returns how many
 * committed and the number of transactions in *txns. */
static unsigned store_writer_batch(struct store_job *batch, unsigned n, unsigned *txns)
{
	struct store_conn *c = wr.conn;
	unsigned busy_tries = 0, ok, repeats;

	for (;;) {
		const char *last_failed = NULL;
		bool restart = false, last_unpreparable = false;
		int rc;

		rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			if (store_code(rc) == OCTO_EBUSY && ++busy_tries < STORE_RETRIES) {
				store_sleep_ms(100);
				continue;
			}
			octo_log(OCTO_ERROR,
				 "store: writer: cannot begin a transaction: %s; %u "
				 "queued statements dropped",
				 sqlite3_errmsg(c->db), n);
			for (struct store_job *j = batch; j; j = j->next)
				j->failed = true;
			return 0;
		}
		ok = repeats = 0;
		for (struct store_job *j = batch; j; j = j->next) {
			bool quiet, unprep;

			if (j->failed)
				continue;
			/* Many copies of one bad statement are logged once per batch. */
			quiet = last_failed && !strcmp(last_failed, j->sql);
			if (quiet && last_unpreparable) {
				j->failed = true;
				repeats++;
				continue;
			}
			if (store_job_run(j, quiet, &unprep) == OCTO_OK) {
				ok++;
				continue;
			}
			j->failed = true;
			last_unpreparable = unprep;
			if (quiet)
				repeats++;
			last_failed = j->sql;
			if (sqlite3_get_autocommit(c->db)) {
				/* SQLite rolled the whole transaction back (I/O error,
				 * disk full...): replay the batch without this one. */
				restart = true;
				break;
			}
		}
		if (repeats)
			octo_log(OCTO_ERROR,
				 "store: writer: %u more queued statements failed the "
				 "same way",
				 repeats);
		if (restart)
			continue;
		for (busy_tries = 0;;) {
			rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
			if (rc == SQLITE_OK) {
				(*txns)++;
				return ok;
			}
			if (store_code(rc) != OCTO_EBUSY || ++busy_tries >= STORE_RETRIES)
				break;
			store_sleep_ms(100);
		}
		octo_log(OCTO_ERROR,
			 "store: writer: cannot commit: %s; %u queued statements "
			 "dropped",
			 sqlite3_errmsg(c->db), ok);
		if (!sqlite3_get_autocommit(c->db))
			sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		for (struct store_job *j = batch; j; j = j->next)
			j->failed = true;
		return 0;
	}
}

static void store_deadline(struct timespec *ts, uint64_t ms)
{
	ts->tv_sec = (time_t)(ms / 1000);
	ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

static void *store_writer(void *arg)
{
	pthread_mutex_lock(&wr.lock);
	for (;;) {
		struct store_job *batch, *last = NULL, *next;
		uint64_t deadline;
		unsigned n = 0, ok, txns = 0;

		while (!wr.head && !wr.stop)
			pthread_cond_wait(&wr.wake, &wr.lock);
		if (!wr.head)
			break;
		deadline = wr.head->queued_ms + OCTO_STORE_BATCH_MS;
		while (wr.count < OCTO_STORE_BATCH && !wr.stop && wr.flush_seq <= wr.done_seq &&
		       octo_now_ms() < deadline) {
			struct timespec ts;

			store_deadline(&ts, deadline);
			pthread_cond_timedwait(&wr.wake, &wr.lock, &ts);
		}
		batch = wr.head;
		for (struct store_job *j = wr.head; j && n < STORE_BATCH_MAX; j = j->next) {
			last = j;
			n++;
		}
		wr.head = last->next;
		if (!wr.head)
			wr.tail = NULL;
		last->next = NULL;
		wr.count -= n;
		pthread_mutex_unlock(&wr.lock);

		ok = store_writer_batch(batch, n, &txns);

		pthread_mutex_lock(&wr.lock);
		wr.stats.committed += ok;
		wr.stats.failed += n - ok;
		wr.stats.batches += txns;
		wr.done_seq = last->seq;
		if (wr.count < OCTO_STORE_QUEUE_MAX / 2)
			wr.overflowed = false;
		pthread_cond_broadcast(&wr.done);
		pthread_mutex_unlock(&wr.lock);
		for (struct store_job *j = batch; j; j = next) {
			next = j->next;
			free(j);
		}
		pthread_mutex_lock(&wr.lock);
	}
	pthread_mutex_unlock(&wr.lock);
	return arg;
}

int octo_store_queue(const char *sql, const struct octo_store_arg *args, size_t nargs)
{
	struct store_job *j;
	size_t size, sqlen;
	char *p;
	bool overflow = false, closed = false;

	if (!sql || (nargs && !args) || nargs > 32766) {
		octo_log(OCTO_ERROR, "store: queue: no statement given");
		return OCTO_EINVAL;
	}
	sqlen = strlen(sql) + 1;
	size = sizeof(*j) + nargs * sizeof(j->args[0]) + sqlen;
	for (size_t i = 0; i < nargs; i++) {
		if (args[i].type == OCTO_STORE_TEXT && args[i].text)
			size += strlen(args[i].text) + 1;
		else if (args[i].type != OCTO_STORE_INT && args[i].type != OCTO_STORE_NULL &&
			 args[i].type != OCTO_STORE_TEXT) {
			octo_log(OCTO_ERROR, "store: queue: parameter %zu has an unknown type",
				 i + 1);
			return OCTO_EINVAL;
		}
	}
	j = malloc(size);
	if (!j) {
		octo_log(OCTO_ERROR, "store: queue: out of memory");
		return OCTO_ENOMEM;
	}
	memset(j, 0, sizeof(*j));
	j->nargs = nargs;
	p = (char *)&j->args[nargs];
	memcpy(p, sql, sqlen);
	j->sql = p;
	p += sqlen;
	for (size_t i = 0; i < nargs; i++) {
		j->args[i] = args[i];
		if (args[i].type == OCTO_STORE_TEXT && args[i].text) {
			size_t len = strlen(args[i].text) + 1;

			memcpy(p, args[i].text, len);
			j->args[i].text = p;
			p += len;
		}
	}
	j->queued_ms = octo_now_ms();

	pthread_mutex_lock(&wr.lock);
	if (!wr.accepting) {
		closed = true;
	} else if (wr.count >= OCTO_STORE_QUEUE_MAX) {
		overflow = !wr.overflowed;
		wr.overflowed = true;
		pthread_mutex_unlock(&wr.lock);
		free(j);
		if (overflow)
			octo_log(OCTO_ERROR,
				 "store: the write queue is full (%d statements "
				 "waiting): new writes are refused until it drains",
				 OCTO_STORE_QUEUE_MAX);
		return OCTO_EBUSY;
	} else {
		j->seq = wr.next_seq++;
		if (wr.tail)
			wr.tail->next = j;
		else
			wr.head = j;
		wr.tail = j;
		wr.count++;
		wr.stats.queued++;
		if (wr.count == 1 || wr.count == OCTO_STORE_BATCH)
			pthread_cond_signal(&wr.wake);
	}
	pthread_mutex_unlock(&wr.lock);
	if (closed) {
		free(j);
		return store_not_open();
	}
	return OCTO_OK;
}

int octo_store_flush(void)
{
	uint64_t target;

	if (store_tls && store_tls->tx_depth) {
		octo_log(OCTO_ERROR, "store: flush inside a transaction would wait for itself");
		return OCTO_EINVAL;
	}
	pthread_mutex_lock(&wr.lock);
	if (!wr.running) {
		pthread_mutex_unlock(&wr.lock);
		return store_not_open();
	}
	target = wr.next_seq - 1;
	if (target > wr.done_seq) {
		if (target > wr.flush_seq)
			wr.flush_seq = target;
		pthread_cond_signal(&wr.wake);
		while (wr.done_seq < target)
			pthread_cond_wait(&wr.done, &wr.lock);
	}
	pthread_mutex_unlock(&wr.lock);
	return OCTO_OK;
}

void octo_store_stats(struct octo_store_stats *out)
{
	if (!out)
		return;
	pthread_mutex_lock(&wr.lock);
	*out = wr.stats;
	out->pending = wr.count;
	pthread_mutex_unlock(&wr.lock);
	pthread_mutex_lock(&store.lock);
	out->connections = store.nconns;
	pthread_mutex_unlock(&store.lock);
}

/* ---------------------------------------------------------------- open and close */
bool octo_store_is_open(void)
{
	bool open;

	pthread_mutex_lock(&store.lock);
	open = store.open;
	pthread_mutex_unlock(&store.lock);
	return open;
}

const char *octo_store_path(char *buf, size_t size)
{
	if (!buf || !size)
		return buf;
	pthread_mutex_lock(&store.lock);
	octo_strlcpy(buf, store.open && store.path ? store.path : "", size);
	pthread_mutex_unlock(&store.lock);
	return buf;
}

int octo_store_init(const char *path)
{
	struct store_conn *first, *writer;
	pthread_condattr_t attr;
	char *p;
	int err;

	pthread_mutex_lock(&store.lock);
	err = store.open || store.path ? OCTO_EEXIST : 0;
	pthread_mutex_unlock(&store.lock);
	if (err) {
		octo_log(OCTO_ERROR, "store: already open");
		return err;
	}
	if (sqlite3_threadsafe() == 0) {
		octo_log(OCTO_ERROR, "store: this SQLite library was built without thread support");
		return OCTO_EFAIL;
	}
	if (path) {
		p = strdup(path);
	} else if (octo_paths.data_dir) {
		size_t len = strlen(octo_paths.data_dir) + sizeof(OCTO_STORE_FILE) + 1;

		p = malloc(len);
		if (p)
			snprintf(p, len, "%s/%s", octo_paths.data_dir, OCTO_STORE_FILE);
	} else {
		octo_log(OCTO_ERROR, "store: no data folder set");
		return OCTO_EFAIL;
	}
	if (!p) {
		octo_log(OCTO_ERROR, "store: out of memory");
		return OCTO_ENOMEM;
	}
	first = store_conn_open(p, true);
	if (!first) {
		free(p);
		return OCTO_EFAIL;
	}
	writer = store_conn_open(p, false);
	if (!writer) {
		store_conn_close(first);
		free(p);
		return OCTO_EFAIL;
	}

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&wr.wake, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_lock(&wr.lock);
	wr.conn = writer;
	wr.stop = false;
	wr.overflowed = false;
	wr.head = wr.tail = NULL;
	wr.count = 0;
	wr.next_seq = 1;
	wr.done_seq = wr.flush_seq = 0;
	memset(&wr.stats, 0, sizeof(wr.stats));
	err = pthread_create(&wr.thread, NULL, store_writer, NULL);
	wr.running = wr.accepting = err == 0;
	pthread_mutex_unlock(&wr.lock);
	if (err) {
		octo_log(OCTO_ERROR, "store: cannot start the writer thread: %s", strerror(err));
		pthread_cond_destroy(&wr.wake);
		store_conn_close(writer);
		wr.conn = NULL;
		store_conn_close(first);
		free(p);
		return OCTO_EFAIL;
	}

	pthread_mutex_lock(&store.lock);
	store.path = p;
	store.all = store.free = first;
	store.nconns = 1;
	store.active = 0;
	store.open = true;
	pthread_mutex_unlock(&store.lock);
	octo_verbose(2, "store: %s open (WAL, synchronous=NORMAL)", p);
	return OCTO_OK;
}

void octo_store_shutdown(void)
{
	struct store_conn *all, *next;
	bool running;

	pthread_mutex_lock(&wr.lock);
	running = wr.running;
	wr.accepting = false;
	wr.stop = true;
	if (running)
		pthread_cond_signal(&wr.wake);
	pthread_mutex_unlock(&wr.lock);
	if (running) {
		/* The writer commits everything still queued before it ends. */
		pthread_join(wr.thread, NULL);
		pthread_mutex_lock(&wr.lock);
		wr.running = false;
		pthread_cond_broadcast(&wr.done);
		pthread_mutex_unlock(&wr.lock);
		pthread_cond_destroy(&wr.wake);
		store_conn_close(wr.conn);
		wr.conn = NULL;
	}

	pthread_mutex_lock(&store.lock);
	store.open = false;
	if (store_tls) {
		/* Core bug: shutdown from inside a store call would wait forever. */
		pthread_mutex_unlock(&store.lock);
		octo_log(OCTO_ERROR, "store: shutdown from inside a store call; not closed");
		return;
	}
	while (store.active)
		pthread_cond_wait(&store.cond, &store.lock);
	all = store.all;
	store.all = store.free = NULL;
	store.nconns = 0;
	free(store.path);
	store.path = NULL;
	pthread_mutex_unlock(&store.lock);
	for (; all; all = next) {
		next = all->next_all;
		store_conn_close(all);
	}
}
