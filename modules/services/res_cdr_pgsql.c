/*
 * res_cdr_pgsql.c - a CDR backend that sends one row per call leg to a
 * PostgreSQL table through libpq, for sites that keep their records in a
 * database server. While the server cannot be reached the records wait in a
 * spool file on disk and are sent, in order, when it is back.
 *
 * DESIGN
 *  - post() runs on the thread that hung the channel up: it only copies the
 *    record into the memory spool (cdr_common.h) and returns. The spool's
 *    writer thread owns the connection; every batch (up to [pgsql] batch
 *    rows, or every flush_interval ms) is one transaction of multi-row
 *    INSERTs.
 *  - Connecting happens on the writer thread only (and for the console's
 *    reads, on the CLI worker): loading the module with the server down
 *    never holds up the start. The first attempt is made as soon as the
 *    writer starts, then every reconnect_interval while it fails; while
 *    connected and idle, a "SELECT 1" every reconnect_interval keeps the
 *    state shown by "cdr show status" true.
 *  - The disk spool (cdr_pgsql_spool.h): when a batch cannot be sent, or
 *    while records already wait on disk, the batch is appended to the spool
 *    file (fsync'd) instead; the memory queue never waits for the server.
 *    Once connected, the writer sends the spool from its head, batch by
 *    batch, then truncates it; records posted meanwhile go to its tail, so
 *    the table receives every record in the order the legs ended. The spool
 *    file is read at start, so what waited when octo stopped (or was
 *    killed) is sent too. A kill -9 loses only what waited in memory (at
 *    most flush_interval ms of records).
 *  - Nothing counted twice: the table has a unique key (uniqueid,
 *    start_us) and rows are inserted with ON CONFLICT DO NOTHING, so a batch
 *    whose commit was lost with the connection, or a spool resent after a
 *    crash, adds only the rows the table does not have yet.
 *  - Schema: the table <table>_schema lists the versions applied; at each
 *    connect the missing migrations run in one transaction, under a lock
 *    (several PBXes may share a database). A table made by a newer module
 *    is refused, never written: the records wait in the spool.
 *  - Texts are sent as valid UTF-8 (an invalid byte becomes '?'), times as
 *    timestamptz and as microseconds since 1970 (like cdr.db).
 *  - The console's cdr show and cdr export (res_cdr_sqlite's commands) read
 *    this backend through query() when cli_backend = pgsql, with a
 *    connection of their own.
 *  - The module loads whether or not "pgsql" is in [general] backends;
 *    without it, it stays idle (no thread, no connection), so that a reload
 *    of cdr.conf can turn it on and off. Resident: libpq (and the TLS
 *    library under it) keep global state.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "octo/cdr.h"
#include "octo/config.h"
#include "octo/log.h"
#include "octo/module.h"

#include "cdr_common.h"
#include "cdr_pgsql_spool.h"

/* ---------------------------------------------------------------- schema */

/* pg_migrations[i] takes the table from version i to i + 1; "@T@" stands
 * for the table name (checked by cdr.conf: [a-z_][a-z0-9_]*). */
static const char *const pg_migrations[] = {
	"CREATE TABLE @T@ ("
	" id bigserial PRIMARY KEY,"
	" uniqueid text NOT NULL,"
	" linkedid text NOT NULL,"
	" start_time timestamptz,"
	" answer_time timestamptz,"
	" end_time timestamptz,"
	" start_us bigint NOT NULL,"
	" answer_us bigint NOT NULL,"
	" end_us bigint NOT NULL,"
	" duration bigint NOT NULL,"
	" billsec bigint NOT NULL,"
	" caller text NOT NULL,"
	" caller_name text NOT NULL,"
	" dialed text NOT NULL,"
	" called text NOT NULL,"
	" channel text NOT NULL,"
	" dst_channel text NOT NULL,"
	" trunk text NOT NULL,"
	" procedure text NOT NULL,"
	" disposition text NOT NULL,"
	" cause integer NOT NULL,"
	" hangup_side text NOT NULL,"
	" userfield text NOT NULL,"
	" cost double precision NOT NULL,"
	" user_ext text NOT NULL,"
	" direction text NOT NULL,"
	" answered_elsewhere boolean NOT NULL,"
	" CONSTRAINT @T@_leg UNIQUE (uniqueid, start_us));"
	"CREATE INDEX @T@_start ON @T@ (start_us);"
	"CREATE INDEX @T@_caller ON @T@ (caller);"
	"CREATE INDEX @T@_called ON @T@ (called);"
	"CREATE INDEX @T@_linkedid ON @T@ (linkedid);"
	"CREATE INDEX @T@_user_ext ON @T@ (user_ext);",
};
#define PG_SCHEMA_VERSION ((int)OCTO_ARRAY_LEN(pg_migrations))

#define PG_COLS 26
static const char pg_insert_cols[] =
	"uniqueid, linkedid, start_time, answer_time, end_time, start_us, answer_us, end_us,"
	" duration, billsec, caller, caller_name, dialed, called, channel, dst_channel, trunk,"
	" procedure, disposition, cause, hangup_side, userfield, cost, user_ext, direction,"
	" answered_elsewhere";
/* The parameter types (the OIDs of PostgreSQL's built-in types). */
#define PG_TEXT 25u
#define PG_INT8 20u
#define PG_INT4 23u
#define PG_FLOAT8 701u
#define PG_BOOL 16u
#define PG_TSTZ 1184u
static const Oid pg_col_types[PG_COLS] = {
	PG_TEXT, PG_TEXT, PG_TSTZ, PG_TSTZ, PG_TSTZ, PG_INT8, PG_INT8, PG_INT8, PG_INT8,
	PG_INT8, PG_TEXT, PG_TEXT, PG_TEXT, PG_TEXT, PG_TEXT, PG_TEXT, PG_TEXT, PG_TEXT,
	PG_TEXT, PG_INT4, PG_TEXT, PG_TEXT, PG_FLOAT8, PG_TEXT, PG_TEXT, PG_BOOL,
};

