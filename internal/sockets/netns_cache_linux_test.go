package sockets

import (
	"bufio"
	"encoding/binary"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A Scanner kept across scans caches which namespace each process is in;
// a namespace that appears after its first scan must still be listed by
// the next one, whether it came with a new process (clone, `unshare -n`
// started afresh) or a process the cache had already seen moved into it.
func TestNamespaceCacheFindsNewNamespaces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating network namespaces needs root")
	}
	unsharePath, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	if err := exec.Command(unsharePath, "-n", "true").Run(); err != nil {
		t.Skipf("unshare -n refused here: %v", err)
	}
	q := Query{AllNamespaces: true, TCP: true}

	t.Run("new process", func(t *testing.T) {
		s := &Scanner{}
		if _, err := s.Scan(testCtx(t), q); err != nil {
			t.Fatal(err)
		}
		c := startHelper(t, "listen", nil, unsharePath, "-n")
		port := c.port(t)
		ino, err := nsInode("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/ns/net")
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Scan(testCtx(t), q)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := findPort(r.Sockets, port, ino); !ok {
			t.Errorf("listener on port %d in netns %d, created after the first scan, not found by the second; skipped: %v", port, ino, r.Skipped)
		}
	})

	// A shell the cache has seen in our namespace execs `unshare -n`,
	// which moves that same pid into a new namespace before the helper
	// listens there: no new pid for the cache to notice.
	for _, tc := range []struct {
		name   string
		before int // scans that see the pid in our namespace first
		within int // scans after the move by which it must be found
	}{
		{name: "seen once, moved", before: 1, within: 1},
		{name: "long-lived, moved", before: nsSettle + 2, within: nsFullEvery},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Scanner{}
			pid, next := startMover(t, unsharePath)
			self, err := nsInode("/proc/self/ns/net")
			if err != nil {
				t.Fatal(err)
			}
			for range tc.before {
				r, err := s.Scan(testCtx(t), q)
				if err != nil {
					t.Fatal(err)
				}
				if i := indexPID(r.Namespaces, pid); i >= 0 {
					t.Fatalf("pid %d listed as the only process in %+v before it moved", pid, r.Namespaces[i])
				}
			}
			if ino, err := nsInode("/proc/" + strconv.Itoa(pid) + "/ns/net"); err != nil || ino != self {
				t.Fatalf("pid %d moved before the test let it (netns %d, ours %d, %v)", pid, ino, self, err)
			}
			port := next()
			ino, err := nsInode("/proc/" + strconv.Itoa(pid) + "/ns/net")
			if err != nil || ino == self {
				t.Fatalf("pid %d did not move into a new namespace (netns %d, %v)", pid, ino, err)
			}
			for i := 1; ; i++ {
				r, err := s.Scan(testCtx(t), q)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := findPort(r.Sockets, port, ino); ok {
					break
				}
				if i == tc.within {
					t.Fatalf("listener on port %d in netns %d not found within %d scans after its pid moved; skipped: %v", port, ino, i, r.Skipped)
				}
			}
		})
	}
}

func indexPID(ns []Namespace, pid int) int {
	for i, n := range ns {
		if n.PID == pid {
			return i
		}
	}
	return -1
}

// startMover starts a shell that prints its pid and waits; next lets it
// exec `unshare -n` into the listen helper and returns the helper's port.
func startMover(t *testing.T, unsharePath string) (int, func() uint16) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `echo $$; read -r go; exec "$@"`, "sh", unsharePath, "-n", self, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=listen")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	out := bufio.NewReader(stdout)
	readInt := func(what string) int {
		t.Helper()
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("mover: reading its %s: %v", what, err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("mover printed %q, want its %s", line, what)
		}
		return n
	}
	pid := readInt("pid")
	if pid != cmd.Process.Pid {
		t.Fatalf("mover says pid %d, started %d", pid, cmd.Process.Pid)
	}
	return pid, func() uint16 {
		t.Helper()
		if _, err := stdin.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
		return uint16(readInt("port"))
	}
}

// dirent builds one linux_dirent64 record, padded to 8 bytes.
func dirent(ino uint64, name string) []byte {
	n := (19 + len(name) + 1 + 7) &^ 7
	b := make([]byte, n)
	binary.NativeEndian.PutUint64(b[0:], ino)
	binary.NativeEndian.PutUint16(b[16:], uint16(n))
	b[18] = 4 // DT_DIR
	copy(b[19:], name)
	return b
}

func TestParseDirents(t *testing.T) {
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	short := dirent(9, "77")
	binary.NativeEndian.PutUint16(short[16:], 8) // shorter than its header
	for _, tc := range []struct {
		name string
		in   []byte
		want []procEnt
	}{
		{name: "empty", in: nil, want: nil},
		{
			name: "pids among other entries",
			in:   cat(dirent(1, "."), dirent(2, ".."), dirent(10, "1"), dirent(11, "self"), dirent(12, "4242"), dirent(13, "sys")),
			want: []procEnt{{1, 10}, {4242, 12}},
		},
		{name: "zero and leading zero are not pids", in: cat(dirent(5, "0"), dirent(6, "012")), want: nil},
		{name: "not a number after a digit", in: cat(dirent(5, "1x")), want: nil},
		{name: "truncated record ends the buffer", in: cat(dirent(7, "12"), dirent(8, "34")[:20]), want: []procEnt{{12, 7}}},
		{name: "record length below its header", in: cat(dirent(7, "12"), short, dirent(8, "34")), want: []procEnt{{12, 7}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseDirents(tc.in, nil)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(procEnt{})); diff != "" {
				t.Errorf("parseDirents (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseDirents(f *testing.F) {
	f.Add(append(dirent(10, "1"), dirent(11, "self")...))
	f.Add(dirent(12, "4242")[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range parseDirents(b, nil) {
			if p.pid <= 0 {
				t.Errorf("pid %d from %x", p.pid, b)
			}
		}
	})
}

// listProcs agrees with a plain directory listing on which pids exist, and
// gives each its directory's inode.
func TestListProcs(t *testing.T) {
	got, err := listProcs("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var fi os.FileInfo
	me := os.Getpid()
	found := false
	for i, p := range got {
		if i > 0 && got[i-1].pid >= p.pid {
			t.Fatalf("not sorted by pid at %d: %v", i, got[i-1:i+1])
		}
		if p.pid == me {
			found = true
			if fi, err = os.Stat("/proc/" + strconv.Itoa(me)); err != nil {
				t.Fatal(err)
			}
			if ino := fi.Sys().(*syscall.Stat_t).Ino; ino != p.ino {
				t.Errorf("inode %d, stat says %d", p.ino, ino)
			}
		}
	}
	if !found {
		t.Errorf("own pid %d not listed in %d processes", me, len(got))
	}
}
