package registry

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// Service is one entry of the host's services database (/etc/services),
// which is what getent, netstat and ss use to name ports.
type Service struct {
	Name     string   `json:"name"`
	Port     uint16   `json:"port"`
	Protocol string   `json:"protocol"`
	Aliases  []string `json:"aliases"`
}

// maxServicesFile bounds the read: a services file is tens of kilobytes.
const maxServicesFile = 8 << 20

// ReadServices reads a services file such as /etc/services.
func ReadServices(path string) ([]Service, error) {
	return readServices(path, nil)
}

// ReadServicesPort reads the entries of a services file on ports lo..hi
// for proto ("" = all). Lines for other ports are skipped before anything
// is allocated for them, which is what makes a lookup cheap.
func ReadServicesPort(path string, lo, hi uint16, proto string) ([]Service, error) {
	return readServices(path, func(port uint16, p []byte, _ [][]byte) bool {
		return lo <= port && port <= hi && (proto == "" || string(p) == proto)
	})
}

// ReadServicesNamed reads the entries of a services file whose name or an
// alias is name (any case).
func ReadServicesNamed(path, name string) ([]Service, error) {
	return readServices(path, func(_ uint16, _ []byte, names [][]byte) bool {
		for _, n := range names {
			if bytes.EqualFold(n, []byte(name)) {
				return true
			}
		}
		return false
	})
}

func readServices(path string, keep keepFunc) ([]Service, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	svcs, err := parseServices(io.LimitReader(f, maxServicesFile), keep)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return svcs, nil
}

// keepFunc selects a line by port, lower-case protocol and names (the
// service name, then its aliases) before it is turned into a Service.
type keepFunc func(port uint16, proto []byte, names [][]byte) bool

// ParseServices parses the services(5) format: "name port/protocol
// [aliases...] [# comment]". Lines it cannot read are skipped, as the C
// library does.
func ParseServices(r io.Reader) ([]Service, error) {
	return parseServices(r, nil)
}

func parseServices(r io.Reader, keep keepFunc) ([]Service, error) {
	var out []Service
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	var fields, names [][]byte
	for sc.Scan() {
		line := sc.Bytes()
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields = splitFields(fields[:0], line)
		if len(fields) < 2 {
			continue
		}
		num, proto, ok := bytes.Cut(fields[1], []byte("/"))
		if !ok || len(proto) == 0 {
			continue
		}
		port, ok := parseUint16(num)
		if !ok {
			continue
		}
		lowerASCII(proto)
		names = append(append(names[:0], fields[0]), fields[2:]...)
		if keep != nil && !keep(port, proto, names) {
			continue
		}
		s := Service{Name: string(fields[0]), Port: port, Protocol: string(proto)}
		for _, a := range fields[2:] {
			s.Aliases = append(s.Aliases, string(a))
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	return out, nil
}

// splitFields is bytes.Fields for ASCII blanks, reusing dst.
func splitFields(dst [][]byte, line []byte) [][]byte {
	i := 0
	for i < len(line) {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
		j := i
		for j < len(line) && !isBlank(line[j]) {
			j++
		}
		if j > i {
			dst = append(dst, line[i:j])
		}
		i = j
	}
	return dst
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

func parseUint16(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

func lowerASCII(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

// ServicesFor returns the services on port, for proto ("" = all).
func ServicesFor(svcs []Service, port uint16, proto string) []Service {
	var out []Service
	for _, s := range svcs {
		if s.Port == port && (proto == "" || s.Protocol == proto) {
			out = append(out, s)
		}
	}
	return out
}

// ServicesNamed returns the services whose name or alias is name.
func ServicesNamed(svcs []Service, name string) []Service {
	var out []Service
	for _, s := range svcs {
		if s.Names(name) {
			out = append(out, s)
		}
	}
	return out
}

// Names reports whether name is the service's name or one of its aliases,
// ignoring case.
func (s Service) Names(name string) bool {
	if strings.EqualFold(s.Name, name) {
		return true
	}
	for _, a := range s.Aliases {
		if strings.EqualFold(a, name) {
			return true
		}
	}
	return false
}
