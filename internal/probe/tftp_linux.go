package probe

import (
	"context"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// tftpSockets opens the TFTP probe's two sockets on one local port, both
// with SO_REUSEPORT: recv is unconnected and takes the reply from the
// server's new port; send is connected to the target, so that it is the
// one the kernel hands an ICMP port unreachable to (as ECONNREFUSED). A
// connected socket is preferred for datagrams from its own peer, and never
// receives from another port, so each datagram reaches exactly one of them.
func tftpSockets(ctx context.Context, local, target *net.UDPAddr) (recv, send *net.UDPConn, err error) {
	control := func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}
	network := "udp4"
	if target.IP.To4() == nil {
		network = "udp6"
	}
	laddr := &net.UDPAddr{}
	if local != nil {
		laddr.IP, laddr.Zone = local.IP, local.Zone
	}
	lc := net.ListenConfig{Control: control}
	pc, err := lc.ListenPacket(ctx, network, laddr.String())
	if err != nil {
		return nil, nil, err
	}
	recv = pc.(*net.UDPConn)
	d := net.Dialer{LocalAddr: recv.LocalAddr(), Control: control}
	c, err := d.DialContext(ctx, network, target.String())
	if err != nil {
		recv.Close()
		return nil, nil, err
	}
	return recv, c.(*net.UDPConn), nil
}
