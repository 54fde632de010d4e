/*
 * sip.h - the SIP stack that chan_sip offers to other modules (service
 * "sip", registry.h): SIP peers that are not users -- trunks to providers
 * and other PBXs, media gateways (FXS, FXO, BRI, PRI, GSM), DECT base
 * stations -- whose calls are SIP calls made and answered by chan_sip on
 * behalf of the module that owns the peer.
 *
 *   const struct octo_sip_api *sip = octo_service_get(OCTO_SIP_SERVICE, 1, "chan_fxo");
 *   static const struct octo_sip_peer_ops fxo_ops = { .incoming = fxo_incoming,
 *                                                     .released = fxo_released };
 *   struct octo_sip_peer_cfg cfg = { .name = "fxo1", .kind = "fxo", .host = "192.0.2.9",
 *                                    .port = 5060 };
 *   sip->peer_add(self, &cfg, &fxo_ops, gw);
 *   ...
 *   // an outgoing call on line 3: a SIP channel to the gateway
 *   sip->peer_dest("fxo1", "3", "0612345678", dest, sizeof(dest));
 *   chan = octo_chan_alloc("SIP", OCTO_CHAN_DIALING, "fxo1-3");   // then call(dest)
 *
 * The channels are ordinary SIP channels (tech "SIP"): they relay RTP
 * natively with users' phones, transfer, hold, send DTMF like any other.
 * The owner of the peer models its device -- ports, lines, B-channels,
 * SIMs, handsets, capacity -- and is told when each call starts (incoming)
 * and ends (released), with the line tag it chose.
 *
 * Thread context: the ops callbacks run on chan_sip's event loop thread and
 * must not block (no sqlite, no mail: push such work to octo_work_push()).
 * The api functions may be called from any thread.
 */
#ifndef OCTO_SIP_H
#define OCTO_SIP_H

#include <stdbool.h>
#include <stddef.h>

#include "octo/channel.h"
#include "octo/octo.h"

struct octo_module;

#define OCTO_SIP_SERVICE "sip"
#define OCTO_SIP_VERSION 1

/* What a peer is and how to reach it. Strings are copied by peer_add. */
struct octo_sip_peer_cfg {
	const char *name;       /* unique among peers: "provider", "fxo1", "dect-base2" */
	const char *kind;       /* for `sip show peers`: "trunk", "fxs", "gsm", "dect" */
	/* Where it is: a numeric IP ("192.0.2.9", "::1") or a DNS host name
	 * ("sip.provider.example"), and port (0 = 5060), or host "dynamic": it
	 * REGISTERs to us with username/secret and is reached at its
	 * registered contact. A name is looked up (A/AAAA, IPv4 first; no SRV)
	 * off the loop: until it resolves the peer's state is "Resolving", or
	 * "Unresolved" with the reason, and calls to it fail; incoming
	 * requests from any of its addresses belong to the peer. */
	const char *host;
	unsigned port;
	const char *transport;  /* "udp" (default), "tcp", "tls" */
	/* Credentials: a dynamic peer registers (and calls) with these; for a
	 * static peer they answer the peer's challenges to our requests. */
	const char *username;
	const char *secret;
	/* Incoming requests are matched to the peer by their source: the host
	 * above, or these networks ("192.0.2.0/24, 198.51.100.7"); a dynamic
	 * peer by its registration or digest user. */
	const char *match;
	/* Outbound registration (a trunk to a provider): when `registrar` is
	 * set ("192.0.2.1", "192.0.2.1:5070", "sip.provider.example[:5070]"; a
	 * name goes into the Request-URI and the To/From of the REGISTER
	 * unless from_domain says otherwise), chan_sip keeps a REGISTER for
	 * `username` alive there every `register_expiry` seconds (0 = 3600),
	 * retrying with back-off on failure and reporting to ops->status. */
	const char *registrar;
	unsigned register_expiry;
	const char *codecs;     /* preference "PCMA,PCMU"; "" = PCMU,PCMA */
	const char *from_user;  /* user part of From on outgoing calls ("" = the caller number) */
	const char *from_domain; /* host part of From ("" = our address) */
	/* Where the called number of an incoming call is read: false the
	 * Request-URI (default), true the To header. */
	bool called_from_to;
	bool qualify;           /* OPTIONS pings; status "Reachable (12 ms)" / "Unreachable" */
	/* Seconds between lookups of a host or registrar name (0 = 300); a
	 * failed lookup is retried after 30 s (or this, if less), and a failed
	 * registration looks the names up again at once. */
	unsigned dns_refresh;
};

/* An incoming INVITE from a peer, as the owner sees it. */
struct octo_sip_incoming {
	const char *peer;       /* the peer's name */
	const char *called;     /* user part of the Request-URI or To (cfg.called_from_to) */
	const char *ruri_user;  /* user part of the Request-URI ("" if none) */
	const char *to_user;    /* user part of To */
	const char *caller;     /* user part of From / P-Asserted-Identity, as sent */
	const char *caller_name; /* display name ("" if none) */
	const char *src;        /* "UDP 192.0.2.9:5060" */
};

