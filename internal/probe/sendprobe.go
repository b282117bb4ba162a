package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"time"
)

// Line protocols where the client speaks first are data, not code: a
// signature with Send is both a request and a pattern for its reply
// (signatures.json), so that adding one is an entry with its examples.
// sendProtocols makes one Protocol per distinct request.
func sendProtocols(sigs *Signatures) []Protocol {
	type key struct{ transport, send string }
	var order []key
	groups := map[key]*Protocol{}
	for _, sig := range sigs.List() {
		if sig.Send == "" {
			continue
		}
		k := key{sig.transport(), sig.Send}
		p := groups[k]
		if p == nil {
			name := sig.Service
			if sig.As != "" {
				name = sig.As
			}
			p = &Protocol{Name: name, Transport: k.transport, Wave: 2, Probe: sendProbe(sigs, k.transport, k.send)}
			groups[k] = p
			order = append(order, k)
		}
		for _, port := range sig.Ports {
			if !slices.Contains(p.Ports, port) {
				p.Ports = append(p.Ports, port)
			}
		}
	}
	out := make([]Protocol, 0, len(order))
	for _, k := range order {
		out = append(out, *groups[k])
	}
	return out
}

// defaultSendProtocols are the probes of the embedded table.
func defaultSendProtocols() []Protocol {
	sigs, err := DefaultSignatures()
	if err != nil {
		return nil
	}
	return sendProtocols(sigs)
}

// sendProbe sends the request and reads the reply until a pattern names
// it, the peer stops talking (idleGap) or closes, or maxReplyText bytes.
func sendProbe(sigs *Signatures, transport, send string) func(context.Context, net.Conn) (Match, bool, error) {
	return func(ctx context.Context, c net.Conn) (Match, bool, error) {
		defer withCtx(ctx, c)()
		if _, err := io.WriteString(c, send); err != nil {
			return Match{}, false, fmt.Errorf("send: %w", err)
		}
		if transport == "udp" {
			for {
				d, err := readDatagram(c)
				if err != nil {
					return Match{}, false, err
				}
				if m, ok := sigs.MatchReply(transport, send, string(d)); ok {
					return m, true, nil
				}
			}
		}
		var reply []byte
		buf := make([]byte, 2048)
		for len(reply) < maxReplyText {
			n, err := c.Read(buf)
			reply = append(reply, buf[:n]...)
			if n > 0 {
				if m, ok := sigs.MatchReply(transport, send, string(reply)); ok {
					return m, true, nil
				}
				// More may follow (a stats dump in several segments),
				// but not after a pause.
				_ = c.SetReadDeadline(time.Now().Add(idleGap))
			}
			if err != nil {
				if len(reply) > 0 && (errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded)) {
					break
				}
				return Match{}, false, err
			}
		}
		return Match{}, false, nil
	}
}
