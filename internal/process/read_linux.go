package process

import (
	"io/fs"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// errNoProcess is what reading the file of a process that exited gives.
const errNoProcess = unix.ESRCH

// procDir is an open /proc/PID directory. Reading a process's files
// relative to it saves a path walk per file on the hot path, and pins the
// process: if the pid is reused while we read, the old directory's files
// fail with ESRCH instead of describing the new process.
type procDir struct {
	fd   int
	path string
}

func openProcDir(root string, pid int) (*procDir, error) {
	path := filepath.Join(root, strconv.Itoa(pid))
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &procDir{fd: fd, path: path}, nil
}

func (d *procDir) close() { unix.Close(d.fd) }

func (d *procDir) readFile(name string, max int) ([]byte, error) {
	return readAt(d.fd, d.path, name, max)
}

func (d *procDir) readlink(name string) (string, error) {
	var buf [512]byte
	for size := len(buf); ; size *= 2 {
		b := buf[:]
		if size > len(buf) {
			b = make([]byte, size)
		}
		n, err := unix.Readlinkat(d.fd, name, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: d.path + "/" + name, Err: err}
		}
		if n < len(b) || size >= 1<<16 {
			return string(b[:n]), nil
		}
	}
}

// readFile reads at most max bytes of a small /proc file.
func readFile(path string, max int) ([]byte, error) {
	return readAt(unix.AT_FDCWD, path, path, max)
}

// readAt opens name relative to dirfd and reads at most max bytes with
// plain system calls: os.Open would also try to register the file with the
// poller, a wasted call per file. The /proc files read here are generated
// whole on the first read, so a read that does not fill the buffer has
// reached the end; asking again to be told so would cost a call per file.
func readAt(dirfd int, dir, name string, max int) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: joinPath(dir, name), Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, min(1024, max))
	for len(buf) < max {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(2*cap(buf), max))
			copy(nb, buf)
			buf = nb
		}
		room := cap(buf) - len(buf)
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: joinPath(dir, name), Err: err}
		}
		buf = buf[:len(buf)+n]
		if n < room {
			break
		}
	}
	return buf, nil
}

func joinPath(dir, name string) string {
	if dir == name {
		return name
	}
	return dir + "/" + name
}
