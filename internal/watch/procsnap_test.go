package watch

// A small, real inventory for tests: the listening sockets held by a set of
// pids the test controls, read from /proc like the real collector does.
// Restricting it to those pids keeps other programs on this shared machine
// from adding events the test did not cause.

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

type procSnap struct {
	mu   sync.Mutex
	pids []int
}

func (p *procSnap) track(pid int) {
	p.mu.Lock()
	p.pids = append(p.pids, pid)
	p.mu.Unlock()
}

func (p *procSnap) snapshot(ctx context.Context) ([]report.Socket, error) {
	p.mu.Lock()
	pids := slices.Clone(p.pids)
	p.mu.Unlock()
	holders := map[uint64][]process.Process{}
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue // exited
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		for _, e := range ents {
			l, err := os.Readlink(filepath.Join(dir, e.Name()))
			if err != nil || !strings.HasPrefix(l, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"), 10, 64)
			if err != nil {
				continue
			}
			if slices.ContainsFunc(holders[ino], func(q process.Process) bool { return q.PID == pid }) {
				continue
			}
			holders[ino] = append(holders[ino], process.Process{PID: pid, Exe: exe, Name: strings.TrimSpace(string(comm)), User: "test"})
		}
	}
	var out []report.Socket
	for _, f := range []struct{ file, proto, fam string }{
		{"tcp", "tcp", "inet"}, {"tcp6", "tcp", "inet6"}, {"udp", "udp", "inet"}, {"udp6", "udp", "inet6"},
	} {
		socks, err := readNet("/proc/self/net/"+f.file, f.proto, f.fam, holders)
		if err != nil {
			return nil, err
		}
		out = append(out, socks...)
	}
	return out, nil
}

func readNet(path, proto, fam string, holders map[uint64][]process.Process) ([]report.Socket, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []report.Socket
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 10 {
			continue
		}
		ino, _ := strconv.ParseUint(fs[9], 10, 64)
		procs, ok := holders[ino]
		if !ok {
			continue
		}
		addr, port := hexAddr(fs[1])
		state := map[string]string{"0A": "LISTEN", "07": "UNCONN", "01": "ESTAB"}[fs[3]]
		if proto == "udp" && fs[3] == "07" {
			state = "UNCONN"
		}
		s := report.Socket{Processes: procs, Owner: report.OwnerKnown}
		s.Socket = sockets.Socket{Protocol: proto, Family: fam, LocalAddr: addr, LocalPort: port, State: state, Inode: ino,
			NetNS: sockets.NetNS{Inode: 1, Host: true, Label: "host"}}
		out = append(out, s)
	}
	return out, sc.Err()
}

// hexAddr reads /proc/net's address:port; the address is in host byte
// order per 32-bit word.
func hexAddr(s string) (netip.Addr, uint16) {
	a, p, _ := strings.Cut(s, ":")
	b, _ := hex.DecodeString(a)
	port, _ := strconv.ParseUint(p, 16, 16)
	for i := 0; i+4 <= len(b); i += 4 {
		if runtime.GOARCH != "s390x" && runtime.GOARCH != "ppc64" {
			b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
		}
	}
	addr, _ := netip.AddrFromSlice(b)
	return addr.Unmap(), uint16(port)
}

// stepper gates a watcher's looks so a test decides exactly when each one
// happens and sees its events: no look races an action.
type stepper struct {
	snap   func(context.Context) ([]report.Socket, error)
	gate   chan struct{}
	events chan []Event
}

func newStepper(snap func(context.Context) ([]report.Socket, error)) *stepper {
	return &stepper{snap: snap, gate: make(chan struct{}), events: make(chan []Event, 1)}
}

func (s *stepper) snapshot(ctx context.Context) ([]report.Socket, error) {
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.snap(ctx)
}

func (s *stepper) onScan(evs []Event) { s.events <- evs }

// step lets one look happen and returns its events.
func (s *stepper) step(t *testing.T) []Event {
	t.Helper()
	s.gate <- struct{}{}
	return <-s.events
}
