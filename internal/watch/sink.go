package watch

// Sinks: where committed events go. The stream sink writes to stdout as it
// goes; the webhook and command sinks sit behind a bounded queue so a slow
// or dead receiver can never hold up detection.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portwho/portwho/internal/render"
	"github.com/portwho/portwho/internal/report"
)

// Sink receives events after they are committed to the store.
type Sink interface {
	// Send hands over one event. It must not block for long: detection
	// waits for it.
	Send(ev Event)
	// Close delivers what is still queued, giving up when ctx ends, and
	// releases the sink's goroutines.
	Close(ctx context.Context) error
}

// StreamSink writes each event as one line: a human line on a terminal,
// JSON Lines otherwise (journald and log shippers read it as is).
type StreamSink struct {
	W     io.Writer
	Human bool
	Style render.Style
	mu    sync.Mutex
}

// Send writes the event; write errors are dropped because stdout going away
// must not stop the daemon (history and the other sinks still work).
func (s *StreamSink) Send(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Human {
		io.WriteString(s.W, HumanLine(ev, s.Style)+"\n")
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	s.W.Write(append(b, '\n'))
}

// Close has nothing to drain.
func (s *StreamSink) Close(context.Context) error { return nil }

var sevShort = map[report.Severity]string{
	report.SeverityInfo:   "INFO",
	report.SeverityLow:    "LOW",
	report.SeverityMedium: "MED",
	report.SeverityHigh:   "HIGH",
}

// HumanLine renders an event for a person. Every string that came from
// outside (process names, users, paths, finding ids) is sanitized.
func HumanLine(ev Event, st render.Style) string {
	l := ev.Listener
	var b strings.Builder
	b.WriteString(ev.Time.UTC().Format(time.RFC3339))
	b.WriteString("  ")
	typ := string(ev.Type)
	switch ev.Type {
	case Opened:
		typ = st.Green(typ)
	case Closed:
		typ = st.Dim(typ)
	case FindingRaised, Missed:
		typ = st.Red(typ)
	case OwnerChanged:
		typ = st.Yellow(typ)
	}
	b.WriteString(typ)
	b.WriteString("  ")
	b.WriteString(l.Protocol + " " + addrPort(l.Key))
	if l.NetNSLabel != "" && l.NetNSLabel != "host" {
		b.WriteString(" netns " + render.Sanitize(l.NetNSLabel))
	}
	b.WriteString("  ")
	if ev.Type == OwnerChanged && ev.Previous != nil {
		b.WriteString(ownerText(*ev.Previous) + " -> ")
	}
	b.WriteString(ownerText(l))
	if l.Container != "" {
		b.WriteString("  container " + render.Sanitize(l.Container))
	}
	if l.Service != "" {
		b.WriteString("  " + render.Sanitize(l.Service))
	}
	switch ev.Type {
	case Opened:
		for _, f := range l.Findings {
			b.WriteString("  " + sevText(st, f.Severity) + " " + render.Sanitize(f.ID))
		}
	case FindingRaised:
		if ev.Finding != nil {
			b.WriteString("  " + sevText(st, ev.Finding.Severity) + " " + render.Sanitize(ev.Finding.ID))
		}
	case Closed:
		if ev.OpenedAt != nil {
			b.WriteString("  after " + ev.Time.Sub(*ev.OpenedAt).Round(time.Second).String())
		}
	case Missed:
		b.WriteString("  listened and closed between two looks")
	}
	if ev.Allowed {
		b.WriteString("  (allowed)")
	}
	if ev.Initial {
		b.WriteString("  (at start)")
	}
	return b.String()
}

func sevText(st render.Style, s report.Severity) string {
	t, ok := sevShort[s]
	if !ok {
		t = strings.ToUpper(s.String())
	}
	if s >= report.SeverityHigh {
		return st.Red(t)
	}
	if s >= report.SeverityMedium {
		return st.Yellow(t)
	}
	return t
}

func addrPort(k Key) string {
	if !k.Address.IsValid() {
		return "*:" + strconv.Itoa(int(k.Port))
	}
	if k.Address.Is6() && !k.Address.Is4In6() {
		return "[" + k.Address.String() + "]:" + strconv.Itoa(int(k.Port))
	}
	return k.Address.String() + ":" + strconv.Itoa(int(k.Port))
}

func ownerText(l Listener) string {
	if len(l.PIDs) == 0 && l.User != "" {
		return "user " + render.Sanitize(l.User) + ", process gone"
	}
	if len(l.PIDs) == 0 {
		switch l.Owner {
		case report.OwnerHidden:
			return "owner hidden (run as root)"
		case report.OwnerNone:
			return "kernel"
		}
		return "owner unknown"
	}
	var b strings.Builder
	b.WriteString("pid " + strconv.Itoa(l.PIDs[0]))
	if len(l.PIDs) > 1 {
		b.WriteString(fmt.Sprintf("(+%d)", len(l.PIDs)-1))
	}
	name := l.Process
	if name == "" {
		name = l.ExeBase()
	}
	if name != "" {
		b.WriteString(" " + render.Sanitize(name))
	}
	if l.User != "" {
		b.WriteString(" (" + render.Sanitize(l.User) + ")")
	}
	return b.String()
}

// Queue is a sink that delivers events one at a time from a bounded queue
// in its own goroutine. Send never blocks: when the queue is full the event
// is dropped, counted, and reported on the log writer. The event is still
// in history, so a drop loses a notification, not a record.
type Queue struct {
	// Name says which sink this is in log lines ("webhook", "exec").
	Name string
	// Deliver sends one event. An error wrapped by Permanent is not
	// retried; any other is, when Retry is set.
	Deliver func(ctx context.Context, ev Event) error
	Retry   bool
	// MinBackoff and MaxBackoff bound the wait between attempts, which
	// doubles from the one to the other. Zero means 200ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Log receives drop and failure reports (stderr).
	Log io.Writer
	// OnDrop, when set, is called once per dropped event (metrics).
	OnDrop func()

	ch      chan Event
	mu      sync.Mutex
	closed  bool
	done    chan struct{}
	cancel  context.CancelFunc
	dropped atomic.Uint64
	lastLog time.Time
	logged  uint64
}

// Start makes the queue with room for size events and starts delivering.
func (q *Queue) Start(size int) *Queue {
	if size < 1 {
		size = 1
	}
	if q.MinBackoff <= 0 {
		q.MinBackoff = 200 * time.Millisecond
	}
	if q.MaxBackoff <= 0 {
		q.MaxBackoff = 30 * time.Second
	}
	if q.Log == nil {
		q.Log = io.Discard
	}
	q.ch = make(chan Event, size)
	q.done = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	q.cancel = cancel
	go q.run(ctx)
	return q
}

// Len is the number of events waiting (not counting one in delivery).
func (q *Queue) Len() int { return len(q.ch) }

// Dropped is how many events were dropped so far.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

// Send queues ev, or drops it when the queue is full or closed.
func (q *Queue) Send(ev Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		q.dropLocked(ev, "sink closed")
		return
	}
	select {
	case q.ch <- ev:
	default:
		q.dropLocked(ev, "queue full")
	}
}

