package probe

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// countingProtocol is a second-wave TCP protocol that only counts how
// often the engine tried it.
func countingProtocol(n *atomic.Int32) Protocol {
	return Protocol{Name: "counted", Transport: "tcp", Wave: 2, Probe: func(ctx context.Context, c net.Conn) (Match, bool, error) {
		n.Add(1)
		return Match{}, false, nil
	}}
}

// TestProbeTLSALPNGoesStraightToHTTP: an HTTP/2 server sends its SETTINGS
// frame unprompted right after the handshake. That banner must not push
// HTTP into the second wave, where it would queue for connection slots
// behind every binary probe and get only their short budget: ALPN already
// said the peer speaks HTTP.
func TestProbeTLSALPNGoesStraightToHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		h1, h2     bool
		info, alpn string
	}{
		{"h2", false, true, `(Debian); HTTP/2 200 · title "Café & bar"`, "h2"},
		{"http/1.1", true, false, `(Debian); HTTP/1.1 200 · title "Café & bar"`, "http/1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var protos http.Protocols
			protos.SetHTTP1(tc.h1)
			protos.SetHTTP2(tc.h2)
			cfg := serverTLSConfig(t)
			if tc.h1 {
				cfg.NextProtos = []string{"http/1.1"}
			}
			// A slow application: a second-wave probe started alongside
			// the GET is surely tried before the answer comes.
			h := httpHandler("Apache/2.4.57 (Debian)")
			slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				time.Sleep(400 * time.Millisecond)
				h.ServeHTTP(w, r)
			})
			srv := &http.Server{Handler: slow, Protocols: &protos, TLSConfig: cfg, ErrorLog: quietLog}
			go srv.ServeTLS(ln, "", "")
			t.Cleanup(func() { srv.Close() })
			var counted atomic.Int32
			p := &Prober{Timeout: 5 * time.Second, Protocols: []Protocol{httpProtocol(), countingProtocol(&counted)}}
			r := probeOne(t, p, targetOf(t, ln.Addr().String(), "tcp"))
			want := summary{State: "open", Service: "http", Product: "Apache httpd", Version: "2.4.57",
				Info: tc.info, Method: "native:http+signature:apache", TLS: true}
			if d := cmp.Diff(want, summarize(r)); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			if r.TLS == nil || r.TLS.ALPN != tc.alpn {
				t.Errorf("TLS = %+v, want ALPN %s", r.TLS, tc.alpn)
			}
			if n := counted.Load(); n != 0 {
				t.Errorf("a second-wave protocol was tried %d times inside TLS", n)
			}
		})
	}
}

// TestProbeTLSSlowHandshakeInside: once one handshake succeeded the peer
// is known to speak TLS, so the connections opened to identify what runs
// inside get the session's deadline for their handshakes, not the short
// budget meant for peers that may be silently waiting for something else.
// Here every handshake after the first takes a second, as on a loaded
// host or a slow device.
func TestProbeTLSSlowHandshakeInside(t *testing.T) {
	t.Parallel()
	cfg := serverTLSConfig(t)
	var hellos atomic.Int32
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		if hellos.Add(1) > 1 {
			time.Sleep(time.Second)
		}
		return nil, nil
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	srv := &http.Server{Handler: httpHandler("nginx/1.22.1"), Protocols: &protos, ErrorLog: quietLog}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p := &Prober{Timeout: 10 * time.Second, Protocols: []Protocol{httpProtocol()}}
	r := probeOne(t, p, targetOf(t, ln.Addr().String(), "tcp"))
	want := summary{State: "open", Service: "http", Product: "nginx", Version: "1.22.1",
		Info: `HTTP/1.1 200 · title "Café & bar"`, Method: "native:http+signature:nginx", TLS: true}
	if d := cmp.Diff(want, summarize(r)); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}
