package watch

// Inventory is the listener inventory made cheap enough to take every
// second. The one-shot collector (report.Collector) walks every file
// descriptor of every process to find socket owners, reads every owner's
// /proc files and assesses every socket: on a host with 17,000 sockets that
// is ~300 ms of CPU a look. Here each of those is cached by a stable
// identity and redone only for what changed (mark and sweep):
//
//   - fds: between full refreshes only processes that hold a listener are
//     looked at, and their socket inodes re-read only when the number of
//     their open descriptors changed (the size of /proc/PID/fd, Linux 6.2+;
//     on older kernels the size is 0 and they are re-read every look);
//   - processes: re-read when their descriptors were;
//   - findings: assessed once per socket and set of holders.
//
// A listener whose inode no cached process holds forces a full re-read at
// once, so a process that closed one descriptor and opened a listener in
// the same interval is still found. What a full refresh (every FullEvery
// looks) is left to catch: a new process that inherited a listener whose
// holder keeps it too (a fork), a process that exec'd another program
// while keeping its sockets, and a descriptor swapped for another without
// the count changing. These surface as owner-changed events up to
// FullEvery intervals late. A holder letting go of its copy changes its
// count and is seen at once.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// DefaultFullEvery is how many looks pass between full re-reads.
const DefaultFullEvery = 60

// Inventory takes looks for a Watcher. Fields are set before the first
// Snapshot; the zero value of each is usable.
type Inventory struct {
	Sockets *sockets.Scanner
	// ProcRoot is where /proc is mounted.
	ProcRoot string
	// NewReader returns a process reader for one look.
	NewReader func() *process.Reader
	// Service names a port; nil leaves services empty.
	Service func(port uint16, proto string) string
	// Annotate fills Findings of the sockets it is given.
	Annotate func([]report.Socket) error
	// Query selects the sockets (listeners by default).
	Query sockets.Query
	// FullEvery forces a full re-read every so many looks; 0 means
	// DefaultFullEvery.
	FullEvery int
	// Root says other users' descriptors are readable, so a socket with
	// no holder found has none (kernel socket) rather than a hidden one.
	Root bool

	looks    int
	modes    [3]atomic.Uint64 // looks that ended in each refreshMode
	reassess atomic.Bool      // drop cached findings at the next look
	pids     map[int]*pidState
	orphans  map[uint64]bool // listener inodes no process held at the last full read
	pending  map[uint64]bool // listener inodes left unplaced by the last look
	services map[svcKey]string
	findings map[uint64]*findEntry
	// lastSocks and lastOut are the previous look's listing and result;
	// moved says a refresh changed what some process holds.
	lastSocks []sockets.Socket
	lastOut   []report.Socket
	moved     bool
}

type pidState struct {
	fdCount     int64    // descriptors at the last check
	walkedCount int64    // descriptors when socks was read
	socks       []fdSock // its socket descriptors, by inode
	listenFDs   []fdSock // those that are listeners
	proc        *process.Process
	one         []process.Process // proc alone, shared by the sockets it holds
	fresh       bool              // re-read this look
	seen        int               // look number it was last checked in
	denied      bool
	holds       bool // holds a listener: checked every look
}

type svcKey struct {
	port  uint16
	proto string
}

// findEntry is a socket's assessment, valid while the same processes
// running the same executable hold it.
type findEntry struct {
	pids     []int
	exe      string
	findings []report.Finding
	look     int
}

func (inv *Inventory) procRoot() string {
	if inv.ProcRoot == "" {
		return "/proc"
	}
	return inv.ProcRoot
}

// Reassess makes the next look assess every socket again: the judgement
// changed (a policy was reloaded). Safe to call while looks run.
func (inv *Inventory) Reassess() { inv.reassess.Store(true) }

