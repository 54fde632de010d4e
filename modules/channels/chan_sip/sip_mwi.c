/*
 * sip_mwi.c - message-waiting indication for users' phones: SUBSCRIBE to
 * the event package message-summary (RFC 3842 on RFC 6665) and the
 * NOTIFYs that carry "Messages-Waiting: yes" and "Voice-Message: 2/1 (0/0)".
 *
 *  - A phone subscribes to its own user's mailbox (digest-authenticated as
 *    that user; the Request-URI user names the mailbox, empty means the
 *    user's own): 200 with Expires (60..3600 s granted; below 60 is 423),
 *    then a NOTIFY with the current counts; refreshes and Expires: 0 (a
 *    final NOTIFY, "terminated") come within the dialog. An expired or
 *    refused (481, time-out) subscription is dropped.
 *  - The service "mwi" (include/octo/voicemail.h): app_voicemail calls
 *    changed() whenever a mailbox's counts change. Subscribed phones get a
 *    NOTIFY in their dialog; when the mailbox has no subscription, each
 *    registered contact of the user gets an unsolicited NOTIFY (phones that
 *    do not subscribe still light their lamp).
 *
 * DESIGN: subscriptions live on the event loop thread only (no lock). The
 * counts for a SUBSCRIBE come from the "voicemail" service, which reads the
 * store: a worker (octo_work_push) asks it, then posts the answer back to
 * the loop, where the subscription is looked up again by id -- it may be
 * gone. A per-subscription sequence number makes the latest counts win
 * when answers arrive out of order. changed() just copies and posts to the
 * loop. `mwi_gen` changes at every init/fini, so jobs posted before an
 * unload find nothing to do afterwards (the module is resident).
 */
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/users.h"
#include "octo/voicemail.h"
#include "sip.h"
#include "sip_mwi.h"

#define MWI_EVENT "message-summary"
#define MWI_CTYPE "application/simple-message-summary"
#define MWI_MIN_EXPIRES 60
#define MWI_MAX_EXPIRES 3600
#define MWI_MAX_SUBS 4096
#define MWI_MAX_PER_BOX 16
#define MWI_MAX_CONTACTS 16
#define MWI_HOLDER "chan_sip"

struct mwi_sub {
	uint64_t id;
	char box[OCTO_VM_BOX_MAX + 1];
	char account[320];       /* Message-Account: the SUBSCRIBE's Request-URI */
	struct sip_dialog dlg;
	uint64_t timer;          /* expiry */
	uint64_t until_ms;       /* when it expires (octo_now_ms) */
	unsigned seq;            /* counts applied last */
	bool terminating;        /* Expires: 0: one last NOTIFY, then gone */
	struct mwi_sub *next;
};

/* Loop thread only. */
static struct mwi_sub *mwi_subs;
static unsigned mwi_count;
static uint64_t mwi_next_id = 1;
static atomic_bool mwi_running;
static atomic_uint mwi_gen;

