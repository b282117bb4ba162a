package probe

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRFB(t *testing.T) {
	tests := []struct {
		name     string
		banner   []byte
		security []byte
		v33      bool
		want     Match
		wantErr  bool
	}{
		{name: "tigervnc 1.12 with TLSNone,None", banner: readTestdata(t, "tigervnc-1.12-banner.bin"), security: readTestdata(t, "tigervnc-1.12-security-vencrypt.bin"),
			want: Match{Service: "vnc", Product: "VNC", Info: "protocol 3.8; security: VeNCrypt, none", Method: "native:vnc", Certain: true}},
		{name: "tigervnc 1.12 with None", banner: readTestdata(t, "tigervnc-1.12-banner.bin"), security: readTestdata(t, "tigervnc-1.12-security-none.bin"),
			want: Match{Service: "vnc", Product: "VNC", Info: "protocol 3.8; security: none", Method: "native:vnc", Certain: true}},
		{name: "rfb 3.3 server chooses none", banner: []byte("RFB 003.003\n"), security: []byte{0, 0, 0, 1}, v33: true,
			want: Match{Service: "vnc", Product: "VNC", Info: "protocol 3.3; security: none", Method: "native:vnc", Certain: true}},
		{name: "apple remote desktop", banner: []byte("RFB 003.889\n"), security: []byte{2, 30, 2},
			want: Match{Service: "vnc", Product: "Apple remote desktop vnc", Info: "protocol 3.889; security: Apple DH, VNC password", Method: "native:vnc", Certain: true}},
		{name: "refused with reason", banner: []byte("RFB 003.008\n"), security: []byte{0, 0, 0, 0, 4, 'b', 'u', 's', 'y'}, wantErr: true},
		{name: "bad banner", banner: []byte("RFB 3.8\n0000\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parseRFBBanner(tt.banner)
			var types []byte
			if err == nil {
				types, err = parseRFBSecurity(tt.security, tt.v33)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, vncMatch(v, types)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVncBannerAndProbe(t *testing.T) {
	banner := readTestdata(t, "tigervnc-1.12-banner.bin")
	if m, ok := vncBanner(banner); !ok || m.Info != "protocol 3.8" {
		t.Errorf("banner: got (%+v, %v)", m, ok)
	}
	addr := binServeTCP(t,
		binStep{reply: fixed(banner)},
		binStep{frame: frameExact(12), check: wantBytes("RFB 003.008\n"), reply: fixed(readTestdata(t, "tigervnc-1.12-security-vencrypt.bin"))},
	)
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, vncProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "vnc", Product: "VNC", Info: "protocol 3.8; security: VeNCrypt, none", Method: "native:vnc", Certain: true}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

func FuzzParseRFB(f *testing.F) {
	addTestdataSeeds(f, "tigervnc-1.12-banner.bin", "tigervnc-1.12-security-vencrypt.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := parseRFBBanner(b); err == nil {
			_ = vncMatch(v, nil)
		}
		if len(b) > 0 {
			if types, err := parseRFBSecurity(b[1:], b[0]&1 == 1); err == nil && len(types) == 0 {
				t.Fatal("accepted an empty security list")
			}
		}
	})
}

// An RFB 3.3 server chooses the security type itself and sends it as a
// 32-bit number after the client echoes 3.3.
func TestVncProbeRFB33(t *testing.T) {
	addr := binServeTCP(t,
		binStep{reply: fixed([]byte("RFB 003.003\n"))},
		binStep{frame: frameExact(12), check: wantBytes("RFB 003.003\n"), reply: fixed([]byte{0, 0, 0, 2})},
	)
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, vncProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "vnc", Product: "VNC", Info: "protocol 3.3; security: VNC password", Method: "native:vnc", Certain: true}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}
