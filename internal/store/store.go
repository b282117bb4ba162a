// Package store keeps portwho watch's history: every event, in an embedded
// SQLite database (modernc.org/sqlite, no cgo) with a versioned schema.
// A batch of events is committed in one transaction and fsynced before the
// watcher hands any of it to a sink, so an event a sink has seen survives a
// crash or a kill -9.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portwho/portwho/internal/watch"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DefaultRetention is how long events are kept unless told otherwise.
const DefaultRetention = 90 * 24 * time.Hour

// ErrTooNew means the database was written by a newer portwho.
var ErrTooNew = errors.New("database schema is newer than this portwho")

// migrations[i] takes the schema from version i to i+1. Append only: a
// released step is never edited, so every database walks the same path.
var migrations = []string{
	// 1: the event log. time is Unix nanoseconds (UTC). key is the
	// listener identity (watch.Key.String); prev_key is the identity
	// before an owner-changed event. data is the event as JSON, the
	// contract in docs/json.md; the other columns exist for queries.
	`CREATE TABLE events (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		time     INTEGER NOT NULL,
		type     TEXT NOT NULL,
		key      TEXT NOT NULL,
		prev_key TEXT NOT NULL DEFAULT '',
		netns    INTEGER NOT NULL,
		protocol TEXT NOT NULL,
		address  TEXT NOT NULL,
		port     INTEGER NOT NULL,
		exe      TEXT NOT NULL,
		process  TEXT NOT NULL,
		pids     TEXT NOT NULL,
		user     TEXT NOT NULL,
		allowed  INTEGER NOT NULL,
		data     TEXT NOT NULL
	);
	CREATE INDEX events_time ON events(time);
	CREATE INDEX events_port_time ON events(port, time);
	CREATE INDEX events_key ON events(key, id);
	CREATE INDEX events_prev_key ON events(prev_key, id) WHERE prev_key != '';`,
}

// SchemaVersion is the version this build writes.
func SchemaVersion() int { return len(migrations) }

// Store is an open history database.
type Store struct {
	db   *sql.DB
	path string
}

// Open opens (creating it and its directory when missing) the database at
// path and brings its schema up to date.
//
// Durability: WAL with synchronous=FULL fsyncs the log on every commit, so
// a committed batch survives power loss as well as a kill -9; NORMAL would
// only survive the latter. One fsync per look that saw a change is cheap.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open history: %w", err)
	}
	// The history names processes and users: not for everyone to read.
	// SQLite would create the file with the umask's mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	} else {
		return nil, fmt.Errorf("open history: %w", err)
	}
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open history %s: %w", path, err)
	}
	// One connection: the watcher is the only writer, and a single
	// connection makes every statement see the last commit.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, path: path}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open history %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path is where the database is.
func (s *Store) Path() string { return s.path }

func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("%w (version %d, this build knows %d)", ErrTooNew, v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		// PRAGMA takes no bound parameters; v is ours.
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
	}
	return nil
}

