/*
 * sip_refer.c - call transfers by SIP REFER (RFC 3515) within a call:
 * blind (Refer-To: <sip:102@pbx>) and attended (Refer-To with a Replaces
 * header naming another call of the same user, RFC 3891), with the implicit
 * subscription's NOTIFYs (message/sipfrag) or none when the phone asks for
 * Refer-Sub: false (RFC 4488). The moves themselves are the core's
 * (octo_chan_redirect, octo_bridge_join in bridge.h).
 *
 * DESIGN
 *  - Everything runs on the loop thread, in the REFER handler: the core
 *    functions only check and post the request to the bridge's thread, so
 *    the outcome is known before the handler returns and both NOTIFYs go
 *    out at once ("100 Trying", then "200 OK" or the failure). The bridge
 *    then hangs up the transferor's legs; their BYEs come from the hang-up
 *    jobs, which run on the loop after this handler, so after the NOTIFYs.
 *  - The transferor is the phone at the far end of the REFER's dialog: the
 *    Call-ID and both tags must match a live answered call, which that phone
 *    authenticated when the call was set up (an outgoing call rang the
 *    user's registered contact). A Replaces dialog must belong to the same
 *    user. The Refer-To user part is the only thing taken from the target,
 *    checked like a dialled number; its host is ignored.
 *  - A NOTIFY transaction holds a reference on its call until it ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/bridge.h"
#include "octo/channel.h"
#include "octo/dialplan.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/users.h"
#include "sip.h"

#define REFER_TO_MAX 1024 /* longer Refer-To values are refused (400) */
#define REFER_USER_MAX 64
#define REFER_TAG_MAX 256

/* What a Refer-To says. */
struct refer_target {
	char user[REFER_USER_MAX + 1]; /* the number to transfer to */
	bool replaces;
	char call_id[REFER_TAG_MAX + 1]; /* Replaces: the other call of the transferor */
	char to_tag[REFER_TAG_MAX + 1];
	char from_tag[REFER_TAG_MAX + 1];
};

/* ---------------------------------------------------------------- parsing the Refer-To */

static int refer_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undoes %XX escapes of `len` bytes of `in` into out (NUL-terminated).
 * False for a bad escape, an escaped control character or a result that
 * does not fit. */
static bool refer_unescape(const char *in, size_t len, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '%') {
			int hi = i + 2 < len ? refer_hex(in[i + 1]) : -1;
			int lo = hi >= 0 ? refer_hex(in[i + 2]) : -1;

			if (lo < 0)
				return false;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c < ' ' || c == 0x7f || n + 1 >= size)
			return false;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return true;
}

/* A number as a dialplan takes it: digits, letters and + * # . _ - */
static bool refer_number_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > REFER_USER_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z') || strchr("+*#._-", *s)))
			return false;
	return true;
}

/* A tag or Call-ID of a Replaces value: printable, no blank, no ';'. */
static bool refer_token_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == ';')
			return false;
	return true;
}

/* "callid;to-tag=X;from-tag=Y[;early-only]" (already unescaped). */
static bool refer_parse_replaces(char *v, struct refer_target *t)
{
	char *save = NULL, *part = strtok_r(v, ";", &save);
	bool have_to = false, have_from = false;

	if (!part || strlen(part) > REFER_TAG_MAX || !refer_token_ok(part))
		return false;
	octo_strlcpy(t->call_id, part, sizeof(t->call_id));
	while ((part = strtok_r(NULL, ";", &save))) {
		char *eq = strchr(part, '=');

		if (!eq)
			continue; /* early-only and other flags */
		*eq++ = '\0';
		if (strlen(eq) > REFER_TAG_MAX || !refer_token_ok(eq))
			return false;
		if (!strcasecmp(part, "to-tag")) {
			octo_strlcpy(t->to_tag, eq, sizeof(t->to_tag));
			have_to = true;
		} else if (!strcasecmp(part, "from-tag")) {
			octo_strlcpy(t->from_tag, eq, sizeof(t->from_tag));
			have_from = true;
		}
	}
	return have_to && have_from;
}

