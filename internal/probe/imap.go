package probe

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
)

func imapProtocol() Protocol {
	return Protocol{Name: "imap", Transport: "tcp", Ports: []uint16{143, 993}, Wave: 2, ServerFirst: true, Banner: imapBanner, Probe: imapProbe}
}

// imapGreeting returns the text after "* OK" or "* PREAUTH" (RFC 9051 7.1).
func imapGreeting(line string) (string, bool) {
	for _, p := range []string{"* OK", "* PREAUTH", "* BYE"} {
		if len(line) >= len(p) && strings.EqualFold(line[:len(p)], p) {
			return strings.TrimSpace(line[len(p):]), true
		}
	}
	return "", false
}

func imapBanner(b []byte) (Match, bool) {
	text, ok := imapGreeting(firstLine(string(b)))
	if !ok {
		return Match{}, false
	}
	return Match{Service: "imap", Method: "native:imap", Certain: true, Evidence: text}, true
}

// imapProbe reads the greeting, asks CAPABILITY, and upgrades with
// STARTTLS when offered. It never logs in.
func imapProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	br := bufio.NewReaderSize(c, 4096)
	line, err := readLine(br)
	if err != nil {
		return Match{}, false, fmt.Errorf("imap greeting: %w", err)
	}
	text, ok := imapGreeting(line)
	if !ok {
		return Match{}, false, nil
	}
	m := Match{Service: "imap", Method: "native:imap", Certain: true, Evidence: text}
	if _, err := fmt.Fprintf(c, "a1 CAPABILITY\r\n"); err != nil {
		return m, true, nil
	}
	var caps string
	for i := 0; i < maxLines; i++ {
		l, err := readLine(br)
		if err != nil {
			return m, true, nil
		}
		if rest, ok := strings.CutPrefix(l, "* CAPABILITY "); ok {
			caps = rest
		}
		if strings.HasPrefix(l, "a1 ") {
			break
		}
	}
	if !hasWord(caps, "STARTTLS") {
		fmt.Fprintf(c, "a2 LOGOUT\r\n")
		return m, true, nil
	}
	m.Info = "STARTTLS"
	if _, err := fmt.Fprintf(c, "a2 STARTTLS\r\n"); err != nil {
		return m, true, nil
	}
	for i := 0; i < maxLines; i++ {
		l, err := readLine(br)
		if err != nil {
			return m, true, nil
		}
		if strings.HasPrefix(l, "a2 ") {
			if !strings.HasPrefix(strings.ToUpper(l), "A2 OK") {
				return m, true, nil
			}
			break
		}
	}
	t, tc, err := startTLS(ctx, c)
	if err != nil {
		m.Info = "STARTTLS failed"
		return m, true, nil
	}
	m.StartTLS = t
	fmt.Fprintf(tc, "a3 LOGOUT\r\n")
	return m, true, nil
}
