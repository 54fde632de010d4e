#!/usr/bin/env python3
"""mwiphone.py - a phone that registers (digest auth, with the client of
tests/integration/sip_register/sipreg.py) but never subscribes, and waits for
the unsolicited message-summary NOTIFY Octo sends to registered contacts.

usage: mwiphone.py PORT USER PASSWORD SECONDS WANT
  Registers USER at 127.0.0.1:PORT, answers OPTIONS and NOTIFY with 200, and
  exits 0 once a NOTIFY with "Event: message-summary" whose body holds the
  text WANT (e.g. "Voice-Message: 1/0 (1/0)") arrived within SECONDS; 1 with
  a message otherwise.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "sip_register"))
import sipreg  # noqa: E402


def main():
    port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    seconds, want = float(sys.argv[4]), sys.argv[5]
    c = sipreg.Client(port, user, password)
    sipreg.register(c, expires=300)
    print("registered from port %d" % c.lport, flush=True)
    end = time.time() + seconds
    seen = []
    c.sock.settimeout(0.2)
    while time.time() < end:
        try:
            data, addr = c.sock.recvfrom(65535)
        except socket.timeout:
            continue
        text = data.decode(errors="replace")
        if text.startswith("OPTIONS ") or text.startswith("NOTIFY "):
            c.answer_options(text, addr)  # a 200 with Via, From, To, Call-ID, CSeq
        if not text.startswith("NOTIFY "):
            continue
        head, _, body = text.partition("\r\n\r\n")
        seen.append(body.strip())
        if "\r\nEvent: message-summary" in head and want in body:
            print("NOTIFY: " + body.strip().replace("\r\n", " | "))
            return 0
    print("FAIL: no NOTIFY with %r in %g s; got %r" % (want, seconds, seen))
    return 1


if __name__ == "__main__":
    sys.exit(main())
