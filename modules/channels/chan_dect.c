/*
 * chan_dect.c - DECT networks (multicell): base stations, each a SIP peer of
 * its own, and handsets (IPUI) registered on one base at a time and
 * assigned to users (gateways.conf `handset = IPUI,USER[,BASE]`, changed at
 * run time with `dect assign`, kept in the internal store). A handset is one
 * of its user's devices: when the user is dialled it rings through the
 * base it is on now, beside the user's other phones. A call from a handset
 * (From: its IPUI) runs its user's procedure as that user.
 *
 * Bases report handsets with a NOTIFY (Event: dect) or INFO whose
 * text/plain body holds "handset=IPUI" and "event=register|handover|detach".
 * A handover moves the handset (and its call) to the base that reports it:
 * the assignment stays, and the call stays up -- the new base continues the
 * dialog with a re-INVITE (a target refresh), which chan_sip handles.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/cli.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sip.h"
#include "octo/store.h"
#include "octo/users.h"

#include "gateway_common.h"

static void dect_incoming(void *data, const struct octo_sip_incoming *in,
			  struct octo_sip_route *r);
static void dect_status(void *data, const char *state, const char *reason);
static int dect_event(void *data, const char *event, const char *content_type, const char *body,
		      size_t len);
static int dect_devices(void *data, const char *user, char (*dests)[OCTO_CHAN_DEST_MAX],
			int max);

static const struct octo_sip_peer_ops dect_ops = {
	.incoming = dect_incoming, .status = dect_status,
	.device_event = dect_event,
};

static void dect_reloaded(struct gw_module *m);

static struct gw_module dect_mod = { .kind = GW_DECT, .ops = &dect_ops,
				     .devices = dect_devices, .reloaded = dect_reloaded };
static bool dect_stored;

static const char *const dect_schema[] = {
	"CREATE TABLE dect_handsets(ipui TEXT PRIMARY KEY, network TEXT NOT NULL, "
	"user TEXT NOT NULL, updated INTEGER NOT NULL)",
};

/* The handset (line index) with that IPUI in gw, or -1. */
static int dect_handset(const struct gw *gw, const char *ipui)
{
	for (size_t i = 0; ipui && i < gw->nlines; i++)
		if (!strcasecmp(gw->lines[i].ipui, ipui))
			return (int)i;
	return -1;
}

static int dect_base_index(const struct gw_base *b)
{
	return (int)(b - b->gw->bases);
}

static void dect_incoming(void *data, const struct octo_sip_incoming *in,
			  struct octo_sip_route *r)
{
	struct gw_base *b = data;
	struct gw *gw = b->gw;
	int h = dect_handset(gw, in->caller);
	char user[GW_NUMBER_MAX + 1];
	int k;

	if (h < 0) {
		octo_log(OCTO_NOTICE, "DECT %s: a call from unknown handset \"%s\" on %s", gw->name,
			 in->caller, b->name);
		r->status = 404;
		return;
	}
	pthread_mutex_lock(&gw->lock);
	octo_strlcpy(user, gw->lines[h].user, sizeof(user));
	gw->lines[h].base = (unsigned)dect_base_index(b);
	octo_strlcpy(gw->lines[h].state, "registered", sizeof(gw->lines[h].state));
	pthread_mutex_unlock(&gw->lock);
	if (!*user) {
		octo_log(OCTO_NOTICE, "DECT %s: handset %s is assigned to no user (dect assign)",
			 gw->name, gw->lines[h].ipui);
		r->status = 403;
		return;
	}
	k = gw_slot_take(gw, h, GW_HUNT_ASC, GW_SLOT_OUT, in->called, NULL);
	if (k < 0) {
		r->status = 486;
		return;
	}
	gw_user_route(user, r);
	gw_route_slot(r, gw, (size_t)k);
}

static void dect_status(void *data, const char *state, const char *reason)
{
	struct gw_base *b = data;

	pthread_mutex_lock(&b->gw->lock);
	octo_strlcpy(b->state, state ? state : "", sizeof(b->state));
	pthread_mutex_unlock(&b->gw->lock);
	octo_verbose(2, "DECT %s: base %s %s%s%s", b->gw->name, b->name, state,
		     reason && *reason ? ": " : "", reason ? reason : "");
}

