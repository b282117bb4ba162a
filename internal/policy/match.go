package policy

import (
	"path"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
)

// Match returns the first rule that allows s, or nil.
func (p *Policy) Match(s *report.Socket) *Rule {
	if p == nil {
		return nil
	}
	for i := range p.Allow {
		if p.Allow[i].Matches(s) {
			return &p.Allow[i]
		}
	}
	return nil
}

// Allowed reports whether a rule allows s; it fits assess.Assessor.Allowed.
func (p *Policy) Allowed(s *report.Socket) bool { return p.Match(s) != nil }

// Matches reports whether r allows s. Socket fields must all match; the
// process fields (exe, user, container) must all match one holder, since a
// listening socket is often shared by a root master and unprivileged
// workers. A rule with process fields never matches a socket whose holder
// is unknown.
func (r *Rule) Matches(s *report.Socket) bool {
	if r.Protocol != "" && r.Protocol != s.Protocol {
		return false
	}
	if r.Ports != nil && !r.Ports.Contains(s.LocalPort) {
		return false
	}
	if !r.Address.matches(s) {
		return false
	}
	if r.NetNS != "" && !glob(r.NetNS, nsLabel(s)) {
		return false
	}
	if r.Exe == "" && r.User == "" && r.Container == "" {
		return true
	}
	for i := range s.Processes {
		if r.matchesProcess(&s.Processes[i]) {
			return true
		}
	}
	return false
}

func (r *Rule) matchesProcess(p *process.Process) bool {
	if r.Exe != "" && (p.ExeDeleted || !glob(r.Exe, p.Exe)) {
		return false
	}
	if r.User != "" && !glob(r.User, p.User) {
		return false
	}
	if r.Container != "" {
		if p.Container == nil {
			return r.Container == "none"
		}
		if !glob(r.Container, p.Container.Name) && !glob(r.Container, p.Container.ID) {
			return false
		}
	}
	return true
}

func (a Address) matches(s *report.Socket) bool {
	addr := s.LocalAddr.Unmap()
	switch a.Kind {
	case AddrLoopback:
		return addr.IsLoopback()
	case AddrWildcard:
		return addr.IsUnspecified()
	case AddrPrefix:
		return addr.IsValid() && a.Prefix.Contains(addr)
	}
	return true
}

// nsLabel names the socket's namespace as rules spell it: "host" for the
// host's own.
func nsLabel(s *report.Socket) string {
	if s.NetNS.Host || (s.NetNS.Inode == 0 && s.NetNS.Label == "") {
		return "host"
	}
	return s.NetNS.Label
}

func glob(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}
