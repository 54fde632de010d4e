/*
 * test_cdr_spool.c - unit tests of res_cdr_pgsql's spool file
 * (modules/services/cdr_pgsql_spool.c): the line format and its checksum,
 * appends, replay in order, a torn last line, damaged lines, and what a
 * crash between a send and the truncation leaves; and the [pgsql] section
 * of cdr.conf (modules/services/cdr_common.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/octo.h"

#include "octo/config.h"

#include "../../modules/services/cdr_common.h"
#include "../../modules/services/cdr_pgsql_spool.h"
#include "octo_test.h"

static char tdir[64];

/* Removes the private folder and what the tests left in it. */
static void tcleanup(void)
{
	DIR *d = opendir(tdir);
	struct dirent *e;
	char path[400];

	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", tdir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(tdir);
}

/* A fresh path in a private folder for each test. */
static const char *tpath(const char *name)
{
	static char path[160];

	if (!tdir[0]) {
		snprintf(tdir, sizeof(tdir), "/tmp/octo-cdrspool.XXXXXX");
		if (!mkdtemp(tdir))
			abort();
		atexit(tcleanup);
	}
	snprintf(path, sizeof(path), "%s/%s", tdir, name);
	unlink(path);
	return path;
}

static void fill(struct octo_cdr *c, int i)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->uniqueid, sizeof(c->uniqueid), "1764150000.%d", i);
	snprintf(c->linkedid, sizeof(c->linkedid), "1764150000.%d", i);
	snprintf(c->channel, sizeof(c->channel), "Test/101-%08x", i);
	snprintf(c->caller, sizeof(c->caller), "%d", 2000 + i);
	octo_strlcpy(c->caller_name, "Test call", sizeof(c->caller_name));
	octo_strlcpy(c->dialed, "900", sizeof(c->dialed));
	octo_strlcpy(c->called, "900", sizeof(c->called));
	octo_strlcpy(c->procedure, "cdrtest", sizeof(c->procedure));
	octo_strlcpy(c->hangup_side, "pbx", sizeof(c->hangup_side));
	octo_strlcpy(c->direction, "inbound", sizeof(c->direction));
	c->disposition = OCTO_CDR_ANSWERED;
	c->cause = 16;
	c->start_us = 1764150000000000ull + (uint64_t)i * 1000u;
	c->answer_us = c->start_us + 10;
	c->end_us = c->start_us + 2000000u;
	c->duration = 2;
	c->billsec = 1;
}

