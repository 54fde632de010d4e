/*
 * sip_sdp.c - session descriptions for SIP calls: parsing and validating a
 * remote offer or answer (libosip2's SDP parser; every value checked again
 * here, as the input is hostile), choosing the codec by a user's preference
 * (RFC 3264 offer/answer; G.711 u-law and A-law, RFC 4733 telephone-event),
 * and writing our own offer or answer text.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <osipparser2/sdp_message.h>

#include "octo/octo.h"
#include "sip.h"

const char *sip_sdp_dir_name(enum sip_sdp_dir d)
{
	static const char *const names[] = { "sendrecv", "sendonly", "recvonly", "inactive" };

	return (unsigned)d < OCTO_ARRAY_LEN(names) ? names[d] : "sendrecv";
}

/* A whole decimal number in 0..max. */
static bool sdp_number(const char *s, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!s || !*s || strlen(s) > 10)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

static bool sdp_ip_ok(const char *addrtype, const char *addr)
{
	unsigned char buf[16];

	if (!addr || strlen(addr) >= 64)
		return false;
	if (addrtype && !strcasecmp(addrtype, "IP6"))
		return inet_pton(AF_INET6, addr, buf) == 1;
	return inet_pton(AF_INET, addr, buf) == 1;
}

/* a=rtcp:PORT [IN IP4|IP6 ADDR] (RFC 3605); anything else is ignored, as
 * an attribute we cannot use. */
static void sdp_rtcp_attr(const char *v, struct sip_sdp *out)
{
	char port[8], net[4], type[4], addr[64];
	unsigned long p;
	int n;

	if (!v || strlen(v) > 100)
		return;
	n = sscanf(v, "%7s %3s %3s %63s", port, net, type, addr);
	if (n < 1 || !sdp_number(port, 65535, &p) || !p)
		return;
	if (n == 1) {
		out->rtcp_port = (unsigned)p;
		out->rtcp_ip[0] = '\0';
		return;
	}
	if (n != 4 || strcasecmp(net, "IN") ||
	    (strcasecmp(type, "IP4") && strcasecmp(type, "IP6")) || !sdp_ip_ok(type, addr))
		return;
	out->rtcp_port = (unsigned)p;
	octo_strlcpy(out->rtcp_ip, addr, sizeof(out->rtcp_ip));
}

static int sdp_dir_parse(const char *field)
{
	for (int d = SIP_DIR_SENDRECV; d <= SIP_DIR_INACTIVE; d++)
		if (!strcasecmp(field, sip_sdp_dir_name((enum sip_sdp_dir)d)))
			return d;
	return -1;
}

/* Fills the formats of m= line `m` with their rtpmap names. */
static int sdp_formats(sdp_message_t *s, int m, struct sip_sdp *out, const char **why)
{
	char *p;

	out->nfmts = 0;
	out->dtmf_pt = -1;
	for (int i = 0; (p = sdp_message_m_payload_get(s, m, i)) != NULL; i++) {
		unsigned long pt;

		if (!sdp_number(p, 127, &pt)) {
			*why = "a payload type is not a number 0..127";
			return OCTO_EINVAL;
		}
		if (out->nfmts == SIP_SDP_MAX_FMTS)
			continue; /* more than we would ever choose from */
		out->fmts[out->nfmts] = (struct sip_sdp_fmt){ .pt = (int)pt, .rate = 8000 };
		if (pt == 0)
			strcpy(out->fmts[out->nfmts].name, "PCMU");
		else if (pt == 8)
			strcpy(out->fmts[out->nfmts].name, "PCMA");
		out->nfmts++;
	}
	if (!out->nfmts) {
		*why = "the audio stream has no payload type";
		return OCTO_EINVAL;
	}
	for (int i = 0; (p = sdp_message_a_att_field_get(s, m, i)) != NULL; i++) {
		const char *v = sdp_message_a_att_value_get(s, m, i);
		char name[24];
		unsigned long pt, rate;
		char ptbuf[8], ratebuf[12];
		const char *sp, *slash;
		size_t n;
		int d = sdp_dir_parse(p);

		if (d >= 0) {
			out->dir = (enum sip_sdp_dir)d;
			continue;
		}
		if (!strcasecmp(p, "rtcp")) {
			sdp_rtcp_attr(v, out);
			continue;
		}
		if (strcasecmp(p, "rtpmap") || !v)
			continue;
		/* "101 telephone-event/8000[/channels]" */
		sp = strchr(v, ' ');
		if (!sp || (size_t)(sp - v) >= sizeof(ptbuf))
			continue;
		memcpy(ptbuf, v, (size_t)(sp - v));
		ptbuf[sp - v] = '\0';
		if (!sdp_number(ptbuf, 127, &pt))
			continue;
		sp++;
		slash = strchr(sp, '/');
		n = slash ? (size_t)(slash - sp) : strlen(sp);
		if (!n || n >= sizeof(name))
			continue;
		memcpy(name, sp, n);
		name[n] = '\0';
		rate = 8000;
		if (slash) {
			size_t rn = strcspn(slash + 1, "/");

			if (rn >= sizeof(ratebuf))
				continue;
			memcpy(ratebuf, slash + 1, rn);
			ratebuf[rn] = '\0';
			if (!sdp_number(ratebuf, 1000000, &rate))
				continue;
		}
		for (int k = 0; k < out->nfmts; k++) {
			if (out->fmts[k].pt != (int)pt)
				continue;
			octo_strlcpy(out->fmts[k].name, name, sizeof(out->fmts[k].name));
			out->fmts[k].rate = (unsigned)rate;
			if (!strcasecmp(name, "telephone-event") && rate == 8000 &&
			    out->dtmf_pt < 0)
				out->dtmf_pt = (int)pt;
		}
	}
	return 0;
}

