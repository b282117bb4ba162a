package report

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portwho/portwho/internal/childproc"
	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/sockets"
)

// TestMain doubles as the helper child: with PORTWHO_REPORT_HELPER set the
// test binary holds sockets (its own, or inherited as fd 3) until stdin
// closes, so tests have a real, separate owning process.
func TestMain(m *testing.M) {
	switch os.Getenv("PORTWHO_REPORT_HELPER") {
	case "":
		os.Exit(m.Run())
	case "listen":
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		uc, err := net.ListenPacket("udp6", "[::1]:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		childproc.Ready(ln.Addr().(*net.TCPAddr).Port, uc.LocalAddr().(*net.UDPAddr).Port)
	case "inherit":
		childproc.Ready("ready")
	}
	os.Exit(0)
}

// helper starts the test binary as a child in the given mode, with extra
// inherited files, and returns it with its first output line.
func helper(t *testing.T, mode string, files ...*os.File) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PORTWHO_REPORT_HELPER="+mode)
	cmd.ExtraFiles = files
	c := childproc.Start(t, cmd)
	return cmd, c.Line
}

func linuxRoot(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc and sock_diag")
	}
}

func newCollector() *Collector {
	return &Collector{Sockets: &sockets.Scanner{}, Procs: &process.Reader{}, Registry: registry.Embedded()}
}

func TestCollectChildListener(t *testing.T) {
	linuxRoot(t)
	cmd, line := helper(t, "listen")
	var tcpPort, udpPort uint16
	if _, err := fmt.Sscan(line, &tcpPort, &udpPort); err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}
	c := newCollector()
	tests := []struct {
		name  string
		q     sockets.Query
		proto string
		addr  string
		port  uint16
		state string
	}{
		{"tcp v4 loopback", sockets.Query{Port: tcpPort, TCP: true}, "tcp", "127.0.0.1", tcpPort, "LISTEN"},
		{"udp v6 loopback", sockets.Query{Port: udpPort, UDP: true}, "udp", "::1", udpPort, "UNCONN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			socks, err := c.Collect(context.Background(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			// The port is ephemeral: on a busy host another address may
			// use the same number.
			socks = onAddr(socks, tt.addr)
			if len(socks) != 1 {
				t.Fatalf("got %d sockets, want 1: %+v", len(socks), socks)
			}
			s := socks[0]
			if s.Protocol != tt.proto || s.LocalAddr != netip.MustParseAddr(tt.addr) || s.LocalPort != tt.port || s.State != tt.state {
				t.Errorf("socket %s %s:%d %s, want %s %s:%d %s", s.Protocol, s.LocalAddr, s.LocalPort, s.State, tt.proto, tt.addr, tt.port, tt.state)
			}
			if s.Owner != OwnerKnown || len(s.Processes) != 1 {
				t.Fatalf("owner %s, processes %+v; want one known", s.Owner, s.Processes)
			}
			p := s.Processes[0]
			exe, _ := os.Executable()
			if p.PID != cmd.Process.Pid || p.PPID != os.Getpid() || p.Exe != exe || !slices.Equal(p.Cmdline, []string{os.Args[0], "-test.run=^$"}) {
				t.Errorf("process pid %d ppid %d exe %q cmdline %q; want %d %d %q", p.PID, p.PPID, p.Exe, p.Cmdline, cmd.Process.Pid, os.Getpid(), exe)
			}
			if s.Findings == nil || len(s.Findings) != 0 {
				t.Errorf("findings = %#v, want empty and non-nil", s.Findings)
			}
		})
	}
}

