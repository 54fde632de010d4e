# mk/gateways.mk - build rules for the gateways part (included by Makefile.am).
