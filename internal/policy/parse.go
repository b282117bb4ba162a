package policy

// The parser walks goccy/go-yaml's syntax tree rather than unmarshalling
// into structs: every value keeps its line and column, so each mistake
// (an unknown key, a port of 70000, a severity of "severe") is reported
// where it is, and nothing is accepted that the format does not define.

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/portwho/portwho/internal/assess"
	"github.com/portwho/portwho/internal/report"
)

// maxPolicySize bounds what is parsed: a policy is hand-sized.
const maxPolicySize = 4 << 20

// Parse reads a policy from data; name is the file name used in errors.
func Parse(name string, data []byte) (*Policy, error) {
	ps := &parseState{file: name}
	if len(data) > maxPolicySize {
		return nil, ps.errAt(1, 1, "policy is larger than 4 MiB")
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil {
			pos := ye.GetToken().Position
			return nil, ps.errAt(pos.Line, pos.Column, "%s", ye.GetMessage())
		}
		return nil, ps.errAt(1, 1, "%s", oneLine(err.Error()))
	}
	var body ast.Node
	for _, d := range f.Docs {
		if d.Body == nil || d.Body.Type() == ast.CommentType {
			continue
		}
		if body != nil {
			return nil, ps.err(d.Body, "a policy file holds one YAML document")
		}
		body = d.Body
	}
	if body == nil {
		return nil, ps.errAt(1, 1, "policy is empty (want a mapping with version, settings and allow)")
	}
	p := &Policy{Path: name}
	if err := ps.policy(body, p); err != nil {
		return nil, err
	}
	return p, nil
}

type parseState struct{ file string }

func (ps *parseState) errAt(line, col int, format string, a ...any) *Error {
	if line < 1 {
		line = 1
	}
	if col < 1 {
		col = 1
	}
	return &Error{File: ps.file, Line: line, Column: col, Msg: oneLine(fmt.Sprintf(format, a...))}
}

func (ps *parseState) err(n ast.Node, format string, a ...any) *Error {
	tk := startToken(n)
	if tk == nil || tk.Position == nil {
		return ps.errAt(1, 1, format, a...)
	}
	return ps.errAt(tk.Position.Line, tk.Position.Column, format, a...)
}

// startToken is where a node begins as a person reads it: a block
// mapping's token is its first ':', but its first key is where it starts.
func startToken(n ast.Node) *token.Token {
	switch m := n.(type) {
	case *ast.MappingNode:
		if !m.IsFlowStyle && len(m.Values) > 0 {
			return m.Values[0].Key.GetToken()
		}
	case *ast.MappingValueNode:
		return m.Key.GetToken()
	}
	return n.GetToken()
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// field is one key: value of a mapping.
type field struct {
	key   string
	keyN  ast.Node
	value ast.Node
}

// mapping returns the fields of a mapping node, rejecting keys not in
// known and duplicate keys.
func (ps *parseState) mapping(n ast.Node, what string, known ...string) ([]field, error) {
	var pairs []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		pairs = m.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{m}
	default:
		return nil, ps.err(n, "%s must be a mapping (key: value), not %s", what, kind(n))
	}
	var out []field
	seen := map[string]bool{}
	for _, mv := range pairs {
		key, ok := scalar(mv.Key)
		if !ok {
			return nil, ps.err(mv.Key, "%s: keys must be plain words", what)
		}
		if !slices.Contains(known, key) {
			return nil, ps.err(mv.Key, "unknown key %q in %s (known: %s)", key, what, strings.Join(known, ", "))
		}
		if seen[key] {
			return nil, ps.err(mv.Key, "key %q given twice in %s", key, what)
		}
		seen[key] = true
		out = append(out, field{key: key, keyN: mv.Key, value: mv.Value})
	}
	return out, nil
}

func (ps *parseState) sequence(n ast.Node, what string) ([]ast.Node, error) {
	switch s := n.(type) {
	case *ast.SequenceNode:
		return s.Values, nil
	case *ast.NullNode:
		return nil, nil
	}
	return nil, ps.err(n, "%s must be a list, not %s", what, kind(n))
}

// scalar is the text of a plain or quoted scalar; anchors, aliases, tags
// and collections are not scalars.
func scalar(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, true
	}
	return "", false
}

func kind(n ast.Node) string {
	switch n.Type() {
	case ast.MappingType, ast.MappingValueType:
		return "a mapping"
	case ast.SequenceType:
		return "a list"
	case ast.NullType:
		return "empty"
	case ast.AnchorType, ast.AliasType:
		return "an anchor or alias (not supported)"
	case ast.TagType:
		return "a tagged value (not supported)"
	}
	return "a " + strings.ToLower(n.Type().String())
}

func (ps *parseState) str(f field) (string, error) {
	s, ok := scalar(f.value)
	if !ok {
		return "", ps.err(f.value, "%s must be a single value, not %s", f.key, kind(f.value))
	}
	return s, nil
}