/* A "key=value" of the body (lines, ';' or '&'). */
static bool dect_kv(const char *body, size_t len, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key), i = 0;

	while (body && i < len) {
		size_t start = i, end;

		while (i < len && body[i] != '\n' && body[i] != ';' && body[i] != '&')
			i++;
		end = i++;
		while (start < end && (body[start] == ' ' || body[start] == '\r'))
			start++;
		while (end > start && (body[end - 1] == ' ' || body[end - 1] == '\r'))
			end--;
		if (end - start > klen && !strncasecmp(body + start, key, klen) &&
		    body[start + klen] == '=') {
			size_t n = end - start - klen - 1;

			if (n >= size)
				n = size - 1;
			memcpy(out, body + start + klen + 1, n);
			out[n] = '\0';
			return true;
		}
	}
	return false;
}

static int dect_event(void *data, const char *event, const char *content_type, const char *body,
		      size_t len)
{
	struct gw_base *b = data;
	struct gw *gw = b->gw;
	char ipui[GW_TAG_MAX + 8], what[32] = "register";
	unsigned from;
	int h;

	if (!dect_kv(body, len, "handset", ipui, sizeof(ipui)))
		return 400;
	dect_kv(body, len, "event", what, sizeof(what));
	h = dect_handset(gw, ipui);
	if (h < 0)
		return 404;
	pthread_mutex_lock(&gw->lock);
	from = gw->lines[h].base;
	if (!strcasecmp(what, "detach")) {
		octo_strlcpy(gw->lines[h].state, "detached", sizeof(gw->lines[h].state));
	} else if (!strcasecmp(what, "register") || !strcasecmp(what, "handover")) {
		gw->lines[h].base = (unsigned)dect_base_index(b);
		octo_strlcpy(gw->lines[h].state, "registered", sizeof(gw->lines[h].state));
	} else {
		pthread_mutex_unlock(&gw->lock);
		return 400;
	}
	pthread_mutex_unlock(&gw->lock);
	if (!strcasecmp(what, "handover"))
		octo_verbose(2, "DECT %s: handset %s handed over from %s to %s", gw->name,
			     gw->lines[h].ipui, from < gw->nbases ? gw->bases[from].name : "?",
			     b->name);
	else
		octo_verbose(2, "DECT %s: handset %s %s on %s", gw->name, gw->lines[h].ipui,
			     !strcasecmp(what, "detach") ? "detached" : "registered", b->name);
	return 200;
}

static int dect_devices(void *data, const char *user, char (*dests)[OCTO_CHAN_DEST_MAX],
			int max)
{
	struct gw_module *m = data;
	int n = 0;

	/* nothing is taken here: the handset counts busy when chan_sip really
	 * calls it (the runtime's claim) */
	gw_rt_rdlock(m);
	for (size_t i = 0; user && i < m->ngws; i++) {
		struct gw *gw = m->gws[i];

		for (size_t h = 0; h < gw->nlines && n < max; h++) {
			char base[GW_NAME_MAX + 1];
			bool mine;
			size_t k;

			pthread_mutex_lock(&gw->lock);
			mine = !strcmp(gw->lines[h].user, user) &&
			       !strcmp(gw->lines[h].state, "registered");
			octo_strlcpy(base, gw->bases[gw->lines[h].base].name, sizeof(base));
			pthread_mutex_unlock(&gw->lock);
			k = gw->lines[h].first_slot;
			if (!mine || !gw_slot_idle(gw, k))
				continue;
			if (gw_dest(m, base, gw->lines[h].ipui, gw->lines[h].ipui, dests[n],
				    OCTO_CHAN_DEST_MAX))
				continue;
			n++;
		}
	}
	gw_rt_unlock(m);
	return n;
}

/* ---------------------------------------------------------------- CLI */

static int dect_cli_networks(struct octo_cli_out *out)
{
	octo_cli_columns(out, "network", "bases", "handsets", "busy", "description", NULL);
	for (size_t i = 0; i < dect_mod.ngws; i++) {
		struct gw *gw = dect_mod.gws[i];
		char bases[16], hs[16], busy[16];

		snprintf(bases, sizeof(bases), "%zu", gw->nbases);
		snprintf(hs, sizeof(hs), "%zu", gw->nlines);
		snprintf(busy, sizeof(busy), "%u", gw_busy(gw));
		octo_cli_row(out, gw->name, bases, hs, busy, gw->cfg.description, NULL);
	}
	return OCTO_CLI_OK;
}

