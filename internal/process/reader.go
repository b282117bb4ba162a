package process

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of starttime in /proc/PID/stat. Linux fixes
// it at 100 on every architecture portwho builds for; sysconf(_SC_CLK_TCK)
// would need cgo to say the same.
const clockTicks = 100

// maxCmdline caps how much of a command line is read: enough for any real
// one, bounded against a process that fills its argument area on purpose.
const maxCmdline = 128 << 10

// Reader reads processes from a /proc tree. It caches what it reads by pid,
// so one Reader serves one run (a scan, a command): many sockets share an
// owner, and owners share parents. It is safe for concurrent use. The zero
// value reads the real /proc and /etc/passwd.
type Reader struct {
	// ProcRoot is where /proc is mounted ("" means /proc).
	ProcRoot string
	// PasswdPath is the user database ("" means /etc/passwd). portwho reads
	// it itself rather than through os/user: no cgo, one read per run.
	PasswdPath string
	// Now is the clock, used to place process start times when /proc/stat
	// has no boot time (nil means time.Now).
	Now func() time.Time

	// mu guards the caches only: reads run unlocked, so callers may read
	// several processes at once.
	mu     sync.Mutex
	full   map[int]*Process
	basics map[int]stat

	usersOnce sync.Once
	users     map[uint32]string
	bootOnce  sync.Once
	boot      time.Time
}

func (r *Reader) procRoot() string {
	if r.ProcRoot == "" {
		return "/proc"
	}
	return r.ProcRoot
}

func (r *Reader) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// Get reads pid. A pid that does not exist, or exits while it is being
// read, gives an error wrapping fs.ErrNotExist, which callers skip. Details
// the caller may not read (another user's exe, cwd or namespace without
// root) are left empty rather than failing. The Process returned is the
// caller's to keep; its slices must not be modified.
func (r *Reader) Get(pid int) (*Process, error) {
	r.mu.Lock()
	p, ok := r.full[pid]
	r.mu.Unlock()
	if !ok {
		var err error
		if p, err = r.read(pid); err != nil {
			return nil, err
		}
		r.mu.Lock()
		if first, ok := r.full[pid]; ok {
			p = first // read twice at once: keep one answer
		} else {
			if r.full == nil {
				r.full = make(map[int]*Process)
			}
			r.full[pid] = p
		}
		r.mu.Unlock()
	}
	cp := *p
	return &cp, nil
}

func (r *Reader) read(pid int) (*Process, error) {
	d, err := openProcDir(r.procRoot(), pid)
	if err != nil {
		return nil, fmt.Errorf("read process %d: %w", pid, vanished(err))
	}
	defer d.close()
	r.mu.Lock()
	st, ok := r.basics[pid]
	r.mu.Unlock()
	if !ok {
		b, err := d.readFile("stat", 4<<10)
		if err != nil {
			return nil, fmt.Errorf("read process %d: %w", pid, vanished(err))
		}
		if st, err = parseStat(b); err != nil {
			return nil, fmt.Errorf("read process %d: %w", pid, err)
		}
		r.remember(pid, st)
	}
	p := &Process{PID: pid, PPID: st.ppid, Name: st.comm}
	b, err := d.readFile("status", 8<<10)
	if err != nil {
		return nil, fmt.Errorf("read process %d: %w", pid, vanished(err))
	}
	if p.UID, err = parseStatusUID(b); err != nil {
		return nil, fmt.Errorf("read process %d: %w", pid, err)
	}
	p.User = r.userName(p.UID)
	// cmdline, exe, cwd, ns: a zombie or kernel thread has none, and
	// another user's are hidden without root. Neither is an error.
	if b, err := d.readFile("cmdline", maxCmdline); err == nil {
		p.Cmdline = parseCmdline(b)
	}
	if exe, err := d.readlink("exe"); err == nil {
		// The kernel marks an unlinked executable with this suffix. A file
		// really named "x (deleted)" reads the same; that ambiguity is the
		// kernel's, and ss/lsof share it.
		p.Exe, p.ExeDeleted = strings.CutSuffix(exe, " (deleted)")
	}
	if cwd, err := d.readlink("cwd"); err == nil {
		p.Cwd = strings.TrimSuffix(cwd, " (deleted)")
	}
	if b, err := d.readFile("cgroup", 16<<10); err == nil {
		p.Unit, p.Container, p.Cgroup = parseCgroup(b)
	}
	if link, err := d.readlink("ns/net"); err == nil {
		p.NetNS, _ = parseNetNSLink(link)
	}
	if boot, ok := r.bootTime(); ok {
		p.StartTime = boot.Add(time.Duration(st.startTime) * (time.Second / clockTicks))
	}
	p.Parents = r.parents(st.ppid)
	return p, nil
}

