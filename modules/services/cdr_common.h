/*
 * cdr_common.h - code shared by the CDR backend modules (res_cdr_sqlite,
 * res_cdr_csv, res_cdr_pgsql): reading cdr.conf, times, CSV lines, filters,
 * and the spool. The file is compiled into each module; it is not part of
 * the core's API.
 *
 * THE SPOOL
 * A backend's post() runs on the thread that hung a channel up, so it must
 * not wait for a disk. The spool copies the record into a queue in memory
 * and returns; a writer thread of the module takes records from the queue
 * and hands them to the backend in batches (a batch is one transaction):
 * a batch is written when `batch` records wait, or `interval` ms after the
 * oldest waiting record was posted, whichever comes first. A batch that
 * fails goes back to the head of the queue and is tried again, with the
 * target reopened, after a growing pause (0.5 s .. 10 s); the first failure
 * and the recovery are logged once. The queue grows as needed up to
 * `max_queue` records; beyond that records are dropped and counted, with a
 * warning. Stopping the spool refuses new records, writes what waits (a few
 * attempts when the target fails, then the rest is dropped and logged) and
 * joins the thread. What a kill -9 loses is what was in the queue: at most
 * `interval` ms of records while the target works. A spool may also carry
 * each record's step log (cdr_spool_keep_steps) and run housekeeping on
 * its writer thread (ops tick).
 */
#ifndef OCTO_CDR_COMMON_H
#define OCTO_CDR_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "octo/cdr.h"
#include "octo/config.h"

/* ---------------------------------------------------------------- cdr.conf */
#define CDR_CONF_FILE "cdr.conf"

struct cdr_general_cfg {
	struct octo_cfg_list backends;  /* the enabled backends, "sqlite, csv" */
	char *cli_backend;              /* what "cdr show" and "cdr export" read */
	unsigned max_queue;             /* per backend, records waiting in memory */
	unsigned debug_days;            /* days the step logs are kept (sqlite); 0: none */
};

struct cdr_sqlite_cfg {
	char *file;                     /* relative: in the data folder */
	unsigned batch;                 /* rows per transaction at most */
	unsigned flush_interval;        /* ms from a post to its commit at most */
};

struct cdr_csv_cfg {
	char *file;
	unsigned flush_interval;
};

/* [pgsql]: res_cdr_pgsql. The connection pieces override those of conninfo;
 * "" (0 for port) leaves a piece to conninfo or libpq's defaults. */
struct cdr_pgsql_cfg {
	char *conninfo;                 /* a libpq connection string or URI */
	char *host, *dbname, *user, *password;
	unsigned port;                  /* 0: libpq's default */
	char *table;                    /* an SQL name: [a-z_][a-z0-9_]*, at most 48 */
	char *spool;                    /* relative: in the data folder */
	unsigned batch;
	unsigned flush_interval;        /* ms */
	unsigned reconnect_interval;    /* ms */
	unsigned connect_timeout;       /* seconds */
};

struct cdr_conf {
	struct cdr_general_cfg general;
	struct cdr_sqlite_cfg sqlite;
	struct cdr_csv_cfg csv;
	struct cdr_pgsql_cfg pgsql;
};

enum cdr_conf_scope {
	CDR_CONF_ALL,   /* every section checked: res_cdr_sqlite, octo -t */
	CDR_CONF_CSV,   /* [general] backends and [csv] only: res_cdr_csv */
	CDR_CONF_PGSQL, /* [general] backends and [pgsql] only: res_cdr_pgsql */
};

/* Loads CONFIG_DIR/cdr.conf (optional: a missing file gives the defaults)
 * into `conf` (zeroed by the caller). Returns 0, or OCTO_ECONFIG with every
 * problem in `diags` (file:line); `conf` is then freed already. */
int cdr_conf_load(const char *dir, enum cdr_conf_scope scope, struct cdr_conf *conf,
		  struct octo_diags *diags);
void cdr_conf_free(struct cdr_conf *conf);
/* Whether `backend` is in [general] backends. */
bool cdr_conf_enabled(const struct cdr_conf *conf, const char *backend);
/* The full path of a configured file: absolute as written, else in the data
 * folder. Returns a new string. */
char *cdr_conf_path(const char *file);
/* Logs every diagnostic (errors as ERROR, warnings as WARNING). */
void cdr_diags_log(const struct octo_diags *diags);

