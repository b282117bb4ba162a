package sockets

// Finding the network namespaces to list: every distinct net:[inode] under
// /proc/*/ns/net, plus namespaces that `ip netns add` pinned in /run/netns
// with no process inside.

import (
	"cmp"
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
	pids, err := listPIDs(root)
	if err != nil {
		return nil, err
	}
	for _, pid := range pids {
		p := filepath.Join(root, strconv.Itoa(pid), "ns/net")
		ino, err := nsInode(p)
		if err != nil || seen[ino] {
			continue // exited, or not ours to read
		}
		seen[ino] = true
		out = append(out, nsTarget{ns: label(ino), pid: pid, path: p})
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

// listPIDs reads the numeric entries of /proc in directory order.
func listPIDs(root string) ([]int, error) {
	f, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}
