/*
 * sip_replaces.c - the Replaces header of a new INVITE (RFC 3891): parsing
 * (hostile input: bounded, printable tokens only) and the choice of the
 * leg it names, with the answers the RFC asks for when it cannot be
 * replaced. The take-over itself is sip_call.c's (call_take_over): it owns
 * the calls' internals.
 *
 * DESIGN
 *  - The leg is looked up by Call-ID and our tag, which may be written as
 *    either to-tag or from-tag: phones disagree about whose point of view
 *    the parameters take (RFC 3891 3 counts them from the dialog as the
 *    recipient sees it; several phones copy their own view). The other tag
 *    must then be the phone's tag of that leg, when the leg has one yet.
 *  - Who may replace what: an answered leg only by the same user (a call
 *    moved to another of the user's devices); a ringing outgoing leg by
 *    any user (pickup: knowing the Call-ID and tags of a dialog is the
 *    capability, as RFC 3891 6 allows); an incoming INVITE not answered
 *    yet never (481: an early dialog this UA did not start).
 *  - Dialogs of answered legs that ended are remembered for a minute, as a
 *    64-bit hash of Call-ID and both tags (either order) in a ring of
 *    REPL_ENDED entries indexed by hash, so that a late Replaces gets 603
 *    Declined (RFC 3891 3). Under load older entries go first: then it is
 *    481, as for a call never seen -- both tell the phone the call is not
 *    there.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "octo/obj.h"
#include "octo/octo.h"
#include "sip.h"

#define REPL_ENDED 4096         /* ended dialogs remembered */
#define REPL_ENDED_MS 60000     /* for this long */
#define REPL_ENDED_BUCKETS 8192 /* chains of the index (a power of two) */

struct repl_ended {
	uint64_t hash;
	uint64_t until_ms;
	uint16_t next; /* the next slot + 1 in its chain, 0: the end */
};

/* The ring and an index over it (loop only): a chain of slots per hash
 * bucket, so a Replaces naming no call costs a short walk, not a look at
 * every entry. */
static struct repl_ended repl_ended[REPL_ENDED];
static uint16_t repl_ended_head[REPL_ENDED_BUCKETS]; /* first slot + 1, 0: none */
static unsigned repl_ended_next;

#define REPL_MAX 1024    /* longer Replaces values are refused (400) */
#define REPL_TOKEN_MAX 256

struct repl {
	char call_id[REPL_TOKEN_MAX + 1];
	char to_tag[REPL_TOKEN_MAX + 1];
	char from_tag[REPL_TOKEN_MAX + 1];
	bool early_only;
};

static uint64_t repl_hash_add(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	h ^= 0xff; /* a separator no token contains */
	return h * 0x100000001b3ull;
}

/* Call-ID and both tags, the tags in a fixed order: either view matches. */
static uint64_t repl_dialog_hash(const char *call_id, const char *tag1, const char *tag2)
{
	uint64_t h = repl_hash_add(0xcbf29ce484222325ull, call_id);

	if (strcmp(tag1, tag2) > 0) {
		const char *t = tag1;

		tag1 = tag2;
		tag2 = t;
	}
	return repl_hash_add(repl_hash_add(h, tag1), tag2);
}

static uint16_t *repl_ended_bucket(uint64_t hash)
{
	return &repl_ended_head[(hash ^ hash >> 32) & (REPL_ENDED_BUCKETS - 1)];
}

void sip_replaces_ended(const char *call_id, const char *local_tag, const char *remote_tag)
{
	unsigned slot = repl_ended_next;
	struct repl_ended *e = &repl_ended[slot];
	uint16_t *link;

	if (!call_id || !local_tag || !remote_tag)
		return;
	if (e->until_ms) { /* the slot's old entry leaves its chain */
		for (link = repl_ended_bucket(e->hash); *link && *link != slot + 1;
		     link = &repl_ended[*link - 1].next)
			;
		if (*link)
			*link = e->next;
	}
	e->hash = repl_dialog_hash(call_id, local_tag, remote_tag);
	e->until_ms = octo_now_ms() + REPL_ENDED_MS;
	link = repl_ended_bucket(e->hash);
	e->next = *link;
	*link = (uint16_t)(slot + 1);
	repl_ended_next = (slot + 1) % REPL_ENDED;
}

static bool repl_has_ended(const struct repl *r)
{
	uint64_t h = repl_dialog_hash(r->call_id, r->to_tag, r->from_tag), now = octo_now_ms();

	for (uint16_t i = *repl_ended_bucket(h); i; i = repl_ended[i - 1].next)
		if (repl_ended[i - 1].hash == h && repl_ended[i - 1].until_ms > now)
			return true;
	return false;
}

