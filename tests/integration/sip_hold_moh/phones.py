#!/usr/bin/env python3
"""phones.py - SIP phones for the sip_hold_moh, sip_rtcp and sip_replaces
tests, built on sip_transfer/ua.py: each phone also binds an RTCP socket
(its RTP port + 1), keeps what RTP and RTCP it receives, and can send an
INVITE with a Replaces header. The octo CLI is reached through OCTO_BIN,
OCTO_CONF and OCTO_SOCK from the environment.

usage: phones.py HOST PORT SCENARIO USER=PASSWORD...
scenarios: moh, moh_class, moh_user, no_moh, rtcp_relay, rtcp_echo, rtcp_attr, replaces,
           replaces_errors
Prints every step; exit status 0 when the scenario went as expected.
"""
import math
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "sip_transfer"))
import ua  # noqa: E402
from ua import (Fail, expect, log, rand_hex, answered_call, talk,  # noqa: E402
                alaw_to_lin, ulaw_to_lin)


# ---------------------------------------------------------------- G.711

def decode(pt, payload):
    f = alaw_to_lin if pt == 8 else ulaw_to_lin
    return [f(b) for b in payload]


def zero_crossings(samples):
    n = 0
    for i in range(1, len(samples)):
        if (samples[i - 1] < 0) != (samples[i] < 0):
            n += 1
    return n


def rms(samples):
    return math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))


# ---------------------------------------------------------------- phones

def rx(cmd):
    out = subprocess.run([os.environ["OCTO_BIN"], "-C", os.environ["OCTO_CONF"], "-s",
                          os.environ["OCTO_SOCK"], "-rx", cmd], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=20)
    return out.stdout + out.stderr


def bind_pair():
    """An RTP socket on an even port and the RTCP socket on the next one."""
    for _ in range(200):
        port = random.randrange(30000, 60000, 2)
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            a.bind(("127.0.0.1", port))
            b.bind(("127.0.0.1", port + 1))
            return a, b
        except OSError:
            a.close()
            b.close()
    raise Fail("no free port pair")


class Phone(ua.Phone):
    def __init__(self, net, user, password):
        super().__init__(net, user, password)
        self.rtp.close()
        self.rtp, self.rtcp = bind_pair()
        self.mport = self.rtp.getsockname()[1]
        self.got_rtp = []    # (time, pt, ssrc, payload, source)
        self.got_rtcp = []   # (time, bytes, source)
        self.cancelled = []  # Call-IDs of INVITEs cancelled while ringing

    def on_rtp(self, data, addr):
        if len(data) >= 12:
            self.got_rtp.append((time.time(), data[1] & 0x7f,
                                 struct.unpack("!I", data[8:12])[0], data[12:], addr))
        super().on_rtp(data, addr)

    def on_rtcp(self, data, addr):
        self.got_rtcp.append((time.time(), data, addr))

    def send_rtp(self, dlg, payload, count):
        ip, port = dlg.remote_media
        ssrc = random.getrandbits(32)
        for seq in range(count):
            self.rtp.sendto(struct.pack("!BBHII", 0x80, dlg.pt, seq, seq * 160, ssrc) + payload,
                            (ip, port))
            self.net.pump(0.02)

    def on_request(self, req):
        if req.method == "CANCEL":
            # the INVITE it cancels: 487, and it no longer rings
            self.respond(req, 200, "OK")
            for inv in [i for i in self.ringing if i.call_id == req.call_id]:
                self.ringing.remove(inv)
                self.respond(inv, 487, "Request Terminated", rand_hex())
                self.cancelled.append(inv.call_id)
            return
        super().on_request(req)

    def invite(self, number, extra=""):
        """Sends an INVITE (answering the 407); returns (call-id, tag, cseq)
        without waiting for the final answer."""
        call_id, tag = rand_hex(64) + "@ua", rand_hex()
        ruri = "sip:%s@%s:%d" % (number, self.net.host, self.net.port)
        from_, to = "<sip:%s@%s>;tag=%s" % (self.user, self.net.host, tag), "<%s>" % ruri
        sdp = self.sdp()
        self.request("INVITE", ruri, from_, to, call_id, 1, extra, sdp)
        r = self.final(call_id, 1)
        if r.status != 407:
            return call_id, tag, 1
        self.request("INVITE", ruri, from_, to, call_id, 2,
                     extra + self.authorization(r, "INVITE", ruri), sdp)
        return call_id, tag, 2

    def dialog_of(self, call_id, tag, cseq, expect, timeout=10):
        r = self.final(call_id, cseq, timeout)
        if r.status != expect:
            raise Fail("%s: INVITE answered %d (expected %d)" % (self.user, r.status, expect))
        return self.dialogs.get("%s|%s" % (call_id, tag)) if r.status == 200 else None

    def send_rtcp(self, dlg, data):
        ip, port = dlg.remote_media
        # from the port it receives RTCP on (a phone's RTCP is symmetric)
        (self.rtcp_elsewhere or self.rtcp).sendto(data, (ip, port + 1))


    def sockets(self):
        extra = [(self.rtcp_elsewhere, "rtcp_elsewhere")] if self.rtcp_elsewhere else []
        return super().sockets() + [(self.rtcp, "rtcp")] + extra

    # RFC 3605: RTCP on a port that is not RTP + 1, said by a=rtcp in the SDP
    rtcp_elsewhere = None

    def want_rtcp_elsewhere(self):
        self.rtcp_elsewhere = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp_elsewhere.bind(("127.0.0.1", 0))
        self.got_rtcp_elsewhere = []

    def on_rtcp_elsewhere(self, data, addr):
        self.got_rtcp_elsewhere.append((time.time(), data, addr))

    def sdp(self, direction="sendrecv", pts=(8, 0)):
        body = super().sdp(direction, pts)
        if self.rtcp_elsewhere:
            body += "a=rtcp:%d IN IP4 127.0.0.1\r\n" % self.rtcp_elsewhere.getsockname()[1]
        return body


