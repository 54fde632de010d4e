/*
 * sip_peer.h - chan_sip's internal API for SIP peers that are not users
 * (trunks, gateways, DECT bases): the "sip" service of include/octo/sip.h
 * (sip_peer.c), outbound registration and qualify of peers (sip_regout.c),
 * and the hooks the calls part (sip_call.c), the registrar (sip_reg.c) and
 * the CLI (sip_cli.c) call.
 *
 * THREADS: functions marked [loop] run on the loop thread; [any] anywhere.
 * The peer tables have a lock of their own, never held across a call out
 * to an owner's callback. Owner callbacks (struct octo_sip_peer_ops) are
 * only ever called on the loop thread.
 */
#ifndef CHAN_SIP_SIP_PEER_H
#define CHAN_SIP_SIP_PEER_H

#include <stdbool.h>
#include <stddef.h>

#include "octo/channel.h"
#include "octo/sip.h"
#include "sip.h"

struct octo_module;
struct sip_peer;

/* A call's claim on a peer: the line tag it was counted on. Released once
 * (sip_peer_use_release), which calls the owner's released() on the loop. */
struct sip_peer_use;

/* The part of chan_sip.c's table: the tables, MESSAGE and NOTIFY handlers. */
int sip_peer_init(void);
void sip_peer_fini(void);
/* Registers the "sip" service (octo/sip.h); called at load with the module. */
int sip_peer_service_register(struct octo_module *self);

/* ---------------------------------------------------------------- calls */

enum sip_peer_verdict {
	SIP_PEER_NONE = 0, /* not from a peer: the users path */
	SIP_PEER_ROUTED,   /* from a peer that accepted it: *in filled */
	SIP_PEER_HANDLED,  /* answered already (challenge, refusal) */
};

/* How an incoming INVITE from a peer goes on. */
struct sip_peer_in {
	struct octo_sip_route route; /* every field filled (defaults applied) */
	char codecs[64];
	char peer[64];
	char caller_e164[72];     /* route.caller (as the owner left it) */
	struct sip_peer_use *use; /* owned by the caller: give it to the call */
};

/* An initial INVITE: matched to a peer by its source address (static host,
 * match networks, a dynamic peer's registered address) or by the digest
 * user of a dynamic peer (challenged here with the peer's secret). [loop] */
enum sip_peer_verdict sip_peer_invite(struct sip_txn *txn, struct sip_msg *req,
				      struct sip_peer_in *in);

/* True when `dest` was made by peer_dest ("NAME@peer/LINE/NUMBER"). [any] */
bool sip_peer_is_dest(const char *dest);

/* Where an outgoing call to a peer goes. */
struct sip_peer_out {
	char ruri[300];
	struct sip_addr to;
	char codecs[64];
	char from_user[72];    /* "" = the caller number */
	char from_domain[128]; /* "" = our address */
	char number[72];
	char peer[64];
	char username[64], secret[128]; /* answer the peer's 401/407 with these */
	struct sip_peer_use *use;       /* owned by the caller: give it to the call */
	char why[160];                  /* on failure: what stopped it, for the step log */
};
/* Resolves a peer_dest string. 0, OCTO_EINVAL (a malformed dest),
 * OCTO_ENOTFOUND (no such peer, a dynamic peer not registered now, a host
 * name not resolved yet) or OCTO_EBUSY (the owner refused the line); out->why
 * says which. [loop] */
int sip_peer_resolve(const char *dest, struct sip_peer_out *out);

/* Releases a claim (NULL is a no-op) and sets *use to NULL. [any] */
void sip_peer_use_release(struct sip_peer_use **use);

/* Devices of `user` that providers (devices_add) offer, appended after
 * `have` entries already in dests; returns the new total. [any] */
int sip_peer_devices(const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int have, int max);

/* An out-of-dialog INFO: true when it came from a peer and was answered. [loop] */
bool sip_peer_on_info(struct sip_txn *txn, struct sip_msg *req);

/* A REGISTER whose To user is a dynamic peer's username: authenticated with
 * the peer's secret and answered here (true), else false. [loop] */
