/*
 * gateway_common.h - what the gateway channel modules (chan_fxs, chan_fxo,
 * chan_bri, chan_pri, chan_gsm, chan_dect) share. Each module is built with
 * its own copy of gateway_common.c, so nothing here is shared at run time
 * except through the registry.
 *
 *  - The device model: a gateway (one section of gateways.conf) has lines
 *    (FXS ports, FXO lines, BRI ports, PRI spans, GSM SIMs, DECT handsets),
 *    and each line has the slots that carry one call each (one per analog
 *    port/line, SIM and handset; two B-channels per BRI port; 30 per E1 span
 *    and 23 per T1 span). Slots are taken by hunting (outgoing) or by the
 *    line a call arrives on (incoming) and given back when chan_sip reports
 *    the call's end. While a slot is busy the module holds a use reference
 *    ("fxo1/2"), so an unload is refused while calls are up.
 *  - Config: gw_parse_section() reads one section of gateways.conf into a
 *    struct gw, with messages "gateways.conf:12: [fxo1] line: ...".
 *  - Reload (`module reload chan_fxo`, `core reload`): the whole file is
 *    read again; a file with errors is refused (file:line) and the running
 *    gateways stay. Otherwise, per gateway: unchanged ones go on untouched;
 *    new ones are added; one whose SIP side (type, host, sip_port,
 *    transport, username, secret, match, codecs, qualify, DECT bases) is
 *    the same but whose ports/lines/numbers/trunk/procedure changed is
 *    switched to the new model at once -- its SIP peer (and a dynamic
 *    gateway's registration) stays, and calls in progress keep their
 *    slots (by tag: port "1", B-channel "1.2", "sim1", IPUI); one removed,
 *    or whose SIP side changed, is removed / re-added when it is idle --
 *    right away, or when its last call ends ("reload pending" in the CLI).
 *    A struct gw is never freed while the module is loaded (a replaced one
 *    is kept, retired, until unload): the calls it still carries are
 *    released on it. A trunk stays registered until unload (app_trunk
 *    holds it for a whole call): it follows its gateway by name, and is
 *    down ("Removed") when no gateway has it any more.
 *  - SIP callbacks reach the module through gateway_common: the peer's ops
 *    data names the gateway (or DECT base), and each callback runs on the
 *    gateway's current struct gw under the runtime's read lock.
 *  - CLI: `gateway show [NAME]` lists every gateway of every loaded gateway
 *    module. Each module offers its gateways as the service "gateway.<kind>"
 *    (struct gw_service_api); the first gateway module loaded registers the
 *    command and, when it unloads, hands it to another one still loaded.
 *
 * Thread context: slot functions take the gateway's lock and may be called
 * from any thread (chan_sip's event loop, call threads, CLI workers); they
 * never block.
 */
#ifndef OCTO_GATEWAY_COMMON_H
#define OCTO_GATEWAY_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "octo/config.h"
#include "octo/sip.h"
#include "octo/trunk.h"

struct octo_module;
struct octo_cli_out;

#define GW_FILE "gateways.conf"
#define GW_NAME_MAX 48       /* characters of a gateway, trunk or base name */
#define GW_NUMBER_MAX 32     /* digits of a number (line, SIM, MSN, DID bound) */
#define GW_TAG_MAX 24        /* a slot's line tag, as given to chan_sip */
#define GW_LINES_MAX 64      /* lines (ports, spans, SIMs, handsets) per gateway */
#define GW_SLOTS_MAX 512     /* slots per gateway (16 E1 spans) */
#define GW_NUMBERS_MAX 16    /* MSN/DID entries per BRI port, DID ranges per PRI gateway */
#define GW_BASES_MAX 16      /* DECT bases per network */

enum gw_kind { GW_FXS, GW_FXO, GW_BRI, GW_PRI, GW_GSM, GW_DECT, GW_KINDS };

/* "fxs", "fxo", ... */
const char *gw_kind_name(enum gw_kind kind);
/* The word for a kind's lines: "port", "line", "span", "sim", "handset". */
const char *gw_line_key(enum gw_kind kind);
/* The kind for a name, or -1. */
int gw_kind_parse(const char *name);

enum gw_hunt { GW_HUNT_ASC, GW_HUNT_DESC, GW_HUNT_RR };
extern const char *const gw_hunt_names[]; /* "ascending", "descending", "round-robin" */

enum gw_slot_state { GW_SLOT_IDLE, GW_SLOT_IN, GW_SLOT_OUT };

