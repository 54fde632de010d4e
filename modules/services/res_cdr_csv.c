/*
 * res_cdr_csv.c - a CDR backend that appends one CSV line per call leg to a
 * plain file (cdr.csv in the data folder), for tools that want one.
 *
 * DESIGN
 *  - The file is RFC 4180 CSV (cdr_common.h lists the columns), with a header
 *    line when the file is new or empty. Times are ISO 8601 in UTC.
 *  - post() only queues the record (the spool, cdr_common.h); the spool's
 *    writer thread appends the lines of a batch with one write() and no
 *    fsync: a kill -9 loses only what still waits in memory (at most
 *    [csv] flush_interval ms of records), an OS crash may lose more.
 *  - A batch that cannot be written whole is cut off again (ftruncate), so
 *    a retry never leaves half a line or a duplicate behind.
 *  - Log rotation: before each batch the writer checks that the path still
 *    names the file it has open; if it was moved away, a new file (with a
 *    header) is started.
 *  - query() reads the file back (for cli_backend = csv): two passes, so
 *    "last N" needs no memory per record.
 *  - The module loads only when "csv" is in [general] backends of cdr.conf
 *    (otherwise it declines); a reload can turn it off and on again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/cdr.h"
#include "octo/log.h"
#include "octo/module.h"

#include "cdr_common.h"

/* Records per write(): the lines of a batch go out in one buffer. */
#define CSV_BATCH 256u

struct csv_writer {
	int fd;
	char *path;
	dev_t dev;
	ino_t ino;
	char *buf;               /* CSV_BATCH lines */
};

static struct cdr_spool *csv_spool;
static struct csv_writer csv_writer = { .fd = -1 };
static bool csv_registered;

static int csv_post(const struct octo_cdr *cdr);
static void csv_status(struct octo_cdr_backend_status *st);
static int csv_query(const struct octo_cdr_filter *filter,
		     int (*row)(const struct octo_cdr *cdr, void *arg), void *arg, char *err,
		     size_t errsize);

static const struct octo_cdr_backend csv_backend = {
	.name = "csv",
	.description = "CSV file cdr.csv in the data folder",
	.post = csv_post,
	.status = csv_status,
	.query = csv_query,
};

/* ---------------------------------------------------------------- writer */

static int csv_write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void csv_close(void *ctx)
{
	struct csv_writer *w = ctx;

	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	free(w->path);
	w->path = NULL;
	free(w->buf);
	w->buf = NULL;
}

static int csv_open(void *ctx, const char *path, char *err, size_t errsize)
{
	struct csv_writer *w = ctx;
	char header[CDR_CSV_LINE_MAX];
	struct stat st;
	size_t len;

	w->buf = malloc((size_t)CSV_BATCH * CDR_CSV_LINE_MAX);
	w->path = octo_strdup(path);
	w->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
	if (w->fd < 0 || !w->buf || fstat(w->fd, &st)) {
		snprintf(err, errsize, "%s: %s", path, strerror(w->buf ? errno : ENOMEM));
		csv_close(w);
		return OCTO_EFAIL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsize, "%s: not a regular file", path);
		csv_close(w);
		return OCTO_EFAIL;
	}
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	if (st.st_size == 0) {
		len = cdr_csv_header(header, sizeof(header));
		if (csv_write_all(w->fd, header, len)) {
			snprintf(err, errsize, "%s: cannot write the header: %s", path,
				 strerror(errno));
			if (ftruncate(w->fd, 0))
				errno = 0;
			csv_close(w);
			return OCTO_EFAIL;
		}
	}
	return 0;
}

/* True when the path still names the open file (it was not rotated away). */
static bool csv_same_file(struct csv_writer *w)
{
	struct stat st;

	return !stat(w->path, &st) && st.st_dev == w->dev && st.st_ino == w->ino;
}

static int csv_write(void *ctx, const struct octo_cdr *const *recs, size_t n, char *err,
		     size_t errsize)
{
	struct csv_writer *w = ctx;
	struct stat st;

	if (!csv_same_file(w)) {
		char *path = octo_strdup(w->path);
		int rc;

		octo_verbose(2, "%s was moved away: starting a new CDR file", path);
		csv_close(w);
		rc = csv_open(w, path, err, errsize);
		free(path);
		if (rc)
			return rc;
	}
	if (fstat(w->fd, &st)) {
		snprintf(err, errsize, "%s: %s", w->path, strerror(errno));
		return OCTO_EFAIL;
	}
	for (size_t i = 0; i < n; i += CSV_BATCH) {
		size_t len = 0;

		for (size_t k = i; k < n && k < i + CSV_BATCH; k++)
			len += cdr_csv_line(recs[k], w->buf + len, CDR_CSV_LINE_MAX);
		if (csv_write_all(w->fd, w->buf, len)) {
			snprintf(err, errsize, "%s: %s", w->path, strerror(errno));
			/* No half line and no duplicate when the batch is tried again. */
			if (ftruncate(w->fd, st.st_size))
				errno = 0;
			return OCTO_EFAIL;
		}
	}
	return 0;
}

static const struct cdr_spool_ops csv_spool_ops = {
	.thread_name = "cdr csv",
	.open = csv_open,
	.write = csv_write,
	.close = csv_close,
};

/* ---------------------------------------------------------------- backend */

