package sockets

// Helpers for the portable (gopsutil) listing, kept free of build tags so
// they are tested on every OS.

import (
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"strings"
)

const sockDgram = 2 // SOCK_DGRAM on macOS and Windows alike

// portableAddr reads an address as lsof or Windows print it: "" or "*" is
// the wildcard of the socket's family, IPv6 may come in brackets or with a
// zone.
func portableAddr(s string, v4 bool) (netip.Addr, bool) {
	if s == "" || s == "*" {
		if v4 {
			return netip.IPv4Unspecified(), true
		}
		return netip.IPv6Unspecified(), true
	}
	a, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone(""), true
}

// portableState maps the statuses lsof and Windows print to kernel states,
// so the Linux filter and names apply unchanged. UDP has no status there:
// a remote port means connected.
func portableState(proto, status string, connected bool) uint8 {
	if proto == "udp" {
		if connected {
			return stateEstablished
		}
		return stateClose
	}
	switch strings.ReplaceAll(strings.ToUpper(status), "_", "") {
	case "LISTEN":
		return stateListen
	case "ESTABLISHED":
		return stateEstablished
	case "SYNSENT":
		return stateSynSent
	case "SYNRECEIVED", "SYNRECV":
		return stateSynRecv
	case "FINWAIT1":
		return stateFinWait1
	case "FINWAIT2":
		return stateFinWait2
	case "TIMEWAIT":
		return stateTimeWait
	case "CLOSEWAIT":
		return stateCloseWait
	case "LASTACK":
		return stateLastAck
	case "CLOSING":
		return stateClosing
	}
	return stateClose
}

// portableID stands in for a socket inode where the OS shows none: a hash
// of what identifies the socket, with the top bit set so it is never 0 and
// never a real Linux inode (those fit in 32 bits).
func portableID(proto, state string, local, remote netip.AddrPort) uint64 {
	h := fnv.New64a()
	h.Write([]byte(proto))
	h.Write([]byte{0})
	h.Write([]byte(state))
	for _, ap := range [...]netip.AddrPort{local, remote} {
		a := ap.Addr().As16()
		h.Write(a[:])
		h.Write(binary.BigEndian.AppendUint16(nil, ap.Port()))
	}
	return h.Sum64() | 1<<63
}
