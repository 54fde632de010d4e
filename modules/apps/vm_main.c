/*
 * vm_main.c - VoiceMailMain: the mailbox owner's side of voicemail. Log-in
 * (mailbox number and PIN, pin_tries attempts), "you have N new messages",
 * the main menu, the message menu (previous, repeat, next, delete, save,
 * envelope, call back) and the mailbox options (greetings, name, PIN).
 *
 * Every choice is one DTMF digit that may also interrupt the prompt that
 * offers it; numbers (mailbox, PIN) end with # or after digit_timeout.
 * Three time-outs in a row leave a menu. A new message heard to its end is
 * moved to the saved messages (Old) when the caller moves on from it, as
 * mailbox owners expect; 9 saves it at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/config.h"
#include "octo/dialplan.h"
#include "octo/expr.h"
#include "octo/frame.h"
#include "octo/log.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/users.h"
#include "audio_common.h"
#include "vm.h"

#define VM_KEYS "0123456789*#"
#define VM_TIMEOUTS 3
#define VM_JUMPED 2       /* call back: the dialplan goes on elsewhere */
#define VM_GREETING_MIN_MS 500

struct vm_sess {
	struct octo_channel *chan;
	struct audio_player p;
	struct vm_conf *cf;
	struct octo_user *user;
	char box[OCTO_VM_BOX_MAX + 1];
	char lang[OCTO_SOUND_LANG_MAX];
};

/* ---------------------------------------------------------------- input */

/* Plays `prompts` and collects digits until #, the time-out or a full
 * buffer. Returns how many digits, or OCTO_EHANGUP. */
static int vm_read(struct vm_sess *s, const char *prompts, char *buf, size_t size)
{
	size_t n = 0;
	int rc;

	buf[0] = '\0';
	if (prompts) {
		rc = vm_play(&s->p, prompts, s->lang, VM_KEYS);
		if (rc == OCTO_EHANGUP)
			return rc;
		if (rc == AUDIO_DIGIT) {
			if (s->p.digit == '#')
				return 0;
			buf[n++] = s->p.digit;
			buf[n] = '\0';
		}
	}
	while (n + 1 < size) {
		char d;

		rc = audio_wait_digit(&s->p, (int)s->cf->digit_timeout, &d);
		if (rc < 0)
			return rc;
		if (rc == 0 || d == '#')
			break;
		buf[n++] = d;
		buf[n] = '\0';
	}
	return (int)n;
}

/* Plays `prompts` (NULL: none) and waits for one digit. 1 with *choice, 0
 * on time-out, OCTO_EHANGUP. */
static int vm_choice(struct vm_sess *s, const char *prompts, char *choice)
{
	int rc;

	if (prompts) {
		rc = vm_play(&s->p, prompts, s->lang, VM_KEYS);
		if (rc == OCTO_EHANGUP)
			return rc;
		if (rc == AUDIO_DIGIT) {
			*choice = s->p.digit;
			return 1;
		}
	}
	return audio_wait_digit(&s->p, (int)s->cf->digit_timeout, choice);
}

/* Plays prompts that no digit interrupts; the digits typed meanwhile stay
 * queued. AUDIO_END or OCTO_EHANGUP. */
static int vm_say(struct vm_sess *s, const char *prompts)
{
	return vm_play(&s->p, prompts, s->lang, NULL) == OCTO_EHANGUP ? OCTO_EHANGUP : AUDIO_END;
}

/* Turns AUDIO_DIGIT into 1 with *choice, AUDIO_END into 0. */
static int vm_interrupted(struct vm_sess *s, int rc, char *choice)
{
	if (rc == AUDIO_DIGIT) {
		*choice = s->p.digit;
		return 1;
	}
	return rc == OCTO_EHANGUP ? rc : 0;
}

/* ---------------------------------------------------------------- log-in */

