/*
 * chan_pri.c - ISDN PRI gateways: spans E1 (30 B-channels) or T1 (23) with
 * DID ranges. Outgoing calls hunt a B-channel ascending or descending
 * (gateways.conf `hunting`) across the spans; incoming calls for a number
 * in the DID ranges (every number when none is configured) take a channel
 * from the other end, the way the network side hunts opposite to the user
 * side to avoid glare. With every channel busy an incoming call is refused
 * with 503 (ISDN cause 34, no circuit available) and an outgoing one gets
 * OCTO_EBUSY (congestion). The model, config and CLI live in
 * gateway_common.c.
 */
#include <stdio.h>
#include <string.h>

#include "octo/log.h"
#include "octo/module.h"
#include "octo/sip.h"

#include "gateway_common.h"

static void pri_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *r);

static const struct octo_sip_peer_ops pri_ops = {
	.incoming = pri_incoming, .status = gw_status,
};

static struct gw_module pri_mod = { .kind = GW_PRI, .ops = &pri_ops };

static bool pri_is_did(const struct gw *gw, const char *number)
{
	if (!gw->ndids)
		return true;
	for (size_t i = 0; i < gw->ndids; i++)
		if (gw_numrange_match(&gw->dids[i], number))
			return true;
	return false;
}

static void pri_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *r)
{
	struct gw *gw = data;
	enum gw_hunt order = gw->cfg.hunting == GW_HUNT_DESC ? GW_HUNT_ASC : GW_HUNT_DESC;
	int k;

	if (!pri_is_did(gw, in->called)) {
		octo_log(OCTO_NOTICE, "PRI %s: a call for %s, outside its DID ranges", gw->name,
			 in->called);
		r->status = 404;
		return;
	}
	k = gw_slot_take(gw, -1, order, GW_SLOT_IN, in->caller, NULL);
	if (k < 0) {
		octo_verbose(2, "PRI %s: no B-channel free for a call to %s", gw->name, in->called);
		r->status = 503;
		return;
	}
	gw_route_slot(r, gw, (size_t)k);
}

static int pri_load(struct octo_module *self)
{
	return gw_module_load(&pri_mod, self) ? OCTO_LOAD_FAIL : OCTO_LOAD_OK;
}

GW_MODULE_CALLBACKS(pri, pri_mod, GW_PRI)

OCTO_MODULE(chan_pri, .description = "ISDN PRI gateways: E1/T1 spans with DID ranges "
	    "(gateways.conf)", .load = pri_load, .unload = pri_unload, .reload = pri_reload,
	    .check = pri_check,
	    .optional = "chan_sip,res_users");
