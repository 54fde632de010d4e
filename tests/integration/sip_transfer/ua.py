#!/usr/bin/env python3
"""ua.py - SIP phones for the sip_transfer test: several users' phones in one
process on loopback, each with a SIP and an RTP socket, driven step by step
by a scenario. A phone registers (digest MD5 or SHA-256), places calls
(answering the 407), answers calls ringing it, answers re-INVITEs (hold and
resume) with the matching direction, answers BYE and NOTIFY, sends REFER,
echoes RTP (the far phone) or sends RTP and counts what comes back.

usage: ua.py HOST PORT SCENARIO USER=PASSWORD...
scenarios: hold_test, blind_by_callee, blind_by_caller, attended,
           attended_two_incoming, attended_two_outgoing, refer_errors
Prints every step; exit status 0 when the scenario went as expected.
"""
import hashlib
import os
import random
import re
import select
import socket
import struct
import sys
import time

COMPACT = {"f": "From", "t": "To", "i": "Call-ID", "v": "Via", "m": "Contact",
           "l": "Content-Length", "c": "Content-Type", "r": "Refer-To", "o": "Event"}


class Fail(Exception):
    pass


def log(text):
    print("%.3f %s" % (time.time() % 1000, text), flush=True)


def rand_hex(bits=32):
    return "%x" % random.getrandbits(bits)


class Msg:
    def __init__(self, data):
        head, _, self.body = data.partition("\r\n\r\n")
        lines = head.split("\r\n")
        self.first = lines[0]
        self.headers = []
        for line in lines[1:]:
            if line[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + line.strip())
                continue
            name, _, value = line.partition(":")
            name = name.strip()
            self.headers.append((COMPACT.get(name.lower(), name), value.strip()))
        parts = self.first.split(" ", 2)
        if parts[0] == "SIP/2.0":
            self.status, self.method = int(parts[1]), None
        else:
            self.status, self.method = 0, parts[0]
        cseq = self.get("CSeq").split()
        self.cseq = int(cseq[0]) if cseq else 0
        self.cseq_method = cseq[1] if len(cseq) > 1 else ""
        if self.status:
            self.method = self.cseq_method

    def get(self, name, default=""):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def tag(self, name):
        m = re.search(r";\s*tag=([^;>\s]+)", self.get(name))
        return m.group(1) if m else ""

    @property
    def call_id(self):
        return self.get("Call-ID")


# ---------------------------------------------------------------- G.711 samples

def alaw_to_lin(a):
    a ^= 0x55
    t = (a & 0x0f) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def ulaw_to_lin(u):
    u = ~u & 0xff
    t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def uri_of(value):
    m = re.search(r"<([^>]+)>", value)
    return m.group(1) if m else value.split(";")[0].strip()


def sdp_dir(body):
    for d in ("sendonly", "recvonly", "inactive", "sendrecv"):
        if "a=" + d in body:
            return d
    return "sendrecv"


def sdp_media(body):
    ip = re.search(r"^c=IN IP4 (\S+)", body, re.M)
    port = re.search(r"^m=audio (\d+) RTP/AVP ([\d ]+)", body, re.M)
    if not ip or not port:
        return None, 0, []
    return ip.group(1), int(port.group(1)), [int(p) for p in port.group(2).split()]


ANSWER_DIR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive",
              "sendrecv": "sendrecv"}


class Dialog:
    def __init__(self, phone, call_id, local_tag, remote_tag, local_uri, remote_uri,
                 target, local_cseq, uac):
        self.phone, self.call_id = phone, call_id
        self.local_tag, self.remote_tag = local_tag, remote_tag
        self.local_uri, self.remote_uri, self.target = local_uri, remote_uri, target
        self.local_cseq, self.uac = local_cseq, uac
        self.ended = False
        self.reinvites = []      # directions offered to us by re-INVITEs
        self.notifies = []       # sipfrag status lines of NOTIFYs
        self.remote_media = (None, 0)
        self.pt = 8
        self.invite = None       # the INVITE that made it (ours or theirs)

    def key(self):
        return "%s|%s" % (self.call_id, self.local_tag)


