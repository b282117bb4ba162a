#!/usr/bin/env bash
# Measures portwho watch at a 1 s interval on the part-2 host workload
# (bench/workload, many-sockets: 5,000 TCP listeners, 2,000 UDP sockets,
# 5,000 connections over 200 processes): CPU and RSS averaged over 60 s,
# and the latency from listen() to the opened event (median of 50).
# Run as root, so the daemon sees every owner, as it would in production.
#
#   bench/watch/run.sh
#   INTERVAL=250ms MEASURE=30s bench/watch/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

INTERVAL=${INTERVAL:-1s}
MEASURE=${MEASURE:-60s}
LISTENERS=${LISTENERS:-50}
SHAPE=${SHAPE:-many-sockets}
# 127.SUBNET.0.0/16: another workload may be running on this machine.
SUBNET=${SUBNET:-166}
OUT=${OUT:-$(mktemp -d /tmp/portwho-watch-bench.XXXXXX)}

go build -o "$OUT/portwho" ./cmd/portwho
go build -o "$OUT/workload" ./bench/workload
go build -o "$OUT/watchbench" ./bench/watch

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(go version | awk '{print $3}'), load $(cut -d' ' -f1-3 /proc/loadavg)"

WL_PID=
stop_workload() {
	if [ -n "$WL_PID" ]; then
		# Closing its stdin is the workload's signal to exit with its children.
		eval "exec ${WL[1]}>&-"
		wait "$WL_PID" 2>/dev/null || true
	fi
}
trap stop_workload EXIT
coproc WL { exec "$OUT/workload" -shape "$SHAPE" -subnet "$SUBNET" -duration 15m; }
WL_PID=$WL_PID
read -r ready <&"${WL[0]}"
echo "workload: $ready"
echo "sockets on the host: $(ss -Htan | wc -l) tcp, $(ss -Huan | wc -l) udp; processes: $(ls -d /proc/[0-9]* | wc -l)"

"$OUT/watchbench" -portwho "$OUT/portwho" -db "$OUT/history.db" -interval "$INTERVAL" \
	-measure "$MEASURE" -listeners "$LISTENERS"
