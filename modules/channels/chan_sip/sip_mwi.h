/*
 * sip_mwi.h - chan_sip's message-waiting part (sip_mwi.c): the SUBSCRIBE
 * handler for the event package message-summary (RFC 3842, RFC 6665), the
 * NOTIFYs to subscribed and registered phones, and the service "mwi"
 * (include/octo/voicemail.h) that app_voicemail tells of every change.
 */
#ifndef CHAN_SIP_SIP_MWI_H
#define CHAN_SIP_SIP_MWI_H

#include <stddef.h>

#include "octo/voicemail.h"

/* The part of chan_sip.c's table: the SUBSCRIBE handler and the service. */
int sip_mwi_init(void);
void sip_mwi_fini(void);

/* The body of a message-summary NOTIFY for `account` ("sip:101@host")
 * into buf: "Messages-Waiting: yes|no", "Message-Account:", "Voice-Message:
 * new/old (urgent new/urgent old)", CRLF line ends. Returns its length, or
 * 0 when it does not fit. */
size_t sip_mwi_body(char *buf, size_t size, const char *account,
		    const struct octo_vm_counts *c);

#endif
