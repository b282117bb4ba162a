package registry

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// syntheticXML builds a registry XML with n filler records plus http on
// 80/tcp (when withHTTP) and extra records, dated updated.
func syntheticXML(updated string, n int, withHTTP bool, extra string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<?xml version='1.0' encoding='UTF-8'?>\n<registry xmlns=\"http://www.iana.org/assignments\">\n<updated>%s</updated>\n", updated)
	if withHTTP {
		b.WriteString("<record><name>http</name><protocol>tcp</protocol><description>World Wide Web HTTP</description><number>80</number></record>\n")
	}
	b.WriteString(extra)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "<record><name>svc-%d</name><protocol>udp</protocol><description>Filler %d</description><number>%d</number></record>\n", i, i, 1024+i)
	}
	b.WriteString("</registry>\n")
	return b.Bytes()
}

// HostileRecord is a record whose text tries to reach the terminal raw: an
// 8-bit CSI (legal in XML), a right-to-left override, an escaped NEL.
const hostileRecord = "<record><name>evil</name><protocol>tcp</protocol>" +
	"<description>Evil\u009b31mred\u202eesrever&#x85;end</description><number>31337</number>" +
	"<note>note\u009b2J</note></record>\n"

func TestUpdate(t *testing.T) {
	good := syntheticXML("2030-01-01", MinRecords, true, hostileRecord)
	mux := http.NewServeMux()
	mux.HandleFunc("/good", func(w http.ResponseWriter, r *http.Request) { w.Write(good) })
	mux.HandleFunc("/truncated", func(w http.ResponseWriter, r *http.Request) { w.Write(good[:len(good)/2]) })
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) {
		w.Write(bytes.Repeat([]byte("\x00\xff<registry>\x1b[2J"), 1000))
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html><body>Service unavailable</body></html>"))
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/few", func(w http.ResponseWriter, r *http.Request) {
		w.Write(syntheticXML("2030-01-01", 50, true, ""))
	})
	mux.HandleFunc("/nohttp", func(w http.ResponseWriter, r *http.Request) {
		w.Write(syntheticXML("2030-01-01", MinRecords, false, ""))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the cap must hold while streaming.
		w.Header().Set("Content-Type", "application/xml")
		for i := 0; i < 64; i++ {
			w.Write(bytes.Repeat([]byte(" "), 64<<10))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.Write(good[:100])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // never finishes; the client's deadline must end it
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	ctx := context.Background()

	// The good answer first: later failures must leave it in place.
	reg, err := Update(ctx, UpdateOptions{From: srv.URL + "/good", CacheDir: dir})
	if err != nil {
		t.Fatalf("good update: %v", err)
	}
	cachePath := filepath.Join(dir, CacheFile)
	if reg.Updated() != "2030-01-01" || reg.Source() != cachePath || reg.Len() != MinRecords+2 {
		t.Fatalf("good update: updated %q source %q, %d records", reg.Updated(), reg.Source(), reg.Len())
	}
	loaded, err := Load(dir)
	if err != nil || loaded.Updated() != "2030-01-01" || loaded.Source() != cachePath {
		t.Fatalf("Load after update = %v %q, %v; want the cached copy", loaded.Source(), loaded.Updated(), err)
	}
	if es := loaded.Port(31337, "tcp"); len(es) != 1 || !strings.Contains(es[0].Description, "\u009b") {
		t.Fatalf("hostile record is kept verbatim in the data (sanitizing is the printer's job): %+v", es)
	}
	before, err := os.ReadFile(cachePath)
	if err != nil {
		t.Fatal(err)
	}

	fails := []struct {
		name    string
		from    string
		max     int64
		timeout time.Duration
		want    string
	}{
		{"truncated", srv.URL + "/truncated", 0, 0, "unexpected EOF"},
		{"garbage", srv.URL + "/garbage", 0, 0, "parse registry xml"},
		{"html error page", srv.URL + "/html", 0, 0, "root element is <html>"},
		{"not found", srv.URL + "/missing", 0, 0, "404 Not Found"},
		{"too few records", srv.URL + "/few", 0, 0, "at least 10000"},
		{"no http on 80", srv.URL + "/nohttp", 0, 0, "does not list http on 80/tcp"},
		{"oversized", srv.URL + "/big", 1 << 20, 0, "byte cap"},
		{"oversized by content length", srv.URL + "/good", 1000, 0, "more than the 1000-byte cap"},
		{"slow", srv.URL + "/slow", 0, 100 * time.Millisecond, "deadline exceeded"},
		{"missing file", filepath.Join(dir, "nope.xml"), 0, 0, "no such file"},
		{"connection refused", "http://127.0.0.1:1/x.xml", 0, 0, "connect"},
	}
	for _, tt := range fails {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ctx
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, err := Update(ctx, UpdateOptions{From: tt.from, CacheDir: dir, MaxBytes: tt.max})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Update(%s) error = %v, want one containing %q", tt.from, err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			after, err := os.ReadFile(cachePath)
			if err != nil || !bytes.Equal(before, after) {
				t.Fatalf("failed update changed the cached registry (err %v)", err)
			}
			leftovers, _ := filepath.Glob(filepath.Join(dir, ".iana-registry-*"))
			if len(leftovers) != 0 {
				t.Fatalf("temporary files left behind: %v", leftovers)
			}
		})
	}

	t.Run("from file", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "reg.xml")
		if err := os.WriteFile(src, syntheticXML("2031-02-03", MinRecords, true, ""), 0o644); err != nil {
			t.Fatal(err)
		}
		reg, err := Update(ctx, UpdateOptions{From: src, CacheDir: dir})
		if err != nil || reg.Updated() != "2031-02-03" {
			t.Fatalf("Update(file) = %v, %v", reg, err)
		}
	})
}

func TestLoadCache(t *testing.T) {
	write := func(t *testing.T, data []byte) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, CacheFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	encode := func(t *testing.T, xml []byte) []byte {
		snap, err := ParseXML(bytes.NewReader(xml))
		if err != nil {
			t.Fatal(err)
		}
		data, err := Encode(snap)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	newer := encode(t, syntheticXML("2030-01-01", MinRecords, true, ""))
	older := encode(t, syntheticXML("2020-01-01", MinRecords, true, ""))
	flipped := bytes.Clone(newer)
	flipped[len(flipped)-3] ^= 0xff
	tests := []struct {
		name       string
		dir        string
		wantSource string // "embedded" or "cache"
		wantErr    string
	}{
		{"no cache directory", "", "embedded", ""},
		{"no cached file", t.TempDir(), "embedded", ""},
		{"newer cached file", write(t, newer), "cache", ""},
		{"older cached file", write(t, older), "embedded", ""},
		{"damaged cached file", write(t, flipped), "embedded", "checksum mismatch"},
		{"garbage cached file", write(t, []byte("hello")), "embedded", "bad header"},
		{"raw xml in the cache", write(t, syntheticXML("2030-01-01", 1, true, "")), "embedded", "bad header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := Load(tt.dir)
			if reg == nil {
				t.Fatal("Load returned no registry")
			}
			src := reg.Source()
			if src != "embedded" {
				src = "cache"
			}
			if src != tt.wantSource {
				t.Errorf("source = %q, want %s", reg.Source(), tt.wantSource)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
