/*
 * trunk.c - trunks of any kind in the registry (include/octo/trunk.h): a
 * thin typed layer over the registry kind OCTO_REG_TRUNK, so that the
 * module that provides a trunk (app_trunk for SIP trunks, the gateway
 * modules for FXO, BRI, PRI and GSM) and the ones that use it (DialTrunk,
 * `trunk show`) agree on one shape.
 */
#include <ctype.h>
#include <string.h>

#include "octo/log.h"
#include "octo/registry.h"
#include "octo/trunk.h"

/* A trunk name: 1..63 letters, digits, '_', '-', '.', '+'. */
static bool trunk_valid_name(const char *s)
{
	size_t n = 0;

	if (!s || !*s)
		return false;
	for (; *s; s++, n++)
		if (n >= 63 || !(isalnum((unsigned char)*s) || strchr("_-.+", *s)))
			return false;
	return true;
}

int octo_trunk_register(struct octo_module *owner, const struct octo_trunk *trunk)
{
	if (!trunk || !trunk->acquire || !trunk->status || !trunk_valid_name(trunk->name)) {
		octo_log(OCTO_ERROR,
			 "trunk: \"%.64s\" cannot be registered: a trunk needs a name "
			 "(letters, digits, _ - . +), acquire() and status()",
			 trunk && trunk->name ? trunk->name : "");
		return OCTO_EINVAL;
	}
	return octo_registry_add(owner, OCTO_REG_TRUNK, trunk->name, trunk);
}

void octo_trunk_unregister(const struct octo_trunk *trunk)
{
	if (trunk)
		octo_registry_remove(OCTO_REG_TRUNK, trunk);
}

const struct octo_trunk *octo_trunk_get(const char *name, const char *holder)
{
	if (!trunk_valid_name(name))
		return NULL;
	return octo_registry_get(OCTO_REG_TRUNK, name, holder);
}

void octo_trunk_put(const struct octo_trunk *trunk, const char *holder)
{
	if (trunk)
		octo_registry_put(OCTO_REG_TRUNK, trunk, holder);
}
