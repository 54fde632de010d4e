/*
 * sip_media.h - chan_sip's media layer: one RTP endpoint per call leg,
 * relayed packet by packet between two bridged legs, or terminated in Octo
 * (20 ms frames of linear audio for applications such as Echo).
 *
 * THREADS
 *   A small pool of media workers (sip.conf [media] media_workers, default
 *   2) each runs epoll over the sockets of the endpoints it owns; no thread
 *   per call. Relaying reads with recvmmsg and writes with sendmmsg into
 *   buffers allocated once per worker: nothing is allocated per packet.
 *   Two relayed legs always live on the same worker (the relay moves one
 *   leg over), so the relay path takes no lock.
 *   Functions marked [any] may be called from any thread except a media
 *   worker (i.e. not from the callbacks below); they serialise with each
 *   other and wait a few microseconds for the worker when they change what
 *   it does. [call thread] functions are for the one thread that handles
 *   the leg's audio (the channel's owner thread).
 *
 * OWNERSHIP
 *   sip_media_alloc() gives the caller the endpoint; sip_media_free() ends
 *   it (sockets closed, relay stopped, callbacks never called again once it
 *   returns). A call thread inside sip_media_read/write on it then returns
 *   OCTO_EHANGUP at once, and free waits for it to leave; no other function
 *   may be running on it, and none may be called from then on. Simplest for
 *   a channel technology: stop the relay and the callbacks in hangup(), and
 *   free the endpoint when the channel's private data is destroyed (its
 *   last reference), when no call thread can still reach it.
 *
 * MODES
 *   idle        after alloc, and after a relay stopped: packets are read
 *               and dropped, but the far address is learned, RFC 4733
 *               digits are reported and the RTP timeout runs.
 *   relay       sip_media_relay(a, b, true) .. (a, b, false).
 *   terminated  from the first sip_media_read()/sip_media_write() while not
 *               relaying: libortp receives (jitter buffer) and sends
 *               (timestamps, sequence numbers); see sip_media.c.
 *
 * SYMMETRIC RTP (phones behind NAT)
 *   Octo sends to the address of the SDP until RTP arrives; the source of
 *   the first packet after each sip_media_set_remote() is then used instead
 *   (when it differs, the change is logged at debug level 1). Packets from
 *   any other source are dropped, unless the learned source has sent
 *   nothing for 2 s: the next source is then learned (a phone whose NAT
 *   mapping changed).
 *
 * RTCP (the odd port, RFC 3550 6): relayed legs pass RTCP through like RTP
 * (same worker, same batch buffers, no allocation): compound packets that
 * pass sip_rtcp_check() from the far end's IP go out of the partner's RTCP
 * socket to the partner's RTCP address -- the source of its own RTCP once
 * some came (symmetric), else its RTP address with port + 1. Terminated
 * legs let libortp send sender/receiver reports to that address. In every
 * mode the first report block of what the far end sends is kept (loss and
 * jitter as the phone sees them: sip_media_info).
 *
 * MUSIC ON HOLD (sip_moh.c): sip_media_moh() marks a leg as fed by the
 * shared music source; while it is, the relay drops what its partner sends
 * to it, libortp's sends are dropped, and sip_media_moh_send() sends the
 * source's 20 ms frames with a sequence, timestamp and SSRC of their own.
 */
#ifndef CHAN_SIP_SIP_MEDIA_H
#define CHAN_SIP_SIP_MEDIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct octo_frame;

/* One RTP endpoint of one call leg: an even UDP port (+1 for RTCP). */
struct sip_media;

/* sip.conf [media], bound in sip_conf.c. */
struct sip_media_conf {
	unsigned rtp_start, rtp_end; /* port range, both included */
	unsigned rtp_timeout;        /* seconds; 0: no RTP timeout */
	unsigned workers;            /* media worker threads (read at load only) */
};

/* ---------------------------------------------------------------- module life */

/* Starts the media workers (ortp_init once). Reads the [media] settings
 * applied last with sip_media_apply() (or the defaults: 10000-20000, 60 s,
 * 2 workers). 0 or OCTO_E*. At load. */
int sip_media_init(void);
/* Stops the workers and frees every endpoint still allocated (a warning
 * names how many). At unload, after the calls are gone. */
void sip_media_fini(void);
/* Applies [media] settings: the port range and the timeout hold for
 * endpoints allocated from then on; the number of workers only at the next
 * load. NULL restores the defaults. [any] */
void sip_media_apply(const struct sip_media_conf *conf);

/* ---------------------------------------------------------------- endpoints */

/* Binds a free even port (and the next one for RTCP) in the configured
 * range on `local_ip` ("127.0.0.1", "::1", or the bind address; "0.0.0.0"
 * and "::" are accepted too); NULL when none is free, the address is not
 * a numeric IP, or the workers are not running. The ports are tried from
 * a cursor that moves on, so a port just freed is not reused at once. [any] */