/* 0 when logged in, OCTO_EHANGUP, or OCTO_EINVAL when refused. */
static int vm_login(struct vm_sess *s, const char *given, bool skip_pin)
{
	char box[OCTO_VM_BOX_MAX + 2], typed[VM_PIN_MAX + 2], pin[VM_PIN_MAX + 1];
	const struct octo_users_api *users;
	int rc;

	for (unsigned attempt = 1; attempt <= s->cf->pin_tries; attempt++) {
		if (*given) {
			octo_strlcpy(box, given, sizeof(box));
		} else {
			rc = vm_read(s, "vm-login", box, sizeof(box));
			if (rc < 0)
				return rc;
		}
		octo_obj_unref(s->user);
		s->user = NULL;
		if (vm_box_valid(box) &&
		    (users = octo_service_get(OCTO_USERS_SERVICE, 1, VM_HOLDER))) {
			s->user = users->find(box);
			octo_service_put(users, VM_HOLDER);
		}
		if (s->user && skip_pin) {
			octo_strlcpy(s->box, box, sizeof(s->box));
			octo_chan_step(s->chan,
				       "VoiceMailMain: mailbox %s, PIN not asked (option s)", box);
			return 0;
		}
		if (s->user) {
			vm_pin_get(box, s->user, pin, sizeof(pin));
			if (!*pin) {
				octo_chan_step(s->chan, "VoiceMailMain: mailbox %s has no PIN "
					       "(users.conf voicemail_pin): access refused", box);
				return OCTO_EINVAL;
			}
		}
		rc = vm_read(s, "vm-password", typed, sizeof(typed));
		if (rc < 0)
			return rc;
		if (s->user && !strcmp(typed, pin)) {
			octo_strlcpy(s->box, box, sizeof(s->box));
			octo_chan_step(s->chan, "VoiceMailMain: logged in to mailbox %s", box);
			return 0;
		}
		octo_chan_step(s->chan, "VoiceMailMain: %s for mailbox %.32s (attempt %u of %u)",
			       s->user ? "wrong PIN" : "no such mailbox", box, attempt,
			       s->cf->pin_tries);
		if (vm_say(s, "vm-incorrect") == OCTO_EHANGUP)
			return OCTO_EHANGUP;
	}
	return OCTO_EINVAL;
}

/* ---------------------------------------------------------------- counts */

/* "You have 2 new messages and 1 saved message". 1 with *choice when a
 * digit interrupted, 0, OCTO_EHANGUP. */
static int vm_say_counts(struct vm_sess *s, char *choice)
{
	struct octo_vm_counts c;
	int rc;

	vm_store_counts(s->box, &c);
	octo_chan_step(s->chan, "VoiceMailMain: mailbox %s has %u new and %u saved messages",
		       s->box, c.new_msgs, c.old_msgs);
	rc = vm_play(&s->p, "vm-youhave", s->lang, VM_KEYS);
	if (rc != AUDIO_END)
		return vm_interrupted(s, rc, choice);
	if (!c.new_msgs && !c.old_msgs)
		return vm_interrupted(s, vm_play(&s->p, "vm-nomessages", s->lang, VM_KEYS), choice);
	if (c.new_msgs) {
		rc = vm_say_number(&s->p, c.new_msgs, s->lang, VM_KEYS);
		if (rc == AUDIO_END)
			rc = vm_play(&s->p, c.new_msgs == 1 ? "vm-newmessage" : "vm-newmessages",
				     s->lang, VM_KEYS);
		if (rc == AUDIO_END && c.old_msgs)
			rc = vm_play(&s->p, "digits/and", s->lang, VM_KEYS);
		if (rc != AUDIO_END)
			return vm_interrupted(s, rc, choice);
	}
	if (c.old_msgs) {
		rc = vm_say_number(&s->p, c.old_msgs, s->lang, VM_KEYS);
		if (rc == AUDIO_END)
			rc = vm_play(&s->p,
				     c.old_msgs == 1 ? "vm-savedmessage" : "vm-savedmessages",
				     s->lang, VM_KEYS);
		if (rc != AUDIO_END)
			return vm_interrupted(s, rc, choice);
	}
	return 0;
}

/* ---------------------------------------------------------------- messages */

