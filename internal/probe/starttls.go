package probe

// Helpers shared by the line-based protocols: capped line reads, SMTP/FTP
// style numbered replies, and the TLS upgrade behind STARTTLS.

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

const (
	maxLine  = 4096 // a longer line is not a greeting
	maxLines = 64   // nor is a longer reply
)

var errLineTooLong = errors.New("line too long")

// readLine reads one line without its CR LF, refusing lines over maxLine.
func readLine(br *bufio.Reader) (string, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxLine {
			return "", errLineTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if len(line) > 0 && errors.Is(err, errReadCap) {
				err = nil
			}
			if err != nil {
				return "", err
			}
		}
		return strings.TrimRight(string(line), "\r\n"), nil
	}
}

// reply is a numbered reply (SMTP, FTP): the code and the text of each line.
type reply struct {
	Code  int
	Lines []string
}

// readReply reads "NNN-text" lines up to the final "NNN text".
func readReply(br *bufio.Reader) (reply, error) {
	var r reply
	for i := 0; i < maxLines; i++ {
		line, err := readLine(br)
		if err != nil {
			return r, err
		}
		code, text, last, ok := parseReplyLine(line)
		if !ok {
			if i == 0 {
				return r, fmt.Errorf("not a numbered reply: %.40q", line)
			}
			// FTP lets continuation lines go without a code.
			r.Lines = append(r.Lines, strings.TrimSpace(line))
			continue
		}
		if i == 0 {
			r.Code = code
		}
		r.Lines = append(r.Lines, text)
		if last && code == r.Code {
			return r, nil
		}
	}
	return r, errors.New("reply too long")
}

// parseReplyLine splits "250-text" or "250 text".
func parseReplyLine(line string) (code int, text string, last, ok bool) {
	if len(line) < 3 {
		return 0, "", false, false
	}
	n, err := strconv.Atoi(line[:3])
	if err != nil || n < 100 || n > 599 {
		return 0, "", false, false
	}
	if len(line) == 3 {
		return n, "", true, true
	}
	switch line[3] {
	case ' ':
		return n, line[4:], true, true
	case '-':
		return n, line[4:], false, true
	}
	return 0, "", false, false
}

// startTLS completes a client handshake over c once the protocol agreed to
// upgrade, and describes the session. It is for STARTTLS-like upgrades in
// any protocol (PostgreSQL's SSLRequest too).
func startTLS(ctx context.Context, c net.Conn) (*TLS, *tls.Conn, error) {
	s := sessionFrom(ctx, c)
	cfg := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // we identify, not authenticate
	if s.host != "" && net.ParseIP(s.host) == nil {
		cfg.ServerName = s.host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, nil, fmt.Errorf("starttls handshake: %w", err)
	}
	return summarizeTLS(tc.ConnectionState()), tc, nil
}

// hasWord reports whether a space-separated list holds w, ignoring case.
func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, w) {
			return true
		}
	}
	return false
}
