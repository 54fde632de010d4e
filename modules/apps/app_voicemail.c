/*
 * app_voicemail.c - voicemail: a mailbox per user of users.conf, with
 *
 *   VoiceMail(box[,options])     a caller leaves a message
 *   VoiceMailMain([box][,options])  the owner listens, saves, deletes, calls
 *                                back, records greetings, changes the PIN
 *   voicemail show [<box>]       (CLI) the mailboxes or one's messages
 *
 * the options of voicemail.conf [general], messages on disk with an index
 * in the store (vm_store.c), an e-mail with the recording through the mail
 * service (res_smtp) and the service "voicemail" (include/octo/voicemail.h)
 * that MWI providers (chan_sip) ask for counts; they in turn offer "mwi",
 * which we tell of every change.
 *
 * DESIGN: the config is an immutable refcounted snapshot swapped on reload
 * (vm_lock guards the pointer only). Everything else is in the store and on
 * disk, read on each use, so the CLI, VoiceMail and VoiceMailMain of several
 * calls at once see one truth; two calls changing the same mailbox at once
 * (e.g. deleting the same message) are settled by the store (the second
 * finds no row).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/cli.h"
#include "octo/clock.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/module.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/users.h"
#include "audio_common.h"
#include "vm.h"

static pthread_mutex_t vm_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vm_conf *vm_current; /* guarded by vm_lock */

struct vm_conf *vm_conf_get(void)
{
	struct vm_conf *cf;

	pthread_mutex_lock(&vm_lock);
	cf = vm_current ? octo_obj_ref(vm_current) : NULL;
	pthread_mutex_unlock(&vm_lock);
	return cf;
}

static void vm_conf_install(struct vm_conf *cf)
{
	struct vm_conf *old;

	pthread_mutex_lock(&vm_lock);
	old = vm_current;
	vm_current = cf;
	pthread_mutex_unlock(&vm_lock);
	octo_obj_unref(old);
}

/* ---------------------------------------------------------------- users */

/* The user of mailbox `box` (a new reference) or NULL, step-logged. */
static struct octo_user *vm_user_find(struct octo_channel *chan, const char *app, const char *box)
{
	const struct octo_users_api *users = octo_service_get(OCTO_USERS_SERVICE, 1, VM_HOLDER);
	struct octo_user *u;

	if (!users) {
		if (chan)
			octo_chan_step(chan, "%s: no users service (res_users is not loaded): no "
				       "mailboxes", app);
		return NULL;
	}
	u = users->find(box);
	octo_service_put(users, VM_HOLDER);
	if (!u && chan)
		octo_chan_step(chan, "%s: no mailbox %s (not a user of users.conf)", app, box);
	return u;
}

/* ---------------------------------------------------------------- VoiceMail */

/* Plays the greeting of `box`. AUDIO_END, AUDIO_DIGIT ('#': skip to the
 * beep) or OCTO_EHANGUP. */
static int vm_greeting(struct audio_player *p, const char *box, const struct vm_leave_opts *o,
		       const char *lang)
{
	char path[VM_PATH_MAX];
	const char *kind = o->busy ? "busy" : "unavail";
	int rc;

	if (vm_greeting_path(box, "temp", path, sizeof(path)) && vm_file_exists(path))
		return vm_play_file(p, path, "#");
	if (vm_greeting_path(box, kind, path, sizeof(path)) && vm_file_exists(path))
		return vm_play_file(p, path, "#");
	/* the default: "the person at extension 1 0 1 is not available" */
	rc = vm_play(p, "vm-theperson", lang, "#");
	if (rc != AUDIO_END)
		return rc;
	if (vm_greeting_path(box, "name", path, sizeof(path)) && vm_file_exists(path))
		rc = vm_play_file(p, path, "#");
	else
		rc = vm_say_digits(p, box, lang, "#");
	if (rc != AUDIO_END)
		return rc;
	return vm_play(p, o->busy ? "vm-isbusy" : "vm-isunavail", lang, "#");
}

static void vm_status(struct octo_channel *chan, const char *status)
{
	octo_chan_var_set(chan, "VMSTATUS", status);
}

