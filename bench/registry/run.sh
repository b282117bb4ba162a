#!/bin/sh
# Side by side, in one hyperfine run: a cold `portwho info 3302` process
# against `getent services 3302` (what a user would reach for instead) and
# an empty Go program (the floor any Go binary pays), then the Go
# benchmarks of the registry lookup itself.
#
#   bench/registry/run.sh            # RUNS=1000 bench/registry/run.sh for more
#   BREAKDOWN=1 bench/registry/run.sh
#
# BREAKDOWN=1 adds a binary with only the registry commands (info, search,
# registry, version): a copy of HEAD whose internal/cli keeps only their
# files and a root that registers only them. It separates what the
# registry costs from what the rest of the binary costs at start-up.
#
# getent exits 2 when the host's /etc/services lacks the port (Debian's does
# not list 3302), hence -i. Needs hyperfine (apt-get install -y hyperfine).
set -eu
cd "$(dirname "$0")/../.."
command -v hyperfine >/dev/null || { echo "run.sh: install hyperfine (apt-get install -y hyperfine)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/static"
go build -trimpath -o "$tmp/portwho" ./cmd/portwho
# The same binary without cgo: statically linked, no dynamic loader or libc
# start-up. Shows how much of the time is linking rather than portwho.
CGO_ENABLED=0 go build -trimpath -o "$tmp/static/portwho" ./cmd/portwho
go build -trimpath -o "$tmp/floor" ./bench/registry/floor
extra=""
if [ "${BREAKDOWN:-}" = 1 ]; then
	mkdir -p "$tmp/src" "$tmp/regonly"
	git archive HEAD | tar -x -C "$tmp/src"
	(
		cd "$tmp/src/internal/cli"
		for f in *.go; do
			case $f in info.go | search.go | registry.go | registry_load.go | version.go | exit.go | factory.go) ;;
			*) rm "$f" ;;
			esac
		done
		cat >root.go <<'GO'
package cli

import "github.com/spf13/cobra"

// NewCmdRoot registers only the registry commands (bench/registry/run.sh).
func NewCmdRoot(f *Factory) *cobra.Command {
	root := &cobra.Command{Use: "portwho", SilenceUsage: true, SilenceErrors: true}
	root.SetOut(f.IO.Out)
	root.AddCommand(NewCmdInfo(f, nil), NewCmdSearch(f, nil), NewCmdRegistry(f), NewCmdVersion(f))
	return root
}
GO
		cd "$tmp/src"
		CGO_ENABLED=0 go build -trimpath -o "$tmp/regonly/portwho" ./cmd/portwho
	)
	extra="$tmp/regonly/portwho info 3302"
fi
# A cache directory with no downloaded registry: the embedded one is used.
export XDG_CACHE_HOME="$tmp/cache"
echo "binary: $(wc -c <"$tmp/portwho") bytes; load: $(cut -d' ' -f1-3 /proc/loadavg)"
hyperfine -N -i --warmup 50 --runs "${RUNS:-500}" --export-markdown "$tmp/hyperfine.md" --export-json "$tmp/hyperfine.json" \
	"$tmp/portwho info 3302" \
	"getent services 3302" \
	"$tmp/floor" \
	"$tmp/portwho version" \
	"$tmp/static/portwho info 3302" \
	${extra:+"$extra"}
sed "s|$tmp/||g" "$tmp/hyperfine.md"
# Medians resist the outliers a shared machine produces better than means.
python3 - "$tmp/hyperfine.json" "$tmp/" <<'PY' || true
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
med = {r["command"].replace(sys.argv[2], ""): r["median"] * 1000 for r in rs}
for c, m in med.items():
    print(f"median {m:6.2f} ms  {c}")
p, g = med["portwho info 3302"], med["getent services 3302"]
print(f"portwho/getent median ratio: {p / g:.2f}")
PY
go test -run '^$' -bench 'Port|Search' -benchmem ./internal/registry/
