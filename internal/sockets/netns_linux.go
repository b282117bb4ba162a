package sockets

// Finding the network namespaces to list: every distinct net:[inode] under
// /proc/*/ns/net, plus namespaces that `ip netns add` pinned in /run/netns
// with no process inside.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// nsTarget is one namespace to list and how to get into it.
type nsTarget struct {
	ns   NetNS
	self bool   // our own namespace: no need to enter it
	pid  int    // a process inside (0 when only a /run/netns mount holds it)
	path string // a file that opens the namespace (nsfs link or bind mount)
}

// namespaces returns our own namespace first, then, when all is set, every
// other one found, ordered by inode.
func (s *Scanner) namespaces(all bool) ([]nsTarget, error) {
	root := s.procRoot()
	self, err := nsInode(filepath.Join(root, "self/ns/net"))
	if err != nil {
		return nil, fmt.Errorf("read own netns: %w", err)
	}
	// Reading pid 1's link needs ptrace rights over it; without them, take
	// our namespace for the host's, which it is outside containers.
	host, err := nsInode(filepath.Join(root, "1/ns/net"))
	if err != nil {
		host = self
	}
	names := s.netnsNames()
	label := func(ino uint64) NetNS {
		switch name, ok := names[ino]; {
		case ino == host:
			return NetNS{Inode: ino, Host: true, Label: "host"}
		case ok:
			return NetNS{Inode: ino, Label: name}
		}
		return NetNS{Inode: ino, Label: "netns:[" + strconv.FormatUint(ino, 10) + "]"}
	}
	out := []nsTarget{{ns: label(self), self: true}}
	if !all {
		return out, nil
	}
	seen := map[uint64]bool{self: true}
	procs, err := listProcs(root)
	if err != nil {
		return nil, err
	}
	s.ns.mu.Lock()
	defer s.ns.mu.Unlock()
	for _, pid := range s.ns.lookup(root, procs) {
		p := filepath.Join(root, strconv.Itoa(pid.pid), "ns/net")
		if seen[pid.ino] {
			continue
		}
		seen[pid.ino] = true
		out = append(out, nsTarget{ns: label(pid.ino), pid: pid.pid, path: p})
	}
	for ino, name := range names {
		if !seen[ino] {
			seen[ino] = true
			out = append(out, nsTarget{ns: label(ino), path: filepath.Join(s.netnsDir(), name)})
		}
	}
	slices.SortFunc(out[1:], func(a, b nsTarget) int { return cmp.Compare(a.ns.Inode, b.ns.Inode) })
	return out, nil
}

// nsInode reads the inode out of a "net:[4026531840]" link.
func nsInode(path string) (uint64, error) {
	l, err := os.Readlink(path)
	if err != nil {
		return 0, err
	}
	v, ok := strings.CutPrefix(l, "net:[")
	if v, ok2 := strings.CutSuffix(v, "]"); ok && ok2 {
		if ino, err := strconv.ParseUint(v, 10, 64); err == nil {
			return ino, nil
		}
	}
	return 0, fmt.Errorf("read netns link %s: unexpected target %q", path, l)
}

// netnsNames maps namespace inodes to their `ip netns` names. A bind mount
// of an nsfs file has the namespace's inode, so a stat suffices. Missing or
// unreadable directories simply name nothing.
func (s *Scanner) netnsNames() map[uint64]string {
	dir := s.netnsDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	names := make(map[uint64]string, len(ents))
	for _, e := range ents {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, e.Name()), &st); err != nil {
			continue
		}
		// An unmounted placeholder file (ip netns crashed) is on the
		// directory's own filesystem, not nsfs.
		if st.Dev == 0 || !isNSFS(filepath.Join(dir, e.Name())) {
			continue
		}
		if prev, ok := names[st.Ino]; !ok || e.Name() < prev {
			names[st.Ino] = e.Name()
		}
	}
	return names
}

func isNSFS(path string) bool {
	var fs unix.Statfs_t
	return unix.Statfs(path, &fs) == nil && fs.Type == unix.NSFS_MAGIC
}

// procEnt is one /proc/PID entry: the pid and the inode of its directory.
// procfs gives a process's directory a fresh inode number when the pid is
// reused (the old task's dentries are flushed when it is reaped), so
// (pid, inode) tells a process from a later one with the same pid, and
// getdents hands the inode over for free where a start time would cost a
// read of /proc/PID/stat.
type procEnt struct {
	pid int
	ino uint64
}

// listProcs reads the numeric entries of /proc, sorted by pid.
func listProcs(root string) ([]procEnt, error) {
	f, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	defer f.Close()
	var out []procEnt
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.ReadDirent(int(f.Fd()), buf)
		if err != nil {
			return nil, fmt.Errorf("list processes: %w", err)
		}
		if n <= 0 {
			break
		}
		out = parseDirents(buf[:n], out)
	}
	slices.SortFunc(out, func(a, b procEnt) int { return cmp.Compare(a.pid, b.pid) })
	return out, nil
}

// parseDirents appends the numeric entries of a getdents64 buffer (struct
// linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name NUL-ended)
// to out, stopping at the first malformed record.
func parseDirents(b []byte, out []procEnt) []procEnt {
	const hdr = 19 // ino, off, reclen, type
	for len(b) >= hdr {
		reclen := int(binary.NativeEndian.Uint16(b[16:]))
		if reclen < hdr || reclen > len(b) {
			break
		}
		ino := binary.NativeEndian.Uint64(b[0:])
		name := b[hdr:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[reclen:]
		if len(name) == 0 || name[0] < '1' || name[0] > '9' {
			continue
		}
		if pid, err := strconv.Atoi(string(name)); err == nil && pid > 0 {
			out = append(out, procEnt{pid, ino})
		}
	}
	return out
}

// nsFullEvery is how many scans pass between re-reading every process's
// namespace link; nsSettle is how many scans in a row a new process's
// link is read before it is trusted.
const (
	nsFullEvery = 10
	nsSettle    = 3
)

// nsPID is a process and the namespace it is in.
type nsPID struct {
	pid int
	ino uint64
}

// lookup returns the namespace of every process in procs that could be
// read, in the order of procs, reading links only where the cache says to.
func (c *nsCache) lookup(root string, procs []procEnt) []nsPID {
	if c.procs == nil {
		c.procs = map[int]nsProc{}
	}
	full := c.scans%nsFullEvery == 0
	c.scans++
	out := make([]nsPID, 0, len(procs))
	for _, pe := range procs {
		e, ok := c.procs[pe.pid]
		if !ok || e.dirIno != pe.ino || pe.ino == 0 || e.reads < nsSettle || full {
			if !ok || e.dirIno != pe.ino {
				e = nsProc{dirIno: pe.ino}
			}
			ino, err := nsInode(filepath.Join(root, strconv.Itoa(pe.pid), "ns/net"))
			if err != nil {
				// Exited, or not ours to read: try again next scan.
				delete(c.procs, pe.pid)
				continue
			}
			e.netns = ino
			e.reads++
		}
		e.scan = c.scans
		c.procs[pe.pid] = e
		out = append(out, nsPID{pe.pid, e.netns})
	}
	for pid, e := range c.procs {
		if e.scan != c.scans {
			delete(c.procs, pid) // exited
		}
	}
	return out
}
