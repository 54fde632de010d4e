/*
 * sip.h - chan_sip's internal API: the SIP stack that the other files of the
 * module (registrar, digest auth, IP bans, calls and dialogs) build on.
 *
 * LAYERS
 *   sip_transport.c  UDP, TCP and TLS listeners and connections on the core
 *                    event loop; stream framing; keep-alives; `sip set debug`
 *   sip_msg.c        parsing (libosipparser2) and validation of messages,
 *                    building requests and responses, transaction keys
 *   sip_write.c      the text of a message, written into a reused buffer
 *   sip_txn.c        RFC 3261 transactions (client/server, INVITE/non-INVITE)
 *                    in hash tables keyed by branch, timed by core timers
 *   sip_core.c       the receive path and the method dispatch table
 *   sip_conf.c       sip.conf ([general]) and the config snapshot
 *   sip_cli.c        `sip show settings|transactions|connections|stats`,
 *                    `sip set debug`, `sip reload`
 *   chan_sip.c       the module descriptor: load, unload, reload, check
 *
 * THREADS
 *   The stack lives on the core event loop thread (sched.h). Every callback
 *   described here -- request handlers, response callbacks, end callbacks --
 *   is called on the loop thread and must not block (push slow work such as
 *   sqlite to octo_work_push()). Transactions, connections and messages that
 *   are in flight are touched only on the loop thread, so the stack takes no
 *   locks on its hot path.
 *   Functions marked [any] may be called from any thread (a call's thread, a
 *   CLI worker): when called off the loop they post the work to the loop
 *   with octo_loop_call() and return at once. Functions marked [loop] must be
 *   called on the loop thread (from a callback, or via sip_loop_run()).
 *
 * OWNERSHIP
 *   struct sip_msg and struct sip_txn are reference-counted octo objects
 *   (obj.h): *_alloc/_ref/_get give a new reference that the caller drops
 *   with octo_obj_unref(); *_peek borrows. Callbacks borrow their arguments:
 *   take a reference (octo_obj_ref) to keep one beyond the callback.
 *
 * HOW A PART PLUGS IN (e.g. the registrar, in sip_reg.c)
 *
 *   static void reg_on_request(struct sip_txn *txn, struct sip_msg *req)
 *   {
 *       struct sip_msg *resp = sip_txn_response(txn, 200, NULL);   // To tag, Via... done
 *       sip_msg_add_header(resp, "Expires", "3600");
 *       sip_txn_send(txn, resp);                                   // takes resp
 *   }
 *   int sip_reg_init(void) { return sip_method_register(SIP_REGISTER, reg_on_request); }
 *
 *   and one line in chan_sip.c's sip_parts[] table (init at load before the
 *   listeners open, fini at unload). Config of its own (keys in [general],
 *   sections of sip.conf) comes through struct sip_cfg_part below: one line
 *   in sip_conf.c's conf_parts[]. A Contact header gets its host:port from
 *   sip_transport_local() (NAT-aware, like our Via). A registrar stores
 *   req->src (struct sip_addr, with the connection id for TCP/TLS) so that
 *   requests to the contact go back on the phone's own connection.
 *   Requests the stack answers itself: retransmissions (from the server
 *   transaction), malformed ones (400/505/416/483/482 before any handler
 *   sees them), CANCEL (200, then the CANCEL handler or a 487 to the INVITE),
 *   ACK for a non-2xx final response (absorbed), OPTIONS (200 with Allow,
 *   Accept, Supported unless a handler is registered), methods without a
 *   handler (405 with Allow if known, 501 if not), Require with an unknown
 *   option tag (420 with Unsupported).
 *
 *   Sending a request and getting its responses:
 *
 *   static void opt_resp(struct sip_txn *txn, struct sip_msg *resp, void *data)
 *   {   // resp->status: 1xx (maybe several), then one final; a timeout is a
 *       // local 408, a transport failure a local 503 (resp->local is true)
 *   }
 *   static const struct sip_client_ops opt_ops = { .response = opt_resp };
 *   struct sip_addr to;
 *   sip_addr_set(&to, SIP_TP_UDP, "192.0.2.7", 5060);
 *   struct sip_msg *req = sip_msg_request(SIP_OPTIONS, "sip:192.0.2.7", "sip:octo@pbx",
 *                                         NULL, "sip:192.0.2.7", NULL, NULL, 1);
 *   struct sip_txn *t = sip_txn_client(req, &to, &opt_ops, mydata);   // takes req
 *   octo_obj_unref(t);       // or keep it, e.g. to sip_txn_cancel() an INVITE
 *
 *   Timers: use the core's octo_timer_add() (sched.h) directly; it runs the
 *   callback on the loop thread, like everything here. sip_timer_t1() etc.
 *   give the configured RFC 3261 base values.
 *
 * RESPONSES are built with the osip API (osip_message_t): it is the parser's
 * own data model, so a response carries exact copies of the request's Via,
 * From, To, Call-ID and CSeq, and extra headers are added with
 * sip_msg_add_header() or osip_message_set_*(). sip_write.c writes the text
 * (what osip_message_to_str() would print, without its allocations); a
 * server transaction writes each response once and resends those bytes.
 */
#ifndef CHAN_SIP_SIP_H
#define CHAN_SIP_SIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <osipparser2/osip_parser.h>

#include "octo/config.h"

struct octo_module;

/* ================================================================ addresses */

enum sip_tp { SIP_TP_UDP = 0, SIP_TP_TCP, SIP_TP_TLS, SIP_TP_COUNT };

/* "UDP", "TCP", "TLS" (as in Via); sip_tp_parse is case-insensitive, -1 if unknown. */
const char *sip_tp_name(enum sip_tp tp);
int sip_tp_parse(const char *name);
/* TCP and TLS: no retransmissions, timers that wait for them are zero. */
static inline bool sip_tp_reliable(enum sip_tp tp)
{
	return tp != SIP_TP_UDP;
}

/* Where a message came from or goes to. */
struct sip_addr {
	enum sip_tp tp;
	socklen_t len; /* of sa; 0 = unset */
	struct sockaddr_storage sa;
	/* TCP/TLS: the connection a message came in on, or to send on first
	 * (if it is gone, the transport connects to `sa`). 0 = none. */
	uint64_t conn;
};

#define SIP_ADDR_STRLEN 64 /* "TLS [ffff:...:ffff]:65535" fits */

/* Numeric IPv4/IPv6 address only (no DNS: see "not done" in the report).
 * Returns 0 or OCTO_EINVAL. */
int sip_addr_set(struct sip_addr *a, enum sip_tp tp, const char *ip, unsigned port);
/* "1.2.3.4:5060" / "[::1]:5060" into buf; returns buf. */
char *sip_addr_hostport(const struct sip_addr *a, char *buf, size_t size);
/* "UDP 1.2.3.4:5060"; returns buf. */
char *sip_addr_str(const struct sip_addr *a, char *buf, size_t size);
/* Just the IP ("1.2.3.4", "::1"); returns buf. */
char *sip_addr_ip(const struct sip_addr *a, char *buf, size_t size);
unsigned sip_addr_port(const struct sip_addr *a);
/* Same transport, IP and port (conn ignored). */
bool sip_addr_equal(const struct sip_addr *a, const struct sip_addr *b);

/* ================================================================ messages */

