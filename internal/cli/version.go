package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/portwho/portwho/internal/render"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// VersionInfo is the --json form of portwho version.
type VersionInfo struct {
	Version         string `json:"version"`
	Go              string `json:"go"`
	RegistryUpdated string `json:"registry_updated"`
	RegistrySource  string `json:"registry_source"`
}

// NewCmdVersion builds portwho version.
func NewCmdVersion(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print portwho's version and the date of the registry in use",
		Long:    "Print portwho's version, the Go version it was built with, and the date and\nsource (built in, or the cached download) of the IANA registry lookups use.",
		Example: "  portwho version\n  portwho version --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := f.Registry()
			if err != nil {
				return err
			}
			v := VersionInfo{Version: Version, Go: runtime.Version(), RegistryUpdated: reg.Updated(), RegistrySource: reg.Source()}
			if asJSON {
				return render.JSON(f.IO.Out, v)
			}
			_, err = fmt.Fprintf(f.IO.Out, "portwho %s (%s)\nIANA port registry updated %s (%s)\n",
				render.Sanitize(v.Version), v.Go, render.Sanitize(v.RegistryUpdated), render.Sanitize(v.RegistrySource))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "write JSON")
	return cmd
}
