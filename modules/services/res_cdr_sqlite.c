/*
 * res_cdr_sqlite.c - the default CDR backend: one row per call leg in an
 * SQLite database of its own (cdr.db in the data folder), and the console
 * commands that read CDRs back: cdr show, cdr export csv, cdr show status.
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
 *  - Not resident: unload stops the writer after it has written what
 *    waits, and joins it.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "octo/module.h"
#include "octo/registry.h"

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
};
#define SQ_SCHEMA_VERSION ((int)OCTO_ARRAY_LEN(sq_migrations))

static const char sq_insert_sql[] =
	"INSERT INTO cdr (uniqueid, linkedid, start_time, answer_time, end_time, start_us,"
	" answer_us, end_us, duration, billsec, caller, caller_name, dialed, called, channel,"
	" dst_channel, trunk, procedure, disposition, cause, hangup_side, userfield, cost)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
	" ?18, ?19, ?20, ?21, ?22, ?23)";

/* The columns a query reads, in the order sq_row_to_cdr() expects. */
#define SQ_QUERY_COLUMNS                                                                       \
	"id, uniqueid, linkedid, start_us, answer_us, end_us, duration, billsec, caller,"       \
	" caller_name, dialed, called, channel, dst_channel, trunk, procedure, disposition,"    \
	" cause, hangup_side, userfield, cost"

/* Limits of the console commands. */
#define SQ_SHOW_DEFAULT 20u
#define SQ_SHOW_MAX 10000u
#define SQ_EXPORT_MAX 100000000u

/* ---------------------------------------------------------------- state */

struct sq_writer {
	sqlite3 *db;
	sqlite3_stmt *insert;
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

static int sq_open(void *ctx, const char *path, char *err, size_t errsize)
{
	struct sq_writer *w = ctx;
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
	if (sqlite3_prepare_v3(db, sq_insert_sql, -1, SQLITE_PREPARE_PERSISTENT, &w->insert,
			       NULL) != SQLITE_OK) {
		sq_err(err, errsize, "cannot prepare the insert", db);
		goto fail;
	}
	w->db = db;
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return OCTO_EFAIL;
}

static void sq_close(void *ctx)
{
	struct sq_writer *w = ctx;

	sqlite3_finalize(w->insert);
	sqlite3_close(w->db);
	w->insert = NULL;
	w->db = NULL;
}

static int sq_bind(sqlite3_stmt *st, const struct octo_cdr *c)
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
	rc |= sqlite3_bind_double(st, 23, c->cost);
	return rc;
}

static int sq_write(void *ctx, const struct octo_cdr *const *recs, size_t n, char *err,
		    size_t errsize)
{
	struct sq_writer *w = ctx;

	if (sqlite3_exec(w->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(err, errsize, "cannot begin", w->db);
		return OCTO_EFAIL;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = sq_bind(w->insert, recs[i]);

		if (rc == SQLITE_OK)
			rc = sqlite3_step(w->insert) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
		if (rc != SQLITE_OK) {
			sq_err(err, errsize, "insert", w->db);
			sqlite3_reset(w->insert);
			sqlite3_clear_bindings(w->insert);
			sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
			return OCTO_EFAIL;
		}
		sqlite3_reset(w->insert);
		sqlite3_clear_bindings(w->insert);
	}
	if (sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sq_err(err, errsize, "commit", w->db);
		sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
		return OCTO_EFAIL;
	}
	return 0;
}

static const struct cdr_spool_ops sq_spool_ops = {
	.thread_name = "cdr sqlite",
	.open = sq_open,
	.write = sq_write,
	.close = sq_close,
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

static void sq_row_to_cdr(sqlite3_stmt *st, struct octo_cdr *c)
{
	int disp = cdr_disposition_parse(sq_text(st, 16));
	sqlite3_int64 v;

	memset(c, 0, sizeof(*c));
	octo_strlcpy(c->uniqueid, sq_text(st, 1), sizeof(c->uniqueid));
	octo_strlcpy(c->linkedid, sq_text(st, 2), sizeof(c->linkedid));
	v = sqlite3_column_int64(st, 3);
	c->start_us = v > 0 ? (uint64_t)v : 0;
	v = sqlite3_column_int64(st, 4);
	c->answer_us = v > 0 ? (uint64_t)v : 0;
	v = sqlite3_column_int64(st, 5);
	c->end_us = v > 0 ? (uint64_t)v : 0;
	v = sqlite3_column_int64(st, 6);
	c->duration = v > 0 && v <= UINT32_MAX ? (unsigned)v : 0;
	v = sqlite3_column_int64(st, 7);
	c->billsec = v > 0 && v <= UINT32_MAX ? (unsigned)v : 0;
	octo_strlcpy(c->caller, sq_text(st, 8), sizeof(c->caller));
	octo_strlcpy(c->caller_name, sq_text(st, 9), sizeof(c->caller_name));
	octo_strlcpy(c->dialed, sq_text(st, 10), sizeof(c->dialed));
	octo_strlcpy(c->called, sq_text(st, 11), sizeof(c->called));
	octo_strlcpy(c->channel, sq_text(st, 12), sizeof(c->channel));
	octo_strlcpy(c->dst_channel, sq_text(st, 13), sizeof(c->dst_channel));
	octo_strlcpy(c->trunk, sq_text(st, 14), sizeof(c->trunk));
	octo_strlcpy(c->procedure, sq_text(st, 15), sizeof(c->procedure));
	c->disposition = disp < 0 ? OCTO_CDR_FAILED : (enum octo_cdr_disposition)disp;
	c->cause = sqlite3_column_int(st, 17);
	octo_strlcpy(c->hangup_side, sq_text(st, 18), sizeof(c->hangup_side));
	octo_strlcpy(c->userfield, sq_text(st, 19), sizeof(c->userfield));
	c->cost = sqlite3_column_double(st, 20);
	cdr_sanitize(c);
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
	{ 0 }
};

/* ---------------------------------------------------------------- module */

/* Makes the running state follow `conf` (already validated), then keeps it. */
static int sq_apply(struct octo_module *self, struct cdr_conf *conf)
{
	bool enable = cdr_conf_enabled(conf, "sqlite");
	char *path = cdr_conf_path(conf->sqlite.file);
	struct cdr_conf old;
	int rc = 0;

	cdr_spool_configure(sq_spool, path, conf->sqlite.batch, conf->sqlite.flush_interval,
			    conf->general.max_queue);
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
	pthread_mutex_lock(&sq_conf_lock);
	old = sq_conf;
	sq_conf = *conf;
	pthread_mutex_unlock(&sq_conf_lock);
	cdr_conf_free(&old);
	memset(conf, 0, sizeof(*conf));
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
	if (sq_apply(self, &conf) || octo_cli_register_all(self, sq_cli)) {
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
