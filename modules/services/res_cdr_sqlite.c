/*
 * res_cdr_sqlite.c - the default CDR backend: one row per call leg in an
 * SQLite database of its own (cdr.db in the data folder), and the console
 * commands that read CDRs back: cdr show, cdr export csv, cdr show status.
 * With the records it keeps what other features derive from them: users'
 * call history (user history), missed-call e-mails, call costs from
 * per-trunk pricelists (cdr pricelist import/show), and each leg's dialplan
 * step log for debug_days (the "call_debug" service of cdr.h, which the
 * core's call debug and calls show history ask for forgotten calls).
 *
 * DESIGN
 *  - post() runs on the thread that hung the channel up: it only copies the
 *    record into the spool (cdr_common.h) and returns. The spool's writer
 *    thread owns the database connection and inserts the rows in batches,
 *    one transaction per batch (up to [sqlite] batch rows, or every
 *    flush_interval ms) with a prepared statement.
 *  - The database runs in WAL mode with synchronous=NORMAL: a crash of the
 *    process (kill -9) loses no committed transaction; what it loses is the
 *    rows still waiting in memory (at most flush_interval ms of them).
 *  - Schema: table cdr_schema lists the versions applied; at open the
 *    missing migrations run in one transaction. A database made by a newer
 *    module (a higher version) is refused, never written.
 *  - Times are stored twice: as ISO 8601 text in UTC with milliseconds
 *    (start_time, answer_time, end_time: for people and for SQLite's date
 *    functions; answer_time is NULL when the leg was never answered) and as
 *    integer microseconds since the epoch (start_us, answer_us, end_us: for
 *    programs and for the indexes; answer_us is 0 when never answered).
 *  - The console commands read through the query() of the backend named by
 *    cli_backend in cdr.conf (this one, or res_cdr_csv's); this module
 *    registers them even when its own backend is disabled in cdr.conf.
 *    Reads use a connection of their own (WAL readers never wait for the
 *    writer). Records are listed in the order they were written, i.e. the
 *    order the legs ended: "last N" are the N legs that ended last. "since"
 *    compares start times; dates on the console are local time.
 *  - What is derived when a batch is written, on the writer thread and in
 *    its transaction: the cost of a priced record (cdr_price, the numbering
 *    service for the E.164 form); the step log lent with the record (copied
 *    by the spool) into cdr_debug and cdr_step; and when an incoming leg
 *    is written -- the call's other legs ended before it, so they are in --
 *    whether a user it rang missed it (cdr_hist_classify, the one place
 *    that decides). The e-mails of missed calls (users service for the
 *    address, cdr_notified so that none goes twice) are handed to the mail
 *    service after the commit, still on the writer thread: send() only
 *    queues, and the event loop never waits for it. Only this backend
 *    prices records: the CSV file's cost column stays as the core made it.
 *  - The writer's daily tick (and its open) removes step logs older than
 *    debug_days; lookups ignore older ones anyway.
 *  - Pricelists are imported on the CLI worker with a connection of its
 *    own, all lines in one transaction (WAL: the writer waits at most for
 *    that commit).
 *  - Not resident: unload stops the writer after it has written what
 *    waits, and joins it.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/cdr.h"
#include "octo/cli.h"
#include "octo/config.h"
#include "octo/log.h"
#include "octo/mail.h"
#include "octo/module.h"
#include "octo/numbering.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/users.h"

#include "cdr_common.h"

/* ---------------------------------------------------------------- schema */

/* sq_migrations[i] takes the database from version i to i + 1. */
static const char *const sq_migrations[] = {
	"CREATE TABLE cdr ("
	" id INTEGER PRIMARY KEY,"
	" uniqueid TEXT NOT NULL,"
	" linkedid TEXT NOT NULL,"
	" start_time TEXT NOT NULL,"
	" answer_time TEXT,"
	" end_time TEXT NOT NULL,"
	" start_us INTEGER NOT NULL,"
	" answer_us INTEGER NOT NULL,"
	" end_us INTEGER NOT NULL,"
	" duration INTEGER NOT NULL,"
	" billsec INTEGER NOT NULL,"
	" caller TEXT NOT NULL,"
	" caller_name TEXT NOT NULL,"
	" dialed TEXT NOT NULL,"
	" called TEXT NOT NULL,"
	" channel TEXT NOT NULL,"
	" dst_channel TEXT NOT NULL,"
	" trunk TEXT NOT NULL,"
	" procedure TEXT NOT NULL,"
	" disposition TEXT NOT NULL,"
	" cause INTEGER NOT NULL,"
	" hangup_side TEXT NOT NULL,"
	" userfield TEXT NOT NULL,"
	" cost REAL NOT NULL);"
	"CREATE INDEX cdr_start ON cdr(start_us);"
	"CREATE INDEX cdr_caller ON cdr(caller);"
	"CREATE INDEX cdr_called ON cdr(called);"
	"CREATE INDEX cdr_linkedid ON cdr(linkedid);",
	/* 2: who a leg belongs to (call history), kept step logs (call debug),
	 * pricelists (costs), missed calls already told by e-mail. */
	"ALTER TABLE cdr ADD COLUMN user_ext TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE cdr ADD COLUMN direction TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE cdr ADD COLUMN answered_elsewhere INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX cdr_user_ext ON cdr(user_ext);"
	"CREATE INDEX cdr_uniqueid ON cdr(uniqueid);"
	"CREATE TABLE cdr_debug ("
	" id INTEGER PRIMARY KEY,"
	" cdr_id INTEGER NOT NULL,"
	" uniqueid TEXT NOT NULL,"
	" channel TEXT NOT NULL,"
	" end_us INTEGER NOT NULL,"
	" step_count INTEGER NOT NULL,"
	" steps_dropped INTEGER NOT NULL);"
	"CREATE INDEX cdr_debug_uniqueid ON cdr_debug(uniqueid);"
	"CREATE INDEX cdr_debug_channel ON cdr_debug(channel COLLATE NOCASE);"
	"CREATE INDEX cdr_debug_end ON cdr_debug(end_us);"
	"CREATE TABLE cdr_step ("
	" debug_id INTEGER NOT NULL,"
	" seq INTEGER NOT NULL,"
	" time_us INTEGER NOT NULL,"
	" text TEXT NOT NULL,"
	" PRIMARY KEY (debug_id, seq)) WITHOUT ROWID;"
	"CREATE TABLE cdr_price ("
	" trunk TEXT NOT NULL,"
	" prefix TEXT NOT NULL,"
	" description TEXT NOT NULL,"
	" price REAL NOT NULL,"
	" connection_fee REAL NOT NULL,"
	" increment INTEGER NOT NULL,"
	" imported TEXT NOT NULL,"
	" PRIMARY KEY (trunk, prefix)) WITHOUT ROWID;"
	"CREATE TABLE cdr_notified ("
	" linkedid TEXT NOT NULL,"
	" user_ext TEXT NOT NULL,"
	" time_us INTEGER NOT NULL,"
	" PRIMARY KEY (linkedid, user_ext)) WITHOUT ROWID;"
	"CREATE INDEX cdr_notified_time ON cdr_notified(time_us);",
};
#define SQ_SCHEMA_VERSION ((int)OCTO_ARRAY_LEN(sq_migrations))

static const char sq_insert_sql[] =
	"INSERT INTO cdr (uniqueid, linkedid, start_time, answer_time, end_time, start_us,"
	" answer_us, end_us, duration, billsec, caller, caller_name, dialed, called, channel,"
	" dst_channel, trunk, procedure, disposition, cause, hangup_side, userfield, cost,"
	" user_ext, direction, answered_elsewhere)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
	" ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)";

/* The columns a query reads, in the order sq_row_to_cdr() expects; `p` is a
 * table prefix ("" or "c."). */
#define SQ_COLUMNS(p)                                                                          \
	p "id, " p "uniqueid, " p "linkedid, " p "start_us, " p "answer_us, " p "end_us, " p      \
	"duration, " p "billsec, " p "caller, " p "caller_name, " p "dialed, " p "called, " p     \
	"channel, " p "dst_channel, " p "trunk, " p "procedure, " p "disposition, " p "cause, " \
	p "hangup_side, " p "userfield, " p "cost, " p "user_ext, " p "direction, " p           \
	"answered_elsewhere"
#define SQ_QUERY_COLUMNS SQ_COLUMNS("")

/* The writer's other statements. */
static const char sq_debug_sql[] =
	"INSERT INTO cdr_debug (cdr_id, uniqueid, channel, end_us, step_count, steps_dropped)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sq_step_sql[] =
	"INSERT INTO cdr_step (debug_id, seq, time_us, text) VALUES (?1, ?2, ?3, ?4)";
/* The longest prefix of the trunk's list: '+' prefixes against the E.164
 * form (?2), the others against the number as routed (?3). */
static const char sq_price_sql[] =
	"SELECT prefix, description, price, connection_fee, increment FROM cdr_price"
	" WHERE trunk = ?1 AND ((substr(prefix, 1, 1) = '+' AND substr(?2, 1, length(prefix)) ="
	" prefix) OR (substr(prefix, 1, 1) <> '+' AND substr(?3, 1, length(prefix)) = prefix))"
	" ORDER BY length(prefix) DESC LIMIT 1";
static const char sq_legs_sql[] =
	"SELECT " SQ_QUERY_COLUMNS " FROM cdr WHERE linkedid = ?1 ORDER BY id LIMIT ?2";
static const char sq_notified_sql[] =
	"INSERT OR IGNORE INTO cdr_notified (linkedid, user_ext, time_us) VALUES (?1, ?2, ?3)";