/* The URI's headers ("Replaces=...&X=y"): takes Replaces, ignores others. */
static int refer_parse_headers(const char *h, size_t len, struct refer_target *t, const char **why)
{
	while (len) {
		const char *amp = memchr(h, '&', len), *eq;
		size_t n = amp ? (size_t)(amp - h) : len;

		eq = memchr(h, '=', n);
		if (eq && (size_t)(eq - h) == 8 && !strncasecmp(h, "Replaces", 8)) {
			char value[3 * REFER_TAG_MAX + 64];

			if (t->replaces) {
				*why = "Refer-To has two Replaces headers";
				return 400;
			}
			if (!refer_unescape(eq + 1, n - (size_t)(eq + 1 - h), value,
					    sizeof(value)) ||
			    !refer_parse_replaces(value, t)) {
				*why = "bad Replaces in Refer-To (call-id;to-tag=..;from-tag=..)";
				return 400;
			}
			t->replaces = true;
		}
		if (!amp)
			break;
		len -= n + 1;
		h = amp + 1;
	}
	return 0;
}

/* Parses one Refer-To value. Returns 0, or a status with *why. */
static int refer_parse_value(const char *value, struct refer_target *t, const char **why)
{
	const char *start, *end, *q, *colon, *raw;
	char uri[REFER_TO_MAX + 1], user[3 * REFER_USER_MAX + 1];
	osip_uri_t *u = NULL;
	size_t len, ulen;
	int status = 0;

	memset(t, 0, sizeof(*t));
	*why = "bad Refer-To";
	if (strlen(value) > REFER_TO_MAX) {
		*why = "Refer-To is too long";
		return 400;
	}
	start = strchr(value, '<');
	if (start) {
		start++;
		end = strchr(start, '>');
		if (!end)
			return 400;
	} else {
		/* a bare URI: it ends at the first header parameter */
		start = value + strspn(value, " \t");
		end = start + strcspn(start, "; \t");
	}
	len = (size_t)(end - start);
	q = memchr(start, '?', len);
	colon = memchr(start, ':', len);
	if (!colon || colon == start) {
		*why = "Refer-To is not a URI";
		return 400;
	}
	if (!((colon - start == 3 && !strncasecmp(start, "sip", 3)) ||
	      (colon - start == 4 && !strncasecmp(start, "sips", 4)))) {
		*why = "only sip: and sips: transfer targets are supported";
		return 416;
	}
	memcpy(uri, start, q ? (size_t)(q - start) : len);
	uri[q ? (size_t)(q - start) : len] = '\0';
	if (osip_uri_init(&u) != 0)
		return 500;
	if (osip_uri_parse(u, uri) != 0 || !u->host) {
		status = 400;
		goto out;
	}
	/* the user part as written (libosip2 decodes escapes leniently: "1%2"
	 * would give "1"), decoded once here */
	raw = uri + (colon - start) + 1;
	ulen = strchr(raw, '@') ? strcspn(raw, ":@") : 0;
	if (!u->username || !ulen || ulen >= sizeof(user) ||
	    !refer_unescape(raw, ulen, user, sizeof(user)) || !refer_number_ok(user)) {
		*why = "the Refer-To user part is not a number (digits, letters, + * # . _ -)";
		status = 400;
		goto out;
	}
	octo_strlcpy(t->user, user, sizeof(t->user));
	if (q)
		status = refer_parse_headers(q + 1, (size_t)(end - q - 1), t, why);
out:
	osip_uri_free(u);
	return status;
}

/* The one Refer-To header of the request (full or compact name). */
static int refer_parse(const struct sip_msg *req, struct refer_target *t, const char **why)
{
	const char *value = NULL;
	int pos = 0, count = 0;

	while (!osip_list_eol(&req->osip->headers, pos)) {
		osip_header_t *h = osip_list_get(&req->osip->headers, pos++);

		if (h && h->hname &&
		    (!strcasecmp(h->hname, "Refer-To") || !strcasecmp(h->hname, "r"))) {
			value = h->hvalue;
			count++;
		}
	}
	if (count != 1 || !value) {
		*why = count ? "more than one Refer-To" : "no Refer-To";
		return 400;
	}
	return refer_parse_value(value, t, why);
}

/* ---------------------------------------------------------------- answers */

static void refer_reject(struct sip_txn *txn, int status, const char *why)
{
	struct sip_msg *r = sip_txn_response(txn, status, NULL);

	if (!r)
		return;
	if (why) {
		char w[200];

		snprintf(w, sizeof(w), "399 octo \"%.150s\"", why);
		sip_msg_add_header(r, "Warning", w);
	}
	sip_txn_send(txn, r);
}

