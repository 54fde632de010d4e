/*
 * sip_write.c - the text of a SIP message, written from its osip tree into a
 * growing buffer that the caller keeps and reuses.
 *
 * DESIGN
 *  - Why not osip_message_to_str(): per message it allocates a buffer of its
 *    maximum message size (8 KB, a size glibc serves only after merging its
 *    small free chunks: a third of the SIP loop's malloc time under load),
 *    a string per header and per URI (then copied and freed), and keeps a
 *    second copy of the whole text in the tree. Here the headers the stack
 *    sends on every call (Via, From, To, Call-ID, CSeq, Contact, Route,
 *    Record-Route, the generic ones, Content-Length, a plain body) are
 *    written in place; the rarer ones (Authorization, WWW-Authenticate,
 *    Allow, Content-Type, ...) and multipart bodies through osip's own
 *    per-header printers.
 *  - The text is what osip prints for the same tree (same header order:
 *    the parsed headers in osip's table order, then the others, then
 *    Content-Length; same URI escaping), except that Content-Length is not
 *    padded with spaces. The unit test and the fuzz harness compare the two
 *    byte for byte on every message they see.
 *  - Pure like sip_msg.c: no loop, no sockets.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "octo/octo.h"
#include "sip.h"

/* ================================================================ the buffer */

static void wr_grow(struct sip_text *t, size_t more)
{
	size_t want = t->len + more + 1, cap = t->cap ? t->cap : 1024;
	char *p;

	if (t->failed)
		return;
	if (want <= t->cap)
		return;
	while (cap < want)
		cap *= 2;
	p = realloc(t->buf, cap);
	if (!p) {
		t->failed = true;
		return;
	}
	t->buf = p;
	t->cap = cap;
}

static void wr_mem(struct sip_text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap)
		wr_grow(t, n);
	if (t->failed)
		return;
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void wr_str(struct sip_text *t, const char *s)
{
	wr_mem(t, s, strlen(s));
}

static void wr_char(struct sip_text *t, char c)
{
	wr_mem(t, &c, 1);
}

static void wr_uint(struct sip_text *t, unsigned long v)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	wr_mem(t, d + i, sizeof(d) - i);
}

void sip_text_free(struct sip_text *t)
{
	free(t->buf);
	*t = (struct sip_text){ 0 };
}

/* ================================================================ URIs */

/* The characters RFC 3261 (25.1) lets through unescaped besides letters and
 * digits: the marks of "unreserved", plus each part's own extra set. */
#define WR_MARK "-_.!~*'()"
static const char wr_user_ok[] = WR_MARK "&=+$,;?/";     /* user-unreserved */
static const char wr_password_ok[] = WR_MARK "&=+$,";    /* password */
static const char wr_param_ok[] = WR_MARK "[]/:&+$";     /* param-unreserved */
static const char wr_header_ok[] = WR_MARK "[]/?:+$";    /* hnv-unreserved */

static void wr_escaped(struct sip_text *t, const char *s, const char *ok)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr(ok, c)) {
			wr_char(t, (char)c);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			wr_mem(t, e, 3);
		}
	}
}

/* A host with a colon is an IPv6 reference and goes in brackets. */
static void wr_host(struct sip_text *t, const char *host)
{
	if (strchr(host, ':')) {
		wr_char(t, '[');
		wr_str(t, host);
		wr_char(t, ']');
	} else {
		wr_str(t, host);
	}
}

