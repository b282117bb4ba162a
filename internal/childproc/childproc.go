// Package childproc runs the helper processes that tests start as real,
// separate socket holders. Both halves of one small protocol live here:
// the child prints one readiness line on stdout (a port, "ready", ...) and
// lives until its stdin closes; the parent starts it, waits for that line,
// and closes its stdin to end it. Start is the parent's half, Ready the
// child's.
package childproc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stopGrace is how long Stop waits for a child to leave after its stdin
// closes before killing it, so a child that ignores the signal costs a
// cleanup some seconds rather than hanging the whole test binary.
const stopGrace = 10 * time.Second

// Child is a started helper process that printed its readiness line.
type Child struct {
	Cmd  *exec.Cmd
	Line string // its first line on stdout, without surrounding space

	stdin  io.Closer
	stderr *bytes.Buffer // nil when the caller routed Stderr itself
	once   sync.Once
}

// NotReadyError says a child ended, or reported an error, before its
// readiness line. Callers branch on Stderr to skip for causes outside
// the test's control (a port taken by another program).
type NotReadyError struct {
	Path   string
	Line   string // what it printed instead of a readiness line, if anything
	Stderr string // what it said on stderr, when Start captured it
	Err    error  // the read error; nil when Line was an error report
}

func (e *NotReadyError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "child %s was not ready", e.Path)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Line != "" {
		fmt.Fprintf(&b, ": it printed %q", e.Line)
	}
	if e.Stderr != "" {
		fmt.Fprintf(&b, "; stderr: %s", strings.TrimSpace(e.Stderr))
	}
	return b.String()
}

func (e *NotReadyError) Unwrap() error { return e.Err }

// Start starts cmd with its stdin and stdout piped to the test, stops it
// at cleanup, and returns once it has printed its first line. The test
// fails at once if the child cannot start, ends before that line, or
// prints a line starting with "error". When cmd.Stderr is nil, its stderr
// is kept to explain such a failure.
func Start(t testing.TB, cmd *exec.Cmd) *Child {
	t.Helper()
	c, err := TryStart(t, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TryStart is Start for callers that decide themselves what a failure
// means: a child that did not become ready is a *NotReadyError (already
// stopped); any other error means it never started.
func TryStart(t testing.TB, cmd *exec.Cmd) (*Child, error) {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("child %s: stdin: %w", cmd.Path, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("child %s: stdout: %w", cmd.Path, err)
	}
	c := &Child{Cmd: cmd, stdin: stdin}
	if cmd.Stderr == nil {
		c.stderr = new(bytes.Buffer)
		cmd.Stderr = c.stderr
	}
	if cmd.WaitDelay == 0 {
		// A grandchild that inherited stderr must not keep Wait
		// copying it forever once the child itself is gone.
		cmd.WaitDelay = stopGrace
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("child %s: %w", cmd.Path, err)
	}
	t.Cleanup(c.Stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	c.Line = strings.TrimSpace(line)
	if err != nil || strings.HasPrefix(c.Line, "error") {
		c.Stop() // it is ending: let its stderr be copied in full
		nr := &NotReadyError{Path: cmd.Path, Line: c.Line, Err: err}
		if c.stderr != nil {
			nr.Stderr = c.stderr.String()
		}
		return nil, nr
	}
	return c, nil
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Port reads the readiness line as a TCP or UDP port number, failing the
// test when it is anything else.
func (c *Child) Port(t testing.TB) uint16 {
	t.Helper()
	p, err := strconv.ParseUint(c.Line, 10, 16)
	if err != nil {
		t.Fatalf("child %s printed %q, want a port", c.Cmd.Path, c.Line)
	}
	return uint16(p)
}

// Stop closes the child's stdin and waits for it to exit, killing it if
// it is still there after a grace period. Calling it again, as the
// cleanup Start registered does, is a no-op.
func (c *Child) Stop() {
	c.once.Do(func() {
		c.stdin.Close()
		done := make(chan struct{})
		go func() {
			// Its exit status says nothing here: a child killed
			// by the test ending is normal.
			_ = c.Cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(stopGrace):
			_ = c.Cmd.Process.Kill()
			<-done
		}
	})
}

// Ready is the child's half: it prints line as its readiness line on
// stdout and returns when the parent closes its stdin, the signal to end.
func Ready(line ...any) {
	fmt.Println(line...)
	_, _ = io.Copy(io.Discard, os.Stdin)
}
