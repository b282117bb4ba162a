package cli

// portwho history: what portwho watch recorded, filtered, or what was
// listening at a given moment.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/portwho/portwho/internal/render"
	"github.com/portwho/portwho/internal/store"
	"github.com/portwho/portwho/internal/watch"
)

// HistoryOptions holds the flags of portwho history.
type HistoryOptions struct {
	IO      *IOStreams
	Factory *Factory
	DB      string
	UID     int

	Port         string
	Process      string
	Since, Until string
	ListenersAt  string
	Limit        int
	JSON         bool
}

// NewCmdHistory builds portwho history.
func NewCmdHistory(f *Factory, runF func(*HistoryOptions) error) *cobra.Command {
	opts := &HistoryOptions{IO: f.IO, Factory: f, UID: os.Geteuid()}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show what portwho watch recorded",
		Long: `Lists the events portwho watch recorded, oldest first, or with
--listeners-at what was listening at a moment.

Times are RFC 3339 (2026-11-29T18:01:07Z), a date (2026-11-29), a date and
time in UTC (2026-11-29 18:01), or a duration back from now (24h, 7d).`,
		Example: `  portwho history --port 3302 --since 24h
  portwho history --process nginx --json
  portwho history --listeners-at 2026-11-29T18:05:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return historyRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.DB, "db", "", "history database (default: where portwho watch keeps it)")
	fl.StringVar(&opts.Port, "port", "", "only events on this port")
	fl.StringVar(&opts.Process, "process", "", "only events of this process name or executable")
	fl.StringVar(&opts.Since, "since", "", "only events at or after this time")
	fl.StringVar(&opts.Until, "until", "", "only events at or before this time")
	fl.StringVar(&opts.ListenersAt, "listeners-at", "", "what was listening at this time")
	fl.IntVar(&opts.Limit, "limit", 0, "only the last N events")
	fl.BoolVar(&opts.JSON, "json", false, "JSON output (see docs/json.md)")
	return cmd
}

// parseWhen reads a point in time: RFC 3339, a date, a date and time (UTC),
// or a duration back from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			if t.Year() < 1970 {
				return time.Time{}, fmt.Errorf("%q is before 1970", s)
			}
			return t, nil
		}
	}
	if d, err := parseDuration(s); err == nil && s != "" {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a time (want 2026-11-29T18:01:07Z, 2026-11-29, or a duration like 24h or 7d)", s)
}

func historyRun(ctx context.Context, opts *HistoryOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	now := time.Now
	if opts.Factory.Now != nil {
		now = opts.Factory.Now
	}
	var f store.Filter
	var err error
	if opts.Port != "" {
		p, err := strconv.ParseUint(opts.Port, 10, 16)
		if err != nil || p == 0 {
			return usageErrorf("--port %q: want a number from 1 to 65535", opts.Port)
		}
		f.Port = uint16(p)
	}
	f.Process, f.Limit = opts.Process, opts.Limit
	if opts.Since != "" {
		if f.Since, err = parseWhen(opts.Since, now()); err != nil {
			return usageErrorf("--since: %s", err)
		}
	}
	if opts.Until != "" {
		if f.Until, err = parseWhen(opts.Until, now()); err != nil {
			return usageErrorf("--until: %s", err)
		}
	}
	var at time.Time
	if opts.ListenersAt != "" {
		if opts.Since != "" || opts.Until != "" || opts.Limit != 0 {
			return usageErrorf("--listeners-at takes no --since, --until or --limit")
		}
		if at, err = parseWhen(opts.ListenersAt, now()); err != nil {
			return usageErrorf("--listeners-at: %s", err)
		}
	}

	path, err := historyPath(opts.DB, opts.UID, opts.Factory)
	if err != nil {
		return err
	}
	// Reading history must not create an empty one where none was kept.
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no history at %s (portwho watch keeps it; --db chooses another)", path)
	}
	st, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()

	if opts.ListenersAt != "" {
		evs, err := st.ListenersAt(ctx, at)
		if err != nil {
			return err
		}
		evs = keep(evs, f)
		return writeListenersAt(opts, at, evs)
	}
	evs, err := st.Events(ctx, f)
	if err != nil {
		return err
	}
	if opts.JSON {
		if evs == nil {
			evs = []watch.Event{}
		}
		return render.JSON(opts.IO.Out, struct {
			Events []watch.Event `json:"events"`
		}{evs})
	}
	if len(evs) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "no events")
		return &SilentExit{Code: ExitNotFound}
	}
	style := opts.IO.Style()
	for _, ev := range evs {
		if _, err := fmt.Fprintln(opts.IO.Out, watch.HumanLine(ev, style)); err != nil {
			return err
		}
	}
	return nil
}

// keep applies --port and --process to reconstructed listeners.
func keep(evs []watch.Event, f store.Filter) []watch.Event {
	out := evs[:0]
	for _, ev := range evs {
		l := ev.Listener
		if f.Port != 0 && l.Port != f.Port {
			continue
		}
		if f.Process != "" && l.Process != f.Process && l.Exe != f.Process && l.ExeBase() != f.Process {
			continue
		}
		out = append(out, ev)
	}
	return out
}

func writeListenersAt(opts *HistoryOptions, at time.Time, evs []watch.Event) error {
	if opts.JSON {
		type listener struct {
			watch.Listener
			Since time.Time `json:"since"`
			// EventID is the event that last opened or re-owned it.
			EventID int64 `json:"event_id"`
		}
		out := struct {
			At        time.Time  `json:"at"`
			Listeners []listener `json:"listeners"`
		}{At: at.UTC(), Listeners: []listener{}}
		for _, ev := range evs {
			since := ev.Time
			if ev.OpenedAt != nil {
				since = *ev.OpenedAt
			}
			out.Listeners = append(out.Listeners, listener{ev.Listener, since.UTC(), ev.ID})
		}
		return render.JSON(opts.IO.Out, out)
	}
	if len(evs) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "nothing was listening at %s, as far as the history knows\n", at.UTC().Format(time.RFC3339))
		return &SilentExit{Code: ExitNotFound}
	}
	st := opts.IO.Style()
	var t render.Table
	t.Row(st.Bold("PROTO"), st.Bold("ADDRESS"), st.Bold("PID"), st.Bold("PROCESS"), st.Bold("USER"), st.Bold("SINCE"), st.Bold("EXE"))
	for _, ev := range evs {
		l := ev.Listener
		since := ev.Time
		if ev.OpenedAt != nil {
			since = *ev.OpenedAt
		}
		pid := "-"
		if len(l.PIDs) > 0 {
			pid = strconv.Itoa(l.PIDs[0])
		}
		addr := l.Address.String() + ":" + strconv.Itoa(int(l.Port))
		if l.Address.Is6() {
			addr = "[" + l.Address.String() + "]:" + strconv.Itoa(int(l.Port))
		}
		t.Row(l.Protocol, addr, pid, render.Sanitize(l.Process), render.Sanitize(l.User), since.UTC().Format(time.RFC3339), render.Sanitize(l.Exe))
	}
	fmt.Fprintf(opts.IO.Out, "listening at %s:\n", at.UTC().Format(time.RFC3339))
	return t.Write(opts.IO.Out, "")
}
