package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
)

// MongoDB: an OP_MSG hello and, pipelined behind it on the same
// connection, the legacy OP_QUERY isMaster on admin.$cmd. Servers from 3.6
// answer the hello first; older ones ignore OP_MSG and answer only the
// isMaster; 5.1+ still accept OP_QUERY isMaster for the handshake, and a
// server that someday refuses it has answered the hello already. So one
// connection serves every version, with no reconnect and no wait for a
// reply that never comes. The first reply that answers either request
// decides. Without authentication a modern server does not tell its exact
// version; the wire-version range dates it.

const (
	mongoOpReply = 1
	mongoOpQuery = 2004
	mongoOpMsg   = 2013
)

func mongodbProtocol() Protocol {
	return Protocol{
		Name:      "mongodb",
		Transport: "tcp",
		Ports:     []uint16{27017, 27018, 27019},
		Wave:      2,
		Probe:     mongodbProbe,
	}
}

// mongoHello holds the isMaster/hello reply fields identification uses.
type mongoHello struct {
	ResponseTo     int32
	OK             float64
	MaxWireVersion int64
	MinWireVersion int64
	HasWire        bool
	Msg            string // "isdbgrid" on mongos
	SetName        string
	ErrMsg         string
}

// mongoWireRelease maps a maxWireVersion to the release that introduced it.
func mongoWireRelease(wire int64) (string, bool) {
	releases := [...]string{2: "2.6", 3: "3.0", 4: "3.2", 5: "3.4", 6: "3.6", 7: "4.0", 8: "4.2", 9: "4.4",
		13: "5.0", 14: "5.1", 15: "5.2", 16: "5.3", 17: "6.0", 18: "6.1", 19: "6.2", 20: "6.3",
		21: "7.0", 22: "7.1", 23: "7.2", 24: "7.3", 25: "8.0"}
	if wire < 0 || wire >= int64(len(releases)) || releases[wire] == "" {
		return "", false
	}
	return releases[wire], true
}

func mongodbProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	helloID := int32(randomUint32() & 0x7fffffff)
	isMasterID := helloID ^ 1
	req := append(mongoHelloMsg(helloID), mongoIsMasterQuery(isMasterID)...)
	if _, err := c.Write(req); err != nil {
		return Match{}, false, fmt.Errorf("mongodb: send hello: %w", err)
	}
	raw, err := readFramed(c, frameLen32(binary.LittleEndian, 0, 0))
	if err != nil {
		return Match{}, false, fmt.Errorf("mongodb: read reply: %w", err)
	}
	h, err := parseMongoReply(raw)
	if err != nil || (h.ResponseTo != helloID && h.ResponseTo != isMasterID) {
		return Match{}, false, nil
	}
	return clipMatch(mongoMatch(h)), true, nil
}

// mongoHelloMsg builds OP_MSG {hello: 1, $db: "admin"}.
func mongoHelloMsg(id int32) []byte {
	doc := bsonDoc(func(b []byte) []byte {
		b = append(b, 0x10) // int32
		b = append(b, "hello\x00"...)
		b = binary.LittleEndian.AppendUint32(b, 1)
		b = append(b, 0x02) // string
		b = append(b, "$db\x00"...)
		b = binary.LittleEndian.AppendUint32(b, 6)
		return append(b, "admin\x00"...)
	})
	return mongoMessage(id, mongoOpMsg, append([]byte{0, 0, 0, 0, 0}, doc...)) // flagBits, section kind 0
}

// mongoIsMasterQuery builds OP_QUERY admin.$cmd {isMaster: 1}.
func mongoIsMasterQuery(id int32) []byte {
	doc := bsonDoc(func(b []byte) []byte {
		b = append(b, 0x10) // int32
		b = append(b, "isMaster\x00"...)
		return binary.LittleEndian.AppendUint32(b, 1)
	})
	body := binary.LittleEndian.AppendUint32(nil, 0) // flags
	body = append(body, "admin.$cmd\x00"...)
	body = binary.LittleEndian.AppendUint32(body, 0)                      // numberToSkip
	body = binary.LittleEndian.AppendUint32(body, uint32(math.MaxUint32)) // numberToReturn -1
	return mongoMessage(id, mongoOpQuery, append(body, doc...))
}