static int wr_uri(struct sip_text *t, const osip_uri_t *u)
{
	osip_list_iterator_t it;
	osip_uri_param_t *p;
	osip_uri_header_t *h;
	bool first = true;

	if (!u || (!u->host && !u->string) || (!u->scheme && u->string))
		return OCTO_EINVAL;
	wr_str(t, u->scheme ? u->scheme : "sip");
	wr_char(t, ':');
	if (u->string) { /* tel:, urn: ... kept as written */
		wr_str(t, u->string);
		return 0;
	}
	if (u->username) {
		wr_escaped(t, u->username, wr_user_ok);
		if (u->password) {
			wr_char(t, ':');
			wr_escaped(t, u->password, wr_password_ok);
		}
		wr_char(t, '@');
	}
	wr_host(t, u->host);
	if (u->port) {
		wr_char(t, ':');
		wr_str(t, u->port);
	}
	for (p = osip_list_get_first((osip_list_t *)&u->url_params, &it); p;
	     p = osip_list_get_next(&it)) {
		if (!p->gname)
			return OCTO_EINVAL;
		/* libeXosip2's private markers: osip never prints them either */
		if (!strcasecmp(p->gname, "x-obr") || !strcasecmp(p->gname, "x-obp"))
			continue;
		wr_char(t, ';');
		wr_escaped(t, p->gname, wr_param_ok);
		if (p->gvalue) {
			wr_char(t, '=');
			wr_escaped(t, p->gvalue, wr_param_ok);
		}
	}
	for (h = osip_list_get_first((osip_list_t *)&u->url_headers, &it); h;
	     h = osip_list_get_next(&it)) {
		if (!h->gname || !h->gvalue)
			return OCTO_EINVAL;
		wr_char(t, first ? '?' : '&');
		first = false;
		wr_escaped(t, h->gname, wr_header_ok);
		wr_char(t, '=');
		wr_escaped(t, h->gvalue, wr_header_ok);
	}
	return 0;
}

/* ";name" or ";name=value", as stored (quotes included). */
static int wr_params(struct sip_text *t, const osip_list_t *params)
{
	osip_list_iterator_t it;
	osip_generic_param_t *p;

	for (p = osip_list_get_first((osip_list_t *)params, &it); p; p = osip_list_get_next(&it)) {
		if (!p->gname)
			return OCTO_EINVAL;
		wr_char(t, ';');
		wr_str(t, p->gname);
		if (p->gvalue) {
			wr_char(t, '=');
			wr_str(t, p->gvalue);
		}
	}
	return 0;
}

/* ================================================================ headers */

/* From, To, Contact, Route, Record-Route: [display-name] <uri>;params (the
 * brackets always: RFC 3261 20.20 wants them in From and To). */
static int wr_name_addr(struct sip_text *t, const void *hdr)
{
	const osip_from_t *f = hdr;
	int rc;

	if (!f || !f->url)
		return OCTO_EINVAL;
	if (f->displayname) {
		wr_str(t, f->displayname);
		wr_char(t, ' ');
	}
	wr_char(t, '<');
	rc = wr_uri(t, f->url);
	if (rc)
		return rc;
	wr_char(t, '>');
	return wr_params(t, &f->gen_params);
}

static int wr_contact(struct sip_text *t, const void *hdr)
{
	const osip_contact_t *c = hdr;

	if (c && c->displayname && c->displayname[0] == '*') {
		wr_char(t, '*'); /* Contact: * (remove all bindings) */
		return 0;
	}
	return wr_name_addr(t, c);
}

static int wr_via(struct sip_text *t, const void *hdr)
{
	const osip_via_t *v = hdr;

	if (!v || !v->host || !v->version || !v->protocol)
		return OCTO_EINVAL;
	wr_str(t, "SIP/");
	wr_str(t, v->version);
	wr_char(t, '/');
	wr_str(t, v->protocol);
	wr_char(t, ' ');
	wr_host(t, v->host);
	if (v->port) {
		wr_char(t, ':');
		wr_str(t, v->port);
	}
	if (wr_params(t, &v->via_params))
		return OCTO_EINVAL;
	if (v->comment) {
		wr_str(t, " (");
		wr_str(t, v->comment);
		wr_char(t, ')');
	}
	return 0;
}

static int wr_call_id(struct sip_text *t, const void *hdr)
{
	const osip_call_id_t *c = hdr;

	if (!c || !c->number)
		return OCTO_EINVAL;
	wr_str(t, c->number);
	if (c->host) {
		wr_char(t, '@');
		wr_str(t, c->host);
	}
	return 0;
}

static int wr_cseq(struct sip_text *t, const void *hdr)
{
	const osip_cseq_t *c = hdr;

	if (!c || !c->number || !c->method)
		return OCTO_EINVAL;
	wr_str(t, c->number);
	wr_char(t, ' ');
	wr_str(t, c->method);
	return 0;
}

/* The rarer kinds go through osip's own printers, called with their types. */
#define WR_PRINTER(name, fn, type)                                                                 \
	static int name(const void *hdr, char **out)                                               \
	{                                                                                          \
		return fn((const type *)hdr, out);                                                 \
	}
