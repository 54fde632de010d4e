/*
 * test_trunk.c - trunks in the registry (core/trunk.c, include/octo/trunk.h):
 * registration with its checks, lookups that hold and give back, the kind's
 * name, listing, and removal.
 */
#include <stdio.h>
#include <string.h>

#include "octo/octo.h"
#include "octo/registry.h"
#include "octo/trunk.h"
#include "../../core/internal.h"
#include "octo_test.h"

static int t_acquire(const struct octo_trunk *t, const char *number, char *tech, size_t ts,
		     char *dest, size_t ds)
{
	octo_strlcpy(tech, "Test", ts);
	snprintf(dest, ds, "%s-%s", t->name, number);
	return 0;
}

static void t_status(const struct octo_trunk *t, struct octo_trunk_status *st)
{
	memset(st, 0, sizeof(*st));
	octo_strlcpy(st->kind, "test", sizeof(st->kind));
	octo_strlcpy(st->state, "Up", sizeof(st->state));
	st->capacity = 2;
}

static const struct octo_trunk trunk_a = { .name = "gsm1",
					   .acquire = t_acquire,
					   .status = t_status };
static const struct octo_trunk trunk_b = { .name = "isdn1",
					   .acquire = t_acquire,
					   .status = t_status };
static const struct octo_trunk trunk_dup = { .name = "GSM1",
					     .acquire = t_acquire,
					     .status = t_status };
static const struct octo_trunk trunk_bad = { .name = "a b",
					     .acquire = t_acquire,
					     .status = t_status };
static const struct octo_trunk trunk_noacq = { .name = "x", .status = t_status };

static void setup(void)
{
	static bool ready;

	if (!ready) {
		ready = true;
		octo_registry_init();
	}
}

OCTO_TEST(kind_is_named_trunk)
{
	OCTO_CHECK_STR_EQ(octo_reg_kind_name(OCTO_REG_TRUNK), "trunk");
}

OCTO_TEST(register_get_put_unregister)
{
	const struct octo_trunk *t;
	char tech[16], dest[64];

	setup();
	OCTO_CHECK_INT_EQ(octo_trunk_register(NULL, &trunk_a), 0);
	t = octo_trunk_get("gsm1", "test");
	OCTO_CHECK(t == &trunk_a);
	OCTO_CHECK_INT_EQ(t->acquire(t, "3331234567", tech, sizeof(tech), dest, sizeof(dest)), 0);
	OCTO_CHECK_STR_EQ(tech, "Test");
	OCTO_CHECK_STR_EQ(dest, "gsm1-3331234567");
	octo_trunk_put(t, "test");
	/* names are case-insensitive, like every registry name */
	OCTO_CHECK(octo_trunk_get("GSM1", "test") == &trunk_a);
	octo_trunk_put(&trunk_a, "test");
	octo_trunk_unregister(&trunk_a);
	OCTO_CHECK(octo_trunk_get("gsm1", "test") == NULL);
}

OCTO_TEST(duplicates_and_bad_trunks_are_refused)
{
	setup();
	OCTO_CHECK_INT_EQ(octo_trunk_register(NULL, &trunk_a), 0);
	OCTO_CHECK_INT_EQ(octo_trunk_register(NULL, &trunk_dup), OCTO_EEXIST);
	OCTO_CHECK_INT_EQ(octo_trunk_register(NULL, &trunk_bad), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_trunk_register(NULL, &trunk_noacq), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(octo_trunk_register(NULL, NULL), OCTO_EINVAL);
	OCTO_CHECK(octo_trunk_get(NULL, "test") == NULL);
	OCTO_CHECK(octo_trunk_get("", "test") == NULL);
	OCTO_CHECK(octo_trunk_get("a;b", "test") == NULL);
	octo_trunk_put(NULL, "test");
	octo_trunk_unregister(NULL);
	octo_trunk_unregister(&trunk_a);
}

OCTO_TEST(listing_is_sorted_with_status)
{
	struct octo_reg_item *items = NULL;
	struct octo_trunk_status st;
	size_t n;

	setup();
	OCTO_CHECK_INT_EQ(octo_trunk_register(NULL, &trunk_b), 0);
	OCTO_CHECK_INT_EQ(octo_trunk_register(NULL, &trunk_a), 0);
	n = octo_registry_list(OCTO_REG_TRUNK, &items);
	OCTO_CHECK_INT_EQ(n, 2);
	if (n == 2) {
		OCTO_CHECK_STR_EQ(items[0].name, "gsm1");
		OCTO_CHECK_STR_EQ(items[1].name, "isdn1");
		OCTO_CHECK_STR_EQ(items[0].module, "core");
		((const struct octo_trunk *)items[1].item)->status(items[1].item, &st);
		OCTO_CHECK_STR_EQ(st.state, "Up");
		OCTO_CHECK_INT_EQ(st.capacity, 2);
	}
	octo_registry_list_free(items, n);
	octo_trunk_unregister(&trunk_a);
	octo_trunk_unregister(&trunk_b);
	OCTO_CHECK_INT_EQ(octo_registry_list(OCTO_REG_TRUNK, &items), 0);
	octo_registry_list_free(items, 0);
}

OCTO_TEST_MAIN()
