/*
 * test_voicemail.c - app_voicemail's config (voicemail.conf) and pure
 * helpers (vm_util.c): defaults, bounds and messages with file:line,
 * mailbox names, PINs, VoiceMail options, durations and the e-mail text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octo/clock.h"
#include "octo/config.h"
#include "octo/obj.h"
#include "octo_test.h"
#include "vm.h"

/* Writes `text` as voicemail.conf in a fresh folder; returns the folder. */
static char *write_conf(const char *text)
{
	char tmpl[] = "/tmp/test_voicemail.XXXXXX", path[512];
	char *dir = mkdtemp(tmpl);
	FILE *f;

	if (!dir)
		return NULL;
	snprintf(path, sizeof(path), "%s/voicemail.conf", dir);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return strdup(dir);
}

static void drop_conf(char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/voicemail.conf", dir);
	unlink(path);
	rmdir(dir);
	free(dir);
}

/* Parses text; returns the config (or NULL) and the first message in msg. */
static struct vm_conf *parse(const char *text, char *msg, size_t size, size_t *errors)
{
	struct octo_diags d = { 0 };
	char *dir = write_conf(text);
	struct vm_conf *cf;

	if (!dir)
		return NULL;
	cf = vm_conf_parse(dir, "voicemail.conf", &d);
	msg[0] = '\0';
	if (d.count)
		snprintf(msg, size, "%s", d.items[0].message);
	*errors = d.errors;
	octo_diags_free(&d);
	drop_conf(dir);
	return cf;
}

OCTO_TEST(defaults)
{
	char msg[256];
	size_t errors;
	struct vm_conf *cf = parse("[general]\n", msg, sizeof(msg), &errors);

	OCTO_CHECK(cf != NULL);
	if (!cf)
		return;
	OCTO_CHECK_INT_EQ(errors, 0);
	OCTO_CHECK_INT_EQ(cf->max_message, 180);
	OCTO_CHECK_INT_EQ(cf->min_message, 1000);
	OCTO_CHECK_INT_EQ(cf->max_silence, 5);
	OCTO_CHECK_INT_EQ(cf->silence_threshold, 256);
	OCTO_CHECK_INT_EQ(cf->max_messages, 100);
	OCTO_CHECK_INT_EQ(cf->quality, VM_Q_STANDARD);
	OCTO_CHECK(cf->email && cf->attach && !cf->delete_after_email);
	OCTO_CHECK(cf->announce_date && cf->announce_time && cf->announce_caller);
	OCTO_CHECK_INT_EQ(cf->pin_tries, 3);
	OCTO_CHECK_INT_EQ(cf->digit_timeout, 5000);
	OCTO_CHECK_STR_EQ(cf->callback, "");
	OCTO_CHECK_STR_EQ(cf->from_name, "Voicemail");
	OCTO_CHECK(cf->tz != NULL);
	OCTO_CHECK_STR_EQ(vm_quality_format(cf->quality), "wav");
	OCTO_CHECK_INT_EQ(vm_quality_rate(cf->quality), 8000);
	octo_obj_unref(cf);
}

OCTO_TEST(values_and_formats)
{
	char msg[256];
	size_t errors;
	struct vm_conf *cf = parse("[general]\nmax_message = 2m\nmin_message = 800ms\n"
				   "attach = no\ncallback = users\n"
				   "timezone = UTC\n",
				   msg, sizeof(msg), &errors);

	OCTO_CHECK(cf != NULL);
	if (!cf)
		return;
	OCTO_CHECK_INT_EQ(cf->max_message, 120);
	OCTO_CHECK_INT_EQ(cf->min_message, 800);
	OCTO_CHECK(!cf->attach);
	OCTO_CHECK_STR_EQ(cf->callback, "users");
	octo_obj_unref(cf);
}

