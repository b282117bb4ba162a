package probe

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Target
		wantErr bool
	}{
		{in: "127.0.0.1:22", want: Target{Host: "127.0.0.1", Port: 22, Transport: "tcp"}},
		{in: "localhost:53/udp", want: Target{Host: "localhost", Port: 53, Transport: "udp"}},
		{in: "localhost:80/TCP", want: Target{Host: "localhost", Port: 80, Transport: "tcp"}},
		{in: "[::1]:3302", want: Target{Host: "::1", Port: 3302, Transport: "tcp"}},
		{in: "[fe80::1%lo]:161/udp", want: Target{Host: "fe80::1%lo", Port: 161, Transport: "udp"}},
		{in: "db.example.org.:5432", want: Target{Host: "db.example.org.", Port: 5432, Transport: "tcp"}},
		{in: "", wantErr: true},
		{in: "localhost", wantErr: true},
		{in: "localhost:", wantErr: true},
		{in: ":22", wantErr: true},
		{in: "localhost:0", wantErr: true},
		{in: "localhost:65536", wantErr: true},
		{in: "localhost:-1", wantErr: true},
		{in: "localhost:+22", wantErr: true},
		{in: "localhost:ssh", wantErr: true},
		{in: "localhost:22/sctp", wantErr: true},
		{in: "::1:22", wantErr: true},
		{in: "[nothost]:22", wantErr: true},
		{in: "bad host:22", wantErr: true},
		{in: "evil\x1b[31m:22", wantErr: true},
		{in: "a..b:22", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTarget(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("ParseTarget(%q) = %+v, want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Raw = tc.in
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			back, err := ParseTarget(got.String())
			if err != nil || back.Host != got.Host || back.Port != got.Port || back.Transport != got.Transport {
				t.Errorf("String() = %q does not parse back: %v", got.String(), err)
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"127.0.0.1:22", "[::1]:53/udp", "host:1/tcp", "::1:2", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		if tg.Port == 0 || tg.Host == "" || (tg.Transport != "tcp" && tg.Transport != "udp") {
			t.Fatalf("ParseTarget(%q) = %+v", s, tg)
		}
		back, err := ParseTarget(tg.String())
		if err != nil || back.Host != tg.Host || back.Port != tg.Port {
			t.Fatalf("%q → %q does not round-trip: %v", s, tg.String(), err)
		}
	})
}
