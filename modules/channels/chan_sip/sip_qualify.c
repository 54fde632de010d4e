/*
 * sip_qualify.c - OPTIONS pings of registered contacts ("qualify"): one
 * client transaction per ping, to the address the contact registered from
 * (its own TCP/TLS connection when it has one). Any response counts as an
 * answer and gives the round-trip time; a timeout (64*T1, a local 408) or a
 * transport error (a local 503) makes the contact UNREACHABLE. The result
 * goes back to the registrar by user and binding id, so a binding removed
 * meanwhile is simply not found. sip_reg.c decides when to ping.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/log.h"
#include "octo/obj.h"
#include "sip.h"

struct qual_ping {
	char user[64];
	uint64_t id;
	uint64_t sent_ms;
	bool done;
};

static void qual_response(struct sip_txn *txn, struct sip_msg *resp, void *data)
{
	struct qual_ping *p = data;
	int rtt;

	if (p->done || resp->status < 200)
		return;
	p->done = true;
	if (resp->local) {
		rtt = -1;
	} else {
		uint64_t ms = octo_now_ms() - p->sent_ms;

		rtt = ms > 600000 ? 600000 : (int)ms;
	}
	sip_reg_qualified(p->user, p->id, rtt);
}

static void qual_end(struct sip_txn *txn, enum sip_txn_end why, void *data)
{
	struct qual_ping *p = data;

	if (!p->done && why != SIP_END_SHUTDOWN)
		sip_reg_qualified(p->user, p->id, -1);
	free(p);
}

static const struct sip_client_ops qual_ops = { .response = qual_response, .end = qual_end };

void sip_qualify_send(const char *user, uint64_t binding_id, const char *uri,
		      const struct sip_addr *dest)
{
	char host[SIP_ADDR_STRLEN], from[SIP_ADDR_STRLEN + 16];
	struct qual_ping *p;
	struct sip_msg *req;
	struct sip_txn *t;
	unsigned port = 0;

	if (sip_transport_local(dest, host, sizeof(host), &port) != 0)
		octo_strlcpy(host, "invalid", sizeof(host));
	snprintf(from, sizeof(from), strchr(host, ':') ? "sip:octo@[%s]" : "sip:octo@%s", host);
	req = sip_msg_request(SIP_OPTIONS, uri, from, NULL, uri, NULL, NULL, 1);
	p = calloc(1, sizeof(*p));
	if (!req || !p) {
		octo_debug(1, "SIP: cannot qualify %s of user %s: %s", uri, user,
			   req ? "out of memory" : "invalid URI");
		octo_obj_unref(req);
		free(p);
		sip_reg_qualified(user, binding_id, -1);
		return;
	}
	octo_strlcpy(p->user, user, sizeof(p->user));
	p->id = binding_id;
	p->sent_ms = octo_now_ms();
	t = sip_txn_client(req, dest, &qual_ops, p);
	if (!t) {
		free(p);
		sip_reg_qualified(user, binding_id, -1);
		return;
	}
	octo_obj_unref(t);
}
