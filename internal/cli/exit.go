package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/portwho/portwho/internal/render"
)

// Exit codes, the same for every command.
const (
	ExitOK       = 0 // answered; clean
	ExitNotFound = 1 // nothing found, or something to report (check, probe)
	ExitError    = 2 // bad usage or an error
)

// SilentExit ends a command with a code and no further message: the command
// has already written what it had to say (for example "nothing found").
type SilentExit struct{ Code int }

func (e *SilentExit) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// UsageError is a mistake in the command line; it maps to ExitError.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// usageErrorf builds a UsageError.
func usageErrorf(format string, a ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, a...)}
}

// exitCode maps an error to an exit code and a one-line message a person can
// act on. This is the one place that does so.
func exitCode(err error) (int, string) {
	if err == nil {
		return ExitOK, ""
	}
	var se *SilentExit
	if errors.As(err, &se) {
		return se.Code, ""
	}
	msg := oneLine(err.Error())
	switch {
	case errors.Is(err, os.ErrPermission):
		msg += " (run as root to see other users' processes and sockets)"
	case errors.Is(err, context.DeadlineExceeded):
		msg += " (timed out)"
	}
	return ExitError, msg
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Main runs portwho with args and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	f := NewFactory(in, out, errOut)
	cmd := NewCmdRoot(f)
	cmd.SetArgs(args)
	err := cmd.Execute()
	code, msg := exitCode(err)
	if msg != "" {
		fmt.Fprintf(errOut, "portwho: %s\n", render.Sanitize(msg))
	}
	return code
}
