#!/usr/bin/env bash
# Stops exactly the servers setup.sh started: each pid recorded in
# $RUN_DIR/pids.tsv, and only while it still runs the executable recorded
# with it (a pid reused by another process is left alone). Keeps the run
# directory (data, logs) unless given --purge.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

[ -f "$PIDS_FILE" ] || { log "nothing to stop: no $PIDS_FILE"; exit 0; }

pids=()
while IFS=$'\t' read -r name pidfile exe; do
	[ -n "$name" ] || continue
	pid=$(pid_from "$pidfile" || true)
	if [ -z "$pid" ] || [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$exe" ]; then
		continue
	fi
	log "stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null && pids+=("$pid:$exe")
done <"$PIDS_FILE"

# Give them 15 s to exit cleanly (postgres and mariadb flush), then KILL.
for i in $(seq 1 75); do
	left=()
	for pe in "${pids[@]}"; do
		[ "$(readlink "/proc/${pe%%:*}/exe" 2>/dev/null)" = "${pe#*:}" ] && left+=("$pe")
	done
	[ ${#left[@]} = 0 ] && break
	sleep 0.2
done
for pe in "${left[@]}"; do
	log "killing ${pe%%:*} (${pe#*:}) after 15 s"
	kill -KILL "${pe%%:*}" 2>/dev/null
done
: >"$PIDS_FILE"
if [ "${1:-}" = --purge ]; then
	rm -rf "$RUN_DIR"
fi
log "stopped"
