package sockets

// The Linux listing: one sock_diag dump per (protocol, family) and network
// namespace, falling back to /proc/net where netlink is refused.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// osState is empty on Linux: sockets carry real inodes.
type osState struct{}

// Scan returns the sockets q selects and which backend produced them.
func (s *Scanner) Scan(ctx context.Context, q Query) (Result, error) {
	switch s.Backend {
	case "", BackendNetlink, BackendProcNet:
	default:
		return Result{}, fmt.Errorf("list sockets: unknown backend %q", s.Backend)
	}
	targets, err := s.namespaces(q.AllNamespaces)
	if err != nil {
		return Result{}, fmt.Errorf("list sockets: %w", err)
	}
	f := newFilter(q)
	var res Result
	var usedNetlink, usedProcNet bool
	for _, t := range targets {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		socks, backend, err := s.scanNS(ctx, t, q, f, res.Sockets)
		if err != nil {
			if t.self {
				return res, fmt.Errorf("list sockets: %w", err)
			}
			if !vanished(err) {
				res.Skipped = append(res.Skipped, fmt.Errorf("netns %s: %w", t.ns.Label, err))
			}
			continue
		}
		res.Sockets = socks
		res.Namespaces = append(res.Namespaces, Namespace{NetNS: t.ns, PID: t.pid})
		if backend == BackendNetlink {
			usedNetlink = true
		} else {
			usedProcNet = true
		}
	}
	switch {
	case usedNetlink && usedProcNet:
		res.Backend = BackendNetlink + "+" + BackendProcNet
	case usedProcNet:
		res.Backend = BackendProcNet
	default:
		res.Backend = BackendNetlink
	}
	return res, nil
}

// scanNS appends one namespace's sockets to out, with the backend the
// Scanner allows. Appending to one slice saves copying every namespace's.
func (s *Scanner) scanNS(ctx context.Context, t nsTarget, q Query, f filter, out []Socket) ([]Socket, string, error) {
	n := len(out)
	if s.Backend != BackendProcNet {
		out, err := s.dumpNetlink(ctx, t, q, f, out)
		if err == nil || s.Backend == BackendNetlink || !refused(err) {
			return out, BackendNetlink, err
		}
	}
	socks, err := s.readProcNet(t, q, f)
	return append(out[:n], socks...), BackendProcNet, err
}

// refused reports errors that mean "netlink sock_diag is not available
// here" (seccomp, missing inet_diag modules, a sandboxed kernel) rather than
// a failure of this particular dump.
func refused(err error) bool {
	for _, e := range []error{unix.EPERM, unix.EACCES, unix.EPROTONOSUPPORT, unix.EAFNOSUPPORT,
		unix.ENOENT, unix.EOPNOTSUPP, unix.ENOSYS} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// vanished reports errors that only mean a process or namespace went away.
func vanished(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}

// dumpNetlink runs the dumps for one namespace on one netlink socket. A
// namespace other than ours is entered only for the socket's creation
// (netlink.Config.NetNS), never by this process.
func (s *Scanner) dumpNetlink(ctx context.Context, t nsTarget, q Query, f filter, out []Socket) ([]Socket, error) {
	cfg := &netlink.Config{}
	if !t.self {
		nsf, err := os.Open(t.path)
		if err != nil {
			return nil, fmt.Errorf("open netns: %w", err)
		}
		defer nsf.Close()
		cfg.NetNS = int(nsf.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, cfg)
	if err != nil {
		return nil, fmt.Errorf("dial sock_diag: %w", err)
	}
	defer c.Close()
	// Cancelling ctx unblocks a pending read through the deadline.
	if d, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(d); err != nil {
			return nil, fmt.Errorf("set deadline: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("dial sock_diag: %w", err)
	}
	// Replies are read here rather than through Conn.Receive, which copies
	// every datagram into a fresh buffer: one 32 KiB buffer serves the
	// whole dump. Reading 32 KiB from the start also makes the kernel fill
	// 32 KiB datagrams (it sizes them after the largest read it has seen),
	// eight times fewer round trips than the one-page default; it never
	// sends a larger one.
	buf := make([]byte, 32<<10)
	for _, proto := range protocols(q) {
		for _, fam := range [...]uint8{afInet, afInet6} {
			req := netlink.Message{
				Header: netlink.Header{Type: sockDiagByFamily, Flags: netlink.Request | netlink.Dump},
				Data:   diagRequest(fam, proto, f),
			}
			sent, err := c.Send(req)
			if err != nil {
				return nil, fmt.Errorf("send %s dump: %w", proto, err)
			}
			// A dump spans as many datagrams as it needs, up to NLMSG_DONE.
			for done := false; !done; {
				var n int
				var rerr error
				err := rc.Read(func(fd uintptr) bool {
					n, rerr = unix.Read(int(fd), buf)
					return rerr != unix.EAGAIN // not ready: wait in the poller
				})
				if err == nil {
					err = rerr
				}
				if err != nil {
					return nil, fmt.Errorf("receive %s dump: %w", proto, err)
				}
				if n == 0 {
					return nil, fmt.Errorf("receive %s dump: %w", proto, io.ErrUnexpectedEOF)
				}
				// Grow by doubling, not append's 1.25x for large slices:
				// half the garbage on a 15,000-socket dump.
				if cap(out)-len(out) < n/diagMsgLen {
					out = slices.Grow(out, max(len(out), 1024))
				}
				out, done, err = parseDiagDump(buf[:n], sent.Header.Sequence, proto, t.ns, out)
				if err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}
