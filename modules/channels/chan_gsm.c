/*
 * chan_gsm.c - GSM gateways: SIM slots, each with the SIM's number (the
 * called number of the calls that arrive on it) and one call at a time.
 * Outgoing calls hunt a SIM that is on the network (round-robin by
 * default); with none registered the trunk is down, with all busy it
 * answers OCTO_EBUSY (congestion). The gateway reports each SIM's state
 * with a NOTIFY or INFO whose text/plain body holds "sim=N", "state=..."
 * ("registered", "searching", "denied", "no sim") and "signal=0..31".
 * Incoming SMS (MESSAGE from the gateway, To the SIM's number) are stored
 * (table gsm_sms of the internal store) and e-mailed to `sms_email`
 * through the mail service (SMS2EMAIL); `gsm send sms TRUNK NUMBER TEXT`
 * sends one through a registered SIM.
 *
 * Thread context: the SIP callbacks run on chan_sip's loop: the store and
 * the mail are pushed to the worker pool (octo_work_push).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/cli.h"
#include "octo/log.h"
#include "octo/mail.h"
#include "octo/module.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/sip.h"
#include "octo/store.h"

#include "gateway_common.h"

#define GSM_SMS_MAX 1600 /* bytes of an SMS text kept (10 concatenated parts) */

static void gsm_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *r);
static int gsm_message(void *data, const char *from_user, const char *to_user,
		       const char *content_type, const char *body, size_t len);
static int gsm_event(void *data, const char *event, const char *content_type, const char *body,
		     size_t len);
static bool gsm_usable(const struct gw *gw, const struct gw_line *l);

static const struct octo_sip_peer_ops gsm_ops = {
	.incoming = gsm_incoming, .status = gw_status,
	.message = gsm_message, .device_event = gsm_event,
};

static struct gw_module gsm_mod = { .kind = GW_GSM, .ops = &gsm_ops, .usable = gsm_usable };
static bool gsm_stored; /* the store is open and migrated */

static const char *const gsm_schema[] = {
	"CREATE TABLE gsm_sms(id INTEGER PRIMARY KEY, time INTEGER NOT NULL, "
	"gateway TEXT NOT NULL, sim TEXT NOT NULL, direction TEXT NOT NULL, "
	"peer TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL)",
};

/* Under gw->lock. Unknown state: the gateway never said, so try it. */
static bool gsm_usable(const struct gw *gw, const struct gw_line *l)
{
	return !strcasecmp(l->state, "registered") || !strcasecmp(l->state, "unknown");
}

static void gsm_incoming(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *r)
{
	struct gw *gw = data;
	int sim = gw_line_by_number(gw, in->called);
	int k;

	if (sim < 0 && !strncasecmp(in->called, "sim", 3))
		sim = gw_line_by_number(gw, in->called + 3);
	if (sim < 0) {
		octo_log(OCTO_NOTICE, "GSM %s: a call for %s, which is no SIM's number", gw->name,
			 in->called);
		r->status = 404;
		return;
	}
	k = gw_slot_take(gw, sim, GW_HUNT_ASC, GW_SLOT_IN, in->caller, NULL);
	if (k < 0) {
		r->status = 486;
		return;
	}
	octo_strlcpy(r->called, gw->lines[sim].number, sizeof(r->called));
	gw_route_slot(r, gw, (size_t)k);
}

/* ---------------------------------------------------------------- SIM state */

/* Reads "key=value" pairs separated by newlines, ';' or '&' from the body. */
static bool gsm_kv(const char *body, size_t len, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key), i = 0;

	while (i < len) {
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
			for (char *p = out; *p; p++)
				if ((unsigned char)*p < ' ' || *p == 0x7f)
					*p = '?';
			return true;
		}
	}
	return false;
}

