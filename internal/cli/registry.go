package cli

import "github.com/spf13/cobra"

// NewCmdRegistry builds portwho registry (placeholder until its issue lands).
func NewCmdRegistry(f *Factory) *cobra.Command {
	return &cobra.Command{Use: "registry", Short: "not implemented yet", Hidden: true}
}