static int dect_cli_bases(struct octo_cli_out *out)
{
	octo_cli_columns(out, "network", "base", "address", "state", "handsets", NULL);
	for (size_t i = 0; i < dect_mod.ngws; i++) {
		struct gw *gw = dect_mod.gws[i];

		pthread_mutex_lock(&gw->lock);
		for (size_t b = 0; b < gw->nbases; b++) {
			char addr[96], hs[16];
			unsigned n = 0;

			for (size_t h = 0; h < gw->nlines; h++)
				n += gw->lines[h].base == b &&
				     !strcmp(gw->lines[h].state, "registered");
			if (!strcasecmp(gw->bases[b].host, "dynamic"))
				octo_strlcpy(addr, "dynamic", sizeof(addr));
			else
				snprintf(addr, sizeof(addr), "%s:%u", gw->bases[b].host,
					 gw->bases[b].port);
			snprintf(hs, sizeof(hs), "%u", n);
			octo_cli_row(out, gw->name, gw->bases[b].name, addr, gw->bases[b].state, hs,
				     NULL);
		}
		pthread_mutex_unlock(&gw->lock);
	}
	return OCTO_CLI_OK;
}

static int dect_cli_handsets(struct octo_cli_out *out)
{
	octo_cli_columns(out, "network", "handset", "user", "base", "state", "call", NULL);
	for (size_t i = 0; i < dect_mod.ngws; i++) {
		struct gw *gw = dect_mod.gws[i];

		pthread_mutex_lock(&gw->lock);
		for (size_t h = 0; h < gw->nlines; h++) {
			const struct gw_line *l = &gw->lines[h];
			const struct gw_slot *s = &gw->slots[l->first_slot];
			char call[64];

			snprintf(call, sizeof(call), "%s%s%s", gw_slot_state_name(s->state),
				 *s->other ? " " : "", s->other);
			octo_cli_row(out, gw->name, l->ipui, *l->user ? l->user : "-",
				     gw->bases[l->base].name, l->state, call, NULL);
		}
		pthread_mutex_unlock(&gw->lock);
	}
	return OCTO_CLI_OK;
}

static int dect_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	int rc = OCTO_CLI_USAGE;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	gw_rt_rdlock(&dect_mod);
	if (!strcasecmp(argv[2], "networks"))
		rc = dect_cli_networks(out);
	else if (!strcasecmp(argv[2], "bases"))
		rc = dect_cli_bases(out);
	else if (!strcasecmp(argv[2], "handsets"))
		rc = dect_cli_handsets(out);
	gw_rt_unlock(&dect_mod);
	return rc;
}

static int dect_cli_assign(struct octo_cli_out *out, int argc, char **argv)
{
	char cb[OCTO_CFG_CLEAN], old[GW_NUMBER_MAX + 1], ipui[GW_TAG_MAX], net[GW_NAME_MAX + 1];
	const char *user;
	struct gw *gw = NULL;
	int h = -1;

	if (argc != 4)
		return OCTO_CLI_USAGE;
	user = strcmp(argv[3], "-") ? argv[3] : "";
	if (*user) {
		const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, "cli");
		struct octo_user *u = users ? users->find(user) : NULL;
		bool known = u != NULL;

		octo_obj_unref(u);
		octo_service_put(users, "cli");
		if (users && !known) {
			octo_cli_error(out, "No user \"%s\" (users.conf).", octo_cfg_clean(cb, user));
			return OCTO_CLI_FAIL;
		}
		if (strlen(user) > GW_NUMBER_MAX) {
			octo_cli_error(out, "\"%s\" is not an extension.", octo_cfg_clean(cb, user));
			return OCTO_CLI_FAIL;
		}
	}
	gw_rt_rdlock(&dect_mod);
	for (size_t i = 0; i < dect_mod.ngws && h < 0; i++) {
		h = dect_handset(dect_mod.gws[i], argv[2]);
		gw = dect_mod.gws[i];
	}
	if (h >= 0) {
		pthread_mutex_lock(&gw->lock);
		octo_strlcpy(old, gw->lines[h].user, sizeof(old));
		octo_strlcpy(gw->lines[h].user, user, sizeof(gw->lines[h].user));
		pthread_mutex_unlock(&gw->lock);
		octo_strlcpy(ipui, gw->lines[h].ipui, sizeof(ipui));
		octo_strlcpy(net, gw->name, sizeof(net));
	}
	gw_rt_unlock(&dect_mod);
	if (h < 0) {
		octo_cli_error(out, "No DECT handset \"%s\" (see dect show handsets).",
			       octo_cfg_clean(cb, argv[2]));
		return OCTO_CLI_FAIL;
	}
	if (dect_stored)
		octo_store_exec("INSERT OR REPLACE INTO dect_handsets(ipui, network, user, updated) "
				"VALUES(?, ?, ?, strftime('%s','now'))",
				OCTO_STORE_ARGS(OCTO_STORE_T(ipui), OCTO_STORE_T(net),
						OCTO_STORE_T(user)));
	if (*user)
		octo_cli_printf(out, "Handset %s (%s) assigned to %s%s%s.", ipui, net, user,
				*old ? ", was " : "", old);
	else
		octo_cli_printf(out, "Handset %s (%s) assigned to nobody%s%s.", ipui, net,
				*old ? ", was " : "", old);
	return OCTO_CLI_OK;
}