static off_t fsize(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

static void append_raw(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
}

/* Appends records first..last-1 in one batch. */
static int append_range(struct cdr_disk_spool *ds, int first, int last)
{
	struct octo_cdr recs[64];
	const struct octo_cdr *ptrs[64];
	char err[256] = "";

	for (int i = first; i < last; i++) {
		fill(&recs[i - first], i);
		ptrs[i - first] = &recs[i - first];
	}
	return cdr_disk_append(ds, ptrs, (size_t)(last - first), err, sizeof(err));
}

OCTO_TEST(line_round_trip_keeps_every_field)
{
	struct octo_cdr a, b;
	char line[CDR_DISK_LINE_MAX];
	size_t len;

	fill(&a, 7);
	octo_strlcpy(a.caller_name, "Tab\there\nnew\\line \x01 caf\xc3\xa9",
		     sizeof(a.caller_name));
	octo_strlcpy(a.userfield, "project \"x\", phase 2\r", sizeof(a.userfield));
	octo_strlcpy(a.dst_channel, "SIP/bob-0001", sizeof(a.dst_channel));
	octo_strlcpy(a.trunk, "eutelia", sizeof(a.trunk));
	octo_strlcpy(a.user, "101", sizeof(a.user));
	a.disposition = OCTO_CDR_CANCELLED;
	a.cause = -1;
	a.cost = 0.17;
	a.answered_elsewhere = true;
	a.answer_us = 0;
	len = cdr_disk_line(&a, line, sizeof(line));
	OCTO_CHECK(len > 20);
	OCTO_CHECK_INT_EQ(line[len - 1], '\n');
	OCTO_CHECK_INT_EQ(strlen(line), len);
	/* One line: no raw line break, and the text escaped. */
	OCTO_CHECK(memchr(line, '\n', len - 1) == NULL);
	OCTO_CHECK(memchr(line, '\r', len) == NULL);
	OCTO_CHECK_CONTAINS(line, "Tab\\there\\nnew\\\\line \\x01 caf\xc3\xa9");
	OCTO_CHECK(strncmp(line, "O1\t1764150000.7\t", 16) == 0);
	OCTO_CHECK(cdr_disk_parse(line, len - 1, &b) == NULL);
	OCTO_CHECK_STR_EQ(b.uniqueid, a.uniqueid);
	OCTO_CHECK_STR_EQ(b.linkedid, a.linkedid);
	OCTO_CHECK_STR_EQ(b.channel, a.channel);
	OCTO_CHECK_STR_EQ(b.dst_channel, "SIP/bob-0001");
	OCTO_CHECK_STR_EQ(b.caller, "2007");
	OCTO_CHECK_STR_EQ(b.caller_name, a.caller_name);
	OCTO_CHECK_STR_EQ(b.dialed, "900");
	OCTO_CHECK_STR_EQ(b.called, "900");
	OCTO_CHECK_STR_EQ(b.procedure, "cdrtest");
	OCTO_CHECK_STR_EQ(b.trunk, "eutelia");
	OCTO_CHECK_STR_EQ(b.userfield, a.userfield);
	OCTO_CHECK_STR_EQ(b.hangup_side, "pbx");
	OCTO_CHECK_STR_EQ(b.user, "101");
	OCTO_CHECK_STR_EQ(b.direction, "inbound");
	OCTO_CHECK_INT_EQ(b.disposition, OCTO_CDR_CANCELLED);
	OCTO_CHECK_INT_EQ(b.cause, -1);
	OCTO_CHECK(b.start_us == a.start_us);
	OCTO_CHECK(b.answer_us == 0);
	OCTO_CHECK(b.end_us == a.end_us);
	OCTO_CHECK_INT_EQ(b.duration, 2);
	OCTO_CHECK_INT_EQ(b.billsec, 1);
	OCTO_CHECK(b.cost == 0.17);
	OCTO_CHECK(b.answered_elsewhere);
	OCTO_CHECK(b.steps == NULL);
}

OCTO_TEST(line_with_full_unterminated_fields_fits)
{
	struct octo_cdr a, b;
	char line[CDR_DISK_LINE_MAX];
	size_t len;

	/* Hostile: every text full of bytes that need \xHH, no NUL at all. */
	memset(&a, 0x01, sizeof(a));
	a.cost = 1.0 / 0.0;
	a.disposition = OCTO_CDR_BUSY;
	len = cdr_disk_line(&a, line, sizeof(line));
	OCTO_CHECK(len > 0 && len < sizeof(line));
	OCTO_CHECK(cdr_disk_parse(line, len - 1, &b) == NULL);
	OCTO_CHECK_INT_EQ(strlen(b.uniqueid), sizeof(b.uniqueid) - 1);
	OCTO_CHECK_INT_EQ(strlen(b.userfield), sizeof(b.userfield) - 1);
	OCTO_CHECK(b.cost == 0);
}

OCTO_TEST(parse_refuses_damage)
{
	struct octo_cdr a, b;
	char line[CDR_DISK_LINE_MAX], copy[CDR_DISK_LINE_MAX];
	size_t len;

	fill(&a, 1);
	len = cdr_disk_line(&a, line, sizeof(line)) - 1;
	memcpy(copy, line, len);
	copy[5] ^= 1;
	OCTO_CHECK_STR_EQ(cdr_disk_parse(copy, len, &b), "has a wrong checksum");
	OCTO_CHECK_STR_EQ(cdr_disk_parse(line, len - 3, &b), "is not a spool line");
	OCTO_CHECK_STR_EQ(cdr_disk_parse("", 0, &b), "is not a spool line");
	OCTO_CHECK_STR_EQ(cdr_disk_parse("hello\tworld\t00000000", 20, &b),
			  "has a wrong checksum");
	/* The same line with a field too many. */
	memcpy(copy, "O1\tx\t", 6);
	memcpy(copy + 6, line + 3, len - 3);
	OCTO_CHECK_STR_EQ(cdr_disk_parse(copy, len + 3, &b), "has a wrong checksum");
	OCTO_CHECK(cdr_disk_parse(line, len, &b) == NULL);
}

OCTO_TEST(append_then_replay_in_order)
{
	const char *path = tpath("order.spool");
	struct cdr_disk_spool *ds;
	struct octo_cdr out[8];
	char err[256] = "";
	int n;

	ds = cdr_disk_open(path, err, sizeof(err));
	OCTO_CHECK(ds != NULL);
	if (!ds)
		return;
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 0);
	OCTO_CHECK_INT_EQ(cdr_disk_peek(ds, out, 8, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(append_range(ds, 0, 3), 0);
	OCTO_CHECK_INT_EQ(append_range(ds, 3, 5), 0);
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 5);
	n = cdr_disk_peek(ds, out, 3, err, sizeof(err));
	OCTO_CHECK_INT_EQ(n, 3);
	OCTO_CHECK_STR_EQ(out[0].uniqueid, "1764150000.0");
	OCTO_CHECK_STR_EQ(out[2].uniqueid, "1764150000.2");
	/* Not consumed yet (the send failed): the same ones again. */
	n = cdr_disk_peek(ds, out, 3, err, sizeof(err));
	OCTO_CHECK_INT_EQ(n, 3);
	OCTO_CHECK_STR_EQ(out[0].uniqueid, "1764150000.0");
	OCTO_CHECK_INT_EQ(cdr_disk_consume(ds, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 2);
	/* Appended while the head is being sent: after it. */
	OCTO_CHECK_INT_EQ(append_range(ds, 5, 6), 0);
	n = cdr_disk_peek(ds, out, 8, err, sizeof(err));
	OCTO_CHECK_INT_EQ(n, 3);
	OCTO_CHECK_STR_EQ(out[0].uniqueid, "1764150000.3");
	OCTO_CHECK_STR_EQ(out[1].uniqueid, "1764150000.4");
	OCTO_CHECK_STR_EQ(out[2].uniqueid, "1764150000.5");
	OCTO_CHECK_STR_EQ(out[2].caller, "2005");
	OCTO_CHECK(fsize(path) > 0);
	OCTO_CHECK_INT_EQ(cdr_disk_consume(ds, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 0);
	OCTO_CHECK_INT_EQ(fsize(path), 0);
	/* And it starts over from an empty file. */
	OCTO_CHECK_INT_EQ(append_range(ds, 6, 7), 0);
	OCTO_CHECK_INT_EQ(cdr_disk_peek(ds, out, 8, err, sizeof(err)), 1);
	OCTO_CHECK_STR_EQ(out[0].uniqueid, "1764150000.6");
	cdr_disk_close(ds);

	/* Across a restart: what was not consumed is still there. */
	ds = cdr_disk_open(path, err, sizeof(err));
	OCTO_CHECK(ds != NULL);
	if (!ds)
		return;
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 1);
	OCTO_CHECK_INT_EQ(cdr_disk_torn(ds), 0);
	OCTO_CHECK_INT_EQ(cdr_disk_damaged(ds), 0);
	cdr_disk_close(ds);
	OCTO_CHECK(fsize(path) > 0);
	OCTO_CHECK((fsize(path) >= 0 && (access(path, R_OK) == 0)));
	{
		struct stat st;

		OCTO_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	}
}

OCTO_TEST(torn_last_line_is_cut_off)
{
	const char *path = tpath("torn.spool");
	struct cdr_disk_spool *ds;
	struct octo_cdr out[8];
	char err[256] = "", line[CDR_DISK_LINE_MAX];
	off_t whole;

	ds = cdr_disk_open(path, err, sizeof(err));
	OCTO_CHECK(ds != NULL);
	if (!ds)
		return;
	OCTO_CHECK_INT_EQ(append_range(ds, 0, 3), 0);
	cdr_disk_close(ds);
	whole = fsize(path);
	/* A crash in the middle of the next line. */
	fill(&out[0], 3);
	cdr_disk_line(&out[0], line, sizeof(line));
	line[40] = '\0';
	append_raw(path, line);
	OCTO_CHECK_INT_EQ(fsize(path), whole + 40);

	ds = cdr_disk_open(path, err, sizeof(err));
	OCTO_CHECK(ds != NULL);
	if (!ds)
		return;
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 3);
	OCTO_CHECK_INT_EQ(cdr_disk_torn(ds), 40);
	OCTO_CHECK_INT_EQ(cdr_disk_damaged(ds), 0);
	OCTO_CHECK_INT_EQ(fsize(path), whole);
	/* The next append starts a line of its own. */
	OCTO_CHECK_INT_EQ(append_range(ds, 3, 4), 0);
	cdr_disk_close(ds);

	ds = cdr_disk_open(path, err, sizeof(err));
	OCTO_CHECK(ds != NULL);
	if (!ds)
		return;
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 4);
	OCTO_CHECK_INT_EQ(cdr_disk_torn(ds), 0);
	OCTO_CHECK_INT_EQ(cdr_disk_peek(ds, out, 8, err, sizeof(err)), 4);
	OCTO_CHECK_STR_EQ(out[3].uniqueid, "1764150000.3");
	OCTO_CHECK_STR_EQ(out[3].caller, "2003");
	cdr_disk_close(ds);
}

