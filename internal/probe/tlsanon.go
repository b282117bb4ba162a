package probe

// Anonymous TLS. Some daemons (Nagios NRPE by default) offer only
// anonymous Diffie-Hellman suites, which crypto/tls does not implement, so
// the standard handshake ends in a handshake_failure alert and says
// nothing. A ClientHello of our own, offering just those suites, makes
// such a server answer with a ServerHello naming the version and suite it
// chose: proof that it speaks TLS, and what kind. The handshake goes no
// further; the connection is closed after the ServerHello.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// anonSuites are the anonymous (DH_anon, ECDH_anon) suites of RFC 5246,
// 5288, 4492, strongest first, with their IANA names.
var anonSuites = []struct {
	id   uint16
	name string
}{
	{0x00a7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384"},
	{0x00a6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256"},
	{0x006d, "TLS_DH_anon_WITH_AES_256_CBC_SHA256"},
	{0x006c, "TLS_DH_anon_WITH_AES_128_CBC_SHA256"},
	{0xc019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA"},
	{0xc018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"},
	{0x003a, "TLS_DH_anon_WITH_AES_256_CBC_SHA"},
	{0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA"},
	{0x001b, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA"},
	{0x0018, "TLS_DH_anon_WITH_RC4_128_MD5"},
}

// anonClientHello builds a TLS 1.2 ClientHello that offers only anonymous
// suites (and the extensions ECDH_anon needs).
func anonClientHello(random [32]byte) []byte {
	var suites []byte
	for _, s := range anonSuites {
		suites = binary.BigEndian.AppendUint16(suites, s.id)
	}
	ext := func(b []byte, typ uint16, body []byte) []byte {
		b = binary.BigEndian.AppendUint16(b, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
		return append(b, body...)
	}
	var exts []byte
	exts = ext(exts, 0x000a, []byte{0, 6, 0, 0x1d, 0, 0x17, 0, 0x18}) // x25519, P-256, P-384
	exts = ext(exts, 0x000b, []byte{1, 0})                            // uncompressed points
	exts = ext(exts, 0x000d, []byte{0, 6, 4, 1, 5, 1, 2, 1})          // rsa_pkcs1 sha256/384/sha1
	exts = ext(exts, 0xff01, []byte{0})                               // renegotiation_info

	body := []byte{3, 3} // client_version TLS 1.2
	body = append(body, random[:]...)
	body = append(body, 0) // no session id
	body = binary.BigEndian.AppendUint16(body, uint16(len(suites)))
	body = append(body, suites...)
	body = append(body, 1, 0) // null compression
	body = binary.BigEndian.AppendUint16(body, uint16(len(exts)))
	body = append(body, exts...)

	hs := []byte{1, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	hs = append(hs, body...)
	rec := []byte{0x16, 3, 1, byte(len(hs) >> 8), byte(len(hs))}
	return append(rec, hs...)
}

// serverHello is what the ServerHello of an anonymous handshake said.
type serverHello struct {
	Version uint16
	Suite   uint16
}

var errTLSAlert = errors.New("tls alert")

// parseServerHello reads the first handshake record of a server's reply
// and decodes its ServerHello. An alert record is errTLSAlert.
func parseServerHello(b []byte) (serverHello, error) {
	if len(b) < 5 {
		return serverHello{}, errors.New("short record")
	}
	typ, n := b[0], int(binary.BigEndian.Uint16(b[3:5]))
	if b[1] != 3 || len(b) < 5+n {
		return serverHello{}, errors.New("not a TLS record")
	}
	rec := b[5 : 5+n]
	switch typ {
	case 0x15:
		return serverHello{}, errTLSAlert
	case 0x16:
	default:
		return serverHello{}, fmt.Errorf("record type %d", typ)
	}
	if len(rec) < 4 || rec[0] != 2 {
		return serverHello{}, errors.New("not a ServerHello")
	}
	hl := int(rec[1])<<16 | int(rec[2])<<8 | int(rec[3])
	h := rec[4:]
	if hl < 38 || len(h) < 38 {
		return serverHello{}, errors.New("short ServerHello")
	}
	sh := serverHello{Version: binary.BigEndian.Uint16(h)}
	sid := int(h[34])
	if len(h) < 35+sid+3 || sid > 32 {
		return serverHello{}, errors.New("bad session id")
	}
	sh.Suite = binary.BigEndian.Uint16(h[35+sid:])
	if sh.Version < 0x0300 || sh.Version > 0x0304 {
		return serverHello{}, fmt.Errorf("version %#04x", sh.Version)
	}
	return sh, nil
}

// frameTLSRecord frames one TLS record.
func frameTLSRecord(b []byte) (int, error) {
	if len(b) < 5 {
		return 0, errNeedMore
	}
	if b[0] < 0x14 || b[0] > 0x18 || b[1] != 3 {
		return 0, errors.New("not a TLS record")
	}
	return 5 + int(binary.BigEndian.Uint16(b[3:5])), nil
}

// anonSuiteName names an anonymous suite, "" for any other.
func anonSuiteName(id uint16) string {
	for _, s := range anonSuites {
		if s.id == id {
			return s.name
		}
	}
	return ""
}

// anonTLS offers only anonymous suites on c and reports the ServerHello.
// ok is false when the peer refused them too (an alert) or did not answer
// in TLS.
func anonTLS(ctx context.Context, c net.Conn) (*TLS, bool, error) {
	defer withCtx(ctx, c)()
	var random [32]byte
	for i := 0; i < len(random); i += 4 {
		binary.BigEndian.PutUint32(random[i:], randomUint32())
	}
	if _, err := c.Write(anonClientHello(random)); err != nil {
		return nil, false, fmt.Errorf("tls anon: send hello: %w", err)
	}
	raw, err := readFramed(c, frameTLSRecord)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, false, fmt.Errorf("tls anon: read hello: %w", err)
	}
	sh, err := parseServerHello(raw)
	if err != nil {
		return nil, false, nil
	}
	name := anonSuiteName(sh.Suite)
	if name == "" {
		return nil, false, nil // it chose a suite we did not offer
	}
	return &TLS{Version: tlsVersionName(sh.Version), Cipher: name}, true, nil
}

func tlsVersionName(v uint16) string {
	switch v {
	case 0x0300:
		return "SSL 3.0"
	case 0x0301:
		return "TLS 1.0"
	case 0x0302:
		return "TLS 1.1"
	case 0x0303:
		return "TLS 1.2"
	case 0x0304:
		return "TLS 1.3"
	}
	return fmt.Sprintf("%#04x", v)
}