/* One slot: carries one call. */
struct gw_slot {
	char tag[GW_TAG_MAX];   /* "1" (port, line), "1.2" (BRI port 1 B2, PRI span 1 ch 2),
				   "sim1", a handset's IPUI */
	unsigned line;          /* index into gw->lines */
	unsigned channel;       /* B-channel number within the line (1-based); 1 otherwise */
	/* Mutable, under gw->lock. */
	enum gw_slot_state state;
	char other[GW_NUMBER_MAX + 8]; /* the number at the other end, for the CLI */
	uint64_t since_ms;
	unsigned long calls;
};

/* A number, or a range of numbers of the same length ("0212345600-0212345699"). */
struct gw_numrange {
	char lo[GW_NUMBER_MAX + 1];
	char hi[GW_NUMBER_MAX + 1];
};

/* One line: an FXS port, an FXO line, a BRI port, a PRI span, a SIM slot,
 * a DECT handset. */
struct gw_line {
	unsigned id;            /* port/line/span/slot number as configured (1-based);
				   DECT: the handset's position */
	char number[GW_NUMBER_MAX + 1]; /* FXO line number, SIM number; FXS/DECT: "" */
	char user[GW_NUMBER_MAX + 1];   /* FXS port's or DECT handset's user ("" = none) */
	bool fax;               /* FXS: a fax machine */
	bool ptmp;              /* BRI: point-to-multipoint (else point-to-point) */
	bool t1;                /* PRI: T1 (23 B-channels), else E1 (30) */
	struct gw_numrange numbers[GW_NUMBERS_MAX]; /* BRI: the port's MSNs / DID ranges */
	size_t nnumbers;
	char ipui[GW_TAG_MAX];  /* DECT handset */
	unsigned base;          /* DECT: index into gw->bases of the base it is on now */
	unsigned first_slot, nslots;
	/* Mutable, under gw->lock. */
	char state[48];         /* GSM: "registered" / "no network" / ...; DECT: "registered" */
	int signal;             /* GSM: signal level 0..31 (99 = unknown) */
};

/* A DECT base station (a SIP peer of its own). */
struct gw_base {
	char name[GW_NAME_MAX + 1];
	char host[64];          /* numeric IP or "dynamic" */
	unsigned port;
	struct gw *gw;          /* back to the network (ops data of the base's peer) */
	/* Mutable, under gw->lock. */
	char state[48];
	bool peer_added;
};

/* The common keys of a gateway section. */
struct gw_cfg {
	char *type;
	char *description;
	char *host;
	unsigned sip_port;
	char *transport;
	char *username;
	char *secret;
	char *match;
	char *codecs;
	bool qualify;
	char *procedure;
	char *trunk;
	char *tone_zone;
	int hunting;
	char *sms_email;
	bool sms;
};

/* One gateway (one section). */
struct gw {
	char name[GW_NAME_MAX + 1];
	enum gw_kind kind;
	struct gw_cfg cfg;
	struct gw_line lines[GW_LINES_MAX];
	size_t nlines;
	struct gw_slot *slots;
	size_t nslots;
	struct gw_numrange dids[GW_NUMBERS_MAX]; /* PRI DID ranges */
	size_t ndids;
	struct gw_base bases[GW_BASES_MAX];      /* DECT */
	size_t nbases;
	char *file;
	int line;
	/* What a reload compares: the keys of the SIP side, and the rest. */
	char *sip_sig;
	char *model_sig;
	/* Run time. */
	pthread_mutex_t lock;
	struct octo_module *module;  /* for use references while slots are busy */
	bool peer_added;
	char state[48];              /* the SIP peer's state ("Registered", "Unreachable") */
	char reason[96];
	unsigned rr_next;            /* round-robin position */
	void *priv;                  /* the module's */
	/* Reload, under gw->lock. */
	bool closing;                /* being removed: no slot is taken any more */
	bool retired;                /* replaced or removed: its trunk is down */
	bool pending_remove;         /* removed from the file: goes when idle */
	struct gw *pending;          /* its new config (SIP side changed): when idle */
	struct gw *next_retired;     /* the module's list of retired gateways */
};

/* ---------------------------------------------------------------- config */

/* Parses one real section. Returns NULL (and adds errors to diags) when the
 * section is not of `kind` (no error then) or is bad; otherwise a new gateway
 * to free with gw_free. `*other_kind` (may be NULL) is set to true when the
 * section is a gateway of another kind, false otherwise. */
struct gw *gw_parse_section(const struct octo_cfg_section *sec, enum gw_kind kind,
			    struct octo_diags *diags, bool *other_kind);

/* Reads gateways.conf from `dir` (optional file) and returns the gateways
 * of `kind` in file order (an array to free with gw_free_all), or NULL with
 * *count = 0 when there are none. *errors is set to true when at least one
 * error was found (the array is then NULL). Sections of an unknown type are
 * warnings. */
struct gw **gw_load_all(const char *dir, enum gw_kind kind, size_t *count, bool *errors,
			struct octo_diags *diags);
