package cli

// portwho probe: what actually answers on a host:port, like nmap -sV.

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portwho/portwho/internal/probe"
	"github.com/portwho/portwho/internal/render"
	"github.com/portwho/portwho/internal/report"
)

// maxInfoWidth caps the info column of the human table, in runes.
const maxInfoWidth = 100

// ProbeOptions holds the flags of portwho probe.
type ProbeOptions struct {
	IO *IOStreams
	// Ctx bounds the whole run (the command's context).
	Ctx context.Context
	// Prober does the work; nil builds one from the flags. Tests hand in
	// one with their own protocols.
	Prober *probe.Prober

	Targets  []string
	JSON     bool
	Timeout  time.Duration
	UDP      bool
	Parallel int
}

// ProbeJSON is the --json document: {"results": [...]}.
type ProbeJSON struct {
	Results []probe.Result `json:"results"`
}

// NewCmdProbe builds portwho probe.
func NewCmdProbe(f *Factory, runF func(*ProbeOptions) error) *cobra.Command {
	opts := &ProbeOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "probe HOST:PORTS[/udp]...",
		Short: "What actually answers on a port: service, product, version, TLS",
		Long: `Connect to each target and identify what answers there, like nmap -sV but
concurrently: read the banner the peer sends unprompted, then try a TLS
handshake, an HTTP request and the probes of the services usual on that
port, in parallel on separate connections, and keep the first certain
answer. TLS is detected on any port; its certificate is summarised and the
protocol inside identified. STARTTLS is followed where the protocol offers
it (SMTP, IMAP, POP3, FTP, PostgreSQL).

Each target has a whole-session deadline (--timeout) and every read is
capped, so a slow or hostile peer costs at most the deadline; banners and
certificates are shown with control characters escaped. Probes never log
in beyond anonymous defaults and send nothing that changes the peer's state.

UDP targets (HOST:PORT/udp, or every target with --udp) get the UDP
protocols' requests: no answer is open|filtered, an ICMP port unreachable
is closed.

PORTS is a port, a range LOW-HIGH, or a comma-separated list of both:
127.0.0.1:22,80,8000-8100 probes 103 ports of one host.

Exit status: 0 every target answered and was identified, 1 some target was
closed, filtered or unidentified, 2 bad usage.`,
		Example: `  portwho probe 127.0.0.1:3302 localhost:22 localhost:53/udp
  portwho probe --json '[::1]:443'
  portwho probe 127.0.0.1:1-1024
  portwho probe --timeout 2s --udp 127.0.0.1:161 127.0.0.1:123`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("portwho probe needs at least one HOST:PORT target")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Targets = args
			opts.Ctx = cmd.Context()
			if runF != nil {
				return runF(opts)
			}
			return probeRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "write JSON (see docs/json.md)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 0, "whole-session deadline per target (default 5s TCP, 3s UDP)")
	cmd.Flags().BoolVar(&opts.UDP, "udp", false, "probe targets without /tcp or /udp over UDP")
	cmd.Flags().IntVar(&opts.Parallel, "parallel", probe.DefaultParallel, "targets probed at once")
	return cmd
}

// parseTargets reads the targets; --udp makes UDP the default transport.
func parseTargets(args []string, udp bool) ([]probe.Target, error) {
	ts, _, err := parseTargetsRanged(args, udp)
	return ts, err
}

// parseTargetsRanged is parseTargets that also says which targets came
// from an argument naming several ports: like nmap, the table leaves their
// closed ports out and they do not make the exit status fail.
func parseTargetsRanged(args []string, udp bool) ([]probe.Target, []bool, error) {
	out := make([]probe.Target, 0, len(args))
	var ranged []bool
	for _, a := range args {
		ts, err := probe.ParseTargets(a)
		if err != nil {
			return nil, nil, usageErrorf("%v", err)
		}
		for _, t := range ts {
			if udp && !strings.HasSuffix(strings.ToLower(a), "/tcp") {
				t.Transport = "udp"
			}
			out = append(out, t)
			ranged = append(ranged, len(ts) > 1)
		}
	}
	return out, ranged, nil
}

func probeRun(opts *ProbeOptions) error {
	if opts.Timeout < 0 {
		return usageErrorf("--timeout must not be negative")
	}
	if opts.Parallel < 0 {
		return usageErrorf("--parallel must not be negative")
	}
	targets, ranged, err := parseTargetsRanged(opts.Targets, opts.UDP)
	if err != nil {
		return err
	}
	p := opts.Prober
	if p == nil {
		p = &probe.Prober{Timeout: opts.Timeout, Parallel: opts.Parallel}
	}
	ctx := opts.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	results := p.ProbeAll(ctx, targets)
	if opts.JSON {
		if err := render.JSON(opts.IO.Out, ProbeJSON{Results: results}); err != nil {
			return err
		}
	} else {
		shown, hidden := make([]probe.Result, 0, len(results)), 0
		for i, r := range results {
			if ranged[i] && r.State == probe.StateClosed {
				hidden++
				continue
			}
			shown = append(shown, r)
		}
		if err := writeProbeTable(opts.IO, shown, ""); err != nil {
			return err
		}
		if hidden > 0 {
			fmt.Fprintf(opts.IO.Out, "%d closed port%s not shown (--json lists them)\n", hidden, plural(hidden))
		}
	}
	for i, r := range results {
		if ranged[i] && r.State == probe.StateClosed {
			continue
		}
		if !Identified(r) {
			return &SilentExit{Code: ExitNotFound}
		}
	}
	return nil
}

