/*
 * chan_bri.c - ISDN BRI gateways: ports with two B-channels each, so at most
 * two calls per port; point-to-point ports carry a DID range, point-to-
 * multipoint ports a few MSNs. Outgoing calls hunt a free B-channel across
 * the ports (gateways.conf `hunting`); with every B-channel busy the trunk
 * answers OCTO_EBUSY (congestion), so a trunk group moves on. An incoming
 * call is taken on the port whose MSN or DID range holds the called number
 * (404 when none does, 486 when both B-channels of that port are busy) and
 * routed in the trunk's procedure. The model, config and CLI live in
 * gateway_common.c.
 */
#include <stdio.h>
#include <string.h>

#include "octo/log.h"
#include "octo/module.h"
#include "octo/sip.h"

#include "gateway_common.h"

static void bri_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *r);

static const struct octo_sip_peer_ops bri_ops = {
	.incoming = bri_incoming, .status = gw_status,
};

static struct gw_module bri_mod = { .kind = GW_BRI, .ops = &bri_ops };

/* The port that owns `number`, or -1. */
static int bri_port_of(const struct gw *gw, const char *number)
{
	for (size_t i = 0; i < gw->nlines; i++)
		for (size_t j = 0; j < gw->lines[i].nnumbers; j++)
			if (gw_numrange_match(&gw->lines[i].numbers[j], number))
				return (int)i;
	return -1;
}

static void bri_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *r)
{
	struct gw *gw = data;
	int port = bri_port_of(gw, in->called);
	int k;

	if (port < 0) {
		octo_log(OCTO_NOTICE, "BRI %s: a call for %s, which is no MSN or DID of its ports",
			 gw->name, in->called);
		r->status = 404;
		return;
	}
	k = gw_slot_take(gw, port, GW_HUNT_ASC, GW_SLOT_IN, in->caller, NULL);
	if (k < 0) {
		octo_verbose(2, "BRI %s: port %u has both B-channels busy", gw->name,
			     gw->lines[port].id);
		r->status = 486;
		return;
	}
	gw_route_slot(r, gw, (size_t)k);
}

static int bri_load(struct octo_module *self)
{
	return gw_module_load(&bri_mod, self) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

GW_MODULE_CALLBACKS(bri, bri_mod, GW_BRI)

OCTO_MODULE(chan_bri, .description = "ISDN BRI gateways: ports of two B-channels (gateways.conf)",
	    .load = bri_load, .unload = bri_unload, .reload = bri_reload, .check = bri_check,
	    .optional = "chan_sip,res_users");