/* What query() reads, in the order pg_row_to_cdr() expects. */
static const char pg_select_cols[] =
	"uniqueid, linkedid, start_us, answer_us, end_us, duration, billsec, caller, caller_name,"
	" dialed, called, channel, dst_channel, trunk, procedure, disposition, cause,"
	" hangup_side, userfield, cost, user_ext, direction, answered_elsewhere";

#define PG_CHUNK 500u            /* rows per INSERT statement */
#define PG_TICK_MS 250u
#define PG_DRAIN_BATCHES 20u     /* spool batches per tick or write */
#define PG_MAX_TIME_US 253402300799999999ull  /* 9999-12-31T23:59:59.999999Z */

/* ---------------------------------------------------------------- state */

struct pg_writer {
	PGconn *conn;
	struct cdr_disk_spool *disk;
	unsigned gen;               /* of the settings the connection was made with */
	uint64_t next_attempt_ms;   /* monotonic: the next connect attempt */
	uint64_t last_io_ms;        /* monotonic: the last exchange with the server */
	struct octo_cdr *peek;      /* records read back from the disk spool */
	size_t peek_cap;
	bool spooling_logged;
	char logged[160];           /* the last failure logged: each one once */
};

static pthread_mutex_t pg_lock = PTHREAD_MUTEX_INITIALIZER;
/* Under pg_lock: the settings, and what "cdr show status" reports. */
static struct cdr_conf pg_conf;
static char *pg_signature;          /* the connection settings, to see a change */
static unsigned pg_gen;             /* bumped when they change */
static char pg_where[160];          /* "postgresql://user@host:port/db" */
static bool pg_connected;
static bool pg_stopping;            /* the writer is being stopped: no new connects */
static char pg_error[160];          /* why it is not connected */
static size_t pg_disk_pending;
static uint64_t pg_sent;            /* rows committed to the table */

static struct cdr_spool *pg_spool;
static struct pg_writer pg_writer;  /* the spool's thread only */
static bool pg_registered;

static int pg_post(const struct octo_cdr *cdr);
static void pg_status(struct octo_cdr_backend_status *st);
static int pg_query(const struct octo_cdr_filter *filter,
		    int (*row)(const struct octo_cdr *cdr, void *arg), void *arg, char *err,
		    size_t errsize);

static const struct octo_cdr_backend pg_backend = {
	.name = "pgsql",
	.description = "PostgreSQL table, with a spool file while the server is away",
	.post = pg_post,
	.status = pg_status,
	.query = pg_query,
};

static uint64_t pg_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---------------------------------------------------------------- connection */

/* libpq's message on one line, without its trailing line break. */
static void pg_msg(const char *msg, char *out, size_t size)
{
	size_t n = 0;

	for (; msg && *msg && n + 1 < size; msg++) {
		char c = *msg;

		if (c == '\n' || c == '\r' || c == '\t') {
			if (!msg[1])
				break;
			if (n && out[n - 1] == ' ')
				continue;
			c = ' ';
		}
		out[n++] = c;
	}
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	if (!n)
		octo_strlcpy(out, "unknown error", size);
}

/* The connection parameters of `c`, for PQconnectdbParams(): conninfo is
 * expanded where the dbname entry stands, so the pieces after it win. The
 * strings stay owned by `c`. Returns the number of entries. */
#define PG_PARAMS 16
struct pg_numbers {
	char port[12], timeout[16];
};

static size_t pg_params(const struct cdr_pgsql_cfg *c, struct pg_numbers *num, const char **kw,
			const char **val)
{
	size_t n = 0;

#define PG_ADD(k, v)                                                                           \
	do {                                                                                   \
		if ((v) && *(v)) {                                                             \
			kw[n] = (k);                                                           \
			val[n++] = (v);                                                        \
		}                                                                              \
	} while (0)
	/* Defaults a conninfo may change: no Kerberos probing (slow, and of no
	 * use to most PBXes), a bound on a dead peer. */
	PG_ADD("gssencmode", "disable");
	PG_ADD("tcp_user_timeout", "15000");
	PG_ADD("dbname", c->conninfo);
	PG_ADD("host", c->host);
	if (c->port) {
		snprintf(num->port, sizeof(num->port), "%u", c->port);
		PG_ADD("port", num->port);
	}
	PG_ADD("dbname", c->dbname);
	PG_ADD("user", c->user);
	PG_ADD("password", c->password);
	snprintf(num->timeout, sizeof(num->timeout), "%u", c->connect_timeout);
	PG_ADD("connect_timeout", num->timeout);
	PG_ADD("application_name", "octo");
	PG_ADD("client_encoding", "UTF8");
#undef PG_ADD
	kw[n] = NULL;
	val[n] = NULL;
	return n;
}

/* "postgresql://user@host:port/dbname" from the settings (no password). */
static void pg_describe(const struct cdr_pgsql_cfg *c, char *out, size_t size)
{
	const char *host = c->host, *dbname = c->dbname, *user = c->user;
	char port[16] = "";
	PQconninfoOption *opts = NULL;

	if (c->port)
		snprintf(port, sizeof(port), "%u", c->port);
	if (c->conninfo && *c->conninfo)
		opts = PQconninfoParse(c->conninfo, NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!o->val || !*o->val)
			continue;
		if (!strcmp(o->keyword, "host") && !*host)
			host = o->val;
		else if (!strcmp(o->keyword, "port") && !port[0])
			octo_strlcpy(port, o->val, sizeof(port));
		else if (!strcmp(o->keyword, "dbname") && !*dbname)
			dbname = o->val;
		else if (!strcmp(o->keyword, "user") && !*user)
			user = o->val;
	}
	snprintf(out, size, "postgresql://%s%s%.64s%s%s/%.64s", user, *user ? "@" : "",
		 *host ? host : "(local socket)", port[0] ? ":" : "", port, dbname);
	PQconninfoFree(opts);
}

