package assess

import (
	"io/fs"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// fakePackages stands in for dpkg where the stock daemons are not
// installed on this machine: the only fake the rules are tested with. It
// counts calls so tests can assert that lookups are batched.
type fakePackages struct {
	owned map[string]string
	calls int
	asked []string
}

func (f *fakePackages) Name() string { return "dpkg" }

func (f *fakePackages) Owners(paths []string) (map[string]string, error) {
	f.calls++
	f.asked = append(f.asked, paths...)
	out := map[string]string{}
	for _, p := range paths {
		if pkg, ok := f.owned[p]; ok {
			out[p] = pkg
		}
	}
	return out, nil
}

// fixedDirs answers directory stats from a table; directories it does not
// list are root-owned 0755, as on a stock system.
type fixedDirs map[string]DirInfo

func (d fixedDirs) Dir(_ *process.Process, dir string) (DirInfo, error) {
	if i, ok := d[dir]; ok {
		return i, nil
	}
	return DirInfo{Mode: fs.ModeDir | 0o755}, nil
}

func listener(proto, addr string, port uint16, procs ...process.Process) report.Socket {
	a := netip.MustParseAddr(addr)
	fam := "inet"
	if a.Is6() {
		fam = "inet6"
	}
	state := "LISTEN"
	if proto == "udp" {
		state = "UNCONN"
	}
	owner := report.OwnerKnown
	if len(procs) == 0 {
		owner = report.OwnerNone
	}
	return report.Socket{
		Socket: sockets.Socket{Protocol: proto, Family: fam, LocalAddr: a, LocalPort: port,
			State: state, Inode: 1000 + uint64(port), NetNS: sockets.NetNS{Inode: 4026531840, Host: true, Label: "host"}},
		Processes: procs,
		Owner:     owner,
	}
}

func proc(pid int, name, exe, user string, argv ...string) process.Process {
	uid := uint32(0)
	if user != "root" {
		uid = 33
	}
	if len(argv) == 0 {
		argv = []string{exe}
	}
	return process.Process{PID: pid, PPID: 1, Name: name, Exe: exe, User: user, UID: uid, Cmdline: argv}
}

// testRegistry is a slice of the real IANA registry for the ports these
// tests use (service names and descriptions as IANA writes them).
func testRegistry() Registry {
	reg := map[string][]Registration{
		"tcp/22":   {{Service: "ssh", Description: "The Secure Shell (SSH) Protocol"}},
		"tcp/53":   {{Service: "domain", Description: "Domain Name Server"}},
		"udp/53":   {{Service: "domain", Description: "Domain Name Server"}},
		"tcp/80":   {{Service: "http", Description: "World Wide Web HTTP"}},
		"tcp/443":  {{Service: "https", Description: "http protocol over TLS/SSL"}},
		"udp/323":  {{Service: "rpki-rtr", Description: "rpki-rtr"}},
		"tcp/631":  {{Service: "ipp", Description: "IPP (Internet Printing Protocol)"}},
		"tcp/2049": {{Service: "nfs", Description: "Network File System - Sun Microsystems"}},
		"tcp/5432": {{Service: "postgresql", Description: "PostgreSQL Database"}},
		"tcp/3302": {{Service: "mcs-fastmail", Description: "MCS Fastmail"}},
		"tcp/12345": {{Service: "italk", Description: "Italk Chat System",
			Unauthorized: []string{"NetBus trojan"}}},
	}
	return RegistryFunc(func(port uint16, proto string) []Registration {
		return reg[proto+"/"+itoa(port)]
	})
}

func itoa(p uint16) string {
	var b [5]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + p%10)
		p /= 10
		if p == 0 {
			return string(b[i:])
		}
	}
}

