package probe

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
)

func pop3Protocol() Protocol {
	return Protocol{Name: "pop3", Transport: "tcp", Ports: []uint16{110, 995}, Wave: 2, ServerFirst: true, Banner: pop3Banner, Probe: pop3Probe}
}

func pop3Banner(b []byte) (Match, bool) {
	line := firstLine(string(b))
	if !strings.HasPrefix(line, "+OK") {
		return Match{}, false
	}
	return Match{Service: "pop3", Method: "native:pop3", Certain: true, Evidence: strings.TrimSpace(line[3:])}, true
}

// pop3Probe reads the greeting, asks CAPA (RFC 2449), and upgrades with
// STLS (RFC 2595) when offered. It never logs in.
func pop3Probe(ctx context.Context, c net.Conn) (Match, bool, error) {
	br := bufio.NewReaderSize(c, 4096)
	line, err := readLine(br)
	if err != nil {
		return Match{}, false, fmt.Errorf("pop3 greeting: %w", err)
	}
	m, ok := pop3Banner([]byte(line))
	if !ok {
		return Match{}, false, nil
	}
	if _, err := fmt.Fprintf(c, "CAPA\r\n"); err != nil {
		return m, true, nil
	}
	stls := false
	if l, err := readLine(br); err == nil && strings.HasPrefix(l, "+OK") {
		for i := 0; i < maxLines; i++ {
			l, err := readLine(br)
			if err != nil || l == "." {
				break
			}
			if strings.EqualFold(strings.TrimSpace(l), "STLS") {
				stls = true
			}
		}
	}
	if !stls {
		fmt.Fprintf(c, "QUIT\r\n")
		return m, true, nil
	}
	m.Info = "STLS"
	if _, err := fmt.Fprintf(c, "STLS\r\n"); err != nil {
		return m, true, nil
	}
	if l, err := readLine(br); err != nil || !strings.HasPrefix(l, "+OK") {
		return m, true, nil
	}
	t, tc, err := startTLS(ctx, c)
	if err != nil {
		m.Info = "STLS failed"
		return m, true, nil
	}
	m.StartTLS = t
	fmt.Fprintf(tc, "QUIT\r\n")
	return m, true, nil
}
