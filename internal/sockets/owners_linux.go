package sockets

// The inode -> pid walk over /proc/PID/fd. This is where `ss -p` spends
// most of its time, so it avoids the os package: one getdents64 pass over
// /proc, then per process one openat of its fd directory, getdents64 on it
// and one readlinkat per descriptor, with paths taken straight from the
// getdents buffer (already NUL-terminated) so the loop does not allocate.

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Owners maps each wanted socket inode to every pid holding it.
func (s *Scanner) Owners(ctx context.Context, inodes map[uint64]struct{}) (Owners, error) {
	o := Owners{Holders: make(map[uint64][]int), Root: privileged()}
	if len(inodes) == 0 {
		return o, nil
	}
	rootfd, err := unix.Open(s.procRoot(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return o, fmt.Errorf("find socket owners: open %s: %w", s.procRoot(), err)
	}
	defer unix.Close(rootfd)
	pids, err := readPIDs(rootfd)
	if err != nil {
		return o, fmt.Errorf("find socket owners: %w", err)
	}

	// The walk is syscall-bound (readlinkat per descriptor), so a second
	// walker overlaps the kernel's work: on a calm 2-core host two walkers
	// took 62 ms against 88 ms for one (BenchmarkOwners, 14,000 sockets).
	// Under heavy load from other programs the second walker waits for a
	// core and gains little, but costs only a goroutine.
	workers := s.ownerWorkers
	if workers == 0 {
		workers = min(max(runtime.GOMAXPROCS(0)/2, 1), 4)
		if runtime.GOMAXPROCS(0) == 2 {
			workers = 2
		}
	}
	if len(pids) < 64 {
		workers = 1
	}
	walkers := make([]*fdWalker, workers)
	var wg sync.WaitGroup
	for i := range walkers {
		w := &fdWalker{rootfd: rootfd, want: inodes, stat: s.ownerStat,
			holders: make(map[uint64][]int, len(inodes)/workers),
			arena:   make([]int, 0, len(inodes)/workers)}
		walkers[i] = w
		// Interleaving spreads the heavy processes (low pids are often
		// the long-lived servers) across workers.
		wg.Go(func() {
			for j := i; j < len(pids); j += workers {
				if j%64 == i && ctx.Err() != nil {
					w.err = ctx.Err()
					return
				}
				if w.err = w.walk(pids[j]); w.err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, w := range walkers {
		if w.err != nil {
			return o, fmt.Errorf("find socket owners: %w", w.err)
		}
		o.Unreadable += w.unreadable
	}
	// Merge into the first walker's map: its capped arena slices make
	// room on append.
	o.Holders = walkers[0].holders
	for _, w := range walkers[1:] {
		for ino, ps := range w.holders {
			if prev, ok := o.Holders[ino]; ok {
				ps = append(prev, ps...)
			}
			o.Holders[ino] = ps
		}
	}
	if workers > 1 {
		for _, ps := range o.Holders {
			slices.Sort(ps)
		}
	}
	return o, nil
}

// privileged reports CAP_SYS_PTRACE, which is what reading another user's
// /proc/PID/fd takes (ptrace_may_access), root or not.
func privileged() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<unix.CAP_SYS_PTRACE) != 0
}

// fdWalker holds one worker's buffers and findings.
type fdWalker struct {
	rootfd  int
	want    map[uint64]struct{}
	holders map[uint64][]int
	// arena backs the one-pid slices most sockets get, so the walk does
	// not allocate per socket; each is capped so a second holder's append
	// moves it out instead of overwriting a neighbour.
	arena      []int
	unreadable int
	err        error
	// stat identifies sockets with fstatat (st_ino of the socket) instead of
	// readlinkat; both are kept so the benchmark can compare them.
	stat bool

	path  [24]byte // "PID/fd\x00"
	dents [16 << 10]byte
	link  [64]byte // "socket:[4294967295]" fits; longer targets are not sockets
}

// walk scans one process. A process that exits under us is skipped; one
// whose descriptors we may not read is counted.
func (w *fdWalker) walk(pid int) error {
	p := appendUint(w.path[:0], uint64(pid))
	p = append(p, "/fd\x00"...)
	dirfd, err := openat(w.rootfd, p)
	switch err {
	case nil:
	case unix.ENOENT, unix.ESRCH, unix.ENOTDIR:
		return nil
	case unix.EACCES, unix.EPERM:
		w.unreadable++
		return nil
	default:
		return fmt.Errorf("open /proc/%d/fd: %w", pid, err)
	}
	defer unix.Close(dirfd)
	for {
		n, err := unix.Getdents(dirfd, w.dents[:])
		switch err {
		case nil:
		case unix.EACCES, unix.EPERM:
			w.unreadable++
			return nil
		default:
			return nil // the process went away mid-read
		}
		if n <= 0 {
			return nil
		}
		// procfs fills the buffer until the next entry does not fit, so a
		// reply with room to spare for several more (an fd entry takes at
		// most 32 bytes) was the whole directory: skip the getdents64 that
		// would return 0, one syscall in four per process.
		last := n+256 <= len(w.dents)
		for off := 0; off+19 < n; {
			reclen := int(*(*uint16)(unsafe.Pointer(&w.dents[off+16])))
			if reclen == 0 || off+reclen > n {
				return nil
			}
			name := w.dents[off+19 : off+reclen]
			off += reclen
			if name[0] == '.' {
				continue
			}
			ino, ok, err := w.socketInode(dirfd, name)
			if err == unix.EACCES || err == unix.EPERM {
				w.unreadable++
				return nil
			}
			if !ok {
				continue
			}
			if _, want := w.want[ino]; !want {
				continue
			}
			switch ps := w.holders[ino]; {
			case len(ps) == 0:
				w.arena = append(w.arena, pid)
				n := len(w.arena)
				w.holders[ino] = w.arena[n-1 : n : n]
			case ps[len(ps)-1] != pid: // one entry per pid, however many fds
				w.holders[ino] = append(ps, pid)
			}
		}
		if last {
			return nil
		}
	}
}

// socketInode says whether descriptor name (NUL-terminated) is a socket,
// and its inode.
func (w *fdWalker) socketInode(dirfd int, name []byte) (uint64, bool, error) {
	if w.stat {
		var st unix.Stat_t
		_, _, e := unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(dirfd), uintptr(unsafe.Pointer(&name[0])),
			uintptr(unsafe.Pointer(&st)), 0, 0, 0)
		if e != 0 {
			return 0, false, e
		}
		return st.Ino, st.Mode&unix.S_IFMT == unix.S_IFSOCK, nil
	}
	r, _, e := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dirfd), uintptr(unsafe.Pointer(&name[0])),
		uintptr(unsafe.Pointer(&w.link[0])), uintptr(len(w.link)), 0, 0)
	if e != 0 {
		return 0, false, e
	}
	ino, ok := parseSocketLink(w.link[:r])
	return ino, ok, nil
}