/* Limits of the console commands. */
#define SQ_SHOW_DEFAULT 20u
#define SQ_SHOW_MAX 10000u
#define SQ_EXPORT_MAX 100000000u

/* ---------------------------------------------------------------- state */

struct sq_writer {
	sqlite3 *db;
	sqlite3_stmt *insert, *debug, *step, *price, *legs, *notified;
};

static pthread_mutex_t sq_conf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cdr_conf sq_conf;     /* the running cdr.conf (sq_conf_lock) */
static struct cdr_spool *sq_spool;
static struct sq_writer sq_writer;  /* used by the spool's thread only */
static bool sq_registered;          /* the backend is in the registry */

static int sq_post(const struct octo_cdr *cdr);
static void sq_status(struct octo_cdr_backend_status *st);
static int sq_query(const struct octo_cdr_filter *filter,
		    int (*row)(const struct octo_cdr *cdr, void *arg), void *arg, char *err,
		    size_t errsize);

static const struct octo_cdr_backend sq_backend = {
	.name = "sqlite",
	.description = "SQLite database cdr.db in the data folder",
	.post = sq_post,
	.status = sq_status,
	.query = sq_query,
};

/* ---------------------------------------------------------------- writer */

static void sq_err(char *err, size_t errsize, const char *what, sqlite3 *db)
{
	snprintf(err, errsize, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Brings the schema to SQ_SCHEMA_VERSION in one transaction. */
static int sq_migrate(sqlite3 *db, const char *path, char *err, size_t errsize)
{
	sqlite3_stmt *st = NULL;
	int version = -1;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(err, errsize, "cannot lock the database", db);
		return OCTO_EFAIL;
	}
	if (sqlite3_exec(db,
			 "CREATE TABLE IF NOT EXISTS cdr_schema (version INTEGER NOT NULL,"
			 " applied TEXT NOT NULL)",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM cdr_schema", -1, &st,
			       NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sq_err(err, errsize, "cannot read the schema version", db);
		goto fail;
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (version > SQ_SCHEMA_VERSION) {
		snprintf(err, errsize,
			 "%s has schema version %d, newer than this module's %d (made by a newer "
			 "Octo): not touching it",
			 path, version, SQ_SCHEMA_VERSION);
		goto fail;
	}
	for (int v = version; v < SQ_SCHEMA_VERSION; v++) {
		char *sql = sqlite3_mprintf("%s;INSERT INTO cdr_schema VALUES (%d,"
					    " strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'))",
					    sq_migrations[v], v + 1);

		if (!sql || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			char what[64];

			snprintf(what, sizeof(what), "schema migration %d -> %d failed", v, v + 1);
			sq_err(err, errsize, what, sql ? db : NULL);
			sqlite3_free(sql);
			goto fail;
		}
		sqlite3_free(sql);
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(err, errsize, "cannot commit the schema", db);
		goto fail;
	}
	if (version < SQ_SCHEMA_VERSION)
		octo_verbose(1, "%s: CDR schema %s version %d", path,
			     version ? "migrated to" : "created at", SQ_SCHEMA_VERSION);
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return OCTO_EFAIL;
}

/* Opens cdr.db for writing (created when missing): WAL, synchronous=NORMAL,
 * the schema brought up to date. NULL with `err` filled. */
static sqlite3 *sq_db_open(const char *path, char *err, size_t errsize)
{
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	bool wal;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errsize, "%s", db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db, 2000);
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sq_err(err, errsize, "cannot set WAL mode", db);
		goto fail;
	}
	wal = !sqlite3_strnicmp((const char *)sqlite3_column_text(st, 0), "wal", 4);
	sqlite3_finalize(st);
	st = NULL;
	if (!wal)
		octo_log(OCTO_WARNING, "%s: WAL mode refused (file system?): writing in the "
			 "rollback-journal mode", path);
	/* synchronous is per connection: a new one starts at FULL. */
	if (sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(err, errsize, "cannot set synchronous=NORMAL", db);
		goto fail;
	}
	if (sq_migrate(db, path, err, errsize))
		goto fail;
	return db;
fail:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return NULL;
}

static void sq_close(void *ctx)
{
	struct sq_writer *w = ctx;

	sqlite3_finalize(w->insert);
	sqlite3_finalize(w->debug);
	sqlite3_finalize(w->step);
	sqlite3_finalize(w->price);
	sqlite3_finalize(w->legs);
	sqlite3_finalize(w->notified);
	sqlite3_close(w->db);
	memset(w, 0, sizeof(*w));
}

static int sq_open(void *ctx, const char *path, char *err, size_t errsize)
{
	struct sq_writer *w = ctx;
	const struct {
		const char *sql;
		sqlite3_stmt **st;
	} stmts[] = {
		{ sq_insert_sql, &w->insert }, { sq_debug_sql, &w->debug },
		{ sq_step_sql, &w->step },     { sq_price_sql, &w->price },
		{ sq_legs_sql, &w->legs },     { sq_notified_sql, &w->notified },
	};

	w->db = sq_db_open(path, err, errsize);
	if (!w->db)
		return OCTO_EFAIL;
	for (size_t i = 0; i < OCTO_ARRAY_LEN(stmts); i++) {
		if (sqlite3_prepare_v3(w->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
				       stmts[i].st, NULL) != SQLITE_OK) {
			sq_err(err, errsize, "cannot prepare the statements", w->db);
			sq_close(w);
			return OCTO_EFAIL;
		}
	}
	return 0;
}

static int sq_bind(sqlite3_stmt *st, const struct octo_cdr *c, double cost)
{
	char start[32], answer[32], end[32];
	int rc = 0;

	cdr_time_iso(c->start_us, start, sizeof(start));
	cdr_time_iso(c->answer_us, answer, sizeof(answer));
	cdr_time_iso(c->end_us, end, sizeof(end));
	rc |= sqlite3_bind_text(st, 1, c->uniqueid, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 2, c->linkedid, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 3, start, -1, SQLITE_TRANSIENT);
	if (c->answer_us)
		rc |= sqlite3_bind_text(st, 4, answer, -1, SQLITE_TRANSIENT);
	else
		rc |= sqlite3_bind_null(st, 4);
	rc |= sqlite3_bind_text(st, 5, end, -1, SQLITE_TRANSIENT);
	rc |= sqlite3_bind_int64(st, 6, (sqlite3_int64)c->start_us);
	rc |= sqlite3_bind_int64(st, 7, (sqlite3_int64)c->answer_us);
	rc |= sqlite3_bind_int64(st, 8, (sqlite3_int64)c->end_us);
	rc |= sqlite3_bind_int64(st, 9, c->duration);
	rc |= sqlite3_bind_int64(st, 10, c->billsec);
	rc |= sqlite3_bind_text(st, 11, c->caller, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 12, c->caller_name, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 13, c->dialed, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 14, c->called, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 15, c->channel, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 16, c->dst_channel, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 17, c->trunk, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 18, c->procedure, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 19, octo_cdr_disposition_name(c->disposition), -1,
				SQLITE_STATIC);
	rc |= sqlite3_bind_int(st, 20, c->cause);
	rc |= sqlite3_bind_text(st, 21, c->hangup_side, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 22, c->userfield, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_double(st, 23, cost);
	rc |= sqlite3_bind_text(st, 24, c->user, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 25, c->direction, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int(st, 26, c->answered_elsewhere);
	return rc;
}

/* Runs a bound statement that returns no row, then resets it. */
static int sq_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

static unsigned sq_debug_days(void)
{
	unsigned days;

	pthread_mutex_lock(&sq_conf_lock);
	days = sq_conf.general.debug_days;
	pthread_mutex_unlock(&sq_conf_lock);
	return days;
}

/* The oldest end time of a step log still kept (debug_days); UINT64_MAX
 * when none is kept. */
static uint64_t sq_debug_cutoff(void)
{
	uint64_t days = sq_debug_days(), now = octo_wall_us(), keep = days * 86400u * 1000000u;

	if (!days)
		return UINT64_MAX;
	return now > keep ? now - keep : 0;
}

/* Stores the step log the record carries, tied to its row `cdr_id`. */
static int sq_write_steps(struct sq_writer *w, const struct octo_cdr *c, sqlite3_int64 cdr_id)
{
	sqlite3_int64 debug_id;
	int rc = 0;

	rc |= sqlite3_bind_int64(w->debug, 1, cdr_id);
	rc |= sqlite3_bind_text(w->debug, 2, c->uniqueid, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(w->debug, 3, c->channel, -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int64(w->debug, 4, (sqlite3_int64)c->end_us);
	rc |= sqlite3_bind_int64(w->debug, 5, (sqlite3_int64)c->step_count);
	rc |= sqlite3_bind_int64(w->debug, 6, (sqlite3_int64)c->steps_dropped);
	if (rc != SQLITE_OK || sq_step_done(w->debug) != SQLITE_OK)
		return SQLITE_ERROR;
	debug_id = sqlite3_last_insert_rowid(w->db);
	for (size_t i = 0; i < c->step_count; i++) {
		rc |= sqlite3_bind_int64(w->step, 1, debug_id);
		rc |= sqlite3_bind_int64(w->step, 2, (sqlite3_int64)i);
		rc |= sqlite3_bind_int64(w->step, 3, (sqlite3_int64)c->steps[i].time_us);
		rc |= sqlite3_bind_text(w->step, 4, c->steps[i].text, -1, SQLITE_STATIC);
		if (rc != SQLITE_OK || sq_step_done(w->step) != SQLITE_OK)
			return SQLITE_ERROR;
	}
	return SQLITE_OK;
}

/* What one batch borrows from other modules, and the e-mails it queues
 * once committed. */
struct sq_mail {
	struct sq_mail *next;
	char user[64];
	char to[256];
	char subject[256];
	char body[1024];
};

struct sq_batch {
	const struct octo_users_api *users;
	const struct octo_numbering_api *num;
	bool users_tried, num_tried;
	struct sq_mail *mails, **mails_tail;
};

static const struct octo_users_api *sq_batch_users(struct sq_batch *b)
{
	if (!b->users_tried) {
		b->users_tried = true;
		b->users = octo_service_get(OCTO_USERS_SERVICE, 1, "res_cdr_sqlite");
	}
	return b->users;
}

static void sq_batch_end(struct sq_batch *b)
{
	if (b->users)
		octo_service_put(b->users, "res_cdr_sqlite");
	if (b->num)
		octo_service_put(b->num, "res_cdr_sqlite");
	while (b->mails) {
		struct sq_mail *next = b->mails->next;

		free(b->mails);
		b->mails = next;
	}
}

/* Whether the record is priced: an outgoing call over a trunk, i.e. a
 * leg the PBX placed, or an incoming leg from a user (${USER}, or a caller
 * number that is a user's extension). A call that came in over a trunk is
 * not. */
static bool sq_priced(struct sq_batch *b, const struct octo_cdr *c)
{
	const struct octo_users_api *users;
	struct octo_user *u;

	if (!c->trunk[0])
		return false;
	if (!strcmp(c->direction, "outbound") || c->user[0])
		return true;
	users = sq_batch_users(b);
	if (!users || !c->caller[0])
		return false;
	u = users->find(c->caller);
	octo_obj_unref(u);
	return u != NULL;
}

/* The record's cost from its trunk's pricelist (its own cost when it is
 * not priced or no prefix matches). */
static double sq_cost(struct sq_writer *w, struct sq_batch *b, const struct octo_cdr *c)
{
	char e164[OCTO_NUM_MAX];
	struct cdr_price p;
	double cost = c->cost;
	int rc;

	if (!sq_priced(b, c))
		return cost;
	if (!b->num_tried) {
		b->num_tried = true;
		b->num = octo_service_get(OCTO_NUMBERING_SERVICE, 1, "res_cdr_sqlite");
	}
	if (!b->num || b->num->normalize(c->called, OCTO_NUM_DIALED, e164, sizeof(e164)) < 0)
		octo_strlcpy(e164, c->called, sizeof(e164));
	if (sqlite3_bind_text(w->price, 1, c->trunk, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(w->price, 2, e164, -1, SQLITE_STATIC) ||
	    sqlite3_bind_text(w->price, 3, c->called, -1, SQLITE_STATIC))
		goto out;
	rc = sqlite3_step(w->price);
	if (rc == SQLITE_ROW) {
		sqlite3_int64 inc = sqlite3_column_int64(w->price, 4);

		memset(&p, 0, sizeof(p));
		p.price = sqlite3_column_double(w->price, 2);
		p.fee = sqlite3_column_double(w->price, 3);
		p.increment = inc >= 1 && inc <= 3600 ? (unsigned)inc : 1;
		cost = cdr_price_cost(&p, c->billsec, c->answer_us != 0);
		if (!isfinite(cost) || cost < 0)
			cost = 0;
		octo_debug(2, "cost of %s over %s to %s: %.6f (prefix %s)", c->uniqueid, c->trunk,
			   c->called, cost, (const char *)sqlite3_column_text(w->price, 0));
	} else if (rc != SQLITE_DONE) {
		octo_log(OCTO_WARNING, "cost of %s: cannot read the pricelist of %s: %s",
			 c->uniqueid, c->trunk, sqlite3_errmsg(w->db));
	} else {
		octo_debug(2, "cost of %s: no prefix of the pricelist of %s matches %s",
			   c->uniqueid, c->trunk, c->called);
	}
out:
	sqlite3_reset(w->price);
	sqlite3_clear_bindings(w->price);
	return cost;
}

/* The legs of call `linkedid` (at most SQ_LEGS_MAX), read on connection
 * `st`'s database; a new array, NULL when none. */
#define SQ_LEGS_MAX 200
static void sq_row_to_cdr(sqlite3_stmt *st, struct octo_cdr *c);

static struct octo_cdr *sq_call_legs(sqlite3_stmt *st, const char *linkedid, size_t *count)
{
	struct octo_cdr *legs = NULL;
	size_t n = 0, cap = 0;

	*count = 0;
	if (sqlite3_bind_text(st, 1, linkedid, -1, SQLITE_TRANSIENT) ||
	    sqlite3_bind_int(st, 2, SQ_LEGS_MAX))
		goto out;
	while (n < SQ_LEGS_MAX && sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			/* most calls have two legs: room for the legs read, not
			 * for SQ_LEGS_MAX (180 KB zeroed for each call written
			 * cost the writer a memset or an mmap per call) */
			size_t ncap = cap ? cap * 2 : 4;
			struct octo_cdr *grown;

			if (ncap > SQ_LEGS_MAX)
				ncap = SQ_LEGS_MAX;
			grown = realloc(legs, ncap * sizeof(*grown));
			if (!grown)
				break;
			legs = grown;
			cap = ncap;
		}
		memset(&legs[n], 0, sizeof(legs[n]));
		sq_row_to_cdr(st, &legs[n++]);
	}
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	*count = n;
	return legs;
}

/* Prepares the e-mail of a missed call to `u` (appended to the batch). */
static void sq_mail_missed(struct sq_batch *b, const struct octo_user *u,
			   const struct cdr_hist_call *h, const struct octo_cdr *c)
{
	struct sq_mail *m = calloc(1, sizeof(*m));
	const char *number = c->caller[0] ? c->caller : "anonymous";
	char when[32], from[160];
	unsigned rang = 0;

	if (!m)
		return;
	if (h->leg->end_us > h->leg->start_us)
		rang = (unsigned)((h->leg->end_us - h->leg->start_us) / 1000000u);
	cdr_time_local(h->start_us, when, sizeof(when));
	if (c->caller_name[0])
		snprintf(from, sizeof(from), "%s (%s)", number, c->caller_name);
	else
		snprintf(from, sizeof(from), "%s", number);
	octo_strlcpy(m->user, u->extension, sizeof(m->user));
	octo_strlcpy(m->to, u->email, sizeof(m->to));
	snprintf(m->subject, sizeof(m->subject), "Missed call from %s", from);
	snprintf(m->body, sizeof(m->body),
		 "You missed a call on %s%s%s%s.\n"
		 "\n"
		 "From:    %s\n"
		 "Number:  %s\n"
		 "Time:    %s\n"
		 "Rang:    %u s\n"
		 "Outcome: %s\n"
		 "Call id: %s\n",
		 u->extension, u->name[0] ? " (" : "", u->name, u->name[0] ? ")" : "", from,
		 number, when, rang,
		 !strcmp(h->disposition, "CANCELLED") ? "the caller hung up before you answered"
						      : "nobody answered",
		 c->linkedid);
	*b->mails_tail = m;
	b->mails_tail = &m->next;
}

/* Once the incoming leg of a call is in the transaction (its other legs
 * ended before it), tells the users it rang and who missed it, when they
 * asked for it (users.conf missed_call_email). cdr_notified keeps a call
 * from being told twice. */
static void sq_check_missed(struct sq_writer *w, struct sq_batch *b, const struct octo_cdr *root)
{
	const struct octo_users_api *users;
	char users_seen[8][64];
	size_t n, nseen = 0;
	struct octo_cdr *legs;

	if (!strcmp(root->direction, "outbound") || !root->linkedid[0])
		return;
	users = sq_batch_users(b);
	if (!users)
		return;
	legs = sq_call_legs(w->legs, root->linkedid, &n);
	for (size_t i = 0; i < n; i++) {
		const char *ext = !strcmp(legs[i].direction, "outbound") && legs[i].user[0]
					  ? legs[i].user
					  : legs[i].called;
		struct cdr_hist_call h;
		struct octo_user *u;
		bool seen = false;

		for (size_t k = 0; k < nseen && !seen; k++)
			seen = !strcmp(users_seen[k], ext);
		if (seen || !*ext || nseen == OCTO_ARRAY_LEN(users_seen))
			continue;
		octo_strlcpy(users_seen[nseen++], ext, sizeof(users_seen[0]));
		cdr_hist_classify(legs, n, ext, &h);
		if (!h.notify)
			continue;
		u = users->find(ext);
		if (u && u->missed_call_email && u->email[0]) {
			sqlite3_stmt *st = w->notified;

			int rc = sqlite3_bind_text(st, 1, root->linkedid, -1, SQLITE_STATIC);

			rc |= sqlite3_bind_text(st, 2, ext, -1, SQLITE_TRANSIENT);
			rc |= sqlite3_bind_int64(st, 3, (sqlite3_int64)octo_wall_us());
			if (rc == SQLITE_OK && sq_step_done(st) == SQLITE_OK &&
			    sqlite3_changes(w->db) == 1)
				sq_mail_missed(b, u, &h, h.leg);
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
		}
		octo_obj_unref(u);
	}
	free(legs);
}

/* Queues the batch's e-mails with the mail service (after the commit). */
static void sq_send_mails(struct sq_batch *b)
{
	const struct octo_mail_api *mail;

	if (!b->mails)
		return;
	mail = octo_service_get(OCTO_MAIL_SERVICE, 1, "res_cdr_sqlite");
	for (struct sq_mail *m = b->mails; m; m = m->next) {
		const char *to[] = { m->to };
		struct octo_mail msg = {
			.to = to,
			.to_count = 1,
			.subject = m->subject,
			.body = m->body,
			.origin = "res_cdr_sqlite",
		};
		uint64_t id = 0;
		int rc;

		if (!mail) {
			octo_log(OCTO_WARNING, "missed call of %s: not told by e-mail, there is no "
				 "mail service (is res_smtp loaded?)", m->user);
			continue;
		}
		rc = mail->send(&msg, &id);
		if (rc)
			octo_log(OCTO_WARNING, "missed call of %s: the e-mail to %s was refused: "
				 "%s", m->user, m->to, octo_strerror(rc));
		else
			octo_verbose(2, "missed call of %s: e-mail %llu to %s queued", m->user,
				     (unsigned long long)id, m->to);
	}
	if (mail)
		octo_service_put(mail, "res_cdr_sqlite");
}

static int sq_write(void *ctx, const struct octo_cdr *const *recs, size_t n, char *err,
		    size_t errsize)
{
	struct sq_writer *w = ctx;
	struct sq_batch b = { 0 };
	bool keep_steps = sq_debug_days() > 0;

	b.mails_tail = &b.mails;
	if (sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(err, errsize, "cannot begin", w->db);
		return OCTO_EFAIL;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = sq_bind(w->insert, recs[i], sq_cost(w, &b, recs[i]));

		if (rc == SQLITE_OK)
			rc = sq_step_done(w->insert);
		if (rc == SQLITE_OK && keep_steps && recs[i]->steps)
			rc = sq_write_steps(w, recs[i], sqlite3_last_insert_rowid(w->db));
		if (rc != SQLITE_OK) {
			sq_err(err, errsize, "insert", w->db);
			sqlite3_reset(w->insert);
			sqlite3_clear_bindings(w->insert);
			sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
			sq_batch_end(&b);
			return OCTO_EFAIL;
		}
	}
	/* Every leg of the batch is in: the calls that ended can be judged. */
	for (size_t i = 0; i < n; i++)
		sq_check_missed(w, &b, recs[i]);
	if (sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(err, errsize, "commit", w->db);
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
		sq_batch_end(&b);
		return OCTO_EFAIL;
	}
	sq_send_mails(&b);
	sq_batch_end(&b);
	return 0;
}

/* Once a day (and when cdr.db opens): step logs older than debug_days go,
 * and the marks of missed calls told (they only matter while a call's legs
 * are being written). */
#define SQ_NOTIFIED_KEEP_US (2ull * 86400u * 1000000u)

static void sq_tick(void *ctx)
{
	static const char *const purge[] = {
		"DELETE FROM cdr_step WHERE debug_id IN"
		" (SELECT id FROM cdr_debug WHERE end_us < ?1)",
		"DELETE FROM cdr_debug WHERE end_us < ?1",
		"DELETE FROM cdr_notified WHERE time_us < ?2",
	};
	struct sq_writer *w = ctx;
	uint64_t cutoff = sq_debug_cutoff(), now = octo_wall_us();
	int logs = 0;

	if (sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < OCTO_ARRAY_LEN(purge); i++) {
		sqlite3_stmt *st = NULL;
		int rc;

		if (sqlite3_prepare_v2(w->db, purge[i], -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, cutoff > INT64_MAX ? INT64_MAX : (sqlite3_int64)cutoff);
		if (sqlite3_bind_parameter_count(st) >= 2)
			sqlite3_bind_int64(st, 2, (sqlite3_int64)(now - SQ_NOTIFIED_KEEP_US));
		rc = sqlite3_step(st);
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE)
			goto fail;
		if (i == 1)
			logs = sqlite3_changes(w->db);
	}
	if (sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	if (logs)
		octo_verbose(1, "cdr.db: %d call step log%s removed (older than debug_days)", logs,
			     logs == 1 ? "" : "s");
	return;
fail:
	octo_log(OCTO_WARNING, "cdr.db: cannot remove the old call step logs: %s",
		 sqlite3_errmsg(w->db));
	sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Writing paused: the pages SQLite cached for the burst (up to its 2 MB
 * cache, measured after 20,000 calls) go back; the next batch reads what
 * it needs again from the file, which the system still caches. */
static void sq_idle(void *ctx)
{
	struct sq_writer *w = ctx;

	if (w->db)
		sqlite3_db_release_memory(w->db);
}

static const struct cdr_spool_ops sq_spool_ops = {
	.thread_name = "cdr sqlite",
	.open = sq_open,
	.write = sq_write,
	.close = sq_close,
	.tick = sq_tick,
	.tick_ms = 24u * 3600u * 1000u,
	.idle = sq_idle,
	.idle_ms = 10000,
};

/* ---------------------------------------------------------------- backend */

static int sq_post(const struct octo_cdr *cdr)
{
	return cdr_spool_post(sq_spool, cdr);
}

static void sq_status(struct octo_cdr_backend_status *st)
{
	cdr_spool_status(sq_spool, st);
}

static const char *sq_text(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	return t ? (const char *)t : "";
}

/* Reads the SQ_COLUMNS that start at column `b` of the row. */
static void sq_row_to_cdr_at(sqlite3_stmt *st, int b, struct octo_cdr *c)
{
	int disp = cdr_disposition_parse(sq_text(st, b + 16));
	sqlite3_int64 v;

	memset(c, 0, sizeof(*c));
	octo_strlcpy(c->uniqueid, sq_text(st, b + 1), sizeof(c->uniqueid));
	octo_strlcpy(c->linkedid, sq_text(st, b + 2), sizeof(c->linkedid));
	v = sqlite3_column_int64(st, b + 3);
	c->start_us = v > 0 ? (uint64_t)v : 0;
	v = sqlite3_column_int64(st, b + 4);
	c->answer_us = v > 0 ? (uint64_t)v : 0;
	v = sqlite3_column_int64(st, b + 5);
	c->end_us = v > 0 ? (uint64_t)v : 0;
	v = sqlite3_column_int64(st, b + 6);
	c->duration = v > 0 && v <= UINT32_MAX ? (unsigned)v : 0;
	v = sqlite3_column_int64(st, b + 7);
	c->billsec = v > 0 && v <= UINT32_MAX ? (unsigned)v : 0;
	octo_strlcpy(c->caller, sq_text(st, b + 8), sizeof(c->caller));
	octo_strlcpy(c->caller_name, sq_text(st, b + 9), sizeof(c->caller_name));
	octo_strlcpy(c->dialed, sq_text(st, b + 10), sizeof(c->dialed));
	octo_strlcpy(c->called, sq_text(st, b + 11), sizeof(c->called));
	octo_strlcpy(c->channel, sq_text(st, b + 12), sizeof(c->channel));
	octo_strlcpy(c->dst_channel, sq_text(st, b + 13), sizeof(c->dst_channel));
	octo_strlcpy(c->trunk, sq_text(st, b + 14), sizeof(c->trunk));
	octo_strlcpy(c->procedure, sq_text(st, b + 15), sizeof(c->procedure));
	c->disposition = disp < 0 ? OCTO_CDR_FAILED : (enum octo_cdr_disposition)disp;
	c->cause = sqlite3_column_int(st, b + 17);
	octo_strlcpy(c->hangup_side, sq_text(st, b + 18), sizeof(c->hangup_side));
	octo_strlcpy(c->userfield, sq_text(st, b + 19), sizeof(c->userfield));
	c->cost = sqlite3_column_double(st, b + 20);
	octo_strlcpy(c->user, sq_text(st, b + 21), sizeof(c->user));
	octo_strlcpy(c->direction, sq_text(st, b + 22), sizeof(c->direction));
	c->answered_elsewhere = sqlite3_column_int(st, b + 23) != 0;
	cdr_sanitize(c);
}

static void sq_row_to_cdr(sqlite3_stmt *st, struct octo_cdr *c)
{
	sq_row_to_cdr_at(st, 0, c);
}

static int sq_query(const struct octo_cdr_filter *f,
		    int (*row)(const struct octo_cdr *cdr, void *arg), void *arg, char *err,
		    size_t errsize)
{
	char *path = cdr_spool_path(sq_spool), where[128] = "";
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	char *sql;
	int rc, count = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errsize, "cannot open %s: %s", path,
			 db ? sqlite3_errmsg(db) : "out of memory");
		count = OCTO_EFAIL;
		goto out;
	}
	sqlite3_busy_timeout(db, 2000);
	/* Only fixed text goes into the SQL; the values are bound. */
	if (f->user && *f->user)
		strcat(where, " AND (caller = ?1 OR called = ?1)");
	if (f->since_us)
		strcat(where, " AND start_us >= ?2");
	if (f->last)
		sql = sqlite3_mprintf("SELECT * FROM (SELECT " SQ_QUERY_COLUMNS
				      " FROM cdr WHERE 1%s ORDER BY id DESC LIMIT ?3) ORDER BY id",
				      where);
	else
		sql = sqlite3_mprintf("SELECT " SQ_QUERY_COLUMNS " FROM cdr WHERE 1%s ORDER BY id",
				      where);
	if (!sql || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errsize, "cannot read %s: %s", path,
			 sql ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_free(sql);
		count = OCTO_EFAIL;
		goto out;
	}
	sqlite3_free(sql);
	if (f->user && *f->user)
		sqlite3_bind_text(st, 1, f->user, -1, SQLITE_TRANSIENT);
	if (f->since_us)
		sqlite3_bind_int64(st, 2, (sqlite3_int64)f->since_us);
	if (f->last)
		sqlite3_bind_int64(st, 3, f->last);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct octo_cdr c;

		sq_row_to_cdr(st, &c);
		count++;
		if (row(&c, arg))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(err, errsize, "cannot read %s: %s", path, sqlite3_errmsg(db));
		count = OCTO_EFAIL;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return count;
}

/* ---------------------------------------------------------------- stored step logs */

/* Opens cdr.db read-only on the caller's thread (WAL readers never wait for
 * the writer). Returns NULL with *rc 0 when the file does not exist (yet),
 * or NULL with *rc OCTO_EFAIL and `err` filled. */
static sqlite3 *sq_read_open(bool missing_ok, int *rc, char *err, size_t errsize)
{
	char *path = cdr_spool_path(sq_spool);
	sqlite3 *db = NULL;

	*rc = 0;
	if (missing_ok && access(path, F_OK) && errno == ENOENT) {
		free(path);
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err, errsize, "cannot open %s: %s", path,
			 db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		db = NULL;
		*rc = OCTO_EFAIL;
	} else {
		sqlite3_busy_timeout(db, 2000);
	}
	free(path);
	return db;
}

/* A stored leg: its CDR row (when still there) then the cdr_debug columns. */
#define SQ_DEBUG_SELECT                                                                        \
	"SELECT " SQ_COLUMNS("c.") ", d.id, d.steps_dropped, d.uniqueid, d.channel, d.end_us,"  \
	" d.step_count FROM cdr_debug d LEFT JOIN cdr c ON c.id = d.cdr_id"
#define SQ_DEBUG_COL 24 /* the first cdr_debug column */

static void sq_debug_row(sqlite3_stmt *st, struct octo_cdr *c)
{
	sqlite3_int64 v;

	sq_row_to_cdr_at(st, 0, c);
	if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
		/* The CDR row was deleted by hand: what the log itself knows. */
		octo_strlcpy(c->uniqueid, sq_text(st, SQ_DEBUG_COL + 2), sizeof(c->uniqueid));
		octo_strlcpy(c->channel, sq_text(st, SQ_DEBUG_COL + 3), sizeof(c->channel));
		v = sqlite3_column_int64(st, SQ_DEBUG_COL + 4);
		c->end_us = v > 0 ? (uint64_t)v : 0;
	}
	v = sqlite3_column_int64(st, SQ_DEBUG_COL + 1);
	c->steps_dropped = v > 0 ? (size_t)v : 0;
	v = sqlite3_column_int64(st, SQ_DEBUG_COL + 5);
	c->step_count = v > 0 ? (size_t)v : 0;
}

/* A stored log has at most this many lines (the spool keeps fewer). */
#define SQ_STEPS_READ_MAX 100000

static int sq_debug_lookup(const char *id, void (*found)(const struct octo_cdr *cdr, void *arg),
			   void *arg, char *err, size_t errsize)
{
	uint64_t cutoff = sq_debug_cutoff();
	struct octo_cdr_step *steps = NULL;
	sqlite3_stmt *st = NULL, *sst = NULL;
	sqlite3_int64 debug_id;
	struct octo_cdr c;
	size_t n = 0, cap = 0;
	sqlite3 *db;
	int rc;

	if (cutoff == UINT64_MAX || !id || !*id || strlen(id) > 128)
		return 0;
	db = sq_read_open(true, &rc, err, errsize);
	if (!db)
		return rc;
	/* The id first, then the newest leg of that channel name. */
	rc = sqlite3_prepare_v2(db, SQ_DEBUG_SELECT
				" WHERE (d.uniqueid = ?1 OR d.channel = ?1 COLLATE NOCASE)"
				" AND d.end_us >= ?2"
				" ORDER BY d.uniqueid = ?1 DESC, d.id DESC LIMIT 1",
				-1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT time_us, text FROM cdr_step WHERE debug_id = ?1"
					" ORDER BY seq", -1, &sst, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)cutoff);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rc = 0;
		goto out;
	}
	if (rc != SQLITE_ROW)
		goto fail;
	sq_debug_row(st, &c);
	debug_id = sqlite3_column_int64(st, SQ_DEBUG_COL);
	sqlite3_bind_int64(sst, 1, debug_id);
	while ((rc = sqlite3_step(sst)) == SQLITE_ROW && n < SQ_STEPS_READ_MAX) {
		sqlite3_int64 t = sqlite3_column_int64(sst, 0);

		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct octo_cdr_step *grown = realloc(steps, ncap * sizeof(*grown));

			if (!grown)
				break;
			steps = grown;
			cap = ncap;
		}
		steps[n].time_us = t > 0 ? (uint64_t)t : 0;
		steps[n].text = octo_strdup(sq_text(sst, 1));
		n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	c.steps = steps;
	c.step_count = n;
	found(&c, arg);
	rc = 1;
	goto out;
fail:
	snprintf(err, errsize, "cannot read the stored calls: %s", sqlite3_errmsg(db));
	rc = OCTO_EFAIL;
out:
	for (size_t i = 0; i < n; i++)
		free((char *)steps[i].text);
	free(steps);
	sqlite3_finalize(st);
	sqlite3_finalize(sst);
	sqlite3_close(db);
	return rc;
}

static int sq_debug_list(unsigned last, int (*row)(const struct octo_cdr *cdr, void *arg),
			 void *arg, char *err, size_t errsize)
{
	uint64_t cutoff = sq_debug_cutoff();
	sqlite3_stmt *st = NULL;
	int rc, count = 0;
	sqlite3 *db;

	if (cutoff == UINT64_MAX || !last)
		return 0;
	db = sq_read_open(true, &rc, err, errsize);
	if (!db)
		return rc;
	if (sqlite3_prepare_v2(db, SQ_DEBUG_SELECT " WHERE d.end_us >= ?1 ORDER BY d.id DESC"
				   " LIMIT ?2", -1, &st, NULL) != SQLITE_OK) {
		rc = SQLITE_ERROR;
	} else {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)cutoff);
		sqlite3_bind_int64(st, 2, last);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct octo_cdr c;

			sq_debug_row(st, &c);
			count++;
			if (row(&c, arg))
				break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(err, errsize, "cannot read the stored calls: %s", sqlite3_errmsg(db));
		count = OCTO_EFAIL;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return count;
}

static const struct octo_call_debug_api sq_debug_api = {
	.lookup = sq_debug_lookup,
	.list = sq_debug_list,
};

static const struct octo_service sq_debug_service = { OCTO_CALL_DEBUG_SERVICE, 1,
						      &sq_debug_api };

/* ---------------------------------------------------------------- CLI */

/* Parses [last N] [user EXT] [since DATE] from argv[i..]; `last_max` bounds N. */
static int sq_parse_filter(struct octo_cli_out *out, int argc, char **argv, int i,
			   unsigned last_max, struct octo_cdr_filter *f, char *date,
			   size_t datesize)
{
	while (i < argc) {
		const char *what = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!val)
			return OCTO_CLI_USAGE;
		if (!strcmp(what, "last")) {
			char *end;
			unsigned long n;

			errno = 0;
			n = strtoul(val, &end, 10);
			if (*val < '0' || *val > '9' || *end || errno || n < 1 || n > last_max) {
				octo_cli_error(out, "last: \"%.40s\" is not a number from 1 to %u",
					       val, last_max);
				return OCTO_CLI_FAIL;
			}
			f->last = (unsigned)n;
			i += 2;
		} else if (!strcmp(what, "user")) {
			if (!*val || strlen(val) >= sizeof(((struct octo_cdr *)0)->caller)) {
				octo_cli_error(out, "user: \"%.40s\" is not an extension", val);
				return OCTO_CLI_FAIL;
			}
			f->user = val;
			i += 2;
		} else if (!strcmp(what, "since")) {
			const char *why;

			/* "since 2026-11-26 10:00" arrives as two words. */
			if (i + 2 < argc && strlen(argv[i + 2]) == 5 && argv[i + 2][2] == ':') {
				snprintf(date, datesize, "%.16s %s", val, argv[i + 2]);
				i++;
			} else {
				snprintf(date, datesize, "%.30s", val);
			}
			why = cdr_date_parse(date, &f->since_us);
			if (why) {
				octo_cli_error(out, "since: \"%s\" %s", date, why);
				return OCTO_CLI_FAIL;
			}
			i += 2;
		} else {
			return OCTO_CLI_USAGE;
		}
	}
	return OCTO_CLI_OK;
}

