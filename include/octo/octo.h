/*
 * octo.h - common definitions shared by the core and every module:
 * error codes, small helpers and the folders the daemon runs with.
 */
#ifndef OCTO_OCTO_H
#define OCTO_OCTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Functions return 0 or one of these negative codes; allocators return NULL. */
enum octo_err {
	OCTO_OK = 0,
	OCTO_EFAIL = -1,      /* generic failure, already logged */
	OCTO_ENOMEM = -2,
	OCTO_EINVAL = -3,     /* bad argument or bad input */
	OCTO_ENOTFOUND = -4,
	OCTO_EEXIST = -5,
	OCTO_EBUSY = -6,      /* in use: refused */
	OCTO_ETIMEDOUT = -7,
	OCTO_EHANGUP = -8,    /* the channel hung up */
	OCTO_ECONFIG = -9,    /* configuration error, reported with file:line */
};

/* Returns a static English text for an OCTO_E* code. */
const char *octo_strerror(int err);

#define OCTO_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define OCTO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define OCTO_UNUSED __attribute__((unused))
#else
#define OCTO_PRINTF(f, a)
#define OCTO_UNUSED
#endif

/*
 * Folders the daemon runs with, from octo.conf [directories] and the command
 * line. Filled once at start-up before modules load; read-only afterwards.
 */
struct octo_paths {
	const char *config_dir;  /* -C, default SYSCONFDIR/octo */
	const char *data_dir;    /* sqlite store, recordings */
	const char *run_dir;     /* pid file, control socket */
	const char *log_dir;
	const char *module_dir;
	const char *sound_dir;
	const char *socket_path; /* -s, default run_dir/octo.ctl */
};
extern struct octo_paths octo_paths;

/* Safe string copy: always NUL-terminates, returns strlen(src). */
size_t octo_strlcpy(char *dst, const char *src, size_t size);

/* strdup that aborts the process on out-of-memory; NULL gives NULL. */
char *octo_strdup(const char *s);

/* Monotonic time in milliseconds, and wall-clock time in microseconds. */
uint64_t octo_now_ms(void);
uint64_t octo_wall_us(void);

#endif
