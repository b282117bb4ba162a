package probe

// Echo services reflect whatever they are sent, so every probe's request
// comes back as a "reply" in the very protocol the probe speaks: an AMQP
// header answered by an AMQP header, a DNS query by a DNS message. The
// engine records the first bytes each probe writes and reads; when a reply
// starts as a copy of the request, it asks the peer once more with bytes
// no protocol would answer in kind (a random nonce) before it believes
// either the probe or the echo.

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"sync"
	"time"
)

// echoRecord is how much of each direction recConn keeps; echoMin is the
// shortest reflection that raises suspicion.
const (
	echoRecord = 512
	echoMin    = 4
)

// recConn records the first bytes written to and read from a connection.
type recConn struct {
	net.Conn
	mu      sync.Mutex
	wrote   []byte
	read    []byte
	nread   int
	readAny bool
}

func (c *recConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	if room := echoRecord - len(c.wrote); room > 0 {
		c.wrote = append(c.wrote, b[:min(n, room)]...)
	}
	c.mu.Unlock()
	return n, err
}

func (c *recConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	if n > 0 {
		c.readAny = true
		c.nread += n
		if room := echoRecord - len(c.read); room > 0 {
			c.read = append(c.read, b[:min(n, room)]...)
		}
	}
	c.mu.Unlock()
	return n, err
}

// reflected is true when what came back so far is a copy of what was sent
// (or the other way round): the shape of an echo, not yet its proof.
func (c *recConn) reflected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := min(len(c.wrote), len(c.read))
	return n >= echoMin && bytes.Equal(c.wrote[:n], c.read[:n])
}

// received returns a copy of the first bytes read, nil when none came.
func (c *recConn) received() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readAny {
		return nil
	}
	return append([]byte(nil), c.read...)
}

func echoMatch() Match {
	return Match{Service: "echo", Method: "native:echo", Certain: true,
		Info: "returns the bytes it is sent"}
}

// echoVerdict is the cached result of the one nonce test of a target.
type echoVerdict struct {
	once sync.Once
	echo bool
}

// isEcho sends a random nonce on a new connection (or socket) and is true
// when exactly the nonce comes back. It runs at most once per target, on
// the first suspicion; later callers share its answer.
func (r *run) isEcho(ctx context.Context, network string) bool {
	v := &r.echoTCP
	if network == "udp" {
		v = &r.echoUDP
	}
	v.once.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, r.slice(2))
		defer cancel()
		c, err := r.dial(ctx, network)
		if err != nil {
			return
		}
		defer closeConn(c)
		stop := withCtx(ctx, c)
		defer stop()
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl)
		}
		var id [12]byte
		for i := 0; i < len(id); i += 4 {
			u := randomUint32()
			id[i], id[i+1], id[i+2], id[i+3] = byte(u>>24), byte(u>>16), byte(u>>8), byte(u)
		}
		nonce := []byte("portwho-echo-" + hex.EncodeToString(id[:]) + "\r\n")
		if _, err := c.Write(nonce); err != nil {
			return
		}
		got, err := readFramed(c, frameExact(len(nonce)))
		if err != nil || !bytes.Equal(got, nonce) {
			return
		}
		// A console that echoes what is typed says more after the line
		// (a prompt, "unknown command"); an echo service says nothing.
		_ = c.SetReadDeadline(time.Now().Add(idleGap))
		var more [64]byte
		n, _ := c.Read(more[:])
		v.echo = n == 0
	})
	return v.echo
}