enum sip_method {
	SIP_METHOD_UNKNOWN = 0, /* any other token: answered 501 */
	SIP_INVITE,
	SIP_ACK,
	SIP_BYE,
	SIP_CANCEL,
	SIP_OPTIONS,
	SIP_REGISTER,
	SIP_INFO,
	SIP_REFER,
	SIP_NOTIFY,
	SIP_SUBSCRIBE,
	SIP_MESSAGE,
	SIP_UPDATE,
	SIP_PRACK,
	SIP_PUBLISH,
	SIP_METHOD_COUNT
};

/* "INVITE"...; "UNKNOWN" for SIP_METHOD_UNKNOWN. Case-sensitive parse (SIP
 * methods are): "invite" is SIP_METHOD_UNKNOWN. */
const char *sip_method_name(enum sip_method m);
enum sip_method sip_method_parse(const char *name);

/*
 * A parsed (or locally built) message. The cached fields below are set by
 * the parser and the builders; the osip tree may be extended freely (add
 * headers, a body), but changing Via, From, To, Call-ID or CSeq through osip
 * directly leaves the cache stale.
 */
struct sip_msg {
	osip_message_t *osip;   /* owned */
	enum sip_method method; /* requests: the method; responses: CSeq's */
	int status;             /* responses 100..699; requests 0 */
	uint32_t cseq;          /* CSeq number */
	char *call_id;          /* owned, "number@host" as written */
	struct sip_addr src;    /* received messages: where from */
	struct sip_addr dst;    /* responses built by sip_msg_response: where to */
	bool local;             /* made here (timeout 408, transport 503) */
};

static inline bool sip_msg_is_request(const struct sip_msg *m)
{
	return m->status == 0;
}
/* The method as written ("INVITE", "FOO"); for responses CSeq's method. Borrowed. */
const char *sip_msg_method_name(const struct sip_msg *m);
/* Tags and the top Via's branch, borrowed from the osip tree, or NULL. */
const char *sip_msg_from_tag(const struct sip_msg *m);
const char *sip_msg_to_tag(const struct sip_msg *m);
const char *sip_msg_branch(const struct sip_msg *m);
/* The value of the first header named `name` among the headers osip does not
 * parse itself (Max-Forwards, Expires, Require, User-Agent, ...), case-
 * insensitive; borrowed or NULL. */
const char *sip_msg_header(const struct sip_msg *m, const char *name);
/* The body (first part) and its length, or NULL/0. Borrowed. */
const char *sip_msg_body(const struct sip_msg *m, size_t *len);

/* Adds a header (copies name and value). 0 or OCTO_ENOMEM/OCTO_EINVAL. */
int sip_msg_add_header(struct sip_msg *m, const char *name, const char *value);
/* Replaces the body; sets Content-Type (when not NULL) and Content-Length. */
int sip_msg_set_body(struct sip_msg *m, const char *content_type, const char *body, size_t len);

/*
 * The receive front end: what to do with one datagram or one framed stream
 * message from `src`. Never keeps `buf`. Validates what libosip2 does not:
 * Via (protocol SIP/2.0/<tp> and a host), From, To, Call-ID and CSeq
 * present; CSeq number numeric and CSeq method equal to the request method;
 * version SIP/2.0; numeric Content-Length; Max-Forwards numeric, 0 -> 483;
 * Request-URI scheme sip, sips or tel (else 416); a method that is a token.
 * Fixes the request's top Via for RFC 3581 (rport filled in, received added).
 */
enum sip_rx_verdict {
	SIP_RX_OK,        /* *msg: a valid message (new reference) */
	SIP_RX_REPLY,     /* *msg: an error response to send to (*msg)->dst (new reference) */
	SIP_RX_DROP,      /* nothing can be answered; *why says why */
	SIP_RX_KEEPALIVE, /* CRLF keep-alive (or STUN-looking binary): ignore */
};
enum sip_rx_verdict sip_msg_receive(const char *buf, size_t len, const struct sip_addr *src,
				    struct sip_msg **msg, const char **why);

/* Just the parse + validation: a new message, or NULL with *status (400,
 * 416, 483, 505; 0 = cannot be answered) and *why set. On an answerable
 * error, *salvaged is a message holding enough to build the answer (new
 * reference) when not NULL. */
struct sip_msg *sip_msg_parse(const char *buf, size_t len, const struct sip_addr *src, int *status,
			      const char **why, struct sip_msg **salvaged);

/*
 * Builds a response to `req`: status line (reason NULL = the standard
 * phrase), every Via copied in order, From, To, Call-ID and CSeq copied;
 * `to_tag` is added when To has none and the status is above 100 (NULL: no
 * tag); Content-Length 0. dst is set where RFC 3261 18.2.2 / RFC 3581 send it
 * (source IP; the source port if rport or a stream; the sent-by port else).
 * Returns a new reference or NULL (ENOMEM, or req is not a request).
 */
struct sip_msg *sip_msg_response(const struct sip_msg *req, int status, const char *reason,
				 const char *to_tag);

/* The destination of responses to `req` (what sip_msg_response puts in dst). */
void sip_msg_response_dst(const struct sip_msg *req, struct sip_addr *dst);

/* The ACK for a non-2xx final response `resp` to `invite` (RFC 3261
 * 17.1.1.3: same R-URI, From, Call-ID, CSeq number, top Via and Route set,
 * the response's To), and the CANCEL for `invite` (RFC 3261 9.1). New
 * references or NULL. */
struct sip_msg *sip_msg_ack_for(const struct sip_msg *invite, const struct sip_msg *resp);
struct sip_msg *sip_msg_cancel_for(const struct sip_msg *invite);

/* Puts "Via: SIP/2.0/<tp> host:port;branch=<branch>;rport" on top. */
int sip_msg_add_via(struct sip_msg *m, enum sip_tp tp, const char *host, unsigned port,
		    const char *branch);

/*
 * Builds a request (no Via: the transaction or sip_send_request adds it).
 * URIs like "sip:100@10.0.0.1" (a display name form "\"Bob\" <sip:...>" is
 * accepted for from/to); from_tag NULL = a new random tag; to_tag may be
 * NULL; call_id NULL = a new random one. Adds Max-Forwards 70 and
 * Content-Length 0. Returns a new reference, or NULL when a URI is invalid.
 */
struct sip_msg *sip_msg_request(enum sip_method method, const char *ruri, const char *from,
				const char *from_tag, const char *to, const char *to_tag,
				const char *call_id, uint32_t cseq);

/*
 * The text of a message (sip_write.c): what osip_message_to_str() prints for
 * the same tree (Content-Length unpadded), written into `t`, which grows as
 * needed and is meant to be reused (buf stays allocated; sip_text_free()
 * releases it). t->buf holds t->len bytes and a NUL. 0 or OCTO_E*.
 */
struct sip_text {
	char *buf;
	size_t len, cap;
	bool failed; /* an allocation failed while writing */
};
int sip_msg_write(struct sip_msg *m, struct sip_text *t);
void sip_text_free(struct sip_text *t);

/* The same, as an exact-size copy in *out (freed with osip_free()). */
int sip_msg_to_str(struct sip_msg *m, char **out, size_t *len);

/* Random tokens: a tag or Call-ID (hex, `size` >= 9), and a branch with the
 * RFC 3261 magic cookie and this process's loop-detection marker. */
void sip_random_token(char *buf, size_t size);
void sip_new_branch(char *buf, size_t size);
#define SIP_BRANCH_LEN 40
/* True when `branch` was made by sip_new_branch() in this process. */
bool sip_branch_is_ours(const char *branch);