OCTO_TEST(damaged_lines_are_skipped_and_counted)
{
	const char *path = tpath("damaged.spool");
	struct cdr_disk_spool *ds;
	struct octo_cdr out[8];
	char err[256] = "", *junk;
	int fd;

	ds = cdr_disk_open(path, err, sizeof(err));
	OCTO_CHECK(ds != NULL);
	if (!ds)
		return;
	OCTO_CHECK_INT_EQ(append_range(ds, 0, 1), 0);
	cdr_disk_close(ds);
	append_raw(path, "garbage that is not a record\n");
	/* A 100 kB line without a break, longer than any of ours. */
	junk = malloc(100001);
	memset(junk, 'z', 100000);
	junk[100000] = '\0';
	append_raw(path, junk);
	append_raw(path, "\n");
	free(junk);
	ds = cdr_disk_open(path, err, sizeof(err));
	OCTO_CHECK(ds != NULL);
	if (!ds)
		return;
	OCTO_CHECK_INT_EQ(append_range(ds, 1, 3), 0);
	cdr_disk_close(ds);
	/* Flip a byte inside the second record's line. */
	fd = open(path, O_RDWR);
	OCTO_CHECK(fd >= 0);
	{
		char c;
		off_t at = fsize(path) - 20;

		OCTO_CHECK(pread(fd, &c, 1, at) == 1);
		c ^= 0x20;
		OCTO_CHECK(pwrite(fd, &c, 1, at) == 1);
	}
	close(fd);

	ds = cdr_disk_open(path, err, sizeof(err));
	OCTO_CHECK(ds != NULL);
	if (!ds)
		return;
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 2);
	OCTO_CHECK_INT_EQ(cdr_disk_damaged(ds), 3);
	OCTO_CHECK_INT_EQ(cdr_disk_peek(ds, out, 8, err, sizeof(err)), 2);
	OCTO_CHECK_STR_EQ(out[0].uniqueid, "1764150000.0");
	OCTO_CHECK_STR_EQ(out[1].uniqueid, "1764150000.1");
	OCTO_CHECK_INT_EQ(cdr_disk_consume(ds, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 0);
	OCTO_CHECK_INT_EQ(fsize(path), 0);
	cdr_disk_close(ds);
}

