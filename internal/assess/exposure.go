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
func exposure(s *report.Socket, c *Config, allowed bool) []report.Finding {
	if !IsListening(&s.Socket) || !s.LocalAddr.IsValid() || isLoopback(s.LocalAddr) {
		return nil
	}
	wild := s.LocalAddr.IsUnspecified()
	addr := netip.AddrPortFrom(s.LocalAddr, s.LocalPort).String()
	f := report.Finding{ID: IDExposed, Severity: report.SeverityMedium}
	hostNS := s.NetNS.Host || s.NetNS.Inode == 0
	switch {
	case wild && hostNS:
		f.Title = "listening on every interface, not only loopback"
		f.Why = "any machine that can route to this host can connect; a service meant for local use should bind 127.0.0.1 or ::1"
		f.Evidence = "bound to " + addr + dualStack(s)
	case wild:
		// A container's wildcard is its own veth, not the host's NICs
		// (osquery is criticised for calling these public).
		f.Title = fmt.Sprintf("listening on every interface of network namespace %s, not the host's", nsName(s))
		f.Why = "reachable from that namespace's network (a container bridge or a published port), not directly from the host's interfaces"
		f.Evidence = fmt.Sprintf("bound to %s%s in netns %s (inode %d)", addr, dualStack(s), nsName(s), s.NetNS.Inode)
		f.Severity = report.SeverityLow
	default:
		f.Title = "listening on a non-loopback address " + s.LocalAddr.String()
		f.Why = "reachable from the network that address is on, not only from this host"
		f.Evidence = "bound to " + addr
		if !hostNS {
			f.Evidence += " in netns " + nsName(s)
		}
	}
	if allowed {
		f.Severity = report.SeverityInfo
		f.Why = "allowed by the policy; " + f.Why
	} else if d, ok := expectedDaemon(s, c); ok {
		f.Severity = report.SeverityInfo
		f.Why = fmt.Sprintf("expected: %s serves this port publicly by design", d)
	}
	return []report.Finding{f}
}

func dualStack(s *report.Socket) string {
	if s.Family == "inet6" && s.LocalAddr.Is6() && s.LocalAddr.IsUnspecified() && !s.V6Only {
		return " (dual-stack: IPv4 and IPv6)"
	}
	return ""
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
func expectedDaemon(s *report.Socket, c *Config) (string, bool) {
	if len(s.Processes) == 0 {
		return "", false
	}
	name := ""
	for i := range s.Processes {
		p := &s.Processes[i]
		if p.ExeDeleted || !daemonAllowed(p.Exe, s.LocalPort, c) {
			return "", false
		}
		name = p.Exe
	}
	return name, true
}

func daemonAllowed(exe string, port uint16, c *Config) bool {
	for _, d := range c.ExposedDaemons {
		if !globMatch(d.Exe, exe) {
			continue
		}
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
