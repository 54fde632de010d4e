/*
 * chan_fxo.c - FXO gateways: N analog PSTN lines forming a trunk (one call
 * per line). Outgoing calls hunt a free line (ascending, descending or
 * round-robin, gateways.conf `hunting`); a call that finds every line busy
 * gets OCTO_EBUSY (congestion: a trunk group moves on). An incoming call
 * arrives on one line -- the gateway puts the line's number (or its number
 * 1..N) in the Request-URI -- and is routed to that number in the trunk's
 * procedure. The gateway is reached through chan_sip's "sip" service; the
 * model, config and CLI live in gateway_common.c.
 */
#include <stdio.h>
#include <string.h>

#include "octo/log.h"
#include "octo/module.h"
#include "octo/sip.h"

#include "gateway_common.h"

static void fxo_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *r);

static const struct octo_sip_peer_ops fxo_ops = {
	.incoming = fxo_incoming, .status = gw_status,
};

static struct gw_module fxo_mod = { .kind = GW_FXO, .ops = &fxo_ops };

static void fxo_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *r)
{
	struct gw *gw = data;
	int line = gw_line_by_number(gw, in->called);
	int k;

	if (line < 0) {
		octo_log(OCTO_NOTICE, "FXO %s: a call for %s, which is none of its lines", gw->name,
			 in->called);
		r->status = 404;
		return;
	}
	k = gw_slot_take(gw, line, GW_HUNT_ASC, GW_SLOT_IN, in->caller, NULL);
	if (k < 0) {
		r->status = 486;
		return;
	}
	octo_strlcpy(r->called, gw->lines[line].number, sizeof(r->called));
	gw_route_slot(r, gw, (size_t)k);
}

static int fxo_load(struct octo_module *self)
{
	return gw_module_load(&fxo_mod, self) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

GW_MODULE_CALLBACKS(fxo, fxo_mod, GW_FXO)

OCTO_MODULE(chan_fxo, .description = "FXO gateways: analog PSTN lines as a trunk (gateways.conf)",
	    .load = fxo_load, .unload = fxo_unload, .reload = fxo_reload, .check = fxo_check,
	    .optional = "chan_sip,res_users");
