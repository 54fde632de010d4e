#!/usr/bin/env python3
"""sipreg.py - a small SIP client for the sip_register test: REGISTER with
digest authentication computed here (MD5 or SHA-256), and the cases SIPp
cannot script: replayed nonce counts, forged and stale nonces, To/username
mismatch, max_contacts, answering qualify OPTIONS.

usage: sipreg.py CASE PORT [ARGS...]; exit status 0 when the case passed,
1 with a message when not. Loopback (127.0.0.1) and UDP only.
"""
import hashlib
import random
import re
import socket
import sys
import time

HOST = "127.0.0.1"


class Client:
    def __init__(self, port, user, password):
        self.port = port
        self.user = user
        self.password = password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(5)
        self.lport = self.sock.getsockname()[1]
        self.call_id = "%08x@sipreg" % random.getrandbits(32)
        self.cseq = 0
        self.tag = "%08x" % random.getrandbits(32)
        self.options_answered = 0

    def request(self, extra=(), contact=None, expires=60, to_user=None):
        self.cseq += 1
        branch = "z9hG4bK%016x" % random.getrandbits(64)
        if contact is None:
            contact = "<sip:%s@%s:%d>" % (self.user, HOST, self.lport)
        lines = [
            "REGISTER sip:%s:%d SIP/2.0" % (HOST, self.port),
            "Via: SIP/2.0/UDP %s:%d;branch=%s;rport" % (HOST, self.lport, branch),
            "From: <sip:%s@%s>;tag=%s" % (self.user, HOST, self.tag),
            "To: <sip:%s@%s>" % (to_user or self.user, HOST),
            "Call-ID: %s" % self.call_id,
            "CSeq: %d REGISTER" % self.cseq,
            "Max-Forwards: 70",
            "User-Agent: sipreg.py",
        ]
        if contact:
            lines.append("Contact: %s" % contact)
        if expires is not None:
            lines.append("Expires: %d" % expires)
        lines += list(extra)
        lines += ["Content-Length: 0", "", ""]
        self.sock.sendto("\r\n".join(lines).encode(), (HOST, self.port))
        return self.response()

    def response(self):
        """The next final response; OPTIONS requests met meanwhile are answered."""
        while True:
            data, addr = self.sock.recvfrom(65535)
            text = data.decode(errors="replace")
            if text.startswith("OPTIONS "):
                self.answer_options(text, addr)
                continue
            status = int(text.split(" ", 2)[1])
            if status >= 200:
                return status, text

    def answer_options(self, text, addr):
        head = text.split("\r\n\r\n")[0].split("\r\n")
        keep = [h for h in head[1:]
                if h.split(":")[0].strip().lower() in ("via", "from", "to", "call-id", "cseq")]
        resp = "SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
        self.sock.sendto(resp.encode(), addr)
        self.options_answered += 1

    def serve_options(self, seconds):
        end = time.time() + seconds
        self.sock.settimeout(0.2)
        while time.time() < end:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            text = data.decode(errors="replace")
            if text.startswith("OPTIONS "):
                self.answer_options(text, addr)
        self.sock.settimeout(5)


def challenges(text):
    """{algorithm: {param: value}} of the WWW-Authenticate headers, in order."""
    out = []
    for line in text.split("\r\n"):
        if not line.lower().startswith("www-authenticate:"):
            continue
        params = dict(re.findall(r'(\w+)="?([^",]*)"?', line.split(":", 1)[1]))
        out.append(params)
    return out


def digest(alg, user, realm, password, method, uri, nonce, nc, cnonce):
    h = (lambda s: hashlib.sha256(s.encode()).hexdigest()) if alg == "SHA-256" else \
        (lambda s: hashlib.md5(s.encode()).hexdigest())
    ha1 = h("%s:%s:%s" % (user, realm, password))
    ha2 = h("%s:%s" % (method, uri))
    return h("%s:%s:%s:%s:auth:%s" % (ha1, nonce, nc, cnonce, ha2))


def authorization(c, ch, nc=1, user=None, nonce=None, password=None):
    uri = "sip:%s:%d" % (HOST, c.port)
    nonce = nonce or ch["nonce"]
    cnonce = "%08x" % random.getrandbits(32)
    ncs = "%08x" % nc
    resp = digest(ch["algorithm"], user or c.user, ch["realm"], password or c.password,
                  "REGISTER", uri, nonce, ncs, cnonce)
    return ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", '
            'response="%s", algorithm=%s, cnonce="%s", qop=auth, nc=%s'
            % (user or c.user, ch["realm"], nonce, uri, resp, ch["algorithm"], cnonce, ncs))


def pick(chs, alg):
    for ch in chs:
        if ch.get("algorithm") == alg:
            return ch
    fail("no %s challenge in %r" % (alg, chs))


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def expect(got, want, what):
    status, text = got
    if status != want:
        fail("%s: got %d, expected %d\n%s" % (what, status, want, text))
    return text


def register(c, alg="MD5", expires=60, contact=None):
    text = expect(c.request(expires=expires, contact=contact), 401, "first REGISTER")
    ch = pick(challenges(text), alg)
    return expect(c.request([authorization(c, ch)], expires=expires, contact=contact), 200,
                  "REGISTER with %s credentials" % alg), ch


