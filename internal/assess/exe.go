package assess

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/portwho/portwho/internal/process"
	"github.com/portwho/portwho/internal/report"
)

// Executable findings: where the program holding a socket came from.

// exeDeleted: malware often deletes its binary once running, so nothing is
// left on disk to inspect. A package upgrade that replaced a running
// daemon's binary looks the same; the why says so.
func exeDeleted(p *process.Process) (report.Finding, bool) {
	if !p.ExeDeleted {
		return report.Finding{}, false
	}
	return report.Finding{
		ID:       IDExeDeleted,
		Severity: report.SeverityHigh,
		Title:    "executable deleted from disk while running",
		Why:      "malware hides its binary this way; so does a daemon upgraded but not restarted",
		Evidence: fmt.Sprintf("pid %d: /proc/%d/exe -> %s (deleted)", p.PID, p.PID, cleanExe(p.Exe)),
	}, true
}

func cleanExe(exe string) string { return strings.TrimSuffix(exe, " (deleted)") }

// DirLookup says who may write a directory as the process pid sees it (a
// container's /usr is not the host's).
type DirLookup interface {
	Dir(p *process.Process, dir string) (DirInfo, error)
}

// DirInfo is the part of a directory's stat that decides who can write it.
type DirInfo struct {
	Mode fs.FileMode
	UID  uint32
}

// tempDirs are writable by every user on every Linux distribution.
var tempDirs = [...]string{"/tmp", "/var/tmp", "/dev/shm", "/run/shm", "/var/lock", "/run/lock"}

// exeWritableDir: a binary in a directory someone other than root can write
// may have been dropped there by that someone, and can be replaced under a
// running service. Temporary directories are judged by path; elsewhere the
// directory and its parents are checked through dirs.
func exeWritableDir(p *process.Process, c *Config, dirs DirLookup) (report.Finding, bool) {
	exe := cleanExe(p.Exe)
	if exe == "" || !strings.HasPrefix(exe, "/") {
		return report.Finding{}, false
	}
	dir := path.Dir(exe)
	if trustedDir(dir, c) {
		return report.Finding{}, false
	}
	why := ""
	for _, t := range tempDirs {
		if dir == t || strings.HasPrefix(dir, t+"/") {
			why = "in " + t + ", writable by every user"
			break
		}
	}
	if why == "" && dirs != nil {
		why = writableBy(p, dir, dirs)
	}
	if why == "" {
		return report.Finding{}, false
	}
	return report.Finding{
		ID:       IDExeWritableDir,
		Severity: report.SeverityHigh,
		Title:    "executable runs from a writable directory (" + dir + ")",
		Why:      "others can drop a binary there, or swap it under the running service",
		Evidence: fmt.Sprintf("pid %d: %s: %s", p.PID, exe, why),
	}, true
}

func trustedDir(dir string, c *Config) bool {
	for _, g := range c.TrustedDirs {
		if globMatch(g, dir) {
			return true
		}
	}
	return false
}

// writableBy walks from dir up to / and says why someone other than root
// can change what lives in dir, or "" if nobody can. The directory itself
// counts if anyone may write it; a parent counts if it is not root-owned or
// is world-writable without the sticky bit (anyone could rename dir away).
func writableBy(p *process.Process, dir string, dirs DirLookup) string {
	for d, first := dir, true; ; d, first = path.Dir(d), false {
		info, err := dirs.Dir(p, d)
		if err == nil {
			switch {
			case info.Mode&0o002 != 0 && (first || info.Mode&fs.ModeSticky == 0):
				return fmt.Sprintf("%s is world-writable (mode %#o)", d, info.Mode.Perm())
			case info.UID != 0:
				return fmt.Sprintf("%s is owned by uid %d, not root", d, info.UID)
			}
		}
		if d == "/" || d == "." {
			return ""
		}
	}
}
