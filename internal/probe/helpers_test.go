package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// testCert is a self-signed ECDSA certificate for localhost and 127.0.0.1.
func testCert(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "portwho test", Organization: []string{"portwho"}},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func serverTLSConfig(t testing.TB) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testCert(t)}}
}

// serveTCP accepts on 127.0.0.1:0 and runs handle for each connection
// until the test ends. It returns the target.
func serveTCP(t *testing.T, handle func(net.Conn)) Target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveListener(t, ln, handle)
}

func serveListener(t *testing.T, ln net.Listener, handle func(net.Conn)) Target {
	t.Helper()
	var wg sync.WaitGroup
	done := make(chan struct{})
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return targetOf(t, ln.Addr().String(), "tcp")
}

func targetOf(t testing.TB, addr, transport string) Target {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return Target{Raw: addr, Host: host, Port: uint16(n), Transport: transport}
}

// probeOne probes a target with a fresh Prober.
func probeOne(t *testing.T, p *Prober, tg Target) Result {
	t.Helper()
	if p == nil {
		p = &Prober{Timeout: 5 * time.Second}
	}
	r := p.Probe(context.Background(), tg)
	checkNoConns(t, p)
	return r
}

// checkNoConns fails when a connection of p is still open (each holds a
// slot in the limiter until closed).
func checkNoConns(t *testing.T, p *Prober) {
	t.Helper()
	p.lim.mu.Lock()
	defer p.lim.mu.Unlock()
	if n := len(p.lim.slots); n != 0 {
		t.Errorf("%d connection slots still held after Probe returned", n)
	}
}
