// Command watchbench measures what `portwho watch` costs and how fast it
// notices: it runs the daemon as its child with JSON Lines on a pipe, then
//
//  1. samples the child's CPU time and RSS from /proc once a second for
//     --measure (60 s by default) and reports the averages;
//  2. opens --listeners TCP listeners on 127.0.0.1, one at a time at random
//     offsets within the interval, and times each from the return of
//     listen() to the arrival of its opened event on the pipe.
//
// Run it through bench/watch/run.sh, which starts the host workload first.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	portwho := flag.String("portwho", "portwho", "portwho binary")
	db := flag.String("db", "", "history database for the daemon (required)")
	interval := flag.Duration("interval", time.Second, "watch interval")
	settle := flag.Duration("settle", 10*time.Second, "wait after start before measuring (the first look records every listener)")
	measure := flag.Duration("measure", 60*time.Second, "how long to average CPU and RSS over")
	listeners := flag.Int("listeners", 50, "listeners to time")
	flag.Parse()
	if *db == "" {
		fmt.Fprintln(os.Stderr, "watchbench: --db is required")
		os.Exit(2)
	}

	// A free loopback port for the metrics endpoint, read at the end.
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	metrics := pl.Addr().String()
	pl.Close()
	cmd := exec.Command(*portwho, "watch", "--json", "--db", *db, "--interval", interval.String(), "--retention", "0", "--metrics", metrics)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fail(err)
	}
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	pid := cmd.Process.Pid

	// Arrival time of each opened event by port, read as lines arrive.
	var mu sync.Mutex
	arrived := map[int]time.Time{}
	events := 0
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			now := time.Now()
			var ev struct {
				Type     string `json:"type"`
				Listener struct {
					Address string `json:"address"`
					Port    int    `json:"port"`
				} `json:"listener"`
			}
			if json.Unmarshal(sc.Bytes(), &ev) != nil {
				continue
			}
			mu.Lock()
			events++
			if ev.Type == "opened" && ev.Listener.Address == "127.0.0.1" {
				if _, ok := arrived[ev.Listener.Port]; !ok {
					arrived[ev.Listener.Port] = now
				}
			}
			mu.Unlock()
		}
	}()

	time.Sleep(*settle)
	mu.Lock()
	fmt.Printf("first look recorded %d events\n", events)
	mu.Unlock()

	// 1. Cost at rest.
	hz := 100.0 // USER_HZ on Linux
	cpu0, _ := cpuTicks(pid)
	mu.Lock()
	events0 := events
	mu.Unlock()
	t0 := time.Now()
	var rss []float64
	// Per-second CPU, and whether that second had events: on a shared
	// machine other programs' listeners come and go, and the steady
	// state is the seconds when nothing did.
	var quietTicks, quietSecs float64
	prevTicks, prevEvents := cpu0, events0
	for time.Since(t0) < *measure {
		time.Sleep(time.Second)
		if r, err := rssKiB(pid); err == nil {
			rss = append(rss, r)
		}
		c, _ := cpuTicks(pid)
		mu.Lock()
		ev := events
		mu.Unlock()
		if ev == prevEvents {
			quietTicks += c - prevTicks
			quietSecs++
		}
		prevTicks, prevEvents = c, ev
	}
	cpu1, _ := cpuTicks(pid)
	wall := time.Since(t0).Seconds()
	mu.Lock()
	fmt.Printf("events during the measurement: %d (other programs on the host opening and closing listeners)\n", events-events0)
	mu.Unlock()
	cpuPct := (cpu1 - cpu0) / hz / wall * 100
	fmt.Printf("cpu: %.2f%% of one core averaged over %.0f s\n", cpuPct, wall)
	if quietSecs > 0 {
		fmt.Printf("cpu in the %.0f seconds with no event: %.2f%% of one core\n", quietSecs, quietTicks/hz/quietSecs*100)
	}
	if resp, err := http.Get("http://" + metrics + "/metrics"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "portwho_inventory_looks_total") || strings.HasPrefix(l, "portwho_scan_duration_seconds_sum") ||
				strings.HasPrefix(l, "portwho_scan_duration_seconds_count") || strings.HasPrefix(l, "go_memstats_heap_inuse_bytes") {
				fmt.Println("  " + l)
			}
		}
	}
	fmt.Printf("rss: %.1f MiB average, %.1f MiB max over %d samples\n", mean(rss)/1024, slices.Max(rss)/1024, len(rss))

	// 2. Detection latency.
	opened := map[int]time.Time{}
	var lns []net.Listener
	for i := 0; i < *listeners; i++ {
		time.Sleep(time.Duration(rand.Int64N(int64(*interval))) + *interval/4)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fail(err)
		}
		opened[ln.Addr().(*net.TCPAddr).Port] = time.Now()
		lns = append(lns, ln)
	}
	time.Sleep(2**interval + 500*time.Millisecond)
	var lat []float64
	missed := 0
	mu.Lock()
	for port, t := range opened {
		a, ok := arrived[port]
		if !ok {
			missed++
			continue
		}
		lat = append(lat, float64(a.Sub(t))/float64(time.Millisecond))
	}
	mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		fail(fmt.Errorf("no listener was detected"))
	}
	fmt.Printf("latency listen()->event over %d listeners: median %.0f ms, p90 %.0f ms, max %.0f ms, missed %d (interval %s)\n",
		len(lat), pct(lat, 50), pct(lat, 90), lat[len(lat)-1], missed, *interval)
}

// cpuTicks is utime+stime of pid, in clock ticks.
func cpuTicks(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised comm, which may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return u + s, nil
}

func rssKiB(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.ParseFloat(strings.Fields(v)[0], 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

func mean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s / float64(len(x))
}

func pct(sorted []float64, p int) float64 {
	i := (len(sorted) - 1) * p / 100
	return sorted[i]
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "watchbench:", err)
	os.Exit(1)
}