static int vm_leave_exec(struct octo_channel *chan, char *args)
{
	char *argv[3], box[OCTO_VM_BOX_MAX + 1], bad, clean[OCTO_CFG_CLEAN];
	char lang[OCTO_SOUND_LANG_MAX], tmp[VM_PATH_MAX], part[VM_PATH_MAX + 64];
	char path[VM_PATH_MAX], idtext[32];
	int argc = octo_args_split(args, argv, 3), rc, end;
	struct vm_leave_opts o;
	struct octo_vm_counts counts;
	struct octo_user *user;
	struct audio_player p;
	struct vm_conf *cf;
	struct vm_msg m = { 0 };
	uint64_t samples;
	unsigned ms;

	vm_status(chan, "FAILED");
	if (argc < 1 || argc > 2 || !*argv[0]) {
		octo_chan_step(chan, "VoiceMail: %s (VoiceMail(box[,options]))",
			       argc > 2 ? "too many arguments" : "no mailbox");
		return OCTO_EINVAL;
	}
	if (!vm_box_valid(argv[0])) {
		octo_chan_step(chan, "VoiceMail: \"%s\" is not a mailbox name",
			       octo_cfg_clean(clean, argv[0]));
		return OCTO_APP_CONTINUE;
	}
	octo_strlcpy(box, argv[0], sizeof(box));
	if (!vm_leave_opts_parse(argc > 1 ? argv[1] : "", &o, &bad)) {
		octo_chan_step(chan, "VoiceMail: unknown option '%c' (u, b, s, U)",
			       bad >= ' ' && bad < 127 ? bad : '?');
		return OCTO_EINVAL;
	}
	user = vm_user_find(chan, "VoiceMail", box);
	if (!user)
		return OCTO_APP_CONTINUE;
	cf = vm_conf_get();
	if (!cf) {
		octo_obj_unref(user);
		return OCTO_EFAIL;
	}
	rc = audio_answer(chan, "VoiceMail", false);
	if (rc)
		goto out;
	audio_language(chan, lang);
	audio_player_init(&p, chan, "VoiceMail");
	rc = vm_box_mkdirs(box);
	if (rc || !vm_box_path(box, tmp, sizeof(tmp))) {
		octo_chan_step(chan, "VoiceMail: cannot make the folders of mailbox %s: %s", box,
			       rc ? strerror(rc) : "no data folder");
		rc = OCTO_APP_CONTINUE;
		goto out;
	}
	if (vm_store_counts(box, &counts) == 0 &&
	    counts.new_msgs + counts.old_msgs >= cf->max_messages) {
		octo_chan_step(chan, "VoiceMail: mailbox %s is full (%u messages, max_messages)",
			       box, counts.new_msgs + counts.old_msgs);
		rc = vm_play(&p, "vm-mailboxfull&vm-goodbye", lang, NULL);
		rc = rc == OCTO_EHANGUP ? OCTO_APP_HANGUP : OCTO_APP_CONTINUE;
		goto out;
	}
	octo_chan_step(chan, "VoiceMail: mailbox %s (%s greeting%s%s)", box,
		       o.busy ? "busy" : "unavailable", o.skip ? ", skipped" : "",
		       o.urgent ? ", urgent" : "");
	if (!o.skip) {
		rc = vm_greeting(&p, box, &o, lang);
		if (rc == AUDIO_END)
			rc = vm_play(&p, "vm-intro", lang, "#");
		if (rc == OCTO_EHANGUP) {
			octo_chan_step(chan, "VoiceMail: the caller hung up during the greeting");
			rc = OCTO_APP_HANGUP;
			goto out;
		}
	}
	snprintf(part, sizeof(part), "%s/tmp/msg-%s.wav", tmp, octo_chan_id(chan));
	end = vm_record(chan, "VoiceMail", part, cf->quality,
			cf->max_message * 1000u, cf->max_silence * 1000u, cf->silence_threshold,
			true, lang, &samples);
	ms = (unsigned)(samples * 1000 / OCTO_FRAME_RATE);
	octo_chan_step(chan, "VoiceMail: recorded %u.%02u s (%s)", ms / 1000, ms % 1000 / 10,
		       vm_rec_end_name(end));
	if (end == VM_REC_ERROR) {
		rc = OCTO_APP_CONTINUE;
		goto out;
	}
	if (ms < cf->min_message) {
		octo_chan_step(chan, "VoiceMail: the message is shorter than min_message (%u ms): "
			       "discarded", cf->min_message);
		unlink(part);
		if (end != VM_REC_HANGUP)
			vm_play(&p, "vm-goodbye", lang, NULL);
		rc = end == VM_REC_HANGUP ? OCTO_APP_HANGUP : OCTO_APP_CONTINUE;
		goto out;
	}
	octo_chan_copy(chan, OCTO_CHAN_CALLER_NUM, m.caller, sizeof(m.caller));
	octo_chan_copy(chan, OCTO_CHAN_CALLER_NAME, m.caller_name, sizeof(m.caller_name));
	m.created = octo_time();
	m.duration_ms = ms;
	m.urgent = o.urgent;
	if (vm_store_add(box, part, &m)) {
		octo_chan_step(chan, "VoiceMail: the message could not be stored: discarded");
		unlink(part);
		rc = end == VM_REC_HANGUP ? OCTO_APP_HANGUP : OCTO_APP_CONTINUE;
		goto out;
	}
	vm_msg_path(box, VM_INBOX, m.id, path, sizeof(path));
	octo_chan_step(chan, "VoiceMail: message %lld left in mailbox %s (%s)", (long long)m.id,
		       box, path);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)m.id);
	octo_chan_var_set(chan, "VM_MESSAGE", idtext);
	vm_status(chan, "SUCCESS");
	vm_email(chan, cf, user, &m, path);
	vm_notify(box);
	if (end != VM_REC_HANGUP && !octo_chan_is_hungup(chan))
		vm_play(&p, "vm-msgsaved&vm-goodbye", lang, NULL);
	rc = end == VM_REC_HANGUP ? OCTO_APP_HANGUP : OCTO_APP_CONTINUE;
