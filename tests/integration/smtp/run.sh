#!/usr/bin/env bash
# smtp: res_smtp against real SMTP servers on 127.0.0.1 (Debian's
# python3-aiosmtpd): `mail send test` arrives in a maildir with Date,
# Message-ID, From, To and an RFC 2047 subject; an attachment arrives
# byte-identical; files outside the data folder, FIFOs, oversized files and
# bad addresses are refused; with the server down the message stays queued
# with the error in `mail show queue`, survives a daemon restart and its
# deleted source file, and `mail flush` (or the retry) delivers it;
# recipients refused with 5xx are dropped and with 4xx retried alone;
# STARTTLS with login, a wrong password, an untrusted certificate, SMTPS; a
# reload with an error is refused with file:line; and a stop while a server
# hangs is not held up. Every server is stopped at the end.
. "$(dirname "$0")/../lib.sh"

HELPER="$OCTO_CASE_DIR/smtp_helper.py"
octo_need_aiosmtpd || exit 1

# ---------------------------------------------------------------- SMTP servers
# One server at a time per port; the EXIT trap stops them, and each ends by
# itself after 5 minutes should the trap never run.
declare -A srv_pid=()

# srv_wait PORT: until something accepts connections on 127.0.0.1:PORT (10 s).
srv_wait()
{
	wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1"
}

# srv_plain PORT MAILDIR: the stock aiosmtpd server with its Mailbox handler.
srv_plain()
{
	mkdir -p "$2/tmp" "$2/new" "$2/cur"
	timeout 300 "$SMTP_PY" -m aiosmtpd -n -l "127.0.0.1:$1" -c aiosmtpd.handlers.Mailbox "$2" \
		>>"$OCTO_TMP/smtpd-$1.log" 2>&1 </dev/null &
	srv_pid[$1]=$!
	srv_wait "$1"
}

# srv_helper PORT MAILDIR [OPTIONS...]: smtp_helper.py serve (RCPT rules, TLS, login).
srv_helper()
{
	local port=$1 dir=$2
	shift 2
	timeout 300 "$SMTP_PY" "$HELPER" serve --listen "127.0.0.1:$port" --maildir "$dir" "$@" \
		>>"$OCTO_TMP/smtpd-$port.log" 2>&1 </dev/null &
	srv_pid[$port]=$!
	srv_wait "$port"
}

# srv_stop PORT
srv_stop()
{
	local pid=${srv_pid[$1]:-}
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "srv_pid[$1]"
}

smtp_cleanup()
{
	local port
	for port in "${!srv_pid[@]}"; do
		srv_stop "$port"
	done
}
trap 'smtp_status=$?; smtp_cleanup; (exit $smtp_status); lib_exit' EXIT

# ---------------------------------------------------------------- helpers
# mbox_count DIR: messages delivered into the maildir DIR.
mbox_count()
{
	find "$1/new" -type f 2>/dev/null | wc -l
}

# mbox_has DIR N: DIR holds at least N messages (for wait_until).
mbox_has()
{
	[ "$(mbox_count "$1")" -ge "$2" ]
}

# mbox_last DIR: the newest message of DIR as one JSON line (smtp_helper.py show).
mbox_last()
{
	"$SMTP_PY" "$HELPER" show "$1" | tail -n 1
}

# check_mail NAME DIR TEXT: the newest message of DIR has TEXT in its JSON.
check_mail()
{
	check_output "$1" "$3" mbox_last "$2"
}

# queue_has TEXT: `mail show queue` (JSON) contains TEXT.
queue_has()
{
	octo_rx_json mail show queue | grep -qF -- "$1"
}

# queued_id: the id that the last `mail send test` answered (from $OCTO_OUT).
queued_id()
{
	sed -n 's/.*"queued":"\([0-9]*\)".*/\1/p' "$OCTO_OUT"
}

