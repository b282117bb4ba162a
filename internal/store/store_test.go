package store

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portwho/portwho/internal/watch"
)

var t0 = time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)

func lst(port uint16, exe string, pids ...int) watch.Listener {
	return watch.Listener{
		Key:    watch.Key{NetNS: 4026531840, Protocol: "tcp", Address: netip.MustParseAddr("0.0.0.0"), Port: port, Exe: exe},
		PIDs:   pids,
		Inodes: []uint64{uint64(port) * 10},
		Owner:  "known", Process: filepath.Base(exe), User: "www-data",
	}
}

func ev(typ watch.EventType, at time.Duration, l watch.Listener) watch.Event {
	return watch.Event{Time: t0.Add(at), Type: typ, Listener: l}
}

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "sub", "history.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// summary is what the history tests compare.
func summary(evs []watch.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%d %s %s:%d %s %v", e.ID, e.Type, e.Listener.Protocol, e.Listener.Port, e.Listener.Process, e.Listener.PIDs))
	}
	return out
}

// history is a day on a host: a python listener on 3302 for 13m45s, sshd
// throughout, nginx handed from one master to another binary, a finding.
func history(t *testing.T, s *Store) {
	t.Helper()
	py := lst(3302, "/usr/bin/python3", 4121)
	ssh := lst(22, "/usr/sbin/sshd", 800)
	ngx := lst(80, "/usr/sbin/nginx", 900)
	ngx2 := lst(80, "/usr/local/sbin/nginx", 901)
	moved := ev(watch.OwnerChanged, 30*time.Minute, ngx2)
	moved.Previous = &ngx
	batches := [][]watch.Event{
		{ev(watch.Opened, 0, ssh), ev(watch.Opened, 0, ngx)},
		{ev(watch.Opened, time.Minute+7*time.Second, py)},
		{ev(watch.Closed, 14*time.Minute+52*time.Second, py)},
		{moved},
		{ev(watch.FindingRaised, 40*time.Minute, ssh)},
	}
	for _, b := range batches {
		if err := s.Record(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecordAssignsIDs(t *testing.T) {
	s := open(t)
	evs := []watch.Event{ev(watch.Opened, 0, lst(1, "/a", 1)), ev(watch.Opened, 0, lst(2, "/b", 2))}
	if err := s.Record(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if evs[0].ID != 1 || evs[1].ID != 2 {
		t.Errorf("ids %d %d, want 1 2", evs[0].ID, evs[1].ID)
	}
}

func TestEvents(t *testing.T) {
	s := open(t)
	history(t, s)
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, []string{
			"1 opened tcp:22 sshd [800]", "2 opened tcp:80 nginx [900]", "3 opened tcp:3302 python3 [4121]",
			"4 closed tcp:3302 python3 [4121]", "5 owner-changed tcp:80 nginx [901]", "6 finding tcp:22 sshd [800]"}},
		{"port", Filter{Port: 3302}, []string{"3 opened tcp:3302 python3 [4121]", "4 closed tcp:3302 python3 [4121]"}},
		{"process by name", Filter{Process: "sshd"}, []string{"1 opened tcp:22 sshd [800]", "6 finding tcp:22 sshd [800]"}},
		{"process by path", Filter{Process: "/usr/local/sbin/nginx"}, []string{"5 owner-changed tcp:80 nginx [901]"}},
		{"process by base name of exe", Filter{Process: "python3"}, []string{"3 opened tcp:3302 python3 [4121]", "4 closed tcp:3302 python3 [4121]"}},
		{"process suffix is not a base name", Filter{Process: "ython3"}, nil},
		{"since", Filter{Since: t0.Add(14 * time.Minute)}, []string{
			"4 closed tcp:3302 python3 [4121]", "5 owner-changed tcp:80 nginx [901]", "6 finding tcp:22 sshd [800]"}},
		{"until inclusive", Filter{Until: t0.Add(time.Minute + 7*time.Second)}, []string{
			"1 opened tcp:22 sshd [800]", "2 opened tcp:80 nginx [900]", "3 opened tcp:3302 python3 [4121]"}},
		{"since and until and port", Filter{Port: 22, Since: t0.Add(time.Second), Until: t0.Add(time.Hour)}, []string{"6 finding tcp:22 sshd [800]"}},
		{"limit keeps the last", Filter{Limit: 2}, []string{"5 owner-changed tcp:80 nginx [901]", "6 finding tcp:22 sshd [800]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Events(context.Background(), tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, summary(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestListenersAt(t *testing.T) {
	s := open(t)
	history(t, s)
	tests := []struct {
		name string
		at   time.Duration
		want []string
	}{
		{"before anything", -time.Second, nil},
		{"at the first look", 0, []string{"1 opened tcp:22 sshd [800]", "2 opened tcp:80 nginx [900]"}},
		{"while python listens", 10 * time.Minute, []string{
			"1 opened tcp:22 sshd [800]", "2 opened tcp:80 nginx [900]", "3 opened tcp:3302 python3 [4121]"}},
		{"at the close", 14*time.Minute + 52*time.Second, []string{"1 opened tcp:22 sshd [800]", "2 opened tcp:80 nginx [900]"}},
		{"after the hand-over the old owner is gone", 31 * time.Minute, []string{
			"1 opened tcp:22 sshd [800]", "5 owner-changed tcp:80 nginx [901]"}},
		{"a finding is not an open", time.Hour, []string{"1 opened tcp:22 sshd [800]", "5 owner-changed tcp:80 nginx [901]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListenersAt(context.Background(), t0.Add(tt.at))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, summary(got)); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	known, err := s.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ports []uint16
	for _, k := range known {
		ports = append(ports, k.Listener.Port)
	}
	if d := cmp.Diff([]uint16{22, 80}, ports); d != "" {
		t.Errorf("open now (-want +got):\n%s", d)
	}
}

func TestPruneKeepsWhatIsStillOpen(t *testing.T) {
	s := open(t)
	history(t, s)
	n, err := s.Prune(context.Background(), t0.Add(35*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	// Gone: nginx's first open (moved), python's open and close. Kept:
	// sshd's open (still listening), nginx's hand-over, the finding.
	if n != 3 {
		t.Errorf("pruned %d events, want 3", n)
	}
	all, err := s.Events(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1 opened tcp:22 sshd [800]", "5 owner-changed tcp:80 nginx [901]", "6 finding tcp:22 sshd [800]"}
	if d := cmp.Diff(want, summary(all)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	at, err := s.ListenersAt(context.Background(), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"1 opened tcp:22 sshd [800]", "5 owner-changed tcp:80 nginx [901]"}, summary(at)); d != "" {
		t.Errorf("listeners after pruning (-want +got):\n%s", d)
	}
}

func TestSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	s.db.QueryRow("PRAGMA user_version").Scan(&v)
	var mode, sync string
	s.db.QueryRow("PRAGMA journal_mode").Scan(&mode)
	s.db.QueryRow("PRAGMA synchronous").Scan(&sync)
	s.Close()
	if v != SchemaVersion() || mode != "wal" || sync != "2" {
		t.Errorf("user_version %d journal_mode %s synchronous %s, want %d wal 2 (FULL)", v, mode, sync, SchemaVersion())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	// Reopening an up-to-date database migrates nothing and keeps data.
	s, err = Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	t.Run("newer schema is refused", func(t *testing.T) {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		db.Exec("PRAGMA user_version = " + strconv.Itoa(SchemaVersion()+1))
		db.Close()
		if _, err := Open(context.Background(), path); !errors.Is(err, ErrTooNew) {
			t.Errorf("Open: %v, want ErrTooNew", err)
		}
	})
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		name string
		uid  int
		env  map[string]string
		want string
	}{
		{"root", 0, map[string]string{"XDG_STATE_HOME": "/x"}, "/var/lib/portwho/history.db"},
		{"xdg", 1000, map[string]string{"XDG_STATE_HOME": "/x/state", "HOME": "/home/u"}, "/x/state/portwho/history.db"},
		{"relative xdg is ignored", 1000, map[string]string{"XDG_STATE_HOME": "state", "HOME": "/home/u"}, "/home/u/.local/state/portwho/history.db"},
		{"home", 1000, map[string]string{"HOME": "/home/u"}, "/home/u/.local/state/portwho/history.db"},
		{"nothing", 1000, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DefaultPath(tt.uid, func(k string) string { return tt.env[k] })
			if got != tt.want || (tt.want == "") != (err != nil) {
				t.Errorf("DefaultPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestHelperDaemon is not a test: TestKill9LosesNothing runs the test
// binary as a daemon that records bursts of events and prints each id once
// its transaction has committed, until it is killed.
func TestHelperDaemon(t *testing.T) {
	path := os.Getenv("PORTWHO_STORE_DAEMON")
	if path == "" {
		t.Skip("helper process for TestKill9LosesNothing")
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		burst := make([]watch.Event, 1+i%17)
		for j := range burst {
			burst[j] = ev(watch.Opened, time.Duration(i)*time.Millisecond, lst(uint16(1+(i*31+j)%60000), "/usr/bin/burst", i))
		}
		if err := s.Record(context.Background(), burst); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		for _, e := range burst {
			fmt.Fprintln(w, e.ID)
		}
		w.Flush()
	}
}

func TestKill9LosesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "history.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperDaemon$")
	cmd.Env = append(os.Environ(), "PORTWHO_STORE_DAEMON="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Read acknowledgements until well into the bursts, then kill -9
	// while the daemon is writing the next one.
	acked := map[int64]bool{}
	sc := bufio.NewScanner(out)
	for len(acked) < 3000 && sc.Scan() {
		id, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			t.Fatalf("daemon said %q", sc.Text())
		}
		acked[id] = true
	}
	cmd.Process.Signal(syscall.SIGKILL)
	// Whatever it had printed before dying was acknowledged too.
	for sc.Scan() {
		if id, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
			acked[id] = true
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("daemon did not die of SIGKILL: %v\n%s", err, stderr.String())
	}
	if len(acked) < 3000 {
		t.Fatalf("daemon acknowledged only %d events\n%s", len(acked), stderr.String())
	}

	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Check(context.Background()); err != nil || v != "ok" {
		t.Fatalf("integrity_check: %q, %v", v, err)
	}
	all, err := s.Events(context.Background(), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[int64]bool{}
	for _, e := range all {
		have[e.ID] = true
	}
	var lost []int64
	for id := range acked {
		if !have[id] {
			lost = append(lost, id)
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d acknowledged events lost, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	// Ids are dense: a committed burst is all there or not at all.
	for i, e := range all {
		if e.ID != int64(i+1) {
			t.Fatalf("event %d has id %d: a burst was torn", i, e.ID)
		}
	}
	t.Logf("%d events acknowledged, %d on disk after kill -9", len(acked), len(all))
}
