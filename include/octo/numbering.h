/*
 * numbering.h - telephone numbers in one canonical form, the formats trunks
 * want, call classes and the ACL groups that allow or deny them. Offered by
 * the app_numbering module as the service "numbering" (registry.h), for
 * trunks, CDR, call history and anything else that stores or sends numbers:
 *
 *   const struct octo_numbering_api *num =
 *       octo_service_get(OCTO_NUMBERING_SERVICE, 1, "res_history");
 *   char canon[OCTO_NUM_MAX];
 *   if (num && num->normalize(caller, OCTO_NUM_RECEIVED, canon, sizeof(canon)) >= 0)
 *       ... store canon: "+390212345678" whatever form the trunk sent ...
 *   octo_service_put(num, "res_history");
 *
 * The rules come from features.conf ([general] country_code,
 * national_prefix, international_prefix, outside_line_prefix, area_code,
 * internal; [classes-CC] of the country; [acl-NAME] groups); the sample
 * documents every key. A reload swaps them atomically: each call below
 * works on one consistent version.
 *
 * NUMBERS
 *   A number is "+CC..." (E.164) once normalized. Visual separators (blank,
 *   '-', '.', '(', ')', '/') are dropped first. Numbers that have no +CC
 *   form are KEPT as they are: internal extensions, emergency and other
 *   short numbers, local numbers when no area_code is set, feature codes
 *   (*21), names (anonymous) and anything else that is not a phone number.
 *   The origin says how a number is read:
 *     OCTO_NUM_RECEIVED  a number that came in (a caller number from a trunk
 *                        or a phone): taken as it is;
 *     OCTO_NUM_DIALED    a number a user of the PBX dialled: the
 *                        outside_line_prefix, when set and present, is
 *                        removed first ("0" + "0612345678").
 *   Without an outside_line_prefix both read the same.
 *
 * CLASSES
 *   emergency (never denied by an ACL), internal (an extension: a pattern of
 *   [general] internal, or a user of users.conf), then -- after
 *   normalizing -- international (another country code), or the class of
 *   the most specific pattern of the country's [classes-CC] that matches
 *   the number in national form (national prefix + significant number:
 *   "0301234567" in Germany, "3331234567" in Italy, "12125551234" in the
 *   USA): mobile, national, premium (premium rate and special numbers) or
 *   international; unknown when nothing matches.
 *
 * Thread context: every function may be called from any thread, and never
 * blocks for long (no I/O). Strings out are always NUL-terminated.
 */
#ifndef OCTO_NUMBERING_H
#define OCTO_NUMBERING_H

#include <stdbool.h>
#include <stddef.h>

#include "octo/octo.h"

#define OCTO_NUMBERING_SERVICE "numbering"
#define OCTO_NUMBERING_VERSION 1

/* A buffer of this size holds any number the service writes (numbers of
 * more than 64 characters are refused). */
#define OCTO_NUM_MAX 72

enum octo_num_class {
	OCTO_NUM_UNKNOWN = 0,   /* not a number, or no pattern of the country matches */
	OCTO_NUM_INTERNAL,      /* an extension of this PBX */
	OCTO_NUM_NATIONAL,      /* landline, toll-free, national short numbers */
	OCTO_NUM_MOBILE,
	OCTO_NUM_INTERNATIONAL, /* another country code (or a pattern says so) */
	OCTO_NUM_PREMIUM,       /* premium rate and special numbers */
	OCTO_NUM_EMERGENCY,     /* always allowed */
	OCTO_NUM_CLASSES
};

enum octo_num_origin {
	OCTO_NUM_RECEIVED = 0,  /* a number that came in: taken as it is */
	OCTO_NUM_DIALED,        /* dialled by a user: the outside line prefix is removed */
};

