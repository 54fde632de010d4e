# mk/playback.mk - build rules for the audio applications (included by Makefile.am):
# app_playback (Playback, Background, SayDigits, SayNumber, SayDate), app_read
# (Read, WaitDigits), app_record (Record), app_moh (MusicOnHold and
# musiconhold.conf), the code they share (audio_common.c, compiled into each)
# and its unit test. The Test channel's audio path is in chan_test (Makefile.am).

AUDIO_COMMON = modules/apps/audio_common.c modules/apps/audio_common.h

module_LTLIBRARIES += \
	modules/apps/app_playback.la \
	modules/apps/app_read.la \
	modules/apps/app_record.la \
	modules/apps/app_moh.la

modules_apps_app_playback_la_SOURCES = modules/apps/app_playback.c $(AUDIO_COMMON)
modules_apps_app_playback_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_playback"'
modules_apps_app_playback_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_playback_la_LIBADD = $(MODULE_LIBADD)

modules_apps_app_read_la_SOURCES = modules/apps/app_read.c $(AUDIO_COMMON)
modules_apps_app_read_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_read"'
modules_apps_app_read_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_read_la_LIBADD = $(MODULE_LIBADD)

modules_apps_app_record_la_SOURCES = modules/apps/app_record.c $(AUDIO_COMMON) \
	modules/apps/audio_rec.c modules/apps/audio_rec.h
modules_apps_app_record_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_record"'
modules_apps_app_record_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_record_la_LIBADD = $(MODULE_LIBADD) -lm

modules_apps_app_moh_la_SOURCES = modules/apps/app_moh.c $(AUDIO_COMMON)
modules_apps_app_moh_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_moh"'
modules_apps_app_moh_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_moh_la_LIBADD = $(MODULE_LIBADD)

dist_octoconf_DATA += configs/musiconhold.conf

# The say rules, dates, the pattern look-ahead of Background and features.conf
# keys (audio_common.c compiled into the test).
UNIT_TESTS += tests/unit/test_playback
tests_unit_test_playback_SOURCES = tests/unit/test_playback.c tests/unit/octo_test.h \
	$(AUDIO_COMMON)
tests_unit_test_playback_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"test_playback"'
tests_unit_test_playback_LDADD = $(UNIT_LDADD)
