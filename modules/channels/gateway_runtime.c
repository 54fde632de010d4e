/*
 * gateway_runtime.c - the part of a gateway module that runs (see
 * gateway_common.h): loading, reloading and unloading gateways.conf, the
 * SIP peers of the gateways and the callbacks chan_sip makes on them, the
 * trunks of FXO, BRI, PRI and GSM gateways, and the service that `gateway
 * show` asks. Compiled into each gateway module beside gateway_common.c
 * (the device model, parsing and CLI rendering).
 *
 * LOCKS (in this order)
 *  - m->cfg_lock: one reload, or one change that waited for its gateway to
 *    be idle, at a time; only its holder changes m->gws, the retired list,
 *    the peers and the trunks. Never taken by a SIP callback.
 *  - m->rt_lock (rwlock): readers are the SIP callbacks (chan_sip's loop),
 *    trunk callbacks (call threads), the devices providers and the CLI;
 *    the writer swaps m->gws. Nothing that waits for chan_sip's loop
 *    (peer_add, peer_remove) runs while the write lock is held.
 *  - gw->lock: a gateway's slots and states.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/cli.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/registry.h"
#include "octo/sched.h"
#include "octo/sip.h"
#include "octo/trunk.h"

#include "gateway_common.h"

/* ---------------------------------------------------------------- module runtime */

static struct gw_module *gw_rt; /* this module's runtime (one per module copy) */

/* The ops data of one SIP peer: the gateway (or DECT base) it belongs to, by
 * name, so that a reload may swap the struct gw behind it. Lives from
 * peer_add until peer_remove returned. */
struct gw_peer {
	char name[GW_NAME_MAX + 1];
	struct gw_peer *next;
};

void gw_rt_rdlock(struct gw_module *m)
{
	pthread_rwlock_rdlock(&m->rt_lock);
}

void gw_rt_unlock(struct gw_module *m)
{
	pthread_rwlock_unlock(&m->rt_lock);
}

struct gw *gw_find(struct gw_module *m, const char *name)
{
	for (size_t i = 0; m && name && i < m->ngws; i++)
		if (!strcasecmp(m->gws[i]->name, name))
			return m->gws[i];
	return NULL;
}

/* Under the read lock: the current gateway of a peer, and for DECT the base. */
static struct gw *gw_of_peer(struct gw_module *m, const char *peer, struct gw_base **base)
{
	*base = NULL;
	if (m->kind != GW_DECT)
		return gw_find(m, peer);
	for (size_t i = 0; i < m->ngws; i++)
		for (size_t b = 0; b < m->gws[i]->nbases; b++)
			if (!strcasecmp(m->gws[i]->bases[b].name, peer)) {
				*base = &m->gws[i]->bases[b];
				return m->gws[i];
			}
	return NULL;
}

static void *gw_peer_data(struct gw_module *m, const char *peer, struct gw **gwp)
{
	struct gw_base *b;
	struct gw *gw = gw_of_peer(m, peer, &b);

	if (gwp)
		*gwp = gw;
	if (!gw)
		return NULL;
	return b ? (void *)b : (void *)gw;
}

void gw_status(void *data, const char *state, const char *reason)
{
	struct gw *gw = data;

	pthread_mutex_lock(&gw->lock);
	octo_strlcpy(gw->state, state ? state : "", sizeof(gw->state));
	octo_strlcpy(gw->reason, reason ? reason : "", sizeof(gw->reason));
	pthread_mutex_unlock(&gw->lock);
	octo_verbose(2, "gateway %s: %s%s%s", gw->name, state, reason && *reason ? ": " : "",
		     reason ? reason : "");
}

int gw_dest(struct gw_module *m, const char *peer, const char *tag, const char *number,
	    char *dest, size_t size)
{
	if (!m || !m->sip)
		return OCTO_EINVAL;
	return m->sip->peer_dest(peer, tag, number, dest, size);
}

/* Busy slots of gateway `name`: the current one and retired ones. Under
 * the read lock or cfg_lock. */
static unsigned gw_name_busy(struct gw_module *m, const char *name)
{
	struct gw *cur = gw_find(m, name);
	unsigned n = cur ? gw_busy(cur) : 0;

	for (struct gw *r = m->retired; r; r = r->next_retired)
		if (!strcasecmp(r->name, name))
			n += gw_busy(r);
	return n;
}

static void gw_pending_work(void *data);

/* Gives back slot `tag` of gateway `name` (the current one, else a retired
 * one that still carries the call). Under the read lock. When a change
 * waits for the gateway to be idle and it is now, the change is applied
 * on a worker (holding the module meanwhile). */
static bool gw_release_tag(struct gw_module *m, const char *name, const char *tag)
{
	struct gw *cur = gw_find(m, name);
	bool freed = false, pending = false;

	if (cur)
		freed = gw_slot_release(cur, tag);
	for (struct gw *r = m->retired; r && !freed; r = r->next_retired)
		if (!strcasecmp(r->name, name))
			freed = gw_slot_release(r, tag);
	if (freed && cur) {
		pthread_mutex_lock(&cur->lock);
		pending = cur->pending || cur->pending_remove;
		pthread_mutex_unlock(&cur->lock);
	}
	if (pending && m->self && gw_name_busy(m, name) == 0) {
		octo_module_ref(m->self, "gateways.conf reload");
		if (octo_work_push(gw_pending_work, m) != 0)
			octo_module_unref(m->self, "gateways.conf reload");
	}
	return freed;
}

