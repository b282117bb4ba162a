package registry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseServices(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Service
	}{
		{"name, port and aliases", "discard\t9/tcp\t\tsink null\n", []Service{{Name: "discard", Port: 9, Protocol: "tcp", Aliases: []string{"sink", "null"}}}},
		{"comment after entry", "ssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol\n", []Service{{Name: "ssh", Port: 22, Protocol: "tcp"}}},
		{"comment and blank lines", "# Network services\n\n   \n", nil},
		{"malformed lines skipped", "noport\nbad\tx/tcp\nbig\t70000/tcp\nnoproto\t5/\nok\t7/UDP\n", []Service{{Name: "ok", Port: 7, Protocol: "udp"}}},
		{"no trailing newline", "mdns 5353/udp", []Service{{Name: "mdns", Port: 5353, Protocol: "udp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseServices(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseServices (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReadServicesDebian reads a copy of Debian's /etc/services.
func TestReadServicesDebian(t *testing.T) {
	svcs, err := ReadServices(filepath.Join("testdata", "services.debian"))
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) < 300 {
		t.Fatalf("%d services, want the 300-odd of Debian's file", len(svcs))
	}
	tests := []struct {
		port  uint16
		proto string
		want  []Service
	}{
		{22, "tcp", []Service{{Name: "ssh", Port: 22, Protocol: "tcp"}}},
		{80, "", []Service{{Name: "http", Port: 80, Protocol: "tcp", Aliases: []string{"www"}}}},
		{443, "", []Service{{Name: "https", Port: 443, Protocol: "tcp"}, {Name: "https", Port: 443, Protocol: "udp"}}},
		{3302, "", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ServicesFor(svcs, tt.port, tt.proto)); diff != "" {
			t.Errorf("ServicesFor(%d, %q) (-want +got):\n%s", tt.port, tt.proto, diff)
		}
	}
	if got := ServicesNamed(svcs, "www"); len(got) != 1 || got[0].Port != 80 {
		t.Errorf("ServicesNamed(www) = %+v, want http on 80", got)
	}
}

func TestReadServicesFiltered(t *testing.T) {
	path := filepath.Join("testdata", "services.debian")
	tests := []struct {
		name string
		read func() ([]Service, error)
		want []Service
	}{
		{"port, any protocol", func() ([]Service, error) { return ReadServicesPort(path, 443, 443, "") },
			[]Service{{Name: "https", Port: 443, Protocol: "tcp"}, {Name: "https", Port: 443, Protocol: "udp"}}},
		{"port and protocol", func() ([]Service, error) { return ReadServicesPort(path, 443, 443, "udp") },
			[]Service{{Name: "https", Port: 443, Protocol: "udp"}}},
		{"range", func() ([]Service, error) { return ReadServicesPort(path, 20, 22, "tcp") },
			[]Service{{Name: "ftp-data", Port: 20, Protocol: "tcp"}, {Name: "ftp", Port: 21, Protocol: "tcp"}, {Name: "ssh", Port: 22, Protocol: "tcp"}}},
		{"by alias, any case", func() ([]Service, error) { return ReadServicesNamed(path, "WWW") },
			[]Service{{Name: "http", Port: 80, Protocol: "tcp", Aliases: []string{"www"}}}},
		{"nothing", func() ([]Service, error) { return ReadServicesPort(path, 3302, 3302, "") }, nil},
	}
	all, err := ReadServices(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	// The filtered readers agree with filtering the whole file.
	if diff := cmp.Diff(ServicesFor(all, 53, ""), must(ReadServicesPort(path, 53, 53, ""))); diff != "" {
		t.Errorf("ReadServicesPort(53) differs from ServicesFor (-want +got):\n%s", diff)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func BenchmarkReadServicesPort(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadServicesPort(filepath.Join("testdata", "services.debian"), 3302, 3302, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReadServicesMissing(t *testing.T) {
	_, err := ReadServices(filepath.Join(t.TempDir(), "nope"))
	if !os.IsNotExist(err) {
		t.Fatalf("ReadServices(missing) error = %v, want not-exist", err)
	}
}

func FuzzParseServices(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "services.debian"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed))
	f.Add("a 1/tcp b c # d\n")
	f.Fuzz(func(t *testing.T, in string) {
		svcs, _ := ParseServices(strings.NewReader(in))
		for _, s := range svcs {
			if s.Name == "" || s.Protocol == "" || strings.ContainsAny(s.Name, " \t\n#") {
				t.Fatalf("bad service %+v from %q", s, in)
			}
		}
	})
}
