package cli

// portwho info: what IANA's registry says about a port, a port range or a
// service name, next to what the host's /etc/services calls it.

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/render"
)

// DefaultEtcServices is where the host names its services.
const DefaultEtcServices = "/etc/services"

// defaultRangeLimit caps how many records one page of a range query shows.
const defaultRangeLimit = 100

// InfoOptions holds the flags of portwho info.
type InfoOptions struct {
	IO *IOStreams
	// Registry loads the registry (Factory.Registry; tests hand in one).
	Registry func() (*registry.Registry, error)
	// EtcServices is the host's services file; "" skips it.
	EtcServices string

	Arg   string
	JSON  bool
	Limit int // records per page of a range query
}

// NewCmdInfo builds portwho info.
func NewCmdInfo(f *Factory, runF func(*InfoOptions) error) *cobra.Command {
	opts := &InfoOptions{IO: f.IO, Registry: f.Registry, EtcServices: DefaultEtcServices}
	cmd := &cobra.Command{
		Use:   "info PORT|PORT/PROTO|LOW-HIGH|SERVICE",
		Short: "What the IANA registry says about a port or a service name",
		Long: `Show what IANA's Service Name and Transport Protocol Port Number Registry
says about a port, a port range or a service name: the service, its
description, assignee and contact, dates, references (as links), notes and
known unauthorized uses; which range the port is in (System, User,
Dynamic/Private) and what that means; and how the host's /etc/services
names the port when that differs.

An unassigned port says so and shows the nearest assigned neighbours.
A range is shown a page at a time (--limit records); the answer says how
to ask for the next page.

The registry is built into portwho; portwho registry update fetches a newer
copy. Exit status: 0 answered, 1 nothing registered or found, 2 bad usage.`,
		Example: `  portwho info 3302
  portwho info 5353/udp
  portwho info 6000-6010
  portwho info https
  portwho info 3302 --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("portwho info takes one port, port/protocol, range or service name (got %d arguments)", len(args))
			}
			return nil
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			return completeServiceNames(opts.Registry, args, toComplete)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Arg = args[0]
			if runF != nil {
				return runF(opts)
			}
			return infoRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "write JSON (see docs/json.md)")
	cmd.Flags().IntVar(&opts.Limit, "limit", defaultRangeLimit, "records per page of a port range")
	return cmd
}

// completeServiceNames completes a service name argument from the
// registry; ports are not worth completing.
func completeServiceNames(load func() (*registry.Registry, error), args []string, prefix string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 || prefix == "" || prefix[0] >= '0' && prefix[0] <= '9' {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	reg, err := load()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	return reg.NamesWithPrefix(prefix, 200), cobra.ShellCompDirectiveNoFileComp
}

// InfoResult is the answer of portwho info, and its --json form.
type InfoResult struct {
	RegistryUpdated string `json:"registry_updated"`
	RegistrySource  string `json:"registry_source"`
	Query           string `json:"query"`
	// Kind is "port", "range" or "service".
	Kind string `json:"kind"`
	// Port and PortEnd are the port or range asked about (null for a
	// service name).
	Port     *uint16 `json:"port"`
	PortEnd  *uint16 `json:"port_end"`
	Protocol string  `json:"protocol"` // asked for; "" = every protocol
	// Range is the RFC 6335 range of the port asked about (port queries).
	Range *registry.Range `json:"range"`
	// Assigned is true when some entry carries a service name.
	Assigned bool             `json:"assigned"`
	Entries  []registry.Entry `json:"entries"`
	// Neighbours are the nearest assigned ports, for an unassigned port.
	Neighbours *Neighbours `json:"neighbours,omitempty"`
	// EtcServices is what the host's services file says of the port or name.
	EtcServices []EtcService `json:"etc_services"`
	// Truncated says a range query left records out; Next is the query
	// that continues it.
	Truncated bool   `json:"truncated"`
	Next      string `json:"next,omitempty"`
}

// Neighbours are the nearest ports below and above with a service name.
type Neighbours struct {
	Below []registry.Entry `json:"below"`
	Above []registry.Entry `json:"above"`
}

// EtcService is an /etc/services entry; DiffersFromIANA is set when the
// registry has no such name for that port and protocol.
type EtcService struct {
	registry.Service
	DiffersFromIANA bool `json:"differs_from_iana"`
}

var knownProtocols = []string{"tcp", "udp", "sctp", "dccp"}

// lookupInfo answers one info query: "3302", "3302/udp", "1000-1010",
// "https". Malformed input is a UsageError; finding nothing is a result with
// no entries. etcServices is the services file to compare with ("" skips).
func lookupInfo(reg *registry.Registry, arg string, etcServices string) (*InfoResult, error) {
	return lookupInfoLimit(reg, arg, etcServices, defaultRangeLimit)
}

func lookupInfoLimit(reg *registry.Registry, arg, etcServices string, limit int) (*InfoResult, error) {
	if reg == nil {
		return nil, errors.New("no registry loaded")
	}
	q := strings.TrimSpace(arg)
	what, proto, hasProto := strings.Cut(q, "/")
	proto = strings.ToLower(proto)
	if hasProto && !slices.Contains(knownProtocols, proto) {
		return nil, usageErrorf("unknown protocol %q in %q (want tcp, udp, sctp or dccp)", render.Sanitize(proto), render.Sanitize(arg))
	}
	if what == "" {
		return nil, usageErrorf("nothing to look up in %q: give a port, a range or a service name", render.Sanitize(arg))
	}
	res := &InfoResult{
		RegistryUpdated: reg.Updated(),
		RegistrySource:  reg.Source(),
		Query:           arg,
		Protocol:        proto,
		Entries:         []registry.Entry{},
		EtcServices:     []EtcService{},
	}
	if limit <= 0 {
		limit = defaultRangeLimit
	}
	// A missing or unreadable services file only means there is nothing
	// to compare with.
	etcPort := func(lo, hi uint16) []registry.Service {
		if etcServices == "" {
			return nil
		}
		svcs, _ := registry.ReadServicesPort(etcServices, lo, hi, proto)
		return svcs
	}

	if what[0] >= '0' && what[0] <= '9' {
		lo, hi, isRange := strings.Cut(what, "-")
		a, err := parseInfoPort(lo, arg)
		if err != nil {
			return nil, err
		}
		if !isRange {
			res.Kind = "port"
			res.Port, res.PortEnd = &a, &a
			rg := registry.PortRange(a)
			res.Range = &rg
			res.Entries = append(res.Entries, reg.Port(a, proto)...)
			res.Assigned = anyNamed(res.Entries)
			if !res.Assigned {
				below, above := reg.Neighbours(a, proto)
				res.Neighbours = &Neighbours{Below: nonNil(below), Above: nonNil(above)}
			}
			res.EtcServices = compareEtc(etcPort(a, a), res.Entries)
			return res, nil
		}
		b, err := parseInfoPort(hi, arg)
		if err != nil {
			return nil, err
		}
		if b < a {
			return nil, usageErrorf("port range %q runs backwards", render.Sanitize(what))
		}
		res.Kind = "range"
		res.Port, res.PortEnd = &a, &b
		es, more := reg.Between(a, b, proto, limit+1)
		if more || len(es) > limit {
			// Cut at a port boundary so the next page starts cleanly.
			cut := es[limit].Port
			if cut <= a {
				// The page fills up on the first port: show that port
				// whole rather than cut it.
				es, _ = reg.Between(a, a, proto, 0)
			} else {
				keep := es[:0]
				for _, e := range es {
					if e.Port < cut {
						keep = append(keep, e)
					}
				}
				es = keep
			}
			if a < b {
				res.Truncated = true
				res.Next = fmt.Sprintf("%d-%d", max(int(cut), int(a)+1), b)
				if proto != "" {
					res.Next += "/" + proto
				}
			}
		}
		res.Entries = append(res.Entries, es...)
		res.Assigned = anyNamed(res.Entries)
		for _, s := range etcPort(a, b) {
			res.EtcServices = append(res.EtcServices, compareEtc([]registry.Service{s}, reg.Port(s.Port, s.Protocol))...)
		}
		return res, nil
	}

	if strings.ContainsAny(what, " \t") {
		return nil, usageErrorf("%q is not a port, a range or a service name (to search descriptions: portwho search)", render.Sanitize(arg))
	}
	res.Kind = "service"
	for _, e := range reg.Name(what) {
		if proto == "" || e.Protocol == "" || e.Protocol == proto {
			res.Entries = append(res.Entries, e)
		}
	}
	res.Assigned = len(res.Entries) > 0
	var named []registry.Service
	if etcServices != "" {
		named, _ = registry.ReadServicesNamed(etcServices, what)
	}
	for _, s := range named {
		if proto == "" || s.Protocol == proto {
			res.EtcServices = append(res.EtcServices, compareEtc([]registry.Service{s}, reg.Port(s.Port, s.Protocol))...)
		}
	}
	return res, nil
}

func parseInfoPort(s, arg string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, usageErrorf("%q is not a port (0-65535), a port range or a service name", render.Sanitize(arg))
	}
	if n > 65535 {
		return 0, usageErrorf("port %d out of range (0-65535)", n)
	}
	return uint16(n), nil
}

func anyNamed(es []registry.Entry) bool {
	return slices.ContainsFunc(es, func(e registry.Entry) bool { return e.Service != "" })
}

func nonNil(es []registry.Entry) []registry.Entry {
	if es == nil {
		return []registry.Entry{}
	}
	return es
}

// compareEtc marks the services-file entries whose name the registry does
// not give that port and protocol.
func compareEtc(svcs []registry.Service, iana []registry.Entry) []EtcService {
	out := []EtcService{}
	for _, s := range svcs {
		same := slices.ContainsFunc(iana, func(e registry.Entry) bool {
			return e.Service != "" && s.Names(e.Service) && (e.Protocol == "" || e.Protocol == s.Protocol)
		})
		if s.Aliases == nil {
			s.Aliases = []string{}
		}
		out = append(out, EtcService{Service: s, DiffersFromIANA: !same})
	}
	return out
}

// infoRun is portwho info's work.
func infoRun(opts *InfoOptions) error {
	reg, err := opts.Registry()
	if err != nil {
		return err
	}
	res, err := lookupInfoLimit(reg, opts.Arg, opts.EtcServices, opts.Limit)
	if err != nil {
		return err
	}
	if opts.JSON {
		err = render.JSON(opts.IO.Out, res)
	} else {
		err = writeInfoHuman(opts.IO.Out, opts.IO.Style(), res)
	}
	if err != nil {
		return err
	}
	if !res.Assigned {
		return &SilentExit{Code: ExitNotFound}
	}
	return nil
}

// writeInfoHuman writes an info answer for a person: one line per record,
// the details they share, the port's range and the registry's date. Every
// string from the registry or the services file is sanitized.
func writeInfoHuman(w io.Writer, st render.Style, res *InfoResult) error {
	d := &details{st: st}
	if res.Kind == "range" {
		writeRangeHuman(d, res)
	} else {
		writePortHuman(d, res)
	}
	reg := "IANA Service Name and Transport Protocol Port Number Registry, updated " + render.Sanitize(res.RegistryUpdated)
	if res.RegistrySource != "" && res.RegistrySource != "embedded" {
		reg += " (cached copy " + render.Sanitize(res.RegistrySource) + ")"
	}
	d.row("registry", reg)
	_, err := io.WriteString(w, d.b.String())
	return err
}

// details writes "  label  text" lines with one label column for the whole
// answer, so every block lines up.
type details struct {
	st render.Style
	b  strings.Builder
}

// labelWidth fits the longest label, "/etc/services".
const labelWidth = 13

// wrapWidth is where long registry text (notes run to a thousand
// characters) is wrapped.
const wrapWidth = 78

// row writes one detail line; text is already sanitized.
func (d *details) row(label, text string) {
	d.b.WriteString("  " + d.st.Dim(label) + strings.Repeat(" ", max(0, labelWidth-len(label))+2) + text + "\n")
}

// wrapped writes registry text that may hold line breaks and run long:
// sanitized line by line, wrapped at word boundaries.
func (d *details) wrapped(label, text string) {
	for _, para := range strings.Split(text, "\n") {
		for _, ln := range wrap(para, wrapWidth) {
			d.row(label, render.Sanitize(ln))
			label = ""
		}
	}
}

// wrap splits s into lines of at most width runes where it can.
func wrap(s string, width int) []string {
	words := strings.Fields(s)
	if len(words) == 0 {
		return []string{""}
	}
	var lines []string
	cur := words[0]
	for _, w := range words[1:] {
		if len([]rune(cur))+1+len([]rune(w)) > width {
			lines = append(lines, cur)
			cur = w
			continue
		}
		cur += " " + w
	}
	return append(lines, cur)
}

// headRow is the one-line summary of an entry: 3302/tcp  mcs-fastmail  MCS Fastmail.
func headRow(st render.Style, e registry.Entry) []string {
	port := e.PortString()
	switch {
	case !e.HasPort && e.Protocol != "":
		port = render.Sanitize(e.Protocol) + " (no port)"
	case !e.HasPort:
		port = "(no port)"
	case e.Protocol != "":
		port += "/" + render.Sanitize(e.Protocol)
	default:
		port += " (any)"
	}
	name := render.Sanitize(e.Service)
	if name == "" {
		name = "-"
	} else {
		name = st.Bold(name)
	}
	return []string{st.Cyan(port), name, render.Sanitize(firstLine(e.Description))}
}

// firstLine keeps a description to its first line for table rows; the
// rest is shown under "description".
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// detailKey is what makes two entries' details equal, so tcp and udp twins
// print their details once.
func detailKey(e registry.Entry) string {
	var b strings.Builder
	if e.Assignee != nil {
		b.WriteString(e.Assignee.ID + "\x00" + e.Assignee.Label() + "\x00" + e.Assignee.URI)
	}
	b.WriteString("\x01")
	for _, c := range e.Contact {
		b.WriteString(c.ID + "\x00" + c.Label() + "\x00" + c.URI + "\x00")
	}
	b.WriteString("\x01" + e.Registered + "\x01" + e.Modified + "\x01" + e.Unauthorized + "\x01" + e.ServiceCode + "\x01")
	for _, r := range e.References {
		b.WriteString(r.Type + "\x00" + r.Data + "\x00" + r.Text + "\x00")
	}
	b.WriteString("\x01" + strings.Join(e.Notes, "\x00"))
	b.WriteString("\x01" + e.Description)
	return b.String()
}

func personText(p registry.Person) string {
	s := render.Sanitize(p.Label())
	if p.URI != "" {
		s += " (" + render.Sanitize(p.URI) + ")"
	}
	return s
}

// entryDetails writes the indented lines under a group of entries.
func (d *details) entryDetails(e registry.Entry) {
	st := d.st
	if strings.Contains(e.Description, "\n") {
		d.wrapped("description", e.Description)
	}
	if e.Assignee != nil {
		d.row("assignee", personText(*e.Assignee))
	}
	label := "contact"
	for _, c := range e.Contact {
		if e.Assignee != nil && c.ID == e.Assignee.ID && len(e.Contact) == 1 {
			break // the assignee line already says it
		}
		d.row(label, personText(c))
		label = ""
	}
	if e.Registered != "" {
		d.row("registered", render.Sanitize(e.Registered))
	}
	if e.Modified != "" {
		d.row("modified", render.Sanitize(e.Modified))
	}
	if len(e.References) == 0 {
		d.row("spec", "none referenced in the registry (no RFC, no draft, no URI)")
	}
	label = "spec"
	for _, r := range e.References {
		text := r.URL
		switch {
		case text == "" && r.Text != "":
			text = r.Text
		case text == "":
			text = r.Type + " " + r.Data
		case r.Text != "" && r.Text != r.URL:
			text += " (" + r.Text + ")"
		}
		d.wrapped(label, text)
		label = ""
	}
	for _, n := range e.Notes {
		d.wrapped("note", n)
	}
	if e.Unauthorized != "" {
		for i, ln := range wrap(e.Unauthorized, wrapWidth) {
			label := "unauthorized"
			if i > 0 {
				label = ""
			}
			d.row(label, st.Yellow(render.Sanitize(ln)))
		}
	}
	if e.ServiceCode != "" {
		d.row("service code", render.Sanitize(e.ServiceCode))
	}
}

func writePortHuman(d *details, res *InfoResult) {
	st := d.st
	what := render.Sanitize(res.Query)
	if len(res.Entries) == 0 {
		switch res.Kind {
		case "service":
			d.b.WriteString(st.Cyan(what) + "  no such service name in the registry\n")
		default:
			d.b.WriteString(st.Cyan(what) + "  unassigned: no record in the registry\n")
		}
	}
	// Entries with equal details form a group: their head lines, then the
	// details once.
	for i := 0; i < len(res.Entries); {
		j := i + 1
		key := detailKey(res.Entries[i])
		for j < len(res.Entries) && detailKey(res.Entries[j]) == key {
			j++
		}
		var heads render.Table
		for _, e := range res.Entries[i:j] {
			heads.Row(headRow(st, e)...)
		}
		heads.Write(&d.b, "")
		d.entryDetails(res.Entries[i])
		i = j
	}
	if len(res.Entries) > 0 && !res.Assigned && res.Kind == "port" {
		d.row("assigned", "no service name is registered for this port")
	}
	if res.Range != nil {
		d.row("range", rangeText(*res.Range))
	} else {
		seen := map[string]bool{}
		for _, e := range res.Entries {
			if e.HasPort && !seen[e.Range()] {
				seen[e.Range()] = true
				d.row("range", rangeText(registry.PortRange(e.Port)))
			}
		}
	}
	if res.Neighbours != nil {
		d.neighbours("below", res.Neighbours.Below)
		d.neighbours("above", res.Neighbours.Above)
	}
	d.etc(res)
}

func (d *details) neighbours(label string, es []registry.Entry) {
	if len(es) == 0 {
		d.row(label, "no assigned port")
		return
	}
	for _, e := range es {
		h := headRow(d.st, e)
		d.row(label, h[0]+"  "+h[1]+"  "+h[2])
		label = ""
	}
}

// etc writes the /etc/services names that differ from IANA's.
func (d *details) etc(res *InfoResult) {
	for _, s := range res.EtcServices {
		if !s.DiffersFromIANA {
			continue
		}
		text := fmt.Sprintf("%d/%s is %q here", s.Port, render.Sanitize(s.Protocol), render.Sanitize(s.Name))
		if len(s.Aliases) > 0 {
			text += " (aliases " + strings.Join(render.SanitizeAll(s.Aliases), ", ") + ")"
		}
		var iana []string
		for _, e := range res.Entries {
			if e.Service != "" && e.Covers(s.Port) && (e.Protocol == "" || e.Protocol == s.Protocol) && !slices.Contains(iana, e.Service) {
				iana = append(iana, e.Service)
			}
		}
		if len(iana) > 0 {
			text += "; IANA: " + strings.Join(render.SanitizeAll(iana), ", ")
		} else {
			text += "; IANA has no such name for it"
		}
		d.row("/etc/services", d.st.Yellow(text))
	}
}

func rangeText(r registry.Range) string {
	return fmt.Sprintf("%s (%d-%d): %s", r.Title, r.Low, r.High, r.Meaning)
}

func writeRangeHuman(d *details, res *InfoResult) {
	st := d.st
	var t render.Table
	for _, e := range res.Entries {
		t.Row(headRow(st, e)...)
	}
	if t.Len() == 0 {
		fmt.Fprintf(&d.b, "%s  no records in the registry\n", st.Cyan(render.Sanitize(res.Query)))
	}
	t.Write(&d.b, "")
	seen := map[string]bool{}
	for p := int(*res.Port); p <= int(*res.PortEnd); {
		r := registry.PortRange(uint16(p))
		if !seen[r.Name] {
			seen[r.Name] = true
			d.row("range", rangeText(r))
		}
		p = int(r.High) + 1
	}
	d.etc(res)
	if res.Truncated {
		d.row("more", "records left out; continue with: portwho info "+render.Sanitize(res.Next))
	}
	if len(res.Entries) > 0 {
		d.row("details", "portwho info PORT for assignee, references and notes")
	}
}