# cli_error CMD...: the CLI command's output (errors go to stderr), never failing.
cli_error()
{
	"$OCTO_BIN" -s "$OCTO_SOCK" -rx "$*" 2>&1 </dev/null
	return 0
}

# conf_del KEY / conf_set KEY VALUE: removes / sets a key of [general] in the
# running smtp.conf (the only section: a key set is appended at the end).
conf_del()
{
	sed -i "/^$1 = /d" "$OCTO_CONF/smtp.conf"
}

conf_set()
{
	conf_del "$1"
	printf '%s = %s\n' "$1" "$2" >>"$OCTO_CONF/smtp.conf"
}

# ---------------------------------------------------------------- setup
p1=$(octo_free_port) || exit 1
p2=$(octo_free_port) || exit 1
p3=$(octo_free_port) || exit 1
p4=$(octo_free_port) || exit 1
mb1="$OCTO_TMP/mbox-plain"
mb2="$OCTO_TMP/mbox-rules"
mb3="$OCTO_TMP/mbox-tls"
data="$OCTO_STATE/data"

octo_config_dir "$OCTO_SRC/configs" "$OCTO_CASE_DIR/configs"
sed -i "s/@SMTP_PORT@/$p1/" "$OCTO_CONF/smtp.conf"
srv_plain "$p1" "$mb1" || fail "$OCTO_CASE/setup" "aiosmtpd does not listen on port $p1"
octo_start || exit 1

check_rx "res_smtp loaded" "res_smtp" module show like res_smtp
check_output "settings: the server" '"server":"127.0.0.1","port":"'"$p1"'"' \
	octo_rx_json mail show settings
check_output "settings: the retry schedule" '"retry":"10s"' octo_rx_json mail show settings
check_output "settings: no password shown" '"password":"not set"' octo_rx_json mail show settings

# ---------------------------------------------------------------- a test message
check_output "mail send test queues" '"queued":"' octo_rx_json mail send test alice@octo.test
if wait_until 10 mbox_has "$mb1" 1; then
	pass "the test message arrives"
else
	fail "the test message arrives" "nothing in $mb1/new after 10 s"
	lib_show "$OCTO_LOG" 30 "daemon log"
fi
check_mail "From: name and address" "$mb1" '"From": "\"Octo PBX\" <pbx@octo.test>"'
check_mail "To: the recipient" "$mb1" '"To": "alice@octo.test"'
check_mail "Subject" "$mb1" '"Subject": "Octo test message"'
check_mail "Date: valid and recent" "$mb1" '"date-ok": true'
check_mail "Message-ID: <...@octo.test>" "$mb1" '"message-id-ok": true'
check_mail "Auto-Submitted" "$mb1" '"Auto-Submitted": "auto-generated"'
check_mail "envelope sender" "$mb1" '"X-MailFrom": "pbx@octo.test"'
check_mail "the text part" "$mb1" 'the mail settings in smtp.conf work.\n'
check_mail "the text is quoted-printable UTF-8" "$mb1" '"text-encoding": "quoted-printable"'
if wait_until 5 queue_has '"queued":"0"'; then
	pass "the queue is empty after delivery"
else
	fail "the queue is empty after delivery" "$(octo_rx mail show queue)"
fi
check_output "sent counter" '"sent":"1"' octo_rx_json mail show queue

# Non-ASCII subject (RFC 2047, folded) and two recipients.
subject='Prova di posta – àèìòù ✓ with a subject long enough to need several encoded words'
check_output "queued with a UTF-8 subject" '"queued":"' \
	octo_rx_json mail send test "bob@octo.test,carol@octo.test" subject "$subject"
