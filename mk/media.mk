# mk/media.mk - build rules for the media part (included by Makefile.am).
