/*
 * loader.c - opens modules with libltdl, checks their descriptor, orders them
 * by their requirements, loads, reloads and unloads them.
 *
 * DESIGN
 *  - Modules are opened with local symbol binding, so two modules never bind
 *    each other's globals (see notes/libraries.md).
 *  - A module object lives in `loader_modules` while loaded. Its use
 *    references are counted per holder so that a refused unload can say who
 *    holds it. A module that requires another holds a use reference on it.
 *  - Unload takes the registry's write lock to check the use count and sweep
 *    the module's entries in one step; the module's own unload() and
 *    lt_dlclose() run after the lock is released.
 *  - Modules that failed are remembered with the reason, for "module show".
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <ltdl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/cli.h"
#include "octo/config.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "internal.h"

#define MODULE_NAME_MAX 64
#define MODULE_MAX_REQUIRES 16

struct module_holder {
	char name[48];
	unsigned count;
};

struct octo_module {
	char name[MODULE_NAME_MAX];
	char path[PATH_MAX];
	lt_dlhandle handle;
	const struct octo_module_info *info;
	unsigned long seq;                 /* load order, for shutdown */
	void *data;
	pthread_mutex_t lock;              /* protects holders */
	struct module_holder *holders;
	size_t holder_count, holder_cap;
	/* index of holders by name: open addressing, linear probing; a slot
	 * holds index + 1 (0 = empty); hidx_cap is a power of two >= 2 * holder_cap.
	 * Every channel holds its technology's module under its own name and
	 * every running application's module under its channel's: a list
	 * scanned under the module's lock made each call's ref and unref cost
	 * O(live calls) (a tenth of the call threads' CPU at 800 calls/s). */
	uint32_t *hidx;
	size_t hidx_cap;
	atomic_uint usecount;
	char *requires[MODULE_MAX_REQUIRES]; /* modules we hold a reference on */
	size_t require_count;
};

/* A module that could not be loaded, and why. */
struct module_failure {
	char name[MODULE_NAME_MAX];
	char reason[256];
};

static struct octo_container *loader_modules;
static struct octo_container *loader_failures;
static char loader_dir[PATH_MAX];
static unsigned long loader_seq;
/* Serialises load/unload/reload so two CLI consoles cannot race. */
static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *module_key(const void *obj)
{
	return ((const struct octo_module *)obj)->name;
}

static const char *failure_key(const void *obj)
{
	return ((const struct module_failure *)obj)->name;
}

const char *octo_module_name(const struct octo_module *mod)
{
	return mod->name;
}

const struct octo_module_info *octo_module_info(const struct octo_module *mod)
{
	return mod->info;
}

void octo_module_set_data(struct octo_module *mod, void *data)
{
	mod->data = data;
}

void *octo_module_data(const struct octo_module *mod)
{
	return mod->data;
}

static size_t holder_hash(const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (size_t i = 0; name[i] && i < sizeof(((struct module_holder *)0)->name) - 1; i++) {
		h ^= (unsigned char)name[i];
		h *= 0x100000001b3ull;
	}
	return (size_t)(h ^ (h >> 29));
}

static bool holder_is(const struct module_holder *h, const char *name)
{
	return !strncmp(h->name, name, sizeof(h->name) - 1);
}

/* The slot of `name` in the index, or of the empty slot ending its probe. Lock held. */
static size_t holder_slot(const struct octo_module *mod, const char *name)
{
	size_t mask = mod->hidx_cap - 1, s = holder_hash(name) & mask;

	while (mod->hidx[s] && !holder_is(&mod->holders[mod->hidx[s] - 1], name))
		s = (s + 1) & mask;
	return s;
}

/* Rebuilds the index for `cap` slots. Lock held. false: out of memory. */
static bool holder_reindex(struct octo_module *mod, size_t cap)
{
	uint32_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return false;
	free(mod->hidx);
	mod->hidx = idx;
	mod->hidx_cap = cap;
	for (size_t i = 0; i < mod->holder_count; i++)
		mod->hidx[holder_slot(mod, mod->holders[i].name)] = (uint32_t)i + 1;
	return true;
}

/* Empties slot s, moving later entries of its probe run back (no tombstones). */
static void holder_slot_clear(struct octo_module *mod, size_t s)
{
	size_t mask = mod->hidx_cap - 1, j = s;

	mod->hidx[s] = 0;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!mod->hidx[j])
			return;
		home = holder_hash(mod->holders[mod->hidx[j] - 1].name) & mask;
		/* j's entry may move to s unless its home lies cyclically in (s, j] */
		if (s <= j ? (home <= s || home > j) : (home <= s && home > j)) {
			mod->hidx[s] = mod->hidx[j];
			mod->hidx[j] = 0;
			s = j;
		}
	}
}

