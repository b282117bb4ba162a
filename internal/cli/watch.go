package cli

// portwho watch: the daemon. Flags or a YAML config file choose the
// interval, history database, policy, sinks and metrics; SIGHUP rereads the
// policy; SIGTERM and SIGINT stop it after the sinks drain.

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portwho/portwho/internal/policy"
	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/render"
	"github.com/portwho/portwho/internal/report"
	"github.com/portwho/portwho/internal/sockets"
	"github.com/portwho/portwho/internal/store"
	"github.com/portwho/portwho/internal/watch"
)

// DefaultWatchConfig is read when --config is not given and it exists.
const DefaultWatchConfig = "/etc/portwho/watch.yaml"

// WatchConfig is what a config file or the flags set. Durations accept
// Go's units plus d for days ("90d").
type WatchConfig struct {
	Interval         Duration `yaml:"interval"`
	DB               string   `yaml:"db"`
	Retention        Duration `yaml:"retention"`
	Policy           string   `yaml:"policy"`
	MinSeverity      string   `yaml:"min_severity"`
	Webhook          string   `yaml:"webhook"`
	WebhookQueue     int      `yaml:"webhook_queue"`
	Exec             string   `yaml:"exec"`
	ExecTimeout      Duration `yaml:"exec_timeout"`
	Metrics          string   `yaml:"metrics"`
	MetricsTokenFile string   `yaml:"metrics_token_file"`
	MetricsMaxSeries int      `yaml:"metrics_max_series"`
	NoNamespaces     bool     `yaml:"no_namespaces"`
	JSON             bool     `yaml:"json"`
}

// Duration is a time.Duration that reads "90d" as well as "1s".
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string {
	if day := 24 * time.Hour; d > 0 && time.Duration(d)%day == 0 {
		return strconv.FormatInt(int64(time.Duration(d)/day), 10) + "d"
	}
	return time.Duration(d).String()
}

// Set and Type make Duration a pflag.Value.
func (d *Duration) Set(s string) error { return d.UnmarshalText([]byte(s)) }
func (d *Duration) Type() string       { return "duration" }

// parseDuration reads a Go duration or a whole number of days ("90d").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100000 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return d, nil
}

// maxConfigSize bounds a config file: it is hand-written.
const maxConfigSize = 1 << 20

// parseWatchConfig reads a YAML config; unknown keys are errors so a typo
// does not silently leave a default in place.
func parseWatchConfig(r io.Reader) (WatchConfig, error) {
	var c WatchConfig
	data, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return c, err
	}
	if len(data) > maxConfigSize {
		return c, errors.New("config file is larger than 1 MiB")
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.DisallowUnknownField()); err != nil {
		return c, errors.New(oneLine(yaml.FormatError(err, false, false)))
	}
	return c, nil
}

// WatchOptions holds the flags of portwho watch.
type WatchOptions struct {
	IO      *IOStreams
	Factory *Factory
	WatchConfig
	// ConfigPath is the config file; ConfigExplicit says --config named it
	// (then a missing file is an error).
	ConfigPath     string
	ConfigExplicit bool
	// changed lists the flags given on the command line, which win over
	// the config file.
	changed map[string]bool
	// UID decides the default state directory.
	UID int
	// Reload delivers SIGHUP.
	Reload <-chan os.Signal
	// Ready, when set, is called with the metrics address once serving
	// and the watcher about to start (tests).
	Ready func(metricsAddr string)
	// Snapshot replaces the real inventory (tests).
	Snapshot func(context.Context) ([]report.Socket, error)
}

