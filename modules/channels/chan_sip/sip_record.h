/*
 * sip_record.h - in-call recording of natively relayed SIP calls (feature
 * codes *1 start/stop and *2 pause/resume, features.conf [callrec]).
 *
 * A bridged pair of SIP legs gets one recorder (sip_rec_bridge, from the
 * native bridge). Each leg's media endpoint carries a tap (sip_media_tap):
 * the media worker reports the RFC 4733 digits that ended (the events
 * still pass to the other party) and, while recording, copies each relayed
 * G.711 payload into the leg's preallocated ring -- no allocation and no
 * blocking per packet. ONE writer thread for all calls collects the codes,
 * drains the rings, mixes both parties into 8 kHz 16-bit mono and writes
 * the WAV file (DATA/recordings/<date>/<linkedid>-<caller>-<called>.wav by
 * default). The file name goes into the variable CALLREC_FILE and the CDR's
 * userfield (CDR_USERFIELD) of both channels; their step logs (call debug)
 * tell each start, pause, resume and stop. Both parties hear a 200 ms beep
 * (1 kHz) when a recording starts and when it stops: the worker puts it in
 * place of the audio relayed to them. SIP INFO digits reach the recorder
 * through sip_media_tap_digit().
 */
#ifndef CHAN_SIP_SIP_RECORD_H
#define CHAN_SIP_SIP_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct octo_channel;
struct sip_media;
struct octo_codec;

/* One leg's tap (owned by its recorder). */
struct sip_rec_leg;

/* A bridge of channels a and b started with the relay of media ma <-> mb:
 * attaches a recorder to both endpoints (the writer thread starts with the
 * first one). The recorder lives until both taps are released (relay
 * stopped or endpoint freed, or a tap not taken), then it is freed (by the
 * writer when it recorded). Not on a media worker. 0 or OCTO_E*. */
int sip_rec_bridge(struct octo_channel *a, struct sip_media *ma, struct octo_channel *b,
		   struct sip_media *mb);

/* Media worker side (no allocation, no blocking): a digit that ended on the
 * leg; a relayed audio payload of `codec` (PCMU or PCMA, else ignored);
 * the tap was detached from its endpoint and will not be used again. */
void sip_rec_digit(struct sip_rec_leg *leg, char digit);
void sip_rec_audio(struct sip_rec_leg *leg, const struct octo_codec *codec, const uint8_t *p,
		   size_t len);
void sip_rec_release(struct sip_rec_leg *leg);
/* A payload of `codec` relayed TO the leg: while a start/stop beep is due
 * for the leg's party, it is overwritten with the beep (one packet less). */
void sip_rec_beep(struct sip_rec_leg *leg, const struct octo_codec *codec, uint8_t *p, size_t len);

/* Stops the writer: recordings still open are closed (at module unload,
 * after the media workers stopped). */
void sip_rec_fini(void);

#endif