static void refer_notify_resp(struct sip_txn *txn, struct sip_msg *resp, void *data)
{
}

static void refer_notify_end(struct sip_txn *txn, enum sip_txn_end why, void *data)
{
	octo_obj_unref(data);
}

static const struct sip_client_ops refer_notify_ops = { .response = refer_notify_resp,
							.end = refer_notify_end };

/* Sends the NOTIFY of the REFER (CSeq refer_cseq) with a sipfrag status
 * line; `final` ends the implicit subscription. */
static void refer_notify(struct sip_call *c, uint32_t refer_cseq, int status, const char *reason,
			 bool final)
{
	struct sip_dialog *dlg = sip_call_dialog(c);
	struct sip_msg *m;
	struct sip_txn *t;
	char event[48], body[96];
	int n;

	if (!dlg)
		return;
	m = sip_dialog_request(dlg, SIP_NOTIFY, 0);
	if (!m)
		return;
	sip_add_contact(m, &dlg->peer);
	snprintf(event, sizeof(event), "refer;id=%u", (unsigned)refer_cseq);
	sip_msg_add_header(m, "Event", event);
	sip_msg_add_header(m, "Subscription-State",
			   final ? "terminated;reason=noresource" : "active;expires=60");
	n = snprintf(body, sizeof(body), "SIP/2.0 %d %s\r\n", status, reason);
	sip_msg_set_body(m, "message/sipfrag;version=2.0", body, (size_t)n);
	t = sip_txn_client(m, &dlg->peer, &refer_notify_ops, octo_obj_ref(c));
	if (!t)
		octo_obj_unref(c);
	octo_obj_unref(t);
}

/* The sipfrag for what the core said. */
static int refer_status(int rc, const char **reason)
{
	switch (rc) {
	case 0: *reason = "OK"; return 200;
	case OCTO_ENOTFOUND: *reason = "Not Found"; return 404;
	case OCTO_EBUSY: *reason = "Busy Here"; return 486;
	case OCTO_EHANGUP: *reason = "Request Terminated"; return 487;
	default: *reason = "Service Unavailable"; return 503;
	}
}

/* True when the phone asks for no NOTIFY (RFC 4488). */
static bool refer_sub_false(const struct sip_msg *req)
{
	const char *v = sip_msg_header(req, "Refer-Sub");

	return v && !strncasecmp(v + strspn(v, " \t"), "false", 5);
}

/* Where the transferor's calls start: its user's procedure. */
static void refer_procedure(const char *user, struct octo_channel *chan, char *buf, size_t size)
{
	const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, "chan_sip");
	struct octo_user *u = users && *user ? users->find(user) : NULL;

	if (u && u->procedure && *u->procedure)
		octo_strlcpy(buf, u->procedure, size);
	else
		octo_chan_copy(chan, OCTO_CHAN_PROCEDURE, buf, size);
	if (!*buf)
		octo_strlcpy(buf, "users", size);
	octo_obj_unref(u);
	if (users)
		octo_service_put(users, "chan_sip");
}

/* The other call of an attended transfer. Phones write the Replaces tags as
 * they see that dialog (to-tag ours, from-tag theirs); the reverse is taken
 * too. New reference or NULL. */
static struct sip_call *refer_replaced_call(const struct refer_target *t)
{
	struct sip_call *c = sip_call_find_dialog(t->call_id, t->to_tag, t->from_tag);

	return c ? c : sip_call_find_dialog(t->call_id, t->from_tag, t->to_tag);
}

/* ---------------------------------------------------------------- the REFER handler */