/* ------------------------------------------------ SIP callbacks (loop thread) */

static void gw_tr_incoming(void *data, const struct octo_sip_incoming *in,
			   struct octo_sip_route *route)
{
	struct gw_peer *pp = data;
	void *d;

	gw_rt_rdlock(gw_rt);
	d = gw_peer_data(gw_rt, pp->name, NULL);
	if (d && gw_rt->ops->incoming)
		gw_rt->ops->incoming(d, in, route);
	else
		route->status = 503;
	gw_rt_unlock(gw_rt);
}

static void gw_tr_released(void *data, const char *line)
{
	struct gw_peer *pp = data;
	struct gw *gw;

	gw_rt_rdlock(gw_rt);
	gw_peer_data(gw_rt, pp->name, &gw);
	if (gw && gw_release_tag(gw_rt, gw->name, line))
		octo_debug(1, "%s: %s %s is free", gw->name, gw_line_key(gw->kind), line);
	gw_rt_unlock(gw_rt);
}

static void gw_tr_status(void *data, const char *state, const char *reason)
{
	struct gw_peer *pp = data;
	void *d;

	gw_rt_rdlock(gw_rt);
	d = gw_peer_data(gw_rt, pp->name, NULL);
	if (d && gw_rt->ops->status)
		gw_rt->ops->status(d, state, reason);
	gw_rt_unlock(gw_rt);
}

static int gw_tr_message(void *data, const char *from_user, const char *to_user,
			 const char *content_type, const char *body, size_t len)
{
	struct gw_peer *pp = data;
	void *d;
	int rc = 404;

	gw_rt_rdlock(gw_rt);
	d = gw_peer_data(gw_rt, pp->name, NULL);
	if (d)
		rc = gw_rt->ops->message(d, from_user, to_user, content_type, body, len);
	gw_rt_unlock(gw_rt);
	return rc;
}

static int gw_tr_event(void *data, const char *event, const char *content_type, const char *body,
		       size_t len)
{
	struct gw_peer *pp = data;
	void *d;
	int rc = 404;

	gw_rt_rdlock(gw_rt);
	d = gw_peer_data(gw_rt, pp->name, NULL);
	if (d)
		rc = gw_rt->ops->device_event(d, event, content_type, body, len);
	gw_rt_unlock(gw_rt);
	return rc;
}

/* A call to a device of a user (FXS port, DECT handset) is being placed:
 * its slot (tag `line`) is counted busy from now until released(). */
static int gw_tr_claim(void *data, const char *line, const char *number)
{
	struct gw_peer *pp = data;
	struct gw *gw;
	int k, rc = 486;

	gw_rt_rdlock(gw_rt);
	gw_peer_data(gw_rt, pp->name, &gw);
	k = gw ? gw_slot_find(gw, line) : -1;
	if (k >= 0 && gw_slot_take_at(gw, (size_t)k, GW_SLOT_IN, "") == 0)
		rc = 0;
	else if (gw)
		octo_verbose(3, "%s: %s %s is busy: not rung", gw->name,
			     gw_line_key(gw->kind), line);
	gw_rt_unlock(gw_rt);
	return rc;
}

static struct octo_sip_peer_ops gw_tr_ops;

/* ------------------------------------------------ trunks (any thread) */

/* The SIP side is down: a dynamic gateway not registered, or unreachable. */
static bool gw_down(struct gw *gw)
{
	bool down;

	pthread_mutex_lock(&gw->lock);
	down = gw->retired || gw->closing || !strcasecmp(gw->state, "Unregistered") ||
	       !strcasecmp(gw->state, "Failed") || !strcasecmp(gw->state, "Unreachable");
	pthread_mutex_unlock(&gw->lock);
	return down;
}

/* A trunk stays registered under its name from the first time a gateway
 * has it until the module unloads: app_trunk holds a trunk for a whole call
 * (octo_trunk_get .. octo_trunk_put), so it must not be unregistered under
 * it by a reload. It reaches its gateway by name; when no gateway has it
 * any more it is down ("Removed"). */
struct gw_trunk {
	struct octo_trunk t;
	char name[GW_NAME_MAX + 1];
	char gw[GW_NAME_MAX + 1]; /* the gateway that has it now, "" none (rt_lock) */
	struct gw_trunk *next;
};

/* Under the read lock: the gateway behind a trunk, or NULL. */
static struct gw *gw_of_trunk(const struct octo_trunk *trunk)
{
	const struct gw_trunk *gt = trunk->data;

	return *gt->gw ? gw_find(gw_rt, gt->gw) : NULL;
}