WR_PRINTER(pr_authorization, osip_authorization_to_str, osip_authorization_t)
WR_PRINTER(pr_authenticate, osip_www_authenticate_to_str, osip_www_authenticate_t)
WR_PRINTER(pr_call_info, osip_call_info_to_str, osip_call_info_t)
WR_PRINTER(pr_content_type, osip_content_type_to_str, osip_content_type_t)
WR_PRINTER(pr_token_list, osip_content_length_to_str, osip_content_length_t)
WR_PRINTER(pr_accept, osip_accept_to_str, osip_accept_t)
WR_PRINTER(pr_accept_encoding, osip_accept_encoding_to_str, osip_accept_encoding_t)
WR_PRINTER(pr_auth_info, osip_authentication_info_to_str, osip_authentication_info_t)

struct wr_kind {
	const char *name; /* "Via: " */
	size_t offset;    /* of the field in osip_message_t */
	bool list;        /* an osip_list_t of headers, else a pointer to one */
	int (*write)(struct sip_text *t, const void *hdr);
	int (*print)(const void *hdr, char **out); /* when write is NULL */
};

#define WR_LIST(name, field, w, p) { name, offsetof(osip_message_t, field), true, w, p }
#define WR_ONE(name, field, w, p) { name, offsetof(osip_message_t, field), false, w, p }

/* osip's order, so that the text is the one it would print. */
static const struct wr_kind wr_kinds[] = {
	WR_LIST("Via: ", vias, wr_via, NULL),
	WR_LIST("Record-Route: ", record_routes, wr_name_addr, NULL),
	WR_LIST("Route: ", routes, wr_name_addr, NULL),
	WR_ONE("From: ", from, wr_name_addr, NULL),
	WR_ONE("To: ", to, wr_name_addr, NULL),
	WR_ONE("Call-ID: ", call_id, wr_call_id, NULL),
	WR_ONE("CSeq: ", cseq, wr_cseq, NULL),
	WR_LIST("Contact: ", contacts, wr_contact, NULL),
	WR_LIST("Authorization: ", authorizations, NULL, pr_authorization),
	WR_LIST("WWW-Authenticate: ", www_authenticates, NULL, pr_authenticate),
	WR_LIST("Proxy-Authenticate: ", proxy_authenticates, NULL, pr_authenticate),
	WR_LIST("Proxy-Authorization: ", proxy_authorizations, NULL, pr_authorization),
	WR_LIST("Call-Info: ", call_infos, NULL, pr_call_info),
	WR_ONE("Content-Type: ", content_type, NULL, pr_content_type),
	WR_ONE("Mime-Version: ", mime_version, NULL, pr_token_list),
	WR_LIST("Allow: ", allows, NULL, pr_token_list),
	WR_LIST("Content-Encoding: ", content_encodings, NULL, pr_token_list),
	WR_LIST("Alert-Info: ", alert_infos, NULL, pr_call_info),
	WR_LIST("Error-Info: ", error_infos, NULL, pr_call_info),
	WR_LIST("Accept: ", accepts, NULL, pr_accept),
	WR_LIST("Accept-Encoding: ", accept_encodings, NULL, pr_accept_encoding),
	WR_LIST("Accept-Language: ", accept_languages, NULL, pr_accept_encoding),
	WR_LIST("Authentication-Info: ", authentication_infos, NULL, pr_auth_info),
	WR_LIST("Proxy-Authentication-Info: ", proxy_authentication_infos, NULL, pr_auth_info),
};

static int wr_one(struct sip_text *t, const struct wr_kind *k, void *hdr)
{
	char *s = NULL;
	int rc;

	wr_str(t, k->name);
	if (k->write) {
		rc = k->write(t, hdr);
	} else {
		rc = k->print(hdr, &s) == 0 && s ? 0 : OCTO_EINVAL;
		if (!rc)
			wr_str(t, s);
		osip_free(s);
	}
	wr_mem(t, "\r\n", 2);
	return rc;
}

/* A header osip keeps by name: "Name: value" (osip capitalises a lower-case
 * first letter of the name when it prints, and so do we). */
static int wr_other(struct sip_text *t, const osip_header_t *h)
{
	if (!h || !h->hname)
		return OCTO_EINVAL;
	if (h->hname[0] >= 'a' && h->hname[0] <= 'z') {
		wr_char(t, (char)(h->hname[0] - 'a' + 'A'));
		wr_str(t, h->hname + 1);
	} else {
		wr_str(t, h->hname);
	}
	wr_mem(t, ": ", 2);
	if (h->hvalue)
		wr_str(t, h->hvalue);
	wr_mem(t, "\r\n", 2);
	return 0;
}

