//go:build darwin || windows

package sockets

// The portable listing for macOS and Windows, through gopsutil (lsof on
// macOS, the IP Helper tables on Windows). These systems expose no socket
// inode, so each socket gets a stable stand-in (portableID) and the Scanner
// keeps which pids the OS reported for it; Owners answers from the Scans
// made on the same Scanner.

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	gnet "github.com/shirou/gopsutil/v4/net"
)

type osState struct {
	mu      sync.Mutex
	holders map[uint64][]int
}

// Scan lists sockets through the OS. Socket.Inode is portableID's stand-in,
// not a kernel inode: stable while the socket lives, and known to this
// Scanner's Owners. Namespaces do not exist here, so every socket is the
// host's.
func (s *Scanner) Scan(ctx context.Context, q Query) (Result, error) {
	if s.Backend != "" && s.Backend != BackendOS {
		return Result{}, fmt.Errorf("list sockets: backend %q is not available on this system", s.Backend)
	}
	kind := "inet"
	if ps := protocols(q); len(ps) == 1 {
		kind = ps[0]
	}
	conns, err := gnet.ConnectionsWithContext(ctx, kind)
	if err != nil {
		return Result{}, fmt.Errorf("list sockets: %w", err)
	}
	f := newFilter(q)
	type key struct {
		proto, state string
		laddr, raddr netip.AddrPort
	}
	index := make(map[key]int)
	holders := make(map[uint64][]int)
	inodes := make([]uint64, 0, len(conns))
	var out []Socket
	for _, c := range conns {
		proto := "tcp"
		if c.Type == sockDgram {
			proto = "udp"
		}
		v4 := c.Family == afInet // AF_INET is 2 on both systems
		laddr, ok := portableAddr(c.Laddr.IP, v4)
		if !ok {
			continue
		}
		raddr, ok := portableAddr(c.Raddr.IP, v4)
		if !ok {
			continue
		}
		st := portableState(proto, c.Status, c.Raddr.Port != 0)
		if !f.match(proto, st, uint16(c.Laddr.Port), uint16(c.Raddr.Port)) {
			continue
		}
		k := key{proto, stateName(proto, st), netip.AddrPortFrom(laddr, uint16(c.Laddr.Port)), netip.AddrPortFrom(raddr, uint16(c.Raddr.Port))}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			inodes = append(inodes, portableID(proto, k.state, k.laddr, k.raddr))
			sk := Socket{
				Protocol: proto, Family: "inet",
				LocalAddr: laddr, LocalPort: uint16(c.Laddr.Port),
				RemoteAddr: raddr, RemotePort: uint16(c.Raddr.Port),
				State: k.state, Inode: inodes[i],
				NetNS: NetNS{Host: true, Label: "host"},
			}
			if laddr.Is6() {
				sk.Family = "inet6"
			}
			if len(c.Uids) > 0 && c.Uids[0] >= 0 {
				sk.UID = uint32(c.Uids[0])
			}
			out = append(out, sk)
		}
		if c.Pid > 0 {
			ino := inodes[i]
			if !slices.Contains(holders[ino], int(c.Pid)) {
				holders[ino] = append(holders[ino], int(c.Pid))
			}
		}
	}
	// A full listing replaces what is known; a listing of one port (a
	// caller may ask for several in a row) adds to it.
	s.os.mu.Lock()
	if q.Port == 0 || s.os.holders == nil {
		s.os.holders = holders
	} else {
		for ino, ps := range holders {
			s.os.holders[ino] = ps
		}
	}
	s.os.mu.Unlock()
	host := NetNS{Host: true, Label: "host"}
	return Result{Sockets: out, Backend: BackendOS, Namespaces: []Namespace{{NetNS: host}}}, nil
}

// Owners answers from this Scanner's Scans: the OS reported pids with
// sockets, so List must come first.
func (s *Scanner) Owners(ctx context.Context, inodes map[uint64]struct{}) (Owners, error) {
	o := Owners{Holders: make(map[uint64][]int), Root: privileged()}
	s.os.mu.Lock()
	defer s.os.mu.Unlock()
	for ino := range inodes {
		if ps := s.os.holders[ino]; len(ps) > 0 {
			ps = slices.Clone(ps)
			slices.Sort(ps)
			o.Holders[ino] = ps
		}
	}
	return o, ctx.Err()
}
