//go:build !linux

package process

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// errNoProcess never matches off Linux: there is no /proc to race with.
var errNoProcess = errors.New("no such process")

// procDir is a /proc/PID directory read by path. Off Linux there is no
// /proc, so Get fails with fs.ErrNotExist unless ProcRoot points at a copy
// of one (the fixtures tests use).
type procDir struct{ path string }

func openProcDir(root string, pid int) (*procDir, error) {
	path := filepath.Join(root, strconv.Itoa(pid))
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return &procDir{path: path}, nil
}

func (d *procDir) close() {}

func (d *procDir) readFile(name string, max int) ([]byte, error) {
	return readFile(filepath.Join(d.path, name), max)
}

func (d *procDir) readlink(name string) (string, error) {
	return os.Readlink(filepath.Join(d.path, name))
}

// readFile reads at most max bytes of a file.
func readFile(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, int64(max)))
}
