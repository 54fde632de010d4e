/*
 * bridge.h - calls between channels: outgoing channels, waiting on several
 * channels at once, ringing several outgoing legs ("ring all, first answer
 * wins") and bridging two answered channels.
 *
 * THE LIFE OF AN OUTGOING LEG
 *   1. An application on a call thread (Dial) asks for a leg with
 *      octo_chan_request() -- or octo_dial_add(), which calls it. The core
 *      allocates a channel of the technology (state Dialing), copies the
 *      caller id from the requesting channel, sets LINKEDID so the CDRs of
 *      both legs share one linked id, and calls the technology's call().
 *   2. call() starts the call and returns at once (it must not wait for the
 *      far end); the leg's CALLED number is dest, its variables and numbers
 *      are readable (a user's device leg gets USER and CALLED = the user's
 *      extension from Dial right after call() returns). When call() fails
 *      the core hangs the leg up at once (hangup() runs, so it must cope
 *      with a call that never started). From then on the technology reports
 *      what happens by
 *      queueing events on the leg with octo_chan_queue_event(), from any
 *      thread: RINGING, PROGRESS (early media), ANSWER, BUSY, CONGESTION,
 *      or HANGUP with a cause (CALL_REJECTED for a decline, NO_ANSWER when
 *      the far end gave up ringing, UNALLOCATED / DESTINATION_OUT_OF_ORDER
 *      when it cannot be reached ...). DIGIT events after the answer are
 *      passed on by the bridge.
 *   3. The thread that requested the leg owns it: it reads the leg's events
 *      (octo_dial_run, octo_bridge) and is the one that finally calls
 *      octo_chan_hangup() on it. The core updates the leg's state from the
 *      events it reads (Ringing, Up with the answer time, Busy); a
 *      technology may set the state too.
 *   4. When the core cancels a ringing leg it calls octo_chan_hangup() on it
 *      (the technology's hangup() then sends CANCEL / BYE / ...). A leg
 *      cancelled because another leg answered first carries the variable
 *      ANSWERED_ELSEWHERE=1 before hangup() runs (SIP may add a Reason
 *      header saying "call completed elsewhere").
 *
 * NATIVE BRIDGES (struct octo_chan_tech.native_bridge, channel.h)
 *   When both channels of octo_bridge() have the same technology and it has
 *   native_bridge, the bridge calls native_bridge(a, b, true) on the bridge
 *   thread before it waits, and native_bridge(a, b, false) once when the
 *   bridge ends (only if start returned 0). A technology implementing it:
 *    - on start: relays media between a and b itself (chan_sip: RTP packet by
 *      packet between the two legs' sockets when both use the same codec)
 *      and returns 0; it returns an OCTO_E* (e.g. OCTO_EINVAL for different
 *      codecs) when it cannot, and the bridge goes on without a core media
 *      path (none exists yet) -- the step log says so;
 *    - must not block, and must not read either channel's event queue;
 *    - keeps queueing signalling events as usual (HANGUP, DIGIT, HOLD,
 *      UNHOLD). When it
 *      relays DTMF inside the media (RFC 4733 events pass through a packet
 *      relay), it must NOT also queue DIGIT events, or the bridge would send
 *      the digits a second time with send_digit();
 *    - on stop: stops relaying and returns; it is called after one side has
 *      hung up (its hangup() may already have run) but before the bridge
 *      hangs up the other side, and must cope with either leg being gone.
 *
 * VARIABLES the core sets
 *   LINKEDID    on a requested leg: the requestor's LINKEDID, else its id
 *   BRIDGEPEER  on both bridged channels: the other one's name (the CDR's
 *               destination channel)
 *   HANGUPSIDE  on both bridged channels when the bridge ends: "caller" when
 *               a (the calling side) hung up first, "callee" when b did
 *   ANSWERED_ELSEWHERE  see 4. above
 *
 * THREADS AND LOCKS: every function here runs on the calling thread and
 * holds no lock while it waits; channels are woken through octo_chan_watch.
 */
#ifndef OCTO_BRIDGE_H
#define OCTO_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "octo/channel.h"

/* ---------------------------------------------------------------- outgoing channels */

