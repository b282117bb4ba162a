package probe

import (
	"fmt"
	"strings"
)

// Telnet commands (RFC 854).
const (
	telIAC  = 255
	telDONT = 254
	telDO   = 253
	telWONT = 252
	telWILL = 251
	telSB   = 250
	telSE   = 240
)

func telnetProtocol() Protocol {
	return Protocol{Name: "telnet", Transport: "tcp", Ports: []uint16{23, 2323}, Wave: 2, Banner: telnetBanner}
}

// parseTelnet splits a banner into the options negotiated and the text
// shown. ok is false unless the banner opens with a negotiation.
func parseTelnet(b []byte) (opts []string, text string, ok bool) {
	if len(b) < 3 || b[0] != telIAC || b[1] < telWILL || b[1] > telDONT {
		return nil, "", false
	}
	var txt strings.Builder
	for i := 0; i < len(b); {
		if b[i] != telIAC {
			txt.WriteByte(b[i])
			i++
			continue
		}
		if i+1 >= len(b) {
			break
		}
		switch cmd := b[i+1]; {
		case cmd >= telWILL && cmd <= telDONT:
			if i+2 >= len(b) {
				i = len(b)
				continue
			}
			if len(opts) < 32 {
				opts = append(opts, fmt.Sprintf("%s %d", [...]string{"WILL", "WONT", "DO", "DONT"}[cmd-telWILL], b[i+2]))
			}
			i += 3
		case cmd == telSB:
			j := i + 2
			for j+1 < len(b) && !(b[j] == telIAC && b[j+1] == telSE) {
				j++
			}
			i = j + 2
		case cmd == telIAC:
			txt.WriteByte(telIAC)
			i += 2
		default:
			i += 2
		}
	}
	return opts, strings.TrimSpace(txt.String()), true
}

func telnetBanner(b []byte) (Match, bool) {
	opts, text, ok := parseTelnet(b)
	if !ok {
		return Match{}, false
	}
	m := Match{Service: "telnet", Method: "native:telnet", Certain: true, Evidence: firstLine(text)}
	if len(opts) > 0 {
		m.Info = "negotiates " + strings.Join(opts, ", ")
		if len(m.Info) > 120 {
			m.Info = m.Info[:120]
		}
	}
	return m, true
}