func (q *Queue) drop(ev Event, why string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dropLocked(ev, why)
}

// dropLocked counts a drop and reports it, at most one line a second so a
// flood of drops cannot flood the log.
func (q *Queue) dropLocked(ev Event, why string) {
	n := q.dropped.Add(1)
	if q.OnDrop != nil {
		q.OnDrop()
	}
	now := time.Now()
	if now.Sub(q.lastLog) < time.Second {
		return
	}
	fmt.Fprintf(q.Log, "portwho watch: %s: dropped event %d (%s); %d dropped so far, %d since last report (the events are in history)\n",
		q.Name, ev.ID, why, n, n-q.logged)
	q.lastLog, q.logged = now, n
}

// Close stops taking events, delivers what is queued until ctx ends, then
// drops the rest (counted) and returns once the worker has exited.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		q.cancel()
		<-q.done
		return fmt.Errorf("%s: drain: %w", q.Name, ctx.Err())
	}
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks a delivery error as not worth retrying.
func Permanent(err error) error { return permanentError{err} }

func (q *Queue) run(ctx context.Context) {
	defer close(q.done)
	defer q.cancel()
	for ev := range q.ch {
		if ctx.Err() != nil {
			q.drop(ev, "shutting down")
			continue
		}
		wait := q.MinBackoff
		for {
			err := q.Deliver(ctx, ev)
			if err == nil {
				break
			}
			var perm permanentError
			if !q.Retry || errors.As(err, &perm) || ctx.Err() != nil {
				if ctx.Err() != nil {
					q.drop(ev, "shutting down")
				} else if q.Retry {
					q.drop(ev, "rejected: "+oneLine(err.Error()))
				} else {
					fmt.Fprintf(q.Log, "portwho watch: %s: event %d: %s\n", q.Name, ev.ID, render.Sanitize(oneLine(err.Error())))
				}
				break
			}
			fmt.Fprintf(q.Log, "portwho watch: %s: event %d: %s; retrying in %s\n", q.Name, ev.ID, render.Sanitize(oneLine(err.Error())), wait)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
			wait = min(wait*2, q.MaxBackoff)
		}
	}
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Webhook posts events as JSON to URL. It never follows redirects (a
// receiver must not be able to point the daemon elsewhere) and puts a
// deadline on every attempt.
type Webhook struct {
	URL     string
	Client  *http.Client
	Timeout time.Duration // per attempt; 0 means 10s
}

// Deliver is a Queue.Deliver: 2xx is success; 408, 429 and 5xx are worth a
// retry; anything else is permanent.
func (w *Webhook) Deliver(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return Permanent(fmt.Errorf("encode event: %w", err))
	}
	to := w.Timeout
	if to <= 0 {
		to = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "portwho-watch")
	req.Header.Set("Idempotency-Key", "portwho-event-"+strconv.FormatInt(ev.ID, 10))
	c := w.Client
	if c == nil {
		c = &http.Client{CheckRedirect: noRedirect}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return fmt.Errorf("webhook post: %s", resp.Status)
	}
	return Permanent(fmt.Errorf("webhook post: %s", resp.Status))
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// NewWebhookClient is the HTTP client webhooks use: no redirects.
func NewWebhookClient() *http.Client { return &http.Client{CheckRedirect: noRedirect} }

// Command runs a shell command per event with the event's JSON on stdin
// and PORTWHO_EVENT_ID / PORTWHO_EVENT_TYPE in the environment. Its output
// goes to Log (stderr): stdout carries only events.
type Command struct {
	Cmd     string
	Timeout time.Duration // per run; 0 means 10s
	Log     io.Writer
	Environ []string
}

// Deliver is a Queue.Deliver for commands; they are not retried.
func (c *Command) Deliver(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	to := c.Timeout
	if to <= 0 {
		to = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", c.Cmd)
	cmd.Stdin = bytes.NewReader(body)
	if c.Log != nil {
		cmd.Stdout, cmd.Stderr = c.Log, c.Log
	}
	base := c.Environ
	if base == nil {
		base = os.Environ()
	}
	cmd.Env = append(append([]string{}, base...),
		"PORTWHO_EVENT_ID="+strconv.FormatInt(ev.ID, 10),
		"PORTWHO_EVENT_TYPE="+string(ev.Type))
	// A command that leaves a child holding its output open must not
	// hold the queue past its deadline.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("exec %q: killed after %s", c.Cmd, to)
		}
		return fmt.Errorf("exec %q: %w", c.Cmd, err)
	}
	return nil
}
