package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
)

// AMQP: the client speaks first with a protocol header. An AMQP 0-9-1
// broker answers with Connection.Start, whose server-properties name the
// product and version; a broker that speaks another AMQP version answers
// with its own header and closes. The probe sends nothing after that.

const amqpHeader091 = "AMQP\x00\x00\x09\x01"

func amqpProtocol() Protocol {
	return Protocol{
		Name:      "amqp",
		Transport: "tcp",
		Ports:     []uint16{5672},
		Wave:      2,
		Probe:     amqpProbe,
	}
}

// amqpStart is a decoded Connection.Start, or the header of a broker that
// wants another protocol version.
type amqpStart struct {
	Major, Minor byte              // protocol version (0-9 for Connection.Start)
	Properties   map[string]string // string-valued server-properties
	Mechanisms   string
	OtherHeader  []byte // set when the broker replied with a protocol header
}

func amqpProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	return askFramed(ctx, c, "amqp", []byte(amqpHeader091), frameAMQP, parseAMQPStart, amqpMatch)
}

func amqpMatch(s amqpStart) Match {
	m := Match{Service: "amqp", Method: "native:amqp", Certain: true}
	if s.OtherHeader != nil {
		h := s.OtherHeader
		m.Info = fmt.Sprintf("AMQP %d.%d.%d (protocol id %d)", h[5], h[6], h[7], h[4])
		return m
	}
	m.Product = s.Properties["product"]
	m.Version = s.Properties["version"]
	info := []string{fmt.Sprintf("AMQP 0-%d", s.Minor)}
	if p := s.Properties["platform"]; p != "" {
		info = append(info, p)
	}
	m.Info = strings.Join(info, "; ")
	return m
}

// frameAMQP frames either a bare protocol header or one frame: type 1,
// channel 2, size 4, payload, frame-end 0xCE.
func frameAMQP(b []byte) (int, error) {
	if len(b) < 7 {
		if len(b) > 0 && b[0] == 'A' {
			return 8, nil
		}
		return 0, errNeedMore
	}
	if b[0] == 'A' {
		return 8, nil
	}
	return 7 + int(binary.BigEndian.Uint32(b[3:])) + 1, nil
}

// parseAMQPStart decodes one complete reply to the 0-9-1 protocol header.
func parseAMQPStart(b []byte) (amqpStart, error) {
	var s amqpStart
	if len(b) == 8 && bytes.HasPrefix(b, []byte("AMQP")) {
		s.OtherHeader = bytes.Clone(b)
		return s, nil
	}
	if len(b) < 8 {
		return s, errors.New("short amqp frame")
	}
	if b[0] != 1 || binary.BigEndian.Uint16(b[1:]) != 0 {
		return s, errors.New("not an amqp method frame on channel 0")
	}
	size := int(binary.BigEndian.Uint32(b[3:]))
	if len(b) != 7+size+1 || b[len(b)-1] != 0xCE {
		return s, errors.New("bad amqp frame size or end")
	}
	p := b[7 : 7+size]
	if len(p) < 6 || binary.BigEndian.Uint16(p) != 10 || binary.BigEndian.Uint16(p[2:]) != 10 {
		return s, errors.New("not connection.start")
	}
	s.Major, s.Minor = p[4], p[5]
	props, rest, err := amqpTable(p[6:], 0)
	if err != nil {
		return s, fmt.Errorf("amqp server-properties: %w", err)
	}
	s.Properties = props
	if len(rest) >= 4 {
		n := int(binary.BigEndian.Uint32(rest))
		if n <= len(rest)-4 {
			s.Mechanisms = string(rest[4 : 4+n])
		}
	}
	return s, nil
}

// amqpTable decodes a field table (long size, then name/type/value) and
// keeps its string values; nested tables are walked and dropped.
func amqpTable(p []byte, depth int) (map[string]string, []byte, error) {
	if depth > 8 {
		return nil, nil, errors.New("tables nested too deep")
	}
	if len(p) < 4 {
		return nil, nil, errors.New("truncated table size")
	}
	n := int(binary.BigEndian.Uint32(p))
	if n > len(p)-4 {
		return nil, nil, errors.New("table overruns the frame")
	}
	t, rest := p[4:4+n], p[4+n:]
	out := make(map[string]string)
	for len(t) > 0 {
		kl := int(t[0])
		if len(t) < 1+kl+1 {
			return nil, nil, errors.New("truncated field name")
		}
		name := string(t[1 : 1+kl])
		typ := t[1+kl]
		t = t[2+kl:]
		size, err := amqpValueSize(typ, t, depth)
		if err != nil {
			return nil, nil, fmt.Errorf("field %q: %w", name, err)
		}
		if typ == 'S' {
			out[name] = string(t[4:size])
		}
		t = t[size:]
	}
	return out, rest, nil
}

// amqpValueSize returns the encoded size of a field value of type typ, as
// RabbitMQ and the 0-9-1 errata define the type letters.
func amqpValueSize(typ byte, t []byte, depth int) (int, error) {
	need := func(n int) (int, error) {
		if n > len(t) {
			return 0, errors.New("value overruns the table")
		}
		return n, nil
	}
	switch typ {
	case 't', 'b', 'B':
		return need(1)
	case 's', 'u':
		return need(2)
	case 'I', 'i', 'f':
		return need(4)
	case 'l', 'L', 'd', 'T':
		return need(8)
	case 'D':
		return need(5)
	case 'V':
		return 0, nil
	case 'S', 'x':
		if len(t) < 4 {
			return 0, errors.New("truncated string length")
		}
		return need(4 + int(binary.BigEndian.Uint32(t)))
	case 'F':
		_, rest, err := amqpTable(t, depth+1)
		if err != nil {
			return 0, err
		}
		return len(t) - len(rest), nil
	case 'A':
		if len(t) < 4 {
			return 0, errors.New("truncated array length")
		}
		n, err := need(4 + int(binary.BigEndian.Uint32(t)))
		if err != nil {
			return 0, err
		}
		a := t[4:n]
		for len(a) > 0 {
			sz, err := amqpValueSize(a[0], a[1:], depth+1)
			if err != nil {
				return 0, err
			}
			a = a[1+sz:]
		}
		return n, nil
	}
	return 0, fmt.Errorf("unknown field type %q", typ)
}
