package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/portwho/portwho/internal/registry"
)

// testIO returns streams writing to buffers, not a terminal: no colour.
func testIO() (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, &out, &errOut
}

func embeddedRegistry() (*registry.Registry, error) { return registry.Embedded(), nil }

// writeServices writes a services file naming 3302/tcp differently from
// IANA, as hosts with local additions do.
func writeServices(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "services")
	data := "# local\nssh\t\t22/tcp\nghostmail\t3302/tcp\tgm\t# local mail relay\nmdns\t\t5353/udp\nmyapp\t\t60000/tcp\n"
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func infoExit(err error) int {
	code, _ := exitCode(err)
	return code
}

func TestInfoHuman3302(t *testing.T) {
	io, out, errOut := testIO()
	opts := &InfoOptions{IO: io, Registry: embeddedRegistry, Arg: "3302", Limit: 100}
	if err := infoRun(opts); err != nil {
		t.Fatal(err)
	}
	want := `3302/tcp  mcs-fastmail  MCS Fastmail
3302/udp  mcs-fastmail  MCS Fastmail
  assignee       Patti Jo Newsom (mailto:pjn&mcsdallas.com)
  spec           none referenced in the registry (no RFC, no draft, no URI)
  range          User Port (1024-49151): registered with IANA, no privileges needed to bind
  registry       IANA Service Name and Transport Protocol Port Number Registry, updated 2025-12-15
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("portwho info 3302 (-want +got):\n%s", diff)
	}
	if errOut.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", errOut)
	}
}

func TestInfoJSON3302(t *testing.T) {
	io, out, _ := testIO()
	opts := &InfoOptions{IO: io, Registry: embeddedRegistry, Arg: "3302", JSON: true, Limit: 100, EtcServices: writeServices(t)}
	if err := infoRun(opts); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got["registry_updated"] != "2025-12-15" || got["kind"] != "port" || got["assigned"] != true || got["port"] != 3302.0 {
		t.Errorf("top level = %v", got)
	}
	entries, _ := got["entries"].([]any)
	if len(entries) != 2 {
		t.Fatalf("entries = %v, want 2", got["entries"])
	}
	want := map[string]any{
		"service": "mcs-fastmail", "protocol": "tcp", "port": 3302.0, "port_end": 3302.0,
		"description": "MCS Fastmail",
		"assignee":    map[string]any{"id": "Patti_Jo_Newsom", "name": "Patti Jo Newsom", "org": "", "uri": "mailto:pjn&mcsdallas.com"},
		"contact":     []any{map[string]any{"id": "Patti_Jo_Newsom", "name": "Patti Jo Newsom", "org": "", "uri": "mailto:pjn&mcsdallas.com"}},
		"registered":  "", "modified": "", "references": []any{}, "notes": []any{}, "unauthorized": "",
		"range": "user",
	}
	if diff := cmp.Diff(want, entries[0]); diff != "" {
		t.Errorf("entries[0] (-want +got):\n%s", diff)
	}
	if e1 := entries[1].(map[string]any); e1["protocol"] != "udp" {
		t.Errorf("entries[1].protocol = %v, want udp", e1["protocol"])
	}
	etc := got["etc_services"].([]any)
	wantEtc := []any{map[string]any{"name": "ghostmail", "port": 3302.0, "protocol": "tcp", "aliases": []any{"gm"}, "differs_from_iana": true}}
	if diff := cmp.Diff(wantEtc, etc); diff != "" {
		t.Errorf("etc_services (-want +got):\n%s", diff)
	}
	rg := got["range"].(map[string]any)
	if rg["name"] != "user" || rg["low"] != 1024.0 || rg["high"] != 49151.0 {
		t.Errorf("range = %v", rg)
	}
}

func TestInfoCases(t *testing.T) {
	services := writeServices(t)
	tests := []struct {
		name     string
		arg      string
		limit    int
		wantCode int
		want     []string // lines or fragments the human output must hold
		wantErr  string
	}{
		{"ssh", "22/tcp", 0, ExitOK, []string{"22/tcp  ssh  The Secure Shell (SSH) Protocol", "spec           https://www.rfc-editor.org/rfc/rfc4251", "range          System Port (0-1023)"}, ""},
		{"https by name", "https", 0, ExitOK, []string{"443/tcp  https  http protocol over TLS/SSL", "443/udp  https", "443/sctp  https  HTTPS", "spec           https://www.rfc-editor.org/rfc/rfc9110"}, ""},
		{"mdns udp", "5353/udp", 0, ExitOK, []string{"5353/udp  mdns  Multicast DNS", "https://www.rfc-editor.org/rfc/rfc6762"}, ""},
		{"host names the port differently", "3302/tcp", 0, ExitOK, []string{`/etc/services  3302/tcp is "ghostmail" here (aliases gm); IANA: mcs-fastmail`}, ""},
		{"unauthorized use", "79/tcp", 0, ExitOK, []string{"79/tcp  finger  Finger", "unauthorized   Unauthorized use by some mail users (see [RFC4146] for details)"}, ""},
		{"named range record", "4250", 0, ExitOK, []string{"4200-4299 (any)  vrml-multi-use  VRML Multi User Systems"}, ""},
		{"name-only record", "arp", 0, ExitOK, []string{"(no port)  arp  Address Resolution Protocol"}, ""},
		{"reserved block is not an assignment", "230", 0, ExitNotFound, []string{"225-241 (any)  -  Reserved", "assigned       no service name is registered for this port", "below          224/tcp"}, ""},
		{"unassigned dynamic port", "60000/tcp", 0, ExitNotFound, []string{"60000/tcp  unassigned: no record in the registry", "range          Dynamic/Private Port (49152-65535)", "below          49150/tcp  inspider  InSpider System", "above          no assigned port", `/etc/services  60000/tcp is "myapp" here; IANA has no such name for it`}, ""},
		{"range paged", "225-300", 10, ExitOK, []string{"225-241 (any)  -           Reserved", "245/udp        link        LINK", "more           records left out; continue with: portwho info 246-300"}, ""},
		{"page smaller than one port", "80-81/tcp", 1, ExitOK, []string{"80/tcp  http", "80/tcp  www ", "80/tcp  www-http", "continue with: portwho info 81-81/tcp"}, ""},
		{"last port, tiny page", "65535-65535", 1, ExitNotFound, []string{"65535-65535  no records in the registry"}, ""},
		{"range with protocol", "5353-5354/udp", 0, ExitOK, []string{"5353/udp  mdns           Multicast DNS", "5354/udp  mdnsresponder  Multicast DNS Responder IPC"}, ""},
		{"unknown name", "no-such-service", 0, ExitNotFound, []string{"no-such-service  no such service name in the registry"}, ""},
		{"out of range", "70000", 0, ExitError, nil, "port 70000 out of range (0-65535)"},
		{"range out of range", "1-70000", 0, ExitError, nil, "port 70000 out of range (0-65535)"},
		{"backwards range", "10-5", 0, ExitError, nil, `port range "10-5" runs backwards`},
		{"bad protocol", "3302/icmp", 0, ExitError, nil, `unknown protocol "icmp"`},
		{"not a number", "33x", 0, ExitError, nil, `"33x" is not a port (0-65535), a port range or a service name`},
		{"empty", "/tcp", 0, ExitError, nil, "nothing to look up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			io, out, _ := testIO()
			err := infoRun(&InfoOptions{IO: io, Registry: embeddedRegistry, Arg: tt.arg, Limit: tt.limit, EtcServices: services})
			if got := infoExit(err); got != tt.wantCode {
				t.Fatalf("exit code = %d (err %v), want %d", got, err, tt.wantCode)
			}
			if tt.wantErr != "" {
				var ue *UsageError
				if !errors.As(err, &ue) || !strings.Contains(ue.Msg, tt.wantErr) {
					t.Fatalf("error = %v, want a UsageError containing %q", err, tt.wantErr)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if !strings.HasSuffix(out.String(), "updated 2025-12-15\n") {
				t.Errorf("output does not end with the registry's date:\n%s", out)
			}
		})
	}
}

func TestLookupInfoRangeNext(t *testing.T) {
	reg := registry.Embedded()
	res, err := lookupInfoLimit(reg, "225-300", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || res.Next != "246-300" {
		t.Fatalf("truncated %v next %q, want a next page from 246", res.Truncated, res.Next)
	}
	// The next page starts where this one stopped, with no port lost or
	// repeated.
	next, err := lookupInfoLimit(reg, res.Next, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	last := res.Entries[len(res.Entries)-1].Port
	if first := next.Entries[0].Port; first <= last {
		t.Fatalf("next page starts at %d, previous ended at %d", first, last)
	}
}

// hostileXML is a plausible registry (enough records, http on 80) with a
// record whose text tries to drive the terminal.
func hostileXML(updated string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<registry><updated>%s</updated>\n", updated)
	b.WriteString("<record><name>http</name><protocol>tcp</protocol><description>World Wide Web HTTP</description><number>80</number></record>\n")
	b.WriteString("<record><name>evil\u009b2J</name><protocol>tcp</protocol><description>Evil\u009b31mred\u202eesrever\u0085x</description>" +
		"<number>31337</number><note>line one<br/><br/>\u009b?25l</note><unauthorized>\u200bhidden</unauthorized></record>\n")
	for i := 0; i < registry.MinRecords; i++ {
		fmt.Fprintf(&b, "<record><name>svc-%d</name><protocol>udp</protocol><description>Filler</description><number>%d</number></record>\n", i, 1024+i)
	}
	b.WriteString("</registry>\n")
	return b.Bytes()
}

func TestInfoHostileRegistryStaysEscaped(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "hostile.xml")
	if err := os.WriteFile(src, hostileXML("2030-01-01"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	if _, err := registry.Update(t.Context(), registry.UpdateOptions{From: src, CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Load(cache)
	if err != nil || reg.Updated() != "2030-01-01" {
		t.Fatalf("Load = %v, %v", reg.Updated(), err)
	}
	io, out, _ := testIO()
	io.OutTTY = true // the case that matters: a terminal
	err = infoRun(&InfoOptions{IO: io, Registry: func() (*registry.Registry, error) { return reg, nil }, Arg: "31337", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, bad := range []string{"\u009b", "\u202e", "\u0085", "\u200b"} {
		if strings.Contains(s, bad) {
			t.Errorf("raw %q reached the terminal:\n%s", bad, s)
		}
	}
	// U+0085 (NEL) is whitespace to the XML reader, so it became a space.
	for _, want := range []string{`evil\u009b2J`, `Evil\u009b31mred\u202eesrever x`, `\u009b?25l`, `\u200bhidden`, "cached copy " + filepath.Join(cache, registry.CacheFile)} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks the escaped %q:\n%s", want, s)
		}
	}
	// Search goes through the same printer.
	io, out, _ = testIO()
	if err := searchRun(&SearchOptions{IO: io, Registry: func() (*registry.Registry, error) { return reg, nil }, Query: "evil", Limit: 5}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "\u009b") || !strings.Contains(out.String(), `evil\u009b2J`) {
		t.Errorf("search output not escaped:\n%s", out)
	}
}

func TestFactoryRegistryIgnoresBadCache(t *testing.T) {
	xdg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(xdg, "portwho"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(xdg, "portwho", registry.CacheFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	io, _, errOut := testIO()
	f := &Factory{IO: io, Getenv: func(k string) string {
		if k == "XDG_CACHE_HOME" {
			return xdg
		}
		return ""
	}}
	reg, err := f.Registry()
	if err != nil || reg.Source() != "embedded" {
		t.Fatalf("Registry() = %v, %v; want the embedded copy", reg.Source(), err)
	}
	if !strings.Contains(errOut.String(), "warning: ignoring cached registry") || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("stderr = %q, want one warning line", errOut)
	}
	if again, _ := f.Registry(); again != reg || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("Registry() loaded twice")
	}
}

func TestCacheDir(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"xdg", map[string]string{"XDG_CACHE_HOME": "/x/cache", "HOME": "/home/u"}, "/x/cache/portwho"},
		{"relative xdg is ignored", map[string]string{"XDG_CACHE_HOME": "rel", "HOME": "/home/u"}, "/home/u/.cache/portwho"},
		{"home", map[string]string{"HOME": "/home/u"}, "/home/u/.cache/portwho"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Factory{Getenv: func(k string) string { return tt.env[k] }}
			got, err := f.CacheDir()
			if err != nil || got != tt.want {
				t.Errorf("CacheDir() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCompleteServiceNames(t *testing.T) {
	tests := []struct {
		prefix string
		want   []string
	}{
		{"mcs-fa", []string{"mcs-fastmail"}},
		{"33", nil}, // ports are not completed
		{"", nil},
	}
	for _, tt := range tests {
		got, dir := completeServiceNames(embeddedRegistry, nil, tt.prefix)
		if diff := cmp.Diff(tt.want, got); diff != "" || dir != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("complete %q: directive %d (-want +got):\n%s", tt.prefix, dir, diff)
		}
	}
}