void octo_module_ref(struct octo_module *mod, const char *holder)
{
	size_t i, slot;

	pthread_mutex_lock(&mod->lock);
	if (mod->holder_count == mod->holder_cap) {
		size_t cap = mod->holder_cap ? mod->holder_cap * 2 : 4;
		struct module_holder *grown = realloc(mod->holders, cap * sizeof(*grown));

		if (grown)
			mod->holders = grown;
		if (!grown || !holder_reindex(mod, cap * 2)) {
			/* Still count the use: refusing unload matters more than the name. */
			pthread_mutex_unlock(&mod->lock);
			atomic_fetch_add(&mod->usecount, 1);
			return;
		}
		mod->holder_cap = cap;
	}
	slot = holder_slot(mod, holder);
	if (mod->hidx[slot]) {
		i = mod->hidx[slot] - 1;
	} else {
		i = mod->holder_count++;
		octo_strlcpy(mod->holders[i].name, holder, sizeof(mod->holders[i].name));
		mod->holders[i].count = 0;
		mod->hidx[slot] = (uint32_t)i + 1;
	}
	mod->holders[i].count++;
	atomic_fetch_add(&mod->usecount, 1);
	pthread_mutex_unlock(&mod->lock);
}

void octo_module_unref(struct octo_module *mod, const char *holder)
{
	pthread_mutex_lock(&mod->lock);
	if (mod->hidx_cap) {
		size_t slot = holder_slot(mod, holder);

		if (mod->hidx[slot]) {
			size_t i = mod->hidx[slot] - 1, last = mod->holder_count - 1;

			if (--mod->holders[i].count == 0) {
				holder_slot_clear(mod, slot);
				if (i != last) {
					/* the last holder moves into i: its slot follows */
					mod->hidx[holder_slot(mod, mod->holders[last].name)] = (uint32_t)i + 1;
					mod->holders[i] = mod->holders[last];
				}
				mod->holder_count--;
			}
		}
	}
	if (atomic_load(&mod->usecount) > 0)
		atomic_fetch_sub(&mod->usecount, 1);
	pthread_mutex_unlock(&mod->lock);
}

unsigned octo_module_usecount(const struct octo_module *mod)
{
	return atomic_load(&mod->usecount);
}

void octo_module_holders(struct octo_module *mod, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	pthread_mutex_lock(&mod->lock);
	for (size_t i = 0; i < mod->holder_count && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s (%u)", i ? ", " : "",
					mod->holders[i].name, mod->holders[i].count);
	pthread_mutex_unlock(&mod->lock);
}

struct octo_module *octo_module_find(const char *name, const char *holder)
{
	struct octo_module *mod;

	if (!loader_modules)
		return NULL;
	octo_registry_wrlock();
	mod = octo_container_find(loader_modules, name);
	if (mod)
		octo_module_ref(mod, holder);
	octo_registry_unlock();
	if (mod)
		octo_obj_unref(mod);   /* the use reference keeps it loaded */
	return mod;
}

static void module_destroy(void *obj)
{
	struct octo_module *mod = obj;

	for (size_t i = 0; i < mod->require_count; i++)
		free(mod->requires[i]);
	free(mod->holders);
	free(mod->hidx);
	pthread_mutex_destroy(&mod->lock);
}

