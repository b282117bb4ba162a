//go:build unix

package assess

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/portwho/portwho/internal/process"
)

// StatDirs is the real DirLookup: it stats directories, through
// /proc/PID/root for processes in a container (their paths are in another
// mount namespace), and caches each answer for the run.
type StatDirs struct {
	// ProcRoot is where /proc is mounted.
	ProcRoot string
	cache    map[string]dirResult
}

type dirResult struct {
	info DirInfo
	err  error
}

// NewStatDirs returns a StatDirs reading procRoot.
func NewStatDirs(procRoot string) *StatDirs {
	return &StatDirs{ProcRoot: procRoot}
}

// Dir implements DirLookup.
func (d *StatDirs) Dir(p *process.Process, dir string) (DirInfo, error) {
	name, key := dir, dir
	if p.Container != nil {
		// Same container, same mount namespace: key by its id.
		name = filepath.Join(d.ProcRoot, strconv.Itoa(p.PID), "root", dir)
		key = p.Container.ID + "\x00" + dir
	}
	if r, ok := d.cache[key]; ok {
		return r.info, r.err
	}
	var r dirResult
	fi, err := os.Stat(name)
	if err != nil {
		r.err = err
	} else {
		r.info.Mode = fi.Mode()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			r.info.UID = st.Uid
		}
	}
	if d.cache == nil {
		d.cache = make(map[string]dirResult)
	}
	d.cache[key] = r
	return r.info, r.err
}

// privateFile reports a regular file owned by this user that no one else
// may write.
func privateFile(name string) bool {
	fi, err := os.Lstat(name)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o022 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
