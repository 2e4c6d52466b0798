#!/bin/sh
# deps.sh [bench] [valgrind] [fuzz] - installs the Debian 12 packages
# engagementd needs to build, test and run locally, and only those that
# are missing.
#
# Without arguments: compiler, libraries, Check, libcurl (tests), the
# formatter and a PostgreSQL 15 server for the throwaway test cluster.
# "bench" adds wrk and nginx for `make bench`; "valgrind" adds valgrind;
# "fuzz" adds clang with its libFuzzer runtime.
# When everything is present it prints nothing and touches nothing, so the
# Makefile can call it before every target that needs the packages.
set -eu

pkgs="build-essential make pkg-config libmicrohttpd-dev libjansson-dev
libpq-dev libinih-dev libssl-dev check libsubunit-dev libcurl4-openssl-dev
clang-format postgresql-15 postgresql-client-15 git"

for group in "$@"; do
	case $group in
	bench) pkgs="$pkgs wrk nginx" ;;
	valgrind) pkgs="$pkgs valgrind" ;;
	fuzz) pkgs="$pkgs clang libclang-rt-14-dev" ;;
	*)
		echo "deps.sh: unknown group \"$group\" (expected bench, valgrind or fuzz)" >&2
		exit 2
		;;
	esac
done

missing=
for p in $pkgs; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: missing packages:$missing; install them by hand (no apt-get here)" >&2
	exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
	as_root=
elif command -v sudo >/dev/null 2>&1; then
	as_root=sudo
else
	echo "deps.sh: missing packages:$missing; run as root or install sudo" >&2
	exit 1
fi

echo "deps.sh: installing$missing" >&2
# shellcheck disable=SC2086 # the package list is meant to split
$as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends $missing >/dev/null
echo "deps.sh: done" >&2
