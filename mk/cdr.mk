# mk/cdr.mk - build rules for the cdr part (included by Makefile.am): the
# CDR backends res_cdr_sqlite (with the cdr console commands) and
# res_cdr_csv, the code they share, the sample cdr.conf and the unit test.

CDR_COMMON = modules/services/cdr_common.c modules/services/cdr_common.h

module_LTLIBRARIES += modules/services/res_cdr_sqlite.la modules/services/res_cdr_csv.la

modules_services_res_cdr_sqlite_la_SOURCES = modules/services/res_cdr_sqlite.c $(CDR_COMMON)
modules_services_res_cdr_sqlite_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"res_cdr_sqlite"'
modules_services_res_cdr_sqlite_la_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
modules_services_res_cdr_sqlite_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_services_res_cdr_sqlite_la_LIBADD = $(MODULE_LIBADD) $(SQLITE_LIBS) -lm

modules_services_res_cdr_csv_la_SOURCES = modules/services/res_cdr_csv.c $(CDR_COMMON)
modules_services_res_cdr_csv_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"res_cdr_csv"'
modules_services_res_cdr_csv_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_services_res_cdr_csv_la_LIBADD = $(MODULE_LIBADD) -lm

dist_octoconf_DATA += configs/cdr.conf

UNIT_TESTS += tests/unit/test_cdr
tests_unit_test_cdr_SOURCES = tests/unit/test_cdr.c tests/unit/octo_test.h $(CDR_COMMON)
tests_unit_test_cdr_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"test_cdr"'
tests_unit_test_cdr_LDADD = $(UNIT_LDADD) -lm
