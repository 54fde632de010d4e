# mk/echo.mk - build rules for frames and the Echo application (included by Makefile.am).

# ------------------------------------------------------------------ core
# Generic audio frames: octo_chan_read_frame/octo_chan_write_frame.
core_libocto_la_SOURCES += core/frame.c
octoinclude_HEADERS += include/octo/frame.h

# ------------------------------------------------------------------ modules
module_LTLIBRARIES += modules/apps/app_echo.la
modules_apps_app_echo_la_SOURCES = modules/apps/app_echo.c
modules_apps_app_echo_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_echo"'
modules_apps_app_echo_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_echo_la_LIBADD = $(MODULE_LIBADD)

# ------------------------------------------------------------------ tests
# Frames through fake channel technologies, and Echo (app_echo.c is
# compiled into the test).
UNIT_TESTS += tests/unit/test_frame
tests_unit_test_frame_SOURCES = tests/unit/test_frame.c tests/unit/octo_test.h
tests_unit_test_frame_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_echo"'
tests_unit_test_frame_LDADD = $(UNIT_LDADD)
