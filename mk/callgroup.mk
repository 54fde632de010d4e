# mk/callgroup.mk - build rules for the callgroup part (included by Makefile.am).
