/*
 * test_sip_msg.c - unit tests for chan_sip's message layer (sip_msg.c):
 * validation of good and malformed messages, the error answers and the
 * cases that get none, response building (Via copied, To tag, RFC 3581
 * rport/received), request building, transaction keys (RFC 3261 branch and
 * the RFC 2543 fallback), stream framing and keep-alives.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/obj.h"
#include "octo_test.h"
#include "sip.h"

#define CRLF "\r\n"

static const char options_req[] =
	"OPTIONS sip:100@127.0.0.1 SIP/2.0" CRLF
	"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc1" CRLF "Max-Forwards: 70" CRLF
	"From: <sip:alice@example.com>;tag=ft1" CRLF "To: <sip:100@127.0.0.1>" CRLF
	"Call-ID: call1@10.0.0.1" CRLF "CSeq: 7 OPTIONS" CRLF "Content-Length: 0" CRLF CRLF;

static struct sip_addr src_udp(const char *ip, unsigned port)
{
	struct sip_addr a;

	sip_addr_set(&a, SIP_TP_UDP, ip, port);
	return a;
}

/* Replaces the first occurrence of `from` in `text` by `to` (static buffer). */
static const char *edit(const char *text, const char *from, const char *to)
{
	static char buf[8192];
	const char *p = strstr(text, from);

	if (!p) {
		snprintf(buf, sizeof(buf), "%s", text);
		return buf;
	}
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - text), text, to, p + strlen(from));
	return buf;
}

/* Runs the receive front end; returns the verdict, the message and why. */
static enum sip_rx_verdict rx(const char *text, struct sip_msg **m, const char **why)
{
	struct sip_addr src = src_udp("10.0.0.1", 5060);

	return sip_msg_receive(text, strlen(text), &src, m, why);
}

static char *to_str(struct sip_msg *m)
{
	char *s = NULL, *copy;
	size_t len;

	if (sip_msg_to_str(m, &s, &len))
		return NULL;
	copy = strndup(s, len);
	osip_free(s);
	return copy;
}

/* Expects an error reply with this status line; returns its text (free it). */
static char *expect_reply(const char *text, const char *status_line)
{
	struct sip_msg *m = NULL;
	const char *why = NULL;
	enum sip_rx_verdict v = rx(text, &m, &why);
	char *s = NULL;

	OCTO_CHECK_INT_EQ(v, SIP_RX_REPLY);
	if (m) {
		s = to_str(m);
		OCTO_CHECK(s != NULL);
		if (s)
			OCTO_CHECK(!strncmp(s, status_line, strlen(status_line)));
		if (s && strncmp(s, status_line, strlen(status_line)))
			printf("     got: %.60s\n", s);
		octo_obj_unref(m);
	}
	return s;
}

static void expect_drop(const char *text, const char *why_expected)
{
	struct sip_msg *m = NULL;
	const char *why = NULL;

	OCTO_CHECK_INT_EQ(rx(text, &m, &why), SIP_RX_DROP);
	OCTO_CHECK(m == NULL);
	OCTO_CHECK_STR_EQ(why, why_expected);
	octo_obj_unref(m);
}

/* ---------------------------------------------------------------- parsing */

OCTO_TEST(valid_options_parses)
{
	struct sip_msg *m = NULL;
	const char *why = NULL;

	OCTO_CHECK_INT_EQ(rx(options_req, &m, &why), SIP_RX_OK);
	OCTO_CHECK(m != NULL);
	if (!m)
		return;
	OCTO_CHECK_INT_EQ(m->method, SIP_OPTIONS);
	OCTO_CHECK_INT_EQ(m->status, 0);
	OCTO_CHECK_INT_EQ(m->cseq, 7);
	OCTO_CHECK_STR_EQ(m->call_id, "call1@10.0.0.1");
	OCTO_CHECK_STR_EQ(sip_msg_branch(m), "z9hG4bKabc1");
	OCTO_CHECK_STR_EQ(sip_msg_from_tag(m), "ft1");
	OCTO_CHECK(sip_msg_to_tag(m) == NULL);
	OCTO_CHECK_STR_EQ(sip_msg_header(m, "MAX-FORWARDS"), "70");
	OCTO_CHECK_STR_EQ(sip_msg_method_name(m), "OPTIONS");
	OCTO_CHECK_INT_EQ(sip_addr_port(&m->src), 5060);
	octo_obj_unref(m);
}

OCTO_TEST(compact_headers_parse)
{
	static const char compact[] = "OPTIONS sip:100@127.0.0.1 SIP/2.0" CRLF
				      "v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKc" CRLF
				      "f: <sip:a@b>;tag=1" CRLF "t: <sip:c@d>" CRLF "i: cid" CRLF
				      "CSeq: 1 OPTIONS" CRLF "l: 0" CRLF CRLF;
	struct sip_msg *m = NULL;
	const char *why = NULL;

	OCTO_CHECK_INT_EQ(rx(compact, &m, &why), SIP_RX_OK);
	if (m)
		OCTO_CHECK_STR_EQ(m->call_id, "cid");
	octo_obj_unref(m);
}

