package policy

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/portwho/portwho/internal/assess"
	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("testdata/example.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	high := report.SeverityHigh
	info := report.SeverityInfo
	want := &Policy{
		Path: "testdata/example.yaml",
		Settings: Settings{
			FailOn: &high,
			Assess: assess.Config{
				Ignore:         []string{"unregistered", "registered-mismatch"},
				Severity:       map[string]report.Severity{"exe-unpackaged": info},
				AllowedShells:  []string{"/opt/app/venv/bin/python3*"},
				TrustedDirs:    []string{"/home/*/go/bin"},
				ExposedDaemons: []assess.Daemon{{Exe: "/opt/app/bin/server", Ports: []assess.PortRange{{Lo: 8080, Hi: 8080}, {Lo: 9000, Hi: 9010}}}},
				KernelSockets:  []assess.KernelSocket{{Protocol: "udp", Port: 51821, Name: "WireGuard wg1"}},
			},
		},
		Allow: []Rule{
			{Protocol: "tcp", Ports: &assess.PortRange{Lo: 22, Hi: 22}, Address: Address{Kind: AddrWildcard}, NetNS: "host",
				Exe: "/usr/sbin/sshd", User: "root", Comment: "ssh", Line: 22},
			{Protocol: "tcp", Ports: &assess.PortRange{Lo: 5432, Hi: 5432}, Address: Address{Kind: AddrLoopback},
				Exe: "/usr/lib/postgresql/*/bin/postgres", User: "postgres", Line: 29},
			{Protocol: "udp", Ports: &assess.PortRange{Lo: 32768, Hi: 60999}, Exe: "/usr/sbin/avahi-daemon", Optional: true, Line: 34},
			{Ports: &assess.PortRange{Lo: 8080, Hi: 8080}, Address: Address{Kind: AddrPrefix, Prefix: netip.MustParsePrefix("10.0.0.0/8")},
				Container: "web-*", Comment: "published by docker", Line: 38},
			{Protocol: "tcp", Ports: &assess.PortRange{Lo: 443, Hi: 443}, Address: Address{Kind: AddrPrefix, Prefix: netip.MustParsePrefix("192.0.2.10/32")}, Line: 42},
		},
	}
	if diff := cmp.Diff(want, p, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestMalformed: every mistake is one line, file:line:column, and no
// policy comes back.
func TestMalformed(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"bad yaml: unclosed flow list", "version: 1\nallow: [\n  {port: 22}\n", "p.yaml:2:8: "},
		{"bad yaml: tab indentation", "version: 1\nallow:\n\t- port: 22\n", "p.yaml:3:1: "},
		{"unknown top-level key", "version: 1\nalow: []\n", `p.yaml:2:1: unknown key "alow" in the policy`},
		{"unknown rule key", "allow:\n  - port: 22\n    prot: tcp\n", `p.yaml:3:5: unknown key "prot" in an allow rule`},
		{"unknown settings key", "settings:\n  failon: high\n", `p.yaml:2:3: unknown key "failon" in settings`},
		{"port too big", "allow:\n  - protocol: tcp\n    port: 70000\n", `p.yaml:3:11: port: port "70000" is not a number from 1 to 65535`},
		{"port zero", "allow:\n  - port: 0\n", `p.yaml:2:11: port: port "0" is not a number`},
		{"port name", "allow:\n  - port: ssh\n", `p.yaml:2:11: port: port "ssh" is not a number`},
		{"reversed range", "allow:\n  - port: 9000-8000\n", `p.yaml:2:11: port: port range "9000-8000" ends before it starts`},
		{"bad severity", "settings:\n  fail-on: severe\n", `p.yaml:2:12: unknown severity "severe"`},
		{"bad severity override", "settings:\n  severity:\n    exposed: critical\n", `p.yaml:3:14: unknown severity "critical"`},
		{"unknown finding in severity", "settings:\n  severity:\n    exposd: low\n", `p.yaml:3:5: unknown key "exposd" in severity`},
		{"unknown finding in ignore", "settings:\n  ignore: [exposd]\n", `p.yaml:2:12: unknown finding id "exposd"`},
		{"bad protocol", "allow:\n  - protocol: sctp\n", `p.yaml:2:15: protocol must be tcp, udp or any, not "sctp"`},
		{"bad address", "allow:\n  - address: 300.1.1.1\n", `p.yaml:2:14: address "300.1.1.1" is not any, loopback`},
		{"bad glob", "allow:\n  - exe: /usr/[bin\n", `p.yaml:2:10: exe: bad glob`},
		{"optional not bool", "allow:\n  - optional: sometimes\n", `p.yaml:2:15: optional must be true or false`},
		{"allow not a list", "allow:\n  port: 22\n", `p.yaml:2:3: allow must be a list, not a mapping`},
		{"rule not a mapping", "allow:\n  - 22\n", `p.yaml:2:5: an allow rule must be a mapping`},
		{"duplicate key", "allow:\n  - port: 22\n    port: 23\n", `p.yaml:3:5: `},
		{"wrong version", "version: 2\n", `p.yaml:1:10: unsupported policy version "2"`},
		{"empty", "# nothing\n", `p.yaml:1:1: policy is empty`},
		{"list at top", "- port: 22\n", `p.yaml:1:1: the policy must be a mapping`},
		{"daemon bare name", "settings:\n  exposed-daemons:\n    - exe: sshd\n", `p.yaml:3:12: exe must be an absolute path`},
		{"alias", "allow:\n  - &a {port: 22}\n  - *a\n", `p.yaml:2:5: an allow rule must be a mapping (key: value), not an anchor or alias`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("parsed: %+v", p)
			}
			if p != nil {
				t.Errorf("a partial policy came back with the error")
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *policy.Error", err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !strings.HasPrefix(msg, tt.want) {
				t.Errorf("error = %q\nwant prefix %q", msg, tt.want)
			}
		})
	}
}