static int csv_post(const struct octo_cdr *cdr)
{
	return cdr_spool_post(csv_spool, cdr);
}

static void csv_status(struct octo_cdr_backend_status *st)
{
	cdr_spool_status(csv_spool, st);
}

/* One pass over the file: counts the matching records and, from the
 * `skip`-th one on, hands them to row() (when row is not NULL). Returns the
 * number of matches, or -1 with errno when the file cannot be read. */
static long csv_pass(const char *path, const struct octo_cdr_filter *f, long skip, long limit,
		     int (*row)(const struct octo_cdr *cdr, void *arg), void *arg, long *passed)
{
	struct cdr_csv_reader *r = malloc(sizeof(*r));
	long matches = 0;
	int n;

	*passed = 0;
	if (!r) {
		errno = ENOMEM;
		return -1;
	}
	r->fp = fopen(path, "re");
	if (!r->fp) {
		int e = errno;

		free(r);
		errno = e;
		return -1;
	}
	while ((n = cdr_csv_read(r)) != 0 && matches < limit) {
		struct octo_cdr c;

		if (n < 0 || cdr_csv_parse(r->fields, n, &c))
			continue;   /* the header, or a line not ours */
		if (!cdr_filter_match(f, &c))
			continue;
		if (row && matches >= skip) {
			(*passed)++;
			if (row(&c, arg)) {
				matches++;
				break;
			}
		}
		matches++;
	}
	fclose(r->fp);
	free(r);
	return matches;
}

static int csv_query(const struct octo_cdr_filter *f,
		     int (*row)(const struct octo_cdr *cdr, void *arg), void *arg, char *err,
		     size_t errsize)
{
	char *path = cdr_spool_path(csv_spool);
	long total = 0, skip = 0, passed;
	int rc = 0;

	if (f->last) {
		/* First pass: how many match, so the second starts at the right one. */
		total = csv_pass(path, f, 0, INT32_MAX, NULL, NULL, &passed);
		if (total < 0)
			goto fail;
		if (total > (long)f->last)
			skip = total - (long)f->last;
	} else {
		total = INT32_MAX;
	}
	/* Records appended meanwhile are not part of this answer. */
	if (csv_pass(path, f, skip, total, row, arg, &passed) < 0)
		goto fail;
	rc = (int)passed;
	free(path);
	return rc;
fail:
	snprintf(err, errsize, "cannot read %s: %s", path, strerror(errno));
	free(path);
	return OCTO_EFAIL;
}

/* ---------------------------------------------------------------- module */

static int csv_apply(struct octo_module *self, struct cdr_conf *conf)
{
	bool enable = cdr_conf_enabled(conf, "csv");
	char *path = cdr_conf_path(conf->csv.file);
	int rc = 0;

	cdr_spool_configure(csv_spool, path, CSV_BATCH, conf->csv.flush_interval,
			    conf->general.max_queue);
	free(path);
	if (enable && !csv_registered) {
		rc = cdr_spool_start(csv_spool);
		if (!rc) {
			rc = octo_cdr_backend_register(self, &csv_backend);
			if (rc)
				cdr_spool_stop(csv_spool);
		}
		csv_registered = !rc;
	} else if (!enable && csv_registered) {
		octo_cdr_backend_unregister(&csv_backend);
		cdr_spool_stop(csv_spool);
		csv_registered = false;
		octo_verbose(1, "csv CDR backend disabled in cdr.conf");
	}
	cdr_conf_free(conf);
	return rc;
}

static int csv_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct cdr_conf conf = { 0 };
	int rc;

	rc = cdr_conf_load(octo_paths.config_dir, CDR_CONF_CSV, &conf, &diags);
	cdr_diags_log(&diags);
	octo_diags_free(&diags);
	if (rc)
		return OCTO_LOAD_FAIL;
	if (!cdr_conf_enabled(&conf, "csv")) {
		octo_verbose(1, "csv is not in [general] backends of cdr.conf: res_cdr_csv not "
			     "needed");
		cdr_conf_free(&conf);
		return OCTO_LOAD_DECLINE;
	}
	csv_spool = cdr_spool_alloc(&csv_spool_ops, &csv_writer);
	if (!csv_spool) {
		cdr_conf_free(&conf);
		return OCTO_LOAD_FAIL;
	}
	if (csv_apply(self, &conf)) {
		cdr_spool_free(csv_spool);
		csv_spool = NULL;
		csv_registered = false;
		return OCTO_LOAD_FAIL;
	}
	return OCTO_LOAD_OK;
}

static int csv_unload(struct octo_module *self)
{
	cdr_spool_free(csv_spool);
	csv_spool = NULL;
	csv_registered = false;
	return 0;
}

static int csv_reload(struct octo_module *self, struct octo_diags *diags)
{
	struct cdr_conf conf = { 0 };

	if (cdr_conf_load(octo_paths.config_dir, CDR_CONF_CSV, &conf, diags))
		return OCTO_ECONFIG;
	return csv_apply(self, &conf) ? OCTO_EFAIL : 0;
}

/* res_cdr_sqlite checks the whole of cdr.conf for octo -t. */
OCTO_MODULE(res_cdr_csv, .description = "CDR backend: CSV file (cdr.csv)", .load = csv_load,
	    .unload = csv_unload, .reload = csv_reload);
