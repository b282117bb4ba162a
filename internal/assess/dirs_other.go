//go:build !unix

package assess

import (
	"errors"

	"github.com/portwho/portwho/internal/process"
)

// StatDirs is the real DirLookup; off Unix directory ownership is not
// judged, so exe-writable-dir falls back to temporary-directory paths.
type StatDirs struct{ ProcRoot string }

// NewStatDirs returns a StatDirs.
func NewStatDirs(procRoot string) *StatDirs { return &StatDirs{ProcRoot: procRoot} }

// Dir implements DirLookup.
func (d *StatDirs) Dir(p *process.Process, dir string) (DirInfo, error) {
	return DirInfo{}, errors.New("directory ownership: not implemented on this OS")
}

// privateFile cannot check ownership here, so caches are not trusted.
func privateFile(string) bool { return false }