class Phone:
    def __init__(self, net, user, password):
        self.net, self.user, self.password = net, user, password
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind(("127.0.0.1", 0))
        self.port = self.sip.getsockname()[1]
        self.mport = self.rtp.getsockname()[1]
        self.dialogs = {}
        self.responses = []        # every response received
        self.requests = []         # every request received
        self.answered = {}         # branch -> bytes of our answer (retransmissions)
        self.ringing = []          # incoming INVITEs not answered yet
        self.auto_answer = False
        self.echo = False
        self.sent_payloads = set()
        self.rtp_back = 0
        self.cseq = 1

    # ------------------------------------------------------------ sending
    def send(self, text):
        self.sip.sendto(text.encode(), (self.net.host, self.net.port))

    def sdp(self, direction="sendrecv", pts=(8, 0)):
        names = {0: "PCMU", 8: "PCMA"}
        maps = "".join("a=rtpmap:%d %s/8000\r\n" % (p, names[p]) for p in pts)
        return ("v=0\r\no=%s 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                "m=audio %d RTP/AVP %s 101\r\n%sa=rtpmap:101 telephone-event/8000\r\n"
                "a=%s\r\n" % (self.user, self.mport, " ".join(str(p) for p in pts), maps,
                               direction))

    def request(self, method, ruri, from_, to, call_id, cseq, extra="", body="",
                ctype="application/sdp"):
        branch = "z9hG4bK" + rand_hex(48)
        msg = ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
               "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
               "Contact: <sip:%s@127.0.0.1:%d>\r\nMax-Forwards: 70\r\n%s"
               % (method, ruri, self.port, branch, from_, to, call_id, cseq, method,
                  self.user, self.port, extra))
        if body:
            msg += "Content-Type: %s\r\n" % ctype
        msg += "Content-Length: %d\r\n\r\n%s" % (len(body.encode()), body)
        self.send(msg)
        return branch

    def respond(self, req, status, reason, to_tag=None, body="", extra="",
                ctype="application/sdp"):
        to = req.get("To")
        if to_tag and ";tag=" not in to:
            to += ";tag=" + to_tag
        vias = "".join("Via: %s\r\n" % v for v in req.all("Via"))
        msg = ("SIP/2.0 %d %s\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n"
               "Contact: <sip:%s@127.0.0.1:%d>\r\n%s"
               % (status, reason, vias, req.get("From"), to, req.call_id, req.get("CSeq"),
                  self.user, self.port, extra))
        if body:
            msg += "Content-Type: %s\r\n" % ctype
        msg += "Content-Length: %d\r\n\r\n%s" % (len(body.encode()), body)
        self.send(msg)
        branch = re.search(r"branch=([^;\s]+)", req.get("Via"))
        if branch and status >= 200:
            self.answered[branch.group(1)] = msg

    def in_dialog(self, dlg, method, extra="", body="", ctype="application/sdp"):
        dlg.local_cseq += 1
        self.request(method, dlg.target, "%s;tag=%s" % (dlg.local_uri, dlg.local_tag),
                     "%s;tag=%s" % (dlg.remote_uri, dlg.remote_tag), dlg.call_id,
                     dlg.local_cseq, extra, body, ctype)
        return dlg.local_cseq

    def ack(self, dlg, cseq):
        branch = "z9hG4bK" + rand_hex(48)
        self.send("ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
                  "From: %s;tag=%s\r\nTo: %s;tag=%s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\n"
                  "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                  % (dlg.target, self.port, branch, dlg.local_uri, dlg.local_tag,
                     dlg.remote_uri, dlg.remote_tag, dlg.call_id, cseq))

    # ------------------------------------------------------------ auth
    def authorization(self, resp, method, ruri):
        header = "Proxy-Authenticate" if resp.status == 407 else "WWW-Authenticate"
        chals = resp.all(header)
        chal = None
        for c in chals:
            alg = re.search(r"algorithm=\"?([\w-]+)", c)
            if not alg or alg.group(1).upper() in ("MD5", "SHA-256"):
                chal = c
                break
        if not chal:
            raise Fail("no usable challenge in %d" % resp.status)
        alg = re.search(r"algorithm=\"?([\w-]+)", chal)
        alg = alg.group(1).upper() if alg else "MD5"
        h = (lambda t: hashlib.sha256(t.encode()).hexdigest()) if alg == "SHA-256" else \
            (lambda t: hashlib.md5(t.encode()).hexdigest())
        realm = re.search(r'realm="([^"]*)"', chal).group(1)
        nonce = re.search(r'nonce="([^"]*)"', chal).group(1)
        cnonce, nc = rand_hex(), "00000001"
        ha1 = h("%s:%s:%s" % (self.user, realm, self.password))
        ha2 = h("%s:%s" % (method, ruri))
        r = h("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
        name = "Proxy-Authorization" if resp.status == 407 else "Authorization"
        return ('%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
                'response="%s", algorithm=%s, qop=auth, nc=%s, cnonce="%s"\r\n'
                % (name, self.user, realm, nonce, ruri, r, alg, nc, cnonce))

    def final(self, call_id, cseq, timeout=10):
        def got():
            for r in self.responses:
                if r.call_id == call_id and r.cseq == cseq and r.status >= 200:
                    return r
            return None
        return self.net.wait(got, timeout, "%s: final answer to CSeq %d" % (self.user, cseq))

    # ------------------------------------------------------------ actions
    def register(self):
        call_id, tag = rand_hex(64) + "@ua", rand_hex()
        ruri = "sip:%s:%d" % (self.net.host, self.net.port)
        aor = "<sip:%s@%s>" % (self.user, self.net.host)
        extra = "Expires: 300\r\n"
        self.cseq += 1
        self.request("REGISTER", ruri, aor + ";tag=" + tag, aor, call_id, self.cseq, extra)
        r = self.final(call_id, self.cseq)
        if r.status == 401:
            self.cseq += 1
            self.request("REGISTER", ruri, aor + ";tag=" + tag, aor, call_id, self.cseq,
                         extra + self.authorization(r, "REGISTER", ruri))
            r = self.final(call_id, self.cseq)
        if r.status != 200:
            raise Fail("%s: REGISTER answered %d" % (self.user, r.status))
        log("%s registered at 127.0.0.1:%d" % (self.user, self.port))

    def call(self, number, expect=200):
        """Calls NUMBER; returns the dialog once answered (ACK sent)."""
        call_id, tag = rand_hex(64) + "@ua", rand_hex()
        ruri = "sip:%s@%s:%d" % (number, self.net.host, self.net.port)
        from_, to = "<sip:%s@%s>" % (self.user, self.net.host), "<%s>" % ruri
        sdp = self.sdp()
        self.request("INVITE", ruri, from_ + ";tag=" + tag, to, call_id, 1, body=sdp)
        r = self.final(call_id, 1)
        cseq = 1
        if r.status == 407:
            cseq = 2
            self.request("INVITE", ruri, from_ + ";tag=" + tag, to, call_id, 2,
                         self.authorization(r, "INVITE", ruri), sdp)
            r = self.final(call_id, 2, 20)
        if r.status != expect:
            raise Fail("%s calling %s: %d (expected %d)" % (self.user, number, r.status,
                                                           expect))
        if r.status != 200:
            return None
        dlg = self.dialogs["%s|%s" % (call_id, tag)]
        log("%s: call to %s answered (call-id %s)" % (self.user, number, call_id))
        return dlg

    def wait_ringing(self, timeout=10):
        inv = self.net.wait(lambda: self.ringing[0] if self.ringing else None, timeout,
                            "%s: an incoming call" % self.user)
        return inv

    def answer(self, inv):
        self.ringing.remove(inv)
        return self._answer(inv)

    def _answer(self, inv):
        tag = rand_hex()
        rip, rport, pts = sdp_media(inv.body)
        pt = 8 if 8 in pts else 0
        self.respond(inv, 180, "Ringing", tag)
        dlg = Dialog(self, inv.call_id, tag, inv.tag("From"), inv.get("To").split(";tag")[0],
                     inv.get("From").split(";tag")[0], uri_of(inv.get("Contact")), 0, False)
        dlg.remote_media, dlg.pt, dlg.invite = (rip, rport), pt, inv
        self.dialogs[dlg.key()] = dlg
        self.respond(inv, 200, "OK", tag, self.sdp(pts=(pt,)))
        log("%s: answered a call from %s" % (self.user, inv.get("From")))
        return dlg

    def hold(self, dlg, direction="sendonly"):
        cseq = self.in_dialog(dlg, "INVITE", body=self.sdp(direction, (dlg.pt,)))
        r = self.final(dlg.call_id, cseq)
        if r.status != 200:
            raise Fail("%s: re-INVITE %s answered %d" % (self.user, direction, r.status))
        return sdp_dir(r.body)

    def bye(self, dlg):
        cseq = self.in_dialog(dlg, "BYE")
        r = self.final(dlg.call_id, cseq)
        dlg.ended = True
        return r.status

    def refer(self, dlg, refer_to, extra=""):
        cseq = self.in_dialog(dlg, "REFER", "Refer-To: %s\r\n%s" % (refer_to, extra))
        return self.final(dlg.call_id, cseq), cseq

    def rtp_test(self, dlg, count=50):
        """Sends RTP to the dialog's media; returns how many came back."""
        ip, port = dlg.remote_media
        if not ip or not port:
            raise Fail("%s: no remote media" % self.user)
        self.rtp_back = 0
        ssrc = random.getrandbits(32)
        for seq in range(count):
            payload = bytes(0x10 + b % 0x60 for b in os.urandom(160))
            self.sent_payloads.add(payload)
            pkt = struct.pack("!BBHII", 0x80, dlg.pt, seq, seq * 160, ssrc) + payload
            self.rtp.sendto(pkt, (ip, port))
            self.net.pump(0.02)
        self.net.pump(1.0)
        return self.rtp_back

    # ------------------------------------------------------------ receiving
    def on_sip(self, data):
        msg = Msg(data)
        if msg.status:
            self.on_response(msg)
        else:
            self.on_request(msg)

    def on_response(self, r):
        self.responses.append(r)
        if r.method == "INVITE" and 200 <= r.status < 300:
            key = "%s|%s" % (r.call_id, r.tag("From"))
            dlg = self.dialogs.get(key)
            if not dlg:
                dlg = Dialog(self, r.call_id, r.tag("From"), r.tag("To"),
                             r.get("From").split(";tag")[0], r.get("To").split(";tag")[0],
                             uri_of(r.get("Contact")), r.cseq, True)
                self.dialogs[key] = dlg
            rip, rport, pts = sdp_media(r.body)
            if rip:
                dlg.remote_media = (rip, rport)
                dlg.pt = pts[0] if pts else 8
            self.ack(dlg, r.cseq)

    def on_request(self, req):
        self.requests.append(req)
        branch = re.search(r"branch=([^;\s]+)", req.get("Via"))
        if branch and branch.group(1) in self.answered and req.method != "ACK":
            self.send(self.answered[branch.group(1)])   # a retransmission
            return
        dlg = self.dialogs.get("%s|%s" % (req.call_id, req.tag("To")))
        if req.method == "INVITE" and not req.tag("To"):
            self.respond(req, 100, "Trying")
            if any(i.call_id == req.call_id for i in self.ringing):
                return
            if self.auto_answer:
                self._answer(req)
            else:
                self.ringing.append(req)
            return
        if req.method == "ACK":
            return
        if req.method == "OPTIONS":
            self.respond(req, 200, "OK")
            return
        if not dlg:
            self.respond(req, 481, "Call/Transaction Does Not Exist")
            return
        if req.method == "INVITE":
            d = sdp_dir(req.body)
            dlg.reinvites.append(d)
            rip, rport, pts = sdp_media(req.body)
            if rip:
                dlg.remote_media = (rip, rport)
            log("%s: re-INVITE %s" % (self.user, d))
            self.respond(req, 200, "OK", body=self.sdp(ANSWER_DIR[d], (dlg.pt,)))
        elif req.method == "BYE":
            dlg.ended = True
            log("%s: BYE" % self.user)
            self.respond(req, 200, "OK")
        elif req.method == "NOTIFY":
            frag = req.body.split("\r\n")[0]
            dlg.notifies.append((frag, req.get("Event"), req.get("Subscription-State")))
            log("%s: NOTIFY %s (%s; %s)" % (self.user, frag, req.get("Event"),
                                             req.get("Subscription-State")))
            self.respond(req, 200, "OK")
        else:
            self.respond(req, 200, "OK")

    def on_rtp(self, data, addr):
        if self.echo:
            self.rtp.sendto(data, addr)
        elif len(data) > 12 and data[12:] in self.sent_payloads:
            self.rtp_back += 1

    def sockets(self):
        """(socket, kind) pairs Net.pump() reads: "sip" goes to on_sip(),
        any other kind to on_KIND(data, addr)."""
        return [(self.sip, "sip"), (self.rtp, "rtp")]


class Net:
    phone_class = Phone    # what phone() makes; a subclass may set its own

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.phones = []

    def phone(self, user, password):
        p = self.phone_class(self, user, password)
        self.phones.append(p)
        return p

    def pump(self, timeout):
        end = time.time() + timeout
        while True:
            socks = {}
            for p in self.phones:
                for s, kind in p.sockets():
                    socks[s] = (p, kind)
            left = end - time.time()
            ready, _, _ = select.select(list(socks), [], [], max(left, 0))
            for s in ready:
                p, kind = socks[s]
                data, addr = s.recvfrom(65535)
                if kind == "sip":
                    p.on_sip(data.decode(errors="replace"))
                else:
                    getattr(p, "on_" + kind)(data, addr)
            if time.time() >= end:
                return

    def wait(self, cond, timeout, what):
        end = time.time() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.time() >= end:
                raise Fail("timed out waiting for " + what)
            self.pump(0.05)


# ---------------------------------------------------------------- scenarios

def expect(cond, what):
    if not cond:
        raise Fail(what)
    log("ok: " + what)


def check_notifies(dlg, final):
    """The transferor's NOTIFYs: 100 Trying, then `final`."""
    n = dlg.phone.net.wait(lambda: len(dlg.notifies) >= 2 and dlg.notifies, 10,
                           "two NOTIFYs on %s's dialog" % dlg.phone.user)
    expect(n[0][0] == "SIP/2.0 100 Trying", "first NOTIFY is 100 Trying (%s)" % n[0][0])
    expect(n[0][1].startswith("refer"), "Event: refer (%s)" % n[0][1])
    expect(n[1][0] == final, "second NOTIFY is %s (%s)" % (final, n[1][0]))
    expect(n[1][2].startswith("terminated"), "the subscription ends (%s)" % n[1][2])


def answered_call(a, b, number):
    """a calls number; b's phone answers. Returns (a's dialog, b's dialog)."""
    b.auto_answer = True
    da = a.call(number)
    db = a.net.wait(lambda: [d for d in b.dialogs.values() if not d.ended and not d.uac],
                    10, "%s's answered call" % b.user)[-1]
    b.auto_answer = False
    return da, db


def talk(x, dx, y, what):
    """x sends RTP, y's phone echoes: x must get most of it back."""
    y.echo = True
    n = x.rtp_test(dx)
    y.echo = False
    expect(n >= 20, "%s: RTP %s -> %d of 50 came back" % (what, x.user, n))


def scen_hold_test(net, ph):
    a = ph["100"]
    da = a.call("800")
    expect(a.hold(da, "sendonly") == "recvonly", "hold answered recvonly")
    net.pump(0.3)
    expect(a.hold(da, "sendrecv") == "sendrecv", "resume answered sendrecv")
    net.pump(0.3)
    expect(a.bye(da) == 200, "BYE answered 200")


def scen_blind_by_callee(net, ph):
    a, b, c = ph["100"], ph["101"], ph["102"]
    da, db = answered_call(a, b, "101")
    talk(a, da, b, "before the transfer")
    b.hold(db, "sendonly")
    net.wait(lambda: da.reinvites and da.reinvites[-1] == "sendonly", 5,
             "100 put on hold through the bridge")
    c.auto_answer = True
    r, _ = b.refer(db, "<sip:102@%s>" % net.host)
    expect(r.status == 202, "REFER answered 202 (%d)" % r.status)
    check_notifies(db, "SIP/2.0 200 OK")
    net.wait(lambda: db.ended, 10, "Octo's BYE to the transferor 101")
    net.wait(lambda: da.reinvites and da.reinvites[-1] == "sendrecv", 5,
             "100 taken off hold")
    dc = net.wait(lambda: [d for d in c.dialogs.values() if not d.uac], 10,
                  "102's phone rings and answers")[-1]
    expect(uri_of(dc.invite.get("From")).startswith("sip:100@"),
           "102 sees the call from 100 (%s)" % dc.invite.get("From"))
    net.pump(0.5)
    talk(a, da, c, "after the transfer")
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: dc.ended, 10, "BYE to 102")


