/*
 * sip_hostname.h - the check of a DNS host name, shared by chan_sip (peers
 * and outbound registrations, sip_regout.c) and app_trunk (trunks.conf),
 * which is a module of its own and cannot call into chan_sip: hence a
 * static inline function in this internal header.
 */
#ifndef OCTO_SIP_HOSTNAME_H
#define OCTO_SIP_HOSTNAME_H

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>

/* A DNS host name: labels of letters, digits and '-' (not at either end of
 * a label), 1..63 each, at most 253 in all, an optional final '.', the last
 * label not all digits (so that a mistyped IPv4 address is no name). [any] */
static inline bool sip_hostname_valid(const char *s)
{
	size_t total = 0, label = 0;
	bool digits_only = true;
	char prev = '.';

	if (!s || !*s)
		return false;
	for (; *s; s++, total++) {
		if (total >= 253)
			return false;
		if (*s == '.') {
			if (!label || prev == '-')
				return false;
			if (s[1]) {
				label = 0;
				digits_only = true;
			}
		} else if (isalnum((unsigned char)*s) || *s == '-') {
			if ((*s == '-' && prev == '.') || ++label > 63)
				return false;
			if (!isdigit((unsigned char)*s))
				digits_only = false;
		} else {
			return false;
		}
		prev = *s;
	}
	return prev != '-' && !digits_only;
}

#endif
