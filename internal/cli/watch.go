package cli

import "github.com/spf13/cobra"

// WatchOptions holds the flags of portwho watch.
type WatchOptions struct {
	IO *IOStreams
}

// NewCmdWatch builds portwho watch. (Placeholder until its issue lands.)
func NewCmdWatch(f *Factory, runF func(*WatchOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:    "watch",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("portwho watch: not implemented yet")
		},
	}
}
