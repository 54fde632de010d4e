/*
 * trunk.h - trunks: the ways out of the PBX (a SIP trunk to a provider, the
 * analog lines of an FXO gateway, the ports of a BRI gateway, the spans of a
 * PRI gateway, the SIMs of a GSM gateway), whatever module provides them.
 *
 * A module that provides trunks registers one struct octo_trunk per trunk
 * in the registry (kind OCTO_REG_TRUNK, by name, with octo_trunk_register).
 * DialTrunk(trunk,number,...) and DialTrunkGroup(group,number,...) (app_trunk)
 * look a trunk up by name and ask it for one free channel:
 *
 *   char tech[32], dest[OCTO_CHAN_DEST_MAX];
 *   int rc = t->acquire(t, number, tech, sizeof(tech), dest, sizeof(dest));
 *   if (rc == 0) {
 *       chan = octo_chan_alloc(tech, OCTO_CHAN_DIALING, "%s", t->name);
 *       ... call dest on chan like Dial does, bridge, hang up ...
 *   }   // OCTO_EBUSY: every channel busy -> the group moves on (congestion)
 *       // OCTO_EUNAVAIL... see below
 *
 * The trunk keeps its own count of busy channels: the technology that makes
 * the channel (chan_sip for every kind above, since the gateways talk SIP)
 * tells the trunk's provider when the call ends (sip.h: peer `released`).
 *
 * Number formats: acquire() gets the number as the dialplan routes it
 * (after SetCalled); the provider turns it into the format its trunk wants
 * (features.conf / numbering.h) when the trunk is configured to.
 *
 * Thread context: acquire, describe and status may be called from any thread
 * (call threads, CLI workers) and must not block.
 */
#ifndef OCTO_TRUNK_H
#define OCTO_TRUNK_H

#include <stdbool.h>
#include <stddef.h>

#include "octo/octo.h"

struct octo_module;

/* acquire() result besides 0 and OCTO_EBUSY: the trunk is down (not
 * registered, gateway unreachable, SIM not on the network). */
#define OCTO_TRUNK_DOWN OCTO_ENOTFOUND

/* What `trunk show` lists. */
struct octo_trunk_status {
	char kind[16];        /* "sip", "fxo", "bri", "pri", "gsm" */
	char state[64];       /* "Registered", "Failed (403 Forbidden)", "Up", "No signal" */
	unsigned busy;        /* channels in use */
	unsigned capacity;    /* 0 = no limit */
};

struct octo_trunk {
	const char *name;     /* unique among trunks: "provider", "gsm1", "isdn" */
	/*
	 * Picks a free channel for a call to `number`: fills `tech` (the channel
	 * technology to allocate, "SIP") and `dest` (what to pass to its
	 * call()), and counts the channel busy until the technology reports its
	 * end. Returns 0, OCTO_EBUSY (no free channel) or OCTO_TRUNK_DOWN.
	 */
	int (*acquire)(const struct octo_trunk *trunk, const char *number, char *tech,
		       size_t tech_size, char *dest, size_t dest_size);
	/* Fills *st (never NULL). */
	void (*status)(const struct octo_trunk *trunk, struct octo_trunk_status *st);
	/* Optional: more lines for `trunk show NAME` (ports, lines, SIMs, ...),
	 * appended to buf (NUL-terminated, may be cut at size). */
	void (*describe)(const struct octo_trunk *trunk, char *buf, size_t size);
	void *data;           /* the provider's */
	/* Optional (may be NULL): acquire() succeeded but no channel was made
	 * with `dest` (the leg could not even be created, e.g. the PBX's call
	 * limit): count that channel free again. Must be harmless when the
	 * technology reports the end of that call as well (count each once). */
	void (*abandon)(const struct octo_trunk *trunk, const char *dest);
};

/* Registers a trunk (registry kind OCTO_REG_TRUNK): 0, OCTO_EEXIST, OCTO_ENOMEM,
 * or OCTO_EINVAL (a name that is not 1..63 letters, digits, _ - . +, or no
 * acquire/status). */
int octo_trunk_register(struct octo_module *owner, const struct octo_trunk *trunk);
void octo_trunk_unregister(const struct octo_trunk *trunk);

/* A trunk by name, held for `holder` (released with octo_trunk_put), or NULL. */
const struct octo_trunk *octo_trunk_get(const char *name, const char *holder);
void octo_trunk_put(const struct octo_trunk *trunk, const char *holder);

#endif
