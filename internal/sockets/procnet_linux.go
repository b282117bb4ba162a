package sockets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// readProcNet lists one namespace from /proc/net (ours) or /proc/PID/net
// (a process inside another namespace). A missing table (no IPv6, no UDP
// diag) is an empty one. /proc/net carries no IPV6_V6ONLY, so V6Only stays
// false on this path.
func (s *Scanner) readProcNet(t nsTarget, q Query, f filter) ([]Socket, error) {
	dir := filepath.Join(s.procRoot(), "net")
	if !t.self {
		if t.pid == 0 {
			return nil, errors.New("read /proc/net: no process in this namespace to read it through")
		}
		dir = filepath.Join(s.procRoot(), strconv.Itoa(t.pid), "net")
		// The tables of a process that exited would read as empty below.
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("read /proc/net: %w", err)
		}
	}
	var out []Socket
	for _, proto := range protocols(q) {
		for _, name := range [...]string{proto, proto + "6"} {
			socks, err := readProcNetFile(filepath.Join(dir, name), proto, f)
			if err != nil {
				return nil, err
			}
			for i := range socks {
				socks[i].NetNS = t.ns
			}
			out = append(out, socks...)
		}
	}
	return out, nil
}

func readProcNetFile(path, proto string, f filter) ([]Socket, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read /proc/net: %w", err)
	}
	defer fh.Close()
	return parseProcNet(fh, proto, f)
}
