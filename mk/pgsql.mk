# mk/pgsql.mk - build rules for the pgsql part (included by Makefile.am):
# res_cdr_pgsql, the CDR backend for PostgreSQL (built only when configure
# found libpq), its spool file code and the unit test of the spool and of
# cdr.conf's [pgsql] (always built: it needs no libpq).

CDR_PGSQL_SPOOL = modules/services/cdr_pgsql_spool.c modules/services/cdr_pgsql_spool.h

if HAVE_LIBPQ
module_LTLIBRARIES += modules/services/res_cdr_pgsql.la
modules_services_res_cdr_pgsql_la_SOURCES = modules/services/res_cdr_pgsql.c \
	$(CDR_PGSQL_SPOOL) modules/services/cdr_common.c modules/services/cdr_common.h
modules_services_res_cdr_pgsql_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"res_cdr_pgsql"'
modules_services_res_cdr_pgsql_la_CFLAGS = $(AM_CFLAGS) $(PQ_CFLAGS)
modules_services_res_cdr_pgsql_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_services_res_cdr_pgsql_la_LIBADD = $(MODULE_LIBADD) $(PQ_LIBS) -lm
endif

UNIT_TESTS += tests/unit/test_cdr_spool
tests_unit_test_cdr_spool_SOURCES = tests/unit/test_cdr_spool.c tests/unit/octo_test.h \
	$(CDR_PGSQL_SPOOL) modules/services/cdr_common.c modules/services/cdr_common.h
tests_unit_test_cdr_spool_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"test_cdr_spool"'
tests_unit_test_cdr_spool_LDADD = $(UNIT_LDADD) -lm