wait_until 10 mbox_has "$mb1" 2
check_mail "subject decodes to the UTF-8 text" "$mb1" "\"Subject-decoded\": \"$subject\""
check_mail "subject sent as encoded words" "$mb1" '"Subject": "=?UTF-8?B?'
check_mail "Subject, From, To lines within 78 characters" "$mb1" '"own-headers-folded": true'
check_mail "To: both recipients" "$mb1" '"To": "bob@octo.test, carol@octo.test"'
check_mail "envelope: both recipients" "$mb1" '"X-RcptTo": "bob@octo.test, carol@octo.test"'
long='A plain ASCII subject that is long enough to be folded at a blank before it passes 78 columns'
octo_rx mail send test bob@octo.test subject "$long" >/dev/null
wait_until 10 mbox_has "$mb1" 3
check_mail "a long ASCII subject comes back whole" "$mb1" "\"Subject-decoded\": \"$long\""
check_mail "... folded within 78 characters" "$mb1" '"own-headers-folded": true'

# A display name that is not ASCII is encoded too; unload and load again
# (the module is resident: libcurl stays initialised) keeps everything working.
conf_set from_name 'Centralino – Ufficio "Nord"'
check_output "reload with a UTF-8 from_name" "" octo_rx module reload res_smtp
check_output "module unload res_smtp" "" octo_rx module unload res_smtp
check_fails "no mail commands while unloaded" octo_rx mail show settings
check_output "module load res_smtp" "" octo_rx module load res_smtp
check_output "queued after unload and load" '"queued":"' octo_rx_json mail send test oscar@octo.test
wait_until 10 mbox_has "$mb1" 4
check_mail "From: the UTF-8 name decodes" "$mb1" \
	'"From-decoded": "Centralino – Ufficio \"Nord\" <pbx@octo.test>"'
check_mail "From: sent as encoded words" "$mb1" '"From": "=?UTF-8?B?'
conf_set from_name 'Octo PBX'
octo_rx module reload res_smtp >/dev/null

# ---------------------------------------------------------------- attachments
mkdir -p "$data/test"
head -c 50000 /dev/urandom >"$data/test/blob.wav"
sum=$(sha256sum "$data/test/blob.wav" | cut -d' ' -f1)
check_output "queued with an attachment" '"queued":"' \
	octo_rx_json mail send test dave@octo.test test/blob.wav
wait_until 10 mbox_has "$mb1" 5
check_mail "the attachment arrives identical" "$mb1" \
	'"encoding": "base64", "filename": "blob.wav", "sha256": "'"$sum"'", "size": 50000, "type": "audio/wav"'
check_mail "the text part is there too" "$mb1" 'Attached: '
if [ -z "$(ls -A "$data/mail/spool")" ]; then
	pass "the spool is empty after delivery"
else
	fail "the spool is empty after delivery" "$(ls "$data/mail/spool")"
fi

check_fails "a file outside the data folder is refused" octo_rx mail send test e@octo.test /etc/hostname
check_output "... and says why" "is not inside the data folder" \
	cli_error mail send test e@octo.test /etc/hostname
check_output "a path out of the data folder is refused" "is not inside the data folder" \
	cli_error mail send test e@octo.test ../../../../../../../../../../../../../../../../../../../../etc/hostname
ln -s /etc/hostname "$data/test/link"
check_output "a link out of the data folder is refused" "is not inside the data folder" \
	cli_error mail send test e@octo.test test/link
mkfifo "$data/test/fifo"
check_fails "a FIFO is refused (and does not hang)" timeout 10 "$OCTO_BIN" -s "$OCTO_SOCK" \
	-rx "mail send test e@octo.test test/fifo"
check_output "... the log says why" "test/fifo is not a regular file" cat "$OCTO_LOG"
head -c 150000 /dev/zero >"$data/test/big.bin"
check_fails "an attachment over max_attachments_size is refused" \
	octo_rx mail send test e@octo.test test/big.bin
check_output "... the log says why" "goes beyond max_attachments_size" cat "$OCTO_LOG"
check_output "a bad address is refused" '"not an address" is not an e-mail address' \
	cli_error mail send test '"not an address"'
