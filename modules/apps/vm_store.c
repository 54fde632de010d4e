/*
 * vm_store.c - the mailboxes of app_voicemail: message files under
 * DATA/voicemail/<box>/ and their index in the SQLite store (table
 * vm_message), PINs changed from a phone (table vm_pin), and what follows
 * a change: the MWI service is told the new counts, the user gets an
 * e-mail about a new message.
 *
 * DESIGN: the store is the truth. A message exists when its row exists;
 * its file is DATA/voicemail/<box>/<folder>/msg<id>.wav. Adding and moving
 * rename the file inside a store transaction, so a failed rename leaves
 * the row as it was. Ids are AUTOINCREMENT: never reused, so a file name
 * never names two messages over time.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "octo/channel.h"
#include "octo/clock.h"
#include "octo/log.h"
#include "octo/mail.h"
#include "octo/obj.h"
#include "octo/registry.h"
#include "octo/store.h"
#include "octo/users.h"
#include "vm.h"

static const char *const vm_schema[] = {
	/* version 1 */
	"CREATE TABLE vm_message(id INTEGER PRIMARY KEY AUTOINCREMENT, box TEXT NOT NULL, "
	"folder INTEGER NOT NULL, caller TEXT NOT NULL, caller_name TEXT NOT NULL, "
	"created INTEGER NOT NULL, duration_ms INTEGER NOT NULL, urgent INTEGER NOT NULL);"
	"CREATE INDEX vm_message_box ON vm_message(box, folder);"
	"CREATE TABLE vm_pin(box TEXT PRIMARY KEY, pin TEXT NOT NULL, changed INTEGER NOT NULL)",
};

int vm_store_init(void)
{
	return octo_store_migrate(VM_HOLDER, vm_schema, OCTO_ARRAY_LEN(vm_schema)) < 0 ? OCTO_EFAIL
										       : 0;
}

/* ---------------------------------------------------------------- paths */

char *vm_box_path(const char *box, char *buf, size_t size)
{
	int n;

	if (!octo_paths.data_dir || !*octo_paths.data_dir || !vm_box_valid(box))
		return NULL;
	n = snprintf(buf, size, "%s/voicemail/%s", octo_paths.data_dir, box);
	return n < 0 || (size_t)n >= size ? NULL : buf;
}

char *vm_msg_path(const char *box, int folder, int64_t id, char *buf, size_t size)
{
	char dir[VM_PATH_MAX];
	int n;

	if (!vm_box_path(box, dir, sizeof(dir)))
		return NULL;
	n = snprintf(buf, size, "%s/%s/msg%06lld.wav", dir, vm_folder_name(folder),
		     (long long)id);
	return n < 0 || (size_t)n >= size ? NULL : buf;
}

char *vm_greeting_path(const char *box, const char *kind, char *buf, size_t size)
{
	char dir[VM_PATH_MAX];
	int n;

	if (!vm_box_path(box, dir, sizeof(dir)))
		return NULL;
	n = snprintf(buf, size, "%s/greet/%s.wav", dir, kind);
	return n < 0 || (size_t)n >= size ? NULL : buf;
}

static int vm_mkdir(const char *path)
{
	if (mkdir(path, 0750) && errno != EEXIST)
		return errno;
	return 0;
}

int vm_box_mkdirs(const char *box)
{
	static const char *const subs[] = { "INBOX", "Old", "greet", "tmp" };
	char dir[VM_PATH_MAX], path[VM_PATH_MAX + 16];
	int rc;

	if (!vm_box_path(box, dir, sizeof(dir)))
		return ENAMETOOLONG;
	snprintf(path, sizeof(path), "%s/voicemail", octo_paths.data_dir);
	if ((rc = vm_mkdir(path)) || (rc = vm_mkdir(dir)))
		return rc;
	for (size_t i = 0; i < OCTO_ARRAY_LEN(subs); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		if ((rc = vm_mkdir(path)))
			return rc;
	}
	return 0;
}

bool vm_file_exists(const char *path)
{
	struct stat st;

	return path && !stat(path, &st) && S_ISREG(st.st_mode);
}

/* ---------------------------------------------------------------- counts and lists */