static int gw_trunk_acquire(const struct octo_trunk *trunk, const char *number, char *tech,
			    size_t tech_size, char *dest, size_t dest_size)
{
	struct gw *gw;
	bool any = false;
	int k, rc = 0;

	if (!gw_rt)
		return OCTO_TRUNK_DOWN;
	gw_rt_rdlock(gw_rt);
	gw = gw_of_trunk(trunk);
	if (!gw || gw_down(gw)) {
		rc = OCTO_TRUNK_DOWN;
		goto out;
	}
	if (gw_rt->usable) {
		pthread_mutex_lock(&gw->lock);
		for (size_t i = 0; i < gw->nlines && !any; i++)
			any = gw_rt->usable(gw, &gw->lines[i]);
		pthread_mutex_unlock(&gw->lock);
		if (!any) {
			rc = OCTO_TRUNK_DOWN;
			goto out;
		}
	}
	k = gw_slot_take(gw, -1, (enum gw_hunt)gw->cfg.hunting, GW_SLOT_OUT, number,
			 gw_rt->usable);
	if (k < 0) {
		octo_verbose(2, "trunk %s: every %s busy (%zu)", trunk->name,
			     gw->kind == GW_BRI || gw->kind == GW_PRI ? "B-channel"
			     : gw->kind == GW_GSM ? "SIM" : "line", gw->nslots);
		rc = OCTO_EBUSY;
		goto out;
	}
	if (gw_dest(gw_rt, gw->name, gw->slots[k].tag, number, dest, dest_size)) {
		gw_slot_release(gw, gw->slots[k].tag);
		rc = OCTO_EINVAL;
		goto out;
	}
	octo_strlcpy(tech, "SIP", tech_size);
	octo_verbose(3, "trunk %s: call to %s on %s", trunk->name, number, gw->slots[k].tag);
out:
	gw_rt_unlock(gw_rt);
	return rc;
}

/* The dest of peer_dest is "PEER@peer/LINE/NUMBER": the line is the slot's tag. */
static void gw_trunk_abandon(const struct octo_trunk *trunk, const char *dest)
{
	const char *l = dest ? strstr(dest, "@peer/") : NULL, *end;
	char tag[GW_TAG_MAX], name[GW_NAME_MAX + 1];

	if (!l || !gw_rt)
		return;
	l += 6;
	end = strchr(l, '/');
	if (!end || (size_t)(end - l) >= sizeof(tag) || (size_t)(l - 6 - dest) >= sizeof(name))
		return;
	memcpy(tag, l, (size_t)(end - l));
	tag[end - l] = '\0';
	memcpy(name, dest, (size_t)(l - 6 - dest));
	name[l - 6 - dest] = '\0';
	gw_rt_rdlock(gw_rt);
	gw_release_tag(gw_rt, name, tag);
	gw_rt_unlock(gw_rt);
}

static void gw_trunk_status(const struct octo_trunk *trunk, struct octo_trunk_status *st)
{
	struct gw *gw;
	bool any = !gw_rt || !gw_rt->usable;

	memset(st, 0, sizeof(*st));
	if (!gw_rt)
		return;
	octo_strlcpy(st->kind, gw_kind_name(gw_rt->kind), sizeof(st->kind));
	gw_rt_rdlock(gw_rt);
	gw = gw_of_trunk(trunk);
	if (!gw) {
		octo_strlcpy(st->state, "Removed (not in " GW_FILE ")", sizeof(st->state));
		gw_rt_unlock(gw_rt);
		return;
	}
	pthread_mutex_lock(&gw->lock);
	for (size_t i = 0; i < gw->nlines && !any; i++)
		any = gw_rt->usable(gw, &gw->lines[i]);
	if (!any)
		octo_strlcpy(st->state, "No signal", sizeof(st->state));
	else if (!strcasecmp(gw->state, "Unknown"))
		octo_strlcpy(st->state, "Up", sizeof(st->state));
	else {
		char text[160];

		snprintf(text, sizeof(text), "%s%s%s%s", gw->state, *gw->reason ? " (" : "",
			 gw->reason, *gw->reason ? ")" : "");
		octo_strlcpy(st->state, text, sizeof(st->state));
	}
	pthread_mutex_unlock(&gw->lock);
	st->busy = gw_busy(gw);
	st->capacity = (unsigned)gw->nslots;
	gw_rt_unlock(gw_rt);
}

static void gw_trunk_describe(const struct octo_trunk *trunk, char *buf, size_t size)
{
	struct gw *gw;

	if (!gw_rt)
		return;
	gw_rt_rdlock(gw_rt);
	gw = gw_of_trunk(trunk);
	if (gw)
		gw_describe(gw, buf, size);
	gw_rt_unlock(gw_rt);
}

/* ------------------------------------------------ the service "gateway.<kind>" */

static void gw_svc_rows(struct octo_cli_out *out)
{
	if (!gw_rt)
		return;
	gw_rt_rdlock(gw_rt);
	for (size_t i = 0; i < gw_rt->ngws; i++)
		gw_cli_row(out, gw_rt->gws[i]);
	gw_rt_unlock(gw_rt);
}

/* Prints gateway `name` with `print` under the read lock; false if unknown. */
static bool gw_svc_print(struct octo_cli_out *out, const char *name,
			 void (*print)(struct octo_cli_out *out, struct gw *gw))
{
	struct gw *gw;

	if (!gw_rt)
		return false;
	gw_rt_rdlock(gw_rt);
	gw = gw_find(gw_rt, name);
	if (gw)
		print(out, gw);
	gw_rt_unlock(gw_rt);
	return gw != NULL;
}

static bool gw_svc_row(struct octo_cli_out *out, const char *name)
{
	return gw_svc_print(out, name, gw_cli_row);
}

static bool gw_svc_show(struct octo_cli_out *out, const char *name)
{
	return gw_svc_print(out, name, gw_cli_show_one);
}

static void gw_svc_names(void (*add)(void *ctx, const char *name), void *ctx)
{
	if (!gw_rt)
		return;
	gw_rt_rdlock(gw_rt);
	for (size_t i = 0; i < gw_rt->ngws; i++)
		add(ctx, gw_rt->gws[i]->name);
	gw_rt_unlock(gw_rt);
}

