package watch

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// diagMsg builds one SOCK_DIAG_BY_FAMILY message as the kernel lays it out
// (struct nlmsghdr + struct inet_diag_msg + an attribute).
func diagMsg(fam byte, src, dst netip.Addr, sport, dport uint16, uid uint32) []byte {
	m := make([]byte, nlmsgHdrLen+inetDiagMsgLen+8)
	putHeader(m, len(m), sockDiagByFam)
	d := m[nlmsgHdrLen:]
	d[0], d[1] = fam, 7 // TCP_CLOSE: how destroyed sockets are reported
	binary.BigEndian.PutUint16(d[4:6], sport)
	binary.BigEndian.PutUint16(d[6:8], dport)
	s16, t16 := src.As16(), dst.As16()
	if fam == afInet {
		s4, t4 := src.As4(), dst.As4()
		copy(d[8:12], s4[:])
		copy(d[24:28], t4[:])
	} else {
		copy(d[8:24], s16[:])
		copy(d[24:40], t16[:])
	}
	binary.NativeEndian.PutUint32(d[64:68], uid)
	binary.NativeEndian.PutUint32(d[68:72], 0) // no inode any more
	return m
}

func TestParseDestroyed(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	any4 := netip.IPv4Unspecified()
	any6 := netip.IPv6Unspecified()
	cat := func(ms ...[]byte) []byte {
		var b []byte
		for _, m := range ms {
			b = append(b, m...)
		}
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want []Destroyed
		err  bool
	}{
		{"listener", diagMsg(afInet, lo, any4, 3302, 0, 33), []Destroyed{{lo, 3302, 33}}, false},
		{"ipv6 wildcard listener", diagMsg(afInet6, any6, any6, 22, 0, 0), []Destroyed{{any6, 22, 0}}, false},
		{"connection", diagMsg(afInet, lo, lo, 40000, 3302, 0), nil, false},
		{"unbound", diagMsg(afInet, any4, any4, 0, 0, 0), nil, false},
		{"two in one datagram", cat(diagMsg(afInet, lo, any4, 1, 0, 0), diagMsg(afInet, lo, lo, 2, 9, 0), diagMsg(afInet, lo, any4, 3, 0, 5)),
			[]Destroyed{{lo, 1, 0}, {lo, 3, 5}}, false},
		{"truncated", diagMsg(afInet, lo, any4, 3302, 0, 0)[:50], nil, true},
		{"length beyond the datagram", func() []byte { m := diagMsg(afInet, lo, any4, 1, 0, 0); putHeader(m, 4096, sockDiagByFam); return m }(), nil, true},
		{"other message types are skipped", func() []byte { m := diagMsg(afInet, lo, any4, 1, 0, 0); putHeader(m, len(m), 3); return m }(), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDestroyed(tt.in)
			if (err != nil) != tt.err {
				t.Errorf("err = %v, want error %v", err, tt.err)
			}
			if d := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func FuzzParseDestroyed(f *testing.F) {
	f.Add(diagMsg(afInet, netip.MustParseAddr("127.0.0.1"), netip.IPv4Unspecified(), 3302, 0, 0))
	f.Add(diagMsg(afInet6, netip.IPv6Unspecified(), netip.IPv6Unspecified(), 22, 0, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _ := parseDestroyed(b)
		for _, d := range got {
			if d.Port == 0 || !d.Address.IsValid() {
				t.Errorf("kept %+v", d)
			}
		}
	})
}

// TestWatchMissedListener opens and closes a real listener between two
// looks: polling cannot see it, the kernel's destruction notice can.
func TestWatchMissedListener(t *testing.T) {
	dw := &DestroyWatch{}
	ctx, cancel := context.WithCancel(context.Background())
	if err := dw.Start(ctx); err != nil {
		cancel()
		t.Skipf("no socket destruction notices here: %v", err)
	}
	defer dw.Stop()
	defer cancel()

	// Other programs on this machine close listeners too: keep ours.
	var mu sync.Mutex
	mine := map[uint16]bool{}
	var held []Destroyed
	waitGone := func(port uint16) {
		for {
			got, _ := dw.Drain()
			mu.Lock()
			for _, d := range got {
				if mine[d.Port] && d.Address == netip.MustParseAddr("127.0.0.1") {
					held = append(held, d)
				}
			}
			found := false
			for _, d := range held {
				found = found || d.Port == port
			}
			mu.Unlock()
			if found {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	gone := func() ([]Destroyed, bool) {
		mu.Lock()
		defer mu.Unlock()
		out := held
		held = nil
		return out, false
	}
	listen := func() (net.Listener, uint16) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := uint16(ln.Addr().(*net.TCPAddr).Port)
		mu.Lock()
		mine[p] = true
		mu.Unlock()
		return ln, p
	}

	ps := &procSnap{}
	ps.track(os.Getpid())
	st := newStepper(ps.snapshot)
	w := &Watcher{Snapshot: st.snapshot, Interval: MinInterval, Recorder: &memRecorder{}, OnScan: st.onScan,
		Gone: gone, GoneNS: 1, UserName: func(uid uint32) string { return "u" }}
	startWatcher(t, w)
	st.step(t)

	ln, port := listen()
	ln.Close()
	waitGone(port)
	evs := st.step(t)
	if d := cmp.Diff([]brief{{Type: Missed, Proto: "tcp", Port: port, PIDs: []int{}}}, briefs(evs)); d != "" {
		t.Errorf("listener between looks (-want +got):\n%s", d)
	}
	if len(evs) == 1 && (evs[0].Listener.User != "u" || evs[0].Listener.Address.String() != "127.0.0.1") {
		t.Errorf("missed event: %+v", evs[0].Listener)
	}

	// A listener a look saw is closed, not missed, even when the notice
	// arrives after the look that saw it go.
	ln, port = listen()
	if d := cmp.Diff([]brief{{Type: Opened, Proto: "tcp", Port: port, PIDs: []int{os.Getpid()}}}, briefs(st.step(t))); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	ln.Close()
	if d := cmp.Diff([]brief{{Type: Closed, Proto: "tcp", Port: port, PIDs: []int{os.Getpid()}}}, briefs(st.step(t))); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	waitGone(port)
	if d := cmp.Diff([]brief(nil), briefs(st.step(t))); d != "" {
		t.Errorf("late notice of a seen listener (-want +got):\n%s", d)
	}
}
