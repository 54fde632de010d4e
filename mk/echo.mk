# mk/echo.mk - build rules for frames and the Echo application (included by Makefile.am).