/* The backend the console reads (cli_backend), held; NULL with an error. */
static const struct octo_cdr_backend *sq_cli_backend(struct octo_cli_out *out)
{
	const struct octo_cdr_backend *be;
	char name[64];

	pthread_mutex_lock(&sq_conf_lock);
	octo_strlcpy(name, sq_conf.general.cli_backend ? sq_conf.general.cli_backend : "sqlite",
		     sizeof(name));
	pthread_mutex_unlock(&sq_conf_lock);
	be = octo_registry_get(OCTO_REG_CDR, name, "cdr cli");
	if (!be) {
		octo_cli_error(out, "The CDR backend \"%s\" (cli_backend in cdr.conf) is not "
			       "running: is it in backends, and its module loaded?", name);
		return NULL;
	}
	if (!be->query) {
		octo_cli_error(out, "The CDR backend \"%s\" cannot read records back", name);
		octo_registry_put(OCTO_REG_CDR, be, "cdr cli");
		return NULL;
	}
	return be;
}

static int sq_show_row(const struct octo_cdr *c, void *arg)
{
	struct octo_cli_out *out = arg;
	char start[32], duration[16], billsec[16];

	cdr_time_local(c->start_us, start, sizeof(start));
	snprintf(duration, sizeof(duration), "%u", c->duration);
	snprintf(billsec, sizeof(billsec), "%u", c->billsec);
	octo_cli_row(out, start, c->caller, c->dialed, c->called,
		     octo_cdr_disposition_name(c->disposition), duration, billsec, c->channel,
		     c->uniqueid, NULL);
	return 0;
}