/* When and from whom; `date`, `time` and `caller` say which parts. */
static int vm_envelope(struct vm_sess *s, const struct vm_msg *m, bool date, bool time,
		       bool caller)
{
	int rc = AUDIO_END;

	if (date || time) {
		rc = vm_play(&s->p, "vm-received", s->lang, VM_KEYS);
		if (rc == AUDIO_END)
			rc = vm_say_date(&s->p, s->cf, m->created, date, time, s->lang, VM_KEYS);
	}
	if (rc == AUDIO_END && caller) {
		if (*m->caller) {
			rc = vm_play(&s->p, "vm-from", s->lang, VM_KEYS);
			if (rc == AUDIO_END)
				rc = vm_say_digits(&s->p, m->caller, s->lang, VM_KEYS);
		} else {
			rc = vm_play(&s->p, "vm-unknowncaller", s->lang, VM_KEYS);
		}
	}
	return rc;
}

/* The number of the message (first, N, last), the envelope and the
 * recording. Sets *heard when it played to its end. */
static int vm_play_msg(struct vm_sess *s, const struct vm_msg *m, int i, int n, bool *heard)
{
	char path[VM_PATH_MAX];
	int rc;

	*heard = false;
	if (i == 0) {
		rc = vm_play(&s->p, "vm-first", s->lang, VM_KEYS);
	} else if (i == n - 1) {
		rc = vm_play(&s->p, "vm-last", s->lang, VM_KEYS);
	} else {
		rc = vm_play(&s->p, "vm-msgnumber", s->lang, VM_KEYS);
		if (rc == AUDIO_END)
			rc = vm_say_number(&s->p, i + 1, s->lang, VM_KEYS);
	}
	if (rc == AUDIO_END && m->urgent)
		rc = vm_play(&s->p, "vm-urgent", s->lang, VM_KEYS);
	if (rc == AUDIO_END)
		rc = vm_envelope(s, m, s->cf->announce_date, s->cf->announce_time,
					 s->cf->announce_caller);
	if (rc != AUDIO_END)
		return rc;
	if (!vm_msg_path(s->box, m->folder, m->id, path, sizeof(path)) || !vm_file_exists(path)) {
		octo_chan_step(s->chan, "VoiceMailMain: the recording of message %lld is missing",
			       (long long)m->id);
		*heard = true;
		return AUDIO_END;
	}
	octo_chan_step(s->chan, "VoiceMailMain: message %lld (%s, from %s)", (long long)m->id,
		       m->folder == VM_OLD ? "saved" : "new", *m->caller ? m->caller : "unknown");
	rc = vm_play_file(&s->p, path, VM_KEYS);
	*heard = rc == AUDIO_END;
	return rc;
}

/* Moves a new message that was heard to Old (as a mailbox owner expects). */
static void vm_mark_heard(struct vm_sess *s, struct vm_msg *m, bool heard)
{
	if (!heard || m->folder != VM_INBOX)
		return;
	if (vm_store_move(s->box, m->id, VM_OLD) == 0) {
		m->folder = VM_OLD;
		octo_chan_step(s->chan, "VoiceMailMain: message %lld heard: moved to the saved "
			       "messages", (long long)m->id);
		vm_notify(s->box);
	}
}

static void vm_drop(struct vm_msg *msgs, int *n, int i)
{
	memmove(&msgs[i], &msgs[i + 1], (size_t)(*n - i - 1) * sizeof(*msgs));
	(*n)--;
}

/* Listens to the messages of `folder` (-1: new, then saved). Returns 0
 * (back to the main menu), VM_JUMPED or OCTO_EHANGUP. */