/* Creates an outgoing channel of technology `tech` (a registry name: "Test",
 * "SIP") and calls tech->call(chan, dest, timeout_ms). `requestor` (may be
 * NULL) gives the caller number and name and the LINKEDID; it is borrowed.
 * The leg's called and dialled numbers are `dest`; it is named after dest
 * ("Test/answer-0000000c", "SIP/100-0000000d": the part before '@').
 * `timeout_ms` is how long the caller means to let it ring (a hint for the
 * technology; 0: no limit). Returns a new reference to the leg, owned by
 * the calling thread (see above), or NULL with *cause (may be NULL) set:
 * DESTINATION_OUT_OF_ORDER when the technology does not exist or cannot
 * place calls, or when call() failed (then the leg was created and hung up,
 * so "call debug" shows it), or the cause the technology hung the leg up
 * with during call(). Bad input (empty, too long, control characters) is
 * refused the same way. Step lines go to the requestor's log and the leg's. */
struct octo_channel *octo_chan_request(const char *tech, const char *dest,
				       struct octo_channel *requestor, unsigned timeout_ms,
				       int *cause);

/* ---------------------------------------------------------------- waiting on several channels */

/* A set of channels that one thread waits on at once. It holds a reference
 * on each member and is used by one thread at a time (not thread-safe
 * itself); the wake-ups come from any thread. */
struct octo_waitset;
#define OCTO_WAITSET_MAX 64

/* A new, empty set, or NULL. */
struct octo_waitset *octo_waitset_alloc(void);
/* Removes every member and frees the set. NULL is a no-op. */
void octo_waitset_free(struct octo_waitset *ws);
/* Adds `chan` (takes a reference). Returns 0, OCTO_EEXIST, OCTO_EBUSY (the
 * set or the channel's watcher slots are full) or OCTO_EINVAL. */
int octo_waitset_add(struct octo_waitset *ws, struct octo_channel *chan);
/* Removes `chan` (drops the set's reference). Returns 0 or OCTO_ENOTFOUND. */
int octo_waitset_remove(struct octo_waitset *ws, struct octo_channel *chan);
size_t octo_waitset_count(const struct octo_waitset *ws);
/* Waits up to timeout_ms (-1: forever, 0: just look) for an event on any
 * member. Returns 1 with *chan (borrowed: the set's reference) and *ev
 * filled; OCTO_EHANGUP with *chan set when a member has hung up and has no
 * event left (remove it, or every later wait returns it again); 0 on
 * timeout or when the set is empty. Members are served in turn, so a busy
 * channel cannot starve the others. */
int octo_waitset_wait(struct octo_waitset *ws, int timeout_ms, struct octo_channel **chan,
		      struct octo_chan_event *ev);

/* ---------------------------------------------------------------- ringing several legs */

/* The outcome of dialling, as the dialplan sees it in ${DIALSTATUS}. */
enum octo_dial_status {
	OCTO_DIAL_RINGING = 0,   /* (a leg still in progress) */
	OCTO_DIAL_ANSWER,        /* a leg answered */
	OCTO_DIAL_BUSY,          /* busy (also: do not disturb, call waiting off) */
	OCTO_DIAL_NOANSWER,      /* rang until the time-out, or the far end gave up */
	OCTO_DIAL_CANCEL,        /* the caller hung up while it rang */
	OCTO_DIAL_CONGESTION,    /* the network or the far end failed */
	OCTO_DIAL_CHANUNAVAIL,   /* no such technology/device, or it cannot be reached */
	OCTO_DIAL_REJECTED,      /* refused: the callee's reject list, or a decline */
};
/* "RINGING", "ANSWER", "BUSY", "NOANSWER", "CANCEL", "CONGESTION",
 * "CHANUNAVAIL", "REJECTED". */
const char *octo_dial_status_name(enum octo_dial_status status);
/* The status a leg that hung up with `cause` before answering counts as:
 * USER_BUSY -> BUSY, NO_ANSWER -> NOANSWER, CALL_REJECTED -> REJECTED,
 * CONGESTION and TEMPORARY_FAILURE -> CONGESTION, anything else -> CHANUNAVAIL. */
enum octo_dial_status octo_dial_status_from_cause(int cause);
/* The hang-up cause that matches a status (BUSY -> USER_BUSY ...). */
int octo_dial_status_cause(enum octo_dial_status status);

