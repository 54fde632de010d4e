#!/usr/bin/env python3
"""simgw.py - simulated media gateways and DECT base stations for the
gateways integration test: real SIP user agents over UDP on loopback
(python3 standard library only).

Each --peer NAME=IP:PORT[,USER,SECRET][,MODE] is one device (an FXS, FXO,
BRI, PRI or GSM gateway, or a DECT base) with a UDP socket of its own, on an
address of its own (127.0.0.x) or sharing one with another device (chan_sip
tells static peers apart by address and port). With USER and SECRET it
REGISTERs to Octo (digest, MD5) at start. MODE says how it
answers INVITEs from Octo: auto (180 then 200, the default), ring (180
only, until CANCEL) or busy (486).

Everything that happens is appended to the --log file, one event a line:
  REGISTERED NAME CODE           the answer to its REGISTER
  INVITE NAME RURI_USER FROM_USER CALLID    an INVITE from Octo
  CANCEL NAME CALLID / BYE NAME CALLID      Octo cancelled / hung up
  ANSWERED CALLID / FINAL CALLID CODE       an outgoing call's outcome
  REINVITE CALLID NAME CODE      a re-INVITE sent from NAME was answered
  MESSAGE NAME FROM TO BODY      a MESSAGE from Octo (an SMS out)
  RESP NAME METHOD CODE          the answer to a MESSAGE/NOTIFY/INFO we sent

Commands arrive as UDP datagrams on --ctl (127.0.0.1) and are answered
with "OK ..." or "ERR ...":
  call NAME FROM TO              INVITE from device NAME; answers OK CALLID
  bye CALLID                     hang up a call (either direction)
  reinvite CALLID NAME           re-INVITE of the call's dialog from device
                                 NAME (a DECT handover to another base)
  message NAME FROM TO TEXT      MESSAGE (an SMS in)
  notify NAME EVENT BODY         NOTIFY with a text/plain body ("\\n" for new lines)
  info NAME BODY                 out-of-dialog INFO
  quit

`simgw.py ctl PORT COMMAND...` sends one command and prints the answer.
"""
import hashlib
import os
import random
import select
import socket
import sys
import time

SDP = ("v=0\r\no=sim 1 1 IN IP4 {ip}\r\ns=sim\r\nc=IN IP4 {ip}\r\n"
       "t=0 0\r\nm=audio {port} RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"
       "a=rtpmap:8 PCMA/8000\r\na=sendrecv\r\n")


def rnd(n=10):
    return "".join(random.choice("abcdef0123456789") for _ in range(n))


def parse(data):
    """A SIP message: (first line, headers as a list of (name, value), body)."""
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    hdrs = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs.append((k.strip(), v.strip()))
    return lines[0], hdrs, body


COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
           "l": "content-length", "c": "content-type", "e": "content-encoding"}


def hget(hdrs, name, all_=False):
    name = name.lower()
    vals = [v for k, v in hdrs if COMPACT.get(k.lower(), k.lower()) == name]
    if all_:
        return vals
    return vals[0] if vals else ""


def uri_user(value):
    if "sip:" not in value:
        return ""
    rest = value.split("sip:", 1)[1]
    return rest.split("@", 1)[0] if "@" in rest.split(">", 1)[0] else ""


def tag_of(value):
    for part in value.split(";")[1:]:
        if part.strip().startswith("tag="):
            return part.strip()[4:]
    return ""


def digest(user, secret, method, uri, chal):
    params = {}
    for item in chal.split(" ", 1)[1].split(","):
        if "=" in item:
            k, v = item.strip().split("=", 1)
            params[k.strip()] = v.strip().strip('"')
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1 = hashlib.md5(f"{user}:{realm}:{secret}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    auth = f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}"'
    if "auth" in params.get("qop", "").split(","):
        cnonce = rnd(8)
        resp = hashlib.md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}".encode()).hexdigest()
        auth += f', qop=auth, nc=00000001, cnonce="{cnonce}"'
    else:
        resp = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    auth += f', response="{resp}", algorithm=MD5'
    if "opaque" in params:
        auth += f', opaque="{params["opaque"]}"'
    return auth


class Peer:
    def __init__(self, sim, name, ip, port, user, secret, mode):
        self.sim, self.name, self.ip, self.port = sim, name, ip, port
        self.user, self.secret, self.mode = user, secret, mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))

    def contact(self, user=None):
        return f"<sip:{user or self.user or self.name}@{self.ip}:{self.port}>"

    def send(self, text):
        self.sock.sendto(text.encode(), self.sim.octo)


