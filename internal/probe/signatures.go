package probe

// The signature table names products and versions from the text a protocol
// exposes (an SSH software version, an HTTP Server header, a greeting). It
// is data, in signatures.json: add an entry with at least one example and
// the tests check it.

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

//go:embed signatures.json
var signaturesJSON []byte

// maxEvidence caps the text a pattern reads.
const maxEvidence = 1024

// Signature is one product pattern. Product, Version and Info are
// templates: $1 or ${name} expand to the pattern's groups.
type Signature struct {
	ID      string `json:"id"`
	Service string `json:"service"` // the service whose evidence it reads
	// As is the service reported when it matches, where the product says
	// more than the protocol: a proxy cache answers in HTTP, and is an
	// http-proxy; CUPS answers in HTTP, and is ipp. Empty: Service.
	As      string `json:"as"`
	Pattern string `json:"pattern"` // RE2 syntax
	Product string `json:"product"`
	Version string `json:"version"`
	Info    string `json:"info"`
	// Send makes the signature a client-first probe as well: the engine
	// sends these bytes (on Transport, default tcp; first on Ports, else
	// in the second wave) and the pattern reads the whole reply, not
	// evidence. Signatures with the same Send share one request.
	Send      string             `json:"send"`
	Transport string             `json:"transport"`
	Ports     []uint16           `json:"ports"`
	Examples  []SignatureExample `json:"examples"`
	re        *regexp.Regexp
}

// SignatureExample is a real text the signature must name as stated.
type SignatureExample struct {
	Text    string `json:"text"`
	Product string `json:"product"`
	Version string `json:"version"`
	Info    string `json:"info"`
}

// Signatures is a compiled table, tried in order.
type Signatures struct {
	list []Signature
}

// defaultSignatures compiles the embedded table once; it never changes.
var defaultSignatures = sync.OnceValues(func() (*Signatures, error) {
	return ParseSignatures(signaturesJSON)
})

// DefaultSignatures is the embedded table.
func DefaultSignatures() (*Signatures, error) { return defaultSignatures() }

// ParseSignatures compiles a table in the signatures.json format.
func ParseSignatures(data []byte) (*Signatures, error) {
	var list []Signature
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("parse signatures: %w", err)
	}
	seen := map[string]bool{}
	for i := range list {
		s := &list[i]
		if s.ID == "" || s.Service == "" || s.Product == "" {
			return nil, fmt.Errorf("signature %d (%q): id, service and product are required", i, s.ID)
		}
		if seen[s.ID] {
			return nil, fmt.Errorf("signature %q: duplicate id", s.ID)
		}
		seen[s.ID] = true
		re, err := regexp.Compile(s.Pattern)
		if err != nil {
			return nil, fmt.Errorf("signature %q: %w", s.ID, err)
		}
		s.re = re
		if s.Send == "" && (s.Transport != "" || len(s.Ports) > 0) {
			return nil, fmt.Errorf("signature %q: transport and ports need send", s.ID)
		}
		if t := s.transport(); t != "tcp" && t != "udp" {
			return nil, fmt.Errorf("signature %q: transport %q is neither tcp nor udp", s.ID, t)
		}
	}
	return &Signatures{list: list}, nil
}

// List returns the signatures in order.
func (s *Signatures) List() []Signature { return s.list }

// Match names the product in evidence seen from service (the first
// signature of that service that matches wins).
func (s *Signatures) Match(service, evidence string) (Match, bool) {
	evidence = capEvidence(evidence)
	for i := range s.list {
		sig := &s.list[i]
		if sig.Service != service || sig.Send != "" {
			continue
		}
		if m, ok := sig.apply(evidence); ok {
			return m, true
		}
	}
	return Match{}, false
}

// Identify names service and product from text alone, for a banner no
// native parser recognised.
func (s *Signatures) Identify(evidence string) (Match, bool) {
	evidence = capEvidence(evidence)
	for i := range s.list {
		if s.list[i].Send != "" {
			continue
		}
		if m, ok := s.list[i].apply(evidence); ok {
			return m, true
		}
	}
	return Match{}, false
}

// maxReplyText caps the reply a Send signature reads: a stats dump puts
// the version some 900 bytes in.
const maxReplyText = 4096

// MatchReply names the service from the reply to a Send signature's
// request (the first signature with that Send and transport to match).
func (s *Signatures) MatchReply(transport, send, reply string) (Match, bool) {
	if len(reply) > maxReplyText {
		reply = reply[:maxReplyText]
	}
	for i := range s.list {
		sig := &s.list[i]
		if sig.Send != send || sig.transport() != transport {
			continue
		}
		if m, ok := sig.apply(reply); ok {
			return m, true
		}
	}
	return Match{}, false
}

func (sig *Signature) transport() string {
	if sig.Transport == "" {
		return "tcp"
	}
	return sig.Transport
}

func capEvidence(s string) string {
	if len(s) > maxEvidence {
		return s[:maxEvidence]
	}
	return s
}

func (sig *Signature) apply(text string) (Match, bool) {
	idx := sig.re.FindStringSubmatchIndex(text)
	if idx == nil {
		return Match{}, false
	}
	expand := func(tmpl string) string {
		if tmpl == "" {
			return ""
		}
		return strings.TrimSpace(string(sig.re.ExpandString(nil, tmpl, text, idx)))
	}
	service := sig.Service
	if sig.As != "" {
		service = sig.As
	}
	return Match{
		Service: service,
		Product: expand(sig.Product),
		Version: expand(sig.Version),
		Info:    expand(sig.Info),
		Method:  "signature:" + sig.ID,
		Certain: true,
	}, true
}