static void refer_on_request(struct sip_txn *txn, struct sip_msg *req)
{
	const char *to_tag = sip_msg_to_tag(req), *from_tag = sip_msg_from_tag(req), *why = NULL;
	const char *reason;
	struct sip_call *c = NULL, *c2 = NULL;
	struct octo_channel *chan = NULL, *chan2 = NULL, *peer = NULL, *peer2 = NULL;
	struct refer_target t;
	struct sip_msg *r;
	char proc[80], user[80];
	bool notify;
	int status, rc;

	if (!to_tag || !from_tag) {
		refer_reject(txn, 403, "REFER is taken only within a call");
		return;
	}
	c = sip_call_find_dialog(req->call_id, to_tag, from_tag);
	if (!c) {
		sip_txn_respond(txn, 481, NULL);
		return;
	}
	if (!sip_call_remote_cseq(c, req->cseq)) {
		sip_txn_respond(txn, 500, "Out of Order CSeq");
		goto out;
	}
	chan = sip_call_channel(c);
	if (!sip_call_is_up(c) || !chan) {
		refer_reject(txn, 403, "the call is not answered");
		goto out;
	}
	octo_strlcpy(user, sip_call_user(c), sizeof(user));
	if (!*user) {
		refer_reject(txn, 403, "only a user's phone may transfer");
		goto out;
	}
	status = refer_parse(req, &t, &why);
	if (status) {
		octo_chan_step(chan, "SIP: REFER refused (%d): %s", status, why);
		refer_reject(txn, status, why);
		goto out;
	}
	if (t.replaces) {
		c2 = refer_replaced_call(&t);
		if (!c2) {
			octo_chan_step(chan, "SIP: REFER refused: Replaces names no call");
			refer_reject(txn, 481, "Replaces names no call");
			goto out;
		}
		if (c2 == c) {
			refer_reject(txn, 400, "Replaces names this same call");
			goto out;
		}
		if (strcmp(user, sip_call_user(c2))) {
			octo_chan_step(chan,
				       "SIP: REFER refused: Replaces names another user's call");
			refer_reject(txn, 403, "Replaces names another user's call");
			goto out;
		}
	}
	notify = !refer_sub_false(req);
	r = sip_txn_response(txn, 202, "Accepted");
	if (r) {
		struct sip_dialog *dlg = sip_call_dialog(c);

		if (dlg)
			sip_add_contact(r, &dlg->peer);
		if (!notify)
			sip_msg_add_header(r, "Refer-Sub", "false");
		sip_txn_send(txn, r);
	}
	if (notify)
		refer_notify(c, req->cseq, 100, "Trying", false);

	/* set before the move, so the dialplan the moved channels run sees it */
	peer = octo_bridge_peer(chan);
	if (peer)
		octo_chan_var_set(peer, "TRANSFERRER", user);
	if (t.replaces) {
		chan2 = sip_call_channel(c2);
		peer2 = chan2 ? octo_bridge_peer(chan2) : NULL;
		if (peer2)
			octo_chan_var_set(peer2, "TRANSFERRER", user);
		rc = peer && peer2 ? octo_bridge_join(peer, peer2) : OCTO_EINVAL;
		status = refer_status(rc, &reason);
		octo_chan_step(chan, "SIP: REFER: attended transfer of %s to %s (call %s): %s",
			       peer ? octo_chan_name(peer) : "(not bridged)",
			       peer2 ? octo_chan_name(peer2) : "(not bridged)",
			       chan2 ? octo_chan_name(chan2) : "(gone)",
			       rc ? octo_strerror(rc) : "done");
		if (chan2)
			octo_chan_step(chan2, "SIP: REFER on %s replaces this call: %s",
				       octo_chan_name(chan), rc ? octo_strerror(rc) : "done");
	} else {
		refer_procedure(user, chan, proc, sizeof(proc));
		rc = peer ? octo_chan_redirect(peer, proc, t.user) : OCTO_EINVAL;
		status = refer_status(rc, &reason);
		octo_chan_step(chan, "SIP: REFER: blind transfer of %s to %s/%s: %s",
			       peer ? octo_chan_name(peer) : "(not bridged)", proc, t.user,
			       rc ? octo_strerror(rc) : "done");
	}
	if (rc != 0) {
		if (peer)
			octo_chan_var_set(peer, "TRANSFERRER", NULL);
		if (peer2)
			octo_chan_var_set(peer2, "TRANSFERRER", NULL);
		octo_chan_log(chan, OCTO_NOTICE, "SIP: transfer by %s failed: %d %s", user, status,
			      reason);
	}
	if (notify)
		refer_notify(c, req->cseq, status, reason, true);
out:
	octo_obj_unref(peer);
	octo_obj_unref(peer2);
	octo_obj_unref(chan);
	octo_obj_unref(chan2);
	octo_obj_unref(c);
	octo_obj_unref(c2);
}

/* ---------------------------------------------------------------- life cycle */

int sip_refer_init(void)
{
	return sip_method_register(SIP_REFER, refer_on_request);
}

void sip_refer_fini(void)
{
	sip_method_unregister(SIP_REFER);
}