OCTO_TEST(errors_name_file_and_line)
{
	char msg[256];
	size_t errors;
	struct vm_conf *cf;

	cf = parse("[general]\nmax_messages = 0\n", msg, sizeof(msg), &errors);
	OCTO_CHECK(cf == NULL);
	OCTO_CHECK_INT_EQ(errors, 1);
	OCTO_CHECK_STR_EQ(msg, "voicemail.conf:2: [general] max_messages: \"0\" is out of range "
			       "1..9999");

	cf = parse("[general]\n\ncallback = bad name!\n", msg, sizeof(msg), &errors);
	OCTO_CHECK(cf == NULL);
	OCTO_CHECK_STR_EQ(msg, "voicemail.conf:3: [general] callback: \"bad name!\" is not a "
			       "procedure name");

	cf = parse("[general]\nmax_message = 1s\nmin_message = 2s\n", msg, sizeof(msg), &errors);
	OCTO_CHECK(cf == NULL);
	OCTO_CHECK_STR_EQ(msg, "voicemail.conf:1: [general] min_message must be shorter than "
			       "max_message");

	cf = parse("[general]\ntimezone = Nowhere/Atlantis\n", msg, sizeof(msg), &errors);
	OCTO_CHECK(cf == NULL);
	OCTO_CHECK_CONTAINS(msg, "voicemail.conf:2: [general] timezone: \"Nowhere/Atlantis\" ");

	cf = parse("[general]\nemail = maybe\n", msg, sizeof(msg), &errors);
	OCTO_CHECK(cf == NULL);
	OCTO_CHECK_CONTAINS(msg, "voicemail.conf:2: [general] email: ");
}

/* The voicemail keys of features.conf [general]; a wrong value there is
 * app_features' to report: the defaults are used. */
OCTO_TEST(features_keys)
{
	char tmpl[] = "/tmp/test_voicemail.XXXXXX", path[512];
	char *dir = mkdtemp(tmpl);
	struct octo_diags d = { 0 };
	struct vm_conf *cf;
	FILE *f;

	OCTO_CHECK(dir != NULL);
	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/features.conf", dir);
	f = fopen(path, "w");
	OCTO_CHECK(f != NULL);
	if (!f)
		return;
	fputs("[general]\ncountry_code = 39\nvoicemail_quality = high\n"
	      "voicemail_announce_date = no\nvoicemail_announce_caller = no\n", f);
	fclose(f);
	cf = vm_conf_parse(dir, "voicemail.conf", &d);
	OCTO_CHECK(cf != NULL);
	OCTO_CHECK_INT_EQ(d.count, 0);
	if (cf) {
		OCTO_CHECK_INT_EQ(cf->quality, VM_Q_HIGH);
		OCTO_CHECK_STR_EQ(vm_quality_format(cf->quality), "wav");
		OCTO_CHECK_INT_EQ(vm_quality_rate(cf->quality), 16000);
		OCTO_CHECK(!cf->announce_date && cf->announce_time && !cf->announce_caller);
		octo_obj_unref(cf);
	}
	f = fopen(path, "w");
	if (f) {
		fputs("[general]\nvoicemail_quality = superb\nvoicemail_announce_date = no\n", f);
		fclose(f);
	}
	cf = vm_conf_parse(dir, "voicemail.conf", &d);
	OCTO_CHECK(cf != NULL);
	OCTO_CHECK_INT_EQ(d.count, 0);
	if (cf) {
		OCTO_CHECK_INT_EQ(cf->quality, VM_Q_STANDARD);
		OCTO_CHECK(cf->announce_date);
		OCTO_CHECK_STR_EQ(vm_quality_format(VM_Q_LOW), "wav_ulaw");
		octo_obj_unref(cf);
	}
	octo_diags_free(&d);
	unlink(path);
	rmdir(dir);
}

OCTO_TEST(unknown_keys_and_sections_warn)
{
	char msg[256];
	size_t errors;
	struct vm_conf *cf = parse("[101]\nemail = x\n[general]\nmax_mesage = 2m\n", msg,
				   sizeof(msg), &errors);

	OCTO_CHECK(cf != NULL);
	OCTO_CHECK_INT_EQ(errors, 0);
	OCTO_CHECK_STR_EQ(msg, "voicemail.conf:1: [101] unknown section (voicemail.conf has only "
			       "[general]; mailboxes are the users of users.conf)");
	octo_obj_unref(cf);
}

OCTO_TEST(missing_file_gives_defaults)
{
	struct octo_diags d = { 0 };
	struct vm_conf *cf = vm_conf_parse("/nonexistent-octo-dir", "voicemail.conf", &d);

	OCTO_CHECK(cf != NULL);
	OCTO_CHECK_INT_EQ(d.count, 0);
	octo_diags_free(&d);
	octo_obj_unref(cf);
}

OCTO_TEST(box_names)
{
	OCTO_CHECK(vm_box_valid("101"));
	OCTO_CHECK(vm_box_valid("sales-1_a"));
	OCTO_CHECK(!vm_box_valid(""));
	OCTO_CHECK(!vm_box_valid(NULL));
	OCTO_CHECK(!vm_box_valid("../etc"));
	OCTO_CHECK(!vm_box_valid("10 1"));
	OCTO_CHECK(!vm_box_valid("a/b"));
	OCTO_CHECK(vm_box_valid("123456789012345678901234567890AB"));
	OCTO_CHECK(!vm_box_valid("123456789012345678901234567890ABC"));
}

