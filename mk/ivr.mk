# mk/ivr.mk - build rules for the ivr part (included by Makefile.am): app_ivr
# (IVR trees of ivr.conf, the IVR application, "ivr show" and "sound record")
# with the audio code it shares with the audio applications, and its sample
# config. app_callgroup (mk/callgroup.mk) plays messages and music on hold
# with that same audio code, so it is compiled into it too.

module_LTLIBRARIES += modules/apps/app_ivr.la
modules_apps_app_ivr_la_SOURCES = modules/apps/app_ivr.c $(AUDIO_COMMON)
modules_apps_app_ivr_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_ivr"'
modules_apps_app_ivr_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_ivr_la_LIBADD = $(MODULE_LIBADD)

modules_apps_app_callgroup_la_SOURCES += $(AUDIO_COMMON)

dist_octoconf_DATA += configs/ivr.conf
