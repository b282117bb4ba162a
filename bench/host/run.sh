#!/usr/bin/env bash
# Times portwho's host inventory side by side with ss, lsof and netstat on a
# synthetic host (bench/workload), in one run, and prints the ratios the
# targets in docs/BENCHMARKS.md are stated in. Run as root: ss -p, lsof and
# portwho only see every owner as root.
#
#   bench/host/run.sh                     both shapes
#   SHAPES=many-procs RUNS=10 bench/host/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

SHAPES=${SHAPES:-"many-sockets many-procs"}
RUNS=${RUNS:-20}
WARMUP=${WARMUP:-3}
OUT=${OUT:-$(mktemp -d /tmp/portwho-bench.XXXXXX)}
# The workload's addresses, 127.SUBNET.0.0/16: a random block, so this run
# does not collide with another workload left on the host.
SUBNET=${SUBNET:-$((100 + RANDOM % 150))}

need=()
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v lsof >/dev/null || need+=(lsof)
command -v netstat >/dev/null || need+=(net-tools)
[ -x /usr/bin/time ] || need+=(time)
command -v jq >/dev/null || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
	apt-get install -y "${need[@]}" >/dev/null
fi

go build -o "$OUT/portwho" ./cmd/portwho
go build -o "$OUT/workload" ./bench/workload
PW=$OUT/portwho

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(go version | awk '{print $3}'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "tools: $(ss -V 2>&1 | head -1); lsof $(lsof -v 2>&1 | awk '/revision/ {print $2; exit}'); $(netstat -V 2>&1 | head -1); $(hyperfine --version)"
echo "results in $OUT"

WL_PID=
stop_workload() {
	if [ -n "$WL_PID" ]; then
		# Closing its stdin is the workload's signal to exit with its children.
		local fd=${WL[1]:-}
		[ -n "$fd" ] && eval "exec $fd>&-"
		wait "$WL_PID" 2>/dev/null || true
		WL_PID=
	fi
}
trap stop_workload EXIT

# mean_ms FILE NAME: a command's mean wall time in ms from hyperfine's JSON.
mean_ms() { jq -r --arg n "$2" '.results[] | select(.command == $n) | .mean * 1000' "$1"; }
# cpu_ms FILE NAME: its mean user+system CPU time in ms. On a shared, loaded
# machine wall time mostly measures waiting for a core; CPU time does not.
cpu_ms() { jq -r --arg n "$2" '.results[] | select(.command == $n) | (.user + .system) * 1000' "$1"; }

# peak_rss_mib CMD...: the command's peak RSS.
peak_rss_mib() {
	/usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {printf "%.1f", $2/1024}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }

# report FILE A B TARGET: A against B, wall and CPU.
report() {
	printf '  %-22s / %-16s wall %5.0f / %5.0f ms = %s   cpu %5.0f / %5.0f ms = %s   (target <= %s)\n' \
		"$2" "$3" "$(mean_ms "$1" "$2")" "$(mean_ms "$1" "$3")" "$(ratio "$(mean_ms "$1" "$2")" "$(mean_ms "$1" "$3")")" \
		"$(cpu_ms "$1" "$2")" "$(cpu_ms "$1" "$3")" "$(ratio "$(cpu_ms "$1" "$2")" "$(cpu_ms "$1" "$3")")" "$4"
}

for shape in $SHAPES; do
	echo
	echo "before the workload: $(ss -Htan | wc -l) tcp, $(ss -Huan | wc -l) udp sockets, $(ls -d /proc/[0-9]* | wc -l) processes, load $(cut -d' ' -f1-3 /proc/loadavg)"
	coproc WL { exec "$OUT/workload" -shape "$shape" -subnet "$SUBNET" -duration 15m; }
	read -r ready <&"${WL[0]}" || true
	[[ $ready == ready* ]] || { echo "workload did not start: $ready" >&2; exit 1; }
	echo
	echo "== $shape: $ready"
	echo "load before timing: $(cut -d' ' -f1-3 /proc/loadavg)"
	port=$(sed -n 's/.*sample_port=\([0-9]*\).*/\1/p' <<<"$ready")
	echo "with it: $(ss -Htan | wc -l) tcp, $(ss -Huan | wc -l) udp sockets, $(ls -d /proc/[0-9]* | wc -l) processes"
	echo "portwho --json lists $($PW --json | jq '.sockets | length') sockets, --all --json $($PW --all --json | jq '.sockets | length'), $port --json $($PW "$port" --json | jq '.sockets | length')"

	json=$OUT/$shape.json
	if [ "$shape" = many-sockets ]; then
		hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$json" --export-markdown "$OUT/$shape.md" \
			-n "portwho --json" "$PW --json" \
			-n "portwho --all --json" "$PW --all --json" \
			-n "portwho PORT --json" "$PW $port --json" \
			-n "ss -tulpn" "ss -tulpn" \
			-n "ss -tanp" "ss -tanp" \
			-n "ss -tlnp sport" "ss -tlnp 'sport = :$port'" \
			-n "lsof -i -P -n" "lsof -i -P -n" \
			-n "netstat -tulpn" "netstat -tulpn"
		echo
		echo "ratios ($shape):"
		report "$json" "portwho --json" "ss -tulpn" 0.80
		report "$json" "portwho --all --json" "ss -tanp" 0.80
		report "$json" "portwho PORT --json" "ss -tlnp sport" 0.80
		report "$json" "portwho --json" "lsof -i -P -n" -
		report "$json" "portwho --json" "netstat -tulpn" -
		echo "peak RSS MiB: portwho --json $(peak_rss_mib "$PW" --json), --all --json $(peak_rss_mib "$PW" --all --json), PORT --json $(peak_rss_mib "$PW" "$port" --json); ss -tanp $(peak_rss_mib ss -tanp)  (target <= 64)"
	else
		hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$json" --export-markdown "$OUT/$shape.md" \
			-n "portwho --json" "$PW --json" \
			-n "ss -tulpn" "ss -tulpn"
		echo
		echo "ratios ($shape):"
		report "$json" "portwho --json" "ss -tulpn" 1.00
		echo "peak RSS MiB: portwho --json $(peak_rss_mib "$PW" --json)"
	fi
	stop_workload
done