func sock(proto, addr string, port uint16, procs ...process.Process) report.Socket {
	a := netip.MustParseAddr(addr)
	state := "LISTEN"
	if proto == "udp" {
		state = "UNCONN"
	}
	owner := report.OwnerKnown
	if len(procs) == 0 {
		owner = report.OwnerNone
	}
	return report.Socket{
		Socket:    sockets.Socket{Protocol: proto, LocalAddr: a, LocalPort: port, State: state, NetNS: sockets.NetNS{Inode: 1, Host: true, Label: "host"}},
		Processes: procs, Owner: owner,
	}
}

func pr(pid int, exe, user string) process.Process {
	return process.Process{PID: pid, Exe: exe, User: user, Name: filepath.Base(exe)}
}

func TestMatches(t *testing.T) {
	nginx := sock("tcp", "0.0.0.0", 80, pr(800, "/usr/sbin/nginx", "root"), pr(801, "/usr/sbin/nginx", "www-data"))
	pg := sock("tcp", "127.0.0.1", 5432, pr(700, "/usr/lib/postgresql/15/bin/postgres", "postgres"))
	inContainer := sock("tcp", "0.0.0.0", 8080, process.Process{PID: 9, Exe: "/app/server", User: "root",
		Container: &process.Container{Runtime: "docker", ID: "0123abcd", Name: "web-1"}})
	inContainer.NetNS = sockets.NetNS{Inode: 7, Label: "web-1"}
	kernel := sock("tcp", "0.0.0.0", 2049)
	tests := []struct {
		name string
		rule string
		s    report.Socket
		want bool
	}{
		{"port and wildcard", "port: 80\naddress: wildcard", nginx, true},
		{"wildcard is not loopback", "port: 80\naddress: loopback", nginx, false},
		{"worker user matches", "exe: /usr/sbin/nginx\nuser: www-data", nginx, true},
		{"exe and user must fit one holder", "exe: /usr/sbin/nginx\nuser: postgres", nginx, false},
		{"protocol", "protocol: udp\nport: 80", nginx, false},
		{"range", "port: 5000-6000\naddress: loopback", pg, true},
		{"version glob", "exe: /usr/lib/postgresql/*/bin/postgres", pg, true},
		{"prefix", "address: 127.0.0.0/8", pg, true},
		{"exact address", "address: 127.0.0.2", pg, false},
		{"host netns", "netns: host", pg, true},
		{"host netns excludes container", "netns: host\nport: 8080", inContainer, false},
		{"container by name", "container: web-*", inContainer, true},
		{"container by id", "container: 0123*", inContainer, true},
		{"container none", "container: none", pg, true},
		{"container none excludes containers", "container: none", inContainer, false},
		{"kernel socket without process fields", "port: 2049", kernel, true},
		{"kernel socket has no exe", "port: 2049\nexe: /usr/sbin/rpc.nfsd", kernel, false},
		{"deleted exe never matches", "exe: /tmp/x", sock("tcp", "127.0.0.1", 1, process.Process{PID: 1, Exe: "/tmp/x", ExeDeleted: true}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "allow:\n  - " + strings.ReplaceAll(tt.rule, "\n", "\n    ") + "\n"
			p, err := Parse("m.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Allow[0].Matches(&tt.s); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBaselineWriteParse(t *testing.T) {
	master := pr(800, "/usr/sbin/nginx", "root")
	worker := pr(801, "/usr/sbin/nginx", "www-data")
	socks := []report.Socket{
		sock("tcp", "0.0.0.0", 80, master, worker),
		sock("tcp", "::", 80, master, worker),
		sock("tcp", "127.0.0.1", 5432, pr(700, "/usr/lib/postgresql/15/bin/postgres", "postgres")),
		sock("udp", "0.0.0.0", 41234, pr(500, "/usr/sbin/avahi-daemon", "avahi")),
		sock("udp", "0.0.0.0", 52011, pr(500, "/usr/sbin/avahi-daemon", "avahi")),
		sock("tcp", "0.0.0.0", 2049),
		sock("tcp", "192.0.2.10", 443, pr(900, "/opt/weird[1]/srv", "svc")),
	}
	socks[0].Service = "http"
	unnamed := sock("tcp", "0.0.0.0", 8080, pr(950, "/usr/bin/app", "app"))
	unnamed.NetNS = sockets.NetNS{Inode: 4026532999, Label: "netns:[4026532999]"}
	socks = append(socks, unnamed)
	est := sock("tcp", "10.0.0.1", 40000, pr(1, "/x", "root"))
	est.State = "ESTAB"
	socks = append(socks, est)
	p := Baseline(socks)
	var out bytes.Buffer
	if err := Write(&out, p, Header("host\r\nallow: [{}]", time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "baseline.golden.yaml")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		os.WriteFile(golden, out.Bytes(), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), out.String()); diff != "" {
		t.Errorf("baseline (-want +got):\n%s", diff)
	}
	back, err := Parse("b.yaml", out.Bytes())
	if err != nil {
		t.Fatalf("baseline does not parse back: %v\n%s", err, out.String())
	}
	res := Check(back, socks, report.SeverityMedium)
	if !res.Clean {
		t.Errorf("baseline is not clean against the sockets it came from: %+v", res)
	}
	// The ephemeral avahi socket may move without being "unexpected".
	moved := append([]report.Socket(nil), socks...)
	moved[3].LocalPort = 35000
	moved = append(moved[:4], moved[5:]...)
	if res := Check(back, moved, report.SeverityMedium); !res.Clean {
		t.Errorf("moved ephemeral listener reported: %+v", res)
	}
}

func TestCheck(t *testing.T) {
	p, err := Parse("c.yaml", []byte("allow:\n  - port: 22\n    exe: /usr/sbin/sshd\n  - port: 5353\n    optional: true\n  - port: 5432\n    comment: db\n"))
	if err != nil {
		t.Fatal(err)
	}
	sshd := sock("tcp", "0.0.0.0", 22, pr(1, "/usr/sbin/sshd", "root"))
	sshd.Findings = []report.Finding{{ID: "exposed", Severity: report.SeverityInfo}}
	rogue := sock("tcp", "0.0.0.0", 4444, pr(2, "/tmp/x", "root"))
	rogue.Findings = []report.Finding{{ID: "exe-writable-dir", Severity: report.SeverityHigh}, {ID: "exposed", Severity: report.SeverityMedium}}
	res := Check(p, []report.Socket{sshd, rogue}, report.SeverityHigh)
	if res.Clean {
		t.Fatal("clean")
	}
	if diff := cmp.Diff(Counts{Listeners: 2, Allowed: 1, Unexpected: 1, Missing: 1, Findings: 1}, res.Counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if res.Missing[0].Line != 6 || res.Missing[0].Port != "5432" || res.Missing[0].Comment != "db" {
		t.Errorf("missing = %+v", res.Missing)
	}
	if res.Findings[0].ID != "exe-writable-dir" || res.Findings[0].Allowed || res.Findings[0].Port != 4444 {
		t.Errorf("findings = %+v", res.Findings)
	}
	// Without a policy only findings count.
	if res := Check(nil, []report.Socket{sshd}, report.SeverityLow); !res.Clean {
		t.Errorf("no policy, info finding: not clean: %+v", res)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/example.yaml", "testdata/baseline.golden.yaml"} {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("allow:\n  - port: 22\n"))
	f.Add([]byte("settings: {fail-on: high}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data)
		if err != nil {
			if p != nil {
				t.Fatal("policy and error both returned")
			}
			var pe *Error
			if !errors.As(err, &pe) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error not a one-line *Error: %q", err)
			}
			return
		}
		// What parses writes back to something that parses the same.
		var out bytes.Buffer
		if err := Write(&out, p, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := Parse("again.yaml", out.Bytes()); err != nil {
			t.Fatalf("written policy does not parse: %v\n%s", err, out.String())
		}
	})
}

func TestGeneraliseExe(t *testing.T) {
	tests := map[string]string{
		"/usr/lib/postgresql/15/bin/postgres": "/usr/lib/postgresql/*/bin/postgres",
		"/opt/app/3.11.2/bin/app":             "/opt/app/*/bin/app",
		"/tmp/TestX/001/helper":               "/tmp/TestX/001/helper",
		"/srv/2024-01/app":                    "/srv/2024-01/app",
		"/usr/bin/python3.11":                 "/usr/bin/python3.11",
		"/opt/a[1]/srv":                       `/opt/a\[1\]/srv`,
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if got := generaliseExe(in); got != want {
				t.Errorf("generaliseExe(%q) = %q, want %q", in, got, want)
			}
			if !glob(generaliseExe(in), in) {
				t.Errorf("%q does not match its own generalisation", in)
			}
		})
	}
}
