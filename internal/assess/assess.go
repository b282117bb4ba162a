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

	"github.com/portwho/portwho/internal/process"
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
// the run's lifetime. The zero value judges with an empty Config and no
// lookups; commands use New(DefaultConfig(), ...). Not safe for concurrent
// use.
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
	// ServiceKnown says the sockets' Service fields were filled from the
	// same registry, so a socket without one is unregistered without
	// asking the registry again. It saves a lookup per listener on hosts
	// with thousands of ports; the price is that notes of unauthorized use
	// on unassigned records ("Known Unauthorized Use on 100") are not
	// quoted for those ports.
	ServiceKnown bool

	notes []string
	cache caches
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
	a.resetCaches()
	owners := a.packageOwners(socks)
	for i := range socks {
		socks[i].Findings = a.assess(&socks[i], owners)
	}
}

// Assess returns the findings for one socket, sorted most severe first.
// It looks up package ownership for this socket's executables alone; use
// Annotate for many sockets.
func (a *Assessor) Assess(s *report.Socket) []report.Finding {
	a.resetCaches()
	return a.assess(s, a.packageOwners([]report.Socket{*s}))
}

// The caches hold what one run has judged already. A host with 17,000
// sockets has a few hundred processes and a few thousand ports: process
// findings are computed once per pid, registry texts once per service and
// program, daemon globs once per executable; registry lookups are the
// caller's to cache (nearly every listener has a port of its own). Sockets
// share the finding values (strings are
// immutable), so judging costs little more than copying them.
type caches struct {
	proc     map[int][]report.Finding // exe-*, masquerade, by pid
	shell    map[int][]report.Finding // shell-listener, by pid
	mismatch map[mismatchKey]report.Finding
	names    map[string]string // normalizeName
	daemons  daemonCache
}

func (a *Assessor) resetCaches() {
	a.cache = caches{
		proc:     make(map[int][]report.Finding),
		shell:    make(map[int][]report.Finding),
		mismatch: make(map[mismatchKey]report.Finding),
		names:    make(map[string]string),
		daemons:  make(daemonCache),
	}
}

func (a *Assessor) assess(s *report.Socket, owners map[string]string) []report.Finding {
	c := &a.Config
	listening := IsListening(&s.Socket)
	// Findings gather in a buffer on the stack; the socket gets one
	// exact-size slice, or a shared empty one.
	var buf [12]report.Finding
	fs := buf[:0]
	if f, ok := exposure(s, c, a.Allowed, &a.cache.daemons); ok {
		fs = append(fs, f)
	}
	for i := range s.Processes {
		p := &s.Processes[i]
		if sameExeEarlier(s.Processes[:i], p) {
			continue // a master and its workers: one finding, not one each
		}
		fs = append(fs, a.processFindings(p, owners)...)
		if listening {
			fs = append(fs, a.shellFindings(p)...)
		}
	}
	if f, ok := noOwner(s, c); ok {
		fs = append(fs, f)
	}
	if listening && a.Registry != nil {
		var regs []Registration
		if !a.ServiceKnown || s.Service != "" {
			regs = a.Registry.Lookup(s.LocalPort, s.Protocol)
		}
		fs = a.judgeRegistry(fs, s, regs)
	}
	if len(fs) == 0 {
		return []report.Finding{} // JSON [], not null; no allocation
	}
	return c.apply(slices.Clone(fs))
}

func sameExeEarlier(earlier []process.Process, p *process.Process) bool {
	for i := range earlier {
		if earlier[i].Exe == p.Exe && earlier[i].ExeDeleted == p.ExeDeleted && earlier[i].Name == p.Name {
			return true
		}
	}
	return false
}

func (a *Assessor) processFindings(p *process.Process, owners map[string]string) []report.Finding {
	if fs, ok := a.cache.proc[p.PID]; ok {
		return fs
	}
	var fs []report.Finding
	if f, ok := exeDeleted(p); ok {
		fs = append(fs, f)
	}
	if f, ok := exeWritableDir(p, &a.Config, a.Dirs); ok {
		fs = append(fs, f)
	}
	// A binary already judged high for where it is (deleted, or in a
	// writable directory) is not also reported as unpackaged: it says the
	// same thing, less loudly, on every one of its sockets.
	if a.Packages != nil && len(fs) == 0 {
		if f, ok := exeUnpackaged(p, owners, a.Packages.Name()); ok {
			fs = append(fs, f)
		}
	}
	if f, ok := masquerade(p); ok {
		fs = append(fs, f)
	}
	a.cache.proc[p.PID] = fs
	return fs
}

func (a *Assessor) shellFindings(p *process.Process) []report.Finding {
	if fs, ok := a.cache.shell[p.PID]; ok {
		return fs
	}
	var fs []report.Finding
	if f, ok := shellListener(p, &a.Config); ok {
		fs = []report.Finding{f}
	}
	a.cache.shell[p.PID] = fs
	return fs
}

// apply drops ignored ids, applies severity overrides and sorts.
func (c *Config) apply(fs []report.Finding) []report.Finding {
	if len(c.Ignore) == 0 && len(c.Severity) == 0 {
		sortFindings(fs)
		return fs
	}
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
	sortFindings(out)
	if len(out) == 0 {
		return []report.Finding{}
	}
	return out
}

// sortFindings puts the gravest first; ties keep a stable id order.
func sortFindings(fs []report.Finding) {
	if len(fs) < 2 {
		return
	}
	slices.SortStableFunc(fs, func(x, y report.Finding) int {
		if x.Severity != y.Severity {
			return int(y.Severity) - int(x.Severity)
		}
		return strings.Compare(x.ID, y.ID)
	})
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
