#!/usr/bin/env python3
"""ctl.py - drives a running baresip through its ctrl_tcp module for the
baresip test: sends one command (a netstring holding a JSON object) and
waits up to 10 s for its answer, skipping the events baresip sends too.

usage: ctl.py PORT COMMAND [PARAMS]
  COMMAND is a baresip command (dial, hangup, quit, ...), PARAMS its
  argument (dial: a number or a SIP URI). Prints the answer's data; exit
  status 0 when baresip answered ok.
"""
import json
import socket
import sys
import time


def ctl_read(sock, buf):
    """One netstring's payload from sock (buf: bytes read ahead), or None."""
    while True:
        colon = buf.find(b":")
        if colon > 0:
            if not buf[:colon].isdigit() or colon > 9:
                raise ValueError("bad netstring from baresip: %r" % buf[:40])
            size = int(buf[:colon])
            end = colon + 1 + size
            if len(buf) > end:
                if buf[end:end + 1] != b",":
                    raise ValueError("netstring without its comma")
                return buf[colon + 1:end], buf[end + 1:]
        data = sock.recv(65536)
        if not data:
            return None, buf
        buf += data


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    port = int(sys.argv[1])
    deadline = time.monotonic() + 10
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    cmd = {"command": sys.argv[2], "token": "octo-test"}
    if len(sys.argv) > 3:
        cmd["params"] = " ".join(sys.argv[3:])
    text = json.dumps(cmd).encode()
    sock.sendall(b"%d:%s," % (len(text), text))
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("ctl.py: nothing in time", file=sys.stderr)
            return 1
        sock.settimeout(left)
        try:
            payload, buf = ctl_read(sock, buf)
        except socket.timeout:
            continue
        if payload is None:
            print("ctl.py: baresip closed the connection", file=sys.stderr)
            return 1
        msg = json.loads(payload)
        if msg.get("response") and msg.get("token") == "octo-test":
            print(msg.get("data", ""))
            return 0 if msg.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
