/*
 * vm.h - what the files of app_voicemail share (not a public API):
 *
 *   app_voicemail.c  the module: voicemail.conf, VoiceMail, the CLI, the
 *                    "voicemail" service
 *   vm_main.c        VoiceMailMain: PIN, counts, the menus
 *   vm_store.c       the mailboxes on disk and their index in the store,
 *                    PINs, e-mail and MWI notifications
 *   vm_record.c      recording the caller (greetings and messages)
 *
 * LAYOUT ON DISK (DATA = octo.conf [directories] data)
 *   DATA/voicemail/<box>/INBOX/msg<id>.wav    new messages
 *   DATA/voicemail/<box>/Old/msg<id>.wav      heard and saved
 *   DATA/voicemail/<box>/greet/unavail.wav, busy.wav, temp.wav, name.wav
 *   DATA/voicemail/<box>/tmp/                 recordings in progress
 * <id> is the message's row id in the store table vm_message, which also
 * holds its folder, caller, date, duration and urgent flag; a message's
 * file name follows from (box, folder, id).
 *
 * Thread context: call threads and CLI workers (all of it touches the disk
 * or the store); the pure helpers anywhere.
 */
#ifndef OCTO_APPS_VM_H
#define OCTO_APPS_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "octo/voicemail.h"

struct octo_channel;
struct octo_diags;
struct octo_tz;
struct octo_user;
struct audio_player;

#define VM_FILE "voicemail.conf"
#define VM_HOLDER "app_voicemail"
#define VM_PIN_MIN 4
#define VM_PIN_MAX 16
#define VM_PATH_MAX 4096

/* ---------------------------------------------------------------- config */

/* features.conf [general] voicemail_quality: low (8 kHz u-law WAV),
 * standard (8 kHz 16-bit WAV), high (16 kHz 16-bit WAV). */
enum vm_quality { VM_Q_LOW = 0, VM_Q_STANDARD, VM_Q_HIGH };

/* voicemail.conf [general] and the voicemail keys of features.conf
 * [general], an immutable refcounted snapshot (obj.h). */
struct vm_conf {
	unsigned max_message;       /* s: longest message */
	unsigned min_message;       /* ms: shorter messages are discarded */
	unsigned max_greeting;      /* s: longest greeting */
	unsigned max_silence;       /* s of silence that end a recording; 0 never */
	unsigned silence_threshold; /* RMS of a frame below which it is silence */
	unsigned max_messages;      /* per mailbox, both folders */
	bool email;                 /* e-mail the user about new messages */
	bool attach;                /* ... with the recording */
	bool delete_after_email;    /* and then delete it from the mailbox */
	/* features.conf [general] (app_features documents and checks them) */
	int quality;                /* enum vm_quality: voicemail_quality */
	bool announce_date;         /* voicemail_announce_date: say the day of a message */
	bool announce_time;         /* voicemail_announce_time: ... and the time */
	bool announce_caller;       /* voicemail_announce_caller: ... and the caller */
	unsigned pin_tries;
	unsigned digit_timeout;     /* ms: PIN digits and menu choices */
	char *callback;             /* procedure of call back (option 8); "" off */
	char *from_name;            /* display name of the e-mails */
	char *timezone;             /* of dates said and written; "" the system's */
	struct octo_tz *tz;
};

/* The running config: a new reference (never NULL once loaded). */
struct vm_conf *vm_conf_get(void);

/* Reads `file` (voicemail.conf) and the voicemail keys of features.conf in
 * `dir` into a new config, or NULL with the problems in `diags`. Problems
 * of features.conf are app_features' to report: its defaults are used then. */
struct vm_conf *vm_conf_parse(const char *dir, const char *file, struct octo_diags *diags);

/* The sound format ("wav", "wav_ulaw") and sample rate of a quality. */
const char *vm_quality_format(int quality);
unsigned vm_quality_rate(int quality);

/* ---------------------------------------------------------------- pure helpers */

/* True for a mailbox name: 1..OCTO_VM_BOX_MAX letters, digits, '-' or '_'. */
bool vm_box_valid(const char *box);
/* True for a PIN: VM_PIN_MIN..VM_PIN_MAX digits. */
bool vm_pin_valid(const char *pin);
/* Options of VoiceMail(box,options): 'u' 'b' 's' 'U'; false on another. */
struct vm_leave_opts {
	bool busy, unavail, skip, urgent;
};
bool vm_leave_opts_parse(const char *text, struct vm_leave_opts *out, char *bad);
/* "1:05" for 65432 ms (rounded to the second, at least 0:01). */
void vm_duration_text(unsigned ms, char *buf, size_t size);
/* The e-mail about a new message: subject and body (UTF-8). */
struct vm_mail_info {
	const char *box, *user_name, *caller, *caller_name, *date;
	unsigned duration_ms;
	int64_t id;
	bool urgent, attached, deleted;
};
void vm_mail_text(const struct vm_mail_info *m, char *subject, size_t ssize, char *body,
		  size_t bsize);

/* ---------------------------------------------------------------- the store */

enum vm_folder { VM_INBOX = 0, VM_OLD = 1 };
const char *vm_folder_name(int folder); /* "INBOX", "Old" */