// stockHost is what a stock Debian/Ubuntu server shows: sshd, resolved,
// chronyd, cupsd, postgres and nginx (master as root, workers as www-data).
func stockHost() []report.Socket {
	sshd := proc(612, "sshd", "/usr/sbin/sshd", "root", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups")
	resolved := proc(401, "systemd-resolve", "/usr/lib/systemd/systemd-resolved", "systemd-resolve")
	chrony := proc(455, "chronyd", "/usr/sbin/chronyd", "_chrony", "/usr/sbin/chronyd", "-F", "1")
	cups := proc(520, "cupsd", "/usr/sbin/cupsd", "root", "/usr/sbin/cupsd", "-l")
	pg := proc(700, "postgres", "/usr/lib/postgresql/15/bin/postgres", "postgres",
		"/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/postgresql/15/main")
	nginxMaster := proc(800, "nginx", "/usr/sbin/nginx", "root", "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;")
	w1 := proc(801, "nginx", "/usr/sbin/nginx", "www-data", "nginx: worker process")
	w2 := proc(802, "nginx", "/usr/sbin/nginx", "www-data", "nginx: worker process")
	return []report.Socket{
		listener("tcp", "0.0.0.0", 22, sshd),
		listener("tcp", "::", 22, sshd),
		listener("tcp", "127.0.0.53", 53, resolved),
		listener("udp", "127.0.0.53", 53, resolved),
		listener("tcp", "127.0.0.54", 53, resolved),
		listener("udp", "127.0.0.54", 53, resolved),
		listener("udp", "127.0.0.1", 323, chrony),
		listener("udp", "::1", 323, chrony),
		listener("tcp", "127.0.0.1", 631, cups),
		listener("tcp", "::1", 631, cups),
		listener("tcp", "127.0.0.1", 5432, pg),
		listener("tcp", "0.0.0.0", 80, nginxMaster, w1, w2),
		listener("tcp", "::", 80, nginxMaster, w1, w2),
		listener("tcp", "0.0.0.0", 443, nginxMaster, w1, w2),
		// Ubuntu's resolved also answers LLMNR on every interface.
		listener("tcp", "0.0.0.0", 5355, resolved),
		listener("udp", "0.0.0.0", 5355, resolved),
	}
}

func stockPackages() *fakePackages {
	return &fakePackages{owned: map[string]string{
		"/usr/sbin/sshd":                      "openssh-server",
		"/usr/lib/systemd/systemd-resolved":   "systemd-resolved",
		"/usr/sbin/chronyd":                   "chrony",
		"/usr/sbin/cupsd":                     "cups-daemon",
		"/usr/lib/postgresql/15/bin/postgres": "postgresql-15",
		"/usr/sbin/nginx":                     "nginx-core",
		"/usr/bin/python3.11":                 "python3.11-minimal",
		"/usr/bin/nc.openbsd":                 "netcat-openbsd",
		"/bin/busybox":                        "busybox",
		"/usr/sbin/italkd":                    "italk",
	}}
}

func TestStockHostHasNothingAboveInfo(t *testing.T) {
	socks := stockHost()
	pk := stockPackages()
	a := New(DefaultConfig(), pk, fixedDirs{}, testRegistry())
	a.Annotate(socks)
	for _, s := range socks {
		for _, f := range s.Findings {
			if f.Severity > report.SeverityInfo {
				t.Errorf("%s %s:%d: %s %s: %s (%s)", s.Protocol, s.LocalAddr, s.LocalPort, f.Severity, f.ID, f.Title, f.Evidence)
			}
		}
	}
	if pk.calls != 1 {
		t.Errorf("package lookups: %d calls, want 1 batch", pk.calls)
	}
	if len(pk.asked) != 6 {
		t.Errorf("package lookup asked %d paths, want the 6 distinct executables: %q", len(pk.asked), pk.asked)
	}
	// The public ones still say they are public, at info.
	var exposedInfo int
	for _, s := range socks {
		for _, f := range s.Findings {
			if f.ID == IDExposed {
				exposedInfo++
			}
		}
	}
	if exposedInfo != 7 {
		t.Errorf("exposed info findings: %d, want 7 (sshd x2, nginx x3, resolved LLMNR x2)", exposedInfo)
	}
}

func ids(fs []report.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+":"+f.Severity.String())
	}
	return out
}

