#!/bin/sh
# format-check.sh FILE... - fails when a file differs from what clang-format
# (the repository's .clang-format) would write, naming the files and
# showing the first differences; `make format` fixes them.
set -eu

[ $# -gt 0 ] || exit 0
if ! command -v clang-format >/dev/null 2>&1; then
	echo "format-check.sh: clang-format is missing; run scripts/deps.sh" >&2
	exit 1
fi
if report=$(clang-format --dry-run -Werror "$@" 2>&1); then
	echo "format-check: $# files clean"
	exit 0
fi
printf '%s\n' "$report" | head -n 30 >&2
echo "format-check.sh: these files differ from clang-format's output:" >&2
printf '%s\n' "$report" | sed -n 's/^\([^: ]*\):[0-9]*:[0-9]*: error:.*/\1/p' |
	sort -u | sed 's/^/    /' >&2
echo "format-check.sh: run \"make format\" (clang-format -i) on them" >&2
exit 1
