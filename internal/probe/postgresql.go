package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// PostgreSQL: an SSLRequest tells whether the server offers TLS; after its
// one-byte answer ('S' then a TLS handshake, or 'N') a startup packet that
// names no user makes the server reply with an ErrorResponse in its own
// words ("no PostgreSQL user name specified in startup packet"). Nothing is
// authenticated and nothing changes on the server.

const (
	pgSSLRequestCode = 80877103 // 1234<<16 | 5679
	pgProtocol30     = 3 << 16
)

func postgresqlProtocol() Protocol {
	return Protocol{
		Name:      "postgresql",
		Transport: "tcp",
		Ports:     []uint16{5432, 5433},
		Wave:      2,
		Probe:     postgresqlProbe,
	}
}

// pgError is a decoded ErrorResponse: field code → value (S severity,
// V non-localised severity, C SQLSTATE, M message, F file, L line,
// R routine).
type pgError map[byte]string

// postgresSession is what one SSLRequest + startup exchange revealed.
type postgresSession struct {
	SSL   byte    // the answer to SSLRequest: 'S', 'N', or 0 if none
	TLS   *TLS    // set when the TLS handshake after 'S' succeeded
	Error pgError // the server's reply to the user-less startup
}

func postgresqlProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	s, err := postgresExchange(ctx, c)
	if s.Error == nil && s.SSL == 0 {
		if err != nil {
			return Match{}, false, fmt.Errorf("postgresql: %w", err)
		}
		return Match{}, false, nil
	}
	m, ok := postgresJudge(s)
	return clipMatch(m), ok, nil
}

// postgresExchange runs the SSLRequest and the startup on c, through TLS
// when the server accepts it; the session carries the TLS summary.
func postgresExchange(ctx context.Context, c net.Conn) (postgresSession, error) {
	defer withCtx(ctx, c)()
	var s postgresSession
	req := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 8), pgSSLRequestCode)
	if _, err := c.Write(req); err != nil {
		return s, fmt.Errorf("send ssl request: %w", err)
	}
	// Exactly one byte: an old server's ErrorResponse follows in the same
	// segment and must stay unread for the framed read below.
	first := make([]byte, 1)
	if _, err := io.ReadFull(c, first); err != nil {
		return s, fmt.Errorf("read ssl answer: %w", err)
	}
	var rw net.Conn = c
	switch first[0] {
	case 'S':
		s.SSL = 'S'
		t, tc, err := startTLS(ctx, c)
		if err != nil {
			return s, fmt.Errorf("after ssl request: %w", err)
		}
		s.TLS, rw = t, tc
	case 'N':
		s.SSL = 'N'
	case 'E':
		// Servers too old for SSLRequest answer it with an error at once.
		raw, err := readFramed(c, framePgAfterType)
		if err != nil {
			return s, fmt.Errorf("read error response: %w", err)
		}
		e, err := parsePgMessage(append([]byte{'E'}, raw...))
		if err != nil {
			return s, err
		}
		s.Error = e
		return s, nil
	default:
		return s, fmt.Errorf("not postgresql: ssl answer %q", first[0])
	}
	// A startup packet with protocol 3.0 and no parameters at all.
	startup := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 9), pgProtocol30)
	startup = append(startup, 0)
	if _, err := rw.Write(startup); err != nil {
		return s, fmt.Errorf("send startup: %w", err)
	}
	raw, err := readFramed(rw, framePgMessage)
	if err != nil {
		return s, fmt.Errorf("read startup reply: %w", err)
	}
	e, err := parsePgMessage(raw)
	if err != nil {
		return s, err
	}
	s.Error = e
	return s, nil
}

// postgresJudge names the server from what the exchange revealed. The
// source file the error came from dates the server: the startup code moved
// from postmaster.c to backend_startup.c in PostgreSQL 17, and the
// non-localised severity field V appeared in 9.6.
func postgresJudge(s postgresSession) (Match, bool) {
	m := Match{Service: "postgresql", Product: "PostgreSQL", Method: "native:postgresql"}
	var info []string
	switch s.SSL {
	case 'S':
		info = append(info, "ssl offered")
		m.StartTLS = s.TLS
	case 'N':
		info = append(info, "ssl not offered")
	}
	if s.Error != nil {
		m.Certain = true
		switch {
		case s.Error['F'] == "backend_startup.c":
			m.Version = "17 or later"
		case s.Error['V'] != "":
			m.Version = "9.6 or later"
		}
		if msg := s.Error['M']; msg != "" {
			info = append(info, msg)
		}
	} else if s.SSL == 'N' {
		return Match{}, false // a lone 'N' could be anything
	}
	m.Info = strings.Join(info, "; ")
	return m, true
}

// framePgMessage frames one backend message: type byte, int32 length that
// counts itself but not the type.
func framePgMessage(b []byte) (int, error) {
	if len(b) < 5 {
		return 0, errNeedMore
	}
	n := int(binary.BigEndian.Uint32(b[1:]))
	if n < 4 {
		return 0, fmt.Errorf("bad postgresql message length %d", n)
	}
	return 1 + n, nil
}

// framePgAfterType frames a message whose type byte was already read.
func framePgAfterType(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, errNeedMore
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < 4 {
		return 0, fmt.Errorf("bad postgresql message length %d", n)
	}
	return n, nil
}

// parsePgMessage decodes one complete backend message; only ErrorResponse
// ('E') and NoticeResponse ('N') are accepted, the two a user-less startup
// can produce.
func parsePgMessage(b []byte) (pgError, error) {
	n, err := framePgMessage(b)
	if err != nil {
		return nil, err
	}
	if len(b) != n {
		return nil, fmt.Errorf("postgresql message length %d, have %d bytes", n, len(b))
	}
	if b[0] != 'E' && b[0] != 'N' {
		return nil, fmt.Errorf("unexpected postgresql message type %q", b[0])
	}
	body := b[5:]
	e := make(pgError)
	for len(body) > 0 && body[0] != 0 {
		code := body[0]
		end := bytes.IndexByte(body[1:], 0)
		if end < 0 {
			return nil, errors.New("unterminated postgresql error field")
		}
		e[code] = string(body[1 : 1+end])
		body = body[2+end:]
	}
	if len(body) != 1 {
		return nil, errors.New("postgresql error fields not terminated")
	}
	if e['S'] == "" || e['M'] == "" {
		return nil, errors.New("postgresql error without severity or message")
	}
	return e, nil
}
