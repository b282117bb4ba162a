package sockets

// The inet_diag wire format (include/uapi/linux/inet_diag.h), built and
// parsed here without any OS dependency so the parser can be fuzzed anywhere.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

const (
	afInet  = 2
	afInet6 = 10

	ipprotoTCP = 6
	ipprotoUDP = 17

	sockDiagByFamily = 20 // SOCK_DIAG_BY_FAMILY, the netlink message type

	diagReqLen = 56 // struct inet_diag_req_v2
	diagMsgLen = 72 // struct inet_diag_msg

	attrReqBytecode = 1  // INET_DIAG_REQ_BYTECODE
	attrSKV6Only    = 11 // INET_DIAG_SKV6ONLY

	bcJmp = 1  // INET_DIAG_BC_JMP
	bcSEq = 11 // INET_DIAG_BC_S_EQ
	bcDEq = 12 // INET_DIAG_BC_D_EQ
)

// diagRequest builds the body of a SOCK_DIAG_BY_FAMILY dump request: the
// kernel keeps only the states in the mask and, when f.port is set, runs a
// bytecode filter on the port, so unwanted sockets never cross into user
// space. The kernel sends INET_DIAG_SKV6ONLY for every AF_INET6 socket in
// LISTEN or CLOSE unasked (idiag_ext has no bit for it), which is what
// V6Only needs.
func diagRequest(family uint8, proto string, f filter) []byte {
	var bc []byte
	if f.port != 0 {
		bc = portBytecode(f.port, f.anyEnd)
	}
	b := make([]byte, diagReqLen, diagReqLen+4+len(bc))
	b[0] = family
	b[1] = ipprotoTCP
	if proto == "udp" {
		b[1] = ipprotoUDP
	}
	binary.NativeEndian.PutUint32(b[4:], f.states(proto))
	if bc != nil {
		var hdr [4]byte
		binary.NativeEndian.PutUint16(hdr[0:], uint16(4+len(bc)))
		binary.NativeEndian.PutUint16(hdr[2:], attrReqBytecode)
		b = append(b, hdr[:]...)
		b = append(b, bc...)
	}
	return b
}

// portBytecode compiles "sport == port" or, with anyEnd,
// "sport == port || dport == port" the way ss does. Each op is
// {code u8, yes u8, no u16}; the kernel walks forward by yes when the test
// holds and by no when it fails; landing exactly on the end accepts, going
// past it rejects. A port test takes two ops, the second carrying the port
// in its no field. JMP always takes its no branch.
func portBytecode(port uint16, anyEnd bool) []byte {
	op := func(b []byte, code, yes uint8, no uint16) []byte {
		var o [4]byte
		o[0], o[1] = code, yes
		binary.NativeEndian.PutUint16(o[2:], no)
		return append(b, o[:]...)
	}
	var b []byte
	if !anyEnd {
		b = op(b, bcSEq, 8, 12)
		return op(b, 0, 0, port)
	}
	b = op(b, bcSEq, 8, 12) // false: skip this test and the JMP
	b = op(b, 0, 0, port)
	b = op(b, bcJmp, 4, 12) // reached when sport matched: jump to the end
	b = op(b, bcDEq, 8, 12)
	return op(b, 0, 0, port)
}

var errShortDiag = errors.New("inet_diag message too short")

// parseDiagMsg decodes one inet_diag_msg and its attributes (the payload of
// one netlink message) into a Socket. proto is "tcp" or "udp": the reply
// does not say, the request did.
func parseDiagMsg(b []byte, proto string) (Socket, error) {
	if len(b) < diagMsgLen {
		return Socket{}, fmt.Errorf("parse inet_diag: %w (%d bytes)", errShortDiag, len(b))
	}
	s := Socket{
		Protocol:   proto,
		State:      stateName(proto, b[1]),
		LocalPort:  binary.BigEndian.Uint16(b[4:]),
		RemotePort: binary.BigEndian.Uint16(b[6:]),
		UID:        binary.NativeEndian.Uint32(b[64:]),
		Inode:      uint64(binary.NativeEndian.Uint32(b[68:])),
	}
	switch b[0] {
	case afInet:
		s.Family = "inet"
		s.LocalAddr = netip.AddrFrom4([4]byte(b[8:12]))
		s.RemoteAddr = netip.AddrFrom4([4]byte(b[24:28]))
	case afInet6:
		s.Family = "inet6"
		s.LocalAddr = netip.AddrFrom16([16]byte(b[8:24]))
		s.RemoteAddr = netip.AddrFrom16([16]byte(b[24:40]))
	default:
		return Socket{}, fmt.Errorf("parse inet_diag: unknown family %d", b[0])
	}
	for a := b[diagMsgLen:]; len(a) >= 4; {
		n := int(binary.NativeEndian.Uint16(a))
		typ := binary.NativeEndian.Uint16(a[2:]) & 0x3fff // drop NLA_F_NESTED/NET_BYTEORDER
		if n < 4 || n > len(a) {
			return Socket{}, fmt.Errorf("parse inet_diag: bad attribute length %d", n)
		}
		if typ == attrSKV6Only && n >= 5 {
			s.V6Only = a[4] != 0
		}
		n = (n + 3) &^ 3
		if n >= len(a) {
			break
		}
		a = a[n:]
	}
	return s, nil
}

const (
	nlmsgHdrLen = 16
	nlmsgError  = 2 // NLMSG_ERROR
	nlmsgDone   = 3 // NLMSG_DONE
)

// parseDiagDump appends the sockets in one datagram of a SOCK_DIAG_BY_FAMILY
// dump reply to out, and says whether it held the end of the dump. Messages
// with another sequence number (left over from an abandoned dump) are
// skipped. An NLMSG_ERROR, or an NLMSG_DONE carrying a negative errno, ends
// the dump with that errno.
func parseDiagDump(b []byte, seq uint32, proto string, ns NetNS, out []Socket) ([]Socket, bool, error) {
	for len(b) >= nlmsgHdrLen {
		n := binary.NativeEndian.Uint32(b[0:])
		typ := binary.NativeEndian.Uint16(b[4:])
		mseq := binary.NativeEndian.Uint32(b[8:])
		if n < nlmsgHdrLen || uint64(n) > uint64(len(b)) {
			return out, false, fmt.Errorf("parse netlink: message length %d in %d bytes", n, len(b))
		}
		payload := b[nlmsgHdrLen:n]
		b = b[min((uint64(n)+3)&^3, uint64(len(b))):]
		if mseq != seq {
			continue
		}
		switch typ {
		case nlmsgDone, nlmsgError:
			if len(payload) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(payload)); e < 0 {
					return out, true, fmt.Errorf("sock_diag %s dump: %w", proto, syscall.Errno(-e))
				}
			}
			if typ == nlmsgDone {
				return out, true, nil
			}
		case sockDiagByFamily:
			s, err := parseDiagMsg(payload, proto)
			if err != nil {
				return out, false, err
			}
			s.NetNS = ns
			out = append(out, s)
		}
	}
	return out, false, nil
}
