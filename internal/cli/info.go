package cli

import "github.com/spf13/cobra"

// InfoOptions holds the flags of portwho info.
type InfoOptions struct {
	IO *IOStreams
}

// NewCmdInfo builds portwho info. (Placeholder until its issue lands.)
func NewCmdInfo(f *Factory, runF func(*InfoOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:    "info",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("portwho info: not implemented yet")
		},
	}
}
