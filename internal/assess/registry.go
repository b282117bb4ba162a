package assess

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/portwho/portwho/internal/report"
)

// Registry findings: what the IANA registration of a port says against what
// actually holds it. All are info: a port number promises nothing, but the
// contrast is the first thing an administrator looks at.
// judgeRegistry appends the registry findings for s to dst.
func (a *Assessor) judgeRegistry(dst []report.Finding, s *report.Socket, regs []Registration) []report.Finding {
	if !IsListening(&s.Socket) {
		return dst
	}
	// A record may note unauthorized use of a port nobody registered
	// ("Known Unauthorized Use on 100"): it is not a registration.
	named := regs
	for i, r := range regs {
		if r.Service == "" {
			named = make([]Registration, 0, len(regs))
			named = append(named, regs[:i]...)
			for _, r := range regs[i+1:] {
				if r.Service != "" {
					named = append(named, r)
				}
			}
			break
		}
	}
	out := dst
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
				Why:      "malware or unofficial software is known to use this port; check the holder",
				Evidence: fmt.Sprintf("%s/%d (%s): %q", s.Protocol, s.LocalPort, svc, u),
			})
		}
	}
	regs = named
	if len(regs) == 0 {
		// The port is the socket's own; the evidence needs no copy of it.
		return append(out, report.Finding{
			ID:       IDUnregistered,
			Severity: report.SeverityInfo,
			Title:    "port has no IANA assignment",
			Why:      "only the holder says what this is",
			Evidence: "no IANA service on this port over " + protoName(s.Protocol),
		})
	}
	if prog, ok := a.unrelatedHolder(s, regs); ok {
		out = append(out, a.mismatch(regs, prog))
	}
	return out
}

func protoName(p string) string {
	switch p {
	case "tcp":
		return "tcp"
	case "udp":
		return "udp"
	}
	return p
}

type mismatchKey struct{ service, description, prog string }

// mismatch builds (once per registration and program in a run) the
// registered-mismatch finding.
func (a *Assessor) mismatch(regs []Registration, prog string) report.Finding {
	k := mismatchKey{regs[0].Service, regs[0].Description, prog}
	if f, ok := a.cache.mismatch[k]; ok && len(regs) == 1 {
		return f
	}
	d := describeRegs(regs)
	f := report.Finding{
		ID:       IDRegisteredMismatch,
		Severity: report.SeverityInfo,
		Title:    "registered to " + d + ", but held by an unrelated program",
		Why:      "a port number promises nothing; judge the program",
		Evidence: "held by " + prog,
	}
	if len(regs) == 1 {
		a.cache.mismatch[k] = f
	}
	return f
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
func (a *Assessor) unrelatedHolder(s *report.Socket, regs []Registration) (string, bool) {
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
			if contains(forwarders, n) || a.relatedToAny(n, s.LocalPort, regs) {
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

func (a *Assessor) relatedToAny(prog string, port uint16, regs []Registration) bool {
	pn := a.normalized(prog)
	for _, r := range regs {
		for _, k := range knownServices[prog] {
			if strings.EqualFold(k, r.Service) || (k[0] >= '0' && k[0] <= '9' && k == strconv.Itoa(int(port))) {
				return true
			}
		}
		sn := a.normalized(r.Service)
		if len(pn) >= 3 && len(sn) >= 3 && (strings.Contains(pn, sn) || strings.Contains(sn, pn)) {
			return true
		}
		// The description often names the product ("PostgreSQL Database").
		if len(pn) >= 4 && strings.Contains(a.normalized(r.Description), pn) {
			return true
		}
	}
	return false
}

// normalized memoises normalizeName for the run: a few hundred distinct
// names and descriptions recur over thousands of sockets.
func (a *Assessor) normalized(s string) string {
	if n, ok := a.cache.names[s]; ok {
		return n
	}
	n := normalizeName(s)
	a.cache.names[s] = n
	return n
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