check_output "an address with <> is refused" '"x@octo.test>" is not an e-mail address' \
	cli_error mail send test 'x@octo.test>'
check_output "nothing queued by the refusals" '"queued":"0"' octo_rx_json mail show queue
if [ -z "$(ls -A "$data/mail/spool")" ]; then
	pass "no spool file left by the refusals"
else
	fail "no spool file left by the refusals" "$(ls "$data/mail/spool")"
fi

# ---------------------------------------------------------------- server down
srv_stop "$p1"
head -c 30000 /dev/urandom >"$data/test/later.wav"
sum=$(sha256sum "$data/test/later.wav" | cut -d' ' -f1)
check_output "queued while the server is down" '"queued":"' \
	octo_rx_json mail send test erin@octo.test test/later.wav
id=$(queued_id)
rm -f "$data/test/later.wav"
if wait_until 10 queue_has "Failed to connect to 127.0.0.1 port $p1"; then
	pass "the connection error is shown in the queue"
else
	fail "the connection error is shown in the queue" "$(octo_rx mail show queue)"
fi
check_output "one attempt, still queued" '["'"$id"'","erin@octo.test","Octo test message","1"' \
	octo_rx_json mail show queue

octo_stop
octo_start || exit 1
check_output "the queue survives a restart" '["'"$id"'","erin@octo.test","Octo test message","1"' \
	octo_rx_json mail show queue
check_output "... with its error" "Failed to connect to 127.0.0.1 port $p1" \
	octo_rx_json mail show queue

n=$(mbox_count "$mb1")
srv_plain "$p1" "$mb1"
check_output "mail flush" '"retrying":"1"' octo_rx_json mail flush
if wait_until 10 mbox_has "$mb1" $((n + 1)); then
	pass "mail flush delivers it"
else
	fail "mail flush delivers it" "nothing new in $mb1/new"
	lib_show "$OCTO_LOG" 30 "daemon log"
fi
check_mail "the attachment survived its deleted source" "$mb1" \
	'"filename": "later.wav", "sha256": "'"$sum"'", "size": 30000'
check_mail "the flushed message is the one queued" "$mb1" '"To": "erin@octo.test"'
wait_until 5 queue_has '"queued":"0"'
check_output "the queue is empty again" '"queued":"0"' octo_rx_json mail show queue

# The retry schedule (retry = 10s) alone delivers too.
srv_stop "$p1"
octo_rx mail send test frank@octo.test >/dev/null
wait_until 10 queue_has "Failed to connect" # one attempt made
n=$(mbox_count "$mb1")
srv_plain "$p1" "$mb1"
if wait_until 25 mbox_has "$mb1" $((n + 1)); then
	pass "the retry delivers without a flush"
else
	fail "the retry delivers without a flush" "$(octo_rx mail show queue)"
fi
check_mail "... to the right recipient" "$mb1" '"To": "frank@octo.test"'
srv_stop "$p1"

# ---------------------------------------------------------------- recipients judged one by one
srv_helper "$p1" "$mb2" --size 40000
check_output "queued for three recipients" '"queued":"' octo_rx_json mail send test \
	"ok@octo.test,reject@octo.test,later@octo.test" subject Mixed recipients
id=$(queued_id)
wait_until 10 mbox_has "$mb2" 1
check_mail "the accepted recipient gets it" "$mb2" '"X-RcptTo": "ok@octo.test"'
if wait_until 10 grep -q "reject@octo.test refused by the server for good: 550 5.1.1 no such user here" \
	"$OCTO_LOG"; then
	pass "a 5xx recipient is dropped with a warning"
else
	fail "a 5xx recipient is dropped with a warning" "no warning in the log"
fi
check_output "a 4xx recipient stays queued alone" \
	'["'"$id"'","later@octo.test","Mixed recipients","1"' octo_rx_json mail show queue