// Snapshot takes one look.
func (inv *Inventory) Snapshot(ctx context.Context) ([]report.Socket, error) {
	reassessed := inv.reassess.Swap(false)
	if reassessed && inv.findings != nil {
		clear(inv.findings)
	}
	if inv.pids == nil {
		inv.pids = map[int]*pidState{}
		inv.services = map[svcKey]string{}
		inv.findings = map[uint64]*findEntry{}
		inv.orphans = map[uint64]bool{}
		inv.pending = map[uint64]bool{}
	}
	scanner := inv.Sockets
	if scanner == nil {
		scanner = &sockets.Scanner{ProcRoot: inv.ProcRoot}
	}
	socks, err := scanner.List(ctx, inv.Query)
	if err != nil {
		return nil, err
	}
	every := inv.FullEvery
	if every <= 0 {
		every = DefaultFullEvery
	}
	full := inv.looks%every == 0
	inv.looks++

	mode := refreshHolders
	if full {
		mode = refreshFull
	}
	inv.moved = false
	if err := inv.refresh(ctx, mode); err != nil {
		return nil, err
	}
	// The steady state: the kernel listed exactly the sockets of the last
	// look, no holder's descriptors moved and every listener was placed
	// then. Owners, services and findings are all what they were, so the
	// last result stands; returning the same slice also tells the Watcher
	// it need not hash it. Most looks end here.
	if mode == refreshHolders && !inv.moved && !reassessed && inv.lastOut != nil &&
		len(inv.pending) == 0 && slices.Equal(socks, inv.lastSocks) {
		inv.modes[mode].Add(1)
		return inv.lastOut, nil
	}
	inv.lastSocks, inv.lastOut = nil, nil
	holders := inv.holders(socks)
	// A listener no cached process holds, and that was not a known kernel
	// socket: look at every process's descriptor count, then, if that
	// does not find it (descriptors swapped without the count changing),
	// re-read everything rather than report a listener with no owner.
	//
	// On a busy host most such listeners belong to a process that exited
	// between the dump and the walk; they vanish from the next dump. So
	// the costly full re-read waits for a listener left unplaced by two
	// looks in a row; meanwhile it is reported with its owner unknown.
	for mode < refreshFull && inv.unheld(socks, holders, nil) {
		if mode == refreshCounts && !inv.unheld(socks, holders, inv.pending) {
			break
		}
		mode++
		if err := inv.refresh(ctx, mode); err != nil {
			return nil, err
		}
		holders = inv.holders(socks)
	}
	inv.modes[mode].Add(1)
	clear(inv.pending)
	for _, s := range socks {
		if s.Inode != 0 && len(holders[s.Inode]) == 0 && !inv.orphans[s.Inode] {
			inv.pending[s.Inode] = true
		}
	}
	if mode == refreshFull {
		clear(inv.orphans)
		for _, s := range socks {
			if s.Inode != 0 && len(holders[s.Inode]) == 0 {
				inv.orphans[s.Inode] = true
			}
		}
	}

	var reader *process.Reader
	out := make([]report.Socket, len(socks))
	var fresh []int // indexes of sockets to assess
	for i, s := range socks {
		r := report.Socket{Socket: s, Processes: []process.Process{}, Findings: []report.Finding{}}
		pids := holders[s.Inode]
		for _, pid := range pids {
			ps := inv.pids[pid]
			if ps.proc == nil || ps.fresh {
				if reader == nil {
					reader = inv.reader()
				}
				p, err := reader.Get(pid)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					p = &process.Process{PID: pid}
				}
				ps.proc, ps.fresh, ps.one = p, false, nil
				if p != nil {
					ps.one = []process.Process{*p}
				}
			}
			if ps.proc == nil {
				continue
			}
			if len(pids) == 1 {
				// The common case: one holder. Its one-element slice
				// is shared by every socket it holds and every look
				// until it is re-read; nobody appends to Processes.
				r.Processes = ps.one[:1:1]
			} else {
				r.Processes = append(r.Processes, *ps.proc)
			}
		}
		r.Owner = inv.owner(s, len(pids), len(r.Processes))
		r.Service = inv.service(s.LocalPort, s.Protocol)
		exe := ""
		if len(r.Processes) > 0 {
			exe = r.Processes[0].Exe
		}
		if e := inv.findings[s.Inode]; e != nil && s.Inode != 0 && e.exe == exe && slices.Equal(e.pids, pids) {
			r.Findings, e.look = e.findings, inv.looks
		} else {
			fresh = append(fresh, i)
		}
		out[i] = r
	}
	labelNamespaces(out)
	if len(fresh) > 0 && inv.Annotate != nil {
		sub := make([]report.Socket, len(fresh))
		for j, i := range fresh {
			sub[j] = out[i]
		}
		if err := inv.Annotate(sub); err != nil {
			return nil, err
		}
		for j, i := range fresh {
			out[i].Findings = sub[j].Findings
		}
	}
	for _, i := range fresh {
		e := &findEntry{pids: holders[out[i].Inode], findings: out[i].Findings, look: inv.looks}
		if len(out[i].Processes) > 0 {
			e.exe = out[i].Processes[0].Exe
		}
		inv.findings[out[i].Inode] = e
	}
	for ino, e := range inv.findings {
		if e.look != inv.looks {
			delete(inv.findings, ino)
		}
	}
	inv.lastSocks, inv.lastOut = socks, out
	return out, nil
}