def scen_blind_by_caller(net, ph):
    a, b, c = ph["100"], ph["101"], ph["102"]
    da, db = answered_call(a, b, "101")
    c.auto_answer = True
    r, _ = a.refer(da, "Transfer <sip:102@%s;user=phone>;x=y" % net.host)
    expect(r.status == 202, "REFER answered 202 (%d)" % r.status)
    check_notifies(da, "SIP/2.0 200 OK")
    net.wait(lambda: da.ended, 10, "Octo's BYE to the transferor 100")
    dc = net.wait(lambda: [d for d in c.dialogs.values() if not d.uac], 10,
                  "102's phone rings and answers")[-1]
    expect(uri_of(dc.invite.get("From")).startswith("sip:101@"),
           "102 sees the call from 101, the transferred user (%s)" % dc.invite.get("From"))
    net.pump(0.5)
    talk(b, db, c, "after the transfer")
    expect(c.bye(dc) == 200, "102 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")


def replaces(dlg):
    """The Replaces value of a dialog as the transferor sees it, escaped."""
    v = "%s;to-tag=%s;from-tag=%s" % (dlg.call_id, dlg.remote_tag, dlg.local_tag)
    return v.replace("%", "%25").replace("@", "%40").replace(";", "%3B").replace("=", "%3D")