static int vm_count_row(const struct octo_store_row *row, void *data)
{
	struct octo_vm_counts *c = data;
	int64_t folder = octo_store_row_int(row, 0), n = octo_store_row_int(row, 1);
	int64_t urgent = octo_store_row_int(row, 2);

	if (n < 0 || urgent < 0)
		return 0;
	if (folder == VM_OLD) {
		c->old_msgs += (unsigned)n;
		c->old_urgent += (unsigned)urgent;
	} else {
		c->new_msgs += (unsigned)n;
		c->new_urgent += (unsigned)urgent;
	}
	return 0;
}

int vm_store_counts(const char *box, struct octo_vm_counts *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = octo_store_query("SELECT folder, count(*), sum(urgent) FROM vm_message WHERE box = ? "
			      "GROUP BY folder",
			      OCTO_STORE_ARGS(OCTO_STORE_T(box)), vm_count_row, out);
	if (rc < 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	return 0;
}

struct vm_list {
	struct vm_msg *msgs;
	size_t count, cap;
	bool nomem;
};

static int vm_list_row(const struct octo_store_row *row, void *data)
{
	struct vm_list *l = data;
	struct vm_msg *m;
	const char *s;

	if (l->count == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct vm_msg *n = realloc(l->msgs, cap * sizeof(*n));

		if (!n) {
			l->nomem = true;
			return 1;
		}
		l->msgs = n;
		l->cap = cap;
	}
	m = &l->msgs[l->count++];
	memset(m, 0, sizeof(*m));
	m->id = octo_store_row_int(row, 0);
	m->folder = octo_store_row_int(row, 1) == VM_OLD ? VM_OLD : VM_INBOX;
	if ((s = octo_store_row_text(row, 2)))
		octo_strlcpy(m->caller, s, sizeof(m->caller));
	if ((s = octo_store_row_text(row, 3)))
		octo_strlcpy(m->caller_name, s, sizeof(m->caller_name));
	m->created = octo_store_row_int(row, 4);
	m->duration_ms = (unsigned)octo_store_row_int(row, 5);
	m->urgent = octo_store_row_int(row, 6) != 0;
	return 0;
}

int vm_store_list(const char *box, int folder, struct vm_msg **out)
{
	struct vm_list l = { 0 };
	int rc;

	*out = NULL;
	if (folder < 0)
		rc = octo_store_query("SELECT id, folder, caller, caller_name, created, "
				      "duration_ms, urgent FROM vm_message WHERE box = ? "
				      "ORDER BY folder, id",
				      OCTO_STORE_ARGS(OCTO_STORE_T(box)), vm_list_row, &l);
	else
		rc = octo_store_query("SELECT id, folder, caller, caller_name, created, "
				      "duration_ms, urgent FROM vm_message WHERE box = ? "
				      "AND folder = ? ORDER BY id",
				      OCTO_STORE_ARGS(OCTO_STORE_T(box), OCTO_STORE_I(folder)),
				      vm_list_row, &l);
	if (rc < 0 || l.nomem) {
		free(l.msgs);
		return rc < 0 ? rc : OCTO_ENOMEM;
	}
	*out = l.msgs;
	return (int)l.count;
}

/* ---------------------------------------------------------------- changes */

struct vm_add {
	const char *box, *part;
	struct vm_msg *m;
};

static int vm_add_txn(void *data)
{
	struct vm_add *a = data;
	char path[VM_PATH_MAX];
	int64_t id;
	int rc;

	rc = octo_store_insert("INSERT INTO vm_message(box, folder, caller, caller_name, created, "
			       "duration_ms, urgent) VALUES(?, ?, ?, ?, ?, ?, ?)",
			       OCTO_STORE_ARGS(OCTO_STORE_T(a->box), OCTO_STORE_I(VM_INBOX),
					       OCTO_STORE_T(a->m->caller),
					       OCTO_STORE_T(a->m->caller_name),
					       OCTO_STORE_I(a->m->created),
					       OCTO_STORE_I(a->m->duration_ms),
					       OCTO_STORE_I(a->m->urgent ? 1 : 0)),
			       &id);
	if (rc < 0)
		return rc;
	if (!vm_msg_path(a->box, VM_INBOX, id, path, sizeof(path)))
		return OCTO_EINVAL;
	if (rename(a->part, path)) {
		octo_log(OCTO_WARNING, "voicemail %s: cannot move %s to %s: %s", a->box, a->part,
			 path, strerror(errno));
		return OCTO_EFAIL;
	}
	a->m->id = id;
	a->m->folder = VM_INBOX;
	return 0;
}

int vm_store_add(const char *box, const char *part, struct vm_msg *m)
{
	struct vm_add a = { .box = box, .part = part, .m = m };

	return octo_store_transaction(vm_add_txn, &a);
}

struct vm_move {
	const char *box;
	int64_t id;
	int folder;
};

static int vm_move_txn(void *data)
{
	struct vm_move *mv = data;
	char from[VM_PATH_MAX], to[VM_PATH_MAX];
	int64_t folder;
	int rc;

	rc = octo_store_query_int("SELECT folder FROM vm_message WHERE box = ? AND id = ?",
				  OCTO_STORE_ARGS(OCTO_STORE_T(mv->box), OCTO_STORE_I(mv->id)),
				  &folder);
	if (rc)
		return rc;
	if (folder == mv->folder)
		return 0;
	rc = octo_store_exec("UPDATE vm_message SET folder = ? WHERE box = ? AND id = ?",
			     OCTO_STORE_ARGS(OCTO_STORE_I(mv->folder), OCTO_STORE_T(mv->box),
					     OCTO_STORE_I(mv->id)));
	if (rc < 0)
		return rc;
	if (!vm_msg_path(mv->box, (int)folder, mv->id, from, sizeof(from)) ||
	    !vm_msg_path(mv->box, mv->folder, mv->id, to, sizeof(to)))
		return OCTO_EINVAL;
	if (rename(from, to) && !(errno == ENOENT && vm_file_exists(to))) {
		octo_log(OCTO_WARNING, "voicemail %s: cannot move %s to %s: %s", mv->box, from, to,
			 strerror(errno));
		return OCTO_EFAIL;
	}
	return 0;
}

int vm_store_move(const char *box, int64_t id, int folder)
{
	struct vm_move mv = { .box = box, .id = id, .folder = folder };

	return octo_store_transaction(vm_move_txn, &mv);
}

int vm_store_delete(const char *box, int64_t id)
{
	char path[VM_PATH_MAX];
	int64_t folder;
	int rc;

	rc = octo_store_query_int("SELECT folder FROM vm_message WHERE box = ? AND id = ?",
				  OCTO_STORE_ARGS(OCTO_STORE_T(box), OCTO_STORE_I(id)), &folder);
	if (rc)
		return rc;
	rc = octo_store_exec("DELETE FROM vm_message WHERE box = ? AND id = ?",
			     OCTO_STORE_ARGS(OCTO_STORE_T(box), OCTO_STORE_I(id)));
	if (rc < 0)
		return rc;
	if (rc == 0)
		return OCTO_ENOTFOUND;
	if (vm_msg_path(box, (int)folder, id, path, sizeof(path)) && unlink(path) &&
	    errno != ENOENT)
		octo_log(OCTO_WARNING, "voicemail %s: cannot delete %s: %s", box, path,
			 strerror(errno));
	return 0;
}

/* ---------------------------------------------------------------- PINs */

void vm_pin_get(const char *box, const struct octo_user *user, char *pin, size_t size)
{
	if (octo_store_query_text("SELECT pin FROM vm_pin WHERE box = ?",
				  OCTO_STORE_ARGS(OCTO_STORE_T(box)), pin, size) == 0 &&
	    vm_pin_valid(pin))
		return;
	octo_strlcpy(pin, user && user->voicemail_pin ? user->voicemail_pin : "", size);
}

int vm_pin_set(const char *box, const char *pin)
{
	int rc;

	if (!vm_box_valid(box) || !vm_pin_valid(pin))
		return OCTO_EINVAL;
	rc = octo_store_exec("INSERT OR REPLACE INTO vm_pin(box, pin, changed) VALUES(?, ?, ?)",
			     OCTO_STORE_ARGS(OCTO_STORE_T(box), OCTO_STORE_T(pin),
					     OCTO_STORE_I(octo_time())));
	return rc < 0 ? rc : 0;
}

bool vm_pin_overridden(const char *box)
{
	int64_t n;

	return octo_store_query_int("SELECT count(*) FROM vm_pin WHERE box = ?",
				    OCTO_STORE_ARGS(OCTO_STORE_T(box)), &n) == 0 &&
	       n > 0;
}

/* ---------------------------------------------------------------- notifications */

void vm_notify(const char *box)
{
	const struct octo_mwi_api *mwi;
	struct octo_vm_counts c;

	mwi = octo_service_get(OCTO_MWI_SERVICE, 1, VM_HOLDER);
	if (!mwi)
		return;
	if (vm_store_counts(box, &c) == 0 && mwi->changed)
		mwi->changed(box, &c);
	octo_service_put(mwi, VM_HOLDER);
}

void vm_date_text(const struct vm_conf *cf, int64_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!cf->tz || octo_tz_localtime(cf->tz, (time_t)t, &tm)) {
		snprintf(buf, size, "%lld", (long long)t);
		return;
	}
	snprintf(buf, size, "%04d-%02d-%02d %02d:%02d (%s)", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_zone ? tm.tm_zone : "");
}

