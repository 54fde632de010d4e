# mk/playback.mk - build rules for the audio applications (included by Makefile.am).
