# mk/features.mk - build rules for the features part (included by Makefile.am):
# app_features (FeatureCode, Pickup: the feature codes of features.conf
# [codes]) and app_park (Park, ParkedCall: the orbits of features.conf
# [parking]). Both use the audio code shared by the audio applications
# ($(AUDIO_COMMON), mk/playback.mk). The pickup hand-over is in core/bridge.c
# (octo_dial_pickup), the run-time user overrides in res_users.

module_LTLIBRARIES += modules/apps/app_features.la modules/apps/app_park.la

modules_apps_app_features_la_SOURCES = modules/apps/app_features.c $(AUDIO_COMMON)
modules_apps_app_features_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_features"'
modules_apps_app_features_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_features_la_LIBADD = $(MODULE_LIBADD)

modules_apps_app_park_la_SOURCES = modules/apps/app_park.c $(AUDIO_COMMON)
modules_apps_app_park_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_park"'
modules_apps_app_park_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_park_la_LIBADD = $(MODULE_LIBADD)
