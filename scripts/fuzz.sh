#!/bin/sh
# fuzz.sh - runs the libFuzzer harnesses of tests/fuzz/ (docs/fuzzing.md).
#
#   scripts/fuzz.sh run SECONDS [HARNESS...]
#       runs each harness (default: all of build/fuzz/fuzz_*) for SECONDS,
#       FUZZ_JOBS at a time (default 2), under nice; for fuzz_<name> the
#       committed seeds in tests/fuzz/corpus/<name>/ are read, new inputs
#       go to build/fuzz/corpus/<name>/, crashes to
#       build/fuzz/artifacts/<name>/ and the log to build/fuzz/logs/<name>.log;
#       leaks listed in tests/fuzz/lsan.supp (known, reported) are ignored.
#       Prints the executions of each run; exits 1 when any harness crashed.
#   scripts/fuzz.sh seeds
#       rewrites the named seeds of tests/fuzz/corpus/ from tests/data
#       (needs jq); inputs added by merge are left alone.
#   scripts/fuzz.sh merge [HARNESS...]
#       adds to tests/fuzz/corpus/<name>/ the inputs of build/fuzz/corpus/
#       that reach code the committed ones do not.
#   scripts/fuzz.sh repro HARNESS FILE...
#       runs the harness once on each file, as a regression check.
#
# Run from anywhere; build the harnesses first with `make fuzz-build`.
set -u

root=$(cd "$(dirname "$0")/.." && pwd -P)
bin=$root/build/fuzz
seeds=$root/tests/fuzz/corpus
data=$root/tests/data

usage() {
	sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# --- run ------------------------------------------------------------------

# Known leaks, already reported, that must not stop a run.
use_leak_suppressions() {
	supp=$root/tests/fuzz/lsan.supp
	if grep -q '^leak:' "$supp" 2>/dev/null; then
		LSAN_OPTIONS="suppressions=$supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
		export LSAN_OPTIONS
	fi
}

# run_one NAME SECONDS: one harness, its log and a one-line summary.
run_one() {
	name=$1
	secs=$2
	short=${name#fuzz_}
	work=$bin/corpus/$short
	art=$bin/artifacts/$short
	log=$bin/logs/$short.log
	dict=$root/tests/fuzz/$short.dict

	mkdir -p "$work" "$art" "$bin/logs"
	set -- -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$art/" -timeout=10 -rss_limit_mb=2048 \
		-max_len=16384
	if [ -f "$dict" ]; then
		set -- "$@" -dict="$dict"
	fi
	use_leak_suppressions
	(cd "$root" && nice -n 10 "$bin/$name" "$@" "$work" \
		"$seeds/$short" >"$log" 2>&1)
	rc=$?
	# -a: libFuzzer echoes raw dictionary bytes into the log
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
		tail -n 1)
	cov=$(grep -a -E '^#[0-9]+' "$log" | tail -n 1 |
		sed -n 's/.*cov: \([0-9]*\).*ft: \([0-9]*\).*/cov \1, ft \2/p')
	if [ "$rc" -eq 0 ]; then
		printf 'ok    %-20s %6ss  %12s execs  %s\n' "$name" "$secs" \
			"${execs:-?}" "$cov"
	else
		printf 'CRASH %-20s exit %d after %s execs; see %s\n' "$name" \
			"$rc" "${execs:-?}" "$log"
		ls "$art" 2>/dev/null | sed 's/^/      /'
	fi
	return $rc
}

run_all() {
	secs=$1
	shift
	jobs=${FUZZ_JOBS:-2}
	if [ $# -eq 0 ]; then
		for f in "$bin"/fuzz_*; do
			[ -x "$f" ] && set -- "$@" "$(basename "$f")"
		done
	fi
	if [ $# -eq 0 ]; then
		echo "fuzz.sh: no harnesses in $bin; run make fuzz-build" >&2
		exit 2
	fi
	status=0
	tmp=$(mktemp -d)
	running=0
	for name in "$@"; do
		(run_one "$name" "$secs" >"$tmp/$name.out"; echo $? >"$tmp/$name.rc") &
		running=$((running + 1))
		if [ "$running" -ge "$jobs" ]; then
			wait
			running=0
		fi
	done
	wait
	for name in "$@"; do
		cat "$tmp/$name.out"
		[ "$(cat "$tmp/$name.rc")" = 0 ] || status=1
	done
	rm -rf "$tmp"
	return $status
}

# --- seeds ----------------------------------------------------------------

# seed DIR NAME: stdin becomes one seed file.
seed() {
	mkdir -p "$seeds/$1"
	cat >"$seeds/$1/$2"
}

# The senders harness's selector byte: index + 8 when signed.
sender_index() {
	case $1 in
	sendgrid) echo 0 ;; mailgun) echo 1 ;; postmark) echo 2 ;; ses) echo 3 ;;
	sparkpost) echo 4 ;; mandrill) echo 5 ;; brevo) echo 6 ;; mailjet) echo 7 ;;
	esac
}

