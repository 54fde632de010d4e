/*
 * vm_util.c - app_voicemail's config (voicemail.conf [general]) and its pure
 * helpers: names, PINs, options, durations and the text of the e-mails.
 * Nothing here touches a channel, the disk (but the config file) or the
 * store, so the unit test compiles this file alone.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/clock.h"
#include "octo/config.h"
#include "octo/obj.h"
#include "vm.h"

static const char *const vm_qualities[] = { "low", "standard", "high", NULL };

static const struct octo_cfg_opt vm_opts[] = {
	OCTO_CFG_DURATION("max_message", struct vm_conf, max_message, "3m", 1, 3600),
	OCTO_CFG_DURATION_MS("min_message", struct vm_conf, min_message, "1s", 0, 60000),
	OCTO_CFG_DURATION("max_greeting", struct vm_conf, max_greeting, "1m", 1, 600),
	OCTO_CFG_DURATION("max_silence", struct vm_conf, max_silence, "5s", 0, 300),
	OCTO_CFG_UINT("silence_threshold", struct vm_conf, silence_threshold, "256", 1, 32767),
	OCTO_CFG_UINT("max_messages", struct vm_conf, max_messages, "100", 1, 9999),
	OCTO_CFG_BOOL("email", struct vm_conf, email, "yes"),
	OCTO_CFG_BOOL("attach", struct vm_conf, attach, "yes"),
	OCTO_CFG_BOOL("delete_after_email", struct vm_conf, delete_after_email, "no"),
	OCTO_CFG_UINT("pin_tries", struct vm_conf, pin_tries, "3", 1, 10),
	OCTO_CFG_DURATION_MS("digit_timeout", struct vm_conf, digit_timeout, "5s", 500, 60000),
	OCTO_CFG_STR("callback", struct vm_conf, callback, "", 0),
	OCTO_CFG_STR("from_name", struct vm_conf, from_name, "Voicemail", 0),
	OCTO_CFG_STR("timezone", struct vm_conf, timezone, "", 0),
	OCTO_CFG_END
};

/* The voicemail keys of features.conf [general]. */
struct vm_ft_cfg {
	int quality;
	bool date, time, caller;
};

static const struct octo_cfg_opt vm_ft_opts[] = {
	OCTO_CFG_ENUM("voicemail_quality", struct vm_ft_cfg, quality, "standard", vm_qualities),
	OCTO_CFG_BOOL("voicemail_announce_date", struct vm_ft_cfg, date, "yes"),
	OCTO_CFG_BOOL("voicemail_announce_time", struct vm_ft_cfg, time, "yes"),
	OCTO_CFG_BOOL("voicemail_announce_caller", struct vm_ft_cfg, caller, "yes"),
	OCTO_CFG_END
};

/* [general] of features.conf is shared: only our keys are looked at. */
static bool vm_ft_ignore(const char *key)
{
	for (const struct octo_cfg_opt *o = vm_ft_opts; o->key; o++)
		if (!strcmp(key, o->key))
			return false;
	return true;
}

/* Fills the features.conf keys of `cf`; the defaults when the file is
 * missing or wrong (app_features reports that). */
static void vm_ft_read(const char *dir, struct vm_conf *cf)
{
	static const struct octo_cfg_section none = { .name = "general" };
	struct octo_diags d = { 0 };
	struct vm_ft_cfg ft = { 0 };
	const struct octo_cfg_section *sec;
	struct octo_cfg *cfg = octo_cfg_load(dir, "features.conf", true, &d);

	sec = cfg ? octo_cfg_section(cfg, "general") : NULL;
	if (!cfg || octo_cfg_bind(sec ? sec : &none, vm_ft_opts, &ft, vm_ft_ignore, &d)) {
		octo_cfg_unbind(vm_ft_opts, &ft);
		memset(&ft, 0, sizeof(ft));
		octo_cfg_bind(&none, vm_ft_opts, &ft, NULL, &d);
	}
	cf->quality = ft.quality;
	cf->announce_date = ft.date;
	cf->announce_time = ft.time;
	cf->announce_caller = ft.caller;
	octo_cfg_unbind(vm_ft_opts, &ft);
	octo_cfg_free(cfg);
	octo_diags_free(&d);
}

const char *vm_quality_format(int quality)
{
	return quality == VM_Q_LOW ? "wav_ulaw" : "wav";
}

unsigned vm_quality_rate(int quality)
{
	return quality == VM_Q_HIGH ? 16000 : 8000;
}

static void vm_conf_destroy(void *obj)
{
	struct vm_conf *cf = obj;

	octo_tz_free(cf->tz);
	octo_cfg_unbind(vm_opts, cf);
}

/* A procedure name for `callback`: what dialplan.conf accepts as a section. */
static bool vm_procedure_valid(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!(isalnum((unsigned char)s[n]) || s[n] == '_' || s[n] == '-'))
			return false;
	return n < 64;
}

struct vm_conf *vm_conf_parse(const char *dir, const char *file, struct octo_diags *diags)
{
	static const struct octo_cfg_section none = { .name = "general" };
	const struct octo_cfg_section *sec, *general = NULL;
	struct vm_conf *cf;
	struct octo_cfg *cfg;
	char err[256], clean[OCTO_CFG_CLEAN];
	int line = 0;
	const char *where = file;