/* The owner's decision about an incoming INVITE. Zeroed before the call. */
struct octo_sip_route {
	int status;             /* 0 = accept; else refuse with this SIP status (486, 503, 404) */
	char called[72];        /* the number the dialplan routes on (default: in->called) */
	char caller[72];        /* (default: in->caller) */
	char caller_name[72];   /* (default: in->caller_name) */
	char procedure[64];     /* where the call starts (default "main") */
	char line[32];          /* the owner's port/line/channel tag, given back to released() */
	char label[48];         /* the channel name after "SIP/" (default: the peer's name) */
	char trunk[64];         /* ${TRUNK} and the CDR's trunk (default: "") */
};

struct octo_sip_peer_ops {
	/* An INVITE from the peer: fill *route (a refusal, or how to route it). */
	void (*incoming)(void *data, const struct octo_sip_incoming *in,
			 struct octo_sip_route *route);
	/* A call of the peer ended (incoming, or outgoing to a dest made by
	 * peer_dest), on the line it had. Optional. */
	void (*released)(void *data, const char *line);
	/* The peer's state changed: "Registered", "Unregistered", "Failed",
	 * "Reachable", "Unreachable"; `reason` says more ("403 Forbidden",
	 * "no answer from 192.0.2.1:5060", "contact sip:...") or "". Optional. */
	void (*status)(void *data, const char *state, const char *reason);
	/* A MESSAGE from the peer (an SMS from a GSM gateway, say). Returns
	 * the SIP status to answer (200, 202, 415, 488). Optional: without it
	 * MESSAGE from the peer gets 405. */
	int (*message)(void *data, const char *from_user, const char *to_user,
		       const char *content_type, const char *body, size_t len);
	/* A NOTIFY or an out-of-dialog INFO from the peer carrying device
	 * state (a gateway's signal level, a DECT handover): the event name
	 * (Event header, or "" for INFO), content type and body. Returns the
	 * SIP status to answer. Optional: without it these get 489 / 405. */
	int (*device_event)(void *data, const char *event, const char *content_type,
			    const char *body, size_t len);
	/* Optional: an outgoing call to a dest made by peer_dest is being sent
	 * now (the INVITE goes out). The owner counts `line` busy here and
	 * returns 0, or a SIP status (486: that line is busy now) and the call
	 * fails without an INVITE. Each call it accepts is matched by exactly
	 * one released(); a dest that is never called costs nothing. For
	 * devices of users (an FXS port, a DECT handset) that a Dial may or may
	 * not place; owners that count at another moment (a trunk's acquire)
	 * leave it NULL. */
	int (*claim)(void *data, const char *line, const char *number);
};

/* Devices of users that other modules provide (an FXS port, a DECT
 * handset): called by chan_sip's devices(user) after the user's registered
 * contacts; fills up to `max` dests made with peer_dest; returns how many. */
typedef int (*octo_sip_devices_fn)(void *data, const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int max);

struct octo_sip_api {
	/* Adds a peer. 0, OCTO_EEXIST (the name is taken, by a user too),
	 * OCTO_EINVAL (a bad host/port/network, with a log line), OCTO_ENOMEM.
	 * `ops` must stay valid until peer_remove. `owner` is usually NULL:
	 * the owner removes its peers when it unloads, and no callback of a
	 * peer runs once peer_remove returned. A non-NULL owner gets a use
	 * reference while the peer exists -- which keeps it from unloading, so
	 * only for owners that hold nothing of chan_sip's (else neither of the
	 * two modules could ever unload). */
	int (*peer_add)(struct octo_module *owner, const struct octo_sip_peer_cfg *cfg,
			const struct octo_sip_peer_ops *ops, void *data);
	/* Removes a peer: its outbound registration is withdrawn; calls in
	 * progress go on, but released() is no longer called for them. */
	void (*peer_remove)(const char *name);
	/* The dest string for the SIP technology's call(): a call to `number`
	 * at peer `name`, counted on `line` (may be NULL). 0 or OCTO_EINVAL. */
	int (*peer_dest)(const char *name, const char *line, const char *number, char *dest,
			 size_t size);
	/* The peer's current state and reason (as last passed to ops->status),
	 * and for a dynamic peer its registered contact. 0 or OCTO_ENOTFOUND.
	 * `state` gets the reason in parentheses when there is one ("Failed
	 * (403 Forbidden)"); `contact` is "" when not registered. Either
	 * buffer may be NULL. */
	int (*peer_state)(const char *name, char *state, size_t state_size, char *contact,
			  size_t contact_size);
	/* Sends a MESSAGE (text/plain; charset=UTF-8) to `to_user` at the peer,
	 * from `from_user`. Returns 0 when it was sent; the final answer comes
	 * to `done` (may be NULL) with the SIP status (408 on timeout). A 401/
	 * 407 is answered once with the peer's credentials. `from_user` NULL or
	 * "" is "octo"; numbers are letters, digits and + * # . _ -, at most 64;
	 * text at most 4096 bytes (else OCTO_EINVAL). OCTO_ENOTFOUND: no such
	 * peer, or a dynamic peer not registered now. `done` runs on the loop. */
	int (*send_message)(const char *peer, const char *from_user, const char *to_user,
			    const char *text, void (*done)(void *arg, int status), void *arg);
	/* Adds / removes a provider of user devices (see octo_sip_devices_fn).
	 * `owner` as for peer_add (usually NULL, devices_remove at unload). */
	int (*devices_add)(struct octo_module *owner, octo_sip_devices_fn fn, void *data);
	void (*devices_remove)(octo_sip_devices_fn fn, void *data);
};

#endif
