package watch

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portwho/portwho/internal/report"
)

// memRecorder numbers events like the store does, in memory.
type memRecorder struct {
	mu   sync.Mutex
	next int64
	all  []Event
}

func (m *memRecorder) Record(_ context.Context, evs []Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range evs {
		m.next++
		evs[i].ID = m.next
	}
	m.all = append(m.all, evs...)
	return nil
}

// sinkRec is a sink that keeps what it was sent.
type sinkRec struct {
	mu  sync.Mutex
	evs []Event
}

func (s *sinkRec) Send(ev Event) { s.mu.Lock(); s.evs = append(s.evs, ev); s.mu.Unlock() }
func (s *sinkRec) Close(context.Context) error {
	return nil
}
func (s *sinkRec) got() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.evs...)
}

// brief is what a test compares: the parts of an event it controls.
type brief struct {
	Type    EventType
	Proto   string
	Port    uint16
	PIDs    []int
	Prev    []int
	Allowed bool
	Initial bool
}

func briefs(evs []Event) []brief {
	var out []brief
	for _, ev := range evs {
		b := brief{Type: ev.Type, Proto: ev.Listener.Protocol, Port: ev.Listener.Port, PIDs: ev.Listener.PIDs, Allowed: ev.Allowed, Initial: ev.Initial}
		if ev.Previous != nil {
			b.Prev = ev.Previous.PIDs
		}
		out = append(out, b)
	}
	return out
}

// startWatcher runs w in the background; the returned stop cancels it and
// waits for Run to return.
func startWatcher(t *testing.T, w *Watcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func listenTCP(t *testing.T) (*net.TCPListener, uint16) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.(*net.TCPListener), uint16(ln.Addr().(*net.TCPAddr).Port)
}

func TestWatchRealListeners(t *testing.T) {
	ps := &procSnap{}
	ps.track(os.Getpid())
	st := newStepper(ps.snapshot)
	rec := &memRecorder{}
	sink := &sinkRec{}
	w := &Watcher{Snapshot: st.snapshot, Interval: MinInterval, Recorder: rec, Sinks: []Sink{sink}, OnScan: st.onScan}
	me := []int{os.Getpid()}

	a, pa := listenTCP(t)
	startWatcher(t, w)

	steps := []struct {
		name   string
		action func() uint16
		want   func(uint16) []brief
	}{
		{"listener open at start", func() uint16 { return 0 },
			func(uint16) []brief { return []brief{{Type: Opened, Proto: "tcp", Port: pa, PIDs: me, Initial: true}} }},
		{"nothing changed", func() uint16 { return 0 }, func(uint16) []brief { return nil }},
		{"tcp opened", func() uint16 { _, p := listenTCP(t); return p },
			func(p uint16) []brief { return []brief{{Type: Opened, Proto: "tcp", Port: p, PIDs: me}} }},
		{"tcp closed", func() uint16 { a.Close(); return 0 },
			func(uint16) []brief { return []brief{{Type: Closed, Proto: "tcp", Port: pa, PIDs: me}} }},
		{"udp opened and closed within one interval is missed", func() uint16 {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			return 0
		}, func(uint16) []brief { return nil }},
		{"udp opened", func() uint16 {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return uint16(c.LocalAddr().(*net.UDPAddr).Port)
		}, func(p uint16) []brief { return []brief{{Type: Opened, Proto: "udp", Port: p, PIDs: me}} }},
	}
	var wantAll []brief
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			want := s.want(s.action())
			wantAll = append(wantAll, want...)
			if d := cmp.Diff(want, briefs(st.step(t))); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
		})
	}
	// Every event went to history first, with an id, then to the sink.
	if d := cmp.Diff(wantAll, briefs(rec.all)); d != "" {
		t.Errorf("recorded (-want +got):\n%s", d)
	}
	if d := cmp.Diff(briefs(rec.all), briefs(sink.got())); d != "" {
		t.Errorf("sink saw other events than history (-history +sink):\n%s", d)
	}
	for i, ev := range sink.got() {
		if ev.ID != int64(i+1) {
			t.Errorf("event %d reached the sink with id %d, want %d", i, ev.ID, i+1)
		}
	}
}

// TestHelperChild is not a test: TestWatchOwnerChange runs the test binary
// as a child that holds an inherited listener (fd 3) until stdin closes.
func TestHelperChild(t *testing.T) {
	if os.Getenv("PORTWHO_WATCH_CHILD") != "1" {
		t.Skip("helper process for TestWatchOwnerChange")
	}
	f := os.NewFile(3, "listener")
	os.Stdout.WriteString("ready\n")
	io.Copy(io.Discard, os.Stdin)
	f.Close()
	os.Exit(0)
}

