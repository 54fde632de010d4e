/*
 * test_cdr.c - unit tests of the code the CDR backends share
 * (modules/services/cdr_common.c): cdr.conf, times, CSV lines and the
 * reader, filters, the spool with a fake backend that can fail (and the step
 * logs it carries, its ticks), the call history rules and pricelists.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "octo/cdr.h"
#include "octo/config.h"

#include "../../modules/services/cdr_common.h"
#include "octo_test.h"

/* ---------------------------------------------------------------- helpers */

/* Writes `text` as DIR/cdr.conf in a new temp folder; returns the folder. */
static char *test_conf_dir(const char *text)
{
	char *dir = strdup("/tmp/test_cdr.XXXXXX"), path[256];
	FILE *fp;

	if (!mkdtemp(dir))
		abort();
	if (text) {
		snprintf(path, sizeof(path), "%s/cdr.conf", dir);
		fp = fopen(path, "w");
		fputs(text, fp);
		fclose(fp);
	}
	return dir;
}

static void test_rm_dir(char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/cdr.conf", dir);
	unlink(path);
	rmdir(dir);
	free(dir);
}

/* Loads `text` as cdr.conf; returns the rc, diagnostics joined by "|". */
static int test_load(const char *text, enum cdr_conf_scope scope, struct cdr_conf *conf,
		     char *msgs, size_t size)
{
	struct octo_diags diags = { 0 };
	char *dir = test_conf_dir(text);
	int rc;

	memset(conf, 0, sizeof(*conf));
	rc = cdr_conf_load(dir, scope, conf, &diags);
	msgs[0] = '\0';
	for (size_t i = 0; i < diags.count; i++)
		snprintf(msgs + strlen(msgs), size - strlen(msgs), "%s%s", i ? "|" : "",
			 diags.items[i].message);
	octo_diags_free(&diags);
	test_rm_dir(dir);
	return rc;
}

static void test_record(struct octo_cdr *c, int n)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->uniqueid, sizeof(c->uniqueid), "1764151200.%d", n);
	snprintf(c->linkedid, sizeof(c->linkedid), "1764151200.%d", n);
	snprintf(c->channel, sizeof(c->channel), "Test/100-%08d", n);
	snprintf(c->caller, sizeof(c->caller), "%d", 100 + n % 3);
	snprintf(c->caller_name, sizeof(c->caller_name), "Caller %d", n);
	snprintf(c->dialed, sizeof(c->dialed), "0612345%03d", n);
	snprintf(c->called, sizeof(c->called), "+39612345%03d", n);
	snprintf(c->procedure, sizeof(c->procedure), "users");
	snprintf(c->hangup_side, sizeof(c->hangup_side), "caller");
	c->disposition = OCTO_CDR_ANSWERED;
	c->cause = 16;
	c->start_us = 1795687200000000ull + (uint64_t)n * 60000000u;
	c->answer_us = c->start_us + 2500000u;
	c->end_us = c->start_us + 12750000u;
	c->duration = 12;
	c->billsec = 10;
	c->cost = 0.25;
}

/* ---------------------------------------------------------------- cdr.conf */

OCTO_TEST(conf_defaults_without_a_file)
{
	struct cdr_conf conf;
	char msgs[1024];

	OCTO_CHECK_INT_EQ(test_load(NULL, CDR_CONF_ALL, &conf, msgs, sizeof(msgs)), 0);
	OCTO_CHECK_STR_EQ(msgs, "");
	OCTO_CHECK_INT_EQ(conf.general.backends.count, 1);
	OCTO_CHECK_STR_EQ(conf.general.backends.items[0], "sqlite");
	OCTO_CHECK_STR_EQ(conf.general.cli_backend, "sqlite");
	OCTO_CHECK_INT_EQ(conf.general.max_queue, 100000);
	OCTO_CHECK_INT_EQ(conf.general.debug_days, 7);
	OCTO_CHECK_STR_EQ(conf.sqlite.file, "cdr.db");
	OCTO_CHECK_INT_EQ(conf.sqlite.batch, 100);
	OCTO_CHECK_INT_EQ(conf.sqlite.flush_interval, 200);
	OCTO_CHECK_STR_EQ(conf.csv.file, "cdr.csv");
	OCTO_CHECK(cdr_conf_enabled(&conf, "sqlite"));
	OCTO_CHECK(!cdr_conf_enabled(&conf, "csv"));
	cdr_conf_free(&conf);
}

OCTO_TEST(conf_values)
{
	struct cdr_conf conf;
	char msgs[1024];

	OCTO_CHECK_INT_EQ(test_load("[general]\nbackends = sqlite, csv\ncli_backend = csv\n"
				    "debug_days = 0\n"
				    "[sqlite]\nfile = /var/cdr/calls.db\nbatch = 500\n"
				    "flush_interval = 1s\n[csv]\nfile = calls.csv\n"
				    "flush_interval = 50ms\n",
				    CDR_CONF_ALL, &conf, msgs, sizeof(msgs)),
			  0);
	OCTO_CHECK_STR_EQ(msgs, "");
	OCTO_CHECK_INT_EQ(conf.general.backends.count, 2);
	OCTO_CHECK(cdr_conf_enabled(&conf, "csv"));
	OCTO_CHECK_STR_EQ(conf.general.cli_backend, "csv");
	OCTO_CHECK_INT_EQ(conf.general.debug_days, 0);
	OCTO_CHECK_STR_EQ(conf.sqlite.file, "/var/cdr/calls.db");
	OCTO_CHECK_INT_EQ(conf.sqlite.batch, 500);
	OCTO_CHECK_INT_EQ(conf.sqlite.flush_interval, 1000);
	OCTO_CHECK_STR_EQ(conf.csv.file, "calls.csv");
	OCTO_CHECK_INT_EQ(conf.csv.flush_interval, 50);
	cdr_conf_free(&conf);
}

