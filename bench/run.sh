#!/usr/bin/env bash
# run.sh - what `make bench` runs after building: a throwaway PostgreSQL,
# the release build, a population loaded through the service itself, then
# ingestion, reads, growth and memory measured against PostgreSQL's COPY and
# nginx.  The table goes to stdout, bench/results/<date>-<name>.md and
# bench/results/latest.md.  bench/README.md explains every phase.  Every
# phase is bounded by its size or its duration, and a request that gets no
# answer for 120 s fails the run.
#
# Sizes (environment):
#   BENCH_QUICK=1        development sizes (20k contacts, 500k events)
#   BENCH_CONTACTS       contacts in the population       (200000)
#   BENCH_EVENTS         events loaded through the service (5000000)
#   BENCH_MEASURE        events per measured batched run   (100000)
#   BENCH_GROW_LOW       stored events of the first growth point (1000000)
#   BENCH_GROW_HIGH      stored events of the second growth point (20000000)
#   BENCH_HOT_EVENTS     events of the large single contact (100000)
#   BENCH_SECONDS        length of each timed HTTP run     (10)
#   BENCH_REPEAT         runs of each short phase; medians are quoted (3)
#   BENCH_PERF=1         record `perf record -g` of the service (and the
#                        whole machine) during one batched and one read run
#   BENCH_PORT           first of the loopback ports used  (18480)
#   BENCH_KEEP=1         keep the temp directory (logs, profiles)
#   BENCH_NAME           names the run in the title and the results file
#                        (default: quick or full)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$root"
bin=$root/build/release/engagementd
load=$root/build/release/bench/load
[ -x "$bin" ] && [ -x "$load" ] || {
	echo "run.sh: build first: make VARIANT=release all build/release/bench/load" >&2
	exit 1
}

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	mode=quick
	: "${BENCH_CONTACTS:=20000}" "${BENCH_EVENTS:=500000}"
	: "${BENCH_MEASURE:=30000}" "${BENCH_GROW_LOW:=100000}"
	: "${BENCH_GROW_HIGH:=2000000}" "${BENCH_HOT_EVENTS:=10000}"
	: "${BENCH_SECONDS:=5}"
else
	mode=full
	: "${BENCH_CONTACTS:=200000}" "${BENCH_EVENTS:=5000000}"
	: "${BENCH_MEASURE:=100000}" "${BENCH_GROW_LOW:=1000000}"
	: "${BENCH_GROW_HIGH:=20000000}" "${BENCH_HOT_EVENTS:=100000}"
	: "${BENCH_SECONDS:=10}"
fi
: "${BENCH_REPEAT:=3}" "${BENCH_PORT:=18480}" "${BENCH_PERF:=0}"
# A run with sizes of its own should say so in its file name.
mode=${BENCH_NAME:-$mode}
contacts=$BENCH_CONTACTS
[ "$BENCH_GROW_LOW" -le "$BENCH_EVENTS" ] || BENCH_GROW_LOW=$BENCH_EVENTS
svc_port=$BENCH_PORT
nginx_port=$((BENCH_PORT + 1))
pg_port=$((BENCH_PORT + 2))
cores=$(nproc)
# The source the binary was built from, as far as git can tell.
revision=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain -- src include sql 2>/dev/null)" ]; then
	revision="$revision, with uncommitted changes to src/"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/engagementd-bench.XXXXXX")
chmod 0755 "$work" # PostgreSQL runs as postgres when we are root
# Private copies: a rebuild in the tree during the run must not swap the
# binary under the profiler or the next phase.
cp "$bin" "$work/engagementd"
cp "$load" "$work/load"
bin=$work/engagementd
load=$work/load
svc_pid=
nginx_pid=
rss_pid=
perf_pid=
started=$(date +%s)
today=$(date -u +%Y-%m-%d)
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)

say() {
	printf '[bench %4ds] %s\n' "$(($(date +%s) - started))" "$*" >&2
}

stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# shellcheck disable=SC2317 # reached through the trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_pid "$perf_pid"
	stop_pid "$rss_pid"
	stop_pid "$svc_pid"
	stop_pid "$nginx_pid"
	"$root/scripts/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
	if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$rc" -ne 0 ]; then
		say "kept $work (logs, profiles)"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- PostgreSQL ---------------------------------------------------------

pg_url=$("$root/scripts/pg.sh" url "$work/pg" "$pg_port")
copy_url=${pg_url/\/engagementd\?//engagementd_copy?}

psql_to() {
	psql -X -q -v ON_ERROR_STOP=1 -tA "$1" "${@:2}"
}

start_pg() {
	say "starting PostgreSQL in $work/pg"
	"$root/scripts/pg.sh" start "$work/pg" "$pg_port" >/dev/null
	# pg_stat_statements says which statement of the merge costs what.
	if ! grep -q pg_stat_statements "$work/pg/data/postgresql.conf"; then
		cat >>"$work/pg/data/postgresql.conf" <<EOF
# written by bench/run.sh
shared_preload_libraries = 'pg_stat_statements, auto_explain'
pg_stat_statements.max = 1000
pg_stat_statements.track_planning = on
auto_explain.log_min_duration = '500ms'
auto_explain.log_nested_statements = on
track_io_timing = on
EOF
		"$root/scripts/pg.sh" stop "$work/pg"
		"$root/scripts/pg.sh" start "$work/pg" "$pg_port" >/dev/null
	fi
	psql_to "$pg_url" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
	psql_to "$pg_url" -c "CREATE DATABASE engagementd_copy"
}

# ---- the service --------------------------------------------------------

api_key=bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

make_keys() {
	sg_pub=$("$load" keygen "$work/sg.pem")
}

# http_get PORT PATH [API_KEY]: the body of a 200 answer, else fails.
# Bash's /dev/tcp, so that no HTTP client needs installing.
http_get() {
	local port=$1 path=$2 auth="" status
	[ -z "${3:-}" ] || auth="Authorization: Bearer $3"$'\r\n'
	exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
	printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sConnection: close\r\n\r\n' \
		"$path" "$auth" >&3
	IFS= read -r status <&3 || { exec 3<&-; return 1; }
	case $status in
	"HTTP/1."?" 200 "*) ;;
	*) exec 3<&-; return 1 ;;
	esac
	sed '1,/^\r$/d' <&3
	exec 3<&-
}

# metric NAME: the service's counter NAME from /metrics (0 if absent).
metric() {
	http_get "$svc_port" /metrics |
		awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }'
}

write_ini() {
	cat >"$work/engagementd.ini" <<EOF
; written by bench/run.sh: defaults, except what a benchmark must fix
[http]
listen = 127.0.0.1:$svc_port
[database]
url = $pg_url
[auth]
api_key = $api_key
[spool]
dir = $work/spool
[model]
; no scheduled refit in the middle of a timed run
refit_interval_s = 0
[sendgrid]
public_key = $sg_pub
EOF
}

start_service() {
	say "starting the service on 127.0.0.1:$svc_port"
	"$bin" --config "$work/engagementd.ini" migrate 2>>"$work/service.log"
	ENGAGEMENTD_DATABASE_URL=$copy_url "$bin" --config "$work/engagementd.ini" \
		migrate 2>>"$work/service.log"
	"$bin" --config "$work/engagementd.ini" serve 2>>"$work/service.log" &
	svc_pid=$!
	for _ in $(seq 1 100); do
		if http_get "$svc_port" /readyz >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$svc_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "run.sh: the service did not become ready; see $work/service.log" >&2
	exit 1
}

# ---- memory of the service, per phase -----------------------------------

status_kb() {
	awk -v k="$1:" '$1 == k { print $2 }' "/proc/$svc_pid/status"
}

rss_start() {
	(
		max=0
		while kill -0 "$svc_pid" 2>/dev/null; do
			v=$(status_kb VmRSS)
			[ "${v:-0}" -le "$max" ] || { max=$v; echo "$max" >"$work/rss.max"; }
			sleep 0.2
		done
	) &
	rss_pid=$!
	status_kb VmRSS >"$work/rss.max"
}