selector() {
	printf "\\$(printf '%03o' $((48 + $1)))"
}

sender_seeds() {
	for dir in "$data"/webhooks/*/; do
		name=$(basename "$dir")
		ix=$(sender_index "$name")
		[ -n "$ix" ] || continue
		n=0
		jq -c '.requests[]' "$dir/headers.json" | while read -r req; do
			n=$((n + 1))
			file=$(printf '%s' "$req" | jq -r .file)
			variant=$(printf '%s' "$req" | jq -r .variant)
			# unsigned, with the recorded headers as an "@" block
			{
				selector "$ix"
				printf '@'
				printf '%s' "$req" | jq -r \
					'.headers | to_entries[] | "\(.key): \(.value)"'
				printf '\n'
				cat "$dir/$file"
			} | seed senders "$name-$n-$variant"
			# signed by the harness, body only
			if [ "$variant" = valid ]; then
				{ selector $((ix + 8)); cat "$dir/$file"; } |
					seed senders "$name-$n-signed"
			fi
		done
	done
	# Mandrill's URL check and an SNS subscription handshake.
	printf '5@:method: HEAD\n\n' | seed senders mandrill-head
	selector 11 | seed senders ses-subscription
	printf '{"Type":"SubscriptionConfirmation","MessageId":"m1","Token":"t","TopicArn":"arn:aws:sns:us-east-1:000000000000:ses-crm-events","Message":"confirm","SubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription","Timestamp":"2026-01-01T09:59:00.000Z","SignatureVersion":"2","Signature":"x","SigningCertURL":"https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000test0000test0000test0000test.pem"}' >>"$seeds/senders/ses-subscription"
}

native_seeds() {
	printf '%s' '{"type":"open","contact_id":"c-1","message_id":"m-1","occurred_at":"2026-01-01T09:00:00Z"}' | seed native single-open
	printf '%s' '[{"type":"delivered","email":"Alice@Example.com","message_id":"m-1","occurred_at":1767258000},{"type":"click","contact_id":"c-1","message_id":"m-1","occurred_at":1767258001.5,"url":"https://example.com/a","user_agent":"Mozilla/5.0 GoogleImageProxy","ip":"192.0.2.1","machine_open":false}]' | seed native batch
	printf '%s' '[{"type":"bounce","contact_id":"c-2","occurred_at":"2026-01-01 09:00:00.1234567+02:00","bounce_type":"soft","event_id":"e-9"},{"type":"unsubscribe","email":"b@example.org","occurred_at":"2026-01-01T09:00:00Z","campaign_id":"spring"},{"type":"complaint","contact_id":"c-3","occurred_at":"2026-01-01T09:00:00Z","tracked":false}]' | seed native bounce-unsub-complaint
	printf '%s' '[{"type":"sent"},{"type":"open","occurred_at":"1999-12-31T23:59:59Z","contact_id":""},3,null,{"type":"click","contact_id":"c","message_id":"m","occurred_at":-1}]' | seed native rejections
	printf '%s' '{"type":"open","type":"click"}' | seed native duplicate-key
	printf '%s' '[]' | seed native empty-array
	printf '%s' '{"type":"open",' | seed native truncated
}

config_seeds() {
	for f in "$data"/config/*.ini; do
		cp "$f" "$seeds/config/$(basename "$f")"
	done
	if [ -f "$root/config.example.ini" ]; then
		cp "$root/config.example.ini" "$seeds/config/example.ini"
	fi
}

route_seeds() {
	# byte 0 picks the mode; see tests/fuzz/fuzz_route.c
	printf '0abc%%2Fdef%%41' | seed route decode-path
	printf '0bad%%zz' | seed route decode-bad-escape
	printf '0nul%%00' | seed route decode-nul
	printf '1a+b%%20c%%2B' | seed route decode-query
	printf '2/v1/contacts/crm%%2F42/scorecard' | seed route contact-scorecard
	printf '2/v1/webhooks/sendgrid/17' | seed route webhook-account
	printf '2/v1/contacts/' | seed route trailing-slash
	printf '3/a/{x}/{y}/{z}/{w}/{v}\0/a/1/2/3/4/5' | seed route too-many-params
	printf '3/v1/{id}\0/v1/%%41%%42' | seed route template-escape
	printf '4POST HEAD\0HEAD' | seed route methods
	printf '4GET  PUT \0PUT' | seed route methods-spaces
}

time_seeds() {
	printf '2026-01-01T09:00:05Z' | seed time utc
	printf '2026-01-01T09:00:05.1234567Z' | seed time seven-digits
	printf '2026-01-01 09:00:05+02:00' | seed time space-offset
	printf '2024-02-29T23:59:60-0130' | seed time leap
	printf '0000-01-01T00:00:00+23:59' | seed time year-zero
	printf '9999-12-31T23:59:59,999z' | seed time last
}

form_seeds() {
	# byte 0: even is a form, odd is base64
	for f in "$data"/webhooks/mandrill/*.txt; do
		{ printf '0'; cat "$f"; } | seed mandrill_form "$(basename "$f" .txt)"
	done
	printf '0a=1&&b=%%00x&a=2&c&=' | seed mandrill_form duplicates
	printf '0bad=%%4' | seed mandrill_form broken-escape
	printf '1cG0taG9vazp0ZXN0LXBtLXBhc3N3b3JkLTAwMDE=' | seed mandrill_form b64
	printf '1 YW J j\nZA' | seed mandrill_form b64-spaces
}

make_seeds() {
	command -v jq >/dev/null 2>&1 ||
		{ echo "fuzz.sh: seeds needs jq" >&2; exit 2; }
	mkdir -p "$seeds/config"
	sender_seeds
	native_seeds
	config_seeds
	route_seeds
	time_seeds
	form_seeds
	du -sh --apparent-size "$seeds"
}

# --- merge ----------------------------------------------------------------

merge() {
	use_leak_suppressions
	mkdir -p "$bin/logs"
	if [ $# -eq 0 ]; then
		for f in "$bin"/fuzz_*; do
			[ -x "$f" ] && set -- "$@" "$(basename "$f")"
		done
	fi
	for name in "$@"; do
		short=${name#fuzz_}
		[ -d "$bin/corpus/$short" ] || continue
		(cd "$root" && "$bin/$name" -merge=1 "$seeds/$short" \
			"$bin/corpus/$short" >"$bin/logs/$short.merge.log" 2>&1) ||
			echo "fuzz.sh: merge of $name failed" >&2
		printf '%-20s %4d inputs\n' "$name" \
			"$(ls "$seeds/$short" | wc -l)"
	done
	du -sh --apparent-size "$seeds"
}

# --- repro ----------------------------------------------------------------

repro() {
	name=$1
	shift
	(cd "$root" && "$bin/$name" -runs=1 "$@")
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
run)
	[ $# -ge 1 ] || usage
	run_all "$@"
	;;
seeds) make_seeds ;;
merge) merge "$@" ;;
repro)
	[ $# -ge 2 ] || usage
	repro "$@"
	;;
*) usage ;;
esac
