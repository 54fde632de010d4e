/*
 * module.h - what a loadable module exports, and the module handle.
 *
 * A module is one .so built by libtool with -module -avoid-version. It ends
 * with exactly one descriptor:
 *
 *   static int echo_load(struct octo_module *self)
 *   {
 *       return octo_app_register_all(self, echo_apps);
 *   }
 *   OCTO_MODULE(app_echo, .description = "Echo test application", .load = echo_load);
 *
 * LIFECYCLE
 *  - The loader opens the file (libltdl, local symbol binding), finds the
 *    descriptor, checks `abi`, orders modules by `requires`, and calls load().
 *  - Everything a module registers takes `self`. If load() does not return
 *    OCTO_LOAD_OK the core removes whatever it registered: load is
 *    all-or-nothing.
 *  - Registry entries are swept by the core at unload. Anything else a module
 *    starts (threads, timers, sockets) starts in load() and stops in unload().
 *  - A module in use (octo_module_ref by a holder) is not unloaded; the CLI
 *    names the holders.
 *
 * Thread context: load/unload/reload run on the thread that asked for them
 * (start-up or a CLI worker), never concurrently for the same module.
 */
#ifndef OCTO_MODULE_H
#define OCTO_MODULE_H

#include "octo/octo.h"

/* Bumped whenever a structure or function a module uses changes. */
#define OCTO_MODULE_ABI 1

enum octo_load_result {
	OCTO_LOAD_OK = 0,
	OCTO_LOAD_DECLINE = 1, /* not an error: nothing to do (e.g. no config) */
	OCTO_LOAD_FAIL = -1,   /* a real failure; the reason was logged */
};

enum octo_module_flags {
	OCTO_MOD_RESIDENT = 1 << 0, /* never lt_dlclose(): threads or library globals */
	OCTO_MOD_GLOBAL = 1 << 1,   /* reserved */
};

struct octo_module;
struct octo_diags;

struct octo_module_info {
	unsigned abi;            /* OCTO_MODULE_ABI; the loader refuses a mismatch */
	const char *name;        /* "chan_sip": must match the file name */
	const char *description;
	int (*load)(struct octo_module *self);
	int (*unload)(struct octo_module *self);   /* may be NULL */
	/* Re-reads the module's config atomically: on any error the running config
	 * stays and every problem is added to `diags` (file:line). 0 or OCTO_ECONFIG.
	 * May be NULL: nothing to reload. */
	int (*reload)(struct octo_module *self, struct octo_diags *diags);
	/* Checks the module's config files in `config_dir` without loading
	 * (octo -t), adding every problem to `diags`; 0 or OCTO_ECONFIG. May be NULL. */
	int (*check)(const char *config_dir, struct octo_diags *diags);
	const char *requires;    /* "res_rtp,res_cdr": loaded first, referenced while loaded */
	const char *optional;    /* ordered first only when present */
	unsigned flags;
};

/* libltdl resolves <module>_LTX_<symbol>, so every module exports its
 * descriptor under the same logical name without clashing. */
#define OCTO_MODULE(modname, ...)                                                            \
	const struct octo_module_info modname##_LTX_octo_module = {                           \
		.abi = OCTO_MODULE_ABI, .name = #modname, __VA_ARGS__                        \
	}

/* The module's name and descriptor. Borrowed; valid while the module is loaded. */
const char *octo_module_name(const struct octo_module *mod);
const struct octo_module_info *octo_module_info(const struct octo_module *mod);

/* Private data a module may hang on its handle (e.g. its config snapshot). */
void octo_module_set_data(struct octo_module *mod, void *data);
void *octo_module_data(const struct octo_module *mod);

/*
 * Use references. A holder is a short name that says who uses the module
 * ("Test/0001", "app_dial", "cli"). While any use reference is held the
 * module cannot be unloaded without -f. Both are thread-safe; `holder` is
 * copied.
 */
void octo_module_ref(struct octo_module *mod, const char *holder);
void octo_module_unref(struct octo_module *mod, const char *holder);
unsigned octo_module_usecount(const struct octo_module *mod);

/* Finds a loaded module by name and takes a use reference for `holder`;
 * NULL when not loaded. Release with octo_module_unref. */
struct octo_module *octo_module_find(const char *name, const char *holder);

#endif