/* Server and client transaction keys (RFC 3261 17.2.3 / 17.1.3, with the
 * RFC 2543 fallback for branches without the magic cookie). `method`
 * overrides the message's method (SIP_METHOD_UNKNOWN: the message's; ACK
 * counts as INVITE). Returns the key's length, or 0 when no key can be made
 * (no top Via, or the key would not fit in `size`: SIP_KEY_MAX is enough
 * for any message sip_msg_parse accepts). */
size_t sip_msg_server_key(const struct sip_msg *m, enum sip_method method, char *buf, size_t size);
size_t sip_msg_client_key(const struct sip_msg *m, char *buf, size_t size);
#define SIP_KEY_MAX 1024

/* Stream framing (TCP/TLS): how many bytes of `buf` make the next message.
 * Returns > 0 (a message of that many bytes is complete), 0 (need more
 * bytes), or -1 (broken: header block or body beyond `max`, or a
 * Content-Length that is not a number); *skip gets the number of leading
 * CRLF bytes to discard first and *ping is set when they held an RFC 5626
 * double-CRLF ping (answer it with one CRLF). */
long sip_frame(const char *buf, size_t len, size_t max, size_t *skip, bool *ping);

/* The agent string put into Server/User-Agent ("Octo"). Copied; [any]. */
void sip_msg_set_agent(const char *agent);
/* Adds "Server: <agent>" to a response or "User-Agent: <agent>" to a request
 * unless one is there. */
void sip_msg_add_agent(struct sip_msg *m);

/* ================================================================ transactions */

enum sip_txn_kind {
	SIP_ICT = 0, /* INVITE client */
	SIP_NICT,    /* non-INVITE client */
	SIP_IST,     /* INVITE server */
	SIP_NIST,    /* non-INVITE server */
	SIP_TXN_KINDS
};

enum sip_txn_state {
	SIP_TXN_CALLING = 0, /* ICT: request sent, no response yet */
	SIP_TXN_TRYING,      /* NICT, NIST: request sent / received */
	SIP_TXN_PROCEEDING,  /* a provisional response was sent / received */
	SIP_TXN_COMPLETED,   /* a final response (non-2xx for INVITE) was sent / received */
	SIP_TXN_CONFIRMED,   /* IST: the ACK came */
	SIP_TXN_ACCEPTED,    /* INVITE with a 2xx (RFC 6026) */
	SIP_TXN_TERMINATED,
	SIP_TXN_STATES
};

const char *sip_txn_kind_name(enum sip_txn_kind k);   /* "INVITE client", ... */
const char *sip_txn_state_name(enum sip_txn_state s); /* "Calling", ... */

/* Why a transaction ended (the `end` callbacks). */
enum sip_txn_end {
	SIP_END_NORMAL = 0,
	SIP_END_TIMEOUT,   /* client: Timer B/F (a local 408 was passed first);
	                       server: Timer H or L, the ACK never came */
	SIP_END_TRANSPORT, /* a send failed (client: a local 503 was passed first) */
	SIP_END_SHUTDOWN,  /* the module is unloading */
};

struct sip_txn;

/* --- server side ---------------------------------------------------------
 * A request handler owns the request's server transaction (borrowed: take a
 * reference to answer later, e.g. from a call's thread) and must eventually
 * send one final response with sip_txn_send()/sip_txn_respond(). INVITE
 * server transactions have already sent 100 Trying. A non-INVITE handler
 * that does not answer within 64*T1 gets a 500 sent for it (and a warning).
 * For SIP_ACK the handler gets txn NULL, or the INVITE server transaction
 * whose 2xx it acknowledges when the ACK reused the INVITE's branch; it
 * must not answer. For SIP_CANCEL the stack has answered the CANCEL (200, or
 * 481 with no INVITE to cancel) and the handler gets the INVITE's server
 * transaction and the CANCEL request: it sends 487 to the INVITE (the
 * default, without a handler) or whatever else fits. */
typedef void (*sip_request_fn)(struct sip_txn *txn, struct sip_msg *req);

/* Installs the handler for a method ([loop] or at load before the
 * listeners open); replaces a previous one. OCTO_EINVAL for UNKNOWN. */
int sip_method_register(enum sip_method m, sip_request_fn fn);
void sip_method_unregister(enum sip_method m);
/* The Allow header value: OPTIONS plus every method with a handler
 * (ACK and CANCEL with INVITE), e.g. "INVITE, ACK, CANCEL, OPTIONS, BYE". */
void sip_allow_value(char *buf, size_t size);
/* Option tags this UA supports (Supported header, and the Require check).
 * sip_option_tag_add at load; up to 16 tags. */
int sip_option_tag_add(const char *tag);
void sip_supported_value(char *buf, size_t size);

/* A response to the transaction's request, with the transaction's To tag
 * (the same for every response of the transaction). New reference (NULL
 * once a final response was sent); add headers or a body, then give it to
 * sip_txn_send(). [any] */
struct sip_msg *sip_txn_response(struct sip_txn *txn, int status, const char *reason);
/* Sends a response on a server transaction and drives its state machine
 * (1xx: Proceeding; 2xx to INVITE: Accepted, the 2xx is retransmitted over
 * UDP until sip_txn_acked() or 64*T1; other finals: Completed, retransmitted
 * until the ACK for INVITE). Takes `resp` (even on error). Returns 0, or
 * OCTO_EINVAL when a final response was sent already. [any] */
int sip_txn_send(struct sip_txn *txn, struct sip_msg *resp);
/* Like sip_txn_send for a final response >= 300 over UDP, but the
 * transaction ends as soon as it is sent, as a stateless server's would: no
 * retransmission of the response, no ACK absorbed (a stray ACK reaches the
 * ACK handler, which finds no dialog), and a retransmitted request makes a
 * new transaction and gets a new answer. For digest challenges: holding a
 * transaction 32 s per challenge cost half the memory and a third of the
 * timer work of a REGISTER storm, and a fresh challenge is as good an
 * answer to a retransmission. On other threads, or over TCP/TLS (Timer J is
 * 0 there anyway), just sip_txn_send. [any] */
int sip_txn_send_forget(struct sip_txn *txn, struct sip_msg *resp);
/* sip_txn_response + sip_txn_send in one step. [any] */
int sip_txn_respond(struct sip_txn *txn, int status, const char *reason);
/* The dialog layer calls this when the ACK for a 2xx arrived (the ACK has a
 * branch of its own, so it reaches the SIP_ACK handler, not the IST): stops
 * the 2xx retransmissions. [loop] */
void sip_txn_acked(struct sip_txn *ist);
/* The To tag this server transaction puts in its responses. */
const char *sip_txn_to_tag(const struct sip_txn *txn);

/* --- client side ---------------------------------------------------------*/
struct sip_client_ops {
	/* Each response: 1xx (zero or more), then the final one. For INVITE,
	 * later 2xx (retransmissions and forks) are passed on too while the
	 * transaction lasts; the transaction ACKs non-2xx finals itself, a 2xx
	 * is ACKed by the caller (sip_send_request with an ACK). A timeout is
	 * a local 408 and a transport error a local 503 (resp->local). */
	void (*response)(struct sip_txn *txn, struct sip_msg *resp, void *data);
	/* Once, when the transaction ends; `data` is not used afterwards. May be NULL. */
	void (*end)(struct sip_txn *txn, enum sip_txn_end why, void *data);
};

/*
 * Sends `req` (takes it, even on failure) to `dest` in a new client
 * transaction: adds the top Via (our sent-by towards dest, a new branch,
 * rport), Max-Forwards and the agent header when missing, then sends it and
 * retransmits it over UDP. `ops` must stay valid while the transaction lives
 * (a static table); `data` is the caller's. Returns a new reference to the
 * transaction, or NULL (the request was invalid or memory ran out; no
 * callback is called then). A send failure is reported through the
 * callbacks (a local 503). [any]
 */
