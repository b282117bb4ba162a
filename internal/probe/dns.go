package probe

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// DNS over UDP and TCP: three queries at once, all without recursion so
// the server sends nothing upstream: version.bind and id.server (class
// CHAOS, type TXT), which many servers answer with their product and
// hostname, and ". NS", which any server answers somehow. Any well-formed
// response to one of them names the service; the signature table names
// the product from the version.bind text.

const (
	dnsTypeNS    = 2
	dnsTypeTXT   = 16
	dnsClassIN   = 1
	dnsClassCH   = 3
	dnsFlagQR    = 0x8000
	dnsRcodeMask = 0x000f
	dnsMaxTCP    = 4096
	// dnsGrace is how long to wait for the CHAOS answers once some other
	// answer has shown the peer is a DNS server: servers that drop CHAOS
	// queries must not cost the whole deadline.
	dnsGrace = 250 * time.Millisecond
)

func dnsProtocol() Protocol {
	return Protocol{Name: "domain", Transport: "udp", Ports: []uint16{53}, Wave: 2, Probe: dnsProbeUDP}
}

func dnsTCPProtocol() Protocol {
	return Protocol{Name: "domain", Transport: "tcp", Ports: []uint16{53}, Wave: 2, Probe: dnsProbeTCP}
}

// dnsQuestion is one query the probe sends.
type dnsQuestion struct {
	Name  string
	Type  uint16
	Class uint16
}

// dnsReply is a parsed response, reduced to what identification needs.
type dnsReply struct {
	ID       uint16
	Rcode    int
	Question dnsQuestion
	TXT      []string // TXT strings from the answer section
}

// dnsProbeSet is the three queries, each with its own random id.
type dnsProbeSet struct {
	ids [3]uint16
	qs  [3]dnsQuestion
}

func newDNSProbeSet() dnsProbeSet {
	s := dnsProbeSet{qs: [3]dnsQuestion{
		{"version.bind", dnsTypeTXT, dnsClassCH},
		{"id.server", dnsTypeTXT, dnsClassCH},
		{"", dnsTypeNS, dnsClassIN},
	}}
	for i := range s.ids {
		s.ids[i] = randomUint16()
	}
	return s
}

// dnsCollector gathers the replies to a probe set.
type dnsCollector struct {
	set     dnsProbeSet
	replies [3]*dnsReply
}

// add records r if it answers one of the queries; it reports whether it did.
func (dc *dnsCollector) add(r dnsReply) bool {
	for i, id := range dc.set.ids {
		if r.ID == id && dc.replies[i] == nil && strings.EqualFold(r.Question.Name, dc.set.qs[i].Name) &&
			r.Question.Type == dc.set.qs[i].Type && r.Question.Class == dc.set.qs[i].Class {
			dc.replies[i] = &r
			return true
		}
	}
	return false
}

func (dc *dnsCollector) any() bool {
	return dc.replies[0] != nil || dc.replies[1] != nil || dc.replies[2] != nil
}

func (dc *dnsCollector) complete() bool {
	return dc.replies[0] != nil && dc.replies[1] != nil
}

func dnsProbeUDP(ctx context.Context, c net.Conn) (Match, bool, error) {
	return dnsRun(ctx, c, "udp", func(q []byte) error {
		_, err := c.Write(q)
		return err
	}, func() ([]byte, error) { return readDatagram(c) })
}

func dnsProbeTCP(ctx context.Context, c net.Conn) (Match, bool, error) {
	br := bufio.NewReaderSize(io.LimitReader(c, maxReply), 4096)
	return dnsRun(ctx, c, "tcp", func(q []byte) error {
		_, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(q))))
		if err == nil {
			_, err = c.Write(q)
		}
		return err
	}, func() ([]byte, error) {
		var l [2]byte
		if _, err := io.ReadFull(br, l[:]); err != nil {
			return nil, err
		}
		// Answers to these questions are small; a huge "length" is the
		// first two bytes of some other protocol's banner.
		n := binary.BigEndian.Uint16(l[:])
		if n < 12 || n > dnsMaxTCP {
			return nil, fmt.Errorf("implausible dns message length %d", n)
		}
		msg := make([]byte, n)
		_, err := io.ReadFull(br, msg)
		return msg, err
	})
}

// dnsRun sends the three queries and collects replies until both CHAOS
// questions are answered, or dnsGrace after the first answer.
func dnsRun(ctx context.Context, c net.Conn, transport string, send func([]byte) error, recv func() ([]byte, error)) (Match, bool, error) {
	defer withCtx(ctx, c)()
	dc := dnsCollector{set: newDNSProbeSet()}
	for i, q := range dc.set.qs {
		if err := send(dnsQuery(dc.set.ids[i], q)); err != nil {
			return Match{}, false, fmt.Errorf("domain: send query: %w", err)
		}
	}
	for !dc.complete() {
		msg, err := recv()
		if err != nil {
			if dc.any() {
				break // the grace period ran out, or the peer hung up after answering
			}
			return Match{}, false, fmt.Errorf("domain: read reply: %w", err)
		}
		r, err := parseDNSReply(msg)
		if err != nil {
			if transport == "tcp" {
				return Match{}, false, nil // a stream that is not DNS
			}
			continue
		}
		if dc.add(r) && ctx.Err() == nil {
			grace := time.Now().Add(dnsGrace)
			if d, ok := ctx.Deadline(); ok && d.Before(grace) {
				grace = d
			}
			_ = c.SetReadDeadline(grace)
		}
	}
	return clipMatch(dnsMatch(dc, transport)), true, nil
}

