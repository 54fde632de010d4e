#!/usr/bin/env bash
# out_of_tree/run.sh - installs Octo into a temporary prefix, builds the
# example module contrib/example-module against that install with pkg-config,
# starts the installed daemon (on the installed sample configs, with the
# module folder that pkg-config names) and checks that mod_hello loads, that
# its `hello` command answers, and that it unloads and loads again. The
# README ("Writing a module out of the tree") shows the same commands.
#
# Needs OCTO_BUILD only for lib.sh; the install comes from a separate plain
# (non-sanitized) build of OCTO_SRC configured in the temp dir.

# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../lib.sh"

jobs=${JOBS:-2}
prefix="$OCTO_TMP/prefix"
objdir="$OCTO_TMP/build"
hello="$OCTO_TMP/hello"

# 1. Build Octo and install it under $prefix.
mkdir -p "$objdir"
cd "$objdir" || exit 1
check "$OCTO_CASE/configure" "$OCTO_SRC/configure" --prefix="$prefix" || exit 1
check "$OCTO_CASE/make" make -j"$jobs" || exit 1
check "$OCTO_CASE/make install" make install || exit 1

# 2. Build the example module against the install and put it into the
#    module folder that octo.pc names.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
check "$OCTO_CASE/pkg-config finds octo" pkg-config --exists octo || exit 1
check_output "$OCTO_CASE/pkg-config moduledir" "$prefix/lib/octo/modules" \
	pkg-config --variable=moduledir octo
cp -R "$OCTO_SRC/contrib/example-module" "$hello"
check "$OCTO_CASE/make example-module" make -C "$hello" || exit 1
check "$OCTO_CASE/make example-module install" make -C "$hello" install || exit 1
check "$OCTO_CASE/mod_hello.so installed" test -f "$prefix/lib/octo/modules/mod_hello.so"

# 3. Start the installed daemon on the installed sample configs, with the
#    module folder that octo.pc names.
OCTO_BIN="$prefix/bin/octo"
OCTO_MODDIR=$(pkg-config --variable=moduledir octo)
octo_config_dir "$prefix/etc/octo" || exit 1
# shellcheck disable=SC2119
octo_start || exit 1

check_rx "$OCTO_CASE/module loaded" "mod_hello" "module show like mod_hello"
check_rx "$OCTO_CASE/hello" "Hello from an out-of-tree module" "hello"
check_rx "$OCTO_CASE/hello with a name" "Hello Alice, from an out-of-tree module" "hello Alice"
check_output "$OCTO_CASE/hello in JSON" "Hello from an out-of-tree module" octo_rx_json "hello"
check_fails "$OCTO_CASE/hello with too many words" octo_rx "hello a b"

# Load -> unload -> load: the command goes away with the module and comes back.
check "$OCTO_CASE/module unload" octo_rx "module unload mod_hello"
check_fails "$OCTO_CASE/hello is gone after unload" octo_rx "hello"
check "$OCTO_CASE/module load" octo_rx "module load mod_hello"
check_rx "$OCTO_CASE/hello after reload" "Hello from an out-of-tree module" "hello"

octo_stop

# 4. The same installed (non-sanitized) daemon under valgrind: a start, a
#    reload, a call through the dialplan and a stop leave no leak and no
#    memory error.
if command -v valgrind >/dev/null 2>&1; then
	vglog="$OCTO_TMP/valgrind.log"
	rm -rf "$OCTO_STATE" && mkdir -p "$OCTO_STATE"
	valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --error-exitcode=9 --log-file="$vglog" \
		"$OCTO_BIN" -f -C "$OCTO_CONF" -D "$OCTO_STATE" -s "$OCTO_SOCK" -M "$OCTO_MODDIR" \
		</dev/null >"$OCTO_TMP/valgrind-daemon.log" 2>&1 &
	vgpid=$!
	if wait_until 60 octo_rx "core ready"; then
		pass "$OCTO_CASE/valgrind start"
	else
		fail "$OCTO_CASE/valgrind start" "no answer within 60 s"
	fi
	check "$OCTO_CASE/valgrind reload" octo_rx "core reload"
	check "$OCTO_CASE/valgrind test call" octo_rx "test call pbxinternal 101 100"
	wait_until 20 bash -c "'$OCTO_BIN' -s '$OCTO_SOCK' -rx 'calls show history' | grep -q Test/100" || true
	octo_rx "core stop now" >/dev/null 2>&1
	for _ in $(seq 1 300); do kill -0 "$vgpid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$vgpid" 2>/dev/null
	wait "$vgpid"
	status=$?
	if [ "$status" -eq 0 ] && grep -q "ERROR SUMMARY: 0 errors" "$vglog"; then
		pass "$OCTO_CASE/valgrind: no leak, no error over start, reload and stop"
	else
		fail "$OCTO_CASE/valgrind: no leak, no error over start, reload and stop" \
			"exit status $status"
		lib_show "$vglog" 80 "valgrind log"
	fi
else
	fail "$OCTO_CASE/valgrind" "valgrind is not installed"
fi