/* "chan_sip.so" -> "chan_sip"; refuses anything that is not a plain name. */
static bool loader_clean_name(const char *in, char *out, size_t size)
{
	size_t len = strlen(in);

	if (!len || len >= size || strchr(in, '/') || in[0] == '.')
		return false;
	for (const char *p = in; *p; p++)
		if (!(*p == '_' || *p == '-' || *p == '.' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return false;
	octo_strlcpy(out, in, size);
	len = strlen(out);
	if (len > 3 && (!strcmp(out + len - 3, ".so") || !strcmp(out + len - 3, ".la")))
		out[len - 3] = '\0';
	return out[0] != '\0';
}

static void loader_record_failure(const char *name, const char *reason)
{
	struct module_failure *f, *old;

	if (!loader_failures)
		return;
	old = octo_container_unlink_key(loader_failures, name);
	octo_obj_unref(old);
	f = octo_obj_alloc(sizeof(*f), NULL);
	if (!f)
		return;
	octo_strlcpy(f->name, name, sizeof(f->name));
	octo_strlcpy(f->reason, reason, sizeof(f->reason));
	octo_container_link(loader_failures, f);
	octo_obj_unref(f);
}

static void loader_clear_failure(const char *name)
{
	octo_obj_unref(octo_container_unlink_key(loader_failures, name));
}

/* Opens the file and checks the descriptor. Returns a new module object that
 * is not yet loaded, or NULL with the reason in err. */
static struct octo_module *loader_open(const char *name, char *err, size_t errsize)
{
	struct octo_module *mod;
	lt_dladvise advise;
	char base[PATH_MAX];
	const struct octo_module_info *info;

	if ((size_t)snprintf(base, sizeof(base), "%s/%s", loader_dir, name) + 4 >= sizeof(base)) {
		snprintf(err, errsize, "module path too long");
		return NULL;
	}
	mod = octo_obj_alloc(sizeof(*mod), module_destroy);
	if (!mod) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&mod->lock, NULL);
	octo_strlcpy(mod->name, name, sizeof(mod->name));
	if ((size_t)snprintf(mod->path, sizeof(mod->path), "%s.so", base) >= sizeof(mod->path))
		mod->path[0] = '\0';

	lt_dladvise_init(&advise);
	lt_dladvise_ext(&advise);
	lt_dladvise_local(&advise);
	mod->handle = lt_dlopenadvise(base, advise);
	lt_dladvise_destroy(&advise);
	if (!mod->handle) {
		const char *why = lt_dlerror();
		void *h;

		/* libltdl says only "file not found" for unresolved symbols: ask the
		 * dynamic linker directly for the real reason. */
		h = dlopen(mod->path, RTLD_NOW | RTLD_LOCAL);
		if (h) {
			dlclose(h);
			snprintf(err, errsize, "cannot open %s: %s", mod->path,
				 why ? why : "unknown error");
		} else {
			const char *dl = dlerror();

			if (dl && strstr(dl, "No such file"))
				snprintf(err, errsize, "not in module dir %s", loader_dir);
			else
				snprintf(err, errsize, "cannot open: %s", dl ? dl : why);
		}
		octo_obj_unref(mod);
		return NULL;
	}
	info = lt_dlsym(mod->handle, "octo_module");
	if (!info) {
		snprintf(err, errsize, "%s has no octo_module descriptor (not an Octo module?)",
			 mod->path);
		goto fail;
	}
	if (info->abi != OCTO_MODULE_ABI) {
		snprintf(err, errsize, "built for module ABI %u, this Octo has ABI %u: rebuild it",
			 info->abi, OCTO_MODULE_ABI);
		goto fail;
	}
	if (!info->name || strcmp(info->name, name)) {
		snprintf(err, errsize, "its descriptor is named \"%s\", not \"%s\"",
			 info->name ? info->name : "(null)", name);
		goto fail;
	}
	if (!info->load) {
		snprintf(err, errsize, "its descriptor has no load function");
		goto fail;
	}
	mod->info = info;
	/* Resident modules stay mapped even through lt_dlexit() at shutdown:
	 * library globals and per-thread destructors may still point into them.
	 * RTLD_NODELETE pins the object in the dynamic linker itself (libltdl's
	 * own "resident" flag would leak its handle at exit). */
	if (info->flags & OCTO_MOD_RESIDENT) {
		void *pin = dlopen(mod->path, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);

		if (pin)
			dlclose(pin);
		else
			octo_log(OCTO_WARNING, "%s: cannot keep it resident: %s", name, dlerror());
	}
	return mod;
fail:
	lt_dlclose(mod->handle);
	mod->handle = NULL;
	octo_obj_unref(mod);
	return NULL;
}

/* Splits a "a,b , c" list into names; returns how many (at most max). */
static size_t loader_split_names(const char *list, char names[][MODULE_NAME_MAX], size_t max)
{
	size_t count = 0;
	const char *p = list;

	while (p && *p && count < max) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char raw[MODULE_NAME_MAX];

		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len && len < sizeof(raw)) {
			memcpy(raw, p, len);
			raw[len] = '\0';
			if (loader_clean_name(raw, names[count], MODULE_NAME_MAX))
				count++;
		}
		p = end ? end + 1 : NULL;
	}
	return count;
}

static void loader_close(struct octo_module *mod)
{
	if (mod->handle && !(mod->info && (mod->info->flags & OCTO_MOD_RESIDENT)) &&
	    octo_module_usecount(mod) == 0)
		lt_dlclose(mod->handle);
	mod->handle = NULL;
}

static void loader_release_requires(struct octo_module *mod)
{
	for (size_t i = 0; i < mod->require_count; i++) {
		struct octo_module *req = octo_container_find(loader_modules, mod->requires[i]);

		if (req) {
			octo_module_unref(req, mod->name);
			octo_obj_unref(req);
		}
		free(mod->requires[i]);
	}
	mod->require_count = 0;
}

/* Loads an opened module whose requirements are all loaded. Consumes the
 * caller's reference on `mod`. Returns OCTO_LOAD_OK, _DECLINE or _FAIL. */
