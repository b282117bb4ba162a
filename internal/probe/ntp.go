package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// NTP: one client-mode (3) NTPv4 packet, the request every client sends;
// the server's mode-4 reply must echo our transmit timestamp as its origin
// timestamp, which no other protocol would do. No control (mode 6) or
// private (mode 7) queries: those are the ones abused for amplification.

func ntpProtocol() Protocol {
	return Protocol{Name: "ntp", Transport: "udp", Ports: []uint16{123}, Wave: 2, Probe: ntpProbe}
}

// ntpReply is a parsed server packet.
type ntpReply struct {
	Leap, Version, Mode byte
	Stratum             byte
	RefID               [4]byte
	Origin              uint64
}

func ntpProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	req := make([]byte, 48)
	req[0] = 0<<6 | 4<<3 | 3 // no leap warning, version 4, client
	// A random transmit timestamp, as chrony's clients send: the server
	// only echoes it, and it cannot be mistaken for a stale reply.
	xmt := uint64(randomUint32())<<32 | uint64(randomUint32())
	binary.BigEndian.PutUint64(req[40:], xmt)
	if _, err := c.Write(req); err != nil {
		return Match{}, false, fmt.Errorf("ntp: send request: %w", err)
	}
	for {
		d, err := readDatagram(c)
		if err != nil {
			return Match{}, false, fmt.Errorf("ntp: read reply: %w", err)
		}
		r, err := parseNTPReply(d)
		if err != nil || r.Origin != xmt {
			continue // not the answer to our packet
		}
		return ntpMatch(r), true, nil
	}
}

func ntpMatch(r ntpReply) Match {
	m := Match{Service: "ntp", Product: "NTP", Version: fmt.Sprintf("v%d", r.Version), Method: "native:ntp", Certain: true}
	info := []string{fmt.Sprintf("stratum %d", r.Stratum)}
	ref := ntpRefID(r)
	switch {
	case r.Stratum == 0 && ref != "":
		info = append(info, "kiss code "+ref)
	case ref != "":
		info = append(info, "refid "+ref)
	}
	if r.Leap == 3 {
		info = append(info, "unsynchronized")
	}
	// ntpd and NTPsec answer with stratum 16 and refid INIT until their
	// first sync; chrony 4 uses stratum 0 with an empty refid instead, and
	// 127.127.1.1 for its "local" reference. Hints, not proof.
	switch {
	case r.Stratum == 16 && ref == "INIT":
		info = append(info, "ntpd-style")
	case r.Stratum == 0 && r.Leap == 3 && r.RefID == [4]byte{}:
		info = append(info, "chrony-style")
	case r.Stratum > 1 && r.RefID == [4]byte{127, 127, 1, 1}:
		info = append(info, "chrony-style local reference")
	}
	m.Info = strings.Join(info, "; ")
	return m
}

// ntpRefID renders the reference id: ASCII for stratum 0-1 (kiss code or
// reference clock), an IPv4 address for higher strata (a hash for IPv6
// upstreams, shown as an address all the same).
func ntpRefID(r ntpReply) string {
	if r.RefID == [4]byte{} {
		return ""
	}
	if r.Stratum <= 1 || r.Stratum == 16 {
		s := string(bytes.TrimRight(r.RefID[:], "\x00"))
		if isPrintableASCII([]byte(s)) {
			return s
		}
		return fmt.Sprintf("0x%x", r.RefID)
	}
	return netip.AddrFrom4(r.RefID).String()
}

// parseNTPReply decodes the fixed 48-byte header of a server (mode 4) or
// broadcast (mode 5) packet; extension fields and MACs are ignored.
func parseNTPReply(b []byte) (ntpReply, error) {
	var r ntpReply
	if len(b) < 48 {
		return r, fmt.Errorf("ntp: %d-byte packet", len(b))
	}
	r.Leap, r.Version, r.Mode = b[0]>>6, (b[0]>>3)&7, b[0]&7
	if r.Mode != 4 && r.Mode != 5 {
		return r, fmt.Errorf("ntp: mode %d is not a server reply", r.Mode)
	}
	if r.Version < 1 || r.Version > 4 {
		return r, fmt.Errorf("ntp: version %d", r.Version)
	}
	if b[1] > 16 {
		return r, fmt.Errorf("ntp: stratum %d", b[1])
	}
	r.Stratum = b[1]
	copy(r.RefID[:], b[12:16])
	r.Origin = binary.BigEndian.Uint64(b[24:])
	if r.Origin == 0 && r.Mode == 4 {
		return r, errors.New("ntp: server reply without origin timestamp")
	}
	return r, nil
}
