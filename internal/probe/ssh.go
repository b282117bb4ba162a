package probe

import (
	"strings"
)

func sshProtocol() Protocol {
	return Protocol{Name: "ssh", Transport: "tcp", Ports: []uint16{22, 2222}, Wave: 2, Banner: sshBanner}
}

// sshIdent is the identification line of RFC 4253 section 4.2:
// SSH-protoversion-softwareversion SP comments.
type sshIdent struct {
	Proto    string
	Software string
	Comments string
}

// parseSSHIdent finds the identification line; servers may send other
// lines before it.
func parseSSHIdent(b []byte) (sshIdent, bool) {
	s := string(b)
	for len(s) > 0 {
		line := s
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			line, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		line = strings.TrimRight(line, "\r")
		if !strings.HasPrefix(line, "SSH-") {
			continue
		}
		rest := line[4:]
		i := strings.IndexByte(rest, '-')
		if i <= 0 {
			return sshIdent{}, false
		}
		id := sshIdent{Proto: rest[:i]}
		id.Software, id.Comments, _ = strings.Cut(rest[i+1:], " ")
		if id.Software == "" {
			return sshIdent{}, false
		}
		return id, true
	}
	return sshIdent{}, false
}

func sshBanner(b []byte) (Match, bool) {
	id, ok := parseSSHIdent(b)
	if !ok {
		return Match{}, false
	}
	proto := id.Proto
	if proto == "1.99" {
		proto = "2.0" // 1.99 announces 2.0 with 1.x compatibility
	}
	ev := id.Software
	if id.Comments != "" {
		ev += " " + id.Comments
	}
	return Match{Service: "ssh", Info: "protocol " + proto, Method: "native:ssh", Certain: true, Evidence: ev}, true
}
