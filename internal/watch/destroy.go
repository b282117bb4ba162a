package watch

// The one event-driven signal the kernel gives without privilege: sock_diag
// multicasts a message when a TCP socket is destroyed. It cannot say that a
// listener opened, and by the time it is sent the socket has no file and no
// owner, but it does say "something bound to 127.0.0.1:35445 as uid 0 with
// no peer went away". When no look ever saw a listener there, that is a
// listener polling missed, and the watcher reports it as such.

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Destroyed is a TCP socket with a local port and no peer (a listener, or a
// socket bound and never connected) that the kernel destroyed.
type Destroyed struct {
	Address netip.Addr
	Port    uint16
	UID     uint32
}

// sizes of struct nlmsghdr and struct inet_diag_msg (linux/inet_diag.h).
const (
	nlmsgHdrLen     = 16
	inetDiagMsgLen  = 72
	sockDiagByFam   = 20 // SOCK_DIAG_BY_FAMILY
	afInet, afInet6 = 2, 10
)

var errShort = errors.New("short sock_diag message")

// parseDestroyed reads one datagram of sock_diag destroy notifications and
// keeps the sockets with a local port and no remote one. It is pure and
// fuzzed: the datagram comes from the kernel, but a parser of binary input
// must not trust lengths.
func parseDestroyed(b []byte) ([]Destroyed, error) {
	var out []Destroyed
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < nlmsgHdrLen || l > len(b) {
			return out, errShort
		}
		msg := b[nlmsgHdrLen:l]
		if next := (l + 3) &^ 3; next < len(b) {
			b = b[next:]
		} else {
			b = nil
		}
		if typ != sockDiagByFam {
			continue
		}
		if len(msg) < inetDiagMsgLen {
			return out, errShort
		}
		fam := msg[0]
		sport := binary.BigEndian.Uint16(msg[4:6])
		dport := binary.BigEndian.Uint16(msg[6:8])
		var src, dst netip.Addr
		switch fam {
		case afInet:
			src = netip.AddrFrom4([4]byte(msg[8:12]))
			dst = netip.AddrFrom4([4]byte(msg[24:28]))
		case afInet6:
			src = netip.AddrFrom16([16]byte(msg[8:24])).Unmap()
			dst = netip.AddrFrom16([16]byte(msg[24:40])).Unmap()
		default:
			continue
		}
		if sport == 0 || dport != 0 || !dst.IsUnspecified() {
			continue
		}
		out = append(out, Destroyed{Address: src, Port: sport, UID: binary.NativeEndian.Uint32(msg[64:68])})
	}
	return out, nil
}

// putHeader writes an nlmsghdr's length and type.
func putHeader(b []byte, length int, typ uint16) {
	binary.NativeEndian.PutUint32(b[0:4], uint32(length))
	binary.NativeEndian.PutUint16(b[4:6], typ)
}
