#!/usr/bin/env bash
# The Debian package, end to end, as an operator meets it (run once by scripts/test.sh, as root:
# it installs and removes the package on this machine):
#   build it from the tree (scripts/package.sh), lintian without error (warnings listed),
#   dpkg -i, --check-config on the shipped file, systemd-analyze verify on the unit (no warning
#   about it either), the installed binary started on the shipped config as the tallyd user with
#   what the unit gives it (no new privileges, only CAP_NET_ADMIN, ambient) answering a UDP line
#   on /metrics, then dpkg -r (binary gone, conffile kept) and dpkg -P (conffile gone).
# Ends with one line: "package_test: PASS" or "package_test: FAIL: <why>".
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${TALLYD_PACKAGE_DIR:-$root/build-deb}
unit=/lib/systemd/system/tallyd.service
scratch=$(mktemp -d)
pid=""

fail() {
  echo "package_test: FAIL: $*"
  exit 1
}
installed=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  # A failed run leaves no package behind (it would stop the next run at the check below).
  [ -n "$installed" ] && dpkg -P tallyd >/dev/null 2>&1
  rm -rf "$scratch"
}
trap cleanup EXIT
step() { echo "== package_test: $*"; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it installs the package)"
if dpkg-query -W -f='${Status}' tallyd 2>/dev/null | grep -q 'ok installed'; then
  fail "a tallyd package is installed already: this test would replace and remove it (dpkg -P tallyd first)"
fi

step "build (scripts/package.sh)"
start=$(date +%s)
deb=$("$root/scripts/package.sh" "$out") || fail "the package did not build"
echo "built $deb in $(($(date +%s) - start)) s"
[[ $(basename "$deb") =~ ^tallyd_[0-9][^_]*_[a-z0-9]+\.deb$ ]] || fail "unexpected name $deb"

step "lintian"
changes=${deb%.deb}.changes
lintian --fail-on error "$changes" >"$scratch/lintian" 2>&1 || {
  cat "$scratch/lintian"
  fail "lintian reports errors"
}
grep -v 'running with root privileges' "$scratch/lintian" || echo "(no lintian tag)"

step "dpkg -i"
installed=yes
dpkg -i "$deb" || fail "dpkg -i"
for f in /usr/bin/tallyd /etc/tallyd/tallyd.yaml /etc/default/tallyd "$unit"; do
  [ -e "$f" ] || fail "$f not installed"
done
dpkg-query -W -f='${Conffiles}\n' tallyd | grep -q '/etc/tallyd/tallyd.yaml' ||
  fail "/etc/tallyd/tallyd.yaml is not a conffile"
id tallyd >/dev/null || fail "no tallyd user after install"
[ "$(tallyd --version)" = "tallyd $(dpkg-query -W -f='${Version}' tallyd | sed 's/-[^-]*$//')" ] ||
  fail "package version $(dpkg-query -W -f='${Version}' tallyd) is not tallyd's $(tallyd --version)"

step "tallyd --check-config --config /etc/tallyd/tallyd.yaml"
tallyd --check-config --config /etc/tallyd/tallyd.yaml || fail "--check-config on the shipped file"

step "systemd-analyze verify $unit"
systemd-analyze verify "$unit" >"$scratch/verify" 2>&1 || {
  cat "$scratch/verify"
  fail "systemd-analyze verify rejects the unit"
}
# It only warns about unknown keys: any line about our unit is a failure (other units' are not).
if grep -i tallyd "$scratch/verify"; then fail "systemd-analyze verify warns about the unit"; fi
systemd-analyze security --offline=yes "$unit" 2>/dev/null | grep 'Overall exposure' || true

