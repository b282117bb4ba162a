package policy

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portwho/portwho/internal/assess"
	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
)

// Ephemeral is Linux's default ip_local_port_range. A listener there was
// most likely given its port by the kernel (bind to port 0, RPC services,
// UDP client sockets) and will be elsewhere after a restart.
var Ephemeral = assess.PortRange{Lo: 32768, Hi: 60999}

// Baseline turns today's listeners into an allow-list, generalised so that
// it survives the changes a healthy host goes through: listeners on
// ephemeral ports are allowed anywhere in the range and not required,
// version directories in executable paths (/usr/lib/postgresql/15/bin)
// become globs, and a socket shared by a master and its workers becomes
// one rule for the master.
func Baseline(socks []report.Socket) *Policy {
	p := &Policy{}
	seen := map[string]bool{}
	for i := range socks {
		s := &socks[i]
		if !assess.IsListening(&s.Socket) {
			continue
		}
		r := baselineRule(s)
		key := ruleKey(&r)
		if seen[key] {
			continue
		}
		seen[key] = true
		p.Allow = append(p.Allow, r)
	}
	slices.SortStableFunc(p.Allow, func(a, b Rule) int {
		return cmp.Or(
			cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.Ports.Lo, b.Ports.Lo),
			cmp.Compare(a.Address.Kind, b.Address.Kind),
			cmp.Compare(a.Address.String(), b.Address.String()),
			cmp.Compare(a.NetNS, b.NetNS),
			cmp.Compare(a.Container, b.Container),
			cmp.Compare(a.Exe, b.Exe),
		)
	})
	return p
}

func baselineRule(s *report.Socket) Rule {
	port := assess.PortRange{Lo: s.LocalPort, Hi: s.LocalPort}
	r := Rule{Protocol: s.Protocol, Ports: &port}
	addr := s.LocalAddr.Unmap()
	switch {
	case addr.IsLoopback():
		r.Address = Address{Kind: AddrLoopback}
	case addr.IsUnspecified():
		r.Address = Address{Kind: AddrWildcard}
	case addr.IsValid():
		r.Address = Address{Kind: AddrPrefix, Prefix: netip.PrefixFrom(addr, addr.BitLen())}
	}
	var notes []string
	if s.Service != "" {
		notes = append(notes, s.Service)
	}
	holder := mainHolder(s.Processes)
	switch {
	case holder != nil:
		// Names are matched as globs: a literal "[" must stay literal.
		r.Exe = generaliseExe(holder.Exe)
		r.User = escapeGlob(holder.User)
		if holder.Container != nil {
			r.Container = holder.Container.Name
			if r.Container == "" {
				r.Container = holder.Container.ID
			}
			r.Container = escapeGlob(r.Container)
		}
		if holder.ExeDeleted {
			notes = append(notes, "executable was deleted when baselined")
		}
		if holder.Exe == "" {
			notes = append(notes, holder.Name)
		} else {
			notes = append(notes, lastElem(holder.Exe))
		}
	case s.Owner == report.OwnerNone:
		notes = append(notes, "no owning process (kernel)")
	default:
		notes = append(notes, "holder not visible: run baseline as root to pin it")
	}
	if r.Container == "" {
		r.NetNS = escapeGlob(nsLabel(s)) // "netns:[4026532999]"
	}
	if Ephemeral.Contains(s.LocalPort) && holder != nil {
		r.Ports = &assess.PortRange{Lo: Ephemeral.Lo, Hi: Ephemeral.Hi}
		r.Optional = true
		notes = append(notes, fmt.Sprintf("was on ephemeral port %d", s.LocalPort))
	}
	r.Comment = strings.Join(notes, "; ")
	return r
}

// mainHolder is the holder a rule names: the lowest pid, which for a
// master/worker daemon is the master.
func mainHolder(ps []process.Process) *process.Process {
	var best *process.Process
	for i := range ps {
		if best == nil || ps[i].PID < best.PID {
			best = &ps[i]
		}
	}
	return best
}

// generaliseExe replaces version directories ("15", "3.11.2") with * so
// that a major upgrade does not make a service "unexpected".
func generaliseExe(exe string) string {
	parts := strings.Split(exe, "/")
	for i, p := range parts {
		if i < len(parts)-1 && isVersion(p) {
			parts[i] = "*"
		}
	}
	return escapeGlob(strings.Join(parts, "/"))
}

