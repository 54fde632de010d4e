/*
 * sip_transport.c - SIP over UDP, TCP and TLS on the core event loop:
 * listeners, connections (incoming and outgoing), stream framing by
 * Content-Length, keep-alives (RFC 5626 ping/pong), limits and idle
 * timeouts, the choice of our sent-by address (NAT: externaddr/localnet),
 * and `sip set debug` tracing of every message in and out.
 *
 * DESIGN
 *  - Everything runs on the loop thread: sockets are non-blocking and
 *    registered with octo_loop_fd_add(); connections and their buffers are
 *    touched nowhere else. The CLI reads them through sip_loop_run().
 *  - UDP: one socket; datagrams are read into one static buffer with
 *    MSG_TRUNC, so a datagram over the size limit is counted and dropped
 *    before any parsing. Datagrams are sent by a thread of their own
 *    (sip_udp_tx.c); the loop only queues them.
 *  - Streams: a connection (an octo object) has a receive buffer that is
 *    framed by sip_frame() after each read, and a queue of unsent chunks
 *    (EPOLLOUT only while it is not empty). A connection is found by id (the
 *    `conn` of struct sip_addr: responses and requests to a registered
 *    contact go back on the connection the peer opened) or by address; an
 *    outgoing connection is opened when none is found. One timer per
 *    connection closes it when idle (or not open within 10 s).
 *  - TLS is the same connection with an SSL object in front of the socket
 *    (OpenSSL non-blocking: WANT_READ/WANT_WRITE map to epoll interest).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "octo/log.h"
#include "octo/obj.h"
#include "octo/sched.h"
#include "sip.h"
#include "sip_media.h"

#define TP_UDP_BUF 65536 /* the largest datagram we can read */
#define TP_READ_CHUNK 16384
#define TP_OPEN_TIMEOUT_MS 10000  /* connect + TLS handshake */
#define TP_TX_LIMIT (1024 * 1024) /* unsent bytes before a slow peer is cut off */
#define TP_ACCEPT_BATCH 64
#define TP_UDP_BATCH 64
/* The UDP receive buffer asked for: bursts at a thousand calls a second
 * overflowed the default and every lost ACK or BYE cost a call. */
#define TP_UDP_RCVBUF (8 << 20)

struct tp_listener {
	int fd;                /* -1: not open */
	struct sip_addr local; /* as bound (the real port) */
	bool wildcard;         /* 0.0.0.0 or :: */
};

struct tp_chunk {
	struct tp_chunk *next;
	size_t len, off;
	char data[];
};

enum tp_conn_state { CONN_CONNECTING, CONN_HANDSHAKE, CONN_OPEN, CONN_CLOSED };

struct tp_conn {
	uint64_t id;
	int fd;
	SSL *ssl;
	struct sip_addr peer; /* peer.conn == id */
	char key[SIP_ADDR_STRLEN];
	bool outgoing;
	enum tp_conn_state state;
	bool close_after_flush;
	bool ssl_wants_write; /* the last SSL call wants the socket writable */
	bool linked;
	char *rx;
	size_t rx_len, rx_cap;
	struct tp_chunk *tx_head, *tx_tail;
	size_t tx_bytes;
	uint64_t created_ms, active_ms;
	uint64_t timer;
	uint32_t events;
};

static struct {
	struct tp_listener lis[SIP_TP_COUNT];
	struct octo_container *by_id, *by_addr;
	uint64_t next_id;
	SSL_CTX *tls_server, *tls_client;
	atomic_uint conns;
	atomic_uint max_msg, max_conns, idle_ms;
	bool running;
	char udp_buf[TP_UDP_BUF + 1];
} tp = {
	.lis = { { .fd = -1 }, { .fd = -1 }, { .fd = -1 } },
	.max_msg = 65535,
	.max_conns = 1024,
	.idle_ms = 600000,
};

/* ================================================================ debug */

static struct {
	atomic_int mode; /* 0 off, 1 all, 2 one IP */
	pthread_mutex_t lock;
	struct sockaddr_storage ip;
	unsigned port;
} dbg = { .lock = PTHREAD_MUTEX_INITIALIZER };

void sip_debug_set(int mode, const struct sockaddr_storage *ip, unsigned port)
{
	pthread_mutex_lock(&dbg.lock);
	if (mode == 2 && ip) {
		dbg.ip = *ip;
		dbg.port = port;
	}
	atomic_store(&dbg.mode, mode);
	pthread_mutex_unlock(&dbg.lock);
}

int sip_debug_get(char *desc, size_t size)
{
	int mode;

	pthread_mutex_lock(&dbg.lock);
	mode = atomic_load(&dbg.mode);
	if (mode == 0) {
		octo_strlcpy(desc, "off", size);
	} else if (mode == 1) {
		octo_strlcpy(desc, "on (all peers)", size);
	} else {
		struct sip_addr a = { .sa = dbg.ip, .len = sizeof(dbg.ip) };
		char ip[SIP_ADDR_STRLEN];

		sip_addr_ip(&a, ip, sizeof(ip));
		if (dbg.port)
			snprintf(desc, size, "on (peer %s port %u)", ip, dbg.port);
		else
			snprintf(desc, size, "on (peer %s)", ip);
	}
	pthread_mutex_unlock(&dbg.lock);
	return mode;
}

