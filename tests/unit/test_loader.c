/*
 * test_loader.c - the module loader and the registry, with modules built
 * only for these tests (tests/modules): a good one, one that requires it,
 * one with a missing requirement, one with a wrong ABI, one whose load fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "octo/cli.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/registry.h"
#include "../../core/internal.h"
#include "octo_test.h"

static char config_dir[256];
static bool ready;

static void setup(void)
{
	FILE *fp;
	char path[512];

	if (ready)
		return;
	ready = true;
	snprintf(config_dir, sizeof(config_dir), "/tmp/octo-test-loader-%ld", (long)getpid());
	mkdir(config_dir, 0700);
	snprintf(path, sizeof(path), "%s/modules.conf", config_dir);
	fp = fopen(path, "w");
	fputs("[modules]\nautoload = yes\nnoload => mod_bad_abi.so\nnoload => mod_load_fails\n",
	      fp);
	fclose(fp);
	octo_paths.config_dir = config_dir;
	OCTO_CHECK_INT_EQ(octo_registry_init(), 0);
	OCTO_CHECK_INT_EQ(octo_loader_init(TEST_MODULE_DIR "/.libs"), 0);
}

static int run_cli(const char *line, char *buf, size_t size)
{
	struct octo_cli_out *out = octo_cli_out_alloc(false);
	int status = octo_cli_execute(out, line);

	octo_strlcpy(buf, octo_cli_out_render(out, status), size);
	octo_cli_out_free(out);
	return status;
}

OCTO_TEST(load_all_orders_and_reports)
{
	struct octo_diags diags = { 0 };
	int loaded;
	bool saw_missing = false;

	setup();
	loaded = octo_loader_load_all(&diags);
	/* mod_good, mod_needs_good; mod_needs_missing refused, the others noload. */
	OCTO_CHECK_INT_EQ(loaded, 2);
	for (size_t i = 0; i < diags.count; i++)
		if (strstr(diags.items[i].message,
			   "mod_needs_missing: requires mod_nonexistent (not loaded)"))
			saw_missing = true;
	OCTO_CHECK(saw_missing);
	octo_diags_free(&diags);
	OCTO_CHECK(octo_registry_peek(OCTO_REG_APP, "GoodApp", NULL) != NULL);
}

OCTO_TEST(module_in_use_by_requirement_is_not_unloaded)
{
	char err[512];

	setup();
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_good", false, err, sizeof(err)), OCTO_EBUSY);
	OCTO_CHECK_STR_EQ(err, "cannot unload mod_good: in use by mod_needs_good (1)");
}

OCTO_TEST(registry_get_holds_the_module)
{
	char err[512];
	const struct octo_app *app;

	setup();
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_needs_good", false, err, sizeof(err)), 0);
	app = octo_registry_get(OCTO_REG_APP, "goodapp", "Test/100-00000001");
	OCTO_CHECK(app != NULL);
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_good", false, err, sizeof(err)), OCTO_EBUSY);
	OCTO_CHECK_STR_EQ(err, "cannot unload mod_good: in use by Test/100-00000001 (1)");
	octo_registry_put(OCTO_REG_APP, app, "Test/100-00000001");
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_good", false, err, sizeof(err)), 0);
	OCTO_CHECK(octo_registry_peek(OCTO_REG_APP, "GoodApp", NULL) == NULL);
}

/* Thousands of holders (one per live channel) taken and given back in any
 * order: each is counted under its own name and the module is free again
 * at the end. */
OCTO_TEST(many_holders_in_any_order)
{
	enum { N = 3000 };
	const struct octo_app *app[N];
	char name[48], err[512];

	setup();
	if (!octo_registry_peek(OCTO_REG_APP, "GoodApp", NULL))
		OCTO_CHECK_INT_EQ(octo_loader_load("mod_good", err, sizeof(err)), 0);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "Test/%d-%08x", 100 + i % 7, (unsigned)i);
		app[i] = octo_registry_get(OCTO_REG_APP, "goodapp", name);
		OCTO_CHECK(app[i] != NULL);
	}
	/* a second hold by one holder counts under the same name */
	OCTO_CHECK(octo_registry_get(OCTO_REG_APP, "goodapp", "Test/100-00000000") != NULL);
	/* give back every third, then the rest backwards */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = pass ? N - 1 : 0; pass ? i >= 0 : i < N; i += pass ? -1 : 1) {
			if ((i % 3 == 0) == (pass == 0) && app[i]) {
				snprintf(name, sizeof(name), "Test/%d-%08x", 100 + i % 7, (unsigned)i);
				octo_registry_put(OCTO_REG_APP, app[i], name);
				app[i] = NULL;
			}
		}
		if (!pass) {
			OCTO_CHECK_INT_EQ(octo_loader_unload("mod_good", false, err, sizeof(err)),
					  OCTO_EBUSY);
			OCTO_CHECK_CONTAINS(err, "Test/100-00000000 (1), Test/101-00000001 (1)");
			OCTO_CHECK(!strstr(err, "Test/103-00000003"));
		}
	}
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_good", false, err, sizeof(err)), OCTO_EBUSY);
	OCTO_CHECK_STR_EQ(err, "cannot unload mod_good: in use by Test/100-00000000 (1)");
	octo_registry_put(OCTO_REG_APP, octo_registry_peek(OCTO_REG_APP, "GoodApp", NULL),
			  "Test/100-00000000");
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_good", false, err, sizeof(err)), 0);
}