// dnsQuery builds a query without recursion desired.
func dnsQuery(id uint16, q dnsQuestion) []byte {
	b := make([]byte, 12, 40)
	binary.BigEndian.PutUint16(b, id)
	binary.BigEndian.PutUint16(b[4:], 1) // qdcount
	for label := range strings.SplitSeq(q.Name, ".") {
		if label == "" {
			continue
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, q.Type)
	return binary.BigEndian.AppendUint16(b, q.Class)
}

func dnsMatch(dc dnsCollector, transport string) Match {
	m := Match{Service: "domain", Method: "native:domain", Certain: true}
	info := []string{transport}
	// version.bind ("dnsmasq-2.90", "9.18.28-1~deb12u2-Debian",
	// "unbound 1.17.1") goes to the signature table, which names the product.
	if r := dc.replies[0]; r != nil && len(r.TXT) > 0 && r.Rcode == 0 {
		m.Evidence = r.TXT[0]
	}
	if r := dc.replies[1]; r != nil && len(r.TXT) > 0 && r.Rcode == 0 {
		info = append(info, "id.server "+r.TXT[0])
	}
	m.Info = strings.Join(info, "; ")
	return m
}

// parseDNSReply decodes a response: header, the one question, and the
// answer section's records (TXT strings kept). Authority and additional
// sections are not read.
func parseDNSReply(b []byte) (dnsReply, error) {
	var r dnsReply
	if len(b) < 12 {
		return r, errors.New("dns: short message")
	}
	r.ID = binary.BigEndian.Uint16(b)
	flags := binary.BigEndian.Uint16(b[2:])
	if flags&dnsFlagQR == 0 {
		return r, errors.New("dns: not a response")
	}
	r.Rcode = int(flags & dnsRcodeMask)
	qd, an := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:])
	if qd != 1 {
		return r, fmt.Errorf("dns: %d questions", qd)
	}
	name, off, err := dnsName(b, 12)
	if err != nil {
		return r, err
	}
	if off+4 > len(b) {
		return r, errors.New("dns: truncated question")
	}
	r.Question = dnsQuestion{name, binary.BigEndian.Uint16(b[off:]), binary.BigEndian.Uint16(b[off+2:])}
	off += 4
	for range an {
		if _, off, err = dnsName(b, off); err != nil {
			return r, err
		}
		if off+10 > len(b) {
			return r, errors.New("dns: truncated record")
		}
		typ := binary.BigEndian.Uint16(b[off:])
		rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
		off += 10
		if off+rdlen > len(b) {
			return r, errors.New("dns: record data overruns the message")
		}
		if typ == dnsTypeTXT {
			var parts []string
			for rd := b[off : off+rdlen]; len(rd) > 0; {
				n := int(rd[0])
				if 1+n > len(rd) {
					return r, errors.New("dns: bad TXT string length")
				}
				parts = append(parts, string(rd[1:1+n]))
				rd = rd[1+n:]
			}
			r.TXT = append(r.TXT, strings.Join(parts, ""))
		}
		off += rdlen
	}
	return r, nil
}

// dnsName decodes a possibly compressed name at off and returns it with
// the offset after it (after the first pointer when compressed).
func dnsName(b []byte, off int) (string, int, error) {
	var labels []string
	end := -1
	for hops := 0; ; {
		if off >= len(b) {
			return "", 0, errors.New("dns: name overruns the message")
		}
		l := int(b[off])
		switch {
		case l == 0:
			if end < 0 {
				end = off + 1
			}
			return strings.Join(labels, "."), end, nil
		case l&0xc0 == 0xc0:
			if off+1 >= len(b) {
				return "", 0, errors.New("dns: truncated pointer")
			}
			if hops++; hops > 32 {
				return "", 0, errors.New("dns: compression loop")
			}
			if end < 0 {
				end = off + 2
			}
			off = int(binary.BigEndian.Uint16(b[off:]) & 0x3fff)
		case l&0xc0 != 0:
			return "", 0, errors.New("dns: bad label type")
		default:
			if off+1+l > len(b) {
				return "", 0, errors.New("dns: label overruns the message")
			}
			labels = append(labels, string(b[off+1:off+1+l]))
			if len(labels) > 128 {
				return "", 0, errors.New("dns: name too long")
			}
			off += 1 + l
		}
	}
}
