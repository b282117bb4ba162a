package cli

import "github.com/spf13/cobra"

// SearchOptions holds the flags of portwho search.
type SearchOptions struct {
	IO *IOStreams
}

// NewCmdSearch builds portwho search. (Placeholder until its issue lands.)
func NewCmdSearch(f *Factory, runF func(*SearchOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:    "search",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("portwho search: not implemented yet")
		},
	}
}