out:
	octo_obj_unref(cf);
	octo_obj_unref(user);
	return rc;
}

/* ---------------------------------------------------------------- the service */

static int vm_api_count(const char *box, struct octo_vm_counts *out)
{
	struct octo_user *u;

	memset(out, 0, sizeof(*out));
	if (!vm_box_valid(box))
		return OCTO_EINVAL;
	u = vm_user_find(NULL, NULL, box);
	if (!u)
		return OCTO_ENOTFOUND;
	octo_obj_unref(u);
	return vm_store_counts(box, out);
}

static const struct octo_voicemail_api vm_api = { .count = vm_api_count };
static const struct octo_service vm_service = { OCTO_VOICEMAIL_SERVICE, 1, &vm_api };

/* ---------------------------------------------------------------- CLI */

static void vm_greetings_text(const char *box, char *buf, size_t size)
{
	static const char *const kinds[] = { "unavail", "busy", "temp", "name" };
	char path[VM_PATH_MAX];

	buf[0] = '\0';
	for (size_t i = 0; i < OCTO_ARRAY_LEN(kinds); i++) {
		if (!vm_greeting_path(box, kinds[i], path, sizeof(path)) || !vm_file_exists(path))
			continue;
		if (*buf)
			octo_strlcpy(buf + strlen(buf), ",", size - strlen(buf));
		octo_strlcpy(buf + strlen(buf), kinds[i], size - strlen(buf));
	}
	if (!*buf)
		octo_strlcpy(buf, "-", size);
}

static int vm_cli_box(struct octo_cli_out *out, const char *box)
{
	struct vm_conf *cf = vm_conf_get();
	struct octo_vm_counts c;
	struct octo_user *u;
	struct vm_msg *msgs;
	char greet[64], pin[VM_PIN_MAX + 1];
	int n;

	u = vm_user_find(NULL, NULL, box);
	if (!u) {
		octo_cli_error(out, "No mailbox %s (not a user of users.conf)", box);
		octo_obj_unref(cf);
		return OCTO_CLI_FAIL;
	}
	vm_store_counts(box, &c);
	vm_greetings_text(box, greet, sizeof(greet));
	vm_pin_get(box, u, pin, sizeof(pin));
	octo_cli_kv(out, "mailbox", "%s", box);
	octo_cli_kv(out, "user", "%s", u->name);
	octo_cli_kv(out, "email", "%s", *u->email ? u->email : "-");
	octo_cli_kv(out, "new", "%u", c.new_msgs);
	octo_cli_kv(out, "old", "%u", c.old_msgs);
	octo_cli_kv(out, "urgent", "%u", c.new_urgent + c.old_urgent);
	octo_cli_kv(out, "greetings", "%s", greet);
	octo_cli_kv(out, "pin", "%s", !*pin ? "not set" : vm_pin_overridden(box)
			? "changed from a phone (overrides users.conf)" : "users.conf");
	n = vm_store_list(box, -1, &msgs);
	if (n < 0) {
		octo_cli_error(out, "Cannot read the messages of %s: %s", box, octo_strerror(n));
		octo_obj_unref(u);
		octo_obj_unref(cf);
		return OCTO_CLI_FAIL;
	}
	octo_cli_columns(out, "id", "folder", "date", "caller", "name", "length", "urgent", NULL);
	for (int i = 0; i < n; i++) {
		char id[24], date[64], len[16];

		snprintf(id, sizeof(id), "%lld", (long long)msgs[i].id);
		if (cf)
			vm_date_text(cf, msgs[i].created, date, sizeof(date));
		else
			snprintf(date, sizeof(date), "%lld", (long long)msgs[i].created);
		vm_duration_text(msgs[i].duration_ms, len, sizeof(len));
		octo_cli_row(out, id, msgs[i].folder == VM_OLD ? "old" : "new", date,
			     *msgs[i].caller ? msgs[i].caller : "unknown", msgs[i].caller_name, len,
			     msgs[i].urgent ? "yes" : "no", NULL);
	}
	free(msgs);
	octo_obj_unref(u);
	octo_obj_unref(cf);
	return OCTO_CLI_OK;
}

