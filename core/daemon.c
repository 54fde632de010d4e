/*
 * daemon.c - the daemon's state that the rest of the core shares: settings
 * from octo.conf, boot state, stop requests (now or gracefully) and the
 * reload of every configuration.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/dialplan.h"
#include "octo/log.h"
#include "octo/sched.h"
#include "internal.h"

struct octo_settings octo_settings;
uint64_t octo_start_time_us;
uint64_t octo_reload_time_us;
static atomic_bool daemon_booted;
static atomic_bool daemon_graceful;
static pthread_mutex_t daemon_reload_lock = PTHREAD_MUTEX_INITIALIZER;

bool octo_fully_booted(void)
{
	return atomic_load(&daemon_booted);
}

void octo_set_booted(bool booted)
{
	atomic_store(&daemon_booted, booted);
}

/* The stop is a SIGTERM to ourselves a moment later, so that the console
 * that asked for it still gets its answer before the server closes. */
static unsigned daemon_stop_timer(void *data)
{
	kill(getpid(), SIGTERM);
	return 0;
}

static void daemon_stop_soon(void)
{
	if (!octo_timer_add(200, daemon_stop_timer, NULL))
		kill(getpid(), SIGTERM);
}

void octo_request_stop(bool gracefully)
{
	if (gracefully) {
		atomic_store(&daemon_graceful, true);
		octo_chan_refuse_new(true);
		if (octo_chan_count() > 0) {
			octo_log(OCTO_NOTICE, "stopping gracefully: refusing new calls, %u still "
				 "active", octo_chan_count());
			return;
		}
	}
	daemon_stop_soon();
}

void octo_main_channel_gone(void)
{
	if (atomic_load(&daemon_graceful) && octo_chan_count() == 0) {
		octo_log(OCTO_NOTICE, "last call ended: stopping");
		daemon_stop_soon();
	}
}

void octo_main_cancel_graceful(void)
{
	atomic_store(&daemon_graceful, false);
	octo_chan_refuse_new(false);
}

bool octo_main_stopping_gracefully(void)
{
	return atomic_load(&daemon_graceful);
}

int octo_reload_all(struct octo_diags *diags)
{
	int rc = 0;

	pthread_mutex_lock(&daemon_reload_lock);
	if (octo_logger_reload(diags))
		rc = OCTO_ECONFIG;
	if (octo_dialplan_reload(diags))
		rc = OCTO_ECONFIG;
	if (octo_loader_reload_all(diags))
		rc = OCTO_ECONFIG;
	if (!rc)
		octo_reload_time_us = octo_wall_us();
	pthread_mutex_unlock(&daemon_reload_lock);
	for (size_t i = 0; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "reload: %s", diags->items[i].message);
	return rc;
}
