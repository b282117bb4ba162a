package probe

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProbeTCPEcho: a peer that reflects every byte is an echo service,
// not AMQP (whose header it reflects), HTTP, or anything else it mirrors.
func TestProbeTCPEcho(t *testing.T) {
	t.Parallel()
	tg := serveTCP(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
	r := probeOne(t, nil, tg)
	if r.State != StateOpen || r.Service != "echo" || r.Guess || r.Method != "native:echo" {
		t.Errorf("got %s %q guess=%v method %s, want open echo from the wire", r.State, r.Service, r.Guess, r.Method)
	}
}

// TestProbeUDPEcho: a UDP peer that reflects each datagram answered, so
// the port is open, and it is an echo service.
func TestProbeUDPEcho(t *testing.T) {
	t.Parallel()
	addr := binServeUDP(t, func(req []byte) [][]byte { return [][]byte{req} })
	r := probeOne(t, &Prober{Timeout: 2 * time.Second}, targetOf(t, addr, "udp"))
	if r.State != StateOpen || r.Service != "echo" || r.Guess {
		t.Errorf("got %s %q guess=%v (%s), want open echo", r.State, r.Service, r.Guess, r.Error)
	}
}

// TestProbeUDPAnswerIsOpen: a UDP peer that answers in no protocol we
// know is open, not open|filtered, and what it said is shown.
func TestProbeUDPAnswerIsOpen(t *testing.T) {
	t.Parallel()
	addr := binServeUDP(t, func([]byte) [][]byte { return [][]byte{[]byte("\x07\x07weird reply")} })
	r := probeOne(t, &Prober{Timeout: 2 * time.Second}, targetOf(t, addr, "udp"))
	if r.State != StateOpen || r.Service != "" || !strings.Contains(r.Banner, "weird reply") || r.Error == "" {
		t.Errorf("got %+v, want open, unnamed, the reply as banner and an explanation", r)
	}
}

// TestProbeEchoShapeIsNotEcho: replies that start like our request but
// are not reflections must keep their protocol: a peer that answers every
// connection with the AMQP 0-9-1 header (as a broker of another version
// does), and a console that echoes the typed line and then complains.
func TestProbeEchoShapeIsNotEcho(t *testing.T) {
	t.Parallel()
	t.Run("amqp header", func(t *testing.T) {
		t.Parallel()
		tg := serveTCP(t, func(c net.Conn) {
			var b [8]byte
			if _, err := io.ReadFull(c, b[:]); err == nil {
				_, _ = c.Write([]byte(amqpHeader091))
			}
		})
		r := probeOne(t, nil, tg)
		if r.Service != "amqp" {
			t.Errorf("service %q (%s), want amqp", r.Service, r.Method)
		}
	})
	t.Run("console echo", func(t *testing.T) {
		t.Parallel()
		tg := serveTCP(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(line + "% unknown command\r\n> "))
			}
		})
		r := probeOne(t, nil, tg)
		if r.Service == "echo" {
			t.Errorf("a console that echoes its input was called echo (%s)", r.Method)
		}
	})
}

// TestProbeSocatEcho is the case from the field: socat's fork + /bin/cat.
func TestProbeSocatEcho(t *testing.T) {
	socat, err := exec.LookPath("socat")
	if err != nil {
		t.Skip("socat is not installed (apt-get install socat)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close() // socat binds it again; reuseaddr covers TIME-WAIT
	port := addr.AddrPort().Port()
	cmd := exec.Command(socat, "TCP-LISTEN:"+strconv.Itoa(int(port))+",bind=127.0.0.1,fork,reuseaddr", "EXEC:/bin/cat")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	tg := targetOf(t, addr.String(), "tcp")
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr.String())
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatalf("socat did not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := probeOne(t, nil, tg)
	if r.Service != "echo" || r.Guess {
		t.Errorf("socat EXEC:/bin/cat: service %q guess=%v (%s), want echo", r.Service, r.Guess, r.Method)
	}
}