func (inv *Inventory) reader() *process.Reader {
	if inv.NewReader != nil {
		return inv.NewReader()
	}
	return &process.Reader{ProcRoot: inv.ProcRoot}
}

type refreshMode int

const (
	// refreshHolders checks only processes holding a listener, by the
	// size of their /proc/PID/fd (one stat each), re-reading those whose
	// count changed: the steady state.
	refreshHolders refreshMode = iota
	// refreshCounts does the same for every process, listing /proc: a
	// new listener is somewhere, most likely in a process whose count
	// changed or that is new.
	refreshCounts
	// refreshFull re-reads every process's descriptors.
	refreshFull
)

func (m refreshMode) String() string {
	return [...]string{"holders", "counts", "full"}[m]
}

// Looks counts the looks that had to go as far as each way of reading
// owners ("holders", "counts", "full"): how much the cache saves.
func (inv *Inventory) Looks() map[string]uint64 {
	out := map[string]uint64{}
	for m := refreshHolders; m <= refreshFull; m++ {
		out[m.String()] = inv.modes[m].Load()
	}
	return out
}

// refresh re-reads descriptors as mode says.
func (inv *Inventory) refresh(ctx context.Context, mode refreshMode) error {
	full := mode == refreshFull
	root := inv.procRoot()
	look := inv.looks
	check := func(pid int, ps *pidState) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ps.seen = look
		fdDir := filepath.Join(root, strconv.Itoa(pid), "fd")
		fi, err := os.Stat(fdDir)
		if err != nil {
			inv.moved = true
			if errors.Is(err, os.ErrPermission) {
				ps.denied = true
			} else {
				delete(inv.pids, pid) // exited
			}
			return nil
		}
		count := fi.Size()
		switch {
		case full:
		case mode == refreshCounts:
			if count > 0 && count == ps.walkedCount {
				return nil
			}
		case count > 0 && count == ps.fdCount:
			return nil
		default:
			// A holder's count moved (a busy server's connections
			// come and go every second): check only that the
			// descriptors that held its listeners still do, one
			// readlink each, rather than re-read all of them. A new
			// listener of its own shows up as unplaced and makes
			// the next pass compare counts with the last full read.
			ps.fdCount = count
			if stillHeld(fdDir, ps.listenFDs) {
				return nil
			}
		}
		inv.moved = true
		socks, err := readSocketInodes(fdDir)
		if err != nil {
			if errors.Is(err, os.ErrPermission) {
				ps.denied = true
			} else {
				delete(inv.pids, pid)
			}
			return nil
		}
		ps.fdCount, ps.walkedCount, ps.socks, ps.fresh, ps.denied = count, count, socks, true, false
		return nil
	}
	if mode == refreshHolders {
		for pid, ps := range inv.pids {
			if ps.holds {
				if err := check(pid, ps); err != nil {
					return err
				}
			}
		}
		return nil
	}
	d, err := os.Open(root)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 0 {
			continue
		}
		ps := inv.pids[pid]
		if ps == nil {
			ps = &pidState{fdCount: -1, walkedCount: -1}
			inv.pids[pid] = ps
		}
		if err := check(pid, ps); err != nil {
			return err
		}
	}
	for pid, ps := range inv.pids {
		if ps.seen != look {
			delete(inv.pids, pid)
		}
	}
	return nil
}

