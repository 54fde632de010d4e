/*
 * sip_dialog.c - RFC 3261 section 12 dialogs for calls: the state a dialog
 * keeps (Call-ID, tags, URIs, remote target, route set, CSeq numbers, where
 * requests go), made from a received INVITE (UAS) or from a response to our
 * INVITE (UAC), and the requests sent within it (BYE, re-INVITE, INFO, ACK).
 * A dialog belongs to one call and is used on the loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/obj.h"
#include "octo/octo.h"
#include "sip.h"

#define DLG_MAX_ROUTES 16

char *sip_uri_user(const osip_uri_t *uri, char *buf, size_t size)
{
	buf[0] = '\0';
	if (uri && uri->username)
		octo_strlcpy(buf, uri->username, size);
	return buf;
}

/* "Display" <uri> without parameters (tags are kept apart). */
static char *dlg_name_addr(const osip_from_t *f)
{
	char *uri = NULL, *out;
	size_t n;

	if (!f || !f->url || osip_uri_to_str(f->url, &uri) != 0 || !uri)
		return NULL;
	n = strlen(uri) + (f->displayname ? strlen(f->displayname) : 0) + 8;
	out = malloc(n);
	if (out) {
		if (f->displayname && *f->displayname)
			snprintf(out, n, "%s <%s>", f->displayname, uri);
		else
			snprintf(out, n, "<%s>", uri);
	}
	osip_free(uri);
	return out;
}

static char *dlg_contact(const struct sip_msg *m)
{
	osip_contact_t *c = NULL;
	char *uri = NULL, *out;

	if (osip_message_get_contact(m->osip, 0, &c) < 0 || !c || !c->url ||
	    osip_uri_to_str(c->url, &uri) != 0 || !uri)
		return NULL;
	out = strlen(uri) < 1024 ? strdup(uri) : NULL;
	osip_free(uri);
	return out;
}

/* The Record-Route set of `m` as Route values, reversed for a UAC. */
static int dlg_routes(struct sip_dialog *d, const struct sip_msg *m, bool reverse)
{
	int n = osip_list_size(&m->osip->record_routes);

	if (n <= 0)
		return 0;
	if (n > DLG_MAX_ROUTES)
		return OCTO_EINVAL;
	d->routes = calloc((size_t)n, sizeof(char *));
	if (!d->routes)
		return OCTO_ENOMEM;
	d->nroutes = (size_t)n; /* slots; a failure leaves NULLs, freed alike */
	for (int i = 0; i < n; i++) {
		osip_record_route_t *rr = osip_list_get(&m->osip->record_routes, i);
		char *s = NULL;

		if (!rr || osip_record_route_to_str(rr, &s) != 0 || !s)
			return OCTO_EINVAL;
		d->routes[reverse ? n - 1 - i : i] = strdup(s);
		osip_free(s);
		if (!d->routes[reverse ? n - 1 - i : i])
			return OCTO_ENOMEM;
	}
	return 0;
}

void sip_dialog_clear(struct sip_dialog *d)
{
	free(d->call_id);
	free(d->local_tag);
	free(d->remote_tag);
	free(d->local_uri);
	free(d->remote_uri);
	free(d->remote_target);
	if (d->routes)
		for (size_t i = 0; i < d->nroutes; i++)
			free(d->routes[i]);
	free(d->routes);
	memset(d, 0, sizeof(*d));
}

int sip_dialog_uas(struct sip_dialog *d, const struct sip_msg *invite, const char *local_tag)
{
	const char *rtag = sip_msg_from_tag(invite);

	memset(d, 0, sizeof(*d));
	if (!invite->call_id || !local_tag)
		return OCTO_EINVAL;
	d->call_id = strdup(invite->call_id);
	d->local_tag = strdup(local_tag);
	d->remote_tag = strdup(rtag ? rtag : "");
	d->local_uri = dlg_name_addr(invite->osip->to);
	d->remote_uri = dlg_name_addr(invite->osip->from);
	d->remote_target = dlg_contact(invite);
	if (!d->remote_target && invite->osip->from && invite->osip->from->url) {
		char *u = NULL;

		if (osip_uri_to_str(invite->osip->from->url, &u) == 0 && u) {
			d->remote_target = strdup(u);
			osip_free(u);
		}
	}
	d->remote_cseq = invite->cseq;
	d->local_cseq = 1;
	d->uac = false;
	sip_msg_response_dst(invite, &d->peer);
	if (!d->call_id || !d->local_tag || !d->remote_tag || !d->local_uri || !d->remote_uri ||
	    !d->remote_target || dlg_routes(d, invite, false) != 0) {
		sip_dialog_clear(d);
		return OCTO_EINVAL;
	}
	return 0;
}

