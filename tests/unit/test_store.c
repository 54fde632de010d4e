/*
 * test_store.c - unit tests of the internal SQLite store (core/store.c):
 * schema migrations, synchronous statements with bound parameters, the
 * asynchronous write queue, reopening, refusing a file that is not a
 * database, and several threads at once. Each test opens its own database
 * file in a private temporary folder and closes it again.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "octo/log.h"
#include "octo/store.h"
#include "octo_test.h"

/* ---------------------------------------------------------------- helpers */
static char test_dir[256];
static char test_log[16384];
static pthread_mutex_t test_log_lock = PTHREAD_MUTEX_INITIALIZER;
static int test_sink;

/* Keeps every error line of the logger (the message only, one per line). */
static void test_log_write(const struct octo_log_record *rec, void *data)
{
	size_t len, add;

	pthread_mutex_lock(&test_log_lock);
	len = strlen(test_log);
	add = strlen(rec->message);
	if (len + add + 2 < sizeof(test_log)) {
		memcpy(test_log + len, rec->message, add);
		test_log[len + add] = '\n';
		test_log[len + add + 1] = '\0';
	}
	pthread_mutex_unlock(&test_log_lock);
}

static void test_setup(void);

static void test_log_clear(void)
{
	test_setup();
	pthread_mutex_lock(&test_log_lock);
	test_log[0] = '\0';
	pthread_mutex_unlock(&test_log_lock);
}

/* A copy of the errors logged so far (static buffer). */
static const char *test_log_get(void)
{
	static char copy[sizeof(test_log)];

	pthread_mutex_lock(&test_log_lock);
	memcpy(copy, test_log, sizeof(copy));
	pthread_mutex_unlock(&test_log_lock);
	return copy;
}

static int test_log_lines(void)
{
	const char *s = test_log_get();
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Makes the private folder and starts catching errors, once. */
static void test_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	struct octo_log_sink sink = {
		.write = test_log_write,
		.level_mask = 1u << OCTO_LOG_ERROR,
	};

	if (test_dir[0])
		return;
	snprintf(test_dir, sizeof(test_dir), "%s/octo-store.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(test_dir)) {
		perror("mkdtemp");
		exit(1);
	}
	test_sink = octo_log_sink_add(&sink);
}

/* The path of database `name` in the private folder (static buffer). */
static const char *test_path(const char *name)
{
	static char path[512];

	test_setup();
	snprintf(path, sizeof(path), "%s/%s", test_dir, name);
	return path;
}

/* Opens a fresh database `name` (removing an old one and its WAL files). */
static int test_open(const char *name)
{
	char p[600];
	const char *path = test_path(name);

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	test_log_clear();
	return octo_store_init(path);
}

static int64_t test_count(const char *table)
{
	char sql[128];
	int64_t n = -1;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	if (octo_store_query_int(sql, OCTO_STORE_NOARGS, &n))
		return -1;
	return n;
}

/* ---------------------------------------------------------------- open */
OCTO_TEST(open_sets_wal_and_normal_sync)
{
	char text[32], buf[600];
	int64_t sync = -1;

	OCTO_CHECK_INT_EQ(test_open("open.db"), 0);
	OCTO_CHECK(octo_store_is_open());
	OCTO_CHECK_STR_EQ(octo_store_path(buf, sizeof(buf)), test_path("open.db"));
	OCTO_CHECK_INT_EQ(octo_store_query_text("PRAGMA journal_mode", OCTO_STORE_NOARGS, text,
						sizeof(text)),
			  0);
	OCTO_CHECK_STR_EQ(text, "wal");
	/* synchronous is per connection: 1 is NORMAL. */
	OCTO_CHECK_INT_EQ(octo_store_query_int("PRAGMA synchronous", OCTO_STORE_NOARGS, &sync), 0);
	OCTO_CHECK_INT_EQ(sync, 1);
	OCTO_CHECK_INT_EQ(octo_store_init(test_path("other.db")), OCTO_EEXIST);
	OCTO_CHECK_CONTAINS(test_log_get(), "store: already open");
	octo_store_shutdown();
	OCTO_CHECK(!octo_store_is_open());
	OCTO_CHECK_STR_EQ(octo_store_path(buf, sizeof(buf)), "");
}

OCTO_TEST(calls_on_a_closed_store_fail)
{
	test_log_clear();
	OCTO_CHECK(!octo_store_is_open());
	OCTO_CHECK_INT_EQ(octo_store_exec("SELECT 1", OCTO_STORE_NOARGS), OCTO_EFAIL);
	OCTO_CHECK_INT_EQ(octo_store_queue("SELECT 1", OCTO_STORE_NOARGS), OCTO_EFAIL);
	OCTO_CHECK_INT_EQ(octo_store_flush(), OCTO_EFAIL);
	OCTO_CHECK_STR_EQ(test_log_get(), "store: not open\nstore: not open\nstore: not open\n");
	octo_store_shutdown(); /* harmless when closed */
}

