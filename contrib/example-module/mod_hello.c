/*
 * mod_hello.c - an example of a module built outside Octo's source tree,
 * against an installed Octo (see the Makefile beside it and the README,
 * "Writing a module out of the tree").
 *
 * It registers one CLI command:
 *
 *   octo -rx "hello"          ->  Hello from an out-of-tree module
 *   octo -rx "hello Alice"    ->  Hello Alice, from an out-of-tree module
 *
 * and counts how often it was called since it was loaded.
 */

/* The name the logger tags our lines with; it must match the file name. */
#define OCTO_MODULE_NAME "mod_hello"

#include <stdatomic.h>

#include <octo/cli.h>
#include <octo/log.h>
#include <octo/module.h>

static atomic_uint hello_calls;

static int hello_cli_run(struct octo_cli_out *out, int argc, char **argv)
{
	unsigned n;

	if (argc > 2)
		return OCTO_CLI_USAGE;
	n = atomic_fetch_add(&hello_calls, 1) + 1;
	if (argc == 2)
		octo_cli_printf(out, "Hello %s, from an out-of-tree module", argv[1]);
	else
		octo_cli_printf(out, "Hello from an out-of-tree module");
	octo_cli_kv(out, "calls", "%u", n);
	return OCTO_CLI_OK;
}

static const struct octo_cli_cmd hello_cli[] = {
	{ "hello", "Say hello (example out-of-tree module)", "hello [name]", hello_cli_run, NULL },
	{ 0 }
};

static int hello_load(struct octo_module *self)
{
	atomic_store(&hello_calls, 0);
	if (octo_cli_register_all(self, hello_cli) != 0)
		return OCTO_LOAD_FAIL;
	octo_verbose(1, "the hello command is ready");
	return OCTO_LOAD_OK;
}

/* The CLI command is a registry entry: the core removes it at unload, so there
 * is nothing else to tear down. */
OCTO_MODULE(mod_hello, .description = "Example module built out of the tree", .load = hello_load);
