package cli

import "github.com/spf13/cobra"

// ProbeOptions holds the flags of portwho probe.
type ProbeOptions struct {
	IO *IOStreams
}

// NewCmdProbe builds portwho probe. (Placeholder until its issue lands.)
func NewCmdProbe(f *Factory, runF func(*ProbeOptions) error) *cobra.Command {
	return &cobra.Command{
		Use:    "probe",
		Short:  "not implemented yet",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return usageErrorf("portwho probe: not implemented yet")
		},
	}
}