static int sq_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_cdr_filter f = { 0 };
	const struct octo_cdr_backend *be;
	char date[48], err[256] = "";
	int rc;

	rc = sq_parse_filter(out, argc, argv, 2, SQ_SHOW_MAX, &f, date, sizeof(date));
	if (rc)
		return rc;
	if (!f.last)
		f.last = f.since_us ? SQ_SHOW_MAX : SQ_SHOW_DEFAULT;
	be = sq_cli_backend(out);
	if (!be)
		return OCTO_CLI_FAIL;
	octo_cli_columns(out, "start", "caller", "dialed", "called", "disposition", "duration",
			 "billsec", "channel", "uniqueid", NULL);
	rc = be->query(&f, sq_show_row, out, err, sizeof(err));
	octo_registry_put(OCTO_REG_CDR, be, "cdr cli");
	if (rc < 0) {
		octo_cli_error(out, "%s", err[0] ? err : octo_strerror(rc));
		return OCTO_CLI_FAIL;
	}
	if (rc == 0 && !octo_cli_out_json(out))
		octo_cli_printf(out, "No CDR matches.");
	else if ((unsigned)rc == SQ_SHOW_MAX)
		octo_cli_printf(out, "Only the newest %u are shown: cdr export csv writes "
				"them all.", SQ_SHOW_MAX);
	return OCTO_CLI_OK;
}

