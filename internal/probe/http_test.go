package probe

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNotHTTP: an answer that parses as HTTP to say it is not HTTP (Tor's
// SOCKS and control ports, captured from tor 0.4.9.11) is no proof of
// HTTP; ordinary error pages, and pages that merely mention the words,
// still are.
func TestNotHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want bool
	}{
		{"tor socks port", captured(t, "http-tor-0.4.9-socksport-get.txt"), true},
		{"tor control port", captured(t, "http-tor-0.4.9-controlport-get.txt"), true},
		{"status line only", []byte("HTTP/1.0 400 This is not an HTTP server\r\n\r\n"), true},
		{"nginx page", captured(t, "http-nginx-get.txt"), false},
		{"tinyproxy refusal", captured(t, "http-tinyproxy-1.11.1-get.txt"), false},
		{"404", []byte("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"), false},
		{"a page about the web", []byte("HTTP/1.1 200 OK\r\n\r\n<title>This is not a web page you want</title>"), false},
		{"far down the body", []byte("HTTP/1.1 200 OK\r\n\r\n" + strings.Repeat("x", 600) + "not an HTTP server"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(tc.raw)), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if got := notHTTP(resp.Status, body); got != tc.want {
				t.Errorf("notHTTP = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestHTTPProxyAndIPP: a proxy is an http-proxy and CUPS is ipp, from the
// headers: the Server header through the signature table, or the proxy
// authentication only a proxy asks for.
func TestHTTPProxyAndIPP(t *testing.T) {
	t.Parallel()
	sigs, err := DefaultSignatures()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, raw              string
		service, product, vers string
	}{
		{"tinyproxy", string(captured(t, "http-tinyproxy-1.11.1-get.txt")), "http-proxy", "tinyproxy", "1.11.1"},
		{"squid", "HTTP/1.1 400 Bad Request\r\nServer: squid/5.7\r\nX-Squid-Error: ERR_INVALID_URL 0\r\nVia: 1.1 portwho (squid/5.7)\r\nContent-Length: 0\r\n\r\n", "http-proxy", "Squid http proxy", "5.7"},
		{"cups", "HTTP/1.1 200 OK\r\nServer: CUPS/2.4 IPP/2.1\r\nContent-Length: 0\r\n\r\n", "ipp", "CUPS", "2.4"},
		{"proxy auth", "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n", "http-proxy", "", ""},
		{"varnish via", "HTTP/1.1 200 OK\r\nVia: 1.1 varnish (Varnish/7.1)\r\nX-Varnish: 32770\r\nContent-Length: 0\r\n\r\n", "http", "Varnish http accelerator", "7.1"},
		{"origin server", "HTTP/1.1 200 OK\r\nServer: Apache/2.4.65 (Debian)\r\nContent-Length: 0\r\n\r\n", "http", "Apache httpd", "2.4.65"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tc.raw)), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			m := httpMatch(resp.Proto, resp.StatusCode, resp.Header, body)
			if sm, ok := sigs.Match(m.Service, m.Evidence); ok {
				m.Service, m.Product, m.Version = sm.Service, sm.Product, sm.Version
			}
			if m.Service != tc.service || m.Product != tc.product || m.Version != tc.vers || !m.Certain {
				t.Errorf("got %q %q %q certain=%v, want %q %q %q certain", m.Service, m.Product, m.Version, m.Certain, tc.service, tc.product, tc.vers)
			}
		})
	}
}

// replayHTTP serves a captured HTTP answer to any request that starts
// like HTTP, and closes every other connection once it has read a little,
// as Tor's ports do with bytes they cannot parse.
func replayHTTP(t *testing.T, answer []byte) Target {
	return serveTCP(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		if bytes.HasPrefix(buf[:n], []byte("GET ")) {
			_, _ = c.Write(answer)
		}
	})
}

// TestProbeNotHTTPPeer: the engine never reports a peer that refuses HTTP
// as http, and names Tor's ports from the refusal itself.
func TestProbeNotHTTPPeer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, service, product string
	}{
		{"http-tor-0.4.9-socksport-get.txt", "tor-socks", "Tor SOCKS proxy"},
		{"http-tor-0.4.9-controlport-get.txt", "tor-control", "Tor control port"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			t.Parallel()
			r := probeOne(t, &Prober{Timeout: 3 * time.Second}, replayHTTP(t, captured(t, tc.file)))
			if r.Service != tc.service || r.Product != tc.product || r.Guess {
				t.Errorf("got %q %q guess=%v (%s), want %q %q", r.Service, r.Product, r.Guess, r.Method, tc.service, tc.product)
			}
		})
	}
	t.Run("unknown refusal", func(t *testing.T) {
		t.Parallel()
		r := probeOne(t, &Prober{Timeout: 3 * time.Second}, replayHTTP(t, []byte("HTTP/1.0 501 This is not an HTTP server\r\n\r\n")))
		if r.Service == "http" || !strings.Contains(r.Banner, "not an HTTP server") {
			t.Errorf("got %q, banner %q: want not http, the refusal shown", r.Service, r.Banner)
		}
	})
}

// TestProbeHTTPProxy: a captured tinyproxy answer served to the engine is
// an http-proxy with its product and version.
func TestProbeHTTPProxy(t *testing.T) {
	t.Parallel()
	r := probeOne(t, &Prober{Timeout: 3 * time.Second}, replayHTTP(t, captured(t, "http-tinyproxy-1.11.1-get.txt")))
	if r.Service != "http-proxy" || r.Product != "tinyproxy" || r.Version != "1.11.1" {
		t.Errorf("got %q %q %q (%s)", r.Service, r.Product, r.Version, r.Method)
	}
}

// TestProbeGoNetHTTP: a real Go net/http server sends no Server header;
// its refusal of a request without Host names it. A server whose refusal
// says nothing of its own gets no product.
func TestProbeGoNetHTTP(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<title>Node Exporter</title>")
	}), ErrorLog: quietLog}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	r := probeOne(t, &Prober{Timeout: 3 * time.Second}, targetOf(t, ln.Addr().String(), "tcp"))
	if r.Service != "http" || r.Product != "Golang net/http server" {
		t.Errorf("got %q %q (%s)", r.Service, r.Product, r.Method)
	}

	plain := serveTCP(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		if req.Host == "" {
			_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	if r := probeOne(t, &Prober{Timeout: 3 * time.Second}, plain); r.Service != "http" || r.Product != "" {
		t.Errorf("plain refusal: got %q %q (%s)", r.Service, r.Product, r.Method)
	}
}
