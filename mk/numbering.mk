# mk/numbering.mk - build rules for the numbering part (included by Makefile.am):
# app_numbering (number normalization and trunk formats, call classes per
# country, ACL groups: NORMALIZE, FORMAT, CALLCLASS, NormalizeCaller,
# CheckACL, the "numbering" service of numbering.h), its sample config and
# its unit test.

octoinclude_HEADERS += include/octo/numbering.h

module_LTLIBRARIES += modules/apps/app_numbering.la
modules_apps_app_numbering_la_SOURCES = modules/apps/app_numbering.c
modules_apps_app_numbering_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_numbering"'
modules_apps_app_numbering_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_apps_app_numbering_la_LIBADD = $(MODULE_LIBADD)

dist_octoconf_DATA += configs/features.conf

# app_numbering.c is compiled into the test (#include) to reach its parser
# and its analysis; the test reads the sample configs/features.conf and
# loads format_raw from the build tree for the announcement of CheckACL.
UNIT_TESTS += tests/unit/test_numbering
tests_unit_test_numbering_SOURCES = tests/unit/test_numbering.c tests/unit/octo_test.h
tests_unit_test_numbering_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"app_numbering"' \
	-DTEST_SRCDIR='"$(abs_top_srcdir)"' \
	-DTEST_MODULE_DIR='"$(abs_top_builddir)/modules/codecs"'
tests_unit_test_numbering_LDADD = $(UNIT_LDADD)
EXTRA_tests_unit_test_numbering_DEPENDENCIES = modules/codecs/format_raw.la
