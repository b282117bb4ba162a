package probe

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDNSReply(t *testing.T) {
	vb := readTestdata(t, "dnsmasq-2.90-version-bind.bin")
	loop := bytes.Clone(vb[:12])
	loop = append(loop, 0xc0, 12) // a name that points at itself
	notResponse := bytes.Clone(vb)
	notResponse[2] &^= 0x80
	tests := []struct {
		name    string
		in      []byte
		want    dnsReply
		wantErr bool
	}{
		{name: "dnsmasq 2.90 version.bind", in: vb,
			want: dnsReply{ID: 0x1111, Question: dnsQuestion{"version.bind", dnsTypeTXT, dnsClassCH}, TXT: []string{"dnsmasq-2.90"}}},
		{name: "dnsmasq 2.90 id.server not implemented", in: readTestdata(t, "dnsmasq-2.90-id-server.bin"),
			want: dnsReply{ID: 0x2222, Rcode: 4, Question: dnsQuestion{"id.server", dnsTypeTXT, dnsClassCH}}},
		{name: "dnsmasq 2.90 root NS refused", in: readTestdata(t, "dnsmasq-2.90-root-ns.bin"),
			want: dnsReply{ID: 0x3333, Rcode: 5, Question: dnsQuestion{"", dnsTypeNS, dnsClassIN}}},
		{name: "compression loop", in: loop, wantErr: true},
		{name: "query, not response", in: notResponse, wantErr: true},
		{name: "answer overruns", in: vb[:len(vb)-3], wantErr: true},
		{name: "short", in: vb[:5], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDNSReply(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

// dnsmasqAnswer returns dnsmasq 2.90's captured answer to the query q,
// with q's id, or nil when q asks something else. chaos=false drops the
// CHAOS queries, as some servers do.
func dnsmasqAnswer(t *testing.T, q []byte, chaos bool) []byte {
	if len(q) < 17 || binary.BigEndian.Uint16(q[2:]) != 0 {
		t.Errorf("bad dns query %x: want a plain query without recursion", q)
		return nil
	}
	var file string
	switch {
	case bytes.Contains(q, []byte("\x07version\x04bind\x00\x00\x10\x00\x03")):
		file = "dnsmasq-2.90-version-bind.bin"
	case bytes.Contains(q, []byte("\x02id\x06server\x00\x00\x10\x00\x03")):
		file = "dnsmasq-2.90-id-server.bin"
	case bytes.Equal(q[12:], []byte{0, 0, 2, 0, 1}):
		file = "dnsmasq-2.90-root-ns.bin"
	default:
		t.Errorf("unexpected dns question %x", q[12:])
		return nil
	}
	if !chaos && !strings.Contains(file, "root") {
		return nil
	}
	a := readTestdata(t, file)
	copy(a, q[:2])
	return a
}

func TestDNSProbeUDP(t *testing.T) {
	tests := []struct {
		name  string
		chaos bool
		want  Match
	}{
		{name: "dnsmasq answers version.bind", chaos: true,
			want: Match{Service: "domain", Info: "udp", Evidence: "dnsmasq-2.90", Method: "native:domain", Certain: true}},
		{name: "server drops chaos queries", chaos: false,
			want: Match{Service: "domain", Info: "udp", Method: "native:domain", Certain: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := binServeUDP(t, func(q []byte) [][]byte {
				// A stray datagram first: not a DNS reply at all.
				out := [][]byte{[]byte("junk")}
				if a := dnsmasqAnswer(t, q, tt.chaos); a != nil {
					out = append(out, a)
				}
				return out
			})
			m, ok, err := binProbe(t, "udp", addr, 5*time.Second, dnsProbeUDP)
			if err != nil || !ok {
				t.Fatalf("probe: ok %v err %v", ok, err)
			}
			if diff := cmp.Diff(tt.want, m); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDNSProbeUDPNoAnswer(t *testing.T) {
	addr := binServeUDP(t, func([]byte) [][]byte { return nil })
	_, ok, err := binProbe(t, "udp", addr, 200*time.Millisecond, dnsProbeUDP)
	if ok || !isTimeoutErr(err) {
		t.Errorf("silent peer: ok %v err %v, want a timeout", ok, err)
	}
}

func TestDNSProbeTCP(t *testing.T) {
	addr := binServeConn(t, func(c net.Conn) {
		for range 3 {
			var l [2]byte
			if _, err := io.ReadFull(c, l[:]); err != nil {
				t.Errorf("fake dns: %v", err)
				return
			}
			q := make([]byte, binary.BigEndian.Uint16(l[:]))
			if _, err := io.ReadFull(c, q); err != nil {
				t.Errorf("fake dns: %v", err)
				return
			}
			a := dnsmasqAnswer(t, q, true)
			if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(a))), a...)); err != nil {
				return
			}
		}
	})
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, dnsProbeTCP)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "domain", Info: "tcp", Evidence: "dnsmasq-2.90", Method: "native:domain", Certain: true}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

func TestDNSProbeTCPNotDNS(t *testing.T) {
	addr := binServeTCP(t, binStep{reply: fixed([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"))})
	if m, ok, _ := binProbe(t, "tcp", addr, 5*time.Second, dnsProbeTCP); ok {
		t.Errorf("an SSH banner was judged as DNS: %+v", m)
	}
}

func FuzzParseDNSReply(f *testing.F) {
	addTestdataSeeds(f, "dnsmasq-2.90-version-bind.bin", "dnsmasq-2.90-id-server.bin", "dnsmasq-2.90-root-ns.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseDNSReply(b)
		if err != nil {
			return
		}
		for _, s := range r.TXT {
			if len(s) > len(b) {
				t.Fatal("TXT longer than the message")
			}
		}
	})
}
