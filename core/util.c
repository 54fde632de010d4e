/*
 * util.c - small helpers every part of the core uses: strings, clocks,
 * error texts and the folder settings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "octo/octo.h"
#include "internal.h"

struct octo_paths octo_paths;

const char *octo_strerror(int err)
{
	switch (err) {
	case OCTO_OK: return "success";
	case OCTO_EFAIL: return "failed";
	case OCTO_ENOMEM: return "out of memory";
	case OCTO_EINVAL: return "invalid argument";
	case OCTO_ENOTFOUND: return "not found";
	case OCTO_EEXIST: return "already exists";
	case OCTO_EBUSY: return "in use";
	case OCTO_ETIMEDOUT: return "timed out";
	case OCTO_EHANGUP: return "hung up";
	case OCTO_ECONFIG: return "configuration error";
	default: return "unknown error";
	}
}

size_t octo_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

char *octo_strdup(const char *s)
{
	char *copy;

	if (!s)
		return NULL;
	copy = strdup(s);
	if (!copy) {
		/* Out of memory while copying a string: nothing sensible can go on. */
		fputs("octo: out of memory\n", stderr);
		abort();
	}
	return copy;
}

uint64_t octo_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t octo_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct timespec octo_deadline_after_ms(unsigned ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}
