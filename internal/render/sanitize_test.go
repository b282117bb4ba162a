package render

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain ascii", "OpenSSH_9.2p1 Debian-2", "OpenSSH_9.2p1 Debian-2"},
		{"non-ascii letters pass", "Müller — café 東京", "Müller — café 東京"},
		{"escape sequence", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"OSC title set", "\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"8-bit CSI", "a\u009b2Jb", `a\u009b2Jb`},
		{"NUL and DEL", "a\x00b\x7fc", `a\x00b\x7fc`},
		{"newline tab cr", "a\nb\tc\rd", `a\nb\tc\rd`},
		{"backslash escaped so output is unambiguous", `C:\x1b`, `C:\\x1b`},
		{"bidi override", "evil\u202egnp.exe", `evil\u202egnp.exe`},
		{"zero width joiner", "a\u200db", `a\u200db`},
		{"line separator", "a\u2028b", `a\u2028b`},
		{"invalid utf-8", "a\xffb", `a\xffb`},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sanitize(tt.in); got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	if got := Truncate("abcdef", 4); got != "abc…" {
		t.Errorf("Truncate = %q", got)
	}
	if got := Truncate("abc", 4); got != "abc" {
		t.Errorf("Truncate short = %q", got)
	}
}

func TestTableAlignsIgnoringColour(t *testing.T) {
	st := Style{Color: true}
	var tb Table
	tb.Row(st.Red("HIGH"), "x")
	tb.Row("INFO1", "y")
	var b strings.Builder
	if err := tb.Write(&b, ""); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines", len(lines))
	}
	// "INFO1" is 5 wide, so both second columns start at visible column 7.
	if i := strings.Index(lines[1], "y"); i != 7 {
		t.Errorf("plain row: y at %d, want 7: %q", i, lines[1])
	}
	if w := VisibleWidth(lines[0]); w != 8 {
		t.Errorf("coloured row visible width = %d, want 8: %q", w, lines[0])
	}
}

// FuzzSanitize checks the promise callers rely on: whatever goes in, what
// comes out is valid UTF-8 with no control or formatting character.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[2J", "\u202e", "\xff\xfe", "a\\b", "\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Sanitize(in)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8 out of %q: %q", in, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || isHidden(r) {
				t.Fatalf("unsafe rune %U in %q (from %q)", r, out, in)
			}
		}
	})
}