def main():
    case, port = sys.argv[1], int(sys.argv[2])
    args = sys.argv[3:]
    if case == "sha256":
        c = Client(port, args[0], args[1])
        text = expect(c.request(), 401, "first REGISTER")
        chs = challenges(text)
        algs = [ch.get("algorithm") for ch in chs]
        if algs != ["MD5", "SHA-256"]:
            fail("challenges offered %r, expected MD5 then SHA-256 (auth_algorithms)" % algs)
        for ch in chs:
            if ch.get("qop") != "auth" or ch.get("realm") != "octo" or len(ch["nonce"]) != 64:
                fail("bad challenge %r" % ch)
        ch = pick(chs, "SHA-256")
        text = expect(c.request([authorization(c, ch)]), 200, "REGISTER with SHA-256")
        if ";expires=" not in text or ("%d" % c.lport) not in text:
            fail("the 200 does not list the contact with its expiry:\n" + text)
    elif case == "brief":
        # expiry below min_expiry: 423 with Min-Expires
        c = Client(port, args[0], args[1])
        text = expect(c.request(expires=int(args[2])), 401, "first REGISTER")
        ch = pick(challenges(text), "MD5")
        text = expect(c.request([authorization(c, ch)], expires=int(args[2])), 423,
                      "expiry too brief")
        if ("Min-Expires: %s" % args[3]) not in text:
            fail("423 without Min-Expires: %s:\n%s" % (args[3], text))
    elif case == "replay":
        c = Client(port, args[0], args[1])
        text, ch = register(c)
        # the same nonce count again: a replay, answered stale=true
        text = expect(c.request([authorization(c, ch, nc=1)]), 401, "replayed nonce count")
        if "stale=true" not in text:
            fail("a replayed nonce count was not answered stale=true:\n" + text)
        # a higher count with the same nonce is fine
        expect(c.request([authorization(c, ch, nc=2)]), 200, "next nonce count")
    elif case == "forged":
        c = Client(port, args[0], args[1])
        text = expect(c.request(), 401, "first REGISTER")
        ch = pick(challenges(text), "MD5")
        # right password, but a nonce we made up (like one from before a restart)
        fake = "%064x" % random.getrandbits(256)
        text = expect(c.request([authorization(c, ch, nonce=fake)]), 401, "forged nonce")
        if "stale=true" not in text:
            fail("a right answer to an unknown nonce was not answered stale=true:\n" + text)
        # a nonce that is ours but with a byte changed: same
        bad = ch["nonce"][:-1] + ("0" if ch["nonce"][-1] != "0" else "1")
        text = expect(c.request([authorization(c, ch, nonce=bad)]), 401, "altered nonce")
        if "stale=true" not in text:
            fail("an altered nonce was not answered stale=true:\n" + text)
    elif case == "mismatch":
        # credentials of user args[0] in a REGISTER for To args[2]
        c = Client(port, args[0], args[1])
        text = expect(c.request(to_user=args[2]), 401, "first REGISTER")
        ch = pick(challenges(text), "MD5")
        expect(c.request([authorization(c, ch)], to_user=args[2]), 403,
               "username different from the To user")
    elif case == "nosecret":
        c = Client(port, args[0], "whatever")
        text = expect(c.request(), 401, "first REGISTER")
        ch = pick(challenges(text), "MD5")
        expect(c.request([authorization(c, ch)]), 403, "user without a secret")
    elif case == "malformed":
        c = Client(port, args[0], args[1])
        text = expect(c.request(), 401, "first REGISTER")
        ch = pick(challenges(text), "MD5")
        bad = [
            'Authorization: Digest username="%s", realm="octo"' % c.user,
            'Authorization: Digest username="%s", realm="octo", nonce="%s", uri="sip:x", '
            'response="0", qop=auth' % (c.user, ch["nonce"]),
            'Authorization: Digest username="%s", realm="octo", nonce="%s", uri="sip:x", '
            'response="0", qop=auth, cnonce="a", nc=zz' % (c.user, ch["nonce"]),
            'Authorization: Digest username="%s", realm="octo", nonce="%s", uri="sip:x", '
            'response="%s"' % (c.user, "A" * 600, "B" * 600),
        ]
        for b in bad:
            status, text = c.request([b])
            if status not in (400, 401):
                fail("malformed credentials %r answered %d" % (b, status))
        # an unknown algorithm or another realm: just a new challenge
        for b in ['Authorization: Digest username="%s", realm="octo", nonce="%s", uri="sip:x", '
                  'response="0", algorithm=SHA-512-256' % (c.user, ch["nonce"]),
                  'Authorization: Digest username="%s", realm="elsewhere", nonce="%s", '
                  'uri="sip:x", response="0"' % (c.user, ch["nonce"])]:
            expect(c.request([b]), 401, "credentials octo cannot check")
    elif case == "maxcontacts":
        # N+1 contacts for a user with max_contacts N: the oldest is replaced
        c = Client(port, args[0], args[1])
        n = int(args[2])
        for i in range(n + 1):
            register(c, contact="<sip:%s@%s:%d>" % (c.user, HOST, 40000 + i))
            time.sleep(1.1)  # refresh times in whole seconds
        status, text = c.request([], contact="")
        text = expect(c.request([authorization(c, pick(challenges(text), "MD5"))],
                                contact=""), 200, "query the bindings")
        got = sorted(int(p) for p in re.findall(r"Contact: <sip:[^@]*@[^:]*:(\d+)>", text))
        want = list(range(40001, 40001 + n))
        if got != want:
            fail("bindings after %d registrations: %r, expected %r\n%s"
                 % (n + 1, got, want, text))
    elif case == "qualify":
        c = Client(port, args[0], args[1])
        register(c)
        c.serve_options(float(args[2]))
        if c.options_answered < 1:
            fail("no OPTIONS came to the registered contact in %s s" % args[2])
        print("LPORT %d" % c.lport)
    else:
        fail("unknown case " + case)
    print("ok")


if __name__ == "__main__":
    try:
        main()
    except socket.timeout:
        fail("no answer (timeout)")
