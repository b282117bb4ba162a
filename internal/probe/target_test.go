package probe

import (
	"strings"
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

func TestParseTargets(t *testing.T) {
	ports := func(ts []Target) []uint16 {
		var out []uint16
		for _, t := range ts {
			out = append(out, t.Port)
		}
		return out
	}
	for _, tc := range []struct {
		in        string
		want      []uint16
		transport string
		err       string
	}{
		{in: "127.0.0.1:22", want: []uint16{22}, transport: "tcp"},
		{in: "127.0.0.1:8000-8003", want: []uint16{8000, 8001, 8002, 8003}, transport: "tcp"},
		{in: "localhost:22,80,79-81/udp", want: []uint16{22, 80, 79, 81}, transport: "udp"},
		{in: "[::1]:53-54", want: []uint16{53, 54}, transport: "tcp"},
		{in: "127.0.0.1:65535-65535", want: []uint16{65535}, transport: "tcp"},
		{in: "8081", err: "missing host"},
		{in: "8000-8100", err: "missing host"},
		{in: ":22", err: "missing host"},
		{in: "localhost", err: "missing port"},
		{in: "127.0.0.1:90-80", err: "must not exceed"},
		{in: "127.0.0.1:0-3", err: "from 1 to 65535"},
		{in: "127.0.0.1:1-65536", err: "from 1 to 65535"},
		{in: "127.0.0.1:22,,80", err: "from 1 to 65535"},
		{in: "127.0.0.1:-", err: "from 1 to 65535"},
		{in: "::1:22-23", err: "brackets"},
		{in: "bad!host:1-2", err: "valid host"},
		{in: "localhost:1-2/sctp", err: "transport"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseTargets(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseTargets(%q) = %v, %v; want an error saying %q", tc.in, ports(got), err, tc.err)
				}
				if strings.Count(err.Error(), "target ") > 1 {
					t.Errorf("error names the target twice: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, ports(got)); d != "" {
				t.Errorf("ports (-want +got)\n%s", d)
			}
			for _, tg := range got {
				if tg.Transport != tc.transport || tg.Raw != tc.in {
					t.Errorf("%+v: want transport %s and Raw %q", tg, tc.transport, tc.in)
				}
			}
		})
	}
}

func FuzzParseTargets(f *testing.F) {
	for _, s := range []string{"127.0.0.1:22-25", "[::1]:1,2,3-4/udp", "8081", "h:1-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseTargets(s)
		if err != nil {
			return
		}
		if len(ts) == 0 || len(ts) > 65535 {
			t.Fatalf("ParseTargets(%q): %d targets", s, len(ts))
		}
		seen := map[uint16]bool{}
		for _, tg := range ts {
			if tg.Port == 0 || tg.Host != ts[0].Host || seen[tg.Port] {
				t.Fatalf("ParseTargets(%q): bad or repeated %+v", s, tg)
			}
			seen[tg.Port] = true
		}
	})
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