static int loader_start(struct octo_module *mod, char *err, size_t errsize)
{
	char reqs[MODULE_MAX_REQUIRES][MODULE_NAME_MAX];
	size_t nreq = loader_split_names(mod->info->requires, reqs, MODULE_MAX_REQUIRES);
	int rc;

	for (size_t i = 0; i < nreq; i++) {
		struct octo_module *req = octo_container_find(loader_modules, reqs[i]);

		if (!req) {
			struct module_failure *f = octo_container_find(loader_failures, reqs[i]);

			snprintf(err, errsize, "requires %s (%s)", reqs[i],
				 f ? "which failed to load" : "not loaded");
			octo_obj_unref(f);
			loader_release_requires(mod);
			goto fail;
		}
		octo_module_ref(req, mod->name);
		mod->requires[mod->require_count++] = octo_strdup(reqs[i]);
		octo_obj_unref(req);
	}
	/* Linked before load() so the module can be found while it registers. */
	if (octo_container_link(loader_modules, mod)) {
		snprintf(err, errsize, "a module named %s is already loaded", mod->name);
		loader_release_requires(mod);
		goto fail;
	}
	rc = mod->info->load(mod);
	if (rc != OCTO_LOAD_OK) {
		octo_registry_wrlock();
		octo_container_unlink(loader_modules, mod);
		octo_registry_remove_module(mod);
		octo_registry_unlock();
		loader_release_requires(mod);
		if (rc == OCTO_LOAD_DECLINE) {
			snprintf(err, errsize, "declined to load");
			loader_close(mod);
			octo_obj_unref(mod);
			return OCTO_LOAD_DECLINE;
		}
		snprintf(err, errsize, "its load function failed");
		goto fail;
	}
	mod->seq = ++loader_seq;
	loader_clear_failure(mod->name);
	octo_verbose(1, "loaded %s => (%s)", mod->name, mod->info->description ?
		     mod->info->description : "");
	octo_obj_unref(mod);
	return OCTO_LOAD_OK;
fail:
	loader_close(mod);
	octo_obj_unref(mod);
	return OCTO_LOAD_FAIL;
}

int octo_loader_init(const char *module_dir)
{
	if (lt_dlinit()) {
		octo_log(OCTO_ERROR, "libltdl: %s", lt_dlerror());
		return OCTO_EFAIL;
	}
	octo_strlcpy(loader_dir, module_dir, sizeof(loader_dir));
	loader_modules = octo_container_alloc_str(module_key, 0);
	loader_failures = octo_container_alloc_str(failure_key, 0);
	if (!loader_modules || !loader_failures)
		return OCTO_ENOMEM;
	return octo_loader_cli_init();
}

int octo_loader_load(const char *name, char *err, size_t errsize)
{
	char clean[MODULE_NAME_MAX];
	struct octo_module *mod, *loaded;
	int rc;

	if (!loader_clean_name(name, clean, sizeof(clean))) {
		snprintf(err, errsize, "\"%s\" is not a module name", name);
		return OCTO_EINVAL;
	}
	pthread_mutex_lock(&loader_lock);
	loaded = octo_container_find(loader_modules, clean);
	if (loaded) {
		octo_obj_unref(loaded);
		pthread_mutex_unlock(&loader_lock);
		snprintf(err, errsize, "%s is already loaded", clean);
		return OCTO_EEXIST;
	}
	mod = loader_open(clean, err, errsize);
	if (!mod) {
		loader_record_failure(clean, err);
		pthread_mutex_unlock(&loader_lock);
		return OCTO_EFAIL;
	}
	rc = loader_start(mod, err, errsize);
	if (rc == OCTO_LOAD_FAIL)
		loader_record_failure(clean, err);
	pthread_mutex_unlock(&loader_lock);
	return rc == OCTO_LOAD_OK ? 0 : (rc == OCTO_LOAD_DECLINE ? OCTO_ENOTFOUND : OCTO_EFAIL);
}

static int loader_unload_locked(struct octo_module *mod, bool force, char *err, size_t errsize)
{
	unsigned uses;

	octo_registry_wrlock();
	uses = octo_module_usecount(mod);
	if (uses && !force) {
		char holders[512];

		octo_module_holders(mod, holders, sizeof(holders));
		octo_registry_unlock();
		snprintf(err, errsize, "cannot unload %s: in use by %s", mod->name, holders);
		return OCTO_EBUSY;
	}
	octo_container_unlink(loader_modules, mod);
	octo_registry_remove_module(mod);
	octo_registry_unlock();

	if (uses)
		octo_log(OCTO_WARNING, "forced unload of %s while %u references are held: its "
			 "code stays mapped", mod->name, uses);
	if (mod->info->unload)
		mod->info->unload(mod);
	loader_release_requires(mod);
	loader_close(mod);
	octo_verbose(1, "unloaded %s", mod->name);
	return 0;
}

