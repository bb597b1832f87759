package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// ErrBadBlobFile is returned (wrapped, with content.ErrMismatchedDigest so
// that verifiers count it as an integrity failure) when a layout's blob
// path holds something other than the blob its descriptor describes: a
// symbolic link, a FIFO, a device, a directory, or a regular file of
// another size. Such a file is never opened for reading (FIFOs and devices
// are not opened at all), so nothing outside the store is read through it.
var ErrBadBlobFile = errors.New("not a regular file of the blob's size")

// FileID identifies a file as stat(2) sees it: a blob file that changes in
// any way (written, truncated, replaced, its mode changed) gets another
// FileID. Zero when unknown.
type FileID struct {
	Dev, Ino     uint64
	Size         int64
	Mode         os.FileMode
	Mtime, Ctime int64 // nanoseconds since the epoch
	Nlink        uint64
}

// openBlob opens a layout blob file for reading, positioned at 0, without
// following symbolic links in blobs/<alg>/<hex> (only the layout root may
// be reached through links: the user named it), and checks on the open
// descriptor that it is a regular file of exactly size bytes (size < 0:
// any size), the same file that was checked before opening (a swap in
// between is refused). See ErrBadBlobFile.
func (l *layout) openBlob(d ocispec.Descriptor) (*os.File, error) {
	p, err := l.blobPath(d.Digest)
	if err != nil {
		return nil, err
	}
	f, id, err := openNoFollow(l.root, p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %s: %w", d.Digest, d.MediaType, errdef.ErrNotFound)
		}
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if d.Size >= 0 && id.Size != d.Size {
		f.Close()
		return nil, fmt.Errorf("blob %s: %d bytes, want %d: %w (%w)", d.Digest, id.Size, d.Size, ErrBadBlobFile, content.ErrMismatchedDigest)
	}
	return f, nil
}

// badType is the error for a blob path that is not a regular file.
func badType(mode os.FileMode) error {
	what := "a " + mode.Type().String()
	switch {
	case mode&os.ModeSymlink != 0:
		what = "a symbolic link"
	case mode&os.ModeNamedPipe != 0:
		what = "a FIFO"
	case mode&os.ModeDevice != 0:
		what = "a device"
	case mode.IsDir():
		what = "a directory"
	case mode&os.ModeSocket != 0:
		what = "a socket"
	}
	return fmt.Errorf("%s, %w (%w)", what, ErrBadBlobFile, content.ErrMismatchedDigest)
}

// StatBlob returns the identity of desc's blob file in a layout, read
// without following symbolic links and without opening it; a missing blob
// is errdef.ErrNotFound, and a remote store returns errdef.ErrUnsupported.
// A server compares it to notice that a withdrawn blob changed.
func (s *Store) StatBlob(_ context.Context, desc ocispec.Descriptor) (FileID, error) {
	l, ok := s.b.(*layout)
	if !ok {
		return FileID{}, fmt.Errorf("%s: blob files: %w", s.ref.Location(), errdef.ErrUnsupported)
	}
	p, err := l.blobPath(desc.Digest)
	if err != nil {
		return FileID{}, err
	}
	id, err := lstatID(p)
	if errors.Is(err, os.ErrNotExist) {
		return FileID{}, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	return id, err
}

// FileIdentity returns the identity of an open file (fstat).
func FileIdentity(f *os.File) (FileID, error) {
	fi, err := f.Stat()
	if err != nil {
		return FileID{}, err
	}
	return infoID(fi), nil
}

var _ io.ReadCloser = (*os.File)(nil)

// FileIdentityOf returns the identity in a FileInfo from stat(2) or
// lstat(2).
func FileIdentityOf(fi os.FileInfo) FileID { return infoID(fi) }
