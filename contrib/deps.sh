#!/usr/bin/env bash
# deps.sh - the Debian 12 packages Octo needs, and the step that installs the
# missing ones. Sourced by contrib/run.sh and contrib/test.sh; can also be run
# by hand: `contrib/deps.sh run` (build and run) or `contrib/deps.sh test`
# (build, run and the full test suite).
#
# As root, missing packages are installed with apt-get. As another user
# nothing is installed: the apt-get line to run is printed and the step fails.

# Building and running the daemon.
OCTO_DEPS_RUN=(
	autoconf automake libtool libtool-bin pkg-config make gcc libc6-dev
	libosip2-dev libortp-dev libxml2-dev libsqlite3-dev libcurl4-openssl-dev
	libssl-dev libedit-dev libltdl-dev sqlite3
	libpq-dev # res_cdr_pgsql (CDRs to PostgreSQL; optional for configure)
	espeak-ng sox tzdata
)

# Everything contrib/test.sh uses on top: clang and its runtime for the
# libFuzzer harnesses (libclang-rt-14-dev is only "recommended" by clang),
# valgrind, SIPp (sip-tester) for the SIP integration tests, baresip (the
# package baresip-core: the baresip program and its modules, without the GUI
# and video plug-ins) as a real phone in tests/integration/baresip, ss
# (iproute2) to find free ports.
OCTO_DEPS_TEST=(
	"${OCTO_DEPS_RUN[@]}"
	clang libclang-rt-14-dev valgrind sip-tester baresip-core iproute2 procps tmux openssl
	python3-aiosmtpd # the SMTP server of tests/integration/smtp
	postgresql # initdb/pg_ctl/psql for tests/integration/cdr_pgsql
)

# Prints the packages of the arguments that are not installed, one a line.
deps_missing()
{
	local pkg status
	for pkg in "$@"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)
		[ "$status" = installed ] || printf '%s\n' "$pkg"
	done
}

# Installs the missing packages among the arguments. Returns 0 when all are
# there afterwards; otherwise prints why (or the command to run) and returns 1.
deps_install()
{
	local missing
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "deps: dpkg-query not found: this script expects Debian 12 (bookworm)" >&2
		return 1
	fi
	mapfile -t missing < <(deps_missing "$@")
	if [ "${#missing[@]}" -eq 0 ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages: ${missing[*]}" >&2
		echo "deps: install them as root, then run this script again:" >&2
		echo "    sudo apt-get install -y ${missing[*]}" >&2
		return 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get update -q; then
		echo "deps: apt-get update failed" >&2
		return 1
	fi
	if ! apt-get install -y -q "${missing[@]}"; then
		echo "deps: apt-get install failed for: ${missing[*]}" >&2
		return 1
	fi
	mapfile -t missing < <(deps_missing "$@")
	if [ "${#missing[@]}" -ne 0 ]; then
		echo "deps: still missing after apt-get: ${missing[*]}" >&2
		return 1
	fi
	return 0
}

# Run directly: install the list named by $1 (default "run").
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-run}" in
	run) deps_install "${OCTO_DEPS_RUN[@]}" ;;
	test) deps_install "${OCTO_DEPS_TEST[@]}" ;;
	list) printf '%s\n' "${OCTO_DEPS_TEST[@]}" ;;
	*)
		echo "usage: $0 [run|test|list]" >&2
		exit 2
		;;
	esac
fi
