#!/usr/bin/env bash
# Rewrites README.md's config key table, between its config-table markers, from the binary
# (`tallyd --help=markdown`). Run it after adding or changing a key in config/config.h;
# config_test fails while the README and the binary disagree.
#   scripts/update-readme-config.sh [path/to/tallyd]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
TABLE=$("${1:-$root/build/server/tallyd}" --help=markdown) awk '
  /<!-- config-table:begin/ { print; printf "%s\n", ENVIRON["TABLE"]; skip = 1; next }
  /<!-- config-table:end/ { skip = 0 }
  !skip { print }' "$root/README.md" > "$root/README.md.tmp"
mv "$root/README.md.tmp" "$root/README.md"