/* ================================================================ the message */

static int wr_start_line(struct sip_text *t, const osip_message_t *o)
{
	const char *version = o->sip_version ? o->sip_version : "SIP/2.0";

	if (o->sip_method) {
		int rc;

		if (!o->req_uri)
			return OCTO_EINVAL;
		wr_str(t, o->sip_method);
		wr_char(t, ' ');
		rc = wr_uri(t, o->req_uri);
		if (rc)
			return rc;
		wr_char(t, ' ');
		wr_str(t, version);
	} else {
		if (o->status_code < 100 || o->status_code > 699 || !o->reason_phrase)
			return OCTO_EINVAL;
		wr_str(t, version);
		wr_char(t, ' ');
		wr_uint(t, (unsigned long)o->status_code);
		wr_char(t, ' ');
		wr_str(t, o->reason_phrase);
	}
	wr_mem(t, "\r\n", 2);
	return 0;
}

/* A body part with MIME headers of its own, or several parts: osip's whole
 * printer (multipart boundaries), only the Content-Length fixed up. */
static bool wr_needs_osip(const osip_message_t *o)
{
	osip_list_iterator_t it;
	osip_body_t *b;
	int n = 0;

	for (b = osip_list_get_first((osip_list_t *)&o->bodies, &it); b; b = osip_list_get_next(&it)) {
		if (++n > 1 || b->content_type || (b->headers && osip_list_size(b->headers) > 0))
			return true;
	}
	return false;
}

static int wr_with_osip(struct sip_text *t, osip_message_t *o)
{
	char *s = NULL, *cl;
	size_t len = 0;

	osip_message_force_update(o);
	if (osip_message_to_str(o, &s, &len) != 0 || !s)
		return OCTO_EINVAL;
	/* osip pads the length to five columns: "Content-Length:   129" */
	cl = strstr(s, "\r\nContent-Length: ");
	if (cl) {
		char *v = cl + 18, *e = v;

		while (*e == ' ')
			e++;
		wr_mem(t, s, (size_t)(v - s));
		wr_mem(t, e, len - (size_t)(e - s));
	} else {
		wr_mem(t, s, len);
	}
	osip_free(s);
	/* osip kept a copy of the text in the tree: not needed */
	osip_free(o->message);
	o->message = NULL;
	return 0;
}

int sip_msg_write(struct sip_msg *m, struct sip_text *t)
{
	osip_message_t *o = m->osip;
	osip_list_iterator_t it;
	osip_header_t *h;
	osip_body_t *b;
	int rc;

	t->len = 0;
	t->failed = false;
	wr_grow(t, 0);
	if (t->failed)
		return OCTO_ENOMEM;
	t->buf[0] = '\0';
	if (wr_needs_osip(o)) {
		rc = wr_with_osip(t, o);
		goto done;
	}
	rc = wr_start_line(t, o);
	if (rc)
		goto done;
	for (size_t k = 0; k < sizeof(wr_kinds) / sizeof(wr_kinds[0]) && !rc; k++) {
		const struct wr_kind *kind = &wr_kinds[k];
		void *field = (char *)o + kind->offset;

		if (!kind->list) {
			void *hdr = *(void **)field;

			if (hdr)
				rc = wr_one(t, kind, hdr);
			continue;
		}
		for (void *hdr = osip_list_get_first(field, &it); hdr && !rc;
		     hdr = osip_list_get_next(&it))
			rc = wr_one(t, kind, hdr);
	}
	for (h = osip_list_get_first(&o->headers, &it); h && !rc; h = osip_list_get_next(&it))
		rc = wr_other(t, h);
	if (rc)
		goto done;
	b = osip_list_get_first(&o->bodies, &it);
	if (b && (!b->body || !b->length)) {
		rc = OCTO_EINVAL; /* osip refuses an empty part too */
		goto done;
	}
	wr_str(t, "Content-Length: ");
	wr_uint(t, b ? (unsigned long)b->length : 0);
	wr_mem(t, "\r\n\r\n", 4);
	if (b)
		wr_mem(t, b->body, b->length);
done:
	if (!rc && t->failed)
		rc = OCTO_ENOMEM;
	if (rc)
		t->len = 0;
	return rc;
}