struct sip_media *sip_media_alloc(const char *local_ip);
/* Between sip_media_wake_hold() and sip_media_wake_release() (nested, per
 * thread) the commands this thread posts to the media workers do not wake
 * them: each worker with commands waiting is woken once at the release.
 * The SIP loop holds around a batch of received datagrams, which may set
 * up or end the media of dozens of calls. Commands that wait for their
 * worker still wake it at once. */
void sip_media_wake_hold(void);
void sip_media_wake_release(void);
/* Like sip_media_alloc, on the media worker of `near` (NULL, or freed: the
 * least loaded one): the two legs of a call relayed by one worker need not
 * move, and their relay starts without waiting for a worker. [any] */
struct sip_media *sip_media_alloc_near(const char *local_ip, const struct sip_media *near);
unsigned sip_media_port(const struct sip_media *m);

/* Where to send, from the SDP of the far end ("192.0.2.7" or an IPv6
 * address; port 1..65535); the negotiated payload type (0..127) and its
 * codec name ("PCMU"/"PCMA": found in the codec registry, module
 * codec_g711); the telephone-event payload type (96..127) or -1. May be
 * called again (re-INVITE): the learning of the far address starts over.
 * Port 0 or a 0.0.0.0 address (RFC 3264 hold) stops sending until the next
 * call. Returns 0, OCTO_EINVAL (bad address, port, payload type, or an
 * unknown codec name) or OCTO_ENOTFOUND (codec_g711 not loaded). [any] */
int sip_media_set_remote(struct sip_media *m, const char *ip, unsigned port, int pt,
			 const char *codec, int dtmf_pt);
/* Where RTCP goes when the far end's SDP says (a=rtcp, RFC 3605) instead of
 * the RTP port + 1; call it after each set_remote (which forgets it). RTCP
 * received from elsewhere still wins (symmetric RTCP). 0 or OCTO_EINVAL. [any] */
int sip_media_set_rtcp_remote(struct sip_media *m, const char *ip, unsigned port);

/*
 * Relays between two legs packet by packet (start=true) until stopped
 * (start=false, same pair in any order). Same codec: packets are forwarded
 * as they are (only the destination follows symmetric RTP). PCMU and PCMA:
 * each packet's payload is transcoded with the codec module's table
 * (media.h transcode) and its payload type rewritten, in place. RFC 4733
 * telephone-events pass through with their payload type mapped; when the
 * receiving leg has no telephone-event, the digit goes to the sending leg's
 * digit callback instead. Returns 0; OCTO_EINVAL (a == b, NULL, a leg
 * without set_remote, or a codec pair that cannot be transcoded);
 * OCTO_EBUSY (a leg already relays with another). A terminated leg stops
 * being terminated: a sip_media_read/write on it returns OCTO_EBUSY. Stopping
 * a pair that does not relay is a no-op (0); both legs then go back to idle
 * (a later read/write makes a leg terminated again). [any]
 */
int sip_media_relay(struct sip_media *a, struct sip_media *b, bool start);

/*
 * Callbacks, called on a media worker thread with `data`:
 *  - timeout: once, when no RTP arrived for rtp_timeout seconds while the
 *    leg had a far address (set_remote with a port) -- counted from then
 *    or from the last packet; it is armed again by the next set_remote. It
 *    does not run while sip_media_set_rx_expected(m, false) (hold);
 *  - digit: each RFC 4733 digit received (once, at the end of the event;
 *    '0'-'9', '*', '#', 'A'-'D') while not relaying to a leg that takes
 *    telephone-events. Without a digit callback a terminated leg returns
 *    the digit from sip_media_read() as an OCTO_FRAME_DTMF frame.
 * They must not block nor call any sip_media_* function (queue a channel
 * event, e.g. HANGUP or DIGIT, and return). Either may be NULL. [any]
 */
void sip_media_set_callbacks(struct sip_media *m, void (*timeout)(void *),
			     void (*digit)(void *, char), void *data);

/* Whether the far end sends RTP (its SDP direction is sendrecv or sendonly):
 * when false (it put Octo on hold with recvonly, or inactive) the RTP
 * timeout does not run; when it becomes true again the clock starts from
 * then. Default true. [any] */
void sip_media_set_rx_expected(struct sip_media *m, bool expected);

/*
 * Terminated media: reads the next 20 ms frame (160 samples of 16-bit
 * linear 8 kHz audio, decoded with the negotiated codec) after libortp's
 * jitter buffer, or a DTMF frame (see the digit callback). Waits up to
 * timeout_ms (-1: no limit; 0: just look). Packets of another size than
 * 20 ms are cut or joined into 20 ms frames. Returns 1 with *f filled, 0
 * when nothing came in time, OCTO_EBUSY while relaying, OCTO_EINVAL before
 * set_remote. [call thread]
 */
