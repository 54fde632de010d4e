#!/usr/bin/env bash
# test.sh - builds Octo under AddressSanitizer and UndefinedBehaviorSanitizer
# in build/test and runs every test: the unit test programs, the integration
# tests (tests/integration/*/run.sh, the out-of-tree module test among them)
# and the libFuzzer harnesses (tests/fuzz/fuzz_*.c, built with clang and run
# for a bounded time on a copy of their corpus).
#
#   contrib/test.sh                   everything
#   contrib/test.sh PATTERN...        only the tests whose name contains a
#                                     PATTERN (names: unit/test_config,
#                                     integration/out_of_tree, fuzz/fuzz_expr)
#
# Every test prints "PASS name" or "FAIL name: why"; this script counts those
# lines over all tests. A program that exits non-zero (or leaves a sanitizer
# report) without printing FAIL counts as one failure named after it; a fuzzer
# crash is a failure. Logs go to build/test/logs/; the log of each failing
# test is printed. The last line is "N passed, N failed"; the exit status is
# non-zero when anything failed.
#
# Environment: JOBS (make jobs, default: cores), FUZZ_TIME (seconds per
# fuzzer, default 20).
set -u -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/test"
logs="$build/logs"
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
fuzz_time=${FUZZ_TIME:-20}
filters=("$@")

# The sanitizers: in CC so that libtool keeps them on every compile and link.
test_cc="gcc -fsanitize=address,undefined -fno-omit-frame-pointer"
test_cflags="-g -O1"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Sources each fuzz harness is linked with, besides core/util.c and itself.
declare -A fuzz_sources=(
	[fuzz_config]="core/config.c core/cfgbind.c"
	[fuzz_pattern]="core/pattern.c core/expr.c"
	[fuzz_expr]="core/pattern.c core/expr.c"
	[fuzz_wav]=""
	[fuzz_sip]="core/obj.c modules/channels/chan_sip/sip_msg.c modules/channels/chan_sip/sip_write.c"
	[fuzz_sdp]="modules/channels/chan_sip/sip_sdp.c"
)

# Libraries a harness needs besides -lm.
declare -A fuzz_libs=(
	[fuzz_sip]="-losipparser2"
	[fuzz_sdp]="-losipparser2"
)

passed=0
failed=0
failed_tests=()

work=$(mktemp -d "${TMPDIR:-/tmp}/octo-test.XXXXXX") || exit 1
# shellcheck disable=SC2317
tst_cleanup()
{
	tst_kill_leftovers "$work" >/dev/null 2>&1
	rm -rf "$work"
}
trap tst_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# True when the test NAME is selected by the command-line patterns.
tst_selected()
{
	local f
	[ "${#filters[@]}" -eq 0 ] && return 0
	for f in "${filters[@]}"; do
		case "$1" in *"$f"*) return 0 ;; esac
	done
	return 1
}

# Prints the end of a log, indented, for a failing test.
tst_show_log()
{
	local log=$1 lines
	lines=$(wc -l <"$log")
	echo "---- $log ($lines lines)"
	if [ "$lines" -gt 300 ]; then
		echo "     [... first $((lines - 300)) lines left out ...]"
	fi
	tail -n 300 "$log" | sed 's/^/   | /'
	echo "----"
}

# Counts the results of one finished test program: NAME LOG STATUS.
# PASS/FAIL lines are counted; a non-zero status or a sanitizer report
# without any FAIL line counts as one failure named NAME.
tst_record()
{
	local name=$1 log=$2 status=$3 np nf why=""
	np=$(grep -c '^PASS ' "$log")
	nf=$(grep -c '^FAIL ' "$log")
	if [ "$nf" -eq 0 ]; then
		if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
			why="timed out (status $status)"
		elif [ "$status" -ne 0 ]; then
			why="exited with status $status"
		elif grep -qE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$log"; then
			why="sanitizer report"
		elif [ "$np" -eq 0 ]; then
			why="printed no PASS or FAIL line"
		fi
		if [ -n "$why" ]; then
			echo "FAIL $name: $why" >>"$log"
			nf=1
		fi
	fi
	passed=$((passed + np))
	failed=$((failed + nf))
	if [ "$nf" -eq 0 ]; then
		printf '[ ok ] %-40s %d pass\n' "$name" "$np"
	else
		printf '[FAIL] %-40s %d pass, %d fail\n' "$name" "$np" "$nf"
		failed_tests+=("$name")
		grep '^FAIL ' "$log" | sed 's/^/       /'
		tst_show_log "$log"
	fi
}

