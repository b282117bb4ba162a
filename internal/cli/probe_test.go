package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/portwho/portwho/internal/probe"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
)

// probeServer listens on 127.0.0.1:0 and runs handle per connection.
func probeServer(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func runProbe(t *testing.T, opts *ProbeOptions) (string, error) {
	return runProbeTTY(t, opts, false)
}

func runProbeTTY(t *testing.T, opts *ProbeOptions, tty bool) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	opts.IO = &IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut, OutTTY: tty}
	if opts.Prober == nil {
		opts.Prober = &probe.Prober{Timeout: 2 * time.Second}
	}
	err := probeRun(opts)
	return out.String(), err
}

func exitOf(err error) int {
	code, _ := exitCode(err)
	return code
}

// ourSGR matches the colour codes render.Style writes.
var ourSGR = regexp.MustCompile("\x1b\\[(0|1|2|31|32|33|36)m")

// TestProbeHostilePrintsNothingRaw: a banner full of escape sequences and
// NUL bytes is shown escaped; no ESC byte reaches the output.
func TestProbeHostilePrintsNothingRaw(t *testing.T) {
	addr := probeServer(t, func(c net.Conn) {
		fmt.Fprint(c, "\x1b]0;owned\x07\x1b[2J\x00\x9b31m\u202eevil\r\n")
		c.Write(bytes.Repeat([]byte("\x1b[5m\x00"), 1<<17))
		io.Copy(io.Discard, c)
	})
	for _, tty := range []bool{false, true} {
		out, err := runProbeTTY(t, &ProbeOptions{Targets: []string{addr}}, tty)
		// Our own colours are the only escapes allowed.
		out = ourSGR.ReplaceAllString(out, "")
		if bytes.ContainsAny([]byte(out), "\x1b\x00\x07") || strings.ContainsRune(out, '\u202e') || strings.ContainsRune(out, 0x9b) {
			t.Errorf("tty=%v: raw control bytes in output: %q", tty, out)
		}
		if !strings.Contains(out, `\x1b]0;owned`) {
			t.Errorf("banner not shown escaped: %q", out)
		}
		if exitOf(err) != ExitNotFound {
			t.Errorf("exit %d, want 1 for an unidentified service", exitOf(err))
		}
	}
}

func TestProbeJSONAndExitCodes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "nginx/1.22.1")
		fmt.Fprint(w, "<title>hello</title>")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	httpAddr := ln.Addr().String()
	// A closed port that stays closed: the client end of a live connection
	// holds the port number, so no other test can bind it meanwhile, and a
	// SYN to it is answered with a reset.
	held, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Close() })
	closedAddr := held.LocalAddr().String()

	out, err := runProbe(t, &ProbeOptions{Targets: []string{httpAddr}, JSON: true})
	if err != nil {
		t.Fatalf("exit %d (%v), want 0 when every target is identified", exitOf(err), err)
	}
	var doc struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(doc.Results) != 1 {
		t.Fatalf("%d results", len(doc.Results))
	}
	r := doc.Results[0]
	for k, want := range map[string]any{"target": httpAddr, "protocol": "tcp", "state": "open", "service": "http",
		"product": "nginx", "version": "1.22.1", "tls": nil, "method": "native:http+signature:nginx"} {
		if r[k] != want {
			t.Errorf("%s = %v, want %v", k, r[k], want)
		}
	}
	if _, ok := r["elapsed_ms"].(float64); !ok {
		t.Errorf("elapsed_ms missing: %v", r)
	}

	out, err = runProbe(t, &ProbeOptions{Targets: []string{httpAddr, closedAddr}})
	if exitOf(err) != ExitNotFound {
		t.Errorf("exit %d, want 1 with a closed target", exitOf(err))
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "http") || !strings.Contains(lines[0], "nginx 1.22.1") ||
		!strings.Contains(lines[0], `title "hello"`) || !strings.Contains(lines[1], "closed") {
		t.Errorf("table:\n%s", out)
	}

	// One argument naming both ports: like nmap, the closed one is left
	// out of the table and does not fail the run.
	_, hp, _ := net.SplitHostPort(httpAddr)
	_, cp, _ := net.SplitHostPort(closedAddr)
	out, err = runProbe(t, &ProbeOptions{Targets: []string{"127.0.0.1:" + hp + "," + cp}})
	if err != nil {
		t.Errorf("ranged: exit %d (%v), want 0: closed ports of a range are not failures", exitOf(err), err)
	}
	lines = strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "nginx 1.22.1") || lines[1] != "1 closed port not shown (--json lists them)" {
		t.Errorf("ranged table:\n%s", out)
	}
}

