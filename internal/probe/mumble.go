package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
)

// Mumble's UDP ping (the server list's query): 4 zero bytes and an 8-byte
// ident of our choosing; Murmur answers 24 bytes, its version, our ident,
// the users connected, the user limit and the bandwidth limit per user.
// The ident echoed in a reply of exactly that shape is the proof. It needs
// no connection and Murmur answers it before any TLS.

const (
	mumblePingLen  = 12
	mumbleReplyLen = 24
)

// mumbleUDPProtocol shares the control channel's name: nmap calls both
// "murmur".
func mumbleUDPProtocol() Protocol {
	return Protocol{Name: "murmur", Transport: "udp", Ports: []uint16{64738}, Wave: 2, Probe: mumbleProbeUDP}
}

// mumblePong is a parsed ping reply.
type mumblePong struct {
	Version   uint32 // major<<16 | minor<<8 | patch
	Ident     [8]byte
	Users     uint32
	MaxUsers  uint32
	Bandwidth uint32 // bits per second
}

func mumbleProbeUDP(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	var ident [8]byte
	binary.BigEndian.PutUint32(ident[:], randomUint32())
	binary.BigEndian.PutUint32(ident[4:], randomUint32())
	req := make([]byte, 4, mumblePingLen)
	req = append(req, ident[:]...)
	if _, err := c.Write(req); err != nil {
		return Match{}, false, fmt.Errorf("murmur: send ping: %w", err)
	}
	for {
		d, err := readDatagram(c)
		if err != nil {
			return Match{}, false, fmt.Errorf("murmur: read reply: %w", err)
		}
		p, err := parseMumblePong(d)
		if err != nil || p.Ident != ident {
			continue
		}
		return clipMatch(mumblePongMatch(p)), true, nil
	}
}

// parseMumblePong decodes the 24-byte reply. The version's top byte is
// zero in every release (major < 256), and the user count cannot exceed
// the limit by more than a few admins; anything else is not Murmur.
func parseMumblePong(b []byte) (mumblePong, error) {
	var p mumblePong
	if len(b) != mumbleReplyLen {
		return p, fmt.Errorf("murmur: %d-byte reply", len(b))
	}
	p.Version = binary.BigEndian.Uint32(b)
	if p.Version == 0 || p.Version>>24 != 0 {
		return p, fmt.Errorf("murmur: version %#x", p.Version)
	}
	copy(p.Ident[:], b[4:12])
	p.Users = binary.BigEndian.Uint32(b[12:])
	p.MaxUsers = binary.BigEndian.Uint32(b[16:])
	p.Bandwidth = binary.BigEndian.Uint32(b[20:])
	if p.Users > 1<<20 || p.MaxUsers > 1<<20 {
		return p, errors.New("murmur: implausible user counts")
	}
	return p, nil
}

func mumblePongMatch(p mumblePong) Match {
	return Match{Service: "murmur", Product: "Murmur", Method: "native:mumble", Certain: true,
		Version: fmt.Sprintf("%d.%d.%d", p.Version>>16, p.Version>>8&0xff, p.Version&0xff),
		Info:    fmt.Sprintf("%d/%d users; %d kbit/s per user", p.Users, p.MaxUsers, p.Bandwidth/1000)}
}
