package probe

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRDPConfirm(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    Match
		wantErr bool
	}{
		{name: "xrdp 0.9.21 selects tls", in: readTestdata(t, "xrdp-0.9.21-cc.bin"),
			want: Match{Service: "ms-wbt-server", Info: "security: TLS", Method: "native:rdp", Certain: true}},
		{name: "old server without negotiation", in: []byte{3, 0, 0, 11, 6, 0xd0, 0, 0, 0x12, 0x34, 0},
			want: Match{Service: "ms-wbt-server", Info: "standard RDP security", Method: "native:rdp", Certain: true}},
		{name: "negotiation failure", in: []byte{3, 0, 0, 19, 14, 0xd0, 0, 0, 0x12, 0x34, 0, 3, 0, 8, 0, 5, 0, 0, 0},
			want: Match{Service: "ms-wbt-server", Info: "negotiation failure 5", Method: "native:rdp", Certain: true}},
		{name: "disconnect request is not a confirm", in: []byte{3, 0, 0, 11, 6, 0x80, 0, 0, 0x12, 0x34, 0}, wantErr: true},
		{name: "tpkt length disagrees", in: []byte{3, 0, 0, 30, 6, 0xd0, 0, 0, 0x12, 0x34, 0}, wantErr: true},
		{name: "not tpkt", in: []byte("HTTP/1.1 400"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, err := parseRDPConfirm(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, rdpMatch(cc)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRdpProbe(t *testing.T) {
	addr := binServeTCP(t, binStep{
		frame: frameTPKT,
		check: func(req []byte) error {
			if len(req) != 19 || req[5] != 0xe0 || req[11] != rdpNegReq {
				return errors.New("not an X.224 connection request with RDP_NEG_REQ")
			}
			return nil
		},
		reply: fixed(readTestdata(t, "xrdp-0.9.21-cc.bin")),
	})
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, rdpProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "ms-wbt-server", Info: "security: TLS", Method: "native:rdp", Certain: true}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
	if !bytes.Equal(rdpConnectionRequest()[:4], []byte{3, 0, 0, 19}) {
		t.Error("connection request TPKT header")
	}
}

func FuzzParseRDPConfirm(f *testing.F) {
	addTestdataSeeds(f, "xrdp-0.9.21-cc.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		if cc, err := parseRDPConfirm(b); err == nil {
			_ = rdpMatch(cc)
		}
	})
}
