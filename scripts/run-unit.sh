#!/bin/sh
# run-unit.sh PROGRAM... - runs each unit test program from the repository
# root (tests find tests/data there), shows the output of the ones that
# fail, and ends with one summary line; exits 1 when any program failed.
set -u

root=$(cd "$(dirname "$0")/.." && pwd -P)
passed=0
failed=0
failures=

for prog in "$@"; do
	case $prog in
	/*) path=$prog ;;
	*) path=$(pwd -P)/$prog ;;
	esac
	name=$(basename "$prog")
	out=$(cd "$root" && "$path" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		# Check's last line is its own count of checks, worth a glance.
		counts=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' |
			tail -n 1)
		printf 'PASS %-28s %s\n' "$name" "$counts"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		printf 'FAIL %s (exit status %d)\n' "$name" "$rc"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi
done

[ "$failed" -eq 0 ] || echo "failed:$failures"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