static const struct gw_service_api gw_svc_api = {
	.rows = gw_svc_rows, .row = gw_svc_row, .show = gw_svc_show, .adopt_cli = gw_cli_adopt,
	.names = gw_svc_names,
};
static char gw_svc_name[32];
static struct octo_service gw_svc = { gw_svc_name, GW_SERVICE_VERSION, &gw_svc_api };

static void gw_log_diags(const struct octo_diags *diags, size_t from)
{
	for (size_t i = from; i < diags->count; i++)
		octo_log(diags->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING,
			 "%s", diags->items[i].message);
}

/* ------------------------------------------------ peers and trunks of a gateway */

static struct gw_peer *gw_peer_new(struct gw_module *m, const char *name)
{
	struct gw_peer *pp = calloc(1, sizeof(*pp));

	if (!pp)
		return NULL;
	octo_strlcpy(pp->name, name, sizeof(pp->name));
	pp->next = m->peers;
	m->peers = pp;
	return pp;
}

static void gw_peer_free(struct gw_module *m, const char *name)
{
	for (struct gw_peer **pp = &m->peers; *pp; pp = &(*pp)->next)
		if (!strcasecmp((*pp)->name, name)) {
			struct gw_peer *dead = *pp;

			*pp = dead->next;
			free(dead);
			return;
		}
}

static int gw_peer_add1(struct gw_module *m, const struct octo_sip_peer_cfg *pc)
{
	struct gw_peer *pp = gw_peer_new(m, pc->name);
	int rc;

	if (!pp)
		return OCTO_ENOMEM;
	/* No owner: the peer must not pin the module (an unload would be
	 * refused for ever); unload removes it, and from then on chan_sip
	 * calls nothing of ours. Busy slots hold the module instead. */
	rc = m->sip->peer_add(NULL, pc, &gw_tr_ops, pp);
	if (rc)
		gw_peer_free(m, pc->name);
	return rc;
}

/* Adds the SIP peers of one gateway; false when one failed (logged, and
 * added to diags when given). */
static bool gw_add_peers(struct gw_module *m, struct gw *gw, struct octo_diags *diags)
{
	struct octo_sip_peer_cfg pc;
	int rc;

	gw_peer_cfg(gw, &pc);
	if (gw->kind != GW_DECT) {
		rc = gw_peer_add1(m, &pc);
		if (rc) {
			octo_log(OCTO_ERROR, "gateway %s: cannot add its SIP peer: %s", gw->name,
				 rc == OCTO_EEXIST ? "the name is taken" : octo_strerror(rc));
			if (diags)
				octo_diags_add(diags, OCTO_DIAG_ERROR, gw->file, gw->line,
					       "[%s] cannot add its SIP peer: %s", gw->name,
					       rc == OCTO_EEXIST ? "the name is taken"
								 : octo_strerror(rc));
			return false;
		}
		gw->peer_added = true;
		if (!strcasecmp(gw->cfg.host, "dynamic"))
			octo_strlcpy(gw->state, "Unregistered", sizeof(gw->state));
		return true;
	}
	for (size_t i = 0; i < gw->nbases; i++) {
		struct gw_base *b = &gw->bases[i];

		b->gw = gw;
		pc.name = b->name;
		pc.host = b->host;
		pc.port = b->port;
		pc.username = !strcasecmp(b->host, "dynamic") ? b->name : gw->cfg.username;
		rc = gw_peer_add1(m, &pc);
		if (rc) {
			octo_log(OCTO_ERROR, "DECT network %s: cannot add base %s as a SIP "
				 "peer: %s", gw->name, b->name,
				 rc == OCTO_EEXIST ? "the name is taken" : octo_strerror(rc));
			if (diags)
				octo_diags_add(diags, OCTO_DIAG_ERROR, gw->file, gw->line,
					       "[%s] cannot add base %s as a SIP peer: %s",
					       gw->name, b->name,
					       rc == OCTO_EEXIST ? "the name is taken"
								 : octo_strerror(rc));
			return false;
		}
		b->peer_added = true;
		if (!strcasecmp(b->host, "dynamic"))
			octo_strlcpy(b->state, "Unregistered", sizeof(b->state));
	}
	return true;
}

/* Removes the peers of a gateway (no callback of them runs afterwards). */
static void gw_remove_peers(struct gw_module *m, struct gw *gw)
{
	if (gw->peer_added) {
		m->sip->peer_remove(gw->name);
		gw_peer_free(m, gw->name);
	}
	gw->peer_added = false;
	for (size_t i = 0; i < gw->nbases; i++) {
		if (gw->bases[i].peer_added) {
			m->sip->peer_remove(gw->bases[i].name);
			gw_peer_free(m, gw->bases[i].name);
		}
		gw->bases[i].peer_added = false;
	}
}

static bool gw_has_trunk(const struct gw *gw)
{
	return gw->cfg.trunk && gw->kind != GW_FXS && gw->kind != GW_DECT && !gw->retired;
}

/* Points each trunk at the gateway that has it now (none: "Removed") and
 * registers the trunks new to this module. Under cfg_lock, without the
 * runtime lock. Returns how many could not be registered. */