static bool dbg_match(const struct sip_addr *peer)
{
	bool ok = false;

	pthread_mutex_lock(&dbg.lock);
	if (peer->sa.ss_family == dbg.ip.ss_family &&
	    (!dbg.port || dbg.port == sip_addr_port(peer))) {
		if (peer->sa.ss_family == AF_INET)
			ok = ((const struct sockaddr_in *)&peer->sa)->sin_addr.s_addr ==
			     ((const struct sockaddr_in *)&dbg.ip)->sin_addr.s_addr;
		else if (peer->sa.ss_family == AF_INET6)
			ok = !memcmp(&((const struct sockaddr_in6 *)&peer->sa)->sin6_addr,
				     &((const struct sockaddr_in6 *)&dbg.ip)->sin6_addr,
				     sizeof(struct in6_addr));
	}
	pthread_mutex_unlock(&dbg.lock);
	return ok;
}

void sip_debug_msg(bool sent, const struct sip_addr *peer, const char *buf, size_t len)
{
	int mode = atomic_load(&dbg.mode);
	char addr[SIP_ADDR_STRLEN], *text;
	size_t n = 0;

	if (!mode || (mode == 2 && !dbg_match(peer)))
		return;
	text = malloc(len + 1);
	if (!text)
		return;
	/* consoles get printable text: CR dropped, other control bytes shown as '.' */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == '\r')
			continue;
		text[n++] = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ? '.' : (char)c;
	}
	while (n && text[n - 1] == '\n')
		n--;
	text[n] = '\0';
	sip_addr_str(peer, addr, sizeof(addr));
	/* the logger makes one line of each record: one record per line */
	octo_log(OCTO_NOTICE, "%s %s (%zu bytes)",
		 sent ? "---> SIP sent to" : "<--- SIP received from", addr, len);
	for (char *line = text, *nl; line; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		octo_log(OCTO_NOTICE, "%s %s", sent ? ">" : "<", line);
	}
	free(text);
}

void sip_transport_deliver(const char *buf, size_t len, const struct sip_addr *src)
{
	/* a banned source gets no answer: dropped before any parsing */
	if (sip_sec_banned((const struct sockaddr *)&src->sa)) {
		SIP_STAT(rx_dropped);
		return;
	}
	sip_debug_msg(false, src, buf, len);
	sip_receive(buf, len, src);
}

/* ================================================================ addresses */

/* A dual-stack (::) socket reports IPv4 peers as ::ffff:a.b.c.d; the stack
 * works with plain IPv4 addresses (Via received=, logs, comparisons). */
static void tp_unmap(struct sip_addr *a)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
	struct sockaddr_in s4 = { .sin_family = AF_INET };

	if (a->sa.ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
	memset(&a->sa, 0, sizeof(a->sa));
	memcpy(&a->sa, &s4, sizeof(s4));
	a->len = sizeof(s4);
}

/* The reverse, to send to an IPv4 peer from a dual-stack socket. */
static void tp_map(const struct sip_addr *a, struct sockaddr_in6 *out)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;

	memset(out, 0, sizeof(*out));
	out->sin6_family = AF_INET6;
	out->sin6_port = s4->sin_port;
	out->sin6_addr.s6_addr[10] = 0xff;
	out->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&out->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
}

/* ================================================================ TLS */

static void tp_ssl_error(char *err, size_t size, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		octo_strlcpy(buf, "unknown error", sizeof(buf));
	ERR_clear_error();
	snprintf(err, size, "%s: %s", what, buf);
}

