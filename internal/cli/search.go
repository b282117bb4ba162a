package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/render"
)

// SearchOptions holds the flags of portwho search.
type SearchOptions struct {
	IO       *IOStreams
	Registry func() (*registry.Registry, error)

	Query string
	Limit int
	JSON  bool
}

// SearchResult is the answer of portwho search, and its --json form.
type SearchResult struct {
	RegistryUpdated string           `json:"registry_updated"`
	RegistrySource  string           `json:"registry_source"`
	Query           string           `json:"query"`
	Entries         []registry.Entry `json:"entries"`
	// Truncated says more records matched than --limit shows.
	Truncated bool `json:"truncated"`
}

// NewCmdSearch builds portwho search.
func NewCmdSearch(f *Factory, runF func(*SearchOptions) error) *cobra.Command {
	opts := &SearchOptions{IO: f.IO, Registry: f.Registry}
	cmd := &cobra.Command{
		Use:   "search WORDS...",
		Short: "Search the IANA registry by name, description, notes and assignee",
		Long: `Search IANA's port registry for records matching every word given, in the
service name, the description, the notes, the known unauthorized uses and
the assignee and contacts (case does not matter).

Results are ranked: an exact service name first, then names starting with
or containing the words, then descriptions, then the rest.
Exit status: 0 found, 1 nothing matched, 2 bad usage.`,
		Example: `  portwho search fastmail
  portwho search multicast dns
  portwho search "Patti Jo Newsom" --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("portwho search needs words to look for")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Query = strings.Join(args, " ")
			if opts.Limit <= 0 {
				return usageErrorf("--limit must be positive, got %d", opts.Limit)
			}
			if runF != nil {
				return runF(opts)
			}
			return searchRun(opts)
		},
	}
	cmd.Flags().IntVarP(&opts.Limit, "limit", "n", 20, "show at most this many records")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "write JSON (see docs/json.md)")
	return cmd
}

func searchRun(opts *SearchOptions) error {
	reg, err := opts.Registry()
	if err != nil {
		return err
	}
	if strings.TrimSpace(opts.Query) == "" {
		return usageErrorf("portwho search needs words to look for")
	}
	es := reg.Search(opts.Query, opts.Limit+1)
	res := &SearchResult{
		RegistryUpdated: reg.Updated(),
		RegistrySource:  reg.Source(),
		Query:           opts.Query,
		Entries:         es,
	}
	if len(es) > opts.Limit {
		res.Entries, res.Truncated = es[:opts.Limit], true
	}
	if res.Entries == nil {
		res.Entries = []registry.Entry{}
	}
	if opts.JSON {
		err = render.JSON(opts.IO.Out, res)
	} else {
		err = writeSearchHuman(opts.IO.Out, opts.IO.Style(), res, opts.Limit)
	}
	if err != nil {
		return err
	}
	if len(res.Entries) == 0 {
		if !opts.JSON {
			fmt.Fprintf(opts.IO.ErrOut, "portwho: nothing in the registry matches %q\n", render.Sanitize(opts.Query))
		}
		return &SilentExit{Code: ExitNotFound}
	}
	return nil
}

func writeSearchHuman(w io.Writer, st render.Style, res *SearchResult, limit int) error {
	if len(res.Entries) == 0 {
		return nil
	}
	var t render.Table
	for _, e := range res.Entries {
		row := headRow(st, e)
		row[2] = render.Truncate(row[2], 70)
		t.Row(row...)
	}
	var b strings.Builder
	if err := t.Write(&b, ""); err != nil {
		return err
	}
	if res.Truncated {
		fmt.Fprintf(&b, "%s\n", st.Dim(fmt.Sprintf("(first %d matches; --limit N for more)", limit)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