static unsigned gw_sync_trunks(struct gw_module *m, struct octo_diags *diags)
{
	unsigned failures = 0;

	pthread_rwlock_wrlock(&m->rt_lock);
	for (struct gw_trunk *gt = m->trunks; gt; gt = gt->next)
		gt->gw[0] = '\0';
	for (size_t i = 0; i < m->ngws; i++)
		for (struct gw_trunk *gt = m->trunks; gt && gw_has_trunk(m->gws[i]); gt = gt->next)
			if (!strcasecmp(gt->name, m->gws[i]->cfg.trunk))
				octo_strlcpy(gt->gw, m->gws[i]->name, sizeof(gt->gw));
	pthread_rwlock_unlock(&m->rt_lock);
	for (size_t i = 0; i < m->ngws; i++) {
		struct gw *gw = m->gws[i];
		struct gw_trunk *gt;
		bool known = false;

		for (gt = m->trunks; gt && gw_has_trunk(gw) && !known; gt = gt->next)
			known = !strcasecmp(gt->name, gw->cfg.trunk);
		if (known || !gw_has_trunk(gw))
			continue;
		gt = calloc(1, sizeof(*gt));
		if (!gt) {
			failures++;
			continue;
		}
		octo_strlcpy(gt->name, gw->cfg.trunk, sizeof(gt->name));
		octo_strlcpy(gt->gw, gw->name, sizeof(gt->gw));
		gt->t = (struct octo_trunk){ .name = gt->name, .acquire = gw_trunk_acquire,
					     .status = gw_trunk_status,
					     .describe = gw_trunk_describe,
					     .abandon = gw_trunk_abandon, .data = gt };
		if (octo_trunk_register(m->self, &gt->t)) {
			octo_log(OCTO_ERROR, "gateway %s: cannot register trunk %s (the name is "
				 "taken?)", gw->name, gw->cfg.trunk);
			if (diags)
				octo_diags_add(diags, OCTO_DIAG_ERROR, gw->file, gw->line,
					       "[%s] cannot register trunk %s (the name is taken?)",
					       gw->name, gw->cfg.trunk);
			free(gt);
			failures++;
			continue;
		}
		pthread_rwlock_wrlock(&m->rt_lock);
		gt->next = m->trunks;
		m->trunks = gt;
		pthread_rwlock_unlock(&m->rt_lock);
	}
	return failures;
}

static int gw_name_cmp(const void *a, const void *b)
{
	const struct gw *const *x = a, *const *y = b;

	return strcasecmp((*x)->name, (*y)->name);
}

static void gw_retire(struct gw_module *m, struct gw *gw)
{
	pthread_mutex_lock(&gw->lock);
	gw->retired = true;
	pthread_mutex_unlock(&gw->lock);
	gw->next_retired = m->retired;
	m->retired = gw;
}

/* Marks `gw` closing when it (with its retired copies) carries no call:
 * from then on it takes no slot. False when it is busy. Under cfg_lock. */
static bool gw_close_if_idle(struct gw_module *m, struct gw *gw)
{
	bool idle;

	gw_rt_rdlock(m);
	pthread_mutex_lock(&gw->lock);
	gw->closing = true;
	pthread_mutex_unlock(&gw->lock);
	idle = gw_name_busy(m, gw->name) == 0;
	if (!idle) {
		pthread_mutex_lock(&gw->lock);
		gw->closing = false;
		pthread_mutex_unlock(&gw->lock);
	}
	gw_rt_unlock(m);
	return idle;
}

/* Moves the running state of `old` to `gw`, its new model with the same SIP
 * side: the peer's state, the calls in progress (slots by tag, with their
 * use references), GSM SIM states, DECT handsets' bases. Busy slots whose
 * tag is gone stay on `old` (retired) until their calls end. Under the
 * write lock. */
static void gw_carry(struct gw *gw, struct gw *old)
{
	pthread_mutex_lock(&old->lock);
	pthread_mutex_lock(&gw->lock);
	octo_strlcpy(gw->state, old->state, sizeof(gw->state));
	octo_strlcpy(gw->reason, old->reason, sizeof(gw->reason));
	gw->peer_added = old->peer_added;
	old->peer_added = false;
	for (size_t i = 0; i < gw->nbases; i++)
		gw->bases[i].gw = gw;
	for (size_t i = 0; i < gw->nbases && i < old->nbases; i++) {
		octo_strlcpy(gw->bases[i].state, old->bases[i].state, sizeof(gw->bases[i].state));
		gw->bases[i].peer_added = old->bases[i].peer_added;
		old->bases[i].peer_added = false;
	}
	for (size_t i = 0; i < old->nslots; i++) {
		struct gw_slot *o = &old->slots[i];
		int k = o->state != GW_SLOT_IDLE ? gw_slot_find(gw, o->tag) : -1;

		if (k < 0)
			continue;
		/* the use reference "NAME/TAG" goes with the call */
		gw->slots[k].state = o->state;
		octo_strlcpy(gw->slots[k].other, o->other, sizeof(gw->slots[k].other));
		gw->slots[k].since_ms = o->since_ms;
		gw->slots[k].calls = o->calls;
		o->state = GW_SLOT_IDLE;
	}
	for (size_t i = 0; i < old->nlines; i++) {
		const struct gw_line *ol = &old->lines[i];

		for (size_t j = 0; j < gw->nlines; j++) {
			struct gw_line *l = &gw->lines[j];

			if (gw->kind == GW_GSM && l->id == ol->id) {
				octo_strlcpy(l->state, ol->state, sizeof(l->state));
				l->signal = ol->signal;
			} else if (gw->kind == GW_DECT && !strcasecmp(l->ipui, ol->ipui) &&
				   ol->base < old->nbases) {
				/* the bases are the same (same SIP side) */
				l->base = ol->base;
				octo_strlcpy(l->state, ol->state, sizeof(l->state));
			}
		}
	}
	pthread_mutex_unlock(&gw->lock);
	pthread_mutex_unlock(&old->lock);
}