/* An export goes into the data folder under a plain name ending in .csv:
 * the console must not become a way to write anywhere, nor over cdr.db. */
static bool sq_export_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len < 5 || len > 128 || name[0] == '.' || strstr(name, "..") ||
	    strcmp(name + len - 4, ".csv"))
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

struct sq_export {
	FILE *fp;
	char line[CDR_CSV_LINE_MAX];
};

static int sq_export_row(const struct octo_cdr *c, void *arg)
{
	struct sq_export *ex = arg;
	size_t len = cdr_csv_line(c, ex->line, sizeof(ex->line));

	return fwrite(ex->line, 1, len, ex->fp) == len ? 0 : 1;
}

static int sq_cli_export(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_cdr_filter f = { 0 };
	const struct octo_cdr_backend *be;
	struct sq_export *ex = NULL;
	char date[48], err[256] = "";
	char *path = NULL, *tmp = NULL, *csv_path = NULL;
	const char *name;
	int fd = -1, rc, status = OCTO_CLI_FAIL;
	size_t len;

	if (argc < 4)
		return OCTO_CLI_USAGE;
	name = argv[3];
	if (!sq_export_name_ok(name)) {
		octo_cli_error(out, "\"%.80s\": the file must be a plain name ending in .csv "
			       "(letters, digits, . _ -); it is written in the data folder, so "
			       "\"/\" and \"..\" are refused", name);
		return OCTO_CLI_FAIL;
	}
	rc = sq_parse_filter(out, argc, argv, 4, SQ_EXPORT_MAX, &f, date, sizeof(date));
	if (rc)
		return rc;
	path = cdr_conf_path(name);
	pthread_mutex_lock(&sq_conf_lock);
	csv_path = cdr_conf_path(sq_conf.csv.file ? sq_conf.csv.file : "cdr.csv");
	pthread_mutex_unlock(&sq_conf_lock);
	if (!strcmp(path, csv_path)) {
		octo_cli_error(out, "%s is the CSV backend's own file: choose another name", name);
		goto out;
	}
	be = sq_cli_backend(out);
	if (!be)
		goto out;
	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0)
		abort();
	fd = mkstemp(tmp);
	ex = malloc(sizeof(*ex));
	if (fd < 0 || !ex || !(ex->fp = fdopen(fd, "w"))) {
		octo_cli_error(out, "cannot create %s: %s", tmp, strerror(errno ? errno : ENOMEM));
		octo_registry_put(OCTO_REG_CDR, be, "cdr cli");
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		goto out;
	}
	fchmod(fd, 0640);
	len = cdr_csv_header(ex->line, sizeof(ex->line));
	fwrite(ex->line, 1, len, ex->fp);
	rc = be->query(&f, sq_export_row, ex, err, sizeof(err));
	octo_registry_put(OCTO_REG_CDR, be, "cdr cli");
	if (rc >= 0 && (fflush(ex->fp) || ferror(ex->fp) || fsync(fd))) {
		snprintf(err, sizeof(err), "cannot write %s: %s", tmp, strerror(errno));
		rc = OCTO_EFAIL;
	}
	if (fclose(ex->fp) && rc >= 0) {
		snprintf(err, sizeof(err), "cannot write %s: %s", tmp, strerror(errno));
		rc = OCTO_EFAIL;
	}
	if (rc >= 0 && rename(tmp, path)) {
		snprintf(err, sizeof(err), "cannot rename %s to %s: %s", tmp, path,
			 strerror(errno));
		rc = OCTO_EFAIL;
	}
	if (rc < 0) {
		unlink(tmp);
		octo_cli_error(out, "%s", err[0] ? err : octo_strerror(rc));
		goto out;
	}
	octo_cli_kv(out, "file", "%s", path);
	octo_cli_kv(out, "records", "%d", rc);
	status = OCTO_CLI_OK;
