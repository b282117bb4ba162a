package watch

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portwho/portwho/internal/render"
	"github.com/portwho/portwho/internal/report"
)

// hookServer is a webhook receiver whose behaviour the test switches:
// failing with 503, stalling past the client's deadline, or accepting.
type hookServer struct {
	mu        sync.Mutex
	mode      string
	delivered []int64 // ids accepted, in order
	attempts  map[int64]int
	seen      chan int64 // every attempt's id
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev Event
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	mode := h.mode
	h.attempts[ev.ID]++
	h.mu.Unlock()
	select {
	case h.seen <- ev.ID:
	default:
	}
	switch mode {
	case "fail":
		http.Error(w, "down", http.StatusServiceUnavailable)
	case "stall":
		<-r.Context().Done() // the client gives up first
	default:
		h.mu.Lock()
		h.delivered = append(h.delivered, ev.ID)
		h.mu.Unlock()
	}
}

func (h *hookServer) setMode(m string) { h.mu.Lock(); h.mode = m; h.mu.Unlock() }

// waitAttempt waits for the next attempt carrying id.
func (h *hookServer) waitAttempt(id int64) {
	for got := range h.seen {
		if got == id {
			return
		}
	}
}

func TestWebhookFailStallRecover(t *testing.T) {
	h := &hookServer{mode: "fail", attempts: map[int64]int{}, seen: make(chan int64, 1)}
	srv := httptest.NewServer(h)
	defer srv.Close()

	const queue = 5
	var log strings.Builder
	var logMu sync.Mutex
	m := NewMetrics(0)
	q := &Queue{Name: "webhook", Retry: true, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Deliver: (&Webhook{URL: srv.URL, Timeout: 50 * time.Millisecond}).Deliver,
		Log:     lockedWriter{&logMu, &log}}
	q.Start(queue)
	m.WatchWebhook(q)

	// Event 1 is taken by the worker and fails; the queue behind it
	// holds 5 more; 4 beyond that are dropped, and Send never waits.
	q.Send(Event{ID: 1, Type: Opened})
	h.waitAttempt(1)
	for id := int64(2); id <= 10; id++ {
		q.Send(Event{ID: id, Type: Opened})
	}
	if q.Dropped() != 4 || q.Len() != queue {
		t.Errorf("dropped %d queued %d, want 4 and %d", q.Dropped(), q.Len(), queue)
	}
	h.setMode("stall")
	h.waitAttempt(1)
	h.waitAttempt(1) // a stalled attempt timed out and was retried
	h.setMode("ok")
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	if d := cmp.Diff([]int64{1, 2, 3, 4, 5, 6}, h.delivered); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
	if h.attempts[1] < 3 {
		t.Errorf("event 1 was tried %d times, want a retry after failing and after stalling", h.attempts[1])
	}
	fams := scrape(t, m)
	if got := value(fams, "portwho_webhook_dropped_total", nil); got != 4 {
		t.Errorf("portwho_webhook_dropped_total = %v, want 4", got)
	}
	if got := value(fams, "portwho_webhook_queue_length", nil); got != 0 {
		t.Errorf("portwho_webhook_queue_length = %v, want 0 after draining", got)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(log.String(), "dropped event 7 (queue full)") || !strings.Contains(log.String(), "retrying") {
		t.Errorf("drops and retries not reported on stderr:\n%s", log.String())
	}
}

func TestWebhookRejectedAndShutdown(t *testing.T) {
	t.Run("4xx is not retried and counts as a drop", func(t *testing.T) {
		var hits int
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits++
			mu.Unlock()
			http.Error(w, "no", http.StatusForbidden)
		}))
		defer srv.Close()
		q := (&Queue{Name: "webhook", Retry: true, MinBackoff: time.Millisecond, Deliver: (&Webhook{URL: srv.URL}).Deliver}).Start(4)
		q.Send(Event{ID: 1})
		q.Close(context.Background())
		if hits != 1 || q.Dropped() != 1 {
			t.Errorf("hits %d dropped %d, want 1 and 1", hits, q.Dropped())
		}
	})
	t.Run("redirects are not followed", func(t *testing.T) {
		var followed bool
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/elsewhere" {
				followed = true
				return
			}
			http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
		}))
		defer srv.Close()
		err := (&Webhook{URL: srv.URL}).Deliver(context.Background(), Event{ID: 1})
		if err == nil || followed {
			t.Errorf("Deliver = %v, followed %v; want an error and no follow", err, followed)
		}
	})
	t.Run("a dead receiver does not hold up shutdown beyond the drain deadline", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusBadGateway)
		}))
		defer srv.Close()
		q := (&Queue{Name: "webhook", Retry: true, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond,
			Deliver: (&Webhook{URL: srv.URL}).Deliver}).Start(4)
		for id := int64(1); id <= 3; id++ {
			q.Send(Event{ID: id})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := q.Close(ctx); err == nil {
			t.Errorf("Close reported a clean drain")
		}
		if q.Dropped() != 3 {
			t.Errorf("dropped %d, want the 3 undelivered", q.Dropped())
		}
		q.Send(Event{ID: 4}) // after close: counted, no panic
		if q.Dropped() != 4 {
			t.Errorf("send after close: dropped %d, want 4", q.Dropped())
		}
	})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "event.json")
	c := &Command{Cmd: `cat > "$OUT"; echo "$PORTWHO_EVENT_TYPE $PORTWHO_EVENT_ID" >> "$OUT.env"`, Environ: append(os.Environ(), "OUT="+out)}
	ev := Event{ID: 7, Type: Closed, Listener: Listener{Key: Key{Protocol: "tcp", Port: 3302}}}
	if err := c.Deliver(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	var got Event
	b, _ := os.ReadFile(out)
	if err := json.Unmarshal(b, &got); err != nil || got.ID != 7 || got.Listener.Port != 3302 {
		t.Errorf("stdin was %q (%v)", b, err)
	}
	if env, _ := os.ReadFile(out + ".env"); string(env) != "closed 7\n" {
		t.Errorf("environment: %q", env)
	}

	t.Run("a run is bounded in time", func(t *testing.T) {
		c := &Command{Cmd: "sleep 30", Timeout: 50 * time.Millisecond}
		err := c.Deliver(context.Background(), ev)
		if err == nil || !strings.Contains(err.Error(), "killed after 50ms") {
			t.Errorf("Deliver = %v, want killed after 50ms", err)
		}
	})
	t.Run("failure is reported", func(t *testing.T) {
		if err := (&Command{Cmd: "exit 3"}).Deliver(context.Background(), ev); err == nil {
			t.Errorf("exit 3 reported as success")
		}
	})
}