# A step that is not a test program (autogen, configure, build): NAME LOG STATUS.
tst_step()
{
	local name=$1 log=$2 status=$3
	if [ "$status" -eq 0 ]; then
		return 0
	fi
	echo "FAIL $name: exited with status $status" >>"$log"
	tst_record "$name" "$log" "$status"
	return 1
}

# Kills the daemons an integration test left behind (lib.sh writes each
# daemon's pid into a file named daemon.pid in its temp dir).
tst_kill_leftovers()
{
	local pidfile pid n=0
	while IFS= read -r -d '' pidfile; do
		pid=$(cat "$pidfile" 2>/dev/null)
		case "$pid" in '' | *[!0-9]*) continue ;; esac
		if kill -0 "$pid" 2>/dev/null && grep -q octo "/proc/$pid/cmdline" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null
			n=$((n + 1))
		fi
	done < <(find "$1" -name daemon.pid -print0 2>/dev/null)
	echo "$n"
}

tst_finish()
{
	if [ "${#failed_tests[@]}" -gt 0 ]; then
		echo
		echo "Failed: ${failed_tests[*]}"
		echo "Logs: $logs"
	fi
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit
}

# ---------------------------------------------------------------- packages
# shellcheck source=contrib/deps.sh
. "$root/contrib/deps.sh"
if ! deps_install "${OCTO_DEPS_TEST[@]}"; then
	failed=$((failed + 1))
	failed_tests+=("packages")
	echo "FAIL packages: the Debian packages above are missing"
	tst_finish
fi

rm -rf "$logs"
mkdir -p "$logs/unit" "$logs/integration" "$logs/fuzz"

# ---------------------------------------------------------------- build
build_ok=yes
if [ -e "$root/config.status" ]; then
	echo "FAIL configure: $root is configured in the source tree; run 'make distclean' there" \
		>"$logs/configure.log"
	tst_record configure "$logs/configure.log" 1
	build_ok=no
elif [ ! -x "$root/configure" ] || [ ! -e "$root/Makefile.in" ]; then
	echo "test.sh: running autogen.sh"
	"$root/autogen.sh" >"$logs/autogen.log" 2>&1
	tst_step autogen "$logs/autogen.log" $? || build_ok=no
fi

if [ "$build_ok" = yes ]; then
	mkdir -p "$build"
	conf_args="CC=$test_cc CFLAGS=$test_cflags --enable-werror"
	if [ ! -e "$build/Makefile" ] ||
		[ "$(cat "$build/.octo-configure-args" 2>/dev/null)" != "$conf_args" ]; then
		echo "test.sh: configuring in $build"
		rm -f "$build/.octo-configure-args"
		(cd "$build" && "$root/configure" CC="$test_cc" CFLAGS="$test_cflags" \
			--enable-werror) >"$logs/configure.log" 2>&1
		if tst_step configure "$logs/configure.log" $?; then
			printf '%s' "$conf_args" >"$build/.octo-configure-args"
		else
			build_ok=no
		fi
	fi
fi

if [ "$build_ok" = yes ]; then
	echo "test.sh: building the daemon, modules and test programs (make -j$jobs check TESTS=)"
	make -C "$build" -j"$jobs" check TESTS= >"$logs/build.log" 2>&1
	tst_step build "$logs/build.log" $? || build_ok=no
fi

# ---------------------------------------------------------------- unit tests
if [ "$build_ok" = yes ]; then
	for prog in "$build"/tests/unit/test_*; do
		base=$(basename "$prog")
		case "$base" in *.*) continue ;; esac
		if [ ! -f "$prog" ] || [ ! -x "$prog" ]; then
			continue
		fi
		name="unit/$base"
		tst_selected "$name" || continue
		tmp="$work/unit/$base"
		mkdir -p "$tmp"
		log="$logs/unit/$base.log"
		(cd "$tmp" && TMPDIR="$tmp" timeout -k 10 300 "$prog") </dev/null >"$log" 2>&1
		tst_record "$name" "$log" $?
	done
