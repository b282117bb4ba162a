package cli

// Judgement for every command that shows sockets: which policy applies,
// how the assessor is built, and the registry as assessment sees it.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portwho/portwho/internal/assess"
	"github.com/portwho/portwho/internal/policy"
	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/render"
	"github.com/portwho/portwho/internal/report"
)

// DefaultPolicyPath is where portwho looks for the host's policy when
// neither --policy nor $PORTWHO_POLICY names one. The working directory is
// never searched: `sudo portwho check` run in /tmp must not pick up a
// policy someone else left there.
const DefaultPolicyPath = "/etc/portwho/policy.yaml"

// annotate adds findings to the sockets of a port report before it is shown.
// The host's policy (if any) tunes the rules; a policy that does not parse
// is reported and the defaults are used, since a listing must still list.
// PORTWHO_NO_ASSESS=1 turns judgement off, to measure what it costs.
func annotate(f *Factory, socks []report.Socket) error {
	if f.getenv("PORTWHO_NO_ASSESS") == "1" {
		return nil
	}
	pol, err := f.loadPolicy("")
	if err != nil {
		fmt.Fprintf(f.IO.ErrOut, "portwho: warning: %s; judging with the default settings\n", render.Sanitize(oneLine(err.Error())))
		pol = nil
	}
	a := f.newAssessor(pol)
	// The collector named every socket's service from the same registry;
	// with many sockets, trust it rather than look every port up twice.
	// A few sockets (portwho PORT) get the full lookup.
	a.ServiceKnown = len(socks) > manySockets
	a.Annotate(socks)
	return nil
}

// manySockets is where a second registry lookup per port starts to cost
// more than the quotes of unauthorized use it can add on unassigned ports
// (BenchmarkAnnotate; docs/BENCHMARKS.md).
const manySockets = 256

func (f *Factory) getenv(k string) string {
	if f.Getenv == nil {
		return os.Getenv(k)
	}
	return f.Getenv(k)
}

// policyPath resolves which policy file applies: the flag, then
// $PORTWHO_POLICY, then DefaultPolicyPath. explicit is false for the
// default path, whose absence is not an error.
func (f *Factory) policyPath(flag string) (path string, explicit bool) {
	if flag != "" {
		return flag, true
	}
	if p := f.getenv("PORTWHO_POLICY"); p != "" {
		return p, true
	}
	return DefaultPolicyPath, false
}

// loadPolicy reads the policy that applies; nil, nil when there is none.
// A named file that is missing or malformed is an error.
func (f *Factory) loadPolicy(flag string) (*policy.Policy, error) {
	path, explicit := f.policyPath(flag)
	pol, err := policy.Load(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return pol, nil
}

// newAssessor builds the judgement of one run: the policy's settings over
// the defaults, the host's package database, directory stats under
// ProcRoot, and the registry.
func (f *Factory) newAssessor(pol *policy.Policy) *assess.Assessor {
	var reg assess.Registry
	if r, _ := f.Registry(); r != nil {
		reg = newRegistryLookup(r)
	}
	var pkgs assess.PackageLookup
	if p := assess.DetectPackages("/"); p != nil {
		if d, ok := p.(*assess.Dpkg); ok {
			if dir, err := f.CacheDir(); err == nil {
				d.CacheFile = filepath.Join(dir, "dpkg-owners.json")
			}
		}
		pkgs = p
	}
	a := assess.New(pol.Config(), pkgs, assess.NewStatDirs(f.ProcRoot), reg)
	if pol != nil {
		a.Allowed = pol.Allowed
	}
	return a
}

// registryLookup adapts the registry to assessment, caching by port and
// protocol: thousands of sockets share a handful of ports.
type registryLookup struct {
	reg   *registry.Registry
	cache map[regKey][]assess.Registration
}

type regKey struct {
	port  uint16
	proto string
}

func newRegistryLookup(r *registry.Registry) *registryLookup {
	return &registryLookup{reg: r, cache: make(map[regKey][]assess.Registration)}
}

// Lookup implements assess.Registry. Reserved and unassigned records (no
// service name) are kept only for their notes of unauthorized use.
func (l *registryLookup) Lookup(port uint16, proto string) []assess.Registration {
	k := regKey{port, proto}
	if regs, ok := l.cache[k]; ok {
		return regs
	}
	var regs []assess.Registration
	for _, e := range l.reg.Port(port, proto) {
		if e.Service == "" && e.Unauthorized == "" {
			continue
		}
		r := assess.Registration{Service: e.Service, Description: e.Description}
		// A range record's note is about one port in it ("Unauthorized
		// Use Known on port 42000" on 41798-42507): quote it there only.
		if e.Unauthorized != "" && (!e.IsRange() || strings.Contains(e.Unauthorized, strconv.Itoa(int(port)))) {
			r.Unauthorized = []string{e.Unauthorized}
		}
		if r.Service == "" && r.Unauthorized == nil {
			continue
		}
		regs = append(regs, r)
	}
	l.cache[k] = regs
	return regs
}

// writeFindings writes a socket's findings under it in portwho PORT, the
// gravest first: severity in words, title and why, then the evidence.
func writeFindings(b *strings.Builder, style render.Style, fs []report.Finding) {
	for _, f := range fs {
		w := sevWord(style, f.Severity)
		pad := strings.Repeat(" ", max(0, 4-render.VisibleWidth(w)))
		fmt.Fprintf(b, "   %s%s  %s — %s\n", w, pad, render.Sanitize(f.Title), render.Sanitize(f.Why))
		if f.Evidence != "" {
			b.WriteString("         " + style.Dim(render.Sanitize(f.Evidence)) + "\n")
		}
	}
}
