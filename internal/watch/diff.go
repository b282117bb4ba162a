package watch

import (
	"slices"
	"strings"
	"time"

	"github.com/portwho/portwho/internal/report"
)

// diff compares two looks and says what happened between them. openedAt
// maps identities to when they were first seen; diff keeps it current.
// Events come out in a stable order: closed, owner-changed, opened, finding,
// each by identity. quiet reports a change that raises no event (a finding
// went away), which the metrics still need to see.
func diff(prev, cur map[Key]*Listener, openedAt map[Key]time.Time, now time.Time) (evs []Event, quiet bool) {
	var gone, fresh []Key
	for k := range prev {
		if _, ok := cur[k]; !ok {
			gone = append(gone, k)
		}
	}
	for k := range cur {
		if _, ok := prev[k]; !ok {
			fresh = append(fresh, k)
		}
	}
	byKey := func(a, b Key) int { return strings.Compare(a.String(), b.String()) }
	slices.SortFunc(gone, byKey)
	slices.SortFunc(fresh, byKey)

	var closed, changed, opened, found []Event

	// A socket that is still open under another executable (a parent
	// exec'd a different program, or handed the socket to one) keeps its
	// inode: that is an owner change, not a close and an open.
	for i := 0; i < len(fresh); i++ {
		n := cur[fresh[i]]
		j := slices.IndexFunc(gone, func(g Key) bool {
			p := prev[g]
			return sameAddr(g, fresh[i]) && sharesInode(p.Inodes, n.Inodes)
		})
		if j < 0 {
			continue
		}
		p := prev[gone[j]]
		ev := Event{Time: now, Type: OwnerChanged, Listener: *n, Previous: p}
		if t, ok := openedAt[gone[j]]; ok {
			openedAt[fresh[i]] = t
			delete(openedAt, gone[j])
			ev.OpenedAt = &t
		}
		changed = append(changed, ev)
		gone = slices.Delete(gone, j, j+1)
		fresh = slices.Delete(fresh, i, i+1)
		i--
	}
	for _, k := range gone {
		ev := Event{Time: now, Type: Closed, Listener: *prev[k]}
		if t, ok := openedAt[k]; ok {
			ev.OpenedAt = &t
			delete(openedAt, k)
		}
		closed = append(closed, ev)
	}
	for _, k := range fresh {
		openedAt[k] = now
		opened = append(opened, Event{Time: now, Type: Opened, Listener: *cur[k]})
	}

	// Most listeners are unchanged: walk them unsorted and sort only the
	// few events, not every identity, each look.
	var keptChanged, keptFound []Event
	for k, n := range cur {
		p, ok := prev[k]
		if !ok {
			continue
		}
		if !slices.Equal(p.PIDs, n.PIDs) {
			ev := Event{Time: now, Type: OwnerChanged, Listener: *n, Previous: p}
			if t, ok := openedAt[k]; ok {
				ev.OpenedAt = &t
			}
			keptChanged = append(keptChanged, ev)
		}
		if !slices.EqualFunc(p.Findings, n.Findings, func(a, b report.Finding) bool { return a.ID == b.ID }) {
			quiet = true
		}
		for _, f := range n.Findings {
			if !slices.ContainsFunc(p.Findings, func(g report.Finding) bool { return g.ID == f.ID }) {
				f := f
				keptFound = append(keptFound, Event{Time: now, Type: FindingRaised, Listener: *n, Finding: &f})
			}
		}
	}
	byEvent := func(a, b Event) int {
		if c := strings.Compare(a.Listener.Key.String(), b.Listener.Key.String()); c != 0 {
			return c
		}
		if a.Finding == nil || b.Finding == nil {
			return 0
		}
		return strings.Compare(a.Finding.ID, b.Finding.ID)
	}
	slices.SortFunc(keptChanged, byEvent)
	slices.SortFunc(keptFound, byEvent)
	changed = append(changed, keptChanged...)
	found = append(found, keptFound...)
	out := make([]Event, 0, len(closed)+len(changed)+len(opened)+len(found))
	out = append(out, closed...)
	out = append(out, changed...)
	out = append(out, opened...)
	return append(out, found...), quiet
}

func sameAddr(a, b Key) bool {
	return a.NetNS == b.NetNS && a.Protocol == b.Protocol && a.Address == b.Address && a.Port == b.Port
}

func sharesInode(a, b []uint64) bool {
	for _, x := range a {
		if x != 0 && slices.Contains(b, x) {
			return true
		}
	}
	return false
}
