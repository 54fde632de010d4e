#!/usr/bin/env python3
"""phones.py - two SIP phones for the callrec test (built on
sip_transfer/ua.py): 100 calls 101, both send a tone of their own (100:
440 Hz, 101: 1000 Hz) while 100 dials the in-call recording codes as
RFC 4733 events; 101 must hear the 1 kHz beeps of the start and the stop
(200 ms each) in place of 100's tone.

usage: phones.py HOST PORT SCENARIO USER=PASSWORD...
scenarios: record (*1, 2 s, *1), pause (*1, 1 s, *2, 1.5 s, *2, 0.3 s, *1),
           info (*1 in SIP INFO, 1 s, *1 again)
"""
import bisect
import math
import os
import random
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "sip_transfer"))
import ua  # noqa: E402
from ua import Fail, expect, log, answered_call, alaw_to_lin, ulaw_to_lin  # noqa: E402


def encoder(dec):
    pairs = sorted((dec(b), b) for b in range(256))
    vals = [p[0] for p in pairs]

    def enc(x):
        i = min(bisect.bisect_left(vals, x), 255)
        return pairs[i][1]
    return enc


ENC = {8: encoder(alaw_to_lin), 0: encoder(ulaw_to_lin)}


class Sender:
    """One phone's RTP stream: a tone, and RFC 4733 digits."""

    def __init__(self, phone, dlg, freq):
        self.phone, self.dlg, self.freq = phone, dlg, freq
        self.seq, self.ts, self.n = random.randrange(1000), random.getrandbits(16), 0
        self.ssrc = random.getrandbits(32)

    def send(self, pt, payload, marker=False):
        ip, port = self.dlg.remote_media
        if not ip or not port:
            raise Fail("%s: no remote media" % self.phone.user)
        pkt = struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), self.seq & 0xffff,
                          self.ts & 0xffffffff, self.ssrc) + payload
        self.seq += 1
        self.phone.rtp.sendto(pkt, (ip, port))

    def voice(self):
        enc = ENC[self.dlg.pt]
        payload = bytes(enc(int(6000 * math.sin(2 * math.pi * self.freq * (self.n + i) / 8000)))
                        for i in range(160))
        self.n += 160
        self.send(self.dlg.pt, payload)
        self.ts += 160

    def digit_packet(self, code, k, end):
        dur = 160 * (k + 1)
        self.send(101, struct.pack("!BBH", code, (0x80 if end else 0) | 10, dur), k == 0)


def run(net, senders, seconds, digits=""):
    """seconds of both tones; digits (of sender 0) at the start, 100 ms each."""
    codes = {"*": 10, "#": 11}
    pending = [codes.get(d, None) if d in codes else int(d) for d in digits]
    k = 0
    steps = int(seconds * 50)
    i = 0
    while i < steps or pending:
        if pending:
            # 5 packets per digit (the last three with the end bit), one per 20 ms
            senders[0].digit_packet(pending[0], k, k >= 2)
            k += 1
            if k == 5:
                pending.pop(0)
                k = 0
                senders[0].ts += 800
        else:
            senders[0].voice()
            i += 1
        senders[1].voice()
        net.pump(0.02)


def crossings(pt, payload):
    dec = alaw_to_lin if pt == 8 else ulaw_to_lin
    s = [dec(x) for x in payload]
    return sum(1 for i in range(1, len(s)) if (s[i - 1] < 0) != (s[i] < 0))


def scen(net, ph, pause):
    a, b = ph["100"], ph["101"]
    da, db = answered_call(a, b, "101")
    sa, sb = Sender(a, da, 440), Sender(b, db, 1000)
    beeps = []

    def b_rtp(data, addr):
        # 101 hears 100's 440 Hz (about 17 crossings a packet); the beep is 1 kHz (40)
        if len(data) == 172 and data[1] & 0x7f in (0, 8):
            if crossings(data[1] & 0x7f, data[12:]) >= 36:
                beeps.append(data)
    b.on_rtp = b_rtp
    run(net, (sa, sb), 0.5)
    expect(not beeps, "no beep before *1 (%d packets)" % len(beeps))
    run(net, (sa, sb), 2.0 if not pause else 1.0, "*1")
    if pause:
        run(net, (sa, sb), 1.5, "*2")
        run(net, (sa, sb), 0.3, "*2")
    run(net, (sa, sb), 0.5, "*1")
    run(net, (sa, sb), 0.3)
    log("101 heard %d packets of beep" % len(beeps))
    expect(16 <= len(beeps) <= 20, "101 heard the start and stop beeps (%d packets of 1 kHz, "
           "20 sent)" % len(beeps))
    expect(a.bye(da) == 200, "BYE answered 200")


def info_digits(net, sa, sb, digits):
    """100 sends digits in SIP INFO (dtmf-relay) while both keep talking."""
    a, da = sa.phone, sa.dlg
    for d in digits:
        cseq = a.in_dialog(da, "INFO", body="Signal=%s\r\nDuration=100\r\n" % d,
                           ctype="application/dtmf-relay")
        r = a.final(da.call_id, cseq)
        expect(r.status == 200, "INFO %s answered 200 (%d)" % (d, r.status))
        sa.voice()
        sb.voice()


def scen_info(net, ph):
    a, b = ph["100"], ph["101"]
    da, db = answered_call(a, b, "101")
    sa, sb = Sender(a, da, 440), Sender(b, db, 1000)
    run(net, (sa, sb), 0.5)
    info_digits(net, sa, sb, "*1")
    run(net, (sa, sb), 1.0)
    info_digits(net, sa, sb, "*1")
    run(net, (sa, sb), 0.3)
    expect(a.bye(da) == 200, "BYE answered 200")


SCENARIOS = {
    "info": (scen_info, ("100", "101")),
    "record": (lambda net, ph: scen(net, ph, False), ("100", "101")),
    "pause": (lambda net, ph: scen(net, ph, True), ("100", "101")),
}


if __name__ == "__main__":
    sys.exit(ua.run_scenario(SCENARIOS))
