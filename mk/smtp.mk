# mk/smtp.mk - build rules for the smtp part (included by Makefile.am):
# res_smtp (the "mail" service: an SMTP queue on libcurl), its public
# header and the sample smtp.conf.

module_LTLIBRARIES += modules/services/res_smtp.la
modules_services_res_smtp_la_SOURCES = modules/services/res_smtp.c
modules_services_res_smtp_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"res_smtp"'
modules_services_res_smtp_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
modules_services_res_smtp_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_services_res_smtp_la_LIBADD = $(MODULE_LIBADD) $(CURL_LIBS)

octoinclude_HEADERS += include/octo/mail.h
dist_octoconf_DATA += configs/smtp.conf