OCTO_TEST(conf_errors_have_file_and_line)
{
	struct cdr_conf conf;
	char msgs[2048];

	OCTO_CHECK_INT_EQ(test_load("[general]\nbackends = sqlite, mysql\n", CDR_CONF_ALL, &conf,
				    msgs, sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_STR_EQ(msgs, "cdr.conf:2: [general] backends: \"mysql\" is not a CDR backend "
				"(sqlite, csv, pgsql)");

	OCTO_CHECK_INT_EQ(test_load("[general]\nbackends = csv\ncli_backend = sqlite\n",
				    CDR_CONF_ALL, &conf, msgs, sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_STR_EQ(msgs, "cdr.conf:3: [general] cli_backend: \"sqlite\" is not one of the "
				"enabled backends");

	OCTO_CHECK_INT_EQ(test_load("[sqlite]\nbatch = 0\n", CDR_CONF_ALL, &conf, msgs,
				    sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_CONTAINS(msgs, "cdr.conf:2: [sqlite] batch: \"0\" ");
	OCTO_CHECK_CONTAINS(msgs, "1..10000");

	OCTO_CHECK_INT_EQ(test_load("[csv]\nfile =\n", CDR_CONF_ALL, &conf, msgs, sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_STR_EQ(msgs, "cdr.conf:2: [csv] file: a file name is needed");
	OCTO_CHECK(conf.general.cli_backend == NULL); /* freed on error */

	OCTO_CHECK_INT_EQ(test_load("[general]\n\ndebug_days = 3651\n", CDR_CONF_ALL, &conf, msgs,
				    sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_CONTAINS(msgs, "cdr.conf:3: [general] debug_days: \"3651\" ");
	OCTO_CHECK_CONTAINS(msgs, "0..3650");
}

OCTO_TEST(conf_warnings)
{
	struct cdr_conf conf;
	char msgs[2048];

	OCTO_CHECK_INT_EQ(test_load("[general]\nbackends =\n[mysql]\nhost = db\n", CDR_CONF_ALL,
				    &conf, msgs, sizeof(msgs)),
			  0);
	OCTO_CHECK_STR_EQ(msgs, "cdr.conf:2: [general] backends: none enabled, calls leave no "
				"CDR|cdr.conf:3: unknown section [mysql] (cdr.conf has [general], "
				"[sqlite], [csv] and [pgsql])");
	cdr_conf_free(&conf);

	OCTO_CHECK_INT_EQ(test_load("[general]\nbackend = csv\n", CDR_CONF_ALL, &conf, msgs,
				    sizeof(msgs)),
			  0);
	OCTO_CHECK_CONTAINS(msgs, "cdr.conf:2: [general] unknown option \"backend\"");
	cdr_conf_free(&conf);
}

OCTO_TEST(conf_csv_scope_reports_only_its_keys)
{
	struct cdr_conf conf;
	char msgs[2048];

	/* res_cdr_sqlite reports these; res_cdr_csv must not say them twice. */
	OCTO_CHECK_INT_EQ(test_load("[general]\nbackends = csv\ncli_backend = sqlite\n"
				    "typo = 1\n[sqlite]\nbatch = 0\n[other]\n",
				    CDR_CONF_CSV, &conf, msgs, sizeof(msgs)),
			  0);
	OCTO_CHECK_STR_EQ(msgs, "");
	OCTO_CHECK(cdr_conf_enabled(&conf, "csv"));
	OCTO_CHECK_STR_EQ(conf.csv.file, "cdr.csv");
	cdr_conf_free(&conf);
}

OCTO_TEST(conf_path)
{
	char *p;

	octo_paths.data_dir = "/var/lib/octo";
	p = cdr_conf_path("cdr.db");
	OCTO_CHECK_STR_EQ(p, "/var/lib/octo/cdr.db");
	free(p);
	p = cdr_conf_path("/srv/cdr/x.db");
	OCTO_CHECK_STR_EQ(p, "/srv/cdr/x.db");
	free(p);
	octo_paths.data_dir = NULL;
}

/* ---------------------------------------------------------------- times */

OCTO_TEST(iso_times)
{
	char buf[32];
	uint64_t us = 1;

	cdr_time_iso(1795687200123456ull, buf, sizeof(buf));
	OCTO_CHECK_STR_EQ(buf, "2026-11-26T10:00:00.123Z");
	cdr_time_iso(0, buf, sizeof(buf));
	OCTO_CHECK_STR_EQ(buf, "");
	OCTO_CHECK(cdr_time_parse_iso("2026-11-26T10:00:00.123Z", &us) == NULL);
	OCTO_CHECK_INT_EQ(us, 1795687200123000ll);
	OCTO_CHECK(cdr_time_parse_iso("", &us) == NULL);
	OCTO_CHECK_INT_EQ(us, 0);
	OCTO_CHECK_STR_EQ(cdr_time_parse_iso("2026-11-26 10:00:00", &us),
			  "is not a time like 2026-11-26T10:00:00.000Z");
	OCTO_CHECK_STR_EQ(cdr_time_parse_iso("2026-13-26T10:00:00.123Z", &us),
			  "is not a time like 2026-11-26T10:00:00.000Z");
	OCTO_CHECK(cdr_time_parse_iso("2026-11-26T10:00:00.123Zx", &us) != NULL);
}

OCTO_TEST(console_dates_are_local_time)
{
	uint64_t us = 0;
	char buf[32];

	setenv("TZ", "UTC", 1);
	tzset();
	OCTO_CHECK(cdr_date_parse("2026-11-26", &us) == NULL);
	OCTO_CHECK_INT_EQ(us, 1795651200000000ll);
	OCTO_CHECK(cdr_date_parse("2026-11-26 10:00", &us) == NULL);
	OCTO_CHECK_INT_EQ(us, 1795687200000000ll);
	cdr_time_local(1795687200123456ull, buf, sizeof(buf));
	OCTO_CHECK_STR_EQ(buf, "2026-11-26 10:00:00");

	setenv("TZ", "CET-1", 1);
	tzset();
	OCTO_CHECK(cdr_date_parse("2026-11-26 11:00", &us) == NULL);
	OCTO_CHECK_INT_EQ(us, 1795687200000000ll);
	setenv("TZ", "UTC", 1);
	tzset();

	OCTO_CHECK_STR_EQ(cdr_date_parse("2026-02-30", &us), "is not a valid date");
	OCTO_CHECK_STR_EQ(cdr_date_parse("2026-1-01", &us),
			  "is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)");
	OCTO_CHECK_STR_EQ(cdr_date_parse("2026-01-01 25:00", &us),
			  "is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)");
	OCTO_CHECK_STR_EQ(cdr_date_parse("yesterday", &us),
			  "is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)");
	OCTO_CHECK_STR_EQ(cdr_date_parse("", &us),
			  "is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM)");
}

/* ---------------------------------------------------------------- records */

OCTO_TEST(filters)
{
	struct octo_cdr c;
	struct octo_cdr_filter f = { 0 };

	test_record(&c, 1); /* caller 101, called +39612345001 */
	OCTO_CHECK(cdr_filter_match(&f, &c));
	f.user = "101";
	OCTO_CHECK(cdr_filter_match(&f, &c));
	f.user = "+39612345001";
	OCTO_CHECK(cdr_filter_match(&f, &c));
	f.user = "0612345001"; /* the dialled number is not the user */
	OCTO_CHECK(!cdr_filter_match(&f, &c));
	f.user = NULL;
	f.since_us = c.start_us;
	OCTO_CHECK(cdr_filter_match(&f, &c));
	f.since_us = c.start_us + 1;
	OCTO_CHECK(!cdr_filter_match(&f, &c));
}

OCTO_TEST(sanitize_terminates_strings)
{
	struct octo_cdr c;

	memset(&c, 'x', sizeof(c));
	c.disposition = 77;
	c.cost = 1.0 / 0.0;
	cdr_sanitize(&c);
	OCTO_CHECK_INT_EQ(strlen(c.caller), sizeof(c.caller) - 1);
	OCTO_CHECK_INT_EQ(strlen(c.userfield), sizeof(c.userfield) - 1);
	OCTO_CHECK_INT_EQ(strlen(c.hangup_side), sizeof(c.hangup_side) - 1);
	OCTO_CHECK_INT_EQ(c.disposition, OCTO_CDR_FAILED);
	OCTO_CHECK(c.cost == 0);
	OCTO_CHECK_INT_EQ(cdr_disposition_parse("NO ANSWER"), OCTO_CDR_NO_ANSWER);
	OCTO_CHECK_INT_EQ(cdr_disposition_parse("CANCELLED"), OCTO_CDR_CANCELLED);
	OCTO_CHECK_INT_EQ(cdr_disposition_parse("answered"), -1);
}

/* ---------------------------------------------------------------- CSV */

OCTO_TEST(csv_header_and_line)
{
	char buf[CDR_CSV_LINE_MAX];
	struct octo_cdr c;

	OCTO_CHECK_INT_EQ(cdr_csv_header(buf, sizeof(buf)), strlen(buf));
	OCTO_CHECK_STR_EQ(buf, "uniqueid,linkedid,start,answer,end,duration,billsec,caller,"
			       "caller_name,dialed,called,channel,dst_channel,trunk,procedure,"
			       "disposition,cause,hangup_side,userfield,cost\r\n");
	test_record(&c, 0);
	snprintf(c.caller_name, sizeof(c.caller_name), "Rossi, \"Mario\"");
	snprintf(c.userfield, sizeof(c.userfield), "two\r\nlines");
	c.answer_us = 0;
	c.disposition = OCTO_CDR_NO_ANSWER;
	c.billsec = 0;
	OCTO_CHECK_INT_EQ(cdr_csv_line(&c, buf, sizeof(buf)), strlen(buf));
	OCTO_CHECK_STR_EQ(buf, "1764151200.0,1764151200.0,2026-11-26T10:00:00.000Z,,"
			       "2026-11-26T10:00:12.750Z,12,0,100,\"Rossi, \"\"Mario\"\"\","
			       "0612345000,+39612345000,Test/100-00000000,,,users,NO ANSWER,16,"
			       "caller,\"two\r\nlines\",0.2500\r\n");
}

OCTO_TEST(csv_longest_line_fits)
{
	char buf[CDR_CSV_LINE_MAX];
	struct octo_cdr c;

	/* Every string full of quotes: each one doubles, plus its two quotes. */
	memset(&c, '"', sizeof(c));
	cdr_sanitize(&c);
	c.start_us = c.answer_us = c.end_us = UINT64_MAX / 2;
	c.duration = c.billsec = UINT32_MAX;
	c.cause = -2147483647 - 1;
	c.cost = -1e300;
	OCTO_CHECK(cdr_csv_line(&c, buf, sizeof(buf)) < sizeof(buf));
	/* A too small buffer is cut, still terminated, and the length told. */
	OCTO_CHECK(cdr_csv_line(&c, buf, 10) > 10);
	OCTO_CHECK_INT_EQ(strlen(buf), 9);
}

OCTO_TEST(csv_read_back)
{
	char line[CDR_CSV_LINE_MAX];
	struct cdr_csv_reader *r = calloc(1, sizeof(*r));
	struct octo_cdr in[3], out;
	FILE *fp = tmpfile();
	int n;

	fwrite(line, 1, cdr_csv_header(line, sizeof(line)), fp);
	for (int i = 0; i < 3; i++) {
		test_record(&in[i], i);
		if (i == 1) {
			snprintf(in[i].caller_name, sizeof(in[i].caller_name), "A \"q\", b\r\nc");
			in[i].answer_us = 0;
			in[i].disposition = OCTO_CDR_BUSY;
			in[i].cause = 17;
		}
		fwrite(line, 1, cdr_csv_line(&in[i], line, sizeof(line)), fp);
	}
	fputs("1764151200.9,\"half a line", fp);   /* being written: not a record */
	rewind(fp);
	r->fp = fp;

	n = cdr_csv_read(r);
	OCTO_CHECK_INT_EQ(n, CDR_CSV_FIELDS);
	OCTO_CHECK_STR_EQ(r->fields[0], "uniqueid");
	OCTO_CHECK_STR_EQ(cdr_csv_parse(r->fields, n, &out), "has a time that is not like "
							     "2026-11-26T10:00:00.000Z");
	for (int i = 0; i < 3; i++) {
		n = cdr_csv_read(r);
		OCTO_CHECK_INT_EQ(n, CDR_CSV_FIELDS);
		OCTO_CHECK(cdr_csv_parse(r->fields, n, &out) == NULL);
		OCTO_CHECK_STR_EQ(out.uniqueid, in[i].uniqueid);
		OCTO_CHECK_STR_EQ(out.caller_name, in[i].caller_name);
		OCTO_CHECK_STR_EQ(out.called, in[i].called);
		OCTO_CHECK_INT_EQ(out.start_us, in[i].start_us);
		OCTO_CHECK_INT_EQ(out.answer_us, in[i].answer_us);
		OCTO_CHECK_INT_EQ(out.end_us, in[i].end_us);
		OCTO_CHECK_INT_EQ(out.disposition, in[i].disposition);
		OCTO_CHECK_INT_EQ(out.cause, in[i].cause);
		OCTO_CHECK_INT_EQ(out.billsec, in[i].billsec);
		OCTO_CHECK(out.cost == 0.25);
	}
	OCTO_CHECK_INT_EQ(cdr_csv_read(r), 0);
	fclose(fp);
	free(r);
}

OCTO_TEST(csv_hostile_input)
{
	struct cdr_csv_reader *r = calloc(1, sizeof(*r));
	struct octo_cdr out;
	char *big = malloc(20000);
	FILE *fp = tmpfile();
	int n;

	memset(big, 'a', 19999);
	big[19999] = '\0';
	fprintf(fp, "%s\n", big);                        /* too long: skipped */
	for (int i = 0; i < 40; i++)                     /* too many fields */
		fputs("x,", fp);
	fputs("\n\"unterminated,quote\n", fp);
	fputs("a,b\n\n", fp);
	rewind(fp);
	r->fp = fp;
	OCTO_CHECK_INT_EQ(cdr_csv_read(r), -1);
	OCTO_CHECK_INT_EQ(cdr_csv_read(r), -1);
	/* The open quote swallows the rest of the file: the end, not a record. */
	OCTO_CHECK_INT_EQ(cdr_csv_read(r), 0);
	fclose(fp);

	fp = tmpfile();
	fputs("a,b\r\n\r\n", fp);
	rewind(fp);
	r->fp = fp;
	n = cdr_csv_read(r);
	OCTO_CHECK_INT_EQ(n, 2);
	OCTO_CHECK_STR_EQ(cdr_csv_parse(r->fields, n, &out), "does not have the 20 CDR fields");
	OCTO_CHECK_INT_EQ(cdr_csv_read(r), 1);
	OCTO_CHECK_STR_EQ(r->fields[0], "");
	OCTO_CHECK_INT_EQ(cdr_csv_read(r), 0);
	fclose(fp);
	free(big);
	free(r);
}

/* ---------------------------------------------------------------- spool */

struct fake {
	pthread_mutex_t lock;
	int opens, closes, open_failures, write_failures;
	size_t written, batches, max_batch;
	char order_error[96];
	int next;                   /* the record number expected next */
};

static struct fake fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int fake_open(void *ctx, const char *path, char *err, size_t errsize)
{
	struct fake *f = ctx;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	f->opens++;
	if (f->open_failures) {
		if (f->open_failures > 0)
			f->open_failures--;
		snprintf(err, errsize, "%s: permission denied", path);
		rc = OCTO_EFAIL;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fake_write(void *ctx, const struct octo_cdr *const *recs, size_t n, char *err,
		      size_t errsize)
{
	struct fake *f = ctx;
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	if (f->write_failures) {
		if (f->write_failures > 0)
			f->write_failures--;
		snprintf(err, errsize, "disk full");
		rc = OCTO_EFAIL;
	} else {
		for (size_t i = 0; i < n; i++) {
			char want[32];

			snprintf(want, sizeof(want), "1764151200.%d", f->next++);
			if (strcmp(recs[i]->uniqueid, want) && !f->order_error[0])
				snprintf(f->order_error, sizeof(f->order_error), "%s instead of %s",
					 recs[i]->uniqueid, want);
		}
		f->written += n;
		f->batches++;
		if (n > f->max_batch)
			f->max_batch = n;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static void fake_close(void *ctx)
{
	struct fake *f = ctx;

	pthread_mutex_lock(&f->lock);
	f->closes++;
	pthread_mutex_unlock(&f->lock);
}

static const struct cdr_spool_ops fake_ops = {
	.thread_name = "test spool",
	.open = fake_open,
	.write = fake_write,
	.close = fake_close,
};

static void fake_reset(void)
{
	pthread_mutex_lock(&fake.lock);
	fake.opens = fake.closes = fake.open_failures = fake.write_failures = 0;
	fake.written = fake.batches = fake.max_batch = 0;
	fake.order_error[0] = '\0';
	fake.next = 0;
	pthread_mutex_unlock(&fake.lock);
}

/* Waits up to 5 s for the spool to reach `state`. */
static bool spool_wait_state(struct cdr_spool *sp, const char *state)
{
	for (int i = 0; i < 500; i++) {
		struct octo_cdr_backend_status st = { 0 };

		cdr_spool_status(sp, &st);
		if (!strcmp(st.state, state))
			return true;
		usleep(10000);
	}
	return false;
}

static void post_n(struct cdr_spool *sp, int from, int count)
{
	struct octo_cdr c;

	for (int i = from; i < from + count; i++) {
		test_record(&c, i);
		OCTO_CHECK_INT_EQ(cdr_spool_post(sp, &c), 0);
	}
}

OCTO_TEST(spool_batches_in_order)
{
	struct cdr_spool *sp = cdr_spool_alloc(&fake_ops, &fake);
	struct octo_cdr_backend_status st = { 0 };
	struct octo_cdr c;

	fake_reset();
	test_record(&c, 0);
	OCTO_CHECK_INT_EQ(cdr_spool_post(sp, &c), OCTO_EBUSY); /* not started */
	cdr_spool_configure(sp, "/data/cdr.db", 100, 50, 100000);
	OCTO_CHECK_INT_EQ(cdr_spool_start(sp), 0);
	OCTO_CHECK(cdr_spool_running(sp));
	post_n(sp, 0, 250);
	OCTO_CHECK(cdr_spool_wait_empty(sp, 5000));
	cdr_spool_status(sp, &st);
	OCTO_CHECK_STR_EQ(st.state, "open");
	OCTO_CHECK_STR_EQ(st.target, "/data/cdr.db");
	OCTO_CHECK_INT_EQ(st.posted, 250);
	OCTO_CHECK_INT_EQ(st.written, 250);
	OCTO_CHECK_INT_EQ(st.queued, 0);
	OCTO_CHECK_INT_EQ(st.dropped, 0);
	OCTO_CHECK_STR_EQ(st.last_error, "");
	OCTO_CHECK_INT_EQ(fake.written, 250);
	OCTO_CHECK(fake.max_batch <= 100);
	OCTO_CHECK(fake.batches >= 3);
	OCTO_CHECK_STR_EQ(fake.order_error, "");
	OCTO_CHECK_INT_EQ(fake.opens, 1);
	cdr_spool_stop(sp);
	OCTO_CHECK(!cdr_spool_running(sp));
	OCTO_CHECK_INT_EQ(fake.closes, 1);
	OCTO_CHECK_INT_EQ(cdr_spool_post(sp, &c), OCTO_EBUSY);
	cdr_spool_free(sp);
}

OCTO_TEST(spool_interval_bounds_the_wait)
{
	struct cdr_spool *sp = cdr_spool_alloc(&fake_ops, &fake);
	uint64_t t0;

	fake_reset();
	cdr_spool_configure(sp, "x", 100, 150, 1000);
	cdr_spool_start(sp);
	t0 = octo_now_ms();
	post_n(sp, 0, 1);
	OCTO_CHECK(cdr_spool_wait_empty(sp, 5000));
	/* One record, far below the batch size: written after the interval. */
	OCTO_CHECK(octo_now_ms() - t0 >= 140);
	OCTO_CHECK_INT_EQ(fake.written, 1);
	cdr_spool_free(sp);
}

OCTO_TEST(spool_retries_failed_batches_without_loss)
{
	struct cdr_spool *sp = cdr_spool_alloc(&fake_ops, &fake);
	struct octo_cdr_backend_status st = { 0 };

	fake_reset();
	fake.open_failures = 1;
	fake.write_failures = 2;
	cdr_spool_configure(sp, "/data/cdr.db", 10, 0, 1000);
	cdr_spool_start(sp);
	post_n(sp, 0, 35);
	OCTO_CHECK(cdr_spool_wait_empty(sp, 20000));
	cdr_spool_status(sp, &st);
	OCTO_CHECK_INT_EQ(st.written, 35);
	OCTO_CHECK_INT_EQ(st.dropped, 0);
	OCTO_CHECK_STR_EQ(st.state, "open");
	OCTO_CHECK_STR_EQ(st.last_error, "write failed: disk full");
	OCTO_CHECK_STR_EQ(fake.order_error, "");
	OCTO_CHECK_INT_EQ(fake.written, 35);
	/* 1 failed open, 1 good open before each of 2 failed writes, 1 after. */
	OCTO_CHECK_INT_EQ(fake.opens, 4);
	cdr_spool_free(sp);
}

OCTO_TEST(spool_stop_drops_what_cannot_be_written)
{
	struct cdr_spool *sp = cdr_spool_alloc(&fake_ops, &fake);
	struct octo_cdr_backend_status st = { 0 };

	fake_reset();
	fake.open_failures = -1; /* for ever */
	cdr_spool_configure(sp, "/nowhere/cdr.db", 10, 0, 1000);
	cdr_spool_start(sp);
	post_n(sp, 0, 7);
	cdr_spool_stop(sp);
	cdr_spool_status(sp, &st);
	OCTO_CHECK_STR_EQ(st.state, "stopped");
	OCTO_CHECK_INT_EQ(st.posted, 7);
	OCTO_CHECK_INT_EQ(st.written, 0);
	OCTO_CHECK_INT_EQ(st.queued, 0);
	OCTO_CHECK_INT_EQ(st.dropped, 7);
	OCTO_CHECK_STR_EQ(st.last_error, "cannot open: /nowhere/cdr.db: permission denied");
	cdr_spool_free(sp);
}

OCTO_TEST(spool_full_queue_drops_and_counts)
{
	struct cdr_spool *sp = cdr_spool_alloc(&fake_ops, &fake);
	struct octo_cdr_backend_status st = { 0 };
	struct octo_cdr c;

	fake_reset();
	fake.open_failures = -1;
	cdr_spool_configure(sp, "/nowhere/cdr.db", 10, 0, 5);
	cdr_spool_start(sp);
	OCTO_CHECK(spool_wait_state(sp, "error"));
	post_n(sp, 0, 5);
	test_record(&c, 5);
	OCTO_CHECK_INT_EQ(cdr_spool_post(sp, &c), OCTO_ENOMEM);
	OCTO_CHECK_INT_EQ(cdr_spool_post(sp, &c), OCTO_ENOMEM);
	cdr_spool_status(sp, &st);
	OCTO_CHECK_INT_EQ(st.posted, 7);
	OCTO_CHECK_INT_EQ(st.queued, 5);
	OCTO_CHECK_INT_EQ(st.dropped, 2);
	OCTO_CHECK_STR_EQ(st.state, "error");

	/* The target comes back: what waited is written, in order. */
	pthread_mutex_lock(&fake.lock);
	fake.open_failures = 0;
	pthread_mutex_unlock(&fake.lock);
	OCTO_CHECK(cdr_spool_wait_empty(sp, 20000));
	cdr_spool_status(sp, &st);
	OCTO_CHECK_INT_EQ(st.written, 5);
	OCTO_CHECK_STR_EQ(fake.order_error, "");
	cdr_spool_free(sp);
}

OCTO_TEST(spool_reopens_on_a_new_path)
{
	struct cdr_spool *sp = cdr_spool_alloc(&fake_ops, &fake);
	char *path;

	fake_reset();
	cdr_spool_configure(sp, "/a/cdr.db", 10, 0, 100);
	cdr_spool_start(sp);
	post_n(sp, 0, 3);
	OCTO_CHECK(cdr_spool_wait_empty(sp, 5000));
	cdr_spool_configure(sp, "/b/cdr.db", 10, 0, 100);
	post_n(sp, 3, 3);
	OCTO_CHECK(cdr_spool_wait_empty(sp, 5000));
	path = cdr_spool_path(sp);
	OCTO_CHECK_STR_EQ(path, "/b/cdr.db");
	free(path);
	cdr_spool_stop(sp);
	OCTO_CHECK_INT_EQ(fake.opens, 2);
	OCTO_CHECK_INT_EQ(fake.closes, 2);
	OCTO_CHECK_INT_EQ(fake.written, 6);
	/* Start again after a stop: the same spool, counters kept. */
	OCTO_CHECK_INT_EQ(cdr_spool_start(sp), 0);
	post_n(sp, 6, 2);
	cdr_spool_free(sp);
	OCTO_CHECK_INT_EQ(fake.written, 8);
	OCTO_CHECK_STR_EQ(fake.order_error, "");
}

/* Many threads posting at once while the writer writes. */
struct poster {
	struct cdr_spool *sp;
	int failures;
};

static void *poster_run(void *arg)
{
	struct poster *p = arg;
	struct octo_cdr c;

	test_record(&c, 0);
	for (int i = 0; i < 2000; i++)
		if (cdr_spool_post(p->sp, &c))
			p->failures++;
	return NULL;
}

OCTO_TEST(spool_concurrent_posts)
{
	struct cdr_spool *sp = cdr_spool_alloc(&fake_ops, &fake);
	struct octo_cdr_backend_status st = { 0 };
	struct poster p[4];
	pthread_t t[4];

	fake_reset();
	cdr_spool_configure(sp, "x", 100, 5, 1000000);
	cdr_spool_start(sp);
	for (int i = 0; i < 4; i++) {
		p[i] = (struct poster){ sp, 0 };
		pthread_create(&t[i], NULL, poster_run, &p[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		OCTO_CHECK_INT_EQ(p[i].failures, 0);
	}
	cdr_spool_stop(sp);
	cdr_spool_status(sp, &st);
	OCTO_CHECK_INT_EQ(st.posted, 8000);
	OCTO_CHECK_INT_EQ(st.written, 8000);
	OCTO_CHECK_INT_EQ(fake.written, 8000);
	cdr_spool_free(sp);
}

/* ---------------------------------------------------------------- step logs in the spool */

/* Records what the writer saw of the step logs, and the ticks. */
struct steps_seen {
	pthread_mutex_t lock;
	size_t records, with_steps, steps;
	char first[64], last[64];
	size_t dropped;
	int ticks, idles;
	size_t records_at_idle;     /* records written when idle() came */
	bool pointer_kept;          /* a record still pointed at the poster's array */
	const struct octo_cdr_step *posted;
};

static struct steps_seen seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int seen_open(void *ctx, const char *path, char *err, size_t errsize)
{
	return 0;
}

static int seen_write(void *ctx, const struct octo_cdr *const *recs, size_t n, char *err,
		      size_t errsize)
{
	pthread_mutex_lock(&seen.lock);
	for (size_t i = 0; i < n; i++) {
		const struct octo_cdr *c = recs[i];

		seen.records++;
		if (!c->steps) {
			if (c->step_count)
				seen.pointer_kept = true;   /* count without steps: wrong */
			continue;
		}
		if (c->steps == seen.posted)
			seen.pointer_kept = true;
		seen.with_steps++;
		seen.steps += c->step_count;
		seen.dropped = c->steps_dropped;
		snprintf(seen.first, sizeof(seen.first), "%s", c->steps[0].text);
		snprintf(seen.last, sizeof(seen.last), "%s", c->steps[c->step_count - 1].text);
	}
	pthread_mutex_unlock(&seen.lock);
	return 0;
}

static void seen_close(void *ctx)
{
}

static void seen_tick(void *ctx)
{
	pthread_mutex_lock(&seen.lock);
	seen.ticks++;
	pthread_mutex_unlock(&seen.lock);
}

static void seen_idle(void *ctx)
{
	pthread_mutex_lock(&seen.lock);
	seen.idles++;
	seen.records_at_idle = seen.records;
	pthread_mutex_unlock(&seen.lock);
}

static const struct cdr_spool_ops seen_ops = {
	.thread_name = "test steps",
	.open = seen_open,
	.write = seen_write,
	.close = seen_close,
	.tick = seen_tick,
	.tick_ms = 50,
	.idle = seen_idle,
	.idle_ms = 100,
};

OCTO_TEST(spool_copies_the_lent_step_log)
{
	struct cdr_spool *sp = cdr_spool_alloc(&seen_ops, NULL);
	struct octo_cdr_step steps[3];
	char texts[3][32];
	struct octo_cdr c;

	for (int i = 0; i < 3; i++) {
		snprintf(texts[i], sizeof(texts[i]), "step %d", i);
		steps[i].time_us = 1000u + (unsigned)i;
		steps[i].text = texts[i];
	}
	seen.posted = steps;
	cdr_spool_configure(sp, "x", 100, 0, 1000);
	cdr_spool_start(sp);
	test_record(&c, 0);
	c.steps = steps;
	c.step_count = 3;
	c.steps_dropped = 7;
	/* Not kept: the copy carries no pointer of the caller. */
	OCTO_CHECK_INT_EQ(cdr_spool_post(sp, &c), 0);
	cdr_spool_keep_steps(sp, true);
	OCTO_CHECK_INT_EQ(cdr_spool_post(sp, &c), 0);
	/* The caller's log is gone once post() returned. */
	memset(texts, 'x', sizeof(texts));
	memset(steps, 0, sizeof(steps));
	c.step_count = 0;
	OCTO_CHECK(cdr_spool_wait_empty(sp, 5000));
	cdr_spool_free(sp);
	OCTO_CHECK_INT_EQ(seen.records, 2);
	OCTO_CHECK_INT_EQ(seen.with_steps, 1);
	OCTO_CHECK_INT_EQ(seen.steps, 3);
	OCTO_CHECK_INT_EQ(seen.dropped, 7);
	OCTO_CHECK_STR_EQ(seen.first, "step 0");
	OCTO_CHECK_STR_EQ(seen.last, "step 2");
	OCTO_CHECK(!seen.pointer_kept);
	OCTO_CHECK(seen.ticks >= 1);
}

OCTO_TEST(spool_bounds_a_huge_step_log)
{
	struct cdr_spool *sp = cdr_spool_alloc(&seen_ops, NULL);
	size_t n = CDR_SPOOL_STEPS_MAX + 5;
	struct octo_cdr_step *steps = calloc(n, sizeof(*steps));
	char *long_text = malloc(CDR_SPOOL_STEP_TEXT_MAX * 2);
	struct octo_cdr c;

	memset(long_text, 'a', CDR_SPOOL_STEP_TEXT_MAX * 2 - 1);
	long_text[CDR_SPOOL_STEP_TEXT_MAX * 2 - 1] = '\0';
	for (size_t i = 0; i < n; i++)
		steps[i].text = i == 0 ? long_text : (i == 1 ? NULL : "x");
	pthread_mutex_lock(&seen.lock);
	seen.records = seen.with_steps = seen.steps = 0;
	seen.first[0] = '\0';
	pthread_mutex_unlock(&seen.lock);
	cdr_spool_configure(sp, "x", 100, 0, 1000);
	cdr_spool_keep_steps(sp, true);
	cdr_spool_start(sp);
	test_record(&c, 0);
	c.steps = steps;
	c.step_count = n;
	OCTO_CHECK_INT_EQ(cdr_spool_post(sp, &c), 0);
	OCTO_CHECK(cdr_spool_wait_empty(sp, 5000));
	cdr_spool_free(sp);
	OCTO_CHECK_INT_EQ(seen.steps, CDR_SPOOL_STEPS_MAX);
	OCTO_CHECK_INT_EQ(seen.dropped, 5);
	OCTO_CHECK_INT_EQ(strlen(seen.first), 63); /* cut by the test's buffer, not empty */
	free(steps);
	free(long_text);
}

OCTO_TEST(spool_ticks_while_idle)
{
	struct cdr_spool *sp = cdr_spool_alloc(&seen_ops, NULL);
	int ticks = 0;

	pthread_mutex_lock(&seen.lock);
	seen.ticks = 0;
	pthread_mutex_unlock(&seen.lock);
	cdr_spool_configure(sp, "x", 100, 0, 1000);
	cdr_spool_start(sp);
	/* At open, then every 50 ms with nothing to write. */
	for (int i = 0; i < 500 && ticks < 3; i++) {
		usleep(10000);
		pthread_mutex_lock(&seen.lock);
		ticks = seen.ticks;
		pthread_mutex_unlock(&seen.lock);
	}
	cdr_spool_free(sp);
	OCTO_CHECK(ticks >= 3);
}

static int seen_idles(void)
{
	int n;

	pthread_mutex_lock(&seen.lock);
	n = seen.idles;
	pthread_mutex_unlock(&seen.lock);
	return n;
}

/* idle() comes once when writing paused after a batch (the SQLite backend
 * gives its cache back then), not before anything was written and not
 * again until more is written. */
OCTO_TEST(spool_idle_after_a_burst)
{
	struct cdr_spool *sp = cdr_spool_alloc(&seen_ops, NULL);
	struct octo_cdr c;

	pthread_mutex_lock(&seen.lock);
	seen.idles = 0;
	seen.records = 0;
	pthread_mutex_unlock(&seen.lock);
	cdr_spool_configure(sp, "x", 100, 0, 1000);
	cdr_spool_start(sp);
	usleep(300000);
	OCTO_CHECK_INT_EQ(seen_idles(), 0); /* nothing written yet */
	test_record(&c, 0);
	for (int i = 0; i < 3; i++)
		OCTO_CHECK_INT_EQ(cdr_spool_post(sp, &c), 0);
	for (int i = 0; i < 500 && !seen_idles(); i++)
		usleep(10000);
	OCTO_CHECK_INT_EQ(seen_idles(), 1);
	OCTO_CHECK_INT_EQ(seen.records_at_idle, 3); /* after the batch, not before */
	usleep(300000);
	OCTO_CHECK_INT_EQ(seen_idles(), 1); /* once per pause */
	OCTO_CHECK_INT_EQ(cdr_spool_post(sp, &c), 0);
	for (int i = 0; i < 500 && seen_idles() < 2; i++)
		usleep(10000);
	OCTO_CHECK_INT_EQ(seen_idles(), 2);
	cdr_spool_free(sp);
}

/* ---------------------------------------------------------------- call history */

/* A leg of call "1.1": direction, user, caller, called, disposition. */
static struct octo_cdr hist_leg(const char *dir, const char *user, const char *caller,
				const char *called, enum octo_cdr_disposition d, bool elsewhere)
{
	static unsigned seq;
	struct octo_cdr c;

	memset(&c, 0, sizeof(c));
	snprintf(c.uniqueid, sizeof(c.uniqueid), "1.%u", ++seq);
	snprintf(c.linkedid, sizeof(c.linkedid), "1.1");
	snprintf(c.direction, sizeof(c.direction), "%s", dir);
	snprintf(c.user, sizeof(c.user), "%s", user);
	snprintf(c.caller, sizeof(c.caller), "%s", caller);
	snprintf(c.caller_name, sizeof(c.caller_name), "Name %s", caller);
	snprintf(c.called, sizeof(c.called), "%s", called);
	snprintf(c.dialed, sizeof(c.dialed), "%s", called);
	c.disposition = d;
	c.answered_elsewhere = elsewhere;
	c.start_us = 1000000u * seq;
	c.end_us = c.start_us + 5000000u;
	return c;
}

OCTO_TEST(history_answered_by_a_device)
{
	struct octo_cdr legs[3] = {
		hist_leg("inbound", "", "100", "200", OCTO_CDR_ANSWERED, false),
		hist_leg("outbound", "200", "100", "200", OCTO_CDR_NO_ANSWER, true),
		hist_leg("outbound", "200", "100", "200", OCTO_CDR_ANSWERED, false),
	};
	struct cdr_hist_call h;

	cdr_hist_classify(legs, 3, "200", &h);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_IN);
	OCTO_CHECK(h.leg == &legs[2]);
	OCTO_CHECK_STR_EQ(h.disposition, "ANSWERED");
	OCTO_CHECK(!h.notify);
	OCTO_CHECK(h.out == NULL);
	OCTO_CHECK_INT_EQ(h.start_us, legs[0].start_us);
	/* The caller's side of the same call. */
	cdr_hist_classify(legs, 3, "100", &h);
	OCTO_CHECK(h.out == &legs[0]);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_NONE);
	OCTO_CHECK(h.disposition == NULL);
	/* Someone not in the call. */
	cdr_hist_classify(legs, 3, "300", &h);
	OCTO_CHECK(h.out == NULL);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_NONE);
	cdr_hist_classify(legs, 3, "", &h);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_NONE);
}

OCTO_TEST(history_missed_calls)
{
	struct octo_cdr noans[2] = {
		hist_leg("inbound", "", "100", "201", OCTO_CDR_NO_ANSWER, false),
		hist_leg("outbound", "201", "100", "201", OCTO_CDR_NO_ANSWER, false),
	};
	struct octo_cdr gaveup[2] = {
		hist_leg("inbound", "", "100", "202", OCTO_CDR_CANCELLED, false),
		hist_leg("outbound", "202", "100", "202", OCTO_CDR_NO_ANSWER, false),
	};
	struct octo_cdr busy[2] = {
		hist_leg("inbound", "", "100", "204", OCTO_CDR_NO_ANSWER, false),
		hist_leg("outbound", "204", "100", "204", OCTO_CDR_BUSY, false),
	};
	struct octo_cdr group[3] = {
		hist_leg("inbound", "", "100", "9000", OCTO_CDR_ANSWERED, false),
		hist_leg("outbound", "205", "100", "205", OCTO_CDR_NO_ANSWER, true),
		hist_leg("outbound", "206", "100", "206", OCTO_CDR_ANSWERED, false),
	};
	struct cdr_hist_call h;

	cdr_hist_classify(noans, 2, "201", &h);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_MISSED);
	OCTO_CHECK_STR_EQ(h.disposition, "NO ANSWER");
	OCTO_CHECK(h.notify);
	OCTO_CHECK(h.leg == &noans[1]);
	cdr_hist_classify(gaveup, 2, "202", &h);
	OCTO_CHECK_STR_EQ(h.disposition, "CANCELLED");
	OCTO_CHECK(h.notify);
	cdr_hist_classify(busy, 2, "204", &h);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_MISSED);
	OCTO_CHECK_STR_EQ(h.disposition, "BUSY");
	OCTO_CHECK(!h.notify);
	cdr_hist_classify(group, 3, "205", &h);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_MISSED);
	OCTO_CHECK_STR_EQ(h.disposition, "ANSWERED ELSEWHERE");
	OCTO_CHECK(!h.notify);
	cdr_hist_classify(group, 3, "206", &h);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_IN);
	OCTO_CHECK(h.leg == &group[2]);
	/* 9000 is not a user's device: the incoming leg routed to it decides. */
	cdr_hist_classify(group, 3, "9000", &h);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_IN);
	OCTO_CHECK(h.leg == &group[0]);
}

OCTO_TEST(history_without_device_legs)
{
	/* A user with no device reachable: the incoming leg routed to the
	 * number decides; a user with ${USER} placed it. */
	struct octo_cdr legs[1] = {
		hist_leg("inbound", "101", "0612345678", "207", OCTO_CDR_CANCELLED, false),
	};
	struct octo_cdr self[1] = {
		hist_leg("inbound", "", "207", "207", OCTO_CDR_ANSWERED, false),
	};
	struct octo_cdr old[1] = {
		/* a record of schema 1: no direction, no user */
		hist_leg("", "", "100", "300", OCTO_CDR_NO_ANSWER, false),
	};
	struct cdr_hist_call h;

	cdr_hist_classify(legs, 1, "207", &h);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_MISSED);
	OCTO_CHECK_STR_EQ(h.disposition, "CANCELLED");
	OCTO_CHECK(h.notify);
	cdr_hist_classify(legs, 1, "101", &h);
	OCTO_CHECK(h.out == &legs[0]);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_NONE);
	cdr_hist_classify(legs, 1, "0612345678", &h);
	OCTO_CHECK(h.out == NULL); /* ${USER} says who placed it */
	/* Calling oneself (voicemail ...) is out, not missed. */
	cdr_hist_classify(self, 1, "207", &h);
	OCTO_CHECK(h.out == &self[0]);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_NONE);
	cdr_hist_classify(old, 1, "100", &h);
	OCTO_CHECK(h.out == &old[0]);
	cdr_hist_classify(old, 1, "300", &h);
	OCTO_CHECK_INT_EQ(h.kind, CDR_HIST_MISSED);
	OCTO_CHECK_STR_EQ(h.disposition, "NO ANSWER");
	OCTO_CHECK(cdr_hist_rings(&legs[0], "207") == false);
	OCTO_CHECK(cdr_hist_placed_by(&legs[0], "101"));
}

/* ---------------------------------------------------------------- prices */

/* Parses one CSV line (a string) as a pricelist record. */
static const char *price_line(const char *line, struct cdr_price *p)
{
	struct cdr_csv_reader r;
	const char *why;
	int n;

	r.fp = fmemopen((void *)line, strlen(line), "r");
	n = cdr_csv_read(&r);
	why = n > 0 ? cdr_price_parse(r.fields, n, p) : "unreadable";
	fclose(r.fp);
	return why;
}

OCTO_TEST(price_lines)
{
	struct cdr_price p;

	OCTO_CHECK(price_line(" +3906 ,\"Rome, fixed\",0.10, 0.02 ,30\n", &p) == NULL);
	OCTO_CHECK_STR_EQ(p.prefix, "+3906");
	OCTO_CHECK_STR_EQ(p.description, "Rome, fixed");
	OCTO_CHECK(p.price == 0.10 && p.fee == 0.02);
	OCTO_CHECK_INT_EQ(p.increment, 30);
	OCTO_CHECK(price_line("06,Rome,.5,0,1\n", &p) == NULL);
	OCTO_CHECK(p.price == 0.5);
	OCTO_CHECK_STR_EQ(price_line("06,Rome,0.1,0\n", &p),
			  "does not have the 5 fields prefix, description, price per minute, "
			  "connection fee, billing increment");
	OCTO_CHECK_STR_EQ(price_line("06a,Rome,0.1,0,60\n", &p),
			  "has a prefix that is not digits (an optional + first, at most 30)");
	OCTO_CHECK_STR_EQ(price_line("+,x,0.1,0,60\n", &p),
			  "has a prefix that is not digits (an optional + first, at most 30)");
	OCTO_CHECK_STR_EQ(price_line("0123456789012345678901234567890,x,0.1,0,60\n", &p),
			  "has a prefix that is not digits (an optional + first, at most 30)");
	OCTO_CHECK(price_line("012345678901234567890123456789,x,0.1,0,60\n", &p) == NULL);
	static const char *const bad_prices[] = { "-1", "1e3", "nan", "inf", "0x10", "1.2.3",
						  ".", "", " ", "1 000" };
	for (size_t i = 0; i < OCTO_ARRAY_LEN(bad_prices); i++) {
		char line[64];

		snprintf(line, sizeof(line), "06,x,%s,0,60\n", bad_prices[i]);
		OCTO_CHECK_STR_EQ(price_line(line, &p),
				  "has a price per minute that is not a number like 0.05");
	}
	OCTO_CHECK_STR_EQ(price_line("06,x,1,2000000,60\n", &p),
			  "has a connection fee that is not a number like 0.10");
	OCTO_CHECK_STR_EQ(price_line("06,x,1,0,0\n", &p),
			  "has a billing increment that is not a number of seconds from 1 to 3600");
	OCTO_CHECK_STR_EQ(price_line("06,x,1,0,3601\n", &p),
			  "has a billing increment that is not a number of seconds from 1 to 3600");
	OCTO_CHECK(price_line("06,\"a\x01" "b\",1,0,60\n", &p) == NULL);
	OCTO_CHECK_STR_EQ(p.description, "a b");
}

OCTO_TEST(price_header_and_costs)
{
	char f0[] = " Prefix ", f1[] = "description";
	char *fields[] = { f0, f1 };
	struct cdr_price p = { .price = 0.12, .fee = 0.05, .increment = 60 };

	OCTO_CHECK(cdr_price_is_header(fields, 2));
	f0[1] = 'X';
	OCTO_CHECK(!cdr_price_is_header(fields, 2));
	OCTO_CHECK(cdr_price_cost(&p, 0, false) == 0);
	OCTO_CHECK(cdr_price_cost(&p, 30, false) == 0);
	OCTO_CHECK(cdr_price_cost(&p, 0, true) == 0.05);      /* answered, under a second */
	OCTO_CHECK(cdr_price_cost(&p, 1, true) == 0.17);
	OCTO_CHECK(cdr_price_cost(&p, 60, true) == 0.17);
	OCTO_CHECK(cdr_price_cost(&p, 61, true) == 0.29);
	p = (struct cdr_price){ .price = 0.10, .fee = 0.02, .increment = 30 };
	OCTO_CHECK(cdr_price_cost(&p, 31, true) == 0.12);
	p = (struct cdr_price){ .price = 0.30, .fee = 0, .increment = 1 };
	OCTO_CHECK(cdr_price_cost(&p, 7, true) == 0.035);
	OCTO_CHECK(cdr_price_cost(&p, UINT32_MAX, true) > 0);
}

OCTO_TEST_MAIN()
