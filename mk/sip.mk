# mk/sip.mk - build rules for the sip part (included by Makefile.am).

# ------------------------------------------------------------------ chan_sip
module_LTLIBRARIES += modules/channels/chan_sip.la
modules_channels_chan_sip_la_SOURCES = \
	modules/channels/chan_sip/sip.h \
	modules/channels/chan_sip/chan_sip.c \
	modules/channels/chan_sip/sip_cli.c \
	modules/channels/chan_sip/sip_conf.c \
	modules/channels/chan_sip/sip_core.c \
	modules/channels/chan_sip/sip_msg.c \
	modules/channels/chan_sip/sip_transport.c \
	modules/channels/chan_sip/sip_txn.c
modules_channels_chan_sip_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_sip"' \
	$(OSIP_CFLAGS) $(OPENSSL_CFLAGS)
# -z nodelete: never unmapped, not even by lt_dlexit() at shutdown. OpenSSL
# keeps per-thread state whose destructors run when the event loop thread
# ends, after the modules are closed; libosip2 keeps global parser tables.
modules_channels_chan_sip_la_LDFLAGS = $(MODULE_LDFLAGS) -Wl,-z,nodelete
modules_channels_chan_sip_la_LIBADD = $(MODULE_LIBADD) $(OSIP_LIBS) $(OPENSSL_LIBS)

dist_octoconf_DATA += configs/sip.conf

# ------------------------------------------------------------------ tests
# The message layer alone (parser, validation, builders, keys, framing).
check_PROGRAMS += tests/unit/test_sip_msg
tests_unit_test_sip_msg_SOURCES = tests/unit/test_sip_msg.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_msg.c
tests_unit_test_sip_msg_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_sip"' \
	-I$(top_srcdir)/modules/channels/chan_sip $(OSIP_CFLAGS)
tests_unit_test_sip_msg_LDADD = $(UNIT_LDADD) $(OSIP_LIBS)

# The transaction layer on the real event loop, with a fake transport.
check_PROGRAMS += tests/unit/test_sip_txn
tests_unit_test_sip_txn_SOURCES = tests/unit/test_sip_txn.c tests/unit/octo_test.h \
	modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_txn.c \
	modules/channels/chan_sip/sip_core.c
tests_unit_test_sip_txn_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_sip"' \
	-I$(top_srcdir)/modules/channels/chan_sip $(OSIP_CFLAGS)
tests_unit_test_sip_txn_LDADD = $(UNIT_LDADD) $(OSIP_LIBS)
