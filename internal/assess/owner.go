package assess

import (
	"fmt"
	"net/netip"

	"github.com/portwho/portwho/internal/report"
)

// noOwner: as root every userland socket has a holder, so a listener with
// none is the kernel's own (NFS, WireGuard, VXLAN...) or something that
// hides its process. Known kernel services are named and left at info.
func noOwner(s *report.Socket, c *Config) (report.Finding, bool) {
	if s.Owner != report.OwnerNone || !IsListening(&s.Socket) {
		return report.Finding{}, false
	}
	addr := netip.AddrPortFrom(s.LocalAddr, s.LocalPort).String()
	ev := fmt.Sprintf("%s %s, socket inode %d: no process holds it", s.Protocol, addr, s.Inode)
	for _, k := range c.KernelSockets {
		if k.Port == s.LocalPort && (k.Protocol == "" || k.Protocol == s.Protocol) {
			return report.Finding{
				ID:       IDNoOwner,
				Severity: report.SeverityInfo,
				Title:    "held by the kernel: " + k.Name,
				Why:      "kernel services listen without a process; this port is the usual one for " + k.Name,
				Evidence: ev,
			}, true
		}
	}
	return report.Finding{
		ID:       IDNoOwner,
		Severity: report.SeverityMedium,
		Title:    "listening socket that no process holds",
		Why:      "userland listeners always have a holder; with none, it is a kernel service portwho does not know, or a rootkit hiding its process",
		Evidence: ev,
	}, true
}
