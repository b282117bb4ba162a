package sockets

// Kernel socket states (include/net/tcp_states.h); UDP reuses them:
// an unconnected UDP socket is TCP_CLOSE, a connected one TCP_ESTABLISHED.
const (
	stateEstablished = 1
	stateSynSent     = 2
	stateSynRecv     = 3
	stateFinWait1    = 4
	stateFinWait2    = 5
	stateTimeWait    = 6
	stateClose       = 7
	stateCloseWait   = 8
	stateLastAck     = 9
	stateListen      = 10
	stateClosing     = 11
	stateNewSynRecv  = 12 // a request socket; ss shows it as SYN-RECV
)

// stateNames uses ss's vocabulary.
var stateNames = [...]string{
	stateEstablished: "ESTAB",
	stateSynSent:     "SYN-SENT",
	stateSynRecv:     "SYN-RECV",
	stateFinWait1:    "FIN-WAIT-1",
	stateFinWait2:    "FIN-WAIT-2",
	stateTimeWait:    "TIME-WAIT",
	stateClose:       "CLOSE",
	stateCloseWait:   "CLOSE-WAIT",
	stateLastAck:     "LAST-ACK",
	stateListen:      "LISTEN",
	stateClosing:     "CLOSING",
	stateNewSynRecv:  "SYN-RECV",
}

// stateName names a kernel state. A UDP socket in TCP_CLOSE is simply not
// connected, which ss calls UNCONN; a TCP socket in TCP_CLOSE is CLOSE.
func stateName(proto string, st uint8) string {
	if proto == "udp" && st == stateClose {
		return "UNCONN"
	}
	if int(st) < len(stateNames) && stateNames[st] != "" {
		return stateNames[st]
	}
	return "UNKNOWN"
}

// filter is a Query reduced to what both backends test per socket: a state
// bitmask (bit n = kernel state n, as in inet_diag's idiag_states) and a port.
type filter struct {
	tcpStates uint32
	udpStates uint32
	port      uint16
	// anyEnd matches the port at either end; listeners only need the local one.
	anyEnd bool
}

const allStates = 1<<13 - 1

func newFilter(q Query) filter {
	f := filter{tcpStates: 1 << stateListen, udpStates: 1 << stateClose, port: q.Port}
	if q.All {
		f.tcpStates, f.udpStates, f.anyEnd = allStates, allStates, true
	}
	return f
}

func (f filter) states(proto string) uint32 {
	if proto == "udp" {
		return f.udpStates
	}
	return f.tcpStates
}

func (f filter) match(proto string, st uint8, lport, rport uint16) bool {
	if st > 31 || f.states(proto)&(1<<st) == 0 {
		return false
	}
	if f.port == 0 || lport == f.port {
		return true
	}
	return f.anyEnd && rport == f.port
}

// protocols lists the protocols q asks for.
func protocols(q Query) []string {
	switch {
	case q.TCP && !q.UDP:
		return []string{"tcp"}
	case q.UDP && !q.TCP:
		return []string{"udp"}
	}
	return []string{"tcp", "udp"}
}
