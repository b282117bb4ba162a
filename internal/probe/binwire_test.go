package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestReadFramed(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		frame   func([]byte) (int, error)
		want    []byte
		wantErr error
	}{
		{name: "exact message, extra bytes left unread", in: []byte("+PONG\r\n+PONG\r\n"), frame: frameRESP, want: []byte("+PONG\r\n")},
		{name: "peer closes mid-message", in: []byte("$10\r\nabc"), frame: frameRESP, wantErr: io.ErrUnexpectedEOF},
		{name: "announced length beyond the cap", in: []byte("$99999999\r\n"), frame: frameRESP, wantErr: errTooLarge},
		{name: "malformed", in: []byte("HTTP/1.1 200 OK\r\n"), frame: frameRESP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readFramed(bytes.NewReader(tt.in), tt.frame)
			switch {
			case tt.want != nil:
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Errorf("got (%q, %v), want %q", got, err, tt.want)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
			default:
				if err == nil {
					t.Errorf("malformed input accepted: %q", got)
				}
			}
		})
	}
}

// A peer streaming megabytes of junk that never completes a message costs
// at most maxReply bytes.
func TestReadFramedJunkStream(t *testing.T) {
	tests := []struct {
		name  string
		fill  byte
		frame func([]byte) (int, error)
	}{
		{name: "never a complete frame", fill: 'A', frame: func([]byte) (int, error) { return 0, errNeedMore }},
		{name: "dns-like frame announcing 2 GiB", fill: 0x7f, frame: frameLen32(binary.BigEndian, 0, 0)},
		{name: "line that never ends", fill: ' ', frame: frameLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := &countingReader{r: io.LimitReader(neverEnding(tt.fill), 8<<20)}
			if _, err := readFramed(cr, tt.frame); err == nil {
				t.Fatal("junk accepted")
			}
			if cr.n > maxReply {
				t.Errorf("read %d bytes of junk, cap is %d", cr.n, maxReply)
			}
		})
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// A tarpit that accepts and never answers: cancelling the context ends
// every probe at once, whatever deadline the connection carries.
func TestProbesReturnOnCancel(t *testing.T) {
	probes := map[string]func(context.Context, net.Conn) (Match, bool, error){
		"redis": redisProbe, "memcache": memcachedProbe, "postgresql": postgresqlProbe, "mysql": mysqlProbe,
		"mongodb": mongodbProbe, "mqtt": mqttProbe, "amqp": amqpProbe, "ldap": ldapProbe, "vnc": vncProbe,
		"rdp": rdpProbe, "domain/tcp": dnsProbeTCP,
	}
	for name, probe := range probes {
		t.Run(name, func(t *testing.T) {
			addr := binServeConn(t, func(c net.Conn) {})
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Hour))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, ok, err := probe(ctx, c)
				if ok {
					err = errors.New("silent peer identified")
				}
				done <- err
			}()
			cancel()
			if err := <-done; err == nil {
				t.Error("probe of a silent peer returned no error")
			}
		})
	}
}

func TestUDPProbesReturnOnCancel(t *testing.T) {
	probes := map[string]func(context.Context, net.Conn) (Match, bool, error){
		"memcache": memcachedUDPProbe, "domain": dnsProbeUDP, "ntp": ntpProbe, "snmp": snmpProbe,
	}
	for name, probe := range probes {
		t.Run(name, func(t *testing.T) {
			addr := binServeUDP(t, func([]byte) [][]byte { return nil })
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				_, _, err := probe(ctx, c)
				done <- err
			}()
			cancel()
			if err := <-done; err == nil {
				t.Error("probe of a silent peer returned no error")
			}
		})
	}
}

func TestClipMatch(t *testing.T) {
	long := strings.Repeat("é", 400) // 800 bytes, two per rune
	m := clipMatch(Match{Product: long, Version: "1.0", Info: long, Evidence: long})
	if len(m.Product) > maxProductLen+len("…") || len(m.Info) > maxInfoLen+len("…") || len(m.Evidence) > maxEvidenceLen+len("…") {
		t.Errorf("not clipped: %d, %d, %d bytes", len(m.Product), len(m.Info), len(m.Evidence))
	}
	if !utf8.ValidString(m.Product) || !utf8.ValidString(m.Info) || !utf8.ValidString(m.Evidence) {
		t.Error("clipping split a rune")
	}
	if m.Version != "1.0" {
		t.Errorf("short field changed: %q", m.Version)
	}
}
