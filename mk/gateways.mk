# mk/gateways.mk - build rules for the gateways part (included by Makefile.am):
# the gateway channel modules chan_fxs, chan_fxo, chan_bri, chan_pri, chan_gsm
# and chan_dect (each with its own copy of gateway_common.c and
# gateway_runtime.c), the sample gateways.conf, the unit test of the device
# model and the simulators.

GATEWAY_COMMON = modules/channels/gateway_common.c modules/channels/gateway_common.h \
	modules/channels/gateway_runtime.c

module_LTLIBRARIES += modules/channels/chan_fxs.la modules/channels/chan_fxo.la \
	modules/channels/chan_bri.la modules/channels/chan_pri.la \
	modules/channels/chan_gsm.la modules/channels/chan_dect.la

modules_channels_chan_fxs_la_SOURCES = modules/channels/chan_fxs.c $(GATEWAY_COMMON)
modules_channels_chan_fxs_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_fxs"'
modules_channels_chan_fxs_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_channels_chan_fxs_la_LIBADD = $(MODULE_LIBADD)

modules_channels_chan_fxo_la_SOURCES = modules/channels/chan_fxo.c $(GATEWAY_COMMON)
modules_channels_chan_fxo_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_fxo"'
modules_channels_chan_fxo_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_channels_chan_fxo_la_LIBADD = $(MODULE_LIBADD)

modules_channels_chan_bri_la_SOURCES = modules/channels/chan_bri.c $(GATEWAY_COMMON)
modules_channels_chan_bri_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_bri"'
modules_channels_chan_bri_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_channels_chan_bri_la_LIBADD = $(MODULE_LIBADD)

modules_channels_chan_pri_la_SOURCES = modules/channels/chan_pri.c $(GATEWAY_COMMON)
modules_channels_chan_pri_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_pri"'
modules_channels_chan_pri_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_channels_chan_pri_la_LIBADD = $(MODULE_LIBADD)

modules_channels_chan_gsm_la_SOURCES = modules/channels/chan_gsm.c $(GATEWAY_COMMON)
modules_channels_chan_gsm_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_gsm"'
modules_channels_chan_gsm_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_channels_chan_gsm_la_LIBADD = $(MODULE_LIBADD)

modules_channels_chan_dect_la_SOURCES = modules/channels/chan_dect.c $(GATEWAY_COMMON)
modules_channels_chan_dect_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"chan_dect"'
modules_channels_chan_dect_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_channels_chan_dect_la_LIBADD = $(MODULE_LIBADD)

dist_octoconf_DATA += configs/gateways.conf

UNIT_TESTS += tests/unit/test_gateway_common
tests_unit_test_gateway_common_SOURCES = tests/unit/test_gateway_common.c tests/unit/octo_test.h \
	$(GATEWAY_COMMON)
tests_unit_test_gateway_common_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/modules/channels \
	-DOCTO_MODULE_NAME='"test_gateway"' -DTEST_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_gateway_common_LDADD = $(UNIT_LDADD)