/* What a reload does with one gateway. */
enum gw_plan { GW_KEEP, GW_ADD, GW_SWAP, GW_REPLACE, GW_PEND, GW_REMOVE };

/* Applies the gateways `news` (count n, taken) to the module. Under
 * cfg_lock. Returns how many peers/trunks could not be added. */
static unsigned gw_apply(struct gw_module *m, struct gw **news, size_t n, struct octo_diags *diags)
{
	enum gw_plan *plan = calloc(n ? n : 1, sizeof(*plan));
	struct gw **olds = calloc(n ? n : 1, sizeof(*olds));
	struct gw **next = NULL;
	bool *stays = calloc(m->ngws ? m->ngws : 1, sizeof(*stays));
	size_t nnext = 0, ngone = 0;
	unsigned failures = 0, changed = 0;

	if (!plan || !olds || !stays) {
		free(plan);
		free(olds);
		free(stays);
		gw_free_all(news, n);
		if (diags)
			octo_diags_add(diags, OCTO_DIAG_ERROR, GW_FILE, 0, "out of memory");
		return 1;
	}
	/* 1. the plan (m->gws only changes under cfg_lock, which we hold) */
	for (size_t i = 0; i < n; i++) {
		struct gw *o = gw_find(m, news[i]->name);

		olds[i] = o;
		if (!o) {
			plan[i] = GW_ADD;
			continue;
		}
		for (size_t j = 0; j < m->ngws; j++)
			if (m->gws[j] == o)
				stays[j] = true;
		if (!strcmp(o->sip_sig, news[i]->sip_sig))
			plan[i] = strcmp(o->model_sig, news[i]->model_sig) ? GW_SWAP : GW_KEEP;
		else
			plan[i] = gw_close_if_idle(m, o) ? GW_REPLACE : GW_PEND;
	}
	/* 2. out of the way before the new ones come: the peers of replaced
	 * and removed gateways (no lock held: this waits for chan_sip's loop,
	 * whose callbacks take the read lock) */
	for (size_t i = 0; i < n; i++)
		if (plan[i] == GW_REPLACE)
			gw_remove_peers(m, olds[i]);
	for (size_t j = 0; j < m->ngws; j++) {
		struct gw *o = m->gws[j];

		if (stays[j])
			continue;
		if (gw_close_if_idle(m, o)) {
			gw_remove_peers(m, o);
		} else {
			stays[j] = true; /* kept until its calls end */
			pthread_mutex_lock(&o->lock);
			o->pending_remove = true;
			gw_free(o->pending);
			o->pending = NULL;
			pthread_mutex_unlock(&o->lock);
			octo_log(OCTO_NOTICE, "gateway %s: removed from %s; it goes when its %u "
				 "call(s) end", o->name, GW_FILE, gw_name_busy(m, o->name));
		}
		ngone += !stays[j];
	}
	/* 3. the swap */
	next = calloc(n + m->ngws + 1, sizeof(*next));
	if (!next) {
		/* cannot happen in practice; keep what runs */
		octo_log(OCTO_ERROR, "%s: out of memory: reload not applied", GW_FILE);
		free(plan);
		free(olds);
		free(stays);
		gw_free_all(news, n);
		return 1;
	}
	pthread_rwlock_wrlock(&m->rt_lock);
	for (size_t i = 0; i < n; i++) {
		struct gw *o = olds[i], *g = news[i];

		g->module = m->self;
		switch (plan[i]) {
		case GW_KEEP:
			pthread_mutex_lock(&o->lock);
			gw_free(o->pending); /* back to what runs: nothing waits */
			o->pending = NULL;
			o->pending_remove = false;
			pthread_mutex_unlock(&o->lock);
			gw_free(g);
			next[nnext++] = o;
			break;
		case GW_PEND:
			pthread_mutex_lock(&o->lock);
			gw_free(o->pending);
			o->pending = g;
			o->pending_remove = false;
			pthread_mutex_unlock(&o->lock);
			next[nnext++] = o;
			changed++;
			break;
		case GW_SWAP:
			gw_carry(g, o);
			gw_retire(m, o);
			next[nnext++] = g;
			changed++;
			break;
		case GW_REPLACE:
			gw_retire(m, o);
			next[nnext++] = g;
			changed++;
			break;
		default:
			next[nnext++] = g;
			changed++;
			break;
		}
	}
	for (size_t j = 0; j < m->ngws; j++) {
		struct gw *o = m->gws[j];
		bool listed = false;

		for (size_t i = 0; i < n && !listed; i++)
			listed = olds[i] == o;
		if (listed)
			continue;
		if (stays[j])
			next[nnext++] = o; /* pending removal */
		else
			gw_retire(m, o);
	}
	qsort(next, nnext, sizeof(*next), gw_name_cmp);
	free(m->gws);
	m->gws = next;
	m->ngws = nnext;
	pthread_rwlock_unlock(&m->rt_lock);
	/* 4. the new ones' peers, and the trunks */
	for (size_t i = 0; i < n; i++) {
		struct gw *g = news[i];

		if (plan[i] == GW_ADD || plan[i] == GW_REPLACE)
			failures += !gw_add_peers(m, g, diags);
		if (plan[i] == GW_PEND)
			octo_log(OCTO_NOTICE, "gateway %s: its SIP side changed; the change "
				 "applies when its %u call(s) end", g->name, gw_name_busy(m, g->name));
	}
	failures += gw_sync_trunks(m, diags);
	if (changed || ngone)
		octo_verbose(2, "%s: %zu %s gateway%s (%u changed, %zu removed)", GW_FILE, nnext,
			     gw_kind_name(m->kind), nnext == 1 ? "" : "s", changed, ngone);
	free(plan);
	free(olds);
	free(stays);
	free(news);
	return failures;
}

