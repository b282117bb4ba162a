// Package render turns results into what a person or a program reads:
// aligned text for terminals, JSON, and the one function that makes
// untrusted text safe to print.
package render

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize makes text that came from the outside world (registry text,
// process names, command lines, banners, certificates) safe to write to a
// terminal: control characters (C0, DEL, C1, so ESC and CSI can never start
// an escape sequence), invalid UTF-8, and invisible formatting characters
// that can reorder or hide text (bidi overrides, zero-width characters) are
// shown as visible escapes such as \x1b or \u202e. Printable text, including
// non-ASCII letters, passes through unchanged. Newlines and tabs are escaped
// too: one value never spans lines.
func Sanitize(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f:
			switch r {
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				fmt.Fprintf(&b, `\x%02x`, r)
			}
		case r == '\\':
			b.WriteString(`\\`)
		case isHidden(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

// isHidden reports runes that are not control characters in the C0 sense but
// still let a hostile string move the cursor, change direction or vanish.
func isHidden(r rune) bool {
	if r >= 0x80 && r < 0xa0 { // C1 controls, including the 8-bit CSI (0x9b)
		return true
	}
	if unicode.Is(unicode.Cf, r) { // format: bidi overrides, zero-width, BOM
		return true
	}
	return !unicode.IsPrint(r) && !unicode.IsSpace(r) || r == 0x2028 || r == 0x2029
}

// SanitizeAll sanitizes each element, for argument vectors.
func SanitizeAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Sanitize(s)
	}
	return out
}

// Truncate shortens already-sanitized text to at most n runes, marking the cut.
func Truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	if n == 1 {
		return "…"
	}
	return string(r[:n-1]) + "…"
}