class Net(ua.Net):
    phone_class = Phone


# ---------------------------------------------------------------- music on hold

PATTERN = bytes([0x42]) * 160  # what the holding phone sends meanwhile


def listen(net, phone, seconds):
    phone.got_rtp = []
    net.pump(seconds)
    return list(phone.got_rtp)


def check_tone(pkts, crossings, what):
    """pkts: RTP the held phone got; the music is a tone with `crossings`
    zero crossings per 20 ms frame."""
    expect(len(pkts) >= 30, "%s: the held phone gets RTP (%d packets in 1.5 s)"
           % (what, len(pkts)))
    expect(not [p for p in pkts if p[3] == PATTERN],
           "%s: nothing of the holding phone's RTP reaches it" % what)
    expect(len(set(p[2] for p in pkts)) == 1, "%s: one SSRC" % what)
    zc = sorted(zero_crossings(decode(p[1], p[3])) for p in pkts if len(p[3]) == 160)
    level = sorted(rms(decode(p[1], p[3])) for p in pkts)
    med, lev = zc[len(zc) // 2], level[len(level) // 2]
    expect(abs(med - crossings) <= 3, "%s: the music is the class's tone (%d zero crossings a "
           "frame, expected %d)" % (what, med, crossings))
    expect(lev > 1000, "%s: not silence (level %d)" % (what, lev))


def hold_and_listen(net, a, da, b, db):
    b.hold(db, "sendonly")
    net.wait(lambda: da.reinvites and da.reinvites[-1] == "sendonly", 5,
             "100 gets the hold (re-INVITE sendonly)")
    a.got_rtp = []
    b.send_rtp(db, PATTERN, 40)   # the holding phone keeps sending: not passed on
    net.pump(0.7)
    return list(a.got_rtp)


def resume_and_talk(net, a, da, b, db):
    b.hold(db, "sendrecv")
    net.wait(lambda: da.reinvites and da.reinvites[-1] == "sendrecv", 5,
             "100 gets the resume (re-INVITE sendrecv)")
    net.pump(0.3)
    left = listen(net, a, 0.6)
    expect(not left, "no music after the resume (%d packets)" % len(left))
    talk(a, da, b, "100 -> 101 after the resume")
    talk(b, db, a, "101 -> 100 after the resume")


def caller_holds(net, a, da, b, db, crossings, what):
    """100 (a) holds, 101 (b) hears the tone with `crossings`, 100 resumes."""
    a.hold(da, "sendonly")
    net.wait(lambda: db.reinvites and db.reinvites[-1] == "sendonly", 5, "101 gets the hold")
    got = listen(net, b, 1.0)
    check_tone(got, crossings, what)
    a.hold(da, "sendrecv")
    net.wait(lambda: db.reinvites and db.reinvites[-1] == "sendrecv", 5, "101 resumed")


def scen_moh(net, ph):
    a, b = ph["100"], ph["101"]
    da, db = answered_call(a, b, "101")
    talk(a, da, b, "before the hold")
    pkts = hold_and_listen(net, a, da, b, db)
    check_tone(pkts, 40, "class default (1000 Hz)")
    out = rx("sip show channel %s" % da.call_id)
    expect(re.search(r"music on hold\s*:?\s*playing", out), "sip show channel: music playing")
    out = rx("sip show settings")
    expect(re.search(r"held phones hearing music\s*:?\s*1 \(1 class\)", out),
           "sip show settings: 1 held phone, 1 class")
    resume_and_talk(net, a, da, b, db)
    out = rx("sip show channel %s" % da.call_id)
    expect(re.search(r"music on hold\s*:?\s*no", out), "sip show channel: no music")
    # the caller holds: the callee hears it
    caller_holds(net, a, da, b, db, 40, "the callee held")
    # hanging up while held: the music stops with the call
    b.hold(db, "sendonly")
    net.wait(lambda: da.reinvites and da.reinvites[-1] == "sendonly", 5, "100 held again")
    net.pump(0.3)
    expect(b.bye(db) == 200, "101 hangs up while 100 is held")
    net.wait(lambda: da.ended, 10, "BYE to 100")
    net.pump(0.3)
    left = listen(net, a, 0.5)
    expect(not left, "no music after the hang-up (%d packets)" % len(left))
    out = rx("sip show settings")
    expect(re.search(r"held phones hearing music\s*:?\s*0", out),
           "sip show settings: no held phone left")


def scen_moh_class(net, ph):
    a, b = ph["100"], ph["101"]
    da, db = answered_call(a, b, "201")   # the dialplan sets MOHCLASS=alt
    pkts = hold_and_listen(net, a, da, b, db)
    check_tone(pkts, 16, "class alt from MOHCLASS (400 Hz)")
    resume_and_talk(net, a, da, b, db)
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")


def scen_moh_user(net, ph):
    # users.conf gives 101 moh_class = alt; 100 has none
    a, b = ph["100"], ph["101"]
    da, db = answered_call(a, b, "101")
    pkts = hold_and_listen(net, a, da, b, db)
    check_tone(pkts, 16, "101 holds: its class alt (400 Hz)")
    resume_and_talk(net, a, da, b, db)
    caller_holds(net, a, da, b, db, 40, "100 holds: the default class (1000 Hz)")
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")


def scen_no_moh(net, ph):
    a, b = ph["100"], ph["101"]
    da, db = answered_call(a, b, "101")
    pkts = hold_and_listen(net, a, da, b, db)
    # what 101 sends is relayed as before; nothing else comes
    other = [p for p in pkts if p[3] != PATTERN]
    expect(not other, "moh_on_hold = no: no music (%d other packets)" % len(other))
    resume_and_talk(net, a, da, b, db)
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")


# ---------------------------------------------------------------- RTCP

def rtcp_rr(ssrc, fraction, lost, jitter):
    """An RR with one report block (RFC 3550 6.4.2)."""
    block = struct.pack("!IB", 0x1234, fraction) + struct.pack("!I", lost & 0xffffff)[1:] + \
        struct.pack("!IIII", 1000, jitter, 0, 0)
    return struct.pack("!BBHI", 0x81, 201, 7, ssrc) + block


def rtcp_sr(ssrc):
    """An SR without report blocks, then an SDES (a compound packet)."""
    sr = struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, 1, 2, 3, 4, 5)
    cname = b"\x01\x05phone\x00"  # CNAME "phone", then the end item: 8 bytes
    sdes = struct.pack("!BBHI", 0x81, 202, 1 + len(cname) // 4, ssrc) + cname
    return sr + sdes


def scen_rtcp_relay(net, ph):
    a, b = ph["100"], ph["101"]
    da, db = answered_call(a, b, "101")
    talk(a, da, b, "RTP first")       # both sides' addresses are learned
    talk(b, db, a, "RTP back")
    rr = rtcp_rr(0xa1a1a1a1, 64, 7, 80)
    for _ in range(3):
        a.send_rtcp(da, rr)
        net.pump(0.05)
    a.send_rtcp(da, b"\x40" + rr[1:])    # version 1: not RTCP, dropped
    a.send_rtcp(da, rr[:20])             # length beyond the datagram: dropped
    net.pump(0.5)
    got = [p for p in b.got_rtcp if p[1] == rr]
    expect(len(got) == 3, "101 gets 100's three RRs relayed (%d)" % len(got))
    expect(len(b.got_rtcp) == 3, "and nothing else (%d)" % len(b.got_rtcp))
    expect(got[0][2][1] == db.remote_media[1] + 1,
           "from Octo's RTCP port of 101's leg (%d)" % got[0][2][1])
    sr = rtcp_sr(0xb2b2b2b2)
    b.send_rtcp(db, sr)
    net.pump(0.5)
    back = [p for p in a.got_rtcp if p[1] == sr]
    expect(len(back) == 1, "100 gets 101's SR+SDES relayed (%d)" % len(back))
    out = rx("sip show channel %s" % da.call_id)
    log(out)
    expect(re.search(r"rtcp packets\s*:?\s*3 received, 1 sent, 2 dropped", out),
           "sip show channel: RTCP counts of 100's leg")
    expect("25.0% lost (7 packets), jitter 10.0 ms" in out,
           "sip show channel: what 100's phone reports")
    out = rx("sip show channel %s" % db.call_id)
    expect(re.search(r"rtcp packets\s*:?\s*1 received, 3 sent, 0 dropped", out),
           "sip show channel: RTCP counts of 101's leg")
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")


def scen_rtcp_attr(net, ph):
    """Both phones say where their RTCP goes (a=rtcp, RFC 3605): Octo sends
    it there, not to RTP + 1."""
    a, b = ph["100"], ph["101"]
    a.want_rtcp_elsewhere()
    b.want_rtcp_elsewhere()
    da, db = answered_call(a, b, "101")
    talk(a, da, b, "RTP first")
    talk(b, db, a, "RTP back")
    rr = rtcp_rr(0xa1a1a1a1, 64, 7, 80)
    a.send_rtcp(da, rr)
    sr = rtcp_sr(0xb2b2b2b2)
    b.send_rtcp(db, sr)
    net.pump(0.5)
    got_b = [p for p in b.got_rtcp_elsewhere if p[1] == rr]
    got_a = [p for p in a.got_rtcp_elsewhere if p[1] == sr]
    expect(len(got_b) == 1, "101 gets 100's RR at its a=rtcp port (%d)" % len(got_b))
    expect(len(got_a) == 1, "100 gets 101's SR at its a=rtcp port (%d)" % len(got_a))
    expect(not a.got_rtcp and not b.got_rtcp,
           "nothing at RTP + 1 (%d, %d)" % (len(a.got_rtcp), len(b.got_rtcp)))
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")


def scen_rtcp_echo(net, ph):
    """Terminated media (Echo, libortp) sends reports of its own."""
    a = ph["100"]
    da = a.call("*43")
    payload = bytes(0x10 + i % 0x60 for i in range(160))
    end = time.time() + 15
    while time.time() < end and not a.got_rtcp:
        a.send_rtp(da, payload, 25)
    expect(a.got_rtcp, "the echo test's leg sends RTCP (%d packets)" % len(a.got_rtcp))
    pkt = a.got_rtcp[0][1]
    expect(len(pkt) >= 8 and pkt[0] >> 6 == 2 and pkt[1] in (200, 201),
           "it is an SR or RR (type %d)" % (pkt[1] if len(pkt) > 1 else -1))
    expect(a.got_rtcp[0][2][1] == da.remote_media[1] + 1, "from Octo's RTCP port")
    expect(a.bye(da) == 200, "100 hangs up")


# ---------------------------------------------------------------- INVITE with Replaces

def replaces(call_id, to_tag, from_tag, extra=""):
    return "Replaces: %s;to-tag=%s;from-tag=%s%s\r\n" % (call_id, to_tag, from_tag, extra)


def scen_replaces(net, ph):
    """100 moves its answered call with 101 to its second phone."""
    a, a2, b = ph["100"], ph["100b"], ph["101"]
    da, db = answered_call(a, b, "101")
    talk(a, da, b, "before the move")
    # the phone writes the dialog as Octo sees it: to-tag Octo's, from-tag its own
    cid, tag, cseq = a2.invite("101", replaces(da.call_id, da.remote_tag, da.local_tag))
    d2 = a2.dialog_of(cid, tag, cseq, 200)
    log("%s: the second phone has the call (call-id %s)" % (a2.user, cid))
    net.wait(lambda: da.ended, 10, "BYE to the replaced phone")
    expect(not db.ended, "101's call goes on")
    expect(not db.reinvites, "101 was not re-INVITEd (%s)" % db.reinvites)
    net.pump(0.3)
    talk(a2, d2, b, "100's second phone -> 101")
    talk(b, db, a2, "101 -> 100's second phone")
    out = rx("sip show channel %s" % cid)
    expect(re.search(r"channel\s*:?\s*SIP/100-", out), "the new dialog has the old channel")
    # the second phone holds; the first one pulls the call back, not held:
    # 101 is resumed
    a2.hold(d2, "sendonly")
    net.wait(lambda: db.reinvites and db.reinvites[-1] == "sendonly", 5, "101 held")
    cid, tag, cseq = a.invite("101", replaces(d2.call_id, d2.remote_tag, d2.local_tag))
    d3 = a.dialog_of(cid, tag, cseq, 200)
    net.wait(lambda: d2.ended, 10, "BYE to the second phone")
    net.wait(lambda: db.reinvites[-1] == "sendrecv", 5, "101 resumed after the move")
    net.pump(0.3)
    talk(a, d3, b, "100's first phone again -> 101")
    expect(a.bye(d3) == 200, "100 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")


def scen_pickup(net, ph):
    """102 picks up the call ringing 101 with a Replaces naming Octo's INVITE."""
    a, b, c = ph["100"], ph["101"], ph["102"]
    cid, tag, cseq = a.invite("101")
    inv = b.wait_ringing()
    octo_tag = inv.tag("From")
    ccid, ctag, ccseq = c.invite("101", replaces(inv.call_id, octo_tag, "early"))
    dc = c.dialog_of(ccid, ctag, ccseq, 200)
    da = a.dialog_of(cid, tag, cseq, 200)
    net.wait(lambda: inv.call_id in b.cancelled, 10, "the INVITE to 101 is cancelled")
    net.pump(0.3)
    talk(a, da, c, "100 -> 102 after the pickup")
    talk(c, dc, a, "102 -> 100 after the pickup")
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: dc.ended, 10, "BYE to 102")