static int vm_cli_show(struct octo_cli_out *out, int argc, char **argv)
{
	const struct octo_users_api *users;
	struct octo_user **list;
	size_t n;

	if (argc > 3)
		return OCTO_CLI_USAGE;
	if (argc == 3) {
		if (!vm_box_valid(argv[2])) {
			char clean[OCTO_CFG_CLEAN];

			octo_cli_error(out, "\"%s\" is not a mailbox name",
				       octo_cfg_clean(clean, argv[2]));
			return OCTO_CLI_FAIL;
		}
		return vm_cli_box(out, argv[2]);
	}
	users = octo_service_get(OCTO_USERS_SERVICE, 1, "cli");
	if (!users) {
		octo_cli_error(out, "No mailboxes: the users service (res_users) is not loaded");
		return OCTO_CLI_FAIL;
	}
	n = users->list(&list);
	octo_cli_columns(out, "mailbox", "user", "new", "old", "urgent", "email", "greetings",
			 NULL);
	for (size_t i = 0; i < n; i++) {
		struct octo_vm_counts c;
		char nw[16], old[16], urg[16], greet[64];

		vm_store_counts(list[i]->extension, &c);
		snprintf(nw, sizeof(nw), "%u", c.new_msgs);
		snprintf(old, sizeof(old), "%u", c.old_msgs);
		snprintf(urg, sizeof(urg), "%u", c.new_urgent + c.old_urgent);
		vm_greetings_text(list[i]->extension, greet, sizeof(greet));
		octo_cli_row(out, list[i]->extension, list[i]->name, nw, old, urg,
			     *list[i]->email ? list[i]->email : "-", greet, NULL);
	}
	users->list_free(list, n);
	octo_service_put(users, "cli");
	return OCTO_CLI_OK;
}

static void vm_complete(struct octo_cli_completion *c, int pos, const char *partial)
{
	const struct octo_users_api *users;
	struct octo_user **list;
	size_t n, len = strlen(partial);

	if (pos != 0 || !(users = octo_service_get(OCTO_USERS_SERVICE, 1, "cli")))
		return;
	n = users->list(&list);
	for (size_t i = 0; i < n; i++)
		if (!strncmp(list[i]->extension, partial, len))
			octo_cli_complete_add(c, list[i]->extension);
	users->list_free(list, n);
	octo_service_put(users, "cli");
}

static const struct octo_cli_cmd vm_cli[] = {
	{ "voicemail show", "List the mailboxes with their messages, or one mailbox's messages",
	  "voicemail show [<box>]", vm_cli_show, vm_complete },
	{ 0 }
};

/* ---------------------------------------------------------------- applications */

