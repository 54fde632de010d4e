# mk/sip.mk - build rules for the sip part (included by Makefile.am).

# ------------------------------------------------------------------ chan_sip
module_LTLIBRARIES += modules/channels/chan_sip.la
modules_channels_chan_sip_la_SOURCES = \
	modules/channels/chan_sip/sip.h \
	modules/channels/chan_sip/sip_media.h \
	modules/channels/chan_sip/sip_media.c \
	modules/channels/chan_sip/chan_sip.c \
	modules/channels/chan_sip/sip_cli.c \
	modules/channels/chan_sip/sip_conf.c \
	modules/channels/chan_sip/sip_core.c \
	modules/channels/chan_sip/sip_msg.c \
	modules/channels/chan_sip/sip_write.c \
	modules/channels/chan_sip/sip_transport.c \
	modules/channels/chan_sip/sip_udp_tx.c \
	modules/channels/chan_sip/sip_txn.c \
	modules/channels/chan_sip/sip_auth.c \
	modules/channels/chan_sip/sip_reg.c \
	modules/channels/chan_sip/sip_qualify.c \
	modules/channels/chan_sip/sip_security.c \
	modules/channels/chan_sip/sip_sdp.c \
	modules/channels/chan_sip/sip_dialog.c \
	modules/channels/chan_sip/sip_call.c \
	modules/channels/chan_sip/sip_refer.c \
	modules/channels/chan_sip/sip_moh.c \
	modules/channels/chan_sip/sip_rtcp.c \
	modules/channels/chan_sip/sip_replaces.c \
	modules/channels/chan_sip/sip_record.h \
	modules/channels/chan_sip/sip_record.c
modules_channels_chan_sip_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_sip"' \
	$(OSIP_CFLAGS) $(OPENSSL_CFLAGS) $(ORTP_CFLAGS)
# -z nodelete: never unmapped, not even by lt_dlexit() at shutdown. OpenSSL
# keeps per-thread state whose destructors run when the event loop thread
# ends, after the modules are closed; libosip2 keeps global parser tables.
modules_channels_chan_sip_la_LDFLAGS = $(MODULE_LDFLAGS) -Wl,-z,nodelete
modules_channels_chan_sip_la_LIBADD = $(MODULE_LIBADD) $(OSIP_LIBS) $(OPENSSL_LIBS) $(ORTP_LIBS)

dist_octoconf_DATA += configs/sip.conf

# What every chan_sip unit test compiles with (plus the libraries it uses).
SIP_UNIT_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_sip"' \
	-I$(top_srcdir)/modules/channels/chan_sip

# ------------------------------------------------------------------ tests
# The message layer alone (parser, validation, builders, keys, framing).
check_PROGRAMS += tests/unit/test_sip_msg
tests_unit_test_sip_msg_SOURCES = tests/unit/test_sip_msg.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_write.c
tests_unit_test_sip_msg_CPPFLAGS = $(SIP_UNIT_CPPFLAGS) $(OSIP_CFLAGS)
tests_unit_test_sip_msg_LDADD = $(UNIT_LDADD) $(OSIP_LIBS)

# The transaction layer on the real event loop, with a fake transport.
check_PROGRAMS += tests/unit/test_sip_txn
tests_unit_test_sip_txn_SOURCES = tests/unit/test_sip_txn.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_write.c modules/channels/chan_sip/sip_txn.c \
	modules/channels/chan_sip/sip_core.c
tests_unit_test_sip_txn_CPPFLAGS = $(SIP_UNIT_CPPFLAGS) $(OSIP_CFLAGS)
tests_unit_test_sip_txn_LDADD = $(UNIT_LDADD) $(OSIP_LIBS)

# The media layer alone (sip_media.c: RTP endpoints, relay, libortp) with
# test sockets as the phones; codec_g711 is compiled into the test.
check_PROGRAMS += tests/unit/test_sip_media
tests_unit_test_sip_media_SOURCES = tests/unit/test_sip_media.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_media.c modules/channels/chan_sip/sip_media.h \
	modules/channels/chan_sip/sip_rtcp.c modules/channels/chan_sip/sip_record.c \
	modules/channels/chan_sip/sip_record.h
tests_unit_test_sip_media_CPPFLAGS = $(SIP_UNIT_CPPFLAGS) $(ORTP_CFLAGS)
tests_unit_test_sip_media_LDADD = $(UNIT_LDADD) $(ORTP_LIBS)

