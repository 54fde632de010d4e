/*
 * registry.c - the one registry: per kind, entries by name and by item
 * pointer, each knowing its owning module.
 *
 * DESIGN: a global rwlock orders lookups against module unload. get() takes
 * the read lock, finds the entry and takes the module use reference before
 * releasing it; the loader takes the write lock to check a module's use count
 * and sweep its entries, so no reference can be handed out in between. The
 * containers have locks of their own; the rwlock is about that atomicity.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "internal.h"

struct reg_entry {
	enum octo_reg_kind kind;
	const char *name;          /* borrowed from the item's owner */
	const void *item;
	struct octo_module *owner; /* NULL for the core */
	unsigned holds;            /* get()s not yet put() back (atomic) */
};

static const char *const reg_kind_names[OCTO_REG_KINDS] = {
	"CLI command", "channel technology", "application", "function",
	"CDR backend", "codec", "sound format", "service", "trunk",
};

static struct octo_container *reg_by_name[OCTO_REG_KINDS];
static struct octo_container *reg_by_item[OCTO_REG_KINDS];
/* Entries removed by octo_registry_remove while holders still had them from
 * get(): their put() must still give the owner's use reference back. */
static struct octo_container *reg_retired[OCTO_REG_KINDS];
static pthread_rwlock_t reg_lock = PTHREAD_RWLOCK_INITIALIZER;

const char *octo_reg_kind_name(enum octo_reg_kind kind)
{
	return (unsigned)kind < OCTO_REG_KINDS ? reg_kind_names[kind] : "?";
}

static const char *reg_entry_name(const void *obj)
{
	return ((const struct reg_entry *)obj)->name;
}

static uint64_t reg_entry_item(const void *obj)
{
	return (uint64_t)(uintptr_t)((const struct reg_entry *)obj)->item;
}

int octo_registry_init(void)
{
	for (int k = 0; k < OCTO_REG_KINDS; k++) {
		reg_by_name[k] = octo_container_alloc_str(reg_entry_name, OCTO_CONTAINER_NOCASE);
		reg_by_item[k] = octo_container_alloc_int(reg_entry_item, 0);
		reg_retired[k] = octo_container_alloc_int(reg_entry_item, 0);
		if (!reg_by_name[k] || !reg_by_item[k] || !reg_retired[k])
			return OCTO_ENOMEM;
	}
	return 0;
}

void octo_registry_shutdown(void)
{
	for (int k = 0; k < OCTO_REG_KINDS; k++) {
		octo_obj_unref(reg_by_name[k]);
		octo_obj_unref(reg_by_item[k]);
		octo_obj_unref(reg_retired[k]);
		reg_by_name[k] = reg_by_item[k] = reg_retired[k] = NULL;
	}
}

void octo_registry_wrlock(void)
{
	pthread_rwlock_wrlock(&reg_lock);
}

void octo_registry_unlock(void)
{
	pthread_rwlock_unlock(&reg_lock);
}

int octo_registry_add(struct octo_module *owner, enum octo_reg_kind kind, const char *name,
		      const void *item)
{
	struct reg_entry *entry, *existing;
	int rc;

	if ((unsigned)kind >= OCTO_REG_KINDS || !name || !*name || !item)
		return OCTO_EINVAL;
	entry = octo_obj_alloc(sizeof(*entry), NULL);
	if (!entry)
		return OCTO_ENOMEM;
	entry->kind = kind;
	entry->name = name;
	entry->item = item;
	entry->owner = owner;

	pthread_rwlock_wrlock(&reg_lock);
	existing = octo_container_find(reg_by_name[kind], name);
	if (existing) {
		octo_log(OCTO_ERROR, "%s: cannot register %s \"%s\": already registered by %s",
			 owner ? octo_module_name(owner) : "core", reg_kind_names[kind], name,
			 existing->owner ? octo_module_name(existing->owner) : "core");
		octo_obj_unref(existing);
		rc = OCTO_EEXIST;
	} else {
		rc = octo_container_link(reg_by_name[kind], entry);
		if (!rc) {
			rc = octo_container_link(reg_by_item[kind], entry);
			if (rc)
				octo_container_unlink(reg_by_name[kind], entry);
		}
	}
	pthread_rwlock_unlock(&reg_lock);
	octo_obj_unref(entry);
	return rc;
}