static const struct octo_app vm_apps[] = {
	{ .name = "VoiceMail",
	  .synopsis = "Leave a message in a user's mailbox",
	  .syntax = "VoiceMail(box[,options])",
	  .description =
		  "Answers, plays the greeting of mailbox `box` (a user of users.conf), a beep, "
		  "and records the caller's message until # (not kept), hang-up (the message is "
		  "kept), silence (voicemail.conf max_silence, left out of the file) or "
		  "max_message. A message shorter than min_message is discarded. It is filed "
		  "as new in <data>/voicemail/<box>/INBOX/msg<id>.wav with an index row in the "
		  "store (caller, date, duration, urgent); the user gets an e-mail with the "
		  "recording (users.conf email, voicemail.conf email/attach) and the phones a "
		  "message-waiting indication (MWI).\n"
		  "Greetings: the temporary one when recorded, else the unavailable (or with b "
		  "the busy) one when recorded, else \"the person at extension <box> (or the "
		  "recorded name) is not available/busy\"; # skips it.\n"
		  "  options  u  unavailable greeting (the default)\n"
		  "           b  busy greeting\n"
		  "           s  skip the greeting and the instructions: just the beep\n"
		  "           U  mark the message urgent\n"
		  "A full mailbox (max_messages) is announced and nothing is recorded.\n"
		  "Sets ${VMSTATUS}: SUCCESS (a message was left) or FAILED, and "
		  "${VM_MESSAGE} (the message id). Dial runs VoiceMail(<user>,u) or (<user>,b) by "
		  "itself for a user whose forward is VOICEMAIL.",
	  .exec = vm_leave_exec },
	{ .name = "VoiceMailMain",
	  .synopsis = "Listen to one's voicemail: messages, greetings, PIN",
	  .syntax = "VoiceMailMain([box][,options])",
	  .description =
		  "Asks the mailbox number (when `box` is empty) and its PIN (users.conf "
		  "voicemail_pin, or the one changed from a phone); pin_tries wrong attempts "
		  "hang up. Says \"you have N new messages and M saved messages\", then:\n"
		  "  main menu   1 listen (new messages first, then saved ones), 2 saved messages "
		  "only, 0 mailbox options, * help, # exit\n"
		  "  a message   (before it, as features.conf voicemail_announce_date, _time and "
		  "_caller say, when it was left and who left it)\n"
		  "              4 previous, 5 repeat, 6 next, 7 delete, 9 save (moves it to the "
		  "saved messages: a new message heard to the end is saved too when you move on), "
		  "3 date and caller, 8 call the caller back (voicemail.conf callback: the "
		  "dialplan goes on at the caller's number in that procedure), * help, # main "
		  "menu\n"
		  "  options     1 record the unavailable greeting, 2 the busy greeting, 3 your "
		  "name, 4 change the PIN (4 to 16 digits, typed twice; stored in the store, it "
		  "overrides users.conf), 5 record the temporary greeting, 6 erase it, * back\n"
		  "Digits end with # or after digit_timeout.\n"
		  "  options  s  skip the PIN check (e.g. the caller was authenticated otherwise)\n"
		  "Sets ${VMSTATUS}: SUCCESS (logged in), USEREXIT (left with #), FAILED (wrong "
		  "PIN, no such mailbox).",
	  .exec = vm_main_exec },
	{ 0 }
};

/* ---------------------------------------------------------------- module */

static bool vm_conf_exists(const char *dir)
{
	char path[VM_PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", VM_FILE);
	return access(path, F_OK) == 0;
}

static void vm_log_diags(const struct octo_diags *d)
{
	for (size_t i = 0; i < d->count; i++)
		octo_log(d->items[i].severity == OCTO_DIAG_ERROR ? OCTO_ERROR : OCTO_WARNING, "%s",
			 d->items[i].message);
}

static int vm_load(struct octo_module *self)
{
	struct octo_diags diags = { 0 };
	struct vm_conf *cf;

	if (!vm_conf_exists(octo_paths.config_dir)) {
		octo_log(OCTO_NOTICE, "no %s in %s: voicemail is off", VM_FILE,
			 octo_paths.config_dir ? octo_paths.config_dir : ".");
		return OCTO_LOAD_DECLINE;
	}
	cf = vm_conf_parse(octo_paths.config_dir, VM_FILE, &diags);
	vm_log_diags(&diags);
	octo_diags_free(&diags);
	if (!cf)
		return OCTO_LOAD_FAIL;
	if (vm_store_init()) {
		octo_log(OCTO_ERROR, "voicemail: cannot prepare the tables of the mailboxes");
		octo_obj_unref(cf);
		return OCTO_LOAD_FAIL;
	}
	if (octo_app_register_all(self, vm_apps) || octo_cli_register_all(self, vm_cli) ||
	    octo_service_register(self, &vm_service)) {
		octo_obj_unref(cf);
		return OCTO_LOAD_FAIL;
	}
	vm_conf_install(cf);
	return OCTO_LOAD_OK;
}

static int vm_unload(struct octo_module *self)
{
	vm_conf_install(NULL);
	return 0;
}

static int vm_reload(struct octo_module *self, struct octo_diags *diags)
{
	struct vm_conf *cf = vm_conf_parse(octo_paths.config_dir, VM_FILE, diags);

	if (!cf) {
		octo_log(OCTO_WARNING, "%s: reload refused: the running settings stay", VM_FILE);
		return OCTO_ECONFIG;
	}
	vm_conf_install(cf);
	return 0;
}

static int vm_check(const char *config_dir, struct octo_diags *diags)
{
	struct vm_conf *cf;

	if (!vm_conf_exists(config_dir))
		return 0;
	cf = vm_conf_parse(config_dir, VM_FILE, diags);
	if (!cf)
		return OCTO_ECONFIG;
	octo_obj_unref(cf);
	return 0;
}

OCTO_MODULE(app_voicemail, .description = "Voicemail: VoiceMail, VoiceMailMain, e-mail and MWI",
	    .load = vm_load, .unload = vm_unload, .reload = vm_reload, .check = vm_check,
	    .optional = "res_users,res_smtp,format_wav");
