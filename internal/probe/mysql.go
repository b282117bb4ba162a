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

// MySQL and MariaDB speak first: a handshake packet (protocol 10) with the
// server version, or an error packet when the client's host is refused.

const (
	mysqlClientSSL  = 0x00000800
	mysqlClientAuth = 0x00080000 // CLIENT_PLUGIN_AUTH
	mysqlProtoV10   = 10
	mysqlErrPacket  = 0xff
	mysqlMaxPayload = 4096 // a greeting is ~100 bytes; anything larger is not one
)

func mysqlProtocol() Protocol {
	return Protocol{
		Name:      "mysql",
		Transport: "tcp",
		Ports:     []uint16{3306, 3307},
		Wave:      1,
		Banner:    mysqlBanner,
		Probe:     mysqlProbe,
	}
}

// mysqlGreeting is the part of a handshake v10 (or an error packet) that
// identification needs.
type mysqlGreeting struct {
	Protocol     byte
	Version      string
	ThreadID     uint32
	Capabilities uint32
	AuthPlugin   string
	ErrCode      uint16 // set for an error packet instead of a handshake
	ErrMessage   string
}

func mysqlBanner(b []byte) (Match, bool) {
	// The banner may hold more than the greeting if the engine read late.
	if n, err := frameMySQL(b); err == nil && n < len(b) {
		b = b[:n]
	}
	g, err := parseMySQLGreeting(b)
	if err != nil {
		return Match{}, false
	}
	return clipMatch(mysqlMatch(g)), true
}

func mysqlProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	return askFramed(ctx, c, "mysql", nil, frameMySQL, parseMySQLGreeting, mysqlMatch)
}

func mysqlMatch(g mysqlGreeting) Match {
	m := Match{Service: "mysql", Product: "MySQL", Method: "native:mysql", Certain: true}
	if g.ErrCode != 0 {
		m.Product = ""
		m.Info = fmt.Sprintf("error %d: %s", g.ErrCode, g.ErrMessage)
		return m
	}
	v := g.Version
	// MariaDB 10+ prefixes "5.5.5-" so that old clients that parse the
	// major number keep working.
	if i := strings.Index(v, "-MariaDB"); i >= 0 {
		m.Product = "MariaDB"
		v = strings.TrimPrefix(v, "5.5.5-")
		i = strings.Index(v, "-MariaDB")
		m.Version = v[:i]
		if rest := strings.TrimPrefix(v[i+len("-MariaDB"):], "-"); rest != "" {
			m.Info = rest
		}
	} else {
		m.Version = v
	}
	m.Evidence = g.Version
	info := []string{"protocol 10"}
	if m.Info != "" {
		info = append(info, m.Info)
	}
	if g.Capabilities&mysqlClientSSL != 0 {
		info = append(info, "ssl")
	}
	if g.AuthPlugin != "" {
		info = append(info, g.AuthPlugin)
	}
	m.Info = strings.Join(info, "; ")
	return m
}

// frameMySQL frames one packet: 3-byte little-endian payload length and a
// sequence number, then the payload.
func frameMySQL(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, errNeedMore
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if n == 0 || n > mysqlMaxPayload {
		return 0, fmt.Errorf("implausible mysql greeting length %d", n)
	}
	return 4 + n, nil
}

// parseMySQLGreeting decodes a server's first packet: Protocol::HandshakeV10
// or ERR_Packet. The packet must be complete; trailing bytes are refused.
func parseMySQLGreeting(b []byte) (mysqlGreeting, error) {
	n, err := frameMySQL(b)
	if err != nil {
		return mysqlGreeting{}, err
	}
	if len(b) != n {
		return mysqlGreeting{}, fmt.Errorf("mysql packet length %d, have %d bytes", n, len(b))
	}
	if b[3] != 0 {
		return mysqlGreeting{}, fmt.Errorf("mysql greeting has sequence %d", b[3])
	}
	p := b[4:]
	var g mysqlGreeting
	switch p[0] {
	case mysqlErrPacket:
		if len(p) < 3 {
			return g, errors.New("short mysql error packet")
		}
		g.ErrCode = binary.LittleEndian.Uint16(p[1:])
		msg := p[3:]
		// A "#" and a 5-character SQLSTATE may precede the message.
		if len(msg) >= 6 && msg[0] == '#' {
			msg = msg[6:]
		}
		if g.ErrCode == 0 || !isPrintableASCII(msg) {
			return g, errors.New("implausible mysql error packet")
		}
		g.ErrMessage = string(msg)
		return g, nil
	case mysqlProtoV10:
	default:
		return g, fmt.Errorf("mysql protocol %d unsupported", p[0])
	}
	g.Protocol = p[0]
	p = p[1:]
	end := bytes.IndexByte(p, 0)
	if end <= 0 || !isPrintableASCII(p[:end]) {
		return g, errors.New("bad mysql server version")
	}
	g.Version = string(p[:end])
	p = p[end+1:]
	// thread id 4, auth data 8, filler 1, capabilities (low) 2
	if len(p) < 4+8+1+2 {
		return g, errors.New("mysql handshake truncated")
	}
	g.ThreadID = binary.LittleEndian.Uint32(p)
	if p[12] != 0 {
		return g, errors.New("mysql handshake filler not zero")
	}
	g.Capabilities = uint32(binary.LittleEndian.Uint16(p[13:]))
	p = p[15:]
	// charset 1, status 2, capabilities (high) 2, auth data length 1, reserved 10
	if len(p) < 16 {
		return g, nil // pre-4.1 servers stop here
	}
	g.Capabilities |= uint32(binary.LittleEndian.Uint16(p[3:])) << 16
	authLen := int(p[5])
	p = p[16:]
	if g.Capabilities&mysqlClientAuth != 0 {
		// auth data part 2 is max(13, authLen-8) bytes, then the plugin name.
		skip := max(13, authLen-8)
		if len(p) >= skip {
			name := p[skip:]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if isPrintableASCII(name) {
				g.AuthPlugin = string(name)
			}
		}
	}
	return g, nil
}

func isPrintableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}
