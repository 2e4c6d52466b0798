#!/usr/bin/env bash
# test-integration.sh BUILDDIR PROGRAM... - runs the integration test
# programs against a throwaway PostgreSQL cluster and the service binary
# BUILDDIR/engagementd.
#
# The cluster, the servers' INI files and logs and each program's output
# live in one temporary directory.  It is removed when everything passed
# and kept (its path printed) when something failed.  The harness
# (tests/integration/harness.c) learns where things are from the
# ENGAGEMENTD_TEST_* variables exported here; ENGAGEMENTD_TEST_WRAPPER
# (e.g. "valgrind -q ...") is passed through for it to run the binary under.
set -euo pipefail

if [ $# -lt 1 ]; then
	echo "usage: test-integration.sh BUILDDIR PROGRAM..." >&2
	exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd -P)
builddir=$(cd "$1" && pwd -P)
shift
binary=$builddir/engagementd
if [ ! -x "$binary" ]; then
	echo "test-integration.sh: no service binary at $binary" >&2
	exit 1
fi

# A developer's own settings must not leak into the servers under test;
# a test that wants one sets it itself.
while read -r var; do
	case $var in
	ENGAGEMENTD_TEST_*) ;;
	ENGAGEMENTD_*) unset "$var" ;;
	esac
done < <(compgen -e)

# The server runs as postgres when we are root: it must enter this folder,
# which a private TMPDIR would forbid.
tmp_parent=${TMPDIR:-/tmp}
if [ "$(id -u)" -eq 0 ] &&
	! "$(command -v runuser || echo /usr/sbin/runuser)" -u postgres -- \
		test -x "$tmp_parent" 2>/dev/null; then
	tmp_parent=/tmp
fi
tmp=$(mktemp -d "$tmp_parent/engagementd-it.XXXXXX")
chmod 0755 "$tmp"
mkdir -p "$tmp/logs"
pgdir=$tmp/pg
# Only a socket file in our own folder carries this number, so any value
# works; a random one keeps the SysV shared memory keys of parallel runs
# apart.
pgport=$((20000 + RANDOM % 40000))
failed=0
passed=0
failures=

cleanup() {
	"$root/scripts/pg.sh" stop "$pgdir" || true
	if [ "$failed" -eq 0 ] && [ "${ENGAGEMENTD_TEST_KEEP:-}" = "" ]; then
		rm -rf "$tmp"
	else
		echo "integration: logs and data kept in $tmp" >&2
	fi
}
trap cleanup EXIT
trap 'failed=$((failed + 1)); exit 130' INT TERM

if ! "$root/scripts/pg.sh" start "$pgdir" "$pgport"; then
	failed=1
	echo "integration: could not start PostgreSQL" >&2
	tail -n 20 "$pgdir/postgresql.log" "$pgdir/initdb.log" 2>/dev/null >&2 || true
	exit 1
fi

export ENGAGEMENTD_TEST_PGDATA=$pgdir
export ENGAGEMENTD_TEST_PGPORT=$pgport
export ENGAGEMENTD_TEST_PGHOST=$pgdir/socket
export ENGAGEMENTD_TEST_BINARY=$binary
export ENGAGEMENTD_TEST_SCRIPTS=$root/scripts
export ENGAGEMENTD_TEST_DATA=$root/tests/data
export ENGAGEMENTD_TEST_TMPDIR=$tmp
export ENGAGEMENTD_TEST_WRAPPER=${ENGAGEMENTD_TEST_WRAPPER:-}
# Test cases that set no timeout of their own get more than Check's 4 s,
# and everything gets more time under a wrapper such as valgrind.
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120}
if [ -n "$ENGAGEMENTD_TEST_WRAPPER" ]; then
	export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-10}
fi

for prog in "$@"; do
	case $prog in
	/*) path=$prog ;;
	*) path=$(pwd -P)/$prog ;;
	esac
	name=$(basename "$prog")
	log=$tmp/logs/$name.out
	set +e
	(cd "$root" && "$path") >"$log" 2>&1
	rc=$?
	set -e
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		counts=$(grep -E '^[0-9]+%: Checks' "$log" | tail -n 1 || true)
		printf 'PASS %-28s %s\n' "$name" "$counts"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		printf 'FAIL %s (exit status %d), output in %s\n' "$name" "$rc" "$log"
		sed 's/^/    /' "$log"
	fi
done

[ "$failed" -eq 0 ] || echo "failed:$failures"
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
