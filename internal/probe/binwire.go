package probe

// Helpers shared by the binary and UDP protocol probes (redis.go, dns.go,
// snmp.go, ...): cancellation, capped framed reads and datagram reads.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
	"unicode/utf8"
)

// maxReply caps what any binary probe reads from a peer.
const maxReply = 64 << 10

// errNeedMore is what a frame function returns while a message is still
// incomplete.
var errNeedMore = errors.New("incomplete message")

// errTooLarge means a peer announced a message beyond maxReply.
var errTooLarge = errors.New("reply exceeds the read cap")

// withCtx makes blocking I/O on c return as soon as ctx ends, on top of the
// deadline the engine already set on c. Call the returned stop when done.
func withCtx(ctx context.Context, c net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		// A deadline in the past wakes every pending Read and Write.
		_ = c.SetDeadline(time.Unix(1, 0))
	})
}

// askFramed is the exchange most binary probes are: send req (nothing for
// protocols that speak first), read one framed reply, parse it. A reply
// that does not parse means another protocol answered, which is not an
// error: the probe just does not match.
func askFramed[T any](ctx context.Context, c net.Conn, proto string, req []byte, frame func([]byte) (int, error), parse func([]byte) (T, error), match func(T) Match) (Match, bool, error) {
	defer withCtx(ctx, c)()
	if len(req) > 0 {
		if _, err := c.Write(req); err != nil {
			return Match{}, false, fmt.Errorf("%s: send request: %w", proto, err)
		}
	}
	raw, err := readFramed(c, frame)
	if err != nil {
		return Match{}, false, fmt.Errorf("%s: read reply: %w", proto, err)
	}
	v, err := parse(raw)
	if err != nil {
		return Match{}, false, nil
	}
	return clipMatch(match(v)), true, nil
}

// readFramed reads from r until frame reports that buf holds one complete
// message, and returns that message. frame returns the message's total
// length, or errNeedMore while it cannot tell yet; any other error is a
// malformed reply. Reads stop at maxReply bytes. Bytes that arrive after
// the message are dropped: use it where the peer then waits for us.
func readFramed(r io.Reader, frame func(buf []byte) (int, error)) ([]byte, error) {
	buf := make([]byte, 0, 512)
	for {
		n, err := frame(buf)
		switch {
		case err == nil && n > maxReply:
			return buf, errTooLarge
		case err == nil && len(buf) >= n:
			return buf[:n], nil
		case err != nil && !errors.Is(err, errNeedMore):
			return buf, err
		}
		if len(buf) >= maxReply {
			return buf, errTooLarge
		}
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(2*cap(buf), maxReply))
			copy(grown, buf)
			buf = grown
		}
		m, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if rerr != nil {
			if m > 0 {
				continue // judge what arrived before the error first
			}
			if errors.Is(rerr, io.EOF) && len(buf) > 0 {
				return buf, fmt.Errorf("truncated reply (%d bytes): %w", len(buf), io.ErrUnexpectedEOF)
			}
			return buf, rerr
		}
	}
}

// frameExact is a frame function for a reply of a fixed size.
func frameExact(n int) func([]byte) (int, error) {
	return func([]byte) (int, error) { return n, nil }
}

// frameLen32 frames messages that start with their own total length as a
// 32-bit integer at offset off (MongoDB, PostgreSQL after the type byte).
func frameLen32(order binary.ByteOrder, off, extra int) func([]byte) (int, error) {
	return func(b []byte) (int, error) {
		if len(b) < off+4 {
			return 0, errNeedMore
		}
		n := int(order.Uint32(b[off:]))
		if n < 4 {
			return 0, fmt.Errorf("bad length %d", n)
		}
		return n + extra, nil
	}
}

// readDatagram reads one datagram from a connected UDP socket.
func readDatagram(c net.Conn) ([]byte, error) {
	buf := make([]byte, maxReply)
	n, err := c.Read(buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// randomUint16 returns an unpredictable 16-bit id so that a reply can be
// matched to its request (DNS ids, memcached request ids).
func randomUint16() uint16 {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return binary.BigEndian.Uint16(b[:])
}

// randomUint32 is randomUint16's 32-bit sibling.
func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// Caps on the peer-chosen text a Match carries: enough for any real
// product string, short enough that a hostile peer cannot fill a report.
const (
	maxProductLen  = 80
	maxInfoLen     = 300
	maxEvidenceLen = 512
)

// clipMatch truncates the peer-chosen fields of m, on rune boundaries.
func clipMatch(m Match) Match {
	m.Product = clipText(m.Product, maxProductLen)
	m.Version = clipText(m.Version, maxProductLen)
	m.Info = clipText(m.Info, maxInfoLen)
	m.Evidence = clipText(m.Evidence, maxEvidenceLen)
	return m
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
