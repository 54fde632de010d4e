#!/usr/bin/env python3
"""member.py - the SIP phone of a call group member for the ivr test: it
registers as USER (digest MD5, qop=auth, on the 401), answers the first
INVITE with PCMU, keeps every PCMU RTP payload it receives (u-law decoded)
and, when Octo hangs up (BYE), writes them into OUT.wav (8 kHz 16-bit mono)
and exits 0. It prints "registered" once the registrar took it. It gives up
with status 1 after SECONDS (default 40).

usage: member.py HOST PORT USER PASSWORD OUT.wav [SECONDS]
"""
import hashlib
import random
import re
import select
import socket
import struct
import sys
import time
import wave


def digest(*parts):
    return hashlib.md5(":".join(parts).encode()).hexdigest()


def ulaw_to_linear(byte):
    """One G.711 u-law byte to a 16-bit sample."""
    byte = ~byte & 0xFF
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    value = ((mantissa << 3) + 0x84) << exponent
    value -= 0x84
    return -value if sign else value


ULAW = [ulaw_to_linear(b) for b in range(256)]


def header(msg, name):
    m = re.search(r"^%s:\s*(.*?)\r?$" % re.escape(name), msg, re.M | re.I)
    return m.group(1) if m else ""


def main():
    if len(sys.argv) < 6:
        print(__doc__)
        return 2
    host, port, user, password, out = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
    seconds = float(sys.argv[6]) if len(sys.argv) > 6 else 40.0
    deadline = time.time() + seconds
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    lport, mport = sip.getsockname()[1], rtp.getsockname()[1]
    call_id = "%x@member" % random.getrandbits(64)
    tag = "%x" % random.getrandbits(32)
    uri = "sip:%s:%d" % (host, port)

    def register(cseq, auth=""):
        msg = ("REGISTER %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%x;rport\r\n"
               "From: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\n"
               "CSeq: %d REGISTER\r\nContact: <sip:%s@127.0.0.1:%d>\r\nExpires: 60\r\n"
               "Max-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n"
               % (uri, lport, random.getrandbits(48), user, host, tag, user, host, call_id,
                  cseq, user, lport, auth))
        sip.sendto(msg.encode(), (host, port))

    def response(expect_cseq):
        while time.time() < deadline:
            r, _, _ = select.select([sip], [], [], 1.0)
            if not r:
                continue
            data = sip.recv(65535).decode(errors="replace")
            if data.startswith("SIP/2.0 ") and header(data, "CSeq").startswith(expect_cseq):
                code = int(data.split(" ", 2)[1])
                if code >= 200:
                    return code, data
        return 0, ""

    register(1)
    code, data = response("1 ")
    if code == 401:
        chal = header(data, "WWW-Authenticate")
        realm = re.search(r'realm="([^"]*)"', chal).group(1)
        nonce = re.search(r'nonce="([^"]*)"', chal).group(1)
        cnonce, nc = "%x" % random.getrandbits(32), "00000001"
        ha1 = digest(user, realm, password)
        ha2 = digest("REGISTER", uri)
        resp = digest(ha1, nonce, nc, cnonce, "auth", ha2)
        register(2, 'Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
                 'response="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s"\r\n'
                 % (user, realm, nonce, uri, resp, nc, cnonce))
        code, data = response("2 ")
    if code != 200:
        print("registration failed: %d" % code)
        return 1
    print("registered", flush=True)

    samples = []
    answered, to_tag = False, "%x" % random.getrandbits(32)
    while time.time() < deadline:
        r, _, _ = select.select([sip, rtp], [], [], 0.5)
        if rtp in r:
            pkt = rtp.recv(2048)
            if len(pkt) >= 12 and (pkt[1] & 0x7F) == 0:
                off = 12 + 4 * (pkt[0] & 0x0F)
                if pkt[0] & 0x10 and len(pkt) >= off + 4:
                    off += 4 + 4 * struct.unpack("!H", pkt[off + 2:off + 4])[0]
                samples.extend(ULAW[b] for b in pkt[off:])
        if sip not in r:
            continue
        data, addr = sip.recvfrom(65535)
        msg = data.decode(errors="replace")
        if msg.startswith("SIP/2.0"):
            continue
        method = msg.split(" ", 1)[0]
        if method == "ACK":
            continue
        to = header(msg, "To")
        if method == "INVITE" and ";tag=" not in to:
            to += ";tag=" + to_tag
        body = ""
        extra = ""
        if method == "INVITE":
            answered = True
            body = ("v=0\r\no=member 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
                    "t=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
                    "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n" % mport)
            extra = ("Contact: <sip:%s@127.0.0.1:%d>\r\nContent-Type: application/sdp\r\n"
                     % (user, lport))
        vias = "".join("Via: %s\r\n" % v for v in re.findall(r"^Via:\s*(.*?)\r?$", msg,
                                                              re.M | re.I))
        reply = ("SIP/2.0 200 OK\r\n%sFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n%s"
                 "Content-Length: %d\r\n\r\n%s"
                 % (vias, header(msg, "From"), to, header(msg, "Call-ID"), header(msg, "CSeq"),
                    extra, len(body), body))
        sip.sendto(reply.encode(), addr)
        if method == "BYE" and answered:
            with wave.open(out, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes(struct.pack("<%dh" % len(samples), *samples))
            print("received %.2f s" % (len(samples) / 8000.0))
            return 0
    print("no call ended in time (answered: %s)" % answered)
    return 1


if __name__ == "__main__":
    sys.exit(main())