def scen_attended(net, ph):
    a, b, c = ph["100"], ph["101"], ph["102"]
    da, db1 = answered_call(a, b, "101")
    b.hold(db1, "sendonly")
    net.wait(lambda: da.reinvites and da.reinvites[-1] == "sendonly", 5, "100 on hold")
    # a session refresh from the held phone does not take the hold back
    expect(a.hold(da, "sendrecv") == "sendonly", "100's re-INVITE while held: sendonly")
    db2, dc = answered_call(b, c, "102")
    talk(b, db2, c, "consultation call 101 -> 102")
    r, _ = b.refer(db1, "<sip:102@%s?Replaces=%s>" % (net.host, replaces(db2)))
    expect(r.status == 202, "REFER with Replaces answered 202 (%d)" % r.status)
    check_notifies(db1, "SIP/2.0 200 OK")
    net.wait(lambda: db1.ended and db2.ended, 10, "Octo's BYE on both calls of 101")
    net.wait(lambda: da.reinvites and da.reinvites[-1] == "sendrecv", 5,
             "100 taken off hold")
    expect(not dc.ended, "102's call goes on")
    net.pump(0.5)
    talk(a, da, c, "100 and 102 after the transfer")
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: dc.ended, 10, "BYE to 102")


def scen_attended_two_incoming(net, ph):
    """101 took a call from 100 and one from 102, and joins them."""
    a, b, c = ph["100"], ph["101"], ph["102"]
    da, db1 = answered_call(a, b, "101")
    b.hold(db1, "sendonly")
    dc, db2 = answered_call(c, b, "101")
    r, _ = b.refer(db2, "<sip:100@%s?Replaces=%s>" % (net.host, replaces(db1)))
    expect(r.status == 202, "REFER with Replaces answered 202 (%d)" % r.status)
    check_notifies(db2, "SIP/2.0 200 OK")
    net.wait(lambda: db1.ended and db2.ended, 10, "Octo's BYE on both calls of 101")
    net.wait(lambda: da.reinvites and da.reinvites[-1] == "sendrecv", 5,
             "100 taken off hold")
    net.pump(0.5)
    talk(c, dc, a, "102 and 100 after the transfer")
    expect(c.bye(dc) == 200, "102 hangs up")
    net.wait(lambda: da.ended, 10, "BYE to 100")


