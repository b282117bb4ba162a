package sockets

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// testSockets opens real sockets of every shape List must report and
// returns what each should look like, keyed by inode.
func testSockets(t *testing.T) (listeners, connected map[uint64]Socket) {
	t.Helper()
	listeners, connected = map[uint64]Socket{}, map[uint64]Socket{}
	host := NetNS{Host: true, Label: "host"}
	if ino, err := nsInode("/proc/self/ns/net"); err == nil {
		host.Inode = ino
	}
	v6only := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	add := func(m map[uint64]Socket, c syscall.Conn, s Socket) {
		s.Inode, s.NetNS = sockInode(t, c), host
		s.UID = uint32(os.Geteuid())
		m[s.Inode] = s
		t.Cleanup(func() { c.(interface{ Close() error }).Close() })
	}
	tcp := []struct {
		network, addr string
		lc            net.ListenConfig
		local         netip.Addr
		family        string
		v6only        bool
	}{
		{"tcp4", "127.0.0.1:0", net.ListenConfig{}, lo4, "inet", false},
		{"tcp4", "0.0.0.0:0", net.ListenConfig{}, any4, "inet", false},
		{"tcp6", "[::1]:0", net.ListenConfig{}, lo6, "inet6", true},
		{"tcp", ":0", net.ListenConfig{}, any6, "inet6", false}, // dual-stack ::
		{"tcp6", "[::]:0", v6only, any6, "inet6", true},
	}
	var firstTCP *net.TCPListener
	for _, c := range tcp {
		l, err := c.lc.Listen(context.Background(), c.network, c.addr)
		if err != nil {
			t.Fatalf("listen %s %s: %v", c.network, c.addr, err)
		}
		tl := l.(*net.TCPListener)
		if firstTCP == nil {
			firstTCP = tl
		}
		remote := any4
		if c.family == "inet6" {
			remote = any6
		}
		add(listeners, tl, Socket{Protocol: "tcp", Family: c.family, LocalAddr: c.local,
			LocalPort: uint16(tl.Addr().(*net.TCPAddr).Port), RemoteAddr: remote, State: "LISTEN", V6Only: c.v6only})
	}
	for _, c := range tcp {
		c.network = "udp" + c.network[3:]
		l, err := c.lc.ListenPacket(context.Background(), c.network, c.addr)
		if err != nil {
			t.Fatalf("listen %s %s: %v", c.network, c.addr, err)
		}
		remote := any4
		if c.family == "inet6" {
			remote = any6
		}
		ul := l.(*net.UDPConn)
		add(listeners, ul, Socket{Protocol: "udp", Family: c.family, LocalAddr: c.local,
			LocalPort: uint16(ul.LocalAddr().(*net.UDPAddr).Port), RemoteAddr: remote, State: "UNCONN", V6Only: c.v6only})
	}

	// An established TCP pair and a connected UDP socket, for Query.All.
	lport := uint16(firstTCP.Addr().(*net.TCPAddr).Port)
	cl, err := net.Dial("tcp4", firstTCP.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sv, err := firstTCP.Accept()
	if err != nil {
		t.Fatal(err)
	}
	cport := uint16(cl.LocalAddr().(*net.TCPAddr).Port)
	add(connected, cl.(*net.TCPConn), Socket{Protocol: "tcp", Family: "inet", LocalAddr: lo4, LocalPort: cport,
		RemoteAddr: lo4, RemotePort: lport, State: "ESTAB"})
	add(connected, sv.(*net.TCPConn), Socket{Protocol: "tcp", Family: "inet", LocalAddr: lo4, LocalPort: lport,
		RemoteAddr: lo4, RemotePort: cport, State: "ESTAB"})
	var udpTarget netip.AddrPort
	for _, s := range listeners {
		if s.Protocol == "udp" && s.LocalAddr == lo4 {
			udpTarget = netip.AddrPortFrom(lo4, s.LocalPort)
		}
	}
	uc, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(udpTarget))
	if err != nil {
		t.Fatal(err)
	}
	add(connected, uc, Socket{Protocol: "udp", Family: "inet", LocalAddr: lo4,
		LocalPort: uint16(uc.LocalAddr().(*net.UDPAddr).Port), RemoteAddr: lo4, RemotePort: udpTarget.Port(), State: "ESTAB"})
	return listeners, connected
}

