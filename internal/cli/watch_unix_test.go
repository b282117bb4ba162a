//go:build unix

package cli

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/portwho/portwho/internal/store"
)

// TestHelperWatchDaemon is not a test: TestWatchSignals runs the test
// binary as `portwho watch`, the whole command with its signal handling.
func TestHelperWatchDaemon(t *testing.T) {
	args := os.Getenv("PORTWHO_WATCH_ARGS")
	if args == "" {
		t.Skip("helper process for TestWatchSignals")
	}
	os.Exit(Main(strings.Split(args, " "), os.Stdin, os.Stdout, os.Stderr))
}

// TestWatchSignals: SIGHUP rereads the policy, SIGTERM stops the daemon
// with exit status 0 and its history intact.
func TestWatchSignals(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "history.db")
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte("version: 1\nallow: []\n"), 0o600)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWatchDaemon$")
	cmd.Env = append(os.Environ(), "PORTWHO_WATCH_ARGS=watch --db "+db+" --policy "+pol+" --interval 100ms --no-namespaces --config "+filepath.Join(dir, "none.yaml"))
	// An empty config of its own, so a /etc/portwho/watch.yaml on this
	// machine changes nothing.
	os.WriteFile(filepath.Join(dir, "none.yaml"), nil, 0o600)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	waitFor := func(what string) {
		t.Helper()
		for lines.Scan() {
			t.Log(lines.Text())
			if strings.Contains(lines.Text(), what) {
				return
			}
		}
		t.Fatalf("daemon exited before saying %q", what)
	}
	waitFor("looking every 100ms")

	cmd.Process.Signal(syscall.SIGHUP)
	waitFor("policy " + pol + " reloaded")

	cmd.Process.Signal(syscall.SIGTERM)
	go func() {
		for lines.Scan() {
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit status 0", err)
	}
	s, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Check(context.Background()); v != "ok" || err != nil {
		t.Errorf("integrity_check after SIGTERM: %q %v", v, err)
	}
}