// NewCmdWatch builds portwho watch.
func NewCmdWatch(f *Factory, runF func(*WatchOptions) error) *cobra.Command {
	opts := &WatchOptions{IO: f.IO, Factory: f, UID: os.Geteuid(), ConfigPath: DefaultWatchConfig}
	opts.Interval = Duration(time.Second)
	opts.Retention = Duration(store.DefaultRetention)
	opts.MinSeverity = "medium"
	opts.WebhookQueue = 1000
	opts.ExecTimeout = Duration(10 * time.Second)
	opts.MetricsMaxSeries = watch.DefaultMaxSeries
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Watch for listeners as they come and go; keep their history",
		Long: `Takes the host's listener inventory at an interval, diffs it by identity
(network namespace, protocol, address, port, owning executable) and reports
opened, closed, owner-changed, finding and missed events. Every event is committed
to the history database before any sink sees it.

Human lines on a terminal, JSON Lines otherwise. With --policy, listeners the
policy allows are kept in history but raise no alert. A TCP listener that
opens and closes between two looks is reported as missed, from the kernel's
notice of its destruction, without its process; a UDP one is not seen (see
docs/monitoring.md).

Flags may instead be set in a YAML config file (--config; by default
` + DefaultWatchConfig + ` when it exists); flags win. SIGHUP rereads the
policy; SIGTERM and SIGINT stop after the sinks drain.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.changed = map[string]bool{}
			cmd.Flags().Visit(func(fl *pflag.Flag) { opts.changed[fl.Name] = true })
			opts.ConfigExplicit = opts.changed["config"]
			if runF != nil {
				return runF(opts)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			opts.Reload = hup
			return watchRun(ctx, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.ConfigPath, "config", opts.ConfigPath, "YAML config file")
	fl.Var(&opts.Interval, "interval", "time between looks (at least 100ms)")
	fl.StringVar(&opts.DB, "db", "", "history database (default /var/lib/portwho/history.db as root, else the user's state directory)")
	fl.Var(&opts.Retention, "retention", "how long history is kept (e.g. 90d, 0 keeps everything)")
	fl.StringVar(&opts.Policy, "policy", "", "allow-list policy file: allowed listeners raise no alert")
	fl.StringVar(&opts.MinSeverity, "min-severity", opts.MinSeverity, "lowest finding severity that raises a finding event (info, low, medium, high)")
	fl.StringVar(&opts.Webhook, "webhook", "", "POST each event as JSON to `URL`")
	fl.IntVar(&opts.WebhookQueue, "webhook-queue", opts.WebhookQueue, "events held for a slow webhook before dropping")
	fl.StringVar(&opts.Exec, "exec", "", "run `CMD` (with /bin/sh) per event, the event as JSON on stdin")
	fl.Var(&opts.ExecTimeout, "exec-timeout", "longest one --exec run may take")
	fl.StringVar(&opts.Metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (e.g. 127.0.0.1:9330)")
	fl.StringVar(&opts.MetricsTokenFile, "metrics-token-file", "", "bearer token required by the metrics endpoint (needed for a non-loopback address)")
	fl.IntVar(&opts.MetricsMaxSeries, "metrics-max-series", opts.MetricsMaxSeries, "cap on portwho_listeners label sets")
	fl.BoolVar(&opts.NoNamespaces, "no-namespaces", false, "watch only the host's network namespace")
	fl.BoolVar(&opts.JSON, "json", false, "JSON Lines even on a terminal")
	return cmd
}

// loadConfig merges the config file under the flags given.
func (opts *WatchOptions) loadConfig() error {
	if opts.ConfigPath == "" {
		return nil
	}
	fh, err := os.Open(opts.ConfigPath)
	if err != nil {
		if !opts.ConfigExplicit && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("config: %w", err)
	}
	defer fh.Close()
	c, err := parseWatchConfig(fh)
	if err != nil {
		return fmt.Errorf("config %s: %w", opts.ConfigPath, err)
	}
	set := func(flag string, apply func()) {
		if !opts.changed[flag] {
			apply()
		}
	}
	if c.Interval != 0 {
		set("interval", func() { opts.Interval = c.Interval })
	}
	if c.DB != "" {
		set("db", func() { opts.DB = c.DB })
	}
	if c.Retention != 0 {
		set("retention", func() { opts.Retention = c.Retention })
	}
	if c.Policy != "" {
		set("policy", func() { opts.Policy = c.Policy })
	}
	if c.MinSeverity != "" {
		set("min-severity", func() { opts.MinSeverity = c.MinSeverity })
	}
	if c.Webhook != "" {
		set("webhook", func() { opts.Webhook = c.Webhook })
	}
	if c.WebhookQueue != 0 {
		set("webhook-queue", func() { opts.WebhookQueue = c.WebhookQueue })
	}
	if c.Exec != "" {
		set("exec", func() { opts.Exec = c.Exec })
	}
	if c.ExecTimeout != 0 {
		set("exec-timeout", func() { opts.ExecTimeout = c.ExecTimeout })
	}
	if c.Metrics != "" {
		set("metrics", func() { opts.Metrics = c.Metrics })
	}
	if c.MetricsTokenFile != "" {
		set("metrics-token-file", func() { opts.MetricsTokenFile = c.MetricsTokenFile })
	}
	if c.MetricsMaxSeries != 0 {
		set("metrics-max-series", func() { opts.MetricsMaxSeries = c.MetricsMaxSeries })
	}
	if c.NoNamespaces {
		set("no-namespaces", func() { opts.NoNamespaces = true })
	}
	if c.JSON {
		set("json", func() { opts.JSON = true })
	}
	return nil
}

// historyPath is --db or the default for this user.
func historyPath(db string, uid int, f *Factory) (string, error) {
	if db != "" {
		return db, nil
	}
	getenv := f.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	return store.DefaultPath(uid, getenv)
}

// loadPolicy reads the policy file; nil when none is set.
func loadPolicy(path string) (*policy.Policy, error) {
	if path == "" {
		return nil, nil
	}
	return policy.Load(path)
}

// allowedBy is the policy as the watcher's matcher; nil allows nothing.
func allowedBy(p *policy.Policy) func(report.Socket) bool {
	if p == nil {
		return nil
	}
	return func(s report.Socket) bool { return p.Allowed(&s) }
}

func watchRun(ctx context.Context, opts *WatchOptions) error {
	f := opts.Factory
	errOut := opts.IO.ErrOut
	// A daemon's heap is mostly two looks' worth of sockets, rebuilt every
	// second: collecting at half again the live heap instead of twice it
	// keeps its RSS near a third lower for a little more GC work. GOGC,
	// when set, wins.
	if f.getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(50))
	}
	if err := opts.loadConfig(); err != nil {
		return err
	}
	interval := time.Duration(opts.Interval)
	if interval < watch.MinInterval {
		return usageErrorf("--interval %s is below the minimum of %s", interval, watch.MinInterval)
	}
	threshold, err := report.ParseSeverity(opts.MinSeverity)
	if err != nil {
		return usageErrorf("--min-severity: %s", err)
	}
	if opts.WebhookQueue < 1 {
		return usageErrorf("--webhook-queue must be at least 1")
	}
	if opts.Webhook != "" {
		if err := checkWebhookURL(opts.Webhook); err != nil {
			return usageErrorf("--webhook: %s", err)
		}
	}
	pol, err := loadPolicy(opts.Policy)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	// --policy also tunes assessment, as it does for portwho check;
	// without it findings follow the host policy portwho itself uses.
	var judge atomic.Pointer[policy.Policy]
	judge.Store(pol)

	path, err := historyPath(opts.DB, opts.UID, f)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	known, err := st.Open(ctx)
	if err != nil {
		return err
	}

	w := &watch.Watcher{
		Snapshot:  opts.Snapshot,
		Interval:  interval,
		Recorder:  st,
		Threshold: threshold,
		Known:     known,
		Now:       f.Now,
		Log:       errOut,
	}
	w.SetPolicy(allowedBy(pol))
	w.Sinks = append(w.Sinks, &watch.StreamSink{W: opts.IO.Out, Human: opts.IO.OutTTY && !opts.JSON, Style: opts.IO.Style()})

	var m *watch.Metrics
	if opts.Metrics != "" {
		m = watch.NewMetrics(opts.MetricsMaxSeries)
		w.Metrics = m
	}
	var inv *watch.Inventory
	if w.Snapshot == nil {
		inv = newInventory(f, !opts.NoNamespaces, &judge)
		w.Snapshot = inv.Snapshot
		if m != nil {
			m.WatchInventory(inv)
		}
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	metricsAddr := ""
	if m != nil {
		srv, ln, err := serveMetrics(opts, m)
		if err != nil {
			return err
		}
		metricsAddr = ln.Addr().String()
		wg.Add(2)
		go func() {
			defer wg.Done()
			srv.Serve(ln)
		}()
		go func() {
			defer wg.Done()
			<-ctx.Done()
			sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
			defer c()
			srv.Shutdown(sctx)
		}()
	}

	if opts.Webhook != "" {
		client := watch.NewWebhookClient()
		// Kept-alive connections would outlive the daemon's shutdown.
		defer client.CloseIdleConnections()
		q := (&watch.Queue{Name: "webhook", Retry: true, Log: errOut,
			Deliver: (&watch.Webhook{URL: opts.Webhook, Client: client}).Deliver}).Start(opts.WebhookQueue)
		if m != nil {
			m.WatchWebhook(q)
		}
		w.Sinks = append(w.Sinks, q)
	}
	if opts.Exec != "" {
		q := (&watch.Queue{Name: "exec", Log: errOut,
			Deliver: (&watch.Command{Cmd: opts.Exec, Timeout: time.Duration(opts.ExecTimeout), Log: errOut}).Deliver}).Start(opts.WebhookQueue)
		w.Sinks = append(w.Sinks, q)
	}

	if ret := time.Duration(opts.Retention); ret > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prune(ctx, st, ret, f.Now, errOut)
		}()
	}
	if opts.Reload != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case <-opts.Reload:
					if opts.Policy == "" {
						fmt.Fprintf(errOut, "portwho watch: SIGHUP: no --policy to reload\n")
						continue
					}
					p, err := loadPolicy(opts.Policy)
					if err != nil {
						fmt.Fprintf(errOut, "portwho watch: SIGHUP: keeping the previous policy: %s\n", render.Sanitize(oneLine(err.Error())))
						continue
					}
					judge.Store(p)
					w.SetPolicy(allowedBy(p))
					if inv != nil {
						inv.Reassess()
					}
					fmt.Fprintf(errOut, "portwho watch: policy %s reloaded\n", render.Sanitize(opts.Policy))
				}
			}
		}()
	}

	// Listeners that open and close between two looks: the kernel's
	// notices of destroyed TCP sockets, in this process's namespace.
	dw := &watch.DestroyWatch{}
	if err := dw.Start(ctx); err != nil {
		fmt.Fprintf(errOut, "portwho watch: %s; listeners shorter than the interval go unseen\n", render.Sanitize(err.Error()))
	} else {
		defer dw.Stop()
		w.Gone = dw.Drain
		w.GoneNS = selfNetNS(f.ProcRoot)
		w.UserName = userNamer()
	}

	fmt.Fprintf(errOut, "portwho watch: looking every %s; history in %s\n", interval, render.Sanitize(path))
	if opts.Ready != nil {
		opts.Ready(metricsAddr)
	}
	err = w.Run(ctx)
	cancel()
	return err
}

// newInventory is the part-2 inventory plus assessment, the same pipeline
// as portwho itself, with its costly parts cached between looks. judge,
// when it holds a policy, tunes assessment; otherwise portwho's own choice
// of policy does.
func newInventory(f *Factory, allNS bool, judge *atomic.Pointer[policy.Policy]) *watch.Inventory {
	reg, _ := f.Registry()
	inv := &watch.Inventory{
		Sockets:  &sockets.Scanner{ProcRoot: f.ProcRoot},
		ProcRoot: f.ProcRoot,
		// A fresh process reader per look: its cache must not outlive a
		// pid that may be reused.
		NewReader: func() *process.Reader { return &process.Reader{ProcRoot: f.ProcRoot, Now: f.Now} },
		Annotate: func(socks []report.Socket) error {
			if f.getenv("PORTWHO_NO_ASSESS") == "1" {
				return nil
			}
			if judge != nil {
				if p := judge.Load(); p != nil {
					f.newAssessor(p).Annotate(socks)
					return nil
				}
			}
			return annotate(f, socks)
		},
		Query: sockets.Query{AllNamespaces: allNS},
		Root:  os.Geteuid() == 0,
	}
	if reg != nil {
		inv.Service = func(port uint16, proto string) string {
			for _, e := range reg.Port(port, proto) {
				// Exact registrations sort before the ranges that
				// cover the port; reserved records have no name.
				if e.Service != "" {
					return e.Service
				}
			}
			return ""
		}
	}
	return inv
}

// selfNetNS is the inode of this process's network namespace, where the
// destruction notices come from; 0 when it cannot be read.
func selfNetNS(procRoot string) uint64 {
	if procRoot == "" {
		procRoot = "/proc"
	}
	l, err := os.Readlink(procRoot + "/self/ns/net")
	if err != nil {
		return 0
	}
	v, ok := strings.CutPrefix(l, "net:[")
	if !ok {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64)
	return n
}

// userNamer names uids from the user database, remembering each answer.
func userNamer() func(uint32) string {
	names := map[uint32]string{}
	return func(uid uint32) string {
		if n, ok := names[uid]; ok {
			return n
		}
		n := strconv.FormatUint(uint64(uid), 10)
		if u, err := user.LookupId(n); err == nil {
			n = u.Username
		}
		names[uid] = n
		return n
	}
}

// prune applies the retention now and then every hour.
func prune(ctx context.Context, st *store.Store, keep time.Duration, now func() time.Time, errOut io.Writer) {
	if now == nil {
		now = time.Now
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := st.Prune(ctx, now().Add(-keep)); err != nil && ctx.Err() == nil {
			fmt.Fprintf(errOut, "portwho watch: %s\n", render.Sanitize(err.Error()))
		} else if n > 0 {
			fmt.Fprintf(errOut, "portwho watch: pruned %d events older than %s\n", n, keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func checkWebhookURL(u string) error {
	req, err := http.NewRequest(http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" || req.URL.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", u)
	}
	return nil
}

// serveMetrics listens on the metrics address. Anything but loopback needs
// a bearer token: the metrics name every executable listening on the host.
func serveMetrics(opts *WatchOptions, m *watch.Metrics) (*http.Server, net.Listener, error) {
	host, _, err := net.SplitHostPort(opts.Metrics)
	if err != nil {
		return nil, nil, usageErrorf("--metrics %q: %s", opts.Metrics, err)
	}
	token := ""
	if opts.MetricsTokenFile != "" {
		b, err := os.ReadFile(opts.MetricsTokenFile)
		if err != nil {
			return nil, nil, fmt.Errorf("metrics token: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return nil, nil, fmt.Errorf("metrics token file %s is empty", opts.MetricsTokenFile)
		}
	}
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && token == "" {
		return nil, nil, usageErrorf("--metrics %s is not a loopback address: set --metrics-token-file", opts.Metrics)
	}
	ln, err := net.Listen("tcp", opts.Metrics)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	h := m.Handler()
	if token != "" {
		h = requireToken(token, h)
	}
	mux.Handle("/metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return srv, ln, nil
}

func requireToken(token string, next http.Handler) http.Handler {
	want := "Bearer " + token
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if len(got) != len(want) || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
