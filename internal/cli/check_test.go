package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portwho/portwho/internal/childproc"
	"github.com/portwho/portwho/internal/policy"
	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
)

// buildListener compiles testdata/pwlistener into a fresh temporary
// directory (under /tmp, so its listeners carry exe-writable-dir).
func buildListener(t *testing.T) string {
	t.Helper()
	needLinux(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go toolchain not in PATH")
	}
	exe := filepath.Join(t.TempDir(), "pwlistener")
	out, err := exec.Command(goBin, "build", "-o", exe, "./testdata/pwlistener").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return exe
}

// runningListener is a started pwlistener.
type runningListener struct {
	pid  int
	port uint16
	stop func()
}

// startPWListener starts exe on addr and stops it at cleanup (or earlier
// through stop).
func startPWListener(t *testing.T, exe, addr string) *runningListener {
	t.Helper()
	c := childproc.Start(t, exec.Command(exe, addr))
	return &runningListener{pid: c.Pid(), port: c.Port(t), stop: c.Stop}
}

// freePort finds a port below the ephemeral range that nothing holds on
// addr, so a baseline pins it exactly (ephemeral ones become optional).
func freePort(t *testing.T, addr string, skip ...int) int {
	t.Helper()
	for p := 20000 + os.Getpid()%5000; p < 32000; p++ {
		if slices.Contains(skip, p) {
			continue
		}
		ln, err := net.Listen("tcp4", net.JoinHostPort(addr, strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// testFactory has in-memory streams, no policy from the environment and
// a private cache directory.
func testFactory(t *testing.T) (*Factory, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	f := NewFactory(strings.NewReader(""), &out, &errOut)
	cache := t.TempDir()
	f.Getenv = func(k string) string {
		if k == "XDG_CACHE_HOME" {
			return cache
		}
		return ""
	}
	return f, &out, &errOut
}

// onlyPIDs narrows the real collection to the listeners of the given
// processes: other tests and services on this machine come and go.
func onlyPIDs(f *Factory, pids map[int]bool) func(context.Context) ([]report.Socket, error) {
	return func(ctx context.Context) ([]report.Socket, error) {
		all, err := f.collectListeners(ctx)
		if err != nil {
			return nil, err
		}
		var out []report.Socket
		for _, s := range all {
			if slices.ContainsFunc(s.Processes, func(p process.Process) bool { return pids[p.PID] }) {
				out = append(out, s)
			}
		}
		return out, nil
	}
}

func runCheck(t *testing.T, f *Factory, out *bytes.Buffer, opts *CheckOptions) (*policy.Result, int) {
	t.Helper()
	out.Reset()
	opts.IO, opts.Factory, opts.JSON = f.IO, f, true
	err := checkRun(context.Background(), opts)
	code, msg := exitCode(err)
	if code == ExitError {
		t.Fatalf("check failed: %s", msg)
	}
	var res policy.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("check --json: %v\n%s", err, out)
	}
	return &res, code
}

// TestPolicyRoundTrip: baseline -> check clean -> a new listener is
// reported -> an allowed listener stops and is reported missing.
func TestPolicyRoundTrip(t *testing.T) {
	exe := buildListener(t)
	const addr = "127.88.0.11"
	pa := freePort(t, addr)
	pb := freePort(t, addr, pa)
	a := startPWListener(t, exe, fmt.Sprintf("%s:%d", addr, pa))
	b := startPWListener(t, exe, fmt.Sprintf("%s:%d", addr, pb))
	pids := map[int]bool{a.pid: true, b.pid: true}
	f, out, errOut := testFactory(t)

	// baseline
	err := baselineRun(context.Background(), &BaselineOptions{IO: f.IO, Factory: f, Collect: onlyPIDs(f, pids),
		Hostname: func() (string, error) { return "testhost", nil }})
	if err != nil {
		t.Fatal(err)
	}
	base := out.String()
	for _, want := range []string{"version: 1", fmt.Sprintf("port: %d", pa), fmt.Sprintf("port: %d", pb), "address: loopback", "exe: " + exe} {
		if !strings.Contains(base, want) {
			t.Errorf("baseline lacks %q:\n%s", want, base)
		}
	}
	// The listener lives in a temporary directory, which is high on its
	// own; the user trusts it the way the documentation says.
	base = strings.Replace(base, "  fail-on: medium\n", "  fail-on: medium\n  trusted-dirs: ["+strconv.Quote(filepath.Dir(exe))+"]\n", 1)
	polFile := filepath.Join(t.TempDir(), "portwho-policy.yaml")
	if err := os.WriteFile(polFile, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}

	res, code := runCheck(t, f, out, &CheckOptions{PolicyFile: polFile, Collect: onlyPIDs(f, pids)})
	if code != ExitOK || !res.Clean || res.Counts.Listeners != 2 || res.Counts.Allowed != 2 {
		t.Fatalf("check of the baseline: exit %d, %+v\nstderr: %s", code, res, errOut)
	}

	c := startPWListener(t, exe, addr+":0")
	pids[c.pid] = true
	res, code = runCheck(t, f, out, &CheckOptions{PolicyFile: polFile, Collect: onlyPIDs(f, pids)})
	if code != ExitNotFound || res.Clean || len(res.Unexpected) != 1 || res.Unexpected[0].LocalPort != c.port {
		t.Fatalf("new listener: exit %d, %+v", code, res)
	}
	if res.Unexpected[0].Processes[0].PID != c.pid {
		t.Errorf("unexpected listener's holder %+v, want pid %d", res.Unexpected[0].Processes, c.pid)
	}

	c.stop()
	b.stop()
	res, code = runCheck(t, f, out, &CheckOptions{PolicyFile: polFile, Collect: onlyPIDs(f, pids)})
	if code != ExitNotFound || len(res.Unexpected) != 0 || len(res.Missing) != 1 || res.Missing[0].Port != strconv.Itoa(pb) {
		t.Fatalf("stopped listener: exit %d, %+v", code, res)
	}
	if res.Missing[0].Exe != exe || res.Missing[0].Address != "loopback" || res.Missing[0].Line == 0 {
		t.Errorf("missing rule %+v", res.Missing[0])
	}

	// The same, for a person: words, not only colour, and exit 1.
	out.Reset()
	err = checkRun(context.Background(), &CheckOptions{IO: f.IO, Factory: f, PolicyFile: polFile, Collect: onlyPIDs(f, pids)})
	if code, _ := exitCode(err); code != ExitNotFound {
		t.Fatalf("human check exit %d", code)
	}
	for _, want := range []string{"MISSING", fmt.Sprintf("tcp %d on loopback by %s", pb, exe), "not clean: 1 listeners, 1 allowed, 0 not allowed, 1 missing"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("human check lacks %q:\n%s", want, out)
		}
	}
}

// TestCheckFindingsThreshold: without trusting its directory, a listener
// run from /tmp fails a check at high, and --fail-on overrides the policy.
func TestCheckFindingsThreshold(t *testing.T) {
	exe := buildListener(t)
	l := startPWListener(t, exe, "127.0.0.1:0")
	pids := map[int]bool{l.pid: true}
	f, out, _ := testFactory(t)
	polFile := filepath.Join(t.TempDir(), "p.yaml")
	pol := fmt.Sprintf("version: 1\nsettings:\n  fail-on: high\nallow:\n  - port: %d\n    exe: %s\n", l.port, exe)
	if err := os.WriteFile(polFile, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	res, code := runCheck(t, f, out, &CheckOptions{PolicyFile: polFile, Collect: onlyPIDs(f, pids)})
	if code != ExitNotFound || len(res.Findings) != 1 || res.Findings[0].ID != "exe-writable-dir" || !res.Findings[0].Allowed {
		t.Fatalf("exit %d, %+v", code, res)
	}
	if res.FailOn != report.SeverityHigh || res.Findings[0].PIDs[0] != l.pid {
		t.Errorf("fail_on %s, pids %v", res.FailOn, res.Findings[0].PIDs)
	}
	// Only the high one counts at high; --fail-on info counts the rest.
	res, _ = runCheck(t, f, out, &CheckOptions{PolicyFile: polFile, FailOn: "info", Collect: onlyPIDs(f, pids)})
	if len(res.Findings) < 2 || res.FailOn != report.SeverityInfo {
		t.Errorf("--fail-on info: %+v", res.Findings)
	}
	// The JSON keys CI and configuration management read.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"policy", "fail_on", "clean", "counts", "unexpected", "missing", "findings", "notes"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("check JSON lacks %q: %s", k, out)
		}
	}
	if string(raw["fail_on"]) != `"info"` || string(raw["missing"]) != "[]" {
		t.Errorf("fail_on %s missing %s", raw["fail_on"], raw["missing"])
	}
}

// TestCheckMalformedPolicy: a policy that does not parse is a one-line
// file:line:column error, exit 2, and nothing is collected or printed.
func TestCheckMalformedPolicy(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, src, want string
	}{
		{"bad yaml", "allow:\n  - port: [22\n", ":2:11: "},
		{"unknown key", "version: 1\nallow:\n  - port: 22\n    exe: /usr/sbin/sshd\n    usr: root\n", `:5:5: unknown key "usr" in an allow rule`},
		{"bad port", "allow:\n  - port: 99999\n", `:2:11: port: port "99999" is not a number from 1 to 65535`},
		{"bad severity", "settings:\n  fail-on: critical\n", `:2:12: unknown severity "critical"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			if err := os.WriteFile(file, []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			f, out, _ := testFactory(t)
			err := checkRun(context.Background(), &CheckOptions{IO: f.IO, Factory: f, PolicyFile: file,
				Collect: func(context.Context) ([]report.Socket, error) {
					t.Error("collected with a broken policy")
					return nil, nil
				}})
			code, msg := exitCode(err)
			if code != ExitError {
				t.Fatalf("exit %d, want %d", code, ExitError)
			}
			if !strings.HasPrefix(msg, file+tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("message %q\nwant prefix %q", msg, file+tt.want)
			}
			if out.Len() != 0 {
				t.Errorf("printed a partial check: %s", out)
			}
		})
	}
	t.Run("missing file named explicitly", func(t *testing.T) {
		f, _, _ := testFactory(t)
		err := checkRun(context.Background(), &CheckOptions{IO: f.IO, Factory: f, PolicyFile: filepath.Join(dir, "nope.yaml")})
		if code, msg := exitCode(err); code != ExitError || !strings.Contains(msg, "nope.yaml") {
			t.Errorf("exit %d %q", code, msg)
		}
	})
	t.Run("bad --fail-on", func(t *testing.T) {
		f, _, _ := testFactory(t)
		err := checkRun(context.Background(), &CheckOptions{IO: f.IO, Factory: f, FailOn: "severe",
			Collect: func(context.Context) ([]report.Socket, error) { return nil, nil }})
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("err = %v, want a usage error", err)
		}
	})
}

// TestFindingsInPortOutput: assessment runs inside portwho and portwho
// PORT, so findings reach the listing's severity column and the JSON.
func TestFindingsInPortOutput(t *testing.T) {
	exe := buildListener(t)
	l := startPWListener(t, exe, "0.0.0.0:0")
	f, out, _ := testFactory(t)

	opts := &PortOptions{IO: f.IO, Factory: f, Args: []string{strconv.Itoa(int(l.port))}, EtcServices: "/nonexistent", JSON: true, PID: l.pid}
	if err := portRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Sockets []report.Socket `json:"sockets"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var listening *report.Socket
	for i := range got.Sockets {
		if got.Sockets[i].State == "LISTEN" {
			listening = &got.Sockets[i]
		}
	}
	if listening == nil {
		t.Fatalf("no listener in %s", out)
	}
	var ids []string
	for _, fd := range listening.Findings {
		ids = append(ids, fd.ID+":"+fd.Severity.String())
		if fd.Title == "" || fd.Why == "" || fd.Evidence == "" {
			t.Errorf("finding without title, why or evidence: %+v", fd)
		}
	}
	for _, want := range []string{"exe-writable-dir:high", "exposed:medium"} {
		if !slices.Contains(ids, want) {
			t.Errorf("findings %v lack %s", ids, want)
		}
	}

	// portwho PORT, for a person: each finding under its socket, in words.
	out.Reset()
	opts = &PortOptions{IO: f.IO, Factory: f, Args: []string{strconv.Itoa(int(l.port))}, EtcServices: "/nonexistent", PID: l.pid}
	if err := portRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"   HIGH  executable runs from a writable directory (" + filepath.Dir(exe) + ") — ",
		"   MED   listening on every interface, not only loopback — ",
		"         pid " + strconv.Itoa(l.pid) + ": " + exe + ": in /tmp, writable by every user\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("portwho PORT lacks %q:\n%s", want, out)
		}
	}

	out.Reset()
	opts = &PortOptions{IO: f.IO, Factory: f, EtcServices: "/nonexistent", TCP: true, PID: l.pid}
	if err := portRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "HIGH") {
		t.Errorf("listing's severity column does not say HIGH:\n%s", out)
	}

	// PORTWHO_NO_ASSESS=1 (for measuring) leaves findings out.
	out.Reset()
	f.Getenv = func(k string) string {
		if k == "PORTWHO_NO_ASSESS" {
			return "1"
		}
		return ""
	}
	opts = &PortOptions{IO: f.IO, Factory: f, EtcServices: "/nonexistent", TCP: true, PID: l.pid, JSON: true}
	if err := portRun(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"findings":[]`) {
		t.Errorf("PORTWHO_NO_ASSESS=1 still judged: %s", out)
	}
}

// TestCheckCommandLine: through the real command line, a broken policy is
// one line on stderr and exit 2, a bad --fail-on is a usage error.
func TestCheckCommandLine(t *testing.T) {
	file := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(file, []byte("version: 1\nallow:\n  - port: 22\n    prot: tcp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := Main([]string{"check", "--policy", file, "--fail-on", "high"}, strings.NewReader(""), &out, &errOut)
	want := "portwho: " + file + `:4:5: unknown key "prot" in an allow rule`
	if code != ExitError || !strings.HasPrefix(errOut.String(), want) || strings.Count(errOut.String(), "\n") != 1 || out.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", code, out.String(), errOut.String(), want)
	}
	out.Reset()
	errOut.Reset()
	if code := Main([]string{"check", "--fail-on", "severe"}, strings.NewReader(""), &out, &errOut); code != ExitError || !strings.Contains(errOut.String(), "--fail-on") {
		t.Errorf("bad --fail-on: exit %d, stderr %q", code, errOut.String())
	}
}