/* Applies the changes that waited for their gateway to be idle. */
static void gw_apply_pending(struct gw_module *m)
{
	pthread_mutex_lock(&m->cfg_lock);
	for (;;) {
		struct gw *o = NULL, *g = NULL;
		bool remove = false;

		for (size_t i = 0; i < m->ngws && !o; i++) {
			struct gw *c = m->gws[i];

			pthread_mutex_lock(&c->lock);
			if ((c->pending || c->pending_remove) && !c->closing) {
				o = c;
				g = c->pending;
				remove = c->pending_remove;
			}
			pthread_mutex_unlock(&c->lock);
			if (o && !gw_close_if_idle(m, o))
				o = NULL;
		}
		if (!o)
			break;
		pthread_mutex_lock(&o->lock);
		o->pending = NULL;
		o->pending_remove = false;
		pthread_mutex_unlock(&o->lock);
		gw_remove_peers(m, o);
		pthread_rwlock_wrlock(&m->rt_lock);
		for (size_t i = 0; i < m->ngws; i++) {
			if (m->gws[i] != o)
				continue;
			if (g && !remove) {
				g->module = m->self;
				m->gws[i] = g;
			} else {
				memmove(&m->gws[i], &m->gws[i + 1],
					(m->ngws - i - 1) * sizeof(*m->gws));
				m->ngws--;
			}
			break;
		}
		qsort(m->gws, m->ngws, sizeof(*m->gws), gw_name_cmp);
		gw_retire(m, o);
		pthread_rwlock_unlock(&m->rt_lock);
		if (g && !remove) {
			gw_add_peers(m, g, NULL);
			octo_verbose(2, "gateway %s: its calls ended: the new config applies",
				     o->name);
		} else {
			gw_free(g);
			octo_verbose(2, "gateway %s: its calls ended: removed", o->name);
		}
		gw_sync_trunks(m, NULL);
	}
	pthread_mutex_unlock(&m->cfg_lock);
	if (m->reloaded)
		m->reloaded(m);
}

static void gw_pending_work(void *data)
{
	struct gw_module *m = data;

	gw_apply_pending(m);
	octo_module_unref(m->self, "gateways.conf reload");
}

/* ------------------------------------------------ load, reload, unload */

static void gw_rt_init(struct gw_module *m)
{
	if (m->inited)
		return;
	pthread_rwlock_init(&m->rt_lock, NULL);
	pthread_mutex_init(&m->cfg_lock, NULL);
	m->inited = true;
}

/* Unregisters and frees the module's trunks (at unload: no holder is left). */
static void gw_free_trunks(struct gw_module *m)
{
	while (m->trunks) {
		struct gw_trunk *gt = m->trunks;

		m->trunks = gt->next;
		octo_trunk_unregister(&gt->t);
		free(gt);
	}
}

static void gw_free_everything(struct gw_module *m)
{
	gw_free_all(m->gws, m->ngws);
	m->gws = NULL;
	m->ngws = 0;
	while (m->retired) {
		struct gw *r = m->retired;

		m->retired = r->next_retired;
		gw_free(r);
	}
	while (m->peers) {
		struct gw_peer *pp = m->peers;

		m->peers = pp->next;
		free(pp);
	}
}

int gw_module_load(struct gw_module *m, struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	bool errors;
	char holder[32];
	struct gw **gws;
	size_t n;

	gw_rt_init(m);
	m->self = self;
	gws = gw_load_all(octo_paths.config_dir, m->kind, &n, &errors, &diags);
	gw_log_diags(&diags, 0);
	octo_diags_free(&diags);
	if (errors) {
		octo_log(OCTO_ERROR, "%s has errors: no %s gateway loaded", GW_FILE,
			 gw_kind_name(m->kind));
		return OCTO_ECONFIG;
	}
	snprintf(holder, sizeof(holder), "chan_%s", gw_kind_name(m->kind));
	m->sip = octo_service_get(OCTO_SIP_SERVICE, OCTO_SIP_VERSION, holder);
	if (!m->sip && n) {
		octo_log(OCTO_ERROR, "the SIP stack (chan_sip) is not loaded: the %s gateways "
			 "cannot be reached", gw_kind_name(m->kind));
		gw_free_all(gws, n);
		return OCTO_EFAIL;
	}
	gw_rt = m;
	gw_tr_ops = (struct octo_sip_peer_ops){
		.incoming = gw_tr_incoming, .released = gw_tr_released, .status = gw_tr_status,
		.message = m->ops->message ? gw_tr_message : NULL,
		.device_event = m->ops->device_event ? gw_tr_event : NULL,
		.claim = m->devices ? gw_tr_claim : NULL,
	};
	if (n)
		qsort(gws, n, sizeof(*gws), gw_name_cmp);
	m->gws = gws;
	m->ngws = n;
	for (size_t i = 0; i < m->ngws; i++) {
		struct gw *gw = m->gws[i];

		gw->module = self;
		if (!gw_add_peers(m, gw, NULL))
			goto fail;
	}
	if (gw_sync_trunks(m, NULL))
		goto fail;
	if (m->devices && m->sip && m->sip->devices_add(NULL, m->devices, m) != 0) {
		octo_log(OCTO_ERROR, "cannot offer the %s devices to chan_sip",
			 gw_kind_name(m->kind));
		goto fail;
	}
	snprintf(gw_svc_name, sizeof(gw_svc_name), "%s%s", GW_SERVICE_PREFIX,
		 gw_kind_name(m->kind));
	if (octo_service_register(self, &gw_svc))
		goto fail;
	gw_cli_attach(self);
	octo_verbose(2, "%zu %s gateway%s", m->ngws, gw_kind_name(m->kind),
		     m->ngws == 1 ? "" : "s");
	return 0;
fail:
	if (m->devices && m->sip)
		m->sip->devices_remove(m->devices, m);
	gw_free_trunks(m);
	for (size_t i = 0; i < m->ngws; i++)
		gw_remove_peers(m, m->gws[i]);
	gw_free_everything(m);
	octo_service_put(m->sip, holder);
	m->sip = NULL;
	gw_rt = NULL;
	return OCTO_EFAIL;
}

