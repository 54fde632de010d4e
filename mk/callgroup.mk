# mk/callgroup.mk - build rules for the callgroup part (included by Makefile.am):
# app_callgroup (call groups and the CallGroup application) and its sample config.

module_LTLIBRARIES += modules/apps/app_callgroup.la
modules_apps_app_callgroup_la_SOURCES = modules/apps/app_callgroup.c
modules_apps_app_callgroup_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_callgroup"'
modules_apps_app_callgroup_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_callgroup_la_LIBADD = $(MODULE_LIBADD)

dist_octoconf_DATA += configs/callgroups.conf