/* A set of outgoing legs rung at once for one caller. Used by one thread
 * (the caller's call thread). */
struct octo_dial;
#define OCTO_DIAL_MAX_LEGS 48

/* `caller` (borrowed, may be NULL) gets the ringing indications and its
 * hang-up cancels the legs; its step log tells every step. NULL on ENOMEM. */
struct octo_dial *octo_dial_alloc(struct octo_channel *caller);
/* Creates a leg now (octo_chan_request), so that it rings while further
 * legs are added. Returns the leg's index (>= 0) -- also when the leg could
 * not be created: it then counts as CHANUNAVAIL (or the cause's status) --
 * or OCTO_EBUSY past OCTO_DIAL_MAX_LEGS, OCTO_EINVAL after octo_dial_run. */
int octo_dial_add(struct octo_dial *d, const char *tech, const char *dest, unsigned timeout_ms);
/* Records a target that was not called (e.g. the callee is in do not
 * disturb: BUSY) so that it counts in the result; `what` names it in the
 * step log. Returns the index, or OCTO_EBUSY / OCTO_EINVAL like add. */
int octo_dial_add_failed(struct octo_dial *d, const char *what, enum octo_dial_status status);
size_t octo_dial_count(const struct octo_dial *d);
/* The leg's channel (borrowed; NULL for a leg never created) and status. */
struct octo_channel *octo_dial_leg(const struct octo_dial *d, size_t index);
enum octo_dial_status octo_dial_leg_status(const struct octo_dial *d, size_t index);

/* Waits until a leg answers, every leg failed, the caller hung up, or
 * timeout_ms passed (0 or negative: no limit). Ringing and progress of the
 * legs are shown to the caller (its tech's indicate(), once each). On
 * ANSWER the leg's state is Up, every other leg is hung up (NORMAL_CLEARING,
 * ANSWERED_ELSEWHERE=1) and *answered gets a new reference to the winner:
 * the caller of octo_dial_run owns it and must hang it up in the end. Else
 * every leg is hung up and the result is CANCEL (the caller hung up: legs
 * NORMAL_CLEARING), NOANSWER (time-out: legs NO_ANSWER), or -- when all
 * legs failed -- the most telling of their statuses: BUSY, REJECTED,
 * NOANSWER, CONGESTION, then CHANUNAVAIL (also for no legs at all). Runs
 * once per octo_dial. */
enum octo_dial_status octo_dial_run(struct octo_dial *d, int timeout_ms,
				    struct octo_channel **answered);
/* Hangs up every leg still up (NORMAL_CLEARING), except the one handed out by
 * octo_dial_run, and frees the set. NULL is a no-op. */
void octo_dial_free(struct octo_dial *d);

/* ---------------------------------------------------------------- bridging */

/* How a bridge ended. */
enum octo_bridge_end {
	OCTO_BRIDGE_A_ENDED = 1,   /* a hung up (b was hung up with the same cause) */
	OCTO_BRIDGE_B_ENDED = 2,   /* b hung up (a too, unless OCTO_BRIDGE_KEEP_A) */
	/* a was moved out of the bridge into the dialplan (octo_chan_redirect):
	 * its dialplan position was changed with octo_pbx_goto(), so the
	 * application should return OCTO_APP_CONTINUE; b was hung up. */
	OCTO_BRIDGE_REDIRECTED = 3,
};
enum octo_bridge_flags {
	/* When b hangs up, leave a up and return (Dial's g option: the
	 * dialplan of a goes on). */
	OCTO_BRIDGE_KEEP_A = 1 << 0,
};

