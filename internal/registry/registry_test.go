package registry

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sharedXML is IANA's XML snapshot, kept outside the repository (it must not
// be committed): ../shared relative to the repository root.
func sharedXML(t testing.TB) []byte {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "data", "iana", "service-names-port-numbers.xml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("IANA XML snapshot not available (%v); it lives outside the repository", err)
	}
	return b
}

// brief is the part of an entry the fact tables check.
type brief struct {
	Service, Protocol, Port, Description, Assignee string
}

func briefs(es []Entry) []brief {
	var out []brief
	for _, e := range es {
		b := brief{Service: e.Service, Protocol: e.Protocol, Port: e.PortString(), Description: e.Description}
		if e.Assignee != nil {
			b.Assignee = e.Assignee.Label()
		}
		out = append(out, b)
	}
	return out
}

func TestPortFacts(t *testing.T) {
	r := Embedded()
	tests := []struct {
		name  string
		port  uint16
		proto string
		want  []brief
	}{
		{"3302 both protocols", 3302, "", []brief{
			{"mcs-fastmail", "tcp", "3302", "MCS Fastmail", "Patti Jo Newsom"},
			{"mcs-fastmail", "udp", "3302", "MCS Fastmail", "Patti Jo Newsom"},
		}},
		{"3302 udp", 3302, "udp", []brief{
			{"mcs-fastmail", "udp", "3302", "MCS Fastmail", "Patti Jo Newsom"},
		}},
		{"22 tcp ssh", 22, "tcp", []brief{
			{"ssh", "tcp", "22", "The Secure Shell (SSH) Protocol", ""},
		}},
		{"443 tcp https", 443, "tcp", []brief{
			{"https", "tcp", "443", "http protocol over TLS/SSL", "IESG"},
		}},
		{"5353 udp mdns", 5353, "udp", []brief{
			{"mdns", "udp", "5353", "Multicast DNS", "IESG"},
		}},
		{"inside a reserved range", 230, "tcp", []brief{
			{"", "", "225-241", "Reserved", ""},
		}},
		{"inside a named range", 4250, "udp", []brief{
			{"vrml-multi-use", "", "4200-4299", "VRML Multi User Systems", "Mitra"},
		}},
		{"dynamic range is not assigned", 60000, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, briefs(r.Port(tt.port, tt.proto))); diff != "" {
				t.Errorf("Port(%d, %q) (-want +got):\n%s", tt.port, tt.proto, diff)
			}
		})
	}
}

