# mk/calls.mk - build rules for the calls part (included by Makefile.am).
