#!/usr/bin/env bash
# Measures what judgement adds to `portwho --json` on the part-2 workload
# (bench/workload, many-sockets: 17,000 sockets over 200 processes): the
# same binary with assessment on, and with PORTWHO_NO_ASSESS=1, in paired
# alternating runs. Wall time on a shared machine is noisy, so the median
# user+system CPU is reported too. Then
# the assess benchmarks (rules alone, a cold run with this machine's dpkg
# database, the dpkg scan). Run as root, like bench/host/run.sh.
#
#   bench/assess/run.sh
#   RUNS=30 SUBNET=79 bench/assess/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

RUNS=${RUNS:-20}
WARMUP=${WARMUP:-3}
SUBNET=${SUBNET:-78} # 127.78.x.y: clear of bench/host's default 127.77
OUT=${OUT:-$(mktemp -d /tmp/portwho-bench-assess.XXXXXX)}

command -v jq >/dev/null || apt-get install -y jq >/dev/null
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null

go build -o "$OUT/portwho" ./cmd/portwho
go build -o "$OUT/workload" ./bench/workload
PW=$OUT/portwho
echo "machine: $(nproc) cores, $(uname -sr), $(go version | awk '{print $3}'); results in $OUT"

coproc WL { exec "$OUT/workload" -shape many-sockets -subnet "$SUBNET" -duration 15m; }
WL_IN=${WL[1]}
WL_OUT=${WL[0]}
stop() {
	if [ -n "${WL_IN:-}" ]; then
		# Closing its stdin is the workload's signal to exit with its children.
		eval "exec ${WL_IN}>&-"
		WL_IN=
		wait 2>/dev/null || true
	fi
}
trap stop EXIT
read -r ready <&"$WL_OUT" || { echo "workload did not start" >&2; exit 1; }
echo "workload: $ready"
echo "portwho --json lists $($PW --json | jq '.sockets | length') sockets"
# One run fills the dpkg answer cache, as any earlier run on the host would.
$PW --json >/dev/null

# Paired runs, alternating, so the load other processes put on a shared
# machine falls on both sides alike; hyperfine's blocks of runs do not.
times=$OUT/times.tsv
: >"$times"
for _ in $(seq "$WARMUP"); do $PW --json >/dev/null; PORTWHO_NO_ASSESS=1 $PW --json >/dev/null; done
for _ in $(seq "$RUNS"); do
	/usr/bin/time -f "judged\t%e\t%U\t%S" -a -o "$times" $PW --json >/dev/null
	PORTWHO_NO_ASSESS=1 /usr/bin/time -f "plain\t%e\t%U\t%S" -a -o "$times" $PW --json >/dev/null
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
wall_j=$(awk -F'\t' '$1=="judged" {print $2*1000}' "$times" | median)
wall_p=$(awk -F'\t' '$1=="plain" {print $2*1000}' "$times" | median)
cpu_j=$(awk -F'\t' '$1=="judged" {print ($3+$4)*1000}' "$times" | median)
cpu_p=$(awk -F'\t' '$1=="plain" {print ($3+$4)*1000}' "$times" | median)
echo
echo "portwho --json, $RUNS paired runs, medians:"
awk -v a="$wall_j" -v b="$wall_p" 'BEGIN {printf "  wall:           judged %.0f ms, not judged %.0f ms: %+.1f%%  (target <= +10%%)\n", a, b, (a/b-1)*100}'
awk -v a="$cpu_j" -v b="$cpu_p" 'BEGIN {printf "  cpu (user+sys): judged %.0f ms, not judged %.0f ms: %+.1f%%  (target <= +10%%)\n", a, b, (a/b-1)*100}'

# /usr/bin/time counts in 10 ms steps, coarse at ~100 ms; hyperfine gives
# the finer wall figure. Both sides go through env so both pay its exec.
if command -v hyperfine >/dev/null; then
	echo
	hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/hyperfine.json" \
		-n judged "env PORTWHO_NO_ASSESS=0 $PW --json" \
		-n "not judged" "env PORTWHO_NO_ASSESS=1 $PW --json" >"$OUT/hyperfine.txt"
	jq -r '.results | "  hyperfine medians: judged \(.[0].median*1000 | floor) ms, not judged \(.[1].median*1000 | floor) ms: " + (((.[0].median/.[1].median - 1)*1000 | round)/10 | tostring) + "% (means: " + (((.[0].mean/.[1].mean - 1)*1000 | round)/10 | tostring) + "%)"' "$OUT/hyperfine.json"
fi
stop

echo
go test -run '^$' -bench 'Annotate|DpkgOwners' -benchtime 20x -count 5 ./internal/assess/ | tee "$OUT/go-bench.txt"
