/*
 * cdr.c - builds a call detail record when a channel hangs up and hands it
 * to every registered CDR backend; the registry kinds of codecs and sound
 * formats are typed here too (media.h).
 */
#include <stdlib.h>
#include <string.h>

#include "octo/cdr.h"
#include "octo/channel.h"
#include "octo/log.h"
#include "octo/media.h"
#include "octo/registry.h"
#include "internal.h"

const char *octo_cdr_disposition_name(enum octo_cdr_disposition d)
{
	static const char *const names[] = {
		"ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CANCELLED",
	};

	return (unsigned)d < OCTO_ARRAY_LEN(names) ? names[d] : "FAILED";
}

int octo_cdr_backend_register(struct octo_module *owner, const struct octo_cdr_backend *be)
{
	if (!be || !be->name || !be->post)
		return OCTO_EINVAL;
	return octo_registry_add(owner, OCTO_REG_CDR, be->name, be);
}

void octo_cdr_backend_unregister(const struct octo_cdr_backend *be)
{
	octo_registry_remove(OCTO_REG_CDR, be);
}

int octo_cdr_post(const struct octo_cdr *cdr)
{
	struct octo_reg_item *items;
	size_t n = octo_registry_list(OCTO_REG_CDR, &items);
	int taken = 0;

	/* The listing holds each backend's module until it is freed. */
	for (size_t i = 0; i < n; i++) {
		const struct octo_cdr_backend *be = items[i].item;

		if (be->post(cdr) == 0)
			taken++;
		else
			octo_log(OCTO_WARNING, "CDR backend %s refused the record of %s", be->name,
				 cdr->uniqueid);
	}
	octo_registry_list_free(items, n);
	return taken;
}

/* Fills a record from a channel that has just hung up (its step log is
 * left to the caller: steps stay NULL). */
void octo_cdr_from_channel(struct octo_channel *chan, struct octo_cdr *cdr)
{
	struct octo_chan_info info;
	char buf[128];

	memset(cdr, 0, sizeof(*cdr));
	octo_chan_info(chan, &info);
	octo_strlcpy(cdr->uniqueid, info.id, sizeof(cdr->uniqueid));
	octo_strlcpy(cdr->linkedid,
		     octo_chan_var_get(chan, "LINKEDID", buf, sizeof(buf)) ? buf : info.id,
		     sizeof(cdr->linkedid));
	octo_strlcpy(cdr->channel, info.name, sizeof(cdr->channel));
	octo_strlcpy(cdr->caller, info.caller, sizeof(cdr->caller));
	octo_chan_copy(chan, OCTO_CHAN_CALLER_NAME, cdr->caller_name, sizeof(cdr->caller_name));
	octo_strlcpy(cdr->dialed, info.dialed, sizeof(cdr->dialed));
	octo_strlcpy(cdr->called, info.called, sizeof(cdr->called));
	octo_strlcpy(cdr->procedure, info.procedure, sizeof(cdr->procedure));
	if (octo_chan_var_get(chan, "CDR_USERFIELD", buf, sizeof(buf)))
		octo_strlcpy(cdr->userfield, buf, sizeof(cdr->userfield));
	if (octo_chan_var_get(chan, "BRIDGEPEER", buf, sizeof(buf)))
		octo_strlcpy(cdr->dst_channel, buf, sizeof(cdr->dst_channel));
	if (octo_chan_var_get(chan, "TRUNK", buf, sizeof(buf)))
		octo_strlcpy(cdr->trunk, buf, sizeof(cdr->trunk));
	octo_strlcpy(cdr->hangup_side,
		     octo_chan_var_get(chan, "HANGUPSIDE", buf, sizeof(buf)) ? buf : "pbx",
		     sizeof(cdr->hangup_side));
	if (octo_chan_var_get(chan, "USER", buf, sizeof(buf)))
		octo_strlcpy(cdr->user, buf, sizeof(cdr->user));
	octo_strlcpy(cdr->direction,
		     octo_chan_var_get(chan, "DIRECTION", buf, sizeof(buf)) &&
				     !strcmp(buf, "outbound")
			     ? "outbound"
			     : "inbound",
		     sizeof(cdr->direction));
	cdr->answered_elsewhere = octo_chan_var_get(chan, "ANSWERED_ELSEWHERE", buf, sizeof(buf)) &&
				  strcmp(buf, "0") && *buf;
	cdr->cause = info.cause;
	cdr->start_us = info.created_us;
	cdr->answer_us = info.answered_us;
	cdr->end_us = info.ended_us ? info.ended_us : octo_wall_us();
	/* Wall-clock times: a clock stepped back during the call must not turn
	 * into a duration of 4294967295 seconds. */
	cdr->duration = cdr->end_us > cdr->start_us
				? (unsigned)((cdr->end_us - cdr->start_us) / 1000000u)
				: 0;
	cdr->billsec = cdr->answer_us && cdr->end_us > cdr->answer_us
			       ? (unsigned)((cdr->end_us - cdr->answer_us) / 1000000u)
			       : 0;
	if (cdr->answer_us)
		cdr->disposition = OCTO_CDR_ANSWERED;
	else if (info.cause == OCTO_CAUSE_BUSY)
		cdr->disposition = OCTO_CDR_BUSY;
	else if (info.cause == OCTO_CAUSE_NO_ANSWER)
		cdr->disposition = OCTO_CDR_NO_ANSWER;
	else if (!strcmp(cdr->hangup_side, "caller"))
		cdr->disposition = OCTO_CDR_CANCELLED;   /* the caller gave up */
	else if (info.cause == OCTO_CAUSE_NORMAL)
		cdr->disposition = OCTO_CDR_NO_ANSWER;   /* the PBX ended it unanswered */
	else
		cdr->disposition = OCTO_CDR_FAILED;
}

int octo_codec_register(struct octo_module *owner, const struct octo_codec *codec)
{
	if (!codec || !codec->name || !codec->decode || !codec->encode)
		return OCTO_EINVAL;
	return octo_registry_add(owner, OCTO_REG_CODEC, codec->name, codec);
}

void octo_codec_unregister(const struct octo_codec *codec)
{
	octo_registry_remove(OCTO_REG_CODEC, codec);
}

int octo_format_register(struct octo_module *owner, const struct octo_sound_format *format)
{
	if (!format || !format->name || !format->open_read || !format->read || !format->close)
		return OCTO_EINVAL;
	return octo_registry_add(owner, OCTO_REG_FORMAT, format->name, format);
}

void octo_format_unregister(const struct octo_sound_format *format)
{
	octo_registry_remove(OCTO_REG_FORMAT, format);
}