void gw_free(struct gw *gw);
void gw_free_all(struct gw **gws, size_t count);

/* True when `number` is `r` or lies in it (same length, digits between). */
bool gw_numrange_match(const struct gw_numrange *r, const char *number);
/* Parses "N" or "LO-HI"; NULL or an error phrase. */
const char *gw_numrange_parse(const char *text, struct gw_numrange *out);

/* ---------------------------------------------------------------- slots */

/* Takes a free slot of line `line` (-1: any line) by `order`, marks it busy
 * in direction `state` with `other` as the far number, and takes a use
 * reference on gw->module. Lines whose state is not usable (GSM SIM not
 * registered) are skipped when `usable` is given and returns false for
 * them. Returns the slot index, or -1 when every candidate slot is busy. */
int gw_slot_take(struct gw *gw, int line, enum gw_hunt order, enum gw_slot_state state,
		 const char *other, bool (*usable)(const struct gw *gw, const struct gw_line *l));
/* Takes this exact slot if idle: 0, or OCTO_EBUSY (also while the gateway
 * is closing). */
int gw_slot_take_at(struct gw *gw, size_t slot, enum gw_slot_state state, const char *other);
/* Gives back the slot with that tag (from chan_sip's released()); unknown
 * or idle tags are ignored. Returns true when a slot was freed. */
bool gw_slot_release(struct gw *gw, const char *tag);
/* The slot index with that tag, or -1. */
int gw_slot_find(const struct gw *gw, const char *tag);
/* Busy slots in all, and on one line. */
unsigned gw_busy(struct gw *gw);
unsigned gw_line_busy(struct gw *gw, size_t line);

/* The tone plan of a tone zone (it, de, fr, uk, us, es, nl, ch, at, be,
 * pt, se): frequencies in Hz and cadences in seconds (on/off), as the
 * national networks define them. Octo itself sends no call-progress tones
 * on gateway calls (the gateway and the phones make them); `gateway show
 * NAME` lists the zone's plan so the device can be set to match. */
struct gw_tone_zone {
	const char *zone;
	const char *country;
	const char *dial;
	const char *ringback;
	const char *busy;
	const char *congestion;
};
/* The zone by code (case-insensitive), or NULL. */
const struct gw_tone_zone *gw_tone_zone_find(const char *zone);

/* ---------------------------------------------------------------- SIP side */

struct octo_sip_peer_cfg;
/* Fills a SIP peer config for the gateway from its common keys (the strings
 * borrow from gw). */
void gw_peer_cfg(const struct gw *gw, struct octo_sip_peer_cfg *pc);

/* ---------------------------------------------------------------- CLI */

/* The slots table ("slot", "line", "number", "state", "other end", "since",
 * "calls") and the key/values of one gateway, for `gateway show NAME`. */
void gw_cli_show_one(struct octo_cli_out *out, struct gw *gw);
/* One row of `gateway show` for the gateway. */
void gw_cli_row(struct octo_cli_out *out, struct gw *gw);
/* The describe() text of a trunk: one line per line of the gateway. */
void gw_describe(struct gw *gw, char *buf, size_t size);
/* "idle", "in 0612345678", "out 0612345678". */
const char *gw_slot_state_name(enum gw_slot_state st);

/* What each gateway module offers as service "gateway.<kind>" (version
 * GW_SERVICE_VERSION). `gateway show` lists the gateways of every module
 * sorted by name: it collects the names, sorts them, and asks for each
 * row. */
#define GW_SERVICE_PREFIX "gateway."
#define GW_SERVICE_VERSION 2
struct gw_service_api {
	/* Adds its gateways' rows to the `gateway show` table. */
	void (*rows)(struct octo_cli_out *out);
	/* Adds the row of its gateway `name`; false when it has none. */
	bool (*row)(struct octo_cli_out *out, const char *name);
	/* Shows one gateway; false when it has none by that name. */
	bool (*show)(struct octo_cli_out *out, const char *name);
	/* Registers `gateway show` under this module (its previous owner is
	 * unloading). */
	void (*adopt_cli)(void);
	/* Completion of gateway names. */
	void (*names)(void (*add)(void *ctx, const char *name), void *ctx);
};

/* Sets up the shared command for a module at load: registers `gateway show`
 * under `self` unless another gateway module already offers it. */
void gw_cli_attach(struct octo_module *self);
/* For gw_service_api.adopt_cli: registers `gateway show` under this module
 * when nobody offers it. */
void gw_cli_adopt(void);
/* At unload: hands `gateway show` to another gateway module when this one
 * owned it. */
void gw_cli_detach(void);