out:
	free(ex);
	free(tmp);
	free(path);
	free(csv_path);
	return status;
}

/* ---------------------------------------------------------------- user history */

/* An extension or a number as the CDRs hold them. */
static bool sq_valid_number(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= sizeof(((struct octo_cdr *)0)->user))
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || strchr("+*#_.-", *s)))
			return false;
	return true;
}

/* One row of `user history`. */
static void sq_history_row(struct octo_cli_out *out, uint64_t start_us, const char *dir,
			   const char *number, const char *name, unsigned secs,
			   const char *disposition, const char *call)
{
	char when[32], duration[16];

	cdr_time_local(start_us, when, sizeof(when));
	snprintf(duration, sizeof(duration), "%u", secs);
	octo_cli_row(out, when, dir, number[0] ? number : "anonymous", name, duration, disposition,
		     call, NULL);
}

static int sq_cli_history(struct octo_cli_out *out, int argc, char **argv)
{
	const struct octo_users_api *users;
	sqlite3_stmt *calls = NULL, *legs_st = NULL;
	unsigned last = SQ_SHOW_DEFAULT, rows = 0;
	char err[256] = "";
	const char *ext;
	sqlite3 *db;
	int rc;

	if (argc != 3 && argc != 5)
		return OCTO_CLI_USAGE;
	ext = argv[2];
	if (!sq_valid_number(ext)) {
		octo_cli_error(out, "\"%.40s\" is not an extension", ext);
		return OCTO_CLI_FAIL;
	}
	if (argc == 5) {
		char *end;
		unsigned long n;

		if (strcmp(argv[3], "last"))
			return OCTO_CLI_USAGE;
		errno = 0;
		n = strtoul(argv[4], &end, 10);
		if (argv[4][0] < '0' || argv[4][0] > '9' || *end || errno || n < 1 ||
		    n > SQ_SHOW_MAX) {
			octo_cli_error(out, "last: \"%.40s\" is not a number from 1 to %u", argv[4],
				       SQ_SHOW_MAX);
			return OCTO_CLI_FAIL;
		}
		last = (unsigned)n;
	}
	db = sq_read_open(false, &rc, err, sizeof(err));
	if (!db) {
		octo_cli_error(out, "%s", err);
		return OCTO_CLI_FAIL;
	}
	/* The calls that may concern the user, the last to start first; each is
	 * then judged on all its legs. */
	if (sqlite3_prepare_v2(db, "SELECT linkedid, min(start_us) AS s, max(id) AS m FROM cdr"
				   " WHERE user_ext = ?1 OR caller = ?1 OR called = ?1"
				   " GROUP BY linkedid ORDER BY s DESC, m DESC",
			       -1, &calls, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, sq_legs_sql, -1, &legs_st, NULL) != SQLITE_OK) {
		octo_cli_error(out, "cannot read the CDRs: %s", sqlite3_errmsg(db));
		sqlite3_finalize(calls);
		sqlite3_close(db);
		return OCTO_CLI_FAIL;
	}
	sqlite3_bind_text(calls, 1, ext, -1, SQLITE_TRANSIENT);
	users = octo_service_get(OCTO_USERS_SERVICE, 1, "user history");
	octo_cli_columns(out, "time", "direction", "other party", "name", "duration",
			 "disposition", "call", NULL);
	while (rows < last && (rc = sqlite3_step(calls)) == SQLITE_ROW) {
		struct cdr_hist_call h;
		struct octo_cdr *legs;
		size_t n;

		legs = sq_call_legs(legs_st, sq_text(calls, 0), &n);
		cdr_hist_classify(legs, n, ext, &h);
		if (h.out) {
			const char *to = h.out->dialed[0] ? h.out->dialed : h.out->called;
			struct octo_user *u = users && *to ? users->find(to) : NULL;

			sq_history_row(out, h.start_us, "out", to, u ? u->name : "",
				       h.out->billsec,
				       octo_cdr_disposition_name(h.out->disposition),
				       h.out->linkedid);
			octo_obj_unref(u);
			rows++;
		}
		if (h.kind != CDR_HIST_NONE && rows < last) {
			sq_history_row(out, h.start_us, h.kind == CDR_HIST_IN ? "in" : "missed",
				       h.leg->caller, h.leg->caller_name,
				       h.kind == CDR_HIST_IN ? h.leg->billsec : 0, h.disposition,
				       h.leg->linkedid);
			rows++;
		}
		free(legs);
	}
	if (rows < last && rc != SQLITE_DONE) {
		octo_cli_printf(out, "The CDRs could not all be read: %s", sqlite3_errmsg(db));
	} else if (!rows && !octo_cli_out_json(out)) {
		octo_cli_printf(out, "No calls of %s in the CDRs.", ext);
	}
	if (users)
		octo_service_put(users, "user history");
	sqlite3_finalize(calls);
	sqlite3_finalize(legs_st);
	sqlite3_close(db);
	return OCTO_CLI_OK;
}