func TestHumanLine(t *testing.T) {
	at := time.Date(2026, 11, 29, 18, 14, 52, 0, time.UTC)
	opened := at.Add(-(13*time.Minute + 45*time.Second))
	py := Listener{Key: Key{Protocol: "tcp", Address: netip.MustParseAddr("0.0.0.0"), Port: 3302, Exe: "/usr/bin/python3"},
		PIDs: []int{4121}, Process: "python3", User: "www-data", Owner: report.OwnerKnown, Service: "mcs-fastmail"}
	exposed := report.Finding{ID: "exposed", Severity: report.SeverityMedium}
	withFinding := py
	withFinding.Findings = []report.Finding{exposed}
	evil := py
	evil.Process = "x\x1b[2Jy"
	evil.Key.Address = netip.MustParseAddr("::")
	evil.NetNSLabel = "ctr\u202e"
	hidden := Listener{Key: Key{Protocol: "udp", Address: netip.MustParseAddr("127.0.0.1"), Port: 53}, Owner: report.OwnerHidden}
	prev := py
	prev.PIDs = []int{4121, 4200}
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"opened", Event{Time: opened, Type: Opened, Listener: withFinding},
			"2026-11-29T18:01:07Z  opened  tcp 0.0.0.0:3302  pid 4121 python3 (www-data)  mcs-fastmail  MED exposed"},
		{"closed", Event{Time: at, Type: Closed, Listener: py, OpenedAt: &opened},
			"2026-11-29T18:14:52Z  closed  tcp 0.0.0.0:3302  pid 4121 python3 (www-data)  mcs-fastmail  after 13m45s"},
		{"owner-changed", Event{Time: at, Type: OwnerChanged, Listener: py, Previous: &prev},
			"2026-11-29T18:14:52Z  owner-changed  tcp 0.0.0.0:3302  pid 4121(+1) python3 (www-data) -> pid 4121 python3 (www-data)  mcs-fastmail"},
		{"finding", Event{Time: at, Type: FindingRaised, Listener: py, Finding: &report.Finding{ID: "exe-deleted", Severity: report.SeverityHigh}},
			"2026-11-29T18:14:52Z  finding  tcp 0.0.0.0:3302  pid 4121 python3 (www-data)  mcs-fastmail  HIGH exe-deleted"},
		{"hostile names are sanitized", Event{Time: at, Type: Opened, Listener: evil, Initial: true},
			`2026-11-29T18:14:52Z  opened  tcp [::]:3302 netns ctr\u202e  pid 4121 x\x1b[2Jy (www-data)  mcs-fastmail  (at start)`},
		{"hidden owner", Event{Time: at, Type: Opened, Listener: hidden, Allowed: true},
			"2026-11-29T18:14:52Z  opened  udp 127.0.0.1:53  owner hidden (run as root)  (allowed)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, HumanLine(tt.ev, render.Style{})); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestStreamSinkJSONLines(t *testing.T) {
	var b strings.Builder
	s := &StreamSink{W: &b}
	s.Send(Event{ID: 1, Type: Opened, Listener: Listener{Key: Key{Protocol: "tcp", Address: netip.MustParseAddr("127.0.0.1"), Port: 80}, Process: "a\nb"}})
	s.Send(Event{ID: 2, Type: Closed})
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got %q", b.String())
	}
	var ev Event
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil || ev.Listener.Process != "a\nb" || ev.Listener.Address.String() != "127.0.0.1" {
		t.Errorf("line 1 %q: %v", lines[0], err)
	}
}
