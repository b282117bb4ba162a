// Package watch notices listeners as they come and go: it takes the host's
// listener inventory at an interval, diffs it by identity, and hands the
// resulting events to a durable store first and to sinks (terminal, JSON
// Lines, webhook, a command) after, while keeping Prometheus metrics.
package watch

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
)

// EventType names what happened to a listener.
type EventType string

const (
	// Opened: a listener with a new identity appeared.
	Opened EventType = "opened"
	// Closed: a listener that was there is gone.
	Closed EventType = "closed"
	// OwnerChanged: the same listening socket is now held by other
	// processes (a fork handed it over, a parent closed its copy, systemd
	// passed an activated socket on).
	OwnerChanged EventType = "owner-changed"
	// FindingRaised: a listener that was already known gained a finding at
	// or above the threshold. Findings of a new listener ride on its opened
	// event instead.
	FindingRaised EventType = "finding"
	// Missed: the kernel reported a TCP socket with a local port and no
	// peer destroyed where no look ever saw a listener. It opened and
	// closed between two looks; its process is unknown (the socket had
	// left every file table), its uid is not.
	Missed EventType = "missed"
)

// Key is a listener's identity: what must stay the same for two looks to
// see the same listener. The socket inode is deliberately not part of it:
// a daemon that restarts within one interval reopens the same address with
// a new socket, and that is not news.
type Key struct {
	NetNS    uint64     `json:"netns"`
	Protocol string     `json:"protocol"`
	Address  netip.Addr `json:"address"`
	Port     uint16     `json:"port"`
	// Exe is the owning executable ("" when it could not be read).
	Exe string `json:"exe"`
}

// String is a stable text form, used as the history's key column.
func (k Key) String() string {
	return strconv.FormatUint(k.NetNS, 10) + "|" + k.Protocol + "|" +
		netip.AddrPortFrom(k.Address, k.Port).String() + "|" + k.Exe
}

// Listener is one listening identity as seen in one look: possibly several
// sockets (SO_REUSEPORT workers) held by several processes.
type Listener struct {
	Key
	NetNSLabel string `json:"netns_label,omitempty"`
	// PIDs hold the sockets, ascending; empty when the owner is hidden.
	PIDs []int `json:"pids"`
	// Process is the name (comm) of the lowest pid.
	Process   string       `json:"process,omitempty"`
	User      string       `json:"user,omitempty"`
	Owner     report.Owner `json:"owner"`
	Service   string       `json:"service,omitempty"`
	Container string       `json:"container,omitempty"`
	Unit      string       `json:"unit,omitempty"`
	// Inodes are the sockets' inodes, ascending.
	Inodes []uint64 `json:"inodes"`
	// Findings at or above the watcher's threshold.
	Findings []report.Finding `json:"findings,omitempty"`
	// Socket is one of the sockets (the lowest inode) in full, for the
	// policy matcher; not part of the JSON contract. It points into the
	// look's snapshot rather than copying it: two looks are kept, not
	// three.
	Socket *report.Socket `json:"-"`
}

// Event is one thing that happened, as stored and as sent to sinks.
type Event struct {
	// ID is assigned by the store when the event is committed; sinks only
	// ever see events that have one.
	ID   int64     `json:"id"`
	Time time.Time `json:"time"`
	Type EventType `json:"type"`
	// Listener is the state after the event (before it, for closed).
	Listener Listener `json:"listener"`
	// Previous is the owner before an owner-changed event.
	Previous *Listener `json:"previous,omitempty"`
	// Finding is the new finding of a finding event.
	Finding *report.Finding `json:"finding,omitempty"`
	// OpenedAt is when the listener was first seen, on closed and
	// owner-changed events, when known.
	OpenedAt *time.Time `json:"opened_at,omitempty"`
	// Allowed is true when the policy allows this listener; allowed
	// events are kept in history but raise no alert.
	Allowed bool `json:"allowed"`
	// Initial marks events from the first look after the watcher started:
	// the listener may have changed at any time while nothing was watching.
	Initial bool `json:"initial,omitempty"`
}