def scen_replaces_errors(net, ph):
    a, a2, b, c = ph["100"], ph["100b"], ph["101"], ph["102"]
    da, db = answered_call(a, b, "101")
    mine = (da.call_id, da.remote_tag, da.local_tag)
    for who, hdr, status, what in (
            (c, replaces(*mine), 403, "another user's call"),
            (a2, replaces(*mine, extra=";early-only"), 486, "early-only on an answered call"),
            (a2, replaces("nosuch@x", mine[1], mine[2]), 481, "an unknown Call-ID"),
            (a2, replaces(mine[0], "wrong", mine[2]), 481, "a wrong tag"),
            (a2, "Replaces: %s;to-tag=%s\r\n" % mine[:2], 400, "no from-tag"),
            (a2, replaces(*mine) * 2, 400, "two Replaces headers")):
        cid, tag, cseq = who.invite("101", hdr)
        who.dialog_of(cid, tag, cseq, status)
        log("ok: %s answered %d" % (what, status))
    # an INVITE Octo has not answered yet cannot be replaced
    c.auto_answer = False
    bcid, btag, bcseq = b.invite("102")
    inv = c.wait_ringing()
    c.respond(inv, 180, "Ringing", rand_hex())  # so that 101 hears it ring
    ringing = net.wait(lambda: [r for r in b.responses if r.call_id == bcid and r.status == 180],
                       10, "101's call rings")[0]
    cid, tag, cseq = a2.invite("102", replaces(bcid, ringing.tag("To"), btag))
    a2.dialog_of(cid, tag, cseq, 481)
    log("ok: an early dialog Octo did not start: 481")
    c.answer(inv)
    db2 = b.dialog_of(bcid, btag, bcseq, 200)
    expect(b.bye(db2) == 200, "101 hangs up its second call")
    expect(not da.ended and not db.ended, "the first call is still up")
    talk(a, da, b, "after the refused INVITEs")
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")
    # RFC 3891 3: a dialog that has ended is declined, not unknown
    cid, tag, cseq = a2.invite("101", replaces(*mine))
    a2.dialog_of(cid, tag, cseq, 603)
    log("ok: a call that has ended: 603")


SCENARIOS = {
    "moh": (scen_moh, ["100", "101"]),
    "moh_class": (scen_moh_class, ["100", "101"]),
    "moh_user": (scen_moh_user, ["100", "101"]),
    "no_moh": (scen_no_moh, ["100", "101"]),
    "rtcp_relay": (scen_rtcp_relay, ["100", "101"]),
    "rtcp_echo": (scen_rtcp_echo, ["100"]),
    "rtcp_attr": (scen_rtcp_attr, ["100", "101"]),
    "replaces": (scen_replaces, ["100", "100b", "101"]),
    "pickup": (scen_pickup, ["100", "101", "102"]),
    "replaces_errors": (scen_replaces_errors, ["100", "100b", "101", "102"]),
}


if __name__ == "__main__":
    # "100b": a second phone of user 100
    sys.exit(ua.run_scenario(SCENARIOS, Net, user_of=lambda u: u.rstrip("b")))