struct sip_txn *sip_txn_client(struct sip_msg *req, const struct sip_addr *dest,
			       const struct sip_client_ops *ops, void *data);
/* Cancels a pending INVITE client transaction (RFC 3261 9.1): the CANCEL is
 * sent once a provisional response came (at once if one did already); not
 * at all when a final response came. [any] */
void sip_txn_cancel(struct sip_txn *ict);

/* --- both -----------------------------------------------------------------*/
enum sip_txn_kind sip_txn_kind(const struct sip_txn *txn);
enum sip_txn_state sip_txn_state(const struct sip_txn *txn); /* [any], a snapshot */
/* The request that created the transaction. A server transaction lets go
 * of it once its final response is sent (NULL from then on: a handler that
 * needs the request longer keeps its own reference, octo_obj_ref(req)). A
 * client's gets its Via when the transaction starts on the loop and keeps
 * it until its final response has been passed on (an INVITE client's: a
 * 2xx passed again later finds NULL), since transactions linger up to
 * 32 s after that. sip_txn_request borrows [loop]; sip_txn_request_get returns a new
 * reference or NULL [any]. */
struct sip_msg *sip_txn_request(const struct sip_txn *txn);
struct sip_msg *sip_txn_request_get(struct sip_txn *txn);
/* Where the transaction sends: client: the destination; server: the response
 * destination. Borrowed. */
const struct sip_addr *sip_txn_peer(const struct sip_txn *txn);
/* The status of the last response sent or received (0: none yet). */
int sip_txn_status(const struct sip_txn *txn);
/* User data of a server transaction (a client's is given to sip_txn_client);
 * `end` is called once when the transaction ends. [loop] */
/* A client transaction stops reporting to its caller: no more responses,
 * no end callback. Returns the caller's data (NULL once it ended) for the
 * caller to let go: a call that is over need not be kept for the 32 s an
 * answered INVITE's transaction lingers (RFC 6026 Timer M) -- it kept every
 * call of the last 32 s in memory. [loop] */
void *sip_txn_client_detach(struct sip_txn *txn);
void sip_txn_set_data(struct sip_txn *txn, void *data,
		      void (*end)(struct sip_txn *txn, enum sip_txn_end why, void *data));
void *sip_txn_data(const struct sip_txn *txn);

/* ================================================================ sending outside transactions */

/* Sends a request without a transaction (an ACK for a 2xx): adds a top Via
 * with a new branch, Max-Forwards and User-Agent when missing. Borrows req.
 * [loop] 0 or OCTO_E*. */
int sip_send_request(struct sip_msg *req, const struct sip_addr *dest);
/* Sends a response statelessly to resp->dst. Borrows resp. [loop] */
int sip_send_response(struct sip_msg *resp);

/* ================================================================ timers and config values */

/* RFC 3261 T1, T2, T4 in ms as configured (500, 4000, 5000). [any] */
unsigned sip_timer_t1(void);
unsigned sip_timer_t2(void);
unsigned sip_timer_t4(void);

/* Runs fn(data) on the loop thread and waits for it to return (at once when
 * already on the loop). OCTO_EFAIL when the loop is stopping. [any] */
int sip_loop_run(void (*fn)(void *data), void *data);

/* ================================================================ config (sip_conf.c) */

/* sip.conf [general] as bound by octo_cfg_bind. */
struct sip_general {
	struct octo_cidr bindaddr; /* listen address for UDP, TCP and TLS */
	unsigned port;             /* UDP and TCP */
	bool udp, tcp;
	unsigned tls_port;
	char *tls_cert, *tls_key;    /* TLS only when both are set */
	char *tls_cafile;            /* verify servers we connect to (optional) */
	struct octo_cidr externaddr; /* family 0: not set */
	unsigned externport;         /* 0: same as the listener's */
	struct octo_cfg_list localnet;
	unsigned max_message_size;
	unsigned tcp_max_connections;
	unsigned tcp_idle_timeout; /* seconds */
	unsigned t1, t2, t4;       /* ms */
	char *user_agent;
};

/* The running configuration: an immutable, reference-counted snapshot. */
struct sip_cfg {
	struct sip_general g;
	struct octo_cidr *localnets; /* parsed localnet entries */
	size_t localnet_count;
	char *tls_cert_path; /* resolved against the config folder, or NULL */
	char *tls_key_path;
	char *tls_cafile_path;
	struct octo_cfg *tree; /* the parsed sip.conf */
	void **parts;          /* one struct per sip_cfg_part (sip_cfg_part()) */
};

/*
 * How another part of chan_sip adds config to sip.conf (one line in
 * conf_parts[] in sip_conf.c). Example, the registrar:
 *
 *   struct reg_conf { unsigned min_expiry, max_expiry; };
 *   static const struct octo_cfg_opt reg_opts[] = {
 *       OCTO_CFG_DURATION("min_expiry", struct reg_conf, min_expiry, "60", 1, 3600),
 *       OCTO_CFG_END
 *   };
 *   const struct sip_cfg_part sip_reg_cfg_part = {
 *       .name = "registrar", .general = reg_opts, .size = sizeof(struct reg_conf),
 *   };
 *   ... struct reg_conf *rc = sip_cfg_part(cfg, &sip_reg_cfg_part);
 *
 * Its [general] keys are bound like the stack's (file:line errors, unknown
 * key warnings across all tables). `section` is offered every section but
 * [general]: it returns 1 when it took it, 0 when not its own, or
 * OCTO_ECONFIG after adding errors. `check` validates the whole. `free`
 * releases what `section` stored (bound keys are unbound by the core).
 */
struct sip_cfg_part {
	const char *name;
	const struct octo_cfg_opt *general;
	size_t size;
	int (*section)(struct sip_cfg *cfg, void *data, const struct octo_cfg_section *sec,
		       struct octo_diags *diags);
	int (*check)(struct sip_cfg *cfg, void *data, struct octo_diags *diags);
	void (*free)(void *data);
};
/* The part's struct in `cfg` (borrowed, lives as long as cfg). */
void *sip_cfg_part(const struct sip_cfg *cfg, const struct sip_cfg_part *part);

/* The running config (a new reference; never NULL while loaded). [any] */
struct sip_cfg *sip_cfg_get(void);
/* True when `sa` lies in one of the localnet networks (or is loopback). */
bool sip_cfg_is_local(const struct sip_cfg *cfg, const struct sockaddr *sa);
/* Loads and validates sip.conf from `dir`. New reference, or NULL with every
 * problem in `diags` (file:line). */
struct sip_cfg *sip_cfg_load(const char *dir, struct octo_diags *diags);
/* Makes `cfg` the running config (takes a reference of its own) and applies
 * what can change at run time (timers, agent, limits). */
void sip_cfg_set(struct sip_cfg *cfg);
/* Drops the running config (at unload). */
void sip_cfg_clear(void);
/* For `sip show settings`: every key of [general] (the stack's and every
 * part's general table) and of [media], in table order, with its value as
 * text and where it came from ("sip.conf:12", or "default"). Sections that
 * parts bind themselves ([security]) are not included. */
void sip_cfg_dump(const struct sip_cfg *cfg,
		  void (*emit)(void *ctx, const char *section, const char *key, const char *value,
			       const char *origin),
		  void *ctx);
/* Where key v came from, for those listings: "sip.conf:12" (the file's base
 * name), or "default" when v is NULL. */
