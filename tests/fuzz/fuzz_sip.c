/*
 * fuzz_sip.c - libFuzzer harness for chan_sip's message entry point
 * (sip_msg.c): an arbitrary datagram goes through sip_msg_receive() (keep-
 * alive filter, osip parse, validation, salvage, RFC 3581 Via fix-up) and
 * whatever comes out is used the way the stack uses it: an error response
 * is serialised; a valid request gets its transaction key and a response
 * (serialised and parsed again: what we send must be valid SIP); a valid
 * response gets its client key; the ACK and CANCEL an INVITE client would
 * build from it are built. Each message written is compared with what
 * libosip2's own printer makes of it (sip_write.c). The same bytes also go
 * through the stream framer (sip_frame), and each framed message through
 * the receive path.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude \
 *        core/util.c core/obj.c \
 *        modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_write.c \
 *        tests/fuzz/fuzz_sip.c -losipparser2
 * Run:   ./a.out tests/fuzz/corpus/sip
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "octo/obj.h"
/* by path, so contrib/test.sh needs no -I for the module's folder */
#include "../../modules/channels/chan_sip/sip.h"

#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_sip: check failed: %s (line %d)\n", #cond,           \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void fz_trace(const char *fi, int li, osip_trace_level_t level, const char *chfr, va_list ap)
{
	/* osip's error lines: the harness wants a quiet stdout */
}

/* Does each header we copy into an answer survive osip's own print and
 * parse? osip has quirks (it prints "<sip:a?b>" as "<sip:a>", which it then
 * refuses); copying such a header faithfully is all the stack can do. */
static bool fz_osip_roundtrip(struct sip_msg *m)
{
	osip_message_t *o = m->osip;
	char *s = NULL;
	bool ok = true;
	osip_from_t *f;
	osip_via_t *v;
	int pos = 0;

	for (int i = 0; i < 2 && ok; i++) {
		osip_from_t *src = i ? (osip_from_t *)o->to : o->from;

		if (!src || osip_from_to_str(src, &s) != 0)
			return false;
		osip_from_init(&f);
		ok = osip_from_parse(f, s) == 0;
		osip_from_free(f);
		osip_free(s);
	}
	while (ok && (v = osip_list_get(&o->vias, pos++))) {
		osip_via_t *c;

		if (osip_via_to_str(v, &s) != 0)
			return false;
		osip_via_init(&c);
		ok = osip_via_parse(c, s) == 0;
		osip_via_free(c);
		osip_free(s);
	}
	return ok;
}

/* Does one of osip's printers fail on a part of this tree? Its message
 * printer then leaves that header's name alone on the line, glued to the
 * next header, where sip_write.c refuses to write the message. */
#define FZ_LIST_FAILS(list, print)                                                                 \
	for (void *h = osip_list_get_first(&o->list, &it); h; h = osip_list_get_next(&it)) {       \
		if (print(h, &s) != 0)                                                             \
			return true;                                                               \
		osip_free(s);                                                                      \
	}
#define FZ_ONE_FAILS(field, print)                                                                 \
	if (o->field) {                                                                            \
		if (print(o->field, &s) != 0)                                                      \
			return true;                                                               \
		osip_free(s);                                                                      \
	}

