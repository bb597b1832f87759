//go:build linux

package store

import "syscall"

func platformStatfsType(path string) (FSType, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return FSType(uint32(st.Type)), nil
}

func platformFreeSpace(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

func platformStatfs(path string) (fsStat, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return fsStat{}, err
	}
	return fsStat{typ: FSType(uint32(st.Type)), free: int64(st.Bavail) * int64(st.Bsize), block: int64(st.Bsize)}, nil
}
