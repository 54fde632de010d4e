# mk/ivr.mk - build rules for the ivr part (included by Makefile.am).
