/* mod_needs_missing.c - requires a module that does not exist. */
#define OCTO_MODULE_NAME "mod_needs_missing"
#include "octo/module.h"

static int missing_load(struct octo_module *self)
{
	return OCTO_LOAD_OK;
}

OCTO_MODULE(mod_needs_missing, .description = "Loader test: missing requirement",
	    .load = missing_load, .requires = "mod_nonexistent");
