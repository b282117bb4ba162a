package assess

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// syntheticHost is n listeners over 200 processes running 20 executables,
// the shape of the part-2 workload (many sockets, few programs): TCP and
// UDP, loopback and wildcard, a few in a container namespace.
func syntheticHost(n int) []report.Socket {
	exes := make([]string, 20)
	for i := range exes {
		switch i % 4 {
		case 0:
			exes[i] = fmt.Sprintf("/usr/sbin/daemon%d", i)
		case 1:
			exes[i] = fmt.Sprintf("/opt/vendor%d/bin/server", i)
		case 2:
			exes[i] = "/usr/bin/bash"
		default:
			exes[i] = fmt.Sprintf("/tmp/build%d/app", i)
		}
	}
	procs := make([]process.Process, 200)
	for i := range procs {
		procs[i] = process.Process{PID: 1000 + i, PPID: 1, Name: fmt.Sprintf("proc%d", i%20), User: "svc",
			Exe: exes[i%20], Cmdline: []string{exes[i%20], "--serve"}}
	}
	loop := netip.MustParseAddr("127.0.0.1")
	wild := netip.MustParseAddr("0.0.0.0")
	socks := make([]report.Socket, n)
	for i := range socks {
		s := sockets.Socket{Protocol: "tcp", Family: "inet", LocalAddr: loop, LocalPort: uint16(20000 + i%30000),
			State: "LISTEN", Inode: uint64(100000 + i), NetNS: sockets.NetNS{Inode: 4026531840, Host: true, Label: "host"}}
		if i%3 == 0 {
			s.Protocol, s.State = "udp", "UNCONN"
		}
		if i%5 == 0 {
			s.LocalAddr = wild
		}
		if i%50 == 0 {
			s.NetNS = sockets.NetNS{Inode: 4026532000, Label: "docker:web"}
		}
		socks[i] = report.Socket{Socket: s, Processes: []process.Process{procs[i%200]}, Owner: report.OwnerKnown}
	}
	return socks
}

func benchRegistry() Registry {
	regs := []Registration{{Service: "svc", Description: "Some Service"}}
	return RegistryFunc(func(port uint16, proto string) []Registration {
		if port%2 == 0 {
			return regs
		}
		return nil
	})
}

// BenchmarkAnnotate is one run's judgement of 12,000 listeners as portwho
// pays it: a fresh Assessor, a cold package lookup over this machine's
// real dpkg database, real directory stats, a registry lookup per socket.
func BenchmarkAnnotate(b *testing.B) {
	socks := syntheticHost(12000)
	b.ReportAllocs()
	for b.Loop() {
		a := New(DefaultConfig(), DetectPackages("/"), NewStatDirs("/proc"), benchRegistry())
		a.Annotate(socks)
	}
}

// BenchmarkAnnotateRules is the rules alone (no package lookup, no stats).
func BenchmarkAnnotateRules(b *testing.B) {
	socks := syntheticHost(12000)
	b.ReportAllocs()
	for b.Loop() {
		a := New(DefaultConfig(), nil, nil, benchRegistry())
		a.Annotate(socks)
	}
}