func TestRules(t *testing.T) {
	withExe := func(p process.Process, f func(*process.Process)) process.Process { f(&p); return p }
	container := &process.Container{Runtime: "docker", ID: "abc123", Name: "web"}
	tests := []struct {
		name string
		sock report.Socket
		cfg  func(*Config)
		dirs fixedDirs
		want []string
	}{
		{
			name: "the 3302 example: deleted exe in /tmp, wildcard, unrelated holder",
			sock: listener("tcp", "0.0.0.0", 3302, withExe(proc(4121, "x", "/tmp/.x/x", "www-data"), func(p *process.Process) { p.ExeDeleted = true })),
			want: []string{"exe-deleted:high", "exe-writable-dir:high", "exposed:medium", "registered-mismatch:info"},
		},
		{
			name: "loopback debug server: not exposed, only unpackaged",
			sock: listener("tcp", "127.0.0.1", 3302, proc(10, "devserver", "/usr/local/bin/devserver", "root")),
			want: []string{"exe-unpackaged:low", "registered-mismatch:info"},
		},
		{
			name: "v4-mapped loopback is loopback",
			sock: listener("tcp", "::ffff:127.0.0.1", 5432, proc(700, "postgres", "/usr/lib/postgresql/15/bin/postgres", "postgres")),
		},
		{
			name: "specific non-loopback address",
			sock: listener("tcp", "192.0.2.10", 5432, proc(700, "postgres", "/usr/lib/postgresql/15/bin/postgres", "postgres")),
			want: []string{"exposed:medium"},
		},
		{
			name: "sshd binary copied to /tmp is not the allowed sshd",
			sock: listener("tcp", "0.0.0.0", 22, proc(9, "sshd", "/tmp/sshd", "root")),
			want: []string{"exe-writable-dir:high", "exposed:medium"},
		},
		{
			name: "wildcard in a container namespace is low and says so",
			sock: func() report.Socket {
				s := listener("tcp", "0.0.0.0", 8080, withExe(proc(50, "app", "/app/server", "root"), func(p *process.Process) { p.Container = container }))
				s.NetNS = sockets.NetNS{Inode: 4026532999, Label: "web"}
				return s
			}(),
			want: []string{"exposed:low", "unregistered:info"},
		},
		{
			name: "kernel thread name on a userland binary",
			sock: listener("tcp", "127.0.0.1", 5432, proc(60, "[kworker/0:1]", "/usr/lib/postgresql/15/bin/postgres", "postgres")),
			want: []string{"masquerade:high"},
		},
		{
			name: "daemon name on another binary",
			sock: listener("tcp", "127.0.0.1", 22, proc(61, "sshd", "/usr/bin/python3.11", "root")),
			want: []string{"masquerade:high", "shell-listener:high"},
		},
		{
			name: "comm truncated to 15 bytes is not a disguise",
			sock: listener("udp", "127.0.0.53", 53, proc(62, "systemd-resolve", "/usr/lib/systemd/systemd-resolved", "systemd-resolve")),
		},
		{
			name: "python listener",
			sock: listener("tcp", "127.0.0.1", 8000, proc(70, "python3", "/usr/bin/python3.11", "alice", "python3", "-m", "http.server")),
			want: []string{"shell-listener:high", "unregistered:info"},
		},
		{
			name: "python listener allowed by name",
			sock: listener("tcp", "127.0.0.1", 8000, proc(70, "python3", "/usr/bin/python3.11", "alice", "python3", "-m", "http.server")),
			cfg:  func(c *Config) { c.AllowedShells = []string{"python3"} },
			want: []string{"unregistered:info"},
		},
		{
			name: "nc listener",
			sock: listener("tcp", "0.0.0.0", 4444, proc(71, "nc", "/usr/bin/nc.openbsd", "root", "nc", "-lvp", "4444")),
			want: []string{"shell-listener:high", "exposed:medium", "unregistered:info"},
		},
		{
			name: "busybox httpd is a web server, not a shell",
			sock: listener("tcp", "127.0.0.1", 80, proc(72, "httpd", "/bin/busybox", "root", "httpd", "-f")),
		},
		{
			name: "user-owned directory",
			sock: listener("tcp", "127.0.0.1", 9100, proc(73, "node_exporter", "/home/alice/bin/node_exporter", "alice")),
			dirs: fixedDirs{"/home/alice/bin": {Mode: fs.ModeDir | 0o755, UID: 1000}},
			want: []string{"exe-writable-dir:high", "unregistered:info"},
		},
		{
			name: "trusted directory",
			sock: listener("tcp", "127.0.0.1", 9100, proc(73, "node_exporter", "/home/alice/bin/node_exporter", "alice")),
			dirs: fixedDirs{"/home/alice/bin": {Mode: fs.ModeDir | 0o755, UID: 1000}},
			cfg:  func(c *Config) { c.TrustedDirs = []string{"/home/*/bin"} },
			want: []string{"exe-unpackaged:low", "unregistered:info"},
		},
		{
			name: "world-writable parent without sticky bit",
			sock: listener("tcp", "127.0.0.1", 9100, proc(74, "agent", "/srv/drop/bin/agent", "root")),
			dirs: fixedDirs{"/srv/drop": {Mode: fs.ModeDir | 0o777}},
			want: []string{"exe-writable-dir:high", "unregistered:info"},
		},
		{
			name: "container executable is not looked up in the host's dpkg",
			sock: listener("tcp", "127.0.0.1", 5432, withExe(proc(75, "postgres", "/usr/lib/postgresql/16/bin/postgres", "postgres"), func(p *process.Process) { p.Container = container })),
		},
		{
			name: "unowned NFS",
			sock: listener("tcp", "0.0.0.0", 2049),
			want: []string{"exposed:medium", "no-owner:info"},
		},
		{
			name: "unowned unknown port",
			sock: listener("tcp", "127.0.0.1", 31337),
			want: []string{"no-owner:medium", "unregistered:info"},
		},
		{
			name: "registry records unauthorized use",
			sock: listener("tcp", "127.0.0.1", 12345, proc(76, "italkd", "/usr/sbin/italkd", "root")),
			want: []string{"registry-unauthorized:info"},
		},
		{
			name: "ignore and severity overrides",
			sock: listener("tcp", "0.0.0.0", 3302, proc(77, "x", "/tmp/x", "root")),
			cfg: func(c *Config) {
				c.Ignore = []string{IDRegisteredMismatch}
				c.Severity = map[string]report.Severity{IDExposed: report.SeverityHigh}
			},
			want: []string{"exe-writable-dir:high", "exposed:high"},
		},
		{
			name: "established sockets get only process findings",
			sock: func() report.Socket {
				s := listener("tcp", "10.0.0.5", 40000, proc(78, "x", "/tmp/x", "root"))
				s.State = "ESTAB"
				s.RemoteAddr, s.RemotePort = netip.MustParseAddr("198.51.100.7"), 443
				return s
			}(),
			want: []string{"exe-writable-dir:high"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			a := New(cfg, stockPackages(), tt.dirs, testRegistry())
			socks := []report.Socket{tt.sock}
			a.Annotate(socks)
			if diff := cmp.Diff(tt.want, ids(socks[0].Findings)); diff != "" {
				for _, f := range socks[0].Findings {
					t.Logf("%s: %s / %s", f.ID, f.Title, f.Evidence)
				}
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			for _, f := range socks[0].Findings {
				if f.Title == "" || f.Why == "" || f.Evidence == "" || strings.Contains(f.Title, "\n") {
					t.Errorf("finding %s lacks a one-line title, why or evidence: %+v", f.ID, f)
				}
			}
		})
	}
}

func TestNoPackageManagerIsANote(t *testing.T) {
	a := New(DefaultConfig(), nil, nil, nil)
	socks := []report.Socket{listener("tcp", "127.0.0.1", 8080, proc(5, "app", "/opt/app/app", "root"))}
	a.Annotate(socks)
	if len(socks[0].Findings) != 0 {
		t.Errorf("findings without lookups: %v", ids(socks[0].Findings))
	}
	if len(a.Notes()) != 1 || !strings.Contains(a.Notes()[0], "exe-unpackaged not judged") {
		t.Errorf("notes = %q", a.Notes())
	}
}

func TestExposedNamesDualStack(t *testing.T) {
	s := listener("tcp", "::", 8080, proc(5, "app", "/opt/app/app", "root"))
	got, ok := exposure(&s, &Config{}, nil, nil)
	if !ok || !strings.Contains(got.Evidence, "dual-stack") {
		t.Fatalf("exposure = %+v", got)
	}
	s.V6Only = true
	got, _ = exposure(&s, &Config{}, func(*report.Socket) bool { return true }, nil)
	if strings.Contains(got.Evidence, "dual-stack") || got.Severity != report.SeverityInfo {
		t.Errorf("v6only allowed exposure = %+v", got)
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct {
		in      string
		want    PortRange
		wantErr bool
	}{
		{"22", PortRange{22, 22}, false},
		{"1024-2048", PortRange{1024, 2048}, false},
		{"0", PortRange{}, true},
		{"65536", PortRange{}, true},
		{"20-10", PortRange{}, true},
		{"http", PortRange{}, true},
		{"-5", PortRange{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortRange(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
