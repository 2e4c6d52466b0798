#!/bin/sh
# pg.sh - a private PostgreSQL cluster for development and tests.
#
#   pg.sh start DIR PORT   initdb on first use, start, create database
#                          "engagementd" if missing
#   pg.sh stop DIR         fast shutdown (open sessions are cut)
#   pg.sh status DIR       exit 0 when running
#   pg.sh url DIR PORT     print the libpq URI of database "engagementd"
#
# DIR holds data/ (the cluster), socket/ (the only place it listens: no TCP
# at all, so PORT only names the socket file and never clashes with another
# server) and postgresql.log.  Authentication is "trust" for the role
# "postgres": the socket directory is the only way in.  Run as root, the
# server runs as the postgres OS user, which must be able to reach DIR.
set -eu

die() {
	echo "pg.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: pg.sh start DIR PORT | stop DIR | status DIR | url DIR PORT" >&2
	exit 2
}

# The newest server installation, unless its tools are already on PATH.
find_bindir() {
	if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v pg_ctl)")"
		return
	fi
	best=
	best_version=0
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/pg_ctl" ] || continue
		v=$(basename "$(dirname "$d")")
		case $v in
		'' | *[!0-9]*) continue ;;
		esac
		if [ "$v" -gt "$best_version" ]; then
			best=$d
			best_version=$v
		fi
	done
	[ -n "$best" ] || die "cannot find pg_ctl; run scripts/deps.sh"
	echo "$best"
}

# runuser lives in /usr/sbin, which a non-login root shell may lack.
find_runuser() {
	for r in "$(command -v runuser 2>/dev/null)" /usr/sbin/runuser /sbin/runuser; do
		if [ -n "$r" ] && [ -x "$r" ]; then
			echo "$r"
			return
		fi
	done
	die "need runuser (util-linux) to run the server as postgres"
}

# Runs a command as the cluster's owner.  From / so that a working
# directory the postgres user cannot read does not matter.
as_owner() {
	if [ "$(id -u)" -ne 0 ]; then
		(cd / && "$@")
	else
		(cd / && "$runuser" -u postgres -- "$@")
	fi
}

# As root, every parent of DIR must be searchable by postgres; mktemp's
# 0700 directories are the usual culprit, so say which one.
check_reachable() {
	[ "$(id -u)" -eq 0 ] || return 0
	id postgres >/dev/null 2>&1 || die "no postgres OS user; run scripts/deps.sh"
	p=$1
	while [ "$p" != / ]; do
		p=$(dirname "$p")
		"$runuser" -u postgres -- test -x "$p" ||
			die "the postgres user cannot enter \"$p\"; chmod o+x it or pick another directory"
	done
}

abspath() {
	mkdir -p "$1"
	(cd "$1" && pwd -P)
}

# The same without creating anything, for "url" before a first start.
abspath_quiet() {
	if [ -d "$1" ]; then
		(cd "$1" && pwd -P)
	else
		case $1 in
		/*) echo "$1" ;;
		*) echo "$(pwd -P)/$1" ;;
		esac
	fi
}

psql_admin() {
	psql=$bindir/psql
	[ -x "$psql" ] || psql=$(command -v psql) || die "cannot find psql"
	as_owner "$psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/socket" \
		-p "$port" -U postgres -d postgres "$@"
}

init_cluster() {
	mkdir -p "$dir/data" "$dir/socket"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$dir" "$dir/data" "$dir/socket"
	fi
	chmod 0700 "$dir/data"
	as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
		--encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
		die "initdb failed, see $dir/initdb.log"
	# Small and quiet; fsync stays on so tests see real commit behaviour.
	cat >>"$dir/data/postgresql.conf" <<EOF

# written by scripts/pg.sh
listen_addresses = ''
unix_socket_directories = '$dir/socket'
max_connections = 200
shared_buffers = 64MB
max_wal_size = 256MB
fsync = on
synchronous_commit = on
log_min_messages = warning
log_min_error_statement = error
log_line_prefix = '%m [%p] %d '
EOF
}

start() {
	bindir=$(find_bindir)
	check_reachable "$dir"
	if [ ! -s "$dir/data/PG_VERSION" ]; then
		[ -z "$(ls -A "$dir/data" 2>/dev/null)" ] ||
			die "$dir/data is not empty and holds no cluster"
		init_cluster
	fi
	if ! as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		touch "$dir/postgresql.log"
		[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$dir/postgresql.log"
		as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" \
			-o "-p $port" -w -t 60 start >/dev/null ||
			die "server did not start, see $dir/postgresql.log"
	fi
	exists=$(psql_admin -tA -c \
		"SELECT 1 FROM pg_database WHERE datname = 'engagementd'")
	[ "$exists" = 1 ] || psql_admin -c "CREATE DATABASE engagementd"
}

stop() {
	bindir=$(find_bindir)
	[ -d "$dir/data" ] || return 0
	if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop \
			>/dev/null
	fi
}

[ $# -ge 2 ] || usage
cmd=$1
runuser=
[ "$(id -u)" -ne 0 ] || runuser=$(find_runuser)
case $cmd in
start | url)
	[ $# -eq 3 ] || usage
	port=$3
	;;
stop | status)
	[ $# -eq 2 ] || usage
	;;
*) usage ;;
esac
case ${3:-0} in
*[!0-9]*) die "port \"$3\" is not a number" ;;
esac

case $cmd in
start)
	dir=$(abspath "$2")
	start
	;;
stop)
	[ -d "$2" ] || exit 0
	dir=$(abspath "$2")
	stop
	;;
status)
	[ -d "$2/data" ] || exit 3
	dir=$(abspath "$2")
	bindir=$(find_bindir)
	as_owner "$bindir/pg_ctl" -D "$dir/data" status
	;;
url)
	dir=$(abspath_quiet "$2")
	echo "postgresql:///engagementd?host=$dir/socket&port=$port&user=postgres"
	;;
esac
