// Package assess judges sockets the way a careful administrator would: is
// what holds this port expected, and if not, why not. Each family of
// findings lives in its own file as a pure function of the socket, its
// processes, its registry entries and the Config; the only outside facts
// (package ownership, directory permissions) come through interfaces the
// caller hands in, so every rule is testable with plain values.
package assess

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// Stable finding ids. They are part of the JSON contract (docs/json.md) and
// of policy files (settings.ignore, settings.severity): never rename one.
const (
	IDExposed              = "exposed"
	IDExeDeleted           = "exe-deleted"
	IDExeWritableDir       = "exe-writable-dir"
	IDExeUnpackaged        = "exe-unpackaged"
	IDMasquerade           = "masquerade"
	IDShellListener        = "shell-listener"
	IDNoOwner              = "no-owner"
	IDUnregistered         = "unregistered"
	IDRegisteredMismatch   = "registered-mismatch"
	IDRegistryUnauthorized = "registry-unauthorized"
)

// IDs lists every finding id, for validating policy files.
func IDs() []string {
	return []string{IDExposed, IDExeDeleted, IDExeWritableDir, IDExeUnpackaged,
		IDMasquerade, IDShellListener, IDNoOwner, IDUnregistered,
		IDRegisteredMismatch, IDRegistryUnauthorized}
}

// Registration is what the port registry says of one port and protocol.
// The CLI adapts registry entries to it, so this package does not depend on
// how the registry is stored.
type Registration struct {
	Service     string
	Description string
	// Unauthorized quotes known unauthorized uses of the port recorded by
	// the registry (for example a trojan known to use it).
	Unauthorized []string
}

// Registry looks up the registrations of a port for "tcp" or "udp".
type Registry interface {
	Lookup(port uint16, proto string) []Registration
}

// RegistryFunc adapts a function to Registry.
type RegistryFunc func(port uint16, proto string) []Registration

// Lookup calls f.
func (f RegistryFunc) Lookup(port uint16, proto string) []Registration { return f(port, proto) }

// Assessor runs every rule over a run's sockets. Build one per run: its
// lookups cache what they learn (package ownership, directory modes) for
// the run's lifetime. The zero value works with DefaultConfig's rules
// replaced by an empty Config; use New for the defaults. Not safe for
// concurrent use.
type Assessor struct {
	Config Config
	// Packages says which package owns an executable; nil skips
	// exe-unpackaged with a note.
	Packages PackageLookup
	// Dirs says who can write a directory; nil judges exe-writable-dir by
	// path alone (temporary directories).
	Dirs DirLookup
	// Registry gives each port's registrations; nil skips the registry
	// findings (unregistered, registered-mismatch, registry-unauthorized).
	Registry Registry
	// Allowed reports whether the user's policy allows a socket; an allowed
	// socket's exposure is only info. Nil allows nothing.
	Allowed func(*report.Socket) bool

	notes []string
}

// New returns an Assessor with cfg and the lookups given.
func New(cfg Config, pkgs PackageLookup, dirs DirLookup, reg Registry) *Assessor {
	return &Assessor{Config: cfg, Packages: pkgs, Dirs: dirs, Registry: reg}
}

// Notes says what could not be judged in the last Annotate (for example "no
// package manager: exe-unpackaged skipped"), for stderr.
func (a *Assessor) Notes() []string { return a.notes }

func (a *Assessor) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if !slices.Contains(a.notes, n) {
		a.notes = append(a.notes, n)
	}
}

// Annotate sets Findings on every socket in place. Package ownership is
// looked up once for all executables that need it, in one batch.
func (a *Assessor) Annotate(socks []report.Socket) {
	a.notes = a.notes[:0]
	owners := a.packageOwners(socks)
	for i := range socks {
		socks[i].Findings = a.assess(&socks[i], owners)
	}
}

// Assess returns the findings for one socket, sorted most severe first.
// It looks up package ownership for this socket's executables alone; use
// Annotate for many sockets.
func (a *Assessor) Assess(s *report.Socket) []report.Finding {
	return a.assess(s, a.packageOwners([]report.Socket{*s}))
}

func (a *Assessor) assess(s *report.Socket, owners map[string]string) []report.Finding {
	var regs []Registration
	if a.Registry != nil && IsListening(&s.Socket) {
		regs = a.Registry.Lookup(s.LocalPort, s.Protocol)
	}
	allowed := a.Allowed != nil && a.Allowed(s)
	c := &a.Config
	var fs []report.Finding
	fs = append(fs, exposure(s, c, allowed)...)
	fs = append(fs, exeDeleted(s)...)
	fs = append(fs, exeWritableDir(s, c, a.Dirs)...)
	if a.Packages != nil {
		fs = append(fs, exeUnpackaged(s, owners, a.Packages.Name())...)
	}
	fs = append(fs, masquerade(s)...)
	fs = append(fs, shellListener(s, c)...)
	fs = append(fs, noOwner(s, c)...)
	if a.Registry != nil {
		fs = append(fs, registryFindings(s, regs)...)
	}
	return c.apply(fs)
}

// apply drops ignored ids, applies severity overrides and sorts.
func (c *Config) apply(fs []report.Finding) []report.Finding {
	out := fs[:0]
	for _, f := range fs {
		if slices.Contains(c.Ignore, f.ID) {
			continue
		}
		if sev, ok := c.Severity[f.ID]; ok {
			f.Severity = sev
		}
		out = append(out, f)
	}
	slices.SortStableFunc(out, func(x, y report.Finding) int {
		if x.Severity != y.Severity {
			return int(y.Severity) - int(x.Severity)
		}
		return strings.Compare(x.ID, y.ID)
	})
	if len(out) == 0 {
		return []report.Finding{} // JSON [], not null; no allocation
	}
	return out
}

// IsListening reports whether a socket waits for peers: a TCP socket in
// LISTEN, or a UDP socket not connected to a peer.
func IsListening(s *sockets.Socket) bool {
	switch s.Protocol {
	case "tcp":
		return s.State == "LISTEN"
	case "udp":
		return s.RemotePort == 0 && (!s.RemoteAddr.IsValid() || s.RemoteAddr.IsUnspecified())
	}
	return false
}

// Max returns the highest severity among findings, and false when there
// are none.
func Max(fs []report.Finding) (report.Severity, bool) {
	if len(fs) == 0 {
		return 0, false
	}
	m := fs[0].Severity
	for _, f := range fs[1:] {
		m = max(m, f.Severity)
	}
	return m, true
}

// exeBase is the executable's file name, or the process name when the
// executable could not be read.
func exeBase(exe, name string) string {
	exe = strings.TrimSuffix(exe, " (deleted)")
	if exe == "" {
		return name
	}
	return path.Base(exe)
}

// isLoopback treats v4-mapped loopback (::ffff:127.0.0.1) as loopback too.
func isLoopback(a netip.Addr) bool { return a.Unmap().IsLoopback() }

// globMatch matches a path.Match pattern; a malformed pattern (rejected
// by the policy parser already) matches nothing.
func globMatch(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}
