//go:build linux

package store

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// openAnon creates an unnamed regular file in dir (open(2) O_TMPFILE): it
// is on dir's file system but in no directory until linkAnon names it, so a
// writer that dies leaves nothing behind. It fails with
// errors.ErrUnsupported where the file system or kernel has no O_TMPFILE.
func openAnon(dir string, mode os.FileMode) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(mode.Perm()))
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
			err = errors.ErrUnsupported
		}
		return nil, &os.PathError{Op: "open O_TMPFILE", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir+"/(unnamed)"), nil
}

// linkAnon gives the unnamed file f the name path (linkat(2) through
// /proc/self/fd, which needs no privilege). It fails with an error
// wrapping os.ErrExist if path exists, and never replaces it.
func linkAnon(f *os.File, path string) error {
	rc, err := f.SyscallConn() // not f.Fd(), which costs fcntl calls
	if err == nil {
		cerr := rc.Control(func(fd uintptr) {
			err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(fd)), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
		})
		if err == nil {
			err = cerr
		}
	}
	if err != nil {
		return &os.LinkError{Op: "linkat", Old: f.Name(), New: path, Err: err}
	}
	return nil
}