# In-call recording (sip_record.c) on relayed legs of sip_media.c, test
# sockets as the phones, channels of a fake technology.
check_PROGRAMS += tests/unit/test_sip_record
tests_unit_test_sip_record_SOURCES = tests/unit/test_sip_record.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_media.c modules/channels/chan_sip/sip_media.h \
	modules/channels/chan_sip/sip_rtcp.c modules/channels/chan_sip/sip_record.c \
	modules/channels/chan_sip/sip_record.h
tests_unit_test_sip_record_CPPFLAGS = $(SIP_UNIT_CPPFLAGS) $(ORTP_CFLAGS)
tests_unit_test_sip_record_LDADD = $(UNIT_LDADD) $(ORTP_LIBS)

# Digest authentication and IP bans: vectors, nonces, sip_auth_request on the
# real loop with a fake transport and users service, bans on a fake clock.
check_PROGRAMS += tests/unit/test_sip_auth
tests_unit_test_sip_auth_SOURCES = tests/unit/test_sip_auth.c tests/unit/octo_test.h \
	tests/unit/sip_test_util.h \
	modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_write.c modules/channels/chan_sip/sip_txn.c \
	modules/channels/chan_sip/sip_core.c modules/channels/chan_sip/sip_auth.c \
	modules/channels/chan_sip/sip_security.c
tests_unit_test_sip_auth_CPPFLAGS = $(SIP_UNIT_CPPFLAGS) $(OSIP_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_sip_auth_LDADD = $(UNIT_LDADD) $(OSIP_LIBS) $(OPENSSL_LIBS)

# SDP offer/answer of the calls part (sip_sdp.c alone).
check_PROGRAMS += tests/unit/test_sip_sdp
tests_unit_test_sip_sdp_SOURCES = tests/unit/test_sip_sdp.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_sdp.c
tests_unit_test_sip_sdp_CPPFLAGS = $(SIP_UNIT_CPPFLAGS) $(OSIP_CFLAGS)
tests_unit_test_sip_sdp_LDADD = $(UNIT_LDADD) $(OSIP_LIBS)

# Transfers: the Refer-To parsing of sip_refer.c (included by the test, with
# the stack and the calls part stubbed) against libosip2's URI parser.
check_PROGRAMS += tests/unit/test_sip_refer
tests_unit_test_sip_refer_SOURCES = tests/unit/test_sip_refer.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_write.c
tests_unit_test_sip_refer_CPPFLAGS = $(SIP_UNIT_CPPFLAGS) $(OSIP_CFLAGS)
tests_unit_test_sip_refer_LDADD = $(UNIT_LDADD) $(OSIP_LIBS)

# The UDP sending thread (sip_udp_tx.c, included by the test; over loopback).
check_PROGRAMS += tests/unit/test_sip_udp_tx
tests_unit_test_sip_udp_tx_SOURCES = tests/unit/test_sip_udp_tx.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_write.c
tests_unit_test_sip_udp_tx_CPPFLAGS = $(SIP_UNIT_CPPFLAGS) $(OSIP_CFLAGS)
tests_unit_test_sip_udp_tx_LDADD = $(UNIT_LDADD) $(OSIP_LIBS)

# The ended dialogs of INVITE with Replaces (sip_replaces.c, calls stubbed).
check_PROGRAMS += tests/unit/test_sip_replaces
tests_unit_test_sip_replaces_SOURCES = tests/unit/test_sip_replaces.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_write.c
tests_unit_test_sip_replaces_CPPFLAGS = $(SIP_UNIT_CPPFLAGS) $(OSIP_CFLAGS)
tests_unit_test_sip_replaces_LDADD = $(UNIT_LDADD) $(OSIP_LIBS)

# RTCP checks of the media layer (sip_rtcp.c alone): compound packets,
# report blocks, the report text of `sip show channel`.
check_PROGRAMS += tests/unit/test_sip_rtcp
tests_unit_test_sip_rtcp_SOURCES = tests/unit/test_sip_rtcp.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_rtcp.c modules/channels/chan_sip/sip_media.h
tests_unit_test_sip_rtcp_CPPFLAGS = $(SIP_UNIT_CPPFLAGS)
tests_unit_test_sip_rtcp_LDADD = $(UNIT_LDADD)
