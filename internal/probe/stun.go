package probe

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"unicode/utf8"
)

// STUN (RFC 5389): one Binding Request, the question every WebRTC and SIP
// client asks; it creates no allocation (that is TURN's Allocate) and needs
// no credentials. The answer is a Binding Success or Error Response that
// carries the magic cookie and our random 96-bit transaction id, which no
// other protocol would send back in that place. Over TCP the message is
// framed the same way, so one parser serves both transports.

const (
	stunMagicCookie    = 0x2112A442
	stunHeaderLen      = 20
	stunBindingRequest = 0x0001
	stunBindingSuccess = 0x0101
	stunBindingError   = 0x0111
	// A Binding response is a few attributes; 2 KiB is far beyond any real
	// one (RFC 5389 keeps messages under the path MTU).
	stunMaxMessage = 2048

	stunAttrMappedAddress    = 0x0001
	stunAttrErrorCode        = 0x0009
	stunAttrXorMappedAddress = 0x0020
	stunAttrSoftware         = 0x8022
)

func stunProtocol() Protocol {
	return Protocol{Name: "stun", Transport: "udp", Ports: []uint16{3478}, Wave: 2, Probe: stunProbeUDP}
}

// stunTCPProtocol is the same request over TCP, where coturn and most TURN
// servers listen on the same port.
func stunTCPProtocol() Protocol {
	return Protocol{Name: "stun", Transport: "tcp", Ports: []uint16{3478}, Wave: 2, Probe: stunProbeTCP}
}

// stunReply is a parsed Binding response.
type stunReply struct {
	Type     uint16
	TID      [12]byte
	Software string
	Mapped   netip.AddrPort // XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS
	ErrCode  int            // Error Response only
	Reason   string
}

// stunBindingRequestMsg is a Binding Request with no attributes.
func stunBindingRequestMsg() ([]byte, [12]byte) {
	var tid [12]byte
	_, _ = rand.Read(tid[:])
	req := make([]byte, stunHeaderLen)
	binary.BigEndian.PutUint16(req[0:], stunBindingRequest)
	binary.BigEndian.PutUint32(req[4:], stunMagicCookie)
	copy(req[8:], tid[:])
	return req, tid
}

func stunProbeUDP(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	req, tid := stunBindingRequestMsg()
	if _, err := c.Write(req); err != nil {
		return Match{}, false, fmt.Errorf("stun: send request: %w", err)
	}
	for {
		d, err := readDatagram(c)
		if err != nil {
			return Match{}, false, fmt.Errorf("stun: read reply: %w", err)
		}
		r, err := parseSTUNReply(d)
		if err != nil || r.TID != tid {
			continue // a stray datagram or an answer to someone else
		}
		return clipMatch(stunMatch(r)), true, nil
	}
}

func stunProbeTCP(ctx context.Context, c net.Conn) (Match, bool, error) {
	req, tid := stunBindingRequestMsg()
	return askFramed(ctx, c, "stun", req, frameSTUN, func(b []byte) (stunReply, error) {
		r, err := parseSTUNReply(b)
		if err == nil && r.TID != tid {
			err = errors.New("stun: reply to another transaction")
		}
		return r, err
	}, stunMatch)
}

// frameSTUN frames one message by the length in its header.
func frameSTUN(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, errNeedMore
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if b[0]&0xc0 != 0 || n%4 != 0 || n > stunMaxMessage {
		return 0, fmt.Errorf("stun: not a message header %x", b[:4])
	}
	return stunHeaderLen + n, nil
}