// parseSocketLink reads the inode out of a "socket:[12345]" link target.
func parseSocketLink(l []byte) (uint64, bool) {
	const prefix = "socket:["
	if len(l) < len(prefix)+2 || string(l[:len(prefix)]) != prefix || l[len(l)-1] != ']' {
		return 0, false
	}
	return decUint(l[len(prefix) : len(l)-1])
}

func openat(dirfd int, path []byte) (int, error) {
	fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(&path[0])),
		unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// readPIDs lists the numeric entries of an open /proc.
func readPIDs(rootfd int) ([]int, error) {
	var buf [32 << 10]byte
	pids := make([]int, 0, 1024)
	for {
		n, err := unix.Getdents(rootfd, buf[:])
		if err != nil {
			return nil, fmt.Errorf("read /proc: %w", err)
		}
		if n <= 0 {
			return pids, nil
		}
		for off := 0; off+19 < n; {
			reclen := int(*(*uint16)(unsafe.Pointer(&buf[off+16])))
			if reclen == 0 || off+reclen > n {
				break
			}
			name := buf[off+19 : off+reclen]
			off += reclen
			if end := indexNUL(name); end > 0 {
				if pid, ok := decUint(name[:end]); ok && pid > 0 && pid < 1<<22+1 {
					pids = append(pids, int(pid))
				}
			}
		}
	}
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}
