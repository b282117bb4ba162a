package assess

// Real reproductions: each finding is produced by a real process holding a
// real socket, found by the real collector, judged with the real dpkg
// database, directory stats and IANA registry. The helper process is this
// test binary, re-executed (and copied or renamed as a case needs) with
// PORTWHO_ASSESS_HELPER set.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/portwho/portwho/internal/childproc"
	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

func TestMain(m *testing.M) {
	if os.Getenv("PORTWHO_ASSESS_HELPER") == "listen" {
		os.Exit(helperListen())
	}
	os.Exit(m.Run())
}

// helperListen renames itself if asked (prctl on the main thread, which
// is what ps and /proc/PID/comm show), listens, prints the port, and
// holds the socket until stdin closes.
func helperListen() int {
	runtime.LockOSThread()
	if name := os.Getenv("PORTWHO_HELPER_NAME"); name != "" {
		if unix.Gettid() != unix.Getpid() {
			fmt.Fprintln(os.Stderr, "helper: not on the main thread, cannot rename the process")
			return 3
		}
		b := append([]byte(name), 0)
		if err := unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "helper: prctl:", err)
			return 3
		}
	}
	ln, err := net.Listen("tcp", os.Getenv("PORTWHO_HELPER_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	childproc.Ready(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return 0
}

// helper is a started listener.
type helper struct {
	pid  int
	port uint16
}

// startListener runs exe (this test binary or a copy) as a listener on
// addr, renamed to name when name is not "".
func startListener(t *testing.T, exe, addr, name string) helper {
	t.Helper()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "PORTWHO_ASSESS_HELPER=listen", "PORTWHO_HELPER_ADDR="+addr, "PORTWHO_HELPER_NAME="+name)
	return startCmd(t, cmd)
}