/* Connects two answered channels until one of them hangs up, then hangs up
 * the other with the same cause (when a runs dialplan, it is only marked as
 * hung up: the engine finishes it when the application returns). Runs on
 * a's owner thread (a is the calling side, e.g. the channel running Dial);
 * b must have no other thread reading its events (a leg from octo_dial_run).
 * Digits from one side are played to the other (send_digit), and so are
 * hold and resume (OCTO_EV_HOLD / OCTO_EV_UNHOLD events of one side become
 * indicate(HOLD / UNHOLD) on the other, for any pair of technologies; a
 * hold passed on is taken back with UNHOLD when the held side stays up
 * while its partner leaves: a transfer, or b hanging up with
 * OCTO_BRIDGE_KEEP_A). Media: see NATIVE BRIDGES above. Sets BRIDGEPEER
 * and HANGUPSIDE; every step goes to both step logs. Both references stay
 * the caller's. When the bridge returns it has hung b up whenever b was
 * still its own; b may also have been moved on by a transfer (TRANSFERS
 * below) and then belongs to another thread: the caller only drops its
 * reference to b. Returns an octo_bridge_end, or OCTO_EINVAL (NULL or the
 * same channel twice). */
int octo_bridge(struct octo_channel *a, struct octo_channel *b);
int octo_bridge_ex(struct octo_channel *a, struct octo_channel *b, unsigned flags);

/* ---------------------------------------------------------------- ringing users
 * Shared by the applications that ring users (Dial, CallGroup ...), so a
 * user's devices and "is this user in a call" mean the same everywhere. */

/* Devices asked of each channel technology per user at most. */
#define OCTO_DIAL_USER_DEVICES 16

/* Adds a leg to `d` for every device of user `ext` that a channel technology
 * can reach now (each technology's devices() callback, at most
 * OCTO_DIAL_USER_DEVICES per technology), each with timeout_ms like
 * octo_dial_add. Every leg created gets the variable USER=ext and the called
 * number ext. Each device is named in the caller's step log as
 * "<who>: user <ext>: device <Tech>/<dest>" (`who`: the application, e.g.
 * "Dial"; NULL or "" leaves the prefix out). Returns how many devices were
 * tried (legs that could not be created count: they are CHANUNAVAIL legs of
 * `d`); 0 when the user has no device that can be called now (nothing is
 * added then: the caller decides what that means). Stops early when `d` is
 * full. Call thread of the caller; `d` before octo_dial_run. */
int octo_dial_add_user(struct octo_dial *d, const char *ext, unsigned timeout_ms,
		       const char *who);

/* True when user `ext` has a live channel other than `except` (may be
 * NULL): one whose ${USER} is `ext` (a leg ringing or up to one of the
 * user's devices, a call the user placed when the technology sets USER), or
 * one named "Tech/<ext>-<hex sequence>" (e.g. SIP/100-0000002a). This is
 * what "busy" means for call waiting. Any thread; takes a snapshot of the
 * channel list. */
bool octo_user_in_call(const char *ext, struct octo_channel *except);

/* Makes `d` quiet: the caller is not shown the legs' ringing or progress
 * (its tech's indicate() is not called), for an application that already
 * gives the caller ringback -- e.g. one that rings several dial sets in
 * turn and has indicated RINGING once itself. Before octo_dial_run. */
void octo_dial_quiet(struct octo_dial *d);

/* ---------------------------------------------------------------- pickup */

/* Call pickup: `picker` takes over `leg`, an outgoing leg that rings in a
 * dial set waiting in octo_dial_run (Dial, CallGroup ...). That run ends as
 * if picker had answered: every leg still ringing, `leg` included, is hung
 * up (NORMAL_CLEARING, ANSWERED_ELSEWHERE=1, "picked up by ..." in the step
 * logs), and *answered gets a new reference to picker, so the application
 * that dialled answers its caller and bridges it with picker as it would
 * with an answered leg. picker should be answered already. From the moment
 * this returns 0, picker belongs to that bridge: the picker's own thread
 * must no longer read its events or frames, only wait until it has hung up
 * (octo_chan_watch + octo_chan_is_hungup), or -- better, so that a transfer
 * of the picker goes on on its own thread -- lend it first (octo_bridge_lend)
 * and wait with octo_bridge_lend_wait. Blocks the calling thread until the
 * dial's thread has taken or refused the request (it wakes at once).
 * Returns 0, OCTO_ENOTFOUND (leg is in no waiting dial set, or no longer
 * rings: it answered or ended, or the dial ended), OCTO_EBUSY (another
 * pickup of that dial is under way), OCTO_EINVAL (NULL, the same channel,
 * or picker is the dial's own caller). Any thread except the dial's. */
int octo_dial_pickup(struct octo_channel *leg, struct octo_channel *picker);

