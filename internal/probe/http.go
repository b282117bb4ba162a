package probe

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

const (
	maxBody  = 32 << 10 // enough for a <title>
	maxTitle = 120      // runes
	maxHdr   = 256      // bytes of a Server or Location header kept
	// h2cGrace is how long the h2c check may outlast the HTTP/1 answer.
	h2cGrace = 150 * time.Millisecond
)

func httpProtocol() Protocol {
	return Protocol{
		Name: "http", Transport: "tcp", Wave: 1, Probe: httpProbe,
		Ports: []uint16{80, 443, 591, 3000, 3302, 5000, 8000, 8008, 8080, 8081, 8443, 8888, 9000},
	}
}

// httpProbe sends GET / and reports the status, Server, title and any
// redirect (never followed). Inside TLS with ALPN h2 it speaks HTTP/2; on
// plain text it also checks for h2c on a second connection.
func httpProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	s := sessionFrom(ctx, c)
	host := s.host
	if host == "" {
		host = "localhost"
	}
	if s.port != 0 {
		host = net.JoinHostPort(host, strconv.Itoa(int(s.port)))
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if s.tls != nil && s.tls.NegotiatedProtocol == "h2" {
		return h2Probe(ctx, c, host)
	}
	// The h2c check runs on its own connection alongside the GET: an h2c
	// server answers at once, and a server that does not know the preface
	// may wait for more, so it only gets a short grace after the GET.
	h2c := make(chan bool, 1)
	hctx, hcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// On every return: cancelling closes its connection; waiting makes
	// sure it does not outlive the probe.
	defer wg.Wait()
	defer hcancel()
	if s.tls == nil && s.dial != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h2c <- h2cAnswers(hctx, s)
		}()
	} else {
		h2c <- false
	}
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: portwho\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return Match{}, false, fmt.Errorf("http write: %w", err)
	}
	br := bufio.NewReaderSize(c, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return Match{}, false, fmt.Errorf("http response: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if notHTTP(resp.Status, body) {
		// It parsed as HTTP only to say it is not an HTTP server (Tor's
		// SOCKS and control ports do this): let the other probes name it.
		return Match{}, false, nil
	}
	m := httpMatch(resp.Proto, resp.StatusCode, resp.Header, body)
	if m.Evidence == "" && m.Certain && s.dial != nil {
		// No Server header: the way it refuses a request without Host
		// may still name the server.
		m.Evidence = hostlessRefusal(ctx, s)
	}
	grace := time.NewTimer(h2cGrace)
	defer grace.Stop()
	select {
	case ok := <-h2c:
		if ok && m.Certain {
			m.Info = joinDot(m.Info, "h2c")
		}
	case <-grace.C:
	}
	return m, true, nil
}

// notHTTPRE finds a server's own statement that it is not what we asked:
// "Tor is not an HTTP Proxy", "This is not an HTTP server", "not a web
// server". Only the status line and the start of the body are read.
var notHTTPRE = regexp.MustCompile(`(?i)\bnot an? (?:http|web)[ -]?(?:server|proxy|port|service)\b|\bnot speak(?:ing)? http\b|\bdoes not (?:speak|support) http\b`)

// notHTTP reports an answer that parses as HTTP and says it is not HTTP.
func notHTTP(status string, body []byte) bool {
	if len(body) > 512 {
		body = body[:512]
	}
	return notHTTPRE.MatchString(status) || notHTTPRE.Match(body)
}

// httpMatch builds the verdict from a parsed response.
func httpMatch(proto string, status int, h http.Header, body []byte) Match {
	m := Match{Service: "http", Method: "native:http", Certain: true, Evidence: httpEvidence(h)}
	if status == http.StatusProxyAuthRequired || h.Get("Proxy-Authenticate") != "" || h.Get("Proxy-Agent") != "" {
		// Only a proxy asks for proxy credentials or names its agent.
		m.Service = "http-proxy"
	}
	info := fmt.Sprintf("%s %d", proto, status)
	if loc := h.Get("Location"); loc != "" && status >= 300 && status < 400 {
		info = joinDot(info, "redirect "+capStr(loc, maxHdr))
	}
	if t := htmlTitle(body); t != "" {
		info = joinDot(info, "title "+strconv.Quote(t))
	}
	m.Info = info
	if status == 400 && plainToTLS(body) {
		// A TLS server's answer to plain text: the TLS probe will say
		// more, so this is no proof of plain HTTP.
		m.Certain = false
		m.Info = joinDot(info, "expects TLS")
	}
	return m
}