// listenersOf groups sockets into listeners by identity. Sockets that are
// not listening (connections) are ignored.
func listenersOf(socks []report.Socket, threshold report.Severity) map[Key]*Listener {
	out := make(map[Key]*Listener, len(socks))
	// One allocation for every listener of the look, not one each.
	pool := make([]Listener, 0, len(socks))
	inodes := make([]uint64, 0, len(socks))
	pids := make([]int, 0, len(socks))
	for i := range socks {
		s := &socks[i]
		if !isListening(s) {
			continue
		}
		k := Key{
			NetNS:    s.NetNS.Inode,
			Protocol: s.Protocol,
			Address:  s.LocalAddr,
			Port:     s.LocalPort,
			Exe:      ownerExe(s),
		}
		l := out[k]
		if l == nil {
			pool = append(pool, Listener{Key: k, NetNSLabel: s.NetNS.Label, Owner: s.Owner, Service: s.Service, Socket: s})
			l = &pool[len(pool)-1]
			out[k] = l
			// Room for the first socket's inode and holders, carved
			// from shared arrays with no spare capacity, so a second
			// socket's append reallocates instead of overwriting a
			// neighbour.
			if s.Inode != 0 {
				inodes = append(inodes, s.Inode)
				l.Inodes = inodes[len(inodes)-1 : len(inodes) : len(inodes)]
			}
			if n := len(s.Processes); n > 0 {
				start := len(pids)
				for _, p := range s.Processes {
					pids = append(pids, p.PID)
				}
				l.PIDs = slices.Compact(pids[start : start+n : start+n])
			}
			if l.PIDs == nil {
				l.PIDs = []int{}
			}
			if l.Inodes == nil {
				l.Inodes = []uint64{}
			}
		} else {
			l.addSocket(s)
		}
		for _, f := range s.Findings {
			if f.Severity >= threshold && !slices.ContainsFunc(l.Findings, func(g report.Finding) bool { return g.ID == f.ID }) {
				l.Findings = append(l.Findings, f)
			}
		}
	}
	for _, l := range out {
		slices.Sort(l.PIDs)
		slices.Sort(l.Inodes)
		slices.SortFunc(l.Findings, func(a, b report.Finding) int { return strings.Compare(a.ID, b.ID) })
		fillOwner(l, socks)
	}
	return out
}

// addSocket adds a second or later socket of the same identity.
func (l *Listener) addSocket(s *report.Socket) {
	if s.Inode != 0 && !slices.Contains(l.Inodes, s.Inode) {
		l.Inodes = append(l.Inodes, s.Inode)
		if s.Inode < l.Socket.Inode || l.Socket.Inode == 0 {
			l.Socket = s
		}
	}
	for _, p := range s.Processes {
		if !slices.Contains(l.PIDs, p.PID) {
			l.PIDs = append(l.PIDs, p.PID)
		}
	}
}

// fillOwner names the lowest pid's process, user, unit and container.
func fillOwner(l *Listener, socks []report.Socket) {
	if len(l.PIDs) == 0 {
		return
	}
	for _, p := range l.Socket.Processes {
		if p.PID == l.PIDs[0] {
			l.Process, l.User, l.Unit = p.Name, p.User, p.Unit
			if p.Container != nil {
				l.Container = p.Container.Name
				if l.Container == "" {
					l.Container = shortID(p.Container.ID)
				}
			}
			return
		}
	}
	// The lowest pid holds another socket of the group.
	for i := range socks {
		for _, p := range socks[i].Processes {
			if p.PID == l.PIDs[0] {
				l.Process, l.User, l.Unit = p.Name, p.User, p.Unit
				if p.Container != nil {
					l.Container = p.Container.Name
					if l.Container == "" {
						l.Container = shortID(p.Container.ID)
					}
				}
				return
			}
		}
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// isListening keeps TCP listeners and unconnected UDP sockets, the same
// notion of "listening" as the inventory's default query.
func isListening(s *report.Socket) bool {
	switch s.Protocol {
	case "tcp":
		return s.State == "LISTEN"
	case "udp":
		return s.State == "UNCONN" || s.State == "" && !s.RemoteAddr.IsValid() ||
			(s.RemotePort == 0 && (!s.RemoteAddr.IsValid() || s.RemoteAddr.IsUnspecified()))
	}
	return false
}

// ownerExe picks the executable that identifies a socket's owner: the one
// of the lowest pid, so that a fork keeping the parent's exe does not change
// the identity. Deleted-executable markers are trimmed so an upgrade in
// place does not look like a new listener.
func ownerExe(s *report.Socket) string {
	best := -1
	exe := ""
	for _, p := range s.Processes {
		if best == -1 || p.PID < best {
			best, exe = p.PID, p.Exe
		}
	}
	return strings.TrimSuffix(exe, " (deleted)")
}

// ExeBase is the executable's base name, for short human output.
func (k Key) ExeBase() string {
	if k.Exe == "" {
		return ""
	}
	return filepath.Base(k.Exe)
}

// socket is the listener as a report.Socket for the policy: the one seen,
// or for a listener known only from history, one rebuilt from what the
// history keeps.
func (l *Listener) socket() report.Socket {
	if l.Socket != nil {
		return *l.Socket
	}
	s := report.Socket{Owner: l.Owner, Service: l.Service, Findings: l.Findings}
	s.Protocol, s.LocalAddr, s.LocalPort = l.Protocol, l.Address, l.Port
	s.NetNS.Inode, s.NetNS.Label = l.NetNS, l.NetNSLabel
	if l.Protocol == "tcp" {
		s.State = "LISTEN"
	} else {
		s.State = "UNCONN"
	}
	for _, pid := range l.PIDs {
		p := process.Process{PID: pid, Exe: l.Exe}
		if pid == l.PIDs[0] {
			p.Name, p.User, p.Unit = l.Process, l.User, l.Unit
		}
		s.Processes = append(s.Processes, p)
	}
	return s
}
