#!/bin/sh
# bench/prometheus_memory.sh BINARY SERIES: peak RSS of tallyd (Prometheus on, no other backend)
# holding SERIES live untagged counter series sent once each over loopback, and the time of
# scrapes of /metrics: one while the first flushes are folded in, then (once every series is
# exposed) three plain and one gzip. Loopback only; ports picked by the OS.
# NOPROM=1: the same with Prometheus off (what the aggregation alone costs; no scrape).
# TIMELINE=FILE: also writes "seconds-since-start VmRSS-kB" every 0.25 s to FILE (where the peak
# is: the first fold, the queued snapshots, a scrape).
set -eu
BIN=$1 SERIES=$2
LOADGEN=${LOADGEN:-build/bench/tallyd-loadgen}
PORTS=$(mktemp)
if [ -n "${NOPROM:-}" ]; then PROMFLAGS=--prometheus=false; else PROMFLAGS=--prometheus_listen=127.0.0.1:0; fi
"$BIN" --udp=127.0.0.1:0 $PROMFLAGS --ports_file="$PORTS" --workers=1 \
  --flush_interval=1s --receive_buffer=8MiB >/dev/null 2>&1 &
PID=$!
SAMPLER=
# Events go into the timeline too ("# t event"), appended beside the samples.
mark() {
  [ -z "${TIMELINE:-}" ] || echo "# $(echo "$(date +%s.%N) - $START" | bc) $1" >>"$TIMELINE"
}
if [ -n "${TIMELINE:-}" ]; then
  : >"$TIMELINE"
  START=$(date +%s.%N)
  (while [ -r /proc/$PID/status ]; do
     echo "$(echo "$(date +%s.%N) - $START" | bc) $(awk '$1=="VmRSS:"{print $2}' /proc/$PID/status)"
     sleep 0.25
   done) >>"$TIMELINE" 2>/dev/null &
  SAMPLER=$!
fi
trap 'kill $PID 2>/dev/null; [ -z "$SAMPLER" ] || kill $SAMPLER 2>/dev/null; rm -f "$PORTS"' EXIT
while ! grep -q udp "$PORTS" 2>/dev/null; do sleep 0.1; done
sleep 0.2
UDP=$(awk '$1=="udp"{print $2; exit}' "$PORTS")
PROM=$(awk '$1=="prometheus"{print $2; exit}' "$PORTS")
mark "loadgen starts"
"$LOADGEN" --target="$UDP" --rate=1000000 --duration=600s --series="$SERIES" --tags=0 \
  --gauge_percent=0 --histogram_percent=0 --sampled_percent=0 --timer_percent=0 \
  --datagram_bytes=8192 --sequential --lines="$SERIES" --pool="$SERIES" >/dev/null
if [ -n "${NOPROM:-}" ]; then sleep 3; grep -E 'VmHWM|VmRSS' /proc/$PID/status; exit 0; fi
SENT=$(date +%s.%N)
mark "last datagram sent"
# Issued while the first flushes of the new series are being folded in.
sleep 1.5
curl -s -o /dev/null -w "scrape during the fold: %{time_total} s, %{size_download} bytes\n" \
  "http://$PROM/metrics"
# Then until every series is exposed (at most 60 s: the receiver may have dropped some).
while [ "$(curl -s "http://$PROM/metrics" | grep -vc "^#\|^tallyd_")" -lt "$SERIES" ]; do
  if [ "$(echo "$(date +%s.%N) - $SENT > 60" | bc)" = 1 ]; then break; fi
  sleep 0.5
done
mark "all series exposed"
echo "all series exposed (or 60 s passed) $(echo "$(date +%s.%N) - $SENT" | bc) s after the last datagram"
for i in 1 2 3; do
  curl -s -o /dev/null -w "scrape plain: %{time_total} s, %{size_download} bytes\n" "http://$PROM/metrics"
done
curl -s -o /dev/null -H 'Accept-Encoding: gzip' \
  -w "scrape gzip: %{time_total} s, %{size_download} bytes\n" "http://$PROM/metrics"
echo "samples in scrape: $(curl -s "http://$PROM/metrics" | grep -c "^[^#]")"
echo "HTTP/1.0 bytes: $(curl -s --http1.0 "http://$PROM/metrics" | wc -c)"
grep -E 'VmHWM|VmRSS' /proc/$PID/status