int octo_loader_unload(const char *name, bool force, char *err, size_t errsize)
{
	char clean[MODULE_NAME_MAX];
	struct octo_module *mod;
	int rc;

	if (!loader_clean_name(name, clean, sizeof(clean))) {
		snprintf(err, errsize, "\"%s\" is not a module name", name);
		return OCTO_EINVAL;
	}
	pthread_mutex_lock(&loader_lock);
	mod = octo_container_find(loader_modules, clean);
	if (!mod) {
		pthread_mutex_unlock(&loader_lock);
		snprintf(err, errsize, "%s is not loaded", clean);
		return OCTO_ENOTFOUND;
	}
	rc = loader_unload_locked(mod, force, err, errsize);
	pthread_mutex_unlock(&loader_lock);
	octo_obj_unref(mod);
	return rc;
}

int octo_loader_reload(const char *name, struct octo_diags *diags)
{
	struct octo_module *mod;
	char clean[MODULE_NAME_MAX];
	int rc = 0;

	if (!loader_clean_name(name, clean, sizeof(clean))) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, NULL, 0, "\"%s\" is not a module name", name);
		return OCTO_EINVAL;
	}
	pthread_mutex_lock(&loader_lock);
	mod = octo_container_find(loader_modules, clean);
	if (!mod) {
		pthread_mutex_unlock(&loader_lock);
		octo_diags_add(diags, OCTO_DIAG_ERROR, NULL, 0, "%s is not loaded", clean);
		return OCTO_ENOTFOUND;
	}
	if (mod->info->reload)
		rc = mod->info->reload(mod, diags);
	pthread_mutex_unlock(&loader_lock);
	octo_obj_unref(mod);
	return rc;
}

static int loader_cmp_seq_desc(const void *a, const void *b)
{
	const struct octo_module *ma = *(struct octo_module *const *)a;
	const struct octo_module *mb = *(struct octo_module *const *)b;

	return ma->seq < mb->seq ? 1 : (ma->seq > mb->seq ? -1 : 0);
}

int octo_loader_reload_all(struct octo_diags *diags)
{
	size_t count;
	void **mods;
	int rc = 0;

	pthread_mutex_lock(&loader_lock);
	mods = octo_container_snapshot(loader_modules, &count, loader_cmp_seq_desc);
	/* Reload in load order: requirements before the modules that use them. */
	for (size_t i = count; i-- > 0;) {
		struct octo_module *mod = mods[i];

		if (mod->info->reload && mod->info->reload(mod, diags))
			rc = OCTO_ECONFIG;
	}
	octo_container_snapshot_free(mods, count);
	pthread_mutex_unlock(&loader_lock);
	return rc;
}

void octo_loader_shutdown(void)
{
	size_t count;
	void **mods;
	char err[256];

	if (!loader_modules)
		return;
	pthread_mutex_lock(&loader_lock);
	mods = octo_container_snapshot(loader_modules, &count, loader_cmp_seq_desc);
	for (size_t i = 0; i < count; i++)
		loader_unload_locked(mods[i], true, err, sizeof(err));
	octo_container_snapshot_free(mods, count);
	pthread_mutex_unlock(&loader_lock);
	octo_obj_unref(loader_modules);
	octo_obj_unref(loader_failures);
	loader_modules = loader_failures = NULL;
	lt_dlexit();
}

size_t octo_loader_module_names(char ***names)
{
	size_t count;
	void **mods;

	*names = NULL;
	if (!loader_modules)
		return 0;
	mods = octo_container_snapshot(loader_modules, &count, NULL);
	if (count)
		*names = calloc(count, sizeof(char *));
	if (!*names) {
		octo_container_snapshot_free(mods, count);
		return 0;
	}
	for (size_t i = 0; i < count; i++)
		(*names)[i] = octo_strdup(((struct octo_module *)mods[i])->name);
	octo_container_snapshot_free(mods, count);
	return count;
}

/* ---------------------------------------------------------------- load all */

struct load_plan {
	char (*names)[MODULE_NAME_MAX];
	struct octo_module **mods;      /* opened, or NULL when open failed */
	int *state;                     /* 0 new, 1 visiting, 2 done */
	bool *preload;
	size_t count, cap;
};

static int plan_index(const struct load_plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->count; i++)
		if (!strcmp(plan->names[i], name))
			return (int)i;
	return -1;
}

static void plan_add(struct load_plan *plan, const char *name, bool preload)
{
	int idx = plan_index(plan, name);

	if (idx >= 0) {
		plan->preload[idx] = plan->preload[idx] || preload;
		return;
	}
	if (plan->count == plan->cap) {
		size_t cap = plan->cap ? plan->cap * 2 : 32;

		plan->names = realloc(plan->names, cap * sizeof(*plan->names));
		plan->mods = realloc(plan->mods, cap * sizeof(*plan->mods));
		plan->state = realloc(plan->state, cap * sizeof(*plan->state));
		plan->preload = realloc(plan->preload, cap * sizeof(*plan->preload));
		if (!plan->names || !plan->mods || !plan->state || !plan->preload)
			abort();
		plan->cap = cap;
	}
	octo_strlcpy(plan->names[plan->count], name, MODULE_NAME_MAX);
	plan->mods[plan->count] = NULL;
	plan->state[plan->count] = 0;
	plan->preload[plan->count] = preload;
	plan->count++;
}

