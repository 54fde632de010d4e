/*
 * sip_test_util.h - fixtures shared by chan_sip's unit tests that run the
 * real event loop and transaction layer with a fake transport
 * (test_sip_auth.c, test_sip_peer.c, test_sip_regout.c):
 *  - sip_cfg_get() stubbed (one empty config kept for the whole run; each
 *    test stubs sip_cfg_part() itself);
 *  - a fake transport that keeps a copy of every message sent
 *    (sent_log/sent_count under sent_lock), sent_clear(), sent_wait(),
 *    sent_find();
 *  - sip_test_stack_start()/sip_test_stack_stop(): the SIP stack's start
 *    and stop around the tests, osip's trace silenced.
 *
 * It defines functions: include it once, from the test's .c file, after
 * "sip.h". Define SIP_TEST_SENT_MAX before including it to change how many
 * sent messages are kept (256 by default).
 */
#ifndef OCTO_SIP_TEST_UTIL_H
#define OCTO_SIP_TEST_UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "sip.h"
#include "../../core/internal.h"

#ifndef SIP_TEST_SENT_MAX
#define SIP_TEST_SENT_MAX 256
#endif
#ifndef SIP_TEST_WAIT_MS
#define SIP_TEST_WAIT_MS 10000
#endif

/* ---------------------------------------------------------------- stubbed config */

struct sip_cfg *sip_cfg_get(void)
{
	static struct sip_cfg *cfg;

	if (!cfg)
		cfg = octo_obj_alloc(sizeof(*cfg), NULL); /* kept for the whole run */
	return octo_obj_ref(cfg);
}

#ifdef SIP_TEST_REG_STUBS
/* For the tests of SIP peers: the registrar settings (realm "octo", MD5,
 * nonces valid 30 s) and the transport's overload guard (sip_transport.c is
 * not linked). */
static struct sip_reg_conf test_reg = {
	.realm = "octo",
	.nonce_lifetime = 30,
	.algs = { SIP_DIGEST_MD5 },
	.nalgs = 1,
};

void *sip_cfg_part(const struct sip_cfg *cfg, const struct sip_cfg_part *part)
{
	return part == &sip_reg_cfg_part ? &test_reg : NULL;
}

bool sip_overloaded(void)
{
	return false;
}

void sip_overload_shed(void)
{
}
#endif

/* ---------------------------------------------------------------- fake transport */

static pthread_mutex_t sent_lock = PTHREAD_MUTEX_INITIALIZER;
static char *sent_log[SIP_TEST_SENT_MAX];
static int sent_count;

int sip_transport_send(const struct sip_addr *dest, const char *buf, size_t len)
{
	pthread_mutex_lock(&sent_lock);
	if (sent_count < (int)OCTO_ARRAY_LEN(sent_log))
		sent_log[sent_count++] = strndup(buf, len);
	pthread_mutex_unlock(&sent_lock);
	return 0;
}

int sip_transport_send_for(const struct sip_addr *dest, const char *buf, size_t len,
			   const char *txn_key)
{
	(void)txn_key; /* sends here do not fail */
	return sip_transport_send(dest, buf, len);
}

int sip_transport_local(const struct sip_addr *dest, char *host, size_t size, unsigned *port)
{
	octo_strlcpy(host, "192.0.2.100", size);
	*port = 5060;
	return 0;
}

/* Forgets (and frees) every sent message. */
static inline void sent_clear(void)
{
	pthread_mutex_lock(&sent_lock);
	for (int i = 0; i < sent_count; i++)
		free(sent_log[i]);
	sent_count = 0;
	pthread_mutex_unlock(&sent_lock);
}

/* Waits for the n-th (1-based) sent message; a copy (free it) or NULL. */
static inline char *sent_wait(int n)
{
	uint64_t end = octo_now_ms() + SIP_TEST_WAIT_MS;
	char *s = NULL;

	while (!s) {
		pthread_mutex_lock(&sent_lock);
		if (sent_count >= n)
			s = strdup(sent_log[n - 1]);
		pthread_mutex_unlock(&sent_lock);
		if (s || octo_now_ms() > end)
			break;
		usleep(1000);
	}
	return s;
}

/* The first sent message that starts with `start` (a copy, free it) within
 * SIP_TEST_WAIT_MS, or NULL. */
static inline char *sent_find(const char *start)
{
	uint64_t end = octo_now_ms() + SIP_TEST_WAIT_MS;
	char *s = NULL;

	while (!s && octo_now_ms() < end) {
		pthread_mutex_lock(&sent_lock);
		for (int i = 0; i < sent_count && !s; i++)
			if (!strncmp(sent_log[i], start, strlen(start)))
				s = strdup(sent_log[i]);
		pthread_mutex_unlock(&sent_lock);
		if (!s)
			usleep(1000);
	}
	return s;
}

/* ---------------------------------------------------------------- the stack */

static void sip_test_quiet_trace(const char *fi, int li, osip_trace_level_t level,
				 const char *chfr, va_list ap)
{
}

/* Starts the parser (trace silenced), the scheduler, the transaction layer
 * on short timers, digest authentication and the registry. */
static inline void sip_test_stack_start(void)
{
	parser_init();
	osip_trace_initialize_func(END_TRACE_LEVEL, sip_test_quiet_trace);
	octo_sched_start(2);
	sip_txn_set_timers(20, 80, 100);
	sip_txn_init();
	sip_auth_init();
	octo_registry_init();
}

/* Stops what sip_test_stack_start() started. */
static inline void sip_test_stack_stop(void)
{
	sip_loop_run((void (*)(void *))sip_txn_shutdown, NULL);
	octo_sched_stop();
	sip_auth_fini();
	octo_registry_shutdown();
}

#endif