static SSL_CTX *tp_tls_server_ctx(const char *cert, const char *key, char *err, size_t size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		tp_ssl_error(err, size, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tp_ssl_error(err, size, "cannot load the certificate");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tp_ssl_error(err, size, "cannot load the private key");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tp_ssl_error(err, size, "the private key does not match the certificate");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static SSL_CTX *tp_tls_client_ctx(const char *cafile, char *err, size_t size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx) {
		tp_ssl_error(err, size, "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cafile) {
		if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
			tp_ssl_error(err, size, "cannot load the CA file");
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	return ctx;
}

int sip_tls_check(const char *cert, const char *key, const char *cafile, char *err, size_t size)
{
	SSL_CTX *ctx;

	if (cert && key) {
		ctx = tp_tls_server_ctx(cert, key, err, size);
		if (!ctx)
			return OCTO_ECONFIG;
		SSL_CTX_free(ctx);
	}
	if (cafile) {
		ctx = tp_tls_client_ctx(cafile, err, size);
		if (!ctx)
			return OCTO_ECONFIG;
		SSL_CTX_free(ctx);
	}
	return 0;
}

/* ================================================================ connections */

static const char *conn_key(const void *obj)
{
	return ((const struct tp_conn *)obj)->key;
}

static uint64_t conn_id_key(const void *obj)
{
	return ((const struct tp_conn *)obj)->id;
}

static void conn_free_tx(struct tp_conn *c)
{
	while (c->tx_head) {
		struct tp_chunk *next = c->tx_head->next;

		free(c->tx_head);
		c->tx_head = next;
	}
	c->tx_tail = NULL;
	c->tx_bytes = 0;
}

static void conn_destroy(void *obj)
{
	struct tp_conn *c = obj;

	conn_free_tx(c);
	free(c->rx);
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
}

static void conn_close(struct tp_conn *c, const char *why)
{
	char peer[SIP_ADDR_STRLEN];

	if (c->state == CONN_CLOSED)
		return;
	c->state = CONN_CLOSED;
	octo_obj_ref(c);
	octo_loop_fd_del(c->fd);
	if (c->ssl) {
		SSL_shutdown(c->ssl); /* best effort close_notify, never waits */
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
	}
	close(c->fd);
	c->fd = -1;
	if (c->timer) {
		if (octo_timer_cancel(c->timer))
			octo_obj_unref(c);
		c->timer = 0;
	}
	conn_free_tx(c);
	if (c->linked) {
		c->linked = false;
		atomic_fetch_sub(&tp.conns, 1);
		octo_container_unlink(tp.by_addr, c);
		octo_container_unlink(tp.by_id, c);
	}
	octo_debug(2, "SIP: %s connection %s closed: %s", c->outgoing ? "outgoing" : "incoming",
		   sip_addr_str(&c->peer, peer, sizeof(peer)), why);
	octo_obj_unref(c);
}

static void conn_update_events(struct tp_conn *c)
{
	/* after an error answer nothing more is read: only the answer is sent */
	uint32_t ev = c->close_after_flush ? 0 : EPOLLIN;

	if (c->state == CONN_CLOSED)
		return;
	if (c->state == CONN_CONNECTING)
		ev = EPOLLOUT;
	else if ((c->state == CONN_OPEN && c->tx_head) || c->ssl_wants_write)
		ev |= EPOLLOUT;
	if (ev != c->events && octo_loop_fd_mod(c->fd, ev) == 0)
		c->events = ev;
}

/* How long what recvmsg read waited in the socket (its SO_TIMESTAMPNS
 * stamp: a datagram's, or for a TCP read the stamp of the last segment it
 * took from), in ms; 0 without a stamp. The SIP loop's backlog, whatever
 * the transport (sip_core.c). */
static unsigned tp_msg_lag(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		struct timespec ts, now;
		int64_t ms;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS ||
		    c->cmsg_len < CMSG_LEN(sizeof(ts)))
			continue;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		clock_gettime(CLOCK_REALTIME, &now);
		ms = (int64_t)(now.tv_sec - ts.tv_sec) * 1000 +
		     (now.tv_nsec - ts.tv_nsec) / 1000000;
		return ms > 0 ? (ms < 600000 ? (unsigned)ms : 600000) : 0;
	}
	return 0;
}

union tp_ts_ctl {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(struct timespec))];
};

/* How long the oldest bytes in a connection's socket waited goes to the
 * overload check: a one-byte peek takes the first segment's stamp (a full
 * read's would be its last segment's, and OpenSSL reads TLS sockets
 * itself). */
static void conn_sample_lag(struct tp_conn *c)
{
	union tp_ts_ctl ctl;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };

	if (recvmsg(c->fd, &mh, MSG_PEEK | MSG_DONTWAIT) > 0)
		sip_overload_update(tp_msg_lag(&mh));
}

/* Bytes read into buf; 0 at EOF; -1 would block; -2 error. */
static ssize_t conn_recv(struct tp_conn *c, char *buf, size_t size)
{
	if (c->ssl) {
		int n = SSL_read(c->ssl, buf, size > INT32_MAX ? INT32_MAX : (int)size);

		if (n > 0)
			return n;
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_READ: return -1;
		case SSL_ERROR_WANT_WRITE: c->ssl_wants_write = true; return -1;
		case SSL_ERROR_ZERO_RETURN: return 0;
		default: ERR_clear_error(); return -2;
		}
	}
	for (;;) {
		ssize_t n = recv(c->fd, buf, size, 0);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
	}
}

/* Bytes written; -1 would block; -2 error. */
static ssize_t conn_send(struct tp_conn *c, const char *buf, size_t len)
{
	if (c->ssl) {
		int n = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);

		c->ssl_wants_write = false;
		if (n > 0)
			return n;
		switch (SSL_get_error(c->ssl, n)) {
		case SSL_ERROR_WANT_WRITE: c->ssl_wants_write = true; return -1;
		case SSL_ERROR_WANT_READ: return -1;
		default: ERR_clear_error(); return -2;
		}
	}
	for (;;) {
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
	}
}

static void conn_flush(struct tp_conn *c)
{
	while (c->state == CONN_OPEN && c->tx_head) {
		struct tp_chunk *ch = c->tx_head;
		ssize_t n = conn_send(c, ch->data + ch->off, ch->len - ch->off);

		if (n == -1)
			break;
		if (n < 0) {
			conn_close(c, "send failed");
			return;
		}
		ch->off += (size_t)n;
		c->tx_bytes -= (size_t)n;
		if (ch->off == ch->len) {
			c->tx_head = ch->next;
			if (!c->tx_head)
				c->tx_tail = NULL;
			free(ch);
		}
	}
	if (c->state == CONN_OPEN && !c->tx_head && c->close_after_flush)
		conn_close(c, "closed after an error answer");
}

static int conn_queue(struct tp_conn *c, const char *buf, size_t len)
{
	struct tp_chunk *ch;

	if (c->state == CONN_CLOSED)
		return OCTO_EFAIL;
	if (c->state == CONN_OPEN && !c->tx_head) {
		ssize_t n = conn_send(c, buf, len);

		if (n == (ssize_t)len)
			return 0;
		if (n == -2) {
			conn_close(c, "send failed");
			return OCTO_EFAIL;
		}
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		}
	}
	if (c->tx_bytes + len > TP_TX_LIMIT) {
		conn_close(c, "send queue full (the peer does not read)");
		return OCTO_EFAIL;
	}
	ch = malloc(sizeof(*ch) + len);
	if (!ch)
		return OCTO_ENOMEM;
	ch->next = NULL;
	ch->len = len;
	ch->off = 0;
	memcpy(ch->data, buf, len);
	if (c->tx_tail)
		c->tx_tail->next = ch;
	else
		c->tx_head = ch;
	c->tx_tail = ch;
	c->tx_bytes += len;
	conn_update_events(c);
	return 0;
}