// Identified is true when a target answered and the service was named by
// the wire, not guessed from the port.
func Identified(r probe.Result) bool {
	return r.State == probe.StateOpen && r.Service != "" && !r.Guess && r.Service != "tcpwrapped"
}

// writeProbeTable prints one line per target: target, state, service,
// product and version, info, method, elapsed. Every string from the peer
// goes through render.Sanitize.
func writeProbeTable(io *IOStreams, results []probe.Result, indent string) error {
	st := io.Style()
	var t render.Table
	for _, r := range results {
		state := r.State
		switch state {
		case probe.StateOpen:
			state = st.Green(state)
		case probe.StateClosed:
			state = st.Red(state)
		default:
			state = st.Yellow(state)
		}
		t.Row(
			render.Sanitize(r.Target),
			state,
			render.Sanitize(ServiceLabel(r)),
			render.Truncate(render.Sanitize(strings.TrimSpace(r.Product+" "+r.Version)), 40),
			render.Truncate(render.Sanitize(probeInfo(r)), maxInfoWidth),
			st.Dim(render.Sanitize(r.Method)),
			fmt.Sprintf("%d ms", r.ElapsedMS),
		)
	}
	return t.Write(io.Out, indent)
}

// ServiceLabel is the service as nmap prints it: "ssl/http" inside TLS,
// a trailing "?" for a guess from the port.
func ServiceLabel(r probe.Result) string {
	s := r.Service
	if s == "" {
		if r.State == probe.StateOpen {
			return "unknown"
		}
		return ""
	}
	if r.TLS != nil && s != "ssl" {
		s = "ssl/" + s
	}
	if r.Guess {
		s += "?"
	}
	return s
}

// probeInfo joins the extra details: protocol info, TLS, STARTTLS, and
// the banner when nothing else named the service.
func probeInfo(r probe.Result) string {
	var parts []string
	if r.Info != "" {
		parts = append(parts, r.Info)
	}
	if r.TLS != nil {
		parts = append(parts, r.TLS.Short())
	}
	if r.StartTLS != nil {
		parts = append(parts, "starttls "+r.StartTLS.Short())
	}
	if r.Error != "" {
		parts = append(parts, r.Error)
	}
	if !Identified(r) && r.Banner != "" {
		parts = append(parts, "banner "+r.Banner)
	}
	return strings.Join(parts, " · ")
}

// listenerTargets turns the listeners among socks into probe targets
// reachable through loopback: a wildcard address is probed on 127.0.0.1 or
// ::1, a specific one on itself. Sockets in other network namespaces are
// skipped: this host's loopback does not reach them.
func listenerTargets(socks []report.Socket) []probe.Target {
	var out []probe.Target
	seen := map[string]bool{}
	for _, s := range socks {
		if !s.NetNS.Host && s.NetNS.Inode != 0 {
			continue
		}
		if !(s.Protocol == "tcp" && s.State == "LISTEN" || s.Protocol == "udp" && s.State == "UNCONN") {
			continue
		}
		addr := s.LocalAddr
		if !addr.IsValid() || addr.IsUnspecified() {
			addr = netip.MustParseAddr("127.0.0.1")
			if s.Family == "inet6" && s.V6Only {
				addr = netip.IPv6Loopback()
			}
		}
		t := probe.Target{Host: addr.Unmap().WithZone("").String(), Port: s.LocalPort, Transport: s.Protocol}
		t.Raw = t.String()
		if !seen[t.Raw] {
			seen[t.Raw] = true
			out = append(out, t)
		}
	}
	return out
}

// probeListeners probes each local listener of socks (portwho PORT --probe).
func probeListeners(ctx context.Context, socks []report.Socket) []probe.Result {
	p := &probe.Prober{}
	return p.ProbeAll(ctx, listenerTargets(socks))
}

// writeProbeSection prints the probe results under the host section.
func writeProbeSection(io *IOStreams, results []probe.Result) error {
	st := io.Style()
	if len(results) == 0 {
		_, err := fmt.Fprintf(io.Out, "\n%s\n  no local listener to probe\n", st.Bold("Probe"))
		return err
	}
	if _, err := fmt.Fprintf(io.Out, "\n%s\n", st.Bold("Probe (through loopback)")); err != nil {
		return err
	}
	return writeProbeTable(io, results, "  ")
}