# Prints "peak sampled VmRSS in MiB" and records the phase.
rss_stop() {
	local phase=$1 peak hwm
	stop_pid "$rss_pid"
	rss_pid=
	peak=$(cat "$work/rss.max")
	hwm=$(status_kb VmHWM)
	awk -v p="$phase" -v a="$peak" -v b="$hwm" \
		'BEGIN { printf "| %s | %.1f | %.1f |\n", p, a / 1024, b / 1024 }' \
		>>"$work/rss.md"
	awk -v a="$peak" 'BEGIN { print a / 1024 }' >>"$work/rss.all"
}

# ---- helpers ------------------------------------------------------------

field() { # field NAME LINE
	tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'
}

median() {
	awk 'NF' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

run_load() { # run_load ARGS... ; prints the result line, fails on errors
	local out
	if ! out=$("$load" "$@"); then
		echo "run.sh: load $* failed: $out" >&2
		echo "run.sh: see $work/service.log" >&2
		exit 1
	fi
	if [ "$1" != copy ] &&
		[ "$(field accepted "$out")" != "$(field events "$out")" ]; then
		say "warning: the service stored fewer events than sent: $out"
	fi
	echo "$out"
}

analyze() {
	psql_to "$1" -c "ANALYZE" >/dev/null
}

stmt_reset() {
	psql_to "$pg_url" -c "SELECT pg_stat_statements_reset()" >/dev/null
}

# The statements that took the most server time since the last reset.
stmt_dump() {
	local title=$1
	{
		echo
		echo "#### Server time by statement: $title"
		echo
		echo "| share | execute ms | plan ms | calls | mean ms | statement |"
		echo "| ---: | ---: | ---: | ---: | ---: | --- |"
		psql_to "$pg_url" -F ' | ' -c "
			SELECT round((100 * sum(total_exec_time + total_plan_time)
			    / sum(sum(total_exec_time + total_plan_time)) OVER ())
			    ::numeric, 1) || ' %',
			  round(sum(total_exec_time)::numeric),
			  round(sum(total_plan_time)::numeric), sum(calls),
			  round((sum(total_exec_time + total_plan_time)
			    / sum(calls))::numeric, 2),
			  left(regexp_replace(query, '\s+', ' ', 'g'), 90)
			FROM pg_stat_statements
			WHERE dbid = (SELECT oid FROM pg_database
			    WHERE datname = 'engagementd')
			  AND query NOT LIKE 'ANALYZE%'
			  AND query NOT LIKE '%pg_stat_statements%'
			GROUP BY query
			ORDER BY sum(total_exec_time + total_plan_time) DESC
			LIMIT 10" |
			sed 's/^/| /; s/$/ |/'
	} >>"$work/statements.md"
}

perf_start() {
	[ "$BENCH_PERF" = 1 ] || return 0
	command -v perf >/dev/null || return 0
	perf record -F 499 -g -a -o "$work/perf-$1.data" \
		>"$work/perf-$1.log" 2>&1 &
	perf_pid=$!
}

perf_stop() {
	[ -n "$perf_pid" ] || return 0
	kill -INT "$perf_pid" 2>/dev/null || true
	wait "$perf_pid" 2>/dev/null || true
	perf_pid=
	perf report -i "$work/perf-$1.data" --no-children --sort comm,dso \
		-g none --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25 \
		>"$work/perf-$1-by-process.txt" || true
	perf report -i "$work/perf-$1.data" --no-children --pid "$svc_pid" \
		--sort sym --stdio -g none 2>/dev/null | grep -v '^#' |
		grep -v '^$' | head -40 >"$work/perf-$1-service.txt" || true
	perf report -i "$work/perf-$1.data" --children --comm postgres \
		--sort sym -g none --stdio 2>/dev/null | grep -v '^#' |
		grep -v '^$' | head -60 >"$work/perf-$1-postgres.txt" || true
	say "profile of $1 in $work/perf-$1-*.txt"
}

# ---- loads --------------------------------------------------------------

# Each measured run is a new campaign: its events are dated after every
# earlier run's, as a sender's next campaign is, so that the merge sees new
# messages appended to each contact's sequence rather than a past it must
# reorder.  Runs are 5 days apart, starting 30 days after the population's
# first event; at the largest sizes the population spans 25 rounds of an
# hour, and no run spans more than a few days.  The counter lives in a file
# because the runs are called from command substitutions (subshells).
next_offset() {
	local file=$work/next-offset-s
	[ -f "$file" ] || echo $((30 * 86400)) >"$file"
	offset_s=$(cat "$file")
	echo $((offset_s + 5 * 86400)) >"$file"
}

# load_range TAG FIRST COUNT [OFFSET_S]: the population's events
# [FIRST, FIRST+COUNT), dated OFFSET_S later, through the service (webhooks)
# and through COPY into the baseline database; prints
# "service_rate copy_rate".
load_range() {
	local tag=$1 first=$2 count=$3 offset=${4:-0} svc cp
	svc=$(run_load webhook --port "$svc_port" --key "$work/sg.pem" \
		--tag "$tag" --contacts "$contacts" --first "$first" \
		--count "$count" --batch 1000 --threads 8 --t-offset "$offset")
	cp=$(run_load copy --db "$copy_url" --tag "$tag" \
		--contacts "$contacts" --first "$first" --count "$count" \
		--batch 1000 --threads 8 --t-offset "$offset")
	echo "$(field rate "$svc") $(field rate "$cp")"
}

# measure_batched LABEL: BENCH_REPEAT fresh runs of BENCH_MEASURE events,
# each once through the service and once by COPY; prints the medians
# "service copy".
measure_batched() {
	local label=$1 s c out svc_rates="" copy_rates=""
	analyze "$pg_url"
	analyze "$copy_url"
	for i in $(seq 1 "$BENCH_REPEAT"); do
		next_offset
		out=$(load_range "$label-$i" 0 "$BENCH_MEASURE" "$offset_s")
		s=${out% *}
		c=${out#* }
		svc_rates="$svc_rates$s"$'\n'
		copy_rates="$copy_rates$c"$'\n'
		say "  $label run $i: service $s events/s, COPY $c events/s"
	done
	echo "$(median <<<"$svc_rates") $(median <<<"$copy_rates")"
}

# summaries_mark / summaries_add: count the contact summaries the merge
# advanced or recomputed between the two calls, into batched_adv/_rec.
batched_adv=0
batched_rec=0
summaries_mark() {
	mark_adv=$(metric engagementd_summaries_advanced_total)
	mark_rec=$(metric engagementd_summaries_recomputed_total)
}
summaries_add() {
	batched_adv=$((batched_adv + $(metric engagementd_summaries_advanced_total) - mark_adv))
	batched_rec=$((batched_rec + $(metric engagementd_summaries_recomputed_total) - mark_rec))
}

# ---- phase: population ----------------------------------------------------

copy_contacts() {
	psql_to "$copy_url" -c "
		INSERT INTO contacts (account_id, contact_pk, crm_id, email,
		    created_at, updated_at)
		SELECT 1, g + 1, 'c-' || g, 'u' || g || '@c-.bench.example',
		    now(), now()
		FROM generate_series(0, $contacts - 1) g" >/dev/null
}

# Events stored directly, to reach a stored-events count the service would
# need hours to load: contacts "f-N" with delivered and opened messages.
filler() {
	local n=$1 fc
	fc=$((n / 25 + 1))
	[ "$n" -gt 0 ] || return 0
	say "adding $n filler events by SQL (not timed)"
	psql_to "$pg_url" -c "
		INSERT INTO contacts (account_id, crm_id, email, created_at,
		    updated_at)
		SELECT 1, 'f-' || g, 'f' || g || '@filler.bench.example',
		    now(), now()
		FROM generate_series(0, $fc - 1) g" >/dev/null
	# No foreign-key triggers for rows known to be consistent: the filler
	# is about the size of tables and indexes, not about checking them.
	psql_to "$pg_url" -c "
		SET session_replication_role = replica;
		CREATE TEMP TABLE fc AS SELECT contact_pk,
		    row_number() OVER (ORDER BY contact_pk) - 1 AS i
		    FROM contacts WHERE account_id = 1 AND crm_id LIKE 'f-%';
		INSERT INTO events (account_id, provider, event_key, contact_pk,
		    type, message_id, campaign_id, occurred_at, received_at,
		    url, user_agent, ip, bounce, flags, verdict)
		SELECT 1, 'sendgrid', 'filler-' || g, fc.contact_pk,
		    CASE WHEN (g / $fc) % 2 = 0 THEN 1 ELSE 2 END,
		    'fm.' || g % $fc || '.' || g / $fc / 2, 'campaign-1',
		    timestamptz '2026-01-01' + (g / $fc) * interval '1 hour',
		    now(), NULL,
		    CASE WHEN (g / $fc) % 2 = 1 THEN 'Mozilla/5.0' END,
		    CASE WHEN (g / $fc) % 2 = 1 THEN '198.51.100.0' END,
		    0, 0, CASE WHEN (g / $fc) % 2 = 0 THEN 0 ELSE 1 END
		FROM generate_series(0, $n - 1) g JOIN fc ON fc.i = g % $fc;
		INSERT INTO messages (account_id, contact_pk, message_id,
		    order_at, delivered_at, opened_at, delivered, opened,
		    observable)
		SELECT 1, fc.contact_pk, 'fm.' || g % $fc || '.' || g / $fc,
		    timestamptz '2026-01-01' + g / $fc * interval '2 hours',
		    timestamptz '2026-01-01' + g / $fc * interval '2 hours',
		    timestamptz '2026-01-01' + g / $fc * interval '2 hours',
		    true, true, true
		FROM generate_series(0, ($n - 1) / 2) g JOIN fc ON fc.i = g % $fc" \
		>/dev/null
	psql_to "$pg_url" -c "VACUUM ANALYZE" >/dev/null
}

# ---- phase: HTTP runs with wrk ------------------------------------------

# wrk_run ARGS...: prints "rps p50_ms p99_ms non2xx".
wrk_run() {
	local out
	out=$(wrk --latency "$@" 2>&1) || {
		echo "run.sh: wrk failed: $out" >&2
		exit 1
	}
	awk '
	function ms(v) {
		if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
		return v
	}
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	$1 == "Requests/sec:" { rps = $2 }
	/Non-2xx/ { bad = $NF }
	END { printf "%s %.3f %.3f %d\n", rps, p50, p99, bad }' <<<"$out"
}

# wrk_repeat ARGS...: BENCH_REPEAT runs; prints the medians of each field.
wrk_repeat() {
	local all="" line
	for _ in $(seq 1 "$BENCH_REPEAT"); do
		line=$(wrk_run "$@")
		say "  wrk: $line (req/s p50 p99 non-2xx)"
		all="$all$line"$'\n'
	done
	for col in 1 2 3 4; do
		awk -v c="$col" 'NF { print $c }' <<<"$all" | median
	done | paste -sd' '
}

start_nginx() {
	local user_line=""
	mkdir -p "$work/nginx/www" "$work/nginx/logs"
	[ "$(id -u)" -ne 0 ] || user_line="user root;"
	cat >"$work/nginx/nginx.conf" <<EOF
$user_line
worker_processes $cores;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log $work/nginx/logs/access.log;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$nginx_port;
		root $work/nginx/www;
		default_type application/json;
	}
}
EOF
	nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
	nginx_pid=$!
	for _ in $(seq 1 50); do
		http_get "$nginx_port" /scorecard.json >/dev/null 2>&1 &&
			return 0
		sleep 0.1
	done
	echo "run.sh: nginx did not start; see $work/nginx/logs" >&2
	exit 1
}

