#!/usr/bin/env python3
"""phones.py - SIP phones for the pickup_sip test: parking, retrieving and
picking up calls with real SIP dialogs and RTP. The phones are those of
../sip_transfer/ua.py (register, call with digest, answer, hold, REFER, BYE,
echo RTP) with what this test needs on top: a phone that rings sends 180
and takes a CANCEL (200, then 487 to the INVITE), calls that do not wait for
their answer, and RTP counted per source (the PBX's media port of each
dialog), with the packets that carry sound (not silence) apart.

usage: phones.py HOST PORT SCENARIO USER=PASSWORD...
The environment gives OCTO_RX, the command that runs one CLI command on the
PBX (the CLI command is added as its last argument).
scenarios: park_held, park_refer, pickup
Prints every step; exit status 0 when the scenario went as expected.
"""
import os
import re
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "sip_transfer"))
import ua  # noqa: E402  (the phones of the sip_transfer test)

from ua import Fail, expect, log, rand_hex  # noqa: E402

# G.711 silence: PCMA 0xD5 (or 0x55), PCMU 0xFF (or 0x7F); a packet with
# more distinct bytes than this carries sound
SOUND_BYTES = 8


class Phone(ua.Phone):
    def __init__(self, net, user, password):
        super().__init__(net, user, password)
        self.ring_tags = {}      # call-id -> our tag of a ringing INVITE
        self.cancelled = []      # call-ids of INVITEs cancelled by the PBX
        self.rtp_from = {}       # (ip, port) -> [packets, packets with sound]

    def on_request(self, req):
        if req.method == "CANCEL":
            self.on_cancel(req)
            return
        super().on_request(req)
        if req.method == "INVITE" and not req.tag("To") and not self.auto_answer and \
                req.call_id not in self.ring_tags:
            tag = rand_hex()
            self.ring_tags[req.call_id] = tag
            self.respond(req, 180, "Ringing", tag)
            log("%s: ringing (call from %s)" % (self.user, req.get("From")))

    def on_cancel(self, req):
        self.respond(req, 200, "OK")
        inv = [i for i in self.ringing if i.call_id == req.call_id]
        if not inv:
            return
        self.ringing.remove(inv[0])
        self.respond(inv[0], 487, "Request Terminated", self.ring_tags.get(req.call_id))
        self.cancelled.append(req.call_id)
        log("%s: CANCEL of the call from %s" % (self.user, inv[0].get("From")))

    def on_rtp(self, data, addr):
        super().on_rtp(data, addr)
        n = self.rtp_from.setdefault(addr, [0, 0])
        n[0] += 1
        if len(data) > 12 and len(set(data[12:])) > SOUND_BYTES:
            n[1] += 1

    def heard(self, dlg):
        """(packets, packets with sound) from the PBX's media of a dialog."""
        ip, port = dlg.remote_media
        return tuple(self.rtp_from.get((ip, port), [0, 0]))

    def call_start(self, number):
        """Sends an INVITE (with the digest answer to the 407); returns
        (call-id, tag, cseq) without waiting for the answer."""
        call_id, tag = rand_hex(64) + "@ua", rand_hex()
        ruri = "sip:%s@%s:%d" % (number, self.net.host, self.net.port)
        from_, to = "<sip:%s@%s>" % (self.user, self.net.host), "<%s>" % ruri
        sdp = self.sdp()
        self.request("INVITE", ruri, from_ + ";tag=" + tag, to, call_id, 1, body=sdp)
        r = self.final(call_id, 1)
        if r.status != 407:
            raise Fail("%s calling %s: %d (expected 407)" % (self.user, number, r.status))
        self.request("INVITE", ruri, from_ + ";tag=" + tag, to, call_id, 2,
                     self.authorization(r, "INVITE", ruri), sdp)
        return call_id, tag, 2

    def call_answered(self, started, timeout=10):
        call_id, tag, cseq = started
        r = self.final(call_id, cseq, timeout)
        if r.status != 200:
            raise Fail("%s: the call was answered %d" % (self.user, r.status))
        return self.dialogs["%s|%s" % (call_id, tag)]


