# mk/users.mk - build rules for the users part (included by Makefile.am):
# the internal SQLite store (core), the license names, res_users, its
# sample config and the store's unit test.

core_libocto_la_SOURCES += core/store.c core/users_names.c
octoinclude_HEADERS += include/octo/store.h

module_LTLIBRARIES += modules/services/res_users.la
modules_services_res_users_la_SOURCES = modules/services/res_users.c
modules_services_res_users_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"res_users"'
modules_services_res_users_la_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
modules_services_res_users_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_services_res_users_la_LIBADD = $(MODULE_LIBADD) $(OPENSSL_LIBS)

dist_octoconf_DATA += configs/users.conf

UNIT_TESTS += tests/unit/test_store
tests_unit_test_store_SOURCES = tests/unit/test_store.c tests/unit/octo_test.h
tests_unit_test_store_LDADD = $(UNIT_LDADD)