/* Delivers every complete message in the receive buffer. */
static void conn_frame_all(struct tp_conn *c)
{
	size_t off = 0, max = atomic_load(&tp.max_msg);

	while (c->state == CONN_OPEN && !c->close_after_flush) {
		size_t skip;
		bool ping;
		long n = sip_frame(c->rx + off, c->rx_len - off, max, &skip, &ping);

		off += skip;
		if (ping) {
			/* RFC 5626 4.4.1: a double-CRLF ping gets a CRLF pong */
			SIP_STAT(rx_keepalive);
			conn_queue(c, "\r\n", 2);
		}
		if (n == 0)
			break;
		if (n < 0) {
			/* Framing is lost. If the header block is complete, let the
			 * validator answer it (400 Invalid Content-Length), then
			 * close once that answer is sent. */
			const char *end = memmem(c->rx + off, c->rx_len - off, "\r\n\r\n", 4);

			SIP_STAT(rx_bad);
			if (end) {
				size_t hdr = (size_t)(end + 4 - (c->rx + off));

				c->close_after_flush = true;
				sip_transport_deliver(c->rx + off, hdr, &c->peer);
				if (c->state == CONN_OPEN && !c->tx_head)
					conn_close(c, "broken framing");
			} else {
				conn_close(c, "message too large");
			}
			return;
		}
		sip_transport_deliver(c->rx + off, (size_t)n, &c->peer);
		off += (size_t)n;
	}
	if (c->state == CONN_CLOSED)
		return;
	if (off >= c->rx_len) {
		c->rx_len = 0;
	} else if (off) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
}

static void conn_read(struct tp_conn *c)
{
	size_t limit = (size_t)atomic_load(&tp.max_msg) + TP_READ_CHUNK;

	while (c->state == CONN_OPEN && !c->close_after_flush) {
		size_t space;
		ssize_t n;

		if (c->rx_cap - c->rx_len < TP_READ_CHUNK && c->rx_cap < limit) {
			size_t cap = c->rx_cap ? c->rx_cap * 2 : TP_READ_CHUNK * 2;
			char *p;

			if (cap > limit)
				cap = limit;
			p = realloc(c->rx, cap);
			if (!p) {
				conn_close(c, "out of memory");
				return;
			}
			c->rx = p;
			c->rx_cap = cap;
		}
		if (c->rx_len == c->rx_cap) {
			conn_close(c, "message too large");
			return;
		}
		conn_sample_lag(c); /* how long what this read takes waited */
		space = c->rx_cap - c->rx_len;
		n = conn_recv(c, c->rx + c->rx_len, space);
		if (n == -1)
			break;
		if (n == 0) {
			conn_close(c, "closed by the peer");
			return;
		}
		if (n < 0) {
			conn_close(c, "read failed");
			return;
		}
		c->rx_len += (size_t)n;
		c->active_ms = octo_now_ms();
		conn_frame_all(c);
		/* A short read emptied the socket (and OpenSSL's buffers): more
		 * data is signalled again (level-triggered), so no read just to
		 * see EAGAIN, and the next one starts with its own peek. */
		if ((size_t)n < space &&
		    (c->state != CONN_OPEN || !c->ssl || !SSL_has_pending(c->ssl)))
			break;
	}
}

static void conn_handshake(struct tp_conn *c)
{
	int rc = SSL_do_handshake(c->ssl);

	c->ssl_wants_write = false;
	if (rc == 1) {
		c->state = CONN_OPEN;
		c->active_ms = octo_now_ms();
		return;
	}
	switch (SSL_get_error(c->ssl, rc)) {
	case SSL_ERROR_WANT_READ: break;
	case SSL_ERROR_WANT_WRITE: c->ssl_wants_write = true; break;
	default: {
		char err[300], peer[SIP_ADDR_STRLEN];

		tp_ssl_error(err, sizeof(err), "TLS handshake failed");
		octo_log(OCTO_NOTICE, "SIP: %s with %s", err,
			 sip_addr_str(&c->peer, peer, sizeof(peer)));
		conn_close(c, "TLS handshake failed");
	}
	}
}

static void conn_cb(int fd, uint32_t events, void *data)
{
	struct tp_conn *c = octo_obj_ref(data);
	bool was_open = c->state == CONN_OPEN;

	if (c->state == CONN_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			char peer[SIP_ADDR_STRLEN];

			octo_log(OCTO_NOTICE, "SIP: cannot connect to %s: %s",
				 sip_addr_str(&c->peer, peer, sizeof(peer)), strerror(err));
			conn_close(c, "connect failed");
			goto out;
		}
		if (!(events & EPOLLOUT))
			goto out;
		c->state = c->ssl ? CONN_HANDSHAKE : CONN_OPEN;
		c->active_ms = octo_now_ms();
	}
	if (c->state == CONN_HANDSHAKE)
		conn_handshake(c);
	if (c->state == CONN_OPEN && c->tx_head)
		conn_flush(c);
	/* just opened: OpenSSL may hold application data that came with the
	 * end of the handshake, and the socket may not signal it again */
	if (c->state == CONN_OPEN && (!was_open || (events & (EPOLLIN | EPOLLHUP | EPOLLERR))))
		conn_read(c);
	if (c->state == CONN_OPEN && c->tx_head)
		conn_flush(c);
	conn_update_events(c);
