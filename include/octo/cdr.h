/*
 * cdr.h - call detail records and the backends that store them.
 *
 * The core writes one record per channel when it hangs up and hands it to
 * every registered backend (SQLite, PostgreSQL, CSV ... as modules). A
 * backend's post() is called on the thread that hung the channel up: it must
 * only queue the record and return (its own worker does the writing).
 */
#ifndef OCTO_CDR_H
#define OCTO_CDR_H

#include <stdint.h>

#include "octo/octo.h"

struct octo_module;

enum octo_cdr_disposition {
	OCTO_CDR_ANSWERED,
	OCTO_CDR_NO_ANSWER,
	OCTO_CDR_BUSY,
	OCTO_CDR_FAILED,
	OCTO_CDR_CANCELLED,
};
/* "ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CANCELLED". */
const char *octo_cdr_disposition_name(enum octo_cdr_disposition d);

/* One record: one leg of a call. Strings are empty, never NULL. */
struct octo_cdr {
	char uniqueid[32];       /* the channel id */
	char linkedid[32];       /* ties the legs of one call together */
	char channel[80];        /* source channel name */
	char dst_channel[80];    /* the leg it was bridged to, if any */
	char caller[64];
	char caller_name[80];
	char dialed[64];         /* the called number as dialled */
	char called[64];         /* as finally routed */
	char procedure[64];
	char trunk[64];
	char userfield[128];
	enum octo_cdr_disposition disposition;
	int cause;               /* Q.850 hangup cause */
	char hangup_side[16];    /* "caller", "callee", "pbx" */
	uint64_t start_us, answer_us, end_us;  /* answer_us 0: never answered */
	unsigned duration;       /* seconds from start to end */
	unsigned billsec;        /* seconds from answer to end */
	double cost;
};

struct octo_cdr_backend {
	const char *name;        /* "sqlite" */
	const char *description;
	/* Queues a copy of the record; 0 or OCTO_E*. Must not block. */
	int (*post)(const struct octo_cdr *cdr);
};

int octo_cdr_backend_register(struct octo_module *owner, const struct octo_cdr_backend *be);
void octo_cdr_backend_unregister(const struct octo_cdr_backend *be);

/* Hands a record to every backend (the core calls it at hang-up). Returns
 * how many backends took it. */
int octo_cdr_post(const struct octo_cdr *cdr);

#endif