static void plan_remove(struct load_plan *plan, const char *name)
{
	int idx = plan_index(plan, name);

	if (idx < 0)
		return;
	plan->count--;
	memmove(&plan->names[idx], &plan->names[idx + 1],
		(plan->count - (size_t)idx) * sizeof(*plan->names));
	memmove(&plan->preload[idx], &plan->preload[idx + 1],
		(plan->count - (size_t)idx) * sizeof(*plan->preload));
}

static int plan_cmp_names(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

/* Loads plan entry i after its requirements (depth first). */
static int loader_visit(struct load_plan *plan, size_t i, int *loaded, struct octo_diags *diags)
{
	char reqs[MODULE_MAX_REQUIRES][MODULE_NAME_MAX], opts[MODULE_MAX_REQUIRES][MODULE_NAME_MAX];
	struct octo_module *mod = plan->mods[i];
	char err[512];
	size_t nreq, nopt;
	int rc;

	if (plan->state[i] == 2 || !mod) {
		plan->state[i] = 2;
		return 0;
	}
	if (plan->state[i] == 1) {
		snprintf(err, sizeof(err), "dependency cycle through %s", plan->names[i]);
		return -1;
	}
	plan->state[i] = 1;
	nreq = loader_split_names(mod->info->requires, reqs, MODULE_MAX_REQUIRES);
	nopt = loader_split_names(mod->info->optional, opts, MODULE_MAX_REQUIRES);
	for (size_t r = 0; r < nreq + nopt; r++) {
		const char *dep = r < nreq ? reqs[r] : opts[r - nreq];
		int d = plan_index(plan, dep);

		if (d >= 0 && plan->state[d] == 1) {
			snprintf(err, sizeof(err), "requirement cycle between %s and %s",
				 plan->names[i], dep);
			octo_log(OCTO_ERROR, "%s: not loaded: %s", plan->names[i], err);
			octo_diags_add(diags, OCTO_DIAG_ERROR, NULL, 0, "%s: %s", plan->names[i],
				       err);
			loader_record_failure(plan->names[i], err);
			plan->state[i] = 2;
			octo_obj_unref(mod);
			plan->mods[i] = NULL;
			return 0;
		}
		if (d >= 0)
			loader_visit(plan, (size_t)d, loaded, diags);
	}
	plan->mods[i] = NULL;   /* loader_start consumes the reference */
	rc = loader_start(mod, err, sizeof(err));
	if (rc == OCTO_LOAD_OK) {
		(*loaded)++;
	} else if (rc == OCTO_LOAD_DECLINE) {
		octo_verbose(1, "%s declined to load", plan->names[i]);
	} else {
		/* requires names both sides: "chan_x: requires res_y (not loaded)" */
		octo_log(OCTO_ERROR, "%s: not loaded: %s", plan->names[i], err);
		octo_diags_add(diags, OCTO_DIAG_ERROR, NULL, 0, "%s: %s", plan->names[i], err);
		loader_record_failure(plan->names[i], err);
	}
	plan->state[i] = 2;
	return 0;
}

static void loader_scan_dir(struct load_plan *plan)
{
	DIR *dir = opendir(loader_dir);
	struct dirent *de;

	if (!dir) {
		octo_log(OCTO_ERROR, "module folder %s: %s", loader_dir, strerror(errno));
		return;
	}
	while ((de = readdir(dir))) {
		size_t len = strlen(de->d_name);
		char clean[MODULE_NAME_MAX];

		if (len < 4 || strcmp(de->d_name + len - 3, ".so"))
			continue;
		if (loader_clean_name(de->d_name, clean, sizeof(clean)))
			plan_add(plan, clean, false);
	}
	closedir(dir);
}

int octo_loader_load_all(struct octo_diags *diags)
{
	struct load_plan plan = { 0 };
	struct octo_cfg *cfg;
	const struct octo_cfg_section *sec;
	bool autoload = true;
	int loaded = 0;
	char noload[128][MODULE_NAME_MAX];
	size_t nnoload = 0;

	cfg = octo_cfg_load(octo_paths.config_dir, "modules.conf", true, diags);
	if (!cfg)
		return 0;
	for (sec = octo_cfg_first(cfg); sec; sec = octo_cfg_next(sec)) {
		if (strcmp(sec->name, "modules")) {
			octo_diags_add(diags, OCTO_DIAG_WARNING, sec->file, sec->line,
				       "unknown section [%s] (modules.conf has [modules])",
				       sec->name);
			continue;
		}
		for (const struct octo_cfg_var *v = sec->vars; v; v = v->next) {
			char clean[MODULE_NAME_MAX];

			if (!strcmp(v->name, "autoload")) {
				const char *err = octo_cfg_parse_bool(v->value, &autoload);

				if (err)
					octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
						       "[modules] autoload: \"%s\" %s", v->value,
						       err);
				continue;
			}
			if (strcmp(v->name, "load") && strcmp(v->name, "noload") &&
			    strcmp(v->name, "preload")) {
				octo_diags_add(diags, OCTO_DIAG_WARNING, v->file, v->line,
					       "[modules] unknown option \"%s\" (known: autoload, "
					       "load, noload, preload)", v->name);
				continue;
			}
			if (!loader_clean_name(v->value, clean, sizeof(clean))) {
				octo_diags_add(diags, OCTO_DIAG_ERROR, v->file, v->line,
					       "[modules] %s: \"%s\" is not a module name", v->name,
					       v->value);
				continue;
			}
			if (!strcmp(v->name, "noload")) {
				if (nnoload < OCTO_ARRAY_LEN(noload))
					octo_strlcpy(noload[nnoload++], clean, MODULE_NAME_MAX);
			} else {
				plan_add(&plan, clean, !strcmp(v->name, "preload"));
			}
		}
	}
	octo_cfg_free(cfg);

	if (autoload)
		loader_scan_dir(&plan);
	for (size_t i = 0; i < nnoload; i++)
		plan_remove(&plan, noload[i]);

	/* Preloaded modules first, the rest by name; requirements reorder. */
	{
		size_t npre = 0;

		for (size_t i = 0; i < plan.count; i++) {
			if (plan.preload[i]) {
				char tmp[MODULE_NAME_MAX];
				bool btmp;

				memcpy(tmp, plan.names[npre], MODULE_NAME_MAX);
				memcpy(plan.names[npre], plan.names[i], MODULE_NAME_MAX);
				memcpy(plan.names[i], tmp, MODULE_NAME_MAX);
				btmp = plan.preload[npre];
				plan.preload[npre] = plan.preload[i];
				plan.preload[i] = btmp;
				npre++;
			}
		}
		if (plan.count > npre)
			qsort(plan.names + npre, plan.count - npre, sizeof(*plan.names),
			      plan_cmp_names);
	}

	pthread_mutex_lock(&loader_lock);
	for (size_t i = 0; i < plan.count; i++) {
		char err[512];
		struct octo_module *already = octo_container_find(loader_modules, plan.names[i]);

		plan.state[i] = 0;
		if (already) {
			octo_obj_unref(already);
			plan.state[i] = 2;
			continue;
		}
		plan.mods[i] = loader_open(plan.names[i], err, sizeof(err));
		if (!plan.mods[i]) {
			octo_log(OCTO_ERROR, "%s: not loaded: %s", plan.names[i], err);
			octo_diags_add(diags, OCTO_DIAG_ERROR, NULL, 0, "%s: %s", plan.names[i],
				       err);
			loader_record_failure(plan.names[i], err);
		}
	}
	for (size_t i = 0; i < plan.count; i++)
		loader_visit(&plan, i, &loaded, diags);
	pthread_mutex_unlock(&loader_lock);

	free(plan.names);
	free(plan.mods);
	free(plan.state);
	free(plan.preload);
	return loaded;
}