out:
	octo_obj_unref(c);
}

static unsigned conn_timer_cb(void *data)
{
	struct tp_conn *c = data;
	uint64_t now = octo_now_ms(), deadline;

	if (c->state == CONN_CLOSED) {
		octo_obj_unref(c);
		return 0;
	}
	if (c->state == CONN_OPEN)
		deadline = c->active_ms + atomic_load(&tp.idle_ms);
	else
		deadline = c->created_ms + TP_OPEN_TIMEOUT_MS;
	if (now < deadline)
		return (unsigned)(deadline - now);
	c->timer = 0; /* ending: conn_close must not cancel us */
	conn_close(c, c->state == CONN_OPEN ? "idle timeout" : "not established in time");
	octo_obj_unref(c);
	return 0;
}

/* A new connection on `fd` (already non-blocking), linked and watched. */
static struct tp_conn *conn_new(int fd, enum sip_tp t, const struct sockaddr_storage *sa,
				socklen_t len, bool outgoing, enum tp_conn_state state)
{
	struct tp_conn *c = octo_obj_alloc(sizeof(*c), conn_destroy);
	int one = 1;

	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->id = ++tp.next_id;
	c->outgoing = outgoing;
	c->state = state;
	c->peer.tp = t;
	c->peer.sa = *sa;
	c->peer.len = len;
	c->peer.conn = c->id;
	tp_unmap(&c->peer);
	c->created_ms = c->active_ms = octo_now_ms();
	sip_addr_str(&c->peer, c->key, sizeof(c->key));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)); /* overload check */
	if (t == SIP_TP_TLS) {
		c->ssl = SSL_new(outgoing ? tp.tls_client : tp.tls_server);
		if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
			ERR_clear_error();
			octo_obj_unref(c);
			return NULL;
		}
		if (outgoing)
			SSL_set_connect_state(c->ssl);
		else
			SSL_set_accept_state(c->ssl);
	}
	c->events = state == CONN_CONNECTING ? EPOLLOUT : EPOLLIN;
	if (octo_loop_fd_add(fd, c->events, conn_cb, c) != 0) {
		octo_obj_unref(c);
		return NULL;
	}
	if (octo_container_link(tp.by_id, c) != 0 || octo_container_link(tp.by_addr, c) != 0) {
		octo_loop_fd_del(fd);
		octo_container_unlink(tp.by_id, c);
		octo_obj_unref(c);
		return NULL;
	}
	c->linked = true;
	atomic_fetch_add(&tp.conns, 1);
	SIP_STAT(conns_open);
	c->timer =
		octo_timer_add(state == CONN_OPEN ? atomic_load(&tp.idle_ms) : TP_OPEN_TIMEOUT_MS,
			       conn_timer_cb, octo_obj_ref(c));
	if (!c->timer)
		octo_obj_unref(c);
	return c; /* the caller's reference */
}

/* Rate-limited notice for refused connections. */
static void tp_refused(const char *what)
{
	static uint64_t last;
	uint64_t now = octo_now_ms();

	SIP_STAT(conns_refused);
	if (now >= last + 10000) {
		last = now;
		octo_log(OCTO_WARNING,
			 "SIP: %s refused: the limit of %u connections is reached "
			 "(tcp_max_connections)",
			 what, atomic_load(&tp.max_conns));
	}
}

static void tp_accept_cb(int fd, uint32_t events, void *data)
{
	enum sip_tp t = (enum sip_tp)(uintptr_t)data;

	for (int i = 0; i < TP_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct tp_conn *c;

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				octo_debug(1, "SIP: accept on %s: %s", sip_tp_name(t),
					   strerror(errno));
			return;
		}
		if (atomic_load(&tp.conns) >= atomic_load(&tp.max_conns)) {
			close(cfd);
			tp_refused("incoming connection");
			continue;
		}
		if (sip_sec_banned((const struct sockaddr *)&ss)) {
			SIP_STAT(rx_dropped);
			close(cfd);
			continue;
		}
		c = conn_new(cfd, t, &ss, len, false, t == SIP_TP_TLS ? CONN_HANDSHAKE : CONN_OPEN);
		octo_obj_unref(c);
	}
}

static struct tp_conn *conn_find(const struct sip_addr *dest)
{
	struct tp_conn *c = NULL;
	char key[SIP_ADDR_STRLEN];

	if (!tp.by_id)
		return NULL;
	if (dest->conn) {
		c = octo_container_find_int(tp.by_id, dest->conn);
		if (c && c->state != CONN_CLOSED)
			return c;
		octo_obj_unref(c);
	}
	c = octo_container_find(tp.by_addr, sip_addr_str(dest, key, sizeof(key)));
	if (c && c->state != CONN_CLOSED)
		return c;
	octo_obj_unref(c);
	return NULL;
}

static struct tp_conn *conn_connect(const struct sip_addr *dest)
{
	const struct tp_listener *l = &tp.lis[dest->tp];
	int fd;

