/*
 * store.h - the internal SQLite store: one database file in the data folder
 * (octo_paths.data_dir/octo.db) for what changes at run time -- registrations,
 * bans, switch states, the voicemail index, CDR. Configuration stays in text
 * files; only state goes here.
 *
 *   static const char *const bans_schema[] = {
 *       "CREATE TABLE bans(ip TEXT PRIMARY KEY, until INTEGER NOT NULL)",   (version 1)
 *       "ALTER TABLE bans ADD COLUMN reason TEXT",                          (version 2)
 *   };
 *   if (octo_store_migrate("res_security", bans_schema, OCTO_ARRAY_LEN(bans_schema)) < 0)
 *       return OCTO_LOAD_FAIL;
 *   octo_store_exec("INSERT OR REPLACE INTO bans(ip, until) VALUES(?, ?)",
 *                   OCTO_STORE_ARGS(OCTO_STORE_T(ip), OCTO_STORE_I(until)));
 *
 * Every value goes through a bound parameter ("?"), never into the SQL text,
 * so hostile text (quotes, semicolons) is stored as it is.
 *
 * THREADS
 *  - Synchronous calls (exec, query, transaction, migrate) may come from any
 *    thread. They borrow a connection from a small pool (at most
 *    OCTO_STORE_POOL connections, opened on demand): readers run in parallel
 *    under WAL, and one slow query does not hold everybody else up the way a
 *    single mutex-protected connection would; call threads come and go, so a
 *    connection per thread would open and close a file per call. A thread
 *    keeps the connection it borrowed while it is inside a query callback or
 *    a transaction, so calls nested there use the same connection (and see
 *    the transaction's uncommitted changes). Writers are serialised by
 *    SQLite itself (busy_timeout OCTO_STORE_BUSY_MS).
 *  - Asynchronous writes (octo_store_queue) go to one writer thread with a
 *    connection of its own. It runs them in queue order, in transactions of
 *    up to OCTO_STORE_BATCH statements, committing at the latest
 *    OCTO_STORE_BATCH_MS after the first statement of a batch was queued.
 *    octo_store_flush() waits until everything queued before it has been
 *    committed. Queued writes are not ordered against synchronous ones.
 *  - Blocking: synchronous calls do disk I/O and may wait up to
 *    OCTO_STORE_BUSY_MS for a write lock, so call them from call threads,
 *    CLI workers or a service's own worker -- never from the event loop.
 *    octo_store_queue() never touches the disk (it copies and returns).
 *
 * ERRORS
 * Functions return a negative OCTO_E* code on failure; the store has then
 * already logged the error once, with SQLite's message and the start of the
 * statement, so callers do not log it again. OCTO_ENOTFOUND from the
 * query_int/query_text helpers ("no row") is not an error and is not logged.
 *
 * Opened with journal_mode=WAL, synchronous=NORMAL (a process crash loses
 * nothing committed; an OS crash may lose the last commits), foreign_keys=ON.
 */
#ifndef OCTO_STORE_H
#define OCTO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "octo/octo.h"

#define OCTO_STORE_FILE "octo.db"   /* in octo_paths.data_dir */
#define OCTO_STORE_POOL 8           /* synchronous connections at most */
#define OCTO_STORE_BUSY_MS 5000     /* how long a writer waits for the lock */
#define OCTO_STORE_BATCH 100        /* queued statements per transaction... */
#define OCTO_STORE_BATCH_MS 200     /* ...or this long after the first one */
#define OCTO_STORE_QUEUE_MAX 100000 /* queued statements waiting at most */

/* ---------------------------------------------------------------- parameters */
enum octo_store_type { OCTO_STORE_NULL, OCTO_STORE_INT, OCTO_STORE_TEXT };

/* One bound parameter. TEXT with text == NULL binds SQL NULL. */
struct octo_store_arg {
	enum octo_store_type type;
	int64_t i;
	const char *text;
};

#define OCTO_STORE_I(v) ((struct octo_store_arg){ .type = OCTO_STORE_INT, .i = (int64_t)(v) })
#define OCTO_STORE_T(s) ((struct octo_store_arg){ .type = OCTO_STORE_TEXT, .text = (s) })
#define OCTO_STORE_N ((struct octo_store_arg){ .type = OCTO_STORE_NULL })
/* Expands to the two arguments `args, nargs` of the functions below:
 * octo_store_exec(sql, OCTO_STORE_ARGS(OCTO_STORE_T(a), OCTO_STORE_I(2))). */
#define OCTO_STORE_ARGS(...)                                                                       \
	((const struct octo_store_arg[]){ __VA_ARGS__ }),                                          \
		(sizeof((const struct octo_store_arg[]){ __VA_ARGS__ }) /                          \
		 sizeof(struct octo_store_arg))
/* No parameters: octo_store_exec("DELETE FROM bans", OCTO_STORE_NOARGS). */
#define OCTO_STORE_NOARGS NULL, 0

/* ---------------------------------------------------------------- core only
 * Called by the daemon (main.c), not by modules: the store is open before
 * modules load and closed after they have all unloaded.
 */

/* Opens (creating when missing) the database at `path`; NULL means
 * octo_paths.data_dir/OCTO_STORE_FILE. Sets WAL, synchronous=NORMAL and the
 * busy timeout, creates the schema version table and starts the writer
 * thread. A file that is not an SQLite database is refused (OCTO_EFAIL)
 * with the error "store: PATH: cannot open: file is not a database (move the
 * file away to start with an empty store)". Returns 0, OCTO_EEXIST when the
 * store is already open, or OCTO_EFAIL (logged). Main thread. */