int octo_loader_check_all(const char *config_dir, struct octo_diags *diags)
{
	DIR *dir = opendir(loader_dir);
	struct dirent *de;
	int rc = 0;

	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		size_t len = strlen(de->d_name);
		char clean[MODULE_NAME_MAX], err[512];
		struct octo_module *mod;

		if (len < 4 || strcmp(de->d_name + len - 3, ".so") ||
		    !loader_clean_name(de->d_name, clean, sizeof(clean)))
			continue;
		mod = loader_open(clean, err, sizeof(err));
		if (!mod)
			continue;
		if (mod->info->check && mod->info->check(config_dir, diags))
			rc = OCTO_ECONFIG;
		loader_close(mod);
		octo_obj_unref(mod);
	}
	closedir(dir);
	return rc;
}

/* ---------------------------------------------------------------- CLI */

static int module_cmp_name(const void *a, const void *b)
{
	return strcmp((*(struct octo_module *const *)a)->name,
		      (*(struct octo_module *const *)b)->name);
}

static int module_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	const char *like = NULL;
	size_t count, nfail, shown = 0;
	void **mods, **fails;

	if (argc == 4 && !strcasecmp(argv[2], "like"))
		like = argv[3];
	else if (argc != 2)
		return OCTO_CLI_USAGE;
	mods = octo_container_snapshot(loader_modules, &count, module_cmp_name);
	fails = octo_container_snapshot(loader_failures, &nfail, NULL);
	octo_cli_columns(out, "module", "description", "use count", "status", "used by", NULL);
	for (size_t i = 0; i < count; i++) {
		struct octo_module *mod = mods[i];
		char uses[16], holders[512];

		if (like && fnmatch(like, mod->name, 0) && !strstr(mod->name, like))
			continue;
		snprintf(uses, sizeof(uses), "%u", octo_module_usecount(mod));
		octo_module_holders(mod, holders, sizeof(holders));
		octo_cli_row(out, mod->name, mod->info->description ? mod->info->description : "",
			     uses, "running", holders, NULL);
		shown++;
	}
	for (size_t i = 0; i < nfail; i++) {
		struct module_failure *f = fails[i];
		char status[300];

		if (like && fnmatch(like, f->name, 0) && !strstr(f->name, like))
			continue;
		snprintf(status, sizeof(status), "not loaded: %s", f->reason);
		octo_cli_row(out, f->name, "", "0", status, "", NULL);
		shown++;
	}
	octo_container_snapshot_free(mods, count);
	octo_container_snapshot_free(fails, nfail);
	octo_cli_kv(out, "modules loaded", "%zu", count);
	return OCTO_CLI_OK;
}

