package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portwho/portwho/internal/childproc"
	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// TestPortHelperProcess is not a test: started by listenerChild with
// PORTWHO_PORT_HELPER=1, it listens on 127.0.0.1:0, prints the port and
// holds it until its stdin closes.
func TestPortHelperProcess(t *testing.T) {
	if os.Getenv("PORTWHO_PORT_HELPER") != "1" {
		return
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	childproc.Ready(ln.Addr().(*net.TCPAddr).Port)
	os.Exit(0)
}

// listenerChild starts exe (the test binary or a copy of it) as a listening
// child with extra arguments and returns it with its port.
func listenerChild(t *testing.T, exe string, args ...string) (*exec.Cmd, uint16) {
	t.Helper()
	cmd := exec.Command(exe, append([]string{"-test.run=^TestPortHelperProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "PORTWHO_PORT_HELPER=1")
	c := childproc.Start(t, cmd)
	return cmd, c.Port(t)
}

func needLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc and sock_diag")
	}
}

// testPortOpts runs the root command's work with in-memory streams.
func testPortOpts(args ...string) (*PortOptions, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	f := NewFactory(strings.NewReader(""), &out, &errOut)
	f.Getenv = func(string) string { return "" }
	return &PortOptions{IO: f.IO, Factory: f, Args: args, EtcServices: "/nonexistent"}, &out, &errOut
}

func TestPortRunChildListener(t *testing.T) {
	needLinux(t)
	cmd, port := listenerChild(t, os.Args[0], "serve", "--flag")
	exe, _ := os.Executable()
	arg := strconv.Itoa(int(port))

	t.Run("human", func(t *testing.T) {
		opts, out, _ := testPortOpts(arg)
		if err := portRun(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		for _, want := range []string{
			"On this host:",
			fmt.Sprintf("tcp  127.0.0.1:%d  LISTEN  ", port),
			fmt.Sprintf("  pid %d  ", cmd.Process.Pid),
			os.Args[0] + " -test.run=^TestPortHelperProcess$ -- serve --flag",
			fmt.Sprintf(" %d ← ", os.Getpid()),
			"ago)",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("output lacks %q:\n%s", want, got)
			}
		}
		if os.Args[0] != exe && !strings.Contains(got, "exe "+exe) {
			t.Errorf("output lacks the exe %q:\n%s", exe, got)
		}
	})
	t.Run("json", func(t *testing.T) {
		opts, out, _ := testPortOpts(arg + "/tcp")
		opts.JSON = true
		if err := portRun(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Port     uint16          `json:"port"`
			Registry json.RawMessage `json:"registry"`
			Sockets  []report.Socket `json:"sockets"`
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		// On a busy host another connection may use the port as its
		// ephemeral end; the listener is the child's.
		var listeners []report.Socket
		for _, s := range got.Sockets {
			if s.State == "LISTEN" && s.LocalAddr == netip.MustParseAddr("127.0.0.1") {
				listeners = append(listeners, s)
			}
		}
		if got.Port != port || len(got.Registry) == 0 || len(listeners) != 1 {
			t.Fatalf("port %d registry %s listeners %d; want %d, an answer, 1", got.Port, got.Registry, len(listeners), port)
		}
		s := listeners[0]
		if s.Protocol != "tcp" || s.LocalAddr != netip.MustParseAddr("127.0.0.1") || s.LocalPort != port || s.Owner != report.OwnerKnown || len(s.Processes) != 1 {
			t.Fatalf("socket %+v", s)
		}
		p := s.Processes[0]
		if p.PID != cmd.Process.Pid || p.Exe != exe || p.ExeDeleted || p.StartTime.IsZero() || len(p.Cmdline) != 5 || p.Cmdline[4] != "--flag" {
			t.Errorf("process %+v", p)
		}
	})
	t.Run("listing with --pid", func(t *testing.T) {
		opts, out, _ := testPortOpts()
		opts.TCP, opts.PID = true, cmd.Process.Pid
		if err := portRun(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "SEV") {
			t.Fatalf("want a header and one row:\n%s", out)
		}
		f := strings.Fields(lines[1])
		// f[0] is the severity column, which assessment fills.
		want := []string{"tcp", fmt.Sprintf("127.0.0.1:%d", port), "LISTEN"}
		if diff := cmp.Diff(want, f[1:4]); diff != "" || !slices.Contains(f, strconv.Itoa(cmd.Process.Pid)) {
			t.Errorf("row %q (-want +got):\n%s", lines[1], diff)
		}
	})
	t.Run("listing --json filtered to nothing exits 1", func(t *testing.T) {
		opts, out, _ := testPortOpts()
		opts.JSON, opts.Process = true, "no-such-process-name"
		err := portRun(context.Background(), opts)
		var se *SilentExit
		if !errors.As(err, &se) || se.Code != ExitNotFound {
			t.Fatalf("err = %v, want exit %d", err, ExitNotFound)
		}
		if out.String() != "{\"sockets\":[]}\n" {
			t.Errorf("output %q", out)
		}
	})
}

func TestPortRunHostileProcess(t *testing.T) {
	needLinux(t)
	// The executable's name becomes the process name (comm): a file name
	// may hold an escape sequence, and so may the command line.
	evil := filepath.Join(t.TempDir(), "e\x1b[31mvil")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyExecutable(t, self, evil)
	_, port := listenerChild(t, evil, "\x1b]0;pwned\x07", "\u202eexe.txt")
	opts, out, _ := testPortOpts(strconv.Itoa(int(port)))
	if err := portRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.ContainsAny(got, "\x1b\x07\u202e") {
		t.Errorf("raw control characters reached the output:\n%q", got)
	}
	for _, want := range []string{`e\x1b[31mvil`, `\x1b]0;pwned\x07`, `\u202eexe.txt`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks escaped %q:\n%s", want, got)
		}
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestParsePortArg(t *testing.T) {
	dir := t.TempDir()
	services := filepath.Join(dir, "services")
	if err := os.WriteFile(services, []byte("# local\nmyapp\t7777/tcp\tmy-app-alias # ours\nmyapp\t7777/udp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := registry.Embedded()
	tests := []struct {
		arg     string
		want    portTarget
		wantErr bool
	}{
		{"3302", portTarget{ports: []uint16{3302}}, false},
		{"53/udp", portTarget{ports: []uint16{53}, proto: "udp"}, false},
		{"53/TCP", portTarget{ports: []uint16{53}, proto: "tcp"}, false},
		{"ssh", portTarget{ports: []uint16{22}}, false},
		{"mcs-fastmail/tcp", portTarget{ports: []uint16{3302}, proto: "tcp"}, false},
		{"my-app-alias", portTarget{ports: []uint16{7777}}, false},
		{"myapp/udp", portTarget{ports: []uint16{7777}, proto: "udp"}, false},
		{"0", portTarget{}, true},
		{"65536", portTarget{}, true},
		{"22/sctp", portTarget{}, true},
		{"/tcp", portTarget{}, true},
		{"no-such-service-anywhere", portTarget{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			got, err := parsePortArg(reg, tt.arg, services)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(portTarget{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFilterSockets(t *testing.T) {
	docker := &process.Container{Runtime: "docker", ID: strings.Repeat("ab", 32)}
	mk := func(name string, ns sockets.NetNS, uid uint32, procs ...process.Process) report.Socket {
		return report.Socket{Socket: sockets.Socket{Protocol: "tcp", State: name, NetNS: ns, UID: uid}, Processes: procs}
	}
	host := sockets.NetNS{Inode: 1, Host: true}
	socks := []report.Socket{
		mk("nginx", host, 0, process.Process{PID: 10, Name: "nginx", User: "www-data", UID: 33, Exe: "/usr/sbin/nginx"}),
		mk("python", host, 1000, process.Process{PID: 20, Name: "python3", User: "alice", UID: 1000, Cmdline: []string{"/usr/bin/python3.12"}}),
		mk("in-container", host, 0, process.Process{PID: 30, Name: "redis-server", User: "999", UID: 999, Container: docker}),
		mk("other-netns", sockets.NetNS{Inode: 2}, 0),
		mk("hidden", host, 1000),
	}
	tests := []struct {
		name string
		opts PortOptions
		want []string
	}{
		{"no filter", PortOptions{}, []string{"nginx", "python", "in-container", "other-netns", "hidden"}},
		{"pid", PortOptions{PID: 20}, []string{"python"}},
		{"user by name", PortOptions{User: "www-data"}, []string{"nginx"}},
		{"user by uid, also for hidden owners", PortOptions{User: "1000"}, []string{"python", "hidden"}},
		{"process by comm", PortOptions{Process: "nginx"}, []string{"nginx"}},
		{"process by argv[0]", PortOptions{Process: "python3.12"}, []string{"python"}},
		{"container", PortOptions{Container: true}, []string{"in-container", "other-netns"}},
		{"combined", PortOptions{Container: true, Process: "redis-server"}, []string{"in-container"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]report.Socket(nil), socks...)
			var got []string
			for _, s := range filterSockets(in, &tt.opts) {
				got = append(got, s.State)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteListing(t *testing.T) {
	s := func(proto, addr string, port uint16, v6only bool) sockets.Socket {
		return sockets.Socket{Protocol: proto, LocalAddr: netip.MustParseAddr(addr), LocalPort: port, State: "LISTEN", V6Only: v6only, NetNS: sockets.NetNS{Inode: 1, Host: true}}
	}
	socks := []report.Socket{
		{Socket: s("tcp", "::", 22, false), Service: "ssh", Owner: report.OwnerKnown,
			Processes: []process.Process{{PID: 900, Name: "sshd", User: "root"}, {PID: 901, Name: "sshd", User: "root"}}},
		{Socket: s("tcp", "::", 80, true), Owner: report.OwnerHidden, Findings: []report.Finding{{Severity: report.SeverityLow}, {Severity: report.SeverityHigh}}},
		{Socket: s("udp", "0.0.0.0", 3302, false), Service: "mcs-fastmail", Owner: report.OwnerKnown,
			Processes: []process.Process{{PID: 4121, Name: "evil\x1b[2J", User: "www-data", Container: &process.Container{Runtime: "docker", ID: strings.Repeat("ab", 32)}}}},
	}
	var out bytes.Buffer
	if err := writeListing(&out, (&IOStreams{}).Style(), socks); err != nil {
		t.Fatal(err)
	}
	want := `SEV   PROTO  ADDRESS           STATE   SERVICE       PID       PROCESS                    USER      CONTAINER
-     tcp    [::]:22           LISTEN  ssh           900 (+1)  sshd                       root      -
HIGH  tcp    [::]:80 (v6only)  LISTEN  -             -         owner hidden: run as root  -         -
-     udp    0.0.0.0:3302      LISTEN  mcs-fastmail  4121      evil\x1b[2J                www-data  docker:abababababab
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWriteHostSection(t *testing.T) {
	now := time.Date(2026, 11, 29, 18, 13, 0, 0, time.Local)
	p := process.Process{
		PID: 4121, Name: "python3", User: "www-data",
		Cmdline:   []string{"/usr/bin/python3", "-m", "http.server", "3302"},
		Exe:       "/usr/bin/python3.12",
		StartTime: time.Date(2026, 11, 29, 18, 1, 0, 0, time.Local),
		Parents:   []process.Ancestor{{PID: 4100, Name: "bash"}, {PID: 3900, Name: "sshd"}},
		Unit:      "user@1000.service",
	}
	socks := []report.Socket{
		{Socket: sockets.Socket{Protocol: "tcp", LocalAddr: netip.MustParseAddr("0.0.0.0"), LocalPort: 3302, State: "LISTEN", NetNS: sockets.NetNS{Host: true}},
			Owner: report.OwnerKnown, Processes: []process.Process{p}},
		{Socket: sockets.Socket{Protocol: "tcp", LocalAddr: netip.MustParseAddr("10.0.0.5"), LocalPort: 51000, RemoteAddr: netip.MustParseAddr("10.0.0.9"), RemotePort: 3302,
			State: "ESTAB", UID: 1000, Inode: 77, NetNS: sockets.NetNS{Inode: 9, Label: "blue"}}, Owner: report.OwnerHidden},
		{Socket: sockets.Socket{Protocol: "udp", LocalAddr: netip.MustParseAddr("::"), LocalPort: 3302, State: "UNCONN", NetNS: sockets.NetNS{Host: true}},
			Owner: report.OwnerKnown, Processes: []process.Process{{PID: 50, Name: "pre\x1bfork", User: "root"}, {PID: 51, Name: "worker", User: "nobody"}}},
		{Socket: sockets.Socket{Protocol: "tcp", LocalAddr: netip.MustParseAddr("127.0.0.1"), LocalPort: 3302, RemoteAddr: netip.MustParseAddr("127.0.0.1"), RemotePort: 40000, State: "TIME-WAIT"}, Owner: report.OwnerNone},
		{Socket: sockets.Socket{Protocol: "tcp", LocalAddr: netip.MustParseAddr("127.0.0.1"), LocalPort: 40001, RemoteAddr: netip.MustParseAddr("127.0.0.1"), RemotePort: 3302, State: "TIME-WAIT"}, Owner: report.OwnerNone},
	}
	var out bytes.Buffer
	if err := writeHostSection(&out, (&IOStreams{}).Style(), now, &portTarget{ports: []uint16{3302}}, socks); err != nil {
		t.Fatal(err)
	}
	want := `On this host:
  tcp  0.0.0.0:3302  LISTEN  pid 4121  python3  user www-data
       /usr/bin/python3 -m http.server 3302
       exe /usr/bin/python3.12
       started 2026-11-29 18:01 (12m ago) · parent bash 4100 ← sshd 3900 · unit user@1000.service
  tcp  10.0.0.5:51000 ↔ 10.0.0.9:3302  ESTAB  in blue  owner hidden: run as root
  udp  [::]:3302  UNCONN  pid 50  pre\x1bfork  user root
       also held by pid 51  worker  user nobody
  and 2 closed connections in TIME-WAIT, held by the kernel alone (--json lists them)
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	out.Reset()
	if err := writeHostSection(&out, (&IOStreams{}).Style(), now, &portTarget{ports: []uint16{22, 2222}}, nil); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "On this host: nothing uses port 22, 2222.\n" {
		t.Errorf("got %q", got)
	}
}

func TestAge(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                    "0s",
		45 * time.Second:                "45s",
		12 * time.Minute:                "12m",
		3*time.Hour + 5*time.Minute:     "3h5m",
		4*24*time.Hour + 2*time.Hour:    "4d2h",
		400*24*time.Hour + 30*time.Hour: "401d6h",
	} {
		if got := age(d); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestWriteReportJSON(t *testing.T) {
	socks := []report.Socket{
		{Socket: sockets.Socket{Protocol: "tcp", LocalAddr: netip.MustParseAddr("::"), LocalPort: 22, State: "LISTEN"}, Owner: report.OwnerHidden,
			Processes: []process.Process{}, Findings: []report.Finding{}},
		{Socket: sockets.Socket{Protocol: "udp", LocalAddr: netip.MustParseAddr("127.0.0.1"), LocalPort: 53, State: "UNCONN"}, Owner: report.OwnerNone,
			Processes: []process.Process{{PID: 7, Name: "evil\x1b[2J", Cmdline: []string{"a\x00b"}}}, Findings: []report.Finding{}},
	}
	head := struct {
		Port uint16 `json:"port"`
	}{22}
	for _, tty := range []bool{false, true} {
		t.Run(fmt.Sprintf("tty=%v", tty), func(t *testing.T) {
			var out bytes.Buffer
			if err := writeReportJSON(&IOStreams{Out: &out, OutTTY: tty}, head, socks); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Port    uint16          `json:"port"`
				Sockets []report.Socket `json:"sockets"`
			}
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("%v:\n%s", err, out.String())
			}
			if got.Port != 22 {
				t.Errorf("port = %d", got.Port)
			}
			if diff := cmp.Diff(socks, got.Sockets, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if strings.ContainsAny(out.String(), "\x1b\x00") {
				t.Errorf("raw control characters in JSON: %q", out.String())
			}
			if indented := strings.Contains(out.String(), "\n  \"sockets\": ["); indented != tty {
				t.Errorf("indented = %v, want %v:\n%s", indented, tty, out.String())
			}
		})
	}
	var out bytes.Buffer
	if err := writeReportJSON(&IOStreams{Out: &out}, struct{}{}, nil); err != nil || out.String() != "{\"sockets\":[]}\n" {
		t.Errorf("empty listing: %q, %v", out.String(), err)
	}
}

// TestPortHelperNonRoot is not a test: started by TestPortRunWithoutRoot as
// an unprivileged user, it runs portwho PORT and prints what it wrote.
func TestPortHelperNonRoot(t *testing.T) {
	port := os.Getenv("PORTWHO_NONROOT_PORT")
	if port == "" {
		return
	}
	opts, out, errOut := testPortOpts(port)
	err := portRun(context.Background(), opts)
	fmt.Printf("err=%v\n%s%s", err, out, errOut)
	os.Exit(0)
}

func TestPortRunWithoutRoot(t *testing.T) {
	needLinux(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a child as another user")
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	// The test binary's directory is private to root; copy it where
	// nobody can run it.
	dir, err := os.MkdirTemp("", "portwho-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cli.test")
	copyExecutable(t, self, bin)
	cmd := exec.Command(bin, "-test.run=^TestPortHelperNonRoot$")
	cmd.Env = append(os.Environ(), "PORTWHO_NONROOT_PORT="+strconv.Itoa(port), "HOME="+dir)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	got := string(out)
	if !strings.HasPrefix(got, "err=<nil>\n") {
		t.Errorf("portwho PORT failed without root:\n%s", got)
	}
	for _, want := range []string{fmt.Sprintf("tcp  127.0.0.1:%d  LISTEN  ", port), "owner hidden: run as root"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