# ---- the run ------------------------------------------------------------

make_keys
start_pg
write_ini
start_service
copy_contacts
: >"$work/rss.md"
: >"$work/statements.md"

say "mode $mode: $contacts contacts, $BENCH_EVENTS events, $cores cores"

# 1. The first part of the population, up to the low growth point.
rss_start
say "loading $BENCH_GROW_LOW events (8 senders, batches of 1000)"
low_load=$(load_range pop 0 "$BENCH_GROW_LOW")
rss_stop "load to $BENCH_GROW_LOW events"
say "  load: service ${low_load% *} events/s, COPY ${low_load#* } events/s"

rss_start
say "batched ingestion at $BENCH_GROW_LOW stored events"
summaries_mark
b_low=$(measure_batched low)
summaries_add
rss_stop "batched, $BENCH_GROW_LOW stored"

# 2. The rest of the population.
rest=$((BENCH_EVENTS - BENCH_GROW_LOW))
rest_load="0 0"
if [ "$rest" -gt 0 ]; then
	rss_start
	say "loading the remaining $rest events"
	rest_load=$(load_range pop "$BENCH_GROW_LOW" "$rest")
	rss_stop "load to $BENCH_EVENTS events"
	say "  load: service ${rest_load% *} events/s, COPY ${rest_load#* } events/s"