def octo_rx(command):
    out = subprocess.run(shlex.split(os.environ["OCTO_RX"]) + [command],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    return out.stdout.decode(errors="replace")


def parked(net, timeout=10):
    """Waits for a parked call in `parking show`; returns (orbit, parker)."""
    def look():
        m = re.search(r"^(\d+)\s+parked\s+\S+\s+\S+\s+(\S+)", octo_rx("parking show"), re.M)
        return m and (m.group(1), m.group(2))
    return net.wait(look, timeout, "a parked call in `parking show`")


def hears(net, phone, dlg, what, packets=40, timeout=10, before=None):
    """The phone gets sound (not silence) from the PBX on a dialog (counted
    from `before`, default: now)."""
    if before is None:
        before = phone.heard(dlg)
    net.wait(lambda: phone.heard(dlg)[1] - before[1] >= packets, timeout,
             "%s: %d packets of %s" % (phone.user, packets, what))
    got = phone.heard(dlg)
    log("ok: %s hears %s (%d packets, %d with sound)" % (phone.user, what, got[0] - before[0],
                                                         got[1] - before[1]))


def new_dialog(net, phone, old, what):
    """The newest answered dialog of the phone that is not in `old`."""
    return net.wait(lambda: [d for d in phone.dialogs.values()
                             if d.key() not in old and not d.ended], 10, what)[-1]


# ---------------------------------------------------------------- scenarios

def scen_park_held(net, ph):
    """101 calls 100; 100 holds it and dials *70: 101 goes to an orbit with
    music on hold, 100 hears the orbit; 102 dials the orbit and talks with
    101, both ways."""
    a, b, c = ph["100"], ph["101"], ph["102"]
    db, da = ua.answered_call(b, a, "100")
    ua.talk(b, db, a, "101 and 100 before the park")
    a.hold(da, "sendonly")
    net.wait(lambda: db.reinvites and db.reinvites[-1] == "sendonly", 5,
             "101 put on hold through the bridge")
    dp = a.call("*70")
    net.wait(lambda: da.ended, 10, "BYE to 100's held call (its other party is parked)")
    hears(net, a, dp, "the orbit said on the *70 call", packets=30, before=(0, 0))
    orbit, parker = parked(net)
    expect(parker == "100", "parking show: the parker is 100 (%s)" % parker)
    net.wait(lambda: db.reinvites and db.reinvites[-1] == "sendrecv", 5,
             "101 taken off hold")
    hears(net, b, db, "music on hold on the orbit")
    b.echo = True
    dc = c.call(orbit)
    log("102 dialled the orbit %s" % orbit)
    net.pump(0.5)
    ua.talk(c, dc, b, "102 -> 101 (taken from the orbit)")
    b.echo = False
    c.echo = True
    n = b.rtp_test(db)
    c.echo = False
    expect(n >= 20, "101 -> 102: RTP %d of 50 came back" % n)
    expect(re.search(r"parked calls\W*0\b", octo_rx("parking show")),
           "the orbit is free again")
    expect(c.bye(dc) == 200, "102 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")
    net.wait(lambda: dp.ended, 10, "the PBX ended the *70 call after the orbit")


def scen_park_refer(net, ph):
    """100 calls 101; 101 blind-transfers 100 to *70: 100 is parked with
    music, 101 is the parker; nobody takes it, so after the park timeout
    101's phone rings again and 101 talks with 100."""
    a, b = ph["100"], ph["101"]
    da, db = ua.answered_call(a, b, "101")
    r, _ = b.refer(db, "<sip:*70@%s>" % net.host)
    expect(r.status == 202, "REFER to *70 answered 202 (%d)" % r.status)
    ua.check_notifies(db, "SIP/2.0 200 OK")
    net.wait(lambda: db.ended, 10, "BYE to the transferor 101")
    orbit, parker = parked(net)
    expect(parker == "101", "parking show: the parker is 101 (%s)" % parker)
    log("100 is parked at %s" % orbit)
    hears(net, a, da, "music on hold on the orbit")
    # the park timeout: the call comes back to 101's phone
    old = set(b.dialogs)
    b.auto_answer = True
    db2 = new_dialog(net, b, old, "101's phone rings again (return to the parker)")
    b.auto_answer = False
    expect(uri_of_from(db2).startswith("sip:100@"),
           "the returned call is from 100 (%s)" % db2.invite.get("From"))
    net.pump(0.5)
    ua.talk(a, da, b, "100 -> 101 after the return")
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: db2.ended, 10, "BYE to 101")


def uri_of_from(dlg):
    return ua.uri_of(dlg.invite.get("From")) if dlg.invite else ""


def scen_pickup(net, ph):
    """102 calls 101, whose phone rings; 100 (same call group) dials *88 and
    takes the call: 101 gets CANCEL, 100 and 102 talk. Then 102 blind-
    transfers 100 to 101: the picker's call goes on in the dialplan (on its
    own call thread) and rings 101, who answers and talks with 100."""
    a, b, c = ph["100"], ph["101"], ph["102"]
    started = c.call_start("101")
    inv = b.wait_ringing()
    net.wait(lambda: inv.call_id in b.ring_tags, 5, "101's phone sent 180")
    dp = a.call("*88")
    log("100 dialled *88")
    dc = c.call_answered(started)
    net.wait(lambda: inv.call_id in b.cancelled, 10, "CANCEL to 101's ringing phone")
    net.pump(0.5)
    ua.talk(c, dc, a, "102 -> 100 (the picker)")
    ua.talk(a, dp, c, "100 (the picker) -> 102")
    old = set(b.dialogs)
    b.auto_answer = True
    r, _ = c.refer(dc, "<sip:101@%s>" % net.host)
    expect(r.status == 202, "REFER of the picker to 101 answered 202 (%d)" % r.status)
    ua.check_notifies(dc, "SIP/2.0 200 OK")
    net.wait(lambda: dc.ended, 10, "BYE to the transferor 102")
    db = new_dialog(net, b, old, "101's phone rings for the transferred picker")
    b.auto_answer = False
    expect(uri_of_from(db).startswith("sip:100@"),
           "101 sees the call from 100 (%s)" % db.invite.get("From"))
    expect(not dp.ended, "the picker's call goes on")
    net.pump(0.5)
    ua.talk(a, dp, b, "100 (transferred picker) -> 101")
    expect(a.bye(dp) == 200, "100 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")


SCENARIOS = {
    "park_held": (scen_park_held, ["100", "101", "102"]),
    "park_refer": (scen_park_refer, ["100", "101"]),
    "pickup": (scen_pickup, ["100", "101", "102"]),
}


class Net(ua.Net):
    phone_class = Phone


def dump(phones):
    for p in phones.values():
        log("%s: RTP by source %s; dialogs %s" % (
            p.user, p.rtp_from, [(d.key(), d.remote_media, d.ended)
                                 for d in p.dialogs.values()]))


if __name__ == "__main__":
    sys.exit(ua.run_scenario(SCENARIOS, Net, on_fail=dump))