static int vm_listen(struct vm_sess *s, int folder)
{
	struct vm_msg *msgs;
	int n, i = 0, rc = 0, timeouts = 0;
	bool heard = false, play = true;
	char choice;

	n = vm_store_list(s->box, folder, &msgs);
	if (n < 0)
		return 0;
	if (folder == VM_OLD && vm_say(s, "vm-folder-saved") == OCTO_EHANGUP) {
		free(msgs);
		return OCTO_EHANGUP;
	}
	if (n == 0) {
		free(msgs);
		return vm_say(s, "vm-youhave&vm-nomessages") == OCTO_EHANGUP ? OCTO_EHANGUP : 0;
	}
	for (;;) {
		struct vm_msg *m = &msgs[i];

		if (play) {
			rc = vm_play_msg(s, m, i, n, &heard);
			play = false;
			rc = vm_interrupted(s, rc, &choice);
			if (rc == 0)
				rc = vm_choice(s, "vm-msgmenu&vm-msgmenu-more", &choice);
		} else {
			rc = vm_choice(s, NULL, &choice);
		}
		if (rc < 0)
			break;
		if (rc == 0) {
			if (++timeouts >= VM_TIMEOUTS) {
				vm_mark_heard(s, m, heard);
				rc = 0;
				break;
			}
			rc = vm_choice(s, "vm-msgmenu&vm-msgmenu-more", &choice);
			if (rc < 0)
				break;
			if (rc == 0)
				continue;
		}
		timeouts = 0;
		switch (choice) {
		case '4':
			vm_mark_heard(s, m, heard);
			if (i == 0) {
				rc = vm_say(s, "vm-first");
			} else {
				i--;
				play = true;
			}
			break;
		case '5':
			play = true;
			break;
		case '6':
			vm_mark_heard(s, m, heard);
			if (i + 1 >= n) {
				rc = vm_say(s, "vm-nomore");
			} else {
				i++;
				play = true;
			}
			break;
		case '7':
			if (vm_store_delete(s->box, m->id) == 0) {
				octo_chan_step(s->chan, "VoiceMailMain: message %lld deleted",
					       (long long)m->id);
				vm_notify(s->box);
			}
			vm_drop(msgs, &n, i);
			rc = vm_say(s, "vm-deleted");
			if (rc == AUDIO_END && n == 0)
				rc = vm_say(s, "vm-nomore");
			if (n == 0)
				goto done;
			if (i >= n) {
				rc = rc == AUDIO_END ? vm_say(s, "vm-nomore") : rc;
				i = n - 1;
				break;
			}
			play = true;
			break;
		case '9':
			if (m->folder == VM_INBOX && vm_store_move(s->box, m->id, VM_OLD) == 0) {
				m->folder = VM_OLD;
				octo_chan_step(s->chan, "VoiceMailMain: message %lld saved",
					       (long long)m->id);
				vm_notify(s->box);
			}
			rc = vm_say(s, "vm-msgsaved");
			if (i + 1 >= n) {
				rc = rc == AUDIO_END ? vm_say(s, "vm-nomore") : rc;
				break;
			}
			i++;
			play = true;
			break;
		case '3':
			rc = vm_envelope(s, m, true, true, true);
			if (rc == AUDIO_DIGIT)
				rc = AUDIO_END; /* the digit is dropped: the menu follows */
			break;
		case '8':
			vm_mark_heard(s, m, heard);
			if (!*s->cf->callback) {
				octo_chan_step(s->chan, "VoiceMailMain: call back is off "
					       "(voicemail.conf callback)");
				rc = vm_say(s, "invalid");
				break;
			}
			if (!*m->caller) {
				rc = vm_say(s, "vm-nocallback");
				break;
			}
			octo_chan_step(s->chan, "VoiceMailMain: calling back %s in [%s]", m->caller,
				       s->cf->callback);
			if (octo_pbx_goto(s->chan, s->cf->callback, m->caller, "1") == 0) {
				rc = VM_JUMPED;
				goto done;
			}
			rc = vm_say(s, "vm-nocallback");
			break;
		case '*':
			rc = vm_say(s, "vm-msgmenu&vm-msgmenu-more");
			break;
		case '#':
			vm_mark_heard(s, m, heard);
			rc = 0;
			goto done;
		default:
			rc = vm_say(s, "invalid");
			break;
		}
		if (rc == OCTO_EHANGUP)
			break;
	}
done:
	free(msgs);
	if (rc == OCTO_EHANGUP || rc == VM_JUMPED)
		return rc;
	return 0;
}

/* ---------------------------------------------------------------- options */

