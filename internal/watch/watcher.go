package watch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/portwho/portwho/internal/render"
	"github.com/portwho/portwho/internal/report"
)

// Recorder makes events durable. Record commits them in one transaction
// and sets each event's ID; only then are they handed to sinks, so an event
// a sink acknowledged is always on disk.
type Recorder interface {
	Record(ctx context.Context, evs []Event) error
}

// Known is a listener the history says was open when the watcher last
// stopped, with when it was first seen.
type Known struct {
	Listener Listener
	OpenedAt time.Time
}

// MinInterval is the shortest interval allowed: below it, the look itself
// (a full socket and /proc walk) would take most of the time.
const MinInterval = 100 * time.Millisecond

// Watcher takes looks at an interval and turns their differences into
// events. Fields are set before Run and not changed after, except through
// SetPolicy.
type Watcher struct {
	// Snapshot takes one look: every listening socket with its owners,
	// service and findings. It may return the very slice it returned for
	// the previous look to say nothing changed (Inventory does); neither
	// it nor the Watcher modifies a slice once returned.
	Snapshot func(context.Context) ([]report.Socket, error)
	// Interval between looks; 0 means one second.
	Interval time.Duration
	// Recorder commits events before sinks see them; nil keeps no history.
	Recorder Recorder
	Sinks    []Sink
	// Metrics, when set, is kept current.
	Metrics *Metrics
	// Threshold is the lowest finding severity that counts.
	Threshold report.Severity
	// Known is the state the history ended in: listeners that are still
	// there at the first look raise no event; those gone are closed.
	Known []Known
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives scan errors and warnings (stderr).
	Log io.Writer
	// DrainTimeout bounds how long Run waits for sinks to deliver what
	// they hold when ctx ends; 0 means 5s.
	DrainTimeout time.Duration
	// OnScan, when set, is called after each look with the events it
	// produced (already recorded); tests and benchmarks use it.
	OnScan func([]Event)
	// Gone, when set, returns the no-peer TCP sockets the kernel
	// destroyed since the last call (DestroyWatch.Drain) in the network
	// namespace GoneNS; those no look saw become missed events.
	Gone   func() ([]Destroyed, bool)
	GoneNS uint64
	// UserName names a uid for missed events; nil leaves it numeric.
	UserName func(uid uint32) string

	policy atomic.Pointer[func(report.Socket) bool]
	// policyGen counts SetPolicy calls, so metrics are rebuilt when the
	// policy changes even if no listener did.
	policyGen atomic.Uint64
}

// SetPolicy sets what the policy allows; nil allows nothing, so every
// listener raises alerts. Safe to call while Run is running (SIGHUP).
func (w *Watcher) SetPolicy(allowed func(report.Socket) bool) {
	defer w.policyGen.Add(1)
	if allowed == nil {
		w.policy.Store(nil)
		return
	}
	w.policy.Store(&allowed)
}

func (w *Watcher) allowed(l *Listener) bool {
	p := w.policy.Load()
	return p != nil && (*p)(l.socket())
}

