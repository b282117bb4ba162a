package assess

import (
	"fmt"
	"net/netip"

	"github.com/portwho/portwho/internal/report"
)

// exposure: a listener bound to a wildcard or a non-loopback address can be
// reached from other machines. That is the point of sshd or nginx, and a
// surprise for a debug server; only the user (or the list of well-known
// daemons) can say which, so an expected one is info and anything else
// medium.
func exposure(s *report.Socket, c *Config, allowed func(*report.Socket) bool, daemons *daemonCache) (report.Finding, bool) {
	if !IsListening(&s.Socket) || !s.LocalAddr.IsValid() || isLoopback(s.LocalAddr) {
		return report.Finding{}, false
	}
	wild := s.LocalAddr.IsUnspecified()
	addr := netip.AddrPortFrom(s.LocalAddr, s.LocalPort).String()
	f := report.Finding{ID: IDExposed, Severity: report.SeverityMedium}
	hostNS := s.NetNS.Host || s.NetNS.Inode == 0
	switch {
	case wild && hostNS:
		f.Title = "listening on every interface, not only loopback"
		f.Why = "reachable from any network that routes here; a local-only service should bind loopback"
		f.Evidence = "bound to " + addr
		if dualStack(s) {
			f.Evidence += " (dual-stack: IPv4 and IPv6)"
		}
	case wild:
		// A container's wildcard is its own veth, not the host's NICs
		// (osquery is criticised for calling these public).
		f.Title = "listening on every interface of network namespace " + nsName(s) + ", not the host's"
		f.Why = "reachable from that namespace's network (its bridge, published ports), not from the host's interfaces"
		f.Evidence = fmt.Sprintf("bound to %s in netns %s (inode %d)", addr, nsName(s), s.NetNS.Inode)
		f.Severity = report.SeverityLow
	default:
		f.Title = "listening on a non-loopback address " + s.LocalAddr.String()
		f.Why = "reachable from that address's network, not only from this host"
		f.Evidence = "bound to " + addr
		if !hostNS {
			f.Evidence += " in netns " + nsName(s)
		}
	}
	if allowed != nil && allowed(s) {
		f.Severity = report.SeverityInfo
		f.Why = "allowed by the policy; " + f.Why
	} else if d, ok := expectedDaemon(s, c, daemons); ok {
		f.Severity = report.SeverityInfo
		f.Why = "expected: " + d + " serves this port publicly"
	}
	return f, true
}

func dualStack(s *report.Socket) bool {
	return s.Family == "inet6" && s.LocalAddr.Is6() && s.LocalAddr.IsUnspecified() && !s.V6Only
}

func nsName(s *report.Socket) string {
	if s.NetNS.Label != "" {
		return s.NetNS.Label
	}
	return fmt.Sprintf("net:[%d]", s.NetNS.Inode)
}

// expectedDaemon reports a holder that is a known public daemon on this
// port. Every holder must qualify: a shell that inherited sshd's socket is
// not sshd.
func expectedDaemon(s *report.Socket, c *Config, cache *daemonCache) (string, bool) {
	if len(s.Processes) == 0 {
		return "", false
	}
	name := ""
	for i := range s.Processes {
		p := &s.Processes[i]
		if p.ExeDeleted || !daemonAllowed(p.Exe, s.LocalPort, c, cache) {
			return "", false
		}
		name = p.Exe
	}
	return name, true
}

// daemonCache remembers, per executable, the daemons entries it matches:
// globbing every entry for each of thousands of exposed sockets showed in
// profiles, while a host has only a few hundred executables.
type daemonCache map[string][]Daemon

func daemonAllowed(exe string, port uint16, c *Config, cache *daemonCache) bool {
	ds, ok := []Daemon(nil), false
	if cache != nil && *cache != nil {
		ds, ok = (*cache)[exe]
	}
	if !ok {
		for _, d := range c.ExposedDaemons {
			if globMatch(d.Exe, exe) {
				ds = append(ds, d)
			}
		}
		if cache != nil {
			if *cache == nil {
				*cache = make(daemonCache)
			}
			(*cache)[exe] = ds
		}
	}
	for _, d := range ds {
		if len(d.Ports) == 0 {
			return true
		}
		for _, r := range d.Ports {
			if r.Contains(port) {
				return true
			}
		}
	}
	return false
}
