package cli

import "github.com/spf13/cobra"

// BaselineOptions holds the flags of portwho baseline.
type BaselineOptions struct {
	IO *IOStreams
}

// NewCmdBaseline builds portwho baseline. (Placeholder until its issue lands.)
func NewCmdBaseline(f *Factory, runF func(*BaselineOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:    "baseline",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("portwho baseline: not implemented yet")
		},
	}
}
