/*
 * users_names.c - the names of the license profiles of users.h, in the core
 * so that every module that includes users.h can print them without
 * depending on res_users.
 */
#include "octo/users.h"

const char *octo_license_name(enum octo_license lic)
{
	static const char *const names[OCTO_LIC_COUNT] = {
		[OCTO_LIC_PBX_BASIC] = "PBX-BASIC",
		[OCTO_LIC_UC_ESSENTIAL] = "UC-Essential",
		[OCTO_LIC_UC_BUSINESS] = "UC-Business",
		[OCTO_LIC_UC_PREMIUM] = "UC-Premium",
		[OCTO_LIC_UC_WIZYCONF_ROOM] = "UC-Wizyconf-Room",
		[OCTO_LIC_UC_WIZYWEBINAR] = "UC-Wizywebinar",
		[OCTO_LIC_PBX_SERVICE] = "PBX-Service",
	};

	return (unsigned)lic < OCTO_LIC_COUNT ? names[lic] : "unknown";
}
