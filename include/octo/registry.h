/*
 * registry.h - the one registry through which modules offer things to the
 * core and to each other.
 *
 * Every entry has a kind, a unique name within its kind (case-insensitive),
 * an item (a const struct that the module owns and keeps alive while
 * registered) and the module that registered it. Looking an entry up with
 * *_get() takes a use reference on that module for a named holder; *_put()
 * gives it back. The loader removes every entry of a module when it unloads
 * or when its load fails.
 *
 * Lock order: registry -> module -> channel -> private. No module callback is
 * ever called with the registry lock held.
 */
#ifndef OCTO_REGISTRY_H
#define OCTO_REGISTRY_H

#include "octo/octo.h"

struct octo_module;

enum octo_reg_kind {
	OCTO_REG_CLI = 0,     /* struct octo_cli_cmd */
	OCTO_REG_CHAN_TECH,   /* struct octo_chan_tech */
	OCTO_REG_APP,         /* struct octo_app */
	OCTO_REG_FUNC,        /* struct octo_func */
	OCTO_REG_CDR,         /* struct octo_cdr_backend */
	OCTO_REG_CODEC,       /* struct octo_codec */
	OCTO_REG_FORMAT,      /* struct octo_sound_format */
	OCTO_REG_SERVICE,     /* struct octo_service */
	OCTO_REG_TRUNK,       /* struct octo_trunk (trunk.h) */
	OCTO_REG_KINDS
};

/* "cli command", "channel technology", ... */
const char *octo_reg_kind_name(enum octo_reg_kind kind);

/* Adds an entry owned by `owner` (NULL: the core itself). `name` and `item`
 * are borrowed and must live until the entry is removed. Returns 0,
 * OCTO_EEXIST (the message names the module that holds the name) or
 * OCTO_EINVAL. */
int octo_registry_add(struct octo_module *owner, enum octo_reg_kind kind, const char *name,
		      const void *item);

/* Removes an entry by item pointer; returns 0 or OCTO_ENOTFOUND. */
int octo_registry_remove(enum octo_reg_kind kind, const void *item);

/* Looks up an entry and takes a use reference on its module for `holder`.
 * Returns the item, or NULL. */
const void *octo_registry_get(enum octo_reg_kind kind, const char *name, const char *holder);

/* Gives back a reference taken by octo_registry_get (by item pointer). */
void octo_registry_put(enum octo_reg_kind kind, const void *item, const char *holder);

/* Borrowing lookup without a module reference, for callers that only read
 * the name; NULL when absent. Returns the owner in *owner when not NULL. */
const void *octo_registry_peek(enum octo_reg_kind kind, const char *name,
			       struct octo_module **owner);

/* Entry listing, sorted by name. Every listed entry's module is held (a use
 * reference) until octo_registry_list_free(), so the items stay valid even
 * if someone asks for an unload meanwhile; names are copies. */
struct octo_reg_item {
	char name[96];
	const void *item;
	char module[64];         /* owning module's name, "core" for the core */
	struct octo_module *owner;
};
size_t octo_registry_list(enum octo_reg_kind kind, struct octo_reg_item **out);
void octo_registry_list_free(struct octo_reg_item *items, size_t count);

/* ---------------------------------------------------------------- services
 * A named, versioned, append-only table of functions that a module offers to
 * others, so that, e.g., chan_fxs can use chan_sip's stack without including
 * its headers:
 *
 *   static const struct sip_stack_api sip_api = { ... };
 *   static const struct octo_service sip_service = { "sip.stack", 1, &sip_api };
 *   octo_service_register(self, &sip_service);
 *
 *   const struct sip_stack_api *sip = octo_service_get("sip.stack", 1, "chan_fxs");
 *   ... octo_service_put(sip, "chan_fxs");
 */
struct octo_service {
	const char *name;
	unsigned version;       /* the table only grows; a user asks for a minimum */
	const void *api;
};
int octo_service_register(struct octo_module *owner, const struct octo_service *svc);
/* Returns the api table when the service exists with version >= min_version. */
const void *octo_service_get(const char *name, unsigned min_version, const char *holder);
void octo_service_put(const void *api, const char *holder);

#endif
