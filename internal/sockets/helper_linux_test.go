package sockets

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portwho/portwho/internal/childproc"
)

// helperEnv makes the test binary act as a child process for the tests
// (and as a stand-in for `ss -tulpn` in side-by-side timings, mode "scan"):
// "listen" opens a TCP listener on 0.0.0.0:0 (so it works in a fresh
// namespace whose loopback is down) and prints its port; "hold" keeps the
// descriptors it inherited; "exit" exits at once. Every mode but "exit"
// prints a line once ready and lives until its stdin closes.
const helperEnv = "PORTWHO_SOCKETS_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "exit":
		os.Exit(0)
	case "listen":
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		childproc.Ready(l.Addr().(*net.TCPAddr).Port)
	case "hold":
		childproc.Ready("ready")
	case "owners":
		os.Exit(ownersHelper())
	case "scan":
		os.Exit(scanHelper())
	}
	os.Exit(0)
}

// child is a helper process started by a test.
type child struct {
	cmd  *exec.Cmd
	proc *childproc.Child
}

// startHelper runs the test binary in helper mode, prefixed by wrap (e.g.
// "ip netns exec NAME"), and waits for its first line.
func startHelper(t *testing.T, mode string, extra []*os.File, wrap ...string) *child {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{}, wrap...), self, "-test.run=^$")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.ExtraFiles = extra
	cmd.Stderr = os.Stderr
	return &child{cmd: cmd, proc: childproc.Start(t, cmd)}
}

func (c *child) port(t *testing.T) uint16 {
	t.Helper()
	return c.proc.Port(t)
}

// sockInode returns the sockfs inode of a Go socket, as the kernel reports it.
func sockInode(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return st.Ino
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// ownersHelper opens a listener and prints "PID HOLDER UNREADABLE ROOT"
// as its own Owners scan sees them.
func ownersHelper() int {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		fmt.Println(err)
		return 1
	}
	o, err := (&Scanner{}).Owners(context.Background(), map[uint64]struct{}{st.Ino: {}})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	holder := -1
	if h := o.Holders[st.Ino]; len(h) == 1 {
		holder = h[0]
	}
	fmt.Println(os.Getpid(), holder, o.Unreadable, o.Root)
	return 0
}

// scanHelper lists sockets and their owners once, as `ss -tulpn` (or -tanp
// with PORTWHO_SCAN=all) would, and prints a summary: a way to time the
// socket layer as a whole process against ss with hyperfine:
//
//	go test -c -o /tmp/sockets.test ./internal/sockets
//	PORTWHO_SOCKETS_HELPER=scan hyperfine '/tmp/sockets.test' 'ss -tulpn'
func scanHelper() int {
	var q Query
	switch v := os.Getenv("PORTWHO_SCAN"); {
	case v == "all":
		q.All = true
	case strings.HasPrefix(v, "port:"):
		p, err := strconv.ParseUint(v[5:], 10, 16)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		q.Port = uint16(p)
	}
	s := &Scanner{Backend: os.Getenv("PORTWHO_SCAN_BACKEND")}
	ctx := context.Background()
	socks, err := s.List(ctx, q)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	want := make(map[uint64]struct{}, len(socks))
	for _, sk := range socks {
		if sk.Inode != 0 {
			want[sk.Inode] = struct{}{}
		}
	}
	o, err := s.Owners(ctx, want)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Println(len(socks), "sockets", len(o.Holders), "with owners", o.Unreadable, "unreadable")
	return 0
}