/* The settings that make a connection, as one string. */
static char *pg_sign(const struct cdr_pgsql_cfg *c)
{
	char *s;

	if (asprintf(&s, "%s\x1f%s\x1f%u\x1f%s\x1f%s\x1f%s\x1f%s\x1f%u", c->conninfo, c->host,
		     c->port, c->dbname, c->user, c->password, c->table, c->connect_timeout) < 0)
		abort();
	return s;
}

/* Server notices ("relation already exists, skipping") are not for the log. */
static void pg_notice(void *arg, const char *message)
{
	octo_debug(3, "postgresql: %s", message);
}

/* Opens a connection with the current settings; NULL with `err` filled. */
static PGconn *pg_open(unsigned *gen, char *table, size_t tsize, char *err, size_t errsize)
{
	const char *kw[PG_PARAMS], *val[PG_PARAMS];
	struct pg_numbers num;
	struct cdr_pgsql_cfg c;
	PGconn *conn;

	/* A copy of the strings: the settings may be swapped by a reload. */
	pthread_mutex_lock(&pg_lock);
	c = pg_conf.pgsql;
	c.conninfo = octo_strdup(c.conninfo ? c.conninfo : "");
	c.host = octo_strdup(c.host ? c.host : "");
	c.dbname = octo_strdup(c.dbname ? c.dbname : "");
	c.user = octo_strdup(c.user ? c.user : "");
	c.password = octo_strdup(c.password ? c.password : "");
	octo_strlcpy(table, c.table ? c.table : "cdr", tsize);
	if (gen)
		*gen = pg_gen;
	pthread_mutex_unlock(&pg_lock);

	pg_params(&c, &num, kw, val);
	conn = PQconnectdbParams(kw, val, 1);
	if (!conn) {
		octo_strlcpy(err, "out of memory", errsize);
	} else if (PQstatus(conn) != CONNECTION_OK) {
		pg_msg(PQerrorMessage(conn), err, errsize);
		PQfinish(conn);
		conn = NULL;
	} else {
		PQsetNoticeProcessor(conn, pg_notice, NULL);
	}
	free(c.conninfo);
	free(c.host);
	free(c.dbname);
	free(c.user);
	free(c.password);
	return conn;
}

/* Runs `sql` (no result rows wanted); 0, or OCTO_EFAIL with `err`. */
static int pg_exec(PGconn *conn, const char *sql, const char *what, char *err, size_t errsize)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	char msg[160];

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(res);
		return 0;
	}
	pg_msg(res ? PQresultErrorMessage(res) : PQerrorMessage(conn), msg, sizeof(msg));
	if (!res || !*PQresultErrorMessage(res))
		pg_msg(PQerrorMessage(conn), msg, sizeof(msg));
	snprintf(err, errsize, "%s: %s", what, msg);
	PQclear(res);
	return OCTO_EFAIL;
}

/* `text` with every "@T@" replaced by `table`; a new string. */
static char *pg_subst(const char *text, const char *table)
{
	size_t tlen = strlen(table), n = 0;
	char *out, *o;

	for (const char *p = strstr(text, "@T@"); p; p = strstr(p + 3, "@T@"))
		n++;
	out = malloc(strlen(text) + n * tlen + 1);
	if (!out)
		abort();
	o = out;
	while (*text) {
		if (!strncmp(text, "@T@", 3)) {
			memcpy(o, table, tlen);
			o += tlen;
			text += 3;
		} else {
			*o++ = *text++;
		}
	}
	*o = '\0';
	return out;
}

/* Brings the table to PG_SCHEMA_VERSION in one transaction. */
static int pg_migrate(PGconn *conn, const char *table, char *err, size_t errsize)
{
	char sql[256], *mig;
	PGresult *res;
	int version;

	if (pg_exec(conn, "BEGIN", "cannot begin", err, errsize))
		return OCTO_EFAIL;
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS %s_schema (version integer NOT NULL,"
		 " applied timestamptz NOT NULL DEFAULT now())", table);
	if (pg_exec(conn, sql, "cannot create the schema table", err, errsize))
		goto fail;
	snprintf(sql, sizeof(sql), "LOCK TABLE %s_schema IN SHARE ROW EXCLUSIVE MODE", table);
	if (pg_exec(conn, sql, "cannot lock the schema table", err, errsize))
		goto fail;
	snprintf(sql, sizeof(sql), "SELECT coalesce(max(version), 0) FROM %s_schema", table);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		char msg[160];

		pg_msg(PQresultErrorMessage(res), msg, sizeof(msg));
		snprintf(err, errsize, "cannot read the schema version: %s", msg);
		PQclear(res);
		goto fail;
	}
	version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (version > PG_SCHEMA_VERSION) {
		snprintf(err, errsize, "table %s_schema has schema version %d, newer than this "
			 "module's %d: not written", table, version, PG_SCHEMA_VERSION);
		goto fail;
	}
	for (int v = version; v < PG_SCHEMA_VERSION; v++) {
		mig = pg_subst(pg_migrations[v], table);
		if (pg_exec(conn, mig, "cannot create the table", err, errsize)) {
			free(mig);
			goto fail;
		}
		free(mig);
		snprintf(sql, sizeof(sql), "INSERT INTO %s_schema (version) VALUES (%d)", table,
			 v + 1);
		if (pg_exec(conn, sql, "cannot record the schema version", err, errsize))
			goto fail;
	}
	if (pg_exec(conn, "COMMIT", "cannot commit the schema", err, errsize))
		goto fail;
	if (version < PG_SCHEMA_VERSION)
		octo_verbose(1, "CDR table %s: schema version %d (was %d)", table,
			     PG_SCHEMA_VERSION, version);
	return 0;
fail:
	if (PQstatus(conn) == CONNECTION_OK) {
		res = PQexec(conn, "ROLLBACK");
		PQclear(res);
	}
	return OCTO_EFAIL;
}

/* Sets what the status shows (writer thread). */
static void pg_set_state(bool connected, const char *error)
{
	pthread_mutex_lock(&pg_lock);
	pg_connected = connected;
	if (error)
		octo_strlcpy(pg_error, error, sizeof(pg_error));
	pthread_mutex_unlock(&pg_lock);
}