func (w *Watcher) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// Run watches until ctx ends, then lets the sinks drain and closes them.
// It returns nil on a clean stop; an error only when events could not be
// recorded (history is the one thing that must not silently stop).
func (w *Watcher) Run(ctx context.Context) error {
	interval := w.Interval
	if interval == 0 {
		interval = time.Second
	}
	if interval < MinInterval {
		return fmt.Errorf("interval %s is below the minimum of %s", interval, MinInterval)
	}
	logw := w.Log
	if logw == nil {
		logw = io.Discard
	}
	defer w.closeSinks()

	var prev map[Key]*Listener
	openedAt := map[Key]time.Time{}
	first := true
	seed := maphash.MakeSeed()
	var lastFP uint64
	var lastSocks []report.Socket
	var metricsGen uint64
	look := 0
	// recent remembers where listeners closed in the last few looks, so
	// a destruction notice that arrives after the look that saw the close
	// is not taken for a missed listener.
	recent := map[addrKey]int{}
	if len(w.Known) > 0 {
		prev = make(map[Key]*Listener, len(w.Known))
		for _, k := range w.Known {
			l := k.Listener
			prev[l.Key] = &l
			openedAt[l.Key] = k.OpenedAt
		}
	}
	// Drift-free ticks: a slow look delays the next one instead of
	// queueing a burst of them.
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		start := time.Now()
		socks, err := w.Snapshot(ctx)
		took := time.Since(start)
		now := w.now()
		if ctx.Err() != nil {
			return nil
		}
		if w.Metrics != nil {
			w.Metrics.observeScan(took, now, err)
		}
		if err != nil {
			// A failed look says nothing about what closed: keep the
			// previous state rather than report everything gone.
			fmt.Fprintf(logw, "portwho watch: look failed: %s\n", render.Sanitize(err.Error()))
		} else {
			var cur map[Key]*Listener
			var evs []Event
			var quiet bool
			// Most looks see exactly what the last one saw: a hash of
			// everything identity, owners and findings depend on says
			// so for far less than grouping and diffing.
			fp := lastFP
			if !sameSlice(socks, lastSocks) {
				fp = fingerprint(&seed, socks, w.Threshold)
			}
			lastSocks = socks
			if prev != nil && !first && fp == lastFP {
				cur = prev
			} else {
				cur = listenersOf(socks, w.Threshold)
				if prev == nil {
					prev = map[Key]*Listener{}
				}
				evs, quiet = diff(prev, cur, openedAt, now)
			}
			lastFP = fp
			if w.Gone != nil {
				evs = append(evs, w.missed(prev, cur, evs, recent, look, now, logw)...)
			}
			look++
			for i := range evs {
				evs[i].Allowed = w.allowed(&evs[i].Listener)
				evs[i].Initial = first
			}
			if len(evs) > 0 && w.Recorder != nil {
				if err := w.Recorder.Record(context.WithoutCancel(ctx), evs); err != nil {
					return fmt.Errorf("record events: %w", err)
				}
			}
			prev = cur
			if w.Metrics != nil {
				w.Metrics.countEvents(evs)
				// The gauges only move when a listener or the policy did.
				if gen := w.policyGen.Load(); len(evs) > 0 || quiet || first || gen != metricsGen {
					metricsGen = gen
					w.Metrics.setState(cur, w.allowed)
				}
			}
			for _, ev := range evs {
				if ev.Allowed {
					continue // in history, but no alert
				}
				for _, s := range w.Sinks {
					s.Send(ev)
				}
			}
			if w.OnScan != nil {
				w.OnScan(evs)
			}
			first = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (w *Watcher) closeSinks() {
	d := w.DrainTimeout
	if d <= 0 {
		d = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var errs []error
	for _, s := range w.Sinks {
		if err := s.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil && w.Log != nil {
		fmt.Fprintf(w.Log, "portwho watch: %s\n", render.Sanitize(err.Error()))
	}
}

// addrKey is where a socket listens, without its owner.
type addrKey struct {
	netns    uint64
	protocol string
	addr     netip.Addr
	port     uint16
}

func addrOf(k Key) addrKey { return addrKey{k.NetNS, k.Protocol, k.Address, k.Port} }

// missed turns destruction notices into missed events: those at an address
// no look saw listening, now or in the last few looks.
func (w *Watcher) missed(prev, cur map[Key]*Listener, evs []Event, recent map[addrKey]int, look int, now time.Time, logw io.Writer) []Event {
	for _, ev := range evs {
		if ev.Type == Closed {
			recent[addrOf(ev.Listener.Key)] = look
		}
		if ev.Type == OwnerChanged && ev.Previous != nil {
			recent[addrOf(ev.Previous.Key)] = look
		}
	}
	for k, at := range recent {
		if look-at > 5 {
			delete(recent, k)
		}
	}
	gone, lost := w.Gone()
	if lost {
		fmt.Fprintf(logw, "portwho watch: the kernel dropped socket destruction notices; a short-lived listener may have gone unreported\n")
	}
	if len(gone) == 0 {
		return nil
	}
	seen := make(map[addrKey]bool, len(prev)+len(cur))
	for k := range prev {
		seen[addrOf(k)] = true
	}
	for k := range cur {
		seen[addrOf(k)] = true
	}
	var out []Event
	for _, d := range gone {
		a := addrKey{w.GoneNS, "tcp", d.Address, d.Port}
		if seen[a] {
			continue
		}
		if _, ok := recent[a]; ok {
			continue
		}
		seen[a] = true // one event per address per look
		user := strconv.FormatUint(uint64(d.UID), 10)
		if w.UserName != nil {
			user = w.UserName(d.UID)
		}
		out = append(out, Event{Time: now, Type: Missed, Listener: Listener{
			Key:    Key{NetNS: w.GoneNS, Protocol: "tcp", Address: d.Address, Port: d.Port},
			PIDs:   []int{},
			Inodes: []uint64{},
			Owner:  report.OwnerUnknown,
			User:   user,
		}})
	}
	return out
}

// sameSlice reports whether a and b are the same non-empty slice, not
// merely equal ones.
func sameSlice(a, b []report.Socket) bool {
	return len(a) > 0 && len(a) == len(b) && &a[0] == &b[0]
}

// fingerprint hashes what listenersOf would make of socks.
func fingerprint(seed *maphash.Seed, socks []report.Socket, threshold report.Severity) uint64 {
	var h maphash.Hash
	h.SetSeed(*seed)
	var b [8]byte
	u64 := func(v uint64) { binary.LittleEndian.PutUint64(b[:], v); h.Write(b[:]) }
	for i := range socks {
		s := &socks[i]
		if !isListening(s) {
			continue
		}
		u64(s.NetNS.Inode)
		u64(s.Inode)
		u64(uint64(s.LocalPort))
		h.WriteString(s.Protocol)
		a := s.LocalAddr.As16()
		h.Write(a[:])
		h.WriteString(s.NetNS.Label)
		h.WriteString(string(s.Owner))
		h.WriteString(s.Service)
		for j := range s.Processes {
			p := &s.Processes[j]
			u64(uint64(p.PID))
			h.WriteString(p.Exe)
			h.WriteString(p.Name)
			h.WriteString(p.User)
		}
		for _, f := range s.Findings {
			if f.Severity >= threshold {
				h.WriteString(f.ID)
			}
		}
		h.WriteByte(0)
	}
	return h.Sum64()
}