void sip_cfg_origin(const struct octo_cfg_var *v, char *buf, size_t size);

/* ================================================================ internals shared by the files */

/* sip_transport.c */
int sip_transport_start(const struct sip_cfg *cfg); /* opens the listeners (load) */
void sip_transport_stop(void);                      /* [loop] closes everything */
/* Applies the limits of a (re)loaded config: message size, connections, idle. */
void sip_transport_apply(const struct sip_cfg *cfg);
/* Loads the TLS files as the listeners would (cert/key may be NULL: not
 * checked). 0, or OCTO_ECONFIG with the reason in err. */
int sip_tls_check(const char *cert, const char *key, const char *cafile, char *err, size_t size);
/* Sends bytes (queued on streams). [loop] 0 or OCTO_E*. */
int sip_transport_send(const struct sip_addr *dest, const char *buf, size_t len);
/* The same for a client transaction (its table key): when the datagram goes
 * through the UDP sending thread and fails there, the loop is told later
 * with sip_txn_send_failed(txn_key). */
int sip_transport_send_for(const struct sip_addr *dest, const char *buf, size_t len,
			   const char *txn_key);
/* The sent-by (host, port) for a Via or Contact towards dest. [loop] */
int sip_transport_local(const struct sip_addr *dest, char *host, size_t size, unsigned *port);
/* Called for each received datagram / framed message (after the size limit). */
void sip_transport_deliver(const char *buf, size_t len, const struct sip_addr *src);
/* Overload control: true while requests wait too long in their sockets
 * (UDP, TCP or TLS) before the loop reads them (the kernel's receive time
 * stamps); new requests (no To tag, not ACK/CANCEL) are then answered 503
 * with Retry-After before any handler runs, while requests and responses
 * of calls under way are still served. sip_rx_lag_ms: the last read's
 * wait; sip_overload_shed: counts one refused request. [any]
 * sip_overload_update: the transport reports each read's wait (ms; 0
 * when the UDP socket was drained) [loop]. In sip_core.c. */
void sip_overload_update(unsigned lag_ms);
bool sip_overloaded(void);
unsigned sip_rx_lag_ms(void);
void sip_overload_shed(void);
/* True when the listener settings of two configs differ (restart needed). */
bool sip_transport_changed(const struct sip_cfg *a, const struct sip_cfg *b, char *what,
			   size_t size);
/* `sip set debug`: 0 off, 1 all, 2 only peers with IP `ip` (port 0 = any). [any] */
void sip_debug_set(int mode, const struct sockaddr_storage *ip, unsigned port);
int sip_debug_get(char *desc, size_t size);
/* Logs a message at NOTICE if debug is on for `peer`. */
void sip_debug_msg(bool sent, const struct sip_addr *peer, const char *buf, size_t len);

/* Counters (atomics, read by the CLI). */
struct sip_stats {
	unsigned long rx_msgs, tx_msgs, rx_dropped, rx_too_big, rx_bad, rx_keepalive, tx_errors;
	unsigned long conns_open, conns_refused;
};
void sip_stats_get(struct sip_stats *out);
void sip_stats_inc(size_t offset); /* offsetof(struct sip_stats, field) */
#define SIP_STAT(field) sip_stats_inc(offsetof(struct sip_stats, field))

/* The thread that sends UDP datagrams for the loop (sip_udp_tx.c). queue:
 * copies the datagram for it, false when it does not run or its ring is
 * full (then the caller sends itself); txn_key (or NULL): the client
 * transaction to fail if the send fails. hold/release: on the loop, around a
 * batch of received datagrams, so that the answers wake the thread once.
 * stop: sends what is queued, then ends the thread. [any] */
int sip_udp_tx_start(void);
void sip_udp_tx_stop(void);
bool sip_udp_tx_queue(int fd, const struct sockaddr *to, socklen_t tolen, const char *buf,
		      size_t len, const char *txn_key);
void sip_udp_tx_hold(void);
void sip_udp_tx_release(void);

/* Connection listing for the CLI ([any]: runs on the loop). */
struct sip_conn_info {
	uint64_t id;
	char peer[SIP_ADDR_STRLEN];
	bool outgoing;
	unsigned long age_s, idle_s;
	size_t queued;
};
size_t sip_transport_conns(struct sip_conn_info **out); /* free(*out) */
struct sip_listener_info {
	enum sip_tp tp;
	char addr[SIP_ADDR_STRLEN];
};
size_t sip_transport_listeners(struct sip_listener_info *out, size_t max);

/* sip_txn.c */
int sip_txn_init(void);
void sip_txn_shutdown(void); /* [loop] ends every transaction */
/* A datagram of the client transaction with this key could not be sent
 * (reported by the UDP sending thread): unless it ended or has its final
 * response, the TU gets a 503 and the transaction ends. [loop] */
void sip_txn_send_failed(const char *key);
void sip_txn_set_timers(unsigned t1, unsigned t2, unsigned t4);
/* A received request/response, after validation. Borrows msg. [loop] */
void sip_txn_on_request(struct sip_msg *req);
void sip_txn_on_response(struct sip_msg *resp);
/* Live transactions by kind and state, for `sip show transactions`. [any] */
void sip_txn_counts(unsigned long counts[SIP_TXN_KINDS][SIP_TXN_STATES]);

/* sip_core.c */
void sip_receive(const char *buf, size_t len, const struct sip_addr *src); /* [loop] */
/* Runs the handler (or default) for a new server transaction. [loop] */
void sip_dispatch(struct sip_txn *txn, struct sip_msg *req);
void sip_dispatch_cancel(struct sip_txn *invite, struct sip_msg *cancel);
void sip_dispatch_ack(struct sip_txn *ist, struct sip_msg *ack);
/* A response no client transaction matches (a late 2xx retransmission for a
 * dialog): the stack drops it unless the dialog layer installs a hook. */
void sip_set_stray_response_handler(void (*fn)(struct sip_msg *resp));
void sip_dispatch_stray(struct sip_msg *resp);
void sip_core_reset(void); /* at unload: handlers and option tags cleared */

/* sip_cli.c */
int sip_cli_register(struct octo_module *self);
/* Re-reads sip.conf (shared by `sip reload` and the module's reload). */
int sip_reload(struct octo_diags *diags);

/* ================================================================ calls (sip_sdp.c, sip_dialog.c, sip_call.c)
 * A back-to-back user agent: every SIP call is a channel ("SIP/100-0000000a")
 * of the technology "SIP". An INVITE from a user (digest-authenticated)
 * enters the dialplan at the user's procedure; outgoing legs (Dial) go to a
 * user's registered contacts. Media is relayed by sip_media.c. All call and
 * dialog state is touched on the loop thread only: the technology callbacks
 * (call threads) hop to the loop with sip_loop_run().
 * Handled: INVITE (407 via sip_auth_request, offer in the INVITE or in our
 * 200 with the answer in the ACK), ACK, BYE, CANCEL (487), re-INVITE (hold
 * and resume: queued on the channel as OCTO_EV_HOLD / OCTO_EV_UNHOLD, which
 * the core bridge passes to the other leg of any technology; indicate(HOLD)
 * sends a re-INVITE with a=sendonly and starts music on hold, sip_moh.c;
 * UNHOLD stops it and sends one with a=sendrecv), INFO
 * DTMF (application/dtmf-relay, application/dtmf -> DIGIT events), RFC 4028
 * session timers (Session-Expires answered, 422 below 90 s, re-INVITE
 * refreshes when we are the refresher), REFER within a call (blind and
 * attended transfers, sip_refer.c), INVITE with Replaces (RFC 3891: call
 * moved to another device, pickup of a ringing leg; sip_replaces.c).
 * 100rel is not supported: a
 * Require: 100rel gets 420 from the stack. */

