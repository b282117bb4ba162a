package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portwho/portwho/internal/registry"
)

// cacheFactory is a Factory whose cache directory is a temporary one.
func cacheFactory(t *testing.T) (*Factory, string, *bytes.Buffer, *bytes.Buffer) {
	xdg := t.TempDir()
	io, out, errOut := testIO()
	f := &Factory{IO: io, Now: time.Now, Getenv: func(k string) string {
		if k == "XDG_CACHE_HOME" {
			return xdg
		}
		return ""
	}}
	return f, filepath.Join(xdg, "portwho"), out, errOut
}

func TestRegistryUpdateCommand(t *testing.T) {
	good := hostileXML("2030-01-01")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/truncated" {
			w.Write(good[:len(good)/3])
			return
		}
		w.Write(good)
	}))
	defer srv.Close()

	f, dir, out, _ := cacheFactory(t)
	run := func(args ...string) error {
		cmd := NewCmdRegistry(f)
		cmd.SetArgs(args)
		cmd.SetOut(f.IO.Out)
		cmd.SetErr(f.IO.ErrOut)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		return cmd.Execute()
	}
	if err := run("update", "--from", srv.URL+"/good"); err != nil {
		t.Fatalf("update: %v", err)
	}
	cached := filepath.Join(dir, registry.CacheFile)
	if !strings.Contains(out.String(), "stored registry of 2030-01-01 ("+"10002 records) in "+cached) {
		t.Errorf("update output = %q", out)
	}
	before, err := os.ReadFile(cached)
	if err != nil {
		t.Fatal(err)
	}

	err = run("update", "--from", srv.URL+"/truncated")
	if code, msg := exitCode(err); code != ExitError || !strings.Contains(msg, "registry in use unchanged") || strings.Contains(msg, "\n") {
		t.Fatalf("truncated update: code %d msg %q", code, msg)
	}
	after, _ := os.ReadFile(cached)
	if !bytes.Equal(before, after) {
		t.Fatal("a failed update changed the cached registry")
	}

	out.Reset()
	f2, _, _, _ := cacheFactory(t)
	f2.Getenv = f.Getenv // same cache, a fresh process
	f2.IO = f.IO
	cmd := NewCmdRegistry(f2)
	cmd.SetArgs([]string{"status", "--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var st RegistryStatus
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if st.Updated != "2030-01-01" || st.Source != cached || st.Embedded != "2025-12-15" || st.Cached != "2030-01-01" || st.Records != 10002 {
		t.Errorf("status = %+v", st)
	}
}

func TestRegistryUpdateOlderKeepsEmbedded(t *testing.T) {
	f, _, out, _ := cacheFactory(t)
	src := filepath.Join(t.TempDir(), "old.xml")
	if err := os.WriteFile(src, hostileXML("2020-01-01"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := &RegistryUpdateOptions{IO: f.IO, CacheDir: f.CacheDir, From: src, Timeout: time.Minute}
	if err := registryUpdateRun(t.Context(), opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "lookups keep using it") {
		t.Errorf("output = %q, want it to say the embedded copy stays in use", out)
	}
	reg, _ := f.Registry()
	if reg.Source() != "embedded" {
		t.Errorf("registry in use = %s, want embedded", reg.Source())
	}
}

func TestVersion(t *testing.T) {
	f, _, out, _ := cacheFactory(t)
	cmd := NewCmdVersion(f)
	cmd.SetArgs(nil)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if want := "IANA port registry updated 2025-12-15 (embedded)\n"; !strings.HasPrefix(out.String(), "portwho ") || !strings.HasSuffix(out.String(), want) {
		t.Errorf("version = %q, want it to end with %q", out, want)
	}
}