fi
stored=$((BENCH_EVENTS + BENCH_REPEAT * BENCH_MEASURE))

rss_start
stmt_reset
perf_start batched
say "batched ingestion at $stored stored events"
summaries_mark
b_pop=$(measure_batched pop)
summaries_add
perf_stop batched
stmt_dump "batched webhook ingestion"
rss_stop "batched, $stored stored"
stored=$((stored + BENCH_REPEAT * BENCH_MEASURE))

# 3. Single events, one per request.
rss_start
stmt_reset
say "single-event ingestion, 64 connections, ${BENCH_SECONDS}s x $BENCH_REPEAT"
single_rates=""
adv0=$(metric engagementd_summaries_advanced_total)
rec0=$(metric engagementd_summaries_recomputed_total)
for i in $(seq 1 "$BENCH_REPEAT"); do
	next_offset
	out=$(run_load single --port "$svc_port" --api-key "$api_key" \
		--tag "single-$i" --contacts "$contacts" --count 1000000000 \
		--threads 64 --seconds "$BENCH_SECONDS" --t-offset "$offset_s")
	say "  single run $i: $out"
	single_rates="$single_rates$(field rate "$out")"$'\n'
	single_p99="$(field p99_ms "$out")"
done
single=$(median <<<"$single_rates")
single_adv=$(($(metric engagementd_summaries_advanced_total) - adv0))
single_rec=$(($(metric engagementd_summaries_recomputed_total) - rec0))
stmt_dump "single-event ingestion"
rss_stop "single events"

