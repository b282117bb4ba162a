package probe_test

// Probes the real Debian servers that bench/probe/setup.sh starts on
// loopback, through the package's own API, and checks each verdict against
// bench/probe/targets.tsv: the same table compare.sh holds nmap to. Run it
// with bench/probe/ci.sh, or by hand:
//
//	bench/probe/setup.sh && PORTWHO_INTEGRATION=1 go test -run Integration ./internal/probe/

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/portwho/portwho/internal/probe"
)

// realTarget is one line of bench/probe/targets.tsv.
type realTarget struct {
	Name      string
	Transport string
	Port      uint16
	Service   string
	TLS       bool
	Product   string // a substring, "" when the server does not tell it
	StartTLS  bool
}

func readRealTargets(path string) ([]realTarget, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open targets: %w", err)
	}
	defer f.Close()
	var out []realTarget
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if len(f) != 7 {
			return nil, fmt.Errorf("%s:%d: want 7 fields, got %d", path, line, len(f))
		}
		port, err := strconv.ParseUint(f[2], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: port: %w", path, line, err)
		}
		t := realTarget{Name: f[0], Transport: f[1], Port: uint16(port), Service: f[3],
			TLS: f[4] == "yes", Product: f[5], StartTLS: f[6] == "yes"}
		if t.Product == "-" {
			t.Product = ""
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read targets: %w", err)
	}
	return out, nil
}

// verdict is the part of a Result the real servers pin down exactly.
type verdict struct {
	State    string
	Service  string
	Guess    bool
	TLS      bool
	StartTLS bool
}

func TestIntegrationRealServers(t *testing.T) {
	if os.Getenv("PORTWHO_INTEGRATION") != "1" {
		t.Skip("integration test: needs the real servers; run bench/probe/setup.sh, then set PORTWHO_INTEGRATION=1")
	}
	targets, err := readRealTargets(filepath.Join("..", "..", "bench", "probe", "targets.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	// UDP cannot say whether a server is up without speaking to it: when
	// no TCP server accepts, setup.sh has not run, and every assertion
	// below would only repeat that.
	up := false
	for _, rt := range targets {
		if rt.Transport != "tcp" {
			continue
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(rt.Port))), time.Second); err == nil {
			c.Close()
			up = true
			break
		}
	}
	if !up {
		t.Skip("integration test: no server of bench/probe/targets.tsv listens on 127.0.0.1; run bench/probe/setup.sh first")
	}

	ts := make([]probe.Target, len(targets))
	for i, rt := range targets {
		s := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(rt.Port)))
		if rt.Transport == "udp" {
			s += "/udp"
		}
		if ts[i], err = probe.ParseTarget(s); err != nil {
			t.Fatalf("ParseTarget(%q): %v", s, err)
		}
	}
	// All at once, as a user's `portwho probe` would: the engine's
	// per-host caps are part of what is tested.
	var p probe.Prober
	results := p.ProbeAll(context.Background(), ts)

	for i, rt := range targets {
		res := results[i]
		t.Run(fmt.Sprintf("%s/%d-%s", rt.Name, rt.Port, rt.Transport), func(t *testing.T) {
			got := verdict{State: res.State, Service: res.Service, Guess: res.Guess,
				TLS: res.TLS != nil, StartTLS: res.StartTLS != nil}
			want := verdict{State: probe.StateOpen, Service: rt.Service, TLS: rt.TLS, StartTLS: rt.StartTLS}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: verdict mismatch (-want +got):\n%s\nresult: %+v", res.Target, diff, res)
			}
			if rt.Product != "" && !strings.Contains(strings.ToLower(res.Product), strings.ToLower(rt.Product)) {
				t.Errorf("%s: product %q, want it to contain %q (method %s, banner %q)",
					res.Target, res.Product, rt.Product, res.Method, res.Banner)
			}
			if rt.TLS && res.TLS != nil && !res.TLS.SelfSigned {
				t.Errorf("%s: certificate not reported self-signed: %+v", res.Target, res.TLS)
			}
		})
	}
}

func TestReadRealTargets(t *testing.T) {
	// The table itself is checked without the servers, so a malformed
	// line fails `go test ./...` and not only CI's integration run.
	targets, err := readRealTargets(filepath.Join("..", "..", "bench", "probe", "targets.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, rt := range targets {
		key := fmt.Sprintf("%d/%s", rt.Port, rt.Transport)
		if seen[key] {
			t.Errorf("%s listed twice", key)
		}
		seen[key] = true
		if rt.Port == 0 || rt.Port >= 32000 {
			t.Errorf("%s: port %d: want 1-31999 (the machine's own tooling uses higher ports)", rt.Name, rt.Port)
		}
		if rt.Transport != "tcp" && rt.Transport != "udp" {
			t.Errorf("%s: transport %q", rt.Name, rt.Transport)
		}
	}
	// setup.sh's list of servers, as issue 5 requires them.
	for _, name := range []string{"ssh", "nginx-https", "redis", "postgresql", "memcached", "mariadb",
		"postfix", "dovecot-imap", "dovecot-pop3", "dovecot-imaps", "vsftpd", "mosquitto", "dnsmasq", "snmpd"} {
		found := false
		for _, rt := range targets {
			found = found || rt.Name == name
		}
		if !found {
			t.Errorf("targets.tsv lacks %s", name)
		}
	}
	if !seen["3302/tcp"] || !seen["53/udp"] || !seen["11211/udp"] {
		t.Errorf("targets.tsv lacks 3302/tcp, 53/udp or 11211/udp: %v", seen)
	}
}