static int gsm_event(void *data, const char *event, const char *content_type, const char *body,
		     size_t len)
{
	struct gw *gw = data;
	char sim[16], state[48], signal[16];
	int line;

	if (!body || !gsm_kv(body, len, "sim", sim, sizeof(sim)))
		return 400;
	line = gw_line_by_number(gw, sim);
	if (line < 0)
		return 404;
	pthread_mutex_lock(&gw->lock);
	if (gsm_kv(body, len, "state", state, sizeof(state)))
		octo_strlcpy(gw->lines[line].state, state, sizeof(gw->lines[line].state));
	if (gsm_kv(body, len, "signal", signal, sizeof(signal))) {
		char *end;
		long v = strtol(signal, &end, 10);

		gw->lines[line].signal = (!*end && v >= 0 && v <= 99) ? (int)v : 99;
	}
	octo_strlcpy(state, gw->lines[line].state, sizeof(state));
	pthread_mutex_unlock(&gw->lock);
	octo_verbose(3, "GSM %s: SIM %s %s", gw->name, sim, state);
	return 200;
}

/* ---------------------------------------------------------------- SMS */

struct gsm_sms {
	char gateway[GW_NAME_MAX + 1];
	char sim[GW_NUMBER_MAX + 1];
	char sender[72];
	char email[256];
	char *text;
};

static void gsm_sms_work(void *data)
{
	struct gsm_sms *s = data;
	const struct octo_mail_api *mail;
	const char *status = "received";

	if (*s->email) {
		mail = octo_service_get(OCTO_MAIL_SERVICE, 1, "chan_gsm");
		if (mail) {
			const char *to[] = { s->email };
			char subject[160], *body;
			size_t blen = strlen(s->text) + 512;
			struct octo_mail m = { .to = to, .to_count = 1, .origin = "chan_gsm" };

			body = malloc(blen);
			if (body) {
				snprintf(subject, sizeof(subject), "SMS from %s to %s", s->sender,
					 s->sim);
				snprintf(body, blen, "From: %s\nTo: %s (gateway %s)\n\n%s\n",
					 s->sender, s->sim, s->gateway, s->text);
				m.subject = subject;
				m.body = body;
				status = mail->send(&m, NULL) == 0 ? "e-mailed" : "mail failed";
				free(body);
			}
			octo_service_put(mail, "chan_gsm");
		} else {
			octo_log(OCTO_WARNING, "GSM %s: SMS from %s not e-mailed: res_smtp is not "
				 "loaded", s->gateway, s->sender);
			status = "no mail service";
		}
	}
	if (gsm_stored)
		octo_store_exec("INSERT INTO gsm_sms(time, gateway, sim, direction, peer, body, "
				"status) VALUES(strftime('%s','now'), ?, ?, 'in', ?, ?, ?)",
				OCTO_STORE_ARGS(OCTO_STORE_T(s->gateway), OCTO_STORE_T(s->sim),
						OCTO_STORE_T(s->sender), OCTO_STORE_T(s->text),
						OCTO_STORE_T(status)));
	octo_verbose(2, "GSM %s: SMS from %s to %s %s", s->gateway, s->sender, s->sim, status);
	free(s->text);
	free(s);
}

static int gsm_message(void *data, const char *from_user, const char *to_user,
		       const char *content_type, const char *body, size_t len)
{
	struct gw *gw = data;
	struct gsm_sms *s;
	int line;

	if (!gw->cfg.sms)
		return 403;
	if (content_type && *content_type && strncasecmp(content_type, "text/plain", 10))
		return 415;
	line = gw_line_by_number(gw, to_user);
	if (line < 0 && gw->nlines == 1)
		line = 0;
	if (line < 0)
		return 404;
	if (!body)
		len = 0;
	if (len > GSM_SMS_MAX)
		len = GSM_SMS_MAX;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->text = malloc(len + 1))) {
		free(s);
		return 500;
	}
	if (len)
		memcpy(s->text, body, len);
	s->text[len] = '\0';
	for (char *p = s->text; p < s->text + len; p++)
		if (!*p)
			*p = ' ';
	octo_strlcpy(s->gateway, gw->name, sizeof(s->gateway));
	octo_strlcpy(s->sim, gw->lines[line].number, sizeof(s->sim));
	octo_strlcpy(s->sender, from_user && *from_user ? from_user : "unknown",
		     sizeof(s->sender));
	octo_strlcpy(s->email, gw->cfg.sms_email, sizeof(s->email));
	if (octo_work_push(gsm_sms_work, s) != 0) {
		free(s->text);
		free(s);
		return 500;
	}
	return 200;
}

