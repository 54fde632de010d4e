# mk/pgsql.mk - build rules for the pgsql part (included by Makefile.am).