/* --- SDP (sip_sdp.c): RFC 4566 parsing with libosip2, RFC 3264 offer/answer */
#define SIP_SDP_MAX_LEN 8192 /* larger bodies are refused (488) */
#define SIP_SDP_MAX_FMTS 16  /* formats kept from the audio stream */
#define SIP_SDP_MAX_STREAMS 8

enum sip_sdp_dir { SIP_DIR_SENDRECV = 0, SIP_DIR_SENDONLY, SIP_DIR_RECVONLY, SIP_DIR_INACTIVE };
const char *sip_sdp_dir_name(enum sip_sdp_dir d); /* "sendrecv" ... */

struct sip_sdp_fmt {
	int pt;        /* 0..127 */
	char name[24]; /* "PCMU", "telephone-event" ("" when unknown) */
	unsigned rate;
};

/* What we keep of a remote session description. */
struct sip_sdp {
	char ip[64];        /* connection address of the audio stream */
	unsigned port;      /* audio RTP port */
	enum sip_sdp_dir dir; /* of the audio stream (c=0.0.0.0 counts as sendonly) */
	int nfmts;
	struct sip_sdp_fmt fmts[SIP_SDP_MAX_FMTS];
	int dtmf_pt;        /* telephone-event/8000, or -1 */
	int audio_index;    /* which m= line is the audio one */
	int nstreams;       /* m= lines; the others are rejected in answers */
	char streams[SIP_SDP_MAX_STREAMS][32]; /* "video RTP/AVP 31" of each m= line */
	unsigned rtcp_port; /* a=rtcp (RFC 3605) of the audio stream, or 0: port + 1 */
	char rtcp_ip[64];   /* its address, or "": the connection address */
};

/* Parses and validates `len` bytes (hostile input: size bounded, NUL bytes,
 * no audio stream, no c= line, bad addresses or ports are refused). Returns
 * 0, or OCTO_EINVAL with *why (static text). Needs parser_init(). [any] */
int sip_sdp_parse(const char *body, size_t len, struct sip_sdp *out, const char **why);
/* Index in offer->fmts of the codec to use: the first of `prefs` (a comma
 * list like users.conf's codecs, "PCMA,PCMU"; NULL or "" means "PCMU,PCMA")
 * that is offered; only PCMU and PCMA are supported. -1 when none. */
int sip_sdp_choose(const struct sip_sdp *offer, const char *prefs);

/* What we put into our own SDP. */
struct sip_sdp_local {
	const char *ip;   /* numeric IPv4 or IPv6 */
	unsigned port;
	uint64_t sess_id, sess_ver;
	enum sip_sdp_dir dir;
	int ncodecs;      /* 1..4 */
	struct sip_sdp_fmt codecs[4];
	int dtmf_pt;      /* -1: no telephone-event */
	const struct sip_sdp *answer_to; /* an answer: other m= lines rejected (port 0); NULL: offer */
};
/* Writes the SDP text into buf; returns its length, or 0 when it does not fit. */
size_t sip_sdp_build(char *buf, size_t size, const struct sip_sdp_local *l);

/* --- dialogs (sip_dialog.c) */
struct sip_dialog {
	char *call_id;
	char *local_tag, *remote_tag;
	char *local_uri, *remote_uri; /* name-addr of From/To as we send them */
	char *remote_target;          /* the peer's Contact URI */
	char **routes;                /* route set, in order of use */
	size_t nroutes;
	uint32_t local_cseq, remote_cseq;
	struct sip_addr peer;         /* where requests go */
	bool uac;                     /* we sent the INVITE */
};
/* Dialog state from a received INVITE (we are the UAS; local tag = the
 * IST's To tag) or from a 1xx/2xx to our INVITE (UAC). 0 or OCTO_E*. */
int sip_dialog_uas(struct sip_dialog *d, const struct sip_msg *invite, const char *local_tag);
int sip_dialog_uac(struct sip_dialog *d, const struct sip_msg *invite, const struct sip_msg *resp,
		   const struct sip_addr *peer);
/* A request within the dialog (CSeq = ++local_cseq, except ACK with `cseq`),
 * Route headers and a Contact of ours. New reference or NULL. [loop] */
struct sip_msg *sip_dialog_request(struct sip_dialog *d, enum sip_method m, uint32_t ack_cseq);
void sip_dialog_clear(struct sip_dialog *d);
/* A target refresh (RFC 3261 12.2.2: a re-INVITE or UPDATE in the dialog):
 * the request's Contact becomes the remote target and, without a route
 * set, its source where requests go. 0 or OCTO_E*. [loop] */
int sip_dialog_refresh(struct sip_dialog *d, const struct sip_msg *req);
/* Adds "Contact: <sip:octo@host:port;transport=..>" towards `dest`. [loop] */
int sip_add_contact(struct sip_msg *m, const struct sip_addr *dest);
/* The user part of a SIP URI ("sip:100@host" -> "100") into buf; "" when none. */
char *sip_uri_user(const osip_uri_t *uri, char *buf, size_t size);

/* --- calls (sip_call.c) */
/* The part of chan_sip.c's table (INVITE, ACK, BYE, CANCEL, INFO handlers). */
int sip_call_init(void);
void sip_call_fini(void);
/* Registers the "SIP" technology and the call CLI commands (sip show
 * channels, sip show channel, originate); from sip_cli_register(). */
int sip_call_register(struct octo_module *self);

/* What other parts (transfers) may see of a call. All [loop]. */
struct sip_call;
/* The call of the dialog Call-ID `call_id`, our tag `local_tag` and the
 * phone's tag `remote_tag` (all must match; a call being torn down is not
 * found): a new reference (octo_obj_unref), or NULL. */
struct sip_call *sip_call_find_dialog(const char *call_id, const char *local_tag,
				      const char *remote_tag);
/* The call's channel: a new reference, or NULL once it hung up. */
struct octo_channel *sip_call_channel(struct sip_call *c);
/* The user the call belongs to: the authenticated caller of an incoming
 * call, the user whose registered contact an outgoing one rings. "" when
 * none (e.g. a call to a bare sip: URI). */
const char *sip_call_user(const struct sip_call *c);
/* True when the call is answered and not ending. */
bool sip_call_is_up(const struct sip_call *c);
/* The call's dialog (for requests within it, e.g. NOTIFY), or NULL. */
struct sip_dialog *sip_call_dialog(struct sip_call *c);
/* Checks and records the CSeq of a request within the call's dialog: false
 * (answer 500) when it is not above the last one. */
bool sip_call_remote_cseq(struct sip_call *c, uint32_t cseq);

/* --- transfers (sip_refer.c): REFER within a call (RFC 3515), blind or
 * attended (Refer-To with Replaces, RFC 3891), Refer-Sub: false (RFC 4488).
 * The transferor is the phone of the dialog the REFER comes in (the dialog
 * is its proof of identity: Call-ID and both tags must match a live call).
 * Blind: the party bridged with the transferor's leg goes on in the
 * dialplan at the transferor's procedure with the Refer-To user part
 * (octo_chan_redirect). Attended: the parties bridged with the two legs of
 * the transferor (the REFER's dialog and the one Replaces names, which must
 * belong to the same user) are bridged together (octo_bridge_join). The
 * core hangs the transferor's legs up (BYE) once the transfer is done.
 * Only a user's phone may transfer (sip_call_user not ""). The moved
 * channels get the variable TRANSFERRER (the transferor's user).
 * Answers: 202, then NOTIFY (Event: refer, message/sipfrag) "100 Trying"
 * and the final "200 OK" or the failure (404 no such number, 486 a transfer
 * under way, 487 a party hung up, 503 not bridged); or at once 400 (no,
 * several or a bad Refer-To), 403 (outside a call, an unanswered call,
 * not a user's phone, another user's call), 416 (not a sip/sips URI), 481
 * (no such dialog, or Replaces names no call), 500 (CSeq out of order).
 * The part of chan_sip.c's table. */
