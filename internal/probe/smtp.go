package probe

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
)

func smtpProtocol() Protocol {
	return Protocol{Name: "smtp", Transport: "tcp", Ports: []uint16{25, 465, 587, 2525}, Wave: 2, ServerFirst: true, Banner: smtpBanner, Probe: smtpProbe}
}

// smtpBanner knows a 220 greeting that says SMTP; a bare 220 could be FTP
// too, so it is only a hint.
func smtpBanner(b []byte) (Match, bool) {
	code, text, _, ok := parseReplyLine(firstLine(string(b)))
	if !ok || code != 220 && code != 554 {
		return Match{}, false
	}
	up := strings.ToUpper(text)
	m := Match{Service: "smtp", Method: "native:smtp", Evidence: text}
	switch {
	case strings.Contains(up, "FTP"):
		return Match{}, false
	case strings.Contains(up, "SMTP"):
		m.Certain = true
	}
	return m, true
}

// smtpProbe reads the greeting, says EHLO to learn the extensions, and
// when STARTTLS is offered upgrades to report the certificate. It never
// sends MAIL or RCPT.
func smtpProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	br := bufio.NewReaderSize(c, 4096)
	greet, err := readReply(br)
	if err != nil {
		return Match{}, false, fmt.Errorf("smtp greeting: %w", err)
	}
	if greet.Code != 220 {
		return Match{}, false, nil
	}
	m := Match{Service: "smtp", Method: "native:smtp", Evidence: greet.Lines[0]}
	if _, err := fmt.Fprintf(c, "EHLO portwho.invalid\r\n"); err != nil {
		return m, false, err
	}
	ehlo, err := readReply(br)
	if err != nil || ehlo.Code != 250 {
		// An FTP server greets with 220 too and rejects EHLO.
		return m, false, err
	}
	m.Certain = true
	var starttls bool
	for _, l := range ehlo.Lines[1:] {
		if strings.EqualFold(strings.TrimSpace(l), "STARTTLS") {
			starttls = true
		}
	}
	if !starttls {
		fmt.Fprintf(c, "QUIT\r\n")
		return m, true, nil
	}
	m.Info = "STARTTLS"
	if _, err := fmt.Fprintf(c, "STARTTLS\r\n"); err != nil {
		return m, true, nil
	}
	if r, err := readReply(br); err != nil || r.Code != 220 {
		return m, true, nil
	}
	t, tc, err := startTLS(ctx, c)
	if err != nil {
		m.Info = "STARTTLS failed"
		return m, true, nil
	}
	m.StartTLS = t
	fmt.Fprintf(tc, "QUIT\r\n")
	return m, true, nil
}