static unsigned pg_reconnect_ms(void)
{
	unsigned ms;

	pthread_mutex_lock(&pg_lock);
	ms = pg_conf.pgsql.reconnect_interval ? pg_conf.pgsql.reconnect_interval : 5000u;
	pthread_mutex_unlock(&pg_lock);
	return ms;
}

static void pg_disconnect(struct pg_writer *w, const char *why)
{
	if (w->conn) {
		PQfinish(w->conn);
		w->conn = NULL;
		/* A refusal that lasts (permissions, a changed table) is tried
		 * again every reconnect_interval: logged once, not each time. */
		if (why && strcmp(why, w->logged)) {
			octo_log(OCTO_ERROR, "CDRs to PostgreSQL: %s (records go to the spool file "
				 "until it is back)", why);
			octo_strlcpy(w->logged, why, sizeof(w->logged));
		}
	}
	w->next_attempt_ms = pg_mono_ms() + pg_reconnect_ms();
	pg_set_state(false, why);
}

/* Connected with the current settings? Tries to connect when it is time
 * (never while stopping). */
static bool pg_ready(struct pg_writer *w)
{
	char err[256], table[64];
	bool stopping;
	unsigned gen;
	PGconn *conn;

	pthread_mutex_lock(&pg_lock);
	gen = pg_gen;
	stopping = pg_stopping;
	pthread_mutex_unlock(&pg_lock);
	if (w->conn && w->gen != gen) {
		/* cdr.conf names another server, table or user. */
		PQfinish(w->conn);
		w->conn = NULL;
		w->next_attempt_ms = 0;
		pg_set_state(false, "");
	}
	if (w->conn)
		return true;
	if (stopping || pg_mono_ms() < w->next_attempt_ms)
		return false;
	conn = pg_open(&w->gen, table, sizeof(table), err, sizeof(err));
	if (conn && pg_migrate(conn, table, err, sizeof(err))) {
		PQfinish(conn);
		conn = NULL;
	}
	if (!conn) {
		char old[sizeof(pg_error)];
		bool was;

		pthread_mutex_lock(&pg_lock);
		octo_strlcpy(old, pg_error, sizeof(old));
		was = pg_connected;
		pthread_mutex_unlock(&pg_lock);
		/* Each new reason once, not every attempt. */
		if ((was || strcmp(old, err)) && strcmp(w->logged, err)) {
			octo_strlcpy(w->logged, err, sizeof(w->logged));
			octo_log(OCTO_ERROR, "CDRs to PostgreSQL: cannot connect: %s (trying again "
				 "every %u ms)", err, pg_reconnect_ms());
		}
		w->next_attempt_ms = pg_mono_ms() + pg_reconnect_ms();
		pg_set_state(false, err);
		return false;
	}
	w->conn = conn;
	w->last_io_ms = pg_mono_ms();
	w->spooling_logged = false;
	pg_set_state(true, "");
	pthread_mutex_lock(&pg_lock);
	octo_strlcpy(err, pg_where, sizeof(err));
	pthread_mutex_unlock(&pg_lock);
	octo_log(OCTO_NOTICE, "CDRs to PostgreSQL: connected to %s, table %s (%zu in the spool)",
		 err, table, w->disk ? cdr_disk_pending(w->disk) : (size_t)0);
	return true;
}

/* ---------------------------------------------------------------- rows */

/* Makes `s` (size bytes, NUL-terminated) valid UTF-8: each byte that does
 * not start or continue a well-formed sequence becomes '?'. */
static void pg_utf8_fix(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p) {
		unsigned c = *p;
		size_t need;
		unsigned min;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			min = 0x10000;
		} else {
			*p++ = '?';
			continue;
		}
		{
			unsigned cp = c & (0x3fu >> need);
			size_t i;

			for (i = 1; i <= need; i++) {
				if ((p[i] & 0xc0) != 0x80)
					break;
				cp = (cp << 6) | (p[i] & 0x3fu);
			}
			if (i <= need || cp < min || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff)) {
				*p++ = '?';
				continue;
			}
			p += need + 1;
		}
	}
}

/* One record's parameters as text. */
struct pg_row {
	struct octo_cdr c;
	char start[32], answer[32], end[32];
	char start_us[24], answer_us[24], end_us[24];
	char duration[16], billsec[16], cause[16], cost[40];
};

static const char *pg_time(uint64_t us, char *buf, size_t size)
{
	if (!us || us > PG_MAX_TIME_US)
		return NULL;
	cdr_time_iso(us, buf, size);
	return buf[0] ? buf : NULL;
}

static void pg_us(uint64_t us, char *buf, size_t size)
{
	snprintf(buf, size, "%llu", (unsigned long long)(us > INT64_MAX ? INT64_MAX : us));
}

