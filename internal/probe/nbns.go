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

// NetBIOS name service (RFC 1002): one NODE STATUS request (NBSTAT) for the
// wildcard name "*", the question nmblookup -A and nmap ask. It reads the
// peer's name table and registers nothing. The answer must carry our
// transaction id, be a response with one NBSTAT record for the name we
// asked, and hold a well-formed name table: proof enough.

const (
	nbnsTypeNBSTAT = 0x0021
	nbnsClassIN    = 0x0001
	nbnsNameEntry  = 18 // 15-byte name, suffix, 16-bit flags
	nbnsGroupFlag  = 0x8000
	nbnsMaxReply   = 1500 // one datagram, 255 names at most
)

func nbnsProtocol() Protocol {
	return Protocol{Name: "netbios-ns", Transport: "udp", Ports: []uint16{137}, Wave: 2, Probe: nbnsProbe}
}

// nbnsName is one entry of a node's name table.
type nbnsName struct {
	Name   string
	Suffix byte
	Group  bool
}

// nbnsStatus is a parsed node status response.
type nbnsStatus struct {
	ID    uint16
	Names []nbnsName
	MAC   net.HardwareAddr // the unit id; Samba sends zeros
}

// nbnsWildcard is "*" padded with NULs, first-level encoded (RFC 1001
// section 14.1): each nibble becomes 'A'+nibble, behind a length byte.
var nbnsWildcard = func() []byte {
	raw := make([]byte, 16)
	raw[0] = '*'
	enc := []byte{32}
	for _, c := range raw {
		enc = append(enc, 'A'+c>>4, 'A'+c&0xf)
	}
	return append(enc, 0)
}()

func nbnsStatusRequest(id uint16) []byte {
	q := binary.BigEndian.AppendUint16(nil, id)
	q = append(q, 0, 0) // query, opcode 0, unicast
	q = append(q, 0, 1, 0, 0, 0, 0, 0, 0)
	q = append(q, nbnsWildcard...)
	q = binary.BigEndian.AppendUint16(q, nbnsTypeNBSTAT)
	return binary.BigEndian.AppendUint16(q, nbnsClassIN)
}

func nbnsProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	id := randomUint16()
	if _, err := c.Write(nbnsStatusRequest(id)); err != nil {
		return Match{}, false, fmt.Errorf("netbios-ns: send request: %w", err)
	}
	for {
		d, err := readDatagram(c)
		if err != nil {
			return Match{}, false, fmt.Errorf("netbios-ns: read reply: %w", err)
		}
		st, err := parseNBNSStatus(d)
		if err != nil || st.ID != id {
			continue
		}
		return clipMatch(nbnsMatch(st)), true, nil
	}
}

// parseNBNSStatus decodes a positive NODE STATUS RESPONSE (RFC 1002
// section 4.2.18). A query (our own, reflected), a DNS answer or a
// negative response is an error.
func parseNBNSStatus(b []byte) (nbnsStatus, error) {
	var st nbnsStatus
	if len(b) < 12 || len(b) > nbnsMaxReply {
		return st, fmt.Errorf("netbios-ns: %d-byte packet", len(b))
	}
	st.ID = binary.BigEndian.Uint16(b)
	flags := binary.BigEndian.Uint16(b[2:])
	if flags&0x8000 == 0 || (flags>>11)&0xf != 0 || flags&0xf != 0 {
		return st, fmt.Errorf("netbios-ns: flags %#04x are not a positive query response", flags)
	}
	if qd, an := binary.BigEndian.Uint16(b[4:]), binary.BigEndian.Uint16(b[6:]); qd != 0 || an != 1 {
		return st, fmt.Errorf("netbios-ns: %d questions, %d answers", qd, an)
	}
	rest := b[12:]
	// The record is for the name we asked, written out (RFC 1002 allows
	// no compression in a node status response).
	if !bytes.HasPrefix(rest, nbnsWildcard) {
		return st, errors.New("netbios-ns: answer for another name")
	}
	rest = rest[len(nbnsWildcard):]
	if len(rest) < 10 {
		return st, errors.New("netbios-ns: truncated record")
	}
	if binary.BigEndian.Uint16(rest) != nbnsTypeNBSTAT || binary.BigEndian.Uint16(rest[2:]) != nbnsClassIN {
		return st, errors.New("netbios-ns: not an NBSTAT record")
	}
	rdlen := int(binary.BigEndian.Uint16(rest[8:]))
	rdata := rest[10:]
	if rdlen > len(rdata) || rdlen < 1 {
		return st, fmt.Errorf("netbios-ns: rdlength %d of %d bytes", rdlen, len(rdata))
	}
	rdata = rdata[:rdlen]
	n := int(rdata[0])
	names := rdata[1:]
	if n*nbnsNameEntry > len(names) {
		return st, fmt.Errorf("netbios-ns: %d names in %d bytes", n, len(names))
	}
	for i := range n {
		e := names[i*nbnsNameEntry:]
		name := strings.TrimRight(string(e[:15]), " \x00")
		if !nbnsValidName(name) {
			return st, fmt.Errorf("netbios-ns: name %q", e[:15])
		}
		st.Names = append(st.Names, nbnsName{Name: name, Suffix: e[15],
			Group: binary.BigEndian.Uint16(e[16:])&nbnsGroupFlag != 0})
	}
	// The statistics start with the 6-byte unit id (a MAC address).
	if stats := names[n*nbnsNameEntry:]; len(stats) >= 6 {
		st.MAC = net.HardwareAddr(bytes.Clone(stats[:6]))
	}
	return st, nil
}

// nbnsValidName accepts the bytes NetBIOS names are made of: printable
// ASCII, and the \x01\x02__MSBROWSE__\x02 of a master browser.
func nbnsValidName(s string) bool {
	if s == "\x01\x02__MSBROWSE__\x02" {
		return true
	}
	return s != "" && isPrintableASCII([]byte(s))
}

func nbnsMatch(st nbnsStatus) Match {
	m := Match{Service: "netbios-ns", Method: "native:netbios-ns", Certain: true}
	var host, group string
	for _, e := range st.Names {
		switch {
		case host == "" && !e.Group && (e.Suffix == 0x00 || e.Suffix == 0x20):
			host = e.Name
		case group == "" && e.Group && e.Suffix == 0x00:
			group = e.Name
		}
	}
	var info []string
	if host != "" {
		info = append(info, "NetBIOS name "+host)
	}
	if group != "" {
		info = append(info, "workgroup "+group)
	}
	switch {
	case st.MAC == nil:
	case bytes.Equal(st.MAC, make([]byte, 6)):
		// Samba's nmbd has no MAC to report and sends zeros, where
		// Windows sends its adapter's address: a hint, as nmap reads it.
		m.Product = "Samba nmbd"
	default:
		info = append(info, "MAC "+st.MAC.String())
	}
	m.Info = joinInfo(info...)
	return m
}
