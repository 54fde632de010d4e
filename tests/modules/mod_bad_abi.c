/* mod_bad_abi.c - claims an ABI this Octo does not have. The descriptor is
 * written by hand because OCTO_MODULE() always sets the current ABI. */
#define OCTO_MODULE_NAME "mod_bad_abi"
#include "octo/module.h"

static int bad_abi_load(struct octo_module *self)
{
	return OCTO_LOAD_OK;
}

const struct octo_module_info mod_bad_abi_LTX_octo_module = {
	.abi = OCTO_MODULE_ABI + 100,
	.name = "mod_bad_abi",
	.description = "Loader test: wrong ABI",
	.load = bad_abi_load,
};