static bool fz_osip_printer_fails(osip_message_t *o)
{
	osip_list_iterator_t it;
	char *s = NULL;
	size_t len;

	if (o->sip_method && o->req_uri) {
		if (osip_uri_to_str(o->req_uri, &s) != 0)
			return true;
		osip_free(s);
	}
	FZ_LIST_FAILS(vias, osip_via_to_str)
	FZ_LIST_FAILS(record_routes, osip_record_route_to_str)
	FZ_LIST_FAILS(routes, osip_route_to_str)
	FZ_ONE_FAILS(from, osip_from_to_str)
	FZ_ONE_FAILS(to, osip_to_to_str)
	FZ_ONE_FAILS(call_id, osip_call_id_to_str)
	FZ_ONE_FAILS(cseq, osip_cseq_to_str)
	FZ_LIST_FAILS(contacts, osip_contact_to_str)
	FZ_LIST_FAILS(authorizations, osip_authorization_to_str)
	FZ_LIST_FAILS(www_authenticates, osip_www_authenticate_to_str)
	FZ_LIST_FAILS(proxy_authenticates, osip_www_authenticate_to_str)
	FZ_LIST_FAILS(proxy_authorizations, osip_authorization_to_str)
	FZ_LIST_FAILS(call_infos, osip_call_info_to_str)
	FZ_ONE_FAILS(content_type, osip_content_type_to_str)
	FZ_ONE_FAILS(mime_version, osip_content_length_to_str)
	FZ_LIST_FAILS(allows, osip_content_length_to_str)
	FZ_LIST_FAILS(content_encodings, osip_content_length_to_str)
	FZ_LIST_FAILS(alert_infos, osip_call_info_to_str)
	FZ_LIST_FAILS(error_infos, osip_call_info_to_str)
	FZ_LIST_FAILS(accepts, osip_accept_to_str)
	FZ_LIST_FAILS(accept_encodings, osip_accept_encoding_to_str)
	FZ_LIST_FAILS(accept_languages, osip_accept_encoding_to_str)
	FZ_LIST_FAILS(authentication_infos, osip_authentication_info_to_str)
	FZ_LIST_FAILS(proxy_authentication_infos, osip_authentication_info_to_str)
	FZ_LIST_FAILS(headers, osip_header_to_str)
	for (osip_body_t *b = osip_list_get_first(&o->bodies, &it); b; b = osip_list_get_next(&it)) {
		if (osip_body_to_str(b, &s, &len) != 0)
			return true;
		osip_free(s);
	}
	return false;
}

/* sip_write.c must print what osip_message_to_str() prints for the same tree
 * (but for osip's padding of Content-Length); it refuses a tree only where
 * osip fails too, or prints a broken message (above). */
static void fz_same_as_osip(struct sip_msg *m)
{
	struct sip_text ours = { 0 };
	char *theirs = NULL, *cl;
	size_t tlen = 0;
	int rc = sip_msg_write(m, &ours);

	osip_message_force_update(m->osip);
	if (osip_message_to_str(m->osip, &theirs, &tlen) != 0 || !theirs) {
		if (rc == 0)
			fprintf(stderr, "fuzz_sip: osip refuses what we wrote:\n%s\n", ours.buf);
		FZ_CHECK(rc != 0);
		sip_text_free(&ours);
		return;
	}
	cl = strstr(theirs, "\r\nContent-Length: ");
	if (cl) {
		char *v = cl + 18, *e = v;

		while (*e == ' ')
			e++;
		memmove(v, e, tlen - (size_t)(e - theirs) + 1);
		tlen -= (size_t)(e - v);
	}
	if (rc != 0 && fz_osip_printer_fails(m->osip)) {
		osip_free(theirs);
		osip_free(m->osip->message);
		m->osip->message = NULL;
		sip_text_free(&ours);
		return;
	}
	if (rc != 0 || ours.len != tlen || memcmp(ours.buf, theirs, tlen) != 0)
		fprintf(stderr, "fuzz_sip: we wrote (rc %d):\n%s\nosip wrote:\n%s\n", rc,
			rc ? "" : ours.buf, theirs);
	FZ_CHECK(rc == 0 && ours.len == tlen && memcmp(ours.buf, theirs, tlen) == 0);
	osip_free(theirs);
	osip_free(m->osip->message);
	m->osip->message = NULL;
	sip_text_free(&ours);
}

