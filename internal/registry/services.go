package registry

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
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
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	svcs, err := ParseServices(io.LimitReader(f, maxServicesFile))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return svcs, nil
}

// ParseServices parses the services(5) format: "name port/protocol
// [aliases...] [# comment]". Lines it cannot read are skipped, as the C
// library does.
func ParseServices(r io.Reader) ([]Service, error) {
	var out []Service
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		num, proto, ok := strings.Cut(f[1], "/")
		if !ok || proto == "" {
			continue
		}
		port, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			continue
		}
		s := Service{Name: f[0], Port: uint16(port), Protocol: strings.ToLower(proto), Aliases: f[2:]}
		if len(s.Aliases) == 0 {
			s.Aliases = nil
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	return out, nil
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
