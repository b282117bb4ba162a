package probe

// Mumble's control channel: TLS, inside which the server speaks first with
// a Version message (type 0, framed by a 2-byte type and a 4-byte length,
// protobuf body: version, release, os, os_version). Murmur sends it as
// soon as the handshake completes, so it arrives as the banner inside TLS.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// mumbleMaxVersion caps the Version message: its four fields are short.
const mumbleMaxVersion = 2048

func mumbleControlProtocol() Protocol {
	return Protocol{
		Name:        "murmur",
		Transport:   "tcp",
		Ports:       []uint16{64738},
		ServerFirst: true,
		Banner:      mumbleBanner,
	}
}

// mumbleVersion is a decoded Version message.
type mumbleVersion struct {
	Version   uint32 // major<<16 | minor<<8 | patch
	Release   string
	OS        string
	OSVersion string
}

func mumbleBanner(b []byte) (Match, bool) {
	v, err := parseMumbleVersion(b)
	if err != nil {
		return Match{}, false
	}
	m := Match{Service: "murmur", Method: "native:mumble", Certain: true, Product: "Murmur"}
	if v.Version != 0 {
		m.Version = fmt.Sprintf("%d.%d.%d", v.Version>>16, v.Version>>8&0xff, v.Version&0xff)
	}
	m.Info = joinInfo(v.Release, strings.TrimSpace(v.OS+" "+v.OSVersion))
	return clipMatch(m), true
}

// parseMumbleVersion decodes the first message of b, which must be a
// complete Version message.
func parseMumbleVersion(b []byte) (mumbleVersion, error) {
	var v mumbleVersion
	if len(b) < 6 {
		return v, errors.New("short")
	}
	typ, n := binary.BigEndian.Uint16(b), binary.BigEndian.Uint32(b[2:6])
	if typ != 0 || n == 0 || n > mumbleMaxVersion || int(n) > len(b)-6 {
		return v, errors.New("not a Version message")
	}
	body := b[6 : 6+n]
	seen := false
	for len(body) > 0 {
		key, k := binary.Uvarint(body)
		if k <= 0 {
			return v, errors.New("bad key")
		}
		body = body[k:]
		field, wire := key>>3, key&7
		switch wire {
		case 0:
			val, k := binary.Uvarint(body)
			if k <= 0 {
				return v, errors.New("bad varint")
			}
			body = body[k:]
			if field == 1 {
				v.Version = uint32(val)
			}
		case 2:
			l, k := binary.Uvarint(body)
			if k <= 0 || l > uint64(len(body)-k) {
				return v, errors.New("bad length")
			}
			s := body[k : k+int(l)]
			body = body[k+int(l):]
			if !utf8.Valid(s) {
				return v, errors.New("not text")
			}
			switch field {
			case 2:
				v.Release, seen = string(s), true
			case 3:
				v.OS = string(s)
			case 4:
				v.OSVersion = string(s)
			}
		default:
			return v, fmt.Errorf("wire type %d", wire)
		}
	}
	// The release string is what every server sends; without it six
	// zero-led bytes are too little proof.
	if !seen || v.Release == "" {
		return v, errors.New("no release")
	}
	return v, nil
}