/* A Call-ID or tag: printable, no blank, no ';', not empty, bounded. */
static bool repl_token(const char *s, size_t len)
{
	if (!len || len > REPL_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == ';' || s[i] == ',')
			return false;
	return true;
}

static bool repl_copy(char *out, const char *s, size_t len)
{
	if (!repl_token(s, len))
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	return true;
}

/* "callid;to-tag=X;from-tag=Y[;early-only][;other=..]"; blanks around the
 * separators are allowed (RFC 3261 SEMI). */
static bool repl_parse(const char *v, struct repl *r)
{
	const char *p = v;
	size_t n;
	bool to = false, from = false;

	memset(r, 0, sizeof(*r));
	if (strlen(v) > REPL_MAX)
		return false;
	p += strspn(p, " \t");
	n = strcspn(p, "; \t");
	if (!repl_copy(r->call_id, p, n))
		return false;
	p += n;
	for (;;) {
		const char *name, *val = NULL;
		size_t nlen, vlen = 0;

		p += strspn(p, " \t");
		if (!*p)
			break;
		if (*p++ != ';')
			return false;
		p += strspn(p, " \t");
		name = p;
		nlen = strcspn(p, "=; \t");
		p += nlen;
		p += strspn(p, " \t");
		if (*p == '=') {
			p++;
			p += strspn(p, " \t");
			val = p;
			vlen = strcspn(p, "; \t");
			p += vlen;
		}
		if (!nlen)
			return false;
		if (nlen == 6 && !strncasecmp(name, "to-tag", 6)) {
			if (to || !val || !repl_copy(r->to_tag, val, vlen))
				return false;
			to = true;
		} else if (nlen == 8 && !strncasecmp(name, "from-tag", 8)) {
			if (from || !val || !repl_copy(r->from_tag, val, vlen))
				return false;
			from = true;
		} else if (nlen == 10 && !strncasecmp(name, "early-only", 10)) {
			r->early_only = true;
		}
		/* other parameters are ignored (RFC 3261 generic-param) */
	}
	return to && from;
}

/* The number of Replaces headers (RFC 3891 3: more than one is a 400). */
static int repl_count(const struct sip_msg *m, const char **value)
{
	osip_header_t *h;
	int pos = 0, n = 0;

	*value = NULL;
	while (!osip_list_eol(&m->osip->headers, pos)) {
		h = osip_list_get(&m->osip->headers, pos++);
		if (h && h->hname && !strcasecmp(h->hname, "replaces")) {
			if (!n)
				*value = h->hvalue ? h->hvalue : "";
			n++;
		}
	}
	return n;
}

/* The leg with our tag `ours` whose phone's tag (when it has one) is `theirs`. */
static struct sip_call *repl_find(const char *call_id, const char *ours, const char *theirs)
{
	struct sip_call *c = sip_call_find_local(call_id, ours);
	const char *rt = c ? sip_call_remote_tag(c) : NULL;

	if (c && rt && strcmp(rt, theirs)) {
		octo_obj_unref(c);
		c = NULL;
	}
	return c;
}

int sip_replaces_lookup(const struct sip_msg *req, const char *user, struct sip_call **target,
			const char **why)
{
	const char *value;
	struct repl r;
	struct sip_call *c;
	int n = repl_count(req, &value);

	*target = NULL;
	*why = NULL;
	if (!n)
		return 0;
	if (n > 1) {
		*why = "more than one Replaces header";
		return 400;
	}
	if (!repl_parse(value, &r)) {
		*why = "a Replaces header needs a Call-ID, to-tag and from-tag";
		return 400;
	}
	c = repl_find(r.call_id, r.to_tag, r.from_tag);
	if (!c)
		c = repl_find(r.call_id, r.from_tag, r.to_tag);
	if (!c) {
		if (repl_has_ended(&r)) {
			*why = "Replaces names a call that has ended";
			return 603;
		}
		*why = "Replaces names no call";
		return 481;
	}
	if (sip_call_is_up(c)) {
		if (r.early_only) {
			*why = "early-only, and that call is answered";
			octo_obj_unref(c);
			return 486;
		}
		if (!user || !*user || strcmp(user, sip_call_user(c))) {
			*why = "Replaces names another user's call";
			octo_obj_unref(c);
			return 403;
		}
	} else if (!sip_call_is_ringing_out(c)) {
		/* an incoming INVITE not answered yet: an early dialog we did not start */
		*why = sip_call_is_ringing_in(c)
			       ? "Replaces names an early dialog Octo did not start"
			       : "Replaces names a call that is ending";
		octo_obj_unref(c);
		return 481;
	}
	*target = c;
	return 0;
}