static void dect_complete_show(struct octo_cli_completion *c, int pos, const char *partial)
{
	static const char *const words[] = { "networks", "bases", "handsets" };

	for (size_t i = 0; pos == 0 && i < OCTO_ARRAY_LEN(words); i++)
		if (!strncasecmp(words[i], partial ? partial : "", strlen(partial ? partial : "")))
			octo_cli_complete_add(c, words[i]);
}

static const struct octo_cli_cmd dect_cli[] = {
	{ "dect show", "DECT networks, base stations or handsets",
	  "dect show networks|bases|handsets", dect_cli_show, dect_complete_show },
	{ "dect assign", "Assign a DECT handset to a user (- for nobody)",
	  "dect assign <handset> <user>", dect_cli_assign, NULL },
	{ 0 }
};

/* ---------------------------------------------------------------- module */

static int dect_stored_row(const struct octo_store_row *row, void *data)
{
	const char *ipui = octo_store_row_text(row, 0), *user = octo_store_row_text(row, 1);

	for (size_t i = 0; ipui && user && i < dect_mod.ngws; i++) {
		struct gw *gw = dect_mod.gws[i];
		int h = dect_handset(gw, ipui);

		if (h >= 0) {
			pthread_mutex_lock(&gw->lock);
			octo_strlcpy(gw->lines[h].user, user, sizeof(gw->lines[h].user));
			pthread_mutex_unlock(&gw->lock);
		}
	}
	return 0;
}

/* After a reload: the assignments made with `dect assign` (kept in the
 * store) win over gateways.conf, as at load. */
static void dect_reloaded(struct gw_module *m)
{
	if (!dect_stored)
		return;
	gw_rt_rdlock(m);
	octo_store_query("SELECT ipui, user FROM dect_handsets", OCTO_STORE_NOARGS, dect_stored_row,
			 NULL);
	gw_rt_unlock(m);
}

static int dect_load(struct octo_module *self)
{
	dect_stored = octo_store_is_open() &&
		      octo_store_migrate("chan_dect", dect_schema, OCTO_ARRAY_LEN(dect_schema)) >= 0;
	if (gw_module_load(&dect_mod, self))
		return OCTO_LOAD_FAIL;
	if (dect_stored)
		octo_store_query("SELECT ipui, user FROM dect_handsets", OCTO_STORE_NOARGS,
				 dect_stored_row, NULL);
	if (octo_cli_register_all(self, dect_cli)) {
		gw_module_unload(&dect_mod);
		return OCTO_LOAD_FAIL;
	}
	return OCTO_LOAD_OK;
}

GW_MODULE_CALLBACKS(dect, dect_mod, GW_DECT)

OCTO_MODULE(chan_dect, .description = "DECT networks: base stations and handsets of users "
	    "(gateways.conf)", .load = dect_load, .unload = dect_unload, .reload = dect_reload,
	    .check = dect_check,
	    .optional = "chan_sip,res_users");
