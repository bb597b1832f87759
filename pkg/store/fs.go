package store

import "fmt"

// FSType is a file system type: the f_type magic number statfs(2) reports.
type FSType int64

// File system types whose file size limits matter for a layout.
const (
	FSMSDOS FSType = 0x4d44     // vfat/msdos: FAT12/16/32
	FSExFAT FSType = 0x2011BAB0 // exfat
)

// FAT32MaxFileSize is the largest file FAT32 can hold: 4 GiB − 1 byte.
const FAT32MaxFileSize = 1<<32 - 1

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
