/*
 * users.h - the users of the PBX (users.conf), offered by the res_users
 * module as the service "users" (registry.h):
 *
 *   const struct octo_users_api *users =
 *       octo_service_get(OCTO_USERS_SERVICE, 1, "chan_sip");
 *   struct octo_user *u = users->find("100");
 *   ... u->secret ...
 *   octo_obj_unref(u);
 *   octo_service_put(users, "chan_sip");
 *
 * A struct octo_user is an immutable, refcounted snapshot of one section of
 * users.conf: a reload makes new ones, so holders keep a consistent view
 * (drop the reference when done). Strings are never NULL ("" when unset).
 */
#ifndef OCTO_USERS_H
#define OCTO_USERS_H

#include <stdbool.h>
#include <stddef.h>

#include "octo/config.h"

#define OCTO_USERS_SERVICE "users"

enum octo_license {
	OCTO_LIC_PBX_BASIC,
	OCTO_LIC_UC_ESSENTIAL,
	OCTO_LIC_UC_BUSINESS,
	OCTO_LIC_UC_PREMIUM,
	OCTO_LIC_UC_WIZYCONF_ROOM,
	OCTO_LIC_UC_WIZYWEBINAR,
	OCTO_LIC_PBX_SERVICE,
	OCTO_LIC_COUNT
};

struct octo_user {
	const char *extension;     /* the section name: "100" */
	const char *name;          /* "Alice Rossi" */
	const char *email;
	const char *mobile;
	const char *secret;        /* the SIP password */
	const char *procedure;     /* where the user's calls start; default "users" */
	const char *language;      /* "" = the PBX default */
	enum octo_license license;
	const char *acl_group;
	const char *voicemail_pin;
	const char *codecs;        /* preference, e.g. "PCMA,PCMU" */
	unsigned max_contacts;     /* registrations kept at once */
	/* call features */
	bool dnd;                  /* do not disturb: calls get busy */
	bool reject_anonymous;     /* refuse calls without a caller number */
	struct octo_cfg_list reject;  /* caller numbers or patterns refused */
	const char *forward_all;   /* number or "VOICEMAIL"; "" = off */
	const char *forward_busy;
	const char *forward_noanswer;
	bool call_waiting;         /* off: busy while in a call */
	unsigned call_timeout;     /* seconds a call rings before "no answer" */
	/* ---- appended ---- */
	bool missed_call_email;    /* e-mail `email` about each missed call (res_cdr_sqlite) */
	/* ---- appended (service version 2) ---- */
	/* Presence as the user set it: "available", "dnd" (then dnd is true) or
	 * "away" (presence only: calls ring as usual). */
	const char *status;
	/* True when runtime overrides (feature codes, `user set`) changed any of
	 * dnd, status, call_waiting or the forwards of this snapshot. */
	bool overridden;
	/* ---- appended (service version 3) ---- */
	/* The music-on-hold class (musiconhold.conf) the other party hears
	 * while this user holds a call; "" = the channel's default. */
	const char *moh_class;
};

struct octo_users_api {
	/* A new reference on the user with that extension, or NULL. */
	struct octo_user *(*find)(const char *extension);
	/* All users sorted by extension: an array of new references, freed with
	 * list_free. Returns the count. */
	size_t (*list)(struct octo_user ***users);
	void (*list_free)(struct octo_user **users, size_t count);
	/* ---- version 2: runtime overrides ----
	 * Call features a user changes at run time (feature codes from a phone,
	 * `user set` in the CLI). They live in the SQLite store, survive a
	 * restart and a reload, and override users.conf: find() and list()
	 * return the merged view. Keys and values:
	 *   status              available | dnd | away
	 *   call_waiting        on | off
	 *   forward_all, forward_busy, forward_noanswer   on | off (on uses the
	 *                       *_to destination, else the one of users.conf)
	 *   forward_all_to, forward_busy_to, forward_noanswer_to   a number
	 *                       (digits, * and #, optionally starting with +) or
	 *                       VOICEMAIL
	 * `by` says who set it ("feature code 60*1", "cli"); may be NULL.
	 * set_override returns 0, OCTO_ENOTFOUND (no such user), OCTO_EINVAL (bad
	 * key or value) or a store error (the running value then stays).
	 * clear_override drops one key, or every key of the user when `key` is
	 * NULL (back to users.conf); 0, OCTO_ENOTFOUND (nothing was set),
	 * OCTO_EINVAL or a store error. Both do disk I/O: call threads and CLI
	 * workers only, never the event loop. */
	int (*set_override)(const char *extension, const char *key, const char *value,
			    const char *by);
	int (*clear_override)(const char *extension, const char *key);
};

#define OCTO_USERS_SERVICE_VERSION 3

const char *octo_license_name(enum octo_license lic);

#endif
