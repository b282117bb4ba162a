package assess

import (
	"fmt"
	"strings"

	"github.com/portwho/portwho/internal/report"
)

// Registry findings: what the IANA registration of a port says against what
// actually holds it. All are info: a port number promises nothing, but the
// contrast is the first thing an administrator looks at.
func registryFindings(s *report.Socket, regs []Registration) []report.Finding {
	if !IsListening(&s.Socket) {
		return nil
	}
	port := fmt.Sprintf("%s/%d", s.Protocol, s.LocalPort)
	// A record may note unauthorized use of a port nobody registered
	// ("Known Unauthorized Use on 100"): it is not a registration.
	var named []Registration
	for _, r := range regs {
		if r.Service != "" {
			named = append(named, r)
		}
	}
	var out []report.Finding
	for _, r := range regs {
		for _, u := range r.Unauthorized {
			svc := r.Service
			if svc == "" {
				svc = "unassigned"
			}
			out = append(out, report.Finding{
				ID:       IDRegistryUnauthorized,
				Severity: report.SeverityInfo,
				Title:    "registry records unauthorized use of this port",
				Why:      "malware or unofficial software is known to use this port; check that the holder is what you expect",
				Evidence: fmt.Sprintf("%s (%s): %q", port, svc, u),
			})
		}
	}
	regs = named
	if len(regs) == 0 {
		return append(out, report.Finding{
			ID:       IDUnregistered,
			Severity: report.SeverityInfo,
			Title:    "port has no IANA assignment",
			Why:      "nothing tells what should be here; only the holder says what it is",
			Evidence: port + " is not assigned in the IANA registry",
		})
	}
	if prog, ok := unrelatedHolder(s, regs); ok {
		out = append(out, report.Finding{
			ID:       IDRegisteredMismatch,
			Severity: report.SeverityInfo,
			Title:    fmt.Sprintf("registered to %s, but held by an unrelated program", describeRegs(regs)),
			Why:      "the port number does not say what runs here; judge the program, not the registration",
			Evidence: fmt.Sprintf("%s is registered to %s; held by %s", port, describeRegs(regs), prog),
		})
	}
	return out
}

func describeRegs(regs []Registration) string {
	var parts []string
	for _, r := range regs {
		d := r.Service
		if r.Description != "" && !strings.EqualFold(r.Description, r.Service) {
			d += " (" + r.Description + ")"
		}
		if d != "" && !contains(parts, d) {
			parts = append(parts, d)
		}
		if len(parts) == 3 {
			break
		}
	}
	return strings.Join(parts, ", ")
}

// forwarders hold ports on behalf of something else (socket activation,
// container port publishing, proxies); their name says nothing about the
// service.
var forwarders = []string{"systemd", "init", "inetd", "xinetd", "docker-proxy", "rootlessport",
	"slirp4netns", "pasta", "conmon", "kube-proxy", "containerd", "dockerd", "podman",
	"haproxy", "envoy", "traefik", "sshd", "ssh", "socat", "stunnel", "stunnel4", "tailscaled"}

// knownServices says which registered services well-known programs
// provide, where the names share nothing.
var knownServices = map[string][]string{
	"nginx":            {"http", "https", "http-alt", "www-http", "https-alt", "pcsync-https", "quic"},
	"apache2":          {"http", "https", "http-alt", "www-http", "quic"},
	"httpd":            {"http", "https", "http-alt", "www-http", "quic"},
	"caddy":            {"http", "https", "http-alt", "quic"},
	"lighttpd":         {"http", "https", "http-alt"},
	"cupsd":            {"ipp", "ipps"},
	"chronyd":          {"ntp", "rpki-rtr", "rpki-rtr-tls"}, // 323/udp is chronyc's command port
	"ntpd":             {"ntp"},
	"systemd-resolved": {"domain", "llmnr", "mdns", "5355"},
	"systemd-resolve":  {"domain", "llmnr", "mdns"},
	"named":            {"domain", "rndc", "953"},
	"unbound":          {"domain", "domain-s"},
	"dnsmasq":          {"domain", "bootps", "bootpc", "tftp"},
	"avahi-daemon":     {"mdns", "5353"},
	"master":           {"smtp", "submission", "submissions", "urd"},
	"exim4":            {"smtp", "submission", "submissions"},
	"dovecot":          {"imap", "imaps", "pop3", "pop3s", "sieve"},
	"postgres":         {"postgresql"},
	"mysqld":           {"mysql", "mysqlx"},
	"mariadbd":         {"mysql", "mysqlx"},
	"redis-server":     {"redis"},
	"dhclient":         {"bootpc", "dhcpv6-client"},
	"systemd-networkd": {"bootpc", "dhcpv6-client"},
	"NetworkManager":   {"bootpc", "dhcpv6-client"},
	"rpcbind":          {"sunrpc"},
	"smbd":             {"microsoft-ds", "netbios-ssn"},
	"nmbd":             {"netbios-ns", "netbios-dgm"},
	"slapd":            {"ldap", "ldaps"},
	"snmpd":            {"snmp", "snmptrap"},
	"vsftpd":           {"ftp", "ftp-data"},
	"proftpd":          {"ftp", "ftp-data"},
	"memcached":        {"memcache"},
	"mongod":           {"mongodb"},
	"java":             nil, // runs anything: never plainly unrelated
	"node":             nil,
}

// unrelatedHolder reports the holder's program when none of its names
// shares anything with the port's registrations. Unknown holders (hidden,
// none) are not judged.
func unrelatedHolder(s *report.Socket, regs []Registration) (string, bool) {
	if len(s.Processes) == 0 {
		return "", false
	}
	var prog string
	for i := range s.Processes {
		p := &s.Processes[i]
		names := []string{exeBase(p.Exe, p.Name), p.Name}
		for _, n := range names {
			if n == "" {
				continue
			}
			if contains(forwarders, n) || relatedToAny(n, s.LocalPort, regs) {
				return "", false
			}
			if svcs, ok := knownServices[n]; ok && svcs == nil {
				return "", false
			}
		}
		if prog == "" {
			prog = cleanExe(p.Exe)
			if prog == "" {
				prog = p.Name
			}
		}
	}
	return prog, true
}

func relatedToAny(prog string, port uint16, regs []Registration) bool {
	pn := normalizeName(prog)
	portStr := fmt.Sprint(port)
	for _, r := range regs {
		svc := strings.ToLower(r.Service)
		for _, k := range knownServices[prog] {
			if k == svc || k == portStr {
				return true
			}
		}
		sn := normalizeName(svc)
		if len(pn) >= 3 && len(sn) >= 3 && (strings.Contains(pn, sn) || strings.Contains(sn, pn)) {
			return true
		}
		// The description often names the product ("PostgreSQL Database").
		if len(pn) >= 4 && strings.Contains(normalizeName(r.Description), pn) {
			return true
		}
	}
	return false
}

// normalizeName lowercases and drops the daemon suffix and separators so
// that "sshd" meets "ssh" and "redis-server" meets "redis".
func normalizeName(s string) string {
	s = strings.ToLower(s)
	s = strings.TrimSuffix(s, "-server")
	s = strings.TrimSuffix(s, "-daemon")
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	if len(s) > 3 {
		s = strings.TrimSuffix(s, "d")
	}
	return s
}
