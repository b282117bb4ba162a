package probe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
)

// quietLog drops the servers' complaints about probes they did not like.
var quietLog = log.New(io.Discard, "", 0)

// summary is the part of a Result the table tests compare.
type summary struct {
	State, Service, Product, Version, Info, Method string
	TLS, StartTLS                                  bool
}

func summarize(r Result) summary {
	return summary{r.State, r.Service, r.Product, r.Version, r.Info, r.Method, r.TLS != nil, r.StartTLS != nil}
}

func httpHandler(server string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if server != "" {
			w.Header().Set("Server", server)
		}
		if r.URL.Path == "/" && r.Host == "" {
			http.Error(w, "no host", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, "<html><head><title>Caf&eacute; \n  &amp; bar</title></head></html>")
	})
}

func serveHTTP(t *testing.T, srv *http.Server) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.ErrorLog = quietLog
	if srv.TLSConfig != nil {
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
	return targetOf(t, ln.Addr().String(), "tcp")
}

func TestProbeHTTP(t *testing.T) {
	t.Parallel()
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	tg := serveHTTP(t, &http.Server{Handler: httpHandler("nginx/1.22.1"), Protocols: &protos})
	got := summarize(probeOne(t, nil, tg))
	want := summary{State: "open", Service: "http", Product: "nginx", Version: "1.22.1",
		Info: `HTTP/1.1 200 · title "Café & bar" · h2c`, Method: "native:http+signature:nginx"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

func TestProbeHTTPRedirect(t *testing.T) {
	t.Parallel()
	h := http.RedirectHandler("http://example.invalid/login", http.StatusFound)
	tg := serveHTTP(t, &http.Server{Handler: h})
	r := probeOne(t, nil, tg)
	if r.Service != "http" || !strings.Contains(r.Info, "HTTP/1.1 302 · redirect http://example.invalid/login") {
		t.Errorf("got %+v, want http with the redirect reported", r)
	}
}

func TestProbeHTTPSWithHTTP2(t *testing.T) {
	t.Parallel()
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	tg := serveHTTP(t, &http.Server{Handler: httpHandler("Apache/2.4.57 (Debian)"), Protocols: &protos, TLSConfig: serverTLSConfig(t)})
	r := probeOne(t, nil, tg)
	got := summarize(r)
	want := summary{State: "open", Service: "http", Product: "Apache httpd", Version: "2.4.57",
		Info: `(Debian); HTTP/2 200 · title "Café & bar"`, Method: "native:http+signature:apache", TLS: true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if r.TLS != nil {
		if r.TLS.ALPN != "h2" || r.TLS.Subject != "CN=portwho test,O=portwho" || !r.TLS.SelfSigned || r.TLS.KeyType != "ECDSA P-256" {
			t.Errorf("TLS = %+v", r.TLS)
		}
	}
}

// TestProbeTLS13OnlyUnusualPort is a TLS-only server on a random port that
// refuses anything older than TLS 1.3, with IMAP inside.
func TestProbeTLS13OnlyUnusualPort(t *testing.T) {
	t.Parallel()
	cfg := serverTLSConfig(t)
	cfg.MinVersion = tls.VersionTLS13
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	tg := serveListener(t, ln, func(c net.Conn) {
		fmt.Fprint(c, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Dovecot (Debian) ready.\r\n")
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			tag, _, _ := strings.Cut(l, " ")
			switch {
			case strings.Contains(l, "CAPABILITY"):
				fmt.Fprintf(c, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n%s OK done\r\n", tag)
			default:
				fmt.Fprintf(c, "* BYE\r\n%s OK bye\r\n", tag)
				return
			}
		}
	})
	r := probeOne(t, nil, tg)
	want := summary{State: "open", Service: "imap", Product: "Dovecot imapd", Info: "Debian", Method: "native:imap+signature:dovecot-imap", TLS: true}
	if d := cmp.Diff(want, summarize(r)); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if r.TLS != nil && r.TLS.Version != "TLS 1.3" {
		t.Errorf("TLS version = %q, want TLS 1.3", r.TLS.Version)
	}
	// The server does refuse old hellos: a TLS 1.2 client fails.
	c, err := tls.Dial("tcp", tg.String(), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err == nil {
		c.Close()
		t.Error("a TLS 1.2 client connected to the TLS 1.3-only server")
	}
}

func TestProbeSSH(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: false, ServerVersion: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
		PasswordCallback: func(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) { return nil, errors.New("no") }}
	cfg.AddHostKey(signer)
	tg := serveTCP(t, func(c net.Conn) {
		_, _, _, _ = ssh.NewServerConn(c, cfg)
	})
	want := summary{State: "open", Service: "ssh", Product: "OpenSSH", Version: "9.2p1",
		Info: "Debian-2+deb12u3; protocol 2.0", Method: "native:ssh+signature:openssh"}
	if d := cmp.Diff(want, summarize(probeOne(t, nil, tg))); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

// TestProbeHostileBanner: escape sequences, NUL bytes and megabytes of junk
// are capped and kept raw in Result (sanitized only when printed).
func TestProbeHostileBanner(t *testing.T) {
	t.Parallel()
	tg := serveTCP(t, func(c net.Conn) {
		fmt.Fprint(c, "\x1b[2J\x1b]0;pwned\x07\x00\x00hello\r\n")
		junk := bytes.Repeat([]byte("\x1b[31mJUNK\x00\xff"), 1<<18) // ~3 MiB
		_, _ = c.Write(junk)
		_, _ = io.Copy(io.Discard, c)
	})
	p := &Prober{Timeout: 2 * time.Second}
	start := time.Now()
	r := probeOne(t, p, tg)
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %v", took)
	}
	if r.State != "open" {
		t.Errorf("state = %q, want open", r.State)
	}
	if len(r.Banner) == 0 || len(r.Banner) > bannerExcerpt {
		t.Errorf("banner length %d, want 1..%d", len(r.Banner), bannerExcerpt)
	}
	if !strings.HasPrefix(r.Banner, "\x1b[2J") {
		t.Errorf("banner = %q, want the raw bytes", r.Banner)
	}
}

// TestProbeTarpit: one byte a second must cost no more than the deadline.
func TestProbeTarpit(t *testing.T) {
	t.Parallel()
	tg := serveTCP(t, func(c net.Conn) {
		for i := 0; i < 60; i++ {
			if _, err := c.Write([]byte{'x'}); err != nil {
				return
			}
			time.Sleep(time.Second)
		}
	})
	p := &Prober{Timeout: time.Second}
	start := time.Now()
	r := probeOne(t, p, tg)
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v for a 1s deadline", took)
	}
	if r.State != "open" {
		t.Errorf("state = %q, want open", r.State)
	}
}

func TestProbeAcceptAndClose(t *testing.T) {
	t.Parallel()
	tg := serveTCP(t, func(c net.Conn) {})
	r := probeOne(t, nil, tg)
	want := summary{State: "open", Service: "tcpwrapped", Method: "native:closed"}
	if d := cmp.Diff(want, summarize(r)); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

func TestProbeClosed(t *testing.T) {
	t.Parallel()
	// Not a closed listener's port: anything on the host may listen there
	// again at once. The client end of a live connection holds its port
	// without listening, so a connect to it meets a reset.
	tg := serveTCP(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	held, err := net.Dial("tcp", tg.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	r := probeOne(t, nil, targetOf(t, held.LocalAddr().String(), "tcp"))
	if r.State != "closed" {
		t.Errorf("state = %q (%s), want closed", r.State, r.Error)
	}
}

// pingUDP is a test protocol: "ping?" answered by "pong!".
func pingUDP() Protocol {
	return Protocol{Name: "ping", Transport: "udp", Probe: func(ctx context.Context, c net.Conn) (Match, bool, error) {
		if _, err := c.Write([]byte("ping?")); err != nil {
			return Match{}, false, err
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			return Match{}, false, err
		}
		if string(buf[:n]) != "pong!" {
			return Match{}, false, nil
		}
		return Match{Service: "ping", Certain: true}, true, nil
	}}
}

func TestProbeUDP(t *testing.T) {
	t.Parallel()
	answering, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A port freed by closing its socket may be bound again at once by
	// anything else on the host (a test suite opening thousands of UDP
	// sockets), which then swallows the probe silently. So the closed
	// port stays bound, by a socket connected to another peer: the kernel
	// delivers it nothing from us and answers with ICMP port unreachable,
	// exactly as for a port nobody holds.
	closed, err := net.DialUDP("udp", nil, silent.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.LocalAddr().String()
	t.Cleanup(func() { answering.Close(); silent.Close(); closed.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := answering.ReadFrom(buf)
			if err != nil {
				return
			}
			if string(buf[:n]) == "ping?" {
				answering.WriteTo([]byte("pong!"), from)
			}
		}
	}()
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := silent.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	p := &Prober{Timeout: time.Second, Protocols: []Protocol{pingUDP()}}
	for _, tc := range []struct {
		name, addr string
		want       summary
	}{
		{"answer", answering.LocalAddr().String(), summary{State: "open", Service: "ping", Method: "native:ping"}},
		{"no answer", silent.LocalAddr().String(), summary{State: "open|filtered"}},
		{"port unreachable", closedAddr, summary{State: "closed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.Probe(context.Background(), targetOf(t, tc.addr, "udp"))
			checkNoConns(t, p)
			if d := cmp.Diff(tc.want, summarize(r)); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			if r.Protocol != "udp" {
				t.Errorf("protocol = %q", r.Protocol)
			}
		})
	}
}

func TestProbeAllCapsPerPort(t *testing.T) {
	t.Parallel()
	var mu = make(chan struct{}, 1)
	open, peak := 0, 0
	tg := serveTCP(t, func(c net.Conn) {
		mu <- struct{}{}
		open++
		if open > peak {
			peak = open
		}
		<-mu
		time.Sleep(50 * time.Millisecond)
		mu <- struct{}{}
		open--
		<-mu
	})
	p := &Prober{Timeout: 3 * time.Second, PerPort: 2}
	targets := []Target{tg, tg, tg, tg}
	rs := p.ProbeAll(context.Background(), targets)
	checkNoConns(t, p)
	if len(rs) != 4 {
		t.Fatalf("%d results", len(rs))
	}
	for _, r := range rs {
		if r.State != "open" {
			t.Errorf("state %q", r.State)
		}
	}
	mu <- struct{}{}
	defer func() { <-mu }()
	if peak > 2 {
		t.Errorf("peak connections %d, want ≤ 2", peak)
	}
}

// TestProbeFiltered: a connect that never completes (a firewall dropping
// the SYN) is filtered once the deadline passes.
func TestProbeFiltered(t *testing.T) {
	t.Parallel()
	p := &Prober{Timeout: 200 * time.Millisecond, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}}
	r := probeOne(t, p, Target{Host: "192.0.2.1", Port: 80, Transport: "tcp"})
	if r.State != "filtered" || r.Error == "" {
		t.Errorf("state %q error %q, want filtered with the reason", r.State, r.Error)
	}
}
