/*
 * voicemail.h - mailboxes and message-waiting indication between modules.
 *
 * Two services (registry.h), so that neither side needs the other loaded:
 *
 *  "voicemail" (version 1), offered by app_voicemail: how many messages a
 *  mailbox holds. A mailbox is named by its user's extension ("101").
 *
 *      const struct octo_voicemail_api *vm =
 *          octo_service_get(OCTO_VOICEMAIL_SERVICE, 1, "chan_sip");
 *      struct octo_vm_counts c;
 *      if (vm && vm->count("101", &c) == 0)
 *          ... c.new_msgs, c.old_msgs ...
 *      octo_service_put(vm, "chan_sip");
 *
 *  "mwi" (version 1), offered by a technology that can tell phones that
 *  messages wait (chan_sip: message-summary NOTIFY, RFC 3842): app_voicemail
 *  calls changed() each time the counts of a mailbox change (a message left,
 *  heard and saved, deleted). It takes the service only for the call, so
 *  neither module pins the other for long and either may be unloaded.
 *
 *      const struct octo_mwi_api *mwi = octo_service_get(OCTO_MWI_SERVICE, 1,
 *                                                         "app_voicemail");
 *      if (mwi) {
 *          mwi->changed("101", &c);
 *          octo_service_put(mwi, "app_voicemail");
 *      }
 *
 * Thread context: count() reads the SQLite store (a few ms): call it from a
 * call thread, a CLI worker or a worker of octo_work_push(), never from the
 * event loop. changed() copies its arguments and returns at once; it may be
 * called from any thread except while holding a lock the MWI side could
 * need (it takes none of the caller's).
 *
 * Versioning: the tables and struct octo_vm_counts only grow.
 */
#ifndef OCTO_VOICEMAIL_H
#define OCTO_VOICEMAIL_H

#include "octo/octo.h"

#define OCTO_VOICEMAIL_SERVICE "voicemail"
#define OCTO_MWI_SERVICE "mwi"

/* Longest mailbox name (an extension), terminator excluded. */
#define OCTO_VM_BOX_MAX 32

struct octo_vm_counts {
	unsigned new_msgs;    /* not heard yet (folder INBOX) */
	unsigned old_msgs;    /* heard and kept (folder Old) */
	unsigned new_urgent;  /* of new_msgs, marked urgent */
	unsigned old_urgent;  /* of old_msgs, marked urgent */
};

struct octo_voicemail_api {
	/* The counts of mailbox `box`. Returns 0, OCTO_ENOTFOUND (no such
	 * mailbox: not a user of users.conf), OCTO_EINVAL (not a valid mailbox
	 * name) or an error of the store (counts are then zero). */
	int (*count)(const char *box, struct octo_vm_counts *out);
};

struct octo_mwi_api {
	/* The counts of `box` are now `counts` (both borrowed, copied). Tells
	 * the mailbox user's phones. Never blocks. */
	void (*changed)(const char *box, const struct octo_vm_counts *counts);
};

#endif