/* ---------------------------------------------------------------- times */
/* "2026-11-26T10:00:00.123Z" (UTC, ms); "" when `us` is 0. size >= 32. */
void cdr_time_iso(uint64_t us, char *buf, size_t size);
/* Parses what cdr_time_iso writes ("" gives 0). NULL, or an error phrase. */
const char *cdr_time_parse_iso(const char *text, uint64_t *us);
/* "2026-11-26 11:00:00" in local time, for the console; "" when 0. */
void cdr_time_local(uint64_t us, char *buf, size_t size);
/* A console date: "YYYY-MM-DD" or "YYYY-MM-DD HH:MM", local time. NULL, or
 * an error phrase. */
const char *cdr_date_parse(const char *text, uint64_t *us);

/* ---------------------------------------------------------------- records */
/* NUL-terminates every string of a record (copies of hostile input). */
void cdr_sanitize(struct octo_cdr *cdr);
/* True when the record passes the user and since parts of `f`. */
bool cdr_filter_match(const struct octo_cdr_filter *f, const struct octo_cdr *cdr);
/* "ANSWERED" ... back to the enum; -1 when unknown. */
int cdr_disposition_parse(const char *text);

/* ---------------------------------------------------------------- call history
 * How one call -- the legs sharing a linkedid -- went for one user (an
 * extension). This is the one place that decides it, for `user history`
 * and for the missed-call e-mail:
 *  - The user PLACED the call (out) when an incoming leg (not placed by the
 *    PBX) has the user as ${USER}, or has no ${USER} and the user's number
 *    as its caller number.
 *  - The user was RUNG by the legs the PBX placed to the user's devices
 *    (direction outbound, ${USER} the user; without ${USER}, the called
 *    number); when the call has none, by the incoming legs routed to the
 *    user's number (called number) that the user did not place.
 *  - Rung: "in" when one of those legs was answered (another device of
 *    the same user answering counts); otherwise "missed", with the
 *    disposition ANSWERED ELSEWHERE (another user took the call: a ring
 *    group), else CANCELLED (a leg rang and the caller gave up: an
 *    incoming leg of the call is CANCELLED) or NO ANSWER (it rang and
 *    nobody answered), else BUSY or FAILED.
 *  - A missed call is worth an e-mail (notify) only when it rang and the
 *    caller gave up or nobody answered: CANCELLED or NO ANSWER.
 */
enum cdr_hist_kind { CDR_HIST_NONE = 0, CDR_HIST_IN, CDR_HIST_MISSED };

struct cdr_hist_call {
	const struct octo_cdr *out;     /* the leg the user placed; NULL: not placed by the user */
	enum cdr_hist_kind kind;        /* whether the user was rung, and how it ended */
	const struct octo_cdr *leg;     /* rung: the answered leg, else the first leg that rang */
	const char *disposition;        /* rung: see above; NULL otherwise */
	bool notify;                    /* a missed call to tell the user about */
	uint64_t start_us;              /* when the call's first leg started */
};

/* Classifies the `n` legs of one call (any order) for `user`; the pointers
 * in `h` point into `legs`. */
void cdr_hist_classify(const struct octo_cdr *legs, size_t n, const char *user,
		       struct cdr_hist_call *h);
/* True when `leg` is an incoming leg placed by `user` (see above). */
bool cdr_hist_placed_by(const struct octo_cdr *leg, const char *user);
/* True when `leg` is a leg the PBX placed to a device of `user`. */
bool cdr_hist_rings(const struct octo_cdr *leg, const char *user);

/* ---------------------------------------------------------------- prices
 * A pricelist line (CSV: prefix, description, price per minute, connection
 * fee, billing increment in seconds). The longest prefix that begins the
 * called number wins; a prefix with '+' is compared with the number in
 * E.164 form, one without with the number as routed. */
#define CDR_PRICE_PREFIX_MAX 30
#define CDR_PRICE_DESC_MAX 127
#define CDR_PRICE_MAX 1000000.0

struct cdr_price {
	char prefix[CDR_PRICE_PREFIX_MAX + 2];
	char description[CDR_PRICE_DESC_MAX + 1];
	double price;                   /* per minute */
	double fee;                     /* per answered call */
	unsigned increment;             /* seconds, 1..3600 */
};

/* True when the record is the header line ("prefix,description,..."). */
bool cdr_price_is_header(char *const *fields, int count);
/* Parses one CSV record into `out`. NULL, or an error phrase. */
const char *cdr_price_parse(char *const *fields, int count, struct cdr_price *out);
/* The cost of a call: 0 when not answered, else the connection fee plus
 * the price of billsec rounded up to whole increments (in millionths). */
double cdr_price_cost(const struct cdr_price *p, unsigned billsec, bool answered);

