/*
 * chan_sip.c - the chan_sip module: load, unload, reload and check, the
 * one-time libosip2 set-up, and the table of the parts of the module that
 * plug into the stack (registrar, auth, calls...).
 *
 * DESIGN
 *  - load: libosip2's parser tables (parser_init) and its trace routed to
 *    our logger; sip.conf read and validated (no sip.conf: the module
 *    declines); the transaction tables; the parts' init; then the
 *    listeners open (nothing arrives before everything is ready).
 *  - unload: on the loop thread, listeners and connections close and every
 *    transaction ends (end callbacks get SIP_END_SHUTDOWN); then the parts'
 *    fini and the handler table reset.
 *  - The module is resident (OCTO_MOD_RESIDENT): libosip2 keeps global
 *    parser tables and a trace callback into our code, and jobs posted to
 *    the loop may still point here after unload.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "octo/config.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/octo.h"
#include "sip.h"
#include "sip_media.h"
#include "sip_peer.h"
#include "sip_mwi.h"

/* The parts of chan_sip that plug into the stack: init at load (after the
 * stack is ready, before the listeners open), fini at unload. Add a line
 * here for each new part, e.g. { "registrar", sip_reg_init, sip_reg_fini }. */
struct sip_part {
	const char *name;
	int (*init)(void);
	void (*fini)(void);
};

static const struct sip_part sip_parts[] = {
	/* first: its fini runs last, after the parts that free RTP endpoints */
	{ "media", sip_media_init, sip_media_fini },
	/* music on hold feeds RTP endpoints: its fini runs just before media's */
	{ "moh", sip_moh_init, sip_moh_fini },
	{ "auth", sip_auth_init, sip_auth_fini },
	{ "security", sip_sec_init, sip_sec_fini },
	{ "registrar", sip_reg_init, sip_reg_fini },
	{ "calls", sip_call_init, sip_call_fini },
	{ "transfers", sip_refer_init, sip_refer_fini },
	{ "peers", sip_peer_init, sip_peer_fini }, /* trunks, gateways: sip_peer.c */
	{ "mwi", sip_mwi_init, sip_mwi_fini }, /* message-summary: sip_mwi.c */
	{ NULL, NULL, NULL },
};

static pthread_mutex_t sip_reload_lock = PTHREAD_MUTEX_INITIALIZER;
static bool sip_loaded;

__attribute__((format(printf, 4, 0))) static void
sip_osip_trace(const char *fi, int li, osip_trace_level_t level, const char *chfr, va_list ap)
{
	char buf[512];
	size_t n;

	/* libosip2 reports every parse error it meets; our own validation
	 * logs what matters, so its lines are debug level 3 */
	if (octo_log_debug_level < 3)
		return;
	vsnprintf(buf, sizeof(buf), chfr, ap);
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	octo_log_full(OCTO_LOG_DEBUG, 3, OCTO_MODULE_NAME, fi ? fi : "osip", li, "libosip2", NULL,
		      "osip: %s", buf);
}

static bool sip_conf_exists(const char *dir)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/sip.conf", dir ? dir : ".");
	return access(path, F_OK) == 0;
}

static void sip_log_diags(const struct octo_diags *d)
{
	for (size_t i = 0; i < d->count; i++)
		octo_log(d->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING, "%s",
			 d->items[i].message);
}

static void sip_parts_fini(size_t count)
{
	while (count--)
		if (sip_parts[count].fini)
			sip_parts[count].fini();
}

static void sip_teardown(void *data)
{
	sip_transport_stop();
	sip_txn_shutdown();
}