class Dialog:
    """One call: its Call-ID, our side (the peer that has it now) and theirs."""

    def __init__(self, cid, peer, local_uri, ltag, remote_uri, rtag, outgoing):
        self.cid, self.peer = cid, peer
        self.local_uri, self.ltag = local_uri, ltag
        self.remote_uri, self.rtag = remote_uri, rtag
        self.outgoing = outgoing
        self.cseq = 1
        self.invite_hdrs = None     # an incoming INVITE still ringing
        self.pending = {}           # CSeq -> (method, request text) of our requests
        self.done = False


class Sim:
    def __init__(self, octo, log):
        self.octo = octo
        self.logf = open(log, "a", buffering=1)
        self.peers = {}
        self.dialogs = {}
        self.txns = {}              # branch/call-id of our requests -> context

    def log(self, *words):
        self.logf.write(" ".join(str(w) for w in words) + "\n")

    # ------------------------------------------------------------ requests
    def request(self, peer, method, ruri, from_uri, ftag, to_uri, ttag, cid, cseq, extra="",
                body="", ctype="", ctx=None):
        branch = "z9hG4bK" + rnd()
        to = f"<{to_uri}>" + (f";tag={ttag}" if ttag else "")
        msg = (f"{method} {ruri} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {peer.ip}:{peer.port};branch={branch};rport\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <{from_uri}>;tag={ftag}\r\nTo: {to}\r\nCall-ID: {cid}\r\n"
               f"CSeq: {cseq} {method}\r\nContact: {peer.contact()}\r\n"
               f"User-Agent: octo-simgw\r\n{extra}")
        if body:
            msg += f"Content-Type: {ctype}\r\n"
        msg += f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
        self.txns[(cid, cseq, method)] = dict(ctx or {}, peer=peer, method=method, ruri=ruri,
                                              from_uri=from_uri, ftag=ftag, to_uri=to_uri,
                                              ttag=ttag, cid=cid, cseq=cseq, extra=extra,
                                              body=body, ctype=ctype, branch=branch)
        peer.send(msg)

    def octo_uri(self, user=""):
        host = f"{self.octo[0]}:{self.octo[1]}"
        return f"sip:{user}@{host}" if user else f"sip:{host}"

    def register(self, peer):
        cid = rnd(16)
        aor = f"sip:{peer.user}@{self.octo[0]}"
        self.request(peer, "REGISTER", self.octo_uri(), aor, rnd(), aor, "", cid, 1,
                     extra="Expires: 300\r\n")

    def call(self, peer, frm, to):
        cid = rnd(16)
        ltag = rnd()
        d = Dialog(cid, peer, f"sip:{frm}@{peer.ip}", ltag, self.octo_uri(to), "", True)
        self.dialogs[cid] = d
        self.request(peer, "INVITE", self.octo_uri(to), d.local_uri, ltag, d.remote_uri, "",
                     cid, d.cseq, body=SDP.format(ip=peer.ip, port=peer.port + 1000),
                     ctype="application/sdp", ctx={"dialog": d})
        return cid

    def in_dialog(self, d, method, peer=None, body="", ctype=""):
        d.cseq += 1
        p = peer or d.peer
        self.request(p, method, self.octo_uri(), d.local_uri, d.ltag, d.remote_uri, d.rtag,
                     d.cid, d.cseq, body=body, ctype=ctype, ctx={"dialog": d})

    def ack(self, t, to_hdr, ok):
        """ACK for a final answer to an INVITE (2xx: new transaction)."""
        p = t["peer"]
        branch = t["branch"] if not ok else "z9hG4bK" + rnd()
        msg = (f"ACK {t['ruri']} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {p.ip}:{p.port};branch={branch};rport\r\n"
               f"Max-Forwards: 70\r\nFrom: <{t['from_uri']}>;tag={t['ftag']}\r\n"
               f"To: {to_hdr}\r\nCall-ID: {t['cid']}\r\nCSeq: {t['cseq']} ACK\r\n"
               f"Content-Length: 0\r\n\r\n")
        p.send(msg)

    # ------------------------------------------------------------ responses in
    def on_response(self, peer, first, hdrs, body):
        code = int(first.split()[1])
        cseq = hget(hdrs, "cseq").split()
        cid = hget(hdrs, "call-id")
        if len(cseq) != 2:
            return
        key = (cid, int(cseq[0]), cseq[1])
        t = self.txns.get(key)
        if not t:
            if cseq[1] == "INVITE" and code >= 200:    # a retransmitted final answer
                old = [v for k, v in self.txns.items() if k[0] == cid and k[2] == "INVITE"]
                if old:
                    self.ack(old[-1], hget(hdrs, "to"), code < 300)
            return
        method = t["method"]
        if code < 200:
            return
        del self.txns[key]
        if code in (401, 407) and not t.get("authed") and t["peer"].secret:
            if method == "INVITE":
                self.ack(t, hget(hdrs, "to"), False)
            chal = hget(hdrs, "www-authenticate" if code == 401 else "proxy-authenticate")
            hdr = "Authorization" if code == 401 else "Proxy-Authorization"
            user = t["peer"].user
            cred = digest(user, t["peer"].secret, method, t["ruri"], chal)
            extra = t["extra"] + f"{hdr}: {cred}\r\n"
            ctx = {k: v for k, v in t.items() if k == "dialog"}
            ctx["authed"] = True
            d = ctx.get("dialog")
            cs = t["cseq"] + 1
            if d:
                d.cseq = cs
            self.request(t["peer"], method, t["ruri"], t["from_uri"], t["ftag"], t["to_uri"],
                         t["ttag"], cid, cs, extra=extra, body=t["body"], ctype=t["ctype"],
                         ctx=ctx)
            return
        d = t.get("dialog")
        if method == "REGISTER":
            self.log("REGISTERED", t["peer"].name, code)
        elif method == "INVITE" and d and not d.rtag and d.outgoing and not d.done:
            self.ack(t, hget(hdrs, "to"), code < 300)
            if code < 300:
                d.rtag = tag_of(hget(hdrs, "to"))
                self.log("ANSWERED", cid)
            else:
                d.done = True
                self.log("FINAL", cid, code)
        elif method == "INVITE" and d:         # a re-INVITE
            self.ack(t, hget(hdrs, "to"), code < 300)
            self.log("REINVITE", cid, t["peer"].name, code)
        elif method == "BYE":
            self.log("BYE-OK", cid, code)
        else:
            self.log("RESP", t["peer"].name, method, code)

    # ------------------------------------------------------------ requests in
    def respond(self, peer, hdrs, code, reason, totag="", body="", ctype=""):
        out = [f"SIP/2.0 {code} {reason}"]
        for v in hget(hdrs, "via", True):
            out.append(f"Via: {v}")
        to = hget(hdrs, "to")
        if totag and "tag=" not in to:
            to += f";tag={totag}"
        out += [f"From: {hget(hdrs, 'from')}", f"To: {to}", f"Call-ID: {hget(hdrs, 'call-id')}",
                f"CSeq: {hget(hdrs, 'cseq')}", f"Contact: {peer.contact()}"]
        if body:
            out.append(f"Content-Type: {ctype}")
        out.append(f"Content-Length: {len(body.encode())}")
        peer.send("\r\n".join(out) + "\r\n\r\n" + body)

    def on_request(self, peer, first, hdrs, body):
        method, ruri = first.split()[0], first.split()[1]
        cid = hget(hdrs, "call-id")
        d = self.dialogs.get(cid)
        if method == "INVITE" and d and tag_of(hget(hdrs, "to")):
            self.respond(peer, hdrs, 200, "OK", body=SDP.format(ip=peer.ip, port=peer.port + 1000),
                         ctype="application/sdp")
            return
        if method == "INVITE":
            if d:                               # a retransmission
                return
            ltag = rnd()
            d = Dialog(cid, peer, "", ltag, "", tag_of(hget(hdrs, "from")), False)
            frm = hget(hdrs, "from")
            d.remote_uri = frm.split("<", 1)[1].split(">", 1)[0] if "<" in frm else \
                frm.split(";")[0]
            to = hget(hdrs, "to")
            d.local_uri = to.split("<", 1)[1].split(">", 1)[0] if "<" in to else to.split(";")[0]
            d.cseq = 100
            self.dialogs[cid] = d
            self.log("INVITE", peer.name, uri_user(ruri), uri_user(hget(hdrs, "from")), cid)
            if peer.mode == "busy":
                d.done = True
                self.respond(peer, hdrs, 486, "Busy Here", ltag)
                return
            self.respond(peer, hdrs, 100, "Trying")
            self.respond(peer, hdrs, 180, "Ringing", ltag)
            if peer.mode == "ring":
                d.invite_hdrs = hdrs
                return
            self.respond(peer, hdrs, 200, "OK", ltag, SDP.format(ip=peer.ip, port=peer.port + 1000),
                         "application/sdp")
            return
        if method == "ACK":
            return
        if method == "CANCEL":
            self.respond(peer, hdrs, 200, "OK")
            if d and d.invite_hdrs:
                self.respond(peer, d.invite_hdrs, 487, "Request Terminated", d.ltag)
                d.invite_hdrs = None
                d.done = True
                self.log("CANCEL", peer.name, cid)
            return
        if method == "BYE":
            self.respond(peer, hdrs, 200, "OK")
            if d and not d.done:
                d.done = True
                self.log("BYE", peer.name, cid)
            return
        if method == "MESSAGE":
            self.respond(peer, hdrs, 200, "OK")
            self.log("MESSAGE", peer.name, uri_user(hget(hdrs, "from")), uri_user(ruri),
                     body.replace("\r", " ").replace("\n", " "))
            return
        self.respond(peer, hdrs, 200, "OK")

    # ------------------------------------------------------------ control
    def command(self, line):
        w = line.split(" ")
        try:
            if w[0] == "call" and len(w) == 4:
                return "OK " + self.call(self.peers[w[1]], w[2], w[3])
            if w[0] == "bye" and len(w) == 2:
                d = self.dialogs[w[1]]
                d.done = True
                self.in_dialog(d, "BYE")
                return "OK"
            if w[0] == "reinvite" and len(w) == 3:
                d, p = self.dialogs[w[1]], self.peers[w[2]]
                d.peer = p
                self.in_dialog(d, "INVITE", p, SDP.format(ip=p.ip, port=p.port + 1000),
                               "application/sdp")
                return "OK"
            if w[0] == "message" and len(w) >= 5:
                p = self.peers[w[1]]
                self.request(p, "MESSAGE", self.octo_uri(w[3]), f"sip:{w[2]}@{p.ip}", rnd(),
                             self.octo_uri(w[3]), "", rnd(16), 1, body=" ".join(w[4:]),
                             ctype="text/plain;charset=UTF-8")
                return "OK"
            if w[0] == "notify" and len(w) >= 4:
                p = self.peers[w[1]]
                self.request(p, "NOTIFY", self.octo_uri(), f"sip:{p.user or p.name}@{p.ip}",
                             rnd(), self.octo_uri(), "", rnd(16), 1,
                             extra=f"Event: {w[2]}\r\nSubscription-State: active\r\n",
                             body=" ".join(w[3:]).replace("\\n", "\n"), ctype="text/plain")
                return "OK"
            if w[0] == "info" and len(w) >= 3:
                p = self.peers[w[1]]
                self.request(p, "INFO", self.octo_uri(), f"sip:{p.user or p.name}@{p.ip}",
                             rnd(), self.octo_uri(), "", rnd(16), 1,
                             body=" ".join(w[2:]).replace("\\n", "\n"), ctype="text/plain")
                return "OK"
            if w[0] == "quit":
                return "OK bye"
        except KeyError as e:
            return f"ERR unknown {e}"
        return "ERR bad command"

    def run(self, ctl_port, deadline):
        ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ctl.bind(("127.0.0.1", ctl_port))
        for p in self.peers.values():
            if p.user and p.secret:
                self.register(p)
        socks = {p.sock: p for p in self.peers.values()}
        while time.time() < deadline:
            ready, _, _ = select.select([ctl] + list(socks), [], [], 0.5)
            for s in ready:
                data, addr = s.recvfrom(65535)
                if s is ctl:
                    answer = self.command(data.decode("utf-8", "replace").strip())
                    ctl.sendto(answer.encode(), addr)
                    if answer == "OK bye":
                        return
                    continue
                try:
                    first, hdrs, body = parse(data)
                    if first.startswith("SIP/2.0"):
                        self.on_response(socks[s], first, hdrs, body)
                    elif first:
                        self.on_request(socks[s], first, hdrs, body)
                except (ValueError, IndexError) as e:
                    self.log("BAD", socks[s].name, repr(e))


