#!/usr/bin/env bash
# What .ci/run calls for issue 5's real-server check, standalone on a fresh
# Debian 12 machine as root: install and start the real servers, probe them
# through the Go API (integration test), compare portwho with nmap -sV on
# the same targets, and always stop the servers again. About 3 minutes,
# most of it nmap's UDP scan; exits non-zero when any step fails.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

repo=$(cd "$PROBE_DIR/../.." && pwd)
trap 'bash "$PROBE_DIR/teardown.sh" || true' EXIT

bash "$PROBE_DIR/setup.sh"
(cd "$repo" && PORTWHO_INTEGRATION=1 go test -count=1 -run Integration ./internal/probe/)
bash "$PROBE_DIR/compare.sh"
