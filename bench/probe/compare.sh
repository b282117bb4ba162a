#!/usr/bin/env bash
# Builds portwho, then probes every target in targets.tsv with
# `portwho probe --json` and with `nmap -sV` (TCP) / `nmap -sU -sV` (UDP) in
# the same run, and prints both verdicts per port and each tool's total wall
# time (compare.py holds the comparison and the name mapping). Exits 1 when
# portwho misses or misnames a service nmap names, 2 when a run breaks.
# The servers must be up (setup.sh). Raw outputs are kept in $COMPARE_OUT
# (default: a temp dir, printed at the end).
#   usage: compare.sh [--transport tcp|udp|all]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

repo=$(cd "$PROBE_DIR/../.." && pwd)
command -v nmap >/dev/null || die "nmap is not installed (setup.sh installs it)"
[ -s "$PIDS_FILE" ] || die "no servers recorded in $PIDS_FILE: run setup.sh first"

bin=$(mktemp -d /tmp/portwho-compare-bin.XXXXXX)
trap 'rm -rf "$bin"' EXIT
out=${COMPARE_OUT:-$(mktemp -d /tmp/portwho-compare.XXXXXX)}
mkdir -p "$out"
log "building portwho"
(cd "$repo" && go build -o "$bin/portwho" ./cmd/portwho)

log "nmap $(nmap --version | awk 'NR == 1 { print $3 }'), portwho $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
rc=0
python3 "$PROBE_DIR/compare.py" --portwho "$bin/portwho" --targets "$TARGETS_FILE" --out "$out" "$@" || rc=$?
log "raw outputs in $out"
exit $rc