static int vm_record_greeting(struct vm_sess *s, const char *kind, const char *prompt)
{
	char path[VM_PATH_MAX], fresh[VM_PATH_MAX];
	uint64_t samples;
	unsigned ms;
	int end;

	if (vm_box_mkdirs(s->box) || !vm_greeting_path(s->box, kind, path, sizeof(path)) ||
	    (size_t)snprintf(fresh, sizeof(fresh), "%s.new.wav", path) >= sizeof(fresh))
		return vm_say(s, "invalid");
	if (vm_say(s, prompt) == OCTO_EHANGUP)
		return OCTO_EHANGUP;
	end = vm_record(s->chan, "VoiceMailMain", fresh, s->cf->quality,
			s->cf->max_greeting * 1000u, s->cf->max_silence * 1000u,
			s->cf->silence_threshold, true, s->lang, &samples);
	ms = (unsigned)(samples * 1000 / OCTO_FRAME_RATE);
	if (end == VM_REC_ERROR)
		return octo_chan_is_hungup(s->chan) ? OCTO_EHANGUP : vm_say(s, "invalid");
	if (ms < VM_GREETING_MIN_MS) {
		octo_chan_step(s->chan, "VoiceMailMain: the %s greeting is too short (%u ms): the "
			       "old one stays", kind, ms);
		unlink(fresh);
		return end == VM_REC_HANGUP ? OCTO_EHANGUP : vm_say(s, "invalid");
	}
	if (rename(fresh, path)) {
		octo_chan_step(s->chan, "VoiceMailMain: cannot save %s: %s", path, strerror(errno));
		unlink(fresh);
		return end == VM_REC_HANGUP ? OCTO_EHANGUP : vm_say(s, "invalid");
	}
	octo_chan_step(s->chan, "VoiceMailMain: %s greeting recorded (%u ms)", kind, ms);
	return end == VM_REC_HANGUP ? OCTO_EHANGUP : vm_say(s, "vm-msgsaved");
}

static int vm_change_pin(struct vm_sess *s)
{
	char p1[VM_PIN_MAX + 2], p2[VM_PIN_MAX + 2];
	int rc;

	rc = vm_read(s, "vm-newpassword", p1, sizeof(p1));
	if (rc < 0)
		return rc;
	if (!vm_pin_valid(p1)) {
		octo_chan_step(s->chan, "VoiceMailMain: a new PIN must have %d to %d digits",
			       VM_PIN_MIN, VM_PIN_MAX);
		return vm_say(s, "vm-pin-invalid");
	}
	rc = vm_read(s, "vm-reenterpassword", p2, sizeof(p2));
	if (rc < 0)
		return rc;
	if (strcmp(p1, p2)) {
		octo_chan_step(s->chan, "VoiceMailMain: the two PINs typed differ: unchanged");
		return vm_say(s, "vm-mismatch");
	}
	if (vm_pin_set(s->box, p1)) {
		octo_chan_step(s->chan, "VoiceMailMain: the new PIN could not be stored");
		return vm_say(s, "invalid");
	}
	octo_chan_step(s->chan, "VoiceMailMain: PIN of mailbox %s changed", s->box);
	return vm_say(s, "vm-passchanged");
}

static int vm_options(struct vm_sess *s)
{
	char path[VM_PATH_MAX], choice;
	int rc, timeouts = 0;

	for (;;) {
		rc = vm_choice(s, "vm-options&vm-options-temp", &choice);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if (++timeouts >= VM_TIMEOUTS)
				return 0;
			continue;
		}
		timeouts = 0;
		switch (choice) {
		case '1':
			rc = vm_record_greeting(s, "unavail", "vm-rec-unavail");
			break;
		case '2':
			rc = vm_record_greeting(s, "busy", "vm-rec-busy");
			break;
		case '3':
			rc = vm_record_greeting(s, "name", "vm-rec-name");
			break;
		case '4':
			rc = vm_change_pin(s);
			break;
		case '5':
			rc = vm_record_greeting(s, "temp", "vm-rec-temp");
			break;
		case '6':
			if (vm_greeting_path(s->box, "temp", path, sizeof(path)))
				unlink(path);
			octo_chan_step(s->chan, "VoiceMailMain: temporary greeting erased");
			rc = vm_say(s, "vm-tempremoved");
			break;
		case '*':
		case '#':
			return 0;
		default:
			rc = vm_say(s, "invalid");
			break;
		}
		if (rc == OCTO_EHANGUP)
			return rc;
	}
}

