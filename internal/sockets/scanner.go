package sockets

import (
	"context"
	"errors"
	"sync"
)

// ErrNotImplemented is returned where this OS offers no way to list sockets.
var ErrNotImplemented = errors.New("sockets: not implemented on this system")

// Backends a Scanner can use on Linux.
const (
	// BackendNetlink asks the kernel through sock_diag (as ss does).
	BackendNetlink = "netlink"
	// BackendProcNet parses /proc/net/{tcp,tcp6,udp,udp6}.
	BackendProcNet = "procnet"
	// BackendOS is the portable path used off Linux (gopsutil).
	BackendOS = "os"
)

// Scanner lists sockets and finds the processes holding them. The zero value
// reads the real /proc and picks the fastest backend the kernel allows.
type Scanner struct {
	// ProcRoot is where procfs is mounted; "" means "/proc".
	ProcRoot string
	// NetNSDir holds the bind mounts `ip netns` creates; "" means
	// "/run/netns". Only used to name namespaces.
	NetNSDir string
	// Backend forces one backend: BackendNetlink, BackendProcNet, or ""
	// for netlink with a fallback to /proc/net when netlink is refused.
	Backend string

	// os holds per-OS state (the last listing off Linux, where sockets have
	// no inode and owners come from the same call).
	os osState
	// ownerWorkers and ownerStat tune the Linux fd walk for the benchmarks:
	// 0 workers means min(GOMAXPROCS, 2); ownerStat uses fstatat instead of
	// readlinkat to recognise sockets.
	ownerWorkers int
	ownerStat    bool
	// ns caches which network namespace each process is in between scans
	// (Linux); a Scanner kept across scans reads only new processes' links.
	ns nsCache
}

// Result is a listing with how it was made.
type Result struct {
	Sockets []Socket
	// Backend is the backend that produced the sockets: "netlink",
	// "procnet", "netlink+procnet" when some namespaces fell back, or "os".
	Backend string
	// Namespaces lists the network namespaces that were listed, ours first,
	// each with a process inside when one is known, so callers can name
	// them after that process's container.
	Namespaces []Namespace
	// Skipped lists namespaces that could not be read (a namespace
	// vanished, or entering it was refused); the rest of the listing stands.
	Skipped []error
}

// Namespace is one listed network namespace.
type Namespace struct {
	NetNS NetNS
	// PID is a process inside it (0 for our own, or for a namespace only an
	// `ip netns` bind mount keeps alive).
	PID int
}

// Owners says which processes hold which sockets.
type Owners struct {
	// Holders maps a socket inode to every pid holding it, sorted.
	Holders map[uint64][]int
	// Unreadable counts processes whose file descriptors could not be read
	// (permission denied): sockets with no holder may belong to one of them.
	Unreadable int
	// Root is true when the scan ran with the privilege to read other
	// users' descriptors (CAP_SYS_PTRACE on Linux, root on macOS, an
	// elevated token on Windows). Even then Unreadable can be non-zero:
	// a sandbox's init or a process in another user namespace may refuse
	// root; callers should say "owner unknown" for unmatched sockets then,
	// and "owner hidden: run as root" when Root is false.
	Root bool
}

// List returns the sockets q selects.
func (s *Scanner) List(ctx context.Context, q Query) ([]Socket, error) {
	r, err := s.Scan(ctx, q)
	return r.Sockets, err
}

func (s *Scanner) procRoot() string {
	if s.ProcRoot == "" {
		return "/proc"
	}
	return s.ProcRoot
}

func (s *Scanner) netnsDir() string {
	if s.NetNSDir == "" {
		return "/run/netns"
	}
	return s.NetNSDir
}

// nsCache remembers which network namespace each process is in, so a scan
// of all namespaces reads /proc/PID/ns/net only for processes it has not
// seen before rather than for every process every time.
//
// A process can change namespace without a new pid (unshare(2) or
// setns(2), e.g. `unshare -n CMD` in a forked child, or systemd's
// PrivateNetwork=). That mostly happens right after fork, so a new
// process's link is read on its first nsSettle scans, not once; a process
// that moves later in its life is found at the next full re-read, at most
// nsFullEvery scans late.
type nsCache struct {
	mu    sync.Mutex
	scans int
	procs map[int]nsProc
}

type nsProc struct {
	dirIno uint64 // inode of /proc/PID: a new one means a new process
	netns  uint64
	reads  int // times its link was read
	scan   int // scan it was last listed in
}