struct gsm_out {
	char gateway[GW_NAME_MAX + 1];
	char sim[GW_NUMBER_MAX + 1];
	char to[72];
	char *text;
};

static void gsm_out_store(void *data)
{
	struct gsm_out *o = data;

	octo_store_exec("UPDATE gsm_sms SET status = ? WHERE id = (SELECT max(id) FROM gsm_sms "
			"WHERE gateway = ? AND peer = ? AND direction = 'out')",
			OCTO_STORE_ARGS(OCTO_STORE_T(o->text), OCTO_STORE_T(o->gateway),
					OCTO_STORE_T(o->to)));
	free(o->text);
	free(o);
}

static void gsm_out_done(void *arg, int status)
{
	struct gsm_out *o = arg;
	char text[32];

	snprintf(text, sizeof(text), status >= 200 && status < 300 ? "sent" : "failed (%d)",
		 status);
	octo_verbose(2, "GSM %s: SMS to %s through SIM %s %s", o->gateway, o->to, o->sim, text);
	free(o->text);
	o->text = octo_strdup(text);
	if (!gsm_stored || octo_work_push(gsm_out_store, o) != 0) {
		free(o->text);
		free(o);
	}
}

static bool gsm_number_ok(const char *s)
{
	if (*s == '+')
		s++;
	if (!*s || strlen(s) > GW_NUMBER_MAX)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static int gsm_cli_send(struct octo_cli_out *out, int argc, char **argv)
{
	struct gw *gw = NULL;
	struct gsm_out *o;
	char text[GSM_SMS_MAX + 1] = "", cb[OCTO_CFG_CLEAN], name[GW_NAME_MAX + 1] = "";
	char number[GW_NUMBER_MAX + 1] = "";
	unsigned id = 0;
	size_t off = 0;
	int sim = -1;

	if (argc < 6)
		return OCTO_CLI_USAGE;
	if (!gsm_number_ok(argv[4])) {
		octo_cli_error(out, "\"%s\" is not a phone number.", octo_cfg_clean(cb, argv[4]));
		return OCTO_CLI_FAIL;
	}
	/* what the SMS needs of the gateway, copied: a reload may swap it */
	gw_rt_rdlock(&gsm_mod);
	for (size_t i = 0; i < gsm_mod.ngws && !gw; i++)
		if (!strcasecmp(gsm_mod.gws[i]->cfg.trunk, argv[3]) ||
		    !strcasecmp(gsm_mod.gws[i]->name, argv[3]))
			gw = gsm_mod.gws[i];
	if (gw) {
		octo_strlcpy(name, gw->name, sizeof(name));
		pthread_mutex_lock(&gw->lock);
		for (size_t i = 0; i < gw->nlines && sim < 0; i++)
			if (gsm_usable(gw, &gw->lines[i]))
				sim = (int)i;
		pthread_mutex_unlock(&gw->lock);
		if (sim >= 0) {
			octo_strlcpy(number, gw->lines[sim].number, sizeof(number));
			id = gw->lines[sim].id;
		}
	}
	gw_rt_unlock(&gsm_mod);
	if (!gw) {
		octo_cli_error(out, "No GSM trunk \"%s\" (see gateway show).",
			       octo_cfg_clean(cb, argv[3]));
		return OCTO_CLI_FAIL;
	}
	if (sim < 0) {
		octo_cli_error(out, "No SIM of %s is on the network.", name);
		return OCTO_CLI_FAIL;
	}
	for (int i = 5; i < argc && off < sizeof(text) - 1; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s", i > 5 ? " " : "",
					argv[i]);
	o = calloc(1, sizeof(*o));
	if (!o)
		return OCTO_CLI_FAIL;
	octo_strlcpy(o->gateway, name, sizeof(o->gateway));
	octo_strlcpy(o->sim, number, sizeof(o->sim));
	octo_strlcpy(o->to, argv[4], sizeof(o->to));
	if (gsm_stored)
		octo_store_exec("INSERT INTO gsm_sms(time, gateway, sim, direction, peer, body, "
				"status) VALUES(strftime('%s','now'), ?, ?, 'out', ?, ?, 'sending')",
				OCTO_STORE_ARGS(OCTO_STORE_T(o->gateway), OCTO_STORE_T(o->sim),
						OCTO_STORE_T(o->to), OCTO_STORE_T(text)));
	/* o belongs to gsm_out_done once the MESSAGE is sent */
	if (!gsm_mod.sip ||
	    gsm_mod.sip->send_message(name, number, argv[4], text, gsm_out_done, o) != 0) {
		free(o);
		octo_cli_error(out, "The SMS could not be sent to %s.", name);
		return OCTO_CLI_FAIL;
	}
	octo_cli_printf(out, "SMS to %s queued on %s, SIM %u (%s).", argv[4], name, id, number);
	return OCTO_CLI_OK;
}

static int gsm_sms_row(const struct octo_store_row *row, void *data)
{
	struct octo_cli_out *out = data;
	const char *v[7];

	for (int i = 0; i < 7; i++)
		v[i] = octo_store_row_text(row, i);
	octo_cli_rowv(out, v, 7);
	return 0;
}

static int gsm_cli_sms(struct octo_cli_out *out, int argc, char **argv)
{
	if (argc > 4)
		return OCTO_CLI_USAGE;
	if (!gsm_stored) {
		octo_cli_error(out, "The SMS are not stored (no internal store).");
		return OCTO_CLI_FAIL;
	}
	octo_cli_columns(out, "time", "gateway", "sim", "direction", "number", "text", "status",
			 NULL);
	octo_store_query("SELECT datetime(time, 'unixepoch'), gateway, sim, direction, peer, body, "
			 "status FROM gsm_sms WHERE ?1 IS NULL OR gateway = ?1 ORDER BY id DESC "
			 "LIMIT 50",
			 OCTO_STORE_ARGS(argc == 4 ? OCTO_STORE_T(argv[3]) : OCTO_STORE_N),
			 gsm_sms_row, out);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd gsm_cli[] = {
	{ "gsm send sms", "Send an SMS through a GSM trunk", "gsm send sms <trunk> <number> <text>",
	  gsm_cli_send, NULL },
	{ "gsm show sms", "The last SMS received and sent (stored)", "gsm show sms [<gateway>]",
	  gsm_cli_sms, NULL },
	{ 0 }
};

static int gsm_load(struct octo_module *self)
{
	gsm_stored = octo_store_is_open() &&
		     octo_store_migrate("chan_gsm", gsm_schema, OCTO_ARRAY_LEN(gsm_schema)) >= 0;
	if (gw_module_load(&gsm_mod, self))
		return OCTO_LOAD_FAIL;
	if (octo_cli_register_all(self, gsm_cli)) {
		gw_module_unload(&gsm_mod);
		return OCTO_LOAD_FAIL;
	}
	return OCTO_LOAD_OK;
}

GW_MODULE_CALLBACKS(gsm, gsm_mod, GW_GSM)

OCTO_MODULE(chan_gsm, .description = "GSM gateways: SIM slots, SMS to e-mail (gateways.conf)",
	    .load = gsm_load, .unload = gsm_unload, .reload = gsm_reload, .check = gsm_check,
	    .optional = "chan_sip,res_users,res_smtp");