def scen_attended_two_outgoing(net, ph):
    """101 called 100 and 102, and joins them: no call thread of theirs."""
    a, b, c = ph["100"], ph["101"], ph["102"]
    db1, da = answered_call(b, a, "100")
    b.hold(db1, "sendonly")
    net.wait(lambda: da.reinvites and da.reinvites[-1] == "sendonly", 5, "100 on hold")
    db2, dc = answered_call(b, c, "102")
    r, _ = b.refer(db1, "<sip:102@%s?Replaces=%s>" % (net.host, replaces(db2)))
    expect(r.status == 202, "REFER with Replaces answered 202 (%d)" % r.status)
    check_notifies(db1, "SIP/2.0 200 OK")
    net.wait(lambda: db1.ended and db2.ended, 10, "Octo's BYE on both calls of 101")
    net.wait(lambda: da.reinvites and da.reinvites[-1] == "sendrecv", 5,
             "100 taken off hold")
    net.pump(0.5)
    talk(a, da, c, "100 and 102 after the transfer")
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: dc.ended, 10, "BYE to 102")


def scen_refer_errors(net, ph):
    a, b = ph["100"], ph["101"]
    da, db = answered_call(a, b, "101")
    host = net.host
    for refer_to, status in (("<sip:%s>" % host, 400),
                             ("<sip:1%%0a2@%s>" % host, 400),
                             ("<tel:+3902123>", 416),
                             ("<sip:102@%s?Replaces=nosuch%%3Bto-tag%%3Da%%3Bfrom-tag%%3Db>"
                              % host, 481),
                             ("<sip:102@%s?Replaces=nosuch>" % host, 400)):
        r, _ = b.refer(db, refer_to)
        expect(r.status == status, "Refer-To %s answered %d (%d)" % (refer_to, status,
                                                                      r.status))
    cseq = b.in_dialog(db, "REFER")
    r = b.final(db.call_id, cseq)
    expect(r.status == 400, "REFER without Refer-To answered 400 (%d)" % r.status)
    # an unknown number: accepted, then the NOTIFY says 404 and the call goes on
    r, _ = b.refer(db, "<sip:555@%s>" % host)
    expect(r.status == 202, "REFER to 555 answered 202 (%d)" % r.status)
    check_notifies(db, "SIP/2.0 404 Not Found")
    # outside a call
    call_id = rand_hex(64) + "@ua"
    b.request("REFER", "sip:%s:%d" % (host, net.port), "<sip:101@%s>;tag=x1" % host,
              "<sip:%s>" % host, call_id, 1, "Refer-To: <sip:102@%s>\r\n" % host)
    r = b.final(call_id, 1)
    expect(r.status == 403, "REFER outside a call answered 403 (%d)" % r.status)
    # a dialog whose tags do not match
    bad = Dialog(b, db.call_id, db.local_tag, "wrong", db.local_uri, db.remote_uri,
                 db.target, db.local_cseq + 10, db.uac)
    r, _ = b.refer(bad, "<sip:102@%s>" % host)
    expect(r.status == 481, "REFER with a wrong tag answered 481 (%d)" % r.status)
    expect(not da.ended and not db.ended, "the call is still up")
    talk(a, da, b, "after the refused transfers")
    expect(a.bye(da) == 200, "100 hangs up")
    net.wait(lambda: db.ended, 10, "BYE to 101")


