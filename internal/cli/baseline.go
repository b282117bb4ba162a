package cli

// portwho baseline: write today's listeners as an allow-list policy.

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/portwho/portwho/internal/policy"
	"github.com/portwho/portwho/internal/report"
)

// BaselineOptions holds the flags of portwho baseline.
type BaselineOptions struct {
	IO      *IOStreams
	Factory *Factory
	// Collect lists the host's listeners; nil collects them all. Tests
	// narrow it to the processes they started.
	Collect func(ctx context.Context) ([]report.Socket, error)
	// Hostname names the host in the header; nil uses os.Hostname.
	Hostname func() (string, error)
}

// NewCmdBaseline builds portwho baseline.
func NewCmdBaseline(f *Factory, runF func(*BaselineOptions) error) *cobra.Command {
	opts := &BaselineOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "baseline",
		Short: "Write today's listeners as an allow-list policy",
		Long: `Writes every listener on this host as a policy (YAML) on stdout: protocol,
port, address scope, network namespace, executable, user and container.
Listeners on ephemeral ports (32768-60999) are allowed anywhere in that
range and not required; version directories in executable paths become
globs. Review it, then check the host with portwho check. Format:
docs/policy.md.

Run as root: without it other users' listeners have no executable or user
to pin.`,
		Example: `  sudo portwho baseline > /etc/portwho/policy.yaml
  sudo portwho check`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return baselineRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func baselineRun(ctx context.Context, opts *BaselineOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	f := opts.Factory
	collect := opts.Collect
	if collect == nil {
		collect = f.collectListeners
	}
	socks, err := collect(ctx)
	if err != nil {
		return err
	}
	hidden := 0
	for _, s := range socks {
		if s.Owner == report.OwnerHidden {
			hidden++
		}
	}
	if hidden > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "portwho: warning: %d listeners' holders are hidden; their rules name no executable or user (run as root)\n", hidden)
	}
	hostname := opts.Hostname
	if hostname == nil {
		hostname = os.Hostname
	}
	host, err := hostname()
	if err != nil {
		host = "this host"
	}
	p := policy.Baseline(socks)
	return policy.Write(opts.IO.Out, p, policy.Header(host, f.Now()))
}
