//go:build !linux

package probe

import (
	"context"
	"net"
)

// tftpSockets opens one unconnected socket: the reply from the server's new
// port reaches it, but an ICMP port unreachable does not, so a closed port
// costs the TFTP probe its deadline here (SO_REUSEPORT does not share
// datagrams between a connected and an unconnected socket portably).
func tftpSockets(_ context.Context, local, target *net.UDPAddr) (recv, send *net.UDPConn, err error) {
	network := "udp4"
	if target.IP.To4() == nil {
		network = "udp6"
	}
	laddr := &net.UDPAddr{}
	if local != nil {
		laddr.IP, laddr.Zone = local.IP, local.Zone
	}
	recv, err = net.ListenUDP(network, laddr)
	return recv, nil, err
}
