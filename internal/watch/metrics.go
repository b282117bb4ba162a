package watch

// Prometheus metrics, on a registry of their own: the process-wide default
// registry is a mutable global other code could write to, and a watcher
// made in a test must not see another's series.

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMaxSeries bounds the label sets of portwho_listeners. A host with
// thousands of ephemeral listeners (a test farm, a port-per-customer
// service) must not turn into thousands of series in every scrape.
const DefaultMaxSeries = 500

// Metrics holds the watcher's Prometheus metrics.
type Metrics struct {
	Registry *prometheus.Registry
	// MaxSeries caps portwho_listeners label sets; listeners beyond it are
	// counted in portwho_listeners_overflow.
	MaxSeries int

	mu        sync.Mutex
	listeners []listenerSeries
	overflow  float64
	findings  map[[2]string]float64

	listenersDesc, overflowDesc, findingsDesc *prometheus.Desc

	events         *prometheus.CounterVec
	scanDuration   prometheus.Histogram
	scanErrors     prometheus.Counter
	lastScan       prometheus.Gauge
	webhookDropped prometheus.Counter
}

type listenerSeries struct {
	labels [6]string // protocol, port, service, exe, container, allowed
	n      float64
}

// NewMetrics builds the metrics on a new registry, with the Go runtime and
// process collectors alongside.
func NewMetrics(maxSeries int) *Metrics {
	if maxSeries <= 0 {
		maxSeries = DefaultMaxSeries
	}
	m := &Metrics{
		Registry:  prometheus.NewRegistry(),
		MaxSeries: maxSeries,
		findings:  map[[2]string]float64{},
		listenersDesc: prometheus.NewDesc("portwho_listeners",
			"Listening sockets now, by protocol, port, registered service, executable, container and whether the policy allows them.",
			[]string{"protocol", "port", "service", "exe", "container", "allowed"}, nil),
		overflowDesc: prometheus.NewDesc("portwho_listeners_overflow",
			"Listeners not broken out in portwho_listeners because its label sets reached the cap.", nil, nil),
		findingsDesc: prometheus.NewDesc("portwho_findings",
			"Listeners now carrying a finding at or above the watch threshold, by severity and finding id.",
			[]string{"severity", "id"}, nil),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portwho_events_total",
			Help: "Events recorded, by type (opened, closed, owner-changed, finding, missed).",
		}, []string{"type"}),
		scanDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portwho_scan_duration_seconds",
			Help:    "Time taken by one look at the host's sockets and their owners.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		scanErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portwho_scan_errors_total",
			Help: "Looks that failed; the previous state is kept when one does.",
		}),
		lastScan: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portwho_last_scan_timestamp_seconds",
			Help: "When the last successful look finished, in Unix seconds.",
		}),
		webhookDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portwho_webhook_dropped_total",
			Help: "Events not delivered to the webhook: queue full, rejected, or still queued at shutdown.",
		}),
	}
	for _, t := range []EventType{Opened, Closed, OwnerChanged, FindingRaised, Missed} {
		m.events.WithLabelValues(string(t)) // present at 0 from the start
	}
	m.Registry.MustRegister(m, m.events, m.scanDuration, m.scanErrors, m.lastScan, m.webhookDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// WatchWebhook exports a webhook queue's length and counts its drops.
func (m *Metrics) WatchWebhook(q *Queue) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "portwho_webhook_queue_length",
		Help: "Events waiting for the webhook.",
	}, func() float64 { return float64(q.Len()) }))
	prev := q.OnDrop
	q.OnDrop = func() {
		m.webhookDropped.Inc()
		if prev != nil {
			prev()
		}
	}
}

// WatchInventory exports how far each look had to go to place owners.
func (m *Metrics) WatchInventory(inv *Inventory) {
	for _, mode := range []string{"holders", "counts", "full"} {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "portwho_inventory_looks_total",
			Help:        "Looks by how owners were found: holders (only listener holders checked), counts (every process's fd count checked), full (every fd re-read).",
			ConstLabels: prometheus.Labels{"owners": mode},
		}, func() float64 { return float64(inv.Looks()[mode]) }))
	}
}

// Describe implements prometheus.Collector for the state-derived gauges.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.listenersDesc
	ch <- m.overflowDesc
	ch <- m.findingsDesc
}

// Collect implements prometheus.Collector: the gauges are built from the
// last look each scrape, so a listener that went away leaves no stale series.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.listeners {
		ch <- prometheus.MustNewConstMetric(m.listenersDesc, prometheus.GaugeValue, s.n, s.labels[:]...)
	}
	ch <- prometheus.MustNewConstMetric(m.overflowDesc, prometheus.GaugeValue, m.overflow)
	for k, n := range m.findings {
		ch <- prometheus.MustNewConstMetric(m.findingsDesc, prometheus.GaugeValue, n, k[0], k[1])
	}
}

func (m *Metrics) observeScan(d time.Duration, end time.Time, err error) {
	if err != nil {
		m.scanErrors.Inc()
		return
	}
	m.scanDuration.Observe(d.Seconds())
	m.lastScan.Set(float64(end.UnixNano()) / 1e9)
}

func (m *Metrics) countEvents(evs []Event) {
	for _, ev := range evs {
		m.events.WithLabelValues(string(ev.Type)).Inc()
	}
}

// setState replaces the gauges with the current listeners. When the label
// sets exceed the cap, the ones the policy does not allow are kept first
// (they are what alerts are about), then the largest.
func (m *Metrics) setState(cur map[Key]*Listener, allowed func(*Listener) bool) {
	agg := map[[6]string]float64{}
	findings := map[[2]string]float64{}
	for _, l := range cur {
		lab := [6]string{l.Protocol, strconv.Itoa(int(l.Port)), l.Service, l.Exe, l.Container, strconv.FormatBool(allowed(l))}
		agg[lab]++
		for _, f := range l.Findings {
			findings[[2]string{f.Severity.String(), f.ID}]++
		}
	}
	series := make([]listenerSeries, 0, len(agg))
	for lab, n := range agg {
		series = append(series, listenerSeries{lab, n})
	}
	slices.SortFunc(series, func(a, b listenerSeries) int {
		if c := cmp.Compare(a.labels[5], b.labels[5]); c != 0 { // "false" first
			return c
		}
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return slices.Compare(a.labels[:], b.labels[:])
	})
	var overflow float64
	if len(series) > m.MaxSeries {
		for _, s := range series[m.MaxSeries:] {
			overflow += s.n
		}
		series = series[:m.MaxSeries]
	}
	m.mu.Lock()
	m.listeners, m.overflow, m.findings = series, overflow, findings
	m.mu.Unlock()
}
