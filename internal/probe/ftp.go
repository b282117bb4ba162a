package probe

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
)

func ftpProtocol() Protocol {
	return Protocol{Name: "ftp", Transport: "tcp", Ports: []uint16{21, 990, 2121}, Wave: 2, ServerFirst: true, Banner: ftpBanner, Probe: ftpProbe}
}

// ftpBanner knows a 220 greeting that says FTP; a bare 220 is a hint.
func ftpBanner(b []byte) (Match, bool) {
	code, text, _, ok := parseReplyLine(firstLine(string(b)))
	if !ok || code != 220 && code != 421 {
		return Match{}, false
	}
	up := strings.ToUpper(text)
	if strings.Contains(up, "SMTP") {
		return Match{}, false
	}
	m := Match{Service: "ftp", Method: "native:ftp", Evidence: ftpEvidence(b)}
	if strings.Contains(up, "FTP") {
		m.Certain = true
	}
	return m, true
}

// ftpEvidence joins a multi-line greeting: Pure-FTPd names itself on its
// first line, others on the last.
func ftpEvidence(b []byte) string {
	br := bufio.NewReader(strings.NewReader(string(b)))
	r, err := readReply(br)
	if err != nil || len(r.Lines) == 0 {
		_, text, _, _ := parseReplyLine(firstLine(string(b)))
		return text
	}
	return strings.Join(r.Lines, " ")
}

// ftpProbe reads the greeting, asks FEAT, and upgrades with AUTH TLS when
// offered. It never logs in.
func ftpProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	br := bufio.NewReaderSize(c, 4096)
	greet, err := readReply(br)
	if err != nil {
		return Match{}, false, fmt.Errorf("ftp greeting: %w", err)
	}
	if greet.Code != 220 {
		return Match{}, false, nil
	}
	text := strings.Join(greet.Lines, " ")
	m := Match{Service: "ftp", Method: "native:ftp", Evidence: text, Certain: strings.Contains(strings.ToUpper(text), "FTP")}
	if _, err := fmt.Fprintf(c, "FEAT\r\n"); err != nil {
		return m, m.Certain, nil
	}
	feat, err := readReply(br)
	if err != nil {
		return m, m.Certain, nil
	}
	if feat.Code != 211 && !m.Certain {
		// An SMTP server greets with 220 too; it would not answer FEAT
		// with a feature list.
		return m, false, nil
	}
	m.Certain = true
	authTLS := false
	for _, l := range feat.Lines {
		if f := strings.TrimSpace(l); strings.EqualFold(f, "AUTH TLS") || hasWord(strings.ToUpper(f), "TLS") && strings.HasPrefix(strings.ToUpper(f), "AUTH ") {
			authTLS = true
		}
	}
	if !authTLS {
		fmt.Fprintf(c, "QUIT\r\n")
		return m, true, nil
	}
	m.Info = "AUTH TLS"
	if _, err := fmt.Fprintf(c, "AUTH TLS\r\n"); err != nil {
		return m, true, nil
	}
	if r, err := readReply(br); err != nil || r.Code != 234 {
		return m, true, nil
	}
	t, tc, err := startTLS(ctx, c)
	if err != nil {
		m.Info = "AUTH TLS failed"
		return m, true, nil
	}
	m.StartTLS = t
	fmt.Fprintf(tc, "QUIT\r\n")
	return m, true, nil
}
