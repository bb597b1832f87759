//go:build unix

package store

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// openNoFollow opens path (below root) for reading: every component below
// root is opened with O_NOFOLLOW, the file itself is first looked at with
// fstatat(AT_SYMLINK_NOFOLLOW) so that a FIFO or a device is never opened,
// then opened O_NONBLOCK and checked again on the descriptor.
func openNoFollow(root, path string) (*os.File, FileID, error) {
	rel, err := filepath.Rel(root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, FileID{}, &os.PathError{Op: "open", Path: path, Err: syscall.EINVAL}
	}
	dir, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, FileID{}, &os.PathError{Op: "open", Path: root, Err: err}
	}
	parts := strings.Split(rel, string(filepath.Separator))
	for _, p := range parts[:len(parts)-1] {
		next, err := unix.Openat(dir, p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dir)
		if err != nil {
			if err == unix.ENOTDIR || err == unix.ELOOP {
				return nil, FileID{}, &os.PathError{Op: "open", Path: path, Err: badType(os.ModeSymlink)}
			}
			return nil, FileID{}, &os.PathError{Op: "open", Path: path, Err: err}
		}
		dir = next
	}
	defer unix.Close(dir)
	name := parts[len(parts)-1]
	var st unix.Stat_t
	if err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, FileID{}, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	before := statID(&st)
	if !before.Mode.IsRegular() {
		return nil, before, badType(before.Mode)
	}
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.ELOOP {
			return nil, before, badType(os.ModeSymlink)
		}
		return nil, before, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, before, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	id := statID(&st)
	if !id.Mode.IsRegular() || id.Dev != before.Dev || id.Ino != before.Ino {
		unix.Close(fd)
		return nil, id, badType(id.Mode) // swapped between the look and the open
	}
	// Regular files ignore O_NONBLOCK for reads; clear it all the same.
	_ = unix.SetNonblock(fd, false)
	return os.NewFile(uintptr(fd), path), id, nil
}

// lstatID is the identity of path itself (a link is not followed).
func lstatID(path string) (FileID, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return FileID{}, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	return statID(&st), nil
}

func statID(st *unix.Stat_t) FileID {
	mode := os.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		mode |= os.ModeDir
	case unix.S_IFLNK:
		mode |= os.ModeSymlink
	case unix.S_IFIFO:
		mode |= os.ModeNamedPipe
	case unix.S_IFCHR:
		mode |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		mode |= os.ModeDevice
	case unix.S_IFSOCK:
		mode |= os.ModeSocket
	}
	return FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: st.Size, Mode: mode,
		Mtime: unix.TimespecToNsec(st.Mtim), Ctime: unix.TimespecToNsec(st.Ctim), Nlink: uint64(st.Nlink)}
}

// infoID is the identity in an os.FileInfo from stat(2).
func infoID(fi os.FileInfo) FileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{Size: fi.Size(), Mode: fi.Mode()}
	}
	return FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino), Size: st.Size, Mode: fi.Mode(),
		Mtime: fi.ModTime().UnixNano(), Ctime: ctimeNsec(st), Nlink: uint64(st.Nlink)}
}
