package process

import (
	"os"
	"runtime"
	"testing"

	"github.com/prometheus/procfs"
)

// BenchmarkReaderGet reads this process with a fresh Reader each time: the
// per-owner cost of a scan (stat, status, cmdline, exe, cwd, cgroup, netns,
// parent chain), with passwd and boot time amortised as in a real run.
func BenchmarkReaderGet(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	r := &Reader{}
	r.Get(os.Getpid()) // load passwd and boot time once, as a run does
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		r.full, r.basics = nil, nil
		if _, err := r.Get(pid); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProcfsEquivalent reads the same details through prometheus/procfs,
// the alternative the architecture suggests; kept to re-check the choice.
func BenchmarkProcfsEquivalent(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		b.Fatal(err)
	}
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		p, err := fs.Proc(pid)
		if err != nil {
			b.Fatal(err)
		}
		st, err := p.Stat()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.NewStatus(); err != nil {
			b.Fatal(err)
		}
		p.CmdLine()
		p.Executable()
		p.Cwd()
		p.Cgroups()
		p.Namespaces()
		for ppid := st.PPID; ppid > 0; {
			pp, err := fs.Proc(ppid)
			if err != nil {
				break
			}
			pst, err := pp.Stat()
			if err != nil || ppid == 1 {
				break
			}
			ppid = pst.PPID
		}
	}
}