int sip_dialog_uac(struct sip_dialog *d, const struct sip_msg *invite, const struct sip_msg *resp,
		   const struct sip_addr *peer)
{
	const char *ltag = sip_msg_from_tag(invite), *rtag = sip_msg_to_tag(resp);

	memset(d, 0, sizeof(*d));
	if (!invite->call_id || !ltag || !rtag)
		return OCTO_EINVAL;
	d->call_id = strdup(invite->call_id);
	d->local_tag = strdup(ltag);
	d->remote_tag = strdup(rtag);
	d->local_uri = dlg_name_addr(invite->osip->from);
	d->remote_uri = dlg_name_addr(invite->osip->to);
	d->remote_target = dlg_contact(resp);
	if (!d->remote_target && invite->osip->req_uri) {
		char *u = NULL;

		if (osip_uri_to_str(invite->osip->req_uri, &u) == 0 && u) {
			d->remote_target = strdup(u);
			osip_free(u);
		}
	}
	d->local_cseq = invite->cseq;
	d->uac = true;
	d->peer = *peer;
	if (!d->call_id || !d->local_tag || !d->remote_tag || !d->local_uri || !d->remote_uri ||
	    !d->remote_target || dlg_routes(d, resp, true) != 0) {
		sip_dialog_clear(d);
		return OCTO_EINVAL;
	}
	return 0;
}

int sip_dialog_refresh(struct sip_dialog *d, const struct sip_msg *req)
{
	char *target = dlg_contact(req);

	if (!target)
		return 0; /* no Contact: the target stays */
	free(d->remote_target);
	d->remote_target = target;
	/* without a route set requests go straight to the target: now where
	 * this request came from (a DECT handset handed over to another base) */
	if (!d->nroutes)
		sip_msg_response_dst(req, &d->peer);
	return 0;
}

int sip_add_contact(struct sip_msg *m, const struct sip_addr *dest)
{
	char host[256], value[320];
	unsigned port;
	bool v6;

	if (sip_transport_local(dest, host, sizeof(host), &port) != 0)
		return OCTO_EFAIL;
	v6 = strchr(host, ':') && host[0] != '[';
	snprintf(value, sizeof(value), "<sip:octo@%s%s%s:%u%s%s>", v6 ? "[" : "", host,
		 v6 ? "]" : "", port, dest->tp == SIP_TP_UDP ? "" : ";transport=",
		 dest->tp == SIP_TP_UDP ? "" : (dest->tp == SIP_TP_TCP ? "tcp" : "tls"));
	return osip_message_set_contact(m->osip, value) == 0 ? 0 : OCTO_EINVAL;
}

struct sip_msg *sip_dialog_request(struct sip_dialog *d, enum sip_method m, uint32_t ack_cseq)
{
	struct sip_msg *req;
	uint32_t cseq = m == SIP_ACK ? ack_cseq : ++d->local_cseq;

	req = sip_msg_request(m, d->remote_target, d->local_uri, d->local_tag, d->remote_uri,
			      d->remote_tag, d->call_id, cseq);
	if (!req)
		return NULL;
	for (size_t i = 0; i < d->nroutes; i++) {
		if (osip_message_set_route(req->osip, d->routes[i]) != 0) {
			octo_obj_unref(req);
			return NULL;
		}
	}
	if (m == SIP_INVITE || m == SIP_REFER || m == SIP_UPDATE)
		sip_add_contact(req, &d->peer);
	return req;
}
