package cli

import (
	"github.com/spf13/cobra"
)

// NewCmdRoot builds the portwho command tree. The root command itself is the
// main job (portwho PORT), built in port.go.
func NewCmdRoot(f *Factory) *cobra.Command {
	root := newCmdPort(f, nil)
	root.SilenceUsage = true
	root.SilenceErrors = true
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetIn(f.IO.In)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &UsageError{Msg: err.Error()}
	})
	root.AddCommand(
		NewCmdInfo(f, nil),
		NewCmdSearch(f, nil),
		NewCmdRegistry(f),
		NewCmdVersion(f),
		NewCmdProbe(f, nil),
		NewCmdCheck(f, nil),
		NewCmdBaseline(f, nil),
		NewCmdWatch(f, nil),
		NewCmdHistory(f, nil),
	)
	return root
}