func TestEntryDetails(t *testing.T) {
	r := Embedded()
	t.Run("3302 assignee and contact", func(t *testing.T) {
		es := r.Port(3302, "tcp")
		if len(es) != 1 {
			t.Fatalf("Port(3302, tcp) = %d entries, want 1", len(es))
		}
		want := Person{ID: "Patti_Jo_Newsom", Name: "Patti Jo Newsom", URI: "mailto:pjn&mcsdallas.com"}
		if diff := cmp.Diff(&want, es[0].Assignee); diff != "" {
			t.Errorf("assignee (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]Person{want}, es[0].Contact); diff != "" {
			t.Errorf("contact (-want +got):\n%s", diff)
		}
		if got := es[0].References; len(got) != 0 {
			t.Errorf("references = %v, want none (a ghost registration)", got)
		}
	})
	t.Run("unauthorized use on 79", func(t *testing.T) {
		es := r.Port(79, "tcp")
		if len(es) != 1 || es[0].Unauthorized != "Unauthorized use by some mail users (see [RFC4146] for details)" {
			t.Fatalf("Port(79, tcp) = %+v, want finger with its unauthorized note", es)
		}
	})
	t.Run("https references and dates", func(t *testing.T) {
		es := r.Port(443, "tcp")
		if len(es) != 1 {
			t.Fatalf("Port(443, tcp) = %d entries", len(es))
		}
		var urls []string
		for _, ref := range es[0].References {
			urls = append(urls, ref.URL)
		}
		if diff := cmp.Diff([]string{"https://www.rfc-editor.org/rfc/rfc9110"}, urls); diff != "" {
			t.Errorf("443/tcp reference URLs (-want +got):\n%s", diff)
		}
	})
	t.Run("http assignee and contact differ", func(t *testing.T) {
		es := r.Port(80, "tcp")
		if len(es) != 3 || es[0].Service != "http" || es[0].Assignee == nil || es[0].Assignee.Org != "IESG" ||
			len(es[0].Contact) != 1 || es[0].Contact[0].Name != "IETF Chair" || es[0].Modified != "2021-10-01" {
			t.Fatalf("Port(80, tcp) = %+v, want http (then www, www-http) assigned to IESG, contact IETF Chair, updated 2021-10-01", es)
		}
	})
	t.Run("footnote becomes a note", func(t *testing.T) {
		es := r.Port(1021, "tcp")
		if len(es) != 1 || len(es[0].Notes) != 1 || !strings.HasPrefix(es[0].Notes[0], "It is only appropriate") {
			t.Fatalf("Port(1021, tcp) = %+v, want exp1 with the RFC 3692 footnote", es)
		}
	})
	t.Run("registration date", func(t *testing.T) {
		es := r.Port(300, "tcp")
		if len(es) != 1 || es[0].Service != "tacacss" || es[0].Registered != "2025-07-15" {
			t.Fatalf("Port(300, tcp) = %+v, want tacacss registered 2025-07-15", es)
		}
	})
}

func TestName(t *testing.T) {
	r := Embedded()
	tests := []struct {
		name string
		want []brief
	}{
		{"mcs-fastmail", []brief{
			{"mcs-fastmail", "tcp", "3302", "MCS Fastmail", "Patti Jo Newsom"},
			{"mcs-fastmail", "udp", "3302", "MCS Fastmail", "Patti Jo Newsom"},
		}},
		{"MDNS", []brief{
			{"mdns", "tcp", "5353", "Multicast DNS", "IESG"},
			{"mdns", "udp", "5353", "Multicast DNS", "IESG"},
		}},
		{"arp", []brief{ // a name-only record: a service name with no port
			{"arp", "", "", "Address Resolution Protocol", ""},
		}},
		{"no-such-service", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, briefs(r.Name(tt.name))); diff != "" {
				t.Errorf("Name(%q) (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestNamesWithPrefix(t *testing.T) {
	r := Embedded()
	tests := []struct {
		prefix string
		limit  int
		want   []string
	}{
		{"mcs-f", 10, []string{"mcs-fastmail"}},
		{"HTTPS", 3, []string{"https", "https-wmap"}},
		{"mdns", 5, []string{"mdns", "mdnsresponder"}},
		{"zzzzz", 5, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, r.NamesWithPrefix(tt.prefix, tt.limit)); diff != "" {
			t.Errorf("NamesWithPrefix(%q) (-want +got):\n%s", tt.prefix, diff)
		}
	}
}

func TestNeighbours(t *testing.T) {
	r := Embedded()
	tests := []struct {
		name         string
		port         uint16
		proto        string
		below, above []string
	}{
		{"after a named range", 3326, "", []string{"3322-3325 active-net"}, []string{"3327/tcp bbars", "3327/udp bbars"}},
		{"in the dynamic range", 50000, "tcp", []string{"49150/tcp"}, []string{}},
	}
	label := func(es []Entry) []string {
		out := []string{}
		for _, e := range es {
			s := e.PortString()
			if e.Protocol != "" {
				s += "/" + e.Protocol
			}
			if e.Service != "" {
				s += " " + e.Service
			}
			out = append(out, s)
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			below, above := r.Neighbours(tt.port, tt.proto)
			got := [2][]string{label(below), label(above)}
			if len(tt.below) == 1 && !strings.Contains(tt.below[0], " ") {
				// Only the port of the nearest assignment is pinned down.
				for i, l := range got[0] {
					got[0][i], _, _ = strings.Cut(l, " ")
				}
				got[0] = got[0][:min(1, len(got[0]))]
			}
			if diff := cmp.Diff([2][]string{tt.below, tt.above}, got); diff != "" {
				t.Errorf("Neighbours(%d) (-want +got):\n%s", tt.port, diff)
			}
		})
	}
}

func TestSearchRanking(t *testing.T) {
	r := Embedded()
	tests := []struct {
		query   string
		limit   int
		wantTop []string // service/protocol of the first results, in order
	}{
		{"ssh", 3, []string{"ssh/tcp", "ssh/udp", "ssh/sctp"}},
		{"MCS Fastmail", 2, []string{"mcs-fastmail/tcp", "mcs-fastmail/udp"}},
		{"mdns", 2, []string{"mdns/tcp", "mdns/udp"}},
		{"Patti Jo Newsom", 2, []string{"mcs-fastmail/tcp", "mcs-fastmail/udp"}}, // assignee
		{"zzzz-nothing-matches", 5, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got := []string{}
			for _, e := range r.Search(tt.query, tt.limit) {
				got = append(got, e.Service+"/"+e.Protocol)
			}
			if diff := cmp.Diff(tt.wantTop, got); diff != "" {
				t.Errorf("Search(%q) (-want +got):\n%s", tt.query, diff)
			}
		})
	}
	t.Run("exact name before prefix before description", func(t *testing.T) {
		es := r.Search("http", 0)
		if len(es) < 10 || es[0].Service != "http" {
			t.Fatalf("Search(http) first = %q, want http", es[0].Service)
		}
		seenOther := false
		for _, e := range es {
			isPrefix := strings.HasPrefix(e.Service, "http")
			if !isPrefix {
				seenOther = true
			} else if seenOther && e.Service != "" {
				t.Fatalf("Search(http): %s ranked after a non-prefix match", e.Service)
			}
		}
	})
}

func TestPortRange(t *testing.T) {
	tests := []struct {
		port uint16
		want string
	}{{0, "system"}, {1023, "system"}, {1024, "user"}, {3302, "user"}, {49151, "user"}, {49152, "dynamic"}, {65535, "dynamic"}}
	for _, tt := range tests {
		if got := PortRange(tt.port); got.Name != tt.want || got.Meaning == "" || tt.port < got.Low || tt.port > got.High {
			t.Errorf("PortRange(%d) = %+v, want %s", tt.port, got, tt.want)
		}
	}
}

func TestEmbeddedIsCurrent(t *testing.T) {
	r := Embedded()
	if r.Updated() != "2025-12-15" || r.Len() != 14496 || r.Source() != "embedded" {
		t.Fatalf("embedded registry: updated %q, %d records, source %q", r.Updated(), r.Len(), r.Source())
	}
	if err := Validate(r); err != nil {
		t.Fatal(err)
	}
	// The embedded file must be what the generator makes from the snapshot,
	// byte for byte: the generator is deterministic and nobody hand-edits it.
	snap, err := ParseXML(bytes.NewReader(sharedXML(t)))
	if err != nil {
		t.Fatal(err)
	}
	data, err := Encode(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, []byte(embedded)) {
		t.Fatal("zz_generated_registry.bin is stale: run go generate ./internal/registry")
	}
}

// TestEveryRecordRoundTrips decodes all records of the real registry and
// compares them with what the XML reader produced.
func TestEveryRecordRoundTrips(t *testing.T) {
	snap, err := ParseXML(bytes.NewReader(sharedXML(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Entries) != 14496 {
		t.Fatalf("%d records, want 14496", len(snap.Entries))
	}
	r := Embedded()
	for ri, i := range sortEntries(snap.Entries) {
		if diff := cmp.Diff(normalized(snap.Entries[i]), r.entry(ri)); diff != "" {
			t.Fatalf("record %d (-xml +decoded):\n%s", i, diff)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(embedded[:headerSize+200]))
	f.Add([]byte(magic + "\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decode(string(data), false)
		if err != nil {
			return
		}
		// Nothing a crafted file holds may crash a lookup.
		r.Port(80, "tcp")
		r.Name("http")
		r.Neighbours(3302, "")
		r.Search("web", 3)
		for i := 0; i < min(r.nRecords, 64); i++ {
			r.entry(i)
		}
	})
}

func BenchmarkPort(b *testing.B) {
	r := Embedded()
	b.ReportAllocs()
	for b.Loop() {
		if len(r.Port(3302, "")) != 2 {
			b.Fatal("3302 not found")
		}
	}
}

func BenchmarkEmbeddedPort(b *testing.B) {
	// What a cold `portwho info 3302` pays for the registry: open the
	// embedded snapshot and look one port up.
	b.ReportAllocs()
	for b.Loop() {
		if len(Embedded().Port(3302, "")) != 2 {
			b.Fatal("3302 not found")
		}
	}
}

func BenchmarkSearch(b *testing.B) {
	r := Embedded()
	b.ReportAllocs()
	for b.Loop() {
		r.Search("fastmail", 10)
	}
}