struct vm_msg {
	int64_t id;
	int folder;              /* enum vm_folder */
	char caller[64];         /* "" unknown */
	char caller_name[96];
	int64_t created;         /* unix time, PBX clock */
	unsigned duration_ms;
	bool urgent;
};

/* Creates or upgrades the tables. 0 or OCTO_E*. */
int vm_store_init(void);

/* Counts of a mailbox from the index. 0 or OCTO_E* (then zeroes). */
int vm_store_counts(const char *box, struct octo_vm_counts *out);

/* The messages of `box`: new first, then old, each oldest first (folder -1:
 * both; else just that one). *out is malloc'ed (free it). Returns the count
 * or OCTO_E*. */
int vm_store_list(const char *box, int folder, struct vm_msg **out);

/* Files the recording `part` as a new message of `box`: the index row and
 * the file INBOX/msg<id>.wav, in one transaction. 0 with m->id, or OCTO_E*. */
int vm_store_add(const char *box, const char *part, struct vm_msg *m);

/* Moves a message to another folder (file and row). 0, OCTO_ENOTFOUND or OCTO_E*. */
int vm_store_move(const char *box, int64_t id, int folder);

/* Deletes a message (row and file). 0, OCTO_ENOTFOUND or OCTO_E*. */
int vm_store_delete(const char *box, int64_t id);

/* Paths: the mailbox folder, a message's file, a greeting's file (kind
 * "unavail", "busy", "temp", "name"), the tmp folder. Return buf, or NULL
 * when there is no data folder or the path does not fit. */
char *vm_box_path(const char *box, char *buf, size_t size);
char *vm_msg_path(const char *box, int folder, int64_t id, char *buf, size_t size);
char *vm_greeting_path(const char *box, const char *kind, char *buf, size_t size);

/* Makes the folders of a mailbox (0750). 0 or an errno. */
int vm_box_mkdirs(const char *box);

/* True when a regular file exists at path. */
bool vm_file_exists(const char *path);

/* The PIN of `box`: the one changed from a phone (store), else users.conf
 * voicemail_pin of `user`. "" when none. */
void vm_pin_get(const char *box, const struct octo_user *user, char *pin, size_t size);
/* Stores a new PIN for `box` (it overrides users.conf). 0 or OCTO_E*. */
int vm_pin_set(const char *box, const char *pin);
/* True when the PIN of `box` comes from the store. */
bool vm_pin_overridden(const char *box);

/* Tells the MWI service (when loaded) the counts of `box` now. */
void vm_notify(const char *box);

/* E-mails the user of `box` about message `m` (file at `path`) when the
 * config says so and the user has an address; then deletes the message if
 * delete_after_email. Step-logs on `chan` (may be NULL). */
void vm_email(struct octo_channel *chan, const struct vm_conf *cf, const struct octo_user *user,
	      const struct vm_msg *m, const char *path);

/* A date as text in the config's zone: "2026-11-26 10:15". */
void vm_date_text(const struct vm_conf *cf, int64_t t, char *buf, size_t size);

/* ---------------------------------------------------------------- recording */

enum vm_rec_end { VM_REC_DTMF = 1, VM_REC_SILENCE, VM_REC_TIMEOUT, VM_REC_HANGUP, VM_REC_ERROR };
const char *vm_rec_end_name(int end);

/*
 * Records the caller into `path` (written as path + ".part" and renamed at
 * the end) in the sound format `format`, until # (not kept), hang-up,
 * max_ms, or silence_ms of frames quieter than `threshold` (0: never; the
 * trailing silence is left out), in the format and rate of `quality`
 * (high: the 8 kHz audio interpolated to 16 kHz). Beeps first when `beep`. Returns the end
 * (enum vm_rec_end) with the samples kept (at 8 kHz) in *samples; VM_REC_ERROR when
 * nothing could be recorded (e.g. a channel without audio; step-logged),
 * and then no file is left.
 */
int vm_record(struct octo_channel *chan, const char *app, const char *path, int quality,
	      unsigned max_ms, unsigned silence_ms, unsigned threshold, bool beep,
	      const char *lang, uint64_t *samples);

/* ---------------------------------------------------------------- prompts */

/* Plays prompts (names separated by '&', a copy is cut up) in `lang`,
 * interruptible by the digits of `stop` (NULL: none). Returns AUDIO_END,
 * AUDIO_DIGIT (p->digit), OCTO_EHANGUP. */
int vm_play(struct audio_player *p, const char *list, const char *lang, const char *stop);
/* Plays a sound file (a greeting, a message). Same returns. */
int vm_play_file(struct audio_player *p, const char *path, const char *stop);
/* Says a number / the digits of a number. Same returns. */
int vm_say_number(struct audio_player *p, long n, const char *lang, const char *stop);
int vm_say_digits(struct audio_player *p, const char *digits, const char *lang,
		  const char *stop);
/* Says a unix time in the config's zone: the day when `date`, the time
 * when `time` (both: "Monday, March fifth, at 2 30 PM"). */
int vm_say_date(struct audio_player *p, const struct vm_conf *cf, int64_t t, bool date, bool time,
		const char *lang, const char *stop);

/* VoiceMailMain (vm_main.c). */
int vm_main_exec(struct octo_channel *chan, char *args);

#endif
