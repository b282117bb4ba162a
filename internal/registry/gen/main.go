// Command gen turns IANA's service-names-port-numbers.xml into the compact
// registry file that package registry embeds. Run it with
// `go generate ./internal/registry`; the output depends only on the input,
// so regenerating from the same XML gives the same bytes.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/portwho/portwho/internal/registry"
)

func main() {
	in := flag.String("in", "", "IANA service-names-port-numbers.xml")
	out := flag.String("out", "", "file to write")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if in == "" || out == "" {
		return fmt.Errorf("usage: gen -in XML -out FILE")
	}
	xml, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	snap, err := registry.ParseXML(bytes.NewReader(xml))
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	data, err := registry.Encode(snap)
	if err != nil {
		return err
	}
	// Check the result the way a cached download is checked before it
	// replaces the embedded copy.
	if _, err := registry.Decode(data); err != nil {
		return fmt.Errorf("generated registry is invalid: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".gen-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// CreateTemp makes the file private; the generated file is source.
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen: %s: %d records, registry updated %s, %d bytes\n", out, len(snap.Entries), snap.Updated, len(data))
	return nil
}