/* ---------------------------------------------------------------- pricelists */

#define SQ_PRICE_FILE_MAX (16 * 1024 * 1024)  /* bytes of a pricelist file */
#define SQ_PRICES_MAX 200000                  /* lines of a pricelist */
#define SQ_PRICE_ERRORS_SHOWN 10

/* A trunk name as ${TRUNK} holds it. */
static bool sq_valid_trunk(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= sizeof(((struct octo_cdr *)0)->trunk))
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || strchr("_.-", *s)))
			return false;
	return true;
}

struct sq_price_line {
	struct cdr_price p;
	unsigned line;
};

static int sq_price_cmp(const void *a, const void *b)
{
	const struct sq_price_line *x = a, *y = b;
	int c = strcmp(x->p.prefix, y->p.prefix);

	return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* "0.12", "1.00", "0.0125": an amount with no noise digits. */
static void sq_amount(double v, char *buf, size_t size)
{
	size_t len;

	snprintf(buf, size, "%.6f", isfinite(v) ? v : 0.0);
	len = strlen(buf);
	while (len > 0 && buf[len - 1] == '0' && len >= 3 && buf[len - 3] != '.')
		buf[--len] = '\0';
}

/* Reads and checks every line of the file; the lines in *out (sorted by
 * prefix). Every problem is printed (the first ones). Returns the count, or
 * -1 when the file is refused. */
static long sq_price_read(struct octo_cli_out *out, const char *name, const char *path,
			  struct sq_price_line **lines_out)
{
	struct sq_price_line *lines = NULL;
	struct cdr_csv_reader *r = NULL;
	unsigned line = 0, errors = 0;
	size_t n = 0, cap = 0;
	struct stat sb;
	int fd, count;

	*lines_out = NULL;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &sb)) {
		octo_cli_error(out, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > SQ_PRICE_FILE_MAX) {
		octo_cli_error(out, "%s: %s", path,
			       S_ISREG(sb.st_mode) ? "larger than 16 MB" : "not a regular file");
		goto fail;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->fp = fdopen(fd, "r"))) {
		octo_cli_error(out, "cannot read %s: out of memory", path);
		goto fail;
	}
	fd = -1;
	while ((count = cdr_csv_read(r)) != 0) {
		const char *why;

		line++;
		if (count == 1 && (!r->fields[0][0] || r->fields[0][0] == '#'))
			continue;       /* an empty line, a comment */
		if (count > 0 && line == 1 && cdr_price_is_header(r->fields, count))
			continue;
		if (n == SQ_PRICES_MAX) {
			octo_cli_error(out, "%s: more than %d prices", name, SQ_PRICES_MAX);
			goto fail;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			struct sq_price_line *grown = realloc(lines, ncap * sizeof(*grown));

			if (!grown) {
				octo_cli_error(out, "%s: out of memory", name);
				goto fail;
			}
			lines = grown;
			cap = ncap;
		}
		why = count < 0 ? "is too long or has too many fields"
				: cdr_price_parse(r->fields, count, &lines[n].p);
		if (why) {
			if (errors++ < SQ_PRICE_ERRORS_SHOWN)
				octo_cli_error(out, "%s:%u: %s", name, line, why);
			continue;
		}
		lines[n++].line = line;
	}
	if (!errors && !n) {
		octo_cli_error(out, "%s: no prices in the file", name);
		goto fail;
	}
	qsort(lines, n, sizeof(*lines), sq_price_cmp);
	for (size_t i = 1; i < n; i++) {
		if (strcmp(lines[i].p.prefix, lines[i - 1].p.prefix))
			continue;
		if (errors++ < SQ_PRICE_ERRORS_SHOWN)
			octo_cli_error(out, "%s:%u: prefix %s is on line %u already", name,
				       lines[i].line, lines[i].p.prefix, lines[i - 1].line);
	}
	if (errors > SQ_PRICE_ERRORS_SHOWN)
		octo_cli_error(out, "%s: %u more problems", name, errors - SQ_PRICE_ERRORS_SHOWN);
	if (errors) {
		octo_cli_error(out, "%s: not imported, the pricelist in use stays", name);
		goto fail;
	}
	fclose(r->fp);
	free(r);
	*lines_out = lines;
	return (long)n;
fail:
	if (r && r->fp)
		fclose(r->fp);
	if (fd >= 0)
		close(fd);
	free(r);
	free(lines);
	return -1;
}

