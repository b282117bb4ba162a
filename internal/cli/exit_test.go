package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantMsg  string
	}{
		{"nil", nil, ExitOK, ""},
		{"silent", &SilentExit{Code: ExitNotFound}, ExitNotFound, ""},
		{"wrapped silent", fmt.Errorf("x: %w", &SilentExit{Code: 1}), 1, ""},
		{"usage", usageErrorf("port out of range"), ExitError, "port out of range"},
		{"permission gets a hint", fmt.Errorf("read /proc/1/fd: %w", os.ErrPermission), ExitError, "read /proc/1/fd: permission denied (run as root to see other users' processes and sockets)"},
		{"multi-line is cut to one", errors.New("first\nsecond"), ExitError, "first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := exitCode(tt.err)
			if code != tt.wantCode || msg != tt.wantMsg {
				t.Errorf("exitCode(%v) = %d, %q; want %d, %q", tt.err, code, msg, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestMainBadFlagIsUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main([]string{"--no-such-flag"}, strings.NewReader(""), &out, &errOut)
	if code != ExitError {
		t.Errorf("exit code = %d, want %d", code, ExitError)
	}
	if !strings.HasPrefix(errOut.String(), "portwho: ") || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("stderr = %q, want one line starting with portwho:", errOut.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out.String())
	}
}
