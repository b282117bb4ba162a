package sockets

// Parsing of /proc/net/{tcp,tcp6,udp,udp6}: pure, so it is table-tested on
// captured files and fuzzed on any OS.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// procNetFields is how many leading fields of a row we need: sl, local,
// remote, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode.
const procNetFields = 10

// parseProcNet reads one /proc/net table for proto ("tcp" or "udp") and
// keeps the rows f matches. Addresses are printed by the kernel as 32-bit
// words in host byte order, so they are decoded with the native order: the
// captured files in testdata come from little-endian machines.
func parseProcNet(r io.Reader, proto string, f filter) ([]Socket, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out []Socket
	var fields [procNetFields][]byte
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return out, fmt.Errorf("parse /proc/net/%s line %d: line too long", proto, lineNo)
		}
		if len(line) > 0 && lineNo > 1 {
			if s, ok, perr := parseProcNetLine(line, proto, f, &fields); perr != nil {
				return out, fmt.Errorf("parse /proc/net/%s line %d: %w", proto, lineNo, perr)
			} else if ok {
				out = append(out, s)
			}
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("read /proc/net/%s: %w", proto, err)
		}
	}
}

var errProcNetRow = errors.New("malformed row")

func parseProcNetLine(line []byte, proto string, f filter, fields *[procNetFields][]byte) (Socket, bool, error) {
	n := 0
	for i := 0; i < len(line) && n < procNetFields; {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\n') {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\n' {
			j++
		}
		if j > i {
			fields[n] = line[i:j]
			n++
		}
		i = j
	}
	if n == 0 {
		return Socket{}, false, nil // blank line
	}
	if n < procNetFields {
		return Socket{}, false, fmt.Errorf("%w: %d fields", errProcNetRow, n)
	}
	st, ok := hexUint(fields[3])
	if !ok || st > 0xff {
		return Socket{}, false, fmt.Errorf("%w: state %q", errProcNetRow, fields[3])
	}
	laddr, lport, err := parseHexAddrPort(fields[1])
	if err != nil {
		return Socket{}, false, err
	}
	raddr, rport, err := parseHexAddrPort(fields[2])
	if err != nil {
		return Socket{}, false, err
	}
	if laddr.Is4() != raddr.Is4() {
		return Socket{}, false, fmt.Errorf("%w: mixed address families", errProcNetRow)
	}
	if !f.match(proto, uint8(st), lport, rport) {
		return Socket{}, false, nil
	}
	uid, ok := decUint(fields[7])
	if !ok || uid > 1<<32-1 {
		return Socket{}, false, fmt.Errorf("%w: uid %q", errProcNetRow, fields[7])
	}
	inode, ok := decUint(fields[9])
	if !ok {
		return Socket{}, false, fmt.Errorf("%w: inode %q", errProcNetRow, fields[9])
	}
	s := Socket{
		Protocol:   proto,
		Family:     "inet",
		LocalAddr:  laddr,
		LocalPort:  lport,
		RemoteAddr: raddr,
		RemotePort: rport,
		State:      stateName(proto, uint8(st)),
		UID:        uint32(uid),
		Inode:      inode,
	}
	if laddr.Is6() {
		s.Family = "inet6"
	}
	return s, true, nil
}

// parseHexAddrPort decodes "0100007F:0277" (IPv4) or 32 hex digits then a
// port (IPv6).
func parseHexAddrPort(b []byte) (netip.Addr, uint16, error) {
	i := len(b) - 5
	if i < 0 || b[i] != ':' {
		return netip.Addr{}, 0, fmt.Errorf("%w: address %q", errProcNetRow, b)
	}
	port, ok := hexUint(b[i+1:])
	if !ok {
		return netip.Addr{}, 0, fmt.Errorf("%w: port %q", errProcNetRow, b)
	}
	hexAddr := b[:i]
	var raw [16]byte
	switch len(hexAddr) {
	case 8, 32:
	default:
		return netip.Addr{}, 0, fmt.Errorf("%w: address %q", errProcNetRow, b)
	}
	for w := 0; w*8 < len(hexAddr); w++ {
		v, ok := hexUint(hexAddr[w*8 : w*8+8])
		if !ok {
			return netip.Addr{}, 0, fmt.Errorf("%w: address %q", errProcNetRow, b)
		}
		binary.NativeEndian.PutUint32(raw[w*4:], uint32(v))
	}
	if len(hexAddr) == 8 {
		return netip.AddrFrom4([4]byte(raw[:4])), uint16(port), nil
	}
	return netip.AddrFrom16(raw), uint16(port), nil
}

// hexUint parses up to 8 hex digits without allocating.
func hexUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(c)
	}
	return v, true
}

// decUint parses a decimal number of up to 19 digits without allocating.
func decUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}
