/*
 * log.h - the logger. Lines are tagged with time, level, module and, where
 * there is one, the call id; they go to every console (each at its own
 * verbosity) and to the channels set in logger.conf.
 *
 * Thread context: any thread.
 */
#ifndef OCTO_LOG_H
#define OCTO_LOG_H

#include "octo/octo.h"

enum octo_log_level {
	OCTO_LOG_ERROR = 0,
	OCTO_LOG_WARNING,
	OCTO_LOG_NOTICE,
	OCTO_LOG_VERBOSE, /* with a verbosity 1..5 */
	OCTO_LOG_DEBUG,   /* with a debug level 1..5 */
	OCTO_LOG_LEVELS
};

/* Short forms used in code: octo_log(OCTO_WARNING, ...). */
#define OCTO_ERROR OCTO_LOG_ERROR
#define OCTO_WARNING OCTO_LOG_WARNING
#define OCTO_NOTICE OCTO_LOG_NOTICE

/* Each compilation unit logs under a module name. Modules built in Octo's
 * tree get -DOCTO_MODULE_NAME="name" from Makefile.am; out-of-tree modules
 * should define it too, or the source file name is used. */
#ifndef OCTO_MODULE_NAME
#define OCTO_MODULE_NAME NULL
#endif

/* One log record, as handed to the sinks. */
struct octo_log_record {
	enum octo_log_level level;
	int sublevel;            /* verbose or debug level 1..5; 0 otherwise */
	const char *module;      /* never NULL */
	const char *file;        /* basename */
	int line;
	const char *func;
	const char *callid;      /* NULL when the line is not about a call */
	uint64_t time_us;        /* wall clock */
	const char *message;     /* without a trailing newline */
	const char *formatted;   /* "[2026-11-26 10:00:00.123] WARNING[chan_sip] [callid] file:line func: message" */
};

void octo_log_full(enum octo_log_level level, int sublevel, const char *module, const char *file,
		   int line, const char *func, const char *callid, const char *fmt, ...)
	OCTO_PRINTF(8, 9);

#define octo_log(level, ...)                                                                 \
	octo_log_full((level), 0, OCTO_MODULE_NAME, __FILE__, __LINE__, __func__, NULL,         \
		      __VA_ARGS__)
#define octo_verbose(n, ...)                                                                 \
	octo_log_full(OCTO_LOG_VERBOSE, (n), OCTO_MODULE_NAME, __FILE__, __LINE__, __func__,    \
		      NULL, __VA_ARGS__)
#define octo_debug(n, ...)                                                                   \
	do {                                                                                 \
		if (octo_log_debug_level >= (n))                                             \
			octo_log_full(OCTO_LOG_DEBUG, (n), OCTO_MODULE_NAME, __FILE__,      \
				      __LINE__, __func__, NULL, __VA_ARGS__);                \
	} while (0)

/* Global debug level (core set debug N); read without a lock on purpose. */
extern volatile int octo_log_debug_level;

/* The call id that lines logged from this thread are tagged with when no
 * explicit one is given (a call's thread sets its channel id). NULL clears.
 * The string is borrowed and must outlive the setting. */
void octo_log_set_thread_callid(const char *callid);
const char *octo_log_thread_callid(void);

/* ------------------------------------------------------------------ sinks
 * A sink receives every record at or below its level; `max_verbose` and
 * `max_debug` bound the VERBOSE and DEBUG sublevels it wants (0 = none).
 * Sinks are called with the logger's lock held: they must not log and must
 * not block for long (buffer and return). */
struct octo_log_sink {
	void (*write)(const struct octo_log_record *rec, void *data);
	void *data;
	unsigned level_mask;     /* bit per enum octo_log_level */
	int max_verbose;
	int max_debug;
};
/* Returns an id > 0, or a negative OCTO_E*. */
int octo_log_sink_add(const struct octo_log_sink *sink);
void octo_log_sink_set_verbose(int id, int max_verbose);
void octo_log_sink_remove(int id);

/* Parses "error", "warning", "notice", "verbose", "debug" (and plurals); -1 if unknown. */
int octo_log_level_parse(const char *name);
const char *octo_log_level_name(enum octo_log_level level);

#endif
