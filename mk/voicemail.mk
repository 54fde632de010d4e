# mk/voicemail.mk - build rules for the voicemail part (included by Makefile.am):
# app_voicemail (VoiceMail, VoiceMailMain, voicemail show, the "voicemail"
# service; audio_common.c compiled in as in the other audio applications),
# chan_sip's message-waiting part (sip_mwi.c: SUBSCRIBE/NOTIFY
# message-summary, the "mwi" service), the public header, the sample
# voicemail.conf and the unit test of the config and pure helpers.

module_LTLIBRARIES += modules/apps/app_voicemail.la
modules_apps_app_voicemail_la_SOURCES = modules/apps/app_voicemail.c modules/apps/vm.h \
	modules/apps/vm_main.c modules/apps/vm_record.c modules/apps/vm_store.c \
	modules/apps/vm_util.c modules/apps/audio_common.c modules/apps/audio_common.h \
	modules/apps/audio_rec.c modules/apps/audio_rec.h
modules_apps_app_voicemail_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_voicemail"'
modules_apps_app_voicemail_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_voicemail_la_LIBADD = $(MODULE_LIBADD) -lm

modules_channels_chan_sip_la_SOURCES += modules/channels/chan_sip/sip_mwi.c

octoinclude_HEADERS += include/octo/voicemail.h
dist_octoconf_DATA += configs/voicemail.conf

UNIT_TESTS += tests/unit/test_voicemail
tests_unit_test_voicemail_SOURCES = tests/unit/test_voicemail.c tests/unit/octo_test.h \
	modules/apps/vm_util.c modules/apps/vm.h
tests_unit_test_voicemail_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"test_voicemail"' \
	-I$(top_srcdir)/modules/apps
tests_unit_test_voicemail_LDADD = $(UNIT_LDADD)
