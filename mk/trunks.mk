# mk/trunks.mk - build rules for the trunks part (included by Makefile.am):
# the SIP peers service of chan_sip (include/octo/sip.h: sip_peer.c,
# outbound registration and qualify in sip_regout.c), trunks of any kind in
# the registry (include/octo/trunk.h, core/trunk.c), and app_trunk (SIP
# trunks and trunk groups from trunks.conf, DialTrunk, DialTrunkGroup,
# `trunk show`).

octoinclude_HEADERS += include/octo/sip.h include/octo/trunk.h

core_libocto_la_SOURCES += core/trunk.c

modules_channels_chan_sip_la_SOURCES += \
	modules/channels/chan_sip/sip_peer.h \
	modules/channels/chan_sip/sip_peer.c \
	modules/channels/chan_sip/sip_regout.c \
	modules/channels/chan_sip/sip_hostname.h

module_LTLIBRARIES += modules/apps/app_trunk.la
modules_apps_app_trunk_la_SOURCES = modules/apps/app_trunk.c \
	modules/channels/chan_sip/sip_hostname.h
modules_apps_app_trunk_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_trunk"'
modules_apps_app_trunk_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_trunk_la_LIBADD = $(MODULE_LIBADD)

dist_octoconf_DATA += configs/trunks.conf

# Trunks in the registry (core/trunk.c).
UNIT_TESTS += tests/unit/test_trunk
tests_unit_test_trunk_SOURCES = tests/unit/test_trunk.c tests/unit/octo_test.h
tests_unit_test_trunk_LDADD = $(UNIT_LDADD)

# Outbound registration and digest answers (sip_regout.c) on the real loop
# and transaction layer, with a fake transport; the peer table is stubbed.
check_PROGRAMS += tests/unit/test_sip_regout
tests_unit_test_sip_regout_SOURCES = tests/unit/test_sip_regout.c tests/unit/octo_test.h \
	tests/unit/sip_test_util.h \
	modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_write.c modules/channels/chan_sip/sip_txn.c \
	modules/channels/chan_sip/sip_core.c modules/channels/chan_sip/sip_auth.c \
	modules/channels/chan_sip/sip_security.c modules/channels/chan_sip/sip_regout.c
tests_unit_test_sip_regout_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_sip"' \
	-I$(top_srcdir)/modules/channels/chan_sip $(OSIP_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_sip_regout_LDADD = $(UNIT_LDADD) $(OSIP_LIBS) $(OPENSSL_LIBS)

# The "sip" service (sip_peer.c): peers, routing, dynamic peers, MESSAGE,
# NOTIFY, devices providers, on the real loop with a fake transport.
check_PROGRAMS += tests/unit/test_sip_peer
tests_unit_test_sip_peer_SOURCES = tests/unit/test_sip_peer.c tests/unit/octo_test.h \
	tests/unit/sip_test_util.h \
	modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_write.c modules/channels/chan_sip/sip_txn.c \
	modules/channels/chan_sip/sip_core.c modules/channels/chan_sip/sip_auth.c \
	modules/channels/chan_sip/sip_security.c modules/channels/chan_sip/sip_regout.c \
	modules/channels/chan_sip/sip_peer.c modules/channels/chan_sip/sip_dialog.c
tests_unit_test_sip_peer_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_sip"' \
	-I$(top_srcdir)/modules/channels/chan_sip $(OSIP_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_sip_peer_LDADD = $(UNIT_LDADD) $(OSIP_LIBS) $(OPENSSL_LIBS)