/* Fills the PG_COLS values of one record. */
static void pg_row_values(struct pg_row *r, const struct octo_cdr *src, const char **v)
{
	struct octo_cdr *c = &r->c;

	*c = *src;
	c->steps = NULL;
	cdr_sanitize(c);
	pg_utf8_fix(c->uniqueid);
	pg_utf8_fix(c->linkedid);
	pg_utf8_fix(c->channel);
	pg_utf8_fix(c->dst_channel);
	pg_utf8_fix(c->caller);
	pg_utf8_fix(c->caller_name);
	pg_utf8_fix(c->dialed);
	pg_utf8_fix(c->called);
	pg_utf8_fix(c->procedure);
	pg_utf8_fix(c->trunk);
	pg_utf8_fix(c->userfield);
	pg_utf8_fix(c->hangup_side);
	pg_utf8_fix(c->user);
	pg_utf8_fix(c->direction);
	pg_us(c->start_us, r->start_us, sizeof(r->start_us));
	pg_us(c->answer_us, r->answer_us, sizeof(r->answer_us));
	pg_us(c->end_us, r->end_us, sizeof(r->end_us));
	snprintf(r->duration, sizeof(r->duration), "%u", c->duration);
	snprintf(r->billsec, sizeof(r->billsec), "%u", c->billsec);
	snprintf(r->cause, sizeof(r->cause), "%d", c->cause);
	snprintf(r->cost, sizeof(r->cost), "%.17g", c->cost);
	v[0] = c->uniqueid;
	v[1] = c->linkedid;
	v[2] = pg_time(c->start_us, r->start, sizeof(r->start));
	v[3] = pg_time(c->answer_us, r->answer, sizeof(r->answer));
	v[4] = pg_time(c->end_us, r->end, sizeof(r->end));
	v[5] = r->start_us;
	v[6] = r->answer_us;
	v[7] = r->end_us;
	v[8] = r->duration;
	v[9] = r->billsec;
	v[10] = c->caller;
	v[11] = c->caller_name;
	v[12] = c->dialed;
	v[13] = c->called;
	v[14] = c->channel;
	v[15] = c->dst_channel;
	v[16] = c->trunk;
	v[17] = c->procedure;
	v[18] = octo_cdr_disposition_name(c->disposition);
	v[19] = r->cause;
	v[20] = c->hangup_side;
	v[21] = c->userfield;
	v[22] = r->cost;
	v[23] = c->user;
	v[24] = c->direction;
	v[25] = c->answered_elsewhere ? "t" : "f";
}

/* One INSERT of `n` <= PG_CHUNK records. */
static int pg_insert_chunk(PGconn *conn, const char *table, const struct octo_cdr *const *recs,
			   size_t n, char *err, size_t errsize)
{
	struct pg_row *rows = malloc(n * sizeof(*rows));
	const char **vals = malloc(n * PG_COLS * sizeof(*vals));
	Oid *types = malloc(n * PG_COLS * sizeof(*types));
	char *sql = NULL;
	size_t sqllen = 0;
	FILE *fp;
	int rc = OCTO_EFAIL;

	fp = rows && vals && types ? open_memstream(&sql, &sqllen) : NULL;
	if (!fp) {
		octo_strlcpy(err, "out of memory", errsize);
		goto out;
	}
	fprintf(fp, "INSERT INTO %s (%s) VALUES ", table, pg_insert_cols);
	for (size_t i = 0; i < n; i++) {
		pg_row_values(&rows[i], recs[i], &vals[i * PG_COLS]);
		memcpy(&types[i * PG_COLS], pg_col_types, sizeof(pg_col_types));
		fputs(i ? ",(" : "(", fp);
		for (size_t k = 0; k < PG_COLS; k++)
			fprintf(fp, "%s$%zu", k ? "," : "", i * PG_COLS + k + 1);
		fputc(')', fp);
	}
	fputs(" ON CONFLICT (uniqueid, start_us) DO NOTHING", fp);
	if (fclose(fp) || !sql) {
		octo_strlcpy(err, "out of memory", errsize);
		goto out;
	}
	{
		PGresult *res = PQexecParams(conn, sql, (int)(n * PG_COLS), types, vals, NULL,
					     NULL, 0);

		if (PQresultStatus(res) == PGRES_COMMAND_OK) {
			rc = 0;
		} else {
			char msg[160];

			pg_msg(res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res)
								 : PQerrorMessage(conn),
			       msg, sizeof(msg));
			snprintf(err, errsize, "cannot insert into %s: %s", table, msg);
		}
		PQclear(res);
	}
out:
	free(sql);
	free(rows);
	free(vals);
	free(types);
	return rc;
}

/* Sends `n` records as one transaction; 0, or OCTO_EFAIL with `err`. */
static int pg_insert(PGconn *conn, const char *table, const struct octo_cdr *const *recs,
		     size_t n, char *err, size_t errsize)
{
	bool txn = n > PG_CHUNK;

	if (txn && pg_exec(conn, "BEGIN", "cannot begin", err, errsize))
		return OCTO_EFAIL;
	for (size_t i = 0; i < n; i += PG_CHUNK) {
		size_t k = n - i < PG_CHUNK ? n - i : PG_CHUNK;

		if (pg_insert_chunk(conn, table, recs + i, k, err, errsize)) {
			if (txn && PQstatus(conn) == CONNECTION_OK)
				PQclear(PQexec(conn, "ROLLBACK"));
			return OCTO_EFAIL;
		}
	}
	if (txn && pg_exec(conn, "COMMIT", "cannot commit", err, errsize))
		return OCTO_EFAIL;
	return 0;
}

/* ---------------------------------------------------------------- writer */

static void pg_table(char *table, size_t size, unsigned *batch)
{
	pthread_mutex_lock(&pg_lock);
	octo_strlcpy(table, pg_conf.pgsql.table ? pg_conf.pgsql.table : "cdr", size);
	*batch = pg_conf.pgsql.batch ? pg_conf.pgsql.batch : 100u;
	pthread_mutex_unlock(&pg_lock);
}

static void pg_count_sent(struct pg_writer *w, size_t n)
{
	w->logged[0] = '\0';   /* it works: the next failure is news */
	pthread_mutex_lock(&pg_lock);
	pg_sent += n;
	pg_disk_pending = w->disk ? cdr_disk_pending(w->disk) : 0;
	pthread_mutex_unlock(&pg_lock);
}

