# mk/media.mk - build rules for the media part (included by Makefile.am): the
# G.711 codecs, the WAV and raw sound formats, prompt lookup in the core
# (core/sound.c) and the prompts generated at build time.

# ------------------------------------------------------------------ core
core_libocto_la_SOURCES += core/sound.c
octoinclude_HEADERS += include/octo/sound.h

# ------------------------------------------------------------------ modules
module_LTLIBRARIES += \
	modules/codecs/codec_g711.la \
	modules/codecs/format_wav.la \
	modules/codecs/format_raw.la

modules_codecs_codec_g711_la_SOURCES = modules/codecs/codec_g711.c
modules_codecs_codec_g711_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"codec_g711"'
modules_codecs_codec_g711_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_codecs_codec_g711_la_LIBADD = $(MODULE_LIBADD)

modules_codecs_format_wav_la_SOURCES = modules/codecs/format_wav.c
modules_codecs_format_wav_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"format_wav"'
modules_codecs_format_wav_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_codecs_format_wav_la_LIBADD = $(MODULE_LIBADD)

modules_codecs_format_raw_la_SOURCES = modules/codecs/format_raw.c
modules_codecs_format_raw_la_CPPFLAGS = $(AM_CPPFLAGS) -DOCTO_MODULE_NAME='"format_raw"'
modules_codecs_format_raw_la_LDFLAGS = $(MODULE_LDFLAGS)
modules_codecs_format_raw_la_LIBADD = $(MODULE_LIBADD)

# ------------------------------------------------------------------ tests
# test_codec compiles the module sources into itself (#include), so it
# reaches their tables and parsers and registers them without the loader;
# test_sound loads the built modules with the loader.
UNIT_TESTS += tests/unit/test_codec tests/unit/test_sound
tests_unit_test_codec_SOURCES = tests/unit/test_codec.c tests/unit/octo_test.h
tests_unit_test_codec_LDADD = $(UNIT_LDADD)
tests_unit_test_sound_SOURCES = tests/unit/test_sound.c tests/unit/octo_test.h
tests_unit_test_sound_CPPFLAGS = $(AM_CPPFLAGS) \
	-DTEST_MODULE_DIR='"$(abs_top_builddir)/modules/codecs"'
tests_unit_test_sound_LDADD = $(UNIT_LDADD) -lm
# test_sound loads the three modules from the build tree.
EXTRA_tests_unit_test_sound_DEPENDENCIES = \
	modules/codecs/codec_g711.la \
	modules/codecs/format_wav.la \
	modules/codecs/format_raw.la

# ------------------------------------------------------------------ prompts
# contrib/sounds/generate.sh makes sounds/<language>/... and
# sounds/moh/default/... in the build tree from the prompt lists (espeak-ng
# and sox); it runs again only when a list or the script changes. `make
# install` copies the tree to $(pkgdatadir)/sounds, the daemon's default
# sound folder (octo.conf [directories] sounds).
SOUND_LISTS = \
	$(srcdir)/contrib/sounds/en.txt \
	$(srcdir)/contrib/sounds/it.txt

sounds.stamp: $(SOUND_LISTS) $(srcdir)/contrib/sounds/generate.sh
	$(AM_V_GEN)bash $(srcdir)/contrib/sounds/generate.sh sounds >/dev/null && touch $@

all-local: sounds.stamp

install-data-local: install-sounds
install-sounds: sounds.stamp
	@$(NORMAL_INSTALL)
	@find sounds -type f -name '*.wav' | while IFS= read -r f; do \
		d="$(DESTDIR)$(pkgdatadir)/$$(dirname "$$f")"; \
		$(MKDIR_P) "$$d" && $(INSTALL_DATA) "$$f" "$$d/" || exit 1; \
	done
	@echo "installed the prompts into $(DESTDIR)$(pkgdatadir)/sounds"

# Removes the files that install-sounds put there (prompts added by the
# administrator stay), then the folders left empty.
uninstall-local: uninstall-sounds
uninstall-sounds:
	@$(NORMAL_UNINSTALL)
	@test ! -d sounds || find sounds -type f -name '*.wav' | while IFS= read -r f; do \
		rm -f "$(DESTDIR)$(pkgdatadir)/$$f"; \
	done
	@test ! -d "$(DESTDIR)$(pkgdatadir)/sounds" || \
		find "$(DESTDIR)$(pkgdatadir)/sounds" -depth -type d -empty -delete

clean-local: clean-sounds
clean-sounds:
	rm -rf sounds sounds.tmp.* sounds.stamp

.PHONY: install-sounds uninstall-sounds clean-sounds