/* A hold taken with get() on an item that its module then unregisters (a
 * trunk removed by a reload while a call uses it) is still given back by
 * put(): the module can unload afterwards. */
OCTO_TEST(put_after_remove_gives_the_hold_back)
{
	static const struct octo_app held = { .name = "HeldApp" };
	struct octo_module *owner = NULL;
	const struct octo_app *app;
	char err[512];

	setup();
	OCTO_CHECK_INT_EQ(octo_loader_load("mod_good", err, sizeof(err)), 0);
	OCTO_CHECK(octo_registry_peek(OCTO_REG_APP, "GoodApp", &owner) != NULL);
	OCTO_CHECK(owner != NULL);
	OCTO_CHECK_INT_EQ(octo_registry_add(owner, OCTO_REG_APP, held.name, &held), 0);
	app = octo_registry_get(OCTO_REG_APP, "HeldApp", "a call");
	OCTO_CHECK(app == &held);
	OCTO_CHECK_INT_EQ(octo_registry_remove(OCTO_REG_APP, &held), 0);
	OCTO_CHECK(octo_registry_peek(OCTO_REG_APP, "HeldApp", NULL) == NULL);
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_good", false, err, sizeof(err)), OCTO_EBUSY);
	OCTO_CHECK_STR_EQ(err, "cannot unload mod_good: in use by a call (1)");
	octo_registry_put(OCTO_REG_APP, app, "a call");
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_good", false, err, sizeof(err)), 0);
}

OCTO_TEST(load_unload_load_again)
{
	char err[512], out[4096];

	setup();
	OCTO_CHECK_INT_EQ(octo_loader_load("mod_good", err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(run_cli("good hello", out, sizeof(out)), OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(out, "good says hello");
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_good", false, err, sizeof(err)), 0);
	/* Its CLI command went with it. */
	OCTO_CHECK(run_cli("good hello", out, sizeof(out)) != OCTO_CLI_OK);
	OCTO_CHECK_INT_EQ(octo_loader_load("mod_good.so", err, sizeof(err)), 0);
	OCTO_CHECK_INT_EQ(run_cli("good hello", out, sizeof(out)), OCTO_CLI_OK);
	OCTO_CHECK_INT_EQ(octo_loader_load("mod_good", err, sizeof(err)), OCTO_EEXIST);
	OCTO_CHECK_STR_EQ(err, "mod_good is already loaded");
}

OCTO_TEST(wrong_abi_is_refused)
{
	char err[512];

	setup();
	OCTO_CHECK_INT_EQ(octo_loader_load("mod_bad_abi", err, sizeof(err)), OCTO_EFAIL);
	OCTO_CHECK_CONTAINS(err, "built for module ABI 101, this Octo has ABI 1: rebuild it");
}

OCTO_TEST(failed_load_removes_what_it_registered)
{
	char err[512];

	setup();
	OCTO_CHECK_INT_EQ(octo_loader_load("mod_load_fails", err, sizeof(err)), OCTO_EFAIL);
	OCTO_CHECK_STR_EQ(err, "its load function failed");
	OCTO_CHECK(octo_registry_peek(OCTO_REG_APP, "FailsApp", NULL) == NULL);
}

OCTO_TEST(missing_requirement_is_named)
{
	char err[512];

	setup();
	OCTO_CHECK_INT_EQ(octo_loader_load("mod_needs_missing", err, sizeof(err)), OCTO_EFAIL);
	OCTO_CHECK_STR_EQ(err, "requires mod_nonexistent (not loaded)");
}

OCTO_TEST(missing_file_and_bad_names)
{
	char err[512];

	setup();
	OCTO_CHECK(octo_loader_load("mod_nothere", err, sizeof(err)) != 0);
	OCTO_CHECK_CONTAINS(err, "not in module dir");
	OCTO_CHECK_INT_EQ(octo_loader_load("../etc/passwd", err, sizeof(err)), OCTO_EINVAL);
	OCTO_CHECK_STR_EQ(err, "\"../etc/passwd\" is not a module name");
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_nothere", false, err, sizeof(err)),
			  OCTO_ENOTFOUND);
	OCTO_CHECK_STR_EQ(err, "mod_nothere is not loaded");
}

OCTO_TEST(module_show_lists_status)
{
	char out[8192];

	setup();
	OCTO_CHECK_INT_EQ(run_cli("module show like mod_*", out, sizeof(out)), OCTO_CLI_OK);
	OCTO_CHECK_CONTAINS(out, "mod_good");
	OCTO_CHECK_CONTAINS(out, "running");
	OCTO_CHECK_CONTAINS(out, "not loaded: requires mod_nonexistent (not loaded)");
}

OCTO_TEST(forced_unload_and_shutdown)
{
	char err[512];
	const struct octo_app *app;

	setup();
	app = octo_registry_get(OCTO_REG_APP, "GoodApp", "holder");
	OCTO_CHECK(app != NULL);
	OCTO_CHECK_INT_EQ(octo_loader_unload("mod_good", true, err, sizeof(err)), 0);
	OCTO_CHECK(octo_registry_peek(OCTO_REG_APP, "GoodApp", NULL) == NULL);
	/* Its code stays mapped (a reference was held), so this stays safe. */
	OCTO_CHECK_STR_EQ(app->name, "GoodApp");
	octo_loader_shutdown();
	octo_registry_shutdown();
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/modules.conf", config_dir);
		unlink(path);
		rmdir(config_dir);
	}
}

OCTO_TEST_MAIN()