/* Sends up to `budget` batches from the head of the disk spool. */
static void pg_drain(struct pg_writer *w, unsigned budget)
{
	char err[200], table[64];
	const struct octo_cdr **ptrs;
	unsigned batch;
	size_t before;

	if (!w->disk || !cdr_disk_pending(w->disk))
		return;
	pg_table(table, sizeof(table), &batch);
	if (w->peek_cap < batch) {
		struct octo_cdr *p = realloc(w->peek, batch * sizeof(*p));

		if (!p)
			return;
		w->peek = p;
		w->peek_cap = batch;
	}
	ptrs = malloc(batch * sizeof(*ptrs));
	if (!ptrs)
		return;
	before = cdr_disk_pending(w->disk);
	while (budget-- && cdr_disk_pending(w->disk) && pg_ready(w)) {
		int n = cdr_disk_peek(w->disk, w->peek, batch, err, sizeof(err));

		if (n < 0) {
			octo_log(OCTO_ERROR, "CDR spool: %s", err);
			break;
		}
		for (int i = 0; i < n; i++)
			ptrs[i] = &w->peek[i];
		if (n && pg_insert(w->conn, table, ptrs, (size_t)n, err, sizeof(err))) {
			pg_disconnect(w, err);
			break;
		}
		w->last_io_ms = pg_mono_ms();
		if (cdr_disk_consume(w->disk, err, sizeof(err)))
			octo_log(OCTO_ERROR, "CDR spool: %s", err);
		pg_count_sent(w, (size_t)n);
	}
	free(ptrs);
	if (before && !cdr_disk_pending(w->disk))
		octo_log(OCTO_NOTICE, "CDRs to PostgreSQL: the %zu spooled record%s sent", before,
			 before == 1 ? " was" : "s were");
}

static int pg_w_open(void *ctx, const char *path, char *err, size_t errsize)
{
	struct pg_writer *w = ctx;
	size_t pending;

	w->disk = cdr_disk_open(path, err, errsize);
	if (!w->disk)
		return OCTO_EFAIL;
	if (cdr_disk_torn(w->disk))
		octo_log(OCTO_WARNING, "CDR spool %s: cut off a torn last line (%llu bytes: a "
			 "record being written when octo stopped)", path,
			 (unsigned long long)cdr_disk_torn(w->disk));
	if (cdr_disk_damaged(w->disk))
		octo_log(OCTO_WARNING, "CDR spool %s: %llu damaged line%s skipped", path,
			 (unsigned long long)cdr_disk_damaged(w->disk),
			 cdr_disk_damaged(w->disk) == 1 ? "" : "s");
	pending = cdr_disk_pending(w->disk);
	if (pending)
		octo_log(OCTO_NOTICE, "CDR spool %s: %zu record%s to send to PostgreSQL", path,
			 pending, pending == 1 ? "" : "s");
	pthread_mutex_lock(&pg_lock);
	pg_disk_pending = pending;
	pthread_mutex_unlock(&pg_lock);
	return 0;
}

static void pg_w_close(void *ctx)
{
	struct pg_writer *w = ctx;

	if (w->conn) {
		PQfinish(w->conn);
		w->conn = NULL;
	}
	pg_set_state(false, NULL);
	if (w->disk && cdr_disk_pending(w->disk))
		octo_log(OCTO_NOTICE, "CDRs to PostgreSQL: %zu record%s wait in the spool file, "
			 "sent when the server is reachable again", cdr_disk_pending(w->disk),
			 cdr_disk_pending(w->disk) == 1 ? "" : "s");
	cdr_disk_close(w->disk);
	w->disk = NULL;
	free(w->peek);
	w->peek = NULL;
	w->peek_cap = 0;
	w->next_attempt_ms = 0;
}

static int pg_w_write(void *ctx, const struct octo_cdr *const *recs, size_t n, char *err,
		      size_t errsize)
{
	struct pg_writer *w = ctx;
	char table[64], perr[200];
	unsigned batch;

	pg_table(table, sizeof(table), &batch);
	if (!cdr_disk_pending(w->disk) && pg_ready(w)) {
		if (!pg_insert(w->conn, table, recs, n, perr, sizeof(perr))) {
			w->last_io_ms = pg_mono_ms();
			pg_count_sent(w, n);
			return 0;
		}
		pg_disconnect(w, perr);
	}
	/* Not sent: after those already waiting on disk. */
	if (cdr_disk_append(w->disk, recs, n, err, errsize))
		return OCTO_EFAIL;
	pthread_mutex_lock(&pg_lock);
	pg_disk_pending = cdr_disk_pending(w->disk);
	pthread_mutex_unlock(&pg_lock);
	if (!w->spooling_logged && !w->conn) {
		octo_log(OCTO_WARNING, "CDRs to PostgreSQL: server not reachable, records go to "
			 "the spool file");
		w->spooling_logged = true;
	}
	pg_drain(w, PG_DRAIN_BATCHES);
	return 0;
}

/* Between batches: connect when it is time, send the spool, check an idle
 * connection. */
static void pg_w_tick(void *ctx)
{
	struct pg_writer *w = ctx;

	if (!pg_ready(w))
		return;
	if (w->disk && cdr_disk_pending(w->disk)) {
		pg_drain(w, PG_DRAIN_BATCHES);
		return;
	}
	if (pg_mono_ms() - w->last_io_ms >= pg_reconnect_ms()) {
		char err[200];

		if (pg_exec(w->conn, "SELECT 1", "connection lost", err, sizeof(err)))
			pg_disconnect(w, err);
		else
			w->last_io_ms = pg_mono_ms();
	}
}

static const struct cdr_spool_ops pg_spool_ops = {
	.thread_name = "cdr pgsql",
	.open = pg_w_open,
	.write = pg_w_write,
	.close = pg_w_close,
	.tick = pg_w_tick,
	.tick_ms = PG_TICK_MS,
};

/* ---------------------------------------------------------------- backend */

static int pg_post(const struct octo_cdr *cdr)
{
	return cdr_spool_post(pg_spool, cdr);
}

static void pg_status(struct octo_cdr_backend_status *st)
{
	char *path = cdr_spool_path(pg_spool);
	bool disk_error;

	cdr_spool_status(pg_spool, st);
	disk_error = !strcmp(st->state, "error");
	pthread_mutex_lock(&pg_lock);
	if (strcmp(st->state, "stopped") && !disk_error)
		octo_strlcpy(st->state, pg_connected ? "connected" : "disconnected",
			     sizeof(st->state));
	st->written = pg_sent;
	st->queued += pg_disk_pending;
	if (!disk_error)
		octo_strlcpy(st->last_error, pg_connected ? "" : pg_error, sizeof(st->last_error));
	snprintf(st->target, sizeof(st->target), "%s table %s, spool %zu in %s", pg_where,
		 pg_conf.pgsql.table ? pg_conf.pgsql.table : "cdr", pg_disk_pending, path);
	pthread_mutex_unlock(&pg_lock);
	free(path);
}

