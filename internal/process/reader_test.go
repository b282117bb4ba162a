package process

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReaderFixture(t *testing.T) {
	r := &Reader{ProcRoot: "testdata/proc", PasswdPath: "testdata/passwd"}
	got, err := r.Get(4242)
	if err != nil {
		t.Fatal(err)
	}
	want := &Process{
		PID:        4242,
		PPID:       4100,
		Name:       "python3 (x) y",
		UID:        33,
		User:       "www-data",
		Cmdline:    []string{"/usr/bin/python3", "-m", "http.server", "3302"},
		Exe:        "/usr/bin/python3",
		ExeDeleted: true,
		Cwd:        "/srv/www",
		StartTime:  time.Unix(1796000000+3600, 0),
		Parents:    []Ancestor{{4100, "bash"}, {3900, "sshd"}, {1, "systemd"}},
		Unit:       "web.service",
		Cgroup:     "/user.slice/user-1000.slice/user@1000.service/app.slice/web.service",
		NetNS:      4026532000,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	t.Run("kernel thread has no exe, cmdline or unit", func(t *testing.T) {
		got, err := r.Get(77)
		if err != nil {
			t.Fatal(err)
		}
		want := &Process{PID: 77, PPID: 2, Name: "kworker/0:1", User: "root", Cgroup: "/",
			StartTime: time.Unix(1796000000, 50*int64(time.Millisecond))}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("missing pid is fs.ErrNotExist", func(t *testing.T) {
		if _, err := r.Get(5); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("parent without a process file ends the chain", func(t *testing.T) {
		// 3900's record lists its parent 1; 77's parent 2 is absent.
		got, _ := r.Get(77)
		if len(got.Parents) != 0 {
			t.Errorf("parents = %v, want none", got.Parents)
		}
	})
}

func TestReaderBootTimeFallsBackToUptime(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "uptime"), "100.50 180.00\n")
	mustWrite(t, filepath.Join(root, "10", "stat"), "10 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 2000 0 0\n")
	mustWrite(t, filepath.Join(root, "10", "status"), "Uid:\t4000\t4000\t4000\t4000\n")
	now := time.Unix(2000000000, 0)
	r := &Reader{ProcRoot: root, PasswdPath: filepath.Join(root, "none"), Now: func() time.Time { return now }}
	p, err := r.Get(10)
	if err != nil {
		t.Fatal(err)
	}
	// boot = now - 100.5s, truncated to the second; start = boot + 20s.
	if want := time.Unix(2000000000-101+20, 0); !p.StartTime.Equal(want) {
		t.Errorf("start = %v, want %v", p.StartTime, want)
	}
	if p.User != "4000" {
		t.Errorf("user = %q, want the uid for an unknown user", p.User)
	}
}

func mustWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startChild starts a process that lives until the test ends, blocked
// reading a pipe the test holds.
func startChild(t *testing.T, path string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(path, args...)
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func TestReaderRealChild(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat to start")
	}
	before := time.Now()
	cmd := startChild(t, cat, "-", "arg with space")
	after := time.Now()
	r := &Reader{}
	p, err := r.Get(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	self, err := r.Get(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := filepath.EvalSymlinks(cat)
	if p.PID != cmd.Process.Pid || p.PPID != os.Getpid() || p.Name != "cat" || p.Exe != exe || p.ExeDeleted {
		t.Errorf("got pid %d ppid %d name %q exe %q deleted %v; want %d %d cat %q false",
			p.PID, p.PPID, p.Name, p.Exe, p.ExeDeleted, cmd.Process.Pid, os.Getpid(), exe)
	}
	if diff := cmp.Diff([]string{cat, "-", "arg with space"}, p.Cmdline); diff != "" {
		t.Errorf("cmdline (-want +got):\n%s", diff)
	}
	if uid := uint32(os.Getuid()); p.UID != uid || p.User != self.User {
		t.Errorf("uid %d user %q, want %d %q", p.UID, p.User, uid, self.User)
	}
	// btime has a resolution of a second and starttime of 10ms.
	if p.StartTime.Before(before.Add(-time.Second)) || p.StartTime.After(after.Add(time.Second)) {
		t.Errorf("start %v not within a second of [%v, %v]", p.StartTime, before, after)
	}
	if len(p.Parents) == 0 || p.Parents[0].PID != os.Getpid() || p.Parents[len(p.Parents)-1].PID != 1 {
		t.Errorf("parents = %v, want this test first and pid 1 last", p.Parents)
	}
	wd, _ := os.Getwd()
	if p.Cwd != wd {
		t.Errorf("cwd = %q, want %q", p.Cwd, wd)
	}
	link, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ns, _ := parseNetNSLink(link)
	if p.NetNS != ns || ns == 0 {
		t.Errorf("netns = %d, want %d", p.NetNS, ns)
	}
}

func TestReaderDeletedExecutable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat to copy")
	}
	copyPath := filepath.Join(t.TempDir(), "ghost")
	copyFile(t, cat, copyPath)
	cmd := startChild(t, copyPath)
	if err := os.Remove(copyPath); err != nil {
		t.Fatal(err)
	}
	p, err := (&Reader{}).Get(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if p.Exe != copyPath || !p.ExeDeleted {
		t.Errorf("exe %q deleted %v, want %q true", p.Exe, p.ExeDeleted, copyPath)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReaderVanishedPid(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	// The pid has been reaped; unless the kernel reused it already, it is gone.
	_, err := (&Reader{}).Get(cmd.Process.Pid)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestReaderCachesByPid(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "stat"), "btime 1000\n")
	mustWrite(t, filepath.Join(root, "10", "stat"), "10 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 2000 0 0\n")
	mustWrite(t, filepath.Join(root, "10", "status"), "Uid:\t0\t0\t0\t0\n")
	r := &Reader{ProcRoot: root}
	first, err := r.Get(10)
	if err != nil {
		t.Fatal(err)
	}
	// Once read, a pid is not read again in this run, even if it is gone.
	if err := os.RemoveAll(filepath.Join(root, "10")); err != nil {
		t.Fatal(err)
	}
	second, err := r.Get(10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("(-first +second):\n%s", diff)
	}
}

func TestReaderConcurrentGets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	r := &Reader{}
	pids := []int{os.Getpid(), os.Getppid(), 1}
	done := make(chan *Process, 4*len(pids))
	for range 4 {
		for _, pid := range pids {
			go func() {
				p, err := r.Get(pid)
				if err != nil {
					t.Error(err)
				}
				done <- p
			}()
		}
	}
	seen := map[int]*Process{}
	for range 4 * len(pids) {
		p := <-done
		if p == nil {
			continue
		}
		if first, ok := seen[p.PID]; ok {
			if diff := cmp.Diff(first, p); diff != "" {
				t.Errorf("pid %d read differently (-first +later):\n%s", p.PID, diff)
			}
		}
		seen[p.PID] = p
	}
}