static int chan_sip_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct sip_cfg *cfg;
	size_t parts = 0;

	if (!sip_conf_exists(octo_paths.config_dir)) {
		octo_log(OCTO_NOTICE, "no sip.conf in %s: SIP is off",
			 octo_paths.config_dir ? octo_paths.config_dir : ".");
		return OCTO_LOAD_DECLINE;
	}
	parser_init();
	osip_trace_initialize_func(END_TRACE_LEVEL, sip_osip_trace);

	cfg = sip_cfg_load(octo_paths.config_dir, &diags);
	sip_log_diags(&diags);
	octo_diags_free(&diags);
	if (!cfg)
		return OCTO_LOAD_FAIL;
	sip_cfg_set(cfg);
	if (sip_txn_init() != 0)
		goto fail;
	for (; sip_parts[parts].name; parts++) {
		if (sip_parts[parts].init && sip_parts[parts].init() != 0) {
			octo_log(OCTO_ERROR, "SIP: the %s part failed to start",
				 sip_parts[parts].name);
			goto fail;
		}
	}
	if (sip_cli_register(self) != 0 || sip_peer_service_register(self) != 0)
		goto fail;
	if (sip_transport_start(cfg) != 0)
		goto fail;
	octo_obj_unref(cfg);
	sip_loaded = true;
	return OCTO_LOAD_OK;

fail:
	if (sip_loop_run(sip_teardown, NULL) != 0)
		sip_teardown(NULL);
	sip_parts_fini(parts);
	sip_core_reset();
	sip_cfg_clear();
	octo_obj_unref(cfg);
	return OCTO_LOAD_FAIL;
}

static int chan_sip_unload(struct octo_module *self)
{
	size_t parts = 0;

	pthread_mutex_lock(&sip_reload_lock);
	sip_loaded = false;
	if (sip_loop_run(sip_teardown, NULL) != 0)
		sip_teardown(NULL); /* the loop is gone: nothing runs concurrently */
	while (sip_parts[parts].name)
		parts++;
	sip_parts_fini(parts);
	sip_core_reset();
	sip_cfg_clear();
	pthread_mutex_unlock(&sip_reload_lock);
	return 0;
}

int sip_reload(struct octo_diags *diags)
{
	struct sip_cfg *cfg, *old;
	char what[256];

	pthread_mutex_lock(&sip_reload_lock);
	if (!sip_loaded) {
		pthread_mutex_unlock(&sip_reload_lock);
		octo_diags_add(diags, OCTO_DIAG_ERROR, NULL, 0, "chan_sip is not running");
		return OCTO_EFAIL;
	}
	cfg = sip_cfg_load(octo_paths.config_dir, diags);
	if (!cfg) {
		pthread_mutex_unlock(&sip_reload_lock);
		return OCTO_ECONFIG;
	}
	old = sip_cfg_get();
	if (old && sip_transport_changed(old, cfg, what, sizeof(what)))
		octo_diags_add(diags, OCTO_DIAG_WARNING, "sip.conf", 0,
			       "%s changed: the SIP listeners keep their current settings until "
			       "Octo restarts (everything else is applied now)",
			       what);
	sip_cfg_set(cfg);
	pthread_mutex_unlock(&sip_reload_lock);
	octo_obj_unref(old);
	octo_obj_unref(cfg);
	octo_verbose(1, "SIP: sip.conf reloaded");
	return 0;
}

static int chan_sip_reload(struct octo_module *self, struct octo_diags *diags)
{
	return sip_reload(diags);
}

static int chan_sip_check(const char *config_dir, struct octo_diags *diags)
{
	struct sip_cfg *cfg;

	if (!sip_conf_exists(config_dir))
		return 0;
	parser_init();
	cfg = sip_cfg_load(config_dir, diags);
	if (!cfg)
		return OCTO_ECONFIG;
	octo_obj_unref(cfg);
	return 0;
}

OCTO_MODULE(chan_sip, .description = "SIP: UDP, TCP and TLS transports, transactions, calls",
	    .load = chan_sip_load, .unload = chan_sip_unload, .reload = chan_sip_reload,
	    .check = chan_sip_check, .flags = OCTO_MOD_RESIDENT);
