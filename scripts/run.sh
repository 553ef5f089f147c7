#!/usr/bin/env bash
# Set-up (scripts/setup.sh), then starts tallyd in the foreground. With no arguments it runs on
# the embedded defaults: UDP 127.0.0.1:8125 (and [::1]:8125 where IPv6 exists) in, from this host
# only, Prometheus scrape endpoint on 0.0.0.0:9102.
# Arguments are passed to tallyd (for example --config tallyd.yaml or --udp=127.0.0.1:8125).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
exec "$root/build/server/tallyd" "$@"
