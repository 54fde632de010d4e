/* mod_needs_good.c - requires mod_good: loaded after it, and holds it. */
#define OCTO_MODULE_NAME "mod_needs_good"
#include "octo/module.h"

static int needs_load(struct octo_module *self)
{
	return OCTO_LOAD_OK;
}

OCTO_MODULE(mod_needs_good, .description = "Loader test: requires mod_good",
	    .load = needs_load, .requires = "mod_good");
