// Package policy is portwho's allow-list: which listeners a host is meant
// to have, and the settings that tune assessment. It reads and writes the
// YAML format documented in docs/policy.md, matches sockets against it,
// generates a baseline from today's listeners, and judges a host against
// it for `portwho check`.
package policy

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/portwho/portwho/internal/assess"
	"github.com/portwho/portwho/internal/report"
)

// Version is the format version this package reads and writes.
const Version = 1

// Policy is a parsed policy file.
type Policy struct {
	// Path is the file it was read from, for messages.
	Path     string
	Settings Settings
	Allow    []Rule
}

// Settings tune check and assessment.
type Settings struct {
	// FailOn is the lowest finding severity check reports; nil means the
	// command's default.
	FailOn *report.Severity
	// Assess is added to assess.DefaultConfig.
	Assess assess.Config
}

// Rule allows listeners. Empty fields match anything.
type Rule struct {
	Protocol string // "tcp", "udp", or "" for both
	// Ports is the port or range; nil matches any port.
	Ports   *assess.PortRange
	Address Address
	// NetNS is a glob over the network namespace's label; "host" is the
	// host's namespace.
	NetNS     string
	Exe       string // glob over the executable path
	User      string // glob over the user name
	Container string // glob over the container's name or id; "none" for no container
	// Optional rules are never reported missing: a listener that comes
	// and goes (or moves between ephemeral ports) is allowed, not required.
	Optional bool
	Comment  string
	// Line is where the rule starts in its file, for messages.
	Line int
}

// AddressKind says how a rule's address matches.
type AddressKind int

const (
	AddrAny      AddressKind = iota // any address (the default)
	AddrLoopback                    // 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104
	AddrWildcard                    // 0.0.0.0 or ::
	AddrPrefix                      // one address or a CIDR prefix
)

// Address is a rule's address scope.
type Address struct {
	Kind   AddressKind
	Prefix netip.Prefix // for AddrPrefix
}

func (a Address) String() string {
	switch a.Kind {
	case AddrLoopback:
		return "loopback"
	case AddrWildcard:
		return "wildcard"
	case AddrPrefix:
		if a.Prefix.IsSingleIP() {
			return a.Prefix.Addr().String()
		}
		return a.Prefix.String()
	}
	return "any"
}

// Error is a problem in a policy file, at a line and column.
type Error struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Load reads and parses a policy file. Any error leaves nothing half-read:
// the caller gets a whole policy or none.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data)
}

// Config is the assessment configuration this policy asks for.
func (p *Policy) Config() assess.Config {
	if p == nil {
		return assess.DefaultConfig()
	}
	return assess.DefaultConfig().Merge(p.Settings.Assess)
}
