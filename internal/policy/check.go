package policy

import (
	"net/netip"

	"github.com/portwho/portwho/internal/assess"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// Result is what `portwho check` reports. Its JSON form is the documented
// contract for CI and configuration management (docs/json.md): fields keep
// their names and meaning; lists are [] when empty, never null.
type Result struct {
	// Policy is the file checked against; "" when there was none, and then
	// only findings are judged.
	Policy string `json:"policy"`
	// FailOn is the lowest severity that counts.
	FailOn report.Severity `json:"fail_on"`
	// Clean is true when nothing is reported: the exit status is 0.
	Clean      bool              `json:"clean"`
	Counts     Counts            `json:"counts"`
	Unexpected []report.Socket   `json:"unexpected"`
	Missing    []MissingRule     `json:"missing"`
	Findings   []SocketFinding   `json:"findings"`
	Notes      []string          `json:"notes"`
	Listeners  []ListenerVerdict `json:"-"`
}

// Counts summarises a Result.
type Counts struct {
	Listeners  int `json:"listeners"`
	Allowed    int `json:"allowed"`
	Unexpected int `json:"unexpected"`
	Missing    int `json:"missing"`
	Findings   int `json:"findings"`
}

// ListenerVerdict pairs a listener with the rule that allows it (nil when
// none does), for human output.
type ListenerVerdict struct {
	Socket *report.Socket
	Rule   *Rule
}

// MissingRule is an allow rule that no listener matches: a service that
// should be up is down.
type MissingRule struct {
	// Line is where the rule starts in the policy file.
	Line      int    `json:"line"`
	Protocol  string `json:"protocol"`
	Port      string `json:"port"`
	Address   string `json:"address"`
	NetNS     string `json:"netns"`
	Exe       string `json:"exe"`
	User      string `json:"user"`
	Container string `json:"container"`
	Comment   string `json:"comment"`
}

// SocketFinding is one finding at or above the threshold, with enough of
// its socket to act on.
type SocketFinding struct {
	Protocol string     `json:"protocol"`
	Address  netip.Addr `json:"local_address"`
	Port     uint16     `json:"local_port"`
	NetNS    string     `json:"netns"`
	PIDs     []int      `json:"pids"`
	Exe      string     `json:"exe"`
	Allowed  bool       `json:"allowed"`
	report.Finding
}

// Check judges listeners (already annotated with findings) against p: every
// listener no rule allows, every required rule no listener matches, and
// every finding at or above failOn. A nil p judges findings alone.
func Check(p *Policy, socks []report.Socket, failOn report.Severity) *Result {
	res := &Result{FailOn: failOn, Unexpected: []report.Socket{}, Missing: []MissingRule{},
		Findings: []SocketFinding{}, Notes: []string{}}
	if p != nil {
		res.Policy = p.Path
	}
	var matched []bool
	if p != nil {
		matched = make([]bool, len(p.Allow))
	}
	for i := range socks {
		s := &socks[i]
		if !assess.IsListening(&s.Socket) {
			continue
		}
		res.Counts.Listeners++
		v := ListenerVerdict{Socket: s}
		if p != nil {
			for j := range p.Allow {
				if p.Allow[j].Matches(s) {
					matched[j] = true
					if v.Rule == nil {
						v.Rule = &p.Allow[j]
					}
				}
			}
			if v.Rule == nil {
				res.Unexpected = append(res.Unexpected, *s)
			} else {
				res.Counts.Allowed++
			}
		}
		res.Listeners = append(res.Listeners, v)
		for _, f := range s.Findings {
			if f.Severity >= failOn {
				res.Findings = append(res.Findings, newSocketFinding(s, f, v.Rule != nil))
			}
		}
	}
	if p != nil {
		for j := range p.Allow {
			if !matched[j] && !p.Allow[j].Optional {
				res.Missing = append(res.Missing, missing(&p.Allow[j]))
			}
		}
	}
	res.Counts.Unexpected = len(res.Unexpected)
	res.Counts.Missing = len(res.Missing)
	res.Counts.Findings = len(res.Findings)
	res.Clean = res.Counts.Unexpected == 0 && res.Counts.Missing == 0 && res.Counts.Findings == 0
	return res
}

func newSocketFinding(s *report.Socket, f report.Finding, allowed bool) SocketFinding {
	sf := SocketFinding{Protocol: s.Protocol, Address: s.LocalAddr, Port: s.LocalPort,
		NetNS: nsLabel(s), PIDs: []int{}, Allowed: allowed, Finding: f}
	for _, p := range s.Processes {
		sf.PIDs = append(sf.PIDs, p.PID)
		if sf.Exe == "" {
			sf.Exe = p.Exe
		}
	}
	return sf
}

func missing(r *Rule) MissingRule {
	m := MissingRule{Line: r.Line, Protocol: r.Protocol, Address: r.Address.String(),
		NetNS: r.NetNS, Exe: r.Exe, User: r.User, Container: r.Container, Comment: r.Comment}
	if r.Ports != nil {
		m.Port = r.Ports.String()
	}
	return m
}

// Describe is a rule in one line, for human output.
func (m MissingRule) Describe() string {
	s := m.Protocol
	if s == "" {
		s = "tcp/udp"
	}
	port := m.Port
	if port == "" {
		port = "any port"
	}
	s += " " + port + " on " + m.Address
	if m.NetNS != "" && m.NetNS != "host" {
		s += " in netns " + m.NetNS
	}
	if m.Exe != "" {
		s += " by " + m.Exe
	}
	if m.User != "" {
		s += " as " + m.User
	}
	if m.Container != "" {
		s += " in container " + m.Container
	}
	return s
}

// SocketKey is the listener a socket finding or an unexpected socket is
// about, for grouping in human output.
func SocketKey(s *sockets.Socket) string {
	return s.Protocol + " " + netip.AddrPortFrom(s.LocalAddr, s.LocalPort).String()
}