OCTO_TEST(crash_before_truncation_replays_from_the_start)
{
	const char *path = tpath("replay.spool");
	struct cdr_disk_spool *ds;
	struct octo_cdr out[8];
	char err[256] = "";

	ds = cdr_disk_open(path, err, sizeof(err));
	OCTO_CHECK(ds != NULL);
	if (!ds)
		return;
	OCTO_CHECK_INT_EQ(append_range(ds, 0, 3), 0);
	OCTO_CHECK_INT_EQ(cdr_disk_peek(ds, out, 2, err, sizeof(err)), 2);
	OCTO_CHECK_INT_EQ(cdr_disk_consume(ds, err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 1);
	cdr_disk_close(ds);
	/* The read position lives in memory: all three are sent again (the
	 * table's unique key ignores the two it has). */
	ds = cdr_disk_open(path, err, sizeof(err));
	OCTO_CHECK(ds != NULL);
	if (!ds)
		return;
	OCTO_CHECK_INT_EQ(cdr_disk_pending(ds), 3);
	OCTO_CHECK_INT_EQ(cdr_disk_peek(ds, out, 8, err, sizeof(err)), 3);
	OCTO_CHECK_STR_EQ(out[0].uniqueid, "1764150000.0");
	cdr_disk_close(ds);
}

OCTO_TEST(open_errors_name_the_file)
{
	char err[256] = "";
	char path[200];

	OCTO_CHECK(cdr_disk_open("/nonexistent-octo-dir/x.spool", err, sizeof(err)) == NULL);
	OCTO_CHECK_STR_EQ(err, "/nonexistent-octo-dir/x.spool: No such file or directory");
	tpath("x");
	OCTO_CHECK(cdr_disk_open(tdir, err, sizeof(err)) == NULL);
	snprintf(path, sizeof(path), "%s: Is a directory", tdir);
	OCTO_CHECK_STR_EQ(err, path);
	cdr_disk_close(NULL);
}

/* ---------------------------------------------------------------- cdr.conf */

/* Loads `text` as cdr.conf with `scope`; returns the rc, the diagnostics
 * joined by "|" in msgs. */
static int conf_load(const char *text, enum cdr_conf_scope scope, struct cdr_conf *conf,
		     char *msgs, size_t size)
{
	struct octo_diags diags = { 0 };
	const char *path = tpath("cdr.conf");
	FILE *fp = fopen(path, "w");
	int rc;

	if (!fp)
		abort();
	fputs(text, fp);
	fclose(fp);
	memset(conf, 0, sizeof(*conf));
	rc = cdr_conf_load(tdir, scope, conf, &diags);
	msgs[0] = '\0';
	for (size_t i = 0; i < diags.count; i++)
		snprintf(msgs + strlen(msgs), size - strlen(msgs), "%s%s", i ? "|" : "",
			 diags.items[i].message);
	octo_diags_free(&diags);
	unlink(path);
	return rc;
}

OCTO_TEST(conf_pgsql_defaults)
{
	struct cdr_conf conf;
	char msgs[1024];

	OCTO_CHECK_INT_EQ(conf_load("[general]\nbackends = sqlite, pgsql\ncli_backend = pgsql\n",
				    CDR_CONF_ALL, &conf, msgs, sizeof(msgs)),
			  0);
	OCTO_CHECK_STR_EQ(msgs, "");
	OCTO_CHECK(cdr_conf_enabled(&conf, "pgsql"));
	OCTO_CHECK_STR_EQ(conf.general.cli_backend, "pgsql");
	OCTO_CHECK_STR_EQ(conf.pgsql.conninfo, "");
	OCTO_CHECK_STR_EQ(conf.pgsql.host, "");
	OCTO_CHECK_INT_EQ(conf.pgsql.port, 0);
	OCTO_CHECK_STR_EQ(conf.pgsql.table, "cdr");
	OCTO_CHECK_STR_EQ(conf.pgsql.spool, "cdr_pgsql.spool");
	OCTO_CHECK_INT_EQ(conf.pgsql.batch, 100);
	OCTO_CHECK_INT_EQ(conf.pgsql.flush_interval, 200);
	OCTO_CHECK_INT_EQ(conf.pgsql.reconnect_interval, 5000);
	OCTO_CHECK_INT_EQ(conf.pgsql.connect_timeout, 5);
	cdr_conf_free(&conf);
}

OCTO_TEST(conf_pgsql_values)
{
	struct cdr_conf conf;
	char msgs[1024];

	OCTO_CHECK_INT_EQ(conf_load("[general]\nbackends = pgsql\ncli_backend = pgsql\n"
				    "[pgsql]\nconninfo = sslmode=require\nhost = db.example.com\n"
				    "port = 5433\ndbname = pbx\nuser = octo\npassword = s3cret\n"
				    "table = octo_cdr_2\nspool = /var/spool/octo/pg.spool\n"
				    "batch = 500\nflush_interval = 1s\nreconnect_interval = 250ms\n"
				    "connect_timeout = 10s\n[csv]\nbogus = 1\n",
				    CDR_CONF_PGSQL, &conf, msgs, sizeof(msgs)),
			  0);
	/* The [csv] section is res_cdr_csv's to report. */
	OCTO_CHECK_STR_EQ(msgs, "");
	OCTO_CHECK_STR_EQ(conf.pgsql.conninfo, "sslmode=require");
	OCTO_CHECK_STR_EQ(conf.pgsql.host, "db.example.com");
	OCTO_CHECK_INT_EQ(conf.pgsql.port, 5433);
	OCTO_CHECK_STR_EQ(conf.pgsql.dbname, "pbx");
	OCTO_CHECK_STR_EQ(conf.pgsql.user, "octo");
	OCTO_CHECK_STR_EQ(conf.pgsql.password, "s3cret");
	OCTO_CHECK_STR_EQ(conf.pgsql.table, "octo_cdr_2");
	OCTO_CHECK_STR_EQ(conf.pgsql.spool, "/var/spool/octo/pg.spool");
	OCTO_CHECK_INT_EQ(conf.pgsql.batch, 500);
	OCTO_CHECK_INT_EQ(conf.pgsql.flush_interval, 1000);
	OCTO_CHECK_INT_EQ(conf.pgsql.reconnect_interval, 250);
	OCTO_CHECK_INT_EQ(conf.pgsql.connect_timeout, 10);
	OCTO_CHECK(conf.csv.file == NULL);
	cdr_conf_free(&conf);
}

OCTO_TEST(conf_pgsql_errors_have_file_and_line)
{
	struct cdr_conf conf;
	char msgs[1024];

	OCTO_CHECK_INT_EQ(conf_load("[general]\nbackends = pgsql\ncli_backend = pgsql\n[pgsql]\n"
				    "table = Cdr\n",
				    CDR_CONF_PGSQL, &conf, msgs, sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_STR_EQ(msgs, "cdr.conf:5: [pgsql] table: \"Cdr\" is not a table name (a-z, "
				"0-9 and _, not starting with a digit, at most 48)");
	OCTO_CHECK(conf.pgsql.table == NULL); /* freed on error */

	OCTO_CHECK_INT_EQ(conf_load("[pgsql]\ntable = 9cdr\n", CDR_CONF_ALL, &conf, msgs,
				    sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_CONTAINS(msgs, "cdr.conf:2: [pgsql] table: \"9cdr\" is not a table name");
	OCTO_CHECK_INT_EQ(conf_load("[pgsql]\ntable = "
				    "a234567890123456789012345678901234567890123456789\n",
				    CDR_CONF_ALL, &conf, msgs, sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_CONTAINS(msgs, "is not a table name");
	OCTO_CHECK_INT_EQ(conf_load("[pgsql]\ntable = cdr; drop\n", CDR_CONF_ALL, &conf, msgs,
				    sizeof(msgs)),
			  0); /* ";" starts a comment: the table is "cdr" */
	OCTO_CHECK_STR_EQ(conf.pgsql.table, "cdr");
	cdr_conf_free(&conf);

	OCTO_CHECK_INT_EQ(conf_load("[pgsql]\n\nspool =\n", CDR_CONF_ALL, &conf, msgs,
				    sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_STR_EQ(msgs, "cdr.conf:3: [pgsql] spool: a file name is needed");

	OCTO_CHECK_INT_EQ(conf_load("[pgsql]\nport = 70000\nreconnect_interval = 50ms\n",
				    CDR_CONF_ALL, &conf, msgs, sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_CONTAINS(msgs, "cdr.conf:2: [pgsql] port: \"70000\" ");
	OCTO_CHECK_CONTAINS(msgs, "0..65535");
	OCTO_CHECK_CONTAINS(msgs, "cdr.conf:3: [pgsql] reconnect_interval: \"50ms\" ");

	OCTO_CHECK_INT_EQ(conf_load("[general]\nbackends = sqlite, mysql\n", CDR_CONF_PGSQL,
				    &conf, msgs, sizeof(msgs)),
			  OCTO_ECONFIG);
	OCTO_CHECK_STR_EQ(msgs, "cdr.conf:2: [general] backends: \"mysql\" is not a CDR backend "
				"(sqlite, csv, pgsql)");
}

OCTO_TEST(conf_pgsql_section_known)
{
	struct cdr_conf conf;
	char msgs[1024];

	OCTO_CHECK_INT_EQ(conf_load("[pgsql]\nhost = db\nhots = x\n[mysql]\n", CDR_CONF_ALL,
				    &conf, msgs, sizeof(msgs)),
			  0);
	OCTO_CHECK_CONTAINS(msgs, "cdr.conf:3: [pgsql] unknown option \"hots\"");
	OCTO_CHECK_CONTAINS(msgs, "cdr.conf:4: unknown section [mysql] (cdr.conf has [general], "
				  "[sqlite], [csv] and [pgsql])");
	OCTO_CHECK(strstr(msgs, "section [pgsql]") == NULL);
	cdr_conf_free(&conf);
}

OCTO_TEST_MAIN()