int sip_refer_init(void);
void sip_refer_fini(void);

/* --- music on hold to held legs (sip_moh.c): sip.conf [general]
 * moh_on_hold (yes) and moh_class (default). When the party bridged with a
 * SIP leg holds the call, the leg still gets its re-INVITE (a=sendonly)
 * and hears a class (the held call's MOHCLASS, else the holding user's
 * users.conf moh_class, else moh_class) from one shared music thread
 * (sip_media_moh_send) until the resume. The part of chan_sip.c's table and of sip_conf.c's. */
extern const struct sip_cfg_part sip_moh_cfg_part;
int sip_moh_init(void);
void sip_moh_fini(void);
/* Whether moh_on_hold is on; the configured class into class_name. [any] */
bool sip_moh_enabled(char *class_name, size_t size);
struct sip_media;
/* Plays class `class_name` (NULL or "": moh_class; an unknown class: the
 * default one, as MusicOnHold does) to endpoint m until sip_moh_stop(m).
 * `desc` gets "class NAME (FOLDER)" for the step log. 0 or OCTO_E*. [any] */
int sip_moh_start(struct sip_media *m, const char *class_name, char *desc, size_t size);
/* Stops it (no-op when not playing); once it returns the music thread no
 * longer touches m, which may then be freed. Start and stop of one
 * endpoint must come from one thread (chan_sip: the loop). */
void sip_moh_stop(struct sip_media *m);
/* Held legs hearing music now, and (when not NULL) classes playing. [any] */
unsigned sip_moh_count(unsigned *classes);

/* --- INVITE with Replaces received directly (sip_replaces.c, RFC 3891)
 * A phone of a user sends a new INVITE naming an existing call leg:
 *  - an answered leg of the same user (a call pulled to another device):
 *    the new call takes the leg's place -- its channel, so its bridge and
 *    its relayed media -- and the replaced phone gets a BYE;
 *  - an outgoing leg still ringing (call pickup of an early dialog that
 *    Octo started): the new call answers it in the ringing phone's place
 *    and the ringing INVITE is cancelled.
 * Refused: 400 (a bad or repeated Replaces), 603 (an answered call that has
 * ended, within the last minute), 481 (no such leg, an early dialog Octo
 * did not start), 486 (early-only and the leg is answered), 403 (another
 * user's answered call). */
/* Checks the Replaces of a new INVITE from authenticated user `user`:
 * returns 0 with *target NULL (no Replaces: an ordinary call), 0 with
 * *target a new reference on the leg to replace, or the status to answer
 * with and *why (static text). [loop] */
int sip_replaces_lookup(const struct sip_msg *req, const char *user, struct sip_call **target,
			const char **why);
/* An answered leg's dialog ended (BYE sent or received): a Replaces naming
 * it within a minute is declined with 603 (RFC 3891 3), not 481. [loop] */
void sip_replaces_ended(const char *call_id, const char *local_tag, const char *remote_tag);
/* For it (sip_call.c): the leg of Call-ID `call_id` whose tag (ours) is
 * `local_tag`, in any state but hung up or ended: a new reference or NULL;
 * the phone's tag of it (NULL while an outgoing INVITE has no answer with
 * a tag yet); whether it is an outgoing leg still ringing (Calling or
 * Ringing (out)), or an incoming INVITE not answered yet. [loop] */
struct sip_call *sip_call_find_local(const char *call_id, const char *local_tag);
const char *sip_call_remote_tag(const struct sip_call *c);
bool sip_call_is_ringing_out(const struct sip_call *c);
bool sip_call_is_ringing_in(const struct sip_call *c);

/* ================================================================ registrar, digest auth, bans
 * (sip_auth.c, sip_reg.c, sip_qualify.c, sip_security.c)
 *
 *   sip_auth.c      digest authentication (RFC 2617 MD5 and RFC 7616
 *                   SHA-256, qop=auth): challenges, stateless nonces (an
 *                   HMAC-SHA256 of a timestamp with a per-load secret), the
 *                   nonce-count replay check, sip_auth_request()
 *   sip_reg.c       the REGISTER handler (RFC 3261 10.3), the bindings of
 *                   every user in memory and in the store, their expiry,
 *                   the contacts and devices callers use, and the CLI
 *                   `sip show registrations|peers`, `sip unregister`
 *   sip_qualify.c   OPTIONS pings of registered contacts, round-trip times
 *   sip_security.c  failed authentications per source IP, bans (in the
 *                   store), the drop of banned sources before parsing, and
 *                   `security show bans`, `security unban`
 *
 * The REGISTER handler, sip_auth_request() and the qualify pings run on the
 * loop; lookups (sip_reg_contacts, sip_sec_banned...) may come from any
 * thread: the tables have locks of their own, never held across a call out.
 */
#include "octo/channel.h" /* OCTO_CHAN_DEST_MAX */

struct octo_user;

/* --- config: keys of [general] (registrar) and the [security] section */
enum sip_digest_alg { SIP_DIGEST_MD5 = 0, SIP_DIGEST_SHA256, SIP_DIGEST_ALGS };

struct sip_reg_conf {
	char *realm;                          /* digest realm ("octo") */
	unsigned min_expiry, max_expiry;      /* s: below min -> 423; above max -> max */
	unsigned default_expiry;              /* s: when the REGISTER gives none */
	unsigned nonce_lifetime;              /* s: older nonces are answered stale=true */
	unsigned qualify_interval;            /* s between OPTIONS pings; 0 = off */
	struct octo_cfg_list auth_algorithms; /* as written ("SHA-256, MD5") */
	enum sip_digest_alg algs[SIP_DIGEST_ALGS]; /* parsed, in the order offered */
	unsigned nalgs;
};
extern const struct sip_cfg_part sip_reg_cfg_part;

struct sip_sec_conf {
	unsigned max_failures; /* failed authentications that ban; 0 = never ban */
	unsigned window;       /* s: ...counted within this long */
	unsigned ban_time;     /* s */
	struct octo_cfg_list trusted;
	struct octo_cidr *nets; /* trusted, parsed */
	size_t nnets;
	bool bound; /* [security] was seen */
};
extern const struct sip_cfg_part sip_sec_cfg_part;

/* --- digest authentication (sip_auth.c) */

/*
 * Digest-authenticates a request from a user (REGISTER: 401/WWW-Authenticate;
 * other requests: 407/Proxy-Authenticate). Returns a NEW reference on the
 * user when the request carries valid credentials; otherwise sends the
 * challenge or the error response on `txn` itself, counts a failure for the
 * source IP (bans), and returns NULL. [loop]
 *
 * The user is the username of the credentials; it must be the user part of
 * To (REGISTER) or From (other requests), else 403. A user without a secret
 * gets 403. A wrong password and an unknown user look the same: a failure
 * is counted and a fresh challenge sent (RFC 3261 22.2/22.3: rejected
 * credentials are treated as absent). A right answer to a nonce that is too
 * old, not ours (e.g. from before a restart) or replayed (nonce count not
 * increasing) gets a challenge with stale=true and counts nothing. The
 * challenge offers one header per algorithm of auth_algorithms, in order
 * (SHA-256 first by default, RFC 8760), each with qop="auth".
 */
