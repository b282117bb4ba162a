package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// sock_diag multicast groups for destroyed TCP sockets (linux/sock_diag.h:
// SKNLGRP_INET_TCP_DESTROY = 1, SKNLGRP_INET6_TCP_DESTROY = 3), as a bind
// bitmask. UDP's groups are left out: an unconnected UDP client looks
// exactly like a UDP server once destroyed, so they would only add noise.
const tcpDestroyGroups = 1<<(1-1) | 1<<(3-1)

// DestroyWatch collects destroyed no-peer TCP sockets of this process's
// network namespace between looks. Joining the groups needs no capability
// (the family allows unprivileged multicast receive); a kernel that refuses
// makes Start fail, and the watcher goes on polling alone.
type DestroyWatch struct {
	mu      sync.Mutex
	pending []Destroyed
	lost    bool // the receive buffer overflowed: some were missed
	conn    *netlink.Conn
	done    chan struct{}
}

// Start subscribes and collects until ctx ends.
func (d *DestroyWatch) Start(ctx context.Context) error {
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, &netlink.Config{Groups: tcpDestroyGroups})
	if err != nil {
		return fmt.Errorf("subscribe to socket destruction: %w", err)
	}
	// Let only sockets with no remote port through, in the kernel: every
	// closed connection on the host would otherwise wake the daemon.
	// idiag_dport is at offset 16 (nlmsghdr) + 6.
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: nlmsgHdrLen + 6, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err == nil {
		err = c.SetBPF(prog)
	}
	if err != nil {
		c.Close()
		return fmt.Errorf("filter socket destruction: %w", err)
	}
	// A workload tearing down thousands of listeners at once would
	// overflow the default buffer; what overflows is reported, not fatal.
	_ = c.SetReadBuffer(4 << 20)
	d.conn = c
	d.done = make(chan struct{})
	go d.run()
	go func() {
		<-ctx.Done()
		c.SetReadDeadline(time.Now()) // unblocks Receive
	}()
	return nil
}

// Stop waits for the collector to finish after ctx ended.
func (d *DestroyWatch) Stop() {
	if d.done != nil {
		<-d.done
	}
}

func (d *DestroyWatch) run() {
	defer close(d.done)
	defer d.conn.Close()
	for {
		msgs, err := d.conn.Receive()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			if errors.Is(err, unix.ENOBUFS) {
				d.mu.Lock()
				d.lost = true
				d.mu.Unlock()
				continue
			}
			return
		}
		for _, m := range msgs {
			if m.Header.Type != sockDiagByFam {
				continue
			}
			// Rebuild the datagram form parseDestroyed reads.
			b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(m.Data))
			putHeader(b, len(m.Data)+nlmsgHdrLen, uint16(m.Header.Type))
			got, _ := parseDestroyed(append(b, m.Data...))
			if len(got) > 0 {
				d.mu.Lock()
				d.pending = append(d.pending, got...)
				d.mu.Unlock()
			}
		}
	}
}

// Drain returns what was collected since the last call, and whether the
// kernel dropped notifications meanwhile.
func (d *DestroyWatch) Drain() ([]Destroyed, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out, lost := d.pending, d.lost
	d.pending, d.lost = nil, false
	return out, lost
}

// Len is how many are waiting to be drained.
func (d *DestroyWatch) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}