static uint64_t pg_u64(const char *s)
{
	long long v = strtoll(s, NULL, 10);

	return v > 0 ? (uint64_t)v : 0;
}

static void pg_row_to_cdr(PGresult *res, int r, struct octo_cdr *c)
{
	int disp;

	memset(c, 0, sizeof(*c));
#define PG_STR(col, field) octo_strlcpy(c->field, PQgetvalue(res, r, col), sizeof(c->field))
	PG_STR(0, uniqueid);
	PG_STR(1, linkedid);
	c->start_us = pg_u64(PQgetvalue(res, r, 2));
	c->answer_us = pg_u64(PQgetvalue(res, r, 3));
	c->end_us = pg_u64(PQgetvalue(res, r, 4));
	c->duration = (unsigned)(pg_u64(PQgetvalue(res, r, 5)) & 0xffffffffu);
	c->billsec = (unsigned)(pg_u64(PQgetvalue(res, r, 6)) & 0xffffffffu);
	PG_STR(7, caller);
	PG_STR(8, caller_name);
	PG_STR(9, dialed);
	PG_STR(10, called);
	PG_STR(11, channel);
	PG_STR(12, dst_channel);
	PG_STR(13, trunk);
	PG_STR(14, procedure);
	disp = cdr_disposition_parse(PQgetvalue(res, r, 15));
	c->disposition = disp < 0 ? OCTO_CDR_FAILED : (enum octo_cdr_disposition)disp;
	c->cause = atoi(PQgetvalue(res, r, 16));
	PG_STR(17, hangup_side);
	PG_STR(18, userfield);
	c->cost = strtod(PQgetvalue(res, r, 19), NULL);
	PG_STR(20, user);
	PG_STR(21, direction);
	c->answered_elsewhere = PQgetvalue(res, r, 22)[0] == 't';
#undef PG_STR
	cdr_sanitize(c);
}

/* Reads on the caller's thread with a connection of its own, one row at a
 * time (an export may be large). */