/* Copies `in` into `out` (room for 2*len+3) as CRLF-ended lines; false
 * with *why for a line that is not "<letter>=...", a lone CR or a control
 * character. */
static bool sdp_canonical(const char *in, size_t len, char *out, const char **why)
{
	size_t o = 0, col = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];

		if (ch == '\r' || ch == '\n') {
			if (ch == '\r' && (i + 1 >= len || in[i + 1] != '\n')) {
				*why = "a CR without LF in the session description";
				return false;
			}
			if (ch == '\r')
				i++;
			if (col == 0)
				continue; /* empty lines are skipped */
			out[o++] = '\r';
			out[o++] = '\n';
			col = 0;
			continue;
		}
		if ((ch < ' ' && ch != '\t') || ch == 0x7f) {
			*why = "a control character in the session description";
			return false;
		}
		if ((col == 0 && !((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))) ||
		    (col == 1 && ch != '=')) {
			*why = "a line of the session description is not <type>=<value>";
			return false;
		}
		out[o++] = (char)ch;
		col++;
	}
	if (col == 1) {
		*why = "a line of the session description is not <type>=<value>";
		return false;
	}
	if (col) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	out[o] = '\0';
	return true;
}

int sip_sdp_parse(const char *body, size_t len, struct sip_sdp *out, const char **why)
{
	sdp_message_t *s = NULL;
	char *text = NULL, *media;
	const char *addr, *addrtype;
	unsigned long port;
	int rc = OCTO_EINVAL, audio = -1;

	memset(out, 0, sizeof(*out));
	out->dtmf_pt = -1;
	out->audio_index = -1;
	*why = NULL;
	if (!body || !len) {
		*why = "no session description";
		return OCTO_EINVAL;
	}
	if (len > SIP_SDP_MAX_LEN) {
		*why = "the session description is too large";
		return OCTO_EINVAL;
	}
	if (memchr(body, '\0', len)) {
		*why = "a NUL byte in the session description";
		return OCTO_EINVAL;
	}
	/* libosip2's SDP parser reads past the end on some malformed line
	 * ends (a lone CR), so it only ever sees canonical text: every line
	 * "<letter>=<value>" ended by CRLF, no control characters */
	text = malloc(2 * len + 3);
	if (!text) {
		*why = "out of memory";
		return OCTO_ENOMEM;
	}
	if (!sdp_canonical(body, len, text, why))
		goto out;
	if (sdp_message_init(&s) != 0 || sdp_message_parse(s, text) != 0) {
		*why = "the session description does not parse";
		goto out;
	}
	for (int m = 0; (media = sdp_message_m_media_get(s, m)) != NULL; m++) {
		const char *proto = sdp_message_m_proto_get(s, m);
		const char *mp = sdp_message_m_port_get(s, m);
		const char *fmt0 = sdp_message_m_payload_get(s, m, 0);

		if (out->nstreams == SIP_SDP_MAX_STREAMS) {
			*why = "too many media streams";
			goto out;
		}
		snprintf(out->streams[out->nstreams], sizeof(out->streams[0]), "%.10s %.12s %.3s",
			 media, proto ? proto : "RTP/AVP", fmt0 ? fmt0 : "0");
		for (char *c = out->streams[out->nstreams]; *c; c++)
			if ((unsigned char)*c < ' ' || *c == 0x7f)
				*c = '_';
		out->nstreams++;
		if (audio < 0 && !strcasecmp(media, "audio") && proto &&
		    !strcasecmp(proto, "RTP/AVP") && sdp_number(mp, 65535, &port) && port)
			audio = m;
	}
	if (audio < 0) {
		*why = "no RTP/AVP audio stream";
		goto out;
	}
	out->audio_index = audio;
	sdp_number(sdp_message_m_port_get(s, audio), 65535, &port);
	out->port = (unsigned)port;

	addr = sdp_message_c_addr_get(s, audio, 0);
	addrtype = sdp_message_c_addrtype_get(s, audio, 0);
	if (!addr) {
		addr = sdp_message_c_addr_get(s, -1, 0);
		addrtype = sdp_message_c_addrtype_get(s, -1, 0);
	}
	if (!addr) {
		*why = "no connection address (c=)";
		goto out;
	}
	if (!sdp_ip_ok(addrtype, addr)) {
		*why = "the connection address is not a numeric IP address";
		goto out;
	}
	octo_strlcpy(out->ip, addr, sizeof(out->ip));

	/* session-level direction first; the media level overrides it */
	out->dir = SIP_DIR_SENDRECV;
	for (int i = 0; (media = sdp_message_a_att_field_get(s, -1, i)) != NULL; i++) {
		int d = sdp_dir_parse(media);

		if (d >= 0)
			out->dir = (enum sip_sdp_dir)d;
	}
	if (sdp_formats(s, audio, out, why) != 0)
		goto out;
	/* RFC 2543 hold: c=0.0.0.0 */
	if (!strcmp(out->ip, "0.0.0.0") && out->dir == SIP_DIR_SENDRECV)
		out->dir = SIP_DIR_SENDONLY;
	rc = 0;
out:
	if (s)
		sdp_message_free(s);
	free(text);
	return rc;
}

