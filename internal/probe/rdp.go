package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// RDP: an X.224 Connection Request carrying an RDP Negotiation Request
// (TPKT framing, RFC 1006 and MS-RDPBCGR 2.2.1.1). Any X.224 Connection
// Confirm names the service; the negotiation response tells which
// security protocols the server selected.

const (
	rdpNegReq     = 0x01
	rdpNegRsp     = 0x02
	rdpNegFailure = 0x03
	rdpProtoSSL   = 0x1
	rdpProtoNLA   = 0x2 // CredSSP
)

func rdpProtocol() Protocol {
	return Protocol{
		Name:      "ms-wbt-server",
		Transport: "tcp",
		Ports:     []uint16{3389},
		Wave:      2,
		Probe:     rdpProbe,
	}
}

// rdpConfirm is a decoded X.224 Connection Confirm.
type rdpConfirm struct {
	HasNeg   bool
	NegType  byte   // rdpNegRsp or rdpNegFailure
	Selected uint32 // selected protocol, or failure code
}

func rdpProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	return askFramed(ctx, c, "rdp", rdpConnectionRequest(), frameTPKT, parseRDPConfirm, rdpMatch)
}

// rdpConnectionRequest asks for TLS or CredSSP, as a modern client does.
func rdpConnectionRequest() []byte {
	b := []byte{
		3, 0, 0, 19, // TPKT: version 3, length 19
		14, 0xe0, 0, 0, 0, 0, 0, // X.224 CR: length indicator, CR code, dst ref, src ref, class 0
		rdpNegReq, 0, 8, 0, // RDP_NEG_REQ: type, flags, length 8 (LE)
	}
	return binary.LittleEndian.AppendUint32(b, rdpProtoSSL|rdpProtoNLA)
}

func rdpMatch(cc rdpConfirm) Match {
	m := Match{Service: "ms-wbt-server", Method: "native:rdp", Certain: true}
	switch {
	case !cc.HasNeg:
		m.Info = "standard RDP security"
	case cc.NegType == rdpNegRsp:
		switch cc.Selected {
		case 0:
			m.Info = "standard RDP security"
		case rdpProtoSSL:
			m.Info = "security: TLS"
		case rdpProtoNLA, rdpProtoNLA | rdpProtoSSL:
			m.Info = "security: CredSSP (NLA)"
		default:
			m.Info = fmt.Sprintf("security: protocol 0x%x", cc.Selected)
		}
	case cc.NegType == rdpNegFailure:
		m.Info = fmt.Sprintf("negotiation failure %d", cc.Selected)
	}
	return m
}

// frameTPKT frames one TPKT packet: version 3, reserved, 16-bit length.
func frameTPKT(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, errNeedMore
	}
	if b[0] != 3 {
		return 0, errors.New("not a TPKT packet")
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < 7 {
		return 0, fmt.Errorf("bad TPKT length %d", n)
	}
	return n, nil
}

// parseRDPConfirm decodes a TPKT-framed X.224 Connection Confirm and its
// optional RDP negotiation response or failure.
func parseRDPConfirm(b []byte) (rdpConfirm, error) {
	n, err := frameTPKT(b)
	if err != nil {
		return rdpConfirm{}, err
	}
	if n != len(b) {
		return rdpConfirm{}, fmt.Errorf("TPKT length %d, have %d bytes", n, len(b))
	}
	x := b[4:]
	li := int(x[0])
	if li+1 > len(x) || li < 6 {
		return rdpConfirm{}, errors.New("bad X.224 length indicator")
	}
	if x[1]&0xf0 != 0xd0 {
		return rdpConfirm{}, fmt.Errorf("X.224 code 0x%02x is not a connection confirm", x[1])
	}
	var cc rdpConfirm
	neg := x[7 : li+1]
	if len(neg) >= 8 {
		if neg[0] != rdpNegRsp && neg[0] != rdpNegFailure {
			return rdpConfirm{}, fmt.Errorf("unknown RDP negotiation type %d", neg[0])
		}
		if binary.LittleEndian.Uint16(neg[2:]) != 8 {
			return rdpConfirm{}, errors.New("bad RDP negotiation length")
		}
		cc.HasNeg, cc.NegType, cc.Selected = true, neg[0], binary.LittleEndian.Uint32(neg[4:])
	}
	return cc, nil
}
