// Package sockets enumerates the host's TCP and UDP sockets (netlink
// sock_diag on Linux, /proc/net as the fallback, OS APIs elsewhere), in
// every network namespace, and maps socket inodes to the pids that hold them.
package sockets

import "net/netip"

// Socket is one kernel socket as the kernel reports it: no process context.
type Socket struct {
	Protocol   string     `json:"protocol"` // "tcp" or "udp"
	Family     string     `json:"family"`   // "inet" or "inet6"
	LocalAddr  netip.Addr `json:"local_address"`
	LocalPort  uint16     `json:"local_port"`
	RemoteAddr netip.Addr `json:"remote_address"`
	RemotePort uint16     `json:"remote_port"`
	// State is ss's vocabulary: LISTEN, ESTAB, UNCONN, TIME-WAIT, SYN-SENT, ...
	State string `json:"state"`
	// UID owns the socket (the creator's effective uid).
	UID uint32 `json:"uid"`
	// Inode is the socket's inode in sockfs; 0 for sockets with no file
	// (TIME-WAIT, some kernel sockets).
	Inode uint64 `json:"inode"`
	// V6Only is set for an AF_INET6 socket bound to :: that refuses IPv4;
	// a wildcard :: without it is dual-stack.
	V6Only bool  `json:"v6only,omitempty"`
	NetNS  NetNS `json:"netns"`
}

// NetNS identifies a network namespace.
type NetNS struct {
	// Inode is the namespace's inode (as in /proc/PID/ns/net -> net:[N]).
	Inode uint64 `json:"inode"`
	// Host is true for the namespace of pid 1.
	Host bool `json:"host"`
	// Label names it for people: "host", an `ip netns` name, or the
	// container holding it.
	Label string `json:"label"`
}

// Query selects sockets. The zero value asks for listening TCP and UDP
// sockets on any port in the host's namespace.
type Query struct {
	// All asks for every state, not only listeners (LISTEN for TCP; UDP
	// sockets that are not connected count as listening).
	All bool
	// Port, when not 0, keeps only sockets whose local or remote port is Port.
	Port uint16
	// TCP and UDP choose protocols; both false means both.
	TCP, UDP bool
	// AllNamespaces also lists sockets in every other network namespace
	// found under /proc/*/ns/net (needs root).
	AllNamespaces bool
}