static void reg_unlink_entry(struct reg_entry *entry)
{
	octo_container_unlink(reg_by_name[entry->kind], entry);
	octo_container_unlink(reg_by_item[entry->kind], entry);
}

int octo_registry_remove(enum octo_reg_kind kind, const void *item)
{
	struct reg_entry *entry;

	if ((unsigned)kind >= OCTO_REG_KINDS || !reg_by_item[kind])
		return OCTO_EINVAL;
	pthread_rwlock_wrlock(&reg_lock);
	entry = octo_container_find_int(reg_by_item[kind], (uint64_t)(uintptr_t)item);
	if (entry) {
		reg_unlink_entry(entry);
		/* held: kept aside until the last put() (the owner is still
		 * loaded: its use count includes those holds) */
		if (__atomic_load_n(&entry->holds, __ATOMIC_ACQUIRE))
			octo_container_link(reg_retired[kind], entry);
		octo_obj_unref(entry);
	}
	pthread_rwlock_unlock(&reg_lock);
	return entry ? 0 : OCTO_ENOTFOUND;
}

struct reg_sweep {
	struct octo_module *mod;
	struct reg_entry **found;
	size_t count, cap;
};

static int reg_collect_owned(void *obj, void *arg)
{
	struct reg_entry *entry = obj;
	struct reg_sweep *sw = arg;

	if (entry->owner != sw->mod)
		return 0;
	if (sw->count == sw->cap) {
		size_t cap = sw->cap ? sw->cap * 2 : 16;
		struct reg_entry **grown = realloc(sw->found, cap * sizeof(*grown));

		if (!grown)
			return 1;
		sw->found = grown;
		sw->cap = cap;
	}
	sw->found[sw->count++] = octo_obj_ref(entry);
	return 0;
}

/* Called with the write lock held by the loader (octo_registry_wrlock). */
void octo_registry_remove_module(struct octo_module *mod)
{
	for (int k = 0; k < OCTO_REG_KINDS; k++) {
		struct reg_sweep sw = { .mod = mod };

		octo_container_foreach(reg_by_name[k], reg_collect_owned, &sw);
		octo_container_foreach(reg_retired[k], reg_collect_owned, &sw);
		for (size_t i = 0; i < sw.count; i++) {
			reg_unlink_entry(sw.found[i]);
			octo_container_unlink(reg_retired[k], sw.found[i]);
			octo_obj_unref(sw.found[i]);
		}
		free(sw.found);
	}
}

const void *octo_registry_get(enum octo_reg_kind kind, const char *name, const char *holder)
{
	struct reg_entry *entry;
	const void *item = NULL;

	if ((unsigned)kind >= OCTO_REG_KINDS || !name || !reg_by_name[kind])
		return NULL;
	pthread_rwlock_rdlock(&reg_lock);
	entry = octo_container_find(reg_by_name[kind], name);
	if (entry) {
		if (entry->owner)
			octo_module_ref(entry->owner, holder ? holder : "?");
		__atomic_add_fetch(&entry->holds, 1, __ATOMIC_ACQ_REL);
		item = entry->item;
		octo_obj_unref(entry);
	}
	pthread_rwlock_unlock(&reg_lock);
	return item;
}

void octo_registry_put(enum octo_reg_kind kind, const void *item, const char *holder)
{
	struct reg_entry *entry;

	if ((unsigned)kind >= OCTO_REG_KINDS || !item || !reg_by_item[kind])
		return;
	pthread_rwlock_rdlock(&reg_lock);
	entry = octo_container_find_int(reg_by_item[kind], (uint64_t)(uintptr_t)item);
	if (entry && !__atomic_load_n(&entry->holds, __ATOMIC_ACQUIRE)) {
		/* registered again after a removal: the hold is on the old entry */
		octo_obj_unref(entry);
		entry = NULL;
	}
	if (!entry)
		entry = octo_container_find_int(reg_retired[kind], (uint64_t)(uintptr_t)item);
	if (entry) {
		if (entry->owner)
			octo_module_unref(entry->owner, holder ? holder : "?");
		if (__atomic_sub_fetch(&entry->holds, 1, __ATOMIC_ACQ_REL) == 0)
			octo_container_unlink(reg_retired[kind], entry);
		octo_obj_unref(entry);
	}
	pthread_rwlock_unlock(&reg_lock);
	if (!entry)
		octo_log(OCTO_ERROR, "registry: put of an unknown %s (holder %s)",
			 reg_kind_names[kind], holder ? holder : "?");
}

