# mk/cdr.mk - build rules for the cdr part (included by Makefile.am).
