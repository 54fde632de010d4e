#!/usr/bin/env python3
"""sipraw.py - raw SIP checks for the sip_basic integration test, for what
SIPp cannot send: malformed requests, garbage, oversized datagrams, exact
retransmissions, TCP keep-alive pings, overload on each transport.

    sipraw.py CASE PORT
    sipraw.py overload PORT TLS_PORT DAEMON_PID

Exits 0 when the daemon at 127.0.0.1:PORT behaved, 1 otherwise (printing
why). Every wait is bounded (2 s per expected answer, 0.7 s of silence
when no answer is expected).
"""
import os
import random
import signal
import socket
import ssl
import sys
import time

HOST = "127.0.0.1"


def request(method="OPTIONS", branch=None, cseq_method=None, extra="", body="",
            content_length=None, max_forwards="70", via_transport="UDP", port=5060):
    branch = branch or "z9hG4bK" + os.urandom(6).hex()
    cseq_method = cseq_method or method
    if content_length is None:
        content_length = str(len(body))
    lines = [
        f"{method} sip:octo@{HOST} SIP/2.0",
        f"Via: SIP/2.0/{via_transport} {HOST}:{port};branch={branch};rport",
        f"Max-Forwards: {max_forwards}",
        f"From: <sip:raw@{HOST}>;tag={os.urandom(4).hex()}",
        f"To: <sip:octo@{HOST}>",
        f"Call-ID: {os.urandom(8).hex()}@{HOST}",
        f"CSeq: 1 {cseq_method}",
    ]
    if extra:
        lines.append(extra)
    lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    return s


def expect(sock, prefix, what):
    sock.settimeout(2.0)
    try:
        data = sock.recv(70000)
    except socket.timeout:
        fail(f"{what}: no answer within 2 s (expected {prefix!r})")
    if not data.startswith(prefix.encode()):
        fail(f"{what}: got {data[:60]!r}, expected {prefix!r}")
    return data


def expect_silence(sock, what):
    sock.settimeout(0.7)
    try:
        data = sock.recv(70000)
    except socket.timeout:
        return
    fail(f"{what}: unexpected answer {data[:60]!r}")


def fail(why):
    print(why)
    sys.exit(1)


def case_malformed(port):
    s = udp()
    me = s.getsockname()[1]
    s.sendto(request(cseq_method="INVITE", port=me), (HOST, port))
    expect(s, "SIP/2.0 400 CSeq Method Mismatch", "CSeq method mismatch")
    s.sendto(request(content_length="abc", port=me), (HOST, port))
    expect(s, "SIP/2.0 400 Invalid Content-Length", "non-numeric Content-Length")
    s.sendto(request(extra="Content-Type: text/plain", body="short", content_length="999",
                     port=me), (HOST, port))
    expect(s, "SIP/2.0 400", "Content-Length beyond the datagram")
    s.sendto(request(max_forwards="0", port=me), (HOST, port))
    expect(s, "SIP/2.0 483 Too Many Hops", "Max-Forwards 0")
    # a broken request line: answered from the salvaged headers
    raw = request(port=me).replace(b"OPTIONS sip:octo@127.0.0.1 SIP/2.0",
                                   b"OPTIONS \x01\x02 SIP/2.0")
    s.sendto(raw, (HOST, port))
    expect(s, "SIP/2.0 400", "broken request line")
    # ACK is never answered, even when broken
    s.sendto(request(method="ACK", max_forwards="0", port=me), (HOST, port))
    expect_silence(s, "broken ACK")


def case_garbage(port):
    s = udp()
    rnd = random.Random(5060)
    junk = [b"hello world", b"\x00" * 40, b"SIP/2.0 200 OK\r\n\r\n", b"INVITE\r\n\r\n",
            bytes(rnd.getrandbits(8) for _ in range(1400)), b"\r\n\r\n",
            request().replace(b"Via:", b"Vxa:")]
    for j in junk:
        s.sendto(j, (HOST, port))
    expect_silence(s, "garbage datagrams")


def case_huge(port):
    s = udp()
    me = s.getsockname()[1]
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    big = request(extra="X-Padding: " + "a" * 20000, port=me)
    s.sendto(big, (HOST, port))
    expect_silence(s, "20 KB datagram over max_message_size")
    biggest = request(extra="X-Padding: " + "b" * 64000, port=me)
    s.sendto(biggest, (HOST, port))
    expect_silence(s, "64 KB datagram")
    # still alive and answering
    s.sendto(request(port=me), (HOST, port))
    expect(s, "SIP/2.0 200 OK", "OPTIONS after the big datagrams")


def case_retransmission(port):
    s = udp()
    me = s.getsockname()[1]
    msg = request(branch="z9hG4bKretrans" + os.urandom(4).hex(), port=me)
    s.sendto(msg, (HOST, port))
    first = expect(s, "SIP/2.0 200 OK", "first OPTIONS")
    s.sendto(msg, (HOST, port))
    second = expect(s, "SIP/2.0 200 OK", "retransmitted OPTIONS")
    # a new transaction would have a new To tag; the server transaction
    # resends the very same bytes
    if first != second:
        fail("the retransmission was not answered from the transaction:\n"
             f"{first!r}\n{second!r}")
    if b";received=127.0.0.1" not in first or f";rport={me}".encode() not in first:
        fail(f"rport/received missing in the Via of the answer: {first[:200]!r}")


def case_unknown(port):
    s = udp()
    me = s.getsockname()[1]
    s.sendto(request(method="FROBNICATE", port=me), (HOST, port))
    expect(s, "SIP/2.0 501 Not Implemented", "unknown method")
    # PUBLISH: no part of chan_sip handles it (SUBSCRIBE has sip_mwi.c's)
    s.sendto(request(method="PUBLISH", port=me), (HOST, port))
    data = expect(s, "SIP/2.0 405 Method Not Allowed", "known method without a handler")
    if b"\r\nAllow: " not in data:
        fail("405 without Allow")