/* ---------------------------------------------------------------- VoiceMailMain */

static int vm_menu(struct vm_sess *s)
{
	char choice = 0;
	int rc, timeouts = 0;
	bool have;

	rc = vm_say_counts(s, &choice);
	if (rc < 0)
		return rc;
	have = rc == 1;
	for (;;) {
		if (!have) {
			rc = vm_choice(s, "vm-mainmenu", &choice);
			if (rc < 0)
				return rc;
			if (rc == 0) {
				if (++timeouts >= VM_TIMEOUTS) {
					vm_say(s, "vm-goodbye");
					return 0;
				}
				continue;
			}
		}
		have = false;
		timeouts = 0;
		switch (choice) {
		case '1':
			rc = vm_listen(s, -1);
			break;
		case '2':
			rc = vm_listen(s, VM_OLD);
			break;
		case '0':
			rc = vm_options(s);
			break;
		case '*':
			rc = vm_say(s, "vm-menu-listen&vm-menu-folders&vm-menu-options&"
				    "vm-menu-help&vm-menu-exit");
			break;
		case '#':
			octo_chan_var_set(s->chan, "VMSTATUS", "USEREXIT");
			octo_chan_step(s->chan, "VoiceMailMain: the caller left the mailbox");
			return vm_say(s, "vm-goodbye") == OCTO_EHANGUP ? OCTO_EHANGUP : 0;
		default:
			rc = vm_say(s, "invalid");
			break;
		}
		if (rc == OCTO_EHANGUP || rc == VM_JUMPED)
			return rc;
	}
}

int vm_main_exec(struct octo_channel *chan, char *args)
{
	char *argv[3], clean[OCTO_CFG_CLEAN];
	int argc = octo_args_split(args, argv, 3), rc;
	const char *given = argc >= 1 ? argv[0] : "";
	bool skip_pin = false;
	struct vm_sess s = { .chan = chan };

	octo_chan_var_set(chan, "VMSTATUS", "FAILED");
	if (argc > 2) {
		octo_chan_step(chan, "VoiceMailMain: too many arguments "
			       "(VoiceMailMain([box][,options]))");
		return OCTO_EINVAL;
	}
	if (*given && !vm_box_valid(given)) {
		octo_chan_step(chan, "VoiceMailMain: \"%s\" is not a mailbox name: asking for it",
			       octo_cfg_clean(clean, given));
		given = "";
	}
	for (const char *o = argc >= 2 ? argv[1] : ""; *o; o++) {
		if (*o != 's') {
			octo_chan_step(chan, "VoiceMailMain: unknown option '%c' (s)",
				       *o >= ' ' && *o < 127 ? *o : '?');
			return OCTO_EINVAL;
		}
		skip_pin = true;
	}
	s.cf = vm_conf_get();
	if (!s.cf)
		return OCTO_EFAIL;
	rc = audio_answer(chan, "VoiceMailMain", false);
	if (rc)
		goto out;
	audio_language(chan, s.lang);
	audio_player_init(&s.p, chan, "VoiceMailMain");
	rc = vm_login(&s, given, skip_pin);
	if (rc == OCTO_EHANGUP) {
		rc = OCTO_APP_HANGUP;
		goto out;
	}
	if (rc) {
		octo_chan_step(chan, "VoiceMailMain: log-in failed: hanging up");
		vm_say(&s, "vm-goodbye");
		rc = OCTO_APP_HANGUP;
		goto out;
	}
	octo_chan_var_set(chan, "VMSTATUS", "SUCCESS");
	rc = vm_menu(&s);
	if (rc == OCTO_EHANGUP)
		rc = OCTO_APP_HANGUP;
	else
		rc = OCTO_APP_CONTINUE; /* also after a call back: the engine goes there */
out:
	octo_obj_unref(s.user);
	octo_obj_unref(s.cf);
	return rc;
}
