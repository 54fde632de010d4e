/* mod_good.c - a well-behaved module for the loader tests: registers an
 * application and a CLI command. */
#define OCTO_MODULE_NAME "mod_good"
#include "octo/cli.h"
#include "octo/dialplan.h"
#include "octo/module.h"

static int good_exec(struct octo_channel *chan, char *args)
{
	return OCTO_APP_CONTINUE;
}

static const struct octo_app good_apps[] = {
	{ .name = "GoodApp", .synopsis = "Does nothing, well", .exec = good_exec },
	{ 0 }
};

static int good_cli_hello(struct octo_cli_out *out, int argc, char **argv)
{
	octo_cli_printf(out, "good says hello");
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd good_cli[] = {
	{ "good hello", "Say hello", NULL, good_cli_hello, NULL },
	{ 0 }
};

static int reloads;

static int good_load(struct octo_module *self)
{
	if (octo_app_register_all(self, good_apps) || octo_cli_register_all(self, good_cli))
		return OCTO_LOAD_FAIL;
	return OCTO_LOAD_OK;
}

static int good_reload(struct octo_module *self, struct octo_diags *diags)
{
	reloads++;
	return 0;
}

OCTO_MODULE(mod_good, .description = "Loader test: a good module", .load = good_load,
	    .reload = good_reload);
