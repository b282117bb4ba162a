package probe

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMumblePong(t *testing.T) {
	pong := readTestdata(t, "mumble-1.3.4-ping.bin")
	zeroVersion := bytes.Clone(pong)
	copy(zeroVersion, []byte{0, 0, 0, 0})
	tests := []struct {
		name    string
		in      []byte
		want    Match
		wantErr bool
	}{
		{name: "murmurd 1.3.4", in: pong,
			want: Match{Service: "murmur", Product: "Murmur", Version: "1.3.4", Method: "native:mumble", Certain: true,
				Info: "0/100 users; 72 kbit/s per user"}},
		{name: "our own ping", in: append([]byte{0, 0, 0, 0}, pong[4:12]...), wantErr: true},
		{name: "zero version", in: zeroVersion, wantErr: true},
		{name: "one byte more", in: append(bytes.Clone(pong), 0), wantErr: true},
	}
	for name, b := range udpOtherReplies(t) {
		tests = append(tests, struct {
			name    string
			in      []byte
			want    Match
			wantErr bool
		}{name: name, in: b, wantErr: true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseMumblePong(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, mumblePongMatch(p)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMumbleProbeUDP(t *testing.T) {
	pong := readTestdata(t, "mumble-1.3.4-ping.bin")
	addr := binServeUDP(t, func(q []byte) [][]byte {
		// Murmur 1.3 answers a 12-byte ping that starts with 4 zero bytes.
		if len(q) != 12 || !bytes.Equal(q[:4], []byte{0, 0, 0, 0}) {
			t.Errorf("bad ping %x", q)
			return nil
		}
		// The reply to someone else's ping first, then ours.
		r := bytes.Clone(pong)
		copy(r[4:12], q[4:12])
		return [][]byte{pong, r}
	})
	m, ok, err := binProbe(t, "udp", addr, 5*time.Second, mumbleProbeUDP)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "murmur", Product: "Murmur", Version: "1.3.4", Method: "native:mumble", Certain: true,
		Info: "0/100 users; 72 kbit/s per user"}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

func TestMumbleProbeUDPRejects(t *testing.T) {
	pong := readTestdata(t, "mumble-1.3.4-ping.bin")
	others := udpOtherReplies(t)
	addr := binServeUDP(t, func(q []byte) [][]byte {
		out := [][]byte{q, pong, append(bytes.Clone(q), q...)}
		for _, b := range others {
			out = append(out, b)
		}
		return out
	})
	if m, ok, err := binProbe(t, "udp", addr, 300*time.Millisecond, mumbleProbeUDP); ok || !isTimeoutErr(err) {
		t.Errorf("accepted a reply that is not ours: %+v ok %v err %v", m, ok, err)
	}
}

func FuzzParseMumblePong(f *testing.F) {
	addTestdataSeeds(f, "mumble-1.3.4-ping.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseMumblePong(b)
		if err != nil {
			return
		}
		if len(b) != mumbleReplyLen || p.Version == 0 || p.Version>>24 != 0 {
			t.Fatalf("accepted %x as %+v", b, p)
		}
		_ = clipMatch(mumblePongMatch(p))
	})
}