# 4. Scorecard reads against nginx serving a scorecard-sized file.
analyze "$pg_url"
rss_start
stmt_reset
perf_start reads
hits0=$(metric engagementd_scorecache_hits_total)
miss0=$(metric engagementd_scorecache_misses_total)
say "scorecard reads, 64 connections, ${BENCH_SECONDS}s x $BENCH_REPEAT"
reads=$(wrk_repeat -t "$cores" -c 64 -d "${BENCH_SECONDS}s" \
	-s "$root/bench/scorecard.lua" "http://127.0.0.1:$svc_port" -- \
	"$contacts" "$api_key")
perf_stop reads
read_hits=$(($(metric engagementd_scorecache_hits_total) - hits0))
read_misses=$(($(metric engagementd_scorecache_misses_total) - miss0))
stmt_dump "scorecard reads"
rss_stop "scorecard reads"

mkdir -p "$work/nginx/www"
http_get "$svc_port" /v1/contacts/c-1/scorecard "$api_key" \
	>"$work/nginx/www/scorecard.json"
card_bytes=$(wc -c <"$work/nginx/www/scorecard.json")
start_nginx
say "nginx, static $card_bytes-byte file, $cores workers"
nginx_reads=$(wrk_repeat -t "$cores" -c 64 -d "${BENCH_SECONDS}s" \
	-H "Authorization: Bearer $api_key" \
	"http://127.0.0.1:$nginx_port/scorecard.json")