bool sip_peer_on_register(struct sip_txn *txn, struct sip_msg *req);

/* Adds the answer to a 401/407 challenge in `challenge` to `req`
 * (Authorization / Proxy-Authorization for `method` and `uri`). 0, or
 * OCTO_EINVAL (no usable challenge: unknown algorithm, no nonce). [loop] */
int sip_peer_authorize(struct sip_msg *req, const struct sip_msg *challenge, const char *user,
		       const char *secret, const char *uri);

/* ---------------------------------------------------------------- state */

/* A peer's state changed: remembered and passed to ops->status. [loop] */
void sip_peer_set_state(struct sip_peer *p, const char *state, const char *reason);

/* `sip show peers`: the peers (not users), sorted by name. free(*out). [any] */
struct sip_peer_row {
	char name[64];
	char kind[16];
	char host[80]; /* "192.0.2.9:5060", "dynamic (192.0.2.9:5060)", "dynamic" */
	char state[32];
	char reason[128];
};
size_t sip_peer_rows(struct sip_peer_row **out);

/* ---------------------------------------------------------------- sip_regout.c */

/* What outbound registration and qualify need of a peer (copied). */
struct sip_regout_cfg {
	char name[64];
	char registrar[300]; /* "192.0.2.1", "192.0.2.1:5070", "sip.example.com:5070" */
	enum sip_tp tp;
	char username[64], secret[128];
	char domain[128]; /* From/To host: from_domain, else the registrar's name or IP */
	unsigned expiry;
	/* Where REGISTERs go: the registrar's address (a name resolved by
	 * sip_peer.c); len 0 = not known yet: nothing is sent until
	 * sip_regout_set_dest gives it. */
	struct sip_addr dest;
};
struct sip_regout;
/* Starts registering (the first REGISTER at once when cfg->dest is set).
 * NULL on a bad registrar (logged) or ENOMEM. `p` is referenced until
 * sip_regout_stop. [loop] */
struct sip_regout *sip_regout_start(struct sip_peer *p, const struct sip_regout_cfg *cfg);
/* The registrar's address (again, after a DNS lookup): when it is new or
 * changed, a REGISTER goes there at once. [loop] */
void sip_regout_set_dest(struct sip_regout *ro, const struct sip_addr *dest);
/* Stops: a registered binding is withdrawn (Expires: 0, no retry). [loop] */
void sip_regout_stop(struct sip_regout *ro);

/* ---------------------------------------------------------------- host names */

/* A DNS host name: labels of letters, digits and '-' (not at either end of
 * a label), 1..63 each, at most 253 in all, an optional final '.', the last
 * label not all digits (so that a mistyped IPv4 address is no name). [any] */
bool sip_peer_valid_hostname(const char *s);
/* "host", "host:port", "[IPv6]", "[IPv6]:port" where host is a numeric IP
 * or a DNS name: the host into host/size and the port (0 when none given).
 * *named tells a DNS name. 0 or OCTO_EINVAL. [any] */
int sip_peer_split_hostport(const char *text, char *host, size_t size, unsigned *port, bool *named);
/* A registration of peer p failed: look its names up again now (when it
 * has any and no lookup runs). [loop] */
void sip_peer_dns_again(struct sip_peer *p);

/* Qualify: OPTIONS to a static peer every `interval_s`; the result goes to
 * sip_peer_set_state ("Reachable (12 ms)" / "Unreachable"). [loop] */
struct sip_qualify;
struct sip_qualify *sip_peer_qualify_start(struct sip_peer *p, const struct sip_addr *to,
					   unsigned interval_s);
void sip_peer_qualify_stop(struct sip_qualify *q);

/* Tests: the registration retry back-off after `failures` failures in a
 * row (s): 30, 60, 120, ... at most 1800. */
unsigned sip_regout_backoff(unsigned failures);
/* The re-register delay for a granted expiry (s): 90% of it, at least
 * 5 s before it ends, at least 1 s. */
unsigned sip_regout_refresh(unsigned granted);

#endif
