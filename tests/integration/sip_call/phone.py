#!/usr/bin/env python3
"""phone.py - a minimal SIP phone for the sip_call test: calls NUMBER as
USER (digest MD5 with qop=auth on the 407), sends 50 RTP packets (PCMU,
20 ms apart) to the media address of the answer, counts the packets that
come back with the same payload (an echo: Octo's *43, or a far phone that
echoes), then hangs up (BYE). Exit status 0 when at least 20 came back.

usage: phone.py HOST PORT USER PASSWORD NUMBER [OPTIONS]
  --header "Name: value"  add a header to the INVITE (repeatable)
  --no-c-line             offer an SDP without a c= line
  --expect-status N       the final answer to the INVITE must be N (then stop)
  --expect-header TEXT    the final answer must contain TEXT
  --info DIGIT            after the answer, send DIGIT in an INFO
                          (application/dtmf-relay) and expect Octo's BYE
"""
import hashlib
import os
import random
import re
import socket
import struct
import sys
import time


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def main():
    host, port, user, password, number = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
    headers, no_c, expect_status, expect_header, info = "", False, None, None, None
    args = sys.argv[6:]
    while args:
        opt = args.pop(0)
        if opt == "--header":
            headers += args.pop(0) + "\r\n"
        elif opt == "--no-c-line":
            no_c = True
        elif opt == "--expect-status":
            expect_status = int(args.pop(0))
        elif opt == "--expect-header":
            expect_header = args.pop(0)
        elif opt == "--info":
            info = args.pop(0)
        else:
            print("unknown option " + opt)
            return 2
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    sip.settimeout(5)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    lport, mport = sip.getsockname()[1], rtp.getsockname()[1]
    call_id = "%x@phone" % random.getrandbits(64)
    ftag = "%x" % random.getrandbits(32)
    ruri = "sip:%s@%s:%d" % (number, host, port)
    sdp = ("v=0\r\no=phone 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
           "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n" % mport)
    if no_c:
        sdp = sdp.replace("c=IN IP4 127.0.0.1\r\n", "")

    def request(method, cseq, to_tag="", extra="", body="", uri=ruri):
        branch = "z9hG4bK%x" % random.getrandbits(48)
        msg = ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport\r\n"
               "From: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>%s\r\nCall-ID: %s\r\n"
               "CSeq: %d %s\r\nContact: <sip:%s@127.0.0.1:%d>\r\nMax-Forwards: 70\r\n%s"
               % (method, uri, lport, branch, user, host, ftag, number, host,
                  ";tag=" + to_tag if to_tag else "", call_id, cseq, method, user, lport,
                  extra))
        if body and "Content-Type" not in extra:
            msg += "Content-Type: application/sdp\r\n"
        msg += "Content-Length: %d\r\n\r\n%s" % (len(body), body)
        sip.sendto(msg.encode(), (host, port))

    def final(cseq):
        while True:
            data = sip.recv(65535).decode(errors="replace")
            status = int(data.split(" ", 2)[1])
            if re.search(r"^CSeq:\s*%d " % cseq, data, re.M | re.I) and status >= 200:
                return status, data

    def to_tag_of(data):
        m = re.search(r"^To:.*;tag=([^;\s]+)", data, re.M | re.I)
        return m.group(1) if m else ""

    request("INVITE", 1, extra=headers, body=sdp)
    status, data = final(1)
    if status == 407:
        request("ACK", 1, to_tag_of(data))
        chal = re.search(r"^Proxy-Authenticate:\s*Digest (.*)$", data, re.M | re.I).group(1)
        realm = re.search(r'realm="([^"]*)"', chal).group(1)
        nonce = re.search(r'nonce="([^"]*)"', chal).group(1)
        cnonce, nc = "%x" % random.getrandbits(32), "00000001"
        ha1 = md5("%s:%s:%s" % (user, realm, password))
        ha2 = md5("INVITE:%s" % ruri)
        resp = md5("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))
        auth = ('Proxy-Authorization: Digest username="%s", realm="%s", nonce="%s", '
                'uri="%s", response="%s", algorithm=MD5, qop=auth, nc=%s, cnonce="%s"\r\n'
                % (user, realm, nonce, ruri, resp, nc, cnonce))
        request("INVITE", 2, extra=auth + headers, body=sdp)
        status, data = final(2)
        cseq = 2
    else:
        cseq = 1
    if expect_header and expect_header not in data:
        print("the answer lacks %r:\n%s" % (expect_header, data))
        return 1
    if expect_status is not None and status != 200:
        if status >= 300:
            request("ACK", cseq, to_tag_of(data))
        print("final answer %d (expected %d)" % (status, expect_status))
        return 0 if status == expect_status else 1
    if status != 200:
        print("call failed: %d" % status)
        return 1
    tag = to_tag_of(data)
    contact = re.search(r"^Contact:\s*<([^>]+)>", data, re.M | re.I).group(1)
    request("ACK", cseq, tag, uri=contact)
    if expect_status is not None:
        request("BYE", cseq + 1, tag, uri=contact)
        print("answered (expected %d)" % expect_status)
        return 0 if expect_status == 200 else 1
    if info:
        body = "Signal=%s\r\nDuration=160\r\n" % info
        msg = None
        request("INFO", cseq + 1, tag, uri=contact,
                extra="Content-Type: application/dtmf-relay\r\n", body=body)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                msg = sip.recv(65535).decode(errors="replace")
            except socket.timeout:
                continue
            if msg.startswith("BYE "):
                break
        if not msg or not msg.startswith("BYE "):
            print("no BYE after the INFO digit")
            return 1
        via = re.findall(r"^(Via:.*)$", msg, re.M | re.I)
        hdrs = [h for h in msg.split("\r\n") if re.match(r"(From|To|Call-ID|CSeq):", h, re.I)]
        sip.sendto(("SIP/2.0 200 OK\r\n%s\r\n%s\r\nContent-Length: 0\r\n\r\n"
                    % ("\r\n".join(via), "\r\n".join(hdrs))).encode(), (host, port))
        print("INFO %s: Octo hung up (BYE)" % info)
        return 0
    body = data.split("\r\n\r\n", 1)[1]
    ip = re.search(r"^c=IN IP4 (\S+)", body, re.M).group(1)
    rport = int(re.search(r"^m=audio (\d+)", body, re.M).group(1))
    print("answered; media to %s:%d" % (ip, rport))

    rtp.settimeout(0.02)
    ssrc = random.getrandbits(32)
    sent, back = set(), 0
    for seq in range(50):
        # values that survive a G.711 decode and encode unchanged
        payload = bytes(0x10 + b % 0x60 for b in os.urandom(160))
        sent.add(payload)
        pkt = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + payload
        rtp.sendto(pkt, (ip, rport))
        end = time.time() + 0.02
        while time.time() < end:
            try:
                got = rtp.recv(2048)
            except socket.timeout:
                break
            if len(got) >= 12 and got[12:] in sent:
                back += 1
    end = time.time() + 1.0
    while time.time() < end:
        try:
            got = rtp.recv(2048)
        except socket.timeout:
            continue
        if len(got) >= 12 and got[12:] in sent:
            back += 1
    print("RTP: sent 50, %d came back" % back)
    request("BYE", cseq + 1, tag, uri=contact)
    status, _ = final(cseq + 1)
    print("BYE: %d" % status)
    return 0 if back >= 20 and status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