check_output "... with the server's answer" \
	'"RCPT TO <later@octo.test>: 451 4.2.0 mailbox busy, try again later"' \
	octo_rx_json mail show queue
check_output "mail delete" "Message $id deleted." octo_rx mail delete "$id"
check_output "mail delete of an unknown id" "No queued message 999999" \
	cli_error mail delete 999999
check_output "the queue is empty after the delete" '"queued":"0"' octo_rx_json mail show queue
octo_rx mail send test reject-only@octo.test subject Nobody >/dev/null
if wait_until 10 grep -q "reject-only@octo.test refused by the server for good" "$OCTO_LOG"; then
	pass "a message refused for every recipient is dropped"
else
	fail "a message refused for every recipient is dropped" "no warning in the log"
fi
wait_until 5 queue_has '"queued":"0"'
check_output "... and leaves the queue" '"queued":"0"' octo_rx_json mail show queue

# Too big for the server (552): dropped at once, with a warning.
check_output "queued: too big for the server" '"queued":"' \
	octo_rx_json mail send test big@octo.test test/blob.wav
id=$(queued_id)
if wait_until 10 grep -q "mail $id from cli to big@octo.test (\"Octo test message\") dropped after 1 attempt: .*552" \
	"$OCTO_LOG"; then
	pass "a message too big for the server is dropped"
else
	fail "a message too big for the server is dropped" "no warning in the log"
	lib_show "$OCTO_LOG" 10 "daemon log"
fi
wait_until 5 queue_has '"queued":"0"'
check_output "... and leaves the queue" '"queued":"0"' octo_rx_json mail show queue
check_output "... counted as dropped" '"dropped":"2"' octo_rx_json mail show queue
srv_stop "$p1"

# ---------------------------------------------------------------- TLS and login
if command -v openssl >/dev/null 2>&1 &&
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
		-keyout "$OCTO_TMP/key.pem" -out "$OCTO_TMP/cert.pem" >/dev/null 2>&1; then
	srv_helper "$p2" "$mb3" --starttls "$OCTO_TMP/cert.pem" "$OCTO_TMP/key.pem" \
		--auth 'octo:s3cr3t;pass'
	conf_set port "$p2"
	conf_set security starttls
	conf_set ca_file "$OCTO_TMP/cert.pem"
	conf_set username octo
	conf_set password 's3cr3t\;pass'
	check_output "reload for STARTTLS with login" "" octo_rx module reload res_smtp
	check_output "settings: starttls" '"security":"starttls"' octo_rx_json mail show settings
	check_output "settings: the password is set, not shown" '"password":"set"' \
		octo_rx_json mail show settings
	octo_rx mail send test grace@octo.test subject Over STARTTLS >/dev/null
	if wait_until 10 mbox_has "$mb3" 1; then
		pass "delivered over STARTTLS with login"
	else
		fail "delivered over STARTTLS with login" "$(octo_rx mail show queue)"
	fi
	check_mail "the server saw the login" "$mb3" '"X-Auth-Login": "octo"'

	conf_set password wrong
	octo_rx module reload res_smtp >/dev/null
	octo_rx mail send test heidi@octo.test subject Wrong password >/dev/null
	if wait_until 10 queue_has 'Login denied'; then
		pass "a wrong password: the error is shown, the message stays"
	else
		fail "a wrong password: the error is shown, the message stays" \
			"$(octo_rx mail show queue)"
	fi
	check_output "... with the server's answer" '535 5.7.8 Authentication credentials invalid' \
		octo_rx_json mail show queue

	conf_set password 's3cr3t\;pass'
	conf_del ca_file
	octo_rx module reload res_smtp >/dev/null
	octo_rx mail flush >/dev/null
	if wait_until 10 queue_has 'certificate'; then
		pass "an untrusted certificate is refused (tls_verify)"
	else
		fail "an untrusted certificate is refused (tls_verify)" "$(octo_rx mail show queue)"
	fi

	conf_set ca_file "$OCTO_TMP/cert.pem"
	octo_rx module reload res_smtp >/dev/null
	octo_rx mail flush >/dev/null
	if wait_until 10 mbox_has "$mb3" 2; then
		pass "trusted again: the waiting message goes"
	else
		fail "trusted again: the waiting message goes" "$(octo_rx mail show queue)"
	fi
	check_mail "... it is the one that waited" "$mb3" '"To": "heidi@octo.test"'
	srv_stop "$p2"

	srv_helper "$p3" "$mb3" --smtps "$OCTO_TMP/cert.pem" "$OCTO_TMP/key.pem" \
		--auth 'octo:s3cr3t;pass'
	conf_set port "$p3"
	conf_set security tls
	octo_rx module reload res_smtp >/dev/null
	octo_rx mail send test ivan@octo.test subject Over SMTPS >/dev/null
	if wait_until 10 mbox_has "$mb3" 3; then
		pass "delivered over SMTPS with login"
	else
		fail "delivered over SMTPS with login" "$(octo_rx mail show queue)"
	fi
	check_mail "... with the login" "$mb3" '"X-Auth-Login": "octo"'
	srv_stop "$p3"