const void *octo_registry_peek(enum octo_reg_kind kind, const char *name,
			       struct octo_module **owner)
{
	struct reg_entry *entry;
	const void *item = NULL;

	if ((unsigned)kind >= OCTO_REG_KINDS || !name || !reg_by_name[kind])
		return NULL;
	entry = octo_container_find(reg_by_name[kind], name);
	if (entry) {
		item = entry->item;
		if (owner)
			*owner = entry->owner;
		octo_obj_unref(entry);
	}
	return item;
}

static int reg_cmp_name(const void *a, const void *b)
{
	const struct reg_entry *ea = *(struct reg_entry *const *)a;
	const struct reg_entry *eb = *(struct reg_entry *const *)b;

	return strcasecmp(ea->name, eb->name);
}

size_t octo_registry_list(enum octo_reg_kind kind, struct octo_reg_item **out)
{
	void **snap;
	size_t count = 0;

	*out = NULL;
	if ((unsigned)kind >= OCTO_REG_KINDS || !reg_by_name[kind])
		return 0;
	/* The read lock orders the module references against unload. */
	pthread_rwlock_rdlock(&reg_lock);
	snap = octo_container_snapshot(reg_by_name[kind], &count, reg_cmp_name);
	if (snap && count)
		*out = calloc(count, sizeof(**out));
	if (!*out) {
		pthread_rwlock_unlock(&reg_lock);
		octo_container_snapshot_free(snap, count);
		return 0;
	}
	for (size_t i = 0; i < count; i++) {
		struct reg_entry *entry = snap[i];

		octo_strlcpy((*out)[i].name, entry->name, sizeof((*out)[i].name));
		(*out)[i].item = entry->item;
		(*out)[i].owner = entry->owner;
		octo_strlcpy((*out)[i].module, entry->owner ? octo_module_name(entry->owner) : "core",
			     sizeof((*out)[i].module));
		if (entry->owner)
			octo_module_ref(entry->owner, "registry list");
	}
	pthread_rwlock_unlock(&reg_lock);
	octo_container_snapshot_free(snap, count);
	return count;
}

void octo_registry_list_free(struct octo_reg_item *items, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (items[i].owner)
			octo_module_unref(items[i].owner, "registry list");
	free(items);
}

/* ---------------------------------------------------------------- services */

int octo_service_register(struct octo_module *owner, const struct octo_service *svc)
{
	if (!svc || !svc->name || !svc->api)
		return OCTO_EINVAL;
	return octo_registry_add(owner, OCTO_REG_SERVICE, svc->name, svc);
}

const void *octo_service_get(const char *name, unsigned min_version, const char *holder)
{
	const struct octo_service *svc = octo_registry_get(OCTO_REG_SERVICE, name, holder);

	if (!svc)
		return NULL;
	if (svc->version < min_version) {
		octo_log(OCTO_WARNING, "%s: service %s is version %u, version %u is needed",
			 holder ? holder : "?", name, svc->version, min_version);
		octo_registry_put(OCTO_REG_SERVICE, svc, holder);
		return NULL;
	}
	return svc->api;
}

struct reg_find_api {
	const void *api;
	const struct octo_service *svc;
};

static int reg_match_api(void *obj, void *arg)
{
	struct reg_entry *entry = obj;
	struct reg_find_api *f = arg;
	const struct octo_service *svc = entry->item;

	if (svc->api == f->api) {
		f->svc = svc;
		return 1;
	}
	return 0;
}

void octo_service_put(const void *api, const char *holder)
{
	struct reg_find_api f = { .api = api };

	if (!api)
		return;
	/* Services are few: a walk is fine here and keeps the API a plain table. */
	octo_container_foreach(reg_by_name[OCTO_REG_SERVICE], reg_match_api, &f);
	if (f.svc)
		octo_registry_put(OCTO_REG_SERVICE, f.svc, holder);
	else
		octo_log(OCTO_ERROR, "registry: put of an unknown service (holder %s)",
			 holder ? holder : "?");
}