/* ---------------------------------------------------------------- transfers
 * Moving channels out of running bridges (octo_bridge_ex), e.g. for SIP
 * REFER. These functions only check and post the request, then wake the
 * bridge: they never block and may be called from any thread, the SIP loop
 * included. The bridge's own thread does the work at once: it stops the
 * native media relay, takes back a hold it passed to a channel that stays
 * up, hangs up the leaving side(s) with NORMAL_CLEARING (HANGUPSIDE
 * "caller" for an incoming channel, "callee" for an outgoing one: the
 * transferring party ended its part) and writes every step to the step
 * logs. One request per bridge at a time. Returns 0 when the request is
 * posted, or:
 *   OCTO_EINVAL    NULL or bad text, a channel that is not in a bridge, the
 *                  two channels of one bridge (join), or (redirect) the a of
 *                  a bridge whose thread runs no dialplan for it
 *   OCTO_ENOTFOUND no dialplan entry matches procedure/number
 *   OCTO_EBUSY     a request on that bridge is under way
 *   OCTO_EHANGUP   the channel has hung up
 */

/* The channel bridged with `chan` right now: a new reference, or NULL when
 * chan is not in a bridge. Any thread. */
struct octo_channel *octo_bridge_peer(struct octo_channel *chan);

/* Blind transfer: `chan` leaves its bridge without being hung up and goes
 * on in the dialplan at procedure/number (priority 1; PROCEDURE and CALLED
 * are set); the other channel of the bridge is hung up. A channel running
 * dialplan (the a of octo_bridge_ex, e.g. the caller of Dial) jumps there
 * on its own call thread: octo_bridge_ex returns OCTO_BRIDGE_REDIRECTED. A
 * channel without a thread (an outgoing leg of Dial) gets one
 * (octo_pbx_start): an outgoing leg to a user's device then calls as that
 * user (its caller number and name become ${USER}'s), and octo_bridge_ex
 * returns OCTO_BRIDGE_A_ENDED with a hung up. */
int octo_chan_redirect(struct octo_channel *chan, const char *procedure, const char *number);

/* ---------------------------------------------------------------- lending
 * A channel that runs dialplan on its own call thread (a picker, the taker
 * of a parked call) may be handed to another thread that bridges it as the
 * b of octo_bridge_ex. Lent first, it stays that thread's: a blind transfer
 * of it sends it back to its own thread at the new dialplan position
 * (instead of starting a second call thread for it), an attended transfer
 * takes it along, and a hang-up gives it back as ended. */

/* Marks `chan` as lent; call on chan's own call thread before handing it
 * over (octo_dial_pickup, a parked call's retriever). Returns 0, OCTO_EINVAL
 * (NULL, or chan runs no dialplan), OCTO_EEXIST (lent already), OCTO_ENOMEM. */
int octo_bridge_lend(struct octo_channel *chan);

/* On chan's call thread after the hand-over: waits, without reading chan's
 * events, until a bridge gives it back or it hangs up while no bridge holds
 * it; the loan ends. Returns OCTO_BRIDGE_A_ENDED (chan hung up or was hung
 * up: the application returns OCTO_APP_HANGUP), OCTO_BRIDGE_REDIRECTED (a
 * blind transfer moved it: its dialplan position is set, the application
 * returns OCTO_APP_CONTINUE) or OCTO_EINVAL (not lent). */
int octo_bridge_lend_wait(struct octo_channel *chan);

/* Ends a loan whose hand-over did not happen. 0, OCTO_ENOTFOUND (not
 * lent), OCTO_EBUSY (a bridge holds it: use octo_bridge_lend_wait). */
int octo_bridge_lend_end(struct octo_channel *chan);

/* Attended transfer: x and y, each in a different bridge, leave them and
 * are bridged together; the channels they were bridged with are hung up.
 * The thread of a bridge whose a is x (or y) goes on bridging x and y and
 * its octo_bridge_ex returns when that bridge ends; when both x and y run
 * dialplan the other's thread waits meanwhile, and when neither does, the
 * call thread of x's former partner (hung up at once) carries the bridge. */
int octo_bridge_join(struct octo_channel *x, struct octo_channel *y);

#endif
