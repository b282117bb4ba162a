package probe

// Faithful fake peers for the binary and UDP protocol tests: real sockets
// on 127.0.0.1:0 that check each request is well formed and answer with
// bytes captured from real servers (testdata/), patched only where the
// protocol echoes a field of the request (ids, timestamps).

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// binStep is one exchange of a scripted TCP peer: read one request framed
// by frame (nil: read nothing, the server speaks first), then write what
// reply returns for it.
type binStep struct {
	frame func([]byte) (int, error)
	check func(req []byte) error
	reply func(req []byte) []byte
}

func fixed(b []byte) func([]byte) []byte { return func([]byte) []byte { return b } }

// binServeTCP serves one scripted exchange per connection and then waits
// for the client to close, like a server would. It returns the address.
func binServeTCP(t *testing.T, steps ...binStep) string {
	t.Helper()
	return binServeConn(t, func(c net.Conn) { binRunSteps(t, c, steps) })
}

// binServeConn runs handle on each connection accepted on 127.0.0.1:0,
// then drains the connection until the client closes it.
func binServeConn(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a stuck test must not hang
				handle(c)
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

func binRunSteps(t *testing.T, c net.Conn, steps []binStep) {
	for i, s := range steps {
		var req []byte
		if s.frame != nil {
			var err error
			req, err = readFramed(c, s.frame)
			if err != nil {
				t.Errorf("fake peer step %d: read request: %v", i, err)
				return
			}
			if s.check != nil {
				if err := s.check(req); err != nil {
					t.Errorf("fake peer step %d: bad request %q: %v", i, req, err)
					return
				}
			}
		}
		if s.reply == nil {
			continue
		}
		if _, err := c.Write(s.reply(req)); err != nil {
			return // the client may legitimately hang up early
		}
	}
}

// binServeUDP answers each datagram with what reply returns (zero or more
// datagrams). It returns the address.
func binServeUDP(t *testing.T, reply func(req []byte) [][]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, d := range reply(append([]byte(nil), buf[:n]...)) {
				_, _ = pc.WriteTo(d, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().String()
}

// binProbe dials addr and runs probe on the connection with a generous
// deadline, as the engine would.
func binProbe(t *testing.T, network, addr string, timeout time.Duration, probe func(context.Context, net.Conn) (Match, bool, error)) (Match, bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, _ := ctx.Deadline()
	_ = c.SetDeadline(d)
	return probe(ctx, c)
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// addTestdataSeeds seeds a fuzz target with the named testdata files.
func addTestdataSeeds(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(readTestdata(f, n))
	}
}

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