struct octo_user *sip_auth_request(struct sip_txn *txn, struct sip_msg *req);

/* "MD5", "SHA-256"; parse is case-insensitive, -1 if unknown. */
const char *sip_digest_alg_name(enum sip_digest_alg alg);
int sip_digest_alg_parse(const char *name);

/* The digest `response` (lower-case hex) for the given values: RFC 2617
 * 3.2.2.1 with qop "auth" (nc and cnonce used) or without qop (qop NULL or
 * "": RFC 2069 form). 0, or OCTO_EINVAL (a NULL argument, qop other than
 * auth) / OCTO_EFAIL (the hash failed). `out` holds SIP_DIGEST_HEX_MAX. */
#define SIP_DIGEST_HEX_MAX 65
int sip_digest_response(enum sip_digest_alg alg, const char *user, const char *realm,
			const char *password, const char *method, const char *uri,
			const char *nonce, const char *nc, const char *cnonce, const char *qop,
			char *out);
/* True when `resp` (hex, any case) is the digest response `secret` gives
 * for these values (sip_digest_response), compared in constant time. */
bool sip_digest_verify(enum sip_digest_alg alg, const char *user, const char *realm,
		       const char *secret, const char *method, const char *uri, const char *nonce,
		       const char *nc, const char *cnonce, const char *qop, const char *resp);

/* Shared by sip_auth_request and the dynamic peers of sip_peer.c. [loop]
 * sip_auth_challenge: sends 401 (REGISTER) or 407 on txn with one challenge
 * per algorithm of rc, with stale=true when asked.
 * sip_auth_field: a credential field without its quotes into buf (size
 * bytes): "" when raw is NULL, NULL when it is too long or holds control
 * characters; with `unescape`, quoted-pairs (RFC 7230) are undone. */
struct sip_reg_conf;
void sip_auth_challenge(struct sip_txn *txn, const struct sip_msg *req,
			const struct sip_reg_conf *rc, bool stale);
const char *sip_auth_field(const char *raw, char *buf, size_t size, bool unescape);

/* Nonces: 64 hex digits (a timestamp, 8 random bytes from RAND_bytes and an
 * HMAC-SHA256 of both with a secret made at load), checked without any
 * table. sip_nonce_check: OK, STALE (ours but older than lifetime_s) or
 * INVALID (malformed, forged, from the future, or made before the secret
 * changed, i.e. before a restart). [any] */
#define SIP_NONCE_LEN 64
enum sip_nonce_state { SIP_NONCE_OK = 0, SIP_NONCE_STALE, SIP_NONCE_INVALID };
void sip_nonce_new(char *buf, size_t size); /* size > SIP_NONCE_LEN */
enum sip_nonce_state sip_nonce_check(const char *nonce, unsigned lifetime_s);
/* Replay protection for qop=auth: true when `nc` is above every count seen
 * with this (valid) nonce, which is then remembered until the nonce
 * expires. [any] */
bool sip_nonce_count_ok(const char *nonce, unsigned long nc, unsigned lifetime_s);
/* Blocks of memory the remembered counts take (64 KB each, given back as
 * their nonces expire). [any] */
size_t sip_nonce_count_blocks(void);
/* Drops the counts of expired nonces; with none left, the table's pages go
 * back to the system. The loop does it every 10 s. [any] */
void sip_nonce_count_sweep(void);
/* Pages of the counts' hash table in memory (diagnostics, tests). [any] */
size_t sip_nonce_count_table_pages(void);

/* The part of chan_sip.c's table: the nonce secret. */
int sip_auth_init(void);
void sip_auth_fini(void);
/* Tests: the millisecond clock nonces are stamped and checked with (NULL:
 * octo_now_ms). */
void sip_auth_set_clock(uint64_t (*now_ms)(void));

/* --- registrations (sip_reg.c) */

/* The registered contacts of a user, for calls: fills up to `max` entries
 * (contact URI, transport and the address to send to, i.e. the source
 * address of the REGISTER for NAT -- with the TCP/TLS connection it came
 * on), returns how many. Contacts that a qualify found UNREACHABLE are left
 * out (they are not rung until they answer again). Oldest binding first, so
 * an index stays stable while the earlier bindings stay. [any] */
struct sip_contact {
	char uri[256];
	struct sip_addr dest;
	char user_agent[128];
};
int sip_reg_contacts(const char *user, struct sip_contact *out, int max);

/* The channel technology's `devices` callback (channel.h): one destination
 * "USER/<index>" per contact sip_reg_contacts() returns ("100/0",
 * "100/1"...). [any] */
int sip_reg_devices(const char *user, char (*dests)[OCTO_CHAN_DEST_MAX], int max);
/* Resolves a destination made by sip_reg_devices() ("100/1"; a bare "100"
 * means "100/0") into the contact. 0, OCTO_EINVAL (not of that form) or
 * OCTO_ENOTFOUND (no such contact now). [any] */
int sip_reg_device_contact(const char *dest, struct sip_contact *out);

/* Removes the bindings of `user` (all when uri is NULL, else the one with
 * that contact URI), from memory and the store. Returns how many. [any] */
int sip_reg_unregister(const char *user, const char *uri);

/* The part of chan_sip.c's table: REGISTER handler, bindings loaded from
 * the store, the expiry and qualify timer. */
int sip_reg_init(void);
void sip_reg_fini(void);
/* `sip show registrations`, `sip show peers` and `sip unregister`; called
 * from sip_cli_register() (the security commands: sip_sec_cli_register). */
int sip_reg_cli_register(struct octo_module *self);

/* Qualify (sip_qualify.c), driven by sip_reg.c's timer [loop]: sends an
 * OPTIONS to a binding; the result comes back through sip_reg_qualified()
 * with the round-trip time in ms, or -1 when the contact did not answer. */
void sip_qualify_send(const char *user, uint64_t binding_id, const char *uri,
		      const struct sip_addr *dest);
void sip_reg_qualified(const char *user, uint64_t binding_id, int rtt_ms);

/* --- failed authentications and bans (sip_security.c) */

/* True when packets from this address are dropped (it is banned): a hash
 * lookup, no allocation; checked for every datagram and framed message
 * before parsing, and when a connection is accepted. [any] */
bool sip_sec_banned(const struct sockaddr *sa);
/* Counts a failed authentication from `src` (the user name tried, may be
 * NULL). Bans the IP, logging at NOTICE, when max_failures are reached
 * within the window, unless it is in a trusted network. [any] */
void sip_sec_failure(const struct sockaddr *sa, const char *user);
/* Lifts a ban (and forgets the failures): 0, OCTO_ENOTFOUND, OCTO_EINVAL
 * (not an IP address). [any] */
int sip_sec_unban(const char *ip);

struct sip_ban_info {
	char ip[64];
	int64_t since, until; /* unix time, s */
	unsigned failures;
	char users[128]; /* the user names tried, comma separated, last one last */
};
/* A sorted copy of the bans in force: free(*out). [any] */
size_t sip_sec_bans(struct sip_ban_info **out);

int sip_sec_init(void);
void sip_sec_fini(void);
int sip_sec_cli_register(struct octo_module *self);
/* Tests: the wall clock (unix seconds) bans run on (NULL: time()). */
void sip_sec_set_clock(int64_t (*now_s)(void));

#endif