// startHolder hands ln's socket to a child and returns its pid and a
// function that makes it exit.
func startHolder(t *testing.T, ln *net.TCPListener) (int, *os.File, func()) {
	t.Helper()
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperChild$")
	cmd.Env = append(os.Environ(), "PORTWHO_WATCH_CHILD=1")
	cmd.ExtraFiles = []*os.File{f}
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { stdin.Close(); cmd.Wait() }
	t.Cleanup(stop)
	if l, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || l != "ready\n" {
		t.Fatalf("child: %q, %v", l, err)
	}
	return cmd.Process.Pid, f, stop
}

// TestInventoryOwnerChange runs the hand-over against the real, cached
// inventory (sockets over netlink, owners from /proc): the parent letting
// go is seen at once, with no full refresh.
func TestInventoryOwnerChange(t *testing.T) {
	ps := &procSnap{}
	ps.track(os.Getpid())
	inv := &Inventory{FullEvery: 1 << 30, Root: os.Geteuid() == 0}
	mine := func(ctx context.Context) ([]report.Socket, error) {
		socks, err := inv.Snapshot(ctx)
		ps.mu.Lock()
		defer ps.mu.Unlock()
		var out []report.Socket
		for _, s := range socks {
			for _, p := range s.Processes {
				if slices.Contains(ps.pids, p.PID) {
					out = append(out, s)
					break
				}
			}
		}
		return out, err
	}
	st := newStepper(mine)
	w := &Watcher{Snapshot: st.snapshot, Interval: MinInterval, Recorder: &memRecorder{}, OnScan: st.onScan}
	ln, port := listenTCP(t)
	startWatcher(t, w)
	me := os.Getpid()

	evs := st.step(t)
	if d := cmp.Diff([]brief{{Type: Opened, Proto: "tcp", Port: port, PIDs: []int{me}, Initial: true}}, briefs(evs)); d != "" {
		t.Fatalf("first look (-want +got):\n%s", d)
	}
	exe, _ := os.Executable()
	if evs[0].Listener.Exe != exe || evs[0].Listener.Process == "" || evs[0].Listener.Owner != report.OwnerKnown {
		t.Errorf("owner not read: exe %q (want %q), process %q, owner %q", evs[0].Listener.Exe, exe, evs[0].Listener.Process, evs[0].Listener.Owner)
	}
	child, f, stop := startHolder(t, ln)
	ps.track(child)
	// The child is only found here if something else on this shared
	// machine made the inventory list every process (a new listener it
	// could not place); otherwise the full refresh is what would find it.
	before := []int{me}
	switch got := briefs(st.step(t)); {
	case len(got) == 0:
	case len(got) == 1 && got[0].Type == OwnerChanged && len(got[0].PIDs) == 2:
		before = got[0].PIDs
	default:
		t.Errorf("child inherits, parent keeps it: %+v, want nothing or owner-changed to both", got)
	}
	f.Close()
	ln.Close()
	if d := cmp.Diff([]brief{{Type: OwnerChanged, Proto: "tcp", Port: port, PIDs: []int{child}, Prev: before}}, briefs(st.step(t))); d != "" {
		t.Errorf("parent lets go (-want +got):\n%s", d)
	}
	stop()
	if d := cmp.Diff([]brief{{Type: Closed, Proto: "tcp", Port: port, PIDs: []int{child}}}, briefs(st.step(t))); d != "" {
		t.Errorf("child exits (-want +got):\n%s", d)
	}
}

func TestWatchOwnerChange(t *testing.T) {
	ps := &procSnap{}
	ps.track(os.Getpid())
	st := newStepper(ps.snapshot)
	rec := &memRecorder{}
	w := &Watcher{Snapshot: st.snapshot, Interval: MinInterval, Recorder: rec, OnScan: st.onScan}
	ln, port := listenTCP(t)
	startWatcher(t, w)
	me := os.Getpid()

	if d := cmp.Diff([]brief{{Type: Opened, Proto: "tcp", Port: port, PIDs: []int{me}, Initial: true}}, briefs(st.step(t))); d != "" {
		t.Fatalf("first look (-want +got):\n%s", d)
	}

	// Hand the listener to a child, the way a supervisor or a graceful
	// restart does: it inherits the socket, then the parent lets go.
	child, f, stop := startHolder(t, ln)
	ps.track(child)
	both := []int{me, child}
	if me > child {
		both = []int{child, me}
	}

	if d := cmp.Diff([]brief{{Type: OwnerChanged, Proto: "tcp", Port: port, PIDs: both, Prev: []int{me}}}, briefs(st.step(t))); d != "" {
		t.Errorf("child inherits (-want +got):\n%s", d)
	}
	f.Close()
	ln.Close()
	if d := cmp.Diff([]brief{{Type: OwnerChanged, Proto: "tcp", Port: port, PIDs: []int{child}, Prev: both}}, briefs(st.step(t))); d != "" {
		t.Errorf("parent lets go (-want +got):\n%s", d)
	}
	stop()
	evs := st.step(t)
	if d := cmp.Diff([]brief{{Type: Closed, Proto: "tcp", Port: port, PIDs: []int{child}}}, briefs(evs)); d != "" {
		t.Errorf("child exits (-want +got):\n%s", d)
	}
	if len(evs) == 1 && evs[0].OpenedAt == nil {
		t.Errorf("closed event lost when the listener opened across owner changes")
	}
}

