package probe

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// RADIUS (RFC 2865): one Access-Request for a user that does not exist,
// with a random User-Password. We do not know the shared secret, so the
// server decrypts the password to noise and answers Access-Reject (signed
// with its secret, which we cannot check). Status-Server (RFC 5997) would be
// the gentler question, but it must carry a Message-Authenticator keyed with
// the secret, and FreeRADIUS silently drops one that does not verify; the
// Access-Request is answered with any secret. For the same reason we send no
// Message-Authenticator: a wrong one gets the packet dropped.
//
// A RADIUS server answers only the clients (NAS addresses) it is configured
// for and drops everything else without a word, so a real server is often
// open|filtered to us. No Accounting-Request: it would write records.

const (
	radiusAccessRequest   = 1
	radiusAccessAccept    = 2
	radiusAccessReject    = 3
	radiusAccessChallenge = 11
	radiusHeaderLen       = 20
	radiusMaxLen          = 4096 // RFC 2865 section 3

	radiusAttrUserName     = 1
	radiusAttrUserPassword = 2
	radiusAttrReplyMessage = 18
)

// radiusUserName is the user we ask about: one no site would create.
const radiusUserName = "portwho-probe"

func radiusProtocol() Protocol {
	return Protocol{Name: "radius", Transport: "udp", Ports: []uint16{1812, 1645}, Wave: 2, Probe: radiusProbe}
}

// radiusReply is a parsed server answer.
type radiusReply struct {
	Code          byte
	ID            byte
	Authenticator [16]byte
	ReplyMessage  string
}

// radiusAccessRequestMsg builds the request with identifier id.
func radiusAccessRequestMsg(id byte) []byte {
	req := make([]byte, radiusHeaderLen, radiusHeaderLen+2+len(radiusUserName)+2+16)
	req[0], req[1] = radiusAccessRequest, id
	_, _ = rand.Read(req[4:20]) // the Request Authenticator must be unpredictable
	req = append(req, radiusAttrUserName, byte(2+len(radiusUserName)))
	req = append(req, radiusUserName...)
	// One 16-byte block of "encrypted" password: noise under any secret.
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	req = append(req, radiusAttrUserPassword, 2+16)
	req = append(req, pw...)
	binary.BigEndian.PutUint16(req[2:], uint16(len(req)))
	return req
}

func radiusProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	req := radiusAccessRequestMsg(byte(randomUint16()))
	if _, err := c.Write(req); err != nil {
		return Match{}, false, fmt.Errorf("radius: send request: %w", err)
	}
	for {
		d, err := readDatagram(c)
		if err != nil {
			return Match{}, false, fmt.Errorf("radius: read reply: %w", err)
		}
		r, err := parseRADIUSReply(d)
		// A real Response Authenticator is an MD5 over the reply and the
		// secret: equal to our random one only in a reflection.
		if err != nil || r.ID != req[1] || bytes.Equal(r.Authenticator[:], req[4:20]) {
			continue
		}
		return clipMatch(radiusMatch(r)), true, nil
	}
}

// parseRADIUSReply decodes an Access-Accept, -Reject or -Challenge: the
// length field must fit the datagram and the attributes must fill it
// exactly. A request (an echo of ours) is an error.
func parseRADIUSReply(b []byte) (radiusReply, error) {
	var r radiusReply
	if len(b) < radiusHeaderLen {
		return r, fmt.Errorf("radius: %d-byte packet", len(b))
	}
	r.Code, r.ID = b[0], b[1]
	switch r.Code {
	case radiusAccessAccept, radiusAccessReject, radiusAccessChallenge:
	default:
		return r, fmt.Errorf("radius: code %d is not an access reply", r.Code)
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	// Octets past the length are padding the receiver ignores (RFC 2865
	// section 3); a length beyond the datagram is not RADIUS.
	if n < radiusHeaderLen || n > radiusMaxLen || n > len(b) {
		return r, fmt.Errorf("radius: length %d in a %d-byte packet", n, len(b))
	}
	copy(r.Authenticator[:], b[4:20])
	for attrs := b[radiusHeaderLen:n]; len(attrs) > 0; {
		if len(attrs) < 2 || attrs[1] < 2 || int(attrs[1]) > len(attrs) {
			return r, errors.New("radius: malformed attribute")
		}
		typ, v := attrs[0], attrs[2:attrs[1]]
		attrs = attrs[attrs[1]:]
		if typ == radiusAttrReplyMessage {
			r.ReplyMessage = wireText(v)
		}
	}
	return r, nil
}

func radiusMatch(r radiusReply) Match {
	code := map[byte]string{radiusAccessAccept: "Access-Accept", radiusAccessReject: "Access-Reject",
		radiusAccessChallenge: "Access-Challenge"}[r.Code]
	return Match{Service: "radius", Method: "native:radius", Certain: true,
		Info: joinInfo(code, r.ReplyMessage)}
}