/* What the stack sends must parse again as a valid message. */
static void fz_reparse(struct sip_msg *m, int status)
{
	struct sip_msg *back;
	const char *why;
	char *text;
	size_t len;
	int st;

	FZ_CHECK(sip_msg_to_str(m, &text, &len) == 0);
	fz_same_as_osip(m);
	back = sip_msg_parse(text, len, NULL, &st, &why, NULL);
	if (!back && !fz_osip_roundtrip(m)) {
		osip_free(text);
		return;
	}
	if (!back)
		fprintf(stderr, "fuzz_sip: our own message does not parse (%s):\n%.*s\n", why,
			(int)len, text);
	FZ_CHECK(back != NULL);
	FZ_CHECK(back->status == status);
	octo_obj_unref(back);
	osip_free(text);
}

static void fz_one(const char *buf, size_t len, const struct sip_addr *src)
{
	struct sip_msg *m = NULL, *r;
	const char *why = NULL;
	char key[SIP_KEY_MAX];

	switch (sip_msg_receive(buf, len, src, &m, &why)) {
	case SIP_RX_KEEPALIVE: FZ_CHECK(m == NULL); break;
	case SIP_RX_DROP: FZ_CHECK(m == NULL && why != NULL); break;
	case SIP_RX_REPLY:
		FZ_CHECK(m != NULL && m->status >= 400 && m->status <= 599);
		FZ_CHECK(sip_addr_port(&m->dst) != 0);
		fz_reparse(m, m->status);
		break;
	case SIP_RX_OK:
		FZ_CHECK(m != NULL);
		fz_same_as_osip(m); /* every header kind osip parses, as received */
		if (sip_msg_is_request(m)) {
			FZ_CHECK(sip_msg_server_key(m, SIP_METHOD_UNKNOWN, key, sizeof(key)) > 0);
			FZ_CHECK(sip_msg_server_key(m, SIP_INVITE, key, sizeof(key)) > 0);
			r = sip_msg_response(m, 200, NULL, "fuzztag");
			FZ_CHECK(r != NULL);
			sip_msg_add_agent(r);
			fz_reparse(r, 200);
			/* what an INVITE client builds from its request and an answer */
			{
				struct sip_msg *ack = sip_msg_ack_for(m, r), *can;
				char *text;
				size_t tlen;

				FZ_CHECK(ack != NULL || !m->osip->req_uri);
				if (ack && sip_msg_to_str(ack, &text, &tlen) == 0)
					osip_free(text);
				if (ack)
					fz_same_as_osip(ack);
				octo_obj_unref(ack);
				can = sip_msg_cancel_for(m);
				if (can) {
					FZ_CHECK(sip_msg_client_key(can, key, sizeof(key)) > 0 ||
						 !sip_msg_branch(m) || !*sip_msg_branch(m));
					octo_obj_unref(can);
				}
			}
			octo_obj_unref(r);
		} else {
			sip_msg_client_key(m, key, sizeof(key));
			FZ_CHECK(sip_msg_response(m, 200, NULL, NULL) == NULL);
		}
		sip_msg_header(m, "max-forwards");
		sip_msg_body(m, NULL);
		break;
	}
	octo_obj_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct sip_addr udp, tcp;
	const char *buf = (const char *)data;
	size_t off = 0;

	if (!init) {
		parser_init();
		osip_trace_initialize_func(END_TRACE_LEVEL, fz_trace);
		init = 1;
	}
	sip_addr_set(&udp, SIP_TP_UDP, "192.0.2.1", 5062);
	sip_addr_set(&tcp, SIP_TP_TCP, "2001:db8::1", 40000);
	tcp.conn = 7;

	/* one datagram */
	if (size <= 65535)
		fz_one(buf, size, &udp);

	/* the same bytes as a stream */
	for (int n = 0; n < 64 && off < size; n++) {
		size_t skip;
		bool ping;
		long got = sip_frame(buf + off, size - off, 4096, &skip, &ping);

		FZ_CHECK(skip <= size - off);
		off += skip;
		if (got <= 0)
			break;
		FZ_CHECK((size_t)got <= size - off && got <= 4096);
		fz_one(buf + off, (size_t)got, &tcp);
		off += (size_t)got;
	}
	return 0;
}
