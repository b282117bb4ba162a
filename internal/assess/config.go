package assess

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/portwho/portwho/internal/report"
)

// Config holds the thresholds and allowances of the rules. The policy file's
// settings section adds to DefaultConfig; nothing here is global.
type Config struct {
	// Ignore lists finding ids never reported.
	Ignore []string
	// Severity overrides the severity of a finding id.
	Severity map[string]report.Severity
	// ExposedDaemons are programs expected to listen on every interface on
	// the given ports: their exposure is info, not medium.
	ExposedDaemons []Daemon
	// AllowedShells are interpreters allowed to hold a listener: a program
	// name (python3) or an executable glob (/opt/app/bin/python*).
	AllowedShells []string
	// TrustedDirs are directory globs an executable may live in without
	// exe-writable-dir (for example /home/*/go/bin on a developer machine).
	TrustedDirs []string
	// KernelSockets name listeners the kernel itself holds, so no-owner
	// can say what they are instead of raising an alarm.
	KernelSockets []KernelSocket
}

// Daemon is a program allowed on every interface on some ports.
type Daemon struct {
	Exe   string      // path glob, never a bare name: /tmp/sshd is not sshd
	Ports []PortRange // empty: any port
}

// KernelSocket names an unowned listener by protocol and port.
type KernelSocket struct {
	Protocol string // tcp, udp, or "" for both
	Port     uint16
	Name     string
}

// PortRange is an inclusive range of ports; Lo == Hi for one port.
type PortRange struct{ Lo, Hi uint16 }

// Contains reports whether p is in r.
func (r PortRange) Contains(p uint16) bool { return p >= r.Lo && p <= r.Hi }

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// ParsePortRange reads "22" or "1024-2048".
func ParsePortRange(s string) (PortRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	l, err := parsePort(lo)
	if err != nil {
		return PortRange{}, err
	}
	if !isRange {
		return PortRange{l, l}, nil
	}
	h, err := parsePort(hi)
	if err != nil {
		return PortRange{}, err
	}
	if h < l {
		return PortRange{}, fmt.Errorf("port range %q ends before it starts", s)
	}
	return PortRange{l, h}, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q is not a number from 1 to 65535", s)
	}
	return uint16(n), nil
}

func one(p uint16) []PortRange { return []PortRange{{p, p}} }

// DefaultConfig knows the daemons a stock Debian, Ubuntu, Fedora or RHEL
// host runs on public interfaces, and the kernel's own listeners. Paths are
// listed with and without /usr because /proc/PID/exe shows whichever path
// the binary was started from on hosts that are not /usr-merged.
func DefaultConfig() Config {
	web := []PortRange{{80, 80}, {443, 443}, {8080, 8080}, {8443, 8443}}
	var daemons []Daemon
	add := func(ports []PortRange, exes ...string) {
		for _, e := range exes {
			daemons = append(daemons, Daemon{Exe: e, Ports: ports})
		}
	}
	add(one(22), "/usr/sbin/sshd", "/usr/bin/sshd", "/usr/sbin/dropbear",
		// systemd socket activation (ssh.socket on Ubuntu 22.10+): pid 1
		// holds port 22 and starts sshd per connection.
		"/usr/lib/systemd/systemd", "/lib/systemd/systemd")
	add(web, "/usr/sbin/nginx", "/usr/sbin/apache2", "/usr/sbin/httpd",
		"/usr/bin/caddy", "/usr/sbin/lighttpd", "/usr/sbin/haproxy")
	add(one(53), "/usr/sbin/named", "/usr/sbin/unbound", "/usr/sbin/dnsmasq",
		"/usr/sbin/pdns_server")
	add(one(123), "/usr/sbin/chronyd", "/usr/sbin/ntpd", "/usr/sbin/ntpsec")
	add([]PortRange{{25, 25}, {465, 465}, {587, 587}}, "/usr/lib/postfix/sbin/master",
		"/usr/libexec/postfix/master", "/usr/sbin/exim4", "/usr/sbin/exim")
	add([]PortRange{{110, 110}, {143, 143}, {993, 993}, {995, 995}}, "/usr/sbin/dovecot")
	add(one(5353), "/usr/sbin/avahi-daemon")
	// systemd-resolved answers LLMNR (5355) and, where enabled, mDNS on
	// every interface: Ubuntu's default.
	add([]PortRange{{5353, 5353}, {5355, 5355}}, "/usr/lib/systemd/systemd-resolved", "/lib/systemd/systemd-resolved")
	// cups-browsed listens for printer announcements (Ubuntu desktop).
	add(one(631), "/usr/sbin/cups-browsed")
	add([]PortRange{{67, 68}}, "/usr/sbin/dhclient", "/sbin/dhclient", "/usr/sbin/dhcpd",
		"/usr/lib/systemd/systemd-networkd", "/lib/systemd/systemd-networkd",
		"/usr/sbin/NetworkManager")
	add(one(546), "/usr/lib/systemd/systemd-networkd", "/lib/systemd/systemd-networkd",
		"/usr/sbin/NetworkManager")
	return Config{
		ExposedDaemons: daemons,
		KernelSockets: []KernelSocket{
			{"", 2049, "NFS server (nfsd, in the kernel)"},
			{"udp", 51820, "WireGuard (in the kernel)"},
			{"udp", 4789, "VXLAN (in the kernel)"},
			{"udp", 8472, "VXLAN (in the kernel, Linux default port)"},
			{"udp", 6081, "Geneve (in the kernel)"},
			{"tcp", 3260, "iSCSI target (LIO, in the kernel)"},
			{"udp", 1701, "L2TP (in the kernel)"},
			{"udp", 4500, "IPsec NAT traversal (in the kernel, keyed by a userland IKE daemon)"},
		},
	}
}

// Merge adds o's allowances to c; o's ignores and severities win.
func (c Config) Merge(o Config) Config {
	c.Ignore = append(append([]string(nil), c.Ignore...), o.Ignore...)
	if len(o.Severity) > 0 {
		m := make(map[string]report.Severity, len(c.Severity)+len(o.Severity))
		for k, v := range c.Severity {
			m[k] = v
		}
		for k, v := range o.Severity {
			m[k] = v
		}
		c.Severity = m
	}
	c.ExposedDaemons = append(append([]Daemon(nil), c.ExposedDaemons...), o.ExposedDaemons...)
	c.AllowedShells = append(append([]string(nil), c.AllowedShells...), o.AllowedShells...)
	c.TrustedDirs = append(append([]string(nil), c.TrustedDirs...), o.TrustedDirs...)
	// User-named kernel sockets go first so they can rename a default.
	c.KernelSockets = append(append([]KernelSocket(nil), o.KernelSockets...), c.KernelSockets...)
	return c
}
