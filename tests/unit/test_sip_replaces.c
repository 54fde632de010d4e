/*
 * test_sip_replaces.c - the memory of ended dialogs of chan_sip's INVITE
 * with Replaces (sip_replaces.c, included here so its static functions can
 * be tested): an ended dialog is found by either order of its tags for a
 * minute, the ring keeps the last REPL_ENDED of them, and its index stays
 * right as old entries are overwritten. The calls part is stubbed: the
 * answers themselves are covered by the sip_replaces integration test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo_test.h"
#include "../../modules/channels/chan_sip/sip_replaces.c"

/* ---------------------------------------------------------------- stubs */

struct sip_call *sip_call_find_local(const char *call_id, const char *local_tag)
{
	return NULL;
}

const char *sip_call_remote_tag(const struct sip_call *c)
{
	return NULL;
}

bool sip_call_is_ringing_out(const struct sip_call *c)
{
	return false;
}

bool sip_call_is_ringing_in(const struct sip_call *c)
{
	return false;
}

bool sip_call_is_up(const struct sip_call *c)
{
	return false;
}

const char *sip_call_user(const struct sip_call *c)
{
	return "";
}

/* ---------------------------------------------------------------- tests */

static bool ended(unsigned n, bool swap_tags)
{
	struct repl r;

	memset(&r, 0, sizeof(r));
	snprintf(r.call_id, sizeof(r.call_id), "call-%u@test", n);
	snprintf(swap_tags ? r.from_tag : r.to_tag, sizeof(r.to_tag), "ours%u", n);
	snprintf(swap_tags ? r.to_tag : r.from_tag, sizeof(r.to_tag), "theirs%u", n);
	return repl_has_ended(&r);
}

static void end(unsigned n)
{
	char call_id[64], ours[32], theirs[32];

	snprintf(call_id, sizeof(call_id), "call-%u@test", n);
	snprintf(ours, sizeof(ours), "ours%u", n);
	snprintf(theirs, sizeof(theirs), "theirs%u", n);
	sip_replaces_ended(call_id, ours, theirs);
}

OCTO_TEST(ended_dialogs_are_remembered_in_a_bounded_ring)
{
	unsigned missing = 0, extra = 0;

	OCTO_CHECK(!ended(1, false));
	end(1);
	OCTO_CHECK(ended(1, false));
	OCTO_CHECK(ended(1, true)); /* either view of the tags */
	OCTO_CHECK(!ended(2, false));
	sip_replaces_ended(NULL, "a", "b"); /* ignored */
	/* three times round the ring: the last REPL_ENDED are found, the
	 * ones before are gone (their slots and chain links reused) */
	for (unsigned n = 2; n < 2 + 3 * REPL_ENDED; n++)
		end(n);
	for (unsigned n = 1; n < 2 + 3 * REPL_ENDED; n++) {
		bool kept = n >= 2 + 2 * REPL_ENDED;

		if (kept && !ended(n, n % 2))
			missing++;
		if (!kept && ended(n, n % 2))
			extra++;
	}
	OCTO_CHECK_INT_EQ(missing, 0);
	OCTO_CHECK_INT_EQ(extra, 0);
	/* the same dialog ending twice is found once it went the first time */
	end(7);
	end(7);
	OCTO_CHECK(ended(7, false));
}

OCTO_TEST_MAIN()