int sip_media_read(struct sip_media *m, struct octo_frame *f, int timeout_ms);
/*
 * Sends a frame: VOICE frames are encoded with the negotiated codec and
 * sent by libortp with the timestamp that follows the previous frame (a
 * gap of more than 100 ms in the writing starts a new talkspurt: marker
 * bit, timestamp moved on by the time that passed). The sending is paced
 * to real time: a caller more than 60 ms ahead sleeps until it is not.
 * DTMF frames are sent as RFC 4733 events (one packet per 20 ms of the
 * duration, then the end packet three times) and return when sent;
 * OCTO_EINVAL when the far end took no telephone-event. Returns 0,
 * OCTO_EBUSY while relaying, OCTO_EINVAL before set_remote or for a bad
 * frame. While the far address is unknown or on hold the frame is counted
 * but not sent. [call thread]
 */
int sip_media_write(struct sip_media *m, const struct octo_frame *f);

void sip_media_free(struct sip_media *m);

/* ---------------------------------------------------------------- music on hold */

/* Starts (on) or stops feeding the leg music from sip_moh.c: see MUSIC ON
 * HOLD above. Starting again while on is a no-op; each start begins a new
 * SSRC, so the phone resynchronises. [any] */
void sip_media_moh(struct sip_media *m, bool on);
bool sip_media_moh_on(const struct sip_media *m);
/* Sends one frame of music to the leg: the payload of its codec (`pcmu`
 * or `pcma`, `len` bytes each, at most 160) as the next RTP packet. No-op
 * (0) while not on music, on hold by the far end's SDP (no address to send
 * to) or once sip_media_free() has begun; 1 when a packet went out. Called
 * by the music thread of sip_moh.c, which must stop using `m` (sip_moh_stop)
 * before it is freed. [any] */
int sip_media_moh_send(struct sip_media *m, const uint8_t *pcmu, const uint8_t *pcma, size_t len);

/* ---------------------------------------------------------------- call recording */

/* Attaches a recording tap (sip_record.h) to a relaying leg, or detaches it
 * (NULL). The worker then reports the leg's RFC 4733 digits to the tap
 * (they are still relayed) and hands it each relayed audio payload. When
 * the relay stops or the endpoint is freed the tap is detached and
 * sip_rec_release() called for it on the worker; so it is when another tap
 * (or NULL) replaces it. Asynchronous, in order after the commands already
 * given to the endpoint (the relay start): when m is not relaying then, or
 * is freed, the tap is not taken and is released on the worker. [any] */
struct sip_rec_leg;
void sip_media_tap(struct sip_media *m, struct sip_rec_leg *tap);
/* A digit the leg's phone sent otherwise (SIP INFO) goes to its tap, if it
 * has one (asynchronously, on the worker). [any] */
void sip_media_tap_digit(struct sip_media *m, char digit);

/* ---------------------------------------------------------------- RTCP (sip_rtcp.c) */

/* What the far end says in the first report block of its SR/RR. */
struct sip_rtcp_report {
	bool valid;          /* a report block was seen */
	uint8_t fraction;    /* fraction lost since the previous report, /256 */
	int32_t cum_lost;    /* cumulative packets lost (24-bit signed) */
	uint32_t jitter;     /* interarrival jitter, in timestamp units (1/8 ms at 8 kHz) */
	uint32_t ext_seq;    /* extended highest sequence number received */
};

/* Validates a compound RTCP packet (RFC 3550 6.1, A.2): version 2, first
 * packet SR or RR (or any RTCP type 192..223 when `loose`), lengths that
 * add up exactly to `len`, padding only on the last packet. When `rep` is
 * not NULL, the first report block of an SR or RR goes into it (valid is
 * left alone when there is none). Pure function of its bytes. */
bool sip_rtcp_check(const uint8_t *pkt, size_t len, bool loose, struct sip_rtcp_report *rep);
/* "3.1% lost (12 packets), jitter 4.5 ms" into buf; "" when !rep->valid. */
char *sip_rtcp_report_str(const struct sip_rtcp_report *rep, unsigned rate, char *buf,
			  size_t size);

/* ---------------------------------------------------------------- diagnostics */

/* A snapshot for `sip show channels` and tests. [any] */
struct sip_media_info {
	unsigned port;
	char remote[64]; /* "192.0.2.7:4000" where Octo sends, "" when unknown */
	bool learned;    /* remote comes from received RTP, not from the SDP */
	char codec[8];   /* "PCMU", "" before set_remote */
	int pt, dtmf_pt;
	const char *mode;                            /* "idle", "relay", "terminated" */
	uint64_t rx_packets, tx_packets, rx_dropped; /* dropped: bad, or foreign source */
	unsigned worker;
	/* RTCP: packets received from the far end (valid), sent to it (relayed
	 * or libortp's reports), dropped (invalid, foreign source); where they
	 * go ("" when nowhere yet); the far end's last report */
	uint64_t rtcp_rx, rtcp_tx, rtcp_dropped;
	char rtcp_remote[64];
	struct sip_rtcp_report report;
	bool moh;              /* fed by music on hold */
	uint64_t moh_packets;  /* music packets sent */
};
void sip_media_info(struct sip_media *m, struct sip_media_info *out);
/* Endpoints allocated now. [any] */
unsigned sip_media_count(void);

#endif
