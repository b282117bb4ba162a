package cli

// portwho check: judge this host's listeners against the allow-list and
// the findings threshold, with exit codes for CI and configuration
// management.

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portwho/portwho/internal/policy"
	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/render"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// CheckOptions holds the flags of portwho check.
type CheckOptions struct {
	IO      *IOStreams
	Factory *Factory

	PolicyFile string // --policy; "" finds the default
	FailOn     string // --fail-on; "" takes the policy's, else medium
	JSON       bool

	// Collect lists the host's listeners; nil collects them all. Tests
	// narrow it to the processes they started.
	Collect func(ctx context.Context) ([]report.Socket, error)
}

// NewCmdCheck builds portwho check.
func NewCmdCheck(f *Factory, runF func(*CheckOptions) error) *cobra.Command {
	opts := &CheckOptions{IO: f.IO, Factory: f}
	cmd := &cobra.Command{
		Use:   "check [--policy FILE] [--fail-on SEVERITY] [--json]",
		Short: "Judge this host's listeners against an allow-list policy",
		Long: `Reports listeners the policy does not allow, listeners the policy requires
that are not there (a service that should be up is down), and findings at
or above the threshold (--fail-on, else the policy's settings.fail-on, else
medium).

The policy is --policy FILE, else $PORTWHO_POLICY, else ` + DefaultPolicyPath + `
if it exists; with none, only findings are judged. Write one with
portwho baseline. Format: docs/policy.md.

Exit status: 0 clean, 1 something to report, 2 error (including a policy
file that does not parse: nothing is checked then).`,
		Example: `  sudo portwho baseline > /etc/portwho/policy.yaml
  sudo portwho check
  sudo portwho check --policy site.yaml --fail-on high --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return checkRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.PolicyFile, "policy", "", "policy file (default $PORTWHO_POLICY or "+DefaultPolicyPath+")")
	fl.StringVar(&opts.FailOn, "fail-on", "", "lowest finding severity to report: info, low, medium, high")
	fl.BoolVar(&opts.JSON, "json", false, "write JSON (see docs/json.md)")
	return cmd
}

// collectListeners lists every listener on the host, in every network
// namespace the caller may see, with owners and registry names.
func (f *Factory) collectListeners(ctx context.Context) ([]report.Socket, error) {
	reg, _ := f.Registry()
	c := &report.Collector{
		Sockets:  &sockets.Scanner{ProcRoot: f.ProcRoot},
		Procs:    &process.Reader{ProcRoot: f.ProcRoot, Now: f.Now},
		Registry: reg,
	}
	return c.Collect(ctx, sockets.Query{AllNamespaces: true})
}

func checkRun(ctx context.Context, opts *CheckOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	f := opts.Factory
	// The policy is read whole before anything is collected: a broken file
	// stops the check instead of producing a partial verdict.
	pol, err := f.loadPolicy(opts.PolicyFile)
	if err != nil {
		return err
	}
	failOn := report.SeverityMedium
	if pol != nil && pol.Settings.FailOn != nil {
		failOn = *pol.Settings.FailOn
	}
	if opts.FailOn != "" {
		if failOn, err = report.ParseSeverity(opts.FailOn); err != nil {
			return usageErrorf("--fail-on: %v", err)
		}
	}
	collect := opts.Collect
	if collect == nil {
		collect = f.collectListeners
	}
	socks, err := collect(ctx)
	if err != nil {
		return err
	}
	a := f.newAssessor(pol)
	a.ServiceKnown = len(socks) > manySockets
	a.Annotate(socks)
	res := policy.Check(pol, socks, failOn)
	res.Notes = append(res.Notes, a.Notes()...)
	if pol == nil {
		path, _ := f.policyPath(opts.PolicyFile)
		res.Notes = append(res.Notes, "no policy at "+path+": only findings were judged (write one with portwho baseline)")
	}
	if opts.JSON {
		if err := render.JSON(opts.IO.Out, res); err != nil {
			return err
		}
	} else {
		for _, n := range res.Notes {
			fmt.Fprintf(opts.IO.ErrOut, "portwho: note: %s\n", render.Sanitize(n))
		}
		if err := writeCheckHuman(opts.IO.Out, opts.IO.Style(), res); err != nil {
			return err
		}
	}
	if !res.Clean {
		return &SilentExit{Code: ExitNotFound}
	}
	return nil
}

func writeCheckHuman(w io.Writer, style render.Style, res *policy.Result) error {
	var b strings.Builder
	src := "no policy"
	if res.Policy != "" {
		src = "policy " + render.Sanitize(res.Policy)
	}
	fmt.Fprintf(&b, "%s  %s, findings at or above %s\n", style.Bold("portwho check:"), src, res.FailOn)
	var t render.Table
	for i := range res.Unexpected {
		s := &res.Unexpected[i]
		t.Row(style.Red("NOT ALLOWED"), s.Protocol+" "+listenAddr(s.LocalAddr, s.LocalPort)+nsSuffix(s), holderText(s))
	}
	for _, m := range res.Missing {
		where := "policy line " + strconv.Itoa(m.Line)
		if m.Comment != "" {
			where += ": " + render.Sanitize(m.Comment)
		}
		t.Row(style.Yellow("MISSING"), render.Sanitize(m.Describe()), "("+where+")")
	}
	for _, f := range res.Findings {
		where := f.Protocol + " " + listenAddr(f.Address, f.Port)
		if f.NetNS != "host" {
			where += " in " + render.Sanitize(f.NetNS)
		}
		t.Row(sevWord(style, f.Severity), where, f.ID+": "+render.Sanitize(f.Title))
		t.Row("", "", "  "+render.Sanitize(f.Evidence))
	}
	if err := writeString(w, b.String()); err != nil {
		return err
	}
	if t.Len() > 0 {
		if err := t.Write(w, "  "); err != nil {
			return err
		}
	}
	c := res.Counts
	verdict := style.Green("clean")
	if !res.Clean {
		verdict = style.Red("not clean")
	}
	summary := fmt.Sprintf("%s: %d listeners", verdict, c.Listeners)
	if res.Policy != "" {
		summary += fmt.Sprintf(", %d allowed, %d not allowed, %d missing", c.Allowed, c.Unexpected, c.Missing)
	}
	summary += fmt.Sprintf(", %d findings at or above %s\n", c.Findings, res.FailOn)
	return writeString(w, summary)
}

func writeString(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}

// sevWord is a severity in words (never colour alone).
func sevWord(style render.Style, s report.Severity) string {
	switch s {
	case report.SeverityHigh:
		return style.Red("HIGH")
	case report.SeverityMedium:
		return style.Yellow("MED")
	case report.SeverityLow:
		return "LOW"
	}
	return "INFO"
}

// listenAddr writes addr:port with IPv6 in brackets.
func listenAddr(a netip.Addr, port uint16) string {
	return netip.AddrPortFrom(a, port).String()
}

func nsSuffix(s *report.Socket) string {
	if s.NetNS.Host || s.NetNS.Inode == 0 {
		return ""
	}
	if s.NetNS.Label != "" {
		return " in " + render.Sanitize(s.NetNS.Label)
	}
	return fmt.Sprintf(" in netns:[%d]", s.NetNS.Inode)
}

// holderText is "pid 123 nc (root) /usr/bin/nc.openbsd", or why there is
// no holder to show.
func holderText(s *report.Socket) string {
	if len(s.Processes) == 0 {
		switch s.Owner {
		case report.OwnerHidden:
			return "holder hidden: run as root"
		case report.OwnerNone:
			return "no owning process"
		}
		return "holder unknown"
	}
	p := s.Processes[0]
	out := fmt.Sprintf("pid %d %s (%s)", p.PID, render.Sanitize(p.Name), render.Sanitize(p.User))
	if p.Exe != "" {
		out += " " + render.Sanitize(p.Exe)
		if p.ExeDeleted {
			out += " (deleted)"
		}
	}
	if n := len(s.Processes) - 1; n > 0 {
		out += fmt.Sprintf(" and %d more", n)
	}
	return out
}