int octo_store_init(const char *path);

/* Commits what is queued, stops the writer, waits for synchronous calls in
 * progress to finish and closes every connection. Afterwards every call
 * fails with OCTO_EFAIL ("store: not open") until octo_store_init again. */
void octo_store_shutdown(void);

/* ---------------------------------------------------------------- any caller */

/* True between octo_store_init and octo_store_shutdown. */
bool octo_store_is_open(void);

/* The database file in use (a copy into buf); "" when closed. Returns buf. */
const char *octo_store_path(char *buf, size_t size);

/*
 * Schema versions per owner (a module name, 1..64 characters). steps[i] is
 * the SQL (one or more statements, no parameters) that brings the owner's
 * tables from version i to version i + 1, so the version is the number of
 * steps applied. The steps not yet applied run in one transaction with the
 * new version recorded in the table octo_schema(owner, version, updated);
 * on any failure nothing changes. Steps are append-only: never edit one that
 * was released, add a new one.
 * Returns the number of steps applied now (0 when up to date), or
 * OCTO_EINVAL (bad arguments, or the database is at a version newer than
 * `n`: "store: the tables of OWNER are at version 3, newer than this build
 * knows (2)") or OCTO_EFAIL (a step failed: rolled back and logged).
 */
int octo_store_migrate(const char *owner, const char *const *steps, size_t n);

/* The recorded schema version of `owner` (0: never migrated), or a negative
 * OCTO_E*. */
int octo_store_version(const char *owner);

/* Runs one statement with `nargs` bound parameters (their count must match
 * the "?" in `sql`). Returns the number of rows changed (>= 0), or OCTO_EEXIST
 * (a UNIQUE or PRIMARY KEY constraint), OCTO_EBUSY (still locked after the
 * busy timeout), OCTO_EINVAL (bad SQL, wrong parameter count, more than one
 * statement, other constraints) or OCTO_EFAIL. */
int octo_store_exec(const char *sql, const struct octo_store_arg *args, size_t nargs);

/* The same for an INSERT; stores the new row's rowid in *rowid (may be NULL). */
int octo_store_insert(const char *sql, const struct octo_store_arg *args, size_t nargs,
		      int64_t *rowid);

/* A result row, borrowed: valid only during the callback. Columns count
 * from 0. */
struct octo_store_row;
int octo_store_row_columns(const struct octo_store_row *row);
const char *octo_store_row_name(const struct octo_store_row *row, int col);
bool octo_store_row_is_null(const struct octo_store_row *row, int col);
/* 0 for NULL or out of range. */
int64_t octo_store_row_int(const struct octo_store_row *row, int col);
/* NULL for SQL NULL or out of range. */
const char *octo_store_row_text(const struct octo_store_row *row, int col);

/* Called for each row; return 0 to go on, non-zero to stop early. */
typedef int (*octo_store_row_fn)(const struct octo_store_row *row, void *data);

/* Runs a query and calls `cb` for each row, in the calling thread. The
 * callback may call the store again (same connection). Returns the number
 * of rows given to cb (the one that stopped it included), or a negative
 * OCTO_E* as for exec. */
int octo_store_query(const char *sql, const struct octo_store_arg *args, size_t nargs,
		     octo_store_row_fn cb, void *data);

/* The first column of the first row: 0 and *out, or OCTO_ENOTFOUND (no row,
 * or NULL; not logged), or an error as for exec. */
int octo_store_query_int(const char *sql, const struct octo_store_arg *args, size_t nargs,
			 int64_t *out);
/* The same as text copied into buf (cut to size - 1 bytes). */
int octo_store_query_text(const char *sql, const struct octo_store_arg *args, size_t nargs,
			  char *buf, size_t size);

/* Runs fn(data) inside a transaction on the calling thread's connection
 * (BEGIN IMMEDIATE, or a SAVEPOINT when already inside one): store calls fn
 * makes on this thread are part of it. fn returns 0 to commit, anything else
 * to roll back; that value is returned. A failed COMMIT rolls back and
 * returns its error. */
int octo_store_transaction(int (*fn)(void *data), void *data);

/* Queues one statement for the writer thread (copies the SQL and the text
 * values) and returns at once: 0, OCTO_EBUSY when OCTO_STORE_QUEUE_MAX
 * statements are already waiting (logged once per overflow), OCTO_EINVAL or
 * OCTO_EFAIL (store closed). A queued statement that fails later is logged
 * by the writer and skipped; the others of its batch still commit. */
int octo_store_queue(const char *sql, const struct octo_store_arg *args, size_t nargs);

/* Waits until every statement queued before the call has been committed
 * (or has failed and been logged). Returns 0, or OCTO_EFAIL when the store
 * is not open. Must not be called from inside octo_store_transaction. */
int octo_store_flush(void);

/* Counters since octo_store_init, for the CLI and tests. */
struct octo_store_stats {
	uint64_t queued;      /* statements accepted by octo_store_queue */
	uint64_t committed;   /* queued statements committed */
	uint64_t failed;      /* queued statements that failed (logged) */
	uint64_t batches;     /* writer transactions committed */
	unsigned pending;     /* waiting in the queue now */
	unsigned connections; /* synchronous connections open */
};
void octo_store_stats(struct octo_store_stats *out);

#endif
