#!/usr/bin/env bash
# Peak RSS (VmHWM) of tallyd holding N live untagged counter series (bench/README.md, "What a live
# counter series costs"): series_rss.sh TALLYD WORKERS SERIES [tallyd flags...]. Graphite goes to
# a discarding `nc -lk` unless GRAPHITE=0 (no backend). Loopback only; ports picked at random /
# by tallyd itself. Prints one line: workers, series, VmHWM, VmRSS, load average. RSS_TRACE=FILE
# also samples VmRSS over the run.
set -u
tallyd=$1 workers=$2 series=$3
shift 3
root=$(cd "$(dirname "$0")/.." && pwd)
loadgen=${LOADGEN:-$root/build/bench/tallyd-loadgen}
d=$(mktemp -d)
graphite=()
if [ "${GRAPHITE:-1}" = 1 ]; then
  port=$((20000 + RANDOM % 20000))
  nc -lk 127.0.0.1 "$port" >/dev/null &
  nc_pid=$!
  sleep 0.3
  graphite=(--graphite --graphite_address=127.0.0.1:$port)
fi
"$tallyd" --udp=127.0.0.1:0 --prometheus=false --workers="$workers" --flush_interval=1s \
  --receive_buffer=8MiB "${graphite[@]}" --ports_file="$d/ports" "$@" 2>"$d/log" &
pid=$!
until [ -s "$d/ports" ]; do sleep 0.05; done
if [ -n "${RSS_TRACE:-}" ]; then  # VmRSS (kB) every 50 ms into $RSS_TRACE, to see when it peaks
  (start=$(date +%s.%N)
   while grep -q VmRSS /proc/$pid/status 2>/dev/null; do
     echo "$(echo "$(date +%s.%N) - $start" | bc) $(awk '/VmRSS/{print $2}' /proc/$pid/status)"
     sleep 0.05
   done) >"$RSS_TRACE" &
fi
"$loadgen" --target="$(awk '/^udp/{print $2}' "$d/ports")" --duration=4s --rate=1000000 \
  --series="$series" --tags=0 --gauge_percent=0 --histogram_percent=0 --sampled_percent=0 \
  --timer_percent=0 --datagram_bytes=8192 --sequential --pool="$series" >/dev/null
sleep 3.5  # several flushes of every series have gone out
echo "workers=$workers series=$series $(grep VmHWM /proc/$pid/status | tr -s ' \t' ' ')" \
  "$(grep VmRSS /proc/$pid/status | tr -s ' \t' ' ') load=$(cut -d' ' -f1-3 /proc/loadavg)"
kill "$pid"
wait "$pid" 2>/dev/null
[ -n "${nc_pid:-}" ] && kill "$nc_pid" && wait "$nc_pid" 2>/dev/null
rm -rf "$d"
