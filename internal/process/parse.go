package process

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// stat is what portwho needs from /proc/PID/stat.
type stat struct {
	pid       int
	comm      string
	state     byte
	ppid      int
	startTime uint64 // clock ticks after boot
}

// parseStat reads /proc/PID/stat. The command name sits between the first
// '(' and the last ')' and may itself hold spaces and parentheses, so the
// fields after it are counted from the last ')'.
func parseStat(b []byte) (stat, error) {
	var s stat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return s, errors.New("parse stat: no command name in parentheses")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return s, fmt.Errorf("parse stat: pid: %w", err)
	}
	s.pid = pid
	s.comm = string(b[open+1 : end])
	// After ") ": state(3) ppid(4) ... starttime(22): field k is at index k-3.
	rest := b[end+1:]
	var fields [20][]byte
	n := 0
	for n < len(fields) {
		rest = bytes.TrimLeft(rest, " ")
		if len(rest) == 0 {
			break
		}
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			i = len(rest)
		}
		fields[n] = bytes.TrimRight(rest[:i], "\n")
		rest = rest[i:]
		n++
	}
	if n < len(fields) {
		return s, fmt.Errorf("parse stat: %d fields after the name, want at least %d", n, len(fields))
	}
	if len(fields[0]) != 1 {
		return s, fmt.Errorf("parse stat: state %q", fields[0])
	}
	s.state = fields[0][0]
	if s.ppid, err = strconv.Atoi(string(fields[1])); err != nil {
		return s, fmt.Errorf("parse stat: ppid: %w", err)
	}
	if s.startTime, err = strconv.ParseUint(string(fields[19]), 10, 64); err != nil {
		return s, fmt.Errorf("parse stat: starttime: %w", err)
	}
	return s, nil
}

// parseStatusUID finds the real uid in /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs").
// The real uid is the one ps and ss show as the process's user.
func parseStatusUID(b []byte) (uint32, error) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		v, ok := bytes.CutPrefix(line, []byte("Uid:"))
		if !ok {
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 0 {
			break
		}
		uid, err := strconv.ParseUint(string(f[0]), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("parse status: uid: %w", err)
		}
		return uint32(uid), nil
	}
	return 0, errors.New("parse status: no Uid line")
}

// parseCmdline splits /proc/PID/cmdline on NUL. A process that rewrote its
// argument area (nginx: "nginx: master process ...") may leave one long
// argument with no NULs; it is kept as it is.
func parseCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

// cgroupPaths picks, from /proc/PID/cgroup, the path that names the systemd
// unit and the container. On the unified hierarchy (v2) that is the single
// "0::" line; on v1 or hybrid hosts it is the name=systemd hierarchy, which
// systemd and container runtimes keep in step with the unit, falling back
// to any controller whose path names a container.
func parseCgroup(b []byte) (unit string, c *Container, path string) {
	var v2, systemd string
	var others []string
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		// hierarchy-ID:controller-list:cgroup-path; the path may hold ':'.
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		j := bytes.IndexByte(line[i+1:], ':')
		if j < 0 {
			continue
		}
		id, ctrl, p := string(line[:i]), string(line[i+1:i+1+j]), string(line[i+2+j:])
		switch {
		case id == "0" && ctrl == "":
			v2 = p
		case ctrl == "name=systemd":
			systemd = p
		default:
			others = append(others, p)
		}
	}
	// Prefer the hierarchy that names the most: on hybrid hosts the v2 line
	// is often "/" while name=systemd has the unit.
	for _, p := range append([]string{v2, systemd}, others...) {
		if p == "" || p == "/" {
			continue
		}
		u, ct := FromCgroup(p)
		if u == "" && ct == nil {
			continue
		}
		if path == "" {
			unit, c, path = u, ct, p
		}
		if c == nil && ct != nil {
			c = ct
		}
		if unit == "" && u != "" {
			unit = u
		}
		if unit != "" && c != nil {
			break
		}
	}
	if path == "" {
		switch {
		case v2 != "":
			path = v2
		case systemd != "":
			path = systemd
		}
	}
	return unit, c, path
}

// parseNetNSLink reads the target of /proc/PID/ns/net, "net:[4026531840]".
func parseNetNSLink(s string) (uint64, error) {
	v, ok := strings.CutPrefix(s, "net:[")
	if !ok || !strings.HasSuffix(v, "]") {
		return 0, fmt.Errorf("parse netns link %q: not net:[N]", s)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse netns link: %w", err)
	}
	return n, nil
}

// parseBootTime finds "btime SECONDS" in /proc/stat.
func parseBootTime(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse btime: %w", err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("parse btime: %w", err)
	}
	return 0, errors.New("parse btime: no btime line")
}

// parsePasswd maps uids to names from an /etc/passwd file. Malformed lines
// are skipped; the first name for a uid wins, as getpwuid does.
func parsePasswd(r io.Reader) (map[uint32]string, error) {
	users := make(map[uint32]string)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue // comments and NIS compat entries
		}
		f := strings.SplitN(line, ":", 4)
		if len(f) < 4 || f[0] == "" {
			continue
		}
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := users[uint32(uid)]; !dup {
			users[uint32(uid)] = f[0]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("parse passwd: %w", err)
	}
	return users, nil
}
