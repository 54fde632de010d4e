/*
 * cdr_pgsql_spool.h - the spool file of res_cdr_pgsql: the CDRs that could
 * not be sent to PostgreSQL wait on disk, in order, until it is back.
 * Compiled into res_cdr_pgsql (and its unit test); not part of the core's API.
 *
 * THE FILE
 * One record per line, appended and fsync'd (fdatasync) before append()
 * returns, so a record the writer has spooled survives a crash:
 *
 *   O1<TAB>field<TAB>field ... <TAB>crc32 in 8 hex digits<LF>
 *
 * The fields are the record's (cdr_disk_line() lists them), text escaped so
 * that it holds no tab, line break or control character (\\, \t, \n, \r,
 * \xHH). The CRC-32 covers everything before its tab. A line that does not
 * end with LF (a write cut by a crash: a torn line) is cut off when the file
 * is opened, so the next append starts on a line of its own; a complete
 * line whose checksum or fields are wrong is skipped and counted, never
 * sent.
 *
 * Records are read from the head in batches (peek), sent, then consumed.
 * The read position is kept in memory only: when the last record is
 * consumed the file is truncated to nothing (and fsync'd). After a crash
 * between a send and that truncation the file is sent again from the start;
 * the receiving table ignores rows it already has (res_cdr_pgsql's unique
 * key), so nothing is lost and nothing is counted twice.
 *
 * Not thread-safe: one thread (the module's writer) uses a spool.
 */
#ifndef OCTO_CDR_PGSQL_SPOOL_H
#define OCTO_CDR_PGSQL_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "octo/cdr.h"

/* The longest line cdr_disk_line() writes, LF and NUL included. */
#define CDR_DISK_LINE_MAX 8192

struct cdr_disk_spool;

/* Opens (creating it, mode 0600) the spool file at `path` and reads it
 * through: counts the records waiting, cuts off a torn last line. Returns
 * NULL with the reason in `err` ("/path: Permission denied"). */
struct cdr_disk_spool *cdr_disk_open(const char *path, char *err, size_t errsize);
/* Closes the file (what waits in it stays) and frees the spool. NULL is fine. */
void cdr_disk_close(struct cdr_disk_spool *ds);

/* Records waiting: read at open or appended since, not yet consumed. */
size_t cdr_disk_pending(const struct cdr_disk_spool *ds);
/* Complete lines skipped because they were damaged, since the open. */
uint64_t cdr_disk_damaged(const struct cdr_disk_spool *ds);
/* Bytes cut off at open: a torn last line. */
uint64_t cdr_disk_torn(const struct cdr_disk_spool *ds);

/* Appends the `n` records, one line each, and syncs the file. 0, or
 * OCTO_EFAIL with `err` filled; then the file is cut back to where it was
 * (none of the records is in it). */
int cdr_disk_append(struct cdr_disk_spool *ds, const struct octo_cdr *const *recs, size_t n,
		    char *err, size_t errsize);

/* Reads up to `max` records from the head into `out` (damaged lines are
 * skipped) without consuming them: a second peek returns the same ones.
 * Returns how many (0: none waits), or OCTO_EFAIL with `err` filled. */
int cdr_disk_peek(struct cdr_disk_spool *ds, struct octo_cdr *out, size_t max, char *err,
		  size_t errsize);
/* Consumes the records of the last peek (they were sent). When none waits
 * any more the file is truncated. 0, or OCTO_EFAIL with `err` filled (the
 * records are consumed all the same). */
int cdr_disk_consume(struct cdr_disk_spool *ds, char *err, size_t errsize);

/* One record as a spool line, LF included (size >= CDR_DISK_LINE_MAX);
 * returns its length. */
size_t cdr_disk_line(const struct octo_cdr *cdr, char *buf, size_t size);
/* Parses one line (without its LF) back into a record (steps NULL). NULL,
 * or an error phrase ("has a wrong checksum"). */
const char *cdr_disk_parse(const char *line, size_t len, struct octo_cdr *out);

#endif
