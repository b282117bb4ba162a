package probe

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Target is one host:port to probe, over TCP or UDP.
type Target struct {
	Raw       string // as the user wrote it
	Host      string // a name or an IP literal, without brackets
	Port      uint16
	Transport string // "tcp" or "udp"
}

// String is host:port[/udp], with IPv6 literals in brackets.
func (t Target) String() string {
	s := net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port)))
	if t.Transport == "udp" {
		s += "/udp"
	}
	return s
}

// ParseTarget reads "host:port", "host:port/tcp", "host:port/udp" or
// "[v6]:port[/udp]". A bare IPv6 address without brackets is refused: its
// last group could not be told from a port.
func ParseTarget(s string) (Target, error) {
	t := Target{Raw: s, Transport: "tcp"}
	if s == "" {
		return t, fmt.Errorf("empty target: want host:port[/udp]")
	}
	if strings.ContainsAny(s, " \t\r\n\x00") {
		return t, fmt.Errorf("target %q: contains whitespace or control characters", s)
	}
	hp := s
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		switch tr := strings.ToLower(s[i+1:]); tr {
		case "tcp", "udp":
			t.Transport = tr
		default:
			return t, fmt.Errorf("target %q: transport %q: want tcp or udp", s, s[i+1:])
		}
		hp = s[:i]
	}
	if isPortSpec(hp) {
		return t, fmt.Errorf("target %q: missing host: want host:port, e.g. 127.0.0.1:%s", s, hp)
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		if strings.Count(hp, ":") > 1 && !strings.HasPrefix(hp, "[") {
			return t, fmt.Errorf("target %q: put an IPv6 address in brackets: [addr]:port", s)
		}
		return t, fmt.Errorf("target %q: want host:port[/udp]: %w", s, err)
	}
	if host == "" {
		return t, fmt.Errorf("target %q: missing host", s)
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(hp, "[") {
		return t, fmt.Errorf("target %q: put an IPv6 address in brackets: [addr]:port", s)
	}
	if strings.HasPrefix(hp, "[") && !strings.Contains(host, ":") {
		return t, fmt.Errorf("target %q: brackets are for IPv6 addresses only", s)
	}
	if strings.Contains(host, ":") {
		if ip := net.ParseIP(strings.SplitN(host, "%", 2)[0]); ip == nil {
			return t, fmt.Errorf("target %q: %q is not an IPv6 address", s, host)
		}
	} else if !validHostname(host) {
		return t, fmt.Errorf("target %q: %q is not a valid host name or address", s, host)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || port[0] == '+' || port[0] == '-' {
		return t, fmt.Errorf("target %q: port %q: want a number from 1 to 65535", s, port)
	}
	t.Host, t.Port = host, uint16(n)
	return t, nil
}

// validHostname accepts IPv4 literals and DNS names (letters, digits,
// hyphens, underscores and dots, labels up to 63 bytes).
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

// ParseTargets reads one argument that may name several ports of one host:
// "host:PORT", "host:LOW-HIGH", or a comma-separated list of both, as in
// "127.0.0.1:22,80,8000-8100/udp". Ports are expanded in the order given,
// each once.
func ParseTargets(s string) ([]Target, error) {
	hp, suffix := s, ""
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		hp, suffix = s[:i], s[i:]
	}
	i := strings.LastIndexByte(hp, ':')
	if i < 0 || isPortSpec(hp) || !strings.ContainsAny(hp[i+1:], ",-") {
		t, err := ParseTarget(s)
		if err != nil {
			return nil, err
		}
		return []Target{t}, nil
	}
	host, spec := hp[:i], hp[i+1:]
	seen := map[uint16]bool{}
	var out []Target
	for _, part := range strings.Split(spec, ",") {
		lo, hi, err := portRange(part)
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", s, err)
		}
		for p := lo; p <= hi; p++ {
			if seen[uint16(p)] {
				continue
			}
			seen[uint16(p)] = true
			t, err := ParseTarget(host + ":" + strconv.Itoa(p) + suffix)
			if err != nil {
				// The host or transport is wrong: say so once, about
				// what the user wrote.
				return nil, fmt.Errorf("target %q: %w", s, unwrapTarget(err))
			}
			t.Raw = s
			out = append(out, t)
		}
	}
	return out, nil
}

// portRange reads "N" or "LOW-HIGH".
func portRange(s string) (int, int, error) {
	num := func(v string) (int, error) {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n == 0 || v == "" || v[0] == '+' {
			return 0, fmt.Errorf("port %q: want a number from 1 to 65535", v)
		}
		return int(n), nil
	}
	a, b, isRange := strings.Cut(s, "-")
	lo, err := num(a)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	hi, err := num(b)
	if err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("port range %q: the first port must not exceed the last", s)
	}
	return lo, hi, nil
}

// isPortSpec is true for text made only of digits, commas and hyphens: a
// port list typed without its host.
func isPortSpec(s string) bool {
	if s == "" || s[0] == ':' {
		return s != "" && isPortSpec(s[1:])
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c == ',' || c == '-') {
			return false
		}
	}
	return true
}

// unwrapTarget drops the `target "...": ` prefix ParseTarget puts on its
// errors, so that a range's error names the argument once.
func unwrapTarget(err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "target ") {
		if i := strings.Index(msg, ": "); i >= 0 {
			return errors.New(msg[i+2:])
		}
	}
	return err
}