def ctl_main(argv):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(" ".join(argv[1:]).encode(), ("127.0.0.1", int(argv[0])))
    try:
        answer = s.recvfrom(4096)[0].decode()
    except socket.timeout:
        print("ERR no answer")
        return 1
    print(answer)
    return 0 if answer.startswith("OK") else 1


def main(argv):
    if argv and argv[0] == "ctl":
        return ctl_main(argv[1:])
    octo, log, ctl, life, peers = None, None, None, 120, []
    it = iter(argv)
    for a in it:
        if a == "--octo":
            host, port = next(it).rsplit(":", 1)
            octo = (host, int(port))
        elif a == "--log":
            log = next(it)
        elif a == "--ctl":
            ctl = int(next(it))
        elif a == "--life":
            life = int(next(it))
        elif a == "--peer":
            peers.append(next(it))
        else:
            print(__doc__)
            return 2
    if not (octo and log and ctl and peers):
        print(__doc__)
        return 2
    sim = Sim(octo, log)
    for spec in peers:
        name, rest = spec.split("=", 1)
        parts = rest.split(",")
        user = parts[1] if len(parts) > 2 else ""
        secret = parts[2] if len(parts) > 2 else ""
        mode = parts[-1] if len(parts) in (2, 4) else "auto"
        ip, port = parts[0].rsplit(":", 1)
        sim.peers[name] = Peer(sim, name, ip, int(port), user, secret, mode)
    sim.log("STARTED", os.getpid())
    sim.run(ctl, time.time() + life)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