// fdSock is one descriptor that is a socket.
type fdSock struct {
	fd    int
	inode uint64
}

// readSocketInodes lists a process's socket descriptors, by inode.
func readSocketInodes(fdDir string) ([]fdSock, error) {
	d, err := os.Open(fdDir)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var out []fdSock
	for _, n := range names {
		l, err := os.Readlink(fdDir + "/" + n)
		if err != nil {
			continue // closed meanwhile
		}
		if ino, ok := socketInode(l); ok {
			fd, _ := strconv.Atoi(n)
			out = append(out, fdSock{fd, ino})
		}
	}
	slices.SortFunc(out, func(a, b fdSock) int { return cmpUint(a.inode, b.inode) })
	return out, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// socketInode reads a /proc/PID/fd link ("socket:[12345]").
func socketInode(link string) (uint64, bool) {
	v, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64)
	return ino, err == nil
}

// stillHeld reports whether each descriptor still refers to its socket.
func stillHeld(fdDir string, fds []fdSock) bool {
	for _, f := range fds {
		l, err := os.Readlink(fdDir + "/" + strconv.Itoa(f.fd))
		if err != nil {
			return false
		}
		if ino, ok := socketInode(l); !ok || ino != f.inode {
			return false
		}
	}
	return true
}

// unheld reports a listener no known process holds that was not already
// holder-less at the last full read; with among, only one of those.
func (inv *Inventory) unheld(socks []sockets.Socket, holders map[uint64][]int, among map[uint64]bool) bool {
	for _, s := range socks {
		if s.Inode != 0 && len(holders[s.Inode]) == 0 && !inv.orphans[s.Inode] && (among == nil || among[s.Inode]) {
			return true
		}
	}
	return false
}

// holders maps each listed socket's inode to the pids holding it.
func (inv *Inventory) holders(socks []sockets.Socket) map[uint64][]int {
	want := make(map[uint64][]int, len(socks))
	for _, s := range socks {
		if s.Inode != 0 {
			want[s.Inode] = nil
		}
	}
	for pid, ps := range inv.pids {
		ps.listenFDs = ps.listenFDs[:0]
		for _, f := range ps.socks {
			if h, ok := want[f.inode]; ok {
				if len(h) == 0 || h[len(h)-1] != pid {
					want[f.inode] = append(h, pid)
				}
				ps.listenFDs = append(ps.listenFDs, f)
			}
		}
		ps.holds = len(ps.listenFDs) > 0
	}
	for _, h := range want {
		slices.Sort(h)
	}
	return want
}

func (inv *Inventory) owner(s sockets.Socket, holders, found int) report.Owner {
	switch {
	case found > 0:
		return report.OwnerKnown
	case s.Inode == 0:
		return report.OwnerNone
	case holders > 0:
		return report.OwnerUnknown
	case !inv.Root:
		return report.OwnerHidden
	}
	for _, ps := range inv.pids {
		if ps.denied {
			return report.OwnerUnknown
		}
	}
	return report.OwnerNone
}

func (inv *Inventory) service(port uint16, proto string) string {
	if inv.Service == nil || port == 0 {
		return ""
	}
	k := svcKey{port, proto}
	if s, ok := inv.services[k]; ok {
		return s
	}
	s := inv.Service(port, proto)
	inv.services[k] = s
	return s
}

// labelNamespaces names each non-host namespace after the container of
// the lowest pid holding a socket in it, as the one-shot collector does.
func labelNamespaces(socks []report.Socket) {
	type found struct {
		pid   int
		label string
	}
	best := map[uint64]found{}
	for _, s := range socks {
		if s.NetNS.Host {
			continue
		}
		for _, p := range s.Processes {
			if p.Container == nil || p.NetNS != s.NetNS.Inode {
				continue
			}
			if f, ok := best[p.NetNS]; !ok || p.PID < f.pid {
				best[p.NetNS] = found{p.PID, report.ContainerLabel(p.Container)}
			}
		}
	}
	for i := range socks {
		if f, ok := best[socks[i].NetNS.Inode]; ok && !socks[i].NetNS.Host {
			socks[i].NetNS.Label = f.label
		}
	}
}
