package probe

import (
	"bytes"
	"testing"
)

func TestMumbleBanner(t *testing.T) {
	real := readTestdata(t, "mumble-1.3.4-version.bin")
	m, ok := mumbleBanner(real)
	if !ok || m.Service != "murmur" || m.Product != "Murmur" || m.Version != "1.3.4" ||
		m.Info != "1.3.4-4; X11 Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("murmur 1.3.4: got %+v, %v", m, ok)
	}
	for name, b := range map[string][]byte{
		"truncated":    real[:len(real)-3],
		"other type":   append([]byte{0, 5}, real[2:]...),
		"no release":   {0, 0, 0, 0, 0, 2, 0x08, 0x01},
		"zeros":        make([]byte, 64),
		"http":         []byte("HTTP/1.1 400 Bad Request\r\n\r\n"),
		"mysql-ish":    {0x4a, 0, 0, 0, 0x0a, '1', '0', '.', '1', '1'},
		"huge length":  {0, 0, 0xff, 0xff, 0xff, 0xff, 0x12, 1, 'x'},
		"bad utf8 rel": {0, 0, 0, 0, 0, 4, 0x12, 2, 0xff, 0xfe},
	} {
		if m, ok := mumbleBanner(b); ok {
			t.Errorf("%s: matched %+v", name, m)
		}
	}
	// Trailing messages after the Version (CryptSetup, ...) do not matter.
	if _, ok := mumbleBanner(append(bytes.Clone(real), 0, 15, 0, 0, 0, 0)); !ok {
		t.Error("a Version followed by another message did not match")
	}
}

func FuzzMumbleBanner(f *testing.F) {
	addTestdataSeeds(f, "mumble-1.3.4-version.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, ok := mumbleBanner(b)
		if ok && (m.Service != "murmur" || len(m.Info) > maxInfoLen+3) {
			t.Fatalf("bad match %+v", m)
		}
	})
}