step "the installed binary on the shipped config, as the unit runs it"
# The unit's user, no new privileges and only CAP_NET_ADMIN (bounding, inheritable, ambient).
# Ports picked by the kernel through flags, as ARGS= in /etc/default/tallyd would pass them.
chown tallyd:tallyd "$scratch"
# shellcheck source=/dev/null
. /etc/default/tallyd
# shellcheck disable=SC2086
setpriv --reuid=tallyd --regid=tallyd --init-groups --no-new-privs \
  --bounding-set=-all,+net_admin --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin \
  /usr/bin/tallyd --config /etc/tallyd/tallyd.yaml $ARGS \
  --udp=127.0.0.1:0 --prometheus_listen=127.0.0.1:0 --flush_interval=1s \
  --ports_file="$scratch/ports" 2>"$scratch/stderr" &
pid=$!
for _ in $(seq 200); do
  [ -s "$scratch/ports" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$scratch/stderr"; fail "tallyd exited at start"; }
  sleep 0.05
done
[ -s "$scratch/ports" ] || fail "tallyd wrote no ports file"
udp=$(awk '$1 == "udp" {print $2; exit}' "$scratch/ports")
prom=$(awk '$1 == "prometheus" {print $2; exit}' "$scratch/ports")
[ "$(ps -o user= -p "$pid")" = tallyd ] || fail "not running as tallyd"
[ "$(cat /proc/$pid/comm)" = tallyd ] || fail "process named $(cat /proc/$pid/comm), not tallyd"
# The malloc huge-page re-exec happened under no-new-privs with an ambient capability (where
# the kernel offers transparent huge pages at all): glibc took GLIBC_TUNABLES, not a secure exec.
if ! grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
  tr '\0' '\n' </proc/$pid/environ | grep -qx 'GLIBC_TUNABLES=glibc.malloc.hugetlb=1' ||
    fail "the malloc huge-page re-exec did not happen"
fi
# CAP_NET_ADMIN is what lets SO_RCVBUFFORCE give the 8 MiB receive_buffer past rmem_max: the
# kernel doubles what it grants (for its bookkeeping), so 16 MiB; SO_RCVBUF alone gets
# 2 * min(8 MiB, rmem_max).
rb=$(ss -uamnH "src $udp" | grep -o 'rb[0-9]*' | head -1 | tr -d rb)
echo "udp $udp receive buffer: $rb bytes (net.core.rmem_max $(cat /proc/sys/net/core/rmem_max))"
[ "${rb:-0}" -ge $((2 * 8 * 1024 * 1024)) ] || fail "receive buffer $rb: SO_RCVBUFFORCE did not apply"

printf 'package_test.requests:12.5|ms|#route:/ping\n' >"/dev/udp/${udp%:*}/${udp##*:}"
found=""
for _ in $(seq 100); do
  if curl -fsS "http://$prom/metrics" >"$scratch/metrics" 2>/dev/null &&
    grep -q '^package_test_requests_count{route="/ping"} 1$' "$scratch/metrics"; then
    found=yes
    break
  fi
  sleep 0.1
done
[ -n "$found" ] || { cat "$scratch/stderr"; fail "the UDP line never reached /metrics"; }
# promtool's lint notes (exit 3) are about names; a parse error is exit 1.
promtool check metrics <"$scratch/metrics" >"$scratch/promtool" 2>&1 && lint=0 || lint=$?
[ "$lint" -eq 0 ] || [ "$lint" -eq 3 ] || { cat "$scratch/promtool"; fail "promtool rejects the scrape"; }
kill -TERM "$pid"
wait "$pid" && status=0 || status=$?
pid=""
[ "$status" -eq 0 ] || { cat "$scratch/stderr"; fail "tallyd exited $status on SIGTERM"; }

step "the unit's SystemCallFilter and MemoryDenyWriteExecute against what tallyd calls"
# systemd is not PID 1 everywhere this runs, so the filter cannot be applied here: instead every
# system call of a run through each transport, backend, a SIGHUP and a SIGTERM is traced and
# checked against the unit's filter (tests/package/syscall_check.py).
rm -f "$scratch/ports"
strace -f -qq -o "$scratch/trace" \
  setpriv --reuid=tallyd --regid=tallyd --init-groups --no-new-privs \
  --bounding-set=-all,+net_admin --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin \
  /usr/bin/tallyd --config /etc/tallyd/tallyd.yaml --flush_interval=1s \
  --udp=127.0.0.1:0 --tcp=127.0.0.1:0 --unix="$scratch/dsd.socket" \
  --prometheus_listen=127.0.0.1:0 --graphite_address=127.0.0.1:1 \
  --datadog_url=http://127.0.0.1:1 --datadog_api_key=test --console \
  --shutdown_timeout=1s --ports_file="$scratch/ports" >/dev/null 2>"$scratch/stderr" &
pid=$!
for _ in $(seq 400); do [ -s "$scratch/ports" ] && break; sleep 0.05; done
[ -s "$scratch/ports" ] || { cat "$scratch/stderr"; fail "tallyd under strace did not start"; }
udp=$(awk '$1 == "udp" {print $2; exit}' "$scratch/ports")
tcp=$(awk '$1 == "tcp" {print $2; exit}' "$scratch/ports")
prom=$(awk '$1 == "prometheus" {print $2; exit}' "$scratch/ports")
printf 'traced.udp:1|c\n' >"/dev/udp/${udp%:*}/${udp##*:}"
printf 'traced.tcp:2|ms\n' >"/dev/tcp/${tcp%:*}/${tcp##*:}"
printf 'traced.unix:3|g' | nc -uU -w0 "$scratch/dsd.socket" || true
# Until a flush has carried all three lines and graphite and datadog have each failed once
# (their ports are closed), so every backend's send path is in the trace.
traced=""
for _ in $(seq 300); do
  if curl -fsS "http://$prom/metrics" >"$scratch/metrics" 2>/dev/null &&
    grep -q '^traced_udp ' "$scratch/metrics" && grep -q '^traced_tcp_count ' "$scratch/metrics" &&
    grep -q '^traced_unix ' "$scratch/metrics" &&
    grep -Eq '^tallyd_backend_errors_total\{backend="graphite"\} [1-9]' "$scratch/metrics" &&
    grep -Eq '^tallyd_backend_errors_total\{backend="datadog"\} [1-9]' "$scratch/metrics"; then
    traced=yes
    break
  fi
  sleep 0.1
done
[ -n "$traced" ] || { cat "$scratch/stderr"; fail "under strace, the lines or the backends' tries never showed"; }
# strace's pid is $pid: signal tallyd, the traced child.
tallyd_pid=$(pgrep -P "$pid" -x tallyd || true)
[ -n "$tallyd_pid" ] || fail "no tallyd under strace"
kill -HUP "$tallyd_pid"
for _ in $(seq 200); do grep -q 'reload: ' "$scratch/stderr" && break; sleep 0.05; done
grep -q 'reload: ' "$scratch/stderr" || fail "no reload logged after SIGHUP"
kill -TERM "$tallyd_pid"
wait "$pid" || { cat "$scratch/stderr"; fail "tallyd under strace did not stop cleanly"; }
pid=""
/usr/bin/python3 "$root/tests/package/syscall_check.py" "$scratch/trace" "$unit" ||
  fail "tallyd needs more than the unit allows"

step "dpkg -r, then dpkg -P"
dpkg -r tallyd || fail "dpkg -r"
[ ! -e /usr/bin/tallyd ] || fail "/usr/bin/tallyd left after dpkg -r"
[ ! -e "$unit" ] || fail "$unit left after dpkg -r"
[ -e /etc/tallyd/tallyd.yaml ] || fail "dpkg -r removed the conffile (only purge should)"
dpkg -P tallyd || fail "dpkg -P"
installed=""
[ ! -e /etc/tallyd/tallyd.yaml ] || fail "/etc/tallyd/tallyd.yaml left after dpkg -P"
[ ! -e /etc/default/tallyd ] || fail "/etc/default/tallyd left after dpkg -P"
echo "package_test: PASS"