fi

# ---------------------------------------------------------------- integration tests
if [ "$build_ok" = yes ]; then
	for script in "$root"/tests/integration/*/run.sh; do
		[ -f "$script" ] || continue
		case=$(basename "$(dirname "$script")")
		name="integration/$case"
		tst_selected "$name" || continue
		tmp="$work/integration/$case"
		mkdir -p "$tmp"
		log="$logs/integration/$case.log"
		echo "test.sh: running $name"
		(cd "$tmp" && OCTO_BUILD="$build" OCTO_SRC="$root" TMPDIR="$tmp" JOBS="$jobs" \
			timeout -k 30 900 bash "$script") </dev/null >"$log" 2>&1
		status=$?
		left=$(tst_kill_leftovers "$tmp")
		if [ "$left" -gt 0 ]; then
			echo "FAIL $case/daemon: $left daemon(s) still running after the test" >>"$log"
		fi
		tst_record "$name" "$log" "$status"
		rm -rf "$tmp"
	done
fi

# ---------------------------------------------------------------- fuzzing
# shellcheck disable=SC2054
fuzz_cflags=(-std=c11 -D_GNU_SOURCE -DOCTO_MODULE_NAME='"core"' -g -O1 -pthread
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-fno-omit-frame-pointer -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter
	-I"$root/include")
for harness in "$root"/tests/fuzz/fuzz_*.c; do
	[ -f "$harness" ] || continue
	fz=$(basename "$harness" .c)
	name="fuzz/$fz"
	tst_selected "$name" || continue
	log="$logs/fuzz/$fz.log"
	if [ -z "${fuzz_sources[$fz]+set}" ]; then
		echo "FAIL $fz: no entry for it in the fuzz_sources table of contrib/test.sh" >"$log"
		tst_record "$name" "$log" 1
		continue
	fi
	srcs=("$root/core/util.c")
	for s in ${fuzz_sources[$fz]}; do
		srcs+=("$root/$s")
	done
	mkdir -p "$build/fuzz"
	bin="$build/fuzz/$fz"
	echo "test.sh: building and running $name for ${fuzz_time}s"
	# shellcheck disable=SC2086
	clang "${fuzz_cflags[@]}" "${srcs[@]}" "$harness" -o "$bin" -lm ${fuzz_libs[$fz]:-} \
		>"$log" 2>&1
	status=$?
	if [ "$status" -ne 0 ]; then
		echo "FAIL $fz: clang could not build the harness" >>"$log"
		tst_record "$name" "$log" "$status"
		continue
	fi
	corpus="$work/fuzz/$fz"
	mkdir -p "$corpus"
	# Seeds live in tests/fuzz/corpus/<name without fuzz_>/.
	if [ -d "$root/tests/fuzz/corpus/${fz#fuzz_}" ]; then
		cp -R "$root/tests/fuzz/corpus/${fz#fuzz_}/." "$corpus/"
	fi
	dict=()
	if [ -f "$root/tests/fuzz/$fz.dict" ]; then
		dict=(-dict="$root/tests/fuzz/$fz.dict")
	fi
	(cd "$work/fuzz" && timeout -k 10 $((fuzz_time + 120)) "$bin" \
		-max_total_time="$fuzz_time" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -close_fd_mask=3 -artifact_prefix="$logs/fuzz/$fz-" \
		${dict[@]+"${dict[@]}"} "$corpus") </dev/null >>"$log" 2>&1
	status=$?
	if [ "$status" -eq 0 ]; then
		echo "PASS $fz" >>"$log"
	else
		artifact=$(find "$logs/fuzz" -maxdepth 1 -name "$fz-*" -type f -print -quit)
		echo "FAIL $fz: the fuzzer found a crash, leak or hang (status $status)${artifact:+; input: $artifact}" >>"$log"
	fi
	tst_record "$name" "$log" "$status"
	rm -rf "$corpus"
done

tst_finish
