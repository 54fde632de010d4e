/*
 * mail.h - sending e-mail, offered by the res_smtp module as the service
 * "mail" version 1 (registry.h). Voicemail uses it now; missed-call, fax and
 * SMS notifications later.
 *
 *   const struct octo_mail_api *mail = octo_service_get(OCTO_MAIL_SERVICE, 1, "app_voicemail");
 *   const char *to[] = { "alice@example.com" };
 *   struct octo_mail_attachment att = { .path = wav_path, .filename = "msg0001.wav" };
 *   struct octo_mail m = {
 *       .to = to, .to_count = 1,
 *       .subject = "New voicemail from 0612345678",
 *       .body = "You have a new message (0:42).\n",
 *       .attachments = &att, .attachment_count = 1,
 *       .origin = "app_voicemail",
 *   };
 *   uint64_t id;
 *   if (mail && mail->send(&m, &id) == 0)
 *       ... queued as message `id` ...
 *   octo_service_put(mail, "app_voicemail");
 *
 * WHAT send() DOES
 * It checks the message, copies every attachment into the mail spool
 * (DATA/mail/spool, DATA being octo_paths.data_dir) and commits the message
 * to the queue in the store (octo.db), then returns: it never waits for the
 * SMTP server. The caller may delete or change its files as soon as send()
 * returns. A sender thread of res_smtp delivers queued messages with
 * libcurl; a failure is retried later (smtp.conf `retry`, e.g. after 1 min,
 * 5 min, 30 min, then every 2 h) until the message is older than `max_age`
 * or the server refuses it for good (an SMTP 5xx reply other than an
 * authentication failure), when it is dropped with a WARNING in the log.
 * The queue survives a restart of the daemon. `mail show queue` lists it.
 *
 * The envelope sender and the From: address are smtp.conf `from`; the
 * display name is smtp.conf `from_name` unless the message gives one. Date:
 * (the time of send()) and Message-ID: are added by res_smtp, and a
 * non-ASCII subject or display name is encoded per RFC 2047.
 *
 * Thread context: send() may be called from any thread except the event
 * loop: it does disk I/O (the attachment copy and one store transaction, a
 * few ms for a voicemail; up to OCTO_STORE_BUSY_MS when the database is
 * locked). Call threads may use it; it never touches the network.
 *
 * Versioning: the api table and these structs only grow. A field added
 * later comes with a new function in the table, so a module built against
 * version 1 keeps working.
 */
#ifndef OCTO_MAIL_H
#define OCTO_MAIL_H

#include <stddef.h>
#include <stdint.h>

#define OCTO_MAIL_SERVICE "mail"

#define OCTO_MAIL_RCPT_MAX 50            /* recipients per message */
#define OCTO_MAIL_ATTACH_MAX 10          /* attachments per message */
#define OCTO_MAIL_SUBJECT_MAX 500        /* bytes of subject kept (cut at a character) */
#define OCTO_MAIL_BODY_MAX (1024 * 1024) /* bytes of body text at most */

struct octo_mail_attachment {
	/* The file to attach; read and copied during send(). Must be a regular
	 * file. The total size of a message's attachments is limited by
	 * smtp.conf `max_attachments_size`. */
	const char *path;
	/* The name the recipient sees; NULL: the last part of `path`. Each
	 * character that is not printable ASCII, and each '"', '\\' and '/',
	 * becomes '_'; at most 100 characters are kept. */
	const char *filename;
	/* "audio/wav"; NULL: guessed from the file name's extension (wav, mp3,
	 * pdf, tif/tiff, png, jpg/jpeg, txt, csv), else application/octet-stream. */
	const char *mime_type;
};

struct octo_mail {
	/* Recipients (1..OCTO_MAIL_RCPT_MAX addresses, plain "user@domain", no
	 * display name). All get the same message (all are shown in To:). */
	const char *const *to;
	size_t to_count;
	/* UTF-8. Control characters become spaces; bytes that are not UTF-8
	 * become '?'; longer than OCTO_MAIL_SUBJECT_MAX bytes is cut. NULL: "". */
	const char *subject;
	/* UTF-8 plain text, lines ended by LF or CRLF; at most
	 * OCTO_MAIL_BODY_MAX bytes. Bytes that are not UTF-8 become '?'. NULL: "". */
	const char *body;
	/* May be NULL when attachment_count is 0. */
	const struct octo_mail_attachment *attachments;
	size_t attachment_count;
	/* The display name of From: instead of smtp.conf `from_name` (e.g.
	 * "Voicemail 101"); NULL: from_name. UTF-8, at most 100 bytes. */
	const char *from_name;
	/* Who queued it, for `mail show queue` and the log: "app_voicemail".
	 * NULL: "unknown". */
	const char *origin;
};

struct octo_mail_api {
	/*
	 * Queues `m` (borrowed: everything is copied). Returns 0 once the message
	 * is committed to the queue, with its queue id in *id (may be NULL).
	 * Errors (the reason is logged once): OCTO_EINVAL (no or too many
	 * recipients, an address that is not user@domain, a body too long, too
	 * many attachments, an attachment that cannot be read or is not a
	 * regular file, attachments larger than max_attachments_size),
	 * OCTO_EFAIL (the spool or the store cannot be written), OCTO_EBUSY (the
	 * queue holds smtp.conf `max_queue` messages already).
	 */
	int (*send)(const struct octo_mail *m, uint64_t *id);
};

#endif