// httpEvidence is what the signature table reads to name the product: the
// Server header, else the software a Via header names in its comment
// ("1.1 varnish (Varnish/7.1)"), as caches behind an origin server add.
func httpEvidence(h http.Header) string {
	if s := h.Get("Server"); s != "" {
		return capStr(s, maxHdr)
	}
	for _, v := range h.Values("Via") {
		if i := strings.IndexByte(v, '('); i >= 0 {
			if j := strings.IndexByte(v[i:], ')'); j > 0 {
				return capStr(v[i+1:i+j], maxHdr)
			}
		}
	}
	return ""
}

// hostlessRefusal sends an HTTP/1.1 request without the Host header it
// requires (RFC 9112 3.2) on a new connection, and returns the status
// line of the refusal when it is one the signature table can read: Go's
// net/http, which sends no Server header, says "400 Bad Request: missing
// required Host header" in its status line.
func hostlessRefusal(ctx context.Context, s *session) string {
	c, err := s.dial(ctx)
	if err != nil {
		return ""
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nUser-Agent: portwho\r\n\r\n"); err != nil {
		return ""
	}
	line, err := bufio.NewReaderSize(io.LimitReader(c, 512), 512).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.") {
		return ""
	}
	line = strings.TrimRight(line, "\r\n")
	if _, reason, ok := strings.Cut(line, " 400 "); ok && strings.Contains(reason, ":") {
		// Only a reason with a detail says something of its own.
		return capStr(reason, maxHdr)
	}
	return ""
}

// plainToTLS spots the 400 answers TLS servers give to plain HTTP (Go,
// nginx, Apache).
func plainToTLS(body []byte) bool {
	b := bytes.ToLower(body)
	for _, s := range []string{"http request to an https server", "plain http request was sent to https port", "speaking plain http to an ssl-enabled"} {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

var titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// htmlTitle extracts the page title: entities decoded, whitespace folded,
// capped. Control characters stay in; printing sanitizes them.
func htmlTitle(body []byte) string {
	m := titleRE.FindSubmatch(body)
	if m == nil {
		return ""
	}
	t := strings.Join(strings.Fields(html.UnescapeString(string(m[1]))), " ")
	if utf8.RuneCountInString(t) > maxTitle {
		t = string([]rune(t)[:maxTitle-1]) + "…"
	}
	return t
}

func joinDot(a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	return a + " · " + b
}

func capStr(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// h2Probe makes one GET over HTTP/2 on a connection that negotiated h2,
// through net/http's own HTTP/2 client.
func h2Probe(ctx context.Context, c net.Conn, host string) (Match, bool, error) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return Match{Service: "http", Method: "native:http", Certain: true, Info: "HTTP/2"}, true, nil
	}
	var protos http.Protocols
	protos.SetHTTP2(true)
	used := false
	tr := &http.Transport{
		Protocols: &protos,
		DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			if used {
				return nil, errors.New("one connection only")
			}
			used = true
			return tc, nil
		},
		MaxResponseHeaderBytes: 32 << 10,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/", nil)
	if err != nil {
		return Match{}, false, err
	}
	req.Header.Set("User-Agent", "portwho")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		// ALPN said h2: that alone is certain.
		return Match{Service: "http", Method: "native:http", Certain: true, Info: "HTTP/2"}, true, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return httpMatch("HTTP/2", resp.StatusCode, resp.Header, body), true, nil
}

// h2Preface is the HTTP/2 client connection preface (RFC 9113 3.4)
// followed by an empty SETTINGS frame.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00"

// h2cAnswers sends the HTTP/2 client preface and SETTINGS in clear text on
// a new connection: a server that answers with a SETTINGS frame speaks h2c.
func h2cAnswers(ctx context.Context, s *session) bool {
	c, err := s.dial(ctx)
	if err != nil {
		return false
	}
	defer c.Close()
	if _, err := io.WriteString(c, h2Preface); err != nil {
		return false
	}
	var hdr [9]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return false
	}
	return isSettingsFrame(hdr[:])
}

// isSettingsFrame checks a frame header: type SETTINGS (4), not an ACK,
// on stream 0, with a length that is a multiple of 6.
func isSettingsFrame(h []byte) bool {
	if len(h) < 9 {
		return false
	}
	length := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
	stream := uint32(h[5]&0x7f)<<24 | uint32(h[6])<<16 | uint32(h[7])<<8 | uint32(h[8])
	return h[3] == 4 && h[4]&1 == 0 && stream == 0 && length%6 == 0 && length <= 16384
}