func (ps *parseState) strList(f field) ([]string, error) {
	items, err := ps.sequence(f.value, f.key)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		s, ok := scalar(it)
		if !ok {
			return nil, ps.err(it, "%s: each item must be a single value, not %s", f.key, kind(it))
		}
		out = append(out, s)
	}
	return out, nil
}

func (ps *parseState) glob(f field) (string, error) {
	s, err := ps.str(f)
	if err != nil {
		return "", err
	}
	if _, err := path.Match(s, ""); err != nil {
		return "", ps.err(f.value, "%s: bad glob %q: %v", f.key, s, err)
	}
	return s, nil
}

func (ps *parseState) bool(f field) (bool, error) {
	b, ok := f.value.(*ast.BoolNode)
	if !ok {
		return false, ps.err(f.value, "%s must be true or false", f.key)
	}
	return b.Value, nil
}

func (ps *parseState) policy(n ast.Node, p *Policy) error {
	fields, err := ps.mapping(n, "the policy", "version", "settings", "allow")
	if err != nil {
		return err
	}
	for _, f := range fields {
		switch f.key {
		case "version":
			s, err := ps.str(f)
			if err != nil {
				return err
			}
			if s != strconv.Itoa(Version) {
				return ps.err(f.value, "unsupported policy version %q (this portwho reads version %d)", s, Version)
			}
		case "settings":
			if err := ps.settings(f.value, &p.Settings); err != nil {
				return err
			}
		case "allow":
			items, err := ps.sequence(f.value, "allow")
			if err != nil {
				return err
			}
			for _, it := range items {
				r, err := ps.rule(it)
				if err != nil {
					return err
				}
				p.Allow = append(p.Allow, r)
			}
		}
	}
	return nil
}

func (ps *parseState) settings(n ast.Node, s *Settings) error {
	if n.Type() == ast.NullType {
		return nil
	}
	fields, err := ps.mapping(n, "settings", "fail-on", "ignore", "severity",
		"allow-shells", "trusted-dirs", "exposed-daemons", "kernel-sockets")
	if err != nil {
		return err
	}
	for _, f := range fields {
		switch f.key {
		case "fail-on":
			sev, err := ps.severity(f.value)
			if err != nil {
				return err
			}
			s.FailOn = &sev
		case "ignore":
			items, err := ps.sequence(f.value, "ignore")
			if err != nil {
				return err
			}
			for _, it := range items {
				id, err := ps.findingID(it)
				if err != nil {
					return err
				}
				s.Assess.Ignore = append(s.Assess.Ignore, id)
			}
		case "severity":
			sub, err := ps.mapping(f.value, "severity", assess.IDs()...)
			if err != nil {
				return err
			}
			s.Assess.Severity = map[string]report.Severity{}
			for _, sf := range sub {
				sev, err := ps.severity(sf.value)
				if err != nil {
					return err
				}
				s.Assess.Severity[sf.key] = sev
			}
		case "allow-shells":
			if s.Assess.AllowedShells, err = ps.globList(f); err != nil {
				return err
			}
		case "trusted-dirs":
			if s.Assess.TrustedDirs, err = ps.globList(f); err != nil {
				return err
			}
		case "exposed-daemons":
			items, err := ps.sequence(f.value, "exposed-daemons")
			if err != nil {
				return err
			}
			for _, it := range items {
				d, err := ps.daemon(it)
				if err != nil {
					return err
				}
				s.Assess.ExposedDaemons = append(s.Assess.ExposedDaemons, d)
			}
		case "kernel-sockets":
			items, err := ps.sequence(f.value, "kernel-sockets")
			if err != nil {
				return err
			}
			for _, it := range items {
				k, err := ps.kernelSocket(it)
				if err != nil {
					return err
				}
				s.Assess.KernelSockets = append(s.Assess.KernelSockets, k)
			}
		}
	}
	return nil
}