OCTO_TEST(file_that_is_not_a_database_is_refused)
{
	const char *path = test_path("garbage.db");
	char junk[4096], expect[700];
	int fd;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)("not a database! "[i % 16]);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	OCTO_CHECK(fd >= 0);
	OCTO_CHECK_INT_EQ(write(fd, junk, sizeof(junk)), (long long)sizeof(junk));
	close(fd);
	test_log_clear();
	OCTO_CHECK_INT_EQ(octo_store_init(path), OCTO_EFAIL);
	snprintf(expect, sizeof(expect),
		 "store: %s: cannot open: file is not a database (move "
		 "the file away to start with an empty store)\n",
		 path);
	OCTO_CHECK_STR_EQ(test_log_get(), expect);
	OCTO_CHECK(!octo_store_is_open());
	/* Nothing was left half open: a good file opens next. */
	OCTO_CHECK_INT_EQ(test_open("after-garbage.db"), 0);
	octo_store_shutdown();
}

OCTO_TEST(database_with_corrupt_pages_is_refused)
{
	const char *path = test_path("corrupt.db");
	char junk[3000], expect[700];
	int fd;

	OCTO_CHECK_INT_EQ(test_open("corrupt.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_exec("CREATE TABLE t(x)", OCTO_STORE_NOARGS), 0);
	octo_store_shutdown();
	/* Keep SQLite's 100-byte header, overwrite the schema page after it. */
	memset(junk, 0x5a, sizeof(junk));
	fd = open(path, O_WRONLY);
	OCTO_CHECK(fd >= 0);
	OCTO_CHECK_INT_EQ(pwrite(fd, junk, sizeof(junk), 100), (long long)sizeof(junk));
	close(fd);
	test_log_clear();
	OCTO_CHECK_INT_EQ(octo_store_init(path), OCTO_EFAIL);
	snprintf(expect, sizeof(expect),
		 "store: %s: cannot open: database disk image is "
		 "malformed (move the file away to start with an empty store, or try the "
		 "sqlite3 shell's .recover on a copy)\n",
		 path);
	OCTO_CHECK_STR_EQ(test_log_get(), expect);
	OCTO_CHECK(!octo_store_is_open());
}

OCTO_TEST(missing_folder_is_a_clear_error)
{
	char path[600], expect[700];

	snprintf(path, sizeof(path), "%s/no/such/folder/octo.db", test_path(""));
	test_log_clear();
	OCTO_CHECK_INT_EQ(octo_store_init(path), OCTO_EFAIL);
	snprintf(expect, sizeof(expect), "store: %s: cannot open: No such file or directory\n",
		 path);
	OCTO_CHECK_STR_EQ(test_log_get(), expect);
}

OCTO_TEST(new_file_is_private)
{
	struct stat st;

	OCTO_CHECK_INT_EQ(test_open("mode.db"), 0);
	OCTO_CHECK_INT_EQ(stat(test_path("mode.db"), &st), 0);
	OCTO_CHECK_INT_EQ(st.st_mode & 0077 & ~0040, 0);
	octo_store_shutdown();
}

/* ---------------------------------------------------------------- migrations */
static const char *const test_v1[] = {
	"CREATE TABLE bans(ip TEXT PRIMARY KEY, until INTEGER NOT NULL)",
	"CREATE INDEX bans_until ON bans(until); INSERT INTO bans VALUES('10.0.0.1', 5)",
};
static const char *const test_v2[] = {
	"CREATE TABLE bans(ip TEXT PRIMARY KEY, until INTEGER NOT NULL)",
	"CREATE INDEX bans_until ON bans(until); INSERT INTO bans VALUES('10.0.0.1', 5)",
	"ALTER TABLE bans ADD COLUMN reason TEXT NOT NULL DEFAULT 'flood'",
};

OCTO_TEST(migration_first_start_upgrade_and_idempotent)
{
	char reason[32];

	OCTO_CHECK_INT_EQ(test_open("migrate.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_version("res_security"), 0);
	/* First start: both steps. */
	OCTO_CHECK_INT_EQ(octo_store_migrate("res_security", test_v1, 2), 2);
	OCTO_CHECK_INT_EQ(octo_store_version("res_security"), 2);
	OCTO_CHECK_INT_EQ(test_count("bans"), 1);
	/* Again: nothing to do. */
	OCTO_CHECK_INT_EQ(octo_store_migrate("res_security", test_v1, 2), 0);
	OCTO_CHECK_INT_EQ(test_count("bans"), 1);
	/* A newer build adds a step: only that one runs. */
	OCTO_CHECK_INT_EQ(octo_store_migrate("res_security", test_v2, 3), 1);
	OCTO_CHECK_INT_EQ(octo_store_version("res_security"), 3);
	OCTO_CHECK_INT_EQ(octo_store_query_text("SELECT reason FROM bans WHERE ip = ?",
						OCTO_STORE_ARGS(OCTO_STORE_T("10.0.0.1")), reason,
						sizeof(reason)),
			  0);
	OCTO_CHECK_STR_EQ(reason, "flood");
	OCTO_CHECK_INT_EQ(octo_store_migrate("res_security", test_v2, 3), 0);
	/* Owners are independent. */
	OCTO_CHECK_INT_EQ(octo_store_version("res_other"), 0);
	OCTO_CHECK_STR_EQ(test_log_get(), "");
	octo_store_shutdown();

	/* The versions survive a restart. */
	OCTO_CHECK_INT_EQ(octo_store_init(test_path("migrate.db")), 0);
	OCTO_CHECK_INT_EQ(octo_store_version("res_security"), 3);
	OCTO_CHECK_INT_EQ(octo_store_migrate("res_security", test_v2, 3), 0);
	OCTO_CHECK_INT_EQ(test_count("bans"), 1);
	octo_store_shutdown();
}

OCTO_TEST(migration_to_an_older_build_is_refused)
{
	OCTO_CHECK_INT_EQ(test_open("newer.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("res_security", test_v2, 3), 3);
	test_log_clear();
	OCTO_CHECK_INT_EQ(octo_store_migrate("res_security", test_v1, 2), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(test_log_get(), "store: the tables of res_security are at version 3, "
					  "newer than this build knows (2)\n");
	OCTO_CHECK_INT_EQ(octo_store_version("res_security"), 3);
	octo_store_shutdown();
}

OCTO_TEST(failed_migration_step_changes_nothing)
{
	static const char *const bad[] = {
		"CREATE TABLE a(x INTEGER)",
		"INSERT INTO a VALUES(1)",
		"CREATE TABL b(y)",
	};
	int64_t n = -1;

	OCTO_CHECK_INT_EQ(test_open("badstep.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("mod_bad", bad, 3), OCTO_EFAIL);
	OCTO_CHECK_STR_EQ(test_log_get(),
			  "store: mod_bad: schema step 3 failed: near \"TABL\": syntax error\n");
	OCTO_CHECK_INT_EQ(octo_store_version("mod_bad"), 0);
	/* Steps 1 and 2 were rolled back with it. */
	OCTO_CHECK_INT_EQ(octo_store_query_int("SELECT count(*) FROM sqlite_master WHERE name = ?",
					       OCTO_STORE_ARGS(OCTO_STORE_T("a")), &n),
			  0);
	OCTO_CHECK_INT_EQ(n, 0);
	/* Fixed in the next build: everything applies. */
	OCTO_CHECK_INT_EQ(octo_store_migrate("mod_bad", bad, 2), 2);
	OCTO_CHECK_INT_EQ(test_count("a"), 1);
	octo_store_shutdown();
}

OCTO_TEST(migration_arguments_are_checked)
{
	static const char *const holes[] = { "CREATE TABLE a(x)", NULL };

	OCTO_CHECK_INT_EQ(test_open("migargs.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("", holes, 1), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_store_migrate("x", holes, 2), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_store_migrate("x", NULL, 1), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(test_log_get(), "store: a schema owner is a name of 1..64 characters\n"
					  "store: x: schema step 2 is missing\n"
					  "store: x: no schema steps given\n");
	OCTO_CHECK_INT_EQ(octo_store_migrate("x", NULL, 0), 0);
	octo_store_shutdown();
}

/* ---------------------------------------------------------------- synchronous */
static const char *const test_kv_schema[] = {
	"CREATE TABLE kv(id INTEGER PRIMARY KEY, k TEXT UNIQUE NOT NULL, v TEXT, n INTEGER)",
};

struct test_rows {
	int seen;
	char k[8][128];
	char v[8][128];
	int64_t n[8];
	bool vnull[8];
};

static int test_collect(const struct octo_store_row *row, void *data)
{
	struct test_rows *r = data;
	const char *k = octo_store_row_text(row, 0), *v = octo_store_row_text(row, 1);

	if (r->seen < 8) {
		snprintf(r->k[r->seen], sizeof(r->k[0]), "%s", k ? k : "(null)");
		snprintf(r->v[r->seen], sizeof(r->v[0]), "%s", v ? v : "(null)");
		r->vnull[r->seen] = octo_store_row_is_null(row, 1);
		r->n[r->seen] = octo_store_row_int(row, 2);
	}
	r->seen++;
	return 0;
}

OCTO_TEST(exec_and_query_with_parameters)
{
	struct test_rows rows = { 0 };
	int64_t id = 0;

	OCTO_CHECK_INT_EQ(test_open("sync.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("test", test_kv_schema, 1), 1);
	OCTO_CHECK_INT_EQ(octo_store_insert("INSERT INTO kv(k, v, n) VALUES(?, ?, ?)",
					    OCTO_STORE_ARGS(OCTO_STORE_T("a"), OCTO_STORE_T("x"),
							    OCTO_STORE_I(-7)),
					    &id),
			  1);
	OCTO_CHECK_INT_EQ(id, 1);
	OCTO_CHECK_INT_EQ(octo_store_insert("INSERT INTO kv(k, v, n) VALUES(?, ?, ?)",
					    OCTO_STORE_ARGS(OCTO_STORE_T("b"), OCTO_STORE_N,
							    OCTO_STORE_I(9000000000LL)),
					    &id),
			  1);
	OCTO_CHECK_INT_EQ(id, 2);
	OCTO_CHECK_INT_EQ(octo_store_exec("INSERT INTO kv(k, v) VALUES(?, ?)",
					  OCTO_STORE_ARGS(OCTO_STORE_T("c"), OCTO_STORE_T(NULL))),
			  1);
	/* exec returns the rows changed; 0 for statements that change none. */
	OCTO_CHECK_INT_EQ(octo_store_exec("UPDATE kv SET n = n + 1 WHERE n IS NOT NULL",
					  OCTO_STORE_NOARGS),
			  2);
	OCTO_CHECK_INT_EQ(octo_store_exec("CREATE TABLE other(x)", OCTO_STORE_NOARGS), 0);
	OCTO_CHECK_INT_EQ(octo_store_exec("SELECT * FROM kv", OCTO_STORE_NOARGS), 0);

	OCTO_CHECK_INT_EQ(octo_store_query("SELECT k, v, n FROM kv WHERE id >= ? ORDER BY k",
					   OCTO_STORE_ARGS(OCTO_STORE_I(1)), test_collect, &rows),
			  3);
	OCTO_CHECK_INT_EQ(rows.seen, 3);
	OCTO_CHECK_STR_EQ(rows.k[0], "a");
	OCTO_CHECK_STR_EQ(rows.v[0], "x");
	OCTO_CHECK_INT_EQ(rows.n[0], -6);
	OCTO_CHECK_STR_EQ(rows.v[1], "(null)");
	OCTO_CHECK(rows.vnull[1]);
	OCTO_CHECK_INT_EQ(rows.n[1], 9000000001LL);
	OCTO_CHECK(rows.vnull[2]);
	OCTO_CHECK_INT_EQ(octo_store_query_int("SELECT n FROM kv WHERE k = ?",
					       OCTO_STORE_ARGS(OCTO_STORE_T("zz")), &id),
			  OCTO_ENOTFOUND);
	OCTO_CHECK_STR_EQ(test_log_get(), "");
	octo_store_shutdown();
}

static int test_row_names(const struct octo_store_row *row, void *data)
{
	char *out = data;

	snprintf(out, 128, "%d %s %s %s", octo_store_row_columns(row), octo_store_row_name(row, 0),
		 octo_store_row_name(row, 1), octo_store_row_name(row, 2) ? "?" : "none");
	return 1; /* stop after the first row */
}

OCTO_TEST(query_stops_when_the_callback_says_so)
{
	char names[128] = "";

	OCTO_CHECK_INT_EQ(test_open("stop.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_query("SELECT 1 AS one, 2 AS two UNION ALL SELECT 3, 4",
					   OCTO_STORE_NOARGS, test_row_names, names),
			  1);
	OCTO_CHECK_STR_EQ(names, "2 one two none");
	OCTO_CHECK_INT_EQ(octo_store_query("SELECT 1", OCTO_STORE_NOARGS, NULL, NULL), OCTO_EINVAL);
	octo_store_shutdown();
}

OCTO_TEST(hostile_text_is_data_not_sql)
{
	static const char *const hostile[] = {
		"Robert'); DROP TABLE kv;--",
		"' OR '1'='1",
		"\"; DELETE FROM kv; SELECT \"",
		"a\\'b%_?:1 @x $y",
		"line\nbreak\ttab \xc3\xa8 \xe2\x82\xac",
	};
	char back[128];

	OCTO_CHECK_INT_EQ(test_open("hostile.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("test", test_kv_schema, 1), 1);
	for (size_t i = 0; i < OCTO_ARRAY_LEN(hostile); i++)
		OCTO_CHECK_INT_EQ(octo_store_exec("INSERT INTO kv(k, v) VALUES(?, ?)",
						  OCTO_STORE_ARGS(OCTO_STORE_T(hostile[i]),
								  OCTO_STORE_T(hostile[i]))),
				  1);
	OCTO_CHECK_INT_EQ(test_count("kv"), (long long)OCTO_ARRAY_LEN(hostile));
	for (size_t i = 0; i < OCTO_ARRAY_LEN(hostile); i++) {
		back[0] = '\0';
		OCTO_CHECK_INT_EQ(octo_store_query_text("SELECT v FROM kv WHERE k = ?",
							OCTO_STORE_ARGS(OCTO_STORE_T(hostile[i])),
							back, sizeof(back)),
				  0);
		OCTO_CHECK_STR_EQ(back, hostile[i]);
	}
	/* The same through the queue. */
	OCTO_CHECK_INT_EQ(octo_store_queue("UPDATE kv SET v = ? WHERE k = ?",
					   OCTO_STORE_ARGS(OCTO_STORE_T("'); DROP TABLE kv;--"),
							   OCTO_STORE_T(hostile[1]))),
			  0);
	OCTO_CHECK_INT_EQ(octo_store_flush(), 0);
	OCTO_CHECK_INT_EQ(octo_store_query_text("SELECT v FROM kv WHERE k = ?",
						OCTO_STORE_ARGS(OCTO_STORE_T(hostile[1])), back,
						sizeof(back)),
			  0);
	OCTO_CHECK_STR_EQ(back, "'); DROP TABLE kv;--");
	OCTO_CHECK_INT_EQ(test_count("kv"), (long long)OCTO_ARRAY_LEN(hostile));
	OCTO_CHECK_STR_EQ(test_log_get(), "");
	octo_store_shutdown();
}

OCTO_TEST(statement_errors_are_logged_once_with_sqlite_message)
{
	OCTO_CHECK_INT_EQ(test_open("errors.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("test", test_kv_schema, 1), 1);
	OCTO_CHECK_INT_EQ(octo_store_exec("INSERT INTO kv(k) VALUES(?)",
					  OCTO_STORE_ARGS(OCTO_STORE_T("dup"))),
			  1);
	test_log_clear();
	OCTO_CHECK_INT_EQ(octo_store_exec("INSERT INTO kv(k) VALUES(?)",
					  OCTO_STORE_ARGS(OCTO_STORE_T("dup"))),
			  OCTO_EEXIST);
	OCTO_CHECK_INT_EQ(octo_store_exec("INSERT INTO kv(k, v) VALUES(?, ?)",
					  OCTO_STORE_ARGS(OCTO_STORE_T("x"))),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_store_exec("SELEC 1", OCTO_STORE_NOARGS), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_store_exec("DELETE FROM kv; DROP TABLE kv", OCTO_STORE_NOARGS),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_store_exec("INSERT INTO kv(k) VALUES(NULL)", OCTO_STORE_NOARGS),
			  OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_store_exec("  -- only a comment", OCTO_STORE_NOARGS), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(test_log_get(),
			  "store: \"INSERT INTO kv(k) VALUES(?)\": UNIQUE constraint failed: kv.k\n"
			  "store: \"INSERT INTO kv(k, v) VALUES(?, ?)\": 2 parameters, 1 given\n"
			  "store: cannot prepare \"SELEC 1\": near \"SELEC\": syntax error\n"
			  "store: \"DELETE FROM kv; DROP TABLE kv\": more than one statement (one "
			  "per call)\n"
			  "store: \"INSERT INTO kv(k) VALUES(NULL)\": NOT NULL constraint failed: "
			  "kv.k\n"
			  "store: \"-- only a comment\": no statement\n");
	/* The table is still there and a trailing ';' is fine. */
	OCTO_CHECK_INT_EQ(octo_store_exec("DELETE FROM kv ; ", OCTO_STORE_NOARGS), 1);
	octo_store_shutdown();
}

OCTO_TEST(long_statements_are_cut_in_messages)
{
	char sql[400];

	OCTO_CHECK_INT_EQ(test_open("long.db"), 0);
	snprintf(sql, sizeof(sql), "SELECT x\nFROM %0200d", 0);
	OCTO_CHECK_INT_EQ(octo_store_exec(sql, OCTO_STORE_NOARGS), OCTO_EINVAL);
	OCTO_CHECK_CONTAINS(test_log_get(), "store: cannot prepare \"SELECT x FROM 00000000");
	OCTO_CHECK_CONTAINS(test_log_get(), "0000...\": ");
	OCTO_CHECK_INT_EQ(test_log_lines(), 1);
	octo_store_shutdown();
}

/* ---------------------------------------------------------------- transactions */
static int test_tx_two(void *data)
{
	int *fail = data;

	if (octo_store_exec("INSERT INTO kv(k) VALUES('t1')", OCTO_STORE_NOARGS) != 1)
		return 10;
	if (octo_store_exec("INSERT INTO kv(k) VALUES('t2')", OCTO_STORE_NOARGS) != 1)
		return 11;
	return *fail;
}

static int test_tx_inner_fails(void *data)
{
	octo_store_exec("INSERT INTO kv(k) VALUES('inner')", OCTO_STORE_NOARGS);
	return 7;
}

static int test_tx_outer(void *data)
{
	int zero = 0;

	if (octo_store_transaction(test_tx_two, &zero))
		return 20;
	/* A nested transaction that fails rolls back only itself. */
	if (octo_store_transaction(test_tx_inner_fails, NULL) != 7)
		return 21;
	return octo_store_flush() == OCTO_EINVAL ? 0 : 22;
}

OCTO_TEST(transactions_commit_roll_back_and_nest)
{
	int fail = 5, ok = 0;
	int64_t n = -1;

	OCTO_CHECK_INT_EQ(test_open("tx.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("test", test_kv_schema, 1), 1);
	OCTO_CHECK_INT_EQ(octo_store_transaction(test_tx_two, &fail), 5);
	OCTO_CHECK_INT_EQ(test_count("kv"), 0);
	OCTO_CHECK_INT_EQ(octo_store_transaction(test_tx_two, &ok), 0);
	OCTO_CHECK_INT_EQ(test_count("kv"), 2);
	OCTO_CHECK_INT_EQ(octo_store_exec("DELETE FROM kv", OCTO_STORE_NOARGS), 2);
	test_log_clear();
	OCTO_CHECK_INT_EQ(octo_store_transaction(test_tx_outer, NULL), 0);
	OCTO_CHECK_STR_EQ(test_log_get(),
			  "store: flush inside a transaction would wait for itself\n");
	OCTO_CHECK_INT_EQ(test_count("kv"), 2);
	OCTO_CHECK_INT_EQ(octo_store_query_int("SELECT count(*) FROM kv WHERE k = 'inner'",
					       OCTO_STORE_NOARGS, &n),
			  0);
	OCTO_CHECK_INT_EQ(n, 0);
	octo_store_shutdown();
}

/* A callback that writes on the same thread, with the query still running. */
static int test_nested_write(const struct octo_store_row *row, void *data)
{
	const char *k = octo_store_row_text(row, 0);
	char nk[160];

	snprintf(nk, sizeof(nk), "%s-copy", k ? k : "?");
	return octo_store_exec("INSERT INTO other(k) VALUES(?)",
			       OCTO_STORE_ARGS(OCTO_STORE_T(nk))) == 1
		       ? 0
		       : 1;
}

OCTO_TEST(callbacks_may_call_the_store)
{
	static const char *const schema[] = {
		"CREATE TABLE kv(k TEXT); CREATE TABLE other(k TEXT);"
		"INSERT INTO kv VALUES('a'), ('b'), ('c')",
	};
	struct octo_store_stats st;

	OCTO_CHECK_INT_EQ(test_open("nested.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("test", schema, 1), 1);
	OCTO_CHECK_INT_EQ(octo_store_query("SELECT k FROM kv ORDER BY k", OCTO_STORE_NOARGS,
					   test_nested_write, NULL),
			  3);
	OCTO_CHECK_INT_EQ(test_count("other"), 3);
	octo_store_stats(&st);
	OCTO_CHECK_INT_EQ(st.connections, 1);
	octo_store_shutdown();
}

/* ---------------------------------------------------------------- the queue */
static const char *const test_q_schema[] = {
	"CREATE TABLE q(id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER, k TEXT UNIQUE)",
};

static int test_seq_check(const struct octo_store_row *row, void *data)
{
	int64_t *expect = data;

	if (octo_store_row_int(row, 0) != *expect)
		return 1;
	(*expect)++;
	return 0;
}

OCTO_TEST(queue_keeps_order_and_flush_waits)
{
	struct octo_store_stats st;
	int64_t expect = 0, v = -1;

	OCTO_CHECK_INT_EQ(test_open("queue.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("test", test_q_schema, 1), 1);
	for (int i = 0; i < 2500; i++)
		OCTO_CHECK_INT_EQ(octo_store_queue("INSERT INTO q(seq) VALUES(?)",
						   OCTO_STORE_ARGS(OCTO_STORE_I(i))),
				  0);
	/* Later statements see earlier ones: queue order is execution order. */
	OCTO_CHECK_INT_EQ(
		octo_store_queue("UPDATE q SET seq = -1 WHERE id = 2500", OCTO_STORE_NOARGS), 0);
	OCTO_CHECK_INT_EQ(
		octo_store_queue("UPDATE q SET seq = 2499 WHERE id = 2500", OCTO_STORE_NOARGS), 0);
	OCTO_CHECK_INT_EQ(octo_store_flush(), 0);
	OCTO_CHECK_INT_EQ(test_count("q"), 2500);
	OCTO_CHECK_INT_EQ(octo_store_query("SELECT seq FROM q ORDER BY id", OCTO_STORE_NOARGS,
					   test_seq_check, &expect),
			  2500);
	OCTO_CHECK_INT_EQ(expect, 2500);
	OCTO_CHECK_INT_EQ(octo_store_query_int("SELECT seq FROM q WHERE id = 2500",
					       OCTO_STORE_NOARGS, &v),
			  0);
	OCTO_CHECK_INT_EQ(v, 2499);
	octo_store_stats(&st);
	OCTO_CHECK_INT_EQ(st.queued, 2502);
	OCTO_CHECK_INT_EQ(st.committed, 2502);
	OCTO_CHECK_INT_EQ(st.failed, 0);
	OCTO_CHECK_INT_EQ(st.pending, 0);
	/* Batched: at least 3 transactions (at most 1000 statements each), and
	 * far fewer than one per statement. */
	OCTO_CHECK(st.batches >= 3 && st.batches <= 2502 / 2);
	OCTO_CHECK_INT_EQ(octo_store_flush(), 0); /* nothing queued: returns at once */
	OCTO_CHECK_STR_EQ(test_log_get(), "");
	octo_store_shutdown();
}

OCTO_TEST(queue_commits_without_flush)
{
	int64_t n = 0;

	OCTO_CHECK_INT_EQ(test_open("timer.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("test", test_q_schema, 1), 1);
	OCTO_CHECK_INT_EQ(octo_store_queue("INSERT INTO q(seq) VALUES(1)", OCTO_STORE_NOARGS), 0);
	/* One statement is below the batch size: the timer commits it. */
	for (int i = 0; i < 250 && n == 0; i++) {
		struct timespec ts = { 0, 20 * 1000000L };

		nanosleep(&ts, NULL);
		n = test_count("q");
	}
	OCTO_CHECK_INT_EQ(n, 1);
	octo_store_shutdown();
}

OCTO_TEST(failed_queued_statement_is_skipped_and_logged)
{
	struct octo_store_stats st;
	int64_t n = -1;

	OCTO_CHECK_INT_EQ(test_open("qfail.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("test", test_q_schema, 1), 1);
	test_log_clear();
	OCTO_CHECK_INT_EQ(octo_store_queue("INSERT INTO q(seq, k) VALUES(?, ?)",
					   OCTO_STORE_ARGS(OCTO_STORE_I(1), OCTO_STORE_T("a"))),
			  0);
	OCTO_CHECK_INT_EQ(octo_store_queue("INSERT INTO q(seq, k) VALUES(?, ?)",
					   OCTO_STORE_ARGS(OCTO_STORE_I(2), OCTO_STORE_T("a"))),
			  0);
	OCTO_CHECK_INT_EQ(octo_store_queue("INSERT INTO q(seq, k) VALUES(?, ?)",
					   OCTO_STORE_ARGS(OCTO_STORE_I(3), OCTO_STORE_T("b"))),
			  0);
	for (int i = 0; i < 5; i++)
		OCTO_CHECK_INT_EQ(octo_store_queue("INSERT INTO nosuch VALUES(?)",
						   OCTO_STORE_ARGS(OCTO_STORE_I(i))),
				  0);
	OCTO_CHECK_INT_EQ(octo_store_queue("INSERT INTO q(seq, k) VALUES(?, ?)",
					   OCTO_STORE_ARGS(OCTO_STORE_I(4), OCTO_STORE_T("c"))),
			  0);
	OCTO_CHECK_INT_EQ(octo_store_flush(), 0);
	OCTO_CHECK_INT_EQ(test_count("q"), 3);
	OCTO_CHECK_INT_EQ(octo_store_query_int("SELECT sum(seq) FROM q", OCTO_STORE_NOARGS, &n), 0);
	OCTO_CHECK_INT_EQ(n, 1 + 3 + 4);
	OCTO_CHECK_STR_EQ(test_log_get(),
			  "store: queued \"INSERT INTO q(seq, k) VALUES(?, ?)\": UNIQUE constraint "
			  "failed: q.k\n"
			  "store: cannot prepare \"INSERT INTO nosuch VALUES(?)\": no such table: "
			  "nosuch\n"
			  "store: writer: 4 more queued statements failed the same way\n");
	octo_store_stats(&st);
	OCTO_CHECK_INT_EQ(st.committed, 3);
	OCTO_CHECK_INT_EQ(st.failed, 6);
	octo_store_shutdown();
}

OCTO_TEST(queue_arguments_are_checked)
{
	struct octo_store_arg bad = { .type = (enum octo_store_type)42 };

	OCTO_CHECK_INT_EQ(test_open("qargs.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_queue(NULL, OCTO_STORE_NOARGS), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_store_queue("SELECT ?", &bad, 1), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_store_exec("SELECT ?", &bad, 1), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(test_log_get(), "store: queue: no statement given\n"
					  "store: queue: parameter 1 has an unknown type\n"
					  "store: \"SELECT ?\": parameter 1 has an unknown type\n");
	octo_store_shutdown();
}

/* ---------------------------------------------------------------- reopen */
OCTO_TEST(reopen_keeps_data_and_shutdown_commits_the_queue)
{
	char v[64];

	OCTO_CHECK_INT_EQ(test_open("reopen.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("test", test_kv_schema, 1), 1);
	OCTO_CHECK_INT_EQ(octo_store_exec("INSERT INTO kv(k, v) VALUES(?, ?)",
					  OCTO_STORE_ARGS(OCTO_STORE_T("sync"), OCTO_STORE_T("1"))),
			  1);
	for (int i = 0; i < 50; i++) {
		char k[16];

		snprintf(k, sizeof(k), "q%d", i);
		OCTO_CHECK_INT_EQ(
			octo_store_queue("INSERT INTO kv(k, v) VALUES(?, ?)",
					 OCTO_STORE_ARGS(OCTO_STORE_T(k), OCTO_STORE_T("2"))),
			0);
	}
	/* No flush: shutdown commits what is queued. */
	octo_store_shutdown();
	OCTO_CHECK_INT_EQ(octo_store_init(test_path("reopen.db")), 0);
	OCTO_CHECK_INT_EQ(test_count("kv"), 51);
	OCTO_CHECK_INT_EQ(octo_store_query_text("SELECT v FROM kv WHERE k = ?",
						OCTO_STORE_ARGS(OCTO_STORE_T("q49")), v, sizeof(v)),
			  0);
	OCTO_CHECK_STR_EQ(v, "2");
	OCTO_CHECK_INT_EQ(octo_store_version("test"), 1);
	OCTO_CHECK_STR_EQ(test_log_get(), "");
	octo_store_shutdown();
}

/* ---------------------------------------------------------------- threads */
#define TEST_THREADS 8
#define TEST_PER_THREAD 150

static int test_thread_fail;
static pthread_mutex_t test_thread_lock = PTHREAD_MUTEX_INITIALIZER;

static int test_thread_tx(void *data)
{
	const char *k = data;

	if (octo_store_exec("INSERT INTO kv(k, v) VALUES(?, 'tx')",
			    OCTO_STORE_ARGS(OCTO_STORE_T(k))) != 1)
		return 1;
	return octo_store_exec("UPDATE kv SET n = 1 WHERE k = ?",
			       OCTO_STORE_ARGS(OCTO_STORE_T(k))) == 1
		       ? 0
		       : 1;
}

static void *test_thread(void *arg)
{
	int t = (int)(intptr_t)arg, bad = 0;

	for (int i = 0; i < TEST_PER_THREAD; i++) {
		char k[32];
		int64_t n = -1;

		snprintf(k, sizeof(k), "s%d-%d", t, i);
		if (octo_store_exec("INSERT INTO kv(k, n) VALUES(?, ?)",
				    OCTO_STORE_ARGS(OCTO_STORE_T(k), OCTO_STORE_I(i))) != 1)
			bad++;
		if (octo_store_query_int("SELECT n FROM kv WHERE k = ?",
					 OCTO_STORE_ARGS(OCTO_STORE_T(k)), &n) ||
		    n != i)
			bad++;
		snprintf(k, sizeof(k), "q%d-%d", t, i);
		if (octo_store_queue("INSERT INTO kv(k, n) VALUES(?, ?)",
				     OCTO_STORE_ARGS(OCTO_STORE_T(k), OCTO_STORE_I(i))))
			bad++;
		if (i % 25 == 0) {
			snprintf(k, sizeof(k), "t%d-%d", t, i);
			if (octo_store_transaction(test_thread_tx, k))
				bad++;
		}
		if (i % 50 == 0 && octo_store_flush())
			bad++;
	}
	pthread_mutex_lock(&test_thread_lock);
	test_thread_fail += bad;
	pthread_mutex_unlock(&test_thread_lock);
	return NULL;
}

OCTO_TEST(many_threads_at_once)
{
	pthread_t th[TEST_THREADS];
	struct octo_store_stats st;
	int64_t n = -1;

	OCTO_CHECK_INT_EQ(test_open("threads.db"), 0);
	OCTO_CHECK_INT_EQ(octo_store_migrate("test", test_kv_schema, 1), 1);
	test_thread_fail = 0;
	for (int t = 0; t < TEST_THREADS; t++)
		OCTO_CHECK_INT_EQ(pthread_create(&th[t], NULL, test_thread, (void *)(intptr_t)t),
				  0);
	for (int t = 0; t < TEST_THREADS; t++)
		pthread_join(th[t], NULL);
	OCTO_CHECK_INT_EQ(test_thread_fail, 0);
	OCTO_CHECK_INT_EQ(octo_store_flush(), 0);
	OCTO_CHECK_INT_EQ(test_count("kv"), TEST_THREADS * (TEST_PER_THREAD * 2 + 6));
	OCTO_CHECK_INT_EQ(octo_store_query_int("SELECT count(*) FROM kv WHERE v = 'tx' AND n = 1",
					       OCTO_STORE_NOARGS, &n),
			  0);
	OCTO_CHECK_INT_EQ(n, TEST_THREADS * 6);
	octo_store_stats(&st);
	OCTO_CHECK(st.connections >= 1 && st.connections <= OCTO_STORE_POOL);
	OCTO_CHECK_INT_EQ(st.committed, TEST_THREADS * TEST_PER_THREAD);
	OCTO_CHECK_STR_EQ(test_log_get(), "");
	octo_store_shutdown();
}

OCTO_TEST(zz_cleanup)
{
	char cmd[600];

	if (test_sink > 0)
		octo_log_sink_remove(test_sink);
	test_sink = 0;
	if (test_dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
		OCTO_CHECK_INT_EQ(system(cmd), 0);
	}
}

OCTO_TEST_MAIN()
