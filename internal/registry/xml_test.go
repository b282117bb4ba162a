package registry

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseXMLExcerpt(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "excerpt.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	snap, err := ParseXML(f)
	if err != nil {
		t.Fatal(err)
	}
	iesg := Person{ID: "IESG", Org: "IESG", URI: "mailto:iesg&ietf.org", URIs: []string{"mailto:iesg&ietf.org", "https://www.ietf.org/"}}
	zimmerman := Person{ID: "David_Zimmerman", Name: "David Zimmerman", URI: "mailto:dpz&example.edu"}
	want := &Snapshot{
		Updated: "2025-12-15",
		Entries: []Entry{
			{
				HasPort: true, Port: 225, PortEnd: 241, Description: "Reserved", Modified: "2024-12-20",
				References: []Reference{{Type: "rfc", Data: "rfc1060", URL: "https://www.rfc-editor.org/rfc/rfc1060"}},
			},
			{
				Service: "finger", Protocol: "tcp", HasPort: true, Port: 79, PortEnd: 79, Description: "Finger",
				Assignee: &zimmerman, Contact: []Person{zimmerman},
				Unauthorized: "Unauthorized use by some mail users (see [RFC4146] for details)",
			},
			{
				Service: "whoispp", Protocol: "tcp", HasPort: true, Port: 63, PortEnd: 63,
				Description: "whois++\nIANA assigned this well-formed service name.",
				Registered:  "2012-07-31", Modified: "2021-10-01",
				Assignee: &iesg,
				Contact: []Person{
					{ID: "IETF_Chair", Name: "IETF Chair", Org: "IETF", URI: "mailto:chair&ietf.org"},
					{ID: "Nobody_Listed"},
				},
				References: []Reference{
					{Type: "draft", Data: "draft-ietf-emailcore-rfc5321bis-43", URL: "https://datatracker.ietf.org/doc/draft-ietf-emailcore-rfc5321bis-43"},
					{Type: "uri", Data: "https://example.org/spec", Text: "Spec", URL: "https://example.org/spec"},
					{Type: "text", Text: "n/a"},
				},
				Notes:       []string{"Defined TXT keys:\ntd: a path.", "Only for explicitly-configured experiments."},
				ServiceCode: "1145656131",
			},
			{Service: "arp", Description: "Address Resolution Protocol"},
		},
	}
	if diff := cmp.Diff(want, snap); diff != "" {
		t.Errorf("ParseXML mismatch (-want +got):\n%s", diff)
	}
}

func TestParseXMLErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no <registry> element"},
		{"garbage", "this is not xml at all", "no <registry> element"},
		{"html", "<html><body>503</body></html>", "root element is <html>"},
		{"truncated", `<registry><updated>2025-12-15</updated><record><name>x</name>`, "EOF"},
		{"bad port", `<registry><record><number>70000</number></record></registry>`, `bad port number "70000"`},
		{"backwards range", `<registry><record><number>9-5</number></record></registry>`, "runs backwards"},
		{"unbalanced", `<registry><record></registry>`, "element <record> closed by </registry>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseXML(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseXML error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// FuzzParseXML checks that the reader never panics on hostile input and
// that whatever it accepts survives the compact encoding unchanged.
func FuzzParseXML(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "excerpt.xml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`<registry><record><name>a</name><number>1-2</number><description>x<br/>y</description></record></registry>`))
	f.Add([]byte(`<registry><people><person id="p"><uri>u</uri></person></people></registry>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		snap, err := ParseXML(bytes.NewReader(in))
		if err != nil {
			return
		}
		data, err := Encode(snap)
		if err != nil {
			return
		}
		r, err := decode(string(data), true)
		if err != nil {
			t.Fatalf("decode(Encode(snap)): %v", err)
		}
		if r.Len() != len(snap.Entries) || r.Updated() != snap.Updated {
			t.Fatalf("round trip: %d records dated %q, want %d dated %q", r.Len(), r.Updated(), len(snap.Entries), snap.Updated)
		}
		order := sortEntries(snap.Entries)
		for ri, i := range order {
			if diff := cmp.Diff(normalized(snap.Entries[i]), r.entry(ri)); diff != "" {
				t.Fatalf("record %d round trip (-want +got):\n%s", i, diff)
			}
		}
	})
}

// normalized is e as the encoding returns it: a single port repeats its
// number as PortEnd; a record without a port has none.
func normalized(e Entry) Entry {
	if !e.HasPort {
		e.Port, e.PortEnd = 0, 0
	}
	return e
}