def case_tcp(port):
    """TCP framing, keep-alives and the error path."""
    c = socket.create_connection((HOST, port), timeout=2.0)
    me = c.getsockname()[1]
    # RFC 5626 ping gets a pong
    c.sendall(b"\r\n\r\n")
    pong = c.recv(10)
    if pong != b"\r\n":
        fail(f"double-CRLF ping answered {pong!r}, expected a CRLF pong")
    # two requests in one segment, then one split in two segments
    two = request(via_transport="TCP", port=me) + request(via_transport="TCP", port=me)
    c.sendall(two)
    got = b""
    while got.count(b"SIP/2.0 200 OK") < 2:
        part = c.recv(65536)
        if not part:
            fail("connection closed while waiting for two answers")
        got += part
    one = request(via_transport="TCP", port=me)
    c.sendall(one[:30])
    c.sendall(one[30:])
    data = c.recv(65536)
    if not data.startswith(b"SIP/2.0 200 OK"):
        fail(f"split request answered {data[:40]!r}")
    # broken framing: 400 then the connection closes
    c.sendall(request(via_transport="TCP", content_length="x", port=me))
    data = b""
    while True:
        part = c.recv(65536)
        if not part:
            break
        data += part
    if not data.startswith(b"SIP/2.0 400"):
        fail(f"bad Content-Length on TCP answered {data[:40]!r}")
    c.close()


def case_tls(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
    raw = socket.create_connection((HOST, port), timeout=2.0)
    c = ctx.wrap_socket(raw)
    me = c.getsockname()[1]
    c.sendall(request(via_transport="TLS", port=me))
    data = c.recv(65536)
    if not data.startswith(b"SIP/2.0 200 OK"):
        fail(f"OPTIONS over TLS answered {data[:40]!r}")
    if b"Via: SIP/2.0/TLS" not in data:
        fail("the Via of the TLS answer lost its transport")
    c.sendall(b"\r\n\r\n")
    if c.recv(10) != b"\r\n":
        fail("no pong over TLS")
    c.close()
    # a client that never finishes its handshake does not block the others
    idle = socket.create_connection((HOST, port), timeout=2.0)
    idle.sendall(b"\x16\x03\x01")
    c = ctx.wrap_socket(socket.create_connection((HOST, port), timeout=2.0))
    c.sendall(request(via_transport="TLS", port=c.getsockname()[1]))
    if not c.recv(65536).startswith(b"SIP/2.0 200 OK"):
        fail("a stalled handshake blocked another TLS client")
    c.close()
    idle.close()


def wait_stopped(pid):
    """SIGSTOP takes effect a little after kill() returns: until every
    thread is stopped (state T), one could still read what we send."""
    def state(path):
        try:
            with open(path) as f:
                return f.read().rsplit(")", 1)[1].split()[0]
        except OSError:  # a thread that ended meanwhile
            return "T"
    for _ in range(200):
        tasks = os.listdir(f"/proc/{pid}/task")
        if all(state(f"/proc/{pid}/task/{t}/stat") == "T" for t in tasks):
            return
        time.sleep(0.01)
    fail("the daemon did not stop within 2 s of SIGSTOP")


def case_overload(port, tls_port, pid):
    """Overload shedding on each transport: requests that keep waiting over
    400 ms in their socket (the daemon is stopped with SIGSTOP while they
    come) for 300 ms of reading turn new requests away with 503 and
    Retry-After; a single stall does not; a second later, with no wait
    left, requests are served again."""
    def tls_conn():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the test's self-signed certificate
        return ctx.wrap_socket(socket.create_connection((HOST, tls_port), timeout=2.0))

    for name in ("UDP", "TCP", "TLS"):
        if name == "UDP":
            s = udp()
            send = lambda data, s=s: s.sendto(data, (HOST, port))
        else:
            s = socket.create_connection((HOST, port), timeout=2.0) if name == "TCP" \
                else tls_conn()
            send = s.sendall
        me = s.getsockname()[1]

        def ask(what, prefix):
            send(request(via_transport=name, port=me))
            return expect(s, prefix, f"{name}: {what}")

        def ask_while_stopped(what, prefix):
            os.kill(pid, signal.SIGSTOP)
            try:
                wait_stopped(pid)
                send(request(via_transport=name, port=me))
                time.sleep(0.55)
            finally:
                os.kill(pid, signal.SIGCONT)
            return expect(s, prefix, f"{name}: {what}")

        ask("before", "SIP/2.0 200")
        ask_while_stopped("one stall is not an overload", "SIP/2.0 200")
        data = ask_while_stopped("a wait that lasts is", "SIP/2.0 503")
        if b"\r\nRetry-After:" not in data:
            fail(f"{name}: the 503 has no Retry-After")
        time.sleep(1.2)
        ask("a second later", "SIP/2.0 200")
        s.close()


CASES = {
    "malformed": case_malformed,
    "garbage": case_garbage,
    "huge": case_huge,
    "retransmission": case_retransmission,
    "unknown": case_unknown,
    "tcp": case_tcp,
    "tls": case_tls,
}

if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "overload":
        try:
            case_overload(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        except OSError as e:
            fail(f"overload: {e}")
        sys.exit(0)
    if len(sys.argv) != 3 or sys.argv[1] not in CASES:
        fail("usage: sipraw.py {" + "|".join(CASES) + "} PORT | overload PORT TLS_PORT PID")
    try:
        CASES[sys.argv[1]](int(sys.argv[2]))
    except OSError as e:
        fail(f"{sys.argv[1]}: {e}")
    sys.exit(0)