func TestProbeBadUsage(t *testing.T) {
	for _, args := range [][]string{{"8081"}, {"127.0.0.1:10-1"}, {"localhost"}, {"localhost:99999"}, {"[::1:22"}, {"host:22/sctp"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, err := runProbe(t, &ProbeOptions{Targets: args})
			var ue *UsageError
			if !errors.As(err, &ue) || exitOf(err) != ExitError {
				t.Errorf("err = %v (exit %d), want a usage error", err, exitOf(err))
			}
		})
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{"probe"}, strings.NewReader(""), &out, &errOut); code != ExitError {
		t.Errorf("portwho probe without targets: exit %d, want 2", code)
	}
}

func TestParseTargetsUDPFlag(t *testing.T) {
	ts, err := parseTargets([]string{"127.0.0.1:53", "127.0.0.1:53/tcp"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if ts[0].Transport != "udp" || ts[1].Transport != "tcp" {
		t.Errorf("transports %q %q, want udp tcp", ts[0].Transport, ts[1].Transport)
	}
}

func TestListenerTargets(t *testing.T) {
	sock := func(proto, family, addr string, port uint16, state string, v6only bool, ns sockets.NetNS) report.Socket {
		return report.Socket{Socket: sockets.Socket{Protocol: proto, Family: family, LocalAddr: netip.MustParseAddr(addr),
			LocalPort: port, State: state, V6Only: v6only, NetNS: ns}}
	}
	host := sockets.NetNS{Inode: 1, Host: true}
	other := sockets.NetNS{Inode: 2}
	socks := []report.Socket{
		sock("tcp", "inet", "0.0.0.0", 3302, "LISTEN", false, host),
		sock("tcp", "inet6", "::", 3302, "LISTEN", false, host),       // dual-stack: same as 127.0.0.1
		sock("tcp", "inet6", "::", 3303, "LISTEN", true, host),        // v6 only
		sock("tcp", "inet", "127.0.0.5", 3304, "LISTEN", false, host), // a specific address
		sock("tcp", "inet", "127.0.0.1", 3302, "ESTAB", false, host),  // not a listener
		sock("udp", "inet", "0.0.0.0", 3302, "UNCONN", false, host),
		sock("tcp", "inet", "0.0.0.0", 3305, "LISTEN", false, other), // another namespace
	}
	var got []string
	for _, tg := range listenerTargets(socks) {
		got = append(got, tg.String())
	}
	want := []string{"127.0.0.1:3302", "[::1]:3303", "127.0.0.5:3304", "127.0.0.1:3302/udp"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

// TestPortProbeFlag runs portwho PORT --probe against an HTTP server of
// this test: the host section finds it and the probe names it.
func TestPortProbeFlag(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "lighttpd/1.4.69")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)

	var out, errOut bytes.Buffer
	code := Main([]string{port, "--probe"}, strings.NewReader(""), &out, &errOut)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "Probe (through loopback)") ||
		!strings.Contains(out.String(), "127.0.0.1:"+port+"  open  http  lighttpd 1.4.69") {
		t.Errorf("output:\n%s", out.String())
	}

	out.Reset()
	if code := Main([]string{port, "--probe", "--json"}, strings.NewReader(""), &out, &errOut); code != ExitOK {
		t.Fatalf("--json: exit %d", code)
	}
	var doc struct {
		Probe []probe.Result `json:"probe"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Probe) != 1 || doc.Probe[0].Service != "http" || doc.Probe[0].Product != "lighttpd" {
		t.Errorf("probe = %+v", doc.Probe)
	}

	if code := Main([]string{"--probe"}, strings.NewReader(""), &out, &errOut); code != ExitError {
		t.Errorf("--probe without a port: exit %d, want 2", code)
	}
}