	if (dest->tp == SIP_TP_TLS && !tp.tls_client)
		return NULL;
	if (atomic_load(&tp.conns) >= atomic_load(&tp.max_conns)) {
		tp_refused("outgoing connection");
		return NULL;
	}
	fd = socket(dest->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	/* leave from our listening address when we have a specific one, so
	 * the Via we put in matches the source of the connection */
	if (l->fd >= 0 && !l->wildcard && l->local.sa.ss_family == dest->sa.ss_family) {
		struct sockaddr_storage src = l->local.sa;

		if (src.ss_family == AF_INET)
			((struct sockaddr_in *)&src)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&src)->sin6_port = 0;
		if (bind(fd, (struct sockaddr *)&src, l->local.len) < 0)
			octo_debug(1, "SIP: bind before connect: %s", strerror(errno));
	}
	if (connect(fd, (const struct sockaddr *)&dest->sa, dest->len) < 0 &&
	    errno != EINPROGRESS) {
		char peer[SIP_ADDR_STRLEN];

		octo_log(OCTO_NOTICE, "SIP: cannot connect to %s: %s",
			 sip_addr_str(dest, peer, sizeof(peer)), strerror(errno));
		close(fd);
		return NULL;
	}
	return conn_new(fd, dest->tp, &dest->sa, dest->len, true, CONN_CONNECTING);
}

/* ================================================================ sending */

int sip_transport_send(const struct sip_addr *dest, const char *buf, size_t len)
{
	return sip_transport_send_for(dest, buf, len, NULL);
}

int sip_transport_send_for(const struct sip_addr *dest, const char *buf, size_t len,
			   const char *txn_key)
{
	struct tp_conn *c;
	int rc;

	if (!tp.running || !dest || !dest->len || (unsigned)dest->tp >= SIP_TP_COUNT)
		return OCTO_EINVAL;
	sip_debug_msg(true, dest, buf, len);
	if (dest->tp == SIP_TP_UDP) {
		const struct tp_listener *l = &tp.lis[SIP_TP_UDP];
		ssize_t n;
		const struct sockaddr *to = (const struct sockaddr *)&dest->sa;
		socklen_t tolen = dest->len;
		struct sockaddr_in6 mapped;

		if (l->fd >= 0 && l->local.sa.ss_family == AF_INET6 &&
		    dest->sa.ss_family == AF_INET && l->wildcard) {
			tp_map(dest, &mapped);
			to = (const struct sockaddr *)&mapped;
			tolen = sizeof(mapped);
		}
		if (l->fd < 0 || l->local.sa.ss_family != to->sa_family) {
			SIP_STAT(tx_errors);
			return OCTO_EINVAL;
		}
		if (sip_udp_tx_queue(l->fd, to, tolen, buf, len, txn_key))
			return 0; /* the sending thread counts it (sip_udp_tx.c) */
		do {
			n = sendto(l->fd, buf, len, MSG_NOSIGNAL, to, tolen);
		} while (n < 0 && errno == EINTR);
		if (n != (ssize_t)len) {
			char peer[SIP_ADDR_STRLEN];

			SIP_STAT(tx_errors);
			octo_debug(1, "SIP: send to %s failed: %s",
				   sip_addr_str(dest, peer, sizeof(peer)),
				   n < 0 ? strerror(errno) : "short write");
			return OCTO_EFAIL;
		}
		SIP_STAT(tx_msgs);
		return 0;
	}
	c = conn_find(dest);
	if (!c)
		c = conn_connect(dest);
	if (!c) {
		SIP_STAT(tx_errors);
		return OCTO_EFAIL;
	}
	rc = conn_queue(c, buf, len);
	octo_obj_unref(c);
	if (rc) {
		SIP_STAT(tx_errors);
		return rc;
	}
	SIP_STAT(tx_msgs);
	return 0;
}

