package watch

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/portwho/portwho/internal/report"
)

// scrape fetches the metrics endpoint over HTTP and parses it with
// Prometheus' own text parser.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// value finds the sample of name whose labels include want; -1 if none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestMetricsEndpoint(t *testing.T) {
	mk := func(port uint16, exe string, inode uint64, findings ...report.Finding) *Listener {
		return &Listener{Key: Key{Protocol: "tcp", Address: netip.MustParseAddr("0.0.0.0"), Port: port, Exe: exe},
			Inodes: []uint64{inode}, Service: map[uint16]string{22: "ssh", 3302: "mcs-fastmail"}[port], Findings: findings}
	}
	high := report.Finding{ID: "exe-deleted", Severity: report.SeverityHigh}
	cur := map[Key]*Listener{}
	for _, l := range []*Listener{
		mk(22, "/usr/sbin/sshd", 1),
		mk(3302, "/usr/bin/python3", 2, high),
		mk(8080, "/opt/app", 3),
	} {
		cur[l.Key] = l
	}
	v6 := mk(22, "/usr/sbin/sshd", 4)
	v6.Address = netip.MustParseAddr("::")
	cur[v6.Key] = v6

	m := NewMetrics(2)
	m.observeScan(12*time.Millisecond, time.Unix(1800000000, 0), nil)
	m.countEvents([]Event{{Type: Opened}, {Type: Opened}, {Type: Closed}})
	allowed := func(l *Listener) bool { return l.Port == 22 }
	m.setState(cur, allowed)
	fams := scrape(t, m)

	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"a not-allowed listener is kept under the cap", "portwho_listeners",
			map[string]string{"protocol": "tcp", "port": "3302", "service": "mcs-fastmail", "exe": "/usr/bin/python3", "container": "", "allowed": "false"}, 1},
		{"two sockets with one label set are one series", "portwho_listeners",
			map[string]string{"port": "22", "exe": "/usr/sbin/sshd", "allowed": "true"}, -1},
		{"the cap leaves the allowed sshd out", "portwho_listeners_overflow", nil, 2},
		{"findings by severity and id", "portwho_findings", map[string]string{"severity": "high", "id": "exe-deleted"}, 1},
		{"events by type", "portwho_events_total", map[string]string{"type": "opened"}, 2},
		{"types start at zero", "portwho_events_total", map[string]string{"type": "owner-changed"}, 0},
		{"scan duration observed", "portwho_scan_duration_seconds", nil, 1},
		{"last scan time", "portwho_last_scan_timestamp_seconds", nil, 1800000000},
		{"runtime metrics ride along", "go_goroutines", nil, value(fams, "go_goroutines", nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := value(fams, tt.metric, tt.labels); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
	if n := len(fams["portwho_listeners"].GetMetric()); n != 2 {
		t.Errorf("portwho_listeners has %d series, want the cap of 2", n)
	}

	t.Run("without the cap sshd's two sockets are one series of 2", func(t *testing.T) {
		m := NewMetrics(0)
		m.setState(cur, allowed)
		fams := scrape(t, m)
		if got := value(fams, "portwho_listeners", map[string]string{"port": "22", "allowed": "true"}); got != 2 {
			t.Errorf("sshd = %v, want 2", got)
		}
		// A listener that went away leaves no stale series.
		m.setState(map[Key]*Listener{}, allowed)
		if f := scrape(t, m)["portwho_listeners"]; f != nil && len(f.Metric) > 0 {
			t.Errorf("stale series after every listener closed: %v", f.Metric)
		}
	})
}
