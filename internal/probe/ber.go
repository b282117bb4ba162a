package probe

// A minimal BER (X.690) encoder and decoder for the two ASN.1 protocols the
// probe speaks, LDAP and SNMP: single-byte tags, definite lengths, and the
// INTEGER, OCTET STRING and OBJECT IDENTIFIER values they use.
// encoding/asn1 is DER-only and rejects the BER that real servers send.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// BER tags used by LDAP and SNMP.
const (
	berInteger     = 0x02
	berOctetString = 0x04
	berNull        = 0x05
	berOID         = 0x06
	berEnumerated  = 0x0a
	berSequence    = 0x30
	berSet         = 0x31
)

// berTLV encodes one element with the given tag around the concatenated
// contents.
func berTLV(tag byte, contents ...[]byte) []byte {
	n := 0
	for _, c := range contents {
		n += len(c)
	}
	b := []byte{tag}
	switch {
	case n < 0x80:
		b = append(b, byte(n))
	case n < 0x100:
		b = append(b, 0x81, byte(n))
	default:
		b = append(b, 0x82, byte(n>>8), byte(n))
	}
	for _, c := range contents {
		b = append(b, c...)
	}
	return b
}

// berInt encodes a non-negative integer with tag (INTEGER or ENUMERATED).
func berInt(tag byte, v uint32) []byte {
	c := []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	// Drop leading zero bytes while the next byte keeps the sign positive.
	for len(c) > 1 && c[0] == 0 && c[1] < 0x80 {
		c = c[1:]
	}
	return berTLV(tag, c)
}

// berOIDBytes encodes a dotted OID such as "1.3.6.1.2.1.1.1.0".
func berOIDBytes(dotted string) []byte {
	parts := strings.Split(dotted, ".")
	arcs := make([]uint32, len(parts))
	for i, p := range parts {
		v, _ := strconv.ParseUint(p, 10, 32) // callers pass constants
		arcs[i] = uint32(v)
	}
	// The first two arcs share one subidentifier; each is base-128.
	subs := append([]uint32{arcs[0]*40 + arcs[1]}, arcs[2:]...)
	var c []byte
	for _, a := range subs {
		var tmp [5]byte
		i := len(tmp) - 1
		tmp[i] = byte(a & 0x7f)
		for a >>= 7; a > 0; a >>= 7 {
			i--
			tmp[i] = byte(a&0x7f) | 0x80
		}
		c = append(c, tmp[i:]...)
	}
	return berTLV(berOID, c)
}

// berElement is one decoded element.
type berElement struct {
	Tag     byte
	Content []byte
}

// berNext decodes the element at the start of b and returns it with the
// bytes after it.
func berNext(b []byte) (berElement, []byte, error) {
	if len(b) < 2 {
		return berElement{}, nil, errors.New("ber: truncated element")
	}
	tag := b[0]
	if tag&0x1f == 0x1f {
		return berElement{}, nil, errors.New("ber: multi-byte tags unsupported")
	}
	l := int(b[1])
	p := b[2:]
	if l&0x80 != 0 {
		k := l & 0x7f
		if k == 0 {
			return berElement{}, nil, errors.New("ber: indefinite length unsupported")
		}
		if k > 3 || len(p) < k {
			return berElement{}, nil, errors.New("ber: bad long-form length")
		}
		l = 0
		for _, c := range p[:k] {
			l = l<<8 | int(c)
		}
		p = p[k:]
	}
	if l > len(p) {
		return berElement{}, nil, fmt.Errorf("ber: element of %d bytes overruns the %d left", l, len(p))
	}
	return berElement{Tag: tag, Content: p[:l]}, p[l:], nil
}

// berExpect decodes the next element and checks its tag.
func berExpect(b []byte, tag byte) (berElement, []byte, error) {
	e, rest, err := berNext(b)
	if err != nil {
		return e, nil, err
	}
	if e.Tag != tag {
		return e, nil, fmt.Errorf("ber: tag 0x%02x, want 0x%02x", e.Tag, tag)
	}
	return e, rest, nil
}

// berIntValue decodes an INTEGER or ENUMERATED of up to 8 bytes.
func berIntValue(c []byte) (int64, error) {
	if len(c) == 0 || len(c) > 8 {
		return 0, errors.New("ber: bad integer length")
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

// berOIDString decodes an OBJECT IDENTIFIER to dotted form.
func berOIDString(c []byte) (string, error) {
	if len(c) == 0 {
		return "", errors.New("ber: empty oid")
	}
	var b strings.Builder
	var v uint64
	first := true
	for i, x := range c {
		if v > 1<<56 {
			return "", errors.New("ber: oid arc too large")
		}
		v = v<<7 | uint64(x&0x7f)
		if x&0x80 != 0 {
			if i == len(c)-1 {
				return "", errors.New("ber: truncated oid arc")
			}
			continue
		}
		if first {
			x, y := min(v/40, 2), v-min(v/40, 2)*40
			fmt.Fprintf(&b, "%d.%d", x, y)
			first = false
		} else {
			fmt.Fprintf(&b, ".%d", v)
		}
		v = 0
	}
	return b.String(), nil
}
