package cli

// The root command: portwho (every listener on this host, a line each) and
// portwho PORT|PORT/udp|SERVICE (the registry's answer, then everything on
// this host that uses the port, with its processes in full).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portwho/portwho/internal/probe"
	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/render"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// PortOptions holds the flags of the root command, portwho [PORT|SERVICE].
type PortOptions struct {
	IO      *IOStreams
	Factory *Factory
	Args    []string

	All          bool   // every state, not only listeners
	TCP, UDP     bool   // protocols; neither means both
	PID          int    // only sockets this pid holds
	User         string // only sockets held by processes of this user (name or uid)
	Process      string // only sockets held by a process with this name
	Container    bool   // only sockets in containers or other namespaces
	JSON         bool
	NoNamespaces bool // only this process's own network namespace
	Probe        bool // also probe each local listener on the port (portwho probe)

	probed []probe.Result

	// EtcServices is the services file consulted for names the registry
	// lacks and compared with in the registry part ("" skips it).
	EtcServices string
}

// newCmdPort builds the root command: portwho [PORT|SERVICE].
func newCmdPort(f *Factory, runF func(*PortOptions) error) *cobra.Command {
	opts := &PortOptions{IO: f.IO, Factory: f, EtcServices: "/etc/services"}
	cmd := &cobra.Command{
		Use:   "portwho [PORT|PORT/udp|SERVICE]",
		Short: "What is on this port, and should it be there?",
		Long: `With a port or a service name: what the IANA registry says of it, then
every socket on this host that uses it (listening, or either end of a
connection), with the processes holding it: pid, user, command line,
executable, start time, parents, systemd unit, container.

With no argument: every listener on this host, a line each.

Run as root to see other users' processes and the sockets inside
containers (other network namespaces).`,
		Example: `  portwho 3302
  portwho 53/udp
  portwho ssh
  sudo portwho --container
  portwho --all --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Args = args
			if opts.PID < 0 {
				return usageErrorf("--pid must be a process id, got %d", opts.PID)
			}
			if runF != nil {
				return runF(opts)
			}
			return portRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.All, "all", "a", false, "every socket state, not only listeners")
	fl.BoolVarP(&opts.TCP, "tcp", "t", false, "TCP sockets only")
	fl.BoolVarP(&opts.UDP, "udp", "u", false, "UDP sockets only")
	fl.IntVar(&opts.PID, "pid", 0, "only sockets held by this process id")
	fl.StringVar(&opts.User, "user", "", "only sockets held by this user (name or uid)")
	fl.StringVar(&opts.Process, "process", "", "only sockets held by a process of this name")
	fl.BoolVar(&opts.Container, "container", false, "only sockets in containers or other network namespaces")
	fl.BoolVar(&opts.JSON, "json", false, "write JSON (see docs/json.md)")
	fl.BoolVar(&opts.NoNamespaces, "no-namespaces", false, "only this network namespace, not those of containers")
	fl.BoolVar(&opts.Probe, "probe", false, "also probe each local listener on the port through loopback (see portwho probe)")
	return cmd
}

// portTarget is what a PORT|SERVICE argument resolved to.
type portTarget struct {
	ports []uint16
	proto string // "tcp", "udp" or "" for both
}

// parsePortArg reads 3302, 3302/udp, ssh or ssh/tcp. Service names are
// resolved through the registry and, for names it lacks, /etc/services.
func parsePortArg(reg *registry.Registry, arg, etcServices string) (portTarget, error) {
	name, proto, hasProto := strings.Cut(arg, "/")
	proto = strings.ToLower(proto)
	if hasProto && proto != "tcp" && proto != "udp" {
		return portTarget{}, usageErrorf("unknown protocol %q in %q (want tcp or udp)", proto, arg)
	}
	if name == "" {
		return portTarget{}, usageErrorf("empty port in %q", arg)
	}
	if n, err := strconv.ParseUint(name, 10, 16); err == nil {
		if n == 0 {
			return portTarget{}, usageErrorf("port 0 is not a port anything can listen on")
		}
		return portTarget{ports: []uint16{uint16(n)}, proto: proto}, nil
	}
	if name[0] >= '0' && name[0] <= '9' {
		return portTarget{}, usageErrorf("%q is not a port (1-65535) or a service name", arg)
	}
	var t portTarget
	t.proto = proto
	add := func(p uint16) {
		if p != 0 && !slices.Contains(t.ports, p) {
			t.ports = append(t.ports, p)
		}
	}
	if reg != nil {
		for _, e := range reg.Name(name) {
			if !e.HasPort || (proto != "" && e.Protocol != "" && e.Protocol != proto) {
				continue
			}
			for p := int(e.Port); p <= int(e.PortEnd) && len(t.ports) < 64; p++ {
				add(uint16(p))
			}
		}
	}
	if len(t.ports) == 0 && etcServices != "" {
		// Local names a host added that IANA never registered.
		svcs, _ := registry.ReadServices(etcServices)
		for _, s := range registry.ServicesNamed(svcs, name) {
			if proto == "" || s.Protocol == proto {
				add(s.Port)
			}
		}
	}
	if len(t.ports) == 0 {
		return portTarget{}, usageErrorf("unknown service %q: give a port number, or see portwho search", render.Sanitize(name))
	}
	slices.Sort(t.ports)
	return t, nil
}

// portRun is the root command's work.
func portRun(ctx context.Context, opts *PortOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	f := opts.Factory
	// Registry never fails: a damaged cached copy is reported on ErrOut and
	// the embedded one used.
	reg, _ := f.Registry()
	var target *portTarget
	if len(opts.Args) == 1 {
		t, err := parsePortArg(reg, opts.Args[0], opts.EtcServices)
		if err != nil {
			return err
		}
		target = &t
	}

	procRoot := f.ProcRoot
	c := &report.Collector{
		Sockets:  &sockets.Scanner{ProcRoot: procRoot},
		Procs:    &process.Reader{ProcRoot: procRoot, Now: f.Now},
		Registry: reg,
	}
	q := sockets.Query{
		All:           opts.All,
		TCP:           opts.TCP,
		UDP:           opts.UDP,
		AllNamespaces: !opts.NoNamespaces,
	}
	var socks []report.Socket
	if target == nil {
		var err error
		if socks, err = c.Collect(ctx, q); err != nil {
			return err
		}
	} else {
		// A port is asked about whatever state its sockets are in.
		q.All = true
		switch target.proto {
		case "tcp":
			q.TCP, q.UDP = true, false
		case "udp":
			q.TCP, q.UDP = false, true
		}
		var err error
		if socks, err = c.CollectPorts(ctx, q, target.ports); err != nil {
			return err
		}
	}
	socks = filterSockets(socks, opts)
	if err := annotate(f, socks); err != nil {
		return err
	}
	if opts.Probe {
		if target == nil {
			return usageErrorf("--probe needs a PORT or SERVICE")
		}
		opts.probed = probeListeners(ctx, socks)
	}

	if target != nil {
		return writePortReport(opts, reg, target, socks)
	}
	if opts.JSON {
		if err := writeReportJSON(opts.IO, struct{}{}, socks); err != nil {
			return err
		}
	} else if len(socks) > 0 {
		if err := writeListing(opts.IO.Out, opts.IO.Style(), socks); err != nil {
			return err
		}
	}
	if len(socks) == 0 {
		if !opts.JSON {
			fmt.Fprintln(opts.IO.ErrOut, "no sockets match")
		}
		return &SilentExit{Code: ExitNotFound}
	}
	return nil
}

// writePortReport writes portwho PORT: the registry part, then this host.
func writePortReport(opts *PortOptions, reg *registry.Registry, t *portTarget, socks []report.Socket) error {
	info, infoErr := lookupInfo(reg, opts.Args[0], opts.EtcServices)
	if opts.JSON {
		head := struct {
			Port     uint16         `json:"port"`
			Ports    []uint16       `json:"ports,omitempty"`
			Registry *InfoResult    `json:"registry"`
			Probe    []probe.Result `json:"probe,omitempty"`
		}{Port: t.ports[0], Registry: info, Probe: opts.probed}
		if len(t.ports) > 1 {
			head.Ports = t.ports
		}
		if err := writeReportJSON(opts.IO, head, socks); err != nil {
			return err
		}
	} else {
		style := opts.IO.Style()
		if info != nil {
			if err := writeInfoHuman(opts.IO.Out, style, info); err != nil {
				return err
			}
		}
		if err := writeHostSection(opts.IO.Out, style, opts.Factory.Now(), t, socks); err != nil {
			return err
		}
		if opts.Probe {
			if err := writeProbeSection(opts.IO, opts.probed); err != nil {
				return err
			}
		}
	}
	if info == nil && len(socks) == 0 {
		if infoErr != nil && !opts.JSON {
			fmt.Fprintf(opts.IO.ErrOut, "portwho: %s\n", render.Sanitize(oneLine(infoErr.Error())))
		}
		return &SilentExit{Code: ExitNotFound}
	}
	return nil
}

// writeReportJSON writes the fields of head (a struct) followed by
// "sockets": one object. The sockets are streamed one per line through a
// buffer rather than marshalled whole: a 17,000-socket listing is megabytes
// of JSON, and building it in memory (then indenting it) cost more time and
// RSS than finding the sockets' owners. At a terminal it is indented for a
// person.
func writeReportJSON(s *IOStreams, head any, socks []report.Socket) error {
	h, err := json.Marshal(head)
	if err != nil {
		return err
	}
	h = bytes.TrimSuffix(h, []byte("}"))
	var dst io.Writer = s.Out
	var forTTY *bytes.Buffer
	if s.OutTTY {
		forTTY = new(bytes.Buffer)
		dst = forTTY
	}
	bw := bufio.NewWriterSize(dst, 64<<10)
	bw.Write(h)
	if len(h) > 1 {
		bw.WriteByte(',')
	}
	bw.WriteString(`"sockets":[`)
	var line []byte
	for i := range socks {
		if i > 0 {
			bw.WriteByte(',')
		}
		if line, err = appendSocketJSON(line[:0], &socks[i]); err != nil {
			return err
		}
		bw.Write(append(line, '\n'))
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		return err
	}
	if forTTY == nil {
		return nil
	}
	var out bytes.Buffer
	if err := json.Indent(&out, forTTY.Bytes(), "", "  "); err != nil {
		return err
	}
	_, err = s.Out.Write(out.Bytes())
	return err
}

// filterSockets applies --pid, --user, --process and --container.
func filterSockets(socks []report.Socket, opts *PortOptions) []report.Socket {
	if opts.PID == 0 && opts.User == "" && opts.Process == "" && !opts.Container {
		return socks
	}
	out := socks[:0]
	for _, s := range socks {
		if opts.Container && !inContainer(s) {
			continue
		}
		if opts.PID != 0 && !slices.ContainsFunc(s.Processes, func(p process.Process) bool { return p.PID == opts.PID }) {
			continue
		}
		if opts.User != "" && !slices.ContainsFunc(s.Processes, func(p process.Process) bool {
			return p.User == opts.User || strconv.FormatUint(uint64(p.UID), 10) == opts.User
		}) && !(len(s.Processes) == 0 && strconv.FormatUint(uint64(s.UID), 10) == opts.User) {
			continue
		}
		if opts.Process != "" && !slices.ContainsFunc(s.Processes, func(p process.Process) bool { return processNamed(p, opts.Process) }) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// processNamed matches --process against the names a user may know a
// process by: its comm, its executable's base name, or argv[0]'s.
func processNamed(p process.Process, name string) bool {
	if p.Name == name || (p.Exe != "" && filepath.Base(p.Exe) == name) {
		return true
	}
	return len(p.Cmdline) > 0 && filepath.Base(p.Cmdline[0]) == name
}

func inContainer(s report.Socket) bool {
	if !s.NetNS.Host && s.NetNS.Inode != 0 {
		return true
	}
	return slices.ContainsFunc(s.Processes, func(p process.Process) bool { return p.Container != nil })
}

// formatAddr writes addr:port as people and ss read it: IPv6 in brackets,
// so the wildcard :: (dual-stack unless v6only) shows as [::]:80.
func formatAddr(s sockets.Socket) string {
	a := s.LocalAddr
	out := addrPort(a.String(), a.Is6() && !a.Is4In6(), s.LocalPort)
	if s.V6Only {
		out += " (v6only)"
	}
	return out
}

func addrPort(host string, v6 bool, port uint16) string {
	if v6 {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(int(port))
}

func remoteAddr(s sockets.Socket) string {
	a := s.RemoteAddr
	if !a.IsValid() || (a.IsUnspecified() && s.RemotePort == 0) {
		return ""
	}
	return addrPort(a.String(), a.Is6() && !a.Is4In6(), s.RemotePort)
}

// severityMark is the listing's first column: the gravest finding's
// severity in words, so it reads without colour.
func severityMark(style render.Style, s report.Socket) string {
	if len(s.Findings) == 0 {
		return "-"
	}
	worst := s.Findings[0].Severity
	for _, f := range s.Findings[1:] {
		worst = max(worst, f.Severity)
	}
	return sevWord(style, worst)
}

// ownerText says why a socket has no process to show.
func ownerText(s report.Socket) string {
	switch s.Owner {
	case report.OwnerHidden:
		return "owner hidden: run as root"
	case report.OwnerUnknown:
		return fmt.Sprintf("owner unknown (socket uid %d)", s.UID)
	case report.OwnerNone:
		if s.Inode == 0 {
			return "no process (kernel-held)"
		}
		return "no owning process"
	}
	return ""
}

// placeLabel names the container or namespace a socket is in, "" for the
// host.
func placeLabel(s report.Socket) string {
	for _, p := range s.Processes {
		if p.Container != nil {
			return render.Sanitize(report.ContainerLabel(p.Container))
		}
	}
	if !s.NetNS.Host && s.NetNS.Inode != 0 {
		if s.NetNS.Label != "" {
			return render.Sanitize(s.NetNS.Label)
		}
		return fmt.Sprintf("netns:[%d]", s.NetNS.Inode)
	}
	return ""
}

// writeListing writes portwho with no argument: a line per socket.
func writeListing(w io.Writer, style render.Style, socks []report.Socket) error {
	var t render.Table
	t.Row("SEV", "PROTO", "ADDRESS", "STATE", "SERVICE", "PID", "PROCESS", "USER", "CONTAINER")
	for _, s := range socks {
		addr := formatAddr(s.Socket)
		if r := remoteAddr(s.Socket); r != "" {
			addr += " ↔ " + r
		}
		service := render.Sanitize(s.Service)
		if service == "" {
			service = "-"
		}
		pid, name, user := "-", ownerText(s), "-"
		if len(s.Processes) > 0 {
			p := s.Processes[0]
			pid = strconv.Itoa(p.PID)
			if n := len(s.Processes) - 1; n > 0 {
				pid += fmt.Sprintf(" (+%d)", n)
			}
			name = render.Truncate(render.Sanitize(p.Name), 24)
			user = render.Sanitize(p.User)
		}
		place := placeLabel(s)
		if place == "" {
			place = "-"
		}
		t.Row(severityMark(style, s), s.Protocol, addr, s.State, service, pid, name, user, place)
	}
	return t.Write(w, "")
}

// writeHostSection writes the "On this host:" part of portwho PORT.
func writeHostSection(w io.Writer, style render.Style, now time.Time, t *portTarget, socks []report.Socket) error {
	var b strings.Builder
	if len(socks) == 0 {
		ports := make([]string, len(t.ports))
		for i, p := range t.ports {
			ports[i] = strconv.Itoa(int(p))
		}
		fmt.Fprintf(&b, "On this host: nothing uses port %s.\n", strings.Join(ports, ", "))
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString(style.Bold("On this host:") + "\n")
	timeWait := 0
	for _, s := range socks {
		// A closed connection lingering in TIME-WAIT has no process and
		// nothing to judge; listing each one buries the sockets that matter.
		if s.State == "TIME-WAIT" && len(s.Processes) == 0 && len(s.Findings) == 0 {
			timeWait++
			continue
		}
		head := fmt.Sprintf("  %s  %s", s.Protocol, formatAddr(s.Socket))
		if r := remoteAddr(s.Socket); r != "" {
			head += " ↔ " + r
		}
		head += "  " + s.State
		if place := placeLabel(s); place != "" {
			head += "  in " + place
		}
		if mark := severityMark(style, s); mark != "-" {
			head += "  [" + mark + "]"
		}
		if len(s.Processes) == 0 {
			fmt.Fprintf(&b, "%s  %s\n", head, ownerText(s))
			writeFindings(&b, style, s.Findings)
			continue
		}
		for i, p := range s.Processes {
			if i == 0 {
				b.WriteString(head + " ")
			} else {
				b.WriteString("       also held by")
			}
			fmt.Fprintf(&b, " pid %d  %s  user %s\n", p.PID, render.Sanitize(p.Name), render.Sanitize(p.User))
			writeProcessDetails(&b, style, now, p)
		}
		writeFindings(&b, style, s.Findings)
	}
	if timeWait > 0 {
		fmt.Fprintf(&b, "  %s\n", style.Dim(fmt.Sprintf("and %d closed connection%s in TIME-WAIT, held by the kernel alone (--json lists them)", timeWait, plural(timeWait))))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// writeProcessDetails writes the indented lines under a socket's holder.
func writeProcessDetails(b *strings.Builder, style render.Style, now time.Time, p process.Process) {
	const indent = "       "
	if len(p.Cmdline) > 0 {
		b.WriteString(indent + strings.Join(render.SanitizeAll(p.Cmdline), " ") + "\n")
	}
	if p.Exe != "" && (len(p.Cmdline) == 0 || p.Cmdline[0] != p.Exe || p.ExeDeleted) {
		exe := "exe " + render.Sanitize(p.Exe)
		if p.ExeDeleted {
			exe += " " + style.Red("(deleted)")
		}
		b.WriteString(indent + exe + "\n")
	}
	var facts []string
	if !p.StartTime.IsZero() {
		facts = append(facts, fmt.Sprintf("started %s (%s ago)", p.StartTime.Local().Format("2006-01-02 15:04"), age(now.Sub(p.StartTime))))
	}
	if len(p.Parents) > 0 {
		chain := make([]string, len(p.Parents))
		for i, a := range p.Parents {
			chain[i] = fmt.Sprintf("%s %d", render.Sanitize(a.Name), a.PID)
		}
		facts = append(facts, "parent "+strings.Join(chain, " ← "))
	}
	if p.Unit != "" {
		facts = append(facts, "unit "+render.Sanitize(p.Unit))
	}
	if p.Container != nil {
		c := "container " + render.Sanitize(report.ContainerLabel(p.Container))
		if p.Container.Pod != "" && p.Container.ID != "" {
			c += " pod " + render.Sanitize(p.Container.Pod)
		}
		facts = append(facts, c)
	}
	if p.Cwd != "" {
		facts = append(facts, "cwd "+render.Sanitize(p.Cwd))
	}
	if len(facts) > 0 {
		b.WriteString(indent + strings.Join(facts, " · ") + "\n")
	}
}

// age writes a duration the way people say it: 45s, 12m, 3h5m, 4d2h.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		h := int(d.Hours())
		return fmt.Sprintf("%dh%dm", h, int(d.Minutes())-60*h)
	}
	days := int(d.Hours()) / 24
	return fmt.Sprintf("%dd%dh", days, int(d.Hours())-24*days)
}