void vm_email(struct octo_channel *chan, const struct vm_conf *cf, const struct octo_user *user,
	      const struct vm_msg *m, const char *path)
{
	const struct octo_mail_api *mail;
	struct octo_mail_attachment att;
	struct vm_mail_info info;
	char subject[512], *body, date[64], fname[80], from[128];
	const char *to[1];
	uint64_t qid = 0;
	int rc;

	if (!cf->email || !user->email || !*user->email)
		return;
	mail = octo_service_get(OCTO_MAIL_SERVICE, 1, VM_HOLDER);
	if (!mail) {
		if (chan)
			octo_chan_step(chan, "VoiceMail: no e-mail to %s: the mail service "
				       "(res_smtp) is not loaded", user->email);
		return;
	}
	body = malloc(4096);
	if (!body) {
		octo_service_put(mail, VM_HOLDER);
		return;
	}
	vm_date_text(cf, m->created, date, sizeof(date));
	info = (struct vm_mail_info){ .box = user->extension, .user_name = user->name,
				      .caller = m->caller, .caller_name = m->caller_name,
				      .date = date, .duration_ms = m->duration_ms, .id = m->id,
				      .urgent = m->urgent, .attached = cf->attach,
				      .deleted = cf->attach && cf->delete_after_email };
	vm_mail_text(&info, subject, sizeof(subject), body, 4096);
	snprintf(fname, sizeof(fname), "voicemail-%s-%lld.wav", user->extension, (long long)m->id);
	snprintf(from, sizeof(from), "%s %s", cf->from_name, user->extension);
	att = (struct octo_mail_attachment){ .path = path, .filename = fname,
					     .mime_type = "audio/wav" };
	to[0] = user->email;
	rc = mail->send(&(struct octo_mail){ .to = to, .to_count = 1, .subject = subject,
					     .body = body, .attachments = cf->attach ? &att : NULL,
					     .attachment_count = cf->attach ? 1 : 0,
					     .from_name = from, .origin = VM_HOLDER },
			&qid);
	octo_service_put(mail, VM_HOLDER);
	free(body);
	if (rc) {
		if (chan)
			octo_chan_step(chan, "VoiceMail: the e-mail to %s was refused: %s",
				       user->email, octo_strerror(rc));
		return;
	}
	if (chan)
		octo_chan_step(chan, "VoiceMail: e-mail to %s queued (mail %llu%s)", user->email,
			       (unsigned long long)qid, cf->attach ? ", recording attached" : "");
	if (cf->attach && cf->delete_after_email && vm_store_delete(user->extension, m->id) == 0 &&
	    chan)
		octo_chan_step(chan, "VoiceMail: message %lld deleted after the e-mail (%s)",
			       (long long)m->id, "delete_after_email");
}
