package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// FSType is a file system type: the f_type magic number statfs(2) reports.
type FSType int64

// File system types whose file size limits matter for a layout.
const (
	FSMSDOS FSType = 0x4d44     // vfat/msdos: FAT12/16/32
	FSExFAT FSType = 0x2011BAB0 // exfat
)

// FAT32MaxFileSize is the largest file FAT32 can hold: 4 GiB − 1 byte.
const FAT32MaxFileSize = 1<<32 - 1

// FAT32MaxBlobs is how many blob files one FAT32 directory
// (blobs/sha256) holds: a FAT directory has at most 65,536 32-byte
// entries, "." and ".." take two, and a 64-hex-digit name takes six (five
// long-name entries of 13 characters each, and the 8.3 entry). exFAT has
// no such limit.
const FAT32MaxBlobs = (65536 - 2) / (64/13 + 1 + 1)

// ErrNoRoom is returned (wrapped, saying what is short) when a destination
// cannot take what a writer plans to put there: not enough free space, or
// more files than its directory can hold.
var ErrNoRoom = errors.New("not enough room on the destination")

// Room is what the file system of a layout can still take. Free and Block
// are 0 where the file system does not say (no statfs(2), or a FUSE
// driver that reports no blocks).
type Room struct {
	// FSType is the file system's type.
	FSType FSType
	// Free is the bytes free for an unprivileged user.
	Free int64
	// Block is the allocation unit: every file takes a whole number of
	// blocks (on FAT, a cluster).
	Block int64
	// MaxFileSize is the largest file it takes (FAT32MaxFileSize on FAT),
	// 0 for no limit that matters.
	MaxFileSize int64
	// MaxBlobs is how many blob files blobs/sha256 can hold
	// (FAT32MaxBlobs on FAT), 0 for no limit that matters; Blobs is how
	// many it holds now.
	MaxBlobs, Blobs int
}

// Room reports what a layout's file system can still take, for a writer
// to check its plan before it writes; ok is false for a registry (which
// says nothing of its room).
func (s *Store) Room() (room Room, ok bool, err error) {
	l, isLayout := s.b.(*layout)
	if !isLayout {
		return room, false, nil
	}
	room, err = RoomAt(l.root)
	return room, true, err
}

// RoomAt is Room for the layout at path, which need not exist yet: the
// file system of path or of its nearest existing ancestor, and the blob
// files path/blobs/sha256 holds (if any).
func RoomAt(path string) (Room, error) {
	var r Room
	dir := path
	for {
		if _, err := os.Stat(dir); err == nil || dir == filepath.Dir(dir) {
			break
		}
		dir = filepath.Dir(dir)
	}
	st, err := statfs(dir)
	if err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return r, nil
		}
		return r, fmt.Errorf("%s: statfs: %w", dir, err)
	}
	r.FSType, r.Free, r.Block = st.typ, st.free, st.block
	if r.FSType == FSMSDOS {
		r.MaxFileSize, r.MaxBlobs = FAT32MaxFileSize, FAT32MaxBlobs
	}
	ents, err := os.ReadDir(filepath.Join(path, "blobs", "sha256"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return r, fmt.Errorf("layout %s: %w", path, err)
	}
	r.Blobs = len(ents)
	return r, nil
}

// Needs returns the bytes that files of these sizes take on the file
// system: each rounded up to whole blocks.
func (r Room) Needs(sizes ...int64) int64 {
	var n int64
	for _, s := range sizes {
		if r.Block > 0 {
			s = (s + r.Block - 1) / r.Block * r.Block
		}
		n += s
	}
	return n
}

// fsStat is what statfs tells of a file system.
type fsStat struct {
	typ         FSType
	free, block int64
}

// statfs is platformStatfs; a variable so that tests can fake a stick.
var statfs = platformStatfs

// String names the well-known types and prints others in hex.
func (t FSType) String() string {
	switch t {
	case FSMSDOS:
		return "vfat"
	case FSExFAT:
		return "exfat"
	case 0:
		return "unknown"
	}
	return fmt.Sprintf("0x%x", int64(t))
}

// statfsType returns the f_type of the file system holding path; a
// variable so that tests can fake a FAT32 stick.
var statfsType = platformStatfsType

// MaxFileSize returns the largest file the file system holding path
// accepts, and its type: FAT32MaxFileSize on vfat/msdos, 0 (no limit that
// matters) on exFAT and everything else. Callers split blobs with
// IngestOptions.MaxPartSize when the limit is not 0. On platforms without
// statfs(2) it returns 0, 0, nil.
func MaxFileSize(path string) (int64, FSType, error) {
	t, err := statfsType(path)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: statfs: %w", path, err)
	}
	if t == FSMSDOS {
		return FAT32MaxFileSize, t, nil
	}
	return 0, t, nil
}

// FreeSpace returns the bytes available to an unprivileged user on the file
// system holding path (statfs f_bavail × f_bsize), for --dry-run estimates.
// On platforms without statfs(2) it fails with errors.ErrUnsupported.
func FreeSpace(path string) (int64, error) {
	n, err := platformFreeSpace(path)
	if err != nil {
		return 0, fmt.Errorf("%s: statfs: %w", path, err)
	}
	return n, nil
}