func (ps *parseState) globList(f field) ([]string, error) {
	items, err := ps.sequence(f.value, f.key)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, it := range items {
		s, err := ps.glob(field{key: f.key, value: it})
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (ps *parseState) severity(n ast.Node) (report.Severity, error) {
	s, ok := scalar(n)
	if !ok {
		return 0, ps.err(n, "severity must be info, low, medium or high, not %s", kind(n))
	}
	sev, err := report.ParseSeverity(s)
	if err != nil {
		return 0, ps.err(n, "%v", err)
	}
	return sev, nil
}

func (ps *parseState) findingID(n ast.Node) (string, error) {
	s, ok := scalar(n)
	if !ok || !slices.Contains(assess.IDs(), s) {
		return "", ps.err(n, "unknown finding id %q (known: %s)", s, strings.Join(assess.IDs(), ", "))
	}
	return s, nil
}

func (ps *parseState) ports(f field) (assess.PortRange, error) {
	s, ok := scalar(f.value)
	if !ok {
		return assess.PortRange{}, ps.err(f.value, "%s must be a port (22) or a range (\"8000-8100\"), not %s", f.key, kind(f.value))
	}
	r, err := assess.ParsePortRange(s)
	if err != nil {
		return assess.PortRange{}, ps.err(f.value, "%s: %v", f.key, err)
	}
	return r, nil
}

func (ps *parseState) protocol(f field) (string, error) {
	s, err := ps.str(f)
	if err != nil {
		return "", err
	}
	switch strings.ToLower(s) {
	case "tcp", "udp":
		return strings.ToLower(s), nil
	case "any", "":
		return "", nil
	}
	return "", ps.err(f.value, "protocol must be tcp, udp or any, not %q", s)
}

func (ps *parseState) rule(n ast.Node) (Rule, error) {
	fields, err := ps.mapping(n, "an allow rule", "protocol", "port", "address", "netns",
		"exe", "user", "container", "optional", "comment")
	if err != nil {
		return Rule{}, err
	}
	r := Rule{}
	if tk := startToken(n); tk != nil && tk.Position != nil {
		r.Line = tk.Position.Line
	}
	for _, f := range fields {
		switch f.key {
		case "protocol":
			r.Protocol, err = ps.protocol(f)
		case "port":
			var pr assess.PortRange
			pr, err = ps.ports(f)
			r.Ports = &pr
		case "address":
			r.Address, err = ps.address(f)
		case "netns":
			r.NetNS, err = ps.glob(f)
		case "exe":
			r.Exe, err = ps.glob(f)
		case "user":
			r.User, err = ps.glob(f)
		case "container":
			r.Container, err = ps.glob(f)
		case "optional":
			r.Optional, err = ps.bool(f)
		case "comment":
			r.Comment, err = ps.str(f)
		}
		if err != nil {
			return Rule{}, err
		}
	}
	return r, nil
}

// ParseAddress reads a rule's address: any, loopback, wildcard, an address
// or a CIDR prefix.
func ParseAddress(s string) (Address, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "any", "":
		return Address{Kind: AddrAny}, nil
	case "loopback", "localhost":
		return Address{Kind: AddrLoopback}, nil
	case "wildcard", "*":
		return Address{Kind: AddrWildcard}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Address{}, fmt.Errorf("address %q is not any, loopback, wildcard, an IP address or a CIDR prefix", s)
		}
		return Address{Kind: AddrPrefix, Prefix: p.Masked()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Address{}, fmt.Errorf("address %q is not any, loopback, wildcard, an IP address or a CIDR prefix", s)
	}
	return Address{Kind: AddrPrefix, Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
}

func (ps *parseState) address(f field) (Address, error) {
	s, err := ps.str(f)
	if err != nil {
		return Address{}, err
	}
	a, err := ParseAddress(s)
	if err != nil {
		return Address{}, ps.err(f.value, "%v", err)
	}
	return a, nil
}

func (ps *parseState) daemon(n ast.Node) (assess.Daemon, error) {
	fields, err := ps.mapping(n, "an exposed daemon", "exe", "ports")
	if err != nil {
		return assess.Daemon{}, err
	}
	var d assess.Daemon
	for _, f := range fields {
		switch f.key {
		case "exe":
			if d.Exe, err = ps.glob(f); err != nil {
				return d, err
			}
			if !strings.HasPrefix(d.Exe, "/") {
				return d, ps.err(f.value, "exe must be an absolute path or path glob: a bare name can be borrowed by any program")
			}
		case "ports":
			items, err := ps.sequence(f.value, "ports")
			if err != nil {
				return d, err
			}
			for _, it := range items {
				r, err := ps.ports(field{key: "ports", value: it})
				if err != nil {
					return d, err
				}
				d.Ports = append(d.Ports, r)
			}
		}
	}
	if d.Exe == "" {
		return d, ps.err(n, "an exposed daemon needs exe")
	}
	return d, nil
}

func (ps *parseState) kernelSocket(n ast.Node) (assess.KernelSocket, error) {
	fields, err := ps.mapping(n, "a kernel socket", "protocol", "port", "name")
	if err != nil {
		return assess.KernelSocket{}, err
	}
	var k assess.KernelSocket
	hasPort := false
	for _, f := range fields {
		switch f.key {
		case "protocol":
			k.Protocol, err = ps.protocol(f)
		case "port":
			var r assess.PortRange
			r, err = ps.ports(f)
			if err == nil && r.Lo != r.Hi {
				err = ps.err(f.value, "a kernel socket names one port, not a range")
			}
			k.Port, hasPort = r.Lo, true
		case "name":
			k.Name, err = ps.str(f)
		}
		if err != nil {
			return k, err
		}
	}
	if !hasPort || k.Name == "" {
		return k, ps.err(n, "a kernel socket needs port and name")
	}
	return k, nil
}
