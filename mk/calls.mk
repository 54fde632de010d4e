# mk/calls.mk - build rules for the calls part (included by Makefile.am):
# outgoing channels, dial sets and bridges in the core, the Dial application.

core_libocto_la_SOURCES += core/bridge.c
octoinclude_HEADERS += include/octo/bridge.h

module_LTLIBRARIES += modules/apps/app_dial.la
modules_apps_app_dial_la_SOURCES = modules/apps/app_dial.c
modules_apps_app_dial_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_dial"'
modules_apps_app_dial_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_dial_la_LIBADD = $(MODULE_LIBADD)

UNIT_TESTS += tests/unit/test_bridge
tests_unit_test_bridge_SOURCES = tests/unit/test_bridge.c tests/unit/octo_test.h
tests_unit_test_bridge_LDADD = $(UNIT_LDADD)
