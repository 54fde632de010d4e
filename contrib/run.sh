#!/usr/bin/env bash
# run.sh - the quick start: installs the missing Debian packages (as root),
# builds Octo out of tree in build/run and starts the daemon in the
# foreground on the sample configs/ (with a console when on a terminal), with
# its data, logs, run folder and control socket under build/run/state.
# Nothing after the packages needs root.
#
#   contrib/run.sh                  build, then run octo -f -c -C configs -vvv
#   contrib/run.sh --build-only     build and stop
#   contrib/run.sh -- ARGS...       extra options for the daemon (e.g. -- -vvvvv)
#
# Environment: JOBS (parallel make jobs, default: number of cores),
# CONFIGURE_FLAGS (extra ./configure arguments, split on spaces).
set -eu -o pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build/run"
state="$build/state"
sock="$state/octo.ctl"
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

build_only=no
while [ $# -gt 0 ]; do
	case "$1" in
	--build-only) build_only=yes ;;
	--) shift; break ;;
	-h|--help)
		sed -n '2,/^set -eu/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "run.sh: unknown option $1 (daemon options go after --)" >&2
		exit 2
		;;
	esac
	shift
done

# shellcheck source=contrib/deps.sh
. "$root/contrib/deps.sh"
deps_install "${OCTO_DEPS_RUN[@]}" || exit 1

if [ -e "$root/config.status" ]; then
	echo "run.sh: $root is configured in the source tree; out-of-tree builds need a" >&2
	echo "run.sh: clean source tree: run 'make distclean' there first" >&2
	exit 1
fi
if [ ! -x "$root/configure" ] || [ ! -e "$root/Makefile.in" ]; then
	echo "run.sh: running autogen.sh"
	"$root/autogen.sh"
fi

mkdir -p "$build"
# shellcheck disable=SC2206
extra_conf=(${CONFIGURE_FLAGS:-})
conf_args="${extra_conf[*]:-}"
if [ ! -e "$build/Makefile" ] || [ "$(cat "$build/.octo-configure-args" 2>/dev/null)" != "$conf_args" ]; then
	echo "run.sh: configuring in $build"
	(cd "$build" && "$root/configure" ${extra_conf[@]+"${extra_conf[@]}"})
	printf '%s' "$conf_args" >"$build/.octo-configure-args"
fi
echo "run.sh: building (make -j$jobs)"
make -C "$build" -j"$jobs"

if [ "$build_only" = yes ]; then
	echo "run.sh: built $build/core/octo"
	exit 0
fi

# The modules of the build tree, gathered into one folder for -M.
mkdir -p "$state"
rm -rf "$state/modules"
mkdir "$state/modules"
find "$build/modules" -path '*/.libs/*.so' -type f -print0 2>/dev/null |
	while IFS= read -r -d '' so; do
		ln -sf "$so" "$state/modules/$(basename "$so")"
	done

# A unix socket path must fit in sun_path (108 bytes with the NUL).
if [ "${#sock}" -gt 100 ]; then
	sock="${XDG_RUNTIME_DIR:-/tmp}/octo-$(id -u).ctl"
	echo "run.sh: the build path is too long for a unix socket; using $sock"
fi

# With a terminal, the daemon also reads console commands from it (-c).
console=()
if [ -t 0 ]; then
	console=(-c)
fi

echo
echo "Octo is starting in the foreground (Ctrl-C stops it). To attach a console, run:"
echo
echo "    $build/core/octo -s $sock -r"
echo
exec "$build/core/octo" -f ${console[@]+"${console[@]}"} -C "$root/configs" -D "$state" \
	-M "$state/modules" -S "$build/sounds" -s "$sock" -vvv "$@"
