package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/render"
)

// NewCmdRegistry builds portwho registry and its subcommands.
func NewCmdRegistry(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Show or update the IANA registry portwho uses",
		Long: `portwho carries a copy of IANA's Service Name and Transport Protocol Port
Number Registry. portwho registry update fetches the current one into the
cache directory; lookups then use whichever copy is newer.`,
		Example: `  portwho registry status
  portwho registry update
  portwho registry update --from ./service-names-port-numbers.xml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(NewCmdRegistryUpdate(f, nil), NewCmdRegistryStatus(f, nil))
	return cmd
}

// RegistryUpdateOptions holds the flags of portwho registry update.
type RegistryUpdateOptions struct {
	IO       *IOStreams
	CacheDir func() (string, error)

	From    string
	Timeout time.Duration
	JSON    bool
}

// NewCmdRegistryUpdate builds portwho registry update.
func NewCmdRegistryUpdate(f *Factory, runF func(*RegistryUpdateOptions) error) *cobra.Command {
	opts := &RegistryUpdateOptions{IO: f.IO, CacheDir: f.CacheDir}
	cmd := &cobra.Command{
		Use:   "update [--from FILE|URL]",
		Short: "Fetch the current IANA registry into the cache",
		Long: `Download IANA's registry (` + registry.DefaultURL + `),
or read it from --from FILE|URL, check it (it parses, holds at least 10,000
records, 80/tcp is http), and store it in portwho's cache directory
($XDG_CACHE_HOME/portwho or ~/.cache/portwho) in one atomic step.
A download larger than 32 MiB, a damaged or implausible file, a network error
or the timeout leaves the registry in use untouched.`,
		Example: `  portwho registry update
  portwho registry update --from ./service-names-port-numbers.xml
  portwho registry update --timeout 2m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Timeout <= 0 {
				return usageErrorf("--timeout must be positive, got %s", opts.Timeout)
			}
			if runF != nil {
				return runF(opts)
			}
			return registryUpdateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.From, "from", "", "read the XML from this file or http(s) URL instead of IANA")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", time.Minute, "give up after this long")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "write JSON (see docs/json.md)")
	return cmd
}

// RegistryStatus is the --json form of portwho registry status and update.
type RegistryStatus struct {
	Updated  string `json:"registry_updated"`
	Source   string `json:"registry_source"`
	Records  int    `json:"records"`
	Embedded string `json:"embedded_updated"`
	CacheDir string `json:"cache_dir"`
	// Cached is the date of the cached copy, "" when there is none.
	Cached string `json:"cached_updated"`
}

func registryUpdateRun(ctx context.Context, opts *RegistryUpdateOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	dir, err := opts.CacheDir()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	from := opts.From
	if from == "" {
		from = registry.DefaultURL
	}
	if !opts.JSON {
		fmt.Fprintf(opts.IO.ErrOut, "fetching %s\n", render.Sanitize(from))
	}
	got, err := registry.Update(ctx, registry.UpdateOptions{From: opts.From, CacheDir: dir})
	if err != nil {
		return fmt.Errorf("registry update failed, registry in use unchanged: %w", err)
	}
	emb := registry.Embedded()
	st := RegistryStatus{
		Updated: got.Updated(), Source: got.Source(), Records: got.Len(),
		Embedded: emb.Updated(), CacheDir: dir, Cached: got.Updated(),
	}
	if got.Updated() <= emb.Updated() {
		st.Updated, st.Source, st.Records = emb.Updated(), emb.Source(), emb.Len()
	}
	if opts.JSON {
		return render.JSON(opts.IO.Out, st)
	}
	fmt.Fprintf(opts.IO.Out, "stored registry of %s (%d records) in %s\n",
		render.Sanitize(got.Updated()), got.Len(), render.Sanitize(got.Source()))
	if st.Source == "embedded" {
		fmt.Fprintf(opts.IO.Out, "the built-in registry (%s) is as new or newer, so lookups keep using it\n", emb.Updated())
	}
	return nil
}

// RegistryStatusOptions holds the flags of portwho registry status.
type RegistryStatusOptions struct {
	IO       *IOStreams
	CacheDir func() (string, error)
	Registry func() (*registry.Registry, error)
	JSON     bool
}

// NewCmdRegistryStatus builds portwho registry status.
func NewCmdRegistryStatus(f *Factory, runF func(*RegistryStatusOptions) error) *cobra.Command {
	opts := &RegistryStatusOptions{IO: f.IO, CacheDir: f.CacheDir, Registry: f.Registry}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Say which registry copy is in use and how old it is",
		Long: `Show which copy of IANA's registry lookups use (the built-in one or the
cached download, whichever is newer), its date and record count, the date
of the other copy, and the cache directory.`,
		Example: `  portwho registry status
  portwho registry status --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return registryStatusRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "write JSON (see docs/json.md)")
	return cmd
}

func registryStatusRun(opts *RegistryStatusOptions) error {
	reg, err := opts.Registry()
	if err != nil {
		return err
	}
	st := RegistryStatus{
		Updated: reg.Updated(), Source: reg.Source(), Records: reg.Len(),
		Embedded: registry.Embedded().Updated(),
	}
	if dir, err := opts.CacheDir(); err == nil {
		st.CacheDir = dir
		if c, err := registry.ReadFile(filepath.Join(dir, registry.CacheFile)); err == nil {
			st.Cached = c.Updated()
		} else if !errors.Is(err, os.ErrNotExist) {
			st.Cached = ""
		}
	}
	if opts.JSON {
		return render.JSON(opts.IO.Out, st)
	}
	var t render.Table
	s := opts.IO.Style()
	t.Row(s.Dim("in use"), fmt.Sprintf("%s, updated %s, %d records", render.Sanitize(st.Source), st.Updated, st.Records))
	t.Row(s.Dim("built in"), st.Embedded)
	cached := "none (portwho registry update fetches one)"
	if st.Cached != "" {
		cached = st.Cached
	}
	t.Row(s.Dim("cached"), cached)
	if st.CacheDir != "" {
		t.Row(s.Dim("cache dir"), render.Sanitize(st.CacheDir))
	}
	return t.Write(opts.IO.Out, "")
}