OCTO_TEST(pins)
{
	OCTO_CHECK(vm_pin_valid("4821"));
	OCTO_CHECK(vm_pin_valid("1234567890123456"));
	OCTO_CHECK(!vm_pin_valid("12345678901234567"));
	OCTO_CHECK(!vm_pin_valid("123"));
	OCTO_CHECK(!vm_pin_valid("12a4"));
	OCTO_CHECK(!vm_pin_valid("12*4"));
	OCTO_CHECK(!vm_pin_valid(""));
	OCTO_CHECK(!vm_pin_valid(NULL));
}

OCTO_TEST(leave_options)
{
	struct vm_leave_opts o;
	char bad;

	OCTO_CHECK(vm_leave_opts_parse("", &o, &bad));
	OCTO_CHECK(!o.busy && !o.unavail && !o.skip && !o.urgent);
	OCTO_CHECK(vm_leave_opts_parse("bsU", &o, &bad));
	OCTO_CHECK(o.busy && o.skip && o.urgent && !o.unavail);
	OCTO_CHECK(vm_leave_opts_parse("u", &o, &bad));
	OCTO_CHECK(o.unavail);
	OCTO_CHECK(!vm_leave_opts_parse("ux", &o, &bad));
	OCTO_CHECK_INT_EQ(bad, 'x');
	OCTO_CHECK(!vm_leave_opts_parse("B", &o, &bad));
	OCTO_CHECK_INT_EQ(bad, 'B');
}

OCTO_TEST(durations)
{
	char buf[16];

	vm_duration_text(0, buf, sizeof(buf));
	OCTO_CHECK_STR_EQ(buf, "0:01");
	vm_duration_text(1499, buf, sizeof(buf));
	OCTO_CHECK_STR_EQ(buf, "0:01");
	vm_duration_text(65432, buf, sizeof(buf));
	OCTO_CHECK_STR_EQ(buf, "1:05");
	vm_duration_text(3600000, buf, sizeof(buf));
	OCTO_CHECK_STR_EQ(buf, "60:00");
	OCTO_CHECK_STR_EQ(vm_folder_name(VM_INBOX), "INBOX");
	OCTO_CHECK_STR_EQ(vm_folder_name(VM_OLD), "Old");
}

OCTO_TEST(mail_text)
{
	char subject[256], body[1024];
	struct vm_mail_info m = { .box = "101", .user_name = "Alice Rossi", .caller = "0612345678",
				  .caller_name = "Bob", .date = "2026-11-26 10:15 (CET)",
				  .duration_ms = 12400, .id = 7, .attached = true };

	vm_mail_text(&m, subject, sizeof(subject), body, sizeof(body));
	OCTO_CHECK_STR_EQ(subject, "New voicemail from Bob (0612345678) in mailbox 101 (0:12)");
	OCTO_CHECK_CONTAINS(body, "Dear Alice Rossi,\n");
	OCTO_CHECK_CONTAINS(body, "  From:     Bob (0612345678)\n");
	OCTO_CHECK_CONTAINS(body, "  Date:     2026-11-26 10:15 (CET)\n");
	OCTO_CHECK_CONTAINS(body, "  Length:   0:12\n");
	OCTO_CHECK_CONTAINS(body, "  Message:  7\n");
	OCTO_CHECK_CONTAINS(body, "The recording is attached. Dial your voicemail to manage it.\n");

	m = (struct vm_mail_info){ .box = "102", .user_name = "", .caller = "", .caller_name = "",
				   .date = "x", .duration_ms = 3000, .id = 9, .urgent = true };
	vm_mail_text(&m, subject, sizeof(subject), body, sizeof(body));
	OCTO_CHECK_STR_EQ(subject, "Urgent: New voicemail from an unknown caller in mailbox 102 "
				   "(0:03)");
	OCTO_CHECK_CONTAINS(body, "Dear 102,\n");
	OCTO_CHECK_CONTAINS(body, "there is a new urgent message in your mailbox 102:");
	OCTO_CHECK_CONTAINS(body, "Dial your voicemail to listen to it.\n");

	m.attached = m.deleted = true;
	vm_mail_text(&m, subject, sizeof(subject), body, sizeof(body));
	OCTO_CHECK_CONTAINS(body, "The recording is attached; it is not kept in the mailbox.\n");
}

OCTO_TEST_MAIN()
