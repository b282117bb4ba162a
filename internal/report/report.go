// Package report holds the port report: one socket, the processes that hold
// it, what the registry says of its port, and what assessment found. It is
// the shape every command renders, stores or serves.
package report

import (
	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/sockets"
)

// Owner says how much is known about who holds a socket.
type Owner string

const (
	OwnerKnown   Owner = "known"   // Processes lists every holder
	OwnerHidden  Owner = "hidden"  // not root: other users' fds cannot be read
	OwnerUnknown Owner = "unknown" // even root could not find or read a holder
	OwnerNone    Owner = "none"    // as root, no process holds it (kernel socket)
)

// Socket is one socket with its context.
type Socket struct {
	sockets.Socket
	Processes []process.Process `json:"processes"`
	Owner     Owner             `json:"owner"`
	// Service is the IANA service name registered for the local port and
	// protocol ("" when unassigned).
	Service  string    `json:"service"`
	Findings []Finding `json:"findings"`
}

// Severity orders findings.
type Severity int

const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
)

// Finding is one judgement about a socket: what is suspicious and why.
type Finding struct {
	ID       string   `json:"id"` // stable: exposed, exe-deleted, ...
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`    // one line
	Why      string   `json:"why"`      // why it matters
	Evidence string   `json:"evidence"` // what was seen
}
