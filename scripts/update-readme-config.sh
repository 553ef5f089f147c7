#!/usr/bin/env bash
# Rewrites README.md's config key table, between its config-table markers, from the binary
# (`tallyd --help=markdown`). Run it after adding or changing a key in config/config.h;
# config_test fails while the README and the binary disagree.
#   scripts/update-readme-config.sh [path/to/tallyd]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# Its own assignment, so that set -e stops here when the binary fails (an assignment in front of
# a command does not pass the substitution's status on) instead of emptying the table.
table=$("${1:-$root/build/server/tallyd}" --help=markdown)
[[ -n "$table" ]] || { echo "update-readme-config: empty --help=markdown" >&2; exit 1; }
TABLE="$table" awk '
  /<!-- config-table:begin/ { print; printf "%s\n", ENVIRON["TABLE"]; skip = 1; next }
  /<!-- config-table:end/ { skip = 0 }
  !skip { print }' "$root/README.md" > "$root/README.md.tmp"
mv "$root/README.md.tmp" "$root/README.md"
