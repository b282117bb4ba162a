package cli

import "github.com/spf13/cobra"

// PortOptions holds the flags of the root command, portwho [PORT|SERVICE].
type PortOptions struct {
	IO   *IOStreams
	Args []string
}

// newCmdPort builds the root command: portwho [PORT|SERVICE].
func newCmdPort(f *Factory, runF func(*PortOptions) error) *cobra.Command {
	opts := &PortOptions{IO: f.IO}
	return &cobra.Command{
		Use:   "portwho [PORT|SERVICE]",
		Short: "What is on this port, and should it be there?",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Args = args
			if runF != nil {
				return runF(opts)
			}
			return cmd.Help()
		},
	}
}