SCENARIOS = {
    "hold_test": (scen_hold_test, ["100"]),
    "blind_by_callee": (scen_blind_by_callee, ["100", "101", "102"]),
    "blind_by_caller": (scen_blind_by_caller, ["100", "101", "102"]),
    "attended": (scen_attended, ["100", "101", "102"]),
    "attended_two_incoming": (scen_attended_two_incoming, ["100", "101", "102"]),
    "attended_two_outgoing": (scen_attended_two_outgoing, ["100", "101", "102"]),
    "refer_errors": (scen_refer_errors, ["100", "101"]),
}


def run_scenario(scenarios, net_class=Net, user_of=None, on_fail=None):
    """The main program of a phones script: HOST PORT SCENARIO USER=PASSWORD...
    from sys.argv; scenarios maps a name to (function(net, phones), [phone
    names]). A phone's user is user_of(name) (default: the name itself);
    on_fail(phones) runs after a failed scenario is logged. Returns the exit
    status: 0 done, 1 failed, 2 unknown scenario."""
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    creds = dict(a.split("=", 1) for a in sys.argv[4:])
    if name not in scenarios:
        print("unknown scenario " + name)
        return 2
    fn, users = scenarios[name]
    user_of = user_of or (lambda u: u)
    net = net_class(host, port)
    phones = {u: net.phone(user_of(u), creds[user_of(u)]) for u in users}
    try:
        for p in phones.values():
            p.register()
        fn(net, phones)
        net.pump(0.3)
    except Fail as e:
        log("FAILED: %s" % e)
        if on_fail:
            on_fail(phones)
        return 1
    log("scenario %s: done" % name)
    return 0


if __name__ == "__main__":
    sys.exit(run_scenario(SCENARIOS))
