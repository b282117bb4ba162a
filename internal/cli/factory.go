// Package cli holds portwho's commands. Each command is built by a NewCmdX
// function that fills an options struct; the work is done by xRun(opts),
// which writes only to opts.IO, so tests run commands in-process.
package cli

import (
	"io"
	"os"
	"time"

	"github.com/portwho/portwho/internal/render"
)

// IOStreams is where a command reads and writes. Out carries only the data
// asked for; progress, warnings and errors go to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY is true when Out is a terminal: it turns on colour (unless
	// NO_COLOR is set) and human-first layouts.
	OutTTY bool
}

// Style is the colour policy for Out.
func (s *IOStreams) Style() render.Style { return render.NewStyle(s.OutTTY) }

// Factory carries what every command needs and tests replace: streams,
// the /proc root, the clock, and the environment.
type Factory struct {
	IO *IOStreams
	// ProcRoot is where /proc is mounted; tests point it at fixtures.
	ProcRoot string
	// Now is the clock.
	Now func() time.Time
	// Getenv reads the environment (cache and state directories, NO_COLOR).
	Getenv func(string) string

	// registry memoizes Registry() (registry_load.go).
	registry loadedRegistry
}

// NewFactory returns a Factory for the real process.
func NewFactory(in io.Reader, out, errOut io.Writer) *Factory {
	tty := false
	if f, ok := out.(*os.File); ok {
		tty = render.IsTerminal(f.Fd())
	}
	return &Factory{
		IO:       &IOStreams{In: in, Out: out, ErrOut: errOut, OutTTY: tty},
		ProcRoot: "/proc",
		Now:      time.Now,
		Getenv:   os.Getenv,
	}
}