// isVersion: "15", "3.11", "1.2.3"; not "001" (a counter, as in
// mktemp-style directories) nor "2024-01" (a date).
func isVersion(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' || (s[0] == '0' && len(s) > 1 && s[1] != '.') {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// escapeGlob keeps a literal path literal: a file really named "a[1]"
// must not turn into a character class.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `[]?\`) {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`[]?\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func lastElem(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// ruleKey is a rule's identity, comment aside: v4 and v6 wildcard listeners
// of one daemon collapse into one rule.
func ruleKey(r *Rule) string {
	ports := ""
	if r.Ports != nil {
		ports = r.Ports.String()
	}
	return strings.Join([]string{r.Protocol, ports, r.Address.String(), r.NetNS, r.Exe, r.User, r.Container, strconv.FormatBool(r.Optional)}, "\x00")
}

// Write writes p in the policy format; what Parse reads back is p.
func Write(w io.Writer, p *Policy, header string) error {
	var b strings.Builder
	// Any control character could end the comment (YAML breaks lines on
	// \r too) and smuggle keys in, so the header keeps printable text only.
	for _, l := range strings.Split(strings.TrimSpace(header), "\n") {
		l = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || r == 0xfeff {
				return '?'
			}
			return r
		}, l)
		if l != "" {
			b.WriteString("# " + l + "\n")
		}
	}
	fmt.Fprintf(&b, "version: %d\n", Version)
	b.WriteString("settings:\n")
	failOn := report.SeverityMedium
	if p.Settings.FailOn != nil {
		failOn = *p.Settings.FailOn
	}
	fmt.Fprintf(&b, "  fail-on: %s\n", failOn)
	writeSettings(&b, &p.Settings.Assess)
	if len(p.Allow) == 0 {
		b.WriteString("allow: []\n")
	} else {
		b.WriteString("allow:\n")
	}
	for i := range p.Allow {
		writeRule(&b, &p.Allow[i])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSettings(b *strings.Builder, c *assess.Config) {
	list := func(key string, vals []string) {
		if len(vals) == 0 {
			return
		}
		fmt.Fprintf(b, "  %s:\n", key)
		for _, v := range vals {
			fmt.Fprintf(b, "    - %s\n", quote(v))
		}
	}
	list("ignore", c.Ignore)
	if len(c.Severity) > 0 {
		b.WriteString("  severity:\n")
		for _, id := range assess.IDs() {
			if sev, ok := c.Severity[id]; ok {
				fmt.Fprintf(b, "    %s: %s\n", id, sev)
			}
		}
	}
	list("allow-shells", c.AllowedShells)
	list("trusted-dirs", c.TrustedDirs)
	if len(c.ExposedDaemons) > 0 {
		b.WriteString("  exposed-daemons:\n")
		for _, d := range c.ExposedDaemons {
			fmt.Fprintf(b, "    - exe: %s\n", quote(d.Exe))
			if len(d.Ports) > 0 {
				var ps []string
				for _, r := range d.Ports {
					ps = append(ps, quote(r.String()))
				}
				fmt.Fprintf(b, "      ports: [%s]\n", strings.Join(ps, ", "))
			}
		}
	}
	if len(c.KernelSockets) > 0 {
		b.WriteString("  kernel-sockets:\n")
		for _, k := range c.KernelSockets {
			fmt.Fprintf(b, "    - port: %d\n", k.Port)
			if k.Protocol != "" {
				fmt.Fprintf(b, "      protocol: %s\n", k.Protocol)
			}
			fmt.Fprintf(b, "      name: %s\n", quote(k.Name))
		}
	}
}

func writeRule(b *strings.Builder, r *Rule) {
	first := true
	kv := func(k, v string) {
		if v == "" {
			return
		}
		if first {
			fmt.Fprintf(b, "  - %s: %s\n", k, v)
			first = false
		} else {
			fmt.Fprintf(b, "    %s: %s\n", k, v)
		}
	}
	kv("protocol", r.Protocol)
	if r.Ports != nil {
		kv("port", quote(r.Ports.String()))
	}
	if r.Address.Kind != AddrAny {
		kv("address", quote(r.Address.String()))
	}
	kv("netns", quote(r.NetNS))
	kv("exe", quote(r.Exe))
	kv("user", quote(r.User))
	kv("container", quote(r.Container))
	if r.Optional {
		kv("optional", "true")
	}
	kv("comment", quote(r.Comment))
	if first { // a rule with no fields allows everything; say so
		b.WriteString("  - {}\n")
	}
}

// quote writes s as a YAML scalar: plain when it cannot be misread (a
// path, a name, a port), double-quoted otherwise. YAML's double-quoted
// escapes are a superset of the ones strconv.Quote emits for valid UTF-8.
func quote(s string) string {
	if s == "" {
		return ""
	}
	plain := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/._-", c)) {
			plain = false
			break
		}
	}
	if plain && s[0] != '-' && s[0] != '.' {
		if _, err := strconv.ParseFloat(s, 64); err != nil && !reservedWord(s) {
			return s
		}
		if isPort(s) {
			return s
		}
	}
	return strconv.Quote(s)
}

func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0 && n < 65536 && strconv.Itoa(n) == s
}

func reservedWord(s string) bool {
	switch strings.ToLower(s) {
	case "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf", ".inf", ".nan":
		return true
	}
	return false
}

// Header is the comment a generated baseline starts with.
func Header(host string, now time.Time) string {
	return fmt.Sprintf("portwho policy: today's listeners on %s, written by `portwho baseline` at %s.\n"+
		"Check the host against it with `portwho check --policy FILE`. Format: docs/policy.md.\n"+
		"Edit freely: exe, user, container and netns take globs (*); port takes a range (\"8000-8100\").",
		host, now.UTC().Format(time.RFC3339))
}