static int pg_query(const struct octo_cdr_filter *f,
		    int (*row)(const struct octo_cdr *cdr, void *arg), void *arg, char *err,
		    size_t errsize)
{
	char table[64], since[24], last[16], msg[160], where[96] = "";
	const char *vals[3];
	int nparams = 0, count = 0;
	bool stopped = false, failed = false;
	PGresult *res;
	PGconn *conn;
	char *sql;

	conn = pg_open(NULL, table, sizeof(table), msg, sizeof(msg));
	if (!conn) {
		snprintf(err, errsize, "cannot connect to PostgreSQL: %s", msg);
		return OCTO_EFAIL;
	}
	/* Only fixed text goes into the SQL; the values are parameters. */
	if (f->user && *f->user) {
		vals[nparams++] = f->user;
		strcat(where, " AND (caller = $1 OR called = $1)");
	}
	if (f->since_us) {
		pg_us(f->since_us, since, sizeof(since));
		vals[nparams++] = since;
		snprintf(where + strlen(where), sizeof(where) - strlen(where),
			 " AND start_us >= $%d", nparams);
	}
	if (f->last) {
		snprintf(last, sizeof(last), "%u", f->last);
		vals[nparams++] = last;
		if (asprintf(&sql, "SELECT %s FROM (SELECT id, %s FROM %s WHERE true%s ORDER BY id"
			     " DESC LIMIT $%d) s ORDER BY id", pg_select_cols, pg_select_cols,
			     table, where, nparams) < 0)
			abort();
	} else if (asprintf(&sql, "SELECT %s FROM %s WHERE true%s ORDER BY id", pg_select_cols,
			    table, where) < 0) {
		abort();
	}
	if (!PQsendQueryParams(conn, sql, nparams, NULL, vals, NULL, NULL, 0) ||
	    !PQsetSingleRowMode(conn)) {
		pg_msg(PQerrorMessage(conn), msg, sizeof(msg));
		snprintf(err, errsize, "cannot read table %s: %s", table, msg);
		free(sql);
		PQfinish(conn);
		return OCTO_EFAIL;
	}
	free(sql);
	while (!stopped && (res = PQgetResult(conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_SINGLE_TUPLE) {
			struct octo_cdr c;

			pg_row_to_cdr(res, 0, &c);
			count++;
			if (row(&c, arg))
				stopped = true;
		} else if (st != PGRES_TUPLES_OK && !failed) {
			pg_msg(PQresultErrorMessage(res), msg, sizeof(msg));
			snprintf(err, errsize, "cannot read table %s: %s", table, msg);
			failed = true;
		}
		PQclear(res);
	}
	/* Stopped early: closing the connection ends the query on the server. */
	PQfinish(conn);
	return failed ? OCTO_EFAIL : count;
}

/* ---------------------------------------------------------------- module */

/* Checks what cdr_conf_load() cannot: the conninfo string, with libpq.
 * The message names the line of conninfo in `dir`/cdr.conf. */
static int pg_validate(const char *dir, const struct cdr_conf *conf, struct octo_diags *diags)
{
	char *errmsg = NULL, msg[160];
	PQconninfoOption *opts;
	struct octo_cfg *cfg;
	const struct octo_cfg_section *sec;
	const struct octo_cfg_var *v;
	struct octo_diags again = { 0 };
	char *file;
	int line = 0;

	if (!conf->pgsql.conninfo || !*conf->pgsql.conninfo)
		return 0;
	opts = PQconninfoParse(conf->pgsql.conninfo, &errmsg);
	if (opts) {
		PQconninfoFree(opts);
		return 0;
	}
	pg_msg(errmsg ? errmsg : "out of memory", msg, sizeof(msg));
	PQfreemem(errmsg);
	/* Read again (it was fine a moment ago) only to say where. */
	cfg = octo_cfg_load(dir, CDR_CONF_FILE, true, &again);
	octo_diags_free(&again);
	sec = cfg ? octo_cfg_section(cfg, "pgsql") : NULL;
	v = sec ? octo_cfg_var_find(sec, "conninfo") : NULL;
	file = octo_strdup(v ? v->file : CDR_CONF_FILE);
	if (v)
		line = v->line;
	octo_cfg_free(cfg);
	octo_diags_add(diags, OCTO_DIAG_ERROR, file, line,
		       "[pgsql] conninfo: is not a libpq connection string: %s", msg);
	free(file);
	return OCTO_ECONFIG;
}

/* Makes the running state follow `conf` (validated), then keeps it. */
static int pg_apply(struct octo_module *self, struct cdr_conf *conf)
{
	bool enable = cdr_conf_enabled(conf, "pgsql");
	char *path = cdr_conf_path(conf->pgsql.spool);
	unsigned batch = conf->pgsql.batch, interval = conf->pgsql.flush_interval;
	unsigned max_queue = conf->general.max_queue;
	char *sig = pg_sign(&conf->pgsql);
	struct cdr_conf old;
	int rc = 0;

	pthread_mutex_lock(&pg_lock);
	old = pg_conf;
	pg_conf = *conf;
	if (!pg_signature || strcmp(pg_signature, sig)) {
		pg_gen++;
		free(pg_signature);
		pg_signature = sig;
		sig = NULL;
	}
	pg_describe(&pg_conf.pgsql, pg_where, sizeof(pg_where));
	pthread_mutex_unlock(&pg_lock);
	free(sig);
	cdr_conf_free(&old);
	memset(conf, 0, sizeof(*conf));

	cdr_spool_configure(pg_spool, path, batch, interval, max_queue);
	free(path);
	if (enable && !pg_registered) {
		pthread_mutex_lock(&pg_lock);
		pg_stopping = false;
		pthread_mutex_unlock(&pg_lock);
		rc = cdr_spool_start(pg_spool);
		if (!rc) {
			rc = octo_cdr_backend_register(self, &pg_backend);
			if (rc)
				cdr_spool_stop(pg_spool);
		}
		pg_registered = !rc;
	} else if (!enable && pg_registered) {
		octo_cdr_backend_unregister(&pg_backend);
		pthread_mutex_lock(&pg_lock);
		pg_stopping = true;
		pthread_mutex_unlock(&pg_lock);
		cdr_spool_stop(pg_spool);
		pg_registered = false;
		octo_verbose(1, "pgsql CDR backend disabled in cdr.conf");
	}
	return rc;
}

static void pg_reset(void)
{
	cdr_spool_free(pg_spool);
	pg_spool = NULL;
	pg_registered = false;
	pthread_mutex_lock(&pg_lock);
	cdr_conf_free(&pg_conf);
	free(pg_signature);
	pg_signature = NULL;
	pg_connected = false;
	pg_stopping = false;
	pg_error[0] = '\0';
	pg_where[0] = '\0';
	pg_disk_pending = 0;
	pg_sent = 0;
	pthread_mutex_unlock(&pg_lock);
}

static int pg_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct cdr_conf conf = { 0 };
	int rc;

	rc = cdr_conf_load(octo_paths.config_dir, CDR_CONF_PGSQL, &conf, &diags);
	if (!rc && pg_validate(octo_paths.config_dir, &conf, &diags)) {
		cdr_conf_free(&conf);
		rc = OCTO_ECONFIG;
	}
	cdr_diags_log(&diags);
	octo_diags_free(&diags);
	if (rc)
		return OCTO_LOAD_FAIL;
	pg_spool = cdr_spool_alloc(&pg_spool_ops, &pg_writer);
	if (!pg_spool) {
		cdr_conf_free(&conf);
		return OCTO_LOAD_FAIL;
	}
	if (!cdr_conf_enabled(&conf, "pgsql"))
		octo_verbose(1, "pgsql is not in [general] backends of cdr.conf: res_cdr_pgsql "
			     "stays idle until it is");
	if (pg_apply(self, &conf)) {
		pthread_mutex_lock(&pg_lock);
		pg_stopping = true;
		pthread_mutex_unlock(&pg_lock);
		pg_reset();
		return OCTO_LOAD_FAIL;
	}
	return OCTO_LOAD_OK;
}

static int pg_unload(struct octo_module *self)
{
	/* The core already removed the backend: no new post() arrives. */
	pthread_mutex_lock(&pg_lock);
	pg_stopping = true;
	pthread_mutex_unlock(&pg_lock);
	pg_reset();
	return 0;
}

static int pg_reload(struct octo_module *self, struct octo_diags *diags)
{
	struct cdr_conf conf = { 0 };

	if (cdr_conf_load(octo_paths.config_dir, CDR_CONF_PGSQL, &conf, diags))
		return OCTO_ECONFIG;
	if (pg_validate(octo_paths.config_dir, &conf, diags)) {
		cdr_conf_free(&conf);
		return OCTO_ECONFIG;
	}
	return pg_apply(self, &conf) ? OCTO_EFAIL : 0;
}

/* octo -t: res_cdr_sqlite checks the whole of cdr.conf; this adds what only
 * libpq can tell, the conninfo string. */
static int pg_check(const char *config_dir, struct octo_diags *diags)
{
	struct octo_diags ignored = { 0 };
	struct cdr_conf conf = { 0 };
	int rc = cdr_conf_load(config_dir, CDR_CONF_PGSQL, &conf, &ignored);

	octo_diags_free(&ignored);
	if (rc)
		return 0;   /* reported by res_cdr_sqlite's check */
	rc = pg_validate(config_dir, &conf, diags);
	cdr_conf_free(&conf);
	return rc;
}

OCTO_MODULE(res_cdr_pgsql, .description = "CDR backend: PostgreSQL (libpq), spooled to disk "
	    "while the server is away", .load = pg_load, .unload = pg_unload,
	    .reload = pg_reload, .check = pg_check, .flags = OCTO_MOD_RESIDENT);
