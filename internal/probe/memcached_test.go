package probe

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMemcachedVersion(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
	}{
		{name: "memcached 1.6.18", in: readTestdata(t, "memcached-1.6.18-version.txt"), want: "1.6.18"},
		{name: "error reply", in: []byte("ERROR\r\n"), wantErr: true},
		{name: "no crlf", in: []byte("VERSION 1.6.18"), wantErr: true},
		{name: "empty version", in: []byte("VERSION \r\n"), wantErr: true},
		{name: "two words", in: []byte("VERSION 1.6 x\r\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMemcachedVersion(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got (%q, %v), want (%q, err %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseMemcachedUDP(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantID   uint16
		wantBody string
		wantErr  bool
	}{
		{name: "memcached 1.6.18 reply", in: readTestdata(t, "memcached-1.6.18-udp.bin"), wantID: 0x1234, wantBody: "VERSION 1.6.18\r\n"},
		{name: "second datagram of many", in: []byte{0, 1, 0, 1, 0, 2, 0, 0, 'x'}, wantErr: true},
		{name: "short", in: []byte{0, 1, 0}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, body, err := parseMemcachedUDP(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && (id != tt.wantID || string(body) != tt.wantBody) {
				t.Errorf("got (%#x, %q), want (%#x, %q)", id, body, tt.wantID, tt.wantBody)
			}
		})
	}
}

func TestMemcachedProbeTCP(t *testing.T) {
	addr := binServeTCP(t, binStep{frame: frameLine, check: wantBytes("version\r\n"), reply: fixed(readTestdata(t, "memcached-1.6.18-version.txt"))})
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, memcachedProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "memcache", Product: "Memcached", Version: "1.6.18", Info: "tcp", Method: "native:memcache", Certain: true, Evidence: "VERSION 1.6.18"}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

// memcachedUDPFake answers like memcached -U: the captured reply with the
// request's id, after a stray datagram for another request id.
func memcachedUDPFake(t *testing.T) func([]byte) [][]byte {
	captured := readTestdata(t, "memcached-1.6.18-udp.bin")
	return func(req []byte) [][]byte {
		if len(req) != 17 || !bytes.Equal(req[8:], []byte("version\r\n")) || binary.BigEndian.Uint16(req[4:]) != 1 {
			t.Errorf("bad memcached udp request %q", req)
			return nil
		}
		stray := bytes.Clone(captured)
		binary.BigEndian.PutUint16(stray, binary.BigEndian.Uint16(req)+1)
		reply := bytes.Clone(captured)
		copy(reply, req[:2])
		return [][]byte{stray, reply}
	}
}

func TestMemcachedProbeUDP(t *testing.T) {
	addr := binServeUDP(t, memcachedUDPFake(t))
	m, ok, err := binProbe(t, "udp", addr, 5*time.Second, memcachedUDPProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "memcache", Product: "Memcached", Version: "1.6.18", Info: "udp", Method: "native:memcache", Certain: true, Evidence: "VERSION 1.6.18"}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

func TestMemcachedProbeUDPNoAnswer(t *testing.T) {
	addr := binServeUDP(t, func([]byte) [][]byte { return nil })
	_, ok, err := binProbe(t, "udp", addr, 200*time.Millisecond, memcachedUDPProbe)
	if ok || !isTimeoutErr(err) {
		t.Errorf("silent peer: ok %v err %v, want a timeout", ok, err)
	}
}

func FuzzParseMemcached(f *testing.F) {
	addTestdataSeeds(f, "memcached-1.6.18-version.txt", "memcached-1.6.18-udp.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := parseMemcachedVersion(b); err == nil && v == "" {
			t.Fatal("empty version accepted")
		}
		if _, body, err := parseMemcachedUDP(b); err == nil && len(body) != len(b)-8 {
			t.Fatal("udp body length mismatch")
		}
	})
}