// byInode keeps the listed sockets whose inode is in want.
func byInode(got []Socket, want map[uint64]Socket) map[uint64]Socket {
	out := map[uint64]Socket{}
	for _, s := range got {
		if _, ok := want[s.Inode]; ok && s.Inode != 0 {
			out[s.Inode] = s
		}
	}
	return out
}

func merge(ms ...map[uint64]Socket) map[uint64]Socket {
	out := map[uint64]Socket{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestListRealSockets(t *testing.T) {
	listeners, connected := testSockets(t)
	everything := merge(listeners, connected)
	for _, backend := range []string{BackendNetlink, BackendProcNet} {
		// /proc/net does not say whether a socket is v6-only.
		want := func(m map[uint64]Socket) map[uint64]Socket {
			out := map[uint64]Socket{}
			for k, s := range m {
				if backend == BackendProcNet {
					s.V6Only = false
				}
				out[k] = s
			}
			return out
		}
		s := &Scanner{Backend: backend}
		t.Run(backend+"/listeners", func(t *testing.T) {
			got, err := s.List(testCtx(t), Query{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want(listeners), byInode(got, everything), cmpAddr); diff != "" {
				t.Errorf("listeners (-want +got):\n%s", diff)
			}
		})
		t.Run(backend+"/all", func(t *testing.T) {
			got, err := s.List(testCtx(t), Query{All: true})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want(everything), byInode(got, everything), cmpAddr); diff != "" {
				t.Errorf("sockets (-want +got):\n%s", diff)
			}
		})
		t.Run(backend+"/udp only", func(t *testing.T) {
			got, err := s.List(testCtx(t), Query{All: true, UDP: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, sk := range got {
				if sk.Protocol != "udp" {
					t.Fatalf("asked for UDP, got %+v", sk)
				}
			}
			udp := map[uint64]Socket{}
			for k, sk := range everything {
				if sk.Protocol == "udp" {
					udp[k] = sk
				}
			}
			if diff := cmp.Diff(want(udp), byInode(got, everything), cmpAddr); diff != "" {
				t.Errorf("UDP sockets (-want +got):\n%s", diff)
			}
		})
		t.Run(backend+"/port", func(t *testing.T) {
			// The established pair shares the first listener's port.
			var port uint16
			wantPort := map[uint64]Socket{}
			for ino, sk := range listeners {
				if sk.Protocol == "tcp" && sk.LocalAddr == lo4 {
					port = sk.LocalPort
					wantPort[ino] = sk
				}
			}
			for ino, sk := range connected {
				if sk.Protocol == "tcp" {
					wantPort[ino] = sk
				}
			}
			got, err := s.List(testCtx(t), Query{All: true, Port: port})
			if err != nil {
				t.Fatal(err)
			}
			for _, sk := range got {
				if sk.LocalPort != port && sk.RemotePort != port {
					t.Errorf("port %d asked, got %+v", port, sk)
				}
			}
			if diff := cmp.Diff(want(wantPort), byInode(got, everything), cmpAddr); diff != "" {
				t.Errorf("sockets on port %d (-want +got):\n%s", port, diff)
			}
			got, err = s.List(testCtx(t), Query{Port: port})
			if err != nil {
				t.Fatal(err)
			}
			for _, sk := range got {
				if sk.LocalPort != port || sk.State != "LISTEN" {
					t.Errorf("listeners on port %d asked, got %+v", port, sk)
				}
			}
		})
	}
}

// Both backends must describe the same sockets, V6Only aside.
func TestBackendsAgree(t *testing.T) {
	listeners, connected := testSockets(t)
	everything := merge(listeners, connected)
	var got [2]map[uint64]Socket
	for i, backend := range []string{BackendNetlink, BackendProcNet} {
		s := &Scanner{Backend: backend}
		r, err := s.Scan(testCtx(t), Query{All: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Backend != backend {
			t.Errorf("backend %q reported as %q", backend, r.Backend)
		}
		got[i] = byInode(r.Sockets, everything)
		for k, sk := range got[i] {
			sk.V6Only = false
			got[i][k] = sk
		}
	}
	if len(got[0]) != len(everything) {
		t.Errorf("netlink found %d of the %d test sockets", len(got[0]), len(everything))
	}
	if diff := cmp.Diff(got[0], got[1], cmpAddr); diff != "" {
		t.Errorf("netlink (-) vs procnet (+):\n%s", diff)
	}
}

func TestAutoBackend(t *testing.T) {
	r, err := (&Scanner{}).Scan(testCtx(t), Query{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Backend != BackendNetlink {
		t.Errorf("auto backend = %q, want netlink on this kernel", r.Backend)
	}
	if _, err := (&Scanner{Backend: "bogus"}).Scan(testCtx(t), Query{}); err == nil {
		t.Error("unknown backend accepted")
	}
}

func TestOwnersChildListener(t *testing.T) {
	c := startHelper(t, "listen", nil)
	port := c.port(t)
	socks, err := (&Scanner{}).List(testCtx(t), Query{Port: port, TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 1 || socks[0].Inode == 0 {
		t.Fatalf("listener on port %d: got %+v", port, socks)
	}
	ino := socks[0].Inode
	o, err := (&Scanner{}).Owners(testCtx(t), map[uint64]struct{}{ino: {}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{c.cmd.Process.Pid}, o.Holders[ino]); diff != "" {
		t.Errorf("holders (-want +got):\n%s", diff)
	}
	if os.Geteuid() == 0 && !o.Root {
		t.Error("Root = false for uid 0 with CAP_SYS_PTRACE")
	}
}

// A listener passed to a child (as across fork) has two holders, and both
// must be reported.
func TestOwnersSharedAcrossFork(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File() // a dup: this process holds it twice
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := startHelper(t, "hold", []*os.File{f})
	ino := sockInode(t, l.(*net.TCPListener))
	o, err := (&Scanner{}).Owners(testCtx(t), map[uint64]struct{}{ino: {}})
	if err != nil {
		t.Fatal(err)
	}
	want := []int{os.Getpid(), c.cmd.Process.Pid}
	if want[0] > want[1] {
		want[0], want[1] = want[1], want[0]
	}
	if diff := cmp.Diff(want, o.Holders[ino]); diff != "" {
		t.Errorf("holders (-want +got):\n%s", diff)
	}
}

// Processes that come and go during the walk are skipped without error.
func TestOwnersProcessesExitDuringScan(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ino := sockInode(t, l.(*net.TCPListener))
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Between fork and exec a child holds every descriptor of ours,
	// close-on-exec or not, so our children may show up as holders too.
	var mu sync.Mutex
	children := map[int]bool{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var cmds []*exec.Cmd
			for range 8 {
				cmd := exec.Command(self, "-test.run=^$")
				cmd.Env = append(os.Environ(), helperEnv+"=exit")
				mu.Lock()
				if cmd.Start() == nil {
					cmds = append(cmds, cmd)
					children[cmd.Process.Pid] = true
				}
				mu.Unlock()
			}
			for _, cmd := range cmds {
				_ = cmd.Wait()
			}
		}
	}()
	defer func() { close(stop); <-done }()
	s := &Scanner{}
	for i := range 5 {
		o, err := s.Owners(testCtx(t), map[uint64]struct{}{ino: {}})
		if err != nil {
			t.Fatalf("scan %d: %v", i, err)
		}
		if !slices.Contains(o.Holders[ino], os.Getpid()) {
			t.Fatalf("scan %d: holders %v lack this process %d", i, o.Holders[ino], os.Getpid())
		}
		mu.Lock()
		for _, pid := range o.Holders[ino] {
			if pid != os.Getpid() && !children[pid] {
				t.Errorf("scan %d: holder %d is neither this process nor its child", i, pid)
			}
		}
		mu.Unlock()
	}
}

// A fixture /proc: regular symlinks stand in for fd links, and the walk
// must pick sockets out of them, once per pid, skipping vanished pids.
func TestOwnersFixture(t *testing.T) {
	root := t.TempDir()
	links := map[string]string{
		"100/fd/3": "socket:[555]",
		"100/fd/4": "/dev/null",
		"100/fd/5": "socket:[555]", // a dup: pid 100 is listed once
		"100/fd/6": "pipe:[555]",
		"200/fd/0": "socket:[555]",
		"200/fd/1": "socket:[777]", // not asked for
		"200/fd/2": "socket:[12x]",
		"201/fd/9": "socket:[999]",
	}
	for p, target := range links {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	// 300 exited between readdir and open: no fd directory. 400's fd is
	// not a directory. "self" is not a pid.
	for _, d := range []string{"300", "400"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "400/fd"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("100", filepath.Join(root, "self")); err != nil {
		t.Fatal(err)
	}
	for _, workers := range []int{1, 2} {
		t.Run("workers="+strconv.Itoa(workers), func(t *testing.T) {
			s := &Scanner{ProcRoot: root, ownerWorkers: workers}
			o, err := s.Owners(testCtx(t), map[uint64]struct{}{555: {}, 999: {}, 1: {}})
			if err != nil {
				t.Fatal(err)
			}
			want := map[uint64][]int{555: {100, 200}, 999: {201}}
			if diff := cmp.Diff(want, o.Holders); diff != "" {
				t.Errorf("holders (-want +got):\n%s", diff)
			}
			if o.Unreadable != 0 {
				t.Errorf("Unreadable = %d, want 0", o.Unreadable)
			}
		})
	}
}

// Without the right to read other users' fds, the walk counts those
// processes as unreadable and still finds the caller's own sockets. The
// walk runs in a child started as nobody, from a copy of the test binary
// that nobody may execute.
func TestOwnersUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a child as another user")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "portwho-sockets-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "sockets.test")
	if err := os.WriteFile(copyPath, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copyPath, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=owners")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child as nobody: %v: %s", err, out)
	}
	// "PID HOLDERS UNREADABLE ROOT"
	var pid, holder, unreadable int
	var root bool
	if _, err := fmt.Sscan(string(out), &pid, &holder, &unreadable, &root); err != nil {
		t.Fatalf("child printed %q: %v", out, err)
	}
	if holder != pid {
		t.Errorf("holder of the child's own listener = %d, want %d", holder, pid)
	}
	if unreadable == 0 {
		t.Error("Unreadable = 0 for a scan as nobody; root's processes should be counted")
	}
	if root {
		t.Error("Root = true for nobody")
	}
}

func TestOwnersEmpty(t *testing.T) {
	o, err := (&Scanner{}).Owners(testCtx(t), nil)
	if err != nil || len(o.Holders) != 0 {
		t.Errorf("Owners(nil) = %+v, %v", o, err)
	}
}

// A dump larger than one datagram (about 250 sockets fit in 32 KiB) must be
// read to its end by both backends.
func TestListManySockets(t *testing.T) {
	want := map[uint64]bool{}
	for range 1500 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		want[sockInode(t, c.(*net.UDPConn))] = true
	}
	for _, backend := range []string{BackendNetlink, BackendProcNet} {
		t.Run(backend, func(t *testing.T) {
			got, err := (&Scanner{Backend: backend}).List(testCtx(t), Query{UDP: true})
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for _, s := range got {
				if want[s.Inode] {
					found++
				}
			}
			if found != len(want) {
				t.Errorf("found %d of %d UDP sockets", found, len(want))
			}
		})
	}
}

// Which netlink failures send the auto backend to /proc/net: refusals of
// the facility, not failures of one dump.
func TestRefused(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"seccomp or LSM", &netlink.OpError{Op: "dial", Err: unix.EPERM}, true},
		{"no inet_diag module", fmt.Errorf("receive tcp dump: %w", unix.ENOENT), true},
		{"no sock_diag family", &netlink.OpError{Op: "dial", Err: unix.EPROTONOSUPPORT}, true},
		{"bad request", fmt.Errorf("sock_diag tcp dump: %w", unix.EINVAL), false},
		{"deadline", os.ErrDeadlineExceeded, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refused(tt.err); got != tt.want {
				t.Errorf("refused(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