static int module_cli_load(struct octo_cli_out *out, int argc, char **argv)
{
	char err[512];
	int rc;

	if (argc != 3)
		return OCTO_CLI_USAGE;
	rc = octo_loader_load(argv[2], err, sizeof(err));
	if (rc) {
		octo_cli_error(out, "Unable to load %s: %s", argv[2], err);
		return OCTO_CLI_FAIL;
	}
	octo_cli_printf(out, "Loaded %s.", argv[2]);
	return OCTO_CLI_OK;
}

static int module_cli_unload(struct octo_cli_out *out, int argc, char **argv)
{
	bool force = false;
	const char *name;
	char err[1024];

	if (argc == 4 && !strcmp(argv[2], "-f"))
		force = true;
	else if (argc != 3)
		return OCTO_CLI_USAGE;
	name = argv[argc - 1];
	if (octo_loader_unload(name, force, err, sizeof(err))) {
		octo_cli_error(out, "%s", err);
		return OCTO_CLI_FAIL;
	}
	octo_cli_printf(out, "Unloaded %s.", name);
	return OCTO_CLI_OK;
}

static int module_cli_reload(struct octo_cli_out *out, int argc, char **argv)
{
	struct octo_diags diags = { 0 };
	int rc;

	if (argc == 2)
		rc = octo_reload_all(&diags);
	else if (argc == 3)
		rc = octo_loader_reload(argv[2], &diags);
	else
		return OCTO_CLI_USAGE;
	octo_cli_diags(out, &diags);
	octo_diags_free(&diags);
	if (rc) {
		octo_cli_error(out, "Reload failed: the running configuration stays in place.");
		return OCTO_CLI_FAIL;
	}
	octo_cli_printf(out, "Reloaded %s.", argc == 3 ? argv[2] : "everything");
	return OCTO_CLI_OK;
}

static void module_complete_loaded(struct octo_cli_completion *c, int pos, const char *partial)
{
	if (pos == 0 || (pos == 1))
		octo_cli_complete_modules(c, pos, partial);
}

/* Names of .so files in the module folder, for "module load". */
static void module_complete_files(struct octo_cli_completion *c, int pos, const char *partial)
{
	DIR *dir;
	struct dirent *de;

	if (pos != 0 || !(dir = opendir(loader_dir)))
		return;
	while ((de = readdir(dir))) {
		char clean[MODULE_NAME_MAX];
		size_t len = strlen(de->d_name);

		if (len > 3 && !strcmp(de->d_name + len - 3, ".so") &&
		    loader_clean_name(de->d_name, clean, sizeof(clean)) &&
		    !strncmp(clean, partial, strlen(partial)))
			octo_cli_complete_add(c, clean);
	}
	closedir(dir);
}

static const struct octo_cli_cmd loader_cli[] = {
	{ "module show", "List the modules, their use counts and status",
	  "module show [like <pattern>]", module_cli_show, NULL },
	{ "module load", "Load a module from the module folder", "module load <name>",
	  module_cli_load, module_complete_files },
	{ "module unload", "Unload a module (-f: even while in use, for emergencies)",
	  "module unload [-f] <name>", module_cli_unload, module_complete_loaded },
	{ "module reload", "Reload a module's configuration, or everything",
	  "module reload [<name>]", module_cli_reload, module_complete_loaded },
	{ 0 }
};

int octo_loader_cli_init(void)
{
	return octo_cli_register_all(NULL, loader_cli);
}
