# mk/sip.mk - build rules for the sip part (included by Makefile.am).
