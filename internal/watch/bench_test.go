package watch

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/portwho/portwho/internal/report"
)

// BenchmarkLook is one steady-state look as the daemon takes it: the
// cached inventory of this host, grouping into listeners and the diff with
// the previous look. Run it with bench/workload up for the part-2 picture.
func BenchmarkLook(b *testing.B) {
	inv := &Inventory{Root: os.Geteuid() == 0}
	ctx := context.Background()
	socks, err := inv.Snapshot(ctx)
	if err != nil {
		b.Fatal(err)
	}
	prev := listenersOf(socks, report.SeverityMedium)
	openedAt := map[Key]time.Time{}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		socks, err := inv.Snapshot(ctx)
		if err != nil {
			b.Fatal(err)
		}
		cur := listenersOf(socks, report.SeverityMedium)
		diff(prev, cur, openedAt, time.Now())
		prev = cur
	}
	b.ReportMetric(float64(len(prev)), "listeners")
}
