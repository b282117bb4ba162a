package childproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

const modeEnv = "PORTWHO_CHILDPROC_MODE"

// TestMain doubles as the child these tests start: modeEnv says which
// behaviour of a helper process to act out.
func TestMain(m *testing.M) {
	switch os.Getenv(modeEnv) {
	case "":
		os.Exit(m.Run())
	case "port":
		Ready(4242)
	case "words":
		Ready("ready", 7)
	case "error":
		fmt.Println("error listen tcp: address already in use")
		os.Exit(1)
	case "die":
		fmt.Fprintln(os.Stderr, "helper: cannot bind")
		os.Exit(3)
	case "silent":
		// Closes stdout without a line and waits: the parent must
		// still end it through stdin.
		os.Stdout.Close()
		_, _ = io.Copy(io.Discard, os.Stdin)
	}
	os.Exit(0)
}

func self(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), modeEnv+"="+mode)
	return cmd
}

func TestStartReady(t *testing.T) {
	tests := []struct {
		name, mode, line string
	}{
		{"port", "port", "4242"},
		{"several values", "words", "ready 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Start(t, self(tt.mode))
			if c.Line != tt.line {
				t.Errorf("Line = %q, want %q", c.Line, tt.line)
			}
			if c.Pid() <= 0 || c.Pid() == os.Getpid() {
				t.Errorf("Pid = %d, want a child's", c.Pid())
			}
			if c.Cmd.ProcessState != nil {
				t.Fatal("child already waited for while it should be running")
			}
			if runtime.GOOS == "linux" {
				if _, err := os.Stat(fmt.Sprintf("/proc/%d", c.Pid())); err != nil {
					t.Errorf("child not running before Stop: %v", err)
				}
			}
			c.Stop()
			c.Stop() // again, as the cleanup will: must not block or panic
			if st := c.Cmd.ProcessState; st == nil || !st.Exited() || st.ExitCode() != 0 {
				t.Errorf("after Stop: state %v, want exit status 0 (it ends when stdin closes)", st)
			}
		})
	}
}

func TestStartPort(t *testing.T) {
	c := Start(t, self("port"))
	if got := c.Port(t); got != 4242 {
		t.Errorf("Port = %d, want 4242", got)
	}
}

// recorder is a testing.TB whose Fatal calls are recorded instead of
// ending the real test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Helper() {}

func TestPortRejectsNonPort(t *testing.T) {
	for _, line := range []string{"ready 7", "70000", "-1", ""} {
		t.Run(fmt.Sprintf("%q", line), func(t *testing.T) {
			r := &recorder{TB: t}
			c := &Child{Cmd: exec.Command("x"), Line: line}
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.Port(r)
			}()
			<-done
			if want := fmt.Sprintf("printed %q, want a port", line); !strings.Contains(r.failed, want) {
				t.Errorf("Port failure = %q, want it to contain %q", r.failed, want)
			}
		})
	}
}

func TestTryStartNotReady(t *testing.T) {
	tests := []struct {
		name, mode   string
		line, stderr string
		readErr      bool
	}{
		{name: "error line", mode: "error", line: "error listen tcp: address already in use"},
		{name: "exits first", mode: "die", stderr: "helper: cannot bind\n", readErr: true},
		{name: "closes stdout", mode: "silent", readErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := TryStart(t, self(tt.mode))
			if c != nil {
				t.Errorf("TryStart returned a child %+v with error %v", c, err)
			}
			var nr *NotReadyError
			if !errors.As(err, &nr) {
				t.Fatalf("err = %v (%T), want *NotReadyError", err, err)
			}
			if nr.Line != tt.line || nr.Stderr != tt.stderr || (nr.Err != nil) != tt.readErr {
				t.Errorf("NotReadyError{Line %q, Stderr %q, Err %v}, want {%q, %q, error: %v}", nr.Line, nr.Stderr, nr.Err, tt.line, tt.stderr, tt.readErr)
			}
			if tt.readErr && !errors.Is(err, io.EOF) {
				t.Errorf("err = %v, want it to wrap io.EOF", err)
			}
			for _, part := range []string{tt.line, strings.TrimSpace(tt.stderr)} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("error %q lacks %q", err, part)
				}
			}
		})
	}
}

func TestTryStartCannotStart(t *testing.T) {
	_, err := TryStart(t, exec.Command("/nonexistent/portwho-child"))
	var nr *NotReadyError
	if err == nil || errors.As(err, &nr) {
		t.Fatalf("err = %v, want a start error that is not a NotReadyError", err)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want it to wrap os.ErrNotExist", err)
	}
}

// TestStartKeepsCallerStderr: a caller that routes stderr itself keeps
// it; Start only fills in a nil Stderr.
func TestStartKeepsCallerStderr(t *testing.T) {
	var own strings.Builder
	cmd := self("die")
	cmd.Stderr = &own
	_, err := TryStart(t, cmd)
	var nr *NotReadyError
	if !errors.As(err, &nr) {
		t.Fatalf("err = %v, want *NotReadyError", err)
	}
	if nr.Stderr != "" {
		t.Errorf("NotReadyError.Stderr = %q, want empty (not captured)", nr.Stderr)
	}
	if got, want := own.String(), "helper: cannot bind\n"; got != want {
		t.Errorf("caller's stderr = %q, want %q", got, want)
	}
}
