package render

import (
	"os"

	"golang.org/x/term"
)

// Style adds colour and emphasis when writing to a terminal. The zero value
// writes plain text; meaning is never carried by colour alone.
type Style struct {
	Color bool
}

// NewStyle decides colour for a writer: only on a terminal, and never when
// NO_COLOR is set (https://no-color.org).
func NewStyle(isTerminal bool) Style {
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return Style{}
	}
	return Style{Color: isTerminal && os.Getenv("TERM") != "dumb"}
}

// IsTerminal reports whether fd is a terminal.
func IsTerminal(fd uintptr) bool { return term.IsTerminal(int(fd)) }

func (s Style) wrap(code, text string) string {
	if !s.Color || text == "" {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

func (s Style) Bold(t string) string   { return s.wrap("1", t) }
func (s Style) Dim(t string) string    { return s.wrap("2", t) }
func (s Style) Red(t string) string    { return s.wrap("31", t) }
func (s Style) Yellow(t string) string { return s.wrap("33", t) }
func (s Style) Green(t string) string  { return s.wrap("32", t) }
func (s Style) Cyan(t string) string   { return s.wrap("36", t) }
