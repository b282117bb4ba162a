package watch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/portwho/portwho/internal/childproc"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// TestHelperNetNSListener is not a test: TestInventorySeesOtherNamespace
// runs the test binary in a new network namespace, where it listens on its
// own loopback, prints the port and waits for stdin to close.
func TestHelperNetNSListener(t *testing.T) {
	if os.Getenv("PORTWHO_WATCH_NETNS") != "1" {
		t.Skip("helper process for TestInventorySeesOtherNamespace")
	}
	// A new namespace's loopback starts down; the listener does not need
	// it up to exist, only to be reached.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	childproc.Ready(ln.Addr().(*net.TCPAddr).Port)
	os.Exit(0)
}

// TestInventorySeesOtherNamespace: a listener inside a network namespace
// (as a container's would be) is found by a watcher looking at every
// namespace, with its namespace and its owner.
func TestInventorySeesOtherNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace and entering it to list sockets needs root")
	}
	c, port := startNetNSListener(t)
	child := c.Pid()
	nsLink, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", child))
	hostLink, _ := os.Readlink("/proc/self/ns/net")
	if nsLink == hostLink {
		t.Fatalf("child is in our namespace (%s)", nsLink)
	}

	inv := &Inventory{Root: true, Query: sockets.Query{AllNamespaces: true}}
	st := newStepper(func(ctx context.Context) ([]report.Socket, error) {
		socks, err := inv.Snapshot(ctx)
		var out []report.Socket
		for _, s := range socks {
			if s.LocalPort == uint16(port) && len(s.Processes) > 0 && s.Processes[0].PID == child {
				out = append(out, s)
			}
		}
		return out, err
	})
	w := &Watcher{Snapshot: st.snapshot, Interval: MinInterval, Recorder: &memRecorder{}, OnScan: st.onScan}
	startWatcher(t, w)
	evs := st.step(t)
	if d := cmp.Diff([]brief{{Type: Opened, Proto: "tcp", Port: uint16(port), PIDs: []int{child}, Initial: true}}, briefs(evs)); d != "" {
		t.Fatalf("listener in another namespace (-want +got):\n%s", d)
	}
	if got := fmt.Sprintf("net:[%d]", evs[0].Listener.NetNS); got != nsLink {
		t.Errorf("namespace %s, want %s", got, nsLink)
	}
	c.Stop()
	if d := cmp.Diff([]brief{{Type: Closed, Proto: "tcp", Port: uint16(port), PIDs: []int{child}}}, briefs(st.step(t))); d != "" {
		t.Errorf("child exits (-want +got):\n%s", d)
	}
}

// startNetNSListener runs TestHelperNetNSListener in a new network
// namespace and returns it with the port it listens on there. It skips
// the test where a namespace cannot be made.
func startNetNSListener(t *testing.T) (*childproc.Child, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNetNSListener$")
	cmd.Env = append(os.Environ(), "PORTWHO_WATCH_NETNS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	c, err := childproc.TryStart(t, cmd)
	var notReady *childproc.NotReadyError
	switch {
	case errors.As(err, &notReady):
		t.Fatal(err)
	case err != nil:
		t.Skipf("cannot start a process in a new network namespace: %v", err)
	}
	return c, int(c.Port(t))
}
