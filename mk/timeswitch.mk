# mk/timeswitch.mk - build rules for the timeswitch part (included by Makefile.am):
# the PBX clock and time zones (core/clock.c), app_timetable (CheckTimetable,
# timetables.conf), app_switch (CheckSwitch, SetSwitch, switches.conf), their
# sample configs and the unit test.

# ------------------------------------------------------------------ core
core_libocto_la_SOURCES += core/clock.c
octoinclude_HEADERS += include/octo/clock.h

# ------------------------------------------------------------------ modules
module_LTLIBRARIES += modules/apps/app_timetable.la modules/apps/app_switch.la

modules_apps_app_timetable_la_SOURCES = modules/apps/app_timetable.c
modules_apps_app_timetable_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_timetable"'
modules_apps_app_timetable_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_timetable_la_LIBADD = $(MODULE_LIBADD)

modules_apps_app_switch_la_SOURCES = modules/apps/app_switch.c
modules_apps_app_switch_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_switch"'
modules_apps_app_switch_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_switch_la_LIBADD = $(MODULE_LIBADD)

dist_octoconf_DATA += configs/timetables.conf configs/switches.conf

# ------------------------------------------------------------------ tests
# The time zone reader of core/clock.c, and app_timetable.c compiled into
# the test (#include) to reach its parser and its evaluation.
UNIT_TESTS += tests/unit/test_timetable
tests_unit_test_timetable_SOURCES = tests/unit/test_timetable.c tests/unit/octo_test.h
tests_unit_test_timetable_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_timetable"'
tests_unit_test_timetable_LDADD = $(UNIT_LDADD)