// Record commits evs in one transaction and sets their IDs. It implements
// watch.Recorder.
func (s *Store) Record(ctx context.Context, evs []watch.Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, `INSERT INTO events
		(time, type, key, prev_key, netns, protocol, address, port, exe, process, pids, user, allowed, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	defer st.Close()
	ids := make([]int64, len(evs))
	for i := range evs {
		ev := evs[i]
		ev.ID = 0 // the row id is the id; data never carries a stale one
		data, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("record: encode: %w", err)
		}
		l := ev.Listener
		prev := ""
		if ev.Previous != nil && ev.Previous.Key != l.Key {
			prev = ev.Previous.Key.String()
		}
		pids := make([]string, len(l.PIDs))
		for j, p := range l.PIDs {
			pids[j] = strconv.Itoa(p)
		}
		res, err := st.ExecContext(ctx, ev.Time.UnixNano(), string(ev.Type), l.Key.String(), prev,
			int64(l.NetNS), l.Protocol, l.Address.String(), int(l.Port), l.Exe, l.Process,
			strings.Join(pids, " "), l.User, ev.Allowed, string(data))
		if err != nil {
			return fmt.Errorf("record: %w", err)
		}
		if ids[i], err = res.LastInsertId(); err != nil {
			return fmt.Errorf("record: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record: commit: %w", err)
	}
	for i := range evs {
		evs[i].ID = ids[i]
	}
	return nil
}

// Filter selects events. The zero value selects every event.
type Filter struct {
	Port uint16
	// Process matches the process name, the executable's path, or its
	// base name, exactly.
	Process string
	// Since and Until bound the event time (inclusive); zero is open.
	Since, Until time.Time
	// Limit keeps the last Limit events; 0 means no limit.
	Limit int
}

// Events returns the events f selects, oldest first.
func (s *Store) Events(ctx context.Context, f Filter) ([]watch.Event, error) {
	var where []string
	var args []any
	if f.Port != 0 {
		where = append(where, "port = ?")
		args = append(args, int(f.Port))
	}
	if f.Process != "" {
		where = append(where, "(process = ? OR exe = ? OR (length(exe) > length(?) AND substr(exe, -length(?) - 1) = '/' || ?))")
		args = append(args, f.Process, f.Process, f.Process, f.Process, f.Process)
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where = append(where, "time <= ?")
		args = append(args, f.Until.UnixNano())
	}
	q := "SELECT id, data FROM events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	evs, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs, nil
}

// openAt selects, for each identity, the last opened or owner-changed
// event at or before ?1 with no close after it and no owner change that
// moved the socket to another identity after it.
const openAt = `
WITH last AS (
	SELECT key, MAX(id) AS id FROM events
	WHERE time <= ?1 AND type IN ('opened', 'closed', 'owner-changed')
	GROUP BY key
), moved AS (
	SELECT prev_key AS key, MAX(id) AS id FROM events
	WHERE time <= ?1 AND type = 'owner-changed' AND prev_key != ''
	GROUP BY prev_key
)
SELECT e.id, e.data FROM last JOIN events e ON e.id = last.id
WHERE e.type != 'closed'
  AND NOT EXISTS (SELECT 1 FROM moved WHERE moved.key = last.key AND moved.id > last.id)
ORDER BY e.protocol, e.port, e.address, e.netns, e.exe`

// ListenersAt reconstructs what was listening at t: each returned event is
// the one that last opened (or re-owned) a listener still open at t.
func (s *Store) ListenersAt(ctx context.Context, t time.Time) ([]watch.Event, error) {
	return s.query(ctx, openAt, t.UnixNano())
}

// Open lists the listeners the history says are open now, for a watcher
// to start from.
func (s *Store) Open(ctx context.Context) ([]watch.Known, error) {
	evs, err := s.ListenersAt(ctx, time.Unix(0, 1<<62))
	if err != nil {
		return nil, err
	}
	out := make([]watch.Known, len(evs))
	for i, ev := range evs {
		out[i] = watch.Known{Listener: ev.Listener, OpenedAt: ev.Time}
		if ev.OpenedAt != nil {
			out[i].OpenedAt = *ev.OpenedAt
		}
	}
	return out, nil
}

// Prune deletes events older than before, except those that still say a
// listener is open: a daemon listening for longer than the retention must
// not vanish from --listeners-at.
func (s *Store) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM events WHERE time < ?2
		AND id NOT IN (SELECT id FROM (`+openAt+`))`, int64(1<<62), before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("prune history: %w", err)
	}
	return res.RowsAffected()
}

// Check runs SQLite's integrity check and returns its verdict ("ok").
func (s *Store) Check(ctx context.Context) (string, error) {
	rows, err := s.db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return "", fmt.Errorf("integrity check: %w", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", fmt.Errorf("integrity check: %w", err)
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n"), rows.Err()
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]watch.Event, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query history: %w", err)
	}
	defer rows.Close()
	var out []watch.Event
	for rows.Next() {
		var id int64
		var data string
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("query history: %w", err)
		}
		var ev watch.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return nil, fmt.Errorf("query history: event %d: %w", id, err)
		}
		ev.ID = id
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query history: %w", err)
	}
	return out, nil
}

// DefaultPath is where the history lives: /var/lib/portwho as root, the
// user's state directory otherwise ($XDG_STATE_HOME/portwho, or
// ~/.local/state/portwho).
func DefaultPath(uid int, getenv func(string) string) (string, error) {
	if uid == 0 {
		return "/var/lib/portwho/history.db", nil
	}
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "portwho", "history.db"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("no state directory: set HOME or XDG_STATE_HOME, or pass --db")
	}
	return filepath.Join(home, ".local", "state", "portwho", "history.db"), nil
}