stop_pid "$nginx_pid"
nginx_pid=

# 5. Latency against the size of one contact's history.
rss_start
say "contacts with 10 and $BENCH_HOT_EVENTS events"
run_load webhook --port "$svc_port" --key "$work/sg.pem" --tag hot-s \
	--prefix hot-s- --contacts 1 --count 10 --batch 10 --threads 1 --step 60 \
	>/dev/null
run_load webhook --port "$svc_port" --key "$work/sg.pem" --tag hot-b \
	--prefix hot-b- --contacts 1 --count "$BENCH_HOT_EVENTS" --batch 1000 \
	--threads 1 --step 60 >"$work/hot-load.txt"
say "  loading the large contact: $(cat "$work/hot-load.txt")"
analyze "$pg_url"
# The two contacts' runs alternate, so that a drift of the shared machine's
# speed during the phase weighs on both sides alike (sub-millisecond
# medians move by a fifth between consecutive runs here).
hot_s_all=""
hot_b_all=""
for _ in $(seq 1 "$BENCH_REPEAT"); do
	for who in s b; do
		line=$(wrk_run -t 1 -c 4 -d "${BENCH_SECONDS}s" \
			-H "Authorization: Bearer $api_key" \
			"http://127.0.0.1:$svc_port/v1/contacts/hot-$who-0/scorecard")
		say "  wrk hot-$who: $line (req/s p50 p99 non-2xx)"
		if [ "$who" = s ]; then
			hot_s_all="$hot_s_all$line"$'\n'
		else
			hot_b_all="$hot_b_all$line"$'\n'
		fi
	done
done
hot_medians() {
	for col in 1 2 3 4; do
		awk -v c="$col" 'NF { print $c }' <<<"$1" | median
	done | paste -sd' '
}
hot_s=$(hot_medians "$hot_s_all")
hot_b=$(hot_medians "$hot_b_all")
rss_stop "one contact's history"

# 6. Ingestion with many more stored events.
stored=$((stored + 10 + BENCH_HOT_EVENTS))
filler $((BENCH_GROW_HIGH - stored))
[ "$BENCH_GROW_HIGH" -gt "$stored" ] && stored=$BENCH_GROW_HIGH
rss_start
say "batched ingestion at $stored stored events"
summaries_mark
b_high=$(measure_batched high)
summaries_add
rss_stop "batched, $stored stored"

# ---- the report -----------------------------------------------------------

