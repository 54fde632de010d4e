#!/usr/bin/env python3
"""smtp_helper.py - the test side of tests/integration/smtp (needs Debian's
python3-aiosmtpd for "serve"; "show" needs only the standard library).

  smtp_helper.py serve --listen HOST:PORT --maildir DIR
                       [--starttls CERT KEY | --smtps CERT KEY] [--auth USER:PASS]
                       [--size BYTES]
      An SMTP server on aiosmtpd that stores each message in the maildir DIR
      (aiosmtpd's Mailbox handler) and
        - answers RCPT TO with 550 for a local part starting with "reject"
          and with 451 for one starting with "later";
        - with --starttls, offers STARTTLS and requires it before MAIL;
          with --smtps, speaks TLS from the start;
        - with --auth, requires login (PLAIN or LOGIN) as USER:PASS and adds
          "X-Auth-Login: USER" to each stored message;
        - with --size, refuses messages larger than BYTES (552).

  smtp_helper.py show DIR
      One JSON object per message of the maildir DIR (sorted by arrival):
      the raw and decoded headers the test looks at, the text part and, for
      each attachment, its file name, type, decoded size and SHA-256.
"""
import argparse
import asyncio
import hashlib
import json
import os
import re
import signal
import ssl
import sys
import time
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime


def cmd_serve(args):
    from aiosmtpd.handlers import Mailbox
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    class Handler(Mailbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            local = address.split("@", 1)[0]
            if local.startswith("reject"):
                return "550 5.1.1 no such user here"
            if local.startswith("later"):
                return "451 4.2.0 mailbox busy, try again later"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        def prepare_message(self, session, envelope):
            message = super().prepare_message(session, envelope)
            if session.authenticated and isinstance(session.auth_data, LoginPassword):
                message["X-Auth-Login"] = session.auth_data.login.decode()
            elif session.authenticated:
                message["X-Auth-Login"] = str(session.auth_data)
            return message

    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(args.maildir, sub), exist_ok=True)
    host, _, port = args.listen.rpartition(":")
    user = password = None
    if args.auth:
        user, _, password = args.auth.partition(":")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def context(pair):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.check_hostname = False
        ctx.load_cert_chain(pair[0], pair[1])
        return ctx

    starttls = context(args.starttls) if args.starttls else None
    smtps = context(args.smtps) if args.smtps else None
    handler = Handler(args.maildir)

    def factory():
        kw = dict(tls_context=starttls, require_starttls=bool(starttls))
        if args.size:
            kw.update(data_size_limit=args.size)
        if user is not None:
            # Implicit TLS is not seen as TLS by aiosmtpd's AUTH check.
            kw.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=not smtps)
        return SMTP(handler, hostname="smtp.test", **kw)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(factory, host=host, port=int(port),
                                                        ssl=smtps))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    print("listening", flush=True)
    loop.run_forever()
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()


def decoded(value):
    """A header value unfolded (RFC 5322 2.2.3) and decoded (RFC 2047)."""
    if value is None:
        return None
    return str(make_header(decode_header(re.sub(r"\r?\n(?=[ \t])", "", value))))


def cmd_show(args):
    folder = os.path.join(args.maildir, "new")
    names = sorted(os.listdir(folder), key=lambda n: os.stat(os.path.join(folder, n)).st_mtime_ns)
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            raw = f.read()
        msg = message_from_bytes(raw, policy=policy.compat32)
        out = {"file": name}
        for key in ("Date", "Message-ID", "From", "To", "Subject", "Auto-Submitted",
                    "MIME-Version", "X-MailFrom", "X-RcptTo", "X-Auth-Login"):
            out[key] = msg.get(key)
        out["Subject-decoded"] = decoded(msg.get("Subject"))
        out["From-decoded"] = decoded(msg.get("From"))
        out["content-type"] = msg.get_content_type()
        out["text"] = None
        out["attachments"] = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            filename = part.get_filename()
            data = part.get_payload(decode=True) or b""
            if filename is None and part.get_content_type() == "text/plain" \
                    and out["text"] is None:
                out["text"] = data.decode(part.get_content_charset() or "ascii", "replace")
                out["text-encoding"] = part.get("Content-Transfer-Encoding")
            else:
                out["attachments"].append({
                    "filename": filename,
                    "type": part.get_content_type(),
                    "encoding": part.get("Content-Transfer-Encoding"),
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                })
        # Date: valid RFC 5322 and within 10 minutes of now.
        try:
            age = abs(time.time() - parsedate_to_datetime(msg.get("Date")).timestamp())
            out["date-ok"] = age < 600
        except (TypeError, ValueError):
            out["date-ok"] = False
        out["message-id-ok"] = bool(re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>",
                                                 msg.get("Message-ID") or ""))
        # The lines of the headers res_smtp writes stay within 78 characters.
        head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0].decode("ascii", "replace")
        lines, current = {}, None
        for line in head.splitlines():
            if line[:1] in (" ", "\t") and current:
                lines[current].append(line)
            else:
                current = line.split(":", 1)[0].lower()
                lines.setdefault(current, []).append(line)
        out["own-headers-folded"] = all(len(line) <= 78 for key in ("subject", "from", "to")
                                        for line in lines.get(key, []))
        print(json.dumps(out, ensure_ascii=False, sort_keys=True))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--listen", required=True)
    serve.add_argument("--maildir", required=True)
    serve.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    serve.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
    serve.add_argument("--auth", metavar="USER:PASS")
    serve.add_argument("--size", type=int, metavar="BYTES")
    show = sub.add_parser("show")
    show.add_argument("maildir")
    args = parser.parse_args()
    if args.cmd == "serve":
        cmd_serve(args)
    else:
        cmd_show(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