int sip_sdp_choose(const struct sip_sdp *offer, const char *prefs)
{
	const char *p = prefs && *prefs ? prefs : "PCMU,PCMA";

	while (*p) {
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (!n)
			break;
		if ((n == 4 && !strncasecmp(p, "PCMU", 4)) ||
		    (n == 4 && !strncasecmp(p, "PCMA", 4))) {
			for (int i = 0; i < offer->nfmts; i++)
				if (!strncasecmp(offer->fmts[i].name, p, 4) &&
				    !offer->fmts[i].name[4] && offer->fmts[i].rate == 8000)
					return i;
		}
		p += n;
	}
	return -1;
}

/* Appends to buf; false when it did not fit. */
static bool sdp_put(char *buf, size_t size, size_t *used, const char *fmt, ...) OCTO_PRINTF(4, 5);
static bool sdp_put(char *buf, size_t size, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= size)
		return false;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, size - *used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *used) {
		*used = size;
		return false;
	}
	*used += (size_t)n;
	return true;
}

size_t sip_sdp_build(char *buf, size_t size, const struct sip_sdp_local *l)
{
	const char *af = strchr(l->ip, ':') ? "IP6" : "IP4";
	const struct sip_sdp *a = l->answer_to;
	int streams = a ? a->nstreams : 1, audio = a ? a->audio_index : 0;
	size_t used = 0;
	bool ok;

	if (l->ncodecs < 1 || l->ncodecs > 4)
		return 0;
	ok = sdp_put(buf, size, &used,
		     "v=0\r\no=octo %" PRIu64 " %" PRIu64 " IN %s %s\r\ns=Octo\r\n"
		     "c=IN %s %s\r\nt=0 0\r\n",
		     l->sess_id, l->sess_ver, af, l->ip, af, l->ip);
	for (int m = 0; ok && m < streams; m++) {
		if (m != audio) {
			/* RFC 3264 6: a stream we do not take is answered with port 0 */
			const char *st = a->streams[m], *sp = strchr(st, ' ');

			ok = sdp_put(buf, size, &used, "m=%.*s 0 %s\r\n",
				     sp ? (int)(sp - st) : (int)strlen(st), st, sp ? sp + 1 : "");
			continue;
		}
		ok = sdp_put(buf, size, &used, "m=audio %u RTP/AVP", l->port);
		for (int i = 0; ok && i < l->ncodecs; i++)
			ok = sdp_put(buf, size, &used, " %d", l->codecs[i].pt);
		if (ok && l->dtmf_pt >= 0)
			ok = sdp_put(buf, size, &used, " %d", l->dtmf_pt);
		ok = ok && sdp_put(buf, size, &used, "\r\n");
		for (int i = 0; ok && i < l->ncodecs; i++)
			ok = sdp_put(buf, size, &used, "a=rtpmap:%d %s/%u\r\n", l->codecs[i].pt,
				     l->codecs[i].name,
				     l->codecs[i].rate ? l->codecs[i].rate : 8000);
		if (ok && l->dtmf_pt >= 0)
			ok = sdp_put(buf, size, &used,
				     "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n",
				     l->dtmf_pt, l->dtmf_pt);
		ok = ok &&
		     sdp_put(buf, size, &used, "a=ptime:20\r\na=%s\r\n", sip_sdp_dir_name(l->dir));
	}
	return ok ? used : 0;
}
