//go:build !linux

package process

import (
	"errors"
	"io"
	"os"
)

// errNoProcess never matches off Linux: there is no /proc to race with.
var errNoProcess = errors.New("no such process")

// readFile reads at most max bytes of a file. Off Linux there is no /proc,
// so Get fails with fs.ErrNotExist; the portable implementation belongs to
// another file.
func readFile(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, int64(max)))
}