// stat reads and caches /proc/PID/stat, the one file the parent chain needs.
func (r *Reader) stat(pid int) (stat, error) {
	r.mu.Lock()
	st, ok := r.basics[pid]
	r.mu.Unlock()
	if ok {
		return st, nil
	}
	b, err := readFile(filepath.Join(r.procRoot(), strconv.Itoa(pid), "stat"), 4<<10)
	if err != nil {
		return stat{}, fmt.Errorf("read process %d: %w", pid, vanished(err))
	}
	if st, err = parseStat(b); err != nil {
		return stat{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	r.remember(pid, st)
	return st, nil
}

func (r *Reader) remember(pid int, st stat) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.basics == nil {
		r.basics = make(map[int]stat)
	}
	r.basics[pid] = st
}

// parents walks up from ppid to pid 1. It stops early, without error, at a
// parent that has exited or cannot be read, and guards against a cycle
// (pid reuse between reads can make one).
func (r *Reader) parents(ppid int) []Ancestor {
	var chain []Ancestor
	for pid := ppid; pid > 0 && len(chain) < 64; {
		st, err := r.stat(pid)
		if err != nil {
			break
		}
		chain = append(chain, Ancestor{PID: pid, Name: st.comm})
		if pid == 1 || st.ppid == pid {
			break
		}
		pid = st.ppid
	}
	return chain
}

// userName names a uid from the passwd file, read once.
func (r *Reader) userName(uid uint32) string {
	r.usersOnce.Do(func() {
		path := r.PasswdPath
		if path == "" {
			path = "/etc/passwd"
		}
		r.users = map[uint32]string{}
		if f, err := os.Open(path); err == nil {
			if u, err := parsePasswd(f); err == nil {
				r.users = u
			}
			f.Close()
		}
	})
	if name, ok := r.users[uid]; ok {
		return name
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// bootTime is when the kernel booted, from /proc/stat's btime, or else
// from the clock minus /proc/uptime.
func (r *Reader) bootTime() (time.Time, bool) {
	r.bootOnce.Do(func() { r.boot = r.readBootTime() })
	return r.boot, !r.boot.IsZero()
}

func (r *Reader) readBootTime() time.Time {
	if f, err := os.Open(filepath.Join(r.procRoot(), "stat")); err == nil {
		secs, err := parseBootTime(f)
		f.Close()
		if err == nil {
			return time.Unix(secs, 0)
		}
	}
	if b, err := readFile(filepath.Join(r.procRoot(), "uptime"), 256); err == nil {
		if f := bytes.Fields(b); len(f) > 0 {
			if up, err := strconv.ParseFloat(string(f[0]), 64); err == nil {
				return r.now().Add(-time.Duration(up * float64(time.Second))).Truncate(time.Second)
			}
		}
	}
	return time.Time{}
}

// vanished makes "the process is gone" one error callers can test for:
// opening a dead pid's files gives ENOENT, reading a file of a pid that died
// after the open gives ESRCH.
func vanished(err error) error {
	if errors.Is(err, errNoProcess) {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}
