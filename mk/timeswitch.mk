# mk/timeswitch.mk - build rules for the timeswitch part (included by Makefile.am).
