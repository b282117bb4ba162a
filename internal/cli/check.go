package cli

import "github.com/spf13/cobra"

// CheckOptions holds the flags of portwho check.
type CheckOptions struct {
	IO *IOStreams
}

// NewCmdCheck builds portwho check. (Placeholder until its issue lands.)
func NewCmdCheck(f *Factory, runF func(*CheckOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:    "check",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("portwho check: not implemented yet")
		},
	}
}
