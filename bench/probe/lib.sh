# Shared by setup.sh, teardown.sh, compare.sh and ci.sh: where the servers
# live and how their pids are recorded. Sourced, not run.

PROBE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TARGETS_FILE=${PORTWHO_PROBE_TARGETS:-$PROBE_DIR/targets.tsv}
# Everything the servers write (configs, data, logs, pid files) stays here,
# so teardown and a second setup find it again.
RUN_DIR=${PORTWHO_PROBE_DIR:-/tmp/portwho-probe-servers}
# One line per started server: name, pid file, and the executable it must be
# running, so teardown never signals a pid that was reused by someone else.
PIDS_FILE="$RUN_DIR/pids.tsv"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 2; }

# targets prints "name transport port service tls product starttls" for each target.
targets() { grep -v '^[[:space:]]*#' "$TARGETS_FILE" | awk 'NF >= 7 { print $1, $2, $3, $4, $5, $6, $7 }'; }

# pid_from prints the pid in a pid file (postgres writes more than one line).
pid_from() { [ -s "$1" ] && head -n1 "$1" | tr -dc '0-9'; }

# alive NAME succeeds when NAME's recorded pid runs the recorded executable.
alive() {
	local name=$1 pidfile exe pid
	[ -f "$PIDS_FILE" ] || return 1
	read -r pidfile exe < <(awk -v n="$name" '$1 == n { print $2, $3 }' "$PIDS_FILE" | tail -n1)
	[ -n "$pidfile" ] || return 1
	pid=$(pid_from "$pidfile") || return 1
	[ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ]
}
