package sockets

import (
	"context"
	"net"
	"strconv"
	"testing"
)

// benchWorkload holds 5,000 TCP listeners and 2,000 UDP sockets on
// loopback for the benchmark's lifetime, on top of whatever the host has.
func benchWorkload(b *testing.B) {
	b.Helper()
	for range 5000 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { l.Close() })
	}
	for range 2000 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
	}
}

func BenchmarkList(b *testing.B) {
	benchWorkload(b)
	ctx := context.Background()
	probe, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer probe.Close()
	port := uint16(probe.Addr().(*net.TCPAddr).Port)
	for _, backend := range []string{BackendNetlink, BackendProcNet} {
		s := &Scanner{Backend: backend}
		for _, c := range []struct {
			name string
			q    Query
		}{
			{"listeners", Query{}},
			{"all", Query{All: true}},
			{"port", Query{All: true, Port: port}},
		} {
			b.Run(backend+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					socks, err := s.List(ctx, c.q)
					if err != nil {
						b.Fatal(err)
					}
					n = len(socks)
				}
				b.ReportMetric(float64(n), "sockets")
			})
		}
	}
	// What the kernel-side port filter saves: the same answer by dumping
	// everything and filtering here.
	b.Run("netlink/port-filtered-in-go", func(b *testing.B) {
		b.ReportAllocs()
		s := &Scanner{Backend: BackendNetlink}
		for b.Loop() {
			socks, err := s.List(ctx, Query{All: true})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for _, sk := range socks {
				if sk.LocalPort == port || sk.RemotePort == port {
					n++
				}
			}
			if n == 0 {
				b.Fatal("probe listener not found")
			}
		}
	})
}

func BenchmarkOwners(b *testing.B) {
	benchWorkload(b)
	ctx := context.Background()
	socks, err := (&Scanner{}).List(ctx, Query{})
	if err != nil {
		b.Fatal(err)
	}
	want := make(map[uint64]struct{}, len(socks))
	for _, s := range socks {
		if s.Inode != 0 {
			want[s.Inode] = struct{}{}
		}
	}
	for _, stat := range []bool{false, true} {
		for _, workers := range []int{1, 2} {
			name := "readlink"
			if stat {
				name = "fstatat"
			}
			b.Run(name+"/workers="+strconv.Itoa(workers), func(b *testing.B) {
				b.ReportAllocs()
				s := &Scanner{ownerWorkers: workers, ownerStat: stat}
				for b.Loop() {
					o, err := s.Owners(ctx, want)
					if err != nil {
						b.Fatal(err)
					}
					if len(o.Holders) == 0 {
						b.Fatal("no holders")
					}
				}
				b.ReportMetric(float64(len(want)), "inodes")
			})
		}
	}
}
