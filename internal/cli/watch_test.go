package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/watch"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"1s", time.Second, false},
		{"100ms", 100 * time.Millisecond, false},
		{"90d", 90 * 24 * time.Hour, false},
		{" 7d ", 7 * 24 * time.Hour, false},
		{"0", 0, false},
		{"-1s", 0, true},
		{"1.5d", 0, true},
		{"d", 0, true},
		{"soon", 0, true},
	}
	if s := Duration(90 * 24 * time.Hour).String(); s != "90d" {
		t.Errorf("90 days print as %q", s)
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if got != tt.want || (err != nil) != tt.err {
				t.Errorf("parseDuration(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"2026-11-29T18:01:07Z", time.Date(2026, 11, 29, 18, 1, 7, 0, time.UTC), false},
		{"2026-11-29T19:01:07+01:00", time.Date(2026, 11, 29, 18, 1, 7, 0, time.UTC), false},
		{"2026-11-29", time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), false},
		{"2026-11-29 18:01", time.Date(2026, 11, 29, 18, 1, 0, 0, time.UTC), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"7d", now.Add(-7 * 24 * time.Hour), false},
		{"yesterday", time.Time{}, true},
		{"0001-01-01", time.Time{}, true},
		{"", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseWhen(tt.in, now)
			if !got.Equal(tt.want) || (err != nil) != tt.err {
				t.Errorf("parseWhen(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseWatchConfig(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want WatchConfig
		err  string
	}{
		{"empty", "", WatchConfig{}, ""},
		{"every key", `interval: 500ms
db: /var/lib/portwho/history.db
retention: 30d
policy: /etc/portwho/policy.yaml
min_severity: high
webhook: https://hooks.example/portwho
webhook_queue: 50
exec: logger -t portwho
exec_timeout: 5s
metrics: 127.0.0.1:9330
metrics_token_file: /etc/portwho/token
metrics_max_series: 100
no_namespaces: true
json: true
`, WatchConfig{Interval: Duration(500 * time.Millisecond), DB: "/var/lib/portwho/history.db", Retention: Duration(30 * 24 * time.Hour),
			Policy: "/etc/portwho/policy.yaml", MinSeverity: "high", Webhook: "https://hooks.example/portwho", WebhookQueue: 50,
			Exec: "logger -t portwho", ExecTimeout: Duration(5 * time.Second), Metrics: "127.0.0.1:9330", MetricsTokenFile: "/etc/portwho/token",
			MetricsMaxSeries: 100, NoNamespaces: true, JSON: true}, ""},
		{"a typo is an error", "intervall: 1s\n", WatchConfig{}, "unknown field"},
		{"a bad duration is an error", "interval: fast\n", WatchConfig{}, "invalid duration"},
		{"not a mapping", "- a\n- b\n", WatchConfig{}, "mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseWatchConfig(strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("err = %v, want it to mention %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func FuzzParseWatchConfig(f *testing.F) {
	f.Add("interval: 1s\nretention: 90d\n")
	f.Add("webhook: http://127.0.0.1/\nexec: true\n")
	f.Add("{]")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseWatchConfig(strings.NewReader(s))
		if err == nil && (c.Interval < 0 || c.Retention < 0 || c.ExecTimeout < 0) {
			t.Errorf("negative duration accepted: %+v", c)
		}
	})
}

func TestWatchConfigFlagsWin(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "watch.yaml")
	os.WriteFile(cfg, []byte("interval: 5s\nmin_severity: high\nwebhook_queue: 7\n"), 0o600)
	f := &Factory{IO: &IOStreams{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}}
	var got *WatchOptions
	cmd := NewCmdWatch(f, func(o *WatchOptions) error { got = o; return o.loadConfig() })
	cmd.SetArgs([]string{"--config", cfg, "--interval", "2s"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Interval != Duration(2*time.Second) || got.MinSeverity != "high" || got.WebhookQueue != 7 || !got.ConfigExplicit {
		t.Errorf("interval %v severity %s queue %d explicit %v; want the flag's 2s and the file's high and 7",
			got.Interval, got.MinSeverity, got.WebhookQueue, got.ConfigExplicit)
	}

	t.Run("a missing default config is fine, a missing named one is not", func(t *testing.T) {
		o := &WatchOptions{ConfigPath: filepath.Join(dir, "absent.yaml")}
		if err := o.loadConfig(); err != nil {
			t.Errorf("default: %v", err)
		}
		o.ConfigExplicit = true
		if err := o.loadConfig(); err == nil {
			t.Errorf("named: no error")
		}
	})
}

// ownSockets keeps the sockets this test process holds, so the real
// inventory of a shared machine adds no events the test did not cause.
func ownSockets(snap func(context.Context) ([]report.Socket, error)) func(context.Context) ([]report.Socket, error) {
	me := os.Getpid()
	return func(ctx context.Context) ([]report.Socket, error) {
		socks, err := snap(ctx)
		var out []report.Socket
		for _, s := range socks {
			if slices.ContainsFunc(s.Processes, func(p process.Process) bool { return p.PID == me }) {
				out = append(out, s)
			}
		}
		return out, err
	}
}

type hookLog struct {
	mu  sync.Mutex
	evs []watch.Event
	ch  chan watch.Event
}

func (h *hookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev watch.Event
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	h.mu.Lock()
	h.evs = append(h.evs, ev)
	h.mu.Unlock()
	h.ch <- ev
}

// waitFor reads webhook events until one matches.
func waitFor(t *testing.T, ch <-chan watch.Event, what string, match func(watch.Event) bool) watch.Event {
	t.Helper()
	for ev := range ch {
		if match(ev) {
			return ev
		}
	}
	t.Fatalf("webhook closed before %s", what)
	return watch.Event{}
}

// TestWatchEndToEnd runs the command against the real inventory (sockets,
// processes, registry, assessment), filtered to this process's sockets:
// a listener opened and closed shows up on stdout, in history, in the
// webhook, in --exec and in metrics; SIGHUP reloads the policy.
func TestWatchEndToEnd(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "history.db")
	execOut := filepath.Join(dir, "exec.jsonl")
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte("version: 1\nallow: []\n"), 0o600)

	goroutines := runtime.NumGoroutine()
	hook := &hookLog{ch: make(chan watch.Event, 100)}
	srv := httptest.NewServer(hook)
	defer srv.Close()

	var out, errOut syncBuffer
	f := &Factory{IO: &IOStreams{Out: &out, ErrOut: &errOut}, ProcRoot: "/proc", Now: time.Now, Getenv: func(string) string { return "" }}
	reload := make(chan os.Signal, 1)
	ready := make(chan string, 1)
	opts := &WatchOptions{IO: f.IO, Factory: f, Reload: reload, Ready: func(a string) { ready <- a }}
	opts.WatchConfig = WatchConfig{Interval: Duration(watch.MinInterval), DB: db, Retention: Duration(time.Hour), Policy: pol,
		MinSeverity: "medium", Webhook: srv.URL, WebhookQueue: 100, Exec: "cat >> " + execOut, ExecTimeout: Duration(5 * time.Second),
		Metrics: "127.0.0.1:0", MetricsMaxSeries: 100, NoNamespaces: true}
	opts.Snapshot = ownSockets(newInventory(f, false, nil).Snapshot)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- watchRun(ctx, opts) }()
	metricsAddr := <-ready

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	onPort := func(typ watch.EventType) func(watch.Event) bool {
		return func(ev watch.Event) bool { return ev.Type == typ && ev.Listener.Port == port }
	}
	opened := waitFor(t, hook.ch, "opened", onPort(watch.Opened))
	if opened.ID == 0 || opened.Listener.Exe == "" || opened.Listener.PIDs[0] != os.Getpid() {
		t.Errorf("opened event: %+v", opened)
	}

	// Metrics now show the listener as not allowed.
	fams := func() string {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fm, err := p.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, m := range fm["portwho_listeners"].GetMetric() {
			for _, l := range m.Label {
				if l.GetName() == "port" && l.GetValue() == fmt.Sprint(port) {
					fmt.Fprintf(&b, "%v", m.Label)
				}
			}
		}
		return b.String()
	}()
	if !strings.Contains(fams, `value:"false"`) {
		t.Errorf("portwho_listeners for port %d: %s", port, fams)
	}

	ln.Close()
	closed := waitFor(t, hook.ch, "closed", onPort(watch.Closed))
	if closed.OpenedAt == nil || !closed.OpenedAt.Equal(opened.Time) {
		t.Errorf("closed event does not say when it opened: %+v", closed)
	}

	// SIGHUP: a policy allowing this port's next listener. Wait for the
	// reload to be acknowledged before opening it.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port2 := ln2.Addr().(*net.TCPAddr).Port
	ln2.Close()
	os.WriteFile(pol, []byte(fmt.Sprintf("version: 1\nallow:\n  - protocol: tcp\n    port: %d\n", port2)), 0o600)
	reload <- os.Interrupt // any signal value: the channel is the SIGHUP
	for !strings.Contains(errOut.String(), "reloaded") {
		time.Sleep(10 * time.Millisecond)
	}
	ln2, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port2))
	if err != nil {
		t.Skipf("port %d was taken meanwhile: %v", port2, err)
	}
	// A third listener, not allowed, opened after the allowed one: once
	// it reaches the webhook, a look has seen both.
	ln3, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port3 := uint16(ln3.Addr().(*net.TCPAddr).Port)
	waitFor(t, hook.ch, "third listener", func(ev watch.Event) bool { return ev.Listener.Port == port3 })
	ln2.Close()
	ln3.Close()

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("watchRun: %v\n%s", err, errOut.String())
	}
	// Nothing the daemon started outlives it: watcher, sinks, metrics
	// server, pruner, reload handler, webhook connections.
	srv.Close()
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n > goroutines; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > goroutines {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines: %d before, %d after watchRun returned\n%s", goroutines, n, buf[:runtime.Stack(buf, true)])
	}

	hook.mu.Lock()
	for _, ev := range hook.evs {
		if int(ev.Listener.Port) == port2 {
			t.Errorf("allowed listener reached the webhook: %+v", ev)
		}
	}
	hook.mu.Unlock()

	// stdout: JSON Lines (not a terminal), the same events with ids.
	var lines []watch.Event
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var ev watch.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("stdout line %q: %v", l, err)
		}
		lines = append(lines, ev)
	}
	var ids []int64
	for _, ev := range lines {
		if ev.Listener.Port == port {
			ids = append(ids, ev.ID)
		}
	}
	if d := cmp.Diff([]int64{opened.ID, closed.ID}, ids); d != "" {
		t.Errorf("stdout event ids for port %d (-want +got):\n%s", port, d)
	}
	// --exec got each alert's JSON on stdin.
	if b, _ := os.ReadFile(execOut); !bytes.Contains(b, []byte(fmt.Sprintf(`"id":%d,`, closed.ID))) {
		t.Errorf("exec output lacks the closed event:\n%s", b)
	}

	// History has every event, the allowed one included, and answers
	// --listeners-at for the moment the first listener was open.
	var hout, herr bytes.Buffer
	hf := &Factory{IO: &IOStreams{Out: &hout, ErrOut: &herr}, Now: time.Now}
	ho := &HistoryOptions{IO: hf.IO, Factory: hf, DB: db, Port: fmt.Sprint(port), JSON: true}
	if err := historyRun(context.Background(), ho); err != nil {
		t.Fatal(err)
	}
	var h struct{ Events []watch.Event }
	if err := json.Unmarshal(hout.Bytes(), &h); err != nil {
		t.Fatal(err)
	}
	var types []watch.EventType
	for _, ev := range h.Events {
		types = append(types, ev.Type)
	}
	if d := cmp.Diff([]watch.EventType{watch.Opened, watch.Closed}, types); d != "" {
		t.Errorf("history --port %d (-want +got):\n%s", port, d)
	}
	hout.Reset()
	ho = &HistoryOptions{IO: hf.IO, Factory: hf, DB: db, Port: fmt.Sprint(port2), JSON: true}
	if err := historyRun(context.Background(), ho); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hout.String(), `"allowed": true`) {
		t.Errorf("allowed listener not in history as allowed:\n%s", hout.String())
	}
	hout.Reset()
	ho = &HistoryOptions{IO: hf.IO, Factory: hf, DB: db, Port: fmt.Sprint(port), ListenersAt: opened.Time.Format(time.RFC3339Nano)}
	if err := historyRun(context.Background(), ho); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hout.String(), fmt.Sprintf("127.0.0.1:%d", port)) {
		t.Errorf("listeners-at misses the listener:\n%s", hout.String())
	}
}

func TestHistoryErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	f := &Factory{IO: &IOStreams{Out: &out, ErrOut: &errOut}, Now: time.Now}
	dir := t.TempDir()
	tests := []struct {
		name string
		opts HistoryOptions
		want string
	}{
		{"no history yet", HistoryOptions{DB: filepath.Join(dir, "none.db")}, "no history at"},
		{"bad port", HistoryOptions{DB: filepath.Join(dir, "none.db"), Port: "http"}, "--port"},
		{"bad time", HistoryOptions{DB: filepath.Join(dir, "none.db"), Since: "last week"}, "--since"},
		{"listeners-at with since", HistoryOptions{DB: filepath.Join(dir, "none.db"), ListenersAt: "1h", Since: "2h"}, "--listeners-at takes no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.opts
			o.IO, o.Factory = f.IO, f
			err := historyRun(context.Background(), &o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Errorf("history created a database where none was")
	}
}

// syncBuffer is a bytes.Buffer safe for the watcher's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func FuzzParseWhen(f *testing.F) {
	now := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	for _, s := range []string{"24h", "7d", "2026-11-29", "2026-11-29T18:01:07Z", "2026-11-29 18:01", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseWhen(s, now)
		if err == nil && got.IsZero() {
			t.Errorf("parseWhen(%q) accepted a zero time", s)
		}
	})
}