/* Replaces the trunk's pricelist in one transaction. */
static int sq_price_store(sqlite3 *db, const char *trunk, const struct sq_price_line *lines,
			  size_t n)
{
	sqlite3_stmt *del = NULL, *ins = NULL;
	char now[32];
	int rc = SQLITE_ERROR;

	cdr_time_iso(octo_wall_us(), now, sizeof(now));
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return SQLITE_ERROR;
	if (sqlite3_prepare_v2(db, "DELETE FROM cdr_price WHERE trunk = ?1", -1, &del, NULL) ||
	    sqlite3_prepare_v2(db, "INSERT INTO cdr_price (trunk, prefix, description, price,"
				   " connection_fee, increment, imported) VALUES (?1, ?2, ?3, ?4,"
				   " ?5, ?6, ?7)", -1, &ins, NULL))
		goto out;
	sqlite3_bind_text(del, 1, trunk, -1, SQLITE_STATIC);
	if (sq_step_done(del) != SQLITE_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct cdr_price *p = &lines[i].p;

		if (sqlite3_bind_text(ins, 1, trunk, -1, SQLITE_STATIC) ||
		    sqlite3_bind_text(ins, 2, p->prefix, -1, SQLITE_STATIC) ||
		    sqlite3_bind_text(ins, 3, p->description, -1, SQLITE_STATIC) ||
		    sqlite3_bind_double(ins, 4, p->price) || sqlite3_bind_double(ins, 5, p->fee) ||
		    sqlite3_bind_int(ins, 6, (int)p->increment) ||
		    sqlite3_bind_text(ins, 7, now, -1, SQLITE_STATIC) || sq_step_done(ins))
			goto out;
	}
	rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
out:
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	if (rc != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int sq_cli_price_import(struct octo_cli_out *out, int argc, char **argv)
{
	struct sq_price_line *lines = NULL;
	char *path = NULL, *db_path = NULL, err[256] = "";
	const char *trunk, *name;
	sqlite3 *db = NULL;
	long n;
	int status = OCTO_CLI_FAIL;

	if (argc != 5)
		return OCTO_CLI_USAGE;
	trunk = argv[3];
	name = argv[4];
	if (!sq_valid_trunk(trunk)) {
		octo_cli_error(out, "\"%.40s\" is not a trunk name (letters, digits, _ . -)",
			       trunk);
		return OCTO_CLI_FAIL;
	}
	if (!sq_export_name_ok(name)) {
		octo_cli_error(out, "\"%.80s\": the file must be a plain name ending in .csv "
			       "(letters, digits, . _ -) in the data folder; \"/\" and \"..\" are "
			       "refused", name);
		return OCTO_CLI_FAIL;
	}
	path = cdr_conf_path(name);
	n = sq_price_read(out, name, path, &lines);
	if (n < 0)
		goto out;
	db_path = cdr_spool_path(sq_spool);
	db = sq_db_open(db_path, err, sizeof(err));
	if (!db) {
		octo_cli_error(out, "cannot open %s: %s", db_path, err);
		goto out;
	}
	if (sq_price_store(db, trunk, lines, (size_t)n) != SQLITE_OK) {
		octo_cli_error(out, "cannot store the pricelist in %s: %s", db_path,
			       sqlite3_errmsg(db));
		goto out;
	}
	octo_verbose(1, "pricelist of trunk %s: %ld prices imported from %s", trunk, n, path);
	octo_cli_kv(out, "trunk", "%s", trunk);
	octo_cli_kv(out, "file", "%s", path);
	octo_cli_kv(out, "prices", "%ld", n);
	status = OCTO_CLI_OK;
out:
	sqlite3_close(db);
	free(lines);
	free(path);
	free(db_path);
	return status;
}

static int sq_cli_price_show(struct octo_cli_out *out, int argc, char **argv)
{
	const char *trunk = argc == 4 ? argv[3] : NULL;
	sqlite3_stmt *st = NULL;
	char err[256] = "";
	unsigned rows = 0;
	sqlite3 *db;
	int rc;

	if (argc != 3 && argc != 4)
		return OCTO_CLI_USAGE;
	if (trunk && !sq_valid_trunk(trunk)) {
		octo_cli_error(out, "\"%.40s\" is not a trunk name (letters, digits, _ . -)",
			       trunk);
		return OCTO_CLI_FAIL;
	}
	db = sq_read_open(true, &rc, err, sizeof(err));
	if (!db && rc) {
		octo_cli_error(out, "%s", err);
		return OCTO_CLI_FAIL;
	}
	rc = !db ? SQLITE_OK
	     : trunk ? sqlite3_prepare_v2(db, "SELECT prefix, description, price, connection_fee,"
					  " increment, imported FROM cdr_price WHERE trunk = ?1"
					  " ORDER BY prefix", -1, &st, NULL)
		     : sqlite3_prepare_v2(db, "SELECT trunk, count(*), max(imported) FROM cdr_price"
					  " GROUP BY trunk ORDER BY trunk", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		octo_cli_error(out, "cannot read the pricelists: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return OCTO_CLI_FAIL;
	}
	if (trunk) {
		octo_cli_columns(out, "prefix", "description", "price/min", "connection fee",
				 "increment", NULL);
		sqlite3_bind_text(st, 1, trunk, -1, SQLITE_TRANSIENT);
	} else {
		octo_cli_columns(out, "trunk", "prices", "imported", NULL);
	}
	while (st && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		char a[32], b[32], c[32];

		if (trunk) {
			sq_amount(sqlite3_column_double(st, 2), a, sizeof(a));
			sq_amount(sqlite3_column_double(st, 3), b, sizeof(b));
			snprintf(c, sizeof(c), "%d s", sqlite3_column_int(st, 4));
			octo_cli_row(out, sq_text(st, 0), sq_text(st, 1), a, b, c, NULL);
		} else {
			snprintf(a, sizeof(a), "%d", sqlite3_column_int(st, 1));
			octo_cli_row(out, sq_text(st, 0), a, sq_text(st, 2), NULL);
		}
		rows++;
	}
	if (st && rc != SQLITE_DONE)
		octo_cli_printf(out, "The pricelists could not all be read: %s",
				sqlite3_errmsg(db));
	else if (!rows && !octo_cli_out_json(out))
		octo_cli_printf(out, trunk ? "No pricelist for trunk %s (cdr pricelist import)."
				     : "No pricelist (cdr pricelist import TRUNK FILE.csv).",
				trunk);
	else if (trunk)
		octo_cli_kv(out, "prices", "%u", rows);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return OCTO_CLI_OK;
}

static void sq_status_row(struct octo_cli_out *out, const char *name, const char *module,
			  const struct octo_cdr_backend_status *st)
{
	char posted[24], written[24], queued[24], dropped[24];

	snprintf(posted, sizeof(posted), "%llu", (unsigned long long)st->posted);
	snprintf(written, sizeof(written), "%llu", (unsigned long long)st->written);
	snprintf(queued, sizeof(queued), "%llu", (unsigned long long)st->queued);
	snprintf(dropped, sizeof(dropped), "%llu", (unsigned long long)st->dropped);
	octo_cli_row(out, name, module, st->state, posted, written, queued, dropped, st->target,
		     st->last_error, NULL);
}

#define SQ_STATUS_NAMES 16

static int sq_cli_status(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_reg_item *items;
	char names[SQ_STATUS_NAMES][32], enabled[256] = "", cli[64];
	size_t n, nnames = 0;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	pthread_mutex_lock(&sq_conf_lock);
	octo_strlcpy(cli, sq_conf.general.cli_backend ? sq_conf.general.cli_backend : "",
		     sizeof(cli));
	for (size_t i = 0; i < sq_conf.general.backends.count && nnames < SQ_STATUS_NAMES; i++) {
		octo_strlcpy(names[nnames++], sq_conf.general.backends.items[i], sizeof(names[0]));
		snprintf(enabled + strlen(enabled), sizeof(enabled) - strlen(enabled), "%s%s",
			 i ? ", " : "", sq_conf.general.backends.items[i]);
	}
	pthread_mutex_unlock(&sq_conf_lock);

	octo_cli_kv(out, "backends in cdr.conf", "%s", enabled[0] ? enabled : "(none)");
	octo_cli_kv(out, "console reads", "%s", cli);
	octo_cli_columns(out, "backend", "module", "state", "posted", "written", "queued",
			 "dropped", "target", "last error", NULL);
	n = octo_registry_list(OCTO_REG_CDR, &items);
	for (size_t i = 0; i < n; i++) {
		const struct octo_cdr_backend *be = items[i].item;
		struct octo_cdr_backend_status st = { 0 };

		if (be->status)
			be->status(&st);
		else
			octo_strlcpy(st.state, "(no status)", sizeof(st.state));
		sq_status_row(out, items[i].name, items[i].module, &st);
	}
	/* Enabled in cdr.conf but nobody registered it: its module is not loaded. */
	for (size_t k = 0; k < nnames; k++) {
		struct octo_cdr_backend_status st = { 0 };
		bool found = false;

		for (size_t i = 0; i < n && !found; i++)
			found = !strcmp(items[i].name, names[k]);
		if (found)
			continue;
		octo_strlcpy(st.state, "not loaded", sizeof(st.state));
		snprintf(st.last_error, sizeof(st.last_error), "module res_cdr_%.31s is not loaded",
			 names[k]);
		sq_status_row(out, names[k], "", &st);
	}
	octo_registry_list_free(items, n);
	return OCTO_CLI_OK;
}

static void sq_complete_filter(struct octo_cli_completion *c, int pos, const char *partial)
{
	static const char *const words[] = { "last", "user", "since", NULL };

	for (size_t i = 0; words[i]; i++)
		if (!strncmp(words[i], partial, strlen(partial)))
			octo_cli_complete_add(c, words[i]);
}

static void sq_complete_export(struct octo_cli_completion *c, int pos, const char *partial)
{
	if (pos > 0)
		sq_complete_filter(c, pos, partial);
}

static const struct octo_cli_cmd sq_cli[] = {
	{ "cdr show", "Show call detail records (the newest 20 by default)",
	  "cdr show [last <N>] [user <ext>] [since <YYYY-MM-DD[ HH:MM]>]", sq_cli_show,
	  sq_complete_filter },
	{ "cdr show status", "Show the CDR backends and their queues", NULL, sq_cli_status,
	  NULL },
	{ "cdr export csv", "Write call detail records to a CSV file in the data folder",
	  "cdr export csv <file.csv> [last <N>] [user <ext>] [since <YYYY-MM-DD[ HH:MM]>]",
	  sq_cli_export, sq_complete_export },
	{ "cdr pricelist import", "Replace a trunk's pricelist with a CSV file of the data folder",
	  "cdr pricelist import <trunk> <file.csv>", sq_cli_price_import, NULL },
	{ "cdr pricelist show", "Show a trunk's pricelist, or the trunks that have one",
	  "cdr pricelist show [<trunk>]", sq_cli_price_show, NULL },
	{ "user history", "A user's calls from the CDRs: in, out, missed (newest first)",
	  "user history <ext> [last <N>]", sq_cli_history, NULL },
	{ 0 }
};

/* ---------------------------------------------------------------- module */

/* Makes the running state follow `conf` (already validated), then keeps it. */
static int sq_apply(struct octo_module *self, struct cdr_conf *conf)
{
	bool enable = cdr_conf_enabled(conf, "sqlite");
	char *path = cdr_conf_path(conf->sqlite.file);
	unsigned batch = conf->sqlite.batch, interval = conf->sqlite.flush_interval;
	unsigned max_queue = conf->general.max_queue, debug_days = conf->general.debug_days;
	struct cdr_conf old;
	int rc = 0;

	/* The settings first: the writer reads debug_days as soon as it opens. */
	pthread_mutex_lock(&sq_conf_lock);
	old = sq_conf;
	sq_conf = *conf;
	pthread_mutex_unlock(&sq_conf_lock);
	cdr_conf_free(&old);
	memset(conf, 0, sizeof(*conf));

	cdr_spool_keep_steps(sq_spool, debug_days > 0);
	cdr_spool_configure(sq_spool, path, batch, interval, max_queue);
	free(path);
	if (enable && !sq_registered) {
		rc = cdr_spool_start(sq_spool);
		if (!rc) {
			rc = octo_cdr_backend_register(self, &sq_backend);
			if (rc)
				cdr_spool_stop(sq_spool);
		}
		sq_registered = !rc;
	} else if (!enable && sq_registered) {
		octo_cdr_backend_unregister(&sq_backend);
		cdr_spool_stop(sq_spool);
		sq_registered = false;
		octo_verbose(1, "sqlite CDR backend disabled in cdr.conf");
	}
	return rc;
}

static int sq_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct cdr_conf conf = { 0 };
	int rc;

	rc = cdr_conf_load(octo_paths.config_dir, CDR_CONF_ALL, &conf, &diags);
	cdr_diags_log(&diags);
	octo_diags_free(&diags);
	if (rc)
		return OCTO_LOAD_FAIL;
	sq_spool = cdr_spool_alloc(&sq_spool_ops, &sq_writer);
	if (!sq_spool) {
		cdr_conf_free(&conf);
		return OCTO_LOAD_FAIL;
	}
	if (sq_apply(self, &conf) || octo_cli_register_all(self, sq_cli) ||
	    octo_service_register(self, &sq_debug_service)) {
		/* The core removes the registrations; the thread is ours to stop. */
		cdr_spool_free(sq_spool);
		sq_spool = NULL;
		sq_registered = false;
		cdr_conf_free(&sq_conf);
		return OCTO_LOAD_FAIL;
	}
	return OCTO_LOAD_OK;
}

static int sq_unload(struct octo_module *self)
{
	/* The core already removed the backend: no new post() arrives. */
	cdr_spool_free(sq_spool);
	sq_spool = NULL;
	sq_registered = false;
	cdr_conf_free(&sq_conf);
	return 0;
}

static int sq_reload(struct octo_module *self, struct octo_diags *diags)
{
	struct cdr_conf conf = { 0 };

	if (cdr_conf_load(octo_paths.config_dir, CDR_CONF_ALL, &conf, diags))
		return OCTO_ECONFIG;
	return sq_apply(self, &conf) ? OCTO_EFAIL : 0;
}

static int sq_check(const char *config_dir, struct octo_diags *diags)
{
	struct cdr_conf conf = { 0 };
	int rc = cdr_conf_load(config_dir, CDR_CONF_ALL, &conf, diags);

	cdr_conf_free(&conf);
	return rc;
}

OCTO_MODULE(res_cdr_sqlite, .description = "CDR backend: SQLite (cdr.db), and the cdr commands",
	    .load = sq_load, .unload = sq_unload, .reload = sq_reload, .check = sq_check);
