/*
 * test_sip_refer.c - the Refer-To parsing of chan_sip's transfers
 * (sip_refer.c, included here so its static functions can be tested): blind
 * and attended targets, escapes, the exact answers to bad input, and random
 * hostile values (no crash, no leak under ASan). The stack and the calls
 * part are stubbed: the REFER handler itself is covered by the sip_transfer
 * integration test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo_test.h"
#include "../../modules/channels/chan_sip/sip_refer.c"

/* ---------------------------------------------------------------- stubs */

struct sip_call *sip_call_find_dialog(const char *call_id, const char *local_tag,
				      const char *remote_tag)
{
	return NULL;
}

struct octo_channel *sip_call_channel(struct sip_call *c)
{
	return NULL;
}

const char *sip_call_user(const struct sip_call *c)
{
	return "";
}

bool sip_call_is_up(const struct sip_call *c)
{
	return false;
}

struct sip_dialog *sip_call_dialog(struct sip_call *c)
{
	return NULL;
}

bool sip_call_remote_cseq(struct sip_call *c, uint32_t cseq)
{
	return true;
}

struct sip_msg *sip_dialog_request(struct sip_dialog *d, enum sip_method m, uint32_t ack_cseq)
{
	return NULL;
}

int sip_add_contact(struct sip_msg *m, const struct sip_addr *dest)
{
	return 0;
}

struct sip_msg *sip_txn_response(struct sip_txn *txn, int status, const char *reason)
{
	return NULL;
}

int sip_txn_send(struct sip_txn *txn, struct sip_msg *resp)
{
	octo_obj_unref(resp);
	return 0;
}

int sip_txn_respond(struct sip_txn *txn, int status, const char *reason)
{
	return 0;
}

struct sip_txn *sip_txn_client(struct sip_msg *req, const struct sip_addr *dest,
			       const struct sip_client_ops *ops, void *data)
{
	octo_obj_unref(req);
	return NULL;
}

int sip_method_register(enum sip_method m, sip_request_fn fn)
{
	return 0;
}

void sip_method_unregister(enum sip_method m)
{
}

/* ---------------------------------------------------------------- helpers */

/* A REFER within a dialog with the given extra header lines. */
static struct sip_msg *refer_msg(const char *headers)
{
	char text[4096];
	struct sip_addr src;
	struct sip_msg *m;
	const char *why = NULL;
	int status = 0;

	snprintf(text, sizeof(text),
		 "REFER sip:octo@127.0.0.1 SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKr1\r\n"
		 "From: <sip:101@127.0.0.1>;tag=a1\r\nTo: <sip:100@127.0.0.1>;tag=b2\r\n"
		 "Call-ID: c1@127.0.0.1\r\nCSeq: 3 REFER\r\nMax-Forwards: 70\r\n%s"
		 "Content-Length: 0\r\n\r\n",
		 headers);
	sip_addr_set(&src, SIP_TP_UDP, "127.0.0.1", 5062);
	m = sip_msg_parse(text, strlen(text), &src, &status, &why, NULL);
	OCTO_CHECK(m != NULL);
	return m;
}

/* Parses a Refer-To value: the status, and *why / the target. */
static int parse(const char *value, struct refer_target *t, const char **why)
{
	*why = NULL;
	return refer_parse_value(value, t, why);
}

/* ---------------------------------------------------------------- tests */

OCTO_TEST(blind_targets)
{
	struct refer_target t;
	const char *why;

	OCTO_CHECK_INT_EQ(parse("<sip:102@pbx.example.com>", &t, &why), 0);
	OCTO_CHECK_STR_EQ(t.user, "102");
	OCTO_CHECK(!t.replaces);
	OCTO_CHECK_INT_EQ(
		parse("\"Carol\" <sips:+390212345@10.0.0.1:5061;user=phone>;x=1", &t, &why), 0);
	OCTO_CHECK_STR_EQ(t.user, "+390212345");
	OCTO_CHECK_INT_EQ(parse("sip:*43@pbx;transport=udp", &t, &why), 0);
	OCTO_CHECK_STR_EQ(t.user, "*43");
	OCTO_CHECK_INT_EQ(parse("<sip:%31%30%32@pbx>", &t, &why), 0);
	OCTO_CHECK_STR_EQ(t.user, "102");
	/* headers other than Replaces are ignored */
	OCTO_CHECK_INT_EQ(parse("<sip:102@pbx?Subject=hi&Priority=urgent>", &t, &why), 0);
	OCTO_CHECK(!t.replaces);
}

OCTO_TEST(attended_targets)
{
	struct refer_target t;
	const char *why;

	OCTO_CHECK_INT_EQ(parse("<sip:102@pbx?Replaces=abc%40host%3Bto-tag%3D12%3Bfrom-tag%3D34>",
				&t, &why),
			  0);
	OCTO_CHECK(t.replaces);
	OCTO_CHECK_STR_EQ(t.call_id, "abc@host");
	OCTO_CHECK_STR_EQ(t.to_tag, "12");
	OCTO_CHECK_STR_EQ(t.from_tag, "34");
	OCTO_CHECK_INT_EQ(parse("<sip:102@pbx?X=1&replaces=c%3Bfrom-tag%3Df%3Bearly-only%3B"
				"to-tag%3Dt>",
				&t, &why),
			  0);
	OCTO_CHECK_STR_EQ(t.call_id, "c");
	OCTO_CHECK_STR_EQ(t.to_tag, "t");
	OCTO_CHECK_STR_EQ(t.from_tag, "f");
}

