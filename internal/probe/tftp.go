package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// TFTP (RFC 1350): one read request (RRQ) for a random file name no server
// holds. A server answers ERROR (opcode 5: a code and a message) or, if it
// serves any name, DATA block 1, which we abort with an ERROR at once. A
// write request is never sent.
//
// The answer comes from a new server port (the server's transfer id), which
// the engine's connected socket would drop: the probe uses sockets of its
// own. On Linux a connected twin shares the receiving socket's port, so the
// ICMP port unreachable of a closed port still reaches us (a plain
// unconnected socket never hears it and would wait out the deadline).

const (
	tftpRRQ   = 1
	tftpDATA  = 3
	tftpERROR = 5
	// A reply is one 512-byte block plus its header, or an error message;
	// a larger datagram is truncated, which still proves nothing more.
	tftpMaxDatagram = 1024
)

func tftpProtocol() Protocol {
	return Protocol{Name: "tftp", Transport: "udp", Ports: []uint16{69}, Wave: 2, Probe: tftpProbe}
}

// tftpReply is a parsed server answer.
type tftpReply struct {
	Opcode  uint16
	Code    uint16 // ERROR
	Message string // ERROR
	Block   uint16 // DATA
}

// tftpRRQMsg asks for name in octet mode.
func tftpRRQMsg(name string) []byte {
	req := binary.BigEndian.AppendUint16(nil, tftpRRQ)
	req = append(req, name...)
	req = append(req, 0)
	req = append(req, "octet"...)
	return append(req, 0)
}

// tftpFileName is a name no server holds: random, and obviously ours in a
// server's log.
func tftpFileName() string {
	return fmt.Sprintf("portwho-probe-%08x.txt", randomUint32())
}

// tftpDatagram is one datagram read on one of the probe's sockets.
type tftpDatagram struct {
	b    []byte
	from net.Addr
	err  error
}

func tftpProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	target, ok := c.RemoteAddr().(*net.UDPAddr)
	if !ok {
		return Match{}, false, fmt.Errorf("tftp: not a UDP target: %v", c.RemoteAddr())
	}
	local, _ := c.LocalAddr().(*net.UDPAddr)
	recv, send, err := tftpSockets(ctx, local, target)
	if err != nil {
		return Match{}, false, fmt.Errorf("tftp: open socket: %w", err)
	}
	conns := []*net.UDPConn{recv}
	if send != nil {
		conns = append(conns, send)
	}
	dl, hasDL := ctx.Deadline()
	for _, pc := range conns {
		if hasDL {
			_ = pc.SetDeadline(dl)
		}
		defer pc.Close()
		defer context.AfterFunc(ctx, func() { _ = pc.SetDeadline(time.Unix(1, 0)) })()
	}
	req := tftpRRQMsg(tftpFileName())
	if send != nil {
		_, err = send.Write(req)
	} else {
		_, err = recv.WriteTo(req, target)
	}
	if err != nil {
		return Match{}, false, fmt.Errorf("tftp: send request: %w", err)
	}

	ch := make(chan tftpDatagram, 2*len(conns))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, pc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, tftpMaxDatagram)
			for {
				n, from, err := pc.ReadFrom(buf)
				select {
				case ch <- tftpDatagram{append([]byte(nil), buf[:n]...), from, err}:
				case <-stop:
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	defer func() {
		close(stop)
		for _, pc := range conns {
			_ = pc.SetDeadline(time.Unix(1, 0))
		}
		wg.Wait()
	}()
	for {
		d := <-ch
		if d.err != nil {
			return Match{}, false, fmt.Errorf("tftp: read reply: %w", d.err)
		}
		from, ok := d.from.(*net.UDPAddr)
		if !ok || !from.IP.Equal(target.IP) {
			continue // only the target may answer
		}
		r, err := parseTFTPReply(d.b)
		if err != nil {
			continue
		}
		if r.Opcode == tftpDATA {
			// Abort the transfer: we never acknowledge, so nothing
			// more is sent, and the server frees its slot now rather
			// than after its retries.
			_, _ = recv.WriteTo(tftpErrorMsg(0, "portwho: transfer not wanted"), from)
		}
		return clipMatch(tftpMatch(r)), true, nil
	}
}

// tftpErrorMsg is an ERROR packet.
func tftpErrorMsg(code uint16, msg string) []byte {
	b := binary.BigEndian.AppendUint16(nil, tftpERROR)
	b = binary.BigEndian.AppendUint16(b, code)
	b = append(b, msg...)
	return append(b, 0)
}

// parseTFTPReply accepts an ERROR with a defined code (0-8, RFC 1350 and
// RFC 2347) and a NUL-terminated message, or DATA block 1. Our own RRQ
// reflected by an echo service is neither.
func parseTFTPReply(b []byte) (tftpReply, error) {
	var r tftpReply
	if len(b) < 4 {
		return r, fmt.Errorf("tftp: %d-byte packet", len(b))
	}
	r.Opcode = binary.BigEndian.Uint16(b)
	switch r.Opcode {
	case tftpERROR:
		r.Code = binary.BigEndian.Uint16(b[2:])
		if r.Code > 8 {
			return r, fmt.Errorf("tftp: error code %d", r.Code)
		}
		msg := b[4:]
		end := strings.IndexByte(string(msg), 0)
		// The message ends at its NUL; some servers pad after it, but
		// only with NULs.
		if end < 0 || strings.Trim(string(msg[end:]), "\x00") != "" {
			return r, errors.New("tftp: error message not NUL-terminated")
		}
		if !isTFTPText(msg[:end]) {
			return r, errors.New("tftp: error message is not text")
		}
		r.Message = wireText(msg[:end])
	case tftpDATA:
		r.Block = binary.BigEndian.Uint16(b[2:])
		if r.Block != 1 || len(b) > 4+512 {
			return r, fmt.Errorf("tftp: data block %d of %d bytes", r.Block, len(b)-4)
		}
	default:
		return r, fmt.Errorf("tftp: opcode %d is not an answer to a read request", r.Opcode)
	}
	return r, nil
}

// isTFTPText allows the tabs, newlines and UTF-8 some servers put in their
// error messages, but no other control bytes.
func isTFTPText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func tftpMatch(r tftpReply) Match {
	m := Match{Service: "tftp", Method: "native:tftp", Certain: true}
	switch r.Opcode {
	case tftpERROR:
		m.Info = strings.TrimSpace(fmt.Sprintf("error %d: %s", r.Code, r.Message))
		m.Evidence = r.Message
	case tftpDATA:
		m.Info = "served a file name that does not exist"
	}
	return m
}
