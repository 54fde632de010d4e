# mk/features.mk - build rules for the features part (included by Makefile.am).
