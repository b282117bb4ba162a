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
# ROUNDS of the interleaved pass that gives the ratios (0 skips it).
ROUNDS=${ROUNDS:-21}
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

# interleave NAME=CMD...: runs the commands in turn, ROUNDS times, so that a
# change of load on a shared machine hits them all alike (hyperfine runs
# each command's runs back to back), and prints "name wall_ms cpu_ms rss_mib"
# medians to $OUT/interleaved.txt.
interleave() {
	local log=$OUT/interleaved.log
	: >"$log"
	for ((r = 0; r < ROUNDS; r++)); do
		for nc in "$@"; do
			eval "/usr/bin/time -a -o '$log' -f '${nc%%=*}|%e|%U|%S|%M' ${nc#*=}" >/dev/null 2>&1 || true
		done
	done
	: >"$OUT/interleaved.txt"
	for nc in "$@"; do
		local n=${nc%%=*}
		median() { awk -F'|' -v n="$n" "\$1 == n {print $1}" "$log" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
		printf '%s|%.0f|%.0f|%.1f\n' "$n" "$(median '$2*1000')" "$(median '($3+$4)*1000')" "$(median '$5/1024')" >>"$OUT/interleaved.txt"
	done
}

# iratio A B TARGET: interleaved medians of A against B.
iratio() {
	local a b
	a=$(awk -F'|' -v n="$1" '$1 == n' "$OUT/interleaved.txt")
	b=$(awk -F'|' -v n="$2" '$1 == n' "$OUT/interleaved.txt")
	awk -F'|' -v a="$a" -v b="$b" -v t="$3" 'BEGIN {
		split(a, x, "|"); split(b, y, "|")
		printf "  %-22s / %-16s wall %5d / %5d ms = %.2f   cpu %5d / %5d ms = %.2f   (target <= %s)\n", x[1], y[1], x[2], y[2], x[2]/y[2], x[3], y[3], x[3]/y[3], t
	}'
}

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
		echo "hyperfine means ($shape):"
		report "$json" "portwho --json" "ss -tulpn" 0.80
		report "$json" "portwho --all --json" "ss -tanp" 0.80
		report "$json" "portwho PORT --json" "ss -tlnp sport" 0.80
		report "$json" "portwho --json" "lsof -i -P -n" -
		report "$json" "portwho --json" "netstat -tulpn" -
		echo "peak RSS MiB: portwho --json $(peak_rss_mib "$PW" --json), --all --json $(peak_rss_mib "$PW" --all --json), PORT --json $(peak_rss_mib "$PW" "$port" --json); ss -tanp $(peak_rss_mib ss -tanp)  (target <= 64)"
		if [ "$ROUNDS" -gt 0 ]; then
			interleave "portwho --json=$PW --json" "ss -tulpn=ss -tulpn" \
				"portwho --all --json=$PW --all --json" "ss -tanp=ss -tanp" \
				"portwho PORT --json=$PW $port --json" "ss -tlnp sport=ss -tlnp 'sport = :$port'"
			echo "interleaved medians of $ROUNDS rounds ($shape), the figures to record:"
			iratio "portwho --json" "ss -tulpn" 0.80
			iratio "portwho --all --json" "ss -tanp" 0.80
			iratio "portwho PORT --json" "ss -tlnp sport" 0.80
			echo "  peak RSS MiB (median): $(cut -d'|' -f1,4 "$OUT/interleaved.txt" | tr '\n' ' ')"
		fi
	else
		hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$json" --export-markdown "$OUT/$shape.md" \
			-n "portwho --json" "$PW --json" \
			-n "ss -tulpn" "ss -tulpn"
		echo
		echo "hyperfine means ($shape):"
		report "$json" "portwho --json" "ss -tulpn" 1.00
		echo "peak RSS MiB: portwho --json $(peak_rss_mib "$PW" --json)"
		if [ "$ROUNDS" -gt 0 ]; then
			interleave "portwho --json=$PW --json" "ss -tulpn=ss -tulpn"
			echo "interleaved medians of $ROUNDS rounds ($shape), the figures to record:"
			iratio "portwho --json" "ss -tulpn" 1.00
		fi
	fi
	stop_workload
done
