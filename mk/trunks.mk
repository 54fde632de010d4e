# mk/trunks.mk - build rules for the trunks part (included by Makefile.am).
