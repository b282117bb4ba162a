package report

import (
	"context"
	"runtime"
	"testing"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/registry"
	"github.com/portwho/portwho/internal/sockets"
)

// The Collect benchmarks measure this host as it is: run them with the
// bench workload up (bench/workload) to see where a portwho run spends its
// time. Each stage is timed alone so a profile can be read against them.

func benchHost(b *testing.B) {
	b.Helper()
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc and sock_diag")
	}
	b.ReportAllocs()
}

// BenchmarkCollectListeners is portwho --json's work before output.
func BenchmarkCollectListeners(b *testing.B) {
	benchHost(b)
	reg := registry.Embedded()
	n := 0
	for b.Loop() {
		c := &Collector{Sockets: &sockets.Scanner{}, Procs: &process.Reader{}, Registry: reg}
		socks, err := c.Collect(context.Background(), sockets.Query{AllNamespaces: true})
		if err != nil {
			b.Fatal(err)
		}
		n = len(socks)
	}
	b.ReportMetric(float64(n), "sockets")
}

// BenchmarkStageList is the kernel listing alone.
func BenchmarkStageList(b *testing.B) {
	benchHost(b)
	for b.Loop() {
		if _, err := (&sockets.Scanner{}).List(context.Background(), sockets.Query{AllNamespaces: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStageOwners is the descriptor walk for the listeners' inodes.
func BenchmarkStageOwners(b *testing.B) {
	benchHost(b)
	s, inodes := listenerInodes(b)
	for b.Loop() {
		if _, err := s.Owners(context.Background(), inodes); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStageProcesses reads every owner of a listener, as Collect does.
func BenchmarkStageProcesses(b *testing.B) {
	benchHost(b)
	s, inodes := listenerInodes(b)
	o, err := s.Owners(context.Background(), inodes)
	if err != nil {
		b.Fatal(err)
	}
	var pids []int
	seen := make(map[int]bool)
	for _, ps := range o.Holders {
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				pids = append(pids, p)
			}
		}
	}
	for b.Loop() {
		r := &process.Reader{}
		for _, p := range pids {
			r.Get(p)
		}
	}
	b.ReportMetric(float64(len(pids)), "processes")
}

// listenerInodes lists the host's listeners once and returns the scanner
// with their inodes, the input of the owner walk.
func listenerInodes(b *testing.B) (*sockets.Scanner, map[uint64]struct{}) {
	b.Helper()
	s := &sockets.Scanner{}
	socks, err := s.List(context.Background(), sockets.Query{AllNamespaces: true})
	if err != nil {
		b.Fatal(err)
	}
	inodes := make(map[uint64]struct{}, len(socks))
	for _, so := range socks {
		inodes[so.Inode] = struct{}{}
	}
	return s, inodes
}
