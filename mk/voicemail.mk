# mk/voicemail.mk - build rules for the voicemail part (included by Makefile.am).
