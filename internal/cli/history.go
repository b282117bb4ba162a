package cli

import "github.com/spf13/cobra"

// HistoryOptions holds the flags of portwho history.
type HistoryOptions struct {
	IO *IOStreams
}

// NewCmdHistory builds portwho history. (Placeholder until its issue lands.)
func NewCmdHistory(f *Factory, runF func(*HistoryOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:    "history",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("portwho history: not implemented yet")
		},
	}
}
