package probe

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseNTPReply(t *testing.T) {
	stratum2 := readTestdata(t, "ntp-v4-stratum2.bin")
	unsyncNTPd := bytes.Clone(stratum2)
	unsyncNTPd[0], unsyncNTPd[1] = 3<<6|4<<3|4, 16
	copy(unsyncNTPd[12:], "INIT")
	kiss := bytes.Clone(stratum2)
	kiss[1] = 0
	copy(kiss[12:], "RATE")
	client := bytes.Clone(stratum2)
	client[0] = 4<<3 | 3
	tests := []struct {
		name    string
		in      []byte
		want    Match
		wantErr bool
	}{
		{name: "stratum 2 server", in: stratum2,
			want: Match{Service: "ntp", Product: "NTP", Version: "v4", Info: "stratum 2; refid 192.0.2.1", Method: "native:ntp", Certain: true}},
		{name: "unsynchronised ntpd", in: unsyncNTPd,
			want: Match{Service: "ntp", Product: "NTP", Version: "v4", Info: "stratum 16; refid INIT; unsynchronized; ntpd-style", Method: "native:ntp", Certain: true}},
		{name: "kiss of death", in: kiss,
			want: Match{Service: "ntp", Product: "NTP", Version: "v4", Info: "stratum 0; kiss code RATE", Method: "native:ntp", Certain: true}},
		{name: "chrony 4.3 with local stratum 10", in: readTestdata(t, "chrony-4.3-local-stratum10.bin"),
			want: Match{Service: "ntp", Product: "NTP", Version: "v4", Info: "stratum 10; refid 127.127.1.1; chrony-style local reference", Method: "native:ntp", Certain: true}},
		{name: "chrony 4.3 unsynchronised", in: readTestdata(t, "chrony-4.3-unsync.bin"),
			want: Match{Service: "ntp", Product: "NTP", Version: "v4", Info: "stratum 0; unsynchronized; chrony-style", Method: "native:ntp", Certain: true}},
		{name: "client packet", in: client, wantErr: true},
		{name: "short", in: stratum2[:47], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseNTPReply(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, ntpMatch(r)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNtpProbe(t *testing.T) {
	reply := readTestdata(t, "chrony-4.3-local-stratum10.bin")
	addr := binServeUDP(t, func(q []byte) [][]byte {
		if len(q) != 48 || q[0] != 4<<3|3 {
			t.Errorf("bad ntp request %x: want 48 bytes, v4 client mode", q)
			return nil
		}
		// A reply to someone else's request first, then ours: the server
		// copies our transmit timestamp into the origin field.
		stale := bytes.Clone(reply)
		r := bytes.Clone(reply)
		copy(r[24:32], q[40:48])
		return [][]byte{stale, r}
	})
	m, ok, err := binProbe(t, "udp", addr, 5*time.Second, ntpProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "ntp", Product: "NTP", Version: "v4", Info: "stratum 10; refid 127.127.1.1; chrony-style local reference", Method: "native:ntp", Certain: true}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

func TestNtpProbeIgnoresUnrelatedReplies(t *testing.T) {
	reply := readTestdata(t, "ntp-v4-stratum2.bin")
	addr := binServeUDP(t, func(q []byte) [][]byte {
		r := bytes.Clone(reply)
		binary.BigEndian.PutUint64(r[24:], binary.BigEndian.Uint64(q[40:])+1)
		return [][]byte{r}
	})
	if m, ok, err := binProbe(t, "udp", addr, 200*time.Millisecond, ntpProbe); ok || !isTimeoutErr(err) {
		t.Errorf("a reply with the wrong origin was accepted: %+v ok %v err %v", m, ok, err)
	}
}

func FuzzParseNTPReply(f *testing.F) {
	addTestdataSeeds(f, "ntp-v4-stratum2.bin", "chrony-4.3-local-stratum10.bin", "chrony-4.3-unsync.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseNTPReply(b)
		if err != nil {
			return
		}
		if r.Stratum > 16 || r.Version < 1 || r.Version > 4 {
			t.Fatalf("accepted %+v", r)
		}
		_ = ntpMatch(r)
	})
}