// parseSTUNReply decodes a Binding Success or Error Response; a request (an
// echo of ours, say), an indication or any other method is an error.
func parseSTUNReply(b []byte) (stunReply, error) {
	var r stunReply
	if len(b) < stunHeaderLen {
		return r, fmt.Errorf("stun: %d-byte message", len(b))
	}
	r.Type = binary.BigEndian.Uint16(b)
	if r.Type != stunBindingSuccess && r.Type != stunBindingError {
		return r, fmt.Errorf("stun: message type %#04x is not a Binding response", r.Type)
	}
	if binary.BigEndian.Uint32(b[4:]) != stunMagicCookie {
		return r, errors.New("stun: no magic cookie")
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n%4 != 0 || stunHeaderLen+n != len(b) {
		return r, fmt.Errorf("stun: length %d in a %d-byte message", n, len(b))
	}
	copy(r.TID[:], b[8:20])
	var mapped, xorMapped netip.AddrPort
	for attrs := b[stunHeaderLen:]; len(attrs) > 0; {
		if len(attrs) < 4 {
			return r, errors.New("stun: truncated attribute")
		}
		typ, l := binary.BigEndian.Uint16(attrs), int(binary.BigEndian.Uint16(attrs[2:]))
		padded := (l + 3) &^ 3
		if 4+padded > len(attrs) {
			return r, fmt.Errorf("stun: attribute %#04x overruns the message", typ)
		}
		v := attrs[4 : 4+l]
		attrs = attrs[4+padded:]
		switch typ {
		case stunAttrSoftware:
			r.Software = wireText(v)
		case stunAttrMappedAddress:
			mapped, _ = stunAddress(v, nil)
		case stunAttrXorMappedAddress:
			xorMapped, _ = stunAddress(v, b[4:20])
		case stunAttrErrorCode:
			if len(v) < 4 {
				return r, errors.New("stun: short ERROR-CODE")
			}
			class, num := int(v[2]&7), int(v[3])
			if class < 3 || class > 6 || num > 99 {
				return r, fmt.Errorf("stun: error code %d%02d", class, num)
			}
			r.ErrCode, r.Reason = class*100+num, wireText(v[4:])
		}
	}
	if r.Type == stunBindingError && r.ErrCode == 0 {
		return r, errors.New("stun: error response without ERROR-CODE")
	}
	r.Mapped = xorMapped
	if !r.Mapped.IsValid() {
		r.Mapped = mapped
	}
	return r, nil
}

// stunAddress decodes a (XOR-)MAPPED-ADDRESS value; xor is the cookie and
// transaction id the XOR variant is masked with, nil for the plain one.
func stunAddress(v, xor []byte) (netip.AddrPort, bool) {
	if len(v) < 4 {
		return netip.AddrPort{}, false
	}
	fam, port := v[1], binary.BigEndian.Uint16(v[2:])
	var ip []byte
	switch {
	case fam == 1 && len(v) == 8:
		ip = append(ip, v[4:8]...)
	case fam == 2 && len(v) == 20:
		ip = append(ip, v[4:20]...)
	default:
		return netip.AddrPort{}, false
	}
	if xor != nil {
		port ^= stunMagicCookie >> 16
		for i := range ip {
			ip[i] ^= xor[i]
		}
	}
	a, _ := netip.AddrFromSlice(ip)
	return netip.AddrPortFrom(a.Unmap(), port), true
}

// wireText keeps a peer's text (STUN, RADIUS, TFTP, ...) readable: invalid
// UTF-8 is dropped and NUL padding trimmed.
func wireText(v []byte) string {
	return strings.TrimRight(strings.ToValidUTF8(string(v), ""), "\x00 ")
}

// stunSoftwareRe splits a SOFTWARE value such as "Coturn-4.6.1 'Gorst'" or
// "rtpengine/11.5" into a name, a version and the rest.
var stunSoftwareRe = regexp.MustCompile(`^([A-Za-z][\w.]*?)[-/ ]v?(\d+(?:\.\w+)+)\s*(.*)$`)

func stunMatch(r stunReply) Match {
	m := Match{Service: "stun", Method: "native:stun", Certain: true, Evidence: r.Software}
	var info []string
	if sm := stunSoftwareRe.FindStringSubmatch(r.Software); sm != nil {
		m.Product, m.Version = sm[1], sm[2]
		info = append(info, strings.Trim(sm[3], `'" `))
	} else if r.Software != "" && utf8.RuneCountInString(r.Software) <= maxProductLen {
		m.Product = r.Software
	}
	if r.Type == stunBindingError {
		info = append(info, strings.TrimSpace(fmt.Sprintf("error %d %s", r.ErrCode, r.Reason)))
	}
	if r.Mapped.IsValid() {
		info = append(info, "mapped address "+r.Mapped.String())
	}
	m.Info = joinInfo(info...)
	return m
}
