package cli

// An append-based JSON encoder for report.Socket, the one value portwho
// writes by the tens of thousands (portwho --all --json). encoding/json
// spends ~2.5 µs a socket in reflection; this writes the same bytes (tests
// compare them with encoding/json's, field by field and on fuzzed strings)
// several times faster. A field added to the types must be added here: a
// test lists the fields and fails until it is.

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

func appendSocketJSON(b []byte, s *report.Socket) ([]byte, error) {
	b = append(b, `{"protocol":`...)
	b = appendJSONString(b, s.Protocol)
	b = append(b, `,"family":`...)
	b = appendJSONString(b, s.Family)
	b = append(b, `,"local_address":`...)
	b = appendAddr(b, s.LocalAddr)
	b = append(b, `,"local_port":`...)
	b = strconv.AppendUint(b, uint64(s.LocalPort), 10)
	b = append(b, `,"remote_address":`...)
	b = appendAddr(b, s.RemoteAddr)
	b = append(b, `,"remote_port":`...)
	b = strconv.AppendUint(b, uint64(s.RemotePort), 10)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, s.State)
	b = append(b, `,"uid":`...)
	b = strconv.AppendUint(b, uint64(s.UID), 10)
	b = append(b, `,"inode":`...)
	b = strconv.AppendUint(b, s.Inode, 10)
	if s.V6Only {
		b = append(b, `,"v6only":true`...)
	}
	b = append(b, `,"netns":`...)
	b = appendNetNS(b, s.NetNS)
	b = append(b, `,"processes":`...)
	if s.Processes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range s.Processes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendProcessJSON(b, &s.Processes[i])
		}
		b = append(b, ']')
	}
	b = append(b, `,"owner":`...)
	b = appendJSONString(b, string(s.Owner))
	b = append(b, `,"service":`...)
	b = appendJSONString(b, s.Service)
	b = append(b, `,"findings":`...)
	if s.Findings == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, f := range s.Findings {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = appendJSONString(b, f.ID)
			b = append(b, `,"severity":`...)
			sev, err := f.Severity.MarshalText()
			if err != nil {
				return b, err
			}
			b = appendJSONString(b, string(sev))
			b = append(b, `,"title":`...)
			b = appendJSONString(b, f.Title)
			b = append(b, `,"why":`...)
			b = appendJSONString(b, f.Why)
			b = append(b, `,"evidence":`...)
			b = appendJSONString(b, f.Evidence)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}'), nil
}

func appendNetNS(b []byte, n sockets.NetNS) []byte {
	b = append(b, `{"inode":`...)
	b = strconv.AppendUint(b, n.Inode, 10)
	b = append(b, `,"host":`...)
	b = strconv.AppendBool(b, n.Host)
	b = append(b, `,"label":`...)
	b = appendJSONString(b, n.Label)
	return append(b, '}')
}

func appendProcessJSON(b []byte, p *process.Process) []byte {
	b = append(b, `{"pid":`...)
	b = strconv.AppendInt(b, int64(p.PID), 10)
	b = append(b, `,"ppid":`...)
	b = strconv.AppendInt(b, int64(p.PPID), 10)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, p.Name)
	b = append(b, `,"uid":`...)
	b = strconv.AppendUint(b, uint64(p.UID), 10)
	b = append(b, `,"user":`...)
	b = appendJSONString(b, p.User)
	b = append(b, `,"cmdline":`...)
	if p.Cmdline == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, a := range p.Cmdline {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, ']')
	}
	b = append(b, `,"exe":`...)
	b = appendJSONString(b, p.Exe)
	b = append(b, `,"exe_deleted":`...)
	b = strconv.AppendBool(b, p.ExeDeleted)
	if p.Cwd != "" {
		b = append(b, `,"cwd":`...)
		b = appendJSONString(b, p.Cwd)
	}
	b = append(b, `,"start_time":`...)
	b = appendTime(b, p.StartTime)
	if len(p.Parents) > 0 {
		b = append(b, `,"parents":[`...)
		for i, a := range p.Parents {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"pid":`...)
			b = strconv.AppendInt(b, int64(a.PID), 10)
			b = append(b, `,"name":`...)
			b = appendJSONString(b, a.Name)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if p.Unit != "" {
		b = append(b, `,"unit":`...)
		b = appendJSONString(b, p.Unit)
	}
	if c := p.Container; c != nil {
		b = append(b, `,"container":{"runtime":`...)
		b = appendJSONString(b, c.Runtime)
		b = append(b, `,"id":`...)
		b = appendJSONString(b, c.ID)
		if c.Pod != "" {
			b = append(b, `,"pod":`...)
			b = appendJSONString(b, c.Pod)
		}
		if c.Name != "" {
			b = append(b, `,"name":`...)
			b = appendJSONString(b, c.Name)
		}
		b = append(b, '}')
	}
	if p.Cgroup != "" {
		b = append(b, `,"cgroup":`...)
		b = appendJSONString(b, p.Cgroup)
	}
	b = append(b, `,"netns":`...)
	b = strconv.AppendUint(b, p.NetNS, 10)
	return append(b, '}')
}

// appendAddr writes the address as its MarshalText does ("" when unset).
func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, `""`...)
	}
	var buf [64]byte
	return appendJSONString(b, string(a.AppendTo(buf[:0])))
}

// appendTime writes t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, trailing zeros dropped).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s exactly as encoding/json does by default:
// control characters, quote and backslash escaped, <, > and & as \u00XX
// (HTML-safe), invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
