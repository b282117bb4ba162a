package cli

import (
	"io"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// BenchmarkWriteReportJSON encodes a listing shaped like the bench
// workload's --all: 17,000 sockets held by 200 processes.
func BenchmarkWriteReportJSON(b *testing.B) {
	procs := make([]process.Process, 200)
	for i := range procs {
		procs[i] = process.Process{
			PID: 1000 + i, PPID: 999, Name: "workload", User: "root",
			Cmdline: []string{"/tmp/bench/workload", "-hold", "-duration", "15m0s"},
			Exe:     "/tmp/bench/workload", Cwd: "/work/main", StartTime: time.Unix(1796000000, 0),
			Parents: []process.Ancestor{{PID: 999, Name: "workload"}, {PID: 900, Name: "bash"}, {PID: 1, Name: "systemd"}},
			Unit:    "session-3.scope", Cgroup: "/user.slice/user-0.slice/session-3.scope", NetNS: 4026531840,
		}
	}
	socks := make([]report.Socket, 17000)
	for i := range socks {
		socks[i] = report.Socket{
			Socket: sockets.Socket{Protocol: "tcp", Family: "inet", LocalAddr: netip.MustParseAddr("127.77.0.1"), LocalPort: uint16(20000 + i%5000),
				RemoteAddr: netip.MustParseAddr("127.77.0.1"), RemotePort: uint16(40000 + i), State: "ESTAB", Inode: uint64(100000 + i),
				NetNS: sockets.NetNS{Inode: 4026531840, Host: true, Label: "host"}},
			Processes: []process.Process{procs[i%200]}, Owner: report.OwnerKnown, Service: "svc" + strconv.Itoa(i%7), Findings: []report.Finding{},
		}
	}
	s := &IOStreams{Out: io.Discard}
	b.ReportAllocs()
	for b.Loop() {
		if err := writeReportJSON(s, struct{}{}, socks); err != nil {
			b.Fatal(err)
		}
	}
}