enum octo_num_format {
	OCTO_NUM_FMT_E164 = 0,      /* "+390212345678" */
	OCTO_NUM_FMT_INTERNATIONAL, /* "00390212345678": international prefix + CC + number */
	OCTO_NUM_FMT_NATIONAL,      /* "0212345678" (IT), "030123456" (DE), "12125551234"
				     * (US): national prefix + significant number; a
				     * number of another country gets the international
				     * format */
	OCTO_NUM_FMT_SIGNIFICANT,   /* national without the prefix: "2125551234" (US);
				     * another country: the international format */
	OCTO_NUM_FMT_DIALED,        /* as dialled: separators and the outside line prefix
				     * (for OCTO_NUM_DIALED) removed, nothing else changed */
	OCTO_NUM_FORMATS
};

/* normalize() and format() return one of these, or a negative OCTO_E*. */
enum { OCTO_NUM_KEPT = 0, OCTO_NUM_NORMALIZED = 1 };

/* What classify() found, for the step log and the CLI. */
struct octo_num_info {
	enum octo_num_class cls;
	bool normalized;                /* e164 holds a +CC number */
	char number[OCTO_NUM_MAX];      /* cleaned; outside line prefix removed when dialled */
	char e164[OCTO_NUM_MAX];        /* the +CC form, or the number kept as it is */
	char national[OCTO_NUM_MAX];    /* the form the country's patterns saw ("" if none) */
	char pattern[OCTO_NUM_MAX];     /* the pattern that decided ("" if none) */
	char why[256];                  /* "matches the mobile pattern 3XXXXXXX. of
					 * [classes-39] (features.conf:61)" */
};

/* What acl_check() decided. */
struct octo_acl_verdict {
	bool allowed;
	char group[64];                 /* the ACL group applied; "" when none applies */
	char source[128];               /* how it was chosen: "acl_group of user 101",
					 * "acl_default of [general]", "variable ACL_GROUP" */
	char why[256];                  /* "international is in the deny list of
					 * [acl-employees] (features.conf:90)" */
	struct octo_num_info num;
};

struct octo_numbering_api {
	/*
	 * Writes the canonical form of `number` into buf. Returns
	 * OCTO_NUM_NORMALIZED (buf holds "+CC..."), OCTO_NUM_KEPT (buf holds
	 * the number cleaned of separators, or as it was when it is not a phone
	 * number), or OCTO_EINVAL (NULL, empty, longer than 64 characters,
	 * control characters, blanks inside text that is not a phone number,
	 * or buf too small: buf is then set to "").
	 */
	int (*normalize)(const char *number, enum octo_num_origin origin, char *buf, size_t size);

	/*
	 * Writes `number` in the format `fmt` (see enum octo_num_format) into
	 * buf, normalizing it first. Numbers that are kept (see normalize) are
	 * written as kept whatever the format. Returns as normalize.
	 */
	int (*format)(const char *number, enum octo_num_format fmt, enum octo_num_origin origin,
		      char *buf, size_t size);

	/*
	 * Classifies `number` (see CLASSES above) and fills *info (always, also
	 * on errors: cls is then OCTO_NUM_UNKNOWN and why says what is wrong).
	 * Returns the class, or OCTO_EINVAL for the inputs normalize refuses.
	 */
	int (*classify)(const char *number, enum octo_num_origin origin,
			struct octo_num_info *info);

	/* "international" etc.; "unknown" for values out of range. */
	const char *(*class_name)(enum octo_num_class cls);
	/* The class of a name ("mobile"), or -1. */
	int (*class_parse)(const char *name);

	/*
	 * Whether a call to `number` (as dialled) is allowed. The ACL group is
	 * `group` when not NULL/""; else the acl_group of the user with
	 * extension `user` (users.conf, through res_users) when it has one; else
	 * [general] acl_default; with none of them every class is allowed.
	 * Emergency numbers are always allowed; a group that is not defined
	 * allows nothing else. Fills *v; returns 1 (allowed), 0 (denied) or
	 * OCTO_EINVAL (a number normalize refuses: denied).
	 */
	int (*acl_check)(const char *user, const char *group, const char *number,
			 struct octo_acl_verdict *v);

	/* The country code in force, without '+' ("39"). */
	void (*country_code)(char *buf, size_t size);
};

#endif