func TestWatchPolicy(t *testing.T) {
	ps := &procSnap{}
	ps.track(os.Getpid())
	st := newStepper(ps.snapshot)
	rec := &memRecorder{}
	sink := &sinkRec{}
	w := &Watcher{Snapshot: st.snapshot, Interval: MinInterval, Recorder: rec, Sinks: []Sink{sink}, OnScan: st.onScan}
	_, allowedPort := listenTCP(t)
	w.SetPolicy(func(s report.Socket) bool { return s.LocalPort == allowedPort })
	startWatcher(t, w)
	me := []int{os.Getpid()}

	st.step(t)
	_, other := listenTCP(t)
	st.step(t)
	// A reload (SIGHUP) that allows the other port too.
	w.SetPolicy(func(s report.Socket) bool { return s.LocalPort == allowedPort || s.LocalPort == other })
	_, third := listenTCP(t)
	st.step(t)

	wantHistory := []brief{
		{Type: Opened, Proto: "tcp", Port: allowedPort, PIDs: me, Allowed: true, Initial: true},
		{Type: Opened, Proto: "tcp", Port: other, PIDs: me},
		{Type: Opened, Proto: "tcp", Port: third, PIDs: me},
	}
	if d := cmp.Diff(wantHistory, briefs(rec.all)); d != "" {
		t.Errorf("history keeps every event (-want +got):\n%s", d)
	}
	wantAlerts := []brief{
		{Type: Opened, Proto: "tcp", Port: other, PIDs: me},
		{Type: Opened, Proto: "tcp", Port: third, PIDs: me},
	}
	if d := cmp.Diff(wantAlerts, briefs(sink.got())); d != "" {
		t.Errorf("only listeners the policy does not allow alert (-want +got):\n%s", d)
	}
}

// TestWatchShutdownLeaksNothing runs a watcher with every kind of sink and
// metrics, stops it, and checks that its goroutines are gone.
func TestWatchShutdownLeaksNothing(t *testing.T) {
	settle := func(limit int) int {
		n := runtime.NumGoroutine()
		for i := 0; i < 200 && n > limit; i++ {
			time.Sleep(10 * time.Millisecond)
			n = runtime.NumGoroutine()
		}
		return n
	}
	before := runtime.NumGoroutine()
	ps := &procSnap{}
	ps.track(os.Getpid())
	m := NewMetrics(0)
	hook := (&Queue{Name: "webhook", Retry: true, Deliver: (&Webhook{URL: "http://127.0.0.1:1/"}).Deliver}).Start(10)
	m.WatchWebhook(hook)
	run := (&Queue{Name: "exec", Deliver: (&Command{Cmd: "true"}).Deliver}).Start(10)
	scans := make(chan struct{}, 100)
	w := &Watcher{Snapshot: ps.snapshot, Interval: MinInterval, Recorder: &memRecorder{}, Metrics: m,
		Sinks: []Sink{hook, run, &StreamSink{W: io.Discard}}, DrainTimeout: 50 * time.Millisecond,
		OnScan: func([]Event) { scans <- struct{}{} }}
	listenTCP(t)
	stop := startWatcher(t, w)
	<-scans
	<-scans
	stop()
	if after := settle(before); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after stop\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// TestInventoryCachesAssessment checks that a listener is assessed once,
// not every look, and that its findings stay on it.
func TestInventoryCachesAssessment(t *testing.T) {
	_, port := listenTCP(t)
	assessed := 0
	inv := &Inventory{
		Annotate: func(socks []report.Socket) error {
			for i := range socks {
				if socks[i].LocalPort == port {
					assessed++
					socks[i].Findings = []report.Finding{{ID: "test", Severity: report.SeverityHigh}}
				}
			}
			return nil
		},
		Service: func(p uint16, proto string) string {
			if p == port {
				return "ghost"
			}
			return ""
		},
	}
	for look := 0; look < 3; look++ {
		socks, err := inv.Snapshot(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(socks, func(s report.Socket) bool { return s.LocalPort == port })
		if i < 0 {
			t.Fatalf("look %d: listener on %d not listed", look, port)
		}
		if s := socks[i]; s.Service != "ghost" || len(s.Findings) != 1 || len(s.Processes) == 0 || s.Processes[0].PID != os.Getpid() {
			t.Errorf("look %d: service %q findings %v processes %v", look, s.Service, s.Findings, s.Processes)
		}
	}
	if assessed != 1 {
		t.Errorf("assessed %d times in 3 looks, want once", assessed)
	}
	// A reloaded policy changes the judgement: everything is assessed
	// again at the next look, and only then.
	inv.Reassess()
	for look := 0; look < 2; look++ {
		if _, err := inv.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if assessed != 2 {
		t.Errorf("assessed %d times after Reassess and two looks, want 2", assessed)
	}
}