// startCmd starts a listener that prints its port on stdout and exits when
// stdin closes, and stops it at cleanup.
func startCmd(t *testing.T, cmd *exec.Cmd) helper {
	t.Helper()
	c, err := childproc.TryStart(t, cmd)
	var nr *childproc.NotReadyError
	if errors.As(err, &nr) && strings.Contains(nr.Stderr, "address already in use") {
		t.Skipf("port taken by something else on this machine: %s", nr.Stderr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return helper{pid: c.Pid(), port: c.Port(t)}
}

// copyExe copies this test binary into dir (under /tmp) as name.
func copyExe(t *testing.T, dir, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// collectHeld is the real collector's view of the listening socket that
// h holds.
func collectHeld(t *testing.T, h helper) report.Socket {
	t.Helper()
	c := &report.Collector{}
	socks, err := c.Collect(context.Background(), sockets.Query{Port: h.port, TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if s.LocalPort == h.port && slices.ContainsFunc(s.Processes, func(p process.Process) bool { return p.PID == h.pid }) {
			return s
		}
	}
	t.Fatalf("collector did not find pid %d's listener on port %d among %d sockets", h.pid, h.port, len(socks))
	return report.Socket{}
}

// realRegistry is the embedded IANA registry as the CLI adapts it.
func realRegistry() Registry {
	reg := registry.Embedded()
	return RegistryFunc(func(port uint16, proto string) []Registration {
		var out []Registration
		for _, e := range reg.Port(port, proto) {
			if e.Service == "" && e.Unauthorized == "" {
				continue
			}
			r := Registration{Service: e.Service, Description: e.Description}
			if e.Unauthorized != "" {
				r.Unauthorized = []string{e.Unauthorized}
			}
			out = append(out, r)
		}
		return out
	})
}

func realAssessor() *Assessor {
	return New(DefaultConfig(), DetectPackages("/"), NewStatDirs("/proc"), realRegistry())
}

func findingByID(fs []report.Finding, id string) (report.Finding, bool) {
	for _, f := range fs {
		if f.ID == id {
			return f, true
		}
	}
	return report.Finding{}, false
}

// want asserts that id is among fs at sev with evidence containing ev.
func want(t *testing.T, fs []report.Finding, id string, sev report.Severity, ev string) {
	t.Helper()
	f, ok := findingByID(fs, id)
	if !ok {
		t.Errorf("no %s finding; got %v", id, ids(fs))
		return
	}
	if f.Severity != sev {
		t.Errorf("%s: severity %s, want %s", id, f.Severity, sev)
	}
	if !strings.Contains(f.Evidence+" "+f.Title, ev) {
		t.Errorf("%s: evidence %q / title %q lacks %q", id, f.Evidence, f.Title, ev)
	}
}

func wantNo(t *testing.T, fs []report.Finding, id string) {
	t.Helper()
	if f, ok := findingByID(fs, id); ok {
		t.Errorf("unexpected %s finding: %s (%s)", id, f.Title, f.Evidence)
	}
}

func TestRealExecutableFindings(t *testing.T) {
	dir := t.TempDir() // under /tmp: world-writable, not packaged
	exe := copyExe(t, dir, "helper")

	t.Run("copied into /tmp, wildcard bind", func(t *testing.T) {
		h := startListener(t, exe, "0.0.0.0:0", "")
		s := collectHeld(t, h)
		fs := realAssessor().Assess(&s)
		want(t, fs, IDExeWritableDir, report.SeverityHigh, exe)
		want(t, fs, IDExposed, report.SeverityMedium, "listening on every interface")
		wantNo(t, fs, IDExeUnpackaged) // said louder by exe-writable-dir
		wantNo(t, fs, IDExeDeleted)
		wantNo(t, fs, IDMasquerade)
	})

	t.Run("loopback bind is not exposed", func(t *testing.T) {
		h := startListener(t, exe, "127.0.0.1:0", "")
		s := collectHeld(t, h)
		fs := realAssessor().Assess(&s)
		wantNo(t, fs, IDExposed)
		want(t, fs, IDExeWritableDir, report.SeverityHigh, "/tmp")
	})

	t.Run("deleted while running", func(t *testing.T) {
		gone := copyExe(t, dir, "gone")
		h := startListener(t, gone, "127.0.0.1:0", "")
		if err := os.Remove(gone); err != nil {
			t.Fatal(err)
		}
		s := collectHeld(t, h)
		fs := realAssessor().Assess(&s)
		want(t, fs, IDExeDeleted, report.SeverityHigh, gone+" (deleted)")
		wantNo(t, fs, IDExeUnpackaged) // already high; nothing to look up
	})

	t.Run("renamed to a kernel thread", func(t *testing.T) {
		h := startListener(t, exe, "127.0.0.1:0", "[kworker/0:1]")
		s := collectHeld(t, h)
		if s.Processes[0].Name != "[kworker/0:1]" {
			t.Fatalf("process name %q: prctl did not take", s.Processes[0].Name)
		}
		fs := realAssessor().Assess(&s)
		want(t, fs, IDMasquerade, report.SeverityHigh, `"[kworker/0:1]"`)
	})

	t.Run("renamed like sshd", func(t *testing.T) {
		h := startListener(t, exe, "127.0.0.1:0", "sshd")
		s := collectHeld(t, h)
		fs := realAssessor().Assess(&s)
		want(t, fs, IDMasquerade, report.SeverityHigh, "like the sshd daemon")
	})
}

// TestRealShellListener: a python3 -c one-liner holding a listener, as a
// bind shell or a quick exfiltration server would.
func TestRealShellListener(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	cmd := exec.Command(py, "-c", `import socket,sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
sys.stdin.read()`)
	h := startCmd(t, cmd)
	s := collectHeld(t, h)
	fs := realAssessor().Assess(&s)
	want(t, fs, IDShellListener, report.SeverityHigh, "python")
	wantNo(t, fs, IDMasquerade)

	cfg := DefaultConfig()
	cfg.AllowedShells = []string{s.Processes[0].Name}
	a := New(cfg, nil, nil, nil)
	wantNo(t, a.Assess(&s), IDShellListener)
}

func TestRealRegistryFindings(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A loopback address of its own keeps these fixed ports clear of
	// anything else on 127.0.0.1.
	const addr = "127.88.0.7"
	tests := []struct {
		name string
		port int
		id   string
		ev   string
	}{
		{"the ghost registration", 3302, IDRegisteredMismatch, "mcs-fastmail (MCS Fastmail)"},
		{"unauthorized use on record", 106, IDRegistryUnauthorized, "Known Unauthorized Use on 106"},
		{"unassigned port", 24999, IDUnregistered, "no IANA service on this port over tcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.port < 1024 && os.Geteuid() != 0 {
				t.Skip("binding a port below 1024 needs root")
			}
			h := startListener(t, exe, addr+":"+strconv.Itoa(tt.port), "")
			s := collectHeld(t, h)
			fs := realAssessor().Assess(&s)
			want(t, fs, tt.id, report.SeverityInfo, tt.ev)
		})
	}
}

// TestRealKernelSocket: a VXLAN device makes the kernel itself listen on
// UDP with no process holding the socket. It is created in a network
// namespace of the test's own, so the host is untouched.
func TestRealKernelSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 (ip) not installed")
	}
	ns := fmt.Sprintf("pwassess-%d", os.Getpid())
	run := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := run("netns", "add", ns); err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { run("netns", "del", ns) })
	if err := run("-n", ns, "link", "set", "lo", "up"); err != nil {
		t.Fatal(err)
	}
	for _, dev := range []struct {
		name string
		port string
	}{{"vx0", "4789"}, {"vx1", "31999"}} {
		if err := run("-n", ns, "link", "add", dev.name, "type", "vxlan", "id", "42"+dev.port[:1], "dstport", dev.port, "local", "127.0.0.1"); err != nil {
			t.Skipf("no vxlan support: %v", err)
		}
		if err := run("-n", ns, "link", "set", dev.name, "up"); err != nil {
			t.Fatal(err)
		}
	}
	c := &report.Collector{}
	socks, err := c.Collect(context.Background(), sockets.Query{UDP: true, AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint16]report.Socket{}
	for _, s := range socks {
		if s.NetNS.Label == ns {
			got[s.LocalPort] = s
		}
	}
	known, ok := got[4789]
	if !ok {
		t.Fatalf("no VXLAN socket in netns %s: %d sockets in all", ns, len(socks))
	}
	switch known.Owner {
	case report.OwnerNone:
	case report.OwnerUnknown:
		// Some machines (sandboxes, other user namespaces) run processes
		// whose descriptors even root cannot read; the collector then
		// rightly says "unknown", not "none". The socket is still the
		// kernel's: judge it as the collector would on a plain host.
		t.Logf("collector says owner unknown (unreadable processes here); judging as owner none")
		known.Owner = report.OwnerNone
		u := got[31999]
		u.Owner = report.OwnerNone
		got[31999] = u
	default:
		t.Fatalf("owner of the kernel's socket = %q, want none", known.Owner)
	}
	fs := realAssessor().Assess(&known)
	want(t, fs, IDNoOwner, report.SeverityInfo, "no process holds it")
	if f, _ := findingByID(fs, IDNoOwner); !strings.Contains(f.Title, "VXLAN") {
		t.Errorf("no-owner title %q does not name VXLAN", f.Title)
	}
	// Bound to 0.0.0.0 inside the namespace: reachable from its network,
	// not the host's interfaces, and said so.
	want(t, fs, IDExposed, report.SeverityLow, "netns "+ns)

	unknown := got[31999]
	fs = realAssessor().Assess(&unknown)
	want(t, fs, IDNoOwner, report.SeverityMedium, "udp 0.0.0.0:31999")
}
