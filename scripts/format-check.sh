#!/bin/sh
# format-check.sh FILE... - fails when a file differs from what clang-format
# (the repository's .clang-format) would write; `make format` fixes it.
set -eu

[ $# -gt 0 ] || exit 0
if ! command -v clang-format >/dev/null 2>&1; then
	echo "format-check.sh: clang-format is missing; run scripts/deps.sh" >&2
	exit 1
fi
if ! clang-format --dry-run -Werror "$@"; then
	echo "format-check.sh: formatting differs; run \"make format\"" >&2
	exit 1
fi
echo "format-check: $# files clean"
