# mk/users.mk - build rules for the users part (included by Makefile.am).