/* A reload takes the whole file or nothing: true (with one line in diags)
 * when a section of another gateway type has errors. */
static bool gw_others_bad(enum gw_kind kind, struct octo_diags *diags)
{
	for (int k = 0; k < GW_KINDS; k++) {
		struct octo_diags other = { 0 };
		struct gw **gws;
		bool errors;
		size_t n;

		if (k == (int)kind)
			continue;
		gws = gw_load_all(octo_paths.config_dir, (enum gw_kind)k, &n, &errors, &other);
		gw_free_all(gws, n);
		for (size_t i = 0; errors && i < other.count; i++) {
			if (other.items[i].severity != OCTO_DIAG_ERROR)
				continue;
			octo_diags_add(diags, OCTO_DIAG_ERROR, NULL, 0, "chan_%s: %s not reloaded: "
				       "it has errors (%s)", gw_kind_name(kind), GW_FILE,
				       other.items[i].message);
			break;
		}
		octo_diags_free(&other);
		if (errors)
			return true;
	}
	return false;
}

int gw_module_reload(struct gw_module *m, struct octo_diags *diags)
{
	size_t before = diags->count, n;
	bool errors;
	struct gw **gws;
	unsigned failures;

	char holder[32];

	if (!gw_rt)
		return OCTO_EFAIL;
	snprintf(holder, sizeof(holder), "chan_%s", gw_kind_name(m->kind));
	if (!m->sip) {
		/* loaded while chan_sip was not: maybe it is now */
		m->sip = octo_service_get(OCTO_SIP_SERVICE, OCTO_SIP_VERSION, holder);
		if (m->sip && m->devices && m->sip->devices_add(NULL, m->devices, m) != 0)
			octo_log(OCTO_ERROR, "cannot offer the %s devices to chan_sip",
				 gw_kind_name(m->kind));
	}
	if (!m->sip) {
		gws = gw_load_all(octo_paths.config_dir, m->kind, &n, &errors, diags);
		gw_free_all(gws, n);
		if (!errors && n) {
			octo_diags_add(diags, OCTO_DIAG_ERROR, GW_FILE, 0,
				       "%zu %s gateway%s, but the SIP stack (chan_sip) is not "
				       "loaded",
				       n, gw_kind_name(m->kind), n == 1 ? "" : "s");
			return OCTO_ECONFIG;
		}
		return errors ? OCTO_ECONFIG : 0;
	}
	pthread_mutex_lock(&m->cfg_lock);
	gws = gw_load_all(octo_paths.config_dir, m->kind, &n, &errors, diags);
	if (!errors && gw_others_bad(m->kind, diags)) {
		gw_free_all(gws, n);
		errors = true;
	}
	if (errors) {
		pthread_mutex_unlock(&m->cfg_lock);
		gw_log_diags(diags, before);
		octo_log(OCTO_ERROR, "%s has errors: reload refused, the %zu running %s gateway%s "
			 "stay", GW_FILE, m->ngws, gw_kind_name(m->kind), m->ngws == 1 ? "" : "s");
		return OCTO_ECONFIG;
	}
	failures = gw_apply(m, gws, n, diags);
	pthread_mutex_unlock(&m->cfg_lock);
	if (m->reloaded)
		m->reloaded(m);
	return failures ? OCTO_ECONFIG : 0;
}

void gw_module_unload(struct gw_module *m)
{
	char holder[32];

	gw_cli_detach();
	if (m->devices && m->sip)
		m->sip->devices_remove(m->devices, m);
	pthread_mutex_lock(&m->cfg_lock);
	gw_free_trunks(m);
	for (size_t i = 0; i < m->ngws && m->sip; i++)
		gw_remove_peers(m, m->gws[i]);
	for (struct gw *r = m->retired; r && m->sip; r = r->next_retired)
		gw_remove_peers(m, r);
	pthread_rwlock_wrlock(&m->rt_lock);
	gw_free_everything(m);
	pthread_rwlock_unlock(&m->rt_lock);
	pthread_mutex_unlock(&m->cfg_lock);
	snprintf(holder, sizeof(holder), "chan_%s", gw_kind_name(m->kind));
	octo_service_put(m->sip, holder);
	m->sip = NULL;
	gw_rt = NULL;
}