read -r r_rps r_p50 r_p99 r_bad <<<"$reads"
read -r n_rps n_p50 n_p99 _ <<<"$nginx_reads"
read -r _ hs_p50 hs_p99 _ <<<"$hot_s"
read -r _ hb_p50 hb_p99 _ <<<"$hot_b"
bp_svc=${b_pop% *}
bp_copy=${b_pop#* }
bl_svc=${b_low% *}
bh_svc=${b_high% *}
peak_rss=$(sort -g "$work/rss.all" | tail -1)
pg_version=$(psql_to "$pg_url" -c "SHOW server_version")
yes_no() { awk "BEGIN { print ($1) ? \"yes\" : \"**no**\" }"; }

batched_ratio=$(ratio "$bp_svc" "$bp_copy")
reads_ratio=$(ratio "$r_rps" "$n_rps")
hot_ratio=$(ratio "$hb_p50" "$hs_p50")
hot99_ratio=$(ratio "$hb_p99" "$hs_p99")
grow_ratio=$(ratio "$bl_svc" "$bh_svc")

result=$work/result.md
{
	echo "## engagementd benchmark, $stamp ($mode run)"
	echo
	echo "- machine: $cores cores ($(nproc --all) installed), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
	echo "- versions: engagementd $("$bin" --version 2>&1 | head -1 | awk '{ print $NF }') (commit $revision), PostgreSQL $pg_version, $(nginx -v 2>&1 | sed 's/.*: //'), $(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')"
	echo "- population: $contacts contacts, $BENCH_EVENTS events loaded through the service; measured batched runs of $BENCH_MEASURE events; short phases run $BENCH_REPEAT times, medians quoted; HTTP runs ${BENCH_SECONDS}s"
	echo "- PostgreSQL as scripts/pg.sh sets it up (fsync and synchronous_commit on, shared_buffers 64MB) plus pg_stat_statements"
	echo
	echo "| measure | engagementd | baseline | ratio | target | met |"
	echo "| --- | ---: | ---: | ---: | --- | --- |"
	echo "| batched webhook ingestion, 8 senders x 1000 events (events/s) | $bp_svc | COPY $bp_copy | $batched_ratio | >= 0.8x COPY | $(yes_no "$batched_ratio >= 0.8") |"
	echo "| single-event ingestion, 64 connections (events/s) | $single | | | >= 10000 | $(yes_no "$single >= 10000") |"
	echo "| scorecard reads, 64 connections (req/s) | $r_rps | nginx $n_rps | $reads_ratio | >= 0.5x nginx | $(yes_no "$reads_ratio >= 0.5") |"
	echo "| scorecard read p50 / p99 (ms) | $r_p50 / $r_p99 | nginx $n_p50 / $n_p99 | | p99 < 5 ms | $(yes_no "$r_p99 < 5") |"
	echo "| read p50 / p99, 10-event contact (ms, 4 connections) | $hs_p50 / $hs_p99 | | | | |"
	echo "| read p50 / p99, $BENCH_HOT_EVENTS-event contact (ms, 4 connections) | $hb_p50 / $hb_p99 | 10-event contact | $hot_ratio / $hot99_ratio | p50 <= 1.2x | $(yes_no "$hot_ratio <= 1.2") |"
	echo "| batched ingestion at $BENCH_GROW_LOW stored (events/s) | $bl_svc | COPY ${b_low#* } | $(ratio "$bl_svc" "${b_low#* }") | | |"
	echo "| batched ingestion at $stored stored (events/s) | $bh_svc | at $BENCH_GROW_LOW stored | $grow_ratio slower | <= 1.3x slower | $(yes_no "$grow_ratio <= 1.3") |"
	echo "| population load, first $BENCH_GROW_LOW events (events/s) | ${low_load% *} | COPY ${low_load#* } | $(ratio "${low_load% *}" "${low_load#* }") | | |"
	if [ "$rest" -gt 0 ]; then
		echo "| population load, remaining $rest events (events/s) | ${rest_load% *} | COPY ${rest_load#* } | $(ratio "${rest_load% *}" "${rest_load#* }") | | |"
	fi
	echo "| peak resident memory of the service (MiB) | $(printf '%.1f' "$peak_rss") | | | < 128 | $(yes_no "$peak_rss < 128") |"
	echo
	echo "Scorecard reads answered other than 2xx: $r_bad. Scorecard body: $card_bytes bytes. Single-event p99 of the last run: $single_p99 ms."
	echo
	echo "Scorecard cache over the read runs (the first run starts cold): $read_hits hits, $read_misses misses. Contact summaries in the single-event runs: $single_adv advanced from their new messages, $single_rec recomputed in full; in the batched runs: $batched_adv advanced, $batched_rec recomputed."
	echo
	echo "Resident memory of the service by phase (MiB; sampled VmRSS peak every 0.2 s, VmHWM at the end of the phase):"
	echo
	echo "| phase | VmRSS peak | VmHWM |"
	echo "| --- | ---: | ---: |"
	cat "$work/rss.md"
	cat "$work/statements.md"
} >"$result"

cat "$result"
mkdir -p "$root/bench/results"
cp "$result" "$root/bench/results/$today-$mode.md"
cp "$result" "$root/bench/results/latest.md"
say "written bench/results/$today-$mode.md and bench/results/latest.md"
