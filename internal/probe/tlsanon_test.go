package probe

import (
	"bufio"
	"crypto/tls"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestProbeTLSRetriesWithoutALPN: a server that knows only its own ALPN
// protocol refuses ours with no_application_protocol; the engine asks again
// without ALPN and finds what runs inside (here an SSH-style greeting).
func TestProbeTLSRetriesWithoutALPN(t *testing.T) {
	t.Parallel()
	cfg := serverTLSConfig(t)
	cfg.NextProtos = []string{"xmpp-client"}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg := serveListener(t, ln, func(c net.Conn) {
		if err := c.(*tls.Conn).Handshake(); err != nil {
			return
		}
		_, _ = c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))
		_, _ = bufio.NewReader(c).ReadString('\n')
	})
	r := probeOne(t, nil, tg)
	if r.Service != "ssh" || r.TLS == nil || r.TLS.ALPN != "" || r.Product != "OpenSSH" {
		t.Errorf("got %q %q tls=%+v (%s), want ssh inside TLS without ALPN", r.Service, r.Product, r.TLS, r.Info)
	}
}

// TestProbeTLSAnonymousOnly: openssl s_server offering only anonymous DH
// (as Nagios NRPE does) is reported as TLS, with the suite it chose.
func TestProbeTLSAnonymousOnly(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(openssl, "s_server", "-quiet", "-nocert", "-naccept", "16",
		"-cipher", "aNULL:@SECLEVEL=0", "-no_tls1_3", "-accept", "127.0.0.1:"+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i == 100 {
			t.Fatal("openssl s_server did not listen")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := probeOne(t, nil, targetOf(t, addr, "tcp"))
	if r.Service != "ssl" || r.TLS == nil || !strings.Contains(r.TLS.Cipher, "_anon_") || r.Method != "native:tls-anon" {
		t.Errorf("got %q %s tls=%+v (%s), want ssl with an anonymous suite", r.Service, r.Method, r.TLS, r.Info)
	}
}

// TestParseServerHello: a ServerHello must parse; an alert, a plain-text
// reply or a truncated record must not.
func TestParseServerHello(t *testing.T) {
	hello := []byte{0x16, 3, 3, 0, 42, 2, 0, 0, 38, 3, 3}
	hello = append(hello, make([]byte, 32)...)
	hello = append(hello, 0, 0x00, 0xa7, 0)
	sh, err := parseServerHello(hello)
	if err != nil || sh.Suite != 0x00a7 || sh.Version != 0x0303 || anonSuiteName(sh.Suite) == "" {
		t.Errorf("got %+v %v", sh, err)
	}
	for name, b := range map[string][]byte{
		"alert":     {0x15, 3, 3, 0, 2, 2, 40},
		"http":      []byte("HTTP/1.1 400 Bad Request\r\n\r\n"),
		"truncated": hello[:20],
		"echo":      anonClientHello([32]byte{}),
	} {
		if sh, err := parseServerHello(b); err == nil {
			t.Errorf("%s: parsed as %+v", name, sh)
		}
	}
}

func FuzzParseServerHello(f *testing.F) {
	f.Add([]byte{0x16, 3, 3, 0, 4, 2, 0, 0, 0})
	f.Add(anonClientHello([32]byte{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		sh, err := parseServerHello(b)
		if err == nil && (sh.Version < 0x0300 || sh.Version > 0x0304) {
			t.Fatalf("accepted version %#x", sh.Version)
		}
	})
}
