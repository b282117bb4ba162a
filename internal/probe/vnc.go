package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// VNC: the server speaks first with "RFB xxx.yyy\n". The probe then echoes
// a version it supports and reads the list of security types the server
// offers, which tells whether it asks for a password; it stops there,
// before any authentication.

func vncProtocol() Protocol {
	return Protocol{
		Name:      "vnc",
		Transport: "tcp",
		Ports:     []uint16{5900, 5901, 5902, 5903},
		Wave:      1,
		Banner:    vncBanner,
		Probe:     vncProbe,
	}
}

// rfbVersion is the protocol version from the RFB banner.
type rfbVersion struct{ Major, Minor int }

func vncBanner(b []byte) (Match, bool) {
	if len(b) > 12 {
		b = b[:12]
	}
	v, err := parseRFBBanner(b)
	if err != nil {
		return Match{}, false
	}
	return vncMatch(v, nil), true
}

func vncProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	raw, err := readFramed(c, frameExact(12))
	if err != nil {
		return Match{}, false, fmt.Errorf("vnc: read banner: %w", err)
	}
	v, err := parseRFBBanner(raw)
	if err != nil {
		return Match{}, false, nil
	}
	// Answer with the highest version both sides know; 3.3 servers pick
	// the security type themselves and send it as a 32-bit number.
	reply := "RFB 003.008\n"
	if v.Major == 3 && v.Minor < 7 {
		reply = "RFB 003.003\n"
	} else if v.Major == 3 && v.Minor == 7 {
		reply = "RFB 003.007\n"
	}
	if _, err := c.Write([]byte(reply)); err != nil {
		return vncMatch(v, nil), true, nil
	}
	frame := frameRFBSecurity
	if reply == "RFB 003.003\n" {
		frame = frameExact(4)
	}
	sec, err := readFramed(c, frame)
	if err != nil {
		return vncMatch(v, nil), true, nil
	}
	types, err := parseRFBSecurity(sec, reply == "RFB 003.003\n")
	if err != nil {
		return vncMatch(v, nil), true, nil
	}
	return vncMatch(v, types), true, nil
}

func vncMatch(v rfbVersion, security []byte) Match {
	m := Match{Service: "vnc", Product: "VNC", Method: "native:vnc", Certain: true,
		Info: fmt.Sprintf("protocol %d.%d", v.Major, v.Minor)}
	if v.Major == 3 && v.Minor == 889 {
		m.Product = "Apple remote desktop vnc"
	}
	if len(security) > 0 {
		names := make([]string, 0, len(security))
		for _, t := range security {
			names = append(names, rfbSecurityName(t))
		}
		m.Info += "; security: " + strings.Join(names, ", ")
	}
	return m
}

func rfbSecurityName(t byte) string {
	switch t {
	case 1:
		return "none"
	case 2:
		return "VNC password"
	case 5:
		return "RA2"
	case 16:
		return "Tight"
	case 18:
		return "TLS"
	case 19:
		return "VeNCrypt"
	case 30:
		return "Apple DH"
	}
	return strconv.Itoa(int(t))
}

// parseRFBBanner decodes the 12-byte "RFB 003.008\n".
func parseRFBBanner(b []byte) (rfbVersion, error) {
	if len(b) != 12 || string(b[:4]) != "RFB " || b[7] != '.' || b[11] != '\n' {
		return rfbVersion{}, errors.New("not an RFB banner")
	}
	maj, err1 := strconv.Atoi(string(b[4:7]))
	min, err2 := strconv.Atoi(string(b[8:11]))
	if err1 != nil || err2 != nil || maj < 0 || min < 0 {
		return rfbVersion{}, errors.New("bad RFB version digits")
	}
	return rfbVersion{maj, min}, nil
}

// frameRFBSecurity frames the 3.7+ security list: a count, then that many
// type bytes; a count of 0 is followed by a length-prefixed reason.
func frameRFBSecurity(b []byte) (int, error) {
	if len(b) < 1 {
		return 0, errNeedMore
	}
	if b[0] > 0 {
		return 1 + int(b[0]), nil
	}
	if len(b) < 5 {
		return 0, errNeedMore
	}
	return 5 + int(uint32(b[1])<<24|uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4])), nil
}

// parseRFBSecurity decodes the security types a server offers: the 3.3
// 32-bit choice or the 3.7+ list. A refusal (count 0 or type 0) returns an
// error carrying the server's reason.
func parseRFBSecurity(b []byte, v33 bool) ([]byte, error) {
	if v33 {
		if len(b) != 4 {
			return nil, errors.New("bad RFB 3.3 security type")
		}
		t := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		if t == 0 || t > 255 {
			return nil, fmt.Errorf("RFB 3.3 security type %d", t)
		}
		return []byte{byte(t)}, nil
	}
	n, err := frameRFBSecurity(b)
	if err != nil || n != len(b) {
		return nil, errors.New("bad RFB security list")
	}
	if b[0] == 0 {
		return nil, fmt.Errorf("RFB connection refused: %q", b[5:])
	}
	return b[1:], nil
}
