package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRegeneratesTheEmbeddedFile(t *testing.T) {
	in := filepath.Join("..", "..", "..", "..", "shared", "data", "iana", "service-names-port-numbers.xml")
	if _, err := os.Stat(in); err != nil {
		t.Skipf("IANA XML snapshot not available (%v); it lives outside the repository", err)
	}
	out := filepath.Join(t.TempDir(), "registry.bin")
	if err := run(in, out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "zz_generated_registry.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("gen output differs from the committed zz_generated_registry.bin: run go generate ./internal/registry")
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("output mode = %v, %v; want 0644", fi.Mode(), err)
	}
}

func TestRunRejectsImplausibleRegistry(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "registry.bin")
	err := run(filepath.Join("..", "testdata", "excerpt.xml"), out)
	if err == nil || !strings.Contains(err.Error(), "generated registry is invalid") {
		t.Fatalf("run(excerpt) error = %v, want it rejected as implausible", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a rejected run left %s behind", out)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".gen-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