/* The local IP the kernel would use towards `dest` (wildcard listeners). */
static int tp_route_source(const struct sip_addr *dest, char *host, size_t size)
{
	struct sip_addr me = { .len = sizeof(me.sa) };
	struct tp_conn *c = NULL;
	int fd, rc = OCTO_EFAIL;

	if (dest->tp != SIP_TP_UDP && (c = conn_find(dest))) {
		if (getsockname(c->fd, (struct sockaddr *)&me.sa, &me.len) == 0)
			rc = 0;
		octo_obj_unref(c);
	}
	if (rc) {
		fd = socket(dest->sa.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return OCTO_EFAIL;
		if (connect(fd, (const struct sockaddr *)&dest->sa, dest->len) == 0 &&
		    getsockname(fd, (struct sockaddr *)&me.sa, &me.len) == 0)
			rc = 0;
		close(fd);
	}
	if (!rc)
		sip_addr_ip(&me, host, size);
	return rc;
}

int sip_transport_local(const struct sip_addr *dest, char *host, size_t size, unsigned *port)
{
	const struct tp_listener *l = &tp.lis[(unsigned)dest->tp < SIP_TP_COUNT ? dest->tp : 0];
	struct sip_cfg *cfg = sip_cfg_get();
	int rc = 0;

	if (!cfg)
		return OCTO_EFAIL;
	*port = l->fd >= 0 ? sip_addr_port(&l->local)
			   : (dest->tp == SIP_TP_TLS ? cfg->g.tls_port : cfg->g.port);
	if (cfg->g.externaddr.family &&
	    !sip_cfg_is_local(cfg, (const struct sockaddr *)&dest->sa)) {
		struct sip_addr ext = { .sa.ss_family = (sa_family_t)cfg->g.externaddr.family };

		if (ext.sa.ss_family == AF_INET)
			((struct sockaddr_in *)&ext.sa)->sin_addr = cfg->g.externaddr.addr.v4;
		else
			((struct sockaddr_in6 *)&ext.sa)->sin6_addr = cfg->g.externaddr.addr.v6;
		sip_addr_ip(&ext, host, size);
		if (cfg->g.externport)
			*port = cfg->g.externport;
	} else if (l->fd >= 0 && !l->wildcard) {
		sip_addr_ip(&l->local, host, size);
	} else {
		rc = tp_route_source(dest, host, size);
	}
	octo_obj_unref(cfg);
	return rc;
}

/* ================================================================ UDP */

static void tp_udp_read(int fd)
{
	for (int i = 0; i < TP_UDP_BATCH; i++) {
		struct sip_addr src = { .tp = SIP_TP_UDP };
		union tp_ts_ctl ctl;
		struct iovec iov = { .iov_base = tp.udp_buf, .iov_len = TP_UDP_BUF };
		struct msghdr mh = {
			.msg_name = &src.sa,
			.msg_namelen = sizeof(src.sa),
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl.buf,
			.msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(fd, &mh, MSG_TRUNC);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				octo_debug(1, "SIP: UDP receive: %s", strerror(errno));
			else if (sip_overloaded())
				sip_overload_update(0); /* drained: no wait left */
			return;
		}
		src.len = mh.msg_namelen;
		sip_overload_update(tp_msg_lag(&mh));
		if ((size_t)n > TP_UDP_BUF || (size_t)n > atomic_load(&tp.max_msg)) {
			char peer[SIP_ADDR_STRLEN];

			SIP_STAT(rx_too_big);
			octo_debug(1,
				   "SIP: %zd-byte datagram from %s dropped (max_message_size %u)",
				   n, sip_addr_str(&src, peer, sizeof(peer)),
				   atomic_load(&tp.max_msg));
			continue;
		}
		tp.udp_buf[n] = '\0';
		tp_unmap(&src);
		sip_transport_deliver(tp.udp_buf, (size_t)n, &src);
	}
}

/* The answers to a batch of datagrams leave with one wake-up of the
 * sending thread, and the media set up or ended for them with one of each
 * media worker. */
static void tp_udp_cb(int fd, uint32_t events, void *data)
{
	(void)events;
	(void)data;
	sip_udp_tx_hold();
	sip_media_wake_hold();
	tp_udp_read(fd);
	sip_media_wake_release();
	sip_udp_tx_release();
}

/* ================================================================ listeners */

static int tp_listen(enum sip_tp t, const struct octo_cidr *addr, unsigned port)
{
	struct tp_listener *l = &tp.lis[t];
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	char where[SIP_ADDR_STRLEN];
	int fd, one = 1, zero = 0;

	if (addr->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = addr->addr.v6;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
		l->wildcard = IN6_IS_ADDR_UNSPECIFIED(&addr->addr.v6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = addr->addr.v4;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof(*s4);
		l->wildcard = addr->addr.v4.s_addr == htonl(INADDR_ANY);
	}
	l->local = (struct sip_addr){ .tp = t, .sa = ss, .len = len };
	sip_addr_str(&l->local, where, sizeof(where));
	fd = socket(ss.ss_family,
		    (t == SIP_TP_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (t != SIP_TP_UDP)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6 && l->wildcard)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (t == SIP_TP_UDP) {
		int rcv = TP_UDP_RCVBUF;

		/* FORCE (root) goes past net.core.rmem_max; else capped by it */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
		setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0)
		goto fail;
	if (t != SIP_TP_UDP && listen(fd, 256) < 0)
		goto fail;
	l->local.len = sizeof(l->local.sa);
	getsockname(fd, (struct sockaddr *)&l->local.sa, &l->local.len);
	if (octo_loop_fd_add(fd, EPOLLIN, t == SIP_TP_UDP ? tp_udp_cb : tp_accept_cb,
			     (void *)(uintptr_t)t) != 0) {
		errno = EINVAL;
		goto fail;
	}
	l->fd = fd;
	octo_verbose(2, "SIP: listening on %s", sip_addr_str(&l->local, where, sizeof(where)));
	return 0;

fail:
	octo_log(OCTO_ERROR, "SIP: cannot listen on %s: %s", where, strerror(errno));
	if (fd >= 0)
		close(fd);
	l->fd = -1;
	return OCTO_EFAIL;
}

static void tp_close_listeners(void)
{
	for (int t = 0; t < SIP_TP_COUNT; t++) {
		if (tp.lis[t].fd >= 0) {
			octo_loop_fd_del(tp.lis[t].fd);
			close(tp.lis[t].fd);
			tp.lis[t].fd = -1;
		}
	}
}

void sip_transport_apply(const struct sip_cfg *cfg)
{
	atomic_store(&tp.max_msg, cfg->g.max_message_size);
	atomic_store(&tp.max_conns, cfg->g.tcp_max_connections);
	atomic_store(&tp.idle_ms, cfg->g.tcp_idle_timeout * 1000u);
}

int sip_transport_start(const struct sip_cfg *cfg)
{
	char err[400];

	sip_transport_apply(cfg);
	tp.by_id = octo_container_alloc_int(conn_id_key, 0);
	tp.by_addr = octo_container_alloc_str(conn_key, OCTO_CONTAINER_MULTI);
	if (!tp.by_id || !tp.by_addr)
		goto fail;
	tp.tls_client = tp_tls_client_ctx(cfg->tls_cafile_path, err, sizeof(err));
	if (!tp.tls_client)
		octo_log(OCTO_WARNING, "SIP: no outgoing TLS: %s", err);
	if (cfg->tls_cert_path && cfg->tls_key_path) {
		tp.tls_server =
			tp_tls_server_ctx(cfg->tls_cert_path, cfg->tls_key_path, err, sizeof(err));
		if (!tp.tls_server) {
			octo_log(OCTO_ERROR, "SIP: TLS: %s", err);
			goto fail;
		}
	}
	tp.running = true;
	if (cfg->g.udp && tp_listen(SIP_TP_UDP, &cfg->g.bindaddr, cfg->g.port))
		goto fail;
	if (cfg->g.udp)
		sip_udp_tx_start(); /* failing, the loop sends itself */
	if (cfg->g.tcp && tp_listen(SIP_TP_TCP, &cfg->g.bindaddr, cfg->g.port))
		goto fail;
	if (tp.tls_server && tp_listen(SIP_TP_TLS, &cfg->g.bindaddr, cfg->g.tls_port))
		goto fail;
	return 0;

fail:
	tp.running = false;
	sip_udp_tx_stop();
	tp_close_listeners();
	SSL_CTX_free(tp.tls_server);
	SSL_CTX_free(tp.tls_client);
	tp.tls_server = tp.tls_client = NULL;
	octo_obj_unref(tp.by_id);
	octo_obj_unref(tp.by_addr);
	tp.by_id = tp.by_addr = NULL;
	return OCTO_EFAIL;
}

void sip_transport_stop(void)
{
	size_t n = 0;
	void **all;

	if (!tp.by_id)
		return;
	tp.running = false;
	sip_udp_tx_stop(); /* what is queued goes out first */
	tp_close_listeners();
	all = octo_container_snapshot(tp.by_id, &n, NULL);
	for (size_t i = 0; i < n; i++)
		conn_close(all[i], "SIP stopping");
	octo_container_snapshot_free(all, n);
	octo_obj_unref(tp.by_id);
	octo_obj_unref(tp.by_addr);
	tp.by_id = tp.by_addr = NULL;
	SSL_CTX_free(tp.tls_server);
	SSL_CTX_free(tp.tls_client);
	tp.tls_server = tp.tls_client = NULL;
}

bool sip_transport_changed(const struct sip_cfg *a, const struct sip_cfg *b, char *what,
			   size_t size)
{
	size_t used = 0;

#define TP_DIFF(cond, name)                                                                        \
	do {                                                                                       \
		if ((cond) && used < size)                                                         \
			used += (size_t)snprintf(what + used, size - used, "%s%s",                 \
						 used ? ", " : "", name);                          \
	} while (0)
#define TP_STRDIFF(x, y) (((x) == NULL) != ((y) == NULL) || ((x) && strcmp((x), (y))))

	what[0] = '\0';
	TP_DIFF(a->g.bindaddr.family != b->g.bindaddr.family ||
			memcmp(&a->g.bindaddr.addr, &b->g.bindaddr.addr,
			       sizeof(a->g.bindaddr.addr)),
		"bindaddr");
	TP_DIFF(a->g.port != b->g.port, "port");
	TP_DIFF(a->g.udp != b->g.udp, "udp");
	TP_DIFF(a->g.tcp != b->g.tcp, "tcp");
	TP_DIFF(a->g.tls_port != b->g.tls_port, "tls_port");
	TP_DIFF(TP_STRDIFF(a->tls_cert_path, b->tls_cert_path), "tls_cert");
	TP_DIFF(TP_STRDIFF(a->tls_key_path, b->tls_key_path), "tls_key");
	TP_DIFF(TP_STRDIFF(a->tls_cafile_path, b->tls_cafile_path), "tls_cafile");
#undef TP_DIFF
#undef TP_STRDIFF
	return used > 0;
}

size_t sip_transport_listeners(struct sip_listener_info *out, size_t max)
{
	size_t n = 0;

	for (int t = 0; t < SIP_TP_COUNT && n < max; t++) {
		if (tp.lis[t].fd < 0)
			continue;
		out[n].tp = (enum sip_tp)t;
		sip_addr_hostport(&tp.lis[t].local, out[n].addr, sizeof(out[n].addr));
		n++;
	}
	return n;
}

struct tp_list_job {
	struct sip_conn_info *items;
	size_t count;
};

static void tp_list_conns(void *data)
{
	struct tp_list_job *j = data;
	uint64_t now = octo_now_ms();
	size_t n = 0;
	void **all;

	if (!tp.by_id)
		return;
	all = octo_container_snapshot(tp.by_id, &n, NULL);
	j->items = calloc(n ? n : 1, sizeof(*j->items));
	for (size_t i = 0; j->items && i < n; i++) {
		struct tp_conn *c = all[i];
		struct sip_conn_info *ci = &j->items[j->count++];

		ci->id = c->id;
		sip_addr_str(&c->peer, ci->peer, sizeof(ci->peer));
		ci->outgoing = c->outgoing;
		ci->age_s = (unsigned long)((now - c->created_ms) / 1000);
		ci->idle_s = (unsigned long)((now - c->active_ms) / 1000);
		ci->queued = c->tx_bytes;
	}
	octo_container_snapshot_free(all, n);
}

size_t sip_transport_conns(struct sip_conn_info **out)
{
	struct tp_list_job j = { 0 };

	sip_loop_run(tp_list_conns, &j);
	*out = j.items;
	return j.count;
}
