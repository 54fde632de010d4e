/*
 * chan_fxs.c - FXS gateways: analog ports for phones and fax machines, each
 * port belonging to a user (gateways.conf `port = N,EXT[,fax]`). The port
 * is one of its user's devices: when the user is dialled, chan_sip asks
 * this module (devices provider) and the port rings -- an analog phone has
 * no call waiting, so a port already in a call does not ring. Dialling from
 * the port runs the user's procedure as that user: the gateway sends the
 * INVITE with the user's extension (or the port number) in From.
 * A fax port is reached like any user's device; the dialplan's fax relay
 * `90*EXT` (dialplan.conf) dials the fax user, so a fax detected on an
 * incoming call is routed to the fax machine's port.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "octo/log.h"
#include "octo/module.h"
#include "octo/sip.h"

#include "gateway_common.h"

static void fxs_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *r);
static int fxs_devices(void *data, const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int max);

static const struct octo_sip_peer_ops fxs_ops = {
	.incoming = fxs_incoming, .status = gw_status,
};

static struct gw_module fxs_mod = { .kind = GW_FXS, .ops = &fxs_ops, .devices = fxs_devices };

/* The port of `who` (its user's extension or its number), or -1. */
static int fxs_port_of(const struct gw *gw, const char *who)
{
	for (size_t i = 0; who && i < gw->nlines; i++)
		if (!strcmp(gw->lines[i].user, who))
			return (int)i;
	return gw_line_by_number(gw, who);
}

static void fxs_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *r)
{
	struct gw *gw = data;
	int port = fxs_port_of(gw, in->caller);
	int k;

	if (port < 0) {
		octo_log(OCTO_NOTICE, "FXS %s: a call from \"%s\", which is none of its ports",
			 gw->name, in->caller);
		r->status = 403;
		return;
	}
	k = gw_slot_take(gw, port, GW_HUNT_ASC, GW_SLOT_OUT, in->called, NULL);
	if (k < 0) {
		r->status = 486;
		return;
	}
	gw_user_route(gw->lines[port].user, r);
	gw_route_slot(r, gw, (size_t)k);
}

/* The ports of `user` that are idle now. Nothing is taken here: the port
 * is counted busy when chan_sip really calls it (the runtime's claim), so a
 * port that a Dial offered but never rang stays free. */
static int fxs_devices(void *data, const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int max)
{
	struct gw_module *m = data;
	int n = 0;

	gw_rt_rdlock(m);
	for (size_t i = 0; user && i < m->ngws && n < max; i++) {
		struct gw *gw = m->gws[i];
		int port = -1;
		size_t k;

		for (size_t j = 0; j < gw->nlines; j++)
			if (!strcmp(gw->lines[j].user, user))
				port = (int)j;
		if (port < 0)
			continue;
		k = gw->lines[port].first_slot;
		if (!gw_slot_idle(gw, k)) {
			octo_verbose(3, "FXS %s: port %u of %s is in a call", gw->name,
				     gw->lines[port].id, user);
			continue;
		}
		if (gw_dest(m, gw->name, gw->slots[k].tag, user, dests[n], OCTO_CHAN_DEST_MAX))
			continue;
		n++;
	}
	gw_rt_unlock(m);
	return n;
}

static int fxs_load(struct octo_module *self)
{
	return gw_module_load(&fxs_mod, self) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

GW_MODULE_CALLBACKS(fxs, fxs_mod, GW_FXS)

OCTO_MODULE(chan_fxs, .description = "FXS gateways: analog ports of users and fax machines "
	    "(gateways.conf)", .load = fxs_load, .unload = fxs_unload, .reload = fxs_reload,
	    .check = fxs_check,
	    .optional = "chan_sip,res_users");
