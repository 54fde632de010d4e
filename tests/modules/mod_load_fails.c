/* mod_load_fails.c - registers an application, then fails its load: the
 * core must remove what it registered. */
#define OCTO_MODULE_NAME "mod_load_fails"
#include "octo/dialplan.h"
#include "octo/module.h"

static int fails_exec(struct octo_channel *chan, char *args)
{
	return OCTO_APP_CONTINUE;
}

static const struct octo_app fails_apps[] = {
	{ .name = "FailsApp", .synopsis = "Must never stay registered", .exec = fails_exec },
	{ 0 }
};

static int fails_load(struct octo_module *self)
{
	octo_app_register_all(self, fails_apps);
	return OCTO_LOAD_FAIL;
}

OCTO_MODULE(mod_load_fails, .description = "Loader test: load fails", .load = fails_load);
