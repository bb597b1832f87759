//go:build !unix

package store

import (
	"os"
)

// openNoFollow opens path for reading after checking, without following
// links, that it is a regular file, and checks the open file again.
func openNoFollow(_, path string) (*os.File, FileID, error) {
	before, err := lstatID(path)
	if err != nil {
		return nil, FileID{}, err
	}
	if !before.Mode.IsRegular() {
		return nil, before, badType(before.Mode)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, before, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, before, err
	}
	id := infoID(fi)
	if !id.Mode.IsRegular() || !os.SameFile(fi, mustLstat(path)) {
		f.Close()
		return nil, id, badType(id.Mode)
	}
	return f, id, nil
}

func mustLstat(path string) os.FileInfo {
	fi, _ := os.Lstat(path)
	return fi
}

func lstatID(path string) (FileID, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return FileID{}, err
	}
	return infoID(fi), nil
}

func infoID(fi os.FileInfo) FileID {
	return FileID{Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime().UnixNano()}
}
