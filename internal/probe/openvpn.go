package probe

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// OpenVPN: the client's first control packet, P_CONTROL_HARD_RESET_CLIENT_V2
// (key id 0, a random 8-byte session id, no acks, packet id 0, no payload),
// as nmap's OpenVPN probe sends. A server answers
// P_CONTROL_HARD_RESET_SERVER_V2 acknowledging packet 0 of our session id,
// which only OpenVPN does. The server keeps a pending TLS session for us
// until its hand-window (60 s) passes, as for any client that goes away;
// we never start the TLS handshake. Over TCP every packet is preceded by its
// 16-bit length.
//
// A server with tls-auth or tls-crypt drops a packet without its HMAC, so
// such a server (the recommended setup) stays open|filtered over UDP.

const (
	openvpnHardResetClientV2 = 7
	openvpnHardResetServerV2 = 8
	// The reset carries at most early-negotiation TLVs; a TLS record is
	// only sent after it. 2 KiB is far beyond it.
	openvpnMaxPacket = 2048
	openvpnMaxAcks   = 8 // RELIABLE_ACK_SIZE
)

func openvpnProtocol() Protocol {
	return Protocol{Name: "openvpn", Transport: "udp", Ports: []uint16{1194}, Wave: 2, Probe: openvpnProbeUDP}
}

func openvpnTCPProtocol() Protocol {
	return Protocol{Name: "openvpn", Transport: "tcp", Ports: []uint16{1194}, Wave: 2, Probe: openvpnProbeTCP}
}

// openvpnReset is a parsed P_CONTROL_HARD_RESET_SERVER_V2.
type openvpnReset struct {
	KeyID         byte
	SessionID     [8]byte // the server's
	Acks          []uint32
	RemoteSession [8]byte // ours, echoed
	PacketID      uint32
}

// openvpnClientReset is the 14-byte hard reset for session sid.
func openvpnClientReset() ([]byte, [8]byte) {
	var sid [8]byte
	_, _ = rand.Read(sid[:])
	p := []byte{openvpnHardResetClientV2 << 3} // key id 0
	p = append(p, sid[:]...)
	p = append(p, 0)          // no acks
	p = append(p, 0, 0, 0, 0) // message packet id 0
	return p, sid
}

func openvpnProbeUDP(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	req, sid := openvpnClientReset()
	if _, err := c.Write(req); err != nil {
		return Match{}, false, fmt.Errorf("openvpn: send reset: %w", err)
	}
	for {
		d, err := readDatagram(c)
		if err != nil {
			return Match{}, false, fmt.Errorf("openvpn: read reply: %w", err)
		}
		r, err := parseOpenVPNReset(d)
		if err != nil || !r.answers(sid) {
			continue
		}
		return openvpnMatch(), true, nil
	}
}

func openvpnProbeTCP(ctx context.Context, c net.Conn) (Match, bool, error) {
	req, sid := openvpnClientReset()
	framed := binary.BigEndian.AppendUint16(nil, uint16(len(req)))
	return askFramed(ctx, c, "openvpn", append(framed, req...), frameOpenVPNTCP, func(b []byte) (openvpnReset, error) {
		r, err := parseOpenVPNReset(b[2:])
		if err == nil && !r.answers(sid) {
			err = errors.New("openvpn: reset for another session")
		}
		return r, err
	}, func(openvpnReset) Match { return openvpnMatch() })
}

// frameOpenVPNTCP frames one length-prefixed packet.
func frameOpenVPNTCP(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, errNeedMore
	}
	n := int(binary.BigEndian.Uint16(b))
	if n < 14 || n > openvpnMaxPacket {
		return 0, fmt.Errorf("openvpn: %d-byte packet", n)
	}
	return 2 + n, nil
}

// answers is true when the reset acknowledges packet 0 of session sid.
func (r openvpnReset) answers(sid [8]byte) bool {
	if r.RemoteSession != sid {
		return false
	}
	for _, a := range r.Acks {
		if a == 0 {
			return true
		}
	}
	return false
}

// parseOpenVPNReset decodes a server hard reset without tls-auth: opcode and
// key id, session id, ack array with the peer's session id, packet id. Any
// other opcode (our own client reset, reflected) is an error.
func parseOpenVPNReset(b []byte) (openvpnReset, error) {
	var r openvpnReset
	if len(b) < 1 || len(b) > openvpnMaxPacket {
		return r, fmt.Errorf("openvpn: %d-byte packet", len(b))
	}
	if op := b[0] >> 3; op != openvpnHardResetServerV2 {
		return r, fmt.Errorf("openvpn: opcode %d is not a server reset", op)
	}
	r.KeyID = b[0] & 7
	if len(b) < 1+8+1 {
		return r, errors.New("openvpn: short reset")
	}
	copy(r.SessionID[:], b[1:9])
	n := int(b[9])
	if n == 0 || n > openvpnMaxAcks {
		return r, fmt.Errorf("openvpn: %d acks", n)
	}
	rest := b[10:]
	if len(rest) < 4*n+8+4 {
		return r, errors.New("openvpn: short reset")
	}
	for i := range n {
		r.Acks = append(r.Acks, binary.BigEndian.Uint32(rest[4*i:]))
	}
	rest = rest[4*n:]
	copy(r.RemoteSession[:], rest[:8])
	r.PacketID = binary.BigEndian.Uint32(rest[8:])
	// The server's first packet is its packet 0.
	if r.PacketID != 0 {
		return r, fmt.Errorf("openvpn: reset with packet id %d", r.PacketID)
	}
	return r, nil
}

func openvpnMatch() Match {
	return Match{Service: "openvpn", Product: "OpenVPN", Method: "native:openvpn", Certain: true,
		Info: "control channel without tls-auth or tls-crypt"}
}
