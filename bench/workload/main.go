//go:build unix

// Command workload fills this host with sockets for benchmarks: TCP
// listeners, UDP sockets and established loopback connections, spread over
// many processes, so that portwho, ss, lsof and netstat can be timed on the
// same picture. It is bounded: it exits by itself after --duration, when its
// stdin closes, or on SIGTERM/SIGINT, and its children go with it.
//
// The parent opens every socket itself and hands each child its share as
// inherited descriptors (re-exec of this binary with -hold), then closes its
// own copies: each socket has exactly one holder, in a process that does
// nothing but wait. All addresses are in 127.SUBNET.0.0/16 and ports in
// [--base-port, 32000), below the kernel's ephemeral range, so the workload
// neither collides with other programs on 127.0.0.1 nor with the ephemeral
// ports its own client ends take.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

type config struct {
	procs, listeners, udp, conns int
	basePort                     int
	subnet                       int
	duration                     time.Duration
}

func main() {
	var c config
	hold := flag.Bool("hold", false, "internal: hold inherited sockets until stdin closes")
	shape := flag.String("shape", "many-sockets", "many-sockets (200 processes, 17,000 sockets) or many-procs (600 processes, 2,000 sockets)")
	flag.IntVar(&c.procs, "procs", 0, "processes holding the sockets (0: from --shape)")
	flag.IntVar(&c.listeners, "listeners", -1, "TCP listeners (-1: from --shape)")
	flag.IntVar(&c.udp, "udp", -1, "UDP sockets (-1: from --shape)")
	flag.IntVar(&c.conns, "conns", -1, "established loopback TCP connections, two sockets each (-1: from --shape)")
	flag.IntVar(&c.basePort, "base-port", 20000, "first port used")
	flag.IntVar(&c.subnet, "subnet", 77, "use addresses 127.SUBNET.x.y, so two workloads can run side by side")
	flag.DurationVar(&c.duration, "duration", 10*time.Minute, "exit after this long")
	flag.Parse()
	if *hold {
		holdMain(c.duration)
		return
	}
	if err := applyShape(&c, *shape); err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(2)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(1)
	}
}

func applyShape(c *config, shape string) error {
	var d config
	switch shape {
	case "many-sockets":
		d = config{procs: 200, listeners: 5000, udp: 2000, conns: 5000}
	case "many-procs":
		// 1,000 + 400 + 2×300 = 2,000 sockets over 600 processes: the
		// per-process cost of an owner walk dominates.
		d = config{procs: 600, listeners: 1000, udp: 400, conns: 300}
	default:
		return fmt.Errorf("unknown shape %q", shape)
	}
	if c.procs <= 0 {
		c.procs = d.procs
	}
	if c.listeners < 0 {
		c.listeners = d.listeners
	}
	if c.udp < 0 {
		c.udp = d.udp
	}
	if c.conns < 0 {
		c.conns = d.conns
	}
	if c.conns > 0 && c.listeners < c.procs {
		return errors.New("connections need at least one listener per process")
	}
	if c.subnet < 1 || c.subnet > 254 {
		return errors.New("--subnet must be in 1..254")
	}
	if c.basePort <= 1024 || c.basePort >= 32000 {
		return errors.New("--base-port must be in (1024, 32000)")
	}
	return nil
}

// portsPerAddr keeps every port in [basePort, 32000) by moving to the next
// loopback address when one is full.
func portsPerAddr(c config) int { return 32000 - c.basePort }

// endpoint is the i-th address:port of the workload.
func endpoint(c config, i int) netip.AddrPort {
	per := portsPerAddr(c)
	a := i / per
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(c.subnet), byte(a >> 8), byte(a&0xff) + 1}), uint16(c.basePort+i%per))
}

// share returns the half-open range of n items child i of p gets.
func share(n, p, i int) (int, int) { return n * i / p, n * (i + 1) / p }

func raiseNoFile() {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}

func run(c config) error {
	raiseNoFile()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)

	var children []*exec.Cmd
	var pipes []io.Closer
	defer func() {
		// Closing a child's stdin tells it to exit; wait so none is left.
		for _, p := range pipes {
			p.Close()
		}
		for _, ch := range children {
			ch.Wait()
		}
	}()
	sample := 0
	start := time.Now()
	for i := 0; i < c.procs; i++ {
		select {
		case s := <-sig:
			return fmt.Errorf("stopped by %v while starting", s)
		default:
		}
		files, firstPort, err := openShare(c, i)
		if err != nil {
			closeAll(files)
			return fmt.Errorf("child %d: %w", i, err)
		}
		if i == 0 {
			sample = firstPort
		}
		cmd := exec.Command(self, "-hold", "-duration", c.duration.String())
		cmd.ExtraFiles = files
		cmd.Stderr = os.Stderr
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "GOGC=off")
		w, err := cmd.StdinPipe()
		if err != nil {
			closeAll(files)
			return err
		}
		if err := cmd.Start(); err != nil {
			closeAll(files)
			return fmt.Errorf("start child %d: %w", i, err)
		}
		closeAll(files) // the child holds them now
		children = append(children, cmd)
		pipes = append(pipes, w)
	}
	fmt.Printf("ready processes=%d tcp_listeners=%d udp=%d connections=%d sockets=%d subnet=127.%d.0.0/16 sample_port=%d parent=%d setup=%s\n",
		c.procs, c.listeners, c.udp, c.conns, c.listeners+c.udp+2*c.conns, c.subnet, sample, os.Getpid(), time.Since(start).Round(time.Millisecond))

	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-time.After(c.duration):
	case <-stdinClosed:
	case <-sig:
	}
	return nil
}

// openShare opens child i's sockets and returns them as files to inherit,
// with the port of its first TCP listener.
func openShare(c config, i int) ([]*os.File, int, error) {
	var files []*os.File
	var lns []*net.TCPListener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	lo, hi := share(c.listeners, c.procs, i)
	first := 0
	for j := lo; j < hi; j++ {
		ep := endpoint(c, j)
		ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(ep))
		if err != nil {
			return files, 0, err
		}
		if first == 0 {
			first = int(ep.Port())
		}
		lns = append(lns, ln)
		f, err := ln.File()
		if err != nil {
			return files, 0, err
		}
		files = append(files, f)
	}
	ulo, uhi := share(c.udp, c.procs, i)
	for j := ulo; j < uhi; j++ {
		conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(endpoint(c, j)))
		if err != nil {
			return files, 0, err
		}
		f, err := conn.File()
		conn.Close()
		if err != nil {
			return files, 0, err
		}
		files = append(files, f)
	}
	clo, chi := share(c.conns, c.procs, i)
	for k := clo; k < chi; k++ {
		ln := lns[(k-clo)%len(lns)]
		client, err := net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
		if err != nil {
			return files, 0, err
		}
		server, err := ln.AcceptTCP()
		if err != nil {
			client.Close()
			return files, 0, err
		}
		for _, conn := range []*net.TCPConn{client, server} {
			f, err := conn.File()
			conn.Close()
			if err != nil {
				return files, 0, err
			}
			files = append(files, f)
		}
	}
	return files, first, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// holdMain keeps the inherited descriptors open, doing nothing, until the
// parent closes our stdin (or dies), a signal arrives, or time runs out.
func holdMain(d time.Duration) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		r := bufio.NewReader(os.Stdin)
		r.WriteTo(io.Discard)
		close(done)
	}()
	select {
	case <-done:
	case <-sig:
	case <-time.After(d):
	}
	os.Exit(0)
}