func TestCollectSharedAcrossFork(t *testing.T) {
	linuxRoot(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	cmd, _ := helper(t, "inherit", f)
	f.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	socks, err := newCollector().Collect(context.Background(), sockets.Query{Port: port, TCP: true})
	if err != nil {
		t.Fatal(err)
	}
	if socks = onAddr(socks, "127.0.0.1"); len(socks) != 1 {
		t.Fatalf("got %d sockets, want 1", len(socks))
	}
	var pids []int
	for _, p := range socks[0].Processes {
		pids = append(pids, p.PID)
	}
	want := []int{os.Getpid(), cmd.Process.Pid}
	slices.Sort(want)
	if diff := cmp.Diff(want, pids); diff != "" {
		t.Errorf("holders (-want +got):\n%s", diff)
	}
}

func TestCollectConnectionEnds(t *testing.T) {
	linuxRoot(t)
	ln, client := loopbackConn(t)
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	socks, err := newCollector().Collect(context.Background(), sockets.Query{Port: port, TCP: true, All: true})
	if err != nil {
		t.Fatal(err)
	}
	cport := uint16(client.LocalAddr().(*net.TCPAddr).Port)
	socks = between(socks, port, cport)
	var got []string
	for _, s := range socks {
		if s.Owner != OwnerKnown || len(s.Processes) != 1 || s.Processes[0].PID != os.Getpid() {
			t.Errorf("%s:%d owner %s processes %d, want this test", s.LocalAddr, s.LocalPort, s.Owner, len(s.Processes))
		}
		if s.LocalPort == port {
			got = append(got, fmt.Sprintf("%s %d->%d", s.State, s.LocalPort, s.RemotePort))
		} else {
			got = append(got, fmt.Sprintf("%s client->%d", s.State, s.RemotePort))
		}
	}
	want := []string{fmt.Sprintf("LISTEN %d->0", port), fmt.Sprintf("ESTAB %d->%d", port, cport), fmt.Sprintf("ESTAB client->%d", port)}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// onAddr keeps the sockets on a local address.
func onAddr(socks []Socket, addr string) []Socket {
	var out []Socket
	for _, s := range socks {
		if s.LocalAddr == netip.MustParseAddr(addr) {
			out = append(out, s)
		}
	}
	return out
}

// between keeps the loopback listener on port a and the connection between
// a and b: the host's other sockets may reuse either number as an
// ephemeral port.
func between(socks []Socket, a, b uint16) []Socket {
	var out []Socket
	lo := netip.MustParseAddr("127.0.0.1")
	for _, s := range socks {
		if s.LocalAddr != lo {
			continue
		}
		if s.LocalPort == a && (s.RemotePort == 0 || s.RemotePort == b) || s.LocalPort == b && s.RemotePort == a && s.RemoteAddr == lo {
			out = append(out, s)
		}
	}
	return out
}

func TestOwnerOf(t *testing.T) {
	withInode := sockets.Socket{Inode: 42}
	tests := []struct {
		name           string
		s              sockets.Socket
		holders, found int
		o              sockets.Owners
		want           Owner
	}{
		{"found", withInode, 1, 1, sockets.Owners{}, OwnerKnown},
		{"no file behind it", sockets.Socket{}, 0, 0, sockets.Owners{Root: true}, OwnerNone},
		{"holders exited mid-scan", withInode, 2, 0, sockets.Owners{Root: true}, OwnerUnknown},
		{"not root", withInode, 0, 0, sockets.Owners{Unreadable: 3}, OwnerHidden},
		{"root but some fds unreadable", withInode, 0, 0, sockets.Owners{Root: true, Unreadable: 1}, OwnerUnknown},
		{"root and nobody holds it", withInode, 0, 0, sockets.Owners{Root: true}, OwnerNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ownerOf(tt.s, tt.holders, tt.found, tt.o); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestService(t *testing.T) {
	c := &Collector{Registry: registry.Embedded()}
	cache := map[serviceKey]string{}
	tests := []struct {
		port  uint16
		proto string
		want  string
	}{
		{22, "tcp", "ssh"},
		{3302, "tcp", "mcs-fastmail"},
		{53, "udp", "domain"},
		{0, "tcp", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%s", tt.port, tt.proto), func(t *testing.T) {
			if got := c.service(cache, tt.port, tt.proto); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if got := (&Collector{}).service(cache, 22, "tcp"); got != "" {
		t.Errorf("no registry: got %q", got)
	}
}

func TestLabelContainersAndOrder(t *testing.T) {
	id := "3f2a9c1b7e4d" + "0123456789abcdef0123456789abcdef0123456789abcdef0123"
	docker := &process.Container{Runtime: "docker", ID: id}
	lxc := &process.Container{Runtime: "lxc", ID: "web", Name: "web"}
	host := sockets.NetNS{Inode: 1, Host: true, Label: "host"}
	ns2 := sockets.NetNS{Inode: 2, Label: "netns:[2]"}
	ns3 := sockets.NetNS{Inode: 3, Label: "blue"}
	mk := func(proto string, addr string, port uint16, ns sockets.NetNS, procs ...process.Process) Socket {
		return Socket{Socket: sockets.Socket{Protocol: proto, LocalAddr: netip.MustParseAddr(addr), LocalPort: port, NetNS: ns}, Processes: procs}
	}
	in := []Socket{
		mk("udp", "0.0.0.0", 53, host),
		mk("tcp", "0.0.0.0", 80, ns2, process.Process{PID: 900, NetNS: 2, Container: docker}),
		mk("tcp", "0.0.0.0", 80, ns3, process.Process{PID: 700, NetNS: 3, Container: lxc}),
		mk("tcp", "0.0.0.0", 80, host, process.Process{PID: 10, NetNS: 1, Container: docker}),
		mk("tcp", "127.0.0.1", 22, host),
		mk("tcp", "0.0.0.0", 8080, ns2),
	}
	labelContainers(in)
	slices.SortStableFunc(in, compareSockets)
	var got []string
	for _, s := range in {
		got = append(got, fmt.Sprintf("%s %s:%d %s", s.Protocol, s.LocalAddr, s.LocalPort, s.NetNS.Label))
	}
	want := []string{
		"tcp 127.0.0.1:22 host",
		"tcp 0.0.0.0:80 host", // a host-namespace process in a container keeps "host"
		"tcp 0.0.0.0:80 docker:3f2a9c1b7e4d",
		"tcp 0.0.0.0:80 lxc:web",
		"tcp 0.0.0.0:8080 docker:3f2a9c1b7e4d", // same namespace, no owner of its own
		"udp 0.0.0.0:53 host",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCollectPortsDeduplicates(t *testing.T) {
	linuxRoot(t)
	ln, client := loopbackConn(t)
	// Asked for both the listener's port and the client's: both ends of
	// the connection match both ports, and must be listed once.
	pl, pc := uint16(ln.Addr().(*net.TCPAddr).Port), uint16(client.LocalAddr().(*net.TCPAddr).Port)
	socks, err := newCollector().CollectPorts(context.Background(), sockets.Query{TCP: true, All: true}, []uint16{pl, pc})
	if err != nil {
		t.Fatal(err)
	}
	socks = between(socks, pl, pc)
	var got []string
	for _, s := range socks {
		if s.Owner != OwnerKnown || len(s.Processes) != 1 || s.Processes[0].PID != os.Getpid() {
			t.Errorf("%d->%d: owner %s, %d processes", s.LocalPort, s.RemotePort, s.Owner, len(s.Processes))
		}
		got = append(got, fmt.Sprintf("%s %d->%d", s.State, s.LocalPort, s.RemotePort))
	}
	want := []string{fmt.Sprintf("LISTEN %d->0", pl), fmt.Sprintf("ESTAB %d->%d", pl, pc), fmt.Sprintf("ESTAB %d->%d", pc, pl)}
	slices.Sort(got)
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("each socket once (-want +got):\n%s", diff)
	}
}

// TestNamesBetweenAgreesWithPort checks the bulk naming against one lookup
// per port, over every port and the protocols sockets have.
func TestNamesBetweenAgreesWithPort(t *testing.T) {
	reg := registry.Embedded()
	c := &Collector{Registry: reg}
	all := make([]uint16, 0, 65535)
	for p := 1; p <= 65535; p++ {
		all = append(all, uint16(p))
	}
	for _, proto := range []string{"tcp", "udp"} {
		t.Run(proto, func(t *testing.T) {
			bulk := namesBetween(reg, all, proto)
			one := map[serviceKey]string{}
			for _, p := range all {
				if got, want := bulk[p], c.service(one, p, proto); got != want {
					t.Errorf("port %d/%s: bulk %q, one by one %q", p, proto, got, want)
				}
			}
		})
	}
}

func TestServicesUsesClusters(t *testing.T) {
	reg := registry.Embedded()
	var socks []sockets.Socket
	// A dense cluster (bulk), a lone port (one by one) and a port that is
	// only in the other protocol.
	for p := uint16(3300); p < 3340; p++ {
		socks = append(socks, sockets.Socket{Protocol: "tcp", LocalPort: p})
	}
	socks = append(socks, sockets.Socket{Protocol: "tcp", LocalPort: 22}, sockets.Socket{Protocol: "udp", LocalPort: 53})
	c := &Collector{Registry: reg}
	cache := c.services(socks)
	if _, ok := cache[serviceKey{3302, "tcp"}]; !ok {
		t.Error("the dense cluster was not named in bulk")
	}
	if _, ok := cache[serviceKey{22, "tcp"}]; ok {
		t.Error("a lone port was named in bulk")
	}
	one := map[serviceKey]string{}
	for _, s := range socks {
		if got, want := c.service(cache, s.LocalPort, s.Protocol), c.service(one, s.LocalPort, s.Protocol); got != want {
			t.Errorf("%d/%s: %q, want %q", s.LocalPort, s.Protocol, got, want)
		}
	}
	if got := clusters([]uint16{1, 2, 300, 301, 1000}); len(got) != 3 {
		t.Errorf("clusters = %v, want 3", got)
	}
}

// loopbackConn opens a listener on 127.0.0.1 and one connection to it
// (both ends held open), all closed when the test ends.
func loopbackConn(t *testing.T) (net.Listener, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return ln, client
}
