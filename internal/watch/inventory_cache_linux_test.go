package watch

import (
	"context"
	"hash/maphash"
	"net"
	"os"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// A namespace that did not exist at the first look (as a container started
// while the daemon runs) is found at the next one, with its owner, even
// though quiet looks in between reuse what the last one found.
func TestInventoryNamespaceAfterFirstLook(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace and entering it to list sockets needs root")
	}
	inv := &Inventory{Root: true, Query: sockets.Query{AllNamespaces: true, TCP: true}, FullEvery: 1 << 30}
	for range 3 {
		if _, err := inv.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	c, port := startNetNSListener(t)
	child := c.Pid()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/"+strconv.Itoa(child)+"/ns/net", &st); err != nil {
		t.Fatal(err)
	}

	find := func(socks []report.Socket) int {
		return slices.IndexFunc(socks, func(s report.Socket) bool {
			return s.LocalPort == uint16(port) && s.NetNS.Inode == st.Ino
		})
	}
	socks, err := inv.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	i := find(socks)
	if i < 0 {
		t.Fatalf("listener on port %d in namespace %d, created after the first look, not found by the next", port, st.Ino)
	}
	if s := socks[i]; len(s.Processes) != 1 || s.Processes[0].PID != child || s.Owner != report.OwnerKnown {
		t.Errorf("owner %q, processes %+v: want pid %d", s.Owner, s.Processes, child)
	}
	c.Stop()
	if socks, err = inv.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if find(socks) >= 0 {
		t.Errorf("listener on port %d still listed after its namespace's only process exited", port)
	}
}

// A quiet look hands back the last result itself (the Watcher then skips
// hashing it); anything the kernel lists differently is looked at afresh.
func TestInventoryQuietLookReusesResult(t *testing.T) {
	ln, port := listenTCP(t)
	// Only this port, so other programs on the machine stay out of it.
	inv := &Inventory{Root: os.Geteuid() == 0, Query: sockets.Query{TCP: true, Port: port}, FullEvery: 1 << 30}
	look := func() []report.Socket {
		t.Helper()
		socks, err := inv.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(socks) != 1 || socks[0].LocalPort != port {
			t.Fatalf("listing %+v, want one listener on %d", socks, port)
		}
		return socks
	}
	prev := look()
	same := false
	for range 5 {
		cur := look()
		if sameSlice(cur, prev) {
			same = true
			break
		}
		prev = cur
	}
	if !same {
		t.Fatal("no look reused the last result though nothing changed")
	}
	if len(prev[0].Processes) != 1 || prev[0].Processes[0].PID != os.Getpid() {
		t.Errorf("reused result has processes %+v, want this one", prev[0].Processes)
	}

	// The same port with a new socket: a new inode, so a new result.
	ino := prev[0].Inode
	ln.Close()
	ln2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(int(port)))
	if err != nil {
		t.Skipf("port %d taken by someone else meanwhile: %v", port, err)
	}
	defer ln2.Close()
	cur := look()
	if sameSlice(cur, prev) || cur[0].Inode == ino {
		t.Errorf("a new socket on port %d got the last look's result (inode %d)", port, cur[0].Inode)
	}
	// Our descriptor count did not move (one closed, one opened), so
	// this look may report it unplaced; one left unplaced by two looks
	// in a row forces a full re-read, which places it.
	if len(cur[0].Processes) == 0 {
		cur = look()
	}
	if len(cur[0].Processes) != 1 || cur[0].Processes[0].PID != os.Getpid() {
		t.Errorf("new socket has processes %+v, want this one", cur[0].Processes)
	}
}

// BenchmarkQuietLook is a look as the daemon takes it when nothing
// changed: every namespace listed, the inventory, and the Watcher's hash
// of the result unless it is the last look's slice. Run it with
// bench/workload up; "changed" counts looks that differed from the one
// before (other programs on the host), which cost more.
func BenchmarkQuietLook(b *testing.B) {
	inv := &Inventory{Root: os.Geteuid() == 0, Sockets: &sockets.Scanner{}, Query: sockets.Query{AllNamespaces: true}}
	ctx := context.Background()
	seed := maphash.MakeSeed()
	socks, err := inv.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	last := fingerprint(&seed, socks, report.SeverityMedium)
	prev := socks
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		socks, err := inv.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if sameSlice(socks, prev) {
			continue
		}
		prev = socks
		if fp := fingerprint(&seed, socks, report.SeverityMedium); fp != last {
			n++
			last = fp
		}
	}
	b.ReportMetric(float64(n), "changed")
}