	cfg = octo_cfg_load(dir, file, true, diags);
	if (!cfg)
		return NULL;
	for (sec = octo_cfg_first(cfg); sec; sec = octo_cfg_next(sec)) {
		if (!strcmp(sec->name, "general")) {
			general = sec;
			continue;
		}
		octo_diags_add(diags, OCTO_DIAG_WARNING, sec->file, sec->line,
			       "[%s] unknown section (voicemail.conf has only [general]; "
			       "mailboxes are the users of users.conf)",
			       octo_cfg_clean(clean, sec->name));
	}
	cf = octo_obj_alloc(sizeof(*cf), vm_conf_destroy);
	if (!cf) {
		octo_cfg_free(cfg);
		return NULL;
	}
	if (octo_cfg_bind(general ? general : &none, vm_opts, cf, NULL, diags)) {
		octo_cfg_free(cfg);
		octo_obj_unref(cf);
		return NULL;
	}
	if (general) {
		const struct octo_cfg_var *v = octo_cfg_var_find(general, "callback");

		if (v) {
			where = v->file;
			line = v->line;
		}
	}
	if (!vm_procedure_valid(cf->callback)) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, where, line,
			       "[general] callback: \"%s\" is not a procedure name",
			       octo_cfg_clean(clean, cf->callback));
		goto fail;
	}
	cf->tz = octo_tz_load(cf->timezone, err, sizeof(err));
	if (!cf->tz) {
		const struct octo_cfg_var *v = general ? octo_cfg_var_find(general, "timezone")
						       : NULL;

		octo_diags_add(diags, OCTO_DIAG_ERROR, v ? v->file : file, v ? v->line : 0,
			       "[general] timezone: \"%s\" %s", octo_cfg_clean(clean, cf->timezone),
			       err);
		goto fail;
	}
	if (cf->min_message >= cf->max_message * 1000u) {
		octo_diags_add(diags, OCTO_DIAG_ERROR, file, general ? general->line : 0,
			       "[general] min_message must be shorter than max_message");
		goto fail;
	}
	octo_cfg_free(cfg);
	vm_ft_read(dir, cf);
	return cf;
fail:
	octo_cfg_free(cfg);
	octo_obj_unref(cf);
	return NULL;
}

/* ---------------------------------------------------------------- pure helpers */

bool vm_box_valid(const char *box)
{
	size_t n = 0;

	if (!box)
		return false;
	for (; box[n]; n++)
		if (!(isalnum((unsigned char)box[n]) || box[n] == '-' || box[n] == '_'))
			return false;
	return n >= 1 && n <= OCTO_VM_BOX_MAX;
}

bool vm_pin_valid(const char *pin)
{
	size_t n = 0;

	if (!pin)
		return false;
	for (; pin[n]; n++)
		if (!isdigit((unsigned char)pin[n]))
			return false;
	return n >= VM_PIN_MIN && n <= VM_PIN_MAX;
}

bool vm_leave_opts_parse(const char *text, struct vm_leave_opts *out, char *bad)
{
	memset(out, 0, sizeof(*out));
	*bad = '\0';
	for (; text && *text; text++) {
		switch (*text) {
		case 'u':
			out->unavail = true;
			break;
		case 'b':
			out->busy = true;
			break;
		case 's':
			out->skip = true;
			break;
		case 'U':
			out->urgent = true;
			break;
		default:
			*bad = *text;
			return false;
		}
	}
	return true;
}

void vm_duration_text(unsigned ms, char *buf, size_t size)
{
	unsigned s = (ms + 500) / 1000;

	if (s == 0)
		s = 1;
	snprintf(buf, size, "%u:%02u", s / 60, s % 60);
}

const char *vm_folder_name(int folder)
{
	return folder == VM_OLD ? "Old" : "INBOX";
}

void vm_mail_text(const struct vm_mail_info *m, char *subject, size_t ssize, char *body,
		  size_t bsize)
{
	char dur[32], from[256];
	const char *caller = m->caller && *m->caller ? m->caller : "an unknown caller";

	vm_duration_text(m->duration_ms, dur, sizeof(dur));
	if (m->caller_name && *m->caller_name && m->caller && *m->caller)
		snprintf(from, sizeof(from), "%s (%s)", m->caller_name, m->caller);
	else
		snprintf(from, sizeof(from), "%s", caller);
	snprintf(subject, ssize, "%sNew voicemail from %s in mailbox %s (%s)",
		 m->urgent ? "Urgent: " : "", from, m->box, dur);
	snprintf(body, bsize,
		 "Dear %s,\n"
		 "\n"
		 "there is a new %smessage in your mailbox %s:\n"
		 "\n"
		 "  From:     %s\n"
		 "  Date:     %s\n"
		 "  Length:   %s\n"
		 "  Message:  %lld\n"
		 "\n"
		 "%s\n",
		 m->user_name && *m->user_name ? m->user_name : m->box,
		 m->urgent ? "urgent " : "", m->box, from, m->date ? m->date : "", dur,
		 (long long)m->id,
		 m->deleted ? "The recording is attached; it is not kept in the mailbox."
		 : m->attached ? "The recording is attached. Dial your voicemail to manage it."
			       : "Dial your voicemail to listen to it.");
}