/* ---------------------------------------------------------------- CSV
 * RFC 4180: fields separated by commas, records ended by CRLF, a field with
 * a comma, a quote, CR or LF is quoted and its quotes doubled. Times are
 * cdr_time_iso() text. The columns: */
#define CDR_CSV_FIELDS 20
extern const char *const cdr_csv_columns[CDR_CSV_FIELDS];
/* Longest line cdr_csv_line() can produce, with its CRLF and NUL. */
#define CDR_CSV_LINE_MAX 4096
/* The header line, CRLF included. */
size_t cdr_csv_header(char *buf, size_t size);
/* One record as a CSV line, CRLF included; returns its length. */
size_t cdr_csv_line(const struct octo_cdr *cdr, char *buf, size_t size);

/* Reads CSV records from a stream. A record that does not end with a line
 * break (a line being written right now) counts as the end of the file. */
struct cdr_csv_reader {
	FILE *fp;
	char buf[CDR_CSV_LINE_MAX * 2];
	char *fields[CDR_CSV_FIELDS + 1];
};
/* Returns the number of fields of the next record (>= 1), 0 at the end, or
 * -1 for a record that is too long or has too many fields (it is skipped;
 * call again). The fields point into the reader. */
int cdr_csv_read(struct cdr_csv_reader *r);
/* Fields of one record back into a record. NULL, or an error phrase. */
const char *cdr_csv_parse(char *const *fields, int count, struct octo_cdr *out);

/* ---------------------------------------------------------------- spool */
struct cdr_spool_ops {
	const char *thread_name;        /* "cdr sqlite", for core show threads */
	/* Opens the target at `path`, on the writer thread. 0, or OCTO_E* with
	 * the reason in `err`. */
	int (*open)(void *ctx, const char *path, char *err, size_t errsize);
	/* Writes `n` records as one unit: 0 when all are committed, or OCTO_E*
	 * with `err` filled when none is (they are tried again). */
	int (*write)(void *ctx, const struct octo_cdr *const *recs, size_t n, char *err,
		     size_t errsize);
	/* Closes the target; also called after a failed write. */
	void (*close)(void *ctx);
	/* Optional: housekeeping (purging old rows) on the writer thread,
	 * between batches, with the target open: once it is first open, then
	 * every `tick_ms`. */
	void (*tick)(void *ctx);
	unsigned tick_ms;
	/* Optional: called once, with the target open, when nothing was
	 * written for `idle_ms` after a batch (a burst of calls is over):
	 * caches filled for it can be given back. */
	void (*idle)(void *ctx);
	unsigned idle_ms;
};

struct cdr_spool;

struct cdr_spool *cdr_spool_alloc(const struct cdr_spool_ops *ops, void *ctx);
/* Stops the spool if it runs, then frees it. */
void cdr_spool_free(struct cdr_spool *sp);
/* Sets the target and the batching (batch >= 1, interval in ms, max_queue
 * >= 1). A new path makes the writer reopen before its next batch. */
void cdr_spool_configure(struct cdr_spool *sp, const char *path, unsigned batch,
			 unsigned interval_ms, unsigned max_queue);
/* Starts the writer thread; post() is accepted from now on. 0 or OCTO_E*. */
int cdr_spool_start(struct cdr_spool *sp);
/* Refuses new records, writes what waits, joins the thread. */
void cdr_spool_stop(struct cdr_spool *sp);
bool cdr_spool_running(struct cdr_spool *sp);
/* Queues a copy; 0, OCTO_EBUSY (not running) or OCTO_ENOMEM (queue full or
 * no memory: the record is counted as dropped). Never blocks on I/O. The
 * step log the record lends (cdr.h) is copied with it when the spool keeps
 * steps (at most CDR_SPOOL_STEPS_MAX lines of CDR_SPOOL_STEP_TEXT_MAX
 * bytes); otherwise the copy has steps NULL and step_count 0. */
int cdr_spool_post(struct cdr_spool *sp, const struct octo_cdr *cdr);
#define CDR_SPOOL_STEPS_MAX 2000
#define CDR_SPOOL_STEP_TEXT_MAX 4096
/* Whether post() copies the step logs (off when allocated). */
void cdr_spool_keep_steps(struct cdr_spool *sp, bool keep);
void cdr_spool_status(struct cdr_spool *sp, struct octo_cdr_backend_status *st);
/* The current target path (a new string). */
char *cdr_spool_path(struct cdr_spool *sp);
/* Waits until the queue is empty or `timeout_ms` passed; true when empty. */
bool cdr_spool_wait_empty(struct cdr_spool *sp, unsigned timeout_ms);

#endif