/* ---------------------------------------------------------------- module runtime
 * What a gateway module hands to gw_module_load(): its kind, its SIP
 * callbacks (the data they get is the struct gw -- for DECT the struct
 * gw_base -- current when they run; ops->status may be gw_status;
 * released() is handled by the runtime), how to tell a usable line for
 * hunting (NULL: all) and, for FXS and DECT, its devices provider: it
 * offers dests of idle slots only (gw_slot_idle) and takes nothing -- the
 * runtime claims the slot when chan_sip really places the call (sip.h
 * ops->claim), so a dest Dial never calls stays free. The runtime loads
 * gateways.conf, adds each gateway's SIP peer (DECT: each base), registers
 * its trunk (FXO, BRI, PRI, GSM), the service "gateway.<kind>" and
 * `gateway show`, and reloads (gw_module_reload).
 *
 * m->gws is swapped by a reload: whoever walks it outside a SIP callback
 * (the devices provider, CLI commands) holds gw_rt_rdlock(m) meanwhile.
 */
struct gw_peer;
struct gw_trunk;

struct gw_module {
	enum gw_kind kind;
	const struct octo_sip_peer_ops *ops;
	bool (*usable)(const struct gw *gw, const struct gw_line *l);
	octo_sip_devices_fn devices;
	/* Optional: after a reload changed the gateways (m->gws is current;
	 * called without the runtime lock). */
	void (*reloaded)(struct gw_module *m);
	/* Filled by the runtime. */
	struct octo_module *self;
	const struct octo_sip_api *sip;
	struct gw **gws;             /* sorted by name */
	size_t ngws;
	pthread_rwlock_t rt_lock;    /* guards gws/ngws against a reload's swap */
	pthread_mutex_t cfg_lock;    /* one reload (or pending change) at a time */
	struct gw *retired;          /* replaced gateways, freed at unload */
	struct gw_peer *peers;       /* the SIP peers' ops data */
	struct gw_trunk *trunks;     /* FXO, BRI, PRI, GSM: registered until unload */
	bool inited;
};

void gw_rt_rdlock(struct gw_module *m);
void gw_rt_unlock(struct gw_module *m);

/* 0, or OCTO_ECONFIG / OCTO_EFAIL (logged). The module keeps `m` alive. */
int gw_module_load(struct gw_module *m, struct octo_module *self);
/* Removes the peers, trunks and devices provider, frees the gateways. */
void gw_module_unload(struct gw_module *m);
/* Reads gateways.conf again and applies it (see the top of this file):
 * 0, or OCTO_ECONFIG with every problem in diags (the running gateways
 * stay); a gateway whose peer or trunk cannot be added is reported in
 * diags too (OCTO_ECONFIG) while the rest is applied. */
int gw_module_reload(struct gw_module *m, struct octo_diags *diags);
/* `octo -t`: checks gateways.conf for this kind. */
int gw_module_check(enum gw_kind kind, const char *config_dir, struct octo_diags *diags);
/* The unload, reload and check callbacks of a gateway module, which are
 * the same for every kind: defines PREFIX_unload, PREFIX_reload and
 * PREFIX_check on the module's gw_module `mod` of kind `kind`. */
#define GW_MODULE_CALLBACKS(prefix, mod, kind)                                           \
	static int prefix##_unload(struct octo_module *self)                             \
	{                                                                                \
		gw_module_unload(&(mod));                                                \
		return 0;                                                                \
	}                                                                                \
	static int prefix##_reload(struct octo_module *self, struct octo_diags *diags)   \
	{                                                                                \
		return gw_module_reload(&(mod), diags);                                  \
	}                                                                                \
	static int prefix##_check(const char *config_dir, struct octo_diags *diags)      \
	{                                                                                \
		return gw_module_check(kind, config_dir, diags);                         \
	}
/* The gateway by name (borrowed while the module is loaded), or NULL. */
struct gw *gw_find(struct gw_module *m, const char *name);
/* Common ops callback: data is the struct gw. */
void gw_status(void *data, const char *state, const char *reason);
/* True when slot `k` is idle (and the gateway not closing). */
bool gw_slot_idle(struct gw *gw, size_t k);
/* The peer name and slot's line tag make the SIP dest of an outgoing call. */
int gw_dest(struct gw_module *m, const char *peer, const char *tag, const char *number,
	    char *dest, size_t size);

/* Fills r->caller (the extension), caller_name and procedure (the user's,
 * "users" by default) for a call made from a user's device; false when the
 * users service does not know the extension (the defaults stay). */
bool gw_user_route(const char *ext, struct octo_sip_route *r);
/* The line whose number is `number`, or whose id is written `number`; -1. */
int gw_line_by_number(const struct gw *gw, const char *number);

/* Fills r->line, r->label ("fxo1-2"), r->trunk and, when not set yet,
 * r->procedure (the gateway's) for a call on `slot`. */
void gw_route_slot(struct octo_sip_route *r, const struct gw *gw, size_t slot);

#endif
