package process

import (
	"io/fs"

	"golang.org/x/sys/unix"
)

// errNoProcess is what reading the file of a process that exited gives.
const errNoProcess = unix.ESRCH

// readFile reads at most max bytes of a small /proc file with plain system
// calls: os.Open would also try to register the file with the poller, a
// wasted call per file on the hot path.
func readFile(path string, max int) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	size := 1024
	if size > max {
		size = max
	}
	buf := make([]byte, 0, size)
	for len(buf) < max {
		if len(buf) == cap(buf) {
			n := min(2*cap(buf), max)
			nb := make([]byte, len(buf), n)
			copy(nb, buf)
			buf = nb
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			break
		}
		buf = buf[:len(buf)+n]
	}
	return buf, nil
}