else
	echo "NOTE $OCTO_CASE: openssl cannot make a certificate: the TLS cases are skipped"
fi

# ---------------------------------------------------------------- configuration errors
cp "$OCTO_CONF/smtp.conf" "$OCTO_TMP/smtp.conf.good"
conf_set security tlss
line=$(grep -n '^security = tlss$' "$OCTO_CONF/smtp.conf" | cut -d: -f1)
check_fails "a reload with an error is refused" octo_rx module reload res_smtp
check_output "the error names file:line" \
	"smtp.conf:$line: [general] security: \"tlss\" is not one of none|starttls|tls" \
	cli_error module reload res_smtp
check_output "the running settings stay" '"server":"127.0.0.1"' octo_rx_json mail show settings
check_fails "octo -t catches it" "$OCTO_BIN" -t -C "$OCTO_CONF" -M "$OCTO_MODDIR"
cp "$OCTO_TMP/smtp.conf.good" "$OCTO_CONF/smtp.conf"
conf_del from
check_output "a missing from is an error" "[general] from: required option missing" \
	cli_error module reload res_smtp
cp "$OCTO_TMP/smtp.conf.good" "$OCTO_CONF/smtp.conf"
conf_set retry "1m, soon"
check_output "a bad retry list is an error" \
	'[general] retry: "1m, soon" is not a list of delays (like 1m, 5m, 30m, 2h)' \
	cli_error module reload res_smtp

# ---------------------------------------------------------------- a server that hangs
# It accepts the connection and never greets: the stop must not wait for it.
cp "$OCTO_TMP/smtp.conf.good" "$OCTO_CONF/smtp.conf"
conf_set port "$p4"
conf_set security none
conf_del ca_file
conf_del username
conf_del password
conf_set connect_timeout 5m
conf_set timeout 1h
octo_rx module reload res_smtp >/dev/null
"$SMTP_PY" -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
conns = []
end = time.time() + 60
while time.time() < end:
    c, _ = s.accept()
    conns.append(c)
' "$p4" >/dev/null 2>&1 </dev/null &
srv_pid[$p4]=$!
srv_wait "$p4"
octo_rx mail send test judy@octo.test subject Hanging >/dev/null
if wait_until 10 queue_has '"sending"'; then
	pass "the message is on the wire to the silent server"
else
	fail "the message is on the wire to the silent server" "$(octo_rx mail show queue)"
fi
start=$SECONDS
octo_stop
if [ $((SECONDS - start)) -le 5 ]; then
	pass "the stop is not held up by the silent server"
else
	fail "the stop is not held up by the silent server" "it took $((SECONDS - start)) s"
fi
srv_stop "$p4"