OCTO_TEST(missing_core_headers_are_dropped)
{
	expect_drop(edit(options_req, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc1" CRLF, ""),
		    "no Via header");
	expect_drop(edit(options_req, "From: <sip:alice@example.com>;tag=ft1" CRLF, ""),
		    "no From header");
	expect_drop(edit(options_req, "To: <sip:100@127.0.0.1>" CRLF, ""), "no To header");
	expect_drop(edit(options_req, "Call-ID: call1@10.0.0.1" CRLF, ""), "no Call-ID header");
	expect_drop(edit(options_req, "CSeq: 7 OPTIONS" CRLF, ""), "no CSeq header");
	expect_drop(edit(options_req, "SIP/2.0/UDP", "SIP/3.0/UDP"), "bad Via protocol");
	/* osip takes the opening quote as the start of a quoted string and
	 * reads one Via; copied into an answer it would be two */
	expect_drop(edit(options_req, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc1",
			 "Via:\"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK,abc1"),
		    "comma inside a Via");
}

OCTO_TEST(cseq_method_mismatch_is_400)
{
	char *s = expect_reply(edit(options_req, "7 OPTIONS", "7 INVITE"),
			       "SIP/2.0 400 CSeq Method Mismatch\r\n");

	OCTO_CHECK_CONTAINS(s, "CSeq: 7 INVITE");
	OCTO_CHECK_CONTAINS(s, "Call-ID: call1@10.0.0.1");
	free(s);
}

OCTO_TEST(bad_cseq_number_is_dropped)
{
	/* an answer would have to copy the broken CSeq */
	expect_drop(edit(options_req, "7 OPTIONS", "x7 OPTIONS"), "bad CSeq number");
	expect_drop(edit(options_req, "7 OPTIONS", "4294967296 OPTIONS"), "bad CSeq number");
}

OCTO_TEST(bad_version_is_505)
{
	free(expect_reply(edit(options_req, "127.0.0.1 SIP/2.0", "127.0.0.1 SIP/3.0"),
			  "SIP/2.0 505 Version Not Supported\r\n"));
}

OCTO_TEST(bad_content_length_is_400)
{
	free(expect_reply(edit(options_req, "Content-Length: 0", "Content-Length: abc"),
			  "SIP/2.0 400 Invalid Content-Length\r\n"));
}

OCTO_TEST(max_forwards_rules)
{
	struct sip_msg *m = NULL;
	const char *why = NULL;

	free(expect_reply(edit(options_req, "Max-Forwards: 70", "Max-Forwards: 0"),
			  "SIP/2.0 483 Too Many Hops\r\n"));
	free(expect_reply(edit(options_req, "Max-Forwards: 70", "Max-Forwards: many"),
			  "SIP/2.0 400 Invalid Max-Forwards\r\n"));
	free(expect_reply(edit(options_req, "Max-Forwards: 70", "Max-Forwards: 256"),
			  "SIP/2.0 400 Invalid Max-Forwards\r\n"));
	/* missing Max-Forwards is tolerated (RFC 2543 clients) */
	OCTO_CHECK_INT_EQ(rx(edit(options_req, "Max-Forwards: 70" CRLF, ""), &m, &why), SIP_RX_OK);
	octo_obj_unref(m);
}

OCTO_TEST(ack_is_never_answered)
{
	char copy[4096];

	snprintf(copy, sizeof(copy), "%s", edit(options_req, "OPTIONS sip:", "ACK sip:"));
	snprintf(copy, sizeof(copy), "%s", edit(copy, "7 OPTIONS", "7 ACK"));
	expect_drop(edit(copy, "Max-Forwards: 70", "Max-Forwards: 0"), "Too Many Hops");
	expect_drop(edit(copy, "7 ACK", "7 INVITE"), "CSeq Method Mismatch");
}

OCTO_TEST(unsupported_uri_scheme_is_416)
{
	free(expect_reply(edit(options_req, "sip:100@127.0.0.1 SIP", "http://x/ SIP"),
			  "SIP/2.0 416 Unsupported URI Scheme\r\n"));
}

OCTO_TEST(unknown_methods_are_valid_messages)
{
	struct sip_msg *m = NULL;
	const char *why = NULL;
	char copy[4096];

	snprintf(copy, sizeof(copy), "%s", edit(options_req, "OPTIONS sip:", "FOO sip:"));
	OCTO_CHECK_INT_EQ(rx(edit(copy, "7 OPTIONS", "7 FOO"), &m, &why), SIP_RX_OK);
	if (m) {
		OCTO_CHECK_INT_EQ(m->method, SIP_METHOD_UNKNOWN);
		OCTO_CHECK_STR_EQ(sip_msg_method_name(m), "FOO");
	}
	octo_obj_unref(m);
	/* methods are case-sensitive */
	OCTO_CHECK_INT_EQ(sip_method_parse("options"), SIP_METHOD_UNKNOWN);
	OCTO_CHECK_INT_EQ(sip_method_parse("OPTIONS"), SIP_OPTIONS);
}

OCTO_TEST(content_length_beyond_the_datagram_is_400)
{
	char *s = expect_reply(edit(options_req, "Content-Length: 0", "Content-Length: 999"),
			       "SIP/2.0 400 Incomplete Body\r\n");

	OCTO_CHECK_CONTAINS(s, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc1");
	free(s);
}

OCTO_TEST(unparsable_request_is_salvaged_for_a_400)
{
	/* a body with a Content-Length beyond the datagram: osip refuses the
	 * whole text, the Via/From/To/Call-ID/CSeq lines are enough to answer */
	char *s = expect_reply(edit(options_req, "Content-Length: 0" CRLF CRLF,
				    "Content-Type: application/sdp" CRLF
				    "Content-Length: 999" CRLF CRLF "v=0" CRLF),
			       "SIP/2.0 400 Bad Request\r\n");

	OCTO_CHECK_CONTAINS(s, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc1");
	OCTO_CHECK_CONTAINS(s, "CSeq: 7 OPTIONS");
	OCTO_CHECK_CONTAINS(s, "From: <sip:alice@example.com>;tag=ft1");
	OCTO_CHECK_CONTAINS(s, "To: <sip:100@127.0.0.1>;tag=");
	free(s);
	/* NUL in a header: refused by osip, answered from the salvaged lines */
	{
		char buf[sizeof(options_req)];
		struct sip_msg *m = NULL;
		const char *why = NULL;
		struct sip_addr src = src_udp("10.0.0.1", 5060);
		char *x;

		memcpy(buf, options_req, sizeof(buf));
		x = strstr(buf, "Max-Forwards: 70");
		x[14] = '\0';
		OCTO_CHECK_INT_EQ(sip_msg_receive(buf, sizeof(buf) - 1, &src, &m, &why),
				  SIP_RX_REPLY);
		octo_obj_unref(m);
	}
}

OCTO_TEST(garbage_and_responses_get_no_answer)
{
	const char *resp = "SIP/2.0 200 OK" CRLF "Content-Length: 999" CRLF CRLF;
	struct sip_msg *m = NULL;
	const char *why = NULL;

	expect_drop("hello world", "unparsable message");
	expect_drop(resp, "no Via header");
	expect_drop("SIP/2.0 200 OK" CRLF "CSeq: 1 OPTIONS" CRLF CRLF, "no Via header");
	expect_drop("INVITE sip:x SIP/2.0" CRLF "Via: SIP/2.0/UDP h" CRLF "CSeq: 1 ACK" CRLF CRLF
		    "Content-Length: 99",
		    "no From header");
	OCTO_CHECK_INT_EQ(rx("\r\n\r\n", &m, &why), SIP_RX_KEEPALIVE);
	OCTO_CHECK_INT_EQ(rx("\r\n", &m, &why), SIP_RX_KEEPALIVE);
	{
		unsigned char stun[20] = { 0, 1, 0, 0, 0x21, 0x12, 0xA4, 0x42 };
		struct sip_addr src = src_udp("10.0.0.1", 5060);

		OCTO_CHECK_INT_EQ(sip_msg_receive((char *)stun, sizeof(stun), &src, &m, &why),
				  SIP_RX_KEEPALIVE);
	}
	OCTO_CHECK(m == NULL);
}

OCTO_TEST(valid_response_parses)
{
	static const char resp[] = "SIP/2.0 180 Ringing" CRLF
				   "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKr1" CRLF
				   "From: <sip:a@b>;tag=1" CRLF "To: <sip:c@d>;tag=2" CRLF
				   "Call-ID: x" CRLF "CSeq: 3 INVITE" CRLF CRLF;
	struct sip_msg *m = NULL;
	const char *why = NULL;

	OCTO_CHECK_INT_EQ(rx(resp, &m, &why), SIP_RX_OK);
	if (m) {
		OCTO_CHECK_INT_EQ(m->status, 180);
		OCTO_CHECK_INT_EQ(m->method, SIP_INVITE);
		OCTO_CHECK_STR_EQ(sip_msg_to_tag(m), "2");
		OCTO_CHECK(sip_msg_response(m, 200, NULL, NULL) == NULL); /* not a request */
	}
	octo_obj_unref(m);
	expect_drop(edit(resp, "180 Ringing", "99 Early"), "bad status code");
}

/* ---------------------------------------------------------------- responses */

static struct sip_msg *parse_from(const char *text, const char *ip, unsigned port)
{
	struct sip_addr src = src_udp(ip, port);
	struct sip_msg *m = NULL;
	const char *why = NULL;

	OCTO_CHECK_INT_EQ(sip_msg_receive(text, strlen(text), &src, &m, &why), SIP_RX_OK);
	return m;
}

OCTO_TEST(response_copies_vias_and_adds_to_tag)
{
	static const char two_vias[] =
		"INVITE sip:100@127.0.0.1 SIP/2.0" CRLF
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtop" CRLF
		"Via: SIP/2.0/UDP 192.168.1.9:5070;branch=z9hG4bKsecond;received=1.2.3.4" CRLF
		"Record-Route: <sip:proxy.example;lr>" CRLF
		"From: \"Alice\" <sip:alice@example.com>;tag=ft1" CRLF
		"To: <sip:100@127.0.0.1>" CRLF "Call-ID: c2" CRLF "CSeq: 1 INVITE" CRLF CRLF;
	struct sip_msg *req = parse_from(two_vias, "10.0.0.1", 5060), *r;
	char *s;

	if (!req)
		return;
	r = sip_msg_response(req, 180, NULL, "tt99");
	OCTO_CHECK(r != NULL);
	s = r ? to_str(r) : NULL;
	OCTO_CHECK_CONTAINS(
		s, "SIP/2.0 180 Ringing\r\n"
		   "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKtop\r\n"
		   "Via: SIP/2.0/UDP 192.168.1.9:5070;branch=z9hG4bKsecond;received=1.2.3.4\r\n");
	OCTO_CHECK_CONTAINS(s, "To: <sip:100@127.0.0.1>;tag=tt99\r\n");
	OCTO_CHECK_CONTAINS(s, "From: \"Alice\" <sip:alice@example.com>;tag=ft1\r\n");
	OCTO_CHECK_CONTAINS(s, "Call-ID: c2\r\n");
	OCTO_CHECK_CONTAINS(s, "CSeq: 1 INVITE\r\n");
	OCTO_CHECK_CONTAINS(s, "Record-Route: <sip:proxy.example;lr>\r\n");
	OCTO_CHECK_CONTAINS(s, "Content-Length: 0");
	free(s);
	if (r) {
		OCTO_CHECK_INT_EQ(r->status, 180);
		OCTO_CHECK_STR_EQ(sip_msg_to_tag(r), "tt99");
		OCTO_CHECK_INT_EQ(sip_addr_port(&r->dst), 5060);
	}
	octo_obj_unref(r);
	/* 100 Trying gets no tag; 404 does not copy Record-Route */
	r = sip_msg_response(req, 100, NULL, "tt99");
	OCTO_CHECK(r && sip_msg_to_tag(r) == NULL);
	octo_obj_unref(r);
	r = sip_msg_response(req, 404, "Nobody Here", "tt99");
	s = r ? to_str(r) : NULL;
	OCTO_CHECK_CONTAINS(s, "SIP/2.0 404 Nobody Here\r\n");
	OCTO_CHECK(s && !strstr(s, "Record-Route"));
	free(s);
	octo_obj_unref(r);
	octo_obj_unref(req);
}

OCTO_TEST(rport_and_received)
{
	struct sip_msg *req, *r;
	char *s;

	/* rport asked: filled with the source port, received added although the
	 * sent-by host is the source address; the response goes to the source port */
	req = parse_from(edit(options_req, "branch=z9hG4bKabc1", "branch=z9hG4bKabc1;rport"),
			 "10.0.0.1", 5062);
	if (!req)
		return;
	r = sip_msg_response(req, 200, NULL, "t1");
	s = r ? to_str(r) : NULL;
	OCTO_CHECK_CONTAINS(s, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc1;rport=5062;"
			       "received=10.0.0.1\r\n");
	OCTO_CHECK(r && sip_addr_port(&r->dst) == 5062);
	free(s);
	octo_obj_unref(r);
	octo_obj_unref(req);

	/* no rport, sent-by is the source IP: nothing added, sent-by port used */
	req = parse_from(options_req, "10.0.0.1", 5062);
	if (!req)
		return;
	r = sip_msg_response(req, 200, NULL, "t1");
	s = r ? to_str(r) : NULL;
	OCTO_CHECK_CONTAINS(s, "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc1\r\n");
	OCTO_CHECK(r && sip_addr_port(&r->dst) == 5060);
	free(s);
	octo_obj_unref(r);
	octo_obj_unref(req);

	/* no rport, sent-by differs: received added */
	req = parse_from(options_req, "198.51.100.7", 5060);
	if (!req)
		return;
	r = sip_msg_response(req, 200, NULL, "t1");
	s = r ? to_str(r) : NULL;
	OCTO_CHECK_CONTAINS(s, "branch=z9hG4bKabc1;received=198.51.100.7\r\n");
	free(s);
	if (r) {
		char ip[64];

		OCTO_CHECK_STR_EQ(sip_addr_ip(&r->dst, ip, sizeof(ip)), "198.51.100.7");
	}
	octo_obj_unref(r);
	octo_obj_unref(req);
}

OCTO_TEST(response_body_and_headers)
{
	struct sip_msg *req = parse_from(options_req, "10.0.0.1", 5060), *r;
	char *s;
	const char *body;
	size_t len;

	if (!req)
		return;
	r = sip_msg_response(req, 200, NULL, "x");
	OCTO_CHECK_INT_EQ(sip_msg_add_header(r, "Allow", "INVITE, ACK"), 0);
	OCTO_CHECK_INT_EQ(sip_msg_set_body(r, "application/sdp", "v=0\r\n", 5), 0);
	sip_msg_set_agent("Octo-Test");
	sip_msg_add_agent(r);
	body = sip_msg_body(r, &len);
	OCTO_CHECK_INT_EQ(len, 5);
	OCTO_CHECK(body && !memcmp(body, "v=0\r\n", 5));
	s = to_str(r);
	OCTO_CHECK_CONTAINS(s, "Allow: INVITE, ACK\r\n");
	OCTO_CHECK_CONTAINS(s, "Server: Octo-Test\r\n");
	OCTO_CHECK_CONTAINS(s, "Content-Type: application/sdp\r\n");
	OCTO_CHECK_CONTAINS(s, "\r\n\r\nv=0\r\n");
	free(s);
	octo_obj_unref(r);
	octo_obj_unref(req);
}

/* sip_write.c prints what osip_message_to_str() prints (Content-Length
 * unpadded): a message with every header kind the stack meets, escapes,
 * IPv6, a tel: URI, URI headers, a star Contact and a body. */
static const char rich_req[] =
	"INVITE sip:%23100;x@[2001:db8::5]:5070;transport=tcp;lr?Subject=hi%20there SIP/2.0" CRLF
	"Via: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKr1;rport (a comment)" CRLF
	"Via: SIP/2.0/UDP proxy.example;branch=z9hG4bKr0;received=192.0.2.9" CRLF
	"Record-Route: <sip:rr.example;lr>, \"Edge\" <sip:edge.example;lr>;x=1" CRLF
	"Route: <sip:route.example;lr>" CRLF
	"Max-Forwards: 69" CRLF
	"From: \"Alice A.\" <sip:al%20ice:pw@example.com;user=phone>;tag=ft" CRLF
	"To: <tel:+4930123>" CRLF
	"Call-ID: rich@host" CRLF "CSeq: 9 INVITE" CRLF
	"Contact: <sip:alice@10.0.0.1:5062;ob>;expires=60;+sip.instance=\"<urn:x>\"" CRLF
	"Authorization: Digest username=\"alice\", realm=\"octo\", nonce=\"n1\", "
	"uri=\"sip:100@octo\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, "
	"qop=auth, nc=00000001, cnonce=\"c1\"" CRLF
	"Allow: INVITE, ACK, BYE" CRLF "Supported: replaces, timer" CRLF
	"Accept: application/sdp" CRLF "Call-Info: <http://x.example/a.png>;purpose=icon" CRLF
	"subject: lower-case name" CRLF
	"Content-Type: application/sdp" CRLF "Content-Length: 10" CRLF CRLF "v=0\r\no=x\r\n";

static void expect_written_as_osip(struct sip_msg *m)
{
	struct sip_text ours = { 0 };
	char *theirs = NULL, *cl;
	size_t len = 0;

	OCTO_CHECK_INT_EQ(sip_msg_write(m, &ours), 0);
	osip_message_force_update(m->osip);
	OCTO_CHECK_INT_EQ(osip_message_to_str(m->osip, &theirs, &len), 0);
	if (!theirs || !ours.buf) {
		osip_free(theirs);
		sip_text_free(&ours);
		return;
	}
	cl = strstr(theirs, "\r\nContent-Length: ");
	if (cl) { /* osip pads the value to 5 columns */
		char *v = cl + 18, *e = v;

		while (*e == ' ')
			e++;
		memmove(v, e, strlen(e) + 1);
	}
	OCTO_CHECK_STR_EQ(ours.buf, theirs);
	OCTO_CHECK_INT_EQ(ours.len, strlen(ours.buf));
	osip_free(theirs);
	sip_text_free(&ours);
}

OCTO_TEST(written_text_is_what_osip_prints)
{
	struct sip_msg *m = NULL, *r, *ack;
	const char *why = NULL;
	struct sip_text t = { 0 };

	OCTO_CHECK_INT_EQ(rx(rich_req, &m, &why), SIP_RX_OK);
	if (!m) {
		printf("     why: %s\n", why ? why : "?");
		return;
	}
	expect_written_as_osip(m);
	OCTO_CHECK_INT_EQ(sip_msg_write(m, &t), 0);
	if (getenv("SHOW_TEXT"))
		printf("%s\n", t.buf);
	OCTO_CHECK_CONTAINS(t.buf, "Content-Length: 10\r\n\r\nv=0\r\no=x\r\n");
	OCTO_CHECK_CONTAINS(t.buf, "Via: SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bKr1;rport");
	OCTO_CHECK_CONTAINS(t.buf, "From: \"Alice A.\" <sip:al%20ice:pw@example.com;user=phone>");
	OCTO_CHECK_CONTAINS(t.buf, "\r\nSubject: lower-case name\r\n");
	/* the same buffer again: rewritten from the start, not appended */
	OCTO_CHECK_INT_EQ(sip_msg_write(m, &t), 0);
	OCTO_CHECK(!strncmp(t.buf, "INVITE sip:%23100;x@[2001:db8::5]:5070", 38));
	OCTO_CHECK_INT_EQ(t.len, strlen(t.buf));
	sip_text_free(&t);

	/* what the stack builds from it: a response (copied Vias, tags) and
	 * one with a challenge, a star Contact, a body of its own */
	r = sip_msg_response(m, 401, NULL, "tt");
	OCTO_CHECK(r != NULL);
	if (r) {
		OCTO_CHECK_INT_EQ(osip_message_set_www_authenticate(
					  r->osip, "Digest realm=\"octo\", nonce=\"abc\", qop=\"auth\""),
				  0);
		OCTO_CHECK_INT_EQ(osip_message_set_contact(r->osip, "*"), 0);
		OCTO_CHECK_INT_EQ(sip_msg_set_body(r, "text/plain", "hello", 5), 0);
		expect_written_as_osip(r);
		ack = sip_msg_ack_for(m, r); /* Route set, To with the tag */
		OCTO_CHECK(ack != NULL);
		if (ack)
			expect_written_as_osip(ack);
		octo_obj_unref(ack);
		octo_obj_unref(r);
	}
	octo_obj_unref(m);

	/* a message osip cannot print (a Via without host) is refused, not cut */
	m = sip_msg_request(SIP_OPTIONS, "sip:200@192.0.2.1", "sip:octo@pbx.test", NULL,
			    "sip:200@192.0.2.1", NULL, "cid-2", 1);
	OCTO_CHECK(m != NULL);
	if (m) {
		osip_via_t *v;

		expect_written_as_osip(m);
		osip_via_init(&v);
		via_set_version(v, osip_strdup("2.0"));
		via_set_protocol(v, osip_strdup("UDP"));
		osip_list_add(&m->osip->vias, v, 0);
		OCTO_CHECK_INT_EQ(sip_msg_write(m, &t), OCTO_EINVAL);
		OCTO_CHECK_INT_EQ(t.len, 0);
		sip_text_free(&t);
		octo_obj_unref(m);
	}
}

OCTO_TEST(request_builder)
{
	struct sip_msg *m = sip_msg_request(SIP_OPTIONS, "sip:200@192.0.2.1", "sip:octo@pbx.test",
					    NULL, "\"Bob\" <sip:200@192.0.2.1>", NULL, "cid-1", 5);
	char *s;

	OCTO_CHECK(m != NULL);
	if (!m)
		return;
	OCTO_CHECK_INT_EQ(m->method, SIP_OPTIONS);
	OCTO_CHECK_INT_EQ(m->cseq, 5);
	OCTO_CHECK_STR_EQ(m->call_id, "cid-1");
	OCTO_CHECK(sip_msg_from_tag(m) && strlen(sip_msg_from_tag(m)) == 16);
	s = to_str(m);
	OCTO_CHECK_CONTAINS(s, "OPTIONS sip:200@192.0.2.1 SIP/2.0\r\n");
	OCTO_CHECK_CONTAINS(s, "CSeq: 5 OPTIONS\r\n");
	OCTO_CHECK_CONTAINS(s, "To: \"Bob\" <sip:200@192.0.2.1>\r\n");
	OCTO_CHECK_CONTAINS(s, "Max-Forwards: 70\r\n");
	free(s);
	octo_obj_unref(m);
	OCTO_CHECK(sip_msg_request(SIP_OPTIONS, "not a uri", "sip:a@b", NULL, "sip:c@d", NULL, NULL,
				   1) == NULL);
	OCTO_CHECK(sip_msg_request(SIP_METHOD_UNKNOWN, "sip:x", "sip:a@b", NULL, "sip:c@d", NULL,
				   NULL, 1) == NULL);
}

OCTO_TEST(ack_and_cancel_builders)
{
	static const char invite[] =
		"INVITE sip:200@192.0.2.1 SIP/2.0" CRLF
		"Via: SIP/2.0/UDP 192.0.2.100:5070;branch=z9hG4bKinv;rport" CRLF
		"Route: <sip:proxy.example;lr>" CRLF "From: <sip:octo@pbx>;tag=f1" CRLF
		"To: <sip:200@192.0.2.1>" CRLF "Call-ID: inv1" CRLF "CSeq: 4 INVITE" CRLF
		"Max-Forwards: 70" CRLF CRLF;
	static const char busy[] = "SIP/2.0 486 Busy Here" CRLF
				   "Via: SIP/2.0/UDP 192.0.2.100:5070;branch=z9hG4bKinv;rport" CRLF
				   "From: <sip:octo@pbx>;tag=f1" CRLF
				   "To: <sip:200@192.0.2.1>;tag=t9" CRLF "Call-ID: inv1" CRLF
				   "CSeq: 4 INVITE" CRLF CRLF;
	/* our own INVITE: parsed without a source, so its Via stays as written */
	int st;
	const char *why;
	struct sip_msg *inv = sip_msg_parse(invite, strlen(invite), NULL, &st, &why, NULL);
	struct sip_msg *r = parse_from(busy, "192.0.2.1", 5060), *ack, *can;
	char *s;

	if (!inv || !r)
		goto out;
	ack = sip_msg_ack_for(inv, r);
	s = ack ? to_str(ack) : NULL;
	OCTO_CHECK_CONTAINS(s, "ACK sip:200@192.0.2.1 SIP/2.0\r\n");
	OCTO_CHECK_CONTAINS(s, "Via: SIP/2.0/UDP 192.0.2.100:5070;branch=z9hG4bKinv;rport\r\n");
	OCTO_CHECK_CONTAINS(s, "Route: <sip:proxy.example;lr>\r\n");
	OCTO_CHECK_CONTAINS(s, "To: <sip:200@192.0.2.1>;tag=t9\r\n");
	OCTO_CHECK_CONTAINS(s, "CSeq: 4 ACK\r\n");
	free(s);
	octo_obj_unref(ack);
	can = sip_msg_cancel_for(inv);
	s = can ? to_str(can) : NULL;
	OCTO_CHECK_CONTAINS(s, "CANCEL sip:200@192.0.2.1 SIP/2.0\r\n");
	OCTO_CHECK_CONTAINS(s, "branch=z9hG4bKinv");
	OCTO_CHECK_CONTAINS(s, "To: <sip:200@192.0.2.1>\r\n");
	OCTO_CHECK_CONTAINS(s, "CSeq: 4 CANCEL\r\n");
	free(s);
	if (can) {
		char k1[SIP_KEY_MAX], k2[SIP_KEY_MAX];

		/* the CANCEL's own client transaction, and the INVITE's, differ */
		sip_msg_client_key(can, k1, sizeof(k1));
		sip_msg_client_key(inv, k2, sizeof(k2));
		OCTO_CHECK_STR_EQ(k1, "z9hG4bKinv|CANCEL");
		OCTO_CHECK_STR_EQ(k2, "z9hG4bKinv|INVITE");
	}
	octo_obj_unref(can);
	OCTO_CHECK(sip_msg_ack_for(inv, inv) == NULL); /* not a response */
out:
	octo_obj_unref(inv);
	octo_obj_unref(r);
}

OCTO_TEST(via_added_on_top)
{
	struct sip_msg *m = sip_msg_request(SIP_OPTIONS, "sip:a@192.0.2.1", "sip:o@pbx", "x",
					    "sip:a@192.0.2.1", NULL, "c", 1);
	char *s;

	if (!m)
		return;
	OCTO_CHECK_INT_EQ(sip_msg_add_via(m, SIP_TP_TCP, "::1", 5070, "z9hG4bKlow"), 0);
	OCTO_CHECK_INT_EQ(sip_msg_add_via(m, SIP_TP_UDP, "192.0.2.100", 5060, "z9hG4bKtop"), 0);
	OCTO_CHECK_STR_EQ(sip_msg_branch(m), "z9hG4bKtop");
	s = to_str(m);
	OCTO_CHECK_CONTAINS(s, "Via: SIP/2.0/UDP 192.0.2.100:5060;branch=z9hG4bKtop;rport\r\n"
			       "Via: SIP/2.0/TCP [::1]:5070;branch=z9hG4bKlow;rport\r\n");
	free(s);
	octo_obj_unref(m);
}

OCTO_TEST(oversized_keys_are_dropped)
{
	char big[1024], text[4096];

	memset(big, 'a', 300);
	big[300] = '\0';
	snprintf(text, sizeof(text), "%s", edit(options_req, "z9hG4bKabc1", big));
	expect_drop(text, "branch, Call-ID or tag too long");
	snprintf(text, sizeof(text), "%s", edit(options_req, "call1@10.0.0.1", big));
	expect_drop(text, "branch, Call-ID or tag too long");
	big[65] = '\0';
	memset(big, 'X', 65);
	snprintf(text, sizeof(text), "%s", edit(options_req, "7 OPTIONS", big));
	expect_drop(edit(text, "CSeq: X", "CSeq: 7 X"), "method too long");
}

/* ---------------------------------------------------------------- keys */

static size_t skey(const char *text, enum sip_method as, char *buf)
{
	struct sip_msg *m = parse_from(text, "10.0.0.1", 5060);
	size_t n = 0;

	buf[0] = '\0';
	if (m)
		n = sip_msg_server_key(m, as, buf, SIP_KEY_MAX);
	octo_obj_unref(m);
	return n;
}

OCTO_TEST(server_keys_match_by_branch)
{
	char a[SIP_KEY_MAX], b[SIP_KEY_MAX], invite[4096], ack[4096], cancel[4096];

	OCTO_CHECK(skey(options_req, SIP_METHOD_UNKNOWN, a) > 0);
	OCTO_CHECK_STR_EQ(a, "z9hG4bKabc1|10.0.0.1:5060|OPTIONS");
	/* a retransmission matches; another branch or sent-by does not */
	skey(edit(options_req, "Max-Forwards: 70", "Max-Forwards: 69"), SIP_METHOD_UNKNOWN, b);
	OCTO_CHECK_STR_EQ(a, b);
	skey(edit(options_req, "z9hG4bKabc1", "z9hG4bKabc2"), SIP_METHOD_UNKNOWN, b);
	OCTO_CHECK(strcmp(a, b) != 0);
	skey(edit(options_req, "10.0.0.1:5060;", "10.0.0.9:5060;"), SIP_METHOD_UNKNOWN, b);
	OCTO_CHECK(strcmp(a, b) != 0);

	/* ACK matches its INVITE; CANCEL has its own, and finds the INVITE's */
	snprintf(invite, sizeof(invite), "%s", edit(options_req, "OPTIONS sip", "INVITE sip"));
	snprintf(invite, sizeof(invite), "%s", edit(invite, "7 OPTIONS", "7 INVITE"));
	snprintf(ack, sizeof(ack), "%s", edit(invite, "INVITE sip", "ACK sip"));
	snprintf(ack, sizeof(ack), "%s", edit(ack, "7 INVITE", "7 ACK"));
	snprintf(cancel, sizeof(cancel), "%s", edit(invite, "INVITE sip", "CANCEL sip"));
	snprintf(cancel, sizeof(cancel), "%s", edit(cancel, "7 INVITE", "7 CANCEL"));
	skey(invite, SIP_METHOD_UNKNOWN, a);
	skey(ack, SIP_METHOD_UNKNOWN, b);
	OCTO_CHECK_STR_EQ(a, "z9hG4bKabc1|10.0.0.1:5060|INVITE");
	OCTO_CHECK_STR_EQ(b, a);
	skey(cancel, SIP_METHOD_UNKNOWN, b);
	OCTO_CHECK_STR_EQ(b, "z9hG4bKabc1|10.0.0.1:5060|CANCEL");
	skey(cancel, SIP_INVITE, b);
	OCTO_CHECK_STR_EQ(b, a);
}

OCTO_TEST(server_keys_rfc2543_fallback)
{
	char a[SIP_KEY_MAX], b[SIP_KEY_MAX], old[4096], ack[4096];

	/* no magic cookie: Call-ID, CSeq number, From tag, Via */
	snprintf(old, sizeof(old), "%s", edit(options_req, ";branch=z9hG4bKabc1", ""));
	snprintf(old, sizeof(old), "%s", edit(old, "OPTIONS sip", "INVITE sip"));
	snprintf(old, sizeof(old), "%s", edit(old, "7 OPTIONS", "7 INVITE"));
	skey(old, SIP_METHOD_UNKNOWN, a);
	OCTO_CHECK_STR_EQ(a, "2543|call1@10.0.0.1|7|ft1||10.0.0.1:5060|INVITE");
	/* its ACK (with the To tag of our answer) matches */
	snprintf(ack, sizeof(ack), "%s", edit(old, "INVITE sip", "ACK sip"));
	snprintf(ack, sizeof(ack), "%s", edit(ack, "7 INVITE", "7 ACK"));
	snprintf(ack, sizeof(ack), "%s",
		 edit(ack, "<sip:100@127.0.0.1>" CRLF, "<sip:100@127.0.0.1>;tag=ours" CRLF));
	skey(ack, SIP_METHOD_UNKNOWN, b);
	OCTO_CHECK_STR_EQ(b, a);
	/* another CSeq is another transaction */
	skey(edit(old, "7 INVITE", "8 INVITE"), SIP_METHOD_UNKNOWN, b);
	OCTO_CHECK(strcmp(a, b) != 0);
}

OCTO_TEST(client_key_from_response)
{
	static const char resp[] = "SIP/2.0 200 OK" CRLF
				   "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKmine" CRLF
				   "From: <sip:a@b>;tag=1" CRLF "To: <sip:c@d>;tag=2" CRLF
				   "Call-ID: x" CRLF "CSeq: 3 CANCEL" CRLF CRLF;
	struct sip_msg *m = parse_from(resp, "10.0.0.2", 5060);
	char k[SIP_KEY_MAX];

	if (!m)
		return;
	OCTO_CHECK(sip_msg_client_key(m, k, sizeof(k)) > 0);
	OCTO_CHECK_STR_EQ(k, "z9hG4bKmine|CANCEL");
	OCTO_CHECK_INT_EQ(sip_msg_client_key(m, k, 8), 0); /* does not fit */
	octo_obj_unref(m);
}

OCTO_TEST(branches_and_tokens)
{
	char b1[SIP_BRANCH_LEN], b2[SIP_BRANCH_LEN], t[17];

	sip_new_branch(b1, sizeof(b1));
	sip_new_branch(b2, sizeof(b2));
	OCTO_CHECK(!strncmp(b1, "z9hG4bK", 7));
	OCTO_CHECK(strcmp(b1, b2) != 0);
	OCTO_CHECK(sip_branch_is_ours(b1));
	OCTO_CHECK(!sip_branch_is_ours("z9hG4bKabc1"));
	OCTO_CHECK(!sip_branch_is_ours(NULL));
	sip_random_token(t, sizeof(t));
	OCTO_CHECK_INT_EQ(strlen(t), 16);
}

/* ---------------------------------------------------------------- framing */

OCTO_TEST(stream_framing)
{
	char two[2048];
	size_t skip;
	bool ping;
	long n;

	snprintf(two, sizeof(two), "%s%s", options_req, options_req);
	n = sip_frame(two, strlen(two), 65535, &skip, &ping);
	OCTO_CHECK_INT_EQ(n, (long)strlen(options_req));
	OCTO_CHECK_INT_EQ(skip, 0);
	OCTO_CHECK(!ping);
	/* incomplete header block, then an incomplete body */
	OCTO_CHECK_INT_EQ(sip_frame(options_req, 40, 65535, &skip, &ping), 0);
	snprintf(two, sizeof(two), "%s", edit(options_req, "Content-Length: 0", "l: 5"));
	OCTO_CHECK_INT_EQ(sip_frame(two, strlen(two), 65535, &skip, &ping), 0);
	strcat(two, "hello");
	OCTO_CHECK_INT_EQ(sip_frame(two, strlen(two), 65535, &skip, &ping), (long)strlen(two));
	/* keep-alive ping before a message, and alone */
	snprintf(two, sizeof(two), "\r\n\r\n%s", options_req);
	OCTO_CHECK_INT_EQ(sip_frame(two, strlen(two), 65535, &skip, &ping),
			  (long)strlen(options_req));
	OCTO_CHECK_INT_EQ(skip, 4);
	OCTO_CHECK(ping);
	OCTO_CHECK_INT_EQ(sip_frame("\r\n\r\n", 4, 65535, &skip, &ping), 0);
	OCTO_CHECK_INT_EQ(skip, 4);
	OCTO_CHECK(ping);
	OCTO_CHECK_INT_EQ(sip_frame("\r\n", 2, 65535, &skip, &ping), 0);
	OCTO_CHECK(!ping);
	/* broken: bad length, two lengths, too big */
	OCTO_CHECK_INT_EQ(sip_frame(edit(options_req, "Content-Length: 0", "Content-Length: x"),
				    strlen(options_req) + 1, 65535, &skip, &ping),
			  -1);
	snprintf(two, sizeof(two), "%s", edit(options_req, "Content-Length: 0", "l: 1\r\nl: 2"));
	OCTO_CHECK_INT_EQ(sip_frame(two, strlen(two), 65535, &skip, &ping), -1);
	snprintf(two, sizeof(two), "%s", edit(options_req, "Content-Length: 0", "l: 100000"));
	OCTO_CHECK_INT_EQ(sip_frame(two, strlen(two), 65535, &skip, &ping), -1);
	OCTO_CHECK_INT_EQ(sip_frame(options_req, strlen(options_req), 100, &skip, &ping), -1);
}

OCTO_TEST(addresses)
{
	struct sip_addr a, b;
	char buf[SIP_ADDR_STRLEN];

	OCTO_CHECK_INT_EQ(sip_addr_set(&a, SIP_TP_TCP, "::1", 5070), 0);
	OCTO_CHECK_STR_EQ(sip_addr_str(&a, buf, sizeof(buf)), "TCP [::1]:5070");
	OCTO_CHECK_INT_EQ(sip_addr_set(&b, SIP_TP_TCP, "[::1]", 5070), 0);
	OCTO_CHECK(sip_addr_equal(&a, &b));
	OCTO_CHECK_INT_EQ(sip_addr_set(&b, SIP_TP_UDP, "::1", 5070), 0);
	OCTO_CHECK(!sip_addr_equal(&a, &b));
	OCTO_CHECK_INT_EQ(sip_addr_set(&a, SIP_TP_UDP, "pbx.example", 5060), OCTO_EINVAL);
	OCTO_CHECK_INT_EQ(sip_tp_parse("tls"), SIP_TP_TLS);
	OCTO_CHECK_INT_EQ(sip_tp_parse("SCTP"), -1);
}

static void test_quiet_trace(const char *fi, int li, osip_trace_level_t level, const char *chfr,
			     va_list ap)
{
	/* osip's own error lines would go to stdout between PASS lines */
}

__attribute__((constructor)) static void test_parser_init(void)
{
	parser_init();
	osip_trace_initialize_func(END_TRACE_LEVEL, test_quiet_trace);
}

OCTO_TEST_MAIN()