OCTO_TEST(bad_targets_get_exact_answers)
{
	struct refer_target t;
	const char *why;
	char big[2048];

	OCTO_CHECK_INT_EQ(parse("<tel:+390212345>", &t, &why), 416);
	OCTO_CHECK_STR_EQ(why, "only sip: and sips: transfer targets are supported");
	OCTO_CHECK_INT_EQ(parse("<sip:pbx.example.com>", &t, &why), 400);
	OCTO_CHECK_STR_EQ(why,
			  "the Refer-To user part is not a number (digits, letters, + * # . _ -)");
	OCTO_CHECK_INT_EQ(parse("<sip:1%0a2@pbx>", &t, &why), 400);
	OCTO_CHECK_INT_EQ(parse("<sip:1%2@pbx>", &t, &why), 400);
	OCTO_CHECK_INT_EQ(parse("<sip:a'b@pbx>", &t, &why), 400);
	OCTO_CHECK_INT_EQ(parse("<sip:102@pbx", &t, &why), 400);
	OCTO_CHECK_STR_EQ(why, "bad Refer-To");
	OCTO_CHECK_INT_EQ(parse("102", &t, &why), 400);
	OCTO_CHECK_STR_EQ(why, "Refer-To is not a URI");
	OCTO_CHECK_INT_EQ(parse("<:102@pbx>", &t, &why), 400);
	OCTO_CHECK_INT_EQ(parse("<sip:102@pbx?Replaces=abc>", &t, &why), 400);
	OCTO_CHECK_STR_EQ(why, "bad Replaces in Refer-To (call-id;to-tag=..;from-tag=..)");
	OCTO_CHECK_INT_EQ(parse("<sip:102@pbx?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D%0d>", &t, &why),
			  400);
	OCTO_CHECK_INT_EQ(parse("<sip:102@pbx?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2&"
				"Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2>",
				&t, &why),
			  400);
	OCTO_CHECK_STR_EQ(why, "Refer-To has two Replaces headers");
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "<sip:", 5);
	OCTO_CHECK_INT_EQ(parse(big, &t, &why), 400);
	OCTO_CHECK_STR_EQ(why, "Refer-To is too long");
	/* a user part longer than a number may be */
	snprintf(big, sizeof(big), "<sip:%070d@pbx>", 1);
	OCTO_CHECK_INT_EQ(parse(big, &t, &why), 400);
}

OCTO_TEST(the_refer_to_header)
{
	struct refer_target t;
	struct sip_msg *m;
	const char *why = NULL;

	m = refer_msg("Refer-To: <sip:102@pbx>\r\n");
	OCTO_CHECK_INT_EQ(refer_parse(m, &t, &why), 0);
	OCTO_CHECK_STR_EQ(t.user, "102");
	octo_obj_unref(m);
	m = refer_msg("r: <sip:103@pbx>\r\n");
	OCTO_CHECK_INT_EQ(refer_parse(m, &t, &why), 0);
	OCTO_CHECK_STR_EQ(t.user, "103");
	OCTO_CHECK(!refer_sub_false(m));
	octo_obj_unref(m);
	m = refer_msg("");
	OCTO_CHECK_INT_EQ(refer_parse(m, &t, &why), 400);
	OCTO_CHECK_STR_EQ(why, "no Refer-To");
	octo_obj_unref(m);
	m = refer_msg("Refer-To: <sip:102@pbx>\r\nRefer-To: <sip:103@pbx>\r\n");
	OCTO_CHECK_INT_EQ(refer_parse(m, &t, &why), 400);
	OCTO_CHECK_STR_EQ(why, "more than one Refer-To");
	octo_obj_unref(m);
	m = refer_msg("Refer-To: <sip:102@pbx>\r\nRefer-Sub: false\r\n");
	OCTO_CHECK(refer_sub_false(m));
	octo_obj_unref(m);
}

OCTO_TEST(sipfrag_statuses)
{
	const char *reason;

	OCTO_CHECK_INT_EQ(refer_status(0, &reason), 200);
	OCTO_CHECK_STR_EQ(reason, "OK");
	OCTO_CHECK_INT_EQ(refer_status(OCTO_ENOTFOUND, &reason), 404);
	OCTO_CHECK_STR_EQ(reason, "Not Found");
	OCTO_CHECK_INT_EQ(refer_status(OCTO_EBUSY, &reason), 486);
	OCTO_CHECK_INT_EQ(refer_status(OCTO_EHANGUP, &reason), 487);
	OCTO_CHECK_INT_EQ(refer_status(OCTO_EINVAL, &reason), 503);
	OCTO_CHECK_STR_EQ(reason, "Service Unavailable");
}

OCTO_TEST(random_values_do_no_harm)
{
	static const char alphabet[] =
		"sip:<>@%?&=;\"' \t0123456789abcdefABCDEF+*#.-_/\\,\x01\x7f\xff";
	struct refer_target t;
	const char *why;
	char v[300];

	srand(42);
	for (int n = 0; n < 20000; n++) {
		size_t len = (size_t)(rand() % (int)(sizeof(v) - 1)), start = 0;
		int status;

		if (n % 3 == 0) {
			/* a plausible start, then noise */
			start = (size_t)snprintf(v, sizeof(v),
						 "<sip:%d@pbx?Replaces=", rand() % 1000);
		}
		for (size_t i = start; i < len; i++)
			v[i] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
		v[len > start ? len : start] = '\0';
		status = parse(v, &t, &why);
		OCTO_CHECK(status == 0 || status == 400 || status == 416);
		if (status == 0)
			OCTO_CHECK(refer_number_ok(t.user));
		else
			OCTO_CHECK(why != NULL);
	}
}

__attribute__((constructor)) static void test_parser_init(void)
{
	parser_init();
}

OCTO_TEST_MAIN()