// mongoMessage frames body with the standard 16-byte header.
func mongoMessage(id int32, op uint32, body []byte) []byte {
	b := make([]byte, 16, 16+len(body))
	binary.LittleEndian.PutUint32(b, uint32(16+len(body)))
	binary.LittleEndian.PutUint32(b[4:], uint32(id))
	binary.LittleEndian.PutUint32(b[12:], op)
	return append(b, body...)
}

func bsonDoc(elems func([]byte) []byte) []byte {
	b := elems(make([]byte, 4, 32))
	b = append(b, 0)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

func mongoMatch(h mongoHello) Match {
	m := Match{Service: "mongodb", Product: "MongoDB", Method: "native:mongodb", Certain: true}
	var info []string
	if h.HasWire {
		if v, ok := mongoWireRelease(h.MaxWireVersion); ok {
			m.Version = v
		} else if h.MaxWireVersion > 25 {
			m.Version = "8.0 or later"
		}
		info = append(info, fmt.Sprintf("wire versions %d-%d", h.MinWireVersion, h.MaxWireVersion))
	}
	if h.Msg == "isdbgrid" {
		info = append(info, "mongos")
	}
	if h.SetName != "" {
		info = append(info, "replica set "+h.SetName)
	}
	if h.ErrMsg != "" {
		info = append(info, h.ErrMsg)
	}
	m.Info = strings.Join(info, "; ")
	return m
}

// parseMongoReply decodes one complete OP_REPLY or OP_MSG message and the
// fields of its first document.
func parseMongoReply(b []byte) (mongoHello, error) {
	var h mongoHello
	if len(b) < 16 {
		return h, errors.New("short mongodb message")
	}
	if n := int(binary.LittleEndian.Uint32(b)); n != len(b) {
		return h, fmt.Errorf("mongodb message length %d, have %d bytes", n, len(b))
	}
	h.ResponseTo = int32(binary.LittleEndian.Uint32(b[8:]))
	var doc []byte
	switch op := binary.LittleEndian.Uint32(b[12:]); op {
	case mongoOpReply:
		// responseFlags 4, cursorID 8, startingFrom 4, numberReturned 4
		if len(b) < 36 {
			return h, errors.New("short mongodb OP_REPLY")
		}
		if binary.LittleEndian.Uint32(b[32:]) < 1 {
			return h, errors.New("mongodb OP_REPLY without documents")
		}
		doc = b[36:]
	case mongoOpMsg:
		// flagBits 4, then sections; the body is the kind-0 section.
		p := b[20:]
		for len(p) > 0 && doc == nil {
			kind := p[0]
			p = p[1:]
			if len(p) < 4 {
				return h, errors.New("truncated mongodb OP_MSG section")
			}
			n := int(binary.LittleEndian.Uint32(p))
			if n < 5 || n > len(p) {
				return h, errors.New("bad mongodb OP_MSG section length")
			}
			if kind == 0 {
				doc = p[:n]
			}
			p = p[n:]
		}
		if doc == nil {
			return h, errors.New("mongodb OP_MSG without a body")
		}
	default:
		return h, fmt.Errorf("unexpected mongodb opcode %d", op)
	}
	seen := 0
	err := bsonWalk(doc, func(typ byte, name string, val []byte) {
		switch name {
		case "ok":
			if f, ok := bsonNumber(typ, val); ok {
				h.OK, seen = f, seen+1
			}
		case "maxWireVersion":
			if f, ok := bsonNumber(typ, val); ok {
				h.MaxWireVersion, h.HasWire, seen = int64(f), true, seen+1
			}
		case "minWireVersion":
			if f, ok := bsonNumber(typ, val); ok {
				h.MinWireVersion = int64(f)
			}
		case "msg":
			h.Msg = bsonString(typ, val)
		case "setName":
			h.SetName = bsonString(typ, val)
		case "errmsg":
			h.ErrMsg = bsonString(typ, val)
		}
	})
	if err != nil {
		return h, err
	}
	if seen == 0 {
		return h, errors.New("mongodb reply has neither ok nor maxWireVersion")
	}
	return h, nil
}

// bsonWalk calls f for each top-level element of the BSON document b (which
// may be followed by other bytes), with the element's raw value bytes.
func bsonWalk(b []byte, f func(typ byte, name string, val []byte)) error {
	if len(b) < 5 {
		return errors.New("short bson document")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 5 || n > len(b) || b[n-1] != 0 {
		return errors.New("bad bson document length")
	}
	p := b[4 : n-1]
	for len(p) > 0 {
		typ := p[0]
		end := bytes.IndexByte(p[1:], 0)
		if end < 0 {
			return errors.New("unterminated bson element name")
		}
		name := string(p[1 : 1+end])
		p = p[2+end:]
		size, err := bsonValueSize(typ, p)
		if err != nil {
			return fmt.Errorf("bson element %q: %w", name, err)
		}
		f(typ, name, p[:size])
		p = p[size:]
	}
	return nil
}

// bsonValueSize returns how many bytes the value of type typ at p takes.
func bsonValueSize(typ byte, p []byte) (int, error) {
	var n int
	switch typ {
	case 0x02, 0x0D, 0x0E: // string, JS code, symbol: int32 length incl. NUL
		if len(p) < 4 {
			return 0, errors.New("truncated")
		}
		n = 4 + int(int32(binary.LittleEndian.Uint32(p)))
		if n < 5 {
			return 0, errors.New("bad string length")
		}
	case 0x03, 0x04, 0x0F: // document, array, code with scope: int32 total length
		if len(p) < 4 {
			return 0, errors.New("truncated")
		}
		n = int(int32(binary.LittleEndian.Uint32(p)))
		if n < 5 {
			return 0, errors.New("bad document length")
		}
	case 0x05: // binary: int32 length, subtype, data
		if len(p) < 5 {
			return 0, errors.New("truncated")
		}
		n = 5 + int(int32(binary.LittleEndian.Uint32(p)))
		if n < 5 {
			return 0, errors.New("bad binary length")
		}
	case 0x0B: // regex: two cstrings
		i := bytes.IndexByte(p, 0)
		if i < 0 {
			return 0, errors.New("truncated regex")
		}
		j := bytes.IndexByte(p[i+1:], 0)
		if j < 0 {
			return 0, errors.New("truncated regex")
		}
		n = i + 1 + j + 1
	case 0x0C: // DBPointer: string then 12-byte id
		if len(p) < 4 {
			return 0, errors.New("truncated")
		}
		n = 4 + int(int32(binary.LittleEndian.Uint32(p))) + 12
		if n < 17 {
			return 0, errors.New("bad dbpointer length")
		}
	case 0x06, 0x0A, 0x7F, 0xFF: // undefined, null, max key, min key
		n = 0
	case 0x08: // bool
		n = 1
	case 0x10: // int32
		n = 4
	case 0x01, 0x09, 0x11, 0x12: // double, datetime, timestamp, int64
		n = 8
	case 0x07: // ObjectId
		n = 12
	case 0x13: // decimal128
		n = 16
	default:
		return 0, fmt.Errorf("unknown bson type 0x%02x", typ)
	}
	if n > len(p) {
		return 0, errors.New("value overruns the document")
	}
	return n, nil
}

func bsonNumber(typ byte, v []byte) (float64, bool) {
	switch typ {
	case 0x01:
		return math.Float64frombits(binary.LittleEndian.Uint64(v)), true
	case 0x10:
		return float64(int32(binary.LittleEndian.Uint32(v))), true
	case 0x12:
		return float64(int64(binary.LittleEndian.Uint64(v))), true
	case 0x08:
		if v[0] != 0 {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func bsonString(typ byte, v []byte) string {
	if typ != 0x02 || len(v) < 5 {
		return ""
	}
	return string(v[4 : len(v)-1])
}