size_t sip_mwi_body(char *buf, size_t size, const char *account,
		    const struct octo_vm_counts *c)
{
	int n = snprintf(buf, size,
			 "Messages-Waiting: %s\r\n"
			 "Message-Account: %s\r\n"
			 "Voice-Message: %u/%u (%u/%u)\r\n",
			 c->new_msgs ? "yes" : "no", account, c->new_msgs, c->old_msgs,
			 c->new_urgent, c->old_urgent);

	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

static struct mwi_sub *mwi_find_id(uint64_t id)
{
	for (struct mwi_sub *s = mwi_subs; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

static void mwi_free(struct mwi_sub *s)
{
	if (s->timer)
		octo_timer_cancel(s->timer);
	sip_dialog_clear(&s->dlg);
	free(s);
}

static void mwi_remove(struct mwi_sub *gone)
{
	for (struct mwi_sub **pp = &mwi_subs; *pp; pp = &(*pp)->next) {
		if (*pp == gone) {
			*pp = gone->next;
			mwi_count--;
			mwi_free(gone);
			return;
		}
	}
}

/* ---------------------------------------------------------------- NOTIFY */

static void mwi_notify_resp(struct sip_txn *txn, struct sip_msg *resp, void *data)
{
	uint64_t *id = data;
	struct mwi_sub *s;

	if (resp->status < 300 || !*id)
		return;
	/* 481: the phone forgot the subscription; a time-out or a transport
	 * error: it is gone. Either way, stop sending. */
	s = mwi_find_id(*id);
	if (s && (resp->status == 481 || resp->status == 408 || resp->local)) {
		octo_debug(1, "SIP MWI: subscription %llu of mailbox %s dropped (NOTIFY got %d)",
			   (unsigned long long)s->id, s->box, resp->status);
		mwi_remove(s);
	}
}

static void mwi_notify_end(struct sip_txn *txn, enum sip_txn_end why, void *data)
{
	free(data);
}

static const struct sip_client_ops mwi_notify_ops = { .response = mwi_notify_resp,
						      .end = mwi_notify_end };

/* Adds the message-summary headers and body and sends `m` to `dest`. */
static void mwi_send(struct sip_msg *m, const struct sip_addr *dest, const char *account,
		     const struct octo_vm_counts *c, const char *state, uint64_t sub_id)
{
	char body[512];
	size_t len = sip_mwi_body(body, sizeof(body), account, c);
	uint64_t *data = malloc(sizeof(*data));
	struct sip_txn *t;

	if (!len || !data || sip_msg_add_header(m, "Event", MWI_EVENT) ||
	    sip_msg_add_header(m, "Subscription-State", state) || sip_add_contact(m, dest) ||
	    sip_msg_set_body(m, MWI_CTYPE, body, len)) {
		free(data);
		octo_obj_unref(m);
		return;
	}
	*data = sub_id;
	t = sip_txn_client(m, dest, &mwi_notify_ops, data);
	if (!t) {
		free(data);
		return;
	}
	octo_obj_unref(t);
}

/* A NOTIFY within subscription `s`; a terminating one removes it. */
static void mwi_notify_sub(struct mwi_sub *s, const struct octo_vm_counts *c)
{
	struct sip_msg *m = sip_dialog_request(&s->dlg, SIP_NOTIFY, 0);
	char state[64];

	uint64_t now = octo_now_ms();

	if (s->terminating)
		snprintf(state, sizeof(state), "terminated;reason=timeout");
	else /* what is left of the time granted */
		snprintf(state, sizeof(state), "active;expires=%u",
			 (unsigned)(s->until_ms > now ? (s->until_ms - now + 999) / 1000 : 0));
	if (m)
		mwi_send(m, &s->dlg.peer, s->account, c, state, s->terminating ? 0 : s->id);
	octo_debug(2, "SIP MWI: NOTIFY mailbox %s: %u/%u (%s)", s->box, c->new_msgs, c->old_msgs,
		   s->terminating ? "terminated" : "active");
	if (s->terminating)
		mwi_remove(s);
}

/* Unsolicited NOTIFYs to every registered contact of the user `box`. */
static void mwi_notify_contacts(const char *box, const struct octo_vm_counts *c)
{
	struct sip_contact *ct = calloc(MWI_MAX_CONTACTS, sizeof(*ct));
	int n = ct ? sip_reg_contacts(box, ct, MWI_MAX_CONTACTS) : 0;

	for (int i = 0; i < n; i++) {
		char host[SIP_ADDR_STRLEN], account[SIP_ADDR_STRLEN + 64];
		char from[SIP_ADDR_STRLEN + 80];
		unsigned port = 0;
		struct sip_msg *m;

		if (sip_transport_local(&ct[i].dest, host, sizeof(host), &port) != 0)
			continue;
		snprintf(account, sizeof(account), strchr(host, ':') ? "sip:%s@[%s]" : "sip:%s@%s",
			 box, host);
		snprintf(from, sizeof(from), "<%s>", account);
		m = sip_msg_request(SIP_NOTIFY, ct[i].uri, from, NULL, ct[i].uri, NULL, NULL, 1);
		if (!m)
			continue;
		octo_debug(2, "SIP MWI: unsolicited NOTIFY to %s: %u/%u", ct[i].uri, c->new_msgs,
			   c->old_msgs);
		mwi_send(m, &ct[i].dest, account, c, "active", 0);
	}
	free(ct);
}

/* ---------------------------------------------------------------- counts */

struct mwi_job {
	unsigned gen;
	uint64_t sub_id;         /* 0: changed() for a whole mailbox */
	unsigned seq;
	char box[OCTO_VM_BOX_MAX + 1];
	struct octo_vm_counts counts;
};

/* [loop] The counts of a job arrived. */
static void mwi_apply(void *data)
{
	struct mwi_job *j = data;
	bool any = false;

	if (!atomic_load(&mwi_running) || j->gen != atomic_load(&mwi_gen))
		goto out;
	if (j->sub_id) {
		struct mwi_sub *s = mwi_find_id(j->sub_id);

		if (s && j->seq == s->seq)
			mwi_notify_sub(s, &j->counts);
		goto out;
	}
	for (struct mwi_sub *s = mwi_subs, *next; s; s = next) {
		next = s->next; /* a terminating one frees itself */
		if (strcmp(s->box, j->box))
			continue;
		any = true;
		s->seq++; /* a fetch still under way is older than this */
		mwi_notify_sub(s, &j->counts);
	}
	if (!any)
		mwi_notify_contacts(j->box, &j->counts);
out:
	free(j);
}

/* [worker] Asks app_voicemail for the counts, then back to the loop. */
static void mwi_fetch(void *data)
{
	struct mwi_job *j = data;
	const struct octo_voicemail_api *vm = octo_service_get(OCTO_VOICEMAIL_SERVICE, 1,
								MWI_HOLDER);

	memset(&j->counts, 0, sizeof(j->counts));
	if (vm) {
		if (vm->count(j->box, &j->counts))
			memset(&j->counts, 0, sizeof(j->counts));
		octo_service_put(vm, MWI_HOLDER);
	}
	if (octo_loop_call(mwi_apply, j) != 0)
		free(j);
}

/* [loop] Fetches the counts of subscription `s` and NOTIFYs them. */
static void mwi_refresh(struct mwi_sub *s)
{
	struct mwi_job *j = calloc(1, sizeof(*j));

	if (!j)
		return;
	j->gen = atomic_load(&mwi_gen);
	j->sub_id = s->id;
	j->seq = ++s->seq;
	octo_strlcpy(j->box, s->box, sizeof(j->box));
	if (octo_work_push(mwi_fetch, j) != 0)
		free(j);
}

/* The service: [any] */
static void mwi_changed(const char *box, const struct octo_vm_counts *counts)
{
	struct mwi_job *j;

	if (!box || !counts || strlen(box) > OCTO_VM_BOX_MAX)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->gen = atomic_load(&mwi_gen);
	octo_strlcpy(j->box, box, sizeof(j->box));
	j->counts = *counts;
	if (octo_loop_call(mwi_apply, j) != 0)
		free(j);
}

static const struct octo_mwi_api mwi_api = { .changed = mwi_changed };
static const struct octo_service mwi_service = { OCTO_MWI_SERVICE, 1, &mwi_api };

/* ---------------------------------------------------------------- SUBSCRIBE */

/* True when the Event header names message-summary (parameters ignored). */
static bool mwi_event_ok(const char *event)
{
	size_t n = strlen(MWI_EVENT);

	while (*event == ' ' || *event == '\t')
		event++;
	return !strncasecmp(event, MWI_EVENT, n) &&
	       (event[n] == '\0' || event[n] == ';' || event[n] == ' ' || event[n] == '\t');
}

static bool mwi_box_ok(const char *box)
{
	size_t n = 0;

	for (; box[n]; n++)
		if (!(isalnum((unsigned char)box[n]) || box[n] == '-' || box[n] == '_'))
			return false;
	return n >= 1 && n <= OCTO_VM_BOX_MAX;
}

/* Expires of the request: 0.., default MWI_MAX_EXPIRES; -1 when malformed. */
static long mwi_expires(const struct sip_msg *req)
{
	const char *e = sip_msg_header(req, "Expires");
	char *end;
	long v;

	if (!e)
		return MWI_MAX_EXPIRES;
	while (*e == ' ')
		e++;
	if (!isdigit((unsigned char)*e))
		return -1;
	v = strtol(e, &end, 10);
	while (*end == ' ')
		end++;
	if (*end || v < 0 || v > 100000000)
		return -1;
	return v;
}

static unsigned mwi_expired(void *data)
{
	uint64_t id = (uint64_t)(uintptr_t)data;
	struct mwi_sub *s = mwi_find_id(id);

	if (s) {
		s->timer = 0; /* this timer is ending: not to be cancelled */
		s->terminating = true;
		octo_debug(1, "SIP MWI: subscription %llu of mailbox %s expired",
			   (unsigned long long)s->id, s->box);
		mwi_refresh(s);
	}
	return 0;
}

/* Answers 200 with Expires and Contact, (re)arms the expiry. */
static void mwi_accept(struct sip_txn *txn, struct sip_msg *req, struct mwi_sub *s, long expires)
{
	struct sip_msg *resp = sip_txn_response(txn, 200, NULL);
	char buf[24];

	snprintf(buf, sizeof(buf), "%ld", expires);
	if (resp) {
		sip_msg_add_header(resp, "Expires", buf);
		sip_add_contact(resp, &req->src);
		sip_txn_send(txn, resp);
	}
	if (s->timer)
		octo_timer_cancel(s->timer);
	s->timer = 0;
	s->until_ms = octo_now_ms() + (uint64_t)expires * 1000u;
	if (expires > 0)
		s->timer = octo_timer_add((unsigned)expires * 1000u, mwi_expired,
					  (void *)(uintptr_t)s->id);
	else
		s->terminating = true;
	mwi_refresh(s);
}

static void mwi_reject_event(struct sip_txn *txn)
{
	struct sip_msg *resp = sip_txn_response(txn, 489, NULL);

	if (resp) {
		sip_msg_add_header(resp, "Allow-Events", MWI_EVENT);
		sip_txn_send(txn, resp);
	}
}

static void mwi_too_brief(struct sip_txn *txn)
{
	struct sip_msg *resp = sip_txn_response(txn, 423, NULL);
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", MWI_MIN_EXPIRES);
	if (resp) {
		sip_msg_add_header(resp, "Min-Expires", buf);
		sip_txn_send(txn, resp);
	}
}

/* A SUBSCRIBE within an existing subscription: refresh or end it. */
static void mwi_resubscribe(struct sip_txn *txn, struct sip_msg *req, long expires)
{
	const char *ltag = sip_msg_to_tag(req), *rtag = sip_msg_from_tag(req);
	struct mwi_sub *s;

	for (s = mwi_subs; s; s = s->next)
		if (!strcmp(s->dlg.call_id, req->call_id) && !strcmp(s->dlg.local_tag, ltag) &&
		    !strcmp(s->dlg.remote_tag, rtag ? rtag : ""))
			break;
	if (!s || s->terminating) {
		sip_txn_respond(txn, 481, NULL);
		return;
	}
	if (req->cseq <= s->dlg.remote_cseq) {
		sip_txn_respond(txn, 500, "CSeq out of order");
		return;
	}
	s->dlg.remote_cseq = req->cseq;
	mwi_accept(txn, req, s, expires);
}

static void mwi_on_subscribe(struct sip_txn *txn, struct sip_msg *req)
{
	const char *event = sip_msg_header(req, "Event");
	char box[OCTO_VM_BOX_MAX + 8], *uri = NULL;
	struct octo_user *user;
	struct mwi_sub *s;
	unsigned same = 0;
	long expires;

	if (!event || !mwi_event_ok(event)) {
		mwi_reject_event(txn);
		return;
	}
	expires = mwi_expires(req);
	if (expires < 0) {
		sip_txn_respond(txn, 400, "Bad Expires");
		return;
	}
	if (expires > 0 && expires < MWI_MIN_EXPIRES) {
		mwi_too_brief(txn);
		return;
	}
	if (expires > MWI_MAX_EXPIRES)
		expires = MWI_MAX_EXPIRES;
	if (sip_msg_to_tag(req)) {
		mwi_resubscribe(txn, req, expires);
		return;
	}
	user = sip_auth_request(txn, req);
	if (!user)
		return; /* challenged or refused already */
	sip_uri_user(req->osip->req_uri, box, sizeof(box));
	if (!*box)
		octo_strlcpy(box, user->extension, sizeof(box));
	if (!mwi_box_ok(box)) {
		sip_txn_respond(txn, 404, "No Such Mailbox");
		goto out;
	}
	if (strcmp(box, user->extension)) {
		sip_txn_respond(txn, 403, "Not Your Mailbox");
		goto out;
	}
	for (s = mwi_subs; s; s = s->next)
		same += !strcmp(s->box, box);
	if (mwi_count >= MWI_MAX_SUBS || same >= MWI_MAX_PER_BOX) {
		sip_txn_respond(txn, 503, "Too Many Subscriptions");
		goto out;
	}
	s = calloc(1, sizeof(*s));
	if (!s || sip_dialog_uas(&s->dlg, req, sip_txn_to_tag(txn)) != 0 ||
	    !req->osip->req_uri || osip_uri_to_str(req->osip->req_uri, &uri) != 0 || !uri ||
	    strlen(uri) >= sizeof(s->account)) {
		free(s);
		if (uri)
			osip_free(uri);
		sip_txn_respond(txn, s ? 400 : 500, NULL);
		goto out;
	}
	octo_strlcpy(s->account, uri, sizeof(s->account));
	osip_free(uri);
	s->id = mwi_next_id++;
	octo_strlcpy(s->box, box, sizeof(s->box));
	s->next = mwi_subs;
	mwi_subs = s;
	mwi_count++;
	octo_verbose(2, "SIP MWI: user %s subscribed to mailbox %s for %ld s (subscription %llu)",
		     user->extension, box, expires, (unsigned long long)s->id);
	mwi_accept(txn, req, s, expires);
out:
	octo_obj_unref(user);
}

/* ---------------------------------------------------------------- part */

static void mwi_clear(void *data)
{
	atomic_store(&mwi_running, false);
	while (mwi_subs) {
		struct mwi_sub *s = mwi_subs;

		mwi_subs = s->next;
		mwi_free(s);
	}
	mwi_count = 0;
}

int sip_mwi_init(void)
{
	struct octo_module *self;
	int rc;

	atomic_fetch_add(&mwi_gen, 1);
	atomic_store(&mwi_running, true);
	if (sip_method_register(SIP_SUBSCRIBE, mwi_on_subscribe))
		return OCTO_EFAIL;
	/* The service belongs to chan_sip, so that a caller of changed() pins
	 * the module and the loader sweeps the entry; the parts' init has no
	 * module handle, and chan_sip is already in the module list while it
	 * loads. */
	self = octo_module_find("chan_sip", "sip_mwi");
	if (self)
		octo_module_unref(self, "sip_mwi");
	rc = octo_service_register(self, &mwi_service);
	if (rc)
		octo_log(OCTO_ERROR, "SIP: cannot offer the mwi service: %s", octo_strerror(rc));
	return rc ? OCTO_EFAIL : 0;
}

void sip_mwi_fini(void)
{
	octo_registry_remove(OCTO_REG_SERVICE, &mwi_service);
	atomic_fetch_add(&mwi_gen, 1);
	if (sip_loop_run(mwi_clear, NULL) != 0)
		mwi_clear(NULL);
}
